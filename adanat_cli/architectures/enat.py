"""ENAT masked-token backbone with encoder/decoder split and feature reuse across steps.

Reproduces ``DiT`` of LeapLabTHU/ENAT ``libs/models.py`` (run with ``enc_dec``): Ni et al., "ENAT:
Rethinking Spatial-temporal Interactions in Token-based Image Synthesis" (NeurIPS 2024).

Spatial split: the visible tokens are encoded by themselves by the encoder blocks; the mask tokens
are then decoded by the decoder blocks, whose attention also reads the fully encoded visible tokens.
Every block has two key/value projections: ``kv_context`` (public ``kv.A``) for tokens that are only
read (the encoded visible tokens in the decoder, the reused tokens in the encoder) and ``kv_own``
(public ``kv.B``) for the tokens the block updates; the two groups are normalised separately and
modulated with their own AdaLN shift/scale. Conditioning is DiT's adaLN-Zero from the class embedding.

Temporal reuse: given the previous step's ``ENATCache`` (pre-norm feature map and mask), only the
*newly revealed* tokens run through the encoder; tokens that were already visible take their previous
features through ``prev_proj`` (LayerNorm + MLP, residual) and serve as encoder context.

Rows of one batch may hold different numbers of new / reused / masked tokens: each group is packed
to the left of a (B, L_max, D) tensor in position order, and padded slots are excluded as keys by a
boolean attention mask (their outputs are discarded). Batches with equal counts use no mask at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError
from .base import Backbone, BackboneOutput, attention_flops, head_rows, linear_flops
from .uvit import Embedding, MLMHead


@dataclass
class ENATCache:
    """What the next step needs to reuse this step's work (returned as ``BackboneOutput.cache``).

    features: (B, N, D) pre-norm feature map of this step. mask: (B, N) bool, True = masked in this
    step's input. labels: (B,) the class labels it was computed for (cond and uncond caches differ).
    grid: the token grid. step: 0 for a forward without reuse, else the previous cache's step + 1.
    """

    features: torch.Tensor
    mask: torch.Tensor
    labels: torch.Tensor
    grid: tuple[int, int]
    step: int


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """AdaLN: x (B, L, D), shift/scale (B, D)."""
    return x * (1 + scale[:, None]) + shift[:, None]


class MLP(nn.Module):
    """Linear -> tanh-approximated GELU -> Linear (timm ``Mlp`` with DiT's activation)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class PrevProj(nn.Module):
    """Refreshes reused features: x + MLP(LayerNorm(x))."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLP(dim, 4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.norm(x))


class Attention(nn.Module):
    """Queries from the own tokens; keys/values from [context (kv_context), own (kv_own)]."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv_context = nn.Linear(dim, 2 * dim)
        self.kv_own = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None, key_ok: torch.Tensor | None
    ) -> torch.Tensor:
        """x (B, L, D), context (B, Lc, D) or None, key_ok (B, Lc + L) bool or None -> (B, L, D)."""
        B, L, D = x.shape
        H, Dh = self.num_heads, D // self.num_heads
        q = self.q(x).view(B, L, H, Dh).transpose(1, 2)  # (B, H, L, Dh)
        kv = self.kv_own(x)  # (B, L, 2D)
        if context is not None:
            kv = torch.cat([self.kv_context(context), kv], dim=1)  # (B, Lc + L, 2D)
        k, v = kv.view(B, -1, 2, H, Dh).permute(2, 0, 3, 1, 4).unbind(0)  # 2 x (B, H, Lk, Dh)
        mask = None if key_ok is None else key_ok[:, None, None, :]  # (B, 1, 1, Lk)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, L, Dh)
        return self.proj(y.transpose(1, 2).reshape(B, L, D))


class Block(nn.Module):
    """adaLN-Zero DiT block; context tokens get their own norm and shift/scale, and are not updated."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.norm_context = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = MLP(dim, int(dim * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 8 * dim))

    def forward(
        self,
        x: torch.Tensor,
        c: torch.Tensor,
        context: torch.Tensor | None = None,
        key_ok: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (B, L, D) own tokens, c (B, D) class embedding, context (B, Lc, D) or None."""
        (shift, scale, shift_ctx, scale_ctx, gate,
         shift_mlp, scale_mlp, gate_mlp) = self.adaLN_modulation(c).chunk(8, dim=1)  # 8 x (B, D)
        h = modulate(self.norm1(x), shift, scale)
        if context is not None:
            context = modulate(self.norm_context(context), shift_ctx, scale_ctx)
        x = x + gate[:, None] * self.attn(h, context, key_ok)
        x = x + gate_mlp[:, None] * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
        return x


