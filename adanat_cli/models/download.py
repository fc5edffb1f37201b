"""Zoo checkpoints: fetch into the Hugging Face cache, convert into a bundle next to it.

Hub files go through ``huggingface_hub.hf_hub_download`` into the standard cache (``HF_HUB_CACHE``, by default
``~/.cache/huggingface/hub``; ``cache_dir`` overrides it), so they are shared with every other tool
that uses the Hub; Google Drive files through ``models.drive`` (gdown) into a folder of that cache.
The converted bundle is written to ``<cache>/adanat-bundles/<name>/`` (see
``bundles_root``), which is where ``resolve_model`` looks for zoo names.

Offline (``HF_HUB_OFFLINE=1``, read here at call time, or when the Hub cannot be reached) the cache is
used; a file that is not cached is one ``NotFoundError`` naming it and how to get it.

A text-to-image entry's text encoder is fetched into the same cache by ``models.hub_text`` (only the
files a transformers CLIP text model and its tokenizer read) and named, not copied, in the bundle. An
entry's ``fid_stats`` file (an ``.npz`` with ``mu`` and ``sigma``) is checked here and becomes the
bundle's default evaluation reference; registering it as named statistics is the metrics layer's job
(``metrics.reference_stats``, called by ``adanat download``).
"""

from __future__ import annotations

import importlib.util
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BundleError, ConversionError, UsageError
from .bundle import read_bundle_config
from .cache import bundles_root, find_converted, hub_cache_dir, hub_offline, verify
from .converters.policy import policy_from_official
from .drive import drive_cache_path, fetch_drive, is_drive_file
from .formats import import_model
from .hub_text import TextEncoderSource, fetch_text_encoder, hub_file
from .ship import add_official_policy
from .zoo import ZooEntry, ZooFile, zoo_entries, zoo_entry

REFERENCE_EXTRACTOR = "inception"  # the feature space of the published FID statistics (Inception-v3 pool3)


def cached_path(file: ZooFile, cache_dir: str | Path | None = None, revision: str | None = None) -> Path | None:
    """Where ``file`` lies in the cache, or None (no network)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(file.repo_id, file.filename, cache_dir=hub_cache_dir(cache_dir),
                                   revision=revision or file.revision)
    return Path(found) if isinstance(found, str) else None


def fetch(entry: ZooEntry, file: ZooFile, cache_dir: str | Path | None = None,
          revision: str | None = None, token: str | None = None) -> Path:
    """One Hub file of ``entry`` as a local path (downloaded, or from the cache when offline)."""
    cache = hub_cache_dir(cache_dir)
    hint = (f"run `adanat download {entry.name}` with network access (or import local files with "
            "`adanat import`)")
    path = hub_file(file.repo_id, file.filename, revision or file.revision, cache, token, hub_offline(), hint)
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
        paths[file.role] = fetch_file(entry, file, cache_dir, revision, token, on_progress)
    text_encoder = fetch_entry_text_encoder(entry, cache_dir, token, on_progress)
    if "policy" in paths:
        policy_from_official(paths["policy"])  # a bad policy file fails before any bundle is written
    extra_config = {}
    if "fid_stats" in paths:
        read_npz_stats(paths["fid_stats"])  # likewise a bad statistics file
        if entry.reference_stats:
            extra_config["evaluation"] = {"extractor": REFERENCE_EXTRACTOR, "reference": entry.reference_stats}
    on_progress(f"converting {entry.name}")
    sources = {f.role: (f"hf:{f.repo_id}/{f.filename}@{revision or f.revision}" if f.on_hub else f.url or f.filename)
               for f in entry.files}
    if text_encoder is not None:
        config = text_encoder.spec["config"]
        sources["text_encoder"] = f"hf:{config['source']}@{config['revision']} ({', '.join(text_encoder.files)})"
    bundle = import_model(
        entry.format, paths["nnet"], paths["tokenizer"], entry.name, out,
        tokenizer_config=paths.get("tokenizer_config"),
        num_heads=num_heads if num_heads is not None else entry.num_heads,
        recommended=dict(entry.recommended),
        provenance={"zoo": entry.name, "sources": sources, "licence": entry.licence, "citation": entry.citation},
        overwrite=overwrite,
        text_encoder=text_encoder,
        extra_config=extra_config,
    )
    if "policy" in paths:
        on_progress("converting the learned policy")
        try:
            add_official_policy(bundle, paths["policy"], recommend=entry.recommend_policy)
        except BaseException:
            shutil.rmtree(bundle, ignore_errors=True)  # never leave a bundle that looks complete without it
            raise
    return bundle


def fetch_file(entry: ZooEntry, file: ZooFile, cache_dir: str | Path | None = None, revision: str | None = None,
               token: str | None = None, on_progress: Callable[[str], None] = lambda message: None) -> Path:
    """One file of ``entry``, from the Hub or Google Drive (or their caches)."""
    if file.on_hub:
        on_progress(f"fetching {file.repo_id}/{file.filename}")
        return fetch(entry, file, cache_dir, revision, token)
    on_progress(f"fetching {file.filename} from Google Drive")
    return fetch_drive(entry, file, cache_dir)


def fetch_entry_text_encoder(entry: ZooEntry, cache_dir: str | Path | None = None, token: str | None = None,
                             on_progress: Callable[[str], None] = lambda message: None) -> TextEncoderSource | None:
    """The text encoder of a text-to-image entry, fetched into the Hub cache (None for other entries).

    It keeps its own repo and revision: ``--revision`` applies to the entry's own files."""
    spec = entry.text_encoder
    if spec is None:
        return None
    on_progress(f"fetching the text encoder {spec.repo_id}")
    source = fetch_text_encoder(
        spec.repo_id, spec.revision, spec.projection_dim, cache_dir=cache_dir, token=token, on_progress=on_progress,
        retry_hint=f"run `adanat download {entry.name}` with network access",
    )
    if importlib.util.find_spec("transformers") is None:
        on_progress(f"note: sampling {entry.name} needs transformers for its text encoder: pip install 'adanat[text]'")
    return source


