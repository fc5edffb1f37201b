"""FID against attribute agreement, one picture per feature space, from several `compare` reports.

    python scripts/text_tradeoff_figure.py --out DIR REPORT [NAME=REPORT ...]

Each REPORT is a `compare --out` folder (or its report.json) of a text model with caption alignment,
measured on the same captions and seed. The swept family (the cosine guidance sweep, even when it
spans several reports) is drawn as a curve; NAME= relabels a report's single row (a policy), drawn as
a star. The shaded corner is the text-to-image policy bar in that space: FID ≤ 0.8× the swept row
with the lowest FID, at attribute agreement no more than 1 point below it (class agreement, the bar's
other half, is in the tables). Writes DIR/tradeoff_<space>.png for the main space and each other
space all the rows share (docs/text-to-image.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from text_bar_seeds import BAR_POINTS, BAR_RATIO  # noqa: E402  (scripts/, this script's folder)

from adanat_cli.io import write_with_atomic  # noqa: E402


def read_rows(spec: str) -> tuple[list[dict], dict]:
    name, _, where = spec.rpartition("=") if "=" in spec else ("", "", spec)
    path = Path(where)
    report = json.loads((path / "report.json" if path.is_dir() else path).read_text())
    rows = report["results"]
    if name:
        if len(rows) != 1:
            raise SystemExit(f"{where}: NAME= relabels a report of one row, this one has {len(rows)}")
        rows = [{**rows[0], "label": name, "scheduler": name, "swept": {}}]
    return rows, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("reports", nargs="+")
    args = parser.parse_args()
    rows, reports = [], []
    for spec in args.reports:
        more, report = read_rows(spec)
        rows += more
        reports.append(report)
    if len({(r["model"], r["seed"], r["num"], r.get("captions")) for r in reports}) != 1:
        raise SystemExit("the reports differ in model, seed, number of images or captions")
    main_space = reports[0]["extractor"]
    spaces = [main_space, *[s for s in reports[0].get("other_extractors", [])
                            if all(s in row["spaces"] for row in rows)]]
    args.out.mkdir(parents=True, exist_ok=True)
    for space in spaces:
        path = args.out / f"tradeoff_{space}.png"
        plot_space(rows, space if space != main_space else None, path,
                   f"{reports[0]['model']}, T = {rows[0]['steps']}, seed {reports[0]['seed']}, "
                   f"{reports[0]['num']} images: FID ({space} features) against attribute agreement")
        print(f"wrote {path}")


def plot_space(rows: list[dict], space: str | None, path: Path, title: str) -> None:
    def fid(row: dict) -> float:
        return row["fid"] if space is None else row["spaces"][space]["fid"]

    swept = sorted((r for r in rows if r["swept"]), key=lambda r: tuple(r["swept"].values()))
    points = [r for r in rows if not r["swept"]]
    figure, axis = plt.subplots(figsize=(7.5, 5.6))
    if swept:
        best = min(swept, key=fid)
        x_max = max(r["attribute_agreement"] for r in rows) + 0.01
        axis.fill_between([best["attribute_agreement"] - BAR_POINTS, x_max], 0, BAR_RATIO * fid(best),
                          color="tab:green", alpha=0.12, label=f"the bar: ≤ {BAR_RATIO:g}× {best['label']}'s FID, "
                                                               f"≥ its attribute agreement − {BAR_POINTS * 100:g} pt")
        axis.plot([r["attribute_agreement"] for r in swept], [fid(r) for r in swept], marker="o",
                  label=f"{swept[0]['scheduler']} ({', '.join(swept[0]['swept'])} swept)")
        for r in swept:
            axis.annotate(",".join(f"{v:g}" for v in r["swept"].values()), (r["attribute_agreement"], fid(r)),
                          textcoords="offset points", xytext=(4, 4), fontsize=7)
    for r in points:
        axis.plot([r["attribute_agreement"]], [fid(r)], marker="*", markersize=12, linestyle="none", label=r["label"])
    axis.set_ylim(bottom=0)
    axis.set_xlabel("attribute agreement with the caption")
    axis.set_ylabel("FID (lower is better)")
    axis.grid(alpha=0.3)
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    write_with_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(figure)


if __name__ == "__main__":
    main()
