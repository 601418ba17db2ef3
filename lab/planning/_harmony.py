"""Cockshott's harmony function and the pieces of it the planners need (MATH.md §3).

For a product with target t > 0 and weight w, write h(n) = H((n − t)/t) for its
harmony as a function of net output n. Everything here is vectorised over
products and is exact (closed forms, no iteration):

* :func:`harmony` — H(s) = s − s²/2 for s < 0, ln(1 + s) for s ≥ 0;
* :func:`harmony_of` — h(n) = H((n − t)/t), also where n/t overflows;
* :func:`marginal` — dH/dn = (1 − s)/t for s < 0, 1/n for s ≥ 0;
* :func:`prox` — argmin over n ≥ 0 of −w·h(n) + (σ/2)(n − b)², the proximal map
  the primal-dual method applies to the target rows;
* :func:`best_response` and :func:`conjugate` — the net output that maximises
  w·h(n) − p·n at price p, and that maximum: the dual function of the harmony
  programme is a sum of these, which gives the certified upper bound.
"""

from __future__ import annotations

import numpy as np

__all__ = ["harmony", "harmony_of", "marginal", "prox", "best_response", "conjugate"]


def harmony(s: np.ndarray) -> np.ndarray:
    """H(s), elementwise. ``s ≥ −1`` in any plan (net output ≥ 0)."""
    s = np.asarray(s, dtype=np.float64)
    neg = s < 0
    out = np.empty_like(s)
    out[neg] = s[neg] - 0.5 * s[neg] ** 2
    out[~neg] = np.log1p(s[~neg])
    return out


def harmony_of(n: np.ndarray, t: np.ndarray) -> np.ndarray:
    """H((n − t)/t), elementwise, also where n/t overflows (a surplus far beyond a tiny
    target: ln(1 + s) is then ln n − ln t, which is finite)."""
    n = np.asarray(n, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        s = (n - t) / t
        out = harmony(np.where(np.isfinite(s), s, 0.0))
        huge = ~np.isfinite(s) & (n > t)
        if huge.any():
            out = np.where(huge, np.log(np.where(huge, n, 1.0)) - np.log(np.where(huge, t, 1.0)),
                           out)
    return out


def marginal(n: np.ndarray, t: np.ndarray) -> np.ndarray:
    """dH((n − t)/t)/dn, elementwise (n ≥ 0, t > 0)."""
    s = (n - t) / t
    with np.errstate(divide="ignore"):
        return np.where(s < 0, (1.0 - s) / t, 1.0 / np.maximum(n, t))


def prox(b: np.ndarray, t: np.ndarray, w: np.ndarray, sigma) -> np.ndarray:
    """argmin_{n ≥ 0} −w·h(n) + (σ/2)(n − b)², elementwise; σ may be a vector.

    The function is convex and C¹, so the branch is decided by the sign of its
    derivative at n = t: −w/t + σ(t − b).
    """
    sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), b.shape)
    upper = sigma * (t - b) * t < w  # derivative at n = t is negative: n* > t
    # log branch: −w/n + σ(n − b) = 0
    n_log = 0.5 * (b + np.sqrt(b * b + 4.0 * w / sigma))
    # quadratic branch: −w(2t − n)/t² + σ(n − b) = 0
    n_quad = (sigma * b + 2.0 * w / t) / (sigma + w / (t * t))
    return np.maximum(np.where(upper, n_log, n_quad), 0.0)


def best_response(p: np.ndarray, t: np.ndarray, w: np.ndarray) -> np.ndarray:
    """argmax_{n ≥ 0} w·h(n) − p·n for prices p > 0 (w ≥ 0, t > 0), elementwise."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q = np.where(w > 0, p / np.where(w > 0, w, 1.0), np.inf)  # h'(n*) = p/w
        n = np.where(q * t <= 1.0, 1.0 / q, t * (2.0 - q * t))
        return np.where(q * t >= 2.0, 0.0, n)


def conjugate(p: np.ndarray, t: np.ndarray, w: np.ndarray) -> np.ndarray:
    """max_{n ≥ 0} w·h(n) − p·n, elementwise; ``inf`` where p ≤ 0 < w."""
    p = np.asarray(p, dtype=np.float64)
    n = best_response(np.maximum(p, 0.0), t, w)
    with np.errstate(invalid="ignore", over="ignore"):
        value = w * harmony_of(n, t) - p * n
    value = np.where(w > 0, value, np.where(p >= 0, 0.0, np.inf))
    return np.where((p <= 0) & (w > 0), np.inf, value)
