"""adanat-halton: the Halton-MaskGIT scheduler as a third-party adanat plugin."""

from __future__ import annotations

import functools
import math
from typing import Any, ClassVar

import torch

from adanat_cli.errors import UsageError
from adanat_cli.schedulers import GenerationState, Scheduler, StepPlan

__all__ = ["HaltonScheduler", "halton_order", "revealed_after_step"]
__version__ = "0.1.0"


def _radical_inverse(index: int, base: int) -> tuple[int, int]:
    """The ``index``-th point of the 1-D Halton sequence as an exact fraction (numerator, denominator)."""
    numerator, denominator = 0, 1
    while index:
        index, digit = divmod(index, base)
        numerator, denominator = numerator * base + digit, denominator * base
    return numerator, denominator


@functools.lru_cache(maxsize=16)
def halton_order(height: int, width: int) -> tuple[int, ...]:
    """Every cell of a height x width grid (flat index row * width + col) in 2-D Halton order.

    Point i >= 1 has row floor(h2(i) * height) and column floor(h3(i) * width), h_b being the base-b
    radical inverse; a cell is placed where it first occurs. Integer arithmetic keeps the floors
    exact; the sequence is equidistributed, so every cell eventually occurs.
    """
    order: dict[int, None] = {}  # insertion-ordered set
    index = 0
    while len(order) < height * width:
        index += 1  # index 0 is (0, 0) for every base; Halton-MaskGIT starts at 1
        row_num, row_den = _radical_inverse(index, 2)
        col_num, col_den = _radical_inverse(index, 3)
        order.setdefault(row_num * height // row_den * width + col_num * width // col_den)
    return tuple(order)


def revealed_after_step(step: int, steps: int, num_tokens: int) -> int:
    """Tokens revealed once step ``step`` (0-based) of ``steps`` is done: an arccos curve, >= step+1."""
    curve = 1 - math.acos((step + 1) / steps) / (math.pi / 2)
    return min(num_tokens, max(step + 1, int(curve * num_tokens)))


def _flag(parameter: str, value: Any) -> bool:
    text = str(value).strip().lower()
    if isinstance(value, bool) or text in ("true", "false", "1", "0", "yes", "no"):
        return text in ("true", "1", "yes")
    raise UsageError(f"{parameter} must be true or false, got {value!r}")


def _number(parameter: str, value: Any, positive: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{parameter} must be a number, got {value!r}") from None
    if not math.isfinite(number) or (positive and number <= 0):
        kind = "finite positive" if positive else "finite"
        raise UsageError(f"{parameter} must be a {kind} number, got {value!r}")
    return number


class HaltonScheduler(Scheduler):
    """Halton-MaskGIT (Besnier et al., "Halton Scheduler for Masked Generative Image Transformer",
    ICLR 2025): tokens are revealed in a fixed quasi-random order instead of by confidence.

    The order is the 2-D Halton sequence (base 2 for rows, base 3 for columns) scaled to the token
    grid, which spreads each step's new tokens evenly over the image. After step i of T,
    max(i+1, int((1 - arccos((i+1)/T) / (pi/2)) * N)) tokens are visible. With ``randomize`` each
    sample's order is rolled by an offset drawn from its own seed. No Gumbel noise; the sampling
    temperature and guidance are constant.
    """

    name: ClassVar[str] = "halton"
    description: ClassVar[str] = "Halton-MaskGIT: reveal tokens in a fixed 2-D Halton order (ICLR 2025)."

    def __init__(self, sample_temp: float = 1.0, guidance: float = 0.0, randomize: bool = False) -> None:
        self.sample_temp = _number("sample_temp", sample_temp, positive=True)
        self.guidance = _number("guidance", guidance)
        self.randomize = _flag("randomize", randomize)

    def plan(self, state: GenerationState) -> StepPlan:
        n = state.num_tokens
        order = torch.tensor(halton_order(*state.grid), dtype=torch.long)  # (N,)
        if len(order) != n:
            raise UsageError(f"token grid {state.grid} does not have {n} cells")
        orders = torch.stack([order.roll(self._offset(seed, n)) for seed in state.sample_seeds])  # (B, N)
        revealed = revealed_after_step(state.step, state.steps, n)
        plan = StepPlan.constant(
            state.batch, (n - revealed) / n, self.sample_temp, 0.0, self.guidance, state.device
        )
        plan.reveal_order = orders.to(state.device)
        return plan

    def _offset(self, seed: int, num_tokens: int) -> int:
        """This sample's roll of the order; its own generator keeps it independent of the batch."""
        if not self.randomize:
            return 0
        generator = torch.Generator().manual_seed(seed)
        return int(torch.randint(num_tokens, (1,), generator=generator))
