//! DCGAN-32 (Radford et al. 2016): the transposed-convolution generator and the strided
//! convolution discriminator at 32x32 (`ganlab_layers::dcgan32_*`).

use super::{check, ArchSpec, Architecture, Players, SampleKind};
use anyhow::Result;
use ganlab_layers::{
    dcgan32_conditional_discriminator, dcgan32_conditional_generator, dcgan32_discriminator,
    dcgan32_generator, Dcgan32Config,
};
use tch::Device;

/// DCGAN-32: z ∈ R^100, batch 64 (Radford et al. 2016, §4).
#[derive(Debug, Clone, Copy)]
pub struct Dcgan32;

impl Architecture for Dcgan32 {
    fn name(&self) -> &'static str {
        "dcgan32"
    }

    fn sample_kind(&self) -> SampleKind {
        SampleKind::Images
    }

    fn default_z_dim(&self, _spec: &ArchSpec) -> i64 {
        100
    }

    fn default_batch_size(&self, _spec: &ArchSpec) -> usize {
        64
    }

    /// Layer norm under a gradient penalty, batch norm otherwise ([`super::CriticNorm`]).
    fn d_norm_auto(&self, gradient_penalty: bool) -> Option<ganlab_layers::Norm> {
        Some(super::CriticNorm::Auto.resolve(gradient_penalty))
    }

    fn validate(&self, spec: &ArchSpec) -> Result<()> {
        check(
            spec.resolution == 32,
            "resolution",
            "32 for arch dcgan32 (--arch progan trains 8 to 1024)",
            spec.resolution,
        )
    }

    fn build(&self, spec: &ArchSpec, device: Device) -> Result<Players> {
        let cfg = Dcgan32Config {
            z_dim: spec.z_dim.unwrap_or_else(|| self.default_z_dim(spec)),
            channels: spec.channels,
            width: spec.width,
            d_norm: spec.d_norm,
            d_spectral_norm: spec.d_spectral_norm,
            classes: spec.classes,
            class_norm: spec.class_norm,
            fp32_image_layers: spec.fp32_image_layers,
        };
        Ok(match cfg.classes {
            0 => Players::pair(
                device,
                cfg.z_dim,
                SampleKind::Images,
                |g| dcgan32_generator(g, cfg),
                |d| dcgan32_discriminator(d, cfg),
            ),
            _ => Players::pair(
                device,
                cfg.z_dim,
                SampleKind::Images,
                |g| dcgan32_conditional_generator(g, cfg),
                |d| dcgan32_conditional_discriminator(d, cfg),
            ),
        })
    }
}
