//! Files that matter (checkpoints, statistics, configs, reports, downloads, archives), written
//! atomically, and the sha256 of a file. The workspace's one copy of both: the engine, the run,
//! the data crate and `xtask` (which has no `tch`, so this crate has none either) use it.
//!
//! An atomic write fills a temporary file next to the target (same folder, so the rename never
//! crosses file systems), syncs it, renames it over the target and syncs the folder, so a reader
//! (or a run resumed after SIGKILL) sees the old file or the new one, never half of one; on any
//! error the temporary file is removed and the target is untouched.
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("stats.json");
//! ganlab_files::write_bytes_atomically(&path, b"{\"kimg\": 10}\n")?;
//! assert_eq!(std::fs::read(&path)?, b"{\"kimg\": 10}\n");
//! assert_eq!(
//!     ganlab_files::sha256_of_file(&path)?,
//!     ganlab_files::sha256_of_bytes(b"{\"kimg\": 10}\n")
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file operation that failed: what was being done, to which path, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {source}", path.display())]
pub struct FileError {
    /// What was being done (`write`, `fsync`, `rename to the target`, `read`, ...).
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl FileError {
    fn new(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FileError {
        let path = path.to_path_buf();
        move |source| FileError {
            action,
            path,
            source,
        }
    }
}

/// The temporary name an atomic write of `path` uses: a hidden file in the same folder, named
/// after this process, with the target's name (and so its extension, from which writers such
/// as `VarStore::save` or an image encoder pick the format) at the end.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".tmp-{}-{name}", std::process::id()))
}

/// Writes `path` atomically: `write` fills the temporary file [`temp_path`] gives, which is then
/// synced and renamed over `path`, and the folder synced. Errors of `write` are returned as they
/// are; this function's own (sync, rename) arrive as `E` through `From<FileError>`.
pub fn write_atomically<E: From<FileError>>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let tmp = temp_path(path);
    let result = write(&tmp).and_then(|()| {
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(FileError::new("fsync", &tmp))?;
        std::fs::rename(&tmp, path).map_err(FileError::new("rename a temporary file to", path))?;
        sync_folder_of(path);
        Ok(())
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    write_atomically(path, |tmp| {
        let mut file = File::create(tmp).map_err(FileError::new("create", tmp))?;
        file.write_all(bytes).map_err(FileError::new("write", tmp))
    })
}

/// Makes a rename into the folder of `path` durable (syncs the folder's entry). Best effort:
/// some file systems refuse to open or sync a folder, and the data itself is already synced.
pub fn sync_folder_of(path: &Path) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Lowercase hex sha256 of the file at `path`, read in a stream.
pub fn sha256_of_file(path: &Path) -> Result<String, FileError> {
    let mut file = File::open(path).map_err(FileError::new("open", path))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(FileError::new("read", path))?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_of_bytes(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("config.json");
        write_bytes_atomically(&path, b"old").expect("first write");
        let failed: Result<(), FileError> = write_atomically(&path, |tmp| {
            std::fs::write(tmp, b"half").map_err(FileError::new("write", tmp))?;
            Err(FileError {
                action: "write",
                path: tmp.to_path_buf(),
                source: std::io::Error::other("disk full"),
            })
        });
        let err = failed.expect_err("the writer's error comes back");
        assert!(err.to_string().contains("disk full"), "{err}");
        assert_eq!(std::fs::read(&path).expect("read"), b"old");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["config.json".to_string()]);
    }

    #[test]
    fn a_write_into_a_missing_folder_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("missing").join("x.bin");
        let err = write_bytes_atomically(&path, b"x").expect_err("no folder");
        assert!(err.to_string().contains("missing"), "{err}");
        assert!(!path.exists());
    }

    /// sha256 of known inputs (`printf 'abc' | sha256sum`, FIPS 180-2 appendix B.1).
    #[test]
    fn sha256_matches_the_standard_s_test_vector() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").expect("write");
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(sha256_of_file(&path).expect("hash"), abc);
        assert_eq!(sha256_of_bytes(b"abc"), abc);
        let err = sha256_of_file(&dir.path().join("nope")).expect_err("missing");
        assert!(err.to_string().starts_with("cannot open"), "{err}");
    }
}
