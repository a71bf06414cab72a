//! The data of a run as the driver shows it: images (a grid per tick) or 2-D points (a scatter
//! plot and the toy mode metrics per tick), and the engine's data source over them.

use crate::config::TrainConfig;
use crate::evaluation::Evaluation;
use crate::stats::TickStats;
use crate::{grid, scatter};
use anyhow::{Context, Result};
use ganlab_data::{ImageDataset, ImageSource, InMemory, ToyDataset};
use ganlab_metrics::ToyModeMetrics;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::{Kind, Tensor};

/// The data of a run: images (grids per tick) or 2-D points (scatter plots and mode metrics).
pub enum TrainingData {
    /// A built-in image dataset, held whole (the fastest source for the small ones).
    Images(ImageDataset),
    /// A `folder:` or `zip:` dataset or a prepared archive, read lazily batch by batch.
    Streamed(Arc<dyn ImageSource + Sync>),
    Points(ToyDataset),
}

/// Points of a toy dataset (Gulrajani et al. 2017 sample 100,000 for the 25-Gaussian grid).
const TOY_POINTS: usize = 100_000;
/// Generated points per tick for the scatter plot and the mode metrics (PacGAN: 2,500).
const TOY_EVAL_POINTS: i64 = 2_500;

impl TrainingData {
    /// Loads the dataset of `config`.
    pub fn load(config: &TrainConfig) -> Result<TrainingData> {
        let context = || format!("loading dataset `{}`", config.dataset);
        if config.is_toy() {
            let data = ganlab_data::toy_dataset(&config.dataset, TOY_POINTS, config.seed)
                .with_context(context)?;
            return Ok(TrainingData::Points(data));
        }
        if ganlab_data::is_streamed_name(&config.dataset) {
            let source =
                ganlab_data::open_streamed(&config.dataset, config.resolution, config.channels)
                    .with_context(context)?;
            return Ok(TrainingData::Streamed(source));
        }
        let request = ganlab_data::DatasetRequest {
            data_dir: config.data_dir.clone(),
            channels: config.channels.unwrap_or(3),
            ..ganlab_data::DatasetRequest::new(&config.dataset, config.resolution)
        };
        Ok(TrainingData::Images(
            ganlab_data::load(&request).with_context(context)?,
        ))
    }

    /// Number of samples.
    pub fn len(&self) -> i64 {
        match self {
            TrainingData::Images(d) => d.len(),
            TrainingData::Streamed(s) => s.len(),
            TrainingData::Points(d) => d.points.size()[0],
        }
    }

    /// Whether there is no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Image channels (None for points).
    pub fn channels(&self) -> Option<i64> {
        match self {
            TrainingData::Images(d) => Some(d.channels()),
            TrainingData::Streamed(s) => s.channels(),
            TrainingData::Points(_) => None,
        }
    }

    /// The samples as the engine's data source, on `device`.
    /// (A streamed source stays on the CPU: the trainer moves each batch.)
    pub fn source_on(&self, device: tch::Device) -> Box<dyn ImageSource> {
        match self {
            TrainingData::Images(d) => Box::new(InMemory::from(d).to_device(device)),
            TrainingData::Streamed(s) => Box::new(Arc::clone(s)),
            TrainingData::Points(d) => Box::new(InMemory::from(d).to_device(device)),
        }
    }

    /// The class names, by label (empty for the 2-D toys).
    pub fn class_names(&self) -> Vec<String> {
        match self {
            TrainingData::Images(d) => d.class_names.clone(),
            TrainingData::Streamed(s) => s.class_names().to_vec(),
            TrainingData::Points(_) => Vec::new(),
        }
    }

    /// Where the data came from.
    pub fn source(&self) -> String {
        match self {
            TrainingData::Images(d) => d.source.clone(),
            TrainingData::Streamed(s) => s.description(),
            TrainingData::Points(d) => {
                format!("generated:{} (Gulrajani et al. 2017 toy code)", d.name)
            }
        }
    }

