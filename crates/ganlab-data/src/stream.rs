//! Streamed image sources: `folder:PATH` (every image under PATH, classes from sub-folders)
//! and `zip:PATH` (StyleGAN2-ADA's dataset format: images inside a zip, an optional
//! `dataset.json` with `{"labels": [[name, class], ...]}`). Only the batches in flight are decoded
//! and held, never the whole set, so memory does not grow with the dataset.
//!
//! Opening a source reads every file's header (format, size, colour type), so a file that is not
//! an image is named before training starts; a file that changes afterwards is named by the batch
//! that reads it. Images are centre-cropped to a square and resized with a Lanczos-3 filter (as
//! StyleGAN's `dataset_tool.py`), the same decoding as the in-memory folder reader.
//!
//! [`ImageSource::prefetch`] starts decoding the next batch on a background thread while the
//! step runs; a batch is a pure function of its indices, so the images do not depend on the
//! number of threads or on whether the prefetch was used.

use crate::folder::{
    decode_square, folder_classes, image_files, is_image_name, log_left_out, IMAGE_FORMATS,
};
use crate::{Error, ImageSource};
use image::{ColorType, ImageDecoder, ImageReader};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use tch::{Kind, Tensor};

/// Where the files of a streamed source are.
enum Container {
    Folder,
    Zip {
        path: PathBuf,
        archive: zip::ZipArchive<SharedFile>,
    },
}

/// A file opened once and read at explicit offsets, so that every thread's clone of a
/// [`zip::ZipArchive`] reads it without sharing a cursor.
#[derive(Clone)]
struct SharedFile {
    file: Arc<File>,
    len: u64,
    position: u64,
}

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.position)?;
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
        };
        self.position = target.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        Ok(self.position)
    }
}

/// One image of the source.
struct Entry {
    /// The file's path (folders) or its name inside the zip.
    name: String,
    /// Its index in the zip's central directory.
    zip_index: usize,
    label: i64,
}

struct Inner {
    container: Container,
    entries: Vec<Entry>,
    resolution: i64,
    channels: i64,
    class_names: Vec<String>,
    description: String,
    /// The batch being decoded in the background: its indices and where its result arrives.
    prefetched: Mutex<Option<Prefetch>>,
}

struct Prefetch {
    indices: Vec<i64>,
    /// The side the batch is decoded at.
    side: i64,
    result: Receiver<Result<Tensor, Error>>,
}

/// A `folder:` or `zip:` dataset read lazily (see the module's documentation). Cloning is cheap
/// and shares the opened source.
#[derive(Clone)]
pub struct StreamedImages {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StreamedImages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamedImages")
            .field("description", &self.inner.description)
            .finish()
    }
}

/// What the headers said about the images of a source.
#[derive(Debug, Default)]
struct HeaderSurvey {
    gray: usize,
    color: usize,
    /// The smallest shorter side of any image.
    min_side: Option<u32>,
    /// Every image's shorter side, in the entries' order.
    shorter_sides: Vec<u32>,
}

/// The sources whose enlarged images this process has warned of.
static WARNED_ENLARGED: Mutex<std::collections::BTreeSet<String>> =
    Mutex::new(std::collections::BTreeSet::new());

/// A warning when images of `name` are smaller than the asked `resolution` (they are enlarged
/// to it, which adds no detail), once per source and resolution in a process.
fn warn_if_enlarged(name: &str, survey: &HeaderSurvey, resolution: i64) {
    let smaller = survey
        .shorter_sides
        .iter()
        .filter(|&&side| i64::from(side) < resolution)
        .count();
    let Some(min) = survey.min_side.filter(|_| smaller > 0) else {
        return;
    };
    let first = WARNED_ENLARGED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(format!("{name} {resolution}"));
    if !first {
        return;
    }
    let keeps = 1u32 << (31 - min.leading_zeros());
    tracing::warn!(
        "{name}: {smaller} of {} images are smaller than {resolution}x{resolution} (the \
         smallest {min} pixels on its shorter side) and are enlarged to it, which adds no \
         detail; a resolution of {keeps} or below enlarges none",
        survey.shorter_sides.len()
    );
}

