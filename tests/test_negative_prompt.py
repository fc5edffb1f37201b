"""Guidance against a negative prompt, or a share of it (``schedulers.guidance_target``)."""

from __future__ import annotations

import json

import pytest
import torch

from adanat_cli.engine import loop
from adanat_cli.engine.conditioning import (
    Conditions,
    conditions_for,
    negative_prompts_for,
    text_conditions,
)
from adanat_cli.engine.flops import generation_flops
from adanat_cli.engine.sampling import generate_images
from adanat_cli.errors import UsageError
from adanat_cli.models.bundle import load_bundle
from adanat_cli.models.resolve import load_model
from adanat_cli.schedulers.maskgit import CosineScheduler

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def text_bundle(quick_text_bundle):
    return load_bundle(quick_text_bundle)


PROMPTS = ["a thick, slanted seven", "a thin upright three", "a small two"]


def test_subject_is_each_prompt_without_its_attribute_words(text_bundle):
    negatives = negative_prompts_for(text_bundle, [*PROMPTS, "a thick digit"], "@subject")
    assert negatives == ["a seven", "a three", "a two", ""]  # no digit named: the empty prompt
    assert negative_prompts_for(text_bundle, PROMPTS, "blurry") == ["blurry"] * 3


def test_uncond_parts_follow_the_share():
    null, negative = torch.zeros(2, 3, 4), torch.ones(2, 3, 4)
    plain = Conditions(torch.rand(2, 3, 4), null)
    assert [w for _, w in plain.uncond_parts()] == [1.0] and plain.uncond_parts()[0][0] is null
    full = Conditions(torch.rand(2, 3, 4), null, negative=negative, negative_share=1.0)
    assert full.uncond_parts()[0][0] is negative and len(full.uncond_parts()) == 1
    quarter = Conditions(torch.rand(2, 3, 4), null, negative=negative, negative_share=0.25)
    assert [(p is null, p is negative, w) for p, w in quarter.uncond_parts()] == [(True, False, 0.75), (False, True, 0.25)]


