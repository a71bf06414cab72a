//! The training engine, for the `gan` driver and for research code alike: the players of an
//! architecture from the registry ([`arch`]) or of the caller's own, one [`Trainer`] whose
//! [`Trainer::step`] is the only training step in the workspace, and snapshots that resume it
//! exactly. No command line, no run directory: the run library (`ganlab-run`) adds those.
//!
//! ```
//! use ganlab_train::{arch, Trainer, TrainerSettings};
//! let data = ganlab_data::toy_dataset("ring8", 2_000, 0)?;
//! let spec = arch::ArchSpec::default();
//! let players = arch::architecture("toy-mlp")?.build(&spec, tch::Device::Cpu)?;
//! let game = ganlab_games::game_by_name("nonsaturating", Default::default())?;
//! let source = Box::new(ganlab_data::InMemory::from(&data));
//! let settings = TrainerSettings { batch_size: 256, seed: 0, channels_last: false };
//! let mut trainer = Trainer::with_paper_optimizers(players, game, source, settings)?;
//! for _ in 0..10 {
//!     let step = trainer.step()?;
//!     assert!(step.loss_d.is_finite() && step.loss_g.is_finite());
//! }
//! assert_eq!(trainer.progress().images_shown, 10 * 256);
//! let dir = tempfile::tempdir()?;
//! trainer.checkpoint(&dir.path().join("toy.safetensors"))?; // resumes exactly
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod arch;
pub mod files;
pub mod scaler;
pub mod snapshot;
mod trainer;

pub use arch::{ArchChoice, Architecture, CriticNorm, Players, SampleKind};
pub use ganlab_amp::Precision;
pub use snapshot::Progress;
pub use trainer::{
    check_batch_split, optimizer_settings, stream_seed, BatchUnreadable, Diverged, Lap,
    OptimizerOverrides, OptimizerSettings, StepStats, Trainer, TrainerSettings,
};
