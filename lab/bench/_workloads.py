"""The workloads of ``lab bench``: lab's solvers and the peers a user would otherwise pick.

One registry, :data:`WORKLOADS`, lists every timed solver workload as a
:class:`Workload` entry (suite, name, side, how to build it, how to check its
answer, where it applies); :data:`COMPARISONS` pairs a lab workload with its
peer. Adding a workload (a new planning method, another peer) is one entry in
each list; :func:`lab.bench.run_bench` picks it up.

Suites and their cases
----------------------
``values``
    Labour values v = l + Aᵀv on a seeded :func:`lab.generate_economy`
    economy (12 mean inputs, ρ(A) = 0.9), rtol 1e-10 under lab's rule
    ‖l + Aᵀv − v‖∞ ≤ rtol·‖v‖∞, recomputed here with scipy for every answer.
    Peers: ``scipy.sparse.linalg`` ``spsolve`` (direct, where it fits),
    ``bicgstab`` and ``gmres(30)`` (their 2-norm rtol chosen per economy,
    untimed, as the loosest of :data:`SCIPY_RTOL_LADDER` whose answer meets
    lab's rule), and the textbook Jacobi loop on scipy's ``A @ x``.
``values-unstructured``
    The same, on an economy without supply-chain structure, built with NumPy and scipy
    only (:func:`unstructured_economy`: every product has 12 random inputs, every column
    of A sums to 0.9, so one strongly connected block holds nearly every product). lab's
    records carry the matrix passes of the answer and the bytes of one pass, from which
    the suite computes the bandwidth floor.
``techniques``
    Labour values with technique choice (:func:`lab.labour_values` on a
    :func:`lab.generate.generate_planning_problem` with a second technique for every
    product) against one square value solve of its economy (``square-cold``).
``pymrio``
    Every resource row at once (V = R (I − A)⁻¹): lab ``resources="all"``
    against pymrio's own Leontief calculation ``calc_M(S, calc_L(A))`` (a dense
    inverse), at the sizes where a dense m × m matrix fits.
``plans``, ``plans-square``
    :func:`lab.plan` on :func:`lab.generate.generate_planning_problem`
    problems with technique choice and capacities (``plans``: lab's general
    certified method) or one technique per product and no capacities
    (``plans-square``: lab's exact solve through labour values): ``plan-ray`` against HiGHS
    solving the same linear programme, and the certified ``harmony`` plan
    against Cockshott's heuristic. Answers are checked by recomputing φ (the
    smallest target fulfilment) and the infeasibility of the plan x.
``plans-multiyear``
    Five-year plans (:func:`lab.generate.generate_multiyear_problem`: capital goods,
    depreciation, growing targets): lab's ``plan-ray`` and ``harmony`` on the
    :class:`lab.MultiYearProblem` against HiGHS on the same year-indexed plan-ray LP,
    checked on that LP like the other plans.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from lab.planning import plan
from lab.values import ValueSolver, labour_values

__all__ = [
    "COMPARISONS",
    "GMRES_RESTART",
    "PlanCase",
    "SCIPY_RTOL_LADDER",
    "SEED",
    "ValuesCase",
    "WORKLOADS",
    "Workload",
    "KERNELS",
    "KernelCase",
    "MultiYearCase",
    "kernel_call",
    "kernel_case",
    "make_case",
    "make_economy",
    "scipy_matvec_call",
    "unstructured_economy",
    "workload",
    "workloads",
]

SEED = 20240601
MEAN_INPUTS = 12.0
SPECTRAL_RADIUS = 0.9
RTOL = 1e-10
#: scipy rtol values tried, loosest first (scipy stops on a 2-norm, lab on the ∞-norm).
SCIPY_RTOL_LADDER = (1e-8, 3e-9, 1e-9, 3e-10, 1e-10, 3e-11, 1e-11, 3e-12, 1e-12,
                     3e-13, 1e-13, 3e-14, 1e-14)
GMRES_RESTART = 30
LAB_METHODS = ("jacobi", "gauss-seidel", "krylov", "blocks")
#: Planning problems: share of products with a second technique, of techniques with a
#: capacity (about half of them bind: too many for the exact routes to price, so the
#: general certified methods run, not the closed form).
PLAN_ALTERNATIVES = 0.2
PLAN_CAPACITIES = 0.1
PLAN_GAP = 1e-6


def make_economy(n: int, *, seed: int = SEED, index_dtype=None):
    """The benchmark economy of ``n`` products (seeded: identical on every run)."""
    from lab.generate import generate_economy

    return generate_economy(n, seed=seed, mean_inputs=MEAN_INPUTS,
                            spectral_radius=SPECTRAL_RADIUS, index_dtype=index_dtype)


def unstructured_economy(n: int, *, seed: int = SEED, inputs: int = 12,
                         column_sum: float = 0.9):
    """An economy without supply-chain structure, built with NumPy and scipy only.

    Every product has ``inputs`` inputs drawn uniformly at random (duplicates merged),
    with uniform random weights scaled so that every column of A sums to ``column_sum``
    (so ρ(A) = column_sum); labour uniform in [0.1, 1.1]. With 12 inputs per product
    nearly every product lies in one strongly connected block.
    """
    from lab.economy import Economy

    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n, size=n * inputs)
    cols = np.repeat(np.arange(n), inputs)
    A = sp.csc_array((rng.random(n * inputs), (rows, cols)), shape=(n, n))
    A.sum_duplicates()
    A.sort_indices()
    sums = np.add.reduceat(A.data, A.indptr[:-1])
    A.data *= np.repeat(column_sum / sums, np.diff(A.indptr))
    return Economy(A, rng.uniform(0.1, 1.1, n))


# --------------------------------------------------------------------------- cases

@dataclass
class ValuesCase:
    """One economy with the scipy matrices the peers need (built once, untimed)."""

    economy: object
    config: object = field(repr=False, default=None)
    calibration: dict = field(default_factory=dict, repr=False)
    _M: object = field(default=None, repr=False)
    problem: object = field(default=None, repr=False)  # suite "techniques"

    @property
    def n(self) -> int:
        return self.economy.n_products

    @property
    def nnz(self) -> int:
        return self.economy.nnz

    @property
    def AT(self) -> sp.csr_array:
        """Aᵀ as CSR: the arrays of the CSC matrix A, no copy."""
        A = self.economy.A
        return sp.csr_array((A.data, A.indices, A.indptr), shape=(self.n, self.n))

    @property
    def M(self) -> sp.csr_array:
        """I − Aᵀ as CSR with sorted indices (built on first use: a second copy of A)."""
        if self._M is None:
            M = (sp.eye_array(self.n, format="csr") - self.AT).tocsr()
            M.sort_indices()
            self._M = M
        return self._M

    @property
    def l(self) -> np.ndarray:  # noqa: E743 - MATH.md's name for direct labour
        return np.ascontiguousarray(self.economy.labour, dtype=np.float64)

    def residuals(self, V, B=None) -> np.ndarray:
        """lab's relative residual ‖b + Aᵀv − v‖∞ / ‖v‖∞ per row of V (b: rows of B)."""
        V = np.atleast_2d(np.asarray(V, dtype=np.float64))
        B = np.atleast_2d(self.l if B is None else B)
        out = np.empty(V.shape[0])
        AT = self.AT
        for q in range(V.shape[0]):
            v = V[q]
            vmax = float(np.max(np.abs(v))) if v.size else 0.0
            with np.errstate(invalid="ignore", over="ignore"):
                r = float(np.max(np.abs(B[q] + AT @ v - v))) if v.size else 0.0
            if not (np.isfinite(r) and np.isfinite(vmax)):
                out[q] = np.inf
            else:
                out[q] = r / vmax if vmax > 0 else (0.0 if r == 0 else np.inf)
        return out

    def residual(self, v) -> float:
        return float(self.residuals(v).max())

    def bytes_per_pass(self) -> int:
        """Bytes of one pass of (I − Aᵀ)x as lab's kernels read it: indptr, indices and
        float64 coefficients once (int32 indices where they fit: the solver narrows an
        int64 economy's), x read and y written once (each array counted once: the
        compulsory traffic)."""
        A = self.economy.A
        fits = max(A.nnz, self.n) < np.iinfo(np.int32).max
        index = 4 if fits else A.indices.itemsize
        return int((self.n + 1 + A.nnz) * index + A.data.nbytes + 16 * self.n)


