//! `gan study NAME`: the seed's claims about GAN training, measured on real images and the 2-D
//! toys by a reproducible set of runs, and written up as a page (`docs/study/NAME.md`) with its
//! tables, plots (each metric against kimg and against seconds of training, one line per
//! contender, seeds as a band), sample grids and the exact commands.
//!
//! A study is a list of contenders (a preset and `--set` assignments, exactly what `gan train`
//! takes) times a list of seeds. Every run has its own run directory under the study's folder,
//! so a study is resumable: a finished run is kept, an interrupted one resumes from its newest
//! snapshot (the run's own exact resume), and one killed before its first snapshot starts over.
//!
//! - [`plans`]: what each study runs;
//! - [`page`]: reading the runs back and writing the page;
//! - [`record`]: the study's record beside its runs (`study.json`) and what the page's head
//!   reads of the runs' logs.

pub mod page;
pub mod plans;
pub mod record;
pub mod results;

use anyhow::{bail, Context, Result};
use ganlab_run::config::Preset;
use ganlab_run::device::DeviceChoice;
use ganlab_run::train::Reporting;
use ganlab_run::TrainConfig;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The studies, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StudyName {
    /// Every game on MNIST with DCGAN-32 at an equal budget of training seconds.
    Games,
    /// ProGAN against DCGAN-32 on Fashion-MNIST at equal training seconds and widths.
    Growing,
    /// The toy game table, run long enough for the leading games to converge.
    Toys,
    /// Where FID, IS, SWD and the plateau rule would have stopped the games study's best run.
    Stopping,
    /// DCGAN-32 on 1,000 and 2,000 MNIST digits without augmentation, with DiffAugment and
    /// with ADA.
    Limited,
    /// The main job and ProGAN-32 in bf16 against fp32 at equal kimg.
    Precision,
    /// Conditional against unconditional DCGAN-32 on MNIST and Fashion-MNIST.
    Conditional,
}

impl StudyName {
    pub const ALL: [StudyName; 7] = [
        StudyName::Games,
        StudyName::Growing,
        StudyName::Toys,
        StudyName::Stopping,
        StudyName::Limited,
        StudyName::Precision,
        StudyName::Conditional,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StudyName::Games => "games",
            StudyName::Growing => "growing",
            StudyName::Toys => "toys",
            StudyName::Stopping => "stopping",
            StudyName::Limited => "limited",
            StudyName::Precision => "precision",
            StudyName::Conditional => "conditional",
        }
    }
}

impl std::fmt::Display for StudyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for StudyName {
    type Err = String;

    fn from_str(name: &str) -> Result<StudyName, String> {
        ganlab_run::choice::by_name(&StudyName::ALL, name, StudyName::name, "study", "one of")
    }
}

impl ganlab_run::choice::Choice for StudyName {
    fn listed() -> Option<Vec<&'static str>> {
        Some(StudyName::ALL.map(StudyName::name).to_vec())
    }
}

/// One contender: a label and the `gan train` options that make its config.
#[derive(Debug, Clone)]
pub struct Contender {
    pub label: String,
    pub preset: Preset,
    /// `--set KEY=VALUE` assignments, applied in order over the preset.
    pub sets: Vec<String>,
    /// Its own seeds, in place of the plan's (`None`: the plan's).
    pub seeds: Option<Vec<u64>>,
}

impl Contender {
    pub fn new(label: &str, preset: Preset, sets: &[&str]) -> Contender {
        Contender {
            label: label.to_string(),
            preset,
            sets: sets.iter().map(|s| s.to_string()).collect(),
            seeds: None,
        }
    }

    /// The run's config for `seed` (tiny: a few steps, whatever the budget).
    pub fn config(&self, seed: u64, device: DeviceChoice, tiny: bool) -> Result<TrainConfig> {
        let mut config = TrainConfig::from_preset(self.preset);
        for assignment in &self.sets {
            config
                .set(assignment)
                .with_context(|| format!("study contender `{}`", self.label))?;
        }
        config.seed = seed;
        config.device = device;
        if tiny {
            shrink(&mut config);
        }
        config.validate()?;
        Ok(config)
    }

