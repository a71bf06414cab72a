//! The one training step. The trainer owns the players, both optimisers, the game and the
//! stream of real batches; [`Trainer::step`] is the step that `gan train`, `gan bench
//! train-step`, the games comparison and research code all run. It drives a game without knowing
//! its formulas: the game returns losses and scalars, and its `LoopPlan` says how many critic
//! steps to take and whether to clip weights. Progress is counted in images shown (kimg).

use crate::arch::{ema_pairs, Players};
use crate::scaler::GradScaler;
use crate::snapshot::{self, Progress, Snapshot};
use anyhow::{Context, Result};
use ganlab_amp::{autocast, without_autocast, Precision};
use ganlab_augment::Augmentation;
use ganlab_data::{BatchOrder, ImageSource};
use ganlab_dist::Dist;
use ganlab_games::{Game, GeneratorPass, LoopPlan, OptimizerChoice, Shard, StepContext};
use ganlab_optim::{Adam, AdamConfig, Optimizer, RmsProp, RmsPropConfig};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// What a caller may set of an optimiser; unset values are the game's paper values.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OptimizerOverrides {
    pub lr: Option<f64>,
    pub beta1: Option<f64>,
    pub beta2: Option<f64>,
}

/// An optimiser as it was built: its kind and every constant (logged and recorded in the run's
/// resolved config).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerSettings {
    Adam(AdamConfig),
    RmsProp(RmsPropConfig),
}

impl OptimizerSettings {
    /// The learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerSettings::Adam(c) => c.lr,
            OptimizerSettings::RmsProp(c) => c.lr,
        }
    }

    /// Adam's (β1, β2); `None` for RMSProp.
    pub fn betas(&self) -> Option<(f64, f64)> {
        match self {
            OptimizerSettings::Adam(c) => Some((c.beta1, c.beta2)),
            OptimizerSettings::RmsProp(_) => None,
        }
    }

    /// The settings as JSON, for the log.
    pub fn describe(&self) -> serde_json::Value {
        match self {
            OptimizerSettings::Adam(c) => serde_json::json!({
                "kind": "adam", "lr": c.lr, "beta1": c.beta1, "beta2": c.beta2, "eps": c.eps
            }),
            OptimizerSettings::RmsProp(c) => serde_json::json!({
                "kind": "rmsprop", "lr": c.lr, "alpha": c.alpha, "eps": c.eps
            }),
        }
    }

    /// Builds the optimiser over the trainable variables of `vs`.
    pub fn build(&self, vs: &VarStore) -> Result<Box<dyn Optimizer>> {
        Ok(match *self {
            OptimizerSettings::Adam(c) => Box::new(Adam::new(vs, c)?),
            OptimizerSettings::RmsProp(c) => Box::new(RmsProp::new(vs, c)?),
        })
    }
}

/// The optimiser a game's paper prescribes, with the caller's overrides.
pub fn optimizer_settings(choice: OptimizerChoice, set: OptimizerOverrides) -> OptimizerSettings {
    match choice {
        OptimizerChoice::Adam { lr, beta1, beta2 } => OptimizerSettings::Adam(AdamConfig {
            lr: set.lr.unwrap_or(lr),
            beta1: set.beta1.unwrap_or(beta1),
            beta2: set.beta2.unwrap_or(beta2),
            ..Default::default()
        }),
        OptimizerChoice::RmsProp { lr } => OptimizerSettings::RmsProp(RmsPropConfig {
            lr: set.lr.unwrap_or(lr),
            ..Default::default()
        }),
    }
}

/// The seed of libtorch's generator from `images_shown` on: reseeding at every snapshot makes
/// the random stream after a snapshot a function of (seed, images shown), so a resumed run draws
/// exactly what the uninterrupted run drew.
pub fn stream_seed(seed: u64, images_shown: u64) -> i64 {
    let mut x = seed ^ images_shown.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (x ^ (x >> 29)) as i64 & i64::MAX
}

/// The step's outcome: the scalars to average over a tick (D's per critic step, then G's and
/// `grad_norm_g`), as tensors so that nothing waits on the device, and the last losses.
#[derive(Debug, Default)]
pub struct StepStats {
    pub scalars: Vec<(&'static str, Tensor)>,
    pub loss_d: f64,
    pub loss_g: f64,
}

/// A real batch of a step could not be read (a file that broke or changed after the source was
/// opened). The step's batches are all read before any update, so such a step did not start:
/// the trainer is as the previous step left it (batch stream included) and may be snapshotted;
/// a resume once the file is fixed continues exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchUnreadable;

impl std::fmt::Display for BatchUnreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a real batch could not be read (the step did not start)")
    }
}

/// A step that produced a non-finite loss: nothing from it may be saved.
#[derive(Debug, Clone, PartialEq)]
pub struct Diverged {
    pub generator_step: u64,
    pub images_shown: u64,
    pub loss_d: f64,
    pub loss_g: f64,
}

impl std::fmt::Display for Diverged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "diverged at generator step {} ({:.3} kimg): loss_d = {}, loss_g = {}; \
             nothing was saved from this point",
            self.generator_step,
            self.images_shown as f64 / 1000.0,
            self.loss_d,
            self.loss_g
        )
    }
}

impl std::error::Error for Diverged {}

/// How the trainer runs: batch size (a growing architecture's schedule overrides it), the seed
/// of the batch order and of the random stream, and the memory format.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainerSettings {
    pub batch_size: usize,
    pub seed: u64,
    /// Feed real batches channels-last (the players' weights should be too: see
    /// [`Players::to_channels_last`]).
    pub channels_last: bool,
}

