//! An evaluation's result, typed: one struct per metric result, serialised to the JSON that
//! `gan eval --json` has always written (so results and run directories of earlier versions
//! read back the same). `gan eval`, the training-time evaluation, the monitor and the report
//! read these fields; [`crate::metric::Metric::scalar`] says which one is each metric's number.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What one evaluation measured. Every metric is optional: only those asked for are present.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Fréchet Inception distance (Heusel et al. 2017).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fid: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<KidResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swd: Option<SwdResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is: Option<IsResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<CoverageResult>,
    /// The Fréchet distance in the domain classifier's feature space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_fid: Option<f64>,
    /// FID at infinity (Chong & Forsyth 2020): FID's intercept against 1/N.
    #[serde(rename = "fid-inf", default, skip_serializing_if = "Option::is_none")]
    pub fid_inf: Option<f64>,
    /// How FID∞ was fitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fid_inf_fit: Option<FidInfFit>,
    /// k-NN precision (k = 3, Kynkäänniemi et al. 2019): fidelity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<f64>,
    /// k-NN recall (k = 3): diversity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<f64>,
    /// Density (k = 5, Naeem et al. 2020).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub density: Option<f64>,
    /// Coverage (k = 5, Naeem et al. 2020), named apart from the classes' `coverage`.
    #[serde(
        rename = "nn-coverage",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub nn_coverage: Option<f64>,
    /// The feature space, k, block size, counts and realism summary of the k-NN metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifold: Option<ManifoldResult>,
    /// A conditional generator judged by class (`class-accuracy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditional: Option<ConditionalResult>,
    /// 2-D toys: the mode metrics (PacGAN's definitions), as the tick's statistics hold them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsd_to_uniform: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modes_covered: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_quality_share: Option<f64>,
    /// What the user should know about the numbers (e.g. too few samples for FID).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Where the numbers came from: the sets, sample counts, seeds, detector, classifier, cache.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub provenance: Value,
}

/// Kernel Inception distance (Bińkowski et al. 2018): the mean and spread over subsets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KidResult {
    pub mean: f64,
    pub std: f64,
    pub subsets: usize,
    pub subset_size: i64,
}

/// ProGAN's sliced Wasserstein distance (×1e3): per pyramid level, keyed by resolution, and
/// their average.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwdResult {
    pub avg: f64,
    pub per_level: BTreeMap<i64, f64>,
}

/// Inception Score (Salimans et al. 2016) with the domain classifier that gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsResult {
    pub mean: f64,
    pub std: f64,
    pub classifier: String,
}

/// The domain classifier's classes in the samples against the data (mode collapse).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverageResult {
    pub classifier: String,
    /// Share of the samples per class.
    pub histogram: Vec<f64>,
    /// Share of the real images per class.
    pub real_histogram: Vec<f64>,
    pub covered: usize,
    /// The classes missing from the samples.
    pub missing: Vec<usize>,
}

/// A conditional generator's samples judged against the classes they were asked for, by the
/// domain classifier: whether each class is drawn (accuracy), how well (domain FID against the
/// real images of the class), and how varied (intra-class diversity), so that a generator that
/// draws every class but one style per class is caught.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionalResult {
    pub classifier: String,
    /// Share of all samples classified as the class they were drawn for.
    pub accuracy: f64,
    /// The same per requested class (`None`: no sample of the class).
    pub per_class_accuracy: Vec<Option<f64>>,
    /// Domain FID (classifier features) of each class's samples against the real images of the
    /// class (by the real set's labels); `None` where either side has fewer than 2 images.
    pub per_class_domain_fid: Vec<Option<f64>>,
    /// Mean pairwise distance (classifier features) among each class's samples over the same
    /// among its real images: 1 is the data's variety, near 0 one style; `None` as above.
    pub intra_class_diversity: Vec<Option<f64>>,
    /// Samples and real images per class behind the numbers.
    pub samples_per_class: Vec<i64>,
    pub reals_per_class: Vec<i64>,
}

/// The fit behind FID∞: FID at each subset size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FidInfFit {
    pub sizes: Vec<i64>,
    pub fids: Vec<f64>,
    pub slope: f64,
}

/// Where the k-NN manifold metrics were measured and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifoldResult {
    /// `inception` (the FID detector's 2048-d pool features) or `classifier:NAME` (the domain
    /// classifier's penultimate features).
    pub feature_space: String,
    pub k_precision_recall: i64,
    pub k_density_coverage: i64,
    pub block: i64,
    pub samples_real: i64,
    pub samples_fake: i64,
    /// The samples' realism scores (Kynkäänniemi et al. 2019, §5): median, and the share ≥ 1
    /// (within some real sample's k-NN ball).
    pub realism_median: f64,
    pub realism_share_at_least_1: f64,
}

impl Evaluation {
    /// Reads a result written by `gan eval --json` (any version); unknown keys are kept out.
    pub fn from_json(value: &Value) -> Result<Evaluation, serde_json::Error> {
        serde_json::from_value(value.clone())
    }