    /// The `gan train` command that trains this contender's run for `seed` in `dir`.
    pub fn command(&self, seed: u64, dir: &Path) -> String {
        let mut cmd = format!("gan train --preset {}", self.preset);
        for assignment in &self.sets {
            let quoted = match assignment.contains(['"', '[', ' ']) {
                true => format!("'{assignment}'"),
                false => assignment.clone(),
            };
            cmd.push_str(&format!(" --set {quoted}"));
        }
        cmd.push_str(&format!(" --seed {seed} --run-dir {}", dir.display()));
        cmd
    }
}

/// The tiny configuration of any run: two ticks of 64 images, one evaluation of 64 samples per
/// side at the end, no time budget. It runs every part of a study in seconds.
fn shrink(config: &mut TrainConfig) {
    config.time_budget_s = None;
    config.kimg = config.kimg.min(0.128);
    config.tick_kimg = config.tick_kimg.min(0.064);
    if config.evaluation.every_kimg > 0.0 {
        config.evaluation.every_kimg = config.kimg;
        config.evaluation.n = config.evaluation.n.min(64);
    }
    match config.schedule() {
        // A growing run reaches its final resolution within the tiny budget, in batches of 16
        // (its batch sizes are its schedule's).
        Some(schedule) => {
            config.batch_size = None;
            config.progan.schedule.lod_training_kimg = 0.016;
            config.progan.schedule.lod_transition_kimg = 0.016;
            config.progan.schedule.minibatch =
                schedule.minibatch.keys().map(|r| (*r, 16)).collect();
            config.progan.schedule.minibatch_base = 16;
        }
        None => config.batch_size = Some(config.resolved_batch_size().min(32)),
    }
}

/// The file of a run's final evaluation ([`FinalEval`]), beside its statistics.
pub const FINAL_EVAL_FILE: &str = "final-eval.json";

/// How a study reads each run at its end. The training-time evaluations measure 1,000 samples
/// a side, and one snapshot evaluated with other samples moves by about as much as the seeds of
/// a study differ (the precision study: domain FID by ± 1.5–1.75, SWD by ± 0.8); so when a run
/// ends, its last snapshot (G's moving average where it keeps one) is evaluated on `n` samples
/// a side with the evaluation seeds 0 … `draws` − 1 (`gan eval --draws`, the same samples for
/// every run of the study), with the metrics of its training-time evaluations, before its
/// snapshots are dropped. The page reads seed against seed from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FinalEval {
    pub n: i64,
    pub draws: u64,
}

/// A study: its contenders, seeds and how long it takes.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: StudyName,
    pub title: String,
    /// What the study asks, in a sentence or two (the page's first paragraph).
    pub question: String,
    pub contenders: Vec<Contender>,
    pub seeds: Vec<u64>,
    /// Short runs beside the main ones (the games' first-kimg gradient probes): one per
    /// contender and seed, listed apart on the page.
    pub probes: Vec<Contender>,
    /// Wall-clock seconds the whole study takes on 2 CPU cores (measured; see `plans`).
    pub expected_s: f64,
    /// The folder of its runs.
    pub runs_dir: PathBuf,
    /// Each main run's last snapshot evaluated again when the run ends, on many samples with
    /// several evaluation seeds (`None`: not at all).
    pub final_eval: Option<FinalEval>,
}

