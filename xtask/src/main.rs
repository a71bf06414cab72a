//! `cargo xtask <task>`: the project's task runner.
//!
//! It stays light (no `tch`) so that it builds in seconds on a fresh machine and can install
//! libtorch before anything that needs it is compiled. Each task is a module with one `run`;
//! `clap` parses the command line.

mod bench;
mod setup;
mod tasks;
mod util;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// The project's task runner: set-up, training, tests, evaluation and benchmarks.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

/// Arguments passed on unchanged to the task's program.
#[derive(Debug, clap::Args)]
struct PassThrough {
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    args: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Create .venv with torch 2.11.0, link libtorch, fetch the datasets and the FID detector
    /// (idempotent).
    Setup {
        /// Install every CUDA library (the default where `nvidia-smi` exists); otherwise only
        /// what CPU work loads.
        #[arg(long)]
        full: bool,
    },
    /// Set up if needed, build the release driver and run `gan train ARGS` (no ARGS: DCGAN-32,
    /// non-saturating game, MNIST, 200 kimg; the progress bar shows the rate and ETA).
    #[command(disable_help_flag = true)]
    Train(PassThrough),
    /// Set up if needed, then compare every game on the 2-D toy mixtures (`gan games ARGS`:
    /// --kimg, --seeds, --datasets, --games, --out).
    #[command(disable_help_flag = true)]
    Games(PassThrough),
    /// Set up if needed, then run a study and write its page (`gan study ARGS`: NAME, --tiny,
    /// --out, --runs-root; `gan study --help` lists the studies): resumable, with its expected
    /// duration.
    #[command(disable_help_flag = true)]
    Study(PassThrough),
    /// Set up if needed, then check formatting, clippy and rustdoc and run every test of the
    /// workspace (ARGS go to cargo test).
    #[command(disable_help_flag = true)]
    Test(PassThrough),
    /// Set up if needed, then `gan eval ARGS` (--real, --fake, --metrics, --n, --json).
    #[command(disable_help_flag = true)]
    Eval(PassThrough),
    /// Set up if needed, then `gan generate ARGS`: images from a trained run (RUN_DIR --seeds
    /// 0-15 [--grid] [--truncation ψ] [--n N --out DIR]).
    #[command(disable_help_flag = true)]
    Generate(PassThrough),
    /// Set up if needed, then `gan interpolate ARGS`: a latent walk between seeds as a strip and
    /// a GIF (RUN_DIR --seeds 1,7,42 --steps 16).
    #[command(disable_help_flag = true)]
    Interpolate(PassThrough),
    /// Toolkit vs PyTorch / numpy / scipy, alternating runs: training steps, Fréchet, SWD, FID
    /// features, peak RSS.
    Bench(bench::Options),
    /// What the GPU machine needs beside the tracked files: a stripped release `gan` and the
    /// detector's graph with zero weights in target/gpu-pack/ (see bench/gpu-check.sh).
    GpuPack,
    /// List the datasets, their sources and licences (`gan datasets`).
    Datasets,
    /// Set up if needed, then run the release driver with ARGS (e.g. `gan --help`).
    #[command(disable_help_flag = true)]
    Gan(PassThrough),
}

fn main() {
    if let Err(err) = run() {
        eprintln!("xtask: error: {err:#}");
        std::process::exit(1);
    }
}

/// `gan SUBCOMMAND ARGS`.
fn gan_with(subcommand: &str, args: &[String]) -> Result<()> {
    let mut full = vec![subcommand.to_string()];
    full.extend_from_slice(args);
    tasks::gan(&full)
}

fn run() -> Result<()> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    match Cli::parse().task {
        Task::Setup { full } => setup::run(full),
        Task::Train(p) => gan_with("train", &p.args),
        Task::Games(p) => gan_with("games", &p.args),
        Task::Study(p) => gan_with("study", &p.args),
        Task::Test(p) => tasks::test(&p.args),
        Task::Eval(p) => gan_with("eval", &p.args),
        Task::Generate(p) => gan_with("generate", &p.args),
        Task::Interpolate(p) => gan_with("interpolate", &p.args),
        Task::Bench(options) => bench::run(&options, raw.get(1..).unwrap_or_default()),
        Task::GpuPack => bench::gpu_pack(),
        Task::Datasets => tasks::gan(&["datasets".to_string()]),
        Task::Gan(p) => tasks::gan(&p.args),
    }
}
