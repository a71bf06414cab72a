//! Precision, recall, density, coverage and realism against the reference tools on fixed float64
//! feature files (`tests/reference/prdc_reference.py`: prdc 0.2, torch-fidelity 0.4.0 and the
//! authors' realism formula).

use ganlab_metrics::{manifold_metrics, ManifoldSettings};
use ganlab_tests::read_fixture;
use serde_json::Value;
use tch::{Kind, Tensor};

fn matrix(v: &Value) -> Tensor {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).expect("rows of numbers");
    let width = rows[0].len() as i64;
    let flat: Vec<f64> = rows.into_iter().flatten().collect();
    Tensor::from_slice(&flat).view([-1, width])
}

fn number(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

#[test]
fn manifold_metrics_equal_prdc_and_torch_fidelity() {
    let fx = read_fixture("prdc_reference.json");
    for name in ["gaussian", "clusters"] {
        let case = &fx[name];
        let (real, fake) = (matrix(&case["real"]), matrix(&case["fake"]));
        let (nr, nf) = (real.size()[0] as f64, fake.size()[0] as f64);
        // Float64 features: no tie can flip, the scores are the references' to rounding. Blocks of
        // 50 rows make the blocked code run on several blocks each way.
        let m = manifold_metrics(
            &real,
            &fake,
            ManifoldSettings {
                block: 50,
                ..Default::default()
            },
        )
        .expect("metrics");
        let close = |got: f64, want: f64, tol: f64, what: &str| {
            assert!((got - want).abs() <= tol, "{name} {what}: {got} vs {want}");
        };
        close(
            m.precision,
            number(&case["prdc_k3"]["precision"]),
            1e-12,
            "precision (prdc)",
        );
        close(
            m.recall,
            number(&case["prdc_k3"]["recall"]),
            1e-12,
            "recall (prdc)",
        );
        close(
            m.density,
            number(&case["prdc_k5"]["density"]),
            1e-12,
            "density (prdc)",
        );
        close(
            m.coverage,
            number(&case["prdc_k5"]["coverage"]),
            1e-12,
            "coverage (prdc)",
        );
        // torch-fidelity averages in float32.
        let tf = &case["torch_fidelity_k3"];
        close(
            m.precision,
            number(&tf["precision"]),
            1e-7,
            "precision (torch-fidelity)",
        );
        close(
            m.recall,
            number(&tf["recall"]),
            1e-7,
            "recall (torch-fidelity)",
        );
        // Realism: the authors' formula in numpy, float64.
        let want = matrix(&Value::Array(
            case["realism"]
                .as_array()
                .expect("realism")
                .iter()
                .map(|x| Value::Array(vec![x.clone()]))
                .collect(),
        ))
        .view([-1]);
        let diff = (&m.realism - &want).abs().max().double_value(&[]);
        let scale = want.abs().max().double_value(&[]);
        assert!(diff <= 1e-9 * scale, "{name} realism: max |diff| {diff}");
        // Float32 features (what Inception gives): a distance equal to a radius to float32
        // precision may fall either way, at most one sample per tie, 1/N of a score per tie.
        let m32 = manifold_metrics(
            &real.to_kind(Kind::Float),
            &fake.to_kind(Kind::Float),
            ManifoldSettings::default(),
        )
        .expect("metrics");
        close(
            m32.precision,
            m.precision,
            1.0 / nf + 1e-9,
            "float32 precision",
        );
        close(m32.recall, m.recall, 1.0 / nr + 1e-9, "float32 recall");
        close(
            m32.density,
            m.density,
            1.0 / (5.0 * nf) + 1e-6,
            "float32 density",
        );
        close(
            m32.coverage,
            m.coverage,
            1.0 / nr + 1e-9,
            "float32 coverage",
        );
    }
}
