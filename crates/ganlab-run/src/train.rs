//! The training loop. It drives a game (from `ganlab-games`) without knowing its formulas: the
//! game returns losses and scalars, and its `LoopPlan` says how many critic steps to take and
//! whether to clip weights. Progress is counted in images shown (kimg), not epochs.

use crate::config::{Provenance, RunConfig, TrainConfig};
use crate::data::{mean_pairwise_distance, TrainingData};
use crate::eval::ImageSet;
use crate::evaluation::Evaluation;
use crate::files::write_json_atomically;
use crate::metric::Metric;
use crate::monitor::{coverage_warning, eval_summary, Monitor, Verdict};
use crate::records::{BestSnapshot, Outcome};
use crate::snapshot::{self, Progress};
use crate::stats::{BestEvaluation, StatsLog, TickStats};
use crate::{device, logging};
use anyhow::{bail, Context, Result};
use ganlab_data::ImageSource;
use ganlab_dist::Dist;
use ganlab_games::{Game, GameName};
use ganlab_layers::ConditionalModuleT;
use ganlab_train::{
    optimizer_settings, OptimizerOverrides, OptimizerSettings, SampleKind, Trainer, TrainerSettings,
};
use indicatif::{ProgressBar, ProgressDrawTarget};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
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
    /// `time_budget_s` seconds of training steps were spent.
    TimeBudget,
}

impl StopReason {
    /// The name written to `outcome.json`.
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Finished => "finished",
            StopReason::Interrupted => "interrupted",
            StopReason::TargetReached => "target-reached",
            StopReason::Plateau => "plateau",
            StopReason::TimeBudget => "time-budget",
        }
    }
}

/// What a finished run left behind.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_dir: PathBuf,
    pub images_shown: u64,
    pub ticks: u64,
    /// Generator steps taken (each with its critic steps).
    pub generator_steps: u64,
    /// The last tick's statistics.
    pub last_stats: TickStats,
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

    fn take_means(&mut self) -> BTreeMap<String, f64> {
        std::mem::take(&mut self.sums)
            .into_iter()
            .map(|(name, (sum, count))| (name.to_string(), sum.double_value(&[]) / count as f64))
            .collect()
    }
}

/// A tick whose steps spent more than this share of its time waiting for real batches is
/// reported as input bound (the loader, not the networks, sets the pace) ...
const INPUT_BOUND_SHARE: f64 = 0.5;
/// ... when the tick lasted at least this many seconds (the first batches of a run are decoded
/// before anything can be prefetched, which dominates a very short tick).
const INPUT_BOUND_MIN_TICK_S: f64 = 5.0;

/// The warning for a tick whose steps spent `share` of its `tick_seconds` waiting for real
/// batches from `source` (its description), if that makes it input bound.
fn input_bound_warning(share: f64, tick_seconds: f64, source: &str) -> Option<String> {
    if share <= INPUT_BOUND_SHARE || tick_seconds < INPUT_BOUND_MIN_TICK_S {
        return None;
    }
    let advice = match source.starts_with("archive:") {
        true => "",
        false => "; a prepared archive (`gan dataset create`) is read without decoding",
    };
    Some(format!(
        "input bound: {:.0}% of the tick's {tick_seconds:.0} s went to waiting for real batches from {source}{advice}",
        100.0 * share.min(1.0)
    ))
}

/// Failure diagnostics of a tick, added to its statistics with a one-line warning each:
/// collapse of the sample diversity and a discriminator that has won. `enlarged`: the factor
/// by which the samples are shown enlarged (a progressive run's early stages), at which size
/// their diversity is compared with the real images'.
fn diagnose(
    stats: &mut TickStats,
    samples: &Tensor,
    enlarged: f64,
    real_diversity: &Option<f64>,
    game: GameName,
) {
    let mut warnings: Vec<String> = Vec::new();
    if let Some(real) = real_diversity {
        let diversity = mean_pairwise_distance(samples) * enlarged;
        stats.sample_diversity = Some(diversity / real.max(1e-12));
        if diversity < 0.2 * real {
            warnings.push(format!(
                "mode collapse: the fixed-latent samples are {:.0}% as diverse as real images (mean pairwise distance)",
                100.0 * diversity / real.max(1e-12)
            ));
        }
    }
    let logistic = matches!(game, GameName::NonSaturating | GameName::Minimax);
    if let (true, Some(d_real), Some(d_fake), Some(grad)) = (
        logistic,
        stats.scalars.get("d_real").copied(),
        stats.scalars.get("d_fake").copied(),
        stats.scalars.get("grad_norm_g").copied(),
    ) {
        if d_real - d_fake > 0.98 && grad < 1e-2 {
            warnings.push(format!(
                "discriminator winning: D(real) − D(fake) = {:.3} and G's gradient norm is {grad:.2e}",
                d_real - d_fake
            ));
        }
    }
    add_warnings(stats, warnings);
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
        m.best.map(|(value, kimg)| BestEvaluation {
            metric: m.primary.to_string(),
            value,
            kimg,
        })
    });
    let outcome = Outcome {
        stop_reason: reason.to_string(),
        message: message.to_string(),
        kimg: progress.map(|p| p.images_shown as f64 / 1000.0),
        ticks: progress.map(|p| p.ticks),
        best,
        evaluations: monitor.map(|m| m.history.len()),
    };
    write_json_atomically(
        &run_dir.join("outcome.json"),
        &serde_json::to_value(outcome)?,
    )
}

/// Retention of periodic snapshots (see [`snapshot::prune`]), logged.
fn prune_snapshots(run_dir: &Path, keep: usize) -> Result<()> {
    for old in snapshot::prune(run_dir, keep)? {
        tracing::info!(snapshot = %old.display(), "deleted by the retention rule (keep_snapshots = {keep})");
    }
    Ok(())
}

/// Logs the game's loop plan and optimisers, and warns of the options it does not read.
fn log_game(
    config: &TrainConfig,
    game: &dyn Game,
    (opt_g, opt_d): (&OptimizerSettings, &OptimizerSettings),
) {
    let plan = game.plan();
    tracing::info!(
        critic_steps = plan.critic_steps,
        clip_weights = ?plan.clip_weights,
        optimizer_g = %opt_g.describe(),
        optimizer_d = %opt_d.describe(),
        "game `{}` loop plan",
        game.name()
    );
    for unused in config.game.unused_options(&config.game_options) {
        tracing::warn!("{unused}");
    }
}

/// Logs one-line warnings and appends them to the tick's `warnings`.
fn add_warnings(stats: &mut TickStats, warnings: Vec<String>) {
    for w in &warnings {
        tracing::warn!("{w}");
    }
    stats.warnings.extend(warnings);
}

/// The engine's data source: the whole dataset, or its `max_images` subset (listed in
/// `subset.json` by the writing process).
fn training_source(
    config: &TrainConfig,
    data: &TrainingData,
    device: tch::Device,
) -> Result<(Box<dyn ImageSource>, Option<Value>)> {
    let source = data.source_on(device);
    let Some(n) = config.max_images else {
        return Ok((source, None));
    };
    let seed = config.seed ^ SUBSET_SALT;
    let subset = ganlab_data::Subset::new(source, n, seed)
        .with_context(|| format!("dataset `{}`", config.dataset))?;
    let record = serde_json::json!({
        "max_images": n,
        "of": data.len(),
        "seed": seed,
        "chosen_by": "ChaCha8 shuffle of the indices, the first max_images, ascending",
        "indices": subset.indices(),
    });
    Ok((Box::new(subset), Some(record)))
}

/// What a run (or a resumed one, once its snapshot has loaded) writes before its first step:
/// `config.json`, `subset.json` with `max_images`, and `reals.png`.
fn write_run_files(
    run_dir: &Path,
    resolved: &RunConfig,
    subset: Option<Value>,
    data: &TrainingData,
) -> Result<()> {
    write_json_atomically(&run_dir.join("config.json"), &resolved.to_json()?)?;
    if let Some(record) = subset {
        write_json_atomically(&run_dir.join("subset.json"), &record)?;
        tracing::info!(
            "training on {} of the dataset's {} samples (subset.json)",
            record["max_images"],
            data.len()
        );
    }
    data.save_reals(&resolved.config, run_dir)
}

