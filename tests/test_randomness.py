"""The counter-based random numbers behind decoding: uniform, independent, batch-free."""

from __future__ import annotations

import math

import torch

from adanat_cli.engine import randomness
from adanat_cli.engine.loop import sample_seed


def _seeds(n: int, base: int = 0) -> torch.Tensor:
    return randomness.seed_tensor([sample_seed(base, i) for i in range(n)], "cpu")


def test_uniforms_lie_inside_the_unit_interval_with_the_right_moments():
    u = randomness.uniform(_seeds(256), step=3, stream=randomness.TOKENS, count=1024).double()
    assert u.min() > 0 and u.max() < 1
    assert abs(u.mean().item() - 0.5) < 0.002
    assert abs(u.var().item() - 1 / 12) < 0.001
    counts = torch.histc(u, bins=16, min=0, max=1)
    expected = u.numel() / 16
    chi2 = (((counts - expected) ** 2) / expected).sum().item()
    assert chi2 < 50  # 15 degrees of freedom: p < 1e-5 above 50


def test_neighbouring_samples_positions_steps_and_streams_are_uncorrelated():
    seeds = _seeds(512)
    base = randomness.uniform(seeds, 0, randomness.TOKENS, 512) - 0.5
    others = {
        "next sample": torch.roll(base, 1, dims=0),
        "next position": torch.roll(base, 1, dims=1),
        "next step": randomness.uniform(seeds, 1, randomness.TOKENS, 512) - 0.5,
        "other stream": randomness.uniform(seeds, 0, randomness.REMASK, 512) - 0.5,
    }
    for name, other in others.items():
        corr = (base * other).mean() / (base.std() * other.std())
        assert abs(corr.item()) < 4 / math.sqrt(base.numel()), name


def test_a_value_depends_on_its_own_seed_only_not_on_the_batch():
    seeds = _seeds(8)
    together = randomness.uniform(seeds, 5, randomness.REMASK, 64)
    alone = torch.cat([randomness.uniform(seeds[i : i + 1], 5, randomness.REMASK, 64) for i in range(8)])
    assert torch.equal(together, alone)
    longer = randomness.uniform(seeds, 5, randomness.REMASK, 100)
    assert torch.equal(longer[:, :64], together)  # positions are counters, not a running stream


def test_seeds_near_the_top_of_the_range_do_not_overflow():
    seeds = randomness.seed_tensor([2**63 - 1, 2**63 - 2, 0, 1], "cpu")
    u = randomness.uniform(seeds, 255, 3, 16)
    assert torch.isfinite(u).all() and (u > 0).all() and (u < 1).all()
    assert len({tuple(row.tolist()) for row in u}) == 4


def test_normals_have_unit_variance():
    z = randomness.normal(_seeds(512), 2, randomness.EXPLORE, 256).double()
    assert abs(z.mean().item()) < 0.01 and abs(z.std().item() - 1) < 0.01
    assert abs((z**3).mean().item()) < 0.03  # symmetric


def test_categorical_draws_follow_the_probabilities_and_never_pick_impossible_codes():
    probs = torch.tensor([0.0, 0.5, 0.0, 0.3, 0.2, 0.0])
    u = randomness.uniform(_seeds(1), 0, randomness.TOKENS, 60_000)[0]
    drawn = randomness.categorical(probs.expand(60_000, -1), u)
    freq = torch.bincount(drawn, minlength=6).double() / 60_000
    assert freq[[0, 2, 5]].sum() == 0
    assert torch.allclose(freq, probs.double(), atol=0.01)


def test_categorical_at_the_edges_of_the_unit_interval():
    probs = torch.tensor([[0.25, 0.25, 0.5, 0.0], [1.0, 0.0, 0.0, 0.0]])
    low = randomness.categorical(probs, torch.tensor([1e-9, 1e-9]))
    high = randomness.categorical(probs, torch.tensor([1 - 2**-25, 1 - 2**-25]))
    assert low.tolist() == [0, 0] and high.tolist() == [2, 0]
