"""From the policy's four real-valued actions to a StepPlan (REFERENCE §2).

Actions come in the official order (m, τ2, τ1, w): m = sigmoid(a_m), τ2 = softplus(a_2),
τ1 = softplus(a_1), w = softplus(a_w). With the handcrafted residual the pre-activation of AdaNAT's
handcrafted baseline is added first, so a zero action reproduces that baseline exactly:
m = cos(π/2·(t+1−1e-3)/T), τ2 = 1 − (t+1−1e-3)/T, τ1 = 1, w = (t+1e-3)/T.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .state import StepPlan

ACTION_ORDER = ("mask_ratio", "remask_temp", "sample_temp", "guidance")


def inverse_softplus(x: torch.Tensor) -> torch.Tensor:
    return x + torch.log(-torch.expm1(-x))


def residual_preactivations(steps: int) -> torch.Tensor:
    """(T, 4) pre-activations of the handcrafted baseline, in ACTION_ORDER."""
    t = torch.arange(steps, dtype=torch.float64)
    ratio = (t + 1 - 1e-3) / steps
    mask = torch.cos(ratio * math.pi / 2)
    return torch.stack([
        torch.log(mask / (1 - mask)),
        inverse_softplus(1 - ratio),
        inverse_softplus(torch.ones(steps, dtype=torch.float64)),
        inverse_softplus((t + 1e-3) / steps),
    ], dim=1).float()


def actions_to_values(actions: torch.Tensor, step: torch.Tensor, steps: int, residual: bool) -> dict[str, torch.Tensor]:
    """actions (B, 4), step (B,) -> the four plan values, each (B,)."""
    pre = actions.float()
    if residual:
        pre = pre + residual_preactivations(steps).to(pre.device)[step.long()]
    return {
        "mask_ratio": torch.sigmoid(pre[:, 0]),
        "remask_temp": F.softplus(pre[:, 1]),
        "sample_temp": F.softplus(pre[:, 2]),
        "guidance": F.softplus(pre[:, 3]),
    }


def actions_to_plan(actions: torch.Tensor, step: int, steps: int, residual: bool) -> StepPlan:
    index = torch.full((actions.shape[0],), step, dtype=torch.long, device=actions.device)
    values = actions_to_values(actions, index, steps, residual)
    return StepPlan(
        mask_ratio=values["mask_ratio"].double(),
        sample_temp=values["sample_temp"],
        remask_temp=values["remask_temp"],
        guidance=values["guidance"],
    )
