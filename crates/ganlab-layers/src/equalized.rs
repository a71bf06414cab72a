//! The three layer ideas of ProGAN (Karras et al. 2018, "Progressive Growing of GANs for Improved
//! Quality, Stability, and Variation"), as in the official code (`networks.py`):
//!
//! - **equalized learning rate** (§4.1): weights drawn from N(0, 1) and scaled at run time by the
//!   He constant c = gain/√fan_in (`get_weight(..., use_wscale=True)`), biases start at 0;
//! - **pixelwise feature normalization** (§4.2, Eq. 1): b = a / √(mean_c a² + ε), ε = 1e-8;
//! - **minibatch standard deviation** (§3): the std of each feature over a group of min(4, N)
//!   samples, averaged into one number per group and appended as an extra feature map.
//!
//! An equalized layer can also be spectrally normalised ([`EqConfig::spectral`]): it then uses
//! w / σ(w) (σ by power iteration, [`SpectralNorm`]), and since σ(c·w) = c·σ(w) the run-time scale
//! c cancels; what stays of equalized learning rate is the N(0, 1) storage of w.

use crate::spectral::SpectralNorm;
use tch::nn::{self, Init, Module};
use tch::{Kind, Tensor};

/// √2: the He gain for (leaky) ReLU layers, the official code's default `gain=np.sqrt(2)`.
pub const HE_GAIN: f64 = std::f64::consts::SQRT_2;
/// ε of pixelwise feature normalization (Karras et al. 2018, Eq. 1: 10⁻⁸).
pub const PIXEL_NORM_EPSILON: f64 = 1e-8;

/// Options of an equalized-learning-rate layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EqConfig {
    /// The gain of the run-time scale gain/√fan_in (√2; 1 for toRGB and D's last layer; √2/4
    /// for G's first dense layer in the official code).
    pub gain: f64,
    /// Whether the layer has a (zero-initialised) bias.
    pub bias: bool,
    /// Convolution padding (`kernel / 2` keeps the size for odd kernels).
    pub padding: Option<i64>,
    /// Spectral normalisation of the weight (Miyato et al. 2018): buffers `weight_u`,
    /// `weight_v` beside `weight`.
    pub spectral: bool,
}

impl Default for EqConfig {
    fn default() -> Self {
        EqConfig {
            gain: HE_GAIN,
            bias: true,
            padding: None,
            spectral: false,
        }
    }
}

/// A 2-D convolution with equalized learning rate: y = conv(x, w·c) + b, w ~ N(0, 1),
/// c = gain/√(c_in·k·k). Parameters `weight` `[c_out, c_in, k, k]` and `bias` `[c_out]`.
#[derive(Debug)]
pub struct EqConv2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    /// The run-time scale c.
    pub scale: f64,
    pub padding: i64,
    /// Spectral normalisation of `weight`, when asked for.
    pub sn: Option<SpectralNorm>,
}

/// The weight a layer uses: w·c, or w / σ(w) under spectral normalisation (one power iteration
/// first when `train`).
fn runtime_weight(weight: &Tensor, scale: f64, sn: Option<&SpectralNorm>, train: bool) -> Tensor {
    match sn {
        Some(sn) => sn.weight(train),
        None => weight * scale,
    }
}

/// Builds an [`EqConv2d`] under `p`.
pub fn eq_conv2d(p: &nn::Path, c_in: i64, c_out: i64, kernel: i64, cfg: EqConfig) -> EqConv2d {
    let weight = p.var(
        "weight",
        &[c_out, c_in, kernel, kernel],
        Init::Randn {
            mean: 0.0,
            stdev: 1.0,
        },
    );
    let bias = cfg.bias.then(|| p.var("bias", &[c_out], Init::Const(0.0)));
    let fan_in = (c_in * kernel * kernel) as f64;
    let sn = cfg
        .spectral
        .then(|| SpectralNorm::attach(p, weight.shallow_clone()));
    EqConv2d {
        weight,
        bias,
        scale: cfg.gain / fan_in.sqrt(),
        padding: cfg.padding.unwrap_or(kernel / 2),
        sn,
    }
}

impl Module for EqConv2d {
    /// [`EqConv2d::forward_t`] in training mode.
    fn forward(&self, xs: &Tensor) -> Tensor {
        self.forward_t(xs, true)
    }
}

impl EqConv2d {
    /// The convolution; `train` matters only under spectral normalisation (whose power
    /// iteration runs in training forwards only).
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        xs.conv2d(
            &runtime_weight(&self.weight, self.scale, self.sn.as_ref(), train),
            self.bias.as_ref(),
            [1, 1],
            [self.padding, self.padding],
            [1, 1],
            1,
        )
    }
}

/// A dense layer with equalized learning rate: y = x·(w·c)ᵀ + b, w ~ N(0, 1), c = gain/√c_in.
/// Parameters `weight` `[c_out, c_in]` and `bias` `[c_out]`.
#[derive(Debug)]
pub struct EqLinear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub scale: f64,
    /// Spectral normalisation of `weight`, when asked for.
    pub sn: Option<SpectralNorm>,
}

