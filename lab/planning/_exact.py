"""The decoupled plan: exact, through labour values (MATH.md §3, "structure worth exploiting").

In the square case (one technique per product, B = I) without initial stocks, the
planner can work in net outputs y = (I − A)x:
for a productive economy x = (I − A)⁻¹y ≥ 0 whenever y ≥ 0, and resource use is
R x = V y with V = R(I − A)⁻¹, the vertically integrated resource coefficients
(labour values for the labour row). Only the r limited resources couple the
products:

* plan-ray: φ = min_q ρ_q / (V_q · t), x = φ (I − A)⁻¹ t (the closed form);
* harmony: the dual has one variable per limited resource; for prices λ each
  target's net output is the closed-form best response to its price p = λᵀV
  (lab.planning._harmony.best_response), and λ minimises the smooth convex dual
  g(λ) = Σ conj(p(λ)) + λᵀρ: a monotone root in one dimension (labour alone),
  quasi-Newton in λ = exp(μ) for several resources.

Capacities c_j (one per product here) are limits of the same kind: x_j = e_jᵀ(I − A)⁻¹y
≤ c_j is a resource whose integrated coefficients are the values of a unit cost on
product j alone, u_j = e_jᵀ(I − A)⁻¹, and whose price is the capacity's rent. So

* plan-ray: every feasible plan has x ≥ φ·(I − A)⁻¹t (the Leontief inverse is ≥ 0),
  so φ = min(min_q ρ_q / (V_q·t), min_j c_j / ((I − A)⁻¹t)_j), exactly; where a capacity
  binds, the prices are u_j / ((I − A)⁻¹t)_j and the rent is what the certificate's
  bound charges for it;
* harmony: the capacities the plan exceeds are added as resources (their rows u_j by
  one value solve) and the dual is solved again, until the plan meets every capacity.
  Past :func:`priced_limit` such rows the route stops with
  :class:`CapacitiesBind` and the general routes take over.

Cost: one multi-right-hand-side value solve for V, one value solve with Aᵀ for
x, O(r·m) per dual evaluation. The plan is certified like every other plan (a
repaired primal, a dual bound, their gap), so nothing here is taken on trust.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.sparse as sp

from lab.economy import Economy
from lab.exceptions import EfficiencyWarning
from lab.planning import _harmony

__all__ = ["NotApplicable", "CapacitiesBind", "not_applicable", "integrated",
           "integrated_coefficients", "gross_outputs", "solve_decoupled",
           "within_capacities", "priced_limit", "MAX_PRICED_CAPACITIES"]

#: Most capacities the harmony route prices as resources before it hands the problem on
#: (each adds a row to the dual's Newton system), and the budgets that lower it for
#: many targets |T|: the rows on the targets take 8·rows·|T| bytes (a copy of them more
#: while the Newton matrix is formed), and forming it costs rows²·|T| multiply-adds.
#: Measured (square generated problems, capacities on 20 %): 3·10⁴ products, 1,576
#: rows on 9,000 targets, certified in 17.4–17.8 s (Newton 11.0–11.4 s) where the primal-dual
#: route stood at gap 0.21 after 97 s; 10⁴, 605 rows on 3,000 targets, 1.6 s.
MAX_PRICED_CAPACITIES = 4096
PRICED_BYTES = 2**28
NEWTON_WORK = 4e10
#: Most projected Newton steps of the harmony dual with priced capacities.
NEWTON_STEPS = 200
#: Unit right-hand sides per value solve of :func:`unit_values`.
UNIT_BATCH = 64
#: A plan meets a capacity when it uses at most this share more (the certificate's
#: feasibility tolerance).
CAPACITY_RTOL = 1e-9


class NotApplicable(Exception):
    """An exact route does not apply; the message says why."""


class CapacitiesBind(NotApplicable):
    """The exact route's plan without (some) capacities exceeds them. ``plan``: that
    plan scaled down into the capacities, a feasible start for the general routes."""

    def __init__(self, message: str, plan: np.ndarray):
        super().__init__(message)
        self.plan = plan


def priced_limit(n_targets: int) -> int:
    """Most capacities the harmony route prices for ``n_targets`` targets (the budgets
    above)."""
    n = max(n_targets, 1)
    return int(min(MAX_PRICED_CAPACITIES, math.sqrt(NEWTON_WORK / n), PRICED_BYTES / (8 * n)))


def within_capacities(x: np.ndarray, capacities: np.ndarray) -> np.ndarray:
    """x scaled by one factor ≤ 1 so that x ≤ c (feasible again where x was without c)."""
    over = x > capacities
    if not over.any():
        return x
    return x * float(np.min(capacities[over] / x[over]))


def exceeded(x: np.ndarray, capacities: np.ndarray) -> np.ndarray:
    """Techniques whose intensity exceeds their capacity by more than rounding."""
    return np.flatnonzero(x > capacities * (1.0 + CAPACITY_RTOL))


def not_applicable(problem) -> str | None:
    """Why the decoupled solve does not apply to ``problem`` (None if it does)."""
    if not problem.is_square or problem.economy is None:
        return "techniques differ from products (technique choice or joint production)"
    if np.any(problem.initial_stocks > 0):
        return "there are initial stocks"
    return None


def _value_solver(economy: Economy, key: str, build):
    cache = economy._cache
    if key not in cache:
        cache[key] = build()
    return cache[key]


def integrated(economy: Economy, rows: np.ndarray, backend: str,
               n_threads: int | None) -> np.ndarray:
    """V = R[rows](I − A)⁻¹, shape (len(rows), m), cached on the economy (read-only)."""
    from lab.values._solver import ValueSolver

    key = ("plan-V", tuple(int(q) for q in rows), backend)
    if key not in economy._cache:
        solver = _value_solver(economy, "plan-value-solver",
                               lambda: ValueSolver(economy, rtol=1e-13, backend=backend,
                                                   n_threads=n_threads))
        result = solver.solve(rhs=economy.R[rows])
        V = np.atleast_2d(result.values)
        V.flags.writeable = False
        economy._cache[key] = V
    return economy._cache[key]


def values_for(economy: Economy, rhs: np.ndarray, backend: str,
               n_threads: int | None) -> np.ndarray:
    """v = (I − Aᵀ)⁻¹b for each row b of ``rhs`` (k, m) ≥ 0, by the economy's cached
    value solver; (k, m)."""
    from lab.values._solver import ValueSolver

    solver = _value_solver(economy, "plan-value-solver",
                           lambda: ValueSolver(economy, rtol=1e-13, backend=backend,
                                               n_threads=n_threads))
    return _proven_solve(economy, solver, "plan-value-proven", rhs)


def _proven_solve(economy: Economy, solver, key: str, rhs: np.ndarray) -> np.ndarray:
    """solver's solutions for the rows of ``rhs`` (k, m), (k, m). A right-hand side with
    zeros gives no Collatz–Wielandt proof of productivity, and the block-by-block proof
    costs factorisations (17 s against 0.1 s for the solve at 10⁵ products): until the
    solver has a proof (``key`` on the economy; the solver keeps it), a row of ones joins
    the solve, whose summed solution is positive and proves it from its own values."""
    rhs = np.atleast_2d(rhs)
    if key in economy._cache or np.all(rhs > 0):
        values = np.atleast_2d(solver.solve(rhs=rhs).values)
    else:
        values = np.atleast_2d(solver.solve(rhs=np.vstack([rhs, np.ones(rhs.shape[1])]))
                               .values)[:-1]
    economy._cache[key] = True
    return values


def unit_values(economy: Economy, products: np.ndarray, columns: np.ndarray, backend: str,
                n_threads: int | None) -> np.ndarray:
    """U = E(I − A)⁻¹ on ``columns``, E the unit rows of ``products``: row j is what each
    product embodies of product j's own output (the integrated coefficients of a capacity
    on j), solved :data:`UNIT_BATCH` rows at a time; (len(products), len(columns))."""
    m = economy.A.shape[0]
    out = np.empty((len(products), len(columns)))
    for s in range(0, len(products), UNIT_BATCH):
        chunk = products[s:s + UNIT_BATCH]
        rhs = np.zeros((len(chunk), m))
        rhs[np.arange(len(chunk)), chunk] = 1.0
        out[s:s + len(chunk)] = values_for(economy, rhs, backend, n_threads)[:, columns]
    return out


def integrated_coefficients(problem, rows: np.ndarray, options) -> np.ndarray:
    """V = R[rows](I − A)⁻¹ of the problem's economy (see :func:`integrated`)."""
    return integrated(problem.economy, rows, options.backend, options.n_threads)


