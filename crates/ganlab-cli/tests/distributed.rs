//! Data-parallel training through c10d (Gloo on 127.0.0.1), launched the three ways users launch
//! it: `gan train --nproc-per-node 2`, `torchrun --nproc-per-node 2 --no-python gan train`, and
//! two processes started by hand with torchrun's variables.
//!
//! "The same parameters" is measured per network as ‖θ₂ − θ₁‖ / ‖θ₁‖ ≤ 1e-5 over all of G's (D's,
//! G_ema's) parameters: two ranks average per-rank means where one process takes one mean, so the
//! sums are rounded in another order; single elements can differ more (an element whose
//! gradient is at rounding level can take Adam's first step either way; a bias that is a sum
//! cancelling to almost 0 keeps only a few correct digits), the network as a whole cannot.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tch::Tensor;

fn gan() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gan"));
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run gan");
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    t
}

/// On the CPU, without the report, TensorBoard files or evaluations: what every run here adds.
const CPU_QUIET: &[&str] = &[
    "--device",
    "cpu",
    "--no-report",
    "--no-tb",
    "--eval-every-kimg",
    "0",
];

const RING8: &[&str] = &[
    "train",
    "--dataset",
    "ring8",
    "--kimg",
    "1.024",
    "--tick-kimg",
    "0.512",
    "--device",
    "cpu",
    "--seed",
    "3",
    "--no-report",
    "--no-tb",
    "--eval-every-kimg",
    "0",
    // G's moving average (compared with the networks): it must follow one process's too.
    "--ema-kimg",
    "0.256",
];

/// The networks of a run's newest snapshot, by prefix (`G`, `D`, `G_ema`).
fn networks(dir: &Path) -> Vec<(String, Tensor)> {
    let path = ganlab_run::train::newest_snapshot(dir)
        .expect("list")
        .unwrap_or_else(|| panic!("no snapshot in {}", dir.display()));
    let mut t =
        Tensor::read_safetensors(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    t.retain(|(k, _)| k.starts_with("G.") || k.starts_with("D.") || k.starts_with("G_ema."));
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

/// ‖θ_b − θ_a‖ / ‖θ_a‖ per network of two runs' newest snapshots.
fn relative_differences(a: &Path, b: &Path) -> Vec<(String, f64)> {
    let (a, b) = (networks(a), networks(b));
    assert_eq!(a.len(), b.len());
    ["G.", "D.", "G_ema."]
        .iter()
        .filter_map(|net| {
            let pick = |v: &[(String, Tensor)]| {
                let parts: Vec<Tensor> = v
                    .iter()
                    .filter(|(k, _)| k.starts_with(net))
                    .map(|(_, t)| t.to_kind(tch::Kind::Double).reshape([-1]))
                    .collect();
                (!parts.is_empty()).then(|| Tensor::cat(&parts, 0))
            };
            let (x, y) = (pick(&a)?, pick(&b)?);
            let rel = (&y - &x).norm().double_value(&[]) / x.norm().double_value(&[]);
            Some((net.trim_end_matches('.').to_string(), rel))
        })
        .collect()
}

fn assert_same_training(one: &Path, two: &Path, tolerance: f64) {
    let diffs = relative_differences(one, two);
    assert!(!diffs.is_empty());
    for (net, rel) in &diffs {
        assert!(
            *rel <= tolerance,
            "{net}: relative difference {rel:e} > {tolerance:e} ({diffs:?})"
        );
    }
    eprintln!("{} vs {}: {diffs:?}", one.display(), two.display());
}

fn stats_losses(dir: &Path) -> Vec<(f64, f64)> {
    std::fs::read_to_string(dir.join("stats.jsonl"))
        .expect("stats")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            (
                v["loss_d"].as_f64().expect("loss_d"),
                v["loss_g"].as_f64().expect("loss_g"),
            )
        })
        .collect()
}

fn torchrun() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/torchrun")
}

