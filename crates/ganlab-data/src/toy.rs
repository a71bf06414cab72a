//! The 2-D Gaussian mixtures used to study mode collapse, exactly as in the toy code of
//! Gulrajani et al. 2017 (`gan_toy.py` of igul222/improved_wgan_training):
//!
//! - `ring8`: 8 Gaussians with std 0.02 centred on a circle of radius 2, every point then divided
//!   by 1.414 ("dataset /= 1.414 # stdev");
//! - `grid25`: a 5x5 grid of Gaussians with std 0.05 at spacing 2 (centres −4 … 4), every point
//!   divided by 2.828.
//!
//! The mode centres and the per-mode std (after that scaling) are part of the dataset, so that
//! metrics can count modes and high-quality samples.

use crate::Error;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use tch::Tensor;

/// A 2-D mixture of isotropic Gaussians, sampled once into a fixed set of points.
#[derive(Debug)]
pub struct ToyDataset {
    pub name: String,
    /// Sampled points, float32 [N, 2].
    pub points: Tensor,
    /// Which mode each point was drawn from, int64 `[N]`.
    pub labels: Tensor,
    /// Mode centres, float32 [K, 2] (after the dataset's scaling).
    pub centers: Tensor,
    /// Standard deviation of each mode (after the dataset's scaling).
    pub std: f64,
}

/// The toy dataset names.
pub const TOY_NAMES: &[&str] = &["ring8", "grid25"];

/// Centres before scaling, the std before scaling, and the scale divisor of a toy dataset.
type Recipe = (Vec<(f64, f64)>, f64, f64);

/// The [`Recipe`] of the toy dataset `name`.
fn recipe(name: &str) -> Result<Recipe, Error> {
    match name {
        "ring8" => {
            let s = std::f64::consts::FRAC_1_SQRT_2;
            let unit = [
                (1.0, 0.0),
                (-1.0, 0.0),
                (0.0, 1.0),
                (0.0, -1.0),
                (s, s),
                (s, -s),
                (-s, s),
                (-s, -s),
            ];
            Ok((
                unit.iter().map(|(x, y)| (2.0 * x, 2.0 * y)).collect(),
                0.02,
                1.414,
            ))
        }
        "grid25" => {
            let mut centers = Vec::with_capacity(25);
            for x in -2..=2 {
                for y in -2..=2 {
                    centers.push((2.0 * x as f64, 2.0 * y as f64));
                }
            }
            Ok((centers, 0.05, 2.828))
        }
        other => Err(Error::UnknownDataset {
            name: other.to_string(),
        }),
    }
}

/// Samples `n` points of the toy mixture `name` with a seeded generator (modes drawn uniformly).
pub fn toy_dataset(name: &str, n: usize, seed: u64) -> Result<ToyDataset, Error> {
    if n == 0 {
        return Err(Error::InvalidRequest(format!(
            "{name}: the number of points must be > 0"
        )));
    }
    let (centers, std, divisor) = recipe(name)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut points = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let k = rng.random_range(0..centers.len());
        let (cx, cy) = centers[k];
        let dx: f64 = rng.sample(StandardNormal);
        let dy: f64 = rng.sample(StandardNormal);
        points.push(((cx + std * dx) / divisor) as f32);
        points.push(((cy + std * dy) / divisor) as f32);
        labels.push(k as i64);
    }
    let flat_centers: Vec<f32> = centers
        .iter()
        .flat_map(|(x, y)| [(x / divisor) as f32, (y / divisor) as f32])
        .collect();
    Ok(ToyDataset {
        name: name.to_string(),
        points: Tensor::from_slice(&points).view([n as i64, 2]),
        labels: Tensor::from_slice(&labels),
        centers: Tensor::from_slice(&flat_centers).view([centers.len() as i64, 2]),
        std: std / divisor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring8_has_eight_centres_on_the_scaled_circle_and_tight_modes() {
        let data = toy_dataset("ring8", 4000, 1).expect("ring8");
        assert_eq!(data.centers.size(), [8, 2]);
        let radii = data
            .centers
            .square()
            .sum_dim_intlist(1, false, None::<tch::Kind>)
            .sqrt();
        assert!((radii - 2.0 / 1.414).abs().max().double_value(&[]) < 1e-6);
        assert!((data.std - 0.02 / 1.414).abs() < 1e-12);
        // Every point lies within 6σ of the centre of its own mode.
        let own = data.centers.index_select(0, &data.labels);
        let dist = (&data.points - own)
            .square()
            .sum_dim_intlist(1, false, None::<tch::Kind>)
            .sqrt();
        assert!(dist.max().double_value(&[]) < 6.0 * data.std);
        // Each mode is drawn about 4000/8 = 500 times.
        let counts = data.labels.bincount(None::<Tensor>, 8);
        assert!(counts.min().int64_value(&[]) > 400);
    }

    #[test]
    fn grid25_spans_minus_four_to_four_before_scaling() {
        let data = toy_dataset("grid25", 1000, 2).expect("grid25");
        assert_eq!(data.centers.size(), [25, 2]);
        let max = data.centers.abs().max().double_value(&[]);
        assert!((max - 4.0 / 2.828).abs() < 1e-6);
        assert!((data.std - 0.05 / 2.828).abs() < 1e-12);
        let again = toy_dataset("grid25", 1000, 2).expect("grid25");
        assert!(data.points.equal(&again.points), "seeded");
    }

    #[test]
    fn unknown_toy_names_and_empty_sets_are_errors() {
        assert!(matches!(
            toy_dataset("ring9", 10, 0),
            Err(Error::UnknownDataset { .. })
        ));
        assert!(matches!(
            toy_dataset("ring8", 0, 0),
            Err(Error::InvalidRequest(_))
        ));
    }
}
