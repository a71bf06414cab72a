//! TensorBoard event files: `tb/events.out.tfevents.<unix µs>.<host>.<pid>` in the run
//! directory, written at every tick: each number of the tick's `stats.jsonl` line as a scalar
//! (its key as the tag, `eval/<metric>` and `eval_best/value` for the nested ones) and the tick's
//! sample grid as an image (`samples`; a grid larger than [`MAX_IMAGE_SIDE`] reduced to fit).
//!
//! The step is the number of images shown (kimg x 1000): TensorBoard's steps are integers, and
//! StyleGAN2-ADA's `int(kimg)` would put every tick of a short run on one step. A resumed run opens
//! a new file that starts with a `SessionLog START` event at the step after its snapshot's, which
//! TensorBoard's reader takes as a restart: it drops the killed run's events from that step on,
//! so the stream continues without duplicate steps.
//!
//! The records are TFRecord frames (length, masked CRC-32C of the length, data, masked CRC-32C of
//! the data; the checksum from the `crc` crate) around `Event` protobuf messages encoded with
//! `prost` from the fields of TensorFlow's `event.proto` and `summary.proto` declared below.

use anyhow::{Context, Result};
use prost::Message;
use serde_json::Value as Json;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `tensorflow/core/util/event.proto`: the fields written here.
#[derive(Clone, PartialEq, prost::Message)]
struct Event {
    #[prost(double, tag = "1")]
    wall_time: f64,
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(oneof = "What", tags = "3, 5, 7")]
    what: Option<What>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum What {
    #[prost(string, tag = "3")]
    FileVersion(String),
    #[prost(message, tag = "5")]
    Summary(Summary),
    #[prost(message, tag = "7")]
    SessionLog(SessionLog),
}

/// `tensorflow/core/framework/summary.proto`.
#[derive(Clone, PartialEq, prost::Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<SummaryValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SummaryValue {
    #[prost(string, tag = "1")]
    tag: String,
    #[prost(oneof = "SummaryKind", tags = "2, 4")]
    kind: Option<SummaryKind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum SummaryKind {
    #[prost(float, tag = "2")]
    SimpleValue(f32),
    #[prost(message, tag = "4")]
    Image(SummaryImage),
}

#[derive(Clone, PartialEq, prost::Message)]
struct SummaryImage {
    #[prost(int32, tag = "1")]
    height: i32,
    #[prost(int32, tag = "2")]
    width: i32,
    /// 1 grayscale, 3 RGB, 4 RGBA.
    #[prost(int32, tag = "3")]
    colorspace: i32,
    #[prost(bytes = "vec", tag = "4")]
    encoded_image_string: Vec<u8>,
}

/// `SessionLog` (event.proto); status 1 is `START`.
#[derive(Clone, PartialEq, prost::Message)]
struct SessionLog {
    #[prost(int32, tag = "1")]
    status: i32,
}

const SESSION_START: i32 = 1;

/// CRC-32C (Castagnoli), the TFRecord checksum.
const CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// TFRecord's masked CRC: rotate right by 15, add 0xa282ead8.
fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = CASTAGNOLI.checksum(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One event file being written.
pub struct EventWriter {
    file: File,
    path: PathBuf,
}

impl EventWriter {
    /// A new event file in `<run_dir>/tb/`; `resumed_after`: the step of the snapshot a resumed
    /// run continues from (its later events in earlier files are dropped by the reader).
    pub fn create(run_dir: &Path, resumed_after: Option<i64>) -> Result<EventWriter> {
        let dir = run_dir.join("tb");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        // Microseconds: TensorBoard reads a folder's files in name order, so a resumed run's
        // file must sort after the one it continues, even within the same second.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0);
        let host: String = crate::run_dir::host_name()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!(
            "events.out.tfevents.{now:016}.{host}.{}",
            std::process::id()
        ));
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut writer = EventWriter { file, path };
        writer.write(0, What::FileVersion("brain.Event:2".into()))?;
        if let Some(step) = resumed_after {
            writer.write(
                step + 1,
                What::SessionLog(SessionLog {
                    status: SESSION_START,
                }),
            )?;
        }
        Ok(writer)
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&mut self, step: i64, what: What) -> Result<()> {
        let wall_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let data = Event {
            wall_time,
            step,
            what: Some(what),
        }
        .encode_to_vec();
        let length = (data.len() as u64).to_le_bytes();
        let mut record = Vec::with_capacity(data.len() + 16);
        record.extend_from_slice(&length);
        record.extend_from_slice(&masked_crc(&length).to_le_bytes());
        record.extend_from_slice(&data);
        record.extend_from_slice(&masked_crc(&data).to_le_bytes());
        // One write per record, flushed: a reader (or a kill) sees whole records only, the last
        // one at worst cut short, which TensorBoard's reader skips.
        self.file
            .write_all(&record)
            .and_then(|()| self.file.flush())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// The numbers of a tick's `stats.jsonl` line as scalars, at `step`.
    pub fn tick_scalars(&mut self, step: i64, stats: &Json) -> Result<()> {
        let value = scalars_of(stats)
            .into_iter()
            .map(|(tag, v)| SummaryValue {
                tag,
                kind: Some(SummaryKind::SimpleValue(v as f32)),
            })
            .collect();
        self.write(step, What::Summary(Summary { value }))
    }

    /// A PNG file as the image `tag` at `step`, reduced to fit [`MAX_IMAGE_SIDE`].
    pub fn png(&mut self, step: i64, tag: &str, png: &Path) -> Result<()> {
        let bytes = std::fs::read(png).with_context(|| format!("cannot read {}", png.display()))?;
        let image = summary_image(bytes)
            .with_context(|| format!("{}: not a readable PNG", png.display()))?;
        let value = vec![SummaryValue {
            tag: tag.to_string(),
            kind: Some(SummaryKind::Image(image)),
        }];
        self.write(step, What::Summary(Summary { value }))
    }
}

/// The longest side of an image in the event files. A sample grid is up to 4096x4096 pixels
/// (16 images at 1024x1024), 10-30 MB as a PNG, at every tick; TensorBoard shows it in a panel a
/// few hundred pixels wide, so a larger grid goes in reduced (the run directory keeps it whole),
/// which keeps `tb/` a fraction of the grids' size.
pub const MAX_IMAGE_SIDE: u32 = 1024;

/// A PNG as an image summary: as it is when it fits [`MAX_IMAGE_SIDE`], else reduced to fit
/// (aspect kept; a triangle filter as wide as the reduction, which averages the pixels it
/// spans) and encoded again.
fn summary_image(bytes: Vec<u8>) -> Result<SummaryImage> {
    let decoded = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)?;
    let colorspace = match decoded.color().channel_count() {
        1 | 2 => 1,
        3 => 3,
        _ => 4,
    };
    let (width, height) = (decoded.width(), decoded.height());
    let longest = width.max(height);
    let (decoded, bytes) = match longest > MAX_IMAGE_SIDE {
        false => (decoded, bytes),
        true => {
            let fit = |side: u32| {
                ((side as u64 * MAX_IMAGE_SIDE as u64 + longest as u64 / 2) / longest as u64).max(1)
                    as u32
            };
            let reduced = decoded.resize_exact(
                fit(width),
                fit(height),
                image::imageops::FilterType::Triangle,
            );
            let mut encoded = std::io::Cursor::new(Vec::new());
            reduced.write_to(&mut encoded, image::ImageFormat::Png)?;
            (reduced, encoded.into_inner())
        }
    };
    Ok(SummaryImage {
        height: decoded.height() as i32,
        width: decoded.width() as i32,
        colorspace,
        encoded_image_string: bytes,
    })
}

