//! The training loop. It drives a game (from `ganlab-games`) without knowing its formulas: the
//! game returns losses and scalars, and its `LoopPlan` says how many critic steps to take and
//! whether to clip weights. Progress is counted in images shown (kimg), not epochs.

use crate::config::TrainConfig;
use crate::files::write_json_atomically;
use crate::monitor::{coverage_warning, eval_summary, Monitor, Verdict};
use crate::snapshot::{self, Progress};
use crate::{device, grid, logging, scatter};
use anyhow::{Context, Result};
use ganlab_data::{ImageDataset, ToyDataset};
use ganlab_games::{game_by_name, GameOptions, OptimizerChoice, StepContext};
use ganlab_layers::{
    dcgan32_discriminator, dcgan32_generator, toy_discriminator, toy_generator, Dcgan32Config,
    ToyMlpConfig,
};
use ganlab_optim::{Adam, AdamConfig, Optimizer, RmsProp, RmsPropConfig};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::nn::{ModuleT, VarStore};
use tch::{Kind, Tensor};

static STOP_REQUESTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Asks a running `train` to write a snapshot and return at the end of the current step (the
/// `gan` binary calls this on SIGINT / SIGTERM).
pub fn request_stop() {
    STOP_REQUESTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The configured number of images was shown.
    Finished,
    /// A stop was requested (Ctrl-C / SIGTERM); a snapshot was written.
    Interrupted,
    /// The primary metric reached `evaluation.target`.
    TargetReached,
    /// The primary metric stopped improving (`evaluation.patience`, `evaluation.min_delta`).
    Plateau,
}

impl StopReason {
    /// The name written to `outcome.json`.
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Finished => "finished",
            StopReason::Interrupted => "interrupted",
            StopReason::TargetReached => "target-reached",
            StopReason::Plateau => "plateau",
        }
    }
}

/// What a finished run left behind.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_dir: PathBuf,
    pub images_shown: u64,
    pub ticks: u64,
    /// The last tick's statistics.
    pub last_stats: Value,
    /// The final snapshot.
    pub snapshot: PathBuf,
    /// The last sample grid.
    pub last_grid: PathBuf,
    /// Why it ended.
    pub stop: StopReason,
    /// Why it ended, in words (also in `outcome.json` and the log).
    pub message: String,
}

/// How a run reports itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reporting {
    /// Show a progress bar and echo the log to stderr.
    pub interactive: bool,
}

/// The networks of a run, built into their var stores.
pub struct Networks {
    pub g: Box<dyn ModuleT>,
    pub d: Box<dyn ModuleT>,
    /// G's exponential moving average (ProGAN), used for samples.
    pub g_ema: Option<Box<dyn ModuleT>>,
    /// The resolution / fade-in stage shared by progressive networks.
    pub stage: Option<ganlab_progan::StageHandle>,
}

/// Builds G and D for `config.arch` under the roots of `g_vs` and `d_vs` (and G's moving average
/// under `g_ema_vs` for architectures that keep one).
pub fn build_networks(
    config: &TrainConfig,
    channels: i64,
    g_vs: &VarStore,
    d_vs: &VarStore,
    g_ema_vs: &VarStore,
) -> Result<Networks> {
    match config.resolved_arch() {
        "progan" => {
            let cfg = ganlab_progan::ProganConfig {
                resolution: config.resolution,
                channels,
                fmap_base: config.progan.fmap_base,
                fmap_max: config.progan.fmap_max,
                latent_size: config.resolved_z_dim(),
                mbstd_group_size: config.progan.mbstd_group_size,
            };
            let stage = ganlab_progan::StageHandle::new(2);
            let g = ganlab_progan::progan_generator(&g_vs.root(), cfg, stage.clone());
            let g_ema = ganlab_progan::progan_generator(&g_ema_vs.root(), cfg, stage.clone());
            let d = ganlab_progan::progan_discriminator(&d_vs.root(), cfg, stage.clone());
            Ok(Networks {
                g: Box::new(g),
                d: Box::new(d),
                g_ema: Some(Box::new(g_ema)),
                stage: Some(stage),
            })
        }
        "dcgan32" => {
            let cfg = Dcgan32Config {
                z_dim: config.resolved_z_dim(),
                channels,
                width: config.width,
            };
            Ok(Networks {
                g: Box::new(dcgan32_generator(&g_vs.root(), cfg)),
                d: Box::new(dcgan32_discriminator(&d_vs.root(), cfg)),
                g_ema: None,
                stage: None,
            })
        }
        "toy-mlp" => {
            let cfg = ToyMlpConfig {
                z_dim: config.resolved_z_dim(),
                ..Default::default()
            };
            Ok(Networks {
                g: Box::new(toy_generator(&g_vs.root(), cfg)),
                d: Box::new(toy_discriminator(&d_vs.root(), cfg)),
                g_ema: None,
                stage: None,
            })
        }
        other => anyhow::bail!("unknown arch `{other}`"),
    }
}

fn make_optimizer(
    choice: OptimizerChoice,
    lr: Option<f64>,
    beta1: Option<f64>,
    beta2: Option<f64>,
    vs: &VarStore,
) -> Result<(Box<dyn Optimizer>, Value)> {
    Ok(match choice {
        OptimizerChoice::Adam {
            lr: lr0,
            beta1: b1,
            beta2: b2,
        } => {
            let cfg = AdamConfig {
                lr: lr.unwrap_or(lr0),
                beta1: beta1.unwrap_or(b1),
                beta2: beta2.unwrap_or(b2),
                ..Default::default()
            };
            let described = json!({"kind": "adam", "lr": cfg.lr, "beta1": cfg.beta1, "beta2": cfg.beta2, "eps": cfg.eps});
            (Box::new(Adam::new(vs, cfg)?), described)
        }
        OptimizerChoice::RmsProp { lr: lr0 } => {
            let cfg = RmsPropConfig {
                lr: lr.unwrap_or(lr0),
                ..Default::default()
            };
            let described =
                json!({"kind": "rmsprop", "lr": cfg.lr, "alpha": cfg.alpha, "eps": cfg.eps});
            (Box::new(RmsProp::new(vs, cfg)?), described)
        }
    })
}

