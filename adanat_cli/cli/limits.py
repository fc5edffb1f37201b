"""Requests checked against the machine before any work starts."""

from __future__ import annotations

import psutil

from ..errors import UsageError


def require_memory(needed_bytes: int, what: str) -> None:
    """Refuse a request whose data alone would take more than half the memory available now."""
    available = psutil.virtual_memory().available
    if needed_bytes > available // 2:
        raise UsageError(f"{what} need about {needed_bytes / 2**30:.1f} GiB of memory and "
                         f"{available / 2**30:.1f} GiB is available: lower --num or split the work into several runs")