/// How to run a study.
#[derive(Debug, Clone)]
pub struct StudyOptions {
    pub name: StudyName,
    /// Where the runs go (`runs/study/NAME/...`).
    pub runs_root: PathBuf,
    /// Where the page goes (`docs/study`: `NAME.md` and the folder `NAME/` of its pictures).
    pub out_dir: PathBuf,
    /// A few steps per run and one seed: checks that every part of the study works.
    pub tiny: bool,
    pub device: DeviceChoice,
    /// A person's pick among the stopping study's grids (kimg), shown beside the metrics'.
    pub pick_kimg: Option<f64>,
    /// Keep every ended run whole; otherwise [`compact`] drops its snapshots, TensorBoard files
    /// and the grids its page does not show.
    pub keep_snapshots: bool,
    pub interactive: bool,
}

/// One run of a study.
#[derive(Debug, Clone)]
pub struct RunRef {
    pub contender: Contender,
    pub seed: u64,
    pub dir: PathBuf,
}

impl Plan {
    /// Every run: the (short) probes first, then the main ones, contender by contender.
    pub fn runs(&self) -> Vec<RunRef> {
        let mut runs = Vec::new();
        for (list, prefix) in [(&self.probes, "probe-"), (&self.contenders, "")] {
            for c in list {
                for &seed in c.seeds.as_ref().unwrap_or(&self.seeds) {
                    runs.push(RunRef {
                        contender: c.clone(),
                        seed,
                        dir: self.runs_dir.join(format!("{prefix}{}-s{seed}", c.label)),
                    });
                }
            }
        }
        runs
    }
}

/// Whether the run in `dir` has ended for good (and how), has a snapshot to resume from, or
/// must start over.
enum RunState {
    Ended,
    Resumable,
    Fresh,
    /// Ended or resumable, but made with another config than the plan's now (the keys that
    /// differ, `key: old -> new`): trained again, so that a page never mixes two plans.
    Stale(Vec<String>),
}

/// Keys of a run's config that say where it ran, not what it is: a run made on another device
/// choice is still the plan's run.
const PLACE_KEYS: &[&str] = &["device"];

/// The state of `run` under the plan of `options` (see [`RunState::Stale`]).
fn state_of(run: &RunRef, options: &StudyOptions) -> Result<RunState> {
    let state = run_state(&run.dir)?;
    if matches!(state, RunState::Fresh) {
        return Ok(state);
    }
    let config = run
        .contender
        .config(run.seed, options.device, options.tiny)?;
    let changes: Vec<String> = ganlab_run::train::config_changes(&run.dir, &config)
        .into_iter()
        .filter(|c| !PLACE_KEYS.iter().any(|k| c.starts_with(&format!("{k}: "))))
        .collect();
    Ok(match changes.is_empty() {
        true => state,
        false => RunState::Stale(changes),
    })
}

/// One line per run of the study under `options`: ended, to resume, to train, or made by
/// another plan and to be trained again (with what changed). `gan study NAME --dry-run`.
pub fn describe(options: &StudyOptions) -> Result<String> {
    check_pick(options)?;
    let plan = plans::plan(options)?;
    let mut out = format!(
        "study {}: {} runs in {}\n",
        plan.name,
        plan.runs().len(),
        plan.runs_dir.display()
    );
    for run in plan.runs() {
        let name = run.dir.file_name().unwrap_or_default().to_string_lossy();
        let state = match state_of(&run, options)? {
            RunState::Ended if run.owes_final_eval(plan.final_eval)? => {
                "ended, its final evaluation to do".to_string()
            }
            RunState::Ended => "ended".to_string(),
            RunState::Resumable => "to resume from its snapshot".to_string(),
            RunState::Fresh => "to train".to_string(),
            RunState::Stale(changes) => format!(
                "made by another plan, to train again ({})",
                changes.join("; ")
            ),
        };
        out.push_str(&format!("{name}: {state}\n"));
    }
    Ok(out)
}

/// The ways a run ends that a study keeps (a diverged run is a result, not a failure).
const ENDED: &[&str] = &[
    "finished",
    "time-budget",
    "target-reached",
    "plateau",
    "diverged",
];

