//! `gan games`: every game trained with the same toy MLP pair on `ring8` and `grid25`, for the
//! same budget (kimg of real samples shown to D) and seeds, and a table of what each achieved:
//! modes covered, share of high-quality samples (within 3σ of a mode) and the JSD of the mode
//! histogram against uniform. Nothing is tuned per game: each runs with its paper's defaults.

use anyhow::{Context, Result};
use ganlab_games::GameName;
use ganlab_run::device::DeviceChoice;
use ganlab_run::files::{write_bytes_atomically, write_json_atomically};
use ganlab_run::train::Reporting;
use ganlab_run::TrainConfig;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Settings of a comparison.
#[derive(Debug, Clone)]
pub struct ComparisonConfig {
    pub games: Vec<GameName>,
    pub datasets: Vec<String>,
    pub seeds: Vec<u64>,
    /// Budget per run, in kimg of real samples shown to D.
    pub kimg: f64,
    pub device: DeviceChoice,
    /// Folder for the runs, the table and the plots.
    pub out_dir: PathBuf,
}

/// One finished run's row.
#[derive(Debug, Clone)]
pub struct Row {
    pub dataset: String,
    pub game: String,
    pub seed: u64,
    pub modes: u64,
    pub modes_covered: u64,
    pub high_quality_share: f64,
    pub jsd_to_uniform: f64,
    pub generator_steps: u64,
    pub wall_s: f64,
    pub scatter: PathBuf,
}

/// Runs the comparison and writes `games.md`, `games.json` and `scatter-<dataset>-<game>-s<seed>.png`.
pub fn run(cfg: &ComparisonConfig, interactive: bool) -> Result<Vec<Row>> {
    std::fs::create_dir_all(&cfg.out_dir)
        .with_context(|| format!("cannot create {}", cfg.out_dir.display()))?;
    let mut rows = Vec::new();
    for dataset in &cfg.datasets {
        for game in &cfg.games {
            for &seed in &cfg.seeds {
                rows.push(run_one(cfg, dataset, *game, seed, interactive)?);
            }
        }
    }
    write_json_atomically(&cfg.out_dir.join("games.json"), &to_json(cfg, &rows))?;
    write_bytes_atomically(
        &cfg.out_dir.join("games.md"),
        to_markdown(cfg, &rows).as_bytes(),
    )?;
    Ok(rows)
}

fn run_one(
    cfg: &ComparisonConfig,
    dataset: &str,
    game: GameName,
    seed: u64,
    interactive: bool,
) -> Result<Row> {
    let run_dir = cfg.out_dir.join(format!("{dataset}-{game}-s{seed}"));
    if run_dir.exists() {
        std::fs::remove_dir_all(&run_dir)
            .with_context(|| format!("cannot clear {}", run_dir.display()))?;
    }
    std::fs::create_dir_all(&run_dir)?;
    let config = TrainConfig {
        dataset: dataset.into(),
        game,
        kimg: cfg.kimg,
        tick_kimg: cfg.kimg / 4.0,
        seed,
        device: cfg.device,
        ..Default::default()
    };
    tracing::info!("games comparison: {dataset} / {game} / seed {seed}");
    let summary = ganlab_run::train(config, &run_dir, Reporting { interactive })
        .with_context(|| format!("{dataset} / {game} / seed {seed}"))?;
    let stats = &summary.last_stats;
    let missing = |k: &str| anyhow::anyhow!("stats of {} lack `{k}`", run_dir.display());
    let scatter = cfg
        .out_dir
        .join(format!("scatter-{dataset}-{game}-s{seed}.png"));
    std::fs::copy(&summary.last_grid, &scatter).with_context(|| {
        format!(
            "cannot copy {} to {}",
            summary.last_grid.display(),
            scatter.display()
        )
    })?;
    Ok(Row {
        dataset: dataset.into(),
        game: game.to_string(),
        seed,
        modes: stats.modes.ok_or_else(|| missing("modes"))?,
        modes_covered: stats
            .modes_covered
            .ok_or_else(|| missing("modes_covered"))?,
        high_quality_share: stats
            .high_quality_share
            .ok_or_else(|| missing("high_quality_share"))?,
        jsd_to_uniform: stats
            .jsd_to_uniform
            .ok_or_else(|| missing("jsd_to_uniform"))?,
        generator_steps: summary.generator_steps,
        wall_s: stats.wall_s,
        scatter,
    })
}

fn to_json(cfg: &ComparisonConfig, rows: &[Row]) -> Value {
    json!({
        "kimg_per_run": cfg.kimg,
        "seeds": cfg.seeds,
        "device": cfg.device.to_string(),
        "toolkit_version": ganlab_run::VERSION,
        "rows": rows.iter().map(|r| json!({
            "dataset": r.dataset, "game": r.game, "seed": r.seed, "modes": r.modes,
            "modes_covered": r.modes_covered, "high_quality_share": r.high_quality_share,
            "jsd_to_uniform": r.jsd_to_uniform, "generator_steps": r.generator_steps,
            "wall_s": r.wall_s, "scatter": r.scatter.file_name().map(|n| n.to_string_lossy().into_owned()),
        })).collect::<Vec<_>>(),
    })
}

fn to_markdown(cfg: &ComparisonConfig, rows: &[Row]) -> String {
    let mut out = format!(
        "Each game with its paper's defaults, the toy MLP pair, {} kimg of real samples shown to D, seeds {:?}.\n\n\
         | dataset | game | seed | modes covered | high-quality share | JSD to uniform | G steps | wall s |\n\
         |---|---|---|---|---|---|---|---|\n",
        cfg.kimg, cfg.seeds
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} / {} | {:.1}% | {:.4} | {} | {:.0} |\n",
            r.dataset,
            r.game,
            r.seed,
            r.modes_covered,
            r.modes,
            100.0 * r.high_quality_share,
            r.jsd_to_uniform,
            r.generator_steps,
            r.wall_s
        ));
    }
    out
}

/// The default output folder: `runs/games-<unix seconds>`.
pub fn default_out_dir(runs_root: &Path) -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    runs_root.join(format!("games-{stamp}"))
}
