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
        # Jolicoeur-Martineau 2019 (RSGAN) / Huang et al. 2024 (RpGAN): pairs (lr[i], lf[i]).
        "relativistic": F.softplus(lf - lr).mean(),
    }


def g_losses(lf, lr):
    return {
        # G maximises log D(G(z)) == minimises BCE(l, 1).
        "nonsaturating": bce(lf, 1.0),
        # G minimises log(1 - D(G(z))) == -BCE(l, 0).
        "minimax": -bce(lf, 0.0),
        "wgan": -lf.mean(),
        "lsgan": 0.5 * ((lf - 1) ** 2).mean(),
        "hinge": -lf.mean(),
        "relativistic": F.softplus(lr - lf).mean(),
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
for name, loss in g_losses(lf, torch.tensor(real, dtype=torch.float64)).items():
    (gf,) = torch.autograd.grad(loss, (lf,))
    out["cases"][name]["g"] = {"loss": loss.item(), "grad_fake": gf.tolist()}

# R3GAN's D loss (Huang et al. 2024): the relativistic loss plus R1 at the reals and R2 at the
# fakes, gamma/2 * E||grad_x D(x)||^2 each, through a small MLP critic
# D(x) = tanh(x W1 + b1) . w2, and its gradient with respect to W1 (a double backward).
x_real = torch.randn(6, 4, dtype=torch.float64)
x_fake = torch.randn(6, 4, dtype=torch.float64) + 0.5
w1 = (torch.randn(4, 5, dtype=torch.float64) * 0.7).requires_grad_(True)
b1 = torch.randn(5, dtype=torch.float64) * 0.1
w2 = torch.randn(5, dtype=torch.float64)
gamma = 3.0


def critic(x):
    return torch.tanh(x @ w1 + b1) @ w2


def penalty(x):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return gamma / 2 * g.square().sum(1).mean()


r1, r2 = penalty(x_real), penalty(x_fake)
loss = F.softplus(critic(x_fake) - critic(x_real)).mean() + r1 + r2
(gw1,) = torch.autograd.grad(loss, w1)
out["r3gan"] = {
    "x_real": x_real.tolist(), "x_fake": x_fake.tolist(), "w1": w1.detach().tolist(),
    "b1": b1.tolist(), "w2": w2.tolist(), "gamma": gamma,
    "r1": r1.item(), "r2": r2.item(), "loss": loss.item(), "grad_w1": gw1.tolist(),
}

path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "games_reference.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", os.path.normpath(path))
