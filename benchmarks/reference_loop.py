"""``generate_images`` against a straightforward official-style sampling loop, on the same weights.

    python benchmarks/reference_loop.py [--cases tiny-mnist,uvit,enat] [--rounds 2] [--device cpu]
                                        [--out benchmarks/results/reference_loop.json]

The reference loop is written here, the way the public MaskGIT / U-ViT samplers are: one batched
cond+uncond forward per step, Gumbel sampling of tokens and re-mask noise from one generator,
float32 eager. Against it run ``generate_images`` in fp32, bf16 and bf16 + ``torch.compile``; T = 8,
cosine schedule, guidance w = 1; both decode the final tokens with the same tokenizer.

Cases: (a) ``tiny-mnist``: the bundled model, batch 250; (b) ``uvit``: a U-ViT at ImageNet token
shapes (16×16 grid, codebook 1,024) with random weights, width 512 and depth 6 so that one run takes
about a minute on a 2-core CPU, batch 32; (c) ``enat``: ENAT at the same shapes (6 encoder + 2
decoder blocks), batch 32, each loop reusing its previous step as ENAT is meant to run.

Every variant is first run once on two steps (a warm-up: allocations, and the one-time compilation,
whose time is reported apart); then ``--rounds`` rounds run the variants in alternation, and each
variant's time is the median over rounds. Ratios are reference time / variant time (higher is
faster). Peak memory is the extra resident memory during a run (CPU, sampled every 5 ms) or the
peak allocated CUDA memory.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import torch
from torch import nn

from adanat_cli.architectures.base import Backbone, Tokenizer
from adanat_cli.architectures.enat import ENAT
from adanat_cli.architectures.uvit import UViT
from adanat_cli.engine.precision import compiled_graphs
from adanat_cli.engine.sampling import generate_images
from adanat_cli.models.resolve import load_model
from adanat_cli.registry import registry

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "reference_loop.json"
STEPS, GUIDANCE = 8, 1.0
VARIANTS = ("reference fp32", "adanat fp32", "adanat bf16", "adanat bf16+compile")
TARGETS = {"tiny-mnist": {"adanat bf16+compile": 1.8}, "uvit": {"adanat fp32": 1.05, "adanat bf16+compile": 2.2},
           "enat": {"adanat bf16+compile": 1.8}}


class PaletteTokenizer(Tokenizer):
    """A stand-in decoder for random-weight backbones: each code is a flat colour patch (cheap, so the
    timing is the sampling loop's)."""

    def __init__(self, codebook_size: int = 1024, downsample: int = 16):
        super().__init__(codebook_size=codebook_size, downsample=downsample)
        self.palette = nn.Parameter(torch.rand(codebook_size, 3))

    def decode_raw(self, codes: torch.Tensor) -> torch.Tensor:
        colours = self.palette[codes]  # (B, h, w, 3)
        f = self.downsample
        return colours.repeat_interleave(f, 1).repeat_interleave(f, 2).permute(0, 3, 1, 2)

    def to_unit(self, raw: torch.Tensor) -> torch.Tensor:
        return raw

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@dataclass
class Case:
    name: str
    backbone: Backbone
    tokenizer: Tokenizer
    batch: int
    schedule: dict  # the cosine scheduler's config both loops use

    @property
    def bundle(self):  # what generate_images reads of a bundle
        return type("Bundle", (), {"backbone": self.backbone, "tokenizer": self.tokenizer})()


def build_case(name: str, device: torch.device) -> Case:
    torch.manual_seed(0)
    if name == "tiny-mnist":
        bundle = load_model("tiny-mnist", device=device)
        schedule = bundle.scheduler_defaults("cosine", STEPS)
        return Case(name, bundle.backbone, bundle.tokenizer, 250, schedule)
    shapes = {"codebook_size": 1024, "num_classes": 1000, "grid_size": 16, "dim": 512, "num_heads": 8}
    if name == "uvit":
        backbone: Backbone = UViT(**shapes, depth=6)
    elif name == "enat":
        backbone = ENAT(**shapes, encoder_depth=6, decoder_depth=2)
    else:
        raise SystemExit(f"unknown case '{name}' (tiny-mnist, uvit, enat)")
    schedule = {"sample_temp": 1.0, "remask_temp": 4.5}
    return Case(name, backbone.eval().to(device), PaletteTokenizer().eval().to(device), 32, schedule)


@torch.inference_mode()
def reference_loop(case: Case, labels: torch.Tensor, steps: int, seed: int) -> torch.Tensor:
    """The official-style loop: batched cond+uncond forward, Gumbel-max sampling, one generator."""
    backbone, device = case.backbone, labels.device
    gen = torch.Generator(device=device).manual_seed(seed)
    batch, n, v = labels.shape[0], backbone.num_tokens, backbone.codebook_size
    ids = torch.full((batch, n), backbone.mask_id, dtype=torch.long, device=device)
    both_labels = torch.cat([labels, torch.full_like(labels, backbone.null_class)])
    sample_temp, remask_temp = case.schedule.get("sample_temp", 1.0), case.schedule.get("remask_temp", 4.5)
    cache = None
    for step in range(steps):
        masked = ids == backbone.mask_id
        if getattr(backbone, "supports_cache", False):
            out = backbone(torch.cat([ids, ids]), both_labels, cache=cache)
            cache = out.cache
        else:
            out = backbone(torch.cat([ids, ids]), both_labels)
        cond, uncond = out.logits[:batch].float(), out.logits[batch:].float()
        logits = cond + GUIDANCE * (cond - uncond)
        gumbel = -torch.log(-torch.log(torch.rand(batch, n, v, generator=gen, device=device).clamp_(1e-20, 1 - 1e-7)))
        sampled = torch.where(masked, (logits / sample_temp + gumbel).argmax(-1), ids)
        if step == steps - 1:
            ids = sampled
            break
        keep = math.floor(n * math.cos(math.pi / 2 * (step + 1) / steps))
        keep = torch.clamp(masked.sum(1) - 1, max=keep).clamp_min(0)  # (B,)
        confidence = torch.log_softmax(logits, -1).gather(-1, sampled[..., None]).squeeze(-1)
        noise = -torch.log(-torch.log(torch.rand(batch, n, generator=gen, device=device).clamp_(1e-20, 1 - 1e-7)))
        confidence = (confidence + remask_temp * noise).masked_fill(~masked, float("inf"))
        ranks = confidence.argsort(1).argsort(1)
        ids = torch.where(ranks < keep[:, None], torch.full_like(sampled, backbone.mask_id), sampled)
    h, w = backbone.grid
    return case.tokenizer.decode(ids.view(-1, h, w)).float().cpu()


class PeakMemory:
    """Peak extra memory of the enclosed code: resident set (CPU) or allocated CUDA memory."""

    def __init__(self, device: torch.device):
        self.device, self.peak = device, 0

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        self._process, self._stop = psutil.Process(), threading.Event()
        self._base = self._process.memory_info().rss
        self._high = self._base

        def watch() -> None:
            while not self._stop.wait(0.005):
                self._high = max(self._high, self._process.memory_info().rss)

        self._thread = threading.Thread(target=watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self._base
            return
        self._stop.set()
        self._thread.join()
        self._high = max(self._high, self._process.memory_info().rss)
        self.peak = self._high - self._base


def runner(case: Case, variant: str, device: torch.device) -> Callable[[int], dict]:
    labels = [i % case.backbone.num_classes for i in range(case.batch)]
    scheduler = registry.get("schedulers", "cosine")(**{**case.schedule, "guidance": GUIDANCE})

    def run(steps: int) -> dict:
        with PeakMemory(device) as memory:
            start = time.perf_counter()
            if variant == "reference fp32":
                reference_loop(case, torch.tensor(labels, device=device), steps, seed=0)
                compile_seconds = 0.0
            else:
                precision = "fp32" if "fp32" in variant else "bf16"
                samples = generate_images(case.bundle, scheduler, labels, steps, seed=0, batch_size=case.batch,
                                          device=device, precision=precision, compile="compile" in variant)
                compile_seconds = samples.compile_seconds
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds = time.perf_counter() - start - compile_seconds
        return {"seconds": seconds, "compile_seconds": compile_seconds, "peak_mib": memory.peak / 2**20}

    return run


def measure(case: Case, rounds: int, device: torch.device) -> dict:
    runs = {v: runner(case, v, device) for v in VARIANTS}
    warmup = {}
    for variant, run in runs.items():
        graphs = compiled_graphs()
        first = run(2)
        warmup[variant] = {"seconds": round(first["seconds"] + first["compile_seconds"], 3),
                           "compile_seconds": round(first["compile_seconds"], 3),
                           "graphs": compiled_graphs() - graphs}
        print(f"  {case.name}: warm-up {variant}: {warmup[variant]['seconds']:.1f} s", file=sys.stderr, flush=True)
    timings: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for r in range(rounds):
        for variant, run in runs.items():
            timings[variant].append(run(STEPS))
            print(f"  {case.name}: round {r + 1} {variant}: {timings[variant][-1]['seconds']:.1f} s",
                  file=sys.stderr, flush=True)
    reference = statistics.median(t["seconds"] for t in timings["reference fp32"])
    rows = {}
    for variant, runs_of in timings.items():
        seconds = statistics.median(t["seconds"] for t in runs_of)
        target = TARGETS.get(case.name, {}).get(variant)
        rows[variant] = {
            "seconds": [round(t["seconds"], 3) for t in runs_of],
            "median_s": round(seconds, 3),
            "images_per_s": round(case.batch / seconds, 2),
            "speedup": round(reference / seconds, 3),
            "peak_mib": round(max(t["peak_mib"] for t in runs_of), 1),
            "compile_s": warmup[variant]["compile_seconds"],
            "target_speedup": target,
            "met": None if target is None else reference / seconds >= target,
        }
    return {"batch": case.batch, "steps": STEPS, "guidance": GUIDANCE, "config": dict(case.backbone.config),
            "warmup": warmup, "variants": rows}


def print_table(results: dict) -> None:
    print(f"{'case':<11} {'variant':<20} {'median s':>9} {'img/s':>8} {'× ref':>7} {'peak MiB':>9} {'compile s':>10} target")
    for name, result in results.items():
        for variant, row in result["variants"].items():
            target = "" if row["target_speedup"] is None else (
                f"≥ {row['target_speedup']}× {'met' if row['met'] else 'MISSED'}")
            print(f"{name:<11} {variant:<20} {row['median_s']:9.2f} {row['images_per_s']:8.2f} {row['speedup']:7.2f} "
                  f"{row['peak_mib']:9.1f} {row['compile_s']:10.1f} {target}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="tiny-mnist,uvit,enat")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    results = {}
    for name in [c.strip() for c in args.cases.split(",") if c.strip()]:
        results[name] = measure(build_case(name, device), args.rounds, device)
    print_table(results)
    document = {
        "command": "python benchmarks/reference_loop.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else
        f"{platform.machine()} CPU, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "rounds": args.rounds,
        "cases": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
