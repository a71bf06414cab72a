//! The studies (`gan study NAME`) in their tiny configuration, so that their commands cannot
//! rot, and the time budget they rest on. One file: runs in one process take turns anyway.

use ganlab_report::study::{self, StudyName, StudyOptions};
use ganlab_run::config::RunConfig;
use ganlab_run::device::DeviceChoice;
use ganlab_run::stats::read_ticks;
use ganlab_run::train::{resume, Reporting};
use ganlab_run::TrainConfig;
use serde_json::Value;
use std::path::Path;

fn quiet() -> Reporting {
    Reporting { interactive: false }
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("json")
}

#[test]
fn a_time_budget_ends_the_run_at_a_tick_with_an_evaluation_and_its_clock_survives_resume() {
    let _rng = ganlab_tests::global_rng_lock();
    let mut config = TrainConfig::from_preset(ganlab_run::config::Preset::ToyRing8);
    config.kimg = 100_000.0;
    config.tick_kimg = 2.56;
    config.time_budget_s = Some(1.5);
    // Evaluations are due far later: the one at the end comes from the budget.
    config.evaluation.every_kimg = 10_000.0;
    config.device = DeviceChoice::Cpu;
    let dir = tempfile::tempdir().expect("tmp");
    let summary = ganlab_run::train(config.clone(), dir.path(), quiet()).expect("train");
    assert_eq!(summary.stop, ganlab_run::train::StopReason::TimeBudget);
    let outcome = read_json(&dir.path().join("outcome.json"));
    assert_eq!(outcome["stop_reason"], "time-budget");
    let ticks = read_ticks(&dir.path().join("stats.jsonl"));
    let last = ticks.last().expect("a tick");
    let spent = last.train_s.expect("train_s");
    assert!(spent >= 1.5, "stopped after {spent} s of a 1.5 s budget");
    assert!(last.eval.is_some(), "the last tick evaluates: {last:?}");
    assert!(ticks[..ticks.len() - 1].iter().all(|t| t.eval.is_none()));
    assert!(
        ticks.windows(2).all(|w| w[0].train_s < w[1].train_s),
        "train_s grows tick by tick"
    );
    // Resumed with a larger budget, the clock continues from the snapshot's tick.
    let mut saved = RunConfig::read(dir.path()).expect("config").config;
    saved.time_budget_s = Some(3.0);
    let again = resume(saved, dir.path(), quiet()).expect("resume");
    assert_eq!(again.stop, ganlab_run::train::StopReason::TimeBudget);
    let after = read_ticks(&dir.path().join("stats.jsonl"));
    let resumed = &after[ticks.len()];
    assert!(
        resumed.train_s.expect("train_s") > spent,
        "the first tick after resuming counts on from {spent} s: {:?}",
        resumed.train_s
    );
    assert!(after.last().and_then(|t| t.train_s).expect("train_s") >= 3.0);
    // A budget that is not a positive number is refused, naming the key.
    config.time_budget_s = Some(0.0);
    let err = config.validate().expect_err("zero budget");
    assert!(format!("{err:#}").contains("time_budget_s"), "{err:#}");
}

fn options(name: StudyName, root: &Path) -> StudyOptions {
    StudyOptions {
        name,
        runs_root: root.join("runs"),
        out_dir: root.join("pages"),
        tiny: true,
        device: DeviceChoice::Cpu,
        // A person's pick among the grids is the stopping study's alone.
        pick_kimg: (name == StudyName::Stopping).then_some(0.128),
        keep_snapshots: false,
        interactive: false,
    }
}

