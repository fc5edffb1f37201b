"""Text-conditioned generation: prompts through the engine, the bundle and ``adanat sample``."""

from __future__ import annotations

import json

import pytest
import torch

from adanat_cli.engine.conditioning import Conditions
from adanat_cli.engine.loop import decode
from adanat_cli.engine.sampling import generate_images
from adanat_cli.models.bundle import load_bundle
from adanat_cli.schedulers.maskgit import CosineScheduler


@pytest.fixture(scope="module")
def text_bundle(quick_text_bundle):
    return load_bundle(quick_text_bundle)


def test_a_prompt_gives_the_same_image_whatever_else_is_in_its_batch(text_bundle):
    scheduler = CosineScheduler(guidance=2.0)
    prompts = ["a thin upright three", "a thick seven", "", "a slanted one"]
    together = generate_images(text_bundle, scheduler, prompts, 4, seed=5, batch_size=4)
    alone = generate_images(text_bundle, scheduler, prompts[1:2], 4, seed=5, batch_size=1, indices=[1])
    assert torch.equal(together.tokens[1], alone.tokens[0])
    assert together.prompts == prompts and together.labels == [-1] * 4
    other = generate_images(text_bundle, scheduler, ["a thin upright three"] * 4, 4, seed=5, batch_size=4)
    assert torch.equal(other.tokens[0], together.tokens[0])


def test_the_backbone_reads_the_prompt(text_bundle):
    context = text_bundle.prompts.embed(["a thick seven", "a thin one"]).context
    tokens = torch.full((2, text_bundle.backbone.num_tokens), text_bundle.backbone.mask_id)
    logits = text_bundle.backbone(tokens, context).logits
    assert not torch.allclose(logits[0], logits[1])


def test_prompts_are_encoded_once_and_the_null_context_once(text_bundle):
    text_bundle._prompts = None
    scheduler = CosineScheduler(guidance=1.0)
    generate_images(text_bundle, scheduler, ["a two", "a two", "a four"], 2, batch_size=2)
    embedder = text_bundle.prompts
    first = embedder.encoded
    generate_images(text_bundle, scheduler, ["a four", "a two"], 2, batch_size=2)
    assert embedder.encoded == first  # nothing new to encode
    assert first <= 3  # "a two", "a four" and the empty prompt, each once


class Spy(torch.nn.Module):
    """Wraps a text backbone and records the contexts of every forward."""

    def __init__(self, backbone):
        super().__init__()
        self.inner = backbone
        self.seen: list[torch.Tensor] = []

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.inner, name)

    def forward(self, tokens, cond, cache=None, **kwargs):
        self.seen.append(cond.clone())
        return self.inner(tokens, cond, **kwargs)


def test_guidance_runs_the_unconditional_branch_on_the_empty_prompts_context(text_bundle):
    embedder = text_bundle.prompts
    spy = Spy(text_bundle.backbone)
    text = embedder.embed(["a thick seven", "a small nine"])
    null = embedder.null().context.expand_as(text.context)
    decode(spy, CosineScheduler(guidance=3.0), Conditions(text.context, null, text.pooled), 3, [1, 2])
    empty = text_bundle.text_encoder.encode([""]).context
    first, batch = spy.seen[0], spy.seen[1]
    # the first step's all-mask grids run once per distinct prompt, with one shared null row
    assert first.shape[0] == 3 and torch.allclose(first[2:], empty)
    assert batch.shape[0] == 4  # cond and uncond in one forward
    assert torch.equal(batch[:2], text.context)
    assert torch.allclose(batch[2:], empty.expand(2, -1, -1))


def test_the_bundle_round_trips_its_text_encoder(quick_text_bundle, text_bundle):
    config = json.loads((quick_text_bundle / "config.json").read_text())
    assert config["text_encoder"]["type"] == "clip"
    assert "text_encoder.safetensors" in config["files"]
    again = load_bundle(quick_text_bundle)
    a = text_bundle.text_encoder.encode(["a thin three"])
    b = again.text_encoder.encode(["a thin three"])
    assert torch.equal(a.context, b.context) and torch.equal(a.pooled, b.pooled)


def test_sample_writes_one_png_per_prompt_named_after_it(cli, quick_text_bundle, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a thick seven\n\n  a small nine  \n", encoding="utf-8")
    out = tmp_path / "out"
    result = cli("sample", "--model", str(quick_text_bundle), "--prompt", "a thin upright three",
                 "--prompts", str(prompts), "--num", "2", "--steps", "2", "--out", str(out))
    assert result.code == 0, result.err
    manifest = json.loads((out / "samples.json").read_text())
    assert [r["prompt"] for r in manifest["images"]] == ["a thin upright three"] * 2 + ["a thick seven"] * 2 + \
        ["a small nine"] * 2
    assert manifest["images"][0]["file"] == "0000_a-thin-upright-three.png"
    assert all((out / r["file"]).is_file() for r in manifest["images"])
    assert (out / "grid.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["--class", "3"], "text-conditioned: pass --prompt"),
    ([], "text-conditioned: pass --prompt"),
    (["--prompts", "missing.txt"], "no such file"),
])
def test_text_model_requests_that_cannot_work_get_one_line(cli, quick_text_bundle, tmp_path, args, message):
    result = cli("sample", "--model", str(quick_text_bundle), *args, "--out", str(tmp_path / "o"))
    assert result.code != 0
    assert message in result.err and "Traceback" not in result.err
    assert not (tmp_path / "o").exists()


def test_a_prompt_file_that_is_not_text_is_refused(cli, quick_text_bundle, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00a digit")
    result = cli("sample", "--model", str(quick_text_bundle), "--prompts", str(bad), "--out", str(tmp_path / "o"))
    assert result.code != 0 and "not a UTF-8 text file" in result.err


def test_prompts_on_a_class_model_are_refused(cli, toy_bundle, tmp_path):
    result = cli("sample", "--model", str(toy_bundle), "--prompt", "a three", "--out", str(tmp_path / "o"))
    assert result.code != 0 and "class-conditional: pass --class" in result.err


def test_a_scheduler_shipped_for_other_steps_defaults_to_the_steps_it_was_made_for(capsys):
    from types import SimpleNamespace

    from adanat_cli.cli.sample import default_steps

    bundle = SimpleNamespace(name="m", config={"schedules": {"adanat": {"8": {"policy": "p"}}}})
    assert default_steps(bundle, "adanat", {"steps": 18}) == 8
    assert "--steps 8" in capsys.readouterr().err
    assert default_steps(bundle, "cosine", {"steps": 18}) == 18
    shipped_for_many = SimpleNamespace(name="m", config={"schedules": {"adanat": {"2": {}, "8": {}}}})
    assert default_steps(shipped_for_many, "adanat", {"steps": 8}) == 8


def test_fewer_images_than_captions_spread_over_the_caption_file():
    from adanat_cli.evaluation.pairs import comparison_labels

    captions = [f"a {word}" for word in ("zero", "one", "two", "three")] * 1 + ["a four", "a five"]
    assert comparison_labels(captions, 3) == ["a zero", "a two", "a four"]
    assert comparison_labels(captions, 8) == captions + captions[:2]  # more images: cycled
    assert comparison_labels([0, 1, 2, 3], 2) == [0, 1]  # class ids keep cycling from the first
