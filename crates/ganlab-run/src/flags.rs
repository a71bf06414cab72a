//! The command-line options that set config keys, declared once: each names the key it sets
//! (a dotted path into [`TrainConfig`], the same path `--set` and a config file use), how its
//! value is read, and its help. The command line (`ganlab-cli`) builds its `gan train` options
//! from this table and applies each through [`TrainConfig::set_key`], so a flag, `--set KEY=V`
//! and a config file are one route with one check and one message.

use crate::config::TrainConfig;
use anyhow::{bail, Result};
use serde_json::Value;

/// How an option's text becomes the key's JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagValue {
    /// Taken as text (names, paths).
    Text,
    /// A number (or `null`): JSON.
    Number,
    /// Comma-separated names: a list of texts.
    List,
    /// A switch without a value that sets the key to this JSON literal (`--no-tb`: `false`).
    Switch(&'static str),
}

/// One command-line option of `gan train` that sets a config key.
#[derive(Debug, Clone, Copy)]
pub struct ConfigFlag {
    /// The long option, without `--`.
    pub flag: &'static str,
    /// The config key it sets, dotted (`evaluation.every_kimg`).
    pub key: &'static str,
    pub value: FlagValue,
    /// The value's placeholder in `--help`.
    pub value_name: &'static str,
    pub help: &'static str,
    /// The valid values `--help` lists (a choice's names).
    pub listed: Option<fn() -> Vec<&'static str>>,
}

const fn flag(
    flag: &'static str,
    key: &'static str,
    value: FlagValue,
    value_name: &'static str,
    help: &'static str,
) -> ConfigFlag {
    ConfigFlag {
        flag,
        key,
        value,
        value_name,
        help,
        listed: None,
    }
}

const fn choice(
    flag: &'static str,
    key: &'static str,
    value: FlagValue,
    help: &'static str,
    listed: fn() -> Vec<&'static str>,
) -> ConfigFlag {
    ConfigFlag {
        flag,
        key,
        value,
        value_name: "NAME",
        help,
        listed: Some(listed),
    }
}

fn games() -> Vec<&'static str> {
    ganlab_games::GAME_NAMES.to_vec()
}

fn architectures() -> Vec<&'static str> {
    ganlab_train::ArchChoice::names()
}

fn precisions() -> Vec<&'static str> {
    ganlab_train::Precision::names()
}

fn resizes() -> Vec<&'static str> {
    ganlab_metrics::resize::Resize::ALL
        .map(ganlab_metrics::resize::Resize::name)
        .to_vec()
}

fn image_and_toy_metrics() -> Vec<&'static str> {
    crate::metric::Metric::ALL
        .map(crate::metric::Metric::name)
        .to_vec()
}

use FlagValue::{List, Number, Switch, Text};

