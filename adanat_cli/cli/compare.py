"""``adanat compare``: schedulers side by side on the same model, classes (or captions) and seeds."""

from __future__ import annotations

from pathlib import Path

import typer

from .. import __version__
from ..engine.conditioning import check_guidance_target
from ..engine.distributed import Shard
from ..engine.sampling import check_request
from ..errors import UsageError, note_batch_size
from ..evaluation.captions import evaluation_conditions
from ..evaluation.pairs import comparison_labels, evaluate_pair
from ..evaluation.report import markdown_table, write_report
from ..evaluation.setup import evaluation_setup
from ..evaluation.sweeps import Variant, expand
from ..io import ensure_writable
from ..metrics.digit_classifier import load_classifier
from ..models.resolve import load_model
from ..schedulers.build import build_scheduler
from ..settings import default_model
from .devices import COMPILE_HELP, PRECISION_HELP, pick_device, pick_precision
from .limits import require_memory
from .progress import step_progress


def parse_list(text: str, what: str) -> list[str]:
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise UsageError(f"{what} is empty")
    return items


def parse_steps(text: str) -> list[int]:
    try:
        return [int(s) for s in parse_list(text, "--steps")]
    except ValueError:
        raise UsageError(f"--steps takes a comma list of integers, got '{text}'") from None


def split_scheduler_args(pairs: list[str], names: list[str]) -> list[Variant]:
    """``NAME:key=value`` pairs -> the rows to compare, in the order of ``names``; NAME must be one of
    the compared schedulers, and ``key=v1,v2,…`` sweeps the key (one row per value)."""
    per: dict[str, list[str]] = {n: [] for n in names}
    for pair in pairs:
        name, sep, rest = pair.partition(":")
        if not sep or name not in per:
            raise UsageError(f"--scheduler-arg '{pair}': expected NAME:key=value with NAME one of {', '.join(names)}")
        per[name].append(rest)
    return [variant for n in names for variant in expand(n, per[n])]


