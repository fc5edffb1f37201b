"""AdaNAT's policy network (Ni et al., "AdaNAT", ECCV 2024; LeapLabTHU/AdaNAT ``libs/policy.py``).

It reads the frozen NAT's last-layer token features (B, N, D) and the step index t, and outputs
``out_dim`` numbers (4 actions for the actor, 1 value for the critic):

    t -> sinusoidal(256) -> MLP -> c                      (drives every AdaLN)
    features -> Linear D->hidden -> LN+AdaLN(c) -> (B, hidden, h, w)
             -> 3x3 depthwise conv, stride 2 -> GELU -> 1x1 conv hidden->pw -> GELU -> flatten
             -> Linear fc1 -> LN+AdaLN(c) -> GELU -> Linear fc2 -> LN+AdaLN(c) -> GELU -> Linear out

The output layer and every AdaLN modulation start at zero, so a fresh actor's actions are 0 (with
the handcrafted residual: exactly the handcrafted schedule). Parameter names follow the official
checkpoint, whose actor (hidden 512, D 768, 16x16 tokens) loads as it is.

An extension for text-conditioned models (``prompt_dim`` > 0; the official network has none): the
prompt's pooled text embedding (B, prompt_dim) is projected and added to c, so every AdaLN also
reads the prompt. The projection starts at zero, so such a network starts as the one without it
(and a policy trained without it can be fine-tuned with it).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..configurable import Configurable


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(B,) step indices -> (B, dim) [cos | sin] features at geometrically spaced frequencies."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]  # (B, half)
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


class TimestepEmbedder(nn.Module):
    def __init__(self, hidden: int, frequency_dim: int = 256):
        super().__init__()
        self.frequency_dim = frequency_dim
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_embedding(t, self.frequency_dim))


class AdaLN(nn.Module):
    """LayerNorm without affine, then x * (1 + scale(c)) + shift(c)."""

    def __init__(self, dim: int, cond_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 2 * dim))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)  # 2 x (B, dim)
        if x.ndim == 3:  # (B, N, dim): one modulation for all tokens
            shift, scale = shift[:, None], scale[:, None]
        return self.norm(x) * (1 + scale) + shift


class PolicyNet(nn.Module, Configurable):
    """Features (B, N, D) and steps (B,) -> (B, out_dim). Works for any h x w token grid."""

    def __init__(
        self,
        feature_dim: int,
        grid: tuple[int, int] | list[int],
        out_dim: int = 4,
        hidden: int = 512,
        pointwise: int = 128,
        fc1: int = 1024,
        fc2: int = 512,
        prompt_dim: int = 0,
    ):
        super().__init__()
        h, w = int(grid[0]), int(grid[1])
        self.grid = (h, w)
        self.x_embedder = nn.Linear(feature_dim, hidden) if feature_dim != hidden else None
        self.t_embedder = TimestepEmbedder(hidden)
        self.prompt_dim = int(prompt_dim)
        self.prompt_embedder = nn.Linear(self.prompt_dim, hidden) if self.prompt_dim else None
        self.adaLN1 = AdaLN(hidden, hidden)
        self.dw_conv = nn.Conv2d(hidden, hidden, kernel_size=3, stride=2, padding=1, groups=hidden)
        self.pw_conv = nn.Conv2d(hidden, pointwise, kernel_size=1)
        pooled = ((h + 1) // 2) * ((w + 1) // 2)  # stride-2, padding-1 output size
        self.linear1 = nn.Linear(pointwise * pooled, fc1)
        self.adaLN2 = AdaLN(fc1, hidden)
        self.linear2 = nn.Linear(fc1, fc2)
        self.adaLN3 = AdaLN(fc2, hidden)
        self.linear3 = nn.Linear(fc2, out_dim)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for ada in (self.adaLN1, self.adaLN2, self.adaLN3):
            nn.init.zeros_(ada.adaLN_modulation[-1].weight)
            nn.init.zeros_(ada.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.linear3.weight)
        nn.init.zeros_(self.linear3.bias)
        if self.prompt_embedder is not None:
            nn.init.zeros_(self.prompt_embedder.weight)

    def forward(self, features: torch.Tensor, step: torch.Tensor, prompt: torch.Tensor | None = None) -> torch.Tensor:
        """``prompt``: (B, prompt_dim) pooled text embeddings, required when ``prompt_dim`` > 0, else ignored."""
        batch, tokens, _ = features.shape
        h, w = self.grid
        if tokens != h * w:
            raise ValueError(f"policy expects {h}x{w}={h * w} tokens, got {tokens}")
        x = self.x_embedder(features) if self.x_embedder is not None else features  # (B, N, hidden)
        c = self.t_embedder(step)  # (B, hidden)
        if self.prompt_embedder is not None:
            if prompt is None:
                raise ValueError("this policy reads the prompt: pass its pooled text embedding")
            c = c + self.prompt_embedder(prompt.to(c.dtype))
        x = self.adaLN1(x, c)
        x = x.transpose(1, 2).reshape(batch, -1, h, w)  # (B, hidden, h, w)
        x = F.gelu(self.dw_conv(x))  # (B, hidden, ceil(h/2), ceil(w/2))
        x = F.gelu(self.pw_conv(x))  # (B, pointwise, ceil(h/2), ceil(w/2))
        x = x.flatten(1)  # (B, pointwise * ceil(h/2) * ceil(w/2))
        x = F.gelu(self.adaLN2(self.linear1(x), c))  # (B, fc1)
        x = F.gelu(self.adaLN3(self.linear2(x), c))  # (B, fc2)
        return self.linear3(x)  # (B, out_dim)


class StaticTable(nn.Module, Configurable):
    """The non-adaptive ablation: one learned action vector per step, shared by every sample."""

    def __init__(self, steps: int, out_dim: int = 4):
        super().__init__()
        self.table = nn.Parameter(torch.zeros(steps, out_dim))

    def forward(self, features: torch.Tensor, step: torch.Tensor, prompt: torch.Tensor | None = None) -> torch.Tensor:
        return self.table[step.long()]  # (B, out_dim)


def reads_prompt(network: nn.Module) -> bool:
    """Whether a policy network needs the prompt's pooled text embedding (``PolicyNet(prompt_dim>0)``)."""
    return getattr(network, "prompt_dim", 0) > 0
