"""User-facing failures become one ``Error: ...`` line on stderr and an exit code; ``--debug`` (or
ADANAT_DEBUG=1) shows the traceback instead."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable

from ..errors import AdanatError

_debug = False


def set_debug(enabled: bool) -> None:
    global _debug
    _debug = enabled


def debug_enabled() -> bool:
    return _debug or os.environ.get("ADANAT_DEBUG", "") not in ("", "0")


def run_script(action: Callable[[], object]) -> int:
    """Run a ``python -m`` script's work with the CLI's error mapping; returns the exit code."""
    try:
        result = action()
    except BaseException as err:  # noqa: BLE001 - every failure ends as one line and an exit code
        return report(err)
    if result is not None:
        print(result)
    return 0


def report(err: BaseException) -> int:
    """Print ``err`` for a user and return the exit code to use."""
    if debug_enabled():
        traceback.print_exception(err, file=sys.stderr)
    if isinstance(err, AdanatError):
        print(f"Error: {err}", file=sys.stderr)
        return err.exit_code
    if isinstance(err, KeyboardInterrupt):
        print("Interrupted.", file=sys.stderr)
        return 130
    if isinstance(err, MemoryError):
        print("Error: out of memory; try a smaller --batch-size", file=sys.stderr)
        return 1
    if type(err).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError
        print("Error: the device ran out of memory; try a smaller --batch-size", file=sys.stderr)
        return 1
    if not debug_enabled():
        print(f"Error: internal error ({type(err).__name__}: {err}); rerun with --debug for the traceback",
              file=sys.stderr)
    return 70
