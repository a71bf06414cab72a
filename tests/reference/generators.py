"""A trained generator of the toolkit in PyTorch: a run directory's newest snapshot (or a given
snapshot) loaded into the PyTorch definition of the same network, G's moving average where the
run keeps one.

    import sys, torch; sys.path.insert(0, "tests/reference")
    from generators import load_generator
    G = load_generator("runs/0001-dcgan32-mnist-nonsaturating")   # or a snapshot-*.safetensors
    images = G(torch.randn(16, G.z_dim))                            # [16, C, R, R] in [-1, 1]
    eights = G(torch.randn(16, G.z_dim), c=torch.full((16,), 8))     # a `--cond` run: class 8

A conditional run's G (`--cond`, `G.classes` > 0) takes the classes `c` (int64 [N]) as a
keyword: DCGAN-32's is `conditional_reference.CondG` (a class embedding concatenated to z),
ProGAN's concatenates its `class_embed` rows to z before normalising the latents.

DCGAN-32 is `dcgan32_reference.G` and SNGAN-32 `sngan32_reference.G` (their state_dict keys are
the toolkit's parameter names).
ProGAN's G follows the official code (tkarras/progressive_growing_of_gans, networks.py `G_paper`
with use_wscale, pixel_norm, normalize_latents, fused_scale off), the same blocks as
crates/ganlab-progan/src/networks.rs; `G(z, level, alpha)` runs a stage of the schedule (default:
the final resolution).
"""
import glob
import json
import math
import os

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from dcgan32_reference import G as Dcgan32G
from conditional_reference import CondG as ConditionalDcgan32G
from sngan32_reference import G as Sngan32G


def pixel_norm(x, eps=1e-8):
    return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + eps)


class ProganG(torch.nn.Module):
    """ProGAN's generator; `weights` maps the toolkit's names (`b4.dense.weight`, `b8.conv0.bias`,
    `to_rgb8.weight`, ...) to tensors."""

    def __init__(self, weights, resolution, z_dim):
        super().__init__()
        self.w, self.z_dim = weights, z_dim
        self.max_level = int(math.log2(resolution))
        self.classes = weights["class_embed.weight"].shape[0] if "class_embed.weight" in weights else 0

    def _conv(self, x, name, gain=math.sqrt(2)):
        w = self.w[f"{name}.weight"]
        scale = gain / math.sqrt(w.shape[1] * w.shape[2] * w.shape[3])  # equalized lr: He / fan-in
        return F.conv2d(x, w * scale, self.w[f"{name}.bias"], padding=w.shape[2] // 2)

    def _block(self, level, x):
        act = lambda t: F.leaky_relu(t, 0.2)
        res = 2 ** level
        if level == 2:
            w = self.w["b4.dense.weight"]
            # The dense layer's gain is sqrt(2)/4 "to match the original Theano implementation".
            x = F.linear(pixel_norm(x), w * (math.sqrt(2) / 4 / math.sqrt(w.shape[1])), self.w["b4.dense.bias"])
            x = pixel_norm(act(x.view(x.shape[0], -1, 4, 4)))
            return pixel_norm(act(self._conv(x, "b4.conv")))
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = pixel_norm(act(self._conv(x, f"b{res}.conv0")))
        return pixel_norm(act(self._conv(x, f"b{res}.conv1")))

    def _to_rgb(self, level, x):
        return self._conv(x, f"to_rgb{2 ** level}", gain=1.0)

    def forward(self, z, level=None, alpha=1.0, c=None):
        level = self.max_level if level is None else level
        if self.classes:
            z = torch.cat([z, self.w["class_embed.weight"][c]], 1)
        x = self._block(2, z)
        for lv in range(3, level + 1):
            if lv == level and alpha < 1.0:
                old = F.interpolate(self._to_rgb(lv - 1, x), scale_factor=2, mode="nearest")
                new = self._to_rgb(lv, self._block(lv, x))
                return old + (new - old) * alpha
            x = self._block(lv, x)
        return self._to_rgb(level, x)


def load_generator(path):
    """The generator of a run directory (its newest snapshot) or of a snapshot file, in eval
    mode, built as the run's config.json describes."""
    if os.path.isdir(path):
        snapshots = sorted(glob.glob(os.path.join(path, "snapshot-kimg*.safetensors")))
        if not snapshots:
            raise FileNotFoundError(f"{path}: no snapshot-kimg*.safetensors")
        path = snapshots[-1]
    with open(os.path.join(os.path.dirname(path), "config.json")) as f:
        config = json.load(f)
    tensors = load_file(path)
    section = "G_ema." if any(k.startswith("G_ema.") for k in tensors) else "G."
    weights = {k[len(section):]: v for k, v in tensors.items() if k.startswith(section)}
    classes = (config.get("classes") or 0) if config.get("cond") else 0
    if config["arch"] == "dcgan32" and classes:
        g = ConditionalDcgan32G(config["z_dim"], config["width"], config["channels"], classes)
        missing, unexpected = g.load_state_dict(weights, strict=False)
        if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
            raise ValueError(f"{path}: parameters differ from DCGAN-32's: {missing} {unexpected}")
    elif config["arch"] == "dcgan32":
        g = Dcgan32G(config["z_dim"], config["width"], config["channels"])
        missing, unexpected = g.load_state_dict(weights, strict=False)
        if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
            raise ValueError(f"{path}: parameters differ from DCGAN-32's: {missing} {unexpected}")
    elif config["arch"] == "sngan32":
        g = Sngan32G(config["z_dim"], config["width"], config["channels"])
        missing, unexpected = g.load_state_dict(weights, strict=False)
        if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
            raise ValueError(f"{path}: parameters differ from SNGAN-32's: {missing} {unexpected}")
    elif config["arch"] == "progan":
        g = ProganG(weights, config["resolution"], config["z_dim"])
    else:
        raise ValueError(f"{path}: arch {config['arch']!r} has no PyTorch definition here")
    g.classes = classes
    return g.eval()
