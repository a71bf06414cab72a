//! DCGAN-32 and the optimisers against PyTorch (fixture written by
//! `tests/reference/dcgan32_reference.py` with torch 2.11.0).

use ganlab_layers::{
    count_parameters, dcgan32_discriminator, dcgan32_generator, Dcgan32Config, Norm,
};
use ganlab_optim::{Adam, AdamConfig, Optimizer, RmsProp, RmsPropConfig};
use ganlab_tests::{assert_close, floats, load_state, read_fixture, tensor};
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Tensor};

#[test]
fn parameter_counts_equal_pytorch() {
    let _rng = ganlab_tests::global_rng_lock();
    // PyTorch, same definition: sum(p.numel() for p in net.parameters())
    // G(C=1) = 1,066,880  D(C=1) = 661,248  G(C=3) = 1,068,928  D(C=3) = 663,296.
    let reference = read_fixture("dcgan32_reference.json");
    for channels in [1, 3] {
        let cfg = Dcgan32Config {
            channels,
            ..Default::default()
        };
        let (g_vs, d_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
        let _g = dcgan32_generator(&g_vs.root(), cfg);
        let _d = dcgan32_discriminator(&d_vs.root(), cfg);
        let counts = &reference["param_counts"];
        assert_eq!(
            count_parameters(&g_vs),
            counts[format!("G_c{channels}")].as_i64().expect("int")
        );
        assert_eq!(
            count_parameters(&d_vs),
            counts[format!("D_c{channels}")].as_i64().expect("int")
        );
    }
    assert_eq!(reference["param_counts"]["G_c1"], 1_066_880);
    assert_eq!(reference["param_counts"]["D_c1"], 661_248);
}

/// The narrow pair of the fixture (`dcgan32_reference.py`: width 4, z_dim 8, one channel).
fn narrow(d_norm: Norm) -> Dcgan32Config {
    Dcgan32Config {
        z_dim: 8,
        width: 4,
        channels: 1,
        d_norm,
        d_spectral_norm: false,
        classes: 0,
        class_norm: false,
        fp32_image_layers: false,
    }
}

#[test]
fn forward_passes_equal_pytorch_with_the_same_weights() {
    let _rng = ganlab_tests::global_rng_lock();
    let fx = &read_fixture("dcgan32_reference.json")["narrow"];
    let cfg = narrow(Norm::Batch);
    let (g_vs, d_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
    let g = dcgan32_generator(&g_vs.root(), cfg);
    let d = dcgan32_discriminator(&d_vs.root(), cfg);
    load_state(&g_vs, &fx["g_state"]);
    load_state(&d_vs, &fx["d_state"]);
    let z = tensor(&fx["z"], &[5, 8]);
    let real = tensor(&fx["real"], &[5, 1, 32, 32]);
    // float32 convolutions in a different order of summation: |x - y| <= 1e-5 + 1e-4·|y|.
    let (atol, rtol) = (1e-5, 1e-4);
    assert_close(
        &g.forward_t(&z, true),
        &tensor(&fx["g_out_train"], &[5, 1, 32, 32]),
        atol,
        rtol,
        "G train",
    );
    assert_close(
        &d.forward_t(&real, true),
        &tensor(&fx["d_out_train"], &[5]),
        atol,
        rtol,
        "D train",
    );
    // Eval mode uses running statistics, which the train-mode pass above updated exactly as
    // PyTorch's did (momentum 0.1, unbiased running variance).
    assert_close(
        &g.forward_t(&z, false),
        &tensor(&fx["g_out_eval"], &[5, 1, 32, 32]),
        atol,
        rtol,
        "G eval",
    );
    assert_close(
        &d.forward_t(&real, false),
        &tensor(&fx["d_out_eval"], &[5]),
        atol,
        rtol,
        "D eval",
    );
}

#[test]
fn the_layer_norm_critic_equals_pytorch_group_norm() {
    let _rng = ganlab_tests::global_rng_lock();
    // WGAN-GP's critic (`d_norm = layer`): PyTorch's GroupNorm(1, C) in D's middle blocks.
    let fx = &read_fixture("dcgan32_reference.json")["layer_norm_critic"];
    let cfg = narrow(Norm::Layer);
    let vs = VarStore::new(Device::Cpu);
    let d = dcgan32_discriminator(&vs.root(), cfg);
    load_state(&vs, &fx["d_state"]);
    let real = tensor(&fx["real"], &[5, 1, 32, 32]);
    let expected = tensor(&fx["d_out"], &[5]);
    // float32 in a different order of summation: |x - y| <= 1e-5 + 1e-4·|y|; no running
    // statistics, so training and evaluation mode agree.
    for train in [true, false] {
        assert_close(&d.forward_t(&real, train), &expected, 1e-5, 1e-4, "D");
    }
}

fn trajectory(mut opt: Box<dyn Optimizer>, w: &Tensor, x: &Tensor) -> Vec<Tensor> {
    (0..5)
        .map(|_| {
            opt.zero_grad();
            (w.pow_tensor_scalar(3) * x)
                .sum(tch::Kind::Float)
                .backward();
            opt.step();
            w.detach().copy()
        })
        .collect()
}

#[test]
fn optimisers_follow_pytorch_step_for_step() {
    let _rng = ganlab_tests::global_rng_lock();
    let fx = &read_fixture("dcgan32_reference.json")["optim"];
    let x = tensor(&fx["x"], &[7]);
    type MakeOptimizer = Box<dyn Fn(Tensor) -> Box<dyn Optimizer>>;
    let makers: Vec<(&str, MakeOptimizer)> = vec![
        (
            "adam",
            Box::new(|w| {
                let cfg = AdamConfig {
                    lr: 2e-4,
                    beta1: 0.5,
                    beta2: 0.999,
                    eps: 1e-8,
                    weight_decay: 0.0,
                };
                Box::new(Adam::from_parameters(vec![("w".into(), w)], cfg).expect("adam"))
            }),
        ),
        (
            "adam_wd",
            Box::new(|w| {
                let cfg = AdamConfig {
                    lr: 1e-2,
                    beta1: 0.9,
                    beta2: 0.99,
                    eps: 1e-8,
                    weight_decay: 0.1,
                };
                Box::new(Adam::from_parameters(vec![("w".into(), w)], cfg).expect("adam"))
            }),
        ),
        (
            "rmsprop",
            Box::new(|w| {
                let cfg = RmsPropConfig {
                    lr: 5e-5,
                    alpha: 0.99,
                    eps: 1e-8,
                };
                Box::new(RmsProp::from_parameters(vec![("w".into(), w)], cfg).expect("rmsprop"))
            }),
        ),
    ];
    for (name, make) in makers {
        let w = tensor(&fx["w0"], &[7]).set_requires_grad(true);
        let ours = trajectory(make(w.shallow_clone()), &w, &x);
        for (step, (got, expected)) in ours
            .iter()
            .zip(fx["trajectories"][name].as_array().expect("steps"))
            .enumerate()
        {
            // Same float32 operations in the same order: agreement to a few ulps.
            let expected = Tensor::from_slice(&floats(expected));
            assert_close(
                got,
                &expected,
                1e-7,
                1e-6,
                &format!("{name} step {}", step + 1),
            );
        }
    }
}

#[test]
fn optimiser_state_round_trips_exactly() {
    let _rng = ganlab_tests::global_rng_lock();
    let fx = &read_fixture("dcgan32_reference.json")["optim"];
    let x = tensor(&fx["x"], &[7]);
    let cfg = AdamConfig {
        lr: 1e-2,
        ..Default::default()
    };
    let w = tensor(&fx["w0"], &[7]).set_requires_grad(true);
    let mut a = Adam::from_parameters(vec![("w".into(), w.shallow_clone())], cfg).expect("adam");
    for _ in 0..3 {
        a.zero_grad();
        (w.pow_tensor_scalar(3) * &x)
            .sum(tch::Kind::Float)
            .backward();
        a.step();
    }
    let saved: std::collections::BTreeMap<String, Tensor> =
        a.state().into_iter().map(|(k, t)| (k, t.copy())).collect();
    let w2 = w.detach().copy().set_requires_grad(true);
    let mut b = Adam::from_parameters(vec![("w".into(), w2.shallow_clone())], cfg).expect("adam");
    b.load_state(&saved).expect("load");
    assert_eq!(b.steps_taken(), 3);
    for (opt, param) in [
        (&mut a as &mut dyn Optimizer, &w),
        (&mut b as &mut dyn Optimizer, &w2),
    ] {
        opt.zero_grad();
        (param.pow_tensor_scalar(3) * &x)
            .sum(tch::Kind::Float)
            .backward();
        opt.step();
    }
    assert!(
        w.equal(&w2),
        "a restored Adam takes the identical next step"
    );
    let mut missing: std::collections::BTreeMap<String, Tensor> = saved
        .iter()
        .map(|(k, t)| (k.clone(), t.shallow_clone()))
        .collect();
    missing.remove("exp_avg.w");
    let err = b.load_state(&missing).unwrap_err();
    assert!(
        err.to_string().contains("missing tensor `exp_avg.w`"),
        "{err}"
    );
}
