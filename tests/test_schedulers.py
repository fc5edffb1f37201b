"""Schedulers: handcrafted formulas, the AutoNAT table and its file format, config round trips of every
registered scheduler, and the Halton plugin discovered through its entry point."""

from __future__ import annotations

import json
import math
from importlib.metadata import entry_points

import pytest
import torch

from adanat_cli.errors import NotFoundError, UsageError
from adanat_cli.registry import registry
from adanat_cli.schedulers.autonat import AutoNATScheduler, Schedule
from adanat_cli.schedulers.maskgit import (
    ArccosScheduler,
    CosineScheduler,
    LinearScheduler,
    RootScheduler,
    SquareScheduler,
)
from adanat_cli.schedulers.state import GenerationState, StepPlan

T = 8
FEATURE_DIM = 8

# REFERENCE §1: AutoNAT-L, ImageNet-256, T=8.
AUTONAT_M = [0.9531645174140464, 0.8795409806037042, 0.7940230737075623, 0.745995860948045,
             0.6249785820461957, 0.407321956652571, 0.260658917067054]
AUTONAT_TAU2 = [2.404912789740805, 2.477616274962803, 1.191696577294597, 0.7685444738649722,
                1.0673489052089495, 0.9353720330515827, 0.7843839537838292]
AUTONAT_TAU1 = [2.8999037830310685, 1.867261830931786, 1.1443729673819831, 1.3796334226014182,
                1.4699896959810144, 1.3760684112198358, 1.7082165405200722, 0.7133060703601533]
AUTONAT_W = [0.0001, 0.0001, 0.0001, 0.9151274967591447, 1.6160182878189675,
             1.1945509026838659, 1.38322370140345, 1.22678520936251]


def fake_state(step: int, steps: int, batch: int = 2, grid: tuple[int, int] = (4, 4),
               seeds: list[int] | None = None) -> GenerationState:
    n = grid[0] * grid[1]
    features = torch.randn(batch, n, FEATURE_DIM, generator=torch.Generator().manual_seed(step))
    return GenerationState(
        step=step,
        steps=steps,
        tokens=torch.zeros(batch, n, dtype=torch.long),
        mask=torch.ones(batch, n, dtype=torch.bool),
        condition=torch.zeros(batch, dtype=torch.long),
        grid=grid,
        sample_seeds=list(range(batch)) if seeds is None else seeds,
        features=features,
    )


def plans(scheduler, steps: int = T, **state_kw) -> list[StepPlan]:
    batch = state_kw.get("batch", 2)
    scheduler.reset(batch, steps)
    return [scheduler.plan(fake_state(t, steps, **state_kw)) for t in range(steps)]


def series(scheduler, field: str, steps: int = T) -> list[float]:
    """One parameter over all steps, checking every sample of the batch got the same value."""
    values = []
    for plan in plans(scheduler, steps):
        column = getattr(plan, field)
        assert column.shape == (2,) and column.dtype == torch.float64
        assert torch.all(column == column[0])
        values.append(column[0].item())
    return values


def r(t: int, steps: int = T) -> float:
    return (t + 1) / steps


# -- MaskGIT family ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scheduler_class", "curve"),
    [
        (CosineScheduler, lambda x: math.cos(math.pi / 2 * x)),
        (LinearScheduler, lambda x: 1 - x),
        (SquareScheduler, lambda x: 1 - x**2),
        (RootScheduler, lambda x: 1 - math.sqrt(x)),
        (ArccosScheduler, lambda x: 2 / math.pi * math.acos(x)),
    ],
)
def test_maskgit_mask_ratio_follows_its_family_formula(scheduler_class, curve):
    expected = [curve(r(t)) for t in range(T)]
    assert series(scheduler_class(), "mask_ratio") == pytest.approx(expected, abs=1e-12)


def test_maskgit_defaults_are_tau1_one_tau2_decaying_from_4_5_and_no_guidance():
    scheduler = CosineScheduler()
    assert series(scheduler, "sample_temp") == [1.0] * T
    assert series(scheduler, "remask_temp") == pytest.approx([4.5 * (1 - r(t)) for t in range(T)])
    assert series(scheduler, "guidance") == [0.0] * T


