"""Importing the official AdaNAT policy checkpoint (LeapLabTHU/AdaNAT ``train.py`` output).

The file is a torch pickle dict: ``model`` (the PPO module's state: ``policy.actor.*``,
``policy.critic.*``, ``policy_old.*``), ``discriminator``, optimizers, counters and ``args`` (an
``argparse.Namespace``). It is opened with ``weights_only=True`` and only ``argparse.Namespace``
allow-listed; the acting policy (``policy_old.actor``) becomes our ``PolicyNet``. The number of steps
comes from ``args.gen_steps`` and the handcrafted residual from ``args.heu``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import torch

from ...errors import ConversionError
from ...schedulers.adanat_network import PolicyNet
from ..checkpoints import load_checkpoint
from .strict import assign_strict

ACTOR_PREFIXES = ("policy_old.actor.", "policy.actor.", "module.policy_old.actor.")


def load_official_checkpoint(path: str | Path) -> dict[str, Any]:
    with torch.serialization.safe_globals([argparse.Namespace]):
        checkpoint = load_checkpoint(path)
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        raise ConversionError(f"{path} is not an AdaNAT training checkpoint (no 'model' entry)")
    return checkpoint


def actor_state(model: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    for prefix in ACTOR_PREFIXES:
        found = {k[len(prefix):]: v for k, v in model.items() if k.startswith(prefix)}
        if found:
            return found
    raise ConversionError(f"{path}: no actor weights (looked for {', '.join(ACTOR_PREFIXES)})")


def policy_from_official(path: str | Path, grid: tuple[int, int] | None = None) -> tuple[PolicyNet, dict[str, Any]]:
    """(actor, policy metadata) from an official checkpoint; ``grid`` defaults to the square grid
    the first linear layer's width implies (16x16 for ImageNet-256)."""
    path = Path(path)
    checkpoint = load_official_checkpoint(path)
    state = actor_state(checkpoint["model"], path)
    try:
        hidden = state["t_embedder.mlp.0.weight"].shape[0]
        pointwise = state["pw_conv.weight"].shape[0]
        fc1, fc2 = state["linear1.weight"].shape[0], state["linear2.weight"].shape[0]
        out_dim = state["linear3.weight"].shape[0]
        feature_dim = state["x_embedder.weight"].shape[1] if "x_embedder.weight" in state else hidden
        pooled = state["linear1.weight"].shape[1] // pointwise
    except KeyError as err:
        raise ConversionError(f"{path}: missing actor key {err}") from None
    if grid is None:
        side = math.isqrt(pooled)
        if side * side != pooled:
            raise ConversionError(f"{path}: cannot infer a square token grid from {pooled} pooled positions")
        grid = (2 * side, 2 * side)
    with torch.device("meta"):
        actor = PolicyNet(feature_dim, grid, out_dim=out_dim, hidden=hidden, pointwise=pointwise, fc1=fc1, fc2=fc2)
    assign_strict(actor, state, lambda key: key, f"{path} (actor)")
    args = checkpoint.get("args")
    steps = int(getattr(args, "gen_steps", 8))
    meta = {
        "feature_dim": feature_dim, "grid": list(grid), "steps": steps, "residual": bool(getattr(args, "heu", 0)),
        "model": "imagenet256 (official AdaNAT)",
        "training": {"source": str(path.name), "updates": int(checkpoint.get("global_step", 0))},
    }
    return actor.eval(), meta
