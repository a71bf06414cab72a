//! SNGAN-32 (Miyato et al. 2018): the "standard CNN" generator and its seven-convolution
//! discriminator at 32x32 (`ganlab_layers::sngan32_*`), the networks spectral normalisation was
//! made for.

use super::{check, ArchSpec, Architecture, Players, SampleKind};
use anyhow::Result;
use ganlab_layers::{sngan32_discriminator, sngan32_generator, Norm, Sngan32Config};
use tch::Device;

/// SNGAN-32: z ∈ R^128, batch 64 (Miyato et al. 2018, §4 and Appendix B.4).
#[derive(Debug, Clone, Copy)]
pub struct Sngan32;

impl Architecture for Sngan32 {
    fn name(&self) -> &'static str {
        "sngan32"
    }

    fn sample_kind(&self) -> SampleKind {
        SampleKind::Images
    }

    fn default_z_dim(&self, _spec: &ArchSpec) -> i64 {
        128
    }

    fn default_batch_size(&self, _spec: &ArchSpec) -> usize {
        64
    }

    /// The paper's D has no normalisation layer, whatever the game.
    fn d_norm_auto(&self, _gradient_penalty: bool) -> Option<Norm> {
        Some(Norm::None)
    }

    fn validate(&self, spec: &ArchSpec) -> Result<()> {
        check(
            spec.resolution == 32,
            "resolution",
            "32 for arch sngan32 (--arch progan trains 8 to 1024)",
            spec.resolution,
        )?;
        check(
            spec.classes == 0,
            "cond",
            "false for arch sngan32 (no conditional SNGAN-32 is built; --arch dcgan32 or \
             progan train class-conditional networks)",
            "true",
        )?;
        check(
            !spec.class_norm,
            "cond_bn",
            "false for arch sngan32 (no conditional SNGAN-32 is built)",
            "true",
        )
    }

    fn build(&self, spec: &ArchSpec, device: Device) -> Result<Players> {
        let cfg = Sngan32Config {
            z_dim: spec.z_dim.unwrap_or_else(|| self.default_z_dim(spec)),
            channels: spec.channels,
            width: spec.width,
            d_norm: spec.d_norm,
            d_spectral_norm: spec.d_spectral_norm,
            fp32_image_layers: spec.fp32_image_layers,
        };
        Ok(Players::pair(
            device,
            cfg.z_dim,
            SampleKind::Images,
            |g| sngan32_generator(g, cfg),
            |d| sngan32_discriminator(d, cfg),
        ))
    }
}
