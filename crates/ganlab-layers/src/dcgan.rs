//! DCGAN blocks and the DCGAN-32 networks (Radford, Metz & Chintala 2016, "Unsupervised
//! Representation Learning with Deep Convolutional GANs"), in the form of PyTorch's
//! `examples/dcgan`, scaled to 32x32:
//!
//! - G: z ∈ R^100 → ConvT(100→256, k4 s1 p0) → BN → ReLU → ConvT(256→128, k4 s2 p1) → BN → ReLU
//!   → ConvT(128→64, k4 s2 p1) → BN → ReLU → ConvT(64→C, k4 s2 p1) → tanh.
//! - D: Conv(C→64, k4 s2 p1) → LeakyReLU(0.2) → Conv(64→128, k4 s2 p1) → BN → LeakyReLU →
//!   Conv(128→256, k4 s2 p1) → BN → LeakyReLU → Conv(256→1, k4 s1 p0) → logit.
//!
//! Convolutions have no bias. Initialisation as in the paper (§4: "All weights were initialized
//! from a zero-centered Normal distribution with standard deviation 0.02") and PyTorch's
//! `weights_init`: conv weights N(0, 0.02), BN scale N(1, 0.02), BN shift 0.
//!
//! D's normalisation is a choice ([`Norm`]): batch norm as above, or, for a critic under a
//! gradient penalty, layer norm (Gulrajani et al. 2017, §4).

use crate::spectral::SnConv2d;
use tch::nn::{self, Init, ModuleT};
use tch::Tensor;

/// Standard deviation of the DCGAN weight initialisation (Radford et al. 2016, §4).
pub const DCGAN_INIT_STD: f64 = 0.02;
/// Negative slope of the discriminator's leaky ReLU (Radford et al. 2016, §3).
pub const DCGAN_LEAKY_SLOPE: f64 = 0.2;

/// Geometry and options of one DCGAN block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockConfig {
    pub kernel: i64,
    pub stride: i64,
    pub padding: i64,
    /// The normalisation after the convolution (DCGAN leaves it out of D's first block).
    pub norm: Norm,
    /// Standard deviation of the N(0, std) weight initialisation.
    pub init_std: f64,
    /// Spectral normalisation of the convolution's kernel (Miyato et al. 2018; D only).
    pub spectral: bool,
    /// A bias in the convolution (`conv.bias`, initialised to 0). DCGAN's blocks have none
    /// (batch norm supplies the shift); SNGAN's, which have no norm in D, do.
    pub bias: bool,
    /// Negative slope of a D block's leaky ReLU (DCGAN's 0.2; unused by G's ReLU blocks).
    pub leaky_slope: f64,
}

impl Default for BlockConfig {
    /// The doubling (or halving) block: k4 s2 p1 with batch norm.
    fn default() -> Self {
        BlockConfig {
            kernel: 4,
            stride: 2,
            padding: 1,
            norm: Norm::Batch,
            init_std: DCGAN_INIT_STD,
            spectral: false,
            bias: false,
            leaky_slope: DCGAN_LEAKY_SLOPE,
        }
    }
}

/// The normalisation after a block's convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Norm {
    /// Batch normalisation (Radford et al. 2016): each channel over the batch and the pixels;
    /// parameters `bn.{weight,bias,running_mean,running_var}`.
    #[default]
    Batch,
    /// Layer normalisation: each sample over its channels and pixels, with a per-channel scale
    /// and offset, ε = 1e-5: the critic's normalisation under a gradient penalty, which is per
    /// sample and so must not mix the samples of a batch (Gulrajani et al. 2017, §4; their
    /// code's `Layernorm(name, [1,2,3], inputs)`). PyTorch's `GroupNorm(1, C)`; parameters
    /// `ln.{weight,bias}`, initialised to 1 and 0.
    Layer,
    /// No normalisation.
    None,
}

impl Norm {
    /// `batch`, `layer` or `none`.
    pub fn name(self) -> &'static str {
        match self {
            Norm::Batch => "batch",
            Norm::Layer => "layer",
            Norm::None => "none",
        }
    }
}

