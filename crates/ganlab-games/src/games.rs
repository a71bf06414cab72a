//! The games. Each is a small struct; [`game_by_name`] builds one from its name and options.

use crate::{
    Critic, Error, GeneratorPass, LoopPlan, OptimizerChoice, PlayerLoss, Shard, StepContext,
};
use tch::{Kind, Tensor};

/// The games, as a config or a command line names them (`--game`, `game` in a config file).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    serde_with::SerializeDisplay,
    serde_with::DeserializeFromStr,
)]
pub enum GameName {
    /// The non-saturating game (Goodfellow et al. 2014, §3).
    #[default]
    NonSaturating,
    /// The min-max game of the value function V(D, G) (Goodfellow et al. 2014, eq. 1).
    Minimax,
    /// WGAN with weight clipping (Arjovsky et al. 2017).
    Wgan,
    /// WGAN with a gradient penalty (Gulrajani et al. 2017).
    WganGp,
    /// Least-squares GAN (Mao et al. 2017).
    Lsgan,
    /// The hinge game (Lim & Ye 2017; Miyato et al. 2018).
    Hinge,
    /// The relativistic pairing game (Jolicoeur-Martineau 2019, RSGAN; the RpGAN of Huang et
    /// al. 2024, R3GAN): each fake scored against the real it is paired with.
    Relativistic,
}

impl GameName {
    /// Every game, in the order they are listed.
    pub const ALL: [GameName; 7] = [
        GameName::NonSaturating,
        GameName::Minimax,
        GameName::Wgan,
        GameName::WganGp,
        GameName::Lsgan,
        GameName::Hinge,
        GameName::Relativistic,
    ];

    /// The game's name (as `--game` takes it).
    pub const fn name(self) -> &'static str {
        match self {
            GameName::NonSaturating => "nonsaturating",
            GameName::Minimax => "minimax",
            GameName::Wgan => "wgan",
            GameName::WganGp => "wgan-gp",
            GameName::Lsgan => "lsgan",
            GameName::Hinge => "hinge",
            GameName::Relativistic => "relativistic",
        }
    }

    /// The options set away from their defaults that this game does not read, each as a
    /// warning naming the option and the games it applies to (a run warns rather than refuses,
    /// so that a preset's options, e.g. ProGAN's WGAN-GP drift, do not stop a run of another
    /// game).
    pub fn unused_options(self, options: &GameOptions) -> Vec<String> {
        use GameName::*;
        let default = GameOptions::default();
        let logistic: &[GameName] = &[NonSaturating, Minimax];
        let penalised: &[GameName] = &[NonSaturating, Minimax, Relativistic];
        let checks: [(&str, f64, f64, &[GameName]); 7] = [
            (
                "label_smoothing",
                options.label_smoothing,
                default.label_smoothing,
                logistic,
            ),
            ("r1_gamma", options.r1_gamma, default.r1_gamma, penalised),
            ("r2_gamma", options.r2_gamma, default.r2_gamma, penalised),
            (
                "r1_interval",
                options.r1_interval as f64,
                default.r1_interval as f64,
                penalised,
            ),
            ("wgan_clip", options.wgan_clip, default.wgan_clip, &[Wgan]),
            ("gp_lambda", options.gp_lambda, default.gp_lambda, &[WganGp]),
            ("gp_drift", options.gp_drift, default.gp_drift, &[WganGp]),
        ];
        checks
            .into_iter()
            .filter(|(_, value, default, games)| value != default && !games.contains(&self))
            .map(|(what, value, _, games)| {
                let names: Vec<&str> = games.iter().map(|g| g.name()).collect();
                format!(
                    "game_options.{what} = {value} has no effect in game `{}`: it applies to {}",
                    self.name(),
                    names.join(", ")
                )
            })
            .collect()
    }

    /// Builds the game with `options`.
    pub fn build(self, options: GameOptions) -> Result<Box<dyn Game>, Error> {
        options.validate()?;
        let r1 = R1Penalty {
            gamma: options.r1_gamma,
            interval: options.r1_interval,
        };
        let r2 = R1Penalty {
            gamma: options.r2_gamma,
            interval: options.r1_interval,
        };
        Ok(match self {
            GameName::NonSaturating => Box::new(NonSaturating { options, r1, r2 }),
            GameName::Minimax => Box::new(Minimax { options, r1, r2 }),
            GameName::Wgan => Box::new(Wgan { options }),
            GameName::WganGp => Box::new(WganGp { options }),
            GameName::Lsgan => Box::new(LeastSquares { options }),
            GameName::Hinge => Box::new(Hinge { options }),
            GameName::Relativistic => Box::new(Relativistic { options, r1, r2 }),
        })
    }
}

