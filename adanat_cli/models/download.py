"""Zoo checkpoints: fetch into the Hugging Face cache, convert into a bundle next to it.

Files go through ``huggingface_hub.hf_hub_download`` into the standard cache (``HF_HUB_CACHE``, by default
``~/.cache/huggingface/hub``; ``cache_dir`` overrides it), so they are shared with every other tool
that uses the Hub. The converted bundle is written to ``<cache>/adanat-bundles/<name>/`` (see
``bundles_root``), which is where ``resolve_model`` looks for zoo names.

Offline (``HF_HUB_OFFLINE=1``, read here at call time, or when the Hub cannot be reached) the cache is
used; a file that is not cached is one ``NotFoundError`` naming it and how to get it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import BundleError, NotFoundError, UsageError
from .bundle import read_bundle_config
from .formats import import_model
from .zoo import ZooEntry, ZooFile, zoo_entries, zoo_entry

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


def cached_path(file: ZooFile, cache_dir: str | Path | None = None, revision: str | None = None) -> Path | None:
    """Where ``file`` lies in the cache, or None (no network)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(file.repo_id, file.filename, cache_dir=hub_cache_dir(cache_dir),
                                   revision=revision or file.revision)
    return Path(found) if isinstance(found, str) else None


def fetch(entry: ZooEntry, file: ZooFile, cache_dir: str | Path | None = None,
          revision: str | None = None, token: str | None = None) -> Path:
    """One Hub file of ``entry`` as a local path (downloaded, or from the cache when offline)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{file.repo_id}/{file.filename}"
    cache = hub_cache_dir(cache_dir)
    offline = hub_offline()
    try:
        path = Path(hf_hub_download(file.repo_id, file.filename, revision=revision or file.revision,
                                    cache_dir=cache, token=token, local_files_only=offline))
    except LocalEntryNotFoundError:
        why = "HF_HUB_OFFLINE is set" if offline else "the Hub cannot be reached"
        raise NotFoundError(
            f"{where} is not in the cache {cache} and {why}: run `adanat download {entry.name}` with "
            "network access (or import local files with `adanat import`)"
        ) from None
    except GatedRepoError:
        raise NotFoundError(f"{file.repo_id} is gated: accept its terms on the Hub and set HF_TOKEN") from None
    except RepositoryNotFoundError:
        raise NotFoundError(f"Hub repo {file.repo_id} not found (or private: set HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise NotFoundError(f"revision '{revision or file.revision}' not found in {file.repo_id}") from None
    except EntryNotFoundError:
        raise NotFoundError(f"{where} not found on the Hub") from None
    except HfHubHTTPError as err:
        raise NotFoundError(f"downloading {where} failed ({str(err).splitlines()[0]})") from None
    verify(file, path)
    return path


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


def download_model(
    name: str,
    cache_dir: str | Path | None = None,
    revision: str | None = None,
    token: str | None = None,
    local_files: dict[str, str | Path] | None = None,
    num_heads: int | None = None,
    overwrite: bool = False,
    on_progress: Callable[[str], None] = lambda message: None,
) -> Path:
    """Fetch the Hub files of zoo entry ``name``, convert them and return the bundle folder.

    ``local_files`` maps a role (``tokenizer``, ...) to a file fetched by hand, for the parts of an
    entry that are not on the Hub. An existing bundle is returned as is unless ``overwrite``.
    """
    entry = zoo_entry(name)
    out = bundles_root(cache_dir) / entry.name
    if find_converted(entry.name, cache_dir) and not overwrite:
        on_progress(f"{entry.name} is already converted")
        return out
    local = {role: Path(p) for role, p in (local_files or {}).items()}
    missing = [f for f in entry.manual_files if f.role not in local]
    if entry.importable_only or missing:
        how = entry.import_command or entry.notes or "see `adanat download --list`"
        names = ", ".join(f"{f.role} ({f.url or f.filename})" for f in missing) or "every file"
        raise UsageError(f"{entry.name} is not fully on the Hub; missing {names}: {how}")
    paths = dict(local)
    for file in entry.hub_files:
        on_progress(f"fetching {file.repo_id}/{file.filename}")
        paths[file.role] = fetch(entry, file, cache_dir, revision, token)
    on_progress(f"converting {entry.name}")
    sources = {f.role: (f"hf:{f.repo_id}/{f.filename}@{revision or f.revision}" if f.on_hub else f.url or f.filename)
               for f in entry.files}
    return import_model(
        entry.format, paths["nnet"], paths["tokenizer"], entry.name, out,
        tokenizer_config=paths.get("tokenizer_config"),
        num_heads=num_heads if num_heads is not None else entry.num_heads,
        recommended=dict(entry.recommended),
        provenance={"zoo": entry.name, "sources": sources, "licence": entry.licence, "citation": entry.citation},
        overwrite=overwrite,
    )


def zoo_status(cache_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """One row per zoo entry: source, size, whether its Hub files are cached and whether it is converted."""
    rows = []
    for entry in zoo_entries():
        cached_files = [cached_path(f, cache_dir) for f in entry.hub_files]
        known = [f.size for f in entry.files if f.size is not None]
        on_disk = sum(p.stat().st_size for p in cached_files if p is not None)
        bundle = find_converted(entry.name, cache_dir)
        converted = False
        if bundle is not None:
            try:
                read_bundle_config(bundle)
                converted = True
            except BundleError:
                converted = False
        rows.append({
            "name": entry.name,
            "format": entry.format,
            "source": entry.source,
            "size": _size_text(entry, known, on_disk, cached_files),
            "cached_bytes": on_disk,
            "cached": bool(entry.hub_files) and all(p is not None for p in cached_files),
            "converted": converted,
            "bundle": str(bundle) if converted else None,
            "licence": entry.licence,
            "how": (f"adanat download {entry.name}" if not entry.manual_files
                    else entry.import_command or entry.notes),
        })
    return rows


def _size_text(entry: ZooEntry, known: list[int], on_disk: int, cached: list[Path | None]) -> str:
    if cached and all(p is not None for p in cached):
        return _human(on_disk)
    if known and len(known) == len(entry.files):
        return _human(sum(known))
    stated = [f.approx_size for f in entry.files if f.approx_size]
    parts = ([_human(sum(known))] if known else []) + [f"≈{s}" for s in stated]
    return " + ".join(parts) + "+" if parts else "?"  # "+": files whose size is not recorded come on top


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
