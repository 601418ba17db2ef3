"""Restarted Halpern primal-dual hybrid gradient (PDHG) for the planning programmes.

Both programmes of MATH.md §3 are written as

    minimise  cᵀz + Σᵢ Fᵢ((Kz)ᵢ)   subject to  lo ≤ z ≤ hi,

with one row of K per product balance (``(Kz)ᵢ ≥ −s⁰ᵢ``), one per limited
resource (``(Kz)_q ≤ ρ_q``), and, in the harmony programme, the harmony of a
target product folded into its balance row: Fᵢ(u) = −wᵢ·H((s⁰ᵢ + u − tᵢ)/tᵢ) on
u ≥ −s⁰ᵢ. Every Fᵢ is separable and has a closed-form proximal map
(lab.planning._harmony.prox), so one iteration is one product with K, one with Kᵀ and
O(k + m) elementwise work: O(nnz), as the problem size demands.

The method (why this one)
-------------------------
* **PDHG** (Chambolle–Pock) is the first-order primal-dual method that needs
  nothing but products with K and Kᵀ; it is what PDLP and cuPDLP use for LPs
  of millions of variables, where factorisations (simplex, interior point)
  run out of memory or time.
* **Halpern iteration with reflection and restarts** (Lu & Yang's r²HPDHG, the
  scheme of cuPDLPx): z_{k+1} = (k+1)/(k+2)·(2T(z_k) − z_k) + z_0/(k+2), where T
  is one PDHG step. Anchoring at z_0 gives an O(1/k) rate for the fixed-point
  residual of any convex–concave problem, restarts (anchor reset when the
  residual has fallen enough) give linear convergence on LPs and on sharp
  problems such as the harmony programme with its polyhedral constraints.
* **Diagonal preconditioning**: Ruiz equilibration (10 passes of ∞-norm
  scaling) then Pock–Chambolle scaling (α = 1) of K, as in PDLP; the primal
  weight ω (τ = η/ω, σ = ηω) is re-balanced at every restart from how far the
  primal and dual iterates moved.
* **Primal scale**: the iterates are divided by β, the largest finite bound,
  and the harmony weights by β too, so that bounds are of order one and the
  dual keeps its scale.
* The method does not stop on its own residual: every few iterations (at
  least ``check_every``, more when a certificate is costly: at most
  ``CERTIFY_SHARE`` of the time) the caller's ``certify`` turns the current
  iterate into a feasible plan and a valid dual bound, and the loop stops when
  their gap is small enough. A returned plan is therefore proven, not estimated.
* The elementwise work of an iteration runs in fused Numba kernels
  (``lab._kernels.plan_kernels``); the two sparse products in lab's SpMV kernels.

What limits it: iterations grow with the conditioning of K (after scaling) and
with degeneracy. Measured: 64–1,856 iterations on the shipped national tables,
thousands to tens of thousands on generated problems with binding capacities,
where the primal converges long before the prices; each iteration costs two
sparse products, so time is iterations × 2 nnz.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lab import _ops

__all__ = ["StandardForm", "solve"]

#: Restart when the fixed-point residual fell to this fraction of its value at the
#: last restart (sufficient), or to ``NECESSARY`` and stopped falling, or after
#: ``ARTIFICIAL`` of all iterations so far (the constants of PDLP / cuPDLPx).
SUFFICIENT, NECESSARY, ARTIFICIAL = 0.2, 0.8, 0.36
#: Largest share of the run time spent on certificates (the check interval grows to keep it).
CERTIFY_SHARE = 0.2
#: Reflection of the Halpern step: z ← a·((1 + R)·T(z) − R·z) + (1 − a)·z₀.
REFLECTION = 1.0
#: Range of the primal weight ω.
OMEGA_RANGE = (1e-8, 1e8)


@dataclass
class StandardForm:
    """minimise cᵀz + Σ Fᵢ((Kz)ᵢ), lo ≤ z ≤ hi (unscaled).

    Rows ``lower`` (bool mask) require (Kz)ᵢ ≥ bound[i]; the others (Kz)ᵢ ≤ bound[i].
    ``harmony_rows`` (indices) carry −wᵢ·h((Kz)ᵢ − bound[i]) with target tᵢ, on top of
    their lower bound (for them ``bound[i] = −s⁰ᵢ``).
    """

    K: sp.csr_array
    c: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    bound: np.ndarray
    lower: np.ndarray
    harmony_rows: np.ndarray
    harmony_t: np.ndarray
    harmony_w: np.ndarray


def _scaling(K: sp.csr_array, passes: int = 10):
    """Row and column scalings d_r, d_c with d_r·K·d_c equilibrated (Ruiz, then Pock–Chambolle)."""
    d_r = np.ones(K.shape[0])
    d_c = np.ones(K.shape[1])
    absK = abs(K).tocsr()
    for _ in range(passes):
        M = sp.diags_array(d_r) @ absK @ sp.diags_array(d_c)
        rmax = np.asarray(M.max(axis=1).toarray()).ravel()
        cmax = np.asarray(M.max(axis=0).toarray()).ravel()
        d_r /= np.sqrt(np.where(rmax > 0, rmax, 1.0))
        d_c /= np.sqrt(np.where(cmax > 0, cmax, 1.0))
    M = sp.diags_array(d_r) @ absK @ sp.diags_array(d_c)
    rsum = np.asarray(M.sum(axis=1)).ravel()
    csum = np.asarray(M.sum(axis=0)).ravel()
    d_r /= np.sqrt(np.where(rsum > 0, rsum, 1.0))
    d_c /= np.sqrt(np.where(csum > 0, csum, 1.0))
    return d_r, d_c


class _Operator:
    """K and Kᵀ products on lab's kernels (CSR arrays of K and of Kᵀ)."""

    #: Below this many non-zeros a product is too short to pay for waking threads.
    SMALL = 200_000

    def __init__(self, K: sp.csr_array, backend: str):
        self.kern = _ops.kernels(backend)
        self.shape = K.shape
        self.small = K.nnz < self.SMALL
        self.fwd = _ops.csr_arrays(K)
        self.adj = _ops.csr_arrays(sp.csr_array(K.T))
        if self.small:
            self.K, self.KT = K, sp.csr_array(K.T)

    def matvec(self, x, out):
        if self.small:
            out[:] = self.K @ x
        else:
            self.kern.csr_matvec(*self.fwd, x, out)
        return out

    def rmatvec(self, y, out):
        if self.small:
            out[:] = self.KT @ y
        else:
            self.kern.csr_matvec(*self.adj, y, out)
        return out

    def norm_estimate(self, iterations: int = 40, seed: int = 0) -> float:
        """‖K‖₂ by power iteration on KᵀK (a lower bound that converges from below)."""
        rng = np.random.default_rng(seed)
        x = rng.random(self.shape[1]) + 0.5
        u = np.empty(self.shape[0])
        v = np.empty(self.shape[1])
        est = 0.0
        for _ in range(iterations):
            nx = np.linalg.norm(x)
            if nx == 0:
                return 0.0
            x /= nx
            self.matvec(x, u)
            self.rmatvec(u, v)
            est = math.sqrt(float(np.dot(x, v)))
            x, v = v, x
        return est


