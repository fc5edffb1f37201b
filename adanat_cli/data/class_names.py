"""Class names a model's labels stand for: ImageNet's 1,000 (in label order), else the label ids."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

IMAGENET_CLASSES = 1000
_IMAGENET_FILE = Path(__file__).with_name("imagenet_classes.txt")


@lru_cache(maxsize=1)
def imagenet_class_names() -> tuple[str, ...]:
    """The ILSVRC-2012 class names in label order (0 = tench, 207 = golden retriever, …)."""
    names = tuple(line.strip() for line in _IMAGENET_FILE.read_text(encoding="utf-8").splitlines() if line.strip())
    assert len(names) == IMAGENET_CLASSES, f"{_IMAGENET_FILE} should hold {IMAGENET_CLASSES} names"
    return names


def default_class_names(num_classes: int) -> list[str]:
    """Names for a model that does not ship its own: ImageNet's for 1,000 classes, else "0", "1", …"""
    if num_classes == IMAGENET_CLASSES:
        return list(imagenet_class_names())
    return [str(i) for i in range(num_classes)]


def are_bare_ids(names: list[str]) -> bool:
    """True for the placeholder names "0", "1", … that carry no information."""
    return all(name == str(i) for i, name in enumerate(names))
