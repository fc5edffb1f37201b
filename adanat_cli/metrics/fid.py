"""FID between image sets or against stored statistics, in any registered feature space.

Statistics are stored as safetensors (``mu``, ``sigma`` float64 and, for precision/recall, the
``features`` float32) under ``<cache>/fid-stats/<extractor>/<name>.safetensors``; an extractor may also
provide built-in named statistics (``tiny-mnist`` ships the real digits' statistics). The Fréchet
distance is computed by ``frechet.frechet_distance`` in float64, independent of scipy's ``sqrtm``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import NotFoundError, OutputExistsError, UsageError
from ..io import write_with_atomic
from ..registry import registry
from .extractors import FeatureExtractor, cache_dir, extract_features
from .frechet import FeatureSet, frechet_distance
from .image_folder import read_image_folder
from .precision_recall import precision_recall


def build_extractor(name: str, device: torch.device | str = "cpu") -> FeatureExtractor:
    factory = registry.get("feature_extractors", name)
    return factory().to(device)


def folder_features(folder: str | Path, extractor: FeatureExtractor, batch_size: int = 100,
                    device: torch.device | str = "cpu", precision: str = "fp32") -> FeatureSet:
    images = read_image_folder(folder)
    return FeatureSet.from_features(str(folder), extract_features(images, extractor, batch_size, device, precision))


def stats_path(name: str, extractor: str) -> Path:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise UsageError(f"invalid statistics name '{name}' (use letters, digits, '-', '_')")
    return cache_dir() / "fid-stats" / extractor / f"{name}.safetensors"


def save_stats(name: str, extractor: str, stats: FeatureSet, overwrite: bool = False) -> Path:
    path = stats_path(name, extractor)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"statistics '{name}' for extractor '{extractor}' exist ({path}); pass --overwrite")
    tensors = {"mu": torch.from_numpy(stats.mu), "sigma": torch.from_numpy(stats.sigma)}
    if stats.features is not None:
        tensors["features"] = torch.from_numpy(stats.features.astype(np.float32))
    metadata = {"source": stats.source, "count": str(stats.count), "extractor": extractor}
    write_with_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
    return path


def load_stats(name: str, extractor: FeatureExtractor) -> FeatureSet:
    """Named statistics: stored by ``--make-stats`` first, else built into the extractor."""
    path = stats_path(name, extractor.name)
    if path.is_file():
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError) as err:
            raise UsageError(f"statistics file {path} is corrupt ({err})") from None
        if "mu" not in tensors or "sigma" not in tensors:
            raise UsageError(f"statistics file {path} lacks 'mu' or 'sigma'")
        if not all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point()):
            raise UsageError(f"statistics file {path} holds non-finite numbers (NaN or infinity)")
        features = tensors["features"].double().numpy() if "features" in tensors else None
        count = len(features) if features is not None else 0
        return FeatureSet(name, tensors["mu"].double().numpy(), tensors["sigma"].double().numpy(), features, count)
    builtin = getattr(extractor, "builtin_stats", lambda: {})()
    if name in builtin:
        return builtin[name]()
    known = sorted({p.stem for p in path.parent.glob("*.safetensors")} | set(builtin))
    hint = f" (known for '{extractor.name}': {', '.join(known)})" if known else ""
    raise NotFoundError(
        f"no statistics named '{name}' for extractor '{extractor.name}'{hint}; "
        f"create them with `adanat fid --make-stats {name} DIR --extractor {extractor.name}`"
    )


@dataclass
class FidResult:
    fid: float
    precision: float | None
    recall: float | None
    count_a: int
    count_b: int


def compare_sets(a: FeatureSet, b: FeatureSet, k: int = 3) -> FidResult:
    """FID of ``a`` against ``b``; precision/recall (``a`` as generated, ``b`` as real) when both
    sets have their features."""
    if a.mu.shape != b.mu.shape:
        raise UsageError(f"feature sizes differ: {a.mu.shape[0]} vs {b.mu.shape[0]}")
    fid = frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
    precision = recall = None
    if a.features is not None and b.features is not None:
        precision, recall = precision_recall(b.features, a.features, k=k)
    return FidResult(fid, precision, recall, a.count, b.count)