/// Training and held-out reals the overfitting diagnostic judges (each, at most).
const HELD_OUT_N: i64 = 256;

/// The classes a `cond` run conditions on: the data's, checked (a dataset without labels, or
/// a resumed run whose data has a different number of classes, is named); `None` without
/// `cond`.
fn conditional_classes(config: &TrainConfig, data: &TrainingData) -> Result<Option<i64>> {
    if !config.cond {
        return Ok(None);
    }
    let source = data.source_on(tch::Device::Cpu);
    if !source.is_labelled() {
        bail!(
            "--cond (config `cond`) needs class labels, and {} has none: expected MNIST, \
             Fashion-MNIST, a folder of class sub-folders, a zip with dataset.json labels or a \
             labelled archive (at least two classes)",
            source.description()
        );
    }
    let classes = source.class_names().len() as i64;
    if let Some(k) = config.classes.filter(|&k| k != classes) {
        bail!(
            "config `classes` = {k}, but {} has {classes} classes (the networks are built for \
             the data's classes)",
            source.description()
        );
    }
    let names = source.class_names();
    let shown: Vec<String> = names
        .iter()
        .take(20)
        .enumerate()
        .map(|(i, name)| format!("{i} {name}"))
        .collect();
    let more = match names.len() > shown.len() {
        true => format!(", ... ({} in all)", names.len()),
        false => String::new(),
    };
    tracing::info!(
        "conditioned on {classes} classes (gan generate --class takes the index or the name): {}{more}",
        shown.join(", ")
    );
    Ok(Some(classes))
}

/// The salt of the `max_images` subset's seed (apart from the run's other seeded draws).
const SUBSET_SALT: u64 = 0x5AB5_E7ED;

/// The real images the training-time metrics compare against, drawn from the run's own data
/// source (nothing is loaded twice): for a built-in dataset the same seeded subset `gan eval
/// --real NAME` takes (so that FID's real-feature cache is shared), else a seeded subset of the
/// training images.
fn real_eval_set(config: &TrainConfig, source: &dyn ImageSource) -> Result<ImageSet> {
    let (images, labels, take, total) =
        crate::eval::labelled_seeded_subset(source, config.evaluation.n, config.seed)?;
    let dataset = config.dataset.clone();
    Ok(
        match config.domain_classifier().is_some() && config.data_dir.is_none() {
            true => ImageSet::held(
                images,
                format!("{dataset} ({take} of {total} images)"),
                Some(dataset),
            ),
            false => ImageSet::held(
                images,
                format!("{dataset} ({take} of {total} training images)"),
                None,
            ),
        }
        .with_labels(labels),
    )
}

/// `n` samples of the generator from the same seeded latents at every evaluation, at the final
/// resolution (progressive runs: nearest-neighbour upsampling).
fn fake_eval_set(
    sampler: &dyn ConditionalModuleT,
    config: &TrainConfig,
    device: tch::Device,
) -> crate::eval::ImageSet {
    tch::manual_seed(ganlab_train::stream_seed(config.seed, EVAL_LATENT_SALT));
    crate::eval::ImageSet::held(
        crate::eval::sample_pixels(
            sampler,
            config.evaluation.n,
            config.resolved_z_dim(),
            config.resolution,
            device,
        ),
        "generator during training".into(),
        None,
    )
    .with_labels(crate::eval::sample_labels(
        config.evaluation.n,
        sampler.classes(),
        tch::Device::Cpu,
    ))
}

/// The training-time evaluation's samples in a data-parallel run: every rank draws the same
/// `n` latents as one process would ([`fake_eval_set`]), generates its share of them and, for
/// FID / KID, computes their detector features; rank 0 gathers the samples (as 8-bit pixels)
/// and the features, in latent order, and gets the set one process would have sampled. The
/// others get `None`. SWD and the classifier metrics are then computed on rank 0.
fn spread_fake_eval(
    dist: &Dist,
    sampler: &dyn ConditionalModuleT,
    config: &TrainConfig,
    cfg: &crate::eval::EvalConfig,
    device: tch::Device,
) -> Result<Option<(ImageSet, Option<Tensor>)>> {
    let n = config.evaluation.n;
    let (ranks, rank) = (dist.world_size() as i64, dist.rank() as i64);
    tch::manual_seed(ganlab_train::stream_seed(config.seed, EVAL_LATENT_SALT));
    let z = crate::eval::eval_latents(n, config.resolved_z_dim(), device);
    // Equal shares for the gathers: ceil(n / ranks) each, the last ones padded with latent 0
    // (their samples are dropped).
    let share = (n + ranks - 1) / ranks;
    let valid = |r: i64| (n - r * share).clamp(0, share);
    let mine = z.narrow(0, (rank * share).min(n), valid(rank));
    let pad = z
        .narrow(0, 0, 1)
        .expand([share - valid(rank), z.size()[1]], false);
    let mine = Tensor::cat(&[mine, pad], 0);
    // A conditional generator's classes as one process would draw them, padded with class 0.
    let labels = crate::eval::sample_labels(n, sampler.classes(), device).map(|all| {
        let mine = all.narrow(0, (rank * share).min(n), valid(rank));
        let pad = all.narrow(0, 0, 1).expand([share - valid(rank)], false);
        Tensor::cat(&[mine, pad], 0)
    });
    let pixels = crate::eval::pixels_of(sampler, &mine, labels.as_ref(), config.resolution);
    let set = ImageSet::held(
        pixels.shallow_clone(),
        "generator during training".into(),
        None,
    );
    let features = crate::eval::fake_detector_features(cfg, &set, device)?;
    // Gathered on the training device (NCCL takes CUDA tensors; Gloo, CPU ones).
    let on = |t: &Tensor| match device {
        tch::Device::Cuda(_) => t.to_device(device),
        _ => t.shallow_clone(),
    };
    let all_pixels = dist.all_gather(&on(&pixels.to_kind(Kind::Uint8)))?;
    let all_features = match &features {
        Some(f) => Some(dist.all_gather(&on(f))?),
        None => None,
    };
    if !dist.is_main() {
        return Ok(None);
    }
    let keep: Vec<i64> = (0..ranks)
        .flat_map(|r| (r * share)..(r * share + valid(r)))
        .collect();
    let keep = Tensor::from_slice(&keep).to_device(all_pixels.device());
    let images = all_pixels
        .index_select(0, &keep)
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Float);
    let features = all_features.map(|f| {
        f.index_select(0, &keep.to_device(f.device()))
            .to_device(tch::Device::Cpu)
    });
    tracing::debug!("evaluation samples and features from {ranks} ranks ({share} each)");
    Ok(Some((
        ImageSet::held(images, "generator during training".into(), None).with_labels(
            crate::eval::sample_labels(n, sampler.classes(), tch::Device::Cpu),
        ),
        features,
    )))
}

/// Salts of the seeds of evaluation latents and of the training stream after an evaluation.
const EVAL_LATENT_SALT: u64 = 0x5EED_E7A1;
const AFTER_EVAL_SALT: u64 = 0xAF7E_2E7A;

