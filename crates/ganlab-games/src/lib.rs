//! The games between generator and discriminator.
//!
//! ```
//! use tch::Tensor;
//! let game = ganlab_games::game_by_name("nonsaturating", Default::default())?;
//! assert_eq!(game.plan().critic_steps, 1);
//! // G's non-saturating loss: E[−log σ(D(G(z)))] = E[softplus(−l)] on D's logits l.
//! let logits = Tensor::from_slice(&[0.0f32, 2.0]);
//! let loss = game.g_loss(&logits)?.loss.double_value(&[]);
//! let expected = ((1.0f64 + 1.0).ln() + (1.0 + (-2.0f64).exp()).ln()) / 2.0;
//! assert!((loss - expected).abs() < 1e-6);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A game turns discriminator outputs (and, for penalties, the discriminator and its inputs)
//! into the two players' losses. It never sees the training loop; the loop never sees a loss
//! formula. What the loop must do around a game (critic steps per generator step, weight clipping
//! after each critic step, the lazy regularisation interval) is in the game's [`LoopPlan`].
//!
//! Every loss works on logits (the discriminator's raw output) in a numerically stable form:
//! log σ(l) = −softplus(−l) and log(1 − σ(l)) = −softplus(l).

mod games;

pub use games::{
    clip_parameters, game_by_name, Game, GameName, GameOptions, Hinge, LeastSquares, Minimax,
    NonSaturating, R1Penalty, Relativistic, Wgan, WganGp, GAME_NAMES,
};

use tch::Tensor;

/// Errors from choosing or configuring a game.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown game `{name}`: `game` must be one of {}", GAME_NAMES.join(", "))]
    UnknownGame { name: String },
    #[error(
        "game `{game}` scores each fake against a real: its generator loss needs D's logits on \
         the real batch (`Game::generator_loss` with `real_logits`; see `Game::needs_real_logits`)"
    )]
    NeedsRealLogits { game: &'static str },
    #[error("invalid game option {what}: expected {expected}, got {got}")]
    InvalidOption {
        what: &'static str,
        expected: &'static str,
        got: f64,
    },
}

/// What the training loop must do around a game.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoopPlan {
    /// Discriminator (critic) updates per generator update.
    pub critic_steps: usize,
    /// Clip every critic parameter to [−c, c] after each critic update (WGAN).
    pub clip_weights: Option<f64>,
    /// Apply the regulariser only every this many critic steps (lazy regularisation,
    /// Karras et al. 2020); 1 means every step.
    pub regularization_interval: usize,
    /// The optimiser the paper of this game prescribes.
    pub optimizer: OptimizerChoice,
}

/// An optimiser and its settings, as prescribed by a game's paper.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerChoice {
    Adam { lr: f64, beta1: f64, beta2: f64 },
    RmsProp { lr: f64 },
}

/// Where training is, for options that change with time (annealed instance noise, lazy R1).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StepContext {
    /// Thousands of real images shown to D so far.
    pub kimg: f64,
    /// Number of critic steps taken so far (counts from 0).
    pub critic_step: u64,
    /// This process's part of a data-parallel batch (the whole batch in one process).
    pub shard: Shard,
}

/// The part of a global batch that one of several data-parallel processes holds: rank `index`
/// of `count` holds samples `[index·n, (index + 1)·n)` of every global batch (n = the global
/// batch / `count`). Per-sample random draws (instance noise, the gradient penalty's ε) are
/// made for the whole global batch from the generator that every rank seeds alike, and sliced,
/// so N ranks draw exactly what one process draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Default for Shard {
    fn default() -> Shard {
        Shard { index: 0, count: 1 }
    }
}