#[test]
fn every_study_runs_in_its_tiny_configuration_and_its_page_is_a_function_of_its_runs() {
    let _rng = ganlab_tests::global_rng_lock();
    let root = tempfile::tempdir().expect("tmp");
    // A person's reading of the games page, kept beside it, goes under the page's header.
    std::fs::create_dir_all(root.path().join("pages")).expect("pages");
    std::fs::write(
        root.path().join("pages").join("games.findings.md"),
        "Hinge ends best.\n",
    )
    .expect("findings");
    // `stopping` follows the games study's best run, so it comes after it.
    for name in StudyName::ALL {
        let opts = options(name, root.path());
        let page = study::run(&opts).unwrap_or_else(|e| panic!("study {name}: {e:#}"));
        let md = std::fs::read_to_string(&page).expect("page");
        for section in [
            "# Study: ",
            "- machine: ",
            "- date: ",
            "## Commands",
            "gan train --preset",
        ] {
            assert!(md.contains(section), "{name}: the page lacks `{section}`");
        }
        let record = read_json(&opts.out_dir.join(format!("{name}.json")));
        let figures = std::fs::read_dir(opts.out_dir.join(name.name()))
            .expect("pictures")
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
            .count();
        assert!(figures >= 1, "{name}: no pictures");
        match name {
            StudyName::Games => {
                // Six games and WGAN-GP once more with a batch-norm critic; a probe per game.
                assert_eq!(record["results"].as_array().map(Vec::len), Some(7));
                assert_eq!(record["first_kimg"].as_array().map(Vec::len), Some(6));
                assert!(md.contains("## What it shows\n\nHinge ends best."), "{md}");
                for file in [
                    "domain-fid.png",
                    "swd.png",
                    "grad-norm-g.png",
                    "grad-norm-g-runs.png",
                    "grid-minimax.png",
                    "grid-wgan-gp-batchnorm.png",
                ] {
                    assert!(
                        opts.out_dir.join("games").join(file).is_file(),
                        "games/{file}"
                    );
                }
            }
            StudyName::Growing => {
                assert_eq!(record["results"].as_array().map(Vec::len), Some(3));
                assert!(record["time_to_fid"].is_array());
            }
            StudyName::Toys => {
                assert_eq!(record["results"].as_array().map(Vec::len), Some(12));
                // How long each game takes to cover every mode and to settle, per contender.
                let convergence = record["convergence"].as_array().expect("convergence");
                assert_eq!(convergence.len(), 12);
                for key in [
                    "kimg_settled",
                    "modes_last_quarter",
                    "high_quality_last_quarter",
                    "kimg_to_90pct_high_quality",
                ] {
                    assert!(convergence.iter().all(|c| c[key].is_array()), "{key}");
                }
                assert!(md.contains("high-quality share, last quarter"), "{md}");
                assert!(md.contains("### How long it takes"), "{md}");
            }
            StudyName::Limited => {
                // 1,000 and 2,000 images, each without augmentation, with DiffAugment, with ADA.
                assert_eq!(record["results"].as_array().map(Vec::len), Some(6));
                let overfitting = record["overfitting"].as_array().expect("overfitting");
                assert_eq!(overfitting.len(), 6);
                for row in overfitting {
                    for key in ["rt", "train_sign", "held_out_sign", "gap"] {
                        let values = row[key].as_array().expect(key);
                        assert_eq!(values.len(), 1, "{key} of {row}");
                        assert!(values
                            .iter()
                            .all(|v| v.as_f64().is_some_and(|x| x.abs() <= 2.0)));
                    }
                    let ada = row["contender"]
                        .as_str()
                        .is_some_and(|c| c.ends_with("-ada"));
                    assert_eq!(
                        row["ada_p"].as_array().map(Vec::len),
                        Some(usize::from(ada)),
                        "{row}"
                    );
                }
                assert!(md.contains("## D's overfitting"), "{md}");
                assert!(opts.out_dir.join("limited").join("rt.png").is_file());
            }
            StudyName::Precision => {
                // DCGAN-32 in fp32, bf16 and bf16 with float32 image layers, and with G's
                // moving average in fp32 and bf16; ProGAN-32 in fp32 and bf16.
                let labels: Vec<&str> = record["results"]
                    .as_array()
                    .expect("results")
                    .iter()
                    .filter_map(|r| r["contender"].as_str())
                    .collect();
                assert_eq!(
                    labels,
                    [
                        "dcgan32-fp32",
                        "dcgan32-bf16",
                        "dcgan32-bf16-fp32img",
                        "dcgan32ema-fp32",
                        "dcgan32ema-bf16",
                        "progan32-fp32",
                        "progan32-bf16"
                    ]
                );
                // Each reduced-precision variant against its model's fp32 runs, with the
                // rank test's p-value; one speed-up per variant.
                let cmp = &record["reduced_against_fp32"];
                let variants: std::collections::BTreeSet<(&str, &str)> = cmp["speed"]
                    .as_array()
                    .expect("speed")
                    .iter()
                    .map(|r| (r["model"].as_str().unwrap(), r["variant"].as_str().unwrap()))
                    .collect();
                assert_eq!(
                    variants,
                    [
                        ("dcgan32", "bf16"),
                        ("dcgan32", "bf16-fp32img"),
                        ("dcgan32ema", "bf16"),
                        ("progan32", "bf16")
                    ]
                    .into_iter()
                    .collect()
                );
                for row in cmp["ends"].as_array().expect("ends") {
                    let p = row["p_worse"].as_f64().expect("p");
                    assert!(p > 0.0 && p <= 1.0, "{row}");
                }
                assert!(md.contains("variant worse: U, p"), "{md}");
            }
            StudyName::Conditional => {
                // MNIST and Fashion-MNIST, each unconditional and conditional; the conditional
                // runs by class, ten classes each.
                assert_eq!(record["results"].as_array().map(Vec::len), Some(4));
                let by_class = record["by_class"].as_array().expect("by_class");
                let labels: Vec<&str> = by_class
                    .iter()
                    .filter_map(|r| r["contender"].as_str())
                    .collect();
                assert_eq!(labels, ["mnist-cond", "fashion-mnist-cond"]);
                for row in by_class {
                    let per_class = row["per_class_accuracy"].as_array().expect("per class");
                    assert_eq!(per_class.len(), 1, "one seed: {row}");
                    assert_eq!(per_class[0].as_array().map(Vec::len), Some(10), "{row}");
                    assert!(row["class_accuracy"][0]
                        .as_f64()
                        .is_some_and(|a| (0.0..=1.0).contains(&a)));
                }
                assert!(md.contains("## By class"), "{md}");
                assert!(opts
                    .out_dir
                    .join("conditional")
                    .join("class-accuracy.png")
                    .is_file());
            }
            StudyName::Stopping => {
                let stops = record["stops"].as_array().expect("stops");
                let metrics: Vec<&str> =
                    stops.iter().filter_map(|s| s["metric"].as_str()).collect();
                for m in ["eval.fid", "eval.is", "eval.swd", "eval.domain-fid"] {
                    assert!(metrics.contains(&m), "stopping: no stop for {m}: {stops:?}");
                }
                assert!(md.contains("a person's pick"), "the pick is shown");
                // The pick is kept with the runs: the page written again without the flag
                // still shows it.
                let again = StudyOptions {
                    pick_kimg: None,
                    ..options(name, root.path())
                };
                let page = study::run(&again).expect("the page without --pick-kimg");
                let md_again = std::fs::read_to_string(page).expect("page");
                assert!(md_again.contains("a person's pick"), "{md_again}");
                // The pick lands on an evaluation, with the domain FID there.
                let person = stops
                    .iter()
                    .find(|s| s["criterion"] == "person")
                    .expect("the person's stop");
                assert!(person["domain_fid"].is_f64(), "{person}");
                // A pick far from every evaluation is refused, naming the flag.
                let far = StudyOptions {
                    pick_kimg: Some(1e6),
                    ..options(name, root.path())
                };
                let err = study::run(&far).expect_err("a pick outside the run");
                assert!(format!("{err:#}").contains("--pick-kimg"), "{err:#}");
                // The grid of each evaluation (its file name rounds the kimg to 0.01).
                assert!(
                    md.contains("](stopping/grid-kimg"),
                    "no evaluation grid:\n{md}"
                );
            }
        }
        // Ended runs keep what the page needs, not their snapshots: the grid of their last
        // tick and, for the stopping study, of every evaluation.
        let runs = opts.runs_root.join("study").join(format!("{name}-tiny"));
        for run in std::fs::read_dir(&runs)
            .expect("runs")
            .filter_map(|e| e.ok())
        {
            if run.path().is_dir() {
                let snapshots = ganlab_run::snapshot::list(&run.path()).expect("list");
                assert!(
                    snapshots.is_empty(),
                    "{}: {snapshots:?}",
                    run.path().display()
                );
                assert!(run.path().join("stats.jsonl").is_file());
                // The image studies' main runs were measured again at their end; probes, the
                // toys and the stopping study's run were not.
                let probe = run.file_name().to_string_lossy().starts_with("probe-");
                let measured = !probe && !matches!(name, StudyName::Toys | StudyName::Stopping);
                assert_eq!(
                    run.path().join(study::FINAL_EVAL_FILE).is_file(),
                    measured,
                    "{}",
                    run.path().display()
                );
                let grids = ganlab_report::report::tick_pictures(&run.path()).expect("grids");
                let evaluations = ganlab_run::stats::read_ticks(&run.path().join("stats.jsonl"))
                    .iter()
                    .filter(|t| t.eval.is_some())
                    .count();
                let expected = match name {
                    StudyName::Stopping => evaluations.max(1)..=evaluations + 1,
                    _ => 1..=1,
                };
                assert!(
                    expected.contains(&grids.len()),
                    "{}: {} grids, {evaluations} evaluations",
                    run.path().display(),
                    grids.len()
                );
            }
        }
        // Run again: every run has ended, nothing is trained, and the tables come out the same.
        study::run(&opts).unwrap_or_else(|e| panic!("study {name} again: {e:#}"));
        assert_eq!(
            read_json(&opts.out_dir.join(format!("{name}.json"))),
            record,
            "{name}: the page's numbers are a function of its runs"
        );
        let listing = study::describe(&opts).expect("describe");
        assert!(
            listing.lines().skip(1).all(|l| l.ends_with(": ended")),
            "{name}: every run is the plan's and has ended:\n{listing}"
        );
    }
    // A run made by another plan (here: its saved kimg edited) is named, with what changed,
    // and would be trained again rather than mixed into the page.
    let opts = options(StudyName::Limited, root.path());
    let run = opts
        .runs_root
        .join("study")
        .join("limited-tiny")
        .join("1000-none-s0");
    let mut saved = read_json(&run.join("config.json"));
    saved["kimg"] = serde_json::json!(1234.5);
    std::fs::write(run.join("config.json"), saved.to_string()).expect("edit the config");
    let listing = study::describe(&opts).expect("describe");
    let line = listing
        .lines()
        .find(|l| l.starts_with("1000-none-s0: "))
        .expect("the run is listed");
    assert!(
        line.contains("made by another plan") && line.contains("kimg: 1234.5 -> "),
        "{listing}"
    );
    // Trained again, the run's wall time is this session's alone: the page's wall time does not
    // count its first training.
    let runs_dir = run.parent().expect("runs dir").to_path_buf();
    let before = read_json(&runs_dir.join("study.json"));
    let first = before["run_wall_s"]["1000-none-s0"]
        .as_f64()
        .expect("its time");
    assert!(first > 0.0, "{before}");
    let page = study::run(&opts).expect("the run trained again");
    let after = read_json(&runs_dir.join("study.json"));
    let session =
        after["wall_s"].as_f64().expect("wall_s") - before["wall_s"].as_f64().expect("wall_s");
    let again = after["run_wall_s"]["1000-none-s0"]
        .as_f64()
        .expect("its time");
    assert!((again - session).abs() < 1e-9, "{first} {session} {again}");
    let md = std::fs::read_to_string(&page).expect("page");
    assert!(
        md.contains("wall time of the study's runs: ") && !md.contains("from their ticks"),
        "{md}"
    );
    // The page names the machine each run's record names, not the one that writes the page.
    let machine = after["run_machine"]["1000-none-s0"]
        .as_str()
        .expect("its machine");
    assert!(md.contains(&format!("- machine: {machine}; ")), "{md}");
    // A record without per-run times or machines (a study run before it kept them): the page
    // takes each run's time from its log's sessions and says so, and the machine from the
    // record's study-wide `machine`.
    let mut old = after.clone();
    let fields = old.as_object_mut().expect("object");
    fields.remove("run_wall_s");
    fields.remove("run_machine");
    fields.insert("machine".into(), "a machine of 2026-12-02".into());
    std::fs::write(runs_dir.join("study.json"), old.to_string()).expect("old record");
    let md = std::fs::read_to_string(study::run(&opts).expect("page again")).expect("page");
    let runs = study::describe(&opts).expect("describe").lines().count() - 1;
    assert!(
        md.contains(&format!("({runs} of {runs} runs' times from their logs")),
        "{md}"
    );
    assert!(md.contains("- machine: a machine of 2026-12-02; "), "{md}");
}

