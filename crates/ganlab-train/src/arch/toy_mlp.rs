//! The toy MLP pair of Gulrajani et al. 2017's 2-D experiments (`ganlab_layers::toy_*`).

use super::{ArchSpec, Architecture, Players, SampleKind};
use anyhow::Result;
use ganlab_layers::{toy_discriminator, toy_generator, ToyMlpConfig};
use tch::Device;

/// The toy MLP pair on 2-D points: z ∈ R^2, batch 256 (Gulrajani et al. 2017, toy code).
#[derive(Debug, Clone, Copy)]
pub struct ToyMlp;

impl Architecture for ToyMlp {
    fn name(&self) -> &'static str {
        "toy-mlp"
    }

    fn sample_kind(&self) -> SampleKind {
        SampleKind::Points
    }

    fn default_z_dim(&self, _spec: &ArchSpec) -> i64 {
        2
    }

    fn default_batch_size(&self, _spec: &ArchSpec) -> usize {
        256
    }

    fn validate(&self, spec: &ArchSpec) -> Result<()> {
        super::check(
            spec.classes == 0 && !spec.class_norm,
            "cond",
            "false for the 2-D toys (they have no classes to condition on)",
            "true",
        )?;
        super::check(
            !spec.fp32_image_layers,
            "fp32_image_layers",
            "false for the 2-D toys (they have no image layers)",
            "true",
        )
    }

    fn build(&self, spec: &ArchSpec, device: Device) -> Result<Players> {
        let cfg = ToyMlpConfig {
            z_dim: spec.z_dim.unwrap_or_else(|| self.default_z_dim(spec)),
            d_spectral_norm: spec.d_spectral_norm,
            ..Default::default()
        };
        Ok(Players::pair(
            device,
            cfg.z_dim,
            SampleKind::Points,
            |g| toy_generator(g, cfg),
            |d| toy_discriminator(d, cfg),
        ))
    }
}
