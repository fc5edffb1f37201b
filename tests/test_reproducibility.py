"""Refactors change no image and no number: fixed `sample` and `compare` commands on the built-in
models reproduce the fingerprints recorded before the 0.2 layout change (``tests/reproducibility.py``)."""

from __future__ import annotations

import json

from .reproducibility import STORED, record


def test_sample_and_compare_outputs_match_the_recorded_fingerprints(tmp_path):
    now = record(tmp_path)
    stored = json.loads(STORED.read_text())
    for key, digests in stored["sample"].items():
        assert now["sample"][key] == digests, f"`adanat sample` images changed for {key}"
    assert now["compare"] == stored["compare"], "`adanat compare` report numbers or grid changed"
