"""Harmony-balanced plans and the plan ray (MATH.md §3).

:func:`plan` solves a :class:`~lab.planning.PlanningProblem` (or a
:class:`~lab.planning.MultiYearProblem`) and returns a :class:`PlanResult` that
carries its own proof: an exactly feasible plan, shadow prices, and the duality gap
between the plan's objective and the dual bound those prices give.

Methods
-------
``"harmony"``
    Maximise Σ w·H(s), s = (n − t)/t, over feasible plans: a concave programme.
    Solved to a certified duality gap, either in closed form through labour
    values when the problem decouples (square, no initial stocks; capacities priced like
    resources: see :mod:`lab.planning._exact`), exactly with technique choice where the
    plan meets any capacities (policy iteration, cutting planes over resource prices:
    :mod:`lab.planning._choice`), by HiGHS up to 20,000 techniques, or by restarted
    Halpern PDHG with diagonal preconditioning (:mod:`lab.planning._pdhg`, where the
    choice is justified) — O(nnz) work per iteration in lab's fused kernels.
``"plan-ray"``
    Kantorovich's linear programme: maximise φ with n ≥ φ·t. Same machinery.
``"plan-ray-sum"``
    Σ_y φ_y over the years of a multi-year plan (Cockshott's ``nyearplan``); with one
    year, the plan ray.
``"cockshott"``
    Cockshott's published balancing heuristic (:mod:`lab.planning._cockshott`), kept as
    the historical baseline; it makes no optimality claim and its result says so.
``"auto"``
    The harmony programme (the planner's objective), by the fastest certified
    route the problem allows.

Stopping rule
-------------
Every few iterations the current iterate is repaired into an exactly feasible plan
x (:func:`lab.planning._certificate.repair`) and the current prices give a dual
bound D. The best plan seen (highest objective) and the best bound proven (lowest D)
are kept; the solve stops when

    harmony:   D − Σ w·H(s(x)) ≤ gap · max(w̄, |Σ w·H(s(x))|)    (w̄: mean weight)
    plan rays: D − φ(x)        ≤ gap · max(φ(x), D)

so ``gap`` is a relative optimality gap that is proven, not estimated, and does
not depend on the units of products, resources, money or weights.

Units and determinism
---------------------
The primal-dual route solves the problem in balanced internal units
(:mod:`lab.planning._scale`) and maps the plan and prices back, so rescaling
products, resources or money gives the same plan. Its schedule depends on the
iteration count, never on the clock, and its reductions on a fixed partition of the rows, so
the same call gives the same result bit for bit, whatever the thread count
(``time_limit`` is the one exception: it reads the clock).

Infeasibility cannot happen for a single-year plan (x = 0 is always a plan). A
problem in which some target can grow without limit ends with status
``UNBOUNDED``; a solve that runs out of iterations or time ends with
``MAXITER``/``TIME_LIMIT``, the best plan and the best bound seen, and a
:class:`~lab.exceptions.ConvergenceWarning`.
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from dataclasses import dataclass, field, replace
from enum import IntEnum
from types import MappingProxyType

import numpy as np
import scipy.sparse as sp

from lab import _ops
from lab.economy import product_index
from lab.exceptions import (
    ConvergenceWarning,
    InvalidOptionError,
    InvalidProblemError,
    InvalidTypeError,
    NotConvergedError,
)
from lab.planning import _certificate, _lp, _pdhg
from lab.planning._certificate import Objective
from lab.planning._choice import not_applicable as choice_not_applicable
from lab.planning._choice import solve_choice
from lab.planning._cockshott import CockshottOptions, balance
from lab.planning._exact import CapacitiesBind, NotApplicable, not_applicable, solve_decoupled
from lab.planning._harmony import harmony_of
from lab.planning._problem import PlanningProblem
from lab.planning._scale import Units, balanced_units, flow_scaling, mean_weight, scaled_problem

#: ``auto`` tries the exact technique-choice route on problems with capacities (it is
#: optimal where its plan meets them) from this many techniques on; below, HiGHS first.
#: Generated problems with 2 techniques per product, 3 resources and capacities on 30 %
#: that bind, 10³ products (medians of 7): the attempt added 19 ms to HiGHS's 98 ms for
#: the plan ray and 34 to 549 ms for harmony; at 10⁴ the plan ray took 16.3–16.5 s with
#: it and 16.4–16.6 s without (HiGHS's spread hides it). Where the capacities do not bind
#: it gains 5× at 10³ and about 60× at 10⁴.
CAPACITIES_EXACT_FROM = 5_000

__all__ = ["PlanStatus", "PlanOptions", "PlanResult", "plan", "METHODS", "CockshottOptions"]

METHODS = ("auto", "harmony", "plan-ray", "plan-ray-sum", "cockshott")
SOLVERS = ("auto", "pdhg", "decoupled", "highs")


class PlanStatus(IntEnum):
    """Outcome of :func:`plan`. ``OPTIMAL`` is the only certified one."""

    OPTIMAL = 0
    MAXITER = 1
    TIME_LIMIT = 2
    UNBOUNDED = 3
    HEURISTIC = 4
    INTERRUPTED = 5
    INFEASIBLE = 6

    def __str__(self) -> str:  # print(status) shows OPTIMAL, not 0; int(status) is the code
        return self.name

    def __format__(self, spec: str) -> str:
        numeric = spec[-1:] in tuple("bcdoxXn")
        return int.__format__(self, spec) if numeric else format(self.name, spec)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


@dataclass(frozen=True)
class PlanOptions:
    """Options of a plan solve, shared by the Python API, the CLI and batch jobs.

    Numbers may be Python or NumPy scalars; they are stored as Python numbers.

    Parameters
    ----------
    method : {"auto", "harmony", "plan-ray", "plan-ray-sum", "cockshott"}
    gap : float
        Relative duality gap at which a plan counts as optimal (see module docstring).
    maxiter : int or None
        Most PDHG iterations; ``None``: 200 000.
    time_limit : float or None
        Seconds after which the best plan so far is returned.
    solver : {"auto", "pdhg", "decoupled", "highs"}
        ``"auto"`` uses the exact decoupled solve when the problem allows it; else HiGHS
        (:mod:`lab.planning._lp`: the plan-ray LP up to 20,000 techniques, harmony by
        LPs of tangents up to 20,000, which needs highspy), and PDHG otherwise or where
        that is not certified. ``"decoupled"`` insists (an error if not applicable);
        ``"highs"`` asks HiGHS at any size. Every route's plan carries lab's own
        certificate.
    check_every : int
        Fewest PDHG iterations between certificates.
    backend : {"auto", "cython", "numba"}
        Kernels of the value solves (labour values, Leontief solves). The primal-dual
        loop always runs on lab's fused Numba kernels, one threading runtime.
    n_threads : int or None
        Kernel threads. ``None``: the backends' current counts, lowered to the cores
        other processes leave free when the plan starts (:func:`lab._ops.threads_free`);
        an int forces that count.
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
        set_ = object.__setattr__
        if self.method not in METHODS:
            raise InvalidOptionError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.solver not in SOLVERS:
            raise InvalidOptionError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        if not _is_real(self.gap) or not 0 < self.gap < 1:
            raise InvalidOptionError(f"gap must be a number in (0, 1), got {self.gap!r}")
        set_(self, "gap", float(self.gap))
        for name in ("maxiter", "check_every"):
            value = getattr(self, name)
            if value is None and name == "maxiter":
                continue
            if not _is_int(value) or value < 1:
                raise InvalidOptionError(f"{name} must be a positive integer, got {value!r}")
            set_(self, name, int(value))
        if self.time_limit is not None:
            if not _is_real(self.time_limit) or not self.time_limit > 0:
                raise InvalidOptionError(f"time_limit must be a positive number or None, "
                                 f"got {self.time_limit!r}")
            set_(self, "time_limit", float(self.time_limit))
        if not isinstance(self.raise_on_failure, (bool, np.bool_)):
            raise InvalidTypeError(f"raise_on_failure must be True or False, "
                            f"got {self.raise_on_failure!r}")
        set_(self, "raise_on_failure", bool(self.raise_on_failure))
        if not isinstance(self.cockshott, CockshottOptions):
            raise InvalidTypeError(f"cockshott must be a lab.CockshottOptions, got "
                                   f"{type(self.cockshott).__name__}")
        try:
            _ops.resolve_backend(self.backend)
            if self.n_threads is not None:
                set_(self, "n_threads", _ops._check_n_threads(self.n_threads))
        except TypeError as exc:
            raise InvalidTypeError(str(exc)) from None
        except ValueError as exc:
            raise InvalidOptionError(str(exc)) from None


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
        flow is below a millionth of the plan's largest, against that millionth
        (in the planner's balanced units, so that it does not depend on the user's).
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

    # Frames show a shadow price as 0 when its whole effect (price × the amount it
    # prices) is below what the certificate resolves (see ``resolved``); the arrays
    # ``prices``, ``resource_prices``, ``capacity_prices`` keep the certificate's numbers.

    def products_frame(self):
        """One row per product: net output, target, fulfilment, shadow price (0 where
        its effect on the objective is below what the certificate resolves)."""
        import pandas as pd

        p = self.problem
        target = np.where(p.targets > 0, p.targets, np.nan)
        supply = p.initial_stocks + (self.x if p.B is None else p.B @ self.x)
        amount = np.maximum.reduce([supply, p.A @ self.x, p.targets])
        # a product the plan neither makes, uses nor targets keeps its marginal value
        price = np.where(amount > 0, shown_prices(self.prices, amount, self.objective),
                         self.prices)
        return pd.DataFrame({"net_output": self.net_output, "target": target,
                             "fulfilment": self.net_output / target, "price": price},
                            index=product_index(p.economy or p.product_codes))

    def techniques_frame(self):
        """One row per technique: intensity, capacity, capacity use, its shadow price
        (0 where negligible) and ``binding``: the capacity limits the plan (a capacity
        with a price > 0 that is not negligible)."""
        import pandas as pd

        p, prices = self.problem, self.capacity_prices
        return pd.DataFrame({"intensity": self.x, "capacity": p.capacities,
                             "capacity_use": self.capacity_use,
                             "capacity_price": shown_prices(prices, p.capacities,
                                                            self.objective),
                             "binding": binding(prices, p.capacities, self.objective)},
                            index=product_index(p.economy or p.technique_codes))

    def resources_frame(self):
        """One row per resource: use, availability, shadow price (0 where its effect,
        price × available, is below what the certificate resolves) and ``binding``: a
        limited resource with a positive price that is not negligible."""
        import pandas as pd

        prices = self.resource_prices
        return pd.DataFrame({"use": self.resource_use, "available": self.available,
                             "price": shown_prices(prices, self.available, self.objective),
                             "binding": binding(prices, self.available, self.objective)},
                            index=pd.Index(self.problem.resource_names, name="resource"))

    def worst_targets(self, top: int = 5) -> list[tuple[str, float]]:
        """The ``top`` targets with the lowest fulfilment, as (code, fulfilment)."""
        return worst_fulfilled(self.target_codes, self.fulfilment, top)

    def to_html(self, path, **options):
        """Write this result's self-contained HTML report (see :func:`lab.report.to_html`)."""
        from lab import _html

        return _html.render(self, path, **options)

    def summary(self, top: int = 5) -> str:
        """A few lines for people: status, route, objective, gap, size, iterations and
        time, the worst-fulfilled targets, and, said plainly, how many targets get
        nothing. Never the arrays (see :meth:`products_frame` and the other frames)."""
        p = self.problem
        return summary_lines(self.status, self.method, self.objective, self.relative_gap,
                             self.min_fulfilment, self.target_codes, self.fulfilment,
                             self.message, top, route=self.solver,
                             shape=f"{p.n_products} products × {p.n_techniques} techniques",
                             iterations=self.iterations, seconds=self.timings.get("total"),
                             binding=self.binding_resources()[:top])

    def binding_resources(self) -> list[tuple[str, float]]:
        """(name, shadow price) of the resources that limit the plan (``binding`` in
        :meth:`resources_frame`), highest price first; never one whose price is 0."""
        bind = binding(self.resource_prices, self.available, self.objective)
        order = np.flatnonzero(bind)[np.argsort(-self.resource_prices[bind], kind="stable")]
        return [(self.problem.resource_names[q], float(self.resource_prices[q]))
                for q in order]

    def __repr__(self) -> str:
        return f"PlanResult({self.summary()})"


