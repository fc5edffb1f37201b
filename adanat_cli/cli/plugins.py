"""``adanat plugins``: what is installed in every plugin group, and what failed to load."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.console import Console
from rich.table import Table

from ..errors import UsageError
from ..registry import GROUPS, registry


def plugins_command(
    group: str = typer.Option(None, "--group", "-g", help=f"Only this group: {', '.join(GROUPS)}."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for machines instead of a table."),
) -> None:
    """List the installed schedulers, backbones, tokenizers and rewards, with their distributions.

    Built-ins and third-party plugins are found the same way, through the `adanat.*` entry-point
    groups. A plugin that fails to import is listed with its error and otherwise ignored.

    Groups: schedulers (generation policies), backbones (NAT networks), tokenizers (VQ image
    tokenizers), rewards (policy training), feature_extractors (FID feature spaces), text_encoders
    (prompt encoders for text-to-image).

    Examples:
      adanat plugins
      adanat plugins --group schedulers
      adanat plugins --json
    """
    if group is not None and group not in GROUPS:
        raise UsageError(f"unknown plugin group '{group}' (known: {', '.join(GROUPS)})")
    kinds = [group] if group else list(GROUPS)
    found = [info for kind in kinds for info in registry.infos(kind)]
    groups = {GROUPS[k] for k in kinds}
    broken = [b for b in registry.broken if b.group in groups]
    if as_json:
        typer.echo(json.dumps({"plugins": [asdict(i) for i in found], "broken": [asdict(b) for b in broken]}, indent=2))
        return
    table = Table(title="adanat plugins")
    for column in ("name", "group", "distribution", "version", "description"):
        table.add_column(column)
    for info in found:
        table.add_row(info.name, info.group, info.distribution, info.version, info.description)
    console = Console()
    console.print(table)
    for b in broken:
        Console(stderr=True).print(f"[yellow]Warning:[/] plugin '{b.name}' ({b.group}, {b.distribution}) failed to load: {b.error}")


def register(app: typer.Typer) -> None:
    app.command("plugins")(plugins_command)
