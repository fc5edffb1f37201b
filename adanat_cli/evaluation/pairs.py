"""Evaluating one (scheduler, steps) pair: every pair sees the same classes and the same seeds.

``evaluate_pair`` generates one image per label (sample i has the seed of index i), measures FID /
precision / recall against a reference in one feature space, class accuracy with the bundle's
classifier when it has one, forward passes, FLOPs and speed. For a text-conditioned model the labels
are captions, and with the bundle's caption attribute thresholds (and its classifier) it measures how
well each image agrees with its caption (``data.captions.alignment``) instead of class accuracy.
``compare``, ``search-schedule`` and the training evaluation all call it. Work is sharded over processes batch by batch (see
``engine.distributed.Shard``); results are identical for any process count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data.captions import alignment as caption_alignment
from ..engine.distributed import Shard
from ..engine.flops import supports_flops
from ..engine.sampling import generate_images
from ..metrics.extractors import FeatureExtractor, extract_features, to_uint8
from ..metrics.fid import FeatureSet, compare_sets
from ..models.bundle import ModelBundle
from ..schedulers.base import Scheduler
from .captions import AlignmentTally, class_agreement


@dataclass
class PairResult:
    scheduler: str
    config: dict[str, Any]
    steps: int
    fid: float
    precision: float | None
    recall: float | None
    class_accuracy: float | None
    nfe: int
    gflops_per_image: float | None
    seconds_per_image: float
    images_per_second: float
    adaptive: bool
    preview: np.ndarray = field(repr=False)  # (columns, H, W, 3) uint8, the first images
    trace: dict[str, np.ndarray] | None = field(default=None, repr=False)  # name -> (M, T)
    label: str = ""  # the row's name: the scheduler's, or with its swept values (cosine[guidance=0.5])
    swept: dict[str, Any] = field(default_factory=dict)
    spaces: dict[str, dict[str, float | None]] = field(default_factory=dict)  # other feature spaces' metrics
    # a text model's caption alignment (``data.captions.alignment`` over all images), when measured
    alignment: dict[str, Any] | None = None

    @property
    def class_agreement(self) -> float | None:
        return None if self.alignment is None else self.alignment["class_agreement"]

    @property
    def attribute_agreement(self) -> float | None:
        return None if self.alignment is None else self.alignment["attribute_agreement"]

    def __post_init__(self) -> None:
        self.label = self.label or self.scheduler

    def to_json(self) -> dict[str, Any]:
        keys = ("label", "scheduler", "config", "swept", "steps", "fid", "precision", "recall", "class_accuracy",
                "nfe", "gflops_per_image", "seconds_per_image", "images_per_second", "adaptive", "spaces")
        row = {k: getattr(self, k) for k in keys}
        if self.alignment is not None:  # a text model's columns; class-conditional rows stay as they were
            row.update(class_agreement=self.class_agreement, attribute_agreement=self.attribute_agreement,
                       alignment=dict(self.alignment))
        return row


@dataclass
class BatchResult:
    """What one process measured on one batch, before the results of all processes are gathered."""

    index: int  # the batch's position, which orders the gathered batches
    features: np.ndarray  # (M, D) extractor features
    predicted: np.ndarray | None  # (M,) classifier predictions
    preview: np.ndarray  # the batch's images that fall among the first ``preview`` samples
    trace: dict[str, np.ndarray] | None
    seconds: float
    nfe: int
    flops: float | None  # summed over the batch
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # features in the other spaces
    alignment: dict[str, Any] | None = None  # the batch's caption alignment
    extra_predicted: dict[str, np.ndarray] = field(default_factory=dict)  # class predictions of the other spaces


def comparison_labels(classes: Sequence[int] | Sequence[str], num: int) -> list:
    """``num`` conditions cycling through ``classes`` (class ids, or a text model's captions). Fewer
    images than captions take captions spread evenly over the file, not its first lines: a caption
    file is often in the order of its source (tiny-mnist-text's follows the digits, class by class)."""
    if 0 < num < len(classes) and isinstance(classes[0], str):
        return [classes[(i * len(classes)) // num] for i in range(num)]
    return [classes[i % len(classes)] for i in range(num)]


@torch.inference_mode()
def evaluate_pair(
    bundle: ModelBundle,
    scheduler: Scheduler,
    steps: int,
    labels: Sequence[int] | Sequence[str],
    seed: int,
    batch_size: int,
    extractor: FeatureExtractor,
    reference: FeatureSet,
    classifier: torch.nn.Module | None,
    shard: Shard,
    device: torch.device,
    preview: int = 8,
    on_step: Callable[[], None] | None = None,
    other_spaces: dict[str, tuple[FeatureExtractor, FeatureSet]] | None = None,
    precision: str = "fp32",
    compile: bool = False,
    caption_thresholds: dict[str, list[float]] | None = None,
) -> PairResult:
    """Generate ``labels`` with ``scheduler`` and measure them against ``reference`` in ``extractor``'s
    space (and in each of ``other_spaces``, name -> (extractor, reference)). ``precision`` and
    ``compile`` apply to generation only: the measurement stays in float32, so that a faster setting
    is judged by the same yardstick. ``labels`` are captions for a text-conditioned model; with
    ``caption_thresholds`` and a ``classifier`` the result's ``alignment`` says how well the images
    agree with them (class accuracy is then None: the captions are the labels)."""
    text = bool(labels) and isinstance(labels[0], str)
    align = text and caption_thresholds is not None and classifier is not None
    other_spaces = other_spaces or {}
    count = len(labels)
    batches = [(lo, min(lo + batch_size, count)) for lo in range(0, count, batch_size)]
    mine = []
    for b in shard.my_batches(len(batches)):
        lo, hi = batches[b]
        samples = generate_images(bundle, scheduler, labels[lo:hi], steps, seed=seed, batch_size=hi - lo,
                                  indices=range(lo, hi), trace=scheduler.uses_features, device=device,
                                  on_step=on_step, count_flops=supports_flops(bundle.backbone),
                                  precision=precision, compile=compile)
        pixels = to_uint8(samples.images)
        features = extract_features(pixels, extractor, batch_size=hi - lo, device=device)
        predicted = None
        images = samples.images.to(device)
        if classifier is not None:
            predicted = classifier(images).argmax(-1).cpu().numpy()
        agreed = None
        if align:
            agreed = caption_alignment(samples.images, list(labels[lo:hi]), torch.from_numpy(predicted),
                                       caption_thresholds)
        trace = {k: v.numpy() for k, v in samples.trace.items()} if samples.trace else None
        flops = samples.flops.double().sum().item() if samples.flops is not None else None
        extra = {name: extract_features(pixels, space, batch_size=hi - lo, device=device)
                 for name, (space, _) in other_spaces.items()}
        extra_predicted = {}
        if classifier is not None and (align or not text):  # classes a classifier can judge: each space judges too
            extra_predicted = {name: space.classify(images).argmax(-1).cpu().numpy()
                               for name, (space, _) in other_spaces.items() if hasattr(space, "classify")}
        mine.append(BatchResult(b, features, predicted, pixels[: max(0, preview - lo)], trace, samples.seconds,
                                samples.nfe, flops, extra, agreed, extra_predicted))
    gathered: list[BatchResult] = sorted(shard.gather(mine), key=lambda batch: batch.index)
    busiest = max(shard.gather([sum(batch.seconds for batch in mine)]))  # the slowest process's generation time

    features = np.concatenate([g.features for g in gathered])
    generated = FeatureSet.from_features(f"{scheduler.name} T={steps}", features)
    metrics = compare_sets(generated, reference)
    accuracy = None
    if classifier is not None and not text:
        predicted = np.concatenate([g.predicted for g in gathered])
        accuracy = float((predicted == np.asarray(labels)).mean())
    traces = [g.trace for g in gathered if g.trace is not None]
    trace = {k: np.concatenate([t[k] for t in traces]) for k in traces[0]} if traces else None
    generation_seconds = sum(g.seconds for g in gathered)
    spaces = {}
    for name, (_, space_reference) in other_spaces.items():
        measured = compare_sets(FeatureSet.from_features(f"{scheduler.name} T={steps}",
                                                         np.concatenate([g.extra[name] for g in gathered])),
                                space_reference)
        spaces[name] = {"fid": measured.fid, "precision": measured.precision, "recall": measured.recall}
        if all(name in g.extra_predicted for g in gathered):
            predicted_here = np.concatenate([g.extra_predicted[name] for g in gathered])
            if text:
                spaces[name]["class_agreement"] = class_agreement(labels, predicted_here)
            else:
                spaces[name]["class_accuracy"] = float((predicted_here == np.asarray(labels)).mean())
    tally = None
    if align:
        tally = AlignmentTally()
        for g in gathered:
            tally.add(g.alignment)
    return PairResult(
        scheduler=scheduler.name,
        config=dict(scheduler.config),
        steps=steps,
        fid=metrics.fid,
        precision=metrics.precision,
        recall=metrics.recall,
        class_accuracy=accuracy,
        nfe=gathered[0].nfe,
        gflops_per_image=None if gathered[0].flops is None else sum(g.flops for g in gathered) / count / 1e9,
        seconds_per_image=generation_seconds / count,
        images_per_second=count / busiest if busiest > 0 else float("inf"),
        adaptive=scheduler.uses_features,
        preview=np.concatenate([g.preview for g in gathered])[:preview],
        trace=trace,
        spaces=spaces,
        alignment=None if tally is None else tally.result(),
    )