#[test]
fn two_ranks_of_the_toy_pair_train_what_one_process_trains_however_launched() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (one, two, tr) = (
        tmp.path().join("one"),
        tmp.path().join("two"),
        tmp.path().join("torchrun"),
    );
    run_ok(gan().args(RING8).arg("--run-dir").arg(&one));
    let log = run_ok(
        gan()
            .args(RING8)
            .arg("--run-dir")
            .arg(&two)
            .args(["--nproc-per-node", "2"]),
    );
    assert!(
        log.contains("all 2 ranks hold bit-identical networks"),
        "{log}"
    );
    assert_same_training(&one, &two, 1e-5);
    assert!(
        relative_differences(&one, &two)
            .iter()
            .any(|(n, _)| n == "G_ema"),
        "G's moving average compared"
    );
    // The statistics are the global batch's: the mean over ranks of per-rank means.
    let (s1, s2) = (stats_losses(&one), stats_losses(&two));
    assert_eq!(s1.len(), s2.len());
    for ((d1, g1), (d2, g2)) in s1.iter().zip(&s2) {
        assert!((d1 - d2).abs() <= 1e-4 * d1.abs(), "loss_d {d1} vs {d2}");
        assert!((g1 - g2).abs() <= 1e-4 * g1.abs(), "loss_g {g1} vs {g2}");
    }
    // Rank 0 alone wrote the run directory: one config, one stats line per tick.
    assert!(two.join("config.json").is_file() && two.join("log.txt").is_file());
    // torchrun (the venv's PyTorch) launches the same binary the same way: its agent serves the
    // store, and the run is the one `--nproc-per-node 2` trained, bit for bit.
    let out = Command::new(torchrun())
        .args([
            "--nproc-per-node",
            "2",
            "--no-python",
            env!("CARGO_BIN_EXE_gan"),
        ])
        .args(RING8)
        .arg("--run-dir")
        .arg(&tr)
        .output()
        .expect("run torchrun");
    assert!(out.status.success(), "{}", text(&out));
    let snapshot = |d: &Path| {
        let p = ganlab_run::train::newest_snapshot(d)
            .expect("list")
            .expect("snapshot");
        std::fs::read(p).expect("read")
    };
    assert!(
        snapshot(&tr) == snapshot(&two),
        "torchrun's run differs from --nproc-per-node 2's"
    );
}

/// The toy pair's `RING8` run for `kimg` in `precision`, with `extra` arguments.
fn ring8_in(precision: &str, kimg: &str, extra: &[&str]) -> Command {
    let mut cmd = gan();
    let mut args = RING8.to_vec();
    let at = args.iter().position(|a| *a == "--kimg").expect("--kimg") + 1;
    args[at] = kimg;
    cmd.args(args).args(["--precision", precision]).args(extra);
    cmd
}

/// The `amp_*` fields of every tick: the loss scalers' scales and skipped shares.
fn scaler_stats(dir: &Path) -> Vec<Vec<(String, f64)>> {
    std::fs::read_to_string(dir.join("stats.jsonl"))
        .expect("stats")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            let mut amp: Vec<(String, f64)> = v
                .as_object()
                .expect("a stats line")
                .iter()
                .filter(|(k, _)| k.starts_with("amp_"))
                .map(|(k, x)| (k.clone(), x.as_f64().expect("a number")))
                .collect();
            amp.sort_by(|a, b| a.0.cmp(&b.0));
            amp
        })
        .collect()
}

