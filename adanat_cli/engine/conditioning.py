"""What a batch is conditioned on: class labels or text contexts, with the unconditional counterpart.

A class-conditional backbone reads (B,) long labels and its unconditional input is the null class; a
text-conditioned one reads (B, L, C) float contexts (a text encoder's last hidden state) and its
unconditional input is the empty prompt's context. The decoding loop only ever concatenates, slices
and passes these tensors on, so it serves both kinds the same way.

A text batch may also carry negative prompts' contexts: guidance then pushes away from a mix of the
empty prompt and the negative one (``schedulers.guidance_target``), and ``uncond_parts`` lists the
unconditional inputs with their weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..architectures.base import Backbone
from ..data.captions import make_caption, parse_caption
from ..errors import UsageError
from ..schedulers.guidance_target import SUBJECT, negative_push, negative_settings


@dataclass
class Conditions:
    """cond: (B,) long labels or (B, L, C) float contexts; null: the unconditional input, same shape.
    pooled: (B, P) pooled text embeddings (what a text-conditioned reward reads); None for labels.
    prompts: the B prompts, for text.
    negative: (B, L, C) contexts of the negative prompts, or None; negative_share: the share of the
    guidance taken against them (the rest against ``null``); negative_guidance: a fixed push away
    from them on top of the guidance."""

    cond: torch.Tensor
    null: torch.Tensor
    pooled: torch.Tensor | None = None
    prompts: list[str] | None = None
    negative: torch.Tensor | None = None
    negative_share: float = 1.0
    negative_guidance: float = 0.0

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
        return distinct_rows(self.cond)

    def uncond_parts(self) -> list[tuple[torch.Tensor, float]]:
        """The unconditional inputs guidance pushes away from, each (B, ...) with its weight (the
        weights sum to 1): the null alone, a negative prompt alone, or both. With a negative_guidance
        the negative prompt is always listed, last, even at weight 0."""
        share = self.negative_share if self.negative is not None else 0.0
        if share == 0.0 and not (self.negative is not None and self.negative_guidance):
            return [(self.null, 1.0)]
        if share == 1.0:
            return [(self.negative, 1.0)]
        return [(self.null, 1.0 - share), (self.negative, share)]


def distinct_rows(inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct rows (U, ...) of (B, ...) labels or contexts and each row's index among them (B,)."""
    if not inputs.is_floating_point():
        return torch.unique(inputs, return_inverse=True)
    rows, inverse = torch.unique(inputs.flatten(1), dim=0, return_inverse=True)
    return rows.view(-1, *inputs.shape[1:]), inverse


def is_text_model(backbone: Backbone) -> bool:
    return getattr(backbone, "conditioning", "class") == "text"


def text_conditions(embedder, prompts: Sequence[str], device: torch.device | str,
                    negative_prompts: Sequence[str] | None = None, negative_share: float = 1.0,
                    negative_guidance: float = 0.0) -> Conditions:
    """Conditions for ``prompts`` from a ``PromptEmbedder`` (cached per prompt, the null context once),
    with one negative prompt per prompt when given."""
    embedded = embedder.embed(list(prompts))
    null = embedder.null()
    context = embedded.context.to(device)
    negative = None
    if negative_prompts is not None:
        if len(negative_prompts) != len(prompts):
            raise ValueError(f"need one negative prompt per prompt: got {len(negative_prompts)} for {len(prompts)}")
        negative = embedder.embed(list(negative_prompts)).context.to(device)
    return Conditions(context, null.context.to(device).expand_as(context), embedded.pooled.to(device),
                      list(prompts), negative, negative_share, negative_guidance)


def negative_prompts_for(bundle, prompts: Sequence[str], negative_prompt: str) -> list[str]:
    """Each prompt's negative prompt: ``negative_prompt`` itself, or for ``@subject`` the prompt's
    subject alone, which needs a model whose captions have a grammar (one that records
    ``caption_attributes``); a prompt that names no subject gets the empty prompt."""
    if negative_prompt != SUBJECT:
        return [negative_prompt] * len(prompts)
    if "caption_attributes" not in bundle.config:
        raise UsageError(f"negative_prompt={SUBJECT} needs a model whose captions have a grammar "
                         f"(tiny-mnist-text); '{bundle.name}' has none: give the negative prompt as text")
    subjects = [parse_caption(p).class_index for p in prompts]
    return [make_caption(c) if c is not None else "" for c in subjects]


def check_guidance_target(bundle, negative_prompt: str, negative_share: float,
                          negative_guidance: float = 0.0) -> tuple[str, float, float]:
    """The three settings checked against the model (a UsageError if they do not suit it), so that a
    command can refuse them before any work."""
    prompt, share = negative_settings(negative_prompt, negative_share)
    push = negative_push(prompt, negative_guidance)
    if prompt and not is_text_model(bundle.backbone):
        raise UsageError(f"negative_prompt is for text-conditioned models; '{bundle.name}' is class-conditional")
    if prompt == SUBJECT and (share > 0.0 or push > 0.0):
        negative_prompts_for(bundle, [], prompt)
    return prompt, share, push


def conditions_for(bundle, entries: Sequence[int] | Sequence[str], device: torch.device | str,
                   negative_prompt: str = "", negative_share: float = 1.0,
                   negative_guidance: float = 0.0) -> Conditions:
    """Conditions for one batch of a bundle: class ids for a class-conditional model, prompts for a
    text-conditioned one; ``negative_prompt``, ``negative_share`` and ``negative_guidance`` as
    ``schedulers.guidance_target`` describes (text only)."""
    negative_prompt, negative_share, negative_guidance = check_guidance_target(
        bundle, negative_prompt, negative_share, negative_guidance)
    if is_text_model(bundle.backbone):
        if not all(isinstance(e, str) for e in entries):
            raise UsageError(f"model '{bundle.name}' is text-conditioned: give prompts (--prompt), not classes")
        negatives = None
        if negative_prompt and (negative_share > 0.0 or negative_guidance > 0.0):
            negatives = negative_prompts_for(bundle, entries, negative_prompt)
        return text_conditions(bundle.prompts, entries, device, negatives, negative_share, negative_guidance)
    if any(isinstance(e, str) for e in entries):
        raise UsageError(f"model '{bundle.name}' is class-conditional: give classes (--class), not prompts")
    labels = torch.tensor([int(e) for e in entries], dtype=torch.long, device=device)
    return Conditions.from_labels(labels, bundle.backbone.null_class)
