//! The data seam: what a training run, its sample grids, its evaluation and its diagnostics need
//! from a dataset, whatever holds it (one in-memory tensor today; streamed folders, zips and
//! prepared archives implement the same trait).

use crate::{Error, ImageDataset, ToyDataset};
use tch::{Device, Tensor};

/// A dataset as the engine sees it: a number of samples of one shape, optional class names, and
/// the samples of any list of indices as one float batch (images in [-1, 1], NCHW; 2-D points as
/// they are).
pub trait ImageSource: Send {
    /// Number of samples.
    fn len(&self) -> i64;
    /// Whether there is no sample.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The shape of one sample: `[C, H, W]` for images, `[2]` for points.
    fn sample_shape(&self) -> Vec<i64>;
    /// Class names, indexed by label (empty when the data has no classes).
    fn class_names(&self) -> &[String];
    /// Where the samples came from, in words (recorded in the run's config).
    fn description(&self) -> String;
    /// The samples at `indices`, in that order, as one float32 batch on the source's device.
    fn batch(&self, indices: &[i64]) -> Result<Tensor, Error>;
    /// The class labels of the samples at `indices`, in that order (int64 `[N]` in
    /// `0..class_names().len()`, on the source's device), or `None` when the source has no
    /// labels: fewer than two classes (an unlabelled folder or zip, the 2-D toys). Default:
    /// `None`.
    fn labels_of(&self, _indices: &[i64]) -> Result<Option<Tensor>, Error> {
        Ok(None)
    }
    /// Whether the source has class labels ([`ImageSource::labels_of`] gives them).
    fn is_labelled(&self) -> bool {
        self.class_names().len() >= 2
    }
    /// The samples at `indices` for a network that works at `resolution` (a growing
    /// architecture's current stage): a source that stores lower resolutions (a prepared
    /// archive) may return the smallest it holds at or above it; the caller brings the batch
    /// down the rest of the way. Default: [`ImageSource::batch`].
    fn batch_at(&self, indices: &[i64], _resolution: i64) -> Result<Tensor, Error> {
        self.batch(indices)
    }
    /// A hint that the batch of `indices` comes next: a streamed source starts decoding it in
    /// the background (the batch is the same with or without the hint). Default: nothing.
    fn prefetch(&self, _indices: &[i64]) {}
    /// [`ImageSource::prefetch`] for a [`ImageSource::batch_at`] at `resolution`. Default:
    /// [`ImageSource::prefetch`].
    fn prefetch_at(&self, indices: &[i64], _resolution: i64) {
        self.prefetch(indices)
    }
    /// The first `n` samples (or all, if fewer): the reals grid and the diversity baseline.
    fn first(&self, n: i64) -> Result<Tensor, Error> {
        let indices: Vec<i64> = (0..n.min(self.len())).collect();
        self.batch(&indices)
    }
    /// Image channels, or `None` for samples that are not images.
    fn channels(&self) -> Option<i64> {
        let shape = self.sample_shape();
        (shape.len() == 3).then(|| shape[0])
    }
}

/// A shared source is a source (the run's data and its trainer read the same opened files).
impl<S: ImageSource + Sync + ?Sized> ImageSource for std::sync::Arc<S> {
    fn len(&self) -> i64 {
        (**self).len()
    }
    fn sample_shape(&self) -> Vec<i64> {
        (**self).sample_shape()
    }
    fn class_names(&self) -> &[String] {
        (**self).class_names()
    }
    fn description(&self) -> String {
        (**self).description()
    }
    fn batch(&self, indices: &[i64]) -> Result<Tensor, Error> {
        (**self).batch(indices)
    }
    fn labels_of(&self, indices: &[i64]) -> Result<Option<Tensor>, Error> {
        (**self).labels_of(indices)
    }
    fn is_labelled(&self) -> bool {
        (**self).is_labelled()
    }
    fn batch_at(&self, indices: &[i64], resolution: i64) -> Result<Tensor, Error> {
        (**self).batch_at(indices, resolution)
    }
    fn prefetch(&self, indices: &[i64]) {
        (**self).prefetch(indices)
    }
    fn prefetch_at(&self, indices: &[i64], resolution: i64) {
        (**self).prefetch_at(indices, resolution)
    }
    fn first(&self, n: i64) -> Result<Tensor, Error> {
        (**self).first(n)
    }
}

