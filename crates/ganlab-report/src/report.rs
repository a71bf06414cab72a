//! `gan report RUN_DIR`: pictures and a summary of a run, from what it wrote (`config.json`,
//! `stats.jsonl`, `outcome.json`, `best.json`, the sample grids):
//!
//! - `report/losses.png`, `report/d_outputs.png`, `report/grad_norms.png`,
//!   `report/overfitting.png` (r_t, D on training and held-out reals, ADA's p),
//!   `report/diversity.png`, `report/metrics.png` and, for ProGAN, `report/schedule.png`
//!   (resolution, α, learning rate): curves against kimg (left) and wall-clock time (right),
//!   drawn with plotters;
//! - `report/samples.png`: the sample grids as a strip over time (left to right);
//! - `report/report.md`: the config, why the run stopped, the best metric, the last values and
//!   every warning, with the pictures.

use anyhow::{bail, Context, Result};
use ganlab_run::files::{write_atomically, write_bytes_atomically};
use ganlab_run::metric::Metric;
use ganlab_run::records::{read_record, BestSnapshot, Outcome, RunHeadline};
use ganlab_run::stats::TickStats;
use plotters::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Registers the plots' font with plotters once: DejaVu Sans, embedded in the binary (the
/// `dejavu` crate), so every machine draws the same text whatever fonts it has installed. False
/// only if plotters refuses the font (plots are then drawn without text, and the report says so).
pub(crate) fn font_available() -> bool {
    static FONT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FONT.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .is_ok()
    })
}

/// (kimg, wall seconds, value) points of one curve.
type Points = Vec<(f64, f64, f64)>;
/// Named curves.
type Curves = Vec<(String, Points)>;
/// Rows of a figure: a title and (label, statistic key) pairs.
type Rows = Vec<(String, Vec<(String, String)>)>;

/// A run directory as the report reads it: its records, typed (any version's keys).
struct Run {
    dir: PathBuf,
    config: RunHeadline,
    ticks: Vec<TickStats>,
    outcome: Option<Outcome>,
    best: Option<BestSnapshot>,
}

impl Run {
    fn load(dir: &Path) -> Result<Run> {
        let config: RunHeadline = read_record(&dir.join("config.json"))?
            .with_context(|| ganlab_run::records::missing_config(dir))?;
        let stats_path = dir.join("stats.jsonl");
        let text = std::fs::read_to_string(&stats_path)
            .with_context(|| format!("cannot read {}", stats_path.display()))?;
        let mut ticks = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            // A line cut by a crash is skipped, not fatal: everything before it still counts.
            match serde_json::from_str::<TickStats>(line) {
                Ok(v) => ticks.push(v),
                Err(e) => tracing::warn!(
                    "{}:{}: skipping an unreadable line ({e})",
                    stats_path.display(),
                    i + 1
                ),
            }
        }
        if ticks.is_empty() {
            bail!(
                "{}: no statistics yet (the first tick has not been reached)",
                stats_path.display()
            );
        }
        Ok(Run {
            dir: dir.to_path_buf(),
            config,
            ticks,
            outcome: read_record(&dir.join("outcome.json"))?,
            best: read_record(&dir.join("best.json"))?,
        })
    }

    /// (kimg, wall_s, value) of a per-tick statistic, or of an evaluation metric (`eval.NAME`).
    fn series(&self, key: &str) -> Points {
        self.ticks
            .iter()
            .filter_map(|t| Some((t.kimg, t.wall_s, t.stat(key)?)))
            .collect()
    }
}

/// Matplotlib's `tab10`, in an order whose first six are far apart.
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
];

fn range_of(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    // A flat series gets a visible band around its value.
    let pad = if hi - lo > 1e-12 {
        (hi - lo) * 0.05
    } else {
        if hi != 0.0 {
            hi.abs() * 0.05
        } else {
            0.5
        }
    };
    (lo - pad, hi + pad)
}

