//! SNGAN-32: the "standard CNN" generator and discriminator of Miyato et al. 2018 ("Spectral
//! Normalization for Generative Adversarial Networks", Appendix B.4, Table 3), the networks
//! spectral normalisation was made for, in the widths of the authors' released code
//! (pfnet-research `chainer-gan-lib`, `common/net.py`: `DCGANGenerator`,
//! `SNDCGANDiscriminator`, `ch = 512`), `width` = 64 below:
//!
//! - G: z ∈ R^128 → Linear(z → 4·4·8w) → reshape [8w, 4, 4] → BN → ReLU → ConvT(8w→4w, k4 s2 p1)
//!   → BN → ReLU → ConvT(4w→2w) → BN → ReLU → ConvT(2w→w) → BN → ReLU → Conv(w→C, k3 s1 p1) →
//!   tanh.
//! - D: Conv(C→w, k3 s1 p1) → LReLU → Conv(w→2w, k4 s2 p1) → LReLU → Conv(2w→2w, k3) → LReLU →
//!   Conv(2w→4w, k4 s2) → LReLU → Conv(4w→4w, k3) → LReLU → Conv(4w→8w, k4 s2) → LReLU →
//!   Conv(8w→8w, k3) → LReLU → flatten → Linear(4·4·8w → 1).
//!
//! Every convolution and linear layer has a bias (D has no normalisation to supply a shift,
//! unlike DCGAN's), and every D layer, the last linear one included, is spectrally normalised
//! when [`Sngan32Config::d_spectral_norm`] is set (it can be switched off for the paper's
//! comparison). The leaky ReLUs have slope 0.1 (Miyato et al. 2018, Table 3: "The slopes of all
//! lReLU functions in the networks are set to 0.1"). Weights start N(0, 0.02) (the released
//! code's `wscale`), biases 0, batch-norm scales N(1, 0.02) as in DCGAN's blocks.
//!
//! D may take a normalisation in its six inner convolutions ([`Sngan32Config::d_norm`]; none in
//! the paper's network), as the released code's unnormalised-D baseline uses batch norm there.

use crate::dcgan::{down_block, up_block, BlockConfig, DownBlock, Norm, UpBlock, DCGAN_INIT_STD};
use crate::spectral::SnLinear;
use tch::nn::{self, Init, ModuleT};
use tch::Tensor;

/// Negative slope of SNGAN's leaky ReLUs (Miyato et al. 2018, Appendix B.4, Table 3).
pub const SNGAN_LEAKY_SLOPE: f64 = 0.1;

/// Sizes and options of SNGAN-32.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sngan32Config {
    /// Latent dimension (128 in the paper).
    pub z_dim: i64,
    /// Image channels: 1 for grayscale, 3 for RGB.
    pub channels: i64,
    /// Width unit `w`: G's last hidden block and D's first convolution (64 in the paper, whose
    /// widest layers are 8w = 512).
    pub width: i64,
    /// D's normalisation in its six inner convolutions (none in the paper).
    pub d_norm: Norm,
    /// Spectral normalisation of every D layer (the paper's network has it).
    pub d_spectral_norm: bool,
    /// G's last layer and D's first in float32 under reduced precision (see
    /// [`crate::float32_if`]); no effect in float32.
    pub fp32_image_layers: bool,
}

impl Default for Sngan32Config {
    fn default() -> Self {
        Sngan32Config {
            z_dim: 128,
            channels: 1,
            width: 64,
            d_norm: Norm::None,
            d_spectral_norm: true,
            fp32_image_layers: false,
        }
    }
}

/// The SNGAN-32 generator: z `[N, z_dim]` → images `[N, C, 32, 32]` in [-1, 1].
#[derive(Debug)]
pub struct Sngan32Generator {
    /// `fc.weight`, `fc.bias`: z → 4·4·8w.
    pub fc: nn::Linear,
    /// `fc_bn.*`: batch norm of the reshaped [8w, 4, 4] features.
    pub fc_bn: nn::BatchNorm,
    /// `block1` … `block3`: ConvT k4 s2 p1 with a bias, batch norm, ReLU.
    pub blocks: Vec<UpBlock>,
    /// `to_image.weight`, `to_image.bias`: Conv k3 s1 p1 to the image's channels.
    pub to_image: nn::Conv2D,
    pub config: Sngan32Config,
}