fn progress_bar(total_images: u64, interactive: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(total_images),
        if interactive {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    let style = crate::logging::with_rate(
        "{spinner} [{elapsed_precise}] {wide_bar} {msg} | {rate} | ETA {eta}",
        "img/s",
    );
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
    train_from(config, run_dir, reporting, None, None, Vec::new())
}

/// [`train`] (or, with `resume`, [`resume`]) as one rank of a data-parallel group: every rank
/// calls it with the same config and run directory. The batch size is the global batch, split
/// across the ranks (see [`Trainer::data_parallel`]); rank 0 alone writes the run directory
/// (config, log, stats, grids, snapshots, evaluations, outcome) and decides when to stop; the
/// others train their slices and follow. A resumed run starts from rank 0's newest snapshot,
/// whatever number of ranks wrote it.
pub fn train_distributed(
    config: TrainConfig,
    run_dir: &Path,
    reporting: Reporting,
    dist: Arc<Dist>,
    resume: bool,
) -> Result<RunSummary> {
    let snapshot = match resume {
        false => None,
        true => Some(shared_snapshot(&dist, run_dir)?),
    };
    let changes = match (resume, dist.is_main()) {
        (true, true) => config_changes(run_dir, &config),
        _ => Vec::new(),
    };
    let snapshot_path = snapshot.as_ref().map(|s| s.path().to_path_buf());
    let result = train_from(
        config,
        run_dir,
        reporting,
        snapshot_path,
        Some(dist),
        changes,
    );
    drop(snapshot);
    result
}

/// The snapshot a distributed run resumes from: rank 0's newest, read by rank 0 and sent to the
/// others (which need not see rank 0's disk), who keep it in a temporary file.
enum SharedSnapshot {
    Main(PathBuf),
    Copy(tempfile::NamedTempFile),
}

impl SharedSnapshot {
    fn path(&self) -> &Path {
        match self {
            SharedSnapshot::Main(p) => p,
            SharedSnapshot::Copy(f) => f.path(),
        }
    }
}

fn shared_snapshot(dist: &Dist, run_dir: &Path) -> Result<SharedSnapshot> {
    if dist.is_main() {
        let path = newest_snapshot(run_dir)?.with_context(|| {
            format!("--resume {}: no snapshot to resume from", run_dir.display())
        })?;
        let bytes = std::fs::read(&path)
            .with_context(|| format!("cannot read the snapshot {}", path.display()))?;
        dist.broadcast_bytes(Some(&bytes), 0)?;
        return Ok(SharedSnapshot::Main(path));
    }
    let bytes = dist.broadcast_bytes(None, 0)?;
    let mut file = tempfile::Builder::new()
        .prefix("ganlab-resume-")
        .suffix(".safetensors")
        .tempfile()
        .context("cannot create a temporary file for rank 0's snapshot")?;
    std::io::Write::write_all(&mut file, &bytes)
        .context("cannot write rank 0's snapshot to a temporary file")?;
    Ok(SharedSnapshot::Copy(file))
}

pub use crate::snapshot::newest as newest_snapshot;

/// Continues the run in `run_dir` from its newest snapshot with `config` (the caller checks
/// that it matches the saved one). The result equals an uninterrupted run of the same seed.
pub fn resume(config: TrainConfig, run_dir: &Path, reporting: Reporting) -> Result<RunSummary> {
    let snapshot = newest_snapshot(run_dir)?
        .with_context(|| format!("--resume {}: no snapshot to resume from", run_dir.display()))?;
    let changes = config_changes(run_dir, &config);
    train_from(config, run_dir, reporting, Some(snapshot), None, changes)
}

/// The top-level keys of `config` that differ from the run's saved `config.json`, as
/// `key: old -> new` (`key: old -> default` for one set back to its default, which
/// `config.json` leaves out: `--precision fp32` on a bf16 run). Keys left unset in `config` are
/// filled in from the data (`channels`, `classes`, ...), and an `auto` (arch, d_norm, ...) is
/// resolved when the run starts and saved resolved: neither counts.
pub fn config_changes(run_dir: &Path, config: &TrainConfig) -> Vec<String> {
    // The saved config as this version writes it (an older one may hold default sections).
    let saved = RunConfig::read(run_dir)
        .ok()
        .and_then(|saved| serde_json::to_value(saved.config).ok());
    let (Some(Value::Object(before)), Ok(Value::Object(after))) =
        (saved, serde_json::to_value(config))
    else {
        return Vec::new();
    };
    const RESOLVED_WHEN_LEFT_OUT: [&str; 2] = ["classes", "d_norm"];
    let changed = after.iter().filter(|(k, v)| {
        !v.is_null() && v.as_str() != Some("auto") && before.get(k.as_str()) != Some(v)
    });
    let mut changes: Vec<String> = changed
        .map(|(k, v)| {
            format!(
                "{k}: {} -> {v}",
                before.get(k.as_str()).cloned().unwrap_or(Value::Null)
            )
        })
        .collect();
    changes.extend(
        before
            .iter()
            .filter(|(k, _)| !after.contains_key(k.as_str()))
            .filter(|(k, _)| !RESOLVED_WHEN_LEFT_OUT.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}: {v} -> default")),
    );
    changes
}

fn train_from(
    mut config: TrainConfig,
    run_dir: &Path,
    reporting: Reporting,
    snapshot: Option<PathBuf>,
    dist: Option<Arc<Dist>>,
    config_changes: Vec<String>,
) -> Result<RunSummary> {
    static ONE_RUN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_RUN_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let writer = dist.as_ref().is_none_or(|d| d.is_main());
    if !writer {
        // The other ranks write nothing: their warnings and errors go to stderr.
        config.validate()?;
        let _log_guard = logging::stderr_only("warn");
        let bar = ProgressBar::hidden();
        return train_logged(&mut config, run_dir, &bar, snapshot.as_deref(), dist);
    }
    // One writer at a time: held until this function returns (or the process dies).
    let _lock = crate::run_dir::lock(run_dir)?;
    config.validate()?;
    let bar = progress_bar((config.kimg * 1000.0).round() as u64, reporting.interactive);
    let _log_guard = logging::log_to_run_dir(run_dir, &bar, reporting.interactive)?;
    if !config_changes.is_empty() {
        tracing::warn!(
            "resuming with a changed config: {}",
            config_changes.join(", ")
        );
    }
    let result = train_logged(&mut config, run_dir, &bar, snapshot.as_deref(), dist);
    bar.finish_and_clear();
    if let Err(err) = &result {
        let described = logging::describe(err);
        tracing::error!("training stopped: {described}");
        let reason = if described.contains("diverged") {
            "diverged"
        } else {
            "error"
        };
        let _ = write_outcome(run_dir, reason, &described, None, None);
    }
    result
}

/// When the next tick and evaluation are due, and the clocks of the tick's rate.
struct Clock {
    total_images: u64,
    tick_images: u64,
    next_tick_at: u64,
    eval_images: u64,
    next_eval_at: u64,
    start: Instant,
    tick_start: Instant,
    tick_start_images: u64,
    /// `train_s` of the snapshot this session resumed from (0 for a new run).
    train_s_before: f64,
    /// Time this session spent outside the steps (ticks: grids, evaluations, snapshots).
    outside_steps: Duration,
    /// Set when the time budget is spent: the tick being done is the last (it evaluates).
    final_tick: bool,
}

impl Clock {
    fn new(config: &TrainConfig, images_shown: u64) -> Clock {
        let tick_images = ((config.tick_kimg * 1000.0).round() as u64).max(1);
        let eval_images = (config.evaluation.every_kimg * 1000.0).round() as u64;
        Clock {
            total_images: (config.kimg * 1000.0).round() as u64,
            tick_images,
            next_tick_at: tick_images * (images_shown / tick_images + 1),
            eval_images,
            next_eval_at: match eval_images {
                0 => u64::MAX,
                every => every * (images_shown / every + 1),
            },
            start: Instant::now(),
            tick_start: Instant::now(),
            tick_start_images: images_shown,
            train_s_before: 0.0,
            outside_steps: Duration::ZERO,
            final_tick: false,
        }
    }

    /// Seconds spent in training steps over every session of the run.
    fn train_s(&self) -> f64 {
        self.train_s_before
            + self
                .start
                .elapsed()
                .saturating_sub(self.outside_steps)
                .as_secs_f64()
    }

    /// Whether a tick ends at `images_shown` (and if so, when the next one is due).
    fn tick_due(&mut self, images_shown: u64) -> bool {
        let due = images_shown >= self.next_tick_at || images_shown >= self.total_images;
        while due && self.next_tick_at <= images_shown {
            self.next_tick_at += self.tick_images;
        }
        due
    }

    /// Whether an evaluation is due at `images_shown` (every run evaluates at its end).
    fn eval_due(&mut self, images_shown: u64) -> bool {
        let due = self.eval_images > 0
            && (images_shown >= self.next_eval_at
                || images_shown >= self.total_images
                || self.final_tick);
        while due && self.next_eval_at <= images_shown {
            self.next_eval_at += self.eval_images;
        }
        due
    }
}

/// A run in progress: the trainer and everything the driver keeps around it.
struct Run<'a> {
    config: &'a TrainConfig,
    run_dir: &'a Path,
    bar: &'a ProgressBar,
    trainer: Trainer,
    data: TrainingData,
    device: tch::Device,
    fixed_z: Tensor,
    /// The classes of the fixed latents' samples for a conditional run (sample `i` of class
    /// `i mod classes`: one grid column per class).
    fixed_labels: Option<Tensor>,
    stats_log: StatsLog,
    monitor: Monitor,
    eval_metrics: Vec<Metric>,
    real_eval: Option<crate::eval::ImageSet>,
    clock: Clock,
    acc: TickAccumulator,
    /// The diversity of real images, the yardstick of the collapse diagnostic.
    real_diversity: Option<f64>,
    last_stats: TickStats,
    last_grid: PathBuf,
    /// TensorBoard's event file (unless `tensorboard` is off).
    tb: Option<crate::tensorboard::EventWriter>,
    /// This process writes the run directory and decides (one process, or rank 0).
    writer: bool,
    /// Training and held-out reals for the overfitting diagnostic (`max_images` runs).
    held_out: Option<(LabelledBatch, LabelledBatch)>,
}

