//! `cargo xtask bench`: the toolkit and PyTorch scripts of exactly the same computation
//! (`bench/*.py`, run with the set-up venv's torch), alternating runs in one command, with a
//! table of medians and ratios and a JSON record.

use crate::setup;
use crate::util::{project_root, run_status};
use anyhow::{bail, Context, Result};
use std::process::Command;

fn steps_per_s(cmd: &mut Command) -> Result<f64> {
    let out = cmd.output().with_context(|| format!("cannot start {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("steps_per_s ").and_then(|v| v.trim().parse().ok()))
        .with_context(|| format!("{cmd:?} printed no `steps_per_s` line: {text}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// `cargo xtask bench [--rounds N] [--steps N]`.
pub fn run(args: &[String]) -> Result<()> {
    let mut rounds = 3usize;
    let mut steps = 30usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = it.next().with_context(|| format!("{a} needs a value"))?;
        match a.as_str() {
            "--rounds" => rounds = value.parse().with_context(|| format!("--rounds {value}"))?,
            "--steps" => steps = value.parse().with_context(|| format!("--steps {value}"))?,
            other => bail!("unknown bench option `{other}`; expected --rounds N, --steps N"),
        }
    }
    setup::ensure()?;
    let root = project_root();
    run_status(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&root)
            .args(["build", "--release", "--quiet", "--package", "ganlab-driver", "--bin", "gan"]),
    )?;
    let gan = root.join("target").join("release").join("gan");
    let python = root.join(".venv").join("bin").join("python");
    let script = root.join("bench").join("dcgan32_step.py");
    let mut rows = Vec::new();
    let mut table = String::from("| benchmark | toolkit steps/s | PyTorch steps/s | PyTorch channels-last steps/s | ratio vs faster PyTorch |\n|---|---|---|---|---|\n");
    for channels in [1, 3] {
        let (mut ours, mut torch_default, mut torch_cl) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            eprintln!("[bench] DCGAN-32 C={channels}: round {}/{rounds}", round + 1);
            let c = channels.to_string();
            let s = steps.to_string();
            ours.push(steps_per_s(Command::new(&gan).args(["bench", "train-step", "--arch", "dcgan32", "--channels", &c, "--steps", &s, "--device", "cpu"]))?);
            torch_default.push(steps_per_s(Command::new(&python).arg(&script).args(["--channels", &c, "--steps", &s]))?);
            torch_cl.push(steps_per_s(Command::new(&python).arg(&script).args(["--channels", &c, "--steps", &s, "--channels-last"]))?);
        }
        let (o, t, cl) = (median(ours), median(torch_default), median(torch_cl));
        let ratio = o / t.max(cl);
        table.push_str(&format!("| DCGAN-32 NS step, C={channels}, batch 64 | {o:.2} | {t:.2} | {cl:.2} | {ratio:.2}x |\n"));
        rows.push(serde_json::json!({
            "benchmark": format!("dcgan32-ns-step-c{channels}"),
            "toolkit_steps_per_s": o, "pytorch_steps_per_s": t, "pytorch_channels_last_steps_per_s": cl,
            "ratio_vs_faster_pytorch": ratio, "rounds": rounds, "steps": steps,
        }));
    }
    print!("{table}");
    let record = serde_json::json!({"machine": machine(), "rows": rows});
    let path = root.join("bench").join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&record)? + "\n").with_context(|| format!("cannot write {}", path.display()))?;
    println!("json: {}", path.display());
    Ok(())
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| t.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_default();
    format!("{cpus} cores, {model}")
}
