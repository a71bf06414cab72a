//! `gan bench ...`: the toolkit's side of the benchmarks (the PyTorch / numpy / scipy side is
//! `bench/*.py`). Every command prints `key value` lines: the rate (`steps_per_s`, `images_per_s`
//! or `calls_per_s`), `value` for metrics (so that the two sides can be compared), and
//! `peak_rss_mb` (the process's peak resident memory, VmHWM).

use anyhow::{bail, Context, Result};
use ganlab_data::InMemory;
use ganlab_dist::Dist;
use ganlab_games::{game_by_name, Game, GameOptions};
use ganlab_optim::AdamConfig;
use ganlab_train::arch::{ArchSpec, Dcgan32, Progan, ProganSettings};
use ganlab_train::{Architecture, OptimizerSettings, Players, Trainer, TrainerSettings};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// The process's peak resident set size in MiB (Linux `VmHWM`), if known.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn synchronize(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Runs `warmup` untimed then `steps` timed calls of `step`; returns calls per second.
fn time_steps(device: Device, steps: usize, warmup: usize, mut step: impl FnMut(usize)) -> f64 {
    for i in 0..warmup {
        step(i);
    }
    synchronize(device);
    let start = Instant::now();
    for i in 0..steps {
        step(i);
    }
    synchronize(device);
    steps as f64 / start.elapsed().as_secs_f64()
}

/// Where a training step's time goes: wall-clock time per phase (the device synchronised at
/// every boundary), summed over the steps it timed.
#[derive(Debug)]
pub struct PhaseClock {
    device: Device,
    last: Instant,
    totals: Vec<(&'static str, f64)>,
    steps: usize,
}

impl PhaseClock {
    fn new(device: Device) -> Self {
        PhaseClock {
            device,
            last: Instant::now(),
            totals: Vec::new(),
            steps: 0,
        }
    }

    /// A step begins: the clock starts from here.
    fn start(&mut self) {
        synchronize(self.device);
        self.steps += 1;
        self.last = Instant::now();
    }

    /// The phase `name` ends here.
    fn lap(&mut self, name: &'static str) {
        synchronize(self.device);
        let now = Instant::now();
        let seconds = (now - self.last).as_secs_f64();
        self.last = now;
        match self.totals.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total += seconds,
            None => self.totals.push((name, seconds)),
        }
    }

    /// Milliseconds per step of each phase, in the order they first ran.
    fn per_step_ms(&self) -> Vec<(&'static str, f64)> {
        let steps = self.steps.max(1) as f64;
        self.totals
            .iter()
            .map(|&(n, s)| (n, s * 1e3 / steps))
            .collect()
    }
}

/// What a training-step benchmark measured: the rate and, when asked for, the phases.
#[derive(Debug)]
pub struct StepRate {
    pub steps_per_s: f64,
    /// Milliseconds per step of each phase (`g_forward`, `d_forward_and_loss`, `d_backward`,
    /// `d_step`, `d_forward_for_g`, `g_backward`, `g_step`, and `g_ema` for ProGAN), from a
    /// separate timed run with the device synchronised at every phase boundary.
    pub phases: Vec<(&'static str, f64)>,
    /// Data-parallel: milliseconds per timed step spent in collectives (this rank's clock).
    pub communication_ms_per_step: Option<f64>,
    /// Data-parallel: bytes of gradients all-reduced per step (G's and D's, once each per
    /// critic step for D).
    pub gradient_bytes_per_step: Option<u64>,
}

/// Times `steps` calls of `step` after `warmup` (the rate), then, with `phases`, as many again
/// with a phase clock (a separate run, so that the synchronisations never slow the rate).
fn time_steps_and_phases(
    device: Device,
    steps: usize,
    warmup: usize,
    phases: bool,
    mut step: impl FnMut(usize, Option<&mut PhaseClock>),
) -> StepRate {
    let steps_per_s = time_steps(device, steps, warmup, |i| step(i, None));
    let mut clock = PhaseClock::new(device);
    if phases {
        for i in 0..steps {
            clock.start();
            step(i, Some(&mut clock));
        }
        // No warm-up of its own: the rate's run before it has warmed everything up.
    }
    StepRate {
        steps_per_s,
        phases: clock.per_step_ms(),
        communication_ms_per_step: None,
        gradient_bytes_per_step: None,
    }
}

/// A trainer of `players` in `game` with the same optimiser on both sides, on `reals` (cycled
/// in the seeded order of the training loop): the loop's own step, for the benchmarks.
fn bench_trainer(
    players: Players,
    game: Box<dyn Game>,
    optimizer: OptimizerSettings,
    reals: Tensor,
    layout: Layout,
) -> Result<Trainer> {
    let channels_last = layout.channels_last;
    if channels_last {
        players.to_channels_last();
    }
    let batch_size = (reals.size()[0] / 4) as usize;
    let optimizers = (
        optimizer.build(&players.g_vs)?,
        optimizer.build(&players.d_vs)?,
    );
    let source = Box::new(InMemory::new(reals, Vec::new(), "random images".into()));
    let settings = TrainerSettings {
        batch_size,
        seed: 0,
        channels_last,
    };
    let mut trainer = Trainer::new(players, game, optimizers, source, settings);
    if let Some(warning) = trainer.set_precision(layout.precision) {
        tracing::warn!("{warning}");
    }
    Ok(trainer)
}

/// How the benchmarked step holds its tensors and computes: the memory format and the
/// precision (`--memory-format`, `--precision`).
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub channels_last: bool,
    pub precision: ganlab_train::Precision,
    /// D's layers spectrally normalised (`--d-spectral-norm`).
    pub d_spectral_norm: bool,
    /// The layers that touch the image in float32 (`--fp32-image-layers`).
    pub fp32_image_layers: bool,
}

