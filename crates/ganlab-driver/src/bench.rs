//! `gan bench ...`: the toolkit's side of the benchmarks (the PyTorch / numpy / scipy side is
//! `bench/*.py`). Every command prints `key value` lines: the rate (`steps_per_s`, `images_per_s`
//! or `calls_per_s`), `value` for metrics (so that the two sides can be compared), and
//! `peak_rss_mb` (the process's peak resident memory, VmHWM).

use anyhow::{bail, Context, Result};
use ganlab_games::{game_by_name, Game, GameOptions, StepContext};
use ganlab_layers::{dcgan32_discriminator, dcgan32_generator, Dcgan32Config};
use ganlab_optim::{Adam, AdamConfig, Optimizer};
use ganlab_progan::{progan_discriminator, progan_generator, ProganConfig, StageHandle};
use std::path::Path;
use std::time::Instant;
use tch::nn::{ModuleT, VarStore};
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
    }
}

fn set_requires_grad(params: &[Tensor], on: bool) {
    for p in params {
        let _ = p.set_requires_grad(on);
    }
}

/// G, D, their game and optimisers: what one adversarial step needs.
struct Players<'a> {
    g: &'a dyn ModuleT,
    d: &'a dyn ModuleT,
    game: Box<dyn Game>,
    opt_g: Adam,
    opt_d: Adam,
    d_params: Vec<Tensor>,
}

impl<'a> Players<'a> {
    fn new(
        g: &'a dyn ModuleT,
        d: &'a dyn ModuleT,
        g_vs: &VarStore,
        d_vs: &VarStore,
        adam: AdamConfig,
        game: Box<dyn Game>,
    ) -> Result<Self> {
        Ok(Players {
            g,
            d,
            game,
            opt_g: Adam::new(g_vs, adam)?,
            opt_d: Adam::new(d_vs, adam)?,
            d_params: d_vs.trainable_variables(),
        })
    }

    /// DCGAN-32's players: the non-saturating game, Adam 2e-4 (0.5, 0.999) on both sides.
    fn dcgan(
        g: &'a dyn ModuleT,
        d: &'a dyn ModuleT,
        g_vs: &VarStore,
        d_vs: &VarStore,
    ) -> Result<Self> {
        let adam = AdamConfig {
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            ..Default::default()
        };
        Players::new(
            g,
            d,
            g_vs,
            d_vs,
            adam,
            game_by_name("nonsaturating", GameOptions::default())?,
        )
    }

    /// One D update on a real and a fake batch, then one G update with D's weights frozen: the
    /// step of the training loop (`train.rs`). Returns the (loss_d, loss_g) tensors.
    ///
    /// With a clock, each phase's time is added to it.
    fn step(
        &mut self,
        real: &Tensor,
        z: &Tensor,
        mut clock: Option<&mut PhaseClock>,
    ) -> (Tensor, Tensor) {
        let mut lap = |name: &'static str| {
            if let Some(c) = clock.as_deref_mut() {
                c.lap(name);
            }
        };
        let fake = self.g.forward_t(z, true);
        lap("g_forward");
        let d = self.d;
        let out = self.game.d_loss(
            &mut |x: &Tensor| d.forward_t(x, true),
            real,
            &fake.detach(),
            StepContext::default(),
        );
        lap("d_forward_and_loss");
        self.opt_d.zero_grad();
        out.loss.backward();
        lap("d_backward");
        self.opt_d.step();
        lap("d_step");
        set_requires_grad(&self.d_params, false);
        let g_out = self.game.g_loss(&d.forward_t(&fake, true));
        lap("d_forward_for_g");
        self.opt_g.zero_grad();
        g_out.loss.backward();
        lap("g_backward");
        self.opt_g.step();
        lap("g_step");
        set_requires_grad(&self.d_params, true);
        (out.loss.detach(), g_out.loss.detach())
    }
}

