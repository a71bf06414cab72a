//! Optimisers written on tensors, so that their whole state (moments and step counts) can be
//! saved in a snapshot and restored exactly — tch's own optimisers wrap C++ objects whose state
//! cannot be read back.
//!
//! ```
//! use ganlab_optim::{Adam, AdamConfig, Optimizer};
//! use tch::nn::{Init, VarStore};
//! use tch::{Device, Kind};
//! let vs = VarStore::new(Device::Cpu);
//! let w = vs.root().var("w", &[1], Init::Const(1.0));
//! let mut adam = Adam::new(&vs, AdamConfig { lr: 0.1, ..Default::default() })?;
//! adam.zero_grad();
//! (&w * &w).sum(Kind::Float).backward();
//! adam.step();
//! // Adam's first step moves each weight by lr against its gradient's sign (m̂ / √v̂ = ±1).
//! assert!((w.double_value(&[0]) - 0.9).abs() < 1e-6);
//! assert_eq!(adam.steps_taken(), 1);
//! let saved = adam.state(); // moments and step count, what a snapshot holds
//! assert!(!saved.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The update rules are PyTorch's single-tensor implementations (`torch/optim/adam.py`,
//! `torch/optim/rmsprop.py`, torch 2.11), operation for operation, so that a step here and a step
//! there agree to float rounding.

use std::collections::BTreeMap;
use tch::{nn::VarStore, Tensor};

/// Errors when restoring an optimiser's state.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("optimiser state: missing tensor `{0}`")]
    MissingState(String),
    #[error("optimiser state: `{name}` has shape {found:?}, the parameter has {expected:?}")]
    ShapeMismatch {
        name: String,
        expected: Vec<i64>,
        found: Vec<i64>,
    },
    #[error("invalid optimiser setting {what}: expected {expected}, got {got}")]
    InvalidConfig {
        what: &'static str,
        expected: &'static str,
        got: f64,
    },
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

