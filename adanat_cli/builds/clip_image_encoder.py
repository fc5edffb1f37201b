"""Add a CLIP image encoder to ``tiny-mnist-text``: the image side of its frozen text encoder's space.

    python -m adanat_cli.builds.clip_image_encoder [--bundle DIR] [--quick]

The text encoder's own image tower was thrown away by the text build; this trains a new one against
the frozen text encoder, so that the adversarial reward can add a CLIP score (``clip_weight``). The
digits get captions as in the text build (their class and measured attributes, each word dropped
with probability 0.35), one-pixel shifts for augmentation; a tenth of the digits is held back to
measure, before the encoder is trained on all of them, how often an image prefers its true full
caption ("a thick, slanted, large seven") to the same caption with one attribute word flipped.
Writes ``clip_image_encoder.safetensors`` and its ``config.json`` entry into the bundle (the rest of
the bundle is untouched). About two minutes on this project's 2-core CPU.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..data.captions import ATTRIBUTES, WORDS, caption_dataset, describe, make_caption, measure_attributes
from ..data.sources import mnist5k
from ..errors import UsageError, run_script
from ..metrics.clip_image import CLIP_IMAGE_FILE, train_clip_image_encoder, word_retrieval
from ..evaluation.captions import caption_thresholds
from ..models.bundle import add_to_bundle, load_bundle
from ..models.resolve import BUILTIN_DIR
from .tiny_mnist import NUM_THREADS, cpu_threads, random_shift

SEED = 15
COPIES = 3
STEPS, QUICK_STEPS = 1500, 3
DEFAULT_OUT = BUILTIN_DIR / "tiny-mnist-text"


def one_word_flips(words: dict[str, str], class_index: int) -> list[str]:
    """The full caption with each attribute word in turn replaced by its opposite."""
    out = []
    for attribute in ATTRIBUTES:
        other = WORDS[attribute][1 - WORDS[attribute].index(words[attribute])]
        out.append(make_caption(class_index, {**words, attribute: other}))
    return out


def add_clip_image_encoder(bundle_path: Path, quick: bool = False, threads: int = NUM_THREADS,
                           log=print) -> dict:
    """Train the encoder and write it into the bundle at ``bundle_path``; returns what was measured."""
    bundle = load_bundle(bundle_path)
    thresholds = caption_thresholds(bundle)
    if thresholds is None:
        raise UsageError(f"{bundle_path}: a CLIP image encoder is trained on captions of measured attributes, "
                         "and this bundle's config.json has no caption_attributes")
    if bundle.text_encoder is None:
        raise UsageError(f"{bundle_path}: the model is not text-conditioned")
    steps = QUICK_STEPS if quick else STEPS
    start = time.perf_counter()
    with cpu_threads(threads):
        images, labels = mnist5k()
        if quick:
            images, labels = images[::50], labels[::50]
        attributes = measure_attributes(images)
        captions = caption_dataset(labels, attributes, thresholds, seed=SEED, copies=COPIES)
        unique = sorted(set(captions))
        position = {c: i for i, c in enumerate(unique)}
        caption_index = torch.tensor([position[c] for c in captions])

        def embed(texts):
            with torch.no_grad():
                return bundle.text_encoder.encode(list(texts)).pooled.float()

        pooled = embed(unique)
        repeated = images.repeat(COPIES, 1, 1, 1)

        def augment(x, gen):
            return random_shift(x, 1, gen)

        # the check: train on nine tenths of the digits, score the other tenth's full captions
        held = torch.randperm(len(labels), generator=torch.Generator().manual_seed(SEED))[: len(labels) // 10]
        keep = torch.ones(len(labels), dtype=torch.bool)
        keep[held] = False
        keep_rows = keep.repeat(COPIES)
        probe, _ = train_clip_image_encoder(repeated[keep_rows], pooled, caption_index[keep_rows], steps=steps,
                                            seed=SEED, augment=augment, log=log)
        words = describe(labels[held], {a: v[held] for a, v in attributes.items()}, thresholds)
        true = [make_caption(int(c), w) for c, w in zip(labels[held].tolist(), words)]
        flipped = [one_word_flips(w, int(c)) for c, w in zip(labels[held].tolist(), words)]
        check = word_retrieval(probe, embed, images[held], true, flipped)
        log(f"held-back digits prefer their true caption to a one-word flip {check:.3f} of the time (chance 0.5)")

        encoder, stats = train_clip_image_encoder(repeated, pooled, caption_index, steps=steps, seed=SEED,
                                                  augment=augment, log=log)
    stats.update(steps=steps, seed=SEED, copies=COPIES, heldback_word_retrieval=round(check, 4),
                 seconds=round(time.perf_counter() - start, 1))
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / CLIP_IMAGE_FILE
        save_file({k: v.contiguous() for k, v in encoder.state_dict().items()}, str(file))
        add_to_bundle(bundle_path, {CLIP_IMAGE_FILE: file}, {}, replace={"clip_image_encoder": {
            "type": "digit-clip-image", "config": encoder.config, "file": CLIP_IMAGE_FILE,
            "trained": {"command": "python -m adanat_cli.builds.clip_image_encoder" + (" --quick" if quick else ""),
                        **stats}}})
    log(f"wrote {bundle_path / CLIP_IMAGE_FILE} ({stats})")
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adanat_cli.builds.clip_image_encoder",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=DEFAULT_OUT, help=f"text bundle folder (default {DEFAULT_OUT})")
    parser.add_argument("--quick", action="store_true", help="a handful of steps (tests)")
    parser.add_argument("--threads", type=int, default=NUM_THREADS, help=f"CPU threads (default {NUM_THREADS})")
    args = parser.parse_args(argv)
    return run_script(lambda: add_clip_image_encoder(args.bundle, quick=args.quick, threads=args.threads))


if __name__ == "__main__":
    sys.exit(main())