def test_maskgit_remask_temp_decays_linearly_from_its_start_value():
    got = series(LinearScheduler(remask_temp=1.5), "remask_temp")
    assert got == pytest.approx([1.5 * (1 - r(t)) for t in range(T)])
    assert got[-1] == pytest.approx(0.0)


def test_constant_guidance_is_the_same_at_every_step():
    assert series(CosineScheduler(guidance=2.0), "guidance") == [2.0] * T


def test_linear_guidance_grows_as_w_t_over_T_muse_style():
    got = series(CosineScheduler(guidance=2.5, guidance_schedule="linear"), "guidance")
    assert got == pytest.approx([2.5 * t / T for t in range(T)])
    assert got[0] == 0.0


def test_linear_sample_temp_decays_and_is_floored_like_enat():
    # ENAT's ImageNet-256 sampler: cosine, tau2 = 1.5(1-r), tau1 = max(6(1-r), 1e-3), w = 2.5 t/T.
    enat = CosineScheduler(sample_temp=6.0, sample_temp_schedule="linear", remask_temp=1.5,
                           guidance=2.5, guidance_schedule="linear")
    assert series(enat, "sample_temp") == pytest.approx([max(6 * (1 - r(t)), 1e-3) for t in range(T)])
    assert series(enat, "sample_temp")[-1] == 1e-3
    assert series(enat, "remask_temp") == pytest.approx([1.5 * (1 - r(t)) for t in range(T)])
    assert series(enat, "guidance") == pytest.approx([2.5 * t / T for t in range(T)])


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"sample_temp": -1.0}, "sample_temp"),
        ({"sample_temp": 0.0}, "sample_temp"),
        ({"remask_temp": -0.5}, "remask_temp"),
        ({"guidance": "strong"}, "guidance"),
        ({"guidance": float("inf")}, "guidance"),
        ({"sample_temp_schedule": "cosine"}, "sample_temp_schedule must be one of 'constant', 'linear'"),
        ({"guidance_schedule": "exp"}, "guidance_schedule must be one of 'constant', 'linear'"),
        ({"temperature": 1.0}, "temperature"),
    ],
)
def test_bad_maskgit_parameters_raise_usage_error_naming_them(kwargs, named):
    with pytest.raises(UsageError, match=named):
        CosineScheduler(**kwargs)


# -- AutoNAT -------------------------------------------------------------------------------------
def test_autonat_default_plans_are_the_published_table():
    scheduler = AutoNATScheduler()
    assert series(scheduler, "mask_ratio") == AUTONAT_M + [0.0]
    assert series(scheduler, "remask_temp") == AUTONAT_TAU2 + [0.0]
    assert series(scheduler, "sample_temp") == AUTONAT_TAU1
    assert series(scheduler, "guidance") == AUTONAT_W


@pytest.mark.parametrize("steps", [4, 12])
def test_autonat_without_file_rejects_other_step_counts(steps):
    scheduler = AutoNATScheduler()
    with pytest.raises(UsageError, match=rf"T=8; pass --scheduler-arg file=SCHEDULE.json for T={steps}"):
        scheduler.reset(2, steps)
    with pytest.raises(UsageError):
        scheduler.plan(fake_state(0, steps))


def four_step_schedule() -> Schedule:
    return Schedule(
        steps=4,
        mask_ratio=(0.9, 0.6, 0.25),
        remask_temp=(2.0, 1.0, 0.5),
        sample_temp=(1.5, 1.25, 1.0, 0.75),
        guidance=(0.0, 0.5, 1.0, 1.0 / 3.0),
        source="test",
    )


def test_schedule_file_saved_and_loaded_round_trips_exactly(tmp_path):
    path = tmp_path / "schedule.json"
    original = four_step_schedule()
    original.save(path)
    loaded = Schedule.load(path)
    assert loaded == original
    assert loaded.to_dict() == original.to_dict() == json.loads(path.read_text())
    assert Schedule.from_dict(original.to_dict()) == original
    assert json.loads(path.read_text())["format"] == "adanat-schedule"