/// Each ended run of an image study is evaluated again on its last snapshot before the
/// snapshots go (`final-eval.json`): exactly `gan eval --draws` on that snapshot with the run's
/// metrics and evaluation seeds 0, 1, …; a study stopped between a run's end and that
/// evaluation makes it when run again (the snapshots are kept until then), to the same numbers;
/// the toys and probes get none.
#[test]
fn an_ended_run_is_measured_again_on_its_last_snapshot_and_a_stopped_study_catches_up() {
    let _rng = ganlab_tests::global_rng_lock();
    let root = tempfile::tempdir().expect("tmp");
    let opts = StudyOptions {
        keep_snapshots: true,
        ..options(StudyName::Conditional, root.path())
    };
    study::run(&opts).expect("study");
    let plan = study::plans::plan(&opts).expect("plan");
    let spec = plan
        .final_eval
        .expect("an image study evaluates its runs at the end");
    let run = plan
        .runs()
        .into_iter()
        .find(|r| r.contender.label == "mnist-cond")
        .expect("run");
    let path = run.dir.join(study::FINAL_EVAL_FILE);
    let written = read_json(&path);
    let snapshot = ganlab_run::train::newest_snapshot(&run.dir)
        .expect("list")
        .expect("kept");
    assert_eq!(
        written["snapshot"],
        snapshot
            .file_name()
            .expect("name")
            .to_string_lossy()
            .as_ref()
    );
    let saved = RunConfig::read(&run.dir).expect("config").config;
    let metrics: Vec<String> = saved
        .evaluation
        .resolved_metrics(&saved)
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    assert!(
        metrics.contains(&"class-accuracy".to_string()),
        "{metrics:?}"
    );
    let direct = ganlab_run::draws::evaluate_draws(
        &ganlab_run::eval::EvalConfig {
            real: "mnist".into(),
            fake: snapshot.display().to_string(),
            metrics,
            n: spec.n,
            seed: 0,
            device: DeviceChoice::Cpu,
            resolution: Some(32),
            classifier: Some("mnist".into()),
            ..Default::default()
        },
        spec.draws,
    )
    .expect("gan eval --draws");
    assert_eq!(written["summary"], direct.to_json()["summary"]);
    assert_eq!(written["draws"], spec.draws);
    // Stopped before the evaluation: the dry run says so, the next run makes it, alike.
    std::fs::remove_file(&path).expect("rm");
    let plan_words = study::describe(&opts).expect("describe");
    assert!(
        plan_words.contains("mnist-cond-s0: ended, its final evaluation to do"),
        "{plan_words}"
    );
    study::run(&StudyOptions {
        keep_snapshots: false,
        ..opts.clone()
    })
    .expect("study again");
    assert_eq!(read_json(&path)["summary"], written["summary"]);
    assert!(
        ganlab_run::train::newest_snapshot(&run.dir)
            .expect("list")
            .is_none(),
        "compacted after its final evaluation"
    );
    let record = read_json(&opts.out_dir.join("conditional.json"));
    assert_eq!(
        record["final_evaluation"]["results"]
            .as_array()
            .map(Vec::len),
        Some(4),
        "{record}"
    );
    // The toys' mode metrics are exact at every evaluation: no final evaluation.
    let toys = study::plans::plan(&options(StudyName::Toys, root.path())).expect("plan");
    assert!(toys.final_eval.is_none());
}

