"""Public VQGAN checkpoints -> ``VQGANJax`` / ``VQGANTaming``.

Each converter takes the public state dict (keys such as ``encoder.down.0.block.0.conv1.weight``),
the ``ddconfig`` dict the public ``VQModel`` was built with, and the codebook settings. Our module
names mirror the public keys, so the mapping is the identity; what the converters add is checking:
every key must be consumed and every parameter filled with the right shape (``assign_strict``).

The modules are built on the meta device and the checkpoint's tensors assigned, so nothing is
initialised twice and a full-size checkpoint of meta tensors can be checked without memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from ...architectures.vqgan import VQGANJax, VQGANTaming
from ...errors import ConversionError
from .strict import assign_strict

# ddconfig keys of taming's Encoder/Decoder that do not change the inference architecture
_INERT = {"dropout", "resolution", "attn_resolutions"}
_SHAPE = ("ch", "ch_mult", "num_res_blocks", "z_channels")


def _as_int(value: Any, name: str, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ConversionError(f"{what}: {name} must be an integer, got {value!r}") from None
    if number != float(value) or number <= 0:
        raise ConversionError(f"{what}: {name} must be a positive integer, got {value!r}")
    return number


def _common_kwargs(ddconfig: Mapping[str, Any], what: str, allowed: set[str]) -> dict[str, Any]:
    """The settings both variants share, after rejecting what we cannot build."""
    unknown = sorted(set(ddconfig) - allowed)
    if unknown:
        raise ConversionError(f"{what}: unsupported ddconfig entries {unknown}")
    missing = [key for key in _SHAPE if key not in ddconfig]
    if missing:
        raise ConversionError(f"{what}: ddconfig lacks {missing}")
    # taming's Encoder defaults to double_z=True (a KL autoencoder's mean and log-variance)
    if ddconfig.get("double_z", True):
        raise ConversionError(f"{what}: ddconfig double_z must be false for a VQGAN")
    if ddconfig.get("give_pre_end", False):
        raise ConversionError(f"{what}: ddconfig give_pre_end=true is not supported")
    return {
        "ch": _as_int(ddconfig["ch"], "ch", what),
        "ch_mult": [_as_int(m, "ch_mult", what) for m in ddconfig["ch_mult"]],
        "num_res_blocks": _as_int(ddconfig["num_res_blocks"], "num_res_blocks", what),
        "z_channels": _as_int(ddconfig["z_channels"], "z_channels", what),
        "in_channels": _as_int(ddconfig.get("in_channels", 3), "in_channels", what),
        "out_ch": _as_int(ddconfig.get("out_ch", 3), "out_ch", what),
    }


def vqgan_jax_kwargs(ddconfig: Mapping[str, Any], n_embed: int | str) -> dict[str, Any]:
    """``VQGANJax`` constructor kwargs from MAGE's ddconfig (e.g. ``config/vqgan.yaml``).

    ``attn_resolutions``, ``resolution`` and ``dropout`` are accepted and ignored: the jax port builds
    no attention layers whatever ``attn_resolutions`` says, and dropout is a training setting.
    """
    what = "vqgan-jax"
    allowed = set(_SHAPE) | _INERT | {"double_z", "give_pre_end", "in_channels", "out_ch"}
    kwargs = _common_kwargs(ddconfig, what, allowed)
    kwargs["codebook_size"] = _as_int(n_embed, "n_embed", what)
    return kwargs


def vqgan_taming_kwargs(
    ddconfig: Mapping[str, Any], n_embed: int | str, embed_dim: int | str
) -> dict[str, Any]:
    """``VQGANTaming`` constructor kwargs from a taming ``model.yaml``'s ddconfig and codebook settings."""
    what = "vqgan-taming"
    allowed = set(_SHAPE) | _INERT | {"double_z", "give_pre_end", "in_channels", "out_ch"}
    kwargs = _common_kwargs(ddconfig, what, allowed | {"resamp_with_conv"})
    if not ddconfig.get("resamp_with_conv", True):
        raise ConversionError(f"{what}: ddconfig resamp_with_conv=false is not supported")
    if "resolution" not in ddconfig:
        raise ConversionError(f"{what}: ddconfig lacks 'resolution' (it places the attention blocks)")
    attn_resolutions = ddconfig.get("attn_resolutions", [])
    kwargs["attn_resolutions"] = [_as_int(r, "attn_resolutions", what) for r in attn_resolutions]
    kwargs["resolution"] = _as_int(ddconfig["resolution"], "resolution", what)
    kwargs["embed_dim"] = _as_int(embed_dim, "embed_dim", what)
    kwargs["codebook_size"] = _as_int(n_embed, "n_embed", what)
    return kwargs


def _load(
    cls: type[VQGANJax] | type[VQGANTaming],
    kwargs: dict[str, Any],
    state_dict: Mapping[str, torch.Tensor],
    drop_prefixes: Iterable[str],
    what: str,
) -> VQGANJax | VQGANTaming:
    drop = tuple(drop_prefixes)
    kept = {k: v for k, v in state_dict.items() if not (drop and k.startswith(drop))}
    with torch.device("meta"):
        model = cls(**kwargs)
    assign_strict(model, kept, rename=lambda key: key, what=what)
    return model.eval()


def vqgan_jax_from_official(
    state_dict: Mapping[str, torch.Tensor],
    ddconfig: Mapping[str, Any],
    n_embed: int | str,
    drop_prefixes: Iterable[str] = (),
) -> VQGANJax:
    """Load MAGE's ``vqgan_jax_strongaug.ckpt`` state dict (the one AdaNAT/AutoNAT/ENAT use).

    The file holds only the model, so nothing is dropped by default; ``drop_prefixes`` lists key
    prefixes to discard before the strict check. The result lives where the given tensors live.
    """
    return _load(VQGANJax, vqgan_jax_kwargs(ddconfig, n_embed), state_dict, drop_prefixes, "vqgan-jax")


def vqgan_taming_from_official(
    state_dict: Mapping[str, torch.Tensor],
    ddconfig: Mapping[str, Any],
    n_embed: int | str,
    embed_dim: int | str,
    drop_prefixes: Iterable[str] = ("loss.",),
) -> VQGANTaming:
    """Load a taming-transformers VQGAN state dict (e.g. MaskGIT-pytorch's ``last.ckpt['state_dict']``).

    Lightning training checkpoints also hold the perceptual loss and discriminator under ``loss.``;
    those are training-only and dropped by default (``drop_prefixes``). Every other key must fit.
    """
    kwargs = vqgan_taming_kwargs(ddconfig, n_embed, embed_dim)
    return _load(VQGANTaming, kwargs, state_dict, drop_prefixes, "vqgan-taming")
