//! ProGAN's generator and discriminator (official `G_paper` / `D_paper`), built block by block.
//!
//! G, block of 4x4: pixel-normalised z → dense (gain √2/4, as the official code "to match the
//! original Theano implementation") → reshape [nf(1), 4, 4] → lrelu → PN → conv3x3 → lrelu → PN.
//! G, block of 2^r ≥ 8: nearest upsample → conv3x3 → lrelu → PN → conv3x3 → lrelu → PN.
//! toRGB per resolution: 1x1 conv, gain 1, linear.
//! D, fromRGB per resolution: 1x1 conv → lrelu. D, block of 2^r ≥ 8: conv3x3 → lrelu → conv3x3
//! (to nf(r−2)) → lrelu → 2x2 average pool. D, block of 4x4: minibatch stddev → conv3x3 → lrelu →
//! dense nf(0) → lrelu → dense 1 (gain 1).
//! Feature maps nf(stage) = min(fmap_base / 2^stage, fmap_max); leaky ReLU slope 0.2; every layer
//! uses the equalized learning rate.
//!
//! Both networks read the current [`Stage`] (resolution level and fade-in α) from a shared
//! [`StageHandle`], which the training loop sets from the schedule; they only run the blocks up to
//! the current resolution.

use ganlab_layers::{
    eq_conv2d, eq_linear, leaky_relu, minibatch_stddev, pixel_norm, EqConfig, EqConv2d, EqLinear,
};
use std::sync::{Arc, Mutex};
use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

/// Leaky ReLU slope of ProGAN (Karras et al. 2018, §A.1: 0.2).
pub const PROGAN_LEAKY_SLOPE: f64 = 0.2;

/// Sizes of the ProGAN pair.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProganConfig {
    /// Final resolution R (a power of two, 8 … 1024).
    pub resolution: i64,
    /// Image channels.
    pub channels: i64,
    /// nf(stage) = min(fmap_base / 2^stage, fmap_max) (paper: 8192 and 512).
    pub fmap_base: i64,
    pub fmap_max: i64,
    /// Latent size; 0 means nf(0) as in the official code.
    pub latent_size: i64,
    /// Minibatch-stddev group size (paper: 4).
    pub mbstd_group_size: i64,
    /// Spectral normalisation of every D layer (Miyato et al. 2018; not in the paper), on top
    /// of its equalized layers (see `ganlab_layers::equalized`).
    pub d_spectral_norm: bool,
    /// Classes of the conditional pair ([`ConditionalGenerator`], [`ProjectionDiscriminator`]):
    /// G concatenates a learned class embedding to z, D adds the projection term; 0 for the
    /// unconditional pair.
    pub classes: i64,
    /// G's toRGB layers and D's fromRGB layers compute in float32 under reduced precision
    /// (`ganlab_layers::float32_if`); no effect in float32.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fp32_image_layers: bool,
    /// Under reduced precision, only the blocks of the highest N resolutions (G's blocks and
    /// toRGB layers, D's blocks and fromRGB layers at 2^(max_level − N + 1) and above) compute in
    /// it; the lower ones run in float32 (StyleGAN2-ADA's `num_fp16_res`). `None`: every
    /// resolution. No effect in float32.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reduced_precision_resolutions: Option<i64>,
    /// Every layer that outputs feature maps or images (G's dense 4x4 layer, convolutions and
    /// toRGB layers; D's fromRGB layers and convolutions, not its dense layers) clamps its
    /// output, after the activation, to ±X: StyleGAN2-ADA's `conv_clamp` (256 in its configs,
    /// "clamp activations to avoid float16 overflow"), which it sets on every layer, float16 or
    /// not. `None`: no clamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conv_clamp: Option<f64>,
}

impl Default for ProganConfig {
    fn default() -> Self {
        ProganConfig {
            resolution: 1024,
            channels: 3,
            fmap_base: 8192,
            fmap_max: 512,
            latent_size: 0,
            mbstd_group_size: 4,
            d_spectral_norm: false,
            classes: 0,
            fp32_image_layers: false,
            reduced_precision_resolutions: None,
            conv_clamp: None,
        }
    }
}

impl ProganConfig {
    /// Feature maps at a stage: min(fmap_base / 2^stage, fmap_max), at least 1.
    pub fn nf(&self, stage: i64) -> i64 {
        (self.fmap_base >> stage).clamp(1, self.fmap_max)
    }