def test_schedule_file_drives_its_own_step_count(tmp_path):
    path = tmp_path / "t4.json"
    four_step_schedule().save(path)
    scheduler = AutoNATScheduler(file=str(path))
    assert series(scheduler, "mask_ratio", steps=4) == [0.9, 0.6, 0.25, 0.0]
    assert series(scheduler, "remask_temp", steps=4) == [2.0, 1.0, 0.5, 0.0]
    assert series(scheduler, "sample_temp", steps=4) == [1.5, 1.25, 1.0, 0.75]
    assert series(scheduler, "guidance", steps=4) == [0.0, 0.5, 1.0, 1.0 / 3.0]
    with pytest.raises(UsageError, match="is for T=4"):
        scheduler.reset(2, 8)


def _broken(key: str, value) -> str:
    return json.dumps({**four_step_schedule().to_dict(), key: value})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "does not exist"),
        ('{"format": "adanat-schedule", "steps": 4,', "not valid JSON"),
        (_broken("mask_ratio", [0.9, 0.5]), "'mask_ratio' must be a list of 3 numbers"),
        (_broken("sample_temp", [1.0, 1.0, 1.0]), "'sample_temp' must be a list of 4 numbers"),
        (_broken("mask_ratio", [0.9, 1.0, 0.2]), r"'mask_ratio' entries must lie in \[0, 1\)"),
        (_broken("mask_ratio", [0.9, -0.1, 0.2]), r"'mask_ratio' entries must lie in \[0, 1\)"),
        (_broken("guidance", [0.0, float("nan"), 1.0, 1.0]), "finite"),
        (_broken("remask_temp", [1.0, -1.0, 0.0]), "'remask_temp' entries must be >= 0"),
        (_broken("format", "something-else"), "not an 'adanat-schedule' version 1 schedule"),
    ],
    ids=["missing", "invalid-json", "short-m", "short-tau1", "m-is-1", "m-negative", "nan",
         "negative-tau2", "wrong-format"],
)
def test_bad_schedule_files_raise_usage_error(tmp_path, text, message):
    path = tmp_path / "schedule.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(UsageError, match=message) as caught:
        AutoNATScheduler(file=str(path))
    assert str(path) in str(caught.value)


# -- every registered scheduler -----------------------------------------------------------------
def assert_same_plan(a: StepPlan, b: StepPlan) -> None:
    for name, value in a.values().items():
        assert torch.equal(value, b.values()[name]), name
    assert (a.reveal_order is None) == (b.reveal_order is None)
    if a.reveal_order is not None:
        assert torch.equal(a.reveal_order, b.reveal_order)


def example_kwargs(name: str, folder) -> dict:
    """Constructor arguments for schedulers that cannot be built from defaults alone."""
    if name == "adanat":  # needs a policy file: a small random one whose outputs are not all zero
        from adanat_cli.schedulers.adanat_files import save_policy
        from adanat_cli.schedulers.adanat_network import PolicyNet

        torch.manual_seed(0)
        actor = PolicyNet(FEATURE_DIM, (4, 4), hidden=16, pointwise=4, fc1=16, fc2=8)
        torch.nn.init.normal_(actor.linear3.weight, std=0.5)
        meta = {"feature_dim": FEATURE_DIM, "grid": [4, 4], "steps": T, "residual": True, "model": "test"}
        return {"policy": str(save_policy(folder / "policy.safetensors", actor, meta))}
    return {}


@pytest.mark.parametrize("name", registry.names("schedulers"))
def test_every_registered_scheduler_reloads_with_equal_config_and_plans(name, tmp_path):
    scheduler_class = registry.get("schedulers", name)
    original = scheduler_class(**example_kwargs(name, tmp_path))
    reloaded = scheduler_class.from_dict(json.loads(json.dumps(original.to_dict())))
    assert reloaded.config == original.config
    assert type(reloaded) is type(original)
    for a, b in zip(plans(original, batch=3), plans(reloaded, batch=3)):
        assert_same_plan(a, b)


