"""The decoding loop: token counts, seeding, guidance, reveal orders."""

from __future__ import annotations

import math

import pytest
import torch

from adanat_cli.engine.conditioning import Conditions
from adanat_cli.engine.loop import decode, masked_count, sample_seed
from adanat_cli.schedulers.base import Scheduler
from adanat_cli.schedulers.state import GenerationState, StepPlan

from .fakes import toy_model


class FixedScheduler(Scheduler):
    """Cosine mask ratio with settable constants; records the masked count it sees before each step."""

    name = "fixed-test"

    def __init__(self, guidance: float = 0.0, sample_temp: float = 1.0, remask_temp: float = 1.0):
        self.seen: list[torch.Tensor] = []

    def plan(self, state: GenerationState) -> StepPlan:
        self.seen.append(state.mask.sum(dim=1).clone())
        r = (state.step + 1) / state.steps
        c = self.config
        return StepPlan.constant(state.batch, math.cos(math.pi / 2 * r), c["sample_temp"], c["remask_temp"],
                                 c["guidance"], state.device)


class AlwaysUncond(FixedScheduler):
    """Same plans, but declares it reads features, which makes the engine run the uncond pass too."""

    uses_features = True


def _labels(n: int) -> torch.Tensor:
    return torch.arange(n) % 3


@pytest.mark.parametrize("steps", [1, 2, 4, 8])
def test_masked_counts_follow_floor_of_n_times_ratio_and_end_at_zero(steps):
    backbone = toy_model(side=16)  # N = 256
    scheduler = FixedScheduler()
    result = decode(backbone, scheduler, _labels(2), steps, [1, 2])
    n = backbone.num_tokens
    counts = [int(c[0]) for c in scheduler.seen] + [int((result.tokens == backbone.mask_id).sum(1)[0])]
    assert counts[0] == n
    for t in range(steps):
        expected = 0 if t == steps - 1 else min(math.floor(n * math.cos(math.pi / 2 * (t + 1) / steps)), counts[t] - 1)
        assert counts[t + 1] == expected, (t, counts)
    assert (result.tokens != backbone.mask_id).all()
    assert result.tokens.max() < backbone.codebook_size


def test_masked_count_reveals_at_least_one_token_per_step():
    plan = StepPlan.constant(2, 0.999, 1, 1, 0)
    keep = masked_count(plan, 16, torch.tensor([16, 5]), last=False)
    assert keep.tolist() == [15, 4]
    assert masked_count(plan, 16, torch.tensor([16, 5]), last=True).tolist() == [0, 0]


def test_same_seed_gives_same_tokens_whatever_the_batch_size():
    backbone = toy_model(side=4)
    labels = _labels(8)
    seeds = [sample_seed(7, i) for i in range(8)]
    together = decode(backbone, FixedScheduler(remask_temp=2.0), labels, 4, seeds).tokens
    alone = torch.cat([decode(backbone, FixedScheduler(remask_temp=2.0), labels[i : i + 1], 4, seeds[i : i + 1]).tokens
                       for i in range(8)])
    assert torch.equal(together, alone)


def test_different_seeds_give_different_tokens():
    backbone = toy_model(side=4)
    a = decode(backbone, FixedScheduler(), _labels(4), 4, [sample_seed(0, i) for i in range(4)]).tokens
    b = decode(backbone, FixedScheduler(), _labels(4), 4, [sample_seed(1, i) for i in range(4)]).tokens
    assert not torch.equal(a, b)


def test_zero_guidance_skips_the_uncond_pass_without_changing_the_result():
    backbone = toy_model(side=4)
    seeds = [sample_seed(3, i) for i in range(4)]
    skipped = decode(backbone, FixedScheduler(guidance=0.0), _labels(4), 4, seeds)
    calls_skipped = list(backbone.calls)
    backbone.calls.clear()
    computed = decode(backbone, AlwaysUncond(guidance=0.0), _labels(4), 4, seeds)
    assert torch.equal(skipped.tokens, computed.tokens)
    # one batched cond+uncond forward a step; the first step's all-mask grids run once per distinct
    # class (3 of the 4 samples) plus one shared null row
    assert calls_skipped == [3, 4, 4, 4] and backbone.calls == [3 + 1, 8, 8, 8]
    assert skipped.nfe == 4 and computed.nfe == 8


