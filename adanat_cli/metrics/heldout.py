"""A held-out feature space for tiny-mnist: a second digit network that no training ever reads.

The policy's reward (the discriminator) and its checkpoint selection (FID in the ``tiny-mnist``
space, the bundled ``DigitClassifier``) never load this network, so FID measured here cannot have been
optimised for. It differs from ``DigitClassifier`` in architecture (strided convolutions with
GroupNorm and GELU, global average pooling, a 64-d embedding instead of a 128-d FC layer), seed and
data: it is trained on the *other* half of mnist5k (the second 250 digits of each class), with
label smoothing. A bundle names it in ``config.json``::

    "heldout_extractor": {"type": "heldout-cnn", "config": {...}, "file": "heldout_extractor.safetensors"}
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..configurable import Configurable
from ..errors import UsageError
from ..models.resolve import resolve_model
from .digit_classifier import load_bundled_network
from .extractors import BundledNetworkExtractor


class HeldoutNet(nn.Module, Configurable):
    """(B, 3, 28, 28) in [0, 1] -> a ``dim``-d embedding (``features``) -> class logits.

    ``feature_scale`` multiplies the features (not the logits): set when the network is built so that
    the real digits' features have a mean per-dimension std of 1, which puts its FIDs on a readable scale.
    """

    def __init__(self, width: int = 24, dim: int = 64, num_classes: int = 10, groups: int = 4,
                 feature_scale: float = 1.0):
        super().__init__()
        self.feature_scale = feature_scale
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 5, stride=2, padding=2), nn.GroupNorm(groups, width), nn.GELU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.GroupNorm(groups, 2 * width), nn.GELU(),
            nn.Conv2d(2 * width, dim, 3, padding=1), nn.GroupNorm(groups, dim), nn.GELU(),
        )
        self.head = nn.Linear(dim, num_classes)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images * 2.0 - 1.0).mean(dim=(2, 3))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.embed(images) * self.feature_scale

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(images))


HELDOUT_TYPES = {"heldout-cnn": HeldoutNet}


def load_heldout(bundle_path: str | Path) -> HeldoutNet | None:
    """The held-out network a bundle ships (eval mode, CPU), or None if it ships none."""
    return load_bundled_network(bundle_path, "heldout_extractor", HELDOUT_TYPES, "heldout_extractor.safetensors",
                                "held-out extractor")


class HeldoutExtractor(BundledNetworkExtractor):
    """Features of the held-out network bundled with a model (default: ``tiny-mnist``)."""

    name = "tiny-mnist-heldout"
    description = ("Held-out tiny-mnist features: a second digit network (other architecture, seed and half of "
                   "the data) that policy training and checkpoint selection never read.")

    def __init__(self, model: str = "tiny-mnist") -> None:
        _, path = resolve_model(model)
        network = load_heldout(path)
        if network is None:
            raise UsageError(f"model '{model}' ships no held-out extractor")
        self.network = network


def train_heldout(images: torch.Tensor, labels: torch.Tensor, steps: int = 1500, batch: int = 128,
                  seed: int = 7, log=lambda message: None) -> HeldoutNet:
    """Train on (M, 3, 28, 28) images in [0, 1]: AdamW, cosine decay, random shifts of ±2 px,
    label smoothing 0.1."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = HeldoutNet()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    model.train()
    for step in range(steps):
        idx = torch.randint(0, len(images), (batch,), generator=generator)
        x = images[idx]
        dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=generator))
        x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
        loss = F.cross_entropy(model(x), labels[idx], label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if (step + 1) % 250 == 0:
            log(f"held-out network step {step + 1}/{steps}: loss {loss.item():.4f}")
    return model.eval()
