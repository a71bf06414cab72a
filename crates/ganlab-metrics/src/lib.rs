//! Evaluation metrics. Metrics see batches of samples, never networks.
//!
//! - [`toy`]: mode coverage, high-quality share and the mode-histogram JSD for the 2-D mixtures.
//!
//! FID, IS, SWD, KID and domain-classifier coverage come with the metrics issue.

pub mod toy;

pub use toy::{toy_mode_metrics, ToyModeMetrics};

/// Errors from computing metrics on inputs of the wrong shape or size.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: expected {expected}, got {got}")]
    BadInput { what: &'static str, expected: String, got: String },
}