fn run_state(dir: &Path) -> Result<RunState> {
    if let Ok(text) = std::fs::read_to_string(dir.join("outcome.json")) {
        let outcome: Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not valid JSON", dir.join("outcome.json").display()))?;
        if ENDED.contains(&outcome["stop_reason"].as_str().unwrap_or("")) {
            return Ok(RunState::Ended);
        }
    }
    let has_config = dir.join("config.json").is_file();
    match has_config && ganlab_run::train::newest_snapshot(dir)?.is_some() {
        true => Ok(RunState::Resumable),
        false => Ok(RunState::Fresh),
    }
}

impl RunRef {
    /// A short probe beside the main runs (the games' first-kimg probes), not a result.
    pub fn is_probe(&self) -> bool {
        self.dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("probe-"))
    }

    /// Whether the run ended but still owes its final evaluation and can give it (a study
    /// stopped between a run's end and that evaluation: its snapshots are kept until then).
    fn owes_final_eval(&self, plan_eval: Option<FinalEval>) -> Result<bool> {
        Ok(plan_eval.is_some()
            && !self.is_probe()
            && !self.dir.join(FINAL_EVAL_FILE).exists()
            && ganlab_run::train::newest_snapshot(&self.dir)?.is_some())
    }
}

/// The final evaluation of an ended run (see [`FinalEval`]) into its [`FINAL_EVAL_FILE`]
/// (written atomically, with the snapshot it read); nothing when it owes none.
pub fn final_evaluation(
    run: &RunRef,
    spec: Option<FinalEval>,
    options: &StudyOptions,
) -> Result<()> {
    let Some(spec) = spec.filter(|_| run.owes_final_eval(spec).unwrap_or(false)) else {
        return Ok(());
    };
    let snapshot = ganlab_run::train::newest_snapshot(&run.dir)?
        .with_context(|| format!("{}: no snapshot to evaluate", run.dir.display()))?;
    let saved = ganlab_run::config::RunConfig::read(&run.dir)?.config;
    let cfg = ganlab_run::eval::EvalConfig {
        real: saved.dataset.clone(),
        fake: snapshot.display().to_string(),
        metrics: saved
            .evaluation
            .resolved_metrics(&saved)
            .iter()
            .map(|m| m.name().to_string())
            .collect(),
        n: spec.n,
        classifier: saved.domain_classifier().map(str::to_string),
        seed: 0,
        device: options.device,
        resolution: Some(saved.resolution),
        resize: saved.evaluation.resize,
        ..Default::default()
    };
    tracing::info!(
        "{}: its final evaluation ({} samples a side, {} draws)",
        run.dir.display(),
        spec.n,
        spec.draws
    );
    let draws = ganlab_run::draws::evaluate_draws(&cfg, spec.draws)
        .with_context(|| format!("the final evaluation of {}", run.dir.display()))?;
    let mut value = draws.to_json();
    value["n"] = serde_json::json!(spec.n);
    value["snapshot"] =
        serde_json::json!(snapshot.file_name().unwrap_or_default().to_string_lossy());
    ganlab_run::files::write_json_atomically(&run.dir.join(FINAL_EVAL_FILE), &value)
}

