//! ADA's transforms against an independent implementation of the paper's execution
//! (`tests/reference/ada_reference.py`: reflection padding, 2x up- and downsampling with sym6 by
//! `scipy.signal.upfirdn` in float64, PyTorch's `affine_grid` / `grid_sample`): the same
//! output for the identity, an x-flip, a 90° rotation, an integer and a fractional translation,
//! a rotation, isotropic and anisotropic scaling, each batched with a rotated copy, on RGB and
//! grayscale images. Float32 against float64: |x − y| ≤ 2e-5 + 1e-4·|y|. And the hue rotation
//! about the luma axis against `scipy.spatial.transform.Rotation` to 1e-6.

use ganlab_augment::ada::{execute_geometry, rotate3d_about_luma};
use ganlab_tests::{assert_close, ints, read_fixture, tensor};
use tch::Tensor;

#[test]
fn geometric_execution_and_hue_rotation_equal_the_reference() {
    let fx = read_fixture("ada_reference.json");
    for case in fx["geometry"].as_array().expect("cases") {
        let shape = ints(&case["shape"]);
        let name = case["name"].as_str().expect("name");
        let x = tensor(&case["x"], &shape);
        let g_inv = tensor(&case["g_inv"], &[shape[0], 3, 3]);
        let y = execute_geometry(&x, &g_inv);
        assert_close(
            &y,
            &tensor(&case["y"], &shape),
            2e-5,
            1e-4,
            &format!("{name} on {shape:?}"),
        );
    }
    for case in fx["hue"].as_array().expect("hue") {
        let theta = case["theta"].as_f64().expect("theta");
        let m = rotate3d_about_luma(&Tensor::from_slice(&[theta as f32]));
        let m = m.get(0).narrow(0, 0, 3).narrow(1, 0, 3);
        assert_close(
            &m,
            &tensor(&case["matrix"], &[3, 3]),
            1e-6,
            0.0,
            &format!("hue {theta}"),
        );
    }
}
