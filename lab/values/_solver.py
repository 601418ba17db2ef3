"""Labour values: the total labour embodied in one unit of each product.

Solves v = l + Aᵀv (MATH.md §2) for the labour row l = R[0], or for several
resource rows at once (vertically integrated coefficients V = R (I − A)⁻¹).

Stopping rule
-------------
Every method stops when the relative residual

    ‖l + Aᵀv − v‖∞ ≤ rtol · ‖v‖∞

holds (for several right-hand sides: for every one of them). The residual in
the result is always recomputed from A after the solve, whatever the method,
so it is the proof of the answer rather than the method's own estimate.

Methods
-------
``"jacobi"``
    The *Towards a New Socialism* iteration vᵗ⁺¹ = l + Aᵀvᵗ, kept as the
    baseline. Error shrinks by about ρ(A) per sweep.
``"gauss-seidel"``
    Sweeps that use updated values at once.
``"krylov"``
    BiCGSTAB on (I − Aᵀ)v = l, built on lab's own parallel kernels.
``"blocks"``
    Strongly connected components in dependency order: products outside
    cycles are solved exactly by substitution, small cyclic blocks exactly by
    dense LU, large cyclic blocks by BiCGSTAB.
``"auto"``
    Jacobi when a norm bound proves it needs only a few sweeps, otherwise
    blocks. The reason is recorded in the result.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType

import numpy as np

from lab import _ops
from lab.exceptions import ConvergenceWarning, InvalidEconomyError, NotConvergedError
from lab.values import _structure

__all__ = ["Status", "ValuesOptions", "ValuesResult", "ValueSolver", "labour_values", "METHODS"]

METHODS = ("auto", "jacobi", "gauss-seidel", "krylov", "blocks")

#: Cyclic blocks up to this size are solved exactly by dense LU inside the block
#: kernel; larger ones by BiCGSTAB.
DENSE_BLOCK = 96
#: "auto" uses plain Jacobi when a norm bound proves it converges in this many sweeps.
JACOBI_MAX_SWEEPS = 12


class Status(IntEnum):
    """Outcome of a solve. ``CONVERGED`` is the only successful one."""

    CONVERGED = 0
    MAXITER = 1
    STAGNATED = 2
    BREAKDOWN = 3


@dataclass(frozen=True)
class ValuesOptions:
    """Options of a labour-value solve, shared by the Python API, the CLI and batch jobs.

    Parameters
    ----------
    method : {"auto", "jacobi", "gauss-seidel", "krylov", "blocks"}
    rtol : float
        Relative residual tolerance, see the module docstring.
    maxiter : int or None
        Most sweeps (Jacobi, Gauss–Seidel), iterations (Krylov) or inner
        iterations per block (blocks). ``None`` chooses a generous default
        from the method and the size.
    backend : {"auto", "cython", "numba"}
    n_threads : int or None
        Threads for the kernels; ``None`` keeps the backend's current setting.
    raise_on_failure : bool
        Raise :class:`~lab.exceptions.NotConvergedError` instead of warning.
    """

    method: str = "auto"
    rtol: float = 1e-10
    maxiter: int | None = None
    backend: str = "auto"
    n_threads: int | None = None
    raise_on_failure: bool = False

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if (isinstance(self.rtol, bool) or not isinstance(self.rtol, (int, float))
                or not math.isfinite(self.rtol) or not 0 < self.rtol < 1):
            raise ValueError(f"rtol must be a finite number in (0, 1), got {self.rtol!r}")
        for name in ("maxiter", "n_threads"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name} must be a positive int or None, got {value!r}")
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if self.backend not in ("auto", *_ops.BACKENDS):
            raise ValueError(
                f"backend must be one of {('auto', *_ops.BACKENDS)}, got {self.backend!r}")


@dataclass(frozen=True)
class ValuesResult:
    """Labour values (or vertically integrated resource coefficients) with their evidence.

    Attributes
    ----------
    values : ndarray
        Shape ``(m,)`` for one resource row, ``(r, m)`` for several.
    converged : bool
    status : Status
    message : str
    iterations : int
        Sweeps (Jacobi, Gauss–Seidel), BiCGSTAB iterations (Krylov), or
        passes over the whole block system (blocks: 1 plus refinements).
    residual : float
        Final relative residual ‖l + Aᵀv − v‖∞ / ‖v‖∞, recomputed from A
        (the largest over the right-hand sides).
    residual_history : ndarray
        Relative residual per iteration as the method saw it (for Gauss–Seidel,
        the largest update of a sweep relative to ‖v‖∞; for blocks, the true
        residual after each pass).
    rtol : float
    method : str
        The method actually used.
    method_reason : str
        Why ``"auto"`` chose it (or "requested").
    backend : str
    n_threads : int
    matvecs : float
        Work in units of one pass over the non-zeros of A.
    timings : mapping
        Read-only. Seconds: ``setup`` (structure analysis and reordering, paid by the
        first solve of a :class:`ValueSolver`), ``solve``, ``check`` (the final
        residual and the productivity proof) and ``total``.
    resource_names : tuple of str
        The resource rows solved for, in the order of ``values``.
    productivity : str
        The proven bound on ρ(A) and the argument that gave it: column sums,
        the Collatz–Wielandt bound from the computed values, or block-wise
        bounds (see :mod:`lab.values._structure`).
    """

    values: np.ndarray
    converged: bool
    status: Status
    message: str
    iterations: int
    residual: float
    residual_history: np.ndarray
    rtol: float
    method: str
    method_reason: str
    backend: str
    n_threads: int
    matvecs: float
    timings: MappingProxyType
    resource_names: tuple
    productivity: str
    _codes: Callable = field(repr=False, compare=False, default=None)

    @property
    def series(self):
        """The values as a :class:`pandas.Series` indexed by product code (one row only)."""
        import pandas as pd

        if self.values.ndim != 1:
            raise ValueError("values hold several resource rows; use .frame instead of .series")
        return pd.Series(self.values, index=pd.Index(self._codes(), name="code"),
                         name=self.resource_names[0])

    @property
    def frame(self):
        """The values as a :class:`pandas.DataFrame`: products × resource rows."""
        import pandas as pd

        data = self.values if self.values.ndim == 2 else self.values[None, :]
        return pd.DataFrame(data.T, index=pd.Index(self._codes(), name="code"),
                            columns=list(self.resource_names))


def labour_values(economy, *, method: str = "auto", rtol: float = 1e-10,
                  maxiter: int | None = None, backend: str = "auto",
                  n_threads: int | None = None, resources=None,
                  callback: Callable[[int, float], None] | None = None,
                  raise_on_failure: bool = False) -> ValuesResult:
    """Labour values v = l + Aᵀv of every product.

    Parameters
    ----------
    economy : Economy
    method : {"auto", "jacobi", "gauss-seidel", "krylov", "blocks"}, default "auto"
        See :mod:`lab.values`.
    rtol : float, default 1e-10
        Stop when ‖l + Aᵀv − v‖∞ ≤ rtol · ‖v‖∞.
    maxiter : int, optional
        Iteration limit, see :class:`ValuesOptions`.
    backend : {"auto", "cython", "numba"}, default "auto"
    n_threads : int, optional
        Kernel threads for this call; the previous setting is restored.
    resources : None, "all", int, str or sequence of those
        Which resource rows to integrate: ``None`` is labour (row 0), ``"all"``
        solves every row at once as one multi-right-hand-side solve.
    callback : callable, optional
        Called as ``callback(iteration, relative_residual)``.
    raise_on_failure : bool, default False
        Raise :class:`~lab.exceptions.NotConvergedError` instead of emitting a
        :class:`~lab.exceptions.ConvergenceWarning` when not converged.

    Returns
    -------
    ValuesResult

    Raises
    ------
    NotProductiveError
        If ρ(A) ≥ 1; the error names the smallest responsible group of products.

    Examples
    --------
    >>> import numpy as np, lab
    >>> A = np.array([[0.1, 0.2], [0.3, 0.0]])
    >>> economy = lab.Economy(A, [1.0, 2.0])
    >>> result = lab.labour_values(economy)
    >>> result.converged, np.round(result.values, 6)
    (True, array([1.904762, 2.380952]))
    """
    options = ValuesOptions(method=method, rtol=rtol, maxiter=maxiter, backend=backend,
                            n_threads=n_threads, raise_on_failure=raise_on_failure)
    return ValueSolver(economy, options).solve(resources=resources, callback=callback)


class ValueSolver:
    """Set up once, solve many: holds the structure analysis of one economy.

    Parameters
    ----------
    economy : Economy
    options : ValuesOptions, optional
    **kwargs
        Fields of :class:`ValuesOptions`, when ``options`` is not given.

    Examples
    --------
    >>> import lab
    >>> economy = lab.generate_economy(500, seed=1)
    >>> solver = lab.ValueSolver(economy, method="blocks")
    >>> solver.solve().converged and solver.solve(resources="all").converged
    True
    """

    def __init__(self, economy, options: ValuesOptions | None = None, **kwargs):
        if options is None:
            options = ValuesOptions(**kwargs)
        elif kwargs:
            raise TypeError("pass either options or keyword options, not both")
        self.economy = economy
        self.options = options
        self.backend = _ops.resolve_backend(options.backend)
        t0 = time.perf_counter()
        with _ops.thread_limit(options.n_threads, self.backend):
            self.column_bound = _structure.column_sum_bound(economy)
            self.method, self.reason = self._choose_method()
            if self.method == "blocks":
                self.structure = _structure.analyse(economy, self.backend)
                self.permuted = _structure.permuted(economy, self.structure, self.backend)
                self.identity = np.arange(economy.n_products, dtype=economy.A.indices.dtype)
        self._setup_seconds = time.perf_counter() - t0

    def _choose_method(self) -> tuple[str, str]:
        requested = self.options.method
        if requested != "auto":
            return requested, "requested"
        bound = self.column_bound
        if self.economy.nnz == 0:
            return "jacobi", "A has no non-zeros: one sweep is exact"
        if bound < 1.0:
            sweeps = math.log(self.options.rtol) / math.log(bound)
            if sweeps <= JACOBI_MAX_SWEEPS:
                return "jacobi", (f"every column sum of A is at most {bound:.3g}, so Jacobi "
                                  f"needs at most {math.ceil(sweeps)} sweeps")
        structure = _structure.analyse(self.economy, self.backend)
        return "blocks", (f"{structure.n_blocks} strongly connected blocks, largest "
                          f"{structure.largest_block} of {self.economy.n_products} products: "
                          "exact substitution outside cycles, iteration only on large "
                          "cyclic blocks")

    def _resource_rows(self, resources) -> tuple[list, tuple]:
        economy = self.economy
        names = tuple(economy.resource_names)
        if resources is None:
            rows = [0]
        elif isinstance(resources, str) and resources == "all":
            rows = list(range(economy.n_resources))
        else:
            items = [resources] if isinstance(resources, (str, int, np.integer)) else resources
            if not isinstance(items, Sequence) or isinstance(items, str) or len(items) == 0:
                raise ValueError("resources must be None, 'all', an int, a name or a "
                                 f"non-empty sequence of those, got {resources!r}")
            rows = []
            for item in items:
                if isinstance(item, str):
                    if item not in names:
                        raise ValueError(f"resources: unknown resource {item!r}; "
                                         f"the economy has {list(names)}")
                    rows.append(names.index(item))
                elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
                    if not -economy.n_resources <= item < economy.n_resources:
                        raise ValueError(f"resources: row {item} is out of range for "
                                         f"{economy.n_resources} resource rows")
                    rows.append(int(item) % economy.n_resources)
                else:
                    raise TypeError(f"resources: expected a name or an int, got {item!r}")
        return rows, tuple(names[q] for q in rows)

    def solve(self, rhs=None, *, resources=None, x0=None,
              callback: Callable[[int, float], None] | None = None) -> ValuesResult:
        """Solve v = b + Aᵀv for resource rows of the economy or a given right-hand side.

        Parameters
        ----------
        rhs : array_like, optional
            Right-hand side(s) b, shape ``(m,)`` or ``(k, m)``, finite. Default:
            the resource rows chosen by ``resources``.
        resources : see :func:`labour_values`
        x0 : array_like, optional
            Starting guess of the same shape as the result (warm start).
        callback : callable, optional
            ``callback(iteration, relative_residual)``.

        Raises
        ------
        NotProductiveError
            If the solve reveals that ρ(A) ≥ 1.
        """
        t_start = time.perf_counter()
        economy, options = self.economy, self.options
        m = economy.n_products
        if rhs is None:
            rows, names = self._resource_rows(resources)
            B = economy.R[rows]
        else:
            if resources is not None:
                raise ValueError("pass either rhs or resources, not both")
            B = _check_rhs("rhs", rhs, m)
            names = tuple(f"rhs{k}" for k in range(B.shape[0])) if B.ndim == 2 else ("rhs",)
            B = B if B.ndim == 2 else B[None, :]
        single = B.shape[0] == 1
        # Kernels want products × right-hand sides, contiguous per product.
        b = np.ascontiguousarray(B[0]) if single else np.ascontiguousarray(B.T)
        v0 = None
        if x0 is not None:
            x0 = _check_rhs("x0", x0, m)
            expected = (m,) if single else (B.shape[0], m)
            if x0.shape != expected:
                raise ValueError(f"x0 has shape {x0.shape} but the result has shape {expected}")
            v0 = np.array(x0 if single else x0.T, dtype=np.float64, order="C")

        maxiter = options.maxiter or _default_maxiter(self.method, m)
        with _ops.thread_limit(options.n_threads, self.backend):
            n_threads = _ops.kernels(self.backend).get_num_threads()
            run = _Run(self, b, v0, maxiter, callback)
            t_solve = time.perf_counter()
            if m == 0:
                run.v = np.zeros_like(b)
            elif v0 is None or run.true_residual()[0] > options.rtol:
                getattr(run, "solve_" + self.method.replace("-", "_"))()
            # else: the warm start already meets the rule; it is returned as it is.
            t_check = time.perf_counter()
            residual, Atv = run.true_residual()
            productivity = self._productivity(b, run.v, Atv, run)
            t_end = time.perf_counter()

        converged = residual <= options.rtol
        status = Status.CONVERGED if converged else run.failure
        message = _message(status, residual, options.rtol, run.iterations, self.method,
                           run.note)
        values = run.v if single else np.ascontiguousarray(run.v.T)
        result = ValuesResult(
            values=values, converged=converged, status=status, message=message,
            iterations=run.iterations, residual=residual,
            residual_history=np.asarray(run.history, dtype=float), rtol=options.rtol,
            method=self.method, method_reason=self.reason, backend=self.backend,
            n_threads=n_threads, matvecs=run.matvecs,
            timings=MappingProxyType({"setup": self._setup_seconds,
                                      "solve": t_check - t_solve, "check": t_end - t_check,
                                      "total": self._setup_seconds + (t_end - t_start)}),
            resource_names=names, productivity=str(productivity),
            _codes=lambda: economy.codes)
        self._setup_seconds = 0.0  # set-up is paid once, by the first solve
        if not converged:
            if options.raise_on_failure:
                raise NotConvergedError(message, result)
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        return result

    def _productivity(self, b, v, Atv, run) -> _structure.ProductivityReport:
        """Cheapest proof that ρ(A) < 1 (see :mod:`lab.values._structure`) or the error."""
        if self.column_bound < 1.0:
            return _structure.ProductivityReport(self.column_bound, "largest column sum of A")
        if not run.suspect:
            bound = _structure.certify(b, v, Atv)
            if bound is not None:
                return _structure.ProductivityReport(
                    bound, "Collatz–Wielandt bound from the computed values")
        return _structure.diagnose(self.economy, self.backend)


def _check_rhs(name, value, m) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[-1] != m:
        raise InvalidEconomyError(f"{name} has shape {arr.shape} but the economy has {m} products")
    if not np.all(np.isfinite(arr)):
        raise InvalidEconomyError(f"{name} contains NaN or infinite values")
    return arr


def _default_maxiter(method: str, m: int) -> int:
    if method in ("jacobi", "gauss-seidel"):
        return 100_000
    return max(1000, min(m, 100_000))


def _message(status, residual, rtol, iterations, method, note) -> str:
    if status == Status.CONVERGED:
        return (f"converged: relative residual {residual:.3e} ≤ rtol {rtol:.3e} "
                f"after {iterations} iteration(s) of {method}")
    why = {Status.MAXITER: "iteration limit reached",
           Status.STAGNATED: "the residual stopped decreasing",
           Status.BREAKDOWN: "the Krylov recurrence broke down"}[status]
    text = (f"not converged ({why}): relative residual {residual:.3e} > rtol {rtol:.3e} "
            f"after {iterations} iteration(s) of {method}")
    return f"{text}; {note}" if note else text


class _Run:
    """State of one solve: the vector, the counters and the history."""

    def __init__(self, solver: ValueSolver, b, v0, maxiter, callback):
        self.solver = solver
        self.K = _ops.kernels(solver.backend)
        At = solver.economy.A
        self.M = (At.indptr, At.indices, At.data)
        self.b = b
        self.v = v0
        self.maxiter = maxiter
        self.callback = callback
        self.rtol = solver.options.rtol
        self.iterations = 0
        self.history: list[float] = []
        self.matvecs = 0.0
        self.failure = Status.MAXITER
        self.note = ""
        # Set when the iteration behaved as if ρ(A) ≥ 1: productivity is then
        # diagnosed block by block instead of certified from the values.
        self.suspect = False
        self.multi = b.ndim == 2
        self._checked = None  # (iterate, its true residual and Aᵀv)

    def record(self, relative: float):
        self.iterations += 1
        self.history.append(relative)
        if self.callback is not None:
            self.callback(self.iterations, relative)

    def true_residual(self) -> tuple[float, np.ndarray]:
        """max over right-hand sides of ‖b + Aᵀv − v‖∞ / ‖v‖∞ from the original A, and Aᵀv.

        Computed once per iterate: asking again for the same ``self.v`` object reuses
        it, so a method that changes ``self.v`` in place after a check must reset
        ``self._checked``.
        """
        if self._checked is not None and self._checked[0] is self.v:
            return self._checked[1]
        Atv = np.empty_like(self.v)
        if self.v.shape[0] == 0:
            return 0.0, Atv
        if self.multi:
            self.K.csr_matmat(*self.M, self.v, Atv)
        else:
            self.K.csr_matvec(*self.M, self.v, Atv)
        self.matvecs += 1
        with np.errstate(invalid="ignore", over="ignore"):  # inf − inf when diverged
            res = np.abs(self.b + Atv - self.v).max(axis=0)
        self._checked = (self.v, (float(np.max(_relative(res, _norms(self.v)))), Atv))
        return self._checked[1]

    # -- methods ----------------------------------------------------------------

    def solve_jacobi(self):
        K, M, b = self.K, self.M, self.b
        v = b.copy() if self.v is None else self.v.copy()
        new = np.empty_like(v)
        if self.multi:
            r = v.shape[1]
            res, vmax = np.empty(r), np.empty(r)
        v_norm = _norms(v)
        watch = _StagnationWatch()
        for _ in range(self.maxiter):
            if self.multi:
                K.jacobi_step_multi(*M, b, v, new, res, vmax)
            else:
                res, vmax = K.jacobi_step(*M, b, v, new)
            relative = float(np.max(_relative(res, v_norm)))
            new_norm = np.array(vmax, dtype=float, ndmin=1)  # a copy: vmax is reused
            self.matvecs += 1
            self.record(relative)
            if relative <= self.rtol:
                # The residual just measured is v's. The newer iterate is usually better
                # but not always (its residual is Aᵀ times v's, and ‖Aᵀ‖∞ may exceed 1):
                # return the iterate whose residual is proven.
                break
            v, new = new, v
            v_norm = new_norm
            if watch.stalled(relative):
                self._stalled(watch)
                break
        else:
            self.note = _rate_note(self.history, self.rtol)
        self.v = v

    def solve_gauss_seidel(self):
        K, M, b = self.K, self.M, self.b
        v = b.copy() if self.v is None else self.v.copy()
        n = v.shape[0]
        watch = _StagnationWatch()
        if self.multi:
            r = v.shape[1]
            change, vmax = np.empty(r), np.empty(r)
        for _ in range(self.maxiter):
            if self.multi:
                K.gauss_seidel_multi(*M, b, v, 0, n, 1, change, vmax)
            else:
                change, vmax = K.gauss_seidel(*M, b, v, 0, n, 1)
            relative = float(np.max(_relative(change, vmax)))
            self.matvecs += 1
            self.record(relative)
            if relative <= 0.1 * self.rtol:
                self.v = v
                if self.true_residual()[0] <= self.rtol:
                    return
                self._checked = None  # v is updated in place by the next sweep
            if watch.stalled(relative):
                self._stalled(watch)
                break
        else:
            self.note = _rate_note(self.history, self.rtol)
        self.v = v

    def solve_krylov(self):
        x = np.zeros_like(self.b) if self.v is None else self.v.copy()
        for attempt in range(3):
            # The recursively updated residual can drift from the true one: when the
            # final check disagrees, restart from the true residual with a tighter goal.
            status, passes = _bicgstab(self.K, self.M, self.b, x, tol=self.rtol * 0.1**attempt,
                                       maxiter=self.maxiter - self.iterations,
                                       on_iteration=self.record)
            self.matvecs += passes
            self.v = x
            if status is not None or self.true_residual()[0] <= self.rtol:
                break
            x = x.copy()  # a new iterate: the residual check must not reuse the old one
        if status is not None:
            self.failure = status
            self.suspect = status == Status.BREAKDOWN

    def solve_blocks(self):
        solver = self.solver
        S, Mp, identity = solver.structure, solver.permuted, solver.identity
        # Work in component order on the permuted matrix: every pass reads rows in sequence.
        b = self.b[S.order].reshape(len(S.order), -1)
        v = (np.zeros_like(b) if self.v is None
             else np.ascontiguousarray(self.v[S.order]).reshape(b.shape))
        for attempt in range(4):
            if attempt == 0 and self.v is None:
                self._block_pass(Mp, identity, S.block_ptr, b, v)
            else:
                # Iterative refinement: solve for the correction of the true residual.
                correction = np.zeros_like(v)
                self._block_pass(Mp, identity, S.block_ptr, self._residual(Mp, b, v), correction)
                v += correction
            self.v = v[S.position].reshape(self.b.shape)
            relative = self.true_residual()[0]
            self.record(relative)
            if relative <= self.rtol or self.suspect:
                return
        self.note = "block solves did not reach the tolerance after 3 refinements"

    # -- helpers -----------------------------------------------------------------

    def _stalled(self, watch):
        self.failure, self.note, self.suspect = Status.STAGNATED, watch.note, True

    def _residual(self, M, b, v):
        out = np.empty_like(v)
        self.K.csr_matmat(*M, v, out)
        self.matvecs += 1
        out += b
        out -= v
        return out

    def _block_pass(self, Mp, identity, block_ptr, rhs, x):
        """Solve every component in dependency order (rhs, x: (n, r) in component order)."""
        K = self.K
        sizes = np.diff(block_ptr)
        large = np.flatnonzero(sizes > DENSE_BLOCK)
        first = 0
        for k in [*large, len(sizes)]:
            if k > first:
                bad = K.block_solve(*Mp, rhs, x, identity, identity, block_ptr, first, k,
                                    DENSE_BLOCK)
                if bad >= 0:
                    # A pivot ≤ 0 in I − M_bb: the block consumes at least what it makes.
                    self.suspect, self.failure = True, Status.BREAKDOWN
                    self.note = "a component could not be solved (non-positive pivot)"
                    return
            if k == len(sizes):
                break
            self._large_block(Mp, rhs, x, int(block_ptr[k]), int(block_ptr[k + 1]))
            first = k + 1
        self.matvecs += 1

    def _large_block(self, Mp, rhs, x, s, e):
        """Solve the cyclic component [s, e) by BiCGSTAB."""
        indptr, indices, data = Mp
        lo, hi = int(indptr[s]), int(indptr[e])
        rows = indptr[s:e + 1] - lo  # the component's rows as a CSR matrix of their own
        cols = indices[lo:hi]
        vals = data[lo:hi]
        # Inputs from earlier components are final: move them to the right-hand side.
        x[s:e] = 0.0
        external = np.empty((e - s, x.shape[1]))
        self.K.csr_matmat(rows, cols, vals, x, external)
        block_rhs = rhs[s:e] + external
        inside = cols >= s
        row_ids = np.repeat(np.arange(e - s), np.diff(rows))
        sub_indptr = np.zeros(e - s + 1, dtype=indptr.dtype)
        np.cumsum(np.bincount(row_ids[inside], minlength=e - s), out=sub_indptr[1:])
        sub = (sub_indptr, (cols[inside] - s).astype(indices.dtype), vals[inside])
        y = np.zeros_like(block_rhs)
        target = block_rhs[:, 0] if block_rhs.shape[1] == 1 else block_rhs
        guess = y[:, 0] if y.shape[1] == 1 else y
        status, passes = _bicgstab(self.K, sub, target, guess, tol=0.1 * self.rtol,
                                   maxiter=self.maxiter)
        self.matvecs += (hi - lo) / max(int(indptr[-1]), 1) * (1 + passes)
        x[s:e] = y
        if status is not None:
            self.failure = status
            self.suspect = status == Status.BREAKDOWN
            self.note = f"inner BiCGSTAB on a cyclic block of {e - s} products: {status.name}"


class _StagnationWatch:
    """Stops a stationary iteration that has stopped contracting.

    It stops when the residual has not reached a new low for ``WINDOW`` sweeps,
    or has grown a millionfold over its best: the signature of ρ ≥ 1.
    """

    WINDOW = 50

    def __init__(self):
        self.best = math.inf
        self.since = 0
        self.note = ""

    def stalled(self, relative: float) -> bool:
        if math.isnan(relative):
            self.note = "the iteration produced NaN"
            return True
        if relative < self.best * (1 - 1e-12):
            self.best, self.since = relative, 0
            return False
        self.since += 1
        if self.since >= self.WINDOW or relative > 1e6 * self.best:
            self.note = (f"no decrease of the residual in {self.since} sweeps (best "
                         f"{self.best:.3e}); the iteration is not contracting")
            return True
        return False


#: Restarts from the true residual allowed after a BiCGSTAB breakdown.
MAX_RESTARTS = 10


def _bicgstab(K, M, b, x, *, tol, maxiter, on_iteration=None):
    """BiCGSTAB on (I − M)x = b, for one or several columns at once.

    No preconditioner: on generated economies of 10⁶ products (ρ = 0.9 and
    0.99) a forward Gauss–Seidel sweep saved about 30 % of the iterations but,
    being serial, cost about four times a parallel matrix pass, and lost by a
    factor of two in time. Each column is
    scaled to ‖b‖∞ = 1 (no underflow on tiny right-hand sides) and stops
    individually once ‖r‖∞ ≤ tol·‖x‖∞; x is updated in place. A breakdown of
    the recurrence (ρ or ω vanishing relative to the vectors, or a non-finite
    step) restarts that column from its true residual, up to MAX_RESTARTS
    times. Returns ``(status or None, matrix passes)``.
    """
    single = b.ndim == 1
    n = b.shape[0]
    X = x.reshape(n, -1)
    ncol = X.shape[1]
    scale = np.abs(b.reshape(n, -1)).max(axis=0, initial=0.0)
    zero = scale == 0
    scale[zero] = 1.0
    B = b.reshape(n, -1) / scale
    X /= scale
    X[:, zero] = 0.0  # a zero right-hand side has the exact answer 0
    eps = np.finfo(float).eps

    def op(src, dst):  # dst = (I − M) src
        if single:
            K.identity_minus_matvec(*M, src[:, 0], dst[:, 0])
        else:
            K.csr_matmat(*M, src, dst)
            np.subtract(src, dst, out=dst)

    def dot(a, c):
        return np.einsum("ij,ij->j", a, c)

    def relative(r_):
        return _relative(np.abs(r_).max(axis=0), np.abs(X).max(axis=0))

    passes = 0.0
    R = np.empty_like(B)
    R_hat = np.empty_like(B)
    P = np.zeros_like(B)
    V = np.zeros_like(B)
    T = np.empty_like(B)
    rho_old, alpha, omega = np.ones(ncol), np.ones(ncol), np.ones(ncol)
    restarts = 0

    def restart(cols):
        nonlocal passes
        op(X, T)
        passes += 1
        R[:, cols] = B[:, cols] - T[:, cols]
        R_hat[:, cols] = R[:, cols]
        P[:, cols] = 0.0
        V[:, cols] = 0.0
        rho_old[cols] = alpha[cols] = omega[cols] = 1.0

    status = Status.MAXITER
    restart(np.ones(ncol, dtype=bool))
    active = (relative(R) > tol) & ~zero
    for _ in range(maxiter):
        if not active.any():
            status = None
            break
        rho = dot(R_hat, R)
        size = np.sqrt(dot(R_hat, R_hat) * dot(R, R))
        lost = active & ((np.abs(rho) <= eps * eps * size) | (omega == 0))
        if lost.any():
            restarts += 1
            if restarts > MAX_RESTARTS:
                status = Status.BREAKDOWN
                break
            restart(lost)
            rho = dot(R_hat, R)
        beta = np.where(active, rho * alpha / np.where(active, rho_old * omega, 1.0), 0.0)
        P -= omega * V
        P *= beta
        P += R
        op(P, V)
        denom = dot(R_hat, V)
        alpha = np.where(active, rho / np.where(denom != 0, denom, 1.0), 0.0)
        bad = active & ((denom == 0) | ~np.isfinite(alpha))
        if bad.any():
            alpha[bad] = 0.0
            omega[bad] = 0.0  # restart these columns at the next iteration
        X += alpha * P
        R -= alpha * V  # R now holds s = r − αv
        passes += 1
        still = active & ~bad & (relative(R) > tol)
        op(R, T)
        tt = dot(T, T)
        omega = np.where(still & (tt > 0), dot(T, R) / np.where(tt > 0, tt, 1.0), 0.0)
        omega[~np.isfinite(omega)] = 0.0
        X += omega * R
        R -= omega * T
        passes += 1
        rho_old = np.where(active, rho, 1.0)
        rel = relative(R)
        active &= rel > tol
        if on_iteration is not None:
            on_iteration(float(rel.max()))
    else:
        status = Status.MAXITER if active.any() else None
    X *= scale
    return status, passes


def _norms(v):
    return np.abs(v).max(axis=0) if v.ndim == 2 else np.array([np.abs(v).max(initial=0.0)])


def _relative(res, vmax):
    """res / vmax with 0/0 = 0 (a zero right-hand side has the exact answer 0)."""
    res = np.asarray(res, dtype=float)
    vmax = np.asarray(vmax, dtype=float)
    safe = np.where(vmax > 0, vmax, 1.0)
    with np.errstate(invalid="ignore", over="ignore"):  # a diverging iterate may be inf
        return np.where(vmax > 0, res / safe, np.where(res > 0, np.inf, 0.0))


def _rate_note(history, rtol) -> str:
    if len(history) < 10 or history[-1] <= 0:
        return ""
    rate = (history[-1] / history[-10]) ** (1 / 9)
    if not 0 < rate < 1:
        return f"the residual is not shrinking (ratio per sweep ≈ {rate:.4f})"
    more = math.log(rtol / history[-1]) / math.log(rate)
    return (f"residual shrinks by ≈ {rate:.4f} per sweep: about {math.ceil(more)} more sweeps "
            "would be needed; use method='krylov' or 'blocks', or raise maxiter")