pub(crate) type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// One panel: the named series against kimg (`by_wall` false) or wall-clock seconds.
fn panel(
    area: &Area,
    title: &str,
    series: &[(String, Points)],
    by_wall: bool,
    text: bool,
) -> Result<()> {
    let x_of = |p: &(f64, f64, f64)| if by_wall { p.1 } else { p.0 };
    let curves: Vec<(String, Band)> = series
        .iter()
        .map(|(name, points)| {
            let band = points.iter().map(|p| (x_of(p), p.2, p.2, p.2)).collect();
            (name.clone(), band)
        })
        .collect();
    let x_desc = if by_wall {
        "wall-clock seconds"
    } else {
        "kimg"
    };
    band_panel(area, title, x_desc, &curves, false, text)
}

/// Points of a band: (x, mean, min, max); a single curve has min = max = mean.
pub(crate) type Band = Vec<(f64, f64, f64, f64)>;

/// One panel of labelled curves, each a line (its mean) over a shaded band (its min to max),
/// with a legend; `log_y` plots log10 of the values (the axis shows the values).
pub(crate) fn band_panel(
    area: &Area,
    title: &str,
    x_desc: &str,
    curves: &[(String, Band)],
    log_y: bool,
    text: bool,
) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("plot `{title}`: {e}");
    let y_of = |v: f64| if log_y { v.max(1e-12).log10() } else { v };
    let (x0, x1) = range_of(curves.iter().flat_map(|(_, b)| b.iter().map(|p| p.0)));
    let (y0, y1) = range_of(
        curves
            .iter()
            .flat_map(|(_, b)| b.iter().flat_map(|p| [y_of(p.2), y_of(p.3)])),
    );
    let mut builder = ChartBuilder::on(area);
    builder.margin(12);
    if text {
        builder
            .caption(title, ("sans-serif", 18))
            .x_label_area_size(36)
            .y_label_area_size(60);
    }
    let mut chart = builder
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| err(&e))?;
    let mut mesh = chart.configure_mesh();
    let y_label = |v: &f64| {
        let v = if log_y { 10f64.powf(*v) } else { *v };
        let a = v.abs();
        if a != 0.0 && !(1e-2..1e5).contains(&a) {
            format!("{v:.2e}")
        } else if log_y {
            // Log-scale ticks fall between round numbers: three significant digits.
            let decimals = (2 - a.log10().floor() as i64).clamp(0, 3) as usize;
            format!("{v:.decimals$}")
        } else {
            format!("{}", (v * 1000.0).round() / 1000.0)
        }
    };
    mesh.y_label_formatter(&y_label);
    match text {
        true => mesh.x_desc(x_desc),
        false => mesh.x_labels(0).y_labels(0),
    };
    mesh.draw().map_err(|e| err(&e))?;
    for (i, (label, b)) in curves.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        if b.len() > 1 && b.iter().any(|p| p.3 > p.2) {
            let mut outline: Vec<(f64, f64)> = b.iter().map(|p| (p.0, y_of(p.3))).collect();
            outline.extend(b.iter().rev().map(|p| (p.0, y_of(p.2))));
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    color.mix(0.18).filled(),
                )))
                .map_err(|e| err(&e))?;
        }
        let line = chart
            .draw_series(LineSeries::new(
                b.iter().map(|p| (p.0, y_of(p.1))),
                color.stroke_width(2),
            ))
            .map_err(|e| err(&e))?;
        if text {
            line.label(label.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        }
        if b.len() < 12 {
            chart
                .draw_series(
                    b.iter()
                        .map(|p| Circle::new((p.0, y_of(p.1)), 3, color.filled())),
                )
                .map_err(|e| err(&e))?;
        }
    }
    if text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
    }
    Ok(())
}

