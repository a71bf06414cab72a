"""Reference values from PyTorch for spectral normalization (`d_spectral_norm = true`).

Run with the set-up venv:  .venv/bin/python tests/reference/spectral_reference.py
Writes tests/fixtures/spectral_reference.json: the narrow DCGAN-32 discriminator of
dcgan32_reference.py (width 4, one channel, batch norm in its middle blocks) with
`torch.nn.utils.parametrizations.spectral_norm` on each of its four convolutions, its state under
the toolkit's names (`conv.weight_orig`, `conv.weight_u`, `conv.weight_v`, after PyTorch's own 15
initial power iterations), and three training steps on batches of 3 (forward in training mode, loss = mean
logit, plain SGD with lr 0.1): each step's logits, then the normalised kernels, u and v after it
(read in evaluation mode, which runs no iteration); and the logits in evaluation mode at the end.
"""
import json
import os
import sys

import torch
from torch.nn.utils.parametrizations import spectral_norm

sys.path.insert(0, os.path.dirname(__file__))
from dcgan32_reference import D  # noqa: E402


def flat(t):
    return [float(f"{v:.9g}") for v in t.detach().reshape(-1).tolist()]

BLOCKS = ("block1", "block2", "block3", "to_logit")


def toolkit_state(d):
    out = {}
    for k, v in d.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        k = (k.replace("conv.parametrizations.weight.original", "conv.weight_orig")
              .replace("conv.parametrizations.weight.0._u", "conv.weight_u")
              .replace("conv.parametrizations.weight.0._v", "conv.weight_v"))
        out[k] = {"shape": list(v.shape), "values": flat(v)}
    return out


def main():
    torch.manual_seed(38)
    d = D(4, 1)
    for b in BLOCKS:
        torch.nn.init.normal_(getattr(d, b).conv.weight, 0.0, 0.02)
        spectral_norm(getattr(d, b).conv)
    for b in ("block2", "block3"):
        bn = getattr(d, b).bn
        torch.nn.init.normal_(bn.weight, 1.0, 0.02)
        torch.nn.init.zeros_(bn.bias)
    state = toolkit_state(d)
    reals = [torch.rand(3, 1, 32, 32) * 2 - 1 for _ in range(3)]
    opt = torch.optim.SGD(d.parameters(), lr=0.1)
    steps = []
    for x in reals:
        d.train()
        out = d(x)
        opt.zero_grad()
        out.mean().backward()
        opt.step()
        d.eval()
        after = {}
        for b in BLOCKS:
            conv = getattr(d, b).conv
            after[f"{b}.conv.weight"] = flat(conv.weight)
            after[f"{b}.conv.weight_u"] = flat(conv.parametrizations.weight[0]._u)
            after[f"{b}.conv.weight_v"] = flat(conv.parametrizations.weight[0]._v)
        steps.append({"real": flat(x), "logits": flat(out), "after": after})
    d.eval()
    final_real = torch.rand(3, 1, 32, 32) * 2 - 1
    out = {
        "state": state,
        "steps": steps,
        "final_real": flat(final_real),
        "final_eval_logits": flat(d(final_real)),
        "torch": torch.__version__,
    }
    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "spectral_reference.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print("steps", [s["logits"][:2] for s in steps])


if __name__ == "__main__":
    main()
