"""Fréchet distance: zero against itself, a hand-computed float64 reference, symmetry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adanat_cli.metrics.frechet import feature_stats, frechet_distance


def _random_cov(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def _reference(mu1, s1, mu2, s2) -> float:
    """tr sqrt(S1 S2) from the eigenvalues of the (non-symmetric) product, in float64."""
    eig = np.linalg.eigvals(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(eig).real.sum())


def test_distance_of_a_set_to_itself_is_zero():
    feats = np.random.default_rng(0).standard_normal((500, 16))
    mu, sigma = feature_stats(feats)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8


def test_matches_hand_computed_reference_for_small_covariances():
    rng = np.random.default_rng(1)
    for d in (1, 2, 5):
        mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
        s1, s2 = _random_cov(rng, d), _random_cov(rng, d)
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_reference(mu1, s1, mu2, s2), rel=1e-9, abs=1e-10)


def test_one_dimensional_closed_form():
    # (m1 - m2)^2 + (s1 - s2)^2 for variances s1^2, s2^2
    assert frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(9.0 + 1.0, abs=1e-12)


def test_symmetric_and_accepts_tensors():
    rng = np.random.default_rng(2)
    mu1, mu2 = rng.standard_normal(8), rng.standard_normal(8)
    s1, s2 = _random_cov(rng, 8), _random_cov(rng, 8)
    forward = frechet_distance(mu1, s1, mu2, s2)
    backward = frechet_distance(torch.from_numpy(mu2), torch.from_numpy(s2), mu1, s1)
    assert forward == pytest.approx(backward, rel=1e-10)
    assert forward > 0


def test_feature_stats_float64_unbiased():
    feats = torch.randn(100, 4, dtype=torch.float32)
    mu, sigma = feature_stats(feats)
    assert mu.dtype == np.float64 and sigma.dtype == np.float64 and sigma.shape == (4, 4)
    np.testing.assert_allclose(sigma, np.cov(feats.double().numpy(), rowvar=False), rtol=1e-12)


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
