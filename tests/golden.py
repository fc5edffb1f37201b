"""The reference vectors of the public implementations, kept in the repository (``tests/golden``).

They are copies of ``shared/golden`` (REFERENCE §5), so the suite runs every golden test wherever
the repository is cloned. ``ADANAT_GOLDEN=DIR`` points the tests at another copy (for example a
newer ``shared/golden``); ``test_golden_copies.py`` checks that the copies still equal the shared
originals when those are present beside the repository.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.torch import load_file

BUNDLED = Path(__file__).resolve().parent / "golden"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "golden"
GOLDEN = Path(os.environ.get("ADANAT_GOLDEN", BUNDLED))


def golden_file(name: str) -> Path:
    path = GOLDEN / name
    if not path.is_file():
        pytest.fail(f"golden file {path} not found (ADANAT_GOLDEN={os.environ.get('ADANAT_GOLDEN', 'unset')})")
    return path


def load_golden(name: str) -> tuple[dict, dict, dict, dict]:
    """(config, state dict, inputs, outputs) of ``tests/golden/<name>.safetensors``."""
    path = golden_file(f"{name}.safetensors")
    with safe_open(str(path), "pt") as f:
        config = json.loads(f.metadata()["config"])
    tensors = load_file(str(path))

    def group(prefix: str) -> dict:
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    return config, group("state_dict."), group("input."), group("output.")