impl std::fmt::Display for GameName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for GameName {
    type Err = Error;

    /// A game's name, or the short forms `ns`, `mm` and `rpgan`.
    fn from_str(name: &str) -> Result<GameName, Error> {
        match name {
            "ns" => Ok(GameName::NonSaturating),
            "mm" => Ok(GameName::Minimax),
            "rpgan" => Ok(GameName::Relativistic),
            _ => GameName::ALL
                .into_iter()
                .find(|g| g.name() == name)
                .ok_or_else(|| Error::UnknownGame {
                    name: name.to_string(),
                }),
        }
    }
}

/// The names [`game_by_name`] accepts (besides the short forms `ns`, `mm` and `rpgan`).
pub const GAME_NAMES: &[&str] = &[
    GameName::NonSaturating.name(),
    GameName::Minimax.name(),
    GameName::Wgan.name(),
    GameName::WganGp.name(),
    GameName::Lsgan.name(),
    GameName::Hinge.name(),
    GameName::Relativistic.name(),
];

/// A game between generator and discriminator.
pub trait Game: Send {
    /// The game's name (as given to `--game`).
    fn name(&self) -> &'static str;
    /// What the loop must do around this game.
    fn plan(&self) -> LoopPlan;
    /// The discriminator's loss (with any penalty) on a real and a fake batch. `fake` must be
    /// detached from the generator's graph.
    fn d_loss(&self, d: &mut Critic, real: &Tensor, fake: &Tensor, ctx: StepContext) -> PlayerLoss;
    /// The generator's loss from D's logits on the fake batch. A relativistic game
    /// ([`Game::needs_real_logits`]) cannot score fakes alone and answers
    /// [`Error::NeedsRealLogits`]: call [`Game::generator_loss`] with the real logits.
    fn g_loss(&self, fake_logits: &Tensor) -> Result<PlayerLoss, Error>;
    /// The generator's loss in the generator update, which the loop calls: by default
    /// [`Game::g_loss`] of D's logits. A game with a generator regulariser overrides it and
    /// adds its term of `pass.fake` and `pass.z` (and its scalars, which reach `stats.jsonl`);
    /// a relativistic game reads `pass.real_logits`.
    fn generator_loss(&self, pass: &GeneratorPass) -> Result<PlayerLoss, Error> {
        self.g_loss(pass.fake_logits)
    }
    /// Whether the generator's loss compares the fakes with reals: the loop then runs D (frozen,
    /// without a gradient) on the step's real batch in the generator update and passes its
    /// logits as [`GeneratorPass::real_logits`]. Otherwise it does not, which saves that forward.
    fn needs_real_logits(&self) -> bool {
        false
    }
    /// Whether the generator update's latents need a gradient (a regulariser that
    /// differentiates G's output with respect to them, such as a path-length penalty). The loop
    /// then draws them with `requires_grad`; otherwise it does not, which saves that backward.
    fn latents_need_grad(&self) -> bool {
        false
    }
}

/// Stabilising options that apply to any game (and each game's own constants).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GameOptions {
    /// One-sided label smoothing (Salimans et al. 2016, §3.4): real target 1 − s. Logistic games only.
    pub label_smoothing: f64,
    /// Instance noise: N(0, σ²) added to D's inputs, σ falling linearly from this value to 0
    /// over `instance_noise_kimg` (Sønderby et al. 2017; Arjovsky & Bottou 2017).
    pub instance_noise: f64,
    pub instance_noise_kimg: f64,
    /// Critic steps per generator step; `None` keeps the game's own default.
    pub critic_steps: Option<usize>,
    /// R1 penalty weight γ (Mescheder et al. 2018), 0 = off. Logistic and relativistic games.
    pub r1_gamma: f64,
    /// Apply R1 (and R2) every this many critic steps, scaled up by the interval (lazy
    /// regularisation).
    pub r1_interval: usize,
    /// R2 penalty weight γ: R1's penalty at the fakes (Mescheder et al. 2018, §4.1; R3GAN
    /// applies R1 and R2 with the same γ, Huang et al. 2024, §3), 0 = off. Logistic and
    /// relativistic games.
    #[serde(skip_serializing_if = "is_zero")]
    pub r2_gamma: f64,
    /// WGAN clip constant c (Arjovsky et al. 2017, Algorithm 1: 0.01).
    pub wgan_clip: f64,
    /// WGAN-GP penalty weight λ (Gulrajani et al. 2017, Algorithm 1: 10).
    pub gp_lambda: f64,
    /// WGAN-GP drift term ε_drift·E[D(x)²] (Karras et al. 2018, §A.1: 0.001); 0 = off.
    pub gp_drift: f64,
}