impl StreamedImages {
    /// Opens `folder:PATH` or `zip:PATH` at `resolution` ([`crate::NATIVE_RESOLUTION`]: the smallest
    /// shorter side of its images, so that no image is enlarged); `channels` 1 or 3, or `None`
    /// for what the images are (1 when every image is grayscale, else 3; a mixed set is logged).
    pub fn open(
        name: &str,
        resolution: i64,
        channels: Option<i64>,
    ) -> Result<StreamedImages, Error> {
        if resolution != crate::NATIVE_RESOLUTION && !(1..=65536).contains(&resolution) {
            return Err(Error::InvalidRequest(format!(
                "{name}: resolution must be in 1..=65536, got {resolution}"
            )));
        }
        if let Some(c) = channels.filter(|c| *c != 1 && *c != 3) {
            return Err(Error::InvalidRequest(format!(
                "{name}: channels must be 1 or 3, got {c}"
            )));
        }
        let (container, entries, class_names) = match name.split_once(':') {
            Some(("folder", path)) if !path.is_empty() => open_folder(Path::new(path))?,
            Some(("zip", path)) if !path.is_empty() => open_zip(Path::new(path))?,
            _ => {
                return Err(Error::InvalidRequest(format!(
                    "`{name}` is not a streamed source; expected folder:PATH or zip:PATH"
                )))
            }
        };
        let mut source = Inner {
            container,
            entries,
            resolution,
            channels: 3,
            class_names,
            description: String::new(),
            prefetched: Mutex::new(None),
        };
        let survey = source.check_headers()?;
        match resolution == crate::NATIVE_RESOLUTION {
            true => source.resolution = survey.min_side.map_or(1, i64::from).min(65536),
            false => warn_if_enlarged(name, &survey, resolution),
        }
        let resolution = source.resolution;
        source.channels = channels.unwrap_or(if survey.color == 0 { 1 } else { 3 });
        if survey.gray > 0 && survey.color > 0 {
            tracing::info!(
                "{name}: {} grayscale and {} colour images; read as {}",
                survey.gray,
                survey.color,
                if source.channels == 1 {
                    "grayscale"
                } else {
                    "RGB"
                }
            );
        }
        let n = source.entries.len();
        source.description = format!(
            "{name} ({n} images, streamed, {} at {resolution}x{resolution})",
            if source.channels == 1 {
                "grayscale"
            } else {
                "RGB"
            }
        );
        tracing::info!(images = n, "{name}: checked every image's header");
        Ok(StreamedImages {
            inner: Arc::new(source),
        })
    }

    /// Image side length.
    pub fn resolution(&self) -> i64 {
        self.inner.resolution
    }

    /// Image `index` decoded, cropped and resized, as uint8 `[C, R, R]` (channels first).
    pub fn image_chw(&self, index: i64) -> Result<Vec<u8>, Error> {
        let inner = &self.inner;
        let entry = inner.entries.get(index as usize).ok_or_else(|| {
            Error::InvalidRequest(format!(
                "sample index {index} is outside 0..{} of {}",
                inner.entries.len(),
                inner.description
            ))
        })?;
        let bytes = inner.read(entry, None)?;
        let hwc = decode_square(
            &bytes,
            &inner.path_of(entry),
            inner.resolution as u32,
            inner.channels,
        )?;
        let (c, plane) = (
            inner.channels as usize,
            (inner.resolution * inner.resolution) as usize,
        );
        let mut chw = vec![0u8; hwc.len()];
        for (p, pixel) in hwc.chunks_exact(c).enumerate() {
            for (k, &v) in pixel.iter().enumerate() {
                chw[k * plane + p] = v;
            }
        }
        Ok(chw)
    }

    /// The label of every image, by index.
    pub fn labels(&self) -> Vec<i64> {
        self.inner.entries.iter().map(|e| e.label).collect()
    }
}

fn open_folder(root: &Path) -> Result<(Container, Vec<Entry>, Vec<String>), Error> {
    let files = image_files(root)?;
    let (labels, class_names) = folder_classes(root, &files);
    let entries = files
        .iter()
        .zip(labels)
        .map(|(f, label)| Entry {
            name: f.to_string_lossy().into_owned(),
            zip_index: 0,
            label,
        })
        .collect();
    Ok((Container::Folder, entries, class_names))
}

