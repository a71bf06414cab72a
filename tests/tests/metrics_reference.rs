//! SWD, KID, IS and the Fréchet distance against numpy / scipy
//! (`tests/reference/metrics_reference.py`, which follows ProGAN's sliced_wasserstein.py).

use ganlab_metrics::swd::{
    descriptors_at, finalize_descriptors, laplacian_pyramid, sliced_wasserstein,
};
use ganlab_metrics::{frechet_distance, inception_score, kid::kid_with_subsets, FeatureStats};
use ganlab_tests::{assert_close, read_fixture};
use serde_json::Value;
use tch::{Kind, Tensor};

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn i64s(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_i64().expect("int"))
        .collect()
}

#[test]
fn swd_pyramid_descriptors_and_distance_equal_numpy() {
    let fx = &read_fixture("metrics_reference.json")["swd"];
    let shape = i64s(&fx["shape"]);
    let a = Tensor::from_slice(&f64s(&fx["a"]))
        .view(shape.as_slice())
        .to_kind(Kind::Float);
    let b = Tensor::from_slice(&f64s(&fx["b"]))
        .view(shape.as_slice())
        .to_kind(Kind::Float);
    let (pa, pb) = (laplacian_pyramid(&a, 2), laplacian_pyramid(&b, 2));
    for (level, expected) in fx["levels"].as_array().expect("levels").iter().enumerate() {
        // float32 pyramid (scipy convolves in float32 too): |x − y| ≤ 1e-3 on values up to 255.
        let side = 32 >> level;
        let ref_pyramid = Tensor::from_slice(&f64s(&expected["pyramid_a"]))
            .view([6, 3, side, side])
            .to_kind(Kind::Float);
        assert_close(
            &pa[level],
            &ref_pyramid,
            1e-3,
            1e-5,
            &format!("pyramid level {level}"),
        );
        let da = finalize_descriptors(&descriptors_at(
            &pa[level],
            &i64s(&expected["ya"]),
            &i64s(&expected["xa"]),
        ));
        let db = finalize_descriptors(&descriptors_at(
            &pb[level],
            &i64s(&expected["yb"]),
            &i64s(&expected["xb"]),
        ));
        let dirs: Vec<Tensor> = expected["dirs"]
            .as_array()
            .expect("dirs")
            .iter()
            .map(|d| Tensor::from_slice(&f64s(d)).view([147, 16]))
            .collect();
        let ours = sliced_wasserstein(&da, &db, &dirs) * 1e3;
        let theirs = expected["swd_x1e3"].as_f64().expect("swd");
        // float32 projections and sorts: agreement to 1e-4 relative.
        assert!(
            (ours - theirs).abs() <= 1e-4 * theirs.abs(),
            "level {level}: {ours} vs numpy {theirs}"
        );
    }
}

#[test]
fn swd_is_zero_for_identical_sets_and_grows_with_noise() {
    let a = (Tensor::rand([8, 1, 32, 32], (Kind::Float, tch::Device::Cpu)) * 255.0).round();
    let same = ganlab_metrics::swd(&a, &a, 3).expect("swd");
    assert_eq!(
        same.per_level.keys().copied().collect::<Vec<_>>(),
        vec![16, 32]
    );
    let noisy = (&a + Tensor::randn([8, 1, 32, 32], (Kind::Float, tch::Device::Cpu)) * 60.0)
        .clamp(0.0, 255.0);
    let far = ganlab_metrics::swd(&a, &noisy, 3).expect("swd");
    assert!(far.avg > same.avg, "{} vs {}", far.avg, same.avg);
    let err = ganlab_metrics::swd(&a, &a.narrow(2, 0, 16).narrow(3, 0, 16), 3).unwrap_err();
    assert!(err.to_string().contains("same image shape"), "{err}");
}

#[test]
fn kid_equals_numpy_on_the_same_subsets() {
    let fx = &read_fixture("metrics_reference.json")["kid"];
    let d = fx["dim"].as_i64().expect("dim");
    let real = Tensor::from_slice(&f64s(&fx["real"])).view([-1, d]);
    let fake = Tensor::from_slice(&f64s(&fx["fake"])).view([-1, d]);
    let subsets: Vec<(Vec<i64>, Vec<i64>)> = fx["subsets"]
        .as_array()
        .expect("subsets")
        .iter()
        .map(|s| (i64s(&s["real"]), i64s(&s["fake"])))
        .collect();
    let kid = kid_with_subsets(&real, &fake, &subsets).expect("kid");
    // float64 throughout: |x − y| ≤ 1e-12 + 1e-9·|y|.
    for (ours, theirs) in [
        (kid.mean, fx["mean"].as_f64().expect("mean")),
        (kid.std, fx["std"].as_f64().expect("std")),
    ] {
        assert!(
            (ours - theirs).abs() <= 1e-12 + 1e-9 * theirs.abs(),
            "{ours} vs {theirs}"
        );
    }
}

#[test]
fn inception_score_equals_numpy() {
    let fx = &read_fixture("metrics_reference.json")["is"];
    let logits = Tensor::from_slice(&f64s(&fx["logits"])).view([100, 10]);
    let score = inception_score(&logits, 10).expect("is");
    for (ours, theirs) in [
        (score.mean, fx["mean"].as_f64().expect("mean")),
        (score.std, fx["std"].as_f64().expect("std")),
    ] {
        assert!(
            (ours - theirs).abs() <= 1e-12 + 1e-9 * theirs.abs(),
            "{ours} vs {theirs}"
        );
    }
    let err = inception_score(&logits.narrow(0, 0, 5), 10).unwrap_err();
    assert!(err.to_string().contains("[N >= 10, classes]"), "{err}");
}

#[test]
fn frechet_distance_equals_scipy_sqrtm() {
    let fx = &read_fixture("metrics_reference.json")["frechet"];
    let d = fx["dim"].as_i64().expect("dim");
    let stats = |key: &str| {
        let mut s = FeatureStats::new(d);
        s.feed(&Tensor::from_slice(&f64s(&fx[key])).view([-1, d]))
            .expect("feed");
        s
    };
    let (s1, s2) = (stats("x1"), stats("x2"));
    let ours = frechet_distance(
        &s1.mean(),
        &s1.covariance().expect("cov"),
        &s2.mean(),
        &s2.covariance().expect("cov"),
    )
    .expect("fd");
    let theirs = fx["fd"].as_f64().expect("fd");
    // Eigendecompositions vs scipy's Schur-based sqrtm, float64: 1e-9 relative.
    assert!(
        (ours - theirs).abs() <= 1e-9 * theirs.abs(),
        "{ours} vs scipy {theirs}"
    );
}
