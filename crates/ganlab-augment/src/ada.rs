//! Adaptive discriminator augmentation (Karras et al. 2020, "Training Generative Adversarial
//! Networks with Limited Data", ADA): every image D sees goes through a pipeline of
//! differentiable transforms, each applied to an image with probability p, and p follows D's
//! overfitting. The heuristic is r_t = E[sign(D(x_real))] over the real batches of the last
//! `interval` steps (§3: 0 when D does not tell training reals from fakes, 1 when it has
//! memorised them); every `interval` steps p moves by sign(r_t − target) · N / (speed · 1000)
//! for the N real images shown since the last adjustment, so it can go from 0 to 1 in `speed`
//! kimg (paper: target 0.6, 500 kimg, every 4 steps), clamped to [0, 1].
//!
//! The pipeline is the paper's "bgc" (Appendix B, StyleGAN2-ADA's `augpipe_specs['bgc']`):
//!
//! - pixel blitting: x-flip, 90° rotations, integer translation (up to 1/8 of the size);
//! - general geometric transforms: isotropic scaling (log2-normal, σ 0.2), arbitrary rotation
//!   (uniform, before and after the anisotropic scaling, each with probability
//!   1 − √(1 − p)), anisotropic scaling (log2-normal, σ 0.2), fractional translation (normal,
//!   σ 1/8 of the size);
//! - colour transforms: brightness (normal, σ 0.2), contrast (log2-normal, σ 0.5), luma flip,
//!   hue rotation (uniform), saturation (log2-normal, σ 1); hue and saturation need three
//!   channels, and a grayscale image gets the mean of the RGB matrix's rows.
//!
//! The geometric transforms are one inverse 3x3 matrix per image, executed as the paper does
//! (§B): reflection padding for what comes into view, 2x upsampling with the symmetric
//! Daubechies-6 ("sym6") low-pass filter, bilinear sampling (`grid_sample`), and 2x
//! downsampling with the same filter. The colour transforms are one 4x4 matrix per image.
//! The image-space filtering, additive noise and cutout of the "bgcfnc" pipeline are left out:
//! the paper found "bgc" the best for limited data (§3, Figure 4a), and cutout is DiffAugment's.

use crate::Error;
use ganlab_games::Shard;
use std::f64::consts::PI;
use tch::{Device, Kind, Tensor};

/// r_t's target (Karras et al. 2020, §3: 0.6).
pub const ADA_TARGET: f64 = 0.6;
/// kimg in which p can go from 0 to 1 (§3: 500k images).
pub const ADA_SPEED_KIMG: f64 = 500.0;
/// Steps between adjustments (StyleGAN2-ADA's `ada_interval = 4`).
pub const ADA_INTERVAL: usize = 4;

/// The low-pass filter of the geometric transforms: the symmetric Daubechies wavelet of order 6
/// (12 taps, as PyWavelets' `sym6` decomposition low-pass).
pub const SYM6: [f64; 12] = [
    0.015404109327027373,
    0.0034907120842174702,
    -0.11799011114819057,
    -0.048311742585633,
    0.4910559419267466,
    0.787641141030194,
    0.3379294217276218,
    -0.07263752278646252,
    -0.021060292512300564,
    0.04472490177066578,
    0.0017677118642428036,
    -0.007800708325034148,
];

/// One transform of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdaOp {
    XFlip,
    Rotate90,
    XInt,
    Scale,
    Rotate,
    Aniso,
    XFrac,
    Brightness,
    Contrast,
    LumaFlip,
    Hue,
    Saturation,
}

impl AdaOp {
    /// Pixel blitting (`b`).
    pub const BLIT: [AdaOp; 3] = [AdaOp::XFlip, AdaOp::Rotate90, AdaOp::XInt];
    /// General geometric transforms (`g`).
    pub const GEOM: [AdaOp; 4] = [AdaOp::Scale, AdaOp::Rotate, AdaOp::Aniso, AdaOp::XFrac];
    /// Colour transforms (`c`).
    pub const COLOR: [AdaOp; 5] = [
        AdaOp::Brightness,
        AdaOp::Contrast,
        AdaOp::LumaFlip,
        AdaOp::Hue,
        AdaOp::Saturation,
    ];
}

/// Which groups of transforms run: any of `b`, `g`, `c` (`bgc`: all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaPipeline {
    pub blit: bool,
    pub geom: bool,
    pub color: bool,
}

