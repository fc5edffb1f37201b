"""Policy files: one safetensors holding the actor's weights and, in its metadata, its config.

The metadata key ``adanat`` is a JSON object: ``format`` ("adanat-policy"), ``version``, ``kind``
("adaptive" = ``PolicyNet`` or "static" = ``StaticTable``), ``network`` (constructor kwargs),
``feature_dim``, ``grid``, ``steps``, ``residual``, ``model`` (the bundle it was trained for) and
``training`` (how it was made). A copy of that JSON is written next to the file for people to read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from ..errors import UsageError
from ..io import write_text_atomic, write_with_atomic
from .adanat_network import PolicyNet, StaticTable

FORMAT = "adanat-policy"
VERSION = 1
KINDS = {"adaptive": PolicyNet, "static": StaticTable}


def save_policy(path: str | Path, actor: nn.Module, meta: dict[str, Any]) -> Path:
    path = Path(path)
    kind = next(k for k, cls in KINDS.items() if isinstance(actor, cls))
    document = {"format": FORMAT, "version": VERSION, "kind": kind, "network": actor.config, **meta}
    tensors = {k: v.detach().cpu().contiguous() for k, v in actor.state_dict().items()}
    write_with_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata={"adanat": json.dumps(document)}))
    write_text_atomic(path.with_suffix(".json"), json.dumps(document, indent=2) + "\n")
    return path


def load_policy(path: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"policy file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            raw = (handle.metadata() or {}).get("adanat")
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    except (SafetensorError, OSError) as err:
        raise UsageError(f"policy file {path} is not a readable safetensors file ({err})") from None
    bad = sorted(k for k, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all())
    if bad:
        raise UsageError(f"policy file {path} holds non-finite weights (NaN or infinity) in {bad[0]}")
    try:
        meta = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        meta = {}
    if meta.get("format") != FORMAT or meta.get("kind") not in KINDS:
        raise UsageError(f"{path} is not an adanat policy file (no '{FORMAT}' metadata)")
    try:
        actor = KINDS[meta["kind"]](**meta["network"])
        actor.load_state_dict(tensors, strict=True)
    except (TypeError, RuntimeError) as err:
        detail = " ".join(str(err).split())  # torch's shape report spans many lines; keep it on one
        raise UsageError(f"policy file {path} does not match its own config ({detail[:300]})") from None
    return actor.to(device).eval(), meta
