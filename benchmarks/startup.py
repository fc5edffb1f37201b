"""Start-up time of the CLI: ``adanat --version``, ``adanat --help`` and ``adanat sample --help``.

    python benchmarks/startup.py [--repeats 7] [--out benchmarks/results/startup.json]

Runs the installed ``adanat`` entry point (the one next to this Python) as a fresh subprocess
``--repeats`` times per command and reports the median and minimum wall times. ``--version`` and
``--help`` import no command module (no torch); ``sample --help`` imports the ``sample`` command and
so torch: the cost every real command pays before it starts working.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sample_speed import adanat_executable

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "startup.json"
COMMANDS = [["--version"], ["--help"], ["sample", "--help"]]
TARGET_VERSION_SECONDS = 0.5


def time_once(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    executable = adanat_executable()
    time_once([*executable, "--version"])  # warm the file cache; not counted
    rows = []
    for extra in COMMANDS:
        command = [*executable, *extra]
        times = [time_once(command) for _ in range(args.repeats)]
        rows.append({"command": shlex.join(["adanat", *extra]), "seconds": times,
                     "median_s": statistics.median(times), "min_s": min(times)})
    print(f"{'command':<22} {'median s':>9} {'min s':>7}")
    for row in rows:
        print(f"{row['command']:<22} {row['median_s']:9.3f} {row['min_s']:7.3f}")
    print(f"target: adanat --version <= {TARGET_VERSION_SECONDS:g} s")
    result = {
        "benchmark": "startup",
        "executable": shlex.join(executable),
        "repeats": args.repeats,
        "runs": rows,
        "target_version_s": TARGET_VERSION_SECONDS,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
