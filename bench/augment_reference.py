"""Speed reference for the augmentation of D's inputs: one call forward and backward (the sum of
the augmented batch) on a batch of random RGB images.

    python bench/augment_reference.py --augment diffaugment|ada --resolution R --batch N
        [--calls 10 --warmup 2 --p 0.5]

diffaugment: the authors' DiffAugment_pytorch.py formulas (color, translation, cutout), from
tests/reference/diffaugment_reference.py. ada: the "bgc" pipeline of Karras et al. 2020 written
with PyTorch operators the way StyleGAN2-ADA's augment.py runs on a CPU (its upfirdn2d falls back
to the reference path there: zeros inserted, then a grouped convolution per axis): transform
matrices, reflection padding, 2x sym6 upsampling, affine_grid + grid_sample, 2x sym6
downsampling, the 4x4 colour matrix; each op with probability p. Prints `calls_per_s`.
"""
import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

from benchlib import calls_per_s, report

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "reference"))
from diffaugment_reference import DiffAugment  # noqa: E402
from ada_reference import SYM6  # noqa: E402


def upfirdn2d(x, f, up, down, pad, flip, gain):
    n, c, h, w = x.shape
    x = x.reshape(n, c, h, 1, w, 1)
    x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x0, x1, y0, y1 = pad
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0): x.shape[2] - max(-y1, 0), max(-x0, 0): x.shape[3] - max(-x1, 0)]
    f = f * gain ** 0.5
    if not flip:
        f = f.flip(0)
    fx = f.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    fy = f.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    x = F.conv2d(F.conv2d(x, fx, groups=c), fy, groups=c)
    return x[:, :, ::down, ::down]


def m3(entries):
    return torch.stack(entries, -1).reshape(-1, 3, 3)


def translate(tx, ty):
    o, z = torch.ones_like(tx), torch.zeros_like(tx)
    return m3([o, z, tx, z, o, ty, z, z, o])


def scale(sx, sy):
    o, z = torch.ones_like(sx), torch.zeros_like(sx)
    return m3([sx, z, z, z, sy, z, z, z, o])


def rotate(t):
    o, z = torch.ones_like(t), torch.zeros_like(t)
    return m3([t.cos(), -t.sin(), z, t.sin(), t.cos(), z, z, z, o])


