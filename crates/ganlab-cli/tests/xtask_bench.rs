//! `cargo xtask bench`, the one command of the benchmark issue, end to end on tiny inputs
//! (`--quick`, this build's `gan`): every row runs its toolkit side and its references in one
//! round of two steps, the DCGAN rows pass their same-losses check, the Fréchet row its
//! same-value check, with the BLAS kernel the numpy and scipy references ran; and the JSON
//! record holds every timed round and not the warm-up's (checked on the cheap Fréchet row:
//! the rounds are the same loop for every row, and each round of the training-step rows costs
//! a process start per variant, most of this test's time when every row ran three).

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// `cargo xtask bench --quick ARGS`, run from the workspace root.
fn xtask_bench_quick(args: &[&OsStr]) -> Output {
    xtask_bench_quick_command(args)
        .output()
        .expect("run cargo xtask bench")
}

fn xtask_bench_quick_command(args: &[&OsStr]) -> Command {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root)
        .args([
            "run",
            "--quiet",
            "--package",
            "xtask",
            "--",
            "bench",
            "--quick",
        ])
        .args(args);
    cmd
}

/// `cargo xtask bench --quick ARGS --gan <this build's gan> --json <dir>/results.json`, started
/// without the environment variables `without`: its output and the JSON record it wrote
/// (after checking that it succeeded).
fn quick_run_with_record(
    args: &[&str],
    dir: &Path,
    without: &[&str],
) -> (Output, serde_json::Value) {
    let json = dir.join("results.json");
    let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    all.extend([
        OsStr::new("--gan"),
        OsStr::new(env!("CARGO_BIN_EXE_gan")),
        OsStr::new("--json"),
        json.as_os_str(),
    ]);
    let mut cmd = xtask_bench_quick_command(&all);
    for name in without {
        cmd.env_remove(name);
    }
    let out = cmd.output().expect("run cargo xtask bench");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let record = serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON record"))
        .expect("valid JSON");
    (out, record)
}

