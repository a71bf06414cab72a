//! Feature statistics and the Fréchet distance (Heusel et al. 2017, Eq. 6):
//! d² = ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½).
//!
//! The mean and covariance are accumulated in float64 (sum and sum of outer products; the
//! covariance is unbiased, N − 1, like `np.cov`). The trace of the matrix square root is computed
//! through a symmetric eigenvalue problem, never an iterative `sqrtm`: for any factor Σ₁ = F Fᵀ,
//! M = Fᵀ Σ₂ F is symmetric positive semi-definite and has the same eigenvalues as Σ₁Σ₂, so
//! tr(Σ₁Σ₂)^½ = Σᵢ √λᵢ(M) (negative round-off eigenvalues clipped to 0). F is the Cholesky factor
//! when Σ₁ is positive definite (the usual case, N > d: a tenth of the cost of an
//! eigendecomposition) and F = V Λ^½ from Σ₁ = V Λ Vᵀ otherwise (a singular Σ₁, N ≤ d).

use crate::Error;
use tch::{Device, Kind, Tensor};

/// Streaming mean and covariance of feature vectors, in float64.
#[derive(Debug)]
pub struct FeatureStats {
    dim: i64,
    count: i64,
    sum: Tensor,
    sum_outer: Tensor,
}

impl FeatureStats {
    /// Empty statistics of `dim`-dimensional features.
    pub fn new(dim: i64) -> Self {
        let opts = (Kind::Double, Device::Cpu);
        FeatureStats {
            dim,
            count: 0,
            sum: Tensor::zeros([dim], opts),
            sum_outer: Tensor::zeros([dim, dim], opts),
        }
    }

    /// Adds a batch of features [N, dim].
    pub fn feed(&mut self, features: &Tensor) -> Result<(), Error> {
        let size = features.size();
        if size.len() != 2 || size[1] != self.dim {
            return Err(Error::BadInput {
                what: "feature batch",
                expected: format!("[N, {}]", self.dim),
                got: format!("{size:?}"),
            });
        }
        let x = features.to_device(Device::Cpu).to_kind(Kind::Double);
        self.sum += x.sum_dim_intlist(0, false, None::<Kind>);
        self.sum_outer += x.transpose(0, 1).matmul(&x);
        self.count += size[0];
        Ok(())
    }

    /// Number of features fed.
    pub fn count(&self) -> i64 {
        self.count
    }

    /// Feature dimension.
    pub fn dim(&self) -> i64 {
        self.dim
    }

    /// The mean, `[dim]`.
    pub fn mean(&self) -> Tensor {
        &self.sum / self.count.max(1) as f64
    }

    /// The unbiased covariance [dim, dim] (N − 1), as `np.cov(x, rowvar=False)`.
    pub fn covariance(&self) -> Result<Tensor, Error> {
        if self.count < 2 {
            return Err(Error::BadInput {
                what: "feature statistics",
                expected: "at least 2 samples".into(),
                got: self.count.to_string(),
            });
        }
        let n = self.count as f64;
        let mean = self.mean();
        Ok((&self.sum_outer - mean.outer(&mean) * n) / (n - 1.0))
    }

    /// Mean and covariance as plain vectors (for caching).
    pub fn to_mean_cov(&self) -> Result<(Tensor, Tensor), Error> {
        Ok((self.mean(), self.covariance()?))
    }
}

/// tr((Σ₁Σ₂)^½) as Σᵢ √λᵢ(Fᵀ Σ₂ F) with Σ₁ = F Fᵀ (see the module documentation).
pub fn trace_sqrt_product(sigma1: &Tensor, sigma2: &Tensor) -> Tensor {
    let sym = |m: &Tensor| (m + m.transpose(0, 1)) * 0.5;
    let sigma1 = sym(sigma1);
    let (cholesky, info) = sigma1.linalg_cholesky_ex(false, false);
    let factor = if info.int64_value(&[]) == 0 {
        cholesky
    } else {
        let (eigenvalues, eigenvectors) = sigma1.linalg_eigh("L");
        eigenvectors * eigenvalues.clamp_min(0.0).sqrt().unsqueeze(0)
    };
    let m = sym(&factor.transpose(0, 1).matmul(sigma2).matmul(&factor));
    m.linalg_eigvalsh("L")
        .clamp_min(0.0)
        .sqrt()
        .sum(None::<Kind>)
}

