//! The MLP pair of the 2-D toy experiments (Gulrajani et al. 2017, `gan_toy.py`): G maps 2-D
//! noise through three ReLU layers of width 512 to a point; D maps a point through three ReLU
//! layers of width 512 to a logit. Linear layers use PyTorch's default initialisation; D's can be
//! spectrally normalised ([`ToyMlpConfig::d_spectral_norm`]).

use crate::spectral::SnLinear;
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
    /// Spectral normalisation of D's linear layers (Miyato et al. 2018).
    pub d_spectral_norm: bool,
}

impl Default for ToyMlpConfig {
    fn default() -> Self {
        ToyMlpConfig {
            z_dim: 2,
            data_dim: 2,
            hidden: 512,
            hidden_layers: 3,
            d_spectral_norm: false,
        }
    }
}

/// A linear layer: plain (`weight`, `bias`) or spectrally normalised (`weight_orig`,
/// `weight_u`, `weight_v`, `bias`).
#[derive(Debug)]
pub enum Dense {
    Plain(nn::Linear),
    Spectral(SnLinear),
}

impl Dense {
    fn new(p: nn::Path, c_in: i64, c_out: i64, spectral: bool) -> Dense {
        match spectral {
            true => Dense::Spectral(SnLinear::new(&p, c_in, c_out)),
            false => Dense::Plain(nn::linear(p, c_in, c_out, Default::default())),
        }
    }

    /// The layer's output; a spectrally normalised one runs its power iteration when `train`.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match self {
            Dense::Plain(linear) => linear.forward(xs),
            Dense::Spectral(linear) => linear.forward(xs, train),
        }
    }
}

/// An MLP: hidden ReLU layers `hidden{i}` and a linear output layer `out`.
#[derive(Debug)]
pub struct Mlp {
    pub hidden: Vec<Dense>,
    pub out: Dense,
}

fn mlp(p: &nn::Path, c_in: i64, hidden: i64, layers: usize, c_out: i64, spectral: bool) -> Mlp {
    let mut dims = c_in;
    let hidden = (0..layers)
        .map(|i| {
            let layer = Dense::new(p / format!("hidden{i}"), dims, hidden, spectral);
            dims = hidden;
            layer
        })
        .collect();
    Mlp {
        hidden,
        out: Dense::new(p / "out", dims, c_out, spectral),
    }
}

impl ModuleT for Mlp {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut ys = xs.shallow_clone();
        for layer in &self.hidden {
            ys = layer.forward_t(&ys, train).relu();
        }
        self.out.forward_t(&ys, train)
    }
}

/// The toy generator: noise [N, z_dim] → points [N, data_dim].
pub fn toy_generator(p: &nn::Path, cfg: ToyMlpConfig) -> Mlp {
    mlp(
        p,
        cfg.z_dim,
        cfg.hidden,
        cfg.hidden_layers,
        cfg.data_dim,
        false,
    )
}

/// The toy discriminator: points `[N, data_dim]` → logits `[N]`.
pub fn toy_discriminator(p: &nn::Path, cfg: ToyMlpConfig) -> ToyDiscriminator {
    ToyDiscriminator {
        mlp: mlp(
            p,
            cfg.data_dim,
            cfg.hidden,
            cfg.hidden_layers,
            1,
            cfg.d_spectral_norm,
        ),
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
