"""The two records passed between the decoding loop and a scheduler."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class StepPlan:
    """What a scheduler decides for one step, one value per sample (all tensors shaped (B,)).

    mask_ratio: fraction of all N tokens still masked *after* this step (k = floor(N * m)).
    sample_temp: tau1, the softmax temperature used to sample tokens (logits are divided by it).
    remask_temp: tau2, the scale of the Gumbel noise added to confidences before re-masking.
    guidance: w, classifier-free guidance: guided = cond + w * (cond - uncond); 0 skips uncond.
    reveal_order: optional (B, N) long, a fixed order in which positions are revealed; when given,
        the masked positions after the step are the last k of that order and confidences are unused.
    """

    mask_ratio: torch.Tensor
    sample_temp: torch.Tensor
    remask_temp: torch.Tensor
    guidance: torch.Tensor
    reveal_order: torch.Tensor | None = None

    @classmethod
    def constant(
        cls,
        batch: int,
        mask_ratio: float,
        sample_temp: float,
        remask_temp: float,
        guidance: float,
        device: torch.device | str = "cpu",
    ) -> "StepPlan":
        """The same four values for every sample of a batch (handcrafted schedules)."""

        def full(v: float) -> torch.Tensor:
            return torch.full((batch,), float(v), dtype=torch.float64, device=device)

        return cls(full(mask_ratio), full(sample_temp), full(remask_temp), full(guidance))

    def values(self) -> dict[str, torch.Tensor]:
        """The four scalar series, by name (used for traces and plots)."""
        return {
            "mask_ratio": self.mask_ratio,
            "sample_temp": self.sample_temp,
            "remask_temp": self.remask_temp,
            "guidance": self.guidance,
        }


@dataclass
class GenerationState:
    """Everything a scheduler may look at before deciding step ``step`` (0-based) of ``steps``.

    tokens: (B, N) long, current ids with ``mask_id`` at masked positions.
    mask: (B, N) bool, True where a token is still masked.
    condition: what the batch is conditioned on: (B,) long class ids, or (B, L, C) float text
        contexts for a text-conditioned backbone (``labels`` is then None).
    pooled: (B, P) pooled text embeddings of the prompts (text-conditioned backbones only).
    features / logits: the backbone's last-layer features (B, N, D) and conditional logits
        (M, V) at the M masked positions, in the row-major order of ``mask`` (``mask.nonzero()``);
        only filled for schedulers with ``uses_features = True``.
    sample_seeds: one integer seed per sample, derived from the sample's global index, so a
        scheduler that needs its own randomness (e.g. a random offset) stays batch-size independent.
    """

    step: int
    steps: int
    tokens: torch.Tensor
    mask: torch.Tensor
    condition: torch.Tensor
    grid: tuple[int, int]
    sample_seeds: list[int]
    features: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    pooled: torch.Tensor | None = None

    @property
    def labels(self) -> torch.Tensor | None:
        """(B,) long class ids of a class-conditional batch; None for text."""
        return None if self.condition.is_floating_point() else self.condition

    @property
    def batch(self) -> int:
        return self.tokens.shape[0]

    @property
    def num_tokens(self) -> int:
        return self.tokens.shape[1]

    @property
    def device(self) -> torch.device:
        return self.tokens.device
