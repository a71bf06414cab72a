//! Sample grids: a batch of images in [-1, 1] tiled into one PNG.

use crate::files::write_atomically;
use anyhow::{bail, Context, Result};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// The number of columns of a near-square grid of `n` images: ⌈√n⌉.
pub fn square_columns(n: i64) -> i64 {
    (1..=n.max(1)).find(|c| c * c >= n).unwrap_or(1)
}

/// Tiles `images` [N, C, H, W] (C = 1 or 3, values in [-1, 1]) into a grid of `columns` columns
/// with a 2-pixel border and writes it as a PNG, atomically.
pub fn save_grid(images: &Tensor, columns: i64, path: &Path) -> Result<()> {
    save_tiled(images, columns, 2, path)
}

/// One image [C, H, W] (values in [-1, 1]) as a PNG of exactly its size, written atomically.
pub fn save_image(image: &Tensor, path: &Path) -> Result<()> {
    save_tiled(&image.unsqueeze(0), 1, 0, path)
}

/// Images in [-1, 1] as 0…255 bytes (uint8, on the CPU).
pub fn to_bytes(images: &Tensor) -> Tensor {
    ((images.detach().to_device(Device::Cpu).to_kind(Kind::Float) + 1.0) * 127.5)
        .round()
        .clamp(0.0, 255.0)
        .to_kind(Kind::Uint8)
}

fn save_tiled(images: &Tensor, columns: i64, pad: i64, path: &Path) -> Result<()> {
    let size = images.size();
    if size.len() != 4 || !(size[1] == 1 || size[1] == 3) {
        bail!("save_grid: expected images [N, 1|3, H, W], got shape {size:?}");
    }
    let (n, c, h, w) = (size[0], size[1], size[2], size[3]);
    let columns = columns.clamp(1, n.max(1));
    let rows = (n + columns - 1) / columns;
    let grid_h = rows * (h + pad) + pad;
    let grid_w = columns * (w + pad) + pad;
    let pixels = to_bytes(images);
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
