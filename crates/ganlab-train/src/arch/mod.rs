//! Architectures: each is one module that builds its players (G, D and, where it keeps one, G's
//! moving average and a growing resolution), knows its defaults and checks its settings. The
//! registry ([`architectures`]: the [`BUILT_IN`] ones, then those [`register`]ed at run time) is
//! the only list of them; the engine and the run look an architecture up by name and never
//! branch on it.
//!
//! Adding one to the toolkit: a module with a unit struct implementing [`Architecture`], and one
//! line in [`BUILT_IN`]. Adding one from another crate (research code's own networks): implement
//! [`Architecture`] or wrap a closure in [`Networks`], and [`register`] it at start-up.

mod dcgan32;
mod progan;
mod sngan32;
mod toy_mlp;

pub use dcgan32::Dcgan32;
pub use progan::{Progan, ProganSettings};
pub use sngan32::Sngan32;
pub use toy_mlp::ToyMlp;

use anyhow::{bail, Result};
use ganlab_layers::ConditionalModuleT;
use ganlab_progan::{Schedule, StageHandle};
use tch::nn::VarStore;
use tch::{Device, Tensor};

/// The kind of sample an architecture generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleKind {
    /// Images [N, C, H, W] in [-1, 1].
    Images,
    /// 2-D points [N, 2] (the toy mixtures).
    Points,
}

/// The `width` a config holds unless set: DCGAN's 64 (Radford et al. 2016, `ngf` = `ndf` = 64).
pub const DEFAULT_WIDTH: i64 = 64;

/// What an architecture is built from: the data's shape and the run's size settings.
#[derive(Debug, Clone)]
pub struct ArchSpec {
    /// Image channels (ignored for points).
    pub channels: i64,
    /// Final resolution.
    pub resolution: i64,
    /// Latent dimension; `None`: the architecture's default.
    pub z_dim: Option<i64>,
    /// Width of the networks (DCGAN's `ngf` = `ndf`; [`DEFAULT_WIDTH`] unless set). The
    /// built-in `toy-mlp` and `progan` have widths of their own and do not read it.
    pub width: i64,
    /// D's normalisation (read by `dcgan32` and `sngan32`; see [`CriticNorm`] and
    /// [`Architecture::d_norm_auto`]).
    pub d_norm: ganlab_layers::Norm,
    /// Spectral normalisation of D's convolution and linear layers (Miyato et al. 2018); an
    /// architecture that cannot apply it refuses it in `validate`.
    pub d_spectral_norm: bool,
    /// ProGAN's own settings (read by the `progan` architecture only).
    pub progan: ProganSettings,
    /// Classes to condition G and D on (`cond`: the data's class count); 0 trains them
    /// unconditionally. An architecture that cannot condition refuses it in `validate`.
    pub classes: i64,
    /// Class-conditional batch norm in a conditional G (`cond_bn`); an architecture without
    /// batch norm in G refuses it in `validate`.
    pub class_norm: bool,
    /// Under reduced precision, the layers that touch the image (G's last, D's first) in
    /// float32 (`fp32_image_layers`; see `ganlab_layers::float32_if`); an architecture that
    /// cannot apply it refuses it in `validate`.
    pub fp32_image_layers: bool,
}

impl Default for ArchSpec {
    /// Zeros and defaults, with the config's [`DEFAULT_WIDTH`].
    fn default() -> Self {
        ArchSpec {
            channels: 0,
            resolution: 0,
            z_dim: None,
            width: DEFAULT_WIDTH,
            d_norm: Default::default(),
            d_spectral_norm: false,
            progan: Default::default(),
            classes: 0,
            class_norm: false,
            fp32_image_layers: false,
        }
    }
}