fn open_zip(path: &Path) -> Result<(Container, Vec<Entry>, Vec<String>), Error> {
    let corrupt = |what: String| Error::Corrupt {
        path: path.to_path_buf(),
        what,
    };
    let file = crate::open_file(path, &format!("expected a zip of {IMAGE_FORMATS} images"))?;
    let len = file
        .metadata()
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    let shared = SharedFile {
        file: Arc::new(file),
        len,
        position: 0,
    };
    let mut archive =
        zip::ZipArchive::new(shared).map_err(|e| corrupt(format!("not a readable zip: {e}")))?;
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    let mut others = Vec::new();
    for i in 0..archive.len() {
        let name = archive
            .name_for_index(i)
            .ok_or_else(|| corrupt(format!("entry {i} is missing")))?
            .map_err(|e| corrupt(format!("entry {i}: {e}")))?
            .into_owned();
        if name.ends_with('/') {
            continue;
        }
        match is_image_name(&name) {
            true => drop(by_name.insert(name, i)),
            false if name != "dataset.json" => others.push(PathBuf::from(name)),
            false => {}
        }
    }
    log_left_out(&path.display().to_string(), &others);
    if by_name.is_empty() {
        return Err(corrupt(format!("no {IMAGE_FORMATS} image in this zip")));
    }
    let labels = read_zip_labels(&mut archive, path)?;
    let mut entries = Vec::with_capacity(by_name.len());
    let mut classes: BTreeMap<String, i64> = BTreeMap::new();
    if let Some(labels) = &labels {
        for (name, label) in labels {
            if !by_name.contains_key(name) {
                return Err(corrupt(format!(
                    "dataset.json labels `{name}`, which is not an image in the zip"
                )));
            }
            classes.insert(format!("class {label}"), *label);
        }
    }
    for (name, zip_index) in by_name {
        let label = match &labels {
            Some(labels) => *labels
                .get(&name)
                .ok_or_else(|| corrupt(format!("dataset.json has no label for `{name}`")))?,
            None => 0,
        };
        entries.push(Entry {
            name,
            zip_index,
            label,
        });
    }
    let class_names = match labels {
        Some(_) => {
            let top = classes.values().copied().max().unwrap_or(0);
            (0..=top).map(|k| format!("class {k}")).collect()
        }
        None => vec!["all".into()],
    };
    Ok((
        Container::Zip {
            path: path.to_path_buf(),
            archive,
        },
        entries,
        class_names,
    ))
}

/// `dataset.json`'s labels (StyleGAN2-ADA: `{"labels": [[name, class], ...]}` or `null`).
fn read_zip_labels(
    archive: &mut zip::ZipArchive<SharedFile>,
    path: &Path,
) -> Result<Option<BTreeMap<String, i64>>, Error> {
    let corrupt = |what: String| Error::Corrupt {
        path: path.to_path_buf(),
        what,
    };
    let Ok(mut file) = archive.by_name("dataset.json") else {
        return Ok(None);
    };
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| corrupt(format!("dataset.json: cannot read: {e}")))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| corrupt(format!("dataset.json: not JSON: {e}")))?;
    let labels = match &value["labels"] {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Array(labels) => labels,
        other => {
            return Err(corrupt(format!(
                "dataset.json: `labels` must be a list of [name, class] pairs, got {other}"
            )))
        }
    };
    let mut out = BTreeMap::new();
    for pair in labels {
        match pair.as_array().map(Vec::as_slice) {
            Some([serde_json::Value::String(name), class]) => match class.as_i64() {
                Some(k) if k >= 0 => {
                    out.insert(name.clone(), k);
                }
                _ => {
                    return Err(corrupt(format!(
                        "dataset.json: the label of `{name}` must be an integer >= 0, got {class}"
                    )))
                }
            },
            _ => {
                return Err(corrupt(format!(
                    "dataset.json: each label must be a [name, class] pair, got {pair}"
                )))
            }
        }
    }
    Ok(Some(out))
}

/// Bytes of a zip entry read to find its header: enough for a PNG's IHDR and for the SOF of a
/// JPEG behind the usual EXIF block; a longer header is read whole.
const HEADER_PREFIX: u64 = 64 * 1024;

impl Inner {
    /// The path that names `entry` in messages.
    fn path_of(&self, entry: &Entry) -> PathBuf {
        match &self.container {
            Container::Folder => PathBuf::from(&entry.name),
            Container::Zip { path, .. } => path.join(&entry.name),
        }
    }

    /// The bytes of `entry` (a prefix of at most `limit` bytes, if given).
    fn read(&self, entry: &Entry, limit: Option<u64>) -> Result<Vec<u8>, Error> {
        let path = self.path_of(entry);
        let io = |source: std::io::Error| Error::Io {
            path: path.clone(),
            source,
        };
        match &self.container {
            Container::Folder => {
                let file = File::open(&entry.name).map_err(io)?;
                let mut bytes = Vec::new();
                match limit {
                    Some(n) => file.take(n).read_to_end(&mut bytes),
                    None => (&file).read_to_end(&mut bytes),
                }
                .map_err(io)?;
                Ok(bytes)
            }
            Container::Zip { archive, .. } => {
                let mut archive = archive.clone();
                let file = archive
                    .by_index(entry.zip_index)
                    .map_err(|e| io(std::io::Error::other(e)))?;
                let mut bytes = Vec::new();
                match limit {
                    Some(n) => file.take(n).read_to_end(&mut bytes),
                    None => {
                        let mut file = file;
                        file.read_to_end(&mut bytes)
                    }
                }
                .map_err(io)?;
                Ok(bytes)
            }
        }
    }

