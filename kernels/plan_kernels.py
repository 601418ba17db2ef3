"""Fused elementwise kernels of the primal-dual planner (Numba, serial, cached).

One iteration of lab's PDHG is two sparse products (lab's SpMV kernels, either
backend) and the elementwise work below: the projected primal step, the dual
step with the closed-form proximal map of each row (lower bound, upper bound or
harmony), and the Halpern averaging. Fusing them reads every vector once per
iteration instead of once per NumPy operation. Pure functions on arrays,
writing into preallocated outputs; they return only scalars.
"""

from __future__ import annotations

import math

import numba

__all__ = ["primal_step", "dual_step", "halpern"]

#: Row kinds of the dual step.
LOWER, UPPER, HARMONY = 0, 1, 2


@numba.njit(cache=True, error_model="numpy")
def primal_step(z, Kty, c, lo, hi, tau, z_new):
    """z_new = clip(z − τ(c + Kᵀy), lo, hi); returns Σ (z_new − z)²."""
    acc = 0.0
    for j in range(z.shape[0]):
        v = z[j] - tau * (c[j] + Kty[j])
        if v < lo[j]:
            v = lo[j]
        elif v > hi[j]:
            v = hi[j]
        z_new[j] = v
        d = v - z[j]
        acc += d * d
    return acc


@numba.njit(cache=True, error_model="numpy")
def _harmony_prox(b, t, w, sigma):
    """argmin_{n ≥ 0} −w·H((n − t)/t) + (σ/2)(n − b)² (see lab.planning._harmony.prox)."""
    if sigma * (t - b) * t < w:
        n = 0.5 * (b + math.sqrt(b * b + 4.0 * w / sigma))
    else:
        n = (sigma * b + 2.0 * w / t) / (sigma + w / (t * t))
    return n if n > 0.0 else 0.0


@numba.njit(cache=True, error_model="numpy")
def dual_step(y, Kz_new, Kz, bound, kind, h_t, h_w, h_d, sigma, y_new):
    """Dual step v = y + σ(2Kz_new − Kz), then the proximal map of each row's F*.

    ``kind[i]`` is LOWER ((Kz)ᵢ ≥ boundᵢ), UPPER ((Kz)ᵢ ≤ boundᵢ) or HARMONY (a
    lower-bound row that also carries −w·H, with target ``h_t[i]``, weight
    ``h_w[i]`` and row scale ``h_d[i]``; its initial stock is −boundᵢ/h_d[i]).
    Returns Σ (y_new − y)².
    """
    acc = 0.0
    for i in range(y.shape[0]):
        v = y[i] + sigma * (2.0 * Kz_new[i] - Kz[i])
        k = kind[i]
        if k == LOWER:
            r = v - sigma * bound[i]
            out = r if r < 0.0 else 0.0
        elif k == UPPER:
            r = v - sigma * bound[i]
            out = r if r > 0.0 else 0.0
        else:
            d = h_d[i]
            s0 = -bound[i] / d
            n = _harmony_prox(v / (sigma * d) + s0, h_t[i], h_w[i], sigma * d * d)
            out = v - sigma * d * (n - s0)
        y_new[i] = out
        diff = out - y[i]
        acc += diff * diff
    return acc


@numba.njit(cache=True, error_model="numpy")
def halpern(x, x_new, anchor, a, b, reflection):
    """x ← a·((1 + R)·x_new − R·x) + b·anchor, in place."""
    g1 = 1.0 + reflection
    for i in range(x.shape[0]):
        x[i] = a * (g1 * x_new[i] - reflection * x[i]) + b * anchor[i]