/// One architecture of the registry.
pub trait Architecture: Sync {
    /// The name `--arch` takes.
    fn name(&self) -> &'static str;
    /// What it generates (and so which datasets it trains on).
    fn sample_kind(&self) -> SampleKind;
    /// The latent dimension when `spec.z_dim` is unset.
    fn default_z_dim(&self, spec: &ArchSpec) -> i64;
    /// The batch size when the config leaves it unset.
    fn default_batch_size(&self, spec: &ArchSpec) -> usize;
    /// The normalisation `d_norm = auto` stands for in this architecture's D, with or without
    /// a gradient penalty; `None` for an architecture that does not read `d_norm`.
    fn d_norm_auto(&self, _gradient_penalty: bool) -> Option<ganlab_layers::Norm> {
        None
    }
    /// Checks the settings this architecture reads; the message names the key.
    fn validate(&self, spec: &ArchSpec) -> Result<()>;
    /// Its resolution schedule, for architectures that grow (ProGAN).
    fn schedule(&self, _spec: &ArchSpec) -> Option<Schedule> {
        None
    }
    /// Builds the players on `device` (drawing the initial weights from libtorch's generator).
    fn build(&self, spec: &ArchSpec, device: Device) -> Result<Players>;
    /// Whether [`Architecture::build`] already gives G a moving average of its own settings
    /// (ProGAN's `progan.ema_beta`); the others get one from the run's `ema_kimg`
    /// ([`Players::add_moving_average`]).
    fn keeps_moving_average(&self) -> bool {
        false
    }
}

/// The built-in architectures, in the order `auto` prefers them for a kind of sample.
pub static BUILT_IN: &[&dyn Architecture] = &[&Dcgan32, &ToyMlp, &Progan, &Sngan32];

/// The process-wide registry: the built-ins, then those [`register`]ed at run time.
static REGISTRY: std::sync::RwLock<Vec<&'static dyn Architecture>> =
    std::sync::RwLock::new(Vec::new());

/// Every registered architecture: the built-ins first (in the order `auto` prefers them), then
/// those added with [`register`], in the order they were added.
pub fn architectures() -> Vec<&'static dyn Architecture> {
    let added = REGISTRY
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    BUILT_IN
        .iter()
        .copied()
        .chain(added.iter().copied())
        .collect()
}

/// Adds `arch` to the registry for the rest of the process, so that every part of the toolkit
/// that takes an architecture by name (the config's `arch`, `gan train --arch`, a run
/// directory's `config.json` read back by `gan eval` or `--resume`) finds it. This is how
/// research code trains networks of its own through the whole run: implement [`Architecture`]
/// (or wrap a closure in [`Networks`]), register it once at start-up, and name it.
///
/// A name that is already registered is an error that names it (a second registration of the
/// same name would make a run directory ambiguous).
pub fn register(arch: impl Architecture + Send + 'static) -> Result<&'static dyn Architecture> {
    let name = arch.name();
    if name == "auto" {
        bail!("cannot register an architecture named `auto`: the name stands for the default");
    }
    let mut added = REGISTRY
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if BUILT_IN
        .iter()
        .chain(added.iter())
        .any(|a| a.name() == name)
    {
        bail!("an architecture named `{name}` is already registered");
    }
    // Registered architectures live as long as the process: the registry hands out `'static`
    // references (what `ArchChoice` and the config keep), and one is registered per name.
    let leaked: &'static dyn Architecture = Box::leak(Box::new(arch));
    added.push(leaked);
    Ok(leaked)
}

/// The architecture called `name`; the error lists the valid names.
pub fn architecture(name: &str) -> Result<&'static dyn Architecture> {
    match architectures().into_iter().find(|a| a.name() == name) {
        Some(a) => Ok(a),
        None => bail!(
            "unknown architecture `{name}`; expected one of {}",
            names().join(", ")
        ),
    }
}

/// The registered names.
pub fn names() -> Vec<&'static str> {
    architectures().iter().map(|a| a.name()).collect()
}

/// The first registered architecture for a kind of sample (what `auto` stands for).
pub fn default_for(kind: SampleKind) -> &'static dyn Architecture {
    BUILT_IN
        .iter()
        .copied()
        .find(|a| a.sample_kind() == kind)
        .unwrap_or(BUILT_IN[0])
}