/// A PNG with one row per group of series; each row shows them against kimg and wall time.
/// Returns false (nothing written) when none of the keys has data.
fn plot(
    run: &Run,
    rows: &[(String, Vec<(String, String)>)],
    path: &Path,
    text: bool,
) -> Result<bool> {
    let rows: Vec<(String, Curves)> = rows
        .iter()
        .map(|(title, keys)| {
            let series = keys
                .iter()
                .map(|(label, key)| (label.clone(), run.series(key)))
                .filter(|(_, s)| !s.is_empty())
                .collect::<Vec<_>>();
            (title.clone(), series)
        })
        .filter(|(_, s)| !s.is_empty())
        .collect();
    if rows.is_empty() {
        return Ok(false);
    }
    let height = 340 * rows.len() as u32;
    write_png_plot(path, (1200, height), |root| {
        for ((title, series), row) in rows.iter().zip(root.split_evenly((rows.len(), 1))) {
            let halves = row.split_evenly((1, 2));
            panel(&halves[0], title, series, false, text)?;
            panel(&halves[1], title, series, true, text)?;
        }
        Ok(())
    })?;
    Ok(true)
}

/// Draws a white `size` PNG with `draw` and writes it to `path` atomically.
pub(crate) fn write_png_plot(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&Area) -> Result<()>,
) -> Result<()> {
    write_atomically(path, |tmp| {
        // plotters picks the encoder from the extension: write to a .png-named temporary.
        let tmp_png = tmp.with_extension("png");
        {
            let root = BitMapBackend::new(&tmp_png, size).into_drawing_area();
            root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
            draw(&root)?;
            root.present()
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp_png.display()))?;
        }
        std::fs::rename(&tmp_png, tmp)
            .with_context(|| format!("cannot rename {}", tmp_png.display()))
    })
}

/// The per-tick picture files of a run (grids or scatter plots), oldest first.
pub fn tick_pictures(dir: &Path) -> Result<Vec<(f64, PathBuf)>> {
    let mut pictures: Vec<(f64, PathBuf)> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().to_string();
            let kimg = name
                .strip_prefix("fakes-kimg")
                .or_else(|| name.strip_prefix("scatter-kimg"))?
                .strip_suffix(".png")?
                .parse()
                .ok()?;
            Some((kimg, p))
        })
        .collect();
    pictures.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(pictures)
}

