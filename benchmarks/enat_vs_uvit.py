"""ENAT vs U-ViT on the same tokenizer: compute, CPU wall clock and quality at the same schedule.

    python benchmarks/enat_vs_uvit.py [--models tiny-mnist,tiny-mnist-enat] [--steps 8] [--num 5000]
        [--speed-num 500] [--batch-size 500] [--repeats 3] [--out benchmarks/results/enat_vs_uvit.json]

Targets (issue #7): the second model's GFLOPs per image ≤ 0.5 × the first's, FID ≤ 1.1 ×.
Every model runs the first model's recommended scheduler and settings (cosine, w = 1 for tiny-mnist)
on the same classes and seeds. Quality: FID / precision / recall in the bundle's feature space and
class accuracy over ``--num`` images (seed 0). Speed: ``--speed-num`` images, the models timed
alternately in one process, ``--repeats`` rounds, median seconds. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from pathlib import Path

import torch

from adanat_cli.engine.distributed import Shard
from adanat_cli.engine.sampling import generate_images
from adanat_cli.evaluation.pairs import comparison_labels, evaluate_pair
from adanat_cli.evaluation.setup import evaluation_setup
from adanat_cli.metrics.digit_classifier import load_classifier
from adanat_cli.models.resolve import load_model
from adanat_cli.schedulers.build import build_scheduler

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "enat_vs_uvit.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny-mnist,tiny-mnist-enat")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--num", type=int, default=5000)
    parser.add_argument("--speed-num", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    names = args.models.split(",")
    bundles = [load_model(n) for n in names]
    recommended = bundles[0].recommended

    def scheduler():
        return build_scheduler(None, recommended=recommended)

    classes = list(range(bundles[0].backbone.num_classes))
    labels = comparison_labels(classes, args.num)
    _, extractor, reference = evaluation_setup(bundles[0].evaluation)
    rows = {}
    for name, bundle in zip(names, bundles):
        pair = evaluate_pair(bundle, scheduler(), args.steps, labels, args.seed, args.batch_size, extractor,
                             reference, load_classifier(bundle.path), Shard(), torch.device("cpu"))
        rows[name] = {"fid": pair.fid, "precision": pair.precision, "recall": pair.recall,
                      "class_accuracy": pair.class_accuracy, "nfe": pair.nfe,
                      "gflops_per_image": pair.gflops_per_image, "params": sum(
                          p.numel() for p in bundle.backbone.parameters()), "seconds": []}
        print(f"{name}: FID {pair.fid:.2f}, {pair.gflops_per_image:.3f} GFLOPs/image", flush=True)

    speed_labels = labels[: args.speed_num]
    for _ in range(args.repeats):  # alternate the models so that machine noise hits both alike
        for name, bundle in zip(names, bundles):
            run = generate_images(bundle, scheduler(), speed_labels, args.steps, seed=args.seed,
                                  batch_size=args.batch_size)
            rows[name]["seconds"].append(run.seconds)
    for row in rows.values():
        row["median_seconds"] = statistics.median(row["seconds"])
        row["seconds_per_image"] = row["median_seconds"] / len(speed_labels)

    base = rows[names[0]]
    print(f"\n{'model':<18} {'params':>9} {'GFLOPs/img':>10} {'× base':>7} {'s/img':>8} {'speed-up':>8} "
          f"{'FID':>7} {'× base':>7} {'prec':>6} {'recall':>6} {'class acc':>9}")
    for name, row in rows.items():
        row["flops_ratio"] = row["gflops_per_image"] / base["gflops_per_image"]
        row["speedup"] = base["median_seconds"] / row["median_seconds"]
        row["fid_ratio"] = row["fid"] / base["fid"]
        print(f"{name:<18} {row['params']:>9,} {row['gflops_per_image']:>10.3f} {row['flops_ratio']:>7.2f} "
              f"{row['seconds_per_image']:>8.4f} {row['speedup']:>7.2f}× {row['fid']:>7.2f} {row['fid_ratio']:>7.2f} "
              f"{row['precision']:>6.3f} {row['recall']:>6.3f} {row['class_accuracy']:>9.3f}")
    result = {"benchmark": "enat_vs_uvit", "models": names, "steps": args.steps, "num": args.num,
              "speed_num": args.speed_num, "batch_size": args.batch_size, "seed": args.seed,
              "scheduler": recommended, "threads": torch.get_num_threads(), "machine": platform.machine(),
              "torch": torch.__version__, "rows": rows,
              "targets": {"flops_ratio_max": 0.5, "fid_ratio_max": 1.1}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
