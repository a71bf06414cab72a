//! Domain classifiers: a small CNN per dataset (MNIST, Fashion-MNIST), trained once on the
//! training split and used for the cheap metrics — the class histogram of generated samples,
//! mode coverage, IS with the domain classifier, and a domain FID on its penultimate features.
//!
//! Architecture (inputs [N, C, 32, 32] in [-1, 1]): three conv3x3 + ReLU + 2x2 max-pool blocks
//! (32, 64, 128 channels) → dense 256 + ReLU (the penultimate features) → dense to the classes.

use crate::Error;
use rand::seq::SliceRandom;
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// Width of the penultimate features.
pub const FEATURE_DIM: i64 = 256;

/// A domain classifier and its variables.
#[derive(Debug)]
pub struct DomainClassifier {
    vs: nn::VarStore,
    convs: Vec<nn::Conv2D>,
    hidden: nn::Linear,
    out: nn::Linear,
    pub classes: i64,
    pub channels: i64,
}

impl DomainClassifier {
    /// An untrained classifier for `channels`-channel 32x32 images and `classes` classes.
    pub fn new(channels: i64, classes: i64, device: Device) -> DomainClassifier {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let conv = |name: &str, c_in, c_out| {
            nn::conv2d(
                &root / name,
                c_in,
                c_out,
                3,
                nn::ConvConfig {
                    padding: 1,
                    ..Default::default()
                },
            )
        };
        let convs = vec![
            conv("conv1", channels, 32),
            conv("conv2", 32, 64),
            conv("conv3", 64, 128),
        ];
        let hidden = nn::linear(
            &root / "hidden",
            128 * 4 * 4,
            FEATURE_DIM,
            Default::default(),
        );
        let out = nn::linear(&root / "out", FEATURE_DIM, classes, Default::default());
        DomainClassifier {
            vs,
            convs,
            hidden,
            out,
            classes,
            channels,
        }
    }

    fn check(&self, images: &Tensor) -> Result<(), Error> {
        let s = images.size();
        if s.len() != 4 || s[1] != self.channels || s[2] != 32 || s[3] != 32 {
            return Err(Error::BadInput {
                what: "domain classifier input",
                expected: format!("[N, {}, 32, 32] in [-1, 1]", self.channels),
                got: format!("{s:?}"),
            });
        }
        Ok(())
    }

    fn penultimate(&self, images: &Tensor) -> Tensor {
        let mut x = images.to_device(self.vs.device()).to_kind(Kind::Float);
        for conv in &self.convs {
            x = conv
                .forward(&x)
                .relu()
                .max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
        }
        self.hidden.forward(&x.flatten(1, -1)).relu()
    }

    /// Penultimate features [N, 256] (for the domain FID).
    pub fn features(&self, images: &Tensor) -> Result<Tensor, Error> {
        self.check(images)?;
        Ok(tch::no_grad(|| self.penultimate(images)).to_device(Device::Cpu))
    }

    /// [`DomainClassifier::features`] and [`DomainClassifier::logits`] from one forward pass.
    pub fn features_and_logits(&self, images: &Tensor) -> Result<(Tensor, Tensor), Error> {
        self.check(images)?;
        let (features, logits) = tch::no_grad(|| {
            let features = self.penultimate(images);
            let logits = self.out.forward(&features);
            (features, logits)
        });
        Ok((
            features.to_device(Device::Cpu),
            logits.to_device(Device::Cpu),
        ))
    }

    /// Class logits [N, classes].
    pub fn logits(&self, images: &Tensor) -> Result<Tensor, Error> {
        self.check(images)?;
        Ok(tch::no_grad(|| self.out.forward(&self.penultimate(images))).to_device(Device::Cpu))
    }

    /// Share of correctly classified images.
    pub fn accuracy(&self, images: &Tensor, labels: &Tensor) -> Result<f64, Error> {
        let mut correct = 0i64;
        let n = images.size()[0];
        let mut start = 0;
        while start < n {
            let len = 512.min(n - start);
            let predicted = self.logits(&images.narrow(0, start, len))?.argmax(1, false);
            correct += predicted
                .eq_tensor(&labels.narrow(0, start, len).to_device(Device::Cpu))
                .sum(Kind::Int64)
                .int64_value(&[]);
            start += len;
        }
        Ok(correct as f64 / n.max(1) as f64)
    }

