"""Peak memory of `adanat sample` and `adanat compare` against the number of images (target: the
5,000-image run within 1.2× the 1,000-image run's peak, i.e. memory flat in --num).

    python benchmarks/memory_vs_num.py [--nums 1000,5000] [--steps 2] [--out benchmarks/results/memory_vs_num.json]

Each command runs in its own process on tiny-mnist (CPU); its resident set size is polled every 10 ms
and the peak kept (memory, unlike time, does not depend on what else the machine runs). Prints a
table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "memory_vs_num.json"


def peak_rss(command: list[str]) -> tuple[int, float]:
    """(peak resident bytes, seconds) of ``command``, polled every 10 ms."""
    began = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watched, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.01)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()[-500:]}")
    return peak, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nums", default="1000,5000")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    nums = [int(n) for n in args.nums.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for command in ("sample", "compare"):
            peaks = {}
            for num in nums:
                out = Path(tmp) / f"{command}-{num}"
                argv = [sys.executable, "-m", "adanat_cli", command, "--steps", str(args.steps), "--device", "cpu",
                        "--batch-size", "250", "--out", str(out)]
                argv += ["--class", "3", "--num", str(num), "--upscale", "1"] if command == "sample" else \
                    ["--schedulers", "cosine", "--num", str(num)]
                peak, seconds = peak_rss(argv)
                peaks[num] = peak
                rows.append({"command": command, "num": num, "peak_rss_mib": round(peak / 2**20, 1),
                             "seconds": round(seconds, 1)})
            rows[-1]["ratio_to_smallest"] = round(peaks[nums[-1]] / peaks[nums[0]], 3)
    print("| command | images | peak RSS (MiB) | seconds | ratio to the smallest |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(f"| {row['command']} | {row['num']} | {row['peak_rss_mib']} | {row['seconds']} | {row.get('ratio_to_smallest', '')} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "steps": args.steps,
                                    "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