impl Default for GameOptions {
    fn default() -> Self {
        GameOptions {
            label_smoothing: 0.0,
            instance_noise: 0.0,
            instance_noise_kimg: 0.0,
            critic_steps: None,
            r1_gamma: 0.0,
            r1_interval: 1,
            r2_gamma: 0.0,
            wgan_clip: 0.01,
            gp_lambda: 10.0,
            gp_drift: 0.0,
        }
    }
}

impl GameOptions {
    /// Checks every option's range; the error names the option.
    pub fn validate(&self) -> Result<(), Error> {
        let check = |ok: bool, what, expected, got| {
            if ok {
                Ok(())
            } else {
                Err(Error::InvalidOption {
                    what,
                    expected,
                    got,
                })
            }
        };
        check(
            (0.0..0.5).contains(&self.label_smoothing),
            "label_smoothing",
            "0 <= s < 0.5",
            self.label_smoothing,
        )?;
        check(
            self.instance_noise >= 0.0,
            "instance_noise",
            "sigma >= 0",
            self.instance_noise,
        )?;
        check(
            self.instance_noise_kimg >= 0.0,
            "instance_noise_kimg",
            ">= 0",
            self.instance_noise_kimg,
        )?;
        check(self.critic_steps != Some(0), "critic_steps", ">= 1", 0.0)?;
        check(
            self.r1_gamma >= 0.0,
            "r1_gamma",
            "gamma >= 0",
            self.r1_gamma,
        )?;
        check(
            self.r2_gamma >= 0.0,
            "r2_gamma",
            "gamma >= 0",
            self.r2_gamma,
        )?;
        check(
            self.r1_interval >= 1,
            "r1_interval",
            ">= 1",
            self.r1_interval as f64,
        )?;
        check(self.wgan_clip > 0.0, "wgan_clip", "c > 0", self.wgan_clip)?;
        check(
            self.gp_lambda >= 0.0,
            "gp_lambda",
            "lambda >= 0",
            self.gp_lambda,
        )?;
        check(
            self.gp_drift >= 0.0,
            "gp_drift",
            "drift >= 0",
            self.gp_drift,
        )
    }

    /// Instance noise σ at `kimg`.
    pub fn noise_sigma(&self, kimg: f64) -> f64 {
        if self.instance_noise == 0.0 {
            return 0.0;
        }
        if self.instance_noise_kimg <= 0.0 {
            return self.instance_noise;
        }
        self.instance_noise * (1.0 - kimg / self.instance_noise_kimg).max(0.0)
    }

    fn add_noise(&self, xs: &Tensor, ctx: StepContext) -> Tensor {
        let sigma = self.noise_sigma(ctx.kimg);
        if sigma == 0.0 {
            xs.shallow_clone()
        } else {
            xs + ctx.shard.randn_like(xs) * sigma
        }
    }
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// Builds a game from its name and options.
pub fn game_by_name(name: &str, options: GameOptions) -> Result<Box<dyn Game>, Error> {
    name.parse::<GameName>()?.build(options)
}

/// Clips every parameter to [−c, c] in place (WGAN, Arjovsky et al. 2017, Algorithm 1, line 7).
/// The loop calls this after each critic step when the game's plan asks for it.
pub fn clip_parameters<'a>(params: impl IntoIterator<Item = &'a Tensor>, c: f64) {
    tch::no_grad(|| {
        for p in params {
            let _ = p.shallow_clone().clamp_(-c, c);
        }
    });
}

