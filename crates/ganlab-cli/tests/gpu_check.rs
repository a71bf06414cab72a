//! The CPU dry run of `bench/gpu-check.sh` (the script a GPU session runs): every step runs with
//! this build's `gan` and the set-up venv's PyTorch, the correctness check passes (CPU against
//! CPU must agree exactly), the streamed run from a zip grows to its resolution and leaves a
//! snapshot, the mixed-precision steps equal PyTorch's replay of them, and the results table
//! has every row.

use std::path::Path;
use std::process::Command;

#[test]
fn gpu_check_dry_run_on_the_cpu() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..");
    let python = root.join(".venv").join("bin").join("python");
    assert!(
        python.exists(),
        "{} is missing: run `cargo xtask setup` first",
        python.display()
    );
    let out_dir = tempfile::tempdir().expect("tmp");
    // The detector as `cargo xtask gpu-pack` carries it: the graph with zero weights, as .pt.xz.
    let speed_detector = out_dir.path().join("inception-zeros.pt.xz");
    let packed = Command::new(&python)
        .arg(root.join("bench").join("make_speed_detector.py"))
        .arg("pack")
        .arg(root.join("datasets/cache/detectors/inception-2015-12-05.pt"))
        .arg(&speed_detector)
        .status()
        .expect("run bench/make_speed_detector.py");
    assert!(packed.success());
    let out = Command::new("bash")
        .arg(root.join("bench").join("gpu-check.sh"))
        .args([
            "--device",
            "cpu",
            "--quick",
            "--gan",
            env!("CARGO_BIN_EXE_gan"),
        ])
        .arg("--python")
        .arg(&python)
        .arg("--speed-detector")
        .arg(&speed_detector)
        .arg("--out")
        .arg(out_dir.path())
        .output()
        .expect("run bench/gpu-check.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("libtorch_cuda.so"),
        "ldd lists libtorch_cuda: {stdout}"
    );
    assert!(stdout.contains("cuda_available false"), "{stdout}");
    assert!(
        stdout.contains("the graph with zero weights: speed only"),
        "{stdout}"
    );
    assert!(
        stdout.contains("max relative difference 0 (tolerance 1e-2): ok"),
        "{stdout}"
    );
    let table = std::fs::read_to_string(out_dir.path().join("gpu-check.md")).expect("gpu-check.md");
    for row in [
        "DCGAN-32 NS step, C=1",
        "DCGAN-32 NS step, C=3",
        "ProGAN-32 WGAN-GP step, stable",
        "ProGAN-32 WGAN-GP step, fade",
        "FID features",
        "ProGAN-32 data-parallel, global batch 32",
        "ProGAN-32 step, real batches copied from host memory",
        "ProGAN 4x4 → 16x16 from a zip of 64 PNGs",
        "DCGAN-32 NS step, C=3, batch 64, bf16",
        "ProGAN-32 WGAN-GP step, fade, batch 16, fmaps 256/64, bf16",
        "ProGAN-32 stable bf16 / fp32 (toolkit)",
        "ProGAN-32 WGAN-GP step, stable, batch 16, fmaps 256/64, highest 3 resolutions in bf16, clamp 256",
        "ProGAN-32 stable, highest 3 resolutions in bf16, clamp 256 / fp32 (toolkit)",
    ] {
        assert!(table.contains(row), "{row} missing from {table}");
    }
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("gpu-check.json")).expect("json"),
    )
    .expect("valid JSON");
    assert_eq!(json["complete"], serde_json::Value::Bool(true), "{json}");
    let rows = json["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 19);
    // Five toolkit-vs-PyTorch rows, then 1 rank vs 2 Gloo ranks of the same global batch.
    assert!(rows[..5]
        .iter()
        .all(|r| r["toolkit"].as_f64().is_some_and(|v| v > 0.0)));
    let dp = &rows[5];
    assert_eq!(dp["ranks"].as_i64(), Some(2), "{dp}");
    for key in [
        "one_rank",
        "n_ranks",
        "comm_ms_per_step",
        "gradient_mb_per_step",
    ] {
        assert!(dp[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {dp}");
    }
    // The step with its reals copied from host memory, beside the reals held on the device,
    // and the streamed run from the zip, grown to its resolution.
    let copied = &rows[6];
    for key in ["reals_on_host", "reals_on_device", "ratio"] {
        assert!(
            copied[key].as_f64().is_some_and(|v| v > 0.0),
            "{key}: {copied}"
        );
    }
    let zip = &rows[7];
    assert_eq!(zip["resolution"].as_i64(), Some(16), "{zip}");
    assert!(zip["toolkit"].as_f64().is_some_and(|v| v > 0.0), "{zip}");
    assert!(
        stdout.contains("finished at 16x16 with a snapshot"),
        "{stdout}"
    );
    // Mixed precision: each bf16 step against PyTorch's autocast step, then the toolkit's
    // bf16/fp32 speed-up, the last pair with only the highest resolutions in bf16 and the clamp
    // (StyleGAN2-ADA's mixed precision); fp16 is skipped on a CPU, saying why.
    for (k, pair) in rows[8..16].chunks(2).enumerate() {
        let (step, speedup) = (&pair[0], &pair[1]);
        let ending = if k == 3 {
            " in bf16, clamp 256"
        } else {
            ", bf16"
        };
        assert!(
            step["benchmark"]
                .as_str()
                .is_some_and(|b| b.ends_with(ending)),
            "{step}"
        );
        for key in ["toolkit", "pytorch"] {
            assert!(step[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {step}");
        }
        assert_eq!(speedup["unit"], "speed-up", "{speedup}");
        assert!(
            speedup["toolkit"].as_f64().is_some_and(|v| v > 0.0),
            "{speedup}"
        );
    }
    assert!(stdout.contains("fp16 on a CPU"), "{stdout}");
    // Mixed precision step for step: on a CPU the toolkit's bf16 losses are PyTorch's autocast
    // losses exactly (DCGAN-32; ProGAN-8, also with the highest resolution only and the clamp).
    let names: Vec<&str> = rows[16..]
        .iter()
        .map(|r| r["benchmark"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "DCGAN-32, 4 steps in bf16 against torch.autocast",
            "ProGAN-8 WGAN-GP, 3 steps in bf16 against torch.autocast",
            "ProGAN-8 WGAN-GP, 3 steps in bf16, highest resolution only, clamp 256 against torch.autocast",
        ]
    );
    for row in &rows[16..] {
        assert_eq!(row["ok"], serde_json::Value::Bool(true), "{row}");
        assert_eq!(row["toolkit"], "0", "{row}");
    }
}
