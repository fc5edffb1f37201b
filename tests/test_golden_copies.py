"""The golden files kept in tests/golden are byte-for-byte the shared originals."""

from __future__ import annotations

import hashlib

import pytest

from .golden import BUNDLED, SHARED


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_repository_holds_every_golden_file_the_tests_read():
    names = {p.name for p in BUNDLED.iterdir()}
    assert {"uvit_small.safetensors", "maskgit_small.safetensors", "enat_small.safetensors",
            "vqgan_small.safetensors", "taming_vqgan_small.safetensors", "uvit_t2i_small.safetensors",
            "checkpoint_manifests.json"} <= names


@pytest.mark.skipif(not SHARED.is_dir(), reason="no shared/golden beside this clone: nothing to compare the copies with")
def test_copies_equal_the_shared_originals():
    for original in sorted(SHARED.iterdir()):
        copy = BUNDLED / original.name
        assert copy.is_file(), f"{original.name} is in shared/golden but not in tests/golden"
        assert _digest(copy) == _digest(original), f"tests/golden/{original.name} differs from shared/golden"
