"""Plot a `train-policy` run's log: reward, discriminator accuracy and evaluation FID per update.

    python benchmarks/training_curves.py runs/tiny-mnist-T4/train.jsonl [more logs …] --out docs/results/training.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    figure, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    for log in args.logs:
        rows = [json.loads(line) for line in log.read_text().splitlines()]
        label = log.parent.name
        axes[0].plot([r["update"] for r in rows], [r["reward_mean"] for r in rows], label=label)
        axes[1].plot([r["update"] for r in rows], [r.get("d_acc", float("nan")) for r in rows], label=label)
        evals = [r for r in rows if "eval_fid" in r]
        axes[2].plot([r["update"] for r in evals], [r["eval_fid"] for r in evals], marker="o", label=label)
    for axis, title in zip(axes, ("reward (sigmoid D) mean", "discriminator accuracy", "evaluation FID (1,000 images)")):
        axis.set_title(title)
        axis.set_xlabel("PPO update")
        axis.grid(alpha=0.3)
        axis.legend()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=110, bbox_inches="tight")
    print(args.out)


if __name__ == "__main__":
    main()