fn scalar(t: &Tensor) -> Tensor {
    t.detach().to_kind(Kind::Float)
}

/// G's loss, logged as `loss_g`.
fn g_player_loss(loss: Tensor) -> PlayerLoss {
    PlayerLoss {
        scalars: vec![("loss_g", scalar(&loss))],
        loss,
    }
}

/// [`g_player_loss`] as a game's `g_loss` answers it.
fn generator_loss(loss: Tensor) -> Result<PlayerLoss, Error> {
    Ok(g_player_loss(loss))
}

/// A D loss made of a term on the reals and one on the fakes, logged with D's mean outputs.
fn two_sided_d_loss(
    loss_real: Tensor,
    loss_fake: Tensor,
    real_out: &Tensor,
    fake_out: &Tensor,
) -> PlayerLoss {
    let loss = &loss_real + &loss_fake;
    let scalars = vec![
        ("loss_d_real", scalar(&loss_real)),
        ("loss_d_fake", scalar(&loss_fake)),
        ("d_real", scalar(&real_out.mean(None::<Kind>))),
        ("d_fake", scalar(&fake_out.mean(None::<Kind>))),
        ("loss_d", scalar(&loss)),
    ];
    PlayerLoss { loss, scalars }
}

/// Binary cross-entropy with logits against a constant target t:
/// t·softplus(−l) + (1 − t)·softplus(l), the stable form of −t log σ(l) − (1 − t) log(1 − σ(l)).
fn bce_with_logits(logits: &Tensor, target: f64) -> Tensor {
    let pos = (-logits).softplus();
    if target == 1.0 {
        return pos.mean(None::<Kind>);
    }
    let neg = logits.softplus();
    if target == 0.0 {
        return neg.mean(None::<Kind>);
    }
    (pos * target + neg * (1.0 - target)).mean(None::<Kind>)
}

/// R1 gradient penalty on real data (Mescheder et al. 2018, Eq. 9): γ/2 · E‖∇ₓD(x)‖². The
/// same penalty at the fakes is R2 (ibid., §4.1; [`R1Penalty::penalty_at`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct R1Penalty {
    pub gamma: f64,
    /// Lazy regularisation: applied every `interval` steps, multiplied by `interval`
    /// (Karras et al. 2020, §3.1).
    pub interval: usize,
}

impl R1Penalty {
    /// The penalty and ‖∇ₓD(x)‖ (mean over the batch), or `None` on a step where it is skipped.
    pub fn penalty(
        &self,
        d: &mut Critic,
        real: &Tensor,
        ctx: StepContext,
    ) -> Option<(Tensor, Tensor)> {
        self.penalty_at(d, real, ctx)
    }

    /// The penalty at the samples `x` (the reals for R1, the detached fakes for R2), or `None`
    /// on a step where it is skipped.
    pub fn penalty_at(
        &self,
        d: &mut Critic,
        x: &Tensor,
        ctx: StepContext,
    ) -> Option<(Tensor, Tensor)> {
        if self.gamma == 0.0 || !ctx.critic_step.is_multiple_of(self.interval as u64) {
            return None;
        }
        let x = x.detach().set_requires_grad(true);
        let logits = d(&x);
        let grads = Tensor::run_backward(&[logits.sum(None::<Kind>)], &[&x], true, true);
        let sq_norm = grads[0]
            .square()
            .flatten(1, -1)
            .sum_dim_intlist(1, false, None::<Kind>);
        let penalty = sq_norm.mean(None::<Kind>) * (self.gamma / 2.0 * self.interval as f64);
        Some((penalty, sq_norm.sqrt().mean(None::<Kind>)))
    }
}

