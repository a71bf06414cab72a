//! The training driver: config, run directory, the training loop, snapshots, sample grids.
//! The `gan` binary (`src/bin/gan.rs`) is a thin command line over this crate.
//!
//! Only this crate knows file formats and the command line; the layers, games, optimisers and
//! datasets it drives know nothing of runs or files.

pub mod allocator;
pub mod bench;
pub mod choice;
pub mod config;
pub mod data;
pub mod dataset;
pub mod device;
pub mod eval;
pub mod games_comparison;
pub mod generate;
pub mod generator;
pub mod grid;
pub mod launch;
pub mod logging;
pub mod metric;
pub mod monitor;
pub mod report;
pub mod run_dir;
pub mod scatter;
pub mod stats;
pub mod study;
pub mod tensorboard;
pub mod train;

pub use config::TrainConfig;
/// Atomic file writes and snapshots live in the engine crate; these paths stay for callers.
pub use ganlab_train::{files, snapshot};
pub use train::{train, RunSummary};

/// The toolkit's version, recorded in every run's config.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
