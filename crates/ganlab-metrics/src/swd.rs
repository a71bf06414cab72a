//! Sliced Wasserstein distance exactly as ProGAN's `metrics/sliced_wasserstein.py` (Karras et al.
//! 2018, §5 and Appendix D):
//!
//! - a Laplacian pyramid with the 5x5 binomial kernel `[1,4,6,4,1]ᵀ[1,4,6,4,1]/256` and mirror
//!   padding (`pyr_down` = blur then every second pixel; `pyr_up` = zero insertion then blur with
//!   4x the kernel), levels from full resolution down to 16x16;
//! - at each level, 128 random 7x7 neighbourhoods per image (3 channels, 147-d descriptors),
//!   normalised per set and per channel to zero mean and unit std;
//! - 4 repeats x 128 random unit directions; the distance is the mean of |sorted projections of A
//!   − sorted projections of B|; reported x1e3 per level and averaged.
//!
//! Images are uint8 values 0…255 as float [N, 3, H, W] (grayscale is tiled to 3 channels).

use crate::swd_cpu::{self, Directions, Projections, BINOMIAL};
use crate::{host, Error};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::collections::BTreeMap;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// Side of a neighbourhood (7).
pub const NHOOD_SIZE: i64 = 7;
/// Neighbourhoods per image and level (128).
pub const NHOODS_PER_IMAGE: i64 = 128;
/// Repeats of the random projection (4).
pub const DIR_REPEATS: usize = 4;
/// Directions per repeat (128).
pub const DIRS_PER_REPEAT: i64 = 128;

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

/// The Laplacian pyramid with `levels` levels (float32). On the CPU each image plane is one
/// task of rayon's pool (`swd_cpu::pyramid`, the same arithmetic on slices: libtorch's
/// elementwise passes took 0.3 s of a 64x64 SWD of 1024 images); elsewhere [`pyr_down`] and
/// [`pyr_up`].
pub fn laplacian_pyramid(images: &Tensor, levels: usize) -> Vec<Tensor> {
    let s = images.size();
    if images.device() == Device::Cpu && s.len() == 4 && levels > 0 {
        let (h, w) = (s[2] as usize, s[3] as usize);
        let sides = swd_cpu::level_sides(h, w, levels);
        return swd_cpu::pyramid(&host::to_vec_f32(images), h, w, levels)
            .iter()
            .zip(sides)
            .map(|(level, (lh, lw))| {
                Tensor::from_slice(level).view([s[0], s[1], lh as i64, lw as i64])
            })
            .collect();
    }
    laplacian_pyramid_by_tensors(images, levels)
}

