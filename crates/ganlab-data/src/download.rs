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

/// Hosts (`host:port`) that could not be reached in this process: they are not tried again
/// within the same run, so a machine without network access pays for the attempt once.
static UNREACHABLE_HOSTS: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// The `host:port` part of a URL.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_string()
}

fn unreachable_hosts() -> std::sync::MutexGuard<'static, std::collections::BTreeSet<String>> {
    UNREACHABLE_HOSTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Why a download failed, in a few words: `DNS`, `connection refused`, `timeout`, `HTTP 404`, ...
/// (the full message goes to the log at debug level).
pub fn short_reason(err: &Error) -> String {
    let text = err.to_string();
    let lower = text.to_lowercase();
    if lower.contains("dns") || lower.contains("lookup address") {
        "DNS".into()
    } else if lower.contains("refused") {
        "connection refused".into()
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "timeout".into()
    } else if let Some(code) = text.split("answered HTTP ").nth(1) {
        format!("HTTP {}", code.split_whitespace().next().unwrap_or("error"))
    } else if lower.contains("unreached earlier") {
        "unreachable earlier in this run".into()
    } else {
        "download failed".into()
    }
}

/// Lowercase hex sha256 of a file, or `None` when it cannot be read.
pub fn sha256_of_file(path: &Path) -> Option<String> {
    ganlab_files::sha256_of_file(path).ok()
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
    std::fs::create_dir_all(dir).map_err(|source| {
        Error::File(ganlab_files::FileError {
            action: "create the folder",
            path: dir.to_path_buf(),
            source,
        })
    })?;
    let host = host_of(url);
    if unreachable_hosts().contains(&host) {
        return Err(download_error(
            url,
            format!("{host} was unreached earlier in this run; not tried again"),
        ));
    }
    // Downloaded and verified under a temporary name; renamed only when the sha256 matched.
    ganlab_files::write_atomically(dest, |tmp| download_to(url, tmp, expected, options))?;
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
        ureq::Error::Transport(t) => {
            // Nothing answered: the host is not tried again in this process.
            unreachable_hosts().insert(host_of(url));
            download_error(url, format!("cannot connect or read: {t}"))
        }
    })?;
    let declared: Option<u64> = response
        .header("Content-Length")
        .and_then(|v| v.parse().ok());
    let mut reader = response.into_reader();
    let file_error = |action: &'static str| {
        move |source| {
            Error::File(ganlab_files::FileError {
                action,
                path: tmp.to_path_buf(),
                source,
            })
        }
    };
    let mut file = std::fs::File::create(tmp).map_err(file_error("create"))?;
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
        file.write_all(&buffer[..n]).map_err(file_error("write"))?;
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
    file.sync_all().map_err(file_error("fsync"))?;
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
