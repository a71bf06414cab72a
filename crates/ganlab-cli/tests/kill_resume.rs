//! A run killed with SIGKILL and resumed ends with the same parameters, optimiser states and
//! statistics as an uninterrupted run of the same seed. The kill is real: the `gan` process is
//! killed twice, at moments that vary from run to run (possibly in the middle of writing a
//! snapshot or a stats line), and resumed with `gan train --resume` each time.

// The process-killing helpers shared with `tests/tests/own_networks.rs` (this package cannot
// depend on the `ganlab-tests` package, which depends on it).
#[path = "../../../tests/src/kill.rs"]
mod kill;

use kill::{jitter, kill_after_a_snapshot, run_to_end, snapshots};
use std::path::Path;
use std::process::{Command, Stdio};
use tch::Tensor;

const ARGS: &[&str] = &[
    "train",
    "--preset",
    "toy-ring8",
    "--kimg",
    "40",
    "--tick-kimg",
    "1",
    "--snapshot-ticks",
    "1",
    "--keep-snapshots",
    "2",
    "--device",
    "cpu",
    "--seed",
    "7",
    "--no-report",
];

fn gan() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gan"));
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    cmd
}

fn final_tensors(dir: &Path) -> Vec<(String, Tensor)> {
    let path = ganlab_run::train::newest_snapshot(dir)
        .expect("list")
        .expect("a final snapshot");
    assert!(
        path.to_string_lossy().contains("snapshot-kimg0040.19"),
        "40 kimg of 256-sample batches end at 40.192: {}",
        path.display()
    );
    let mut t =
        Tensor::read_safetensors(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

fn losses(dir: &Path) -> Vec<(u64, String, String)> {
    let text = std::fs::read_to_string(dir.join("stats.jsonl")).expect("stats");
    text.lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).expect("every kept line is whole JSON");
            (
                v["tick"].as_u64().expect("tick"),
                v["loss_d"].to_string(),
                v["loss_g"].to_string(),
            )
        })
        .collect()
}

#[test]
fn sigkill_at_any_moment_then_resume_equals_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let reference = tmp.path().join("reference");
    let killed = tmp.path().join("killed");
    run_to_end(gan().args(ARGS).arg("--run-dir").arg(&reference));

    // Two kills at moments that differ between runs of this test (sub-second clock noise).
    kill_after_a_snapshot(
        gan().args(ARGS).arg("--run-dir").arg(&killed),
        &killed,
        jitter(0, 400),
    );
    let after_first = snapshots(&killed);
    kill_after_a_snapshot(
        gan()
            .arg("train")
            .arg("--resume")
            .arg(&killed)
            .arg("--no-report"),
        &killed,
        jitter(0x5a5a, 400),
    );
    assert!(snapshots(&killed) >= after_first);
    run_to_end(
        gan()
            .arg("train")
            .arg("--resume")
            .arg(&killed)
            .arg("--no-report"),
    );

    let (a, b) = (final_tensors(&reference), final_tensors(&killed));
    assert_eq!(a.len(), b.len());
    for ((name_a, ta), (name_b, tb)) in a.iter().zip(&b) {
        assert_eq!(name_a, name_b);
        assert!(ta.equal(tb), "{name_a} differs after kill and resume");
    }
    assert_eq!(
        losses(&reference),
        losses(&killed),
        "the statistics of every tick are the same"
    );
    // Retention kept the newest two snapshots in both runs.
    assert_eq!(snapshots(&reference), 2);
    assert_eq!(snapshots(&killed), 2);
}