/// One training run's state in memory: players, optimisers, game, real batches and progress.
pub struct Trainer {
    players: Players,
    opt_g: Box<dyn Optimizer>,
    opt_d: Box<dyn Optimizer>,
    game: Box<dyn Game>,
    plan: LoopPlan,
    source: Box<dyn ImageSource>,
    order: BatchOrder,
    settings: TrainerSettings,
    device: Device,
    progress: Progress,
    last_lod: Option<f64>,
    phase: Option<ganlab_progan::Phase>,
    ema_vars: Vec<(Tensor, Tensor)>,
    d_params: Vec<Tensor>,
    parallel: Option<DataParallel>,
    /// Time spent getting real batches since [`Trainer::take_data_time`] last read it.
    data_time: Duration,
    /// The type the networks compute in (see [`Trainer::set_precision`]).
    precision: Precision,
    /// G's and D's loss scalers (float16 only).
    scalers: Option<(GradScaler, GradScaler)>,
    /// The augmentation of everything D sees (see [`Trainer::set_augmentation`]).
    augmentation: Option<Augmentation>,
}

/// A trainer's place in a data-parallel group (see [`Trainer::data_parallel`]).
struct DataParallel {
    dist: Arc<Dist>,
    shard: Shard,
    /// The players' variables that are not trained (batch norm's running statistics): rank 0's
    /// are copied to every rank after each step, as PyTorch DDP's `broadcast_buffers` does.
    buffers: Vec<Tensor>,
    /// Time spent in collectives, and how many calls.
    communication: Duration,
    calls: u64,
}

impl DataParallel {
    fn timed<T>(
        &mut self,
        f: impl FnOnce(&Dist) -> Result<T, ganlab_dist::DistError>,
    ) -> Result<T> {
        let start = Instant::now();
        let out = f(&self.dist);
        self.communication += start.elapsed();
        self.calls += 1;
        Ok(out?)
    }
}

