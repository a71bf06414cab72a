//! `stats.jsonl`: one [`TickStats`] per tick, appended as a JSON line. The record is typed; its
//! keys are the file's keys, so runs written before the record was typed read back the same.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The primary metric's best evaluation so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestEvaluation {
    pub metric: String,
    pub value: f64,
    pub kimg: f64,
}

/// One tick's statistics (one line of `stats.jsonl`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TickStats {
    pub tick: u64,
    pub kimg: f64,
    /// Seconds of training since the process started (or resumed).
    pub wall_s: f64,
    /// Seconds spent in training steps over every session of the run (the tick's work, its
    /// grid, evaluation and snapshot, left out; a resumed run continues from its snapshot's
    /// tick). The clock of `time_budget_s` and of the studies' wall-clock comparisons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_s: Option<f64>,
    /// Real images shown to D per second over the tick.
    pub images_per_s: f64,
    /// The share of the tick's time its steps spent waiting for real batches (0 … 1; see
    /// `Trainer::take_data_time`): near 0 when the loader keeps up, high when it sets the pace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_wait_share: Option<f64>,
    pub lr_g: f64,
    pub lr_d: f64,
    /// Growing architectures: where the schedule stands at this tick's image count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lod: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// Images: the fixed latents' mean pairwise distance over the real images'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_diversity: Option<f64>,
    /// 2-D toys: the mode metrics of the tick's samples (PacGAN's definitions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modes_covered: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_quality_share: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsd_to_uniform: Option<f64>,
    /// `max_images` runs, at an evaluation: E[sign D(x)] on training and on held-out reals (D as in
    /// training, on a batch of reals, no augmentation), the overfitting diagnostic's numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d_train_sign: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d_held_out_sign: Option<f64>,
    /// An evaluation's scalars by metric name (and `coverage_missing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval: Option<BTreeMap<String, Value>>,
    /// The primary metric's slope over the last evaluations (null until there are two).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub eval_slope_per_kimg: Option<Option<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_best: Option<BestEvaluation>,
    /// The tick's diagnostics, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The means over the tick of the step's scalars: the game's terms (`loss_d`, `loss_g`,
    /// `d_real`, `d_fake`, its penalties), `grad_norm_g`, `d_real_sign` (r_t = E[sign D(real)]
    /// of the training batches) and, under ADA, `ada_p` and `ada_rt`.
    #[serde(flatten)]
    pub scalars: BTreeMap<String, f64>,
}

/// A key that is present (even as `null`) is `Some`; a missing one is `None` (the default).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<f64>>, D::Error> {
    Option::<f64>::deserialize(d).map(Some)
}

impl TickStats {
    /// A step scalar's mean (NaN when the game has no such term).
    pub fn scalar(&self, name: &str) -> f64 {
        self.scalars.get(name).copied().unwrap_or(f64::NAN)
    }

    /// The value of `metric` in this tick's evaluation, if there was one.
    pub fn eval_value(&self, metric: &str) -> Option<f64> {
        self.eval.as_ref()?.get(metric)?.as_f64()
    }

    /// A statistic by its `stats.jsonl` key: `eval.METRIC` (an evaluation), one of the record's
    /// numeric fields, or a step scalar (`loss_d`, `d_real`, a game's penalty, ...). `None` when
    /// the tick has none or it is not finite.
    pub fn stat(&self, key: &str) -> Option<f64> {
        if let Some(metric) = key.strip_prefix("eval.") {
            return self.eval_value(metric).filter(|v| v.is_finite());
        }
        match key {
            "tick" => Some(self.tick as f64),
            "kimg" => Some(self.kimg),
            "wall_s" => Some(self.wall_s),
            "train_s" => self.train_s,
            "images_per_s" => Some(self.images_per_s),
            "data_wait_share" => self.data_wait_share,
            "lr_g" => Some(self.lr_g),
            "lr_d" => Some(self.lr_d),
            "resolution" => self.resolution.map(|r| r as f64),
            "alpha" => self.alpha,
            "lod" => self.lod,
            "batch_size" => self.batch_size.map(|b| b as f64),
            "sample_diversity" => self.sample_diversity,
            "modes" => self.modes.map(|m| m as f64),
            "modes_covered" => self.modes_covered.map(|m| m as f64),
            "high_quality_share" => self.high_quality_share,
            "jsd_to_uniform" => self.jsd_to_uniform,
            "d_train_sign" => self.d_train_sign,
            "d_held_out_sign" => self.d_held_out_sign,
            "eval_slope_per_kimg" => self.eval_slope_per_kimg.flatten(),
            _ => self.scalars.get(key).copied(),
        }
        .filter(|v| v.is_finite())
    }
}

