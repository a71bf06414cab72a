//! The prepared multi-resolution archive (`gan dataset create`): a dataset's images written once
//! as uint8 at a resolution R and at every lower power of two down to 4, with labels and class
//! names, in one [safetensors](https://github.com/huggingface/safetensors) file that other tools
//! read as it is (`safetensors.numpy.load_file(path)` in Python).
//!
//! Layout (format `ganlab-archive`, version 1):
//! - `images.R`, `images.R/2`, …, `images.4`: uint8 `[N, C, r, r]` (channels first), one tensor
//!   per level, largest first;
//! - `labels`: int64 `[N]`;
//! - `__metadata__`: `format`, `version`, `resolution`, `channels`, `images`, `source` and
//!   `class_names` (a JSON list).
//!
//! Each level is the 2x2 average of the level above, computed in float32 from the unrounded
//! level above and rounded half to even, as ProGAN's `dataset_tool.py` (`TFRecordExporter.
//! add_image`: `img = (img[:, 0::2, 0::2] + img[:, 0::2, 1::2] + img[:, 1::2, 0::2] +
//! img[:, 1::2, 1::2]) * 0.25; quant = np.rint(img).clip(0, 255).astype(np.uint8)`).
//!
//! Reading uses positioned reads of the images a batch needs, so opening costs one header read
//! whatever the dataset's size, memory holds only the batches in flight, and a growing
//! architecture reads the level its schedule needs: the 4x4 phase never touches the
//! full-resolution bytes.

use crate::{Error, ImageSource};
use ganlab_files::FileError;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// The `format` of the archive's metadata.
pub const ARCHIVE_FORMAT: &str = "ganlab-archive";
/// The version this code writes and reads.
pub const ARCHIVE_VERSION: &str = "1";

/// The levels of an archive of resolution `r`: r, r/2, …, 4 (or just `r` below 4).
pub fn levels(resolution: i64) -> Vec<i64> {
    let mut out = vec![resolution];
    while *out.last().unwrap_or(&4) > 4 {
        let next = out.last().copied().unwrap_or(4) / 2;
        out.push(next);
    }
    out
}

/// The next level of a channels-first image `[C, 2r, 2r]` in float32 (ProGAN's 2x2 average; see
/// the module's documentation).
pub fn half_level(image: &[f32], channels: usize, side: usize) -> Vec<f32> {
    let half = side / 2;
    let mut out = Vec::with_capacity(channels * half * half);
    for c in 0..channels {
        let plane = &image[c * side * side..(c + 1) * side * side];
        for y in 0..half {
            let (top, bottom) = (&plane[2 * y * side..], &plane[(2 * y + 1) * side..]);
            for x in 0..half {
                let sum = top[2 * x] + top[2 * x + 1] + bottom[2 * x] + bottom[2 * x + 1];
                out.push(sum * 0.25);
            }
        }
    }
    out
}

/// `np.rint(x).clip(0, 255).astype(np.uint8)`.
fn quantize(image: &[f32]) -> Vec<u8> {
    image
        .iter()
        .map(|v| v.round_ties_even().clamp(0.0, 255.0) as u8)
        .collect()
}

/// One tensor of the header: dtype, shape and byte range in the data section.
struct TensorEntry {
    name: String,
    dtype: &'static str,
    shape: Vec<i64>,
    start: u64,
    end: u64,
}

/// What an archive holds, from its header.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveInfo {
    pub resolution: i64,
    pub channels: i64,
    pub images: i64,
    pub source: String,
    pub class_names: Vec<String>,
}

