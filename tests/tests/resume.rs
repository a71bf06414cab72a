//! Resuming from a snapshot gives exactly the parameters of the uninterrupted run (CPU, same
//! seed), for DCGAN-32, for ProGAN from a snapshot taken in the middle of a fade-in, and for a
//! spectrally normalised D under WGAN-GP (its power iterations' u and v resume too), and for ADA
//! (p, r_t's sums and the augmentation's draws continue), for a conditional pair, and for G's
//! moving average, and in bf16. The tests take the lock of libtorch's global generator, so that
//! no other test in the process draws from it meanwhile.

use ganlab_run::config::RunConfig;
use ganlab_run::snapshot::Snapshot;
use ganlab_run::train::{resume, Reporting};
use ganlab_run::TrainConfig;
use std::path::Path;

fn quiet() -> Reporting {
    Reporting { interactive: false }
}

fn assert_same_parameters(a: &Path, b: &Path) {
    let (a, b) = (Snapshot::read(a).expect("a"), Snapshot::read(b).expect("b"));
    assert_eq!(
        a.tensors.keys().collect::<Vec<_>>(),
        b.tensors.keys().collect::<Vec<_>>()
    );
    for (name, t) in &a.tensors {
        assert!(t.equal(&b.tensors[name]), "{name} differs after resuming");
    }
}

