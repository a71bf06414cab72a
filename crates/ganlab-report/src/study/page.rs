//! Reading a study's runs back and writing its page: `OUT/NAME.md`, `OUT/NAME.json` (every
//! number of its tables) and `OUT/NAME/` (plots and sample grids).

use super::results::{FinalReading, RunResult};
use super::{record, Contender, Plan, StudyName, StudyOptions};
use crate::report::{band_panel, font_available, tick_pictures, write_png_plot, Band};
use anyhow::{bail, Context, Result};
use ganlab_run::files::{write_bytes_atomically, write_json_atomically};
use ganlab_run::metric::Metric;
use ganlab_run::monitor::Monitor;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use ganlab_run::draws::mean_std;

/// `12.3 ± 0.4` (or `12.3` for one seed, `–` for none), with `digits` decimals.
fn pm(values: &[f64], digits: usize) -> String {
    match values.len() {
        0 => "–".into(),
        1 => format!("{:.*}", digits, values[0]),
        _ => {
            let (m, s) = mean_std(values);
            format!("{m:.digits$} ± {s:.digits$}")
        }
    }
}

/// The results of one contender: its runs, seed by seed.
pub struct Group<'a> {
    pub contender: &'a Contender,
    pub runs: Vec<&'a RunResult>,
}

impl Group<'_> {
    fn values(&self, f: impl Fn(&RunResult) -> Option<f64>) -> Vec<f64> {
        self.runs.iter().filter_map(|r| f(r)).collect()
    }
}

fn groups<'a>(
    contenders: &'a [Contender],
    results: &'a [RunResult],
    probe: bool,
) -> Vec<Group<'a>> {
    contenders
        .iter()
        .map(|c| Group {
            contender: c,
            runs: results
                .iter()
                .filter(|r| {
                    let name = r.run.dir.file_name().unwrap_or_default().to_string_lossy();
                    name.starts_with("probe-") == probe && r.run.contender.label == c.label
                })
                .collect(),
        })
        .collect()
}

/// Labelled bands, one per contender.
type Curves = Vec<(String, Band)>;

/// (x, mean, min, max) of the seeds' curves on a common grid where every seed has data
/// (linear interpolation between a seed's points).
fn band(seeds: &[Vec<(f64, f64)>]) -> Band {
    let seeds: Vec<&Vec<(f64, f64)>> = seeds.iter().filter(|s| !s.is_empty()).collect();
    if seeds.is_empty() {
        return Vec::new();
    }
    if seeds.len() == 1 {
        return seeds[0].iter().map(|&(x, y)| (x, y, y, y)).collect();
    }
    let x0 = seeds.iter().map(|s| s[0].0).fold(f64::MIN, f64::max);
    let x1 = seeds
        .iter()
        .map(|s| s[s.len() - 1].0)
        .fold(f64::MAX, f64::min);
    if x1 < x0 {
        return Vec::new();
    }
    let points = 60;
    (0..=points)
        .map(|i| x0 + (x1 - x0) * i as f64 / points as f64)
        .map(|x| {
            let ys: Vec<f64> = seeds.iter().map(|s| interpolate(s, x)).collect();
            let (mean, _) = mean_std(&ys);
            let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (x, mean, lo, hi)
        })
        .collect()
}

fn interpolate(points: &[(f64, f64)], x: f64) -> f64 {
    let i = points.partition_point(|p| p.0 < x);
    match i {
        0 => points[0].1,
        i if i >= points.len() => points[points.len() - 1].1,
        i => {
            let (a, b) = (points[i - 1], points[i]);
            match b.0 - a.0 {
                d if d > 0.0 => a.1 + (b.1 - a.1) * (x - a.0) / d,
                _ => b.1,
            }
        }
    }
}

/// A metric's figure: against kimg (left) and seconds of training (right), one band per group.
/// Returns false (nothing written) when no run has the metric.
fn metric_figure(
    path: &Path,
    title: &str,
    key: &str,
    groups: &[Group],
    log_y: bool,
) -> Result<bool> {
    let curves = |by_time: bool| -> Curves {
        groups
            .iter()
            .map(|g| {
                let seeds: Vec<Vec<(f64, f64)>> = g
                    .runs
                    .iter()
                    .map(|r| {
                        r.series(key)
                            .into_iter()
                            .map(|p| (if by_time { p.1 } else { p.0 }, p.2))
                            .collect()
                    })
                    .collect();
                (g.contender.label.clone(), band(&seeds))
            })
            .filter(|(_, b)| !b.is_empty())
            .collect()
    };
    let (by_kimg, by_time) = (curves(false), curves(true));
    if by_kimg.is_empty() {
        return Ok(false);
    }
    let text = font_available();
    write_png_plot(path, (1200, 420), |root| {
        let halves = root.split_evenly((1, 2));
        band_panel(&halves[0], title, "kimg", &by_kimg, log_y, text)?;
        band_panel(
            &halves[1],
            title,
            "seconds of training",
            &by_time,
            log_y,
            text,
        )
    })?;
    Ok(true)
}

