//! Spectral normalization against PyTorch's `torch.nn.utils.parametrizations.spectral_norm`
//! (`tests/reference/spectral_reference.py`): DCGAN-32's discriminator with `d_spectral_norm`,
//! from the same weights, u and v, three training steps (one power iteration per training
//! forward, loss = mean logit, SGD with lr 0.1) give the same logits, normalised kernels, u and
//! v; evaluation mode runs no iteration.

use ganlab_layers::{dcgan32_discriminator, Dcgan32Config, DownConv, Norm};
use ganlab_tests::{assert_close, ints, load_state, read_fixture, tensor};
use serde_json::Value;
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Tensor};

fn shape_of(state: &Value, name: &str) -> Vec<i64> {
    ints(&state[name]["shape"])
}

#[test]
fn spectral_norm_equals_pytorch_over_training_steps() {
    let _rng = ganlab_tests::global_rng_lock();
    let fx = read_fixture("spectral_reference.json");
    let cfg = Dcgan32Config {
        z_dim: 8,
        width: 4,
        channels: 1,
        d_norm: Norm::Batch,
        d_spectral_norm: true,
        classes: 0,
        class_norm: false,
        fp32_image_layers: false,
    };
    let vs = VarStore::new(Device::Cpu);
    let d = dcgan32_discriminator(&vs.root(), cfg);
    load_state(&vs, &fx["state"]);
    let state = &fx["state"];
    // float32 convolutions in another order of summation, and σ from a float32 dot product:
    // |x − y| ≤ 1e-5 + 1e-4·|y| over three steps.
    let (atol, rtol) = (1e-5, 1e-4);
    let blocks: Vec<(&str, &DownConv)> = vec![
        ("block1", &d.blocks[0].conv),
        ("block2", &d.blocks[1].conv),
        ("block3", &d.blocks[2].conv),
        ("to_logit", &d.to_logit.conv),
    ];
    for (i, step) in fx["steps"].as_array().expect("steps").iter().enumerate() {
        let real = tensor(&step["real"], &[3, 1, 32, 32]);
        let logits = d.forward_t(&real, true);
        assert_close(
            &logits,
            &tensor(&step["logits"], &[3]),
            atol,
            rtol,
            &format!("step {i} logits"),
        );
        vs.trainable_variables()
            .iter_mut()
            .for_each(|v| v.zero_grad());
        logits.mean(tch::Kind::Float).backward();
        tch::no_grad(|| {
            for mut v in vs.trainable_variables() {
                let g = v.grad();
                let _ = v.f_sub_(&(g * 0.1)).expect("sgd");
            }
        });
        for (name, conv) in &blocks {
            let DownConv::Spectral(conv) = conv else {
                panic!("{name}: not spectrally normalised")
            };
            let after = &step["after"];
            let shape = shape_of(state, &format!("{name}.conv.weight_orig"));
            assert_close(
                &conv.sn.weight(false),
                &tensor(&after[format!("{name}.conv.weight")], &shape),
                atol,
                rtol,
                &format!("step {i} {name} W/σ"),
            );
            for (buffer, t) in [("weight_u", &conv.sn.u), ("weight_v", &conv.sn.v)] {
                let key = format!("{name}.conv.{buffer}");
                assert_close(
                    t,
                    &tensor(&after[&key], &[t.size()[0]]),
                    atol,
                    rtol,
                    &format!("step {i} {key}"),
                );
            }
        }
    }
    let u_before: Vec<Tensor> = blocks
        .iter()
        .map(|(_, c)| match c {
            DownConv::Spectral(c) => c.sn.u.copy(),
            DownConv::Plain(_) => unreachable!(),
        })
        .collect();
    let real = tensor(&fx["final_real"], &[3, 1, 32, 32]);
    assert_close(
        &d.forward_t(&real, false),
        &tensor(&fx["final_eval_logits"], &[3]),
        atol,
        rtol,
        "evaluation logits",
    );
    for ((_, c), before) in blocks.iter().zip(&u_before) {
        if let DownConv::Spectral(c) = c {
            assert!(c.sn.u.equal(before), "evaluation changed u");
        }
    }
}
