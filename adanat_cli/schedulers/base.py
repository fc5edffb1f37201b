"""The Scheduler protocol: ``plan(state) -> StepPlan``, with configs that round-trip.

A scheduler's constructor keyword arguments *are* its config (``Configurable`` records them in
``self.config``); ``to_dict``/``from_dict`` and ``save`` (JSON) round-trip them. Subclasses set
``name`` (the registry name) and a one-line ``description``; schedulers that read the backbone's
features set ``uses_features = True``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, NoReturn

from ..configurable import Configurable
from ..errors import UsageError
from ..io import write_text_atomic
from .state import GenerationState, StepPlan


class Scheduler(Configurable):
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    uses_features: ClassVar[bool] = False
    # What guidance pushes away from (``schedulers.guidance_target``); schedulers that take these
    # as config set them per instance. The defaults are plain guidance against the empty prompt.
    negative_prompt: str = ""
    negative_share: float = 1.0
    negative_guidance: float = 0.0

    @classmethod
    def bad_arguments(cls, err: TypeError) -> NoReturn:
        message = str(err).replace("__init__() ", "")
        raise UsageError(f"scheduler '{cls.name or cls.__name__}': {message}") from None

    def __init__(self) -> None:
        pass

    # -- the protocol -----------------------------------------------------------------------------
    def reset(self, batch: int, steps: int) -> None:
        """Called once before a generation; override to validate ``steps`` or allocate state."""

    def plan(self, state: GenerationState) -> StepPlan:
        raise NotImplementedError

    # -- config round trip ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"scheduler": self.name, "config": dict(self.config)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Scheduler":
        name = data.get("scheduler", cls.name)
        if cls.name and name != cls.name:
            raise UsageError(f"config is for scheduler '{name}', not '{cls.name}'")
        return cls(**data.get("config", {}))

    def save(self, path: str | Path) -> None:
        write_text_atomic(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"{type(self).__name__}({args})"
