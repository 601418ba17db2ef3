"""Plans by HiGHS where lab's exact routes stop: the plan-ray LP, harmony by tangents.

The exact routes of :mod:`lab.planning._exact` and :mod:`lab.planning._choice` stop at
capacities, joint production and initial stocks, where lab's own method is the
primal-dual iteration. On small problems of that kind HiGHS's dual simplex finds the
optimal vertex in a fraction of a second where the primal-dual iteration needs
hundreds of thousands of iterations (10³ products with technique choice, 3 resources
and capacities on 30 % of the techniques: HiGHS 0.28 s, PDHG uncertified after 30 s).
So up to :data:`AUTO_MAX_TECHNIQUES` techniques ``solver="auto"`` asks HiGHS first;
``solver="highs"`` asks it at any size. Harmony is not linear: :func:`solve_harmony`
bounds each target's harmony by tangents of H and adds tangents where the plans land.

Nothing of HiGHS's answer is trusted: its plan goes through lab's repair and its row
duals are only prices for :func:`lab.planning._certificate.dual_bound`, so the result
carries the same certificate as every other route, and a plan that does not certify is
handed on to the primal-dual iteration as its starting plan.

The process's one HiGHS object (built with its banner silenced, :func:`quiet_highs`)
and the LP hand-over (:func:`pass_lp`) are here too; the cutting planes of
:mod:`lab.planning._choice` use them.

The plan-ray programme (MATH.md §3): max Σ_g φ_g s.t. s⁰ + (B − A)x − Σ_g φ_g t_g ≥ q,
R x ≤ ρ over the limited resources, 0 ≤ x ≤ c, φ ≥ 0 (q: required net outputs, 0
outside multi-year plans; t_g: the targets of ray g).
"""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
import scipy.sparse as sp

from lab.planning import _certificate, _harmony
from lab.planning._certificate import Objective

__all__ = ["AUTO_MAX_TECHNIQUES", "AUTO_MAX_HARMONY", "solve_plan_ray", "solve_harmony"]

#: ``solver="auto"`` asks HiGHS for problems with at most this many techniques. Measured
#: (dual simplex through linprog, seed 1, 2 cores) on generated problems with capacities
#: and 3 resources: 10³ products with 2 techniques each, 0.12 s (certified; the
#: primal-dual route: uncertified after 30 s); 10⁴ products, one technique each, 29 s
#: (certified; primal-dual: uncertified after 124 s); 10⁴ products with 2 techniques
#: each, 15.9–17.8 s (certified; primal-dual: gap 0.63 after 306.6 s, 200,000 iterations).
AUTO_MAX_TECHNIQUES = 20_000
#: ... and harmony (tangent LPs) with at most this many: 2,000 products with
#: capacities, one technique each, certified in 8.9 s after 14 rounds where the
#: primal-dual route stopped uncertified (gap 7.9e-3) after 48.6 s; 10⁴ products with
#: 2 techniques each (seed 1, 3 resources, capacities on 30 %), certified in 117.7 s
#: where the primal-dual route stood at gap 0.81 after 123 s.
AUTO_MAX_HARMONY = 20_000


#: One HiGHS object per process, built once with its banner silenced (see quiet_highs);
#: the lock keeps threads from sharing it at the same time.
_HIGHS: list = []
HIGHS_LOCK = threading.Lock()


def quiet_highs(highspy):
    """highspy.Highs() prints a banner on standard output when it is built, before any
    option can turn its output off (HiGHS 1.16): that would corrupt ``lab plan --json``.
    Built once with file descriptor 1 pointed at /dev/null, then reused."""
    if not _HIGHS:
        sys.stdout.flush()
        try:
            saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
        except OSError:  # no standard output to protect
            saved = null = None
        try:
            if saved is not None:
                os.dup2(null, 1)
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
        finally:
            if saved is not None:
                os.dup2(saved, 1)
                os.close(saved)
                os.close(null)
        _HIGHS.append(h)
    return _HIGHS[0]


