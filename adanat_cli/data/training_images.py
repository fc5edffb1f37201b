"""Real images for policy training, at the model's resolution and with its classes."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import UsageError
from .sources import ImageFolder, mnist5k


def load_real_images(source: str, num_classes: int, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``mnist5k`` or an ImageNet-style folder -> images (N, 3, H, W) in [0, 1] and labels (N,)."""
    if source == "mnist5k":
        images, labels = mnist5k()
        found = 10
    else:
        folder = ImageFolder(source)
        found = len(folder.classes)
        if found == num_classes:
            pairs = [folder[i] for i in range(len(folder))]
            images = torch.stack([_resize(img, size) for img, _ in pairs])
            labels = torch.tensor([label for _, label in pairs], dtype=torch.long)
    if found != num_classes:
        raise UsageError(f"the real images of '{source}' have {found} classes; the model has {num_classes}")
    if tuple(images.shape[-2:]) != tuple(size):
        images = torch.stack([_resize(img, size) for img in images])
    return images, labels


def _resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)
