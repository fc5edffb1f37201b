"""Captions for digits, and how well an image agrees with its caption.

Captions for ``tiny-mnist-text`` name a digit's class and up to three measured attributes, in a small
fixed grammar: ``"a thick, slanted, small seven"``, ``"a thin upright three"``, ``"a small four"``,
``"a two"`` (``"an"`` before ``eight`` and ``upright``).

The attributes, measured on the *ink* (the grey value ramped linearly from 0 at grey 0.25 to 1 at
grey 0.75: a soft threshold at 0.5 that ignores faint background noise and is stable under blur and
sub-pixel shifts):

- ``thickness``: mean stroke width in pixels, ink area / stroke length. A stroke of width w and
  length L has area w·L and perimeter ≈ 2·L, so the width is 2·area / perimeter; the perimeter is the
  total variation of the ink (the sum of its gradient magnitudes, on 2x2 cells so that diagonal
  strokes are not over-counted), which for a soft-edged stroke is its contour length.
- ``slant``: the shear of the ink, -cov(x, y) / var(y) from its second moments with y pointing down,
  so positive means the top leans right (the tangent of the lean angle). The word uses |slant|.
- ``size``: sqrt(12) · det(cov)^(1/4), the side in pixels of the uniform square whose second-moment
  area equals the ink's. It grows linearly with scale and ignores shear (det is shear-invariant), so
  it does not double as slant. (The bounding-box height cannot serve: MNIST scales nearly every
  digit to 20 pixels high.)

Each attribute becomes one of two words by a per-class median threshold fitted on real digits
(``fit_thresholds``), so each word describes half of each class and agreeing by chance is 50%.
Thresholds are plain JSON, ``{attribute: [threshold per class]}`` (slant's on |slant|), so a bundle
can store them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

ATTRIBUTES: tuple[str, ...] = ("thickness", "slant", "size")
# (word at or below the class threshold, word above it)
WORDS: dict[str, tuple[str, str]] = {
    "thickness": ("thin", "thick"),
    "slant": ("upright", "slanted"),
    "size": ("small", "large"),
}
CLASS_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ATTRIBUTE_CHANCE = 0.5
DROP_PROBABILITY = 0.35

AttributeThresholds = dict[str, list[float]]  # {attribute: [threshold per class]}, JSON-serialisable

_WORD_TO_ATTRIBUTE = {word: attribute for attribute, pair in WORDS.items() for word in pair}
_CLASS_TOKENS = {word: i for i, word in enumerate(CLASS_WORDS)} | {str(i): i for i in range(len(CLASS_WORDS))}
_VOWEL_SOUNDS = {"eight", "upright"}  # words that take "an" ("one" sounds like "won": "a one")
_INK_LOW, _INK_HIGH = 0.25, 0.75  # grey values mapped to no ink and full ink
_EPS = 1e-6


def ink(images: torch.Tensor) -> torch.Tensor:
    """images (B, 3, H, W), (B, 1, H, W) or (B, H, W), float in [0, 1] or uint8 -> ink (B, H, W) in [0, 1]."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a tensor, not {type(images).__name__}")
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    elif not images.is_floating_point():
        raise ValueError(f"images must be float in [0, 1] or uint8, not {images.dtype}")
    if images.ndim == 4:
        grey = images.float().mean(dim=1)  # (B, H, W)
    elif images.ndim == 3:
        grey = images.float()
    else:
        raise ValueError(f"images must be (B, C, H, W) or (B, H, W), not {tuple(images.shape)}")
    return ((grey - _INK_LOW) / (_INK_HIGH - _INK_LOW)).clamp(0.0, 1.0)