    /// The latent size (nf(0) unless set).
    pub fn latent(&self) -> i64 {
        if self.latent_size > 0 {
            self.latent_size
        } else {
            self.nf(0)
        }
    }

    /// log2 of the final resolution.
    pub fn max_level(&self) -> i64 {
        self.resolution.trailing_zeros() as i64
    }

    /// Whether the layers at resolution 2^`level` compute in the reduced type under autocast
    /// (see [`ProganConfig::reduced_precision_resolutions`]).
    pub fn reduced_at(&self, level: i64) -> bool {
        match self.reduced_precision_resolutions {
            None => true,
            Some(n) => level > self.max_level() - n,
        }
    }

    /// `x` clamped to ±[`ProganConfig::conv_clamp`] (unchanged without it).
    fn clamped(&self, x: Tensor) -> Tensor {
        match self.conv_clamp {
            Some(c) => x.clamp(-c, c),
            None => x,
        }
    }

    /// A layer's activation (leaky ReLU), then the clamp.
    fn act(&self, x: &Tensor) -> Tensor {
        self.clamped(act(x))
    }
}

/// The part of the network in use: output resolution 2^level and the fade-in α of its newest block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub level: i64,
    pub alpha: f64,
}

/// A stage shared between the networks and the training loop.
#[derive(Debug, Clone)]
pub struct StageHandle(Arc<Mutex<Stage>>);

impl StageHandle {
    /// A handle at `level` with α = 1.
    pub fn new(level: i64) -> Self {
        StageHandle(Arc::new(Mutex::new(Stage { level, alpha: 1.0 })))
    }
    /// The current stage.
    pub fn get(&self) -> Stage {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    /// Sets the stage (α is clamped to [0, 1]).
    pub fn set(&self, level: i64, alpha: f64) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Stage {
            level,
            alpha: alpha.clamp(0.0, 1.0),
        };
    }
}

fn act(x: &Tensor) -> Tensor {
    leaky_relu(x, PROGAN_LEAKY_SLOPE)
}

fn upscale2d(x: &Tensor) -> Tensor {
    let s = x.size();
    x.upsample_nearest2d([s[2] * 2, s[3] * 2], None, None)
}

fn downscale2d(x: &Tensor) -> Tensor {
    x.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None)
}

#[derive(Debug)]
enum GBlock {
    First {
        dense: EqLinear,
        conv: EqConv2d,
        channels: i64,
    },
    Up {
        conv0: EqConv2d,
        conv1: EqConv2d,
    },
}

/// The ProGAN generator.
#[derive(Debug)]
pub struct Generator {
    /// The class embedding `class_embed` [classes, latent] of the conditional generator.
    embed: Option<nn::Embedding>,
    blocks: Vec<GBlock>,
    to_rgb: Vec<EqConv2d>,
    pub config: ProganConfig,
    pub stage: StageHandle,
}

/// Builds G under `p`: `b4.dense`, `b4.conv`, `b8.conv0`, `b8.conv1`, …, `to_rgb4`, `to_rgb8`, ….
pub fn progan_generator(p: &nn::Path, cfg: ProganConfig, stage: StageHandle) -> Generator {
    let mut blocks = Vec::new();
    let mut to_rgb = Vec::new();
    let rgb = EqConfig {
        gain: 1.0,
        ..Default::default()
    };
    // Conditional: the embedding of the label is concatenated to z before the latents'
    // normalisation, as official ProGAN concatenates its one-hot labels (`combo_in`).
    let embed = (cfg.classes > 0)
        .then(|| ganlab_layers::class_embedding(&(p / "class_embed"), cfg.classes, cfg.latent()));
    let input = match embed {
        Some(_) => 2 * cfg.latent(),
        None => cfg.latent(),
    };
    for level in 2..=cfg.max_level() {
        let res = 1i64 << level;
        let bp = p / format!("b{res}");
        let c = cfg.nf(level - 1);
        if level == 2 {
            let dense_cfg = EqConfig {
                gain: std::f64::consts::SQRT_2 / 4.0,
                ..Default::default()
            };
            blocks.push(GBlock::First {
                dense: eq_linear(&(&bp / "dense"), input, c * 16, dense_cfg),
                conv: eq_conv2d(&(&bp / "conv"), c, c, 3, EqConfig::default()),
                channels: c,
            });
        } else {
            blocks.push(GBlock::Up {
                conv0: eq_conv2d(
                    &(&bp / "conv0"),
                    cfg.nf(level - 2),
                    c,
                    3,
                    EqConfig::default(),
                ),
                conv1: eq_conv2d(&(&bp / "conv1"), c, c, 3, EqConfig::default()),
            });
        }
        to_rgb.push(eq_conv2d(
            &(p / format!("to_rgb{res}")),
            c,
            cfg.channels,
            1,
            rgb,
        ));
    }
    Generator {
        embed,
        blocks,
        to_rgb,
        config: cfg,
        stage,
    }
}

