"""MaskGIT bidirectional transformer as in MaskGIT-pytorch.

Reproduces ``MaskTransformer`` of valeoai/Maskgit-pytorch v1.0 (``Network/transformer.py``), the
PyTorch reproduction of Chang et al., "MaskGIT: Masked Generative Image Transformer" (CVPR 2022).
One embedding table holds the codebook, the mask token and the classes; the class token is appended
after the N image tokens; a LayerNorm/Linear/GELU stem, pre-LN blocks (shared with ``uvit.py``), and
a head whose output is dotted with the same embedding table.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Backbone, BackboneOutput, head_rows
from .uvit import Block

# MaskGIT-pytorch's stem and head LayerNorms use BERT's eps; the blocks use PyTorch's default 1e-5.
BERT_EPS = 1e-12


class Stem(nn.Module):
    """LayerNorm -> Linear -> GELU -> LayerNorm -> Linear (dropout before each Linear)."""

    def __init__(self, dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=BERT_EPS)
        self.fc1 = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=BERT_EPS)
        self.fc2 = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.fc1(self.drop(self.norm1(x))))
        return self.fc2(self.drop(self.norm2(x)))


class MaskGITTransformer(Backbone):
    """MaskGIT-pytorch's ``MaskTransformer`` (class-conditional, learned positions).

    Embedding rows: codebook ids ``0..codebook_size-1``, the mask id ``codebook_size``, class ``c``
    at ``codebook_size + 1 + c`` and the null class (``null_class == num_classes``) last.

    ``features`` are the N image tokens after the final LayerNorm (the public ``last_layer[0]``,
    the first layer after the transformer blocks, which themselves end without a norm): the same
    place as the U-ViT's features, so a policy reads LayerNorm-ed last-layer tokens from either.
    The rest of ``last_layer`` (Linear -> GELU -> LayerNorm) is our ``head``, whose output is
    dotted with the embedding table.
    """

    def __init__(
        self,
        codebook_size: int = 1024,
        num_classes: int = 1000,
        grid_size: int = 16,
        dim: int = 768,
        depth: int = 24,
        num_heads: int = 16,
        mlp_dim: int = 3072,
        dropout: float = 0.1,
    ):
        super().__init__(codebook_size=codebook_size, grid=(grid_size, grid_size), num_classes=num_classes, feature_dim=dim)

        n = grid_size * grid_size
        vocab = codebook_size + 1 + num_classes + 1
        self.tok_emb = nn.Embedding(vocab, dim)
        self.pos_emb = nn.Parameter(torch.zeros(1, n + 1, dim))  # N image tokens + the class token
        self.stem = Stem(dim, dropout)
        self.blocks = nn.ModuleList(
            [Block(dim, num_heads, mlp_dim, qkv_bias=True, dropout=dropout) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(dim, eps=BERT_EPS)
        self.drop = nn.Dropout(dropout)
        self.head_fc = nn.Linear(dim, dim)
        self.head_norm = nn.LayerNorm(dim, eps=BERT_EPS)
        self.bias = nn.Parameter(torch.zeros(n + 1, vocab))  # per position and output id

        nn.init.trunc_normal_(self.pos_emb, std=0.02)

    supports_logit_rows = True

    def forward(
        self, tokens: torch.Tensor, labels: torch.Tensor, cache: object = None, logit_rows: torch.Tensor | None = None
    ) -> BackboneOutput:
        B, N = tokens.shape
        cls = labels + self.codebook_size + 1  # (B,): the null class lands on the last row
        ids = torch.cat([tokens, cls[:, None]], dim=1)  # (B, N + 1): class token appended
        x = self.tok_emb(ids) + self.pos_emb  # (B, N + 1, D)
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)

        features = self.norm(x[:, :N])  # (B, N, D): class token dropped
        h = self.head_norm(F.gelu(self.head_fc(self.drop(head_rows(features, logit_rows)))))  # (B, N | M, D)
        k = self.codebook_size
        bias = self.bias[:N, :k] if logit_rows is None else self.bias[logit_rows % N, :k]  # per position
        logits = h @ self.tok_emb.weight[:k].t() + bias  # (B, N | M, codebook_size)
        return BackboneOutput(logits, features, None)