/// Writes an archive of `info.images` images at `info.resolution`: `image(i)` returns image i as
/// `[C, R, R]` uint8 bytes (channels first) and its label; `progress(n)` is told every image
/// written. Images are produced in parallel chunks; the file appears at `out` only when every
/// image is written and synced (a temporary file before that, removed on error).
pub fn write_archive(
    out: &Path,
    info: &ArchiveInfo,
    image: impl Fn(i64) -> Result<(Vec<u8>, i64), Error> + Sync,
    progress: impl Fn(u64) + Sync,
) -> Result<(), Error> {
    let (c, r, n) = (info.channels, info.resolution, info.images);
    if !(c == 1 || c == 3) || r < 4 || r.count_ones() != 1 || n < 1 {
        return Err(Error::InvalidRequest(format!(
            "{}: an archive needs 1 or 3 channels, a power-of-two resolution >= 4 and at least one image; got {c} channels, {r}x{r}, {n} images",
            out.display()
        )));
    }
    let mut entries = Vec::new();
    let mut offset = 0u64;
    for side in levels(r) {
        let bytes = (n * c * side * side) as u64;
        entries.push(TensorEntry {
            name: format!("images.{side}"),
            dtype: "U8",
            shape: vec![n, c, side, side],
            start: offset,
            end: offset + bytes,
        });
        offset += bytes;
    }
    entries.push(TensorEntry {
        name: "labels".into(),
        dtype: "I64",
        shape: vec![n],
        start: offset,
        end: offset + 8 * n as u64,
    });
    let header = header_bytes(info, &entries)?;
    let data_start = 8 + header.len() as u64;
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| {
            Error::File(FileError {
                action,
                path,
                source,
            })
        }
    };
    // Written under a temporary name, synced and renamed: an interrupted `gan dataset create`
    // leaves no half archive where a run would look for one.
    ganlab_files::write_atomically(out, |partial| -> Result<(), Error> {
        let mut file = File::create(partial).map_err(io("create", partial))?;
        file.write_all(&(header.len() as u64).to_le_bytes())
            .and_then(|()| file.write_all(&header))
            .and_then(|()| file.set_len(data_start + offset))
            .map_err(io("write", partial))?;
        write_images(
            &file, partial, info, &entries, data_start, &image, &progress,
        )
    })
}

fn header_bytes(info: &ArchiveInfo, entries: &[TensorEntry]) -> Result<Vec<u8>, Error> {
    let mut header = serde_json::Map::new();
    header.insert(
        "__metadata__".into(),
        json!({
            "format": ARCHIVE_FORMAT,
            "version": ARCHIVE_VERSION,
            "resolution": info.resolution.to_string(),
            "channels": info.channels.to_string(),
            "images": info.images.to_string(),
            "source": info.source,
            "class_names": serde_json::to_string(&info.class_names).unwrap_or_default(),
        }),
    );
    for e in entries {
        header.insert(
            e.name.clone(),
            json!({"dtype": e.dtype, "shape": e.shape, "data_offsets": [e.start, e.end]}),
        );
    }
    let mut bytes = serde_json::to_vec(&Value::Object(header))
        .map_err(|e| Error::InvalidRequest(format!("archive header: {e}")))?;
    // The data section starts 8-byte aligned (the format allows trailing spaces in the header).
    while (8 + bytes.len()) % 8 != 0 {
        bytes.push(b' ');
    }
    Ok(bytes)
}

/// Produces the images in parallel chunks and writes each level's bytes at its place.
fn write_images(
    file: &File,
    path: &Path,
    info: &ArchiveInfo,
    entries: &[TensorEntry],
    data_start: u64,
    image: &(impl Fn(i64) -> Result<(Vec<u8>, i64), Error> + Sync),
    progress: &(impl Fn(u64) + Sync),
) -> Result<(), Error> {
    use rayon::prelude::*;
    let (c, r, n) = (
        info.channels as usize,
        info.resolution as usize,
        info.images,
    );
    let write_at = |bytes: &[u8], at: u64| {
        file.write_all_at(bytes, data_start + at).map_err(|source| {
            Error::File(FileError {
                action: "write",
                path: path.to_path_buf(),
                source,
            })
        })
    };
    let labels_entry = &entries[entries.len() - 1];
    const CHUNK: i64 = 64;
    for chunk_start in (0..n).step_by(CHUNK as usize) {
        let chunk: Vec<i64> = (chunk_start..(chunk_start + CHUNK).min(n)).collect();
        chunk.par_iter().try_for_each(|&i| -> Result<(), Error> {
            let (bytes, label) = image(i)?;
            if bytes.len() != c * r * r {
                return Err(Error::InvalidRequest(format!(
                    "image {i}: {} bytes, expected {c}x{r}x{r}",
                    bytes.len()
                )));
            }
            let mut level: Vec<f32> = bytes.iter().map(|&b| f32::from(b)).collect();
            let mut side = r;
            for (k, entry) in entries[..entries.len() - 1].iter().enumerate() {
                if k > 0 {
                    level = half_level(&level, c, side);
                    side /= 2;
                }
                let size = (c * side * side) as u64;
                let quantized = if k == 0 {
                    bytes.clone()
                } else {
                    quantize(&level)
                };
                write_at(&quantized, entry.start + i as u64 * size)?;
            }
            write_at(&label.to_le_bytes(), labels_entry.start + 8 * i as u64)?;
            progress(1);
            Ok(())
        })?;
    }
    Ok(())
}