impl Generator {
    fn block(&self, index: usize, x: &Tensor) -> Tensor {
        match &self.blocks[index] {
            GBlock::First {
                dense,
                conv,
                channels,
            } => {
                let c = &self.config;
                let x = pixel_norm(x); // normalize_latents
                let n = x.size()[0];
                let x = pixel_norm(&c.act(&dense.forward(&x).view([n, *channels, 4, 4])));
                pixel_norm(&c.act(&conv.forward(&x)))
            }
            GBlock::Up { conv0, conv1 } => {
                let c = &self.config;
                let x = pixel_norm(&c.act(&conv0.forward(&upscale2d(x))));
                pixel_norm(&c.act(&conv1.forward(&x)))
            }
        }
    }

    /// Images at the given stage: [N, C, 2^level, 2^level].
    pub fn forward_at(&self, z: &Tensor, stage: Stage) -> Tensor {
        self.forward_labelled_at(z, None, stage)
    }

    /// [`Generator::forward_at`] with the class `labels` a conditional generator needs.
    pub fn forward_labelled_at(&self, z: &Tensor, labels: Option<&Tensor>, stage: Stage) -> Tensor {
        let z = match &self.embed {
            Some(table) => {
                let labels = labels.unwrap_or_else(|| {
                    panic!("the conditional ProGAN generator must be called with labels")
                });
                Tensor::cat(
                    &[z, &ganlab_layers::embed(table, labels).to_kind(z.kind())],
                    1,
                )
            }
            None => z.shallow_clone(),
        };
        self.images_of_input_at(&z, stage)
    }

    /// A conditional generator's images with its class embedding interpolated between the
    /// classes `from` and `to` at `t`; `None` for an unconditional one.
    pub fn forward_between_at(
        &self,
        z: &Tensor,
        (from, to, t): (&Tensor, &Tensor, f64),
        stage: Stage,
    ) -> Option<Tensor> {
        let table = self.embed.as_ref()?;
        let e = ganlab_layers::embed_between(table, from, to, t).to_kind(z.kind());
        Some(self.images_of_input_at(&Tensor::cat(&[z, &e], 1), stage))
    }

    /// Images from G's input (z, with the class embedding when conditional).
    fn images_of_input_at(&self, z: &Tensor, stage: Stage) -> Tensor {
        let last = (stage.level - 2) as usize;
        let mut x = self.apply_block(0, z);
        for i in 1..=last {
            if i == last && stage.alpha < 1.0 {
                // Fade-in: lerp(upsampled old toRGB, new toRGB, α).
                let old = upscale2d(&self.apply_to_rgb(i - 1, &x));
                let new = self.apply_to_rgb(i, &self.apply_block(i, &x));
                return &old + (new - &old) * stage.alpha;
            }
            x = self.apply_block(i, &x);
        }
        self.apply_to_rgb(last, &x)
    }

    /// Block `index` (output at 2^(index + 2)), in float32 below the reduced resolutions.
    fn apply_block(&self, index: usize, x: &Tensor) -> Tensor {
        let fp32 = !self.config.reduced_at(index as i64 + 2);
        ganlab_layers::float32_if(fp32, x, |x| self.block(index, x))
    }

    fn apply_to_rgb(&self, index: usize, x: &Tensor) -> Tensor {
        let fp32 = self.config.fp32_image_layers || !self.config.reduced_at(index as i64 + 2);
        ganlab_layers::float32_if(fp32, x, |x| {
            self.config.clamped(self.to_rgb[index].forward(x))
        })
    }
}

impl ModuleT for Generator {
    fn forward_t(&self, z: &Tensor, _train: bool) -> Tensor {
        self.forward_at(z, self.stage.get())
    }
}

