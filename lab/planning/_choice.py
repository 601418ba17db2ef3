"""Exact plans with technique choice (MATH.md §2–§3).

When several techniques make a product but every technique makes one product (no
joint production) and there are no initial stocks, the plan without capacities is
decided by the cheapest techniques:

* **One limited resource q** (labour, say): by the non-substitution theorem the
  techniques that are cheapest in q (policy iteration, :mod:`lab.values._techniques`,
  with R[q] as the cost) are optimal for every target vector. The square economy of
  those techniques is solved exactly by the decoupled route (:mod:`lab.planning._exact`:
  closed form for the plan ray, one-dimensional dual for harmony) and the plan is
  lifted back: the chosen technique of each product gets its intensity, the others 0.
  The cheapest-technique values are the dual prices, so the certificate shows a gap at
  the rounding level.
* **Several limited resources** (prices λ ≥ 0 over the r limited rows): at prices λ
  the cheapest techniques for the cost λᵀR give product values v(λ), concave in λ.
  Plan ray: φ* = min over λ of λᵀρ / (v(λ)·t). Cutting planes solve it (Kelley's, with
  Wentges' smoothing towards the best dual point in large economies, which halved the
  evaluations at 10⁵ products): each evaluation at λ is one policy iteration and the
  resource use u_π = R x_π of its plan x_π = (I − A_π)⁻¹t, which is V_π t with the
  integrated coefficients V_π = R(I − A_π)⁻¹ (r value solves on the policy iteration's
  own solver); u_π gives the cut λᵀu_π ≥ 1; the cut LP
  min λᵀρ s.t. λᵀu_s ≥ 1 (HiGHS, r columns) is the dual of the Dantzig–Wolfe master
  max Σμ_s s.t. Σ μ_s u_s ≤ ρ, whose solution is an exact primal: the mix
  x = Σ μ_s x_s of the policies' plans (where several technique sets are optimal at
  λ*, the optimal plan mixes them; no single square system gives it). It ends when no
  policy gives a violated cut, finitely, since there are finitely many policies.
  Harmony: the dual g(λ) = λᵀρ + Σ conj(v(λ)) is convex in λ and equals the largest
  of the smooth duals g_π of the square economies of the policies π seen so far where
  λ is in π's region. The route minimises max over a growing set S of policies of
  g_π (a smooth min-max in r dimensions: SLSQP over the pieces that meet at the
  optimum, :func:`_min_max`), adds the cheapest policy at the next point (the minimiser,
  pulled towards the best point so far in large economies as the plan ray's are: 14
  policies instead of 18 at 10⁵ products), and stops when the best point's dual is
  within the tolerance of the min-max (a lower bound) or the minimiser's cheapest policy
  is already in S. Net outputs are the
  best responses y* at the final prices; the plan that makes them is the plan ray
  towards y* by the cutting planes above (a mix of policies where needed).

Capacities: the plan above is the optimum of the problem without them, so where it
meets every capacity it is the optimum with them too (the certificate proves it on the
problem with its capacities). Where the plan ray exceeds a few, each is priced like a
limited resource that its technique alone uses (one more dimension of the cutting
planes; its price is the capacity's rent, part of every technique's cost at which the
policies are chosen), until the plan exceeds none (:func:`_price_capacities`, at most
:data:`MAX_PRICED_CAPACITIES`). Otherwise the route raises
:class:`~lab.planning._exact.CapacitiesBind` with the plan scaled into the capacities,
and the general routes start from it. The ``bottlenecks`` problems of
``benchmarks/test_plan_scale.py`` (2 techniques per product, 3 resources, 8 capacities
at 0.7 of their use without them): 10⁴ products certified in 0.82 s against HiGHS's
fastest, IPM, 8.87 s; 10⁵ in 10.0 s.

Every plan is certified by :func:`lab.planning._certificate.evidence` on the
original problem; a route that cannot apply says why (:class:`NotApplicable`) and the
caller falls back to HiGHS or the primal-dual method.

What limits it: the number of policy evaluations (one per cut or per policy of the
min-max; 8–15 for the plan ray and 8–20 for harmony from 10³ to 10⁶ products with 2
techniques per product and 3 limited resources, benchmarks/test_plan_scale.py), each
a policy iteration started from the last policy with its values, warm
(:class:`lab.values._techniques.PolicyIteration`: 2 rounds a call at 10⁵), and the
Leontief solves of the policies' plans and integrated coefficients. 10⁵ products: plan
ray 1.19 s, harmony 2.58 s (before the stabilised harmony route); 10⁶: 16.8 s and
23.0 s, peak RSS 2.19 and 2.37 GB (2 cores, load 0.7–1.0; README).
"""

