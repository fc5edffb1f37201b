"""MUSE / AdaNAT text-to-image U-ViT checkpoints (``libs/uvit.py`` built with ``num_classes=None``,
config name ``uvit_t2i_vq``) -> ``UViTText``.

The public key layout is the class-conditional U-ViT's, except that ``context_embed`` is a plain
``Linear(clip_dim, embed_dim)`` (``context_embed.weight`` / ``.bias``) instead of a class embedding.
The public loader drops every key containing ``position_ids`` (a buffer of the BERT-style embeddings of
some ``transformers`` versions), and so do we; every other key must be consumed.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ...architectures.uvit_text import UViTText
from ...errors import ConversionError
from .strict import assign_strict, require_keys
from .uvit import PrefixRules, require, trunk_config, unwrap

_RULES = PrefixRules([
    ("token_emb.word_embeddings.", "token_emb.word."),
    ("token_emb.position_embeddings.weight", "token_emb.pos"),
    ("token_emb.LayerNorm.", "token_emb.norm."),
    ("context_embed.", "context_embed."),
    ("in_blocks.", "in_blocks."),
    ("mid_block.", "mid_block."),
    ("out_blocks.", "out_blocks."),
    ("norm.", "norm."),
    ("mlm_layer.fc.", "head.fc."),
    ("mlm_layer.ln.", "head.norm."),
    ("mlm_layer.bias", "head.bias"),
])
_WHAT = "text-to-image U-ViT checkpoint"
CONTEXT_LENGTH = 77  # CLIP's max_length, MUSE's num_clip_token


def uvit_t2i_config_from_official(config: Mapping) -> dict:
    """The public ``nnet`` config (``uvit_t2i_vq``) -> UViTText kwargs.

    Public ``img_size`` counts tokens per side; ``clip_dim`` is the text encoder's width and
    ``num_clip_token`` the context length (77 when absent).
    """
    require(config, ["img_size", "codebook_size", "embed_dim", "depth", "num_heads", "clip_dim"], _WHAT)
    if config.get("num_classes") is not None:
        raise ConversionError(
            f"{_WHAT}: num_classes={config['num_classes']} is a class-conditional U-ViT (use uvit_from_official)"
        )
    if config.get("patch_size", 1) != 1 or config.get("qk_scale") is not None:
        raise ConversionError(f"{_WHAT}: only patch_size=1 and the default qk_scale are supported")
    return {
        "codebook_size": int(config["codebook_size"]),
        "grid_size": int(config["img_size"]),
        "dim": int(config["embed_dim"]),
        "depth": int(config["depth"]),
        "num_heads": int(config["num_heads"]),
        "mlp_ratio": float(config.get("mlp_ratio", 4.0)),
        "qkv_bias": bool(config.get("qkv_bias", False)),
        "skip": bool(config.get("skip", True)),
        "context_dim": int(config["clip_dim"]),
        "context_length": int(config.get("num_clip_token", CONTEXT_LENGTH)),
    }


def _without_position_ids(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What the public loader keeps: every key but those containing ``position_ids``."""
    return {k: v for k, v in state_dict.items() if "position_ids" not in k}


def infer_uvit_t2i_config(state_dict: Mapping[str, torch.Tensor], num_heads: int = 16,
                          num_clip_token: int = CONTEXT_LENGTH) -> dict:
    """The public config from key shapes. Heads and the context length are invisible in shapes:
    MUSE's CC3M model (AdaNAT ``cc3m_AdaNAT_muse.yaml``) uses 16 heads and 77 CLIP tokens."""
    sd = unwrap(_without_position_ids(state_dict))
    require_keys(sd, ["context_embed.weight"], _WHAT)
    return {
        **trunk_config(sd, num_heads, _WHAT),
        "clip_dim": sd["context_embed.weight"].shape[1],
        "num_clip_token": num_clip_token,
        "num_classes": None,
    }


def uvit_t2i_from_official(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> UViTText:
    """Build a ``UViTText`` (eval mode) from a public state dict and its ``nnet`` config.

    Keys containing ``position_ids`` are dropped, as the public loader does; tensors are assigned, not
    copied; raises ``ConversionError`` naming the public key on a missing, unexpected or mis-shaped one.
    """
    with torch.device("meta"):
        model = UViTText(**uvit_t2i_config_from_official(config))
    assign_strict(model, _without_position_ids(state_dict), _RULES.to_ours, _WHAT, _RULES.to_public)
    return model.eval()
