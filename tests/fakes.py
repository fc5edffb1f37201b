"""Small deterministic stand-ins used by engine and CLI tests (registered by fixtures, never installed)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from adanat_cli.architectures.base import Backbone, BackboneOutput, Tokenizer


class ToyBackbone(Backbone):
    """Embedding + one attention-free mixing layer: cheap, deterministic, class- and token-dependent."""

    def __init__(self, codebook_size: int = 16, side: int = 4, num_classes: int = 3, dim: int = 8):
        super().__init__(codebook_size=codebook_size, grid=(side, side), num_classes=num_classes, feature_dim=dim)
        self.tok = nn.Embedding(codebook_size + 1, dim)
        self.pos = nn.Parameter(torch.randn(side * side, dim) * 0.5)
        self.cls = nn.Embedding(num_classes + 1, dim)
        self.mix = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, codebook_size)
        self.calls: list[int] = []

    def forward(self, tokens, labels, cache=None):
        self.calls.append(tokens.shape[0])
        x = self.tok(tokens) + self.pos + self.cls(labels)[:, None, :]  # (B, N, D)
        x = x + torch.tanh(self.mix(x.mean(dim=1, keepdim=True)))
        return BackboneOutput(logits=self.head(x) * 3.0, features=x)


class ToyTokenizer(Tokenizer):
    """Each code is a flat colour patch of ``downsample`` pixels."""

    def __init__(self, codebook_size: int = 16, downsample: int = 2):
        super().__init__(codebook_size=codebook_size, downsample=downsample)
        self.palette = nn.Parameter(torch.rand(codebook_size, 3))

    def decode_raw(self, codes):
        colours = self.palette[codes]  # (B, h, w, 3)
        up = colours.repeat_interleave(self.downsample, 1).repeat_interleave(self.downsample, 2)
        return up.permute(0, 3, 1, 2)

    def to_unit(self, raw):
        return raw

    def encode(self, images):
        f = self.downsample
        patches = torch.nn.functional.avg_pool2d(images, f).permute(0, 2, 3, 1)  # (B, h, w, 3)
        return torch.cdist(patches.flatten(1, 2), self.palette[None]).argmin(-1).view(patches.shape[:3])


def toy_model(seed: int = 0, **kwargs) -> ToyBackbone:
    torch.manual_seed(seed)
    return ToyBackbone(**kwargs).eval()


class ToyExtractor:
    """A weight-free feature extractor: 4x4 average colours (48-d)."""

    name = "toy"
    description = "4x4 average-pooled colours."

    def prepare(self, image):
        import numpy as np

        return np.asarray(image, dtype=np.float32)

    def __call__(self, batch):
        return torch.nn.functional.adaptive_avg_pool2d(batch / 255.0, 4).flatten(1)

    def to(self, device):
        return self


def class_folders(root, classes: int, per_class: int, size: int):
    """``classes`` folders of ``per_class`` random ``size``² RGB images under ``root``."""
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / f"c{c}" / f"{i}.png")
    return root