/// Adds R1's penalty at the reals and R2's at the fakes (where their γ is not 0 and the step is
/// not skipped by the lazy interval) to `loss`, with their scalars.
fn add_penalties(
    penalties: [(&R1Penalty, &Tensor, [&'static str; 2]); 2],
    d: &mut Critic,
    ctx: StepContext,
    loss: Tensor,
    scalars: &mut Vec<(&'static str, Tensor)>,
) -> Tensor {
    let mut loss = loss;
    for (penalty, at, [name, norm_name]) in penalties {
        if let Some((penalty, grad_norm)) = penalty.penalty_at(d, at, ctx) {
            // Not `+=`: on tch tensors that is the in-place `add_`, and `loss` is in the graph.
            #[allow(clippy::assign_op_pattern)]
            {
                loss = loss + &penalty;
            }
            scalars.push((name, scalar(&penalty)));
            scalars.push((norm_name, scalar(&grad_norm)));
        }
    }
    loss
}

/// The penalties of the logistic and relativistic games: R1 at the reals, R2 at the fakes.
fn r1_r2<'a>(
    r1: &'a R1Penalty,
    r2: &'a R1Penalty,
    real: &'a Tensor,
    fake: &'a Tensor,
) -> [(&'a R1Penalty, &'a Tensor, [&'static str; 2]); 2] {
    [
        (r1, real, ["r1_penalty", "r1_grad_norm"]),
        (r2, fake, ["r2_penalty", "r2_grad_norm"]),
    ]
}

fn logistic_d_loss(
    options: &GameOptions,
    (r1, r2): (&R1Penalty, &R1Penalty),
    d: &mut Critic,
    real: &Tensor,
    fake: &Tensor,
    ctx: StepContext,
) -> PlayerLoss {
    let real_logits = d(&options.add_noise(real, ctx));
    let fake_logits = d(&options.add_noise(fake, ctx));
    let loss_real = bce_with_logits(&real_logits, 1.0 - options.label_smoothing);
    let loss_fake = bce_with_logits(&fake_logits, 0.0);
    let mut scalars = vec![
        ("loss_d_real", scalar(&loss_real)),
        ("loss_d_fake", scalar(&loss_fake)),
        ("d_real", scalar(&real_logits.sigmoid().mean(None::<Kind>))),
        ("d_fake", scalar(&fake_logits.sigmoid().mean(None::<Kind>))),
    ];
    let loss = add_penalties(
        r1_r2(r1, r2, real, fake),
        d,
        ctx,
        &loss_real + &loss_fake,
        &mut scalars,
    );
    scalars.push(("loss_d", scalar(&loss)));
    PlayerLoss { loss, scalars }
}

/// One D step per G step (unless `critic_steps` says otherwise) with DCGAN's Adam (Radford et
/// al. 2016, §4: lr 0.0002, β1 = 0.5), a regulariser every `regularization_interval` D steps.
fn dcgan_plan(options: &GameOptions, regularization_interval: usize) -> LoopPlan {
    LoopPlan {
        critic_steps: options.critic_steps.unwrap_or(1),
        clip_weights: None,
        regularization_interval,
        optimizer: OptimizerChoice::Adam {
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
        },
    }
}

/// The non-saturating game (Goodfellow et al. 2014, §3): D as in minimax, G maximises log D(G(z)),
/// i.e. minimises softplus(−l) on fake logits.
#[derive(Debug, Clone, Copy)]
pub struct NonSaturating {
    pub options: GameOptions,
    pub r1: R1Penalty,
    pub r2: R1Penalty,
}

impl Game for NonSaturating {
    fn name(&self) -> &'static str {
        "nonsaturating"
    }
    fn plan(&self) -> LoopPlan {
        dcgan_plan(&self.options, self.r1.interval)
    }
    fn d_loss(&self, d: &mut Critic, real: &Tensor, fake: &Tensor, ctx: StepContext) -> PlayerLoss {
        logistic_d_loss(&self.options, (&self.r1, &self.r2), d, real, fake, ctx)
    }
    fn g_loss(&self, fake_logits: &Tensor) -> Result<PlayerLoss, Error> {
        let loss = bce_with_logits(fake_logits, 1.0);
        generator_loss(loss)
    }
}

/// The original minimax game (Goodfellow et al. 2014, Eq. 1): G minimises log(1 − D(G(z))) =
/// −softplus(l), which saturates (vanishing gradient) when D rejects the fakes confidently.
#[derive(Debug, Clone, Copy)]
pub struct Minimax {
    pub options: GameOptions,
    pub r1: R1Penalty,
    pub r2: R1Penalty,
}

impl Game for Minimax {
    fn name(&self) -> &'static str {
        "minimax"
    }
    fn plan(&self) -> LoopPlan {
        dcgan_plan(&self.options, self.r1.interval)
    }
    fn d_loss(&self, d: &mut Critic, real: &Tensor, fake: &Tensor, ctx: StepContext) -> PlayerLoss {
        logistic_d_loss(&self.options, (&self.r1, &self.r2), d, real, fake, ctx)
    }
    fn g_loss(&self, fake_logits: &Tensor) -> Result<PlayerLoss, Error> {
        let loss = -fake_logits.softplus().mean(None::<Kind>);
        generator_loss(loss)
    }
}

fn wasserstein_terms(
    options: &GameOptions,
    d: &mut Critic,
    real: &Tensor,
    fake: &Tensor,
    ctx: StepContext,
) -> (Tensor, Tensor, Tensor) {
    let real_out = d(&options.add_noise(real, ctx));
    let fake_out = d(&options.add_noise(fake, ctx));
    let loss = fake_out.mean(None::<Kind>) - real_out.mean(None::<Kind>);
    (loss, real_out, fake_out)
}

/// WGAN with weight clipping (Arjovsky et al. 2017, Algorithm 1): critic loss
/// E[D(fake)] − E[D(real)], every critic parameter clipped to [−c, c] after each critic step,
/// n_critic = 5, RMSProp with lr 5e-5.
#[derive(Debug, Clone, Copy)]
pub struct Wgan {
    pub options: GameOptions,
}

impl Game for Wgan {
    fn name(&self) -> &'static str {
        "wgan"
    }
    fn plan(&self) -> LoopPlan {
        LoopPlan {
            critic_steps: self.options.critic_steps.unwrap_or(5),
            clip_weights: Some(self.options.wgan_clip),
            regularization_interval: 1,
            optimizer: OptimizerChoice::RmsProp { lr: 5e-5 },
        }
    }
    fn d_loss(&self, d: &mut Critic, real: &Tensor, fake: &Tensor, ctx: StepContext) -> PlayerLoss {
        let (loss, real_out, fake_out) = wasserstein_terms(&self.options, d, real, fake, ctx);
        let scalars = vec![
            ("d_real", scalar(&real_out.mean(None::<Kind>))),
            ("d_fake", scalar(&fake_out.mean(None::<Kind>))),
            ("wasserstein_estimate", scalar(&-&loss)),
            ("loss_d", scalar(&loss)),
        ];
        PlayerLoss { loss, scalars }
    }
    fn g_loss(&self, fake_logits: &Tensor) -> Result<PlayerLoss, Error> {
        let loss = -fake_logits.mean(None::<Kind>);
        generator_loss(loss)
    }
}

/// WGAN-GP (Gulrajani et al. 2017, Algorithm 1): the WGAN critic loss plus
/// λ·E[(‖∇D(x̂)‖₂ − 1)²] at x̂ = εx + (1 − ε)x̃ with ε ~ U[0, 1] drawn per sample, λ = 10,
/// n_critic = 5, Adam (lr 1e-4, β = (0, 0.9)); optional drift ε_drift·E[D(x)²] (ProGAN).
#[derive(Debug, Clone, Copy)]
pub struct WganGp {
    pub options: GameOptions,
}

impl WganGp {
    /// The gradient penalty λ·E[(‖∇D(x̂)‖₂ − 1)²] and the mean gradient norm, built with
    /// `create_graph` so that the penalty itself can be differentiated (double backward).
    pub fn gradient_penalty(
        &self,
        d: &mut Critic,
        real: &Tensor,
        fake: &Tensor,
    ) -> (Tensor, Tensor) {
        self.gradient_penalty_for(d, real, fake, Shard::default())
    }

    /// [`WganGp::gradient_penalty`] on one rank's `shard` of a global batch: ε is drawn for the
    /// global batch and sliced, so the ranks together use the ε one process would.
    pub fn gradient_penalty_for(
        &self,
        d: &mut Critic,
        real: &Tensor,
        fake: &Tensor,
        shard: Shard,
    ) -> (Tensor, Tensor) {
        let n = real.size()[0];
        let mut eps_shape = vec![n];
        eps_shape.extend(std::iter::repeat_n(1, real.dim() - 1));
        let eps = shard.draw(&eps_shape, |s| {
            Tensor::rand(s, (real.kind(), real.device()))
        });
        self.gradient_penalty_at(d, real, fake, &eps)
    }

    /// The gradient penalty with given interpolation weights `eps` [N, 1, ...] (one per sample).
    pub fn gradient_penalty_at(
        &self,
        d: &mut Critic,
        real: &Tensor,
        fake: &Tensor,
        eps: &Tensor,
    ) -> (Tensor, Tensor) {
        let one_minus_eps: Tensor = 1.0 - eps;
        let mixed: Tensor = real.detach() * eps + fake.detach() * one_minus_eps;
        let mixed = mixed.set_requires_grad(true);
        let out = d(&mixed);
        let grads = Tensor::run_backward(&[out.sum(None::<Kind>)], &[&mixed], true, true);
        let norms = grads[0]
            .flatten(1, -1)
            .square()
            .sum_dim_intlist(1, false, None::<Kind>)
            .sqrt();
        let penalty = (&norms - 1.0).square().mean(None::<Kind>) * self.options.gp_lambda;
        (penalty, norms.mean(None::<Kind>))
    }
}

impl Game for WganGp {
    fn name(&self) -> &'static str {
        "wgan-gp"
    }
    fn plan(&self) -> LoopPlan {
        LoopPlan {
            critic_steps: self.options.critic_steps.unwrap_or(5),
            clip_weights: None,
            regularization_interval: 1,
            optimizer: OptimizerChoice::Adam {
                lr: 1e-4,
                beta1: 0.0,
                beta2: 0.9,
            },
        }
    }
    fn d_loss(&self, d: &mut Critic, real: &Tensor, fake: &Tensor, ctx: StepContext) -> PlayerLoss {
        let (wloss, real_out, fake_out) = wasserstein_terms(&self.options, d, real, fake, ctx);
        let (penalty, grad_norm) = self.gradient_penalty_for(d, real, fake, ctx.shard);
        let mut loss = &wloss + &penalty;
        let mut scalars = vec![
            ("d_real", scalar(&real_out.mean(None::<Kind>))),
            ("d_fake", scalar(&fake_out.mean(None::<Kind>))),
            ("wasserstein_estimate", scalar(&-&wloss)),
            ("gp_penalty", scalar(&penalty)),
            ("gp_grad_norm", scalar(&grad_norm)),
        ];
        if self.options.gp_drift > 0.0 {
            let drift = real_out.square().mean(None::<Kind>) * self.options.gp_drift;
            scalars.push(("drift", scalar(&drift)));
            // Not `+=`: on tch tensors that is the in-place `add_`, and `loss` is in the graph.
            #[allow(clippy::assign_op_pattern)]
            {
                loss = loss + drift;
            }
        }
        scalars.push(("loss_d", scalar(&loss)));
        PlayerLoss { loss, scalars }
    }
    fn g_loss(&self, fake_logits: &Tensor) -> Result<PlayerLoss, Error> {
        let loss = -fake_logits.mean(None::<Kind>);
        generator_loss(loss)
    }
}

/// Least-squares GAN (Mao et al. 2017, Eq. 2 with a = 0, b = c = 1):
/// D: ½E[(D(x) − 1)²] + ½E[D(G(z))²], G: ½E[(D(G(z)) − 1)²].
#[derive(Debug, Clone, Copy)]
pub struct LeastSquares {
    pub options: GameOptions,
}

impl Game for LeastSquares {
    fn name(&self) -> &'static str {
        "lsgan"
    }
    fn plan(&self) -> LoopPlan {
        dcgan_plan(&self.options, 1)
    }
    fn d_loss(&self, d: &mut Critic, real: &Tensor, fake: &Tensor, ctx: StepContext) -> PlayerLoss {
        let real_out = d(&self.options.add_noise(real, ctx));
        let fake_out = d(&self.options.add_noise(fake, ctx));
        let loss_real = (&real_out - 1.0).square().mean(None::<Kind>) * 0.5;
        let loss_fake = fake_out.square().mean(None::<Kind>) * 0.5;
        two_sided_d_loss(loss_real, loss_fake, &real_out, &fake_out)
    }
    fn g_loss(&self, fake_logits: &Tensor) -> Result<PlayerLoss, Error> {
        let loss = (fake_logits - 1.0).square().mean(None::<Kind>) * 0.5;
        generator_loss(loss)
    }
}

