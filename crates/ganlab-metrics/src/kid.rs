//! Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs"): the unbiased
//! estimate of MMD² with the cubic polynomial kernel k(x, y) = (x·y/d + 1)³, over random subsets
//! of at most 1,000 samples per side (100 subsets), reported as mean and standard deviation over
//! the subsets (as torch-fidelity does; StyleGAN2-ADA reports the mean).

use crate::Error;
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

/// KID's mean and standard deviation over subsets.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Kid {
    pub mean: f64,
    pub std: f64,
    pub subsets: usize,
    pub subset_size: i64,
}

/// Unbiased MMD² of two equally sized sets [m, d] with the cubic kernel (one subset).
pub fn mmd2_cubic(x: &Tensor, y: &Tensor) -> f64 {
    let (m, d) = (x.size()[0] as f64, x.size()[1] as f64);
    let k = |a: &Tensor, b: &Tensor| (a.matmul(&b.transpose(0, 1)) / d + 1.0).pow_tensor_scalar(3);
    let kxx = k(x, x);
    let kyy = k(y, y);
    let kxy = k(x, y);
    let off_diagonal = |t: &Tensor| {
        (t.sum(None::<Kind>) - t.diagonal(0, 0, 1).sum(None::<Kind>)).double_value(&[])
    };
    (off_diagonal(&kxx) + off_diagonal(&kyy)) / (m * (m - 1.0))
        - 2.0 * kxy.sum(None::<Kind>).double_value(&[]) / (m * m)
}

/// KID over `subsets` subsets whose indices are given (for reference checks): each entry is
/// (indices into `real`, indices into `fake`).
pub fn kid_with_subsets(
    real: &Tensor,
    fake: &Tensor,
    subsets: &[(Vec<i64>, Vec<i64>)],
) -> Result<Kid, Error> {
    if subsets.is_empty() {
        return Err(Error::BadInput {
            what: "KID",
            expected: "at least one subset".into(),
            got: "0".into(),
        });
    }
    let real = real.to_kind(Kind::Double);
    let fake = fake.to_kind(Kind::Double);
    let values: Vec<f64> = subsets
        .iter()
        .map(|(ri, fi)| {
            mmd2_cubic(
                &fake.index_select(0, &Tensor::from_slice(fi)),
                &real.index_select(0, &Tensor::from_slice(ri)),
            )
        })
        .collect();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
    Ok(Kid {
        mean,
        std: var.sqrt(),
        subsets: values.len(),
        subset_size: subsets[0].0.len() as i64,
    })
}

/// KID with `num_subsets` random subsets of size min(N_real, N_fake, max_subset_size), seeded.
pub fn kid(
    real: &Tensor,
    fake: &Tensor,
    num_subsets: usize,
    max_subset_size: i64,
    seed: u64,
) -> Result<Kid, Error> {
    let (nr, nf) = (real.size()[0], fake.size()[0]);
    if real.dim() != 2 || fake.dim() != 2 || real.size()[1] != fake.size()[1] {
        return Err(Error::BadInput {
            what: "KID features",
            expected: "[N, d] and [M, d]".into(),
            got: format!("{:?} and {:?}", real.size(), fake.size()),
        });
    }
    let m = nr.min(nf).min(max_subset_size);
    if m < 2 {
        return Err(Error::BadInput {
            what: "KID",
            expected: "at least 2 samples per side".into(),
            got: m.to_string(),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let subsets: Vec<(Vec<i64>, Vec<i64>)> = (0..num_subsets)
        .map(|_| {
            let fi = sample(&mut rng, nf as usize, m as usize)
                .into_iter()
                .map(|i| i as i64)
                .collect();
            let ri = sample(&mut rng, nr as usize, m as usize)
                .into_iter()
                .map(|i| i as i64)
                .collect();
            (ri, fi)
        })
        .collect();
    kid_with_subsets(real, fake, &subsets)
}