/// An architecture made of a name, what it generates, its defaults and a closure that builds
/// the players: research code's own networks, ready for [`register`].
///
/// ```
/// use ganlab_train::arch::{register, Networks};
/// use ganlab_train::{Players, SampleKind};
/// let mlp = Networks::new("my-toy-mlp", SampleKind::Points, 2, 128, |spec, device| {
///     let z_dim = spec.z_dim.unwrap_or(2);
///     Ok(Players::pair(device, z_dim, SampleKind::Points,
///         |g| tch::nn::seq().add(tch::nn::linear(g / "fc", z_dim, 2, Default::default())),
///         |d| tch::nn::seq().add(tch::nn::linear(d / "fc", 2, 1, Default::default()))))
/// });
/// let arch = register(mlp)?;
/// assert_eq!(ganlab_train::arch::architecture("my-toy-mlp")?.name(), arch.name());
/// # Ok::<(), anyhow::Error>(())
/// ```
pub struct Networks<F> {
    name: &'static str,
    sample_kind: SampleKind,
    z_dim: i64,
    batch_size: usize,
    build: F,
}

impl<F> Networks<F>
where
    F: Fn(&ArchSpec, Device) -> Result<Players> + Send + Sync + 'static,
{
    /// `name` as `--arch` and `config.json` give it, the kind of sample it generates, its
    /// default latent size and batch size, and `build`, which makes fresh players on a device
    /// (drawing their initial weights from libtorch's generator, which the run has seeded).
    pub fn new(
        name: &'static str,
        sample_kind: SampleKind,
        z_dim: i64,
        batch_size: usize,
        build: F,
    ) -> Networks<F> {
        Networks {
            name,
            sample_kind,
            z_dim,
            batch_size,
            build,
        }
    }
}

impl<F> Architecture for Networks<F>
where
    F: Fn(&ArchSpec, Device) -> Result<Players> + Send + Sync + 'static,
{
    fn name(&self) -> &'static str {
        self.name
    }

    fn sample_kind(&self) -> SampleKind {
        self.sample_kind
    }

    fn default_z_dim(&self, _spec: &ArchSpec) -> i64 {
        self.z_dim
    }

    fn default_batch_size(&self, _spec: &ArchSpec) -> usize {
        self.batch_size
    }

    fn validate(&self, _spec: &ArchSpec) -> Result<()> {
        Ok(())
    }

    fn build(&self, spec: &ArchSpec, device: Device) -> Result<Players> {
        let players = (self.build)(spec, device)?;
        if players.sample_kind != self.sample_kind {
            bail!(
                "architecture `{}` declares {:?} samples but its players generate {:?}",
                self.name,
                self.sample_kind,
                players.sample_kind
            );
        }
        let normalised = players
            .d_vs
            .variables()
            .keys()
            .any(|name| name.ends_with("weight_u"));
        if spec.d_spectral_norm && !normalised {
            bail!(
                "architecture `{}`: the config asks for d_spectral_norm but its D has no \
                 spectrally normalised layer (no `weight_u` buffer); build D's layers with \
                 ganlab_layers::SnConv2d / SnLinear (or EqConfig::spectral) when \
                 ArchSpec::d_spectral_norm is set",
                self.name
            );
        }
        check_classes(self.name, spec, &players)?;
        if let Some(z_dim) = spec.z_dim.filter(|z| *z != players.z_dim) {
            bail!(
                "architecture `{}`: the config asks for z_dim = {z_dim} but its players take \
                 latents of {}",
                self.name,
                players.z_dim
            );
        }
        Ok(players)
    }
}

/// The `arch` a config or a command line names: `auto` (the first registered architecture for
/// the data's kind of sample) or one of the registry.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde_with::SerializeDisplay,
    serde_with::DeserializeFromStr,
)]
pub enum ArchChoice {
    /// The first registered architecture for the data's kind of sample.
    #[default]
    Auto,
    /// A registered architecture, by its name.
    Named(&'static str),
}

impl ArchChoice {
    /// The architecture this choice stands for on data of `kind`.
    pub fn resolve(self, kind: SampleKind) -> &'static dyn Architecture {
        match self {
            ArchChoice::Auto => default_for(kind),
            ArchChoice::Named(name) => architecture(name).unwrap_or_else(|_| default_for(kind)),
        }
    }

