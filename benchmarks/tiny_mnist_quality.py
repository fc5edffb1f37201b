"""Quality of the embedded ``tiny-mnist`` model, measured with its own bundled digit classifier.

    python benchmarks/tiny_mnist_quality.py [--model tiny-mnist] [--per-class 500] [--seed 0]
        [--schedulers cosine linear arccos] [--steps 2 4 8 16] [--out benchmarks/results/tiny_mnist_quality.json]

Measures, on the 5,000 bundled MNIST digits:

* the tokenizer's reconstruction MSE (pixels in [0, 1]);
* the classifier's accuracy on the real images and on their reconstructions;
* for the bundle's recommended setting (cosine, T=8, its tuned scheduler_config): the share of
  generated samples the classifier assigns to the requested class, and FID;
* a table of FID (bundled feature space; ``per-class`` x 10 generated vs the 5,000 real, reference
  statistics from the bundle) and class accuracy for each scheduler and T, every scheduler with its
  defaults plus the same guidance (default: the recommended guidance).

Prints the table and writes every number, with the command, to the JSON file (rewritten after each row,
so an interrupted run keeps what it measured).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

from adanat_cli.data.sources import mnist5k
from adanat_cli.engine.sampling import generate_images
from adanat_cli.io import write_text_atomic
from adanat_cli.metrics import (
    feature_stats,
    frechet_distance,
    load_classifier,
    load_fid_stats,
)
from adanat_cli.metrics.digit_classifier import DigitClassifier
from adanat_cli.models.bundle import ModelBundle
from adanat_cli.models.resolve import load_model
from adanat_cli.schedulers.build import build_scheduler

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "tiny_mnist_quality.json"




@torch.inference_mode()
def tokenizer_numbers(bundle: ModelBundle, classifier: DigitClassifier, mu: torch.Tensor,
                      sigma: torch.Tensor) -> dict[str, float]:
    """Reconstruction MSE, classifier accuracy on real images and reconstructions, and the FID of
    the reconstructions (the tokenizer's floor for any sampler's FID)."""
    images, labels = mnist5k()
    recon = torch.cat([bundle.tokenizer.decode(bundle.tokenizer.encode(images[i:i + 500]))
                       for i in range(0, images.shape[0], 500)])
    pred_real, feats_real = classifier.classify(images)
    pred_recon, feats_recon = classifier.classify(recon)
    mu_real, sigma_real = feature_stats(feats_real)
    return {
        "reconstruction_mse": float(((recon - images) ** 2).mean()),
        "classifier_accuracy_real": float((pred_real == labels).float().mean()),
        "classifier_accuracy_reconstructions": float((pred_recon == labels).float().mean()),
        "fid_reconstructions_vs_real": frechet_distance(*feature_stats(feats_recon), mu, sigma),
        "fid_real_recomputed_vs_bundled_stats": frechet_distance(mu_real, sigma_real, mu, sigma),
    }


def sample_numbers(bundle: ModelBundle, classifier: DigitClassifier, mu: torch.Tensor, sigma: torch.Tensor,
                   scheduler: str, config: dict[str, Any], steps: int, per_class: int, seed: int,
                   batch_size: int) -> dict[str, Any]:
    """FID and class accuracy of ``per_class`` samples of every class."""
    labels = [c for c in range(bundle.backbone.num_classes) for _ in range(per_class)]
    start = time.perf_counter()
    samples = generate_images(bundle, build_scheduler(scheduler, dict(config)), labels, steps, seed=seed,
                              batch_size=batch_size)
    preds, feats = classifier.classify(samples.images)
    mu_g, sigma_g = feature_stats(feats)
    return {
        "scheduler": scheduler,
        "steps": steps,
        "scheduler_config": config,
        "samples": len(labels),
        "fid": frechet_distance(mu_g, sigma_g, mu, sigma),
        "class_accuracy": float((preds == torch.tensor(labels)).float().mean()),
        "seconds": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny-mnist")
    parser.add_argument("--per-class", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--schedulers", nargs="+", default=["cosine", "linear", "arccos"])
    parser.add_argument("--steps", nargs="+", type=int, default=[2, 4, 8, 16])
    parser.add_argument("--guidance", type=float, default=None, help="default: the bundle's recommended guidance")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (1 is faster on a busy machine)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the numbers already in --out for the same model, seed and size; measure the rest")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    bundle = load_model(args.model)
    classifier = load_classifier(bundle.path)
    if classifier is None:
        print(f"Error: model '{args.model}' ships no classifier", file=sys.stderr)
        return 1
    mu, sigma = load_fid_stats(bundle.path)
    recommended = bundle.recommended
    guidance = args.guidance if args.guidance is not None else float(
        recommended.get("scheduler_config", {}).get("guidance", 0.0))
    result: dict[str, Any] = {
        "command": "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]),
        "model": args.model,
        "seed": args.seed,
        "per_class": args.per_class,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "table_guidance": guidance,
    }

    previous: dict[str, Any] = {}
    if args.resume and args.out.is_file():
        previous = json.loads(args.out.read_text(encoding="utf-8"))
        same = all(previous.get(k) == result[k] for k in ("model", "seed", "per_class", "table_guidance"))
        previous = previous if same else {}
        result["commands"] = previous.get("commands", [previous.get("command")]) + [result["command"]]

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")

    result["tokenizer_and_classifier"] = previous.get("tokenizer_and_classifier") or tokenizer_numbers(
        bundle, classifier, mu, sigma)
    print(json.dumps(result["tokenizer_and_classifier"], indent=2), flush=True)
    save()
    result["recommended"] = previous.get("recommended") or sample_numbers(
        bundle, classifier, mu, sigma, recommended["scheduler"], recommended.get("scheduler_config", {}),
        int(recommended["steps"]), args.per_class, args.seed, args.batch_size)
    rec = result["recommended"]
    print(f"recommended ({rec['scheduler']}, T={rec['steps']}, {rec['scheduler_config']}): "
          f"class accuracy {rec['class_accuracy']:.4f}, FID {rec['fid']:.3f}", flush=True)
    save()

    result["table"] = []
    done = {(r["scheduler"], r["steps"]): r for r in previous.get("table", [])}
    for scheduler in args.schedulers:
        for steps in args.steps:
            if (scheduler, steps) in done:
                result["table"].append(done[(scheduler, steps)])
                continue
            row = sample_numbers(bundle, classifier, mu, sigma, scheduler, {"guidance": guidance}, steps,
                                 args.per_class, args.seed, args.batch_size)
            result["table"].append(row)
            print(f"{scheduler:>8} T={steps:<3} FID {row['fid']:8.3f}  class acc {row['class_accuracy']:.4f}  "
                  f"({row['seconds']:.0f} s)", flush=True)
            save()

    print(f"\nFID ({args.per_class * bundle.backbone.num_classes} samples vs {5000} real, guidance {guidance:g}, "
          f"seed {args.seed}); class accuracy in brackets")
    print(f"{'scheduler':>10} " + " ".join(f"{'T=' + str(t):>16}" for t in args.steps))
    for scheduler in args.schedulers:
        cells = [r for r in result["table"] if r["scheduler"] == scheduler]
        print(f"{scheduler:>10} " + " ".join(f"{r['fid']:8.3f} ({r['class_accuracy']:.3f})" for r in cells))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
