//! A trained generator read back from a snapshot and the run's `config.json` beside it: what
//! `gan eval` samples and `gan generate` / `gan interpolate` draw from.

use crate::config::RunConfig;
use crate::snapshot::Snapshot;
use crate::TrainConfig;
use anyhow::{bail, Context, Result};
use ganlab_layers::ConditionalModuleT;
use ganlab_train::{Players, SampleKind};
use std::path::{Path, PathBuf};
use tch::Device;

/// A snapshot's generator, ready to sample: G's moving average when the run kept one.
pub struct TrainedGenerator {
    players: Players,
    /// The run's config (from `config.json` beside the snapshot).
    pub config: TrainConfig,
    /// The snapshot section the weights came from (`G_ema` or `G`).
    pub section: &'static str,
    /// Images shown when the snapshot was taken.
    pub images_shown: u64,
    pub snapshot: PathBuf,
    /// A conditional run's class names, by index, as the run recorded them (empty for an
    /// unconditional run, or one from before names were recorded).
    pub class_names: Vec<String>,
}

/// The newest snapshot of a run directory, or the snapshot given.
pub fn snapshot_of(spec: &Path) -> Result<PathBuf> {
    if spec.is_file() {
        return Ok(spec.to_path_buf());
    }
    if spec.is_dir() && spec.join("outcome.json").is_file() && !spec.join("config.json").exists() {
        bail!("{}", crate::records::missing_config(spec));
    }
    if !spec.join("config.json").is_file() {
        bail!(
            "{}: neither a run directory (no config.json) nor a snapshot file",
            spec.display()
        );
    }
    crate::snapshot::newest(spec)?.with_context(|| {
        format!(
            "{}: no snapshot-*.safetensors in this run directory (train it, or wait for its first snapshot)",
            spec.display()
        )
    })
}

impl TrainedGenerator {
    /// Reads the generator of `snapshot_path` on `device`, built as the run's config describes.
    pub fn load(snapshot_path: &Path, device: Device) -> Result<TrainedGenerator> {
        let run_dir = snapshot_path.parent().unwrap_or(Path::new("."));
        let config_path = run_dir.join("config.json");
        let text = std::fs::read_to_string(&config_path).with_context(|| {
            format!(
                "{}: a snapshot needs the run's config.json beside it",
                config_path.display()
            )
        })?;
        let RunConfig { config, provenance } =
            RunConfig::from_json(&text).with_context(|| format!("{}", config_path.display()))?;
        let snapshot = Snapshot::read(snapshot_path)?;
        let players = config.build_players(device)?;
        let with_ema = snapshot.tensors.keys().any(|k| k.starts_with("G_ema."));
        let section = match (&players.ema, with_ema) {
            (Some(ema), true) => snapshot.load_into("G_ema", &ema.vs).map(|()| "G_ema"),
            _ => snapshot.load_into("G", &players.g_vs).map(|()| "G"),
        }
        .with_context(|| {
            format!(
                "{} does not hold the {} generator that {} describes",
                snapshot_path.display(),
                config.resolved_arch(),
                config_path.display()
            )
        })?;
        let images_shown = snapshot.progress()?.images_shown;
        if let Some(growth) = &players.growth {
            let phase = growth.schedule.at(images_shown);
            growth
                .stage
                .set(phase.resolution.trailing_zeros() as i64, phase.alpha);
        }
        Ok(TrainedGenerator {
            players,
            config,
            section,
            images_shown,
            snapshot: snapshot_path.to_path_buf(),
            class_names: provenance.class_names.unwrap_or_default(),
        })
    }

    /// The network that draws samples.
    pub fn sampler(&self) -> &dyn ConditionalModuleT {
        match (&self.players.ema, self.section) {
            (Some(ema), "G_ema") => ema.g.as_ref(),
            _ => self.players.g.as_ref(),
        }
    }

    /// The device the generator runs on.
    pub fn sampler_device(&self) -> Device {
        self.players.g_vs.device()
    }

    /// The stage a growing generator runs at (resolution level, fade-in α): its schedule's at
    /// the snapshot's image count. `None` for architectures that do not grow.
    pub fn stage(&self) -> Option<(i64, f64)> {
        let growth = self.players.growth.as_ref()?;
        let stage = growth.stage.get();
        Some((stage.level, stage.alpha))
    }

    /// The classes the generator is conditioned on (0: unconditional).
    pub fn classes(&self) -> i64 {
        self.players.classes()
    }

    /// G's latent dimension.
    pub fn z_dim(&self) -> i64 {
        self.players.z_dim
    }

    /// Whether it generates images (not the 2-D toys' points).
    pub fn makes_images(&self) -> bool {
        self.players.sample_kind == SampleKind::Images
    }
}
