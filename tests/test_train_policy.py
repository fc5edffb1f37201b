"""``adanat train-policy``: PPO runs end to end, exports a usable policy, resumes exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from .conftest import free_port
from .fakes import class_folders as _class_folders


def _tensors(path):
    return {k: v.clone() for k, v in load_file(str(path)).items()}


def test_training_exports_a_policy_that_samples(cli, training_setup, tmp_path, toy_bundle):
    run = tmp_path / "run"
    result = cli("train-policy", *training_setup, "-u", "2", "--eval-every", "1", "-o", str(run))
    assert result.code == 0, result.err
    log = [json.loads(line) for line in (run / "train.jsonl").read_text().splitlines()]
    assert [entry["update"] for entry in log] == [1, 2]
    assert all("reward_mean" in e and "d_acc" in e and "eval_fid" in e for e in log)
    for name in ("policy.safetensors", "policy.json", "best.safetensors", "checkpoint.pt", "settings.json"):
        assert (run / name).is_file(), name
    meta = json.loads((run / "policy.json").read_text())
    assert meta["steps"] == 3 and meta["grid"] == [4, 4] and meta["training"]["updates"] == 2
    assert torch.any(_tensors(run / "policy.safetensors")["linear3.weight"] != 0)  # it learned something
    out = tmp_path / "samples"
    sampled = cli("sample", "-m", str(toy_bundle), "-s", "adanat", "-T", "3", "-a", f"policy={run / 'policy.safetensors'}",
                  "-c", "0,1", "-n", "2", "-o", str(out), "--trace")
    assert sampled.code == 0, sampled.err
    manifest = json.loads((out / "samples.json").read_text())
    assert len(manifest["images"][0]["trace"]["mask_ratio"]) == 3
    assert manifest["nfe_per_image"] == 6  # a learned policy always runs the uncond pass
    wrong_t = cli("sample", "-m", str(toy_bundle), "-s", "adanat", "-T", "4", "-a", f"policy={run / 'policy.safetensors'}",
                  "-c", "0", "-o", str(tmp_path / "x"))
    assert wrong_t.code != 0 and "trained for T=3" in wrong_t.err

    assert cli("ship", str(toy_bundle), str(run / "best.safetensors")).code == 0
    shipped = cli("sample", "-m", str(toy_bundle), "-s", "adanat", "-T", "3", "-c", "0", "-n", "1", "-o", str(tmp_path / "y"))
    assert shipped.code == 0, shipped.err
    assert (toy_bundle / "policies" / "adanat-T3.json").is_file()
    # shipping from a run folder records the run's settings as the model's recipe, stopped at the
    # update whose weights were shipped; `train-policy` then starts from it
    from adanat_cli.schedulers.adanat_files import load_policy

    recipe = json.loads((toy_bundle / "config.json").read_text())["training_recipes"]["3"]
    best_update = load_policy(run / "best.safetensors")[1]["training"]["updates"]
    settings = json.loads((run / "settings.json").read_text())
    assert settings.pop("model") == json.loads((run / "policy.json").read_text())["model"]  # not a setting
    assert recipe == {**settings, "updates": best_update}


def test_resumed_training_equals_an_uninterrupted_run(cli, training_setup, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert cli("train-policy", *training_setup, "-u", "3", "--eval-every", "0", "--checkpoint-every", "1", "-o", str(whole)).code == 0
    assert cli("train-policy", *training_setup, "-u", "2", "--eval-every", "0", "--checkpoint-every", "1", "-o", str(split)).code == 0
    # a crash after update 2's checkpoint may have logged a later update: resume must drop it
    # and a kill in the middle of a log write leaves a torn last line: dropped, with a notice
    with open(split / "train.jsonl", "a") as log:
        log.write(json.dumps({"update": 3, "reward_mean": 0.0}) + "\n" + '{"update": 4, "rew')
    refused = cli("train-policy", *training_setup, "-u", "3", "-o", str(split))
    assert refused.code != 0 and "--resume" in refused.err
    resumed = cli("train-policy", *training_setup, "-u", "3", "--eval-every", "0", "--checkpoint-every", "1",
                  "-o", str(split), "--resume")
    assert resumed.code == 0, resumed.err
    assert "dropped 1 half-written line(s)" in resumed.err
    a, b = _tensors(whole / "policy.safetensors"), _tensors(split / "policy.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(line) for line in (split / "train.jsonl").read_text().splitlines()]
    assert [entry["update"] for entry in log] == [1, 2, 3]


def test_a_checkpoint_with_flipped_bytes_is_refused_on_resume(cli, training_setup, tmp_path):
    run = tmp_path / "run"
    assert cli("train-policy", *training_setup, "-u", "1", "--eval-every", "0", "-o", str(run)).code == 0
    data = bytearray((run / "checkpoint.pt").read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4096] = bytes(b ^ 0xFF for b in data[middle:middle + 4096])
    (run / "checkpoint.pt").write_bytes(bytes(data))
    result = cli("train-policy", *training_setup, "-u", "2", "-o", str(run), "--resume")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
    assert "cannot resume" in result.err and "--overwrite" in result.err


@pytest.mark.parametrize("extra", [["--static"], ["--reward", "fid", "--reward-arg", "reward_batch=4"], ["--no-residual"]])
def test_ablation_variants_train(cli, training_setup, tmp_path, extra):
    args = list(training_setup)
    if "--reward" in extra:  # the fid reward takes no discriminator options
        i = args.index("--reward-arg")
        del args[i : i + 2]
    run = tmp_path / "run"
    result = cli("train-policy", *args, *extra, "-u", "1", "--eval-every", "0", "-o", str(run))
    assert result.code == 0, result.err
    meta = json.loads((run / "policy.json").read_text())
    assert meta["training"]["static"] == ("--static" in extra)
    assert meta["residual"] == ("--no-residual" not in extra)


def test_a_run_can_start_from_another_runs_policy(cli, training_setup, tmp_path):
    first, tuned = tmp_path / "first", tmp_path / "tuned"
    assert cli("train-policy", *training_setup, "-u", "1", "--eval-every", "0", "-o", str(first)).code == 0
    start = first / "policy.safetensors"
    # a learning rate too small to move the weights: the exported policy is the one it started from
    result = cli("train-policy", *training_setup, "-u", "1", "--eval-every", "0", "--checkpoint-every", "1",
                 "--lr", "1e-12", "--init-policy", str(start), "-o", str(tuned))
    assert result.code == 0, result.err
    for key, value in _tensors(start).items():
        torch.testing.assert_close(_tensors(tuned / "policy.safetensors")[key], value, rtol=0, atol=1e-8)
    assert json.loads((tuned / "settings.json").read_text())["init_policy"] == str(start)
    fresh = tmp_path / "fresh"  # the same run without --init-policy starts from its own seed's weights
    assert cli("train-policy", *training_setup, "-u", "1", "--eval-every", "0", "--lr", "1e-12", "-o", str(fresh)).code == 0
    assert not torch.equal(_tensors(fresh / "policy.safetensors")["linear1.weight"], _tensors(start)["linear1.weight"])
    # resuming reads the checkpoint, not the starting file, which may be gone by then
    start.unlink()
    resumed = cli("train-policy", *training_setup, "-u", "2", "--eval-every", "0", "--resume", "-o", str(tuned))
    assert resumed.code == 0, resumed.err


@pytest.mark.parametrize("args, message", [
    (["-r", "nope"], "unknown reward 'nope'"),
    (["-u", "0"], "--updates must be at least 1"),
    (["-T", "1"], "--steps must be between 2"),
    (["--reward-arg", "bogus=1"], "bad --reward-arg"),
    (["--reward-arg", "class_weight=0.1"], "class_weight needs a classifier"),
    (["--reward-arg", "class_weight=-1"], "class_weight must be a finite number ≥ 0"),
    (["--reward-arg", "class_weight=abc"], "class_weight must be a finite number ≥ 0, not 'abc'"),
    (["--reward-arg", "caption_weight=0.2"], "caption_weight needs a text-conditioned model"),
    (["--data", "/no/such"], "does not exist"),
    (["--init-policy", "/no/such.safetensors"], "policy file /no/such.safetensors does not exist"),
    (["--lr", "inf"], "must be positive finite numbers"),
    (["--lr", "nan"], "must be positive finite numbers"),
    (["--seed", "-1"], "--seed must be ≥ 0"),
    (["--std-decay", "-0.5"], "--std-decay must be a finite number"),
])
def test_bad_input(cli, training_setup, tmp_path, args, message):
    result = cli("train-policy", *training_setup, *args, "-o", str(tmp_path / "run"))
    assert result.code != 0 and message in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1


def test_a_starting_policy_of_another_size_or_t_is_one_line(cli, training_setup, tmp_path):
    first = tmp_path / "first"
    assert cli("train-policy", *training_setup, "-u", "1", "--eval-every", "0", "-o", str(first)).code == 0
    start = str(first / "policy.safetensors")
    wider = [a if a != "hidden=16" else "hidden=32" for a in training_setup]
    for args, message in ((wider, "has the network"), ([*training_setup, "-T", "4"], "was trained for T=3")):
        result = cli("train-policy", *args, "--init-policy", start, "-o", str(tmp_path / "x"))
        assert result.code != 0 and message in result.err, result.err
        assert len(result.err.strip().splitlines()) == 1 and not (tmp_path / "x").exists()


def test_classes_must_match_the_model(cli, training_setup, tmp_path):
    wrong = _class_folders(tmp_path / "five", 5, 2, 8)
    result = cli("train-policy", *training_setup, "--data", str(wrong), "-o", str(tmp_path / "run"))
    assert result.code != 0 and "have 5 classes; the model has 3" in result.err


def test_two_processes_train_for_two_updates(tmp_path):
    from tests.random_bundle import make_random_bundle

    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    if not os.path.exists(torchrun):
        pytest.skip("torchrun not installed")
    bundle = make_random_bundle(tmp_path / "bundle")
    real = _class_folders(tmp_path / "real", 10, 2, 16)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = tmp_path / "run"
    proc = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "--master_port", str(free_port()), "-m", "adanat_cli", "train-policy",
         "-m", str(bundle), "-T", "2", "-u", "2", "--trajectories", "8", "-b", "2", "--lr", "1e-3",
         "--data", str(real), "--eval-every", "0", "--device", "cpu", "--network-arg", "hidden=16",
         "--network-arg", "pointwise=4", "--network-arg", "fc1=16", "--network-arg", "fc2=8", "-o", str(run)],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = [json.loads(line) for line in (run / "train.jsonl").read_text().splitlines()]
    assert [entry["update"] for entry in log] == [1, 2]  # written once, by the main process
    assert torch.any(_tensors(run / "policy.safetensors")["linear3.weight"] != 0)
