//! Sample grids: a batch of images in [-1, 1] tiled into one PNG.

use crate::files::write_atomically;
use anyhow::{bail, Context, Result};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// The number of columns of a near-square grid of `n` images: ⌈√n⌉.
pub fn square_columns(n: i64) -> i64 {
    (1..=n.max(1)).find(|c| c * c >= n).unwrap_or(1)
}

/// The side, in pixels, that the training grids stay within: at high resolutions a grid shows
/// fewer images rather than growing past it (64 images of 1024x1024 made an 8192x8192 PNG of
/// about 100 MB per tick; StyleGAN2-ADA caps its grids at 7680x4320 the same way).
pub const GRID_MAX_SIDE: i64 = 4096;

/// How many of `n` images of `side` x `side` a training grid shows: all of them, up to a square
/// grid within [`GRID_MAX_SIDE`] (64 up to 512 px, 16 at 1024).
pub fn shown_images(n: i64, side: i64) -> i64 {
    let per_side = (GRID_MAX_SIDE / side.max(1)).max(1);
    n.min(per_side * per_side)
}

/// Tiles `images` [N, C, H, W] (C = 1 or 3, values in [-1, 1]) into a grid of `columns` columns
/// with a 2-pixel border and writes it as a PNG, atomically.
pub fn save_grid(images: &Tensor, columns: i64, path: &Path) -> Result<()> {
    save_tiled(images, columns, 2, None, path)
}

/// [`save_grid`] with each image shown at `side` x `side`: smaller ones (a progressive run's
/// early stages) are enlarged by nearest neighbour after the conversion to bytes, which gives
/// the same pixels as enlarging the floats first, at a fraction of the memory.
pub fn save_grid_at(images: &Tensor, columns: i64, side: i64, path: &Path) -> Result<()> {
    save_tiled(images, columns, 2, Some(side), path)
}

/// One image [C, H, W] (values in [-1, 1]) as a PNG of exactly its size, written atomically.
pub fn save_image(image: &Tensor, path: &Path) -> Result<()> {
    save_tiled(&image.unsqueeze(0), 1, 0, None, path)
}

/// Images in [-1, 1] as 0…255 bytes (uint8, on the CPU): round((x + 1)·127.5) clamped to
/// 0…255, in one float buffer.
pub fn to_bytes(images: &Tensor) -> Tensor {
    let mut x = images.detach().to_device(Device::Cpu).to_kind(Kind::Float) + 1.0;
    let _ = x.g_mul_scalar_(127.5);
    let _ = x.round_();
    let _ = x.clamp_(0.0, 255.0);
    x.to_kind(Kind::Uint8)
}

fn save_tiled(
    images: &Tensor,
    columns: i64,
    pad: i64,
    side: Option<i64>,
    path: &Path,
) -> Result<()> {
    let size = images.size();
    if size.len() != 4 || !(size[1] == 1 || size[1] == 3) {
        bail!("save_grid: expected images [N, 1|3, H, W], got shape {size:?}");
    }
    let mut pixels = to_bytes(images);
    if let Some(side) = side.filter(|&s| s > size[2] || s > size[3]) {
        pixels = pixels.upsample_nearest2d([side, side], None, None);
    }
    let size = pixels.size();
    let (n, c, h, w) = (size[0], size[1], size[2], size[3]);
    let columns = columns.clamp(1, n.max(1));
    let rows = (n + columns - 1) / columns;
    let grid_h = rows * (h + pad) + pad;
    let grid_w = columns * (w + pad) + pad;
    let canvas = Tensor::zeros([c, grid_h, grid_w], (Kind::Uint8, Device::Cpu));
    for i in 0..n {
        let (row, col) = (i / columns, i % columns);
        let y = pad + row * (h + pad);
        let x = pad + col * (w + pad);
        canvas.narrow(1, y, h).narrow(2, x, w).copy_(&pixels.get(i));
    }
    let hwc = canvas.permute([1, 2, 0]).contiguous();
    let bytes = Vec::<u8>::try_from(hwc.view([-1])).context("grid pixels to bytes")?;
    let (width, height) = (grid_w as u32, grid_h as u32);
    write_atomically(path, |tmp| {
        let color = if c == 1 {
            image::ExtendedColorType::L8
        } else {
            image::ExtendedColorType::Rgb8
        };
        image::save_buffer_with_format(tmp, &bytes, width, height, color, image::ImageFormat::Png)
            .with_context(|| format!("cannot write PNG {}", tmp.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_stay_within_4096_pixels_a_side() {
        assert_eq!(shown_images(64, 32), 64);
        assert_eq!(shown_images(64, 512), 64);
        assert_eq!(shown_images(64, 1024), 16);
        assert_eq!(shown_images(9, 1024), 9);
        assert_eq!(shown_images(64, 8192), 1);
    }

    /// Enlarging after the conversion to bytes writes the same PNG as enlarging the floats.
    #[test]
    fn a_grid_enlarged_in_bytes_is_the_grid_enlarged_in_floats() {
        // Values in [-1, 1] without libtorch's generator (the library's other tests seed it
        // and draw from it on parallel threads).
        let small = (Tensor::arange(5 * 3 * 4 * 4, (Kind::Float, Device::Cpu)) * 0.7)
            .sin()
            .view([5, 3, 4, 4]);
        let dir = tempfile::tempdir().expect("tmp");
        let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
        save_grid_at(&small, 3, 16, &a).expect("bytes");
        save_grid(&small.upsample_nearest2d([16, 16], None, None), 3, &b).expect("floats");
        let (a, b) = (std::fs::read(a).expect("a"), std::fs::read(b).expect("b"));
        assert_eq!(a, b);
        let image = image::load_from_memory(&a).expect("png");
        assert_eq!((image.width(), image.height()), (3 * 18 + 2, 2 * 18 + 2));
    }
}
