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
  scaling) then Pock–Chambolle scaling (α = 1) of K, as in PDLP, on K already put
  in the units of a reference plan's flows where the caller gives them
  (``StandardForm.prescale``); the primal
  weight ω (τ = η/ω, σ = ηω) is re-balanced at every restart from how far the
  primal and dual iterates moved (not once one of them is still: ``STILL``).
* **Primal scale**: the iterates are divided by β, the largest finite bound,
  and the harmony weights by β too, so that bounds are of order one and the
  dual keeps its scale.
* The method does not stop on its own residual: every few iterations (at
  least ``check_every``, at least ``CERTIFY_SHARE`` of the iterations so far, and
  after a costly certificate at least its own work over ``CERTIFY_WORK``: rules on
  counts, never on the clock) the caller's ``certify`` turns the current iterate into
  a feasible plan and a valid dual bound, and the loop stops when the gap between the
  best plan and the best bound seen is small enough. A returned plan is therefore
  proven, not estimated.
* One iteration is two fused passes (``lab._kernels.plan_kernels``): each sparse
  product is computed row by row together with all the elementwise work that reads
  it, in Numba alone, so one threading runtime serves the whole loop (no OpenMP team
  alternating with Numba's). Rows are cut into fixed blocks, so every reduction adds
  the same numbers in the same order at any thread count: identical calls give
  identical iterates, bit for bit.

What limits it: iterations grow with the conditioning of K (after scaling) and
with degeneracy. Measured: 64–1,856 iterations on the shipped national tables,
thousands to tens of thousands on generated problems with binding capacities,
where the primal converges long before the prices; each iteration costs two
sparse products, so time is iterations × 2 nnz. Plan rays with technique choice and
capacities on 30 % of the techniques are the other way round: at 10⁴ products the
bound was within 1e-8 of the optimum after about a fifth of the 184,050 iterations
that certified the gap, while the iterates met their targets unevenly (ratios 1.04 to
1.11 against φ* = 1.058); plans rebalanced on their makers at the certificates
(:func:`lab.planning._certificate.rebalance`) certified it in 35,386.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lab import _ops
from lab.planning._certificate import dot

__all__ = ["StandardForm", "solve"]

#: Restart when the fixed-point residual fell to this fraction of its value at the
#: last restart (sufficient), or to ``NECESSARY`` and stopped falling, or after
#: ``ARTIFICIAL`` of all iterations so far (the constants of PDLP / cuPDLPx).
SUFFICIENT, NECESSARY, ARTIFICIAL = 0.2, 0.8, 0.36
#: Certificates come every ``check_every`` iterations, and at most every this share of
#: the iterations so far (a rule on the count, never on the clock or on rounding-
#: sensitive quantities, so that identical problems in any units take the same steps).
CERTIFY_SHARE = 0.125
#: ... and no sooner than the last certificate's work (in iterations' worth of sparse
#: products, as ``certify`` reports it) divided by this: certificates then take at most
#: about a fifth of the run. Where repairs take their 2,000 rounds (10⁴ products with
#: technique choice and capacities: 2.5 s a certificate against 0.57 ms an iteration)
#: they had taken 28 of 30 seconds.
CERTIFY_WORK = 0.25
#: Work below this many iterations is not given room: the price sweeps (up to 60) and
#: a few repair rounds vary with rounding, which must not move the steps (the shipped
#: tables' unit test caught plans 6e-7 apart when every certificate got room). Above
#: it, the room is rounded up to a power of two, so rounding moves the steps only
#: where a costly certificate's work lies at such a boundary.
COSTLY_CERTIFICATE = 512
#: Reflection of the Halpern step: z ← a·((1 + R)·T(z) − R·z) + (1 − a)·z₀.
REFLECTION = 1.0
#: Range of the primal weight ω.
OMEGA_RANGE = (1e-8, 1e8)
#: ω is re-balanced only when both iterates moved by more than this fraction of their
#: size since the last restart (four orders of magnitude above rounding). Once the
#: primal is exact (a square plan ray's plan is from a few thousand iterations on) its
#: movement is rounding, the ratio of movements grows without bound, and so did ω: 10⁷
#: at 10⁴ products, where the primal step (η/ω) froze the plan, the fixed-point
#: residual (which weighs the dual's movement by 1/ω) stopped seeing the prices, and
#: the plan ray was not certified in 130 s (2,655 iterations, 1.9 s, with this rule).
#: Larger thresholds (1e-8) cut some ω growth that multi-year plans need.
STILL = 1e-12


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
    #: Row and column factors applied before equilibration (the flows of a reference
    #: plan, :func:`lab.planning._scale.flow_scaling`), or None.
    prescale: tuple[np.ndarray, np.ndarray] | None = None


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


def _unsigned(arrays):
    indptr, indices, data = arrays
    kind = np.uint32 if indices.dtype == np.int32 else np.uint64
    return indptr.view(kind), indices.view(kind), data


class _Operator:
    """K and Kᵀ as raw CSR arrays, with the block boundaries of the fused passes."""

    #: Below this many non-zeros a pass is too short to pay for waking threads.
    SMALL = 200_000

    def __init__(self, K: sp.csr_array, n_threads: int):
        from lab._kernels import plan_kernels as pk

        self.pk = pk
        self.shape = K.shape
        # unsigned views of the (non-negative) indices: Numba then drops the negative-index
        # wraparound test from every access, which made its SpMV 1.5x slower than scipy's
        self.fwd = _unsigned(_ops.csr_arrays(K))
        self.adj = _unsigned(_ops.csr_arrays(sp.csr_array(K.T)))
        self.fwd_blocks = pk.blocks_of(self.fwd[0])
        self.adj_blocks = pk.blocks_of(self.adj[0])
        parallel = n_threads > 1 and K.nnz >= self.SMALL
        self.dual_pass = pk.dual_pass_parallel if parallel else pk.dual_pass_serial
        self.primal_pass = pk.primal_pass_parallel if parallel else pk.primal_pass_serial
        self._matvec = pk.matvec_parallel if parallel else pk.matvec_serial

    def matvec(self, x, out):
        self._matvec(*self.fwd, x, out, self.fwd_blocks)
        return out

    def rmatvec(self, y, out):
        self._matvec(*self.adj, y, out, self.adj_blocks)
        return out

    def norm_estimate(self, iterations: int = 40, seed: int = 0) -> float:
        """‖K‖₂ by power iteration on KᵀK (a lower bound that converges from below)."""
        rng = np.random.default_rng(seed)
        x = rng.random(self.shape[1]) + 0.5
        u = np.empty(self.shape[0])
        v = np.empty(self.shape[1])
        est = 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(iterations):
                nx = math.sqrt(dot(x, x))
                if not nx > 0 or not math.isfinite(nx):
                    return est
                x /= nx
                self.matvec(x, u)
                self.rmatvec(u, v)
                est = math.sqrt(max(dot(x, v), 0.0))
                x, v = v, x
        return est


@dataclass
class Outcome:
    z: np.ndarray
    y: np.ndarray
    iterations: int
    restarts: int
    stopped: str  # "certified", "maxiter", "diverged", "callback", "time"
    history: list
    parallel: bool


def primal_weight(omega: float, moved_z: float, moved_y: float, size_z: float,
                  size_y: float) -> float:
    """ω after a restart: the geometric mean of ω and the ratio of the dual to the
    primal movement since the last restart (PDLP's smoothing of ½), unchanged where
    either iterate moved by no more than :data:`STILL` of its size."""
    if not (moved_z > STILL * size_z and moved_y > STILL * size_y
            and moved_z > 1e-30 and moved_y > 1e-30):
        return omega
    omega = math.exp(0.5 * math.log(moved_y / moved_z) + 0.5 * math.log(omega))
    return min(max(omega, OMEGA_RANGE[0]), OMEGA_RANGE[1])


def _room_for(work: int) -> int:
    """Iterations to run before the next certificate after one of ``work``: 0 below
    :data:`COSTLY_CERTIFICATE`, else work / :data:`CERTIFY_WORK` rounded up to a power
    of two (so that rounding that moves a repair by a round rarely moves the steps)."""
    if work < COSTLY_CERTIFICATE:
        return 0
    return 1 << math.ceil(math.log2(work / CERTIFY_WORK))


def solve(form: StandardForm, *, certify: Callable, tol: float, maxiter: int,
          n_threads: int, z0=None, check_every: int = 64, callback=None,
          time_limit: float | None = None) -> Outcome:
    """Run restarted Halpern PDHG until ``certify(z, y)`` reports a gap ≤ ``tol``.

    ``certify(z, y)`` gets unscaled primal and dual iterates (y ≤ 0 on lower-bound
    rows, ≥ 0 on upper-bound rows) and returns the relative gap of the best plan and
    bound it has seen, and its own work in iterations' worth of sparse products.
    Certificates come every ``check_every`` iterations, once the run is long every
    ``CERTIFY_SHARE`` of the iterations so far, and after a costly certificate no sooner
    than its work over ``CERTIFY_WORK``.
    """
    from lab._kernels import plan_kernels as pk

    if form.prescale is None:
        d_r, d_c = _scaling(form.K)
    else:
        pre_r, pre_c = form.prescale
        d_r, d_c = _scaling(sp.csr_array(sp.diags_array(pre_r) @ form.K
                                         @ sp.diags_array(pre_c)))
        d_r, d_c = d_r * pre_r, d_c * pre_c
    Ks = sp.csr_array(sp.diags_array(d_r) @ form.K @ sp.diags_array(d_c))
    Ks.sort_indices()
    op = _Operator(Ks, n_threads)
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
    kind = np.where(form.lower, pk.LOWER, pk.UPPER).astype(np.int8)
    kind[form.harmony_rows] = pk.HARMONY
    h_t = np.zeros(m_rows)
    h_w = np.zeros(m_rows)
    h_t[form.harmony_rows] = form.harmony_t / beta
    h_w[form.harmony_rows] = form.harmony_w / beta
    h_d = d_r

    eta = 0.95 / max(op.norm_estimate() * 1.02, 1e-300)
    omega = 1.0
    if np.any(c):
        rhs = np.where(np.isfinite(bound), bound, 0.0)
        nb = math.sqrt(dot(rhs, rhs))
        if nb > 0:
            omega = math.sqrt(dot(c, c)) / nb
    omega = min(max(omega, 1e-4), 1e4)

    z = np.zeros(n_z) if z0 is None else np.clip(np.asarray(z0, float) / (d_c * beta), lo, hi)
    y = np.zeros(m_rows)
    Kz = op.matvec(z, np.empty(m_rows))
    Kty = np.zeros(n_z)
    anchor_z, anchor_y, anchor_Kz, anchor_Kty = z.copy(), y.copy(), Kz.copy(), Kty.copy()
    y_new = np.zeros(m_rows)
    Kz_new = Kz.copy()
    part_y = np.zeros((op.fwd_blocks.size - 1, 2))
    part_z = np.zeros((op.adj_blocks.size - 1, 2))
    # the first primal step (y = 0, so Kᵀy = 0)
    z_new = np.clip(z - (eta / omega) * c, lo, hi)
    dz2 = float(np.sum((z_new - z) ** 2))
    anchor_dz2 = dz2
    pending, pa, pb = pk.NONE, 0.0, 0.0
    k = 0
    r_restart = None
    r_prev = math.inf
    restarts = 0
    history = []
    total = 0
    next_check = check_every
    t_start = time.perf_counter()
    stopped = "maxiter"
    while total < maxiter:
        sigma = eta * omega
        op.dual_pass(*op.fwd, z_new, y, y_new, Kz, Kz_new, anchor_y, anchor_Kz, bound, kind,
                     h_t, h_w, h_d, sigma, pending, pa, pb, REFLECTION, op.fwd_blocks, part_y)
        dy2 = float(np.sum(part_y[:, 0]))
        anchor_dy2 = float(np.sum(part_y[:, 1]))
        r = math.sqrt(omega * dz2 + dy2 / omega)
        total += 1
        if not math.isfinite(r):
            stopped = "diverged"
            break
        if callback is not None and total % check_every == 0 and callback(total, r) is False:
            stopped = "callback"
        if total >= next_check or total == maxiter or stopped == "callback":
            gap, work = certify(z_new * d_c * beta, y_new * d_r)
            # geometric spacing once the run is long, and room for a costly certificate:
            # certificates cost a bounded share
            next_check = total + max(check_every, int(CERTIFY_SHARE * total),
                                     _room_for(work))
            history.append((total, gap))
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
            omega = primal_weight(omega, math.sqrt(anchor_dz2), math.sqrt(anchor_dy2),
                                  math.sqrt(dot(z_new, z_new)), math.sqrt(dot(y_new, y_new)))
            mode, pa, pb = pk.RESTART, 0.0, 0.0
            k = 0
            r_restart = None
            r_prev = math.inf
            restarts += 1
        else:
            mode, pa, pb = pk.HALPERN, (k + 1.0) / (k + 2.0), 1.0 / (k + 2.0)
            k += 1
        op.primal_pass(*op.adj, y_new, z, z_new, Kty, anchor_z, anchor_Kty, c, lo, hi,
                       eta / omega, mode, pa, pb, REFLECTION, op.adj_blocks, part_z)
        dz2 = float(np.sum(part_z[:, 0]))
        anchor_dz2 = float(np.sum(part_z[:, 1]))
        pending = mode
    return Outcome(z=z_new * d_c * beta, y=y_new * d_r, iterations=total, restarts=restarts,
                   stopped=stopped, history=history,
                   parallel=op.dual_pass is pk.dual_pass_parallel)
