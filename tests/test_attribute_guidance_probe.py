"""scripts/attribute_guidance_probe.py: guidance pushed partly against the caption without its attribute words."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from adanat_cli.engine import conditioning, loop


@pytest.fixture
def probe(load_script, monkeypatch):
    module = load_script("attribute_guidance_probe")
    monkeypatch.setattr(conditioning, "text_conditions", module._text_conditions_with_class_only)
    monkeypatch.setattr(loop, "_forward", module._forward_with_attribute_guidance)
    return module


def measured(cli, tmp_path, name):
    result = cli("compare", "-m", "tiny-mnist-text", "-s", "cosine", "-T", "2", "--num", "8", "--seed", "7",
                 "-a", "cosine:guidance=1", "--device", "cpu", "--json", "--out", str(tmp_path / name))
    assert result.code == 0, result.err
    return json.loads(result.out)["results"][0]


def test_share_zero_is_plain_guidance_and_a_share_changes_the_images(cli, tmp_path, probe, monkeypatch):
    monkeypatch.setattr(probe, "SHARE", 0.0)
    none = measured(cli, tmp_path, "none")
    monkeypatch.setattr(probe, "SHARE", 0.5)
    half = measured(cli, tmp_path, "half")
    monkeypatch.undo()
    plain = measured(cli, tmp_path, "plain")
    assert none["fid"] == plain["fid"]
    assert half["fid"] != plain["fid"]


def test_the_class_only_caption_drops_every_attribute_word(probe):
    seen = []

    class Embedder:
        def embed(self, prompts):
            seen.append(list(prompts))
            return SimpleNamespace(context=torch.zeros(len(prompts), 2, 3), pooled=torch.zeros(len(prompts), 3))

        def null(self):
            return SimpleNamespace(context=torch.zeros(1, 2, 3), pooled=torch.zeros(1, 3))

    captions = ["a thick, slanted, small seven", "an upright eight"]
    made = probe._text_conditions_with_class_only(Embedder(), captions, "cpu")
    assert seen[-1] == ["a seven", "an eight"] and made.class_only.shape == (2, 2, 3)


def test_a_caption_that_names_no_digit_is_one_clear_line(probe):
    class Embedder:
        def embed(self, prompts):
            return SimpleNamespace(context=torch.zeros(len(prompts), 2, 3), pooled=torch.zeros(len(prompts), 3))

        def null(self):
            return SimpleNamespace(context=torch.zeros(1, 2, 3), pooled=torch.zeros(1, 3))

    with pytest.raises(SystemExit, match="names none"):
        probe._text_conditions_with_class_only(Embedder(), ["a thick, slanted shape"], "cpu")
