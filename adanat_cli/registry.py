"""Plugin discovery through entry points.

Every plugin group (schedulers, backbones, tokenizers, rewards, feature extractors, text encoders) is
read from ``importlib.metadata.entry_points``; the built-ins are declared in our own ``pyproject.toml``
exactly like a third-party plugin. A plugin that fails to import is recorded in ``broken`` and skipped, so one
bad distribution never breaks the host.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from .errors import NotFoundError

GROUPS = {
    "schedulers": "adanat.schedulers",
    "backbones": "adanat.backbones",
    "tokenizers": "adanat.tokenizers",
    "rewards": "adanat.rewards",
    "feature_extractors": "adanat.feature_extractors",
    "text_encoders": "adanat.text_encoders",
}


@dataclass(frozen=True)
class PluginInfo:
    name: str
    group: str
    distribution: str
    version: str
    description: str
    target: str


@dataclass(frozen=True)
class BrokenPlugin:
    name: str
    group: str
    distribution: str
    error: str


class Registry:
    """Loaded plugins of every group. ``extra`` lets tests register fakes without installing them."""

    def __init__(self) -> None:
        self._loaded: dict[str, dict[str, Any]] = {}
        self._info: dict[str, dict[str, PluginInfo]] = {}
        self.broken: list[BrokenPlugin] = []
        self._extra: dict[str, dict[str, tuple[Any, PluginInfo]]] = {}

    def register(self, kind: str, name: str, obj: Any, distribution: str = "(registered)") -> None:
        """Add a plugin by hand (tests, notebooks). It shadows an entry point of the same name."""
        group = GROUPS[kind]
        info = PluginInfo(name, group, distribution, "", _describe(obj), _target(obj))
        self._extra.setdefault(kind, {})[name] = (obj, info)
        self._loaded.pop(kind, None)

    def unregister(self, kind: str, name: str) -> None:
        self._extra.get(kind, {}).pop(name, None)
        self._loaded.pop(kind, None)

    def _load(self, kind: str) -> None:
        if kind in self._loaded:
            return
        group = GROUPS[kind]
        loaded: dict[str, Any] = {}
        infos: dict[str, PluginInfo] = {}
        self.broken = [b for b in self.broken if b.group != group]
        for ep in sorted(entry_points(group=group), key=lambda e: e.name):
            dist, version = _distribution(ep)
            try:
                obj = ep.load()
            except Exception as err:  # noqa: BLE001 - a broken plugin must never crash the host
                self.broken.append(BrokenPlugin(ep.name, group, dist, f"{type(err).__name__}: {err}"))
                continue
            loaded[ep.name] = obj
            infos[ep.name] = PluginInfo(ep.name, group, dist, version, _describe(obj), ep.value)
        for name, (obj, info) in self._extra.get(kind, {}).items():
            loaded[name] = obj
            infos[name] = info
        self._loaded[kind] = loaded
        self._info[kind] = infos

    def names(self, kind: str) -> list[str]:
        self._load(kind)
        return sorted(self._loaded[kind])

    def get(self, kind: str, name: str) -> Any:
        self._load(kind)
        try:
            return self._loaded[kind][name]
        except KeyError:
            broken = [b for b in self.broken if b.group == GROUPS[kind] and b.name == name]
            if broken:
                raise NotFoundError(
                    f"{_singular(kind)} '{name}' is installed but failed to load: {broken[0].error}"
                ) from None
            raise NotFoundError(unknown_name_message(_singular(kind), name, self.names(kind))) from None

    def infos(self, kind: str) -> list[PluginInfo]:
        self._load(kind)
        return [self._info[kind][n] for n in sorted(self._info[kind])]

    def refresh(self) -> None:
        self._loaded.clear()
        self._info.clear()


def unknown_name_message(what: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    listing = f" (known: {', '.join(known)})" if known and not close else ""
    return f"unknown {what} '{name}'{hint}{listing}"


def _singular(kind: str) -> str:
    return kind[:-1].replace("_", " ")


def _distribution(ep: EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "?", ""
    return dist.metadata["Name"], dist.version


def _describe(obj: Any) -> str:
    text = getattr(obj, "description", "") or (obj.__doc__ or "")
    return text.strip().splitlines()[0] if text.strip() else ""


def _target(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"


registry = Registry()
"""The process-wide registry every command uses."""
