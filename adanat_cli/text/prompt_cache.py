"""Encode each distinct prompt once: a bounded cache of text embeddings in front of a text encoder.

Sampling and policy training see the same captions (and the empty prompt, the classifier-free-guidance
null) over and over; ``PromptEmbedder.embed`` sends only prompts it has not seen to the encoder and
keeps their embeddings on the CPU in float32, least recently used dropped first beyond
``max_entries``. Each new prompt is encoded on its own: an encoder's output moves in the last bits
with the batch it runs in, and a prompt's embedding, hence its images, must not depend on which other
prompts came with it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch

from .base import TextEmbedding, TextEncoder


class PromptEmbedder:
    """``embed(prompts)`` and ``null()`` through a cache. ``encoded`` counts prompts the encoder saw."""

    def __init__(self, encoder: TextEncoder, max_entries: int = 4096) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, not {max_entries}")
        self.encoder = encoder
        self.max_entries = max_entries
        self.encoded = 0
        self._cache: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self._null: tuple[torch.Tensor, torch.Tensor] | None = None

    def __len__(self) -> int:
        return len(self._cache)

    def _rows(self, prompts: list[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        fresh = list(dict.fromkeys(p for p in prompts if p not in self._cache))  # each new prompt once
        found: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for prompt in fresh:
            out = self.encoder.encode([prompt])
            self.encoded += 1
            found[prompt] = (out.context[0].float().cpu().clone(), out.pooled[0].float().cpu().clone())
        rows = []
        for prompt in prompts:
            row = found.get(prompt)
            if row is None:
                row = self._cache[prompt]
                self._cache.move_to_end(prompt)
            rows.append(row)
        for prompt, row in found.items():
            self._cache[prompt] = row
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return rows

    def _stack(self, rows: list[tuple[torch.Tensor, torch.Tensor]]) -> TextEmbedding:
        device = self.encoder.device
        if not rows:
            enc = self.encoder
            return TextEmbedding(torch.zeros(0, enc.context_length, enc.context_dim, device=device),
                                 torch.zeros(0, enc.pooled_dim, device=device))
        return TextEmbedding(torch.stack([c for c, _ in rows]).to(device),
                             torch.stack([p for _, p in rows]).to(device))

    def embed(self, prompts: Sequence[str]) -> TextEmbedding:
        """prompts -> ``TextEmbedding`` (B rows, in order) on the encoder's device."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        return self._stack(self._rows(prompts))

    def pooled(self, prompts: Sequence[str]) -> torch.Tensor:
        """prompts -> their pooled embeddings (B, P), float32 on the CPU, without stacking the contexts."""
        rows = self._rows(list(prompts))
        if not rows:
            return torch.zeros(0, self.encoder.pooled_dim)
        return torch.stack([pooled for _, pooled in rows])

    def null(self) -> TextEmbedding:
        """The empty prompt ``""`` encoded (B = 1): the unconditional branch of guidance; computed once."""
        if self._null is None:
            self._null = self._rows([""])[0]
        return self._stack([self._null])
