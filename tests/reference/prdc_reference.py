"""Precision, recall, density, coverage and realism on fixed feature files, by the reference tools.

Run with the set-up venv:  .venv/bin/python tests/reference/prdc_reference.py
Writes tests/fixtures/prdc_reference.json: float64 features (seeded numpy draws) and what
- prdc==0.2 (Naeem et al. 2020; clovaai/generative-evaluation-prdc) gives:
  `compute_prdc(nearest_k=5)` for density and coverage, `compute_prdc(nearest_k=3)` for precision
  and recall (prdc compares with a strict `<`);
- torch-fidelity 0.4.0's k = 3 precision and recall (`calculate_precision_recall_part` with
  batches of 64, so that its block code runs, and `_full`), which compare with `<=`;
- the realism score of Kynkäänniemi et al. 2019, §5, as the authors' code computes it
  (NVlabs/stylegan2-ada's precision-recall `ManifoldEstimator`: k = 3 radii, those above the 50th
  percentile set to 0, max over reals of radius / (distance + 1e-5)), transcribed in numpy here
  because no PyPI package ships it.
"""
import contextlib
import io
import json
import os

import numpy as np
import torch
from prdc import compute_prdc
from torch_fidelity.metric_prc import calculate_precision_recall_full, calculate_precision_recall_part


def realism(real, fake, k=3):
    d_rr = np.sqrt(((real[:, None, :] - real[None, :, :]) ** 2).sum(-1))
    radii = np.sort(d_rr, axis=1)[:, k]  # the k-th neighbour, itself (0) at index 0
    radii = radii.copy()
    radii[radii > np.percentile(radii, 50)] = 0
    d_fr = np.sqrt(((fake[:, None, :] - real[None, :, :]) ** 2).sum(-1))
    return np.max(radii[None, :] / (d_fr + 1e-5), axis=1)


def case(real, fake):
    quiet = io.StringIO()  # prdc prints the counts
    with contextlib.redirect_stdout(quiet):
        k5 = compute_prdc(real, fake, nearest_k=5)
        k3 = compute_prdc(real, fake, nearest_k=3)
    # torch-fidelity's convention: features_1 is generated, features_2 real.
    tf_part = calculate_precision_recall_part(torch.from_numpy(fake), torch.from_numpy(real), 3, 64)
    tf_full = calculate_precision_recall_full(torch.from_numpy(fake), torch.from_numpy(real), 3, 64)
    assert tf_part == tf_full
    return {
        "real": real.tolist(),
        "fake": fake.tolist(),
        "prdc_k5": {key: float(v) for key, v in k5.items()},
        "prdc_k3": {key: float(v) for key, v in k3.items()},
        "torch_fidelity_k3": {"precision": tf_part[0], "recall": tf_part[1]},
        "realism": realism(real, fake).tolist(),
    }


rng = np.random.RandomState(2020)
D = 12
out = {"versions": {"prdc": "0.2", "torch_fidelity": "0.4.0", "numpy": np.__version__}}
# Gaussians: fakes shifted and wider than the reals.
out["gaussian"] = case(rng.randn(160, D), 0.3 + 1.3 * rng.randn(140, D))
# Ten clusters; the fakes miss three of them and scatter a quarter of their samples between
# clusters (mode collapse and over-generalization at once).
centres = 6.0 * rng.randn(10, D)
real = centres[rng.randint(0, 10, 170)] + rng.randn(170, D)
kept = centres[rng.randint(0, 7, 150)] + rng.randn(150, D)
kept[:38] = 4.0 * rng.randn(38, D)
out["clusters"] = case(real, kept)

path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "prdc_reference.json")
with open(path, "w") as f:
    json.dump(out, f)
for name in ("gaussian", "clusters"):
    c = out[name]
    print(name, c["prdc_k3"]["precision"], c["prdc_k3"]["recall"], c["prdc_k5"]["density"], c["prdc_k5"]["coverage"], c["torch_fidelity_k3"])