def worst_fulfilled(codes, fulfilment, top: int) -> list[tuple[str, float]]:
    order = np.argsort(fulfilment, kind="stable")[:max(0, top)]
    return [(str(codes[i]), float(fulfilment[i])) for i in order]


#: A target counts as getting nothing below this fulfilment.
NOTHING = 1e-9
#: Share of the objective's scale (max(1, |objective|)) below which a shadow price's
#: whole effect, price × amount, is not resolved by a certificate of the default gap:
#: such a price is shown as 0 and its limit as not binding (the report uses the same rule).
RESOLVED = 1e-6


def negligible(prices, amounts, objective) -> np.ndarray:
    """Where a shadow price's whole effect, |price| × amount (an unlimited amount counting
    as 0), is at most ``RESOLVED`` × max(1, |objective|): below what the certificate
    resolves. NaN prices (methods that compute none) are not negligible."""
    prices, amounts = np.asarray(prices, dtype=float), np.asarray(amounts, dtype=float)
    scale = max(1.0, abs(objective)) if math.isfinite(objective) else 1.0
    with np.errstate(invalid="ignore", over="ignore"):
        effect = np.abs(prices) * np.where(np.isfinite(amounts), amounts, 0.0)
    return ~np.isnan(prices) & (effect <= RESOLVED * scale)