def compare_command(
    model: str = typer.Option(None, "--model", "-m", help="A model name (built-in, downloaded or imported) or a bundle folder; default: $ADANAT_MODEL, else `adanat config` model, else tiny-mnist.", show_default=False),
    schedulers: str = typer.Option("cosine,linear,arccos", "--schedulers", "-s", help="Comma list of schedulers."),
    steps: str = typer.Option("4,8", "--steps", "-T", help="Comma list of step counts."),
    num: int = typer.Option(1000, "--num", "-n", help="Images per (scheduler, steps); classes are cycled."),
    classes: list[str] = typer.Option([], "--class", "-c", help="Classes to cycle through: indices, names or unique prefixes (default: all)."),
    captions: Path = typer.Option(None, "--captions", help="Text-conditioned models: a file of captions, one a line, cycled in place of classes (default: the model's evaluation captions). Reports caption alignment (class and attribute agreement) when the model can measure it.", show_default=False),
    scheduler_arg: list[str] = typer.Option([], "--scheduler-arg", "-a", help="NAME:key=value for one scheduler (repeatable); NAME:key=v1,v2,… sweeps the key, one row per value."),
    extractor: str = typer.Option(None, "--extractor", "-x", help="Feature space; default: the model's (else inception). A comma list reports FID, precision and recall in every space; the first is the main one."),
    real: str = typer.Option(None, "--real", help="Real images: mnist5k or a folder (gives precision/recall)."),
    reference: str = typer.Option(None, "--reference", help="Named FID statistics instead of --real."),
    seed: int = typer.Option(0, "--seed", help="Base seed; image i gets the same seed in every row."),
    batch_size: int = typer.Option(250, "--batch-size", "-b", help="Images per batch (does not change results)."),
    out: Path = typer.Option(Path("compare"), "--out", "-o", help="Folder for report.md, report.json and PNGs."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out if it exists."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, cuda:N or auto."),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP + " The metrics' networks always run in fp32."),
    compile: bool = typer.Option(False, "--compile", help=COMPILE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print report.json to stdout instead of the table."),
) -> None:
    """Compare schedulers: FID, precision, recall, class accuracy, NFE and speed, plus pictures.

    Every scheduler gets the same classes and seeds, so each column of grid.png is one seed. A
    text-conditioned model cycles through captions instead (--captions, default: its evaluation
    captions) and reports how well the images agree with them (class and attribute agreement).
    Runs under `accelerate launch` / `torchrun` with samples sharded over processes; results are
    identical to one process.

    Examples:
      adanat compare --schedulers cosine,adanat
      adanat compare -m tiny-mnist-text --schedulers cosine,adanat --steps 8 --captions captions.txt
      torchrun --nproc_per_node 2 -m adanat_cli compare --schedulers cosine,adanat --device cpu
    """
    shard = Shard(cpu=device == "cpu")
    if shard.is_main:
        ensure_writable(out, overwrite)
    torch_device = pick_device(device)
    precision = pick_precision(precision, torch_device)
    names = parse_list(schedulers, "--schedulers")
    step_list = parse_steps(steps)
    variants = split_scheduler_args(scheduler_arg, names)
    bundle = load_model(model or default_model(), device=torch_device)
    evaluated_on = evaluation_conditions(bundle, captions, classes)
    text, wanted = evaluated_on.text, evaluated_on.values
    caption_source, thresholds = evaluated_on.caption_source, evaluated_on.thresholds
    for t in step_list:
        check_request(bundle, wanted, t, num, batch_size, seed)
    note_batch_size(batch_size)
    if num < 2:
        raise UsageError("--num must be at least 2 to estimate statistics")
    require_memory(num * 4096, f"{num} images per row (their labels, features and predictions)")
    built = {
        (v.label, t): build_scheduler(v.scheduler, v.args, recommended=bundle.recommended,
                                      defaults_for=lambda name, t=t: bundle.scheduler_defaults(name, t))
        for v in variants for t in step_list
    }
    for (_, t), scheduler in built.items():
        scheduler.reset(1, t)  # refuses an unsupported T before any work is done
        check_guidance_target(bundle, scheduler.negative_prompt, scheduler.negative_share,
                              scheduler.negative_guidance)

    names_of_spaces = parse_list(extractor, "--extractor") if extractor else [None]
    extractor_name, features, ref = evaluation_setup(bundle.evaluation, torch_device, names_of_spaces[0], real, reference)
    other_spaces = {}
    for space in names_of_spaces[1:]:
        _, space_features, space_ref = evaluation_setup(bundle.evaluation, torch_device, space, real, reference)
        other_spaces[space] = (space_features, space_ref)
    classifier = load_classifier(bundle.path, torch_device)
    labels = comparison_labels(wanted, num)

    results = []
    my_steps = sum(len(shard.my_batches(-(-num // batch_size))) * t for t in step_list) * len(variants)
    with step_progress(f"comparing {len(variants)} schedules", total=my_steps) as advance:
        for v in variants:
            for t in step_list:
                result = evaluate_pair(bundle, built[v.label, t], t, labels, seed, batch_size, features, ref,
                                       classifier, shard, torch_device, on_step=advance, other_spaces=other_spaces,
                                       precision=precision, compile=compile, caption_thresholds=thresholds)
                result.label, result.swept = v.label, dict(v.swept)
                results.append(result)
    if not shard.is_main:
        return
    conditions = ({"captions": caption_source, "num_captions": len(wanted),
                   "caption_alignment": thresholds is not None and classifier is not None} if text
                  else {"classes": wanted})
    meta = {"adanat_version": __version__, "model": bundle.name, "num": num, "seed": seed, **conditions,
            "extractor": extractor_name, "other_extractors": list(other_spaces), "reference": ref.source, "processes": shard.num_processes,
            "device": str(torch_device), "precision": precision, "compile": compile}
    write_report(out, meta, results, overwrite)
    if as_json:
        typer.echo((out / "report.json").read_text())
    else:
        typer.echo(markdown_table(results))
        typer.echo(f"report written to {out}/report.md", err=True)


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)
