"""Where training and reference images come from.

``mnist5k()`` reads the 5,000-digit MNIST subset shipped inside the package (see ``MNIST-NOTICE.md``);
``ImageFolder`` reads an ImageNet-style tree ``root/<class name>/<image files>``. Both hand out images as
float32 tensors in [0, 1], shape (3, H, W): grey images are replicated to RGB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import UsageError

DATA_DIR = Path(__file__).resolve().parent
MNIST5K = DATA_DIR / "mnist5k.npz"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def mnist5k() -> tuple[torch.Tensor, torch.Tensor]:
    """The bundled MNIST subset: images float32 (5000, 3, 28, 28) in [0, 1], labels int64 (5000,)."""
    with np.load(MNIST5K) as data:
        gray = torch.from_numpy(data["images"].astype(np.float32) / 255.0)  # (5000, 28, 28)
        labels = torch.from_numpy(data["labels"].astype(np.int64))  # (5000,)
    images = gray[:, None].expand(-1, 3, -1, -1).contiguous()  # (5000, 3, 28, 28)
    return images, labels


class ImageFolder:
    """Images under ``root/<class>/``: class names sorted, files sorted within a class.

    ``dataset[i] -> (image float32 (3, H, W) in [0, 1], label int)``. A missing or empty folder is a
    ``UsageError`` at construction; an unreadable file is a ``UsageError`` naming it when it is read.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise UsageError(f"image folder {self.root} does not exist")
        self.classes = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        self.samples: list[tuple[Path, int]] = []
        for label, name in enumerate(self.classes):
            files = sorted(
                f for f in (self.root / name).iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
            )
            self.samples.extend((f, label) for f in files)
        if not self.samples:
            raise UsageError(
                f"image folder {self.root} has no images: expected class subfolders of "
                f"{', '.join(IMAGE_SUFFIXES)} files"
            )

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        return load_image(path), label


def load_image(path: Path) -> torch.Tensor:
    """One image file -> float32 (3, H, W) in [0, 1]; a UsageError if it cannot be decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0  # (H, W, 3)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise UsageError(f"cannot read image {path} ({err.__class__.__name__}: {err})") from None
    return torch.from_numpy(rgb).permute(2, 0, 1).contiguous()
