"""Where ``train-policy``'s settings come from: the paper, the model's recipe, a run being resumed, the user.

A bundle may record, under ``training_recipes`` in its config.json, the exact settings that trained
each shipped policy (keyed by the number of steps). Layers, each overriding the one before:

1. the paper's settings (``TrainSettings()``'s defaults);
2. the model's recipe for the requested number of steps, if it has one;
3. when resuming, the settings the run was started with (its ``settings.json``);
4. every option given on the command line.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .ppo import TrainSettings

RECIPES_KEY = "training_recipes"
SETTING_NAMES = frozenset(f.name for f in fields(TrainSettings))


def recipe_for(bundle_config: dict[str, Any], steps: int) -> dict[str, Any] | None:
    """The model's recorded settings for a ``steps``-step policy, or None."""
    recipe = (bundle_config.get(RECIPES_KEY) or {}).get(str(steps))
    if recipe is None:
        return None
    unknown = sorted(set(recipe) - SETTING_NAMES)
    if unknown:
        raise UsageError(f"the model's T={steps} training recipe has unknown settings: {', '.join(unknown)}")
    return dict(recipe)


def recipe_steps(bundle_config: dict[str, Any]) -> list[int]:
    return sorted(int(k) for k in (bundle_config.get(RECIPES_KEY) or {}))


def default_steps(bundle_config: dict[str, Any], recommended_steps: int | None) -> int:
    """Steps when ``--steps`` is not given: the recommended T if it has a recipe, else the largest T with
    a recipe, else the recommended T, else 8 (the paper's main setting)."""
    have = recipe_steps(bundle_config)
    if recommended_steps in have or (not have and recommended_steps):
        return int(recommended_steps)  # type: ignore[arg-type]
    return have[-1] if have else 8


def saved_settings(run: Path) -> dict[str, Any]:
    """The settings a run folder was started with (empty when it has none)."""
    file = Path(run) / "settings.json"
    if not file.is_file():
        return {}
    try:
        saved = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot read {file}: {err}") from None
    if not isinstance(saved, dict):
        raise UsageError(f"{file} is not a JSON object")
    return {k: v for k, v in saved.items() if k in SETTING_NAMES}


def saved_model(run: Path) -> str | None:
    """The model a run folder's policy was trained for, or None: its ``settings.json`` records it from
    the first update (runs from before that: the ``model`` of its exported policy, final or best)."""
    for name in ("settings.json", "policy.json", "best.json"):
        try:
            model = json.loads((Path(run) / name).read_text(encoding="utf-8")).get("model")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(model, str) and model:
            return model
    return None


def resolve_settings(
    steps: int,
    recipe: dict[str, Any] | None,
    resumed: dict[str, Any] | None,
    given: dict[str, Any],
) -> tuple[TrainSettings, str]:
    """Merge the layers; returns the settings and a short phrase naming where the defaults came from."""
    merged = asdict(TrainSettings())
    source = "the paper's settings"
    if recipe:
        # a recipe from a fine-tuning run names the file it started from, a path on the machine that
        # trained it: a record of the run, never a default for a new one
        merged.update({k: v for k, v in recipe.items() if k != "init_policy"})
        source = "the model's recipe"
    if resumed:
        merged.update(resumed)
        source = "the resumed run's settings"
    options_for = merged["reward"]
    merged.update({k: v for k, v in given.items() if v is not None})
    if given.get("reward_options") is None and merged["reward"] != options_for:
        merged["reward_options"] = {}  # a recipe's reward options belong to the recipe's reward
    merged["steps"] = steps
    return TrainSettings(**merged), source


def next_run_folder(root: Path, model: str, steps: int) -> Path:
    """``root/<model>-T<steps>-<n>`` with the smallest n ≥ 1 that does not exist yet."""
    stem = f"{_safe(model)}-T{steps}"
    n = 1
    while (root / f"{stem}-{n}").exists():
        n += 1
    return root / f"{stem}-{n}"


def latest_run_folder(root: Path, model: str, steps: int) -> Path | None:
    """The highest-numbered ``root/<model>-T<steps>-<n>`` run folder, if any."""
    stem = f"{_safe(model)}-T{steps}-"
    found = []
    if root.is_dir():
        for child in root.iterdir():
            suffix = child.name[len(stem):]
            if child.name.startswith(stem) and suffix.isdigit() and child.is_dir():
                found.append((int(suffix), child))
    return max(found)[1] if found else None


def _safe(name: str) -> str:
    """A model name or bundle path as a folder-name fragment."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(name).name) or "model"
