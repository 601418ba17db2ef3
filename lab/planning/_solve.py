"""Harmony-balanced plans and the plan ray (MATH.md §3).

:func:`plan` solves a :class:`~lab.planning.PlanningProblem` and returns a
:class:`PlanResult` that carries its own proof: an exactly feasible plan, shadow
prices, and the duality gap between the plan's objective and the dual bound
those prices give.

Methods
-------
``"harmony"``
    Maximise Σ w·H(s), s = (n − t)/t, over feasible plans: a concave programme.
    Solved to a certified duality gap, either in closed form through labour
    values when the problem decouples (square, no capacities, no initial stocks;
    see :mod:`lab.planning._exact`) or by restarted Halpern PDHG with diagonal
    preconditioning (:mod:`lab.planning._pdhg`, where the choice is justified) — O(nnz)
    work per iteration in lab's compiled kernels.
``"plan-ray"``
    Kantorovich's linear programme: maximise φ with n ≥ φ·t. Same machinery.
``"cockshott"``
    Cockshott's published balancing heuristic (:mod:`lab.planning._cockshott`), kept as
    the historical baseline; it makes no optimality claim and its result says so.
``"auto"``
    The harmony programme (the planner's objective), by the fastest certified
    route the problem allows.

Stopping rule
-------------
Every ``check_every`` iterations the current iterate is repaired into an exactly
feasible plan x (:func:`lab.planning._certificate.repair`) and the current prices give a
dual bound D. The solve stops when

    harmony:   D − Σ w·H(s(x)) ≤ gap · max(1, |Σ w·H(s(x))|)
    plan-ray:  D − φ(x)        ≤ gap · max(φ(x), D)

so ``gap`` is a relative optimality gap that is proven, not estimated.

Infeasibility cannot happen (x = 0 is always a plan). A problem in which some
target can grow without limit ends with status ``UNBOUNDED``; a solve that runs
out of iterations or time ends with ``MAXITER``/``TIME_LIMIT``, the best
certified plan so far, and a :class:`~lab.exceptions.ConvergenceWarning`.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field, replace
from enum import IntEnum
from types import MappingProxyType

import numpy as np
import scipy.sparse as sp

from lab import _ops
from lab.exceptions import ConvergenceWarning, NotConvergedError
from lab.planning import _certificate, _pdhg
from lab.planning._cockshott import CockshottOptions, balance
from lab.planning._exact import not_applicable, solve_decoupled
from lab.planning._harmony import harmony as harmony_of
from lab.planning._problem import PlanningProblem

__all__ = ["PlanStatus", "PlanOptions", "PlanResult", "plan", "METHODS", "CockshottOptions"]

METHODS = ("auto", "harmony", "plan-ray", "cockshott")
SOLVERS = ("auto", "pdhg", "decoupled")


class PlanStatus(IntEnum):
    """Outcome of :func:`plan`. ``OPTIMAL`` is the only certified one."""

    OPTIMAL = 0
    MAXITER = 1
    TIME_LIMIT = 2
    UNBOUNDED = 3
    HEURISTIC = 4
    INTERRUPTED = 5


@dataclass(frozen=True)
class PlanOptions:
    """Options of a plan solve, shared by the Python API, the CLI and batch jobs.

    Parameters
    ----------
    method : {"auto", "harmony", "plan-ray", "cockshott"}
    gap : float
        Relative duality gap at which a plan counts as optimal (see module docstring).
    maxiter : int or None
        Most PDHG iterations; ``None``: 200 000.
    time_limit : float or None
        Seconds after which the best certified plan so far is returned.
    solver : {"auto", "pdhg", "decoupled"}
        ``"auto"`` uses the exact decoupled solve when the problem allows it and
        PDHG otherwise; ``"decoupled"`` insists (an error if not applicable).
    check_every : int
        PDHG iterations between certificates.
    backend : {"auto", "cython", "numba"}
    n_threads : int or None
    raise_on_failure : bool
        Raise :class:`~lab.exceptions.NotConvergedError` instead of warning.
    cockshott : CockshottOptions
        Constants of the ``"cockshott"`` method.
    """

    method: str = "auto"
    gap: float = 1e-6
    maxiter: int | None = None
    time_limit: float | None = None
    solver: str = "auto"
    check_every: int = 64
    backend: str = "auto"
    n_threads: int | None = None
    raise_on_failure: bool = False
    cockshott: CockshottOptions = field(default_factory=CockshottOptions)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        if isinstance(self.gap, bool) or not isinstance(self.gap, (int, float)) \
                or not 0 < self.gap < 1:
            raise ValueError(f"gap must be a number in (0, 1), got {self.gap!r}")
        for name in ("maxiter", "check_every"):
            value = getattr(self, name)
            if value is None and name == "maxiter":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.time_limit is not None and (isinstance(self.time_limit, bool) or not isinstance(
                self.time_limit, (int, float)) or not self.time_limit > 0):
            raise ValueError(f"time_limit must be a positive number or None, "
                             f"got {self.time_limit!r}")
        if not isinstance(self.cockshott, CockshottOptions):
            raise TypeError("cockshott must be a CockshottOptions")
        _ops.resolve_backend(self.backend)
        if self.n_threads is not None:
            _ops._check_n_threads(self.n_threads)


@dataclass(frozen=True)
class PlanResult:
    """A plan and its evidence.

    Attributes
    ----------
    x : ndarray (k,)
        Technique intensities (gross outputs in the square case); always feasible.
    net_output : ndarray (m,)
        n = s⁰ + (B − A) x.
    fulfilment : ndarray (number of targets,)
        n / t for each target product (1 = target met exactly), in the order of
        ``target_codes``.
    harmony : float
        Σ w·H(fulfilment − 1).
    min_fulfilment : float
        The smallest fulfilment (the plan-ray objective φ).
    objective, bound, gap, relative_gap : float
        The method's objective at x (harmony or φ), the dual bound proven by the
        prices, their difference and the relative gap of the stopping rule
        (``inf`` when no bound is known, as for ``cockshott``).
    prices : ndarray (m,)
        Shadow prices of the product balances (harmony or φ per unit); for
        ``cockshott`` its propagated marginal harmonies.
    resource_prices : ndarray (r,)
        Shadow prices of the resource limits (0 for unlimited resources; NaN for
        ``cockshott``, which computes none).
    capacity_prices : ndarray (k,)
        Shadow prices of the capacities (the reduced profit of techniques at
        capacity; NaN for ``cockshott``).
    resource_use, available : ndarray (r,)
        R x and ρ.
    capacity_use : ndarray (k,)
        x / c, 0 where a technique has no capacity.
    infeasibility : float
        Largest relative violation of R x ≤ ρ, 0 ≤ x ≤ c and n ≥ 0, a shortage
        being measured against the product's gross flow or, for products whose
        flow is below a millionth of the plan's largest, against that millionth.
        Returned plans have at most 1e-9 (usually 0 up to rounding).
    converged : bool
        True when the gap is certified (status OPTIMAL).
    status : PlanStatus
    message : str
    iterations : int
        PDHG iterations, Cockshott rounds, or 0 for the decoupled solve.
    history : ndarray (h, 2)
        (iteration, relative gap) at each certificate; for ``cockshott``
        (round, harmony).
    method, method_reason, solver : str
    backend : str
    n_threads : int
    timings : mapping
        Seconds: ``setup``, ``solve``, ``certify``, ``total``.
    """

    x: np.ndarray
    net_output: np.ndarray
    fulfilment: np.ndarray
    harmony: float
    min_fulfilment: float
    objective: float
    bound: float
    gap: float
    relative_gap: float
    prices: np.ndarray
    resource_prices: np.ndarray
    capacity_prices: np.ndarray
    resource_use: np.ndarray
    available: np.ndarray
    capacity_use: np.ndarray
    infeasibility: float
    converged: bool
    status: PlanStatus
    message: str
    iterations: int
    history: np.ndarray
    method: str
    method_reason: str
    solver: str
    backend: str
    n_threads: int
    timings: MappingProxyType
    problem: PlanningProblem = field(repr=False, compare=False)

    @property
    def target_codes(self) -> list[str]:
        return self.problem.target_codes

    def products_frame(self):
        """One row per product: net output, target, fulfilment, shadow price."""
        import pandas as pd

        p = self.problem
        target = np.where(p.targets > 0, p.targets, np.nan)
        return pd.DataFrame({"net_output": self.net_output, "target": target,
                             "fulfilment": self.net_output / target, "price": self.prices},
                            index=pd.Index(p.product_codes, name="code"))

    def techniques_frame(self):
        """One row per technique: intensity, capacity, capacity use and its shadow price."""
        import pandas as pd

        p = self.problem
        return pd.DataFrame({"intensity": self.x, "capacity": p.capacities,
                             "capacity_use": self.capacity_use,
                             "capacity_price": self.capacity_prices},
                            index=pd.Index(p.technique_codes, name="code"))

    def resources_frame(self):
        """One row per resource: use, availability and shadow price."""
        import pandas as pd

        return pd.DataFrame({"use": self.resource_use, "available": self.available,
                             "price": self.resource_prices},
                            index=pd.Index(self.problem.resource_names, name="resource"))


def _reduced_profit_prices(problem, ev) -> np.ndarray:
    capped = np.isfinite(problem.capacities)
    return np.where(capped, np.maximum(ev.profit, 0.0), 0.0)


def _proven_bounded(problem) -> bool:
    """A sufficient test: every technique that makes a target is limited, directly
    (capacity or limited resource) or through an input all of whose makers are limited."""
    limited = np.isfinite(problem.available)
    bounded = np.isfinite(problem.capacities).copy()
    if limited.any():
        bounded |= (problem.R[limited] > 0).any(axis=0)
    A = problem.A  # CSC: inputs of each technique
    makes = sp.identity(problem.n_products, format="csr") if problem.B is None \
        else sp.csr_array(problem.B > 0).astype(np.float64)
    cols = np.repeat(np.arange(problem.n_techniques), np.diff(A.indptr))
    product_bounded = None
    for _ in range(problem.n_products + 1):
        # a product is bounded when none of its makers is unbounded
        product_bounded = makes @ (~bounded).astype(np.float64) == 0
        uses_bounded = np.zeros(problem.n_techniques, bool)
        uses_bounded[cols[product_bounded[A.indices] & (A.data > 0)]] = True
        new = bounded | uses_bounded
        if (new == bounded).all():
            break
        bounded = new
    product_bounded = makes @ (~bounded).astype(np.float64) == 0
    return bool(product_bounded[problem.target_index].all())


def _standard_form(problem, mode: str) -> tuple[_pdhg.StandardForm, np.ndarray]:
    limited = np.isfinite(problem.available)
    net = problem.net_matrix()
    Rl = sp.csr_array(problem.R[limited])
    m, k = net.shape
    idx = problem.target_index
    if mode == "plan-ray":
        t_col = sp.csr_array((-problem.targets[idx], (idx, np.zeros(idx.size, int))),
                             shape=(m, 1))
        K = sp.vstack([sp.hstack([net, t_col]), sp.hstack([Rl, sp.csr_array((Rl.shape[0], 1))])],
                      format="csr")
        c = np.zeros(k + 1)
        c[-1] = -1.0
        lo = np.zeros(k + 1)
        hi = np.append(problem.capacities, np.inf)
        hrows = np.zeros(0, dtype=np.intp)
    else:
        K = sp.vstack([net, Rl], format="csr")
        c = np.zeros(k)
        lo = np.zeros(k)
        hi = np.array(problem.capacities)
        hrows = idx[problem.weights[idx] > 0]
    bound = np.concatenate([-problem.initial_stocks, problem.available[limited]])
    lower = np.concatenate([np.ones(m, bool), np.zeros(int(limited.sum()), bool)])
    form = _pdhg.StandardForm(K=K, c=c, lo=lo, hi=hi, bound=bound, lower=lower,
                              harmony_rows=hrows, harmony_t=problem.targets[hrows],
                              harmony_w=problem.weights[hrows])
    return form, limited


def plan(problem: PlanningProblem, *, method: str = "auto", gap: float = 1e-6,
         maxiter: int | None = None, backend: str = "auto", n_threads: int | None = None,
         callback=None, options: PlanOptions | None = None, x0=None, **kwargs) -> PlanResult:
    """Compute a harmony-balanced plan (or the plan ray) with its certificate.

    Parameters
    ----------
    problem : PlanningProblem
    method : {"auto", "harmony", "plan-ray", "cockshott"}
        See the module docstring.
    gap : float
        Relative duality gap to reach (default 1e-6).
    maxiter : int or None
        Most iterations of the primal-dual method (default 200 000).
    backend : {"auto", "cython", "numba"}
    n_threads : int or None
    callback : callable, optional
        ``callback(iteration, value)`` every certificate (PDHG: the fixed-point
        residual) or every round (cockshott: the harmony); return ``False`` to stop.
    options : PlanOptions, optional
        All options at once (the keywords above override nothing when given).
    x0 : array_like (k,), optional
        Starting intensities for the primal-dual method.
    **kwargs
        Further :class:`PlanOptions` fields (``time_limit``, ``solver``,
        ``check_every``, ``raise_on_failure``, ``cockshott``).

    Returns
    -------
    PlanResult

    Examples
    --------
    Corn needs half a unit of iron, iron a fifth of a unit of corn; 30 hours of
    labour at 1 and 2 hours per unit. The plan ray is the closed form
    φ = L / (v·t) with the labour values v:

    >>> import numpy as np, lab
    >>> economy = lab.Economy(np.array([[0.0, 0.2], [0.5, 0.0]]), [1.0, 2.0],
    ...                       codes=["corn", "iron"])
    >>> problem = lab.PlanningProblem(economy, {"corn": 10.0}, available={"labour": 30.0})
    >>> ray = lab.plan(problem, method="plan-ray")
    >>> v = lab.labour_values(economy).values
    >>> bool(np.isclose(ray.min_fulfilment, 30.0 / (10.0 * v[0])))
    True
    >>> best = lab.plan(problem)
    >>> best.status.name, best.relative_gap <= 1e-6
    ('OPTIMAL', True)
    """
    if options is None:
        options = PlanOptions(method=method, gap=gap, maxiter=maxiter, backend=backend,
                              n_threads=n_threads, **kwargs)
    elif kwargs:
        options = replace(options, **kwargs)
    if not isinstance(problem, PlanningProblem):
        raise TypeError(f"problem must be a lab.PlanningProblem, got {type(problem).__name__}")
    resolved = _ops.resolve_backend(options.backend)
    t0 = time.perf_counter()
    with _ops.thread_limit(options.n_threads, resolved):
        n_threads = _ops.kernels(resolved).get_num_threads()
        result = _solve(problem, options, resolved, n_threads, callback, x0, t0)
    if not result.converged and result.status != PlanStatus.HEURISTIC:
        message = f"plan not certified: {result.message}"
        if options.raise_on_failure:
            raise NotConvergedError(message, result)
        warnings.warn(message, ConvergenceWarning, stacklevel=2)
    return result


def _solve(problem, options, backend, n_threads, callback, x0, t0):
    method = options.method
    mode = "plan-ray" if method == "plan-ray" else "harmony"
    if method == "cockshott":
        return _run_cockshott(problem, options, backend, n_threads, callback, t0)
    reason = not_applicable(problem)
    solver = options.solver
    if solver == "decoupled" and reason is not None:
        raise ValueError(f"solver='decoupled' does not apply: {reason}")
    if solver == "auto":
        solver = "decoupled" if reason is None else "pdhg"
    why = (f"{'harmony programme' if method == 'auto' else method}: "
           + ("decoupled through labour values (square, no capacities, no initial stocks)"
              if solver == "decoupled" else
              f"primal-dual (PDHG){'' if reason is None else ' because ' + reason}"))
    limited = np.isfinite(problem.available)
    ub = _certificate.implied_bounds(problem, limited)
    if solver == "decoupled":
        t1 = time.perf_counter()
        x, p, lam, unbounded = solve_decoupled(problem, mode, options)
        t2 = time.perf_counter()
        if x is None:
            return _unbounded(problem, options, method, why, solver, backend, n_threads,
                              unbounded, t0)
        ev = _certificate.evidence(problem, mode, x, p, lam, limited, ub)
        t3 = time.perf_counter()
        timings = {"setup": 0.0, "solve": t2 - t1, "certify": t3 - t2}
        return _result(problem, options, ev, mode, method, why, solver, backend, n_threads,
                       iterations=0, history=np.array([[0.0, ev.relative_gap]]),
                       timings=timings, t0=t0, stopped="certified")
    if not _proven_bounded(problem):
        return _unbounded(problem, options, method, why, solver, backend, n_threads,
                          "some target can be made by techniques that no capacity, limited "
                          "resource or limited input restrains", t0)
    t1 = time.perf_counter()
    form, limited = _standard_form(problem, mode)
    m = problem.n_products
    certify_time = [0.0]
    feasible = [None]  # the best feasible plan seen, for when none could be certified

    def certify(z, y):
        tc = time.perf_counter()
        ev = _certificate.evidence(problem, mode, z[:problem.n_techniques],
                                   -y[:m], y[m:], limited, ub)
        if ev.infeasibility <= _certificate.FEASIBILITY_TOL and (
                feasible[0] is None or ev.objective > feasible[0].objective):
            feasible[0] = ev
        certify_time[0] += time.perf_counter() - tc
        return ev.relative_gap, ev

    z0 = None
    if x0 is not None:
        x0 = np.asarray(x0, dtype=np.float64)
        if x0.shape != (problem.n_techniques,):
            raise ValueError(f"x0 must have one entry per technique ({problem.n_techniques}), "
                             f"got shape {x0.shape}")
        z0 = x0 if mode == "harmony" else np.append(x0, 0.0)
    t2 = time.perf_counter()
    out = _pdhg.solve(form, certify=certify, tol=options.gap,
                      maxiter=options.maxiter or 200_000, backend=backend, z0=z0,
                      check_every=options.check_every, callback=callback,
                      time_limit=options.time_limit)
    t3 = time.perf_counter()
    ev = out.certificate
    if ev is None:
        ev = certify(out.z, out.y)[1]
    if ev.infeasibility > _certificate.FEASIBILITY_TOL:
        # never return a plan that breaks a constraint: the best feasible one seen, or x = 0
        ev = feasible[0] or _certificate.evidence(problem, mode, np.zeros(problem.n_techniques),
                                                  -out.y[:m], out.y[m:], limited, ub)
    timings = {"setup": t2 - t1, "solve": t3 - t2 - certify_time[0], "certify": certify_time[0]}
    return _result(problem, options, ev, mode, method, why, solver, backend, n_threads,
                   iterations=out.iterations, history=np.array(out.history, dtype=float),
                   timings=timings, t0=t0, stopped=out.stopped)


def _unbounded(problem, options, method, why, solver, backend, n_threads, reason, t0):
    k, m, r = problem.n_techniques, problem.n_products, problem.n_resources
    zeros_k, zeros_m = np.zeros(k), problem.initial_stocks.copy()
    idx = problem.target_index
    return PlanResult(
        x=zeros_k, net_output=zeros_m, fulfilment=zeros_m[idx] / problem.targets[idx],
        harmony=problem.harmony(zeros_k), min_fulfilment=float(np.min(zeros_m[idx]
                                                                       / problem.targets[idx])),
        objective=np.inf, bound=np.inf, gap=np.inf, relative_gap=np.inf,
        prices=np.zeros(m), resource_prices=np.zeros(r), capacity_prices=np.zeros(k),
        resource_use=np.zeros(r), available=np.array(problem.available),
        capacity_use=np.zeros(k), infeasibility=0.0, converged=False,
        status=PlanStatus.UNBOUNDED, message=f"unbounded: {reason}", iterations=0,
        history=np.zeros((0, 2)), method=method, method_reason=why, solver=solver,
        backend=backend, n_threads=n_threads,
        timings=MappingProxyType({"setup": 0.0, "solve": 0.0, "certify": 0.0,
                                  "total": time.perf_counter() - t0}),
        problem=problem)


def _result(problem, options, ev, mode, method, why, solver, backend, n_threads, *,
            iterations, history, timings, t0, stopped):
    idx = problem.target_index
    fulfil = ev.n[idx] / problem.targets[idx]
    certified = ev.relative_gap <= options.gap
    if certified:
        status, text = PlanStatus.OPTIMAL, "optimal"
    elif stopped == "time":
        status, text = PlanStatus.TIME_LIMIT, "time limit reached"
    elif stopped == "callback":
        status, text = PlanStatus.INTERRUPTED, "stopped by the callback"
    else:
        status, text = PlanStatus.MAXITER, f"iteration limit reached ({stopped})"
    message = (f"{text}: relative gap {ev.relative_gap:.2e} (tolerance {options.gap:.1e}), "
               f"objective {ev.objective:.10g}, bound {ev.bound:.10g}")
    timings = dict(timings)
    timings["total"] = time.perf_counter() - t0
    return PlanResult(
        x=ev.x, net_output=ev.n, fulfilment=fulfil,
        harmony=float(np.dot(problem.weights[idx], harmony_of(fulfil - 1.0))),
        min_fulfilment=float(np.min(fulfil)), objective=ev.objective, bound=ev.bound,
        gap=ev.gap, relative_gap=ev.relative_gap, prices=ev.prices,
        resource_prices=ev.resource_prices,
        capacity_prices=_reduced_profit_prices(problem, ev),
        resource_use=problem.R @ ev.x, available=np.array(problem.available),
        capacity_use=_capacity_use(ev.x, problem.capacities),
        infeasibility=ev.infeasibility, converged=certified, status=status, message=message,
        iterations=iterations, history=history, method=method if method != "auto" else mode,
        method_reason=why, solver=solver, backend=backend, n_threads=n_threads,
        timings=MappingProxyType(timings), problem=problem)


def _capacity_use(x, capacities):
    """x / c where a technique has a capacity (0/0 counts as fully used), else 0."""
    capped = np.isfinite(capacities) & (capacities > 0)
    use = np.zeros_like(x)
    use[capped] = x[capped] / capacities[capped]
    use[np.isfinite(capacities) & (capacities == 0)] = 1.0
    return use


def _run_cockshott(problem, options, backend, n_threads, callback, t0):
    t1 = time.perf_counter()
    x, dH, history = balance(problem, options.cockshott, callback=callback)
    t2 = time.perf_counter()
    xf, rounds = _certificate.repair(problem, x)
    n = problem.net_output(xf)
    idx = problem.target_index
    fulfil = n[idx] / problem.targets[idx]
    harmony = float(np.dot(problem.weights[idx], harmony_of(fulfil - 1.0)))
    k, r = problem.n_techniques, problem.n_resources
    moved = "" if rounds == 0 else f"; lab's feasibility repair needed {rounds} round(s)"
    message = (f"{len(history)} rounds of Cockshott's heuristic (no optimality claim): "
               f"harmony {harmony:.10g}, minimum fulfilment {float(np.min(fulfil)):.6g}{moved}")
    return PlanResult(
        x=xf, net_output=n, fulfilment=fulfil, harmony=harmony,
        min_fulfilment=float(np.min(fulfil)), objective=harmony, bound=math.inf,
        gap=math.inf, relative_gap=math.inf, prices=dH, resource_prices=np.full(r, np.nan),
        capacity_prices=np.full(k, np.nan), resource_use=problem.R @ xf,
        available=np.array(problem.available),
        capacity_use=_capacity_use(xf, problem.capacities),
        infeasibility=_certificate.feasibility(problem, xf, n), converged=False,
        status=PlanStatus.HEURISTIC, message=message, iterations=len(history),
        history=np.column_stack([np.arange(1, len(history) + 1), history]) if history
        else np.zeros((0, 2)),
        method="cockshott", method_reason="requested: Cockshott's published heuristic",
        solver="cockshott", backend=backend, n_threads=n_threads,
        timings=MappingProxyType({"setup": 0.0, "solve": t2 - t1,
                                  "certify": time.perf_counter() - t2,
                                  "total": time.perf_counter() - t0}),
        problem=problem)
