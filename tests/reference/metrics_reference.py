"""numpy / scipy references for SWD, KID, IS and the Fréchet distance.

Run with the set-up venv:  .venv/bin/python tests/reference/metrics_reference.py
Writes tests/fixtures/metrics_reference.json. The SWD code (progan_swd.py)
follows ProGAN's metrics/sliced_wasserstein.py step for step (pyramid with scipy.ndimage.convolve
in mirror mode, 7x7 neighbourhoods, per-set per-channel normalisation, sorted projections); its
random draws (neighbourhood positions, directions) are saved so that the Rust side can use the
same ones.
"""
import json
import os

import numpy as np
import scipy.linalg

from progan_swd import descriptors as progan_descriptors, finalize, laplacian_pyramid, sliced_wasserstein

rng = np.random.RandomState(1234)

out = {}
N, NHOODS = 6, 128
A = rng.randint(0, 256, size=(N, 3, 32, 32)).astype(np.uint8)
B = np.clip(A.astype(np.int32) + rng.randint(-40, 41, size=A.shape), 0, 255).astype(np.uint8)
swd = {"a": A.reshape(-1).tolist(), "b": B.reshape(-1).tolist(), "shape": list(A.shape), "levels": []}
pa, pb = laplacian_pyramid(A, 2), laplacian_pyramid(B, 2)
for lvl in range(2):
    da, ya, xa = progan_descriptors(pa[lvl], NHOODS, rng)
    db, yb, xb = progan_descriptors(pb[lvl], NHOODS, rng)
    fa, fb = finalize(da), finalize(db)
    dirs_list = []
    for _ in range(4):
        d = rng.randn(fa.shape[1], 16)
        d /= np.sqrt(np.sum(np.square(d), axis=0, keepdims=True))
        dirs_list.append(d.astype(np.float32))
    swd["levels"].append({
        "pyramid_a": pa[lvl].reshape(-1).tolist(),
        "ya": ya, "xa": xa, "yb": yb, "xb": xb,
        "dirs": [d.reshape(-1).tolist() for d in dirs_list],
        "swd_x1e3": sliced_wasserstein(fa, fb, dirs_list) * 1e3,
    })
out["swd"] = swd

# KID: StyleGAN2-ADA's formula per subset, with the subsets saved.
f_real = rng.randn(40, 16)
f_fake = rng.randn(50, 16) * 1.1 + 0.2
m, d = 30, 16
subsets, values = [], []
for _ in range(3):
    fi = rng.choice(50, m, replace=False)
    ri = rng.choice(40, m, replace=False)
    x, y = f_fake[fi], f_real[ri]
    a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
    b = (x @ y.T / d + 1) ** 3
    values.append(((a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m) / m)
    subsets.append({"real": ri.tolist(), "fake": fi.tolist()})
out["kid"] = {"real": f_real.reshape(-1).tolist(), "fake": f_fake.reshape(-1).tolist(), "dim": d,
              "subsets": subsets, "mean": float(np.mean(values)), "std": float(np.std(values))}

# IS over 10 splits (Salimans et al. 2016; the formula of the original inception_score.py).
logits = rng.randn(100, 10) * 2
p = np.exp(logits - logits.max(1, keepdims=True))
p /= p.sum(1, keepdims=True)
scores = []
for k in range(10):
    part = p[k * 10:(k + 1) * 10]
    py = np.mean(part, 0, keepdims=True)
    kl = part * (np.log(part) - np.log(py))
    scores.append(np.exp(np.mean(np.sum(kl, 1))))
out["is"] = {"logits": logits.reshape(-1).tolist(), "mean": float(np.mean(scores)), "std": float(np.std(scores))}

# Fréchet distance with scipy.linalg.sqrtm, 64-d.
x1 = rng.randn(200, 64)
x2 = rng.randn(200, 64) @ (np.eye(64) + 0.1 * rng.randn(64, 64)) + 0.3
mu1, mu2 = x1.mean(0), x2.mean(0)
s1, s2 = np.cov(x1, rowvar=False), np.cov(x2, rowvar=False)
covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
fd = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(covmean)))
out["frechet"] = {"x1": x1.reshape(-1).tolist(), "x2": x2.reshape(-1).tolist(), "dim": 64, "fd": fd}

path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "metrics_reference.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", os.path.normpath(path))
