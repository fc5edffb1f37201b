"""A fixed push away from the negative prompt on top of the guidance (``negative_guidance``)."""

from __future__ import annotations

import json

import pytest
import torch

from adanat_cli.engine import loop
from adanat_cli.engine.conditioning import Conditions
from adanat_cli.engine.sampling import generate_images
from adanat_cli.errors import UsageError
from adanat_cli.models.bundle import load_bundle
from adanat_cli.schedulers.maskgit import CosineScheduler

pytestmark = pytest.mark.usefixtures("one_thread")

PROMPTS = ["a thick, slanted seven", "a thin upright three", "a small two"]


@pytest.fixture(scope="module")
def text_bundle(quick_text_bundle):
    return load_bundle(quick_text_bundle)


def guided_logits(bundle, scheduler, monkeypatch) -> list[torch.Tensor]:
    """The logits each step samples from, recorded on their way into ``_step``."""
    seen, step = [], loop._step

    def recording(tokens, mask, logits, *args, **kwargs):
        seen.append(logits.clone())
        return step(tokens, mask, logits, *args, **kwargs)

    monkeypatch.setattr(loop, "_step", recording)
    generate_images(bundle, scheduler, PROMPTS, 3, seed=2)
    monkeypatch.undo()
    return seen


@pytest.mark.parametrize("share", [0.0, 0.3, 1.0])
def test_the_push_adds_g_times_cond_minus_negative_to_the_guided_logits(text_bundle, monkeypatch, share):
    # For a constant guidance w the push g equals guidance w + g with the share (w s + g) / (w + g).
    w, g = 0.8, 0.6
    pushed = guided_logits(text_bundle, CosineScheduler(guidance=w, negative_prompt="@subject", negative_share=share,
                                                        negative_guidance=g), monkeypatch)
    same = guided_logits(text_bundle, CosineScheduler(guidance=w + g, negative_prompt="@subject",
                                                      negative_share=(w * share + g) / (w + g)), monkeypatch)
    plain = guided_logits(text_bundle, CosineScheduler(guidance=w, negative_prompt="@subject", negative_share=share),
                          monkeypatch)
    assert len(pushed) == len(same) == 3
    torch.testing.assert_close(pushed[0], same[0], atol=1e-4, rtol=1e-4)  # the first step: the same input grids
    assert not torch.allclose(pushed[0], plain[0], atol=1e-3)


def test_without_a_push_nothing_changes(text_bundle):
    plain = generate_images(text_bundle, CosineScheduler(guidance=1.0, negative_prompt="@subject", negative_share=0.5),
                            PROMPTS, 4, seed=3)
    zero = generate_images(text_bundle, CosineScheduler(guidance=1.0, negative_prompt="@subject", negative_share=0.5,
                                                        negative_guidance=0.0), PROMPTS, 4, seed=3)
    assert torch.equal(zero.tokens, plain.tokens) and zero.nfe == plain.nfe


def test_the_push_runs_the_negative_branch_even_without_guidance_or_share(text_bundle):
    def nfe(**settings):
        return generate_images(text_bundle, CosineScheduler(negative_prompt="@subject", **settings), PROMPTS, 4).nfe

    assert nfe(guidance=1.0, negative_share=0.0, negative_guidance=0.5) == 12  # the empty prompt and the subject
    assert nfe(guidance=1.0, negative_share=1.0, negative_guidance=0.5) == 8  # the subject alone
    assert nfe(guidance=0.0, negative_share=1.0, negative_guidance=0.5) == 8  # the push alone still guides
    assert nfe(guidance=0.0, negative_share=1.0) == 4


def test_the_negative_branch_is_listed_last_even_at_share_zero():
    null, negative = torch.zeros(2, 3, 4), torch.ones(2, 3, 4)
    pushed = Conditions(torch.rand(2, 3, 4), null, negative=negative, negative_share=0.0, negative_guidance=0.5)
    assert [(p is null, p is negative, w) for p, w in pushed.uncond_parts()] == [(True, False, 1.0), (False, True, 0.0)]


@pytest.mark.parametrize(("settings", "message"), [
    ({"negative_guidance": 1.0}, "give negative_prompt too"),
    ({"negative_prompt": "x", "negative_guidance": -1.0}, ">= 0"),
    ({"negative_prompt": "x", "negative_guidance": float("inf")}, ">= 0"),
    ({"negative_prompt": "x", "negative_guidance": "much"}, "a number"),
])
def test_bad_pushes_are_refused(settings, message):
    with pytest.raises(UsageError, match=message):
        CosineScheduler(**settings)


def test_sample_refuses_a_push_without_a_negative_prompt_in_one_line(cli, tmp_path, quick_text_bundle):
    result = cli("sample", "-m", str(quick_text_bundle), "-p", "a seven", "-a", "negative_guidance=1",
                 "-o", str(tmp_path / "o"))
    assert result.code == 2 and "negative_prompt" in result.err
    assert len(result.err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_a_policy_trained_with_a_push_records_it_and_samples_with_it(cli, tmp_path, quick_text_bundle):
    out = tmp_path / "run"
    result = cli("train-policy", "-m", str(quick_text_bundle), "--steps", "2", "--updates", "1", "--trajectories", "4",
                 "--batch-size", "4", "--epochs", "1", "--eval-every", "0", "--device", "cpu",
                 "--network-arg", "hidden=8", "--network-arg", "pointwise=4", "--network-arg", "fc1=8",
                 "--network-arg", "fc2=4", "--reward-arg", "d_batch=4", "--negative-prompt", "@subject",
                 "--negative-share", "0", "--negative-guidance", "0.75", "--out", str(out))
    assert result.code == 0, result.err
    settings = json.loads((out / "settings.json").read_text())
    assert (settings["negative_share"], settings["negative_guidance"]) == (0.0, 0.75)
    policy = out / "policy.safetensors"
    meta = json.loads(policy.with_suffix(".json").read_text())
    assert meta["guidance_target"] == {"negative_prompt": "@subject", "negative_share": 0.0, "negative_guidance": 0.75}
    from adanat_cli.schedulers.adanat import AdaNATScheduler

    assert AdaNATScheduler(policy=str(policy)).negative_guidance == 0.75
    assert AdaNATScheduler(policy=str(policy), negative_guidance=0).negative_guidance == 0.0
    sampled = cli("sample", "-m", str(quick_text_bundle), "-s", "adanat", "-T", "2", "-a", f"policy={policy}",
                  "-p", "a thick seven", "-n", "2", "--device", "cpu", "-o", str(tmp_path / "s"))
    assert sampled.code == 0, sampled.err
    assert json.loads((tmp_path / "s" / "samples.json").read_text())["nfe_per_image"] == 6  # three passes a step


def test_a_push_without_a_negative_prompt_is_refused_before_training(cli, tmp_path, quick_text_bundle):
    result = cli("train-policy", "-m", str(quick_text_bundle), "--steps", "2", "--negative-guidance", "1",
                 "--device", "cpu", "--out", str(tmp_path / "run"))
    assert result.code == 2 and "negative_prompt" in result.err
    assert not (tmp_path / "run").exists()