@dataclass
class PlanCase:
    """A generated planning problem (technique choice, capacities) and its LP data."""

    problem: object
    config: object = field(repr=False, default=None)

    @property
    def n(self) -> int:
        return self.problem.n_products

    @property
    def nnz(self) -> int:
        return int(self.problem.A.nnz)

    def phi(self, x) -> tuple[float, float]:
        """(φ, infeasibility) of a plan x, recomputed: φ = min n_i / t_i over targets.

        Infeasibility is the largest violation of n ≥ 0, R x ≤ ρ, 0 ≤ x ≤ c,
        each divided by max(1, the size of its bound): absolute for small
        quantities, relative for large ones (as LP solvers' tolerances are).
        """
        p = self.problem
        x = np.asarray(x, dtype=np.float64)
        n_out = p.net_output(x)
        t = p.targets
        has = t > 0
        phi = float(np.min(n_out[has] / t[has]))
        scale = max(1.0, float(np.max(np.abs(n_out))))
        viol = [max(0.0, -float(n_out.min())) / scale, max(0.0, -float(x.min())) / max(
            1.0, float(np.abs(x).max()))]
        use = p.R @ x
        lim = np.isfinite(p.available)
        if lim.any():
            viol.append(float(np.max((use[lim] - p.available[lim])
                                     / np.maximum(p.available[lim], 1.0), initial=0.0)))
        cap = np.isfinite(p.capacities)
        if cap.any():
            viol.append(float(np.max((x[cap] - p.capacities[cap])
                                     / np.maximum(p.capacities[cap], 1.0), initial=0.0)))
        return phi, max(0.0, *viol)