/// Hinge game (Lim & Ye 2017; Miyato et al. 2018, Eq. 16–17):
/// D: E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))], G: −E[D(G(z))].
#[derive(Debug, Clone, Copy)]
pub struct Hinge {
    pub options: GameOptions,
}

impl Game for Hinge {
    fn name(&self) -> &'static str {
        "hinge"
    }
    fn plan(&self) -> LoopPlan {
        dcgan_plan(&self.options, 1)
    }
    fn d_loss(&self, d: &mut Critic, real: &Tensor, fake: &Tensor, ctx: StepContext) -> PlayerLoss {
        let real_out = d(&self.options.add_noise(real, ctx));
        let fake_out = d(&self.options.add_noise(fake, ctx));
        let margin_real: Tensor = 1.0 - &real_out;
        let loss_real = margin_real.relu().mean(None::<Kind>);
        let margin_fake: Tensor = 1.0 + &fake_out;
        let loss_fake = margin_fake.relu().mean(None::<Kind>);
        two_sided_d_loss(loss_real, loss_fake, &real_out, &fake_out)
    }
    fn g_loss(&self, fake_logits: &Tensor) -> Result<PlayerLoss, Error> {
        let loss = -fake_logits.mean(None::<Kind>);
        generator_loss(loss)
    }
}

