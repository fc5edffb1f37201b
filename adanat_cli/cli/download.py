"""``adanat download``: fetch a zoo model into the Hugging Face cache and convert it into a bundle."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..errors import UsageError
from ..metrics.reference_stats import register_zoo_stats
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
    file: list[str] = typer.Option([], "--file", help="ROLE=PATH: a file fetched by hand instead of downloaded (roles: nnet, tokenizer, tokenizer_config, policy, fid_stats); repeatable."),
    tokenizer: Path = typer.Option(None, "--tokenizer", help="Short for --file tokenizer=PATH."),
    heads: int = typer.Option(None, "--heads", help="Attention heads, for entries that do not record them."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Convert again even if a bundle exists."),
    default: bool = typer.Option(False, "--default", help="Afterwards, make NAME the model every command uses when --model is absent."),
) -> None:
    """Download a pretrained model and convert it into a bundle usable as `adanat sample --model NAME`.

    Hub files come through the Hugging Face cache (token from HF_TOKEN); Google Drive files (AdaNAT-L
    with its learned policy, AutoNAT-L, the MAGE VQGAN) through gdown, installed with
    pip install 'adanat[drive]', into a folder of the same cache. Sizes and digests are checked where
    known. The bundle goes to <cache>/adanat-bundles/NAME. Offline (HF_HUB_OFFLINE=1) the cache is used.
    A text-to-image model (adanat-cc3m) also fetches its CLIP text encoder's model and tokenizer files
    into the cache (sampling then needs pip install 'adanat[text]'), and an entry's published FID
    statistics become named statistics (adanat fid DIR --stats cc3m-val).

    Examples:
      adanat download --list
      adanat download adanat-L-imagenet256 --default
      HF_HUB_OFFLINE=1 adanat download maskgit-imagenet256
    """
    if list_:
        rows = zoo_status(cache_dir)
        typer.echo(json.dumps(rows, indent=2) if as_json else _table(rows))
        if not as_json:
            typer.echo(f"bundles: {bundles_root(cache_dir)}", err=True)
        return
    if name is None:
        raise UsageError("give a zoo model name, or --list to see them")
    local: dict[str, Path] = {}
    for pair in file:
        role, sep, path_text = pair.partition("=")
        if not sep or not role.strip() or not path_text.strip():
            raise UsageError(f"--file takes ROLE=PATH, got '{pair}'")
        local[role.strip()] = Path(path_text.strip())
    if tokenizer is not None:
        local["tokenizer"] = tokenizer
    for role, path_given in local.items():
        if not path_given.is_file():
            raise UsageError(f"--file {role}: {path_given} is not a file")
    path = download_model(
        name, cache_dir=cache_dir, revision=revision, local_files=local, num_heads=heads,
        overwrite=overwrite, on_progress=lambda message: typer.echo(message, err=True),
    )
    registered = register_zoo_stats(name, cache_dir=cache_dir, revision=revision, local_file=local.get("fid_stats"))
    if registered is not None:
        typer.echo(f"FID statistics '{registered[0]}' (inception features) stored at {registered[1]}", err=True)
    typer.echo(str(path))
    if default:
        write_setting("model", name)
        typer.echo(f"{name} is now the default model (adanat config unset model to undo)", err=True)


def register(app: typer.Typer) -> None:
    app.command("download")(download_command)
