"""The ``adanat`` application: wires the command modules together and maps errors to exit codes."""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import threading
import warnings
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_group

from .. import __version__
from ..errors import Terminated, report, set_debug
from ..settings import default_model_and_source
from .helptext import reflow_all

# Every command: its module (imported only when the command runs or shows its own help, so that
# `adanat --help` and `--version` start without torch) and the first line of its help, which the
# command listing shows. tests/test_startup.py checks these lines against the commands' own help.
COMMANDS: dict[str, tuple[str, str]] = {
    "plugins": ("adanat_cli.cli.plugins",
                "List the installed schedulers, backbones, tokenizers and rewards, with their distributions."),
    "sample": ("adanat_cli.cli.sample",
               "Generate images and write one PNG each, a grid and a samples.json manifest."),
    "download": ("adanat_cli.cli.download",
                 "Download a pretrained model and convert it into a bundle usable as `adanat sample --model NAME`."),
    "import": ("adanat_cli.cli.import_",
               "Convert official files into a bundle; pickles are opened weights-only, anything else is refused."),
    "fid": ("adanat_cli.cli.fid",
            "Fréchet Inception Distance (or the distance in another feature space), with k-NN precision/recall."),
    "compare": ("adanat_cli.cli.compare",
                "Compare schedulers: FID, precision, recall, class accuracy, NFE and speed, plus pictures."),
    "search-schedule": ("adanat_cli.cli.search_schedule",
                        "Search a per-step schedule (m, τ2, τ1, w) that lowers FID, as AutoNAT does."),
    "train-policy": ("adanat_cli.cli.train_policy",
                     "Train a per-sample, per-step generation policy (AdaNAT) with PPO."),
    "ship": ("adanat_cli.cli.ship", "Put a trained policy or a searched schedule inside a model bundle."),
    "classes": ("adanat_cli.cli.classes",
                "List the classes a model can generate, with the index `--class` also accepts."),
    "config": ("adanat_cli.cli.config", "Show or change user settings: the model used when --model is absent."),
}


def load_command(name: str) -> TyperCommand | TyperGroup:
    """The click command ``name``, built from its module's ``register`` (importing the module)."""
    module = importlib.import_module(COMMANDS[name][0])
    holder = typer.Typer(rich_markup_mode="rich")
    module.register(holder)
    reflow_all(holder)
    return get_group(holder).commands[name]


class LazyCommands(TyperGroup):
    """The top-level group: lists the commands from ``COMMANDS`` and imports one only when it is used."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        # stand-ins that carry the short help: enough for the listing and for "Did you mean ...?"
        self.commands = {name: TyperCommand(name, short_help=short) for name, (_, short) in COMMANDS.items()}
        self._loaded: dict[str, TyperCommand | TyperGroup] = {}
        self._listing = False

    def get_command(self, ctx: typer.Context, cmd_name: str) -> TyperCommand | TyperGroup | None:
        if cmd_name not in COMMANDS:
            return None
        if self._listing:
            return self.commands[cmd_name]
        if cmd_name not in self._loaded:
            self._loaded[cmd_name] = load_command(cmd_name)
        return self._loaded[cmd_name]

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:
        # the help listing calls get_command for every command: hand it the stand-ins instead
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="adanat",
    cls=LazyCommands,
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