    /// `auto` and the registered names, as `--arch` lists them.
    pub fn names() -> Vec<&'static str> {
        std::iter::once("auto").chain(names()).collect()
    }
}

impl std::fmt::Display for ArchChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ArchChoice::Auto => "auto",
            ArchChoice::Named(name) => name,
        })
    }
}

impl std::str::FromStr for ArchChoice {
    type Err = String;

    fn from_str(name: &str) -> Result<ArchChoice, String> {
        if name == "auto" {
            return Ok(ArchChoice::Auto);
        }
        match architectures().into_iter().find(|a| a.name() == name) {
            Some(a) => Ok(ArchChoice::Named(a.name())),
            None => Err(format!(
                "`arch` must be one of {}, got `{name}`",
                ArchChoice::names().join(", ")
            )),
        }
    }
}

/// The `d_norm` a config names for D: `auto` (what the architecture's
/// [`Architecture::d_norm_auto`] says; for DCGAN-32, layer norm under the
/// gradient penalty, which is per sample, so the critic must not mix the samples of a batch:
/// Gulrajani et al. 2017, §4, "we omit batch normalization in the critic ... we recommend layer
/// normalization as a drop-in replacement"; batch norm otherwise, as Radford et al. 2016), or
/// `batch`, `layer`, `none`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde_with::SerializeDisplay,
    serde_with::DeserializeFromStr,
)]
pub enum CriticNorm {
    #[default]
    Auto,
    Fixed(ganlab_layers::Norm),
}

impl CriticNorm {
    const FIXED: [ganlab_layers::Norm; 3] = [
        ganlab_layers::Norm::Batch,
        ganlab_layers::Norm::Layer,
        ganlab_layers::Norm::None,
    ];

    /// The normalisation this choice stands for with or without a gradient penalty.
    pub fn resolve(self, gradient_penalty: bool) -> ganlab_layers::Norm {
        match (self, gradient_penalty) {
            (CriticNorm::Fixed(norm), _) => norm,
            (CriticNorm::Auto, true) => ganlab_layers::Norm::Layer,
            (CriticNorm::Auto, false) => ganlab_layers::Norm::Batch,
        }
    }

    /// What a config written before the choice existed trained: batch norm, whatever the game.
    pub fn legacy() -> CriticNorm {
        CriticNorm::Fixed(ganlab_layers::Norm::Batch)
    }

    pub fn is_auto(&self) -> bool {
        *self == CriticNorm::Auto
    }
}

impl std::fmt::Display for CriticNorm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CriticNorm::Auto => "auto",
            CriticNorm::Fixed(norm) => norm.name(),
        })
    }
}

impl std::str::FromStr for CriticNorm {
    type Err = String;

    fn from_str(name: &str) -> Result<CriticNorm, String> {
        if name == "auto" {
            return Ok(CriticNorm::Auto);
        }
        match CriticNorm::FIXED.into_iter().find(|n| n.name() == name) {
            Some(norm) => Ok(CriticNorm::Fixed(norm)),
            None => Err(format!(
                "`d_norm` must be one of auto, batch, layer, none, got `{name}`"
            )),
        }
    }
}

/// G's exponential moving average (ProGAN's `Gs`), used for samples and metrics.
pub struct MovingAverage {
    pub g: Box<dyn ConditionalModuleT>,
    pub vs: VarStore,
    /// ema ← β·ema + (1 − β)·θ after every generator step.
    pub beta: f64,
    /// Caps β early in training (see [`MovingAverage::beta_at`]).
    pub rampup: Option<f64>,
}