/// A block's normalisation layer.
#[derive(Debug)]
pub enum NormLayer {
    Batch(nn::BatchNorm),
    Layer(nn::GroupNorm),
    None,
}

impl NormLayer {
    fn new(p: &nn::Path, norm: Norm, channels: i64, init_std: f64) -> NormLayer {
        match norm {
            Norm::Batch => NormLayer::Batch(nn::batch_norm2d(
                p / "bn",
                channels,
                nn::BatchNormConfig {
                    ws_init: Init::Randn {
                        mean: 1.0,
                        stdev: init_std,
                    },
                    bs_init: Init::Const(0.0),
                    ..Default::default()
                },
            )),
            Norm::Layer => {
                NormLayer::Layer(nn::group_norm(p / "ln", 1, channels, Default::default()))
            }
            Norm::None => NormLayer::None,
        }
    }

    fn apply(&self, ys: Tensor, train: bool) -> Tensor {
        match self {
            NormLayer::Batch(bn) => ys.apply_t(bn, train),
            NormLayer::Layer(ln) => ys.apply(ln),
            NormLayer::None => ys,
        }
    }
}

/// Generator block: transposed convolution → batch norm → ReLU (Radford et al. 2016, Fig. 1).
#[derive(Debug)]
pub struct UpBlock {
    pub conv: nn::ConvTranspose2D,
    pub norm: NormLayer,
}

/// Builds an [`UpBlock`] with parameters `conv.weight` (and `conv.bias` with
/// [`BlockConfig::bias`]) and those of its [`Norm`].
pub fn up_block(p: &nn::Path, c_in: i64, c_out: i64, cfg: BlockConfig) -> UpBlock {
    let conv = nn::conv_transpose2d(
        p / "conv",
        c_in,
        c_out,
        cfg.kernel,
        nn::ConvTransposeConfig {
            stride: cfg.stride,
            padding: cfg.padding,
            bias: cfg.bias,
            ws_init: Init::Randn {
                mean: 0.0,
                stdev: cfg.init_std,
            },
            bs_init: Init::Const(0.0),
            ..Default::default()
        },
    );
    let norm = NormLayer::new(p, cfg.norm, c_out, cfg.init_std);
    UpBlock { conv, norm }
}

impl UpBlock {
    /// The block without its activation (used for the output layer, followed by tanh).
    pub fn forward_linear(&self, xs: &Tensor, train: bool) -> Tensor {
        self.norm.apply(xs.apply(&self.conv), train)
    }
}

impl ModuleT for UpBlock {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.forward_linear(xs, train).relu()
    }
}

/// A discriminator block's convolution: plain, or with a spectrally normalised kernel.
#[derive(Debug)]
pub enum DownConv {
    /// Parameter `conv.weight`.
    Plain(nn::Conv2D),
    /// Parameter `conv.weight_orig`, buffers `conv.weight_u`, `conv.weight_v`.
    Spectral(SnConv2d),
}

/// Discriminator block: convolution → (batch norm) → LeakyReLU (DCGAN's slope 0.2 unless the
/// [`BlockConfig`] says otherwise).
#[derive(Debug)]
pub struct DownBlock {
    pub conv: DownConv,
    pub norm: NormLayer,
    /// The leaky ReLU's negative slope.
    pub leaky_slope: f64,
}

