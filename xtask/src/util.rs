//! Small helpers shared by the tasks: the project root, running commands, timing steps.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The workspace root (the folder above `xtask/`).
pub fn project_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(manifest_dir)
}

/// Runs `f` as a named step and prints its outcome and duration.
pub fn step<T>(name: &str, f: impl FnOnce() -> Result<(T, String)>) -> Result<T> {
    let start = Instant::now();
    eprintln!("[setup] {name} ...");
    let (value, outcome) = f().with_context(|| format!("setup step `{name}` failed"))?;
    eprintln!(
        "[setup] {name}: {outcome} ({:.1}s)",
        start.elapsed().as_secs_f64()
    );
    Ok(value)
}

/// Runs a command with inherited stdio; fails with the command line if it exits non-zero.
pub fn run_status(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Runs a command and returns its trimmed stdout, or `None` when it cannot start or fails.
pub fn output_of(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Whether a program can be started (looked up on PATH).
pub fn have_program(program: &str, version_arg: &str) -> bool {
    Command::new(program)
        .arg(version_arg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Lowercase hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    Ok(ganlab_files::sha256_of_file(path)?)
}

/// Free space in bytes on the file system holding `path`, from POSIX `df -Pk`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let out = output_of(Command::new("df").arg("-Pk").arg(path))?;
    let line = out.lines().nth(1)?;
    let available_kib: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(available_kib * 1024)
}
