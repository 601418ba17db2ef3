"""Plan rays as a linear programme solved exactly by HiGHS (through SciPy).

The exact routes of :mod:`lab.planning._exact` and :mod:`lab.planning._choice` stop at
capacities, joint production and initial stocks, where lab's own method is the
primal-dual iteration. On small problems of that kind HiGHS's dual simplex finds the
optimal vertex in a fraction of a second where the primal-dual iteration needs
hundreds of thousands of iterations (10³ products with technique choice, 3 resources
and capacities on 30 % of the techniques: HiGHS 0.28 s, PDHG uncertified after 30 s).
So for plan rays below :data:`AUTO_MAX_TECHNIQUES` techniques ``solver="auto"`` asks
HiGHS first; ``solver="highs"`` asks it at any size.

Nothing of HiGHS's answer is trusted: its plan goes through lab's repair and its row
duals are only prices for :func:`lab.planning._certificate.dual_bound`, so the result
carries the same certificate as every other route, and a plan that does not certify is
handed on to the primal-dual iteration as its starting plan.

The programme (MATH.md §3): max Σ_g φ_g s.t. s⁰ + (B − A)x − Σ_g φ_g t_g ≥ q,
R x ≤ ρ over the limited resources, 0 ≤ x ≤ c, φ ≥ 0 (q: required net outputs, 0
outside multi-year plans; t_g: the targets of ray g).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from lab.planning import _certificate
from lab.planning._certificate import Objective

__all__ = ["AUTO_MAX_TECHNIQUES", "solve_plan_ray"]

#: ``solver="auto"`` asks HiGHS for plan rays with at most this many techniques. Measured
#: on generated problems with technique choice, 3 resources and capacities (seed 1):
#: 2,000 techniques 0.28 s; 20,000 techniques: dual simplex stopped without a status
#: after 0.9 s and the interior point method ran past 120 s.
AUTO_MAX_TECHNIQUES = 5_000


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
    options = {"presolve": True, "dual_feasibility_tolerance": 1e-10,
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