/// A prepared archive opened for reading (see the module's documentation).
#[derive(Debug, Clone)]
pub struct Archive {
    path: PathBuf,
    file: std::sync::Arc<File>,
    info: ArchiveInfo,
    /// Level side → absolute byte offset of its tensor.
    levels: BTreeMap<i64, u64>,
    labels_at: u64,
    /// The level a batch is read at (the training resolution; the schedule's may be lower).
    resolution: i64,
    description: String,
}

/// Whether `path` is a file that says it is an archive of this format (its safetensors metadata
/// has `"format": "ganlab-archive"`), as opposed to, say, a training snapshot: reads the header
/// only; any failure to read it is `false`.
pub fn is_archive_file(path: &Path) -> bool {
    let read = || -> Option<bool> {
        let file = File::open(path).ok()?;
        let mut len_bytes = [0u8; 8];
        file.read_exact_at(&mut len_bytes, 0).ok()?;
        let header_len = u64::from_le_bytes(len_bytes);
        if header_len > 100_000_000 {
            return None;
        }
        let mut header = vec![0u8; header_len as usize];
        file.read_exact_at(&mut header, 8).ok()?;
        let header: Value = serde_json::from_slice(&header).ok()?;
        Some(header["__metadata__"]["format"] == ARCHIVE_FORMAT)
    };
    read().unwrap_or(false)
}

impl Archive {
    /// Opens `path` for reading at `resolution` (one of its levels, or
    /// [`crate::NATIVE_RESOLUTION`] for the largest): reads and checks the header and the file's
    /// length, nothing else.
    pub fn open(path: &Path, resolution: i64) -> Result<Archive, Error> {
        let corrupt = |what: String| Error::Corrupt {
            path: path.to_path_buf(),
            what,
        };
        let file = crate::open_file(path, "expected an archive written by `gan dataset create`")?;
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file_len = file.metadata().map_err(io)?.len();
        let mut len_bytes = [0u8; 8];
        file.read_exact_at(&mut len_bytes, 0).map_err(|_| {
            corrupt("not a safetensors file (shorter than its 8-byte header length)".into())
        })?;
        let header_len = u64::from_le_bytes(len_bytes);
        if header_len > 100_000_000 || 8 + header_len > file_len {
            return Err(corrupt(format!(
                "not a safetensors archive: a header of {header_len} bytes in a file of {file_len}"
            )));
        }
        let mut header = vec![0u8; header_len as usize];
        file.read_exact_at(&mut header, 8).map_err(io)?;
        let header: Value = serde_json::from_slice(&header)
            .map_err(|e| corrupt(format!("the header is not JSON: {e}")))?;
        let data_start = 8 + header_len;
        let (info, levels, labels_at, data_end) =
            parse_header(&header, data_start).map_err(corrupt)?;
        if file_len < data_end {
            return Err(corrupt(format!(
                "truncated: the header describes {data_end} bytes, the file has {file_len}"
            )));
        }
        let resolution = match resolution {
            crate::NATIVE_RESOLUTION => info.resolution,
            r => r,
        };
        if !levels.contains_key(&resolution) {
            let held: Vec<String> = levels.keys().map(|k| k.to_string()).collect();
            return Err(corrupt(format!(
                "holds the resolutions {} (up to {}x{}), not {resolution}x{resolution}; write one at {resolution} with `gan dataset create --resolution {resolution}`",
                held.join(", "),
                info.resolution,
                info.resolution
            )));
        }
        let description = format!(
            "archive:{} ({} images, {}x{} {}, from {})",
            path.display(),
            info.images,
            info.resolution,
            info.resolution,
            if info.channels == 1 {
                "grayscale"
            } else {
                "RGB"
            },
            info.source
        );
        Ok(Archive {
            path: path.to_path_buf(),
            file: std::sync::Arc::new(file),
            info,
            levels,
            labels_at,
            resolution,
            description,
        })
    }

    /// What the archive holds.
    pub fn info(&self) -> &ArchiveInfo {
        &self.info
    }

    /// The resolutions it holds, largest first.
    pub fn resolutions(&self) -> Vec<i64> {
        self.levels.keys().rev().copied().collect()
    }

    /// The labels of every image.
    pub fn labels(&self) -> Result<Vec<i64>, Error> {
        let mut bytes = vec![0u8; 8 * self.info.images as usize];
        self.file
            .read_exact_at(&mut bytes, self.labels_at)
            .map_err(|source| Error::Io {
                path: self.path.clone(),
                source,
            })?;
        Ok(bytes
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            .collect())
    }