#[test]
fn the_bench_command_runs_every_row() {
    let tmp = tempfile::tempdir().expect("tmp");
    let args = ["--rounds", "1", "--warmup", "0", "--steps", "2"];
    let (out, record) = quick_run_with_record(&args, tmp.path(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("same weights and batches give the same losses in both"),
        "{stderr}"
    );

    let rows = record["rows"].as_array().expect("rows");
    assert!(
        record["reference_blas"]
            .as_str()
            .is_some_and(|b| b.contains("openblas")),
        "{record}"
    );
    assert!(
        stdout.contains("reference BLAS (numpy, scipy): openblas"),
        "{stdout}"
    );
    let names: Vec<&str> = rows
        .iter()
        .filter_map(|r| r["benchmark"].as_str())
        .collect();
    for want in [
        "DCGAN-32 NS step, C=1",
        "DCGAN-32 NS step, C=3",
        "ProGAN-32 WGAN-GP step, stable",
        "ProGAN-32 WGAN-GP step, fade",
        "Fréchet distance",
        "precision/recall/density/coverage, 300 x 300",
        "SWD",
        "FID features",
        "data loader",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(want)),
            "{want} missing from {names:?}"
        );
        assert!(
            stdout.lines().any(|l| l.starts_with(&format!("| {want}"))),
            "no table line for {want}: {stdout}"
        );
    }
    for row in rows {
        assert_rounds_recorded(row, 1);
        assert_eq!(row["warmup_rounds"], 0, "{row}");
    }
    let dcgan = &rows[0];
    assert_eq!(dcgan["same_losses"]["steps"], 5, "{dcgan}");
    let frechet = rows
        .iter()
        .find(|r| {
            r["benchmark"]
                .as_str()
                .is_some_and(|n| n.starts_with("Fréchet"))
        })
        .expect("Fréchet row");
    assert!(
        frechet["value_agreement"]["relative_difference"]
            .as_f64()
            .is_some_and(|d| d <= 1e-9),
        "{frechet}"
    );
    // The SWD row times each phase on both sides: recorded per variant, and printed as a table.
    let swd = rows
        .iter()
        .find(|r| {
            r["benchmark"]
                .as_str()
                .is_some_and(|n| n.starts_with("SWD"))
        })
        .expect("SWD row");
    for v in swd["variants"].as_array().expect("variants") {
        let phases = v["phases_median_ms"].as_object().expect("phases");
        for phase in ["read", "pyramid", "gather", "normalize", "project", "sort"] {
            assert!(
                phases[phase].as_f64().is_some_and(|ms| ms >= 0.0),
                "{phase} of {v}"
            );
        }
    }
    assert!(
        stdout.contains("median ms per call by phase") && stdout.contains("| project |"),
        "{stdout}"
    );

    let missing = tmp.path().join("no-such-gan");
    let bad = xtask_bench_quick(&["--gan".as_ref(), missing.as_os_str()]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("no-such-gan: no such file"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// Every variant of `row` has `rounds` positive rates and a peak RSS, and the row a ratio to its
/// fastest reference per round and over the rounds.
fn assert_rounds_recorded(row: &serde_json::Value, rounds: usize) {
    let variants = row["variants"].as_array().expect("variants");
    assert!(variants.len() >= 2, "{row}");
    for v in variants {
        let rates: Vec<f64> = v["rounds"]
            .as_array()
            .expect("rounds")
            .iter()
            .filter_map(|x| x.as_f64())
            .collect();
        assert_eq!(rates.len(), rounds, "{row}");
        assert!(rates.iter().all(|&r| r > 0.0), "{row}");
        assert!(v["peak_rss_mb"].as_f64().is_some_and(|m| m > 0.0), "{row}");
    }
    let ratios = row["round_ratios_vs_fastest_reference"]
        .as_array()
        .expect("ratios");
    assert_eq!(ratios.len(), rounds, "{row}");
    let ratio = row["ratio_vs_fastest_reference"].as_f64().expect("ratio");
    assert!(ratio > 0.0 && ratio.is_finite(), "{row}");
}

/// Two timed rounds after the default warm-up: both recorded, the warm-up's dropped, and the
/// table line gives the spread of the per-round ratios.
#[test]
fn the_bench_command_records_every_timed_round_and_not_the_warm_up() {
    let tmp = tempfile::tempdir().expect("tmp");
    let args = ["--only", "frechet", "--rounds", "2"];
    let (out, record) = quick_run_with_record(&args, tmp.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warm-up 1/1") && stderr.contains("round 2/2"),
        "{stderr}"
    );
    let row = &record["rows"][0];
    assert_rounds_recorded(row, 2);
    // One untimed round before the two timed ones (`--warmup`, default 1).
    assert_eq!(row["warmup_rounds"], 1, "{row}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("| Fréchet distance"))
        .unwrap_or_else(|| panic!("no table line: {stdout}"));
    assert!(line.contains(" [") && line.contains("–"), "{line}");
}

/// `--cap avx2` reaches the references too: numpy and scipy load OpenBLAS's Haswell (AVX2)
/// kernel whatever this CPU has, and the record says the run was capped. The command starts
/// without the machine's own `OPENBLAS_CORETYPE`, so that only the cap can choose Haswell.
#[test]
fn the_avx2_cap_applies_to_both_sides_and_is_recorded() {
    let tmp = tempfile::tempdir().expect("tmp");
    let args = [
        "--only", "frechet", "--rounds", "1", "--warmup", "0", "--cap", "avx2",
    ];
    let (_, record) = quick_run_with_record(&args, tmp.path(), &["OPENBLAS_CORETYPE"]);
    let blas = record["reference_blas"].as_str().expect("reference_blas");
    assert!(
        !blas.is_empty() && blas.split("; ").all(|lib| lib.ends_with(" Haswell")),
        "{blas}"
    );
    let machine = record["machine"].as_str().expect("machine");
    assert!(
        machine.contains("every library capped at AVX2"),
        "{machine}"
    );
    let row = &record["rows"][0];
    assert_eq!(row["machine"], record["machine"], "{row}");
    assert_eq!(row["warmup_rounds"], 0, "{row}");
}
