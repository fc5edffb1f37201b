"""Objects whose constructor keyword arguments are their config (the idea of diffusers' ``ConfigMixin``).

A subclass of ``Configurable`` writes an ordinary ``__init__``; ``__init_subclass__`` wraps it so the
bound arguments, defaults applied, land in ``self.config`` before the body runs. Saving an object is
then ``{"type": registry name, "config": obj.config}`` and rebuilding it is ``cls(**config)``, for
schedulers, backbones, tokenizers and the policy network alike. When subclasses chain ``__init__``
calls, the outermost one (the class actually built) owns the config.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, NoReturn


class Configurable:
    config: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "_records_config", False):
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self: Configurable, *args: Any, **kw: Any) -> None:
            if "config" not in self.__dict__:  # the outermost __init__ owns the config
                try:
                    bound = signature.bind(self, *args, **kw)
                except TypeError as err:
                    type(self).bad_arguments(err)
                bound.apply_defaults()
                config = {k: _plain(v) for k, v in bound.arguments.items() if k != "self"}
                object.__setattr__(self, "config", config)  # before nn.Module.__init__ may run
            init(self, *args, **kw)

        recording_init._records_config = True  # type: ignore[attr-defined]
        cls.__init__ = recording_init  # type: ignore[method-assign]

    @classmethod
    def bad_arguments(cls, err: TypeError) -> NoReturn:
        """Called when the constructor's arguments do not bind; subclasses turn it into their error."""
        raise err


def _plain(value: Any) -> Any:
    """Tuples become lists, as they come back from JSON, so a config equals its own round trip."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