impl Shard {
    /// `draw(shape)` for the global batch (dimension 0 times `count`), then this shard's rows:
    /// `draw(local_shape)` itself in one process.
    pub fn draw(&self, local_shape: &[i64], draw: impl FnOnce(&[i64]) -> Tensor) -> Tensor {
        if self.count <= 1 {
            return draw(local_shape);
        }
        let mut global = local_shape.to_vec();
        let n = global.first().copied().unwrap_or(1);
        if let Some(first) = global.first_mut() {
            *first *= self.count as i64;
        }
        draw(&global).narrow(0, self.index as i64 * n, n)
    }

    /// Standard normal noise shaped like `xs`, drawn in the standard (NCHW) order whatever
    /// `xs`'s memory format, so that a channels-last batch gets the noise a contiguous one gets
    /// (on a contiguous `xs` in one process this is `xs.randn_like()`).
    pub fn randn_like(&self, xs: &Tensor) -> Tensor {
        self.draw(&xs.size(), |s| Tensor::randn(s, (xs.kind(), xs.device())))
    }
}

/// One player's loss and the named scalars to log with it (detached 0-d tensors, so that the
/// loop can average them over a tick without a device sync per step).
#[derive(Debug)]
pub struct PlayerLoss {
    pub loss: Tensor,
    pub scalars: Vec<(&'static str, Tensor)>,
}

/// The discriminator as a game sees it: images in, logits `[N]` out (training mode).
pub type Critic<'a> = dyn FnMut(&Tensor) -> Tensor + 'a;

/// What the generator's loss can see in the generator update ([`Game::generator_loss`]): D's
/// logits on the fakes, the fakes themselves (still on G's graph, so a term of them reaches G's
/// weights) and the latents they came from (with a gradient when [`Game::latents_need_grad`]
/// says so), and where training is. A generator regulariser (a path-length penalty, a
/// mode-seeking term, ...) is a game that adds its term here; the loop is unchanged.
#[derive(Debug, Clone, Copy)]
pub struct GeneratorPass<'a> {
    /// D's logits on `fake` `[N]`, D frozen.
    pub fake_logits: &'a Tensor,
    /// G's output on `z` (this process's share of the batch).
    pub fake: &'a Tensor,
    /// The latents `[N, z_dim]`.
    pub z: &'a Tensor,
    /// D's logits `[N]` on the step's real batch (D frozen, no gradient), paired with `fake`
    /// sample by sample, when the game asks for them ([`Game::needs_real_logits`]).
    pub real_logits: Option<&'a Tensor>,
    pub ctx: StepContext,
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// The shards of N ranks, each drawing from a generator seeded alike, put together are what
    /// one process draws: latents, instance noise (channels-last batches too) and ε.
    #[test]
    fn shards_draw_their_rows_of_what_one_process_draws() {
        let opts = (Kind::Float, Device::Cpu);
        for count in [2usize, 4] {
            tch::manual_seed(11);
            let whole = Shard::default().draw(&[8, 3], |s| Tensor::randn(s, opts));
            let parts: Vec<Tensor> = (0..count)
                .map(|index| {
                    tch::manual_seed(11);
                    Shard { index, count }
                        .draw(&[(8 / count) as i64, 3], |s| Tensor::randn(s, opts))
                })
                .collect();
            assert!(Tensor::cat(&parts, 0).equal(&whole), "{count} shards");
            let batch = Tensor::zeros([8, 2, 3, 3], opts);
            tch::manual_seed(5);
            let noise = Shard::default().randn_like(&batch);
            let local = ganlab_layers_free_channels_last(&batch.narrow(0, 0, (8 / count) as i64));
            let parts: Vec<Tensor> = (0..count)
                .map(|index| {
                    tch::manual_seed(5);
                    Shard { index, count }.randn_like(&local)
                })
                .collect();
            assert!(
                Tensor::cat(&parts, 0).equal(&noise),
                "{count} shards of noise"
            );
        }
    }

    /// A channels-last copy (strides N, 1, W·C, C) without depending on ganlab-layers.
    fn ganlab_layers_free_channels_last(x: &Tensor) -> Tensor {
        x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
    }
}
