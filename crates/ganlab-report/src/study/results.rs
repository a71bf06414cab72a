//! A finished run of a study, read back from its run directory (`stats.jsonl`, `outcome.json`,
//! the grids): what the plans (the stopping study follows the games study's best run) and the
//! pages read.

use super::RunRef;
use crate::report::tick_pictures;
use anyhow::{bail, Context, Result};
use ganlab_run::stats::{read_ticks, TickStats};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One finished run of a study, read back from its run directory.
pub struct RunResult {
    pub run: RunRef,
    pub ticks: Vec<TickStats>,
    pub stop_reason: String,
    /// Its final evaluation ([`super::FINAL_EVAL_FILE`]), when the study made one.
    pub final_eval: Option<FinalReading>,
}

/// A run's final evaluation, read back: `n` samples a side, `draws` evaluation seeds, and per
/// metric (by its registry name) the mean over the draws and their standard deviation.
pub struct FinalReading {
    pub n: i64,
    pub draws: usize,
    pub metrics: BTreeMap<String, (f64, f64)>,
}

impl FinalReading {
    /// Reads `final-eval.json` as the study writes it (`gan eval --draws`'s JSON with `n`).
    pub fn read(path: &std::path::Path) -> Result<FinalReading> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let value: Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not valid JSON", path.display()))?;
        let (Some(n), Some(draws), Some(summary)) = (
            value["n"].as_i64(),
            value["draws"].as_u64(),
            value["summary"].as_object(),
        ) else {
            bail!(
                "{}: expected a final evaluation with `n`, `draws` and `summary` (written by `gan study`)",
                path.display()
            );
        };
        let metrics = summary
            .iter()
            .filter_map(|(name, s)| Some((name.clone(), (s["mean"].as_f64()?, s["std"].as_f64()?))))
            .collect();
        Ok(FinalReading {
            n,
            draws: draws as usize,
            metrics,
        })
    }
}

/// A statistic of a tick: `eval.METRIC` (an evaluation), a 2-D mode metric, or a step scalar
/// (see [`TickStats::stat`]).
pub fn stat(t: &TickStats, key: &str) -> Option<f64> {
    t.stat(key)
}

impl RunResult {
    pub fn load(run: &RunRef) -> Result<RunResult> {
        let ticks = read_ticks(&run.dir.join("stats.jsonl"));
        if ticks.is_empty() {
            bail!(
                "{}: no statistics; run the study to train it",
                run.dir.display()
            );
        }
        let outcome: Value = std::fs::read_to_string(run.dir.join("outcome.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        let final_path = run.dir.join(super::FINAL_EVAL_FILE);
        let final_eval = match final_path.exists() {
            true => Some(FinalReading::read(&final_path)?),
            false => None,
        };
        Ok(RunResult {
            run: run.clone(),
            ticks,
            stop_reason: outcome["stop_reason"].as_str().unwrap_or("?").to_string(),
            final_eval,
        })
    }

    /// (kimg, seconds of training, value) at every tick that has `key`.
    pub fn series(&self, key: &str) -> Vec<(f64, f64, f64)> {
        self.ticks
            .iter()
            .filter_map(|t| {
                let train_s = t.train_s.unwrap_or(t.wall_s);
                stat(t, key).map(|v| (t.kimg, train_s, v))
            })
            .collect()
    }

    pub fn last(&self, key: &str) -> Option<f64> {
        self.series(key).last().map(|p| p.2)
    }

    pub fn best(&self, key: &str, lower_better: bool) -> Option<f64> {
        let values = self.series(key).into_iter().map(|p| p.2);
        match lower_better {
            true => values.reduce(f64::min),
            false => values.reduce(f64::max),
        }
    }

    pub fn kimg(&self) -> f64 {
        self.ticks.last().map_or(0.0, |t| t.kimg)
    }

    pub fn train_s(&self) -> f64 {
        self.ticks
            .last()
            .map_or(0.0, |t| t.train_s.unwrap_or(t.wall_s))
    }

    /// Wall-clock seconds of the run's sessions as its ticks tell them: each session's last
    /// tick (`wall_s` counts from its process's start, so it starts again in every session).
    /// The time after a session's last tick (the final evaluation, writing the outcome) is not
    /// in it.
    pub fn ticks_wall_s(&self) -> f64 {
        let mut total = 0.0;
        let mut session_last = 0.0;
        for t in &self.ticks {
            if t.wall_s < session_last {
                total += session_last;
            }
            session_last = t.wall_s;
        }
        total + session_last
    }

    /// The kinds of warning the run raised (the text before the first colon), with the number
    /// of ticks that raised each.
    pub fn warnings(&self) -> BTreeMap<String, usize> {
        let mut kinds = BTreeMap::new();
        for w in self.ticks.iter().flat_map(|t| t.warnings.iter()) {
            let kind = w.split(':').next().unwrap_or(w).trim().to_string();
            *kinds.entry(kind).or_insert(0) += 1;
        }
        kinds
    }

    pub fn last_grid(&self) -> Option<PathBuf> {
        tick_pictures(&self.run.dir)
            .ok()?
            .pop()
            .map(|(_, path)| path)
    }
}