@dataclass
class MultiYearCase(PlanCase):
    """A generated five-year plan: ``problem`` is its year-indexed plan-ray LP (what HiGHS
    solves and the checks recompute), ``multiyear`` the MultiYearProblem lab solves."""

    multiyear: object = None


#: Years of the multi-year plans (suite ``plans-multiyear``).
MULTIYEAR_YEARS = 5


def make_case(suite: str, n: int, config=None):
    """The case of ``suite`` with ``n`` products (seeded)."""
    seed = getattr(config, "seed", SEED)
    if suite in ("values", "pymrio"):
        return ValuesCase(make_economy(n, seed=seed), config)
    if suite == "values-unstructured":
        return ValuesCase(unstructured_economy(n, seed=seed), config)
    if suite == "techniques":
        from lab.generate import generate_planning_problem

        economy = make_economy(n, seed=seed)
        problem = generate_planning_problem(n, seed=seed, economy=economy,
                                            alternatives=1.0)
        return ValuesCase(economy, config, problem=problem)
    if suite == "plans-multiyear":
        from lab.generate import generate_multiyear_problem

        multiyear = generate_multiyear_problem(n, years=MULTIYEAR_YEARS, seed=seed,
                                               mean_inputs=MEAN_INPUTS,
                                               spectral_radius=SPECTRAL_RADIUS)
        return MultiYearCase(multiyear.as_planning_problem(), config, multiyear=multiyear)
    if suite in ("plans", "plans-square"):
        from lab.generate import generate_planning_problem

        general = suite == "plans"
        problem = generate_planning_problem(
            n, seed=seed, alternatives=PLAN_ALTERNATIVES if general else 0.0,
            capacities=PLAN_CAPACITIES if general else 0.0,
            mean_inputs=MEAN_INPUTS, spectral_radius=SPECTRAL_RADIUS)
        return PlanCase(problem, config)
    raise ValueError(f"unknown suite {suite!r}")


# --------------------------------------------------------------------------- registry

def _always(case, config) -> bool:
    return True


@dataclass(frozen=True)
class Workload:
    """One timed workload of a suite.

    Attributes
    ----------
    suite : str
        ``"values"``, ``"pymrio"`` or ``"plans"``: which cases it runs on.
    name : str
        Readable id, unique within the suite.
    side : {"lab", "peer"}
    build : callable
        ``build(case, config) -> fn``: untimed set-up; ``fn()`` is the timed body and
        returns the answer.
    check : callable
        ``check(case, answer) -> dict`` with at least ``"residual"`` (the quality
        figure of the suite: lab's relative residual for values, the plan's
        infeasibility for plans) and any extra figures.
    applies : callable
        ``applies(case, config) -> bool``: whether to run it on this case (memory or
        time limits of direct solvers and of slow peers).
    description : str
    """

    suite: str
    name: str
    side: str
    build: Callable
    check: Callable
    applies: Callable = _always
    description: str = ""


def _values_check(case, answer) -> dict:
    """lab's rule recomputed; for lab's answers (a ValuesResult) also the method used, the
    matrix passes and the bytes of one pass (for the bandwidth floor)."""
    out = {"residual": case.residual(getattr(answer, "values", answer))}
    if hasattr(answer, "matvecs"):
        # matvecs counts float32 passes as 2/3 of a float64 one: bytes of a float64 pass
        out.update(method=answer.method, matvecs=float(answer.matvecs),
                   threads_used=int(answer.n_threads), bytes_per_pass=case.bytes_per_pass())
    return out


def _multi_check(case, V) -> dict:
    R = np.atleast_2d(case.economy.R)
    return {"residual": float(case.residuals(V, R).max()), "rows": int(R.shape[0])}


def _rtol_of(case) -> float:
    return getattr(case.config, "rtol", RTOL)


# -- lab, values

def _threads_of(config) -> int | None:
    return getattr(config, "n_threads", None)


def _lab_cold(method: str, precision: str = "float64"):
    def build(case, config):

        economy = case.economy
        n_threads = _threads_of(config)

        def run():
            economy._cache.clear()  # every call pays the structure analysis
            return labour_values(economy, method=method, rtol=_rtol_of(case),
                                 n_threads=n_threads, precision=precision)

        return run

    return build


