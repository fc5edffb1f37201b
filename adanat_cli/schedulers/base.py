"""The Scheduler protocol: ``plan(state) -> StepPlan``, with configs that round-trip.

A scheduler's constructor keyword arguments *are* its config: ``Scheduler.__init_subclass__`` wraps
``__init__`` so that the bound arguments are stored in ``self.config``; ``to_dict``/``from_dict`` and
``save``/``load`` (JSON) round-trip them. Subclasses set ``name`` (the registry name) and a one-line
``description``; schedulers that read the backbone's features set ``uses_features = True``.
"""

from __future__ import annotations

import functools
import inspect
import json
from pathlib import Path
from typing import Any, ClassVar

from ..engine.state import GenerationState, StepPlan
from ..errors import UsageError


class Scheduler:
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    uses_features: ClassVar[bool] = False

    config: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        init = cls.__dict__["__init__"]
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self: Scheduler, *args: Any, **kw: Any) -> None:
            try:
                bound = signature.bind(self, *args, **kw)
            except TypeError as err:
                raise UsageError(f"scheduler '{cls.name}': {err}") from None
            bound.apply_defaults()
            if "config" not in self.__dict__:  # the outermost __init__ owns the config
                self.config = {k: v for k, v in bound.arguments.items() if k != "self"}
            init(self, *args, **kw)

        cls.__init__ = recording_init  # type: ignore[method-assign]

    def __init__(self) -> None:
        self.config = {}

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
        from ..io import write_text_atomic

        write_text_atomic(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"{type(self).__name__}({args})"