/// A dataset held whole as one tensor (on the CPU or on the training device): the fastest source
/// for the small built-in datasets.
#[derive(Debug)]
pub struct InMemory {
    samples: Tensor,
    /// int64 `[N]` on the samples' device, when there are at least two classes.
    labels: Option<Tensor>,
    class_names: Vec<String>,
    description: String,
}

impl InMemory {
    /// A source over `samples` [N, ...] (kept where they are; [`InMemory::to_device`] moves them).
    pub fn new(samples: Tensor, class_names: Vec<String>, description: String) -> InMemory {
        InMemory {
            samples,
            labels: None,
            class_names,
            description,
        }
    }

    /// The same source with the class `labels` of its samples (int64 `[N]`); they are served
    /// when there are at least two class names. An error names a count or a label that does not
    /// fit.
    pub fn with_labels(mut self, labels: &Tensor) -> Result<InMemory, Error> {
        let (n, classes) = (self.len(), self.class_names.len() as i64);
        if labels.size() != [n] {
            return Err(Error::InvalidRequest(format!(
                "{}: {:?} labels for {n} samples",
                self.description,
                labels.size()
            )));
        }
        if n > 0 && classes >= 2 {
            let (lo, hi) = (labels.min().int64_value(&[]), labels.max().int64_value(&[]));
            if lo < 0 || hi >= classes {
                return Err(Error::InvalidRequest(format!(
                    "{}: labels from {lo} to {hi}, expected 0 to {} (its {classes} classes)",
                    self.description,
                    classes - 1
                )));
            }
        }
        self.labels = (classes >= 2).then(|| {
            labels
                .to_kind(tch::Kind::Int64)
                .to_device(self.samples.device())
        });
        Ok(self)
    }

    /// The same source with its samples (and labels) on `device` (the training loop indexes
    /// them there).
    pub fn to_device(&self, device: Device) -> InMemory {
        InMemory {
            samples: self.samples.to_device(device),
            labels: self.labels.as_ref().map(|l| l.to_device(device)),
            class_names: self.class_names.clone(),
            description: self.description.clone(),
        }
    }

    /// Every sample, [N, ...].
    pub fn samples(&self) -> &Tensor {
        &self.samples
    }
}

impl From<&ImageDataset> for InMemory {
    fn from(d: &ImageDataset) -> InMemory {
        let source = InMemory::new(
            d.images.shallow_clone(),
            d.class_names.clone(),
            d.source.clone(),
        );
        let labels = (d.class_names.len() >= 2 && d.labels.size() == [d.len()]).then(|| {
            d.labels
                .to_kind(tch::Kind::Int64)
                .to_device(d.images.device())
        });
        InMemory { labels, ..source }
    }
}

impl From<&ToyDataset> for InMemory {
    fn from(d: &ToyDataset) -> InMemory {
        InMemory::new(
            d.points.shallow_clone(),
            Vec::new(),
            format!("generated:{} (Gulrajani et al. 2017 toy code)", d.name),
        )
    }
}

impl ImageSource for InMemory {
    fn len(&self) -> i64 {
        self.samples.size()[0]
    }

    fn sample_shape(&self) -> Vec<i64> {
        self.samples.size()[1..].to_vec()
    }

    fn class_names(&self) -> &[String] {
        &self.class_names
    }

    fn description(&self) -> String {
        self.description.clone()
    }

    fn batch(&self, indices: &[i64]) -> Result<Tensor, Error> {
        let len = self.len();
        if let Some(bad) = indices.iter().find(|&&i| i < 0 || i >= len) {
            return Err(Error::InvalidRequest(format!(
                "sample index {bad} is outside 0..{len} of {}",
                self.description
            )));
        }
        let index = Tensor::from_slice(indices).to_device(self.samples.device());
        Ok(self.samples.index_select(0, &index))
    }

    fn labels_of(&self, indices: &[i64]) -> Result<Option<Tensor>, Error> {
        let Some(labels) = &self.labels else {
            return Ok(None);
        };
        let len = self.len();
        if let Some(bad) = indices.iter().find(|&&i| i < 0 || i >= len) {
            return Err(Error::InvalidRequest(format!(
                "sample index {bad} is outside 0..{len} of {}",
                self.description
            )));
        }
        let index = Tensor::from_slice(indices).to_device(labels.device());
        Ok(Some(labels.index_select(0, &index)))
    }

