//! The MLP pair of the 2-D toy experiments (Gulrajani et al. 2017, `gan_toy.py`): G maps 2-D
//! noise through three ReLU layers of width 512 to a point; D maps a point through three ReLU
//! layers of width 512 to a logit. Linear layers use PyTorch's default initialisation.

use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

/// Sizes of the toy MLP pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToyMlpConfig {
    /// Noise dimension of G (2 in the paper's toy code).
    pub z_dim: i64,
    /// Data dimension.
    pub data_dim: i64,
    /// Width of each hidden layer (`DIM = 512`).
    pub hidden: i64,
    /// Number of hidden ReLU layers (3).
    pub hidden_layers: usize,
}

impl Default for ToyMlpConfig {
    fn default() -> Self {
        ToyMlpConfig {
            z_dim: 2,
            data_dim: 2,
            hidden: 512,
            hidden_layers: 3,
        }
    }
}

/// An MLP: hidden ReLU layers `hidden{i}` and a linear output layer `out`.
#[derive(Debug)]
pub struct Mlp {
    pub hidden: Vec<nn::Linear>,
    pub out: nn::Linear,
}

fn mlp(p: &nn::Path, c_in: i64, hidden: i64, layers: usize, c_out: i64) -> Mlp {
    let mut dims = c_in;
    let hidden = (0..layers)
        .map(|i| {
            let layer = nn::linear(p / format!("hidden{i}"), dims, hidden, Default::default());
            dims = hidden;
            layer
        })
        .collect();
    Mlp {
        hidden,
        out: nn::linear(p / "out", dims, c_out, Default::default()),
    }
}

impl ModuleT for Mlp {
    fn forward_t(&self, xs: &Tensor, _train: bool) -> Tensor {
        let mut ys = xs.shallow_clone();
        for layer in &self.hidden {
            ys = layer.forward(&ys).relu();
        }
        self.out.forward(&ys)
    }
}

/// The toy generator: noise [N, z_dim] → points [N, data_dim].
pub fn toy_generator(p: &nn::Path, cfg: ToyMlpConfig) -> Mlp {
    mlp(p, cfg.z_dim, cfg.hidden, cfg.hidden_layers, cfg.data_dim)
}

/// The toy discriminator: points `[N, data_dim]` → logits `[N]`.
pub fn toy_discriminator(p: &nn::Path, cfg: ToyMlpConfig) -> ToyDiscriminator {
    ToyDiscriminator {
        mlp: mlp(p, cfg.data_dim, cfg.hidden, cfg.hidden_layers, 1),
    }
}

/// The toy discriminator (an [`Mlp`] whose single output is squeezed to logits `[N]`).
#[derive(Debug)]
pub struct ToyDiscriminator {
    pub mlp: Mlp,
}

impl ModuleT for ToyDiscriminator {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.mlp.forward_t(xs, train).squeeze_dim(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn::VarStore, Device, Kind};

    #[test]
    fn toy_pair_shapes_and_parameter_count() {
        let vs = VarStore::new(Device::Cpu);
        let g = toy_generator(&(vs.root() / "g"), ToyMlpConfig::default());
        let d = toy_discriminator(&(vs.root() / "d"), ToyMlpConfig::default());
        let z = Tensor::randn([7, 2], (Kind::Float, Device::Cpu));
        let x = g.forward_t(&z, true);
        assert_eq!(x.size(), [7, 2]);
        assert_eq!(d.forward_t(&x, true).size(), [7]);
        // Each: (2·512 + 512) + 2·(512·512 + 512) + (512·k + k), k = 2 for G and 1 for D.
        let g_params = 2 * 512 + 512 + 2 * (512 * 512 + 512) + 512 * 2 + 2;
        let d_params = 2 * 512 + 512 + 2 * (512 * 512 + 512) + 512 + 1;
        assert_eq!(crate::count_parameters(&vs), (g_params + d_params) as i64);
    }
}