def gross_outputs(economy: Economy, y: np.ndarray, *, backend: str = "auto",
                  n_threads: int | None = None) -> np.ndarray:
    """x = (I − A)⁻¹ y (the Leontief inverse applied to net outputs y ≥ 0).

    A value solve with Aᵀ; its structure analysis is cached on the economy.
    """
    from lab.values._solver import ValueSolver

    def build():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EfficiencyWarning)
            transposed = Economy(sp.csc_array(economy.A.T), economy.R[:1])
        return ValueSolver(transposed, rtol=1e-13, backend=backend, n_threads=n_threads)

    solver = _value_solver(economy, "plan-transpose-solver", build)
    x = _proven_solve(economy, solver, "plan-transpose-proven", y)[0]
    return np.maximum(x, 0.0)


def _harmony_prices(V_t, t, w, rho):
    """λ ≥ 0 minimising g(λ) = Σ conj(λᵀV_t) + λᵀρ; V_t is (r, |T|).

    One resource: the root of the labour balance. Several: projected Newton steps
    (:func:`_harmony_dual_newton`) from a start at which every target's price is > 0.
    They replaced BFGS in log-prices, which reached the same g (within 2.4e-15 relative)
    after 54–63 iterations and about 100 evaluations, and never an exact 0 for a resource
    that does not bind: generated plans with technique choice and 3 resources, 10³
    products 16.5–20.7 ms against 1.4–2.6 ms, 10⁴ 39.9–47.4 against 3.3–4.0, 10⁵ 137.4
    against 19.5 (``python /tmp/s43/hn.py``)."""
    r = V_t.shape[0]
    if not np.any(w > 0):  # nothing is worth producing: every plan scores 0, prices 0
        return np.zeros(r)
    if r == 1:
        return np.array([_labour_price(V_t[0], t, w, float(rho[0]))])
    lam0 = np.full(r, float(np.median(2.0 * w / np.maximum(V_t.sum(axis=0) * t, 1e-300))) / r)
    return _harmony_dual_newton(V_t, t, w, rho, lam0)


