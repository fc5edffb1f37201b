"""SIGTERM, SIGINT or SIGKILL in the middle of `train-policy`: the run stops (cleanly, but for the
kill), no temp file is left once the run is resumed, and `--resume` ends on weights bit-identical to
an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from .conftest import default_sigint

REPO = Path(__file__).resolve().parents[1]
TRAIN = ["train-policy", "--steps", "2", "--updates", "5", "--trajectories", "8", "--batch-size", "8",
         "--eval-every", "0", "--checkpoint-every", "1", "--device", "cpu"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adanat_cli", *args], capture_output=True, text=True,
                          cwd=REPO, env=ENV, timeout=600)


EXPECTED = {signal.SIGTERM: 143, signal.SIGINT: 130, signal.SIGKILL: -signal.SIGKILL}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["TERM", "INT", "KILL"])
def test_a_signal_mid_training_then_resume_equals_an_uninterrupted_run(tmp_path, sig):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert _run(*TRAIN, "--out", str(whole)).returncode == 0

    process = subprocess.Popen([sys.executable, "-m", "adanat_cli", *TRAIN, "--out", str(cut)], cwd=REPO, env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        log = cut / "train.jsonl"
        if log.is_file() and len(log.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    process.send_signal(sig)
    _, err = process.communicate(timeout=300)
    assert process.returncode == EXPECTED[sig], err  # it was still training: 5 updates take far longer than 2
    if sig != signal.SIGKILL:  # a kill cannot clean up; the resumed run must
        assert not [p.name for p in cut.iterdir() if p.name.startswith(".")], "temp files left behind"

    resumed = _run(*TRAIN, "--out", str(cut), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a, b = load_file(str(whole / "policy.safetensors")), load_file(str(cut / "policy.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not [p.name for p in cut.iterdir() if p.name.startswith(".")], "temp files left after the resumed run"
