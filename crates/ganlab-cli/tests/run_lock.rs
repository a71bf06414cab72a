//! A run directory has one writer at a time: a second `gan train --resume` of a directory that a
//! live process trains into is refused at once, naming the directory and the holder, and writes
//! nothing; `gan report` reads a live run without the lock and says it is in progress; a holder
//! killed with SIGKILL leaves no lock behind, so `--resume` then works.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn gan() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gan"));
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn has_snapshot(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|d| {
        d.filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with("snapshot-kimg"))
    })
}

#[test]
fn a_second_writer_is_refused_and_a_killed_holder_leaves_no_lock() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("run");
    let mut first = gan()
        .args([
            "train",
            "--preset",
            "toy-ring8",
            "--kimg",
            "60",
            "--tick-kimg",
            "1",
        ])
        .args([
            "--snapshot-ticks",
            "1",
            "--device",
            "cpu",
            "--no-report",
            "--run-dir",
        ])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the first gan");
    let start = Instant::now();
    while !has_snapshot(&dir) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no snapshot in 2 minutes"
        );
        assert!(
            first.try_wait().expect("poll").is_none(),
            "the first run ended early"
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    // The second writer: refused at once, naming the directory and the holder.
    let started = Instant::now();
    let second = gan()
        .arg("train")
        .arg("--resume")
        .arg(&dir)
        .output()
        .expect("second gan");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "refused, not run: {stderr}"
    );
    let holder = format!("process {}", first.id());
    assert!(
        stderr.contains(&dir.display().to_string())
            && stderr.contains("is being trained by")
            && stderr.contains(&holder)
            && stderr.contains(" on "),
        "{stderr}"
    );
    // It wrote nothing: the log has no resumption, and the run is still the first's.
    let log = std::fs::read_to_string(dir.join("log.txt")).expect("log.txt");
    assert!(!log.contains("resumed at"), "{log}");
    assert!(!dir.join("outcome.json").exists());

    // A report of the live run: read without the lock, marked in progress.
    let report = gan().arg("report").arg(&dir).output().expect("gan report");
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let md = std::fs::read_to_string(dir.join("report").join("report.md")).expect("report.md");
    assert!(
        md.contains("**in progress**") && md.contains(&holder),
        "{md}"
    );

    // SIGKILL: the kernel drops the lock with the process; --resume goes on.
    assert!(
        first.try_wait().expect("poll").is_none(),
        "make the first run longer"
    );
    first.kill().expect("SIGKILL");
    let _ = first.wait();
    // Resume for one more tick after the newest snapshot.
    let newest = std::fs::read_dir(&dir)
        .expect("run dir")
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.strip_prefix("snapshot-kimg")?
                .strip_suffix(".safetensors")?
                .parse::<f64>()
                .ok()
        })
        .fold(0.0, f64::max);
    let kimg = format!("{}", newest + 1.0);
    let resumed = gan()
        .args([
            "train",
            "--kimg",
            &kimg,
            "--allow-config-change",
            "--no-report",
            "--resume",
        ])
        .arg(&dir)
        .output()
        .expect("resume");
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let log = std::fs::read_to_string(dir.join("log.txt")).expect("log.txt");
    assert!(log.contains("resumed at"), "{log}");
    assert!(dir.join("outcome.json").exists());
}