/// Builds the SNGAN-32 generator under `p`.
pub fn sngan32_generator(p: &nn::Path, cfg: Sngan32Config) -> Sngan32Generator {
    let w = cfg.width;
    let normal = Init::Randn {
        mean: 0.0,
        stdev: DCGAN_INIT_STD,
    };
    let fc = nn::linear(
        p / "fc",
        cfg.z_dim,
        16 * 8 * w,
        nn::LinearConfig {
            ws_init: normal,
            bs_init: Some(Init::Const(0.0)),
            bias: true,
        },
    );
    let fc_bn = nn::batch_norm2d(
        p / "fc_bn",
        8 * w,
        nn::BatchNormConfig {
            ws_init: Init::Randn {
                mean: 1.0,
                stdev: DCGAN_INIT_STD,
            },
            bs_init: Init::Const(0.0),
            ..Default::default()
        },
    );
    let up = BlockConfig {
        bias: true,
        ..Default::default()
    };
    let blocks = vec![
        up_block(&(p / "block1"), 8 * w, 4 * w, up),
        up_block(&(p / "block2"), 4 * w, 2 * w, up),
        up_block(&(p / "block3"), 2 * w, w, up),
    ];
    let to_image = nn::conv2d(
        p / "to_image",
        w,
        cfg.channels,
        3,
        nn::ConvConfig {
            padding: 1,
            ws_init: normal,
            bs_init: Init::Const(0.0),
            ..Default::default()
        },
    );
    Sngan32Generator {
        fc,
        fc_bn,
        blocks,
        to_image,
        config: cfg,
    }
}

impl ModuleT for Sngan32Generator {
    fn forward_t(&self, z: &Tensor, train: bool) -> Tensor {
        let n = z.size()[0];
        let w = self.config.width;
        let mut xs = z
            .apply(&self.fc)
            .reshape([n, 8 * w, 4, 4])
            .apply_t(&self.fc_bn, train)
            .relu();
        for block in &self.blocks {
            xs = block.forward_t(&xs, train);
        }
        crate::float32_if(self.config.fp32_image_layers, &xs, |xs| {
            xs.apply(&self.to_image).tanh()
        })
    }
}

/// D's last layer: plain or spectrally normalised.
#[derive(Debug)]
pub enum Dense {
    /// `to_logit.weight`, `to_logit.bias`.
    Plain(nn::Linear),
    /// `to_logit.weight_orig` (its u, v) and `to_logit.bias`.
    Spectral(SnLinear),
}

impl Dense {
    fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        match self {
            Dense::Plain(linear) => xs.apply(linear),
            Dense::Spectral(linear) => linear.forward(xs, train),
        }
    }
}

/// The SNGAN-32 discriminator: images `[N, C, 32, 32]` → logits `[N]`.
#[derive(Debug)]
pub struct Sngan32Discriminator {
    /// `block1` … `block7`: the seven convolutions with their leaky ReLUs.
    pub blocks: Vec<DownBlock>,
    /// `to_logit`: flatten, then linear to one logit.
    pub to_logit: Dense,
    /// The first block in float32 under reduced precision.
    pub fp32_image_layers: bool,
}

