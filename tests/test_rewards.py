"""Reward models: the adversarial reward's optional class-fidelity, CLIP-score and caption terms."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch

from adanat_cli.data.captions import make_caption, parse_caption, satisfied_statements, statement_targets
from adanat_cli.errors import UsageError
from adanat_cli.evaluation.captions import caption_thresholds
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


def test_d_reward_logsigmoid_scores_the_same_discriminator_without_saturating():
    bundle = load_model("tiny-mnist")
    images, labels = torch.rand(6, 3, *bundle.image_size), torch.tensor([0, 1, 2, 3, 4, 5])
    plain = AdversarialReward(_context(bundle))
    log = AdversarialReward(_context(bundle), d_reward="logsigmoid")  # same seed: the same discriminator
    logits = plain.discriminator.eval()(images, labels)
    torch.testing.assert_close(plain(images, labels), torch.sigmoid(logits))
    torch.testing.assert_close(log(images, labels), torch.nn.functional.logsigmoid(logits))
    # where D rejects a fake outright, sigmoid leaves almost no difference and logsigmoid the logit's own
    far = torch.tensor([-12.0, -16.0])
    assert torch.sigmoid(far).diff().abs() < 1e-5
    assert torch.nn.functional.logsigmoid(far).diff().abs() > 3.9
    with pytest.raises(UsageError, match="d_reward must be one of sigmoid, logsigmoid"):
        AdversarialReward(_context(bundle), d_reward="tanh")


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


def _without(bundle_dir, key: str, copy):
    """The bundle copied to ``copy`` with ``key`` removed from its config.json, loaded."""
    shutil.copytree(bundle_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    del config[key]
    (copy / "config.json").write_text(json.dumps(config))
    return load_model(str(copy))


@pytest.mark.parametrize("option, key, missing", [
    ("clip_weight", "clip_image_encoder", "clip_weight needs a CLIP image encoder, and model 'bare' ships none"),
    ("caption_weight", "caption_attributes", "caption_weight reads captions by a grammar with attribute thresholds, "
                                             "and model 'bare' has none"),
])
def test_an_alignment_term_is_refused_on_a_class_model_a_bundle_without_its_parts_or_a_bad_weight(
        quick_text_bundle, tmp_path, option, key, missing):
    with pytest.raises(UsageError, match=f"{option} needs a text-conditioned model; 'tiny-mnist' is class-conditional"):
        AdversarialReward(_context(load_model("tiny-mnist")), **{option: 0.5})
    with pytest.raises(UsageError, match=re.escape(missing)):
        AdversarialReward(_text_context(_without(quick_text_bundle, key, tmp_path / "bare")), **{option: 0.5})
    for bad in (float("nan"), -1):
        with pytest.raises(UsageError, match=f"{option} must be a finite number ≥ 0"):
            AdversarialReward(_text_context(load_model(str(quick_text_bundle))), **{option: bad})


CAPTIONS = ["a seven", "a thick four", "a small, slanted one", "an eight"]


def test_caption_weight_adds_the_fraction_of_statements_the_image_satisfies(quick_text_bundle):
    bundle = load_model(str(quick_text_bundle))
    images = torch.rand(4, 3, *bundle.image_size)
    pooled = bundle.prompts.embed(CAPTIONS).pooled.float()
    plain = AdversarialReward(_text_context(bundle))
    weighted = AdversarialReward(_text_context(bundle), caption_weight=0.5)
    labels = weighted.labels_for_prompts(CAPTIONS, pooled)
    assert labels.shape == (4, pooled.shape[1] + 7)
    assert torch.equal(labels[:, : pooled.shape[1]], pooled)  # the discriminator reads only these
    assert torch.equal(plain.labels_for_prompts(CAPTIONS, pooled), pooled)  # off by default
    probs = torch.softmax(load_classifier(bundle.path).eval()(images), dim=-1)
    satisfied = satisfied_statements(images, statement_targets(CAPTIONS), probs, caption_thresholds(bundle))
    torch.testing.assert_close(weighted(images, labels) - plain(images, pooled), 0.5 * satisfied)
    assert ((satisfied >= 0) & (satisfied <= 1)).all()
    weighted.update(images, labels, step=1)  # the discriminator trains on the embeddings alone


def test_caption_weight_refuses_captions_that_name_no_class(quick_text_bundle):
    reward = AdversarialReward(_text_context(load_model(str(quick_text_bundle))), caption_weight=0.5)
    reward.check_prompts(["a seven", "a thick, slanted 3"])
    with pytest.raises(UsageError, match="caption_weight reads the class each caption names: the caption 'a thick digit'"):
        reward.check_prompts(["a seven", "a thick digit"])


def test_mismatch_weight_trains_the_discriminator_to_reject_real_images_under_wrong_conditions(quick_text_bundle):
    bundle = load_model(str(quick_text_bundle))
    context = _text_context(bundle)  # real captions: "a seven", "a thin upright three", cycled
    reward = AdversarialReward(context, mismatch_weight=1.0)
    wrong = reward.wrong_labels
    assert wrong.shape == context.real_labels.shape
    # "a seven" states no attribute: another class; "a thin upright three": one of its two words flipped
    negatives = {"a thick upright three", "a thin slanted three"} | {
        make_caption(c) for c in range(10) if c != 7}
    candidates = sorted(negatives)
    pooled = bundle.prompts.embed(candidates).pooled.float()
    for row, caption in zip(wrong, context.real_captions):
        match = [c for c, p in zip(candidates, pooled) if torch.allclose(p, row)]
        assert match and parse_caption(match[0]) != parse_caption(caption)
    record = reward.update(torch.rand(8, 3, *bundle.image_size), context.real_labels, step=0)
    assert 0.0 <= record["d_mismatch_acc"] <= 1.0
    assert "d_mismatch_acc" not in AdversarialReward(_text_context(bundle)).update(
        torch.rand(8, 3, *bundle.image_size), context.real_labels, step=0)
    # the extra term is exactly μ · softplus(D(real, wrong)): the same seed gives the same discriminator
    # and the same batches, and one step's loss is measured before the step
    plain, matching = AdversarialReward(context, d_steps=1), AdversarialReward(context, d_steps=1, mismatch_weight=2.0)
    before = {k: v.clone() for k, v in matching.discriminator.state_dict().items()}
    reals = context.real_images
    difference = (matching.update(reals, context.real_labels, step=3)["d_loss"]
                  - plain.update(reals, context.real_labels, step=3)["d_loss"])
    generator = torch.Generator().manual_seed(context.seed * 1_000_003 + 3)
    torch.randint(0, 8, (8,), generator=generator)  # the fakes' draw, then the reals'
    real_idx = torch.randint(0, 8, (8,), generator=generator)
    matching.discriminator.load_state_dict(before)
    expected = 2.0 * torch.nn.functional.softplus(matching.discriminator(reals[real_idx], wrong[real_idx])).mean()
    assert difference == pytest.approx(expected.item(), rel=1e-5)


def test_mismatch_weight_on_a_class_model_uses_another_class():
    bundle = load_model("tiny-mnist")
    context = _context(bundle)
    wrong = AdversarialReward(context, mismatch_weight=0.5).wrong_labels
    assert wrong.dtype == torch.long and (wrong != context.real_labels).all()
    assert ((wrong >= 0) & (wrong < bundle.backbone.num_classes)).all()
    with pytest.raises(UsageError, match="mismatch_weight must be a finite number ≥ 0"):
        AdversarialReward(context, mismatch_weight=-0.5)


def test_mismatch_weight_falls_back_to_another_real_caption_outside_the_grammar(quick_text_bundle):
    bundle = load_model(str(quick_text_bundle))
    captions = ["a seven", "a red bus", "a thick four", "a cat on a mat"]
    pooled = bundle.prompts.embed(captions).pooled.float()
    context = RewardContext(bundle, torch.rand(4, 3, *bundle.image_size), pooled, torch.device("cpu"), 0,
                            bundle.evaluation, real_captions=captions)
    wrong = AdversarialReward(context, mismatch_weight=1.0).wrong_labels
    for i in (1, 3):  # no class named: the wrong caption is another image's (all four differ here)
        assert any(torch.allclose(wrong[i], row) for j, row in enumerate(pooled) if j != i)
        assert not torch.allclose(wrong[i], pooled[i])
    assert torch.allclose(wrong[2], bundle.prompts.embed(["a thin four"]).pooled.float()[0])