/// `stats.jsonl` opened for appending (or, on a data-parallel rank other than 0, not at all).
pub struct StatsLog {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl StatsLog {
    /// Opens (or creates) `run_dir/stats.jsonl`.
    pub fn open(run_dir: &Path) -> Result<StatsLog> {
        StatsLog::open_for(run_dir, true)
    }

    /// [`StatsLog::open`] for a writer; for another rank, a log that writes nothing.
    pub fn open_for(run_dir: &Path, writer: bool) -> Result<StatsLog> {
        let path = run_dir.join("stats.jsonl");
        if !writer {
            return Ok(StatsLog { path, file: None });
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(StatsLog {
            path,
            file: Some(file),
        })
    }

    /// Every complete tick recorded (a line cut by a killed process is skipped).
    pub fn ticks(&self) -> Vec<TickStats> {
        read_ticks(&self.path)
    }

    /// On resume: keeps the ticks up to `ticks` (atomically) and appends after them. Ticks after
    /// the snapshot (written before an interruption) are dropped, since they are redone.
    pub fn truncate_to_tick(&mut self, ticks: u64) -> Result<()> {
        if self.file.is_none() {
            return Ok(());
        }
        let kept: Vec<String> = std::fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                serde_json::from_str::<Value>(l)
                    .ok()
                    .and_then(|v| v["tick"].as_u64())
                    .is_some_and(|t| t <= ticks)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        crate::files::write_bytes_atomically(&self.path, kept.concat().as_bytes())?;
        // The rename replaced the file: append to the new one.
        *self = StatsLog::open(self.path.parent().unwrap_or(Path::new(".")))?;
        Ok(())
    }

    /// Appends one tick and flushes it.
    pub fn append(&mut self, stats: &TickStats) -> Result<()> {
        let mut line = serde_json::to_string(stats)?;
        line.push('\n');
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        file.write_all(line.as_bytes())
            .with_context(|| format!("cannot append to {}", self.path.display()))?;
        file.flush()?;
        Ok(())
    }
}

/// The complete ticks of a `stats.jsonl` (none if it does not exist).
pub fn read_ticks(path: &Path) -> Vec<TickStats> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_of_an_earlier_run_reads_back_and_writes_the_same_keys() {
        let line = r#"{"d_fake":0.3,"d_real":0.7,"eval":{"swd":12.5,"coverage_missing":[8]},"eval_best":{"kimg":1.0,"metric":"swd","value":12.5},"eval_slope_per_kimg":null,"grad_norm_g":0.5,"images_per_s":200.0,"kimg":1.0,"loss_d":1.2,"loss_g":0.8,"lr_d":0.0002,"lr_g":0.0002,"sample_diversity":0.9,"tick":1,"wall_s":5.0,"warnings":["mode collapse: x"]}"#;
        let stats: TickStats = serde_json::from_str(line).expect("typed");
        assert_eq!((stats.tick, stats.scalar("loss_d")), (1, 1.2));
        assert_eq!(stats.eval_value("swd"), Some(12.5));
        assert_eq!(stats.eval_slope_per_kimg, Some(None));
        let again: Value = serde_json::to_value(&stats).expect("json");
        let original: Value = serde_json::from_str(line).expect("json");
        assert_eq!(again, original);
    }
}