def _lab_warm(method: str, precision: str = "float64"):
    def build(case, config):

        solver = ValueSolver(case.economy, method=method, rtol=_rtol_of(case),
                             n_threads=_threads_of(config), precision=precision)

        def run():
            return solver.solve()

        return run

    return build


#: Coefficients changed per call of the real-time workload.
UPDATE_CHANGES = 1000


def _lab_update(case, config):
    """ValueSolver set up and solved once; each timed call changes UPDATE_CHANGES random
    existing coefficients (by a factor in [0.9, 1.1], which keeps ρ(A) ≤ 0.99 since the
    generator's price-weighted column sums are 0.9) and re-solves. The first call keeps
    the changed economy, for the check against a cold solve."""
    economy = case.economy
    solver = ValueSolver(economy, rtol=_rtol_of(case), n_threads=_threads_of(config))
    solver.solve()
    rng = np.random.default_rng(getattr(config, "seed", SEED))
    A = economy.A
    cols = np.repeat(np.arange(case.n), np.diff(A.indptr))
    k = min(UPDATE_CHANGES, A.nnz)
    state = {"call": 0}
    batches = []
    for _ in range(16):
        # Change sets drawn untimed, with their codes and stored entries (a planner's
        # changes arrive as codes; finding them in the test's copy of A is not lab's
        # work: it took 3 of the ~55 ms a call). The calls cycle through them.
        pick = rng.choice(A.nnz, size=k, replace=False)
        rows, cols_ = A.indices[pick], cols[pick]
        keys = [(f"P{i}", f"P{j}") for i, j in zip(rows, cols_, strict=True)]
        batches.append((keys, _entries(A.indptr, A.indices, rows, cols_),
                        rng.uniform(0.9, 1.1, k)))
    current = A.data.copy()

    def run():
        keys, entry, factor = batches[state["call"] % len(batches)]
        current[entry] *= factor  # stay near the original coefficients
        current[entry] = np.clip(current[entry], 0.0, A.data[entry] * 1.1)
        changes = dict(zip(keys, current[entry].tolist(), strict=True))
        solver.update(changes)
        result = solver.solve()
        if state["call"] == 0:
            state["first"] = (result, solver.economy)
        state["call"] += 1
        return state

    return run


def _entries(indptr, indices, rows, cols):
    """Stored entries of A (CSC, sorted) at (rows, cols)."""
    out = np.empty(rows.size, dtype=np.int64)
    for t in range(rows.size):
        lo, hi = indptr[cols[t]], indptr[cols[t] + 1]
        out[t] = lo + np.searchsorted(indices[lo:hi], rows[t])
    return out


def _update_check(case, state) -> dict:
    """The first update's answer against a cold solve of the changed economy."""
    result, changed = state["first"]
    cold = labour_values(changed, rtol=_rtol_of(case))
    scale = float(np.max(np.abs(cold.values)))
    AT = sp.csr_array((changed.A.data, changed.A.indices, changed.A.indptr),
                      shape=(case.n, case.n))
    res = float(np.max(np.abs(changed.labour + AT @ result.values - result.values)))
    return {"residual": res / float(np.max(np.abs(result.values))),
            "cold_residual": cold.residual, "changes": UPDATE_CHANGES,
            "difference_from_cold": float(np.max(np.abs(result.values - cold.values))) / scale,
            "matvecs": float(result.matvecs), "method": result.method}


def _lab_techniques(case, config):
    problem = case.problem

    def run():
        return labour_values(problem, rtol=_rtol_of(case), n_threads=_threads_of(config))

    return run


def _techniques_check(case, result) -> dict:
    """Bellman residual of the answer (recomputed), its policy rounds."""
    p = case.problem
    costs = (p.R[0] + p.A.T @ result.values) / np.asarray(p.B.sum(axis=0)).ravel()
    made = np.asarray(p.B.argmax(axis=0)).ravel()
    low = np.full(case.n, np.inf)
    np.minimum.at(low, made, costs)
    bellman = float(np.max(np.abs(result.values - low)) / np.max(np.abs(result.values)))
    return {"residual": bellman, "rounds": int(result.iterations),
            "techniques": int(p.n_techniques), "method": result.method}


def _lab_all_cold(case, config):

    economy = case.economy

    def run():
        economy._cache.clear()
        return labour_values(economy, resources="all", rtol=_rtol_of(case)).values

    return run


# -- peers, values

def _scipy_solve(solver: str, case, rtol: float):
    import scipy.sparse.linalg as spla

    M, l, n = case.M, case.l, case.n
    if solver == "bicgstab":
        return lambda: spla.bicgstab(M, l, rtol=rtol, atol=0.0, maxiter=max(1000, n))[0]
    # gmres: maxiter counts restart cycles
    return lambda: spla.gmres(M, l, rtol=rtol, atol=0.0, restart=GMRES_RESTART,
                              maxiter=max(1000, n))[0]