@pytest.mark.parametrize("first", [False, True])
def test_the_unconditional_logits_are_the_weighted_mix_of_the_empty_and_negative_prompts(text_bundle, first):
    backbone = text_bundle.backbone.eval()
    share = 0.3
    conditions = text_conditions(text_bundle.prompts, PROMPTS, "cpu",
                                 negative_prompts_for(text_bundle, PROMPTS, "@subject"), share)
    batch, n = len(PROMPTS), backbone.num_tokens
    tokens = torch.full((batch, n), backbone.mask_id)
    if not first:
        tokens[:, ::3] = torch.randint(0, 50, tokens[:, ::3].shape, generator=torch.Generator().manual_seed(1))
    rows = (tokens == backbone.mask_id).flatten().nonzero().squeeze(1)
    network = loop._Network(backbone, backbone)
    with torch.inference_mode():
        cond, branches = loop._forward(network, tokens, conditions, True, None, rows, first=first)
        uncond = loop._mixed(branches, [w for _, w in conditions.uncond_parts()])
        def alone(context):
            return backbone(tokens, context).logits.reshape(batch * n, -1)[rows].float()
        expected = (1 - share) * alone(conditions.null) + share * alone(conditions.negative)
        torch.testing.assert_close(cond.logits.float(), alone(conditions.cond), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(uncond, expected, atol=1e-4, rtol=1e-4)
    plain = Conditions(conditions.cond, conditions.null)
    with torch.inference_mode():
        _, plain_branches = loop._forward(network, tokens, plain, True, None, rows, first=first)
    assert len(plain_branches) == 1
    assert not torch.allclose(plain_branches[0].logits.float(), uncond, atol=1e-3)


def test_a_share_costs_one_more_forward_per_guided_step_and_the_flops_count_it(text_bundle):
    plain = generate_images(text_bundle, CosineScheduler(guidance=1.0), PROMPTS, 4, count_flops=True)
    mixed = generate_images(text_bundle, CosineScheduler(guidance=1.0, negative_prompt="@subject", negative_share=0.5),
                            PROMPTS, 4, count_flops=True)
    whole = generate_images(text_bundle, CosineScheduler(guidance=1.0, negative_prompt="@subject"),
                            PROMPTS, 4, count_flops=True)
    assert (plain.nfe, mixed.nfe, whole.nfe) == (8, 12, 8)
    assert torch.equal(mixed.flops * 2, plain.flops * 3)
    # the step counts generation_flops reads: one pass per unconditional branch
    masks = [torch.ones(2, text_bundle.backbone.num_tokens, dtype=torch.bool)] * 2
    two = generation_flops(text_bundle.backbone, masks, [2, 0])["total"]
    one = generation_flops(text_bundle.backbone, masks, [1, 0])["total"]
    none = generation_flops(text_bundle.backbone, masks, [0, 0])["total"]
    assert torch.equal(two - one, one - none)


def test_on_the_bundled_model_a_share_changes_the_images():
    bundle = load_model("tiny-mnist-text")
    prompts = PROMPTS * 2
    plain, mixed, whole = (generate_images(bundle, CosineScheduler(guidance=1.0, **negative), prompts, 4, seed=1).tokens
                           for negative in ({}, {"negative_prompt": "@subject", "negative_share": 0.5},
                                            {"negative_prompt": "@subject"}))
    assert not torch.equal(mixed, plain) and not torch.equal(whole, mixed) and not torch.equal(whole, plain)


def test_a_share_of_zero_or_an_empty_negative_prompt_is_plain_guidance(text_bundle):
    plain = generate_images(text_bundle, CosineScheduler(guidance=1.0), PROMPTS, 4, seed=3)
    for scheduler in (CosineScheduler(guidance=1.0, negative_prompt="@subject", negative_share=0.0),
                      CosineScheduler(guidance=1.0, negative_prompt="", negative_share=0.5)):
        again = generate_images(text_bundle, scheduler, PROMPTS, 4, seed=3)
        assert torch.equal(again.tokens, plain.tokens) and again.nfe == plain.nfe


def test_a_prompt_keeps_its_image_whatever_else_is_in_its_batch(text_bundle):
    scheduler = CosineScheduler(guidance=1.5, negative_prompt="@subject", negative_share=0.4)
    together = generate_images(text_bundle, scheduler, PROMPTS, 4, seed=5, batch_size=3)
    alone = generate_images(text_bundle, scheduler, PROMPTS[1:2], 4, seed=5, batch_size=1, indices=[1])
    assert torch.equal(together.tokens[1], alone.tokens[0])


@pytest.mark.parametrize("share", ["-0.1", "1.5", "nan", "\"x\""])
def test_a_share_outside_zero_one_is_refused(share):
    with pytest.raises(UsageError, match="negative_share"):
        CosineScheduler(negative_share=json.loads(share) if share != "nan" else float("nan"))


def test_a_class_conditional_model_refuses_a_negative_prompt(toy_bundle):
    bundle = load_bundle(toy_bundle)
    with pytest.raises(UsageError, match="class-conditional"):
        conditions_for(bundle, [0, 1], "cpu", "a blurry digit", 1.0)


def test_the_subject_rule_needs_a_caption_grammar(text_bundle, monkeypatch):
    monkeypatch.delitem(text_bundle.config, "caption_attributes")
    with pytest.raises(UsageError, match="grammar"):
        negative_prompts_for(text_bundle, PROMPTS, "@subject")


def test_sample_takes_a_negative_prompt_and_records_it(cli, tmp_path, quick_text_bundle):
    out = tmp_path / "neg"
    result = cli("sample", "-m", str(quick_text_bundle), "-p", "a thick seven", "-n", "2", "-T", "2", "--device", "cpu",
                 "--negative-prompt", "a seven", "-a", "negative_share=0.5", "-a", "guidance=1", "-o", str(out))
    assert result.code == 0, result.err
    config = json.loads((out / "samples.json").read_text())["scheduler"]["config"]
    assert (config["negative_prompt"], config["negative_share"]) == ("a seven", 0.5)
    twice = cli("sample", "-m", str(quick_text_bundle), "-p", "a seven", "--negative-prompt", "x",
                "-a", "negative_prompt=y", "-o", str(tmp_path / "twice"))
    assert twice.code == 2 and "negative" in twice.err and "Traceback" not in twice.err
    assert not (tmp_path / "twice").exists()


def test_sample_on_a_class_conditional_model_refuses_a_negative_prompt_in_one_line(cli, tmp_path, toy_bundle):
    result = cli("sample", "-m", str(toy_bundle), "-c", "1", "--negative-prompt", "blurry", "-o", str(tmp_path / "o"))
    assert result.code == 2 and "class-conditional" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_a_policy_trained_against_a_negative_prompt_records_it_and_samples_with_it(cli, tmp_path, quick_text_bundle):
    out = tmp_path / "run"
    result = cli("train-policy", "-m", str(quick_text_bundle), "--steps", "2", "--updates", "1", "--trajectories", "4",
                 "--batch-size", "4", "--epochs", "1", "--eval-every", "0", "--device", "cpu",
                 "--network-arg", "hidden=8", "--network-arg", "pointwise=4", "--network-arg", "fc1=8",
                 "--network-arg", "fc2=4", "--reward-arg", "d_batch=4",
                 "--negative-prompt", "@subject", "--negative-share", "0.25", "--out", str(out))
    assert result.code == 0, result.err
    settings = json.loads((out / "settings.json").read_text())
    assert (settings["negative_prompt"], settings["negative_share"]) == ("@subject", 0.25)
    policy = out / "policy.safetensors"
    meta = json.loads(policy.with_suffix(".json").read_text())
    assert meta["guidance_target"] == {"negative_prompt": "@subject", "negative_share": 0.25}
    from adanat_cli.schedulers.adanat import AdaNATScheduler

    trained = AdaNATScheduler(policy=str(policy))
    assert (trained.negative_prompt, trained.negative_share) == ("@subject", 0.25)
    overridden = AdaNATScheduler(policy=str(policy), negative_prompt="", negative_share=1.0)
    assert (overridden.negative_prompt, overridden.negative_share) == ("", 1.0)
    # sampling with it runs the third forward on guided steps: more than two passes a step on average
    sampled = cli("sample", "-m", str(quick_text_bundle), "-s", "adanat", "-T", "2", "-a", f"policy={policy}",
                  "-p", "a thick seven", "-n", "2", "--device", "cpu", "-o", str(tmp_path / "s"))
    assert sampled.code == 0, sampled.err
    manifest = json.loads((tmp_path / "s" / "samples.json").read_text())
    assert manifest["scheduler"]["config"]["negative_prompt"] is None  # resolved from the policy file
    assert manifest["nfe_per_image"] == 6


def test_train_policy_refuses_a_negative_prompt_on_a_class_conditional_model(cli, tmp_path, toy_bundle):
    result = cli("train-policy", "-m", str(toy_bundle), "--steps", "2", "--negative-prompt", "x",
                 "--device", "cpu", "--out", str(tmp_path / "run"))
    assert result.code == 2 and "class-conditional" in result.err
    assert not (tmp_path / "run").exists()
