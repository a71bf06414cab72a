//! The small JSON records of a run directory besides `config.json` and `stats.jsonl`, typed:
//! `outcome.json` (why and where the run stopped), `best.json` (the best evaluation's snapshot),
//! and [`RunHeadline`], the lenient view of a `config.json` that readers such as `gan report`
//! take (any version, any architecture name, registered in this process or not). Each writes
//! the keys earlier versions wrote, so old run directories read back the same.

use crate::stats::BestEvaluation;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `outcome.json`: why the run stopped, where it stood, its best evaluation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// `finished`, `interrupted`, `target-reached`, `plateau`, `time-budget`, `diverged` or
    /// `error`.
    pub stop_reason: String,
    pub message: String,
    #[serde(default)]
    pub kimg: Option<f64>,
    #[serde(default)]
    pub ticks: Option<u64>,
    #[serde(default)]
    pub best: Option<BestEvaluation>,
    /// Evaluations made over the run.
    #[serde(default)]
    pub evaluations: Option<usize>,
}

/// `best.json`: the primary metric's best evaluation and the snapshot taken there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestSnapshot {
    pub metric: String,
    pub value: f64,
    pub kimg: f64,
    /// The snapshot's file name in the run directory (`best.safetensors`).
    pub snapshot: String,
}

/// What a reader of a run needs from its `config.json` to describe it, read leniently: every
/// field is optional, unknown keys are ignored, and names are kept as text, so a run of an
/// architecture registered by research code reads back in a process that does not know it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct RunHeadline {
    pub arch: Option<String>,
    pub dataset: Option<String>,
    /// Where the data came from (recorded by the run).
    pub dataset_source: Option<String>,
    pub game: Option<String>,
    pub kimg: Option<f64>,
    pub batch_size: Option<u64>,
    pub lr_g: Option<f64>,
    pub lr_d: Option<f64>,
    pub seed: Option<u64>,
    /// The device the run used (recorded by the run).
    pub resolved_device: Option<String>,
    /// The type the networks computed in (written only when not `fp32`).
    pub precision: Option<String>,
    /// The half-life of G's moving average, for runs that kept one by `ema_kimg`.
    pub ema_kimg: Option<f64>,
}

/// Why `run_dir` has no `config.json`, for an error that says what to do: a run that stopped
/// before it wrote one (its dataset did not load, say) left `outcome.json` with the reason, and
/// has nothing to report, sample or resume; anything else is not a run directory.
pub fn missing_config(run_dir: &Path) -> String {
    match read_record::<Outcome>(&run_dir.join("outcome.json")) {
        Ok(Some(outcome)) => format!(
            "{}: this run stopped before it began training ({}); it has nothing to report, sample or resume: fix that and start a new run",
            run_dir.display(),
            outcome.message
        ),
        _ => format!(
            "{}: no config.json; is this a run directory?",
            run_dir.display()
        ),
    }
}

/// Reads a JSON record at `path`: `None` when the file is not there.
pub fn read_record<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            Ok(Some(serde_json::from_str(&text).with_context(|| {
                format!("{}: not a valid record", path.display())
            })?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// `outcome.json` and `best.json` as earlier versions wrote them (`json!` objects, nulls
    /// included) read back and write the same keys.
    #[test]
    fn earlier_records_read_back_and_write_the_same_json() {
        let outcome = json!({"stop_reason": "finished", "message": "trained the planned 2 kimg", "kimg": 2.0, "ticks": 2, "best": {"metric": "swd", "value": 12.5, "kimg": 2.0}, "evaluations": 2});
        let typed: Outcome = serde_json::from_value(outcome.clone()).expect("outcome");
        assert_eq!(serde_json::to_value(&typed).expect("json"), outcome);
        let failed = json!({"stop_reason": "error", "message": "x", "kimg": null, "ticks": null, "best": null, "evaluations": null});
        let typed: Outcome = serde_json::from_value(failed.clone()).expect("outcome");
        assert_eq!(serde_json::to_value(&typed).expect("json"), failed);
        let best = json!({"metric": "domain-fid", "value": 13.2, "kimg": 200.0, "snapshot": "best.safetensors"});
        let typed: BestSnapshot = serde_json::from_value(best.clone()).expect("best");
        assert_eq!(serde_json::to_value(&typed).expect("json"), best);
        let config: Value = json!({"arch": "own-mlp", "dataset": "ring8", "game": "nonsaturating", "kimg": 16.0, "batch_size": 128, "seed": 11, "progan": {"x": 1}});
        let headline: RunHeadline = serde_json::from_value(config).expect("headline");
        assert_eq!(headline.arch.as_deref(), Some("own-mlp"));
        assert_eq!(headline.lr_g, None);
    }
}