/// Real images with their class labels (`None`: unlabelled data, or not needed).
type LabelledBatch = (Tensor, Option<Tensor>);

/// How long the other ranks wait for rank 0's tick work (grid, evaluation, snapshot) at most.
const TICK_WAIT: Duration = Duration::from_secs(6 * 3600);

/// Why a run stops, and the message that says so.
type Stop = (StopReason, String);

impl<'a> Run<'a> {
    /// Loads the data, builds the players, the game and the optimisers, fills in the resolved
    /// config (written to `config.json`) and, with `resume_from`, continues from that snapshot.
    fn start(
        config: &'a mut TrainConfig,
        run_dir: &'a Path,
        bar: &'a ProgressBar,
        resume_from: Option<&Path>,
        dist: Option<Arc<Dist>>,
    ) -> Result<Run<'a>> {
        let writer = dist.as_ref().is_none_or(|d| d.is_main());
        let device = match &dist {
            // On CUDA each rank uses the device LOCAL_RANK (torchrun's convention).
            Some(d) if config.device.resolve()?.is_cuda() => tch::Device::Cuda(d.local_rank()),
            _ => config.device.resolve()?,
        };
        tch::manual_seed(config.seed as i64);
        tracing::info!(run_dir = %run_dir.display(), device = %device::describe(device), "starting run");
        let data = TrainingData::load(config)?;
        config.resolve_defaults();
        config.channels = data.channels();
        config.classes = conditional_classes(config, &data)?;
        let threads = device::chosen_threads();
        let threads_per_rank = match &dist {
            // Every rank's own count, gathered: each decides for itself from its environment.
            Some(d) => {
                let mine = Tensor::from_slice(&[threads.intra_op as i64]);
                Some(
                    Vec::<i64>::try_from(&d.all_gather(&mine)?)?
                        .into_iter()
                        .map(|n| n as usize)
                        .collect(),
                )
            }
            None => None,
        };
        if writer {
            tracing::info!(
                "threads: {} intra-op, {} for decoding, per process ({}){}",
                threads.intra_op,
                threads
                    .decode
                    .map_or_else(|| "one per core".to_string(), |n| n.to_string()),
                threads.reason,
                threads_per_rank
                    .as_ref()
                    .map_or_else(String::new, |all| format!("; ranks: {all:?}"))
            );
        }
        let provenance = Provenance {
            dataset_source: Some(data.source()),
            dataset_images: Some(data.len()),
            resolved_device: Some(device::describe(device)),
            toolkit_version: Some(crate::VERSION.to_string()),
            threads: Some(threads.intra_op),
            threads_reason: Some(threads.reason.clone()),
            threads_per_rank,
            class_names: config.cond.then(|| data.class_names()),
        };
        tracing::info!(dataset = %config.dataset, source = %data.source(), samples = data.len(), "dataset ready");

