"""Reference values from PyTorch for the DCGAN-32 and optimiser tests.

Run with the set-up venv:  .venv/bin/python tests/reference/dcgan32_reference.py
It writes tests/fixtures/dcgan32_reference.json. The networks are PyTorch's examples/dcgan
scaled to 32x32 (the definition in the workspace issue), with module names chosen so that
state_dict keys equal the Rust parameter names (block1.conv.weight, ...).
"""
import json
import os

import torch
import torch.nn as nn


class Up(nn.Module):
    def __init__(self, c_in, c_out, stride, padding, bn):
        super().__init__()
        self.conv = nn.ConvTranspose2d(c_in, c_out, 4, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out) if bn else None


class Down(nn.Module):
    def __init__(self, c_in, c_out, stride, padding, bn):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 4, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out) if bn else None


class G(nn.Module):
    def __init__(self, z_dim, width, channels):
        super().__init__()
        self.z_dim = z_dim
        self.block1 = Up(z_dim, 4 * width, 1, 0, True)
        self.block2 = Up(4 * width, 2 * width, 2, 1, True)
        self.block3 = Up(2 * width, width, 2, 1, True)
        self.to_image = Up(width, channels, 2, 1, False)

    def forward(self, z):
        x = z.view(z.shape[0], -1, 1, 1)
        for b in (self.block1, self.block2, self.block3):
            x = torch.relu(b.bn(b.conv(x)))
        return torch.tanh(self.to_image.conv(x))


class D(nn.Module):
    def __init__(self, width, channels):
        super().__init__()
        self.block1 = Down(channels, width, 2, 1, False)
        self.block2 = Down(width, 2 * width, 2, 1, True)
        self.block3 = Down(2 * width, 4 * width, 2, 1, True)
        self.to_logit = Down(4 * width, 1, 1, 0, False)

    def forward(self, x):
        x = nn.functional.leaky_relu(self.block1.conv(x), 0.2)
        for b in (self.block2, self.block3):
            x = nn.functional.leaky_relu(b.bn(b.conv(x)), 0.2)
        return self.to_logit.conv(x).flatten(1).squeeze(1)


class DLayerNorm(D):
    """D with the critic's layer norm (Gulrajani et al. 2017, sec. 4; their code's
    Layernorm over [1,2,3] with a per-channel scale and offset): GroupNorm(1, C)."""

    def __init__(self, width, channels):
        super().__init__(width, channels)
        for b, c in ((self.block2, 2 * width), (self.block3, 4 * width)):
            b.bn = None
            b.ln = nn.GroupNorm(1, c, eps=1e-5)

    def forward(self, x):
        x = nn.functional.leaky_relu(self.block1.conv(x), 0.2)
        for b in (self.block2, self.block3):
            x = nn.functional.leaky_relu(b.ln(b.conv(x)), 0.2)
        return self.to_logit.conv(x).flatten(1).squeeze(1)


def weights_init(m):
    # PyTorch examples/dcgan: conv N(0, 0.02); BN weight N(1, 0.02), bias 0.
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def state(m):
    return {k: {"shape": list(v.shape), "values": flat(v)} for k, v in m.state_dict().items()
            if not k.endswith("num_batches_tracked")}


def main():
    torch.manual_seed(1234)
    torch.set_num_threads(1)
    out = {"param_counts": {}}
    for c in (1, 3):
        out["param_counts"][f"G_c{c}"] = n_params(G(100, 64, c))
        out["param_counts"][f"D_c{c}"] = n_params(D(64, c))

    # A narrow pair (width 4, z_dim 8) whose weights fit in a JSON fixture.
    g, d = G(8, 4, 1), D(4, 1)
    g.apply(weights_init)
    d.apply(weights_init)
    z = torch.randn(5, 8)
    real = torch.rand(5, 1, 32, 32) * 2 - 1
    g.train(), d.train()
    out["narrow"] = {
        "z_dim": 8, "width": 4, "channels": 1,
        "g_state": state(g), "d_state": state(d),
        "z": flat(z), "real": flat(real),
        "g_out_train": flat(g(z)), "d_out_train": flat(d(real)),
    }
    g.eval(), d.eval()
    out["narrow"]["g_out_eval"] = flat(g(z))
    out["narrow"]["d_out_eval"] = flat(d(real))

    # Optimisers: 5 steps of Adam (DCGAN settings) and RMSProp (WGAN settings) on
    # f(w) = sum(w^3 * x) from the same start; grads and the trajectory are deterministic.
    x = torch.randn(7)
    w0 = torch.randn(7)
    traj = {}
    for name, make in [
        ("adam", lambda p: torch.optim.Adam([p], lr=2e-4, betas=(0.5, 0.999), eps=1e-8, foreach=False)),
        ("adam_wd", lambda p: torch.optim.Adam([p], lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1, foreach=False)),
        ("rmsprop", lambda p: torch.optim.RMSprop([p], lr=5e-5, alpha=0.99, eps=1e-8, foreach=False)),
    ]:
        w = w0.clone().requires_grad_(True)
        opt = make(w)
        steps = []
        for _ in range(5):
            opt.zero_grad()
            (w.pow(3) * x).sum().backward()
            opt.step()
            steps.append(flat(w))
        traj[name] = steps
    out["optim"] = {"x": flat(x), "w0": flat(w0), "trajectories": traj}

    # The layer-norm critic (drawn last, so the values above stay those of earlier fixtures):
    # its scale and offset drawn away from 1 and 0 so that both are exercised.
    d_ln = DLayerNorm(4, 1)
    d_ln.apply(weights_init)
    for b in (d_ln.block2, d_ln.block3):
        nn.init.normal_(b.ln.weight, 1.0, 0.1)
        nn.init.normal_(b.ln.bias, 0.0, 0.1)
    real_ln = torch.rand(5, 1, 32, 32) * 2 - 1
    out["layer_norm_critic"] = {
        "d_state": state(d_ln), "real": flat(real_ln), "d_out": flat(d_ln(real_ln)),
    }

    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "dcgan32_reference.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print("wrote", os.path.normpath(path), out["param_counts"])


if __name__ == "__main__":
    main()
