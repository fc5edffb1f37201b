"""A tiny randomly initialised U-ViT + VQGAN bundle, for tests and for trying the CLI with no weights.

    python -m tests.random_bundle OUT_DIR [--seed N] [--overwrite]

Its images are noise-like: it exercises every code path of loading and sampling, nothing more.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from adanat_cli.architectures.uvit import UViT
from adanat_cli.architectures.vqgan import VQGANJax
from adanat_cli.errors import run_script
from adanat_cli.models.bundle import save_bundle


def make_random_bundle(path: str | Path, seed: int = 0, overwrite: bool = False) -> Path:
    torch.manual_seed(seed)
    backbone = UViT(codebook_size=64, num_classes=10, grid_size=4, dim=32, depth=4, num_heads=2, dropout=0.0)
    tokenizer = VQGANJax(ch=32, ch_mult=[1, 1, 2], num_res_blocks=1, z_channels=8, codebook_size=64)
    return save_bundle(
        path,
        name="tiny-random",
        backbone=backbone.eval(),
        tokenizer=tokenizer.eval(),
        classes=[str(i) for i in range(10)],
        recommended={"scheduler": "cosine", "steps": 4},
        provenance={"source": "random initialisation", "seed": seed},
        overwrite=overwrite,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    return run_script(lambda: make_random_bundle(args.out, args.seed, args.overwrite))


if __name__ == "__main__":
    sys.exit(main())