/// [`laplacian_pyramid`] by libtorch operations (any device).
fn laplacian_pyramid_by_tensors(images: &Tensor, levels: usize) -> Vec<Tensor> {
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
///
/// On the CPU the neighbourhoods are copied by a Rust loop on rayon's pool (libtorch's advanced
/// indexing of the 6-d window view took most of a 64x64 SWD's descriptor time); elsewhere by
/// indexing `unfold`ed windows.
pub fn descriptors_at(level: &Tensor, ys: &[i64], xs: &[i64]) -> Tensor {
    let s = level.size();
    assert!(
        s.len() == 4 && ys.len() == xs.len() && s[0] > 0 && ys.len() as i64 % s[0] == 0,
        "descriptors_at: level {s:?} with {} y and {} x corners",
        ys.len(),
        xs.len()
    );
    let fits = |v: &i64, side: i64| (0..=side - NHOOD_SIZE).contains(v);
    assert!(
        ys.iter().all(|y| fits(y, s[2])) && xs.iter().all(|x| fits(x, s[3])),
        "descriptors_at: a corner lies outside the {}x{} level",
        s[2],
        s[3]
    );
    if level.device() != Device::Cpu {
        return descriptors_by_indexing(level, ys, xs);
    }
    let (c, h, w) = (s[1] as usize, s[2] as usize, s[3] as usize);
    let mut out = vec![0f32; ys.len() * c * (NHOOD_SIZE * NHOOD_SIZE) as usize];
    let values = host::to_vec_f32(level);
    let source = swd_cpu::Neighbourhoods {
        level: &values,
        c,
        h,
        w,
        ys,
        xs,
    };
    swd_cpu::gather(&source, &mut out);
    Tensor::from_slice(&out).view([ys.len() as i64, s[1], NHOOD_SIZE, NHOOD_SIZE])
}

/// [`descriptors_at`] by libtorch indexing (any device).
fn descriptors_by_indexing(level: &Tensor, ys: &[i64], xs: &[i64]) -> Tensor {
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
    let s = desc.size();
    if desc.device() == Device::Cpu && s.len() == 4 {
        let mut values = host::to_vec_f32(desc);
        swd_cpu::normalize_per_channel(&mut values, s[1] as usize, (s[2] * s[3]) as usize);
        return Tensor::from_slice(&values).view([s[0], -1]);
    }
    finalize_by_tensors(desc)
}

/// [`finalize_descriptors`] by libtorch operations (any device).
fn finalize_by_tensors(desc: &Tensor) -> Tensor {
    let s = desc.size();
    let c = s[1];
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
        .reshape([s[0], -1])
}

/// The sliced Wasserstein distance of descriptor sets A, B [n, d] along the given unit
/// directions, one [d, k] matrix per repeat: mean over repeats of mean |sort(A·D) − sort(B·D)|.
///
/// On the CPU: `swd_cpu::mean_abs_sorted_difference` (a radix sort of each projection on
/// rayon's pool; libtorch's comparison sort along dim 0 took 1.1 s per [131072, 128] matrix on 2
/// cores, 24 of which make up a 64x64 SWD of 1024 images).
pub fn sliced_wasserstein(a: &Tensor, b: &Tensor, directions: &[Tensor]) -> f64 {
    if a.device() == Device::Cpu {
        let d = a.size().get(1).copied().unwrap_or(0) as usize;
        let (n_a, n_b) = (a.size()[0] as usize, b.size()[0] as usize);
        let (panels_a, panels_b) = (
            swd_cpu::to_panels(&host::to_vec_f32(a), n_a, d),
            swd_cpu::to_panels(&host::to_vec_f32(b), n_b, d),
        );
        // The first min(n_a, n_b) of each set, none folded.
        let unique = n_a.min(n_b);
        return swd_cpu::mean_abs_sorted_difference(
            swd_cpu::Compared {
                panels: &panels_a,
                unique,
                copies: &[],
            },
            swd_cpu::Compared {
                panels: &panels_b,
                unique,
                copies: &[],
            },
            d,
            &transposed_directions(directions),
            &mut Projections::default(),
            (&mut 0.0, &mut 0.0),
        );
    }
    sliced_wasserstein_by_tensors(a, b, directions)
}

/// [`sliced_wasserstein`] by libtorch's matmul and sort (any device).
fn sliced_wasserstein_by_tensors(a: &Tensor, b: &Tensor, directions: &[Tensor]) -> f64 {
    let (a, b) = (a.to_kind(Kind::Float), b.to_kind(Kind::Float));
    let results: Vec<f64> = directions
        .iter()
        .map(|dirs| {
            let dirs = dirs.to_kind(Kind::Float).to_device(a.device());
            let (pa, _) = a.matmul(&dirs).sort(0, false);
            let (pb, _) = b.matmul(&dirs).sort(0, false);
            (pa - pb).abs().mean(None::<Kind>).double_value(&[])
        })
        .collect();
    results.iter().sum::<f64>() / results.len() as f64
}

/// Each [d, k] direction matrix as the [k, d] row-major values the CPU kernel takes.
fn transposed_directions(directions: &[Tensor]) -> Vec<Directions> {
    directions
        .iter()
        .map(|dirs| Directions {
            k: dirs.size().get(1).copied().unwrap_or(0) as usize,
            values: host::to_vec_f32(&dirs.transpose(0, 1)),
        })
        .collect()
}

/// Where a CPU SWD call's time went (seconds of wall-clock time per phase, summed over both sets
/// and every level), as `gan bench swd --phases` prints it beside `bench/swd_numpy.py --phases`.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct SwdPhases {
    /// Reading each pyramid batch of images and converting it to float32 slices.
    pub read: f64,
    /// The Laplacian pyramid.
    pub pyramid: f64,
    /// Drawing the neighbourhood corners and gathering the descriptors.
    pub gather: f64,
    /// The per-set, per-channel normalisation of the descriptors.
    pub normalize: f64,
    /// The random directions and the projections onto them.
    pub project: f64,
    /// Sorting the projections and comparing them.
    pub sort: f64,
}

