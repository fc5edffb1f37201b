"""Seconds per PPO update of ``train-policy``: fp32 eager against ``--precision bf16 --compile`` (target ≥ 1.5×).

    python benchmarks/ppo_update_speed.py [--model tiny-mnist] [--steps 8] [--trajectories 256]
        [--batch-size 256] [--updates 4] [--eval-num 500] [--eval-seeds 3] [--fast-precision bf16]
        [--no-fast-compile] [--warm-compile-cache] [--device auto] [--threads 0]
        [--out benchmarks/results/ppo_update_speed.json]

Builds two trainers in one process with the model's recipe for ``--steps`` (``--trajectories``
and ``--batch-size`` overriding it, no evaluation during training), identical but for
precision/compile, and alternates their updates (fp32, fast, fp32, fast, …) so that a change in the
machine's load hits both alike. Update 1 of each is a warm-up (for the compiled one it includes
torch.compile's one-time cost, reported apart; Inductor's on-disk cache is a fresh folder unless
``--warm-compile-cache``, so that cost is the one a first run pays); the mean of the others is the
speed. Every update
is split into its phases (``phase_seconds`` of train.jsonl): rollout (the generations), reward
(scoring the images), ppo (the epochs) and reward_update (the discriminator's steps).

Then each trainer's policy is evaluated as training evaluates it (FID on ``--eval-num`` images in its
own precision/compile) with seeds 999, 1000, … (``--eval-seeds`` of them), so that the difference
between the two settings can be read against the evaluation's own noise. Prints a table and writes
JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from adanat_cli.cli.devices import pick_device
from adanat_cli.data.training_images import load_real_images
from adanat_cli.engine.distributed import Shard
from adanat_cli.evaluation.pairs import comparison_labels, evaluate_pair
from adanat_cli.evaluation.setup import evaluation_setup
from adanat_cli.models.resolve import load_model
from adanat_cli.schedulers.adanat import AdaNATScheduler
from adanat_cli.training.ppo import EVAL_SEED, PolicyTrainer
from adanat_cli.training.recipes import recipe_for, resolve_settings

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "ppo_update_speed.json"
TARGET_RATIO = 1.5
PHASES = ("rollout", "reward", "ppo", "reward_update")


def evaluate(trainer: PolicyTrainer, seeds: list[int], extractor, reference) -> list[float]:
    """FID of ``trainer``'s current mean policy, once per seed, in the trainer's precision/compile."""
    s, bundle = trainer.settings, trainer.bundle
    policy = trainer.export(trainer.out / "benchmark.safetensors")
    labels = comparison_labels(list(range(bundle.backbone.num_classes)), s.eval_num)
    return [evaluate_pair(bundle, AdaNATScheduler(policy=str(policy)), s.steps, labels, seed, s.batch_size,
                          extractor, reference, None, Shard(), trainer.device, precision=s.precision,
                          compile=s.compile).fid
            for seed in seeds]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny-mnist")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--trajectories", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--updates", type=int, default=4, help="per setting, the first a warm-up")
    parser.add_argument("--eval-num", type=int, default=500)
    parser.add_argument("--eval-seeds", type=int, default=3)
    parser.add_argument("--fast-precision", default="bf16")
    parser.add_argument("--no-fast-compile", dest="fast_compile", action="store_false")
    parser.add_argument("--warm-compile-cache", action="store_true",
                        help="keep Inductor's on-disk cache (default: a fresh one, for a cold compile)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.updates < 2:
        parser.error("--updates must be at least 2 (the first is a warm-up)")
    if args.threads:
        torch.set_num_threads(args.threads)
    cache = None if args.warm_compile_cache else tempfile.TemporaryDirectory(prefix="inductor-")
    if cache is not None:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache.name

    device = pick_device(args.device)
    bundle = load_model(args.model, device=device)
    images, labels = load_real_images(bundle.evaluation["real"], bundle.backbone.num_classes, bundle.image_size)
    extractor, reference = evaluation_setup(bundle.evaluation, device)[1:]
    common = {"trajectories": args.trajectories, "batch_size": args.batch_size, "eval_every": 0,
              "eval_num": args.eval_num, "updates": args.updates}
    setups = {"fp32": {"precision": "fp32", "compile": False},
              "fast": {"precision": args.fast_precision, "compile": args.fast_compile}}
    names = {"fp32": "fp32, eager",
             "fast": f"{args.fast_precision}, {'compiled' if args.fast_compile else 'eager'}"}
    records: dict[str, list[dict]] = {key: [] for key in setups}
    fids: dict[str, list[float]] = {}
    seeds = [EVAL_SEED + i for i in range(args.eval_seeds)]
    with tempfile.TemporaryDirectory() as tmp:
        trainers = {}
        for key, setup in setups.items():
            settings, _ = resolve_settings(args.steps, recipe_for(bundle.config, args.steps), None, {**common, **setup})
            (Path(tmp) / key).mkdir()
            trainers[key] = PolicyTrainer(bundle, settings, images, labels, Path(tmp) / key, device)
        for _ in range(args.updates):
            for key, trainer in trainers.items():
                before = trainer.compile_seconds()
                start = time.perf_counter()
                record = trainer.one_update()
                record["seconds"] = time.perf_counter() - start
                record["compile_seconds"] = trainer.compile_seconds() - before
                records[key].append(record)
                print(f"{names[key]:>14} update {record['update']}: {record['seconds']:6.2f} s "
                      f"{json.dumps(record['phase_seconds'])}", flush=True)
        for key, trainer in trainers.items():
            fids[key] = evaluate(trainer, seeds, extractor, reference)

    rows = {}
    for key, setup in setups.items():
        timed = records[key][1:]
        rows[key] = {
            "setting": names[key], **setup,
            "seconds_per_update": statistics.mean(r["seconds"] for r in timed),
            "seconds": [r["seconds"] for r in records[key]],
            "phases": {p: statistics.mean(r["phase_seconds"][p] for r in timed) for p in PHASES},
            "first_update_seconds": records[key][0]["seconds"],
            "compile_seconds": records[key][0]["compile_seconds"],
            "reward_mean": [r["reward_mean"] for r in records[key]],
            "eval_fid": fids[key],
            "eval_fid_mean": statistics.mean(fids[key]),
            "eval_fid_std": statistics.stdev(fids[key]) if len(fids[key]) > 1 else None,
        }
    ratio = rows["fp32"]["seconds_per_update"] / rows["fast"]["seconds_per_update"]
    result = {
        "model": args.model, "steps": args.steps, "trajectories": args.trajectories, "batch_size": args.batch_size,
        "updates": args.updates, "eval_num": args.eval_num, "eval_seeds": seeds, "device": str(device),
        "threads": torch.get_num_threads(), "rows": list(rows.values()), "speedup": ratio, "target": TARGET_RATIO,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(), "torch": torch.__version__,
        "compile_cache": "warm" if args.warm_compile_cache else "fresh",
    }
    if cache is not None:
        cache.cleanup()

    print()
    header = f"{'setting':>14} {'s/update':>9} " + " ".join(f"{p:>13}" for p in PHASES)
    header += f" {'1st update':>10} {'compile s':>9} {'eval FID (mean ± std)':>22}"
    print(header)
    for row in rows.values():
        std = f" ± {row['eval_fid_std']:.2f}" if row["eval_fid_std"] is not None else ""
        print(f"{row['setting']:>14} {row['seconds_per_update']:9.2f} "
              + " ".join(f"{row['phases'][p]:13.2f}" for p in PHASES)
              + f" {row['first_update_seconds']:10.2f} {row['compile_seconds']:9.2f}"
              + f" {row['eval_fid_mean']:>14.2f}{std:>8}")
    print(f"speed-up {ratio:.2f}x (target >= {TARGET_RATIO:g}x); {args.updates - 1} timed updates each after a warm-up, "
          f"{args.trajectories} trajectories, T={args.steps}, {device}, {torch.get_num_threads()} threads; "
          f"FID on {args.eval_num} images, seeds {seeds[0]}..{seeds[-1]}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
