//! The toy MLP pair of Gulrajani et al. 2017's 2-D experiments (`ganlab_layers::toy_*`).

use super::{ArchSpec, Architecture, Players, SampleKind};
use anyhow::Result;
use ganlab_layers::{toy_discriminator, toy_generator, ToyMlpConfig};
use tch::nn::VarStore;
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

    fn validate(&self, _spec: &ArchSpec) -> Result<()> {
        Ok(())
    }

    fn build(&self, spec: &ArchSpec, device: Device) -> Result<Players> {
        let cfg = ToyMlpConfig {
            z_dim: spec.z_dim.unwrap_or_else(|| self.default_z_dim(spec)),
            ..Default::default()
        };
        let (g_vs, d_vs) = (VarStore::new(device), VarStore::new(device));
        let g = toy_generator(&g_vs.root(), cfg);
        let d = toy_discriminator(&d_vs.root(), cfg);
        Ok(Players::new(
            Box::new(g),
            Box::new(d),
            g_vs,
            d_vs,
            cfg.z_dim,
            SampleKind::Points,
        ))
    }
}