    /// Size of the fixed latent batch that is drawn at every tick.
    pub fn fixed_batch_size(&self, config: &TrainConfig) -> i64 {
        match self {
            TrainingData::Images(_) | TrainingData::Streamed(_) => config.grid_images,
            TrainingData::Points(_) => TOY_EVAL_POINTS,
        }
    }

    /// The diversity of real samples that the mode-collapse diagnostic compares the fixed-latent
    /// samples with (images: the mean pairwise distance of the first `n`; 2-D points are judged
    /// by their mode metrics instead).
    pub fn diversity_yardstick(&self, source: &dyn ImageSource, n: i64) -> Result<Option<f64>> {
        Ok(match self {
            TrainingData::Images(_) | TrainingData::Streamed(_) => {
                Some(mean_pairwise_distance(&source.first(n)?))
            }
            TrainingData::Points(_) => None,
        })
    }

    /// For 2-D points, the tick's statistics are the metrics (the toy mode metrics were computed
    /// with the tick's scatter plot); images are evaluated against real images instead.
    pub fn metrics_in_stats(&self, stats: &TickStats) -> Option<Evaluation> {
        match self {
            TrainingData::Images(_) | TrainingData::Streamed(_) => None,
            TrainingData::Points(_) => Some(Evaluation {
                jsd_to_uniform: stats.jsd_to_uniform,
                modes_covered: stats.modes_covered,
                high_quality_share: stats.high_quality_share,
                ..Default::default()
            }),
        }
    }

    /// Writes `reals.png`: a grid of training images, or the data's scatter plot.
    pub fn save_reals(&self, config: &TrainConfig, run_dir: &Path) -> Result<()> {
        let path = run_dir.join("reals.png");
        match self {
            TrainingData::Images(d) => {
                let side = d.images.size().last().copied().unwrap_or(1);
                let n = grid::shown_images(config.grid_images.min(d.len()), side);
                grid::save_grid(&d.images.narrow(0, 0, n), grid::square_columns(n), &path)
            }
            TrainingData::Streamed(s) => {
                let side = s.sample_shape().last().copied().unwrap_or(1);
                let n = grid::shown_images(config.grid_images.min(s.len()), side);
                grid::save_grid(&s.first(n)?, grid::square_columns(n), &path)
            }
            TrainingData::Points(d) => {
                let empty = Tensor::zeros([0, 2], (Kind::Float, tch::Device::Cpu));
                scatter::save_scatter(
                    &d.points
                        .narrow(0, 0, TOY_EVAL_POINTS.min(d.points.size()[0])),
                    &empty,
                    &d.centers,
                    &path,
                )
            }
        }
    }

    /// Where the tick at `images_shown` writes its picture of generated samples:
    /// `fakes-kimgXXXX.XX.png`, or `scatter-kimgXXXX.XX.png` for 2-D points.
    pub fn samples_path(&self, run_dir: &Path, images_shown: u64) -> PathBuf {
        let kimg = images_shown as f64 / 1000.0;
        let kind = match self {
            TrainingData::Images(_) | TrainingData::Streamed(_) => "fakes",
            TrainingData::Points(_) => "scatter",
        };
        run_dir.join(format!("{kind}-kimg{kimg:07.2}.png"))
    }

    /// Writes the tick's picture of generated samples and returns its path and, for 2-D points,
    /// the toy mode metrics of the samples. Images are shown at the run's resolution (a
    /// progressive run's smaller stages enlarged), as many as [`grid::shown_images`] allows.
    pub fn save_samples(
        &self,
        samples: &Tensor,
        classes: i64,
        config: &TrainConfig,
        run_dir: &Path,
        images_shown: u64,
    ) -> Result<(PathBuf, Option<ToyModeMetrics>)> {
        let path = self.samples_path(run_dir, images_shown);
        match self {
            TrainingData::Images(_) | TrainingData::Streamed(_) => {
                let side = config.resolution.max(samples.size()[2]);
                let n = grid::shown_images(samples.size()[0], side);
                // A conditional run's samples cycle through the classes: one column per class,
                // whole rows only.
                let (n, columns) = match classes {
                    0 => (n, grid::square_columns(n)),
                    k if n >= k => (n - n % k, k),
                    _ => (n, n),
                };
                grid::save_grid_at(&samples.narrow(0, 0, n), columns, side, &path)?;
                Ok((path, None))
            }
            TrainingData::Points(d) => {
                let reals = d
                    .points
                    .narrow(0, 0, TOY_EVAL_POINTS.min(d.points.size()[0]));
                scatter::save_scatter(&reals, samples, &d.centers, &path)?;
                let metrics = ganlab_metrics::toy_mode_metrics(samples, &d.centers, d.std)?;
                Ok((path, Some(metrics)))
            }
        }
    }
}