/// Running sums of the per-step scalars over a tick.
#[derive(Default)]
struct TickAccumulator {
    sums: BTreeMap<&'static str, (Tensor, u64)>,
}

impl TickAccumulator {
    fn add(&mut self, scalars: &[(&'static str, Tensor)]) {
        for (name, value) in scalars {
            match self.sums.get_mut(name) {
                Some((sum, count)) => {
                    *sum += value;
                    *count += 1;
                }
                None => {
                    self.sums.insert(name, (value.copy(), 1));
                }
            }
        }
    }

    fn take_means(&mut self) -> Map<String, Value> {
        let mut out = Map::new();
        for (name, (sum, count)) in std::mem::take(&mut self.sums) {
            out.insert(
                name.to_string(),
                json!(sum.double_value(&[]) / count as f64),
            );
        }
        out
    }
}

/// Mean L2 distance between all pairs of a batch (the sample diversity of the fixed latents).
fn mean_pairwise_distance(batch: &Tensor) -> f64 {
    let x = batch
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Float)
        .flatten(1, -1);
    let n = x.size()[0];
    if n < 2 {
        return 0.0;
    }
    let d = Tensor::cdist(&x, &x, 2.0, None::<i64>);
    d.sum(Kind::Float).double_value(&[]) / (n * (n - 1)) as f64
}

/// Failure diagnostics of a tick, added to its statistics with a one-line warning each:
/// collapse of the sample diversity and a discriminator that has won.
fn diagnose(
    stats: &mut Map<String, Value>,
    samples: &Tensor,
    real_diversity: &Option<f64>,
    game: &str,
) {
    let mut warnings: Vec<String> = Vec::new();
    if let Some(real) = real_diversity {
        let diversity = mean_pairwise_distance(samples);
        stats.insert(
            "sample_diversity".into(),
            json!(diversity / real.max(1e-12)),
        );
        if diversity < 0.2 * real {
            warnings.push(format!(
                "mode collapse: the fixed-latent samples are {:.0}% as diverse as real images (mean pairwise distance)",
                100.0 * diversity / real.max(1e-12)
            ));
        }
    }
    let logistic = matches!(game, "nonsaturating" | "minimax");
    if let (true, Some(d_real), Some(d_fake), Some(grad)) = (
        logistic,
        stats.get("d_real").and_then(Value::as_f64),
        stats.get("d_fake").and_then(Value::as_f64),
        stats.get("grad_norm_g").and_then(Value::as_f64),
    ) {
        if d_real - d_fake > 0.98 && grad < 1e-2 {
            warnings.push(format!(
                "discriminator winning: D(real) − D(fake) = {:.3} and G's gradient norm is {grad:.2e}",
                d_real - d_fake
            ));
        }
    }
    for w in &warnings {
        tracing::warn!("{w}");
    }
    if !warnings.is_empty() {
        stats.insert("warnings".into(), json!(warnings));
    }
}

/// Writes `outcome.json`: why the run ended, where it stood and its best evaluation.
fn write_outcome(
    run_dir: &Path,
    reason: &str,
    message: &str,
    progress: Option<Progress>,
    monitor: Option<&Monitor>,
) -> Result<()> {
    let best = monitor.and_then(|m| {
        m.best
            .map(|(value, kimg)| json!({"metric": m.primary, "value": value, "kimg": kimg}))
    });
    write_json_atomically(
        &run_dir.join("outcome.json"),
        &json!({
            "stop_reason": reason,
            "message": message,
            "kimg": progress.map(|p| p.images_shown as f64 / 1000.0),
            "ticks": progress.map(|p| p.ticks),
            "best": best,
            "evaluations": monitor.map(|m| m.history.len()),
        }),
    )
}

/// Retention of periodic snapshots (see [`snapshot::prune`]), logged.
fn prune_snapshots(run_dir: &Path, keep: usize) -> Result<()> {
    for old in snapshot::prune(run_dir, keep)? {
        tracing::info!(snapshot = %old.display(), "deleted by the retention rule (keep_snapshots = {keep})");
    }
    Ok(())
}

/// What a run saves and where: its networks, its directory and the retention rule.
struct Checkpoint<'a> {
    run_dir: &'a Path,
    networks: Vec<(&'a str, &'a VarStore)>,
    keep: usize,
}

impl Checkpoint<'_> {
    /// Writes a snapshot at the current image count: the periodic one (then the retention rule)
    /// or, with `best`, `best.safetensors`, kept apart from the retention rule.
    fn save(
        &self,
        best: bool,
        opt_g: &dyn Optimizer,
        opt_d: &dyn Optimizer,
        progress: Progress,
        last_lod: Option<f64>,
    ) -> Result<PathBuf> {
        let path = match best {
            true => self.run_dir.join("best.safetensors"),
            false => self
                .run_dir
                .join(snapshot::snapshot_name(progress.images_shown)),
        };
        snapshot::save_as(&path, &self.networks, opt_g, opt_d, progress, last_lod)?;
        if !best {
            prune_snapshots(self.run_dir, self.keep)?;
        }
        Ok(path)
    }
}

/// Logs one-line warnings and appends them to the tick's `warnings`.
fn add_warnings(stats: &mut Map<String, Value>, warnings: Vec<String>) {
    if warnings.is_empty() {
        return;
    }
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let list = stats.entry("warnings").or_insert_with(|| json!([]));
    if let Some(list) = list.as_array_mut() {
        list.extend(warnings.into_iter().map(Value::from));
    }
}

