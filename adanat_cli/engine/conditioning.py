"""What a batch is conditioned on: class labels or text contexts, with the unconditional counterpart.

A class-conditional backbone reads (B,) long labels and its unconditional input is the null class; a
text-conditioned one reads (B, L, C) float contexts (a text encoder's last hidden state) and its
unconditional input is the empty prompt's context. The decoding loop only ever concatenates, slices
and passes these tensors on, so it serves both kinds the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..architectures.base import Backbone
from ..errors import UsageError


@dataclass
class Conditions:
    """cond: (B,) long labels or (B, L, C) float contexts; null: the unconditional input, same shape.
    pooled: (B, P) pooled text embeddings (what a text-conditioned reward reads); None for labels.
    prompts: the B prompts, for text."""

    cond: torch.Tensor
    null: torch.Tensor
    pooled: torch.Tensor | None = None
    prompts: list[str] | None = None

    @classmethod
    def from_labels(cls, labels: torch.Tensor, null_class: int) -> Conditions:
        return cls(labels, torch.full_like(labels, null_class))

    @property
    def is_text(self) -> bool:
        return self.cond.is_floating_point()

    @property
    def device(self) -> torch.device:
        return self.cond.device

    def __len__(self) -> int:
        return self.cond.shape[0]

    def distinct(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The distinct conditions (U, ...) and, per sample, the index of its own among them (B,)."""
        if not self.is_text:
            return torch.unique(self.cond, return_inverse=True)
        rows, inverse = torch.unique(self.cond.flatten(1), dim=0, return_inverse=True)
        return rows.view(-1, *self.cond.shape[1:]), inverse


def is_text_model(backbone: Backbone) -> bool:
    return getattr(backbone, "conditioning", "class") == "text"


def text_conditions(embedder, prompts: Sequence[str], device: torch.device | str) -> Conditions:
    """Conditions for ``prompts`` from a ``PromptEmbedder`` (cached per prompt, the null context once)."""
    embedded = embedder.embed(list(prompts))
    null = embedder.null()
    context = embedded.context.to(device)
    return Conditions(context, null.context.to(device).expand_as(context), embedded.pooled.to(device),
                      list(prompts))


def conditions_for(bundle, entries: Sequence[int] | Sequence[str], device: torch.device | str) -> Conditions:
    """Conditions for one batch of a bundle: class ids for a class-conditional model, prompts for a
    text-conditioned one."""
    if is_text_model(bundle.backbone):
        if not all(isinstance(e, str) for e in entries):
            raise UsageError(f"model '{bundle.name}' is text-conditioned: give prompts (--prompt), not classes")
        return text_conditions(bundle.prompts, entries, device)
    if any(isinstance(e, str) for e in entries):
        raise UsageError(f"model '{bundle.name}' is class-conditional: give classes (--class), not prompts")
    labels = torch.tensor([int(e) for e in entries], dtype=torch.long, device=device)
    return Conditions.from_labels(labels, bundle.backbone.null_class)