from __future__ import annotations

import math
import types
import warnings

import numpy as np
import scipy.sparse as sp

from lab import _ops
from lab.economy import Economy
from lab.exceptions import (
    ConvergenceWarning,
    EfficiencyWarning,
    InvalidProblemError,
    NotConvergedError,
    NotProductiveError,
)
from lab.planning import _harmony
from lab.planning._exact import (
    CapacitiesBind,
    NotApplicable,
    _harmony_prices,
    exceeded,
    gross_outputs,
    integrated,
    solve_decoupled,
    within_capacities,
)
from lab.planning._lp import HIGHS_LOCK, pass_lp, quiet_highs

__all__ = ["NotApplicable", "not_applicable", "solve_choice", "MAX_CUTS", "MAX_POLICIES"]

#: Most evaluations (policy iterations) of the cutting-plane loop for the plan ray.
MAX_CUTS = 200
#: Most policies in the harmony route's min-max.
MAX_POLICIES = 30
#: The min-max starts its working set with the pieces within this share of the
#: objective's scale below the older pieces' maximum at the previous point.
NEAR_MAX = 1e-6
#: Most capacities the plan ray prices as resources, each one more dimension of its
#: cutting planes over the prices, before it hands the problem on.
MAX_PRICED_CAPACITIES = 16
#: Bellman tolerance of the policy iterations (relative).
POLICY_RTOL = 1e-12
#: A policy iteration that stopped with a Bellman residual up to this many times
#: POLICY_RTOL still gives the cutting planes their policy.
BELLMAN_SLACK = 100
#: The exact routes stop when their bound and plan agree to this share of the
#: requested gap (the certificate then proves the gap on the original problem).
GAP_SHARE = 0.01
#: Wentges' smoothing of the cutting planes (0: Kelley's method), for problems of at
#: least ``SMOOTH_FROM`` products. Evaluations measured on the benchmark problems (seeds
#: 1, 2; Kelley / smoothed): 10³ 7/12, 2/9; 10⁴ 8/12, 11/13; 3·10⁴ 21/15, 18/17;
#: 10⁵ 24/11: few policies matter in small economies, and Kelley finds them at once.
SMOOTHING = 0.5
SMOOTH_FROM = 20_000


def not_applicable(problem) -> str | None:
    """Why the exact technique-choice route does not apply (None if it does)."""
    if problem.is_square:
        return "one technique per product (the square route applies)"
    if np.any(problem.initial_stocks > 0):
        return "there are initial stocks"
    if problem._required is not None:
        return "some net outputs are required"
    lim = np.isfinite(problem.available)
    if not lim.any():
        return "no resource is limited"
    if np.any(problem.available[lim] <= 0):
        return "a limited resource has availability 0"
    B = _make_csc(problem)
    counts = np.diff(B.indptr)
    if np.any(counts > 1):
        return ("joint production (a technique makes several products): the "
                "non-substitution theorem does not apply")
    made = np.bincount(B.indices, minlength=problem.n_products)
    if np.any(made == 0):
        return "some product is made by no technique"
    return None


