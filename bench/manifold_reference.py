"""Speed reference for precision, recall, density and coverage on feature matrices: prdc 0.2
(`compute_prdc`, Naeem et al. 2020's code: whole distance matrices through scikit-learn) and
torch-fidelity 0.4.0 (`calculate_precision_recall_part`, k = 3, blocks of 10,000 rows).

    python bench/manifold_reference.py --make-inputs DIR [--n 10000 --dim 2048 --seed 0]
    python bench/manifold_reference.py --inputs DIR --tool prdc|torch-fidelity

--make-inputs writes real.npy and fake.npy (float32 ReLU features with correlated dimensions,
like Inception pool features; the fakes shifted); both sides of the benchmark read them.
Timing prints `value <precision>`, `density` (prdc), `calls_per_s <1/seconds>` and
`peak_rss_mb`.
"""
import argparse
import contextlib
import io
import os
import time

import numpy as np

from benchlib import report


def make_inputs(out, dim, n, seed):
    rng = np.random.RandomState(seed)
    os.makedirs(out, exist_ok=True)
    mix = np.eye(dim, dtype=np.float32) + 0.02 * rng.randn(dim, dim).astype(np.float32)
    for name, shift in (("real", 0.0), ("fake", 0.05)):
        x = np.maximum(rng.randn(n, dim).astype(np.float32) @ mix + shift, 0).astype(np.float32)
        np.save(os.path.join(out, f"{name}.npy"), x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--make-inputs")
    ap.add_argument("--inputs")
    ap.add_argument("--tool", choices=["prdc", "torch-fidelity"], default="prdc")
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.make_inputs:
        make_inputs(args.make_inputs, args.dim, args.n, args.seed)
        return
    real = np.load(os.path.join(args.inputs, "real.npy"))
    fake = np.load(os.path.join(args.inputs, "fake.npy"))
    if args.tool == "prdc":
        from prdc import compute_prdc
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            out = compute_prdc(real, fake, nearest_k=5)
        seconds = time.perf_counter() - start
        report(value=f"{out['precision']:.6f}", density=f"{out['density']:.6f}",
               coverage=f"{out['coverage']:.6f}", calls_per_s=f"{1 / seconds:.6f}")
    else:
        import torch
        from torch_fidelity.metric_prc import calculate_precision_recall_part
        r, f = torch.from_numpy(real), torch.from_numpy(fake)
        start = time.perf_counter()
        precision, recall = calculate_precision_recall_part(f, r, 3, 10000)
        seconds = time.perf_counter() - start
        report(value=f"{precision:.6f}", recall=f"{recall:.6f}", calls_per_s=f"{1 / seconds:.6f}")


if __name__ == "__main__":
    main()
