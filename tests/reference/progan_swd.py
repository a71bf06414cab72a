"""ProGAN's sliced Wasserstein distance in numpy, step for step as the official
metrics/sliced_wasserstein.py (Karras et al. 2018): Laplacian pyramid with
scipy.ndimage.convolve in mirror mode, 128 random 7x7 neighbourhoods per image per level,
per-set per-channel normalisation, 4 repeats x 128 sorted random projections, x1e3 per level.

Used by tests/reference/metrics_reference.py (fixtures for the Rust tests, with the random draws
saved) and by bench/swd_numpy.py (the speed reference).
"""
import numpy as np
import scipy.ndimage

gaussian_filter = np.float32([[1, 4, 6, 4, 1], [4, 16, 24, 16, 4], [6, 24, 36, 24, 6],
                              [4, 16, 24, 16, 4], [1, 4, 6, 4, 1]]) / 256.0


def pyr_down(x):
    return scipy.ndimage.convolve(x, gaussian_filter[np.newaxis, np.newaxis, :, :], mode='mirror')[:, :, ::2, ::2]


def pyr_up(x):
    s = x.shape
    res = np.zeros((s[0], s[1], s[2] * 2, s[3] * 2), x.dtype)
    res[:, :, ::2, ::2] = x
    return scipy.ndimage.convolve(res, gaussian_filter[np.newaxis, np.newaxis, :, :] * 4.0, mode='mirror')


def laplacian_pyramid(x, levels):
    pyramid = [np.float32(x)]
    for _ in range(1, levels):
        pyramid.append(pyr_down(pyramid[-1]))
        pyramid[-2] -= pyr_up(pyramid[-1])
    return pyramid


def descriptors(level, nhoods_per_image, rng, nhood_size=7):
    """The official get_descriptors_for_minibatch for one level, plus the corners drawn."""
    s = level.shape
    n = nhoods_per_image * s[0]
    h = nhood_size // 2
    nhood, chan, x, y = np.ogrid[0:n, 0:3, -h:h + 1, -h:h + 1]
    img = nhood // nhoods_per_image
    cx = rng.randint(h, s[3] - h, size=(n, 1, 1, 1))
    cy = rng.randint(h, s[2] - h, size=(n, 1, 1, 1))
    x = x + cx
    y = y + cy
    idx = ((img * s[1] + chan) * s[2] + y) * s[3] + x
    # Corners (centre - h) for the Rust side. Note np.ogrid's x runs along axis 2 and y along
    # axis 3, so "x" offsets index rows of the neighbourhood: desc[n, c, i, j] = level[y0 + j, x0 + i].
    return level.flat[idx], (cy.reshape(-1) - h).tolist(), (cx.reshape(-1) - h).tolist()


def finalize(desc):
    desc = desc - np.mean(desc, axis=(0, 2, 3), keepdims=True)
    desc /= np.std(desc, axis=(0, 2, 3), keepdims=True)
    return desc.reshape(desc.shape[0], -1)


def random_directions(dim, rng, repeats=4, per_repeat=128):
    out = []
    for _ in range(repeats):
        d = rng.randn(dim, per_repeat)
        d /= np.sqrt(np.sum(np.square(d), axis=0, keepdims=True))
        out.append(d.astype(np.float32))
    return out


def sliced_wasserstein(a, b, dirs_list):
    results = []
    for dirs in dirs_list:
        pa = np.sort(np.matmul(a, dirs), axis=0)
        pb = np.sort(np.matmul(b, dirs), axis=0)
        results.append(np.mean(np.abs(pa - pb)))
    return float(np.mean(results))


def resolutions(side):
    out = [side]
    while out[-1] > 16:
        out.append(out[-1] // 2)
    return out


def swd(a, b, rng, minibatch=256, nhoods_per_image=128):
    """SWD x1e3 per level between uint8 image sets [N, 3, R, R] (grayscale tiled to 3)."""
    if a.shape[1] == 1:
        a, b = np.repeat(a, 3, axis=1), np.repeat(b, 3, axis=1)
    levels = len(resolutions(a.shape[2]))
    per_set = []
    for images in (a, b):
        parts = [[] for _ in range(levels)]
        for start in range(0, images.shape[0], minibatch):
            for lod, level in enumerate(laplacian_pyramid(images[start:start + minibatch], levels)):
                parts[lod].append(descriptors(level, nhoods_per_image, rng)[0])
        per_set.append([finalize(np.concatenate(p, axis=0)) for p in parts])
    out = []
    for da, db in zip(*per_set):
        out.append(sliced_wasserstein(da, db, random_directions(da.shape[1], rng)) * 1e3)
    return out
