//! Shared helpers for the integration tests: fixtures from the PyTorch reference scripts in
//! `tests/reference/`, and comparisons with stated tolerances.

use serde_json::Value;
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Tensor};

/// `tests/fixtures/<name>`.
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

/// Reads a JSON fixture.
pub fn read_fixture(name: &str) -> Value {
    let path = fixture_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A flat JSON array of numbers as f32.
pub fn floats(value: &Value) -> Vec<f32> {
    value.as_array().expect("array of numbers").iter().map(|v| v.as_f64().expect("number") as f32).collect()
}

/// A tensor from a flat JSON array and a shape.
pub fn tensor(value: &Value, shape: &[i64]) -> Tensor {
    Tensor::from_slice(&floats(value)).view(shape)
}

/// Copies a PyTorch state dict fixture ({name: {shape, values}}) into a var store; every
/// variable of the store must be in the fixture with the same shape.
pub fn load_state(vs: &VarStore, state: &Value) {
    for (name, mut var) in vs.variables() {
        let entry = state.get(&name).unwrap_or_else(|| panic!("fixture has no `{name}`"));
        let shape: Vec<i64> =
            entry["shape"].as_array().expect("shape").iter().map(|v| v.as_i64().expect("int")).collect();
        assert_eq!(var.size(), shape, "shape of `{name}`");
        tch::no_grad(|| var.copy_(&tensor(&entry["values"], &shape)));
    }
}

/// Asserts |actual - expected| <= atol + rtol·|expected| elementwise.
pub fn assert_close(actual: &Tensor, expected: &Tensor, atol: f64, rtol: f64, what: &str) {
    assert_eq!(actual.size(), expected.size(), "{what}: shapes differ");
    let diff = (actual - expected).abs();
    let bound = expected.abs() * rtol + atol;
    let excess = (&diff - &bound).max().double_value(&[]);
    assert!(
        excess <= 0.0,
        "{what}: max |diff| = {:e} exceeds atol {atol:e} + rtol {rtol:e}·|expected|",
        diff.max().double_value(&[])
    );
}
