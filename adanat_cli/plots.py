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
    """One panel per plan value; a line per sample over the steps (cf. AdaNAT Fig. 3)."""
    figure, axes = plt.subplots(1, len(PLAN_LABELS), figsize=(4 * len(PLAN_LABELS), 3.2))
    for axis, (key, label) in zip(axes, PLAN_LABELS.items()):
        values = np.asarray(trace[key])  # (M, T)
        steps = np.arange(1, values.shape[1] + 1)
        for row in values[:max_lines]:
            axis.plot(steps, row, color="tab:blue", alpha=0.25, linewidth=1)
        axis.plot(steps, values.mean(axis=0), color="black", linewidth=2, label="mean")
        axis.set_title(label)
        axis.set_xlabel("step")
        axis.set_xticks(steps)
    axes[0].legend(loc="best")
    figure.suptitle(title, y=1.06)
    _save(figure, path)


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
