"""CLIP's text transformer, written out plainly (nanoGPT style), as a text encoder plugin (``clip``).

The network of OpenAI CLIP / OpenCLIP text towers: token and learned position embeddings, pre-LN
transformer layers with causal self-attention (a token sees only itself and what precedes it), a final
layer norm, and a bias-free projection of the hidden state at the first end-of-text token. Its
state-dict keys are exactly those of ``transformers.CLIPTextModelWithProjection``, so a Hugging Face
checkpoint loads as is::

    text_model.embeddings.token_embedding.weight            (vocab_size, width)
    text_model.embeddings.position_embedding.weight         (context_length, width)
    text_model.encoder.layers.{i}.layer_norm1.{weight,bias}
    text_model.encoder.layers.{i}.self_attn.{q,k,v,out}_proj.{weight,bias}
    text_model.encoder.layers.{i}.layer_norm2.{weight,bias}
    text_model.encoder.layers.{i}.mlp.fc1.{weight,bias}     (width * mlp_ratio, width)
    text_model.encoder.layers.{i}.mlp.fc2.{weight,bias}
    text_model.final_layer_norm.{weight,bias}
    text_projection.weight                                  (projection_dim, width)

(Hugging Face's ``position_ids`` is a non-persistent buffer, absent from its state dict; we have none.)
``context`` is the output of the final layer norm (``last_hidden_state``), ``pooled`` the projected
end-of-text state (``text_embeds``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError
from ..text import clip_bpe
from ..text.base import TextEmbedding, TextEncoder


def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    """OpenAI CLIP's sigmoid approximation of GELU."""
    return x * torch.sigmoid(1.702 * x)


ACTIVATIONS = {"quick_gelu": quick_gelu, "gelu": F.gelu}


class Attention(nn.Module):
    """Multi-head causal self-attention with separate q/k/v projections (biases included)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, C = x.shape
        q, k, v = (proj(x).view(B, L, self.heads, C // self.heads).transpose(1, 2)
                   for proj in (self.q_proj, self.k_proj, self.v_proj))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # scale 1/sqrt(head_dim)
        return self.out_proj(y.transpose(1, 2).reshape(B, L, C))


class MLP(nn.Module):
    def __init__(self, width: int, hidden: int, activation: str) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)
        self.act = ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Layer(nn.Module):
    """Pre-LN transformer layer: x + attn(ln1(x)), then x + mlp(ln2(x))."""

    def __init__(self, width: int, heads: int, hidden: int, activation: str, eps: float) -> None:
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(width, eps=eps)
        self.self_attn = Attention(width, heads)
        self.layer_norm2 = nn.LayerNorm(width, eps=eps)
        self.mlp = MLP(width, hidden, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class Embeddings(nn.Module):
    def __init__(self, vocab_size: int, width: int, context_length: int) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.position_embedding = nn.Embedding(context_length, width)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.token_embedding(ids) + self.position_embedding.weight[: ids.shape[1]]


class Encoder(nn.Module):
    def __init__(self, layers: list[Layer]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class TextTransformer(nn.Module):
    """Embeddings, the layers, the final layer norm: ids (B, L) -> last_hidden_state (B, L, width)."""

    def __init__(self, vocab_size: int, width: int, layers: int, heads: int, hidden: int, context_length: int,
                 activation: str, eps: float) -> None:
        super().__init__()
        self.embeddings = Embeddings(vocab_size, width, context_length)
        self.encoder = Encoder([Layer(width, heads, hidden, activation, eps) for _ in range(layers)])
        self.final_layer_norm = nn.LayerNorm(width, eps=eps)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.final_layer_norm(self.encoder(self.embeddings(ids)))


class CLIPText(TextEncoder):
    """CLIP text transformer (OpenAI / OpenCLIP text tower), Hugging Face key names."""

    description = "adanat's CLIP text transformer (weights from a bundle; Hugging Face CLIP text key names)."

    def __init__(
        self,
        vocab_size: int = 49408,
        width: int = 512,
        layers: int = 12,
        heads: int = 8,
        mlp_ratio: float = 4.0,
        context_length: int = 77,
        projection_dim: int = 512,
        activation: str = "quick_gelu",
        eot_id: int = 49407,
        layer_norm_eps: float = 1e-5,
    ) -> None:
        if activation not in ACTIVATIONS:
            raise UsageError(f"unknown CLIP activation '{activation}' (known: {', '.join(ACTIVATIONS)})")
        if width % heads:
            raise UsageError(f"CLIP text width {width} is not divisible by {heads} heads")
        if not 0 <= eot_id < vocab_size:
            raise UsageError(f"end-of-text id {eot_id} lies outside the vocabulary of {vocab_size}")
        super().__init__(context_length=context_length, context_dim=width, pooled_dim=projection_dim)
        self.eot_id = eot_id
        self.text_model = TextTransformer(vocab_size, width, layers, heads, int(width * mlp_ratio), context_length,
                                          activation, layer_norm_eps)
        self.text_projection = nn.Linear(width, projection_dim, bias=False)
        nn.init.normal_(self.text_model.embeddings.token_embedding.weight, std=0.02)
        nn.init.normal_(self.text_model.embeddings.position_embedding.weight, std=0.01)

    def tokenize(self, prompts: Sequence[str]) -> torch.Tensor:
        """CLIP BPE ids (B, context_length): start, tokens, end, padded with 0."""
        return clip_bpe.encode(prompts, self.context_length)

    def forward(self, ids: torch.Tensor) -> TextEmbedding:
        """ids (B, L) long, L <= context_length -> context (B, L, width), pooled (B, projection_dim)."""
        hidden = self.text_model(ids)
        eot = (ids == self.eot_id).int().argmax(dim=-1)  # the first end-of-text token of each row
        pooled = hidden[torch.arange(ids.shape[0], device=ids.device), eot]
        return TextEmbedding(context=hidden, pooled=self.text_projection(pooled))
