"""AutoNAT's schedule search (REFERENCE §1): finite-difference SGD on FID over a static schedule.

The parameters are the schedule's entries, laid out as [m (T-1), τ2 (T-1), τ1 (T), w (T)]. Each
update estimates the gradient of FID by one-sided finite differences (δ = 0.01 for m, 0.1 for the
others), takes an SGD-with-momentum step (momentum 0.5, lr 1e-3 for m, 0.1 for the others; v = μv + g,
θ -= lr·v, as torch.optim.SGD), and clamps m to [0, 0.99] and the others to ≥ 1e-4. Every FID uses
the same seeds (common random numbers), so differences measure the schedule, not the noise.

The search state is saved atomically after every update; ``resume`` continues from it exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import OutputExistsError, UsageError
from ..io import read_json_object, write_text_atomic
from .autonat import AutoNATScheduler, Schedule
from .base import Scheduler
from .state import GenerationState

STATE_FORMAT = "adanat-schedule-search"


@dataclass
class SearchSettings:
    steps: int
    updates: int = 100
    delta_mask: float = 0.01
    delta: float = 0.1
    lr_mask: float = 1e-3
    lr: float = 0.1
    momentum: float = 0.5


@dataclass
class SearchState:
    settings: SearchSettings
    theta: list[float]
    velocity: list[float]
    update: int = 0
    best_fid: float = math.inf
    best_theta: list[float] = field(default_factory=list)
    start: dict[str, Any] = field(default_factory=dict)
    best_measures: dict[str, float] = field(default_factory=dict)  # what else was measured with the best FID


def layout(steps: int) -> dict[str, slice]:
    n = steps - 1
    return {
        "mask_ratio": slice(0, n),
        "remask_temp": slice(n, 2 * n),
        "sample_temp": slice(2 * n, 2 * n + steps),
        "guidance": slice(2 * n + steps, 2 * n + 2 * steps),
    }


def to_schedule(theta: np.ndarray | list[float], steps: int, source: str) -> Schedule:
    parts = layout(steps)
    values = {k: tuple(float(v) for v in np.asarray(theta)[s]) for k, s in parts.items()}
    return Schedule(steps=steps, source=source, **values)


def theta_from_scheduler(scheduler: Scheduler, steps: int) -> np.ndarray:
    """A static scheduler's plan values at ``steps``, as the search's starting point."""
    scheduler.reset(1, steps)
    plans = []
    for t in range(steps):
        state = GenerationState(t, steps, torch.zeros(1, 1, dtype=torch.long), torch.ones(1, 1, dtype=torch.bool),
                                torch.zeros(1, dtype=torch.long), (1, 1), [0])
        plans.append(scheduler.plan(state))
    value = lambda p, k: float(getattr(p, k)[0])  # noqa: E731
    theta = [value(p, "mask_ratio") for p in plans[:-1]] + [value(p, "remask_temp") for p in plans[:-1]]
    theta += [value(p, "sample_temp") for p in plans] + [value(p, "guidance") for p in plans]
    return clamp(np.asarray(theta), steps)


def clamp(theta: np.ndarray, steps: int) -> np.ndarray:
    theta = np.maximum(theta, 1e-4)
    m = layout(steps)["mask_ratio"]
    theta[m] = np.clip(theta[m], 0.0, 0.99)
    return theta


def per_parameter(steps: int, mask_value: float, other: float) -> np.ndarray:
    values = np.full(4 * steps - 2, other)
    values[layout(steps)["mask_ratio"]] = mask_value
    return values


def scheduler_for(theta: np.ndarray, steps: int) -> AutoNATScheduler:
    return AutoNATScheduler(table=to_schedule(theta, steps, "search candidate").to_dict())


# evaluate(scheduler, with_measures) -> FID, or (FID, other measures)
Evaluation = Callable[[Scheduler, bool], float | tuple[float, dict[str, float]]]


class ScheduleSearch:
    """Runs updates; ``evaluate(scheduler, with_measures)`` is supplied by the caller (same seeds each
    time) and returns the FID, or (FID, other measures). Other measures (a text model's caption
    alignment, say) are asked for (``with_measures`` True) on each update's base schedule only, and
    logged beside its FID; the probes need their FID alone, and only the FID is optimised."""

    def __init__(self, state: SearchState, evaluate: Evaluation, state_path: Path, log_path: Path):
        self.state, self.evaluate = state, evaluate
        self.state_path, self.log_path = state_path, log_path

    @classmethod
    def start(cls, settings: SearchSettings, theta0: np.ndarray, start: dict, evaluate, out: Path,
              resume: bool, overwrite: bool) -> "ScheduleSearch":
        state_path, log_path = paths(out)
        if state_path.exists() and resume:
            state = load_state(state_path, settings.steps)
            _check_same_images(state.start, start, state_path)
            state.settings.updates = settings.updates  # a resumed search may be extended
            return cls(state, evaluate, state_path, log_path)
        if resume:
            raise UsageError(f"nothing to resume: {state_path} does not exist")
        if (state_path.exists() or Path(out).exists()) and not overwrite:
            raise OutputExistsError(f"{out} or its search state exists; pass --resume or --overwrite")
        log_path.unlink(missing_ok=True)
        theta0 = list(map(float, theta0))
        return cls(SearchState(settings, theta0, [0.0] * len(theta0), start=start), evaluate, state_path, log_path)

    def run(self, on_eval: Callable[[], None] | None = None) -> SearchState:
        s = self.state
        settings = s.settings
        deltas = per_parameter(settings.steps, settings.delta_mask, settings.delta)
        rates = per_parameter(settings.steps, settings.lr_mask, settings.lr)
        while s.update < settings.updates:
            theta = np.asarray(s.theta)
            base, measures = _split(self.evaluate(scheduler_for(theta, settings.steps), True))
            _tick(on_eval)
            if base < s.best_fid:
                s.best_fid, s.best_theta, s.best_measures = base, list(map(float, theta)), measures
            grad = np.zeros_like(theta)
            for i in range(len(theta)):
                probe = theta.copy()
                probe[i] += deltas[i]
                probe = clamp(probe, settings.steps)
                step = probe[i] - theta[i]
                probed = _split(self.evaluate(scheduler_for(probe, settings.steps), False))[0]
                grad[i] = 0.0 if step == 0 else (probed - base) / step
                _tick(on_eval)
            velocity = settings.momentum * np.asarray(s.velocity) + grad
            s.theta = list(map(float, clamp(theta - rates * velocity, settings.steps)))
            s.velocity = list(map(float, velocity))
            s.update += 1
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps({"update": s.update, "fid": base, **measures, "best_fid": s.best_fid,
                                      "grad_norm": float(np.linalg.norm(grad)), "theta": list(map(float, theta))}) + "\n")
            save_state(self.state_path, s)
        return s


# what fixes the images every FID is measured on: a resumed search that changed one would compare its
# new FIDs with FIDs of other images
_SAME_IMAGES = {"model": "--model", "num": "--num", "seed": "--seed", "captions_sha256": "--captions"}


def _check_same_images(recorded: dict[str, Any], now: dict[str, Any], state_path: Path) -> None:
    for key, option in _SAME_IMAGES.items():
        if key in recorded and recorded.get(key) != now.get(key):
            was = "other captions" if key == "captions_sha256" else f"{option} {recorded[key]}"
            raise UsageError(f"{state_path} is a search on {was}; resume it with the same {option}, "
                             "or start afresh with --overwrite")


def _split(value: float | tuple[float, dict[str, float]]) -> tuple[float, dict[str, float]]:
    if isinstance(value, tuple):
        fid, measures = value
        return float(fid), {k: float(v) for k, v in measures.items()}
    return float(value), {}


def _tick(callback: Callable[[], None] | None) -> None:
    if callback is not None:
        callback()


def paths(out: Path) -> tuple[Path, Path]:
    out = Path(out)
    return out.with_name(out.name + ".state.json"), out.with_name(out.name + ".log.jsonl")


def _digest(content: dict) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, allow_nan=False).encode()).hexdigest()


def save_state(path: Path, state: SearchState) -> None:
    """The state, with the SHA-256 of its content, so that a damaged file is not resumed from."""
    content = {"format": STATE_FORMAT, **asdict(state)}
    try:
        text = json.dumps({**content, "sha256": _digest(content)}, indent=1, allow_nan=False)
    except ValueError:
        raise UsageError("the search diverged: its values are no longer finite; lower --lr / --lr-mask") from None
    write_text_atomic(path, text + "\n")


def load_state(path: Path, steps: int) -> SearchState:
    data = read_json_object(path, "search state", UsageError)
    if data.get("format") != STATE_FORMAT:
        raise UsageError(f"{path} is not a schedule-search state file")
    recorded = data.pop("sha256", None)
    try:
        intact = recorded is None or recorded == _digest(data)  # None: written before states were sealed
    except ValueError:  # NaN or infinity
        intact = False
    if not intact:
        raise UsageError(f"{path} is damaged (its content does not match its SHA-256); start afresh with --overwrite")
    try:
        settings = SearchSettings(**data["settings"])
    except (KeyError, TypeError) as err:
        raise UsageError(f"{path} is not a complete schedule-search state ({err})") from None
    if settings.steps != steps:
        raise UsageError(f"{path} is a search for T={settings.steps}, not T={steps}")
    fields = {k: data[k] for k in ("theta", "velocity", "update", "best_fid", "best_theta", "start")}
    return SearchState(settings=settings, best_measures=data.get("best_measures", {}), **fields)
