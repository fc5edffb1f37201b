"""`adanat train-policy` with no options: the model's recipe, a fresh run folder, the next commands."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from adanat_cli.models.resolve import load_model
from adanat_cli.training.ppo import TrainSettings
from adanat_cli.training.recipes import default_steps, recipe_for, resolve_settings

pytestmark = pytest.mark.usefixtures("one_thread")


def test_tiny_mnist_records_the_recipe_of_each_shipped_policy():
    bundle = load_model("tiny-mnist")
    assert default_steps(bundle.config, bundle.recommended.get("steps")) == 8
    for steps in (2, 4, 8):
        recipe = recipe_for(bundle.config, steps)
        shipped = json.loads((bundle.path / "policies" / f"adanat-T{steps}.json").read_text())
        # the recipe stops at the update whose weights were shipped
        assert recipe["steps"] == steps and recipe["updates"] == shipped["training"]["updates"]
        assert recipe["trajectories"] == shipped["training"]["trajectories_per_update"]
        assert recipe["lr"] == shipped["training"]["lr"]


def test_layers_paper_then_recipe_then_resumed_run_then_options():
    paper, source = resolve_settings(8, None, None, {})
    assert asdict(paper) == asdict(TrainSettings()) and source == "the paper's settings"
    recipe = {"trajectories": 256, "lr": 3e-4, "updates": 60}
    merged, source = resolve_settings(8, recipe, {"updates": 70}, {"updates": None, "lr": 1e-3})
    assert (merged.trajectories, merged.updates, merged.lr) == (256, 70, 1e-3)
    assert source == "the resumed run's settings"


def test_a_recipe_from_a_fine_tuning_run_does_not_make_new_runs_start_from_its_file():
    recipe = {"trajectories": 256, "init_policy": "runs/elsewhere/best.safetensors"}
    fresh, _ = resolve_settings(8, recipe, None, {})
    assert fresh.trajectories == 256 and fresh.init_policy is None
    resumed, _ = resolve_settings(8, recipe, {"init_policy": "runs/a/best.safetensors"}, {})
    assert resumed.init_policy == "runs/a/best.safetensors"  # a run's own settings keep it
    given, _ = resolve_settings(8, recipe, None, {"init_policy": "p.safetensors"})
    assert given.init_policy == "p.safetensors"


def test_a_recipe_s_reward_options_stay_with_the_recipe_s_reward():
    recipe = {"reward": "adversarial", "reward_options": {"class_weight": 0.4}}
    kept, _ = resolve_settings(4, recipe, None, {"reward": "adversarial"})
    assert kept.reward_options == {"class_weight": 0.4}
    other, _ = resolve_settings(4, recipe, None, {"reward": "fid"})
    assert other.reward == "fid" and other.reward_options == {}
    given, _ = resolve_settings(4, recipe, None, {"reward": "fid", "reward_options": {"reward_batch": 64}})
    assert given.reward_options == {"reward_batch": 64}


def test_another_reward_on_a_model_whose_recipe_has_reward_options_trains(cli, tmp_path):
    # tiny-mnist's T = 4 recipe trains with class_weight, an option the fid reward does not take
    result = cli("train-policy", "--steps", "4", "--reward", "fid", "-u", "1", "--trajectories", "8",
                 "--batch-size", "8", "--eval-every", "0", "--device", "cpu", "-o", str(tmp_path / "fid"))
    assert result.code == 0, result.err
    assert json.loads((tmp_path / "fid" / "settings.json").read_text())["reward_options"] == {}


def test_no_options_trains_the_default_model_into_a_fresh_run_folder(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ADANAT_MODEL", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    quick = ["--updates", "1", "--trajectories", "4", "--batch-size", "4", "--eval-every", "0", "--device", "cpu"]
    first = cli("train-policy", *quick)
    assert first.code == 0, first.err
    run = tmp_path / "runs" / "tiny-mnist-T8-1"
    settings = json.loads((run / "settings.json").read_text())
    recipe = recipe_for(load_model("tiny-mnist").config, 8)
    overridden = {"updates": 1, "trajectories": 4, "batch_size": 4, "eval_every": 0}
    # the recipe predates --precision/--compile: the paper's defaults apply, auto made concrete (fp32 on a CPU)
    assert settings == {**recipe, **overridden, "precision": "fp32", "compile": False, "model": "tiny-mnist"}
    assert "defaults: the model's recipe" in first.err
    assert "adanat sample -m tiny-mnist --scheduler adanat --steps 8 --scheduler-arg policy=runs/tiny-mnist-T8-1/" in first.err
    assert "adanat compare -m tiny-mnist --schedulers cosine,adanat --steps 8 -a adanat:policy=" in first.err

    second = cli("train-policy", *quick)
    assert second.code == 0 and (tmp_path / "runs" / "tiny-mnist-T8-2" / "policy.safetensors").is_file()
    assert (run / "policy.safetensors").is_file()  # the first run is untouched

    resumed = cli("train-policy", "--resume", "--updates", "2", "--device", "cpu")
    assert resumed.code == 0, resumed.err
    log = (tmp_path / "runs" / "tiny-mnist-T8-2" / "train.jsonl").read_text().splitlines()
    assert [json.loads(line)["update"] for line in log] == [1, 2]
    assert json.loads((tmp_path / "runs" / "tiny-mnist-T8-2" / "settings.json").read_text())["trajectories"] == 4

    named = tmp_path / "named"
    assert cli("train-policy", *quick, "--steps", "4", "--out", str(named)).code == 0
    continued = cli("train-policy", "--resume", "--out", str(named), "--updates", "2", "--device", "cpu")
    assert continued.code == 0, continued.err  # its T (4) comes from the run, not the model's default (8)
    assert "training a T=4 policy" in continued.err

    nothing = cli("train-policy", "--resume", "--steps", "4")
    assert nothing.code != 0 and "nothing to resume" in nothing.err and len(nothing.err.strip().splitlines()) == 1


def test_a_named_run_resumes_on_the_model_it_trained_for(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ADANAT_MODEL", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    quick = ["--updates", "1", "--trajectories", "4", "--batch-size", "4", "--eval-every", "0", "--device", "cpu"]
    run = tmp_path / "enat-run"
    assert cli("train-policy", "-m", "tiny-mnist-enat", *quick, "--out", str(run)).code == 0
    resumed = cli("train-policy", "--resume", "--out", str(run), "--updates", "2", "--device", "cpu")
    assert resumed.code == 0, resumed.err  # not the default model (tiny-mnist), whose features differ
    assert "for tiny-mnist-enat" in resumed.err
    assert json.loads((run / "policy.json").read_text())["training"]["updates"] == 2

    # an interrupted run has exported nothing yet: its settings.json names the model
    assert json.loads((run / "settings.json").read_text())["model"] == "tiny-mnist-enat"
    for exported in ("policy.json", "policy.safetensors", "best.json", "best.safetensors"):
        (run / exported).unlink(missing_ok=True)
    interrupted = cli("train-policy", "--resume", "--out", str(run), "--updates", "3", "--device", "cpu")
    assert interrupted.code == 0, interrupted.err
    assert "for tiny-mnist-enat" in interrupted.err

    # naming another model than the one the checkpoint trained for: one line, not a confusing mismatch later
    wrong = cli("train-policy", "--resume", "--out", str(run), "-m", "tiny-mnist", "--updates", "4", "--device", "cpu")
    assert wrong.code == 2 and len(wrong.err.strip().splitlines()) == 1, wrong.err
    assert "trained a policy for model 'tiny-mnist-enat', not 'tiny-mnist'" in wrong.err

    policy = json.loads((run / "policy.json").read_text())
    settings = json.loads((run / "settings.json").read_text())
    (run / "settings.json").write_text(json.dumps({**settings, "model": "gone-model"}))
    (run / "policy.json").write_text(json.dumps({**policy, "model": "gone-model"}))
    refused = cli("train-policy", "--resume", "--out", str(run), "--updates", "3", "--device", "cpu")
    assert refused.code == 2 and len(refused.err.strip().splitlines()) == 1, refused.err
    assert "'gone-model', which is not installed here: pass --model" in refused.err
