"""One FID-against-steps plot from several `adanat compare` reports (e.g. runs made at different T).

    python benchmarks/fid_vs_steps.py REPORT.json [REPORT.json ...] --out PLOT.png
        [--rename FOLDER:ROW=LABEL ...] [--skip FOLDER:ROW ...] [--title TEXT]

Each report's rows become points (T, FID) of the series named after the row (its label: the scheduler,
or for a swept row e.g. ``cosine[guidance=0.5]``), or after LABEL when ``--rename`` maps that row of the
report in FOLDER (the report's parent folder name) to another series, e.g. ``--rename
compare-T4:autonat=adanat-baseline`` when one run's ``autonat`` row used a different table than
another's. ``--skip`` leaves a row out. Two points of one series at the same T are refused (ambiguous).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from adanat_cli.plots import plot_fid_vs_steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rename", action="append", default=[], metavar="FOLDER:ROW=LABEL")
    parser.add_argument("--skip", action="append", default=[], metavar="FOLDER:ROW")
    parser.add_argument("--title", default="FID against steps (5,000 images, seed 0)")
    args = parser.parse_args()

    renames = {}
    for item in args.rename:
        key, _, label = item.rpartition("=")  # a row label may hold "=" (cosine[guidance=1])
        folder, _, scheduler = key.partition(":")
        if not (folder and scheduler and label):
            print(f"error: --rename wants FOLDER:ROW=LABEL, got {item!r}", file=sys.stderr)
            return 2
        renames[(folder, scheduler)] = label
    skipped = {tuple(item.partition(":")[::2]) for item in args.skip}

    series: dict[str, dict[int, float]] = {}
    for report in args.reports:
        data = json.loads(report.read_text())
        for row in data["results"]:
            key = (report.parent.name, row.get("label", row["scheduler"]))
            if key in skipped:
                continue
            name = renames.get(key, key[1])
            points = series.setdefault(name, {})
            if row["steps"] in points:
                print(f"error: two FIDs for {name} at T={row['steps']} ({report}); use --rename", file=sys.stderr)
                return 2
            points[row["steps"]] = row["fid"]
    plot_fid_vs_steps({k: sorted(v.items()) for k, v in series.items()}, args.out, args.title)
    for name, points in sorted(series.items()):
        print(f"{name:<18} " + "  ".join(f"T={t}: {fid:.2f}" for t, fid in sorted(points.items())))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
