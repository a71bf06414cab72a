//! Sliced Wasserstein distance exactly as ProGAN's `metrics/sliced_wasserstein.py` (Karras et al.
//! 2018, §5 and Appendix D):
//!
//! - a Laplacian pyramid with the 5x5 binomial kernel [1,4,6,4,1]ᵀ[1,4,6,4,1]/256 and mirror
//!   padding (`pyr_down` = blur then every second pixel; `pyr_up` = zero insertion then blur with
//!   4x the kernel), levels from full resolution down to 16x16;
//! - at each level, 128 random 7x7 neighbourhoods per image (3 channels, 147-d descriptors),
//!   normalised per set and per channel to zero mean and unit std;
//! - 4 repeats x 128 random unit directions; the distance is the mean of |sorted projections of A
//!   − sorted projections of B|; reported x1e3 per level and averaged.
//!
//! Images are uint8 values 0…255 as float [N, 3, H, W] (grayscale is tiled to 3 channels).

use crate::Error;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor};

/// Side of a neighbourhood (7).
pub const NHOOD_SIZE: i64 = 7;
/// Neighbourhoods per image and level (128).
pub const NHOODS_PER_IMAGE: i64 = 128;
/// Repeats of the random projection (4).
pub const DIR_REPEATS: usize = 4;
/// Directions per repeat (128).
pub const DIRS_PER_REPEAT: i64 = 128;

/// The 1-D binomial taps [1, 4, 6, 4, 1]/16: the 5x5 kernel is their outer product.
const BINOMIAL: [f64; 5] = [1.0 / 16.0, 4.0 / 16.0, 6.0 / 16.0, 4.0 / 16.0, 1.0 / 16.0];

/// scipy.ndimage.convolve(x, kernel·scale, mode='mirror') per channel, with the separable 5x5
/// binomial kernel applied as two 1-D passes of shifted, weighted slices (a 1-channel 5x5
/// convolution was 10x slower through libtorch's CPU convolution).
fn blur(x: &Tensor, scale: f64) -> Tensor {
    let s = x.size();
    let (h, w) = (s[2], s[3]);
    let padded = x.pad([2, 2, 2, 2], "reflect", None);
    let mut rows = padded.narrow(3, 0, w) * (BINOMIAL[0] * scale);
    for (k, tap) in BINOMIAL.iter().enumerate().skip(1) {
        rows += padded.narrow(3, k as i64, w) * (tap * scale);
    }
    let mut out = rows.narrow(2, 0, h) * BINOMIAL[0];
    for (k, tap) in BINOMIAL.iter().enumerate().skip(1) {
        out += rows.narrow(2, k as i64, h) * *tap;
    }
    out
}

/// cv2.pyrDown.
pub fn pyr_down(x: &Tensor) -> Tensor {
    let s = x.size();
    blur(x, 1.0).slice(2, 0, s[2], 2).slice(3, 0, s[3], 2)
}

/// cv2.pyrUp.
pub fn pyr_up(x: &Tensor) -> Tensor {
    let s = x.size();
    let up = Tensor::zeros([s[0], s[1], s[2] * 2, s[3] * 2], (x.kind(), x.device()));
    up.slice(2, 0, s[2] * 2, 2)
        .slice(3, 0, s[3] * 2, 2)
        .copy_(x);
    blur(&up, 4.0)
}

/// The Laplacian pyramid with `levels` levels (float32).
pub fn laplacian_pyramid(images: &Tensor, levels: usize) -> Vec<Tensor> {
    let mut pyramid = vec![images.to_kind(Kind::Float)];
    for _ in 1..levels {
        let down = pyr_down(pyramid.last().expect("non-empty"));
        let last = pyramid.len() - 1;
        pyramid[last] = &pyramid[last] - pyr_up(&down);
        pyramid.push(down);
    }
    pyramid
}