/// Builds a [`DownBlock`] with parameters `conv.weight` (or, spectrally normalised,
/// `conv.weight_orig` and its u, v), `conv.bias` with [`BlockConfig::bias`], and those of its
/// [`Norm`].
pub fn down_block(p: &nn::Path, c_in: i64, c_out: i64, cfg: BlockConfig) -> DownBlock {
    let init = Init::Randn {
        mean: 0.0,
        stdev: cfg.init_std,
    };
    let conv = match cfg.spectral {
        true => DownConv::Spectral(SnConv2d::new(
            &(p / "conv"),
            c_in,
            c_out,
            cfg.kernel,
            (cfg.stride, cfg.padding),
            cfg.bias,
            init,
        )),
        false => DownConv::Plain(nn::conv2d(
            p / "conv",
            c_in,
            c_out,
            cfg.kernel,
            nn::ConvConfig {
                stride: cfg.stride,
                padding: cfg.padding,
                bias: cfg.bias,
                ws_init: init,
                bs_init: Init::Const(0.0),
                ..Default::default()
            },
        )),
    };
    let norm = NormLayer::new(p, cfg.norm, c_out, cfg.init_std);
    DownBlock {
        conv,
        norm,
        leaky_slope: cfg.leaky_slope,
    }
}

impl DownBlock {
    /// The block without its activation (used for the logit layer).
    pub fn forward_linear(&self, xs: &Tensor, train: bool) -> Tensor {
        let ys = match &self.conv {
            DownConv::Plain(conv) => xs.apply(conv),
            DownConv::Spectral(conv) => conv.forward(xs, train),
        };
        self.norm.apply(ys, train)
    }
}

impl ModuleT for DownBlock {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        leaky_relu(&self.forward_linear(xs, train), self.leaky_slope)
    }
}

/// Leaky ReLU with an explicit negative slope: x · (1 if x > 0 else slope), equal bit for bit
/// to PyTorch's `F.leaky_relu(x, slope)` (same gradient convention at 0).
///
/// tch exposes `leaky_relu` only with PyTorch's default slope 0.01, so this calls ATen's
/// `leaky_relu_backward(grad_output = x, self = x.detach(), slope)`, which computes exactly
/// x > 0 ? x : x·slope in one vectorized kernel. Its derivative with respect to `grad_output` is
/// again `leaky_relu_backward` (the leaky ReLU's own gradient), and the detached `self` needs
/// none, so the backward and the double backward of gradient penalties are one kernel each
/// (`prelu` made a WGAN-GP step 2-3x slower; a detached-mask product took 3 kernels).
pub fn leaky_relu(xs: &Tensor, slope: f64) -> Tensor {
    xs.detach().leaky_relu_backward(xs, slope, false)
}

/// Sizes of DCGAN-32.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dcgan32Config {
    /// Latent dimension (100 in the paper).
    pub z_dim: i64,
    /// Image channels: 1 for grayscale, 3 for RGB.
    pub channels: i64,
    /// Width of G's last hidden block and D's first block (`ngf` = `ndf` = 64).
    pub width: i64,
    /// D's normalisation in its second and third blocks (G keeps batch norm).
    pub d_norm: Norm,
    /// Spectral normalisation of every D convolution (Miyato et al. 2018).
    pub d_spectral_norm: bool,
    /// Classes of the conditional networks ([`dcgan32_conditional_generator`],
    /// [`dcgan32_conditional_discriminator`]); 0 for the unconditional ones, which ignore it.
    pub classes: i64,
    /// Class-conditional batch norm in the conditional generator (de Vries et al. 2017,
    /// Dumoulin et al. 2017; BigGAN's G): each batch norm normalises without an affine map of
    /// its own and takes its scale and shift from per-class tables.
    pub class_norm: bool,
    /// G's last layer (`to_image` and its tanh) and D's first block compute in float32 under
    /// reduced precision (see [`crate::float32_if`]); no effect in float32.
    pub fp32_image_layers: bool,
}

impl Default for Dcgan32Config {
    fn default() -> Self {
        Dcgan32Config {
            z_dim: 100,
            channels: 1,
            width: 64,
            d_norm: Norm::Batch,
            d_spectral_norm: false,
            classes: 0,
            class_norm: false,
            fp32_image_layers: false,
        }
    }
}

/// The DCGAN-32 generator: z [N, z_dim] → images [N, C, 32, 32] in [-1, 1].
#[derive(Debug)]
pub struct Dcgan32Generator {
    pub blocks: Vec<UpBlock>,
    pub to_image: UpBlock,
    pub config: Dcgan32Config,
}

