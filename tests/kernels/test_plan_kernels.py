"""The fused dual of harmony (the kernels' ``harmony_dual``, both backends) against
lab.planning._harmony's vectorised closed forms, evaluated independently with NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from lab import _ops
from lab.planning import _harmony


@pytest.fixture
def kern(backend):
    return _ops.kernels(backend)


def _reference(V, lam, t, w, rho):
    p = lam @ V
    conj = _harmony.conjugate(p, t, w)
    y = _harmony.best_response(np.maximum(p, 0.0), t, w)
    return float(np.sum(conj) + lam @ rho), rho - V @ np.where(w > 0, y, 0.0)


def _economy(seed, T, r=3):
    rng = np.random.default_rng(seed)
    V = rng.uniform(0.0, 1.0, (r, T)) * (rng.random((r, T)) < 0.8)
    V[0] += 1e-3  # every target uses the first resource: p > 0 for λ > 0
    t = rng.lognormal(0.0, 2.0, T)
    w = rng.uniform(0.0, 2.0, T) * (rng.random(T) < 0.9)
    rho = rng.uniform(1.0, 5.0, r)
    return V, t, w, rho, rng.uniform(0.1, 1.0, r)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("scale", [1e-4, 0.05, 1.0, 30.0, 1e4])
def test_harmony_dual_matches_closed_forms(kern, seed, scale):
    V, t, w, rho, lam = _economy(seed, 4000)
    lam = lam * scale
    grad = np.empty(3)
    value = kern.harmony_dual(V, lam, t, w, rho, grad)
    expected, expected_grad = _reference(V, lam, t, w, rho)
    # every branch of H is reached across the scales
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-9)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-11, atol=1e-9 * np.abs(rho).max())


def test_harmony_dual_in_chunks_same_bits_on_any_threads_and_backend():
    # 40,000 targets: the call is cut into chunks, summed in chunk order
    V, t, w, rho, lam = _economy(7, 40_000)
    expected, expected_grad = _reference(V, lam, t, w, rho)
    results = []
    for backend in _ops.available_backends():
        kern = _ops.kernels(backend)
        for n_threads in (1, 2, 1, 2):
            grad = np.empty(3)
            with _ops.thread_limit(n_threads, backend):
                value = kern.harmony_dual(V, lam, t, w, rho, grad)
            results.append((value, *grad))
    assert len(set(results)) == 1
    assert results[0][0] == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(results[0][1:], expected_grad, rtol=1e-11)


@pytest.mark.parametrize("T", [2, 40_000])
def test_harmony_dual_infinite_where_a_wanted_target_is_free(kern, T):
    # the target at T // 2 is wanted, and free at these prices (it uses resource 0 only,
    # priced 0): the dual is infinite and falls along resource 0, whichever chunk holds it
    V = np.zeros((2, T))
    V[1] = 1.0
    free = T // 2
    V[:, free] = [1.0, 0.0]
    lam = np.array([0.0, 1.0])
    grad = np.empty(2)
    value = kern.harmony_dual(V, lam, np.ones(T), np.ones(T), np.ones(2), grad)
    assert value == np.inf
    assert grad[0] == -np.inf
    # a target without weight costs nothing and changes nothing
    w = np.ones(T)
    w[free] = 0.0
    value = kern.harmony_dual(V, lam, np.ones(T), w, np.ones(2), grad)
    assert np.isfinite(value)
    expected, expected_grad = _reference(V, lam, np.ones(T), w, np.ones(2))
    assert value == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12)


def test_harmony_dual_checks_lengths(kern):
    V = np.ones((2, 5))
    with pytest.raises(ValueError):
        kern.harmony_dual(V, np.ones(3), np.ones(5), np.ones(5), np.ones(2), np.empty(2))
    with pytest.raises(ValueError):
        kern.harmony_dual(V, np.ones(2), np.ones(4), np.ones(5), np.ones(2), np.empty(2))