/// Every option of `gan train` that sets a config key, in `--help`'s order.
pub const CONFIG_FLAGS: &[ConfigFlag] = &[
    flag("resolution", "resolution", Number, "N", "Final image resolution (dcgan32: 32; progan: a power of two from 8 to 1024)."),
    flag("dataset", "dataset", Text, "NAME", "Dataset: mnist, fashion-mnist, folder:PATH, zip:PATH, a prepared archive (FILE.safetensors from `gan dataset create`), or a 2-D toy mixture (ring8, grid25)."),
    flag("data-dir", "data_dir", Text, "DIR", "A folder holding the dataset's files (e.g. the four IDX .gz files); used as given, never replaced by another source."),
    flag("channels", "channels", Number, "1|3", "Channels of a folder: or zip: dataset: 1 (grayscale) or 3 (RGB); default: what the images are."),
    choice("game", "game", Text, "Game between G and D.", games),
    choice("arch", "arch", Text, "Architecture: auto (dcgan32 for images, toy-mlp for 2-D data) or a registered one.", architectures),
    flag("kimg", "kimg", Number, "KIMG", "Training length in thousands of real images shown (a fraction is allowed)."),
    flag("time-budget", "time_budget_s", Number, "SECONDS", "Stop at the first tick after this many seconds of training steps (evaluations and ticks not counted, summed over resumed sessions), with a final evaluation."),
    flag("tick-kimg", "tick_kimg", Number, "KIMG", "Statistics and a sample grid every this many kimg."),
    flag("snapshot-ticks", "snapshot_ticks", Number, "N", "Snapshot every this many ticks (0: final snapshot only)."),
    flag("batch-size", "batch_size", Number, "N", "Samples per batch (default: 64 for images, 256 for 2-D data; ProGAN's are its schedule's)."),
    flag("lr-g", "lr_g", Number, "LR", "Learning rate of G (default: the game's paper value)."),
    flag("lr-d", "lr_d", Number, "LR", "Learning rate of D (default: the game's paper value)."),
    flag("seed", "seed", Number, "N", "Seed of every random number generator."),
    flag("device", "device", Text, "DEVICE", "auto (CUDA when present), cpu, cuda or cuda:N."),
    choice("precision", "precision", Text, "The type the networks compute in: fp32, bf16 or fp16 (autocast: convolutions and products in the reduced type, float32 weights, optimiser states, losses and metrics; fp16 with dynamic loss scaling; bf16 fast on CPUs with AMX or AVX512-BF16, both on GPUs since Ampere).", precisions),
    flag("fp32-image-layers", "fp32_image_layers", Switch("true"), "", "With --precision bf16 or fp16: the layers that touch the image (G's last, D's first; ProGAN's toRGB and fromRGB) compute in float32."),
    flag("reduced-precision-resolutions", "progan.reduced_precision_resolutions", Number, "N", "With --precision bf16 or fp16 and arch progan: only the highest N resolutions compute in the reduced type, the lower ones in float32 (StyleGAN2-ADA's num_fp16_res; default: all)."),
    flag("conv-clamp", "progan.conv_clamp", Number, "X", "Arch progan: clamp every layer's feature maps (and toRGB's images) to ±X after the activation, in G and D (StyleGAN2-ADA's conv_clamp, 256 beside its float16 layers, against float16 overflow; default: none)."),
    flag("ema-kimg", "ema_kimg", Number, "KIMG", "G's moving average with this half-life in kimg (StyleGAN2-ADA's ema_kimg; dcgan32, toy-mlp and registered architectures; progan keeps its own): samples, grids and metrics come from it."),
    flag("d-spectral-norm", "d_spectral_norm", Switch("true"), "", "Spectral normalisation of D's convolution and linear layers (Miyato et al. 2018; one power iteration per training forward, PyTorch's semantics), with or without d_norm."),
    flag("max-images", "max_images", Number, "N", "Train on a seeded subset of N of the dataset's samples (listed in subset.json; evaluation still uses the whole dataset)."),
    flag("cond", "cond", Switch("true"), "", "Condition G and D on the data's class labels (class embedding in G, projection D; Miyato & Koyama 2018); needs a labelled dataset. Grids show one column per class; `gan generate --class` draws a class."),
    flag("cond-bn", "cond_bn", Switch("true"), "", "With --cond: class-conditional batch norm in DCGAN-32's G (each batch norm's scale and shift per class; de Vries et al. 2017, BigGAN's G)."),
    flag("augment", "augment", Text, "SPEC", "Augment everything D sees: none, diffaugment[:color,translation,cutout] (DiffAugment, Zhao et al. 2020) or ada[:bgc] (adaptive augmentation, Karras et al. 2020)."),
    flag("ada-target", "ada.target", Number, "R", "ADA's target for the overfitting heuristic r_t = E[sign(D(real))] (0.6)."),
    flag("ada-kimg", "ada.speed_kimg", Number, "KIMG", "ADA's speed: kimg in which p can go from 0 to 1 (500)."),
    flag("label-smoothing", "game_options.label_smoothing", Number, "S", "One-sided label smoothing s (real target 1 − s; logistic games)."),
    flag("instance-noise", "game_options.instance_noise", Number, "SIGMA", "Instance noise σ added to D's inputs, annealed linearly to 0 over --instance-noise-kimg."),
    flag("instance-noise-kimg", "game_options.instance_noise_kimg", Number, "KIMG", "kimg over which the instance noise falls to 0 (0: constant)."),
    flag("critic-steps", "game_options.critic_steps", Number, "N", "Critic steps per generator step (default: the game's: 5 for wgan and wgan-gp, else 1)."),
    flag("r1-gamma", "game_options.r1_gamma", Number, "GAMMA", "R1 penalty weight γ on real data (logistic and relativistic games; 0 = off)."),
    flag("r2-gamma", "game_options.r2_gamma", Number, "GAMMA", "R2 penalty weight γ: R1's penalty on the fakes (logistic and relativistic games; R3GAN: the same γ as R1; 0 = off)."),
    flag("r1-interval", "game_options.r1_interval", Number, "N", "Apply R1 and R2 every N critic steps (lazy regularisation)."),
    flag("wgan-clip", "game_options.wgan_clip", Number, "C", "WGAN weight-clipping constant c."),
    flag("gp-lambda", "game_options.gp_lambda", Number, "LAMBDA", "WGAN-GP penalty weight λ."),
    flag("gp-drift", "game_options.gp_drift", Number, "EPS", "WGAN-GP drift weight ε_drift (ProGAN: 0.001)."),
    flag("keep-snapshots", "keep_snapshots", Number, "N", "Keep the newest N periodic snapshots (0: all)."),
    flag("eval-every-kimg", "evaluation.every_kimg", Number, "KIMG", "Evaluate metrics every N kimg and at the end (0: never)."),
    choice("eval-metrics", "evaluation.metrics", List, "Metrics evaluated during training (default: swd, plus domain-fid and coverage on MNIST / Fashion-MNIST; toy data: jsd, modes, high-quality).", image_and_toy_metrics),
    flag("eval-n", "evaluation.n", Number, "N", "Samples per side of the training-time metrics."),
    choice("eval-resize", "evaluation.resize", Text, "FID's and KID's resize to 299 during training: nv-bilinear (TensorFlow's FID) or clean (clean-fid's default mode), as `gan eval --resize`.", resizes),
    choice("primary", "evaluation.primary", Text, "The metric that picks best.safetensors and decides stopping.", image_and_toy_metrics),
    flag("target", "evaluation.target", Number, "VALUE", "Stop when the primary metric reaches this value."),
    flag("patience", "evaluation.patience", Number, "N", "Stop after this many evaluations without an improvement greater than --min-delta."),
    flag("min-delta", "evaluation.min_delta", Number, "DELTA", "The smallest change of the primary metric that counts as an improvement for --patience (default 0)."),
    flag("no-tb", "tensorboard", Switch("false"), "", "Do not write TensorBoard event files (tb/)."),
];

