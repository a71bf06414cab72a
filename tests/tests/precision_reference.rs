//! DCGAN-32's training step under bf16 (libtorch's autocast on the CPU) against PyTorch's
//! `torch.autocast("cpu", bfloat16)` step of the same computation (`bench/dcgan32_step.py
//! --replay`): from the same initial weights and the same batches, three steps of the
//! non-saturating game with Adam give the same D and G losses: the same operations in the same
//! types (measured: equal to the 7 printed digits), |Δloss| ≤ 1e-5, in bf16 and, as the
//! baseline, float32. bf16's losses differ from float32's by about 1e-3, so the check tells
//! the two apart.

use ganlab_train::Precision;
use std::path::Path;

fn pytorch_losses(dir: &Path, precision: &str, steps: usize) -> Vec<(f64, f64)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("bench/dcgan32_step.py"))
        .args(["--channels", "1", "--device", "cpu", "--steps"])
        .arg(steps.to_string())
        .arg("--replay")
        .arg(dir)
        .args(["--precision", precision])
        .env("PYTHONPATH", root.join("bench"))
        .output()
        .expect("run the venv's python");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter_map(|l| l.strip_prefix("step "))
        .map(|l| {
            let v: Vec<f64> = l
                .split(' ')
                .skip(1)
                .map(|x| x.parse().expect("loss"))
                .collect();
            (v[0], v[1])
        })
        .collect()
}

#[test]
fn a_bf16_dcgan32_step_equals_pytorch_autocast() {
    let _rng = ganlab_tests::global_rng_lock();
    let mut first_d = Vec::new();
    for (precision, name, tolerance) in [
        (Precision::Fp32, "fp32", 1e-5),
        (Precision::Bf16, "bf16", 1e-5),
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        let ours = ganlab_cli::bench::dcgan32_losses(
            1,
            3,
            0,
            tch::Device::Cpu,
            Some(dir.path()),
            precision,
        )
        .expect("toolkit steps");
        let theirs = pytorch_losses(dir.path(), name, 3);
        assert_eq!(ours.len(), theirs.len());
        first_d.push(ours[0].0);
        for (i, ((d, g), (pd, pg))) in ours.iter().zip(&theirs).enumerate() {
            eprintln!("{name} step {i}: D {d:.7} vs {pd:.7}, G {g:.7} vs {pg:.7}");
            assert!(
                (d - pd).abs() <= tolerance && (g - pg).abs() <= tolerance,
                "{name} step {i}: toolkit D {d}, G {g}; PyTorch D {pd}, G {pg}"
            );
        }
    }
    assert!(
        (first_d[0] - first_d[1]).abs() > 1e-4,
        "bf16's first D loss {} is float32's {}: the step did not run in bf16",
        first_d[1],
        first_d[0]
    );
}
