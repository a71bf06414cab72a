//! Precision, recall, density and nn-coverage on real images (Fashion-MNIST test images, 1,000
//! per side, Inception features), in the cases that show the classic failures: two draws of the
//! reals (the best any generator can do), fakes without one class (mode collapse), fakes with
//! heavy Gaussian noise (samples where the data has none) and fakes drawn from three images only
//! (collapse to a handful of modes); and the monitor's manifold diagnostics on the same cases.
//!
//! The 3,150 images' features take about 3 minutes on 2 cores; they are cached under the data
//! root (`test-features/`), keyed by the detector's sha256 and the draw.

use ganlab_metrics::inception::{Detector, DEFAULT_DETECTOR_SHA256};
use ganlab_metrics::{manifold_metrics, ManifoldMetrics, ManifoldSettings};
use ganlab_run::monitor::{manifold_warnings, ManifoldScores};
use tch::{Device, Kind, Tensor};

const N: i64 = 1000;
/// The class left out of the mode-collapse case (Fashion-MNIST 8: "Bag").
const LEFT_OUT: i64 = 8;

fn features(detector: &Detector, pixels: &Tensor) -> Tensor {
    let n = pixels.size()[0];
    let mut parts = Vec::new();
    let mut start = 0;
    while start < n {
        let len = 16.min(n - start);
        parts.push(
            detector
                .features(&pixels.narrow(0, start, len))
                .expect("features"),
        );
        start += len;
    }
    Tensor::cat(&parts, 0)
}

/// Features of draws A (reals), B (fakes that are reals), C (150 more reals to refill B without
/// one class) and of B with heavy noise; the labels of B and C.
fn cases() -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor) {
    let test = ganlab_data::load(&ganlab_data::DatasetRequest {
        split: ganlab_data::Split::Test,
        ..ganlab_data::DatasetRequest::new("fashion-mnist", 32)
    })
    .expect("Fashion-MNIST's test split (installed by `cargo xtask setup`)");
    let _lock = ganlab_tests::global_rng_lock();
    tch::manual_seed(35);
    let order = Tensor::randperm(test.len(), (Kind::Int64, Device::Cpu));
    let draw = |from: i64, len: i64| order.narrow(0, from, len);
    let pixels = |idx: &Tensor| ((test.images.index_select(0, idx) + 1.0) * 127.5).round();
    let (a, b, c) = (draw(0, N), draw(N, N), draw(2 * N, 150));
    // Heavy noise: σ = 64 of 255, clamped to the pixel range.
    let noisy = (pixels(&b) + Tensor::randn([N, 1, 32, 32], (Kind::Float, Device::Cpu)) * 64.0)
        .clamp(0.0, 255.0)
        .round();
    let (b_labels, c_labels) = (
        test.labels.index_select(0, &b),
        test.labels.index_select(0, &c),
    );
    let detector_path = ganlab_data::data_root()
        .join("detectors")
        .join("inception-2015-12-05.pt");
    let cache = ganlab_data::data_root().join("test-features").join(format!(
        "manifold-fashion-mnist-v1-{}.safetensors",
        &DEFAULT_DETECTOR_SHA256[..16]
    ));
    let names = ["a", "b", "c", "noisy"];
    if let Ok(tensors) = Tensor::read_safetensors(&cache) {
        let get = |name: &str| {
            tensors
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.shallow_clone())
        };
        if let [Some(fa), Some(fb), Some(fc), Some(fnoisy)] = names.map(get) {
            return (fa, fb, fc, fnoisy, b_labels, c_labels);
        }
    }
    let detector = Detector::load(&detector_path, Some(DEFAULT_DETECTOR_SHA256), Device::Cpu)
        .expect("the detector installed by `cargo xtask setup`");
    let computed = [
        features(&detector, &pixels(&a)),
        features(&detector, &pixels(&b)),
        features(&detector, &pixels(&c)),
        features(&detector, &noisy),
    ];
    std::fs::create_dir_all(cache.parent().expect("folder")).expect("cache folder");
    let named: Vec<(&str, &Tensor)> = names.iter().copied().zip(computed.iter()).collect();
    ganlab_run::files::write_atomically(&cache, |tmp| Ok(Tensor::write_safetensors(&named, tmp)?))
        .expect("cache");
    let [fa, fb, fc, fnoisy] = computed;
    (fa, fb, fc, fnoisy, b_labels, c_labels)
}