    /// Reads every image's header in parallel; the first bad file is the error.
    fn check_headers(&self) -> Result<HeaderSurvey, Error> {
        let kinds: Vec<Result<(bool, u32), Error>> = self
            .entries
            .par_iter()
            .map(|e| self.header_kind(e))
            .collect();
        let mut survey = HeaderSurvey::default();
        for kind in kinds {
            let (gray, side) = kind?;
            match gray {
                true => survey.gray += 1,
                false => survey.color += 1,
            }
            survey.min_side = Some(survey.min_side.map_or(side, |m| m.min(side)));
            survey.shorter_sides.push(side);
        }
        Ok(survey)
    }

    /// Whether the image of `entry` is grayscale, and its shorter side, from its header; an
    /// error names the file.
    fn header_kind(&self, entry: &Entry) -> Result<(bool, u32), Error> {
        let path = self.path_of(entry);
        let prefix = self.read(entry, Some(HEADER_PREFIX))?;
        let header = |bytes: Vec<u8>| -> Result<(u32, u32, ColorType), String> {
            let reader = ImageReader::new(Cursor::new(bytes))
                .with_guessed_format()
                .map_err(|e| e.to_string())?;
            let format = reader.format();
            let decoder = reader.into_decoder().map_err(|e| match format {
                None => format!("not a {IMAGE_FORMATS} image"),
                Some(_) => e.to_string(),
            })?;
            let (w, h) = decoder.dimensions();
            Ok((w, h, decoder.color_type()))
        };
        let found = match header(prefix.clone()) {
            Err(_) if prefix.len() as u64 == HEADER_PREFIX => header(self.read(entry, None)?),
            other => other,
        };
        let (w, h, color) = found.map_err(|what| Error::Corrupt {
            path: path.clone(),
            what: format!("cannot read the image header: {what}"),
        })?;
        if w == 0 || h == 0 {
            return Err(Error::Corrupt {
                path,
                what: "image has no pixels".into(),
            });
        }
        let gray = matches!(
            color,
            ColorType::L8 | ColorType::La8 | ColorType::L16 | ColorType::La16
        );
        Ok((gray, w.min(h)))
    }

    /// The side a batch for a network at `resolution` is decoded at: `resolution` itself when
    /// the source's resolution halves down to it, else the source's.
    fn side_for(&self, resolution: i64) -> i64 {
        let r = self.resolution;
        match resolution > 0 && resolution < r && r % resolution == 0 {
            true if (r / resolution).count_ones() == 1 => resolution,
            _ => r,
        }
    }

    /// Decodes the images at `indices` (in parallel) into one float batch in [-1, 1], NCHW (in
    /// channels-last memory), at `side`: each image decoded at the source's resolution, then,
    /// for a smaller `side`, halved by 2x2 averages on its own thread — the values
    /// `ganlab_progan::fade_reals` (libtorch's `avg_pool2d`: ((a + b) + c) + d, over 4, in
    /// float32) gives from the full batch, without the full-resolution batch in memory.
    fn decode_batch(&self, indices: &[i64], side: i64) -> Result<Tensor, Error> {
        let len = self.entries.len() as i64;
        if let Some(bad) = indices.iter().find(|&&i| i < 0 || i >= len) {
            return Err(Error::InvalidRequest(format!(
                "sample index {bad} is outside 0..{len} of {}",
                self.description
            )));
        }
        let decode = |i: i64| {
            let entry = &self.entries[i as usize];
            let bytes = self.read(entry, None)?;
            decode_square(
                &bytes,
                &self.path_of(entry),
                self.resolution as u32,
                self.channels,
            )
        };
        let (r, c) = (self.resolution, self.channels);
        if side == r {
            let images: Vec<Vec<u8>> = indices
                .par_iter()
                .map(|&i| decode(i))
                .collect::<Result<_, Error>>()?;
            let pixels: Vec<u8> = images.concat();
            return Ok(Tensor::from_slice(&pixels)
                .view([indices.len() as i64, r, r, c])
                .permute([0, 3, 1, 2])
                .to_kind(Kind::Float)
                / 127.5
                - 1.0);
        }
        let images: Vec<Vec<f32>> = indices
            .par_iter()
            .map(|&i| {
                let hwc = decode(i)?;
                let mut x: Vec<f32> = hwc.iter().map(|&b| f32::from(b) / 127.5 - 1.0).collect();
                let mut s = r as usize;
                while s as i64 > side {
                    x = half_hwc(&x, s, c as usize);
                    s /= 2;
                }
                Ok(x)
            })
            .collect::<Result<_, Error>>()?;
        let values: Vec<f32> = images.concat();
        Ok(Tensor::from_slice(&values)
            .view([indices.len() as i64, side, side, c])
            .permute([0, 3, 1, 2]))
    }
}

