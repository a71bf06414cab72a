"""Reads a `gan dataset create` archive with the `safetensors` package and checks every level
against ProGAN's dataset_tool.py computed here in numpy from the source PNGs.

Usage: archive_reference.py ARCHIVE FOLDER CHANNELS. The folder's images must already be at the
archive's resolution (no resize), in class sub-folders. Exits non-zero with the difference on a
mismatch; prints one line per level checked.
"""

import json
import pathlib
import sys

import numpy as np
from PIL import Image
from safetensors import safe_open
from safetensors.numpy import load_file

archive, folder, channels = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3])
tensors = load_file(archive)
with safe_open(archive, framework="np") as f:
    meta = f.metadata()
assert meta["format"] == "ganlab-archive" and meta["version"] == "1", meta
resolution = int(meta["resolution"])

files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
classes = sorted({p.parent.name for p in files})
assert json.loads(meta["class_names"]) == classes, (meta["class_names"], classes)
labels = np.array([classes.index(p.parent.name) for p in files], dtype=np.int64)
assert np.array_equal(tensors["labels"], labels), (tensors["labels"], labels)

mode = "L" if channels == 1 else "RGB"
for i, path in enumerate(files):
    img = np.asarray(Image.open(path).convert(mode))
    img = img[None] if channels == 1 else img.transpose(2, 0, 1)  # channels first, like ProGAN
    assert img.shape == (channels, resolution, resolution), (path, img.shape)
    # TFRecordExporter.add_image (progressive_growing_of_gans/dataset_tool.py).
    side = resolution
    for lod in range(int(np.log2(resolution)) - 1):
        if lod:
            img = img.astype(np.float32)
            img = (img[:, 0::2, 0::2] + img[:, 0::2, 1::2] + img[:, 1::2, 0::2] + img[:, 1::2, 1::2]) * 0.25
            side //= 2
        quant = np.rint(img).clip(0, 255).astype(np.uint8)
        stored = tensors[f"images.{side}"][i]
        if not np.array_equal(stored, quant):
            diff = np.abs(stored.astype(int) - quant.astype(int))
            sys.exit(f"{path}: level {side} differs at {np.count_nonzero(diff)} values, max {diff.max()}")
for side in sorted({int(k.split(".")[1]) for k in tensors if k.startswith("images.")}, reverse=True):
    print(f"level {side}: {tensors[f'images.{side}'].shape} equal to ProGAN's dataset_tool")
