//! `gan dataset create`: a dataset (a built-in name, `folder:PATH` or `zip:PATH`) written once as
//! a prepared multi-resolution archive (see `ganlab_data::archive`), with a progress bar.

use anyhow::{bail, Context, Result};
use ganlab_data::archive::{write_archive, ArchiveInfo};
use ganlab_data::{ImageSource, StreamedImages};
use tch::Kind;

/// What to write.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    /// A dataset name, `folder:PATH` or `zip:PATH`.
    pub from: String,
    /// The archive's resolution (its largest level).
    pub resolution: i64,
    /// 1 or 3; unset: what the images are (built-in datasets: their own).
    pub channels: Option<i64>,
    /// The archive file (`.safetensors`).
    pub out: std::path::PathBuf,
    /// Draw a progress bar on stderr.
    pub interactive: bool,
}

/// Writes the archive; returns what it holds.
pub fn create(request: &CreateRequest) -> Result<ArchiveInfo> {
    let out = &request.out;
    if !ganlab_data::is_archive_name(&out.to_string_lossy()) {
        bail!(
            "--out {}: an archive's name ends in .safetensors (so that --dataset recognises it)",
            out.display()
        );
    }
    if out.exists() {
        bail!(
            "--out {}: exists; remove it or choose another name (nothing was written)",
            out.display()
        );
    }
    let r = request.resolution;
    if !(4..=1024).contains(&r) || r.count_ones() != 1 {
        bail!("--resolution must be a power of two from 4 to 1024, got {r}");
    }
    if ganlab_data::is_archive_name(&request.from) {
        bail!("--from {}: already a prepared archive", request.from);
    }
    if ganlab_data::TOY_NAMES.contains(&request.from.as_str()) {
        bail!("--from {}: a 2-D toy dataset, not images", request.from);
    }
    let grayscale = matches!(request.from.as_str(), "mnist" | "fashion-mnist");
    if let Some(c) = request.channels.filter(|&c| grayscale && c != 1) {
        bail!(
            "--channels {c}: {} has grayscale images; leave --channels out (or 1)",
            request.from
        );
    }
    // The folder the archive goes in, made as `gan generate --out` makes its own.
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("--out {}: cannot create its folder", out.display()))?;
    }
    let context = || format!("--from {}", request.from);
    if ganlab_data::is_streamed_name(&request.from) {
        let source =
            StreamedImages::open(&request.from, r, request.channels).with_context(context)?;
        let info = ArchiveInfo {
            resolution: r,
            channels: source.channels().unwrap_or(3),
            images: source.len(),
            source: request.from.clone(),
            class_names: source.class_names().to_vec(),
        };
        let labels = source.labels();
        write(request, &info, |i| {
            Ok((source.image_chw(i)?, labels[i as usize]))
        })?;
        return Ok(info);
    }
    let mut dataset_request = ganlab_data::DatasetRequest::new(&request.from, r);
    dataset_request.channels = request.channels.unwrap_or(3);
    let data = ganlab_data::load(&dataset_request).with_context(context)?;
    let pixels = ((&data.images + 1.0) * 127.5)
        .round()
        .clamp(0.0, 255.0)
        .to_kind(Kind::Uint8)
        .contiguous();
    let labels = Vec::<i64>::try_from(&data.labels)?;
    let info = ArchiveInfo {
        resolution: r,
        channels: data.channels(),
        images: data.len(),
        source: data.source.clone(),
        class_names: data.class_names.clone(),
    };
    let size = (info.channels * r * r) as usize;
    let flat = Vec::<u8>::try_from(pixels.flatten(0, -1))?;
    write(request, &info, |i| {
        let at = i as usize * size;
        Ok((flat[at..at + size].to_vec(), labels[i as usize]))
    })?;
    Ok(info)
}

fn write(
    request: &CreateRequest,
    info: &ArchiveInfo,
    image: impl Fn(i64) -> Result<(Vec<u8>, i64), ganlab_data::Error> + Sync,
) -> Result<()> {
    let bar = crate::logging::bar(info.images as u64, "writing the archive");
    if !request.interactive {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let result = write_archive(&request.out, info, image, |n| bar.inc(n));
    bar.finish_and_clear();
    result.with_context(|| format!("writing {}", request.out.display()))
}