/// One 2x2-average halving of an `s` x `s` image of `c` interleaved channels (HWC), as
/// libtorch's `avg_pool2d` computes it: ((top-left + top-right) + bottom-left) + bottom-right,
/// divided by 4, in float32.
fn half_hwc(x: &[f32], s: usize, c: usize) -> Vec<f32> {
    let h = s / 2;
    let mut out = Vec::with_capacity(h * h * c);
    for y in 0..h {
        let (top, bottom) = (&x[2 * y * s * c..], &x[(2 * y + 1) * s * c..]);
        for xo in 0..h {
            let (l, r) = (2 * xo * c, (2 * xo + 1) * c);
            for k in 0..c {
                out.push((((top[l + k] + top[r + k]) + bottom[l + k]) + bottom[r + k]) / 4.0);
            }
        }
    }
    out
}

impl ImageSource for StreamedImages {
    fn len(&self) -> i64 {
        self.inner.entries.len() as i64
    }

    fn sample_shape(&self) -> Vec<i64> {
        let r = self.inner.resolution;
        vec![self.inner.channels, r, r]
    }

    fn class_names(&self) -> &[String] {
        &self.inner.class_names
    }

    fn description(&self) -> String {
        self.inner.description.clone()
    }

    fn batch(&self, indices: &[i64]) -> Result<Tensor, Error> {
        self.batch_at(indices, self.inner.resolution)
    }

    fn labels_of(&self, indices: &[i64]) -> Result<Option<Tensor>, Error> {
        if !self.is_labelled() {
            return Ok(None);
        }
        let entries = &self.inner.entries;
        let labels = indices
            .iter()
            .map(
                |&i| match entries.get(usize::try_from(i).unwrap_or(usize::MAX)) {
                    Some(e) => Ok(e.label),
                    None => Err(Error::InvalidRequest(format!(
                        "sample index {i} is outside 0..{} of {}",
                        entries.len(),
                        self.inner.description
                    ))),
                },
            )
            .collect::<Result<Vec<i64>, Error>>()?;
        Ok(Some(Tensor::from_slice(&labels)))
    }

    /// The batch at `resolution` when the source's resolution halves down to it (ProGAN's
    /// early stages: the averages are taken as each image is decoded), else at the source's.
    fn batch_at(&self, indices: &[i64], resolution: i64) -> Result<Tensor, Error> {
        let side = self.inner.side_for(resolution);
        let pending = self
            .inner
            .prefetched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(prefetch) = pending.filter(|p| p.indices == indices && p.side == side) {
            if let Ok(result) = prefetch.result.recv() {
                return result;
            }
        }
        self.inner.decode_batch(indices, side)
    }

    fn prefetch(&self, indices: &[i64]) {
        self.prefetch_at(indices, self.inner.resolution)
    }

