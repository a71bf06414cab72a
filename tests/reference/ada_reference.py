"""Reference values for ADA's geometric and colour transforms (`augment = "ada"`).

Run with the set-up venv:  .venv/bin/python tests/reference/ada_reference.py
Writes tests/fixtures/ada_reference.json. An independent implementation of the execution the
paper describes (Karras et al. 2020, Appendix B.1: pad by reflection, upsample 2x with the sym6
wavelet low-pass filter, sample bilinearly at the inverse-transformed positions, downsample 2x
with the same filter), written with numpy/scipy and PyTorch's own operators: the filtering with
`scipy.signal.upfirdn` in float64, the sampling with `torch.nn.functional.affine_grid` and
`grid_sample` (bilinear, zeros outside, align_corners=False), the padding with
`torch.nn.functional.pad(mode="reflect")`. For each case: the images, the inverse transform
G_inv [N, 3, 3] (output pixel -> input pixel, pixel units about the image centre), and the
result. Also hue rotations about the luma axis from `scipy.spatial.transform.Rotation`.
"""
import json
import math
import os

import numpy as np
import scipy.signal
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation

# PyWavelets' `pywt.Wavelet("sym6").dec_lo`, reversed (the reconstruction low-pass rec_lo).
SYM6 = np.array([
    0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
    0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
    -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148,
])
# An orthogonal wavelet's low-pass filter: unit norm, orthogonal to its even shifts.
assert abs(np.dot(SYM6, SYM6) - 1) < 1e-12
assert all(abs(np.dot(SYM6[2 * m:], SYM6[:-2 * m])) < 1e-12 for m in range(1, 6))
H = SYM6 / SYM6.sum()
TAPS = len(H)
PAD = TAPS // 4  # 3 pixels of the filter's reach, at the input resolution, on each side


def up2(x, axis):
    """2x upsampling: zeros inserted, convolved with H·2 (unit DC gain), aligned so that the
    output has 2·L samples with the filter centred on each input sample."""
    x = np.moveaxis(x, axis, -1)
    L = x.shape[-1]
    full = scipy.signal.upfirdn(H * 2, x, up=2, axis=-1)  # length (L-1)·2 + TAPS
    full = np.concatenate([full, np.zeros(full.shape[:-1] + (1,))], axis=-1)
    p0 = TAPS // 2  # the padding before a 'valid' convolution of the zero-stuffed signal
    out = full[..., TAPS - 1 - p0: TAPS - 1 - p0 + 2 * L]
    return np.moveaxis(out, -1, axis)


def down2(x, axis, crop):
    """2x downsampling after correlation with H (the transpose of up2's filtering), `crop`
    samples removed from each end before filtering."""
    x = np.moveaxis(x, axis, -1)
    x = x[..., crop: x.shape[-1] - crop]
    full = scipy.signal.upfirdn(H[::-1], x, up=1, axis=-1)  # correlation with H, full length
    valid = full[..., TAPS - 1: x.shape[-1]]
    return np.moveaxis(valid[..., ::2], -1, axis)


