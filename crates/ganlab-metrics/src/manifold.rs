//! k-nearest-neighbour manifold metrics on feature matrices: improved precision and recall
//! (Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric for Assessing Generative
//! Models"), density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics
//! for Generative Models") and the realism score of each sample (Kynkäänniemi et al. 2019, §5).
//!
//! Every sample x of a set X gets a radius r_k(x): the distance to its k-th nearest neighbour in
//! X, itself excluded. With real features R and fake features F:
//! - precision = share of f ∈ F with ‖f − r‖ ≤ r_k(r) for some r ∈ R (k = 3; StyleGAN2-ADA's
//!   `pr50k3`, torch-fidelity's `prc`): fakes on the real manifold, fidelity;
//! - recall = share of r ∈ R with ‖r − f‖ ≤ r_k(f) for some f ∈ F (k = 3): reals on the fake
//!   manifold, diversity;
//! - density = 1/(k·|F|) Σ_f #{r : ‖f − r‖ < r_k(r)} (k = 5, the `prdc` package's strict `<`):
//!   how many real neighbourhoods hold each fake, 1 on average for identical distributions, and
//!   unlike precision not fooled by outliers among the reals;
//! - coverage (`nn-coverage`) = share of r ∈ R whose ball (k = 5, `<`) holds some fake;
//! - realism of f = max_r r_k(r) / (‖f − r‖ + 1e-5) over the reals whose radius is at most the
//!   median radius (larger ones pruned, as the authors' code does with `clamp_to_percentile=50`):
//!   ≥ 1 means f lies within some real's k-NN ball.
//!
//! Distances are computed block by block (`block` rows by `block` columns, 10,000 as in prdc's
//! and torch-fidelity's references), ‖x‖² + ‖y‖² − 2x·y in the features' own kind (float32 or
//! float64), so 50,000 × 50,000 samples of 2,048-d features need a few blocks of `block`² floats
//! besides the features, never the whole distance matrix. In float32 a distance can differ from
//! the float64 one by a few units in the last place; a fake whose distance to a real equals that
//! real's radius to that precision can then fall on either side: at most one sample per tie,
//! 1/N of a score.
//!
//! Zero radii. A squared distance below the rounding level of its terms
//! (1e-5 · (‖x‖² + ‖y‖²) in float32, 1e-12 in float64) is taken as exactly 0: the two samples are
//! equal. A sample with k exact duplicates then has radius 0, and `prdc`'s strict `<` would never
//! count anything in its ball, so that density and coverage of a set against itself fall to 0
//! when it holds duplicates. Here a zero-radius ball holds the samples equal to its centre
//! (`d < max(r, smallest positive)`): a set against itself gives precision = recall = coverage = 1
//! with or without duplicates, and density stays finite. Away from exact duplicates the results
//! equal `prdc`'s and torch-fidelity's.

use crate::Error;
use tch::{Kind, Tensor};

/// k and block size of [`manifold_metrics`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ManifoldSettings {
    /// Neighbourhood of precision and recall (3 in Kynkäänniemi et al. 2019).
    pub k_precision_recall: i64,
    /// Neighbourhood of density and coverage (5 in Naeem et al. 2020).
    pub k_density_coverage: i64,
    /// Rows and columns of one distance block.
    pub block: i64,
}

impl Default for ManifoldSettings {
    fn default() -> Self {
        ManifoldSettings {
            k_precision_recall: 3,
            k_density_coverage: 5,
            block: 10_000,
        }
    }
}

/// Precision, recall, density and coverage of a fake set against a real one, and each fake's
/// realism score.
#[derive(Debug)]
pub struct ManifoldMetrics {
    pub precision: f64,
    pub recall: f64,
    pub density: f64,
    pub coverage: f64,
    /// Realism score of each fake sample, `[N_fake]`, float64 on the CPU.
    pub realism: Tensor,
    pub samples_real: i64,
    pub samples_fake: i64,
    pub settings: ManifoldSettings,
}