/// Trains (or resumes) one run; a divergence is recorded by the run itself and kept. An ended
/// run then gets its final evaluation (the plan's `final_eval`) before it is compacted.
fn run_one(run: &RunRef, options: &StudyOptions, final_eval: Option<FinalEval>) -> Result<()> {
    let config = run
        .contender
        .config(run.seed, options.device, options.tiny)?;
    let reporting = Reporting { interactive: false };
    let result = match state_of(run, options)? {
        RunState::Ended => {
            // Stopped before its final evaluation: that, then what the run keeps.
            final_evaluation(run, final_eval, options)?;
            if !options.keep_snapshots {
                compact(&run.dir, options.name == StudyName::Stopping)?;
            }
            return Ok(());
        }
        RunState::Resumable => ganlab_run::train::resume(config, &run.dir, reporting),
        RunState::Fresh | RunState::Stale(_) => {
            if run.dir.exists() {
                std::fs::remove_dir_all(&run.dir)
                    .with_context(|| format!("cannot clear {}", run.dir.display()))?;
            }
            std::fs::create_dir_all(&run.dir)
                .with_context(|| format!("cannot create {}", run.dir.display()))?;
            ganlab_run::train(config, &run.dir, reporting)
        }
    };
    if matches!(run_state(&run.dir), Ok(RunState::Ended)) {
        final_evaluation(run, final_eval, options)?;
        if !options.keep_snapshots {
            // Only the stopping study's page shows a run's grid at every evaluation.
            compact(&run.dir, options.name == StudyName::Stopping)?;
        }
    }
    match result {
        // Ctrl-C / SIGTERM: the run wrote its snapshot; the study stops here too.
        Ok(summary) if summary.stop == ganlab_run::train::StopReason::Interrupted => bail!(
            "study interrupted during {} ({}); run the same command again to resume",
            run.dir.display(),
            summary.message
        ),
        Ok(_) => Ok(()),
        // The run wrote `outcome.json` with the reason; a divergence is one of the results.
        Err(e) if matches!(run_state(&run.dir), Ok(RunState::Ended)) => {
            tracing::warn!("{}: {e:#}; kept as a result", run.dir.display());
            Ok(())
        }
        Err(e) => Err(e.context(format!("study run {}", run.dir.display()))),
    }
}