/// DCGAN-32, four ticks of 64 images with a snapshot each.
fn dcgan_config() -> TrainConfig {
    TrainConfig {
        kimg: 0.256,
        tick_kimg: 0.064,
        snapshot_ticks: 1,
        keep_snapshots: 0,
        batch_size: Some(32),
        width: 8,
        device: ganlab_run::device::DeviceChoice::Cpu,
        grid_images: 4,
        seed: 7,
        evaluation: ganlab_run::monitor::EvaluationSettings {
            every_kimg: 0.0,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn resumed_runs_end_with_identical_parameters() {
    let _rng = ganlab_tests::global_rng_lock();
    // DCGAN-32: four ticks with a snapshot each; resume from the second.
    let config = dcgan_config();
    let full = tempfile::tempdir().expect("tmp");
    let a = ganlab_run::train(config.clone(), full.path(), quiet()).expect("uninterrupted");
    let cut = tempfile::tempdir().expect("tmp");
    ganlab_tests::copy_run_killed_after(full.path(), cut.path(), "0000.13");
    let saved = RunConfig::read(cut.path()).expect("config.json").config;
    let b = resume(saved, cut.path(), quiet()).expect("resumed");
    assert_eq!(a.images_shown, b.images_shown);
    assert_same_parameters(&a.snapshot, &b.snapshot);
    let stats = |dir: &Path| {
        std::fs::read_to_string(dir.join("stats.jsonl"))
            .expect("stats")
            .lines()
            .count()
    };
    assert_eq!(
        stats(cut.path()),
        4,
        "ticks after the snapshot are redone, not duplicated"
    );
    let log = std::fs::read_to_string(cut.path().join("log.txt")).expect("log");
    assert!(log.contains("resumed at 0.128 kimg (tick 2)"), "{log}");

    // Conditional (`cond`): the class tables resume with the networks, and the batches' labels
    // continue with their images.
    let cond = TrainConfig {
        cond: true,
        kimg: 0.128,
        tick_kimg: 0.032,
        ..config.clone()
    };
    let full = tempfile::tempdir().expect("tmp");
    let a = ganlab_run::train(cond, full.path(), quiet()).expect("uninterrupted, conditional");
    let snapshot = Snapshot::read(&a.snapshot).expect("snapshot");
    for table in ["G.class_embed.weight", "D.class_projection.weight"] {
        assert!(
            snapshot.tensors.contains_key(table),
            "{table} in the snapshot"
        );
    }
    let cut = tempfile::tempdir().expect("tmp");
    ganlab_tests::copy_run_killed_after(full.path(), cut.path(), "0000.06");
    let saved = RunConfig::read(cut.path()).expect("config.json").config;
    assert_eq!((saved.cond, saved.classes), (true, Some(10)));
    let b = resume(saved, cut.path(), quiet()).expect("resumed, conditional");
    assert_same_parameters(&a.snapshot, &b.snapshot);

    // Spectral normalisation, under WGAN-GP's double backward: u and v are in every snapshot
    // and the resumed run continues their power iterations exactly.
    let sn = TrainConfig {
        d_spectral_norm: true,
        game: ganlab_games::GameName::WganGp,
        game_options: ganlab_games::GameOptions {
            critic_steps: Some(1),
            ..Default::default()
        },
        kimg: 0.128,
        tick_kimg: 0.032,
        ..config.clone()
    };
    let full = tempfile::tempdir().expect("tmp");
    let a = ganlab_run::train(sn, full.path(), quiet()).expect("uninterrupted, spectral norm");
    let snapshot = Snapshot::read(&a.snapshot).expect("snapshot");
    let buffers = snapshot
        .tensors
        .keys()
        .filter(|k| k.starts_with("D.") && (k.ends_with("weight_u") || k.ends_with("weight_v")))
        .count();
    assert_eq!(buffers, 8, "u and v of D's four convolutions");
    let cut = tempfile::tempdir().expect("tmp");
    ganlab_tests::copy_run_killed_after(full.path(), cut.path(), "0000.06");
    let saved = RunConfig::read(cut.path()).expect("config.json").config;
    assert!(saved.d_spectral_norm, "config.json records d_spectral_norm");
    let b = resume(saved, cut.path(), quiet()).expect("resumed, spectral norm");
    assert_same_parameters(&a.snapshot, &b.snapshot);

    // ADA: p and r_t's sums are in the snapshot, and the augmentation's draws continue from
    // the reseeded generator. p starts at 0.5 and moves 0.032 per step (batch 32, 1 kimg from
    // 0 to 1), every step.
    let ada = TrainConfig {
        augment: "ada".parse().expect("ada"),
        ada: ganlab_augment::AdaSettings {
            initial_p: 0.5,
            speed_kimg: 1.0,
            interval: 1,
            ..Default::default()
        },
        ..config.clone()
    };
    let full = tempfile::tempdir().expect("tmp");
    let a = ganlab_run::train(ada, full.path(), quiet()).expect("uninterrupted, ADA");
    let p_of = |dir: &Path| -> Vec<f64> {
        std::fs::read_to_string(dir.join("stats.jsonl"))
            .expect("stats")
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json")["ada_p"]
                    .as_f64()
                    .expect("ada_p")
            })
            .collect()
    };
    let uninterrupted = p_of(full.path());
    assert!(
        uninterrupted
            .iter()
            .all(|p| (*p - 0.5).abs() > 1e-6 && (0.0..=1.0).contains(p)),
        "{uninterrupted:?}"
    );
    let cut = tempfile::tempdir().expect("tmp");
    ganlab_tests::copy_run_killed_after(full.path(), cut.path(), "0000.13");
    let saved = RunConfig::read(cut.path()).expect("config.json").config;
    assert_eq!(saved.augment.to_string(), "ada:bgc");
    let b = resume(saved, cut.path(), quiet()).expect("resumed, ADA");
    assert_same_parameters(&a.snapshot, &b.snapshot);
    assert_eq!(p_of(cut.path()), uninterrupted, "p after resuming");

    // ProGAN: a snapshot in the middle of the 4 → 8 fade resumes with the same resolution and α.
    let mut progan = ganlab_tests::tiny_progan_config(16, 8, 0.064, 0.128);
    progan.progan.schedule.minibatch = [(4, 16), (8, 16), (16, 16), (32, 16)].into_iter().collect();
    progan.kimg = 0.256;
    progan.tick_kimg = 0.032;
    progan.snapshot_ticks = 1;
    progan.keep_snapshots = 0; // keep every snapshot: the test resumes from a middle one
    progan.grid_images = 4;
    let full = tempfile::tempdir().expect("tmp");
    let a = ganlab_run::train(progan, full.path(), quiet()).expect("uninterrupted progan");
    let cut = tempfile::tempdir().expect("tmp");
    ganlab_tests::copy_run_killed_after(full.path(), cut.path(), "0000.13"); // 128 images: half-way through the fade
    let saved = RunConfig::read(cut.path()).expect("config.json").config;
    let b = resume(saved, cut.path(), quiet()).expect("resumed progan");
    assert_same_parameters(&a.snapshot, &b.snapshot);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(cut.path().join("stats.jsonl"))
        .expect("stats")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let at_snapshot = lines
        .iter()
        .find(|s| s["kimg"] == 0.128)
        .expect("the tick of the snapshot");
    assert_eq!(at_snapshot["resolution"], 8);
    assert!(
        (at_snapshot["alpha"].as_f64().expect("alpha") - 0.5).abs() < 1e-9,
        "{at_snapshot}"
    );
}

/// Reduced precision keeps the guarantee: a bf16 run stopped after a snapshot (a SIGKILL's
/// leftovers: the run directory as it was then) and resumed ends with the uninterrupted run's
/// parameters, bit for bit: DCGAN-32 with its image layers in float32, and ProGAN from the
/// middle of its 4 → 8 fade with only the highest resolution reduced and the conv clamp. Both
/// differ from the same run in fp32, so the reduced type is in effect. (fp16's scaler state
/// resumes too: `research_engine.rs`.)
#[test]
fn bf16_runs_resume_exactly() {
    let _rng = ganlab_tests::global_rng_lock();
    let dcgan = TrainConfig {
        precision: ganlab_train::Precision::Bf16,
        fp32_image_layers: true,
        kimg: 0.128,
        tick_kimg: 0.032,
        ..dcgan_config()
    };
    let mut progan = ganlab_tests::tiny_progan_config(16, 8, 0.064, 0.128);
    progan.progan.schedule.minibatch = [(4, 16), (8, 16)].into_iter().collect();
    progan.kimg = 0.192;
    progan.tick_kimg = 0.032;
    progan.snapshot_ticks = 1;
    progan.keep_snapshots = 0;
    progan.grid_images = 4;
    progan.precision = ganlab_train::Precision::Bf16;
    progan.progan.reduced_precision_resolutions = Some(1);
    progan.progan.conv_clamp = Some(256.0);
    for (name, config, cut_at) in [("dcgan32", dcgan, "0000.06"), ("progan", progan, "0000.13")] {
        let full = tempfile::tempdir().expect("tmp");
        let a = ganlab_run::train(config.clone(), full.path(), quiet()).expect("uninterrupted");
        let cut = tempfile::tempdir().expect("tmp");
        ganlab_tests::copy_run_killed_after(full.path(), cut.path(), cut_at);
        let saved = RunConfig::read(cut.path()).expect("config.json").config;
        assert_eq!(saved.precision, ganlab_train::Precision::Bf16, "{name}");
        let b = resume(saved, cut.path(), quiet()).expect("resumed");
        assert_eq!(a.images_shown, b.images_shown, "{name}");
        assert_same_parameters(&a.snapshot, &b.snapshot);

        let mut fp32 = TrainConfig {
            precision: ganlab_train::Precision::Fp32,
            fp32_image_layers: false,
            ..config
        };
        fp32.progan.reduced_precision_resolutions = None;
        let plain = tempfile::tempdir().expect("tmp");
        let c = ganlab_run::train(fp32, plain.path(), quiet()).expect("fp32");
        let (a, c) = (
            Snapshot::read(&a.snapshot).expect("bf16"),
            Snapshot::read(&c.snapshot).expect("fp32"),
        );
        assert!(
            a.tensors.iter().any(|(k, t)| !t.equal(&c.tensors[k])),
            "{name}: the bf16 run ends as the fp32 one"
        );
    }
}

/// G's moving average (`ema_kimg`, with a ramp-up) only watches: G, D and their optimisers end
/// as in the run without it. It is in every snapshot, resumes exactly (the ramp-up continues
/// from the images shown), and is what `gan generate` and `gan eval` sample.
#[test]
fn g_s_moving_average_watches_training_and_resumes_exactly() {
    let _rng = ganlab_tests::global_rng_lock();
    let plain = tempfile::tempdir().expect("tmp");
    let p = ganlab_run::train(dcgan_config(), plain.path(), quiet()).expect("without the average");
    // β = 0.5^(32 / 100) per step, capped by the ramp-up at 0.5^(32 / (0.5 · images shown)).
    let config = TrainConfig {
        ema_kimg: Some(0.1),
        ema_rampup: Some(0.5),
        ..dcgan_config()
    };
    let full = tempfile::tempdir().expect("tmp");
    let a = ganlab_run::train(config, full.path(), quiet()).expect("uninterrupted, averaged");
    let (without, with) = (
        Snapshot::read(&p.snapshot).expect("snapshot"),
        Snapshot::read(&a.snapshot).expect("snapshot"),
    );
    for (name, t) in &without.tensors {
        assert!(
            t.equal(&with.tensors[name]),
            "{name} differs with G's moving average"
        );
    }
    let averaged: Vec<&String> = with
        .tensors
        .keys()
        .filter(|k| k.starts_with("G_ema."))
        .collect();
    assert_eq!(
        averaged.len(),
        without.section("G").len(),
        "every variable of G is averaged"
    );
    let apart = averaged.iter().filter(|k| {
        let g = &with.tensors[&k.replacen("G_ema.", "G.", 1)];
        !with.tensors[**k].allclose(g, 1e-6, 1e-6, false)
    });
    assert!(apart.count() > 0, "the average equals G after 8 steps");
    let generator = ganlab_run::generator::TrainedGenerator::load(&a.snapshot, tch::Device::Cpu)
        .expect("the run's generator");
    assert_eq!(generator.section, "G_ema");

    let cut = tempfile::tempdir().expect("tmp");
    ganlab_tests::copy_run_killed_after(full.path(), cut.path(), "0000.13");
    let saved = RunConfig::read(cut.path()).expect("config.json").config;
    assert_eq!((saved.ema_kimg, saved.ema_rampup), (Some(0.1), Some(0.5)));
    let b = resume(saved, cut.path(), quiet()).expect("resumed, averaged");
    assert_same_parameters(&a.snapshot, &b.snapshot);

    // A run without the average, resumed with it: it starts from G at the snapshot, and G and
    // D go on as they would have.
    let gained = tempfile::tempdir().expect("tmp");
    ganlab_tests::copy_run_killed_after(plain.path(), gained.path(), "0000.13");
    let mut saved = RunConfig::read(gained.path()).expect("config.json").config;
    saved.ema_kimg = Some(0.1);
    let c = resume(saved, gained.path(), quiet()).expect("resumed with the average");
    let log = std::fs::read_to_string(gained.path().join("log.txt")).expect("log");
    assert!(
        log.contains("no G_ema (written without G's moving average); the average starts from G"),
        "{log}"
    );
    let (c, without) = (Snapshot::read(&c.snapshot).expect("c"), without);
    for (name, t) in &without.tensors {
        assert!(
            t.equal(&c.tensors[name]),
            "{name} differs after gaining the average"
        );
    }
    assert_eq!(c.section("G_ema").len(), without.section("G").len());
}
