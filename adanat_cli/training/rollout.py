"""Trajectories for PPO: the decoding loop with actions *sampled* around the actor's mean.

``ExploringPolicy`` is a scheduler used only by the trainer: at every step it draws
a = mean + std·ε with ε from the engine's counter-based stream for exploration (a hash of the
sample's seed and the step, so trajectories do not depend on batch size or process count), and records what PPO needs: the features the actor saw,
the step, the action, and for a prompt-aware actor the prompts' pooled text embeddings.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..engine import randomness
from ..schedulers.adanat_actions import actions_to_plan
from ..schedulers.adanat_network import reads_prompt
from ..schedulers.base import Scheduler
from ..schedulers.state import GenerationState, StepPlan


class ExploringPolicy(Scheduler):
    name: ClassVar[str] = "adanat-exploring"
    uses_features: ClassVar[bool] = True

    def __init__(self, actor: nn.Module, std: float, residual: bool, record: bool = True) -> None:
        self.actor, self.std, self.residual, self.record = actor, std, residual, record
        self.features: list[torch.Tensor] = []
        self.actions: list[torch.Tensor] = []
        self.prompts: torch.Tensor | None = None  # (B, P), a prompt-aware actor's
        self._seeds: torch.Tensor | None = None

    def reset(self, batch: int, steps: int) -> None:
        self.features, self.actions, self.prompts, self._seeds = [], [], None, None

    def plan(self, state: GenerationState) -> StepPlan:
        features = state.features.float()
        if self._seeds is None:
            self._seeds = randomness.seed_tensor(state.sample_seeds, features.device)
        if self.prompts is None and reads_prompt(self.actor):
            self.prompts = state.pooled.float().clone()
        step = torch.full((state.batch,), state.step, dtype=torch.long, device=features.device)
        mean = self.actor(features, step, self.prompts)  # (B, 4)
        noise = randomness.normal(self._seeds, state.step, randomness.EXPLORE, mean.shape[1]).to(mean.dtype)
        actions = mean + self.std * noise
        if self.record:
            self.features.append(features.clone())
            self.actions.append(actions.clone())
        return actions_to_plan(actions, state.step, state.steps, self.residual)

    def trajectories(self) -> tuple[torch.Tensor, torch.Tensor]:
        """features (B, T, N, D) and actions (B, T, 4) of the last generation."""
        return torch.stack(self.features, dim=1), torch.stack(self.actions, dim=1)
