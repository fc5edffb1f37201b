"""``adanat search-schedule``: AutoNAT's finite-difference search for a static schedule."""

from __future__ import annotations

import math
import time
from pathlib import Path

import typer

from ..engine.distributed import Shard
from ..engine.sampling import check_request
from ..errors import UsageError, note_batch_size
from ..evaluation.captions import captions_digest, evaluation_conditions
from ..evaluation.pairs import comparison_labels, evaluate_pair
from ..evaluation.setup import evaluation_setup
from ..metrics.digit_classifier import load_classifier
from ..models.resolve import load_model
from ..schedulers.autonat_search import (
    ScheduleSearch,
    SearchSettings,
    theta_from_scheduler,
    to_schedule,
)
from ..schedulers.build import build_scheduler, parse_scheduler_args
from ..settings import default_model
from .devices import COMPILE_HELP, PRECISION_HELP, pick_device, pick_precision
from .progress import step_progress


def search_schedule_command(
    out: Path = typer.Option(..., "--out", "-o", help="Schedule file to write (JSON; use with --scheduler autonat -a file=OUT)."),
    model: str = typer.Option(None, "--model", "-m", help="A model name (built-in, downloaded or imported) or a bundle folder; default: $ADANAT_MODEL, else `adanat config` model, else tiny-mnist.", show_default=False),
    steps: int = typer.Option(8, "--steps", "-T", help="Number of decoding steps the schedule is for."),
    updates: int = typer.Option(100, "--updates", "-u", help="SGD updates (each costs 4T-1 FID evaluations)."),
    num: int = typer.Option(1000, "--num", "-n", help="Images per FID evaluation (classes, or a text model's captions, cycled)."),
    captions: Path = typer.Option(None, "--captions", help="Text-conditioned models: a file of captions, one a line, cycled in place of classes (default: the model's evaluation captions). The search still optimises FID alone; the log records each update's caption alignment when the model can measure it.", show_default=False),
    start: str = typer.Option("cosine", "--start", help="Handcrafted scheduler whose values start the search."),
    start_arg: list[str] = typer.Option([], "--start-arg", help="key=value for the start scheduler (repeatable)."),
    extractor: str = typer.Option(None, "--extractor", "-x", help="Feature space; default: the model's."),
    real: str = typer.Option(None, "--real", help="Real images: mnist5k or a folder."),
    reference: str = typer.Option(None, "--reference", help="Named FID statistics instead of --real."),
    lr: float = typer.Option(0.1, "--lr", help="Learning rate of τ1, τ2 and w (AutoNAT: 0.1, tuned for ImageNet "
                             "FIDs near 5; scale it down for a metric on a larger scale)."),
    lr_mask: float = typer.Option(1e-3, "--lr-mask", help="Learning rate of the mask ratios (AutoNAT: 1e-3)."),
    seed: int = typer.Option(1000, "--seed", help="Seed of the search's images (keep it apart from evaluation seeds)."),
    batch_size: int = typer.Option(250, "--batch-size", "-b"),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, cuda:N or auto."),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP + " FID's network always runs in fp32."),
    compile: bool = typer.Option(False, "--compile", help=COMPILE_HELP),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT.state.json."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start afresh even if OUT or its state exists."),
) -> None:
    """Search a per-step schedule (m, τ2, τ1, w) that lowers FID, as AutoNAT does.

    Writes OUT (the best schedule found), OUT.state.json (resumable state) and OUT.log.jsonl (one
    line per update). --resume continues a killed or finished search (with --updates raised); it keeps
    the learning rates it started with.

    On a text-conditioned model the images cycle through captions (--captions, default: the model's
    evaluation captions). FID alone is optimised, as AutoNAT does; lowering guidance usually lowers FID
    and caption alignment together, so each log line also records class and attribute agreement
    when the model can measure them: check them before shipping the schedule.

    Examples:
      adanat search-schedule -T 4 --updates 30 --num 1000 --lr 0.01 --lr-mask 1e-4 -o autonat-T4.json
      adanat search-schedule -m tiny-mnist-text -T 4 -u 12 -n 500 --start-arg guidance=0.5 --lr 0.01 --lr-mask 1e-4 -o text-T4.json
      adanat ship tiny-mnist autonat-T4.json
    """
    if updates < 1:
        raise UsageError(f"--updates must be at least 1, got {updates}")
    if num < 2:
        raise UsageError("--num must be at least 2 to estimate statistics")
    if not (lr > 0 and lr_mask > 0 and math.isfinite(lr) and math.isfinite(lr_mask)):
        raise UsageError(f"--lr and --lr-mask must be positive finite numbers, got {lr} and {lr_mask}")
    torch_device = pick_device(device)
    precision = pick_precision(precision, torch_device)
    bundle = load_model(model or default_model(), device=torch_device)
    evaluated_on = evaluation_conditions(bundle, captions)
    conditions, thresholds = evaluated_on.values, evaluated_on.thresholds
    # FID alone is searched on; a classifier only measures caption alignment, beside it
    classifier = load_classifier(bundle.path, torch_device) if thresholds is not None else None
    check_request(bundle, conditions, steps, num, batch_size, seed)
    note_batch_size(batch_size)
    if steps < 2:
        raise UsageError("a schedule search needs --steps of at least 2")
    theta0 = theta_from_scheduler(build_scheduler(start, parse_scheduler_args(start_arg)), steps)
    _, features, ref = evaluation_setup(bundle.evaluation, torch_device, extractor, real, reference)
    labels = comparison_labels(conditions, num)
    shard = Shard(cpu=device == "cpu")

    def measure(scheduler, with_measures: bool) -> tuple[float, dict[str, float]]:
        # the caption alignment is logged for each update's base schedule only: the probes give their FID
        result = evaluate_pair(bundle, scheduler, steps, labels, seed, batch_size, features, ref,
                               classifier if with_measures else None, shard, torch_device, precision=precision,
                               compile=compile, caption_thresholds=thresholds if with_measures else None)
        if result.alignment is None:
            return result.fid, {}
        return result.fid, {"class_agreement": result.class_agreement, "attribute_agreement": result.attribute_agreement}

    started_from = {"scheduler": start, "args": start_arg, "model": bundle.name, "num": num, "seed": seed}
    if evaluated_on.text:
        started_from.update(captions=evaluated_on.caption_source, captions_sha256=captions_digest(conditions))
    search = ScheduleSearch.start(SearchSettings(steps=steps, updates=updates, lr=lr, lr_mask=lr_mask), theta0,
                                  started_from, measure, out, resume, overwrite)
    remaining = (updates - search.state.update) * (4 * steps - 1)
    began = time.perf_counter()
    with step_progress(f"searching a T={steps} schedule", total=max(remaining, 0)) as advance:
        state = search.run(on_eval=advance)
    if shard.is_main:
        source = (f"adanat search-schedule on {bundle.name}: {state.update} updates, best FID {state.best_fid:.4f} "
                  f"on {num} images (seed {seed}), started from {start}")
        to_schedule(state.best_theta, steps, source).save(out)
        typer.echo(str(out))
        alignment = ""
        if "attribute_agreement" in state.best_measures:
            alignment = (f", class / attribute agreement {state.best_measures['class_agreement']:.3f} / "
                         f"{state.best_measures['attribute_agreement']:.3f}")
        typer.echo(f"best FID {state.best_fid:.4f}{alignment} after {state.update} updates "
                   f"({time.perf_counter() - began:.0f}s this run)", err=True)


def register(app: typer.Typer) -> None:
    app.command("search-schedule")(search_schedule_command)
