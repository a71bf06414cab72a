//! Evaluation metrics. Metrics see batches of samples (images or features), never networks.
//!
//! ```
//! use tch::{Device, Kind, Tensor};
//! tch::manual_seed(0);
//! // Images as 0…255 floats, NCHW: metrics never see a network.
//! let real = Tensor::rand([64, 3, 32, 32], (Kind::Float, Device::Cpu)) * 255.0;
//! let dark = Tensor::rand([64, 3, 32, 32], (Kind::Float, Device::Cpu)) * 64.0;
//! let swd = ganlab_metrics::swd(&real, &dark, 0)?; // ProGAN's sliced Wasserstein distance
//! assert_eq!(swd.per_level.keys().copied().collect::<Vec<_>>(), [16, 32]);
//! let close = ganlab_metrics::swd(&real, &(&real * 0.99), 0)?;
//! assert!(close.avg < swd.avg);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`classifier`]: domain classifiers (MNIST, Fashion-MNIST), class histograms and mode
//!   coverage;
//! - [`fid_infinity`](mod@fid_infinity): FID extrapolated to infinitely many samples (FID∞);
//! - [`frechet`]: float64 feature statistics and the Fréchet distance (FID's core);
//! - [`inception`]: the TorchScript FID detector and its exact preprocessing;
//! - [`inception_native`]: the default detector's graph by the toolkit's own calls (folded batch
//!   norms, channels-last), what `Detector` runs for that file;
//! - [`kid`](mod@kid): Kernel Inception Distance;
//! - [`manifold`]: k-NN precision, recall, density, coverage and realism on any features;
//! - [`resize`](mod@resize): FID's resize to 299 (TensorFlow's bilinear, or clean-fid's PIL bicubic);
//! - [`inception_score`](mod@inception_score): IS from any classifier's logits;
//! - [`swd`](mod@swd): ProGAN's sliced Wasserstein distance on Laplacian pyramids;
//! - [`toy`]: mode coverage, high-quality share and the mode-histogram JSD for the 2-D mixtures.

pub mod classifier;
pub mod fid_infinity;
pub mod frechet;
mod host;
pub mod inception;
pub mod inception_native;
pub mod inception_score;
pub mod kid;
pub mod manifold;
pub mod resize;
pub mod swd;
mod swd_cpu;
pub mod toy;

pub use fid_infinity::{fid_infinity, FidInfinity};
pub use frechet::{frechet_distance, FeatureStats};
pub use inception::Detector;
pub use inception_score::{inception_score, InceptionScore};
pub use kid::{kid, Kid};
pub use manifold::{manifold_metrics, ManifoldMetrics, ManifoldSettings};
pub use swd::{swd, swd_chunked, swd_with_phases, ImageChunks, Swd, SwdPhases};
pub use toy::{toy_mode_metrics, ToyModeMetrics};

/// Errors from computing metrics on inputs of the wrong shape or size.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: expected {expected}, got {got}")]
    BadInput {
        what: &'static str,
        expected: String,
        got: String,
    },
    /// Images that could not be read from their source (a streamed set).
    #[error("{0}")]
    Source(String),
    #[error("detector {}: {what}", path.display())]
    Detector {
        path: std::path::PathBuf,
        what: String,
    },
}
