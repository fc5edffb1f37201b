"""AdaNAT / AutoNAT U-ViT checkpoints (LeapLabTHU ``libs/uvit.py`` state dicts) -> ``UViT``.

Also holds the two small helpers every converter here uses: stripping the ``module.`` (DDP) and
``_orig_mod.`` (``torch.compile``) wrappers, and prefix renaming with a ``{i}`` block index.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from ...architectures.uvit import UViT
from ...errors import ConversionError
from .strict import assign_strict, require_keys, square_side

WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def strip_wrappers(key: str) -> str:
    """Drop any leading ``module.`` / ``_orig_mod.`` prefixes (in any order, any number)."""
    while key.startswith(WRAPPER_PREFIXES):
        key = key.split(".", 1)[1]
    return key


def unwrap(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {strip_wrappers(k): v for k, v in state_dict.items()}


class PrefixRules:
    """Renames by key prefix, both ways. ``{i}`` in a prefix matches a block index."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self._to_ours = [(self._compile(pub), ours) for pub, ours in pairs]
        self._to_public = [(self._compile(ours), pub) for pub, ours in pairs]

    @staticmethod
    def _compile(prefix: str) -> re.Pattern:
        return re.compile(re.escape(prefix).replace(r"\{i\}", r"(?P<i>\d+)"))

    @staticmethod
    def _apply(rules: list[tuple[re.Pattern, str]], key: str) -> str | None:
        for pattern, template in rules:
            m = pattern.match(key)
            if m:
                return template.format(i=m.groupdict().get("i")) + key[m.end():]
        return None

    def to_ours(self, public_key: str) -> str | None:
        return self._apply(self._to_ours, strip_wrappers(public_key))

    def to_public(self, our_key: str) -> str:
        return self._apply(self._to_public, our_key) or our_key


def require(config: Mapping, keys: list[str], what: str) -> None:
    missing = [k for k in keys if k not in config]
    if missing:
        raise ConversionError(f"{what}: config lacks {', '.join(repr(k) for k in missing)}")


_RULES = PrefixRules([
    ("token_emb.word_embeddings.", "token_emb.word."),
    ("token_emb.position_embeddings.weight", "token_emb.pos"),
    ("token_emb.LayerNorm.", "token_emb.norm."),
    ("context_embed.word_embeddings.", "class_emb.word."),
    ("context_embed.position_embeddings.weight", "class_emb.pos"),
    ("context_embed.LayerNorm.", "class_emb.norm."),
    ("in_blocks.", "in_blocks."),
    ("mid_block.", "mid_block."),
    ("out_blocks.", "out_blocks."),
    ("norm.", "norm."),
    ("mlm_layer.fc.", "head.fc."),
    ("mlm_layer.ln.", "head.norm."),
    ("mlm_layer.bias", "head.bias"),
])
_WHAT = "U-ViT checkpoint"


def uvit_config_from_official(config: Mapping) -> dict:
    """The public ``nnet`` config -> UViT kwargs.

    Public ``img_size`` counts tokens per side and ``num_classes`` includes the null class.
    """
    require(config, ["img_size", "codebook_size", "embed_dim", "depth", "num_heads", "num_classes"], _WHAT)
    if config["num_classes"] is None:
        raise ConversionError(f"{_WHAT}: text-conditioned U-ViT (num_classes=None) is not supported")
    if config.get("patch_size", 1) != 1 or config.get("qk_scale") is not None:
        raise ConversionError(f"{_WHAT}: only patch_size=1 and the default qk_scale are supported")
    return dict(
        codebook_size=int(config["codebook_size"]),
        num_classes=int(config["num_classes"]) - 1,  # the last row is the null class
        grid_size=int(config["img_size"]),
        dim=int(config["embed_dim"]),
        depth=int(config["depth"]),
        num_heads=int(config["num_heads"]),
        mlp_ratio=float(config.get("mlp_ratio", 4.0)),
        qkv_bias=bool(config.get("qkv_bias", False)),
        skip=bool(config.get("skip", True)),
    )


def infer_uvit_config(state_dict: Mapping[str, torch.Tensor], num_heads: int = 8) -> dict:
    """The public config from key shapes. Heads are invisible in shapes: AutoNAT-L / AdaNAT-L use 8
    (``num_heads: 8`` in ImprovedNAT ``configs/AutoNAT_L.yaml`` and AdaNAT ``imagenet_256_AdaNAT_L.yaml``)."""
    sd = unwrap(state_dict)
    require_keys(sd, ["context_embed.word_embeddings.weight"], _WHAT)
    return {**trunk_config(sd, num_heads, _WHAT), "num_classes": sd["context_embed.word_embeddings.weight"].shape[0]}


def trunk_config(sd: Mapping[str, torch.Tensor], num_heads: int, what: str) -> dict:
    """The official U-ViT kwargs both U-ViTs (class and text) read from the same key shapes: the grid,
    the codebook, the width, the depth, the MLP ratio, the qkv bias and the long skips."""
    require_keys(sd, ["token_emb.word_embeddings.weight", "token_emb.position_embeddings.weight",
                      "mid_block.mlp.fc1.weight"], what)
    vocab, dim = sd["token_emb.word_embeddings.weight"].shape
    side = square_side(sd["token_emb.position_embeddings.weight"].shape[0], what)
    in_blocks = {k.split(".")[1] for k in sd if k.startswith("in_blocks.")}
    ratio = sd["mid_block.mlp.fc1.weight"].shape[0] / dim
    return {
        "img_size": side,
        "codebook_size": vocab - 1,
        "embed_dim": dim,
        "depth": 2 * len(in_blocks),
        "num_heads": num_heads,
        "mlp_ratio": int(ratio) if ratio.is_integer() else ratio,
        "qkv_bias": "mid_block.attn.qkv.bias" in sd,
        "skip": "out_blocks.0.skip_linear.weight" in sd,
    }


def uvit_from_official(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> UViT:
    """Build a ``UViT`` (eval mode) from a public state dict and its ``nnet`` config.

    Tensors are assigned, not copied (meta and memory-mapped tensors stay as they are); raises
    ``ConversionError`` naming the public key on a missing, unexpected or mis-shaped one.
    """
    with torch.device("meta"):
        model = UViT(**uvit_config_from_official(config))
    assign_strict(model, state_dict, _RULES.to_ours, _WHAT, _RULES.to_public)
    return model.eval()
