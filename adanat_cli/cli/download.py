"""``adanat download``: fetch a zoo model into the Hugging Face cache and convert it into a bundle."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..errors import UsageError
from ..models.download import bundles_root, download_model, zoo_status
from ..settings import write_setting


def _table(rows: list[dict]) -> str:
    header = ["name", "source", "size", "cached", "converted", "licence"]
    cells = [[r["name"], r["source"], r["size"], "yes" if r["cached"] else "no",
              "yes" if r["converted"] else "no", r["licence"] or "see source"] for r in rows]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *cells)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *cells]]
    return "\n".join(lines)


def download_command(
    name: str = typer.Argument(None, help="Zoo model name (see --list)."),
    list_: bool = typer.Option(False, "--list", help="List the zoo: size, cached, converted."),
    as_json: bool = typer.Option(False, "--json", help="With --list: print JSON."),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Hugging Face hub cache (default: HF_HUB_CACHE or ~/.cache/huggingface/hub)."),
    revision: str = typer.Option(None, "--revision", help="Hub revision (branch, tag or commit) instead of the zoo's."),
    tokenizer: Path = typer.Option(None, "--tokenizer", help="A tokenizer file fetched by hand, for entries whose tokenizer is not on the Hub."),
    heads: int = typer.Option(None, "--heads", help="Attention heads, for entries that do not record them."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Convert again even if a bundle exists."),
    default: bool = typer.Option(False, "--default", help="Afterwards, make NAME the model every command uses when --model is absent."),
) -> None:
    """Download NAME's checkpoints (token from HF_TOKEN) and convert them into a bundle under
    <cache>/adanat-bundles/NAME, usable as `adanat sample --model NAME`. Offline (HF_HUB_OFFLINE=1)
    the cache is used.

    Example: `adanat download maskgit-imagenet256`
    """
    if list_:
        rows = zoo_status(cache_dir)
        typer.echo(json.dumps(rows, indent=2) if as_json else _table(rows))
        if not as_json:
            typer.echo(f"bundles: {bundles_root(cache_dir)}", err=True)
        return
    if name is None:
        raise UsageError("give a zoo model name, or --list to see them")
    local = {"tokenizer": tokenizer} if tokenizer is not None else {}
    path = download_model(
        name, cache_dir=cache_dir, revision=revision, local_files=local, num_heads=heads,
        overwrite=overwrite, on_progress=lambda message: typer.echo(message, err=True),
    )
    typer.echo(str(path))
    if default:
        write_setting("model", name)
        typer.echo(f"{name} is now the default model (adanat config unset model to undo)", err=True)


def register(app: typer.Typer) -> None:
    app.command("download")(download_command)
