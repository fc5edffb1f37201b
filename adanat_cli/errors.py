"""The one exception family for user-facing failures, and how a failure reaches the user.

Library code raises ``AdanatError`` subclasses. ``report`` turns any exception into one ``Error: ...``
line on stderr and an exit code: an ``AdanatError`` by its class, an interrupt as 130, a folder that
cannot be written as 73, a full disk as 74, running out of memory as one hint, and anything else as
an internal error (exit 70, a bug). docs/errors.md has the table. The traceback is
shown only with ``--debug`` or ``ADANAT_DEBUG=1``. ``run_script`` gives ``python -m`` scripts (the
bundle builds) the same behaviour as the CLI.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from collections.abc import Callable


class AdanatError(Exception):
    """A failure the user can fix: bad input, a missing file, an unknown name."""

    exit_code = 1


class UsageError(AdanatError):
    """An argument or option has a value we cannot use."""

    exit_code = 2


class NotFoundError(AdanatError):
    """A named thing (model, scheduler, file) does not exist."""

    exit_code = 3


class BundleError(AdanatError):
    """A model bundle is missing, truncated or corrupt."""

    exit_code = 4


class ConversionError(AdanatError):
    """A checkpoint does not match the architecture it is converted into (names the offending key)."""

    exit_code = 5


class Terminated(BaseException):
    """SIGTERM arrived (``timeout``, Slurm, Kubernetes): unwinds like Ctrl-C, so temp files go."""


class OutputExistsError(AdanatError):
    """An output already exists and ``--overwrite`` was not given."""

    exit_code = 6


_debug = False
_batch_size: int | None = None


def note_batch_size(batch_size: int) -> None:
    """Tell ``report`` the batch size in use, so an out-of-memory hint can be right about it."""
    global _batch_size
    _batch_size = batch_size


def _memory_hint() -> str:
    if _batch_size == 1:
        return "even with --batch-size 1: use a smaller model, fewer steps' traces, or more memory"
    return "try a smaller --batch-size"


def set_debug(enabled: bool) -> None:
    global _debug
    _debug = enabled


def debug_enabled() -> bool:
    return _debug or os.environ.get("ADANAT_DEBUG", "") not in ("", "0")


def one_line(text: str, limit: int = 600) -> str:
    """``text`` on one line (a wrapped library message, e.g. torch's shape report, included), cut at ``limit``."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _interruption(err: BaseException) -> BaseException | None:
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, (KeyboardInterrupt, Terminated)):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def report(err: BaseException) -> int:
    """Print ``err`` for a user and return the exit code to use."""
    if debug_enabled():
        traceback.print_exception(err, file=sys.stderr)
    if isinstance(err, AdanatError):
        print(f"Error: {one_line(str(err))}", file=sys.stderr)
        return err.exit_code
    # a signal that lands while Python runs a class body (a lazy import) comes back wrapped in a
    # RuntimeError ("Error calling __set_name__ ..."): it is still an interruption
    err = _interruption(err) or err
    if isinstance(err, KeyboardInterrupt):
        print("Interrupted.", file=sys.stderr)
        return 130
    if isinstance(err, Terminated):
        print("Terminated.", file=sys.stderr)
        return 143
    if isinstance(err, PermissionError):
        where = f": {err.filename}" if getattr(err, "filename", None) else ""
        print(f"Error: permission denied{where} (choose a folder you can write to)", file=sys.stderr)
        return 73
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        print(f"Error: no space left on the device{f': {err.filename}' if err.filename else ''}; "
              "free some space or write elsewhere", file=sys.stderr)
        return 74
    if isinstance(err, MemoryError):
        print(f"Error: out of memory; {_memory_hint()}", file=sys.stderr)
        return 1
    if type(err).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError
        print(f"Error: the device ran out of memory; {_memory_hint()}", file=sys.stderr)
        return 1
    if not debug_enabled():
        print(f"Error: internal error ({type(err).__name__}: {one_line(str(err), 300)}); rerun with --debug for the traceback",
              file=sys.stderr)
    return 70


def run_script(action: Callable[[], object]) -> int:
    """Run a ``python -m`` script's work with the CLI's error mapping; returns the exit code."""
    try:
        result = action()
    except BaseException as err:  # noqa: BLE001 - every failure ends as one line and an exit code
        return report(err)
    if result is not None:
        print(result)
    return 0
