"""Model bundles: a folder with ``config.json``, ``backbone.safetensors`` and ``tokenizer.safetensors``.

``config.json`` names the backbone and tokenizer plugin types with their constructor kwargs, the class
names, the recommended scheduler settings and the provenance. Loading never unpickles: weights are
safetensors, modules are built on the meta device and the tensors assigned, so nothing is initialised
twice. File sizes are always checked and SHA-256 digests for files up to ``HASH_LIMIT`` bytes (the
checks and the strict assignment live in ``text/base.py``, shared with the text encoders).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

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
from ..text.base import TextEncoder, build_from_safetensors, check_bundle_file
from ..text.base import file_sha256 as _sha256
from ..text.prompt_cache import PromptEmbedder
from .safetensors_stream import save_streaming

FORMAT = "adanat-bundle"
FORMAT_VERSION = 1


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
    text_encoder: TextEncoder | None = None  # a text-conditioned model's prompt encoder
    _prompts: PromptEmbedder | None = field(default=None, repr=False)

    @property
    def prompts(self) -> PromptEmbedder:
        """The text encoder behind a cache of prompt embeddings (the empty prompt encoded once)."""
        if self.text_encoder is None:
            raise BundleError(f"model '{self.name}' has no text encoder: it is not text-conditioned")
        if self._prompts is None:
            self._prompts = PromptEmbedder(self.text_encoder)
        return self._prompts

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
        if self.text_encoder is not None:
            self.text_encoder.to(device)
            self._prompts = None  # cached embeddings live on the old device's terms; start afresh
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
    text_encoder: TextEncoder | None = None,
) -> Path:
    """Write a bundle atomically: into a staging folder first, then moved into place.

    ``extras`` maps further ``*.safetensors`` file names to their tensors (e.g. a bundled classifier);
    they are listed with their sizes and digests under ``files``. ``extra_config`` adds top-level
    entries to ``config.json`` (e.g. ``"classifier"``), never replacing the standard ones. A
    text-conditioned model passes its ``text_encoder``: its weights go to ``text_encoder.safetensors``
    unless the encoder keeps them elsewhere (``stores_weights = False``, e.g. a Hugging Face model).
    """
    path = Path(path)
    ensure_writable(path, overwrite)
    if len(classes) != backbone.num_classes:
        raise BundleError(f"{len(classes)} class names given for a backbone with {backbone.num_classes} classes")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(path)
    try:
        files = {}
        parts = [("backbone", backbone), ("tokenizer", tokenizer)]
        if text_encoder is not None and getattr(text_encoder, "stores_weights", True):
            parts.append(("text_encoder", text_encoder))
        for part, module in parts:
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
            **({"text_encoder": {"type": _plugin_name("text_encoders", text_encoder), "config": text_encoder.config}}
               if text_encoder is not None else {}),
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
    text_encoder = _load_text_encoder(path, config, files, device)
    if getattr(backbone, "conditioning", "class") == "text" and text_encoder is None:
        raise BundleError(f"{path}: the backbone reads text but config.json names no text_encoder")
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
        text_encoder=text_encoder,
    )


def _load_text_encoder(path: Path, config: dict, files: dict, device) -> TextEncoder | None:
    spec = config.get("text_encoder")
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise BundleError(f"{path}: config.json's text_encoder entry is not an object")
    cls = registry.get("text_encoders", spec.get("type", "?"))
    config_kwargs = spec.get("config", {})
    if not isinstance(config_kwargs, dict):
        raise BundleError(f"{path}: config.json's text_encoder config is not an object")
    return cls.from_bundle(path, config_kwargs, device, files=files).eval()


def _load_module(path: Path, kind: str, spec: dict, filename: str, files: dict, device) -> torch.nn.Module:
    file = check_bundle_file(path, filename, files)
    cls = registry.get(kind, spec.get("type", "?"))
    return build_from_safetensors(cls, spec.get("config", {}), file, device, bundle=path, what=kind[:-1])


def _plugin_name(kind: str, module: torch.nn.Module) -> str:
    for name in registry.names(kind):
        if registry.get(kind, name) is type(module):
            return name
    raise BundleError(f"{type(module).__name__} is not a registered {kind[:-1]} plugin")
