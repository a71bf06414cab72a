"""Reference outputs of ProGAN's layers, written in PyTorch from the official TensorFlow code
(tkarras/progressive_growing_of_gans, networks.py: get_weight with use_wscale, pixel_norm,
minibatch_stddev_layer, upscale2d, downscale2d).

Run with the set-up venv:  .venv/bin/python tests/reference/progan_layers_reference.py
Writes tests/fixtures/progan_layers_reference.json.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(2018)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def eq_conv(x, w, b, gain):
    # get_weight: std = gain / sqrt(fan_in), fan_in = prod(kernel shape[:-1]) = k*k*c_in
    fan_in = w.shape[1] * w.shape[2] * w.shape[3]
    return F.conv2d(x, w * (gain / math.sqrt(fan_in)), b, padding=w.shape[2] // 2)


def eq_dense(x, w, b, gain):
    return F.linear(x, w * (gain / math.sqrt(w.shape[1])), b)


def pixel_norm(x, eps=1e-8):
    return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + eps)


def minibatch_stddev(x, group_size=4):
    # Official: y = reshape(x, [G, -1, C, H, W]); y -= mean(y, 0); y = mean(square(y), 0);
    # y = sqrt(y + 1e-8); y = mean(y, [1, 2, 3], keepdims); y = tile(y, [G, 1, H, W]); concat.
    n, c, h, w = x.shape
    g = min(group_size, n)
    y = x.reshape(g, -1, c, h, w)
    y = y - y.mean(dim=0, keepdim=True)
    y = (y * y).mean(dim=0)
    y = torch.sqrt(y + 1e-8)
    y = y.mean(dim=[1, 2, 3], keepdim=True)
    y = y.repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


x = torch.randn(8, 5, 6, 6)
w3 = torch.randn(7, 5, 3, 3)
b3 = torch.randn(7)
w1 = torch.randn(3, 5, 1, 1)
wd = torch.randn(4, 5 * 6 * 6)
bd = torch.randn(4)
out = {
    "x": flat(x), "x_shape": list(x.shape),
    "conv3": {"weight": flat(w3), "weight_shape": list(w3.shape), "bias": flat(b3),
              "out_gain_sqrt2": flat(eq_conv(x, w3, b3, math.sqrt(2)))},
    "conv1": {"weight": flat(w1), "weight_shape": list(w1.shape),
              "out_gain_1_nobias": flat(eq_conv(x, w1, None, 1.0))},
    "dense": {"weight": flat(wd), "weight_shape": list(wd.shape), "bias": flat(bd),
              "out_gain_sqrt2_over_4": flat(eq_dense(x.reshape(8, -1), wd, bd, math.sqrt(2) / 4))},
    "pixel_norm": flat(pixel_norm(x)),
    "mbstd_4": flat(minibatch_stddev(x, 4)),
    "mbstd_16": flat(minibatch_stddev(x, 16)),
    "upscale2d": flat(F.interpolate(x, scale_factor=2, mode="nearest")),
    "downscale2d": flat(F.avg_pool2d(x, 2)),
}
path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "progan_layers_reference.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", os.path.normpath(path))
