//! TensorBoard event files, read back with TensorBoard's own reader (PyPI `tensorboard`,
//! `EventAccumulator`, installed by setup): every number of every `stats.jsonl` line is a scalar
//! at its tick's step, each tick's sample grid is an image, and a run resumed after a kill
//! continues the stream without duplicate steps. One file, so that no other test in the process
//! draws from libtorch's global generator meanwhile.

use ganlab_run::config::RunConfig;
use ganlab_run::train::{resume, Reporting};
use std::path::Path;

const QUIET: Reporting = Reporting { interactive: false };

fn check(run_dir: &Path, last_grid: &Path) -> String {
    ganlab_tests::run_reference(
        "tensorboard_check.py",
        &[run_dir.as_os_str(), last_grid.as_os_str()],
    )
}

#[test]
fn event_files_hold_every_tick_and_a_resumed_run_continues_them() {
    let mut config = ganlab_tests::short_dcgan_config(2);
    config.kimg = 0.384;
    config.tick_kimg = 0.064;
    config.snapshot_ticks = 1;
    config.keep_snapshots = 0;
    config.evaluation.every_kimg = 0.128;
    config.evaluation.n = 32;
    config.evaluation.metrics = vec![ganlab_run::metric::Metric::Swd];
    let full = tempfile::tempdir().expect("tmp");
    let a = ganlab_run::train(config, full.path(), QUIET).expect("train");
    let text = check(full.path(), &a.last_grid);
    assert!(text.contains("at 6 steps"), "{text}");

    // Killed after the tick at 192 images: the copy keeps every file the run wrote (its event
    // file included, with the ticks after the snapshot) except the later snapshots.
    let cut = tempfile::tempdir().expect("tmp");
    ganlab_tests::copy_run_killed_after(full.path(), cut.path(), "0000.19");
    let config = RunConfig::read(cut.path()).expect("config").config;
    let b = resume(config, cut.path(), QUIET).expect("resume");
    assert_eq!(
        std::fs::read_dir(cut.path().join("tb"))
            .expect("tb")
            .count(),
        2,
        "a second event file"
    );
    let text = check(cut.path(), &b.last_grid);
    assert!(text.contains("at 6 steps"), "{text}");
}
