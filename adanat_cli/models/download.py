"""Zoo checkpoints: fetch into the Hugging Face cache, convert into a bundle next to it.

Hub files go through ``huggingface_hub.hf_hub_download`` into the standard cache (``HF_HUB_CACHE``, by default
``~/.cache/huggingface/hub``; ``cache_dir`` overrides it), so they are shared with every other tool
that uses the Hub; Google Drive files through ``models.drive`` (gdown) into a folder of that cache.
The converted bundle is written to ``<cache>/adanat-bundles/<name>/`` (see
``bundles_root``), which is where ``resolve_model`` looks for zoo names.

Offline (``HF_HUB_OFFLINE=1``, read here at call time, or when the Hub cannot be reached) the cache is
used; a file that is not cached is one ``NotFoundError`` naming it and how to get it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import BundleError, NotFoundError, UsageError
from .bundle import read_bundle_config
from .cache import bundles_root, find_converted, hub_cache_dir, hub_offline, verify
from .converters.policy import policy_from_official
from .drive import drive_cache_path, fetch_drive, is_drive_file
from .formats import import_model
from .ship import add_official_policy
from .zoo import ZooEntry, ZooFile, zoo_entries, zoo_entry


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
    """Fetch the files of zoo entry ``name`` (Hub, Google Drive), convert them and return the bundle folder.

    ``local_files`` maps a role (``nnet``, ``tokenizer``, ``policy``, ...) to a file fetched by hand; it
    replaces the download of that file. An entry's ``policy`` file (AdaNAT's learned policy) is shipped
    in the bundle as its recommended scheduler. An existing bundle is returned as is unless ``overwrite``.
    """
    entry = zoo_entry(name)
    out = bundles_root(cache_dir) / entry.name
    if find_converted(entry.name, cache_dir) and not overwrite:
        on_progress(f"{entry.name} is already converted")
        return out
    paths = {role: Path(p) for role, p in (local_files or {}).items()}
    unknown = sorted(set(paths) - {f.role for f in entry.files})
    if unknown:
        raise UsageError(f"{entry.name} has no file '{unknown[0]}' (its files: {', '.join(f.role for f in entry.files)})")
    unreachable = [f for f in _by_hand(entry) if f.role not in paths]
    if unreachable:
        names = ", ".join(f"{f.role} ({f.filename})" for f in unreachable)
        flags = " ".join(f"--file {f.role}=PATH" for f in unreachable)
        raise UsageError(f"{entry.name}: no download link is recorded for {names}; {entry.notes or 'fetch it by hand'} "
                         f"Then: adanat download {entry.name} {flags}")
    for file in entry.files:
        if file.role in paths:
            continue
        if file.on_hub:
            on_progress(f"fetching {file.repo_id}/{file.filename}")
            paths[file.role] = fetch(entry, file, cache_dir, revision, token)
        else:
            on_progress(f"fetching {file.filename} from Google Drive")
            paths[file.role] = fetch_drive(entry, file, cache_dir)
    if "policy" in paths:
        policy_from_official(paths["policy"])  # a bad policy file fails before any bundle is written
    on_progress(f"converting {entry.name}")
    sources = {f.role: (f"hf:{f.repo_id}/{f.filename}@{revision or f.revision}" if f.on_hub else f.url or f.filename)
               for f in entry.files}
    bundle = import_model(
        entry.format, paths["nnet"], paths["tokenizer"], entry.name, out,
        tokenizer_config=paths.get("tokenizer_config"),
        num_heads=num_heads if num_heads is not None else entry.num_heads,
        recommended=dict(entry.recommended),
        provenance={"zoo": entry.name, "sources": sources, "licence": entry.licence, "citation": entry.citation},
        overwrite=overwrite,
    )
    if "policy" in paths:
        on_progress("converting the learned policy")
        try:
            add_official_policy(bundle, paths["policy"])
        except BaseException:
            shutil.rmtree(bundle, ignore_errors=True)  # never leave a bundle that looks complete without it
            raise
    return bundle


def _by_hand(entry: ZooEntry) -> list[ZooFile]:
    """Files of ``entry`` with no download link: the user fetches them."""
    return [f for f in entry.files if not f.on_hub and not is_drive_file(f)]


def _file_cached(file: ZooFile, cache_dir: str | Path | None) -> Path | None:
    if file.on_hub:
        return cached_path(file, cache_dir)
    if is_drive_file(file):
        path = drive_cache_path(file, cache_dir)
        return path if path.is_file() else None
    return None


def zoo_status(cache_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """One row per zoo entry: source, size, whether its Hub files are cached and whether it is converted."""
    rows = []
    for entry in zoo_entries():
        cached_files = [_file_cached(f, cache_dir) for f in entry.files]
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
            "cached": all(p is not None for p in cached_files),
            "converted": converted,
            "bundle": str(bundle) if converted else None,
            "licence": entry.licence,
            "how": " ".join([f"adanat download {entry.name}", *(f"--file {f.role}=PATH" for f in _by_hand(entry))]),
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