/// A phase clock's lap: called with the name of each phase of the step as it ends.
pub type Lap<'a> = &'a mut dyn FnMut(&'static str);

impl Trainer {
    /// A trainer of `players` in `game` on the samples of `source` (batches are moved to the
    /// players' device; a source already there is fastest), with the optimisers `opt_g` /
    /// `opt_d`.
    pub fn new(
        players: Players,
        game: Box<dyn Game>,
        (opt_g, opt_d): (Box<dyn Optimizer>, Box<dyn Optimizer>),
        source: Box<dyn ImageSource>,
        settings: TrainerSettings,
    ) -> Trainer {
        let device = players.g_vs.device();
        let ema_vars = match &players.ema {
            Some(ema) => ema_pairs(&players.g_vs, &ema.vs),
            None => Vec::new(),
        };
        let d_params = players.d_vs.trainable_variables();
        let order = BatchOrder::new(source.len() as usize, settings.batch_size, settings.seed);
        Trainer {
            plan: game.plan(),
            players,
            opt_g,
            opt_d,
            game,
            source,
            order,
            settings,
            device,
            progress: Progress::default(),
            last_lod: None,
            phase: None,
            ema_vars,
            d_params,
            parallel: None,
            data_time: Duration::ZERO,
            precision: Precision::Fp32,
            scalers: None,
            augmentation: None,
        }
    }

    /// Makes this trainer one rank of a data-parallel group. The batch size stays the global
    /// batch; this rank trains on its slice of every batch (the real images, the latents and the
    /// games' per-sample noise are the rows one process would have drawn for them), gradients
    /// are averaged across ranks in buckets before each optimiser step, the step's scalars are
    /// averaged, and rank 0's parameters and buffers are copied to every rank now (call after
    /// loading a snapshot too: [`Trainer::sync_from_main`]). Batch norm and minibatch stddev see
    /// only this rank's samples, as in PyTorch DDP and official ProGAN.
    pub fn data_parallel(&mut self, dist: Arc<Dist>) -> Result<()> {
        let ranks = dist.world_size();
        let schedule = self.players.growth.as_ref().map(|growth| &growth.schedule);
        check_batch_split(self.settings.batch_size, schedule, ranks)?;
        // G's moving average follows G's buffers on each rank (before they are broadcast), so
        // its own are broadcast too.
        let mut stores = vec![&self.players.g_vs, &self.players.d_vs];
        stores.extend(self.players.ema.as_ref().map(|ema| &ema.vs));
        let buffers = stores
            .iter()
            .flat_map(|vs| {
                let trainable: Vec<_> = vs
                    .trainable_variables()
                    .iter()
                    .map(Tensor::data_ptr)
                    .collect();
                sorted_variables(vs)
                    .into_iter()
                    .filter(move |t| !trainable.contains(&t.data_ptr()))
            })
            .collect();
        let shard = Shard {
            index: dist.rank(),
            count: ranks,
        };
        self.parallel = Some(DataParallel {
            dist,
            shard,
            buffers,
            communication: Duration::ZERO,
            calls: 0,
        });
        self.sync_from_main()
    }

    /// Copies rank 0's networks (every variable of G, D and G's moving average) to every rank.
    pub fn sync_from_main(&mut self) -> Result<()> {
        let Some(p) = &mut self.parallel else {
            return Ok(());
        };
        let variables: Vec<Tensor> = self
            .players
            .networks()
            .iter()
            .flat_map(|(_, vs)| sorted_variables(vs))
            .collect();
        tch::no_grad(|| p.timed(|d| d.broadcast(&variables.iter().collect::<Vec<_>>(), 0)))
    }

    /// The data-parallel group, when there is one.
    pub fn dist(&self) -> Option<&Arc<Dist>> {
        self.parallel.as_ref().map(|p| &p.dist)
    }

    /// The time the steps spent getting their real batches since the last call (waiting for
    /// the source's background decoding, decoding what was not prefetched, the copy to the
    /// device), and resets it: the input-bound share of a stretch of training is this over its
    /// wall time.
    pub fn take_data_time(&mut self) -> Duration {
        std::mem::take(&mut self.data_time)
    }

    /// Time spent in collectives so far and the number of calls (zero in one process).
    pub fn communication(&self) -> (Duration, u64) {
        self.parallel
            .as_ref()
            .map_or((Duration::ZERO, 0), |p| (p.communication, p.calls))
    }

    /// This trainer's part of every batch.
    pub fn shard(&self) -> Shard {
        self.parallel.as_ref().map_or(Shard::default(), |p| p.shard)
    }

    /// A digest of every variable of the players (bit for bit), to compare replicas.
    pub fn parameter_digest(&self) -> Result<[u8; 32]> {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for (name, vs) in self.players.networks() {
            let mut vars: Vec<_> = vs.variables().into_iter().collect();
            vars.sort_by(|a, b| a.0.cmp(&b.0));
            for (var, t) in vars {
                hash.update(name.as_bytes());
                hash.update(var.as_bytes());
                // Flattened first: a contiguous tensor may keep an odd stride on a dimension of
                // size 1, which a byte view refuses.
                let flat = t.detach().to_device(Device::Cpu).reshape([-1]).contiguous();
                let bytes = Vec::<u8>::try_from(flat.f_view_dtype(Kind::Uint8)?)?;
                hash.update(&bytes);
            }
        }
        Ok(hash.finalize().into())
    }

    /// Checks that every rank holds bit-identical players (an all-gather of their digests);
    /// `Ok(())` in one process.
    pub fn check_replicas(&mut self) -> Result<()> {
        let digest = self.parameter_digest()?;
        let Some(p) = &mut self.parallel else {
            return Ok(());
        };
        let all = p.timed(|d| d.all_gather(&Tensor::from_slice(&digest)))?;
        let all = Vec::<u8>::try_from(all.to_device(Device::Cpu))?;
        for (rank, theirs) in all.chunks(32).enumerate() {
            if theirs != digest {
                anyhow::bail!(
                    "rank {rank}'s networks differ from rank {}'s: the replicas drifted apart \
                     (a nondeterministic kernel, or ranks that did not take the same steps)",
                    p.dist.rank()
                );
            }
        }
        Ok(())
    }

    /// A trainer with the optimiser of the game's paper on both sides (research code's
    /// shortest path).
    pub fn with_paper_optimizers(
        players: Players,
        game: Box<dyn Game>,
        source: Box<dyn ImageSource>,
        settings: TrainerSettings,
    ) -> Result<Trainer> {
        let opt = optimizer_settings(game.plan().optimizer, OptimizerOverrides::default());
        let optimizers = (opt.build(&players.g_vs)?, opt.build(&players.d_vs)?);
        Ok(Trainer::new(players, game, optimizers, source, settings))
    }

    pub fn players(&self) -> &Players {
        &self.players
    }

    pub fn game(&self) -> &dyn Game {
        self.game.as_ref()
    }

    pub fn plan(&self) -> LoopPlan {
        self.plan
    }

    pub fn source(&self) -> &dyn ImageSource {
        self.source.as_ref()
    }

    pub fn optimizers(&self) -> (&dyn Optimizer, &dyn Optimizer) {
        (self.opt_g.as_ref(), self.opt_d.as_ref())
    }

    /// Where training stands.
    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// Counts a completed tick (the driver's unit of statistics; saved in snapshots).
    pub fn count_tick(&mut self) {
        self.progress.ticks += 1;
    }

    /// The current resolution phase of a growing architecture (`None` before the first step
    /// and for the others).
    pub fn phase(&self) -> Option<ganlab_progan::Phase> {
        self.phase
    }

    /// The generator steps taken so far.
    pub fn generator_steps(&self) -> u64 {
        self.progress.critic_steps / self.plan.critic_steps.max(1) as u64
    }

    /// One generator step with its critic steps: the loop's step.
    pub fn step(&mut self) -> Result<StepStats> {
        self.step_with(&mut |_| {})
    }

    /// [`Trainer::step`], calling `lap` with the name of each phase as it ends (`g_forward`,
    /// `d_forward_and_loss`, `d_backward`, `d_step`, `d_forward_for_g`, `g_backward`,
    /// `g_step`, and `g_ema` for players with a moving average).
    pub fn step_with(&mut self, lap: Lap<'_>) -> Result<StepStats> {
        let (last_lod, position) = (self.last_lod, self.order.position());
        let reset_optimizers = self.follow_schedule();
        // Every real batch of the step first: a batch that cannot be read leaves the trainer as
        // the previous step left it.
        let reading = Instant::now();
        let reals = (0..self.plan.critic_steps)
            .map(|_| self.next_real())
            .collect::<Result<Vec<(Tensor, Option<Tensor>)>>>();
        self.data_time += reading.elapsed();
        // Every rank stops on a batch that one of them could not read.
        let failed_elsewhere = match &mut self.parallel {
            Some(p) => {
                let failed = reals.is_err();
                p.timed(|d| d.any(failed))? && !failed
            }
            None => false,
        };
        let reals = match (reals, failed_elsewhere) {
            (Ok(reals), false) => reals,
            (result, _) => {
                self.order.seek(position);
                self.last_lod = last_lod;
                let err = match result {
                    Err(err) => err,
                    Ok(_) => anyhow::anyhow!("another rank could not read its part of a batch"),
                };
                return Err(err.context(BatchUnreadable));
            }
        };
        if reset_optimizers {
            self.opt_g.reset();
            self.opt_d.reset();
        }
        let shard = self.shard();
        let batch = (self.order.batch_size() / shard.count) as i64;
        let shown_before = self.progress.images_shown;
        let mut stats = StepStats::default();
        for (critic_step, (real, labels)) in reals.iter().enumerate() {
            let last = critic_step + 1 == self.plan.critic_steps;
            let z = shard.draw(&[batch, self.players.z_dim], |s| {
                Tensor::randn(s, (Kind::Float, self.device))
            });
            self.update(real, labels.as_ref(), &z, last, &mut stats, lap)?;
        }
        self.progress.batches = self.order.position();
        if let Some(p) = &mut self.parallel {
            if !p.buffers.is_empty() {
                let buffers: Vec<&Tensor> = p.buffers.iter().collect();
                tch::no_grad(|| p.dist.broadcast(&buffers, 0))?;
            }
        }
        if let Some(ada) = self.augmentation.as_mut().and_then(Augmentation::ada) {
            let images = self.progress.images_shown - shown_before;
            let parallel = &mut self.parallel;
            // r_t over every rank's reals: the mean over ranks of (Σ sign, count) has their
            // ratio.
            let rt = ada.end_step(images, |sums| -> Result<Tensor> {
                let sums = sums.to_kind(Kind::Float);
                if let Some(p) = parallel {
                    p.timed(|d| d.all_reduce_mean(&[&sums]))?;
                }
                Ok(sums)
            })?;
            if let Some(rt) = rt {
                stats.scalars.push(("ada_rt", Tensor::from(rt as f32)));
            }
            stats.scalars.push(("ada_p", Tensor::from(ada.p as f32)));
        }
        Ok(stats)
    }

    /// One D update and one G update on the given real batch and latents, outside the batch
    /// stream (the CPU-vs-GPU check replays fixed batches through it). Games with several
    /// critic steps take them all on the same batch.
    pub fn step_on(&mut self, real: &Tensor, z: &Tensor) -> Result<StepStats> {
        self.step_on_labelled(real, None, z)
    }

    /// [`Trainer::step_on`] for conditional players: the real batch's class `labels` (int64
    /// `[N]`), which the fakes take too.
    pub fn step_on_labelled(
        &mut self,
        real: &Tensor,
        labels: Option<&Tensor>,
        z: &Tensor,
    ) -> Result<StepStats> {
        self.check_labels(labels.is_some())?;
        let labels = labels.map(|l| l.to_device(self.device));
        let mut stats = StepStats::default();
        for critic_step in 0..self.plan.critic_steps {
            let last = critic_step + 1 == self.plan.critic_steps;
            self.update(real, labels.as_ref(), z, last, &mut stats, &mut |_| {})?;
        }
        Ok(stats)
    }

    /// Conditional players need labelled batches of as many classes as they take; unconditional
    /// ones ignore labels.
    fn check_labels(&self, labelled: bool) -> Result<()> {
        let classes = self.players.classes();
        if classes > 0 && !labelled {
            anyhow::bail!(
                "the networks are conditioned on {classes} classes (`cond`) but {} has no \
                 class labels",
                self.source.description()
            );
        }
        Ok(())
    }

    /// Sets resolution, α, batch size and learning rate from the schedule, a pure function of
    /// images shown, before every generator step (growing architectures only). Returns whether
    /// the optimisers' states are due for a reset (the level of detail crossed an integer).
    fn follow_schedule(&mut self) -> bool {
        let Some(growth) = &self.players.growth else {
            return false;
        };
        let mut reset = false;
        let now = growth.schedule.at(self.progress.images_shown);
        if let Some(previous) = self.last_lod {
            if now.lod.floor() != previous.floor() || now.lod.ceil() != previous.ceil() {
                let (kimg, side, lod) = (now.kimg, now.resolution, now.lod);
                if now.alpha < 1.0 {
                    tracing::info!("kimg {kimg:.1}: fading in {side}x{side} (lod {lod:.3})");
                } else {
                    tracing::info!("kimg {kimg:.1}: {side}x{side} stable (lod {lod:.3})");
                }
                reset = growth.reset_optimizer;
            }
        }
        self.last_lod = Some(now.lod);
        growth
            .stage
            .set(now.resolution.trailing_zeros() as i64, now.alpha);
        self.order.set_batch_size(now.batch_size);
        self.opt_g.set_lr(now.lr);
        self.opt_d.set_lr(now.lr * growth.schedule.lr_d_factor);
        self.phase = Some(now);
        reset
    }

    /// The next real batch from the stream (faded like G's output while a resolution fades in),
    /// with its class labels on the players' device when the players are conditional.
    fn next_real(&mut self) -> Result<(Tensor, Option<Tensor>)> {
        let indices = self.order.next_indices();
        let indices = shard_of(self.shard(), &indices)?;
        let real = match &self.phase {
            Some(p) => self.source.batch_at(&indices, p.resolution),
            None => self.source.batch(&indices),
        }
        .with_context(|| format!("reading a batch of {}", self.source.description()))?;
        let labels = match self.players.classes() {
            0 => None,
            classes => {
                let have = self.source.class_names().len() as i64;
                if have != classes {
                    anyhow::bail!(
                        "the networks are conditioned on {classes} classes (`cond`) but {} has \
                         {have}",
                        self.source.description()
                    );
                }
                let labels = self
                    .source
                    .labels_of(&indices)
                    .with_context(|| {
                        format!("reading the labels of {}", self.source.description())
                    })?
                    .map(|l| l.to_device(self.device));
                self.check_labels(labels.is_some())?;
                labels
            }
        };
        if let Ok(next) = shard_of(self.shard(), &self.order.peek_indices()) {
            match &self.phase {
                Some(p) => self.source.prefetch_at(&next, p.resolution),
                None => self.source.prefetch(&next),
            }
        }
        // A source on another device (a streamed source for CUDA players) is moved batch by
        // batch, from pinned host memory without blocking the host (the copy is ordered before
        // the kernels that read it on the same stream); on the same device this is a no-op.
        let real = match (self.device, real.device()) {
            (Device::Cuda(_), Device::Cpu) => real.f_pin_memory(self.device)?.f_to_device_(
                self.device,
                real.kind(),
                true,
                false,
            )?,
            _ => real.to_device(self.device),
        };
        let real = match &self.phase {
            Some(p) => ganlab_progan::fade_reals(&real, p.resolution, p.alpha),
            None => real,
        };
        let real = match self.settings.channels_last {
            true => ganlab_layers::channels_last(&real),
            false => real,
        };
        Ok((real, labels))
    }

    /// Sets the type the networks' forward (and so backward) passes compute in: float32, or
    /// bfloat16 or float16 under libtorch's autocast with float32 weights, gradients, optimiser
    /// states, losses and G's moving average (see `ganlab_amp`); float16 with one dynamic loss
    /// scaler per optimiser ([`GradScaler`], fresh ones at each call). Call it before the first
    /// step. Returns a warning when the device lacks the hardware that makes the precision
    /// fast.
    pub fn set_precision(&mut self, precision: Precision) -> Option<String> {
        self.precision = precision;
        self.scalers = (precision == Precision::Fp16)
            .then(|| (GradScaler::new(self.device), GradScaler::new(self.device)));
        precision.speed_warning(self.device)
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Augments every image D sees, real and fake, in D's and G's updates (DiffAugment, ADA;
    /// `ganlab_augment`), in float32 whatever the precision, with draws from libtorch's
    /// generator for the global batch. Under ADA, the first D call of each D step is taken as
    /// D's logits on the real batch (every built-in game calls D on the reals first) for the
    /// heuristic r_t, and p is adjusted every `interval` generator steps.
    pub fn set_augmentation(&mut self, augmentation: Option<Augmentation>) {
        self.augmentation = augmentation;
    }

    /// ADA's augmentation probability p (`None` without ADA).
    pub fn augment_p(&self) -> Option<f64> {
        match &self.augmentation {
            Some(Augmentation::Ada(a)) => Some(a.p),
            _ => None,
        }
    }

    /// What D sees of `x`: `x`, or `x` augmented in float32 (for this shard's rows).
    fn seen_by_d(&self, x: &Tensor, shard: Shard) -> Tensor {
        match &self.augmentation {
            Some(a) => without_autocast(self.device, || a.apply(x, shard)),
            None => x.shallow_clone(),
        }
    }

    /// The game's D loss on `real` and the detached `fake` (everything D sees augmented), and
    /// r_t's sign from D's first call, which every built-in game makes on the reals.
    fn critic_loss(
        &mut self,
        real: &Tensor,
        labels: Option<&Tensor>,
        fake: &Tensor,
        ctx: StepContext,
        stats: &mut StepStats,
    ) -> ganlab_games::PlayerLoss {
        let (d, precision, device) = (&self.players.d, self.precision, self.device);
        let mut first_logits: Option<Tensor> = None;
        // The losses and penalties (R1's and WGAN-GP's double backward included) are computed
        // inside the region, as PyTorch's AMP recipe does, on float32 logits.
        let d_out = autocast(precision, device, || {
            self.game.d_loss(
                &mut |x: &Tensor| {
                    let seen = self.seen_by_d(x, ctx.shard);
                    let logits = float_logits(d.forward_ct(&seen, labels, true), precision);
                    if first_logits.is_none() {
                        first_logits = Some(logits.detach());
                    }
                    logits
                },
                real,
                fake,
                ctx,
            )
        });
        if let Some(logits) = &first_logits {
            // r_t = E[sign D(real)] (Karras et al. 2020, §3), for ADA and the overfitting
            // diagnostic; with augmentation, of the augmented reals.
            stats
                .scalars
                .push(("d_real_sign", logits.sign().mean(Kind::Float)));
            if let Some(ada) = self.augmentation.as_mut().and_then(Augmentation::ada) {
                ada.observe_real(logits);
            }
        }
        d_out
    }

    /// The game's G loss on the `fake` batch (on G's graph) from the frozen D's logits (as D
    /// sees them, augmented), with D's logits on the step's `real` batch when the game scores
    /// each fake against its real (relativistic games): without a gradient, since G's loss
    /// reaches G through the fakes only.
    fn generator_loss(
        &self,
        real: &Tensor,
        labels: Option<&Tensor>,
        fake: &Tensor,
        z: &Tensor,
        ctx: StepContext,
    ) -> Result<ganlab_games::PlayerLoss, ganlab_games::Error> {
        let (d, precision, device) = (&self.players.d, self.precision, self.device);
        let logits = |x: &Tensor| {
            let seen = self.seen_by_d(x, ctx.shard);
            autocast(precision, device, || {
                float_logits(d.forward_ct(&seen, labels, true), precision)
            })
        };
        let fake_logits = logits(fake);
        let real_logits = self
            .game
            .needs_real_logits()
            .then(|| tch::no_grad(|| logits(real)));
        self.game.generator_loss(&GeneratorPass {
            fake_logits: &fake_logits,
            fake,
            z,
            real_logits: real_logits.as_ref(),
            ctx,
        })
    }

    /// One critic update and, on the last critic step, one generator update (with D frozen)
    /// and G's moving average.
    fn update(
        &mut self,
        real: &Tensor,
        labels: Option<&Tensor>,
        z: &Tensor,
        last: bool,
        stats: &mut StepStats,
        lap: Lap<'_>,
    ) -> Result<()> {
        let g = &self.players.g;
        // The last critic step's fakes are kept with their graph and reused for G's update, as
        // in PyTorch's DCGAN example.
        let z = match last && self.game.latents_need_grad() {
            true => z.detach().set_requires_grad(true),
            false => z.shallow_clone(),
        };
        let (precision, device) = (self.precision, self.device);
        let forward_g = || autocast(precision, device, || g.forward_ct(&z, labels, true));
        let fake = match last {
            true => forward_g(),
            false => tch::no_grad(forward_g),
        };
        lap("g_forward");
        let ctx = StepContext {
            kimg: self.progress.images_shown as f64 / 1000.0,
            critic_step: self.progress.critic_steps,
            shard: self.shard(),
        };
        let d_out = self.critic_loss(real, labels, &fake.detach(), ctx, stats);
        lap("d_forward_and_loss");
        self.opt_d.zero_grad();
        backward(&d_out.loss, self.scalers.as_ref().map(|(_, sd)| sd), "D")?;
        lap("d_backward");
        if let Some(p) = &mut self.parallel {
            p.timed(|d| {
                d.all_reduce_mean_bucketed(
                    &gradients(self.opt_d.as_ref()),
                    ganlab_dist::BUCKET_BYTES,
                )
            })?;
            lap("d_allreduce");
        }
        let skipped_d = scaled_step(
            self.opt_d.as_mut(),
            self.scalers.as_mut().map(|s| &mut s.1),
            ("amp_skipped_d", "amp_scale_d"),
            stats,
        );
        if let Some(c) = self.plan.clip_weights {
            ganlab_games::clip_parameters(&self.d_params, c);
        }
        lap("d_step");
        stats.scalars.extend(d_out.scalars);
        let step_images = real.size()[0] as u64 * self.shard().count as u64;
        self.progress.images_shown += step_images;
        self.progress.critic_steps += 1;
        if !last {
            return Ok(());
        }
        // D's weights get no gradient during G's update: that part of the backward pass is
        // skipped, and D's optimiser state is untouched.
        set_requires_grad(&self.d_params, false);
        let g_out = match self.generator_loss(real, labels, &fake, &z, ctx) {
            Ok(out) => out,
            Err(err) => {
                set_requires_grad(&self.d_params, true);
                return Err(anyhow::Error::new(err).context("the generator's loss"));
            }
        };
        lap("d_forward_for_g");
        self.opt_g.zero_grad();
        backward(&g_out.loss, self.scalers.as_ref().map(|(sg, _)| sg), "G")?;
        lap("g_backward");
        if let Some(p) = &mut self.parallel {
            p.timed(|d| {
                d.all_reduce_mean_bucketed(
                    &gradients(self.opt_g.as_ref()),
                    ganlab_dist::BUCKET_BYTES,
                )
            })?;
            lap("g_allreduce");
        }
        let skipped_g = scaled_step(
            self.opt_g.as_mut(),
            self.scalers.as_mut().map(|s| &mut s.0),
            ("amp_skipped_g", "amp_scale_g"),
            stats,
        );
        let grad_norm_g = gradient_norm(self.opt_g.as_ref());
        set_requires_grad(&self.d_params, true);
        lap("g_step");
        stats.scalars.extend(g_out.scalars);
        stats.scalars.push(("grad_norm_g", grad_norm_g));
        let mut losses = Tensor::stack(&[d_out.loss.detach(), g_out.loss.detach()], 0);
        if let Some(p) = &mut self.parallel {
            // The step's scalars and losses are means over samples: their mean over ranks is
            // the global batch's (one call for all of them).
            let mut all: Vec<Tensor> = stats
                .scalars
                .iter()
                .map(|(_, t)| t.detach().to_kind(Kind::Float).reshape([1]))
                .collect();
            all.push(losses.to_kind(Kind::Float));
            let flat = Tensor::cat(&all, 0);
            p.timed(|d| d.all_reduce_mean(&[&flat]))?;
            let n = stats.scalars.len() as i64;
            for (i, (_, t)) in stats.scalars.iter_mut().enumerate() {
                *t = flat.get(i as i64);
            }
            losses = flat.narrow(0, n, 2);
        }
        // Divergence: a non-finite loss stops the run before anything is saved from it (the
        // mean over ranks, so that every rank stops at the same step).
        stats.loss_d = losses.double_value(&[0]);
        stats.loss_g = losses.double_value(&[1]);
        // A step the loss scaler skipped (float16 overflowed) is not a divergence, and its
        // non-finite values stay out of the tick's means.
        let skipped = skipped_d || skipped_g;
        if skipped {
            stats
                .scalars
                .retain(|(_, t)| bool::try_from(t.isfinite().all()).unwrap_or(false));
        }
        if !skipped && (!stats.loss_d.is_finite() || !stats.loss_g.is_finite()) {
            return Err(Diverged {
                generator_step: self.generator_steps(),
                images_shown: self.progress.images_shown,
                loss_d: stats.loss_d,
                loss_g: stats.loss_g,
            }
            .into());
        }
        if let Some(ema) = &self.players.ema {
            let shown_before = self.progress.images_shown - step_images;
            update_ema(&self.ema_vars, ema.beta_at(step_images, shown_before));
            lap("g_ema");
        }
        Ok(())
    }

    /// The loss scalers' state as a snapshot holds it (empty without float16):
    /// `amp.scaler_g|d.scale` and `.growth_tracker`.
    pub fn scaler_state(&self) -> Vec<(String, Tensor)> {
        match &self.scalers {
            Some((sg, sd)) => {
                let mut state = sg.state("amp.scaler_g");
                state.extend(sd.state("amp.scaler_d"));
                state
            }
            None => Vec::new(),
        }
    }

    /// What a snapshot holds besides networks, optimisers and progress: the loss scalers'
    /// state and ADA's.
    fn extra_state(&self) -> Vec<(String, Tensor)> {
        let mut state = self.scaler_state();
        if let Some(Augmentation::Ada(ada)) = &self.augmentation {
            state.extend(ada.state());
        }
        state
    }

    /// Writes a snapshot (networks, optimiser states, progress) to `path`, atomically. The
    /// random stream is left as it is (see [`Trainer::checkpoint`]).
    pub fn write_snapshot(&self, path: &Path) -> Result<()> {
        snapshot::save_as(
            path,
            &self.players.networks(),
            self.opt_g.as_ref(),
            self.opt_d.as_ref(),
            self.progress,
            self.last_lod,
            self.extra_state(),
        )?;
        Ok(())
    }

    /// Reseeds libtorch's generator from (seed, images shown): what follows is then the same
    /// in this process and in any process resumed from a snapshot taken here.
    pub fn reseed_stream(&self) {
        tch::manual_seed(stream_seed(self.settings.seed, self.progress.images_shown));
    }

    /// A snapshot to resume from exactly: [`Trainer::write_snapshot`], then
    /// [`Trainer::reseed_stream`].
    pub fn checkpoint(&self, path: &Path) -> Result<()> {
        self.write_snapshot(path)?;
        self.reseed_stream();
        Ok(())
    }

    /// Loads a snapshot written by [`Trainer::write_snapshot`] (networks, optimiser states,
    /// progress and the batch stream's position) without touching the random stream.
    pub fn load_snapshot(&mut self, path: &Path) -> Result<()> {
        let snap = Snapshot::read(path)?;
        for (name, vs) in self.players.networks() {
            // A run that gained G's moving average on resuming: it starts from G (loaded first).
            if name == "G_ema" && snap.section(name).is_empty() {
                let g = self.players.g_vs.variables();
                for (var, mut t) in vs.variables() {
                    let from = g.get(&var).with_context(|| format!("G has no `{var}`"))?;
                    tch::no_grad(|| t.f_copy_(from))?;
                }
                tracing::info!(
                    "{}: no G_ema (written without G's moving average); the average starts from G",
                    path.display()
                );
                continue;
            }
            snap.load_into(name, vs)?;
        }
        self.opt_g
            .load_state(&snap.section("opt_g"))
            .with_context(|| format!("{}: G's optimiser", path.display()))?;
        self.opt_d
            .load_state(&snap.section("opt_d"))
            .with_context(|| format!("{}: D's optimiser", path.display()))?;
        self.progress = snap.progress()?;
        self.order.seek(self.progress.batches);
        self.last_lod = snap
            .tensors
            .get("progress.last_lod")
            .map(|t| t.double_value(&[]));
        // An ADA run continues with its p; a snapshot without it starts from `initial_p`.
        let device = self.device;
        if let Some(ada) = self.augmentation.as_mut().and_then(Augmentation::ada) {
            if !ada.load(&snap.tensors, device) {
                tracing::info!(
                    "{}: no ADA state; p starts at {}",
                    path.display(),
                    ada.settings.initial_p
                );
            }
        }
        // A float16 run continues with its scales; a snapshot without them (another precision
        // before) starts the scalers fresh.
        if let Some((sg, sd)) = &mut self.scalers {
            let device = self.device;
            for (scaler, prefix) in [(sg, "amp.scaler_g"), (sd, "amp.scaler_d")] {
                if !scaler.load(&snap.tensors, prefix) {
                    *scaler = GradScaler::new(device);
                }
            }
        }
        Ok(())
    }

    /// Continues from a snapshot exactly as the process that wrote it with
    /// [`Trainer::checkpoint`] continued: [`Trainer::load_snapshot`], then
    /// [`Trainer::reseed_stream`].
    pub fn resume(&mut self, path: &Path) -> Result<()> {
        self.load_snapshot(path)?;
        self.reseed_stream();
        Ok(())
    }

    /// The first variable of the players that holds a NaN or an infinite value, as
    /// `G.name` / `D.name` / `G_ema.name`.
    pub fn non_finite_variable(&self) -> Option<String> {
        for (prefix, vs) in self.players.networks() {
            for (name, t) in vs.variables() {
                if !bool::try_from(t.isfinite().all()).unwrap_or(false) {
                    return Some(format!("{prefix}.{name}"));
                }
            }
        }
        None
    }
}

/// A var store's variables in the order of their names (the same on every rank; a `HashMap`'s
/// order is not).
fn sorted_variables(vs: &VarStore) -> Vec<Tensor> {
    let mut vars: Vec<_> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.into_iter().map(|(_, t)| t).collect()
}

/// Rank `shard.index`'s rows of a global batch's indices.
/// D's logits as the games read them: float32 (under bf16 autocast D's last layer gives bf16).
fn float_logits(logits: Tensor, precision: Precision) -> Tensor {
    match precision {
        Precision::Fp32 => logits,
        _ => logits.to_kind(Kind::Float),
    }
}

/// A player's backward pass from its loss (scaled by its float16 loss scaler, if any). An
/// operation without a derivative (of the order a penalty needs) is an error that names the
/// player, not a panic.
fn backward(loss: &Tensor, scaler: Option<&GradScaler>, player: &str) -> Result<()> {
    match scaler {
        Some(scaler) => scaler.scale_loss(loss).f_backward(),
        None => loss.f_backward(),
    }
    .with_context(|| format!("{player}'s backward pass"))
}

/// That every batch a run trains on splits evenly across `ranks` data-parallel ranks: the
/// batch size, or with a progressive `schedule` each of its batch sizes up to its final
/// resolution (all global batches). [`Trainer::data_parallel`] checks it; a driver can check it
/// before it makes anything (`gan train` does, before the run directory).
pub fn check_batch_split(
    batch_size: usize,
    schedule: Option<&ganlab_progan::Schedule>,
    ranks: usize,
) -> Result<()> {
    let ranks = ranks.max(1);
    match schedule {
        None if !batch_size.is_multiple_of(ranks) => anyhow::bail!(
            "the batch size {batch_size} does not split across {ranks} ranks: --batch-size is \
             the global batch and must be a multiple of the number of ranks (WORLD_SIZE)"
        ),
        None => Ok(()),
        Some(s) => {
            let used = s
                .minibatch
                .iter()
                .filter(|(r, _)| **r <= s.final_resolution)
                .map(|(_, b)| *b);
            match std::iter::once(s.minibatch_base)
                .chain(used)
                .find(|b| !b.is_multiple_of(ranks))
            {
                Some(bad) => anyhow::bail!(
                    "the batch size {bad} of the progressive schedule does not split across \
                     {ranks} ranks: progan.schedule.minibatch_base and progan.schedule.minibatch \
                     hold global batches, each a multiple of the number of ranks (WORLD_SIZE)"
                ),
                None => Ok(()),
            }
        }
    }
}

fn shard_of(shard: Shard, indices: &[i64]) -> Result<Vec<i64>> {
    if shard.count <= 1 {
        return Ok(indices.to_vec());
    }
    if !indices.len().is_multiple_of(shard.count) {
        anyhow::bail!(
            "the batch size {} does not split across {} ranks: --batch-size is the global batch \
             and must be a multiple of the number of ranks",
            indices.len(),
            shard.count
        );
    }
    let n = indices.len() / shard.count;
    Ok(indices[shard.index * n..(shard.index + 1) * n].to_vec())
}

/// An optimiser's step. With a float16 loss scaler the gradients are first unscaled and checked:
/// a step with an infinity or a NaN is skipped (the optimiser untouched) and the scale backed
/// off, as `GradScaler.step` / `update` do; the tick's statistics get the step's `keys`
/// (skipped: 1 or 0, and the scale it ran with). Returns whether it was skipped.
fn scaled_step(
    opt: &mut dyn Optimizer,
    scaler: Option<&mut GradScaler>,
    keys: (&'static str, &'static str),
    stats: &mut StepStats,
) -> bool {
    let Some(scaler) = scaler else {
        opt.step();
        return false;
    };
    let found_inf = scaler.unscale(&gradients(opt));
    let skipped = found_inf.double_value(&[0]) > 0.0;
    if !skipped {
        opt.step();
    }
    let scale_used = scaler.scale.squeeze().copy();
    scaler.update(&found_inf);
    stats.scalars.push((keys.0, found_inf.squeeze()));
    stats.scalars.push((keys.1, scale_used));
    skipped
}

/// The defined gradients of an optimiser's parameters (every rank defines the same ones: they
/// run the same graph).
fn gradients(opt: &dyn Optimizer) -> Vec<Tensor> {
    opt.parameters()
        .iter()
        .map(|(_, p)| p.grad())
        .filter(Tensor::defined)
        .collect()
}

/// The L2 norm of every gradient of an optimiser's parameters, as one scalar tensor.
fn gradient_norm(opt: &dyn Optimizer) -> Tensor {
    tch::no_grad(|| {
        let squares: Vec<Tensor> = opt
            .parameters()
            .iter()
            .map(|(_, p)| p.grad())
            .filter(Tensor::defined)
            .map(|g| g.square().sum(Kind::Float))
            .collect();
        Tensor::stack(&squares, 0).sum(Kind::Float).sqrt()
    })
}

/// ema ← β·ema + (1 − β)·θ for every variable (official ProGAN `Gs.setup_as_moving_average_of(G,
/// beta=G_smoothing)`).
fn update_ema(pairs: &[(Tensor, Tensor)], beta: f64) {
    tch::no_grad(|| {
        for (g, ema) in pairs {
            let _ = ema.shallow_clone().lerp_(g, 1.0 - beta);
        }
    });
}

fn set_requires_grad(params: &[Tensor], on: bool) {
    for p in params {
        let _ = p.set_requires_grad(on);
    }
}

#[cfg(test)]
mod tests {
    use super::check_batch_split;

    #[test]
    fn batches_must_split_across_the_ranks_up_to_the_final_resolution() {
        check_batch_split(64, None, 4).expect("64 on 4 ranks");
        check_batch_split(63, None, 1).expect("anything on one process");
        let err = check_batch_split(63, None, 2).unwrap_err().to_string();
        assert!(
            err.starts_with("the batch size 63 does not split across 2 ranks"),
            "{err}"
        );
        // The default table to 32x32: 128, 128, 128, 64 and the base 16; the 64x64 entry (32)
        // and beyond are never used.
        let mut schedule = ganlab_progan::Schedule::default();
        check_batch_split(0, Some(&schedule), 16).expect("every used batch splits over 16");
        schedule.minibatch.insert(64, 30);
        check_batch_split(0, Some(&schedule), 16).expect("the 64x64 entry is not used");
        schedule.minibatch.insert(16, 120);
        let err = check_batch_split(0, Some(&schedule), 16)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "the batch size 120 of the progressive schedule does not split across 16 ranks"
            ),
            "{err}"
        );
    }
}
