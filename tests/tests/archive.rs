//! The prepared archive (`gan dataset create`): its levels equal ProGAN's `dataset_tool.py`
//! computed in numpy and read back with Python's `safetensors` package (exactly: both round the
//! same float32 averages half to even), and ProGAN trains from it, reading the level its
//! schedule needs.

use ganlab_run::dataset::{create, CreateRequest};
use std::path::Path;

/// `n` images of 16x16 with fine detail (so that the averages have fractions) in 3 classes.
fn folder(root: &Path, n: u32, gray: bool) {
    for i in 0..n {
        let path = root
            .join(format!("class{}", i % 3))
            .join(format!("{i:03}.png"));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let value = |x: u32, y: u32, k: u32| {
            (((x * 31) ^ (y * 17) ^ (i * 7) ^ (k * 101)).wrapping_mul(2_654_435_761) >> 24) as u8
        };
        if gray {
            image::GrayImage::from_fn(16, 16, |x, y| image::Luma([value(x, y, 0)]))
                .save(&path)
                .expect("png");
        } else {
            image::RgbImage::from_fn(16, 16, |x, y| {
                image::Rgb([value(x, y, 0), value(x, y, 1), value(x, y, 2)])
            })
            .save(&path)
            .expect("png");
        }
    }
}

fn check_with_python(archive: &Path, root: &Path, channels: i64) {
    let channels = channels.to_string();
    let text = ganlab_tests::run_reference(
        "archive_reference.py",
        &[archive.as_os_str(), root.as_os_str(), channels.as_ref()],
    );
    assert!(text.contains("level 4: (30, "), "{text}");
}

#[test]
fn archive_levels_equal_progans_dataset_tool_in_numpy() {
    let _rng = ganlab_tests::global_rng_lock();
    for (gray, channels) in [(false, 3), (true, 1)] {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().join("images");
        folder(&root, 30, gray);
        let out = dir.path().join("set.safetensors");
        let info = create(&CreateRequest {
            from: format!("folder:{}", root.display()),
            resolution: 16,
            channels: None,
            out: out.clone(),
            interactive: false,
        })
        .expect("create");
        assert_eq!((info.images, info.channels), (30, channels));
        check_with_python(&out, &root, channels);
        // A second create onto the same file is refused; nothing is overwritten.
        let err = create(&CreateRequest {
            from: format!("folder:{}", root.display()),
            resolution: 16,
            channels: None,
            out: out.clone(),
            interactive: false,
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("exists"), "{err:#}");
    }
}

#[test]
fn progan_trains_from_an_archive_and_resumes_exactly() {
    let _rng = ganlab_tests::global_rng_lock();
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("images");
    folder(&root, 30, false);
    let archive = dir.path().join("set.safetensors");
    create(&CreateRequest {
        from: format!("folder:{}", root.display()),
        resolution: 16,
        channels: None,
        out: archive.clone(),
        interactive: false,
    })
    .expect("create");
    let config = ganlab_tests::tiny_progan16(&archive.display().to_string(), 0.064, 0.32);
    let run = tempfile::tempdir().expect("tmp");
    let quiet = ganlab_run::train::Reporting { interactive: false };
    let a = ganlab_run::train(config.clone(), run.path(), quiet).expect("train");
    let recorded = ganlab_run::config::RunConfig::read(run.path()).expect("config.json");
    let source = recorded.provenance.dataset_source.expect("source");
    assert!(
        source.starts_with("archive:") && source.contains("30 images, 16x16 RGB"),
        "{source}"
    );
    // Resume from the snapshot at 128 images (in the 8x8 fade-in) in a copy without the later ones.
    let cut = tempfile::tempdir().expect("tmp");
    ganlab_tests::copy_run_killed_after(run.path(), cut.path(), "0000.13");
    let b = ganlab_run::train::resume(recorded.config, cut.path(), quiet).expect("resume");
    let (sa, sb) = (
        ganlab_run::snapshot::Snapshot::read(&a.snapshot).expect("a"),
        ganlab_run::snapshot::Snapshot::read(&b.snapshot).expect("b"),
    );
    for (name, t) in &sa.tensors {
        assert!(t.equal(&sb.tensors[name]), "{name} differs after resuming");
    }
}