impl AdaPipeline {
    pub const NAMES: [&'static str; 7] = ["bgc", "bg", "bc", "gc", "b", "g", "c"];

    /// The paper's pipeline for limited data.
    pub fn bgc() -> AdaPipeline {
        AdaPipeline {
            blit: true,
            geom: true,
            color: true,
        }
    }

    /// `bgc`, `bg`, `b`, `g`, `c`, ...
    pub fn parse(name: &str) -> Result<AdaPipeline, Error> {
        if !AdaPipeline::NAMES.contains(&name) {
            return Err(Error::UnknownOp {
                what: "ADA pipeline",
                name: name.to_string(),
                valid: AdaPipeline::NAMES.join(", "),
            });
        }
        Ok(AdaPipeline {
            blit: name.contains('b'),
            geom: name.contains('g'),
            color: name.contains('c'),
        })
    }

    pub fn name(&self) -> String {
        [(self.blit, 'b'), (self.geom, 'g'), (self.color, 'c')]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, c)| *c)
            .collect()
    }

    /// Whether `op` runs in this pipeline.
    pub fn has(&self, op: AdaOp) -> bool {
        (self.blit && AdaOp::BLIT.contains(&op))
            || (self.geom && AdaOp::GEOM.contains(&op))
            || (self.color && AdaOp::COLOR.contains(&op))
    }

    /// `x` `[N, C, H, W]` (C = 1 or 3) through the pipeline, each transform applied to an
    /// image with probability `p`, differentiably, with fresh draws.
    pub fn apply(&self, x: &Tensor, p: f64, shard: Shard) -> Tensor {
        let n = x.size()[0];
        // The transforms of the whole global batch (N ranks draw what one process draws), then
        // this shard's rows; the padding follows the whole batch's transforms, so that a rank
        // pads its rows as one process pads them.
        let draw = Draw {
            n: n * shard.count as i64,
            device: x.device(),
            shard: Shard::default(),
        };
        let rows = |t: Tensor| t.narrow(0, shard.index as i64 * n, n);
        let mut x = x.shallow_clone();
        if self.blit || self.geom {
            let g_all = self.geometry(&draw, p, x.size()[2], x.size()[3]);
            x = execute_geometry_padded_for(&x, &rows(g_all.shallow_clone()), &g_all);
        }
        if self.color {
            let c = self.colour(&draw, p, x.size()[1]);
            x = execute_colour(&x, &rows(c));
        }
        x
    }

    /// The inverse geometric transforms, output pixel → input pixel, `[N, 3, 3]`, in the order
    /// and with the draws of the paper's pipeline.
    pub fn geometry(&self, d: &Draw, p: f64, h: i64, w: i64) -> Tensor {
        let (n, device) = (d.n, d.device);
        let mut g = eye(3, n, device);
        let zeros = || Tensor::zeros([n], (Kind::Float, device));
        let ones = || Tensor::ones([n], (Kind::Float, device));
        if self.blit {
            // x-flip: i ∈ {0, 1}.
            let i = (d.uniform(&[n]) * 2.0).floor();
            let i = d.gate(&[n], p, i, zeros());
            let sx: Tensor = i * -2.0 + 1.0;
            g = g.matmul(&scale2d(&sx.reciprocal(), &ones()));
            // Rotations by i · 90°.
            let i = (d.uniform(&[n]) * 4.0).floor();
            let i = d.gate(&[n], p, i, zeros());
            g = g.matmul(&rotate2d(&(i * (PI / 2.0))));
            // Integer translation, up to 1/8 of the size.
            let t = (d.uniform(&[n, 2]) * 2.0 - 1.0) * 0.125;
            let t = d.gate(&[n, 1], p, t, Tensor::zeros([n, 2], (Kind::Float, device)));
            let tx = (t.select(1, 0) * w as f64).round();
            let ty = (t.select(1, 1) * h as f64).round();
            g = g.matmul(&translate2d(&-tx, &-ty));
        }
        if self.geom {
            // Isotropic scaling, log2-normal with σ 0.2.
            let s = (d.normal(&[n]) * 0.2).exp2();
            let s = d.gate(&[n], p, s, ones());
            g = g.matmul(&scale2d(&s.reciprocal(), &s.reciprocal()));
            // P(rotation before or after the anisotropic scaling) = p.
            let p_rot = 1.0 - (1.0 - p).clamp(0.0, 1.0).sqrt();
            let theta = (d.uniform(&[n]) * 2.0 - 1.0) * PI;
            let theta = d.gate(&[n], p_rot, theta, zeros());
            g = g.matmul(&rotate2d(&theta));
            // Anisotropic scaling.
            let s = (d.normal(&[n]) * 0.2).exp2();
            let s = d.gate(&[n], p, s, ones());
            g = g.matmul(&scale2d(&s.reciprocal(), &s));
            let theta = (d.uniform(&[n]) * 2.0 - 1.0) * PI;
            let theta = d.gate(&[n], p_rot, theta, zeros());
            g = g.matmul(&rotate2d(&theta));
            // Fractional translation, normal with σ 1/8 of the size.
            let t = d.normal(&[n, 2]) * 0.125;
            let t = d.gate(&[n, 1], p, t, Tensor::zeros([n, 2], (Kind::Float, device)));
            let tx = t.select(1, 0) * w as f64;
            let ty = t.select(1, 1) * h as f64;
            g = g.matmul(&translate2d(&-tx, &-ty));
        }
        g
    }

    /// The colour transform, colour in → colour out (homogeneous RGB), `[N, 4, 4]`.
    pub fn colour(&self, d: &Draw, p: f64, channels: i64) -> Tensor {
        let (n, device) = (d.n, d.device);
        let mut c = eye(4, n, device);
        let zeros = || Tensor::zeros([n], (Kind::Float, device));
        let ones = || Tensor::ones([n], (Kind::Float, device));
        // Brightness: normal with σ 0.2, added.
        let b = d.normal(&[n]) * 0.2;
        let b = d.gate(&[n], p, b, zeros());
        c = translate3d(&b).matmul(&c);
        // Contrast: log2-normal with σ 0.5, multiplied.
        let s = (d.normal(&[n]) * 0.5).exp2();
        let s = d.gate(&[n], p, s, ones());
        c = scale3d(&s).matmul(&c);
        // The luma axis v = (1, 1, 1, 0)/√3.
        let v = Tensor::from_slice(&[1.0f32, 1.0, 1.0, 0.0]).to_device(device) / 3f64.sqrt();
        let vv = v.outer(&v);
        let i4 = Tensor::eye(4, (Kind::Float, device));
        // Luma flip: a Householder reflection along v.
        let i = (d.uniform(&[n, 1, 1]) * 2.0).floor();
        let i = d.gate(
            &[n, 1, 1],
            p,
            i,
            Tensor::zeros([n, 1, 1], (Kind::Float, device)),
        );
        let flip: Tensor = &i4 - vv.unsqueeze(0) * 2.0 * i;
        c = flip.matmul(&c);
        if channels > 1 {
            // Hue: a rotation about v by a uniform angle.
            let theta = (d.uniform(&[n]) * 2.0 - 1.0) * PI;
            let theta = d.gate(&[n], p, theta, zeros());
            c = rotate3d_about_luma(&theta).matmul(&c);
            // Saturation: log2-normal with σ 1, scaling what is off the luma axis.
            let s = (d.normal(&[n, 1, 1]) * 1.0).exp2();
            let s = d.gate(
                &[n, 1, 1],
                p,
                s,
                Tensor::ones([n, 1, 1], (Kind::Float, device)),
            );
            c = (vv.unsqueeze(0) + (&i4 - &vv).unsqueeze(0) * s).matmul(&c);
        }
        c
    }
}

