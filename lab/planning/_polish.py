"""Sharper prices for a converged plan: complementary slackness on a guessed active set.

On multi-year plans the primal-dual method finds the optimal plan long before its
prices are good enough to prove it (a 5-year plan of 1,000 goods: the plan exact to
1e-16 after 25,000 iterations, the bound 4e-4 above it and still 2e-5 above after
100,000). Once the plan has settled, its active set says what the optimal prices
must satisfy (complementary slackness of MATH.md §3's programmes):

* a product with slack (net output above what the objective and the required outputs
  ask of it) has price 0; a resource with room has price 0;
* every technique the plan runs makes no loss and no profit: N_jᵀp = R_jᵀλ;
* plan rays: each ray's targets cost one unit of the ray, Σ_{i ∈ g} t_i p_i = 1;
  harmony: a target's price is its marginal harmony, p_i = w_i H′(s_i) / t_i.

:func:`polish_duals` guesses the active set from the plan and from the method's own
prices (a product whose price is clearly positive is taken as tight even where the
plan still leaves it a little slack), solves these equations by least squares
(normal equations factorised once by SuperLU, then refined), clips the prices to ≥ 0
and evaluates :func:`lab.planning._certificate.dual_bound` with them. Nothing here is
trusted: the prices count only through that bound, which weak duality makes valid
for any prices ≥ 0, so a wrong guess can only fail to tighten it.

:class:`Polisher` decides when polishing is worth its cost (a factorisation and a few
bound evaluations, about the cost of 100 iterations at 10³ goods × 5 years): only when
the plan has stopped moving (its objective changed by less than the current gap since
the last certificate), with a back-off after polishes that did not help. The rules
read iteration-driven quantities only, never the clock, so that identical calls give
identical results.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from lab.planning import _certificate, _harmony
from lab.planning._certificate import Objective

__all__ = ["polish_duals", "Polisher"]

#: Levels of relative slack below which a product (resource) is taken as tight; the
#: first is the feasibility tolerance of the certificate, the later ones for plans
#: that are still converging (a larger active set is still a consistent guess when
#: its extra products turn out to have price 0).
TIGHT_LEVELS = (1e-9, 1e-6, 1e-4)
#: A product whose method price × flow is at least this share of the largest is taken
#: as tight whatever its slack (the method's prices see the active set before its plan).
PRICED = 1e-3
#: Techniques that run at more than this share of the largest intensity are in the
#: support (their reduced profit must be 0).
SUPPORT = 1e-9
#: Rows of the price equations with more entries than this (and than 10 × the mean)
#: are handled as a low-rank correction rather than in the sparse factorisation.
DENSE_ROW = 200
#: No factorisation when the normal equations have more than this many entries per
#: entry of the equations (3 on settled plans of generated multi-year problems, 7 on
#: unsettled ones, whose factors then fill in 30-fold and take seconds) ...
NORMAL_LIMIT = 5.0
#: ... and a back-off when the factors have more than this many.
FILL_LIMIT = 12.0
#: The plan's objective has settled when it moved less than this (relative) since the
#: previous certificate.
SETTLED = 1e-3
#: Factorisations with fewer entries than this are cheap whatever their fill.
SMALL = 200_000
#: Regularisation of the normal equations (they are scaled to a unit diagonal).
REGULARISE = 1e-11
#: Rounds of iterative refinement on the least-squares solution.
REFINE = 3


def _slack(problem, objective: Objective, x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Net output above what the constraints and the objective ask of each product."""
    q = problem._required
    slack = n if q is None else n - q
    if objective.mode == "plan-ray":
        idx = problem.target_index
        t = problem.targets[idx]
        groups = np.zeros(idx.size, dtype=np.intp) if objective.groups is None \
            else objective.groups
        phi = np.full(objective.n_groups, np.inf)
        np.minimum.at(phi, groups, n[idx] / t)
        slack = slack.copy()
        slack[idx] = n[idx] - phi[groups] * t - (0.0 if q is None else q[idx])
    return slack