/// Builds an [`EqLinear`] under `p`.
pub fn eq_linear(p: &nn::Path, c_in: i64, c_out: i64, cfg: EqConfig) -> EqLinear {
    let weight = p.var(
        "weight",
        &[c_out, c_in],
        Init::Randn {
            mean: 0.0,
            stdev: 1.0,
        },
    );
    let bias = cfg.bias.then(|| p.var("bias", &[c_out], Init::Const(0.0)));
    let sn = cfg
        .spectral
        .then(|| SpectralNorm::attach(p, weight.shallow_clone()));
    EqLinear {
        weight,
        bias,
        scale: cfg.gain / (c_in as f64).sqrt(),
        sn,
    }
}

impl Module for EqLinear {
    /// [`EqLinear::forward_t`] in training mode.
    fn forward(&self, xs: &Tensor) -> Tensor {
        self.forward_t(xs, true)
    }
}

impl EqLinear {
    /// The dense layer; `train` matters only under spectral normalisation.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let w = runtime_weight(&self.weight, self.scale, self.sn.as_ref(), train);
        xs.linear(&w, self.bias.as_ref())
    }
}

/// Pixelwise feature normalization (Karras et al. 2018, Eq. 1): each pixel's feature vector
/// divided by its root mean square over channels (dim 1), with ε = 1e-8.
pub fn pixel_norm(xs: &Tensor) -> Tensor {
    xs * (xs.square().mean_dim(1, true, None::<Kind>) + PIXEL_NORM_EPSILON).rsqrt()
}

/// Minibatch standard deviation (Karras et al. 2018, §3; `minibatch_stddev_layer` of the official
/// code): split the batch into groups of G = min(group_size, N) samples (sample i belongs to group
/// i mod N/G), take each feature's std over the group (biased, +1e-8 inside the square root),
/// average over features and pixels, and append the result as one constant feature map.
/// N must be divisible by G.
pub fn minibatch_stddev(xs: &Tensor, group_size: i64) -> Tensor {
    let size = xs.size();
    let (n, c, h, w) = (size[0], size[1], size[2], size[3]);
    let g = group_size.min(n);
    let y = xs.reshape([g, -1, c, h, w]); // [G, M, C, H, W]
    let y = &y - y.mean_dim(0, true, None::<Kind>);
    let y = (y.square().mean_dim(0, false, None::<Kind>) + 1e-8).sqrt(); // [M, C, H, W]
    let y = y.mean_dim(&[1i64, 2, 3][..], true, None::<Kind>); // [M, 1, 1, 1]
    let y = y.repeat([g, 1, h, w]); // [N, 1, H, W]
    Tensor::cat(&[xs, &y], 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn::VarStore, Device};

    #[test]
    fn weights_start_standard_normal_and_are_scaled_at_run_time() {
        tch::manual_seed(0);
        let vs = VarStore::new(Device::Cpu);
        // No padding, so that every output sees a full 3x3 window of the unit-variance input.
        let conv = eq_conv2d(
            &(vs.root() / "conv"),
            64,
            32,
            3,
            EqConfig {
                padding: Some(0),
                ..Default::default()
            },
        );
        let std = conv.weight.std(true).double_value(&[]);
        assert!(
            (std - 1.0).abs() < 0.02,
            "stored weights ~ N(0, 1): std {std}"
        );
        assert!((conv.scale - HE_GAIN / (64.0f64 * 9.0).sqrt()).abs() < 1e-15);
        let bias = conv.bias.as_ref().expect("bias");
        assert_eq!(bias.abs().sum(None::<Kind>).double_value(&[]), 0.0);
        // The output of a unit-variance input has about gain² / 2 = unit second moment after
        // a ReLU: the point of He scaling.
        let x = Tensor::randn([16, 64, 8, 8], (Kind::Float, Device::Cpu));
        let y = conv.forward(&x).relu();
        let second_moment = y.square().mean(None::<Kind>).double_value(&[]);
        assert!((second_moment - 1.0).abs() < 0.1, "{second_moment}");
    }

    #[test]
    fn pixel_norm_gives_unit_rms_features() {
        let x = Tensor::randn([2, 16, 4, 4], (Kind::Float, Device::Cpu)) * 7.0;
        let rms = pixel_norm(&x)
            .square()
            .mean_dim(1, false, None::<Kind>)
            .sqrt();
        assert!((rms - 1.0).abs().max().double_value(&[]) < 1e-5);
    }

    #[test]
    fn minibatch_stddev_appends_one_map_constant_per_group() {
        let x = Tensor::randn([8, 3, 4, 4], (Kind::Float, Device::Cpu));
        let y = minibatch_stddev(&x, 4);
        assert_eq!(y.size(), [8, 4, 4, 4]);
        assert!(y.narrow(1, 0, 3).equal(&x));
        let extra = y.select(1, 3);
        // Groups are samples {0, 2, 4, 6} and {1, 3, 5, 7} (reshape [G, M, ...] with M = 2).
        assert!(extra.get(0).equal(&extra.get(2)) && extra.get(1).equal(&extra.get(7)));
        // Identical samples have zero std (up to the 1e-8 inside the root).
        let same = Tensor::ones([4, 2, 2, 2], (Kind::Float, Device::Cpu));
        assert!(
            minibatch_stddev(&same, 4)
                .select(1, 2)
                .max()
                .double_value(&[])
                < 1e-3
        );
    }
}