/// Builds the DCGAN-32 generator under `p` (`block1` … `block3`, `to_image`).
pub fn dcgan32_generator(p: &nn::Path, cfg: Dcgan32Config) -> Dcgan32Generator {
    dcgan32_generator_with(p, cfg, Norm::Batch)
}

/// [`dcgan32_generator`] with `norm` in its hidden blocks.
fn dcgan32_generator_with(p: &nn::Path, cfg: Dcgan32Config, norm: Norm) -> Dcgan32Generator {
    let w = cfg.width;
    let hidden = BlockConfig {
        norm,
        ..Default::default()
    };
    let first = BlockConfig {
        stride: 1,
        padding: 0,
        ..hidden
    };
    let blocks = vec![
        up_block(&(p / "block1"), cfg.z_dim, 4 * w, first),
        up_block(&(p / "block2"), 4 * w, 2 * w, hidden),
        up_block(&(p / "block3"), 2 * w, w, hidden),
    ];
    let last = BlockConfig {
        norm: Norm::None,
        ..Default::default()
    };
    let to_image = up_block(&(p / "to_image"), w, cfg.channels, last);
    Dcgan32Generator {
        blocks,
        to_image,
        config: cfg,
    }
}

impl ModuleT for Dcgan32Generator {
    fn forward_t(&self, z: &Tensor, train: bool) -> Tensor {
        let n = z.size()[0];
        let mut xs = z.view([n, self.config.z_dim, 1, 1]);
        for block in &self.blocks {
            xs = block.forward_t(&xs, train);
        }
        self.images_of_features(&xs, train)
    }
}

impl Dcgan32Generator {
    /// The image from the last hidden block's features: `to_image`, then tanh.
    fn images_of_features(&self, xs: &Tensor, train: bool) -> Tensor {
        crate::float32_if(self.config.fp32_image_layers, xs, |xs| {
            self.to_image.forward_linear(xs, train).tanh()
        })
    }
}

/// The DCGAN-32 discriminator: images `[N, C, 32, 32]` → logits `[N]`.
#[derive(Debug)]
pub struct Dcgan32Discriminator {
    pub blocks: Vec<DownBlock>,
    pub to_logit: DownBlock,
    /// The first block in float32 under reduced precision ([`Dcgan32Config::fp32_image_layers`]).
    pub fp32_image_layers: bool,
}

/// Builds the DCGAN-32 discriminator under `p` (`block1` … `block3`, `to_logit`).
pub fn dcgan32_discriminator(p: &nn::Path, cfg: Dcgan32Config) -> Dcgan32Discriminator {
    let w = cfg.width;
    let first = BlockConfig {
        norm: Norm::None,
        spectral: cfg.d_spectral_norm,
        ..Default::default()
    };
    let middle = BlockConfig {
        norm: cfg.d_norm,
        spectral: cfg.d_spectral_norm,
        ..Default::default()
    };
    let blocks = vec![
        down_block(&(p / "block1"), cfg.channels, w, first),
        down_block(&(p / "block2"), w, 2 * w, middle),
        down_block(&(p / "block3"), 2 * w, 4 * w, middle),
    ];
    let last = BlockConfig {
        stride: 1,
        padding: 0,
        norm: Norm::None,
        spectral: cfg.d_spectral_norm,
        ..Default::default()
    };
    let to_logit = down_block(&(p / "to_logit"), 4 * w, 1, last);
    Dcgan32Discriminator {
        blocks,
        to_logit,
        fp32_image_layers: cfg.fp32_image_layers,
    }
}

impl Dcgan32Discriminator {
    /// The last block's features `[N, 4·width, 4, 4]` of images `xs`.
    fn features(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut ys = crate::float32_if(self.fp32_image_layers, xs, |xs| {
            self.blocks[0].forward_t(xs, train)
        });
        for block in &self.blocks[1..] {
            ys = block.forward_t(&ys, train);
        }
        ys
    }

