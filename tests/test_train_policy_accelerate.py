"""``train-policy`` on ``accelerate``: ``--precision``/``--compile`` are recorded and applied, fp16 on a CPU
is refused in one line, and runs launched with ``accelerate launch`` or ``torchrun`` (2 CPU processes)
agree bit for bit and resume exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from adanat_cli.engine.distributed import mixed_precision
from adanat_cli.errors import UsageError
from adanat_cli.training import ppo

from .conftest import free_port
from .fakes import class_folders as _class_folders
from .test_train_policy import _tensors

pytestmark = pytest.mark.usefixtures("one_thread")

QUICK = ["--eval-every", "0", "--checkpoint-every", "1", "--device", "cpu"]


def _settings(run):
    return json.loads((run / "settings.json").read_text())


def test_bf16_is_recorded_and_applied_to_rollouts_evaluation_and_the_update(cli, training_setup, tmp_path, monkeypatch):
    seen = {"generate": set(), "evaluate": set(), "mixed": []}
    generate, evaluate, make = ppo.generate_images, ppo.evaluate_pair, ppo.make_accelerator

    def spy_generate(*args, **kwargs):
        seen["generate"].add((kwargs["precision"], kwargs["compile"]))
        return generate(*args, **kwargs)

    def spy_evaluate(*args, **kwargs):
        seen["evaluate"].add((kwargs["precision"], kwargs["compile"]))
        return evaluate(*args, **kwargs)

    def spy_make(*args, **kwargs):
        accelerator = make(*args, **kwargs)
        seen["mixed"].append((accelerator.mixed_precision, accelerator.native_amp))
        return accelerator

    monkeypatch.setattr(ppo, "generate_images", spy_generate)
    monkeypatch.setattr(ppo, "evaluate_pair", spy_evaluate)
    monkeypatch.setattr(ppo, "make_accelerator", spy_make)
    run = tmp_path / "run"
    result = cli("train-policy", *training_setup, "-u", "1", "--eval-every", "1", "--device", "cpu",
                 "--precision", "BF16", "-o", str(run))
    assert result.code == 0, result.err
    assert "bf16" in result.err.splitlines()[0]
    assert _settings(run)["precision"] == "bf16" and _settings(run)["compile"] is False
    assert seen == {"generate": {("bf16", False)}, "evaluate": {("bf16", False)}, "mixed": [("bf16", True)]}
    log = json.loads((run / "train.jsonl").read_text())
    assert set(log["phase_seconds"]) == {"rollout", "reward", "ppo", "reward_update", "evaluation"}

    # a resumed run keeps its precision unless told otherwise; auto is recorded as what it meant here
    assert cli("train-policy", *training_setup, "-u", "2", "--device", "cpu", "--resume", "-o", str(run)).code == 0
    assert _settings(run)["precision"] == "bf16" and seen["mixed"][-1] == ("bf16", True)
    again = cli("train-policy", *training_setup, "-u", "3", "--device", "cpu", "--resume", "--precision", "auto",
                "-o", str(run))
    assert again.code == 0, again.err
    assert _settings(run)["precision"] == "fp32" and seen["mixed"][-1] == ("no", False)


def test_compile_is_recorded_and_reaches_the_engine(cli, training_setup, tmp_path, monkeypatch):
    seen = set()

    def fake_generate(*args, **kwargs):  # torch.compile itself is the engine's (tested there) and slow here
        seen.add(kwargs["compile"])
        return generate(*args, **{**kwargs, "compile": False})

    generate = ppo.generate_images
    monkeypatch.setattr(ppo, "generate_images", fake_generate)
    run = tmp_path / "run"
    result = cli("train-policy", *training_setup, "-u", "1", *QUICK, "--compile", "-o", str(run))
    assert result.code == 0, result.err
    assert _settings(run)["compile"] is True and seen == {True}
    assert "compile_seconds" in json.loads((run / "train.jsonl").read_text())
    assert cli("train-policy", *training_setup, "-u", "2", *QUICK, "--no-compile", "--resume", "-o", str(run)).code == 0
    assert _settings(run)["compile"] is False and seen == {True, False}


def test_accelerate_launch_flags_are_the_defaults_of_a_fresh_run(cli, training_setup, tmp_path, monkeypatch):
    seen = set()

    def fake_generate(*args, **kwargs):
        seen.add((kwargs["precision"], kwargs["compile"]))
        return generate(*args, **{**kwargs, "compile": False})

    generate = ppo.generate_images
    monkeypatch.setattr(ppo, "generate_images", fake_generate)
    # what `accelerate launch --mixed_precision bf16 --dynamo_backend inductor` puts in the environment
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    monkeypatch.setenv("ACCELERATE_DYNAMO_BACKEND", "INDUCTOR")
    run = tmp_path / "run"
    assert cli("train-policy", *training_setup, "-u", "1", *QUICK, "-o", str(run)).code == 0
    assert (_settings(run)["precision"], _settings(run)["compile"]) == ("bf16", True) and seen == {("bf16", True)}
    # a resumed run keeps its own (fp16 would be refused on a CPU)
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")
    resumed = cli("train-policy", *training_setup, "-u", "2", *QUICK, "--resume", "-o", str(run))
    assert resumed.code == 0, resumed.err
    assert _settings(run)["precision"] == "bf16"
    # options typed win
    other = tmp_path / "other"
    typed = cli("train-policy", *training_setup, "-u", "1", *QUICK, "--precision", "fp32", "--no-compile", "-o", str(other))
    assert typed.code == 0, typed.err
    assert (_settings(other)["precision"], _settings(other)["compile"]) == ("fp32", False)


@pytest.mark.parametrize("args, message", [
    (["--precision", "fp8"], "--precision must be one of auto, fp32, bf16, fp16, got 'fp8'"),
    (["--precision", "fp16"], "--precision fp16 needs a CUDA GPU"),
])
def test_bad_precision_is_one_line_and_leaves_nothing(cli, training_setup, tmp_path, args, message):
    run = tmp_path / "run"
    result = cli("train-policy", *training_setup, "--device", "cpu", *args, "-o", str(run))
    assert result.code == 2 and message in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not run.exists()


class _TwoProcesses:  # the first of two processes, as Shard sees it under a launcher
    num_processes, index, local_index, is_main = 2, 0, 0, True

    def gather(self, items):
        return list(items)

    def wait(self):
        pass


def test_fewer_batches_than_processes_is_refused(cli, training_setup, tmp_path, monkeypatch):
    monkeypatch.setattr("adanat_cli.cli.train_policy.Shard", lambda cpu=False: _TwoProcesses())
    run = tmp_path / "run"
    result = cli("train-policy", *training_setup, "--trajectories", "8", "-b", "8", "--device", "cpu", "-o", str(run))
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
    assert "are 1 batch(es) for 2 processes" in result.err and "--batch-size 4 or less" in result.err
    assert not run.exists()


def test_mixed_precision_names():
    assert [mixed_precision(p, "cpu") for p in ("fp32", "bf16")] == ["no", "bf16"]
    assert mixed_precision("fp16", torch.device("cuda", 1)) == "fp16"
    with pytest.raises(UsageError):
        mixed_precision("fp16", torch.device("cpu"))


def test_bf16_resumes_exactly_and_old_settings_files_still_load(cli, training_setup, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    bf16 = [*training_setup, *QUICK, "--precision", "bf16"]
    assert cli("train-policy", *bf16, "-u", "3", "-o", str(whole)).code == 0
    assert cli("train-policy", *bf16, "-u", "2", "-o", str(split)).code == 0
    resumed = cli("train-policy", *training_setup, *QUICK, "-u", "3", "--resume", "-o", str(split))
    assert resumed.code == 0, resumed.err
    a, b = _tensors(whole / "policy.safetensors"), _tensors(split / "policy.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # a run from before --precision/--compile: its settings.json lacks both; it resumes in fp32 (auto, on a CPU)
    saved = _settings(split)
    del saved["precision"], saved["compile"]
    (split / "settings.json").write_text(json.dumps(saved))
    older = cli("train-policy", *training_setup, *QUICK, "-u", "4", "--resume", "-o", str(split))
    assert older.code == 0, older.err
    assert _settings(split)["precision"] == "fp32"
    state = ppo.unsealed(torch.load(split / "checkpoint.pt", weights_only=True), "cpu")  # plain tensors only
    assert state["settings"]["precision"] == "fp32" and state["update"] == 4


def _launcher(name: str) -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), name)
    if not os.path.exists(exe):
        pytest.skip(f"{name} not installed")
    if name == "torchrun":
        return [exe, "--nproc_per_node", "2", "--master_port", str(free_port())]
    # --multi_gpu starts one process per --num_processes; without a GPU (or with --device cpu) they use gloo
    return [exe, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
            "--dynamo_backend", "no", "--main_process_port", str(free_port())]


def test_two_processes_under_accelerate_launch_resume_exactly_and_match_torchrun(tmp_path):
    from tests.random_bundle import make_random_bundle

    bundle = make_random_bundle(tmp_path / "bundle")
    real = _class_folders(tmp_path / "real", 10, 2, 16)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["-m", str(bundle), "-T", "2", "--trajectories", "8", "-b", "2", "--lr", "1e-3", "--data", str(real),
            "--network-arg", "hidden=16", "--network-arg", "pointwise=4", "--network-arg", "fc1=16",
            "--network-arg", "fc2=8", "--precision", "bf16", *QUICK]

    def train(launcher: str, run, *extra: str) -> None:
        command = [*_launcher(launcher), "-m", "adanat_cli", "train-policy", *args, "-o", str(run), *extra]
        proc = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]

    train("accelerate", tmp_path / "whole", "-u", "3")
    train("accelerate", tmp_path / "split", "-u", "2")
    train("accelerate", tmp_path / "split", "-u", "3", "--resume")
    train("torchrun", tmp_path / "torchrun", "-u", "3")
    whole = _tensors(tmp_path / "whole" / "policy.safetensors")
    for other in ("split", "torchrun"):
        log = [json.loads(line) for line in (tmp_path / other / "train.jsonl").read_text().splitlines()]
        assert [entry["update"] for entry in log] == [1, 2, 3]  # written once, by the main process
        policy = _tensors(tmp_path / other / "policy.safetensors")
        assert policy.keys() == whole.keys() and all(torch.equal(policy[k], whole[k]) for k in whole), other
    assert _settings(tmp_path / "whole")["precision"] == "bf16"
