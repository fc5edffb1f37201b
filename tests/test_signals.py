"""SIGTERM and SIGKILL in the middle of `adanat sample`: nothing partial under the requested name,
and no stale temp folder once the next run has been."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import default_sigint

REPO = Path(__file__).resolve().parents[1]
SAMPLE = ["sample", "-c", "1", "-n", "300", "-T", "2", "-b", "300", "--upscale", "12", "--device", "cpu"]


def _staging(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.*"))


def _start(out: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "adanat_cli", *SAMPLE, "-o", str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, preexec_fn=default_sigint)


def _kill_while_writing(process: subprocess.Popen, out: Path, sig: int) -> None:
    """Send ``sig`` once the images are being written into the staging folder."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        staged = _staging(out)
        if staged and any(staged[0].glob("*.png")):
            process.send_signal(sig)
            return
        if process.poll() is not None:
            pytest.fail(f"the run ended before it could be interrupted: {process.stderr.read()}")
        time.sleep(0.005)
    process.kill()
    pytest.fail("the run never started writing")


def test_sigterm_while_writing_leaves_nothing(tmp_path):
    out = tmp_path / "samples"
    process = _start(out)
    _kill_while_writing(process, out, signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert err.strip().splitlines()[-1] == "Terminated."
    assert not out.exists() and _staging(out) == []


def test_sigterm_before_writing_leaves_nothing(tmp_path):
    out = tmp_path / "samples"
    process = _start(out)
    time.sleep(3.0)  # loading or generating
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    # 143: our handler ran; -15: still importing (the handler is not installed yet, nothing written);
    # 0: a fast machine had already finished
    assert process.returncode in (143, -signal.SIGTERM, 0)
    assert _staging(out) == []
    if process.returncode == 143:
        assert not out.exists()


def test_sigkill_leftovers_are_removed_by_the_next_run(tmp_path):
    out = tmp_path / "samples"
    process = _start(out)
    _kill_while_writing(process, out, signal.SIGKILL)
    process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL
    assert not out.exists() and len(_staging(out)) == 1  # a kill cannot clean up after itself
    again = subprocess.run([sys.executable, "-m", "adanat_cli", "sample", "-c", "1", "-n", "1", "-T", "2",
                            "--device", "cpu", "-o", str(out)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert again.returncode == 0, again.stderr
    assert (out / "samples.json").is_file() and _staging(out) == []