    /// The JSON `gan eval --json` writes.
    pub fn to_json(&self) -> Value {
        // Every field serialises to JSON (numbers, strings, maps with integer keys).
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// A plain-text table of the results, as `gan eval` prints it.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        let num = |x: f64| format!("{x:.4}");
        if let Some(v) = self.fid {
            rows.push(("FID".into(), num(v)));
        }
        if let Some(k) = &self.kid {
            rows.push((
                "KID".into(),
                format!(
                    "{} ± {} ({} subsets of {})",
                    num(k.mean),
                    num(k.std),
                    k.subsets,
                    k.subset_size
                ),
            ));
        }
        if let Some(s) = &self.swd {
            rows.push(("SWD x1e3 (avg)".into(), num(s.avg)));
            for (res, d) in &s.per_level {
                rows.push((format!("SWD x1e3 @{res}"), num(*d)));
            }
        }
        if let Some(i) = &self.is {
            rows.push((
                format!("IS ({})", i.classifier),
                format!("{} ± {}", num(i.mean), num(i.std)),
            ));
        }
        if let Some(v) = self.domain_fid {
            rows.push(("domain FID".into(), num(v)));
        }
        if let Some(c) = &self.coverage {
            rows.push(("classes covered".into(), coverage_text(c)));
        }
        if let Some(v) = self.fid_inf {
            rows.push(("FID∞".into(), num(v)));
        }
        let space = self
            .manifold
            .as_ref()
            .map(|m| format!(" [{}]", m.feature_space))
            .unwrap_or_default();
        for (name, value) in [
            ("precision", self.precision),
            ("recall", self.recall),
            ("density", self.density),
            ("nn-coverage", self.nn_coverage),
        ] {
            if let Some(v) = value {
                rows.push((name.into(), format!("{}{space}", num(v))));
            }
        }
        if let Some(c) = &self.conditional {
            rows.push((
                format!("class accuracy ({})", c.classifier),
                num(c.accuracy),
            ));
            let list = |v: &[Option<f64>], digits: usize| {
                v.iter()
                    .enumerate()
                    .map(|(k, x)| match x {
                        Some(x) => format!("{k}: {x:.digits$}"),
                        None => format!("{k}: –"),
                    })
                    .collect::<Vec<_>>()
                    .join("  ")
            };
            rows.push(("  per class".into(), list(&c.per_class_accuracy, 3)));
            rows.push((
                "  domain FID/class".into(),
                list(&c.per_class_domain_fid, 2),
            ));
            rows.push((
                "  diversity/class".into(),
                list(&c.intra_class_diversity, 3),
            ));
        }
        rows.iter().map(|(k, v)| format!("{k:<18} {v}\n")).collect()
    }
}

/// `9 of 10 (missing: 8)`; for a classifier whose classes have names, the names too
/// (`9 of 10 (missing: 5 Sandal)`).
fn coverage_text(c: &CoverageResult) -> String {
    let names = ganlab_data::Manifest::by_name(&c.classifier)
        .map(|m| m.classes)
        .unwrap_or_default();
    let missing: Vec<String> = c
        .missing
        .iter()
        .map(|&k| match names.get(k) {
            Some(name) if *name != k.to_string() => format!("{k} {name}"),
            _ => k.to_string(),
        })
        .collect();
    let of = c.histogram.len();
    match missing.is_empty() {
        true => format!("{} of {of}", c.covered),
        false => format!("{} of {of} (missing: {})", c.covered, missing.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A result as `gan eval --json` wrote it before the result was typed reads back, and
    /// writes the same JSON again.
    #[test]
    fn earlier_results_read_back_and_write_the_same_json() {
        let written = json!({
            "fid": 112.89,
            "kid": {"mean": 0.01, "std": 0.002, "subsets": 100, "subset_size": 1000},
            "swd": {"avg": 20.5, "per_level": {"16": 30.0, "32": 11.0}},
            "is": {"mean": 9.1, "std": 0.1, "classifier": "mnist"},
            "coverage": {"classifier": "mnist", "histogram": [0.5, 0.5], "real_histogram": [0.5, 0.5], "covered": 2, "missing": []},
            "domain_fid": 3.5,
            "warnings": ["FID with 100 samples per side"],
            "provenance": {"samples_real": 100}
        });
        let typed = Evaluation::from_json(&written).expect("reads");
        assert_eq!(typed.swd.as_ref().map(|s| s.per_level[&16]), Some(30.0));
        assert_eq!(typed.to_json(), written);
        assert!(typed.table().contains("SWD x1e3 @16"));
        assert!(typed
            .table()
            .contains("KID                0.0100 ± 0.0020 (100 subsets of 1000)"));
        assert!(typed.table().contains("classes covered    2 of 2\n"));
        let mut fashion = typed.clone();
        fashion.coverage = Some(CoverageResult {
            classifier: "fashion-mnist".into(),
            histogram: vec![0.5, 0.0, 0.5],
            real_histogram: vec![0.3, 0.3, 0.4],
            covered: 2,
            missing: vec![1],
        });
        assert!(fashion
            .table()
            .contains("classes covered    2 of 3 (missing: 1 Trouser)"));
        let mut mnist = fashion.clone();
        if let Some(c) = mnist.coverage.as_mut() {
            c.classifier = "mnist".into();
        }
        assert!(mnist.table().contains("2 of 3 (missing: 1)\n"));
        // Only what was measured is written.
        assert_eq!(Evaluation::default().to_json(), json!({}));
    }
}