def shown_prices(prices, amounts, objective) -> np.ndarray:
    """The prices with the negligible ones (see :func:`negligible`) set to 0."""
    return np.where(negligible(prices, amounts, objective), 0.0, prices)


def binding(prices, amounts, objective) -> np.ndarray:
    """The limits that bind as far as the certificate can tell: a finite amount and a
    positive price that is not negligible."""
    amounts = np.asarray(amounts, dtype=float)
    return (np.isfinite(amounts) & (np.asarray(prices, dtype=float) > 0)
            & ~negligible(prices, amounts, objective))


def summary_lines(status, method, objective, relative_gap, min_fulfilment, codes,
                  fulfilment, message, top: int, *, route: str = "", shape: str = "",
                  iterations: int | None = None, seconds: float | None = None,
                  binding=()) -> str:
    """The summary of a plan (single- or multi-year): a few lines, whatever its size."""
    n = len(codes)
    lines = [f"{method}{f' ({route})' if route else ''}: {status.name}, objective "
             f"{objective:.10g}, relative gap {relative_gap:.2e}"]
    facts = [shape] if shape else []
    facts.append(f"{n} target{'s' if n != 1 else ''}, smallest fulfilment {min_fulfilment:.6g}")
    if iterations is not None:
        facts.append(f"{iterations} iteration{'s' if iterations != 1 else ''}")
    if seconds is not None:
        facts.append(f"{seconds:.3g} s")
    lines.append("  " + ", ".join(facts))
    if status not in (PlanStatus.OPTIMAL, PlanStatus.HEURISTIC):
        lines.append("  " + (message if message.startswith("not certified")
                             else f"not certified: {message}"))
    nothing = [str(codes[i]) for i in np.flatnonzero(np.asarray(fulfilment) < NOTHING)]
    if nothing:
        shown = ", ".join(repr(c) for c in nothing[:10]) + (", ..." if len(nothing) > 10
                                                           else "")
        lines.append(f"  {len(nothing)} of {n} targets get nothing: {shown}")
    if top and n:
        worst = ", ".join(f"{c!r} {f:.4g}" for c, f in worst_fulfilled(codes, fulfilment, top))
        lines.append(f"  worst-fulfilled targets: {worst}")
    if binding:
        lines.append("  binding resources (shadow price): "
                     + ", ".join(f"{name} {price:.4g}" for name, price in binding))
    return "\n".join(lines)


def _reduced_profit_prices(problem, profit) -> np.ndarray:
    capped = np.isfinite(problem.capacities)
    return np.where(capped, np.maximum(profit, 0.0), 0.0)


def _objective_of(method: str) -> Objective:
    return Objective("plan-ray" if method in ("plan-ray", "plan-ray-sum") else "harmony")


