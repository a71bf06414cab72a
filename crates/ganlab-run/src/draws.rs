//! `gan eval --draws K`: one evaluation repeated with K evaluation seeds, and the spread of each
//! metric over them.
//!
//! A metric measured on finite samples moves when the samples change: FID, domain FID and SWD of
//! one DCGAN-32 snapshot on 1,000 MNIST samples a side move by about ± 1.5–1.75 and ± 0.8 from
//! one evaluation seed to the next, as much as training seeds differ (the precision study,
//! `docs/study/precision.findings.md`). Whoever compares two runs by a metric needs that spread
//! beside the difference. Draw k evaluates exactly as `gan eval --seed SEED+k` would (other fake
//! samples, another draw of the real set when `--n` is below its size, SWD's other descriptors and
//! projections, KID's other subsets), so a draw's numbers equal that single evaluation's.

use crate::eval::{evaluate_typed, EvalConfig};
use crate::evaluation::Evaluation;
use crate::files::write_json_atomically;
use crate::metric::{self, Metric};
use anyhow::{bail, Context, Result};
use ganlab_train::SampleKind;
use serde_json::{json, Map, Value};

/// Mean and sample standard deviation (n − 1; 0 for one value; NaN for none).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    let var = match values.len() {
        1 => 0.0,
        _ => values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0),
    };
    (mean, var.sqrt())
}

/// One metric over the draws.
#[derive(Debug, Clone, PartialEq)]
pub struct DrawSummary {
    pub metric: Metric,
    /// The metric's value in each draw, in the order of the seeds.
    pub values: Vec<f64>,
    pub mean: f64,
    /// Sample standard deviation (n − 1) over the draws: how far one draw moves.
    pub std: f64,
    /// The mean's standard error, `std / √draws`: how far the mean of these draws moves, the
    /// resolution at which two means compare.
    pub standard_error: f64,
    pub min: f64,
    pub max: f64,
}

/// The evaluations of one pair of sets with successive evaluation seeds.
#[derive(Debug, Clone)]
pub struct Draws {
    /// The evaluation seed of each draw: `--seed`, `--seed` + 1, ...
    pub seeds: Vec<u64>,
    pub evaluations: Vec<Evaluation>,
    /// Every asked metric that has one number per evaluation, in the order asked.
    pub summary: Vec<DrawSummary>,
}

impl Draws {
    /// The JSON `gan eval --draws K --json` writes (K > 1): `draws`, `seeds`, `summary` (per
    /// metric under its registry name: `mean`, `std`, `standard_error`, `min`, `max`, `values`)
    /// and `evaluations`
    /// (each draw's result as `gan eval --json` writes one).
    pub fn to_json(&self) -> Value {
        let mut summary = Map::new();
        for s in &self.summary {
            summary.insert(
                s.metric.name().to_string(),
                json!({"mean": s.mean, "std": s.std, "standard_error": s.standard_error, "min": s.min, "max": s.max, "values": s.values}),
            );
        }
        json!({
            "draws": self.seeds.len(),
            "seeds": self.seeds,
            "std": "sample standard deviation (n - 1) over the draws",
            "standard_error": "std / sqrt(draws): the standard error of the mean",
            "summary": summary,
            "evaluations": self.evaluations.iter().map(Evaluation::to_json).collect::<Vec<_>>(),
        })
    }

    /// A plain-text table: per metric the mean ± std over the draws, the mean's standard error,
    /// the range and each draw.
    pub fn table(&self) -> String {
        let (first, last) = (self.seeds[0], self.seeds[self.seeds.len() - 1]);
        let mut out = format!(
            "{} draws (evaluation seeds {first}-{last}); ± is the standard deviation over the draws, s.e. the mean's standard error\n",
            self.seeds.len()
        );
        out.push_str(&format!(
            "{:<18} {:<22} {:<10} {:<22} per draw\n",
            "metric", "mean ± std", "s.e.", "range"
        ));
        for s in &self.summary {
            let each: Vec<String> = s.values.iter().map(|v| format!("{v:.4}")).collect();
            out.push_str(&format!(
                "{:<18} {:<22} {:<10} {:<22} {}\n",
                s.metric.label(),
                format!("{:.4} ± {:.4}", s.mean, s.std),
                format!("{:.4}", s.standard_error),
                format!("{:.4}–{:.4}", s.min, s.max),
                each.join("  ")
            ));
        }
        out
    }
}

/// Evaluates `cfg` `draws` times with the evaluation seeds `cfg.seed`, `cfg.seed + 1`, ...;
/// writes [`Draws::to_json`] atomically to `cfg.json` when asked. One draw is plain
/// [`evaluate_typed`] (whose JSON it writes).
pub fn evaluate_draws(cfg: &EvalConfig, draws: u64) -> Result<Draws> {
    if draws == 0 {
        bail!("--draws must be at least 1, got 0");
    }
    let metrics = cfg
        .metrics
        .iter()
        .map(|m| metric::parse(m, SampleKind::Images).map_err(anyhow::Error::msg))
        .collect::<Result<Vec<Metric>>>()?;
    let Some(last) = cfg.seed.checked_add(draws - 1) else {
        bail!(
            "--seed {} with --draws {draws}: the last draw's seed is above {}",
            cfg.seed,
            u64::MAX
        );
    };
    if draws > 1 {
        if let Some(path) = &cfg.json {
            crate::eval::check_json_path(path)?;
        }
    }
    let seeds: Vec<u64> = (cfg.seed..=last).collect();
    let mut evaluations = Vec::with_capacity(seeds.len());
    for (k, &seed) in seeds.iter().enumerate() {
        if draws > 1 {
            tracing::info!("draw {} of {draws} (evaluation seed {seed})", k + 1);
        }
        let one = EvalConfig {
            seed,
            json: if draws == 1 { cfg.json.clone() } else { None },
            ..cfg.clone()
        };
        // With one draw its seed is the command's own: nothing to add to the message.
        let evaluation = match draws {
            1 => evaluate_typed(&one)?,
            _ => {
                evaluate_typed(&one).with_context(|| format!("draw with evaluation seed {seed}"))?
            }
        };
        evaluations.push(evaluation);
    }
    let summary = metrics
        .iter()
        .filter_map(|&m| {
            let values: Option<Vec<f64>> = evaluations.iter().map(|e| m.scalar(e)).collect();
            let values = values?;
            let (mean, std) = mean_std(&values);
            Some(DrawSummary {
                metric: m,
                mean,
                std,
                standard_error: std / (values.len() as f64).sqrt(),
                min: values.iter().copied().fold(f64::INFINITY, f64::min),
                max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                values,
            })
        })
        .collect();
    let result = Draws {
        seeds,
        evaluations,
        summary,
    };
    if draws > 1 {
        if let Some(path) = &cfg.json {
            write_json_atomically(path, &result.to_json())?;
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// numpy: `np.mean([3.0, 5.0, 10.0])`, `np.std([3.0, 5.0, 10.0], ddof=1)` =
    /// 6.0, 3.605551275463989.
    #[test]
    fn mean_and_sample_std_as_numpy_with_one_degree_of_freedom() {
        let (m, s) = mean_std(&[3.0, 5.0, 10.0]);
        assert_eq!(m, 6.0);
        assert!((s - 3.605551275463989).abs() < 1e-12, "{s}");
        assert_eq!(mean_std(&[2.5]), (2.5, 0.0));
        assert!(mean_std(&[]).0.is_nan());
    }
}
