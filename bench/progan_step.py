"""PyTorch side of the ProGAN training-step benchmark: exactly the computation of
`gan bench train-step --arch progan` (crates/ganlab-progan, a translation of the official
networks.py of Karras et al. 2018): equalized-lr convs and dense layers, pixel norm, minibatch
stddev (group 4), nearest upsampling / average-pool downsampling, toRGB/fromRGB fade-in at α;
one WGAN-GP D update (λ 10, per-sample ε, drift 0.001) on faded reals, one G update with D's
weights frozen, G's moving average (β 0.999); Adam (0.001, (0, 0.99), 1e-8).

    python bench/progan_step.py --resolution 32 --phase fade --steps 20 [--channels-last]
    python bench/progan_step.py --resolution 8 --fmap-base 32 --fmap-max 16 --batch 8 --replay DIR --steps 3
    python bench/progan_step.py ... --precision bf16 --reduced-precision-resolutions 1
    python bench/progan_step.py ... --precision fp16 --reduced-precision-resolutions 4 --conv-clamp 256

Prints `steps_per_s <value>` and `peak_rss_mb <value>`. --replay DIR loads the initial weights
and batches that `gan bench losses --arch progan --dump DIR` wrote and prints `step i loss_d
loss_g` for each, the generator seeded with 1000 + i before step i as the toolkit does (WGAN-GP's
ε is the step's only draw).
"""
import argparse
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from benchlib import PhaseClock, calls_per_s, no_lap, report


class EqConv(nn.Module):
    def __init__(self, cin, cout, k, gain=math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale, self.pad = gain / math.sqrt(cin * k * k), k // 2

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.pad)


