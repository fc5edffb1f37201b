"""Reading a folder of generated or real images for FID: every problem is one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import UsageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def image_files(folder: str | Path) -> list[Path]:
    """The images of ``folder``: those listed by its ``samples.json`` if it is an ``adanat sample``
    output (so its grid is left out), else every image file in it and its subfolders, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    manifest = folder / "samples.json"
    if manifest.is_file():
        try:
            entries = json.loads(manifest.read_text(encoding="utf-8"))["images"]
            files = [folder / e["file"] for e in entries]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise UsageError(f"{manifest} is not a valid samples manifest ({err})") from None
    else:
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UsageError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    if len(files) < 2:
        raise UsageError(f"{folder} holds only {len(files)} image; statistics need at least 2")
    return files


def read_images(files: list[Path]) -> np.ndarray:
    """(N, H, W, 3) uint8; all images must share one size."""
    arrays = []
    for file in files:
        try:
            with Image.open(file) as image:
                arrays.append(np.asarray(image.convert("RGB")))
        except FileNotFoundError:
            raise UsageError(f"{file} is listed but missing") from None
        except (UnidentifiedImageError, OSError) as err:
            raise UsageError(f"{file} is not a readable image ({err})") from None
        if arrays[-1].shape != arrays[0].shape:
            raise UsageError(
                f"images differ in size: {files[0].name} is {arrays[0].shape[1]}x{arrays[0].shape[0]}, "
                f"{file.name} is {arrays[-1].shape[1]}x{arrays[-1].shape[0]}"
            )
    return np.stack(arrays)


def read_image_folder(folder: str | Path) -> np.ndarray:
    return read_images(image_files(folder))