/// The random draws of one call: for the global batch, sliced to this shard's rows.
#[derive(Debug, Clone, Copy)]
pub struct Draw {
    pub n: i64,
    pub device: Device,
    pub shard: Shard,
}

impl Draw {
    fn uniform(&self, shape: &[i64]) -> Tensor {
        self.shard
            .draw(shape, |s| Tensor::rand(s, (Kind::Float, self.device)))
    }

    fn normal(&self, shape: &[i64]) -> Tensor {
        self.shard
            .draw(shape, |s| Tensor::randn(s, (Kind::Float, self.device)))
    }

    /// `value` where a fresh U[0, 1) draw of `shape` is below `p`, else `otherwise`.
    fn gate(&self, shape: &[i64], p: f64, value: Tensor, otherwise: Tensor) -> Tensor {
        value.where_self(&self.uniform(shape).lt(p), &otherwise)
    }
}

fn eye(k: i64, n: i64, device: Device) -> Tensor {
    Tensor::eye(k, (Kind::Float, device))
        .unsqueeze(0)
        .repeat([n, 1, 1])
}

/// `[N, rows, cols]` from per-image entries (row-major).
fn matrix(entries: &[Tensor], rows: i64) -> Tensor {
    let n = entries[0].size()[0];
    Tensor::stack(entries, 1).view([n, rows, -1])
}

fn translate2d(tx: &Tensor, ty: &Tensor) -> Tensor {
    let (o, z) = (tx.ones_like(), tx.zeros_like());
    matrix(
        &[
            o.copy(),
            z.copy(),
            tx.shallow_clone(),
            z.copy(),
            o.copy(),
            ty.shallow_clone(),
            z.copy(),
            z,
            o,
        ],
        3,
    )
}

fn scale2d(sx: &Tensor, sy: &Tensor) -> Tensor {
    let (o, z) = (sx.ones_like(), sx.zeros_like());
    matrix(
        &[
            sx.shallow_clone(),
            z.copy(),
            z.copy(),
            z.copy(),
            sy.shallow_clone(),
            z.copy(),
            z.copy(),
            z,
            o,
        ],
        3,
    )
}

fn rotate2d(theta: &Tensor) -> Tensor {
    let (o, z) = (theta.ones_like(), theta.zeros_like());
    let (c, s) = (theta.cos(), theta.sin());
    matrix(
        &[c.copy(), -&s, z.copy(), s, c, z.copy(), z.copy(), z, o],
        3,
    )
}

fn translate3d(b: &Tensor) -> Tensor {
    let (o, z) = (b.ones_like(), b.zeros_like());
    let e = |i: usize, j: usize| match (i, j) {
        (i, j) if i == j => o.copy(),
        (i, 3) if i < 3 => b.shallow_clone(),
        _ => z.copy(),
    };
    matrix(&(0..16).map(|k| e(k / 4, k % 4)).collect::<Vec<_>>(), 4)
}

fn scale3d(s: &Tensor) -> Tensor {
    let (o, z) = (s.ones_like(), s.zeros_like());
    let e = |i: usize, j: usize| match (i, j) {
        (3, 3) => o.copy(),
        (i, j) if i == j => s.shallow_clone(),
        _ => z.copy(),
    };
    matrix(&(0..16).map(|k| e(k / 4, k % 4)).collect::<Vec<_>>(), 4)
}

/// Rotation by θ about the unit luma axis v = (1, 1, 1)/√3 (Rodrigues' formula).
pub fn rotate3d_about_luma(theta: &Tensor) -> Tensor {
    let v = 1.0 / 3f64.sqrt();
    let (s, c) = (theta.sin(), theta.cos());
    let cc: Tensor = -&c + 1.0;
    let (o, z) = (theta.ones_like(), theta.zeros_like());
    let diag = &cc * (v * v) + &c;
    let off_plus = &cc * (v * v) + &s * v;
    let off_minus = &cc * (v * v) - &s * v;
    matrix(
        &[
            diag.copy(),
            off_minus.copy(),
            off_plus.copy(),
            z.copy(),
            off_plus.copy(),
            diag.copy(),
            off_minus.copy(),
            z.copy(),
            off_minus,
            off_plus,
            diag,
            z.copy(),
            z.copy(),
            z.copy(),
            z,
            o,
        ],
        4,
    )
}

