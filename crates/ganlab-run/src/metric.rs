//! The metric registry: every metric a run or `gan eval` can compute, with its name (as
//! `--metrics` and `evaluation.metrics` take it), the kind of samples it measures, whether lower
//! is better, and where its scalar sits in an evaluation result. Every other module reads names
//! and directions from here.

use crate::evaluation::Evaluation;
use ganlab_train::SampleKind;

/// A metric of the registry (read from and written as its name).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde_with::SerializeDisplay,
    serde_with::DeserializeFromStr,
)]
pub enum Metric {
    /// Fréchet Inception distance (Heusel et al. 2017).
    Fid,
    /// Kernel Inception distance (Bińkowski et al. 2018).
    Kid,
    /// Sliced Wasserstein distance on Laplacian pyramids (Karras et al. 2018).
    Swd,
    /// Inception Score (Salimans et al. 2016).
    Is,
    /// Classes of the domain classifier present in the samples (mode collapse).
    Coverage,
    /// Fréchet distance in the domain classifier's feature space.
    DomainFid,
    /// FID extrapolated to infinitely many samples (Chong & Forsyth 2020).
    FidInf,
    /// Share of samples on the real data's k-NN manifold (Kynkäänniemi et al. 2019).
    Precision,
    /// Share of real images on the samples' k-NN manifold (Kynkäänniemi et al. 2019).
    Recall,
    /// Real k-NN balls holding each sample, averaged (Naeem et al. 2020).
    Density,
    /// Share of real images whose k-NN ball holds a sample (Naeem et al. 2020's coverage).
    NnCoverage,
    /// A conditional generator's samples that the domain classifier assigns to the requested
    /// class (with per-class accuracy, per-class domain FID and intra-class diversity).
    ClassAccuracy,
    /// 2-D toys: Jensen–Shannon divergence of the mode histogram against uniform.
    Jsd,
    /// 2-D toys: modes covered.
    Modes,
    /// 2-D toys: share of samples within 3σ of a mode.
    HighQuality,
}

impl Metric {
    /// Every metric, in the order names are listed.
    pub const ALL: [Metric; 15] = [
        Metric::Fid,
        Metric::Kid,
        Metric::Swd,
        Metric::Is,
        Metric::Coverage,
        Metric::DomainFid,
        Metric::FidInf,
        Metric::Precision,
        Metric::Recall,
        Metric::Density,
        Metric::NnCoverage,
        Metric::ClassAccuracy,
        Metric::Jsd,
        Metric::Modes,
        Metric::HighQuality,
    ];

