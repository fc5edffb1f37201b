"""Strict loading of a public state dict into one of our modules.

Every public key must be consumed, every parameter of ours must be filled, and shapes must agree;
the first violation is reported with the public key's name so that a user can see what is wrong with
their file. Works on the meta device, so full-size checkpoints can be checked without their weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn

from ...errors import ConversionError


def assign_strict(
    module: nn.Module,
    official: Mapping[str, torch.Tensor],
    rename: Callable[[str], str | None],
    what: str,
    official_name_of: Callable[[str], str] | None = None,
) -> nn.Module:
    """Load ``official`` into ``module`` through ``rename`` (public key -> our key, None = unknown).

    ``official_name_of`` maps one of our keys back to the public name, used to name a missing key.
    Tensors are assigned (not copied), so meta tensors and memory-mapped tensors stay as they are.
    """
    expected = module.state_dict(keep_vars=False)
    mapped: dict[str, torch.Tensor] = {}
    for key, tensor in official.items():
        ours = rename(key)
        if ours is None or ours not in expected:
            raise ConversionError(f"{what}: unexpected key '{key}' in the checkpoint")
        if ours in mapped:
            raise ConversionError(f"{what}: key '{key}' maps onto '{ours}', which is already filled")
        want = tuple(expected[ours].shape)
        if tuple(tensor.shape) != want:
            raise ConversionError(
                f"{what}: key '{key}' has shape {tuple(tensor.shape)}, expected {want}"
            )
        mapped[ours] = tensor.to(expected[ours].dtype) if tensor.dtype != expected[ours].dtype else tensor
    missing = [k for k in expected if k not in mapped]
    if missing:
        name = official_name_of(missing[0]) if official_name_of else missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ConversionError(f"{what}: missing key '{name}' in the checkpoint{more}")
    module.load_state_dict(mapped, strict=True, assign=True)
    return module


def require_keys(state_dict: Mapping[str, torch.Tensor], keys: Iterable[str], what: str) -> None:
    """The keys a config is inferred from must be there; the first missing one is named."""
    for key in keys:
        if key not in state_dict:
            raise ConversionError(f"{what}: missing key '{key}' in the checkpoint")


def square_side(count: int, what: str) -> int:
    """The side of a square token grid of ``count`` positions (from a position-embedding table)."""
    side = math.isqrt(count)
    if side * side != count:
        raise ConversionError(f"{what}: {count} position embeddings do not form a square grid")
    return side