/// Steps per second of the DCGAN-32 non-saturating training step (batch 64, Adam 2e-4
/// (0.5, 0.999), one D update then one G update with D frozen), after `warmup` steps; with
/// `phases`, also where the time goes.
pub fn dcgan32_steps_per_s(
    channels: i64,
    steps: usize,
    warmup: usize,
    device: Device,
    channels_last: bool,
    phases: bool,
) -> Result<StepRate> {
    if !(channels == 1 || channels == 3) || steps == 0 {
        bail!("bench: channels must be 1 or 3 and steps > 0 (got {channels}, {steps})");
    }
    tch::manual_seed(0);
    let cfg = Dcgan32Config {
        channels,
        ..Default::default()
    };
    let (g_vs, d_vs) = (VarStore::new(device), VarStore::new(device));
    let g = dcgan32_generator(&g_vs.root(), cfg);
    let d = dcgan32_discriminator(&d_vs.root(), cfg);
    if channels_last {
        ganlab_layers::to_channels_last(&g_vs);
        ganlab_layers::to_channels_last(&d_vs);
    }
    let mut players = Players::dcgan(&g, &d, &g_vs, &d_vs)?;
    let reals: Vec<Tensor> = (0..4)
        .map(|_| {
            let r = Tensor::rand([64, channels, 32, 32], (Kind::Float, device)) * 2.0 - 1.0;
            if channels_last {
                ganlab_layers::channels_last(&r)
            } else {
                r
            }
        })
        .collect();
    Ok(time_steps_and_phases(
        device,
        steps,
        warmup,
        phases,
        |i, clock| {
            let z = Tensor::randn([64, 100], (Kind::Float, device));
            let _ = players.step(&reals[i % reals.len()], &z, clock);
        },
    ))
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
) -> Result<Vec<(f64, f64)>> {
    tch::manual_seed(seed);
    let cfg = Dcgan32Config {
        channels,
        ..Default::default()
    };
    let (mut g_vs, mut d_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
    let g = dcgan32_generator(&g_vs.root(), cfg);
    let d = dcgan32_discriminator(&d_vs.root(), cfg);
    if let Some(dir) = dump {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (prefix, vs) in [("G", &g_vs), ("D", &d_vs)] {
            for (name, t) in vs.variables() {
                let path = dir.join(format!("{prefix}.{name}.npy"));
                t.write_npy(&path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
    }
    g_vs.set_device(device);
    d_vs.set_device(device);
    let mut players = Players::dcgan(&g, &d, &g_vs, &d_vs)?;
    let mut losses = Vec::new();
    for i in 0..steps {
        let real_cpu = Tensor::rand([64, channels, 32, 32], (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
        let z_cpu = Tensor::randn([64, 100], (Kind::Float, Device::Cpu));
        if let Some(dir) = dump {
            for (name, t) in [("real", &real_cpu), ("z", &z_cpu)] {
                let path = dir.join(format!("{name}_{i}.npy"));
                t.write_npy(&path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
        let (real, z) = (real_cpu.to_device(device), z_cpu.to_device(device));
        let (ld, lg) = players.step(&real, &z, None);
        losses.push((ld.double_value(&[]), lg.double_value(&[])));
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
}

/// Steps per second of ProGAN's training step at `resolution`: WGAN-GP (λ 10, drift 0.001) D
/// update on faded reals, G update, G's moving average (β 0.999); Adam (0.001, (0, 0.99), 1e-8).
/// With `phases`, also where the time goes.
pub fn progan_steps_per_s(
    b: ProganBench,
    steps: usize,
    warmup: usize,
    device: Device,
    channels_last: bool,
    phases: bool,
) -> Result<StepRate> {
    if !(b.resolution >= 8 && b.resolution.count_ones() == 1)
        || !(b.channels == 1 || b.channels == 3)
        || b.batch < 1
        || steps == 0
    {
        bail!("bench: ProGAN needs a power-of-two resolution >= 8, channels 1 or 3, batch >= 1 and steps > 0 (got {b:?}, steps {steps})");
    }
    tch::manual_seed(0);
    let cfg = ProganConfig {
        resolution: b.resolution,
        channels: b.channels,
        fmap_base: b.fmap_base,
        fmap_max: b.fmap_max,
        latent_size: 0,
        mbstd_group_size: 4,
    };
    let stage = StageHandle::new(cfg.max_level());
    stage.set(cfg.max_level(), b.alpha);
    let (g_vs, d_vs, mut ema_vs) = (
        VarStore::new(device),
        VarStore::new(device),
        VarStore::new(device),
    );
    let g = progan_generator(&g_vs.root(), cfg, stage.clone());
    let d = progan_discriminator(&d_vs.root(), cfg, stage.clone());
    let _g_ema = progan_generator(&ema_vs.root(), cfg, stage.clone());
    if channels_last {
        for vs in [&g_vs, &d_vs, &ema_vs] {
            ganlab_layers::to_channels_last(vs);
        }
    }
    ema_vs.copy(&g_vs)?;
    let adam = AdamConfig {
        lr: 1e-3,
        beta1: 0.0,
        beta2: 0.99,
        eps: 1e-8,
        ..Default::default()
    };
    let game = game_by_name(
        "wgan-gp",
        GameOptions {
            gp_drift: 0.001,
            critic_steps: Some(1),
            ..Default::default()
        },
    )?;
    let mut players = Players::new(&g, &d, &g_vs, &d_vs, adam, game)?;
    let reals: Vec<Tensor> = (0..4)
        .map(|_| {
            let r = Tensor::rand(
                [b.batch, b.channels, b.resolution, b.resolution],
                (Kind::Float, device),
            ) * 2.0
                - 1.0;
            let r = ganlab_progan::fade_reals(&r, b.resolution, b.alpha);
            if channels_last {
                ganlab_layers::channels_last(&r)
            } else {
                r
            }
        })
        .collect();
    let sorted = |vs: &VarStore| {
        let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let (g_vars, ema_vars) = (sorted(&g_vs), sorted(&ema_vs));
    let latent = cfg.latent();
    Ok(time_steps_and_phases(
        device,
        steps,
        warmup,
        phases,
        |i, mut clock| {
            let z = Tensor::randn([b.batch, latent], (Kind::Float, device));
            let _ = players.step(&reals[i % reals.len()], &z, clock.as_deref_mut());
            tch::no_grad(|| {
                for ((_, p), (_, e)) in g_vars.iter().zip(&ema_vars) {
                    let _ = e.shallow_clone().lerp_(p, 1.0 - 0.999);
                }
            });
            if let Some(c) = clock {
                c.lap("g_ema");
            }
        },
    ))
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

/// SWD between the uint8 image sets `a.npy` and `b.npy` [N, C, R, R] in `dir`: (average ×1e3,
/// calls per second over `repeats` calls).
pub fn swd_bench(dir: &Path, repeats: usize) -> Result<(f64, f64)> {
    let a = read_npy(dir, "a.npy")?.to_kind(Kind::Float);
    let b = read_npy(dir, "b.npy")?.to_kind(Kind::Float);
    let mut result = Err(anyhow::anyhow!("not run"));
    let rate = time_steps(Device::Cpu, repeats.max(1), 0, |i| {
        result = ganlab_metrics::swd(&a, &b, i as u64).map_err(anyhow::Error::from);
    });
    Ok((result?.avg, rate))
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
