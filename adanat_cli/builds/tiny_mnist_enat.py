"""Reproducible build of ``tiny-mnist-enat``: an ENAT backbone on the tokenizer of ``tiny-mnist``.

    python -m adanat_cli.builds.tiny_mnist_enat [--out DIR] [--quick] [--overwrite]

Reads the shipped ``tiny-mnist`` bundle and keeps its tokenizer, digit classifier, FID statistics and
recommended scheduler settings, so the two models differ only in the backbone. Trains, on the CPU with
fixed seeds, an ``ENAT`` (4 encoder + 2 decoder blocks, width 128) on the same token grids the U-ViT
saw (every digit plus shifted copies), the MaskGIT way (cosine mask ratio, loss on masked tokens,
label smoothing, label dropout for guidance), with ENAT's reuse training (REFERENCE §3): on half the
batches the model also receives a previous step, whose input is the current input with a random
fraction of each row's visible tokens re-masked and whose features come from the EMA model. It then
measures FID and class agreement of 1,000 cosine T=8 samples (seed 1) for the log and writes the
bundle. ``--quick`` trains for a handful of steps (for the test suite).
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..architectures.enat import ENAT
from ..data.sources import mnist5k
from ..io import ensure_writable
from ..metrics.digit_classifier import load_classifier, load_fid_stats
from ..models.bundle import ModelBundle, load_bundle, save_bundle
from ..models.resolve import BUILTIN_DIR
from .tiny_mnist import (
    CLASSES,
    cpu_threads,
    derived_build_main,
    NUM_THREADS,
    SEEDS,
    MaskedTokenTrainer,
    backbone_dataset,
    cosine_lr,
    sample_fid,
)
from .tiny_mnist import Budget as UViTBudget

DEFAULT_OUT = BUILTIN_DIR / "tiny-mnist-enat"
DEFAULT_SOURCE = BUILTIN_DIR / "tiny-mnist"

BACKBONE_CONFIG = dict(
    codebook_size=128, num_classes=10, grid_size=7, dim=128, encoder_depth=4, decoder_depth=2, num_heads=4,
    mlp_ratio=4.0, dropout=0.1,
)
SEED = 4
EVAL_SEED = 1  # the seed tiny-mnist's tuning used; never the evaluation seed 0


@dataclass
class Budget:
    steps: int = 4500
    batch: int = 64
    warmup: int = 200
    reuse_share: float = 0.5  # share of batches trained with a previous step to reuse
    shift_copies: int = 2
    eval_samples: int = 1000

    @classmethod
    def quick(cls) -> "Budget":
        return cls(steps=3, batch=16, warmup=1, shift_copies=0, eval_samples=10)


def log(msg: str) -> None:
    print(f"[tiny-mnist-enat {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def previous_input(inputs: torch.Tensor, mask: torch.Tensor, mask_id: int, gen: torch.Generator) -> torch.Tensor:
    """The input of a simulated previous step: each row re-masks a fraction u ~ U(0, 1) of its
    visible tokens (inputs, mask (B, N) -> (B, N)). Its mask contains the current one, as a real
    previous step's does."""
    b, n = inputs.shape
    share = torch.rand(b, 1, generator=gen)
    hide = ~mask & (torch.rand(b, n, generator=gen) < share)
    return inputs.masked_fill(hide, mask_id)


