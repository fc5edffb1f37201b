"""Text-conditioned U-ViT of MUSE / AdaNAT text-to-image (``uvit_t2i_vq``).

The same U-ViT as ``uvit.py`` (LeapLabTHU/AdaNAT ``libs/uvit.py`` built with ``num_classes=None``),
conditioned on a text encoder's last hidden state instead of a class: the (B, L, context_dim) context
goes through one ``Linear(context_dim -> dim)`` (no position embedding on it) and its L tokens are
prepended to the N image tokens; the outputs drop the first L positions. For AdaNAT on CC3M the
context is CLIP ViT-bigG/14's ``last_hidden_state`` of 77 tokens (1280 wide); the unconditional
context is the same encoder's output for the empty prompt.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..errors import ConversionError, UsageError
from .base import Backbone, BackboneOutput, linear_flops
from .uvit import Embedding, _init_weights, add_trunk, run_trunk, trunk_flops


class UViTText(Backbone):
    """The U-ViT with L prepended text-context tokens (MUSE/AdaNAT ``uvit_t2i_vq``).

    ``forward(tokens (B, N) long, cond (B, L, context_dim) float, cache=None)``. ``num_classes`` is 0:
    there are no class labels and no null class; classifier-free guidance uses the empty prompt's
    context. ``depth`` is the public one (``depth // 2`` in-blocks, a mid-block, ``depth // 2``
    out-blocks); ``features`` are the image tokens after the final LayerNorm.
    ``context_length`` is what the model was trained with (77 CLIP tokens); it fixes the FLOP count.
    """

    conditioning = "text"

    def __init__(
        self,
        codebook_size: int = 1024,
        grid_size: int = 16,
        dim: int = 1152,
        depth: int = 28,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = False,
        skip: bool = True,
        dropout: float = 0.1,
        context_dim: int = 1280,
        context_length: int = 77,
    ):
        super().__init__(codebook_size=codebook_size, grid=(grid_size, grid_size), num_classes=0, feature_dim=dim)
        self.context_dim = context_dim
        self.context_length = context_length

        # dropout only on the image-token embedding, as in the public model (train only)
        self.token_emb = Embedding(codebook_size + 1, dim, grid_size * grid_size, dropout)
        self.context_embed = nn.Linear(context_dim, dim)
        add_trunk(self, codebook_size, dim, depth, num_heads, int(dim * mlp_ratio), qkv_bias, skip)
        self.apply(_init_weights)

    def forward_flops(self, mask: torch.Tensor, prev_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The context projection on L tokens, every one of the N + L tokens through every block,
        then the head on the N image tokens."""
        batch, n = mask.shape
        total = linear_flops(self.context_embed, self.context_length)
        total += trunk_flops(self, n, prefix=self.context_length)
        return torch.full((batch,), total, dtype=torch.int64)

    supports_logit_rows = True

    def forward(self, tokens: torch.Tensor, cond: torch.Tensor, cache: object = None,
                logit_rows: torch.Tensor | None = None) -> BackboneOutput:
        if cond.dim() != 3 or cond.shape[-1] != self.context_dim:
            raise UsageError(
                f"this text-conditioned model reads (B, L, {self.context_dim}) contexts (a text encoder's "
                f"last hidden state), got shape {tuple(cond.shape)}"
            )
        x = self.token_emb(tokens)  # (B, N, D)
        # contexts arrive in the text encoder's dtype; under autocast the linear recasts them anyway
        c = self.context_embed(cond.to(self.context_embed.weight.dtype))  # (B, L, D)
        return run_trunk(self, torch.cat([c.to(x.dtype), x], dim=1), prefix=c.shape[1],  # (B, L + N, D) in
                         logit_rows=logit_rows)

    @classmethod
    def infer_config(cls, state_dict: Mapping[str, torch.Tensor], num_heads: int = 16,
                     context_length: int = 77) -> dict[str, Any]:
        """Constructor arguments from the shapes of a state dict in this class's own key names.

        The heads and the context length are invisible in shapes: MUSE's CC3M model uses 16 heads and
        77 CLIP tokens, the defaults here."""
        what = "uvit-text checkpoint"
        for key in ("token_emb.word.weight", "token_emb.pos", "context_embed.weight", "mid_block.mlp.fc1.weight"):
            if key not in state_dict:
                raise ConversionError(f"{what}: missing key '{key}' in the checkpoint")
        vocab, dim = state_dict["token_emb.word.weight"].shape
        positions = state_dict["token_emb.pos"].shape[0]
        side = math.isqrt(positions)
        if side * side != positions:
            raise ConversionError(f"{what}: {positions} position embeddings do not form a square grid")
        in_blocks = {k.split(".")[1] for k in state_dict if k.startswith("in_blocks.")}
        return {
            "codebook_size": int(vocab) - 1,
            "grid_size": side,
            "dim": int(dim),
            "depth": 2 * len(in_blocks),
            "num_heads": int(num_heads),
            "mlp_ratio": state_dict["mid_block.mlp.fc1.weight"].shape[0] / int(dim),
            "qkv_bias": "mid_block.attn.qkv.bias" in state_dict,
            "skip": "out_blocks.0.skip_linear.weight" in state_dict,
            "context_dim": int(state_dict["context_embed.weight"].shape[1]),
            "context_length": int(context_length),
        }
