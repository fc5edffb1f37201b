"""Share of sampling time spent in the AdaNAT policy network (target: ≤ 5 %).

    python benchmarks/policy_overhead.py [--model tiny-mnist] [--steps 8] [--num 500] [--batch-size 250]
        [--policy FILE] [--repeats 3] [--out benchmarks/results/policy_overhead.json]

Times whole ``generate_images`` runs with the ``adanat`` scheduler and, inside them, every call of
the policy network (forward hooks with wall-clock timestamps), side by side in one process. Also
times the same generation with ``cosine`` plus always-on guidance (the same number of backbone
forwards) as a sanity reference. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from adanat_cli.engine.sampling import generate_images
from adanat_cli.models.resolve import load_model
from adanat_cli.schedulers.build import build_scheduler

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "policy_overhead.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-mnist")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--num", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--policy", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    bundle = load_model(args.model)
    classes = list(range(bundle.backbone.num_classes))
    labels = [classes[i % len(classes)] for i in range(args.num)]
    extra = {"policy": args.policy} if args.policy else bundle.scheduler_defaults("adanat", args.steps)
    policy = build_scheduler("adanat", extra)
    cosine = build_scheduler("cosine", {"guidance": 1.0})

    spent = []
    started: list[float] = []
    policy.actor.register_forward_pre_hook(lambda *_: started.append(time.perf_counter()))
    policy.actor.register_forward_hook(lambda *_: spent.append(time.perf_counter() - started.pop()))

    rows = []
    for _ in range(args.repeats):
        spent.clear()
        total = generate_images(bundle, policy, labels, args.steps, seed=0, batch_size=args.batch_size).seconds
        reference = generate_images(bundle, cosine, labels, args.steps, seed=0, batch_size=args.batch_size).seconds
        rows.append({"adanat_seconds": total, "policy_seconds": sum(spent), "share": sum(spent) / total,
                     "cosine_w1_seconds": reference})
    share = statistics.median(r["share"] for r in rows)
    print(f"{'run':>4} {'adanat s':>10} {'policy s':>10} {'share':>8} {'cosine(w=1) s':>14}")
    for i, r in enumerate(rows):
        print(f"{i:>4} {r['adanat_seconds']:>10.3f} {r['policy_seconds']:>10.4f} {r['share']:>8.2%} {r['cosine_w1_seconds']:>14.3f}")
    print(f"median share of sampling time in the policy: {share:.2%} (target ≤ 5%)")
    result = {"benchmark": "policy_overhead", "model": bundle.name, "steps": args.steps, "num": args.num,
              "batch_size": args.batch_size, "threads": torch.get_num_threads(), "machine": platform.machine(),
              "processor": platform.processor(), "runs": rows, "median_share": share, "target_share": 0.05}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