        let game = config.game.build(config.game_options)?;
        let plan = game.plan();
        let players = config.build_players(device)?;
        tracing::info!(
            "networks: G {} parameters, D {} parameters",
            ganlab_layers::count_parameters(&players.g_vs),
            ganlab_layers::count_parameters(&players.d_vs)
        );
        let channels_last = device::use_channels_last(config.channels_last, device)
            && players.sample_kind == SampleKind::Images;
        if channels_last {
            players.to_channels_last();
        }
        let overrides = |lr| OptimizerOverrides {
            lr,
            beta1: config.beta1,
            beta2: config.beta2,
        };
        let opt_g = optimizer_settings(plan.optimizer, overrides(config.lr_g));
        let opt_d = optimizer_settings(plan.optimizer, overrides(config.lr_d));
        let optimizers = (opt_g.build(&players.g_vs)?, opt_d.build(&players.d_vs)?);
        config.record_optimizers(&opt_g, &opt_d);
        let fixed_z = Tensor::randn(
            [data.fixed_batch_size(config), players.z_dim],
            (Kind::Float, device),
        );
        log_game(config, game.as_ref(), (&opt_g, &opt_d));
        let resolved = RunConfig {
            config: config.clone(),
            provenance,
        };
        if let Some(growth) = &players.growth {
            tracing::info!(
                "progressive schedule:\n{}",
                growth.schedule.table_until(config.kimg)
            );
            if let Some(shortfall) = growth.schedule.shortfall(config.kimg) {
                tracing::warn!("{shortfall}");
            }
        }
        let (source, subset) = training_source(config, &data, device)?;
        let settings = TrainerSettings {
            batch_size: config.resolved_batch_size(),
            seed: config.seed,
            channels_last,
        };
        let mut trainer = Trainer::new(players, game, optimizers, source, settings);
        if let Some(warning) = trainer.set_precision(config.precision) {
            tracing::warn!("{warning}");
        }
        trainer.set_augmentation(
            ganlab_augment::Augmentation::new(&config.augment, config.ada)
                .map_err(|e| anyhow::anyhow!("config: {e}"))?,
        );
        if config.precision != ganlab_train::Precision::Fp32 {
            tracing::info!(
                "precision {}: the networks compute under libtorch's autocast",
                config.precision
            );
        }
        // A resumed run's snapshot must fit the networks this config builds before anything in
        // the run directory changes: a resume refused here (a grown resolution, other widths)
        // leaves config.json as it was, so the run resumes as before.
        if let Some(path) = resume_from {
            trainer.load_snapshot(path).context(
                "the snapshot does not fit the networks this config builds (a change to their \
                 shape, such as the resolution, a width or cond, cannot be resumed: start a new \
                 run)",
            )?;
        }
        if writer {
            write_run_files(run_dir, &resolved, subset, &data)?;
        }
        let config: &'a TrainConfig = config;
        Run::continue_from(
            config,
            run_dir,
            bar,
            trainer,
            data,
            fixed_z,
            resume_from,
            dist,
        )
    }

    /// The second half of [`Run::start`] (which loaded the snapshot, if any): the stats log,
    /// the random stream and the monitor, whose state is rebuilt from the evaluations recorded
    /// in the kept stats lines, so a resumed run decides exactly as the uninterrupted one.
    #[allow(clippy::too_many_arguments)]
    fn continue_from(
        config: &'a TrainConfig,
        run_dir: &'a Path,
        bar: &'a ProgressBar,
        mut trainer: Trainer,
        data: TrainingData,
        fixed_z: Tensor,
        resume_from: Option<&Path>,
        dist: Option<Arc<Dist>>,
    ) -> Result<Run<'a>> {
        let writer = dist.as_ref().is_none_or(|d| d.is_main());
        let mut stats_log = StatsLog::open_for(run_dir, writer)?;
        if let Some(path) = resume_from {
            let progress = trainer.progress();
            stats_log.truncate_to_tick(progress.ticks)?;
            tracing::info!(snapshot = %path.display(), "resumed at {:.3} kimg (tick {})", progress.images_shown as f64 / 1000.0, progress.ticks);
        }
        if let Some(dist) = dist {
            let ranks = dist.world_size();
            trainer.data_parallel(dist)?;
            tracing::info!(
                "data-parallel over {ranks} ranks ({:?}): {} samples per rank of every batch of {}",
                trainer.dist().map(|d| d.backend()),
                config.resolved_batch_size() / ranks,
                config.resolved_batch_size()
            );
        }
        trainer.reseed_stream();
        let tb = match config.tensorboard && writer {
            true => Some(crate::tensorboard::EventWriter::create(
                run_dir,
                resume_from.map(|_| trainer.progress().images_shown as i64),
            )?),
            false => None,
        };
        let eval_metrics = config.evaluation.resolved_metrics(config);
        let mut monitor = Monitor::new(config);
        let ticks = stats_log.ticks();
        monitor.replay(&ticks);
        let real_diversity = match writer {
            true => data.diversity_yardstick(trainer.source(), fixed_z.size()[0])?,
            false => None,
        };
        let mut clock = Clock::new(config, trainer.progress().images_shown);
        clock.train_s_before = ticks.last().and_then(|t| t.train_s).unwrap_or(0.0);
        if clock.eval_images > 0 {
            tracing::info!(
                "evaluating {} every {} kimg on {} samples; primary metric {}",
                eval_metrics
                    .iter()
                    .map(|m| m.name())
                    .collect::<Vec<_>>()
                    .join(", "),
                config.evaluation.every_kimg,
                config.evaluation.n,
                monitor.primary
            );
        }
        // A resumed run's last picture is the one of the tick it resumes at.
        let last_grid = Some(data.samples_path(run_dir, trainer.progress().images_shown))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| run_dir.join("reals.png"));
        let fixed_labels = crate::eval::sample_labels(
            fixed_z.size()[0],
            trainer.players().classes(),
            fixed_z.device(),
        );
        Ok(Run {
            config,
            run_dir,
            bar,
            device: fixed_z.device(),
            trainer,
            data,
            fixed_labels,
            fixed_z,
            stats_log,
            monitor,
            eval_metrics,
            real_eval: None,
            clock,
            acc: TickAccumulator::default(),
            real_diversity,
            last_stats: TickStats::default(),
            last_grid,
            tb,
            writer,
            held_out: None,
        })
    }

    /// Trains until the planned images are shown, a stop is requested or the monitor stops
    /// the run; every way out goes through [`Run::conclude`].
    fn run(mut self) -> Result<RunSummary> {
        while self.trainer.progress().images_shown < self.clock.total_images {
            let step = self.trainer.step().map_err(|e| self.with_last_good(e))?;
            self.acc.add(&step.scalars);
            let shown = self.trainer.progress().images_shown;
            self.bar.set_position(shown.min(self.clock.total_images));
            self.bar.set_message(format!(
                "kimg {:.1}/{:.1}",
                shown as f64 / 1000.0,
                self.clock.total_images as f64 / 1000.0
            ));
            let mut stop_requested =
                STOP_REQUESTED.swap(false, std::sync::atomic::Ordering::SeqCst);
            if let Some(dist) = self.trainer.dist() {
                // Every rank stops at the same step, whichever got the signal.
                stop_requested = dist.any(stop_requested)?;
            }
            if stop_requested {
                let message = format!(
                    "interrupted at {:.3} kimg; continue with --resume {}",
                    shown as f64 / 1000.0,
                    self.run_dir.display()
                );
                return self.conclude((StopReason::Interrupted, message));
            }
            if self.clock.tick_due(shown) {
                self.clock.final_tick = self.out_of_time()?;
                let work = Instant::now();
                let stop = self.tick()?;
                self.clock.outside_steps += work.elapsed();
                if let Some(stop) = stop {
                    return self.conclude(stop);
                }
                if self.clock.final_tick {
                    let message = format!(
                        "time budget: {:.0} s of training steps (time_budget_s = {}) at {:.3} kimg",
                        self.clock.train_s(),
                        self.config.time_budget_s.unwrap_or(f64::NAN),
                        shown as f64 / 1000.0
                    );
                    return self.conclude((StopReason::TimeBudget, message));
                }
            }
        }
        let message = format!(
            "trained the planned {} kimg ({:.3} kimg shown, {:.0} s in this session)",
            self.config.kimg,
            self.trainer.progress().images_shown as f64 / 1000.0,
            self.clock.start.elapsed().as_secs_f64()
        );
        self.conclude((StopReason::Finished, message))
    }

    /// A divergence error with the run's last good snapshot added; for a batch that could not
    /// be read, a snapshot of the training so far (the step did not start, so nothing is lost).
    fn with_last_good(&self, err: anyhow::Error) -> anyhow::Error {
        if err
            .downcast_ref::<ganlab_train::BatchUnreadable>()
            .is_some()
            && self.writer
        {
            return match self.save_snapshot() {
                Ok(path) => anyhow::anyhow!(
                    "{err:#}; the training so far is saved in {}: fix or remove the file, then --resume {}",
                    path.display(),
                    self.run_dir.display()
                ),
                Err(save) => anyhow::anyhow!("{err:#}; and no snapshot could be written: {save:#}"),
            };
        }
        match err.downcast_ref::<ganlab_train::Diverged>() {
            Some(diverged) => {
                anyhow::anyhow!("{diverged}; last good snapshot: {}", self.last_good())
            }
            None => err,
        }
    }

    /// Whether `time_budget_s` is spent (every rank agrees: the one whose clock says so first).
    fn out_of_time(&self) -> Result<bool> {
        let spent = self
            .config
            .time_budget_s
            .is_some_and(|budget| self.clock.train_s() >= budget);
        match self.trainer.dist() {
            Some(dist) => Ok(dist.any(spent)?),
            None => Ok(spent),
        }
    }

    fn last_good(&self) -> String {
        newest_snapshot(self.run_dir)
            .ok()
            .flatten()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "none".into())
    }

    /// The tick's work, in order: statistics, the sample picture and its diagnostics, the
    /// evaluation, the stats line and log line, the divergence check, the periodic snapshot.
    /// Returns why to stop, if the evaluation says so.
    fn tick(&mut self) -> Result<Option<Stop>> {
        if !self.writer {
            return self.follow_tick();
        }
        self.trainer.count_tick();
        let mut stats = self.tick_statistics();
        self.tick_picture(&mut stats)?;
        let stop = match self.clock.eval_due(self.trainer.progress().images_shown) {
            true => self.evaluate(&mut stats)?,
            false => None,
        };
        self.stats_log.append(&stats)?;
        if let Some(tb) = &mut self.tb {
            let step = self.trainer.progress().images_shown as i64;
            tb.tick_scalars(step, &serde_json::to_value(&stats)?)?;
            tb.png(step, "samples", &self.last_grid)?;
        }
        log_tick(&stats);
        self.last_stats = stats;
        self.check_finite()?;
        let progress = self.trainer.progress();
        if let Some(dist) = self.trainer.dist().cloned() {
            // The others wait here while rank 0 draws, evaluates and logs; then they learn
            // whether the run stops.
            dist.barrier_within(TICK_WAIT)?;
            let code = stop.as_ref().map_or(0, |(reason, _)| stop_code(*reason));
            dist.broadcast_bytes(Some(&[code]), 0)?;
        }
        if self.snapshot_due(stop.is_some()) {
            self.trainer.check_replicas()?;
            let path = self.save_snapshot()?;
            tracing::info!(snapshot = %path.display(), "snapshot written");
            self.trainer.reseed_stream();
        }
        self.clock.tick_start = Instant::now();
        self.clock.tick_start_images = progress.images_shown;
        Ok(stop)
    }

    /// Whether the tick ends with a periodic snapshot (not at the end, nor when stopping: the
    /// final one follows).
    fn snapshot_due(&self, stopping: bool) -> bool {
        let progress = self.trainer.progress();
        let last = progress.images_shown >= self.clock.total_images || self.clock.final_tick;
        !last
            && !stopping
            && self.config.snapshot_ticks > 0
            && progress.ticks.is_multiple_of(self.config.snapshot_ticks)
    }

    /// A tick on a rank other than 0: the same counters and the same reseeds of the random
    /// stream as rank 0's tick (its evaluation's, its snapshot's), and rank 0's decision.
    fn follow_tick(&mut self) -> Result<Option<Stop>> {
        self.trainer.count_tick();
        let _ = self.tick_statistics();
        let progress = self.trainer.progress();
        if self.clock.eval_due(progress.images_shown) {
            if !self.config.is_toy() {
                // This rank's share of the samples and of their detector features.
                let dist = self
                    .trainer
                    .dist()
                    .cloned()
                    .context("a following rank without a group")?;
                let cfg = self.eval_config();
                spread_fake_eval(
                    &dist,
                    self.trainer.players().sampler(),
                    self.config,
                    &cfg,
                    self.device,
                )?;
            }
            reseed_after_eval(self.config, progress.images_shown);
        }
        self.check_finite()?;
        let dist = self
            .trainer
            .dist()
            .cloned()
            .context("a following rank without a group")?;
        dist.barrier_within(TICK_WAIT)?;
        let code = dist.broadcast_bytes(None, 0)?;
        let stop = stop_of_code(code.first().copied().unwrap_or(0)).map(|reason| {
            (
                reason,
                format!("rank 0 stopped the run ({})", reason.name()),
            )
        });
        if self.snapshot_due(stop.is_some()) {
            self.trainer.check_replicas()?;
            self.trainer.reseed_stream();
        }
        self.clock.tick_start = Instant::now();
        self.clock.tick_start_images = progress.images_shown;
        Ok(stop)
    }

    /// The tick's scalars: position, wall time, rate, learning rates, the schedule's place and
    /// the means of the step scalars.
    fn tick_statistics(&mut self) -> TickStats {
        let progress = self.trainer.progress();
        let tick_seconds = self.clock.tick_start.elapsed().as_secs_f64();
        let tick_images = progress.images_shown - self.clock.tick_start_images;
        let (opt_g, opt_d) = self.trainer.optimizers();
        let mut stats = TickStats {
            tick: progress.ticks,
            kimg: progress.images_shown as f64 / 1000.0,
            wall_s: self.clock.start.elapsed().as_secs_f64(),
            train_s: Some(self.clock.train_s()),
            images_per_s: tick_images as f64 / tick_seconds.max(1e-9),
            lr_g: opt_g.lr(),
            lr_d: opt_d.lr(),
            scalars: self.acc.take_means(),
            ..Default::default()
        };
        let data_share = self.trainer.take_data_time().as_secs_f64() / tick_seconds.max(1e-9);
        stats.data_wait_share = Some(data_share.min(1.0));
        let source = self.trainer.source().description();
        if let Some(warning) = input_bound_warning(data_share, tick_seconds, &source) {
            add_warnings(&mut stats, vec![warning]);
        }
        if let (Some(growth), Some(_)) = (&self.trainer.players().growth, self.trainer.phase()) {
            // Where the schedule stands at this tick's image count.
            let p = growth.schedule.at(progress.images_shown);
            stats.resolution = Some(p.resolution);
            stats.alpha = Some(p.alpha);
            stats.lod = Some(p.lod);
            stats.batch_size = Some(p.batch_size);
        }
        stats
    }

    /// The fixed latents' samples as the tick's picture (grid or scatter plot), with the
    /// statistics computed from them and the failure diagnostics.
    fn tick_picture(&mut self, stats: &mut TickStats) -> Result<()> {
        let resolution = self.config.resolution;
        let samples = tch::no_grad(|| {
            self.trainer.players().sampler().forward_ct(
                &self.fixed_z,
                self.fixed_labels.as_ref(),
                false,
            )
        });
        // Progressive runs' smaller stages are shown at the final size (nearest neighbour,
        // in the grid) and their diversity measured there: enlarging each pixel to an f x f
        // block multiplies every pairwise distance by f.
        let side = samples.size().get(2).copied().unwrap_or(0);
        let enlarged = match samples.dim() == 4 && side > 0 && side < resolution {
            true => resolution as f64 / side as f64,
            false => 1.0,
        };
        let images_shown = self.trainer.progress().images_shown;
        let (grid_path, modes) = self.data.save_samples(
            &samples,
            self.trainer.players().classes(),
            self.config,
            self.run_dir,
            images_shown,
        )?;
        if let Some(m) = modes {
            stats.modes = Some(m.modes as u64);
            stats.modes_covered = Some(m.modes_covered as u64);
            stats.high_quality_share = Some(m.high_quality_share);
            stats.jsd_to_uniform = Some(m.jsd_to_uniform);
        }
        diagnose(
            stats,
            &samples,
            enlarged,
            &self.real_diversity,
            self.config.game,
        );
        self.last_grid = grid_path;
        Ok(())
    }

    /// The training-time evaluation: the metrics, the monitor's verdict, the best snapshot.
    fn evaluate(&mut self, stats: &mut TickStats) -> Result<Option<Stop>> {
        let config = self.config;
        let progress = self.trainer.progress();
        let kimg = progress.images_shown as f64 / 1000.0;
        let result = self.metric_values(stats)?;
        reseed_after_eval(config, progress.images_shown);
        let summary = eval_summary(&self.eval_metrics, &result);
        let class_names = self.trainer.source().class_names().to_vec();
        let mut warnings: Vec<String> = coverage_warning(&result, &class_names)
            .into_iter()
            .collect();
        warnings.extend(crate::monitor::class_warnings(&result, &class_names));
        warnings.extend(
            self.monitor
                .observe_manifold(kimg, crate::monitor::ManifoldScores::of(&result)),
        );
        let (train_sign, held_out_sign) = self.held_out_judgement()?;
        stats.d_train_sign = train_sign;
        stats.d_held_out_sign = held_out_sign;
        warnings.extend(crate::monitor::overfitting_warning(
            crate::monitor::RealJudgement {
                rt: stats.scalars.get("d_real_sign").copied(),
                train_sign,
                held_out_sign,
            },
        ));
        let mut stop = None;
        let primary = self.monitor.primary;
        if let Some(value) = summary.get(primary.name()).and_then(Value::as_f64) {
            let o = self.monitor.observe(kimg, value);
            warnings.extend(o.warnings.iter().cloned());
            stats.eval_slope_per_kimg = Some(o.slope_per_kimg);
            if o.improved && config.evaluation.keep_best {
                let best = self.run_dir.join("best.safetensors");
                self.trainer.write_snapshot(&best)?;
                let record = BestSnapshot {
                    metric: primary.to_string(),
                    value,
                    kimg,
                    snapshot: "best.safetensors".into(),
                };
                write_json_atomically(
                    &self.run_dir.join("best.json"),
                    &serde_json::to_value(record)?,
                )?;
            }
            stop = self.stop_of(&o.verdict);
        }
        if let Some((value, at)) = self.monitor.best {
            stats.eval_best = Some(BestEvaluation {
                metric: primary.to_string(),
                value,
                kimg: at,
            });
        }
        let shown: Vec<String> = summary
            .iter()
            .filter(|(k, _)| *k != "coverage_missing")
            .map(|(k, v)| match k.as_str() {
                // Classes covered, of how many (`stats.jsonl` keeps the count).
                "coverage" => format!("coverage {}/{}", loggable(v), class_names.len()),
                _ => format!("{k} {}", loggable(v)),
            })
            .collect();
        tracing::info!("evaluation at {kimg:.1} kimg: {}", shown.join(", "));
        stats.eval = Some(summary.into_iter().collect());
        add_warnings(stats, warnings);
        Ok(stop)
    }

    /// E[sign D(x)] (D as in training, no augmentation, its state untouched) on up to
    /// [`HELD_OUT_N`] of the
    /// training subset's reals and as many of the dataset's other, held-out reals: `None`s
    /// without `max_images` (no held-out split).
    fn held_out_judgement(&mut self) -> Result<(Option<f64>, Option<f64>)> {
        let config = self.config;
        let Some(n) = config.max_images else {
            return Ok((None, None));
        };
        if self.held_out.is_none() {
            let total = self.data.len();
            let chosen = ganlab_data::Subset::choose(total, n, config.seed ^ SUBSET_SALT)?;
            let chosen_set: std::collections::BTreeSet<i64> = chosen.iter().copied().collect();
            let rest: Vec<i64> = (0..total).filter(|i| !chosen_set.contains(i)).collect();
            let spread = |all: &[i64]| -> Vec<i64> {
                let k = (all.len() as i64).min(HELD_OUT_N);
                (0..k)
                    .map(|j| all[(j * all.len() as i64 / k.max(1)) as usize])
                    .collect()
            };
            if rest.is_empty() {
                return Ok((None, None));
            }
            let source = self.data.source_on(tch::Device::Cpu);
            let (train, held) = (spread(&chosen), spread(&rest));
            self.held_out = Some((
                (source.batch(&train)?, source.labels_of(&train)?),
                (source.batch(&held)?, source.labels_of(&held)?),
            ));
        }
        let Some((train, held)) = &self.held_out else {
            return Ok((None, None));
        };
        let players = self.trainer.players();
        let side = players.growth.as_ref().map(|g| 1i64 << g.stage.get().level);
        let judge = |(x, labels): &LabelledBatch| -> f64 {
            tch::no_grad(|| {
                let labels = labels.as_ref().map(|l| l.to_device(self.device));
                let mut x = x.to_device(self.device);
                if let Some(side) = side {
                    let now = x.size()[2];
                    if now > side {
                        x = x.avg_pool2d(
                            [now / side, now / side],
                            [now / side, now / side],
                            [0, 0],
                            false,
                            true,
                            None::<i64>,
                        );
                    }
                }
                // D judges as in training (batch norm on the batch's own statistics, as D sees
                // a batch of reals; spectral norm's power iteration), and every variable it
                // would change (running statistics, u, v) is put back afterwards.
                let saved: Vec<(Tensor, Tensor)> = players
                    .d_vs
                    .variables()
                    .into_values()
                    .map(|t| {
                        let copy = t.copy();
                        (t, copy)
                    })
                    .collect();
                let sign = players
                    .d
                    .forward_ct(&x, labels.as_ref(), true)
                    .sign()
                    .mean(Kind::Double)
                    .double_value(&[]);
                for (t, copy) in saved {
                    t.shallow_clone().copy_(&copy);
                }
                sign
            })
        };
        Ok((Some(judge(train)), Some(judge(held))))
    }

    /// The metrics of the generator now: the toy mode metrics already in the tick's statistics,
    /// or the image metrics against the real evaluation set.
    fn metric_values(&mut self, stats: &TickStats) -> Result<Evaluation> {
        let config = self.config;
        if let Some(values) = self.data.metrics_in_stats(stats) {
            return Ok(values);
        }
        if self.real_eval.is_none() {
            // A run on a subset (`max_images`) is still compared with the whole dataset.
            let whole;
            let source: &dyn ImageSource = match config.max_images {
                Some(_) => {
                    whole = self.data.source_on(tch::Device::Cpu);
                    &*whole
                }
                None => self.trainer.source(),
            };
            self.real_eval = Some(real_eval_set(config, source)?);
        }
        let real = self.real_eval.as_ref().context("real evaluation images")?;
        let cfg = self.eval_config();
        let (fake, fake_features) = match self.trainer.dist() {
            Some(dist) => spread_fake_eval(
                dist,
                self.trainer.players().sampler(),
                config,
                &cfg,
                self.device,
            )?
            .context("rank 0 gathers the evaluation's samples")?,
            None => (
                fake_eval_set(self.trainer.players().sampler(), config, self.device),
                None,
            ),
        };
        crate::eval::evaluate_sets_with(&cfg, real, &fake, fake_features, self.device)
    }

    /// What the training-time evaluation measures, as `gan eval` would be asked.
    fn eval_config(&self) -> crate::eval::EvalConfig {
        let config = self.config;
        crate::eval::EvalConfig {
            real: config.dataset.clone(),
            fake: "generator".into(),
            metrics: self.eval_metrics.iter().map(|m| m.to_string()).collect(),
            n: config.evaluation.n,
            classifier: config.domain_classifier().map(str::to_string),
            detector: None,
            seed: config.seed,
            device: config.device,
            json: None,
            resolution: Some(config.resolution),
            resize: config.evaluation.resize,
            ..Default::default()
        }
    }

    /// The monitor's verdict as a reason to stop.
    fn stop_of(&self, verdict: &Verdict) -> Option<Stop> {
        let kimg = self.trainer.progress().images_shown as f64 / 1000.0;
        match verdict {
            Verdict::Continue => None,
            Verdict::TargetReached { metric, value, target } => Some((
                StopReason::TargetReached,
                format!("target reached: {metric} = {value:.4} at {kimg:.1} kimg (target {target})"),
            )),
            Verdict::Plateau { metric, best, best_kimg, evaluations } => Some((
                StopReason::Plateau,
                format!(
                    "plateau: {metric} has not improved by more than {} for {evaluations} evaluations (best {best:.4} at {best_kimg:.1} kimg)",
                    self.config.evaluation.min_delta
                ),
            )),
        }
    }

    /// Divergence in the weights: never save a snapshot with a non-finite number.
    fn check_finite(&self) -> Result<()> {
        if let Some(variable) = self.trainer.non_finite_variable() {
            anyhow::bail!(
                "diverged by {:.3} kimg: {variable} holds a NaN or infinite value; last good snapshot: {}",
                self.trainer.progress().images_shown as f64 / 1000.0,
                self.last_good()
            );
        }
        Ok(())
    }

    /// The periodic snapshot at the current image count, then the retention rule.
    fn save_snapshot(&self) -> Result<PathBuf> {
        let images_shown = self.trainer.progress().images_shown;
        let path = self.run_dir.join(snapshot::snapshot_name(images_shown));
        if !self.writer {
            return Ok(path);
        }
        self.trainer.write_snapshot(&path)?;
        prune_snapshots(self.run_dir, self.config.keep_snapshots)?;
        Ok(path)
    }

    /// Ends a run, whatever stopped it: the final snapshot, the log line, `outcome.json`, the
    /// summary.
    fn conclude(mut self, (stop, message): Stop) -> Result<RunSummary> {
        if let Some(dist) = self.trainer.dist() {
            let ranks = dist.world_size();
            self.trainer.check_replicas()?;
            tracing::info!("all {ranks} ranks hold bit-identical networks");
        }
        let snapshot = self.save_snapshot()?;
        // The other ranks wrote no snapshot; rank 0 says how the run ended.
        match stop {
            _ if !self.writer => {}
            StopReason::Finished => {
                tracing::info!(snapshot = %snapshot.display(), "finished: {message}")
            }
            StopReason::Interrupted => {
                tracing::warn!(snapshot = %snapshot.display(), "{message} (snapshot written)")
            }
            StopReason::TargetReached | StopReason::Plateau | StopReason::TimeBudget => {
                tracing::info!(snapshot = %snapshot.display(), "stopped early: {message}")
            }
        }
        let progress = self.trainer.progress();
        if let (Some(dist), true) = (self.trainer.dist(), self.writer) {
            let (spent, calls) = self.trainer.communication();
            tracing::info!(
                "communication: {calls} collectives, {:.1} s on rank 0 ({} ranks)",
                spent.as_secs_f64(),
                dist.world_size()
            );
        }
        if self.writer {
            write_outcome(
                self.run_dir,
                stop.name(),
                &message,
                Some(progress),
                Some(&self.monitor),
            )?;
        }
        Ok(RunSummary {
            run_dir: self.run_dir.to_path_buf(),
            images_shown: progress.images_shown,
            ticks: progress.ticks,
            generator_steps: self.trainer.generator_steps(),
            last_stats: self.last_stats,
            snapshot,
            last_grid: self.last_grid,
            stop,
            message,
        })
    }
}