    /// The logits `[N]` of the last block's features.
    fn logits_of_features(&self, ys: &Tensor, train: bool) -> Tensor {
        self.to_logit
            .forward_linear(ys, train)
            .flatten(1, -1)
            .squeeze_dim(1)
    }
}

impl ModuleT for Dcgan32Discriminator {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.logits_of_features(&self.features(xs, train), train)
    }
}

/// The class-conditional DCGAN-32 generator: a learned embedding of the label (`class_embed`,
/// `[classes, z_dim]`) concatenated to z, so that the first transposed convolution takes
/// `2 · z_dim` channels; the rest is [`Dcgan32Generator`] (the conditional DCGAN of Mirza &
/// Osindero 2014, with an embedding in place of the one-hot code, as StyleGAN2-ADA's mapping
/// embeds c).
#[derive(Debug)]
pub struct Dcgan32ConditionalGenerator {
    pub embed: nn::Embedding,
    pub net: Dcgan32Generator,
    /// With `class_norm`: each hidden block's class-conditional batch norm.
    pub class_norms: Vec<ClassBatchNorm>,
    pub config: Dcgan32Config,
}

/// Class-conditional batch norm (de Vries et al. 2017, "Modulating early visual processing by
/// language", §3; Dumoulin et al. 2017): batch norm without an affine map of its own
/// (`bn.running_mean`, `bn.running_var`), then the scale and shift of each sample's class,
/// `bn.class_weight` and `bn.class_bias`, `[classes, channels]`, drawn as DCGAN draws batch
/// norm's: N(1, 0.02) and 0.
#[derive(Debug)]
pub struct ClassBatchNorm {
    pub bn: nn::BatchNorm,
    pub weight: Tensor,
    pub bias: Tensor,
}

impl ClassBatchNorm {
    /// Under `p / "bn"`, for `channels` channels and `classes` classes.
    pub fn new(p: &nn::Path, classes: i64, channels: i64, init_std: f64) -> ClassBatchNorm {
        let p = p / "bn";
        let bn = nn::batch_norm2d(
            &p,
            channels,
            nn::BatchNormConfig {
                affine: false,
                ..Default::default()
            },
        );
        let weight = p.var(
            "class_weight",
            &[classes, channels],
            Init::Randn {
                mean: 1.0,
                stdev: init_std,
            },
        );
        let bias = p.var("class_bias", &[classes, channels], Init::Const(0.0));
        ClassBatchNorm { bn, weight, bias }
    }

    /// `xs` `[N, C, H, W]` normalised, scaled and shifted by the rows of `labels` `[N]`.
    pub fn forward(&self, xs: &Tensor, labels: &Tensor, train: bool) -> Tensor {
        let n = xs.size()[0];
        let labels = labels.to_device(self.weight.device());
        let gamma = self.weight.index_select(0, &labels).view([n, -1, 1, 1]);
        let beta = self.bias.index_select(0, &labels).view([n, -1, 1, 1]);
        xs.apply_t(&self.bn, train) * gamma.to_kind(xs.kind()) + beta.to_kind(xs.kind())
    }
}

/// Builds the conditional DCGAN-32 generator under `p` (`class_embed`, then the unconditional
/// generator's `block1` … `to_image`).
pub fn dcgan32_conditional_generator(
    p: &nn::Path,
    cfg: Dcgan32Config,
) -> Dcgan32ConditionalGenerator {
    let embed = crate::conditional::class_embedding(&(p / "class_embed"), cfg.classes, cfg.z_dim);
    let inner = Dcgan32Config {
        z_dim: 2 * cfg.z_dim,
        ..cfg
    };
    // With class-conditional batch norm the blocks have no batch norm of their own; theirs take
    // its place (under the same prefix, `blockN.bn.*`).
    let net = match cfg.class_norm {
        true => dcgan32_generator_with(p, inner, Norm::None),
        false => dcgan32_generator(p, inner),
    };
    let mut class_norms = Vec::new();
    if cfg.class_norm {
        for (i, block) in net.blocks.iter().enumerate() {
            let channels = block.conv.ws.size()[1];
            class_norms.push(ClassBatchNorm::new(
                &(p / format!("block{}", i + 1)),
                cfg.classes,
                channels,
                BlockConfig::default().init_std,
            ));
        }
    }
    Dcgan32ConditionalGenerator {
        embed,
        net,
        class_norms,
        config: cfg,
    }
}

