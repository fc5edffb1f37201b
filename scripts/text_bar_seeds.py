"""The text-to-image policy bar on several seeds: per-seed verdicts and the verdict of the means.

    python scripts/text_bar_seeds.py REPORT_DIR... [--policy NAME=PATH_SUFFIX ...] [--json OUT.json]

Reads the ``report.json`` of ``adanat compare`` runs on ``tiny-mnist-text`` (two feature spaces, the
training one first) and groups their rows by seed. Cosine rows are named by their guidance and, when
guidance pushes against a negative prompt, by it and its share (``cosine 1 @subject 0.25``) and by a
fixed push against it (``cosine 0.5 @subject 0 push 0.5``); policy rows by ``--policy`` (the first
NAME whose PATH_SUFFIX ends the row's policy path; a NAME may be given several suffixes, for copies of
one file) and the push the row set (``S1 push 0.5``). In each space the best cosine row is the one
with the lowest FID; a policy meets the bar there when its FID is at most 0.8x that row's and its class agreement (by
that space's own network) and attribute agreement are at most 1 point below the row's
(docs/text-to-image.md). The same verdict is then taken on each row's mean over the seeds that every
row has.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from statistics import mean

from adanat_cli.io import write_text_atomic

BAR_RATIO, BAR_POINTS = 0.8, 0.01
METRICS = ("fid", "class", "attribute")


def row_name(result: dict, policies: list[tuple[str, str]]) -> str | None:
    config = result["config"]
    push = float(config.get("negative_guidance") or 0.0)
    pushed = f" push {push:g}" if push else ""
    if result["scheduler"] == "cosine":
        name = f"cosine {config['guidance']:g}"
        share = float(config.get("negative_share", 1.0))
        if config.get("negative_prompt") and (share > 0 or push):
            name += f" {config['negative_prompt']} {share:g}"
        return name + pushed
    path = str(config.get("policy", ""))
    for name, suffix in policies:
        if path.endswith(suffix):
            return name + pushed
    return None


def space_values(result: dict, space: str | None) -> dict[str, float]:
    source = result if space is None else result["spaces"][space]
    return {"fid": source["fid"], "class": source["class_agreement"], "attribute": result["attribute_agreement"]}


def verdicts(rows: dict[str, dict[str, float]]) -> dict[str, dict]:
    """One space's rows (name -> metrics): each policy row's verdict against the best cosine row."""
    cosine = {n: v for n, v in rows.items() if n.startswith("cosine ")}
    best_name = min(cosine, key=lambda n: cosine[n]["fid"])
    best = cosine[best_name]
    out = {}
    for name, values in rows.items():
        if name in cosine:
            continue
        ratio = values["fid"] / best["fid"]
        d_class, d_attr = values["class"] - best["class"], values["attribute"] - best["attribute"]
        met = ratio <= BAR_RATIO and d_class >= -BAR_POINTS and d_attr >= -BAR_POINTS
        out[name] = {"best_row": best_name, "ratio": ratio, "d_class": d_class, "d_attribute": d_attr, "met": met}
    return out


def _verdict(v: dict) -> str:
    return (f"{v['ratio']:.3f}× {v['best_row']}, {100 * v['d_class']:+.1f} / {100 * v['d_attribute']:+.1f}"
            f" ({'met' if v['met'] else 'missed'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--policy", action="append", default=[], metavar="NAME=PATH_SUFFIX")
    parser.add_argument("--json", type=Path)
    args = parser.parse_intermixed_args()
    policies = [tuple(p.split("=", 1)) for p in args.policy]
    # table[space][seed][row] = metrics
    table: dict[str, dict[int, dict[str, dict[str, float]]]] = defaultdict(lambda: defaultdict(dict))
    for folder in args.reports:
        report = json.loads((folder / "report.json").read_text())
        spaces = [report["extractor"], *report["other_extractors"]]
        for result in report["results"]:
            name = row_name(result, policies)
            if name is None:
                continue
            for i, space in enumerate(spaces):
                table[space][report["seed"]][name] = space_values(result, None if i == 0 else space)
    summary = {}
    for space, by_seed in table.items():
        names = sorted(set.intersection(*(set(rows) for rows in by_seed.values())))
        seeds = sorted(by_seed)
        means = {n: {m: mean(by_seed[s][n][m] for s in seeds) for m in METRICS} for n in names}
        summary[space] = {"seeds": seeds, "mean": means, "mean_verdicts": verdicts(means),
                          "seed_verdicts": {s: verdicts({n: by_seed[s][n] for n in names}) for s in seeds}}
        print(f"\n{space}: seeds {', '.join(map(str, seeds))}")
        print("| row | mean FID | mean class / attribute agreement | per-seed FID |")
        print("| --- | ---: | --- | --- |")
        for n in names:
            per_seed = " / ".join(f"{by_seed[s][n]['fid']:.2f}" for s in seeds)
            print(f"| {n} | {means[n]['fid']:.2f} | {means[n]['class']:.3f} / {means[n]['attribute']:.3f} | {per_seed} |")
        print("| policy | on the means: FID ratio vs the best row, Δ class / attributes (points) | per seed |")
        print("| --- | --- | --- |")
        for n, v in summary[space]["mean_verdicts"].items():
            per_seed = "; ".join(f"{s}: {_verdict(summary[space]['seed_verdicts'][s][n])}" for s in seeds)
            print(f"| {n} | {_verdict(v)} | {per_seed} |")
    if args.json:
        write_text_atomic(args.json, json.dumps(summary, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
