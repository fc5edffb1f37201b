"""The ``adanat`` application: wires the command modules together and maps errors to exit codes."""

from __future__ import annotations

import sys

import typer

from .. import __version__
from ..errors import report, set_debug
from . import (
    compare,
    config,
    download,
    fid,
    import_,
    plugins,
    sample,
    search_schedule,
    ship,
    train_policy,
)

app = typer.Typer(
    name="adanat",
    help="Token-based image generation with non-autoregressive Transformers (MaskGIT family), "
    "with the generation policy as a plugin.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"adanat {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """Sample images from NAT models with handcrafted or learned generation policies."""
    set_debug(debug)


plugins.register(app)
sample.register(app)
download.register(app)
import_.register(app)
fid.register(app)
compare.register(app)
search_schedule.register(app)
train_policy.register(app)
ship.register(app)
config.register(app)


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, prog_name="adanat")
    except SystemExit:
        raise
    except BaseException as err:  # noqa: BLE001 - every failure ends as one line and an exit code
        sys.exit(report(err))


if __name__ == "__main__":
    main()