def calibrate(case, solver: str) -> dict:
    """Loosest scipy rtol of the ladder whose answer meets lab's rule (untimed, cached)."""
    if solver in case.calibration:
        return case.calibration[solver]
    info = None
    for rtol in SCIPY_RTOL_LADDER:
        if case.residual(_scipy_solve(solver, case, rtol)()) <= _rtol_of(case):
            info = {"peer_rtol": rtol, "rule_met": True}
            break
    if info is None:
        info = {"peer_rtol": SCIPY_RTOL_LADDER[-1], "rule_met": False}
    case.calibration[solver] = info
    return info


def _scipy_iterative(solver: str):
    def build(case, config):
        return _scipy_solve(solver, case, calibrate(case, solver)["peer_rtol"])

    return build


def _scipy_iterative_check(solver: str):
    def check(case, v):
        return {"residual": case.residual(v), **calibrate(case, solver)}

    return check


def _scipy_spsolve(case, config):
    import scipy.sparse.linalg as spla

    Mc = case.M.tocsc()  # SuperLU wants CSC; converted once, untimed
    l = case.l
    return lambda: spla.spsolve(Mc, l)


def scipy_jacobi(case, rtol: float | None = None, maxiter: int = 100_000,
                 history: list | None = None):
    """The textbook loop vᵗ⁺¹ = l + Aᵀvᵗ on scipy's ``A @ x``, stopping on lab's rule.

    vᵗ⁺¹ − vᵗ is the residual of vᵗ, so the stop test costs no extra product.
    """
    AT, l = case.AT, case.l
    rtol = _rtol_of(case) if rtol is None else rtol

    def run():
        v = l.copy()
        for _ in range(maxiter):
            v_new = AT @ v
            v_new += l
            diff = float(np.max(np.abs(v_new - v)))
            vmax = float(np.max(np.abs(v)))
            if history is not None:
                history.append(diff / vmax if vmax > 0 else 0.0)
            if diff <= rtol * vmax:
                return v  # its residual is proven
            v = v_new
        return v

    return run


def _peer_cap(attr: str):
    """applies(): case size at most ``config.<attr>`` (None: no cap)."""
    def applies(case, config):
        cap = getattr(config, attr, None)
        return cap is None or case.n <= cap

    return applies


# -- pymrio

def _pymrio_fits(case, config) -> bool:
    cap = getattr(config, "pymrio_max", None)
    if cap is not None and case.n > cap:
        return False
    try:
        import psutil

        free = psutil.virtual_memory().available
    except ImportError:  # pragma: no cover
        free = 8 << 30
    return 4 * 8 * case.n**2 <= 0.5 * free  # I − A, inverse, LAPACK copies


def _pymrio_leontief(case, config):
    from pymrio.tools import iomath

    A = case.economy.A.toarray()          # dense, as pymrio holds it (untimed)
    S = np.asarray(case.economy.R, dtype=np.float64)

    def run():
        L = iomath.calc_L(A)
        return iomath.calc_M(S, L)        # M = S·L: one row per resource

    return run


# -- plans

def _lab_plan(method: str):
    def build(case, config):

        limit = getattr(config, "plan_time_limit", None)

        def run():
            with warnings.catch_warnings():  # the status is in the report
                warnings.simplefilter("ignore")
                return plan(case.problem, method=method, gap=PLAN_GAP, time_limit=limit)

        return run

    return build


def _lab_multiyear(method: str):
    def build(case, config):
        limit = getattr(config, "plan_time_limit", None)

        def run():
            with warnings.catch_warnings():  # the status is in the report
                warnings.simplefilter("ignore")
                return plan(case.multiyear, method=method, gap=PLAN_GAP, time_limit=limit)

        return run

    return build


def _plan_check(case, answer) -> dict:
    """φ and infeasibility recomputed from x; lab's status and certified gap if given."""
    x = getattr(answer, "x", answer)
    phi, infeasible = case.phi(x)
    out = {"residual": infeasible, "phi": phi, "harmony": float(case.problem.harmony(x))}
    if hasattr(answer, "status"):
        out["status"] = answer.status.name
        out["relative_gap"] = float(answer.relative_gap)
        out["iterations"] = int(answer.iterations)
    return out


def _quiet_highs(highspy):
    """A ``Highs`` object, constructed with the C-level stdout silenced (it prints a banner)."""
    import os
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    h.setOptionValue("output_flag", False)
    return h