fn scores(m: &ManifoldMetrics) -> ManifoldScores {
    ManifoldScores {
        precision: Some(m.precision),
        recall: Some(m.recall),
        density: Some(m.density),
        nn_coverage: Some(m.coverage),
    }
}

#[test]
fn manifold_metrics_show_collapse_and_over_generalization_on_real_images() {
    let (fa, fb, fc, fnoisy, b_labels, c_labels) = cases();
    let run =
        |fake: &Tensor| manifold_metrics(&fa, fake, ManifoldSettings::default()).expect("metrics");
    // Fakes without class 8: B's other images, refilled from C's.
    let keep = |labels: &Tensor| labels.ne(LEFT_OUT).nonzero().squeeze_dim(1);
    let without = Tensor::cat(
        &[
            fb.index_select(0, &keep(&b_labels)),
            fc.index_select(0, &keep(&c_labels)),
        ],
        0,
    )
    .narrow(0, 0, N);
    let three = fb.narrow(0, 0, 3).repeat([N / 3 + 1, 1]).narrow(0, 0, N);
    // A quarter of the samples off the data: B's first 750 images and 250 noisy ones.
    let partly_noisy = Tensor::cat(&[fb.narrow(0, 0, 750), fnoisy.narrow(0, 750, 250)], 0);
    let two_draws = run(&fb);
    let missing = run(&without);
    let noisy = run(&fnoisy);
    let few = run(&three);
    let quarter = run(&partly_noisy);
    let share = b_labels
        .eq(LEFT_OUT)
        .to_kind(Kind::Double)
        .mean(Kind::Double)
        .double_value(&[]);
    for (name, m) in [
        ("two draws", &two_draws),
        ("no class 8", &missing),
        ("noise σ=64", &noisy),
        ("three images", &few),
        ("25% noise", &quarter),
    ] {
        eprintln!(
            "{name:<14} precision {:.4} recall {:.4} density {:.4} nn-coverage {:.4}",
            m.precision, m.recall, m.density, m.coverage
        );
    }
    // Two draws of the reals have the highest nn-coverage of all cases, the highest recall but
    // for the quarter of noisy samples, and precision and density above the off-data cases'.
    // (Fakes that are real images have the reals' fidelity: the three images' precision is 1
    // and the class-less draw's precision and density are the two draws' to within 0.03 and
    // 0.02. The noisy quarter's recall is inflated by the noisy samples' wide k-NN balls, the
    // weakness to outliers among the fakes that Naeem et al. 2020 built coverage against.)
    for m in [&missing, &noisy, &few, &quarter] {
        assert!(two_draws.coverage > m.coverage);
    }
    for m in [&missing, &noisy, &few] {
        assert!(two_draws.recall > m.recall);
    }
    for m in [&noisy, &quarter] {
        assert!(two_draws.precision > m.precision && two_draws.density > m.density);
    }
    assert!((two_draws.density - missing.density).abs() < 0.02);
    assert!((two_draws.precision - two_draws.recall).abs() <= 0.05);
    // One class missing: recall and nn-coverage fall by a third of its share at least,
    // precision moves by less than 0.03.
    assert!(two_draws.recall - missing.recall >= share / 3.0, "{share}");
    assert!(
        two_draws.coverage - missing.coverage >= share / 3.0,
        "{share}"
    );
    assert!((two_draws.precision - missing.precision).abs() < 0.03);
    // Heavy noise: precision and density below half of the two draws'.
    assert!(noisy.precision < two_draws.precision / 2.0);
    assert!(noisy.density < two_draws.density / 2.0);
    // Three images: recall below 0.1.
    assert!(few.recall < 0.1);

    // The monitor, against an earlier evaluation (the two draws): the missing class and the three
    // images are mode collapse, a quarter of noisy samples over-generalization, all-noise
    // samples away from the data; the two draws against themselves raise nothing.
    let earlier = [(0.0, scores(&two_draws))];
    let warn = |m: &ManifoldMetrics| manifold_warnings(&earlier, &scores(m)).join(" | ");
    assert_eq!(warn(&two_draws), "");
    for (m, expected) in [
        (&missing, "mode collapse"),
        (&few, "mode collapse"),
        (&quarter, "over-generalization"),
        (&noisy, "samples away from the data"),
    ] {
        let w = warn(m);
        assert!(w.starts_with(expected) && !w.contains(" | "), "{w}");
    }
}
