"""Feature extractors for FID and precision/recall, registered as plugins (``adanat.feature_extractors``).

An extractor maps uint8 RGB images to feature vectors in two stages, mirroring clean-fid:
``prepare`` resizes one (H, W, 3) uint8 image to the network's input (float, [0, 255]);
``__call__`` maps a batch (N, 3, h, w) float in [0, 255] to (N, D) features.

Built-ins: ``inception`` (clean-fid's Inception-v3 torchscript, ImageNet-scale models; its weights
file must be present locally) and ``tiny-mnist`` (the digit classifier bundled with ``tiny-mnist``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from ..engine.precision import autocast
from ..errors import NotFoundError, UsageError
from ..models.resolve import resolve_model
from .digit_classifier import load_classifier, load_fid_stats
from .frechet import FeatureSet

INCEPTION_FILE = "inception-2015-12-05.pt"
INCEPTION_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"


def cache_dir() -> Path:
    """adanat's cache folder: $ADANAT_CACHE, else $XDG_CACHE_HOME/adanat, else ~/.cache/adanat."""
    if os.environ.get("ADANAT_CACHE"):
        return Path(os.environ["ADANAT_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "adanat"


class FeatureExtractor:
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 -> (h, w, 3) float32 in [0, 255] at the network's input size."""
        raise NotImplementedError

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """(N, 3, h, w) float in [0, 255] -> (N, D) features."""
        raise NotImplementedError

    def to(self, device: torch.device | str) -> "FeatureExtractor":
        return self


class InceptionExtractor(FeatureExtractor):
    """clean-fid's Inception-v3 (pool3, 2048-d) with its 'clean' PIL bicubic resize to 299×299."""

    name = "inception"
    description = "clean-fid Inception-v3 pool features (2048-d), clean PIL-bicubic resize to 299."

    def __init__(self, weights_dir: str | Path | None = None) -> None:
        self.weights_dir = Path(weights_dir) if weights_dir else cache_dir() / "inception"
        file = self.weights_dir / INCEPTION_FILE
        if not file.is_file():
            raise NotFoundError(
                f"the Inception weights are not here; download {INCEPTION_URL} and place it at {file}"
            )
        from cleanfid.inception_torchscript import InceptionV3W
        from cleanfid.resize import build_resizer

        self.model = InceptionV3W(str(self.weights_dir), download=False, resize_inside=False).eval()
        self.resize = build_resizer("clean")

    def prepare(self, image: np.ndarray) -> np.ndarray:
        return np.asarray(self.resize(image), dtype=np.float32)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch)

    def to(self, device: torch.device | str) -> "InceptionExtractor":
        self.model = self.model.to(device)
        return self


class BundledNetworkExtractor(FeatureExtractor):
    """Features of a small network shipped in a model bundle, read at ``size`` x ``size`` pixels
    (bicubic resize, as clean-fid's "clean" mode), from images scaled to [0, 1]."""

    network: torch.nn.Module
    size: int = 28

    def prepare(self, image: np.ndarray) -> np.ndarray:
        if image.shape[:2] != (self.size, self.size):
            from PIL import Image

            image = np.asarray(Image.fromarray(image).resize((self.size, self.size), Image.BICUBIC))
        return image.astype(np.float32)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return self.network.features(batch / 255.0)

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits of images (N, 3, H, W) in [0, 1]: a bundled network is a classifier too, so a
        space can judge class accuracy with its own network, not only the training one. Other sizes are
        resized by ``prepare``, as the features are."""
        if images.shape[-2:] != (self.size, self.size):
            prepared = np.stack([self.prepare(image) for image in to_uint8(images)])  # (N, size, size, 3)
            images = torch.from_numpy(prepared).permute(0, 3, 1, 2).to(images.device) / 255.0
        return self.network(images)

    def to(self, device: torch.device | str) -> "BundledNetworkExtractor":
        self.network = self.network.to(device)
        return self


class BundleClassifierExtractor(BundledNetworkExtractor):
    """The penultimate layer of the classifier shipped in a model bundle (default: ``tiny-mnist``)."""

    name = "tiny-mnist"
    description = "Penultimate features of the digit classifier bundled with tiny-mnist (offline)."

    def __init__(self, model: str = "tiny-mnist") -> None:
        _, path = resolve_model(model)
        classifier = load_classifier(path)
        if classifier is None:
            raise UsageError(f"model '{model}' ships no classifier to extract features with")
        self.network = classifier
        self.model, self.bundle_path = model, path
        self.size = int(classifier.config.get("image_size", 28))

    def builtin_stats(self) -> dict:
        """The real images' statistics shipped in the bundle, named after the model."""
        def load() -> FeatureSet:
            mu, sigma = load_fid_stats(self.bundle_path)
            return FeatureSet(self.model, mu.numpy(), sigma.numpy())

        return {self.model: load}


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) float in [0, 1] -> (N, H, W, 3) uint8, rounded as the saved PNGs are."""
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


@torch.inference_mode()
def extract_features(
    images: np.ndarray | list[np.ndarray],
    extractor: FeatureExtractor,
    batch_size: int = 100,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
) -> np.ndarray:
    """uint8 images (N, H, W, 3) -> float64 features (N, D); batches are consecutive runs of
    ``batch_size`` images, so the same images give bit-identical features. ``precision`` is the
    network's (``engine.precision``); the features are returned in float64 whatever it is."""
    extractor.to(device)
    out = []
    for lo in range(0, len(images), batch_size):
        prepared = np.stack([extractor.prepare(np.asarray(im)) for im in images[lo : lo + batch_size]])
        batch = torch.from_numpy(prepared).permute(0, 3, 1, 2).to(device)  # (B, 3, h, w)
        with autocast(precision, device):
            out.append(extractor(batch).double().cpu().numpy())
    return np.concatenate(out)
