//! Atomic file writes (see `ganlab_files`: temporary name, fsync, rename, fsync the folder), with
//! `anyhow` errors for the engine and the run. A reader (or a resumed run) sees the old file or
//! the new one, never half of one.

use anyhow::Result;
use std::path::Path;

/// Writes `path` atomically by letting `write` fill a temporary file first.
pub fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    ganlab_files::write_atomically(path, write)
}

/// Writes bytes atomically.
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(ganlab_files::write_bytes_atomically(path, bytes)?)
}

/// Writes a JSON value atomically, pretty-printed.
pub fn write_json_atomically(path: &Path, value: &serde_json::Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    write_bytes_atomically(path, text.as_bytes())
}
