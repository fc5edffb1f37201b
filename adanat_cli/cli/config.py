"""``adanat config``: show and change user settings (the default model)."""

from __future__ import annotations

import typer

from ..models.resolve import resolve_model
from ..settings import (
    KEYS,
    config_file,
    default_model_and_source,
    read_settings,
    write_setting,
)

config_app = typer.Typer(
                         no_args_is_help=False, invoke_without_command=True)


@config_app.callback()
def show(ctx: typer.Context) -> None:
    """Show or change user settings: the model used when --model is absent.

    Alone, shows the settings file, its settings and the default model with where it comes from.

    Examples:
      adanat config
      adanat config set model tiny-mnist-enat
      adanat config unset model
    """
    if ctx.invoked_subcommand is None:
        typer.echo(f"config file: {config_file()}")
        for key, value in read_settings().items():
            typer.echo(f"{key} = {value}")
        model, source = default_model_and_source()
        typer.echo(f"default model: {model} (from {source})")


@config_app.command("set")
def set_command(
    key: str = typer.Argument(..., help=f"The setting: {', '.join(KEYS)}."),
    value: str = typer.Argument(..., help="Its value, e.g. a model name."),
) -> None:
    """Set a setting, e.g. `adanat config set model tiny-mnist-enat`."""
    if key == "model":
        resolve_model(value)  # an unknown or not-yet-downloaded model is refused with the way to get it
    typer.echo(str(write_setting(key, value)))


@config_app.command("unset")
def unset_command(key: str = typer.Argument(..., help=f"The setting: {', '.join(KEYS)}.")) -> None:
    """Remove a setting, e.g. `adanat config unset model` (back to tiny-mnist)."""
    typer.echo(str(write_setting(key, None)))


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
