//! A short progressive run on Fashion-MNIST: it grows 4 → 8 → 16 → 32 with fade-ins, writes a
//! grid at every tick (so at every resolution), keeps G's moving average in the snapshot, and
//! resets Adam when the level of detail crosses an integer.

use ganlab_run::train::Reporting;
use serde_json::Value;

#[test]
fn a_short_progan_run_grows_to_32_and_writes_a_grid_per_resolution() {
    let mut config = ganlab_tests::tiny_progan_config(32, 8, 0.064, 0.064);
    config.progan.schedule.minibatch = [(4, 16), (8, 16), (16, 8), (32, 8)].into_iter().collect();
    config.kimg = config.progan.schedule.kimg_to_final_resolution() + 0.064;
    config.tick_kimg = 0.032;
    config.grid_images = 16;
    let dir = tempfile::tempdir().expect("tmp");
    let summary = ganlab_run::train(config, dir.path(), Reporting { interactive: false })
        .expect("progan run");

    let stats: Vec<Value> = std::fs::read_to_string(dir.path().join("stats.jsonl"))
        .expect("stats")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let resolutions: Vec<i64> = stats
        .iter()
        .map(|s| s["resolution"].as_i64().expect("resolution"))
        .collect();
    for r in [4, 8, 16, 32] {
        assert!(
            resolutions.contains(&r),
            "resolution {r} in {resolutions:?}"
        );
    }
    assert!(
        resolutions.windows(2).all(|w| w[0] <= w[1]),
        "grows monotonically: {resolutions:?}"
    );
    assert!(
        stats
            .iter()
            .any(|s| s["alpha"].as_f64().expect("alpha") < 1.0),
        "some tick falls inside a fade"
    );
    assert!(stats
        .iter()
        .all(|s| s["loss_d"].as_f64().is_some_and(f64::is_finite)));
    // One grid per tick, all shown at the final size.
    for s in &stats {
        let name = format!("fakes-kimg{:07.2}.png", s["kimg"].as_f64().expect("kimg"));
        let img = image::open(dir.path().join(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(img.width(), 4 * (32 + 2) + 2, "{name}");
    }
    let snapshot = ganlab_run::snapshot::Snapshot::read(&summary.snapshot).expect("snapshot");
    assert!(
        snapshot
            .tensors
            .keys()
            .any(|k| k.starts_with("G_ema.b32.conv1")),
        "G's moving average is saved"
    );
    // The final optimiser state started at the last reset (end of the 16 → 32 fade), so it has
    // taken fewer steps than the run.
    let steps = snapshot.tensors["opt_g.step"].int64_value(&[]);
    assert!(
        steps > 0 && (steps as u64) < summary.images_shown / 8,
        "Adam step count {steps}"
    );
    let log = std::fs::read_to_string(dir.path().join("log.txt")).expect("log");
    assert!(
        log.contains("fading in 8x8") && log.contains("32x32 stable"),
        "{log}"
    );
}
