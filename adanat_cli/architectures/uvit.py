"""U-ViT masked-token backbone of AutoNAT and AdaNAT.

Reproduces ``libs/uvit.py`` (``UViT``) of LeapLabTHU/AdaNAT, also used by LeapLabTHU/ImprovedNAT
(AutoNAT): the U-ViT of Bao et al., "All are Worth Words: A ViT Backbone for Diffusion Models"
(CVPR 2023), trained MUSE-style as a class-conditional NAT (Ni et al., AutoNAT, CVPR 2024;
AdaNAT, ECCV 2024). The class token is prepended to the N image tokens; the first half of the
blocks store their outputs, which the second half reads back through long skip connections
(``skip_linear`` on the concatenation). Logits are the dot product of an MLM head's output with the
token embedding table, plus a bias.

The pre-LN ``Block`` (``Attention`` + ``MLP``) is shared with ``maskgit.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Backbone, BackboneOutput, attention_flops, head_rows, linear_flops


class Attention(nn.Module):
    """Multi-head self-attention with a fused q/k/v projection (rows ordered q, k, v)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool, dropout: float = 0.0):
        super().__init__()
        self.num_heads = num_heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        qkv = self.qkv(x).view(B, L, 3, self.num_heads, D // self.num_heads)  # (B, L, 3, H, Dh)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, H, L, Dh)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p)  # (B, H, L, Dh)
        y = y.transpose(1, 2).reshape(B, L, D)  # (B, L, D)
        return self.proj(y)


class MLP(nn.Module):
    """Linear -> exact GELU -> Linear, with optional dropout after the activation and the output."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class Block(nn.Module):
    """Pre-LN transformer block; with ``skip`` it first fuses a long-skip input: Linear([x, skip])."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_hidden: int,
        qkv_bias: bool,
        skip: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.skip_linear = nn.Linear(2 * dim, dim) if skip else None
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads, qkv_bias, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_hidden, dropout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if self.skip_linear is not None:
            x = self.skip_linear(torch.cat([x, skip], dim=-1))  # (B, L, 2D) -> (B, L, D)
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class Embedding(nn.Module):
    """BERT-style embedding: word + learned position, LayerNorm (eps 1e-6), dropout."""

    def __init__(self, vocab_size: int, dim: int, length: int, dropout: float = 0.0):
        super().__init__()
        self.word = nn.Embedding(vocab_size, dim)
        self.pos = nn.Parameter(torch.zeros(length, dim))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.drop = nn.Dropout(dropout)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.word(ids) + self.pos[: ids.shape[1]]  # (B, L, D)
        return self.drop(self.norm(x))


class MLMHead(nn.Module):
    """Linear -> GELU -> LayerNorm (eps 1e-5), then logits = h @ table.T + bias."""

    def __init__(self, dim: int, vocab_size: int):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.bias = nn.Parameter(torch.zeros(1, 1, vocab_size))  # the public shape

    def forward(self, x: torch.Tensor, table: torch.Tensor, n_out: int) -> torch.Tensor:
        """x (..., D), table (V, D) -> logits (..., n_out) over the first n_out table rows."""
        h = self.norm(F.gelu(self.fc(x)))
        return h @ table[:n_out].t() + self.bias[0, 0, :n_out]

    def flops(self, tokens: int, n_out: int) -> int:
        """The dense layer, then the product with ``n_out`` rows of the token table."""
        return linear_flops(self.fc, tokens) + 2 * self.fc.out_features * n_out * tokens


class UViT(Backbone):
    """The AutoNAT/AdaNAT U-ViT (LeapLabTHU/AdaNAT ``libs/uvit.py``), class-conditional.

    ``num_classes`` counts the real classes; the class table has one more row, the null class
    (``null_class == num_classes``), as in the public checkpoints (1001 rows for ImageNet).
    ``depth`` is the public one: ``depth // 2`` in-blocks, one mid-block, ``depth // 2`` out-blocks.
    ``features`` are the image tokens after the final LayerNorm, which AdaNAT's policy reads.
    """

    def __init__(
        self,
        codebook_size: int = 1024,
        num_classes: int = 1000,
        grid_size: int = 16,
        dim: int = 768,
        depth: int = 24,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = False,
        skip: bool = True,
        dropout: float = 0.1,
    ):
        super().__init__(codebook_size=codebook_size, grid=(grid_size, grid_size), num_classes=num_classes, feature_dim=dim)
        # dropout only on the image-token embedding, as in the public model (0.1 there, train only)
        self.token_emb = Embedding(codebook_size + 1, dim, grid_size * grid_size, dropout)
        self.class_emb = Embedding(num_classes + 1, dim, 1)
        add_trunk(self, codebook_size, dim, depth, num_heads, int(dim * mlp_ratio), qkv_bias, skip)
        self.apply(_init_weights)

    def forward_flops(self, mask: torch.Tensor, prev_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Every image token plus the class token through every block, then the head on N tokens."""
        batch, n = mask.shape
        return torch.full((batch,), trunk_flops(self, n, prefix=1), dtype=torch.int64)

    supports_logit_rows = True

    def forward(
        self, tokens: torch.Tensor, labels: torch.Tensor, cache: object = None, logit_rows: torch.Tensor | None = None
    ) -> BackboneOutput:
        x = self.token_emb(tokens)  # (B, N, D)
        c = self.class_emb(labels[:, None])  # (B, 1, D)
        return run_trunk(self, torch.cat([c, x], dim=1), prefix=1, logit_rows=logit_rows)  # (B, 1 + N, D) in


def add_trunk(model: Backbone, codebook_size: int, dim: int, depth: int, num_heads: int, hidden: int,
              qkv_bias: bool, skip: bool) -> None:
    """Give ``model`` the U-ViT trunk both U-ViTs share, under the public names: ``depth // 2``
    in-blocks, a mid-block, ``depth // 2`` out-blocks (long skips), the final norm and the MLM head."""
    model.skip = skip
    model.in_blocks = nn.ModuleList([Block(dim, num_heads, hidden, qkv_bias) for _ in range(depth // 2)])
    model.mid_block = Block(dim, num_heads, hidden, qkv_bias)
    model.out_blocks = nn.ModuleList(
        [Block(dim, num_heads, hidden, qkv_bias, skip=skip) for _ in range(depth // 2)]
    )
    model.norm = nn.LayerNorm(dim)
    model.head = MLMHead(dim, codebook_size + 1)


def run_trunk(model: Backbone, x: torch.Tensor, prefix: int, logit_rows: torch.Tensor | None = None) -> BackboneOutput:
    """x (B, prefix + N, D), the conditioning tokens first, through the trunk of ``add_trunk``; the
    head runs on the image tokens at ``logit_rows`` (all of them when None)."""
    skips = []
    for block in model.in_blocks:
        x = block(x)
        skips.append(x)
    x = model.mid_block(x)
    for block in model.out_blocks:
        x = block(x, skips.pop() if model.skip else None)

    features = model.norm(x)[:, prefix:]  # (B, N, D): conditioning tokens dropped
    # the public model reads the table detached: the head does not train the embeddings
    table = model.token_emb.word.weight.detach()  # (codebook_size + 1, D)
    logits = model.head(head_rows(features, logit_rows), table, model.codebook_size)  # (B, N | M, codebook_size)
    return BackboneOutput(logits, features, None)


def trunk_flops(model: Backbone, n: int, prefix: int) -> int:
    """Every one of the prefix + N tokens through every block, then the head on the N image tokens."""
    length = n + prefix
    total = 0
    for block in [*model.in_blocks, model.mid_block, *model.out_blocks]:
        attn, mlp = block.attn, block.mlp
        total += linear_flops(attn.qkv, length) + linear_flops(attn.proj, length)
        total += attention_flops(length, length, attn.proj.in_features)
        total += linear_flops(mlp.fc1, length) + linear_flops(mlp.fc2, length)
        if block.skip_linear is not None:
            total += linear_flops(block.skip_linear, length)
    return total + model.head.flops(n, model.codebook_size)


def _init_weights(m: nn.Module) -> None:
    """Training-from-scratch init of the public model (checkpoints overwrite it)."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, Embedding):
        nn.init.normal_(m.word.weight, std=0.02)
        nn.init.normal_(m.pos, std=0.02)