/// The tags and values of the numbers in a stats line: top-level keys as they are, the nested
/// ones as `parent/key`; the tick counter and kimg (the step says where the tick is) left out.
pub fn scalars_of(stats: &Json) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let Some(object) = stats.as_object() else {
        return out;
    };
    for (key, value) in object {
        if key == "tick" || key == "kimg" {
            continue;
        }
        match value {
            Json::Number(n) => out.extend(n.as_f64().map(|v| (key.clone(), v))),
            Json::Object(inner) => {
                for (k, v) in inner {
                    if let Some(v) = v.as_f64() {
                        out.push((format!("{key}/{k}"), v));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_masked_crc_matches_tensorflows_for_known_input() {
        // CRC-32C("123456789") = 0xE3069283 (the check value of the Castagnoli polynomial);
        // masked: rotate right 15, add 0xa282ead8.
        assert_eq!(CASTAGNOLI.checksum(b"123456789"), 0xE306_9283);
        assert_eq!(
            masked_crc(b"123456789"),
            0xE306_9283u32.rotate_right(15).wrapping_add(0xa282_ead8)
        );
    }

    fn png_of(image: image::DynamicImage) -> Vec<u8> {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image
            .write_to(&mut bytes, image::ImageFormat::Png)
            .expect("encode");
        bytes.into_inner()
    }

    #[test]
    fn grids_larger_than_the_limit_go_in_reduced_to_fit_it() {
        // A grid that fits goes in as its own bytes.
        let small = png_of(image::DynamicImage::new_rgb8(274, 274));
        let summary = summary_image(small.clone()).expect("small");
        assert_eq!(
            (summary.width, summary.height, summary.colorspace),
            (274, 274, 3)
        );
        assert_eq!(summary.encoded_image_string, small);
        // 4096x2050 grayscale, left half black, right half white: 1024x513 (aspect kept),
        // still grayscale, the halves' values kept away from the edge between them.
        let big = image::GrayImage::from_fn(4096, 2050, |x, _| {
            image::Luma([if x < 2048 { 0 } else { 255 }])
        });
        let summary = summary_image(png_of(big.into())).expect("big");
        assert_eq!(
            (summary.width, summary.height, summary.colorspace),
            (1024, 513, 1)
        );
        let decoded = image::load_from_memory(&summary.encoded_image_string)
            .expect("a PNG")
            .to_luma8();
        assert_eq!(decoded.dimensions(), (1024, 513));
        assert_eq!(decoded.get_pixel(100, 300).0, [0]);
        assert_eq!(decoded.get_pixel(900, 300).0, [255]);
        assert!(summary_image(b"not a png".to_vec()).is_err());
    }

    #[test]
    fn scalars_are_the_numbers_of_a_stats_line() {
        let line = serde_json::json!({"tick": 3, "kimg": 1.5, "loss_d": 0.5, "eval": {"swd": 2.0, "coverage_missing": [8]}, "eval_best": {"metric": "swd", "value": 2.0}, "eval_slope_per_kimg": null});
        let mut tags = scalars_of(&line);
        tags.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            tags,
            vec![
                ("eval/swd".to_string(), 2.0),
                ("eval_best/value".to_string(), 2.0),
                ("loss_d".to_string(), 0.5)
            ]
        );
    }
}