/// The relativistic pairing game (Jolicoeur-Martineau 2019, "The relativistic discriminator",
/// Eq. 5–6, RSGAN; the RpGAN of Huang et al. 2024, "The GAN is dead; long live the GAN!",
/// Eq. 2): each fake is scored against the real it is paired with (sample i of the batch
/// against sample i), f = softplus:
/// D: E[softplus(D(x̃ᵢ) − D(xᵢ))], G: E[softplus(D(xᵢ) − D(x̃ᵢ))].
/// G's loss needs D's logits on the reals ([`Game::needs_real_logits`]). With R1 and R2 at the
/// same γ (`r1_gamma`, `r2_gamma`) it is R3GAN's loss. Adam as RSGAN's experiments
/// (Jolicoeur-Martineau 2019, §4.1: lr 2e-4, β = (0.5, 0.999), one D step).
#[derive(Debug, Clone, Copy)]
pub struct Relativistic {
    pub options: GameOptions,
    pub r1: R1Penalty,
    pub r2: R1Penalty,
}

impl Relativistic {
    /// G's loss E[softplus(D(xᵢ) − D(x̃ᵢ))] on paired logits.
    pub fn g_loss_paired(&self, fake_logits: &Tensor, real_logits: &Tensor) -> PlayerLoss {
        g_player_loss((real_logits - fake_logits).softplus().mean(None::<Kind>))
    }
}