/// The tick's log lines.
fn log_tick(stats: &TickStats) {
    tracing::info!(
        "tick {} kimg {:.1} loss_d {:.4} loss_g {:.4} d_real {:.3} d_fake {:.3} {:.1} img/s",
        stats.tick,
        stats.kimg,
        stats.scalar("loss_d"),
        stats.scalar("loss_g"),
        stats.scalar("d_real"),
        stats.scalar("d_fake"),
        stats.images_per_s,
    );
    if let (Some(covered), Some(modes)) = (stats.modes_covered, stats.modes) {
        tracing::info!(
            "tick {}: {covered} of {modes} modes covered, {:.1}% high-quality samples, JSD {:.4}",
            stats.tick,
            100.0 * stats.high_quality_share.unwrap_or(f64::NAN),
            stats.jsd_to_uniform.unwrap_or(f64::NAN)
        );
    }
}

fn train_logged(
    config: &mut TrainConfig,
    run_dir: &Path,
    bar: &ProgressBar,
    resume_from: Option<&Path>,
    dist: Option<Arc<Dist>>,
) -> Result<RunSummary> {
    Run::start(config, run_dir, bar, resume_from, dist)?.run()
}

/// Whatever randomness an evaluation used (a classifier trained on first use, the real subset),
/// the training stream continues from a seed of (seed, images).
fn reseed_after_eval(config: &TrainConfig, images_shown: u64) {
    tch::manual_seed(ganlab_train::stream_seed(
        config.seed ^ AFTER_EVAL_SALT,
        images_shown,
    ));
}