def _highs_plan_ray(case, config):
    """HiGHS on the plan-ray LP: max φ s.t. s⁰ + (B − A)x − φt ≥ 0, Rx ≤ ρ, 0 ≤ x ≤ c."""
    import highspy

    p = case.problem
    N = p.net_matrix().tocsc()            # m × k
    m, k = N.shape
    t = p.targets
    col_t = sp.csc_array(-t.reshape(m, 1))
    lim = np.flatnonzero(np.isfinite(p.available))
    R = sp.csc_array(np.atleast_2d(p.R)[lim]) if lim.size else sp.csc_array((0, k))
    top = sp.hstack([N, col_t], format="csc")
    bottom = sp.hstack([R, sp.csc_array((lim.size, 1))], format="csc")
    G = sp.vstack([top, bottom], format="csc")
    G.sort_indices()
    row_lo = np.concatenate([-p.initial_stocks, np.full(lim.size, -np.inf)])
    row_hi = np.concatenate([np.full(m, np.inf), p.available[lim]])
    col_lo = np.zeros(k + 1)
    col_hi = np.concatenate([p.capacities, [np.inf]])
    cost = np.zeros(k + 1)
    cost[-1] = 1.0

    h = _quiet_highs(highspy)  # constructed once, untimed
    h.setOptionValue("output_flag", False)
    limit = getattr(config, "plan_time_limit", None)
    if limit is not None:
        h.setOptionValue("time_limit", float(limit))

    def run():
        h.clearModel()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = k + 1, m + lim.size
        lp.col_cost_ = cost
        lp.col_lower_ = col_lo
        lp.col_upper_ = np.where(np.isfinite(col_hi), col_hi, highspy.kHighsInf)
        lp.row_lower_ = np.where(np.isfinite(row_lo), row_lo, -highspy.kHighsInf)
        lp.row_upper_ = np.where(np.isfinite(row_hi), row_hi, highspy.kHighsInf)
        lp.sense_ = highspy.ObjSense.kMaximize
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = G.indptr
        lp.a_matrix_.index_ = G.indices
        lp.a_matrix_.value_ = G.data
        h.passModel(lp)
        h.run()
        return np.asarray(h.getSolution().col_value[:k])

    return run


# -- the registry

WORKLOADS: list[Workload] = [
    # values: lab
    Workload("values", "auto-cold", "lab", _lab_cold("auto"), _values_check,
             description="a fresh labour_values call: structure analysis and solve"),
    Workload("values", "auto-warm", "lab", _lab_warm("auto"), _values_check,
             description="ValueSolver set up once, .solve() timed"),
    *(Workload("values", method, "lab", _lab_warm(method), _values_check,
               _peer_cap("peer_max"), description=f"ValueSolver(method={method!r}).solve()")
      for method in LAB_METHODS),
    # values: peers
    Workload("values", "scipy-spsolve", "peer", _scipy_spsolve, _values_check,
             _peer_cap("spsolve_max"), "scipy.sparse.linalg.spsolve (SuperLU) on I − Aᵀ"),
    Workload("values", "scipy-bicgstab", "peer", _scipy_iterative("bicgstab"),
             _scipy_iterative_check("bicgstab"), _peer_cap("peer_max"),
             "scipy.sparse.linalg.bicgstab on I − Aᵀ, rtol calibrated to lab's rule"),
    Workload("values", f"scipy-gmres({GMRES_RESTART})", "peer", _scipy_iterative("gmres"),
             _scipy_iterative_check("gmres"), _peer_cap("peer_max"),
             "scipy.sparse.linalg.gmres(restart=30) on I − Aᵀ, rtol calibrated"),
    Workload("values", "scipy-jacobi", "peer", lambda case, config: scipy_jacobi(case),
             _values_check, _peer_cap("peer_max"),
             "the textbook loop v = l + Aᵀv on scipy's A @ x, lab's stopping rule"),
    Workload("values", "update-1000", "lab", _lab_update, _update_check,
             lambda case, config: case.n >= 10 * UPDATE_CHANGES,
             description=f"ValueSolver.update of {UPDATE_CHANGES} coefficients, then .solve()"),
    # no supply-chain structure: one strongly connected block
    Workload("values-unstructured", "auto-cold", "lab", _lab_cold("auto"), _values_check,
             description="a fresh labour_values call: structure analysis and solve"),
    Workload("values-unstructured", "auto-warm", "lab", _lab_warm("auto"), _values_check,
             description="ValueSolver set up once, .solve() timed"),
    Workload("values-unstructured", "krylov-float32", "lab",
             _lab_warm("krylov", "float32"), _values_check,
             description="ValueSolver(method='krylov', precision='float32').solve()"),
    Workload("values-unstructured", "scipy-bicgstab", "peer", _scipy_iterative("bicgstab"),
             _scipy_iterative_check("bicgstab"), _peer_cap("peer_max"),
             "scipy.sparse.linalg.bicgstab on I − Aᵀ, rtol calibrated to lab's rule"),
    Workload("values-unstructured", f"scipy-gmres({GMRES_RESTART})", "peer",
             _scipy_iterative("gmres"), _scipy_iterative_check("gmres"),
             _peer_cap("peer_max"), "scipy.sparse.linalg.gmres(restart=30) on I − Aᵀ"),
    # technique choice against one square value solve
    Workload("techniques", "technique-choice", "lab", _lab_techniques, _techniques_check,
             description="labour_values(problem): cheapest of 2 techniques per product"),
    Workload("techniques", "square-cold", "lab", _lab_cold("auto"), _values_check,
             description="labour_values(economy) of the same economy, one technique each"),
    # every resource row: lab against pymrio
    Workload("pymrio", "all-resources-cold", "lab", _lab_all_cold, _multi_check,
             _pymrio_fits, "labour_values(resources='all'), a fresh call"),
    Workload("pymrio", "pymrio-calc_M(calc_L)", "peer", _pymrio_leontief, _multi_check,
             _pymrio_fits, "pymrio.tools.iomath.calc_M(S, calc_L(A)) on dense A"),
    # plans: "plans" with technique choice and capacities (the general certified
    # method), "plans-square" one technique per product (lab's exact decoupled solve)
    *(entry for suite in ("plans", "plans-square") for entry in (
        Workload(suite, "plan-ray", "lab", _lab_plan("plan-ray"), _plan_check,
                 description="lab.plan(method='plan-ray'), certified gap 1e-6"),
        Workload(suite, "harmony", "lab", _lab_plan("harmony"), _plan_check,
                 description="lab.plan(method='harmony'), certified gap 1e-6"),
        Workload(suite, "cockshott", "lab", _lab_plan("cockshott"), _plan_check,
                 description="Cockshott's balancing heuristic (no optimality claim)"),
        Workload(suite, "highs-plan-ray", "peer", _highs_plan_ray, _plan_check,
                 _peer_cap("highs_max"), "HiGHS (highspy) on the plan-ray LP"),
    )),
    # five-year plans: lab's MultiYearProblem against HiGHS on its year-indexed LP
    Workload("plans-multiyear", "plan-ray", "lab", _lab_multiyear("plan-ray"), _plan_check,
             description="lab.plan(MultiYearProblem, method='plan-ray'), certified gap 1e-6"),
    Workload("plans-multiyear", "harmony", "lab", _lab_multiyear("harmony"), _plan_check,
             description="lab.plan(MultiYearProblem, method='harmony'), certified gap 1e-6"),
    Workload("plans-multiyear", "highs-plan-ray", "peer", _highs_plan_ray, _plan_check,
             _peer_cap("highs_max"), "HiGHS (highspy) on the same year-indexed plan-ray LP"),
]

