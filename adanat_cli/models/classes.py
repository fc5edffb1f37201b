"""``--class`` values: an index, a class name or a unique prefix of one (case-insensitive)."""

from __future__ import annotations

from collections.abc import Sequence

from ..data.class_names import are_bare_ids, default_class_names, imagenet_class_names
from ..errors import UsageError
from .bundle import read_bundle_config
from .resolve import class_hint, resolve_model


def model_class_names(spec: str) -> tuple[str, list[str]]:
    """(name, class names) of a model, read from its config.json without loading any weights."""
    name, path = resolve_model(spec)
    names = [str(c) for c in read_bundle_config(path)["classes"]]
    return name, default_class_names(len(names)) if are_bare_ids(names) else names


def search_classes(names: Sequence[str], query: str) -> list[tuple[int, str]]:
    """Classes whose name contains ``query`` (case-insensitive), best first: exact, prefix, substring."""
    q = query.strip().casefold()
    scored = []
    for index, name in enumerate(names):
        folded = name.casefold()
        if q in folded:
            scored.append((0 if folded == q else 1 if folded.startswith(q) else 2, index, name))
    return [(index, name) for _, index, name in sorted(scored)]


def resolve_class(text: str, names: Sequence[str], model: str) -> int:
    """The label that ``text`` names; an index is returned as is (its range is checked later)."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    q = text.casefold()
    exact = [i for i, name in enumerate(names) if name.casefold() == q]
    if exact:
        return exact[0]
    prefixed = [i for i, name in enumerate(names) if name.casefold().startswith(q)]
    if len(prefixed) == 1:
        return prefixed[0]
    if len(prefixed) > 1:
        shown = ", ".join(f"{names[i]} ({i})" for i in prefixed[:5]) + (", …" if len(prefixed) > 5 else "")
        raise UsageError(f"--class '{text}' is ambiguous in '{model}': {shown}; see `adanat classes {text}`")
    hint = ""
    elsewhere = search_classes(imagenet_class_names(), text)
    if elsewhere and elsewhere[0][1].casefold().startswith(q):
        hint = f"; {class_hint(*elsewhere[0])}"
    raise UsageError(f"model '{model}' has no class named '{text}'{hint}; `adanat classes` lists them")


def parse_classes(values: Sequence[str], names: Sequence[str], model: str) -> list[int]:
    """Every ``--class`` value resolved to a label; a value may be a comma list of them."""
    labels = []
    for value in values:
        parts = [part for part in value.split(",") if part.strip()]
        if not parts:
            raise UsageError("--class is empty: give an index, a name or a prefix (see `adanat classes`)")
        labels.extend(resolve_class(part, names, model) for part in parts)
    return labels
