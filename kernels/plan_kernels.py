"""Fused kernels of the primal-dual planner (Numba; one threading runtime).

One iteration of lab's PDHG is two passes, each one sparse product fused with all
the elementwise work that reads its result:

* :func:`dual_pass` (over the rows of K): the Halpern or restart update of the dual
  iterate left over from the previous iteration, (Kz)ᵢ, the dual step with the
  closed-form proximal map of row i (lower bound, upper bound or harmony);
* :func:`primal_pass` (over the rows of Kᵀ, i.e. the columns of K): (Kᵀy)ⱼ, the
  Halpern or restart update of the primal iterate, and the projected primal step
  of the next iteration.

So every vector is read once per iteration, and the whole loop runs on Numba's
threads alone: no second thread pool (OpenMP) alternates with Numba's inside it.

Determinism: rows are cut into a fixed number of blocks (by non-zeros, from the
matrix alone); each block sums its part of every reduction in row order and the
parts are added in block order afterwards. Results are therefore identical bit for
bit whatever the thread count, and whether the serial (``*_serial``, cached) or the
parallel twin (``*_parallel``, not cached: STYLE) runs. No ``fastmath``.

Pure functions on raw CSR arrays (int32 or int64 indices), writing into
preallocated outputs; they return nothing but fill ``partial``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ._intrinsics import prefetch

__all__ = ["LOWER", "UPPER", "HARMONY", "HALPERN", "RESTART", "NONE", "blocks_of",
           "dual_pass_serial", "dual_pass_parallel", "primal_pass_serial",
           "primal_pass_parallel", "matvec_serial", "matvec_parallel"]

#: Row kinds of the dual step.
LOWER, UPPER, HARMONY = 0, 1, 2
#: Updates of the iterates between two steps.
NONE, HALPERN, RESTART = 0, 1, 2
#: Blocks a pass is cut into (fixed, so that reductions do not depend on the threads).
N_BLOCKS = 256
#: Rows are indexed with unsigned integers, like the CSR arrays (lab.planning._pdhg
#: passes unsigned views): Numba then drops its negative-index test from each access.
#: Unsigned arithmetic only (uint64 mixed with int64 becomes float64 in Numba).
_ONE = np.uint64(1)
#: Entries ahead whose vector entry a row's product prefetches (as the values kernels).
_AHEAD = np.uint64(64)


def blocks_of(indptr: np.ndarray) -> np.ndarray:
    """Block boundaries (rows) with about equal non-zeros + rows in each block."""
    rows = indptr.shape[0] - 1
    if rows == 0:
        return np.zeros(1, dtype=np.int64)
    work = indptr.astype(np.int64) + np.arange(rows + 1, dtype=np.int64)
    nb = min(N_BLOCKS, rows)
    cuts = np.searchsorted(work, np.linspace(0, work[-1], nb + 1)[1:-1], side="left")
    bounds = np.unique(np.concatenate([[0], cuts, [rows]])).astype(np.int64)
    return bounds


def _harmony_prox(b, t, w, sigma):
    """argmin_{n ≥ 0} −w·H((n − t)/t) + (σ/2)(n − b)² (see lab.planning._harmony.prox)."""
    if sigma * (t - b) * t < w:
        n = 0.5 * (b + math.sqrt(b * b + 4.0 * w / sigma))
    else:
        n = (sigma * b + 2.0 * w / t) / (sigma + w / (t * t))
    return n if n > 0.0 else 0.0


def _dual_pass(indptr, indices, data, z_new, y, y_new, Kz, Kz_new, anchor_y, anchor_Kz,
               bound, kind, h_t, h_w, h_d, sigma, pending, a, b, reflection, blocks,
               partial):
    """Per row i: apply the pending update to (yᵢ, (Kz)ᵢ), then (Kz_new)ᵢ = Kᵢ·z_new and
    y_newᵢ = prox(yᵢ + σ(2(Kz_new)ᵢ − (Kz)ᵢ)). ``partial[b]`` gets the block's
    Σ (y_new − y)² and Σ (y_new − anchor_y)².

    ``pending``: NONE, HALPERN (x ← a((1 + R)x_new − R·x) + b·anchor) or RESTART
    (x ← x_new, anchor ← x_new). ``kind[i]``: LOWER ((Kz)ᵢ ≥ boundᵢ), UPPER (≤) or
    HARMONY (a lower-bound row that also carries −w·H, target ``h_t[i]``, weight
    ``h_w[i]``, row scale ``h_d[i]``; its initial stock is −boundᵢ/h_d[i]).
    """
    g1 = 1.0 + reflection
    end = np.uint64(indptr[indptr.shape[0] - 1])
    for blk in numba.prange(blocks.shape[0] - 1):
        acc = 0.0
        acc_anchor = 0.0
        for i in range(np.uintp(blocks[blk]), np.uintp(blocks[blk + 1])):
            if pending == 1:
                y[i] = a * (g1 * y_new[i] - reflection * y[i]) + b * anchor_y[i]
                Kz[i] = a * (g1 * Kz_new[i] - reflection * Kz[i]) + b * anchor_Kz[i]
            elif pending == 2:
                y[i] = y_new[i]
                Kz[i] = Kz_new[i]
                anchor_y[i] = y_new[i]
                anchor_Kz[i] = Kz_new[i]
            s = 0.0
            for p in range(indptr[i], indptr[i + _ONE]):
                ahead = np.uint64(p) + _AHEAD
                if ahead < end:
                    prefetch(z_new, indices[ahead], 0)
                s += data[p] * z_new[indices[p]]
            Kz_new[i] = s
            v = y[i] + sigma * (2.0 * s - Kz[i])
            k = kind[i]
            if k == 0:
                r = v - sigma * bound[i]
                out = r if r < 0.0 else 0.0
            elif k == 1:
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
            diff = out - anchor_y[i]
            acc_anchor += diff * diff
        partial[blk, 0] = acc
        partial[blk, 1] = acc_anchor


def _primal_pass(indptr, indices, data, y_new, z, z_new, Kty, anchor_z, anchor_Kty, c, lo,
                 hi, tau, mode, a, b, reflection, blocks, partial):
    """Per column j (row j of Kᵀ): s = (Kᵀy_new)ⱼ; update (zⱼ, (Kᵀy)ⱼ) by ``mode``
    (HALPERN or RESTART, with s as the new (Kᵀy)ⱼ); then the next primal step
    z_newⱼ = clip(zⱼ − τ(cⱼ + (Kᵀy)ⱼ), loⱼ, hiⱼ). ``partial[b]`` gets the block's
    Σ (z_new − z)² and Σ (z_new − anchor_z)².
    """
    g1 = 1.0 + reflection
    end = np.uint64(indptr[indptr.shape[0] - 1])
    for blk in numba.prange(blocks.shape[0] - 1):
        acc = 0.0
        acc_anchor = 0.0
        for j in range(np.uintp(blocks[blk]), np.uintp(blocks[blk + 1])):
            s = 0.0
            for p in range(indptr[j], indptr[j + _ONE]):
                ahead = np.uint64(p) + _AHEAD
                if ahead < end:
                    prefetch(y_new, indices[ahead], 0)
                s += data[p] * y_new[indices[p]]
            if mode == 1:
                z[j] = a * (g1 * z_new[j] - reflection * z[j]) + b * anchor_z[j]
                Kty[j] = a * (g1 * s - reflection * Kty[j]) + b * anchor_Kty[j]
            else:
                z[j] = z_new[j]
                Kty[j] = s
                anchor_z[j] = z_new[j]
                anchor_Kty[j] = s
            v = z[j] - tau * (c[j] + Kty[j])
            if v < lo[j]:
                v = lo[j]
            elif v > hi[j]:
                v = hi[j]
            z_new[j] = v
            diff = v - z[j]
            acc += diff * diff
            diff = v - anchor_z[j]
            acc_anchor += diff * diff
        partial[blk, 0] = acc
        partial[blk, 1] = acc_anchor


def _matvec(indptr, indices, data, x, out, blocks):
    """out = M x for CSR M (row by row; blocks as in the passes)."""
    for blk in numba.prange(blocks.shape[0] - 1):
        for i in range(np.uintp(blocks[blk]), np.uintp(blocks[blk + 1])):
            s = 0.0
            for p in range(indptr[i], indptr[i + _ONE]):
                s += data[p] * x[indices[p]]
            out[i] = s


_inline = numba.njit(cache=True, error_model="numpy", inline="always")
_harmony_prox = _inline(_harmony_prox)
dual_pass_serial = numba.njit(cache=True, error_model="numpy")(_dual_pass)
dual_pass_parallel = numba.njit(parallel=True, error_model="numpy")(_dual_pass)
primal_pass_serial = numba.njit(cache=True, error_model="numpy")(_primal_pass)
primal_pass_parallel = numba.njit(parallel=True, error_model="numpy")(_primal_pass)
matvec_serial = numba.njit(cache=True, error_model="numpy")(_matvec)
matvec_parallel = numba.njit(parallel=True, error_model="numpy")(_matvec)