def bounded_reason(problem, objective: Objective, ub: np.ndarray) -> str | None:
    """Why the objective can grow without limit (None if every feasible plan is bounded).

    A target is bounded when its largest possible supply (s⁰ plus every maker at its
    implied bound) is finite. Harmony needs every weighted target bounded; a plan ray
    needs one bounded target in every group.
    """
    supply = _certificate.supply_bounds(problem, ub)
    idx = problem.target_index
    finite = np.isfinite(supply[idx])
    if objective.mode == "harmony":
        free = ~finite & (problem.weights[idx] > 0)
        if free.any():
            code = problem.product_codes[idx[np.flatnonzero(free)[0]]]
            return (f"target product {code!r} can be made by techniques that no capacity, "
                    "limited resource or limited input restrains")
        return None
    groups = np.zeros(idx.size, dtype=np.intp) if objective.groups is None \
        else objective.groups
    ok = np.zeros(objective.n_groups, dtype=bool)
    ok[groups[finite]] = True
    if not ok.all():
        return ("every target can be made by techniques that no capacity, limited resource "
                "or limited input restrains")
    return None


def standard_form(problem, objective: Objective) -> tuple[_pdhg.StandardForm, np.ndarray]:
    """The programme of ``problem`` as PDHG's standard form (one φ column per ray group)."""
    limited = np.isfinite(problem.available)
    net = problem.net_matrix()
    Rl = sp.csr_array(problem.R[limited])
    m, k = net.shape
    idx = problem.target_index
    q = problem._required
    lower_bound = -problem.initial_stocks if q is None else q - problem.initial_stocks
    if objective.mode == "plan-ray":
        G = objective.n_groups
        groups = np.zeros(idx.size, dtype=np.intp) if objective.groups is None \
            else objective.groups
        t_cols = sp.csr_array((-problem.targets[idx], (idx, groups)), shape=(m, G))
        K = sp.vstack([sp.hstack([net, t_cols]), sp.hstack([Rl, sp.csr_array((Rl.shape[0], G))])],
                      format="csr")
        c = np.zeros(k + G)
        c[k:] = -1.0
        lo = np.zeros(k + G)
        hi = np.append(problem.capacities, np.full(G, np.inf))
        hrows = np.zeros(0, dtype=np.intp)
    else:
        K = sp.vstack([net, Rl], format="csr")
        c = np.zeros(k)
        lo = np.zeros(k)
        hi = np.array(problem.capacities)
        hrows = idx[problem.weights[idx] > 0]
    bound = np.concatenate([lower_bound, problem.available[limited]])
    lower = np.concatenate([np.ones(m, bool), np.zeros(int(limited.sum()), bool)])
    form = _pdhg.StandardForm(K=K, c=c, lo=lo, hi=hi, bound=bound, lower=lower,
                              harmony_rows=hrows, harmony_t=problem.targets[hrows],
                              harmony_w=problem.weights[hrows])
    return form, limited


