//! The study's own record beside its runs (`study.json`) and what a page's head reads of the
//! runs: on which machine they ran, when they ended and how long they took. The head is a
//! function of the runs and their record, not of the machine or the day the page is written on:
//! `cargo xtask study NAME` on a clone writes the committed page again, byte for byte.

use super::{Plan, StudyName, StudyOptions};
use anyhow::Result;
use ganlab_run::device::DeviceChoice;
use ganlab_run::files::write_json_atomically;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The record in `runs_dir` (`study.json`), or `null` where there is none yet.
pub fn read(runs_dir: &Path) -> Value {
    std::fs::read_to_string(runs_dir.join("study.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .filter(Value::is_object)
        .unwrap_or(Value::Null)
}

/// The machine's 1-minute load average (Linux), or NaN.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// This machine in words, as a page names it: `AMD EPYC, 2 cores; device cpu (2 threads)`.
pub fn machine_words(device: DeviceChoice) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "an unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let device = device
        .resolve()
        .map_or_else(|_| device.to_string(), ganlab_run::device::describe);
    format!("{cpu}, {cores} cores; device {device}")
}

/// Records one run's session in the study's record: its wall time summed over the sessions that
/// trained it (`run_wall_s`; a run trained from the start, `from_start`, counts anew, so a run
/// made by another plan and trained again does not keep its old time), the time of every session
/// of the command (`wall_s`, runs trained again included), the machine it ran on (`run_machine`)
/// and the machine's load average at its end (a wall-clock budget buys less training on a busy
/// machine, so the page states it).
pub fn record_run(
    runs_dir: &Path,
    run: &Path,
    seconds: f64,
    from_start: bool,
    machine: &str,
) -> Result<()> {
    let mut record = match read(runs_dir) {
        Value::Null => json!({"wall_s": 0.0, "load_at_run_end": {}}),
        record => record,
    };
    record["wall_s"] = json!(record["wall_s"].as_f64().unwrap_or(0.0) + seconds);
    let name = run
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let earlier = match from_start {
        true => 0.0,
        false => record["run_wall_s"][&name].as_f64().unwrap_or(0.0),
    };
    record["run_wall_s"][&name] = json!(earlier + seconds);
    record["run_machine"][&name] = json!(machine);
    record["load_at_run_end"][name] = json!(load_average());
    write_json_atomically(&runs_dir.join("study.json"), &record)
}

/// `options` with the stopping study's pick among the grids: a pick given on the command line is
/// kept in the record (`pick_kimg`), and a command without one takes the record's, so that the
/// page written again shows the person's pick.
pub fn with_pick(plan: &Plan, options: &StudyOptions) -> Result<StudyOptions> {
    let mut options = options.clone();
    if plan.name != StudyName::Stopping {
        return Ok(options);
    }
    match options.pick_kimg {
        Some(pick) => {
            let mut record = match read(&plan.runs_dir) {
                Value::Null => json!({}),
                record => record,
            };
            if record["pick_kimg"].as_f64() != Some(pick) {
                record["pick_kimg"] = json!(pick);
                write_json_atomically(&plan.runs_dir.join("study.json"), &record)?;
            }
        }
        None => options.pick_kimg = read(&plan.runs_dir)["pick_kimg"].as_f64(),
    }
    Ok(options)
}

/// The machines the plan's runs ran on, in words: one machine, or each with its number of runs.
/// A run the record names no machine for (made before it kept one per run) takes the record's
/// `machine`, the machine the study's page named when those runs were made.
pub fn machines_words(plan: &Plan, record: &Value) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for run in plan.runs() {
        let name = run.dir.file_name().unwrap_or_default().to_string_lossy();
        let machine = record["run_machine"][name.as_ref()]
            .as_str()
            .or_else(|| record["machine"].as_str())
            .unwrap_or("not recorded");
        *counts.entry(machine.to_string()).or_insert(0) += 1;
    }
    match counts.len() {
        0 => "not recorded".into(),
        1 => counts.into_keys().next().unwrap_or_default(),
        _ => counts
            .iter()
            .map(|(m, n)| format!("{m} ({n} runs)"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The sessions of a run in its log (`log.txt`): each from its first line's time to its last's.
/// A process writes `starting run` as it begins, a resumed one `resuming with a changed config`
/// just before where its config changed: the first of such lines in a row opens a session.
/// Lines without a leading RFC 3339 time are skipped.
pub fn log_sessions(run_dir: &Path) -> Vec<(OffsetDateTime, OffsetDateTime)> {
    let Ok(text) = std::fs::read_to_string(run_dir.join("log.txt")) else {
        return Vec::new();
    };
    let mut sessions: Vec<(OffsetDateTime, OffsetDateTime)> = Vec::new();
    let mut after_start = false;
    for line in text.lines() {
        let Some(at) = line
            .split_whitespace()
            .next()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        else {
            continue;
        };
        let start =
            line.contains(": starting run ") || line.contains(": resuming with a changed config");
        match sessions.last_mut() {
            Some(last) if !start || after_start => last.1 = at,
            _ => sessions.push((at, at)),
        }
        after_start = start;
    }
    sessions
}

/// The date the plan's runs ended (UTC): the latest time in their logs, or today where no run
/// has a log.
pub fn runs_ended_date(plan: &Plan) -> time::Date {
    plan.runs()
        .iter()
        .flat_map(|r| log_sessions(&r.dir))
        .map(|(_, end)| end)
        .max()
        .unwrap_or_else(OffsetDateTime::now_utc)
        .date()
}

/// The wall time of one run from its log: the sum of its sessions' spans.
pub fn log_wall_s(run_dir: &Path) -> Option<f64> {
    let sessions = log_sessions(run_dir);
    (!sessions.is_empty()).then(|| {
        sessions
            .iter()
            .map(|(start, end)| (*end - *start).as_seconds_f64())
            .sum()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_splits_into_sessions_at_each_start_and_sums_their_spans() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("log.txt"),
            "2026-12-06T11:24:52.500000Z  INFO ganlab_run::train: starting run run_dir=x\n\
             2026-12-06T11:25:46.500000Z  WARN ganlab_run::train: interrupted at 18.176 kimg\n\
             a line without a time\n\
             2026-12-06T11:53:57.000000Z  WARN ganlab_run::train: resuming with a changed config\n\
             2026-12-06T11:53:57.400000Z  INFO ganlab_run::train: starting run run_dir=x\n\
             2026-12-06T11:59:45.400000Z  INFO ganlab_run::train: stopped early\n",
        )
        .expect("log");
        // The resumed process's first line opens its session; the time between the two
        // processes is in neither: 54 s and 348.4 s.
        let sessions = log_sessions(dir.path());
        assert_eq!(sessions.len(), 2, "{sessions:?}");
        let total = log_wall_s(dir.path()).expect("a wall time");
        assert!((total - (54.0 + 348.4)).abs() < 1e-6, "{total}");
        assert!(log_wall_s(&dir.path().join("none")).is_none());
    }
}