/// The levels' resolutions: full resolution halved down to 16.
pub fn swd_resolutions(resolution: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut r = resolution;
    while r >= 16 {
        out.push(r);
        r /= 2;
    }
    out
}

/// 7x7 neighbourhoods of `level` [N, C, H, W] with top-left corners (y, x) given per
/// neighbourhood ([N·128] each, neighbourhood i from image i / 128): [N·128, C, 7, 7].
/// As in the official code (whose `np.ogrid` puts x offsets on axis 2 and y offsets on axis 3),
/// element [n, c, i, j] is pixel (y₀ + j, x₀ + i): the neighbourhood is stored transposed. This
/// only permutes descriptor components, but keeps results identical for the same directions.
pub fn descriptors_at(level: &Tensor, ys: &[i64], xs: &[i64]) -> Tensor {
    let s = level.size();
    let n = ys.len() as i64;
    let per_image = n / s[0];
    let device = level.device();
    let img = Tensor::arange(n, (Kind::Int64, device)).floor_divide_scalar(per_image);
    let y = Tensor::from_slice(ys).to_device(device);
    let x = Tensor::from_slice(xs).to_device(device);
    // Every 7x7 window as a view [N, C, H-6, W-6, 7 (dy), 7 (dx)]; picking (image, y₀, x₀) per
    // neighbourhood gives [n, C, 7 (dy), 7 (dx)], stored transposed as in the official code.
    let windows = level.unfold(2, NHOOD_SIZE, 1).unfold(3, NHOOD_SIZE, 1);
    windows
        .index(&[Some(img), None, Some(y), Some(x)])
        .transpose(2, 3)
        .contiguous()
}

/// Normalises descriptors per channel over the set (mean 0, population std 1) and flattens them.
pub fn finalize_descriptors(desc: &Tensor) -> Tensor {
    let c = desc.size()[1];
    // Per-channel statistics over a contiguous [C, n·49] copy: reducing over the strided dims
    // (0, 2, 3) directly was several times slower.
    let per_channel = desc.transpose(0, 1).reshape([c, -1]);
    let mean = per_channel.mean_dim(1, true, None::<Kind>);
    let std = (per_channel - &mean)
        .square_()
        .mean_dim(1, false, None::<Kind>)
        .sqrt_();
    let shape = [1, c, 1, 1];
    (desc - mean.view(shape))
        .divide_(&std.view(shape))
        .reshape([desc.size()[0], -1])
}

/// The sliced Wasserstein distance of descriptor sets A, B [n, d] along the given unit
/// directions, one [d, k] matrix per repeat: mean over repeats of mean |sort(A·D) − sort(B·D)|.
///
/// On the CPU the projections are sorted by a radix sort (`radsort`, one column per task on
/// rayon's pool): libtorch's comparison sort along dim 0 took 1.1 s per [131072, 128] matrix on
/// 2 cores, 24 of which make up a 64x64 SWD of 1024 images.
pub fn sliced_wasserstein(a: &Tensor, b: &Tensor, directions: &[Tensor]) -> f64 {
    let (a, b) = (a.to_kind(Kind::Float), b.to_kind(Kind::Float));
    let results: Vec<f64> = directions
        .iter()
        .map(|dirs| {
            let dirs = dirs.to_kind(Kind::Float).to_device(a.device());
            if a.device() == Device::Cpu {
                mean_abs_sorted_difference(&a, &b, &dirs)
            } else {
                let (pa, _) = a.matmul(&dirs).sort(0, false);
                let (pb, _) = b.matmul(&dirs).sort(0, false);
                (pa - pb).abs().mean(None::<Kind>).double_value(&[])
            }
        })
        .collect();
    results.iter().sum::<f64>() / results.len() as f64
}