/// Up to `count` pictures, evenly spaced over the run and always including the last, side by
/// side at a common height: the samples as a strip over time. Returns the kimg of each.
fn samples_strip(dir: &Path, out: &Path, count: usize) -> Result<Vec<f64>> {
    let pictures = tick_pictures(dir)?;
    if pictures.is_empty() {
        return Ok(Vec::new());
    }
    let picks: Vec<&(f64, PathBuf)> = if pictures.len() <= count {
        pictures.iter().collect()
    } else {
        (0..count)
            .map(|i| &pictures[i * (pictures.len() - 1) / (count - 1)])
            .collect()
    };
    let height = 256u32;
    let gap = 6u32;
    let mut tiles = Vec::new();
    for (_, path) in &picks {
        let img = image::open(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .to_rgb8();
        let width = (img.width() as f64 * height as f64 / img.height().max(1) as f64)
            .round()
            .max(1.0) as u32;
        tiles.push(image::imageops::resize(
            &img,
            width,
            height,
            image::imageops::FilterType::Triangle,
        ));
    }
    let total = tiles.iter().map(|t| t.width()).sum::<u32>() + gap * (tiles.len() as u32 - 1);
    let mut strip = image::RgbImage::from_pixel(total, height, image::Rgb([255, 255, 255]));
    let mut x = 0;
    for t in &tiles {
        image::imageops::replace(&mut strip, t, x as i64, 0);
        x += t.width() + gap;
    }
    write_atomically(out, |tmp| {
        strip
            .save_with_format(tmp, image::ImageFormat::Png)
            .with_context(|| format!("cannot write {}", tmp.display()))
    })?;
    Ok(picks.iter().map(|(k, _)| *k).collect())
}

fn fmt(v: &Value) -> String {
    match (v.as_f64(), v.as_array()) {
        (Some(x), _) => fmt_number(x),
        // Per-class lists, each number as the report writes numbers (a class without a value:
        // `–`).
        (None, Some(list)) => format!(
            "[{}]",
            list.iter()
                .map(|x| x.as_f64().map_or_else(|| "–".to_string(), fmt_number))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (None, None) => v.to_string(),
    }
}

/// A number as the report writes it: whole numbers without decimals, others with four.
fn fmt_number(x: f64) -> String {
    match x.fract() == 0.0 && x.abs() < 1e9 {
        true => format!("{x:.0}"),
        false => format!("{x:.4}"),
    }
}

/// (label, key) pairs as owned strings.
fn keys(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(l, k)| (l.to_string(), k.to_string()))
        .collect()
}

/// The per-tick charts: file, title and rows of (label, statistic) series.
fn charts() -> Vec<(&'static str, &'static str, Rows)> {
    vec![
        (
            "losses.png",
            "Losses",
            vec![
                (
                    "losses".into(),
                    keys(&[("loss_d", "loss_d"), ("loss_g", "loss_g")]),
                ),
                (
                    "Wasserstein estimate".into(),
                    keys(&[("wasserstein_estimate", "wasserstein_estimate")]),
                ),
            ],
        ),
        (
            "d_outputs.png",
            "D outputs",
            vec![(
                "D outputs".into(),
                keys(&[("d_real", "d_real"), ("d_fake", "d_fake")]),
            )],
        ),
        (
            "grad_norms.png",
            "Gradient norms",
            vec![(
                "gradient norms".into(),
                keys(&[
                    ("grad_norm_g", "grad_norm_g"),
                    ("gp_grad_norm", "gp_grad_norm"),
                ]),
            )],
        ),
        (
            "overfitting.png",
            "D's overfitting",
            vec![
                (
                    "E[sign D(real)]".into(),
                    keys(&[
                        ("r_t (training batches)", "d_real_sign"),
                        ("training reals", "d_train_sign"),
                        ("held-out reals", "d_held_out_sign"),
                    ]),
                ),
                (
                    "augmentation probability".into(),
                    keys(&[("ADA's p", "ada_p")]),
                ),
            ],
        ),
        (
            "diversity.png",
            "Sample diversity",
            vec![(
                "sample diversity (fixed latents / real)".into(),
                keys(&[("sample_diversity", "sample_diversity")]),
            )],
        ),
        (
            "schedule.png",
            "Progressive growing",
            vec![
                ("resolution".into(), keys(&[("resolution", "resolution")])),
                ("fade-in α".into(), keys(&[("alpha", "alpha")])),
                ("learning rate".into(), keys(&[("lr_g", "lr_g")])),
            ],
        ),
    ]
}

/// Draws the charts that have data; returns the (title, file) of each picture drawn.
fn draw_charts(run: &Run, out: &Path, text: bool) -> Result<Vec<(&'static str, &'static str)>> {
    let mut pictures = Vec::new();
    let charts = charts();
    for (file, title, rows) in &charts {
        if *file == "schedule.png" && run.series("alpha").is_empty() {
            continue; // not a progressive run
        }
        if plot(run, rows, &out.join(file), text)? {
            pictures.push((*title, *file));
        }
    }
    // Metrics: the evaluations, one row per metric, and the toy mode metrics of every tick.
    if plot(run, &metric_rows(run), &out.join("metrics.png"), text)? {
        pictures.push(("Metrics", "metrics.png"));
    }
    if fidelity_diversity(run, &out.join("fidelity_diversity.png"), text)? {
        pictures.push(("Fidelity against diversity", "fidelity_diversity.png"));
    }
    Ok(pictures)
}

/// Precision against recall, evaluation by evaluation (the path joins them in kimg order): where
/// the generator stands between a few faithful modes (top left) and everything, roughly (bottom
/// right). False (nothing written) without at least one evaluation of both.
fn fidelity_diversity(run: &Run, path: &Path, text: bool) -> Result<bool> {
    let recall = run.series(&Metric::Recall.stats_key());
    let precision = run.series(&Metric::Precision.stats_key());
    let path_points: Band = precision
        .iter()
        .filter_map(|p| {
            let r = recall.iter().find(|r| r.0 == p.0)?;
            Some((r.2, p.2, p.2, p.2))
        })
        .collect();
    if path_points.is_empty() {
        return Ok(false);
    }
    let first = precision.first().map_or(0.0, |p| p.0);
    let last = precision.last().map_or(0.0, |p| p.0);
    write_png_plot(path, (700, 560), |root| {
        band_panel(
            root,
            &format!("precision against recall, {first:.0} → {last:.0} kimg"),
            "recall (diversity)",
            &[("precision (fidelity)".to_string(), path_points)],
            false,
            text,
        )
    })?;
    Ok(true)
}

/// One chart row per evaluated metric, or the toy mode metrics of every tick.
fn metric_rows(run: &Run) -> Rows {
    let mut metric_names: Vec<String> = Vec::new();
    for eval in run.ticks.iter().filter_map(|t| t.eval.as_ref()) {
        for (k, v) in eval {
            if v.is_number() && !metric_names.contains(k) {
                metric_names.push(k.clone());
            }
        }
    }
    let mut metric_rows: Rows = metric_names
        .iter()
        .map(|m| (m.clone(), vec![(m.clone(), format!("eval.{m}"))]))
        .collect();
    if metric_rows.is_empty() {
        metric_rows = keys(&[
            ("JSD to uniform", "jsd_to_uniform"),
            ("modes covered", "modes_covered"),
            ("high-quality share", "high_quality_share"),
        ])
        .into_iter()
        .map(|(l, k)| (l.clone(), vec![(l, k)]))
        .collect();
    }
    metric_rows
}

/// The report's head: the run's config in one sentence.
fn config_line(run: &Run) -> String {
    let mut md = String::new();
    let c = &run.config;
    let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
    let number = |v: Option<f64>| v.map_or_else(|| "null".to_string(), fmt_number);
    md.push_str(&format!("# Run report: {}\n\n", run.dir.display()));
    md.push_str(&format!(
        "**{}** on **{}** ({}), game **{}**, {} kimg planned, batch {}, lr G/D {} / {}, seed {}, device {}{}.\n\n",
        text(&c.arch),
        text(&c.dataset),
        c.dataset_source.as_deref().unwrap_or("source unknown"),
        text(&c.game),
        number(c.kimg),
        number(c.batch_size.map(|b| b as f64)),
        number(c.lr_g),
        number(c.lr_d),
        number(c.seed.map(|s| s as f64)),
        text(&c.resolved_device),
        training_options(c),
    ));
    md
}

/// The options that change what the numbers mean, where a run set them: the reduced precision
/// and G's moving average (which the samples and evaluations then come from).
fn training_options(c: &RunHeadline) -> String {
    let mut out = String::new();
    if let Some(p) = c.precision.as_deref().filter(|p| *p != "fp32") {
        out.push_str(&format!(", precision {p}"));
    }
    if let Some(kimg) = c.ema_kimg {
        out.push_str(&format!(
            "; samples and evaluations from G's moving average (half-life {} kimg)",
            fmt_number(kimg)
        ));
    }
    out
}

/// `## Outcome`: why it stopped, where it stood, the best and last evaluations, the last tick.
fn outcome_section(run: &Run) -> String {
    let mut md = String::new();
    let last = run.ticks.last().cloned().unwrap_or_default();
    md.push_str("## Outcome\n\n");
    if let Some(holder) = ganlab_run::run_dir::holder(&run.dir) {
        md.push_str(&format!(
            "- **in progress**: being trained by {holder}; this report shows the ticks so far\n"
        ));
    }
    match &run.outcome {
        Some(o) => md.push_str(&format!("- stopped: **{}**: {}\n", o.stop_reason, o.message)),
        None => md.push_str("- no outcome.json: the run is still going, or was killed (resume it with `gan train --resume`)\n"),
    }
    md.push_str(&format!(
        "- last tick {} at {} kimg, {:.0} s of training\n",
        last.tick,
        fmt_number(last.kimg),
        last.wall_s
    ));
    match &run.best {
        Some(b) => md.push_str(&format!(
            "- best {}: **{}** at {} kimg (`best.safetensors`)\n",
            b.metric,
            fmt_number(b.value),
            fmt_number(b.kimg)
        )),
        None => md.push_str("- no evaluation recorded (set `evaluation.every_kimg` > 0)\n"),
    }
    if let Some(slope) = run
        .ticks
        .iter()
        .rev()
        .find_map(|t| t.eval_slope_per_kimg.flatten())
    {
        md.push_str(&format!(
            "- convergence: primary metric slope {slope:+.4} per kimg over the last evaluations\n"
        ));
    }
    if let Some(eval) = run.ticks.iter().rev().find_map(|t| t.eval.as_ref()) {
        let shown: Vec<String> = eval
            .iter()
            .map(|(k, v)| format!("{k} {}", fmt(v)))
            .collect();
        md.push_str(&format!("- last evaluation: {}\n", shown.join(", ")));
    }
    let shown: Vec<String> = [
        "loss_d",
        "loss_g",
        "d_real",
        "d_fake",
        "grad_norm_g",
        "sample_diversity",
        "images_per_s",
        "data_wait_share",
    ]
    .iter()
    .filter_map(|k| last.stat(k).map(|v| format!("{k} {}", fmt_number(v))))
    .collect();
    md.push_str(&format!("- last tick: {}\n\n", shown.join(", ")));

    md
}

/// `## Warnings`: each distinct kind once, with where it first and last appeared.
fn warnings_section(run: &Run) -> String {
    let mut md = String::new();
    let mut warnings: BTreeMap<String, (f64, f64, usize, String)> = BTreeMap::new();
    for t in &run.ticks {
        let kimg = t.kimg;
        for w in t.warnings.iter().map(String::as_str) {
            let kind = w.split(':').next().unwrap_or(w).to_string();
            let e = warnings
                .entry(kind)
                .or_insert((kimg, kimg, 0, w.to_string()));
            e.1 = kimg;
            e.2 += 1;
            e.3 = w.to_string();
        }
    }
    md.push_str("## Warnings\n\n");
    if warnings.is_empty() {
        md.push_str("None.\n\n");
    }
    for (kind, (first, last, count, example)) in &warnings {
        md.push_str(&format!(
            "- **{kind}**: {count} tick(s), {first} to {last} kimg; last: {example}\n"
        ));
    }
    if !warnings.is_empty() {
        md.push('\n');
    }
    md
}

/// Writes the report of `run_dir` into `run_dir/report/` and returns the path of `report.md`.
pub fn write_report(run_dir: &Path) -> Result<PathBuf> {
    let run = Run::load(run_dir)?;
    let out = run.dir.join("report");
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let text = font_available();
    let pictures = draw_charts(&run, &out, text)?;
    let strip_kimg = samples_strip(&run.dir, &out.join("samples.png"), 8)?;
    let mut md = config_line(&run);
    md.push_str(&outcome_section(&run));
    md.push_str(&warnings_section(&run));
    md.push_str("## Pictures\n\n");
    if !text {
        md.push_str("(The embedded font could not be registered, so the plots have no text.)\n\n");
    }
    for (title, file) in &pictures {
        md.push_str(&format!("### {title}\n\n![{title}]({file})\n\n"));
    }
    if !strip_kimg.is_empty() {
        let at: Vec<String> = strip_kimg.iter().map(|k| format!("{k}")).collect();
        md.push_str(&format!(
            "### Samples over time\n\nLeft to right at {} kimg.\n\n![samples](samples.png)\n",
            at.join(", ")
        ));
    }
    let path = out.join("report.md");
    write_bytes_atomically(&path, md.as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::{training_options, RunHeadline};

    /// The head names a reduced precision and G's moving average where `config.json` holds
    /// them, and nothing for a plain run (or one of an earlier version, without the keys).
    #[test]
    fn the_head_names_precision_and_g_s_moving_average_where_set() {
        let read = |json: &str| -> RunHeadline { serde_json::from_str(json).expect("config") };
        assert_eq!(training_options(&read(r#"{"arch": "dcgan32"}"#)), "");
        assert_eq!(training_options(&read(r#"{"precision": "fp32"}"#)), "");
        assert_eq!(
            training_options(&read(r#"{"precision": "bf16", "ema_kimg": 10.0}"#)),
            ", precision bf16; samples and evaluations from G's moving average (half-life 10 kimg)"
        );
    }
}
