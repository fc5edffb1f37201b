"""Reward models: the adversarial reward's optional class-fidelity and CLIP-score terms."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from adanat_cli.errors import UsageError
from adanat_cli.metrics.clip_image import load_clip_image_encoder
from adanat_cli.metrics.digit_classifier import load_classifier
from adanat_cli.models.resolve import load_model
from adanat_cli.training.rewards import AdversarialReward, RewardContext


def _context(bundle) -> RewardContext:
    real = torch.rand(8, 3, *bundle.image_size)
    return RewardContext(bundle, real, torch.arange(8) % 10, torch.device("cpu"), 0, bundle.evaluation)


def test_class_weight_adds_the_classifier_probability_of_the_requested_class():
    bundle = load_model("tiny-mnist")
    images, labels = torch.rand(6, 3, *bundle.image_size), torch.tensor([0, 1, 2, 3, 4, 5])
    plain = AdversarialReward(_context(bundle))
    weighted = AdversarialReward(_context(bundle), class_weight=0.5)  # same seed: the same discriminator
    probs = torch.softmax(load_classifier(bundle.path).eval()(images), dim=-1)[torch.arange(6), labels]
    torch.testing.assert_close(weighted(images, labels) - plain(images, labels), 0.5 * probs)
    assert AdversarialReward(_context(bundle)).classifier is None  # off by default: no classifier loaded


def test_class_weight_needs_a_classifier(toy_bundle):
    bundle = load_model(str(toy_bundle))
    with pytest.raises(UsageError, match="class_weight needs a classifier"):
        AdversarialReward(_context(bundle), class_weight=0.1)


def _text_context(bundle) -> RewardContext:
    pooled = bundle.prompts.embed(["a seven", "a thin upright three"] * 4).pooled.float()
    return RewardContext(bundle, torch.rand(8, 3, *bundle.image_size), pooled, torch.device("cpu"), 0,
                         bundle.evaluation, real_captions=["a seven", "a thin upright three"] * 4)


def test_clip_weight_adds_the_clip_score_of_image_and_prompt(quick_text_bundle):
    bundle = load_model(str(quick_text_bundle))
    images = torch.rand(4, 3, *bundle.image_size)
    pooled = bundle.prompts.embed(["a seven", "a thick four", "a small, slanted one", "an eight"]).pooled.float()
    plain = AdversarialReward(_text_context(bundle))
    weighted = AdversarialReward(_text_context(bundle), clip_weight=2.0)
    encoder = load_clip_image_encoder(bundle.path)
    cosine = torch.nn.functional.cosine_similarity(encoder(images), pooled, dim=-1)
    torch.testing.assert_close(weighted(images, pooled) - plain(images, pooled), 2.0 * cosine)
    assert plain.clip_image is None  # off by default: nothing loaded


def test_clip_weight_is_refused_without_a_text_model_or_an_image_encoder(quick_text_bundle, tmp_path):
    with pytest.raises(UsageError, match="clip_weight needs a text-conditioned model; 'tiny-mnist' is class-conditional"):
        AdversarialReward(_context(load_model("tiny-mnist")), clip_weight=0.5)
    bare = tmp_path / "bare"
    shutil.copytree(quick_text_bundle, bare)
    config = json.loads((bare / "config.json").read_text())
    del config["clip_image_encoder"]
    (bare / "config.json").write_text(json.dumps(config))
    with pytest.raises(UsageError, match="clip_weight needs a CLIP image encoder, and model 'bare' ships none"):
        AdversarialReward(_text_context(load_model(str(bare))), clip_weight=0.5)
    with pytest.raises(UsageError, match="clip_weight must be a finite number ≥ 0"):
        AdversarialReward(_text_context(load_model(str(quick_text_bundle))), clip_weight=float("nan"))