/// mean over j of mean |sort(A·dⱼ) − sort(B·dⱼ)| for CPU descriptor sets [n, d] and directions
/// [d, k]: the projections are computed transposed ([k, n], one contiguous row per direction)
/// and each row sorted by a radix sort (`radsort`) on rayon's pool.
fn mean_abs_sorted_difference(a: &Tensor, b: &Tensor, dirs: &Tensor) -> f64 {
    use rayon::prelude::*;
    let n = a.size()[0] as usize;
    let k = dirs.size()[1];
    if n == 0 || k == 0 {
        return f64::NAN;
    }
    let d = dirs.transpose(0, 1);
    let rows = |x: &Tensor| -> Vec<f32> {
        let p = d.matmul(&x.transpose(0, 1));
        let mut v = vec![0f32; p.numel()];
        p.copy_data(&mut v, p.numel());
        v
    };
    let (mut pa, mut pb) = (rows(a), rows(b));
    let total = pa
        .par_chunks_mut(n)
        .zip(pb.par_chunks_mut(n))
        .map(|(x, y)| {
            radsort::sort(x);
            radsort::sort(y);
            x.iter()
                .zip(y.iter())
                .map(|(p, q)| (p - q).abs() as f64)
                .sum::<f64>()
        })
        .sum::<f64>();
    total / (n as f64 * k as f64)
}

/// SWD result: ×1e3 per level (keyed by resolution) and their average.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Swd {
    pub per_level: BTreeMap<i64, f64>,
    pub avg: f64,
}

fn check_images(images: &Tensor, what: &'static str) -> Result<Tensor, Error> {
    let s = images.size();
    if s.len() != 4 || !(s[1] == 1 || s[1] == 3) || s[2] != s[3] || s[2] < 16 {
        return Err(Error::BadInput {
            what,
            expected: "[N, 1|3, R, R] with R >= 16".into(),
            got: format!("{s:?}"),
        });
    }
    Ok(if s[1] == 1 {
        images.repeat([1, 3, 1, 1])
    } else {
        images.shallow_clone()
    })
}

/// Random neighbourhood corners for `n` images at a level of side `side` (as the official
/// `np.random.randint(H, S - H)` centres, shifted to corners).
fn random_corners(rng: &mut ChaCha8Rng, n: i64, side: i64) -> (Vec<i64>, Vec<i64>) {
    let half = NHOOD_SIZE / 2;
    let count = (n * NHOODS_PER_IMAGE) as usize;
    let mut ys = Vec::with_capacity(count);
    let mut xs = Vec::with_capacity(count);
    for _ in 0..count {
        // The official code draws x then y; corners = centre − half.
        xs.push(rng.random_range(half..side - half) - half);
        ys.push(rng.random_range(half..side - half) - half);
    }
    (ys, xs)
}

/// Unit directions [d, 128] for each of the 4 repeats.
fn random_directions(rng: &mut ChaCha8Rng, d: i64) -> Vec<Tensor> {
    (0..DIR_REPEATS)
        .map(|_| {
            let values: Vec<f64> = (0..d * DIRS_PER_REPEAT)
                .map(|_| rng.sample(StandardNormal))
                .collect();
            let dirs = Tensor::from_slice(&values).view([d, DIRS_PER_REPEAT]);
            &dirs / dirs.square().sum_dim_intlist(0, true, None::<Kind>).sqrt()
        })
        .collect()
}

/// Descriptors of a whole image set at every level, finalised.
pub fn set_descriptors(
    images: &Tensor,
    rng: &mut ChaCha8Rng,
    batch: i64,
) -> Result<Vec<Tensor>, Error> {
    let images = check_images(images, "SWD images")?;
    let resolutions = swd_resolutions(images.size()[2]);
    let n = images.size()[0];
    let mut per_level: Vec<Vec<Tensor>> = (0..resolutions.len()).map(|_| Vec::new()).collect();
    let mut start = 0;
    while start < n {
        let len = batch.min(n - start);
        let pyramid = laplacian_pyramid(&images.narrow(0, start, len), resolutions.len());
        for (level, (img, side)) in pyramid.iter().zip(&resolutions).enumerate() {
            let (ys, xs) = random_corners(rng, len, *side);
            per_level[level].push(descriptors_at(img, &ys, &xs));
        }
        start += len;
    }
    Ok(per_level
        .iter()
        .map(|parts| finalize_descriptors(&Tensor::cat(parts, 0)))
        .collect())
}