def _harmony_dual_newton(V_t, t, w, rho, lam):
    """λ ≥ 0 minimising the harmony dual g(λ) = Σ conj(λᵀV_t) + λᵀρ by projected Newton
    steps (Bertsekas) from ``lam`` (at which every target's price is > 0), for several
    resources and where capacities are priced as resources (the rows then differ in
    scale by orders of magnitude, where BFGS in log-prices overflowed); g is convex and
    piecewise twice differentiable, with Hessian V diag(−dn/dp) Vᵀ. A row all of whose targets make
    nothing at the current prices has no curvature: g is linear along it, with slope
    ρ_q > 0, so its step aims at λ_q = 0 and the line search stops it where the first
    target starts again (a Newton step there is unbounded). Steps are damped
    (Levenberg–Marquardt) when the line search has to shorten them."""
    def evaluate(lam):
        p = lam @ V_t
        with np.errstate(over="ignore", invalid="ignore"):
            value = float(np.sum(_harmony.conjugate(p, t, w)) + np.dot(lam, rho))
        return value, p

    value, p = evaluate(lam)
    damping = 1e-12  # Levenberg–Marquardt: H + damping·diag(H); rows may outnumber the
    # targets that make something, and H is then singular
    for _ in range(NEWTON_STEPS):
        n = _harmony.best_response(p, t, w)
        grad = rho - V_t @ n
        with np.errstate(divide="ignore", invalid="ignore"):
            q = p * t / np.where(w > 0, w, 1.0)  # −dn/dp by branch: w/p², t²/w, 0
            slope = np.where(w <= 0, 0.0, np.where(q <= 1.0, w / (p * p),
                                                   np.where(q < 2.0, t * t / w, 0.0)))
        free = (lam > 0) | (grad < 0)
        curved = (V_t * V_t) @ slope > 0
        newton = free & curved
        d = np.zeros_like(lam)
        flat = free & ~curved
        d[flat] = -lam[flat]
        if newton.any():
            Vf = V_t[newton]
            H = (Vf * slope) @ Vf.T
            H[np.diag_indices_from(H)] *= 1.0 + damping
            try:
                d[newton] = np.linalg.solve(H, -grad[newton])
            except np.linalg.LinAlgError:
                d[newton] = -grad[newton] / np.diag(H)
        decrease = -float(np.dot(grad, d))
        if not decrease > 1e-15 * max(1.0, abs(value)):
            break
        step = 1.0
        while step > 1e-30:
            new = np.maximum(lam + step * d, 0.0)
            new_value, new_p = evaluate(new)
            if new_value <= value - 1e-4 * float(np.dot(grad, lam - new)):
                break
            step *= 0.5
        else:
            break
        # a shortened step: the quadratic model was poor, lean towards the gradient
        damping = max(damping / 10.0, 1e-12) if step == 1.0 else min(damping * 10.0, 1e12)
        lam, value, p = new, new_value, new_p
    return lam