/// The Fréchet distance between N(μ₁, Σ₁) and N(μ₂, Σ₂), in float64.
pub fn frechet_distance(
    mu1: &Tensor,
    sigma1: &Tensor,
    mu2: &Tensor,
    sigma2: &Tensor,
) -> Result<f64, Error> {
    let d = mu1.size()[0];
    for (what, t, expected) in [
        ("mu2", mu2, vec![d]),
        ("sigma1", sigma1, vec![d, d]),
        ("sigma2", sigma2, vec![d, d]),
    ] {
        if t.size() != expected {
            return Err(Error::BadInput {
                what,
                expected: format!("{expected:?}"),
                got: format!("{:?}", t.size()),
            });
        }
    }
    let (mu1, mu2) = (mu1.to_kind(Kind::Double), mu2.to_kind(Kind::Double));
    let (s1, s2) = (sigma1.to_kind(Kind::Double), sigma2.to_kind(Kind::Double));
    let mean_term = (&mu1 - &mu2).square().sum(None::<Kind>).double_value(&[]);
    let trace_term = (s1.trace() + s2.trace()).double_value(&[])
        - 2.0 * trace_sqrt_product(&s1, &s2).double_value(&[]);
    Ok(mean_term + trace_term)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_statistics_equal_the_batch_formulas() {
        let x = Tensor::randn([50, 6], (Kind::Double, Device::Cpu));
        let mut stats = FeatureStats::new(6);
        stats.feed(&x.narrow(0, 0, 20)).expect("feed");
        stats.feed(&x.narrow(0, 20, 30)).expect("feed");
        let mean = x.mean_dim(0, false, None::<Kind>);
        let centred = &x - &mean;
        let cov = centred.transpose(0, 1).matmul(&centred) / 49.0;
        assert!(stats.mean().allclose(&mean, 1e-12, 1e-12, false));
        assert!(stats
            .covariance()
            .expect("cov")
            .allclose(&cov, 1e-12, 1e-12, false));
        let err = stats
            .feed(&Tensor::zeros([2, 5], (Kind::Double, Device::Cpu)))
            .unwrap_err();
        assert!(err.to_string().contains("[N, 6]"), "{err}");
    }

    #[test]
    fn frechet_distance_of_diagonal_gaussians_has_a_closed_form() {
        // Diagonal Σ: tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½) = Σ (√a − √b)².
        let a = [1.0f64, 4.0, 9.0];
        let b = [4.0f64, 1.0, 0.25];
        let mu1 = Tensor::from_slice(&[0.0f64, 1.0, 2.0]);
        let mu2 = Tensor::from_slice(&[1.0f64, 1.0, 0.0]);
        let s1 = Tensor::from_slice(&a).diag(0);
        let s2 = Tensor::from_slice(&b).diag(0);
        let expected: f64 = 1.0
            + 4.0
            + a.iter()
                .zip(&b)
                .map(|(x, y)| (x.sqrt() - y.sqrt()).powi(2))
                .sum::<f64>();
        let d = frechet_distance(&mu1, &s1, &mu2, &s2).expect("fd");
        assert!((d - expected).abs() < 1e-12, "{d} vs {expected}");
        assert!(frechet_distance(&mu1, &s1, &mu1, &s1).expect("fd").abs() < 1e-12);
    }

    #[test]
    fn singular_and_definite_covariances_take_matching_routes() {
        // A rank-deficient Σ₁ (fewer samples than dimensions) has no Cholesky factor: the
        // eigendecomposition route gives the closed form Σ √(aᵢbᵢ) of diagonal matrices.
        let s1 = Tensor::from_slice(&[2.0f64, 0.0, 3.0, 0.0]).diag(0);
        let s2 = Tensor::from_slice(&[8.0f64, 5.0, 3.0, 1.0]).diag(0);
        let t = trace_sqrt_product(&s1, &s2).double_value(&[]);
        assert!((t - (4.0 + 3.0)).abs() < 1e-12, "{t}");
        // On a full-rank pair, both factors give the same trace.
        let x = Tensor::randn([40, 8], (Kind::Double, Device::Cpu));
        let y = Tensor::randn([40, 8], (Kind::Double, Device::Cpu)) * 1.5 + 0.2;
        let cov = |v: &Tensor| {
            let c = v - v.mean_dim(0, true, None::<Kind>);
            c.transpose(0, 1).matmul(&c) / (v.size()[0] - 1) as f64
        };
        let (a, b) = (cov(&x), cov(&y));
        let (values, vectors) = a.linalg_eigh("L");
        let f = vectors * values.sqrt().unsqueeze(0);
        let by_eigh = f
            .transpose(0, 1)
            .matmul(&b)
            .matmul(&f)
            .linalg_eigvalsh("L")
            .clamp_min(0.0)
            .sqrt()
            .sum(Kind::Double)
            .double_value(&[]);
        let by_cholesky = trace_sqrt_product(&a, &b).double_value(&[]);
        assert!(
            (by_eigh - by_cholesky).abs() < 1e-10 * by_eigh.abs(),
            "{by_eigh} vs {by_cholesky}"
        );
    }
}
