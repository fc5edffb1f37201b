"""``adanat sample``: generate images from a model bundle with any scheduler."""

from __future__ import annotations

from pathlib import Path

import torch
import typer

from .. import __version__
from ..engine.conditioning import check_guidance_target, is_text_model
from ..engine.sampling import check_request, generate_images
from ..errors import UsageError, note_batch_size
from ..io import ensure_writable
from ..models.classes import parse_classes
from ..models.resolve import load_model
from ..outputs import SampleWriter
from ..schedulers.build import build_scheduler, parse_scheduler_args
from ..settings import default_model
from ..text.prompt_files import gather_prompts
from .devices import COMPILE_HELP, PRECISION_HELP, pick_device, pick_precision
from .limits import require_disk, require_memory
from .progress import step_progress


def sample_command(
    model: str = typer.Option(None, "--model", "-m", help="A model name (built-in, downloaded or imported) or a bundle folder; default: $ADANAT_MODEL, else `adanat config` model, else tiny-mnist.", show_default=False),
    scheduler: str = typer.Option(None, "--scheduler", "-s", help="Scheduler plugin (see `adanat plugins`); default: the model's recommended one."),
    steps: int = typer.Option(None, "--steps", "-T", help="Decoding steps; default: the model's recommended number."),
    scheduler_arg: list[str] = typer.Option([], "--scheduler-arg", "-a", help="Scheduler parameter as key=value (repeatable), e.g. guidance=2.0."),
    scheduler_config: Path = typer.Option(None, "--scheduler-config", help="JSON file of scheduler parameters (as written by Scheduler.save)."),
    classes: list[str] = typer.Option([], "--class", "-c", help="Class: an index, a name or a unique prefix of one ('golden retriever', 207); repeat or give a comma list. Default: every class of a model with ≤16. See `adanat classes`."),
    prompts: list[str] = typer.Option([], "--prompt", "-p", help="Text prompt of a text-conditioned model (repeatable), e.g. \"a thin upright three\"; an empty one gives unconditional images."),
    prompt_file: Path = typer.Option(None, "--prompts", help="File of prompts, one caption a line (adds to --prompt)."),
    negative_prompt: str = typer.Option(None, "--negative-prompt", help="What guidance pushes away from in place of the empty prompt (text models), e.g. \"a blurry digit\"; @subject: each prompt without its attribute words (tiny-mnist-text). Same as -a negative_prompt=...; -a negative_share=S takes only that share of the push against it."),
    num: int = typer.Option(4, "--num", "-n", help="Images per class (or per prompt)."),
    batch_size: int = typer.Option(32, "--batch-size", "-b", help="Images per forward batch (does not change the images)."),
    seed: int = typer.Option(0, "--seed", help="Base seed; each image's seed derives from it and the image's index."),
    out: Path = typer.Option(Path("samples"), "--out", "-o", help="Output folder (PNGs, grid.png, samples.json)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out if it exists."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, cuda:N or auto."),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    compile: bool = typer.Option(False, "--compile", help=COMPILE_HELP),
    upscale: int = typer.Option(None, "--upscale", help="Nearest-neighbour upscale factor of the saved PNGs; default: enough for ≥128 px."),
    trace: bool = typer.Option(False, "--trace", help="Record every step's plan values per image in samples.json and plot them in trace.png."),
) -> None:
    """Generate images and write one PNG each, a grid and a samples.json manifest.

    Examples:
      adanat sample --scheduler adanat --class 3 --num 8
      adanat sample -m adanat-L-imagenet256 --scheduler adanat --class "golden retriever"
      adanat sample -m tiny-mnist-text --prompt "a thin upright three" --num 16
    """
    if scheduler is not None and not scheduler.strip():
        raise UsageError("--scheduler is empty: give a scheduler name (see `adanat plugins`)")
    ensure_writable(out, overwrite)
    torch_device = pick_device(device)
    precision = pick_precision(precision, torch_device)
    bundle = load_model(model or default_model(), device=torch_device)
    recommended = {"scheduler": "cosine", "steps": 8, **bundle.recommended}
    steps = steps if steps is not None else default_steps(bundle, scheduler or recommended["scheduler"], recommended)
    labels_wanted = wanted_conditions(bundle, classes, prompts, prompt_file)
    text = is_text_model(bundle.backbone)
    check_request(bundle, labels_wanted, steps, num, batch_size, seed)
    note_batch_size(batch_size)
    count = len(labels_wanted) * num
    # images stream to disk batch by batch; what stays in memory is one record per image
    require_memory(count * (300 + (steps * 4 * 40 if trace else 0)), f"the records of {count} images")
    if upscale is not None and upscale < 1:
        raise UsageError(f"--upscale must be at least 1, got {upscale}")
    scheduler_args = parse_scheduler_args(scheduler_arg)
    if negative_prompt is not None:
        if "negative_prompt" in scheduler_args:
            raise UsageError("the negative prompt is given twice: pass --negative-prompt or -a negative_prompt=..., not both")
        scheduler_args["negative_prompt"] = negative_prompt
    policy = build_scheduler(scheduler, scheduler_args, scheduler_config, recommended,
                             defaults_for=lambda name: bundle.scheduler_defaults(name, steps))
    check_guidance_target(bundle, policy.negative_prompt, policy.negative_share, policy.negative_guidance)
    image_side = max(bundle.image_size)
    factor = upscale if upscale is not None else max(1, -(-128 // image_side))
    several = len(labels_wanted) > 1
    shared = {"adanat_version": __version__, "model": bundle.name, "scheduler": policy.to_dict(), "steps": steps,
              "seed": seed, "precision": precision, "compile": compile}

    seconds, compile_seconds, nfe, traces = 0.0, 0.0, 0, []
    if compile:
        typer.echo("compiling the backbone on first use (a one-time cost)", err=True)
    batches = -(-count // batch_size)
    row_labels = [str(c) if text else bundle.classes[c] for c in labels_wanted]
    with SampleWriter(out, count, shared, overwrite, factor, columns=num if several else None,
                      row_labels=row_labels if several else None) as writer, \
            step_progress(f"sampling {count} images", total=batches * steps) as advance:
        for lo in range(0, count, batch_size):
            hi = min(lo + batch_size, count)
            labels = [labels_wanted[i // num] for i in range(lo, hi)]  # made per batch, never all at once
            samples = generate_images(bundle, policy, labels, steps, seed=seed, batch_size=batch_size,
                                      indices=range(lo, hi), trace=trace, device=torch_device, on_step=advance,
                                      precision=precision, compile=compile)
            records = []
            for i, (index, label, sample_seed) in enumerate(zip(samples.indices, samples.labels, samples.seeds)):
                if text:
                    record = {"index": index, "prompt": samples.prompts[i], "seed": sample_seed}
                else:
                    record = {"index": index, "class": label, "class_name": bundle.classes[label], "seed": sample_seed}
                if samples.trace is not None:
                    record["trace"] = {k: [round(float(v), 6) for v in series[i]] for k, series in samples.trace.items()}
                records.append(record)
            writer.add(samples.images, records)
            if samples.trace is not None:
                traces.append(samples.trace)
            seconds, nfe = seconds + samples.seconds, samples.nfe
            compile_seconds += samples.compile_seconds
            if lo == 0 and hi < count:
                require_disk(writer.staging, hi, count)
        manifest = {**shared, "nfe_per_image": nfe, "seconds": round(seconds, 4), "device": str(torch_device),
                    "upscale": factor}
        if compile:
            manifest["compile_seconds"] = round(compile_seconds, 4)
        trace_arrays = {k: torch.cat([t[k] for t in traces]).numpy() for k in traces[0]} if traces else None
        writer.finish(manifest, trace_arrays)
    typer.echo(str(out))
    compiling = f", plus {compile_seconds:.1f}s compiling" if compile else ""
    typer.echo(f"wrote {count} images to {out} ({seconds:.1f}s{compiling})", err=True)


def default_steps(bundle, scheduler: str, recommended: dict) -> int:
    """The recommended number of steps, unless the bundle ships ``scheduler``'s files (a policy, a
    searched schedule) only for other T: then the largest T it ships, said on stderr."""
    steps = int(recommended["steps"])
    shipped = sorted(int(t) for t in bundle.config.get("schedules", {}).get(scheduler, {}) if str(t).isdigit())
    if shipped and steps not in shipped:
        typer.echo(f"{scheduler}: {bundle.name} ships it for T = {', '.join(map(str, shipped))}; "
                   f"sampling with --steps {shipped[-1]}", err=True)
        return shipped[-1]
    return steps


def wanted_conditions(bundle, classes: list[str], prompts: list[str], prompt_file: Path | None) -> list:
    """The classes (ids) or prompts to sample, checked against the kind of model."""
    if is_text_model(bundle.backbone):
        if classes:
            raise UsageError(f"model '{bundle.name}' is text-conditioned: pass --prompt or --prompts, not --class")
        wanted = gather_prompts(prompts, prompt_file)
        if not wanted:
            raise UsageError(f"model '{bundle.name}' is text-conditioned: pass --prompt \"...\" or --prompts FILE")
        return wanted
    if prompts or prompt_file is not None:
        raise UsageError(f"model '{bundle.name}' is class-conditional: pass --class, not --prompt "
                         "(text-to-image models: tiny-mnist-text, adanat-cc3m)")
    wanted = parse_classes(classes, bundle.classes, bundle.name)
    if not wanted:
        if bundle.backbone.num_classes > 16:
            raise UsageError(f"model '{bundle.name}' has {bundle.backbone.num_classes} classes: pass --class")
        wanted = list(range(bundle.backbone.num_classes))
    return wanted


def register(app: typer.Typer) -> None:
    app.command("sample")(sample_command)
