//! Scatter plots of 2-D samples against the data and its mode centres, as PNG.

use crate::files::write_atomically;
use anyhow::{bail, Context, Result};
use image::{Rgb, RgbImage};
use std::path::Path;
use tch::{Device, Kind, Tensor};

const SIDE: u32 = 480;
/// The plotted window is [−HALF_WIDTH, HALF_WIDTH]² (the toy mixtures lie within ±1.5).
const HALF_WIDTH: f64 = 2.0;

fn to_pixel(v: f64) -> Option<u32> {
    let p = (v + HALF_WIDTH) / (2.0 * HALF_WIDTH) * SIDE as f64;
    (0.0..SIDE as f64).contains(&p).then_some(p as u32)
}

fn points(t: &Tensor, what: &str) -> Result<Vec<(f64, f64)>> {
    let size = t.size();
    if size.len() != 2 || size[1] != 2 {
        bail!("scatter: {what} must be [N, 2], got {size:?}");
    }
    let flat = Vec::<f64>::try_from(
        t.detach()
            .to_device(Device::Cpu)
            .to_kind(Kind::Double)
            .reshape([-1]),
    )
    .context("scatter points")?;
    Ok(flat.chunks(2).map(|c| (c[0], c[1])).collect())
}

fn dot(img: &mut RgbImage, (x, y): (f64, f64), radius: i64, color: Rgb<u8>) {
    let (Some(px), Some(py)) = (to_pixel(x), to_pixel(-y)) else {
        return;
    };
    for dy in -radius..=radius {
        for dx in -radius..=radius {
            let (qx, qy) = (px as i64 + dx, py as i64 + dy);
            if (0..SIDE as i64).contains(&qx) && (0..SIDE as i64).contains(&qy) {
                img.put_pixel(qx as u32, qy as u32, color);
            }
        }
    }
}

/// Draws real points (grey), generated points (blue) and mode centres (red) in [−2, 2]² with
/// axes through the origin, and writes the PNG atomically.
pub fn save_scatter(real: &Tensor, fake: &Tensor, centers: &Tensor, path: &Path) -> Result<()> {
    let mut img = RgbImage::from_pixel(SIDE, SIDE, Rgb([255, 255, 255]));
    let mid = SIDE / 2;
    for i in 0..SIDE {
        img.put_pixel(i, mid, Rgb([220, 220, 220]));
        img.put_pixel(mid, i, Rgb([220, 220, 220]));
    }
    for p in points(real, "real points")? {
        dot(&mut img, p, 1, Rgb([170, 170, 170]));
    }
    for p in points(fake, "generated points")? {
        dot(&mut img, p, 1, Rgb([30, 80, 220]));
    }
    for p in points(centers, "mode centres")? {
        dot(&mut img, p, 3, Rgb([220, 30, 30]));
    }
    write_atomically(path, |tmp| {
        img.save_with_format(tmp, image::ImageFormat::Png)
            .with_context(|| format!("cannot write PNG {}", tmp.display()))
    })
}