def test_the_first_step_runs_once_per_distinct_condition_with_the_same_result(monkeypatch):
    """Step 0's grids are all masks: sharing its rows between samples of one class (and the null row
    between all) changes no token, for class ids and for text contexts alike."""
    from adanat_cli.engine import loop

    backbone = toy_model(side=4)
    labels = torch.tensor([2, 0, 2, 2, 1, 0])
    seeds = [sample_seed(4, i) for i in range(6)]
    shared = decode(backbone, FixedScheduler(guidance=1.5), labels, 4, seeds).tokens
    assert backbone.calls[0] == 3 + 1
    monkeypatch.setattr(loop, "_forward_first_step", lambda network, tokens, conditions, with_uncond: loop._forward(
        network, tokens, conditions, with_uncond, None, torch.arange(tokens.numel())))  # every row computed
    backbone.calls.clear()
    alone = decode(backbone, FixedScheduler(guidance=1.5), labels, 4, seeds).tokens
    assert backbone.calls[0] == 12 and torch.equal(shared, alone)

    contexts = torch.randn(3, 2, 5)[torch.tensor([1, 1, 0, 2, 1])]
    distinct, inverse = Conditions(contexts, torch.zeros_like(contexts)).distinct()
    assert distinct.shape == (3, 2, 5) and torch.equal(distinct[inverse], contexts)


def test_guidance_changes_the_samples():
    backbone = toy_model(side=4)
    seeds = [sample_seed(3, i) for i in range(6)]
    plain = decode(backbone, FixedScheduler(guidance=0.0), _labels(6), 4, seeds).tokens
    guided = decode(backbone, FixedScheduler(guidance=5.0), _labels(6), 4, seeds).tokens
    assert not torch.equal(plain, guided)


def test_trace_records_every_plan_value_per_sample_and_step():
    backbone = toy_model(side=4)
    result = decode(backbone, FixedScheduler(guidance=1.5), _labels(3), 5, [0, 1, 2], trace=True)
    assert set(result.trace) == {"mask_ratio", "sample_temp", "remask_temp", "guidance"}
    assert result.trace["guidance"].shape == (3, 5)
    assert torch.allclose(result.trace["mask_ratio"][0], torch.tensor(
        [math.cos(math.pi / 2 * (t + 1) / 5) for t in range(5)], dtype=torch.float64))


class OrderScheduler(Scheduler):
    """Reveals positions in a fixed reversed raster order, two per step."""

    name = "order-test"

    def __init__(self):
        pass

    def plan(self, state):
        n = state.num_tokens
        revealed = min(n, 2 * (state.step + 1))
        plan = StepPlan.constant(state.batch, (n - revealed) / n, 1.0, 0.0, 0.0, state.device)
        plan.reveal_order = torch.arange(n - 1, -1, -1).expand(state.batch, n)
        return plan


def test_reveal_order_decides_which_positions_stay_masked():
    backbone = toy_model(side=4)
    seen = []
    decode(backbone, OrderScheduler(), _labels(2), 8, [0, 1], on_step=lambda t: None)
    scheduler = OrderScheduler()
    original = scheduler.plan

    def spy(state):
        seen.append(state.mask[0].clone())
        return original(state)

    scheduler.plan = spy
    decode(backbone, scheduler, _labels(2), 8, [0, 1])
    for t, mask in enumerate(seen):
        visible = (~mask).nonzero().flatten().tolist()
        assert visible == list(range(16 - 2 * t, 16)), (t, visible)


def test_sample_seed_depends_on_index_and_base_seed():
    assert sample_seed(0, 1) != sample_seed(1, 0)
    assert sample_seed(5, 3) == sample_seed(5, 3)