#: (suite, lab workload, peer workload): the rows of the comparison table.
COMPARISONS: list[tuple[str, str, str]] = [
    ("values", "auto-cold", "scipy-bicgstab"),
    ("values", "auto-warm", "scipy-bicgstab"),
    ("values", "auto-warm", f"scipy-gmres({GMRES_RESTART})"),
    ("values", "auto-cold", "scipy-spsolve"),
    ("values", "jacobi", "scipy-jacobi"),
    ("values", "gauss-seidel", "scipy-jacobi"),
    ("values", "krylov", "scipy-bicgstab"),
    ("values", "blocks", "scipy-bicgstab"),
    ("values-unstructured", "auto-cold", "scipy-bicgstab"),
    ("values-unstructured", "auto-warm", "scipy-bicgstab"),
    ("values-unstructured", "krylov-float32", "scipy-bicgstab"),
    ("values-unstructured", "auto-warm", f"scipy-gmres({GMRES_RESTART})"),
    ("techniques", "technique-choice", "square-cold"),
    ("pymrio", "all-resources-cold", "pymrio-calc_M(calc_L)"),
    ("plans", "plan-ray", "highs-plan-ray"),
    ("plans", "harmony", "cockshott"),
    ("plans-square", "plan-ray", "highs-plan-ray"),
    ("plans-square", "harmony", "cockshott"),
    ("plans-multiyear", "plan-ray", "highs-plan-ray"),
]


def workloads(suite: str) -> list[Workload]:
    """The registered workloads of one suite, lab's first."""
    return [w for w in WORKLOADS if w.suite == suite]


def workload(suite: str, name: str) -> Workload:
    """The registered workload ``name`` of ``suite``."""
    for w in WORKLOADS:
        if w.suite == suite and w.name == name:
            return w
    raise KeyError(f"no workload {name!r} in suite {suite!r}")


# --------------------------------------------------------------------------- kernels

#: The kernels of the SpMV benchmarks, each on Aᵀ in CSR.
KERNELS = ("csr_matvec", "jacobi_step", "gauss_seidel")


