"""A class-conditional projection discriminator for the adversarial reward (Miyato & Koyama, 2018).

D(x, y) = w·h(x) + <embed(y), h(x)>, with h a strided conv net that halves the resolution until it is
at most 4 pixels, then sums over space. For a text-conditioned model y is the prompt's pooled text
embedding and ``embed`` a linear map of it (``cond_dim``, the official ``c_dim``), so the projection
term scores how well the image matches the caption. It works at any resolution; for ImageNet-scale models the
official AdaNAT uses a projected discriminator on frozen DINO features instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..configurable import Configurable


class ProjectionDiscriminator(nn.Module, Configurable):
    def __init__(self, num_classes: int, image_size: int, width: int = 32, max_width: int = 256,
                 cond_dim: int | None = None):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.LeakyReLU(0.2)]
        channels, size = width, image_size
        while size > 4:
            wider = min(2 * channels, max_width)
            layers += [nn.Conv2d(channels, wider, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            channels, size = wider, (size + 1) // 2
        self.features = nn.Sequential(*layers)
        self.linear = nn.Linear(channels, 1)
        self.embed = nn.Embedding(num_classes, channels) if cond_dim is None else nn.Linear(cond_dim, channels, bias=False)
        nn.init.normal_(self.embed.weight, std=0.02)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1], labels (B,) long or pooled text embeddings (B, cond_dim) -> logits (B,)."""
        h = self.features(images * 2 - 1).sum(dim=(2, 3))  # (B, C)
        return self.linear(h).squeeze(-1) + (self.embed(labels) * h).sum(-1)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating BCE: softplus(-D(real)) + softplus(D(fake))."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
