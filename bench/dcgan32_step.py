"""PyTorch side of the DCGAN-32 training-step benchmark: exactly the computation of
`gan bench train-step --arch dcgan32` (non-saturating game, batch 64, Adam 2e-4 (0.5, 0.999),
one D update on a real and a fake batch, then one G update with D's weights frozen).

    python bench/dcgan32_step.py --channels 1 --steps 50 [--channels-last]
    python bench/dcgan32_step.py --channels 1 --replay DIR --steps 5
    python bench/dcgan32_step.py --channels 1 --channels-last --phases

--replay DIR loads the initial weights and the batches that `gan bench losses --dump DIR` wrote
and prints `step i loss_d loss_g` for each step: the same computation from the same numbers, so
the losses must agree with the toolkit's to float32 round-off.

Prints `steps_per_s <value>` and `peak_rss_mb <value>` (the same contract as the Rust side).
"""
import argparse
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from benchlib import PhaseClock, calls_per_s, no_lap, report


def generator(c):
    return nn.Sequential(
        nn.ConvTranspose2d(100, 256, 4, 1, 0, bias=False), nn.BatchNorm2d(256), nn.ReLU(True),
        nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(True),
        nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),
        nn.ConvTranspose2d(64, c, 4, 2, 1, bias=False), nn.Tanh())


def discriminator(c):
    return nn.Sequential(
        nn.Conv2d(c, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
        nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2, True),
        nn.Conv2d(128, 256, 4, 2, 1, bias=False), nn.BatchNorm2d(256), nn.LeakyReLU(0.2, True),
        nn.Conv2d(256, 1, 4, 1, 0, bias=False))


def init(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


# Toolkit parameter names → index in the nn.Sequential above.
G_NAMES = {"block1.conv": 0, "block1.bn": 1, "block2.conv": 3, "block2.bn": 4, "block3.conv": 6, "block3.bn": 7, "to_image.conv": 9}
D_NAMES = {"block1.conv": 0, "block2.conv": 2, "block2.bn": 3, "block3.conv": 5, "block3.bn": 6, "to_logit.conv": 8}


def load_toolkit_weights(model, names, prefix, folder):
    """Copies every `<prefix>.<block>.<layer>.<param>.npy` into the matching module."""
    import numpy as np
    loaded = 0
    for file in sorted(os.listdir(folder)):
        if not (file.startswith(prefix + ".") and file.endswith(".npy")):
            continue
        block, layer, param = file[len(prefix) + 1:-4].rsplit(".", 2)
        module = model[names[f"{block}.{layer}"]]
        with torch.no_grad():
            getattr(module, param).copy_(torch.from_numpy(np.load(os.path.join(folder, file))))
        loaded += 1
    return loaded


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--replay")
    ap.add_argument("--phases", action="store_true", help="also time each phase of the step (ms_<phase> lines)")
    ap.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32",
                    help="bf16 / fp16: forward passes and losses under torch.autocast in that type (fp16 with one torch.amp.GradScaler per optimiser), as `gan bench train-step --precision P`")
    args = ap.parse_args()
    torch.manual_seed(0)
    dev = torch.device(args.device)
    g, d = generator(args.channels).to(dev), discriminator(args.channels).to(dev)
    g.apply(init)
    d.apply(init)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    g, d = g.to(memory_format=fmt), d.to(memory_format=fmt)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    half = torch.float16 if args.precision == "fp16" else torch.bfloat16
    # fp16: dynamic loss scaling, one scaler per optimiser (as the toolkit's trainer); disabled,
    # a scaler passes the loss through and steps the optimiser as before.
    scaler_g, scaler_d = (torch.amp.GradScaler(dev.type, enabled=args.precision == "fp16") for _ in range(2))
    reals = [(torch.rand(64, args.channels, 32, 32, device=dev) * 2 - 1).to(memory_format=fmt) for _ in range(4)]
    def amp():
        return torch.autocast(dev.type, dtype=half, enabled=args.precision != "fp32")

    def step(real, z, lap=no_lap):
        z = z.view(z.shape[0], 100, 1, 1)
        with amp():
            fake = g(z)
        lap("g_forward")
        with amp():
            lr_, lf = d(real).flatten().float(), d(fake.detach()).flatten().float()
            loss_d = F.softplus(-lr_).mean() + F.softplus(lf).mean()
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
            logits = d(fake).flatten().float()
        loss_g = F.softplus(-logits).mean()
        lap("d_forward_for_g")
        opt_g.zero_grad()
        scaler_g.scale(loss_g).backward()
        lap("g_backward")
        scaler_g.step(opt_g)
        scaler_g.update()
        lap("g_step")
        for p in d.parameters():
            p.requires_grad_(True)
        return loss_d.detach(), loss_g.detach()

    if args.replay:
        import numpy as np
        n = load_toolkit_weights(g, G_NAMES, "G", args.replay) + load_toolkit_weights(d, D_NAMES, "D", args.replay)
        if n == 0:
            raise SystemExit(f"{args.replay}: no G.*.npy / D.*.npy weights (write them with gan bench losses --dump)")
        for i in range(args.steps):
            real = torch.from_numpy(np.load(os.path.join(args.replay, f"real_{i}.npy"))).to(dev)
            z = torch.from_numpy(np.load(os.path.join(args.replay, f"z_{i}.npy"))).to(dev)
            print(f"step {i} {' '.join(f'{v:.9f}' for v in (x.item() for x in step(real, z)))}")
        return


    rate = calls_per_s(lambda i: step(reals[i % len(reals)], torch.randn(64, 100, device=dev)), args.steps, args.warmup, dev)
    phases = {}
    if args.phases:
        # A second run with the clock, as `gan bench train-step --phases` does.
        clock = PhaseClock(dev)
        for i in range(args.steps):
            clock.start()
            step(reals[i % len(reals)], torch.randn(64, 100, device=dev), clock.lap)
        phases = clock.lines()
    report(**phases, steps_per_s=f"{rate:.4f}")


if __name__ == "__main__":
    main()