def _make_csc(problem) -> sp.csc_array:
    key = "choice_make"
    if key not in problem._cache:
        B = sp.csc_array(problem.B, copy=True)
        B.eliminate_zeros()
        problem._cache[key] = B
    return problem._cache[key]


class _Technology:
    """The problem's techniques as the square economies of policies."""

    def __init__(self, problem, options):
        self.problem = problem
        self.options = options
        B = _make_csc(problem)
        self.beta = np.asarray(B.sum(axis=0)).ravel()  # one positive entry per column
        self.A = sp.csc_array(problem.A)
        self.limited = np.flatnonzero(np.isfinite(problem.available))
        self.rho = problem.available[self.limited]
        self.R_lim = problem.R[self.limited]
        self.k = problem.n_techniques
        self._policies = None  # lab.values._techniques.PolicyIteration, kept warm

    def cheapest(self, cost: np.ndarray):
        """(techniques (m,), values (m,)) of the cheapest techniques at unit costs ``cost``
        (policy iteration from the policy of the previous call, warm)."""
        from lab.values._solver import ValuesOptions
        from lab.values._techniques import PolicyIteration

        if self._policies is None:
            p = self.problem
            view = types.SimpleNamespace(A=p.A, B=p.B, R=cost[None, :],
                                         product_codes=p.product_codes,
                                         technique_codes=p.technique_codes)
            options = ValuesOptions(rtol=POLICY_RTOL, backend=self.options.backend,
                                    n_threads=self.options.n_threads, raise_on_failure=True)
            try:
                self._policies = PolicyIteration(view, options)
            except InvalidProblemError as exc:
                raise NotApplicable(f"policy iteration failed: {exc}") from None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                result = self._policies.solve(cost)
        except NotConvergedError as exc:
            result = exc.result
            # a stable policy whose Bellman residual is a few times the evaluation's own
            # tolerance (rents on capacities spread the costs: 2.5e-12 against 1e-12
            # seen) serves the cutting planes; the certificate judges the plan
            if result is None or not result.residual <= BELLMAN_SLACK * POLICY_RTOL \
                    or not np.all(np.isfinite(result.values)):
                raise NotApplicable(f"policy iteration did not converge: {exc}") from None
        except (NotProductiveError, InvalidProblemError) as exc:
            raise NotApplicable(f"policy iteration failed: {exc}") from None
        return np.asarray(result.techniques, dtype=np.int64), np.asarray(result.values)

    def economy(self, techniques: np.ndarray) -> Economy:
        """The square economy of a policy: column p is technique techniques[p] per unit
        of product p (coefficients divided by B[p, j])."""
        b = self.beta[techniques]
        # the columns gathered by their entries (scipy's column indexing took 1 s of the
        # 10⁶-product plan ray per policy; this, about 0.2 s)
        starts = self.A.indptr[techniques].astype(np.int64)
        lengths = self.A.indptr[techniques + 1] - starts
        indptr = np.zeros(len(techniques) + 1, dtype=self.A.indptr.dtype)
        np.cumsum(lengths, out=indptr[1:])
        entries = np.repeat(starts - indptr[:-1], lengths) + np.arange(int(indptr[-1]))
        A = sp.csc_array((self.A.data[entries] / np.repeat(b, lengths),
                          self.A.indices[entries], indptr), shape=(self.A.shape[0], len(b)))
        A.sort_indices()  # a no-op on the problem's canonical columns
        R = self.problem.R[:, techniques] / b[None, :]
        return Economy._from_valid(A, np.ascontiguousarray(R),
                                   codes=self.problem.product_codes, names=None,
                                   resource_names=self.problem.resource_names)

    def lift(self, techniques: np.ndarray, x_square: np.ndarray) -> np.ndarray:
        """Technique intensities from the square plan of a policy."""
        x = np.zeros(self.k)
        x[techniques] = x_square / self.beta[techniques]
        return x

    def plan_for(self, techniques, y) -> np.ndarray:
        """Intensities making net output y with the policy's techniques."""
        economy = self.economy(techniques)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EfficiencyWarning)
            xs = gross_outputs(economy, y, backend=self.options.backend,
                               n_threads=self.options.n_threads)
        _release(economy)
        return self.lift(techniques, xs)

    def integrated(self, techniques, idx) -> np.ndarray:
        """V_t = R_lim (I − A_π)⁻¹ of the policy on the products ``idx``."""
        V = self._held_integrated(techniques)
        if V is not None:
            return V[:, idx]
        economy = self.economy(techniques)
        V = integrated(economy, self.limited, self.options.backend,
                       self.options.n_threads)[:, idx]
        _release(economy)
        return V

    def resource_use(self, techniques, y) -> tuple[np.ndarray, np.ndarray | None]:
        """(R_lim x, x) of the policy's plan x for net output y; x is None where the
        use came from the integrated coefficients instead, R_lim x = V y."""
        V = self._held_integrated(techniques)
        if V is not None:
            made = np.flatnonzero(y)
            return V[:, made] @ y[made], None
        x = self.plan_for(techniques, y)
        return self.R_lim @ x, x

    def _held_integrated(self, techniques) -> np.ndarray | None:
        """R_lim (I − A_π)⁻¹ (r, m) by the policy iteration's solver while it holds this
        policy (the last one it chose) and R_lim is the problem's few resource rows, else
        None. That solver holds the policy's economy, analysed, with its level-ordered
        copy: the rows are r more right-hand sides instead of a new economy, its analysis
        and its first solve (10⁵ products: 50 against 72 ms for the integrated
        coefficients; a plan ray's cut against 160 ms for the plan)."""
        policies = self._policies
        if policies is None or not isinstance(self.R_lim, np.ndarray) \
                or not np.array_equal(policies.policy, techniques):
            return None
        b = self.beta[techniques]
        try:
            return np.atleast_2d(policies.policy_solver().solve(
                rhs=self.R_lim[:, techniques] / b[None, :]).values)
        except NotConvergedError:
            return None  # (the solver raises) the policy's own economy is solved instead


