"""Speed reference for SWD: ProGAN's sliced Wasserstein distance in numpy
(tests/reference/progan_swd.py, the algorithm of the official metrics/sliced_wasserstein.py).

    python bench/swd_numpy.py --make-inputs DIR [--n 1024 --resolution 64 --seed 0]
    python bench/swd_numpy.py --inputs DIR [--phases]

--make-inputs writes a.npy and b.npy: uint8 [N, 3, R, R] sets of smooth random images (b a
little blurrier than a); both sides of the benchmark read them. Timing prints `value` (the
average SWD x1e3; the random draws differ from the toolkit's, so values agree only
statistically), `calls_per_s` and `peak_rss_mb`. --phases also times each phase in a second
call (`ms_<phase>` lines, milliseconds per call, the phases of `gan bench swd --phases`).
"""
import argparse
import os
import sys
import time

import numpy as np
import scipy.ndimage

from benchlib import report

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
import progan_swd  # noqa: E402
from progan_swd import swd  # noqa: E402


def make_inputs(out, n, resolution, seed):
    rng = np.random.RandomState(seed)
    os.makedirs(out, exist_ok=True)
    for name, sigma in (("a", 1.5), ("b", 2.0)):
        noise = rng.randn(n, 3, resolution, resolution).astype(np.float32)
        smooth = scipy.ndimage.gaussian_filter(noise, sigma=(0, 0, sigma, sigma))
        smooth /= smooth.std()
        np.save(os.path.join(out, f"{name}.npy"), np.clip(128 + 50 * smooth, 0, 255).astype(np.uint8))


def swd_phases(a, b, rng, minibatch=256, nhoods_per_image=128):
    """progan_swd.swd with a clock read between its phases: (per-level values, seconds per phase).
    The same calls in the same order, so the same values for the same random state."""
    seconds = {name: 0.0 for name in ("read", "pyramid", "gather", "normalize", "project", "sort")}
    last = [time.perf_counter()]

    def lap(name):
        now = time.perf_counter()
        seconds[name] += now - last[0]
        last[0] = now

    if a.shape[1] == 1:
        a, b = np.repeat(a, 3, axis=1), np.repeat(b, 3, axis=1)
    levels = len(progan_swd.resolutions(a.shape[2]))
    per_set = []
    for images in (a, b):
        parts = [[] for _ in range(levels)]
        for start in range(0, images.shape[0], minibatch):
            batch = np.float32(images[start:start + minibatch])
            lap("read")
            pyramid = progan_swd.laplacian_pyramid(batch, levels)
            lap("pyramid")
            for lod, level in enumerate(pyramid):
                parts[lod].append(progan_swd.descriptors(level, nhoods_per_image, rng)[0])
            lap("gather")
        per_set.append([progan_swd.finalize(np.concatenate(p, axis=0)) for p in parts])
        lap("normalize")
    out = []
    for da, db in zip(*per_set):
        results = []
        for dirs in progan_swd.random_directions(da.shape[1], rng):
            lap("sort")
            pa, pb = np.matmul(da, dirs), np.matmul(db, dirs)
            lap("project")
            results.append(np.mean(np.abs(np.sort(pa, axis=0) - np.sort(pb, axis=0))))
        lap("sort")
        out.append(float(np.mean(results)) * 1e3)
    return out, seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--make-inputs")
    ap.add_argument("--inputs")
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--phases", action="store_true", help="also time each phase (ms_<phase> lines)")
    args = ap.parse_args()
    if args.make_inputs:
        make_inputs(args.make_inputs, args.n, args.resolution, args.seed)
        return
    a, b = np.load(os.path.join(args.inputs, "a.npy")), np.load(os.path.join(args.inputs, "b.npy"))
    start = time.perf_counter()
    per_level = swd(a, b, np.random.RandomState(args.seed))
    seconds = time.perf_counter() - start
    phases = {}
    if args.phases:
        again, spent = swd_phases(a, b, np.random.RandomState(args.seed))
        if not np.allclose(again, per_level, rtol=1e-6):
            sys.exit(f"swd_numpy.py: the timed phases gave {again}, the plain call {per_level}")
        phases = {f"ms_{name}": f"{t * 1e3:.1f}" for name, t in spent.items()}
    report(value=f"{np.mean(per_level):.6f}", **phases, calls_per_s=f"{1 / seconds:.6f}")


if __name__ == "__main__":
    main()
