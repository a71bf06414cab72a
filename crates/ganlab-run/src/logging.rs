//! The run's log: tracing events go to `<run_dir>/log.txt` and to stderr, without tearing the
//! progress bar. Only the driver installs subscribers; the libraries just emit events.

use anyhow::{Context, Result};
use indicatif::ProgressBar;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer};

/// An error and its causes on one line, as anyhow's `{:#}` writes them (`outer: cause: ...`),
/// without a cause that the message before it already ends with: an error type whose text
/// includes its source (`x: cannot read: No such file or directory (os error 2)`) would
/// otherwise show the OS's words twice.
pub fn describe(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if !text.is_empty() && text.ends_with(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// Writes whole lines to stderr while the progress bar is hidden.
#[derive(Clone)]
struct StderrAboveBar(ProgressBar);

struct LineWriter {
    bar: ProgressBar,
    buffer: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.buffer);
        self.bar.suspend(|| {
            let _ = std::io::stderr().write_all(&buffer);
        });
    }
}

impl<'a> MakeWriter<'a> for StderrAboveBar {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            bar: self.0.clone(),
            buffer: Vec::new(),
        }
    }
}

/// Sends this thread's tracing events to `<run_dir>/log.txt` (and to stderr when `echo` is set)
/// until the returned guard is dropped. The level follows `RUST_LOG` (default `info`).
pub fn log_to_run_dir(
    run_dir: &Path,
    bar: &ProgressBar,
    echo: bool,
) -> Result<tracing::subscriber::DefaultGuard> {
    let path = run_dir.join("log.txt");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open the run log {}", path.display()))?;
    // The log file also keeps the data crate's debug lines (the full error chain of a fallback
    // that stderr reports in one line); `RUST_LOG` sets both.
    let filter = |default: &str| {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
    };
    let file_layer = tracing_subscriber::fmt::layer()
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_filter(filter("info,ganlab_data=debug"));
    let stderr_layer = echo.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(StderrAboveBar(bar.clone()))
            .with_target(false)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(filter("info"))
    });
    let subscriber = tracing_subscriber::registry()
        .with(file_layer)
        .with(stderr_layer);
    Ok(tracing::subscriber::set_default(subscriber))
}

/// Sends every thread's tracing events to stderr (level from `RUST_LOG`, default `info`) for
/// the life of the process: what a command shows when nothing narrower is installed (`gan
/// generate`'s warnings, `gan eval`, events on worker threads). A run's [`log_to_run_dir`]
/// takes over on its own thread. Does nothing when a global subscriber is already set.
pub fn stderr_for_the_process() {
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")));
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer));
}

/// Sends this thread's tracing events at `level` and above to stderr only, until the returned
/// guard is dropped: the data-parallel ranks other than 0, which write no run directory.
pub fn stderr_only(level: &str) -> tracing::subscriber::DefaultGuard {
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false)
        .with_filter(EnvFilter::new(level));
    tracing::subscriber::set_default(tracing_subscriber::registry().with(layer))
}

/// A progress bar over `len` items (rate and ETA), labelled `what`.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(with_rate(
        "{msg} {wide_bar} {pos}/{len} images | {rate} | ETA {eta}",
        "img/s",
    ));
    bar.set_message(what.to_string());
    bar
}

/// A bar style from `template`, whose `{rate}` key shows the items per second with `unit`
/// to a sensible precision (`471 img/s`, `22.4 img/s`), where indicatif's own `{per_sec}`
/// prints four decimals and no unit.
pub(crate) fn with_rate(template: &str, unit: &'static str) -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template(template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .with_key(
            "rate",
            move |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&rate_text(state.per_sec(), unit));
            },
        )
}

/// Items per second as a progress bar shows them: three significant digits, at most one
/// decimal (`0.25 img/s` keeps two), and `-` before there is a rate to show.
pub fn rate_text(per_sec: f64, unit: &str) -> String {
    if !per_sec.is_finite() || per_sec <= 0.0 {
        return format!("- {unit}");
    }
    let decimals = match per_sec {
        r if r >= 100.0 => 0,
        r if r >= 1.0 => 1,
        _ => 2,
    };
    format!("{per_sec:.decimals$} {unit}")
}

#[cfg(test)]
mod rate_tests {
    use super::rate_text;

    #[test]
    fn rates_show_a_unit_and_a_sensible_precision() {
        assert_eq!(rate_text(471.2406, "img/s"), "471 img/s");
        assert_eq!(rate_text(22.4686, "img/s"), "22.5 img/s");
        assert_eq!(rate_text(0.2512, "img/s"), "0.25 img/s");
        assert_eq!(rate_text(0.0, "img/s"), "- img/s");
        assert_eq!(rate_text(f64::INFINITY, "img/s"), "- img/s");
    }
}

#[cfg(test)]
mod describe_tests {
    use super::describe;

    /// An error whose text includes its source, as `ganlab_data::Error::Io` and
    /// `ganlab_files::FileError` do.
    #[derive(Debug)]
    struct Embeds {
        source: std::io::Error,
    }

    impl std::fmt::Display for Embeds {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "x.bin: cannot read: {}", self.source)
        }
    }

    impl std::error::Error for Embeds {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn a_cause_the_message_already_ends_with_is_shown_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let err = anyhow::Error::new(Embeds { source: io }).context("writing x.bin");
        assert_eq!(
            format!("{err:#}"),
            "writing x.bin: x.bin: cannot read: gone: gone"
        );
        assert_eq!(describe(&err), "writing x.bin: x.bin: cannot read: gone");
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(describe(&plain), format!("{plain:#}"));
    }
}
