"""Captions as the conditions of an evaluation or a training run of a text-conditioned model.

- ``resolve_captions``: the captions a command uses: a ``--captions`` file, else the bundle's
  evaluation caption file (config.json ``evaluation.captions``, a file inside the bundle);
- ``evaluation_conditions``: what an evaluation (``compare``, ``search-schedule``) conditions its
  images on: captions and their attribute thresholds on a text model, classes on any other;
- ``caption_thresholds``: the bundle's attribute thresholds (config.json ``caption_attributes``),
  which turn on the alignment measure of ``data.captions``;
- ``AlignmentTally``: ``data.captions.alignment`` measured batch by batch (and process by process),
  added up exactly from its counts;
- ``class_agreement``: the class agreement of captions by another classifier (a held-out space's);
- ``caption_classes``: the class each caption names (the classifier reward of a text model).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.captions import ATTRIBUTE_CHANCE, ATTRIBUTES, parse_caption
from ..engine.conditioning import is_text_model
from ..errors import UsageError
from ..models.classes import parse_classes
from ..text.prompt_files import read_prompt_file


def bundle_caption_file(bundle) -> Path | None:
    """The bundle's evaluation caption file, if its config.json names one."""
    name = bundle.evaluation.get("captions")
    if not name:
        return None
    path = Path(bundle.path) / str(name)
    if Path(bundle.path).resolve() not in path.resolve().parents:
        raise UsageError(f"model '{bundle.name}': config.json's evaluation.captions '{name}' lies outside the bundle")
    return path


def resolve_captions(bundle, path: Path | None, option: str = "--captions") -> tuple[str, list[str]]:
    """(where the captions come from, the captions) for a text-conditioned model; a clear error for
    ``--captions`` on a class-conditional one, or for a text model with no captions at all."""
    if not is_text_model(bundle.backbone):
        if path is not None:
            raise UsageError(f"{option}: model '{bundle.name}' is class-conditional; captions are for "
                             "text-conditioned models (pass --class or nothing)")
        raise UsageError(f"model '{bundle.name}' is class-conditional: it takes no captions")
    if path is not None:
        return str(path), read_prompt_file(Path(path), option)
    own = bundle_caption_file(bundle)
    if own is None:
        raise UsageError(f"model '{bundle.name}' is text-conditioned and ships no evaluation captions: pass {option} FILE "
                         "(one caption a line)")
    return str(own), read_prompt_file(own, f"model '{bundle.name}' evaluation captions")


@dataclass(frozen=True)
class EvaluationConditions:
    """The conditions an evaluation cycles through: a text model's captions (with where they come
    from, and its attribute thresholds when it has them), or a class model's class indices."""

    values: list
    caption_source: str | None = None
    thresholds: dict[str, list[float]] | None = None

    @property
    def text(self) -> bool:
        return self.caption_source is not None


def evaluation_conditions(bundle, captions: Path | None, classes: Sequence[str] = ()) -> EvaluationConditions:
    """Captions for a text-conditioned model (``--captions``, else its evaluation captions) and its
    caption attribute thresholds; classes for any other (``--class`` values, else all of them). The
    wrong kind of condition for the model is one clear UsageError."""
    if is_text_model(bundle.backbone):
        if classes:
            raise UsageError(f"model '{bundle.name}' is text-conditioned: pass --captions FILE, not --class")
        source, values = resolve_captions(bundle, captions)
        return EvaluationConditions(values, source, caption_thresholds(bundle))
    if captions is not None:
        resolve_captions(bundle, captions)  # one clear error: captions are for text-conditioned models
    wanted = parse_classes(classes, bundle.classes, bundle.name) if classes else []
    return EvaluationConditions(wanted or list(range(bundle.backbone.num_classes)))


def captions_digest(captions: Sequence[str]) -> str:
    """SHA-256 of the captions, one a line: a run's checkpoint records which captions it trained on."""
    return hashlib.sha256("".join(c + "\n" for c in captions).encode("utf-8")).hexdigest()


def caption_thresholds(bundle) -> dict[str, list[float]] | None:
    """The bundle's per-class attribute thresholds (``caption_attributes.thresholds``), or None."""
    spec = bundle.config.get("caption_attributes")
    thresholds = spec.get("thresholds") if isinstance(spec, dict) else None
    if thresholds is None:
        return None
    if not isinstance(thresholds, dict) or not all(isinstance(thresholds.get(a), list) for a in ATTRIBUTES):
        raise UsageError(f"model '{bundle.name}': config.json's caption_attributes.thresholds must map "
                         f"{', '.join(ATTRIBUTES)} to lists of per-class thresholds")
    return thresholds


def class_agreement(captions: Sequence[str], predicted: Sequence[int]) -> float | None:
    """Of the captions that name a class, the fraction whose image a classifier predicts
    (``predicted``, one class per caption) as that class: ``class_agreement`` of
    ``data.captions.alignment`` by another network, e.g. a held-out feature space's; None if no
    caption names a class."""
    if len(captions) != len(predicted):
        raise ValueError(f"got {len(captions)} captions but {len(predicted)} predictions")
    named = [(parse_caption(c).class_index, int(p)) for c, p in zip(captions, predicted)]
    judged = [stated == p for stated, p in named if stated is not None]
    return sum(judged) / len(judged) if judged else None


def caption_classes(captions: Sequence[str], num_classes: int, what: str = "captions") -> list[int]:
    """The class each caption names (``data.captions.parse_caption``); a caption naming none, or a
    class beyond ``num_classes``, is a UsageError that starts with ``what``."""
    classes = []
    for caption in captions:
        index = parse_caption(caption).class_index
        if index is None or index >= num_classes:
            raise UsageError(f"{what}: the caption '{caption}' names no class 0..{num_classes - 1}")
        classes.append(index)
    return classes


class AlignmentTally:
    """Sums of ``data.captions.alignment`` over batches: ``add`` each batch's result, ``result()`` the
    whole set's (the same numbers one call on all the images would give)."""

    KEYS = ("class", *ATTRIBUTES, "attribute", "caption")

    def __init__(self) -> None:
        self.hits = dict.fromkeys(self.KEYS, 0)
        self.counts = dict.fromkeys(self.KEYS, 0)

    def add(self, batch: dict[str, Any]) -> None:
        n = int(batch["count"])
        for key in self.KEYS:
            count = n if key == "caption" else int(batch[f"{key}_count"])
            agreement = batch[f"{key}_agreement"]
            self.counts[key] += count
            self.hits[key] += 0 if agreement is None else round(agreement * count)

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {"count": self.counts["caption"]}
        for key in self.KEYS:
            if key != "caption":
                out[f"{key}_count"] = self.counts[key]
            out[f"{key}_agreement"] = self.hits[key] / self.counts[key] if self.counts[key] else None
        out["attribute_chance"] = ATTRIBUTE_CHANCE
        return out