impl MovingAverage {
    /// β of the update after a step of `batch` images, `shown_before` images into training:
    /// the constant β, or with a ramp-up r the smaller of β and 0.5^(batch / (r · shown_before))
    /// (StyleGAN2-ADA `training_loop.py`: `ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)`,
    /// `ema_beta = 0.5 ** (batch_size / max(ema_nimg, 1e-8))`, with `cur_nimg` counted before
    /// the step). The first update (nothing shown before it) copies G.
    pub fn beta_at(&self, batch: u64, shown_before: u64) -> f64 {
        match self.rampup {
            None => self.beta,
            Some(r) => {
                let ramp_nimg = (shown_before as f64 * r).max(1e-8);
                self.beta.min(0.5f64.powf(batch as f64 / ramp_nimg))
            }
        }
    }
}

/// A resolution that grows with images shown (ProGAN): the networks read the stage the trainer
/// sets from the schedule before every generator step.
pub struct Growth {
    pub stage: StageHandle,
    pub schedule: Schedule,
    /// Reset both optimisers' states when the level of detail crosses an integer (official
    /// ProGAN `reset_opt_for_new_lod`).
    pub reset_optimizer: bool,
}

/// The networks of a run, each with its var store: what the trainer trains and snapshots.
pub struct Players {
    /// G: latents `[N, z_dim]` (and, conditioned, labels) → samples.
    pub g: Box<dyn ConditionalModuleT>,
    /// D: samples (and, conditioned, labels) → one logit each.
    pub d: Box<dyn ConditionalModuleT>,
    pub g_vs: VarStore,
    pub d_vs: VarStore,
    /// Latent dimension of G's input.
    pub z_dim: i64,
    pub sample_kind: SampleKind,
    pub ema: Option<MovingAverage>,
    pub growth: Option<Growth>,
}

impl Players {
    /// A generator and a discriminator of the caller's own (research code): G maps
    /// `[N, z_dim]` latents to samples, D maps samples to one logit each. Any `tch` module is
    /// an unconditional network; class-conditional ones implement
    /// [`ConditionalModuleT`] (G and D must take the same number of classes).
    pub fn new(
        g: Box<dyn ConditionalModuleT>,
        d: Box<dyn ConditionalModuleT>,
        g_vs: VarStore,
        d_vs: VarStore,
        z_dim: i64,
        sample_kind: SampleKind,
    ) -> Players {
        Players {
            g,
            d,
            g_vs,
            d_vs,
            z_dim,
            sample_kind,
            ema: None,
            growth: None,
        }
    }

    /// A G and a D built by `g` and `d` under the roots of two fresh var stores on `device`
    /// (what every architecture without a moving average builds).
    pub fn pair<G, D>(
        device: Device,
        z_dim: i64,
        sample_kind: SampleKind,
        g: impl FnOnce(&tch::nn::Path) -> G,
        d: impl FnOnce(&tch::nn::Path) -> D,
    ) -> Players
    where
        G: ConditionalModuleT + 'static,
        D: ConditionalModuleT + 'static,
    {
        let (g_vs, d_vs) = (VarStore::new(device), VarStore::new(device));
        let (g, d) = (g(&g_vs.root()), d(&d_vs.root()));
        Players::new(Box::new(g), Box::new(d), g_vs, d_vs, z_dim, sample_kind)
    }

    /// Gives G a moving average (used for samples and metrics from then on): `g` is a second
    /// generator of G's architecture built under the root of `vs`, whose values are set to G's
    /// here. Research code's players get one this way too. An error when the players keep one
    /// already, or when `g`'s variables are not G's (names and shapes).
    pub fn add_moving_average(
        &mut self,
        g: Box<dyn ConditionalModuleT>,
        mut vs: VarStore,
        beta: f64,
        rampup: Option<f64>,
    ) -> Result<()> {
        if self.ema.is_some() {
            bail!("G has a moving average already: its architecture keeps its own");
        }
        check((0.0..1.0).contains(&beta), "ema beta", "in [0, 1)", beta)?;
        vs.copy(&self.g_vs).map_err(|e| {
            anyhow::anyhow!("G's moving average must have G's variables (names and shapes): {e}")
        })?;
        self.ema = Some(MovingAverage {
            g,
            vs,
            beta,
            rampup,
        });
        Ok(())
    }