    /// Trains with Adam and cross-entropy for `epochs` seeded epochs of batch 128, with random
    /// translations of up to 2 pixels (zero padding, background −1) as augmentation; the learning
    /// rate is 1e-3, divided by 10 for the last quarter of the epochs.
    pub fn train(
        &mut self,
        images: &Tensor,
        labels: &Tensor,
        epochs: usize,
        seed: u64,
    ) -> Result<(), Error> {
        self.check(&images.narrow(0, 0, 1))?;
        tch::manual_seed(seed as i64);
        let mut opt = nn::Adam::default()
            .build(&self.vs, 1e-3)
            .map_err(|e| Error::BadInput {
                what: "classifier optimiser",
                expected: "Adam".into(),
                got: e.to_string(),
            })?;
        let n = images.size()[0];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let device = self.vs.device();
        for epoch in 0..epochs {
            if epoch == epochs - epochs / 4 && epochs >= 4 {
                opt.set_lr(1e-4);
            }
            let mut order: Vec<i64> = (0..n).collect();
            order.shuffle(&mut rng);
            for chunk in order.chunks(128) {
                let idx = Tensor::from_slice(chunk);
                let (dy, dx) = (rng.random_range(0..5i64), rng.random_range(0..5i64));
                let x = (images.index_select(0, &idx) + 1.0)
                    .constant_pad_nd([2, 2, 2, 2])
                    .narrow(2, dy, 32)
                    .narrow(3, dx, 32)
                    - 1.0;
                let x = x.to_device(device);
                let y = labels.index_select(0, &idx).to_device(device);
                let loss = self
                    .out
                    .forward(&self.penultimate(&x))
                    .cross_entropy_for_logits(&y);
                opt.backward_step(&loss);
            }
            tracing::info!(epoch, "domain classifier: epoch done");
        }
        Ok(())
    }

    /// Saves the weights (safetensors).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        self.vs.save(path).map_err(|e| Error::BadInput {
            what: "classifier file",
            expected: "writable".into(),
            got: e.to_string(),
        })
    }

    /// Loads weights saved by [`DomainClassifier::save`].
    pub fn load(&mut self, path: &Path) -> Result<(), Error> {
        self.vs.load(path).map_err(|e| Error::Detector {
            path: path.to_path_buf(),
            what: format!("not a classifier of this shape: {e}"),
        })
    }
}

/// Class histogram (shares) of a set of logits.
pub fn class_histogram(logits: &Tensor, classes: i64) -> Vec<f64> {
    let n = logits.size()[0].max(1) as f64;
    let counts = logits.argmax(1, false).bincount(None::<Tensor>, classes);
    Vec::<i64>::try_from(&counts)
        .unwrap_or_default()
        .iter()
        .map(|&c| c as f64 / n)
        .collect()
}

/// Mode coverage: a class is missing when its share among the fakes is below a fifth of its
/// share among the reals.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Coverage {
    pub histogram: Vec<f64>,
    pub real_histogram: Vec<f64>,
    pub covered: usize,
    pub missing: Vec<usize>,
}

/// Coverage of the fake histogram against the real one.
pub fn coverage(fake_histogram: &[f64], real_histogram: &[f64]) -> Coverage {
    let missing: Vec<usize> = real_histogram
        .iter()
        .zip(fake_histogram)
        .enumerate()
        .filter(|(_, (real, fake))| **real > 0.0 && **fake < **real / 5.0)
        .map(|(k, _)| k)
        .collect();
    let present = real_histogram.iter().filter(|r| **r > 0.0).count();
    Coverage {
        histogram: fake_histogram.to_vec(),
        real_histogram: real_histogram.to_vec(),
        covered: present - missing.len(),
        missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_below_a_fifth_of_its_real_share_is_missing() {
        let real = vec![0.1; 10];
        let mut fake = vec![0.11; 10];
        fake[8] = 0.01; // "no 8": 0.01 < 0.1 / 5
        fake[3] = 0.03; // under-represented but above a fifth: covered
        let c = coverage(&fake, &real);
        assert_eq!(c.missing, vec![8]);
        assert_eq!(c.covered, 9);
    }
}
