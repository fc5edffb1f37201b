"""The learned AdaNAT policy as a scheduler plugin."""

from __future__ import annotations

from typing import ClassVar

import torch

from ..errors import UsageError
from .adanat_actions import actions_to_plan
from .adanat_files import load_policy
from .adanat_network import reads_prompt
from .base import Scheduler
from .guidance_target import negative_push, negative_settings
from .state import GenerationState, StepPlan


class AdaNATScheduler(Scheduler):
    """AdaNAT (Ni et al., ECCV 2024): a small policy network reads the NAT's last-layer token
    features and the step, and sets the re-mask ratio, both temperatures and the guidance scale per
    sample and per step. At inference the policy's mean action is taken.

    ``policy`` is a policy file written by ``adanat train-policy``; a model bundle may ship one per
    number of steps, used by default. A policy made for another feature size, token grid or number of
    steps is refused. A prompt-aware policy (trained with ``train-policy --prompt-aware``) also reads
    each prompt's pooled text embedding, so it runs only on text-conditioned models.
    ``negative_prompt`` and ``negative_share`` say what the policy's guidance pushes away from, and
    ``negative_guidance`` adds a fixed push away from the negative prompt alone
    (``schedulers.guidance_target``); by default what the policy was trained with (its file's
    ``guidance_target``), else the empty prompt and no push.
    """

    name: ClassVar[str] = "adanat"
    description: ClassVar[str] = "AdaNAT's learned per-sample, per-step policy (needs a trained policy file)."
    uses_features: ClassVar[bool] = True

    def __init__(self, policy: str | None = None, negative_prompt: str | None = None,
                 negative_share: float | None = None, negative_guidance: float | None = None) -> None:
        if policy is None:
            raise UsageError(
                "the adanat scheduler needs a trained policy: pass --scheduler-arg policy=FILE "
                "(or use a model that ships one for this number of steps)"
            )
        self.actor, self.meta = load_policy(policy)
        trained = self.meta.get("guidance_target") or {}
        self.negative_prompt, self.negative_share = negative_settings(
            trained.get("negative_prompt", "") if negative_prompt is None else negative_prompt,
            trained.get("negative_share", 1.0) if negative_share is None else negative_share)
        self.negative_guidance = negative_push(
            self.negative_prompt,
            trained.get("negative_guidance", 0.0) if negative_guidance is None else negative_guidance)

    def reset(self, batch: int, steps: int) -> None:
        if steps != self.meta["steps"]:
            raise UsageError(f"this policy was trained for T={self.meta['steps']}, not T={steps}")

    def plan(self, state: GenerationState) -> StepPlan:
        features = state.features
        if features.shape[-1] != self.meta["feature_dim"] or list(state.grid) != list(self.meta["grid"]):
            raise UsageError(
                f"this policy was trained for features of size {self.meta['feature_dim']} on a "
                f"{self.meta['grid'][0]}x{self.meta['grid'][1]} grid (model '{self.meta.get('model', '?')}'), "
                f"not {features.shape[-1]} on {state.grid[0]}x{state.grid[1]}"
            )
        self.reset(state.batch, state.steps)
        if next(self.actor.parameters()).device != features.device:
            self.actor.to(features.device)
        prompt = None
        if reads_prompt(self.actor):
            prompt = state.pooled
            if prompt is None or prompt.shape[-1] != self.actor.prompt_dim:
                got = "no text prompts" if prompt is None else f"prompt embeddings of size {prompt.shape[-1]}"
                raise UsageError(f"this policy reads the prompt (pooled text embeddings of size {self.actor.prompt_dim}, "
                                 f"model '{self.meta.get('model', '?')}'); this model gives {got}")
            prompt = prompt.float()
        step = torch.full((state.batch,), state.step, dtype=torch.long, device=features.device)
        actions = self.actor(features.float(), step, prompt)  # (B, 4), the mean action
        return actions_to_plan(actions, state.step, state.steps, bool(self.meta["residual"]))
