"""Does guidance on the early steps buy attribute agreement cheaply? A probe on tiny-mnist-text.

    python scripts/early_guidance_probe.py compare -m tiny-mnist-text -s guidance-floor -T 8 --num 2000 --seed 7 \\
        -x tiny-mnist,tiny-mnist-heldout -a guidance-floor:floor=0,0.5,1,1.5 --out probe-early-guidance

The shipped policy's guidance follows AdaNAT's handcrafted residual, w = t/T plus the policy's
action through a softplus, so on the first steps, where a digit's shape (and with it its thickness,
slant and size) is decided, it stays near zero. This runs the ``adanat`` CLI with one extra
scheduler, ``guidance-floor``: the policy (by default the model's shipped one) with its guidance
raised to at least ``floor`` on steps ``first``..``last`` (default 1..3), everything else untouched.
It is a test-time probe, not a shipped scheduler.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import ClassVar

import torch

from adanat_cli.cli.app import app
from adanat_cli.models.resolve import BUILTIN_DIR
from adanat_cli.registry import registry
from adanat_cli.schedulers.adanat import AdaNATScheduler
from adanat_cli.schedulers.state import GenerationState, StepPlan

SHIPPED = str(BUILTIN_DIR / "tiny-mnist-text" / "policies" / "adanat-T8.safetensors")


class GuidanceFloor(AdaNATScheduler):
    name: ClassVar[str] = "guidance-floor"
    description: ClassVar[str] = "A policy whose guidance is raised to at least `floor` on steps first..last (probe)."

    def __init__(self, policy: str = SHIPPED, floor: float = 1.0, first: int = 1, last: int = 3) -> None:
        super().__init__(policy)
        self.floor, self.first, self.last = float(floor), int(first), int(last)

    def plan(self, state: GenerationState) -> StepPlan:
        plan = super().plan(state)
        if self.first <= state.step <= self.last:
            plan = dataclasses.replace(plan, guidance=torch.clamp(plan.guidance, min=self.floor))
        return plan


def main() -> None:
    registry.register("schedulers", GuidanceFloor.name, GuidanceFloor)
    app(sys.argv[1:])


if __name__ == "__main__":
    main()