def ada(x, p):
    n, c, h, w = x.shape
    u = lambda *s: torch.rand(*s)  # noqa: E731
    gate = lambda v, s, other, q=p: torch.where(u(*s) < q, v, other)  # noqa: E731
    zeros, ones = torch.zeros(n), torch.ones(n)
    g = torch.eye(3).repeat(n, 1, 1)
    i = gate(torch.floor(u(n) * 2), [n], zeros)
    g = g @ scale(1 / (1 - 2 * i), ones)
    i = gate(torch.floor(u(n) * 4), [n], zeros)
    g = g @ rotate(i * math.pi / 2)
    t = gate((u(n, 2) * 2 - 1) * 0.125, [n, 1], torch.zeros(n, 2))
    g = g @ translate(-torch.round(t[:, 0] * w), -torch.round(t[:, 1] * h))
    s = gate(torch.exp2(torch.randn(n) * 0.2), [n], ones)
    g = g @ scale(1 / s, 1 / s)
    p_rot = 1 - math.sqrt(min(max(1 - p, 0), 1))
    g = g @ rotate(gate((u(n) * 2 - 1) * math.pi, [n], zeros, p_rot))
    s = gate(torch.exp2(torch.randn(n) * 0.2), [n], ones)
    g = g @ scale(1 / s, s)
    g = g @ rotate(gate((u(n) * 2 - 1) * math.pi, [n], zeros, p_rot))
    t = gate(torch.randn(n, 2) * 0.125, [n, 1], torch.zeros(n, 2))
    g = g @ translate(-t[:, 0] * w, -t[:, 1] * h)
    # Execution (Karras et al. 2020, Appendix B.1).
    f = torch.tensor(SYM6, dtype=torch.float32)
    f = f / f.sum()
    cx, cy = (w - 1) / 2, (h - 1) / 2
    corners = torch.tensor([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]]).t()
    cp = g @ corners
    xs, ys = cp[:, 0].flatten(), cp[:, 1].flatten()
    margin = torch.stack([(-xs).max(), (-ys).max(), xs.max(), ys.max()])
    margin = margin + torch.tensor([6 - cx, 6 - cy] * 2)
    margin = margin.clamp(min=0).minimum(torch.tensor([w - 1, h - 1] * 2, dtype=torch.float32))
    mx0, my0, mx1, my1 = [int(v) for v in margin.ceil()]
    x = F.pad(x, [mx0, mx1, my0, my1], mode="reflect")
    g = translate(torch.full([n], (mx0 - mx1) / 2), torch.full([n], (my0 - my1) / 2)) @ g
    x = upfirdn2d(x, f, 2, 1, [6, 5, 6, 5], False, 4.0)
    g = scale(torch.full([n], 2.0), torch.full([n], 2.0)) @ g @ scale(torch.full([n], 0.5), torch.full([n], 0.5))
    g = translate(torch.full([n], -0.5), torch.full([n], -0.5)) @ g @ translate(torch.full([n], 0.5), torch.full([n], 0.5))
    out = [n, c, (h + 6) * 2, (w + 6) * 2]
    g = scale(torch.full([n], 2 / x.shape[3]), torch.full([n], 2 / x.shape[2])) @ g @ scale(
        torch.full([n], out[3] / 2), torch.full([n], out[2] / 2))
    grid = F.affine_grid(g[:, :2, :], out, align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    x = upfirdn2d(x, f, 1, 2, [-1, -1, -1, -1], True, 1.0)
    # Colour.
    C = torch.eye(4).repeat(n, 1, 1)
    b = gate(torch.randn(n) * 0.2, [n], zeros)
    T = torch.eye(4).repeat(n, 1, 1)
    T[:, :3, 3] = b[:, None]
    C = T @ C
    k = gate(torch.exp2(torch.randn(n) * 0.5), [n], ones)
    S = torch.diag_embed(torch.stack([k, k, k, ones], 1))
    C = S @ C
    v = torch.tensor([1, 1, 1, 0.0]) / math.sqrt(3)
    vv = torch.outer(v, v)
    i = gate(torch.floor(u(n, 1, 1) * 2), [n, 1, 1], torch.zeros(n, 1, 1))
    C = (torch.eye(4) - 2 * vv * i) @ C
    theta = gate((u(n) * 2 - 1) * math.pi, [n], zeros)
    a = 1 / math.sqrt(3)
    s_, c_ = theta.sin(), theta.cos()
    cc = 1 - c_
    d, pl, mi = cc * a * a + c_, cc * a * a + s_ * a, cc * a * a - s_ * a
    R = torch.zeros(n, 4, 4)
    R[:, 0, 0], R[:, 0, 1], R[:, 0, 2] = d, mi, pl
    R[:, 1, 0], R[:, 1, 1], R[:, 1, 2] = pl, d, mi
    R[:, 2, 0], R[:, 2, 1], R[:, 2, 2] = mi, pl, d
    R[:, 3, 3] = 1
    C = R @ C
    sat = gate(torch.exp2(torch.randn(n, 1, 1)), [n, 1, 1], torch.ones(n, 1, 1))
    C = (vv + (torch.eye(4) - vv) * sat) @ C
    flat = x.reshape(n, c, h * w)
    flat = C[:, :3, :3] @ flat + C[:, :3, 3:]
    return flat.reshape(n, c, h, w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--augment", choices=["diffaugment", "ada"], required=True)
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--p", type=float, default=0.5)
    a = ap.parse_args()
    torch.manual_seed(0)
    x = (torch.rand(a.batch, 3, a.resolution, a.resolution) * 2 - 1).requires_grad_(True)

    def call(_):
        y = DiffAugment(x, "color,translation,cutout") if a.augment == "diffaugment" else ada(x, a.p)
        y.sum().backward()

    rate = calls_per_s(call, a.calls, a.warmup, torch.device("cpu"))
    report(calls_per_s=f"{rate:.4f}")


if __name__ == "__main__":
    main()