/// Upsampling, FIR filtering and downsampling of `[N, C, H, W]` with the separable filter `f`
/// (1-D, taps as given): zeros inserted (`up`), padded (negative: cropped) by
/// `[x0, x1, y0, y1]`, convolved with f·√gain along each axis (the filter reversed unless
/// `flip`, i.e. a true convolution), every `down`-th pixel kept.
pub fn upfirdn2d(
    x: &Tensor,
    f: &Tensor,
    up: i64,
    down: i64,
    pad: [i64; 4],
    flip: bool,
    gain: f64,
) -> Tensor {
    let s = x.size();
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    let x = x
        .reshape([n, c, h, 1, w, 1])
        .constant_pad_nd([0, up - 1, 0, 0, 0, up - 1])
        .reshape([n, c, h * up, w * up]);
    let [x0, x1, y0, y1] = pad;
    let x = x.constant_pad_nd([x0.max(0), x1.max(0), y0.max(0), y1.max(0)]);
    let (hh, ww) = (x.size()[2], x.size()[3]);
    let x = x
        .narrow(2, (-y0).max(0), hh - (-y0).max(0) - (-y1).max(0))
        .narrow(3, (-x0).max(0), ww - (-x0).max(0) - (-x1).max(0));
    let mut f = f.to_kind(x.kind()) * gain.sqrt();
    if !flip {
        f = f.flip([0]);
    }
    let taps = f.size()[0];
    let fx = f.view([1, 1, 1, taps]).repeat([c, 1, 1, 1]);
    let fy = f.view([1, 1, taps, 1]).repeat([c, 1, 1, 1]);
    let x = x.conv2d(&fx, None::<Tensor>, [1], [0], [1], c);
    let x = x.conv2d(&fy, None::<Tensor>, [1], [0], [1], c);
    x.slice(2, 0, None, down).slice(3, 0, None, down)
}

/// [`upfirdn2d`] with `up` = 2, the padding that keeps 2·H x 2·W and gain 4, computed as a
/// transposed convolution with stride 2 of every channel on its own (no zeros multiplied;
/// several times faster on a CPU than the zero-stuffed grouped convolution).
pub fn upsample2x(x: &Tensor, f: &Tensor) -> Tensor {
    let s = x.size();
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    let taps = f.size()[0];
    let f = f.to_kind(x.kind()) * 2.0;
    // Sample i lands on 2i and the zero-stuffed signal is padded by taps / 2 before a true
    // convolution: out[k] = Σ_i x[i]·f[k − 2i + taps − 1 − taps / 2].
    let p = taps - 1 - taps / 2;
    let x = x.reshape([n * c, 1, h, w]);
    let x = x.conv_transpose2d(
        &f.view([1, 1, 1, taps]),
        None::<Tensor>,
        [1, 2],
        [0, p],
        [0, 0],
        1,
        [1, 1],
    );
    let x = x.conv_transpose2d(
        &f.view([1, 1, taps, 1]),
        None::<Tensor>,
        [2, 1],
        [p, 0],
        [0, 0],
        1,
        [1, 1],
    );
    x.reshape([n, c, 2 * h, 2 * w])
}

/// [`upfirdn2d`] with `down` = 2, `crop` samples removed at each end, the filter not reversed
/// (a correlation) and gain 1, computed as a convolution with stride 2 of every channel on its
/// own.
pub fn downsample2x(x: &Tensor, f: &Tensor, crop: i64) -> Tensor {
    let s = x.size();
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    let taps = f.size()[0];
    let f = f.to_kind(x.kind());
    let x = x
        .reshape([n * c, 1, h, w])
        .narrow(2, crop, h - 2 * crop)
        .narrow(3, crop, w - 2 * crop);
    let x = x.conv2d(
        &f.view([1, 1, 1, taps]),
        None::<Tensor>,
        [1, 2],
        [0, 0],
        [1, 1],
        1,
    );
    let x = x.conv2d(
        &f.view([1, 1, taps, 1]),
        None::<Tensor>,
        [2, 1],
        [0, 0],
        [1, 1],
        1,
    );
    let (oh, ow) = (x.size()[2], x.size()[3]);
    x.reshape([n, c, oh, ow])
}

/// The sym6 filter normalised to unit sum, on `device`.
fn sym6(device: Device) -> Tensor {
    let f = Tensor::from_slice(&SYM6.map(|v| v as f32)).to_device(device);
    &f / f.sum(Kind::Float)
}

/// Runs the inverse transforms `g_inv` `[N, 3, 3]` on `x` as the paper does: reflection
/// padding (as much as the transformed corners need, at most the image size − 1), 2x
/// upsampling, bilinear sampling, 2x downsampling (both with sym6).
pub fn execute_geometry(x: &Tensor, g_inv: &Tensor) -> Tensor {
    execute_geometry_padded_for(x, g_inv, g_inv)
}

