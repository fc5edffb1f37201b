"""From what a user types after ``--model`` to a loaded bundle.

In order: a folder path; a built-in model name; a converted bundle under the zoo bundles folder
(``<HF cache>/adanat-bundles/<name>``, written by ``adanat download`` or ``adanat import``); a zoo name
not converted yet is a ``NotFoundError`` telling how to get it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import NotFoundError
from ..registry import unknown_name_message
from .bundle import ModelBundle, load_bundle
from .download import bundles_root, find_converted
from .zoo import is_zoo_name, zoo_entries

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
DEFAULT_MODEL = "tiny-mnist"


def builtin_models() -> dict[str, Path]:
    """Bundles shipped inside the package, by name."""
    if not BUILTIN_DIR.is_dir():
        return {}
    return {p.name: p for p in sorted(BUILTIN_DIR.iterdir()) if (p / "config.json").is_file()}


def resolve_model(spec: str) -> tuple[str, Path]:
    """(name, folder) for a bundle folder path, a built-in name or a converted zoo/imported name."""
    path = Path(spec).expanduser()
    if path.is_dir() or spec.endswith(("/", "\\")) or path.suffix or len(path.parts) > 1:
        if not path.exists():
            raise NotFoundError(f"model folder {path} does not exist")
        return path.name, path
    builtins = builtin_models()
    if spec in builtins:
        return spec, builtins[spec]
    converted = find_converted(spec)
    if converted is not None:
        return spec, converted
    if is_zoo_name(spec):
        raise NotFoundError(
            f"model '{spec}' is not downloaded yet (looked in {bundles_root()}): run `adanat download {spec}` first"
        )
    known = sorted({*builtins, *(e.name for e in zoo_entries())})
    raise NotFoundError(unknown_name_message("model", spec, known))


def load_model(spec: str, device: torch.device | str = "cpu") -> ModelBundle:
    name, path = resolve_model(spec)
    return load_bundle(path, device=device, name=name)
