"""Checks a snapshot's generator in PyTorch (generators.load_generator) against the toolkit's
output on the same latents. Usage: generator_check.py SNAPSHOT CHECK, where CHECK is a
safetensors file with `z`, `y` (the toolkit's G(z)), for ProGAN `stage` = [level, alpha], and
for a conditional run `c` (the classes, int64).
Exits non-zero when |y_torch - y| > 1e-5 + 1e-4 |y| anywhere; prints the largest difference."""
import sys

import torch
from safetensors.torch import load_file

from generators import load_generator

snapshot, check = sys.argv[1], load_file(sys.argv[2])
g = load_generator(snapshot)
kwargs = {"c": check["c"]} if "c" in check else {}
with torch.no_grad():
    if "stage" in check:
        level, alpha = check["stage"].tolist()
        y = g(check["z"], int(level), float(alpha), **kwargs)
    else:
        y = g(check["z"], **kwargs)
expected = check["y"]
assert y.shape == expected.shape, (y.shape, expected.shape)
excess = ((y - expected).abs() - (1e-5 + 1e-4 * expected.abs())).max().item()
print(f"shape {tuple(y.shape)} largest difference {(y - expected).abs().max().item():.3e}")
sys.exit(0 if excess <= 0 else f"beyond 1e-5 + 1e-4|y| by {excess:.3e}")