def _release(economy: Economy) -> None:
    """Drop the solvers cached on a policy's economy now: each refers back to the
    economy, so without this the pair waits for the garbage collector, and the policies
    of the harmony route held twice the memory they need (peak 0.82 against 0.36 GB
    at 2·10⁵ products)."""
    economy._cache.clear()


def _square_problem(problem, tech: _Technology, techniques):
    """The square planning problem of a policy (same targets, weights, limits)."""
    from lab.planning._problem import PlanningProblem

    econ = tech.economy(techniques)
    m = problem.n_products
    return PlanningProblem._from_arrays(
        econ.A, None, econ.R, problem.targets, problem.weights, problem.available,
        np.full(m, np.inf), np.zeros(m), codes=problem.product_codes,
        technique_codes=problem.product_codes, resource_names=problem.resource_names,
        economy=econ, weighting=problem.weighting)


def solve_choice(problem, mode: str, options):
    """Intensities x (k,), product prices p (m,), resource prices λ over the limited
    rows, and a note (or None for x and the reason it is unbounded), like
    :func:`lab.planning._exact.solve_decoupled`. Raises :class:`NotApplicable`."""
    reason = not_applicable(problem)
    if reason is not None:
        raise NotApplicable(reason)
    tech = _Technology(problem, options)
    if tech.limited.size == 1:
        techniques, _ = tech.cheapest(tech.R_lim[0])
        square = _square_problem(problem, tech, techniques)
        xs, p, lam, why = solve_decoupled(square, mode, options)
        out = (None, None, None, why) if xs is None else \
            (tech.lift(techniques, xs), p, lam, None)
    else:
        tol = max(GAP_SHARE * options.gap, 1e-11)
        out = _plan_ray(problem, tech, problem.targets, tol) if mode == "plan-ray" else \
            _harmony_route(problem, tech, tol)
    x = out[0]
    caps = problem.capacities
    if x is None and np.isfinite(caps).any():
        raise NotApplicable(f"without the capacities the plan is unbounded ({out[3]}); "
                            "whether they bound it is left to the general routes")
    over = np.zeros(0, dtype=np.intp) if x is None else exceeded(x, caps)
    if over.size and mode == "plan-ray" and over.size <= MAX_PRICED_CAPACITIES:
        out = _price_capacities(problem, tech, over, max(GAP_SHARE * options.gap, 1e-11))
        x = out[0]
        over = np.zeros(0, dtype=np.intp) if x is None else exceeded(x, caps)
    if over.size:
        # the optimum without (some of) the capacities breaks them: not this problem's
        raise CapacitiesBind(f"the cheapest techniques' plan exceeds {over.size} capacities"
                             + (f" (more than the {MAX_PRICED_CAPACITIES} the plan ray "
                                "prices as resources)" if mode == "plan-ray" else ""),
                             within_capacities(x, caps))
    return out


