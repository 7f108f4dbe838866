"""GAN generators and discriminators for 28×28 one-channel images in [−1, 1].

``mlp``: fully connected pair. ``dcgan``: the DCGAN pattern -- the generator upsamples with
stride-2 transposed convolutions (7 → 14 → 28), the discriminator downsamples with stride-2
convolutions; batch norm inside, LeakyReLU in the discriminator. Discriminators return one
logit per image (use ``BCEWithLogits``).

A WGAN-GP critic (``build(..., critic=True)``) is the same discriminator without what the
gradient penalty forbids (Gulrajani et al. 2017, §4): no dropout (D must be one fixed
function of x for ∇ₓD(x̂)) and layer norm instead of batch norm (the penalty is per
sample, and batch norm mixes the samples of a batch); its score is unbounded (no sigmoid).
"""
from __future__ import annotations

from .. import functional as Fn
from .. import nn


class MLPGenerator(nn.Module):
    """z (N, z_dim) → 256 → 512 → 1024 → 784, LeakyReLU(0.2), tanh → (N, 1, 28, 28)."""

    def __init__(self, z_dim=64, hidden=256):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, 2 * hidden), nn.LeakyReLU(0.2),
            nn.Linear(2 * hidden, 4 * hidden), nn.LeakyReLU(0.2),
            nn.Linear(4 * hidden, 784), nn.Tanh())

    def forward(self, z):
        return Fn.reshape(self.net(z), -1, 1, 28, 28)


class MLPDiscriminator(nn.Module):
    """x (N, 1, 28, 28) → 784 → 512 → 256 → 1 logit, LeakyReLU(0.2), dropout 0.3."""

    def __init__(self, hidden=256, dropout=0.3):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 2 * hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout),
            nn.Linear(2 * hidden, hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout),
            nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x)


class DCGenerator(nn.Module):
    """z → Linear → (2c, 7, 7) → ConvT(2c→c, 4, s2) → BN → ReLU → ConvT(c→1, 4, s2) → tanh."""

    def __init__(self, z_dim=64, channels=64):
        super().__init__()
        self.channels = channels
        self.fc = nn.Sequential(nn.Linear(z_dim, 2 * channels * 49),
                                nn.BatchNorm1d(2 * channels * 49), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1),
            nn.BatchNorm2d(channels), nn.ReLU(),
            nn.ConvTranspose2d(channels, 1, 4, stride=2, padding=1), nn.Tanh())

    def forward(self, z):
        return self.net(Fn.reshape(self.fc(z), -1, 2 * self.channels, 7, 7))


class DCDiscriminator(nn.Module):
    """x → Conv(1→c, 4, s2) → LeakyReLU → Conv(c→2c, 4, s2) → BN → LeakyReLU → Linear → 1
    (``norm="layer"``: LayerNorm over (2c, 7, 7) in place of BN)."""

    def __init__(self, channels=64, norm="batch"):
        super().__init__()
        norm_layer = (nn.BatchNorm2d(2 * channels) if norm == "batch"
                      else nn.LayerNorm((2 * channels, 7, 7)))
        self.net = nn.Sequential(
            nn.Conv2d(1, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1),
            norm_layer, nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * channels * 49, 1))

    def forward(self, x):
        return self.net(x)


ARCHITECTURES = {"mlp": (MLPGenerator, MLPDiscriminator),
                 "dcgan": (DCGenerator, DCDiscriminator)}
#: the discriminator's options that make it a WGAN-GP critic
CRITIC = {"mlp": {"dropout": 0.0}, "dcgan": {"norm": "layer"}}


def build(arch: str, z_dim: int = 64, critic: bool = False):
    """``(generator, discriminator)`` for ``arch`` in ``mlp`` / ``dcgan``; with ``critic``,
    the discriminator is the WGAN-GP critic variant (no dropout, no batch norm)."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"gan: unknown model {arch!r}; expected one of {sorted(ARCHITECTURES)}")
    g_cls, d_cls = ARCHITECTURES[arch]
    return g_cls(z_dim=z_dim), d_cls(**(CRITIC[arch] if critic else {}))


__all__ = ["MLPGenerator", "MLPDiscriminator", "DCGenerator", "DCDiscriminator",
           "ARCHITECTURES", "CRITIC", "build"]