/// What the page needs of an ended run, and nothing else: its config, log, statistics and
/// outcome, the reals, the grid of its last tick and, with `evaluation_grids`, those of its
/// evaluations. Snapshots, TensorBoard files and the other grids go (a study is a measurement:
/// `gan train` with the run's command on the page trains the same networks again), so a
/// study's folder stays small enough to keep (and to travel with the working tree to the GPU
/// machine: 64 MiB in all).
pub fn compact(dir: &Path, evaluation_grids: bool) -> Result<()> {
    let ticks = ganlab_run::stats::read_ticks(&dir.join("stats.jsonl"));
    let evaluated: Vec<f64> = ticks
        .iter()
        .filter(|t| t.eval.is_some())
        .map(|t| t.kimg)
        .collect();
    let pictures = crate::report::tick_pictures(dir)?;
    let last = pictures.last().map(|(k, _)| *k);
    for (kimg, path) in &pictures {
        let keep = Some(*kimg) == last
            || (evaluation_grids && evaluated.iter().any(|e| same_tick(*e, *kimg)));
        if !keep {
            std::fs::remove_file(path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    for snapshot in ganlab_run::snapshot::list(dir)? {
        std::fs::remove_file(&snapshot)
            .with_context(|| format!("cannot remove {}", snapshot.display()))?;
    }
    for extra in ["best.safetensors", "best.json"] {
        let path = dir.join(extra);
        if path.exists() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    let tb = dir.join("tb");
    if tb.is_dir() {
        std::fs::remove_dir_all(&tb).with_context(|| format!("cannot remove {}", tb.display()))?;
    }
    Ok(())
}

/// Whether a grid file's kimg (its name has two decimals: `fakes-kimg0010.05.png` for the tick
/// at 10.048 kimg) is the tick at `kimg`. Ticks are at least 0.064 kimg apart.
pub fn same_tick(kimg: f64, from_file_name: f64) -> bool {
    (kimg - from_file_name).abs() <= 0.005 + 1e-9
}

/// `2 h 05 min`, `7 min`, `45 s`.
pub fn duration_words(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=119 => format!("{s} s"),
        120..=3599 => format!("{} min", (s + 30) / 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600 + 30) / 60),
    }
}

/// A person's pick among the grids (`--pick-kimg`) is the stopping study's alone: refused for
/// the others rather than ignored.
fn check_pick(options: &StudyOptions) -> Result<()> {
    match (options.pick_kimg, options.name) {
        (Some(pick), name) if name != StudyName::Stopping => bail!(
            "--pick-kimg {pick}: only the stopping study shows a person's pick among its grids; \
             study {name} has none (run `gan study stopping --pick-kimg K`)"
        ),
        _ => Ok(()),
    }
}

/// Runs the study (every run not yet ended) and writes its page; returns the page's path.
pub fn run(options: &StudyOptions) -> Result<PathBuf> {
    check_pick(options)?;
    let plan = plans::plan(options)?;
    let runs = plan.runs();
    std::fs::create_dir_all(&plan.runs_dir)
        .with_context(|| format!("cannot create {}", plan.runs_dir.display()))?;
    // Each run still to do, and whether it trains from the start.
    let mut pending: Vec<(&RunRef, bool)> = Vec::new();
    for run in &runs {
        match state_of(run, options)? {
            RunState::Ended if run.owes_final_eval(plan.final_eval)? => pending.push((run, false)),
            RunState::Ended => {}
            RunState::Stale(changes) => {
                tracing::warn!(
                    "{}: made by another plan ({}); it is trained again",
                    run.dir.display(),
                    changes.join("; ")
                );
                pending.push((run, true));
            }
            RunState::Fresh => pending.push((run, true)),
            RunState::Resumable => pending.push((run, false)),
        }
    }
    let expected = match options.tiny {
        true => "a minute or two (tiny configuration)".to_string(),
        false => format!(
            "about {} on 2 CPU cores for all {} runs",
            duration_words(plan.expected_s),
            runs.len()
        ),
    };
    let message = format!(
        "study {}: {} runs, {} still to do; expected duration {expected}; runs in {}",
        plan.name,
        runs.len(),
        pending.len(),
        plan.runs_dir.display()
    );
    tracing::info!("{message}");
    if options.interactive {
        eprintln!("{message}");
    }
    let machine = record::machine_words(options.device);
    let bar = progress_bar(runs.len() as u64, options.interactive);
    bar.set_position((runs.len() - pending.len()) as u64);
    let start = Instant::now();
    let mut session_s = 0.0;
    for (run, from_start) in pending {
        bar.set_message(format!(
            "{} seed {}",
            run.dir.file_name().unwrap_or_default().to_string_lossy(),
            run.seed
        ));
        let begun = Instant::now();
        let result = run_one(run, options, plan.final_eval);
        let spent = begun.elapsed().as_secs_f64();
        session_s += spent;
        record::record_run(&plan.runs_dir, &run.dir, spent, from_start, &machine)?;
        result?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    if pending_count(&runs) > 0 {
        bail!(
            "study {}: some runs did not end; run the command again to resume them",
            plan.name
        );
    }
    tracing::info!(
        "study {}: this session {:.0} s ({:.0} s in all)",
        plan.name,
        session_s,
        start.elapsed().as_secs_f64()
    );
    page::write(&plan, &record::with_pick(&plan, options)?)
}

fn progress_bar(runs: u64, interactive: bool) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let target = match interactive {
        true => ProgressDrawTarget::stderr(),
        false => ProgressDrawTarget::hidden(),
    };
    let bar = ProgressBar::with_draw_target(Some(runs), target);
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} runs | {msg} | ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.enable_steady_tick(std::time::Duration::from_secs(1));
    bar
}

fn pending_count(runs: &[RunRef]) -> usize {
    runs.iter()
        .filter(|r| !matches!(run_state(&r.dir), Ok(RunState::Ended)))
        .count()
}

/// The study's runs folder under `runs_root` (tiny studies apart from full ones).
pub fn runs_dir(options: &StudyOptions, name: StudyName) -> PathBuf {
    let folder = match options.tiny {
        true => format!("{name}-tiny"),
        false => name.to_string(),
    };
    options.runs_root.join("study").join(folder)
}
