//! The class-conditional DCGAN-32 (`cond = true`) against PyTorch on the same weights: G's class
//! embedding concatenated to z and the projection discriminator (Miyato & Koyama 2018), forward
//! in training and evaluation mode and the gradients that reach both class tables; the class
//! table under spectral normalization.
//! Fixture: `tests/reference/conditional_reference.py`.

use ganlab_layers::{
    dcgan32_conditional_discriminator, dcgan32_conditional_generator, ConditionalModuleT,
    Dcgan32Config, Norm,
};
use ganlab_tests::{assert_close, ints, load_state, read_fixture, tensor};
use serde_json::Value;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// Outputs: float32 convolutions summed in another order, |x − y| ≤ 1e-5 + 1e-4·|y|.
const OUTPUT: (f64, f64) = (1e-5, 1e-4);
/// Gradients and spectral normalisation's u and v (small values): 1e-6 + 1e-4·|y|.
const SMALL: (f64, f64) = (1e-6, 1e-4);

/// `got` against the fixture's `key` (a flat list, read in `got`'s shape; the key names a
/// failure).
fn check(fx: &Value, key: &str, got: &Tensor, (atol, rtol): (f64, f64)) {
    assert_close(got, &tensor(&fx[key], &got.size()), atol, rtol, key);
}

/// The fixture's narrow pair: z_dim 8, width 4, one channel, 3 classes (`class_norm`: cBN in G).
fn narrow(class_norm: bool) -> Dcgan32Config {
    Dcgan32Config {
        z_dim: 8,
        width: 4,
        channels: 1,
        d_norm: Norm::Batch,
        d_spectral_norm: false,
        classes: 3,
        class_norm,
        fp32_image_layers: false,
    }
}

#[test]
fn conditional_g_and_projection_d_equal_pytorch_on_the_same_weights() {
    let fx = read_fixture("conditional_reference.json");
    let cfg = narrow(false);
    let (g_vs, d_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
    let g = dcgan32_conditional_generator(&g_vs.root(), cfg);
    let d = dcgan32_conditional_discriminator(&d_vs.root(), cfg);
    load_state(&g_vs, &fx["g_state"]);
    load_state(&d_vs, &fx["d_state"]);
    // Every variable of ours is in PyTorch's state dict and the other way round (same names).
    assert_eq!(
        g_vs.variables().len(),
        fx["g_state"].as_object().expect("g").len()
    );
    assert_eq!(
        d_vs.variables().len(),
        fx["d_state"].as_object().expect("d").len()
    );
    let z = tensor(&fx["z"], &[6, 8]);
    let labels = Tensor::from_slice(&ints(&fx["labels"]));
    let real = tensor(&fx["real"], &[6, 1, 32, 32]);

    let fake = g.forward_ct(&z, Some(&labels), true);
    let logits = d.forward_ct(&real, Some(&labels), true);
    check(&fx, "g_out_train", &fake, OUTPUT);
    check(&fx, "d_out_train", &logits, OUTPUT);
    fake.mean(Kind::Float).backward();
    logits.mean(Kind::Float).backward();
    check(&fx, "g_class_embed_grad", &g.embed.ws.grad(), SMALL);
    let ganlab_layers::ProjectionTable::Plain(table) = &d.projection else {
        panic!("D without spectral normalisation has a plain class table")
    };
    check(&fx, "d_class_projection_grad", &table.ws.grad(), SMALL);

    let fake = tch::no_grad(|| g.forward_ct(&z, Some(&labels), false));
    let logits = tch::no_grad(|| d.forward_ct(&real, Some(&labels), false));
    check(&fx, "g_out_eval", &fake, OUTPUT);
    check(&fx, "d_out_eval", &logits, OUTPUT);

    // The class changes the output: the same z as another class is another image.
    let other = (&labels + 1).remainder(3);
    let moved = tch::no_grad(|| g.forward_ct(&z, Some(&other), false));
    let change = (moved - &fake).abs().max().double_value(&[]);
    assert!(
        change > 1e-6,
        "another class moved G's output by {change:e}"
    );
}

/// The projection D under spectral normalization (`--d-spectral-norm`, the TTUR preset): the
/// class table is normalised as the convolutions are (SNGAN's `SNEmbedID`), against PyTorch's
/// `parametrizations.spectral_norm` from the same weights, u and v: the training forward (one
/// power iteration each), the table's gradient, u and v after it, and the evaluation forward.
#[test]
fn a_spectral_projection_d_equals_pytorch_on_the_same_weights_and_vectors() {
    let fx = read_fixture("conditional_reference.json");
    let cfg = Dcgan32Config {
        d_spectral_norm: true,
        ..narrow(false)
    };
    let vs = VarStore::new(Device::Cpu);
    let d = dcgan32_conditional_discriminator(&vs.root(), cfg);
    load_state(&vs, &fx["sn_d_state"]);
    assert_eq!(
        vs.variables().len(),
        fx["sn_d_state"].as_object().expect("state").len()
    );
    let labels = Tensor::from_slice(&ints(&fx["labels"]));
    let real = tensor(&fx["real"], &[6, 1, 32, 32]);
    let logits = d.forward_ct(&real, Some(&labels), true);
    check(&fx, "sn_d_out_train", &logits, OUTPUT);
    logits.mean(Kind::Float).backward();
    let ganlab_layers::ProjectionTable::Spectral(table) = &d.projection else {
        panic!("D with spectral normalisation has a spectral class table")
    };
    check(
        &fx,
        "sn_class_projection_grad",
        &table.weight_orig.grad(),
        SMALL,
    );
    check(&fx, "sn_class_projection_u", &table.u, SMALL);
    check(&fx, "sn_class_projection_v", &table.v, SMALL);
    let logits = tch::no_grad(|| d.forward_ct(&real, Some(&labels), false));
    check(&fx, "sn_d_out_eval", &logits, OUTPUT);
}

/// Class-conditional batch norm in the conditional DCGAN-32 G (`cond_bn`) against PyTorch:
/// BatchNorm2d without affine parameters, then the class's scale and shift.
#[test]
fn class_conditional_batch_norm_equals_pytorch_on_the_same_weights() {
    let fx = read_fixture("conditional_reference.json");
    let cfg = narrow(true);
    let vs = VarStore::new(Device::Cpu);
    let g = dcgan32_conditional_generator(&vs.root(), cfg);
    load_state(&vs, &fx["cbn_g_state"]);
    assert_eq!(
        vs.variables().len(),
        fx["cbn_g_state"].as_object().expect("state").len()
    );
    let z = tensor(&fx["z"], &[6, 8]);
    let labels = Tensor::from_slice(&ints(&fx["labels"]));
    let fake = g.forward_ct(&z, Some(&labels), true);
    check(&fx, "cbn_g_out_train", &fake, OUTPUT);
    fake.mean(Kind::Float).backward();
    check(
        &fx,
        "cbn_block2_class_weight_grad",
        &g.class_norms[1].weight.grad(),
        SMALL,
    );
    let fake = tch::no_grad(|| g.forward_ct(&z, Some(&labels), false));
    check(&fx, "cbn_g_out_eval", &fake, OUTPUT);
}