/// Data-parallel = one process holds in reduced precision, to the type's rounding: two ranks
/// still hold bit-identical networks (each snapshot's SHA-256 check), but each rank's gradients
/// come out of its half of the batch rounded to the reduced type before they are averaged, so
/// the parameters follow one process's only within that rounding (bfloat16's unit is 2^-8 =
/// 3.9e-3; measured: 1.4e-4 to 2.4e-4 relative after 4 bf16 steps, where bf16 itself ends 5e-4
/// to 6e-4 from fp32, and 2.9e-4 to 3.6e-4 after 16 fp16 steps; float32's two ranks are within
/// 5e-8). float16's loss scalers see the averaged gradients, so both ranks skip the same steps
/// as one process at the same scales, tick for tick.
#[test]
fn two_ranks_in_bf16_and_fp16_train_what_one_process_trains_to_the_type_s_rounding() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = |name: &str| tmp.path().join(name);
    for (precision, kimg, tolerance) in [("bf16", "1.024", 2e-3), ("fp16", "4.096", 2e-3)] {
        let (one, two) = (
            dir(&format!("{precision}-1")),
            dir(&format!("{precision}-2")),
        );
        run_ok(ring8_in(precision, kimg, &[]).arg("--run-dir").arg(&one));
        let log = run_ok(
            ring8_in(precision, kimg, &["--nproc-per-node", "2"])
                .arg("--run-dir")
                .arg(&two),
        );
        assert!(
            log.contains("all 2 ranks hold bit-identical networks"),
            "{precision}: {log}"
        );
        assert_same_training(&one, &two, tolerance);
        let (s1, s2) = (scaler_stats(&one), scaler_stats(&two));
        assert_eq!(s1, s2, "{precision}: the loss scalers' course");
        if precision == "fp16" {
            // The scalers are at work: D's first steps overflow at 2^16 and are skipped.
            assert!(
                s1[0].iter().any(|(k, v)| k == "amp_skipped_d" && *v > 0.0),
                "{s1:?}"
            );
        } else {
            assert!(
                s1.iter().all(|t| t.is_empty()),
                "bf16 needs no scaler: {s1:?}"
            );
            // The reduced type is in effect on the two ranks: they end away from float32's run.
            let fp32 = dir("fp32-1");
            run_ok(ring8_in("fp32", kimg, &[]).arg("--run-dir").arg(&fp32));
            for (net, rel) in relative_differences(&fp32, &two) {
                assert!(rel > 1e-5, "{net}: two bf16 ranks end as fp32 ({rel:e})");
            }
        }
    }
}

/// Conditioned on Fashion-MNIST's classes (`--cond`), so that each rank's slice of every batch
/// carries its labels (the unconditional pair is the toy test's).
#[test]
fn two_ranks_of_a_conditional_progan_8x8_without_minibatch_stddev_train_what_one_process_trains() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    // 4x4 stable, the fade-in to 8x8 and 8x8 stable: 6 generator steps of 64 images.
    let args = [
        "train",
        "--preset",
        "progan-fashion32",
        "--cond",
        "--resolution",
        "8",
        "--set",
        "progan.schedule.final_resolution=8",
        "--set",
        "progan.mbstd_group_size=1",
        "--set",
        "progan.fmap_base=64",
        "--set",
        "progan.fmap_max=16",
        "--set",
        "progan.schedule.lod_training_kimg=0.128",
        "--set",
        "progan.schedule.lod_transition_kimg=0.128",
        "--kimg",
        "0.384",
        "--tick-kimg",
        "0.128",
        "--device",
        "cpu",
        "--no-report",
        "--no-tb",
        // One evaluation at the end: FID and KID of 101 samples, which two ranks sample and
        // extract features of, 51 and 50 (a padded share), for rank 0 to gather.
        "--eval-every-kimg",
        "0.384",
        "--eval-metrics",
        "fid,kid",
        "--eval-n",
        "101",
    ];
    run_ok(gan().args(args).arg("--run-dir").arg(&one));
    run_ok(
        gan()
            .args(args)
            .arg("--run-dir")
            .arg(&two)
            .args(["--nproc-per-node", "2"]),
    );
    assert_same_training(&one, &two, 1e-5);
    let diffs = relative_differences(&one, &two);
    assert!(diffs.iter().any(|(n, _)| n == "G_ema"), "{diffs:?}");
    let tables: Vec<_> = networks(&two)
        .into_iter()
        .filter(|(n, _)| {
            n.ends_with("class_embed.weight") || n.ends_with("class_projection.weight")
        })
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        tables.len(),
        3,
        "G's, G_ema's and D's class tables: {tables:?}"
    );
    // The evaluation of the spread samples is the one process's.
    let eval = |d: &Path| {
        let text = std::fs::read_to_string(d.join("stats.jsonl")).expect("stats");
        let last: serde_json::Value =
            serde_json::from_str(text.lines().last().expect("a tick")).expect("json");
        let e = &last["eval"];
        (
            e["fid"].as_f64().expect("fid"),
            e["kid"].as_f64().expect("kid"),
        )
    };
    let ((fid1, kid1), (fid2, kid2)) = (eval(&one), eval(&two));
    assert!((fid1 - fid2).abs() <= 1e-4 * fid1, "FID {fid1} vs {fid2}");
    assert!(
        (kid1 - kid2).abs() <= 1e-4 * kid1.abs() + 1e-6,
        "KID {kid1} vs {kid2}"
    );
}