def pass_lp(highspy, h, cost, col_lower, col_upper, row_lower, row_upper, rows) -> None:
    """Give ``h`` (cleared; feasibility tolerances 1e-10) the LP min costᵀz with the
    bounds given and the constraint matrix ``rows`` (any sparse or dense array)."""
    h.clearModel()
    h.setOptionValue("primal_feasibility_tolerance", 1e-10)
    h.setOptionValue("dual_feasibility_tolerance", 1e-10)
    M = sp.csc_array(rows)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = M.shape[1], M.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, col_lower, col_upper
    lp.row_lower_, lp.row_upper_ = row_lower, row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = M.indptr
    lp.a_matrix_.index_ = M.indices
    lp.a_matrix_.value_ = M.data
    h.passModel(lp)


def solve_plan_ray(problem, objective: Objective, *, time_limit: float | None = None):
    """(x, p, λ over the limited resources) of the plan-ray LP by HiGHS, or None when
    HiGHS does not report an optimum (time limit, numerical trouble)."""
    from scipy.optimize import linprog

    m, k = problem.n_products, problem.n_techniques
    idx = problem.target_index
    t = problem.targets[idx]
    groups = np.zeros(idx.size, dtype=np.intp) if objective.groups is None \
        else np.asarray(objective.groups, dtype=np.intp)
    G = objective.n_groups
    limited = np.isfinite(problem.available)
    R = _certificate.limited_rows(problem, limited)
    # s⁰ + N x − T φ ≥ q  ⇔  −N x + T φ ≤ s⁰ − q
    T = sp.csr_array((t, (idx, groups)), shape=(m, G))
    upper = sp.block_array([[-sp.csr_array(problem.net_matrix()), T],
                            [sp.csr_array(R), None]], format="csr")
    q = problem._required
    b = np.concatenate([problem.initial_stocks - (0.0 if q is None else q),
                        problem.available[limited]])
    cost = np.concatenate([np.zeros(k), -np.ones(G)])
    caps = problem.capacities
    bounds = np.column_stack([np.zeros(k + G),
                              np.concatenate([np.where(np.isfinite(caps), caps, np.inf),
                                              np.full(G, np.inf)])])
    # Without presolve: on generated plans with capacities the dual simplex took 0.099
    # instead of 0.134–0.137 s at 10³ products and 15.6–15.8 instead of 16.2–16.6 s at
    # 10⁴ (certified either way); the planning, batch, CLI and fuzz tests pass with it.
    options = {"presolve": False, "dual_feasibility_tolerance": 1e-10,
               "primal_feasibility_tolerance": 1e-10}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    res = linprog(cost, A_ub=upper, b_ub=b, bounds=bounds, method="highs-ds",
                  options=options)
    if res.status != 0 or res.x is None:
        return None
    duals = -np.asarray(res.ineqlin.marginals)  # ≥ 0: what a unit more of b_i is worth
    x = np.maximum(res.x[:k], 0.0)
    return x, np.maximum(duals[:m], 0.0), np.maximum(duals[m:], 0.0)


#: Relative surpluses s at which every target's harmony starts with a tangent (the
#: first outer approximation); later tangents go where the plans land. Four, not ten
#: (−1, −0.5, −0.2, 0, 0.2, 0.5, 1, 2, 5, 10): rarely binding tangents only make the
#: LP larger. Generated problems with 2 techniques per product, 3 resources and
#: capacities on 30 %: 10³ products 0.82 → 0.57–0.59 s, 3·10³ 11.0 → 5.6–5.8 s, 10⁴
#: 238 → 122 s (certified; 8 → 12, 16 → 12 and 22 → 12 rounds).
TANGENTS = (-0.5, 0.0, 0.5, 2.0)
#: Most rounds of tangents for the harmony programme.
MAX_ROUNDS = 60


