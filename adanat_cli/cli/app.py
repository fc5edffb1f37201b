"""The ``adanat`` application: wires the command modules together and maps errors to exit codes."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import warnings

import typer

from .. import __version__
from ..errors import Terminated, report, set_debug
from ..settings import default_model_and_source
from . import (
    classes,
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
from .helptext import reflow_all

app = typer.Typer(
    name="adanat",
    help="Token-based image generation with non-autoregressive Transformers (MaskGIT family), "
    "with the generation policy as a plugin.",
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"adanat {__version__}")
        raise typer.Exit()


QUICK_START = """\
adanat {version}: token-based image generation (MaskGIT family) with learned generation policies.

Quick start (default model: {model}, from {source}; tiny-mnist runs on a laptop CPU, offline):
  adanat sample --scheduler adanat --class 3        images with the model's learned policy, in ./samples
  adanat compare --schedulers cosine,adanat         FID, precision, recall and pictures side by side
  adanat train-policy                               train a policy with the model's recipe
  adanat classes                                    what --class accepts
  adanat download --list                            pretrained ImageNet models (AdaNAT, AutoNAT, ENAT, MaskGIT)

All commands: adanat --help. One command: adanat COMMAND --help. Guides: the docs/ folder of the repository."""


@app.callback()
def main_callback(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """Sample images from NAT models with handcrafted or learned generation policies."""
    set_debug(debug)
    if ctx.invoked_subcommand is None:
        model, source = default_model_and_source()
        typer.echo(QUICK_START.format(version=__version__, model=model, source=source))


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
classes.register(app)
reflow_all(app)


def one_line_warnings() -> None:
    """Warnings from dependencies (torch, matplotlib, …) as one ``warning:`` line each, once; and no
    log chatter from matplotlib (e.g. about an unwritable config folder)."""
    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001 - warnings' signature
        text = (str(message).strip().splitlines() or [category.__name__])[0]
        if text not in seen:
            seen.add(text)
            print(f"warning: {text}", file=sys.stderr)

    warnings.showwarning = show
    logging.getLogger("matplotlib").setLevel(logging.ERROR)


def _terminate(signum, frame) -> None:  # noqa: ANN001 - signal handler signature
    raise Terminated()


def main(argv: list[str] | None = None) -> None:
    one_line_warnings()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        code = app(args=argv, prog_name="adanat", standalone_mode=False)
    except typer.Abort:
        sys.exit(report(KeyboardInterrupt()))
    except typer.TyperException as err:  # a bad option or argument, found by the parser: one line, not a box
        context = getattr(err, "ctx", None)
        command = context.command_path if context is not None else "adanat"
        print(f"Error: {err.format_message()} (see `{command} --help`)", file=sys.stderr)
        sys.exit(getattr(err, "exit_code", 2))
    except SystemExit:
        raise
    except BaseException as err:  # noqa: BLE001 - every failure ends as one line and an exit code
        sys.exit(report(err))
    if isinstance(code, int) and code != 0:
        sys.exit(code)


if __name__ == "__main__":
    main()