    fn prefetch_at(&self, indices: &[i64], resolution: i64) {
        let (send, receive) = channel();
        let inner = Arc::clone(&self.inner);
        let wanted = indices.to_vec();
        let side = inner.side_for(resolution);
        *self
            .inner
            .prefetched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Prefetch {
            indices: wanted.clone(),
            side,
            result: receive,
        });
        std::thread::spawn(move || {
            // The receiver may be gone (a different batch was asked for); nothing is lost.
            let _ = send.send(inner.decode_batch(&wanted, side));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::folder::load_folder;
    use std::io::Write;

    fn rgb_png(path: &Path, w: u32, h: u32, seed: u8) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([
                seed.wrapping_add((x * 7) as u8),
                (y * 5) as u8,
                seed ^ (x + y) as u8,
            ])
        })
        .save(path)
        .expect("png");
    }

    fn gray_png(path: &Path, side: u32, seed: u8) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        image::GrayImage::from_fn(side, side, |x, y| image::Luma([seed ^ (x * y) as u8]))
            .save(path)
            .expect("png");
    }

    /// A zip of `files` (name, bytes), stored or deflated.
    fn write_zip(path: &Path, files: &[(&str, Vec<u8>)], deflate: bool) {
        let mut zip = zip::ZipWriter::new(File::create(path).expect("zip"));
        let method = if deflate {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        for (name, bytes) in files {
            zip.start_file(*name, options).expect("entry");
            zip.write_all(bytes).expect("write");
        }
        zip.finish().expect("finish");
    }

    fn floats(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(t.flatten(0, -1)).expect("floats")
    }

    /// Five RGB images of different sizes in two class folders.
    fn rgb_folder(root: &Path) {
        rgb_png(&root.join("cats/a.png"), 40, 20, 1);
        rgb_png(&root.join("cats/b.png"), 16, 16, 2);
        rgb_png(&root.join("dogs/c.png"), 8, 30, 3);
        rgb_png(&root.join("dogs/d.png"), 33, 33, 4);
        rgb_png(&root.join("dogs/e.png"), 64, 48, 5);
    }

    /// [`rgb_folder`] in a fresh temporary folder, opened as a streamed source (the folder
    /// lives as long as the returned guard).
    fn rgb_source(resolution: i64, channels: Option<i64>) -> (tempfile::TempDir, StreamedImages) {
        let dir = tempfile::tempdir().expect("tmp");
        rgb_folder(dir.path());
        let name = format!("folder:{}", dir.path().display());
        let source = StreamedImages::open(&name, resolution, channels).expect("open");
        (dir, source)
    }

    #[test]
    fn a_streamed_folder_serves_the_images_the_in_memory_reader_decodes() {
        let dir = tempfile::tempdir().expect("tmp");
        rgb_folder(dir.path());
        let name = format!("folder:{}", dir.path().display());
        let source = StreamedImages::open(&name, 16, None).expect("open");
        let whole = load_folder(dir.path(), 16, 3).expect("in memory");
        assert_eq!((source.len(), source.sample_shape()), (5, vec![3, 16, 16]));
        assert_eq!(source.class_names(), ["cats", "dogs"]);
        assert_eq!(source.labels(), vec![0, 0, 1, 1, 1]);
        let indices = [4, 0, 2, 2];
        let batch = source.batch(&indices).expect("batch");
        let expected = whole.images.index_select(0, &Tensor::from_slice(&indices));
        assert_eq!(floats(&batch), floats(&expected));
        assert!(source
            .description()
            .contains("5 images, streamed, RGB at 16x16"));
    }

    #[test]
    fn prefetching_and_thread_counts_do_not_change_a_batch() {
        let (_dir, source) = rgb_source(8, Some(3));
        let plain = floats(&source.batch(&[3, 1, 0]).expect("batch"));
        source.prefetch(&[3, 1, 0]);
        assert_eq!(
            floats(&source.batch(&[3, 1, 0]).expect("prefetched")),
            plain
        );
        // A prefetch of another batch is dropped, not served.
        source.prefetch(&[2, 2, 2]);
        assert_eq!(floats(&source.batch(&[3, 1, 0]).expect("missed")), plain);
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            let batch = pool.install(|| source.batch(&[3, 1, 0]).expect("batch"));
            assert_eq!(floats(&batch), plain, "{threads} threads");
        }
    }

    /// A growing network's early stages get batches already halved to their resolution: the
    /// same floats, bit for bit, and the same (channels-last) layout as libtorch's 2x2
    /// `avg_pool2d` of the full batch (what `ganlab_progan::fade_reals` does with it), from the
    /// prefetch too; a resolution the source does not halve down to gets the full batch.
    #[test]
    fn batches_at_a_lower_resolution_are_the_pooled_full_batches() {
        let (_dir, source) = rgb_source(32, Some(3));
        let indices = [4, 0, 3, 3];
        let full = source.batch(&indices).expect("full");
        let mut pooled = full.shallow_clone();
        for side in [16, 8, 4] {
            pooled = pooled.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None);
            let at = source.batch_at(&indices, side).expect("batch at");
            assert_eq!(at.size(), [4, 3, side, side]);
            assert_eq!(at.stride(), pooled.stride(), "layout at {side}");
            assert_eq!(floats(&at), floats(&pooled), "values at {side}");
            source.prefetch_at(&indices, side);
            let prefetched = source.batch_at(&indices, side).expect("prefetched");
            assert_eq!(floats(&prefetched), floats(&pooled), "prefetched at {side}");
        }
        // A prefetch at another side is not served for this one.
        source.prefetch_at(&indices, 8);
        assert_eq!(
            source.batch_at(&indices, 16).expect("16").size(),
            [4, 3, 16, 16]
        );
        for odd in [12, 64, 0] {
            assert_eq!(
                floats(&source.batch_at(&indices, odd).expect("full")),
                floats(&full),
                "{odd}"
            );
        }
    }

    #[test]
    fn a_zip_in_stylegan2_ada_format_streams_with_its_labels() {
        let dir = tempfile::tempdir().expect("tmp");
        rgb_folder(&dir.path().join("src"));
        let read = |p: &str| std::fs::read(dir.path().join("src").join(p)).expect("read");
        let labels = r#"{"labels": [["00000/a.png", 1], ["00000/b.png", 0], ["00000/c.png", 2]]}"#;
        let zip_path = dir.path().join("set.zip");
        write_zip(
            &zip_path,
            &[
                ("00000/c.png", read("dogs/c.png")),
                ("00000/a.png", read("cats/a.png")),
                ("dataset.json", labels.as_bytes().to_vec()),
                ("00000/b.png", read("cats/b.png")),
            ],
            true,
        );
        let source =
            StreamedImages::open(&format!("zip:{}", zip_path.display()), 16, None).expect("zip");
        // Sorted by name: a, b, c.
        assert_eq!(source.labels(), vec![1, 0, 2]);
        assert_eq!(source.class_names(), ["class 0", "class 1", "class 2"]);
        let folder = StreamedImages::open(
            &format!("folder:{}", dir.path().join("src").display()),
            16,
            None,
        )
        .expect("folder");
        assert_eq!(
            floats(&source.batch(&[2, 0, 1]).expect("zip batch")),
            floats(&folder.batch(&[2, 0, 1]).expect("folder batch"))
        );
        // Stored (uncompressed) entries and no dataset.json: one class.
        let stored = dir.path().join("stored.zip");
        write_zip(&stored, &[("x.png", read("dogs/d.png"))], false);
        let source =
            StreamedImages::open(&format!("zip:{}", stored.display()), 8, None).expect("zip");
        assert_eq!(
            (source.len(), source.class_names()),
            (1, &["all".to_string()][..])
        );
    }

    /// The formats clean-fid reads from a folder stream as the PNG of the same pixels does, in
    /// folders and zips, by extension in any case; other files are left out.
    #[test]
    fn every_lossless_image_format_streams_as_its_png() {
        let dir = tempfile::tempdir().expect("tmp");
        let rgb = image::RgbImage::from_fn(12, 12, |x, y| {
            image::Rgb([(x * 21) as u8, (y * 19) as u8, ((x * y) % 256) as u8])
        });
        let (formats, png) = (dir.path().join("formats"), dir.path().join("png"));
        for (i, ext) in ["bmp", "webp", "TIFF", "tif", "ppm", "png"]
            .iter()
            .enumerate()
        {
            std::fs::create_dir_all(&formats).expect("mkdir");
            std::fs::create_dir_all(&png).expect("mkdir");
            let name = format!("{i}.{ext}");
            image::DynamicImage::ImageRgb8(rgb.clone())
                .save_with_format(
                    formats.join(&name),
                    image::ImageFormat::from_extension(ext).expect("format"),
                )
                .expect("save");
            rgb.save(png.join(format!("{i}.png"))).expect("png");
        }
        std::fs::write(formats.join("notes.txt"), "not an image").expect("txt");
        let open = |folder: &Path| {
            StreamedImages::open(&format!("folder:{}", folder.display()), 12, None).expect("open")
        };
        let (source, reference) = (open(&formats), open(&png));
        assert_eq!(source.len(), 6);
        let all = [0, 1, 2, 3, 4, 5];
        assert_eq!(
            floats(&source.batch(&all).expect("formats")),
            floats(&reference.batch(&all).expect("pngs"))
        );
        // The same files in a zip; and a grayscale PGM reads as its grayscale PNG.
        let files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&formats)
            .expect("list")
            .map(|e| {
                let path = e.expect("entry").path();
                let name = path
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned();
                (name, std::fs::read(&path).expect("read"))
            })
            .collect();
        let refs: Vec<(&str, Vec<u8>)> =
            files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
        let zip_path = dir.path().join("formats.zip");
        write_zip(&zip_path, &refs, true);
        let zipped =
            StreamedImages::open(&format!("zip:{}", zip_path.display()), 12, None).expect("zip");
        assert_eq!(
            floats(&zipped.batch(&all).expect("zip")),
            floats(&reference.batch(&all).expect("pngs"))
        );
        let gray = dir.path().join("gray");
        gray_png(&gray.join("a.png"), 12, 7);
        let luma = image::open(gray.join("a.png")).expect("png").to_luma8();
        luma.save(gray.join("b.pgm")).expect("pgm");
        let source = open(&gray);
        assert_eq!(source.sample_shape(), vec![1, 12, 12]);
        let batch = source.batch(&[0, 1]).expect("gray");
        assert_eq!(floats(&batch.get(0)), floats(&batch.get(1)));
    }

    #[test]
    fn grayscale_images_are_one_channel_and_a_mixed_set_is_rgb() {
        let dir = tempfile::tempdir().expect("tmp");
        gray_png(&dir.path().join("g1.png"), 32, 1);
        gray_png(&dir.path().join("g2.png"), 32, 2);
        let name = format!("folder:{}", dir.path().display());
        let gray = StreamedImages::open(&name, 32, None).expect("gray");
        assert_eq!(gray.sample_shape(), vec![1, 32, 32]);
        assert!(gray.description().contains("grayscale"));
        rgb_png(&dir.path().join("c.png"), 32, 32, 9);
        let mixed = StreamedImages::open(&name, 32, None).expect("mixed");
        assert_eq!(mixed.sample_shape(), vec![3, 32, 32]);
        let forced = StreamedImages::open(&name, 32, Some(1)).expect("forced");
        assert_eq!(forced.sample_shape(), vec![1, 32, 32]);
    }

    #[test]
    fn bad_files_and_bad_labels_are_named_when_the_source_opens() {
        let dir = tempfile::tempdir().expect("tmp");
        rgb_folder(&dir.path().join("src"));
        let good = std::fs::read(dir.path().join("src/cats/a.png")).expect("read");
        let open = |name: String| {
            StreamedImages::open(&name, 8, None)
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        // A folder with one file that is not an image.
        std::fs::write(dir.path().join("src/dogs/f.png"), "not a png").expect("write");
        let err = open(format!("folder:{}", dir.path().join("src").display()));
        assert!(
            err.contains("f.png") && err.contains("cannot read the image header"),
            "{err}"
        );
        // A corrupt PNG inside a zip.
        let zip_path = dir.path().join("bad.zip");
        let mut cut = good.clone();
        cut[1] = b'X';
        write_zip(&zip_path, &[("a.png", good.clone()), ("b.png", cut)], true);
        let err = open(format!("zip:{}", zip_path.display()));
        assert!(
            err.contains("bad.zip/b.png") && err.contains("header"),
            "{err}"
        );
        // dataset.json naming a missing file, and a label that is not an integer.
        let labels = |text: &str| {
            write_zip(
                &zip_path,
                &[
                    ("a.png", good.clone()),
                    ("dataset.json", text.as_bytes().to_vec()),
                ],
                true,
            );
            open(format!("zip:{}", zip_path.display()))
        };
        let err = labels(r#"{"labels": [["a.png", 0], ["gone.png", 1]]}"#);
        assert!(
            err.contains("`gone.png`, which is not an image in the zip"),
            "{err}"
        );
        let err = labels(r#"{"labels": [["a.png", "cat"]]}"#);
        assert!(
            err.contains("the label of `a.png` must be an integer >= 0, got \"cat\""),
            "{err}"
        );
        let err = labels(r#"{"labels": [["a.png", 0]], "x": 1"#);
        assert!(err.contains("dataset.json: not JSON"), "{err}");
        // Not a zip at all, and a missing one.
        std::fs::write(&zip_path, "plain text").expect("write");
        let err = open(format!("zip:{}", zip_path.display()));
        assert!(err.contains("bad.zip: not a readable zip"), "{err}");
        let err = open(format!("zip:{}", dir.path().join("nope.zip").display()));
        assert!(err.contains("nope.zip: file not found"), "{err}");
    }

    #[test]
    fn a_file_that_breaks_after_the_check_is_named_by_its_batch() {
        let dir = tempfile::tempdir().expect("tmp");
        rgb_folder(dir.path());
        let source = StreamedImages::open(&format!("folder:{}", dir.path().display()), 8, None)
            .expect("open");
        let bytes = std::fs::read(dir.path().join("dogs/d.png")).expect("read");
        std::fs::write(dir.path().join("dogs/d.png"), &bytes[..bytes.len() / 2]).expect("cut");
        let other = source.batch(&[0, 1]).expect("other files still read");
        assert_eq!(other.size(), [2, 3, 8, 8]);
        let err = source.batch(&[0, 3]).unwrap_err().to_string();
        assert!(
            err.contains("d.png") && err.contains("cannot decode"),
            "{err}"
        );
        let err = source.batch(&[5]).unwrap_err().to_string();
        assert!(err.contains("index 5 is outside 0..5"), "{err}");
    }
}
