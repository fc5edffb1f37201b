"""What every text encoder provides, and how weights in a bundle folder are checked and assigned.

A text encoder turns prompts into a ``TextEmbedding``: ``context`` (B, L, C), one vector per token
position (what a text-conditioned backbone attends to), and ``pooled`` (B, P), one vector per prompt
(what a discriminator or a reward reads). Like backbones, text encoders are ``nn.Module`` and
``Configurable``: their constructor keyword arguments are their config.

The weight helpers (``check_bundle_file``, ``build_from_safetensors``) are shared with
``models/bundle.py``: a file is checked against the sizes and digests ``config.json`` records, the
module is built on the meta device and the tensors are assigned strictly, so nothing is initialised
twice and a missing, extra or misshapen tensor is named.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ..configurable import Configurable
from ..errors import BundleError
from ..io import read_json_object

HASH_LIMIT = 64 * 2**20
"""Files up to this size have their SHA-256 checked on load; larger ones only their size."""

TEXT_ENCODER_FILE = "text_encoder.safetensors"


@dataclass
class TextEmbedding:
    """Prompts encoded. context: (B, L, C) float32; pooled: (B, P) float32."""

    context: torch.Tensor
    pooled: torch.Tensor

    def __len__(self) -> int:
        return self.context.shape[0]

    def to(self, device: torch.device | str) -> TextEmbedding:
        return TextEmbedding(self.context.to(device), self.pooled.to(device))


class TextEncoder(nn.Module, Configurable):
    """Base class of text encoders.

    Subclasses call ``super().__init__(context_length=L, context_dim=C, pooled_dim=P)`` and implement
    ``tokenize(prompts) -> (B, L) long`` and ``forward(ids (B, L) long) -> TextEmbedding`` (any float
    dtype); ``encode`` ties them together. ``from_bundle`` builds the encoder from a bundle folder's
    ``text_encoder.safetensors``; an encoder whose weights live elsewhere overrides it.
    """

    def __init__(self, *, context_length: int, context_dim: int, pooled_dim: int) -> None:
        super().__init__()
        self.context_length = int(context_length)
        self.context_dim = int(context_dim)
        self.pooled_dim = int(pooled_dim)

    @property
    def device(self) -> torch.device:
        for tensor in (*self.parameters(), *self.buffers()):
            return tensor.device
        return torch.device("cpu")

    def tokenize(self, prompts: Sequence[str]) -> torch.Tensor:
        """prompts -> token ids (B, context_length) long, on the CPU."""
        raise NotImplementedError

    def forward(self, ids: torch.Tensor) -> TextEmbedding:
        raise NotImplementedError

    def encode(self, prompts: Sequence[str]) -> TextEmbedding:
        """prompts -> ``TextEmbedding`` in float32 on this module's device (no autograd)."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        device = self.device
        if not prompts:
            return TextEmbedding(torch.zeros(0, self.context_length, self.context_dim, device=device),
                                 torch.zeros(0, self.pooled_dim, device=device))
        ids = self.tokenize(prompts).to(device)
        with torch.inference_mode():
            out = self(ids)
        return TextEmbedding(out.context.float(), out.pooled.float())

    @classmethod
    def from_bundle(cls, bundle_path: Path, config: dict[str, Any], device: torch.device | str = "cpu",
                    files: Mapping[str, Any] | None = None) -> TextEncoder:
        """Build on the meta device and assign ``bundle_path/text_encoder.safetensors`` strictly.

        ``files`` is config.json's ``files`` table (sizes, digests); read from the folder when None.
        """
        bundle_path = Path(bundle_path)
        if files is None:
            manifest = bundle_path / "config.json"
            files = read_json_object(manifest, "bundle config", BundleError).get("files", {}) if manifest.is_file() else {}
        file = check_bundle_file(bundle_path, TEXT_ENCODER_FILE, files)
        return build_from_safetensors(cls, config, file, device, bundle=bundle_path, what="text encoder")


def file_sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_bundle_file(bundle: Path, filename: str, files: Mapping[str, Any]) -> Path:
    """``bundle/filename``, checked: present, of the recorded size and (up to ``HASH_LIMIT``) digest."""
    file = bundle / filename
    if not file.is_file():
        raise BundleError(f"{bundle} is incomplete: {filename} is missing")
    expected = files.get(filename, {})
    size = file.stat().st_size
    if "bytes" in expected and size != expected["bytes"]:
        raise BundleError(f"{file} is truncated or corrupt: {size} bytes, expected {expected['bytes']}")
    if "sha256" in expected and size <= HASH_LIMIT and file_sha256(file) != expected["sha256"]:
        raise BundleError(f"{file} is corrupt: its SHA-256 does not match config.json")
    return file


def build_from_safetensors(cls: type[nn.Module], config: Mapping[str, Any], file: Path, device: torch.device | str,
                           *, bundle: Path, what: str) -> nn.Module:
    """``cls(**config)`` built on the meta device, ``file``'s tensors assigned strictly, in eval mode."""
    try:
        with torch.device("meta"):
            module = cls(**config)
    except TypeError as err:
        raise BundleError(f"{bundle}: config.json has bad {what} settings ({err})") from None
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
