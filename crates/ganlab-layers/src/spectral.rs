//! Spectral normalization (Miyato et al. 2018, "Spectral Normalization for Generative Adversarial
//! Networks"): a layer's weight W is used as W / σ(W), σ the largest singular value of W viewed as
//! a matrix [out, in·k·k], estimated by power iteration with a persistent vector u carried from
//! step to step. The semantics are PyTorch's `torch.nn.utils.parametrizations.spectral_norm`
//! (one iteration, ε = 1e-12):
//! - in training, each forward first runs the iteration without gradient:
//!   u ← normalize(W v), v ← normalize(Wᵀ u), updating the stored u and v;
//! - then σ = u · (W v) with the stored u and v, differentiable through W, and the layer uses
//!   W / σ;
//! - in evaluation no iteration runs: σ from the stored u and v.
//!
//! At creation u and v are drawn from N(0, 1), normalised, and 15 iterations run (as PyTorch
//! does when the parametrization is registered). W is the trainable parameter (`weight_orig`);
//! u and v are non-trainable variables of the var store (`weight_u`, `weight_v`), so they go into
//! every snapshot and a resumed run continues with the same estimate.

use tch::{nn, Tensor};

/// PyTorch's `eps` of the normalisation.
pub const SN_EPS: f64 = 1e-12;
/// Power iterations when a layer is created (PyTorch's `_SpectralNorm.__init__`).
pub const SN_INIT_ITERATIONS: usize = 15;

/// A spectrally normalised weight.
#[derive(Debug)]
pub struct SpectralNorm {
    /// The trained weight W, any shape with the output dimension first.
    pub weight_orig: Tensor,
    /// Left singular vector estimate, `[out]`.
    pub u: Tensor,
    /// Right singular vector estimate, `[in·k·k]`.
    pub v: Tensor,
}

fn normalize(x: &Tensor) -> Tensor {
    x / x.norm().clamp_min(SN_EPS)
}

impl SpectralNorm {
    /// Registers `weight_orig` (initialised by `init`), `weight_u` and `weight_v` under `p`.
    pub fn new(p: &nn::Path, shape: &[i64], init: nn::Init) -> SpectralNorm {
        SpectralNorm::attach(p, p.var("weight_orig", shape, init))
    }

    /// Spectral normalisation of an existing trainable `weight` (any name), with its `weight_u`
    /// and `weight_v` registered under `p`.
    pub fn attach(p: &nn::Path, weight_orig: Tensor) -> SpectralNorm {
        let shape = weight_orig.size();
        let (out, rest) = (shape[0], shape[1..].iter().product::<i64>());
        // Buffers, not parameters: no gradient, no optimiser state.
        let u = p.zeros_no_train("weight_u", &[out]);
        let v = p.zeros_no_train("weight_v", &[rest]);
        let sn = SpectralNorm { weight_orig, u, v };
        tch::no_grad(|| {
            let opts = (sn.u.kind(), sn.u.device());
            sn.u.shallow_clone()
                .copy_(&normalize(&Tensor::randn([out], opts)));
            sn.v.shallow_clone()
                .copy_(&normalize(&Tensor::randn([rest], opts)));
            sn.power_iterations(SN_INIT_ITERATIONS);
        });
        sn
    }

    fn matrix(&self) -> Tensor {
        // `reshape`, not `view`: a channels-last kernel is not contiguous as [out, in·k·k].
        self.weight_orig.reshape([self.weight_orig.size()[0], -1])
    }

    /// `n` power iterations on the stored u and v (no gradient).
    pub fn power_iterations(&self, n: usize) {
        tch::no_grad(|| {
            let w = self.matrix();
            for _ in 0..n {
                self.u.shallow_clone().copy_(&normalize(&w.mv(&self.v)));
                self.v
                    .shallow_clone()
                    .copy_(&normalize(&w.transpose(0, 1).mv(&self.u)));
            }
        });
    }

    /// σ(W) from the stored u and v, differentiable through W.
    pub fn sigma(&self) -> Tensor {
        let (u, v) = (self.u.detach().copy(), self.v.detach().copy());
        u.dot(&self.matrix().mv(&v))
    }