#[derive(Debug)]
enum DBlock {
    Last {
        conv: EqConv2d,
        dense0: EqLinear,
        dense1: EqLinear,
    },
    Down {
        conv0: EqConv2d,
        conv1: EqConv2d,
    },
}

/// The ProGAN discriminator.
#[derive(Debug)]
pub struct Discriminator {
    /// The projection table `class_projection` [classes, nf(0)] of the conditional D.
    projection: Option<ganlab_layers::ProjectionTable>,
    blocks: Vec<DBlock>,
    from_rgb: Vec<EqConv2d>,
    pub config: ProganConfig,
    pub stage: StageHandle,
}

/// Builds D under `p`: `from_rgb4`, …, `b4.conv`, `b4.dense0`, `b4.dense1`, `b8.conv0`, ….
pub fn progan_discriminator(p: &nn::Path, cfg: ProganConfig, stage: StageHandle) -> Discriminator {
    let mut blocks = Vec::new();
    let mut from_rgb = Vec::new();
    let eq = EqConfig {
        spectral: cfg.d_spectral_norm,
        ..Default::default()
    };
    for level in 2..=cfg.max_level() {
        let res = 1i64 << level;
        let bp = p / format!("b{res}");
        from_rgb.push(eq_conv2d(
            &(p / format!("from_rgb{res}")),
            cfg.channels,
            cfg.nf(level - 1),
            1,
            eq,
        ));
        if level == 2 {
            let c = cfg.nf(1);
            let extra = if cfg.mbstd_group_size > 1 { 1 } else { 0 };
            blocks.push(DBlock::Last {
                conv: eq_conv2d(&(&bp / "conv"), c + extra, c, 3, eq),
                dense0: eq_linear(&(&bp / "dense0"), c * 16, cfg.nf(0), eq),
                dense1: eq_linear(
                    &(&bp / "dense1"),
                    cfg.nf(0),
                    1,
                    EqConfig { gain: 1.0, ..eq },
                ),
            });
        } else {
            blocks.push(DBlock::Down {
                conv0: eq_conv2d(
                    &(&bp / "conv0"),
                    cfg.nf(level - 1),
                    cfg.nf(level - 1),
                    3,
                    eq,
                ),
                conv1: eq_conv2d(
                    &(&bp / "conv1"),
                    cfg.nf(level - 1),
                    cfg.nf(level - 2),
                    3,
                    eq,
                ),
            });
        }
    }
    // Conditional: φ(x) is the last hidden layer (dense0's activations, [N, nf(0)]), of which
    // the logit is a linear function (Miyato & Koyama 2018, eq. 3).
    let projection = (cfg.classes > 0).then(|| {
        ganlab_layers::ProjectionTable::new(
            &(p / "class_projection"),
            cfg.classes,
            cfg.nf(0),
            cfg.d_spectral_norm,
        )
    });
    Discriminator {
        projection,
        blocks,
        from_rgb,
        config: cfg,
        stage,
    }
}

impl Discriminator {
    fn block(&self, index: usize, x: &Tensor, labels: Option<&Tensor>, train: bool) -> Tensor {
        match &self.blocks[index] {
            DBlock::Last {
                conv,
                dense0,
                dense1,
            } => {
                let x = if self.config.mbstd_group_size > 1 {
                    minibatch_stddev(x, self.config.mbstd_group_size)
                } else {
                    x.shallow_clone()
                };
                let x = self.config.act(&conv.forward_t(&x, train));
                let n = x.size()[0];
                let x = act(&dense0.forward_t(&x.reshape([n, -1]), train));
                let logit = dense1.forward_t(&x, train).view([n]);
                match &self.projection {
                    Some(table) => {
                        let labels = labels.unwrap_or_else(|| {
                            panic!("the projection ProGAN discriminator must be called with labels")
                        });
                        logit + table.project(&x, labels, train)
                    }
                    None => logit,
                }
            }
            DBlock::Down { conv0, conv1 } => {
                let c = &self.config;
                let x = c.act(&conv0.forward_t(x, train));
                downscale2d(&c.act(&conv1.forward_t(&x, train)))
            }
        }
    }

    fn apply_from_rgb(&self, index: usize, images: &Tensor, train: bool) -> Tensor {
        let fp32 = self.config.fp32_image_layers || !self.config.reduced_at(index as i64 + 2);
        ganlab_layers::float32_if(fp32, images, |images| {
            self.config
                .act(&self.from_rgb[index].forward_t(images, train))
        })
    }

