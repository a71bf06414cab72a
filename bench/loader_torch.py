"""Speed reference for the data loader: StyleGAN2-ADA's dataset logic (training/dataset.py,
`ImageFolderDataset` over a zip: the zip opened lazily in each worker, PIL decode, HWC to CHW
uint8, labels from dataset.json) in a PyTorch DataLoader with two worker processes, each batch
brought to float in [-1, 1] as its training loop does (`img.to(torch.float32) / 127.5 - 1`).

    python bench/loader_torch.py --make-inputs DIR [--n 2000 --resolution 128 --seed 0]
    python bench/loader_torch.py --inputs DIR [--batch-size 32 --batches 50 --workers 2]

--make-inputs writes DIR/set.zip: N RGB PNGs at the resolution (smooth colour fields plus a
little noise) in StyleGAN2-ADA's layout (`00000/img00000000.png`, ...) with a dataset.json whose
labels are null; the toolkit reads the same file as `zip:DIR/set.zip` (where Pillow is missing,
as on the GPU machine's venv may be, the PNGs are written with zlib instead: the same pixels).
Timing prints
`images_per_s` (after one untimed batch, which includes starting the workers) and `peak_rss_mb`.
"""
import argparse
import io
import json
import os
import struct
import time
import zipfile
import zlib

import numpy as np
import torch

try:
    import PIL.Image
except ImportError:  # --make-inputs still works (`png_bytes`); timing needs Pillow.
    PIL = None


def png_bytes(img):
    """An RGB uint8 [H, W, 3] array as PNG bytes: Pillow's encoder where installed, else one
    IDAT of zlib-compressed rows with filter 0 (the PNG specification's minimal form)."""
    if PIL is not None:
        buf = io.BytesIO()
        PIL.Image.fromarray(img).save(buf, format="png")
        return buf.getvalue()

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w, _ = img.shape
    rows = b"".join(b"\x00" + img[y].tobytes() for y in range(h))
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")

from benchlib import report


def make_inputs(out, n, resolution, seed):
    rng = np.random.default_rng(seed)
    os.makedirs(out, exist_ok=True)
    yy, xx = np.mgrid[0:resolution, 0:resolution] * (128.0 / resolution)
    path = os.path.join(out, "set.zip")
    with zipfile.ZipFile(path + ".partial", "w", compression=zipfile.ZIP_STORED) as z:
        for i in range(n):
            a, b, c = rng.uniform(0.02, 0.2, 3)
            img = np.stack([np.sin(xx * a + i), np.cos(yy * b + i), np.sin((xx + yy) * c)], -1)
            img = ((img + 1) * 120 + rng.integers(0, 16, img.shape)).clip(0, 255).astype(np.uint8)
            z.writestr(f"{i // 1000:05d}/img{i:08d}.png", png_bytes(img))
        z.writestr("dataset.json", json.dumps({"labels": None}))
    os.replace(path + ".partial", path)


class ZipImages(torch.utils.data.Dataset):
    """StyleGAN2-ADA's ImageFolderDataset, zip case, without its optional x-flip."""

    def __init__(self, path):
        self._path, self._zipfile = path, None
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
        self._names = sorted(n for n in names if os.path.splitext(n)[1].lower() in (".png", ".jpg", ".jpeg"))

    def _get_zipfile(self):
        if self._zipfile is None:
            self._zipfile = zipfile.ZipFile(self._path)
        return self._zipfile

    def __getstate__(self):
        return dict(self.__dict__, _zipfile=None)

    def __len__(self):
        return len(self._names)

    def __getitem__(self, idx):
        with self._get_zipfile().open(self._names[idx], "r") as f:
            image = np.array(PIL.Image.open(f))
        if image.ndim == 2:
            image = image[:, :, np.newaxis]
        return image.transpose(2, 0, 1).copy(), np.zeros([0], dtype=np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--make-inputs")
    ap.add_argument("--inputs")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--batches", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    if args.make_inputs:
        make_inputs(args.make_inputs, args.n, args.resolution, args.seed)
        return
    torch.set_num_threads(1)  # the main process only converts batches
    dataset = ZipImages(os.path.join(args.inputs, "set.zip"))
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=args.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(args.seed),
        num_workers=args.workers,
        persistent_workers=True,
        drop_last=True,
    )
    batches = iter(loader)

    def next_batch():
        nonlocal batches
        try:
            images, _ = next(batches)
        except StopIteration:
            batches = iter(loader)
            images, _ = next(batches)
        return float((images.to(torch.float32) / 127.5 - 1).sum())

    next_batch()  # starts the workers
    start = time.perf_counter()
    for _ in range(args.batches):
        next_batch()
    rate = args.batches * args.batch_size / (time.perf_counter() - start)
    report(images=len(dataset), resolution=args.resolution, images_per_s=f"{rate:.1f}")


if __name__ == "__main__":
    main()