/// [`execute_geometry`] with the padding that the transforms `padded_for` (a superset of
/// `g_inv`'s rows: the global batch's) need.
pub fn execute_geometry_padded_for(x: &Tensor, g_inv: &Tensor, padded_for: &Tensor) -> Tensor {
    // A leaf that needs gradients is a penalty's input (R1's reals, WGAN-GP's mixtures), whose
    // gradient is differentiated again: it takes the sampler that allows that. G's fakes (not
    // a leaf) and batches without gradients take libtorch's, bit for bit as before.
    let second_order = x.requires_grad() && x.is_leaf();
    let s = x.size();
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    let device = x.device();
    let f = sym6(device);
    let taps = SYM6.len() as i64;
    let pad_f = taps / 4;
    let (cx, cy) = ((w - 1) as f64 / 2.0, (h - 1) as f64 / 2.0);
    // Where the output's corners come from: the margin to pad.
    let corners = Tensor::from_slice(&[
        -cx as f32, -cy as f32, 1.0, cx as f32, -cy as f32, 1.0, cx as f32, cy as f32, 1.0,
        -cx as f32, cy as f32, 1.0,
    ])
    .view([4, 3])
    .to_device(device);
    let cp = padded_for.detach().matmul(&corners.tr()); // [N, 3, 4]
    let xy = cp.narrow(1, 0, 2).permute([1, 0, 2]).flatten(1, -1); // [2, N·4]
    let margin = Tensor::cat(&[-&xy, xy], 0).amax([1], false); // [x0, y0, x1, y1]
    let margin: Vec<f64> =
        Vec::<f64>::try_from(margin.to_kind(Kind::Double).to_device(Device::Cpu))
            .unwrap_or_else(|_| vec![0.0; 4]);
    let bound = |v: f64, centre: f64, limit: i64| -> i64 {
        (v + pad_f as f64 * 2.0 - centre)
            .max(0.0)
            .min((limit - 1) as f64)
            .ceil() as i64
    };
    let (mx0, my0) = (bound(margin[0], cx, w), bound(margin[1], cy, h));
    let (mx1, my1) = (bound(margin[2], cx, w), bound(margin[3], cy, h));
    let x = x.reflection_pad2d([mx0, mx1, my0, my1]);
    let opts = (Kind::Float, device);
    let t2 =
        |tx: f64, ty: f64| translate2d(&Tensor::full([n], tx, opts), &Tensor::full([n], ty, opts));
    let s2 = |sx: f64, sy: f64| scale2d(&Tensor::full([n], sx, opts), &Tensor::full([n], sy, opts));
    let mut g = t2((mx0 - mx1) as f64 / 2.0, (my0 - my1) as f64 / 2.0).matmul(g_inv);
    let x = upsample2x(&x, &f);
    g = s2(2.0, 2.0).matmul(&g).matmul(&s2(0.5, 0.5));
    g = t2(-0.5, -0.5).matmul(&g).matmul(&t2(0.5, 0.5));
    let out = [n, c, (h + pad_f * 2) * 2, (w + pad_f * 2) * 2];
    let (ih, iw) = (x.size()[2] as f64, x.size()[3] as f64);
    g = s2(2.0 / iw, 2.0 / ih)
        .matmul(&g)
        .matmul(&s2(out[3] as f64 / 2.0, out[2] as f64 / 2.0));
    let theta = g.narrow(1, 0, 2).to_kind(x.kind());
    let grid = Tensor::affine_grid_generator(&theta, out, false);
    // Bilinear, zeros outside, align_corners = false.
    let x = match second_order {
        true => grid_sample_bilinear(&x, &grid),
        false => x.grid_sampler(&grid, 0, 0, false),
    };
    // upfirdn2d's padding −2·pad_f + (taps − 1) / 2 = −1 at each end: a crop of 1.
    downsample2x(&x, &f, 2 * pad_f - (taps - 1) / 2)
}

/// `torch.nn.functional.grid_sample(x, grid, mode='bilinear', padding_mode='zeros',
/// align_corners=False)` written with `gather`, so that autograd differentiates it twice:
/// libtorch's `grid_sampler_2d_backward` has no derivative of its own, and a gradient penalty
/// on D's augmented input (R1, WGAN-GP) needs one (StyleGAN2-ADA's `grid_sample_gradfix` exists
/// for the same reason). The grid is a constant (the drawn transforms); `x` `[N, C, H, W]`,
/// `grid` `[N, Ho, Wo, 2]` in [-1, 1] → `[N, C, Ho, Wo]`. The corners' weights and their order
/// of summation are libtorch's CPU kernel's.
pub fn grid_sample_bilinear(x: &Tensor, grid: &Tensor) -> Tensor {
    let s = x.size();
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    let g = grid.size();
    let (ho, wo) = (g[1], g[2]);
    let grid = grid.detach().to_kind(x.kind());
    // Unnormalised as align_corners = false: ((coord + 1) · size − 1) / 2.
    let unnormalise = |coord: Tensor, size: i64| ((coord + 1.0) * size as f64 - 1.0) / 2.0;
    let ix = unnormalise(grid.select(3, 0), w); // [N, Ho, Wo]
    let iy = unnormalise(grid.select(3, 1), h);
    let (x0, y0) = (ix.floor(), iy.floor());
    let (x1, y1) = (&x0 + 1.0, &y0 + 1.0);
    let flat = x.reshape([n, c, h * w]);
    let corner = |cx: &Tensor, cy: &Tensor, weight: Tensor| -> Tensor {
        let inside = cx.ge(0.0) * cx.le((w - 1) as f64) * cy.ge(0.0) * cy.le((h - 1) as f64);
        let index = (cy.clamp(0.0, (h - 1) as f64) * w as f64 + cx.clamp(0.0, (w - 1) as f64))
            .to_kind(Kind::Int64)
            .reshape([n, 1, ho * wo])
            .expand([n, c, ho * wo], false);
        let weight = (weight * inside.to_kind(x.kind())).reshape([n, 1, ho * wo]);
        flat.gather(2, &index, false) * weight
    };
    let nw = corner(&x0, &y0, (&x1 - &ix) * (&y1 - &iy));
    let ne = corner(&x1, &y0, (&ix - &x0) * (&y1 - &iy));
    let sw = corner(&x0, &y1, (&x1 - &ix) * (&iy - &y0));
    let se = corner(&x1, &y1, (&ix - &x0) * (&iy - &y0));
    (nw + ne + sw + se).reshape([n, c, ho, wo])
}

