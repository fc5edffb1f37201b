"""Reading public checkpoint files: pickles restricted to tensors and containers.

Pickles are opened with ``torch.load(weights_only=True)`` only (memory-mapped where the file allows
it): a file that needs anything beyond tensors and plain containers to unpickle is refused, unread.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import ConversionError, NotFoundError

EXPANSION_ALLOWANCE = 64 * 2**20  # torch stores tensors uncompressed; only small records may expand


def _refuse_zip_bombs(path: Path) -> None:
    """Refuse a file that is neither a zip nor a pickle, and a zip checkpoint whose members would expand far beyond the file (checked from the zip
    directory, before anything is decompressed)."""
    try:
        if not zipfile.is_zipfile(path):
            with open(path, "rb") as handle:
                if handle.read(1) != b"\x80":  # a pickle (torch's legacy format) starts with PROTO
                    raise ConversionError(f"{path} is not a torch checkpoint (neither a zip archive nor a pickle)")
            return
        with zipfile.ZipFile(path) as archive:
            expanded = sum(member.file_size for member in archive.infolist())
    except ConversionError:
        raise
    except Exception as err:  # noqa: BLE001 - a damaged zip directory fails in many ways
        raise ConversionError(f"{path} is not a readable torch checkpoint ({err})") from None
    if expanded > path.stat().st_size + EXPANSION_ALLOWANCE:
        raise ConversionError(f"{path} refused: its contents would expand to {expanded / 2**20:.0f} MiB from a "
                              f"{path.stat().st_size / 2**20:.1f} MiB file (torch checkpoints are stored uncompressed)")


def load_checkpoint(path: str | Path) -> Any:
    """``torch.load`` restricted to tensors and containers; anything else is one ``ConversionError``."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"checkpoint file {path} does not exist")
    _refuse_zip_bombs(path)
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as err:
            if "mmap" not in str(err):
                raise
            return torch.load(path, map_location="cpu", weights_only=True)  # legacy (non-zip) format
    except pickle.UnpicklingError as err:
        found = re.search(r"(?:unsupported|Unsupported) GLOBAL:? ?([\w.]+)", str(err))
        detail = f"it references {found.group(1)}" if found else ""
        if detail or "Weights only load failed" in str(err):
            raise ConversionError(
                f"{path} refused: unpickling it needs more than tensors and containers"
                + (f" ({detail})" if detail else "") + "; only weights-only checkpoints are opened"
            ) from None
        raise ConversionError(f"{path} is not a readable torch checkpoint ({err})") from None
    except Exception as err:  # noqa: BLE001 - a corrupt pickle or zip fails in arbitrary ways (TypeError, KeyError, …)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConversionError(f"{path} is not a readable torch checkpoint ({first})") from None


def state_dict_of(obj: Any, path: Path, key: str | None = None) -> dict[str, torch.Tensor]:
    """The tensor mapping inside a loaded checkpoint: ``obj[key]`` when given and present, else ``obj``."""
    if key is not None and isinstance(obj, Mapping) and key in obj:
        obj = obj[key]
    elif key is not None and isinstance(obj, Mapping) and not _is_state_dict(obj):
        raise ConversionError(f"{path}: the checkpoint has no '{key}' entry (keys: {', '.join(map(str, list(obj)[:8]))})")
    if not isinstance(obj, Mapping) or not _is_state_dict(obj):
        raise ConversionError(f"{path}: expected a state dict of tensors, got {type(obj).__name__}")
    return dict(obj)


def _is_state_dict(obj: Mapping) -> bool:
    return bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
