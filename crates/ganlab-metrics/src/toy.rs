//! Metrics for the 2-D Gaussian mixtures (ring8, grid25), as used to measure mode collapse and
//! over-generalisation in VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018):
//!
//! - a sample is **high quality** when it lies within 3σ of the nearest mode centre; the share of
//!   such samples falls when G puts mass where the data has none (over-generalisation);
//! - a mode is **covered** when it holds at least a fifth of the high-quality samples it would
//!   hold under a uniform spread (PacGAN's rule: 20 of 2,500 samples over 25 modes);
//! - the **JSD** (base 2, in [0, 1]) between the histogram of samples over their nearest modes and
//!   the uniform histogram: 0 when every mode gets its share.

use crate::Error;
use tch::{Kind, Tensor};

/// Mode metrics of a set of 2-D samples.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ToyModeMetrics {
    /// Number of modes in the mixture.
    pub modes: usize,
    /// Modes covered by high-quality samples.
    pub modes_covered: usize,
    /// Share of samples within 3σ of their nearest mode.
    pub high_quality_share: f64,
    /// Jensen–Shannon divergence (base 2) of the nearest-mode histogram against uniform.
    pub jsd_to_uniform: f64,
    /// High-quality samples per mode.
    pub high_quality_per_mode: Vec<i64>,
}

/// Computes [`ToyModeMetrics`] of `samples` [N, 2] against mode `centers` [K, 2] of std `std`.
pub fn toy_mode_metrics(
    samples: &Tensor,
    centers: &Tensor,
    std: f64,
) -> Result<ToyModeMetrics, Error> {
    let (s, c) = (samples.size(), centers.size());
    if s.len() != 2 || s[0] == 0 || c.len() != 2 || c[0] == 0 || s[1] != c[1] {
        return Err(Error::BadInput {
            what: "toy_mode_metrics",
            expected: "samples [N>0, D] and centers [K>0, D]".into(),
            got: format!("samples {s:?}, centers {c:?}"),
        });
    }
    let samples = samples.to_kind(Kind::Double).to_device(tch::Device::Cpu);
    let centers = centers.to_kind(Kind::Double).to_device(tch::Device::Cpu);
    let (n, k) = (s[0], c[0]);
    let distances = Tensor::cdist(&samples, &centers, 2.0, None::<i64>); // [N, K]
    let (nearest_distance, nearest) = distances.min_dim(1, false);
    let high_quality = nearest_distance.le(3.0 * std);
    let hq_per_mode = nearest
        .masked_select(&high_quality)
        .bincount(None::<Tensor>, k);
    let hq_per_mode: Vec<i64> = Vec::<i64>::try_from(&hq_per_mode).unwrap_or_default();
    let hq_total: i64 = hq_per_mode.iter().sum();
    let threshold = 0.2 * n as f64 / k as f64;
    let modes_covered = hq_per_mode
        .iter()
        .filter(|&&count| count as f64 >= threshold && count > 0)
        .count();

    let histogram = nearest.bincount(None::<Tensor>, k).to_kind(Kind::Double) / n as f64;
    let p: Vec<f64> = Vec::<f64>::try_from(&histogram).unwrap_or_default();
    let q = 1.0 / k as f64;
    let kl_to_mixture = |a: f64, b: f64| {
        if a > 0.0 {
            a * (a / ((a + b) / 2.0)).log2()
        } else {
            0.0
        }
    };
    let jsd: f64 = 0.5
        * p.iter()
            .map(|&pi| kl_to_mixture(pi, q) + kl_to_mixture(q, pi))
            .sum::<f64>();

    Ok(ToyModeMetrics {
        modes: k as usize,
        modes_covered,
        high_quality_share: hq_total as f64 / n as f64,
        jsd_to_uniform: jsd.max(0.0),
        high_quality_per_mode: hq_per_mode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn centers() -> Tensor {
        Tensor::from_slice(&[0.0f32, 0.0, 1.0, 0.0, 0.0, 1.0, -1.0, 0.0]).view([4, 2])
    }

    #[test]
    fn samples_on_every_mode_cover_everything_with_zero_jsd() {
        let points = centers().repeat([25, 1]) + 0.001;
        let m = toy_mode_metrics(&points, &centers(), 0.01).expect("metrics");
        assert_eq!((m.modes, m.modes_covered), (4, 4));
        assert_eq!(m.high_quality_share, 1.0);
        assert!(m.jsd_to_uniform.abs() < 1e-12);
        assert_eq!(m.high_quality_per_mode, vec![25, 25, 25, 25]);
    }

    #[test]
    fn a_collapsed_generator_covers_one_mode() {
        // All mass on one of 4 modes: JSD(δ, U) = ½[1·log2(1/(5/8))] + ½[¼·log2(¼/(5/8)) + 3·¼·log2(¼/⅛)]
        let points = Tensor::zeros([100, 2], (Kind::Float, tch::Device::Cpu));
        let m = toy_mode_metrics(&points, &centers(), 0.01).expect("metrics");
        assert_eq!(m.modes_covered, 1);
        let expected = 0.5 * (1.6f64.log2() + 0.25 * 0.4f64.log2() + 0.75 * 2f64.log2());
        assert!(
            (m.jsd_to_uniform - expected).abs() < 1e-12,
            "{} vs {expected}",
            m.jsd_to_uniform
        );
    }

    #[test]
    fn samples_between_modes_are_not_high_quality() {
        // Halfway between modes 0 and 1: far outside 3σ of both (over-generalisation).
        let points = Tensor::from_slice(&[0.5f32, 0.0])
            .view([1, 2])
            .repeat([10, 1]);
        let m = toy_mode_metrics(&points, &centers(), 0.01).expect("metrics");
        assert_eq!(m.high_quality_share, 0.0);
        assert_eq!(m.modes_covered, 0);
    }

    #[test]
    fn mismatched_shapes_are_errors() {
        let err = toy_mode_metrics(
            &Tensor::zeros([3, 3], (Kind::Float, tch::Device::Cpu)),
            &centers(),
            0.1,
        )
        .unwrap_err();
        assert!(err.to_string().contains("samples [3, 3]"), "{err}");
    }
}
