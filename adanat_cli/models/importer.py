"""Official checkpoint files on disk -> a model bundle.

Formats (``FORMATS``):

- ``enat``: an ENAT ``nnet`` state dict (``libs/models.py`` DiT with an encoder/decoder split, 22 + 2
  blocks assumed for the published ENAT-L, see ``infer_enat_config``) and the MAGE VQGAN, as below.
- ``autonat`` / ``adanat`` / ``muse``: a U-ViT ``nnet`` state dict (AdaNAT/AutoNAT/MUSE ``libs/uvit``) and
  MAGE's jax-converted VQGAN (``vqgan_jax_strongaug.ckpt``; its ddconfig is read from the shapes, or from
  ``--tokenizer-config`` when given).
- ``maskgit``: a MaskGIT-pytorch pickle dict with the weights under ``model_state_dict`` and a taming
  VQGAN Lightning checkpoint (``state_dict``) with its ``model.yaml``.

The architecture is inferred from tensor shapes; only the number of attention heads is invisible in
shapes and comes from the format's zoo entry or ``num_heads``. For MaskGIT, the split of its one embedding
table between codes and classes is read from the VQGAN's codebook size.

Pickles are opened with ``torch.load(weights_only=True)`` only (memory-mapped where the file allows it):
a file that needs anything beyond tensors and plain containers to unpickle is refused, unread.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..errors import ConversionError, NotFoundError, UsageError
from .bundle import save_bundle
from .convert import (
    enat_from_official,
    maskgit_from_official,
    uvit_from_official,
    vqgan_jax_from_official,
    vqgan_taming_from_official,
)
from .converters.enat import infer_enat_config
from .converters.maskgit import infer_maskgit_config
from .converters.uvit import infer_uvit_config
from .zoo import BUILTIN_ENTRIES

UVIT_FORMATS = ("autonat", "adanat", "muse")
FORMATS = (*UVIT_FORMATS, "enat", "maskgit")


def load_checkpoint(path: str | Path) -> Any:
    """``torch.load`` restricted to tensors and containers; anything else is one ``ConversionError``."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"checkpoint file {path} does not exist")
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as err:
            if "mmap" not in str(err):
                raise
            return torch.load(path, map_location="cpu", weights_only=True)  # legacy (non-zip) format
    except pickle.UnpicklingError as err:
        found = re.search(r"(?:unsupported|Unsupported) GLOBAL:? ?([\w.]+)", str(err))
        detail = f"it references {found.group(1)}" if found else ""
        if detail or "Weights only load failed" in str(err):
            raise ConversionError(
                f"{path} refused: unpickling it needs more than tensors and containers"
                + (f" ({detail})" if detail else "") + "; only weights-only checkpoints are opened"
            ) from None
        raise ConversionError(f"{path} is not a readable torch checkpoint ({err})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConversionError(f"{path} is not a readable torch checkpoint ({first})") from None


def state_dict_of(obj: Any, path: Path, key: str | None = None) -> dict[str, torch.Tensor]:
    """The tensor mapping inside a loaded checkpoint: ``obj[key]`` when given and present, else ``obj``."""
    if key is not None and isinstance(obj, Mapping) and key in obj:
        obj = obj[key]
    elif key is not None and isinstance(obj, Mapping) and not _is_state_dict(obj):
        raise ConversionError(f"{path}: the checkpoint has no '{key}' entry (keys: {', '.join(map(str, list(obj)[:8]))})")
    if not isinstance(obj, Mapping) or not _is_state_dict(obj):
        raise ConversionError(f"{path}: expected a state dict of tensors, got {type(obj).__name__}")
    return dict(obj)


def _is_state_dict(obj: Mapping) -> bool:
    return bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


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
    import yaml

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
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(backbone, tokenizer) modules from official files; tensors stay memory-mapped where possible."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format '{fmt}' (known: {', '.join(FORMATS)})")
    heads = num_heads if num_heads is not None else default_heads(fmt)
    if heads is None:
        raise UsageError(f"the number of attention heads of '{fmt}' checkpoints is not recorded: pass --heads N")
    if heads < 1:
        raise UsageError(f"--heads must be at least 1, got {heads}")
    nnet, tokenizer = Path(nnet), Path(tokenizer)
    if fmt == "maskgit":
        if tokenizer_config is None:
            raise UsageError("format 'maskgit' needs --tokenizer-config (the taming VQGAN's model.yaml)")
        ddconfig, n_embed, embed_dim = read_taming_yaml(tokenizer_config)
        vq_sd = state_dict_of(load_checkpoint(tokenizer), tokenizer, "state_dict")
        vqgan = vqgan_taming_from_official(vq_sd, ddconfig, n_embed, embed_dim)
        sd = state_dict_of(load_checkpoint(nnet), nnet, "model_state_dict")
        config = infer_maskgit_config(sd, num_heads=heads, codebook_size=vqgan.codebook_size)
        _check_heads(config["hidden_dim"], heads)
        backbone = maskgit_from_official(sd, config)
    else:
        vq_sd = state_dict_of(load_checkpoint(tokenizer), tokenizer, "state_dict")
        if tokenizer_config is not None:
            ddconfig, n_embed, _ = read_taming_yaml(tokenizer_config)
        else:
            ddconfig, n_embed = infer_vqgan_jax_config(vq_sd)
        vqgan = vqgan_jax_from_official(vq_sd, ddconfig, n_embed)
        sd = state_dict_of(load_checkpoint(nnet), nnet)
        if fmt == "enat":
            config = infer_enat_config(sd, num_heads=heads, enc_dec=enc_dec)
            _check_heads(config["hidden_size"], heads)
            backbone = enat_from_official(sd, config)
        else:
            config = infer_uvit_config(sd, num_heads=heads)
            _check_heads(config["embed_dim"], heads)
            backbone = uvit_from_official(sd, config)
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
) -> Path:
    """Convert official files into a bundle folder at ``out`` (written atomically); returns ``out``."""
    out = Path(out)
    if out.exists() and not overwrite:
        from ..errors import OutputExistsError

        raise OutputExistsError(f"{out} already exists; pass --overwrite to replace it")
    backbone, vqgan = convert_files(fmt, nnet, tokenizer, tokenizer_config, num_heads, enc_dec)
    record = {"format": fmt, "nnet": Path(nnet).name, "tokenizer": Path(tokenizer).name,
              "converted_by": f"adanat {__version__}", **(provenance or {})}
    if tokenizer_config is not None:
        record["tokenizer_config"] = Path(tokenizer_config).name
    return save_bundle(
        out, name, backbone, vqgan,
        classes=[str(i) for i in range(backbone.num_classes)],  # ImageNet ids; names are not shipped
        recommended=recommended if recommended is not None else default_recommended(fmt),
        provenance=record, overwrite=overwrite,
    )