@dataclass
class KernelCase:
    """Raw CSR arrays of Aᵀ at one index width, with the vectors the kernels need."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    b: np.ndarray
    x: np.ndarray
    out: np.ndarray

    @property
    def n(self) -> int:
        return self.indptr.shape[0] - 1

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def bytes_moved(self, kernel: str) -> int:
        """Upper-bound bytes of one call: data, indices, indptr, x gathered once per
        non-zero, plus the per-row streams of the kernel (out; b, v, v_new; b, v read
        and written). :func:`lab.bench.kernel_bytes` is the compulsory count."""
        n, nnz = self.n, self.nnz
        base = nnz * (self.data.itemsize + self.indices.itemsize + 8) \
            + (n + 1) * self.indptr.itemsize
        if kernel in ("csr_matvec", "scipy"):
            return base + 8 * n
        if kernel in ("jacobi_step", "gauss_seidel"):
            return base + 3 * 8 * n
        raise ValueError(kernel)


def kernel_case(economy, index_dtype, *, data_dtype=np.float64, seed: int = SEED) -> KernelCase:
    """The kernel arrays of Aᵀ (``index_dtype`` indices, ``data_dtype`` coefficients)."""
    from lab import _ops

    indptr, indices, data = _ops.csr_arrays(economy.A, index_dtype=index_dtype)
    n = economy.n_products
    rng = np.random.default_rng(seed)
    return KernelCase(indptr, indices, np.ascontiguousarray(data, dtype=data_dtype),
                      np.ascontiguousarray(economy.labour, dtype=np.float64),
                      rng.random(n), np.empty(n))


def kernel_call(case: KernelCase, backend: str, kernel: str, n_threads: int):
    """Zero-argument callable running one kernel call on ``n_threads`` threads."""
    from lab import _ops

    K = _ops.kernels(backend)
    ip, ix, d, b, x, out = case.indptr, case.indices, case.data, case.b, case.x, case.out
    if kernel == "csr_matvec":
        def body():
            K.csr_matvec(ip, ix, d, x, out)
    elif kernel == "jacobi_step":
        def body():
            K.jacobi_step(ip, ix, d, b, x, out)
    elif kernel == "gauss_seidel":
        v = case.x.copy()

        def body():  # one chunk per thread: exact Gauss-Seidel inside a chunk
            K.gauss_seidel(ip, ix, d, b, v, 0, case.n, n_threads)
    else:
        raise ValueError(kernel)

    def run():
        with _ops.thread_limit(n_threads, backend):
            body()

    return run


def scipy_matvec_call(case: KernelCase):
    """scipy's ``Aᵀ @ x`` on the same arrays (the peer of ``csr_matvec``)."""
    M = sp.csr_array((case.data, case.indices, case.indptr), shape=(case.n, case.n))
    x = case.x
    return lambda: M @ x


# --------------------------------------------------------------------------- convergence

def convergence_histories(case, config) -> dict:
    """Residual against matrix passes for every method on one economy (untimed).

    Returns ``{method: {"passes": [...], "residual": [...]}}``: lab's methods from
    their ``residual_history`` (passes from the work per iteration), scipy's
    bicgstab (per iteration) and gmres (per restart cycle) with lab's residual
    recomputed at each callback, and the scipy Jacobi loop.
    """
    import scipy.sparse.linalg as spla

    out = {}
    rtol = _rtol_of(case)
    per_iter = {"jacobi": 1.0, "gauss-seidel": 1.0, "krylov": 2.0}
    for method in LAB_METHODS:
        try:
            res = ValueSolver(case.economy, method=method, rtol=rtol).solve()
        except Exception:  # noqa: S112 - a failing method just has no curve
            continue
        hist = [float(h) for h in res.residual_history]
        step = per_iter.get(method, res.matvecs / max(1, len(hist)))
        out[f"lab {method}"] = {"passes": [step * (i + 1) for i in range(len(hist))],
                                "residual": hist}
    for solver, step in (("bicgstab", 2.0), ("gmres", float(GMRES_RESTART))):
        hist = []
        peer_rtol = calibrate(case, solver)["peer_rtol"]

        def cb(xk, hist=hist):
            hist.append(case.residual(xk))

        if solver == "bicgstab":
            spla.bicgstab(case.M, case.l, rtol=peer_rtol, atol=0.0, maxiter=max(1000, case.n),
                          callback=cb)
        else:
            spla.gmres(case.M, case.l, rtol=peer_rtol, atol=0.0, restart=GMRES_RESTART,
                       maxiter=max(1000, case.n), callback=cb, callback_type="x")
        name = f"scipy {solver}" + (f"({GMRES_RESTART})" if solver == "gmres" else "")
        out[name] = {"passes": [step * (i + 1) for i in range(len(hist))], "residual": hist}
    hist = []
    scipy_jacobi(case, rtol, history=hist)()
    out["scipy jacobi"] = {"passes": [float(i + 1) for i in range(len(hist))],
                           "residual": hist}
    return out
