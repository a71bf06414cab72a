//! DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
//! Training"): the same random, differentiable transforms applied to every image D sees, real or
//! fake, in D's and in G's updates, so that D cannot memorise a small training set and G still
//! gets gradients through the transform. The formulas and the order of the random draws are the
//! authors' `DiffAugment_pytorch.py` (mit-han-lab/data-efficient-gans):
//!
//! - `color`: brightness x + (u − 0.5), saturation (x − mean_c)·2u + mean_c, contrast
//!   (x − mean_chw)·(u + 0.5) + mean_chw, each u ~ U[0, 1) per image;
//! - `translation`: a shift of up to ⌊H/8 + 0.5⌋ pixels (integer, per image and axis), the
//!   uncovered border filled with zeros;
//! - `cutout`: a square of half the image size (rounded) set to zero at a random centre.
//!
//! Every draw is made for the global batch and sliced to this process's rows ([`Shard`]), from
//! libtorch's generator, so N data-parallel ranks draw what one process draws and a resumed run
//! (which reseeds that generator at the snapshot) continues the same draws.

use crate::Error;
use ganlab_games::Shard;
use tch::{Device, Kind, Tensor};

/// Translation's range relative to the image size (`rand_translation(ratio=0.125)`).
pub const TRANSLATION_RATIO: f64 = 0.125;
/// Cutout's square relative to the image size (`rand_cutout(ratio=0.5)`).
pub const CUTOUT_RATIO: f64 = 0.5;

/// One of DiffAugment's policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffOp {
    Color,
    Translation,
    Cutout,
}

impl DiffOp {
    /// Every op, in the paper's order.
    pub const ALL: [DiffOp; 3] = [DiffOp::Color, DiffOp::Translation, DiffOp::Cutout];

    /// The name a policy gives it.
    pub fn name(self) -> &'static str {
        match self {
            DiffOp::Color => "color",
            DiffOp::Translation => "translation",
            DiffOp::Cutout => "cutout",
        }
    }
}

/// A DiffAugment policy: ops applied in the order given (`color,translation,cutout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffAugment {
    pub ops: Vec<DiffOp>,
}

impl DiffAugment {
    /// The paper's policy for little data: color, translation, cutout.
    pub fn all() -> DiffAugment {
        DiffAugment {
            ops: DiffOp::ALL.to_vec(),
        }
    }

    /// Parses `color,translation,cutout` (any non-empty subset, in any order).
    pub fn parse(policy: &str) -> Result<DiffAugment, Error> {
        let mut ops = Vec::new();
        for name in policy.split(',').map(str::trim) {
            let op = DiffOp::ALL
                .into_iter()
                .find(|op| op.name() == name)
                .ok_or_else(|| Error::UnknownOp {
                    what: "DiffAugment policy",
                    name: name.to_string(),
                    valid: DiffOp::ALL.map(DiffOp::name).join(", "),
                })?;
            if ops.contains(&op) {
                return Err(Error::Repeated(name.to_string()));
            }
            ops.push(op);
        }
        Ok(DiffAugment { ops })
    }

