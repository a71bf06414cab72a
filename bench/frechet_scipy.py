"""Speed reference for the Fréchet distance: the `scipy.linalg.sqrtm` route of pytorch-fid's
`calculate_frechet_distance` (also what fid-helper-pytorch and torch-fidelity do), on float64
statistics.

    python bench/frechet_scipy.py --make-inputs DIR [--dim 2048 --n 4096 --seed 0]
    python bench/frechet_scipy.py --inputs DIR

--make-inputs writes mu1/sigma1/mu2/sigma2 .npy (float64) from two sets of ReLU features with
correlated dimensions (like Inception pool features); both sides of the benchmark read them.
Timing prints `value <distance>`, `calls_per_s <1/seconds>` and `peak_rss_mb`.
"""
import argparse
import os
import time

import numpy as np
import scipy.linalg

from benchlib import report


def make_inputs(out, dim, n, seed):
    rng = np.random.RandomState(seed)
    os.makedirs(out, exist_ok=True)
    for k, shift in ((1, 0.0), (2, 0.1)):
        mix = np.eye(dim, dtype=np.float32) + 0.02 * rng.randn(dim, dim).astype(np.float32)
        x = np.maximum(rng.randn(n, dim).astype(np.float32) @ mix + shift, 0).astype(np.float64)
        np.save(os.path.join(out, f"mu{k}.npy"), x.mean(0))
        np.save(os.path.join(out, f"sigma{k}.npy"), np.cov(x, rowvar=False))


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """pytorch-fid 0.3.0's calculate_frechet_distance."""
    diff = mu1 - mu2
    covmean, _ = scipy.linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--make-inputs")
    ap.add_argument("--inputs")
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.make_inputs:
        make_inputs(args.make_inputs, args.dim, args.n, args.seed)
        return
    stats = [np.load(os.path.join(args.inputs, f"{name}.npy")) for name in ("mu1", "sigma1", "mu2", "sigma2")]
    start = time.perf_counter()
    value = frechet_distance(*stats)
    seconds = time.perf_counter() - start
    report(value=f"{value:.17e}", calls_per_s=f"{1 / seconds:.6f}")


if __name__ == "__main__":
    main()
