"""Independent references for the planner: HiGHS (highspy) and cvxpy with Clarabel.

They build the programmes of MATH.md §3 from a PlanningProblem's public arrays
only, with none of lab's solver code.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _make(problem):
    m = problem.n_products
    B = sp.identity(m, format="csc") if problem.B is None else sp.csc_array(problem.B)
    return sp.csc_array(B - sp.csc_array(problem.A))


def plan_ray_highs(problem, solver: str = "simplex", time_limit: float | None = None):
    """max φ s.t. s⁰ + (B − A)x ≥ φ t, R x ≤ ρ, 0 ≤ x ≤ c, φ ≥ 0. Returns (φ, x, status)."""
    import highspy

    m, k = problem.n_products, problem.n_techniques
    M = _make(problem)
    t = problem.targets
    lim = np.isfinite(problem.available)
    idx = np.flatnonzero(t > 0)
    tcol = sp.csc_array((-t[idx], (idx, np.zeros(idx.size, int))), shape=(m, 1))
    Rl = sp.csc_array(problem.R[lim])
    K = sp.vstack([sp.hstack([M, tcol]), sp.hstack([Rl, sp.csc_array((int(lim.sum()), 1))])],
                  format="csc")
    inf = highspy.kHighsInf
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("solver", solver)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    lp = highspy.HighsLp()
    lp.num_col_ = k + 1
    lp.num_row_ = K.shape[0]
    cost = np.zeros(k + 1)
    cost[-1] = -1.0
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(k + 1)
    lp.col_upper_ = np.append(np.where(np.isfinite(problem.capacities), problem.capacities,
                                       inf), inf)
    lp.row_lower_ = np.concatenate([-problem.initial_stocks, np.full(int(lim.sum()), -inf)])
    lp.row_upper_ = np.concatenate([np.full(m, inf), problem.available[lim]])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = K.indptr
    lp.a_matrix_.index_ = K.indices
    lp.a_matrix_.value_ = K.data
    h.passModel(lp)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    x = np.array(h.getSolution().col_value)
    return -h.getInfo().objective_function_value, x[:k], status


def harmony_cvxpy(problem):
    """max Σ w·H((n − t)/t) over plans, with H split as max over a ≤ 0 ≤ b, a + b = s of
    a − a²/2 + ln(1 + b). Returns (harmony, x)."""
    import cvxpy as cp

    k = problem.n_techniques
    M = _make(problem)
    idx = problem.target_index
    t = problem.targets[idx]
    w = problem.weights[idx]
    lim = np.isfinite(problem.available)
    x = cp.Variable(k, nonneg=True)
    a = cp.Variable(idx.size, nonpos=True)
    b = cp.Variable(idx.size, nonneg=True)
    n = problem.initial_stocks + M @ x
    cons = [n >= 0, a + b == cp.multiply(n[idx] - t, 1.0 / t)]
    if lim.any():
        cons.append(problem.R[lim] @ x <= problem.available[lim])
    capped = np.flatnonzero(np.isfinite(problem.capacities))
    if capped.size:
        cons.append(x[capped] <= problem.capacities[capped])
    objective = cp.Maximize(w @ (a - 0.5 * cp.square(a) + cp.log(1 + b)))
    prob = cp.Problem(objective, cons)
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
    return float(prob.value), np.asarray(x.value)


def _multiyear_blocks(problem):
    """The constraints of MATH.md §4 from a MultiYearProblem's public arrays: variables
    z = [x_1..x_T (m each), c_1..c_T (m each), I_1..I_T (E each), K_1..K_{T+1} (E each)].

    Returns (offsets of the variable groups, blocks of (matrix, lower, upper) rows,
    lower and upper bounds of z).
    """
    T, m = problem.years, problem.n_products
    s, p = problem.capital_entries
    E = s.size
    cvals = np.asarray(sp.csr_array(problem.capital)[s, p]).ravel() if E else np.zeros(0)
    delta = np.asarray(sp.csr_array(problem.depreciation)[s, p]).ravel() if E else np.zeros(0)
    K1 = np.asarray(sp.csr_array(problem.initial_stocks)[s, p]).ravel() if E else np.zeros(0)
    nx, nc, nI, nK = m * T, m * T, E * T, E * (T + 1)
    off = {"x": 0, "c": nx, "I": nx + nc, "K": nx + nc + nI, "n": nx + nc + nI + nK}
    S = sp.csr_array((np.ones(E), (s, np.arange(E))), shape=(m, E))
    blocks = []
    for y, e in enumerate(problem.economies):
        # goods: x − A x − S I − c ≥ 0
        M = sp.hstack([sp.csr_array((m, y * m)), sp.identity(m) - e.A,
                       sp.csr_array((m, (T - y - 1) * m)), sp.csr_array((m, y * m)),
                       -sp.identity(m), sp.csr_array((m, (T - y - 1) * m)),
                       sp.csr_array((m, y * E)), -S, sp.csr_array((m, (T - y - 1) * E)),
                       sp.csr_array((m, nK))], format="csr")
        blocks.append((M, np.zeros(m), np.full(m, np.inf)))
        # capacity: C[s,p] x_y[p] − K_y[e] ≤ 0
        cap = sp.csr_array((cvals, (np.arange(E), y * m + p)), shape=(E, nx))
        M = sp.hstack([cap, sp.csr_array((E, nc + nI)),
                       sp.csr_array((-np.ones(E), (np.arange(E), y * E + np.arange(E))),
                                    shape=(E, nK))], format="csr")
        blocks.append((M, np.full(E, -np.inf), np.zeros(E)))
        # stocks: K_{y+1} − (1 − δ) K_y − I_y = 0
        kk = sp.csr_array((np.concatenate([np.ones(E), -(1 - delta)]),
                           (np.concatenate([np.arange(E)] * 2),
                            np.concatenate([(y + 1) * E + np.arange(E), y * E + np.arange(E)]))),
                          shape=(E, nK))
        ii = sp.csr_array((-np.ones(E), (np.arange(E), y * E + np.arange(E))), shape=(E, nI))
        M = sp.hstack([sp.csr_array((E, nx + nc)), ii, kk], format="csr")
        blocks.append((M, np.zeros(E), np.zeros(E)))
        # resources: R_y x_y ≤ ρ_y
        lim = np.isfinite(problem.available[y])
        if lim.any():
            Ry = sp.csr_array(e.R[lim])
            M = sp.hstack([sp.csr_array((int(lim.sum()), y * m)), Ry,
                           sp.csr_array((int(lim.sum()), off["n"] - (y + 1) * m))], format="csr")
            blocks.append((M, np.full(int(lim.sum()), -np.inf), problem.available[y][lim]))
    lo = np.zeros(off["n"])
    hi = np.full(off["n"], np.inf)
    lo[off["K"]:off["K"] + E] = hi[off["K"]:off["K"] + E] = K1
    if problem.terminal_stocks is not None:
        term = np.asarray(sp.csr_array(problem.terminal_stocks)[s, p]).ravel()
        lo[off["K"] + T * E:] = term
    return off, blocks, lo, hi


def multiyear_ray_highs(problem, method: str = "plan-ray", solver: str = "ipm"):
    """max φ (one rate) or Σ_y φ_y with c_y ≥ φ_y·t_y, by HiGHS. Returns (objective, status)."""
    import highspy

    T, m = problem.years, problem.n_products
    off, blocks, lo, hi = _multiyear_blocks(problem)
    t = problem.targets
    years = [y for y in range(T) if (t[y] > 0).any()]
    G = 1 if method == "plan-ray" else len(years)
    n = off["n"] + G
    rows, rlo, rhi = [], [], []
    for M, a, b in blocks:
        rows.append(sp.hstack([M, sp.csr_array((M.shape[0], G))], format="csr"))
        rlo.append(a)
        rhi.append(b)
    for g, y in enumerate(years):  # c_y − φ_g t_y ≥ 0 on the targets
        idx = np.flatnonzero(t[y] > 0)
        M = sp.csr_array((np.concatenate([np.ones(idx.size), -t[y][idx]]),
                          (np.concatenate([np.arange(idx.size)] * 2),
                           np.concatenate([off["c"] + y * m + idx,
                                           np.full(idx.size, off["n"] + (0 if G == 1 else g))]))),
                         shape=(idx.size, n))
        rows.append(M)
        rlo.append(np.zeros(idx.size))
        rhi.append(np.full(idx.size, np.inf))
    K = sp.vstack(rows, format="csc")
    inf = highspy.kHighsInf
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("solver", solver)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, K.shape[0]
    cost = np.zeros(n)
    cost[off["n"]:] = -1.0
    lp.col_cost_ = cost
    lp.col_lower_ = np.append(lo, np.zeros(G))
    lp.col_upper_ = np.where(np.isfinite(np.append(hi, np.full(G, np.inf))),
                             np.append(hi, np.full(G, np.inf)), inf)
    lo_r, hi_r = np.concatenate(rlo), np.concatenate(rhi)
    lp.row_lower_ = np.where(np.isfinite(lo_r), lo_r, -inf)
    lp.row_upper_ = np.where(np.isfinite(hi_r), hi_r, inf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = K.indptr
    lp.a_matrix_.index_ = K.indices
    lp.a_matrix_.value_ = K.data
    h.passModel(lp)
    h.run()
    return -h.getInfo().objective_function_value, h.modelStatusToString(h.getModelStatus())


def multiyear_harmony_cvxpy(problem):
    """max Σ_y Σ_i w_{y,i} H((c_{y,i} − t_{y,i}) / t_{y,i}) over the same constraints."""
    import cvxpy as cp

    off, blocks, lo, hi = _multiyear_blocks(problem)
    z = cp.Variable(off["n"])
    cons = [z >= lo]
    fin = np.isfinite(hi)
    if fin.any():
        cons.append(z[np.flatnonzero(fin)] <= hi[fin])
    for M, a, b in blocks:
        Mz = M @ z
        if np.isfinite(a).any():
            cons.append(Mz[np.flatnonzero(np.isfinite(a))] >= a[np.isfinite(a)])
        if np.isfinite(b).any():
            cons.append(Mz[np.flatnonzero(np.isfinite(b))] <= b[np.isfinite(b)])
    t = problem.targets.ravel()
    w = problem.weights.ravel()
    idx = np.flatnonzero(t > 0)
    c = z[off["c"] + idx]
    a = cp.Variable(idx.size, nonpos=True)
    b = cp.Variable(idx.size, nonneg=True)
    cons.append(a + b == cp.multiply(c - t[idx], 1.0 / t[idx]))
    objective = cp.Maximize(w[idx] @ (a - 0.5 * cp.square(a) + cp.log(1 + b)))
    prob = cp.Problem(objective, cons)
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9)
    return float(prob.value)


def with_bottlenecks(free, count: int, *, among: int, share: float = 0.7, seed: int = 0):
    """``free`` (a technique-choice problem without capacities) with ``count`` of the
    ``among`` busiest techniques of its plan ray capped at ``share`` of their use there:
    capacities that bind (tests/planning/test_choice.py, benchmarks/test_plan_scale.py)."""
    import lab

    x = lab.plan(free, method="plan-ray").x
    pick = np.random.default_rng(seed).choice(np.argsort(-x)[:among], count, replace=False)
    caps = np.full(x.size, np.inf)
    caps[pick] = share * x[pick]
    return lab.PlanningProblem.from_techniques(
        use=free.A, make=free.B, resources=free.R, targets=free.targets,
        available=free.available, capacities=caps, product_codes=free.product_codes,
        technique_codes=free.technique_codes)
