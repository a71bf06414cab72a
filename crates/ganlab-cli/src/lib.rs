//! The `gan` command line: argument parsing and dispatch over `ganlab-run` and `ganlab-report`
//! ([`main`], which `src/bin/gan.rs` calls), plus what only a command line has: `gan bench`,
//! the local launch of data-parallel ranks (`--nproc-per-node`) and the allocator's settings.
//!
//! Research code that brings its own networks gets the whole command line by registering them
//! before calling [`main`] (the test binary `tests/src/bin/own-networks.rs` does exactly this):
//!
//! ```
//! use ganlab_train::arch::{register, Networks};
//! use ganlab_train::{Players, SampleKind};
//! // Research code's own networks: a linear G and D on 2-D points.
//! register(Networks::new("my-linear", SampleKind::Points, 2, 256, |spec, device| {
//!     let z = spec.z_dim.unwrap_or(2);
//!     Ok(Players::pair(device, z, SampleKind::Points,
//!         |g| tch::nn::linear(g / "fc", z, 2, Default::default()),
//!         |d| tch::nn::linear(d / "fc", 2, 1, Default::default())))
//! }))?;
//! // In a binary: `fn main() { register(...); ganlab_cli::main() }`, then
//! // `my-gan train --arch my-linear ...`. Here the same command line, given as words:
//! let dir = tempfile::tempdir()?;
//! let run_dir = dir.path().join("run");
//! ganlab_cli::run([
//!     "gan", "train", "--arch", "my-linear", "--dataset", "ring8", "--kimg", "1",
//!     "--tick-kimg", "0.5", "--eval-every-kimg", "0", "--device", "cpu", "--no-report",
//!     "--run-dir", run_dir.to_str().expect("a UTF-8 path"),
//! ])?;
//! assert!(run_dir.join("stats.jsonl").is_file());
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod allocator;
pub mod bench;
pub mod choice;
mod cli;
mod config_args;
pub mod launch;

pub use cli::{main, run};
