//! Downloads into the cache: written under a temporary name while hashed, renamed to the real
//! name only when the sha256 matches, never fetched again once present. Timeouts are bounded and
//! configurable, so a server that never answers cannot hang a run.

use crate::Error;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// Time limits of a download.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DownloadOptions {
    /// Limit for establishing the connection.
    pub connect_timeout: Duration,
    /// Limit for each read (a stalled transfer fails after this long without data).
    pub read_timeout: Duration,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
        }
    }
}

fn download_error(url: &str, what: impl Into<String>) -> Error {
    Error::Download {
        url: url.to_string(),
        what: what.into(),
    }
}

/// Lowercase hex sha256 of a file, or `None` when it cannot be read.
pub fn sha256_of_file(path: &Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).ok()?;
    Some(format!("{:x}", hasher.finalize()))
}

/// Makes `dest` hold the file at `url` with sha256 `expected`. Returns `true` when it was
/// downloaded, `false` when a verified copy was already there.
pub fn fetch_verified(
    url: &str,
    dest: &Path,
    expected: &str,
    options: DownloadOptions,
) -> Result<bool, Error> {
    if sha256_of_file(dest).as_deref() == Some(expected) {
        return Ok(false);
    }
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.partial-{}", std::process::id()));
    let result = download_to(url, &tmp, expected, options);
    match result {
        Ok(()) => std::fs::rename(&tmp, dest).map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            Error::Io {
                path: dest.to_path_buf(),
                source,
            }
        })?,
        Err(err) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(err);
        }
    }
    tracing::info!(url, dest = %dest.display(), "downloaded and verified");
    Ok(true)
}

fn download_to(
    url: &str,
    tmp: &Path,
    expected: &str,
    options: DownloadOptions,
) -> Result<(), Error> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(options.connect_timeout)
        .timeout_read(options.read_timeout)
        .build();
    let response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, _) => {
            download_error(url, format!("the server answered HTTP {code}"))
        }
        ureq::Error::Transport(t) => download_error(url, format!("cannot connect or read: {t}")),
    })?;
    let declared: Option<u64> = response
        .header("Content-Length")
        .and_then(|v| v.parse().ok());
    let mut reader = response.into_reader();
    let mut file = std::fs::File::create(tmp).map_err(|source| Error::Io {
        path: tmp.to_path_buf(),
        source,
    })?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut received: u64 = 0;
    loop {
        let n = reader.read(&mut buffer).map_err(|e| {
            download_error(
                url,
                format!("the transfer broke after {received} bytes: {e}"),
            )
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n]).map_err(|source| Error::Io {
            path: tmp.to_path_buf(),
            source,
        })?;
        received += n as u64;
    }
    if let Some(declared) = declared {
        if received != declared {
            return Err(download_error(
                url,
                format!("the connection closed after {received} of {declared} bytes"),
            ));
        }
    }
    file.sync_all().map_err(|source| Error::Io {
        path: tmp.to_path_buf(),
        source,
    })?;
    let found = format!("{:x}", hasher.finalize());
    if found != expected {
        return Err(Error::Checksum {
            path: Path::new(url).to_path_buf(),
            expected: expected.to_string(),
            found,
        });
    }
    Ok(())
}