/// The real images the training-time metrics compare against: the dataset as `gan eval` loads
/// it (so that FID's real-feature cache is shared) or, for other data, a seeded subset of the
/// training images.
fn real_eval_set(
    config: &TrainConfig,
    data: &TrainingData,
    device: tch::Device,
) -> Result<crate::eval::ImageSet> {
    let n = config.evaluation.n;
    if matches!(config.dataset.as_str(), "mnist" | "fashion-mnist") && config.data_dir.is_none() {
        return crate::eval::load_image_set(
            &config.dataset,
            n,
            config.seed,
            device,
            config.resolution,
        );
    }
    let images = data.samples();
    let total = images.size()[0];
    tch::manual_seed(config.seed as i64);
    let idx = Tensor::randperm(total, (Kind::Int64, tch::Device::Cpu)).narrow(0, 0, n.min(total));
    Ok(crate::eval::ImageSet {
        images: crate::eval::to_pixels(&images.to_device(tch::Device::Cpu).index_select(0, &idx)),
        description: format!(
            "{} ({} of {total} training images)",
            config.dataset,
            n.min(total)
        ),
        dataset: None,
    })
}

/// `n` samples of the generator from the same seeded latents at every evaluation, at the final
/// resolution (progressive runs: nearest-neighbour upsampling).
fn fake_eval_set(
    sampler: &dyn ModuleT,
    config: &TrainConfig,
    device: tch::Device,
) -> crate::eval::ImageSet {
    tch::manual_seed(stream_seed(config.seed, EVAL_LATENT_SALT));
    crate::eval::ImageSet {
        images: crate::eval::sample_pixels(
            sampler,
            config.evaluation.n,
            config.resolved_z_dim(),
            config.resolution,
            device,
        ),
        description: "generator during training".into(),
        dataset: None,
    }
}

/// Salts of the seeds of evaluation latents and of the training stream after an evaluation.
const EVAL_LATENT_SALT: u64 = 0x5EED_E7A1;
const AFTER_EVAL_SALT: u64 = 0xAF7E_2E7A;

/// (G variable, EMA variable) pairs, matched by name.
fn ema_pairs(g_vs: &VarStore, ema_vs: &VarStore) -> Vec<(Tensor, Tensor)> {
    let ema = ema_vs.variables();
    let mut pairs: Vec<(String, Tensor, Tensor)> = g_vs
        .variables()
        .into_iter()
        .filter_map(|(name, t)| ema.get(&name).map(|e| (name, t, e.shallow_clone())))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs.into_iter().map(|(_, g, e)| (g, e)).collect()
}

/// ema ← β·ema + (1 − β)·θ for every variable (official ProGAN `Gs.setup_as_moving_average_of(G,
/// beta=G_smoothing)`).
fn update_ema(pairs: &[(Tensor, Tensor)], beta: f64) {
    tch::no_grad(|| {
        for (g, ema) in pairs {
            let _ = ema.shallow_clone().lerp_(g, 1.0 - beta);
        }
    });
}

fn set_requires_grad(vs: &VarStore, on: bool) {
    for t in vs.trainable_variables() {
        let _ = t.set_requires_grad(on);
    }
}

