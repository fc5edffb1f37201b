"""``adanat classes``: list or search the classes a model generates."""

from __future__ import annotations

import json

import typer

from ..models.classes import model_class_names, search_classes
from ..settings import default_model


def classes_command(
    query: str = typer.Argument(None, help="Show only classes whose name contains this (case-insensitive).", show_default=False),
    model: str = typer.Option(None, "--model", "-m", help="A model name or bundle folder; default: $ADANAT_MODEL, else `adanat config` model, else tiny-mnist.", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print [{index, name}, …] as JSON."),
) -> None:
    """List the classes a model can generate, with the index `--class` also accepts.

    `--class` takes an index, a full name or a unique prefix of a name, case-insensitive.

    Examples:
      adanat classes
      adanat classes retriever -m adanat-L-imagenet256
      adanat classes --json > classes.json
    """
    name, names = model_class_names(model or default_model())
    found = search_classes(names, query) if query else list(enumerate(names))
    if as_json:
        typer.echo(json.dumps([{"index": i, "name": n} for i, n in found], indent=2))
        return
    if not found:
        typer.echo(f"no class of '{name}' contains '{query}'", err=True)
        raise typer.Exit(1)
    width = len(str(len(names) - 1))
    for index, label in found:
        typer.echo(f"{index:>{width}}  {label}")
    if query:
        typer.echo(f"{len(found)} of {len(names)} classes of '{name}' match '{query}'", err=True)


def register(app: typer.Typer) -> None:
    app.command("classes")(classes_command)
