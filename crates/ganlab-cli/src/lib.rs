//! The `gan` command line: argument parsing and dispatch over `ganlab-run` and `ganlab-report`
//! ([`main`], which `src/bin/gan.rs` calls), plus what only a command line has: `gan bench`,
//! the local launch of data-parallel ranks (`--nproc-per-node`) and the allocator's settings.
//!
//! Research code that brings its own networks gets the whole command line by registering them
//! before calling [`main`] (the test binary `tests/src/bin/own-networks.rs` does exactly this):
//!
//! ```no_run
//! use ganlab_train::arch::{register, Networks};
//! use ganlab_train::{Players, SampleKind};
//! fn main() -> anyhow::Result<()> {
//!     register(Networks::new("my-mlp", SampleKind::Points, 2, 256, |spec, device| {
//!         let z = spec.z_dim.unwrap_or(2);
//!         Ok(Players::pair(device, z, SampleKind::Points,
//!             |g| tch::nn::linear(g / "fc", z, 2, Default::default()),
//!             |d| tch::nn::linear(d / "fc", 2, 1, Default::default())))
//!     }))?;
//!     ganlab_cli::main(); // `my-gan train --arch my-mlp --dataset ring8 ...`
//!     Ok(())
//! }
//! ```

pub mod allocator;
pub mod bench;
pub mod choice;
mod cli;
pub mod launch;

pub use cli::main;
