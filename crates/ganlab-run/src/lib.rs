//! The training run as a library: configuration, device, training data, the metric registry,
//! the run directory and the whole run around the engine's `Trainer` (ticks, sample grids,
//! `stats.jsonl`, evaluation, the monitor and stopping, snapshots with exact resume, retention,
//! TensorBoard, the log), evaluation of image sets, and sampling of trained generators.
//!
//! The `gan` command line (`ganlab-cli`) is a thin layer over this crate; research code calls it
//! directly, with the registry's networks or its own. This crate knows no command line and
//! draws no plots (`ganlab-report` does).
//!
//! ```
//! use ganlab_run::device::DeviceChoice;
//! use ganlab_run::train::{Reporting, StopReason};
//! let mut config = ganlab_run::TrainConfig::preset("toy-ring8")?;
//! config.kimg = 2.0;
//! config.tick_kimg = 1.0;
//! config.evaluation.every_kimg = 1.0;
//! config.device = DeviceChoice::Cpu;
//! let dir = tempfile::tempdir()?;
//! let summary = ganlab_run::train(config, dir.path(), Reporting { interactive: false })?;
//! assert_eq!(summary.stop, StopReason::Finished);
//! for file in ["config.json", "stats.jsonl", "outcome.json", "best.safetensors"] {
//!     assert!(dir.path().join(file).is_file(), "{file}");
//! }
//! // The run directory is all a later `--resume`, `gan eval` or `gan report` needs.
//! let saved = ganlab_run::config::RunConfig::read(dir.path())?;
//! assert_eq!(saved.config.kimg, 2.0);
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod choice;
pub mod config;
pub mod data;
pub mod dataset;
pub mod device;
pub mod draws;
pub mod eval;
pub mod evaluation;
pub mod fid_stats;
pub mod flags;
pub mod generate;
pub mod generator;
pub mod grid;
pub mod logging;
pub mod metric;
pub mod monitor;
pub mod records;
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
