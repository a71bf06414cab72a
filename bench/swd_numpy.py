"""Speed reference for SWD: ProGAN's sliced Wasserstein distance in numpy
(tests/reference/progan_swd.py, the algorithm of the official metrics/sliced_wasserstein.py).

    python bench/swd_numpy.py --make-inputs DIR [--n 1024 --resolution 64 --seed 0]
    python bench/swd_numpy.py --inputs DIR

--make-inputs writes a.npy and b.npy: uint8 [N, 3, R, R] sets of smooth random images (b a
little blurrier than a); both sides of the benchmark read them. Timing prints `value` (the
average SWD x1e3; the random draws differ from the toolkit's, so values agree only
statistically), `calls_per_s` and `peak_rss_mb`.
"""
import argparse
import os
import sys
import time

import numpy as np
import scipy.ndimage

from benchlib import report

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from progan_swd import swd  # noqa: E402


def make_inputs(out, n, resolution, seed):
    rng = np.random.RandomState(seed)
    os.makedirs(out, exist_ok=True)
    for name, sigma in (("a", 1.5), ("b", 2.0)):
        noise = rng.randn(n, 3, resolution, resolution).astype(np.float32)
        smooth = scipy.ndimage.gaussian_filter(noise, sigma=(0, 0, sigma, sigma))
        smooth /= smooth.std()
        np.save(os.path.join(out, f"{name}.npy"), np.clip(128 + 50 * smooth, 0, 255).astype(np.uint8))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--make-inputs")
    ap.add_argument("--inputs")
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.make_inputs:
        make_inputs(args.make_inputs, args.n, args.resolution, args.seed)
        return
    a, b = np.load(os.path.join(args.inputs, "a.npy")), np.load(os.path.join(args.inputs, "b.npy"))
    start = time.perf_counter()
    per_level = swd(a, b, np.random.RandomState(args.seed))
    seconds = time.perf_counter() - start
    report(value=f"{np.mean(per_level):.6f}", calls_per_s=f"{1 / seconds:.6f}")


if __name__ == "__main__":
    main()
