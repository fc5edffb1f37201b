"""Many images from a bundle: batching, per-index seeds, decoding tokens to pixels.

``generate_images`` is the library call behind ``adanat sample`` (and later ``compare``/``fid``): it
splits the requested samples into batches, seeds every sample from its global index and runs the
one decoding loop, so the images depend on (seed, index) only — not on batch size or process count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..errors import UsageError
from ..models.bundle import ModelBundle
from ..models.resolve import class_hint
from ..schedulers.base import Scheduler
from .conditioning import conditions_for, is_text_model
from .flops import generation_flops
from .loop import decode, sample_seed
from .precision import (
    CompiledForward,
    autocast,
    compiled,
    resolve_precision,
    tokenizer_precision,
)


@dataclass
class Samples:
    images: torch.Tensor  # (M, 3, H, W) float in [0, 1], on the CPU
    tokens: torch.Tensor  # (M, N) long, on the CPU
    labels: list[int]  # class ids; -1 for each image of a text-conditioned model
    indices: list[int]  # global sample indices
    seeds: list[int]  # per-sample seeds derived from (base seed, index)
    trace: dict[str, torch.Tensor] | None  # name -> (M, T)
    nfe: int  # backbone forward passes per sample (uncond included), summed over steps
    seconds: float  # generation time, compilation excluded
    flops: torch.Tensor | None = None  # (M,) FLOPs of each image's generation, when counted
    compile_seconds: float = 0.0  # time spent in calls that built a compiled graph
    precision: str = "fp32"  # the precision the backbone and tokenizer ran in (``auto`` resolved)
    prompts: list[str] | None = None  # one per image, for a text-conditioned model


MAX_SEED = 2**63 - 1


def check_request(bundle: ModelBundle, classes: Sequence[int] | Sequence[str], steps: int, num: int,
                  batch_size: int = 1, seed: int = 0) -> None:
    """Raise UsageError for a request the model cannot serve (``classes`` are prompts for a
    text-conditioned model)."""
    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    if not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed must be between 0 and 2**63-1, got {seed}")
    n_classes = bundle.backbone.num_classes
    if is_text_model(bundle.backbone):
        if not classes:
            raise UsageError(f"model '{bundle.name}' is text-conditioned: pass --prompt or --prompts")
        classes = []
    elif not classes:
        raise UsageError("no class given: pass --class")
    for c in classes:
        if not 0 <= c < n_classes:
            hint = f"; {class_hint(c)}" if c >= n_classes else ""
            raise UsageError(f"class {c} is outside [0, {n_classes}) for model '{bundle.name}'{hint}")
    if num < 1:
        raise UsageError(f"--num must be at least 1, got {num}")
    n_tokens = bundle.backbone.num_tokens
    if not 1 <= steps <= n_tokens:
        raise UsageError(f"--steps must be between 1 and the number of tokens ({n_tokens}), got {steps}")


def compiled_parts(bundle: ModelBundle) -> tuple[CompiledForward, CompiledForward]:
    """What ``compile=True`` compiles: the backbone's forward and the tokenizer's decoder (each built
    once per module; their ``seconds`` add up the time spent compiling)."""
    return compiled(bundle.backbone), compiled(bundle.tokenizer, "decode")


def generate_images(
    bundle: ModelBundle,
    scheduler: Scheduler,
    conditions: Sequence[int] | Sequence[str],
    steps: int,
    seed: int = 0,
    batch_size: int = 32,
    indices: Sequence[int] | None = None,
    trace: bool = False,
    device: torch.device | str = "cpu",
    on_step: Callable[[], None] | None = None,
    count_flops: bool = False,
    precision: str = "fp32",
    compile: bool = False,
) -> Samples:
    """Generate one image per entry of ``conditions`` — class ids, or prompts for a text-conditioned
    model; ``indices`` are their global sample indices (default 0..M-1), which fix each sample's seed. ``count_flops`` adds each image's analytic FLOPs
    (``engine.flops``; backbones that count their own, ``Backbone.forward_flops``).

    ``precision`` (auto, fp32, bf16, fp16) is the backbone's (and on a GPU the tokenizer's); ``compile``
    runs the backbone and the tokenizer's decoder through torch.compile, whose one-time cost is
    reported in ``compile_seconds`` and left out of ``seconds``. What guidance pushes away from is the
    scheduler's (its ``negative_prompt``, ``negative_share`` and ``negative_guidance``,
    ``schedulers.guidance_target``)."""
    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    compiling = compiled_parts(bundle) if compile else ()
    compiled_before = sum(c.seconds for c in compiling)
    to_pixels = compiling[1] if compile else bundle.tokenizer.decode
    text = is_text_model(bundle.backbone)
    conditions = [str(c) for c in conditions] if text else [int(c) for c in conditions]
    indices = list(range(len(conditions))) if indices is None else [int(i) for i in indices]
    seeds = [sample_seed(seed, i) for i in indices]
    images, tokens, traces, flops, nfe = [], [], [], [], 0
    start = time.perf_counter()
    for lo in range(0, len(conditions), batch_size):
        hi = min(lo + batch_size, len(conditions))
        result = decode(
            bundle.backbone,
            scheduler,
            conditions_for(bundle, conditions[lo:hi], device, scheduler.negative_prompt, scheduler.negative_share,
                           scheduler.negative_guidance),
            steps,
            seeds[lo:hi],
            trace=trace or count_flops,
            on_step=(lambda _step: on_step()) if on_step else None,
            precision=precision,
            compile=compile,
        )
        if count_flops:
            flops.append((result.masks, result.uncond_steps))
        h, w = bundle.backbone.grid
        with torch.inference_mode(), autocast(tokenizer_precision(precision, device), device):
            codes = result.tokens.view(-1, h, w)
            if compile and codes.shape[0] < batch_size:
                # a compiled decoder sees one batch shape: the last batch is padded, not recompiled
                padding = codes[-1:].expand(batch_size - codes.shape[0], -1, -1)
                pixels = to_pixels(torch.cat([codes, padding]))[: codes.shape[0]]
            else:
                pixels = to_pixels(codes)
        images.append(pixels.float().cpu())
        tokens.append(result.tokens.cpu())
        if trace:
            traces.append(result.trace)
        nfe = result.nfe
    compile_seconds = sum(c.seconds for c in compiling) - compiled_before
    seconds = time.perf_counter() - start - compile_seconds
    if count_flops:  # counted after the clock stops, so it does not inflate the timing
        flops = [generation_flops(bundle.backbone, list(m.unbind(1)), u)["total"] for m, u in flops]
    merged = {k: torch.cat([t[k] for t in traces]) for k in traces[0]} if traces else None
    return Samples(
        images=torch.cat(images),
        tokens=torch.cat(tokens),
        labels=[-1] * len(conditions) if text else conditions,
        indices=indices,
        seeds=seeds,
        trace=merged,
        nfe=nfe,
        seconds=seconds,
        flops=torch.cat(flops) if flops else None,
        compile_seconds=compile_seconds,
        precision=precision,
        prompts=conditions if text else None,
    )
