//! SNGAN-32 (`--arch sngan32`) against PyTorch (fixture written by
//! `tests/reference/sngan32_reference.py` with torch 2.11.0): the same networks from the same
//! weights, spectral normalisation's u and v and batch norm's running statistics give the same
//! images, logits and losses over two steps of the hinge game (plain SGD, so that the networks
//! and not an optimiser are under test), the same parameters and buffers after them, and the
//! same outputs in evaluation mode; the parameter counts at the paper's widths are PyTorch's.

use ganlab_layers::{
    count_parameters, sngan32_discriminator, sngan32_generator, Norm, Sngan32Config,
};
use ganlab_tests::{assert_close, floats, ints, load_state, read_fixture, tensor};
use serde_json::Value;
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

/// float32 convolutions summed in another order, σ from a float32 dot product, two SGD steps:
/// |x − y| ≤ 1e-5 + 1e-4·|y|.
const ATOL: f64 = 1e-5;
const RTOL: f64 = 1e-4;

#[test]
fn parameter_counts_at_the_paper_s_widths_equal_pytorch() {
    let _rng = ganlab_tests::global_rng_lock();
    let counts = &read_fixture("sngan32_reference.json")["param_counts"];
    for channels in [1, 3] {
        let cfg = Sngan32Config {
            channels,
            ..Default::default()
        };
        let (g_vs, d_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
        let _g = sngan32_generator(&g_vs.root(), cfg);
        let _d = sngan32_discriminator(&d_vs.root(), cfg);
        assert_eq!(
            count_parameters(&g_vs),
            counts[format!("G_c{channels}_w64_z128")]
                .as_i64()
                .expect("int")
        );
        assert_eq!(
            count_parameters(&d_vs),
            counts[format!("D_c{channels}_w64")].as_i64().expect("int")
        );
    }
}

fn sgd_step(vs: &VarStore, lr: f64) {
    tch::no_grad(|| {
        for mut v in vs.trainable_variables() {
            let g = v.grad();
            let _ = v.f_sub_(&(g * lr)).expect("sgd");
        }
    });
}

fn zero_grads(vs: &VarStore) {
    vs.trainable_variables()
        .iter_mut()
        .for_each(|v| v.zero_grad());
}

fn scalar(value: &Value) -> Tensor {
    Tensor::from(value.as_f64().expect("number") as f32)
}

/// Every variable of `vs` against the fixture's `state` (parameters, u, v, running statistics).
fn assert_state(vs: &VarStore, state: &Value, what: &str) {
    for (name, var) in vs.variables() {
        let entry = &state[&name];
        let expected = tensor(&entry["values"], &ints(&entry["shape"]));
        assert_close(&var, &expected, ATOL, RTOL, &format!("{what} `{name}`"));
    }
}

#[test]
fn two_hinge_steps_equal_pytorch_with_the_same_weights() {
    let _rng = ganlab_tests::global_rng_lock();
    let fx = read_fixture("sngan32_reference.json");
    let cfg = Sngan32Config {
        z_dim: 8,
        channels: 1,
        width: 4,
        d_norm: Norm::None,
        d_spectral_norm: true,
        fp32_image_layers: false,
    };
    let (g_vs, d_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
    let g = sngan32_generator(&g_vs.root(), cfg);
    let d = sngan32_discriminator(&d_vs.root(), cfg);
    load_state(&g_vs, &fx["g_state"]);
    load_state(&d_vs, &fx["d_state"]);
    let images = |key: &str, step: &Value| tensor(&step[key], &[3, 1, 32, 32]);
    for (i, step) in fx["steps"].as_array().expect("steps").iter().enumerate() {
        let close = |actual: &Tensor, key: &str| {
            let expected = tensor(&step[key], &actual.size());
            assert_close(actual, &expected, ATOL, RTOL, &format!("step {i} {key}"));
        };
        // D's step: the reals, then G(z) without G's gradient, each a training forward.
        let fake = g.forward_t(&tensor(&step["z"], &[3, 8]), true).detach();
        close(&fake, "fake");
        let d_real = d.forward_t(&images("real", step), true);
        let d_fake = d.forward_t(&fake, true);
        close(&d_real, "d_real");
        close(&d_fake, "d_fake");
        let hinge = |t: Tensor| t.relu().mean(Kind::Float);
        let loss_d = hinge(d_real.neg() + 1.0) + hinge(&d_fake + 1.0);
        assert_close(&loss_d, &scalar(&step["loss_d"]), ATOL, RTOL, "loss_d");
        zero_grads(&d_vs);
        loss_d.backward();
        sgd_step(&d_vs, 0.05);
        // G's step: −E D(G(z')).
        let generated = g.forward_t(&tensor(&step["z2"], &[3, 8]), true);
        close(&generated, "images");
        let d_g = d.forward_t(&generated, true);
        close(&d_g, "d_g");
        let loss_g = -d_g.mean(Kind::Float);
        assert_close(&loss_g, &scalar(&step["loss_g"]), ATOL, RTOL, "loss_g");
        zero_grads(&g_vs);
        loss_g.backward();
        sgd_step(&g_vs, 0.05);
    }
    assert_state(&g_vs, &fx["g_after"], "G after two steps:");
    assert_state(&d_vs, &fx["d_after"], "D after two steps:");
    let eval = &fx["eval"];
    let z = tensor(&eval["z"], &[3, 8]);
    assert_close(
        &g.forward_t(&z, false),
        &tensor(&eval["images"], &[3, 1, 32, 32]),
        ATOL,
        RTOL,
        "G in evaluation mode",
    );
    let u_before = d_vs.variables()["block7.conv.weight_u"].copy();
    assert_close(
        &d.forward_t(&tensor(&eval["x"], &[3, 1, 32, 32]), false),
        &Tensor::from_slice(&floats(&eval["logits"])),
        ATOL,
        RTOL,
        "D in evaluation mode",
    );
    assert!(
        d_vs.variables()["block7.conv.weight_u"].equal(&u_before),
        "evaluation ran a power iteration"
    );
}