    /// Block `index` (input at 2^(index + 2)), in float32 below the reduced resolutions.
    fn apply_block(
        &self,
        index: usize,
        x: &Tensor,
        labels: Option<&Tensor>,
        train: bool,
    ) -> Tensor {
        let fp32 = !self.config.reduced_at(index as i64 + 2);
        ganlab_layers::float32_if(fp32, x, |x| self.block(index, x, labels, train))
    }

    /// Logits `[N]` of images `[N, C, 2^level, 2^level]` at the given stage, in training mode.
    pub fn forward_at(&self, images: &Tensor, stage: Stage) -> Tensor {
        self.forward_at_t(images, stage, true)
    }

    /// Logits at the given stage; `train` matters only under spectral normalisation (whose
    /// power iterations run in training forwards).
    pub fn forward_at_t(&self, images: &Tensor, stage: Stage, train: bool) -> Tensor {
        self.forward_labelled_at_t(images, None, stage, train)
    }

    /// [`Discriminator::forward_at_t`] with the class `labels` a projection D needs.
    pub fn forward_labelled_at_t(
        &self,
        images: &Tensor,
        labels: Option<&Tensor>,
        stage: Stage,
        train: bool,
    ) -> Tensor {
        let top = (stage.level - 2) as usize;
        let mut x = self.apply_from_rgb(top, images, train);
        if top > 0 {
            x = self.apply_block(top, &x, None, train);
            if stage.alpha < 1.0 {
                // Fade-in, mirroring G: lerp(fromRGB of the downscaled image, new block, α).
                let old = self.apply_from_rgb(top - 1, &downscale2d(images), train);
                x = &old + (x - &old) * stage.alpha;
            }
            for i in (1..top).rev() {
                x = self.apply_block(i, &x, None, train);
            }
        }
        self.apply_block(0, &x, labels, train)
    }
}

impl ModuleT for Discriminator {
    fn forward_t(&self, images: &Tensor, train: bool) -> Tensor {
        self.forward_at_t(images, self.stage.get(), train)
    }
}

/// The class-conditional ProGAN generator (`classes` > 0): [`Generator`] with its class
/// embedding, at the stage its handle holds.
#[derive(Debug)]
pub struct ConditionalGenerator(pub Generator);

impl ganlab_layers::ConditionalModuleT for ConditionalGenerator {
    fn forward_ct(&self, z: &Tensor, labels: Option<&Tensor>, _train: bool) -> Tensor {
        self.0.forward_labelled_at(z, labels, self.0.stage.get())
    }

    fn classes(&self) -> i64 {
        self.0.config.classes
    }

    fn forward_between(
        &self,
        z: &Tensor,
        from: &Tensor,
        to: &Tensor,
        t: f64,
        _train: bool,
    ) -> Option<Tensor> {
        self.0
            .forward_between_at(z, (from, to, t), self.0.stage.get())
    }
}

/// The projection ProGAN discriminator (`classes` > 0): [`Discriminator`] plus
/// ⟨embed(y), φ(x)⟩ (Miyato & Koyama 2018), at the stage its handle holds.
#[derive(Debug)]
pub struct ProjectionDiscriminator(pub Discriminator);

impl ganlab_layers::ConditionalModuleT for ProjectionDiscriminator {
    fn forward_ct(&self, images: &Tensor, labels: Option<&Tensor>, train: bool) -> Tensor {
        self.0
            .forward_labelled_at_t(images, labels, self.0.stage.get(), train)
    }

    fn classes(&self) -> i64 {
        self.0.config.classes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn::VarStore, Device, Kind};

    fn small(resolution: i64) -> ProganConfig {
        ProganConfig {
            resolution,
            channels: 3,
            fmap_base: 64,
            fmap_max: 16,
            latent_size: 0,
            mbstd_group_size: 4,
            d_spectral_norm: false,
            classes: 0,
            fp32_image_layers: false,
            reduced_precision_resolutions: None,
            conv_clamp: None,
        }
    }

