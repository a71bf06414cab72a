//! ProGAN's layers against PyTorch translations of the official TensorFlow code
//! (`tests/reference/progan_layers_reference.py`). Float32 with different summation orders:
//! |x − y| ≤ 1e-5 + 1e-5·|y|.

use ganlab_layers::{eq_conv2d, eq_linear, minibatch_stddev, pixel_norm, EqConfig};
use ganlab_tests::{assert_close, read_fixture, tensor};
use serde_json::Value;
use tch::nn::{Module, VarStore};
use tch::Device;

fn shape(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_i64().expect("int"))
        .collect()
}

#[test]
fn equalized_layers_pixel_norm_and_minibatch_stddev_equal_the_reference() {
    let fx = read_fixture("progan_layers_reference.json");
    let x = tensor(&fx["x"], &shape(&fx["x_shape"]));
    let (atol, rtol) = (1e-5, 1e-5);
    let vs = VarStore::new(Device::Cpu);

    let conv3 = eq_conv2d(&(vs.root() / "conv3"), 5, 7, 3, EqConfig::default());
    tch::no_grad(|| {
        conv3.weight.shallow_clone().copy_(&tensor(
            &fx["conv3"]["weight"],
            &shape(&fx["conv3"]["weight_shape"]),
        ));
        conv3
            .bias
            .as_ref()
            .expect("bias")
            .shallow_clone()
            .copy_(&tensor(&fx["conv3"]["bias"], &[7]));
    });
    assert_close(
        &conv3.forward(&x),
        &tensor(&fx["conv3"]["out_gain_sqrt2"], &[8, 7, 6, 6]),
        atol,
        rtol,
        "eq conv 3x3",
    );

    let conv1 = eq_conv2d(
        &(vs.root() / "conv1"),
        5,
        3,
        1,
        EqConfig {
            gain: 1.0,
            bias: false,
            padding: None,
            spectral: false,
        },
    );
    tch::no_grad(|| {
        conv1.weight.shallow_clone().copy_(&tensor(
            &fx["conv1"]["weight"],
            &shape(&fx["conv1"]["weight_shape"]),
        ))
    });
    assert_close(
        &conv1.forward(&x),
        &tensor(&fx["conv1"]["out_gain_1_nobias"], &[8, 3, 6, 6]),
        atol,
        rtol,
        "eq conv 1x1 (toRGB)",
    );

    let gain = std::f64::consts::SQRT_2 / 4.0;
    let dense = eq_linear(
        &(vs.root() / "dense"),
        180,
        4,
        EqConfig {
            gain,
            ..Default::default()
        },
    );
    tch::no_grad(|| {
        dense.weight.shallow_clone().copy_(&tensor(
            &fx["dense"]["weight"],
            &shape(&fx["dense"]["weight_shape"]),
        ));
        dense
            .bias
            .as_ref()
            .expect("bias")
            .shallow_clone()
            .copy_(&tensor(&fx["dense"]["bias"], &[4]));
    });
    assert_close(
        &dense.forward(&x.reshape([8, -1])),
        &tensor(&fx["dense"]["out_gain_sqrt2_over_4"], &[8, 4]),
        atol,
        rtol,
        "eq dense",
    );

    assert_close(
        &pixel_norm(&x),
        &tensor(&fx["pixel_norm"], &[8, 5, 6, 6]),
        atol,
        rtol,
        "pixel norm",
    );
    assert_close(
        &minibatch_stddev(&x, 4),
        &tensor(&fx["mbstd_4"], &[8, 6, 6, 6]),
        atol,
        rtol,
        "mbstd G=4",
    );
    assert_close(
        &minibatch_stddev(&x, 16),
        &tensor(&fx["mbstd_16"], &[8, 6, 6, 6]),
        atol,
        rtol,
        "mbstd G=min(16, N)",
    );
    assert_close(
        &x.upsample_nearest2d([12, 12], None, None),
        &tensor(&fx["upscale2d"], &[8, 5, 12, 12]),
        0.0,
        0.0,
        "upscale2d",
    );
    assert_close(
        &x.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None),
        &tensor(&fx["downscale2d"], &[8, 5, 3, 3]),
        atol,
        rtol,
        "downscale2d",
    );
}
