"""From what a user types after ``--model`` to a loaded bundle.

In order: a folder path; a built-in model name; a converted bundle under the zoo bundles folder
(``<HF cache>/adanat-bundles/<name>``, written by ``adanat download`` or ``adanat import``); a zoo name
not converted yet is a ``NotFoundError`` telling how to get it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..data.class_names import IMAGENET_CLASSES
from ..errors import BundleError, NotFoundError
from ..registry import unknown_name_message
from .bundle import ModelBundle, load_bundle, read_bundle_config
from .cache import bundles_root, find_converted
from .zoo import is_zoo_name, zoo_entries

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"


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


def class_hint(label: int, name: str | None = None) -> str:
    """Where to find a model that has class ``label`` (called ``name``, if given): installed ones
    first, else the zoo and the download command (one clause, for an error message). A named class
    is an ImageNet one: only 1,000-class models have it."""
    what = f"'{name}'" if name else str(label)
    installed = []
    converted = sorted(p for p in bundles_root().iterdir() if p.is_dir()) if bundles_root().is_dir() else []
    for model, path in [*builtin_models().items(), *((p.name, p) for p in converted)]:
        try:
            count = len(read_bundle_config(path)["classes"])
            if (count == IMAGENET_CLASSES) if name else (count > label):
                installed.append(model)
        except (BundleError, TypeError):
            continue
    if installed:
        return f"installed models with class {what}: {', '.join(installed)} (pass --model NAME)"
    zoo = [e for e in zoo_entries() if e.num_classes > label]
    if not zoo:
        return "no known model has that many classes"
    first = next((e for e in zoo if e.format == "adanat"), zoo[0])
    return (f"models with class {what}: {', '.join(e.name for e in zoo)}; "
            f"get one with `adanat download {first.name} --default`")
