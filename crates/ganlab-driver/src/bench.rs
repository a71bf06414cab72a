//! `gan bench train-step`: the toolkit's side of the training-step benchmarks (the PyTorch side is
//! `bench/*.py`). It runs the same step as the training loop on random real batches and prints one
//! line `steps_per_s <value>`.

use anyhow::{bail, Result};
use ganlab_games::{game_by_name, GameOptions, StepContext};
use ganlab_layers::{dcgan32_discriminator, dcgan32_generator, Dcgan32Config};
use ganlab_optim::{Adam, AdamConfig, Optimizer};
use std::time::Instant;
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

/// Steps per second of the DCGAN-32 non-saturating training step (batch 64, Adam 2e-4
/// (0.5, 0.999), one D update then one G update with D frozen), after `warmup` steps.
pub fn dcgan32_steps_per_s(channels: i64, steps: usize, warmup: usize, device: Device) -> Result<f64> {
    if !(channels == 1 || channels == 3) || steps == 0 {
        bail!("bench: channels must be 1 or 3 and steps > 0 (got {channels}, {steps})");
    }
    tch::manual_seed(0);
    let cfg = Dcgan32Config { channels, ..Default::default() };
    let (g_vs, d_vs) = (VarStore::new(device), VarStore::new(device));
    let g = dcgan32_generator(&g_vs.root(), cfg);
    let d = dcgan32_discriminator(&d_vs.root(), cfg);
    let adam = AdamConfig { lr: 2e-4, beta1: 0.5, beta2: 0.999, ..Default::default() };
    let (mut opt_g, mut opt_d) = (Adam::new(&g_vs, adam)?, Adam::new(&d_vs, adam)?);
    let game = game_by_name("nonsaturating", GameOptions::default())?;
    let reals: Vec<Tensor> = (0..4).map(|_| Tensor::rand([64, channels, 32, 32], (Kind::Float, device)) * 2.0 - 1.0).collect();
    let d_params = d_vs.trainable_variables();
    let mut step = |i: usize| {
        let z = Tensor::randn([64, 100], (Kind::Float, device));
        let fake = g.forward_t(&z, true);
        let out = game.d_loss(&mut |x: &Tensor| d.forward_t(x, true), &reals[i % reals.len()], &fake.detach(), StepContext::default());
        opt_d.zero_grad();
        out.loss.backward();
        opt_d.step();
        for p in &d_params {
            let _ = p.set_requires_grad(false);
        }
        let g_out = game.g_loss(&d.forward_t(&fake, true));
        opt_g.zero_grad();
        g_out.loss.backward();
        opt_g.step();
        for p in &d_params {
            let _ = p.set_requires_grad(true);
        }
    };
    for i in 0..warmup {
        step(i);
    }
    if let Device::Cuda(_) = device {
        tch::Cuda::synchronize(0);
    }
    let start = Instant::now();
    for i in 0..steps {
        step(i);
    }
    if let Device::Cuda(_) = device {
        tch::Cuda::synchronize(0);
    }
    Ok(steps as f64 / start.elapsed().as_secs_f64())
}
