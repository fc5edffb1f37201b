"""The one exception family for user-facing failures.

Library code raises these; the CLI turns each into a single ``Error: ...`` line and an exit code
(see ``adanat_cli.cli.errors``). Anything else that escapes is a bug and shows a traceback.
"""

from __future__ import annotations


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


class OutputExistsError(AdanatError):
    """An output already exists and ``--overwrite`` was not given."""

    exit_code = 6


class PluginError(AdanatError):
    """A plugin could not be loaded or does not follow its protocol."""

    exit_code = 7