/// Runs the colour transforms `c` `[N, 4, 4]` on RGB (or, with the mean of the RGB rows,
/// grayscale) images.
pub fn execute_colour(x: &Tensor, c: &Tensor) -> Tensor {
    let s = x.size();
    let (n, ch, h, w) = (s[0], s[1], s[2], s[3]);
    let flat = x.reshape([n, ch, h * w]);
    let c = c.to_kind(x.kind());
    let out = if ch == 3 {
        c.narrow(1, 0, 3).narrow(2, 0, 3).matmul(&flat) + c.narrow(1, 0, 3).narrow(2, 3, 1)
    } else {
        let rows = c.narrow(1, 0, 3).mean_dim(1, true, None::<Kind>); // [N, 1, 4]
        flat * rows.narrow(2, 0, 3).sum_dim_intlist(2, true, None::<Kind>) + rows.narrow(2, 3, 1)
    };
    out.reshape([n, ch, h, w])
}

/// ADA's settings (config section `ada`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaSettings {
    /// r_t's target (0.6).
    pub target: f64,
    /// kimg in which p can go from 0 to 1 (500).
    pub speed_kimg: f64,
    /// Generator steps between adjustments (4).
    pub interval: usize,
    /// p at the start (0).
    pub initial_p: f64,
}

impl Default for AdaSettings {
    fn default() -> Self {
        AdaSettings {
            target: ADA_TARGET,
            speed_kimg: ADA_SPEED_KIMG,
            interval: ADA_INTERVAL,
            initial_p: 0.0,
        }
    }
}

impl AdaSettings {
    pub fn is_default(&self) -> bool {
        *self == AdaSettings::default()
    }

    /// Checks each value; the message names the key and its range.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |key: &'static str, expected: &'static str, got: f64| Error::Setting {
            key,
            expected,
            got,
        };
        if !(self.target > 0.0 && self.target < 1.0) {
            return Err(bad("ada.target", "a number in (0, 1)", self.target));
        }
        if !(self.speed_kimg > 0.0 && self.speed_kimg.is_finite()) {
            return Err(bad("ada.speed_kimg", "a positive number", self.speed_kimg));
        }
        if self.interval == 0 {
            return Err(bad("ada.interval", "a whole number >= 1", 0.0));
        }
        if !(0.0..=1.0).contains(&self.initial_p) {
            return Err(bad(
                "ada.initial_p",
                "a probability in [0, 1]",
                self.initial_p,
            ));
        }
        Ok(())
    }
}

/// ADA's state: the pipeline, p, and r_t's running sums since the last adjustment.
#[derive(Debug)]
pub struct Ada {
    pub pipeline: AdaPipeline,
    pub settings: AdaSettings,
    /// The augmentation probability.
    pub p: f64,
    /// Σ sign(D(real)) and the number of real images since the last adjustment, on the
    /// device (read only when p is adjusted).
    sums: Option<Tensor>,
    /// Images and generator steps since the last adjustment.
    images: u64,
    steps: usize,
    /// The last adjustment's r_t.
    pub last_rt: Option<f64>,
}

impl Ada {
    pub fn new(pipeline: AdaPipeline, settings: AdaSettings) -> Ada {
        Ada {
            pipeline,
            settings,
            p: settings.initial_p,
            sums: None,
            images: 0,
            steps: 0,
            last_rt: None,
        }
    }

    /// Adds the signs of D's logits on a real batch (this process's rows).
    pub fn observe_real(&mut self, logits: &Tensor) {
        let logits = logits.detach().to_kind(Kind::Double);
        let batch = Tensor::stack(
            &[
                logits.sign().sum(Kind::Double),
                Tensor::from(logits.size()[0] as f64).to_device(logits.device()),
            ],
            0,
        );
        self.sums = Some(match self.sums.take() {
            Some(s) => s + batch,
            None => batch,
        });
    }

    /// Ends a generator step that showed `images` real images (all ranks): every `interval`
    /// steps, r_t from the sums (`reduce` sums them over data-parallel ranks) and p's
    /// adjustment. Returns r_t when p was adjusted.
    pub fn end_step<E>(
        &mut self,
        images: u64,
        reduce: impl FnOnce(&Tensor) -> Result<Tensor, E>,
    ) -> Result<Option<f64>, E> {
        self.images += images;
        self.steps += 1;
        if self.steps < self.settings.interval {
            return Ok(None);
        }
        let Some(sums) = self.sums.take() else {
            return Ok(None);
        };
        let sums = reduce(&sums)?;
        let v = Vec::<f64>::try_from(sums.to_device(Device::Cpu)).unwrap_or_default();
        let rt = match v.as_slice() {
            [sum, count] if *count > 0.0 => sum / count,
            _ => 0.0,
        };
        // sign(r_t − target), 0 on the target (not f64::signum, which gives 1 at 0).
        let direction = match rt.partial_cmp(&self.settings.target) {
            Some(std::cmp::Ordering::Greater) => 1.0,
            Some(std::cmp::Ordering::Less) => -1.0,
            _ => 0.0,
        };
        let adjust = direction * self.images as f64 / (self.settings.speed_kimg * 1000.0);
        self.p = (self.p + adjust).clamp(0.0, 1.0);
        self.images = 0;
        self.steps = 0;
        self.last_rt = Some(rt);
        Ok(Some(rt))
    }