def _labour_price(v, t, w, rho):
    """The labour price λ at which the best responses use exactly ρ hours (one resource).

    At price λ target i gets n_i = t_i·f(Q_i) with Q_i = λ·v_i·t_i / w_i (its marginal
    harmony per hour relative to λ) and f(Q) = 1/Q (Q ≤ 1), 2 − Q (1 < Q < 2), 0 (Q ≥ 2);
    its labour is v_i·n_i = w_i/λ, v_i·t_i·(2 − Q_i) or 0. The root is searched in
    μ = ln λ on a bracket found in closed form, with every term formed from logarithms, so
    that weights near 10³⁰⁸ or subnormal targets neither overflow nor loop: the search is
    one bounded root finder (at most 500 steps) on [μ_lo, μ_hi].
    """
    import scipy.optimize as so

    pos = w > 0
    kappa = _log_ratio(v[pos], t[pos], w[pos])  # ln Q_i = μ + κ_i
    mu_hi = float(np.max(np.log(2.0) - kappa))   # every Q ≥ 2: nothing is made
    if rho == 0:
        return float(np.exp(mu_hi))
    log_w = np.log(w[pos]) - np.log(rho)         # hours in units of ρ
    log_a = np.log(v[pos]) + np.log(t[pos]) - np.log(rho)

    def excess(mu):
        with np.errstate(over="ignore"):
            q = np.exp(mu + kappa)
            hours = np.where(q <= 1.0, np.exp(log_w - mu),
                             np.where(q < 2.0, np.exp(log_a) * (2.0 - q), 0.0))
        return float(np.sum(hours)) - 1.0

    top = float(np.max(log_w))
    log_total = float(np.log(np.sum(np.exp(log_w - top)))) + top
    # every Q ≤ 1/2: the hours are Σw/λ ≥ 2ρ
    mu_lo = min(float(np.min(-kappa)), log_total) - np.log(2.0)
    mu = so.brentq(excess, mu_lo, mu_hi, xtol=1e-15, rtol=4 * np.finfo(float).eps,
                   maxiter=500, full_output=True, disp=False)[0]
    return float(np.exp(mu))


def _log_ratio(v, t, w):
    """κ = ln(v·t/w), elementwise, without forming v·t (which may underflow)."""
    return np.log(v) + np.log(t) - np.log(w)


