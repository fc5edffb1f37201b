"""ENAT checkpoints (LeapLabTHU/ENAT ``libs/models.py`` ``DiT`` state dicts) -> ``ENAT``.

The public model keeps all blocks in one list (``blocks.0 .. blocks.{depth-1}``); the first
``enc_dec[0]`` are the encoder, the rest the decoder. Its multiway key/value projection ``kv.A``
serves the context tokens and ``kv.B`` the block's own tokens (``MultiwayNetwork`` in
``libs/multiway.py``: split position 0 -> all through B; otherwise the first tokens, the context,
through A).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from ...architectures.enat import ENAT
from ...errors import ConversionError
from .strict import assign_strict, require_keys, square_side
from .uvit import PrefixRules, require, strip_wrappers, unwrap

_WHAT = "ENAT checkpoint"

_RULES = PrefixRules([
    ("x_embedder.word_embeddings.", "token_emb.word."),
    ("x_embedder.position_embeddings.weight", "token_emb.pos"),
    ("x_embedder.LayerNorm.", "token_emb.norm."),
    ("y_embedder.embedding_table.", "class_emb."),
    ("prev_embedder.", "prev_embedder."),
    ("prev_proj.", "prev_proj."),
    ("norm.", "norm."),
    ("mlm_layer.fc.", "head.fc."),
    ("mlm_layer.ln.", "head.norm."),
    ("mlm_layer.bias", "head.bias"),
])
_KV = {"kv.A.": "kv_context.", "kv.B.": "kv_own."}
_BLOCK = re.compile(r"blocks\.(\d+)\.(.*)")
_OUR_BLOCK = re.compile(r"(encoder|decoder)\.(\d+)\.(.*)")


def enat_config_from_official(config: Mapping) -> dict:
    """The public ``nnet`` config (``DiT`` kwargs plus ``enc_dec``) -> ENAT kwargs.

    Public ``input_size`` counts tokens per side; ``num_classes`` counts the real classes (the
    table has one more row, the null class, when ``class_dropout_prob`` > 0).
    """
    require(config, ["input_size", "hidden_size", "num_heads", "codebook_size", "enc_dec"], _WHAT)
    enc_dec = config["enc_dec"]
    if not enc_dec or len(enc_dec) != 2:
        raise ConversionError(f"{_WHAT}: enc_dec must be [encoder blocks, decoder blocks], got {enc_dec!r}")
    if config.get("class_dropout_prob", 0.1) <= 0:
        raise ConversionError(f"{_WHAT}: class_dropout_prob 0 means no null class; guidance needs one")
    if config.get("num_classes") is None:
        raise ConversionError(f"{_WHAT}: config lacks the number of classes ('num_classes')")
    return {
        "codebook_size": int(config["codebook_size"]),
        "num_classes": int(config["num_classes"]),
        "grid_size": int(config["input_size"]),
        "dim": int(config["hidden_size"]),
        "encoder_depth": int(enc_dec[0]),
        "decoder_depth": int(enc_dec[1]),
        "num_heads": int(config["num_heads"]),
        "mlp_ratio": float(config.get("mlp_ratio", 4.0)),
    }


def infer_enat_config(
    state_dict: Mapping[str, torch.Tensor], num_heads: int = 16, enc_dec: list[int] | None = None
) -> dict:
    """The public config from key shapes. Heads and the encoder/decoder split are invisible in
    shapes: ENAT-L uses 16 heads and 22 + 2 blocks (the default split: all but the last 2 blocks)."""
    sd = unwrap(state_dict)
    require_keys(sd, ["x_embedder.word_embeddings.weight", "x_embedder.position_embeddings.weight",
                      "y_embedder.embedding_table.weight", "blocks.0.mlp.fc1.weight"], _WHAT)
    vocab, dim = sd["x_embedder.word_embeddings.weight"].shape
    side = square_side(sd["x_embedder.position_embeddings.weight"].shape[0], _WHAT)
    depth = len({m.group(1) for k in sd if (m := _BLOCK.match(k))})
    if enc_dec is None:
        enc_dec = [depth - 2, 2]
    if sum(enc_dec) != depth:
        raise ConversionError(f"{_WHAT}: enc_dec {list(enc_dec)} does not add up to the {depth} blocks")
    ratio = sd["blocks.0.mlp.fc1.weight"].shape[0] / dim
    return {
        "input_size": side,
        "hidden_size": dim,
        "depth": depth,
        "num_heads": num_heads,
        "mlp_ratio": ratio,
        "class_dropout_prob": 0.1,
        "num_classes": sd["y_embedder.embedding_table.weight"].shape[0] - 1,
        "codebook_size": vocab - 1,
        "enc_dec": list(enc_dec),
    }


def enat_from_official(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> ENAT:
    """Build an ``ENAT`` (eval mode) from a public state dict and its config (incl. ``enc_dec``).

    Tensors are assigned, not copied (meta and memory-mapped tensors stay as they are); raises
    ``ConversionError`` naming the public key on a missing, unexpected or mis-shaped one.
    """
    kwargs = enat_config_from_official(config)
    if "depth" in config and int(config["depth"]) != kwargs["encoder_depth"] + kwargs["decoder_depth"]:
        # the public model ignores ``depth`` when ``enc_dec`` is set; a mismatch is a wrong config
        raise ConversionError(f"{_WHAT}: depth {config['depth']} != sum of enc_dec {list(config['enc_dec'])}")
    encoder_depth = kwargs["encoder_depth"]

    def to_ours(key: str) -> str | None:
        m = _BLOCK.match(strip_wrappers(key))
        if m is None:
            return _RULES.to_ours(key)
        i, rest = int(m.group(1)), m.group(2)
        for public, ours in _KV.items():
            rest = rest.replace(f"attn.{public}", f"attn.{ours}")
        part = "encoder" if i < encoder_depth else "decoder"
        return f"{part}.{i if i < encoder_depth else i - encoder_depth}.{rest}"

    def to_public(key: str) -> str:
        m = _OUR_BLOCK.match(key)
        if m is None:
            return _RULES.to_public(key)
        i = int(m.group(2)) + (encoder_depth if m.group(1) == "decoder" else 0)
        rest = m.group(3)
        for public, ours in _KV.items():
            rest = rest.replace(f"attn.{ours}", f"attn.{public}")
        return f"blocks.{i}.{rest}"

    with torch.device("meta"):
        model = ENAT(**kwargs)
    assign_strict(model, state_dict, to_ours, _WHAT, to_public)
    return model.eval()