#[test]
fn two_ranks_of_dcgan32_hold_bit_identical_networks() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("dcgan");
    // Batch norm's statistics are per rank (PyTorch DDP's), its running averages rank 0's; G's
    // moving average (`--ema-kimg`) is updated on every rank from the same G.
    let log = run_ok(
        gan()
            .args([
                "train",
                "--dataset",
                "mnist",
                "--kimg",
                "0.256",
                "--tick-kimg",
                "0.128",
                "--snapshot-ticks",
                "1",
                "--batch-size",
                "32",
                "--set",
                "width=16",
                "--set",
                "grid_images=16",
                "--ema-kimg",
                "0.1",
                "--nproc-per-node",
                "2",
            ])
            .args(CPU_QUIET)
            .arg("--run-dir")
            .arg(&dir),
    );
    // Every snapshot compared the ranks' SHA-256 of every variable, and the run's end too.
    assert!(
        log.contains("all 2 ranks hold bit-identical networks"),
        "{log}"
    );
    assert!(dir.join("snapshot-kimg0000.13.safetensors").is_file());
    let averaged = networks(&dir)
        .iter()
        .filter(|(k, _)| k.starts_with("G_ema."))
        .count();
    assert!(averaged > 0, "the snapshot holds G's moving average");
}

fn rank(r: usize, port: u16, args: &[&str], dir: &Path) -> Child {
    gan()
        .args(args)
        .arg("--run-dir")
        .arg(dir)
        .env("WORLD_SIZE", "2")
        .env("RANK", r.to_string())
        .env("LOCAL_RANK", r.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
        .spawn()
        .expect("spawn a rank")
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn a_killed_rank_stops_the_other_which_names_it_and_the_run_resumes_with_one_or_two_ranks() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("run");
    let mut args = vec![
        "train",
        "--dataset",
        "ring8",
        "--kimg",
        "400",
        "--tick-kimg",
        "0.512",
        "--snapshot-ticks",
        "1",
        "--keep-snapshots",
        "0",
        "--dist-timeout",
        "10",
    ];
    args.extend(CPU_QUIET);
    let port = free_port();
    let mut rank0 = rank(0, port, &args, &dir);
    let mut rank1 = rank(1, port, &args, &dir);
    let start = Instant::now();
    while ganlab_run::train::newest_snapshot(&dir)
        .ok()
        .flatten()
        .is_none()
    {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no snapshot within 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    rank1.kill().expect("SIGKILL rank 1");
    let _ = rank1.wait();
    let killed = Instant::now();
    let out = loop {
        if rank0.try_wait().expect("poll").is_some() {
            break rank0.wait_with_output().expect("rank 0's output");
        }
        assert!(
            killed.elapsed() < Duration::from_secs(40),
            "rank 0 did not stop within the timeout"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    assert!(log.contains("lost rank 1"), "{log}");
    eprintln!(
        "rank 0 stopped {:.1} s after rank 1 was killed",
        killed.elapsed().as_secs_f64()
    );
    // What rank 0 listed survived whole; resume it with one rank and, from a copy, with two.
    let copy = tmp.path().join("copy");
    std::fs::create_dir_all(&copy).expect("mkdir");
    for entry in std::fs::read_dir(&dir).expect("ls") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            std::fs::copy(&path, copy.join(path.file_name().expect("name"))).expect("copy");
        }
    }
    let resumed_at = ganlab_run::train::newest_snapshot(&dir)
        .expect("list")
        .expect("snapshot");
    Tensor::read_safetensors(&resumed_at).expect("the newest snapshot is whole");
    let more = |d: &Path| {
        let mut cmd = gan();
        cmd.args(["train", "--resume"]).arg(d).args([
            "--kimg",
            "3",
            "--allow-config-change",
            "--no-report",
            "--dist-timeout",
            "10",
        ]);
        cmd
    };
    run_ok(&mut more(&dir));
    let log = run_ok(more(&copy).args(["--nproc-per-node", "2"]));
    assert!(log.contains("resumed at"), "{log}");
    assert_same_training(&dir, &copy, 1e-5);
}

/// Rank `rank` of two started alone, with the store at 127.0.0.1:`port` and a 3 s timeout.
fn lone_rank(rank: usize, port: u16) -> Output {
    gan()
        .args(RING8)
        .args(["--run-dir", "unused", "--dist-timeout", "3"])
        .env("WORLD_SIZE", "2")
        .env("RANK", rank.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
        .output()
        .expect("run gan")
}

#[test]
fn launch_mistakes_are_clear_errors() {
    // A rank whose master is not there gives up within the timeout, naming where it looked.
    let start = Instant::now();
    let out = lone_rank(1, free_port());
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("rendezvous at 127.0.0.1:") && log.contains("MASTER_PORT"),
        "{log}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    // Rank 0 cannot serve the store on a port that is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let out = lone_rank(0, port);
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains(&format!("could not serve the store on port {port}")),
        "{log}"
    );
    assert!(log.contains("choose another with MASTER_PORT"), "{log}");
    drop(taken);
    // torchrun's variables half set.
    let out = gan()
        .args(RING8)
        .env("WORLD_SIZE", "2")
        .output()
        .expect("run gan");
    assert!(
        text(&out).contains("WORLD_SIZE=2 is set but RANK is not"),
        "{}",
        text(&out)
    );
    // A global batch that does not split across the ranks, refused before a run directory is
    // made (and by every rank's trainer, for research code that builds its own).
    let tmp = tempfile::tempdir().expect("tmp");
    let out = gan()
        .args(RING8)
        .args(["--batch-size", "255", "--nproc-per-node", "2", "--run-dir"])
        .arg(tmp.path().join("odd"))
        .output()
        .expect("run gan");
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("batch size 255 does not split across 2 ranks"),
        "{log}"
    );
    assert!(!tmp.path().join("odd").exists(), "{log}");
}

/// `config.json`'s record of the threads: every rank's count and rank 0's reason.
fn threads_of(dir: &Path) -> (Vec<u64>, String) {
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("config.json")).expect("config.json"),
    )
    .expect("JSON");
    let per_rank = config["threads_per_rank"]
        .as_array()
        .unwrap_or_else(|| panic!("threads_per_rank in {config}"))
        .iter()
        .map(|n| n.as_u64().expect("a count"))
        .collect();
    let reason = config["threads_reason"]
        .as_str()
        .expect("reason")
        .to_string();
    (per_rank, reason)
}