#[test]
fn a_pick_among_the_grids_is_refused_for_a_study_without_them() {
    let root = tempfile::tempdir().expect("tmp");
    let opts = StudyOptions {
        pick_kimg: Some(170.0),
        ..options(StudyName::Games, root.path())
    };
    let err = study::run(&opts).expect_err("games has no pick");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("--pick-kimg 170") && msg.contains("study games"),
        "{msg}"
    );
    // Refused before anything is made.
    assert!(!opts.runs_root.exists(), "{}", opts.runs_root.display());
}

#[test]
fn an_unknown_study_is_named_with_the_valid_ones() {
    let _rng = ganlab_tests::global_rng_lock();
    let err = "gamez".parse::<StudyName>().expect_err("unknown");
    assert!(
        err.contains("gamez") && err.contains("games, growing, toys, stopping"),
        "{err}"
    );
}

/// The committed runs of every study (`docs/study-runs`) are the runs its plan asks for now:
/// `cargo xtask study NAME --runs-root docs/study-runs` rewrites the page from them instead of
/// training a run again. A plan change that would make a committed run stale (a metric added to
/// every image run, a default moved) fails here, not hours into someone's study.
#[test]
fn the_committed_runs_of_every_study_are_the_runs_its_plan_asks_for() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for name in StudyName::ALL {
        let opts = StudyOptions {
            runs_root: root.join("docs/study-runs"),
            tiny: false,
            pick_kimg: None,
            ..options(name, &root)
        };
        let lines = study::describe(&opts).unwrap_or_else(|e| panic!("study {name}: {e:#}"));
        let not_ended: Vec<&str> = lines
            .lines()
            .skip(1)
            .filter(|l| !l.ends_with(": ended"))
            .collect();
        assert!(
            not_ended.is_empty(),
            "study {name}: committed runs that its plan would train: {not_ended:#?}"
        );
        assert!(lines.lines().count() > 1, "study {name}: no runs: {lines}");
    }
}

