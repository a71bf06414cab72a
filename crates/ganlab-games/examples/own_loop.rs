//! A research-code training loop that uses only `ganlab-layers` and `ganlab-games` (plus tch):
//! the toy MLP pair learns the 8-Gaussian ring with any game, chosen by name (`relativistic`
//! included: its generator loss takes D's logits on a real batch too).
//!
//!     cargo run --release -p ganlab-games --example own_loop -- wgan-gp 2000
use ganlab_games::{
    clip_parameters, game_by_name, GameOptions, GeneratorPass, OptimizerChoice, StepContext,
};
use ganlab_layers::{toy_discriminator, toy_generator, ToyMlpConfig};
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// 8 Gaussians on a circle of radius 2, std 0.02, scaled by 1/1.414 (Gulrajani et al. 2017).
fn ring8_batch(n: i64) -> Tensor {
    let angle = Tensor::randint(8, [n], (Kind::Float, Device::Cpu)) * (std::f64::consts::PI / 4.0);
    let centers = Tensor::stack(&[angle.cos(), angle.sin()], 1) * 2.0;
    (centers + Tensor::randn([n, 2], (Kind::Float, Device::Cpu)) * 0.02) / 1.414
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let game = game_by_name(
        args.get(1).map_or("nonsaturating", String::as_str),
        GameOptions::default(),
    )?;
    let steps: usize = args.get(2).map_or(Ok(300), |s| s.parse())?;
    tch::manual_seed(0);
    let (g_vs, d_vs) = (
        nn::VarStore::new(Device::Cpu),
        nn::VarStore::new(Device::Cpu),
    );
    let g = toy_generator(&g_vs.root(), ToyMlpConfig::default());
    let d = toy_discriminator(&d_vs.root(), ToyMlpConfig::default());
    let plan = game.plan();
    let make = |vs: &nn::VarStore| -> Result<nn::Optimizer, tch::TchError> {
        match plan.optimizer {
            OptimizerChoice::Adam { lr, beta1, beta2 } => nn::Adam {
                beta1,
                beta2,
                wd: 0.0,
                eps: 1e-8,
                amsgrad: false,
            }
            .build(vs, lr),
            OptimizerChoice::RmsProp { lr } => nn::RmsProp::default().build(vs, lr),
        }
    };
    let (mut opt_g, mut opt_d) = (make(&g_vs)?, make(&d_vs)?);
    for step in 0..steps {
        for critic_step in 0..plan.critic_steps {
            let fake = tch::no_grad(|| {
                g.forward_t(&Tensor::randn([256, 2], (Kind::Float, Device::Cpu)), true)
            });
            let ctx = StepContext {
                kimg: 0.0,
                critic_step: (step * plan.critic_steps + critic_step) as u64,
                ..Default::default()
            };
            let out = game.d_loss(
                &mut |x: &Tensor| d.forward_t(x, true),
                &ring8_batch(256),
                &fake,
                ctx,
            );
            opt_d.backward_step(&out.loss);
            if let Some(c) = plan.clip_weights {
                clip_parameters(&d_vs.trainable_variables(), c);
            }
        }
        let z = Tensor::randn([256, 2], (Kind::Float, Device::Cpu));
        let fake = g.forward_t(&z, true);
        let fake_logits = d.forward_t(&fake, true);
        // A relativistic game scores each fake against a real: D's logits on a real batch.
        let real_logits = game
            .needs_real_logits()
            .then(|| tch::no_grad(|| d.forward_t(&ring8_batch(256), true)));
        let out = game.generator_loss(&GeneratorPass {
            fake_logits: &fake_logits,
            fake: &fake,
            z: &z,
            real_logits: real_logits.as_ref(),
            ctx: StepContext::default(),
        })?;
        opt_g.backward_step(&out.loss);
        if step % 100 == 0 || step + 1 == steps {
            let radius = tch::no_grad(|| fake.norm_scalaropt_dim(2, [1], false).mean(Kind::Float))
                .double_value(&[]);
            println!(
                "{} step {step}: loss_g {:.4}, mean radius of fakes {radius:.3} (data: 1.414)",
                game.name(),
                out.loss.double_value(&[])
            );
        }
    }
    Ok(())
}
