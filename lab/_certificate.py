"""The proof that comes with a plan: an exactly feasible plan and a dual bound.

An iterative method ends near, not at, the feasible set and the optimum. This
module turns any intensities x and any prices into evidence that needs no trust
in the method:

* :func:`repair` makes x feasible: clip to 0 ≤ x ≤ c; while some product is
  used more than it is made, scale every technique that uses it down by the
  product's supply/use ratio (the rescaling step of Cockshott's algorithm, used
  here only to remove the small violations of a converging iterate); finally
  scale x by one factor so that no resource is over-used. With s⁰ ≥ 0 the last
  step cannot create a negative net output.
* :func:`dual_bound` evaluates the Lagrangian dual of the harmony programme or of
  the plan-ray LP at prices p ≥ 0 (products) and λ ≥ 0 (resources). By weak
  duality it is an upper bound on every feasible plan's objective, so
  bound − objective(repaired x) is a certified optimality gap.

Technique intensities are bounded in the dual by their capacity or, where a
technique has none, by what the limited resources allow it (ρ_q / R[q, j]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab import _harmony

__all__ = ["Evidence", "repair", "dual_bound", "evidence", "implied_bounds", "feasibility"]


def implied_bounds(problem, limited: np.ndarray) -> np.ndarray:
    """Upper bound on each intensity from its capacity and the limited resources."""
    ub = np.array(problem.capacities, dtype=np.float64)
    R = problem.R[limited]
    rho = problem.available[limited]
    with np.errstate(divide="ignore"):
        per = np.where(R > 0, rho[:, None] / np.where(R > 0, R, 1.0), np.inf)
    if per.size:
        ub = np.minimum(ub, per.min(axis=0))
    return ub


def _column_min(indptr, indices, values_at_rows, k):
    """min over each column's stored rows of ``values_at_rows[row]`` (1 for empty columns)."""
    out = np.ones(k)
    counts = np.diff(indptr)
    nonempty = counts > 0
    if indices.size:
        g = values_at_rows[indices]
        out[nonempty] = np.minimum.reduceat(g, indptr[:-1][nonempty])
    return out


def repair(problem, x: np.ndarray, *, max_rounds: int = 500) -> tuple[np.ndarray, int]:
    """A feasible plan near ``x`` and the number of shrinking rounds it took."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, problem.capacities)
    A = problem.A
    s0 = problem.initial_stocks
    rounds = 0
    for rounds in range(1, max_rounds + 1):  # noqa: B007 - rounds is reported
        supply = s0 + (x if problem.B is None else problem.B @ x)
        use = A @ x
        short = use > supply
        if not short.any():
            rounds -= 1
            break
        f = np.ones(problem.n_products)
        f[short] = supply[short] / use[short] * (1.0 - 1e-12)
        x = x * _column_min(A.indptr, A.indices, f, problem.n_techniques)
    limited = np.isfinite(problem.available)
    if limited.any():
        used = problem.R[limited] @ x
        rho = problem.available[limited]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(used > rho, rho / used, 1.0)
        alpha = float(ratio.min()) if ratio.size else 1.0
        if alpha < 1.0:
            x = x * alpha
    return x, rounds


def feasibility(problem, x: np.ndarray, n: np.ndarray) -> float:
    """Largest relative violation of n ≥ 0, R x ≤ ρ and 0 ≤ x ≤ c (0 = feasible)."""
    worst = 0.0
    gross = problem.initial_stocks + (x if problem.B is None else problem.B @ x) \
        + problem.A @ x
    short = np.maximum(-n, 0.0)
    if short.any():
        worst = max(worst, float(np.max(short / np.maximum(gross, 1e-300))))
    limited = np.isfinite(problem.available)
    if limited.any():
        used = problem.R[limited] @ x
        rho = problem.available[limited]
        over = np.maximum(used - rho, 0.0)
        if over.any():
            worst = max(worst, float(np.max(over / np.maximum(rho, 1e-300))))
    capped = np.isfinite(problem.capacities)
    over = np.maximum(x[capped] - problem.capacities[capped], 0.0)
    if over.any():
        worst = max(worst, float(np.max(over / np.maximum(problem.capacities[capped], 1e-300))))
    if (x < 0).any():
        worst = max(worst, float(np.max(-x[x < 0] / max(float(np.abs(x).max()), 1e-300))))
    return worst


def dual_bound(problem, mode: str, p: np.ndarray, lam: np.ndarray, limited: np.ndarray,
               ub: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Upper bound on the objective at prices p ≥ 0, λ ≥ 0 (λ over ``limited`` resources).

    Returns (bound, p, λ, reduced profit per technique) after the normalisation that
    makes the bound finite where possible (plan-ray: pᵀt = 1).
    """
    p = np.maximum(p, 0.0)
    lam = np.maximum(lam, 0.0)
    t = problem.targets
    if mode == "plan-ray":
        scale = float(np.dot(p, t))
        if not scale > 0:
            return np.inf, p, lam, np.zeros(problem.n_techniques)
        p = p / scale
        lam = lam / scale
    profit = problem.net_matrix().T @ p - problem.R[limited].T @ lam
    gain = np.maximum(profit, 0.0)
    positive = gain > 0
    if np.any(positive & ~np.isfinite(ub)):
        return np.inf, p, lam, profit
    bound = float(np.dot(p, problem.initial_stocks) + np.dot(lam, problem.available[limited])
                  + np.dot(ub[positive], gain[positive]))
    if mode == "harmony":
        idx = problem.target_index
        bound += float(np.sum(_harmony.conjugate(p[idx], t[idx], problem.weights[idx])))
    return bound, p, lam, profit


@dataclass
class Evidence:
    x: np.ndarray
    n: np.ndarray
    objective: float
    bound: float
    gap: float
    relative_gap: float
    prices: np.ndarray
    resource_prices: np.ndarray
    profit: np.ndarray
    infeasibility: float
    repair_rounds: int


def objective(problem, mode: str, n: np.ndarray) -> float:
    idx = problem.target_index
    t = problem.targets[idx]
    if mode == "plan-ray":
        return float(np.min(n[idx] / t))
    return float(np.dot(problem.weights[idx], _harmony.harmony((n[idx] - t) / t)))


def relative_gap(mode: str, objective_value: float, bound: float) -> float:
    gap = bound - objective_value
    if not np.isfinite(gap):
        return np.inf
    if mode == "plan-ray":
        scale = max(abs(objective_value), abs(bound))
        return 0.0 if scale == 0 else max(gap, 0.0) / scale
    return max(gap, 0.0) / max(1.0, abs(objective_value))


def evidence(problem, mode: str, x: np.ndarray, p: np.ndarray, lam_limited: np.ndarray,
             limited: np.ndarray, ub: np.ndarray) -> Evidence:
    """Repair ``x``, bound with (p, λ), and measure everything a result reports."""
    xf, rounds = repair(problem, x)
    n = problem.net_output(xf)
    obj = objective(problem, mode, n)
    bound, p, lam, profit = dual_bound(problem, mode, p, lam_limited, limited, ub)
    lam_all = np.zeros(problem.n_resources)
    lam_all[limited] = lam
    return Evidence(x=xf, n=n, objective=obj, bound=bound, gap=bound - obj,
                    relative_gap=relative_gap(mode, obj, bound), prices=p,
                    resource_prices=lam_all, profit=profit,
                    infeasibility=feasibility(problem, xf, n), repair_rounds=rounds)
