//! `folder:PATH`: every image under PATH (recursively, in sorted order; the formats of
//! [`IMAGE_EXTENSIONS`]), decoded with the `image` crate, centre-cropped to a square, resized to the run's resolution with a Lanczos-3
//! filter (as StyleGAN's `dataset_tool.py`), as grayscale or RGB. When every image lies in a
//! sub-folder, the sub-folder names are the classes.

use crate::{Error, ImageDataset};
use image::imageops::FilterType;
use image::DynamicImage;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// The file extensions (compared without case) that folders and zips read as images: the
/// formats clean-fid reads from a folder (PNG, JPEG, BMP, WebP, TIFF and the PNM family; not
/// its `.npy`), all decoded by the `image` crate. Other files are left out, counted in the log.
pub const IMAGE_EXTENSIONS: [&str; 10] = [
    "png", "jpg", "jpeg", "bmp", "webp", "tif", "tiff", "pgm", "ppm", "pbm",
];

/// The image formats, as messages name them.
pub const IMAGE_FORMATS: &str = "PNG, JPEG, BMP, WebP, TIFF or PNM";

/// Whether a file name has one of the [`IMAGE_EXTENSIONS`].
pub fn is_image_name(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(_, ext)| {
        IMAGE_EXTENSIONS
            .iter()
            .any(|known| ext.eq_ignore_ascii_case(known))
    })
}

fn is_image_path(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| is_image_name(&name.to_string_lossy()))
}

/// The image files under `root`, sorted.
pub fn image_files(root: &Path) -> Result<Vec<PathBuf>, Error> {
    if !root.is_dir() {
        return Err(Error::Missing {
            path: root.to_path_buf(),
            hint: format!("expected a folder of {IMAGE_FORMATS} images"),
        });
    }
    let mut files = Vec::new();
    let mut others: Vec<PathBuf> = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.map_err(|e| Error::Io {
            path: e
                .path()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| root.to_path_buf()),
            source: e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("walk error")),
        })?;
        if entry.file_type().is_file() {
            match is_image_path(entry.path()) {
                true => files.push(entry.into_path()),
                false => others.push(entry.into_path()),
            }
        }
    }
    if files.is_empty() {
        return Err(Error::Corrupt {
            path: root.to_path_buf(),
            what: format!("no {IMAGE_FORMATS} image under this folder"),
        });
    }
    log_left_out(&root.display().to_string(), &others);
    Ok(files)
}

/// Logs the files of a folder or zip that are not images (by extension), so that a format the
/// reader does not know is seen, not silently dropped.
pub(crate) fn log_left_out(source: &str, others: &[PathBuf]) {
    if let Some(first) = others.first() {
        tracing::info!(
            "{source}: {} file(s) that are not {IMAGE_FORMATS} images left out, e.g. {}",
            others.len(),
            first.display()
        );
    }
}

/// Decodes one image file and brings it to `resolution` x `resolution` with `channels` (1 or 3),
/// as bytes in HWC order.
pub fn decode_square(
    bytes: &[u8],
    path: &Path,
    resolution: u32,
    channels: i64,
) -> Result<Vec<u8>, Error> {
    let img = image::load_from_memory(bytes).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        what: format!("cannot decode the image: {e}"),
    })?;
    let (w, h) = (img.width(), img.height());
    if w == 0 || h == 0 {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            what: "image has no pixels".into(),
        });
    }
    let side = w.min(h);
    let square = img.crop_imm((w - side) / 2, (h - side) / 2, side, side);
    let resized = if side == resolution {
        square
    } else {
        square.resize_exact(resolution, resolution, FilterType::Lanczos3)
    };
    Ok(match channels {
        1 => DynamicImage::ImageLuma8(resized.to_luma8()).into_bytes(),
        _ => DynamicImage::ImageRgb8(resized.to_rgb8()).into_bytes(),
    })
}

/// The label of each of `files` (under `root`) and the class names: when every file lies in a
/// sub-folder, the sub-folder names in order of first appearance; else one class, `all`.
pub fn folder_classes(root: &Path, files: &[PathBuf]) -> (Vec<i64>, Vec<String>) {
    let class_of = |path: &Path| -> Option<String> {
        let rel = path.strip_prefix(root).ok()?;
        let mut parts = rel.components();
        let first = parts.next()?;
        parts
            .next()
            .map(|_| first.as_os_str().to_string_lossy().into_owned())
    };
    let names: Option<Vec<String>> = files.iter().map(|f| class_of(f)).collect();
    let Some(names) = names else {
        return (vec![0; files.len()], vec!["all".into()]);
    };
    let mut classes: Vec<String> = Vec::new();
    let labels = names
        .into_iter()
        .map(|name| match classes.iter().position(|c| *c == name) {
            Some(k) => k as i64,
            None => {
                classes.push(name);
                classes.len() as i64 - 1
            }
        })
        .collect();
    (labels, classes)
}