    /// The classes G and D are conditioned on (0: unconditional).
    pub fn classes(&self) -> i64 {
        self.g.classes()
    }

    /// The network that draws samples: G's moving average where there is one, else G.
    pub fn sampler(&self) -> &dyn ConditionalModuleT {
        match &self.ema {
            Some(ema) => ema.g.as_ref(),
            None => self.g.as_ref(),
        }
    }

    /// The var stores a snapshot holds, by section name (`G`, `D`, `G_ema`).
    pub fn networks(&self) -> Vec<(&'static str, &VarStore)> {
        let mut networks = vec![("G", &self.g_vs), ("D", &self.d_vs)];
        if let Some(ema) = &self.ema {
            networks.push(("G_ema", &ema.vs));
        }
        networks
    }

    /// Keeps every 4-D weight channels-last (NHWC in memory), where oneDNN's convolutions are
    /// faster; values are unchanged.
    pub fn to_channels_last(&self) {
        for (_, vs) in self.networks() {
            ganlab_layers::to_channels_last(vs);
        }
    }
}

/// (G variable, EMA variable) pairs, matched by name.
pub(crate) fn ema_pairs(g_vs: &VarStore, ema_vs: &VarStore) -> Vec<(Tensor, Tensor)> {
    let ema = ema_vs.variables();
    let mut pairs: Vec<(String, Tensor, Tensor)> = g_vs
        .variables()
        .into_iter()
        .filter_map(|(name, t)| ema.get(&name).map(|e| (name, t, e.shallow_clone())))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs.into_iter().map(|(_, g, e)| (g, e)).collect()
}

/// Checks that the players of `arch` are conditioned on the classes `spec` asks for (G and D
/// alike); the message names the architecture and what its networks take.
pub fn check_classes(arch: &str, spec: &ArchSpec, players: &Players) -> Result<()> {
    let (g, d) = (players.g.classes(), players.d.classes());
    if g != spec.classes || d != spec.classes {
        bail!(
            "architecture `{arch}`: the run conditions on {} classes (`cond`) but its G takes \
             {g} and its D {d}; build conditional networks (ganlab_layers::ConditionalModuleT) \
             with ArchSpec::classes classes when it is above 0",
            spec.classes
        );
    }
    Ok(())
}

