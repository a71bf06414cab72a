//! The IDX format of MNIST and Fashion-MNIST (LeCun et al., <http://yann.lecun.com/exdb/mnist/>):
//! a big-endian header — magic 0x00000803 and `[n, rows, cols]` for images, 0x00000801 and `[n]` for
//! labels — followed by unsigned bytes. Files are usually gzip-compressed.

use crate::Error;
use std::io::Read;
use std::path::Path;

/// Magic number of an unsigned-byte IDX file with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an unsigned-byte IDX file with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Decoded IDX images: `n` images of `rows` x `cols` bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxImages {
    pub n: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

fn corrupt(path: &Path, what: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

fn be_u32(bytes: &[u8], at: usize, path: &Path, field: &str) -> Result<u32, Error> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| {
            corrupt(
                path,
                format!(
                    "IDX header ends before its {field} (file has {} bytes)",
                    bytes.len()
                ),
            )
        })
}

/// Decompresses a gzip stream whole; a cut stream is an error, not a short file.
pub fn gunzip(compressed: &[u8], path: &Path) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(compressed)
        .read_to_end(&mut out)
        .map_err(|e| {
            corrupt(
                path,
                format!("not a complete gzip stream ({e}); the file is truncated or not gzip"),
            )
        })?;
    Ok(out)
}

/// Parses IDX image bytes (already decompressed).
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<IdxImages, Error> {
    let magic = be_u32(bytes, 0, path, "magic number")?;
    if magic != IMAGES_MAGIC {
        return Err(corrupt(
            path,
            format!("IDX magic number is {magic:#010x}, images need {IMAGES_MAGIC:#010x}"),
        ));
    }
    let n = be_u32(bytes, 4, path, "image count")? as usize;
    let rows = be_u32(bytes, 8, path, "row count")? as usize;
    let cols = be_u32(bytes, 12, path, "column count")? as usize;
    if rows == 0 || cols == 0 || rows > 4096 || cols > 4096 {
        return Err(corrupt(
            path,
            format!("IDX images are {rows}x{cols}; expected sides in 1..=4096"),
        ));
    }
    let expected = n
        .checked_mul(rows * cols)
        .ok_or_else(|| corrupt(path, "IDX header sizes overflow"))?;
    let body = &bytes[16..];
    if body.len() != expected {
        return Err(corrupt(
            path,
            format!("IDX header promises {n} images of {rows}x{cols} = {expected} bytes, the file holds {}", body.len()),
        ));
    }
    Ok(IdxImages {
        n,
        rows,
        cols,
        pixels: body.to_vec(),
    })
}

/// Parses IDX label bytes (already decompressed).
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>, Error> {
    let magic = be_u32(bytes, 0, path, "magic number")?;
    if magic != LABELS_MAGIC {
        return Err(corrupt(
            path,
            format!("IDX magic number is {magic:#010x}, labels need {LABELS_MAGIC:#010x}"),
        ));
    }
    let n = be_u32(bytes, 4, path, "label count")? as usize;
    let body = &bytes[8..];
    if body.len() != n {
        return Err(corrupt(
            path,
            format!(
                "IDX header promises {n} labels, the file holds {}",
                body.len()
            ),
        ));
    }
    Ok(body.to_vec())
}

/// Reads a (possibly gzipped) IDX file from disk: gzip is recognised by its magic bytes.
pub fn read_maybe_gz(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>, Error> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        gunzip(&bytes, path)
    } else {
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn images_bytes(n: u32, rows: u32, cols: u32, body: usize) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [IMAGES_MAGIC, n, rows, cols] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend(std::iter::repeat_n(7u8, body));
        b
    }

    #[test]
    fn well_formed_images_and_labels_parse() {
        let p = Path::new("x");
        let img = parse_images(&images_bytes(2, 3, 4, 24), p).expect("images");
        assert_eq!((img.n, img.rows, img.cols, img.pixels.len()), (2, 3, 4, 24));
        let mut labels = LABELS_MAGIC.to_be_bytes().to_vec();
        labels.extend_from_slice(&3u32.to_be_bytes());
        labels.extend_from_slice(&[1, 2, 9]);
        assert_eq!(parse_labels(&labels, p).expect("labels"), vec![1, 2, 9]);
    }

    #[test]
    fn wrong_magic_and_short_bodies_are_named() {
        let p = Path::new("train-images-idx3-ubyte.gz");
        let mut wrong = images_bytes(1, 2, 2, 4);
        wrong[3] = 0x01;
        let err = parse_images(&wrong, p).unwrap_err().to_string();
        assert!(
            err.contains("train-images-idx3-ubyte.gz")
                && err.contains("magic number is 0x00000801"),
            "{err}"
        );
        let err = parse_images(&images_bytes(10, 28, 28, 100), p)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("promises 10 images of 28x28 = 7840 bytes, the file holds 100"),
            "{err}"
        );
        let err = parse_images(&[0, 0, 8], p).unwrap_err().to_string();
        assert!(err.contains("header ends before its magic number"), "{err}");
    }

    #[test]
    fn a_truncated_gzip_stream_is_an_error() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&images_bytes(50, 28, 28, 50 * 784))
            .expect("write");
        let gz = enc.finish().expect("gzip");
        let p = Path::new("cut.gz");
        assert!(read_maybe_gz(gz.clone(), p).is_ok());
        let err = read_maybe_gz(gz[..gz.len() / 2].to_vec(), p)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cut.gz") && err.contains("not a complete gzip stream"),
            "{err}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]
        // Arbitrary bytes never panic the readers: they parse or give an error.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let p = Path::new("fuzz");
            let _ = parse_images(&bytes, p);
            let _ = parse_labels(&bytes, p);
            let _ = read_maybe_gz(bytes.clone(), p);
        }

        // Headers with arbitrary counts and sizes over a short body never panic or over-allocate.
        #[test]
        fn arbitrary_headers_never_panic(n in any::<u32>(), rows in any::<u32>(), cols in any::<u32>(), body in 0usize..64) {
            let _ = parse_images(&images_bytes(n, rows, cols, body), Path::new("fuzz"));
        }
    }
}