def read_npz_stats(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(mu (D,), sigma (D, D)) float64 from published FID statistics (``np.savez`` with ``mu``, ``sigma``);
    read without unpickling, checked for shapes and finite values."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if "mu" not in data or "sigma" not in data:
                raise ConversionError(f"{path} holds no 'mu' and 'sigma' arrays (found: {', '.join(data.files) or 'none'})")
            mu, sigma = np.asarray(data["mu"], dtype=np.float64), np.asarray(data["sigma"], dtype=np.float64)
    except ConversionError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ConversionError(f"{path} is not readable FID statistics ({str(err).splitlines()[0]})") from None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ConversionError(f"{path}: mu has shape {mu.shape} and sigma {sigma.shape}; expected (D,) and (D, D)")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ConversionError(f"{path} holds non-finite numbers (NaN or infinity)")
    return mu, sigma


def reference_stats_file(name: str, cache_dir: str | Path | None = None, revision: str | None = None,
                         token: str | None = None) -> Path | None:
    """The published FID statistics of zoo entry ``name`` (fetched, or from the cache), or None when it
    records none."""
    entry = zoo_entry(name)
    file = entry.file("fid_stats")
    if file is None or not entry.reference_stats:
        return None
    return fetch_file(entry, file, cache_dir, revision, token)


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


def _text_encoder_cached(entry: ZooEntry, cache_dir: str | Path | None) -> bool:
    """Whether the text encoder's config.json is cached (its other files come with it)."""
    from huggingface_hub import try_to_load_from_cache

    spec = entry.text_encoder
    found = try_to_load_from_cache(spec.repo_id, "config.json", cache_dir=hub_cache_dir(cache_dir), revision=spec.revision)
    return isinstance(found, str)


def zoo_status(cache_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """One row per zoo entry: source, size, whether its Hub files are cached and whether it is converted."""
    rows = []
    for entry in zoo_entries():
        cached_files = [_file_cached(f, cache_dir) for f in entry.files]
        known = [f.size for f in entry.files if f.size is not None]
        on_disk = sum(p.stat().st_size for p in cached_files if p is not None)
        text_cached = entry.text_encoder is None or _text_encoder_cached(entry, cache_dir)
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
            "cached": all(p is not None for p in cached_files) and text_cached,
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