def polish_duals(problem, objective: Objective, x: np.ndarray, p: np.ndarray,
                 lam: np.ndarray, limited: np.ndarray, ub: np.ndarray, *,
                 target_gap: float = 0.0, state: dict | None = None):
    """Prices from complementary slackness at the feasible plan ``x``, or None.

    ``p`` (products) and ``lam`` (the ``limited`` resources) are the method's prices,
    used to guess which products are tight; ``ub`` the implied bounds of
    :func:`lab.planning._certificate.implied_bounds`. Tries the levels of
    ``TIGHT_LEVELS`` until one certifies ``target_gap``. Returns the best
    (bound, p, λ, reduced profit) of :func:`~lab.planning._certificate.dual_bound`
    over the levels, or None when no system could be solved. ``state`` (a dict) gets
    ``"costly"`` set when a factorisation filled in more than it should (see
    :func:`_normal_solver`).
    """
    x = np.asarray(x, dtype=np.float64)
    N = problem.net_matrix()
    n = problem.initial_stocks + N @ x
    value = _certificate.objective_value(problem, objective, n)
    if not np.isfinite(value) or (objective.mode == "plan-ray" and not value > 0):
        return None
    slack = _slack(problem, objective, x, n)
    gross = _certificate.supply_bounds(problem, x) + problem.A @ x
    flow = _certificate._flow_scale(gross)
    rel = slack / np.maximum(flow, 1e-300)
    pp = np.where(np.isfinite(p), np.maximum(p, 0.0), 0.0)
    worth = pp * flow
    priced = (worth >= PRICED * worth.max()) if worth.max(initial=0.0) > 0 \
        else np.zeros(worth.shape, bool)
    R = _certificate.limited_rows(problem, limited)
    rho = problem.available[limited]
    use = R @ x
    ll = np.where(np.isfinite(lam), np.maximum(lam, 0.0), 0.0)
    lworth = ll * rho
    lpriced = (lworth >= PRICED * lworth.max()) if lworth.max(initial=0.0) > 0 \
        else np.zeros(lworth.shape, bool)
    support = x > SUPPORT * float(x.max(initial=0.0))
    if not support.any():
        return None
    Nc = sp.csc_array(N)[:, support]
    Rc = R[:, support] if R.shape[0] else sp.csr_array((0, int(support.sum())))
    idx = problem.target_index
    harmony = objective.mode == "harmony"
    if harmony:  # a target's price is its marginal harmony at the plan
        t = problem.targets[idx]
        fixed = np.zeros(problem.n_products)
        fixed[idx] = problem.weights[idx] * _harmony.marginal(np.maximum(n[idx], 0.0), t)
        is_target = np.zeros(problem.n_products, dtype=bool)
        is_target[idx] = True
    best = None
    tried = set()
    for level in TIGHT_LEVELS:
        tight = (rel <= level) | priced
        if harmony:
            tight &= ~is_target
        tres = (use >= rho * (1.0 - level)) | lpriced
        key = (tight.tobytes(), tres.tobytes())
        if key in tried:
            continue
        tried.add(key)
        solved = _solve(problem, objective, Nc, Rc, tight, tres,
                        fixed if harmony else None, state)
        if solved is None:
            continue
        pz, lz = solved
        if harmony:
            pz = pz + fixed
        out = _certificate.dual_bound(problem, objective, pz, lz, limited, ub)
        if best is None or out[0] < best[0]:
            best = out[:4]
        if (_certificate.relative_gap(objective.mode, value, best[0]) <= target_gap
                or (state or {}).get("costly")):  # larger guesses cost more still
            break
    return best


def _solve(problem, objective, Nc, Rc, tight, tres, fixed, state):
    """Least-squares prices on the guessed active set (p over ``tight``, λ over ``tres``)."""
    nt, nr = int(tight.sum()), int(tres.sum())
    if nt + nr == 0:
        return None
    # one equation per supported technique: revenue − costs = 0 ...
    blocks = [[sp.csr_array(sp.csr_array(Nc)[np.flatnonzero(tight)].T),
               sp.csr_array(-Rc[np.flatnonzero(tres)].T)]]
    rhs = np.zeros(Nc.shape[1])
    if fixed is not None:  # the targets' prices are known: their revenue moves right
        rhs = -(Nc.T @ fixed)
    else:  # ... and one per plan ray: its targets cost one unit of the ray
        idx = problem.target_index
        groups = np.zeros(idx.size, dtype=np.intp) if objective.groups is None \
            else objective.groups
        sel = tight[idx]
        rows = groups[sel]
        cols = np.searchsorted(np.flatnonzero(tight), idx[sel])
        T = sp.csr_array((problem.targets[idx[sel]], (rows, cols)),
                         shape=(objective.n_groups, nt))
        blocks.append([T, sp.csr_array((objective.n_groups, nr))])
        rhs = np.concatenate([rhs, np.ones(objective.n_groups)])
    M = sp.csr_array(sp.block_array(blocks, format="csr"))
    # equilibrate: rows to unit norm, then columns, so the normal equations are as well
    # conditioned as the system allows
    row = np.sqrt(np.asarray(M.multiply(M).sum(axis=1)).ravel())
    row = np.where(row > 0, 1.0 / np.where(row > 0, row, 1.0), 0.0)
    M = sp.csr_array(sp.diags_array(row) @ M)
    b = rhs * row
    col = np.sqrt(np.asarray(M.multiply(M).sum(axis=0)).ravel())
    keep = col > 0
    col = np.where(keep, 1.0 / np.where(keep, col, 1.0), 0.0)
    M = sp.csr_array(M @ sp.diags_array(col))
    solve = _normal_solver(M, keep, state)
    if solve is None:
        return None
    z = solve(M.T @ b)
    for _ in range(REFINE):
        z = z + solve(M.T @ (b - M @ z))
    if not np.all(np.isfinite(z)):
        return None
    z = z * col
    p = np.zeros(problem.n_products)
    p[tight] = z[:nt]
    lam = np.zeros(tres.size)
    lam[tres] = z[nt:]
    return p, lam


