//! Shared helpers for the integration tests: fixtures from the PyTorch reference scripts in
//! `tests/reference/`, and comparisons with stated tolerances.

pub mod kill;

use serde_json::Value;
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Tensor};

/// libtorch's random generator is one per process, and the test harness runs a binary's tests
/// on parallel threads: a test that seeds it and then trains or draws holds this lock, so that
/// its seeded draws are its own (two trainings in one process would otherwise take each other's
/// numbers, and a seed-dependent outcome or an exact resume could fail now and then).
pub fn global_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    GLOBAL_RNG
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `tests/fixtures/<name>`.
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Runs `tests/reference/<script>` with the set-up venv's Python (the reference folder on its
/// path) and `args`; asserts that it succeeds and returns what it printed (stdout, then stderr).
pub fn run_reference(script: &str, args: &[&std::ffi::OsStr]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let reference = root.join("reference");
    let out = std::process::Command::new(root.join("../.venv/bin/python"))
        .arg(reference.join(script))
        .args(args)
        .env("PYTHONPATH", &reference)
        .output()
        .unwrap_or_else(|e| panic!("run the venv's python on {script}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{script}: {text}");
    text
}

/// Copies the run directory `from` into `to` as if the run had been killed after the snapshot
/// `snapshot-kimg<keep_until>.safetensors`: every file and folder except the later snapshots.
pub fn copy_run_killed_after(from: &Path, to: &Path, keep_until: &str) {
    let last = format!("snapshot-kimg{keep_until}.safetensors");
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let target = to.join(&name);
        if path.is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_run_killed_after(&path, &target, keep_until);
        } else if !(name.starts_with("snapshot-kimg") && name > last) {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

/// Reads a JSON fixture.
pub fn read_fixture(name: &str) -> Value {
    let path = fixture_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON array of integers (a shape, in the fixtures).
pub fn ints(value: &Value) -> Vec<i64> {
    value
        .as_array()
        .expect("an array of integers")
        .iter()
        .map(|v| v.as_i64().expect("an integer"))
        .collect()
}

/// A flat JSON array of numbers as f32.
pub fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .expect("array of numbers")
        .iter()
        .map(|v| v.as_f64().expect("number") as f32)
        .collect()
}

/// A tensor from a flat JSON array and a shape.
pub fn tensor(value: &Value, shape: &[i64]) -> Tensor {
    Tensor::from_slice(&floats(value)).view(shape)
}

/// Copies a PyTorch state dict fixture ({name: {shape, values}}) into a var store; every
/// variable of the store must be in the fixture with the same shape.
pub fn load_state(vs: &VarStore, state: &Value) {
    for (name, mut var) in vs.variables() {
        let entry = state
            .get(&name)
            .unwrap_or_else(|| panic!("fixture has no `{name}`"));
        let shape: Vec<i64> = entry["shape"]
            .as_array()
            .expect("shape")
            .iter()
            .map(|v| v.as_i64().expect("int"))
            .collect();
        assert_eq!(var.size(), shape, "shape of `{name}`");
        tch::no_grad(|| var.copy_(&tensor(&entry["values"], &shape)));
    }
}

/// Asserts |actual - expected| <= atol + rtol·|expected| elementwise.
pub fn assert_close(actual: &Tensor, expected: &Tensor, atol: f64, rtol: f64, what: &str) {
    assert_eq!(actual.size(), expected.size(), "{what}: shapes differ");
    let diff = (actual - expected).abs();
    let bound = expected.abs() * rtol + atol;
    let excess = (&diff - &bound).max().double_value(&[]);
    assert!(
        excess <= 0.0,
        "{what}: max |diff| = {:e} exceeds atol {atol:e} + rtol {rtol:e}·|expected|",
        diff.max().double_value(&[])
    );
}

/// A DCGAN-32 run small enough for a test: 0.256 kimg in two ticks, width 16, batch 32, CPU, no
/// training-time evaluation (tests that want it turn it on).
pub fn short_dcgan_config(seed: u64) -> ganlab_run::TrainConfig {
    ganlab_run::TrainConfig {
        evaluation: ganlab_run::monitor::EvaluationSettings {
            every_kimg: 0.0,
            ..Default::default()
        },
        kimg: 0.256,
        tick_kimg: 0.128,
        batch_size: Some(32),
        width: 16,
        seed,
        device: ganlab_run::device::DeviceChoice::Cpu,
        grid_images: 16,
        ..Default::default()
    }
}

/// The `progan-fashion32` preset shrunk for a test: narrow networks, phases of `phase_kimg`
/// stable + `fade_kimg` fade-in, small batches, CPU.
pub fn tiny_progan_config(
    fmap_base: i64,
    fmap_max: i64,
    phase_kimg: f64,
    fade_kimg: f64,
) -> ganlab_run::TrainConfig {
    let mut config = ganlab_run::TrainConfig::preset("progan-fashion32").expect("preset");
    config.device = ganlab_run::device::DeviceChoice::Cpu;
    config.evaluation.every_kimg = 0.0;
    config.progan.fmap_base = fmap_base;
    config.progan.fmap_max = fmap_max;
    config.progan.schedule.lod_training_kimg = phase_kimg;
    config.progan.schedule.lod_transition_kimg = fade_kimg;
    config
}

/// [`tiny_progan_config`] at 16x16 on `dataset` (64 images per stable phase, `fade_kimg` per
/// fade-in) for `kimg`, with a tick and a kept snapshot every 64 images: the runs whose
/// snapshots the resume and interop tests pick.
pub fn tiny_progan16(dataset: &str, fade_kimg: f64, kimg: f64) -> ganlab_run::TrainConfig {
    let mut config = tiny_progan_config(64, 16, 0.064, fade_kimg);
    config.dataset = dataset.into();
    config.resolution = 16;
    config.progan.schedule.final_resolution = 16;
    config.kimg = kimg;
    config.tick_kimg = 0.064;
    config.snapshot_ticks = 1;
    config.keep_snapshots = 0;
    config.grid_images = 4;
    config
}
