"""Analytic compute of one generation: matmul FLOPs per step and per image.

FLOPs are 2 x multiply-accumulates of every matmul of a forward: linear layers (attention q/k/v and
output projections, MLPs, AdaLN modulation, skip fusions, ENAT's ``prev_proj``, the MLM head's
dense layer and its product with the token table) and attention scores and values
(2·Lq·Lk·D each). Norms, activations, softmax and embeddings lookups are not counted; this matches
``torch.utils.flop_counter.FlopCounterMode``.

ENAT is counted per image as it is meant to run: at each step only the newly revealed tokens are
encoded (the others are refreshed by ``prev_proj`` and read as context), and only mask tokens are
decoded; padding that a batch with uneven rows adds is not counted. Caches follow the engine
(``engine/loop.py``): each guidance branch reuses its own previous step, and a step without the uncond
pass ends the uncond chain, so the next uncond pass encodes every visible token.

Usage::

    result = decode(backbone, scheduler, labels, steps, seeds, trace=True)
    flops = generation_flops(backbone, list(result.masks.unbind(1)), result.uncond_steps)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..errors import UsageError
from ..models.base import Backbone
from ..models.enat import ENAT
from ..models.uvit import UViT


def linear_flops(layer: nn.Linear, tokens: torch.Tensor | int) -> torch.Tensor | int:
    return 2 * layer.in_features * layer.out_features * tokens


def attention_flops(queries: torch.Tensor | int, keys: torch.Tensor | int, dim: int) -> torch.Tensor | int:
    """Scores q·kᵀ and the weighted sum of values, all heads together."""
    return 2 * 2 * queries * keys * dim


def uvit_forward_flops(model: UViT, mask: torch.Tensor, prev_mask: torch.Tensor | None) -> torch.Tensor:
    """One U-ViT forward per row: every token, plus the class token, through every block."""
    batch, n = mask.shape
    length = n + 1  # the class token
    total = 0
    for block in [*model.in_blocks, model.mid_block, *model.out_blocks]:
        attn, mlp = block.attn, block.mlp
        total += linear_flops(attn.qkv, length) + linear_flops(attn.proj, length)
        total += attention_flops(length, length, attn.proj.in_features)
        total += linear_flops(mlp.fc1, length) + linear_flops(mlp.fc2, length)
        if block.skip_linear is not None:
            total += linear_flops(block.skip_linear, length)
    total += _head_flops(model, n)
    return torch.full((batch,), total, dtype=torch.int64)


def enat_forward_flops(model: ENAT, mask: torch.Tensor, prev_mask: torch.Tensor | None) -> torch.Tensor:
    """One ENAT forward per row: encode the new tokens (reading the reused ones), refresh the reused
    ones, decode the mask tokens (reading every visible one), then the head on all N."""
    mask = mask.bool().cpu()
    n = mask.shape[1]
    visible = ~mask
    if prev_mask is None:
        new, reused = visible.sum(1), torch.zeros(mask.shape[0], dtype=torch.int64)
    else:
        prev_mask = prev_mask.bool().cpu()
        new, reused = (visible & prev_mask).sum(1), (visible & ~prev_mask).sum(1)
    masked = mask.sum(1)
    total = _blocks_flops(model.encoder, new, new + reused) + _blocks_flops(model.decoder, masked, n)
    mlp = model.prev_proj.mlp
    total = total + linear_flops(mlp.fc1, reused) + linear_flops(mlp.fc2, reused)
    return total + _head_flops(model, n)


def _blocks_flops(blocks: nn.ModuleList, queries: torch.Tensor, keys: torch.Tensor | int) -> torch.Tensor:
    """ENAT blocks updating ``queries`` tokens per row while attending to ``keys`` tokens; a row
    with nothing to update skips the blocks (AdaLN modulation included)."""
    total = torch.zeros_like(queries)
    for block in blocks:
        attn, mlp = block.attn, block.mlp
        per_row = linear_flops(block.adaLN_modulation[-1], 1)
        per_row = per_row + linear_flops(attn.q, queries) + linear_flops(attn.proj, queries)
        per_row = per_row + linear_flops(attn.kv_own, queries) + linear_flops(attn.kv_context, keys - queries)
        per_row = per_row + attention_flops(queries, keys, attn.q.out_features)
        per_row = per_row + linear_flops(mlp.fc1, queries) + linear_flops(mlp.fc2, queries)
        total += torch.where(queries > 0, per_row, 0)
    return total


def _head_flops(model: Backbone, n: int) -> int:
    """The MLM head: dense layer, then the product with the codebook rows of the token table."""
    return linear_flops(model.head.fc, n) + 2 * model.head.fc.out_features * model.codebook_size * n


_COUNTERS: list[tuple[type, Callable]] = [(UViT, uvit_forward_flops), (ENAT, enat_forward_flops)]


def supports_flops(backbone: Backbone) -> bool:
    return any(isinstance(backbone, cls) for cls, _ in _COUNTERS)


def forward_flops(backbone: Backbone, mask: torch.Tensor, prev_mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) FLOPs of one forward per row, for input mask (B, N) and the mask of the reused cache."""
    for cls, counter in _COUNTERS:
        if isinstance(backbone, cls):
            return counter(backbone, mask, prev_mask)
    raise UsageError(f"no FLOP count for backbone {type(backbone).__name__}")


def generation_flops(
    backbone: Backbone,
    masks_per_step: Sequence[torch.Tensor],
    uncond_per_step: Sequence[bool],
    reuse: bool | None = None,
) -> dict:
    """FLOPs of one generation, per image.

    masks_per_step: T tensors (B, N) bool, the mask at the input of each step (True = masked).
    uncond_per_step: T booleans, whether that step ran the unconditional pass.
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
            flops = flops + forward_flops(backbone, mask, prev_uncond)
        prev_uncond = mask if reuse and with_uncond else None
        steps.append(flops)
    per_step = torch.stack(steps, dim=1)  # (B, T)
    total = per_step.sum(dim=1)
    return {"per_step": per_step, "total": total, "mean_total": float(total.double().mean())}