impl SwdPhases {
    /// (name, seconds) for each phase, in the order they run.
    pub fn named(&self) -> [(&'static str, f64); 6] {
        [
            ("read", self.read),
            ("pyramid", self.pyramid),
            ("gather", self.gather),
            ("normalize", self.normalize),
            ("project", self.project),
            ("sort", self.sort),
        ]
    }
}

/// Adds the time since `*since` to `phase` and restarts the clock.
fn lap(phase: &mut f64, since: &mut Instant) {
    let now = Instant::now();
    *phase += (now - *since).as_secs_f64();
    *since = now;
}

/// SWD result: ×1e3 per level (keyed by resolution) and their average.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Swd {
    pub per_level: BTreeMap<i64, f64>,
    pub avg: f64,
}

/// That the pyramid of a `side` x `side` image halves evenly at every level it halves (each
/// level but the last of [`swd_resolutions`] is even), as ProGAN's `pyr_down` / `pyr_up` need
/// (their shapes do not match otherwise): a power of two, or 16·k, 32·k, … .
fn check_side(side: i64) -> Result<(), Error> {
    let sides: Vec<i64> = std::iter::successors(Some(side), |&r| Some(r / 2))
        .take_while(|&r| r >= 16)
        .collect();
    let halved = &sides[..sides.len().saturating_sub(1)];
    match halved.iter().find(|&&r| r % 2 == 1) {
        None => Ok(()),
        Some(odd) => Err(Error::BadInput {
            what: "SWD image size",
            expected: format!(
                "a side whose Laplacian pyramid halves evenly down to 16 (a power of two such as {}); the level of side {odd} does not: evaluate at another resolution (`gan eval --resolution`)",
                1i64 << (63 - side.leading_zeros()).max(4)
            ),
            got: format!("{side}x{side} images"),
        }),
    }
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
    check_side(s[2])?;
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

/// An image set read in pieces, so that it is never held whole: `len` images of `shape`
/// [C, R, R], and `read(start, count)` giving images `start .. start + count` as
/// [count, C, R, R] (uint8 values in float, on the CPU).
pub struct ImageChunks<'a> {
    pub len: i64,
    pub shape: [i64; 3],
    pub read: Box<dyn Fn(i64, i64) -> Result<Tensor, Error> + 'a>,
}

