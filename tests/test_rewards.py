"""Reward models: the adversarial reward's optional class-fidelity term."""

from __future__ import annotations

import pytest
import torch

from adanat_cli.errors import UsageError
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
