"""Official checkpoint files on disk -> a model bundle, one table entry per checkpoint family.

``FORMATS`` maps a format name to how its files become modules: the converter from the public key
layout, the config inference from tensor shapes, the tokenizer family, where the weights sit inside
the pickle and which config entry must divide by the number of heads. Built-in entries:

- ``autonat`` / ``adanat`` / ``muse``: a U-ViT ``nnet`` state dict (AdaNAT/AutoNAT/MUSE ``libs/uvit``) and
  MAGE's jax-converted VQGAN (``vqgan_jax_strongaug.ckpt``; its ddconfig is read from the shapes, or from
  ``--tokenizer-config`` when given).
- ``muse-t2i``: MUSE/AdaNAT's text-to-image U-ViT (``uvit_t2i_vq``, the CC3M model) and the MAGE VQGAN, as
  above; the bundle also names its text encoder (``models.hub_text``), whose width must match the
  model's context width.
- ``enat``: an ENAT ``nnet`` state dict (``libs/models.py`` DiT with an encoder/decoder split, 22 + 2
  blocks assumed for the published ENAT-L, see ``infer_enat_config``) and the MAGE VQGAN, as above.
- ``maskgit``: a MaskGIT-pytorch pickle dict with the weights under ``model_state_dict`` and a taming
  VQGAN Lightning checkpoint (``state_dict``) with its ``model.yaml``.

Any registered backbone whose class defines ``infer_config`` is a format too, under its registry
name, reading a state dict in the class's own key names (``Backbone.from_state_dict``).

The number of attention heads is invisible in shapes and comes from the format's zoo entry or
``num_heads``; the rest of the architecture is inferred from shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from .. import __version__
from ..architectures.base import Backbone, Tokenizer
from ..data.class_names import default_class_names
from ..errors import ConversionError, NotFoundError, UsageError
from ..io import ensure_writable
from ..registry import registry
from .bundle import save_bundle
from .checkpoints import load_checkpoint, state_dict_of
from .convert import (
    enat_from_official,
    maskgit_from_official,
    uvit_from_official,
    uvit_t2i_from_official,
    vqgan_jax_from_official,
    vqgan_taming_from_official,
)
from .converters.enat import infer_enat_config
from .converters.maskgit import infer_maskgit_config
from .converters.uvit import infer_uvit_config
from .converters.uvit_text import infer_uvit_t2i_config
from .hub_text import TextEncoderSource
from .zoo import BUILTIN_ENTRIES


@dataclass(frozen=True)
class ImportFormat:
    """How one family of checkpoints becomes a backbone."""

    convert: Callable[[Mapping[str, torch.Tensor], dict], Backbone]  # (state dict, config) -> backbone
    infer_config: Callable[..., dict]  # (state dict, num_heads=..., **hints) -> config
    tokenizer: str = "vqgan-jax"  # key of TOKENIZER_READERS
    nnet_key: str | None = None  # where the weights sit inside the nnet pickle, if nested
    width_key: str | None = None  # the config entry that must be divisible by the heads
    hints: tuple[str, ...] = ()  # extra facts infer_config accepts: "enc_dec", "codebook_size"
    text: bool = False  # a text-to-image checkpoint: the bundle needs a text encoder


_UVIT = ImportFormat(uvit_from_official, infer_uvit_config, width_key="embed_dim")
FORMATS: dict[str, ImportFormat] = {
    "autonat": _UVIT,
    "adanat": _UVIT,
    "muse": _UVIT,
    "muse-t2i": ImportFormat(uvit_t2i_from_official, infer_uvit_t2i_config, width_key="embed_dim", text=True),
    "enat": ImportFormat(enat_from_official, infer_enat_config, width_key="hidden_size", hints=("enc_dec",)),
    "maskgit": ImportFormat(maskgit_from_official, infer_maskgit_config, tokenizer="vqgan-taming",
                            nnet_key="model_state_dict", width_key="hidden_dim", hints=("codebook_size",)),
}


def import_format(name: str) -> ImportFormat:
    """The table entry of ``name``, or the native format of a backbone plugin that can infer its config."""
    if name in FORMATS:
        return FORMATS[name]
    if name in registry.names("backbones"):
        cls = registry.get("backbones", name)
        if hasattr(cls, "infer_config"):
            return ImportFormat(cls.from_state_dict, cls.infer_config,
                                text=getattr(cls, "conditioning", "class") == "text")
    raise UsageError(f"unknown format '{name}' (known: {', '.join(format_names())})")


def format_names() -> list[str]:
    native = [n for n in registry.names("backbones") if hasattr(registry.get("backbones", n), "infer_config")]
    return [*FORMATS, *(n for n in native if n not in FORMATS)]


def infer_vqgan_jax_config(state_dict: Mapping[str, torch.Tensor]) -> tuple[dict, int]:
    """(ddconfig, n_embed) of a MAGE jax VQGAN from its shapes (the checkpoint ships no config)."""
    what = "vqgan-jax checkpoint"
    for key in ("encoder.conv_in.weight", "encoder.conv_out.weight", "quantize.embedding.weight"):
        if key not in state_dict:
            raise ConversionError(f"{what}: missing key '{key}' in the checkpoint")
    ch = state_dict["encoder.conv_in.weight"].shape[0]
    levels = sorted({int(k.split(".")[2]) for k in state_dict if k.startswith("encoder.down.")})
    ch_mult = []
    for level in levels:
        key = f"encoder.down.{level}.block.0.conv2.weight"
        if key not in state_dict:
            raise ConversionError(f"{what}: missing key '{key}' in the checkpoint")
        ch_mult.append(state_dict[key].shape[0] // ch)
    blocks = {k.split(".")[4] for k in state_dict if k.startswith("encoder.down.0.block.")}
    ddconfig = {
        "double_z": False,
        "z_channels": state_dict["encoder.conv_out.weight"].shape[0],
        "in_channels": state_dict["encoder.conv_in.weight"].shape[1],
        "out_ch": state_dict["decoder.conv_out.weight"].shape[0] if "decoder.conv_out.weight" in state_dict else 3,
        "ch": ch,
        "ch_mult": ch_mult,
        "num_res_blocks": len(blocks),
    }
    return ddconfig, state_dict["quantize.embedding.weight"].shape[0]


def read_taming_yaml(path: str | Path) -> tuple[dict, int, int]:
    """(ddconfig, n_embed, embed_dim) from a taming ``model.yaml`` (``model.params`` or ``params``)."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"tokenizer config {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConversionError(f"{path} is not valid YAML ({str(err).splitlines()[0]})") from None
    params = data.get("model", data).get("params", {}) if isinstance(data, dict) else {}
    for key in ("ddconfig", "n_embed", "embed_dim"):
        if key not in params:
            raise ConversionError(f"{path}: model.params.{key} is missing")
    return dict(params["ddconfig"]), params["n_embed"], params["embed_dim"]


def _read_vqgan_jax(path: Path, config: Path | None) -> Tokenizer:
    state = state_dict_of(load_checkpoint(path), path, "state_dict")
    if config is not None:
        ddconfig, n_embed, _ = read_taming_yaml(config)
    else:
        ddconfig, n_embed = infer_vqgan_jax_config(state)
    return vqgan_jax_from_official(state, ddconfig, n_embed)


def _read_vqgan_taming(path: Path, config: Path | None) -> Tokenizer:
    if config is None:
        raise UsageError("this format's taming VQGAN needs --tokenizer-config (its model.yaml)")
    ddconfig, n_embed, embed_dim = read_taming_yaml(config)
    state = state_dict_of(load_checkpoint(path), path, "state_dict")
    return vqgan_taming_from_official(state, ddconfig, n_embed, embed_dim)


TOKENIZER_READERS: dict[str, Callable[[Path, Path | None], Tokenizer]] = {
    "vqgan-jax": _read_vqgan_jax,
    "vqgan-taming": _read_vqgan_taming,
}


def default_heads(fmt: str) -> int | None:
    """Attention heads recorded for a format's published models (the first built-in zoo entry of it)."""
    return next((e.num_heads for e in BUILTIN_ENTRIES if e.format == fmt), None)


def default_recommended(fmt: str) -> dict:
    return next((dict(e.recommended) for e in BUILTIN_ENTRIES if e.format == fmt), {})


def convert_files(
    fmt: str,
    nnet: str | Path,
    tokenizer: str | Path,
    tokenizer_config: str | Path | None = None,
    num_heads: int | None = None,
    enc_dec: list[int] | None = None,
) -> tuple[Backbone, Tokenizer]:
    """(backbone, tokenizer) modules from official files; tensors stay memory-mapped where possible."""
    spec = import_format(fmt)
    heads = num_heads if num_heads is not None else default_heads(fmt)
    if heads is None:
        raise UsageError(f"the number of attention heads of '{fmt}' checkpoints is not recorded: pass --heads N")
    if heads < 1:
        raise UsageError(f"--heads must be at least 1, got {heads}")
    nnet, tokenizer = Path(nnet), Path(tokenizer)
    vqgan = TOKENIZER_READERS[spec.tokenizer](tokenizer, None if tokenizer_config is None else Path(tokenizer_config))
    state = state_dict_of(load_checkpoint(nnet), nnet, spec.nnet_key)
    facts: dict[str, Any] = {"codebook_size": vqgan.codebook_size}
    if enc_dec is not None:
        facts["enc_dec"] = enc_dec
    config = spec.infer_config(state, num_heads=heads, **{k: facts[k] for k in spec.hints if k in facts})
    if spec.width_key is not None:
        _check_heads(config[spec.width_key], heads)
    backbone = spec.convert(state, config)
    if backbone.codebook_size > vqgan.codebook_size:
        raise ConversionError(
            f"{nnet.name} predicts {backbone.codebook_size} codes but {tokenizer.name} has only "
            f"{vqgan.codebook_size}: the two files do not belong together"
        )
    return backbone, vqgan


def _check_heads(width: int, heads: int) -> None:
    if width % heads:
        raise UsageError(f"the model width {width} is not divisible by {heads} heads: check --heads")


def import_model(
    fmt: str,
    nnet: str | Path,
    tokenizer: str | Path,
    name: str,
    out: str | Path,
    tokenizer_config: str | Path | None = None,
    num_heads: int | None = None,
    enc_dec: list[int] | None = None,
    recommended: dict | None = None,
    provenance: dict | None = None,
    overwrite: bool = False,
    text_encoder: TextEncoderSource | None = None,
    extra_config: dict | None = None,
) -> Path:
    """Convert official files into a bundle folder at ``out`` (written atomically); returns ``out``.

    A text-to-image checkpoint needs its ``text_encoder`` (a checked ``TextEncoderSource``), which the
    bundle names; ``extra_config`` adds top-level config.json entries (e.g. ``evaluation``).
    """
    out = Path(out)
    ensure_writable(out, overwrite)
    backbone, vqgan = convert_files(fmt, nnet, tokenizer, tokenizer_config, num_heads, enc_dec)
    text = getattr(backbone, "conditioning", "class") == "text"
    if text and text_encoder is None:
        raise UsageError(f"'{fmt}' checkpoints are text-to-image: give their text encoder (--text-encoder)")
    if not text and text_encoder is not None:
        raise UsageError(f"'{fmt}' checkpoints are class-conditional: they take no text encoder")
    extra = dict(extra_config or {})
    if text_encoder is not None:
        text_encoder.check_backbone(backbone.context_dim, backbone.context_length)
        spec = text_encoder.spec  # named, not instantiated: its weights stay where they are
        extra["text_encoder"] = {**spec, "config": {**spec["config"], "context_length": backbone.context_length}}
    record = {"format": fmt, "nnet": Path(nnet).name, "tokenizer": Path(tokenizer).name,
              "converted_by": f"adanat {__version__}", **(provenance or {})}
    if tokenizer_config is not None:
        record["tokenizer_config"] = Path(tokenizer_config).name
    return save_bundle(
        out, name, backbone, vqgan,
        classes=default_class_names(backbone.num_classes),
        recommended=recommended if recommended is not None else default_recommended(fmt),
        provenance=record, overwrite=overwrite, extra_config=extra,
    )
