"""Writing a comparison: report.json (schema ``adanat-compare/1``), report.md, and pictures."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..io import ensure_writable, replace_dir_atomic
from ..plots import plot_fid_vs_steps, plot_labelled_grid, plot_trace
from .pairs import PairResult

SCHEMA = "adanat-compare/1"


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown_table(results: list[PairResult]) -> str:
    head = "| scheduler | T | FID | precision | recall | class acc. | NFE | GFLOPs/image | s/image | images/s |\n"
    head += "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    rows = [
        f"| {r.scheduler} | {r.steps} | {_fmt(r.fid, 2)} | {_fmt(r.precision)} | {_fmt(r.recall)} | "
        f"{_fmt(r.class_accuracy)} | {r.nfe} | {_fmt(r.gflops_per_image, 3)} | {_fmt(r.seconds_per_image, 4)} | "
        f"{_fmt(r.images_per_second, 1)} |"
        for r in results
    ]
    return head + "\n".join(rows) + "\n"


def write_report(out: Path, meta: dict[str, Any], results: list[PairResult], overwrite: bool) -> Path:
    out = Path(out)
    ensure_writable(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        files = {"grid": "grid.png", "fid_vs_steps": "fid_vs_steps.png", "traces": {}}
        title = f"{meta['model']}: same classes and seeds in every column"
        plot_labelled_grid([(f"{r.scheduler} T={r.steps}", r.preview) for r in results], staging / files["grid"], title)
        series: dict[str, list[tuple[int, float]]] = {}
        for r in results:
            series.setdefault(r.scheduler, []).append((r.steps, r.fid))
        plot_fid_vs_steps(series, staging / files["fid_vs_steps"], f"{meta['model']}: FID ({meta['extractor']}) vs steps")
        for r in results:
            if r.adaptive and r.trace is not None:
                name = f"trace_{r.scheduler}_T{r.steps}.png"
                plot_trace(r.trace, staging / name, f"{r.scheduler}, T={r.steps}: per-sample policy")
                files["traces"][f"{r.scheduler}/T{r.steps}"] = name
        document = {"schema": SCHEMA, **meta, "files": files, "results": [r.to_json() for r in results]}
        (staging / "report.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        lines = [
            f"# Scheduler comparison on `{meta['model']}`\n",
            f"{meta['num']} images per row (classes cycled, seed {meta['seed']}), features `{meta['extractor']}`, "
            f"reference `{meta['reference']}`, {meta['processes']} process(es), device {meta['device']}.\n",
            markdown_table(results),
            "![samples](grid.png)\n",
            "![FID vs steps](fid_vs_steps.png)\n",
            *[f"![{key}]({name})\n" for key, name in files["traces"].items()],
        ]
        (staging / "report.md").write_text("\n".join(lines), encoding="utf-8")
        replace_dir_atomic(staging, out, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
