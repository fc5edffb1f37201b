"""Where downloaded files and converted bundles live, and the checks a downloaded file must pass.

Everything sits in the Hugging Face hub cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``, else
``~/.cache/huggingface/hub``; ``cache_dir`` overrides it, all read at call time): Hub files in the
hub's own layout, Google Drive files under ``adanat-drive/``, converted bundles under
``adanat-bundles/<name>/``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import BundleError
from .zoo import ZooFile

BUNDLES_FOLDER = "adanat-bundles"
_TRUE = {"1", "on", "yes", "true"}


def hub_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """The Hugging Face hub cache: ``cache_dir``, else ``HF_HUB_CACHE`` / ``HF_HOME`` read now."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def bundles_root(cache_dir: str | Path | None = None) -> Path:
    return hub_cache_dir(cache_dir) / BUNDLES_FOLDER


def find_converted(name: str, cache_dir: str | Path | None = None) -> Path | None:
    """The converted bundle folder of ``name`` (zoo or imported), or None."""
    path = bundles_root(cache_dir) / name
    return path if (path / "config.json").is_file() else None


def hub_offline() -> bool:
    from huggingface_hub import constants

    return constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def verify(file: ZooFile, path: Path) -> None:
    """Check the size and SHA-256 recorded for ``file``, where they are known."""
    size = path.stat().st_size
    if file.size is not None and size != file.size:
        raise BundleError(f"{path} has {size} bytes, expected {file.size}: delete it and download again")
    if file.sha256 is not None:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != file.sha256:
            raise BundleError(f"{path} does not match its recorded SHA-256: delete it and download again")
