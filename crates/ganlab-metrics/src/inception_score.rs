//! Inception Score (Salimans et al. 2016, §4): exp(E_x KL(p(y|x) ‖ p(y))), computed on 10 splits
//! of the samples and reported as mean and standard deviation over the splits, from any
//! classifier's logits (the Inception network's, or a domain classifier's).

use crate::Error;
use tch::{Kind, Tensor};

/// IS mean and standard deviation over splits.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct InceptionScore {
    pub mean: f64,
    pub std: f64,
    pub splits: i64,
}

/// IS from logits [N, classes] over `splits` consecutive splits (population std, as `np.std`).
pub fn inception_score(logits: &Tensor, splits: i64) -> Result<InceptionScore, Error> {
    let size = logits.size();
    if size.len() != 2 || size[0] < splits || splits < 1 {
        return Err(Error::BadInput {
            what: "IS logits",
            expected: format!("[N >= {splits}, classes]"),
            got: format!("{size:?}"),
        });
    }
    let log_p = logits.to_kind(Kind::Double).log_softmax(1, None::<Kind>);
    let n = size[0];
    let mut scores = Vec::with_capacity(splits as usize);
    for k in 0..splits {
        let (start, end) = (k * n / splits, (k + 1) * n / splits);
        let part = log_p.narrow(0, start, end - start);
        // log p(y) = log mean_x p(y|x)
        let log_py = part.logsumexp(&[0i64][..], false) - ((end - start) as f64).ln();
        let kl =
            (part.exp() * (&part - log_py.unsqueeze(0))).sum_dim_intlist(1, false, None::<Kind>);
        scores.push(kl.mean(None::<Kind>).double_value(&[]).exp());
    }
    let mean = scores.iter().sum::<f64>() / scores.len() as f64;
    let std = (scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / scores.len() as f64).sqrt();
    Ok(InceptionScore { mean, std, splits })
}