    /// The tests below draw from libtorch's one global generator (weights, latents), and two of
    /// them seed it: one at a time, so that a seeded test draws the numbers its seed gives.
    fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        LOCK.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// G and D of `cfg` in one store at the 16x16 stage, their weights drawn from libtorch's
    /// generator seeded with `seed` (hold [`rng_lock`]).
    fn seeded_pair(seed: i64, cfg: ProganConfig) -> (VarStore, Generator, Discriminator) {
        tch::manual_seed(seed);
        let vs = VarStore::new(Device::Cpu);
        let handle = StageHandle::new(4);
        let g = progan_generator(&(vs.root() / "g"), cfg, handle.clone());
        let d = progan_discriminator(&(vs.root() / "d"), cfg, handle);
        (vs, g, d)
    }

    #[test]
    fn nf_follows_the_paper() {
        let paper = ProganConfig::default();
        let nfs: Vec<i64> = (0..10).map(|s| paper.nf(s)).collect();
        assert_eq!(nfs, vec![512, 512, 512, 512, 512, 256, 128, 64, 32, 16]);
        assert_eq!(paper.latent(), 512);
    }

    #[test]
    fn shapes_at_every_resolution_and_during_fades() {
        let _rng = rng_lock();
        let cfg = small(64);
        let vs = VarStore::new(Device::Cpu);
        let stage = StageHandle::new(2);
        let g = progan_generator(&(vs.root() / "g"), cfg, stage.clone());
        let d = progan_discriminator(&(vs.root() / "d"), cfg, stage.clone());
        let z = Tensor::randn([4, cfg.latent()], (Kind::Float, Device::Cpu));
        for level in 2..=6 {
            for alpha in [0.0, 0.3, 1.0] {
                if level == 2 && alpha < 1.0 {
                    continue;
                }
                stage.set(level, alpha);
                let images = g.forward_t(&z, true);
                assert_eq!(
                    images.size(),
                    [4, 3, 1 << level, 1 << level],
                    "level {level} α {alpha}"
                );
                assert_eq!(d.forward_t(&images, true).size(), [4]);
            }
        }
    }

    #[test]
    fn alpha_one_at_the_end_of_a_fade_equals_the_stable_network() {
        let _rng = rng_lock();
        let cfg = small(32);
        let vs = VarStore::new(Device::Cpu);
        let stage = StageHandle::new(4);
        let g = progan_generator(&(vs.root() / "g"), cfg, stage.clone());
        let d = progan_discriminator(&(vs.root() / "d"), cfg, stage.clone());
        let z = Tensor::randn([4, cfg.latent()], (Kind::Float, Device::Cpu));
        let nearly_done = g.forward_at(
            &z,
            Stage {
                level: 4,
                alpha: 1.0 - 1e-9,
            },
        );
        let stable = g.forward_at(
            &z,
            Stage {
                level: 4,
                alpha: 1.0,
            },
        );
        assert!(nearly_done.allclose(&stable, 1e-5, 1e-6, false));
        let faded = g.forward_at(
            &z,
            Stage {
                level: 4,
                alpha: 0.0,
            },
        );
        let old = g
            .forward_at(
                &z,
                Stage {
                    level: 3,
                    alpha: 1.0,
                },
            )
            .upsample_nearest2d([16, 16], None, None);
        assert!(
            faded.allclose(&old, 1e-5, 1e-6, false),
            "α = 0 is the upsampled old output"
        );
        let x = Tensor::randn([4, 3, 16, 16], (Kind::Float, Device::Cpu));
        let d_end = d.forward_at(
            &x,
            Stage {
                level: 4,
                alpha: 1.0 - 1e-9,
            },
        );
        assert!(d_end.allclose(
            &d.forward_at(
                &x,
                Stage {
                    level: 4,
                    alpha: 1.0
                }
            ),
            1e-5,
            1e-6,
            false
        ));
    }