/// The realism score's denominator offset (the authors' code: `eps = 1e-5`).
pub const REALISM_EPS: f64 = 1e-5;

fn bad(what: &'static str, expected: impl Into<String>, got: impl Into<String>) -> Error {
    Error::BadInput {
        what,
        expected: expected.into(),
        got: got.into(),
    }
}

/// Checks a pair of feature sets and brings them to one kind (float64 if either is, else
/// float32) on the first one's device.
fn prepared(
    real: &Tensor,
    fake: &Tensor,
    min_real: i64,
    min_fake: i64,
) -> Result<(Tensor, Tensor), Error> {
    if real.dim() != 2 || fake.dim() != 2 {
        return Err(bad(
            "manifold metrics' features",
            "two matrices [N, d]",
            format!("{:?} and {:?}", real.size(), fake.size()),
        ));
    }
    let (rs, fs) = (real.size(), fake.size());
    if rs[1] != fs[1] {
        return Err(bad(
            "manifold metrics' features",
            "real and fake features of the same width",
            format!("{} and {} columns", rs[1], fs[1]),
        ));
    }
    if rs[0] < min_real || fs[0] < min_fake {
        return Err(bad(
            "manifold metrics' samples",
            format!("at least {min_real} real and {min_fake} fake samples (k + 1 each side)"),
            format!("{} real and {} fake", rs[0], fs[0]),
        ));
    }
    let kind = if real.kind() == Kind::Double || fake.kind() == Kind::Double {
        Kind::Double
    } else {
        Kind::Float
    };
    let device = real.device();
    let (real, fake) = (
        real.to_kind(kind).to_device(device),
        fake.to_kind(kind).to_device(device),
    );
    for (name, t) in [("real", &real), ("fake", &fake)] {
        if !bool::try_from(t.isfinite().all()).unwrap_or(false) {
            return Err(bad(
                "manifold metrics' features",
                "finite values",
                format!("NaN or infinity among the {name} features"),
            ));
        }
    }
    Ok((real, fake))
}

/// Squared norms of the rows of `x`, `[N]`.
fn squared_norms(x: &Tensor) -> Tensor {
    x.square().sum_dim_intlist(1, false, x.kind())
}

/// Euclidean distances [a, b] between the rows of `x` [a, d] and `y` [b, d], given their squared
/// norms; squared distances below the rounding level are exactly 0 (see the module docs).
fn distances(x: &Tensor, xn: &Tensor, y: &Tensor, yn: &Tensor) -> Tensor {
    let tol = if x.kind() == Kind::Double {
        1e-12
    } else {
        1e-5
    };
    // In place, one block and one boolean mask at a time: first ‖x‖² + ‖y‖² − 2x·y less the
    // rounding level tol·(‖x‖² + ‖y‖²), whose sign says which pairs are equal, then the level
    // added back.
    let mut d = x.mm(&y.transpose(0, 1));
    let _ = d.g_mul_scalar_(-2.0);
    let _ = d.g_add_(&(xn * (1.0 - tol)).unsqueeze(1));
    let _ = d.g_add_(&(yn * (1.0 - tol)).unsqueeze(0));
    let equal = d.le(0.0);
    let _ = d.g_add_(&(xn * tol).unsqueeze(1));
    let _ = d.g_add_(&(yn * tol).unsqueeze(0));
    let _ = d.masked_fill_(&equal, 0.0);
    let _ = d.sqrt_();
    d
}

