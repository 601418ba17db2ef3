"""The decoupled plan: exact, through labour values (MATH.md §3, "structure worth exploiting").

In the square case (one technique per product, B = I) without capacity limits
and without initial stocks, the planner can work in net outputs y = (I − A)x:
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

__all__ = ["not_applicable", "integrated", "integrated_coefficients", "gross_outputs",
           "solve_decoupled"]


def not_applicable(problem) -> str | None:
    """Why the decoupled solve does not apply to ``problem`` (None if it does)."""
    if not problem.is_square or problem.economy is None:
        return "techniques differ from products (technique choice or joint production)"
    if np.isfinite(problem.capacities).any():
        return "some techniques have capacity limits"
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
    key = "plan-transpose-proven"
    if key in economy._cache or np.all(y > 0):
        x = solver.solve(rhs=y).values
    else:
        # a right-hand side with zeros gives no Collatz–Wielandt proof of productivity,
        # and the block-by-block proof costs factorisations (17 s against 0.1 s for the
        # solve at 10⁵ products): a second column of ones makes the summed solution
        # positive, so the first solve proves productivity from its own values
        x = solver.solve(rhs=np.vstack([y, np.ones_like(y)])).values[0]
    economy._cache[key] = True
    return np.maximum(x, 0.0)


def _harmony_prices(V_t, t, w, rho):
    """λ ≥ 0 minimising g(λ) = Σ conj(λᵀV_t) + λᵀρ; V_t is (r, |T|)."""
    import scipy.optimize as so

    r = V_t.shape[0]
    if not np.any(w > 0):  # nothing is worth producing: every plan scores 0, prices 0
        return np.zeros(r)

    if r == 1:
        return np.array([_labour_price(V_t[0], t, w, float(rho[0]))])

    def g(mu):
        lam = np.exp(mu)
        p = lam @ V_t
        value = float(np.sum(_harmony.conjugate(p, t, w)) + np.dot(lam, rho))
        grad = lam * (rho - V_t @ _harmony.best_response(p, t, w))
        return value, grad

    lam0 = np.full(r, float(np.median(2.0 * w / np.maximum(V_t.sum(axis=0) * t, 1e-300))) / r)
    res = so.minimize(g, np.log(np.maximum(lam0, 1e-300)), jac=True, method="BFGS",
                      options={"gtol": 1e-13, "maxiter": 2000})
    return np.exp(res.x)


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
    uses none of the limited resources, directly or indirectly).
    """
    limited = np.flatnonzero(np.isfinite(problem.available))
    idx = problem.target_index
    t = problem.targets[idx]
    w = problem.weights[idx]
    if limited.size == 0:
        return None, None, None, "no resource is limited and no technique has a capacity"
    V = integrated_coefficients(problem, limited, options)
    V_t = V[:, idx]
    rho = problem.available[limited]
    free = ~(V_t > 0).any(axis=0) & (w > 0 if mode == "harmony" else True)
    if free.any():
        code = problem.product_codes[idx[np.flatnonzero(free)[0]]]
        return None, None, None, (f"target product {code!r} uses none of the limited resources "
                                  "directly or indirectly, so it can grow without limit")
    y = np.zeros(problem.n_products)
    if mode == "plan-ray":
        with np.errstate(over="ignore"):
            need = V_t @ t
        q = int(np.argmin(rho / need))
        phi = float(rho[q] / need[q])
        lam = np.zeros(limited.size)
        lam[q] = 1.0 / need[q]
        y[idx] = phi * t
    else:
        lam = _harmony_prices(V_t, t, w, rho)
        y[idx] = _harmony.best_response(lam @ V_t, t, w)
    p = lam @ V
    x = gross_outputs(problem.economy, y, backend=options.backend,
                      n_threads=options.n_threads)
    if not all(math.isfinite(v) for v in (float(x.sum()), float(p.sum()))):
        return None, None, None, "the decoupled solve produced non-finite values"
    return x, p, lam, None
