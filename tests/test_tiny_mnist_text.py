"""``tiny-mnist-text``: the embedded text-to-image model, its build and what it can do."""

from __future__ import annotations

import json

import pytest
import torch

from adanat_cli.architectures.clip_text import CLIPText
from adanat_cli.architectures.uvit_text import UViTText
from adanat_cli.builds import tiny_mnist_text
from adanat_cli.data.captions import alignment, parse_caption
from adanat_cli.engine.sampling import generate_images
from adanat_cli.metrics import load_classifier
from adanat_cli.models.resolve import builtin_models, load_model
from adanat_cli.schedulers.build import build_scheduler

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_quick_build_keeps_the_parent_tokenizer_and_names_its_captions(quick_text_bundle):
    config = json.loads((quick_text_bundle / "config.json").read_text())
    parent = load_model("tiny-mnist")
    built = load_model(str(quick_text_bundle))
    assert isinstance(built.backbone, UViTText) and isinstance(built.text_encoder, CLIPText)
    assert built.backbone.grid == parent.backbone.grid and built.classes == []
    for key, value in parent.tokenizer.state_dict().items():
        assert torch.equal(built.tokenizer.state_dict()[key], value)
    captions = (quick_text_bundle / config["evaluation"]["captions"]).read_text().splitlines()
    assert captions and all(parse_caption(c).class_index is not None for c in captions)
    assert set(config["caption_attributes"]["thresholds"]) == {"thickness", "slant", "size"}
    assert load_classifier(quick_text_bundle) is not None
    assert tiny_mnist_text.main(["--out", str(quick_text_bundle), "--quick"]) == 6  # never replaced silently


def test_unused_token_rows_of_the_quick_text_encoder_are_zero(quick_text_bundle):
    encoder = load_model(str(quick_text_bundle)).text_encoder
    table = encoder.text_model.embeddings.token_embedding.weight
    used = torch.unique(encoder.tokenize(["a thick, slanted seven", ""]))
    assert bool((table[used].abs().sum(1) > 0).all())
    assert int((table.abs().sum(1) > 0).sum()) < 200  # of 49,408


def shipped_or_skip():
    if "tiny-mnist-text" not in builtin_models():
        pytest.skip("tiny-mnist-text is not built in this checkout")
    return load_model("tiny-mnist-text")


def test_the_shipped_model_draws_the_digit_its_prompt_names():
    bundle = shipped_or_skip()
    classifier = load_classifier(bundle.path)
    prompts = ["a seven"] * 10 + ["a thin upright three"] * 10
    scheduler = build_scheduler(bundle.recommended["scheduler"], dict(bundle.recommended["scheduler_config"]))
    samples = generate_images(bundle, scheduler, prompts, 8, seed=0, batch_size=20)
    predicted, _ = classifier.classify(samples.images)
    agreement = alignment(samples.images, prompts, predicted, bundle.config["caption_attributes"]["thresholds"])
    assert agreement["class_agreement"] >= 0.8
