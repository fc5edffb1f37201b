"""Analytic compute of one generation: matmul FLOPs per step and per image.

Each backbone counts one forward itself (``Backbone.forward_flops``); this module follows the
engine's steps and caches. FLOPs are 2 x multiply-accumulates of every matmul of a forward
(linear layers, attention scores and values); norms, activations, softmax and embedding lookups
are not counted, which matches ``torch.utils.flop_counter.FlopCounterMode``.

Caches follow the engine (``engine/loop.py``): each guidance branch reuses its own previous step,
and a step without the uncond pass ends the uncond chain, so the next uncond pass encodes every
visible token.

Usage::

    result = decode(backbone, scheduler, labels, steps, seeds, trace=True)
    flops = generation_flops(backbone, list(result.masks.unbind(1)), result.uncond_steps)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..architectures.base import Backbone
from ..errors import UsageError


def supports_flops(backbone: Backbone) -> bool:
    """Whether the backbone counts its own FLOPs (``Backbone.forward_flops``)."""
    return bool(getattr(backbone, "counts_flops", False))


def forward_flops(backbone: Backbone, mask: torch.Tensor, prev_mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) FLOPs of one forward per row, for input mask (B, N) and the mask of the reused cache."""
    flops = backbone.forward_flops(mask, prev_mask) if supports_flops(backbone) else None
    if flops is None:
        raise UsageError(f"no FLOP count for backbone {type(backbone).__name__}")
    return flops


def generation_flops(
    backbone: Backbone,
    masks_per_step: Sequence[torch.Tensor],
    uncond_per_step: Sequence[int],
    reuse: bool | None = None,
) -> dict:
    """FLOPs of one generation, per image.

    masks_per_step: T tensors (B, N) bool, the mask at the input of each step (True = masked).
    uncond_per_step: T counts (or booleans), the unconditional passes that step ran: 0, 1, or 2 when
        guidance pushes against a share of a negative prompt as well as the empty one.
    reuse: whether the backbone reused its previous step (default: ``backbone.supports_cache``).
    Returns ``per_step`` (B, T) int64, ``total`` (B,) int64 and ``mean_total`` (float, over images).
    """
    if len(masks_per_step) != len(uncond_per_step):
        raise UsageError(f"{len(masks_per_step)} masks but {len(uncond_per_step)} uncond flags")
    reuse = getattr(backbone, "supports_cache", False) if reuse is None else reuse
    prev_cond = prev_uncond = None
    steps = []
    for mask, with_uncond in zip(masks_per_step, uncond_per_step):
        mask = mask.bool().cpu()
        flops = forward_flops(backbone, mask, prev_cond)
        prev_cond = mask if reuse else None
        if with_uncond:
            flops = flops + int(with_uncond) * forward_flops(backbone, mask, prev_uncond)
        prev_uncond = mask if reuse and with_uncond else None
        steps.append(flops)
    per_step = torch.stack(steps, dim=1)  # (B, T)
    total = per_step.sum(dim=1)
    return {"per_step": per_step, "total": total, "mean_total": float(total.double().mean())}
