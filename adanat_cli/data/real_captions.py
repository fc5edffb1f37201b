"""Real images with true captions: the real side of a text-conditioned model's adversarial reward.

A discriminator conditioned on the prompt (by projection of its pooled text embedding) must see real
images with captions that describe *them*, or it cannot learn whether an image matches its caption.
``captioned_real_images`` finds such pairs; the first source that applies wins:

1. a dataset that ships its captions: an image folder with a ``captions.tsv`` (one
   ``file<TAB>caption`` a line, files relative to the folder; CC3M-style validation sets);
2. the model's own captioner, named by its config.json: a bundle with ``caption_attributes``
   (tiny-mnist-text) captions labelled real digits (``mnist5k`` or class folders) by their measured
   attributes (``data.captions``): the class word plus thin/thick, upright/slanted, small/large against
   the bundle's per-class thresholds (fitted on these images when it stores none), each word dropped
   as in the model's training captions, all decided by the seed.

Anything else is one ``UsageError``. A new captioner is one function in ``CAPTIONERS``, keyed by the
config.json entry that turns it on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import UsageError
from .captions import ATTRIBUTES, caption_dataset, fit_thresholds, measure_attributes
from .sources import load_image
from .training_images import _resize, load_real_images

CAPTIONS_TSV = "captions.tsv"
MAX_CAPTION_CHARS = 1000

Captioned = tuple[torch.Tensor, list[str], str]  # images (N, 3, H, W) in [0, 1], captions, how they were made


def caption_digits(source: str, config: dict[str, Any], size: tuple[int, int], seed: int) -> Captioned:
    """Labelled real digits captioned by their measured attributes (the ``caption_attributes`` captioner)."""
    spec = config.get("caption_attributes")
    thresholds = spec.get("thresholds") if isinstance(spec, dict) else None
    num_classes = 10
    if thresholds is not None:
        if not isinstance(thresholds, dict) or not all(isinstance(thresholds.get(a), list) for a in ATTRIBUTES):
            raise UsageError("config.json's caption_attributes.thresholds must map "
                             f"{', '.join(ATTRIBUTES)} to a list of per-class thresholds")
        num_classes = len(thresholds[ATTRIBUTES[0]])
    images, labels = load_real_images(source, num_classes, size)
    attributes = measure_attributes(images)
    fitted = "the model's thresholds"
    if thresholds is None:
        try:
            thresholds = fit_thresholds(images, labels, num_classes=num_classes)
        except ValueError as err:
            raise UsageError(f"cannot caption the real images of '{source}': {err}") from None
        fitted = "thresholds fitted on them"
    captions = caption_dataset(labels, attributes, thresholds, seed=seed)
    return images, captions, f"{source}, captioned by their digit attributes ({fitted}, seed {seed})"


# config.json entry -> the captioner it turns on
CAPTIONERS: dict[str, Callable[[str, dict[str, Any], tuple[int, int], int], Captioned]] = {
    "caption_attributes": caption_digits,
}


def read_captions_tsv(folder: Path, size: tuple[int, int]) -> Captioned:
    """Images and captions listed by ``folder/captions.tsv``."""
    tsv = folder / CAPTIONS_TSV
    try:
        lines = tsv.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise UsageError(f"{tsv}: not a UTF-8 text file") from None
    except OSError as err:
        raise UsageError(f"{tsv}: cannot read it ({err.strerror})") from None
    root = folder.resolve()
    images, captions = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        name, tab, caption = line.partition("\t")
        caption = caption.strip()
        if not tab or not name.strip() or not caption:
            raise UsageError(f"{tsv}:{number}: expected FILE<TAB>CAPTION")
        if len(caption) > MAX_CAPTION_CHARS or "\x00" in caption:
            raise UsageError(f"{tsv}:{number}: the caption is longer than {MAX_CAPTION_CHARS} characters or holds a NUL")
        file = (folder / name.strip()).resolve()
        if not file.is_relative_to(root):
            raise UsageError(f"{tsv}:{number}: '{name.strip()}' lies outside {folder}")
        if not file.is_file():
            raise UsageError(f"{tsv}:{number}: no image '{name.strip()}'")
        images.append(_resize(load_image(file), size))
        captions.append(caption)
    if not images:
        raise UsageError(f"{tsv} lists no image (one FILE<TAB>CAPTION a line)")
    return torch.stack(images), captions, f"{folder} with its {CAPTIONS_TSV}"


def captioned_real_images(source: str, config: dict[str, Any], size: tuple[int, int], seed: int) -> Captioned:
    """Real images (N, 3, H, W) in [0, 1] at ``size``, one true caption each, and a phrase saying
    where the captions came from. ``config`` is the bundle's config.json."""
    folder = Path(source)
    if source != "mnist5k" and folder.is_dir() and (folder / CAPTIONS_TSV).is_file():
        return read_captions_tsv(folder, size)
    for key, captioner in CAPTIONERS.items():
        if config.get(key) is not None:
            return captioner(source, config, size, seed)
    if source != "mnist5k" and not folder.exists():
        raise UsageError(f"real images '{source}': not a folder nor a built-in source (mnist5k)")
    raise UsageError(f"no captions for the real images of '{source}': the model cannot caption them "
                     f"(config.json has no {', '.join(CAPTIONERS)}); pass --data FOLDER with a {CAPTIONS_TSV} "
                     "(FILE<TAB>CAPTION a line)")
