"""Reference values from PyTorch for SNGAN-32 (`--arch sngan32`).

Run with the set-up venv:  .venv/bin/python tests/reference/sngan32_reference.py
Writes tests/fixtures/sngan32_reference.json.

The networks are the "standard CNN" of Miyato et al. 2018 (Appendix B.4, Table 3) in the
widths of the authors' released code (pfnet-research chainer-gan-lib, common/net.py,
DCGANGenerator and SNDCGANDiscriminator with ch = 8 * width), leaky ReLU slope 0.1 as the
paper's table says, every layer with a bias, and
`torch.nn.utils.parametrizations.spectral_norm` on every D layer. Module names are chosen so
that state_dict keys equal the toolkit's parameter names (the spectral-norm parametrization's
keys renamed to `weight_orig`, `weight_u`, `weight_v`).

Recorded for a narrow pair (width 4, one channel, z_dim 8, batch 3): the state after PyTorch's
own initial power iterations; then two training steps of the hinge game with plain SGD (lr
0.05): D's step on a real batch and G(z) detached (two D forwards in training mode, so two
power iterations), then G's step on -D(G(z')).mean(); each step's G images, D logits and losses,
and every parameter and buffer after the two steps; finally G and D in evaluation mode.
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

SLOPE = 0.1


class Up(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1)
        self.bn = nn.BatchNorm2d(c_out)


class G(nn.Module):
    def __init__(self, z_dim, width, channels):
        super().__init__()
        self.z_dim, self.width = z_dim, width
        self.fc = nn.Linear(z_dim, 16 * 8 * width)
        self.fc_bn = nn.BatchNorm2d(8 * width)
        self.block1 = Up(8 * width, 4 * width)
        self.block2 = Up(4 * width, 2 * width)
        self.block3 = Up(2 * width, width)
        self.to_image = nn.Conv2d(width, channels, 3, 1, 1)

    def forward(self, z):
        x = self.fc(z).view(z.shape[0], 8 * self.width, 4, 4)
        x = torch.relu(self.fc_bn(x))
        for b in (self.block1, self.block2, self.block3):
            x = torch.relu(b.bn(b.conv(x)))
        return torch.tanh(self.to_image(x))


class Down(nn.Module):
    def __init__(self, c_in, c_out, kernel, stride, sn):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, 1)
        if sn:
            spectral_norm(self.conv)


class D(nn.Module):
    def __init__(self, width, channels, sn=True):
        super().__init__()
        w = width
        layers = [(channels, w, 3, 1), (w, 2 * w, 4, 2), (2 * w, 2 * w, 3, 1),
                  (2 * w, 4 * w, 4, 2), (4 * w, 4 * w, 3, 1), (4 * w, 8 * w, 4, 2),
                  (8 * w, 8 * w, 3, 1)]
        for i, (c_in, c_out, k, s) in enumerate(layers):
            setattr(self, f"block{i + 1}", Down(c_in, c_out, k, s, sn))
        self.to_logit = nn.Linear(16 * 8 * w, 1)
        if sn:
            spectral_norm(self.to_logit)

    def forward(self, x):
        for i in range(1, 8):
            x = F.leaky_relu(getattr(self, f"block{i}").conv(x), SLOPE)
        return self.to_logit(x.flatten(1)).squeeze(1)


def init(m):
    # The released code's wscale: N(0, 0.02) weights, zero biases; BN scale N(1, 0.02) as the
    # toolkit's DCGAN blocks draw it.
    for mod in m.modules():
        if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(mod.weight, 0.0, 0.02)
            nn.init.zeros_(mod.bias)
        elif isinstance(mod, nn.BatchNorm2d):
            nn.init.normal_(mod.weight, 1.0, 0.02)
            nn.init.zeros_(mod.bias)


def flat(t):
    return [float(f"{v:.9g}") for v in t.detach().reshape(-1).tolist()]


def toolkit_name(k):
    return (k.replace("parametrizations.weight.original", "weight_orig")
             .replace("parametrizations.weight.0._u", "weight_u")
             .replace("parametrizations.weight.0._v", "weight_v"))


def state(m):
    """Parameters and buffers under the toolkit's names; a normalised layer's `weight` is
    W / σ(W) as evaluation reads it (recorded for the checks, not loaded)."""
    out = {}
    for k, v in m.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        out[toolkit_name(k)] = {"shape": list(v.shape), "values": flat(v)}
    return out


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def main():
    torch.manual_seed(2018)
    torch.set_num_threads(1)
    out = {"param_counts": {"G_c1_w64_z128": n_params(G(128, 64, 1)),
                            "D_c1_w64": n_params(D(64, 1)),
                            "G_c3_w64_z128": n_params(G(128, 64, 3)),
                            "D_c3_w64": n_params(D(64, 3))}}
    g, d = G(8, 4, 1), D(4, 1)
    init(g)
    with torch.no_grad():
        for mod in d.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                mod.parametrizations.weight.original.normal_(0.0, 0.02)
                mod.bias.zero_()
    # u and v after PyTorch's 15 initial iterations on the N(0, 0.02) weights: run them again
    # from the drawn weights, as the toolkit's layer does when it is created.
    for mod in d.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            p = mod.parametrizations.weight[0]
            w = p._reshape_weight_to_matrix(mod.parametrizations.weight.original)
            with torch.no_grad():
                p._power_method(w, 15)
    out["g_state"], out["d_state"] = state(g), state(d)
    opt_g = torch.optim.SGD(g.parameters(), lr=0.05)
    opt_d = torch.optim.SGD(d.parameters(), lr=0.05)
    steps = []
    for _ in range(2):
        g.train(), d.train()
        real = torch.rand(3, 1, 32, 32) * 2 - 1
        z = torch.randn(3, 8)
        z2 = torch.randn(3, 8)
        fake = g(z).detach()
        d_real, d_fake = d(real), d(fake)
        loss_d = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        images = g(z2)
        d_g = d(images)
        loss_g = -d_g.mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        steps.append({"real": flat(real), "z": flat(z), "z2": flat(z2), "fake": flat(fake),
                      "d_real": flat(d_real), "d_fake": flat(d_fake), "loss_d": loss_d.item(),
                      "images": flat(images), "d_g": flat(d_g), "loss_g": loss_g.item()})
    out["steps"] = steps
    out["g_after"], out["d_after"] = state(g), state(d)
    g.eval(), d.eval()
    z = torch.randn(3, 8)
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    out["eval"] = {"z": flat(z), "images": flat(g(z)), "x": flat(x), "logits": flat(d(x))}
    out["torch"] = torch.__version__
    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "sngan32_reference.json")
    with open(path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