    /// The weight the layer uses: W / σ(W), after one power iteration in training.
    pub fn weight(&self, train: bool) -> Tensor {
        if train {
            self.power_iterations(1);
        }
        &self.weight_orig / self.sigma().to_kind(self.weight_orig.kind())
    }
}

/// A convolution with a spectrally normalised kernel (and an optional bias).
#[derive(Debug)]
pub struct SnConv2d {
    pub sn: SpectralNorm,
    pub bias: Option<Tensor>,
    pub stride: i64,
    pub padding: i64,
}

impl SnConv2d {
    /// A `c_in` → `c_out` convolution with a `kernel` x `kernel` kernel under `p`.
    pub fn new(
        p: &nn::Path,
        c_in: i64,
        c_out: i64,
        kernel: i64,
        (stride, padding): (i64, i64),
        bias: bool,
        init: nn::Init,
    ) -> SnConv2d {
        let sn = SpectralNorm::new(p, &[c_out, c_in, kernel, kernel], init);
        let bias = bias.then(|| p.var("bias", &[c_out], nn::Init::Const(0.0)));
        SnConv2d {
            sn,
            bias,
            stride,
            padding,
        }
    }

    pub fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        xs.conv2d(
            &self.sn.weight(train),
            self.bias.as_ref(),
            [self.stride],
            [self.padding],
            [1],
            1,
        )
    }
}

/// A linear layer with a spectrally normalised weight `[out, in]` and a bias.
#[derive(Debug)]
pub struct SnLinear {
    pub sn: SpectralNorm,
    pub bias: Tensor,
}

impl SnLinear {
    /// A `n_in` → `n_out` linear layer under `p`, initialised as `tch::nn::linear` is.
    pub fn new(p: &nn::Path, n_in: i64, n_out: i64) -> SnLinear {
        let bound = 1.0 / (n_in as f64).sqrt();
        let uniform = nn::Init::Uniform {
            lo: -bound,
            up: bound,
        };
        SnLinear::with_init(p, n_in, n_out, uniform, uniform)
    }

    /// A `n_in` → `n_out` linear layer under `p` with its weight drawn from `weight` and its
    /// bias from `bias` (in that order).
    pub fn with_init(
        p: &nn::Path,
        n_in: i64,
        n_out: i64,
        weight: nn::Init,
        bias: nn::Init,
    ) -> SnLinear {
        let sn = SpectralNorm::new(p, &[n_out, n_in], weight);
        let bias = p.var("bias", &[n_out], bias);
        SnLinear { sn, bias }
    }

    pub fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        xs.linear(&self.sn.weight(train), Some(&self.bias))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn the_normalised_weight_has_spectral_norm_one_and_evaluation_leaves_u_alone() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let conv = SnConv2d::new(
            &vs.root(),
            8,
            16,
            3,
            (1, 1),
            true,
            nn::Init::Randn {
                mean: 0.0,
                stdev: 0.5,
            },
        );
        // After the initial 15 iterations and a few training forwards, σ(W / σ) ≈ 1.
        let x = Tensor::randn([2, 8, 6, 6], (Kind::Float, Device::Cpu));
        for _ in 0..20 {
            let _ = conv.forward(&x, true);
        }
        let w = conv.sn.weight(false).view([16, -1]);
        let w = w.to_kind(Kind::Double);
        let gram = w.mm(&w.transpose(0, 1));
        let top = gram.linalg_eigvalsh("L").max().double_value(&[]).sqrt();
        assert!((top - 1.0).abs() < 1e-3, "{top}");
        // Evaluation uses u and v as they are.
        let u = conv.sn.u.copy();
        let _ = conv.forward(&x, false);
        assert!(u.equal(&conv.sn.u));
        let _ = conv.forward(&x, true);
        assert!(!u.equal(&conv.sn.u) || u.allclose(&conv.sn.u, 1e-7, 1e-7, false));
        // u and v are not trained.
        let trainable: Vec<String> = vs
            .trainable_variables()
            .iter()
            .map(|t| format!("{:?}", t.size()))
            .collect();
        assert_eq!(trainable, ["[16, 8, 3, 3]", "[16]"]);
    }
}