def solve_harmony(problem, objective: Objective, *, gap: float, certify,
                  time_limit: float | None = None):
    """The harmony programme by outer approximation: an LP (HiGHS through highspy,
    warm-started from round to round) in which each target's harmony is bounded by
    tangents of H; after each round ``certify(x, p, λ)`` returns lab's relative gap for
    the LP's plan and prices, and tangents are added at the targets' new surpluses
    until it is ≤ ``gap``, :data:`MAX_ROUNDS` pass or ``time_limit`` seconds (all
    rounds together) are spent. Returns (x, p, λ, rounds) of the last round HiGHS
    finished, or None without highspy or an optimal LP."""
    started = time.perf_counter()
    try:
        import highspy
    except ImportError:
        return None
    m, k = problem.n_products, problem.n_techniques
    idx = problem.target_index
    nt = idx.size
    t = problem.targets[idx]
    w = problem.weights[idx]
    limited = np.isfinite(problem.available)
    R = _certificate.limited_rows(problem, limited)
    q = problem._required
    caps = problem.capacities
    inf = highspy.kHighsInf
    # columns: x (k), n (the targets' net outputs, nt), h (their harmony, nt)
    N = sp.csr_array(problem.net_matrix())
    take = sp.csr_array((-np.ones(nt), (idx, np.arange(nt))), shape=(m, nt))
    rows = sp.csr_array(sp.block_array([[N, take, None], [sp.csr_array(R), None, None]],
                                       format="csr"), shape=(m + R.shape[0], k + 2 * nt))
    lower = np.concatenate([-(problem.initial_stocks - (0.0 if q is None else q)),
                            np.full(R.shape[0], -inf)])
    upper = np.concatenate([np.full(m, inf), problem.available[limited]])
    with HIGHS_LOCK:
        h = quiet_highs(highspy)
        pass_lp(highspy, h, np.concatenate([np.zeros(k + nt), -w]),
                np.concatenate([np.zeros(k + nt), np.full(nt, -inf)]),
                np.concatenate([np.where(np.isfinite(caps), caps, inf), np.full(2 * nt, inf)]),
                lower, upper, rows)
        target_cols = np.arange(nt)
        grid = np.tile(target_cols, len(TANGENTS))
        _add_tangents(h, inf, (1.0 + np.repeat(np.asarray(TANGENTS), nt)) * t[grid], grid,
                      t, k, nt)
        deadline = None if time_limit is None else started + time_limit
        try:
            return _rounds(h, highspy, certify, gap, k, nt, m, R.shape[0], t, inf, deadline)
        finally:
            h.setOptionValue("time_limit", highspy.kHighsInf)  # the object is shared


def _rounds(h, highspy, certify, gap, k, nt, m, r, t, inf, deadline=None):
    """The rounds of :func:`solve_harmony` on the model in ``h``."""
    target_cols = np.arange(nt)
    out = None
    for rounds in range(1, MAX_ROUNDS + 1):
        if deadline is not None:
            left = deadline - time.perf_counter()
            if left <= 0:
                return out
            h.setOptionValue("time_limit", float(left))
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return out
        sol = h.getSolution()
        z = np.asarray(sol.col_value)
        duals = np.abs(np.asarray(sol.row_dual))
        x = np.maximum(z[:k], 0.0)
        out = (x, duals[:m], duals[m:m + r], rounds)
        if certify(*out[:3]) <= gap:
            return out
        # a tangent at each target's net output in this plan
        _add_tangents(h, inf, np.maximum(z[k:k + nt], 0.0), target_cols, t, k, nt)
    return out


def _add_tangents(h, inf, n, which, t, k, nt):
    """Rows h_i − h′(n)·n_i ≤ h(n) − h′(n)·n: the tangent at net output ``n`` of each
    target ``which`` (h(n) = H((n − t)/t), lab.planning._harmony); HiGHS goes on from
    its last basis."""
    n = np.asarray(n, dtype=np.float64)
    tw = t[which]
    value, slope = _harmony.harmony_of(n, tw), _harmony.marginal(n, tw)
    count = which.size
    starts = np.arange(0, 2 * count, 2, dtype=np.int32)
    index = np.empty(2 * count, dtype=np.int32)
    index[0::2] = k + which
    index[1::2] = k + nt + which
    coef = np.empty(2 * count)
    coef[0::2] = -slope
    coef[1::2] = 1.0
    h.addRows(count, np.full(count, -inf), value - slope * n, 2 * count, starts, index, coef)