/// DCGAN-32's players with `channels`.
fn dcgan32_players(channels: i64, device: Device, layout: Layout) -> Result<Players> {
    let spec = ArchSpec {
        channels,
        resolution: 32,
        z_dim: None,
        width: ganlab_train::arch::DEFAULT_WIDTH,
        d_spectral_norm: layout.d_spectral_norm,
        fp32_image_layers: layout.fp32_image_layers,
        ..Default::default()
    };
    Dcgan32.build(&spec, device)
}

/// DCGAN-32's game and optimiser: the non-saturating game, Adam 2e-4 (0.5, 0.999) (Radford et
/// al. 2016, §4).
fn dcgan32_game() -> Result<(Box<dyn Game>, OptimizerSettings)> {
    let optimizer = OptimizerSettings::Adam(AdamConfig {
        lr: 2e-4,
        beta1: 0.5,
        beta2: 0.999,
        ..Default::default()
    });
    Ok((
        game_by_name("nonsaturating", GameOptions::default())?,
        optimizer,
    ))
}

/// Steps per second of the DCGAN-32 non-saturating training step (batch 64, Adam 2e-4
/// (0.5, 0.999), one D update then one G update with D frozen): the training loop's
/// [`Trainer::step`], after `warmup` steps; with `phases`, also where the time goes.
pub fn dcgan32_steps_per_s(
    channels: i64,
    steps: usize,
    warmup: usize,
    device: Device,
    layout: Layout,
    phases: bool,
    dist: Option<Arc<Dist>>,
) -> Result<StepRate> {
    if !(channels == 1 || channels == 3) || steps == 0 {
        bail!("bench: channels must be 1 or 3 and steps > 0 (got {channels}, {steps})");
    }
    tch::manual_seed(0);
    let players = dcgan32_players(channels, device, layout)?;
    let reals = Tensor::rand([4 * 64, channels, 32, 32], (Kind::Float, device)) * 2.0 - 1.0;
    let (game, optimizer) = dcgan32_game()?;
    let mut trainer = bench_trainer(players, game, optimizer, reals, layout)?;
    time_trainer(&mut trainer, device, steps, warmup, phases, dist)
}

/// Times `steps` of the trainer's step after `warmup` (and, with `phases`, as many again with a
/// phase clock); with `dist`, as one rank of a data-parallel group, also the time spent in
/// collectives per timed step.
fn time_trainer(
    trainer: &mut Trainer,
    device: Device,
    steps: usize,
    warmup: usize,
    phases: bool,
    dist: Option<Arc<Dist>>,
) -> Result<StepRate> {
    let parallel = dist.is_some();
    if let Some(dist) = dist {
        trainer.data_parallel(dist)?;
    }
    let mut failure = None;
    let (mut calls, mut comm_at_start) = (0, std::time::Duration::ZERO);
    let mut comm_timed = std::time::Duration::ZERO;
    let mut rate = time_steps_and_phases(device, steps, warmup, phases, |_, clock| {
        if calls == warmup {
            comm_at_start = trainer.communication().0;
        }
        calls += 1;
        let result = match clock {
            Some(c) => trainer.step_with(&mut |name| c.lap(name)),
            None => trainer.step(),
        };
        if let Err(e) = result {
            failure = Some(e);
        }
        if calls == warmup + steps {
            comm_timed = trainer.communication().0 - comm_at_start;
        }
    });
    if parallel {
        rate.communication_ms_per_step = Some(comm_timed.as_secs_f64() * 1000.0 / steps as f64);
        let bytes = |vs: &tch::nn::VarStore| -> u64 {
            vs.trainable_variables()
                .iter()
                .map(|t| (t.numel() * t.kind().elt_size_in_bytes()) as u64)
                .sum()
        };
        let players = trainer.players();
        let critic = trainer.plan().critic_steps as u64;
        rate.gradient_bytes_per_step = Some(bytes(&players.g_vs) + critic * bytes(&players.d_vs));
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(rate),
    }
}