impl Game for Relativistic {
    fn name(&self) -> &'static str {
        "relativistic"
    }
    fn plan(&self) -> LoopPlan {
        dcgan_plan(&self.options, self.r1.interval)
    }
    fn d_loss(&self, d: &mut Critic, real: &Tensor, fake: &Tensor, ctx: StepContext) -> PlayerLoss {
        let real_out = d(&self.options.add_noise(real, ctx));
        let fake_out = d(&self.options.add_noise(fake, ctx));
        let gap = &real_out - &fake_out;
        let mut scalars = vec![
            ("d_real", scalar(&real_out.mean(None::<Kind>))),
            ("d_fake", scalar(&fake_out.mean(None::<Kind>))),
            // P(the real of a pair is the real one), as D sees it: σ(D(x) − D(x̃)).
            ("d_pair_real", scalar(&gap.sigmoid().mean(None::<Kind>))),
        ];
        let loss = (-gap).softplus().mean(None::<Kind>);
        let loss = add_penalties(
            r1_r2(&self.r1, &self.r2, real, fake),
            d,
            ctx,
            loss,
            &mut scalars,
        );
        scalars.push(("loss_d", scalar(&loss)));
        PlayerLoss { loss, scalars }
    }
    fn g_loss(&self, _fake_logits: &Tensor) -> Result<PlayerLoss, Error> {
        Err(Error::NeedsRealLogits { game: self.name() })
    }
    fn generator_loss(&self, pass: &GeneratorPass) -> Result<PlayerLoss, Error> {
        match pass.real_logits {
            Some(real_logits) => Ok(self.g_loss_paired(pass.fake_logits, real_logits)),
            None => Err(Error::NeedsRealLogits { game: self.name() }),
        }
    }
    fn needs_real_logits(&self) -> bool {
        true
    }
}
