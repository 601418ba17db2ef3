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
