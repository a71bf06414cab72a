//! Scatter plots of 2-D samples against the data and its mode centres, as PNG: the picture of
//! every tick of a 2-D toy run. Drawn with plotters' raster backend (`plotters-bitmap`) into a
//! buffer, then encoded and written atomically; the chart and font layers of plotters, which
//! the report's plots use, stay out of the run library.

use crate::files::write_atomically;
use anyhow::{bail, Context, Result};
use image::RgbImage;
use plotters_backend::{BackendColor, DrawingBackend};
use plotters_bitmap::BitMapBackend;
use std::path::Path;
use tch::{Device, Kind, Tensor};

const SIDE: u32 = 480;
/// The plotted window is [−HALF_WIDTH, HALF_WIDTH]² (the toy mixtures lie within ±1.5).
const HALF_WIDTH: f64 = 2.0;

const WHITE: BackendColor = color(255, 255, 255);
const AXES: BackendColor = color(220, 220, 220);
const REAL: BackendColor = color(170, 170, 170);
const FAKE: BackendColor = color(30, 80, 220);
const CENTRE: BackendColor = color(220, 30, 30);

const fn color(r: u8, g: u8, b: u8) -> BackendColor {
    BackendColor {
        alpha: 1.0,
        rgb: (r, g, b),
    }
}

/// The pixel of a point (y up), if it lies in the window.
fn to_pixel((x, y): (f64, f64)) -> Option<(i32, i32)> {
    let side = SIDE as f64;
    let px = (x + HALF_WIDTH) / (2.0 * HALF_WIDTH) * side;
    let py = (HALF_WIDTH - y) / (2.0 * HALF_WIDTH) * side;
    ((0.0..side).contains(&px) && (0.0..side).contains(&py)).then_some((px as i32, py as i32))
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

/// Draws real points (grey), generated points (blue) and mode centres (red) in [−2, 2]² with
/// axes through the origin, and writes the PNG atomically.
pub fn save_scatter(real: &Tensor, fake: &Tensor, centers: &Tensor, path: &Path) -> Result<()> {
    let layers = [
        (points(real, "real points")?, 1, REAL),
        (points(fake, "generated points")?, 1, FAKE),
        (points(centers, "mode centres")?, 3, CENTRE),
    ];
    let mut buffer = vec![0u8; (SIDE * SIDE * 3) as usize];
    {
        let mut area = BitMapBackend::with_buffer(&mut buffer, (SIDE, SIDE));
        let (end, mid) = (SIDE as i32 - 1, SIDE as i32 / 2);
        let drawn = (|| {
            area.draw_rect((0, 0), (end, end), &WHITE, true)?;
            area.draw_line((0, mid), (end, mid), &AXES)?;
            area.draw_line((mid, 0), (mid, end), &AXES)?;
            for (layer, radius, color) in &layers {
                for pixel in layer.iter().copied().filter_map(to_pixel) {
                    area.draw_circle(pixel, *radius, color, true)?;
                }
            }
            area.present()
        })();
        drawn.map_err(|e| anyhow::anyhow!("scatter plot {}: {e}", path.display()))?;
    }
    let image = RgbImage::from_raw(SIDE, SIDE, buffer).context("scatter plot buffer")?;
    write_atomically(path, |tmp| {
        image
            .save_with_format(tmp, image::ImageFormat::Png)
            .with_context(|| format!("cannot write PNG {}", tmp.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_land_where_they_are_and_bad_shapes_are_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("scatter.png");
        let real = Tensor::from_slice(&[1.0f32, 1.0]).reshape([1, 2]);
        let fake = Tensor::from_slice(&[-1.0f32, -1.0]).reshape([1, 2]);
        let centre = Tensor::from_slice(&[0.0f32, 1.5]).reshape([1, 2]);
        save_scatter(&real, &fake, &centre, &path).expect("drawn");
        let img = image::open(&path).expect("a PNG").to_rgb8();
        let at = |x: f64, y: f64| {
            let (px, py) = to_pixel((x, y)).expect("in the window");
            img.get_pixel(px as u32, py as u32).0
        };
        assert_eq!(at(1.0, 1.0), [170, 170, 170]);
        assert_eq!(at(-1.0, -1.0), [30, 80, 220]);
        assert_eq!(at(0.0, 1.5), [220, 30, 30]);
        assert_eq!(at(1.9, -1.9), [255, 255, 255]);
        let err = save_scatter(
            &Tensor::zeros([3], (Kind::Float, Device::Cpu)),
            &fake,
            &centre,
            &path,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("real points must be [N, 2]"), "{err}");
    }
}
