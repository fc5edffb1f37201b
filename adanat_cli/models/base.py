"""What every backbone and tokenizer provides, whatever its architecture.

Backbones and tokenizers are ``nn.Module`` subclasses whose constructor keyword arguments are their
config (stored as ``self.config``), so a bundle can rebuild them from ``config.json`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass
class BackboneOutput:
    """One forward pass of a NAT backbone.

    logits: (B, N, codebook_size) over the real codebook entries only (no mask column).
    features: (B, N, feature_dim) last-layer token features (what a learned policy reads).
    cache: backbone-specific state for the next step (ENAT reuse); None for backbones without one.
    """

    logits: torch.Tensor
    features: torch.Tensor
    cache: Any = None


class Backbone(nn.Module):
    """Base class of class-conditional NAT backbones.

    Subclasses set, in ``__init__``: ``codebook_size``, ``mask_id``, ``grid`` (h, w), ``num_classes``
    (real classes, excluding the null class), ``null_class`` (label meaning "unconditional"),
    ``feature_dim``, and ``config`` (a JSON-serialisable dict of the constructor's keyword arguments).

    ``forward(tokens (B, N) long, labels (B,) long, cache=None) -> BackboneOutput``.
    """

    codebook_size: int
    mask_id: int
    grid: tuple[int, int]
    num_classes: int
    null_class: int
    feature_dim: int
    config: dict
    supports_cache: bool = False

    @property
    def num_tokens(self) -> int:
        return self.grid[0] * self.grid[1]


class Tokenizer(nn.Module):
    """Base class of VQ tokenizers. The public API always speaks images in [0, 1].

    Subclasses set ``codebook_size``, ``downsample`` (pixels per token side) and ``config``, and
    implement ``decode_raw`` (network output in its native range, unclamped), ``encode`` and
    ``to_unit`` (native range -> [0, 1]).
    """

    codebook_size: int
    downsample: int
    config: dict

    def decode_raw(self, codes: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def to_unit(self, raw: torch.Tensor) -> torch.Tensor:
        """Map the decoder's native range to [0, 1] (before clamping)."""
        raise NotImplementedError

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1] -> codes (B, H/f, W/f) long."""
        raise NotImplementedError

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, h, w) long -> images (B, 3, h*f, w*f) in [0, 1]."""
        return self.to_unit(self.decode_raw(codes)).clamp(0.0, 1.0)