/// The trainable parameters of a var store, sorted by name (a stable order for every run).
pub fn trainable_parameters(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

/// What the training loop needs from an optimiser.
pub trait Optimizer {
    /// Clears every parameter's gradient.
    fn zero_grad(&mut self);
    /// Applies one update from the current gradients.
    fn step(&mut self);
    /// Current learning rate.
    fn lr(&self) -> f64;
    /// Sets the learning rate (schedules change it between steps).
    fn set_lr(&mut self, lr: f64);
    /// Number of steps taken.
    fn steps_taken(&self) -> i64;
    /// The full state as named tensors (`<slot>.<parameter>` plus `step`), for snapshots.
    fn state(&self) -> Vec<(String, Tensor)>;
    /// Restores a state produced by [`Optimizer::state`] of an optimiser over the same parameters.
    fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<(), Error>;
    /// Forgets the moments and the step count (ProGAN resets Adam when the resolution changes).
    fn reset(&mut self);
    /// The parameters this optimiser updates.
    fn parameters(&self) -> &[(String, Tensor)];
}

fn zeros_like_all(params: &[(String, Tensor)]) -> Vec<Tensor> {
    params
        .iter()
        .map(|(_, p)| p.zeros_like().detach())
        .collect()
}

fn load_slot(
    state: &BTreeMap<String, Tensor>,
    slot: &str,
    params: &[(String, Tensor)],
    dest: &mut [Tensor],
) -> Result<(), Error> {
    for ((name, param), buf) in params.iter().zip(dest.iter_mut()) {
        let key = format!("{slot}.{name}");
        let saved = state
            .get(&key)
            .ok_or_else(|| Error::MissingState(key.clone()))?;
        if saved.size() != param.size() {
            return Err(Error::ShapeMismatch {
                name: key,
                expected: param.size(),
                found: saved.size(),
            });
        }
        tch::no_grad(|| buf.copy_(saved));
    }
    Ok(())
}

fn load_step(state: &BTreeMap<String, Tensor>) -> Result<i64, Error> {
    let t = state
        .get("step")
        .ok_or_else(|| Error::MissingState("step".into()))?;
    Ok(t.int64_value(&[]))
}

/// Adam's settings (Kingma & Ba 2015, Algorithm 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    /// PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8.
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl AdamConfig {
    fn validate(&self) -> Result<(), Error> {
        let check = |ok: bool, what, expected, got| {
            if ok {
                Ok(())
            } else {
                Err(Error::InvalidConfig {
                    what,
                    expected,
                    got,
                })
            }
        };
        check(
            self.lr.is_finite() && self.lr >= 0.0,
            "lr",
            "a finite value >= 0",
            self.lr,
        )?;
        check(
            (0.0..1.0).contains(&self.beta1),
            "beta1",
            "0 <= beta1 < 1",
            self.beta1,
        )?;
        check(
            (0.0..1.0).contains(&self.beta2),
            "beta2",
            "0 <= beta2 < 1",
            self.beta2,
        )?;
        check(self.eps > 0.0, "eps", "eps > 0", self.eps)?;
        check(
            self.weight_decay >= 0.0,
            "weight_decay",
            "weight_decay >= 0",
            self.weight_decay,
        )
    }
}

/// Adam over a fixed list of parameters.
#[derive(Debug)]
pub struct Adam {
    params: Vec<(String, Tensor)>,
    exp_avg: Vec<Tensor>,
    exp_avg_sq: Vec<Tensor>,
    step: i64,
    pub config: AdamConfig,
}

impl Adam {
    /// Adam over every trainable variable of `vs`.
    pub fn new(vs: &VarStore, config: AdamConfig) -> Result<Adam, Error> {
        Adam::from_parameters(trainable_parameters(vs), config)
    }

    /// Adam over named parameters (the names key the saved state).
    pub fn from_parameters(
        params: Vec<(String, Tensor)>,
        config: AdamConfig,
    ) -> Result<Adam, Error> {
        config.validate()?;
        Ok(Adam {
            exp_avg: zeros_like_all(&params),
            exp_avg_sq: zeros_like_all(&params),
            params,
            step: 0,
            config,
        })
    }
}

impl Optimizer for Adam {
    fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    fn step(&mut self) {
        self.step += 1;
        let AdamConfig {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } = self.config;
        let step = self.step as f64;
        let bias_correction1 = 1.0 - beta1.powf(step);
        let bias_correction2 = 1.0 - beta2.powf(step);
        let step_size = lr / bias_correction1;
        let bias_correction2_sqrt = bias_correction2.sqrt();
        tch::no_grad(|| {
            for (((_, param), exp_avg), exp_avg_sq) in self
                .params
                .iter_mut()
                .zip(&mut self.exp_avg)
                .zip(&mut self.exp_avg_sq)
            {
                let grad = param.grad();
                if !grad.defined() {
                    continue;
                }
                let grad = if weight_decay != 0.0 {
                    &grad + &*param * weight_decay
                } else {
                    grad
                };
                // exp_avg.lerp_(grad, 1 - beta1)
                let _ = exp_avg.lerp_(&grad, 1.0 - beta1);
                // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                let _ = exp_avg_sq.g_mul_scalar_(beta2);
                let _ = exp_avg_sq.addcmul_(&(&grad * (1.0 - beta2)), &grad);
                // denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
                let mut denom = exp_avg_sq.sqrt() / bias_correction2_sqrt;
                let _ = denom.g_add_scalar_(eps);
                // param.addcdiv_(exp_avg, denom, value=-step_size)
                let _ = param.addcdiv_(&(&*exp_avg * -step_size), &denom);
            }
        });
    }

    fn lr(&self) -> f64 {
        self.config.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    fn steps_taken(&self) -> i64 {
        self.step
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("step".to_string(), Tensor::from(self.step))];
        for ((name, _), (m, v)) in self
            .params
            .iter()
            .zip(self.exp_avg.iter().zip(&self.exp_avg_sq))
        {
            out.push((format!("exp_avg.{name}"), m.shallow_clone()));
            out.push((format!("exp_avg_sq.{name}"), v.shallow_clone()));
        }
        out
    }

    fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<(), Error> {
        let step = load_step(state)?;
        load_slot(state, "exp_avg", &self.params, &mut self.exp_avg)?;
        load_slot(state, "exp_avg_sq", &self.params, &mut self.exp_avg_sq)?;
        self.step = step;
        Ok(())
    }

    fn reset(&mut self) {
        self.exp_avg = zeros_like_all(&self.params);
        self.exp_avg_sq = zeros_like_all(&self.params);
        self.step = 0;
    }

    fn parameters(&self) -> &[(String, Tensor)] {
        &self.params
    }
}

/// RMSProp's settings (Hinton's lecture 6e; PyTorch's non-centred form).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmsPropConfig {
    pub lr: f64,
    /// Smoothing constant of the squared-gradient average.
    pub alpha: f64,
    pub eps: f64,
}

