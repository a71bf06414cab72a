//! What people look at after runs: `gan report` (plots of a run's statistics and metrics, a
//! strip of its sample grids, `report.md`), the studies (plans of runs and their pages under
//! `docs/study/`) and the games comparison. It reads run directories that `ganlab-run` wrote and
//! draws with plotters; it never trains except through `ganlab-run`.
//!
//! ```
//! use ganlab_run::device::DeviceChoice;
//! use ganlab_run::train::Reporting;
//! let mut config = ganlab_run::TrainConfig::preset("toy-ring8")?;
//! config.kimg = 2.0;
//! config.tick_kimg = 1.0;
//! config.device = DeviceChoice::Cpu;
//! let dir = tempfile::tempdir()?;
//! ganlab_run::train(config, dir.path(), Reporting { interactive: false })?;
//! let report = ganlab_report::report::write_report(dir.path())?;
//! assert!(std::fs::read_to_string(&report)?.contains("toy-mlp"));
//! assert!(dir.path().join("report").join("losses.png").is_file());
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod games_comparison;
pub mod report;
pub mod study;
