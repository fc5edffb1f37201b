"""Train tiny-mnist's held-out feature network and ship it in the built-in bundles.

``python -m adanat_cli.builds.heldout_extractor [--steps 1500]`` trains ``HeldoutNet`` on the second
half of each class of mnist5k, reports its accuracy on the first half, and adds
``heldout_extractor.safetensors`` to ``tiny-mnist`` and ``tiny-mnist-enat`` (same data, same digits).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..data.sources import mnist5k
from ..metrics.heldout import HeldoutNet, train_heldout
from ..models.bundle import add_to_bundle
from ..models.resolve import builtin_models

SEED = 7


def halves(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(first-half indices, second-half indices): each class's digits split in order."""
    first, second = [], []
    for c in labels.unique().tolist():
        idx = (labels == c).nonzero().flatten()
        first.append(idx[: len(idx) // 2])
        second.append(idx[len(idx) // 2:])
    return torch.cat(first), torch.cat(second)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args(argv)
    images, labels = mnist5k()
    first, second = halves(labels)
    began = time.perf_counter()
    model = train_heldout(images[second], labels[second], steps=args.steps, seed=SEED,
                          log=lambda m: print(m, file=sys.stderr))
    with torch.no_grad():
        accuracy = (model(images[first]).argmax(-1) == labels[first]).float().mean().item()
        scale = 1.0 / model.embed(images).std(dim=0).mean().item()
    scaled = HeldoutNet(**{**model.config, "feature_scale": round(scale, 6)})
    scaled.load_state_dict(model.state_dict())
    model = scaled.eval()
    print(f"held-out network: accuracy {accuracy:.4f} on the other half ({len(first)} digits), "
          f"{time.perf_counter() - began:.0f} s", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "heldout_extractor.safetensors"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(file), metadata={"format": "pt"})
        spec = {"type": "heldout-cnn", "config": model.config, "file": file.name,
                "trained_on": "mnist5k, the second half of each class (2,500 digits)", "seed": SEED,
                "steps": args.steps, "accuracy_on_first_half": round(accuracy, 4)}
        for name in ("tiny-mnist", "tiny-mnist-enat"):
            add_to_bundle(builtin_models()[name], {file.name: file}, {}, replace={"heldout_extractor": spec})
    print(json.dumps(spec, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