    /// `reduced_precision_resolutions` under bf16 autocast, final resolution 16: with N = 1 the
    /// 8x8 stage (stable and fading in) is the float32 network bit for bit, G's and D's; at
    /// 16x16 G's images come out of the bfloat16 toRGB16 while D's lower blocks hand float32
    /// logits on; N = 3 (every resolution: 4, 8, 16) is the network without the option, bit for
    /// bit.
    #[test]
    fn only_the_highest_resolutions_compute_in_the_reduced_type() {
        let _rng = rng_lock();
        let bf16 = ganlab_amp::Precision::Bf16;
        let cpu = Device::Cpu;
        let build = |n: Option<i64>| {
            seeded_pair(
                7,
                ProganConfig {
                    reduced_precision_resolutions: n,
                    ..small(16)
                },
            )
        };
        let (_a, g_all, d_all) = build(None);
        let (_b, g_top, d_top) = build(Some(1));
        let (_c, g_three, d_three) = build(Some(3));
        tch::manual_seed(8);
        let z = Tensor::randn([4, g_all.config.latent()], (Kind::Float, cpu));
        let same = |a: &Tensor, b: &Tensor| a.kind() == b.kind() && a.equal(b);
        for stage in [
            Stage {
                level: 3,
                alpha: 0.5,
            },
            Stage {
                level: 3,
                alpha: 1.0,
            },
            Stage {
                level: 4,
                alpha: 0.5,
            },
            Stage {
                level: 4,
                alpha: 1.0,
            },
        ] {
            let side = 1i64 << stage.level;
            let reals = Tensor::randn([4, 3, side, side], (Kind::Float, cpu));
            let g_fp32 = g_all.forward_at(&z, stage);
            let d_fp32 = d_all.forward_at(&reals, stage);
            let under = |f: &dyn Fn() -> Tensor| ganlab_amp::autocast(bf16, cpu, f);
            let (g1, d1) = (
                under(&|| g_top.forward_at(&z, stage)),
                under(&|| d_top.forward_at(&reals, stage)),
            );
            let (g_plain, d_plain) = (
                under(&|| g_all.forward_at(&z, stage)),
                under(&|| d_all.forward_at(&reals, stage)),
            );
            let (g3, d3) = (
                under(&|| g_three.forward_at(&z, stage)),
                under(&|| d_three.forward_at(&reals, stage)),
            );
            assert!(same(&g3, &g_plain) && same(&d3, &d_plain), "{stage:?}");
            assert_eq!(g_plain.kind(), Kind::BFloat16);
            if stage.level == 3 {
                assert!(same(&g1, &g_fp32) && same(&d1, &d_fp32), "{stage:?}");
            } else {
                // toRGB16 in bfloat16 (in a fade-in the float32 toRGB8 branch promotes the
                // lerp to float32); D's 4x4 and 8x8 blocks in float32.
                let want = if stage.alpha < 1.0 {
                    Kind::Float
                } else {
                    Kind::BFloat16
                };
                assert_eq!(g1.kind(), want, "{stage:?}");
                assert_eq!(d1.kind(), Kind::Float, "{stage:?}");
                assert!(!same(&g1.to_kind(Kind::Float), &g_fp32), "{stage:?}");
                let err = (g1.to_kind(Kind::Float) - &g_fp32)
                    .abs()
                    .max()
                    .double_value(&[]);
                assert!(err < 0.1, "bf16 images within 0.1 of float32's: {err}");
            }
        }
    }

    /// Under bf16 autocast, `fp32_image_layers` gives G's images in float32 (toRGB of both
    /// fade-in branches) and keeps D's gradient with respect to its input finite; the images
    /// stay within bf16's rounding of float32's.
    #[test]
    fn float32_image_layers_give_float32_images_under_bf16() {
        let _rng = rng_lock();
        let bf16 = ganlab_amp::Precision::Bf16;
        let cpu = Device::Cpu;
        let stage = Stage {
            level: 4,
            alpha: 0.5,
        };
        let mut images = Vec::new();
        for on in [false, true] {
            let cfg = ProganConfig {
                fp32_image_layers: on,
                ..small(16)
            };
            let (_vs, g, d) = seeded_pair(3, cfg);
            let z = Tensor::randn([4, cfg.latent()], (Kind::Float, cpu));
            let x = ganlab_amp::autocast(bf16, cpu, || g.forward_at(&z, stage));
            let want = if on { Kind::Float } else { Kind::BFloat16 };
            assert_eq!(x.kind(), want, "fp32_image_layers {on}");
            let reals = Tensor::randn([4, 3, 16, 16], (Kind::Float, cpu)).set_requires_grad(true);
            let logits = ganlab_amp::autocast(bf16, cpu, || d.forward_at(&reals, stage));
            let grad = Tensor::run_backward(
                &[logits.to_kind(Kind::Float).sum(Kind::Float)],
                &[&reals],
                false,
                false,
            )
            .remove(0);
            assert!(
                grad.isfinite().all().int64_value(&[]) == 1
                    && grad.abs().sum(Kind::Float).double_value(&[]) > 0.0
            );
            let plain = g.forward_at(&z, stage);
            images.push((x.to_kind(Kind::Float), plain));
        }
        for (x, plain) in &images {
            let err = (x - plain).abs().max().double_value(&[]);
            assert!(err < 0.1, "bf16 images within 0.1 of float32's: {err}");
        }
    }

