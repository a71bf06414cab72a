//! `cargo xtask <task>`: the project's task runner.
//!
//! It stays light (no `tch`) so that it builds in seconds on a fresh machine and can install
//! libtorch before anything that needs it is compiled. Each task is a module with one `run`.

mod bench;
mod setup;
mod tasks;
mod util;

use anyhow::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <task> [args]

tasks:
  setup [--full]   create .venv with torch 2.11.0 (--full: with every CUDA library; default on
                   machines without nvidia-smi: what CPU work loads), link libtorch, fetch the
                   datasets and the FID detector (idempotent)
  train [ARGS]     set up if needed, build the release driver and run `gan train ARGS`
                   (no ARGS: DCGAN-32, non-saturating game, MNIST, about 10 minutes on 2 cores)
  games [ARGS]     set up if needed, then compare every game on the 2-D toy mixtures
                   (`gan games ARGS`: --kimg, --seeds, --datasets, --games, --out)
  test  [ARGS]     set up if needed, then run every test of the workspace (ARGS go to cargo test)
  eval  [ARGS]     set up if needed, then `gan eval ARGS` (--real, --fake, --metrics, --n, --json)
  bench [ARGS]     toolkit vs PyTorch / numpy / scipy, alternating runs: training steps, Fréchet,
                   SWD, FID features, peak RSS (--rounds N, --steps N, --only GROUPS, --quick,
                   --gan PATH: measure that binary, --json PATH: write the record there)
  gpu-pack         what the GPU machine needs beside the tracked files: a stripped release `gan`
                   and a half-precision detector in target/gpu-pack/ (see bench/gpu-check.sh)
  datasets         list the datasets, their sources and licences (`gan datasets`)
  gan   [ARGS]     set up if needed, then run the release driver with ARGS (e.g. `gan --help`)
";

fn main() {
    if let Err(err) = run() {
        eprintln!("xtask: error: {err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    match task.as_deref() {
        Some("setup") => setup::run(&rest),
        Some("train") => tasks::train(&rest),
        Some("test") => tasks::test(&rest),
        Some("games") => tasks::games(&rest),
        Some("gan") => tasks::gan(&rest),
        Some("eval") => {
            let mut full = vec!["eval".to_string()];
            full.extend_from_slice(&rest);
            tasks::gan(&full)
        }
        Some("bench") => bench::run(&rest),
        Some("gpu-pack") => bench::gpu_pack(),
        Some("datasets") => tasks::gan(&["datasets".to_string()]),
        Some("-h" | "--help" | "help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown task `{other}`\n\n{USAGE}"),
    }
}
