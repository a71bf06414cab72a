"""Writes a half-precision copy of the FID detector for carrying to the GPU machine (the 87 MB
float32 file is over the carry limit; this one is about 44 MB). bench/gpu-check.sh
--half-detector casts it back to float32 there, so only the speed of feature extraction, not its
values, is measured with it.

    python bench/make_half_detector.py [SRC] [DST]
"""
import os
import sys

import torch

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "datasets", "cache", "detectors", "inception-2015-12-05.pt")
dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "datasets", "cache", "detectors", "inception-2015-12-05-fp16.pt")
module = torch.jit.load(src, map_location="cpu")
module.half()
tmp = dst + ".tmp"
module.save(tmp)
os.replace(tmp, dst)
print(dst, os.path.getsize(dst) // 2**20, "MiB")