    fn is_labelled(&self) -> bool {
        self.labels.is_some()
    }

    fn first(&self, n: i64) -> Result<Tensor, Error> {
        Ok(self.samples.narrow(0, 0, n.clamp(0, self.len())))
    }
}

/// A seeded subset of another source (`max_images`): `n` of its samples, chosen by a ChaCha8
/// shuffle seeded with `seed`, in their original order. Training on little data, and the
/// held-out rest for D's overfitting diagnostic.
pub struct Subset {
    inner: Box<dyn ImageSource>,
    indices: Vec<i64>,
    description: String,
}

impl Subset {
    /// The indices of `n` of `total` samples for `seed`, ascending; an error names `n` and
    /// `total` when there are not that many (or `n` is 0).
    pub fn choose(total: i64, n: i64, seed: u64) -> Result<Vec<i64>, Error> {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        if n < 1 || n > total {
            return Err(Error::InvalidRequest(format!(
                "`max_images` = {n}: expected 1 to the dataset's {total} samples"
            )));
        }
        let mut all: Vec<i64> = (0..total).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        all.shuffle(&mut rng);
        let mut chosen = all[..n as usize].to_vec();
        chosen.sort_unstable();
        Ok(chosen)
    }

    /// `n` samples of `inner` chosen with `seed`.
    pub fn new(inner: Box<dyn ImageSource>, n: i64, seed: u64) -> Result<Subset, Error> {
        let total = inner.len();
        let indices = Subset::choose(total, n, seed)?;
        let description = format!(
            "{} (a seeded subset of {n} of its {total} samples, seed {seed})",
            inner.description()
        );
        Ok(Subset {
            inner,
            indices,
            description,
        })
    }

    /// The inner source's indices of this subset's samples.
    pub fn indices(&self) -> &[i64] {
        &self.indices
    }

    fn map(&self, indices: &[i64]) -> Vec<i64> {
        indices.iter().map(|&i| self.indices[i as usize]).collect()
    }
}

impl ImageSource for Subset {
    fn len(&self) -> i64 {
        self.indices.len() as i64
    }
    fn sample_shape(&self) -> Vec<i64> {
        self.inner.sample_shape()
    }
    fn class_names(&self) -> &[String] {
        self.inner.class_names()
    }
    fn description(&self) -> String {
        self.description.clone()
    }
    fn batch(&self, indices: &[i64]) -> Result<Tensor, Error> {
        self.inner.batch(&self.map(indices))
    }
    fn labels_of(&self, indices: &[i64]) -> Result<Option<Tensor>, Error> {
        self.inner.labels_of(&self.map(indices))
    }
    fn is_labelled(&self) -> bool {
        self.inner.is_labelled()
    }
    fn batch_at(&self, indices: &[i64], resolution: i64) -> Result<Tensor, Error> {
        self.inner.batch_at(&self.map(indices), resolution)
    }
    fn prefetch(&self, indices: &[i64]) {
        self.inner.prefetch(&self.map(indices))
    }
    fn prefetch_at(&self, indices: &[i64], resolution: i64) {
        self.inner.prefetch_at(&self.map(indices), resolution)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn an_in_memory_source_serves_the_samples_at_given_indices_and_names_a_bad_one() {
        let samples = Tensor::arange(12, (Kind::Float, Device::Cpu)).view([6, 2]);
        let source = InMemory::new(samples, vec![], "six points".into());
        assert_eq!((source.len(), source.sample_shape()), (6, vec![2]));
        assert_eq!(source.channels(), None);
        let batch = source.batch(&[4, 0, 4]).expect("batch");
        assert_eq!(
            Vec::<f32>::try_from(batch.flatten(0, -1)).expect("floats"),
            vec![8.0, 9.0, 0.0, 1.0, 8.0, 9.0]
        );
        let err = source.batch(&[6]).unwrap_err().to_string();
        assert!(
            err.contains("index 6 is outside 0..6 of six points"),
            "{err}"
        );
        assert_eq!(source.first(10).expect("first").size(), vec![6, 2]);
    }
}