/// Every committed study page (`docs/study/NAME.md` and `NAME.json`) is what the study command
/// writes from the committed runs (`docs/study-runs`): the pages are a function of the runs and
/// their record, whatever the machine or the day, and a change to the page code that would
/// change a committed page fails here until the page is written again.
#[test]
fn every_committed_study_page_is_written_again_from_its_committed_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let docs = root.join("docs/study");
    let out = tempfile::tempdir().expect("tmp");
    // A person's reading beside each page goes under its header.
    for entry in std::fs::read_dir(&docs).expect("docs/study").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".findings.md") {
            std::fs::copy(entry.path(), out.path().join(&name)).expect("findings");
        }
    }
    let runs_root = root.join("docs/study-runs");
    for name in StudyName::ALL {
        let opts = StudyOptions {
            runs_root: runs_root.clone(),
            out_dir: out.path().to_path_buf(),
            tiny: false,
            pick_kimg: None,
            ..options(name, out.path())
        };
        // Nothing to train: every run is the plan's and has ended (the test above says which
        // is not), so this writes the page and nothing else.
        let listing = study::describe(&opts).expect("describe");
        assert!(
            listing.lines().skip(1).all(|l| l.ends_with(": ended")),
            "study {name}: {listing}"
        );
        study::run(&opts).unwrap_or_else(|e| panic!("study {name}: {e:#}"));
        for file in [format!("{name}.md"), format!("{name}.json")] {
            let written = std::fs::read_to_string(out.path().join(&file)).expect("written");
            // The page names its runs' folder as it was given: here the absolute one.
            let written = written.replace(&format!("{}/", runs_root.display()), "docs/study-runs/");
            let committed = std::fs::read_to_string(docs.join(&file)).expect("committed");
            if written != committed {
                let first = written
                    .lines()
                    .zip(committed.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                panic!(
                    "docs/study/{file} is not what `cargo xtask study {name} --runs-root \
                     docs/study-runs` writes; first difference, line {}:\n  committed: {}\n  \
                     written:   {}",
                    first + 1,
                    committed.lines().nth(first).unwrap_or(""),
                    written.lines().nth(first).unwrap_or("")
                );
            }
        }
    }
}