def _normal_solver(M: sp.csr_array, keep: np.ndarray, state):
    """A solve with MᵀM + εI (ε = ``REGULARISE``), or None where it would cost too much.

    Dense rows of M (a plan ray's normalisation: one row over all its targets) would
    make MᵀM dense: they are added back as a low-rank correction (Woodbury) to the
    factorisation of the sparse rows' normal equations. Unless it is small, the
    factorisation is skipped when those normal equations are much denser than M, and
    reported in ``state["costly"]`` when it fills in beyond ``FILL_LIMIT`` × nnz(M):
    signs of a guess far from an active set, whose prices would not help anyway.
    """
    counts = np.diff(M.indptr)
    dense = counts > max(DENSE_ROW, 10.0 * counts.mean() if counts.size else 0.0)
    Ms = M[np.flatnonzero(~dense)]
    U = sp.csc_array(M[np.flatnonzero(dense)].T).toarray() if dense.any() \
        else np.zeros((M.shape[1], 0))
    G = sp.csc_array(Ms.T @ Ms)
    if G.nnz > max(NORMAL_LIMIT * M.nnz, SMALL):
        return None
    G = G + sp.diags_array(np.where(keep, REGULARISE, 1.0), format="csc")
    try:
        lu = sla.splu(G, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                      options={"SymmetricMode": True})
    except RuntimeError:  # singular or out of memory: no prices from this guess
        return None
    if state is not None and lu.L.nnz + lu.U.nnz > max(FILL_LIMIT * M.nnz, SMALL):
        state["costly"] = True
    if not U.shape[1]:
        return lu.solve
    W = lu.solve(U)
    small = np.eye(U.shape[1]) + U.T @ W

    def solve(r):
        y = lu.solve(r)
        return y - W @ np.linalg.solve(small, U.T @ y)

    return solve


class Polisher:
    """When to polish the prices of a primal-dual solve, and the polishing itself.

    Call it at every certificate with the evidence just made and the raw method
    prices; it returns evidence with the same plan and a sharper bound, or None.
    Polishes only when the plan's objective has moved less than the best gap, and
    less than ``SETTLED`` relative, since the previous certificate (the active set has
    settled). After a polish that did not improve the best bound or whose
    factorisation was costly it skips 1, 2, 4, … certificates.
    """

    def __init__(self):
        self.previous = None
        self.skip = 0
        self.wait = 0
        self.state = {}
        self.polished = 0
        self.improved = 0

    def __call__(self, problem, objective: Objective, ev: _certificate.Evidence,
                 p: np.ndarray, lam: np.ndarray, limited: np.ndarray, ub: np.ndarray, *,
                 best_bound: float, target_gap: float):
        previous, self.previous = self.previous, ev.objective
        if ev.infeasibility > _certificate.FEASIBILITY_TOL or previous is None:
            return None
        best_gap = _certificate.relative_gap(objective.mode, ev.objective, best_bound)
        if best_gap <= target_gap:
            return None
        scale = max(abs(ev.objective), abs(previous), 1e-300 if objective.mode == "plan-ray"
                    else 1.0)
        if abs(ev.objective - previous) > min(best_gap, SETTLED) * scale:
            return None
        if self.wait > 0:
            self.wait -= 1
            return None
        self.polished += 1
        self.state.pop("costly", None)
        out = polish_duals(problem, objective, ev.x, p, lam, limited, ub,
                           target_gap=target_gap, state=self.state)
        if out is None or not out[0] < best_bound or self.state.get("costly"):
            self.skip = max(1, 2 * self.skip)
            self.wait = self.skip
            return None
        self.skip = 0
        self.improved += 1
        bound, prices, lam_l, profit = out
        lam_all = np.zeros(problem.n_resources)
        lam_all[limited] = lam_l
        rel = _certificate.relative_gap(objective.mode, ev.objective, bound)
        return _certificate.Evidence(
            x=ev.x, n=ev.n, objective=ev.objective, bound=bound, gap=bound - ev.objective,
            relative_gap=rel, prices=prices, resource_prices=lam_all, profit=profit,
            infeasibility=ev.infeasibility, repair_rounds=ev.repair_rounds)