fn progress_bar(total_images: u64, interactive: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(total_images),
        if interactive {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {msg} | {per_sec} | ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar
}

/// Trains according to `config`, writing everything into `run_dir` (which must exist):
/// `config.json`, `log.txt`, `stats.jsonl`, `reals.png`, a grid per tick and the final snapshot.
///
/// Randomness comes from libtorch's global generator (seeded with `config.seed`) and from the
/// seeded batch order, so a run is reproducible on the CPU. Because that generator is global to
/// the process, runs in one process take turns: a second `train` call waits for the first.
pub fn train(config: TrainConfig, run_dir: &Path, reporting: Reporting) -> Result<RunSummary> {
    train_from(config, run_dir, reporting, None, Vec::new())
}

/// The newest snapshot of a run directory (snapshots are written atomically, so every
/// `snapshot-*.safetensors` present is complete).
pub fn newest_snapshot(run_dir: &Path) -> Result<Option<PathBuf>> {
    Ok(snapshot::list(run_dir)?.pop())
}

/// Continues the run in `run_dir` from its newest snapshot with `config` (the caller checks
/// that it matches the saved one). The result equals an uninterrupted run of the same seed.
pub fn resume(config: TrainConfig, run_dir: &Path, reporting: Reporting) -> Result<RunSummary> {
    let snapshot = newest_snapshot(run_dir)?
        .with_context(|| format!("--resume {}: no snapshot to resume from", run_dir.display()))?;
    let changes = config_changes(run_dir, &config);
    train_from(config, run_dir, reporting, Some(snapshot), changes)
}

/// The top-level keys of `config` that differ from the run's saved `config.json` (keys left
/// unset in `config` are filled in from the data and do not count), as `key: old -> new`.
pub fn config_changes(run_dir: &Path, config: &TrainConfig) -> Vec<String> {
    let saved: Option<Value> = std::fs::read_to_string(run_dir.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let (Some(Value::Object(before)), Ok(Value::Object(after))) =
        (saved, serde_json::to_value(config))
    else {
        return Vec::new();
    };
    after
        .iter()
        .filter(|(k, v)| !v.is_null() && before.get(k.as_str()) != Some(v))
        .map(|(k, v)| {
            format!(
                "{k}: {} -> {v}",
                before.get(k.as_str()).cloned().unwrap_or(Value::Null)
            )
        })
        .collect()
}

/// The seed of libtorch's generator from `images_shown` on: reseeding at every snapshot makes
/// the random stream after a snapshot a function of (seed, images shown), so a resumed run draws
/// exactly what the uninterrupted run drew.
fn stream_seed(seed: u64, images_shown: u64) -> i64 {
    let mut x = seed ^ images_shown.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (x ^ (x >> 29)) as i64 & i64::MAX
}

fn train_from(
    mut config: TrainConfig,
    run_dir: &Path,
    reporting: Reporting,
    snapshot: Option<PathBuf>,
    config_changes: Vec<String>,
) -> Result<RunSummary> {
    static ONE_RUN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    config.validate()?;
    let bar = progress_bar((config.kimg * 1000.0).round() as u64, reporting.interactive);
    let _log_guard = logging::log_to_run_dir(run_dir, &bar, reporting.interactive)?;
    if !config_changes.is_empty() {
        tracing::warn!(
            "resuming with a changed config: {}",
            config_changes.join(", ")
        );
    }
    let result = train_logged(&mut config, run_dir, &bar, snapshot.as_deref());
    bar.finish_and_clear();
    if let Err(err) = &result {
        tracing::error!("training stopped: {err:#}");
        let reason = if format!("{err:#}").contains("diverged") {
            "diverged"
        } else {
            "error"
        };
        let _ = write_outcome(run_dir, reason, &format!("{err:#}"), None, None);
    }
    result
}

fn train_logged(
    config: &mut TrainConfig,
    run_dir: &Path,
    bar: &ProgressBar,
    resume_from: Option<&Path>,
) -> Result<RunSummary> {
    let device = device::resolve(&config.device)?;
    tch::manual_seed(config.seed as i64);
    tracing::info!(run_dir = %run_dir.display(), device = %device::describe(device), "starting run");

    let data = TrainingData::load(config)?;
    config.resolve_defaults();
    config.channels = data.channels();
    config.dataset_source = Some(data.source());
    config.dataset_images = Some(data.len());
    config.resolved_device = Some(device::describe(device));
    config.toolkit_version = Some(crate::VERSION.to_string());
    tracing::info!(dataset = %config.dataset, source = %data.source(), samples = data.len(), "dataset ready");

    let game = game_by_name(&config.game, config.game_options)?;
    let plan = game.plan();

    let g_vs = VarStore::new(device);
    let d_vs = VarStore::new(device);
    let mut g_ema_vs = VarStore::new(device);
    let nets = build_networks(
        config,
        data.channels().unwrap_or(0),
        &g_vs,
        &d_vs,
        &g_ema_vs,
    )?;
    let channels_last = device::use_channels_last(config.channels_last, device) && !config.is_toy();
    if channels_last {
        for vs in [&g_vs, &d_vs, &g_ema_vs] {
            ganlab_layers::to_channels_last(vs);
        }
    }
    if nets.g_ema.is_some() {
        g_ema_vs.copy(&g_vs)?;
    }
    let ema_vars = ema_pairs(&g_vs, &g_ema_vs);
    let mut checkpoint = Checkpoint {
        run_dir,
        networks: vec![("G", &g_vs), ("D", &d_vs)],
        keep: config.keep_snapshots,
    };
    if nets.g_ema.is_some() {
        checkpoint.networks.push(("G_ema", &g_ema_vs));
    }
    let schedule = nets.stage.as_ref().map(|_| config.progan_schedule());
    let (mut opt_g, opt_g_desc) = make_optimizer(
        plan.optimizer,
        config.lr_g,
        config.beta1,
        config.beta2,
        &g_vs,
    )?;
    let (mut opt_d, opt_d_desc) = make_optimizer(
        plan.optimizer,
        config.lr_d,
        config.beta1,
        config.beta2,
        &d_vs,
    )?;
    config.lr_g = Some(opt_g.lr());
    config.lr_d = Some(opt_d.lr());
    if let Some(b1) = opt_g_desc.get("beta1").and_then(Value::as_f64) {
        config.beta1 = Some(b1);
    }
    if let Some(b2) = opt_g_desc.get("beta2").and_then(Value::as_f64) {
        config.beta2 = Some(b2);
    }
    let z_dim = config.resolved_z_dim();
    let fixed_z = Tensor::randn(
        [data.fixed_batch_size(config), z_dim],
        (Kind::Float, device),
    );

    tracing::info!(
        critic_steps = plan.critic_steps,
        clip_weights = ?plan.clip_weights,
        optimizer_g = %opt_g_desc,
        optimizer_d = %opt_d_desc,
        "game `{}` loop plan",
        game.name()
    );
    let resolved = serde_json::to_value(&*config)?;
    write_json_atomically(&run_dir.join("config.json"), &resolved)?;

    if let Some(schedule) = &schedule {
        tracing::info!("progressive schedule:\n{}", schedule.table());
    }
    let batch = config.resolved_batch_size();
    let mut batches = ganlab_data::Batches::new(
        &data.samples().to_device(device),
        batch,
        config.seed,
        device,
    );
    data.save_reals(config, run_dir)?;

    let stats_path = run_dir.join("stats.jsonl");
    let mut stats_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&stats_path)
        .with_context(|| format!("cannot open {}", stats_path.display()))?;

    let total_images = (config.kimg * 1000.0).round() as u64;
    let tick_images = ((config.tick_kimg * 1000.0).round() as u64).max(1);
    let mut progress = Progress::default();
    let mut last_lod: Option<f64> = None;
    if let Some(path) = resume_from {
        let snap = snapshot::Snapshot::read(path)?;
        snap.load_into("G", &g_vs)?;
        snap.load_into("D", &d_vs)?;
        if nets.g_ema.is_some() {
            snap.load_into("G_ema", &g_ema_vs)?;
        }
        opt_g
            .load_state(&snap.section("opt_g"))
            .with_context(|| format!("{}: G's optimiser", path.display()))?;
        opt_d
            .load_state(&snap.section("opt_d"))
            .with_context(|| format!("{}: D's optimiser", path.display()))?;
        progress = snap.progress()?;
        batches.seek(progress.batches);
        last_lod = snap
            .tensors
            .get("progress.last_lod")
            .map(|t| t.double_value(&[]));
        // Ticks after the snapshot (written before an interruption) are dropped: they are redone.
        let kept: Vec<String> = std::fs::read_to_string(&stats_path)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                serde_json::from_str::<Value>(l)
                    .ok()
                    .and_then(|v| v["tick"].as_u64())
                    .is_some_and(|t| t <= progress.ticks)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        crate::files::write_bytes_atomically(&stats_path, kept.concat().as_bytes())?;
        // The rename replaced the file: append to the new one.
        stats_file = std::fs::OpenOptions::new()
            .append(true)
            .open(&stats_path)
            .with_context(|| format!("cannot open {}", stats_path.display()))?;
        tracing::info!(snapshot = %path.display(), "resumed at {:.3} kimg (tick {})", progress.images_shown as f64 / 1000.0, progress.ticks);
    }
    tch::manual_seed(stream_seed(config.seed, progress.images_shown));
    // Training-time evaluation: the monitor's state is rebuilt from the evaluations recorded in
    // the (kept) stats lines, so a resumed run decides exactly as the uninterrupted one.
    let eval_metrics = config.evaluation.resolved_metrics(config);
    let mut monitor = Monitor::new(config);
    let recorded: Vec<Value> = std::fs::read_to_string(&stats_path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    monitor.replay(&recorded);
    let eval_images = (config.evaluation.every_kimg * 1000.0).round() as u64;
    let mut next_eval_at = if eval_images > 0 {
        eval_images * (progress.images_shown / eval_images + 1)
    } else {
        u64::MAX
    };
    let mut real_eval: Option<crate::eval::ImageSet> = None;
    let class_names: Vec<String> = match &data {
        TrainingData::Images(d) => d.class_names.clone(),
        TrainingData::Points(_) => Vec::new(),
    };
    if eval_images > 0 {
        tracing::info!(
            "evaluating {} every {} kimg on {} samples; primary metric {}",
            eval_metrics.join(", "),
            config.evaluation.every_kimg,
            config.evaluation.n,
            monitor.primary
        );
    }
    let mut next_tick_at = tick_images * (progress.images_shown / tick_images + 1);
    let mut acc = TickAccumulator::default();
    let start = Instant::now();
    let mut tick_start = Instant::now();
    let mut tick_start_images = progress.images_shown;
    // The diversity of real images, the yardstick of the collapse diagnostic.
    let real_diversity = match &data {
        TrainingData::Images(d) => Some(mean_pairwise_distance(&d.images.narrow(
            0,
            0,
            fixed_z.size()[0].min(d.len()),
        ))),
        TrainingData::Points(_) => None,
    };
    let mut last_stats = Value::Null;
    let mut last_grid = run_dir.join("reals.png");
    let mut batch = batch as i64;
    let (g, d) = (&nets.g, &nets.d);
    let sampler: &dyn ModuleT = nets.g_ema.as_deref().unwrap_or(g.as_ref());
    let mut phase: Option<ganlab_progan::Phase> = None;

    while progress.images_shown < total_images {
        if let (Some(schedule), Some(stage)) = (&schedule, &nets.stage) {
            // The schedule is a pure function of images shown: set resolution, α, batch size
            // and learning rate from it before every generator step.
            let now = schedule.at(progress.images_shown);
            if let Some(previous) = last_lod {
                if now.lod.floor() != previous.floor() || now.lod.ceil() != previous.ceil() {
                    if now.alpha < 1.0 {
                        tracing::info!(
                            "kimg {:.1}: fading in {}x{} (lod {:.3})",
                            now.kimg,
                            now.resolution,
                            now.resolution,
                            now.lod
                        );
                    } else {
                        tracing::info!(
                            "kimg {:.1}: {}x{} stable (lod {:.3})",
                            now.kimg,
                            now.resolution,
                            now.resolution,
                            now.lod
                        );
                    }
                    if config.progan.reset_optimizer {
                        opt_g.reset();
                        opt_d.reset();
                    }
                }
            }
            last_lod = Some(now.lod);
            stage.set(now.resolution.trailing_zeros() as i64, now.alpha);
            batch = now.batch_size as i64;
            batches.set_batch_size(now.batch_size);
            opt_g.set_lr(now.lr);
            opt_d.set_lr(now.lr);
            phase = Some(now);
        }
        for critic_step in 0..plan.critic_steps {
            let last = critic_step + 1 == plan.critic_steps;
            let real = match &phase {
                Some(p) => ganlab_progan::fade_reals(&batches.next_batch(), p.resolution, p.alpha),
                None => batches.next_batch(),
            };
            let real = if channels_last {
                ganlab_layers::channels_last(&real)
            } else {
                real
            };
            let z = Tensor::randn([batch, z_dim], (Kind::Float, device));
            // The last critic step's fakes are kept with their graph and reused for G's update,
            // as in PyTorch's DCGAN example.
            let fake = if last {
                g.forward_t(&z, true)
            } else {
                tch::no_grad(|| g.forward_t(&z, true))
            };
            let ctx = StepContext {
                kimg: progress.images_shown as f64 / 1000.0,
                critic_step: progress.critic_steps,
            };
            let fake_detached = fake.detach();
            let d_out = game.d_loss(
                &mut |x: &Tensor| d.forward_t(x, true),
                &real,
                &fake_detached,
                ctx,
            );
            opt_d.zero_grad();
            d_out.loss.backward();
            opt_d.step();
            if let Some(c) = plan.clip_weights {
                ganlab_games::clip_parameters(&d_vs.trainable_variables(), c);
            }
            acc.add(&d_out.scalars);
            progress.images_shown += batch as u64;
            progress.critic_steps += 1;
            if last {
                // D's weights get no gradient during G's update: that part of the backward
                // pass is skipped, and D's optimiser state is untouched.
                set_requires_grad(&d_vs, false);
                let g_out = game.g_loss(&d.forward_t(&fake, true));
                opt_g.zero_grad();
                g_out.loss.backward();
                let grad_norm_g = tch::no_grad(|| {
                    let squares: Vec<Tensor> = opt_g
                        .parameters()
                        .iter()
                        .map(|(_, p)| p.grad())
                        .filter(Tensor::defined)
                        .map(|g| g.square().sum(Kind::Float))
                        .collect();
                    Tensor::stack(&squares, 0).sum(Kind::Float).sqrt()
                });
                opt_g.step();
                set_requires_grad(&d_vs, true);
                acc.add(&g_out.scalars);
                acc.add(&[("grad_norm_g", grad_norm_g)]);
                // Divergence: a non-finite loss stops the run before anything is saved from it.
                let (loss_d, loss_g) = (d_out.loss.double_value(&[]), g_out.loss.double_value(&[]));
                if !loss_d.is_finite() || !loss_g.is_finite() {
                    let last_good = newest_snapshot(run_dir)?
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "none".into());
                    anyhow::bail!(
                        "diverged at generator step {} ({:.3} kimg): loss_d = {loss_d}, loss_g = {loss_g}; \
                         nothing was saved from this point; last good snapshot: {last_good}",
                        progress.critic_steps / plan.critic_steps as u64,
                        progress.images_shown as f64 / 1000.0
                    );
                }
                if nets.g_ema.is_some() {
                    update_ema(&ema_vars, config.progan.ema_beta);
                }
            }
        }
        progress.batches = batches.position();
        bar.set_position(progress.images_shown.min(total_images));
        bar.set_message(format!(
            "kimg {:.1}/{:.1}",
            progress.images_shown as f64 / 1000.0,
            total_images as f64 / 1000.0
        ));

        let interrupted = STOP_REQUESTED.swap(false, std::sync::atomic::Ordering::SeqCst);
        if interrupted {
            let path =
                checkpoint.save(false, opt_g.as_ref(), opt_d.as_ref(), progress, last_lod)?;
            let message = format!(
                "interrupted at {:.3} kimg; continue with --resume {}",
                progress.images_shown as f64 / 1000.0,
                run_dir.display()
            );
            tracing::warn!(snapshot = %path.display(), "{message} (snapshot written)");
            return conclude(
                run_dir,
                progress,
                &monitor,
                last_stats,
                last_grid,
                path,
                StopReason::Interrupted,
                message,
            );
        }
        let done = progress.images_shown >= total_images;
        if progress.images_shown >= next_tick_at || done {
            progress.ticks += 1;
            while next_tick_at <= progress.images_shown {
                next_tick_at += tick_images;
            }
            let tick_seconds = tick_start.elapsed().as_secs_f64();
            let tick_images_shown = progress.images_shown - tick_start_images;
            let mut stats = Map::new();
            stats.insert("tick".into(), json!(progress.ticks));
            stats.insert("kimg".into(), json!(progress.images_shown as f64 / 1000.0));
            stats.insert("wall_s".into(), json!(start.elapsed().as_secs_f64()));
            stats.insert(
                "images_per_s".into(),
                json!(tick_images_shown as f64 / tick_seconds.max(1e-9)),
            );
            stats.insert("lr_g".into(), json!(opt_g.lr()));
            stats.insert("lr_d".into(), json!(opt_d.lr()));
            if let (Some(schedule), Some(_)) = (&schedule, &phase) {
                // Where the schedule stands at this tick's image count.
                let p = schedule.at(progress.images_shown);
                stats.insert("resolution".into(), json!(p.resolution));
                stats.insert("alpha".into(), json!(p.alpha));
                stats.insert("lod".into(), json!(p.lod));
                stats.insert("batch_size".into(), json!(p.batch_size));
            }
            stats.extend(acc.take_means());
            let samples = tch::no_grad(|| {
                let samples = sampler.forward_t(&fixed_z, false);
                // Progressive runs: show low resolutions at the final size (nearest neighbour).
                let side = samples.size().get(2).copied().unwrap_or(0);
                if samples.dim() == 4 && side < config.resolution {
                    samples.upsample_nearest2d([config.resolution, config.resolution], None, None)
                } else {
                    samples
                }
            });
            let (grid_path, sample_stats) =
                data.save_samples(&samples, config, run_dir, progress.images_shown)?;
            stats.extend(sample_stats);
            diagnose(&mut stats, &samples, &real_diversity, &config.game);
            let mut verdict = Verdict::Continue;
            if eval_images > 0 && (progress.images_shown >= next_eval_at || done) {
                while next_eval_at <= progress.images_shown {
                    next_eval_at += eval_images;
                }
                let kimg = progress.images_shown as f64 / 1000.0;
                let result = if config.is_toy() {
                    Value::Object(stats.clone())
                } else {
                    if real_eval.is_none() {
                        real_eval = Some(real_eval_set(config, &data, device)?);
                    }
                    let real = real_eval.as_ref().context("real evaluation images")?;
                    let fake = fake_eval_set(sampler, config, device);
                    let domain = matches!(config.dataset.as_str(), "mnist" | "fashion-mnist");
                    let cfg = crate::eval::EvalConfig {
                        real: config.dataset.clone(),
                        fake: "generator".into(),
                        metrics: eval_metrics.clone(),
                        n: config.evaluation.n,
                        classifier: domain.then(|| config.dataset.clone()),
                        detector: None,
                        seed: config.seed,
                        device: config.device.clone(),
                        json: None,
                    };
                    crate::eval::evaluate_sets(&cfg, real, &fake, device)?
                };
                // Whatever randomness the evaluation used (a classifier trained on first use, the
                // real subset), the training stream continues from a seed of (seed, images).
                tch::manual_seed(stream_seed(
                    config.seed ^ AFTER_EVAL_SALT,
                    progress.images_shown,
                ));
                let summary = eval_summary(&eval_metrics, &result);
                let mut warnings: Vec<String> = coverage_warning(&result, &class_names)
                    .into_iter()
                    .collect();
                if let Some(value) = summary
                    .get(monitor.primary.as_str())
                    .and_then(Value::as_f64)
                {
                    let o = monitor.observe(kimg, value);
                    warnings.extend(o.warnings.iter().cloned());
                    stats.insert("eval_slope_per_kimg".into(), json!(o.slope_per_kimg));
                    if o.improved && config.evaluation.keep_best {
                        let best = checkpoint.save(
                            true,
                            opt_g.as_ref(),
                            opt_d.as_ref(),
                            progress,
                            last_lod,
                        )?;
                        write_json_atomically(
                            &run_dir.join("best.json"),
                            &json!({"metric": monitor.primary, "value": value, "kimg": kimg, "snapshot": best.file_name().map(|n| n.to_string_lossy().to_string())}),
                        )?;
                    }
                    verdict = o.verdict;
                }
                if let Some((value, at)) = monitor.best {
                    stats.insert(
                        "eval_best".into(),
                        json!({"metric": monitor.primary, "value": value, "kimg": at}),
                    );
                }
                let shown: Vec<String> = summary
                    .iter()
                    .filter(|(k, _)| *k != "coverage_missing")
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect();
                tracing::info!("evaluation at {kimg:.1} kimg: {}", shown.join(", "));
                stats.insert("eval".into(), Value::Object(summary));
                add_warnings(&mut stats, warnings);
            }
            let stats = Value::Object(stats);
            let mut line = serde_json::to_string(&stats)?;
            line.push('\n');
            stats_file
                .write_all(line.as_bytes())
                .with_context(|| format!("cannot append to {}", stats_path.display()))?;
            stats_file.flush()?;

            last_grid = grid_path;
            tracing::info!(
                "tick {} kimg {:.1} loss_d {:.4} loss_g {:.4} d_real {:.3} d_fake {:.3} {:.1} img/s",
                progress.ticks,
                progress.images_shown as f64 / 1000.0,
                stats["loss_d"].as_f64().unwrap_or(f64::NAN),
                stats["loss_g"].as_f64().unwrap_or(f64::NAN),
                stats["d_real"].as_f64().unwrap_or(f64::NAN),
                stats["d_fake"].as_f64().unwrap_or(f64::NAN),
                stats["images_per_s"].as_f64().unwrap_or(f64::NAN),
            );
            if let Some(covered) = stats.get("modes_covered") {
                tracing::info!(
                    "tick {}: {} of {} modes covered, {:.1}% high-quality samples, JSD {:.4}",
                    progress.ticks,
                    covered,
                    stats["modes"],
                    100.0 * stats["high_quality_share"].as_f64().unwrap_or(f64::NAN),
                    stats["jsd_to_uniform"].as_f64().unwrap_or(f64::NAN)
                );
            }
            last_stats = stats;
            // Divergence in the weights: never save a snapshot with a non-finite number.
            for (prefix, vs) in &checkpoint.networks {
                for (name, t) in vs.variables() {
                    if !bool::try_from(t.isfinite().all()).unwrap_or(false) {
                        let last_good = newest_snapshot(run_dir)?
                            .map(|p| p.display().to_string())
                            .unwrap_or_else(|| "none".into());
                        anyhow::bail!(
                            "diverged by {:.3} kimg: {prefix}.{name} holds a NaN or infinite value; last good snapshot: {last_good}",
                            progress.images_shown as f64 / 1000.0
                        );
                    }
                }
            }
            if !done && config.snapshot_ticks > 0 && progress.ticks % config.snapshot_ticks == 0 {
                let path =
                    checkpoint.save(false, opt_g.as_ref(), opt_d.as_ref(), progress, last_lod)?;
                tracing::info!(snapshot = %path.display(), "snapshot written");
                tch::manual_seed(stream_seed(config.seed, progress.images_shown));
            }
            let stop = match &verdict {
                Verdict::Continue => None,
                Verdict::TargetReached { metric, value, target } => Some((
                    StopReason::TargetReached,
                    format!("target reached: {metric} = {value:.4} at {:.1} kimg (target {target})", progress.images_shown as f64 / 1000.0),
                )),
                Verdict::Plateau { metric, best, best_kimg, evaluations } => Some((
                    StopReason::Plateau,
                    format!(
                        "plateau: {metric} has not improved by more than {} for {evaluations} evaluations (best {best:.4} at {best_kimg:.1} kimg)",
                        config.evaluation.min_delta
                    ),
                )),
            };
            if let Some((reason, message)) = stop {
                let snapshot =
                    checkpoint.save(false, opt_g.as_ref(), opt_d.as_ref(), progress, last_lod)?;
                tracing::info!(snapshot = %snapshot.display(), "stopped early: {message}");
                return conclude(
                    run_dir, progress, &monitor, last_stats, last_grid, snapshot, reason, message,
                );
            }
            tick_start = Instant::now();
            tick_start_images = progress.images_shown;
        }
    }
    let snapshot = checkpoint.save(false, opt_g.as_ref(), opt_d.as_ref(), progress, last_lod)?;
    let message = format!(
        "trained the planned {:.1} kimg ({:.0} s in this session)",
        progress.images_shown as f64 / 1000.0,
        start.elapsed().as_secs_f64()
    );
    tracing::info!(snapshot = %snapshot.display(), "finished: {message}");
    conclude(
        run_dir,
        progress,
        &monitor,
        last_stats,
        last_grid,
        snapshot,
        StopReason::Finished,
        message,
    )
}

/// Ends a run: writes `outcome.json` and returns the summary.
#[allow(clippy::too_many_arguments)]
fn conclude(
    run_dir: &Path,
    progress: Progress,
    monitor: &Monitor,
    last_stats: Value,
    last_grid: PathBuf,
    snapshot: PathBuf,
    stop: StopReason,
    message: String,
) -> Result<RunSummary> {
    write_outcome(
        run_dir,
        stop.name(),
        &message,
        Some(progress),
        Some(monitor),
    )?;
    Ok(RunSummary {
        run_dir: run_dir.to_path_buf(),
        images_shown: progress.images_shown,
        ticks: progress.ticks,
        last_stats,
        snapshot,
        last_grid,
        stop,
        message,
    })
}

/// Critic steps per generator step of a game with its default options.
pub fn critic_steps_of(game: &str) -> Result<usize> {
    Ok(game_by_name(game, GameOptions::default())?
        .plan()
        .critic_steps)
}

/// The data of a run: images (grids per tick) or 2-D points (scatter plots and mode metrics).
pub enum TrainingData {
    Images(ImageDataset),
    Points(ToyDataset),
}

/// Points of a toy dataset (Gulrajani et al. 2017 sample 100,000 for the 25-Gaussian grid).
const TOY_POINTS: usize = 100_000;
/// Generated points per tick for the scatter plot and the mode metrics (PacGAN: 2,500).
const TOY_EVAL_POINTS: i64 = 2_500;

impl TrainingData {
    /// Loads the dataset of `config`.
    pub fn load(config: &TrainConfig) -> Result<TrainingData> {
        let context = || format!("loading dataset `{}`", config.dataset);
        if config.is_toy() {
            let data = ganlab_data::toy_dataset(&config.dataset, TOY_POINTS, config.seed)
                .with_context(context)?;
            return Ok(TrainingData::Points(data));
        }
        let request = ganlab_data::DatasetRequest {
            data_dir: config.data_dir.clone(),
            channels: config.channels.unwrap_or(3),
            ..ganlab_data::DatasetRequest::new(&config.dataset, config.resolution)
        };
        Ok(TrainingData::Images(
            ganlab_data::load(&request).with_context(context)?,
        ))
    }

    /// Every sample, [N, ...].
    pub fn samples(&self) -> &Tensor {
        match self {
            TrainingData::Images(d) => &d.images,
            TrainingData::Points(d) => &d.points,
        }
    }

    /// Number of samples.
    pub fn len(&self) -> i64 {
        self.samples().size()[0]
    }

    /// Whether there is no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Image channels (None for points).
    pub fn channels(&self) -> Option<i64> {
        match self {
            TrainingData::Images(d) => Some(d.channels()),
            TrainingData::Points(_) => None,
        }
    }

    /// Where the data came from.
    pub fn source(&self) -> String {
        match self {
            TrainingData::Images(d) => d.source.clone(),
            TrainingData::Points(d) => {
                format!("generated:{} (Gulrajani et al. 2017 toy code)", d.name)
            }
        }
    }

    /// Size of the fixed latent batch that is drawn at every tick.
    pub fn fixed_batch_size(&self, config: &TrainConfig) -> i64 {
        match self {
            TrainingData::Images(_) => config.grid_images,
            TrainingData::Points(_) => TOY_EVAL_POINTS,
        }
    }

    /// Writes `reals.png`: a grid of training images, or the data's scatter plot.
    pub fn save_reals(&self, config: &TrainConfig, run_dir: &Path) -> Result<()> {
        let path = run_dir.join("reals.png");
        match self {
            TrainingData::Images(d) => {
                let n = config.grid_images.min(d.len());
                grid::save_grid(&d.images.narrow(0, 0, n), grid::square_columns(n), &path)
            }
            TrainingData::Points(d) => {
                let empty = Tensor::zeros([0, 2], (Kind::Float, tch::Device::Cpu));
                scatter::save_scatter(
                    &d.points
                        .narrow(0, 0, TOY_EVAL_POINTS.min(d.points.size()[0])),
                    &empty,
                    &d.centers,
                    &path,
                )
            }
        }
    }

    /// Writes the tick's picture of generated samples and returns its path and any statistics
    /// computed from the samples (the toy mode metrics).
    pub fn save_samples(
        &self,
        samples: &Tensor,
        config: &TrainConfig,
        run_dir: &Path,
        images_shown: u64,
    ) -> Result<(PathBuf, Map<String, Value>)> {
        let kimg = images_shown as f64 / 1000.0;
        match self {
            TrainingData::Images(_) => {
                let path = run_dir.join(format!("fakes-kimg{kimg:07.2}.png"));
                grid::save_grid(samples, grid::square_columns(config.grid_images), &path)?;
                Ok((path, Map::new()))
            }
            TrainingData::Points(d) => {
                let path = run_dir.join(format!("scatter-kimg{kimg:07.2}.png"));
                let reals = d
                    .points
                    .narrow(0, 0, TOY_EVAL_POINTS.min(d.points.size()[0]));
                scatter::save_scatter(&reals, samples, &d.centers, &path)?;
                let metrics = ganlab_metrics::toy_mode_metrics(samples, &d.centers, d.std)?;
                let mut stats = Map::new();
                stats.insert("modes".into(), json!(metrics.modes));
                stats.insert("modes_covered".into(), json!(metrics.modes_covered));
                stats.insert(
                    "high_quality_share".into(),
                    json!(metrics.high_quality_share),
                );
                stats.insert("jsd_to_uniform".into(), json!(metrics.jsd_to_uniform));
                Ok((path, stats))
            }
        }
    }
}