#[test]
fn local_ranks_divide_the_cores_unless_the_user_chose_the_threads() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let share = (cores / 2).max(1) as u64;
    let two_ranks = |name: &str, omp: Option<&str>, extra: &[&str]| {
        let dir = tmp.path().join(name);
        let mut cmd = gan();
        cmd.args(RING8)
            .args(["--kimg", "0.512", "--nproc-per-node", "2"])
            .args(extra)
            .arg("--run-dir")
            .arg(&dir)
            .env_remove("OMP_NUM_THREADS")
            .env_remove("LOCAL_WORLD_SIZE");
        if let Some(n) = omp {
            cmd.env("OMP_NUM_THREADS", n);
        }
        run_ok(&mut cmd);
        threads_of(&dir)
    };
    // No setting: each of the two ranks takes half the cores (at least one).
    let (per_rank, reason) = two_ranks("default", None, &[]);
    assert_eq!(per_rank, [share, share], "{reason}");
    assert!(reason.contains("shared by 2 local ranks"), "{reason}");
    // The user's OMP_NUM_THREADS and --threads are kept (2 each, above a 2-core machine's share).
    let (per_rank, reason) = two_ranks("omp", Some("2"), &[]);
    assert_eq!(per_rank, [2, 2], "{reason}");
    assert_eq!(reason, "OMP_NUM_THREADS=2");
    let (per_rank, reason) = two_ranks("flag", None, &["--threads", "2"]);
    assert_eq!(per_rank, [2, 2], "{reason}");
    assert_eq!(reason, "--threads 2");
}