    /// The policy as `parse` reads it.
    pub fn policy(&self) -> String {
        self.ops
            .iter()
            .map(|op| op.name())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `x` `[N, C, H, W]` augmented, differentiably, with fresh draws for this call.
    pub fn apply(&self, x: &Tensor, shard: Shard) -> Tensor {
        let mut x = x.shallow_clone();
        for op in &self.ops {
            x = match op {
                DiffOp::Color => color(&x, shard),
                DiffOp::Translation => translation(&x, TRANSLATION_RATIO, shard),
                DiffOp::Cutout => cutout(&x, CUTOUT_RATIO, shard),
            };
        }
        x
    }
}

fn dims(x: &Tensor) -> (i64, i64, i64, i64) {
    let s = x.size();
    (s[0], s[1], s[2], s[3])
}

/// U[0, 1) per image, `[N, 1, 1, 1]`, float32 (the reference draws in the images' type, which
/// is float32 there).
fn uniform(n: i64, device: Device, shard: Shard) -> Tensor {
    shard.draw(&[n, 1, 1, 1], |s| Tensor::rand(s, (Kind::Float, device)))
}

/// Integers in [low, high) per image, `[N, 1, 1]`.
fn integers(n: i64, low: i64, high: i64, device: Device, shard: Shard) -> Tensor {
    shard.draw(&[n, 1, 1], |s| {
        Tensor::randint_low(low, high, s, (Kind::Int64, device))
    })
}

/// `rand_brightness`, `rand_saturation`, `rand_contrast`, drawn in that order.
pub fn color(x: &Tensor, shard: Shard) -> Tensor {
    let (n, device) = (x.size()[0], x.device());
    let x = x + (uniform(n, device, shard) - 0.5);
    let mean = x.mean_dim(1, true, None::<Kind>);
    let x = (&x - &mean) * (uniform(n, device, shard) * 2.0) + &mean;
    let mean = x.mean_dim(&[1i64, 2, 3][..], true, None::<Kind>);
    (&x - &mean) * (uniform(n, device, shard) + 0.5) + &mean
}

/// `int(size * ratio + 0.5)`, the reference's rounding of a share of the image size.
fn scaled(size: i64, ratio: f64) -> i64 {
    (size as f64 * ratio + 0.5) as i64
}

/// `rand_translation`: image i shifted by (tx, ty) ∈ [−s, s]², s = ⌊size·ratio + 0.5⌋, zeros
/// where nothing is shifted in (a gather from the zero-padded image).
pub fn translation(x: &Tensor, ratio: f64, shard: Shard) -> Tensor {
    let (n, c, h, w) = dims(x);
    let device = x.device();
    let (sx, sy) = (scaled(h, ratio), scaled(w, ratio));
    let tx = integers(n, -sx, sx + 1, device, shard).view([n, 1]);
    let ty = integers(n, -sy, sy + 1, device, shard).view([n, 1]);
    let rows = (Tensor::arange(h, (Kind::Int64, device)).view([1, h]) + tx + 1).clamp(0, h + 1);
    let cols = (Tensor::arange(w, (Kind::Int64, device)).view([1, w]) + ty + 1).clamp(0, w + 1);
    let padded = x.constant_pad_nd([1, 1, 1, 1]);
    let rows = rows.view([n, 1, h, 1]).expand([n, c, h, w + 2], false);
    let picked = padded.gather(2, &rows, false);
    picked.gather(
        3,
        &cols.view([n, 1, 1, w]).expand([n, c, h, w], false),
        false,
    )
}

/// `rand_cutout`: a ⌊H·ratio + 0.5⌋ x ⌊W·ratio + 0.5⌋ rectangle, centred at a random pixel
/// (clipped by the border), set to zero.
pub fn cutout(x: &Tensor, ratio: f64, shard: Shard) -> Tensor {
    let (n, _, h, w) = dims(x);
    let device = x.device();
    let (ch, cw) = (scaled(h, ratio), scaled(w, ratio));
    let ox = integers(n, 0, h + (1 - ch % 2), device, shard).view([n, 1]);
    let oy = integers(n, 0, w + (1 - cw % 2), device, shard).view([n, 1]);
    // The reference clamps each covered index into the image; the covered rows are then
    // exactly those in [ox − ch/2, ox − ch/2 + ch − 1], and likewise the columns.
    let inside = |size: i64, offset: Tensor, extent: i64| {
        let first = offset - extent / 2;
        let last = &first + (extent - 1);
        let index = Tensor::arange(size, (Kind::Int64, device)).view([1, size]);
        index.ge_tensor(&first).logical_and(&index.le_tensor(&last))
    };
    let rows = inside(h, ox, ch).view([n, h, 1]);
    let cols = inside(w, oy, cw).view([n, 1, w]);
    let mask = rows.logical_and(&cols).logical_not().to_kind(x.kind());
    x * mask.unsqueeze(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_bad_ones_are_named() {
        assert_eq!(
            DiffAugment::parse("color,translation,cutout").expect("policy"),
            DiffAugment::all()
        );
        assert_eq!(
            DiffAugment::parse("cutout").expect("policy").policy(),
            "cutout"
        );
        let err = DiffAugment::parse("color,flip").unwrap_err().to_string();
        assert!(
            err.contains("`flip`") && err.contains("color, translation, cutout"),
            "{err}"
        );
        assert!(DiffAugment::parse("color,color").is_err());
        assert!(DiffAugment::parse("").is_err());
    }

    #[test]
    fn translation_shifts_whole_images_and_cutout_zeroes_a_square() {
        let _rng = crate::ada::tests::rng_lock();
        tch::manual_seed(3);
        let x = Tensor::rand([6, 2, 16, 16], (Kind::Float, Device::Cpu)) + 1.0;
        let y = translation(&x, TRANSLATION_RATIO, Shard::default());
        // Every output pixel is an input pixel of the same image and channel, or zero.
        for i in 0..6 {
            let (xi, yi) = (x.get(i), y.get(i));
            let zeros = yi.eq(0.0).sum(Kind::Int64).int64_value(&[]);
            let kept = yi.ne(0.0).sum(Kind::Int64).int64_value(&[]);
            assert_eq!(zeros + kept, 2 * 256);
            assert!(
                kept >= 2 * 12 * 12,
                "at most 2 rows and 2 columns of 16 shifted out"
            );
            let sum_in = xi.sum(Kind::Double).double_value(&[]);
            let sum_out = yi.sum(Kind::Double).double_value(&[]);
            assert!(sum_out <= sum_in + 1e-3);
        }
        let y = cutout(&x, CUTOUT_RATIO, Shard::default());
        for i in 0..6 {
            let zeros = y
                .get(i)
                .select(0, 0)
                .eq(0.0)
                .sum(Kind::Int64)
                .int64_value(&[]);
            assert!(
                (16..=64).contains(&zeros),
                "an 8x8 square, clipped: {zeros}"
            );
        }
    }
}
