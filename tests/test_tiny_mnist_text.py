"""``tiny-mnist-text``: the embedded text-to-image model, its build and what it can do."""

from __future__ import annotations

import json

import pytest
import torch

from adanat_cli.architectures.clip_text import CLIPText
from adanat_cli.architectures.uvit_text import UViTText
from adanat_cli.builds import clip_image_encoder, tiny_mnist_text
from adanat_cli.data.captions import alignment, describe, make_caption, measure_attributes, parse_caption
from adanat_cli.data.sources import mnist5k
from adanat_cli.engine.sampling import generate_images
from adanat_cli.metrics import load_classifier
from adanat_cli.metrics.clip_image import load_clip_image_encoder, word_retrieval
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


def test_the_build_adds_a_clip_image_encoder_that_loads(quick_text_bundle):
    spec = json.loads((quick_text_bundle / "config.json").read_text())["clip_image_encoder"]
    assert spec["type"] == "digit-clip-image" and spec["trained"]["steps"] == 3
    encoder = load_clip_image_encoder(quick_text_bundle)
    assert encoder(torch.rand(2, 3, 28, 28)).shape == (2, load_model(str(quick_text_bundle)).text_encoder.pooled_dim)


def test_the_shipped_clip_image_encoder_tells_a_true_caption_from_a_one_word_flip():
    bundle = shipped_or_skip()
    thresholds = bundle.config["caption_attributes"]["thresholds"]
    images, labels = mnist5k()
    images, labels = images[::25], labels[::25]  # 200 digits
    words = describe(labels, measure_attributes(images), thresholds)
    true = [make_caption(c, w) for c, w in zip(labels.tolist(), words)]
    flipped = [clip_image_encoder.one_word_flips(w, c) for c, w in zip(labels.tolist(), words)]
    embed = lambda texts: bundle.prompts.embed(list(texts)).pooled.float()  # noqa: E731
    assert word_retrieval(load_clip_image_encoder(bundle.path), embed, images, true, flipped) > 0.85  # chance: 0.5


def test_adding_a_clip_image_encoder_to_a_class_model_is_one_line(tmp_path, capsys):
    assert clip_image_encoder.main(["--bundle", str(builtin_models()["tiny-mnist"]), "--quick"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no caption_attributes" in err[0]


def test_the_build_takes_a_longer_backbone_stage_and_records_the_command(tmp_path, capsys):
    out = tmp_path / "longer"
    assert tiny_mnist_text.main(["--out", str(out), "--quick", "--backbone-steps", "5"]) == 0
    provenance = json.loads((out / "config.json").read_text())["provenance"]
    assert provenance["budget"]["backbone_steps"] == 5
    assert provenance["budget"]["text_steps"] == tiny_mnist_text.Budget.quick().text_steps  # the rest untouched
    assert provenance["command"].endswith("--quick --backbone-steps 5")
    capsys.readouterr()
    for bad in ("0", "many"):
        with pytest.raises(SystemExit) as exit_info:
            tiny_mnist_text.main(["--out", str(tmp_path / "refused"), "--quick", "--backbone-steps", bad])
        assert exit_info.value.code == 2 and f"must be a positive integer, not '{bad}'" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()