/// The page's head: what, where, when, how long; each from the runs and their record
/// ([`super::record`]), not from the machine or the day the page is written on.
fn header(plan: &Plan, options: &StudyOptions) -> String {
    let record = record::read(&plan.runs_dir);
    let wall = runs_wall_words(plan, &record);
    let loads: Vec<f64> = record["load_at_run_end"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    let load = match loads.is_empty() {
        true => "not recorded".to_string(),
        false => format!(
            "{:.2} to {:.2}",
            loads.iter().copied().fold(f64::INFINITY, f64::min),
            loads.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        ),
    };
    let tiny = match options.tiny {
        true => "\n\n**Tiny configuration** (`--tiny`: a few steps per run, one seed): this page checks that the study runs; its numbers mean nothing.",
        false => "",
    };
    format!(
        "# Study: {}\n\n{}{tiny}\n\n\
         - command: `cargo xtask study {}{}` (resumable: run it again after an interruption)\n\
         - machine: {}; 1-minute load average at the end of each run: {load}\n\
         - date: {} (UTC); wall time of the study's runs: {}\n\
         - toolkit {}; runs in `{}`\n\n",
        plan.title,
        plan.question,
        plan.name,
        if options.tiny { " --tiny" } else { "" },
        record::machines_words(plan, &record),
        record::runs_ended_date(plan),
        wall,
        ganlab_run::VERSION,
        plan.runs_dir.display(),
    )
}

/// The wall time of the plan's runs in words: each run's time from the study's record
/// (`run_wall_s`), or, for a run the record has none of (made before the record kept one per run),
/// from its log's sessions, which the words then say. Only the plan's runs count: a run made by
/// another plan and trained again counts once.
fn runs_wall_words(plan: &Plan, record: &Value) -> String {
    let mut total = 0.0;
    let mut from_logs = 0;
    for run in plan.runs() {
        let name = run.dir.file_name().unwrap_or_default().to_string_lossy();
        match record["run_wall_s"][name.as_ref()].as_f64() {
            Some(s) => total += s,
            None => {
                from_logs += 1;
                total += record::log_wall_s(&run.dir).unwrap_or(0.0);
            }
        }
    }
    let words = super::duration_words(total);
    match from_logs {
        0 => words,
        n => format!(
            "{words} ({n} of {} runs' times from their logs: the first to the last line of each session)",
            plan.runs().len()
        ),
    }
}

/// The commands of every run, in a collapsed block.
fn commands(plan: &Plan) -> String {
    let mut md = String::from(
        "## Commands\n\n<details><summary>Each run as a <code>gan train</code> command</summary>\n\n```\n",
    );
    for r in plan.runs() {
        md.push_str(&r.contender.command(r.seed, &r.dir));
        md.push('\n');
    }
    md.push_str("```\n\n</details>\n");
    md
}

/// Copies seed 0's (or the first run's) last grid of each group into `pics` as
/// `grid-LABEL.png` and returns the Markdown showing them.
fn grids(groups: &[Group], pics: &Path, folder: &str) -> Result<String> {
    let mut md = String::from(
        "## Samples\n\nThe last sample grid of each contender's first seed (fixed latents).\n\n",
    );
    for g in groups {
        let Some(grid) = g.runs.first().and_then(|r| r.last_grid()) else {
            continue;
        };
        let name = format!("grid-{}.png", g.contender.label);
        std::fs::copy(&grid, pics.join(&name))
            .with_context(|| format!("cannot copy {}", grid.display()))?;
        let r = g.runs[0];
        md.push_str(&format!(
            "**{}** (seed {}, {:.1} kimg)\n\n![{}]({folder}/{name})\n\n",
            g.contender.label,
            r.run.seed,
            r.kimg(),
            g.contender.label
        ));
    }
    Ok(md)
}

/// Writes the page of a finished study and returns its path.
pub fn write(plan: &Plan, options: &StudyOptions) -> Result<PathBuf> {
    let results = plan
        .runs()
        .iter()
        .map(RunResult::load)
        .collect::<Result<Vec<_>>>()?;
    let folder = plan.name.to_string();
    let pics = options.out_dir.join(&folder);
    std::fs::create_dir_all(&pics).with_context(|| format!("cannot create {}", pics.display()))?;
    let main = groups(&plan.contenders, &results, false);
    let mut md = header(plan, options);
    md.push_str(&findings(options, &folder)?);
    let mut record = json!({"study": plan.name.name(), "tiny": options.tiny, "seeds": plan.seeds});
    // The image studies' common results table and curves come first; each body adds its own.
    let image_study = !matches!(plan.name, StudyName::Toys | StudyName::Stopping);
    if image_study {
        md.push_str(&image_results(&main, &pics, &folder, &mut record)?);
    }
    let body = match plan.name {
        StudyName::Games => {
            let probes = groups(&plan.probes, &results, true);
            games_body(&main, &probes, &pics, &folder, &mut record)?
        }
        StudyName::Growing => growing_body(&main, &mut record)?,
        StudyName::Toys => toys_body(&main, &pics, &folder, &mut record)?,
        StudyName::Stopping => stopping_body(&main, options, &pics, &folder, &mut record)?,
        StudyName::Limited => limited_body(&main, &pics, &folder, &mut record)?,
        StudyName::Precision => precision_body(&main, &mut record)?,
        StudyName::Conditional => conditional_body(&main, &pics, &folder, &mut record)?,
    };
    md.push_str(&body);
    if plan.name != StudyName::Stopping {
        md.push_str(&grids(&main, &pics, &folder)?);
    }
    md.push_str(&commands(plan));
    write_json_atomically(&options.out_dir.join(format!("{folder}.json")), &record)?;
    let path = options.out_dir.join(format!("{folder}.md"));
    write_bytes_atomically(&path, md.as_bytes())?;
    Ok(path)
}

/// The evaluation nearest to `kimg` (a grid's label rounds its kimg, e.g. 170 for 170.048); a
/// pick more than one evaluation interval from every evaluation is an error that names them.
fn nearest_evaluation(series: &[(f64, f64, f64)], kimg: f64) -> Result<(f64, f64, f64)> {
    let nearest = series
        .iter()
        .copied()
        .min_by(|a, b| (a.0 - kimg).abs().total_cmp(&(b.0 - kimg).abs()))
        .context("the run has no evaluation to pick")?;
    // The gaps between evaluations, the first counted from the run's start.
    let interval = std::iter::once(0.0)
        .chain(series.iter().map(|p| p.0))
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(0.0, f64::max);
    if !kimg.is_finite() || (nearest.0 - kimg).abs() > interval.max(1e-9) {
        bail!(
            "--pick-kimg {kimg}: the run evaluated at {:.1} to {:.1} kimg; pick the kimg of one \
             of its grids",
            series.first().map_or(0.0, |p| p.0),
            series.last().map_or(0.0, |p| p.0)
        );
    }
    Ok(nearest)
}

/// A person's reading of the results (`NAME.findings.md` beside the page, committed with it),
/// placed under the header; the tables below it are regenerated from the runs each time, the
/// reading is not, so it names the figures it was written from. A page without one has none.
fn findings(options: &StudyOptions, folder: &str) -> Result<String> {
    let path = options.out_dir.join(format!("{folder}.findings.md"));
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(format!("## What it shows\n\n{}\n\n", text.trim())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot read {}", path.display()))),
    }
}

/// The image metrics the studies evaluate: key, label, lower is better, decimals.
/// The image metrics of the tables, with the digits they are shown with (names, labels and
/// directions come from the registry).
const IMAGE_METRICS: [(Metric, usize); 6] = [
    (Metric::DomainFid, 2),
    (Metric::Swd, 2),
    (Metric::Is, 2),
    (Metric::Coverage, 1),
    (Metric::Precision, 3),
    (Metric::Recall, 3),
];

/// The runs' final evaluations (see [`super::FinalEval`]), when the study made them: per
/// contender and metric, the mean ± standard deviation over the seeds of each run's mean over
/// the draws, the seeds' range, and in brackets the evaluator's own spread (a run's standard
/// deviation over the draws, averaged over the contender's runs). Empty when no run has one
/// (runs that ended before the study made them).
fn final_results(groups: &[Group], record: &mut Value) -> String {
    let readings: Vec<&FinalReading> = groups
        .iter()
        .flat_map(|g| g.runs.iter().filter_map(|r| r.final_eval.as_ref()))
        .collect();
    if readings.is_empty() {
        return String::new();
    }
    let metrics: Vec<(Metric, usize)> = IMAGE_METRICS
        .into_iter()
        .chain([(Metric::ClassAccuracy, 3)])
        .filter(|(m, _)| readings.iter().any(|r| r.metrics.contains_key(m.name())))
        .collect();
    let mut settings: Vec<(i64, usize)> = readings.iter().map(|r| (r.n, r.draws)).collect();
    settings.sort_unstable();
    settings.dedup();
    let settings_words = settings
        .iter()
        .map(|(n, k)| format!("{n} samples a side with {k} evaluation seeds"))
        .collect::<Vec<_>>()
        .join(", or ");
    let mut md = format!(
        "\n### At the end, measured precisely\n\nEach run's last snapshot (G's moving average where the run keeps one) evaluated again on {settings_words} (`gan eval --draws`; the same samples for every run): mean ± standard deviation over the seeds of each run's mean over the draws, the seeds' range, and in brackets the evaluator's own spread (a run's standard deviation over the draws, averaged over the runs). The table above reads one training-time evaluation of 1,000 samples per run, which moves by about as much as the seeds differ.\n\n| contender | "
    );
    for (metric, _) in &metrics {
        md.push_str(&format!("{} | ", metric.label()));
    }
    md.push_str("\n|---|");
    md.push_str(&"---|".repeat(metrics.len()));
    md.push('\n');
    let mut rows = Vec::new();
    for g in groups {
        let mut row = json!({"contender": g.contender.label});
        md.push_str(&format!("| {} | ", g.contender.label));
        for &(metric, digits) in &metrics {
            let of = |r: &RunResult| r.final_eval.as_ref()?.metrics.get(metric.name()).copied();
            let values = g.values(|r| of(r).map(|x| x.0));
            let spreads = g.values(|r| of(r).map(|x| x.1));
            let cell = match values.is_empty() {
                true => "–".to_string(),
                false => {
                    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
                    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let range = match values.len() {
                        1 => String::new(),
                        _ => format!(" ({min:.digits$}–{max:.digits$})"),
                    };
                    let missing = match g.runs.len() - values.len() {
                        0 => String::new(),
                        _ => format!(" ({} of {} runs)", values.len(), g.runs.len()),
                    };
                    format!(
                        "{}{range} [± {:.digits$}]{missing}",
                        pm(&values, digits),
                        mean_std(&spreads).0
                    )
                }
            };
            md.push_str(&format!("{cell} | "));
            row[metric.name()] = json!({"values": values, "draw_std": spreads});
        }
        md.push('\n');
        rows.push(row);
    }
    record["final_evaluation"] = json!({"settings": settings, "results": rows});
    md
}

/// Precision and recall of every run at its end, seed by seed: a mean hides the one seed that
/// collapsed (high precision, low recall). Empty when no run measured them.
fn fidelity_and_diversity(groups: &[Group]) -> String {
    let (p, r) = (Metric::Precision.stats_key(), Metric::Recall.stats_key());
    if !groups
        .iter()
        .flat_map(|g| &g.runs)
        .any(|run| run.last(&p).is_some())
    {
        return String::new();
    }
    let mut md = String::from("\n### Fidelity and diversity, seed by seed\n\nPrecision / recall (k = 3, in the domain classifier's features) at the end of each run: mode collapse keeps precision and loses recall.\n\n| contender | runs (seed: precision / recall) |\n|---|---|\n");
    for g in groups {
        let cells: Vec<String> = g
            .runs
            .iter()
            .map(|run| {
                let f = |v: Option<f64>| v.map_or("–".to_string(), |x| format!("{x:.3}"));
                format!(
                    "{}: {} / {}",
                    run.run.seed,
                    f(run.last(&p)),
                    f(run.last(&r))
                )
            })
            .collect();
        md.push_str(&format!(
            "| {} | {} |\n",
            g.contender.label,
            cells.join(", ")
        ));
    }
    md
}

/// The table of final and best values per contender, the figures of every metric, and the
/// diagnostics each contender's runs raised; fills `record`.
fn image_results(
    groups: &[Group],
    pics: &Path,
    folder: &str,
    record: &mut Value,
) -> Result<String> {
    // The metrics some run measured: a study whose plan evaluates fewer shows no empty column.
    let measured: Vec<(Metric, usize)> = IMAGE_METRICS
        .into_iter()
        .filter(|(metric, _)| {
            groups
                .iter()
                .any(|g| !g.values(|r| r.last(&metric.stats_key())).is_empty())
        })
        .collect();
    let mut md = String::from("## Results\n\nMean ± standard deviation over the seeds, at the end of each run (the last evaluation) unless marked best.\n\n| contender | ");
    for (metric, _) in &measured {
        md.push_str(&format!("{} | ", metric.label()));
    }
    md.push_str("best domain FID | kimg reached | s of training | ended |\n|---|");
    md.push_str(&"---|".repeat(measured.len() + 4));
    md.push('\n');
    let mut rows = Vec::new();
    for g in groups {
        let mut row = json!({"contender": g.contender.label});
        md.push_str(&format!("| {} | ", g.contender.label));
        for &(metric, digits) in &measured {
            let values = g.values(|r| r.last(&metric.stats_key()));
            md.push_str(&format!("{} | ", pm(&values, digits)));
            row[metric.name()] = json!(values);
        }
        let fid = Metric::DomainFid;
        let best = g.values(|r| r.best(&fid.stats_key(), fid.lower_is_better()));
        let kimg = g.values(|r| Some(r.kimg()));
        let secs = g.values(|r| Some(r.train_s()));
        let ended: Vec<String> = g.runs.iter().map(|r| r.stop_reason.clone()).collect();
        md.push_str(&format!(
            "{} | {} | {} | {} |\n",
            pm(&best, 2),
            pm(&kimg, 1),
            pm(&secs, 0),
            summarize(&ended)
        ));
        row["best_domain_fid"] = json!(best);
        row["kimg"] = json!(kimg);
        row["train_s"] = json!(secs);
        row["ended"] = json!(ended);
        rows.push(row);
    }
    record["results"] = json!(rows);
    md.push_str(&final_results(groups, record));
    md.push_str(&fidelity_and_diversity(groups));
    md.push_str("\n### Over time\n\nThe line is the mean over the seeds, the band their range (min to max).\n\n");
    for (metric, _) in &measured {
        let (key, label, lower) = (metric.stats_key(), metric.label(), metric.lower_is_better());
        let file = format!("{}.png", metric.name());
        // The distances on a log scale: they fall by orders of magnitude, and the games that
        // work differ where a linear axis squeezes them together.
        let (title, log) = match lower {
            true => (format!("{label} (log scale)"), true),
            false => (label.to_string(), false),
        };
        if metric_figure(&pics.join(&file), &title, &key, groups, log)? {
            md.push_str(&format!("![{label}]({folder}/{file})\n\n"));
        }
    }
    md.push_str(&diagnostics(groups));
    Ok(md)
}

/// `finished x3` / `time-budget x2, diverged x1`.
fn summarize(items: &[String]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for i in items {
        *counts.entry(i.as_str()).or_insert(0) += 1;
    }
    counts
        .iter()
        .map(|(k, n)| format!("{k} x{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The warnings each contender's runs raised: kind, seeds that raised it, ticks in all.
fn diagnostics(groups: &[Group]) -> String {
    let mut md = String::from("\n### Diagnostics raised\n\nThe toolkit's warnings during the runs (mode collapse by sample diversity, classes missing, a discriminator that has won, slow convergence): seeds that raised each, and ticks in all.\n\n");
    for g in groups {
        let mut kinds: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for r in &g.runs {
            for (kind, ticks) in r.warnings() {
                let e = kinds.entry(kind).or_insert((0, 0));
                e.0 += 1;
                e.1 += ticks;
            }
        }
        let shown: Vec<String> = kinds
            .iter()
            .map(|(k, (seeds, ticks))| {
                format!("{k} ({seeds} of {} seeds, {ticks} ticks)", g.runs.len())
            })
            .collect();
        md.push_str(&format!(
            "- **{}**: {}\n",
            g.contender.label,
            if shown.is_empty() {
                "none".into()
            } else {
                shown.join("; ")
            }
        ));
    }
    md.push('\n');
    md
}

fn games_body(
    groups: &[Group],
    probes: &[Group],
    pics: &Path,
    folder: &str,
    record: &mut Value,
) -> Result<String> {
    let mut md = String::new();
    if metric_figure(
        &pics.join("grad-norm-g-runs.png"),
        "G's gradient norm, whole runs (log scale)",
        "grad_norm_g",
        groups,
        true,
    )? {
        md.push_str(&format!(
            "G's gradient norm at every tick of the runs above (mean over the tick): where the \
             min-max G's falls towards 0, D has won and G learns nothing.\n\n\
             ![G's gradient norm over the runs]({folder}/grad-norm-g-runs.png)\n\n"
        ));
    }
    md.push_str("## G's gradient over the first kimg\n\nShort runs of each game from the same start (one tick per 64 real images shown, no evaluation): the norm of G's gradient and D's output on fakes, mean over the tick. Min-max G minimises log(1 − D(G(z))), whose gradient vanishes as D(G(z)) → 0 (Goodfellow et al. 2014, §3); the non-saturating G maximises log D(G(z)) instead.\n\n| game | G grad norm, first tick | G grad norm, last tick | D(G(z)) first | D(G(z)) last |\n|---|---|---|---|---|\n");
    let mut rows = Vec::new();
    for g in probes {
        let first = |key: &str| g.values(|r| r.series(key).first().map(|p| p.2));
        let last = |key: &str| g.values(|r| r.series(key).last().map(|p| p.2));
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            g.contender.label,
            pm_sci(&first("grad_norm_g")),
            pm_sci(&last("grad_norm_g")),
            pm(&first("d_fake"), 3),
            pm(&last("d_fake"), 3)
        ));
        rows.push(json!({"game": g.contender.label, "grad_norm_g_first": first("grad_norm_g"), "grad_norm_g_last": last("grad_norm_g"), "d_fake_first": first("d_fake"), "d_fake_last": last("d_fake")}));
    }
    record["first_kimg"] = json!(rows);
    md.push_str("\n(D(G(z)) is a probability for the logistic games and a raw critic output for the others.)\n\n");
    if metric_figure(
        &pics.join("grad-norm-g.png"),
        "G's gradient norm (log scale)",
        "grad_norm_g",
        probes,
        true,
    )? {
        md.push_str(&format!(
            "![G's gradient norm]({folder}/grad-norm-g.png)\n\n"
        ));
    }
    Ok(md)
}

fn pm_sci(values: &[f64]) -> String {
    match values.len() {
        0 => "–".into(),
        1 => format!("{:.2e}", values[0]),
        _ => {
            let (m, s) = mean_std(values);
            format!("{m:.2e} ± {s:.1e}")
        }
    }
}

/// The domain FIDs the growing study times the contenders to.
const FID_THRESHOLDS: [f64; 5] = [150.0, 100.0, 60.0, 40.0, 25.0];

fn growing_body(groups: &[Group], record: &mut Value) -> Result<String> {
    let mut md = String::new();
    md.push_str("## Time to a given domain FID\n\nSeconds of training until the first evaluation at or below the value (mean ± std over the seeds that reached it).\n\n| contender |");
    for t in FID_THRESHOLDS {
        md.push_str(&format!(" ≤ {t} |"));
    }
    md.push_str("\n|---|");
    md.push_str(&"---|".repeat(FID_THRESHOLDS.len()));
    md.push('\n');
    let mut rows = Vec::new();
    for g in groups {
        md.push_str(&format!("| {} |", g.contender.label));
        let mut row = json!({"contender": g.contender.label});
        for t in FID_THRESHOLDS {
            let times = g.values(|r| {
                r.series(&Metric::DomainFid.stats_key())
                    .into_iter()
                    .find(|p| p.2 <= t)
                    .map(|p| p.1)
            });
            md.push_str(&format!(
                " {} ({} of {}) |",
                pm(&times, 0),
                times.len(),
                g.runs.len()
            ));
            row[format!("seconds_to_{t}")] = json!(times);
        }
        md.push('\n');
        rows.push(row);
    }
    record["time_to_fid"] = json!(rows);
    md.push('\n');
    Ok(md)
}

/// The limited-data study: the image results, then D's overfitting (r_t, D on training and
/// held-out reals, ADA's p) at the end of each run and over kimg.
fn limited_body(groups: &[Group], pics: &Path, folder: &str, record: &mut Value) -> Result<String> {
    let mut md = String::new();
    md.push_str("## D's overfitting\n\nAt the end of each run (mean ± std over the seeds): r_t = E[sign D(x)] over the last tick's training batches (augmented, where the run augments), D's mean sign on 256 of its training digits and on 256 held-out digits of MNIST (D as in training, on a batch of 256 reals, without augmentation, its state restored), and ADA's p. D has memorised its training set when the held-out reals fall to the fake side while the training reals stay on the real side.\n\n| contender | r_t | E[sign D] training | E[sign D] held-out | gap | ADA's p |\n|---|---|---|---|---|---|\n");
    let mut rows = Vec::new();
    for g in groups {
        let rt = g.values(|r| r.last("d_real_sign"));
        let train = g.values(|r| r.last("d_train_sign"));
        let held = g.values(|r| r.last("d_held_out_sign"));
        let gap = g.values(|r| Some(r.last("d_train_sign")? - r.last("d_held_out_sign")?));
        let p = g.values(|r| r.last("ada_p"));
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            g.contender.label,
            pm(&rt, 2),
            pm(&train, 2),
            pm(&held, 2),
            pm(&gap, 2),
            pm(&p, 3)
        ));
        rows.push(json!({"contender": g.contender.label, "rt": rt, "train_sign": train, "held_out_sign": held, "gap": gap, "ada_p": p}));
    }
    record["overfitting"] = json!(rows);
    md.push('\n');
    for (key, title, file) in [
        (
            "d_real_sign",
            "r_t = E[sign D(real)], training batches",
            "rt.png",
        ),
        (
            "d_held_out_sign",
            "E[sign D] on held-out reals",
            "held-out.png",
        ),
        ("ada_p", "ADA's augmentation probability p", "ada-p.png"),
    ] {
        if metric_figure(&pics.join(file), title, key, groups, false)? {
            md.push_str(&format!("![{title}]({folder}/{file})\n\n"));
        }
    }
    Ok(md)
}

