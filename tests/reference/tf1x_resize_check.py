"""torch-fidelity 0.4.0's resize to 299 (`interpolate_bilinear_2d_like_tensorflow1x`, what its
Inception feature extractor runs before the network), the outside reference of the default
`--resize nv-bilinear`.

usage: tf1x_resize_check.py IN.npy OUT_SIDE OUT.npy   IN: [N, C, H, W] float32 images (0..255);
                                                      OUT: [N, C, OUT_SIDE, OUT_SIDE] float32
"""
import sys

import numpy as np
import torch
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

torch.set_num_threads(2)
src, side, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3]
x = torch.from_numpy(np.load(src).astype(np.float32))
y = interpolate_bilinear_2d_like_tensorflow1x(x, size=(side, side), align_corners=False)
np.save(dst, y.numpy().astype(np.float32))