impl crate::ConditionalModuleT for Dcgan32ConditionalGenerator {
    fn forward_ct(&self, z: &Tensor, labels: Option<&Tensor>, train: bool) -> Tensor {
        let labels = crate::conditional::required(labels, "the conditional DCGAN-32 generator");
        let e = crate::conditional::embed(&self.embed, labels).to_kind(z.kind());
        self.images_of_input(&Tensor::cat(&[z, &e], 1), labels, train)
    }

    fn classes(&self) -> i64 {
        self.config.classes
    }

    fn forward_between(
        &self,
        z: &Tensor,
        from: &Tensor,
        to: &Tensor,
        t: f64,
        train: bool,
    ) -> Option<Tensor> {
        if !self.class_norms.is_empty() {
            // Class-conditional batch norm takes one class per sample.
            return None;
        }
        let e = crate::conditional::embed_between(&self.embed, from, to, t).to_kind(z.kind());
        Some(self.images_of_input(&Tensor::cat(&[z, &e], 1), from, train))
    }
}

impl Dcgan32ConditionalGenerator {
    /// Images from G's input (z and the class embedding), the class norms reading `labels`.
    fn images_of_input(&self, input: &Tensor, labels: &Tensor, train: bool) -> Tensor {
        if self.class_norms.is_empty() {
            return self.net.forward_t(input, train);
        }
        let n = input.size()[0];
        let mut xs = input.view([n, -1, 1, 1]);
        for (block, norm) in self.net.blocks.iter().zip(&self.class_norms) {
            xs = norm.forward(&xs.apply(&block.conv), labels, train).relu();
        }
        self.net.images_of_features(&xs, train)
    }
}

/// The projection DCGAN-32 discriminator (Miyato & Koyama 2018): the unconditional logit plus
/// `⟨embed(y), φ(x)⟩`, with φ(x) the last block's features flattened (`[N, 4·width·16]`, the
/// input of the final 4x4 convolution, which is a linear map of them) and the embedding
/// `class_projection` (`[classes, 4·width·16]`).
#[derive(Debug)]
pub struct Dcgan32ProjectionDiscriminator {
    pub projection: crate::ProjectionTable,
    pub net: Dcgan32Discriminator,
    pub classes: i64,
}

/// Builds the projection DCGAN-32 discriminator under `p` (the unconditional discriminator's
/// `block1` … `to_logit`, then `class_projection`).
pub fn dcgan32_conditional_discriminator(
    p: &nn::Path,
    cfg: Dcgan32Config,
) -> Dcgan32ProjectionDiscriminator {
    let net = dcgan32_discriminator(p, cfg);
    let features = 4 * cfg.width * 16;
    Dcgan32ProjectionDiscriminator {
        projection: crate::ProjectionTable::new(
            &(p / "class_projection"),
            cfg.classes,
            features,
            cfg.d_spectral_norm,
        ),
        net,
        classes: cfg.classes,
    }
}

impl crate::ConditionalModuleT for Dcgan32ProjectionDiscriminator {
    fn forward_ct(&self, xs: &Tensor, labels: Option<&Tensor>, train: bool) -> Tensor {
        let labels = crate::conditional::required(labels, "the projection DCGAN-32 discriminator");
        let ys = self.net.features(xs, train);
        let logit = self.net.logits_of_features(&ys, train);
        let phi = ys.flatten(1, -1);
        logit + self.projection.project(&phi, labels, train)
    }

    fn classes(&self) -> i64 {
        self.classes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn::VarStore, Device, Kind};

