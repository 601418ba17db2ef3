"""The fused dual of harmony (plan_kernels.harmony_dual) against lab.planning._harmony's
vectorised closed forms, evaluated independently with NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from lab._kernels import plan_kernels as pk

from lab.planning import _harmony


def _reference(V, lam, t, w, rho):
    p = lam @ V
    conj = _harmony.conjugate(p, t, w)
    y = _harmony.best_response(np.maximum(p, 0.0), t, w)
    return float(np.sum(conj) + lam @ rho), rho - V @ np.where(w > 0, y, 0.0)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("scale", [1e-4, 0.05, 1.0, 30.0, 1e4])
def test_harmony_dual_matches_closed_forms(seed, scale):
    rng = np.random.default_rng(seed)
    r, T = 3, 4000
    V = rng.uniform(0.0, 1.0, (r, T)) * (rng.random((r, T)) < 0.8)
    V[0] += 1e-3  # every target uses the first resource: p > 0 for λ > 0
    t = rng.lognormal(0.0, 2.0, T)
    w = rng.uniform(0.0, 2.0, T) * (rng.random(T) < 0.9)
    rho = rng.uniform(1.0, 5.0, r)
    lam = rng.uniform(0.1, 1.0, r) * scale
    grad = np.empty(r)
    value = pk.harmony_dual(V, lam, t, w, rho, grad)
    expected, expected_grad = _reference(V, lam, t, w, rho)
    # every branch of H is reached across the scales
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-9)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-11, atol=1e-9 * np.abs(rho).max())


def test_harmony_dual_infinite_where_a_wanted_target_is_free():
    V = np.array([[1.0, 0.0], [0.0, 0.0]])
    grad = np.empty(2)
    value = pk.harmony_dual(V, np.array([1.0, 1.0]), np.ones(2), np.ones(2), np.ones(2), grad)
    assert value == np.inf
    # a target without weight costs nothing and changes nothing
    value = pk.harmony_dual(V, np.array([1.0, 1.0]), np.ones(2), np.array([1.0, 0.0]),
                            np.ones(2), grad)
    assert np.isfinite(value)
    np.testing.assert_allclose(grad, [1.0 - 1.0, 1.0])
