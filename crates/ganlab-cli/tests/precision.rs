//! `--precision bf16`: the training step under libtorch's autocast equals PyTorch's
//! `torch.autocast('cpu', torch.bfloat16)` step on the same weights and batches
//! (`bench/dcgan32_step.py --replay`, the same autocast regions: G's forward, D's forwards and
//! the losses on float32 logits), for DCGAN-32's non-saturating step and ProGAN's WGAN-GP step
//! with its double backward (`bench/progan_step.py --replay`), and bad values are named.

use std::path::Path;
use std::process::Command;

fn losses(text: &str) -> Vec<(f64, f64)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("step "))
        .map(|l| {
            let v: Vec<f64> = l
                .split_whitespace()
                .skip(1)
                .map(|x| x.parse().expect("a number"))
                .collect();
            (v[0], v[1])
        })
        .collect()
}

/// What `cmd` printed, asserting that it succeeded.
fn stdout_of(mut cmd: Command) -> String {
    let out = cmd.output().expect("run the command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `gan bench losses` with `args`, dumping its weights and batches into `dir`.
fn toolkit_losses_of(args: &[&str], dir: &Path, precision: &str) -> Vec<(f64, f64)> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gan"));
    cmd.args(["bench", "losses", "--device", "cpu"])
        .args(args)
        .args(["--precision", precision, "--dump"])
        .arg(dir);
    losses(&stdout_of(cmd))
}

/// `bench/<script> --replay dir` with `args`.
fn pytorch_losses_of(script: &str, args: &[&str], dir: &Path, precision: &str) -> Vec<(f64, f64)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut cmd = Command::new(root.join(".venv/bin/python"));
    cmd.arg(root.join("bench").join(script))
        .args(args)
        .args(["--precision", precision, "--replay"])
        .arg(dir)
        .env("PYTHONPATH", root.join("bench"));
    losses(&stdout_of(cmd))
}

fn toolkit_losses(dir: &Path, precision: &str) -> Vec<(f64, f64)> {
    toolkit_losses_of(&["--steps", "4"], dir, precision)
}

fn pytorch_losses(dir: &Path, precision: &str) -> Vec<(f64, f64)> {
    pytorch_losses_of("dcgan32_step.py", &["--steps", "4"], dir, precision)
}

/// Tolerance: |ours − PyTorch's| ≤ 1e-6 + 1e-6·|PyTorch's| per loss (both run libtorch's own
/// bf16 kernels on the same inputs; measured equal to every printed digit). The bf16 step must
/// also really be bf16: it differs from the float32 step by more than 1e-4 somewhere.
#[test]
fn a_bf16_step_equals_pytorch_autocast_on_the_same_weights_and_batches() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (bf16_dir, fp32_dir) = (tmp.path().join("bf16"), tmp.path().join("fp32"));
    let ours = toolkit_losses(&bf16_dir, "bf16");
    let theirs = pytorch_losses(&bf16_dir, "bf16");
    assert_eq!(ours.len(), 4);
    assert_eq!(ours.len(), theirs.len());
    for (i, ((d, g), (td, tg))) in ours.iter().zip(&theirs).enumerate() {
        for (x, y, what) in [(d, td, "loss_d"), (g, tg, "loss_g")] {
            assert!(
                (x - y).abs() <= 1e-6 + 1e-6 * y.abs(),
                "step {i} {what}: ours {x}, PyTorch's autocast {y}"
            );
        }
    }
    let float = toolkit_losses(&fp32_dir, "fp32");
    let largest = float
        .iter()
        .zip(&ours)
        .map(|((d, g), (bd, bg))| (d - bd).abs().max((g - bg).abs()))
        .fold(0.0, f64::max);
    assert!(
        largest > 1e-4,
        "bf16 losses equal fp32's ({largest}): autocast did not act"
    );
}

#[test]
fn an_unknown_precision_is_named_with_the_valid_ones() {
    let out = Command::new(env!("CARGO_BIN_EXE_gan"))
        .args(["train", "--precision", "fp8", "--kimg", "0.1"])
        .output()
        .expect("run gan");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("`precision` must be one of fp32, bf16, fp16, got `fp8`"),
        "{stderr}"
    );
}

/// ProGAN's WGAN-GP step (λ 10, drift 0.001, the penalty's double backward inside the autocast
/// region) at 8x8 with narrow feature maps: three steps from the same weights, batches and ε
/// (the generator seeded alike before each step) equal PyTorch's, in bf16, in bf16 with only the
/// highest resolution in it (`--reduced-precision-resolutions 1`: the 4x4 blocks in float32, as
/// StyleGAN2-ADA's `num_fp16_res` keeps its low resolutions out of fp16), with every feature
/// map clamped (`--conv-clamp 0.5`, small enough to bind: StyleGAN2-ADA's `conv_clamp`) in bf16
/// and in fp16 with the highest resolution only (its GradScaler included), and in float32, with
/// the same tolerance as above (measured equal to every printed digit); the five differ.
#[test]
fn a_progan_wgan_gp_step_equals_pytorch_autocast() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut per_variant = Vec::new();
    let top_only = ["--reduced-precision-resolutions", "1"];
    let clamp = ["--conv-clamp", "0.5"];
    let fp16_top_clamp = [&top_only[..], &clamp[..]].concat();
    for (name, precision, extra) in [
        ("bf16", "bf16", &[][..]),
        ("bf16-top-only", "bf16", &top_only[..]),
        ("bf16-clamp", "bf16", &clamp[..]),
        ("fp16-top-only-clamp", "fp16", &fp16_top_clamp[..]),
        ("fp32", "fp32", &[][..]),
    ] {
        let dir = tmp.path().join(name);
        let ours_args = [&["--arch", "progan", "--steps", "3"][..], extra].concat();
        let ours = toolkit_losses_of(&ours_args, &dir, precision);
        let narrow = ["--resolution", "8", "--fmap-base", "32", "--fmap-max", "16"];
        let args = [&narrow[..], &["--batch", "8", "--steps", "3"], extra].concat();
        let theirs = pytorch_losses_of("progan_step.py", &args, &dir, precision);
        assert_eq!(ours.len(), 3);
        assert_eq!(ours.len(), theirs.len());
        for (i, ((d, g), (td, tg))) in ours.iter().zip(&theirs).enumerate() {
            for (x, y, what) in [(d, td, "loss_d"), (g, tg, "loss_g")] {
                assert!(
                    (x - y).abs() <= 1e-6 + 1e-6 * y.abs(),
                    "{name} step {i} {what}: ours {x}, PyTorch's {y}"
                );
            }
        }
        per_variant.push((name, ours));
    }
    for a in 0..per_variant.len() {
        for b in a + 1..per_variant.len() {
            let ((na, la), (nb, lb)) = (&per_variant[a], &per_variant[b]);
            let largest = la
                .iter()
                .zip(lb)
                .map(|((d, g), (fd, fg))| (d - fd).abs().max((g - fg).abs()))
                .fold(0.0, f64::max);
            assert!(largest > 1e-4, "{na} losses equal {nb}'s ({largest})");
        }
    }
}
