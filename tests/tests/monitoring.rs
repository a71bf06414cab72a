//! Training-time evaluation: stopping on a target and on a plateau with the reason logged and
//! written to outcome.json, the best snapshot, snapshot retention, the mode-collapse warning
//! that names the missing classes, and `gan report`'s pictures and summary.

use ganlab_run::metric::Metric;
use ganlab_run::train::{Reporting, StopReason};
use ganlab_run::TrainConfig;
use serde_json::Value;
use std::path::Path;

const QUIET: Reporting = Reporting { interactive: false };

fn toy(kimg: f64) -> TrainConfig {
    let mut c = TrainConfig {
        dataset: "ring8".into(),
        kimg,
        tick_kimg: 0.512,
        device: ganlab_run::device::DeviceChoice::Cpu,
        ..Default::default()
    };
    c.evaluation.every_kimg = 0.512;
    c
}

fn json(path: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("json")
}

fn stats(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("stats.jsonl"))
        .expect("stats")
        .lines()
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect()
}

#[test]
fn a_reached_target_stops_the_run_and_says_why() {
    let _rng = ganlab_tests::global_rng_lock();
    // The share of high-quality samples is >= 0 at the first evaluation: the target is met there.
    let mut c = toy(5.0);
    c.evaluation.primary = Some(Metric::HighQuality);
    c.evaluation.target = Some(0.0);
    let dir = tempfile::tempdir().expect("tmp");
    let summary = ganlab_run::train(c, dir.path(), QUIET).expect("run");
    assert_eq!(summary.stop, StopReason::TargetReached);
    assert_eq!(summary.images_shown, 512, "stopped at the first evaluation");
    assert!(
        summary.message.starts_with("target reached: high-quality"),
        "{}",
        summary.message
    );
    let outcome = json(&dir.path().join("outcome.json"));
    assert_eq!(outcome["stop_reason"], "target-reached");
    assert_eq!(outcome["best"]["metric"], "high-quality");
    assert!(dir.path().join("best.safetensors").exists() && summary.snapshot.exists());
    let log = std::fs::read_to_string(dir.path().join("log.txt")).expect("log");
    assert!(log.contains("stopped early: target reached"), "{log}");
}

#[test]
fn a_plateau_stops_after_patience_evaluations_and_the_best_snapshot_is_kept() {
    let _rng = ganlab_tests::global_rng_lock();
    // No change can beat a δ of 1e9: every evaluation after the first is "no improvement".
    let mut c = toy(10.0);
    c.evaluation.primary = Some(Metric::Jsd);
    c.evaluation.patience = 2;
    c.evaluation.min_delta = 1e9;
    c.snapshot_ticks = 1;
    c.keep_snapshots = 2;
    let dir = tempfile::tempdir().expect("tmp");
    let summary = ganlab_run::train(c, dir.path(), QUIET).expect("run");
    assert_eq!(summary.stop, StopReason::Plateau);
    assert_eq!(
        summary.images_shown,
        3 * 512,
        "first evaluation + two without improvement"
    );
    assert!(
        summary
            .message
            .contains("has not improved by more than 1000000000 for 2 evaluations"),
        "{}",
        summary.message
    );
    let best = json(&dir.path().join("best.json"));
    assert_eq!(
        (best["metric"].as_str(), best["kimg"].as_f64()),
        (Some("jsd"), Some(0.512))
    );
    let best_snapshot = ganlab_run::snapshot::Snapshot::read(&dir.path().join("best.safetensors"))
        .expect("best snapshot");
    assert_eq!(
        best_snapshot.progress().expect("progress").images_shown,
        512
    );
    // Retention: of the periodic snapshots at 0.512, 1.024 and 1.536 kimg the newest two remain.
    let kept: Vec<String> = ganlab_run::snapshot::list(dir.path())
        .expect("list")
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().to_string())
        .collect();
    assert_eq!(
        kept,
        [
            "snapshot-kimg0001.02.safetensors",
            "snapshot-kimg0001.54.safetensors"
        ]
    );
    // Every evaluation is in stats.jsonl with the metric's slope once there are two points.
    let lines = stats(dir.path());
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l["eval"]["jsd"].is_number()));
    assert!(lines[2]["eval_slope_per_kimg"].is_number());
    assert_eq!(
        json(&dir.path().join("outcome.json"))["stop_reason"],
        "plateau"
    );
}

#[test]
fn an_untrained_generator_is_flagged_with_the_missing_digits_named() {
    let _rng = ganlab_tests::global_rng_lock();
    // After a few steps G draws a few kinds of blob, which the MNIST classifier files under few
    // digits: the coverage diagnostic must name the digits that are missing.
    let mut c = ganlab_tests::short_dcgan_config(0);
    c.evaluation.every_kimg = 0.128;
    c.evaluation.metrics = vec![Metric::Coverage];
    c.evaluation.n = 300;
    let dir = tempfile::tempdir().expect("tmp");
    let _ = ganlab_run::train(c, dir.path(), QUIET).expect("run");
    let lines = stats(dir.path());
    let warnings: Vec<String> = lines
        .iter()
        .flat_map(|l| l["warnings"].as_array().cloned().unwrap_or_default())
        .filter_map(|w| w.as_str().map(str::to_string))
        .filter(|w| w.starts_with("mode collapse: classes missing from the samples: \""))
        .collect();
    assert!(!warnings.is_empty(), "{lines:?}");
    let missing = lines.last().expect("a tick")["eval"]["coverage_missing"]
        .as_array()
        .expect("missing list")
        .len();
    assert!(missing >= 1);
    let log = std::fs::read_to_string(dir.path().join("log.txt")).expect("log");
    assert!(log.contains("classes missing from the samples"), "{log}");

    // The report of this run: plots, the strip of grids and a summary naming the warning.
    let report = ganlab_report::report::write_report(dir.path()).expect("report");
    let md = std::fs::read_to_string(&report).expect("report.md");
    assert!(
        md.contains("stopped: **finished**") && md.contains("mode collapse"),
        "{md}"
    );
    for picture in [
        "losses.png",
        "d_outputs.png",
        "grad_norms.png",
        "overfitting.png",
        "metrics.png",
        "samples.png",
    ] {
        let path = dir.path().join("report").join(picture);
        let img = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(img.width() > 100 && img.height() > 100, "{picture}");
        assert!(md.contains(picture), "{picture} is linked from the report");
    }
}

#[test]
fn the_report_of_a_killed_run_skips_a_cut_line() {
    let _rng = ganlab_tests::global_rng_lock();
    let dir = tempfile::tempdir().expect("tmp");
    let _ = ganlab_run::train(toy(1.024), dir.path(), QUIET).expect("run");
    // What a SIGKILL in the middle of appending a line leaves, and no outcome.json.
    let stats_path = dir.path().join("stats.jsonl");
    let mut text = std::fs::read_to_string(&stats_path).expect("stats");
    text.push_str("{\"tick\": 3, \"kimg\": 1.5");
    std::fs::write(&stats_path, text).expect("write");
    std::fs::remove_file(dir.path().join("outcome.json")).expect("rm");
    let md =
        std::fs::read_to_string(ganlab_report::report::write_report(dir.path()).expect("report"))
            .expect("md");
    assert!(md.contains("no outcome.json"), "{md}");
    assert!(dir.path().join("report").join("metrics.png").exists());
    let err = ganlab_report::report::write_report(&dir.path().join("nope")).unwrap_err();
    assert!(format!("{err:#}").contains("no config.json"), "{err:#}");
}