/// A stop decision as one byte, for the other ranks.
fn stop_code(reason: StopReason) -> u8 {
    match reason {
        StopReason::Finished => 1,
        StopReason::Interrupted => 2,
        StopReason::TargetReached => 3,
        StopReason::Plateau => 4,
        StopReason::TimeBudget => 5,
    }
}

fn stop_of_code(code: u8) -> Option<StopReason> {
    match code {
        1 => Some(StopReason::Finished),
        2 => Some(StopReason::Interrupted),
        3 => Some(StopReason::TargetReached),
        4 => Some(StopReason::Plateau),
        5 => Some(StopReason::TimeBudget),
        _ => None,
    }
}

/// An evaluation's value as the log line shows it: numbers to five significant digits (at most
/// six decimals, no trailing zeros), lists element by element; `stats.jsonl` keeps them whole.
fn loggable(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(0.0) => "0".to_string(),
            Some(x) if x.is_finite() => {
                let decimals = (4 - x.abs().log10().floor() as i64).clamp(0, 6) as usize;
                let text = format!("{x:.decimals$}");
                match text.contains('.') {
                    true => text.trim_end_matches('0').trim_end_matches('.').to_string(),
                    false => text,
                }
            }
            _ => n.to_string(),
        },
        serde_json::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(loggable).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_key_counts_and_an_auto_resolved_when_the_run_started_does_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        let saved = TrainConfig {
            kimg: 0.256,
            ..TrainConfig::default()
        };
        let mut saved_json = serde_json::to_value(&saved).expect("config to JSON");
        // What a run saves: its choices resolved.
        saved_json["arch"] = serde_json::json!("dcgan32");
        saved_json["d_norm"] = serde_json::json!("batch");
        std::fs::write(dir.path().join("config.json"), saved_json.to_string()).expect("write");
        assert_eq!(
            serde_json::to_value(&saved).expect("config to JSON")["arch"],
            serde_json::json!("auto"),
            "the default arch is auto"
        );
        assert_eq!(config_changes(dir.path(), &saved), Vec::<String>::new());
        let longer = TrainConfig {
            kimg: 0.512,
            ..saved.clone()
        };
        assert_eq!(
            config_changes(dir.path(), &longer),
            vec!["kimg: 0.256 -> 0.512".to_string()]
        );
        // A key set back to its default is left out of the JSON, and still a change: a bf16
        // run resumed with --precision fp32 (or with its moving average or augmentation off).
        let mut bf16 = serde_json::to_value(TrainConfig {
            precision: ganlab_train::Precision::Bf16,
            ema_kimg: Some(10.0),
            cond: true,
            classes: Some(10),
            ..saved.clone()
        })
        .expect("config to JSON");
        bf16["d_norm"] = serde_json::json!("batch");
        std::fs::write(dir.path().join("config.json"), bf16.to_string()).expect("write");
        let unset = TrainConfig {
            cond: true,
            ..saved.clone()
        };
        assert_eq!(
            config_changes(dir.path(), &unset),
            vec![
                "ema_kimg: 10.0 -> default".to_string(),
                "precision: \"bf16\" -> default".to_string()
            ]
        );
        let same = TrainConfig {
            precision: ganlab_train::Precision::Bf16,
            ema_kimg: Some(10.0),
            ..unset
        };
        assert_eq!(config_changes(dir.path(), &same), Vec::<String>::new());
    }

    #[test]
    fn a_tick_is_input_bound_past_half_its_time_waiting_for_batches() {
        let folder = "folder:big (200 images, streamed, RGB at 32x32)";
        assert_eq!(input_bound_warning(0.5, 60.0, folder), None);
        assert_eq!(
            input_bound_warning(0.9, 4.0, folder),
            None,
            "too short a tick"
        );
        let warning = input_bound_warning(0.65, 8.0, folder).expect("input bound");
        assert_eq!(
            warning,
            "input bound: 65% of the tick's 8 s went to waiting for real batches from folder:big \
             (200 images, streamed, RGB at 32x32); a prepared archive (`gan dataset create`) is \
             read without decoding"
        );
        let archive = input_bound_warning(0.7, 20.0, "archive:set.safetensors (9 images)")
            .expect("input bound");
        assert!(!archive.contains("gan dataset create"), "{archive}");
    }

    #[test]
    fn the_evaluation_log_line_shows_five_significant_digits() {
        let shown = |v: serde_json::Value| loggable(&v);
        assert_eq!(shown(serde_json::json!(1295.6414140994816)), "1295.6");
        assert_eq!(shown(serde_json::json!(219.20234886634557)), "219.2");
        assert_eq!(shown(serde_json::json!(0.105)), "0.105");
        assert_eq!(shown(serde_json::json!(0.004699362919256642)), "0.004699");
        assert_eq!(shown(serde_json::json!(123456.7)), "123457");
        assert_eq!(shown(serde_json::json!(-2.5)), "-2.5");
        assert_eq!(shown(serde_json::json!(2.0)), "2");
        assert_eq!(shown(serde_json::json!(0.0)), "0");
        assert_eq!(shown(serde_json::json!(7)), "7");
        assert_eq!(
            shown(serde_json::json!([0.0, 0.99, 0.061234])),
            "[0, 0.99, 0.061234]"
        );
        assert_eq!(shown(serde_json::json!("x")), "\"x\"");
    }
}
