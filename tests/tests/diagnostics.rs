//! A run forced to diverge stops with the right message and keeps its last good snapshot; a
//! requested stop (what Ctrl-C / SIGTERM trigger in `gan`) writes a snapshot and returns
//! cleanly, and the run resumes from it. One test, since the stop flag is global to the process.

use ganlab_run::train::{request_stop, resume, Reporting, StopReason};
use ganlab_run::TrainConfig;

#[test]
fn divergence_stops_cleanly_and_an_interrupted_run_resumes() {
    let quiet = Reporting { interactive: false };
    let base = TrainConfig {
        dataset: "ring8".into(),
        game: ganlab_games::GameName::Lsgan,
        kimg: 0.512,
        tick_kimg: 0.256,
        snapshot_ticks: 1,
        device: ganlab_run::device::DeviceChoice::Cpu,
        ..Default::default()
    };
    let dir = tempfile::tempdir().expect("tmp");
    let _ = ganlab_run::train(base.clone(), dir.path(), quiet).expect("a healthy run");
    // Continue it with an absurd learning rate: the losses overflow within a few steps.
    let absurd = TrainConfig {
        kimg: 2.0,
        lr_g: Some(10.0),
        lr_d: Some(10.0),
        ..base.clone()
    };
    let err = resume(absurd, dir.path(), quiet).unwrap_err().to_string();
    assert!(err.contains("diverged at generator step"), "{err}");
    // The message names the newest snapshot, which exists and holds only finite numbers.
    let named = err
        .rsplit("last good snapshot: ")
        .next()
        .expect("path")
        .trim()
        .to_string();
    let newest = ganlab_run::train::newest_snapshot(dir.path())
        .expect("list")
        .expect("a snapshot");
    assert_eq!(named, newest.display().to_string());
    let snapshot = ganlab_run::snapshot::Snapshot::read(&newest).expect("readable");
    for (name, t) in &snapshot.tensors {
        assert!(
            bool::try_from(t.to_kind(tch::Kind::Double).isfinite().all()).expect("bool"),
            "{name} is not finite"
        );
    }
    let log = std::fs::read_to_string(dir.path().join("log.txt")).expect("log");
    assert!(log.contains("training stopped: diverged"), "{log}");

    // A stop request mid-run: snapshot, clean return, then resume to the end.
    let dir = tempfile::tempdir().expect("tmp");
    let long = TrainConfig {
        kimg: 50.0,
        tick_kimg: 10.0,
        snapshot_ticks: 0,
        ..base
    };
    let stopper = std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        request_stop();
    });
    let stopped = ganlab_run::train(long.clone(), dir.path(), quiet).expect("interrupted run");
    stopper.join().expect("join");
    assert_eq!(stopped.stop, StopReason::Interrupted);
    assert!(stopped.images_shown < 50_000 && stopped.snapshot.exists());
    let finished = resume(
        TrainConfig {
            kimg: stopped.images_shown as f64 / 1000.0 + 0.512,
            ..long
        },
        dir.path(),
        quiet,
    );
    // The saved config has kimg 50; resuming with another kimg is a config change the CLI would
    // refuse without --allow-config-change; the library takes the config it is given.
    let finished = finished.expect("resumed");
    assert_eq!(finished.stop, StopReason::Finished);
    assert!(finished.images_shown > stopped.images_shown);
}
