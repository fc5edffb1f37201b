"""Wall time of ``adanat sample --class 7 --num 16`` as a user sees it: a fresh process, start-up included.

    python benchmarks/sample_speed.py [--repeats 3] [--out benchmarks/results/sample_speed.json] [-- EXTRA ARGS]
    python benchmarks/sample_speed.py --text --out benchmarks/results/sample_speed_text.json

``--text`` times ``adanat sample --model tiny-mnist-text --prompt "a thin upright three" --num 16``
instead (text-to-image; target 5 s).

Runs the installed ``adanat`` entry point (the one next to this Python) as a subprocess ``--repeats``
times, each into a fresh temporary output folder, and reports every wall time, the median and the
minimum. Extra arguments after ``--`` are passed on to ``adanat sample``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "sample_speed.json"
TARGET_SECONDS = 15.0
TEXT_TARGET_SECONDS = 5.0
TEXT_REQUEST = ["--model", "tiny-mnist-text", "--prompt", "a thin upright three"]


def adanat_executable() -> list[str]:
    """The ``adanat`` script of this interpreter's environment, else ``python -m`` of the app."""
    script = Path(sys.executable).with_name("adanat")
    if script.is_file():
        return [str(script)]
    found = shutil.which("adanat")
    return [found] if found else [sys.executable, "-c", "from adanat_cli.cli.app import main; main()"]


def time_once(command: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        done = subprocess.run([*command, "--out", str(Path(tmp) / "samples")], capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"adanat sample failed ({done.returncode}):\n{done.stderr}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--text", action="store_true", help="sample tiny-mnist-text from a prompt instead")
    parser.add_argument("extra", nargs="*", help="extra arguments for adanat sample (after --)")
    args = parser.parse_args(argv)
    request = TEXT_REQUEST if args.text else ["--class", "7"]
    target = TEXT_TARGET_SECONDS if args.text else TARGET_SECONDS
    command = [*adanat_executable(), "sample", *request, "--num", "16", *args.extra]
    times = [time_once(command) for _ in range(args.repeats)]
    result = {
        "command": " ".join(shlex.quote(c) for c in command),
        "repeats": args.repeats,
        "seconds": times,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "target_s": target,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
    }
    print(f"{'run':>4} {'wall s':>8}")
    for i, t in enumerate(times, 1):
        print(f"{i:>4} {t:8.2f}")
    print(f"median {result['median_s']:.2f} s, min {result['min_s']:.2f} s (target <= {target:g} s)")
    print(f"command: {result['command']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