/// The losses of the first `steps` DCGAN-32 steps from seed `seed` (the CPU-vs-GPU correctness
/// check of `bench/gpu-check.sh`): the weights and the batches are drawn on the CPU and moved
/// to `device`, so that both devices start from the same numbers. With `dump`, the initial
/// weights (`G.<name>.npy`, `D.<name>.npy`) and every step's batches (`real_<i>.npy`,
/// `z_<i>.npy`) are written there, for `bench/dcgan32_step.py --replay` to run the same steps in
/// PyTorch.
pub fn dcgan32_losses(
    channels: i64,
    steps: usize,
    seed: i64,
    device: Device,
    dump: Option<&Path>,
    precision: ganlab_train::Precision,
) -> Result<Vec<(f64, f64)>> {
    tch::manual_seed(seed);
    let layout = Layout {
        channels_last: false,
        precision,
        d_spectral_norm: false,
        fp32_image_layers: false,
    };
    let mut players = dcgan32_players(channels, Device::Cpu, layout)?;
    if let Some(dir) = dump {
        dump_weights(&players, dir)?;
    }
    players.g_vs.set_device(device);
    players.d_vs.set_device(device);
    let (game, optimizer) = dcgan32_game()?;
    let placeholder = Tensor::zeros([4, channels, 32, 32], (Kind::Float, device));
    let mut trainer = bench_trainer(players, game, optimizer, placeholder, layout)?;
    let mut losses = Vec::new();
    for i in 0..steps {
        let real_cpu = Tensor::rand([64, channels, 32, 32], (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
        let z_cpu = Tensor::randn([64, 100], (Kind::Float, Device::Cpu));
        dump_batches(dump, i, &real_cpu, &z_cpu)?;
        let (real, z) = (real_cpu.to_device(device), z_cpu.to_device(device));
        let out = trainer.step_on(&real, &z)?;
        losses.push((out.loss_d, out.loss_g));
    }
    Ok(losses)
}

/// The ProGAN training step being benchmarked.
#[derive(Debug, Clone, Copy)]
pub struct ProganBench {
    pub resolution: i64,
    pub channels: i64,
    pub fmap_base: i64,
    pub fmap_max: i64,
    pub batch: i64,
    /// Fade-in α of the newest block (1 = stable phase).
    pub alpha: f64,
    /// The real images held in host memory, each batch moved to the device as a streamed
    /// source's are (pinned memory, a non-blocking copy: `Trainer::next_real`), instead of
    /// held on the device.
    pub reals_on_host: bool,
    /// Under reduced precision, only the highest N resolutions in it (`gan train
    /// --reduced-precision-resolutions`); `None`: all.
    pub reduced_precision_resolutions: Option<i64>,
    /// Every feature-map layer's output clamped to ±X (`gan train --conv-clamp`); `None`: no
    /// clamp.
    pub conv_clamp: Option<f64>,
}

/// ProGAN's players at `b`'s final resolution and phase (growth held there), WGAN-GP (λ 10,
/// drift 0.001, one critic step) and Adam (0.001, (0, 0.99), 1e-8): the benchmarked step's
/// parts, drawn from libtorch's generator as it stands.
fn progan_setup(
    b: &ProganBench,
    device: Device,
    layout: Layout,
) -> Result<(Players, Box<dyn Game>, OptimizerSettings)> {
    let spec = ArchSpec {
        channels: b.channels,
        resolution: b.resolution,
        z_dim: None,
        width: ganlab_train::arch::DEFAULT_WIDTH,
        d_norm: Default::default(),
        d_spectral_norm: layout.d_spectral_norm,
        classes: 0,
        class_norm: false,
        fp32_image_layers: layout.fp32_image_layers,
        progan: ProganSettings {
            fmap_base: b.fmap_base,
            fmap_max: b.fmap_max,
            mbstd_group_size: 4,
            ema_beta: 0.999,
            reduced_precision_resolutions: b.reduced_precision_resolutions,
            conv_clamp: b.conv_clamp,
            ..Default::default()
        },
    };
    if b.reduced_precision_resolutions.is_some()
        && layout.precision == ganlab_train::Precision::Fp32
    {
        bail!("--reduced-precision-resolutions keeps the lower resolutions in float32 under --precision bf16 or fp16 (got --precision fp32)");
    }
    Progan.validate(&spec)?;
    let mut players = Progan.build(&spec, device)?;
    // The benchmark holds one stage (the final resolution at α) instead of following the
    // schedule.
    if let Some(growth) = players.growth.take() {
        let level = b.resolution.trailing_zeros() as i64;
        growth.stage.set(level, b.alpha);
    }
    let optimizer = OptimizerSettings::Adam(AdamConfig {
        lr: 1e-3,
        beta1: 0.0,
        beta2: 0.99,
        eps: 1e-8,
        ..Default::default()
    });
    let game = game_by_name(
        "wgan-gp",
        GameOptions {
            gp_drift: 0.001,
            critic_steps: Some(1),
            ..Default::default()
        },
    )?;
    Ok((players, game, optimizer))
}

/// The losses of `steps` ProGAN steps from seed `seed` (`b`'s stage; random reals, faded at
/// its α), with the initial weights (`G.<name>.npy`, `D.<name>.npy`) and every step's batches
/// (`real_<i>.npy`, `z_<i>.npy`) written to `dump`, for `bench/progan_step.py --replay`. Before
/// step i libtorch's generator is seeded with 1000 + i, so WGAN-GP's ε (the step's only draw,
/// made on `device`) is what PyTorch draws there after the same seed. The weights and batches
/// are drawn on the CPU and moved to `device`, as in [`dcgan32_losses`].
pub fn progan_losses(
    b: ProganBench,
    steps: usize,
    seed: i64,
    device: Device,
    dump: Option<&Path>,
    precision: ganlab_train::Precision,
) -> Result<Vec<(f64, f64)>> {
    tch::manual_seed(seed);
    let layout = Layout {
        channels_last: false,
        precision,
        d_spectral_norm: false,
        fp32_image_layers: false,
    };
    let (mut players, game, optimizer) = progan_setup(&b, Device::Cpu, layout)?;
    if let Some(dir) = dump {
        dump_weights(&players, dir)?;
    }
    players.g_vs.set_device(device);
    players.d_vs.set_device(device);
    if let Some(ema) = players.ema.as_mut() {
        ema.vs.set_device(device);
    }
    let placeholder = Tensor::zeros(
        [4, b.channels, b.resolution, b.resolution],
        (Kind::Float, device),
    );
    let latent = players.z_dim;
    let mut trainer = bench_trainer(players, game, optimizer, placeholder, layout)?;
    let mut losses = Vec::new();
    for i in 0..steps {
        let shape = [b.batch, b.channels, b.resolution, b.resolution];
        let real = Tensor::rand(shape, (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
        let real = ganlab_progan::fade_reals(&real, b.resolution, b.alpha);
        let z = Tensor::randn([b.batch, latent], (Kind::Float, Device::Cpu));
        dump_batches(dump, i, &real, &z)?;
        tch::manual_seed(1000 + i as i64);
        let out = trainer.step_on(&real.to_device(device), &z.to_device(device))?;
        losses.push((out.loss_d, out.loss_g));
    }
    Ok(losses)
}

/// Writes step `i`'s batches as `real_<i>.npy` and `z_<i>.npy` in `dump` (if any).
fn dump_batches(dump: Option<&Path>, i: usize, real: &Tensor, z: &Tensor) -> Result<()> {
    let Some(dir) = dump else {
        return Ok(());
    };
    for (name, t) in [("real", real), ("z", z)] {
        let path = dir.join(format!("{name}_{i}.npy"));
        t.write_npy(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Writes every variable of G and D as `<G|D>.<name>.npy` in `dir`.
fn dump_weights(players: &Players, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (prefix, vs) in players.networks() {
        for (name, t) in vs.variables() {
            let path = dir.join(format!("{prefix}.{name}.npy"));
            t.write_npy(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(())
}

/// Steps per second of ProGAN's training step at `resolution`: WGAN-GP (λ 10, drift 0.001) D
/// update on faded reals, G update, G's moving average (β 0.999); Adam (0.001, (0, 0.99), 1e-8).
/// With `phases`, also where the time goes.
pub fn progan_steps_per_s(
    b: ProganBench,
    steps: usize,
    warmup: usize,
    device: Device,
    layout: Layout,
    phases: bool,
    dist: Option<Arc<Dist>>,
) -> Result<StepRate> {
    if !(b.resolution >= 8 && b.resolution.count_ones() == 1)
        || !(b.channels == 1 || b.channels == 3)
        || b.batch < 1
        || steps == 0
    {
        bail!("bench: ProGAN needs a power-of-two resolution >= 8, channels 1 or 3, batch >= 1 and steps > 0 (got {b:?}, steps {steps})");
    }
    tch::manual_seed(0);
    let (players, game, optimizer) = progan_setup(&b, device, layout)?;
    let held = if b.reals_on_host { Device::Cpu } else { device };
    let reals = Tensor::rand(
        [4 * b.batch, b.channels, b.resolution, b.resolution],
        (Kind::Float, held),
    ) * 2.0
        - 1.0;
    let reals = ganlab_progan::fade_reals(&reals, b.resolution, b.alpha);
    let mut trainer = bench_trainer(players, game, optimizer, reals, layout)?;
    time_trainer(&mut trainer, device, steps, warmup, phases, dist)
}

fn read_npy(dir: &Path, name: &str) -> Result<Tensor> {
    let path = dir.join(name);
    Tensor::read_npy(&path).with_context(|| {
        format!(
            "cannot read {} (write the inputs with the bench/*.py script's --make-inputs)",
            path.display()
        )
    })
}

/// The Fréchet distance from the float64 statistics `mu1.npy`, `sigma1.npy`, `mu2.npy`,
/// `sigma2.npy` in `dir`: (value, calls per second over `repeats` calls).
pub fn frechet_bench(dir: &Path, repeats: usize) -> Result<(f64, f64)> {
    let [mu1, s1, mu2, s2] =
        ["mu1.npy", "sigma1.npy", "mu2.npy", "sigma2.npy"].map(|n| read_npy(dir, n));
    let (mu1, s1, mu2, s2) = (mu1?, s1?, mu2?, s2?);
    let mut value = f64::NAN;
    let rate = time_steps(Device::Cpu, repeats.max(1), 0, |_| {
        value = ganlab_metrics::frechet_distance(&mu1, &s1, &mu2, &s2).unwrap_or(f64::NAN);
    });
    if !value.is_finite() {
        bail!(
            "the Fréchet distance of the inputs in {} is not finite",
            dir.display()
        );
    }
    Ok((value, rate))
}

/// Calls per second of `spec`'s augmentation (ADA at probability `p`) forward and backward on
/// `batch` random RGB images of `resolution`.
pub fn augment_bench(
    spec: &str,
    resolution: i64,
    batch: i64,
    calls: usize,
    warmup: usize,
    p: f64,
) -> Result<f64> {
    let spec: ganlab_augment::AugmentSpec = spec.parse()?;
    let settings = ganlab_augment::AdaSettings {
        initial_p: p,
        ..Default::default()
    };
    let Some(augmentation) = ganlab_augment::Augmentation::new(&spec, settings)? else {
        bail!("bench augment: `--augment none` has nothing to time");
    };
    if resolution < 4 || batch < 1 || calls == 0 {
        bail!("bench augment: expected --resolution >= 4, --batch >= 1, --calls >= 1");
    }
    tch::manual_seed(0);
    let x = (Tensor::rand(
        [batch, 3, resolution, resolution],
        (Kind::Float, Device::Cpu),
    ) * 2.0
        - 1.0)
        .set_requires_grad(true);
    let call = || {
        let y = augmentation.apply(&x, ganlab_games::Shard::default());
        y.sum(Kind::Float).backward();
    };
    for _ in 0..warmup {
        call();
    }
    let start = std::time::Instant::now();
    for _ in 0..calls {
        call();
    }
    Ok(calls as f64 / start.elapsed().as_secs_f64())
}

/// Precision, recall, density, coverage and realism between the float32 features `real.npy` and
/// `fake.npy` in `dir`, distances in blocks of `block`: (the metrics, calls per second of one
/// call).
pub fn manifold_bench(dir: &Path, block: i64) -> Result<(ganlab_metrics::ManifoldMetrics, f64)> {
    let real = read_npy(dir, "real.npy")?;
    let fake = read_npy(dir, "fake.npy")?;
    let settings = ganlab_metrics::ManifoldSettings {
        block,
        ..Default::default()
    };
    let start = std::time::Instant::now();
    let metrics = ganlab_metrics::manifold_metrics(&real, &fake, settings)?;
    Ok((metrics, 1.0 / start.elapsed().as_secs_f64()))
}

/// SWD between the uint8 image sets `a.npy` and `b.npy` [N, C, R, R] in `dir`: (average ×1e3,
/// calls per second over `repeats` calls, and with `phases` the mean seconds per call of each
/// phase, timed in further calls after the timed ones so that reading the clock costs them
/// nothing).
pub fn swd_bench(
    dir: &Path,
    repeats: usize,
    phases: bool,
) -> Result<(f64, f64, Option<ganlab_metrics::SwdPhases>)> {
    let a = read_npy(dir, "a.npy")?.to_kind(Kind::Float);
    let b = read_npy(dir, "b.npy")?.to_kind(Kind::Float);
    let mut result = Err(anyhow::anyhow!("not run"));
    let rate = time_steps(Device::Cpu, repeats.max(1), 0, |i| {
        result = ganlab_metrics::swd(&a, &b, i as u64).map_err(anyhow::Error::from);
    });
    let value = result?.avg;
    if !phases {
        return Ok((value, rate, None));
    }
    let mut sum = ganlab_metrics::SwdPhases::default();
    for i in 0..repeats.max(1) {
        let (_, p) = ganlab_metrics::swd_with_phases(&a, &b, i as u64)?;
        for (total, part) in [
            (&mut sum.read, p.read),
            (&mut sum.pyramid, p.pyramid),
            (&mut sum.gather, p.gather),
            (&mut sum.normalize, p.normalize),
            (&mut sum.project, p.project),
            (&mut sum.sort, p.sort),
        ] {
            *total += part / repeats.max(1) as f64;
        }
    }
    Ok((value, rate, Some(sum)))
}

/// FID feature extraction (resize to 299, detector forward) of `n` random uint8 images
/// [C, side, side], `batch` at a time: images per second (after one untimed batch).
pub fn features_images_per_s(
    detector: &ganlab_metrics::Detector,
    n: i64,
    batch: i64,
    channels: i64,
    side: i64,
) -> Result<f64> {
    if n < 1 || batch < 1 {
        bail!("bench features: --n and --batch must be >= 1 (got {n}, {batch})");
    }
    tch::manual_seed(0);
    let images = Tensor::randint(
        256,
        [batch, channels, side, side],
        (Kind::Uint8, Device::Cpu),
    );
    let batches = (n + batch - 1) / batch;
    let mut failure = None;
    let rate = time_steps(detector.device, batches as usize, 1, |_| {
        if let Err(e) = detector.features(&images) {
            failure = Some(e);
        }
    });
    if let Some(e) = failure {
        return Err(e.into());
    }
    Ok(rate * batch as f64)
}

/// The data loader as training reads it: seeded batches of `batch` images from the dataset
/// `name` at `resolution` (a streamed source prefetching the next batch while the current one is
/// handed over), as float batches in [-1, 1]: images per second over `batches` batches after one
/// untimed batch.
pub fn loader_images_per_s(
    name: &str,
    resolution: i64,
    channels: Option<i64>,
    batch: usize,
    batches: usize,
) -> Result<f64> {
    if batch < 1 || batches < 1 {
        bail!("bench loader: --batch-size and --batches must be >= 1 (got {batch}, {batches})");
    }
    let config = ganlab_run::TrainConfig {
        dataset: name.to_string(),
        resolution,
        channels,
        ..Default::default()
    };
    let data = ganlab_run::data::TrainingData::load(&config)?;
    let source = data.source_on(Device::Cpu);
    let mut order = ganlab_data::BatchOrder::new(source.len() as usize, batch, 0);
    let mut failure = None;
    let mut next = |_| {
        let indices = order.next_indices();
        match source.batch(&indices) {
            Ok(images) => {
                source.prefetch(&order.peek_indices());
                // Touch the result as training does (it moves to the device and is read).
                let _ = images.sum(Kind::Float).double_value(&[]);
            }
            Err(e) => failure = Some(e),
        }
    };
    let rate = time_steps(Device::Cpu, batches, 1, &mut next);
    if let Some(e) = failure {
        return Err(e.into());
    }
    Ok(rate * batch as f64)
}