/// The distance of each row of `x` to its k-th nearest other row, for each k of `ks` (`[N]` per
/// k, in `x`'s kind), computed `block` rows by `block` columns.
pub fn knn_radii(x: &Tensor, ks: &[i64], block: i64) -> Result<Vec<Tensor>, Error> {
    let n = x.size()[0];
    let kmax = ks.iter().copied().max().unwrap_or(1);
    if ks.iter().any(|&k| k < 1) {
        return Err(bad("k", "k ≥ 1", format!("{ks:?}")));
    }
    if n < kmax + 1 {
        return Err(bad(
            "k-NN radii",
            format!("at least k + 1 = {} samples", kmax + 1),
            n.to_string(),
        ));
    }
    if block < 1 {
        return Err(bad("distance block", "at least 1 row", block.to_string()));
    }
    let norms = squared_norms(x);
    let mut rows = Vec::new();
    let mut i = 0;
    while i < n {
        let bi = block.min(n - i);
        let xi = x.narrow(0, i, bi);
        let ni = norms.narrow(0, i, bi);
        let mut nearest: Option<Tensor> = None;
        let mut j = 0;
        while j < n {
            let bj = block.min(n - j);
            let mut d = distances(&xi, &ni, &x.narrow(0, j, bj), &norms.narrow(0, j, bj));
            // Itself excluded: the diagonal of the overlap of the row and column ranges.
            let (lo, hi) = (i.max(j), (i + bi).min(j + bj));
            if lo < hi {
                let rows_idx = Tensor::arange_start(lo - i, hi - i, (Kind::Int64, d.device()));
                let cols_idx = Tensor::arange_start(lo - j, hi - j, (Kind::Int64, d.device()));
                let inf = Tensor::full([hi - lo], f64::INFINITY, (d.kind(), d.device()));
                d = d.index_put_(&[Some(rows_idx), Some(cols_idx)], &inf, false);
            }
            let take = kmax.min(bj);
            let (smallest, _) = d.topk(take, 1, false, true);
            nearest = Some(match nearest {
                None => smallest,
                Some(prev) => {
                    let width = prev.size()[1] + take;
                    Tensor::cat(&[prev, smallest], 1)
                        .topk(kmax.min(width), 1, false, true)
                        .0
                }
            });
            j += bj;
        }
        rows.push(nearest.expect("at least one column block"));
        i += bi;
    }
    let sorted = Tensor::cat(&rows, 0);
    Ok(ks.iter().map(|&k| sorted.select(1, k - 1)).collect())
}

