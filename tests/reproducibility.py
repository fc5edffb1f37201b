"""Fingerprints of what fixed `adanat sample` and `adanat compare` commands produce.

``record(tmp)`` runs the commands in-process and returns, per command, SHA-256 digests of the
decoded pixels of every PNG it wrote (pixels, not file bytes, so a Pillow upgrade changing PNG
compression does not count) and the quality numbers of compare's report.json. The stored copy in
``tests/data/reproducibility.json`` was recorded before the layout change of 0.2 (only the two
multi-class grids were recorded again when grids gained row captions, every image's digest
unchanged); the test that reads it proves a refactor changes no image and no number. A change that is *meant* to move the
random stream regenerates it with ``python -m tests.reproducibility --write`` and says so in the
changelog.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

STORED = Path(__file__).resolve().parent / "data" / "reproducibility.json"

SAMPLE_COMMANDS = {
    "cosine": ["sample", "--scheduler", "cosine", "--class", "7,3", "--num", "3", "--steps", "8", "--batch-size", "4"],
    "adanat-T8": ["sample", "--scheduler", "adanat", "--class", "1", "--num", "4", "--steps", "8"],
    "autonat-T4": ["sample", "--scheduler", "autonat", "--class", "0,9", "--num", "2", "--steps", "4"],
    "halton": ["sample", "--scheduler", "halton", "--class", "5", "--num", "3", "--steps", "6", "--seed", "3"],
    "enat-cosine": ["sample", "--model", "tiny-mnist-enat", "--scheduler", "cosine", "--class", "2", "--num", "3"],
    "enat-adanat": ["sample", "--model", "tiny-mnist-enat", "--scheduler", "adanat", "--class", "4", "--num", "3",
                    "--steps", "8"],
}
COMPARE_COMMAND = ["compare", "--schedulers", "cosine,adanat", "--steps", "8", "--num", "60", "--batch-size", "30",
                   "--device", "cpu"]
REPORT_KEYS = ("scheduler", "steps", "fid", "precision", "recall", "class_accuracy", "nfe", "gflops_per_image")


def _pixels_digest(folder: Path) -> dict[str, str]:
    return {
        png.name: hashlib.sha256(np.asarray(Image.open(png).convert("RGB")).tobytes()).hexdigest()
        for png in sorted(folder.glob("*.png"))
    }


def _run(argv: list[str]) -> None:
    from adanat_cli.cli.app import main

    try:
        main(argv)
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            raise RuntimeError(f"`adanat {' '.join(argv)}` exited with {exit_.code}") from None


def record(tmp: Path) -> dict:
    result: dict = {"sample": {}, "compare": None}
    for key, argv in SAMPLE_COMMANDS.items():
        out = tmp / key
        _run([*argv, "--out", str(out)])
        result["sample"][key] = _pixels_digest(out)
    out = tmp / "compare"
    _run([*COMPARE_COMMAND, "--out", str(out)])
    report = json.loads((out / "report.json").read_text())
    result["compare"] = {
        "rows": [{k: row[k] for k in REPORT_KEYS} for row in report["results"]],
        "grid": _pixels_digest(out).get("grid.png"),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="record or check the reproducibility fingerprints")
    parser.add_argument("--write", action="store_true", help=f"rewrite {STORED}")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        now = record(Path(tmp))
    if args.write:
        STORED.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        print(f"wrote {STORED}")
        return 0
    same = now == json.loads(STORED.read_text())
    print("identical" if same else "DIFFERENT")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
