"""What every backbone and tokenizer provides, whatever its architecture.

Backbones and tokenizers are ``nn.Module`` subclasses and ``Configurable``: their constructor keyword
arguments are their config, recorded automatically, so a bundle rebuilds them from ``config.json``
alone. A backbone declares its token space once, by calling ``super().__init__(codebook_size=...,
grid=..., num_classes=..., feature_dim=...)``; ``mask_id``, ``null_class`` and ``num_tokens`` follow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..configurable import Configurable


@dataclass
class BackboneOutput:
    """One forward pass of a NAT backbone.

    logits: (B, N, codebook_size) over the real codebook entries only (no mask column); with
        ``logit_rows`` (M,) asked of a backbone that ``supports_logit_rows``, (M, codebook_size): the
        head run only on those positions (flat indices into the B·N grid, row-major).
    features: (B, N, feature_dim) last-layer token features (what a learned policy reads).
    cache: backbone-specific state for the next step (ENAT reuse); None for backbones without one.
    """

    logits: torch.Tensor
    features: torch.Tensor
    cache: Any = None


class Backbone(nn.Module, Configurable):
    """Base class of class-conditional NAT backbones.

    ``forward(tokens (B, N) long, labels (B,) long, cache=None) -> BackboneOutput``. The mask id is
    ``codebook_size`` and the null (unconditional) class is ``num_classes``, as in every public NAT.

    ``conditioning``: "class" (forward reads (B,) long labels) or "text" (forward reads (B, L, context_dim)
    float contexts, the unconditional branch being the empty prompt's context).

    Optional, each found by the code that needs it:
    - ``supports_logit_rows = True`` with a ``logit_rows=None`` keyword on ``forward`` (see
      ``BackboneOutput.logits`` and ``head_rows``);
    - ``forward_flops(mask, prev_mask) -> (B,) int64``: matmul FLOPs of one forward per row (the
      GFLOPs column of ``compare``);
    - ``infer_config(state_dict, num_heads) -> dict`` (classmethod): the constructor's arguments read
      from a checkpoint's shapes, which makes ``adanat import --format <name>`` work for the backbone;
      the checkpoint then uses this class's own key names (``from_state_dict``).
    """

    supports_cache: bool = False
    conditioning: str = "class"
    # forward takes ``logit_rows=`` and runs its MLM head only there: sampling needs logits at the
    # masked positions alone, and the head (and the sampling after it) grows with the codebook
    supports_logit_rows: bool = False

    def __init__(self, *, codebook_size: int, grid: tuple[int, int], num_classes: int, feature_dim: int) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.mask_id = codebook_size
        self.grid = (int(grid[0]), int(grid[1]))
        self.num_classes = num_classes
        self.null_class = num_classes
        self.feature_dim = feature_dim

    @property
    def num_tokens(self) -> int:
        return self.grid[0] * self.grid[1]

    def forward_flops(self, mask: torch.Tensor, prev_mask: torch.Tensor | None = None) -> torch.Tensor | None:
        """(B,) FLOPs of one forward per row of input ``mask`` (B, N); None when not counted."""
        return None

    @property
    def counts_flops(self) -> bool:
        return type(self).forward_flops is not Backbone.forward_flops

    def compile_forward(self) -> Callable[..., BackboneOutput]:
        """This backbone's forward compiled with ``torch.compile`` (``--compile``); a backbone whose
        forward has data-dependent shapes overrides it to compile its blocks instead."""
        return torch.compile(self)

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, torch.Tensor], config: dict[str, Any]) -> "Backbone":
        """Build on the meta device and assign ``state_dict`` (this class's own key names) strictly."""
        with torch.device("meta"):
            module = cls(**config)
        module.load_state_dict(dict(state_dict), strict=True, assign=True)
        return module.eval()


class Tokenizer(nn.Module, Configurable):
    """Base class of VQ tokenizers. The public API always speaks images in [0, 1].

    Subclasses call ``super().__init__(codebook_size=..., downsample=...)`` (pixels per token side)
    and implement ``decode_raw`` (network output in its native range, unclamped), ``encode`` and
    ``to_unit`` (native range -> [0, 1]).
    """

    def __init__(self, *, codebook_size: int, downsample: int) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.downsample = downsample

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


def head_rows(features: torch.Tensor, logit_rows: torch.Tensor | None) -> torch.Tensor:
    """features (B, N, D) -> the (M, D) rows at ``logit_rows`` (flat indices), or all of them as they are."""
    if logit_rows is None:
        return features
    # one gather straight from ``features``, which is often a strided view (prefix tokens dropped):
    # flattening it first would copy every row just to pick a few
    n = features.shape[1]
    return features[logit_rows // n, logit_rows % n]


def linear_flops(layer: nn.Linear, tokens: torch.Tensor | int) -> torch.Tensor | int:
    """2 x multiply-accumulates of ``layer`` applied to ``tokens`` tokens."""
    return 2 * layer.in_features * layer.out_features * tokens


def attention_flops(queries: torch.Tensor | int, keys: torch.Tensor | int, dim: int) -> torch.Tensor | int:
    """Scores q·kᵀ and the weighted sum of values, all heads together."""
    return 2 * 2 * queries * keys * dim