def measure_attributes(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """images (B, 3, H, W) or (B, H, W) in [0, 1] -> {"thickness", "slant", "size": float32 (B,)}.

    A blank image measures 0 on all three. See the module docstring for the definitions.
    """
    m = ink(images)  # (B, H, W)
    b, h, w = m.shape
    mass = m.sum(dim=(1, 2))  # (B,)
    safe_mass = mass.clamp_min(_EPS)

    # perimeter: total variation on 2x2 cells of the zero-padded ink (corner-centred gradients)
    p = F.pad(m, (1, 1, 1, 1))  # (B, H+2, W+2)
    gx = (p[:, 1:, 1:] - p[:, 1:, :-1] + p[:, :-1, 1:] - p[:, :-1, :-1]) / 2  # (B, H+1, W+1)
    gy = (p[:, 1:, 1:] - p[:, :-1, 1:] + p[:, 1:, :-1] - p[:, :-1, :-1]) / 2
    perimeter = torch.sqrt(gx * gx + gy * gy).sum(dim=(1, 2))
    thickness = 2.0 * mass / perimeter.clamp_min(_EPS)

    ys = torch.arange(h, dtype=m.dtype, device=m.device).view(1, h, 1)
    xs = torch.arange(w, dtype=m.dtype, device=m.device).view(1, 1, w)
    my = (m * ys).sum(dim=(1, 2)) / safe_mass
    mx = (m * xs).sum(dim=(1, 2)) / safe_mass
    dy = ys - my.view(b, 1, 1)
    dx = xs - mx.view(b, 1, 1)
    vyy = (m * dy * dy).sum(dim=(1, 2)) / safe_mass
    vxx = (m * dx * dx).sum(dim=(1, 2)) / safe_mass
    vxy = (m * dx * dy).sum(dim=(1, 2)) / safe_mass
    slant = -vxy / vyy.clamp_min(_EPS)
    size = 12.0**0.5 * (vxx * vyy - vxy * vxy).clamp_min(0.0) ** 0.25

    blank = mass <= _EPS
    zero = torch.zeros_like(mass)
    return {
        "thickness": torch.where(blank, zero, thickness),
        "slant": torch.where(blank, zero, slant),
        "size": torch.where(blank, zero, size),
    }


def _check_labels(labels: torch.Tensor | Sequence[int], n: int, what: str = "labels") -> torch.Tensor:
    labels = torch.as_tensor(labels)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"{what} must have shape ({n},) to match the images, not {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"{what} must be integer class indices, not {labels.dtype}")
    return labels.long().cpu()


def _check_attributes(attributes: Mapping[str, torch.Tensor]) -> int:
    missing = [a for a in ATTRIBUTES if a not in attributes]
    if missing:
        raise ValueError(f"attributes lack {', '.join(missing)}")
    sizes = {tuple(torch.as_tensor(attributes[a]).shape) for a in ATTRIBUTES}
    if len(sizes) != 1 or len(next(iter(sizes))) != 1:
        raise ValueError(f"attributes must all be (B,) tensors of one length, not shapes {sorted(sizes)}")
    return next(iter(sizes))[0]


def _check_thresholds(thresholds: Mapping[str, Sequence[float]]) -> dict[str, torch.Tensor]:
    table = {}
    for attribute in ATTRIBUTES:
        values = thresholds.get(attribute) if isinstance(thresholds, Mapping) else None
        if values is None:
            raise ValueError(f"thresholds lack '{attribute}': expected {{attribute: [threshold per class]}}")
        table[attribute] = torch.as_tensor(list(values), dtype=torch.float32)
    if len({len(t) for t in table.values()}) != 1:
        raise ValueError("thresholds must list the same number of classes for every attribute")
    return table


def fit_thresholds(images: torch.Tensor, labels: torch.Tensor | Sequence[int],
                   num_classes: int | None = None) -> AttributeThresholds:
    """Per-class median of each attribute (|slant| for slant) over real ``images`` with ``labels``.

    Returns ``{attribute: [threshold per class]}`` (plain floats, JSON-serialisable). The median of an
    even count is the midpoint of the two middle values, so each word takes exactly half of a class
    (barring ties). Every class up to ``num_classes`` (default: the largest label + 1) needs a digit.
    """
    attributes = measure_attributes(images)
    labels = _check_labels(labels, attributes["size"].shape[0])
    if labels.numel() == 0:
        raise ValueError("fit_thresholds needs at least one image")
    if int(labels.min()) < 0:
        raise ValueError("labels must be non-negative class indices")
    num_classes = int(labels.max()) + 1 if num_classes is None else num_classes
    counts = torch.bincount(labels, minlength=num_classes)
    if len(counts) > num_classes:
        raise ValueError(f"labels go up to {len(counts) - 1}, beyond num_classes={num_classes}")
    if (counts == 0).any():
        empty = [str(c) for c in torch.nonzero(counts == 0).flatten().tolist()]
        raise ValueError(f"no images of class {', '.join(empty)} to fit thresholds on")
    thresholds: AttributeThresholds = {}
    for attribute in ATTRIBUTES:
        values = attributes[attribute].cpu()
        values = values.abs() if attribute == "slant" else values
        per_class = []
        for c in range(num_classes):
            ranked = values[labels == c].sort().values
            n = ranked.numel()
            median = ranked[n // 2] if n % 2 else (ranked[n // 2 - 1] + ranked[n // 2]) / 2
            per_class.append(float(median))
        thresholds[attribute] = per_class
    return thresholds


def _above(attributes: Mapping[str, torch.Tensor], classes: torch.Tensor,
           thresholds: Mapping[str, Sequence[float]]) -> dict[str, torch.Tensor]:
    """{attribute: bool (B,)}: True where the value exceeds its class's threshold (the second word)."""
    table = _check_thresholds(thresholds)
    num_classes = len(table[ATTRIBUTES[0]])
    if classes.numel() and (int(classes.min()) < 0 or int(classes.max()) >= num_classes):
        raise ValueError(f"class indices must lie in 0..{num_classes - 1}, the classes the thresholds cover")
    above = {}
    for attribute in ATTRIBUTES:
        values = torch.as_tensor(attributes[attribute]).float().cpu()
        values = values.abs() if attribute == "slant" else values
        above[attribute] = values > table[attribute][classes]
    return above


def statement_targets(captions: Sequence[str | ParsedCaption]) -> torch.Tensor:
    """What each caption states, as a float (B, 1 + 2·len(ATTRIBUTES)) tensor: the class it names (-1 for
    none), then per attribute (stated 0/1, the second word 0/1). ``satisfied_statements`` reads it."""
    rows = []
    for caption in captions:
        parsed = caption if isinstance(caption, ParsedCaption) else parse_caption(caption)
        row = [-1.0 if parsed.class_index is None else float(parsed.class_index)]
        for attribute in ATTRIBUTES:
            word = parsed.words[attribute]
            row += [float(word is not None), float(word == WORDS[attribute][1])]
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float32).reshape(len(rows), 1 + 2 * len(ATTRIBUTES))


def satisfied_statements(images: torch.Tensor, targets: torch.Tensor, class_probs: torch.Tensor,
                         thresholds: Mapping[str, Sequence[float]]) -> torch.Tensor:
    """The fraction of each caption's statements its image satisfies, (B,) in [0, 1]: the class it names
    scores the classifier's probability of that class (``class_probs`` (B, num_classes)), each stated
    attribute 1 if the word measured on the image (by the named class's threshold) is the stated one,
    else 0. ``targets`` come from ``statement_targets``; every caption must name a class."""
    targets = targets.detach().float().cpu()
    classes = targets[:, 0].long()
    if classes.numel() and int(classes.min()) < 0:
        raise ValueError("satisfied_statements needs captions that name a class")
    probs = class_probs.detach().float().cpu()
    score = probs.gather(1, classes[:, None]).squeeze(1)
    count = torch.ones_like(score)
    above = _above(measure_attributes(images.detach()), classes, thresholds)  # (B,) values move, not images
    for i, attribute in enumerate(ATTRIBUTES):
        stated, wants_above = targets[:, 1 + 2 * i], targets[:, 2 + 2 * i] > 0.5
        score = score + stated * (above[attribute] == wants_above).float()
        count = count + stated
    return score / count


def mismatched_caption(text: str, rng: random.Random) -> str | None:
    """``text`` with one statement made false, the hard negative of a matching-aware discriminator: a
    stated attribute word chosen by ``rng`` replaced by its opposite, or, for a caption that states no
    attribute, its class by another. Comma style is kept, so that punctuation tells nothing. None for
    a caption that names no class (nothing of the grammar to negate)."""
    parsed = parse_caption(text)
    if parsed.class_index is None:
        return None
    stated = sorted(parsed.stated)
    words = dict(parsed.words)
    class_index = parsed.class_index
    if stated:
        attribute = rng.choice(stated)
        pair = WORDS[attribute]
        words[attribute] = pair[1 - pair.index(words[attribute])]
    else:
        class_index = rng.choice([c for c in range(len(CLASS_WORDS)) if c != class_index])
    return make_caption(class_index, words, commas="," in text)


def describe(labels: torch.Tensor | Sequence[int], attributes: Mapping[str, torch.Tensor],
             thresholds: Mapping[str, Sequence[float]]) -> list[dict[str, str]]:
    """Each digit's words, ``[{"thickness": "thin"|"thick", "slant": ..., "size": ...}, ...]``, judged
    against the thresholds of its class in ``labels``."""
    labels = _check_labels(labels, _check_attributes(attributes))
    above = _above(attributes, labels, thresholds)
    flags = {attribute: above[attribute].tolist() for attribute in ATTRIBUTES}
    return [{a: WORDS[a][int(flags[a][i])] for a in ATTRIBUTES} for i in range(len(labels))]


def make_caption(class_index: int, words: Mapping[str, str | None] | None = None, *, commas: bool = True) -> str:
    """``"a"`` + the stated adjectives in the order thickness, slant, size + the class word.

    ``words`` maps attributes to one of their two words, or to None (or leaves them out) to say
    nothing. ``commas`` separates two or more adjectives with commas: ``"a thick, slanted, small
    seven"`` or ``"a thick slanted small seven"``. The article is ``"an"`` before a vowel sound
    (``"an eight"``, ``"an upright one"``).
    """
    if isinstance(class_index, bool) or not isinstance(class_index, int) or not 0 <= class_index < len(CLASS_WORDS):
        raise ValueError(f"class_index must be an int in 0..{len(CLASS_WORDS) - 1}, not {class_index!r}")
    words = dict(words or {})
    unknown = sorted(set(words) - set(ATTRIBUTES))
    if unknown:
        raise ValueError(f"unknown attribute(s) {', '.join(unknown)}: expected {', '.join(ATTRIBUTES)}")
    adjectives = []
    for attribute in ATTRIBUTES:
        word = words.get(attribute)
        if word is None:
            continue
        if word not in WORDS[attribute]:
            raise ValueError(f"{attribute} must be {' or '.join(WORDS[attribute])} (or None), not {word!r}")
        adjectives.append(word)
    phrase = (", " if commas else " ").join(adjectives)
    body = f"{phrase} {CLASS_WORDS[class_index]}" if phrase else CLASS_WORDS[class_index]
    article = "an" if body.split()[0].rstrip(",") in _VOWEL_SOUNDS else "a"
    return f"{article} {body}"


def caption_dataset(labels: torch.Tensor | Sequence[int], attributes: Mapping[str, torch.Tensor],
                    thresholds: Mapping[str, Sequence[float]], seed: int = 0, copies: int = 1,
                    drop: float = DROP_PROBABILITY) -> list[str]:
    """Training captions: ``copies`` per digit, each attribute word dropped independently with
    probability ``drop`` and commas used or not at even odds, all decided by ``seed``.

    Returns ``copies * B`` captions, copy-major: caption ``c * B + i`` is digit ``i``'s ``c``-th, so it
    pairs with ``images.repeat(copies, 1, 1, 1)`` and ``labels.repeat(copies)``.
    """
    if not isinstance(copies, int) or copies < 1:
        raise ValueError(f"copies must be a positive int, not {copies!r}")
    if not 0.0 <= drop <= 1.0:
        raise ValueError(f"drop must be a probability in [0, 1], not {drop!r}")
    labels = _check_labels(labels, _check_attributes(attributes))
    full = describe(labels, attributes, thresholds)
    classes = labels.tolist()
    rng = random.Random(seed)
    captions = []
    for _ in range(copies):
        for class_index, words in zip(classes, full):
            kept = {a: (None if rng.random() < drop else words[a]) for a in ATTRIBUTES}
            captions.append(make_caption(class_index, kept, commas=rng.random() < 0.5))
    return captions


@dataclass(frozen=True)
class ParsedCaption:
    """What a caption states: a class (or None) and, per attribute, a word (or None)."""

    class_index: int | None
    words: dict[str, str | None] = field(default_factory=lambda: dict.fromkeys(ATTRIBUTES))

    def __post_init__(self) -> None:  # every attribute present, unstated ones as None
        unknown = sorted(set(self.words) - set(ATTRIBUTES))
        if unknown:
            raise ValueError(f"unknown attribute(s) {', '.join(unknown)}: expected {', '.join(ATTRIBUTES)}")
        object.__setattr__(self, "words", {a: self.words.get(a) for a in ATTRIBUTES})

    @property
    def stated(self) -> dict[str, str]:
        """Only the attributes the caption gives a word for."""
        return {a: w for a, w in self.words.items() if w is not None}


def parse_caption(text: str) -> ParsedCaption:
    """Read a caption: case-insensitive, punctuation and extra spaces ignored, class as a word
    (``"three"``) or a digit (``"3"``); words it does not know (``"a"``, ``"an"``, ``"the"``, ...) are
    skipped. The first class word and the first word of each attribute win."""
    if not isinstance(text, str):
        raise TypeError(f"a caption must be a string, not {type(text).__name__}")
    class_index: int | None = None
    words: dict[str, str | None] = dict.fromkeys(ATTRIBUTES)
    for token in re.findall(r"[a-z]+|[0-9]+", text.lower()):
        if token in _CLASS_TOKENS:
            if class_index is None:
                class_index = _CLASS_TOKENS[token]
        elif token in _WORD_TO_ATTRIBUTE:
            attribute = _WORD_TO_ATTRIBUTE[token]
            if words[attribute] is None:
                words[attribute] = token
    return ParsedCaption(class_index, words)


def alignment(images: torch.Tensor, captions: Sequence[str | ParsedCaption],
              classifier_predictions: torch.Tensor | Sequence[int],
              thresholds: Mapping[str, Sequence[float]]) -> dict[str, float | int | None]:
    """How well ``images`` (B, 3, H, W) agree with the ``captions`` they were made from.

    - ``class_agreement``: of the captions that name a class, the fraction whose image the
      classifier predicts (``classifier_predictions``, long (B,)) as that class (``class_count`` of them).
    - ``attribute_agreement``: of all attribute words the captions state (``attribute_count``), the
      fraction that match the word measured on the image; ``<attribute>_agreement`` and
      ``<attribute>_count`` per attribute. The measured word uses the thresholds of the class the
      caption names, or of the predicted class if it names none. Chance is ``attribute_chance`` (0.5).
    - ``caption_agreement``: the fraction of captions whose class (if named) and every stated word match.

    An agreement over nothing is None. Mismatched lengths are a ValueError.
    """
    n_images = images.shape[0] if isinstance(images, torch.Tensor) and images.ndim in (3, 4) else None
    if n_images is None:
        raise ValueError("images must be a (B, C, H, W) or (B, H, W) tensor")
    if isinstance(captions, str) or len(captions) != n_images:
        raise ValueError(f"got {n_images} images but {1 if isinstance(captions, str) else len(captions)} captions")
    predictions = torch.as_tensor(classifier_predictions)
    if predictions.ndim != 1 or predictions.shape[0] != n_images:
        raise ValueError(f"got {n_images} images but classifier predictions of shape {tuple(predictions.shape)}")
    predictions = _check_labels(predictions, n_images, "classifier_predictions")
    parsed = [c if isinstance(c, ParsedCaption) else parse_caption(c) for c in captions]

    named = torch.tensor([p.class_index is not None for p in parsed], dtype=torch.bool)
    stated_class = torch.tensor([-1 if p.class_index is None else p.class_index for p in parsed], dtype=torch.long)
    class_ok = (predictions == stated_class) | ~named  # (B,)
    judged_class = torch.where(named, stated_class, predictions)
    above = _above(measure_attributes(images), judged_class, thresholds)

    def fraction(hits: int, count: int) -> float | None:
        return hits / count if count else None

    result: dict[str, float | int | None] = {"count": n_images}
    n_named = int(named.sum())
    result["class_count"] = n_named
    result["class_agreement"] = fraction(int((class_ok & named).sum()), n_named)
    all_ok = class_ok.clone()
    total_hits = total_count = 0
    for attribute in ATTRIBUTES:
        stated = torch.tensor([p.words[attribute] is not None for p in parsed], dtype=torch.bool)
        wants_above = torch.tensor([p.words[attribute] == WORDS[attribute][1] for p in parsed], dtype=torch.bool)
        ok = (above[attribute] == wants_above) | ~stated
        all_ok &= ok
        hits, count = int((ok & stated).sum()), int(stated.sum())
        total_hits, total_count = total_hits + hits, total_count + count
        result[f"{attribute}_count"] = count
        result[f"{attribute}_agreement"] = fraction(hits, count)
    result["attribute_count"] = total_count
    result["attribute_agreement"] = fraction(total_hits, total_count)
    result["attribute_chance"] = ATTRIBUTE_CHANCE
    result["caption_agreement"] = fraction(int(all_ok.sum()), n_images)
    return result
