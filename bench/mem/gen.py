"""Writes N smooth RGB 128x128 PNGs (colour fields plus a little noise, 20-40 KB each) into OUT:
the folders of the streamed-dataset memory measurement in the README. Usage: gen.py N OUT"""
import numpy as np, os, sys
from PIL import Image
n, out = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
os.makedirs(out, exist_ok=True)
yy, xx = np.mgrid[0:128, 0:128]
for i in range(n):
    # Smooth colour fields plus a little noise: PNGs of a realistic size (~20-40 KB).
    a, b, c = rng.uniform(0.02, 0.2, 3)
    img = np.stack([np.sin(xx * a + i) , np.cos(yy * b + i), np.sin((xx + yy) * c)], -1)
    img = ((img + 1) * 120 + rng.integers(0, 16, img.shape)).clip(0, 255).astype(np.uint8)
    Image.fromarray(img).save(f"{out}/{i:05d}.png")