# -- Halton plugin (used only through the registry, as the host uses it) ---------------------------
def halton(**kwargs):
    try:
        return registry.get("schedulers", "halton")(**kwargs)
    except NotFoundError:
        pytest.fail("the halton plugin is not installed: pip install -e plugins/adanat-halton")


def test_halton_is_discovered_through_its_entry_point():
    found = [ep for ep in entry_points(group="adanat.schedulers") if ep.name == "halton"]
    assert len(found) == 1
    assert found[0].dist is not None and found[0].dist.metadata["Name"] == "adanat-halton"
    assert registry.get("schedulers", "halton") is found[0].load()
    info = {i.name: i for i in registry.infos("schedulers")}["halton"]
    assert info.distribution == "adanat-halton"


@pytest.mark.parametrize("grid", [(4, 4), (16, 16), (24, 24), (3, 5), (8, 2)])
def test_halton_order_is_a_permutation_of_every_cell(grid):
    order = halton().plan(fake_state(0, T, grid=grid)).reveal_order
    n = grid[0] * grid[1]
    assert order.shape == (2, n) and order.dtype == torch.long
    assert sorted(order[0].tolist()) == list(range(n))


def test_halton_order_on_4x4_matches_halton_maskgit():
    # Produced by Halton-MaskGIT's build_halton_mask(4): (row, col) pairs flattened as row * 4 + col.
    order = halton().plan(fake_state(0, T)).reveal_order
    assert order[0].tolist() == [9, 6, 12, 1, 11, 4, 14, 3, 8, 5, 0, 7, 13, 2, 15, 10]


@pytest.mark.parametrize("steps", [1, 4, 8, 16, 40])
def test_halton_revealed_counts_rise_and_end_at_all_tokens(steps):
    n = 16
    counts = [n - round(p.mask_ratio[0].item() * n) for p in plans(halton(), steps)]
    assert counts[-1] == n
    assert all(b >= a for a, b in zip(counts, counts[1:]))
    assert all(c >= min(t + 1, n) for t, c in enumerate(counts))
    expected = [min(n, max(t + 1, int((1 - math.acos((t + 1) / steps) / (math.pi / 2)) * n)))
                for t in range(steps)]
    assert counts == expected


def test_halton_plan_has_no_gumbel_noise_and_constant_tau1_and_guidance():
    scheduler = halton(sample_temp=0.8, guidance=3.0)
    assert series(scheduler, "remask_temp") == [0.0] * T
    assert series(scheduler, "sample_temp") == [0.8] * T
    assert series(scheduler, "guidance") == [3.0] * T


def test_halton_unrandomized_order_is_shared_and_fixed_across_steps():
    orders = [p.reveal_order for p in plans(halton(), batch=3)]
    assert all(torch.equal(o, orders[0]) for o in orders)
    assert torch.equal(orders[0][0], orders[0][1])


def test_halton_randomize_rolls_per_seed_independently_of_the_batch():
    scheduler = halton(randomize=True)
    base = halton().plan(fake_state(0, T, batch=1)).reveal_order[0]
    batch = scheduler.plan(fake_state(0, T, batch=8, seeds=list(range(8)))).reveal_order
    assert len({tuple(row.tolist()) for row in batch}) > 1
    rolls = [[s for s in range(16) if torch.equal(base.roll(s), row)] for row in batch]
    assert all(len(r) == 1 for r in rolls)  # every row is the base order rolled
    alone = scheduler.plan(fake_state(0, T, batch=1, seeds=[5])).reveal_order[0]
    mixed = scheduler.plan(fake_state(0, T, batch=3, seeds=[9, 5, 5])).reveal_order
    assert torch.equal(alone, batch[5])
    assert torch.equal(mixed[1], alone) and torch.equal(mixed[2], alone)
    later = scheduler.plan(fake_state(T - 1, T, batch=8, seeds=list(range(8)))).reveal_order
    assert torch.equal(later, batch)


@pytest.mark.parametrize("kwargs", [{"randomize": "maybe"}, {"sample_temp": -1.0}, {"guidance": "x"}])
def test_bad_halton_parameters_raise_usage_error(kwargs):
    with pytest.raises(UsageError, match=next(iter(kwargs))):
        halton(**kwargs)
