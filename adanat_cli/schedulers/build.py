"""Building a scheduler from its registry name and user-given settings."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..io import read_json_object
from ..registry import registry
from .base import Scheduler


def parse_scheduler_args(pairs: list[str]) -> dict[str, Any]:
    """``["key=value", ...]`` -> kwargs; values are read as JSON when they parse, else as strings."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise UsageError(f"malformed --scheduler-arg '{pair}': expected key=value")
        try:
            parsed[key] = json.loads(raw)
        except json.JSONDecodeError:
            parsed[key] = raw
    return parsed


def read_scheduler_config(path: Path) -> tuple[str | None, dict[str, Any]]:
    """A scheduler config file: ``{"scheduler": name, "config": {...}}`` (as ``Scheduler.save`` writes)
    or a flat object of kwargs."""
    data = read_json_object(Path(path), "scheduler config", UsageError)
    if "config" in data:
        if not isinstance(data["config"], dict):
            raise UsageError(f"scheduler config {path}: 'config' must be an object")
        return data.get("scheduler"), dict(data["config"])
    return None, data


def build_scheduler(
    name: str | None,
    args: dict[str, Any] | None = None,
    config_file: Path | None = None,
    recommended: dict[str, Any] | None = None,
    defaults_for: Callable[[str], dict[str, Any]] | None = None,
) -> Scheduler:
    """Instantiate a registered scheduler.

    The name comes from ``name``, else the config file, else ``recommended["scheduler"]`` (a model
    bundle's recommendation, whose ``scheduler_config`` then gives defaults). Values are layered:
    recommended defaults < ``defaults_for(name)`` (e.g. a schedule file a bundle ships for this T)
    < config file < explicit ``args``.
    """
    recommended = recommended or {}
    file_name, file_kwargs = (None, {}) if config_file is None else read_scheduler_config(config_file)
    if name is not None and file_name is not None and file_name != name:
        raise UsageError(f"{config_file} configures scheduler '{file_name}', not '{name}'")
    name = name or file_name or recommended.get("scheduler")
    if name is None:
        raise UsageError("no scheduler given: pass --scheduler NAME")
    kwargs: dict[str, Any] = {}
    if name == recommended.get("scheduler"):
        kwargs.update(recommended.get("scheduler_config", {}))
    if defaults_for is not None:
        kwargs.update(defaults_for(name))
    kwargs.update(file_kwargs)
    kwargs.update(args or {})
    cls = registry.get("schedulers", name)
    if not (isinstance(cls, type) and issubclass(cls, Scheduler)):
        raise UsageError(f"scheduler plugin '{name}' does not implement the Scheduler protocol")
    return cls(**kwargs)