/// Loads `folder:PATH` at `resolution` with `channels` (1 = grayscale, 3 = RGB).
pub fn load_folder(root: &Path, resolution: i64, channels: i64) -> Result<ImageDataset, Error> {
    if channels != 1 && channels != 3 {
        return Err(Error::InvalidRequest(format!(
            "folder:{}: channels must be 1 or 3, got {channels}",
            root.display()
        )));
    }
    let files = image_files(root)?;
    let (labels, class_names) = folder_classes(root, &files);
    let side = resolution as usize;
    let mut pixels = Vec::with_capacity(files.len() * side * side * channels as usize);
    for f in &files {
        let bytes = std::fs::read(f).map_err(|source| Error::Io {
            path: f.clone(),
            source,
        })?;
        pixels.extend(decode_square(&bytes, f, resolution as u32, channels)?);
    }
    let n = files.len() as i64;
    let images = Tensor::from_slice(&pixels)
        .view([n, resolution, resolution, channels])
        .permute([0, 3, 1, 2])
        .contiguous()
        .to_kind(Kind::Float)
        / 127.5
        - 1.0;
    tracing::info!(images = n, folder = %root.display(), "loaded image folder");
    Ok(ImageDataset {
        name: format!("folder:{}", root.display()),
        source: format!("folder:{} ({n} images)", root.display()),
        images,
        labels: Tensor::from_slice(&labels),
        class_names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn write_png(path: &Path, w: u32, h: u32, value: u8) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        image::RgbImage::from_pixel(w, h, image::Rgb([value, value / 2, 255 - value]))
            .save(path)
            .expect("png");
    }

    #[test]
    fn a_folder_of_classes_loads_cropped_resized_and_labelled() {
        let dir = tempfile::tempdir().expect("tmp");
        write_png(&dir.path().join("cats/a.png"), 40, 20, 200);
        write_png(&dir.path().join("cats/b.PNG"), 16, 16, 10);
        write_png(&dir.path().join("dogs/c.png"), 8, 30, 90);
        std::fs::write(dir.path().join("dogs/notes.txt"), "not an image").expect("txt");
        let data = load_folder(dir.path(), 16, 3).expect("folder");
        assert_eq!(data.images.size(), [3, 3, 16, 16]);
        assert_eq!(
            Vec::<i64>::try_from(&data.labels).expect("labels"),
            vec![0, 0, 1]
        );
        assert_eq!(
            data.class_names,
            vec!["cats".to_string(), "dogs".to_string()]
        );
        // A uniform image stays uniform: red channel 200 → 200/127.5 − 1.
        let red = data
            .images
            .get(0)
            .get(0)
            .mean(None::<Kind>)
            .double_value(&[]);
        assert!((red - (200.0 / 127.5 - 1.0)).abs() < 1e-3, "{red}");
        let gray = load_folder(dir.path(), 8, 1).expect("gray");
        assert_eq!(gray.images.size(), [3, 1, 8, 8]);
    }

    #[test]
    fn empty_folders_corrupt_images_and_fake_extensions_are_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let err = load_folder(dir.path(), 8, 3).unwrap_err().to_string();
        assert!(
            err.contains("no PNG, JPEG, BMP, WebP, TIFF or PNM image under this folder"),
            "{err}"
        );
        std::fs::write(dir.path().join("fake.jpg"), "plain text with a jpg name").expect("write");
        let err = load_folder(dir.path(), 8, 3).unwrap_err().to_string();
        assert!(
            err.contains("fake.jpg") && err.contains("cannot decode"),
            "{err}"
        );
        std::fs::remove_file(dir.path().join("fake.jpg")).expect("rm");
        write_png(&dir.path().join("ok.png"), 8, 8, 1);
        let bytes = std::fs::read(dir.path().join("ok.png")).expect("read");
        std::fs::write(dir.path().join("cut.png"), &bytes[..bytes.len() / 2]).expect("write");
        let err = load_folder(dir.path(), 8, 3).unwrap_err().to_string();
        assert!(
            err.contains("cut.png") && err.contains("cannot decode"),
            "{err}"
        );
        let err = load_folder(&dir.path().join("nope"), 8, 3)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("nope") && err.contains("file not found"),
            "{err}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]
        // The folder reader's decoder never panics on arbitrary bytes (with or without a PNG
        // signature in front).
        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..1024), png in any::<bool>()) {
            let mut data = if png { b"\x89PNG\r\n\x1a\n".to_vec() } else { Vec::new() };
            data.extend(bytes);
            let _ = decode_square(&data, Path::new("fuzz.png"), 8, 3);
        }
    }
}