def _price_capacities(problem, tech: _Technology, over: np.ndarray, tol: float):
    """The plan ray with the capacities of techniques ``over`` priced like resources: a
    capacity c_k is a limited resource that technique k alone uses, one unit per unit of
    intensity, so the cutting planes over the prices apply unchanged, with one more
    dimension each. Capacities the new plan exceeds join until it exceeds none, or more
    than :data:`MAX_PRICED_CAPACITIES` would be priced (the last plan is returned and
    the caller hands the problem on)."""
    caps = problem.capacities
    R, rho, r = sp.csr_array(tech.R_lim), tech.rho, tech.rho.size
    priced = np.zeros(0, dtype=np.intp)
    while True:
        priced = np.union1d(priced, over)
        unit = sp.csr_array((np.ones(priced.size), (np.arange(priced.size), priced)),
                            shape=(priced.size, tech.k))
        tech.R_lim = sp.vstack([R, unit], format="csr")
        tech.rho = np.concatenate([rho, caps[priced]])
        x, p, lam, note = _plan_ray(problem, tech, problem.targets, tol)
        if x is None:
            return x, p, lam, note
        over = np.setdiff1d(exceeded(x, caps), priced)
        if over.size == 0 or priced.size + over.size > MAX_PRICED_CAPACITIES:
            # the rents are in p (values at costs that include them); the certificate
            # charges them again from the techniques' profits
            return x, p, lam[:r], None


def _cut_lp(U: np.ndarray, rho: np.ndarray):
    """min λᵀρ s.t. U λ ≥ 1, λ ≥ 0 by HiGHS, whose duals μ ≥ 0 of the cuts are the mix;
    (λ, μ, value) or None if infeasible (every cut is 0: the targets need no limited
    resource). highspy where installed (a call costs 0.2 ms against 4 ms through
    scipy's linprog, which counts at 10³ products), else scipy's copy of HiGHS."""
    try:
        import highspy
    except ImportError:
        return _cut_lp_scipy(U, rho)
    with HIGHS_LOCK:
        return _cut_lp_highspy(highspy, quiet_highs(highspy), U, rho)


def _cut_lp_highspy(highspy, h, U: np.ndarray, rho: np.ndarray):
    """:func:`_cut_lp` on the process's HiGHS object."""
    s, r = U.shape
    inf = highspy.kHighsInf
    pass_lp(highspy, h, rho, np.zeros(r), np.full(r, inf), np.ones(s), np.full(s, inf), U)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    sol = h.getSolution()
    lam = np.maximum(np.array(sol.col_value), 0.0)
    return lam, np.maximum(np.array(sol.row_dual), 0.0), float(np.dot(lam, rho))