/// Checks one setting; the message names the key, the expected range and the value.
pub(crate) fn check(
    ok: bool,
    key: &str,
    expected: &str,
    got: impl std::fmt::Display,
) -> Result<()> {
    if !ok {
        bail!("config: `{key}` must be {expected}, got {got}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{register, ArchChoice, ArchSpec, MovingAverage, Networks, Players, SampleKind};
    use tch::nn::VarStore;
    use tch::Device;

    fn average(rampup: Option<f64>) -> MovingAverage {
        let vs = VarStore::new(Device::Cpu);
        MovingAverage {
            g: Box::new(tch::nn::func(|x| x.shallow_clone())),
            vs,
            beta: 0.999,
            rampup,
        }
    }

    /// β against StyleGAN2-ADA's formula (`training_loop.py`), evaluated in Python with
    /// `ema_kimg` = ProGAN's β = 0.999 as a half-life (batch · ln 0.5 / ln β images) and
    /// `ema_rampup` = 0.05: `0.5 ** (batch / max(min(ema_nimg, cur_nimg * 0.05), 1e-8))`.
    #[test]
    fn the_ramp_up_caps_beta_as_stylegan2_ada_does() {
        let ramped = average(Some(0.05));
        for (batch, shown, expected) in [
            (32, 0, 0.0),
            (32, 3_200, 0.870_550_563_296_124_1),
            (32, 40_000, 0.988_970_916_380_931_5),
            (64, 40_000, 0.978_063_473_447_339_3),
            (32, 1_000_000, 0.999),
        ] {
            let beta = ramped.beta_at(batch, shown);
            assert!(
                (beta - expected).abs() <= 1e-12,
                "batch {batch}, {shown} images shown: β {beta}, StyleGAN2-ADA {expected}"
            );
        }
        // Without a ramp-up, ProGAN's constant β from the first step.
        assert_eq!(average(None).beta_at(32, 0), 0.999);
    }

    fn linear_pair(name: &'static str) -> impl super::Architecture {
        Networks::new(
            name,
            SampleKind::Points,
            2,
            64,
            |spec: &ArchSpec, device| {
                let z = spec.z_dim.unwrap_or(2);
                Ok(Players::pair(
                    device,
                    z,
                    SampleKind::Points,
                    |g| tch::nn::linear(g / "fc", z, 2, Default::default()),
                    |d| tch::nn::linear(d / "fc", 2, 1, Default::default()),
                ))
            },
        )
    }

    #[test]
    fn an_architecture_registered_at_run_time_is_found_by_name_and_names_are_unique() {
        let arch = register(linear_pair("registry-test-linear")).expect("register");
        assert_eq!(arch.name(), "registry-test-linear");
        assert!(super::names().contains(&"registry-test-linear"));
        let choice: ArchChoice = "registry-test-linear".parse().expect("a registered name");
        assert_eq!(
            choice.resolve(SampleKind::Points).name(),
            "registry-test-linear"
        );
        // `auto` still means the built-in default: registering never changes an old config.
        assert_eq!(
            ArchChoice::Auto.resolve(SampleKind::Points).name(),
            "toy-mlp"
        );
        let players = arch
            .build(&ArchSpec::default(), tch::Device::Cpu)
            .expect("build");
        assert_eq!(players.z_dim, 2);

        let again = register(linear_pair("registry-test-linear")).map(|a| a.name());
        assert_eq!(
            again.map_err(|e| e.to_string()),
            Err("an architecture named `registry-test-linear` is already registered".to_string())
        );
        let built_in = register(linear_pair("dcgan32")).map(|a| a.name());
        assert!(built_in.is_err(), "a built-in name cannot be taken");
        let auto = register(linear_pair("auto")).map(|a| a.name());
        assert!(auto.is_err(), "`auto` is not a name");
        // An unknown name's message lists the registered ones too.
        let unknown = "registry-test-nope".parse::<ArchChoice>().unwrap_err();
        assert!(unknown.contains("registry-test-linear"), "{unknown}");
    }

    #[test]
    fn every_built_in_architecture_normalises_d_and_not_g_when_asked() {
        let sn_buffers = |vs: &VarStore| {
            vs.variables()
                .keys()
                .filter(|k| k.ends_with("weight_u"))
                .count()
        };
        for (arch, resolution, layers) in [
            (&super::Dcgan32 as &dyn super::Architecture, 32, 4),
            // from_rgb4, from_rgb8, b4's conv, dense0, dense1, b8's conv0, conv1.
            (&super::Progan, 8, 7),
            (&super::ToyMlp, 32, 4),
        ] {
            let spec = ArchSpec {
                resolution,
                channels: 1,
                width: 8,
                d_spectral_norm: true,
                progan: super::ProganSettings {
                    fmap_base: 32,
                    fmap_max: 8,
                    ..Default::default()
                },
                ..Default::default()
            };
            let players = arch.build(&spec, Device::Cpu).expect("build");
            assert_eq!(sn_buffers(&players.d_vs), layers, "{}", arch.name());
            assert_eq!(sn_buffers(&players.g_vs), 0, "{}", arch.name());
            let plain = ArchSpec {
                d_spectral_norm: false,
                ..spec
            };
            let players = arch.build(&plain, Device::Cpu).expect("build");
            assert_eq!(sn_buffers(&players.d_vs), 0, "{}", arch.name());
        }
        // An architecture of the user's that ignores the setting is refused, by name.
        let spec = ArchSpec {
            d_spectral_norm: true,
            ..Default::default()
        };
        let err = super::Architecture::build(&linear_pair("sn-test-linear"), &spec, Device::Cpu)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sn-test-linear") && err.contains("d_spectral_norm"),
            "{err}"
        );
    }
}