/// Precision, recall, density, coverage and realism of `fake` against `real` (features [N, d],
/// any device, float32 or float64): see the module documentation for the definitions.
pub fn manifold_metrics(
    real: &Tensor,
    fake: &Tensor,
    settings: ManifoldSettings,
) -> Result<ManifoldMetrics, Error> {
    let (kp, kd, block) = (
        settings.k_precision_recall,
        settings.k_density_coverage,
        settings.block,
    );
    if kp < 1 || kd < 1 {
        return Err(bad(
            "manifold metrics' k",
            "k ≥ 1",
            format!("k = {kp} (precision/recall), {kd} (density/coverage)"),
        ));
    }
    if block < 1 {
        return Err(bad("distance block", "at least 1 row", block.to_string()));
    }
    let (real, fake) = prepared(real, fake, kp.max(kd) + 1, kp + 1)?;
    let (nr, nf) = (real.size()[0], fake.size()[0]);
    let radii = knn_radii(&real, &[kp, kd], block)?;
    let (real_pr, real_dc) = (&radii[0], &radii[1]);
    let fake_pr = knn_radii(&fake, &[kp], block)?.remove(0);
    // Density and coverage compare with `<`; a zero radius holds the samples equal to its centre.
    let tiny = match real.kind() {
        Kind::Double => f64::MIN_POSITIVE,
        _ => f32::MIN_POSITIVE as f64,
    };
    let real_dc = real_dc.clamp_min(tiny);
    // Realism: the radii above the median are pruned (set to 0), numpy's percentile 50.
    let median = {
        let sorted = real_pr.sort(0, false).0;
        let (a, b) = ((nr - 1) / 2, nr / 2);
        (sorted.double_value(&[a]) + sorted.double_value(&[b])) / 2.0
    };
    let real_realism = real_pr.masked_fill(&real_pr.gt(median), 0.0);

    let real_norms = squared_norms(&real);
    let fake_norms = squared_norms(&fake);
    let device = real.device();
    let fake_on_real = Tensor::zeros([nf], (Kind::Bool, device));
    let fake_density = Tensor::zeros([nf], (Kind::Int64, device));
    let fake_realism = Tensor::zeros([nf], (real.kind(), device));
    let real_on_fake = Tensor::zeros([nr], (Kind::Bool, device));
    let real_nearest_fake = Tensor::full([nr], f64::INFINITY, (real.kind(), device));
    let mut i = 0;
    while i < nr {
        let bi = block.min(nr - i);
        let ri = real.narrow(0, i, bi);
        let rn = real_norms.narrow(0, i, bi);
        let r_pr = real_pr.narrow(0, i, bi).unsqueeze(1);
        let r_dc = real_dc.narrow(0, i, bi).unsqueeze(1);
        let r_realism = real_realism.narrow(0, i, bi).unsqueeze(1);
        let mut on_fake_rows = real_on_fake.narrow(0, i, bi);
        let mut nearest_rows = real_nearest_fake.narrow(0, i, bi);
        let mut j = 0;
        while j < nf {
            let bj = block.min(nf - j);
            let mut d = distances(
                &ri,
                &rn,
                &fake.narrow(0, j, bj),
                &fake_norms.narrow(0, j, bj),
            );
            let f_pr = fake_pr.narrow(0, j, bj).unsqueeze(0);
            let mut on_real = fake_on_real.narrow(0, j, bj);
            let _ = on_real.logical_or_(&d.le_tensor(&r_pr).any_dim(0, false));
            let mut dens = fake_density.narrow(0, j, bj);
            let _ = dens.g_add_(&d.lt_tensor(&r_dc).sum_dim_intlist(0, false, Kind::Int64));
            let _ = on_fake_rows.logical_or_(&d.le_tensor(&f_pr).any_dim(1, false));
            nearest_rows.copy_(&nearest_rows.minimum(&d.amin(1, false)));
            // Realism last: it reuses the distance block in place.
            let _ = d.g_add_scalar_(REALISM_EPS);
            let _ = d.reciprocal_();
            let _ = d.g_mul_(&r_realism);
            let mut realism = fake_realism.narrow(0, j, bj);
            realism.copy_(&realism.maximum(&d.amax(0, false)));
            j += bj;
        }
        i += bi;
    }
    let mean = |t: &Tensor| t.to_kind(Kind::Double).mean(Kind::Double).double_value(&[]);
    let coverage_hits = real_nearest_fake.lt_tensor(&real_dc);
    Ok(ManifoldMetrics {
        precision: mean(&fake_on_real),
        recall: mean(&real_on_fake),
        density: mean(&fake_density) / kd as f64,
        coverage: mean(&coverage_hits),
        realism: fake_realism
            .to_kind(Kind::Double)
            .to_device(tch::Device::Cpu),
        samples_real: nr,
        samples_fake: nf,
        settings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// The definitions written out on every pair (O(N²) loops), the check of the blocked code.
    fn naive(real: &[Vec<f64>], fake: &[Vec<f64>], kp: usize, kd: usize) -> [f64; 4] {
        let dist = |a: &[f64], b: &[f64]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let radius = |set: &[Vec<f64>], i: usize, k: usize| {
            let mut d: Vec<f64> = (0..set.len())
                .filter(|&j| j != i)
                .map(|j| dist(&set[i], &set[j]))
                .collect();
            d.sort_by(f64::total_cmp);
            d[k - 1]
        };
        let rp: Vec<f64> = (0..real.len()).map(|i| radius(real, i, kp)).collect();
        let rd: Vec<f64> = (0..real.len()).map(|i| radius(real, i, kd)).collect();
        let fp: Vec<f64> = (0..fake.len()).map(|i| radius(fake, i, kp)).collect();
        let precision = fake
            .iter()
            .filter(|f| real.iter().zip(&rp).any(|(r, &rad)| dist(f, r) <= rad))
            .count() as f64
            / fake.len() as f64;
        let recall = real
            .iter()
            .filter(|r| fake.iter().zip(&fp).any(|(f, &rad)| dist(r, f) <= rad))
            .count() as f64
            / real.len() as f64;
        let density = fake
            .iter()
            .map(|f| {
                real.iter()
                    .zip(&rd)
                    .filter(|(r, &rad)| dist(f, r) < rad)
                    .count()
            })
            .sum::<usize>() as f64
            / (kd * fake.len()) as f64;
        let coverage = real
            .iter()
            .zip(&rd)
            .filter(|(r, &rad)| fake.iter().any(|f| dist(f, r) < rad))
            .count() as f64
            / real.len() as f64;
        [precision, recall, density, coverage]
    }

    fn rows(t: &Tensor) -> Vec<Vec<f64>> {
        Vec::<Vec<f64>>::try_from(t).expect("rows")
    }

    #[test]
    fn blocked_metrics_equal_the_definitions_for_any_block_size() {
        tch::manual_seed(3);
        let opts = (Kind::Double, Device::Cpu);
        let real = Tensor::randn([37, 5], opts);
        let fake = Tensor::randn([29, 5], opts) * 1.3 + 0.4;
        let expected = naive(&rows(&real), &rows(&fake), 3, 5);
        for block in [1, 4, 7, 10_000] {
            let m = manifold_metrics(
                &real,
                &fake,
                ManifoldSettings {
                    block,
                    ..Default::default()
                },
            )
            .expect("metrics");
            let got = [m.precision, m.recall, m.density, m.coverage];
            for (g, e) in got.iter().zip(&expected) {
                assert!(
                    (g - e).abs() < 1e-12,
                    "block {block}: {got:?} vs {expected:?}"
                );
            }
            assert_eq!(m.realism.size(), [29]);
        }
    }

    #[test]
    fn identical_and_duplicated_sets_give_defined_values() {
        let opts = (Kind::Float, Device::Cpu);
        tch::manual_seed(0);
        let base = Tensor::randn([4, 8], opts) * 10.0 + 30.0;
        // Every point six times: radii are 0 for k ≤ 5.
        let dup = base.repeat([6, 1]);
        let m = manifold_metrics(&dup, &dup, ManifoldSettings::default()).expect("metrics");
        assert_eq!([m.precision, m.recall, m.coverage], [1.0, 1.0, 1.0]);
        // Each fake is in its 6 copies' zero-radius balls: 6 / k.
        assert!((m.density - 6.0 / 5.0).abs() < 1e-12, "{}", m.density);
        assert!(bool::try_from(m.realism.isfinite().all()).expect("bool"));
        let other = Tensor::randn([24, 8], opts) * 10.0 + 30.0;
        let m = manifold_metrics(&dup, &other, ManifoldSettings::default()).expect("metrics");
        for v in [m.precision, m.recall, m.density, m.coverage] {
            assert!(v.is_finite() && (0.0..=1.0).contains(&v), "{v}");
        }
    }

    #[test]
    fn bad_inputs_are_named() {
        let opts = (Kind::Float, Device::Cpu);
        let err = |r: &Tensor, f: &Tensor| {
            manifold_metrics(r, f, ManifoldSettings::default())
                .unwrap_err()
                .to_string()
        };
        let e = err(&Tensor::zeros([5, 4], opts), &Tensor::zeros([50, 4], opts));
        assert!(
            e.contains("at least 6 real and 4 fake") && e.contains("5 real"),
            "{e}"
        );
        let e = err(&Tensor::zeros([50, 4], opts), &Tensor::zeros([3, 4], opts));
        assert!(e.contains("3 fake"), "{e}");
        let e = err(&Tensor::zeros([50, 4], opts), &Tensor::zeros([50, 3], opts));
        assert!(
            e.contains("same width") && e.contains("4 and 3 columns"),
            "{e}"
        );
        let nan = Tensor::zeros([50, 4], opts).fill_(f64::NAN);
        let e = err(&Tensor::zeros([50, 4], opts), &nan);
        assert!(e.contains("NaN"), "{e}");
    }
}