impl<'a> ImageChunks<'a> {
    /// A set held in one tensor [N, C, R, R].
    pub fn held(images: &'a Tensor) -> ImageChunks<'a> {
        let s = images.size();
        ImageChunks {
            len: s[0],
            shape: [
                s.get(1).copied().unwrap_or(0),
                s.get(2).copied().unwrap_or(0),
                s.get(3).copied().unwrap_or(0),
            ],
            read: Box::new(move |start, count| Ok(images.narrow(0, start, count))),
        }
    }
}

/// Descriptors of a whole image set at every level, finalised ([N·128, 147] per level).
pub fn set_descriptors(
    images: &Tensor,
    rng: &mut ChaCha8Rng,
    batch: i64,
) -> Result<Vec<Tensor>, Error> {
    let images = check_images(images, "SWD images")?;
    if images.device() == Device::Cpu {
        let d = images.size()[1] * NHOOD_SIZE * NHOOD_SIZE;
        let n = images.size()[0] as usize * NHOODS_PER_IMAGE as usize;
        let mut phases = SwdPhases::default();
        return Ok(
            cpu_set_descriptors(&ImageChunks::held(&images), rng, batch, 0, &mut phases)?
                .into_iter()
                .map(|level| {
                    // Nothing compared, nothing folded: every descriptor in draw order.
                    let (panels, _) = level.into_panels(&mut Vec::new(), &mut phases);
                    Tensor::from_slice(&swd_cpu::from_panels(&panels, n, d as usize)).view([-1, d])
                })
                .collect(),
        );
    }
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

/// One level of an image set's descriptors, as [`cpu_set_descriptors`] keeps it until the
/// level's turn comes in [`cpu_swd`].
enum LevelDescriptors {
    /// Gathered and normalised, in the panel layout of `host::PANEL`, with what each slot holds.
    Panels(Vec<f32>, swd_cpu::Slots),
    /// The level's pyramid values of every image ([images, 3, h, w]) and the corners drawn for
    /// them, gathered when the level is compared: kept so where that is smaller than the
    /// descriptors (3·h·w values per image against 128 x 147), i.e. below the finest level at
    /// up to 64x64, so that the levels' descriptors share two buffers instead of taking two each
    /// (at 1,024 images of 64x64, 320 MB of fresh memory per call instead of 596).
    Planes {
        values: Vec<f32>,
        h: usize,
        w: usize,
        ys: Vec<i64>,
        xs: Vec<i64>,
        /// The first descriptors compared (see `swd_cpu::Slots`).
        compared: usize,
    },
}

impl LevelDescriptors {
    /// The descriptors in the panel layout, normalised, with what each slot holds: the panels
    /// themselves, or the planes gathered into a buffer taken from `spare` (or a new one). Adds
    /// the gathering and normalising time to `phases`.
    fn into_panels(
        self,
        spare: &mut Vec<Vec<f32>>,
        phases: &mut SwdPhases,
    ) -> (Vec<f32>, swd_cpu::Slots) {
        let (values, h, w, ys, xs, compared) = match self {
            LevelDescriptors::Panels(panels, slots) => return (panels, slots),
            LevelDescriptors::Planes {
                values,
                h,
                w,
                ys,
                xs,
                compared,
            } => (values, h, w, ys, xs, compared),
        };
        let mut clock = Instant::now();
        let (c, per) = (3usize, (NHOOD_SIZE * NHOOD_SIZE) as usize);
        let (d, p) = (c * per, host::PANEL);
        let mut slots = swd_cpu::Slots::new(compared, h, w);
        let (_, picks) = slots.draw(&ys, &xs, NHOODS_PER_IMAGE as usize);
        let mut panels = spare.pop().unwrap_or_default();
        panels.resize(picks.len().div_ceil(p) * d * p, 0.0);
        // A reused buffer holds the last level's values: the padding lanes of the last panel
        // must be zeros (see `normalize_panels`); every other value is overwritten.
        if let Some(last) = panels.chunks_exact_mut(d * p).last() {
            last.fill(0.0);
        }
        let source = swd_cpu::Neighbourhoods {
            level: &values,
            c,
            h,
            w,
            ys: &ys,
            xs: &xs,
        };
        swd_cpu::gather_panels(&source, &mut panels, 0, &picks);
        lap(&mut phases.gather, &mut clock);
        swd_cpu::normalize_panels(&mut panels, &slots.weights, c, per);
        lap(&mut phases.normalize, &mut clock);
        (panels, slots)
    }
}

/// [`set_descriptors`] for checked CPU images as slices: per level, every neighbourhood gathered
/// batch by batch straight into one buffer in the panel layout of the projection kernel
/// (`host::PANEL`; N·128 descriptors of 147 values) and normalised in place, or, for the levels
/// where that is smaller, the level's values kept with the corners ([`LevelDescriptors`]).
/// Draws the same random corners in the same order as the tensor path. The repeated draws among
/// the first `compared` descriptors are folded (`swd_cpu::Slots`). Adds its time to `phases`.
fn cpu_set_descriptors(
    images: &ImageChunks,
    rng: &mut ChaCha8Rng,
    batch: i64,
    compared: usize,
    phases: &mut SwdPhases,
) -> Result<Vec<LevelDescriptors>, Error> {
    let mut clock = Instant::now();
    let [_, h, w] = images.shape;
    // Grayscale is tiled to 3 channels, as ProGAN's code sees it.
    let (n, c, h, w) = (images.len, 3usize, h as usize, w as usize);
    let resolutions = swd_resolutions(images.shape[1]);
    let sides = swd_cpu::level_sides(h, w, resolutions.len());
    let d = c * (NHOOD_SIZE * NHOOD_SIZE) as usize;
    let count = n as usize * NHOODS_PER_IMAGE as usize;
    let mut levels: Vec<LevelDescriptors> = sides
        .iter()
        .enumerate()
        .map(|(level, &(lh, lw))| {
            if level > 0 && c * lh * lw <= d * NHOODS_PER_IMAGE as usize {
                LevelDescriptors::Planes {
                    values: Vec::with_capacity(n as usize * c * lh * lw),
                    h: lh,
                    w: lw,
                    ys: Vec::with_capacity(count),
                    xs: Vec::with_capacity(count),
                    compared,
                }
            } else {
                LevelDescriptors::Panels(
                    vec![0f32; count.div_ceil(host::PANEL) * d * host::PANEL],
                    swd_cpu::Slots::new(compared, lh, lw),
                )
            }
        })
        .collect();
    let mut start = 0;
    while start < n {
        let len = batch.min(n - start);
        let chunk = check_images(&(images.read)(start, len)?, "SWD images")?;
        if chunk.size()[1..] != [c as i64, h as i64, w as i64] || chunk.size()[0] != len {
            return Err(Error::BadInput {
                what: "SWD image chunk",
                expected: format!("[{len}, 1|3, {h}, {w}]"),
                got: format!("{:?}", chunk.size()),
            });
        }
        let pixels = host::to_vec_f32(&chunk);
        lap(&mut phases.read, &mut clock);
        let pyramid = swd_cpu::pyramid(&pixels, h, w, resolutions.len());
        lap(&mut phases.pyramid, &mut clock);
        for (level, ((values, side), &(lh, lw))) in
            pyramid.iter().zip(&resolutions).zip(&sides).enumerate()
        {
            let (ys, xs) = random_corners(rng, len, *side);
            match &mut levels[level] {
                LevelDescriptors::Panels(panels, slots) => {
                    let source = swd_cpu::Neighbourhoods {
                        level: values,
                        c,
                        h: lh,
                        w: lw,
                        ys: &ys,
                        xs: &xs,
                    };
                    let (first, picks) = slots.draw(&ys, &xs, NHOODS_PER_IMAGE as usize);
                    swd_cpu::gather_panels(&source, panels, first, &picks);
                }
                LevelDescriptors::Planes {
                    values: kept,
                    ys: kept_ys,
                    xs: kept_xs,
                    ..
                } => {
                    kept.extend_from_slice(values);
                    kept_ys.extend_from_slice(&ys);
                    kept_xs.extend_from_slice(&xs);
                }
            }
        }
        lap(&mut phases.gather, &mut clock);
        start += len;
    }
    for level in &mut levels {
        if let LevelDescriptors::Panels(panels, slots) = level {
            let per = (NHOOD_SIZE * NHOOD_SIZE) as usize;
            swd_cpu::normalize_panels(panels, &slots.weights, c, per);
        }
    }
    lap(&mut phases.normalize, &mut clock);
    Ok(levels)
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
    check_side(real.size()[2])?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let batch = pyramid_batch(real.size()[2]);
    if real.device() == Device::Cpu && fake.device() == Device::Cpu {
        // The shape checks of the whole sets, before any work.
        check_images(real, "SWD images").map(drop)?;
        check_images(fake, "SWD images").map(drop)?;
        return cpu_swd(
            &ImageChunks::held(real),
            &ImageChunks::held(fake),
            &mut rng,
            batch,
            &mut SwdPhases::default(),
        );
    }
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

/// [`swd`] of two sets read in pieces ([`ImageChunks`]) on the CPU: only one pyramid batch of
/// images is held at a time (the descriptors, 128 x 147 values per image and level, are kept).
/// The same value as [`swd`] of the whole sets.
pub fn swd_chunked(real: &ImageChunks, fake: &ImageChunks, seed: u64) -> Result<Swd, Error> {
    if real.shape != fake.shape || real.shape[1] != real.shape[2] || real.shape[1] < 16 {
        return Err(Error::BadInput {
            what: "SWD image sets",
            expected: "the same square image size, at least 16".into(),
            got: format!("{:?} and {:?}", real.shape, fake.shape),
        });
    }
    check_side(real.shape[1])?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    cpu_swd(
        real,
        fake,
        &mut rng,
        pyramid_batch(real.shape[1]),
        &mut SwdPhases::default(),
    )
}

/// [`swd`] of two CPU image sets, with where its time went: the same value as [`swd`] (the same
/// code runs, with a clock read between its phases).
pub fn swd_with_phases(real: &Tensor, fake: &Tensor, seed: u64) -> Result<(Swd, SwdPhases), Error> {
    if real.device() != Device::Cpu || fake.device() != Device::Cpu {
        return Err(Error::BadInput {
            what: "SWD phase timing",
            expected: "image sets on the CPU".into(),
            got: format!("{:?} and {:?}", real.device(), fake.device()),
        });
    }
    if real.size()[1..] != fake.size()[1..] {
        return Err(Error::BadInput {
            what: "SWD image sets",
            expected: "the same image shape".into(),
            got: format!("{:?} and {:?}", real.size(), fake.size()),
        });
    }
    check_images(real, "SWD images").map(drop)?;
    check_images(fake, "SWD images").map(drop)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut phases = SwdPhases::default();
    let value = cpu_swd(
        &ImageChunks::held(real),
        &ImageChunks::held(fake),
        &mut rng,
        pyramid_batch(real.size()[2]),
        &mut phases,
    )?;
    Ok((value, phases))
}

/// [`swd`] on the CPU, on slices from the images to the sorted projections (the same random
/// draws in the same order as the tensor path).
fn cpu_swd(
    real: &ImageChunks,
    fake: &ImageChunks,
    rng: &mut ChaCha8Rng,
    batch: i64,
    phases: &mut SwdPhases,
) -> Result<Swd, Error> {
    let counts = [real.len, fake.len].map(|n| (n * NHOODS_PER_IMAGE) as usize);
    let compared = counts[0].min(counts[1]);
    let real_desc = cpu_set_descriptors(real, rng, batch, compared, phases)?;
    let fake_desc = cpu_set_descriptors(fake, rng, batch, compared, phases)?;
    let d = 3 * NHOOD_SIZE * NHOOD_SIZE;
    let resolutions = swd_resolutions(real.shape[1]);
    let mut buffers = Projections::default();
    let mut per_level = BTreeMap::new();
    // The descriptor buffers of compared levels, for the next levels kept as planes.
    let mut spare = Vec::new();
    for ((a, b), res) in real_desc.into_iter().zip(fake_desc).zip(&resolutions) {
        let (a, slots_a) = a.into_panels(&mut spare, phases);
        let (b, slots_b) = b.into_panels(&mut spare, phases);
        let clock = Instant::now();
        let dirs = transposed_directions(&random_directions(rng, d));
        phases.project += clock.elapsed().as_secs_f64();
        let distance = swd_cpu::mean_abs_sorted_difference(
            swd_cpu::Compared {
                panels: &a,
                unique: slots_a.unique,
                copies: &slots_a.copies,
            },
            swd_cpu::Compared {
                panels: &b,
                unique: slots_b.unique,
                copies: &slots_b.copies,
            },
            d as usize,
            &dirs,
            &mut buffers,
            (&mut phases.project, &mut phases.sort),
        );
        per_level.insert(*res, distance * 1e3);
        spare.extend([a, b]);
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
        let ours = sliced_wasserstein(&a, &b, std::slice::from_ref(&dirs));
        let (pa, _) = a.matmul(&dirs).sort(0, false);
        let (pb, _) = b.matmul(&dirs).sort(0, false);
        let plain = (pa - pb).abs().mean(Kind::Double).double_value(&[]);
        assert!((ours - plain).abs() < 1e-5 * plain, "{ours} vs {plain}");
    }

    #[test]
    fn the_cpu_kernels_equal_the_libtorch_path() {
        // The slice kernels (CPU) against the tensor path that other devices take, on CPU
        // tensors: pyramid (the same float32 operations in the same order: equal bit for bit),
        // neighbourhoods (copies: equal), normalisation, distance (other summation orders).
        tch::manual_seed(5);
        let images = (Tensor::rand([3, 3, 32, 32], (Kind::Float, Device::Cpu)) * 255.0).round();
        let ours = laplacian_pyramid(&images, 2);
        let theirs = laplacian_pyramid_by_tensors(&images, 2);
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(a.size(), b.size());
            let diff = (a - b).abs().max().double_value(&[]);
            assert!(diff == 0.0, "pyramid level differs by {diff}");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (ys, xs) = random_corners(&mut rng, 3, 32);
        let gathered = descriptors_at(&theirs[0], &ys, &xs);
        assert!(gathered.equal(&descriptors_by_indexing(&theirs[0], &ys, &xs)));
        let (a, b) = (
            finalize_descriptors(&gathered),
            finalize_by_tensors(&gathered),
        );
        let diff = (&a - &b).abs().max().double_value(&[]);
        assert!(diff < 1e-4, "normalised descriptors differ by {diff}");
        let (ys, xs) = random_corners(&mut rng, 3, 32);
        let other = finalize_descriptors(&descriptors_at(&theirs[0], &ys, &xs));
        let dirs = random_directions(&mut rng, a.size()[1]);
        let (x, y) = (
            sliced_wasserstein(&a, &other, &dirs),
            sliced_wasserstein_by_tensors(&a, &other, &dirs),
        );
        assert!((x - y).abs() <= 1e-5 * y.abs(), "{x} vs {y}");
    }

    #[test]
    fn swd_read_in_chunks_equals_swd_of_the_whole_sets_and_a_read_error_is_passed_on() {
        tch::manual_seed(3);
        let real = (Tensor::rand([300, 1, 32, 32], (Kind::Float, Device::Cpu)) * 255.0).round();
        let fake = (Tensor::rand([280, 1, 32, 32], (Kind::Float, Device::Cpu)) * 255.0).round();
        let whole = swd(&real, &fake, 5).expect("swd");
        // A reader that copies each requested piece, as a streamed source decodes it.
        let reader = |set: &Tensor| {
            let set = set.copy();
            ImageChunks {
                len: set.size()[0],
                shape: [1, 32, 32],
                read: Box::new(move |start, count| Ok(set.narrow(0, start, count).copy())),
            }
        };
        let chunked = swd_chunked(&reader(&real), &reader(&fake), 5).expect("chunked");
        assert_eq!(chunked.avg.to_bits(), whole.avg.to_bits());
        assert_eq!(chunked.per_level, whole.per_level);
        let broken = ImageChunks {
            len: 300,
            shape: [1, 32, 32],
            read: Box::new(|start, _| Err(Error::Source(format!("image {start}: truncated PNG")))),
        };
        let err = swd_chunked(&broken, &reader(&fake), 5).expect_err("unreadable");
        assert!(err.to_string().contains("truncated PNG"), "{err}");
        let other = ImageChunks {
            shape: [3, 32, 32],
            ..reader(&fake)
        };
        assert!(swd_chunked(&reader(&real), &other, 5).is_err());
    }

    /// The timed call is the same computation: the same value, bit for bit, and its phases
    /// account for the time it took.
    #[test]
    fn swd_with_phases_gives_swd_s_value_and_where_its_time_went() {
        tch::manual_seed(3);
        let real = (Tensor::rand([6, 1, 32, 32], (Kind::Float, Device::Cpu)) * 255.0).round();
        let fake = (Tensor::rand([6, 1, 32, 32], (Kind::Float, Device::Cpu)) * 255.0).round();
        let plain = swd(&real, &fake, 9).expect("swd");
        let start = std::time::Instant::now();
        let (timed, phases) = swd_with_phases(&real, &fake, 9).expect("swd with phases");
        let elapsed = start.elapsed().as_secs_f64();
        assert_eq!(plain, timed);
        let sum: f64 = phases.named().iter().map(|(_, s)| s).sum();
        assert!(
            phases.named().iter().all(|(_, s)| *s > 0.0) && sum <= elapsed,
            "{phases:?} against {elapsed} s"
        );
        let wrong = Tensor::zeros([6, 1, 16, 16], (Kind::Float, Device::Cpu));
        let err = swd_with_phases(&real, &wrong, 9).expect_err("different shapes");
        assert!(err.to_string().contains("the same image shape"), "{err}");
    }

    /// A side whose pyramid does not halve evenly (300: 150, 75, 37) is a clear error from
    /// every entry point, not a panic inside the pyramid; sides that halve evenly to their last
    /// level pass, whatever they are (28 has one level, 34 ends at 17, 48 at 24).
    #[test]
    fn sides_that_do_not_halve_evenly_are_refused_with_a_suggestion() {
        for side in [16, 28, 34, 40, 48, 80, 96, 256] {
            check_side(side).unwrap_or_else(|e| panic!("{side}: {e}"));
        }
        for (side, odd, suggested) in [(300, 75, 256), (70, 35, 64), (150, 75, 128), (74, 37, 64)] {
            let images = Tensor::zeros([2, 1, side, side], (Kind::Float, Device::Cpu));
            let held = ImageChunks::held(&images);
            for err in [
                swd(&images, &images, 0).expect_err("swd"),
                swd_with_phases(&images, &images, 0).expect_err("swd_with_phases"),
                swd_chunked(&held, &held, 0).expect_err("swd_chunked"),
            ] {
                let text = err.to_string();
                assert!(
                    text.contains(&format!("the level of side {odd} does not"))
                        && text.contains(&format!("a power of two such as {suggested}"))
                        && text.contains(&format!("got {side}x{side} images")),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn the_cpu_swd_equals_the_libtorch_path_with_sets_of_different_sizes() {
        // `swd` on CPU images (panel layout, batches of 3 images so that batches share panels)
        // against the same draws through libtorch operations only.
        tch::manual_seed(7);
        let real = (Tensor::rand([7, 3, 32, 32], (Kind::Float, Device::Cpu)) * 255.0).round();
        let fake = (Tensor::rand([5, 3, 32, 32], (Kind::Float, Device::Cpu)) * 255.0).round();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut phases = SwdPhases::default();
        let ours = cpu_swd(
            &ImageChunks::held(&real),
            &ImageChunks::held(&fake),
            &mut rng,
            3,
            &mut phases,
        )
        .expect("swd");
        assert!(
            phases.named().iter().all(|(_, s)| *s >= 0.0) && phases.project > 0.0,
            "{phases:?}"
        );
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let resolutions = swd_resolutions(32);
        let mut sets = Vec::new();
        for images in [&real, &fake] {
            let mut parts: Vec<Vec<Tensor>> = resolutions.iter().map(|_| Vec::new()).collect();
            let mut start = 0;
            while start < images.size()[0] {
                let len = 3.min(images.size()[0] - start);
                let pyramid =
                    laplacian_pyramid_by_tensors(&images.narrow(0, start, len), resolutions.len());
                for (level, (img, side)) in pyramid.iter().zip(&resolutions).enumerate() {
                    let (ys, xs) = random_corners(&mut rng, len, *side);
                    parts[level].push(descriptors_by_indexing(img, &ys, &xs));
                }
                start += len;
            }
            let levels: Vec<Tensor> = parts
                .iter()
                .map(|p| finalize_by_tensors(&Tensor::cat(p, 0)))
                .collect();
            sets.push(levels);
        }
        for ((a, b), res) in sets[0].iter().zip(&sets[1]).zip(&resolutions) {
            let n = a.size()[0].min(b.size()[0]);
            let dirs = random_directions(&mut rng, a.size()[1]);
            let theirs =
                sliced_wasserstein_by_tensors(&a.narrow(0, 0, n), &b.narrow(0, 0, n), &dirs) * 1e3;
            let mine = ours.per_level[res];
            assert!(
                (mine - theirs).abs() <= 1e-5 * theirs,
                "{res}: {mine} vs {theirs}"
            );
        }
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