def solve_decoupled(problem, mode: str, options):
    """Intensities x, product prices p (m,), resource prices λ over the limited rows.

    Returns ``None`` for x when the plan is unbounded (a target whose production
    uses none of the limited resources, directly or indirectly). Raises
    :class:`CapacitiesBind` when harmony's plan exceeds more capacities than the route
    prices (module docstring).
    """
    limited = np.flatnonzero(np.isfinite(problem.available))
    capped = np.isfinite(problem.capacities)
    idx = problem.target_index
    t = problem.targets[idx]
    w = problem.weights[idx]
    if limited.size == 0 and not capped.any():
        return None, None, None, "no resource is limited and no technique has a capacity"
    V = integrated_coefficients(problem, limited, options) if limited.size \
        else np.zeros((0, problem.n_products))
    rho = problem.available[limited]
    if mode == "plan-ray":
        return _plan_ray(problem, V, rho, options)
    V_t = V[:, idx]
    free = ~(V_t > 0).any(axis=0) & (w > 0)
    if free.any():
        code = problem.product_codes[idx[np.flatnonzero(free)[0]]]
        why = (f"target product {code!r} uses none of the limited resources directly or "
               "indirectly")
        if capped.any():  # a capacity may still bound it: the general routes decide
            raise NotApplicable(why)
        return None, None, None, why + ", so it can grow without limit"
    r = limited.size
    priced = np.zeros(0, dtype=np.intp)  # products whose capacity is priced as a resource
    lam = _harmony_prices(V_t, t, w, rho)
    while True:
        if priced.size:
            lam = _harmony_dual_newton(V_t, t, w, rho, np.pad(lam, (0, rho.size - lam.size)))
        y = np.zeros(problem.n_products)
        y[idx] = _harmony.best_response(lam @ V_t, t, w)
        x = gross_outputs(problem.economy, y, backend=options.backend,
                          n_threads=options.n_threads)
        over = np.setdiff1d(exceeded(x, problem.capacities), priced)
        if over.size == 0:
            break
        most = priced_limit(idx.size)
        if priced.size + over.size > most:
            raise CapacitiesBind(
                f"the plan exceeds {priced.size + over.size} capacities, more than the "
                f"{most} the exact route prices as resources for {idx.size} targets",
                within_capacities(x, problem.capacities))
        V_t = np.vstack([V_t, unit_values(problem.economy, over, idx, options.backend,
                                          options.n_threads)])
        rho = np.concatenate([rho, problem.capacities[over]])
        priced = np.concatenate([priced, over])
    p = lam[:r] @ V
    rents = lam[r:] > 0
    if rents.any():  # the capacities' rents, valued through the inputs like labour
        rhs = np.zeros((1, problem.n_products))
        rhs[0, priced[rents]] = lam[r:][rents]
        p = p + values_for(problem.economy, rhs, options.backend, options.n_threads)[0]
    if not all(math.isfinite(v) for v in (float(x.sum()), float(p.sum()))):
        return None, None, None, "the decoupled solve produced non-finite values"
    return x, p, lam[:r], None


def _plan_ray(problem, V, rho, options):
    """The closed form of the plan ray with resources and capacities (module docstring)."""
    idx = problem.target_index
    y = np.zeros(problem.n_products)
    y[idx] = problem.targets[idx]
    x1 = gross_outputs(problem.economy, y, backend=options.backend,
                       n_threads=options.n_threads)  # the plan for φ = 1
    with np.errstate(over="ignore"):
        need = V[:, idx] @ problem.targets[idx]
    with np.errstate(divide="ignore"):
        by_resource = np.where(need > 0, rho / np.where(need > 0, need, 1.0), np.inf)
    caps = problem.capacities
    capped = np.flatnonzero(np.isfinite(caps) & (x1 > 0))
    by_capacity = caps[capped] / x1[capped]
    phi_r = float(by_resource.min(initial=np.inf))
    phi_c = float(by_capacity.min(initial=np.inf))
    if not math.isfinite(min(phi_r, phi_c)):
        return None, None, None, ("the targets use none of the limited resources and no "
                                  "technique with a capacity, so they can grow without limit")
    lam = np.zeros(V.shape[0])
    if phi_r <= phi_c:
        q = int(np.argmin(by_resource))
        lam[q] = 1.0 / need[q]
        p = lam @ V
    else:  # a capacity binds first: its rent prices the targets
        j = int(capped[np.argmin(by_capacity)])
        rhs = np.zeros((1, problem.n_products))
        rhs[0, j] = 1.0 / x1[j]
        p = values_for(problem.economy, rhs, options.backend, options.n_threads)[0]
    x = min(phi_r, phi_c) * x1
    if not all(math.isfinite(v) for v in (float(x.sum()), float(p.sum()))):
        return None, None, None, "the decoupled solve produced non-finite values"
    return x, p, lam, None