impl Default for RmsPropConfig {
    /// WGAN's setting (Arjovsky et al. 2017, Algorithm 1: α = 5e-5) with PyTorch's alpha and eps.
    fn default() -> Self {
        RmsPropConfig {
            lr: 5e-5,
            alpha: 0.99,
            eps: 1e-8,
        }
    }
}

/// RMSProp over a fixed list of parameters.
#[derive(Debug)]
pub struct RmsProp {
    params: Vec<(String, Tensor)>,
    square_avg: Vec<Tensor>,
    step: i64,
    pub config: RmsPropConfig,
}

impl RmsProp {
    /// RMSProp over every trainable variable of `vs`.
    pub fn new(vs: &VarStore, config: RmsPropConfig) -> Result<RmsProp, Error> {
        RmsProp::from_parameters(trainable_parameters(vs), config)
    }

    /// RMSProp over named parameters.
    pub fn from_parameters(
        params: Vec<(String, Tensor)>,
        config: RmsPropConfig,
    ) -> Result<RmsProp, Error> {
        if !(config.lr.is_finite() && config.lr >= 0.0) {
            return Err(Error::InvalidConfig {
                what: "lr",
                expected: "a finite value >= 0",
                got: config.lr,
            });
        }
        if !(0.0..1.0).contains(&config.alpha) {
            return Err(Error::InvalidConfig {
                what: "alpha",
                expected: "0 <= alpha < 1",
                got: config.alpha,
            });
        }
        if config.eps <= 0.0 {
            return Err(Error::InvalidConfig {
                what: "eps",
                expected: "eps > 0",
                got: config.eps,
            });
        }
        Ok(RmsProp {
            square_avg: zeros_like_all(&params),
            params,
            step: 0,
            config,
        })
    }
}

impl Optimizer for RmsProp {
    fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    fn step(&mut self) {
        self.step += 1;
        let RmsPropConfig { lr, alpha, eps } = self.config;
        tch::no_grad(|| {
            for ((_, param), square_avg) in self.params.iter_mut().zip(&mut self.square_avg) {
                let grad = param.grad();
                if !grad.defined() {
                    continue;
                }
                // square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
                let _ = square_avg.g_mul_scalar_(alpha);
                let _ = square_avg.addcmul_(&(&grad * (1.0 - alpha)), &grad);
                // avg = square_avg.sqrt().add_(eps); param.addcdiv_(grad, avg, value=-lr)
                let mut avg = square_avg.sqrt();
                let _ = avg.g_add_scalar_(eps);
                let _ = param.addcdiv_(&(&grad * -lr), &avg);
            }
        });
    }

    fn lr(&self) -> f64 {
        self.config.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    fn steps_taken(&self) -> i64 {
        self.step
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("step".to_string(), Tensor::from(self.step))];
        for ((name, _), s) in self.params.iter().zip(&self.square_avg) {
            out.push((format!("square_avg.{name}"), s.shallow_clone()));
        }
        out
    }

    fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<(), Error> {
        let step = load_step(state)?;
        load_slot(state, "square_avg", &self.params, &mut self.square_avg)?;
        self.step = step;
        Ok(())
    }

    fn reset(&mut self) {
        self.square_avg = zeros_like_all(&self.params);
        self.step = 0;
    }

    fn parameters(&self) -> &[(String, Tensor)] {
        &self.params
    }
}
