"""Requests checked against the machine: memory before any work starts, disk after the first batch."""

from __future__ import annotations

import shutil
from pathlib import Path

import psutil

from ..errors import UsageError


def require_memory(needed_bytes: int, what: str) -> None:
    """Refuse a request whose data alone would take more than half the memory available now."""
    available = psutil.virtual_memory().available
    if needed_bytes > available // 2:
        raise UsageError(f"{what} need about {needed_bytes / 2**30:.1f} GiB of memory and "
                         f"{available / 2**30:.1f} GiB is available: lower --num or split the work into several runs")


def require_disk(staging: Path, written: int, total: int) -> None:
    """After the first batch: refuse to go on if the rest, at the same size per image, would not fit."""
    used = sum(p.stat().st_size for p in staging.iterdir() if p.is_file())
    needed = used / written * (total - written)
    free = shutil.disk_usage(staging).free
    if needed > free * 0.95:
        raise UsageError(f"{total} images need about {needed / 2**30:.1f} GiB more disk and {free / 2**30:.1f} GiB "
                         f"is free at {staging.parent}: lower --num or --upscale, or write elsewhere")