@dataclass
class Outcome:
    z: np.ndarray
    y: np.ndarray
    iterations: int
    restarts: int
    stopped: str  # "certified", "maxiter", "diverged", "callback"
    certificate: object
    history: list


def solve(form: StandardForm, *, certify: Callable, tol: float, maxiter: int,
          backend: str, z0=None, check_every: int = 64, callback=None,
          time_limit: float | None = None) -> Outcome:
    """Run restarted Halpern PDHG until ``certify(z, y)`` reports a gap ≤ ``tol``.

    ``certify(z, y)`` gets unscaled primal and dual iterates (y ≤ 0 on lower-bound
    rows, ≥ 0 on upper-bound rows) and returns ``(relative_gap, certificate)``.
    The best certificate seen is returned.
    """
    from lab._kernels import plan_kernels  # Numba: imported when a plan is solved

    t_start = time.perf_counter()
    d_r, d_c = _scaling(form.K)
    Ks = sp.csr_array(sp.diags_array(d_r) @ form.K @ sp.diags_array(d_c))
    op = _Operator(Ks, backend)
    m_rows, n_z = Ks.shape
    c = form.c * d_c
    # Primal scale β: the problem in z/β has bounds of order one. The objective is
    # divided by β too (harmony weights w/β), so the dual iterates keep their scale.
    finite = np.concatenate([form.bound[np.isfinite(form.bound)], form.hi[np.isfinite(form.hi)]])
    beta = float(np.max(np.abs(finite))) if finite.size else 1.0
    beta = beta if beta > 0 else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.where(np.isfinite(form.lo), form.lo / (d_c * beta), form.lo)
        hi = np.where(np.isfinite(form.hi), form.hi / (d_c * beta), form.hi)
    bound = form.bound * d_r / beta
    kind = np.where(form.lower, plan_kernels.LOWER, plan_kernels.UPPER).astype(np.int8)
    kind[form.harmony_rows] = plan_kernels.HARMONY
    h_t = np.zeros(m_rows)
    h_w = np.zeros(m_rows)
    h_t[form.harmony_rows] = form.harmony_t / beta
    h_w[form.harmony_rows] = form.harmony_w / beta
    h_d = d_r

    eta = 0.95 / max(op.norm_estimate() * 1.02, 1e-300)
    omega = 1.0
    if np.any(c):
        rhs = np.where(np.isfinite(bound), bound, 0.0)
        nb = np.linalg.norm(rhs)
        if nb > 0:
            omega = float(np.linalg.norm(c) / nb)
    omega = min(max(omega, 1e-4), 1e4)

    z = np.zeros(n_z) if z0 is None else np.clip(np.asarray(z0, float) / (d_c * beta), lo, hi)
    y = np.zeros(m_rows)
    Kz = op.matvec(z, np.empty(m_rows))
    Kty = np.zeros(n_z)
    anchor = [z.copy(), y.copy(), Kz.copy(), Kty.copy()]
    z_new = np.empty(n_z)
    y_new = np.empty(m_rows)
    Kz_new = np.empty(m_rows)
    Kty_new = np.empty(n_z)
    k = 0
    r_restart = None
    r_prev = math.inf
    restarts = 0
    best = (math.inf, None, None, None)
    history = []
    total = 0
    next_check = check_every
    cert_seconds = 0.0
    stopped = "maxiter"
    while total < maxiter:
        tau, sigma = eta / omega, eta * omega
        dz2 = plan_kernels.primal_step(z, Kty, c, lo, hi, tau, z_new)
        op.matvec(z_new, Kz_new)
        dy2 = plan_kernels.dual_step(y, Kz_new, Kz, bound, kind, h_t, h_w, h_d, sigma, y_new)
        op.rmatvec(y_new, Kty_new)
        r = math.sqrt(omega * dz2 + dy2 / omega)
        total += 1
        if not math.isfinite(r):
            stopped = "diverged"
            break
        if callback is not None and total % check_every == 0 and callback(total, r) is False:
            stopped = "callback"
        if total >= next_check or total == maxiter or stopped == "callback":
            t_cert = time.perf_counter()
            gap, cert = certify(z_new * d_c * beta, y_new * d_r)
            t_now = time.perf_counter()
            cert_seconds += t_now - t_cert
            # certificates may take at most CERTIFY_SHARE of the time
            per_iteration = max(t_now - t_start - cert_seconds, 1e-9) / total
            interval = max(check_every, int(cert_seconds / max(1, len(history) + 1)
                                            / (CERTIFY_SHARE * per_iteration)))
            next_check = total + interval
            history.append((total, gap))
            if gap < best[0] or best[1] is None:
                best = (gap, cert, z_new * d_c * beta, y_new * d_r)
            if gap <= tol:
                stopped = "certified"
                break
            if stopped == "callback":
                break
            if time_limit is not None and time.perf_counter() - t_start > time_limit:
                stopped = "time"
                break
        if r_restart is None:
            r_restart = r
        restart = (r <= SUFFICIENT * r_restart
                   or (r <= NECESSARY * r_restart and r > r_prev)
                   or k >= ARTIFICIAL * total)
        r_prev = r
        if restart and k > 0:
            dzr = float(np.linalg.norm(z_new - anchor[0]))
            dyr = float(np.linalg.norm(y_new - anchor[1]))
            if dzr > 1e-30 and dyr > 1e-30:
                omega = math.exp(0.5 * math.log(dyr / dzr) + 0.5 * math.log(omega))
                omega = min(max(omega, OMEGA_RANGE[0]), OMEGA_RANGE[1])
            for current, new, kept in zip((z, y, Kz, Kty), (z_new, y_new, Kz_new, Kty_new),
                                          anchor, strict=True):
                current[:] = new
                kept[:] = new
            k = 0
            r_restart = None
            r_prev = math.inf
            restarts += 1
            continue
        a = (k + 1.0) / (k + 2.0)
        b = 1.0 / (k + 2.0)
        plan_kernels.halpern(z, z_new, anchor[0], a, b, REFLECTION)
        plan_kernels.halpern(y, y_new, anchor[1], a, b, REFLECTION)
        plan_kernels.halpern(Kz, Kz_new, anchor[2], a, b, REFLECTION)
        plan_kernels.halpern(Kty, Kty_new, anchor[3], a, b, REFLECTION)
        k += 1
    gap, cert, zb, yb = best
    if cert is None:
        zb, yb = z_new * d_c * beta, y_new * d_r
    return Outcome(z=zb, y=yb, iterations=total, restarts=restarts, stopped=stopped,
                   certificate=cert, history=history)
