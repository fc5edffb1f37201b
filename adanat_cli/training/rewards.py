"""Reward models for policy training, registered under ``adanat.rewards``.

A reward model scores final images: ``__call__(images (B,3,H,W) in [0,1], labels (B,)) -> (B,)``.
For a text-conditioned model ``labels`` is what ``labels_for_prompts(prompts, pooled)`` makes of the
images' prompts: by default their pooled text embeddings (B, P), which the adversarial reward's
discriminator reads by projection (the official ``c_dim``); the classifier reward reads the class the
caption names instead.
``update(fake_images, fake_labels, step)`` lets an adversarial reward keep learning (others do
nothing), and ``state_dict``/``load_state_dict`` put it in training checkpoints. ``prepare(accelerator)``
hands the trainable networks and their optimizers to the trainer's ``accelerate.Accelerator``
(gradient averaging over processes, mixed precision); the default calls the older ``wrap(wrapper)``
with ``accelerator.prepare_model`` when there are several processes.

- ``adversarial`` (AdaNAT's choice): reward = sigmoid(D(x, y)) from a discriminator trained alongside
  the policy with non-saturating BCE, Adam(lr 1e-4, betas (0.5, 0.999)); ``d_reward=logsigmoid``
  makes it log sigmoid(D(x, y)), which does not saturate when D wins. ``class_weight=λ`` adds
  λ · a frozen classifier's probability of the requested class (class-conditional models only): a
  nudge towards class fidelity that the FID does not reward by itself. ``clip_weight=λ`` adds λ · the
  CLIP score cos(image embedding, prompt embedding) of the bundle's CLIP image encoder
  (text-conditioned models that ship one: ``metrics.clip_image``): the same nudge towards alignment
  with the prompt, the standard alignment reward of text-to-image fine-tuning. ``caption_weight=λ`` adds
  λ · the fraction of the caption's statements the image satisfies (text models with a caption grammar,
  thresholds and a classifier: tiny-mnist-text): the class it names scored by the classifier's
  probability, each stated attribute word 1 if measured on the image, else 0 (``data.captions``). It is
  ``class_weight`` for captions, and reads the definitions the alignment measure judges by.
  ``mismatch_weight=μ`` makes the discriminator matching-aware (Reed et al., 2016, GAN-CLS): real
  images paired with a wrong condition count as fakes too, weighted μ, so that D must read the
  condition rather than only realism. The wrong condition is another class for a class-conditional
  model; for a text model each real caption with one statement negated (``data.captions.
  mismatched_caption``: a stated attribute word flipped, else the class changed), or another real
  image's caption where the grammar finds nothing to negate. Fixed per real image by the seed.
- ``fid``: minus the FID of the batch the image was generated in, in the model's feature space
  (the paper's ablation; the policy learns to game the metric). It ignores the conditions, so it
  serves text-conditioned models as it is.
- ``classifier``: a frozen classifier's probability of the requested class (the "pretrained reward
  model" ablation; diversity collapses). For a text model the class is the one the caption names
  (``data.captions`` grammar: tiny-mnist-text); a model without that grammar is refused.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..data.captions import mismatched_caption, satisfied_statements, statement_targets
from ..engine.conditioning import is_text_model
from ..errors import UsageError
from ..evaluation.captions import caption_classes, caption_thresholds
from ..evaluation.setup import evaluation_setup
from ..metrics.digit_classifier import load_classifier
from ..metrics.clip_image import clip_score, load_clip_image_encoder
from ..metrics.extractors import extract_features, to_uint8
from ..metrics.frechet import feature_stats, frechet_distance
from .discriminator import ProjectionDiscriminator, discriminator_loss


# How a discriminator logit becomes a reward. ``sigmoid`` is AdaNAT's; once D wins, it is ~exp(logit)
# for every fake and its differences vanish. ``logsigmoid`` is the non-saturating generator objective of
# GANs, log sigmoid(logit), which stays about linear in the logit for the fakes D rejects.
D_REWARDS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "logsigmoid": F.logsigmoid,
}


@dataclass
class RewardContext:
    """What a reward model may use: the model, real images (float [0,1]) with labels, a device,
    an evaluation spec (extractor, reference) and a seed for its own randomness.

    For a text-conditioned model ``real_labels`` are the real images' conditions as rewards read
    them by default, the pooled text embeddings (N, P) of their true captions, and ``real_captions``
    those captions."""

    bundle: Any
    real_images: torch.Tensor
    real_labels: torch.Tensor
    device: torch.device
    seed: int
    evaluation: dict
    real_captions: list[str] | None = None

    @property
    def text(self) -> bool:
        return is_text_model(self.bundle.backbone)


class RewardModel:
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init__(self, context: RewardContext, **options: Any) -> None:
        self.context = context

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def update(self, fake_images: torch.Tensor, fake_labels: torch.Tensor, step: int) -> dict[str, float]:
        return {}

    def labels_for_prompts(self, prompts: list[str], pooled: torch.Tensor) -> torch.Tensor:
        """What this reward reads as ``labels`` of a text-conditioned model's images made from
        ``prompts``: by default their pooled text embeddings ``pooled`` (B, P)."""
        return pooled

    def check_prompts(self, prompts: list[str]) -> None:
        """Refuse (UsageError) prompts this reward cannot read, before training starts."""

    def prepare(self, accelerator: Any) -> None:
        """Hand the trainable networks (and optimizers) to the trainer's ``accelerate.Accelerator``; a
        reward that keeps learning should train through what ``accelerator.prepare`` returns and call
        ``accelerator.backward(loss)``. The default is for rewards that only implement ``wrap``."""
        if accelerator.num_processes > 1:
            self.wrap(accelerator.prepare_model)

    def wrap(self, wrapper) -> None:
        """Let a multi-process trainer wrap the trainable networks (e.g. in DistributedDataParallel);
        superseded by ``prepare``, kept for reward plugins written against it."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class AdversarialReward(RewardModel):
    """sigmoid(D(x, y)) from a conditional discriminator trained alongside the policy: y is the class,
    or for a text-conditioned model the prompt's pooled text embedding (projected, ``cond_dim``)."""

    name = "adversarial"
    description = "sigmoid(D(x, y)) of a discriminator that keeps learning (AdaNAT's adversarial reward)."

    def __init__(self, context: RewardContext, d_steps: int = 5, d_lr: float = 1e-4, d_width: int = 32,
                 d_batch: int = 128, class_weight: float = 0.0, clip_weight: float = 0.0,
                 caption_weight: float = 0.0, mismatch_weight: float = 0.0, d_reward: str = "sigmoid") -> None:
        super().__init__(context)
        bundle = context.bundle
        if d_reward not in D_REWARDS:
            raise UsageError(f"d_reward must be one of {', '.join(D_REWARDS)}, not {d_reward!r}")
        self.d_reward = D_REWARDS[d_reward]
        self.class_weight = _weight("class_weight", class_weight)
        self.classifier = _class_fidelity_classifier(context) if self.class_weight else None
        self.clip_weight = _weight("clip_weight", clip_weight)
        self.clip_image = _clip_image_encoder(context) if self.clip_weight else None
        self.caption_weight = _weight("caption_weight", caption_weight)
        self.caption_judge = _caption_judge(context) if self.caption_weight else None
        self.mismatch_weight = _weight("mismatch_weight", mismatch_weight)
        self.wrong_labels = _mismatched_conditions(context) if self.mismatch_weight else None
        torch.manual_seed(context.seed + 7)
        cond_dim = bundle.text_encoder.pooled_dim if context.text else None
        self.cond_dim = cond_dim
        self.discriminator = ProjectionDiscriminator(bundle.backbone.num_classes, max(bundle.image_size), d_width,
                                                     cond_dim=cond_dim)
        self.discriminator.to(context.device)
        self.wrapped: nn.Module = self.discriminator
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=d_lr, betas=(0.5, 0.999))
        self.backward: Callable[[torch.Tensor], None] = torch.Tensor.backward
        self.d_steps, self.d_batch = d_steps, d_batch

    def prepare(self, accelerator: Any) -> None:
        # ``discriminator`` stays the plain module (scoring, checkpoints); its forward runs in the
        # accelerator's mixed precision from now on
        self.wrapped, self.optimizer = accelerator.prepare(self.discriminator, self.optimizer)
        self.backward = accelerator.backward

    def wrap(self, wrapper) -> None:
        self.wrapped = wrapper(self.discriminator)

    def labels_for_prompts(self, prompts: list[str], pooled: torch.Tensor) -> torch.Tensor:
        """The pooled embeddings, followed with ``caption_weight`` by what each caption states
        (``data.captions.statement_targets``); the discriminator reads only the embeddings."""
        if self.caption_judge is None:
            return pooled
        return torch.cat([pooled, statement_targets(prompts).to(pooled)], dim=1)

    def check_prompts(self, prompts: list[str]) -> None:
        if self.caption_judge is not None:
            caption_classes(prompts, self.caption_judge.num_classes, WHAT_CAPTION_WEIGHT)

    def _split(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(the discriminator's condition, the caption statements or None) of reward labels."""
        if self.caption_judge is None:
            return labels, None
        return labels[:, : self.cond_dim], labels[:, self.cond_dim :]

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self.discriminator.eval()
        images, labels = images.to(self.context.device), labels.to(self.context.device)
        labels, statements = self._split(labels)
        reward = self.d_reward(self.discriminator(images, labels))
        if self.classifier is not None:
            probs = torch.softmax(self.classifier(images), dim=-1)
            reward = reward + self.class_weight * probs.gather(1, labels[:, None]).squeeze(1)
        if self.clip_image is not None:
            reward = reward + self.clip_weight * clip_score(self.clip_image, images, labels)
        if statements is not None:
            judge = self.caption_judge
            probs = torch.softmax(judge.classifier(images), dim=-1)
            satisfied = satisfied_statements(images, statements, probs, judge.thresholds)
            reward = reward + self.caption_weight * satisfied.to(reward)
        return reward

    def update(self, fake_images: torch.Tensor, fake_labels: torch.Tensor, step: int) -> dict[str, float]:
        """``d_steps`` discriminator steps on the given fakes (cut into batches) and as many real batches."""
        self.discriminator.train()
        ctx = self.context
        fake_labels = self._split(fake_labels)[0]
        generator = torch.Generator().manual_seed(ctx.seed * 1_000_003 + step)
        n_fake = fake_images.shape[0]
        accuracy, loss_sum, mismatch_accuracy = 0.0, 0.0, 0.0
        for i in range(self.d_steps):
            fake_idx = torch.randint(0, n_fake, (min(self.d_batch, n_fake),), generator=generator)
            real_idx = torch.randint(0, ctx.real_images.shape[0], (len(fake_idx),), generator=generator)
            real_x, real_y = ctx.real_images[real_idx].to(ctx.device), ctx.real_labels[real_idx].to(ctx.device)
            fake_x, fake_y = fake_images[fake_idx].to(ctx.device), fake_labels[fake_idx].to(ctx.device)
            images, conditions = [real_x, fake_x], [real_y, fake_y]
            if self.wrong_labels is not None:
                images.append(real_x)
                conditions.append(self.wrong_labels[real_idx].to(ctx.device))
            logits = self.wrapped(torch.cat(images), torch.cat(conditions))
            n = len(real_x)
            real_logits, fake_logits = logits[:n], logits[n : 2 * n]
            loss = discriminator_loss(real_logits, fake_logits)
            if self.wrong_labels is not None:
                wrong_logits = logits[2 * n :]
                loss = loss + self.mismatch_weight * F.softplus(wrong_logits).mean()
                mismatch_accuracy += (wrong_logits < 0).float().mean().item()
            self.optimizer.zero_grad(set_to_none=True)
            self.backward(loss)
            self.optimizer.step()
            accuracy += 0.5 * ((real_logits > 0).float().mean() + (fake_logits < 0).float().mean()).item()
            loss_sum += loss.item()
        record = {"d_loss": loss_sum / self.d_steps, "d_acc": accuracy / self.d_steps}
        if self.wrong_labels is not None:  # how often D rejects a real image under a wrong condition
            record["d_mismatch_acc"] = mismatch_accuracy / self.d_steps
        return record

    def state_dict(self) -> dict[str, Any]:
        return {"discriminator": self.discriminator.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimizer.load_state_dict(state["optimizer"])


def _weight(name: str, value: Any) -> float:
    try:
        weight = float(value)
    except (TypeError, ValueError):
        weight = math.nan
    if isinstance(value, bool) or not math.isfinite(weight) or weight < 0:
        raise UsageError(f"{name} must be a finite number ≥ 0, not {value!r}")
    return weight


MISMATCH_SEED = 11


def _mismatched_conditions(context: RewardContext) -> torch.Tensor:
    """A wrong condition for each real image, in the form of ``context.real_labels`` (see the module
    docstring, ``mismatch_weight``)."""
    n = context.real_labels.shape[0]
    if n < 2:
        raise UsageError("mismatch_weight pairs real images with other images' conditions, and needs at least two")
    if not context.text:
        num_classes = context.bundle.backbone.num_classes
        generator = torch.Generator().manual_seed(context.seed + MISMATCH_SEED)
        offsets = torch.randint(1, num_classes, (n,), generator=generator)
        return (context.real_labels.long() + offsets) % num_classes
    wrong = mismatched_captions(list(context.real_captions or []), context.seed + MISMATCH_SEED)
    return context.bundle.prompts.pooled(wrong)


def mismatched_captions(captions: list[str], seed: int) -> list[str]:
    """A wrong caption for each of ``captions`` (at least two), fixed by ``seed``: the caption with one
    statement negated (``data.captions.mismatched_caption``), or another of the captions where the
    grammar finds nothing to negate."""
    rng = random.Random(seed)
    n = len(captions)
    wrong = []
    for i, caption in enumerate(captions):
        negated = mismatched_caption(caption, rng)
        if negated is None:  # outside the grammar: another real image's caption
            negated = captions[(i + rng.randrange(1, n)) % n]
        wrong.append(negated)
    return wrong


def _bundled_classifier(context: RewardContext, missing: str) -> nn.Module:
    """The model's bundled classifier on the reward's device, or a UsageError saying ``missing``."""
    classifier = load_classifier(context.bundle.path, context.device)
    if classifier is None:
        raise UsageError(missing)
    return classifier


def _class_fidelity_classifier(context: RewardContext) -> nn.Module:
    if context.text:
        raise UsageError("class_weight needs a class-conditional model; "
                         f"'{context.bundle.name}' is text-conditioned")
    return _bundled_classifier(context, f"class_weight needs a classifier, and model '{context.bundle.name}' ships none")


def _clip_image_encoder(context: RewardContext) -> nn.Module:
    name = context.bundle.name
    if not context.text:
        raise UsageError(f"clip_weight needs a text-conditioned model; '{name}' is class-conditional")
    encoder = load_clip_image_encoder(context.bundle.path)
    if encoder is None:
        raise UsageError(f"clip_weight needs a CLIP image encoder, and model '{name}' ships none "
                         "(python -m adanat_cli.builds.clip_image_encoder --bundle DIR adds one)")
    return encoder.to(context.device).eval()


WHAT_CAPTION_WEIGHT = "caption_weight reads the class each caption names"


@dataclass
class CaptionJudge:
    """What ``caption_weight`` judges a caption's statements with."""

    classifier: nn.Module
    thresholds: dict[str, list[float]]

    @property
    def num_classes(self) -> int:
        return len(self.thresholds["size"])


def _caption_judge(context: RewardContext) -> CaptionJudge:
    name = context.bundle.name
    if not context.text:
        raise UsageError(f"caption_weight needs a text-conditioned model; '{name}' is class-conditional")
    thresholds = caption_thresholds(context.bundle)
    if thresholds is None:
        raise UsageError(f"caption_weight reads captions by a grammar with attribute thresholds, and model '{name}' "
                         "has none (config.json caption_attributes.thresholds)")
    classifier = _bundled_classifier(context, f"caption_weight needs a classifier, and model '{name}' ships none")
    return CaptionJudge(classifier, thresholds)


class FidReward(RewardModel):
    """Minus the FID of each image's batch against the reference statistics (one value per batch)."""

    name = "fid"
    description = "Minus the batch FID in the model's feature space (the paper's metric-gaming ablation)."

    def __init__(self, context: RewardContext, reward_batch: int = 128) -> None:
        super().__init__(context)

        _, self.extractor, self.reference = evaluation_setup(context.evaluation, context.device)
        self.reward_batch = reward_batch

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:

        rewards = torch.empty(images.shape[0])
        for lo in range(0, images.shape[0], self.reward_batch):
            chunk = images[lo : lo + self.reward_batch]
            if chunk.shape[0] < 2:
                rewards[lo:] = rewards[lo - 1] if lo else 0.0
                continue
            features = extract_features(to_uint8(chunk), self.extractor, device=self.context.device)
            mu, sigma = feature_stats(features)
            rewards[lo : lo + len(chunk)] = -frechet_distance(mu, sigma, self.reference.mu, self.reference.sigma)
        return rewards


WHAT_CLASSIFIER = "the classifier reward reads the class each caption names"


class ClassifierReward(RewardModel):
    """A frozen classifier's softmax probability of the requested class."""

    name = "classifier"
    description = "A frozen classifier's confidence in the requested class (the reward-model ablation)."

    def __init__(self, context: RewardContext) -> None:
        super().__init__(context)

        classifier = _bundled_classifier(context, f"model '{context.bundle.name}' ships no classifier for the classifier reward")
        if context.text and context.bundle.config.get("caption_attributes") is None:
            raise UsageError(f"the classifier reward reads the class a caption names, and model '{context.bundle.name}' "
                             "has no caption grammar that names classes (config.json caption_attributes)")
        self.classifier = classifier

    def labels_for_prompts(self, prompts: list[str], pooled: torch.Tensor) -> torch.Tensor:
        """The class each caption names (``"a thin seven"`` -> 7)."""
        num_classes = getattr(self.classifier, "config", {}).get("num_classes", 10)
        return torch.tensor(caption_classes(prompts, num_classes, WHAT_CLASSIFIER), dtype=torch.long)

    def check_prompts(self, prompts: list[str]) -> None:
        caption_classes(prompts, getattr(self.classifier, "config", {}).get("num_classes", 10), WHAT_CLASSIFIER)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(self.classifier(images.to(self.context.device)), dim=-1)
        return probs.gather(1, labels.to(self.context.device)[:, None]).squeeze(1)


