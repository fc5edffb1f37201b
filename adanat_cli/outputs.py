"""Writing generated images: one PNG per image (settings in PNG text chunks), a grid, a manifest."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from .io import ensure_writable, replace_dir_atomic, staging_dir


def to_pil(image: torch.Tensor, upscale: int = 1) -> Image.Image:
    """(3, H, W) in [0, 1] -> RGB image, nearest-neighbour upscaled by ``upscale``."""
    array = (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    if upscale > 1:
        array = np.repeat(np.repeat(array, upscale, axis=0), upscale, axis=1)
    return Image.fromarray(array, mode="RGB")


GRID_PADDING = 2


def make_grid(images: torch.Tensor, columns: int | None = None, padding: int = GRID_PADDING) -> torch.Tensor:
    """(M, 3, H, W) -> (3, rows*(H+p)+p, cols*(W+p)+p) on a white background."""
    count, channels, height, width = images.shape
    columns = columns or max(1, math.ceil(math.sqrt(count)))
    rows = math.ceil(count / columns)
    grid = torch.ones(channels, rows * (height + padding) + padding, columns * (width + padding) + padding)
    for i in range(count):
        r, c = divmod(i, columns)
        top, left = padding + r * (height + padding), padding + c * (width + padding)
        grid[:, top : top + height, left : left + width] = images[i]
    return grid


def caption_rows(grid: Image.Image, labels: list[str], row_height: int, padding: int) -> Image.Image:
    """``grid`` with a white band on its left naming each row (rows of ``row_height`` px after
    ``padding`` px, as laid out by ``make_grid`` then upscaled)."""
    font = ImageFont.load_default(size=max(10, min(18, row_height // 4)))
    measure = ImageDraw.Draw(grid)
    band = 8 + max(int(measure.textlength(label, font=font)) for label in labels)
    captioned = Image.new("RGB", (grid.width + band, grid.height), "white")
    captioned.paste(grid, (band, 0))
    draw = ImageDraw.Draw(captioned)
    for row, label in enumerate(labels):
        middle = padding + row * (row_height + padding) + row_height // 2
        draw.text((band - 4, middle), label, fill="black", font=font, anchor="rm")
    return captioned


def write_samples(
    out: Path,
    images: torch.Tensor,
    records: list[dict[str, Any]],
    manifest: dict[str, Any],
    overwrite: bool = False,
    upscale: int = 1,
    columns: int | None = None,
    trace: dict[str, Any] | None = None,
    row_labels: list[str] | None = None,
) -> Path:
    """Write ``images`` with one record each into ``out`` atomically (a staging folder, then a move);
    with a ``trace`` (plan values, name -> (M, T)) also ``trace.png``, one line per image; with
    ``row_labels`` (one per grid row) the grid names its rows. A record's ``class_name``, when it says
    more than the id, is part of the image's file name."""
    out = Path(out)
    ensure_writable(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(out)
    try:
        width = max(4, len(str(len(images) - 1)))
        entries = []
        for image, record in zip(images, records, strict=True):
            name = f"{record['index']:0{width}d}_class{record['class']}{_name_suffix(record)}.png"
            info = PngInfo()
            info.add_text("adanat", json.dumps({**_shared(manifest), **record}, sort_keys=True))
            to_pil(image, upscale).save(staging / name, pnginfo=info)
            entries.append({"file": name, **record})
        grid = to_pil(make_grid(images, columns, padding=GRID_PADDING), upscale)
        if row_labels:
            grid = caption_rows(grid, row_labels, images.shape[-2] * upscale, GRID_PADDING * upscale)
        grid.save(staging / "grid.png")
        document = {**manifest, "grid": "grid.png", "images": entries}
        if trace is not None:
            from .plots import plot_trace  # deferred: matplotlib costs ~1 s to import

            plot_trace(trace, staging / "trace.png", f"{manifest.get('model', '')}: per-image plan over the steps")
            document["trace_plot"] = "trace.png"
        (staging / "samples.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        replace_dir_atomic(staging, out, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _name_suffix(record: dict[str, Any]) -> str:
    name = str(record.get("class_name", record["class"]))
    if name == str(record["class"]):
        return ""
    slug = "-".join("".join(c if c.isalnum() else " " for c in name.casefold()).split())
    return f"_{slug[:40]}" if slug else ""


def _shared(manifest: dict[str, Any]) -> dict[str, Any]:
    keys = ("model", "scheduler", "steps", "seed", "adanat_version")
    return {k: manifest[k] for k in keys if k in manifest}
