"""scripts/average_policies.py: weight averages of policies that share a starting point."""

from __future__ import annotations

import pytest
import torch

from adanat_cli.schedulers.adanat_files import load_policy, save_policy
from adanat_cli.schedulers.adanat_network import PolicyNet

NETWORK = {"feature_dim": 16, "grid": [3, 3], "out_dim": 4, "hidden": 16, "pointwise": 4, "fc1": 16, "fc2": 8}
META = {"feature_dim": 16, "grid": [3, 3], "steps": 4, "residual": True, "model": "tiny-mnist-text"}


@pytest.fixture
def soup(load_script):
    return load_script("average_policies")


def write(tmp_path, name, seed, prompt_dim=0, **meta):
    torch.manual_seed(seed)
    actor = PolicyNet(**NETWORK, prompt_dim=prompt_dim)
    with torch.no_grad():
        for p in actor.parameters():
            p.normal_()
    return save_policy(tmp_path / f"{name}.safetensors", actor, {**META, **meta}), actor


def test_the_average_is_the_mean_of_the_weights_and_a_missing_prompt_projection_counts_as_zero(soup, tmp_path):
    plain_path, plain = write(tmp_path, "plain", 0)
    aware_path, aware = write(tmp_path, "aware", 1, prompt_dim=5)
    out = tmp_path / "soup.safetensors"
    assert soup.main([str(out), str(plain_path), str(aware_path), "--note", "two fine-tunes"]) == 0
    averaged, meta = load_policy(out)
    assert meta["network"]["prompt_dim"] == 5 and meta["steps"] == 4
    assert meta["training"] == {"average_of": [str(plain_path), str(aware_path)], "note": "two fine-tunes"}
    weights = averaged.state_dict()
    assert torch.allclose(weights["linear3.weight"], (plain.linear3.weight + aware.linear3.weight) / 2)
    assert torch.allclose(weights["prompt_embedder.weight"], aware.prompt_embedder.weight / 2)

    # the average runs as a policy that reads the prompt
    features, step = torch.randn(2, 9, 16), torch.tensor([0, 3])
    assert averaged(features, step, torch.randn(2, 5)).shape == (2, 4)


def test_policies_for_other_models_or_networks_are_refused_in_one_line(soup, tmp_path, capsys):
    a, _ = write(tmp_path, "a", 0)
    b, _ = write(tmp_path, "b", 1, steps=8)
    assert soup.main([str(tmp_path / "x.safetensors"), str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "steps=8" in err
    assert not (tmp_path / "x.safetensors").exists()


def test_an_existing_output_is_never_replaced(soup, tmp_path, capsys):
    a, _ = write(tmp_path, "a", 0)
    b, _ = write(tmp_path, "b", 1)
    before = a.read_bytes()
    assert soup.main([str(a), str(a), str(b)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert a.read_bytes() == before
