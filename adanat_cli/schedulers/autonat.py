"""AutoNAT's searched per-step policy, read from a schedule file.

A schedule file is JSON::

    {"format": "adanat-schedule", "version": 1, "steps": T,
     "mask_ratio":  [T-1 floats in [0, 1)],  # fraction still masked after steps 0 .. T-2
     "remask_temp": [T-1 floats >= 0],       # tau2 for steps 0 .. T-2
     "sample_temp": [T floats > 0],          # tau1 for every step
     "guidance":    [T floats],              # w for every step
     "source": "where the numbers come from"}

The last step unmasks everything, so it has no mask ratio and no re-masking temperature.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from ..errors import UsageError
from ..io import read_json_object, write_text_atomic
from .base import Scheduler
from .state import GenerationState, StepPlan

FORMAT = "adanat-schedule"
VERSION = 1
PUBLISHED_TABLE = "autonat_L_imagenet256_T8.json"
_PER_STEP = ("sample_temp", "guidance")  # T entries
_BEFORE_LAST = ("mask_ratio", "remask_temp")  # T-1 entries
_KEYS = {"format", "version", "steps", "source", *_PER_STEP, *_BEFORE_LAST}


def _floats(key: str, values: Any, length: int, steps: int) -> tuple[float, ...]:
    if not isinstance(values, (list, tuple)) or len(values) != length:
        got = f"{len(values)} entries" if isinstance(values, (list, tuple)) else repr(values)
        raise UsageError(f"'{key}' must be a list of {length} numbers for steps={steps}, got {got}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise UsageError(f"'{key}' must hold only numbers, got {list(values)!r}")
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f"'{key}' must hold only finite numbers, got {list(values)!r}")
    return tuple(float(v) for v in values)


@dataclass(frozen=True)
class Schedule:
    """One value per step for each of the four policy parameters (see the module docstring)."""

    steps: int
    mask_ratio: tuple[float, ...]
    remask_temp: tuple[float, ...]
    sample_temp: tuple[float, ...]
    guidance: tuple[float, ...]
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "steps": self.steps,
            **{key: list(getattr(self, key)) for key in (*_BEFORE_LAST, *_PER_STEP)},
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Any) -> "Schedule":
        if not isinstance(data, dict):
            raise UsageError(f"a schedule must be a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            found = f"format={data.get('format')!r}, version={data.get('version')!r}"
            raise UsageError(f"not an '{FORMAT}' version {VERSION} schedule ({found})")
        unknown, missing = set(data) - _KEYS, _KEYS - {"source"} - set(data)
        if unknown or missing:
            named = (("unknown", unknown), ("missing", missing))
            raise UsageError("; ".join(f"{what} keys {sorted(keys)}" for what, keys in named if keys))
        steps = data["steps"]
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise UsageError(f"'steps' must be a positive integer, got {steps!r}")
        values = {key: _floats(key, data[key], steps, steps) for key in _PER_STEP}
        values |= {key: _floats(key, data[key], steps - 1, steps) for key in _BEFORE_LAST}
        if not all(0.0 <= m < 1.0 for m in values["mask_ratio"]):
            raise UsageError(f"'mask_ratio' entries must lie in [0, 1), got {list(values['mask_ratio'])}")
        if not all(v > 0.0 for v in values["sample_temp"]):
            raise UsageError(f"'sample_temp' entries must be > 0, got {list(values['sample_temp'])}")
        if not all(v >= 0.0 for v in values["remask_temp"]):
            raise UsageError(f"'remask_temp' entries must be >= 0, got {list(values['remask_temp'])}")
        return cls(steps=steps, source=str(data.get("source", "")), **values)

    @classmethod
    def load(cls, path: str | Path) -> "Schedule":
        path = Path(path)
        data = read_json_object(path, "schedule file", UsageError)
        try:
            return cls.from_dict(data)
        except UsageError as err:
            raise UsageError(f"schedule file {path}: {err}") from None

    def save(self, path: str | Path) -> None:
        write_text_atomic(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")


@functools.cache
def published_schedule() -> Schedule:
    """The AutoNAT-L ImageNet-256 T=8 table shipped with the package."""
    text = (resources.files(__package__) / "tables" / PUBLISHED_TABLE).read_text("utf-8")
    return Schedule.from_dict(json.loads(text))


class AutoNATScheduler(Scheduler):
    """AutoNAT (Ni et al., "Revisiting Non-Autoregressive Transformers for Efficient Image
    Synthesis", CVPR 2024): a per-step table of mask ratio, both temperatures and guidance, found by
    gradient search on FID. Step t uses the table's t-th entries; the last step unmasks everything.
    By default the published AutoNAT-L ImageNet-256 table for T=8; ``file`` names a schedule file
    (format in this module's docstring) for another model or number of steps, and ``table`` gives the
    same content inline (the schedule search uses it).
    """

    name: ClassVar[str] = "autonat"
    description: ClassVar[str] = "AutoNAT's searched per-step table (AutoNAT-L T=8, or file=SCHEDULE.json)."

    def __init__(self, file: str | None = None, table: dict[str, Any] | None = None) -> None:
        if file is not None and table is not None:
            raise UsageError("autonat takes a schedule file or an inline table, not both")
        self.file = file
        if table is not None:
            self.schedule = Schedule.from_dict(table)
        else:
            self.schedule = published_schedule() if file is None else Schedule.load(file)

    def reset(self, batch: int, steps: int) -> None:
        self._check_steps(steps)

    def plan(self, state: GenerationState) -> StepPlan:
        self._check_steps(state.steps)
        table, t = self.schedule, state.step
        last = t == table.steps - 1
        return StepPlan.constant(
            state.batch,
            mask_ratio=0.0 if last else table.mask_ratio[t],
            sample_temp=table.sample_temp[t],
            remask_temp=0.0 if last else table.remask_temp[t],
            guidance=table.guidance[t],
            device=state.device,
        )

    def _check_steps(self, steps: int) -> None:
        if steps == self.schedule.steps:
            return
        if self.file is not None:
            table = f"schedule file {self.file}"
        else:
            table = "the inline schedule" if self.config.get("table") else "the published AutoNAT table"
        raise UsageError(
            f"{table} is for T={self.schedule.steps}; "
            f"pass --scheduler-arg file=SCHEDULE.json for T={steps}"
        )
