//! DiffAugment against the authors' formulas (`tests/reference/diffaugment_reference.py`, a copy
//! of `DiffAugment_pytorch.py`): from the same images and the same seed of libtorch's
//! generator, the same augmented images and the same gradient of sum(w · augment(x)) with
//! respect to x, for each policy on square and non-square images of 1 and 3 channels. Float32,
//! the same operations in another order: |x − y| ≤ 1e-6 + 1e-5·|y|.

use ganlab_augment::DiffAugment;
use ganlab_games::Shard;
use ganlab_tests::{assert_close, ints, read_fixture, tensor};
use tch::{Kind, Tensor};

#[test]
fn diffaugment_equals_the_authors_formulas_outputs_and_gradients() {
    let _rng = ganlab_tests::global_rng_lock();
    let fx = read_fixture("diffaugment_reference.json");
    let (atol, rtol) = (1e-6, 1e-5);
    for case in fx["cases"].as_array().expect("cases") {
        let shape = ints(&case["shape"]);
        let policy = case["policy"].as_str().expect("policy");
        let what = format!("{policy} on {shape:?}");
        let augment = DiffAugment::parse(policy).expect("policy");
        let x = tensor(&case["x"], &shape).set_requires_grad(true);
        let w = tensor(&case["w"], &shape);
        tch::manual_seed(case["seed"].as_i64().expect("seed"));
        let y = augment.apply(&x, Shard::default());
        assert_close(&y, &tensor(&case["y"], &shape), atol, rtol, &what);
        (&y * &w).sum(Kind::Float).backward();
        assert_close(
            &x.grad(),
            &tensor(&case["grad"], &shape),
            atol,
            rtol,
            &format!("∂ {what}"),
        );
    }
}

/// Two data-parallel ranks, each drawing from a generator seeded alike, augment their halves of
/// the batch exactly as one process augments the whole batch.
#[test]
fn ranks_augment_their_rows_as_one_process_does() {
    let _rng = ganlab_tests::global_rng_lock();
    let x = Tensor::rand([8, 3, 16, 16], (Kind::Float, tch::Device::Cpu));
    let augment = DiffAugment::all();
    tch::manual_seed(5);
    let whole = augment.apply(&x, Shard::default());
    let halves: Vec<Tensor> = (0..2)
        .map(|index| {
            tch::manual_seed(5);
            augment.apply(&x.narrow(0, index as i64 * 4, 4), Shard { index, count: 2 })
        })
        .collect();
    assert!(Tensor::cat(&halves, 0).equal(&whole));
}
