"""The MaskGIT family of handcrafted schedules: one shared rule, five mask-ratio curves."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from ..errors import UsageError
from .base import Scheduler
from .guidance_target import negative_push, negative_settings
from .state import GenerationState, StepPlan

SCHEDULES = ("constant", "linear")
MIN_SAMPLE_TEMP = 1e-3  # ENAT's floor, so a decaying tau1 never divides the logits by zero


def _number(parameter: str, value: Any, minimum: float | None = None) -> float:
    """``value`` as a finite float, at least ``minimum``; a UsageError naming ``parameter`` otherwise."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{parameter} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise UsageError(f"{parameter} must be finite, got {value!r}")
    if minimum is not None and number < minimum:
        raise UsageError(f"{parameter} must be >= {minimum:g}, got {value!r}")
    return number


def _schedule(parameter: str, value: Any) -> str:
    if value not in SCHEDULES:
        allowed = ", ".join(repr(s) for s in SCHEDULES)
        raise UsageError(f"{parameter} must be one of {allowed}, got {value!r}")
    return value


class MaskGITScheduler(Scheduler):
    """MaskGIT (Chang et al., CVPR 2022): a fixed, sample-independent schedule.

    With r = (t+1)/T at step t of T, the fraction of tokens left masked after the step is a
    decreasing curve ``mask_ratio_at(r)`` chosen by the subclass. The re-masking temperature starts
    at ``remask_temp`` and decays linearly to zero, tau2 = remask_temp * (1 - r). The sampling
    temperature is ``sample_temp``, or with ``sample_temp_schedule="linear"`` decays as
    sample_temp * (1 - r) floored at 1e-3 (ENAT's sampler). Guidance is ``guidance``, or with
    ``guidance_schedule="linear"`` grows as guidance * t/T (MUSE). On a text-conditioned model,
    ``negative_prompt`` and ``negative_share`` say what guidance pushes away from
    (``schedulers.guidance_target``; default: the empty prompt), and ``negative_guidance`` adds a
    fixed push away from the negative prompt alone.
    """

    name: ClassVar[str] = ""

    def __init__(
        self,
        sample_temp: float = 1.0,
        sample_temp_schedule: str = "constant",
        remask_temp: float = 4.5,
        guidance: float = 0.0,
        guidance_schedule: str = "constant",
        negative_prompt: str = "",
        negative_share: float = 1.0,
        negative_guidance: float = 0.0,
    ) -> None:
        self.sample_temp = _number("sample_temp", sample_temp, minimum=MIN_SAMPLE_TEMP)
        self.sample_temp_schedule = _schedule("sample_temp_schedule", sample_temp_schedule)
        self.remask_temp = _number("remask_temp", remask_temp, minimum=0.0)
        self.guidance = _number("guidance", guidance)
        self.guidance_schedule = _schedule("guidance_schedule", guidance_schedule)
        self.negative_prompt, self.negative_share = negative_settings(negative_prompt, negative_share)
        self.negative_guidance = negative_push(self.negative_prompt, negative_guidance)

    def mask_ratio_at(self, r: float) -> float:
        """Fraction of tokens still masked once a fraction ``r`` of the steps is done."""
        raise NotImplementedError

    def plan(self, state: GenerationState) -> StepPlan:
        t, steps = state.step, state.steps
        r = (t + 1) / steps
        sample_temp = self.sample_temp
        if self.sample_temp_schedule == "linear":
            sample_temp = max(self.sample_temp * (1 - r), MIN_SAMPLE_TEMP)
        guidance = self.guidance
        if self.guidance_schedule == "linear":
            guidance = self.guidance * t / steps
        return StepPlan.constant(
            state.batch,
            mask_ratio=self.mask_ratio_at(r),
            sample_temp=sample_temp,
            remask_temp=self.remask_temp * (1 - r),
            guidance=guidance,
            device=state.device,
        )


class CosineScheduler(MaskGITScheduler):
    name = "cosine"
    description = "MaskGIT cosine schedule: mask ratio cos(pi/2 * r)."

    def mask_ratio_at(self, r: float) -> float:
        return math.cos(math.pi / 2 * r)


class LinearScheduler(MaskGITScheduler):
    name = "linear"
    description = "MaskGIT linear schedule: mask ratio 1 - r."

    def mask_ratio_at(self, r: float) -> float:
        return 1 - r


class SquareScheduler(MaskGITScheduler):
    name = "square"
    description = "MaskGIT square schedule: mask ratio 1 - r^2."

    def mask_ratio_at(self, r: float) -> float:
        return 1 - r**2


class RootScheduler(MaskGITScheduler):
    name = "root"
    description = "MaskGIT square-root schedule: mask ratio 1 - sqrt(r)."

    def mask_ratio_at(self, r: float) -> float:
        return 1 - math.sqrt(r)


class ArccosScheduler(MaskGITScheduler):
    name = "arccos"
    description = "MaskGIT arccos schedule: mask ratio (2/pi) * arccos(r)."

    def mask_ratio_at(self, r: float) -> float:
        return 2 / math.pi * math.acos(r)