def check_x0(problem, x0) -> np.ndarray:
    """x0 as float64 (k,), finite and ≥ 0, or :class:`InvalidProblemError`."""
    try:
        arr = np.asarray(x0, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidProblemError(f"x0 must be an array of numbers: {exc}") from None
    if arr.shape != (problem.n_techniques,):
        raise InvalidProblemError(f"x0 must have one entry per technique "
                                  f"({problem.n_techniques}), got shape {arr.shape}")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise InvalidProblemError(
            f"x0 must be finite and ≥ 0; {int(bad.sum())} entr"
            f"{'y is' if bad.sum() == 1 else 'ies are'} not, the first is "
            f"x0[{str(problem.technique_codes[j])!r}] = {float(arr[j])!r}")
    return arr


@dataclass
class _Best:
    """The best feasible plan and the best bound seen (internal units)."""

    plan: _certificate.Evidence | None = None
    bound: _certificate.Evidence | None = None
    certify_seconds: float = 0.0

    #: A later plan (bound) replaces the kept one only when it is better by more than
    #: this, relative: among plans equal up to rounding the first stays, so that an
    #: optimum with many optimal plans gives the same plan in any units.
    BETTER = 1e-12

    def add(self, ev: _certificate.Evidence) -> None:
        if ev.infeasibility <= _certificate.FEASIBILITY_TOL and (
                self.plan is None or ev.objective > self.plan.objective
                + self.BETTER * max(1.0, abs(self.plan.objective))):
            self.plan = ev
        if self.bound is None or not np.isfinite(self.bound.bound) or (
                ev.bound < self.bound.bound - self.BETTER * max(1.0, abs(self.bound.bound))):
            if self.bound is None or ev.bound <= self.bound.bound:
                self.bound = ev

    def relative_gap(self, mode: str) -> float:
        if self.plan is None or self.bound is None:
            return np.inf
        return _certificate.relative_gap(mode, self.plan.objective, self.bound.bound)

    def combined(self, mode: str) -> _certificate.Evidence:
        p, b = self.plan, self.bound
        rel = self.relative_gap(mode)
        return _certificate.Evidence(
            x=p.x, n=p.n, objective=p.objective, bound=b.bound, gap=b.bound - p.objective,
            relative_gap=rel, prices=b.prices, resource_prices=b.resource_prices,
            profit=b.profit, infeasibility=p.infeasibility, repair_rounds=p.repair_rounds)


@dataclass
class General:
    """What the primal-dual route returns (user units), for :func:`plan` and multi-year."""

    evidence: _certificate.Evidence | None
    iterations: int
    history: np.ndarray
    stopped: str
    timings: dict
    parallel: bool
    units: Units | None
    unbounded: str | None = None


def to_user(ev: _certificate.Evidence, units: Units, mode: str) -> _certificate.Evidence:
    """Evidence in internal units → the user's units (see lab.planning._scale)."""
    scale = units.weight if mode == "harmony" else 1.0
    a, g = units.product, units.technique
    return _certificate.Evidence(
        x=ev.x * g, n=ev.n / a, objective=ev.objective * scale, bound=ev.bound * scale,
        gap=(ev.bound - ev.objective) * scale, relative_gap=ev.relative_gap,
        prices=ev.prices * a * scale, resource_prices=ev.resource_prices * units.resource * scale,
        profit=ev.profit / g * scale, infeasibility=ev.infeasibility,
        repair_rounds=ev.repair_rounds)


def solve_general(problem, objective: Objective, *, gap: float, maxiter: int, n_threads: int,
                  check_every: int = 64, callback=None, time_limit: float | None = None,
                  x0: np.ndarray | None = None, anchor: np.ndarray | None = None,
                  enough: float | None = None, repair_factory=None, polish=None,
                  presolve=None, flow_scaled: bool = False) -> General:
    """The primal-dual route on any problem: balanced units, PDHG, certificates.

    ``x0`` (user units) is certified first, so a starting plan that is already
    optimal is returned as it is. ``anchor`` is a feasible plan for problems with
    required outputs (see :func:`lab.planning._certificate.repair`). ``enough``: stop
    as soon as a plan reaches this objective (a search for a plan, not an optimum).
    ``repair_factory(internal_problem)`` gives a repair for the problem in internal
    units (see :func:`lab.planning._certificate.evidence`). ``polish``: a
    :class:`lab.planning._polish.Polisher` that may sharpen the bound at certificates.
    ``presolve(internal_problem, objective, limited, ub, repair)``: evidence (internal
    units) from the problem's structure, or None, kept before the first iteration; the
    primal-dual method runs only where it does not certify the gap. ``flow_scaled``:
    the method's matrix is first put in the units of a reference plan's flows
    (:func:`lab.planning._scale.flow_scaling`; single-year plans).
    """
    t1 = time.perf_counter()
    limited = np.isfinite(problem.available)
    reason = bounded_reason(problem, objective, _certificate.implied_bounds(problem, limited))
    if reason is not None:
        return General(None, 0, np.zeros((0, 2)), "unbounded", {}, False, None, reason)
    units = balanced_units(problem, limited)
    inner = scaled_problem(problem, units)
    ub = _certificate.implied_bounds(inner, limited)
    form, _ = standard_form(inner, objective)
    if flow_scaled:
        form.prescale = flow_scaling(inner, form.K.shape)
    m, k = inner.n_products, inner.n_techniques
    anchor_s = None if anchor is None else anchor / units.technique
    repair_fn = None if repair_factory is None else repair_factory(inner)
    best = _Best()
    # a progress display (lab._progress) shows the gaps proven so far
    report = getattr(callback, "certified", None)

    def certify(z, y):
        """(the best relative gap proven so far, this certificate's work)"""
        tc = time.perf_counter()
        ev = _certificate.evidence(inner, objective, z[:k], -y[:m], y[m:], limited, ub,
                                   anchor=anchor_s, repair_fn=repair_fn, rebalanced=True)
        best.add(ev)
        if polish is not None and best.bound is not None:
            sharper = polish(inner, objective, ev, -y[:m], y[m:], limited, ub,
                             best_bound=best.bound.bound, target_gap=gap)
            if sharper is not None:
                best.add(sharper)
        best.certify_seconds += time.perf_counter() - tc
        if enough is not None and best.plan is not None and best.plan.objective >= enough:
            return 0.0, ev.work
        proven = best.relative_gap(objective.mode)
        if report is not None:
            report(proven)
        return proven, ev.work

    t2 = time.perf_counter()  # certificates (of x0 and the presolve too) count as such
    z0 = None
    history = []
    if x0 is not None:
        x0_s = x0 / units.technique
        start_gap, _ = certify(np.concatenate([x0_s, np.zeros(form.K.shape[1] - k)]),
                               np.zeros(form.K.shape[0]))
        history.append((0, start_gap))
        z0 = x0_s if objective.mode == "harmony" else np.append(
            x0_s, np.full(objective.n_groups, 0.0))
    if presolve is not None:
        tc = time.perf_counter()
        structured = presolve(inner, objective, limited, ub, repair_fn)
        best.certify_seconds += time.perf_counter() - tc
        if structured is not None:
            best.add(structured)
            history.append((0, best.relative_gap(objective.mode)))
            if history[-1][1] <= gap:
                ev = best.combined(objective.mode)
                return General(to_user(ev, units, objective.mode), 0,
                               np.array(history, dtype=float).reshape(-1, 2), "certified",
                               {"setup": t2 - t1, "solve": 0.0,
                                "certify": best.certify_seconds}, False, units)
    out = _pdhg.solve(form, certify=certify, tol=gap, maxiter=maxiter, n_threads=n_threads,
                      z0=z0, check_every=check_every, callback=callback,
                      time_limit=time_limit)
    t3 = time.perf_counter()
    if best.plan is None or best.bound is None:
        certify(out.z, out.y)
    if best.plan is None:  # no certificate was feasible: x = 0, or the anchor
        fallback = np.zeros(k) if anchor_s is None else anchor_s
        ev = _certificate.evidence(inner, objective, fallback, -out.y[:m], out.y[m:],
                                   limited, ub, anchor=anchor_s, repair_fn=repair_fn)
        best.add(ev)  # (with required outputs and no anchor, still no plan)
    history.extend(out.history)
    ev = best.combined(objective.mode) if best.plan is not None else None
    timings = {"setup": t2 - t1, "solve": t3 - t2 - best.certify_seconds,
               "certify": best.certify_seconds}
    return General(None if ev is None else to_user(ev, units, objective.mode), out.iterations,
                   np.array(history, dtype=float).reshape(-1, 2), out.stopped, timings,
                   out.parallel, units)


def plan(problem, *, method: str = "auto", gap: float = 1e-6,
         maxiter: int | None = None, backend: str = "auto", n_threads: int | None = None,
         callback=None, options: PlanOptions | None = None, x0=None,
         progress: bool = False, **kwargs):
    """Compute a harmony-balanced plan (or the plan ray) with its certificate.

    Parameters
    ----------
    problem : PlanningProblem or MultiYearProblem
    method : {"auto", "harmony", "plan-ray", "plan-ray-sum", "cockshott"}
        See the module docstring.
    gap : float
        Relative duality gap to reach (default 1e-6).
    maxiter : int or None
        Most iterations of the primal-dual method (default 200 000).
    backend : {"auto", "cython", "numba"}
    n_threads : int or None
        Kernel threads (``None``: as many as other processes leave cores free; see
        :class:`PlanOptions`).
    callback : callable, optional
        ``callback(iteration, value)`` every ``check_every`` iterations (PDHG: the
        fixed-point residual) or every round (cockshott: the harmony); return
        ``False`` to stop.
    options : PlanOptions, optional
        All options at once (the keywords above override nothing when given).
    x0 : array_like (k,), optional
        Starting intensities for the primal-dual method (finite, ≥ 0). They are
        certified before the first iteration, so a plan that is already optimal
        comes back as it is.
    progress : bool, default False
        Show the iteration and the fixed-point residual (cockshott: the harmony) on
        stderr while the solve runs longer than a second (:mod:`lab._progress`: a line
        redrawn on a terminal, a plain line every 2 s in a log).
    **kwargs
        Further :class:`PlanOptions` fields (``time_limit``, ``solver``,
        ``check_every``, ``raise_on_failure``, ``cockshott``).

    Returns
    -------
    PlanResult, or MultiYearResult for a MultiYearProblem

    Raises
    ------
    InvalidProblemError
        ``x0`` of the wrong shape, not finite or negative.
    TypeError
        ``problem`` or ``options`` of the wrong type.

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
    if progress is not False:
        if not isinstance(progress, (bool, np.bool_)):
            raise InvalidTypeError(f"progress must be True or False, got {progress!r}")
        if progress:
            from lab._progress import Progress

            chosen = options.method if isinstance(options, PlanOptions) else method
            with Progress("plan", what="harmony" if chosen == "cockshott" else
                          "residual") as shown:
                return plan(problem, method=method, gap=gap, maxiter=maxiter,
                            backend=backend, n_threads=n_threads,
                            callback=shown.chain(callback), options=options, x0=x0,
                            **kwargs)
    if options is None:
        options = PlanOptions(method=method, gap=gap, maxiter=maxiter, backend=backend,
                              n_threads=n_threads, **kwargs)
    elif not isinstance(options, PlanOptions):
        raise InvalidTypeError(f"options must be a lab.PlanOptions, got "
                               f"{type(options).__name__}")
    elif kwargs:
        options = replace(options, **kwargs)
    from lab.planning._multiyear import MultiYearProblem, solve_multiyear

    if isinstance(problem, MultiYearProblem):
        result = solve_multiyear(problem, options, callback=callback, x0=x0)
        _warn(result, options)
        return result
    if not isinstance(problem, PlanningProblem):
        raise InvalidTypeError(f"problem must be a lab.PlanningProblem or "
                               f"lab.MultiYearProblem, got {type(problem).__name__}")
    if x0 is not None:
        x0 = check_x0(problem, x0)
    resolved = _ops.resolve_backend(options.backend)
    t0 = time.perf_counter()
    # no governor times the planners' steps: with n_threads=None they run on the threads
    # other processes leave free, measured here (lab._ops "Threads")
    with _ops.thread_limit(options.n_threads, resolved, yield_to_load=True):
        n_threads = _ops.kernels(resolved).get_num_threads()
        with _ops.thread_limit(options.n_threads, "numba", yield_to_load=True):
            result = _solve(problem, options, resolved, n_threads, callback, x0, t0)
    _warn(result, options)
    return result


def _warn(result, options) -> None:
    if not result.converged and result.status != PlanStatus.HEURISTIC:
        message = f"plan not certified: {result.message}"
        if options.raise_on_failure:
            raise NotConvergedError(message, result)
        warnings.warn(message, ConvergenceWarning, stacklevel=3)


def numba_threads() -> int:
    import numba

    return int(numba.get_num_threads())


def _solve(problem, options, backend, n_threads, callback, x0, t0):
    method = options.method
    objective = _objective_of(method)
    if method == "cockshott":
        return _run_cockshott(problem, options, backend, n_threads, callback, t0)
    # the exact routes: square (closed form through labour values) or technique choice
    # (the same on the cheapest techniques, lab.planning._choice)
    reason = not_applicable(problem) if problem.is_square else choice_not_applicable(problem)
    solver = options.solver
    handed = None  # the evidence of a route that handed its plan on to PDHG
    if solver == "decoupled" and reason is not None:
        raise InvalidOptionError(f"solver='decoupled' does not apply: {reason}")
    most = _lp.AUTO_MAX_TECHNIQUES if objective.mode == "plan-ray" else _lp.AUTO_MAX_HARMONY
    general_solver = "highs" if problem.n_techniques <= most else "pdhg"
    if solver == "auto":
        if reason is None and not problem.is_square and general_solver == "highs" \
                and problem.n_techniques < CAPACITIES_EXACT_FROM \
                and np.isfinite(problem.capacities).any():
            reason = (f"with capacities and fewer than {CAPACITIES_EXACT_FROM:,} techniques "
                      "HiGHS is asked first")
        solver = "decoupled" if reason is None else general_solver
    what = "harmony programme" if method == "auto" else method
    exact = ("decoupled through labour values (square, no initial stocks)"
             if problem.is_square else
             "exact through the cheapest techniques (technique choice by policy iteration, "
             "no joint production, no initial stocks)")
    because = " because " + reason if reason is not None else \
        "" if options.solver == "auto" else " as requested"

    programme = "linear programme" if objective.mode == "plan-ray" else "tangent LPs"

    def general_why(route, because):
        return f"{what}: " + (f"{programme} by HiGHS{because}, certified by lab"
                              if route == "highs" else f"primal-dual (PDHG){because}")

    why = f"{what}: {exact}" if solver == "decoupled" else general_why(solver, because)
    if solver == "decoupled":
        try:
            out = _decoupled(problem, objective, options)
        except NotApplicable as exc:
            if options.solver == "decoupled":
                raise InvalidOptionError(f"solver='decoupled' does not apply: {exc}") from None
            out = None
            solver = general_solver
            because = f" because the exact route does not apply: {exc}"
            why = general_why(solver, because)
            if isinstance(exc, CapacitiesBind) and x0 is None:
                x0 = exc.plan  # feasible: the exact plan scaled into the capacities
    if solver == "decoupled":
        if isinstance(out, str):
            return _unbounded(problem, method, why, solver, backend, n_threads,
                              out or "the problem is unbounded", t0)
        ev, timings = out
        if ev.relative_gap <= options.gap or options.solver == "decoupled":
            return _result(problem, options, ev, method, why, solver, backend, n_threads,
                           iterations=0, history=np.array([[0.0, ev.relative_gap]]),
                           timings=timings, t0=t0, stopped="the decoupled solve")
        # rounding left the exact plan uncertified (targets of extreme magnitudes):
        # the primal-dual method takes it from there
        handed = ev
        x0 = ev.x
        solver = "pdhg"
        why += f"; its plan was not certified (gap {ev.relative_gap:.1e}), so PDHG went on"
    if solver == "highs":
        out = _highs(problem, objective, options, x0, _left(options.time_limit, t0))
        if out is not None and (out[0].relative_gap <= options.gap
                                or options.solver == "highs"):
            ev, timings = out
            return _result(problem, options, ev, method, why, solver, backend, n_threads,
                           iterations=0, history=np.array([[0.0, ev.relative_gap]]),
                           timings=timings, t0=t0, stopped="the linear programme")
        if out is None:
            why = (general_why("pdhg", because) + "; HiGHS gave no plan (no optimum, or "
                   "highspy is not installed)")
        else:  # rounding left HiGHS's plan uncertified: PDHG starts from it
            handed = out[0]
            x0 = out[0].x
            why += (f"; HiGHS's plan was not certified (gap {out[0].relative_gap:.1e}), so "
                    "PDHG went on from it")
        solver = "pdhg"
    general = solve_general(problem, objective, gap=options.gap,
                            maxiter=options.maxiter or 200_000, n_threads=numba_threads(),
                            check_every=options.check_every, callback=callback,
                            time_limit=_left(options.time_limit, t0), x0=x0, flow_scaled=True)
    if general.unbounded is not None:
        return _unbounded(problem, method, why, solver, backend, n_threads,
                          general.unbounded, t0)
    evidence = general.evidence
    if handed is not None and evidence is not None:
        # the route handed on had a plan and a bound of its own: the best of each stays
        best = _Best()
        best.add(handed)
        best.add(evidence)
        evidence = best.combined(objective.mode)
    return _result(problem, options, evidence, method, why, solver, backend,
                   n_threads, iterations=general.iterations, history=general.history,
                   timings=general.timings, t0=t0, stopped=general.stopped)


def _left(time_limit: float | None, t0: float) -> float | None:
    """Seconds of ``time_limit`` left since ``t0`` (at least a millisecond, so that a
    route handed on to still certifies the plan it starts from), or None."""
    if time_limit is None:
        return None
    return max(time_limit - (time.perf_counter() - t0), 1e-3)


def _highs(problem, objective, options, x0=None, time_limit=None):
    """The programme by HiGHS (lab.planning._lp: the plan-ray LP, or harmony by tangents)
    with lab's certificate: (evidence, timings), or None where HiGHS gave no plan. HiGHS
    sees the problem in lab's balanced units (lab.planning._scale), so that the plan does
    not depend on the units of the table. A starting plan ``x0`` (user units) is
    certified beside HiGHS's, and the better one is kept. ``time_limit``: seconds for
    HiGHS (the LP, or all rounds of tangents)."""
    t1 = time.perf_counter()
    limited = np.isfinite(problem.available)
    units = balanced_units(problem, limited)
    problem = scaled_problem(problem, units)
    ub = _certificate.implied_bounds(problem, limited, max_sweeps=0)
    best = _Best()
    seconds = [0.0]

    def certify(x, p, lam, sweeps=0):
        tc = time.perf_counter()
        ev = _certificate.evidence(problem, objective, x, p, lam, limited, ub, sweeps=sweeps)
        best.add(ev)
        seconds[0] += time.perf_counter() - tc
        return best.relative_gap(objective.mode)

    if objective.mode == "plan-ray":
        out = _lp.solve_plan_ray(problem, objective, time_limit=time_limit)
        if out is not None:
            certify(*out[:3])
    else:  # certified round by round
        out = _lp.solve_harmony(problem, objective, gap=options.gap, certify=certify,
                                time_limit=time_limit)
    if out is None:
        return None
    if x0 is not None:
        certify(x0 / units.technique, *out[1:3])
    # HiGHS's prices are exact to its tolerances: lowering sweeps only where they miss
    if best.relative_gap(objective.mode) > options.gap:
        ub = _certificate.implied_bounds(problem, limited)
        certify(*out[:3], sweeps=60)
    if best.plan is None or best.bound is None:
        return None
    t2 = time.perf_counter()
    return to_user(best.combined(objective.mode), units, objective.mode), {
        "setup": 0.0, "solve": t2 - t1 - seconds[0], "certify": seconds[0]}


def _decoupled(problem, objective, options):
    """The exact route; its certificate in user units with weights of mean 1."""
    t1 = time.perf_counter()
    units = Units(product=np.ones(problem.n_products), technique=np.ones(problem.n_techniques),
                  resource=np.ones(problem.n_resources),
                  weight=mean_weight(problem))
    inner = PlanningProblem._from_arrays(
        problem.A, problem.B, problem.R, problem.targets, problem.weights / units.weight,
        problem.available, problem.capacities, problem.initial_stocks,
        codes=problem.product_codes, technique_codes=problem.technique_codes,
        resource_names=problem.resource_names, economy=problem.economy,
        weighting=problem.weighting)
    inner._cache.update({k: v for k, v in problem._cache.items() if k in ("target_index",
                                                                         "net")})
    exact = solve_decoupled if problem.is_square else solve_choice
    x, p, lam, unbounded = exact(inner, objective.mode, options)
    t2 = time.perf_counter()
    if x is None:
        return unbounded
    limited = np.isfinite(problem.available)
    # the exact prices leave no profit for bounds through the inputs to pay for
    ub = _certificate.implied_bounds(inner, limited, max_sweeps=0)
    # exact prices need no lowering sweeps (16.6 s of a 173-s plan at 10^6 products);
    # they are spent only where the bound without them misses the gap
    ev = _certificate.evidence(inner, objective, x, p, lam, limited, ub, sweeps=0)
    if not ev.relative_gap <= options.gap:
        ev = _certificate.evidence(inner, objective, x, p, lam, limited, ub)
    t3 = time.perf_counter()
    return to_user(ev, units, objective.mode), {"setup": 0.0, "solve": t2 - t1,
                                                "certify": t3 - t2}


def _unbounded(problem, method, why, solver, backend, n_threads, reason, t0):
    k, m, r = problem.n_techniques, problem.n_products, problem.n_resources
    zeros_k, zeros_m = np.zeros(k), problem.initial_stocks.copy()
    idx = problem.target_index
    fulfil = zeros_m[idx] / problem.targets[idx]
    return PlanResult(
        x=zeros_k, net_output=zeros_m, fulfilment=fulfil,
        harmony=float(np.dot(problem.weights[idx], harmony_of(zeros_m[idx],
                                                              problem.targets[idx]))),
        min_fulfilment=float(np.min(fulfil)),
        objective=np.inf, bound=np.inf, gap=np.inf, relative_gap=np.inf,
        prices=np.zeros(m), resource_prices=np.zeros(r), capacity_prices=np.zeros(k),
        resource_use=np.zeros(r), available=np.array(problem.available),
        capacity_use=np.zeros(k), infeasibility=0.0, converged=False,
        status=PlanStatus.UNBOUNDED, message=f"unbounded: {reason}", iterations=0,
        history=np.zeros((0, 2)), method=method if method != "auto" else "harmony",
        method_reason=why, solver=solver, backend=backend, n_threads=n_threads,
        timings=MappingProxyType({"setup": 0.0, "solve": 0.0, "certify": 0.0,
                                  "total": time.perf_counter() - t0}),
        problem=problem)


def status_of(relative_gap: float, tol: float, stopped: str) -> tuple[PlanStatus, str]:
    if relative_gap <= tol:
        return PlanStatus.OPTIMAL, "optimal"
    if stopped == "time":
        return PlanStatus.TIME_LIMIT, "time limit reached"
    if stopped == "callback":
        return PlanStatus.INTERRUPTED, "stopped by the callback"
    return PlanStatus.MAXITER, f"not certified ({stopped})"


def _result(problem, options, ev, method, why, solver, backend, n_threads, *,
            iterations, history, timings, t0, stopped):
    idx = problem.target_index
    with np.errstate(over="ignore"):
        fulfil = ev.n[idx] / problem.targets[idx]
    status, text = status_of(ev.relative_gap, options.gap, stopped)
    message = (f"{text}: relative gap {ev.relative_gap:.2e} (tolerance {options.gap:.1e}), "
               f"objective {ev.objective:.10g}, bound {ev.bound:.10g}")
    timings = dict(timings)
    timings["total"] = time.perf_counter() - t0
    return PlanResult(
        x=ev.x, net_output=ev.n, fulfilment=fulfil,
        harmony=float(np.dot(problem.weights[idx], harmony_of(ev.n[idx],
                                                              problem.targets[idx]))),
        min_fulfilment=float(np.min(fulfil)), objective=ev.objective, bound=ev.bound,
        gap=ev.gap, relative_gap=ev.relative_gap, prices=ev.prices,
        resource_prices=ev.resource_prices,
        capacity_prices=_reduced_profit_prices(problem, ev.profit),
        resource_use=problem.R @ ev.x, available=np.array(problem.available),
        capacity_use=_capacity_use(ev.x, problem.capacities),
        infeasibility=ev.infeasibility, converged=status == PlanStatus.OPTIMAL, status=status,
        message=message, iterations=iterations, history=history,
        method=method if method != "auto" else "harmony",
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
    harmony = float(np.dot(problem.weights[idx], harmony_of(n[idx], problem.targets[idx])))
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
