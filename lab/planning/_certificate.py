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

from lab.planning import _harmony

__all__ = ["Evidence", "repair", "dual_bound", "evidence", "implied_bounds", "feasibility",
           "FEASIBILITY_TOL"]

#: Largest relative violation (of a product's gross flow, a resource limit or a
#: capacity) with which a plan still counts as feasible.
FEASIBILITY_TOL = 1e-9


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


#: Flows below this share of the largest gross flow are judged against that share:
#: a shortage of 10⁻¹⁵ of the plan's largest flow is rounding, however small the
#: product's own flow is.
FLOW_FLOOR = 1e-6


def _flow_scale(gross: np.ndarray) -> np.ndarray:
    """Per product, the flow a shortage is measured against: its gross flow, but at
    least ``FLOW_FLOOR`` times the largest gross flow of the plan."""
    top = float(gross.max()) if gross.size else 0.0
    return np.maximum(gross, FLOW_FLOOR * top)


def _makers(problem, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each product, the technique that makes most of it at ``x`` and its B entry."""
    m = problem.n_products
    if problem.B is None:
        return np.arange(m), np.ones(m)
    Bc = problem._cache.get("make_csr")
    if Bc is None:
        Bc = problem._cache["make_csr"] = problem.B.tocsr()
    maker = np.full(m, -1, dtype=np.intp)
    coef = np.zeros(m)
    rows = np.repeat(np.arange(m), np.diff(Bc.indptr))
    out = Bc.data * (x[Bc.indices] + 1e-300)  # ties (x = 0) go to the largest coefficient
    order = np.lexsort((out, rows))
    last = np.flatnonzero(np.diff(np.append(rows[order], m)) != 0)
    picked = order[last]
    maker[rows[picked]] = Bc.indices[picked]
    coef[rows[picked]] = Bc.data[picked]
    return maker, coef


def repair(problem, x: np.ndarray, *, rtol: float = 0.5 * FEASIBILITY_TOL,
           max_rounds: int = 2000) -> tuple[np.ndarray, int]:
    """A plan near ``x`` that meets every constraint, and the rounds it took.

    Shortages (use above supply by more than ``rtol`` of the gross flow) are first
    produced: the technique making most of the short product runs a little more
    (within its capacity), which moves the shortage upstream where it shrinks
    geometrically in a productive economy. Shortages that remain (a product no
    technique can make, a maker at capacity) are then removed by scaling down the
    techniques that use the product. Resource limits are met last, by scaling
    every intensity by one factor ≤ 1.
    """
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, problem.capacities)
    A = problem.A
    s0 = problem.initial_stocks
    cap = problem.capacities
    rounds = 0
    maker = coef = None
    for rounds in range(1, max_rounds + 1):  # noqa: B007 - rounds is reported
        supply = s0 + (x if problem.B is None else problem.B @ x)
        use = A @ x
        short = use - supply > rtol * _flow_scale(supply + use)
        if not short.any():
            rounds -= 1
            break
        if rounds > max_rounds // 10:
            # growing makers has not settled it (a cycle through a technique at its
            # capacity): from here on only shrink, which decreases x monotonically
            f = np.ones(problem.n_products)
            f[short] = supply[short] / use[short] * (1.0 - rtol)
            x = x * _column_min(A.indptr, A.indices, f, problem.n_techniques)
            continue
        if maker is None:
            maker, coef = _makers(problem, x)
        f = np.ones(problem.n_products)
        # produce what is missing where the main maker has room (within its capacity) ...
        i = np.flatnonzero(short & (maker >= 0))
        if i.size:
            # the maker may use some of its own product: grow by the net coefficient
            net = np.asarray(problem.net_matrix()[i, maker[i]]).ravel()
            i, net = i[net > 0], net[net > 0]
            need = (use[i] - supply[i]) * (1.0 + 1e-9) / net
            room = cap[maker[i]] - x[maker[i]]
            can = need <= room
            grow = np.zeros(problem.n_techniques)
            np.add.at(grow, maker[i[can]], need[can])
            x = np.minimum(x + grow, cap)
            short[i[can]] = False
        # ... and use less of it where it cannot be made
        if short.any():
            f[short] = supply[short] / use[short] * (1.0 - rtol)
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
    """Largest relative violation of n ≥ 0, R x ≤ ρ and 0 ≤ x ≤ c (0 = feasible).

    A shortage counts relative to :func:`_flow_scale` of the product's gross flow.
    """
    worst = 0.0
    gross = problem.initial_stocks + (x if problem.B is None else problem.B @ x) \
        + problem.A @ x
    short = np.maximum(-n, 0.0)
    if short.any():
        worst = max(worst, float(np.max(short / np.maximum(_flow_scale(gross), 1e-300))))
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


def _main_products(problem) -> np.ndarray:
    """The product each technique makes most of (its largest entry of B)."""
    if "main_products" not in problem._cache:
        if problem.B is None:
            main = np.arange(problem.n_techniques)
        else:
            B = problem.B
            main = np.zeros(problem.n_techniques, dtype=np.intp)
            for j in range(problem.n_techniques):  # B has few entries per column
                lo, hi = B.indptr[j], B.indptr[j + 1]
                main[j] = B.indices[lo + int(np.argmax(B.data[lo:hi]))]
        problem._cache["main_products"] = main
    return problem._cache["main_products"]


def _lower_prices(problem, p: np.ndarray, resource_cost: np.ndarray, sweeps: int) -> np.ndarray:
    """Lower product prices where a technique would earn more than its costs.

    Sweeps of p_i ← p_i − max over techniques j making i of gain_j / B[i, j]
    (gain = revenue − cost at the current prices, main products only). This is
    value iteration from above: it moves approximate prices towards dual
    feasibility, so that few reduced profits remain for the bound to pay for.
    Any p ≥ 0 gives a valid bound; this only makes it tighter.
    """
    if sweeps <= 0:
        return p
    main = _main_products(problem)
    B = problem.B
    if B is None:
        b_main = np.ones(problem.n_techniques)
    else:
        b_main = np.asarray(B[main, np.arange(problem.n_techniques)]).ravel()
    A = problem.A
    uncapped = ~np.isfinite(problem.capacities)
    for _ in range(sweeps):
        revenue = p[main] * b_main if B is None else B.T @ p
        gain = revenue - (A.T @ p) - resource_cost
        # techniques with a capacity keep their gain: it is the capacity's rent
        gain = np.where(uncapped, gain, 0.0)
        if not (gain > 0).any():
            break
        cut = np.zeros(problem.n_products)
        np.maximum.at(cut, main, np.maximum(gain, 0.0) / b_main)
        p = np.maximum(p - cut, 0.0)
    return p


def dual_bound(problem, mode: str, p: np.ndarray, lam: np.ndarray, limited: np.ndarray,
               ub: np.ndarray, *, sweeps: int = 60
               ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Upper bound on the objective at prices p ≥ 0, λ ≥ 0 (λ over ``limited`` resources).

    Returns (bound, p, λ, reduced profit per technique) after the normalisation that
    makes the bound finite where possible (plan-ray: pᵀt = 1).
    """
    p = np.maximum(p, 0.0)
    lam = np.maximum(lam, 0.0)
    t = problem.targets
    R = problem.R[limited]
    rho = problem.available[limited]
    p = _lower_prices(problem, p, R.T @ lam, sweeps)
    if mode == "plan-ray":  # the column of φ requires pᵀt ≥ 1
        scale = float(np.dot(p, t))
        if not scale > 0:
            return np.inf, p, lam, np.zeros(problem.n_techniques)
        p = p / scale
        lam = lam / scale
    cost = problem.A.T @ p + R.T @ lam
    profit = problem.net_matrix().T @ p - R.T @ lam
    # a reduced profit at the rounding level of its own terms is no evidence of a
    # better plan (it would make the bound infinite for techniques without limits)
    profit = np.where(np.abs(profit) <= 16 * np.finfo(float).eps * (cost + np.abs(profit)),
                      0.0, profit)
    lam = lam.copy()
    for q in range(lam.size):  # one pass of coordinate descent on the resource prices
        gain = np.maximum(profit, 0.0)
        delta = _best_raise(gain, R[q], ub, rho[q])
        if delta > 0:
            lam[q] += delta
            profit = profit - delta * R[q]
    gain = np.maximum(profit, 0.0)
    positive = gain > 0
    if np.any(positive & ~np.isfinite(ub)):
        return np.inf, p, lam, profit
    bound = float(np.dot(p, problem.initial_stocks) + np.dot(lam, rho)
                  + np.dot(ub[positive], gain[positive]))
    if mode == "harmony":
        idx = problem.target_index
        bound += float(np.sum(_harmony.conjugate(p[idx], t[idx], problem.weights[idx])))
    return bound, p, lam, profit


def _best_raise(gain: np.ndarray, r_q: np.ndarray, ub: np.ndarray, rho_q: float) -> float:
    """δ ≥ 0 minimising δ·ρ_q + Σ_j ub_j·max(0, gain_j − δ·r_qj).

    Raising one resource price by δ lowers every technique's reduced profit by
    δ·r_qj; the function is convex and piecewise linear in δ, with breakpoints
    gain_j / r_qj, so the minimum is found by sorting them.
    """
    active = (gain > 0) & (r_q > 0)
    if not active.any():
        return 0.0
    brk = gain[active] / r_q[active]
    weight = ub[active] * r_q[active]  # slope contribution while δ < breakpoint
    order = np.argsort(-brk)
    brk, weight = brk[order], weight[order]
    # slope at δ just below brk[i] is ρ_q − Σ_{j ≤ i} weight_j (techniques still gaining)
    stuck = (gain > 0) & ~(r_q > 0)
    if np.any(stuck & ~np.isfinite(ub)):
        pass  # those stay infinite whatever δ is; raising still helps the others
    cum = np.cumsum(weight)
    over = np.flatnonzero(cum >= rho_q)
    if over.size == 0:
        return 0.0  # the slope is positive everywhere: do not raise
    return float(brk[over[0]])


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
    infeasibility = feasibility(problem, xf, n)
    # a plan that could not be made feasible proves nothing
    rel = relative_gap(mode, obj, bound) if infeasibility <= FEASIBILITY_TOL else np.inf
    return Evidence(x=xf, n=n, objective=obj, bound=bound, gap=bound - obj,
                    relative_gap=rel, prices=p, resource_prices=lam_all, profit=profit,
                    infeasibility=infeasibility, repair_rounds=rounds)