def _cut_lp_scipy(U: np.ndarray, rho: np.ndarray):
    """:func:`_cut_lp` through scipy.optimize.linprog."""
    import scipy.optimize as so

    res = so.linprog(rho, A_ub=-U, b_ub=-np.ones(U.shape[0]), bounds=(0, None),
                     method="highs", options={"primal_feasibility_tolerance": 1e-10,
                                              "dual_feasibility_tolerance": 1e-10})
    if res.status != 0:
        return None
    lam = np.maximum(res.x, 0.0)
    return lam, np.maximum(-res.ineqlin.marginals, 0.0), float(np.dot(lam, rho))


def _plan_ray(problem, tech: _Technology, t: np.ndarray, tol: float,
              lam0: np.ndarray | None = None, seeds=(), seed_index=None):
    """max φ with (B − A)x ≥ φ t, R x ≤ ρ by cutting planes over λ (module docstring).

    From ``SMOOTH_FROM`` products on, evaluations are stabilised (Wentges' smoothing): at
    α·λ_best + (1 − α)·λ_LP, the best dual point so far pulled towards the cut LP's
    solution, and at λ_LP itself when that gives no cut the LP violates. ``seeds``:
    (techniques, V_t) of policies known to matter, V_t = R_lim (I − A_π)⁻¹ their
    integrated coefficients on the products ``seed_index`` (those where t may be > 0),
    whose cuts V_t·t cost no solve. Stops
    when the mix and the best bound agree to ``tol`` (relative). Returns (x, p, λ, None)
    with p the cheapest values at the best λ, or (None, None, None, reason) when
    unbounded.
    """
    rho = tech.rho
    cuts = [V_t @ t[seed_index] for _, V_t in seeds]
    policies = [techniques for techniques, _ in seeds]
    plans = {}  # policy number -> its plan for t, computed where needed
    best = (math.inf, None, None)  # (bound on φ, λ, values), scaled so that v·t = 1
    lam_lp, mix, value = None, None, math.inf
    if cuts:
        out = _cut_lp(np.array(cuts), rho)
        if out is not None:
            lam_lp, mix, value = out
    lam = lam_lp if lam_lp is not None else 1.0 / rho if lam0 is None else \
        np.maximum(lam0, 1e-12 * np.max(lam0) / rho)
    for _ in range(MAX_CUTS):
        techniques, v = tech.cheapest(lam @ tech.R_lim)
        u, x = tech.resource_use(techniques, t)
        vt = float(np.dot(lam, u))  # = v(λ)·t
        if vt > 0:
            bound = float(np.dot(lam, rho)) / vt
            if bound < best[0]:
                best = (bound, lam / vt, v / vt)
        new = lam_lp is None or float(np.dot(lam_lp, u)) < 1.0 - tol
        if new:
            if x is not None:
                plans[len(cuts)] = x
            cuts.append(u)
            policies.append(techniques)
            out = _cut_lp(np.array(cuts), rho)
            if out is None:
                return None, None, None, ("the targets can be made without any limited "
                                          "resource, so they can grow without limit")
            lam_lp, mix, value = out
        if best[0] - value <= tol * best[0]:
            break
        if new and best[1] is not None:
            alpha = SMOOTHING if problem.n_products >= SMOOTH_FROM else 0.0
            lam = alpha * best[1] + (1.0 - alpha) * lam_lp
        elif np.array_equal(lam, lam_lp):
            break  # the LP's own point gives no new cut: the mix is optimal
        else:
            lam = lam_lp  # mispriced: the smoothed point gave no violated cut
    x = np.zeros(tech.k)
    for s, weight in enumerate(mix):
        if weight > 0:
            if s not in plans:
                plans[s] = tech.plan_for(policies[s], t)
            x += weight * plans[s]
    # the LP meets Σ μ u ≤ ρ to its tolerance: meet it in this arithmetic
    used = tech.R_lim @ x
    with np.errstate(divide="ignore", invalid="ignore"):
        over = np.where(used > rho, rho / used, 1.0)
    x *= float(over.min())
    _, lam_best, v_best = best
    return x, v_best, lam_best, None


