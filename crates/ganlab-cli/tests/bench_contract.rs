//! The metric rows of `cargo xtask bench` on tiny inputs: both sides run, print the
//! `key value` contract (rate last), and the Fréchet distances agree with scipy's `sqrtm` route.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

fn python() -> PathBuf {
    let p = root().join(".venv").join("bin").join("python");
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask setup` first",
        p.display()
    );
    p
}

/// Runs a command and returns its `key value` lines, checking that the last one is `rate`.
fn report(cmd: &mut Command, rate: &str) -> BTreeMap<String, String> {
    let out = cmd.output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{cmd:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("{rate} ")),
        "{cmd:?} must end with `{rate} <value>`: {stdout}"
    );
    stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn number(r: &BTreeMap<String, String>, key: &str) -> f64 {
    r.get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number `{key}` in {r:?}"))
}

/// Writes a metric row's inputs into `dir` with the reference script (`--make-inputs DIR` plus
/// `make`), then runs `gan bench SUB --inputs DIR` and the script on them: (toolkit, reference).
fn side_by_side(
    script: &str,
    sub: &str,
    dir: &Path,
    make: &[&str],
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let script = root().join("bench").join(script);
    let ok = Command::new(python())
        .arg(&script)
        .arg("--make-inputs")
        .arg(dir)
        .args(make)
        .status()
        .expect("python");
    assert!(ok.success(), "{} --make-inputs failed", script.display());
    let ours = report(
        Command::new(env!("CARGO_BIN_EXE_gan"))
            .args(["bench", sub, "--inputs"])
            .arg(dir),
        "calls_per_s",
    );
    let reference = report(
        Command::new(python()).arg(&script).arg("--inputs").arg(dir),
        "calls_per_s",
    );
    (ours, reference)
}

#[test]
fn frechet_rows_agree_with_scipy_and_swd_rows_run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let gan = env!("CARGO_BIN_EXE_gan");

    let (ours, scipy) = side_by_side(
        "frechet_scipy.py",
        "frechet",
        &tmp.path().join("frechet"),
        &["--dim", "64", "--n", "256"],
    );
    let (a, b) = (number(&ours, "value"), number(&scipy, "value"));
    assert!(
        (a - b).abs() <= 1e-9 * b.abs(),
        "toolkit {a} vs scipy sqrtm {b}"
    );
    assert!(number(&ours, "peak_rss_mb") > 0.0 && number(&scipy, "peak_rss_mb") > 0.0);

    let (ours, numpy) = side_by_side(
        "swd_numpy.py",
        "swd",
        &tmp.path().join("swd"),
        &["--n", "16", "--resolution", "32"],
    );
    // Different random draws: the same order of magnitude, not the same value.
    let (a, b) = (number(&ours, "value"), number(&numpy, "value"));
    assert!(
        a > 0.0 && b > 0.0 && a / b < 2.0 && b / a < 2.0,
        "toolkit {a} vs numpy {b}"
    );

    let err = Command::new(gan)
        .args(["bench", "swd", "--inputs"])
        .arg(tmp.path().join("missing"))
        .output()
        .expect("run");
    assert!(!err.status.success());
    assert!(
        String::from_utf8_lossy(&err.stderr).contains("a.npy"),
        "the error names the missing file"
    );
}
