"""Where the reference vectors of the public implementations live (../shared/golden beside the repo).

Override with ADANAT_GOLDEN=DIR. When the files are absent the golden tests skip on a developer's
machine but fail under CI (CI=true), so a wrong path can never turn CI green by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

GOLDEN = Path(os.environ.get("ADANAT_GOLDEN", Path(__file__).resolve().parents[2] / "shared" / "golden"))


def golden_file(name: str) -> Path:
    path = GOLDEN / name
    if not path.is_file():
        message = f"golden file {path} not found (set ADANAT_GOLDEN to the shared/golden folder)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