/// Images per pyramid batch: 256 up to 64x64, fewer above so that a batch stays near 2^26 float
/// values (256 MiB; at 1024x1024, 21 images instead of 256, which would take 3 GiB per level).
pub fn pyramid_batch(resolution: i64) -> i64 {
    ((1i64 << 26) / (3 * resolution * resolution).max(1)).clamp(1, 256)
}

/// SWD between two image sets (uint8 values as float, [N, 1|3, R, R], same shape), seeded.
pub fn swd(real: &Tensor, fake: &Tensor, seed: u64) -> Result<Swd, Error> {
    if real.size()[1..] != fake.size()[1..] {
        return Err(Error::BadInput {
            what: "SWD image sets",
            expected: "the same image shape".into(),
            got: format!("{:?} and {:?}", real.size(), fake.size()),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let batch = pyramid_batch(real.size()[2]);
    let real_desc = set_descriptors(real, &mut rng, batch)?;
    let fake_desc = set_descriptors(fake, &mut rng, batch)?;
    let resolutions = swd_resolutions(real.size()[2]);
    let mut per_level = BTreeMap::new();
    for ((a, b), res) in real_desc.iter().zip(&fake_desc).zip(&resolutions) {
        let n = a.size()[0].min(b.size()[0]);
        let dirs = random_directions(&mut rng, a.size()[1]);
        per_level.insert(
            *res,
            sliced_wasserstein(&a.narrow(0, 0, n), &b.narrow(0, 0, n), &dirs) * 1e3,
        );
    }
    let avg = per_level.values().sum::<f64>() / per_level.len() as f64;
    Ok(Swd { per_level, avg })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radix_sorted_projections_equal_libtorch_sort() {
        // The CPU path (transposed projections, radix sort) against the plain formula with
        // libtorch's sort, including ties and negative values.
        let a = Tensor::randn([500, 12], (Kind::Float, Device::Cpu));
        let b = (Tensor::randn([500, 12], (Kind::Float, Device::Cpu)) * 1.3 + 0.1).round();
        let dirs = Tensor::randn([12, 7], (Kind::Float, Device::Cpu));
        let ours = mean_abs_sorted_difference(&a, &b, &dirs);
        let (pa, _) = a.matmul(&dirs).sort(0, false);
        let (pb, _) = b.matmul(&dirs).sort(0, false);
        let plain = (pa - pb).abs().mean(Kind::Double).double_value(&[]);
        assert!((ours - plain).abs() < 1e-5 * plain, "{ours} vs {plain}");
    }

    #[test]
    fn pyramid_batches_stay_bounded_and_small_images_keep_256() {
        assert_eq!(pyramid_batch(32), 256);
        assert_eq!(pyramid_batch(64), 256);
        assert_eq!(pyramid_batch(256), 256);
        assert_eq!(pyramid_batch(512), 85);
        assert_eq!(pyramid_batch(1024), 21);
    }

    #[test]
    fn separable_blur_equals_the_5x5_convolution() {
        let x = Tensor::randn([2, 3, 20, 20], (Kind::Float, Device::Cpu));
        let k = Tensor::from_slice(&[1.0f32, 4.0, 6.0, 4.0, 1.0]);
        let kernel = (k.outer(&k) / 256.0 * 4.0).view([1, 1, 5, 5]);
        let flat = x.reshape([6, 1, 20, 20]).pad([2, 2, 2, 2], "reflect", None);
        let direct = flat
            .conv2d(&kernel, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1)
            .reshape([2, 3, 20, 20]);
        let diff = (blur(&x, 4.0) - direct).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "{diff}");
    }
}