    #[test]
    fn blocks_double_and_halve_the_resolution() {
        let vs = VarStore::new(Device::Cpu);
        let up = up_block(&(vs.root() / "up"), 8, 4, BlockConfig::default());
        let down = down_block(&(vs.root() / "down"), 4, 8, BlockConfig::default());
        let x = Tensor::randn([2, 8, 5, 5], (Kind::Float, Device::Cpu));
        let y = up.forward_t(&x, true);
        assert_eq!(y.size(), [2, 4, 10, 10]);
        assert!(y.min().double_value(&[]) >= 0.0, "ReLU output");
        assert_eq!(down.forward_t(&y, true).size(), [2, 8, 5, 5]);
    }

    #[test]
    fn dcgan32_shapes_for_gray_and_rgb() {
        for channels in [1, 3] {
            let vs = VarStore::new(Device::Cpu);
            let cfg = Dcgan32Config {
                channels,
                ..Default::default()
            };
            let g = dcgan32_generator(&(vs.root() / "g"), cfg);
            let d = dcgan32_discriminator(&(vs.root() / "d"), cfg);
            let z = Tensor::randn([3, 100], (Kind::Float, Device::Cpu));
            let images = g.forward_t(&z, true);
            assert_eq!(images.size(), [3, channels, 32, 32]);
            assert!(
                images.abs().max().double_value(&[]) <= 1.0,
                "tanh output in [-1, 1]"
            );
            assert_eq!(d.forward_t(&images, true).size(), [3]);
        }
    }

    /// Under bf16 autocast, `fp32_image_layers` runs G's `to_image` + tanh and D's first block
    /// in float32 on float32 inputs, bit for bit as outside autocast, and the rest as before.
    #[test]
    fn float32_image_layers_leave_autocast_at_the_image() {
        let bf16 = ganlab_amp::Precision::Bf16;
        let cpu = Device::Cpu;
        for on in [false, true] {
            tch::manual_seed(5);
            let vs = VarStore::new(cpu);
            let cfg = Dcgan32Config {
                width: 8,
                fp32_image_layers: on,
                ..Default::default()
            };
            let g = dcgan32_generator(&(vs.root() / "g"), cfg);
            let d = dcgan32_discriminator(&(vs.root() / "d"), cfg);
            let z = Tensor::randn([4, 100], (Kind::Float, cpu));
            let images = ganlab_amp::autocast(bf16, cpu, || g.forward_t(&z, false));
            let features = ganlab_amp::autocast(bf16, cpu, || {
                let mut xs = z.view([4, 100, 1, 1]);
                for block in &g.blocks {
                    xs = block.forward_t(&xs, false);
                }
                xs
            });
            assert_eq!(
                features.kind(),
                Kind::BFloat16,
                "the hidden blocks stay in bf16"
            );
            let by_hand = g
                .to_image
                .forward_linear(&features.to_kind(Kind::Float), false)
                .tanh();
            match on {
                true => assert!(images.equal(&by_hand), "G's last layer in float32"),
                false => assert_eq!(images.kind(), Kind::BFloat16),
            }
            let x = Tensor::rand([4, 1, 32, 32], (Kind::Float, cpu)) * 2.0 - 1.0;
            let logits = ganlab_amp::autocast(bf16, cpu, || d.forward_t(&x, false));
            let first = d.blocks[0].forward_t(&x, false);
            let by_hand = ganlab_amp::autocast(bf16, cpu, || {
                let mut ys = first.shallow_clone();
                for block in &d.blocks[1..] {
                    ys = block.forward_t(&ys, false);
                }
                d.logits_of_features(&ys, false)
            });
            if on {
                assert!(logits.equal(&by_hand), "D's first block in float32");
            }
            // Which type D's first block computes in shows in the images' gradient: a bfloat16
            // convolution's backward hands back bfloat16 values (cast to float32, so every one
            // is a bfloat16 number), a float32 one does not. (The logits alone can coincide:
            // on a Xeon with AMX the bfloat16 and float32 first blocks give equal logits for this
            // small, freshly initialised D.)
            let x = x.set_requires_grad(true);
            let logits = ganlab_amp::autocast(bf16, cpu, || d.forward_t(&x, false));
            logits.to_kind(Kind::Float).sum(Kind::Float).backward();
            let grad = x.grad();
            assert_eq!(grad.kind(), Kind::Float);
            let in_bf16 = grad
                .to_kind(Kind::BFloat16)
                .to_kind(Kind::Float)
                .equal(&grad);
            assert_eq!(in_bf16, !on, "D's first block in float32: {on}");
        }
    }

