"""Fuzzing every reader of untrusted files with mutated copies of valid ones: byte flips,
truncations, header and JSON edits. Each read either succeeds or raises an ``AdanatError`` (one clear
line at the command line): never another exception, never a hang, never a file outside the bundle.

1,200 mutated files in all, from a fixed seed, so a failure reproduces.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from adanat_cli.errors import AdanatError
from adanat_cli.metrics.digit_classifier import load_fid_stats
from adanat_cli.models.bundle import load_bundle
from adanat_cli.models.checkpoints import load_checkpoint
from adanat_cli.schedulers.adanat_files import load_policy, save_policy
from adanat_cli.schedulers.adanat_network import PolicyNet
from adanat_cli.schedulers.autonat import Schedule, published_schedule

CASES_PER_READER = 200


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random corruption of ``data``."""
    kind = rng.choice(["flip", "flip", "truncate", "header", "splice", "json"])
    buf = bytearray(data)
    if kind == "flip" and buf:
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del buf[rng.randrange(len(buf) + 1):]
    elif kind == "header" and len(buf) >= 8:  # safetensors: the 8-byte header length, then JSON
        choice = rng.choice([0, 1, len(buf), 2**40, 2**63 - 1, rng.randrange(1 << 20)])
        buf[:8] = struct.pack("<Q", choice)
    elif kind == "splice" and buf:
        start = rng.randrange(len(buf))
        buf[start:start + rng.randint(1, 64)] = bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
    elif kind == "json":
        text = buf.decode("utf-8", errors="replace")
        for old, new in rng.sample([('"', "'"), (":", ","), ("[", "{"), ("1", "-1e999"), ("0", "NaN"),
                                    ("true", "null"), ("}", ""), (".safetensors", "/../../etc/passwd"),
                                    ("8", "99999999999999999999"), (",", ",\"x\":[[[[[[]]]]]],")], 2):
            text = text.replace(old, new, rng.randint(1, 3))
        buf = bytearray(text.encode())
    return bytes(buf)


def fuzz(seed_file: Path, read: Callable[[Path], object], rng: random.Random, target: Path | None = None) -> dict:
    """Mutate ``seed_file`` into ``target`` (default: itself) CASES_PER_READER times and read it."""
    original = seed_file.read_bytes()
    target = target or seed_file
    outcomes = {"ok": 0, "refused": 0}
    try:
        for _ in range(CASES_PER_READER):
            target.write_bytes(mutate(original, rng))
            try:
                read(target)
                outcomes["ok"] += 1
            except AdanatError:
                outcomes["refused"] += 1
    finally:
        target.write_bytes(original)
    return outcomes


@pytest.fixture
def rng():
    return random.Random(20261130)


@pytest.fixture
def bundle(tmp_path):
    from tests.random_bundle import make_random_bundle

    path = make_random_bundle(tmp_path / "bundle")
    stats = {"mu": torch.zeros(4, dtype=torch.float64), "sigma": torch.eye(4, dtype=torch.float64)}
    from safetensors.torch import save_file

    save_file(stats, str(path / "fid_stats.safetensors"))
    config = json.loads((path / "config.json").read_text())
    config["fid_stats"] = "fid_stats.safetensors"
    config["schedules"] = {"autonat": {"4": {"file": "schedules/autonat-T4.json"}}}
    (path / "schedules").mkdir()
    published_schedule().save(path / "schedules" / "autonat-T4.json")
    (path / "config.json").write_text(json.dumps(config))
    return path


def test_bundle_config(bundle, rng):
    def read(_: Path) -> None:
        loaded = load_bundle(bundle)
        for steps in ("4", "8"):
            for value in loaded.scheduler_defaults("autonat", int(steps)).values():
                assert Path(value).resolve().is_relative_to(bundle.resolve())  # never outside the bundle

    outcomes = fuzz(bundle / "config.json", read, rng)
    assert outcomes["refused"] > CASES_PER_READER // 2


def test_bundle_weights_safetensors(bundle, rng):
    outcomes = fuzz(bundle / "backbone.safetensors", lambda _: load_bundle(bundle), rng)
    assert outcomes["refused"] > CASES_PER_READER // 2


def test_fid_statistics(bundle, rng):
    outcomes = fuzz(bundle / "fid_stats.safetensors", lambda _: load_fid_stats(bundle), rng)
    assert outcomes["refused"] > 0


def test_schedule_files(tmp_path, rng):
    file = tmp_path / "schedule.json"
    published_schedule().save(file)
    outcomes = fuzz(file, Schedule.load, rng)
    assert outcomes["refused"] > CASES_PER_READER // 2


def test_policy_files(tmp_path, rng):
    file = save_policy(tmp_path / "policy.safetensors", PolicyNet(8, (2, 2), hidden=8, pointwise=2, fc1=8, fc2=4),
                       {"feature_dim": 8, "grid": [2, 2], "steps": 4, "residual": True})
    outcomes = fuzz(file, load_policy, rng)
    assert outcomes["refused"] > CASES_PER_READER // 2


def test_official_checkpoints(tmp_path, rng):
    file = tmp_path / "nnet_ema.pth"
    torch.save({"w": torch.zeros(3, 4), "b": torch.ones(2), "meta": {"step": 3}}, file)
    outcomes = fuzz(file, load_checkpoint, rng)
    assert outcomes["refused"] > CASES_PER_READER // 2


def test_the_suite_reads_enough_files():
    readers = [name for name in globals() if name.startswith("test_") and name != "test_the_suite_reads_enough_files"]
    assert len(readers) * CASES_PER_READER >= 1000
