"""Reference losses and gradients for the games, from PyTorch.

Run with the set-up venv:  .venv/bin/python tests/reference/games_reference.py
Writes tests/fixtures/games_reference.json: for fixed real and fake logits, each game's D and G
loss and their gradients with respect to the logits, computed in float64 with PyTorch's own
F.binary_cross_entropy_with_logits where the game is logistic, and with the papers' formulas
written in torch otherwise.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(7)
real = (torch.randn(9, dtype=torch.float64) * 3).tolist()
fake = (torch.randn(9, dtype=torch.float64) * 3 - 1).tolist()


def bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def d_losses(lr, lf, smoothing):
    return {
        "nonsaturating": bce(lr, 1.0 - smoothing) + bce(lf, 0.0),
        "minimax": bce(lr, 1.0 - smoothing) + bce(lf, 0.0),
        "wgan": lf.mean() - lr.mean(),
        "lsgan": 0.5 * ((lr - 1) ** 2).mean() + 0.5 * (lf ** 2).mean(),
        "hinge": torch.relu(1 - lr).mean() + torch.relu(1 + lf).mean(),
    }


def g_losses(lf):
    return {
        # G maximises log D(G(z)) == minimises BCE(l, 1).
        "nonsaturating": bce(lf, 1.0),
        # G minimises log(1 - D(G(z))) == -BCE(l, 0).
        "minimax": -bce(lf, 0.0),
        "wgan": -lf.mean(),
        "lsgan": 0.5 * ((lf - 1) ** 2).mean(),
        "hinge": -lf.mean(),
    }


out = {"real_logits": real, "fake_logits": fake, "cases": {}}
for smoothing in (0.0, 0.1):
    lr = torch.tensor(real, dtype=torch.float64, requires_grad=True)
    lf = torch.tensor(fake, dtype=torch.float64, requires_grad=True)
    for name, loss in d_losses(lr, lf, smoothing).items():
        gr, gf = torch.autograd.grad(loss, (lr, lf))
        out["cases"].setdefault(name, {})[f"d_smoothing_{smoothing}"] = {
            "loss": loss.item(), "grad_real": gr.tolist(), "grad_fake": gf.tolist()}
lf = torch.tensor(fake, dtype=torch.float64, requires_grad=True)
for name, loss in g_losses(lf).items():
    (gf,) = torch.autograd.grad(loss, (lf,))
    out["cases"][name]["g"] = {"loss": loss.item(), "grad_fake": gf.tolist()}

path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "games_reference.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", os.path.normpath(path))
