"""A small digit CNN: the classifier and FID feature extractor bundled with ``tiny-mnist``.

A bundle may name it in ``config.json``::

    "classifier": {"type": "digit-cnn", "config": {...}, "file": "classifier.safetensors"},
    "fid_stats": "fid_stats.safetensors"

``fid_stats.safetensors`` holds ``mu`` (D,) and ``sigma`` (D, D), float64: the statistics of
``DigitClassifier.features`` over the real images. Weights are read with safetensors only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ..configurable import Configurable
from ..errors import BundleError
from ..models.bundle import inside_bundle, read_bundle_config


class DigitClassifier(nn.Module, Configurable):
    """Two conv stages (3x3 conv, ReLU, 3x3 conv, ReLU, 2x2 max-pool), then FC -> ReLU -> FC.

    Input (B, 3, 28, 28) in [0, 1]; ``features`` is the ReLU output of the first FC layer, (B, feature_dim).
    """

    def __init__(self, width: int = 32, feature_dim: int = 128, num_classes: int = 10, image_size: int = 28):
        super().__init__()
        w = width
        self.conv = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.fc = nn.Linear(2 * w * side * side, feature_dim)
        self.dropout = nn.Dropout(0.3)
        self.out = nn.Linear(feature_dim, num_classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1] -> penultimate features (B, feature_dim)."""
        h = self.conv(images * 2.0 - 1.0)  # (B, 2w, H/4, W/4)
        return F.relu(self.fc(h.flatten(1)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1] -> logits (B, num_classes)."""
        return self.out(self.dropout(self.features(images)))

    @torch.no_grad()
    def classify(self, images: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """images (M, 3, H, W) -> (predicted class (M,), features (M, feature_dim)), in batches."""
        preds, feats = [], []
        for i in range(0, images.shape[0], batch):
            f = self.features(images[i : i + batch])
            feats.append(f)
            preds.append(self.out(f).argmax(dim=1))
        return torch.cat(preds), torch.cat(feats)


CLASSIFIER_TYPES: dict[str, Callable[..., nn.Module]] = {"digit-cnn": DigitClassifier}


def _read_tensors(file: Path) -> dict[str, torch.Tensor]:
    if not file.is_file():
        raise BundleError(f"{file} is missing")
    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError) as err:
        raise BundleError(f"{file} is truncated or corrupt ({err})") from None


def load_bundled_network(bundle_path: str | Path, key: str, types: Mapping[str, Callable[..., nn.Module]],
                         default_file: str, what: str) -> nn.Module | None:
    """The extra network a bundle's config.json names under ``key`` as
    ``{"type": ..., "config": {...}, "file": ...}`` (eval mode, CPU), or None if it names none.
    ``types`` maps the accepted type names to their classes; ``what`` names the network in errors."""
    path = Path(bundle_path)
    spec = read_bundle_config(path).get(key)
    if spec is None:
        return None
    if not isinstance(spec, dict) or spec.get("type") not in types:
        raise BundleError(f"{path}: config.json names an unknown {what} {spec!r}")
    try:
        model = types[spec["type"]](**spec.get("config", {}))
    except (TypeError, ValueError, RuntimeError) as err:
        raise BundleError(f"{path}: config.json has bad {what} settings ({err})") from None
    state = _read_tensors(inside_bundle(path, spec.get("file", default_file)))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise BundleError(f"{path}: {what} weights do not match its config ({err})") from None
    return model.eval()


def load_classifier(bundle_path: str | Path, device: torch.device | str | None = None) -> DigitClassifier | None:
    """The classifier a bundle ships (eval mode, on ``device``, else the CPU), or None if its
    config.json names none."""
    found = load_bundled_network(bundle_path, "classifier", CLASSIFIER_TYPES, "classifier.safetensors", "classifier")
    return found.to(device) if found is not None and device is not None else found


def load_fid_stats(bundle_path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu (D,), sigma (D, D)) float64 reference statistics a bundle ships."""
    path = Path(bundle_path)
    name = read_bundle_config(path).get("fid_stats")
    if not isinstance(name, str):
        raise BundleError(f"{path}: config.json names no fid_stats file")
    stats = _read_tensors(inside_bundle(path, name))
    if "mu" not in stats or "sigma" not in stats:
        raise BundleError(f"{path / name} lacks 'mu' or 'sigma'")
    mu, sigma = stats["mu"].double(), stats["sigma"].double()
    if not (torch.isfinite(mu).all() and torch.isfinite(sigma).all()):
        raise BundleError(f"{path / name} holds non-finite statistics (NaN or infinity)")
    return mu, sigma