/// The flag called `name` (without `--`).
pub fn config_flag(name: &str) -> Option<&'static ConfigFlag> {
    CONFIG_FLAGS.iter().find(|f| f.flag == name)
}

impl ConfigFlag {
    /// The JSON value `text` (the option's argument) stands for; a number that is not one is
    /// an error naming the option.
    pub fn value_of(&self, text: &str) -> Result<Value> {
        Ok(match self.value {
            Text => Value::String(text.to_string()),
            Number => match serde_json::from_str::<Value>(text) {
                Ok(v @ (Value::Number(_) | Value::Null)) => v,
                _ => bail!("--{} {text}: expected a number", self.flag),
            },
            List => Value::Array(
                text.split(',')
                    .map(|s| Value::String(s.trim().to_string()))
                    .collect(),
            ),
            Switch(literal) => serde_json::from_str(literal)?,
        })
    }

    /// Sets this flag's key in `config` from the option's text, checked as `--set` and a
    /// config file are (the message names the option).
    pub fn apply(&self, config: &mut TrainConfig, text: &str) -> Result<()> {
        let value = self.value_of(text)?;
        config
            .set_key(self.key, value)
            .map_err(|e| anyhow::anyhow!("--{}: {e:#}", self.flag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::Metric;

    #[test]
    fn every_flag_sets_a_key_of_the_config() {
        for f in CONFIG_FLAGS {
            let mut config = TrainConfig::default();
            let text = match f.value {
                Text => match f.flag {
                    "game" => "hinge",
                    "arch" => "dcgan32",
                    "device" => "cpu",
                    "primary" => "swd",
                    "precision" => "bf16",
                    "augment" => "ada",
                    "eval-resize" => "clean",
                    _ => "folder:somewhere",
                },
                Number => "7",
                List => "swd,fid",
                Switch(_) => "",
            };
            f.apply(&mut config, text)
                .unwrap_or_else(|e| panic!("--{}: {e:#}", f.flag));
            assert_ne!(
                config,
                TrainConfig::default(),
                "--{} changed nothing",
                f.flag
            );
        }
        let mut config = TrainConfig::default();
        config_flag("eval-metrics")
            .expect("flag")
            .apply(&mut config, "swd,fid")
            .expect("list");
        assert_eq!(config.evaluation.metrics, [Metric::Swd, Metric::Fid]);
        config_flag("no-tb")
            .expect("flag")
            .apply(&mut config, "")
            .expect("switch");
        assert!(!config.tensorboard);
    }

    #[test]
    fn bad_values_are_named_with_the_option() {
        let mut config = TrainConfig::default();
        let kimg = config_flag("kimg").expect("flag");
        let err = kimg.apply(&mut config, "abc").unwrap_err().to_string();
        assert_eq!(err, "--kimg abc: expected a number");
        let game = config_flag("game").expect("flag");
        let err = format!("{:#}", game.apply(&mut config, "chess").unwrap_err());
        assert!(
            err.starts_with("--game: ") && err.contains("`game` must be one of"),
            "{err}"
        );
    }
}
