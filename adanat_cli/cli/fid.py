"""``adanat fid``: FID, precision and recall between image folders or against named statistics."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..errors import UsageError
from ..metrics.fid import (
    build_extractor,
    compare_sets,
    folder_features,
    load_stats,
    save_stats,
)
from .devices import pick_device, pick_precision


def fid_command(
    folders: list[Path] = typer.Argument(None, help="One folder (with --stats) or two folders of images."),
    stats: str = typer.Option(None, "--stats", help="Compare the folder against these named statistics."),
    make_stats: str = typer.Option(None, "--make-stats", help="Store the folder's statistics under this name."),
    extractor: str = typer.Option("inception", "--extractor", "-x", help="Feature space (see `adanat plugins -g feature_extractors`): inception, tiny-mnist, …"),
    batch_size: int = typer.Option(100, "--batch-size", "-b", help="Images per feature batch."),
    k: int = typer.Option(3, "--k", help="Neighbours of the precision/recall manifolds."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, cuda:N or auto."),
    precision: str = typer.Option("fp32", "--precision", help="Precision of the feature network: fp32 (default: "
                                  "statistics stored in fp32 compare like with like), bf16, fp16 or auto."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing statistics of the same name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Fréchet Inception Distance (or the distance in another feature space), with k-NN precision/recall.

    Examples:
      adanat fid samples/ real/ --extractor tiny-mnist
      adanat fid samples/ --stats tiny-mnist -x tiny-mnist      # the statistics shipped with the model
      adanat fid --make-stats digits real/ -x tiny-mnist        # then: adanat fid samples/ --stats digits -x tiny-mnist
    """
    folders = folders or []
    if make_stats is not None:
        if len(folders) != 1 or stats is not None:
            raise UsageError("--make-stats NAME takes exactly one folder (and no --stats)")
    elif stats is not None and len(folders) != 1:
        raise UsageError("--stats NAME compares exactly one folder")
    elif stats is None and len(folders) != 2:
        raise UsageError("give two folders, or one folder with --stats NAME or --make-stats NAME")
    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    if k < 1:
        raise UsageError(f"--k must be at least 1, got {k}")
    torch_device = pick_device(device)
    precision = pick_precision(precision, torch_device)
    features = build_extractor(extractor, torch_device)

    if make_stats is not None:
        computed = folder_features(folders[0], features, batch_size, torch_device, precision)
        path = save_stats(make_stats, extractor, computed, overwrite)
        typer.echo(str(path))
        typer.echo(f"stored statistics '{make_stats}' of {computed.count} images ({extractor})", err=True)
        return

    a = folder_features(folders[0], features, batch_size, torch_device, precision)
    b = load_stats(stats, features) if stats is not None else folder_features(folders[1], features, batch_size, torch_device, precision)
    result = compare_sets(a, b, k=k)
    report = {"extractor": extractor, "extractor_precision": precision, "a": str(folders[0]), "b": stats or str(folders[1]), **asdict(result)}
    if as_json:
        typer.echo(json.dumps(report, indent=2, allow_nan=False))
        return
    table = Table(title=f"FID ({extractor} features)")
    for column in ("A", "B", "images A", "images B", "FID", "precision", "recall"):
        table.add_column(column)
    fmt = lambda v: "–" if v is None else f"{v:.4f}"
    table.add_row(report["a"], report["b"], str(result.count_a), str(result.count_b or "–"),
                  f"{result.fid:.4f}", fmt(result.precision), fmt(result.recall))
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("fid")(fid_command)
