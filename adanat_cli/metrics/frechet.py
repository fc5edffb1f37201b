"""Fréchet distance between two Gaussians fitted to feature sets (the "F" of FID), in float64.

d² = ||mu1 - mu2||² + tr(S1) + tr(S2) - 2 tr((S1 S2)^½). The trace of the matrix square root is
computed without scipy, through symmetric eigen-decompositions: with R = S1^½ (S1 is PSD),
tr((S1 S2)^½) = tr((R S2 R)^½) = sum of sqrt(eigenvalues of the symmetric PSD matrix R S2 R), since
S1 S2 and R S2 R are similar. Tiny negative eigenvalues from rounding are clipped to zero, which is
the real-valued counterpart of dropping sqrtm's tiny imaginary parts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor


def _as_float64(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    vals, vecs = np.linalg.eigh((m + m.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def feature_stats(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """features (M, D) -> (mu (D,), sigma (D, D)) in float64; sigma is the unbiased covariance."""
    f = _as_float64(features)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"feature_stats needs a (M >= 2, D) array, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), computed in float64."""
    mu1, mu2 = _as_float64(mu1), _as_float64(mu2)
    s1, s2 = np.atleast_2d(_as_float64(sigma1)), np.atleast_2d(_as_float64(sigma2))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.shape[0], mu1.shape[0]):
        raise ValueError(f"mismatched statistics: mu {mu1.shape}/{mu2.shape}, sigma {s1.shape}/{s2.shape}")
    root1 = _sqrt_psd(s1)
    inner = root1 @ s2 @ root1  # (D, D), similar to s1 @ s2
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


@dataclass
class FeatureSet:
    """Statistics of one image set; ``features`` is None when only (mu, sigma) are known."""

    source: str
    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray | None = None
    count: int = 0

    @classmethod
    def from_features(cls, source: str, features: np.ndarray) -> "FeatureSet":
        mu, sigma = feature_stats(features)
        return cls(source, mu, sigma, features, len(features))