    #[test]
    fn leaky_relu_keeps_positives_and_scales_negatives() {
        let x = Tensor::from_slice(&[-2.0f32, -0.5, 0.0, 1.5]);
        let y = leaky_relu(&x, 0.2);
        assert_eq!(
            Vec::<f32>::try_from(y).expect("floats"),
            vec![-0.4, -0.1, 0.0, 1.5]
        );
    }

    #[test]
    fn leaky_relu_gradients_and_double_backward() {
        // d/dx Σ v·f(x) = v·f'(x) with f'(0) = slope (PyTorch's convention); the gradient of
        // that, summed, with respect to v is f'(x) again (the path a gradient penalty takes).
        let x = Tensor::from_slice(&[-2.0f32, -0.5, 0.0, 1.5]).set_requires_grad(true);
        let v = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).set_requires_grad(true);
        let y = (leaky_relu(&x, 0.2) * &v).sum(Kind::Float);
        let gx = Tensor::run_backward(&[y], &[&x], true, true).remove(0);
        let floats = |t: &Tensor| Vec::<f32>::try_from(t.detach()).expect("floats");
        assert_eq!(floats(&gx), vec![0.2, 0.4, 0.6, 4.0]);
        let gv = Tensor::run_backward(&[gx.sum(Kind::Float)], &[&v], false, false).remove(0);
        assert_eq!(floats(&gv), vec![0.2, 0.2, 0.2, 1.0]);
    }

    #[test]
    fn a_layer_norm_critic_scores_each_sample_alone() {
        // Under batch norm a sample's score depends on the rest of its batch; under layer norm
        // (the gradient penalty's critic) it does not, in training mode too.
        let x = Tensor::randn([4, 1, 32, 32], (Kind::Float, Device::Cpu));
        let other = Tensor::cat(&[x.narrow(0, 0, 1), x.narrow(0, 1, 3) * 3.0 + 1.0], 0);
        for (norm, independent) in [(Norm::Layer, true), (Norm::Batch, false)] {
            let vs = VarStore::new(Device::Cpu);
            let cfg = Dcgan32Config {
                width: 8,
                d_norm: norm,
                ..Default::default()
            };
            let d = dcgan32_discriminator(&vs.root(), cfg);
            let a = d.forward_t(&x, true).double_value(&[0]);
            let b = d.forward_t(&other, true).double_value(&[0]);
            assert_eq!((a - b).abs() < 1e-5, independent, "{norm:?}: {a} vs {b}");
        }
        let vs = VarStore::new(Device::Cpu);
        let cfg = Dcgan32Config {
            d_norm: Norm::Layer,
            ..Default::default()
        };
        let _d = dcgan32_discriminator(&vs.root(), cfg);
        let names: Vec<String> = vs.variables().into_keys().collect();
        assert!(names.contains(&"block2.ln.weight".to_string()));
        assert!(!names.iter().any(|n| n.contains(".bn.")), "{names:?}");
    }

    #[test]
    fn parameters_are_named_like_pytorch_state_dicts() {
        let vs = VarStore::new(Device::Cpu);
        let _g = dcgan32_generator(&vs.root(), Dcgan32Config::default());
        let mut names: Vec<String> = vs.variables().into_keys().collect();
        names.sort();
        assert!(names.contains(&"block1.conv.weight".to_string()));
        assert!(names.contains(&"block1.bn.running_var".to_string()));
        assert!(names.contains(&"to_image.conv.weight".to_string()));
        assert!(
            !names.iter().any(|n| n.starts_with("to_image.bn")),
            "no BN on G's output"
        );
    }
}
