"""Model bundles: a folder with ``config.json``, ``backbone.safetensors`` and ``tokenizer.safetensors``.

``config.json`` names the backbone and tokenizer plugin types with their constructor kwargs, the class
names, the recommended scheduler settings and the provenance. Loading never unpickles: weights are
safetensors, modules are built on the meta device and the tensors assigned, so nothing is initialised
twice. File sizes are always checked and SHA-256 digests for files up to ``HASH_LIMIT`` bytes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ..architectures.base import Backbone, Tokenizer
from ..data.class_names import are_bare_ids, default_class_names
from ..errors import BundleError
from ..io import (
    ensure_writable,
    read_json_object,
    replace_dir_atomic,
    staging_dir,
    write_bytes_atomic,
    write_text_atomic,
)
from ..registry import registry
from .safetensors_stream import save_streaming

FORMAT = "adanat-bundle"
FORMAT_VERSION = 1
HASH_LIMIT = 64 * 2**20


@dataclass
class ModelBundle:
    name: str
    path: Path
    backbone: Backbone
    tokenizer: Tokenizer
    classes: list[str]
    recommended: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # the whole config.json, for optional parts

    def scheduler_defaults(self, scheduler: str, steps: int) -> dict[str, Any]:
        """Files the bundle ships for ``scheduler`` at ``steps``, as scheduler arguments: config.json's
        ``"schedules": {scheduler: {"T": {argument: "relative/path"}}}`` (e.g. an AutoNAT schedule
        ``{"file": ...}`` or an AdaNAT policy ``{"policy": ...}``), with paths made absolute."""
        entry = self.config.get("schedules", {}).get(scheduler, {}).get(str(steps), {})
        if not isinstance(entry, dict):
            raise BundleError(f"{self.path}: config.json's schedules entry for {scheduler} T={steps} is not an object")
        return {argument: str(inside_bundle(self.path, relative)) for argument, relative in entry.items()}

    @property
    def evaluation(self) -> dict[str, Any]:
        """How to evaluate this model by default: ``extractor``, ``real`` and/or ``reference``."""
        return self.config.get("evaluation", {})

    @property
    def image_size(self) -> tuple[int, int]:
        h, w = self.backbone.grid
        return h * self.tokenizer.downsample, w * self.tokenizer.downsample

    def to(self, device: torch.device | str) -> ModelBundle:
        self.backbone.to(device)
        self.tokenizer.to(device)
        return self


def save_bundle(
    path: str | Path,
    name: str,
    backbone: Backbone,
    tokenizer: Tokenizer,
    classes: list[str],
    recommended: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
    overwrite: bool = False,
    extras: dict[str, dict[str, torch.Tensor]] | None = None,
    extra_config: dict[str, Any] | None = None,
) -> Path:
    """Write a bundle atomically: into a staging folder first, then moved into place.

    ``extras`` maps further ``*.safetensors`` file names to their tensors (e.g. a bundled classifier);
    they are listed with their sizes and digests under ``files``. ``extra_config`` adds top-level
    entries to ``config.json`` (e.g. ``"classifier"``), never replacing the standard ones.
    """
    path = Path(path)
    ensure_writable(path, overwrite)
    if len(classes) != backbone.num_classes:
        raise BundleError(f"{len(classes)} class names given for a backbone with {backbone.num_classes} classes")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(path)
    try:
        files = {}
        for part, module in (("backbone", backbone), ("tokenizer", tokenizer)):
            file = staging / f"{part}.safetensors"
            save_streaming(module.state_dict(), file, metadata={"format": "pt"})
            files[file.name] = {"bytes": file.stat().st_size, "sha256": _sha256(file)}
        for filename, tensors in (extras or {}).items():
            if not filename.endswith(".safetensors") or "/" in filename or filename in files:
                raise BundleError(f"bad extra bundle file name {filename!r}")
            file = staging / filename
            save_streaming(tensors, file, metadata={"format": "pt"})
            files[file.name] = {"bytes": file.stat().st_size, "sha256": _sha256(file)}
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": name,
            "backbone": {"type": _plugin_name("backbones", backbone), "config": backbone.config},
            "tokenizer": {"type": _plugin_name("tokenizers", tokenizer), "config": tokenizer.config},
            "classes": list(classes),
            "recommended": recommended or {},
            "provenance": provenance or {},
            "files": files,
        }
        for key, value in (extra_config or {}).items():
            if key in config:
                raise BundleError(f"extra config entry '{key}' would replace a standard one")
            config[key] = value
        write_text_atomic(staging / "config.json", json.dumps(config, indent=2) + "\n")
        replace_dir_atomic(staging, path, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def add_to_bundle(path: str | Path, files: dict[str, Path], updates: dict[str, Any],
                  replace: dict[str, Any] | None = None) -> None:
    """Copy ``files`` ({relative path in the bundle: source file}) into an existing bundle, then merge
    ``updates`` into its config.json (nested dicts merged) and set the top-level entries of
    ``replace`` whole; config.json is written atomically, last."""
    path = Path(path)
    config = {**read_bundle_config(path), **(replace or {})}
    for relative, source in files.items():
        target = path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        data = Path(source).read_bytes()
        write_bytes_atomic(target, data)
    write_text_atomic(path / "config.json", json.dumps(_merge(config, updates), indent=2) + "\n")


def _merge(base: dict[str, Any], updates: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in updates.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def inside_bundle(bundle: str | Path, relative: Any) -> Path:
    """``bundle / relative``, refused unless it stays inside the bundle folder once resolved (``..``,
    absolute paths and symlinks pointing out are all refused)."""
    root = Path(bundle).resolve()
    if not isinstance(relative, str) or not relative:
        raise BundleError(f"{bundle}: config.json names a file as {relative!r}, not a relative path")
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise BundleError(f"{bundle}: config.json names '{relative}', which lies outside the bundle folder")
    return target


def read_bundle_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    file = path / "config.json"
    if not path.is_dir():
        raise BundleError(f"{path} is not a model bundle folder")
    if not file.is_file():
        raise BundleError(f"{path} is not a model bundle: it has no config.json")
    config = read_json_object(file, "bundle config", BundleError)
    if config.get("format") != FORMAT:
        raise BundleError(f"{file} is not an adanat bundle config (no \"format\": \"{FORMAT}\")")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise BundleError(f"{path} was written by a newer adanat (bundle format {config['format_version']})")
    for key in ("backbone", "tokenizer", "classes"):
        if key not in config:
            raise BundleError(f"{file} lacks the '{key}' entry")
    return config


def load_bundle(path: str | Path, device: torch.device | str = "cpu", name: str | None = None) -> ModelBundle:
    """Load the bundle folder at ``path`` onto ``device`` in eval mode."""
    path = Path(path)
    config = read_bundle_config(path)
    files = config.get("files", {})
    backbone = _load_module(path, "backbones", config["backbone"], "backbone.safetensors", files, device)
    tokenizer = _load_module(path, "tokenizers", config["tokenizer"], "tokenizer.safetensors", files, device)
    classes = [str(c) for c in config["classes"]]
    if are_bare_ids(classes):  # bundles imported before class names were shipped
        classes = default_class_names(len(classes))
    if len(classes) != backbone.num_classes:
        raise BundleError(
            f"{path}: config.json lists {len(classes)} classes but the backbone has {backbone.num_classes}"
        )
    return ModelBundle(
        name=name or config.get("name") or path.name,
        path=path,
        backbone=backbone,
        tokenizer=tokenizer,
        classes=classes,
        recommended=config.get("recommended", {}),
        provenance=config.get("provenance", {}),
        config=config,
    )


def _load_module(path: Path, kind: str, spec: dict, filename: str, files: dict, device) -> torch.nn.Module:
    file = path / filename
    if not file.is_file():
        raise BundleError(f"{path} is incomplete: {filename} is missing")
    expected = files.get(filename, {})
    size = file.stat().st_size
    if "bytes" in expected and size != expected["bytes"]:
        raise BundleError(f"{file} is truncated or corrupt: {size} bytes, expected {expected['bytes']}")
    if "sha256" in expected and size <= HASH_LIMIT and _sha256(file) != expected["sha256"]:
        raise BundleError(f"{file} is corrupt: its SHA-256 does not match config.json")
    cls = registry.get(kind, spec.get("type", "?"))
    try:
        with torch.device("meta"):
            module = cls(**spec.get("config", {}))
    except TypeError as err:
        raise BundleError(f"{path}: config.json has bad {kind[:-1]} settings ({err})") from None
    try:
        state = load_file(str(file), device=str(device))
    except (SafetensorError, OSError, RuntimeError, ValueError) as err:
        raise BundleError(f"{file} is truncated or corrupt ({err})") from None
    ours = module.state_dict()
    for key in ours:
        if key not in state:
            raise BundleError(f"{file} lacks tensor '{key}'")
    for key, tensor in state.items():
        if key not in ours:
            raise BundleError(f"{file} has unexpected tensor '{key}'")
        if tuple(tensor.shape) != tuple(ours[key].shape):
            raise BundleError(f"{file}: tensor '{key}' has shape {tuple(tensor.shape)}, expected {tuple(ours[key].shape)}")
    module.load_state_dict(state, strict=True, assign=True)
    leftover = [n for n, t in [*module.named_parameters(), *module.named_buffers()] if t.is_meta]
    if leftover:
        raise BundleError(f"{file} leaves '{leftover[0]}' uninitialised")
    return module.to(device).eval()


def _plugin_name(kind: str, module: torch.nn.Module) -> str:
    for name in registry.names(kind):
        if registry.get(kind, name) is type(module):
            return name
    raise BundleError(f"{type(module).__name__} is not a registered {kind[:-1]} plugin")


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
