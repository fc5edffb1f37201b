"""Pictures people would rather look at than read: policy traces, FID-vs-steps, labelled grids."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .io import write_with_atomic  # noqa: E402

PLAN_LABELS = {
    "mask_ratio": "re-mask ratio m",
    "sample_temp": "sampling temperature τ1",
    "remask_temp": "re-masking temperature τ2",
    "guidance": "guidance scale w",
}


def _save(figure, path: Path) -> None:
    write_with_atomic(Path(path), lambda tmp: figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(figure)


def plot_trace(trace: dict[str, np.ndarray], path: Path, title: str, max_lines: int = 64) -> None:
    """One panel per plan value; a line per sample over the steps (cf. AdaNAT Fig. 3), for at most
    ``max_lines`` samples spread evenly over all of them (a run's first samples may share a class or
    a caption, and would not show the spread), and the mean over all samples."""
    figure, axes = plt.subplots(1, len(PLAN_LABELS), figsize=(4 * len(PLAN_LABELS), 3.2))
    for axis, (key, label) in zip(axes, PLAN_LABELS.items()):
        values = np.asarray(trace[key])  # (M, T)
        steps = np.arange(1, values.shape[1] + 1)
        for row in values[traced_rows(len(values), max_lines)]:
            axis.plot(steps, row, color="tab:blue", alpha=0.25, linewidth=1)
        axis.plot(steps, values.mean(axis=0), color="black", linewidth=2, label="mean")
        axis.set_title(label)
        axis.set_xlabel("step")
        axis.set_xticks(steps)
    axes[0].legend(loc="best")
    figure.suptitle(title, y=1.06)
    _save(figure, path)


def traced_rows(count: int, max_lines: int) -> np.ndarray:
    """At most ``max_lines`` indices spread evenly over ``count`` samples, first and last included."""
    return np.unique(np.linspace(0, count - 1, min(count, max_lines)).round().astype(int))


def plot_fid_vs_steps(series: dict[str, list[tuple[int, float]]], path: Path, title: str) -> None:
    figure, axis = plt.subplots(figsize=(7, 4))
    for name, points in sorted(series.items()):
        points = sorted(points)
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    axis.set_xlabel("steps T")
    axis.set_ylabel("FID")
    axis.set_xscale("log", base=2)
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=9)  # outside: never hides a line
    figure.tight_layout()
    _save(figure, path)


def plot_labelled_grid(rows: list[tuple[str, np.ndarray]], path: Path, title: str) -> None:
    """A row per label; each row's images (n, H, W, 3) uint8 side by side."""
    columns = max(len(images) for _, images in rows)
    figure, axes = plt.subplots(len(rows), 1, figsize=(1.1 * columns + 1.8, 1.25 * len(rows) + 0.4), squeeze=False)
    for axis, (label, images) in zip(axes[:, 0], rows):
        pad = np.full((images.shape[1], 2, 3), 255, dtype=np.uint8)
        strip = np.concatenate([np.concatenate([im, pad], axis=1) for im in images], axis=1)
        axis.imshow(strip, interpolation="nearest")
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    figure.suptitle(title)
    _save(figure, path)


def plot_tradeoff(rows: list[dict], path: Path, title: str) -> None:
    """FID against class accuracy (a text model's rows: against class and attribute agreement) and
    precision against recall, one panel each. Rows of one swept family (same ``scheduler``, several
    rows) are joined as a curve in the order of their swept value; every other row is a labelled point."""
    panels = [("class_accuracy", "fid", "class accuracy", "FID (lower is better)"),
              ("class_agreement", "fid", "class agreement with the caption", "FID (lower is better)"),
              ("attribute_agreement", "fid", "attribute agreement with the caption", "FID (lower is better)"),
              ("recall", "precision", "recall", "precision")]
    panels = [p for p in panels if any(r.get(p[0]) is not None and r.get(p[1]) is not None for r in rows)]
    if not panels:
        return
    figure, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels) + 2.2, 4.6), squeeze=False)
    families: dict[str, list[dict]] = {}
    for row in rows:
        families.setdefault(row["scheduler"], []).append(row)
    for axis, (x_key, y_key, x_label, y_label) in zip(axes[0], panels):
        for family, members in sorted(families.items()):
            members = [m for m in members if m.get(x_key) is not None and m.get(y_key) is not None]
            if not members:
                continue
            if len(members) > 1 and all(m.get("swept") for m in members):
                members = sorted(members, key=lambda m: tuple(str(v) if not isinstance(v, (int, float)) else v
                                                              for v in m["swept"].values()))
                swept = ", ".join(members[0]["swept"])
                line, = axis.plot([m[x_key] for m in members], [m[y_key] for m in members], marker="o",
                                  label=f"{family} ({swept} swept)")
                for m in members:
                    text = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in m["swept"].values())
                    axis.annotate(text, (m[x_key], m[y_key]), textcoords="offset points", xytext=(4, 4),
                                  fontsize=7, color=line.get_color())
            else:
                for m in members:
                    marker = "*" if m.get("adaptive") else "D"
                    axis.plot([m[x_key]], [m[y_key]], marker=marker, markersize=11 if marker == "*" else 7,
                              linestyle="none", label=m["label"])
        axis.set_xlabel(x_label)
        axis.set_ylabel(y_label)
        axis.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    axes[0][-1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    _save(figure, path)