class EqLinear(nn.Module):
    def __init__(self, cin, cout, gain=math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = gain / math.sqrt(cin)

    def forward(self, x):
        return F.linear(x, self.weight * self.scale, self.bias)


# --conv-clamp X: every feature-map layer's output (G's dense 4x4 layer, the convolutions, toRGB)
# clamped to ±X after its activation, D's dense layers not (StyleGAN2-ADA's conv_clamp).
CONV_CLAMP = None


def clamp(x):
    return x if CONV_CLAMP is None else x.clamp(-CONV_CLAMP, CONV_CLAMP)


def act(x):
    """A feature-map layer's activation (leaky ReLU 0.2), then the clamp."""
    return clamp(F.leaky_relu(x, 0.2))


def pixel_norm(x):
    return x * (x.square().mean(1, keepdim=True) + 1e-8).rsqrt()


def mbstd(x, group=4):
    n, c, h, w = x.shape
    g = min(group, n)
    y = x.reshape(g, -1, c, h, w)
    y = ((y - y.mean(0, keepdim=True)).square().mean(0) + 1e-8).sqrt().mean((1, 2, 3), keepdim=True)
    return torch.cat([x, y.repeat(g, 1, h, w)], 1)


def up(x):
    return F.interpolate(x, scale_factor=2, mode="nearest")


def section(reduced, f, x):
    """f(x) as it stands, or, for a layer kept out of reduced precision (StyleGAN2-ADA's
    `num_fp16_res`: autocast off and the input cast to float32), in float32."""
    if reduced:
        return f(x)
    with torch.autocast(x.device.type, enabled=False):
        return f(x.float())


def down(x):
    return F.avg_pool2d(x, 2)


def reduced_levels(levels, n):
    """Whether the layers at 2^level compute in the reduced type: the highest n resolutions
    (all for n = None), as `gan train --reduced-precision-resolutions n`."""
    return lambda level: n is None or level > levels - n


class G(nn.Module):
    def __init__(self, levels, nf, channels, reduced_at=lambda level: True):
        super().__init__()
        self.reduced_at = reduced_at
        self.c0 = nf(1)
        self.dense = EqLinear(nf(0), nf(1) * 16, gain=math.sqrt(2) / 4)
        self.conv = EqConv(nf(1), nf(1), 3)
        self.blocks = nn.ModuleList([nn.ModuleList([EqConv(nf(l - 2), nf(l - 1), 3), EqConv(nf(l - 1), nf(l - 1), 3)])
                                     for l in range(3, levels + 1)])
        self.to_rgb = nn.ModuleList([EqConv(nf(l - 1), channels, 1, gain=1.0) for l in range(2, levels + 1)])

    def first(self, z):
        x = pixel_norm(z)
        x = pixel_norm(act(self.dense(x).view(z.shape[0], self.c0, 4, 4)))
        return pixel_norm(act(self.conv(x)))

    def forward(self, z, alpha):
        r = self.reduced_at
        x = section(r(2), self.first, z)
        for i, (c0, c1) in enumerate(self.blocks, start=1):
            prev = x
            x = section(r(i + 2), lambda t: pixel_norm(act(c1(pixel_norm(act(c0(up(t))))))), x)
            if i == len(self.blocks) and alpha < 1:
                old = up(section(r(i + 1), self.rgb(i - 1), prev))
                return old + (section(r(i + 2), self.rgb(i), x) - old) * alpha
        return section(r(len(self.blocks) + 2), self.rgb(-1), x)

    def rgb(self, i):
        return lambda t: clamp(self.to_rgb[i](t))


class D(nn.Module):
    def __init__(self, levels, nf, channels, reduced_at=lambda level: True):
        super().__init__()
        self.reduced_at = reduced_at
        self.from_rgb = nn.ModuleList([EqConv(channels, nf(l - 1), 1) for l in range(2, levels + 1)])
        self.conv = EqConv(nf(1) + 1, nf(1), 3)
        self.dense0 = EqLinear(nf(1) * 16, nf(0))
        self.dense1 = EqLinear(nf(0), 1, gain=1.0)
        self.blocks = nn.ModuleList([nn.ModuleList([EqConv(nf(l - 1), nf(l - 1), 3), EqConv(nf(l - 1), nf(l - 2), 3)])
                                     for l in range(3, levels + 1)])

    def last(self, x):
        x = act(self.conv(mbstd(x)))
        x = F.leaky_relu(self.dense0(x.flatten(1)), 0.2)  # a dense layer: no clamp
        return self.dense1(x).view(-1)

    def forward(self, img, alpha):
        r = self.reduced_at
        top = len(self.blocks)
        x = section(r(top + 2), lambda t: act(self.from_rgb[top](t)), img)
        for i in range(top, 0, -1):
            c0, c1 = self.blocks[i - 1]
            x = section(r(i + 2), lambda t: down(act(c1(act(c0(t))))), x)
            if i == top and alpha < 1:
                old = section(r(top + 1), lambda t: act(self.from_rgb[top - 1](t)), down(img))
                x = old + (x - old) * alpha
        return section(r(2), self.last, x)


def toolkit_parameter(model, name):
    """The parameter of `model` (G or D above) that the toolkit calls `name`: `b4.dense.weight`,
    `b8.conv0.bias`, `to_rgb8.weight`, `from_rgb4.weight`, ..."""
    parts = name.split(".")
    if parts[0].startswith(("to_rgb", "from_rgb")):
        rgb = "to_rgb" if parts[0].startswith("to_rgb") else "from_rgb"
        level = int(math.log2(int(parts[0][len(rgb):])))
        return getattr(getattr(model, rgb)[level - 2], parts[1])
    level = int(math.log2(int(parts[0][1:])))
    if level == 2:
        return getattr(getattr(model, parts[1]), parts[2])
    return getattr(model.blocks[level - 3][0 if parts[1] == "conv0" else 1], parts[2])


def load_toolkit_weights(model, prefix, folder):
    import os
    import numpy as np
    loaded = 0
    for file in sorted(os.listdir(folder)):
        if file.startswith(prefix + ".") and file.endswith(".npy"):
            param = toolkit_parameter(model, file[len(prefix) + 1:-4])
            with torch.no_grad():
                param.copy_(torch.from_numpy(np.load(os.path.join(folder, file))))
            loaded += 1
    return loaded


def fade_reals(x, alpha):
    if alpha >= 1:
        return x
    coarse = up(down(x))
    return coarse + (x - coarse) * alpha


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--fmap-base", type=int, default=256)
    ap.add_argument("--fmap-max", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--phase", choices=["stable", "fade"], default="stable")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--phases", action="store_true", help="also time each phase of the step (ms_<phase> lines)")
    ap.add_argument("--replay")
    ap.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32",
                    help="bf16 / fp16: forward passes, losses and the penalty under torch.autocast in that type (fp16 with one torch.amp.GradScaler per optimiser), as `gan bench train-step --precision P`")
    ap.add_argument("--reduced-precision-resolutions", type=int, metavar="N",
                    help="with bf16 / fp16: only the highest N resolutions under autocast, the lower ones in float32 (StyleGAN2-ADA's num_fp16_res), as the toolkit's option of the same name")
    ap.add_argument("--conv-clamp", type=float, metavar="X",
                    help="clamp every feature-map layer's output to ±X after its activation (StyleGAN2-ADA's conv_clamp), as `gan bench train-step --conv-clamp X`")
    args = ap.parse_args()
    global CONV_CLAMP
    CONV_CLAMP = args.conv_clamp
    torch.manual_seed(0)
    dev = torch.device(args.device)
    levels = int(math.log2(args.resolution))
    alpha = 1.0 if args.phase == "stable" else 0.5

    def nf(stage):
        return max(1, min(args.fmap_base >> stage, args.fmap_max))

    r = reduced_levels(levels, args.reduced_precision_resolutions)
    g, d, g_ema = G(levels, nf, args.channels, r).to(dev), D(levels, nf, args.channels, r).to(dev), G(levels, nf, args.channels, r).to(dev)
    g_ema.load_state_dict(g.state_dict())
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    g, d = g.to(memory_format=fmt), d.to(memory_format=fmt)
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.0, 0.99), eps=1e-8)
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.0, 0.99), eps=1e-8)
    half = torch.float16 if args.precision == "fp16" else torch.bfloat16
    # fp16: dynamic loss scaling, one scaler per optimiser (as the toolkit's trainer); disabled,
    # a scaler passes the loss through and steps the optimiser as before.
    scaler_g, scaler_d = (torch.amp.GradScaler(dev.type, enabled=args.precision == "fp16") for _ in range(2))
    shape = (args.batch, args.channels, args.resolution, args.resolution)
    reals = [fade_reals(torch.rand(shape, device=dev) * 2 - 1, alpha).contiguous(memory_format=fmt) for _ in range(4)]
    latent = nf(0)

    def amp():
        return torch.autocast(dev.type, dtype=half, enabled=args.precision != "fp32")

    def step(i, lap=no_lap, real=None, z=None):
        if real is None:
            real = reals[i % len(reals)]
            z = torch.randn(args.batch, latent, device=dev)
        with amp():
            fake = g(z, alpha)
        lap("g_forward")
        with amp():
            out_real, out_fake = d(real, alpha).float(), d(fake.detach(), alpha).float()
            eps = torch.rand(args.batch, 1, 1, 1, device=dev)
            mixed = (real * eps + fake.detach() * (1 - eps)).requires_grad_(True)
            grad, = torch.autograd.grad(d(mixed, alpha).float().sum(), mixed, create_graph=True)
            penalty = (grad.flatten(1).square().sum(1).sqrt() - 1).square().mean() * 10.0
            loss_d = out_fake.mean() - out_real.mean() + penalty + out_real.square().mean() * 0.001
        lap("d_forward_and_loss")
        opt_d.zero_grad()
        scaler_d.scale(loss_d).backward()
        lap("d_backward")
        scaler_d.step(opt_d)
        scaler_d.update()
        lap("d_step")
        for p in d.parameters():
            p.requires_grad_(False)
        with amp():
            loss_g = -d(fake, alpha).float().mean()
        lap("d_forward_for_g")
        opt_g.zero_grad()
        scaler_g.scale(loss_g).backward()
        lap("g_backward")
        scaler_g.step(opt_g)
        scaler_g.update()
        lap("g_step")
        for p in d.parameters():
            p.requires_grad_(True)
        with torch.no_grad():
            for p, e in zip(g.parameters(), g_ema.parameters()):
                e.lerp_(p, 1 - 0.999)
        lap("g_ema")
        return loss_d.detach(), loss_g.detach()

    if args.replay:
        import os
        import numpy as np
        n = load_toolkit_weights(g, "G", args.replay) + load_toolkit_weights(d, "D", args.replay)
        if n == 0:
            raise SystemExit(f"{args.replay}: no G.*.npy / D.*.npy weights (write them with gan bench losses --arch progan --dump)")
        for i in range(args.steps):
            real = torch.from_numpy(np.load(os.path.join(args.replay, f"real_{i}.npy"))).to(dev)
            z = torch.from_numpy(np.load(os.path.join(args.replay, f"z_{i}.npy"))).to(dev)
            torch.manual_seed(1000 + i)
            print(f"step {i} {' '.join(f'{v.item():.9f}' for v in step(i, real=real, z=z))}")
        return

    rate = calls_per_s(step, args.steps, args.warmup, dev)
    phases = {}
    if args.phases:
        # A second run with the clock, as `gan bench train-step --phases` does.
        clock = PhaseClock(dev)
        for i in range(args.steps):
            clock.start()
            step(i, clock.lap)
        phases = clock.lines()
    report(**phases, steps_per_s=f"{rate:.4f}")


if __name__ == "__main__":
    main()
