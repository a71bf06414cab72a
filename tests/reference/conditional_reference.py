"""Reference values from PyTorch for the class-conditional DCGAN-32 (`cond = true`).

Run with the set-up venv:  .venv/bin/python tests/reference/conditional_reference.py
Writes tests/fixtures/conditional_reference.json: the narrow DCGAN-32 pair of dcgan32_reference.py
(z_dim 8, width 4, one channel) made conditional on 3 classes as the toolkit builds it:
- G: a learned class embedding `class_embed` [3, z_dim] concatenated to z, the first transposed
  convolution taking 2 * z_dim channels;
- D: a projection discriminator (Miyato & Koyama 2018, eq. 3): the unconditional logit plus
  <embed(y), phi(x)>, phi(x) the last block's features flattened (the input of the final 4x4
  convolution), `class_projection` [3, 4 * width * 16].
The state under the toolkit's names, the inputs (z, labels, reals), the outputs in training and
evaluation mode, and the gradients of the mean output with respect to both class tables.
"""
import json
import os
import sys

import torch
import torch.nn as nn
from torch.nn.utils.parametrizations import spectral_norm

sys.path.insert(0, os.path.dirname(__file__))
from dcgan32_reference import D, G, state, flat, weights_init  # noqa: E402


class CondG(G):
    def __init__(self, z_dim, width, channels, classes):
        super().__init__(2 * z_dim, width, channels)
        self.z_dim = z_dim  # of z; the first convolution takes z and the class code
        self.class_embed = nn.Embedding(classes, z_dim)
        with torch.no_grad():  # N(0, 1/z_dim), as the toolkit draws it: codes of unit norm
            self.class_embed.weight /= z_dim ** 0.5

    def forward(self, z, c):
        return super().forward(torch.cat([z, self.class_embed(c)], 1))


class CondBNG(CondG):
    """CondG with class-conditional batch norm in its hidden blocks (de Vries et al. 2017):
    BatchNorm2d without affine parameters, then the class's row of `class_weight` (scale) and
    `class_bias` (shift), [classes, channels]."""

    def __init__(self, z_dim, width, channels, classes):
        super().__init__(z_dim, width, channels, classes)
        for b in (self.block1, self.block2, self.block3):
            c = b.conv.out_channels
            b.bn = nn.BatchNorm2d(c, affine=False)
            b.bn.class_weight = nn.Parameter(torch.empty(classes, c).normal_(1.0, 0.02))
            b.bn.class_bias = nn.Parameter(torch.zeros(classes, c))

    def forward(self, z, c):
        x = torch.cat([z, self.class_embed(c)], 1)
        x = x.view(x.shape[0], -1, 1, 1)
        for b in (self.block1, self.block2, self.block3):
            x = b.bn(b.conv(x))
            x = x * b.bn.class_weight[c][:, :, None, None] + b.bn.class_bias[c][:, :, None, None]
            x = torch.relu(x)
        return torch.tanh(self.to_image.conv(x))


class ProjD(D):
    def __init__(self, width, channels, classes):
        super().__init__(width, channels)
        self.class_projection = nn.Embedding(classes, 4 * width * 16)

    def spectral(self):
        """`d_spectral_norm = true`: spectral normalization on the four convolutions and on the
        class table (SNGAN's SNEmbedID; PyTorch's parametrization with dim 0)."""
        for b in (self.block1, self.block2, self.block3, self.to_logit):
            spectral_norm(b.conv)
        spectral_norm(self.class_projection)
        return self

    def forward(self, x, c):
        x = nn.functional.leaky_relu(self.block1.conv(x), 0.2)
        for b in (self.block2, self.block3):
            x = nn.functional.leaky_relu(b.bn(b.conv(x)), 0.2)
        logit = self.to_logit.conv(x).flatten(1).squeeze(1)
        phi = x.flatten(1)
        return logit + (self.class_projection(c) * phi).sum(1)


def main():
    torch.manual_seed(39)
    torch.set_num_threads(1)
    g, d = CondG(8, 4, 1, 3), ProjD(4, 1, 3)
    g.apply(weights_init)
    d.apply(weights_init)
    nn.init.xavier_uniform_(d.class_projection.weight)
    z = torch.randn(6, 8)
    y = torch.tensor([2, 0, 1, 1, 0, 2])
    real = torch.rand(6, 1, 32, 32) * 2 - 1
    out = {"z_dim": 8, "width": 4, "channels": 1, "classes": 3,
           "g_state": state(g), "d_state": state(d),
           "z": flat(z), "labels": y.tolist(), "real": flat(real)}
    g.train(), d.train()
    fake = g(z, y)
    logits = d(real, y)
    fake.mean().backward()
    logits.mean().backward()
    out["g_out_train"] = flat(fake)
    out["d_out_train"] = flat(logits)
    out["g_class_embed_grad"] = flat(g.class_embed.weight.grad)
    out["d_class_projection_grad"] = flat(d.class_projection.weight.grad)
    g.eval(), d.eval()
    with torch.no_grad():
        out["g_out_eval"] = flat(g(z, y))
        out["d_out_eval"] = flat(d(real, y))
    # Class-conditional batch norm (drawn last: the values above stay those of earlier fixtures).
    g = CondBNG(8, 4, 1, 3)
    nn.init.normal_(g.block1.conv.weight, 0.0, 0.02)
    for b in (g.block2, g.block3, g.to_image):
        nn.init.normal_(b.conv.weight, 0.0, 0.02)
    for b in (g.block1, g.block2, g.block3):
        nn.init.normal_(b.bn.class_bias, 0.0, 0.1)  # away from 0, so that the shift is checked
    out["cbn_g_state"] = state(g)
    g.train()
    fake = g(z, y)
    fake.mean().backward()
    out["cbn_g_out_train"] = flat(fake)
    out["cbn_block2_class_weight_grad"] = flat(g.block2.bn.class_weight.grad)
    g.eval()
    with torch.no_grad():
        out["cbn_g_out_eval"] = flat(g(z, y))
    # The projection D under spectral normalization (drawn last as well): its state under the
    # toolkit's names (after PyTorch's 15 initial power iterations), a training forward (one
    # iteration per normalised weight), the gradient of the mean logit with respect to the
    # class table, u and v after it, and an evaluation forward (no iteration).
    d = ProjD(4, 1, 3)
    d.apply(weights_init)
    nn.init.xavier_uniform_(d.class_projection.weight)
    d.spectral()
    out["sn_d_state"] = {
        k.replace("parametrizations.weight.original", "weight_orig")
         .replace("parametrizations.weight.0._u", "weight_u")
         .replace("parametrizations.weight.0._v", "weight_v"): v
        for k, v in state(d).items()}
    d.train()
    logits = d(real, y)
    logits.mean().backward()
    out["sn_d_out_train"] = flat(logits)
    table = d.class_projection.parametrizations.weight
    out["sn_class_projection_grad"] = flat(table.original.grad)
    out["sn_class_projection_u"] = flat(table[0]._u)
    out["sn_class_projection_v"] = flat(table[0]._v)
    d.eval()
    with torch.no_grad():
        out["sn_d_out_eval"] = flat(d(real, y))
    out["torch"] = torch.__version__
    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "conditional_reference.json")
    with open(path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
