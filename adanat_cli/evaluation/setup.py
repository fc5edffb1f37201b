"""The real side of an evaluation: a built-in image source, an image folder, or named statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.sources import mnist5k
from ..errors import UsageError
from ..metrics.extractors import FeatureExtractor, extract_features, to_uint8
from ..metrics.fid import FeatureSet, build_extractor, load_stats
from ..metrics.image_folder import read_image_folder

BUILTIN_SOURCES = ("mnist5k",)


def real_images(source: str) -> np.ndarray:
    """(N, H, W, 3) uint8 images of a built-in source name or an image folder."""
    if source == "mnist5k":
        images, _ = mnist5k()
        return to_uint8(images)
    if not Path(source).exists():
        raise UsageError(f"real images '{source}': not a folder nor a built-in source ({', '.join(BUILTIN_SOURCES)})")
    return read_image_folder(source)


def reference_set(
    extractor: FeatureExtractor,
    real: str | None = None,
    stats: str | None = None,
    batch_size: int = 100,
    device: torch.device | str = "cpu",
) -> FeatureSet:
    """Features of ``real`` images (enables precision/recall) or else named statistics."""
    if real is not None:
        features = extract_features(real_images(real), extractor, batch_size, device)
        return FeatureSet.from_features(real, features)
    if stats is not None:
        return load_stats(stats, extractor)
    raise UsageError("no reference: pass --real SOURCE (mnist5k or a folder) or --reference NAME (statistics)")


def evaluation_setup(
    evaluation: dict,
    device: torch.device | str = "cpu",
    extractor: str | None = None,
    real: str | None = None,
    stats: str | None = None,
) -> tuple[str, FeatureExtractor, FeatureSet]:
    """(extractor name, extractor, reference) for evaluating a model: explicit choices win over the
    bundle's ``evaluation`` entry; the extractor defaults to ``inception``."""
    name = extractor or evaluation.get("extractor", "inception")
    features = build_extractor(name, device)
    if real is None and stats is None:
        real, stats = evaluation.get("real"), evaluation.get("reference")
    return name, features, reference_set(features, real=real, stats=None if real else stats, device=device)
