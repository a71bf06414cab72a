//! `gan generate` and `gan interpolate` on a small trained run: the same picture for the same
//! seeds twice, one file per seed at the run's resolution, a strip and a GIF with every frame,
//! and each bad input refused before anything is written.

use std::path::Path;
use std::process::{Command, Output};

fn gan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gan"))
        .args(args)
        .output()
        .expect("run gan")
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn err(out: &Output) -> String {
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn generated_images_are_a_function_of_the_seed_and_bad_input_writes_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let run = root.path().join("run");
    ok(&gan(&[
        "train",
        "--kimg",
        "0.128",
        "--tick-kimg",
        "0.128",
        "--batch-size",
        "32",
        "--device",
        "cpu",
        "--eval-every-kimg",
        "0",
        "--no-report",
        "--run-dir",
        path(&run),
    ]));

    // The same grid twice.
    let out = root.path().join("a");
    let grid = || {
        ok(&gan(&[
            "generate",
            path(&run),
            "--seeds",
            "0-3,9",
            "--grid",
            "--device",
            "cpu",
            "--out",
            path(&out),
        ]));
        std::fs::read(out.join("grid.png")).expect("grid.png")
    };
    assert_eq!(grid(), grid());

    // One file per seed, at the run's 32x32; --n N writes seeds 0..N-1.
    let stdout = ok(&gan(&[
        "generate",
        path(&run),
        "--n",
        "3",
        "--device",
        "cpu",
        "--out",
        path(&out),
    ]));
    assert!(stdout.contains("wrote 3 images"), "{stdout}");
    for seed in 0..3 {
        let file = out.join(format!("seed{seed:04}.png"));
        assert_eq!(image::image_dimensions(&file).expect("png"), (32, 32));
    }
    // Fewer seeds into the same folder: the earlier seed's file stays, and the warning says
    // that a tool reading the folder would count it.
    let again = gan(&[
        "generate",
        path(&run),
        "--n",
        "2",
        "--device",
        "cpu",
        "--out",
        path(&out),
    ]);
    ok(&again);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("also holds 1 seedNNNN.png file(s) that this call did not write"),
        "{stderr}"
    );
    // Truncation changes the latents, hence the image.
    ok(&gan(&[
        "generate",
        path(&run),
        "--seeds",
        "0",
        "--truncation",
        "0.5",
        "--device",
        "cpu",
        "--out",
        path(&root.path().join("t")),
    ]));
    assert_ne!(
        std::fs::read(root.path().join("t").join("seed0000.png")).expect("png"),
        std::fs::read(out.join("seed0000.png")).expect("png")
    );

    // A walk through three seeds, 4 frames per leg: 9 frames in the strip and in the GIF.
    let walk = root.path().join("walk");
    ok(&gan(&[
        "interpolate",
        path(&run),
        "--seeds",
        "1,7,42",
        "--steps",
        "4",
        "--device",
        "cpu",
        "--out",
        path(&walk),
    ]));
    let (w, h) = image::image_dimensions(walk.join("interpolation.png")).expect("strip");
    assert_eq!((w, h), (9 * 34 + 2, 36));
    let gif = std::fs::File::open(walk.join("interpolation.gif")).expect("gif");
    let decoder =
        image::codecs::gif::GifDecoder::new(std::io::BufReader::new(gif)).expect("decode");
    let frames = image::AnimationDecoder::into_frames(decoder)
        .collect_frames()
        .expect("frames");
    assert_eq!(frames.len(), 9);

    // Bad input: each a clear error, nothing written.
    let nowhere = root.path().join("nothing");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--seeds", "5-2"], "the range 5-2 goes down"),
        (vec!["--seeds", "x"], "`x` is not a seed"),
        (
            vec!["--seeds", "1", "--truncation", "0"],
            "--truncation must be in (0, 1]",
        ),
        (
            vec!["--seeds", "1", "--truncation", "1.5"],
            "--truncation must be in (0, 1]",
        ),
    ];
    for (extra, expected) in cases {
        let mut args = vec![
            "generate",
            path(&run),
            "--device",
            "cpu",
            "--out",
            path(&nowhere),
        ];
        args.extend(extra);
        let stderr = err(&gan(&args));
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let file = root.path().join("a-file");
    std::fs::write(&file, b"x").expect("file");
    let stderr = err(&gan(&[
        "generate",
        path(&run),
        "--seeds",
        "1",
        "--out",
        path(&file),
    ]));
    assert!(
        stderr.contains("this is a file; expected a folder"),
        "{stderr}"
    );
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).expect("dir");
    std::fs::copy(run.join("config.json"), empty.join("config.json")).expect("config");
    let stderr = err(&gan(&[
        "generate",
        path(&empty),
        "--seeds",
        "1",
        "--out",
        path(&nowhere),
    ]));
    assert!(
        stderr.contains("no snapshot-*.safetensors in this run directory"),
        "{stderr}"
    );
    // A snapshot of another architecture than its config says.
    let other = root.path().join("other");
    std::fs::create_dir(&other).expect("dir");
    let snapshot = std::fs::read_dir(&run)
        .expect("run")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("snapshot-kimg"))
        .expect("a snapshot")
        .path();
    std::fs::copy(&snapshot, other.join("snapshot-kimg0000.13.safetensors")).expect("copy");
    let config = std::fs::read_to_string(run.join("config.json")).expect("config");
    let mut config: serde_json::Value = serde_json::from_str(&config).expect("json");
    config["arch"] = "progan".into();
    config["z_dim"] = serde_json::Value::Null;
    config["batch_size"] = serde_json::Value::Null;
    std::fs::write(other.join("config.json"), config.to_string()).expect("write");
    let stderr = err(&gan(&[
        "generate",
        path(&other),
        "--seeds",
        "1",
        "--out",
        path(&nowhere),
    ]));
    assert!(
        stderr.contains("does not hold the progan generator"),
        "{stderr}"
    );
    let stderr = err(&gan(&[
        "interpolate",
        path(&run),
        "--seeds",
        "3",
        "--out",
        path(&nowhere),
    ]));
    assert!(stderr.contains("at least two seeds"), "{stderr}");
    assert!(
        !nowhere.exists(),
        "a refused command wrote {}",
        nowhere.display()
    );
}