/// The conditional study: the image results, then the conditional runs by class (at the end of
/// each run, means over the seeds): overall class accuracy, and per class its accuracy, domain
/// FID and intra-class diversity.
fn conditional_body(
    groups: &[Group],
    pics: &Path,
    folder: &str,
    record: &mut Value,
) -> Result<String> {
    let mut md = String::new();
    let accuracy = Metric::ClassAccuracy.stats_key();
    let by_class: Vec<&Group> = groups
        .iter()
        .filter(|g| g.runs.iter().any(|r| r.last(&accuracy).is_some()))
        .collect();
    if by_class.is_empty() {
        return Ok(md);
    }
    md.push_str("## By class

The conditional runs at their end, judged by the domain classifier: the share of samples assigned to the class they were drawn for (class accuracy), the domain FID of each class's samples against the real images of that class, and each class's intra-class diversity (the mean pairwise distance of its samples in the classifier's features over that of its real images; 1 is the data's variety). Means over the seeds (± std for the overall accuracy).

");
    let mut rows = Vec::new();
    for g in &by_class {
        let overall = g.values(|r| r.last(&accuracy));
        // The per-class lists of each run's last evaluation.
        let lists = |key: &str| -> Vec<Vec<Option<f64>>> {
            g.runs
                .iter()
                .filter_map(|r| {
                    let eval = r.ticks.iter().rev().find_map(|t| t.eval.as_ref())?;
                    let list = eval.get(key)?.as_array()?;
                    Some(list.iter().map(Value::as_f64).collect())
                })
                .collect()
        };
        let mean = |lists: &[Vec<Option<f64>>], k: usize| -> Option<f64> {
            let v: Vec<f64> = lists
                .iter()
                .filter_map(|l| l.get(k).copied().flatten())
                .collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        };
        let (acc, fid, div) = (
            lists("class_accuracy_per_class"),
            lists("class_domain_fid"),
            lists("class_diversity"),
        );
        let classes = acc.iter().map(Vec::len).max().unwrap_or(0);
        md.push_str(&format!(
            "**{}**: class accuracy {}\n\n| class | accuracy | domain FID | diversity |\n|---|---|---|---|\n",
            g.contender.label,
            pm(&overall, 3)
        ));
        let fmt = |x: Option<f64>, digits: usize| match x {
            Some(x) => format!("{x:.digits$}"),
            None => "–".into(),
        };
        for k in 0..classes {
            md.push_str(&format!(
                "| {k} | {} | {} | {} |\n",
                fmt(mean(&acc, k), 3),
                fmt(mean(&fid, k), 2),
                fmt(mean(&div, k), 3)
            ));
        }
        md.push('\n');
        rows.push(json!({"contender": g.contender.label, "class_accuracy": overall, "per_class_accuracy": acc, "per_class_domain_fid": fid, "intra_class_diversity": div}));
    }
    record["by_class"] = json!(rows);
    let label = Metric::ClassAccuracy.label();
    let owned: Vec<Group> = by_class
        .iter()
        .map(|g| Group {
            contender: g.contender,
            runs: g.runs.clone(),
        })
        .collect();
    if metric_figure(
        &pics.join("class-accuracy.png"),
        label,
        &accuracy,
        &owned,
        false,
    )? {
        md.push_str(&format!("![{label}]({folder}/class-accuracy.png)\n\n"));
    }
    Ok(md)
}

/// The mean of a series' last three values (fewer when it has fewer); None for an empty series.
/// One evaluation of a GAN moves by several units of SWD from the next (the conditional study
/// saw 11.3, 13.8, 25.0 at 150, 180, 200 kimg), so the pages judge the end by both.
fn last_three_mean(series: &[(f64, f64, f64)]) -> Option<f64> {
    let tail = &series[series.len().saturating_sub(3)..];
    (!tail.is_empty()).then(|| tail.iter().map(|p| p.2).sum::<f64>() / tail.len() as f64)
}

/// Where each of `values` falls against `reference`'s range (lower is better): the number
/// inside it or better (below its minimum), and the number above its maximum.
fn against_range(reference: &[f64], values: &[f64]) -> (usize, usize) {
    let max = reference.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let above = values.iter().filter(|&&v| v > max).count();
    (values.len() - above, above)
}

/// Mann–Whitney's test that `values` tend to be greater than `reference` (worse, for a metric
/// where lower is better): U = the pairs (v, r) with v > r, ties counting a half, and the exact
/// one-sided p-value P(U ≥ u) over the C(n + m, n) equally likely splits of the pooled values,
/// counted with the recursion of Mann & Whitney 1947 (no-tie distribution, as
/// `scipy.stats.mannwhitneyu(values, reference, alternative="greater", method="exact")`).
fn rank_test_greater(values: &[f64], reference: &[f64]) -> (f64, f64) {
    let (n, m) = (values.len(), reference.len());
    let u: f64 = values
        .iter()
        .map(|v| {
            reference
                .iter()
                .map(|r| match v.partial_cmp(r) {
                    Some(std::cmp::Ordering::Greater) => 1.0,
                    Some(std::cmp::Ordering::Equal) => 0.5,
                    _ => 0.0,
                })
                .sum::<f64>()
        })
        .sum();
    // counts[i][j][k]: arrangements of i values and j references with U = k.
    let mut counts = vec![vec![vec![0f64; n * m + 1]; m + 1]; n + 1];
    for i in 0..=n {
        for j in 0..=m {
            if i == 0 || j == 0 {
                counts[i][j][0] = 1.0;
                continue;
            }
            for k in 0..=i * j {
                // The largest of the pooled values is a value (above all j references) or a
                // reference.
                let top_value = if k >= j { counts[i - 1][j][k - j] } else { 0.0 };
                counts[i][j][k] = top_value + counts[i][j - 1][k];
            }
        }
    }
    let total: f64 = counts[n][m].iter().sum();
    let at_least = counts[n][m]
        .iter()
        .enumerate()
        .filter(|(k, _)| *k as f64 >= u.ceil())
        .map(|(_, c)| c)
        .sum::<f64>();
    (u, at_least / total)
}

/// Welch's confidence interval (unequal variances) for mean(`values`) − mean(`reference`) at
/// `level` (0.90 for two one-sided tests at 5%): (difference, low, high), with
/// Welch–Satterthwaite's degrees of freedom and Student's t quantile, as
/// `scipy.stats.ttest_ind(values, reference, equal_var=False).confidence_interval(level)`.
/// None with fewer than two values a side or with no spread on either.
fn welch_interval(values: &[f64], reference: &[f64], level: f64) -> Option<(f64, f64, f64)> {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    if values.len() < 2 || reference.len() < 2 {
        return None;
    }
    let ((mv, sv), (mr, sr)) = (mean_std(values), mean_std(reference));
    let (av, ar) = (
        sv * sv / values.len() as f64,
        sr * sr / reference.len() as f64,
    );
    let df = (av + ar).powi(2)
        / (av * av / (values.len() - 1) as f64 + ar * ar / (reference.len() - 1) as f64);
    let t = StudentsT::new(0.0, 1.0, df)
        .ok()?
        .inverse_cdf(0.5 + level / 2.0);
    let (diff, half) = (mv - mr, t * (av + ar).sqrt());
    Some((diff, diff - half, diff + half))
}

/// A number read from a finished run (its last evaluation of a metric, say).
type ValueOf<'a> = dyn Fn(&RunResult) -> Option<f64> + 'a;

/// The precision study: the results, then each model's reduced-precision runs (`bf16`, and
/// `bf16-fp32img` with the layers that touch the image in float32) against its fp32 runs, seed
/// by seed: the final domain FID and SWD (the last evaluation and the mean of the last three)
/// against the fp32 seeds' range, and the seconds of training.
fn precision_body(groups: &[Group], record: &mut Value) -> Result<String> {
    let mut md = String::new();
    // (model, variant, the model's fp32 group, the variant's group)
    let pairs: Vec<(&str, &str, &Group, &Group)> = groups
        .iter()
        .filter_map(|g| {
            let (model, variant) = g.contender.label.split_once('-')?;
            let fp32 = groups
                .iter()
                .find(|f| f.contender.label == format!("{model}-fp32"))?;
            (variant != "fp32").then_some((model, variant, fp32, g))
        })
        .filter(|(_, _, f, b)| !f.runs.is_empty() && !b.runs.is_empty())
        .collect();
    if pairs.is_empty() {
        return Ok(md);
    }
    md.push_str("## Reduced precision against fp32, seed by seed\n\nEach reduced-precision seed's final value against the range (min to max) of the fp32 seeds, lower is better: at the last evaluation, averaged over the last three evaluations (one evaluation moves by several units from the next), and, for runs that have one, at the final snapshot measured precisely (see above). `bf16-fp32img`: bf16 with `--fp32-image-layers` (G's last layer and D's first in float32); `dcgan32ema`: the main job with G's moving average (`--ema-kimg 10 --set ema_rampup=0.05`), which the evaluations sample. The range alone decides little with few seeds: were both sides drawn alike, all 3 of 3 seeds would be at or below the largest of 3 fp32 seeds only half the time. The last column is Mann–Whitney's one-sided test that the variant's seeds end higher (worse) than fp32's: U (the pairs in which the variant's seed is above, of n·m) and the exact p-value; with 3 seeds a side the smallest possible p is 0.05, with 6 a side 0.001. The column before it is the difference of the means (variant − fp32) with its 90% confidence interval (Welch's t, unequal variances), in the metric's units and as a share of fp32's mean: an interval inside ±X% says, by two one-sided tests at 5%, that the variant's mean is within X% of fp32's (equivalence, which neither the range nor the rank test can show).\n\n| model | variant | metric | at | fp32 seeds | variant's seeds | inside fp32's range or better | variant − fp32, means: 90% CI | variant worse: U, p |\n|---|---|---|---|---|---|---|---|---|\n");
    let list = |v: &[f64]| -> String {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let mut rows = Vec::new();
    for (model, variant, fp32, low) in &pairs {
        for metric in [Metric::DomainFid, Metric::Swd] {
            let key = metric.stats_key();
            let precise = |r: &RunResult| {
                let reading = r.final_eval.as_ref()?;
                reading.metrics.get(metric.name()).map(|x| x.0)
            };
            let picks: [(&str, &ValueOf); 3] = [
                ("last evaluation", &|r| r.last(&key)),
                ("mean of the last 3", &|r| last_three_mean(&r.series(&key))),
                // Empty (no row) for runs that ended before the study made final evaluations.
                ("final snapshot, measured precisely", &precise),
            ];
            for (at, pick) in picks {
                let (f, b) = (fp32.values(pick), low.values(pick));
                if f.is_empty() || b.is_empty() {
                    continue;
                }
                let (inside, above) = against_range(&f, &b);
                let (u, p) = rank_test_greater(&b, &f);
                let welch = welch_interval(&b, &f, 0.90);
                let fp32_mean = mean_std(&f).0;
                let difference = match welch {
                    Some((d, lo, hi)) => format!(
                        "{d:+.2} [{lo:+.2}, {hi:+.2}] ({:+.1}% [{:+.1}%, {:+.1}%])",
                        100.0 * d / fp32_mean,
                        100.0 * lo / fp32_mean,
                        100.0 * hi / fp32_mean
                    ),
                    None => "–".into(),
                };
                md.push_str(&format!(
                    "| {model} | {variant} | {} | {at} | {} | {} | {inside} of {}{} | {difference} | {u} of {}, p = {p:.3} |\n",
                    metric.label(),
                    list(&f),
                    list(&b),
                    b.len(),
                    match above {
                        0 => String::new(),
                        n => format!(" ({n} above)"),
                    },
                    f.len() * b.len()
                ));
                rows.push(json!({"model": model, "variant": variant, "metric": metric.name(), "at": at, "fp32": f, "reduced": b, "inside_or_better": inside, "above": above, "mean_difference_ci90": welch.map(|(d, lo, hi)| [d, lo, hi]), "mann_whitney_u": u, "p_worse": p}));
            }
        }
    }
    md.push_str("\n| model | variant | s of training, fp32 | s of training, variant | speed-up | kimg |\n|---|---|---|---|---|---|\n");
    let mut speed = Vec::new();
    for (model, variant, fp32, low) in &pairs {
        let (f, b) = (
            fp32.values(|r| Some(r.train_s())),
            low.values(|r| Some(r.train_s())),
        );
        let kimg: Vec<f64> = fp32
            .values(|r| Some(r.kimg()))
            .into_iter()
            .chain(low.values(|r| Some(r.kimg())))
            .collect();
        let ratio = mean_std(&f).0 / mean_std(&b).0;
        md.push_str(&format!(
            "| {model} | {variant} | {} | {} | {ratio:.2}x | {} |\n",
            pm(&f, 0),
            pm(&b, 0),
            pm(&kimg, 1)
        ));
        speed.push(json!({"model": model, "variant": variant, "train_s_fp32": f, "train_s_reduced": b, "speedup": ratio}));
    }
    md.push('\n');
    record["reduced_against_fp32"] = json!({"ends": rows, "speed": speed});
    Ok(md)
}

/// The toy metrics: key, label, decimals.
/// The toys' mode metrics of the tables, with their digits (names and labels from the registry).
const TOY_METRICS: [(Metric, usize); 3] = [
    (Metric::Modes, 1),
    (Metric::HighQuality, 3),
    (Metric::Jsd, 4),
];

/// A toy contender's dataset and game, from its label (`ring8-hinge`).
fn dataset_and_game<'a>(g: &'a Group) -> (&'a str, &'a str) {
    g.contender
        .label
        .split_once('-')
        .unwrap_or(("?", &g.contender.label))
}

fn toys_body(groups: &[Group], pics: &Path, folder: &str, record: &mut Value) -> Result<String> {
    let mut md = String::from("## Results\n\nAt the end of each run, mean ± standard deviation over the seeds. A sample is high-quality within 3σ of a mode; a mode is covered with at least a fifth of its uniform share of high-quality samples (PacGAN's definitions).\n\n| dataset | game | modes covered | high-quality share | JSD to uniform | kimg | s of training |\n|---|---|---|---|---|---|---|\n");
    let mut rows = Vec::new();
    for g in groups {
        let (dataset, game) = dataset_and_game(g);
        md.push_str(&format!("| {dataset} | {game} |"));
        let mut row = json!({"dataset": dataset, "game": game});
        for (metric, digits) in TOY_METRICS {
            let key = metric.stats_key();
            let values = g.values(|r| r.last(&key));
            md.push_str(&format!(" {} |", pm(&values, digits)));
            row[key] = json!(values);
        }
        let kimg = g.values(|r| Some(r.kimg()));
        let secs = g.values(|r| Some(r.train_s()));
        md.push_str(&format!(" {} | {} |\n", pm(&kimg, 0), pm(&secs, 0)));
        row["train_s"] = json!(secs);
        rows.push(row);
    }
    record["results"] = json!(rows);
    md.push_str(&toys_convergence(groups, record));
    md.push_str(
        "\n### Over time\n\nThe line is the mean over the seeds, the band their range.\n\n",
    );
    for dataset in ["ring8", "grid25"] {
        let subset: Vec<Group> = groups
            .iter()
            .filter(|g| g.contender.label.starts_with(&format!("{dataset}-")))
            .map(|g| Group {
                contender: g.contender,
                runs: g.runs.clone(),
            })
            .collect();
        for (metric, _) in TOY_METRICS {
            let (key, label) = (metric.stats_key(), metric.label());
            let file = format!("{dataset}-{key}.png");
            if metric_figure(
                &pics.join(&file),
                &format!("{dataset}: {label}"),
                &key,
                &subset,
                false,
            )? {
                md.push_str(&format!("![{dataset} {label}]({folder}/{file})\n\n"));
            }
        }
    }
    md.push_str(&diagnostics(groups));
    Ok(md)
}

/// How long the toy runs take to get where they end: per contender, the kimg of the first
/// evaluation with every mode covered, and the kimg from which the modes covered stay at their
/// final count (mean ± std over the seeds; for the first, how many seeds got there).
fn toys_convergence(groups: &[Group], record: &mut Value) -> String {
    let mut md = String::from("\n### How long it takes\n\nThe modes covered go up and down between evaluations to the end of a run (a mode drops under a fifth of its share and comes back), so the last evaluation alone says little about where a run has arrived. Per contender: the mean over the last quarter of each run (its plateau) of the modes covered and of the high-quality share; the kimg of the first evaluation whose high-quality share reaches 90% of that plateau (how long the game takes to get there); the kimg of the first evaluation that covers every mode (seeds that got there); and the kimg from which the number of modes covered stays at its final value. At batch 256, 1 kimg is 3.9 G steps for the one-step games and a fifth of that for `wgan` and `wgan-gp` (5 critic steps per G step).\n\n| dataset | game | modes covered, last quarter | high-quality share, last quarter | 90% of that share at kimg | every mode covered at kimg | modes covered settled from kimg |\n|---|---|---|---|---|---|---|\n");
    let mut rows = Vec::new();
    for g in groups {
        let (dataset, game) = dataset_and_game(g);
        let modes = match dataset {
            "ring8" => 8.0,
            "grid25" => 25.0,
            _ => f64::NAN,
        };
        let all_covered = g.values(|r| {
            r.series("modes_covered")
                .into_iter()
                .find(|p| p.2 >= modes)
                .map(|p| p.0)
        });
        let settled = g.values(|r| {
            let series = r.series("modes_covered");
            let last = series.last()?.2;
            let from = series
                .iter()
                .rposition(|p| p.2 != last)
                .map_or(0, |i| i + 1);
            series.get(from).map(|p| p.0)
        });
        let plateau = |key: &str| g.values(|r| last_quarter_mean(&r.series(key)));
        let (modes_plateau, share_plateau) =
            (plateau("modes_covered"), plateau("high_quality_share"));
        let to_plateau = g.values(|r| {
            let series = r.series("high_quality_share");
            let target = 0.9 * last_quarter_mean(&series)?;
            series.iter().find(|p| p.2 >= target).map(|p| p.0)
        });
        md.push_str(&format!(
            "| {dataset} | {game} | {} | {} | {} | {} ({} of {}) | {} |\n",
            pm(&modes_plateau, 1),
            pm(&share_plateau, 3),
            pm(&to_plateau, 0),
            pm(&all_covered, 0),
            all_covered.len(),
            g.runs.len(),
            pm(&settled, 0)
        ));
        rows.push(json!({"dataset": dataset, "game": game, "modes_last_quarter": modes_plateau, "high_quality_last_quarter": share_plateau, "kimg_to_90pct_high_quality": to_plateau, "kimg_to_every_mode": all_covered, "kimg_settled": settled}));
    }
    record["convergence"] = json!(rows);
    md
}

/// The mean of a series' values over the last quarter of its kimg (the evaluations at or after
/// three quarters of the last one's kimg); None for an empty series.
fn last_quarter_mean(series: &[(f64, f64, f64)]) -> Option<f64> {
    let end = series.last()?.0;
    let tail: Vec<f64> = series
        .iter()
        .filter(|p| p.0 >= 0.75 * end)
        .map(|p| p.2)
        .collect();
    Some(tail.iter().sum::<f64>() / tail.len() as f64)
}

/// The metrics the stopping study watches: key, label, lower is better.
/// The metrics the stopping study compares (names, labels and directions from the registry).
const STOP_METRICS: [Metric; 4] = [Metric::Fid, Metric::Is, Metric::Swd, Metric::DomainFid];
/// The plateau rule the stopping study applies to each metric (`evaluation.patience`).
pub const STOP_PATIENCE: u32 = 3;

fn stopping_body(
    groups: &[Group],
    options: &StudyOptions,
    pics: &Path,
    folder: &str,
    record: &mut Value,
) -> Result<String> {
    let run = groups
        .first()
        .and_then(|g| g.runs.first())
        .context("the stopping study has no run")?;
    let mut md = String::from("## Where each criterion stops\n\n");
    md.push_str(&format!("*Best value*: the evaluation where the metric was best (an oracle: it needs the whole run). *Plateau rule*: `gan train --patience {STOP_PATIENCE}` on that metric, i.e. stop after {STOP_PATIENCE} evaluations without a new best.\n\n| criterion | stops at kimg | s of training | its value there | domain FID there |\n|---|---|---|---|---|\n"));
    let mut rows = Vec::new();
    let domain = run.series(&Metric::DomainFid.stats_key());
    let domain_at = |kimg: f64| {
        domain
            .iter()
            .find(|p| p.0 == kimg)
            .map_or(f64::NAN, |p| p.2)
    };
    for metric in STOP_METRICS {
        let (key, label, lower) = (metric.stats_key(), metric.label(), metric.lower_is_better());
        let series = run.series(&key);
        if series.is_empty() {
            continue;
        }
        let best = series
            .iter()
            .copied()
            .reduce(|a, b| {
                if (lower && b.2 < a.2) || (!lower && b.2 > a.2) {
                    b
                } else {
                    a
                }
            })
            .context("no evaluation")?;
        let plateau = plateau_stop(&series, metric);
        for (criterion, point) in [("best value", Some(best)), ("plateau rule", plateau)] {
            let Some(p) = point else {
                md.push_str(&format!(
                    "| {label}: {criterion} | never (ran to the end) | | | |\n"
                ));
                continue;
            };
            md.push_str(&format!(
                "| {label}: {criterion} | {:.1} | {:.0} | {:.3} | {:.2} |\n",
                p.0,
                p.1,
                p.2,
                domain_at(p.0)
            ));
            rows.push(json!({"metric": key, "criterion": criterion, "kimg": p.0, "train_s": p.1, "value": p.2}));
        }
    }
    if let Some(pick) = options.pick_kimg {
        let p = nearest_evaluation(&domain, pick)?;
        md.push_str(&format!(
            "| a person's pick from the grids below | {:.1} | {:.0} | | {:.2} |\n",
            p.0, p.1, p.2
        ));
        rows.push(json!({"criterion": "person", "kimg": p.0, "train_s": p.1, "domain_fid": p.2}));
    }
    record["stops"] = json!(rows);
    md.push_str(&format!(
        "\n![the metrics over the run]({folder}/metrics.png)\n\n"
    ));
    let single = [Group {
        contender: groups[0].contender,
        runs: vec![run],
    }];
    let text = font_available();
    let keys: Vec<(String, &str)> = STOP_METRICS
        .iter()
        .map(|m| (m.stats_key(), m.label()))
        .collect();
    write_png_plot(
        &pics.join("metrics.png"),
        (1200, 300 * keys.len() as u32),
        |root| {
            for ((key, label), row) in keys.iter().zip(root.split_evenly((keys.len(), 1))) {
                let curves: Curves = single
                    .iter()
                    .map(|g| {
                        (
                            label.to_string(),
                            band(&[g.runs[0].series(key).iter().map(|p| (p.0, p.2)).collect()]),
                        )
                    })
                    .filter(|(_, b)| !b.is_empty())
                    .collect();
                if !curves.is_empty() {
                    band_panel(&row, label, "kimg", &curves, false, text)?;
                }
            }
            Ok(())
        },
    )?;
    md.push_str(&evaluation_grids(run, pics, folder)?);
    Ok(md)
}

/// Where the plateau rule would stop a series (None: it never does).
fn plateau_stop(series: &[(f64, f64, f64)], metric: Metric) -> Option<(f64, f64, f64)> {
    let mut config = ganlab_run::TrainConfig::default();
    config.evaluation.primary = Some(metric);
    config.evaluation.metrics = vec![metric];
    config.evaluation.patience = STOP_PATIENCE;
    let mut monitor = Monitor::new(&config);
    series.iter().copied().find(|p| {
        !matches!(
            monitor.observe(p.0, p.2).verdict,
            ganlab_run::monitor::Verdict::Continue
        )
    })
}

/// The grid of every evaluation's tick, side by side with its kimg.
fn evaluation_grids(run: &RunResult, pics: &Path, folder: &str) -> Result<String> {
    let evals: Vec<f64> = run
        .series(&Metric::DomainFid.stats_key())
        .iter()
        .map(|p| p.0)
        .collect();
    let pictures = tick_pictures(&run.run.dir)?;
    let mut md = String::from("## The grids at each evaluation\n\n| kimg | samples |\n|---|---|\n");
    for (kimg, path) in pictures
        .iter()
        .filter(|(k, _)| evals.iter().any(|e| super::same_tick(*e, *k)))
    {
        let name = format!("grid-kimg{kimg:08.3}.png");
        std::fs::copy(path, pics.join(&name))
            .with_context(|| format!("cannot copy {}", path.display()))?;
        md.push_str(&format!(
            "| {kimg:.1} | ![{kimg} kimg]({folder}/{name}) |\n"
        ));
    }
    md.push('\n');
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::{
        against_range, last_quarter_mean, last_three_mean, rank_test_greater, welch_interval,
    };

    /// Against `scipy.stats.mannwhitneyu(a, b, alternative="greater", method="exact")` (scipy
    /// 1.17.1): (U, p) printed to 16 digits; the tolerance is float round-off.
    #[test]
    fn the_rank_test_equals_scipy() {
        let cases: [(&[f64], &[f64], f64, f64); 5] = [
            (&[12.88, 13.34, 12.23], &[8.78, 11.30, 11.56], 9.0, 0.05),
            (&[12.65, 9.4, 9.9], &[8.78, 11.30, 11.56], 5.0, 0.5),
            (
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                &[1.5, 2.5, 3.5, 7.0, 8.0, 9.0],
                12.0,
                0.8452380952380952,
            ),
            (
                &[5.0, 6.0, 7.0, 8.0],
                &[1.0, 2.0, 3.0],
                12.0,
                0.02857142857142857,
            ),
            (&[10.0], &[9.0, 11.0], 1.0, 0.6666666666666666),
        ];
        for (a, b, u, p) in cases {
            let (got_u, got_p) = rank_test_greater(a, b);
            assert_eq!(got_u, u, "{a:?} {b:?}");
            assert!(
                (got_p - p).abs() < 1e-12,
                "{a:?} {b:?}: {got_p} against {p}"
            );
        }
    }

    /// Against `scipy.stats.ttest_ind(a, b, equal_var=False).confidence_interval(level)` (scipy
    /// 1.17.1, printed to 16 digits; the first two cases are the precision study's final SWD and
    /// domain FID of the `dcgan32ema` seeds); the tolerance covers the t quantile's numerical
    /// inversion.
    #[test]
    fn the_welch_interval_equals_scipy() {
        let swd_fp32 = [5.18, 5.32, 5.22, 4.92, 5.13, 5.16];
        let swd_bf16 = [5.06, 5.42, 4.81, 5.49, 5.03, 5.24];
        let fid_fp32 = [11.71, 13.81, 11.59, 12.46, 12.68, 13.39];
        let fid_bf16 = [10.94, 13.57, 11.78, 11.68, 12.00, 12.60];
        // (values, reference, level, scipy's low, scipy's high)
        type Case<'a> = (&'a [f64], &'a [f64], f64, f64, f64);
        let cases: [Case; 3] = [
            (
                &swd_bf16,
                &swd_fp32,
                0.90,
                -0.20172406926983774,
                0.24172406926983864,
            ),
            (
                &fid_bf16,
                &fid_fp32,
                0.90,
                -1.4459573531388585,
                0.42262401980552133,
            ),
            (
                &[3.0, 5.5, 9.0, 7.25],
                &[1.0, 2.0, 4.0],
                0.95,
                -0.17316248822154146,
                7.881495821554875,
            ),
        ];
        for (a, b, level, low, high) in cases {
            let (diff, got_low, got_high) = welch_interval(a, b, level).unwrap();
            assert!((diff - (low + high) / 2.0).abs() < 1e-12, "{a:?} {b:?}");
            for (got, want) in [(got_low, low), (got_high, high)] {
                assert!(
                    (got - want).abs() < 1e-9,
                    "{a:?} {b:?}: {got} against {want}"
                );
            }
        }
        assert_eq!(welch_interval(&[1.0], &[1.0, 2.0], 0.9), None);
        assert_eq!(welch_interval(&[1.0, 1.0], &[2.0, 2.0], 0.9), None);
    }

    #[test]
    fn bf16_ends_are_judged_against_the_fp32_range() {
        let fp32 = [15.0, 18.4, 19.5];
        // Inside, better than every fp32 seed, above the worst.
        assert_eq!(against_range(&fp32, &[18.2, 14.0, 21.0]), (2, 1));
        assert_eq!(against_range(&fp32, &[19.5]), (1, 0));
        let series: Vec<(f64, f64, f64)> = [10.0, 20.0, 30.0, 40.0]
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as f64, 0.0, v))
            .collect();
        assert_eq!(last_three_mean(&series), Some(30.0));
        assert_eq!(last_three_mean(&series[..1]), Some(10.0));
        assert_eq!(last_three_mean(&[]), None);
    }

    #[test]
    fn the_plateau_is_the_mean_of_the_last_quarter_of_the_kimg() {
        // Evaluations at 0, 25, 50, 75 and 100 kimg: the last quarter is 75 and 100.
        let series: Vec<(f64, f64, f64)> = [0.0, 25.0, 50.0, 75.0, 100.0]
            .iter()
            .zip([0.0, 1.0, 2.0, 3.0, 4.0])
            .map(|(&kimg, v)| (kimg, kimg * 2.0, v))
            .collect();
        assert_eq!(last_quarter_mean(&series), Some(3.5));
        assert_eq!(last_quarter_mean(&series[..1]), Some(0.0));
        assert_eq!(last_quarter_mean(&[]), None);
    }
}