    /// The state a snapshot holds, so that a resumed run continues with the same p and the
    /// same sums: `augment.ada_p`, `augment.ada_counts` (images and steps since the last
    /// adjustment), `augment.ada_sums` (Σ sign, count; zeros when none), all float64.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let sums = match &self.sums {
            Some(s) => s.to_device(Device::Cpu).to_kind(Kind::Double),
            None => Tensor::zeros([2], (Kind::Double, Device::Cpu)),
        };
        vec![
            ("augment.ada_p".into(), Tensor::from_slice(&[self.p])),
            (
                "augment.ada_counts".into(),
                Tensor::from_slice(&[self.images as f64, self.steps as f64]),
            ),
            ("augment.ada_sums".into(), sums),
        ]
    }

    /// Takes the state from a snapshot's tensors; false (and nothing changed) when the snapshot
    /// has none (a run that did not use ADA).
    pub fn load(
        &mut self,
        tensors: &std::collections::BTreeMap<String, Tensor>,
        device: Device,
    ) -> bool {
        let read = |name: &str| {
            tensors
                .get(name)
                .and_then(|t| Vec::<f64>::try_from(t.to_kind(Kind::Double)).ok())
        };
        let (Some(p), Some(counts), Some(sums)) = (
            read("augment.ada_p"),
            read("augment.ada_counts"),
            read("augment.ada_sums"),
        ) else {
            return false;
        };
        let ([p], [images, steps], [sign_sum, count]) =
            (p.as_slice(), counts.as_slice(), sums.as_slice())
        else {
            return false;
        };
        self.p = *p;
        self.images = *images as u64;
        self.steps = *steps as usize;
        self.sums =
            (*count > 0.0).then(|| Tensor::from_slice(&[*sign_sum, *count]).to_device(device));
        true
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Tests that seed libtorch's global generator run one at a time.
    pub(crate) fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        LOCK.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn images(n: i64, c: i64, size: i64) -> Tensor {
        Tensor::rand([n, c, size, size], (Kind::Float, Device::Cpu)) * 2.0 - 1.0
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    fn one(n: i64, v: f64) -> Tensor {
        Tensor::full([n], v, (Kind::Float, Device::Cpu))
    }

    /// The gather-based bilinear sampler equals libtorch's `grid_sampler` (bilinear, zeros,
    /// align_corners = false), its gradient too, and unlike it differentiates twice: the
    /// gradient of a penalty on ‖∂(f(sample(x)))/∂x‖² reaches x.
    #[test]
    fn the_bilinear_sampler_equals_libtorch_s_and_differentiates_twice() {
        let _rng = rng_lock();
        tch::manual_seed(1);
        let x = images(3, 2, 9).set_requires_grad(true);
        // Affine grids that reach outside the image, with rotations and scales.
        let theta = Tensor::rand([3, 2, 3], (Kind::Float, Device::Cpu)) * 1.6 - 0.8;
        let grid = Tensor::affine_grid_generator(&theta, [3, 2, 11, 7], false);
        let ours = grid_sample_bilinear(&x, &grid);
        let theirs = x.grid_sampler(&grid, 0, 0, false);
        assert_eq!(ours.size(), theirs.size());
        assert!(
            max_diff(&ours, &theirs) < 1e-6,
            "{}",
            max_diff(&ours, &theirs)
        );
        let weights = Tensor::rand_like(&ours);
        let g_ours = Tensor::run_backward(&[(&ours * &weights).sum(None)], &[&x], true, true);
        let g_theirs = Tensor::run_backward(&[(&theirs * &weights).sum(None)], &[&x], true, true);
        assert!(max_diff(&g_ours[0], &g_theirs[0]) < 1e-5);
        // Second order: a penalty on the squared gradient of a nonlinear function of the
        // sample, differentiated again with respect to x.
        let f = (ours.tanh() * &weights).sum(None);
        let grad = Tensor::run_backward(&[f], &[&x], true, true);
        let penalty = grad[0].square().sum(None);
        let second =
            Tensor::f_run_backward(&[penalty], &[&x], false, false).expect("double backward");
        assert!(second[0].abs().sum(None).double_value(&[]) > 0.0);
        let f = (theirs.tanh() * &weights).sum(None);
        let grad = Tensor::run_backward(&[f], &[&x], true, true);
        let penalty = grad[0].square().sum(None);
        assert!(
            Tensor::f_run_backward(&[penalty], &[&x], false, false).is_err(),
            "libtorch's grid_sampler has no double backward (if it gains one, this sampler can go)"
        );
    }

    /// With p = 0 the pipeline is the identity (the sym6 pair of up- and downsampling filters
    /// is orthogonal, and bilinear sampling at the pixel centres is exact).
    #[test]
    fn p_zero_is_the_identity_and_blits_are_close_to_pixel_moves() {
        let _rng = rng_lock();
        tch::manual_seed(0);
        let x = images(2, 3, 16);
        let y = AdaPipeline::bgc().apply(&x, 0.0, Shard::default());
        assert!(max_diff(&x, &y) < 1e-5, "{}", max_diff(&x, &y));
        // The blits through the geometric path are not exact pixel moves: sym6 is not
        // symmetric, so a flip of the upsampled image flips the filter's phase too (the
        // reference check, tests/tests/ada_reference.rs, compares them with the paper's
        // execution). On a smooth image they are close to the exact moves.
        let smooth = images(2, 3, 4).upsample_bicubic2d([16, 16], false, None, None);
        let flip = execute_geometry(&smooth, &scale2d(&one(2, -1.0), &one(2, 1.0)));
        assert!(max_diff(&flip, &smooth.flip([3])) < 0.1);
        let quarter = execute_geometry(&smooth, &rotate2d(&one(2, PI / 2.0)));
        assert!(max_diff(&quarter, &smooth.rot90(1, [2, 3])) < 0.1);
    }

    #[test]
    fn the_fast_up_and_downsampling_equal_upfirdn2d() {
        let _rng = rng_lock();
        let x = images(2, 3, 10);
        let f = sym6(Device::Cpu);
        let up = upfirdn2d(&x, &f, 2, 1, [6, 5, 6, 5], false, 4.0);
        assert!(max_diff(&upsample2x(&x, &f), &up) < 1e-6);
        let down = upfirdn2d(&up, &f, 1, 2, [-1, -1, -1, -1], true, 1.0);
        assert!(max_diff(&downsample2x(&up, &f, 1), &down) < 1e-6);
    }

    #[test]
    fn colour_matrices_keep_gray_gray_and_p_one_changes_every_image() {
        let _rng = rng_lock();
        tch::manual_seed(1);
        let x = images(8, 3, 8);
        let d = Draw {
            n: 8,
            device: Device::Cpu,
            shard: Shard::default(),
        };
        // A gray image (R = G = B) stays gray under brightness, contrast, luma flip, hue and
        // saturation: all act on or around the luma axis.
        let gray = x.narrow(1, 0, 1).repeat([1, 3, 1, 1]);
        let c = AdaPipeline::parse("c").expect("c").colour(&d, 1.0, 3);
        let out = execute_colour(&gray, &c);
        assert!(max_diff(&out.narrow(1, 0, 1), &out.narrow(1, 1, 1)) < 1e-5);
        let y = AdaPipeline::bgc().apply(&x, 1.0, Shard::default());
        for i in 0..8 {
            assert!(
                max_diff(&y.get(i), &x.get(i)) > 1e-3,
                "image {i} unchanged at p = 1"
            );
        }
        // Grayscale images: the mean of the RGB rows.
        let g = AdaPipeline::bgc().apply(&x.narrow(1, 0, 1), 0.5, Shard::default());
        assert_eq!(g.size(), [8, 1, 8, 8]);
        assert!(bool::try_from(g.isfinite().all()).expect("bool"));
    }

    #[test]
    fn shards_augment_their_rows_as_one_process_does() {
        let _rng = rng_lock();
        let x = images(8, 3, 12);
        tch::manual_seed(9);
        let whole = AdaPipeline::bgc().apply(&x, 0.7, Shard::default());
        let parts: Vec<Tensor> = (0..2)
            .map(|index| {
                tch::manual_seed(9);
                let rows = x.narrow(0, index as i64 * 4, 4);
                AdaPipeline::bgc().apply(&rows, 0.7, Shard { index, count: 2 })
            })
            .collect();
        // The same draws and padding; batches of another size may sum in another order.
        let diff = max_diff(&Tensor::cat(&parts, 0), &whole);
        assert!(diff < 1e-5, "{diff}");
    }

    /// p moves by sign(r_t − target) · images / (speed · 1000) every `interval` steps, from the
    /// signs of D's real logits, and is clamped to [0, 1]; the state survives a snapshot.
    #[test]
    fn p_follows_the_overfitting_heuristic_at_the_papers_speed() {
        let settings = AdaSettings {
            speed_kimg: 1.0,
            interval: 2,
            ..Default::default()
        };
        let mut ada = Ada::new(AdaPipeline::bgc(), settings);
        let ok = |t: &Tensor| Ok::<Tensor, ()>(t.shallow_clone());
        let overfit = Tensor::from_slice(&[2.0f32, 1.0, 3.0, -1.0]); // r_t = 0.5 per batch
        let memorised = Tensor::from_slice(&[2.0f32, 1.0, 3.0, 1.0]); // r_t = 1
        ada.observe_real(&memorised);
        assert_eq!(ada.end_step(100, ok), Ok(None), "every 2 steps");
        ada.observe_real(&memorised);
        assert_eq!(ada.end_step(100, ok), Ok(Some(1.0)));
        assert!(
            (ada.p - 0.2).abs() < 1e-12,
            "200 images of 1 kimg: {}",
            ada.p
        );
        let saved = ada.state();
        for _ in 0..2 {
            ada.observe_real(&overfit);
            ada.end_step(250, ok).expect("step");
        }
        assert!(
            ada.p.abs() < 1e-12,
            "r_t 0.5 < 0.6: p falls by 0.5, clamped at 0"
        );
        let mut resumed = Ada::new(AdaPipeline::bgc(), settings);
        let tensors = saved.into_iter().collect();
        assert!(resumed.load(&tensors, Device::Cpu));
        assert!((resumed.p - 0.2).abs() < 1e-12);
        assert!(settings.validate().is_ok());
        let bad = AdaSettings {
            target: 1.0,
            ..settings
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("ada.target"));
    }
}
