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
    labels = [label if len(label) <= 48 else label[:47] + "…" for label in labels]  # prompts can be long
    measure = ImageDraw.Draw(grid)
    band = 8 + max(int(measure.textlength(label, font=font)) for label in labels)
    captioned = Image.new("RGB", (grid.width + band, grid.height), "white")
    captioned.paste(grid, (band, 0))
    draw = ImageDraw.Draw(captioned)
    for row, label in enumerate(labels):
        middle = padding + row * (row_height + padding) + row_height // 2
        draw.text((band - 4, middle), label, fill="black", font=font, anchor="rm")
    return captioned


GRID_PER_ROW = 16  # images per class shown in grid.png (all of them are written as PNGs)
GRID_MAX = 256  # images in a grid without class rows


class SampleWriter:
    """Writes a sample folder as images arrive, batch by batch, so memory does not grow with their
    number: PNGs go straight into a hidden staging folder, which becomes ``out`` only in ``finish``.
    Leaving the ``with`` block without ``finish`` (an error, Ctrl-C, SIGTERM) removes the staging folder.

    ``shared`` holds the settings every image's PNG text chunk repeats (model, scheduler, steps, seed,
    version). ``columns`` (images per class) with ``row_labels`` lays the grid out a row per class,
    showing the first ``GRID_PER_ROW`` images of each; otherwise the grid shows the first ``GRID_MAX``.
    """

    def __init__(self, out: Path, total: int, shared: dict[str, Any], overwrite: bool = False, upscale: int = 1,
                 columns: int | None = None, row_labels: list[str] | None = None) -> None:
        self.out, self.total, self.shared, self.overwrite, self.upscale = Path(out), total, shared, overwrite, upscale
        self.columns, self.row_labels = columns, row_labels
        self.width = max(4, len(str(total - 1)))
        self.entries: list[dict[str, Any]] = []
        self.grid_images: list[torch.Tensor] = []
        self.staging: Path | None = None

    def __enter__(self) -> "SampleWriter":
        ensure_writable(self.out, self.overwrite)
        self.staging = staging_dir(self.out)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.staging is not None and self.staging.exists():
            shutil.rmtree(self.staging, ignore_errors=True)

    def _in_grid(self, position: int) -> bool:
        if self.columns and self.row_labels:
            return position % self.columns < min(self.columns, GRID_PER_ROW)
        return position < GRID_MAX

    def add(self, images: torch.Tensor, records: list[dict[str, Any]]) -> None:
        """Write one batch: (B, 3, H, W) images in [0, 1], one record each."""
        assert self.staging is not None, "use SampleWriter in a with block"
        for image, record in zip(images, records, strict=True):
            name = _file_name(record, self.width)
            info = PngInfo()
            info.add_text("adanat", json.dumps({**_shared(self.shared), **record}, sort_keys=True))
            to_pil(image, self.upscale).save(self.staging / name, pnginfo=info)
            if self._in_grid(len(self.entries)):
                self.grid_images.append(image.detach().cpu())
            self.entries.append({"file": name, **record})

    def finish(self, manifest: dict[str, Any], trace: dict[str, Any] | None = None) -> Path:
        """Write grid.png, samples.json (and trace.png) and move the folder into place."""
        assert self.staging is not None, "use SampleWriter in a with block"
        images = torch.stack(self.grid_images)
        columns = min(self.columns, GRID_PER_ROW) if self.columns and self.row_labels else self.columns
        grid = to_pil(make_grid(images, columns, padding=GRID_PADDING), self.upscale)
        if self.row_labels:
            grid = caption_rows(grid, self.row_labels, images.shape[-2] * self.upscale, GRID_PADDING * self.upscale)
        grid.save(self.staging / "grid.png")
        document = {**manifest, "grid": "grid.png", "images": self.entries}
        if trace is not None:
            from .plots import plot_trace  # deferred: matplotlib costs ~1 s to import

            plot_trace(trace, self.staging / "trace.png", f"{manifest.get('model', '')}: per-image plan over the steps")
            document["trace_plot"] = "trace.png"
        (self.staging / "samples.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        replace_dir_atomic(self.staging, self.out, overwrite=self.overwrite)
        self.staging = None
        return self.out


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
    with SampleWriter(out, len(images), manifest, overwrite, upscale, columns, row_labels) as writer:
        writer.add(images, records)
        return writer.finish(manifest, trace)


def _file_name(record: dict[str, Any], width: int) -> str:
    """``0003_class7_seven.png`` for a class, ``0003_a-thin-upright-three.png`` for a prompt."""
    index = f"{record['index']:0{width}d}"
    if "prompt" in record:
        slug = _slug(str(record["prompt"]))
        return f"{index}_{slug}.png" if slug else f"{index}_unconditional.png"
    name = str(record.get("class_name", record["class"]))
    suffix = "" if name == str(record["class"]) else _slug(name)
    return f"{index}_class{record['class']}" + (f"_{suffix}" if suffix else "") + ".png"


def _slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.casefold()).split())[:40].strip("-")


def _shared(manifest: dict[str, Any]) -> dict[str, Any]:
    keys = ("model", "scheduler", "steps", "seed", "adanat_version")
    return {k: manifest[k] for k in keys if k in manifest}
