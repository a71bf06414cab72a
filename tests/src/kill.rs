//! Killing a training process for real (SIGKILL: no handler runs, nothing is flushed) at a moment
//! that varies from run to run, and running one to its end: the helpers of the tests that
//! resume after a kill (`tests/tests/own_networks.rs`, and `crates/ganlab-cli/tests/
//! kill_resume.rs`, which includes this file by path since its package cannot depend on this
//! one).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `cmd` to its end and asserts that it succeeded (its stderr in the message).
pub fn run_to_end(cmd: &mut Command) {
    let out = cmd.output().expect("run the command");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The number of periodic snapshots in `dir`.
pub fn snapshots(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("snapshot-kimg"))
                .count()
        })
        .unwrap_or(0)
}

/// The newest periodic snapshot in `dir` (by name: names carry the kimg).
pub fn newest_snapshot(dir: &Path) -> Option<PathBuf> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("snapshot-kimg"))
        })
        .collect();
    names.sort();
    names.pop()
}

/// Up to `range_ms` milliseconds, from the clock's sub-second noise and `salt`: a moment that
/// differs between runs of a test.
pub fn jitter(salt: u32, range_ms: u32) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_millis(((nanos ^ salt) % range_ms.max(1)) as u64)
}

/// Starts `cmd`, waits until it has written a snapshot of its own (the newest one in `dir`
/// changes), then `extra` more, and kills it with SIGKILL. Fails if it finished first.
pub fn kill_after_a_snapshot(cmd: &mut Command, dir: &Path, extra: Duration) {
    let before = newest_snapshot(dir);
    let mut child = cmd.spawn().expect("spawn the command");
    let start = Instant::now();
    while newest_snapshot(dir) == before {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "no new snapshot within 3 minutes"
        );
        if let Ok(Some(status)) = child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
            }
            panic!("the process exited before it could be killed: {status}\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(extra);
    let finished_first = child.try_wait().expect("poll").is_some();
    // Child::kill sends SIGKILL on Unix: no handler runs, nothing is flushed.
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(
        !finished_first,
        "the run finished before the kill; make it longer"
    );
}