def geometry(images, g_inv):
    n, c, h, w = images.shape
    cx, cy = (w - 1) / 2, (h - 1) / 2
    corners = np.array([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]]).T
    cp = g_inv @ corners  # [N, 3, 4]
    xs, ys = cp[:, 0, :].ravel(), cp[:, 1, :].ravel()
    margin = np.array([(-xs).max(), (-ys).max(), xs.max(), ys.max()])
    margin = margin + np.array([PAD * 2 - cx, PAD * 2 - cy] * 2)
    margin = np.minimum(np.maximum(margin, 0), [w - 1, h - 1] * 2)
    mx0, my0, mx1, my1 = [int(math.ceil(v)) for v in margin]
    x = F.pad(torch.tensor(images), [mx0, mx1, my0, my1], mode="reflect").numpy().astype(np.float64)
    x = up2(up2(x, 3), 2)  # [N, C, 2(h + my0 + my1), 2(w + mx0 + mx1)]
    # Output pixel (at 2x, centred coordinates of the padded-then-cropped frame) -> input.
    out_h, out_w = (h + PAD * 2) * 2, (w + PAD * 2) * 2
    in_h, in_w = x.shape[2], x.shape[3]
    thetas = []
    for g in g_inv:
        # Output normalised coords -> output pixel (2x, about the centre) -> 1x -> G_inv ->
        # input 1x (shifted by the uneven padding) -> 2x pixel -> input normalised coords.
        # At 2x, input pixel i sits on upsampled sample 2i (the filter's largest tap, where the
        # zero-stuffed sample lands), which is the paper's convention (StyleGAN2-ADA's
        # `translate2d(-0.5, -0.5) @ scale2d(2, 2)` about the centre).
        to_pixels = np.diag([out_w / 2, out_h / 2, 1.0])
        half = np.array([[0.5, 0, 0.25], [0, 0.5, 0.25], [0, 0, 1]])  # 2x, corner-aligned, -> 1x
        shift = np.array([[1, 0, (mx0 - mx1) / 2], [0, 1, (my0 - my1) / 2], [0, 0, 1]])
        double = np.array([[2, 0, -0.5], [0, 2, -0.5], [0, 0, 1]])  # 1x -> 2x
        to_norm = np.diag([2 / in_w, 2 / in_h, 1.0])
        m = to_norm @ double @ shift @ g @ half @ to_pixels
        thetas.append(m[:2])
    theta = torch.tensor(np.stack(thetas), dtype=torch.float64)
    grid = F.affine_grid(theta, [n, c, out_h, out_w], align_corners=False)
    x = F.grid_sample(torch.tensor(x), grid, mode="bilinear", padding_mode="zeros",
                      align_corners=False).numpy()
    # The 2x frame has 2·(h + 2·PAD) samples; 'valid' filtering and halving of it minus
    # `crop` at each end gives (2h + 4·PAD − 2·crop − TAPS + 2) / 2 = h samples for crop = 1.
    crop = (4 * PAD - TAPS + 2) // 2
    x = down2(down2(x, 3, crop), 2, crop)
    return x


def mat(rows):
    return np.array(rows, dtype=np.float64)


def flat(t):
    return [float(f"{v:.9g}") for v in np.asarray(t).reshape(-1).tolist()]


def main():
    rng = np.random.default_rng(2020)
    cases = []
    c30, s30 = math.cos(math.pi / 6), math.sin(math.pi / 6)
    transforms = {
        "identity": mat([[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
        "xflip": mat([[-1, 0, 0], [0, 1, 0], [0, 0, 1]]),
        "rotate90": mat([[0, -1, 0], [1, 0, 0], [0, 0, 1]]),
        "integer translation": mat([[1, 0, -2], [0, 1, 1], [0, 0, 1]]),
        "rotation 30°": mat([[c30, -s30, 0], [s30, c30, 0], [0, 0, 1]]),
        "scale 1.3": mat([[1 / 1.3, 0, 0], [0, 1 / 1.3, 0], [0, 0, 1]]),
        "anisotropic 0.8": mat([[1 / 0.8, 0, 0], [0, 0.8, 0], [0, 0, 1]]),
        "fractional translation": mat([[1, 0, 0.37], [0, 1, -1.61], [0, 0, 1]]),
    }
    for size, channels in [(16, 3), (12, 1)]:
        images = rng.uniform(-1, 1, size=(2, channels, size, size)).astype(np.float32)
        for name, g in transforms.items():
            g_inv = np.stack([g, transforms["rotation 30°"] @ g])
            out = geometry(images, g_inv)
            cases.append({"name": name, "shape": list(images.shape), "x": flat(images),
                          "g_inv": flat(g_inv), "y": flat(out)})
    hue = []
    v = np.ones(3) / math.sqrt(3)
    for theta in [-2.5, -0.4, 0.0, 1.1, 3.0]:
        hue.append({"theta": theta, "matrix": flat(Rotation.from_rotvec(v * theta).as_matrix())})
    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "ada_reference.json")
    with open(path, "w") as f:
        json.dump({"geometry": cases, "hue": hue, "torch": torch.__version__}, f)
    print(len(cases), "cases")


if __name__ == "__main__":
    main()
