//! Reproducibility: two CPU runs with the same seed log identical losses. This file holds a
//! single test so that no other test in its process draws from libtorch's global generator.

use ganlab_run::train::Reporting;
use ganlab_run::TrainConfig;
use serde_json::Value;

fn short_config(seed: u64) -> TrainConfig {
    ganlab_tests::short_dcgan_config(seed)
}

fn run(config: TrainConfig) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    ganlab_run::train(config, dir.path(), Reporting { interactive: false }).expect("training run");
    dir
}

fn stats_lines(dir: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("stats.jsonl")).expect("stats.jsonl");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each stats line is JSON"))
        .collect()
}

#[test]
fn two_runs_with_the_same_seed_log_identical_losses() {
    let losses = |dir: &std::path::Path| -> Vec<(f64, f64, f64, f64)> {
        stats_lines(dir)
            .iter()
            .map(|s| {
                let f = |k: &str| s[k].as_f64().expect("number");
                (f("loss_d"), f("loss_g"), f("d_real"), f("d_fake"))
            })
            .collect()
    };
    let a = run(short_config(11));
    let b = run(short_config(11));
    let c = run(short_config(12));
    assert_eq!(losses(a.path()), losses(b.path()));
    assert_ne!(
        losses(a.path()),
        losses(c.path()),
        "another seed gives another run"
    );
}
