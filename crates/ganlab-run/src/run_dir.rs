//! Run directories: `runs/<id>-<name>/`, ids counting up from 00000 as in StyleGAN.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Creates the next run directory `<root>/<id>-<name>` (id = one more than the largest there).
pub fn next_run_dir(root: &Path, name: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
    let mut next_id = 0u64;
    for entry in
        std::fs::read_dir(root).with_context(|| format!("cannot list {}", root.display()))?
    {
        let entry = entry?;
        let file_name = entry.file_name();
        let id = file_name
            .to_string_lossy()
            .split('-')
            .next()
            .and_then(|s| s.parse::<u64>().ok());
        if let Some(id) = id {
            next_id = next_id.max(id + 1);
        }
    }
    // Another process may take the same id between the scan and the mkdir: try the next one.
    for id in next_id..next_id + 1000 {
        let dir = root.join(format!("{id:05}-{name}"));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
        }
    }
    bail!("no free run id under {}", root.display())
}

/// Uses `dir` as the run directory: created if absent; refused if it already holds a run.
pub fn use_run_dir(dir: &Path) -> Result<PathBuf> {
    if dir.join("config.json").exists() {
        bail!(
            "--run-dir {}: this folder already holds a run (config.json exists); \
             choose a new folder",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir.to_path_buf())
}

/// The exclusive lock of a run directory: the process that trains into it holds an OS file lock
/// on `<run_dir>/.lock` for its whole life. The kernel releases it when the process ends, however
/// it ends (SIGKILL included), so a stale lock never blocks `--resume`.
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

/// The lock file's name inside a run directory.
pub const LOCK_FILE: &str = ".lock";

/// This machine's name (for the lock's holder line).
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "an unknown host".into())
}

/// Takes the run directory's lock, or refuses at once, naming the directory and the process
/// (id and host) that holds it; a refused caller has written nothing there.
///
/// Data-parallel training (when it comes) must take it on rank 0 only: the other ranks write
/// nothing into the run directory.
pub fn lock(dir: &Path) -> Result<RunLock> {
    use std::io::{Read, Seek, Write};
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open the run lock {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "another process".to_string(),
                h => h.to_string(),
            };
            bail!(
                "{}: this run directory is being trained by {holder}; nothing was written. \
                 Wait for that process to end (or stop it), then --resume",
                dir.display()
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let line = format!(
        "process {} on {} (since unix time {since})\n",
        std::process::id(),
        host_name()
    );
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(line.as_bytes()))
        .and_then(|()| file.flush())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(RunLock { _file: file })
}

/// Who is training into `dir` right now (`process PID on HOST ...`), read without taking the
/// lock; `None` when nobody is.
pub fn holder(dir: &Path) -> Option<String> {
    let file = std::fs::File::open(dir.join(LOCK_FILE)).ok()?;
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            None
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let text = std::fs::read_to_string(dir.join(LOCK_FILE)).unwrap_or_default();
            Some(match text.trim() {
                "" => "another process".to_string(),
                h => h.to_string(),
            })
        }
        Err(std::fs::TryLockError::Error(_)) => None,
    }
}
