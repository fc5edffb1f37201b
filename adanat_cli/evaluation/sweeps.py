"""Parameter sweeps in ``adanat compare``: ``-a cosine:guidance=0,0.5,1`` gives one row per value.

A value with commas (and not a JSON list or object) is a sweep; several swept keys of one scheduler
give every combination. A row is named by its scheduler and the swept values
(``cosine[guidance=0.5]``); rows without a sweep keep the scheduler's name.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from ..schedulers.build import parse_scheduler_args


@dataclass(frozen=True)
class Variant:
    """One row of a comparison: a scheduler with its arguments."""

    scheduler: str
    args: dict[str, Any]
    swept: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if not self.swept:
            return self.scheduler
        return f"{self.scheduler}[{','.join(f'{k}={_text(v)}' for k, v in self.swept.items())}]"


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _is_sweep(raw: str) -> bool:
    raw = raw.strip()
    return "," in raw and not raw.startswith(("[", "{", '"'))


def expand(scheduler: str, pairs: list[str]) -> list[Variant]:
    """The rows that ``--scheduler-arg`` pairs (``key=value``, already split by scheduler) ask for."""
    fixed: list[str] = []
    sweeps: dict[str, list[Any]] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if sep and _is_sweep(raw):
            values = [v.strip() for v in raw.split(",")]
            if any(not v for v in values):
                raise UsageError(f"--scheduler-arg '{scheduler}:{pair}': a sweep takes a comma list without empty values")
            parsed = [parse_scheduler_args([f"{key}={v}"]) for v in values]
            name = next(iter(parsed[0]))
            if name in sweeps:
                raise UsageError(f"--scheduler-arg: '{name}' of {scheduler} is swept twice")
            sweeps[name] = [p[name] for p in parsed]
        else:
            fixed.append(pair)
    base = parse_scheduler_args(fixed)
    clash = sorted(set(base) & set(sweeps))
    if clash:
        raise UsageError(f"--scheduler-arg: '{clash[0]}' of {scheduler} is both fixed and swept")
    if not sweeps:
        return [Variant(scheduler, base)]
    keys = list(sweeps)
    return [Variant(scheduler, {**base, **dict(zip(keys, combo))}, dict(zip(keys, combo)))
            for combo in itertools.product(*(sweeps[k] for k in keys))]


LOWER_IS_BETTER = {"fid": True, "precision": False, "recall": False, "class_accuracy": False,
                   "class_agreement": False, "attribute_agreement": False}


def best_rows(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, str]]]:
    """For each swept family (a scheduler with more than one row at a T): the best row's label per
    metric, as ``{family: {"T": {metric: label}}}``."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["scheduler"], row["steps"]), []).append(row)
    best: dict[str, dict[str, dict[str, str]]] = {}
    for (family, steps), members in groups.items():
        if len(members) < 2:
            continue
        for metric, lower in LOWER_IS_BETTER.items():
            scored = [m for m in members if m.get(metric) is not None]
            if scored:
                pick = (min if lower else max)(scored, key=lambda m: m[metric])
                best.setdefault(family, {}).setdefault(str(steps), {})[metric] = pick["label"]
    return best
