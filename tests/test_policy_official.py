"""Importing the official AdaNAT policy checkpoint: weights-only, Namespace allowed, code refused."""

from __future__ import annotations

import argparse
import json
import os

import pytest
import torch

from adanat_cli.errors import ConversionError
from adanat_cli.models.converters.policy import policy_from_official
from adanat_cli.models.ship import add_official_policy
from adanat_cli.schedulers.adanat_network import PolicyNet

from .golden import golden_file

ACTOR = "adanat_policy_actor(PolicyNet in=768,out=4,hidden=512)"


def _official_file(path, actor_state: dict, critic_state: dict, steps=8, heu=1):
    model = {}
    for prefix in ("policy.", "policy_old."):
        model.update({f"{prefix}actor.{k}": v for k, v in actor_state.items()})
        model.update({f"{prefix}critic.{k}": v for k, v in critic_state.items()})
    checkpoint = {"model": model, "discriminator": {"w": torch.zeros(2)}, "optimizer": {"state": {}, "param_groups": []},
                  "args": argparse.Namespace(gen_steps=steps, heu=heu, lr=1e-5, upd_set=["a", "b"]), "global_step": 7}
    torch.save(checkpoint, path)
    return path


def test_full_size_official_actor_loads_from_the_manifest_layout(tmp_path):
    shapes = json.loads(golden_file("checkpoint_manifests.json").read_text())[ACTOR]
    generator = torch.Generator().manual_seed(0)
    state = {k: torch.randn(v, generator=generator) * 0.02 for k, v in shapes.items()}
    file = _official_file(tmp_path / "ckpt.pth", state, {"linear3.weight": torch.zeros(1, 512)})
    actor, meta = policy_from_official(file)
    assert meta == {**meta, "feature_dim": 768, "grid": [16, 16], "steps": 8, "residual": True}
    reference = PolicyNet(768, (16, 16), out_dim=4, hidden=512)
    reference.load_state_dict(state)
    features, step = torch.randn(2, 256, 768), torch.tensor([0, 5])
    assert torch.equal(actor(features, step), reference(features, step))


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    exploit = _Exploit()
    exploit.marker = marker
    file = tmp_path / "evil.pth"
    torch.save({"model": {}, "args": exploit}, file)
    with pytest.raises(ConversionError, match="refused"):
        policy_from_official(file)
    assert not marker.exists()


def test_missing_or_wrong_actor_keys_are_named(tmp_path):
    small = PolicyNet(32, (4, 4), hidden=16, pointwise=4, fc1=16, fc2=8).state_dict()
    del small["adaLN2.adaLN_modulation.1.bias"]
    with pytest.raises(ConversionError, match="adaLN2.adaLN_modulation.1.bias"):
        policy_from_official(_official_file(tmp_path / "a.pth", small, {}))
    with pytest.raises(ConversionError, match="no actor weights"):
        torch.save({"model": {"x": torch.zeros(1)}}, tmp_path / "b.pth")
        policy_from_official(tmp_path / "b.pth")


def test_imported_policy_becomes_the_bundles_default_for_its_steps(cli, tmp_path):
    from tests.random_bundle import make_random_bundle

    bundle = make_random_bundle(tmp_path / "bundle")  # U-ViT with 32-d features on a 4x4 grid
    torch.manual_seed(1)
    actor = PolicyNet(32, (4, 4), hidden=16, pointwise=4, fc1=16, fc2=8)
    torch.nn.init.normal_(actor.linear3.weight, std=0.3)
    add_official_policy(bundle, _official_file(tmp_path / "p.pth", actor.state_dict(), {}, steps=3, heu=1))
    out = tmp_path / "s"
    result = cli("sample", "-m", str(bundle), "-s", "adanat", "-T", "3", "-c", "1", "-n", "2", "-o", str(out), "--trace")
    assert result.code == 0, result.err
    manifest = json.loads((out / "samples.json").read_text())
    assert manifest["scheduler"]["config"]["policy"].endswith("policies/adanat-T3.safetensors")
    other = cli("sample", "-m", str(bundle), "-s", "adanat", "-T", "4", "-c", "1", "-o", str(tmp_path / "o"))
    assert other.code != 0 and "needs a trained policy" in other.err
    wrong = PolicyNet(48, (4, 4), hidden=16, pointwise=4, fc1=16, fc2=8)
    with pytest.raises(ConversionError, match="48-d features"):
        add_official_policy(bundle, _official_file(tmp_path / "w.pth", wrong.state_dict(), {}))


def test_recommending_a_policy_replaces_the_old_recommendations_settings(cli, tmp_path):
    from tests.random_bundle import make_random_bundle

    bundle = make_random_bundle(tmp_path / "bundle")
    config = json.loads((bundle / "config.json").read_text())
    config["recommended"] = {"scheduler": "cosine", "steps": 4, "scheduler_config": {"guidance": 1.0, "sample_temp": 1.0}}
    (bundle / "config.json").write_text(json.dumps(config))
    actor = PolicyNet(32, (4, 4), hidden=16, pointwise=4, fc1=16, fc2=8)
    add_official_policy(bundle, _official_file(tmp_path / "p.pth", actor.state_dict(), {}, steps=3, heu=1))
    assert json.loads((bundle / "config.json").read_text())["recommended"] == {
        "scheduler": "adanat", "steps": 3, "scheduler_config": {}}
    result = cli("sample", "-m", str(bundle), "-c", "1", "-n", "1", "-o", str(tmp_path / "s"))  # the recommendation
    assert result.code == 0, result.err


def test_recommend_is_refused_for_a_schedule(cli, tmp_path):
    from tests.random_bundle import make_random_bundle

    bundle = make_random_bundle(tmp_path / "bundle")
    result = cli("ship", str(bundle), str(tmp_path / "s.json"), "--recommend")
    assert result.code == 2 and "policies only" in result.err