def _dual_pieces(V_t, t, w, rho, K, governor):
    """g_π(λ) and its gradient for a policy with integrated coefficients V_t (r, |T|):
    one fused pass over V_t (the kernels' ``harmony_dual``, its chunks split between the
    threads the ``governor`` chooses; the same bits on any number of threads), kept for
    the last point asked."""
    V = np.ascontiguousarray(V_t, dtype=np.float64)
    t = np.ascontiguousarray(t, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    rho = np.ascontiguousarray(rho, dtype=np.float64)

    last = {}  # the last point and its (value, gradient): the min-max and the route ask
    # again at the same point (each min-max starts where the last one ended)

    def g(lam):
        lam = np.ascontiguousarray(lam, dtype=np.float64)
        key = lam.tobytes()
        if key not in last:
            grad = np.empty(rho.size)
            with governor.step():
                value = K.harmony_dual(V, lam, t, w, rho, grad)
            last.clear()
            last[key] = (float(value), grad)
        return last[key]

    return g


def _min_max(pieces, lam0, rho):
    """λ minimising max over the pieces of g_π(λ); returns λ and the min-max value.

    SLSQP on the epigraph (in units of λ0) over a working set of pieces: the newest one
    and those within :data:`NEAR_MAX` of the others' maximum at λ0 (the previous
    min-max point). Every piece is then evaluated at the answer, and pieces above the
    working set's maximum there join it and the min-max is solved again; when none is
    above, the answer is the min-max of all the pieces (their maximum equals the working
    set's, whose minimum cannot exceed the whole set's). Each SLSQP step evaluates
    every piece it holds, so a working set of the few pieces that meet at the optimum
    (at most r + 1 in general position) saves most of the evaluations of the pieces
    that the new one has left behind.
    """
    # a resource priced near 0 so far may be priced at the optimum: its unit is the price
    # at which its whole availability is worth an equal share of the current λᵀρ
    scale = np.maximum(lam0, float(np.dot(lam0, rho)) / (lam0.size * rho))
    vals = np.array([g(lam0)[0] for g in pieces])
    ref = max(1.0, abs(float(vals.max())))
    older = vals[:-1].max(initial=-math.inf)
    working = np.flatnonzero(vals >= older - NEAR_MAX * ref)
    working = np.union1d(working, [len(pieces) - 1])
    while True:
        lam = _min_max_of([pieces[k] for k in working], lam0, scale, ref,
                          float(vals[working].max()))
        at = np.array([g(lam)[0] for g in pieces])
        top = float(at[working].max())
        above = np.setdiff1d(np.flatnonzero(at > top), working)
        if above.size == 0:
            return lam, float(at.max())
        working = np.union1d(working, above)


def _min_max_of(pieces, lam0, scale, ref, start):
    """:func:`_min_max` of ``pieces`` alone by SLSQP, from λ0 (unit ``scale``, values in
    units of ``ref``, ``start`` their maximum at λ0)."""
    import scipy.optimize as so

    def objective(z):
        grad = np.zeros_like(z)
        grad[-1] = 1.0
        return z[-1], grad

    def evaluate(z):  # SLSQP asks for the constraints and their Jacobian at each point
        return [g(z[:-1] * scale) for g in pieces]  # (each piece keeps its last point)

    def constraints(z):
        return np.array([(z[-1] * ref - value) / ref for value, _ in evaluate(z)])

    def jac(z):
        return np.array([np.append(-grad * scale / ref, 1.0) for _, grad in evaluate(z)])

    z0 = np.append(lam0 / scale, start / ref)
    res = so.minimize(objective, z0, jac=True, method="SLSQP",
                      bounds=[(0.0, None)] * lam0.size + [(None, None)],
                      constraints=[{"type": "ineq", "fun": constraints, "jac": jac}],
                      options={"ftol": 1e-12, "maxiter": 500})
    return np.maximum(res.x[:-1], 0.0) * scale


def _harmony_route(problem, tech: _Technology, tol: float):
    """Harmony with several limited resources (module docstring)."""
    idx = problem.target_index
    t = problem.targets[idx]
    w = problem.weights[idx]
    rho = tech.rho
    lam = 1.0 / rho
    pieces, seen = [], []  # seen: (techniques, V on the targets) of each piece
    # the min-max passes over the pieces' V at every point it tries (1,138 passes of
    # 30,000 targets at 10⁵ products): on the threads that speed it up
    backend = _ops.resolve_backend(tech.options.backend)
    K = _ops.kernels(backend)
    governor = _ops.ThreadGovernor(backend, tech.options.n_threads,
                                   work=float(t.size * K.HARMONY_WORK), kind="harmony-dual")
    # Kelley's cutting planes, stabilised from SMOOTH_FROM products on as the plan ray's
    # are: the next point is pulled from the model's minimiser towards the best point
    # so far (the dual's true value is known at every point: the cheapest policy's
    # piece), and the loop stops when the best true value is within tol of the model's
    # minimum, a lower bound of the dual's
    alpha = SMOOTHING if problem.n_products >= SMOOTH_FROM else 0.0
    best = (math.inf, lam, None, None)  # (dual value, λ, techniques, values)
    lam_mm = None  # the model's minimiser
    for _ in range(MAX_POLICIES + 1):
        techniques, v = tech.cheapest(lam @ tech.R_lim)
        known = next((k for k, (s, _) in enumerate(seen) if np.array_equal(techniques, s)),
                     None)
        if known is None:
            if len(pieces) == MAX_POLICIES:
                break
            V_t = tech.integrated(techniques, idx)
            if np.any(~(V_t > 0).any(axis=0) & (w > 0)):
                return None, None, None, ("some target uses none of the limited resources, "
                                          "so it can grow without limit")
            seen.append((techniques, V_t))
            pieces.append(_dual_pieces(V_t, t, w, rho, K, governor))
        value = pieces[-1 if known is None else known](lam)[0]  # the dual's value at λ
        if best[2] is None or value < best[0] or math.isnan(best[0]):
            best = (value, lam, techniques, v)
        if known is not None and (lam_mm is None or np.array_equal(lam, lam_mm)):
            break  # the model is exact at its own minimiser: λ is optimal
        if known is None:
            if len(pieces) == 1:
                lam_mm = _harmony_prices(V_t, t, w, rho)
                low = pieces[0](lam_mm)[0]
            else:  # from the last minimiser, where the pieces that meet are known
                lam_mm, low = _min_max(pieces, lam_mm, rho)
            if best[0] - low <= tol * max(1.0, abs(best[0])):
                break  # the best point's value is within tol of a lower bound
        # a known policy at a pulled point is no new cut: go to the minimiser itself
        lam = lam_mm if known is not None or best[2] is None else \
            alpha * best[1] + (1.0 - alpha) * lam_mm
    _, lam, techniques, v = best
    # (techniques, v): the cheapest policy and values at the final λ
    y = np.zeros(problem.n_products)
    y[idx] = _harmony.best_response(v[idx], t, w)
    if not np.any(y > 0):
        return np.zeros(tech.k), v, lam, None
    x = tech.plan_for(techniques, y)
    used = tech.R_lim @ x
    if np.all(used <= rho * (1.0 + tol)):
        # one policy makes y within the limits (or so nearly that scaling its plan down
        # to them loses a share ≤ tol of the harmony): its plan is the answer
        return x * min(1.0, float(np.min(np.where(used > rho, rho / used, 1.0)))), v, lam, None
    # a mix of policies makes y: the plan ray towards y, from the policies seen
    xr, _, _, _ = _plan_ray(problem, tech, y, tol, lam0=lam, seeds=seen, seed_index=idx)
    if xr is None:
        return x, v, lam, None
    return xr, v, lam, None