def train_enat(codes: torch.Tensor, labels: torch.Tensor, budget: Budget, seed: int) -> tuple[ENAT, dict]:
    """MaskGIT training of ENAT with reuse on ``reuse_share`` of the batches; returns the EMA weights."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    trainer = MaskedTokenTrainer(ENAT(**BACKBONE_CONFIG), ENAT, BACKBONE_CONFIG)
    mask_id = trainer.model.mask_id

    def previous_step(inputs: torch.Tensor, mask: torch.Tensor, y: torch.Tensor):
        if not bool(torch.rand(1, generator=gen) < budget.reuse_share):
            return None
        with torch.no_grad():
            return trainer.ema(previous_input(inputs, mask, mask_id, gen), y).cache

    losses: dict[str, list[float]] = {"fresh": [], "reuse": []}
    for step in range(budget.steps):
        lr = cosine_lr(step, budget.steps, 1e-3, budget.warmup)
        loss, reused = trainer.step(codes, labels, budget.batch, lr, step, gen, cache_for=previous_step)
        losses["reuse" if reused else "fresh"].append(loss)
        if (step + 1) % 250 == 0:
            recent = {k: sum(v[-50:]) / max(1, len(v[-50:])) for k, v in losses.items()}
            log(f"step {step + 1}/{budget.steps}: loss without reuse {recent['fresh']:.4f}, "
                f"with reuse {recent['reuse']:.4f}")
    final = {f"final_loss_{k}": round(sum(v[-200:]) / max(1, len(v[-200:])), 4) for k, v in losses.items()}
    return trainer.ema.eval(), final


def build(out: Path, source: Path = DEFAULT_SOURCE, quick: bool = False, overwrite: bool = False,
          threads: int | None = None) -> Path:
    """Train the ENAT backbone and write the bundle folder ``out`` (``threads``: CPU threads, default
    2 for the full build, 1 for ``quick``)."""
    ensure_writable(Path(out), overwrite)  # fail before training, not after
    threads = threads or (1 if quick else NUM_THREADS)
    with cpu_threads(threads):
        return _build(Path(out), Path(source), quick, overwrite, threads)


def _build(out: Path, source: Path, quick: bool, overwrite: bool, threads: int) -> Path:
    budget = Budget.quick() if quick else Budget()
    start_all = time.perf_counter()
    parent = load_bundle(source, name="tiny-mnist")
    parent_config = parent.config
    tok = parent.tokenizer
    classifier = load_classifier(source)
    mu, sigma = load_fid_stats(source)

    images, labels = mnist5k()
    if quick:
        images, labels = images[::50], labels[::50]
    # the same token grids as tiny-mnist's U-ViT: same shifts, same seed
    shifts = UViTBudget(shift_copies=budget.shift_copies)
    codes, code_labels = backbone_dataset(tok, images, labels, shifts, SEEDS["backbone"])
    t0 = time.perf_counter()
    backbone, losses = train_enat(codes, code_labels, budget, SEED)
    train_seconds = time.perf_counter() - t0
    log(f"training: {train_seconds:.1f} s on {codes.shape[0]} token grids, {losses}")

    recommended = parent_config["recommended"]
    t0 = time.perf_counter()
    bundle = ModelBundle("tiny-mnist-enat", out, backbone, tok, CLASSES)
    fid, acc = sample_fid(bundle, classifier, mu, sigma, recommended["scheduler_config"],
                          recommended["steps"], max(1, budget.eval_samples // len(CLASSES)), EVAL_SEED,
                          name=recommended["scheduler"])
    eval_seconds = time.perf_counter() - t0
    log(f"cosine T=8, {budget.eval_samples} samples: FID {fid:.3f}, class accuracy {acc:.3f}")

    command = "python -m adanat_cli.builds.tiny_mnist_enat" + (" --quick" if quick else "")
    provenance = {
        "command": command,
        "parent": "tiny-mnist (tokenizer, classifier, FID statistics and recommended settings copied)",
        "data": parent_config["provenance"].get("data", "adanat_cli/data/mnist5k.npz"),
        "seed": SEED,
        "budget": asdict(budget),
        "stage_seconds": {"train": round(train_seconds, 1), "eval": round(eval_seconds, 1),
                          "total": round(time.perf_counter() - start_all, 1)},
        "training": losses,
        "check": {"scheduler": recommended["scheduler"], "steps": recommended["steps"],
                  "samples": budget.eval_samples, "seed": EVAL_SEED, "fid": fid, "class_accuracy": acc},
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": threads,
    }
    extras = {
        "classifier.safetensors": classifier.state_dict(),
        "fid_stats.safetensors": {"mu": mu, "sigma": sigma},
    }
    extra_config = {key: parent_config[key] for key in ("classifier", "fid_stats", "evaluation")}
    path = save_bundle(out, "tiny-mnist-enat", backbone, tok, CLASSES, recommended=recommended,
                       provenance=provenance, overwrite=overwrite, extras=extras, extra_config=extra_config)
    log(f"wrote {path} in {time.perf_counter() - start_all:.1f} s")
    return path


def main(argv: list[str] | None = None) -> int:
    return derived_build_main(argv, "adanat_cli.builds.tiny_mnist_enat", __doc__, DEFAULT_OUT, DEFAULT_SOURCE, build)


if __name__ == "__main__":
    sys.exit(main())
