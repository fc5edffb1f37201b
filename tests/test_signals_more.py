"""SIGTERM, SIGINT and SIGKILL at several moments of `compare`, `search-schedule`, `import` and
`download`: whatever the moment, the requested output is complete or absent, no temp file is left
(after the next run, for a kill), and an interrupted schedule search resumes to exactly the schedule
of an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adanat_cli.models.bundle import load_bundle

from .conftest import default_sigint

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
SEARCH = ["search-schedule", "-T", "2", "-n", "8", "-b", "8", "-u", "4", "--lr", "0.01", "--lr-mask", "1e-4",
          "--device", "cpu"]


def _adanat(*args: str, cwd: Path = REPO) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "adanat_cli", *args], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)


COMPARE = ["compare", "-s", "cosine,linear", "-T", "2,4", "-n", "200", "-b", "50", "--device", "cpu"]


@pytest.mark.parametrize("sig, delay", [(signal.SIGTERM, 2.5), (signal.SIGTERM, 5.0), (signal.SIGINT, 2.5),
                                        (signal.SIGINT, 5.0), (signal.SIGKILL, 4.0)])
def test_compare_is_complete_or_absent(tmp_path, sig, delay):
    out = tmp_path / "cmp"
    process = _adanat(*COMPARE, "-o", str(out))
    time.sleep(delay)
    process.send_signal(sig)
    _, err = process.communicate(timeout=300)
    # 130/143: our handlers ran; -2/-15 or 1: still importing, nothing written yet; 0: it had finished
    assert process.returncode in (0, 1, 130, 143, -signal.SIGINT, -signal.SIGTERM, -signal.SIGKILL), err
    if sig == signal.SIGKILL:  # a kill cannot clean up: the next run does
        assert not out.exists() or json.loads((out / "report.json").read_text())["results"]
        again = _adanat(*COMPARE, "-n", "8", "-o", str(out), "--overwrite")
        assert again.wait(timeout=300) == 0, again.stderr.read()
    if process.returncode == 0 or out.exists():  # finished (perhaps just before the signal): complete
        assert json.loads((out / "report.json").read_text())["results"]
    assert not list(tmp_path.glob(".cmp.*")), "a staging folder was left"


@pytest.fixture(scope="module")
def uninterrupted_search(tmp_path_factory) -> Path:
    whole = tmp_path_factory.mktemp("search") / "whole.json"
    done = _adanat(*SEARCH, "-o", str(whole))
    assert done.wait(timeout=600) == 0, done.stderr.read()
    return whole


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["TERM", "INT", "KILL"])
def test_a_signal_mid_search_then_resume_equals_an_uninterrupted_search(tmp_path, uninterrupted_search, sig):
    whole, cut = uninterrupted_search, tmp_path / "cut.json"
    process = _adanat(*SEARCH, "-o", str(cut))
    state = cut.with_name(cut.name + ".state.json")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if state.is_file() and json.loads(state.read_text() or "{}").get("update", 0) >= 1:
            break
        time.sleep(0.05)
    process.send_signal(sig)
    _, err = process.communicate(timeout=300)
    assert process.returncode == {signal.SIGTERM: 143, signal.SIGINT: 130, signal.SIGKILL: -signal.SIGKILL}[sig], err
    assert not cut.exists()  # the schedule is written when the search ends
    resumed = _adanat(*SEARCH, "-o", str(cut), "--resume")
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    a, b = json.loads(whole.read_text()), json.loads(cut.read_text())
    a.pop("source"), b.pop("source")
    assert a == b
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("sig, delay", [(signal.SIGTERM, 2.0), (signal.SIGTERM, 3.5), (signal.SIGINT, 3.0),
                                        (signal.SIGKILL, 3.0)])
def test_import_is_complete_or_absent(tmp_path, sig, delay):
    from .test_import import write_uvit_files

    nnet, vq = write_uvit_files(tmp_path / "files")
    out = tmp_path / "bundle"
    argv = ["import", "-f", "autonat", "--nnet", str(nnet), "--tokenizer", str(vq), "--name", "x", "--heads", "4",
            "-o", str(out)]
    process = _adanat(*argv)
    time.sleep(delay)
    process.send_signal(sig)
    _, err = process.communicate(timeout=300)
    assert process.returncode in (0, 1, 130, 143, -signal.SIGINT, -signal.SIGTERM, -signal.SIGKILL), err
    if process.returncode == 0 or out.exists():  # finished (perhaps just before the signal): complete
        load_bundle(out)
    if sig == signal.SIGKILL:  # a kill cannot clean up: the next run does
        again = _adanat(*argv, "--overwrite")
        assert again.wait(timeout=300) == 0, again.stderr.read()
    assert not list(tmp_path.glob(".bundle.*")), "a staging folder was left"


@pytest.mark.parametrize("sig, delay", [(signal.SIGTERM, 2.0), (signal.SIGINT, 3.5), (signal.SIGKILL, 3.0)])
def test_download_is_complete_or_absent(tmp_path, sig, delay):
    """`adanat download` of a Drive entry from files fetched by hand (nothing to fetch: offline)."""
    from .test_import import write_uvit_files

    nnet, vq = write_uvit_files(tmp_path / "files")
    cache = tmp_path / "hub"
    env = {**ENV, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    argv = [sys.executable, "-m", "adanat_cli", "download", "autonat-L-imagenet256", "--heads", "4",
            "--file", f"nnet={nnet}", "--file", f"tokenizer={vq}"]
    process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    time.sleep(delay)
    process.send_signal(sig)
    _, err = process.communicate(timeout=300)
    bundle = cache / "adanat-bundles" / "autonat-L-imagenet256"
    assert process.returncode in (0, 1, 130, 143, -signal.SIGINT, -signal.SIGTERM, -signal.SIGKILL), err
    if process.returncode == 0 or bundle.exists():  # finished (perhaps just before the signal): complete
        load_bundle(bundle)
    again = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert (bundle / "config.json").is_file()
    assert not list(bundle.parent.glob(".*")), "a staging folder was left after the next run"