/// Builds the SNGAN-32 discriminator under `p`.
pub fn sngan32_discriminator(p: &nn::Path, cfg: Sngan32Config) -> Sngan32Discriminator {
    let w = cfg.width;
    let block = |kernel: i64, stride: i64, norm: Norm| BlockConfig {
        kernel,
        stride,
        padding: 1,
        norm,
        spectral: cfg.d_spectral_norm,
        bias: true,
        leaky_slope: SNGAN_LEAKY_SLOPE,
        ..Default::default()
    };
    // (c_in, c_out, kernel, stride) of block1 … block7.
    let layers = [
        (cfg.channels, w, 3, 1),
        (w, 2 * w, 4, 2),
        (2 * w, 2 * w, 3, 1),
        (2 * w, 4 * w, 4, 2),
        (4 * w, 4 * w, 3, 1),
        (4 * w, 8 * w, 4, 2),
        (8 * w, 8 * w, 3, 1),
    ];
    let blocks = layers
        .iter()
        .enumerate()
        .map(|(i, &(c_in, c_out, kernel, stride))| {
            let norm = if i == 0 { Norm::None } else { cfg.d_norm };
            down_block(
                &(p / format!("block{}", i + 1)),
                c_in,
                c_out,
                block(kernel, stride, norm),
            )
        })
        .collect();
    let normal = Init::Randn {
        mean: 0.0,
        stdev: DCGAN_INIT_STD,
    };
    let (n_in, p_logit) = (16 * 8 * w, p / "to_logit");
    let to_logit = match cfg.d_spectral_norm {
        true => Dense::Spectral(SnLinear::with_init(
            &p_logit,
            n_in,
            1,
            normal,
            Init::Const(0.0),
        )),
        false => Dense::Plain(nn::linear(
            p_logit,
            n_in,
            1,
            nn::LinearConfig {
                ws_init: normal,
                bs_init: Some(Init::Const(0.0)),
                bias: true,
            },
        )),
    };
    Sngan32Discriminator {
        blocks,
        to_logit,
        fp32_image_layers: cfg.fp32_image_layers,
    }
}

impl ModuleT for Sngan32Discriminator {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut ys = crate::float32_if(self.fp32_image_layers, xs, |xs| {
            self.blocks[0].forward_t(xs, train)
        });
        for block in &self.blocks[1..] {
            ys = block.forward_t(&ys, train);
        }
        self.to_logit
            .forward(&ys.flatten(1, -1), train)
            .squeeze_dim(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn built(cfg: Sngan32Config) -> (nn::VarStore, nn::VarStore, Tensor, Tensor) {
        tch::manual_seed(0);
        let (g_vs, d_vs) = (
            nn::VarStore::new(Device::Cpu),
            nn::VarStore::new(Device::Cpu),
        );
        let g = sngan32_generator(&g_vs.root(), cfg);
        let d = sngan32_discriminator(&d_vs.root(), cfg);
        let z = Tensor::randn([3, cfg.z_dim], (Kind::Float, Device::Cpu));
        let images = g.forward_t(&z, true);
        let logits = d.forward_t(&images, true);
        (g_vs, d_vs, images, logits)
    }

    #[test]
    fn shapes_and_parameter_names_follow_the_paper_s_network() {
        let cfg = Sngan32Config {
            width: 4,
            channels: 3,
            ..Default::default()
        };
        let (g_vs, d_vs, images, logits) = built(cfg);
        assert_eq!(images.size(), [3, 3, 32, 32]);
        assert_eq!(logits.size(), [3]);
        let d = d_vs.variables();
        // Seven spectrally normalised convolutions with biases, then the normalised linear.
        for i in 1..=7 {
            assert!(d.contains_key(&format!("block{i}.conv.weight_orig")));
            assert!(d.contains_key(&format!("block{i}.conv.bias")));
        }
        assert_eq!(d["to_logit.weight_orig"].size(), [1, 16 * 8 * 4]);
        assert_eq!(d["block7.conv.weight_orig"].size(), [32, 32, 3, 3]);
        let g = g_vs.variables();
        assert_eq!(g["fc.weight"].size(), [16 * 8 * 4, 128]);
        assert_eq!(g["to_image.weight"].size(), [3, 4, 3, 3]);
        assert!(g.contains_key("block1.conv.bias"));
    }

    #[test]
    fn without_spectral_norm_d_has_plain_layers() {
        let cfg = Sngan32Config {
            width: 4,
            d_spectral_norm: false,
            ..Default::default()
        };
        let (_, d_vs, _, logits) = built(cfg);
        let d = d_vs.variables();
        assert!(d.keys().all(|k| !k.contains("weight_u")));
        assert!(d.contains_key("to_logit.weight"));
        assert_eq!(logits.size(), [3]);
    }
}
