"""The FID detector for measuring speed on the GPU machine: the same TorchScript graph with every
weight and buffer set to zero, xz-compressed (the 87 MB float32 file is over what a GPU session
can carry; this one is about 40 KB). Dense convolutions and matrix products take the same time
whatever the values (measured on the 2-core machine, 2026-12-03, 64 images in batches of 32:
`gan bench features --engine native` 27.2-27.4 images/s with the real weights against 27.6-28.3
with zeros; the module from Python 12.8-13.1 against 13.2-13.8), so bench/gpu-check.sh
--speed-detector measures the speed of feature extraction with it, never its values.

    python bench/make_speed_detector.py pack [SRC] [DST]    # DST: a .pt.xz (written atomically)
    python bench/make_speed_detector.py unpack SRC DST      # the .pt.xz back to a .pt
"""
import lzma
import os
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
detectors = os.path.join(root, "datasets", "cache", "detectors")


def write_atomically(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def pack(src, dst):
    import torch

    module = torch.jit.load(src, map_location="cpu")
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            if t.is_floating_point():
                t.zero_()
    plain = dst + ".pt.tmp"
    module.save(plain)
    with open(plain, "rb") as f:
        data = lzma.compress(f.read(), preset=6)
    os.remove(plain)
    write_atomically(dst, data)
    print(dst, len(data) // 1024, "KiB")


def unpack(src, dst):
    with open(src, "rb") as f:
        try:
            data = lzma.decompress(f.read())
        except lzma.LZMAError as e:
            sys.exit(f"make_speed_detector: {src} is not an xz file ({e})")
    write_atomically(dst, data)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["pack"] and len(args) <= 3:
        pack(args[1] if len(args) > 1 else os.path.join(detectors, "inception-2015-12-05.pt"),
             args[2] if len(args) > 2 else os.path.join(detectors, "inception-zeros.pt.xz"))
    elif args[:1] == ["unpack"] and len(args) == 3:
        unpack(args[1], args[2])
    else:
        sys.exit(__doc__)
