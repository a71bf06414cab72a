//! FID at infinity (Chong & Forsyth 2020, "Effectively Unbiased FID and Inception Score and
//! where to find them"): FID of N samples is biased upward by a term linear in 1/N, so FID is
//! computed on random subsets of the fake features of several sizes, a line is fitted to FID
//! against 1/N by least squares, and its intercept (1/N = 0) is FID∞. The authors use 15 sizes
//! evenly spaced from 5,000 to 50,000 (`np.linspace(5000, num_im, 15).astype('int32')`, a fresh
//! shuffle for each size); here the sizes run evenly from a tenth of the fake samples to all of
//! them, the same ratio, so that a training evaluation's 1,000 samples and `gan eval`'s 50,000
//! estimate the same limit. The real statistics are the full set's, as in their code.

use crate::frechet::{frechet_distance, FeatureStats};
use crate::Error;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

/// Sample sizes the line is fitted over (the authors' 15).
pub const FID_INF_POINTS: usize = 15;

/// The fewest distinct sizes a fit is made from.
pub const FID_INF_MIN_SIZES: usize = 5;

/// FID∞ with the fit behind it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FidInfinity {
    /// The intercept: FID extrapolated to infinitely many samples.
    pub value: f64,
    /// The fitted line's slope against 1/N.
    pub slope: f64,
    /// The subset sizes, smallest first.
    pub sizes: Vec<i64>,
    /// FID at each size.
    pub fids: Vec<f64>,
}

/// The subset sizes for `n` fake samples: `points` sizes evenly spaced from n/10 to n, truncated
/// to integers, repeated ones dropped; an error when fewer than [`FID_INF_MIN_SIZES`] distinct
/// sizes of at least 2 samples remain.
pub fn fid_inf_sizes(n: i64, points: usize) -> Result<Vec<i64>, Error> {
    let (lo, hi) = (n as f64 / 10.0, n as f64);
    let mut sizes: Vec<i64> = (0..points)
        .map(|i| match points {
            1 => n,
            _ => (lo + (hi - lo) * i as f64 / (points - 1) as f64) as i64,
        })
        .collect();
    sizes.dedup();
    if sizes.len() < FID_INF_MIN_SIZES || sizes[0] < 2 {
        return Err(Error::BadInput {
            what: "fid-inf",
            expected: format!(
                "at least {FID_INF_MIN_SIZES} distinct subset sizes of 2 or more samples (sizes \
                 from a tenth of the fake samples to all of them: at least 20 samples)"
            ),
            got: format!("{n} fake samples (sizes {sizes:?})"),
        });
    }
    Ok(sizes)
}

/// FID∞ of `fake` features [N, d] against the real set's mean and covariance, from
/// [`FID_INF_POINTS`] subset sizes, each subset drawn by a fresh seeded shuffle.
pub fn fid_infinity(
    real_mean: &Tensor,
    real_cov: &Tensor,
    fake: &Tensor,
    seed: u64,
) -> Result<FidInfinity, Error> {
    if fake.dim() != 2 || fake.size()[1] != real_mean.size()[0] {
        return Err(Error::BadInput {
            what: "fid-inf features",
            expected: format!("[N, {}]", real_mean.size()[0]),
            got: format!("{:?}", fake.size()),
        });
    }
    let n = fake.size()[0];
    let sizes = fid_inf_sizes(n, FID_INF_POINTS)?;
    let fake = fake.to_kind(Kind::Double).to_device(tch::Device::Cpu);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<i64> = (0..n).collect();
    let mut fids = Vec::with_capacity(sizes.len());
    for &size in &sizes {
        order.shuffle(&mut rng);
        let subset = fake.index_select(0, &Tensor::from_slice(&order[..size as usize]));
        let mut stats = FeatureStats::new(subset.size()[1]);
        stats.feed(&subset)?;
        fids.push(frechet_distance(
            real_mean,
            real_cov,
            &stats.mean(),
            &stats.covariance()?,
        )?);
    }
    // Least squares of FID on x = 1/N.
    let xs: Vec<f64> = sizes.iter().map(|&s| 1.0 / s as f64).collect();
    let m = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / m, fids.iter().sum::<f64>() / m);
    let sxy: f64 = xs.iter().zip(&fids).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let slope = sxy / sxx;
    Ok(FidInfinity {
        value: my - slope * mx,
        slope,
        sizes,
        fids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn sizes_follow_the_authors_spacing_and_too_few_samples_are_named() {
        // The authors' 5,000 … 50,000 in 15 steps.
        let sizes = fid_inf_sizes(50_000, 15).expect("sizes");
        assert_eq!(sizes.len(), 15);
        assert_eq!((sizes[0], sizes[1], sizes[14]), (5_000, 8_214, 50_000));
        assert!(fid_inf_sizes(20, 15).is_ok());
        let err = fid_inf_sizes(19, 15).unwrap_err().to_string();
        assert!(
            err.contains("fid-inf") && err.contains("19 fake samples"),
            "{err}"
        );
    }

    #[test]
    fn the_intercept_removes_the_small_sample_bias() {
        // Same Gaussian on both sides: FID_N > 0 only through the 1/N bias, FID∞ ≈ 0.
        tch::manual_seed(1);
        let opts = (Kind::Double, Device::Cpu);
        let real = Tensor::randn([20_000, 8], opts);
        let mut stats = FeatureStats::new(8);
        stats.feed(&real).expect("feed");
        let fake = Tensor::randn([2_000, 8], opts);
        let fit = fid_infinity(&stats.mean(), &stats.covariance().expect("cov"), &fake, 0)
            .expect("fid-inf");
        assert!(fit.fids[0] > 0.02, "{:?}", fit.fids);
        assert!(fit.slope > 0.0, "{fit:?}");
        assert!(fit.value.abs() < fit.fids[fit.fids.len() - 1], "{fit:?}");
    }
}
