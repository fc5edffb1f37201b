"""Published FID statistics of zoo entries as named statistics (``adanat fid --stats NAME``).

A zoo entry may carry a ``fid_stats`` file: the ``.npz`` (``mu``, ``sigma``) its authors compare
against, e.g. MUSE's ``fid_stats_cc3m_val.npz`` for AdaNAT on CC3M. ``adanat download`` stores it under
the entry's ``reference_stats`` name in the ``inception`` feature space, where ``load_stats`` finds it;
the bundle's ``evaluation`` entry names it as the default reference.

Those statistics were computed with pytorch-fid / torch-fidelity's Inception-v3 (the same 2015 TF
weights as clean-fid's, but a bilinear resize to 299 instead of clean-fid's PIL bicubic), so a score
against them is close to, not identical with, the papers' protocol.
"""

from __future__ import annotations

from pathlib import Path

from ..models.download import REFERENCE_EXTRACTOR, read_npz_stats, reference_stats_file
from ..models.zoo import zoo_entry
from .fid import save_stats
from .frechet import FeatureSet


def register_zoo_stats(
    name: str,
    cache_dir: str | Path | None = None,
    revision: str | None = None,
    token: str | None = None,
    local_file: str | Path | None = None,
) -> tuple[str, Path] | None:
    """Store zoo entry ``name``'s published statistics as named statistics; (name, file), or None when the
    entry has none. ``local_file`` replaces the download (``--file fid_stats=PATH``). Replaces earlier ones."""
    entry = zoo_entry(name)
    if not entry.reference_stats or entry.file("fid_stats") is None:
        return None
    file = entry.file("fid_stats")
    npz = Path(local_file) if local_file is not None else reference_stats_file(name, cache_dir, revision, token)
    mu, sigma = read_npz_stats(npz)
    source = f"hf:{file.repo_id}/{file.filename}" if file.on_hub else (file.url or file.filename)
    stats = FeatureSet(f"{source} (zoo entry {entry.name})", mu, sigma)
    return entry.reference_stats, save_stats(entry.reference_stats, REFERENCE_EXTRACTOR, stats, overwrite=True)
