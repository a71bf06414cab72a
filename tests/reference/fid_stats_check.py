"""FID statistics files (`gan eval --save-stats`) read by numpy, and FID computed from two of them
as pytorch-fid computes it (`calculate_frechet_distance`: scipy's sqrtm of the covariance
product). Also writes the first file again with np.savez_compressed (pytorch-fid's and
clean-fid's own writer) and in float32, for the toolkit to read back.

usage: fid_stats_check.py A.npz B.npz OUT_DIR  ->  prints {"fid": ..., ...} as JSON
"""
import json
import os
import sys

import numpy as np

# pytorch-fid 0.3.0's calculate_frechet_distance, as the Fréchet benchmark runs it.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
from frechet_scipy import frechet_distance  # noqa: E402


def main():
    a_path, b_path, out = sys.argv[1:4]
    a, b = np.load(a_path), np.load(b_path)
    for f in (a, b):
        # The toolkit's files also record the resize they were measured with (its name's bytes).
        assert sorted(f.files) == ["ganlab_resize", "mu", "sigma"], f.files
        assert bytes(f["ganlab_resize"]).decode() == "nv-bilinear"
        assert f["mu"].dtype == np.float64 and f["sigma"].dtype == np.float64
        d = f["mu"].shape[0]
        assert f["mu"].shape == (d,) and f["sigma"].shape == (d, d)
        assert np.allclose(f["sigma"], f["sigma"].T)
    np.savez_compressed(f"{out}/a-compressed.npz", mu=a["mu"], sigma=a["sigma"])
    np.savez(f"{out}/a-float32.npz", mu=a["mu"].astype(np.float32), sigma=a["sigma"].astype(np.float32))
    print(json.dumps({
        "fid": float(frechet_distance(a["mu"], a["sigma"], b["mu"], b["sigma"])),
        "dim": int(a["mu"].shape[0]),
    }))


if __name__ == "__main__":
    main()