class Packed:
    """One group of positions per row (``member`` (B, N) bool), packed left in position order and
    padded to the longest row: ``index`` (B, L) positions, ``valid`` (B, L) real slots."""

    def __init__(self, member: torch.Tensor):
        self.member = member
        count = member.sum(dim=1)  # (B,)
        self.length = int(count.max()) if member.shape[0] else 0
        # a stable sort puts members first, in position order; padded slots point at non-members
        self.index = torch.argsort((~member).to(torch.int8), dim=1, stable=True)[:, : self.length]
        self.valid = torch.arange(self.length, device=member.device)[None] < count[:, None]
        self.padded = not bool(self.valid.all())

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, N, D) -> (B, L, D)."""
        return torch.gather(x, 1, self.index[..., None].expand(-1, -1, x.shape[-1]))

    def scatter(self, out: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """A copy of out (B, N, D) with the real slots of values (B, L, D) at their positions (not in
        place: autograd keeps earlier versions of the feature map for gather's backward)."""
        return out.index_put((self.member,), values[self.valid].to(out.dtype))


def key_mask(context: Packed | None, own: Packed) -> torch.Tensor | None:
    """(B, Lc + L) bool of real keys, or None when no row is padded. A row without any real key
    (it has no tokens of this kind) attends to its padding instead of producing NaN; its outputs are
    discarded anyway."""
    if not own.padded and (context is None or not context.padded):
        return None
    ok = own.valid if context is None else torch.cat([context.valid, own.valid], dim=1)
    return ok | ~ok.any(dim=1, keepdim=True)


class ENAT(Backbone):
    """The ENAT backbone (LeapLabTHU/ENAT ``DiT`` with ``enc_dec``), class-conditional.

    ``num_classes`` counts the real classes; the class table has one more row, the null class
    (``null_class == num_classes``). ``features`` are the final-norm token features of all N
    positions (the input of the MLM head, as for U-ViT), which a learned policy reads.
    ``forward(..., cache=previous_output.cache)`` reuses the previous step (``supports_cache``).
    """

    supports_cache = True

    def __init__(
        self,
        codebook_size: int = 1024,
        num_classes: int = 1000,
        grid_size: int = 16,
        dim: int = 1024,
        encoder_depth: int = 22,
        decoder_depth: int = 2,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        dropout: float = 0.1,
    ):
        super().__init__(codebook_size=codebook_size, grid=(grid_size, grid_size), num_classes=num_classes, feature_dim=dim)

        self.token_emb = Embedding(codebook_size + 1, dim, grid_size * grid_size, dropout)
        self.class_emb = nn.Embedding(num_classes + 1, dim)
        # Trained by the public code but never called by its forward; kept so checkpoints load strictly.
        self.prev_embedder = MLP(dim, 4 * dim)
        self.prev_proj = PrevProj(dim)
        self.encoder = nn.ModuleList([Block(dim, num_heads, mlp_ratio) for _ in range(encoder_depth)])
        self.decoder = nn.ModuleList([Block(dim, num_heads, mlp_ratio) for _ in range(decoder_depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = MLMHead(dim, codebook_size + 1)
        self.apply(_init_weights)

    def forward_flops(self, mask: torch.Tensor, prev_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Per row, as ENAT is meant to run: encode the newly revealed tokens (reading the reused
        ones), refresh the reused ones through ``prev_proj``, decode the mask tokens (reading every
        visible one), then the head on all N. Padding of uneven rows in a batch is not counted."""
        mask = mask.bool().cpu()
        n = mask.shape[1]
        visible = ~mask
        if prev_mask is None:
            new, reused = visible.sum(1), torch.zeros(mask.shape[0], dtype=torch.int64)
        else:
            prev_mask = prev_mask.bool().cpu()
            new, reused = (visible & prev_mask).sum(1), (visible & ~prev_mask).sum(1)
        masked = mask.sum(1)
        total = _blocks_flops(self.encoder, new, new + reused) + _blocks_flops(self.decoder, masked, n)
        mlp = self.prev_proj.mlp
        total = total + linear_flops(mlp.fc1, reused) + linear_flops(mlp.fc2, reused)
        return total + self.head.flops(n, self.codebook_size)

    supports_logit_rows = True
    # Its blocks are compiled one by one (``compile_forward``). Frozen weights would become part of each
    # block's guards, so the blocks' one shared ``forward`` would be recompiled once per block and
    # shape, past dynamo's recompile limit.
    compile_with_freezing = False

    def forward(
        self, tokens: torch.Tensor, labels: torch.Tensor, cache: ENATCache | None = None,
        logit_rows: torch.Tensor | None = None,
    ) -> BackboneOutput:
        return self._forward(tokens, labels, cache, self.encoder, self.decoder, logit_rows)

    def compile_forward(self) -> Callable[..., BackboneOutput]:
        """The forward with its blocks compiled: the packing between them has data-dependent
        lengths, which would break one whole-model graph into dozens of pieces."""
        encoder = [torch.compile(block) for block in self.encoder]
        decoder = [torch.compile(block) for block in self.decoder]
        return lambda tokens, labels, cache=None, logit_rows=None: self._forward(
            tokens, labels, cache, encoder, decoder, logit_rows)

    def _forward(
        self,
        tokens: torch.Tensor,
        labels: torch.Tensor,
        cache: ENATCache | None,
        encoder: Sequence[Callable[..., torch.Tensor]],
        decoder: Sequence[Callable[..., torch.Tensor]],
        logit_rows: torch.Tensor | None = None,
    ) -> BackboneOutput:
        masked = tokens == self.mask_id  # (B, N)
        visible = ~masked
        if cache is not None:
            self._check_cache(cache, masked, labels)
            reused, new = visible & ~cache.mask, visible & cache.mask
        else:
            reused, new = torch.zeros_like(visible), visible
        x = self.token_emb(tokens)  # (B, N, D)
        c = self.class_emb(labels)  # (B, D)
        # (B, N, D) the pre-norm feature map, filled group by group; starting from the embeddings
        # keeps the padded slots that gather from not-yet-filled positions finite (NaN * 0 = NaN)
        feat = x

        # temporal: tokens visible before keep their (refreshed) features and serve as context
        old, fresh = Packed(reused), Packed(new)
        context = None
        if old.length:
            context = self.prev_proj(old.gather(cache.features.detach()).to(x.dtype))  # (B, Lo, D)
            feat = old.scatter(feat, context)
        h = fresh.gather(x)  # (B, Ln, D)
        if fresh.length:
            keys = key_mask(old if old.length else None, fresh)
            for block in encoder:
                h = block(h, c, context, keys)
        feat = fresh.scatter(feat, h)

        # spatial: mask tokens are decoded reading every encoded visible token as context
        seen, todo = Packed(visible), Packed(masked)
        if todo.length:
            context = seen.gather(feat) if seen.length else None  # (B, Lv, D)
            keys = key_mask(seen if seen.length else None, todo)
            m = todo.gather(x)  # (B, Lm, D)
            for block in decoder:
                m = block(m, c, context, keys)
            feat = todo.scatter(feat, m)

        features = self.norm(feat)  # (B, N, D)
        # the public model reads the table detached: the head does not train the embeddings
        table = self.token_emb.word.weight.detach()  # (codebook_size + 1, D)
        logits = self.head(head_rows(features, logit_rows), table, self.codebook_size)  # (B, N | M, codebook_size)
        step = 0 if cache is None else cache.step + 1
        return BackboneOutput(logits, features, ENATCache(feat, masked, labels, self.grid, step))

    def _check_cache(self, cache: object, masked: torch.Tensor, labels: torch.Tensor) -> None:
        """A cache only applies to a later step of the same generation branch; anything else would
        silently give wrong features, so it is refused."""
        if not isinstance(cache, ENATCache):
            raise UsageError(f"ENAT: cache must be the ENATCache of a previous call, got {type(cache).__name__}")
        if tuple(cache.grid) != self.grid:
            raise UsageError(f"ENAT: cache is for a {cache.grid} token grid, this model uses {self.grid}")
        if cache.mask.shape != masked.shape or cache.features.shape[-1] != self.feature_dim:
            raise UsageError(
                f"ENAT: cache holds {tuple(cache.mask.shape)} tokens of width {cache.features.shape[-1]}, "
                f"this call has {tuple(masked.shape)} tokens of width {self.feature_dim} (another batch?)"
            )
        if not torch.equal(cache.labels.to(labels.device), labels):
            raise UsageError("ENAT: cache was computed for other class labels (cond and uncond caches mixed up?)")
        hidden = masked & ~cache.mask.to(masked.device)  # visible in the cache, masked now
        if hidden.any():
            row, pos = (int(i) for i in hidden.nonzero()[0])
            raise UsageError(
                f"ENAT: token {pos} of row {row} was visible in the cache but is masked now; "
                "a cache only applies to a later step of the same generation"
            )


def _init_weights(m: nn.Module) -> None:
    """Training-from-scratch init of the public model (checkpoints overwrite it): xavier linears,
    N(0, 0.02) embeddings, zero adaLN (every block starts as the identity)."""
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, Embedding):
        nn.init.normal_(m.word.weight, std=0.02)
        nn.init.normal_(m.pos, std=0.02)
    elif isinstance(m, nn.Embedding):
        nn.init.normal_(m.weight, std=0.02)
    elif isinstance(m, Block):
        nn.init.zeros_(m.adaLN_modulation[-1].weight)
        nn.init.zeros_(m.adaLN_modulation[-1].bias)


def _blocks_flops(blocks: nn.ModuleList, queries: torch.Tensor, keys: torch.Tensor | int) -> torch.Tensor:
    """Blocks updating ``queries`` tokens per row while attending to ``keys`` tokens; a row with
    nothing to update skips the blocks (AdaLN modulation included)."""
    total = torch.zeros_like(queries)
    for block in blocks:
        attn, mlp = block.attn, block.mlp
        per_row = linear_flops(block.adaLN_modulation[-1], 1)
        per_row = per_row + linear_flops(attn.q, queries) + linear_flops(attn.proj, queries)
        per_row = per_row + linear_flops(attn.kv_own, queries) + linear_flops(attn.kv_context, keys - queries)
        per_row = per_row + attention_flops(queries, keys, attn.q.out_features)
        per_row = per_row + linear_flops(mlp.fc1, queries) + linear_flops(mlp.fc2, queries)
        total += torch.where(queries > 0, per_row, 0)
    return total
