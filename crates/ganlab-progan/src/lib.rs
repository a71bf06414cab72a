//! Progressive growing of GANs (Karras et al. 2018, "Progressive Growing of GANs for Improved
//! Quality, Stability, and Variation"), following the official code
//! (tkarras/progressive_growing_of_gans: `networks.py` G_paper / D_paper, `train.py`
//! TrainingSchedule and process_reals):
//!
//! ```
//! use ganlab_progan::Schedule;
//! // The official schedule to 32x32: 600 kimg stable, 600 kimg fading in, per resolution.
//! let schedule = Schedule::default();
//! let at_start = schedule.at(0);
//! assert_eq!((at_start.resolution, at_start.alpha), (4, 1.0));
//! // 900 kimg in: halfway through fading in 8x8 (lod 2.5), at the table's batch size.
//! let fading = schedule.at(900_000);
//! assert_eq!((fading.resolution, fading.alpha, fading.lod), (8, 0.5, 2.5));
//! assert_eq!(fading.batch_size, 128);
//! ```
//!
//! - [`networks`]: G and D built block by block for resolutions 4 … R, with toRGB / fromRGB per
//!   resolution and the fade-in of a new block (`lerp_clip` in the official code);
//! - [`schedule`]: the training schedule as a pure function of images shown: level of detail,
//!   resolution, fade-in α, batch size and learning rate;
//! - [`fade_reals`]: the real images brought to the current resolution and faded like G's output.

pub mod networks;
pub mod schedule;

pub use networks::{
    progan_discriminator, progan_generator, ConditionalGenerator, Discriminator, Generator,
    ProganConfig, ProjectionDiscriminator, Stage, StageHandle,
};
pub use schedule::{Phase, Schedule};

use tch::Tensor;

/// Errors from invalid ProGAN settings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid ProGAN setting {what}: expected {expected}, got {got}")]
    InvalidSetting {
        what: &'static str,
        expected: String,
        got: String,
    },
}

/// Real images [N, C, R, R] brought to `resolution` by 2x2 average pooling, and faded during a
/// transition as in the official `process_reals`: lerp(x, up(down(x)), 1 − α), i.e. a blend of the
/// image and its down-then-up-sampled version (α = 1: the image itself).
pub fn fade_reals(images: &Tensor, resolution: i64, alpha: f64) -> Tensor {
    let mut x = images.shallow_clone();
    while x.size()[2] > resolution {
        x = x.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None);
    }
    if alpha >= 1.0 {
        return x;
    }
    let coarse = x
        .avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None)
        .upsample_nearest2d([resolution, resolution], None, None);
    &coarse + (&x - &coarse) * alpha
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn fading_reals_blends_the_image_and_its_coarse_version() {
        let x = Tensor::randn([2, 1, 16, 16], (Kind::Float, Device::Cpu));
        let at8 = fade_reals(&x, 8, 1.0);
        assert_eq!(at8.size(), [2, 1, 8, 8]);
        assert!(at8.allclose(
            &x.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None),
            1e-6,
            1e-6,
            false
        ));
        let coarse = fade_reals(&x, 8, 0.0);
        // α = 0: every 2x2 block is constant (the 4x4 image seen at 8x8).
        let blocks = coarse
            .avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None)
            .upsample_nearest2d([8, 8], None, None);
        assert!(coarse.allclose(&blocks, 1e-6, 1e-6, false));
        let half = fade_reals(&x, 8, 0.5);
        assert!(half.allclose(&((&at8 + &coarse) * 0.5), 1e-6, 1e-6, false));
    }
}
