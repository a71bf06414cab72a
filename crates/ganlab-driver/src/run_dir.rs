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
