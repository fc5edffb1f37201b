"""``tiny-mnist-enat``: the ENAT backbone on tiny-mnist's tokenizer, its reuse training and its build."""

from __future__ import annotations

import json

import pytest
import torch

from adanat_cli.architectures.enat import ENAT
from adanat_cli.builds import tiny_mnist_enat
from adanat_cli.builds.tiny_mnist import mask_tokens
from adanat_cli.metrics import load_classifier
from adanat_cli.models.bundle import load_bundle
from adanat_cli.models.resolve import builtin_models, load_model

pytestmark = pytest.mark.usefixtures("one_thread")


def test_previous_input_hides_more_and_keeps_the_rest():
    gen = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 128, (64, 49), generator=gen)
    inputs, mask = mask_tokens(codes, 128, gen)
    prev = tiny_mnist_enat.previous_input(inputs, mask, 128, gen)
    prev_mask = prev == 128
    assert bool((prev_mask | ~mask).all())  # everything masked now was masked before
    assert torch.equal(prev[~prev_mask], inputs[~prev_mask])
    hidden = prev_mask & ~mask
    assert 0 < int(hidden.sum()) < int((~mask).sum())  # a random share, neither none nor all


def test_reuse_training_steps_update_the_model():
    gen = torch.Generator().manual_seed(1)
    codes = torch.randint(0, 128, (32, 49), generator=gen)
    labels = torch.randint(0, 10, (32,), generator=gen)
    budget = tiny_mnist_enat.Budget(steps=2, batch=8, warmup=1, reuse_share=1.0)
    torch.manual_seed(tiny_mnist_enat.SEED)
    start = ENAT(**tiny_mnist_enat.BACKBONE_CONFIG).state_dict()
    trained, losses = tiny_mnist_enat.train_enat(codes, labels, budget, tiny_mnist_enat.SEED)
    assert losses["final_loss_reuse"] > 0 and losses["final_loss_fresh"] == 0
    changed = [k for k, v in trained.state_dict().items() if not torch.equal(v, start[k])]
    assert any(k.startswith("prev_proj") for k in changed)  # the reuse path is trained
    assert any(k.startswith("decoder") for k in changed)


def test_quick_build_reuses_the_parent_tokenizer(tmp_path):
    out = tmp_path / "enat"
    assert tiny_mnist_enat.main(["--out", str(out), "--quick"]) == 0
    built = load_bundle(out)
    parent = load_model("tiny-mnist")
    assert isinstance(built.backbone, ENAT) and built.backbone.grid == parent.backbone.grid
    for key, value in parent.tokenizer.state_dict().items():
        assert torch.equal(built.tokenizer.state_dict()[key], value)
    config = json.loads((out / "config.json").read_text())
    assert config["recommended"] == json.loads((parent.path / "config.json").read_text())["recommended"]
    assert config["evaluation"] == parent.evaluation
    assert load_classifier(out) is not None
    assert tiny_mnist_enat.main(["--out", str(out), "--quick"]) == 6  # never replaced silently


def test_enat_bundle_ships_in_the_package():
    assert "tiny-mnist-enat" in builtin_models()
    bundle = load_model("tiny-mnist-enat")
    parent = load_model("tiny-mnist")
    assert isinstance(bundle.backbone, ENAT) and bundle.backbone.grid == parent.backbone.grid
    assert bundle.recommended == parent.recommended
    assert "8" in bundle.config["schedules"]["adanat"]  # its own learned policy, not tiny-mnist's
    assert bundle.scheduler_defaults("adanat", 8)["policy"].startswith(str(bundle.path))
    for key, value in parent.tokenizer.state_dict().items():
        assert torch.equal(bundle.tokenizer.state_dict()[key], value)


def test_shipped_enat_policy_drives_sampling_with_reuse(cli, tmp_path):
    out = tmp_path / "s"
    result = cli("sample", "--model", "tiny-mnist-enat", "--scheduler", "adanat", "--steps", "8", "--class", "4",
                 "--num", "2", "--out", str(out), "--trace")
    assert result.code == 0, result.err
    manifest = json.loads((out / "samples.json").read_text())
    assert len(manifest["images"]) == 2 and len(manifest["images"][0]["trace"]["guidance"]) == 8
