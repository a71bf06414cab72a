//! A trained generator in PyTorch: the snapshots of a DCGAN-32 run, an SNGAN-32 run and of a
//! ProGAN run (one taken
//! in the middle of a fade-in, one at the final resolution) load into the PyTorch definitions in
//! `tests/reference/generators.py` (and a conditional DCGAN-32's, with its classes), and both
//! give the same images from the same latents within
//! 1e-5 + 1e-4·|y|. One file, so that no other test in the process draws from libtorch's global
//! generator meanwhile.

use ganlab_run::generator::TrainedGenerator;
use ganlab_run::train::Reporting;
use std::path::Path;
use tch::{Device, Kind, Tensor};

const QUIET: Reporting = Reporting { interactive: false };

/// Writes the toolkit's G(z) for `snapshot` and runs the PyTorch check on it.
fn check_in_pytorch(snapshot: &Path, scratch: &Path) -> String {
    let generator = TrainedGenerator::load(snapshot, Device::Cpu).expect("load");
    tch::manual_seed(11);
    let z = Tensor::randn([5, generator.z_dim()], (Kind::Float, Device::Cpu));
    // A conditional generator draws classes 0, 1, 2, ... in turn.
    let c = ganlab_run::eval::sample_labels(5, generator.classes(), Device::Cpu);
    let y = tch::no_grad(|| generator.sampler().forward_ct(&z, c.as_ref(), false));
    let mut named = vec![("z", z), ("y", y)];
    if let Some(c) = c {
        named.push(("c", c));
    }
    if let Some((level, alpha)) = generator.stage() {
        named.push(("stage", Tensor::from_slice(&[level as f32, alpha as f32])));
    }
    let check = scratch.join("check.safetensors");
    Tensor::write_safetensors(&named, &check).expect("write");
    ganlab_tests::run_reference(
        "generator_check.py",
        &[snapshot.as_os_str(), check.as_os_str()],
    )
}

#[test]
fn snapshots_generate_the_same_images_in_pytorch() {
    // DCGAN-32 (batch norm with running statistics in eval mode).
    let run = tempfile::tempdir().expect("tmp");
    let summary =
        ganlab_run::train(ganlab_tests::short_dcgan_config(5), run.path(), QUIET).expect("dcgan");
    let text = check_in_pytorch(&summary.snapshot, run.path());
    assert!(text.contains("shape (5, 1, 32, 32)"), "{text}");
    // Conditional DCGAN-32 (`cond`): the loader takes the classes.
    let run = tempfile::tempdir().expect("tmp");
    let config = ganlab_run::TrainConfig {
        cond: true,
        ..ganlab_tests::short_dcgan_config(6)
    };
    let summary = ganlab_run::train(config, run.path(), QUIET).expect("conditional dcgan");
    let text = check_in_pytorch(&summary.snapshot, run.path());
    assert!(text.contains("shape (5, 1, 32, 32)"), "{text}");
    // SNGAN-32 (`--preset sngan32-mnist`, narrow): its G's linear layer, biases and batch norms.
    let run = tempfile::tempdir().expect("tmp");
    let preset = ganlab_run::TrainConfig::preset("sngan32-mnist").expect("preset");
    let config = ganlab_run::TrainConfig {
        arch: preset.arch,
        game: preset.game,
        d_spectral_norm: preset.d_spectral_norm,
        width: 8,
        ..ganlab_tests::short_dcgan_config(7)
    };
    let summary = ganlab_run::train(config, run.path(), QUIET).expect("sngan32");
    let text = check_in_pytorch(&summary.snapshot, run.path());
    assert!(text.contains("shape (5, 1, 32, 32)"), "{text}");

    // ProGAN to 16x16 (64 images per stable phase, 128 per fade-in): snapshots every 64 images;
    // the one at 128 is half-way through the 8x8 fade-in, the last one (448) at 16x16.
    let config = ganlab_tests::tiny_progan16("mnist", 0.128, 0.448);
    let run = tempfile::tempdir().expect("tmp");
    let summary = ganlab_run::train(config, run.path(), QUIET).expect("progan");
    let last = TrainedGenerator::load(&summary.snapshot, Device::Cpu).expect("load");
    assert_eq!(last.stage(), Some((4, 1.0)));
    let text = check_in_pytorch(&summary.snapshot, run.path());
    assert!(text.contains("shape (5, 1, 16, 16)"), "{text}");
    let fading = run.path().join("snapshot-kimg0000.13.safetensors");
    let generator = TrainedGenerator::load(&fading, Device::Cpu).expect("load");
    let (level, alpha) = generator.stage().expect("a growing generator");
    assert!(level == 3 && alpha > 0.0 && alpha < 1.0, "{level} {alpha}");
    let text = check_in_pytorch(&fading, run.path());
    assert!(text.contains("shape (5, 1, 8, 8)"), "{text}");

    // Conditional ProGAN (`cond`): its class embedding is concatenated to z in PyTorch too.
    let config = ganlab_run::TrainConfig {
        cond: true,
        ..ganlab_tests::tiny_progan16("mnist", 0.128, 0.128)
    };
    let run = tempfile::tempdir().expect("tmp");
    let summary = ganlab_run::train(config, run.path(), QUIET).expect("conditional progan");
    let text = check_in_pytorch(&summary.snapshot, run.path());
    assert!(text.contains("shape (5, 1, 8, 8)"), "{text}");
}
