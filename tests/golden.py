"""The reference vectors of the public implementations, kept in the repository (``tests/golden``).

They are copies of ``shared/golden`` (REFERENCE §5), so the suite runs every golden test wherever
the repository is cloned. ``ADANAT_GOLDEN=DIR`` points the tests at another copy (for example a
newer ``shared/golden``); ``test_golden_copies.py`` checks that the copies still equal the shared
originals when those are present beside the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

BUNDLED = Path(__file__).resolve().parent / "golden"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "golden"
GOLDEN = Path(os.environ.get("ADANAT_GOLDEN", BUNDLED))


def golden_file(name: str) -> Path:
    path = GOLDEN / name
    if not path.is_file():
        pytest.fail(f"golden file {path} not found (ADANAT_GOLDEN={os.environ.get('ADANAT_GOLDEN', 'unset')})")
    return path
