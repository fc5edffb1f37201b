"""Zoo files hosted on Google Drive, fetched with ``gdown`` (the optional extra ``adanat[drive]``).

A file is cached next to the Hub's files, at ``<hub cache>/adanat-drive/<Drive file id>/<file name>``,
so several zoo entries share one download (the MAGE VQGAN serves four of them). It is written to a
temporary name and moved into place only once its size and digest (where recorded) check out.
Offline (``HF_HUB_OFFLINE=1``), a cached file is used and a missing one is a single line saying
where to fetch it and where to put it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from ..errors import NotFoundError, UsageError
from .cache import hub_cache_dir, hub_offline, verify
from .zoo import ZooEntry, ZooFile

DRIVE_FOLDER = "adanat-drive"
_ID = re.compile(r"(?:/file/d/|[?&]id=)([A-Za-z0-9_-]{10,})")

Downloader = Callable[[str, Path], None]


def drive_file_id(url: str) -> str | None:
    """The file id in a ``drive.google.com/file/d/<id>/…`` or ``…?id=<id>`` link, else None."""
    found = _ID.search(url)
    return found.group(1) if found and "drive.google.com" in url else None


def is_drive_file(file: ZooFile) -> bool:
    return file.url is not None and drive_file_id(file.url) is not None


def drive_cache_path(file: ZooFile, cache_dir: str | Path | None = None) -> Path:
    """Where ``file`` lies once fetched (whether or not it is there)."""
    file_id = drive_file_id(file.url or "")
    if file_id is None:
        raise UsageError(f"{file.filename}: {file.url} is not a Google Drive file link")
    return hub_cache_dir(cache_dir) / DRIVE_FOLDER / file_id / Path(file.filename).name


def gdown_download(file_id: str, dest: Path) -> None:
    """Fetch one Drive file with gdown (it handles the large-file confirmation page)."""
    try:
        import gdown
    except ImportError:
        raise UsageError("Google Drive downloads need gdown: pip install 'adanat[drive]'") from None
    try:
        gdown.download(id=file_id, output=str(dest), quiet=False)
    except Exception as err:  # noqa: BLE001 - gdown raises its own and requests' errors; all end as one line
        raise NotFoundError(f"downloading Google Drive file {file_id} failed: {str(err).splitlines()[0]}") from None


# Replaced in tests by a fake that writes a file, so nothing touches the network.
downloader: Downloader = gdown_download


def fetch_drive(entry: ZooEntry, file: ZooFile, cache_dir: str | Path | None = None) -> Path:
    """The local path of a Drive-hosted file of ``entry``: from the cache, else downloaded."""
    target = drive_cache_path(file, cache_dir)
    if target.is_file():
        verify(file, target)
        return target
    if hub_offline():
        raise NotFoundError(
            f"{entry.name}: {target.name} is not cached and HF_HUB_OFFLINE is set: fetch {file.url} and put it at "
            f"{target} (or run `adanat download {entry.name}` online)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.unlink(missing_ok=True)
    try:
        downloader(drive_file_id(file.url or ""), partial)
        if not partial.is_file():
            raise NotFoundError(f"downloading {file.url} produced no file")
        verify(file, partial)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target
