//! Training from a streamed `folder:` source: the run reads batches lazily, resumes mid-epoch to
//! the same parameters as the uninterrupted run, and a file that breaks during training stops the
//! run with an error that names it, leaving its last snapshot resumable. One file, so that no
//! other test in the process draws from libtorch's global generator meanwhile.

use ganlab_run::config::RunConfig;
use ganlab_run::snapshot::Snapshot;
use ganlab_run::train::{resume, Reporting};
use ganlab_run::TrainConfig;
use std::path::Path;

const QUIET: Reporting = Reporting { interactive: false };

/// 40 RGB images of 24x24 (resized to 32 by the source) in two class folders.
fn image_folder(root: &Path) {
    for i in 0..40u32 {
        let class = if i % 2 == 0 { "even" } else { "odd" };
        let path = root.join(class).join(format!("{i:03}.png"));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        image::RgbImage::from_fn(24, 24, |x, y| {
            image::Rgb([(x * 10 + i) as u8, (y * 10) as u8, ((x + y) * i) as u8])
        })
        .save(&path)
        .expect("png");
    }
}

fn config(root: &Path) -> TrainConfig {
    TrainConfig {
        dataset: format!("folder:{}", root.display()),
        // 32-image batches over 40 images: every other batch crosses an epoch's end.
        batch_size: Some(32),
        kimg: 0.256,
        tick_kimg: 0.064,
        snapshot_ticks: 1,
        keep_snapshots: 0,
        width: 8,
        grid_images: 4,
        seed: 3,
        device: ganlab_run::device::DeviceChoice::Cpu,
        evaluation: ganlab_run::monitor::EvaluationSettings {
            every_kimg: 0.0,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn same_parameters(a: &Path, b: &Path) {
    let (a, b) = (Snapshot::read(a).expect("a"), Snapshot::read(b).expect("b"));
    assert_eq!(a.tensors.len(), b.tensors.len());
    for (name, t) in &a.tensors {
        assert!(t.equal(&b.tensors[name]), "{name} differs after resuming");
    }
}

#[test]
fn a_streamed_folder_trains_resumes_exactly_and_names_a_file_that_breaks() {
    let data = tempfile::tempdir().expect("tmp");
    image_folder(data.path());
    let full = tempfile::tempdir().expect("tmp");
    let a = ganlab_run::train(config(data.path()), full.path(), QUIET).expect("uninterrupted");
    let recorded = RunConfig::read(full.path()).expect("config.json");
    let source = recorded.provenance.dataset_source.expect("source");
    assert!(
        source.contains("40 images, streamed, RGB at 32x32"),
        "{source}"
    );
    assert_eq!(recorded.config.channels, Some(3));

    // Resume from the second of four snapshots (128 images in: mid-epoch of the 40) in a copy
    // of the run directory without the later snapshots.
    let cut = tempfile::tempdir().expect("tmp");
    ganlab_tests::copy_run_killed_after(full.path(), cut.path(), "0000.13");
    let b = resume(recorded.config.clone(), cut.path(), QUIET).expect("resumed");
    assert_eq!(a.images_shown, b.images_shown);
    same_parameters(&a.snapshot, &b.snapshot);

    // A file cut in half after the source was opened: the batch that reads it stops the run
    // with an error naming the file; the snapshots written before it stay resumable.
    let broken = tempfile::tempdir().expect("tmp");
    image_folder(broken.path());
    let victim = broken.path().join("odd").join("017.png");
    let run = tempfile::tempdir().expect("tmp");
    let mut long = config(broken.path());
    long.kimg = 2.0;
    let cutter = std::thread::spawn({
        let (run, victim) = (run.path().to_path_buf(), victim.clone());
        move || {
            // Wait for the first snapshot, then break the file.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            while ganlab_run::snapshot::newest(&run).ok().flatten().is_none()
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let bytes = std::fs::read(&victim).expect("read");
            std::fs::write(&victim, &bytes[..bytes.len() / 3]).expect("cut");
        }
    });
    let err = ganlab_run::train(long, run.path(), QUIET).expect_err("a broken file stops the run");
    cutter.join().expect("cutter");
    let message = format!("{err:#}");
    assert!(
        message.contains("017.png") && message.contains("cannot decode"),
        "{message}"
    );
    let outcome: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.path().join("outcome.json")).expect("outcome.json"),
    )
    .expect("JSON");
    assert_eq!(outcome["stop_reason"], "error", "{outcome}");
    // The training up to the step that could not read its batch is saved, and resumes once the
    // file is fixed.
    assert!(
        message.contains("the training so far is saved in"),
        "{message}"
    );
    let last = ganlab_run::snapshot::newest(run.path())
        .expect("list")
        .expect("a snapshot of the training so far");
    let saved = Snapshot::read(&last).expect("the last snapshot reads");
    let progress = saved.progress().expect("progress");
    assert!(progress.images_shown >= 64, "{progress:?}");
    image_folder(broken.path());
    let resumed = resume(
        RunConfig::read(run.path()).expect("config").config,
        run.path(),
        QUIET,
    )
    .expect("resumed after the fix");
    // 2 kimg in batches of 32: the run ends at the first 32 images past 2,000.
    assert_eq!(resumed.images_shown, 2016);
}
