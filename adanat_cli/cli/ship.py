"""``adanat ship``: put a trained policy or a searched schedule inside a model bundle."""

from __future__ import annotations

from pathlib import Path

import typer

from ..models.resolve import resolve_model
from ..models.ship import ship_file


def ship_command(
    model: str = typer.Argument(..., help="The bundle: a folder, or the name of an installed model."),
    file: Path = typer.Argument(..., help="A policy (.safetensors, from train-policy) or a schedule (.json, from search-schedule)."),
    recommend: bool = typer.Option(False, "--recommend", help="Policies only: also make adanat at its T the model's recommended scheduler."),
) -> None:
    """Put a trained policy or a searched schedule inside a model bundle.

    FILE becomes the default of `--scheduler adanat` (a policy) or `--scheduler autonat` (a schedule) at its number of steps. The bundle's config.json is rewritten last and atomically, so a refused file leaves the bundle as it was.

    Examples:
      adanat ship ./my-bundle runs/tiny-mnist-T8-1/best.safetensors
      adanat ship ./my-bundle runs/tiny-mnist-T8-1/best.safetensors --recommend
      adanat ship ./my-bundle autonat-T4.json
    """
    _, path = resolve_model(model)
    typer.echo(str(ship_file(path, file, recommend=recommend)))


def register(app: typer.Typer) -> None:
    app.command("ship")(ship_command)