/// Mean L2 distance between all pairs of a batch (the sample diversity of the fixed latents and
/// of the real images it is compared with), from the Gram matrix of the samples as rows:
/// ‖xᵢ − xⱼ‖² = ‖xᵢ‖² + ‖xⱼ‖² − 2xᵢ·xⱼ, as `cdist` computes it for more than 25 rows, but
/// without its copy of the samples, and reading a channels-last batch in its memory order (the
/// distances do not depend on the order of the coordinates): 64 real images at 1024x1024 are
/// 805 MB, which `cdist` of the flattened batch held three times.
pub fn mean_pairwise_distance(batch: &Tensor) -> f64 {
    let x = batch.to_device(tch::Device::Cpu).to_kind(Kind::Float);
    let n = x.size()[0];
    if n < 2 {
        return 0.0;
    }
    let channels_last = x.dim() == 4 && x.permute([0, 2, 3, 1]).is_contiguous();
    let rows = match channels_last && !x.is_contiguous() {
        true => x.permute([0, 2, 3, 1]).flatten(1, -1),
        false => x.flatten(1, -1),
    };
    let gram = rows.matmul(&rows.tr()).to_kind(Kind::Double);
    let norms = gram.diagonal(0, 0, 1);
    let squared = (norms.unsqueeze(1) + norms.unsqueeze(0) - gram * 2.0).clamp_min(0.0);
    let off_diagonal = Tensor::ones([n, n], (Kind::Double, tch::Device::Cpu))
        - Tensor::eye(n, (Kind::Double, tch::Device::Cpu));
    (squared.sqrt() * off_diagonal)
        .sum(Kind::Double)
        .double_value(&[])
        / (n * (n - 1)) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the distances summed pair by pair in float64 (no libtorch), for a batch held
    /// NCHW and the same batch channels-last (as a streamed source serves it).
    #[test]
    fn mean_pairwise_distance_is_the_mean_over_pairs_in_either_layout() {
        let (n, c, h) = (7usize, 3usize, 5usize);
        let d = c * h * h;
        let values: Vec<f32> = (0..n * d)
            .map(|i| ((i as f32) * 0.37).sin() + (i % 11) as f32 * 0.01)
            .collect();
        let mut sum = 0.0f64;
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    let (a, b) = (&values[i * d..(i + 1) * d], &values[j * d..(j + 1) * d]);
                    let sq: f64 = a
                        .iter()
                        .zip(b)
                        .map(|(&p, &q)| (f64::from(p) - f64::from(q)).powi(2))
                        .sum();
                    sum += sq.sqrt();
                }
            }
        }
        let expected = sum / (n * (n - 1)) as f64;
        let batch = Tensor::from_slice(&values).view([n as i64, c as i64, h as i64, h as i64]);
        let channels_last = batch
            .permute([0, 2, 3, 1])
            .contiguous()
            .permute([0, 3, 1, 2]);
        assert!(!channels_last.is_contiguous());
        for (what, x) in [("NCHW", &batch), ("channels-last", &channels_last)] {
            let got = mean_pairwise_distance(x);
            assert!(
                (got - expected).abs() <= 1e-5 * expected,
                "{what}: {got} vs {expected}"
            );
        }
        assert_eq!(mean_pairwise_distance(&batch.narrow(0, 0, 1)), 0.0);
    }
}