    /// The images at `indices` at the stored level `side`, as uint8 `[B, C, side, side]`.
    pub fn read_level(&self, indices: &[i64], side: i64) -> Result<Tensor, Error> {
        let at = *self.levels.get(&side).ok_or_else(|| {
            Error::InvalidRequest(format!("{}: no level {side}", self.path.display()))
        })?;
        let n = self.info.images;
        if let Some(bad) = indices.iter().find(|&&i| i < 0 || i >= n) {
            return Err(Error::InvalidRequest(format!(
                "sample index {bad} is outside 0..{n} of {}",
                self.description
            )));
        }
        let size = (self.info.channels * side * side) as usize;
        let mut bytes = vec![0u8; size * indices.len()];
        for (slot, &i) in bytes.chunks_exact_mut(size).zip(indices) {
            self.file
                .read_exact_at(slot, at + i as u64 * size as u64)
                .map_err(|source| Error::Io {
                    path: self.path.clone(),
                    source,
                })?;
        }
        Ok(Tensor::from_slice(&bytes).view([indices.len() as i64, self.info.channels, side, side]))
    }
}

type ParsedHeader = (ArchiveInfo, BTreeMap<i64, u64>, u64, u64);

/// Checks the header: the format, a level per power of two from the resolution down to 4, each
/// `[N, C, r, r]` uint8 with the same N and C, int64 labels, byte ranges that fit their shapes.
fn parse_header(header: &Value, data_start: u64) -> Result<ParsedHeader, String> {
    let meta = &header["__metadata__"];
    let text = |key: &str| -> Result<String, String> {
        meta[key].as_str().map(str::to_string).ok_or_else(|| {
            format!("the header's metadata lacks `{key}` (not a `gan dataset create` archive)")
        })
    };
    if text("format")? != ARCHIVE_FORMAT {
        return Err(format!("the header's format is not `{ARCHIVE_FORMAT}`"));
    }
    let version = text("version")?;
    if version != ARCHIVE_VERSION {
        return Err(format!(
            "archive version {version}; this toolkit reads version {ARCHIVE_VERSION}"
        ));
    }
    let number = |key: &str| -> Result<i64, String> {
        text(key)?
            .parse()
            .map_err(|_| format!("the header's `{key}` is not a number"))
    };
    let info = ArchiveInfo {
        resolution: number("resolution")?,
        channels: number("channels")?,
        images: number("images")?,
        source: text("source")?,
        class_names: serde_json::from_str(&text("class_names")?)
            .map_err(|_| "the header's `class_names` is not a JSON list".to_string())?,
    };
    let (n, c) = (info.images, info.channels);
    let range = |name: &str, dtype: &str, shape: &[i64], item: u64| -> Result<(u64, u64), String> {
        let entry = &header[name];
        if entry.is_null() {
            return Err(format!("the archive has no tensor `{name}`"));
        }
        let found: Vec<i64> = entry["shape"]
            .as_array()
            .map(|s| s.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        if entry["dtype"] != dtype || found != shape {
            return Err(format!(
                "`{name}` is {} {:?}, expected {dtype} {shape:?} (images of different sizes or counts)",
                entry["dtype"], found
            ));
        }
        let offsets: Vec<u64> = entry["data_offsets"]
            .as_array()
            .map(|o| o.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        let bytes = shape.iter().product::<i64>() as u64 * item;
        match offsets.as_slice() {
            [start, end] if end - start == bytes && start <= end => Ok((*start, *end)),
            _ => Err(format!("`{name}`'s byte range does not fit its shape")),
        }
    };
    let mut levels = BTreeMap::new();
    let mut data_end = 0u64;
    for side in levels_of(info.resolution)? {
        let (start, end) = range(&format!("images.{side}"), "U8", &[n, c, side, side], 1)?;
        levels.insert(side, data_start + start);
        data_end = data_end.max(end);
    }
    let (start, end) = range("labels", "I64", &[n], 8)?;
    data_end = data_end.max(end);
    Ok((info, levels, data_start + start, data_start + data_end))
}

fn levels_of(resolution: i64) -> Result<Vec<i64>, String> {
    if resolution < 4 || resolution.count_ones() != 1 {
        return Err(format!(
            "the header's resolution {resolution} is not a power of two >= 4"
        ));
    }
    Ok(levels(resolution))
}

impl ImageSource for Archive {
    fn len(&self) -> i64 {
        self.info.images
    }

    fn sample_shape(&self) -> Vec<i64> {
        vec![self.info.channels, self.resolution, self.resolution]
    }

    fn class_names(&self) -> &[String] {
        &self.info.class_names
    }

    fn description(&self) -> String {
        self.description.clone()
    }

    fn batch(&self, indices: &[i64]) -> Result<Tensor, Error> {
        Ok(to_float(&self.read_level(indices, self.resolution)?))
    }

    fn labels_of(&self, indices: &[i64]) -> Result<Option<Tensor>, Error> {
        if !self.is_labelled() {
            return Ok(None);
        }
        let (n, classes) = (self.info.images, self.info.class_names.len() as i64);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            if i < 0 || i >= n {
                return Err(Error::InvalidRequest(format!(
                    "sample index {i} is outside 0..{n} of {}",
                    self.description
                )));
            }
            let mut bytes = [0u8; 8];
            self.file
                .read_exact_at(&mut bytes, self.labels_at + 8 * i as u64)
                .map_err(|source| Error::Io {
                    path: self.path.clone(),
                    source,
                })?;
            let label = i64::from_le_bytes(bytes);
            if !(0..classes).contains(&label) {
                return Err(Error::Corrupt {
                    path: self.path.clone(),
                    what: format!("image {i} has label {label}, outside its {classes} classes"),
                });
            }
            labels.push(label);
        }
        Ok(Some(Tensor::from_slice(&labels)))
    }

    fn batch_at(&self, indices: &[i64], resolution: i64) -> Result<Tensor, Error> {
        // The smallest stored level that is not below what the schedule needs.
        let side = self
            .levels
            .keys()
            .copied()
            .find(|&s| s >= resolution && s <= self.resolution)
            .unwrap_or(self.resolution);
        Ok(to_float(&self.read_level(indices, side)?))
    }
}

/// uint8 pixels as floats in [-1, 1] (in place after the one conversion: a batch at 256x256 is
/// 25 MB of floats, and each extra pass costs as much as reading it).
fn to_float(pixels: &Tensor) -> Tensor {
    let mut x = pixels.to_kind(Kind::Float);
    let _ = x.g_div_scalar_(127.5);
    let _ = x.g_sub_scalar_(1.0);
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Images of `c` x `r` x `r` with distinct pixel values, labels i % 3.
    fn synthetic(c: i64, r: i64) -> impl Fn(i64) -> Result<(Vec<u8>, i64), Error> + Sync {
        move |i| {
            let bytes = (0..c * r * r)
                .map(|p| ((p * 37 + i * 101) % 256) as u8)
                .collect();
            Ok((bytes, i % 3))
        }
    }

    fn info(n: i64, c: i64, r: i64) -> ArchiveInfo {
        ArchiveInfo {
            resolution: r,
            channels: c,
            images: n,
            source: "synthetic".into(),
            class_names: vec!["a".into(), "b".into(), "c".into()],
        }
    }

    fn write(dir: &Path, n: i64, c: i64, r: i64) -> PathBuf {
        let path = dir.join("set.safetensors");
        let _ = std::fs::remove_file(&path);
        write_archive(&path, &info(n, c, r), synthetic(c, r), |_| {}).expect("write");
        path
    }

    #[test]
    fn an_archive_holds_every_level_and_reads_back_any_batch() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = write(dir.path(), 70, 3, 16);
        assert_eq!(
            files_in(dir.path()),
            ["set.safetensors"],
            "no temporary file is left"
        );
        let archive = Archive::open(&path, 16).expect("open");
        assert_eq!(archive.info(), &info(70, 3, 16));
        assert_eq!(archive.resolutions(), vec![16, 8, 4]);
        assert_eq!(archive.labels().expect("labels")[..4], [0, 1, 2, 0]);
        let full = archive.read_level(&[69, 0], 16).expect("level 16");
        let (expected, _) = synthetic(3, 16)(69).expect("image");
        assert_eq!(
            Vec::<u8>::try_from(full.get(0).flatten(0, -1)).expect("u8"),
            expected
        );
        // Level 8 is the rounded 2x2 average of level 16; level 4 comes from level 8's floats.
        let level16: Vec<f32> = expected.iter().map(|&b| f32::from(b)).collect();
        let level8 = half_level(&level16, 3, 16);
        let level4 = half_level(&level8, 3, 8);
        let read8 = archive.read_level(&[69], 8).expect("level 8");
        assert_eq!(
            Vec::<u8>::try_from(read8.flatten(0, -1)).expect("u8"),
            quantize(&level8)
        );
        // A growing network at 4x4 gets the stored 4x4 level, as floats in [-1, 1].
        let at4 = archive.batch_at(&[69], 4).expect("batch at 4");
        let want: Vec<f32> = quantize(&level4)
            .iter()
            .map(|&b| f32::from(b) / 127.5 - 1.0)
            .collect();
        assert_eq!(Vec::<f32>::try_from(at4.flatten(0, -1)).expect("f32"), want);
        assert_eq!(
            archive.batch(&[1, 2]).expect("batch").size(),
            [2, 3, 16, 16]
        );
        // Opened at a lower level, the archive serves that level.
        let small = Archive::open(&path, 8).expect("open at 8");
        assert_eq!(small.sample_shape(), vec![3, 8, 8]);
        let err = archive.batch(&[70]).unwrap_err().to_string();
        assert!(err.contains("index 70 is outside 0..70"), "{err}");
    }

    #[test]
    fn the_two_by_two_average_rounds_half_to_even_like_numpy() {
        // (1 + 2 + 2 + 2) / 4 = 1.75 → 2; (1 + 1 + 2 + 2) / 4 = 1.5 → 2; (0 + 1 + 1 + 1) / 4 =
        // 0.75 → 1; (1 + 1 + 0 + 0) / 4 = 0.5 → 0 (ties to even, as np.rint).
        let image = [
            1.0, 2.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0,
        ];
        // Rows of 4: the 2x2 blocks are (1,2,2,2), (1,1,2,2), (0,1,1,1), (1,1,0,0).
        let half = half_level(&image, 1, 4);
        assert_eq!(half, vec![1.75, 1.5, 0.75, 0.5]);
        assert_eq!(quantize(&half), vec![2, 2, 1, 0]);
    }

    #[test]
    fn bad_archives_are_named_with_what_is_wrong() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = write(dir.path(), 10, 1, 8);
        let open = |p: &Path, r: i64| Archive::open(p, r).map(|_| ()).unwrap_err().to_string();
        // Another resolution than asked.
        let err = open(&path, 16);
        assert!(
            err.contains("holds the resolutions 4, 8 (up to 8x8), not 16x16"),
            "{err}"
        );
        // Truncated in the middle.
        let bytes = std::fs::read(&path).expect("read");
        let cut = dir.path().join("cut.safetensors");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
        let err = open(&cut, 8);
        assert!(
            err.contains("cut.safetensors: truncated: the header describes"),
            "{err}"
        );
        // Not an archive at all.
        std::fs::write(&cut, b"hello").expect("write");
        assert!(open(&cut, 8).contains("shorter than its 8-byte header length"));
        std::fs::write(&cut, [255u8; 64]).expect("write");
        assert!(open(&cut, 8).contains("not a safetensors archive"));
        // Levels of different sizes: a header whose 4x4 level holds another image count.
        let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
        let header = std::str::from_utf8(&bytes[8..8 + header_len]).expect("utf8");
        let bad = header.replace("\"shape\":[10,1,4,4]", "\"shape\":[9,1,4,4]");
        assert_ne!(bad, header);
        let mut file = (bad.len() as u64).to_le_bytes().to_vec();
        file.extend(bad.as_bytes());
        file.extend(&bytes[8 + header_len..]);
        std::fs::write(&cut, file).expect("write");
        let err = open(&cut, 8);
        assert!(
            err.contains("`images.4` is \"U8\" [9, 1, 4, 4], expected U8 [10, 1, 4, 4]"),
            "{err}"
        );
        // A safetensors file of another tool (no archive metadata).
        let other = "{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
        let mut file = (other.len() as u64).to_le_bytes().to_vec();
        file.extend(other.as_bytes());
        file.push(7);
        std::fs::write(&cut, file).expect("write");
        assert!(open(&cut, 8).contains("lacks `format`"));
        assert!(open(&dir.path().join("gone.safetensors"), 8).contains("file not found"));
    }

    #[test]
    fn a_failed_write_leaves_no_file_that_looks_complete() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("set.safetensors");
        let err = write_archive(
            &path,
            &info(300, 1, 8),
            |i| match i {
                250 => Err(Error::Corrupt {
                    path: "image-250.png".into(),
                    what: "cannot decode".into(),
                }),
                _ => synthetic(1, 8)(i),
            },
            |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("image-250.png"), "{err}");
        assert!(!path.exists());
        assert!(files_in(dir.path()).is_empty(), "no temporary file is left");
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}