    /// The metric's name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Fid => "fid",
            Metric::Kid => "kid",
            Metric::Swd => "swd",
            Metric::Is => "is",
            Metric::Coverage => "coverage",
            Metric::DomainFid => "domain-fid",
            Metric::FidInf => "fid-inf",
            Metric::Precision => "precision",
            Metric::Recall => "recall",
            Metric::Density => "density",
            Metric::NnCoverage => "nn-coverage",
            Metric::ClassAccuracy => "class-accuracy",
            Metric::Jsd => "jsd",
            Metric::Modes => "modes",
            Metric::HighQuality => "high-quality",
        }
    }

    /// The metric called `name`.
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// What it measures: image sets, or the 2-D toys' points.
    pub fn sample_kind(self) -> SampleKind {
        match self {
            Metric::Jsd | Metric::Modes | Metric::HighQuality => SampleKind::Points,
            _ => SampleKind::Images,
        }
    }

    /// Whether smaller values are better.
    pub fn lower_is_better(self) -> bool {
        !matches!(
            self,
            Metric::Is
                | Metric::Coverage
                | Metric::Modes
                | Metric::HighQuality
                | Metric::Precision
                | Metric::Recall
                | Metric::Density
                | Metric::NnCoverage
                | Metric::ClassAccuracy
        )
    }

    /// The metric's scalar in an evaluation result (`gan eval`'s, or a toy tick's).
    pub fn scalar(self, result: &Evaluation) -> Option<f64> {
        match self {
            Metric::Fid => result.fid,
            Metric::Kid => result.kid.as_ref().map(|k| k.mean),
            Metric::Swd => result.swd.as_ref().map(|s| s.avg),
            Metric::Is => result.is.as_ref().map(|i| i.mean),
            Metric::Coverage => result.coverage.as_ref().map(|c| c.covered as f64),
            Metric::DomainFid => result.domain_fid,
            Metric::FidInf => result.fid_inf,
            Metric::Precision => result.precision,
            Metric::Recall => result.recall,
            Metric::Density => result.density,
            Metric::NnCoverage => result.nn_coverage,
            Metric::ClassAccuracy => result.conditional.as_ref().map(|c| c.accuracy),
            Metric::Jsd => result.jsd_to_uniform,
            Metric::Modes => result.modes_covered.map(|m| m as f64),
            Metric::HighQuality => result.high_quality_share,
        }
    }

    /// How tables and plots name it.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Fid => "FID (Inception)",
            Metric::Kid => "KID (Inception)",
            Metric::Swd => "SWD x1e3",
            Metric::Is => "IS (classifier)",
            Metric::Coverage => "classes covered",
            Metric::DomainFid => "domain FID",
            Metric::FidInf => "FID∞ (Inception)",
            Metric::Precision => "precision (k=3)",
            Metric::Recall => "recall (k=3)",
            Metric::Density => "density (k=5)",
            Metric::NnCoverage => "NN coverage (k=5)",
            Metric::ClassAccuracy => "class accuracy",
            Metric::Jsd => "JSD to uniform",
            Metric::Modes => "modes covered",
            Metric::HighQuality => "high-quality share",
        }
    }

    /// Where a run's `stats.jsonl` holds it: `eval.NAME` in the evaluations, or for the 2-D
    /// toys' mode metrics (measured at every tick) the tick's own field.
    pub fn stats_key(self) -> String {
        match self {
            Metric::Jsd => "jsd_to_uniform".into(),
            Metric::Modes => "modes_covered".into(),
            Metric::HighQuality => "high_quality_share".into(),
            _ => format!("eval.{}", self.name()),
        }
    }

    /// Whether it needs a domain classifier (MNIST / Fashion-MNIST at 32x32).
    pub fn needs_classifier(self) -> bool {
        matches!(
            self,
            Metric::Is | Metric::Coverage | Metric::DomainFid | Metric::ClassAccuracy
        )
    }

    /// Whether it is one of the k-NN manifold metrics (one feature space, one distance pass).
    pub fn is_manifold(self) -> bool {
        matches!(
            self,
            Metric::Precision | Metric::Recall | Metric::Density | Metric::NnCoverage
        )
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Metric {
    type Err = String;

    fn from_str(name: &str) -> Result<Metric, String> {
        crate::choice::by_name(&Metric::ALL, name, Metric::name, "metric", "any of")
    }
}

impl crate::choice::Choice for Metric {
    fn listed() -> Option<Vec<&'static str>> {
        Some(Metric::ALL.map(Metric::name).to_vec())
    }
}

/// The names of the metrics of one kind of samples.
pub fn names(kind: SampleKind) -> Vec<&'static str> {
    Metric::ALL
        .into_iter()
        .filter(|m| m.sample_kind() == kind)
        .map(Metric::name)
        .collect()
}

/// The metric called `name` if it measures `kind`; the error lists the valid names.
pub fn parse(name: &str, kind: SampleKind) -> Result<Metric, String> {
    match Metric::from_name(name) {
        Some(m) if m.sample_kind() == kind => Ok(m),
        _ => Err(format!(
            "unknown metric `{name}`; expected any of {}",
            names(kind).join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips_and_unknown_ones_list_the_valid_names() {
        for m in Metric::ALL {
            assert_eq!(Metric::from_name(m.name()), Some(m));
        }
        assert_eq!(
            parse("jsd", SampleKind::Images).unwrap_err(),
            "unknown metric `jsd`; expected any of fid, kid, swd, is, coverage, domain-fid, fid-inf, precision, recall, density, nn-coverage, class-accuracy"
        );
        assert!(Metric::Swd.lower_is_better() && !Metric::Is.lower_is_better());
    }
}