    /// `conv_clamp` (StyleGAN2-ADA's, 256 in its configs): under float16 autocast, images loud
    /// enough to overflow D's fromRGB layer (above 65,504) give non-finite logits, and with the
    /// clamp finite ones; a clamp that never binds leaves G and D bit for bit as without it; a
    /// binding one bounds G's images (its toRGB output) and changes D's logits. (Minibatch
    /// stddev is off here: on a CPU, autocast squares in float16, so its variance of ±256
    /// activations would overflow on its own; CUDA's autocast squares in float32.)
    #[test]
    fn the_conv_clamp_keeps_float16_activations_finite() {
        let _rng = rng_lock();
        let (fp16, cpu) = (ganlab_amp::Precision::Fp16, Device::Cpu);
        let base = ProganConfig {
            mbstd_group_size: 1,
            ..small(16)
        };
        let with = |clamp: Option<f64>| {
            seeded_pair(
                9,
                ProganConfig {
                    conv_clamp: clamp,
                    ..base
                },
            )
        };
        let (_a, g, d) = with(None);
        let (_b, g256, d256) = with(Some(256.0));
        let (_c, g_tight, d_tight) = with(Some(0.05));
        let stage = Stage {
            level: 4,
            alpha: 0.5,
        };
        tch::manual_seed(10);
        let z = Tensor::randn([4, base.latent()], (Kind::Float, cpu));
        let images = Tensor::rand([4, 3, 16, 16], (Kind::Float, cpu)) * 2.0 - 1.0;
        assert!(g.forward_at(&z, stage).equal(&g256.forward_at(&z, stage)));
        assert!(d
            .forward_at(&images, stage)
            .equal(&d256.forward_at(&images, stage)));
        let tight = g_tight.forward_at(&z, stage);
        let peak = tight.abs().max().double_value(&[]);
        assert!(peak <= f64::from(0.05f32), "images within ±0.05: {peak}");
        let logits = d.forward_at(&images, stage);
        let diff = (d_tight.forward_at(&images, stage) - &logits).abs().max();
        assert!(diff.double_value(&[]) > 1e-3, "a binding clamp changes D");
        let finite = |t: &Tensor| bool::try_from(t.isfinite().all()).expect("bool");
        let loud = &images * 30_000.0;
        let free = ganlab_amp::autocast(fp16, cpu, || d.forward_at(&loud, stage));
        assert_eq!(free.kind(), Kind::Half);
        assert!(
            !finite(&free),
            "float16 overflows without the clamp: {free:?}"
        );
        let clamped = ganlab_amp::autocast(fp16, cpu, || d256.forward_at(&loud, stage));
        assert!(finite(&clamped), "finite with it: {clamped:?}");
    }

    #[test]
    fn forward_and_backward_at_1024_with_small_feature_maps() {
        let _rng = rng_lock();
        let cfg = ProganConfig {
            resolution: 1024,
            channels: 3,
            fmap_base: 64,
            fmap_max: 8,
            ..small(1024)
        };
        let vs = VarStore::new(Device::Cpu);
        let stage = StageHandle::new(10);
        let g = progan_generator(&(vs.root() / "g"), cfg, stage.clone());
        let d = progan_discriminator(&(vs.root() / "d"), cfg, stage.clone());
        stage.set(10, 0.5);
        let images = g.forward_t(
            &Tensor::randn([1, cfg.latent()], (Kind::Float, Device::Cpu)),
            true,
        );
        assert_eq!(images.size(), [1, 3, 1024, 1024]);
        let logits = d.forward_t(&images, true);
        logits.sum(None::<Kind>).backward();
        // Every block is used; of the toRGB / fromRGB layers, only those of 512 and 1024 (fade-in).
        for (name, t) in vs.variables() {
            let rgb = name.contains("to_rgb") || name.contains("from_rgb");
            let in_use = !rgb || name.contains("rgb512.") || name.contains("rgb1024.");
            assert_eq!(t.grad().defined(), in_use, "{name}");
        }
    }
}
