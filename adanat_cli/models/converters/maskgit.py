"""MaskGIT-pytorch checkpoints (valeoai ``MaskTransformer``, ``model_state_dict``) -> our backbone."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ...architectures.maskgit import MaskGITTransformer
from ...errors import ConversionError
from .strict import assign_strict, require_keys, square_side
from .uvit import PrefixRules, require, unwrap

# MaskTransformer hard-codes its token grid as img_size // 16 (the VQGAN's downsampling factor).
PIXELS_PER_TOKEN = 16

_RULES = PrefixRules([
    ("tok_emb.", "tok_emb."),
    ("pos_emb", "pos_emb"),
    ("bias", "bias"),
    ("first_layer.0.", "stem.norm1."),
    ("first_layer.2.", "stem.fc1."),
    ("first_layer.4.", "stem.norm2."),
    ("first_layer.6.", "stem.fc2."),
    ("transformer.layers.{i}.0.norm.", "blocks.{i}.norm1."),
    ("transformer.layers.{i}.0.fn.mha.in_proj_weight", "blocks.{i}.attn.qkv.weight"),  # rows q, k, v
    ("transformer.layers.{i}.0.fn.mha.in_proj_bias", "blocks.{i}.attn.qkv.bias"),
    ("transformer.layers.{i}.0.fn.mha.out_proj.", "blocks.{i}.attn.proj."),
    ("transformer.layers.{i}.1.norm.", "blocks.{i}.norm2."),
    ("transformer.layers.{i}.1.fn.net.0.", "blocks.{i}.mlp.fc1."),
    ("transformer.layers.{i}.1.fn.net.3.", "blocks.{i}.mlp.fc2."),
    ("last_layer.0.", "norm."),
    ("last_layer.2.", "head_fc."),
    ("last_layer.4.", "head_norm."),
])
_WHAT = "MaskGIT-pytorch checkpoint"


def maskgit_config_from_official(config: Mapping) -> dict:
    """``MaskTransformer(img_size, hidden_dim, codebook_size, depth, heads, mlp_dim, dropout, nclass)``
    kwargs -> MaskGITTransformer kwargs. Other keys (``f_factor``) do not change the transformer."""
    require(config, ["img_size", "hidden_dim", "codebook_size", "depth", "heads", "mlp_dim", "nclass"], _WHAT)
    return dict(
        codebook_size=int(config["codebook_size"]),
        num_classes=int(config["nclass"]),
        grid_size=int(config["img_size"]) // PIXELS_PER_TOKEN,
        dim=int(config["hidden_dim"]),
        depth=int(config["depth"]),
        num_heads=int(config["heads"]),
        mlp_dim=int(config["mlp_dim"]),
        dropout=float(config.get("dropout", 0.1)),
    )


def infer_maskgit_config(
    state_dict: Mapping[str, torch.Tensor], num_heads: int = 16, codebook_size: int = 1024
) -> dict:
    """The public config from key shapes. Two things are invisible in shapes: the heads (16 for the
    published ImageNet models: README table and ``Trainer/vit.py``) and how the one embedding table
    splits between codebook and classes (the published models use 1024 codes)."""
    sd = unwrap(state_dict)
    require_keys(sd, ["tok_emb.weight", "pos_emb", "transformer.layers.0.1.fn.net.0.weight"], _WHAT)
    vocab, dim = sd["tok_emb.weight"].shape
    side = square_side(sd["pos_emb"].shape[-2] - 1, _WHAT)  # image tokens; one more row for the class token
    nclass = vocab - codebook_size - 2
    if nclass < 1:
        raise ConversionError(f"{_WHAT}: {vocab} embedding rows cannot hold {codebook_size} codes")
    layers = {k.split(".")[2] for k in sd if k.startswith("transformer.layers.")}
    return {
        "img_size": side * PIXELS_PER_TOKEN,
        "hidden_dim": dim,
        "codebook_size": codebook_size,
        "f_factor": PIXELS_PER_TOKEN,
        "depth": len(layers),
        "heads": num_heads,
        "mlp_dim": sd["transformer.layers.0.1.fn.net.0.weight"].shape[0],
        "dropout": 0.1,
        "nclass": nclass,
    }


def maskgit_from_official(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> MaskGITTransformer:
    """Build a ``MaskGITTransformer`` (eval mode) from a public state dict and its constructor config.

    Tensors are assigned, not copied; raises ``ConversionError`` naming the public key on a missing,
    unexpected or mis-shaped one.
    """
    with torch.device("meta"):
        model = MaskGITTransformer(**maskgit_config_from_official(config))
    assign_strict(model, state_dict, _RULES.to_ours, _WHAT, _RULES.to_public)
    return model.eval()
