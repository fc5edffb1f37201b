"""Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019) with k-NN manifolds.

Each set's manifold is the union of balls around its points whose radius is the distance to the
point's k-th nearest neighbour in the same set. Precision = share of generated points inside the
real manifold; recall = share of real points inside the generated manifold.
"""

from __future__ import annotations

import numpy as np
import torch


def _kth_neighbour_radius(points: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    radii = []
    for lo in range(0, len(points), chunk):
        d = torch.cdist(points[lo : lo + chunk], points)  # (c, M)
        radii.append(d.kthvalue(k + 1, dim=1).values)  # +1: the point itself is at distance 0
    return torch.cat(radii)


def _inside(queries: torch.Tensor, points: torch.Tensor, radii: torch.Tensor, chunk: int) -> torch.Tensor:
    hits = []
    for lo in range(0, len(queries), chunk):
        d = torch.cdist(queries[lo : lo + chunk], points)  # (c, M)
        hits.append((d <= radii[None, :]).any(dim=1))
    return torch.cat(hits)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3, chunk: int = 1024) -> tuple[float, float]:
    """(precision, recall) of ``fake`` against ``real`` features, both (M, D)."""
    if len(real) <= k or len(fake) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} points per set")
    r = torch.as_tensor(np.asarray(real), dtype=torch.float64)
    f = torch.as_tensor(np.asarray(fake), dtype=torch.float64)
    precision = _inside(f, r, _kth_neighbour_radius(r, k, chunk), chunk).double().mean().item()
    recall = _inside(r, f, _kth_neighbour_radius(f, k, chunk), chunk).double().mean().item()
    return precision, recall
