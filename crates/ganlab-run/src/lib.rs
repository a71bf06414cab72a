//! The training run as a library: configuration, device, training data, the metric registry,
//! the run directory and the whole run around the engine's `Trainer` (ticks, sample grids,
//! `stats.jsonl`, evaluation, the monitor and stopping, snapshots with exact resume, retention,
//! TensorBoard, the log), evaluation of image sets, and sampling of trained generators.
//!
//! The `gan` command line (`ganlab-cli`) is a thin layer over this crate; research code calls it
//! directly, with the registry's networks or its own. This crate knows no command line and
//! draws no plots (`ganlab-report` does).

pub mod choice;
pub mod config;
pub mod data;
pub mod dataset;
pub mod device;
pub mod eval;
pub mod generate;
pub mod generator;
pub mod grid;
pub mod logging;
pub mod metric;
pub mod monitor;
pub mod run_dir;
pub mod scatter;
pub mod stats;
pub mod tensorboard;
pub mod train;

pub use config::TrainConfig;
/// Atomic file writes and snapshots live in the engine crate; these paths stay for callers.
pub use ganlab_train::{files, snapshot};
pub use train::{train, RunSummary};

/// The toolkit's version, recorded in every run's config.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
