"""Writing a comparison: report.json (schema ``adanat-compare/1``), report.md, and pictures.

A text-conditioned model's comparison names its caption file (``meta["captions"]``) and, when the
bundle measures caption alignment, reports ``class_agreement`` and ``attribute_agreement`` in place of
class accuracy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ..io import ensure_writable, replace_dir_atomic, staging_dir
from ..plots import plot_fid_vs_steps, plot_labelled_grid, plot_trace, plot_tradeoff
from .pairs import PairResult
from .sweeps import best_rows

SCHEMA = "adanat-compare/1"
CLASS_COLUMNS = (("class_accuracy", "class acc."),)
ALIGNMENT_COLUMNS = (("class_agreement", "class agreement"), ("attribute_agreement", "attribute agreement"))
# what another feature space's own network judges: class accuracy, or a text model's class agreement
SPACE_COLUMNS = (("class_accuracy", "class acc."), ("class_agreement", "class agreement"))


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown_table(results: list[PairResult]) -> str:
    """One row per result; within a swept family the best value of each metric is in bold."""
    best = best_rows([r.to_json() for r in results])

    def cell(r: PairResult, metric: str, digits: int) -> str:
        text = _fmt(getattr(r, metric), digits)
        return f"**{text}**" if best.get(r.scheduler, {}).get(str(r.steps), {}).get(metric) == r.label else text

    spaces = list(results[0].spaces) if results else []
    judging = [(s, metric, name) for metric, name in SPACE_COLUMNS for s in spaces
               if all(metric in r.spaces[s] for r in results)]
    judged = ALIGNMENT_COLUMNS if any(r.alignment is not None for r in results) else CLASS_COLUMNS
    head = ("| scheduler | T | FID | precision | recall | " + "".join(f"{name} | " for _, name in judged)
            + "".join(f"FID ({s}) | " for s in spaces) + "".join(f"{name} ({s}) | " for s, _, name in judging)
            + "NFE | GFLOPs/image | s/image | images/s |\n")
    head += ("| --- | ---: | ---: | ---: | ---: | " + "---: | " * (len(judged) + len(spaces) + len(judging))
             + "---: | ---: | ---: | ---: |\n")
    rows = [
        f"| {r.label} | {r.steps} | {cell(r, 'fid', 2)} | {cell(r, 'precision', 3)} | {cell(r, 'recall', 3)} | "
        + "".join(f"{cell(r, metric, 3)} | " for metric, _ in judged)
        + "".join(f"{_fmt(r.spaces[s]['fid'], 2)} | " for s in spaces)
        + "".join(f"{_fmt(r.spaces[s][metric], 3)} | " for s, metric, _ in judging)
        + f"{r.nfe} | {_fmt(r.gflops_per_image, 3)} | {_fmt(r.seconds_per_image, 4)} | {_fmt(r.images_per_second, 1)} |"
        for r in results
    ]
    return head + "\n".join(rows) + "\n"


def _file_part(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


def write_report(out: Path, meta: dict[str, Any], results: list[PairResult], overwrite: bool) -> Path:
    out = Path(out)
    ensure_writable(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(out)
    try:
        files: dict[str, Any] = {"grid": "grid.png", "fid_vs_steps": "fid_vs_steps.png", "tradeoff": {}, "traces": {}}
        what = "captions" if meta.get("captions") else "classes"
        title = f"{meta['model']}: same {what} and seeds in every column"
        plot_labelled_grid([(f"{r.label} T={r.steps}", r.preview) for r in results], staging / files["grid"], title)
        series: dict[str, list[tuple[int, float]]] = {}
        for r in results:
            series.setdefault(r.label, []).append((r.steps, r.fid))
        plot_fid_vs_steps(series, staging / files["fid_vs_steps"], f"{meta['model']}: FID ({meta['extractor']}) vs steps")
        rows = [r.to_json() for r in results]
        for steps in sorted({r.steps for r in results}):
            name = f"tradeoff_T{steps}.png"
            plot_tradeoff([row for row in rows if row["steps"] == steps], staging / name,
                          f"{meta['model']}, T={steps}: trade-offs ({meta['extractor']} features)")
            if (staging / name).exists():
                files["tradeoff"][str(steps)] = name
            for space in (results[0].spaces if results else {}):
                name = f"tradeoff_T{steps}_{_file_part(space)}.png"
                in_space = [{**row, **row["spaces"][space]} for row in rows if row["steps"] == steps]
                plot_tradeoff(in_space, staging / name, f"{meta['model']}, T={steps}: trade-offs ({space} features)")
                if (staging / name).exists():
                    files["tradeoff"][f"{steps}/{space}"] = name
        for r in results:
            if r.adaptive and r.trace is not None:
                name = f"trace_{_file_part(r.label)}_T{r.steps}.png"
                plot_trace(r.trace, staging / name, f"{r.label}, T={r.steps}: per-sample policy")
                files["traces"][f"{r.label}/T{r.steps}"] = name
        document = {"schema": SCHEMA, **meta, "files": files, "results": rows, "best": best_rows(rows)}
        (staging / "report.json").write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        cycled = f"captions of `{meta['captions']}` cycled" if meta.get("captions") else "classes cycled"
        alignment_note = []
        if any(r.alignment is not None for r in results):
            alignment_note = [("Caption alignment: *class agreement* is the share of images the model's classifier "
                               "assigns the class their caption names; *attribute agreement* the share of the "
                               "attribute words the captions state that match the image's measured attributes "
                               "(chance 0.5). In another feature space that brings its own classifier, that "
                               "space's network judges the class agreement too.\n")]
        lines = [
            f"# Scheduler comparison on `{meta['model']}`\n",
            (f"{meta['num']} images per row ({cycled}, seed {meta['seed']}), features `{meta['extractor']}`, "
             f"reference `{meta['reference']}`, {meta['processes']} process(es), device {meta['device']}"
             f", precision {meta.get('precision', 'fp32')}{' (compiled)' if meta.get('compile') else ''}.\n"),
            *alignment_note,
            markdown_table(results),
            "![samples](grid.png)\n",
            "![FID vs steps](fid_vs_steps.png)\n",
            *[f"![trade-offs at T={t}]({name})\n" for t, name in files["tradeoff"].items()],
            *[f"![{key}]({name})\n" for key, name in files["traces"].items()],
        ]
        (staging / "report.md").write_text("\n".join(lines), encoding="utf-8")
        replace_dir_atomic(staging, out, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
