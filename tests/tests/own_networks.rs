//! Research code's own networks (`src/bin/own-networks.rs`: a G and a D written there, registered
//! at start-up, not part of the toolkit's registry) get the whole run the command line gets:
//! ticks, evaluations, the best snapshot, a report, and an exact resume after SIGKILL.

use ganlab_tests::kill::{jitter, kill_after_a_snapshot, newest_snapshot, run_to_end, snapshots};
use std::path::Path;
use std::process::{Command, Stdio};
use tch::Tensor;

const ARGS: &[&str] = &[
    "train",
    "--arch",
    "own-mlp",
    "--dataset",
    "ring8",
    "--kimg",
    "256",
    "--tick-kimg",
    "8",
    "--snapshot-ticks",
    "1",
    "--keep-snapshots",
    "2",
    "--eval-every-kimg",
    "64",
    "--eval-n",
    "500",
    "--device",
    "cpu",
    "--seed",
    "11",
];

fn own_networks() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_own-networks"));
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    cmd
}

fn sorted_tensors(path: &Path) -> Vec<(String, Tensor)> {
    let mut t =
        Tensor::read_safetensors(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

fn assert_same_tensors(a: &Path, b: &Path) {
    let (a, b) = (sorted_tensors(a), sorted_tensors(b));
    assert_eq!(a.len(), b.len());
    for ((name_a, ta), (name_b, tb)) in a.iter().zip(&b) {
        assert_eq!(name_a, name_b);
        assert!(ta.equal(tb), "{name_a} differs after kill and resume");
    }
}

/// Every kept `stats.jsonl` line without its clocks (which differ between processes).
fn ticks_without_clocks(dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("stats.jsonl")).expect("stats.jsonl");
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value =
                serde_json::from_str(l).expect("every kept line is whole JSON");
            let object = v.as_object_mut().expect("an object");
            for clock in [
                "wall_s",
                "train_s",
                "images_per_s",
                "data_wait_share",
                "warnings",
            ] {
                object.remove(clock);
            }
            v
        })
        .collect()
}

#[test]
fn own_networks_train_evaluate_snapshot_report_and_resume_exactly_after_sigkill() {
    let tmp = tempfile::tempdir().expect("tmp");
    let reference = tmp.path().join("reference");
    let killed = tmp.path().join("killed");
    run_to_end(own_networks().args(ARGS).arg("--run-dir").arg(&reference));

    // The run directory holds what a registry architecture's run holds.
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reference.join("config.json")).expect("config.json"),
    )
    .expect("config JSON");
    assert_eq!(config["arch"], "own-mlp");
    let ticks = ticks_without_clocks(&reference);
    assert_eq!(ticks.len(), 32, "one stats line per 8 kimg");
    let evaluated: Vec<&serde_json::Value> =
        ticks.iter().filter(|t| t.get("eval").is_some()).collect();
    assert_eq!(evaluated.len(), 4, "an evaluation every 64 kimg: {ticks:?}");
    assert!(
        evaluated[3]["eval"]["modes"].as_f64().is_some(),
        "toy metrics evaluated: {:?}",
        evaluated[3]
    );
    assert!(reference.join("best.safetensors").is_file());
    assert!(reference.join("outcome.json").is_file());
    let report = std::fs::read_to_string(reference.join("report").join("report.md"))
        .expect("the report of the run");
    assert!(report.contains("own-mlp"), "{report}");

    // Killed twice at moments that vary between runs of this test, then resumed to the end.
    kill_after_a_snapshot(
        own_networks().args(ARGS).arg("--run-dir").arg(&killed),
        &killed,
        jitter(0, 200),
    );
    kill_after_a_snapshot(
        own_networks().arg("train").arg("--resume").arg(&killed),
        &killed,
        jitter(0x3c3c, 200),
    );
    run_to_end(own_networks().arg("train").arg("--resume").arg(&killed));

    let final_snapshot = |dir: &Path| newest_snapshot(dir).expect("a final snapshot");
    let (a, b) = (final_snapshot(&reference), final_snapshot(&killed));
    assert_eq!(a.file_name(), b.file_name());
    assert_same_tensors(&a, &b);
    assert_same_tensors(
        &reference.join("best.safetensors"),
        &killed.join("best.safetensors"),
    );
    assert_eq!(
        ticks_without_clocks(&reference),
        ticks_without_clocks(&killed),
        "every tick's statistics and evaluations are the same"
    );
    assert!(killed.join("report").join("report.md").is_file());
    // Retention kept the newest two periodic snapshots in both runs.
    assert_eq!(snapshots(&reference), 2);
    assert_eq!(snapshots(&killed), 2);
}
