"""Labour values: the total labour embodied in one unit of each product.

Solves v = l + Aᵀv (MATH.md §2) for the labour row l = R[0], or for several
resource rows at once (vertically integrated coefficients V = R (I − A)⁻¹).

Stopping rule
-------------
Every method stops when the relative residual

    ‖l + Aᵀv − v‖∞ ≤ rtol · ‖v‖∞

holds (for several right-hand sides: for every one of them). The residual in
the result is always recomputed from A after the solve, whatever the method,
so it is the proof of the answer rather than the method's own estimate. An
answer or residual that is not finite (overflow) is never "converged": its
status is ``NOT_FINITE``.

Methods
-------
``"jacobi"``
    The *Towards a New Socialism* iteration vᵗ⁺¹ = l + Aᵀvᵗ, kept as the
    baseline. Error shrinks by about ρ(A) per sweep.
``"gauss-seidel"``
    Sweeps that use updated values at once.
``"krylov"``
    BiCGSTAB on (I − Aᵀ)v = l on lab's fused kernels (:mod:`lab.values._krylov`). On
    large economies whose inputs lie far from their products in the product order,
    its products run on a copy of Aᵀ cut into cache-sized tiles
    (:mod:`lab.values._tiles`; 2.5× faster per pass at 10⁶ products without locality;
    so do those of ``blocks`` on its large cyclic blocks).
``"blocks"``
    Strongly connected components in dependency order: products outside
    cycles are solved exactly by substitution, small cyclic blocks exactly by
    dense LU, large cyclic blocks by BiCGSTAB. The first solve reads the rows in
    block order where they are; a solver's later solves run on a copy of Aᵀ in block
    order (a second copy of A, which streams: at 10⁶ generated products the
    substitution takes 70 ms instead of 139 ms).
``"auto"``
    Jacobi when a norm bound proves it needs only a few sweeps; Krylov on the
    whole economy when one strongly connected block holds most of it (the block
    order would save nothing and cost a reordered copy of A); otherwise blocks.
    The reason is recorded in the result.

Precision
---------
``precision="float32"`` stores the coefficients of the Krylov solves (``krylov``,
and the large cyclic blocks of ``blocks``) in float32: a third fewer bytes per
matrix pass with int32 indices. Products still accumulate in float64, and the
answer is refined against the float64 coefficients until it meets the same rule
(:func:`lab.values._krylov.refine`).
"""

from __future__ import annotations

import functools
import math
import numbers
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from lab import _ops
from lab.economy import Economy, product_index
from lab.exceptions import (
    ConvergenceWarning,
    InvalidEconomyError,
    InvalidOptionError,
    InvalidTypeError,
    NotConvergedError,
)
from lab.values import _colors, _krylov, _structure, _tiles

__all__ = ["Status", "ValuesOptions", "ValuesResult", "ValueSolver", "labour_values", "METHODS"]

METHODS = ("auto", "jacobi", "gauss-seidel", "krylov", "blocks")
PRECISIONS = ("float64", "float32")

#: Cyclic blocks up to this size are solved exactly by dense LU inside the block
#: kernel; larger ones by BiCGSTAB.
DENSE_BLOCK = 96
#: "auto" uses plain Jacobi when a norm bound proves it converges in this many sweeps.
JACOBI_MAX_SWEEPS = 12
#: "auto" solves the whole economy by Krylov when its largest strongly connected block
#: holds at least this share of the non-zeros: substitution could then handle little,
#: and the reordered copy of A would cost a pass and a copy for nothing.
GIANT_SHARE = 0.8
#: A warm start's large blocks stop their BiCGSTAB where the recursive residual is below
#: this share of the rule's rtol·max|start| (0.1 cost two more iterations of the 10⁶
#: generated core after 10³ changes; the largest final residual of 30 such re-solves was
#: 4.6e-11 for rtol 1e-10); the solve's true residual is checked after the pass, and
#: refined if it fails.
WARM_SHARE = 0.5
#: "auto" skips the structure analysis (a serial depth-first search, about five matrix
#: passes) when fewer than this share of the products are ends of supply chains (used
#: by no other product, or using no other): without final or primary products there is
#: no chain for substitution to walk, every product sits between cycles. Below
#: ANALYSIS_ALWAYS products the analysis is cheap and always done.
CHAIN_END_SHARE = 0.005
ANALYSIS_ALWAYS = 20_000
#: From this many products on, a ``blocks`` solver's first solve runs the structure
#: analysis on a thread of its own while the solve substitutes the blocks as they come
#: (:meth:`_Run._followed_pass`), where the Cython kernels and two threads are there.
FOLLOW_MIN_PRODUCTS = 1 << 16


class Status(IntEnum):
    """Outcome of a solve. ``CONVERGED`` is the only successful one.

    ``NOT_FINITE``: the values or their residual overflowed to infinity or NaN (the
    economy's numbers are too large for float64, or the iteration diverged).
    """

    CONVERGED = 0
    MAXITER = 1
    STAGNATED = 2
    BREAKDOWN = 3
    NOT_FINITE = 4

    def __str__(self) -> str:  # print(status) shows OPTIMAL, not 0; int(status) is the code
        return self.name

    def __format__(self, spec: str) -> str:
        numeric = spec[-1:] in tuple("bcdoxXn")
        return int.__format__(self, spec) if numeric else format(self.name, spec)


def _real(name: str, value, *, low: float, high: float) -> float:
    """``float(value)`` for a real number (Python or NumPy) with low < value < high."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InvalidTypeError(f"{name} must be a real number, got {type(value).__name__} "
                                f"{value!r}")
    x = float(value)
    if not (math.isfinite(x) and low < x < high):
        raise InvalidOptionError(f"{name} must be a finite number in ({low:g}, {high:g}), "
                                 f"got {value!r}")
    return x


def _count(name: str, value) -> int | None:
    """``None`` or ``int(value)`` for an integer (Python or NumPy) ≥ 1."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise InvalidTypeError(f"{name} must be a positive int or None, got "
                                f"{type(value).__name__} {value!r}")
    if value < 1:
        raise InvalidOptionError(f"{name} must be at least 1, got {value}")
    return int(value)


def _choice(name: str, value, choices) -> str:
    if not isinstance(value, str):
        raise InvalidTypeError(f"{name} must be a string, one of {choices}, got "
                                f"{type(value).__name__} {value!r}")
    if value not in choices:
        raise InvalidOptionError(f"{name} must be one of {choices}, got {value!r}")
    return value


@dataclass(frozen=True)
class ValuesOptions:
    """Options of a labour-value solve, shared by the Python API, the CLI and batch jobs.

    Numbers may be Python or NumPy scalars; they are stored as ``float``/``int``.

    Parameters
    ----------
    method : {"auto", "jacobi", "gauss-seidel", "krylov", "blocks"}
    rtol : float
        Relative residual tolerance in (0, 1), see the module docstring.
    maxiter : int or None
        Most sweeps (Jacobi, Gauss–Seidel), iterations (Krylov) or inner
        iterations per block (blocks). ``None`` chooses a generous default
        from the method and the size.
    backend : {"auto", "cython", "numba"}
    n_threads : int or None
        Threads for the kernels. ``None``: the backend's current count, except that
        an iteration runs on no more threads than other processes leave cores free
        and drops to one thread while that measurably runs faster (see
        :class:`lab._ops.ThreadGovernor`). An int forces that count for every kernel
        call of the solve.
    raise_on_failure : bool
        Raise :class:`~lab.exceptions.NotConvergedError` instead of warning.
    precision : {"float64", "float32"}
        Storage of the coefficients in the Krylov solves (see the module docstring);
        ``"jacobi"`` and ``"gauss-seidel"`` take ``"float64"`` only.
    """

    method: str = "auto"
    rtol: float = 1e-10
    maxiter: int | None = None
    backend: str = "auto"
    n_threads: int | None = None
    raise_on_failure: bool = False
    precision: str = "float64"

    def __post_init__(self):
        set_ = object.__setattr__
        _choice("method", self.method, METHODS)
        set_(self, "rtol", _real("rtol", self.rtol, low=0.0, high=1.0))
        set_(self, "maxiter", _count("maxiter", self.maxiter))
        set_(self, "n_threads", _count("n_threads", self.n_threads))
        _choice("backend", self.backend, ("auto", *_ops.BACKENDS))
        if not isinstance(self.raise_on_failure, (bool, np.bool_)):
            raise InvalidTypeError(f"raise_on_failure must be True or False, got "
                                    f"{self.raise_on_failure!r}")
        set_(self, "raise_on_failure", bool(self.raise_on_failure))
        _choice("precision", self.precision, PRECISIONS)
        if self.precision == "float32" and self.method in ("jacobi", "gauss-seidel"):
            raise InvalidOptionError(
                f"precision='float32' applies to the Krylov solves (methods 'krylov', "
                f"'blocks', 'auto'), not to method={self.method!r}")


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
        (the largest over the right-hand sides); NaN or inf when the values are
        not finite.
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
        Threads of the last kernel call (see ``ValuesOptions.n_threads``).
    matvecs : float
        Work in units of one pass over the non-zeros of A (float32 passes included).
    timings : mapping
        Read-only. Seconds: ``setup`` (the scan of A and, unless the first solve makes
        it alongside its substitution, the structure analysis; paid by the first solve
        of a :class:`ValueSolver`), ``solve``, ``check`` (the final residual and the
        productivity proof) and ``total``.
    resource_names : tuple of str
        The resource rows solved for, in the order of ``values``.
    productivity : str
        The proven bound on ρ(A) and the argument that gave it: column sums,
        the Collatz–Wielandt bound from the computed values, or block-wise
        bounds (see :mod:`lab.values._structure`).
    precision : str
        Storage of the coefficients in the Krylov solves.
    techniques : ndarray of int or None
        With technique choice (a planning problem given to :func:`labour_values`):
        the technique chosen for each product (length m); None otherwise.
    technique_codes : ndarray of str or None
        The same as codes.
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
    precision: str = "float64"
    techniques: np.ndarray | None = None
    technique_codes: np.ndarray | None = None
    _codes: Callable = field(repr=False, compare=False, default=None)

    @property
    def series(self):
        """The values as a :class:`pandas.Series` indexed by product code (one row only)."""
        import pandas as pd

        if self.values.ndim != 1:
            raise ValueError("values hold several resource rows; use .frame instead of .series")
        return pd.Series(self.values, index=product_index(self._codes()),
                         name=self.resource_names[0])

    def to_html(self, path, **options):
        """Write this result's self-contained HTML report (see :func:`lab.report.to_html`)."""
        from lab import _html

        return _html.render(self, path, **options)

    def __repr__(self) -> str:
        """A few facts (status, method, residual, size, time), never the arrays."""
        rows = self.values.shape[0] if self.values.ndim == 2 else 1
        names = ", ".join(self.resource_names[:3]) + (", ..." if rows > 3 else "")
        m = self.values.shape[-1]
        chosen = "" if self.techniques is None else ", techniques chosen"
        total = self.timings.get("total")
        return (f"ValuesResult({self.status.name} by {self.method}: {m} products × {rows} "
                f"resource row{'s' if rows != 1 else ''} ({names}){chosen}, residual "
                f"{self.residual:.2e} (rtol {self.rtol:.0e}), {self.iterations} "
                f"iteration{'s' if self.iterations != 1 else ''}"
                + ("" if total is None else f", {total:.3g} s") + ")")

    @property
    def frame(self):
        """The values as a :class:`pandas.DataFrame`: products × resource rows."""
        import pandas as pd

        data = self.values if self.values.ndim == 2 else self.values[None, :]
        return pd.DataFrame(data.T, index=product_index(self._codes()),
                            columns=list(self.resource_names))


def labour_values(economy, *, method: str = "auto", rtol: float = 1e-10,
                  maxiter: int | None = None, backend: str = "auto",
                  n_threads: int | None = None, resources=None,
                  callback: Callable[[int, float], None] | None = None,
                  raise_on_failure: bool = False, precision: str = "float64",
                  ties: str = "first", progress: bool = False) -> ValuesResult:
    """Labour values v = l + Aᵀv of every product.

    Parameters
    ----------
    economy : Economy or PlanningProblem
        An :class:`~lab.Economy`; or a planning problem with technique choice
        (anything with use ``A``, make ``B`` and resources ``R`` of shape
        products × techniques and ``product_codes``/``technique_codes``, such as
        :class:`~lab.PlanningProblem`): then the values are those of the cheapest
        techniques, found by policy iteration (:mod:`lab.values._techniques`; its
        targets and limits are ignored).
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
    precision : {"float64", "float32"}, default "float64"
        Coefficient storage of the Krylov solves, see :class:`ValuesOptions`.
    ties : {"first", "error"}, default "first"
        Technique choice only: among techniques equally cheap to within rounding,
        keep the current one, else the first; ``"error"`` raises instead.
    progress : bool, default False
        Show the iteration and the relative residual on stderr while the solve runs
        longer than a second (:mod:`lab._progress`).

    Returns
    -------
    ValuesResult

    Raises
    ------
    NotProductiveError
        If ρ(A) ≥ 1; the error names the smallest responsible group of products.
    InvalidTypeError
        If ``economy`` is neither an Economy nor a planning problem.

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
                            n_threads=n_threads, raise_on_failure=raise_on_failure,
                            precision=precision)
    if not isinstance(progress, (bool, np.bool_)):
        raise InvalidTypeError(f"progress must be True or False, got {progress!r}")
    from lab._progress import Progress

    with Progress("values", enabled=progress) as shown:
        callback = shown.chain(callback)
        if not isinstance(economy, Economy) and _techniques_module().is_technology(economy):
            if resources is not None:
                raise InvalidEconomyError("resources: technique choice prices labour only "
                                          "(resources must be None)")
            return _techniques_module().cheapest_values(economy, options, callback=callback,
                                                        ties=ties)
        return ValueSolver(economy, options).solve(resources=resources, callback=callback)


def _techniques_module():
    from lab.values import _techniques

    return _techniques


def _one_at_a_time(method):
    """Serialise a method on its solver: solves and updates share the warm starts, the
    level-ordered copy and its right-hand side, so calls from several threads run one
    after the other instead of reading each other's half-written state."""
    @functools.wraps(method)
    def serialised(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return serialised


class ValueSolver:
    """Set up once, solve many: holds the structure analysis of one economy.

    Safe to share between threads: its solves and updates run one at a time (a lock per
    solver; for solves in parallel, one solver per thread).

    A ``blocks`` solver of 65,536 or more products on the Cython kernels with two or more
    threads leaves the analysis to its first solve, which runs it on a thread of its own
    and substitutes each strongly connected component as the search completes it
    (``structure`` or :meth:`update` before that analyse at once).

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
    >>> solver.update({("P3", "P7"): 0.05}, labour={"P7": 2.0})  # then solve() again
    >>> solver.solve().converged
    True
    """

    def __init__(self, economy, options: ValuesOptions | None = None, **kwargs):
        if not isinstance(economy, Economy):
            raise InvalidTypeError(
                f"economy must be a lab.Economy, got {type(economy).__name__}"
                + ("; build one with lab.Economy(A, R)" if isinstance(economy, np.ndarray)
                   else ""))
        self._lock = threading.RLock()
        if options is None:
            options = ValuesOptions(**kwargs)
        elif kwargs:
            raise InvalidTypeError("pass either options or keyword options, not both")
        elif not isinstance(options, ValuesOptions):
            raise InvalidTypeError(f"options must be a lab.ValuesOptions, got "
                                    f"{type(options).__name__}")
        self._economy = economy
        self._original = economy  # codes and resource names never change with updates
        self.options = options
        self.backend = _ops.resolve_backend(options.backend)
        self._M = _narrow((economy.A.indptr, economy.A.indices, economy.A.data))  # Aᵀ, CSR
        self._R = economy.R
        # resource rows -> (values, Aᵀ·values) of the last solve, and the rows whose next
        # solve starts from them (set by update(), with the residual of the start)
        self._previous: dict = {}
        self._warm: dict = {}
        # True while the block structure is left to the first solve (_Run._followed_pass)
        self._deferred = False
        self._structure = None
        self._longest = None  # (Aᵀ's indptr, its longest row), for the productivity proof
        t0 = time.perf_counter()
        with _ops.thread_limit(options.n_threads, self.backend):
            self.column_bound = _structure.scan(economy, self.backend)[0]
            self.method, self.reason = self._choose_method()
            self._prepare()
        self._setup_seconds = time.perf_counter() - t0

    # -- set-up ----------------------------------------------------------------------

    @property
    def economy(self) -> Economy:
        """The economy solved, with every :meth:`update` applied."""
        if self._economy is None:
            from lab.values import _update

            self._economy = _update.economy_of(self)
        return self._economy

    @property
    @_one_at_a_time
    def structure(self) -> _structure.BlockStructure:
        """The strongly connected components (``blocks`` solvers): analysed now if the
        first solve has not done it yet."""
        if self._deferred:
            self._settle(_structure.analyse(self._economy, self.backend))
        return self._structure

    @structure.setter
    def structure(self, S: _structure.BlockStructure) -> None:
        self._structure = S

    def _may_follow(self) -> bool:
        """Whether the first solve may run the analysis alongside its substitution: the
        Cython kernels (they publish the search's progress across threads), at least two
        threads, an economy large enough to pay for a thread, no analysis cached."""
        return (self.backend == "cython" and self._economy.n_products >= FOLLOW_MIN_PRODUCTS
                and _ops.kernels(self.backend).get_num_threads() >= 2
                and self._economy._cache.get("blocks") is None)

    def _settle(self, S, large=None) -> None:
        """Take the analysis ``S`` (and the large blocks already built from it): the
        large blocks' matrices, and for ``auto`` the method it decides."""
        self._deferred = False
        self._structure = S
        if self.options.method == "auto":
            self.method, self.reason = self._blocks_or_krylov(S)
        if self.method != "blocks":
            self._prepare()  # the Krylov path's copies (tiles, float32)
            return
        if large is None:
            self._large = _large_blocks(S, self._M, self.backend)
            if self.options.precision == "float32":
                self._refresh_float32()
        else:  # built by the first solve, float32 copies included
            self._large = large

    def _giant(self, rows_nnz: int) -> bool:
        """Whether a block whose rows hold ``rows_nnz`` non-zeros is too large for
        substitution to pay (``auto`` then solves by Krylov)."""
        return rows_nnz >= GIANT_SHARE * max(self._economy.nnz, 1)

    def _blocks_or_krylov(self, S) -> tuple[str, str]:
        economy = self._economy
        m = economy.n_products
        giant = S.largest_block_nnz(self._M[0])
        if S.largest_block > DENSE_BLOCK and self._giant(giant):
            return "krylov", (
                f"one strongly connected block of {S.largest_block} of {m} products holds "
                f"{giant / max(economy.nnz, 1):.0%} of the non-zeros: substitution would "
                "save little, so BiCGSTAB runs on the whole economy in its own order")
        return "blocks", (f"{S.n_blocks} strongly connected blocks, largest "
                          f"{S.largest_block} of {m} products: "
                          "exact substitution outside cycles, iteration only on large "
                          "cyclic blocks")

    def _choose_method(self) -> tuple[str, str]:
        requested = self.options.method
        if requested != "auto":
            return requested, "requested"
        bound = self.column_bound
        economy = self._economy
        if economy.nnz == 0:
            return "jacobi", "A has no non-zeros: one sweep is exact"
        if bound < 1.0:
            sweeps = math.log(self.options.rtol) / math.log(bound)
            if sweeps <= JACOBI_MAX_SWEEPS:
                return "jacobi", (f"every column sum of A is at most {bound:.3g}, so Jacobi "
                                  f"needs at most {math.ceil(sweeps)} sweeps")
        m = economy.n_products
        ends = _structure.scan(economy, self.backend)[1] if m >= ANALYSIS_ALWAYS else m
        if ends < CHAIN_END_SHARE * m:
            return "krylov", (
                f"only {ends} of {m} products end a supply chain (used by no other product "
                "or using no other): there are no chains for substitution to walk, so the "
                "structure analysis is skipped and BiCGSTAB runs on the whole economy")
        if self._may_follow():  # _prepare leaves the analysis to the first solve
            return "blocks", ("the block structure is analysed by the first solve, "
                              "alongside its substitution")
        return self._blocks_or_krylov(_structure.analyse(economy, self.backend))

    def _prepare(self):
        """What the chosen method needs: the block order and the matrices of the large
        cyclic blocks (blocks), float32 coefficients (precision float32)."""
        self._M32 = None
        self._ordered = None
        self._rhs_generation = 0  # counts changes of R in place (update's labour)
        self._solves = 0
        self._tiles = None  # (Tiles of M, of M32 or None), built by the next Krylov solve
        self._proof = None  # the proof that ρ(A) < 1, once a solve has made one
        self._tiling = self.method == "krylov" and _tiles.worth_tiling(self._M)
        if self._tiling:
            self.reason += ("; inputs lie far from their products in the product order, so "
                            "its products run on a copy of Aᵀ in cache-sized tiles")
        if self.method == "blocks":
            if self._may_follow():
                self._deferred = True  # analysed by the first solve (_Run._followed_pass)
            else:
                self.structure = _structure.analyse(self._economy, self.backend)
                self._large = _large_blocks(self.structure, self._M, self.backend)
        if self.options.precision == "float32" and not self._deferred:
            self._refresh_float32()

    def _krylov_matrices(self):
        """M and the float32 M (or None) of the one-right-hand-side Krylov solves: tiled
        where that pays, the tiles cut again after a change of coefficients."""
        if not self._tiling:
            return self._M, self._M32
        if self._tiles is None:
            self._tiles = _tiles.cut(_ops.kernels(self.backend), self._M, self._M32)
        return self._tiles

    def _refresh_float32(self):
        if self.method == "blocks":
            for blk in self._large:
                blk.copy_float32()
        else:
            self._M32 = (*self._M[:2], self._M[2].astype(np.float32))

    # -- updates ---------------------------------------------------------------------

    @_one_at_a_time
    def update(self, changes=None, *, labour=None) -> None:
        """Change coefficients and direct labour; the next :meth:`solve` starts warm.

        Parameters
        ----------
        changes : mapping, optional
            ``{(input code, product code): new coefficient}``: A[input, product] takes
            the new value (≥ 0, finite); 0 removes the link. Links that A did not have
            are added.
        labour : mapping or array_like, optional
            ``{product code: new direct labour}``, or the whole labour row (length m).

        Notes
        -----
        Changed coefficients of existing links keep the structure analysis as it is. A
        new link from a product to one of its (indirect) inputs creates a cycle: the
        strongly connected components are recomputed on the range of the block order
        that the cycle can span, and the blocks there merge; links consistent with the
        order keep it. The next :meth:`solve` without ``x0`` starts from the values of
        the last solve of the same resource rows and corrects them for the changes only.

        Raises
        ------
        InvalidEconomyError
            Unknown codes, negative or non-finite values, a labour row of the wrong length.
        NotProductiveError
            Raised by the next solve if the changes made the economy non-productive.
        """
        from lab.values import _update

        with _ops.thread_limit(self.options.n_threads, self.backend):
            _update.apply(self, changes, labour)

    # -- solving -----------------------------------------------------------------------

    def _resource_rows(self, resources) -> tuple[list, tuple]:
        economy = self._economy_meta
        names = tuple(economy.resource_names)
        r = self._R.shape[0]
        if resources is None:
            rows = [0]
        elif isinstance(resources, str) and resources == "all":
            rows = list(range(r))
        else:
            items = [resources] if isinstance(resources, (str, int, np.integer)) else resources
            if not isinstance(items, Sequence) or isinstance(items, str) or len(items) == 0:
                raise InvalidEconomyError(
                    "resources must be None, 'all', an int, a name or a non-empty sequence "
                    f"of those, got {resources!r}")
            rows = []
            for item in items:
                if isinstance(item, str):
                    if item not in names:
                        raise InvalidEconomyError(f"resources: unknown resource {item!r}; "
                                                  f"the economy has {list(names)}")
                    rows.append(names.index(item))
                elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
                    if not -r <= item < r:
                        raise InvalidEconomyError(
                            f"resources: row {item} is out of range for {r} resource rows")
                    rows.append(int(item) % r)
                else:
                    raise InvalidTypeError(
                        f"resources: expected a name or an int, got {item!r}")
        return rows, tuple(names[q] for q in rows)

    @property
    def _economy_meta(self) -> Economy:
        """An economy with the current codes and resource names (they never change)."""
        return self._economy if self._economy is not None else self._original

    @_one_at_a_time
    def solve(self, rhs=None, *, resources=None, x0=None,
              callback: Callable[[int, float], None] | None = None) -> ValuesResult:
        """Solve v = b + Aᵀv for resource rows of the economy or a given right-hand side.

        Parameters
        ----------
        rhs : array_like, optional
            Right-hand side(s) b, shape ``(m,)`` or ``(k, m)``, real and finite. Default:
            the resource rows chosen by ``resources``.
        resources : see :func:`labour_values`
        x0 : array_like, optional
            Starting guess of the same shape as the result (warm start). After
            :meth:`update`, the values of the last solve of the same resource rows are
            the default start.
        callback : callable, optional
            ``callback(iteration, relative_residual)``.

        Raises
        ------
        NotProductiveError
            If the solve reveals that ρ(A) ≥ 1.
        """
        t_start = time.perf_counter()
        options = self.options
        m = self._R.shape[1]
        key = None
        if rhs is None:
            rows, names = self._resource_rows(resources)
            # one row: a view (at 10⁷ products a copy was 80 MB of fresh pages, 0.17 s)
            B = self._R[rows[0]:rows[0] + 1] if len(rows) == 1 else self._R[rows]
            key = tuple(rows)
        else:
            if resources is not None:
                raise InvalidEconomyError("pass either rhs or resources, not both")
            B = _check_rhs("rhs", rhs, m)
            names = tuple(f"rhs{k}" for k in range(B.shape[0])) if B.ndim == 2 else ("rhs",)
            B = B if B.ndim == 2 else B[None, :]
        single = B.shape[0] == 1
        # Kernels want products × right-hand sides, contiguous per product.
        b = np.ascontiguousarray(B[0]) if single else np.ascontiguousarray(B.T)
        v0 = v0_max = None
        residual0 = None
        unsolved = False
        if x0 is not None:
            x0 = _check_rhs("x0", x0, m)
            expected = (m,) if single else (B.shape[0], m)
            if x0.shape != expected:
                raise InvalidEconomyError(
                    f"x0 has shape {x0.shape} but the result has shape {expected}")
            v0 = np.array(x0 if single else x0.T, dtype=np.float64, order="C")
        elif key is not None and key in self._warm:
            # Warm start after update(), with max|v0| and its residual when the update
            # could afford it (None: the start is known not to meet the rule).
            v0, v0_max, res0 = self._warm.pop(key)
            residual0 = None if res0 is None else (res0, v0_max)
            unsolved = res0 is None

        maxiter = options.maxiter or _default_maxiter(self.method, m)
        with _ops.thread_limit(options.n_threads, self.backend):
            run = _Run(self, b, v0, maxiter, callback, residual0, v0_max,
                       rhs_key=None if key is None else (key, self._rhs_generation))
            t_solve = time.perf_counter()
            if m == 0:
                run.v = np.zeros_like(b)
            elif v0 is None or unsolved or run.initial_residual() > options.rtol:
                getattr(run, "solve_" + self.method.replace("-", "_"))()
            # else: the warm start already meets the rule; it is returned as it is.
            t_check = time.perf_counter()
            residual, check = run.true_residual()
            # the residual is NaN unless every entry of v is finite (residual_norms)
            finite = math.isfinite(residual)
            if not finite:
                run.suspect = True  # diverged, or overflowed: which one, diagnose decides
            productivity = self._productivity(b, check.v, check.Av, run, check.extremes)
            t_end = time.perf_counter()
            n_threads = run.threads_used()

        if not finite:
            status, converged = Status.NOT_FINITE, False
            run.note = run.note or _overflow_note(run.v)
        else:
            converged = residual <= options.rtol
            status = Status.CONVERGED if converged else run.failure
            if converged and not run.nonnegative and _wrong_sign(b, run.v, options.rtol):
                # ‖r‖∞ ≤ rtol·‖v‖∞ yet v is wrong: values spanning hundreds of orders of
                # magnitude let a normwise residual hide errors in the small ones
                converged, status = False, Status.BREAKDOWN
                run.note = ("values below zero although A ≥ 0 and the right-hand side is "
                            "≥ 0 (v = Σ (Aᵀ)ᵏ b ≥ 0): the small values are wrong although "
                            "the residual meets the rule, the economy's numbers span too "
                            "many orders of magnitude for this method; method='blocks' "
                            "solves such economies by substitution")
        message = _message(status, residual, options.rtol, run.iterations, self.method,
                           run.note)
        values = run.v if single else np.ascontiguousarray(run.v.T)
        meta = self._economy_meta
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
            precision=options.precision, _codes=lambda: meta.index)
        self._setup_seconds = 0.0  # set-up is paid once, by the first solve
        self._solves += 1
        if key is not None and finite and single:
            # The start of the next solve of these rows after an update(), with its Aᵀv
            # (in the check's numbering) and max|v| (the run's last check is of run.v)
            self._previous[key] = (run.v, check.Av.reshape(-1), check.where,
                                   float(run.vmax[0]))
        if not converged:
            if options.raise_on_failure:
                raise NotConvergedError(message, result)
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        return result

    def _ordered_copy(self):
        """Aᵀ in level order (:class:`_Ordered`), built at the second solve of a
        ``blocks`` solver: a second copy of A that a single solve would not recover."""
        if self._ordered is None and self._solves >= 1 and self.method == "blocks":
            self._ordered = _Ordered(self.structure, self._M, self._large, self.backend)
        return self._ordered

    def _productivity(self, b, v, Atv, run, extremes=None) -> _structure.ProductivityReport:
        """Cheapest proof that ρ(A) < 1 (see :mod:`lab.values._structure`) or the error.

        In order: the largest column sum, the values themselves (Collatz–Wielandt), a
        solve with a positive right-hand side (:meth:`_positive_proof`), and last the
        block-wise diagnosis, which names what is not productive. A proof holds until the
        coefficients change (``update`` forgets it): later solves reuse it, since a
        right-hand side with zeros proves nothing by itself and the block-wise diagnosis
        costs factorisations (4.0 s at 10⁵ products against 0.05 s for the solve)."""
        if self.column_bound < 1.0:
            return _structure.ProductivityReport(self.column_bound, "largest column sum of A")
        if self._proof is not None and not run.suspect:
            return self._proof
        report = None
        if not run.suspect:
            bound = self._certify(b, v, Atv, extremes)
            if bound is not None:
                report = _structure.ProductivityReport(
                    bound, "Collatz–Wielandt bound from the computed values")
                run.nonnegative = True  # the bound needs every value ≥ 0 (> 0 for one rhs)
            elif self._economy is not None and "productive" in self._economy._cache:
                report = self._economy._cache["productive"]  # proven before, either way
            else:
                report = self._positive_proof()
        if report is None:
            report = _structure.diagnose(self.economy, self.backend)
        self._proof = report  # diagnose raises where A is not productive
        return report

    def _certify(self, b, v, Atv, extremes=None) -> float | None:
        """:func:`lab.values._structure.certify` with the longest row of this pattern."""
        indptr = self._M[0]
        if self._longest is None or self._longest[0] is not indptr:
            self._longest = (indptr, _structure.longest_row(indptr))  # per pattern
        return _structure.certify(b, v, Atv, self._longest[1], extremes=extremes)

    def _positive_proof(self) -> _structure.ProductivityReport | None:
        """The Collatz–Wielandt bound from w = 1 + Aᵀw solved like the values, or None.

        Values with zeros (a right-hand side that is 0 on every product upstream of
        some product: one resource's values in a plan's cutting planes) prove nothing,
        but any w > 0 with max_j (Aᵀw)_j / w_j < 1 does, so one more solve replaces the
        block-wise diagnosis, whose sparse LU of each cyclic block costs far more (10⁴
        products with technique choice: 120 ms a plan's policy against one solve of
        a few ms). The solve's own accuracy does not enter the proof; an iteration that
        fails leaves the diagnosis to decide (and name the culprit)."""
        m = self._R.shape[1]
        ones = np.ones(m)
        run = _Run(self, ones, None, self.options.maxiter or _default_maxiter(self.method, m),
                   None)
        getattr(run, "solve_" + self.method.replace("-", "_"))()
        residual, check = run.true_residual()
        if run.suspect or not math.isfinite(residual):
            return None
        bound = self._certify(ones, check.v, check.Av, check.extremes)
        if bound is None:
            return None
        report = _structure.ProductivityReport(
            bound, "Collatz–Wielandt bound from a solve with right-hand side 1")
        if self._economy is not None:  # None after an update until asked for
            self._economy._cache["productive"] = report
        return report


def _check_rhs(name, value, m) -> np.ndarray:
    """A real, finite float64 array of shape (m,) or (k, m) with k ≥ 1."""
    if isinstance(value, (str, bytes)) or value is None:
        raise InvalidTypeError(f"{name} must be an array of numbers, got "
                                f"{type(value).__name__}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged nesting and the like
        raise InvalidEconomyError(f"{name} could not be read as an array: {exc}") from None
    if arr.dtype.kind not in "iuf":
        raise InvalidTypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim not in (1, 2) or arr.shape[-1] != m or (arr.ndim == 2 and arr.shape[0] == 0):
        raise InvalidEconomyError(
            f"{name} has shape {arr.shape} but the economy has {m} products "
            f"(expected ({m},) or (k, {m}) with k ≥ 1)")
    if not np.all(np.isfinite(arr)):
        raise InvalidEconomyError(f"{name} contains NaN or infinite values")
    return arr


def _wrong_sign(b, v, rtol) -> bool:
    """Whether a column with b ≥ 0 has a value below −rtol·‖v‖∞ (impossible for v ≥ 0)."""
    if b.size == 0:
        return False
    b2, v2 = b.reshape(b.shape[0], -1), v.reshape(v.shape[0], -1)
    for q in range(b2.shape[1]):  # column by column: see _krylov.column_max_abs
        # v's minimum first: it is ≥ 0 in every solve that is right, and then b is not read
        low = v2[:, q].min()  # below 0, it makes ‖v‖∞ = max(max v, −low): no |v| copy
        if low < 0 and low < -rtol * max(v2[:, q].max(), -low) and b2[:, q].min() >= 0:
            return True
    return False


def _default_maxiter(method: str, m: int) -> int:
    if method in ("jacobi", "gauss-seidel"):
        return 100_000
    return max(1000, min(m, 100_000))


def _overflow_note(v) -> str:
    bad = int(np.count_nonzero(~np.isfinite(v)))
    return (f"{bad} value(s) are not finite: the values overflow float64 (coefficients or "
            "labour too large) or the iteration diverged")


def _message(status, residual, rtol, iterations, method, note) -> str:
    if status == Status.CONVERGED:
        return (f"converged: relative residual {residual:.3e} ≤ rtol {rtol:.3e} "
                f"after {iterations} iteration(s) of {method}")
    why = {Status.MAXITER: "iteration limit reached",
           Status.STAGNATED: "the residual stopped decreasing",
           Status.BREAKDOWN: "the Krylov recurrence broke down",
           Status.NOT_FINITE: "the values are not finite"}[status]
    text = (f"not converged ({why}): relative residual {residual:.3e} > rtol {rtol:.3e} "
            f"after {iterations} iteration(s) of {method}")
    if residual <= rtol:  # the residual passed, a consistency check did not
        text = (f"not converged (the answer fails a consistency check): relative residual "
                f"{residual:.3e} ≤ rtol {rtol:.3e} after {iterations} iteration(s) of "
                f"{method}")
    if status == Status.NOT_FINITE:
        text = (f"not converged ({why}): relative residual {residual:.3e} after "
                f"{iterations} iteration(s) of {method}")
    return f"{text}; {note}" if note else text


class _LargeBlock:
    """A cyclic block at positions [s, e) of the block order, solved by BiCGSTAB.

    ``members``: its products (``order[s:e]``); ``sub``: the coefficients among them as a
    CSR matrix of its own (rows and columns numbered from 0 in block order, a copy);
    ``sub_entry``: the entry of Aᵀ each ``sub`` entry was copied from (for updates);
    ``sub32``: ``sub`` with float32 coefficients (precision float32), or None;
    ``tiles``: both cut into tiles where that pays (:mod:`lab.values._tiles`), built by
    the next solve and dropped when a coefficient changes; ``closed``: no product of the
    block has an input outside it (the cyclic core of a supply chain).
    """

    __slots__ = ("s", "e", "members", "sub", "sub_entry", "closed", "sub32", "tiles",
                 "perron", "last", "colored", "_tiling", "_lookup")

    def __init__(self, s, e, members, sub, sub_entry, closed):
        self.s, self.e, self.members, self.sub, self.sub_entry = s, e, members, sub, sub_entry
        self.closed = closed
        self.sub32 = None
        self.tiles = None
        # (u, z = (I − sub)u): a rough Perron vector for warm re-solves, None until one
        # iterates, False where its sweeps were slow (_Run._warm_krylov); z is None where
        # the coefficients were copied again
        self.perron = None
        # (y, sub y) of the last one-column solve, kept up to date by updates: the
        # next warm start's residual without a pass
        self.last = None
        # sub in colour order for warm re-solves by Gauss–Seidel (:mod:`._colors`),
        # built by the first that iterates and kept through coefficient changes
        self.colored = None
        self._tiling = _tiles.worth_tiling(sub)
        self._lookup = None

    def copy_float32(self) -> None:
        """``sub32`` from ``sub`` (precision float32); the tiles are cut again."""
        self.sub32 = (*self.sub[:2], self.sub[2].astype(np.float32))
        self.tiles = None

    def matrices(self, K):
        """``sub`` and ``sub32`` for a one-right-hand-side BiCGSTAB, tiled where it pays."""
        if not self._tiling:
            return self.sub, self.sub32
        if self.tiles is None:
            self.tiles = _tiles.cut(K, self.sub, self.sub32)
        return self.tiles

    def locate(self, entries) -> tuple[np.ndarray, np.ndarray]:
        """(which of ``entries`` of Aᵀ are in ``sub``, their positions in ``sub``)."""
        if self._lookup is None:
            by_entry = np.argsort(self.sub_entry, kind="stable")
            self._lookup = (self.sub_entry[by_entry], by_entry)
        keys, where = self._lookup
        at = np.minimum(np.searchsorted(keys, entries), max(keys.size - 1, 0))
        hit = keys[at] == entries if keys.size else np.zeros(entries.shape, dtype=bool)
        return hit, where[at[hit]]


class _Ordered:
    """Aᵀ with its rows in level order and its columns numbered by position.

    The blocks are sorted by level (``block_levels``: a block's level is one more than
    the highest level of the blocks it uses), in block order within a level: a valid
    dependency order in which the blocks of one level are contiguous and independent.
    The substitution pass then reads the matrix front to back instead of jumping to each
    product's row (at 10⁶ generated products, 944,623 blocks: 70 ms against 139 ms), its
    inputs sit at earlier positions of the same vector, and each level's rows are split
    between threads as contiguous chunks. Each row keeps its entries in their original
    order, so every dot product, and the answer, is the same to the bit. Coefficient
    changes (:meth:`change`) are applied to it in place; a change of pattern drops it.

    ``order``/``position``: the product at each row of the copy and its inverse;
    ``structure``: the blocks in the copy's numbering (identity order); ``level_ptr``:
    the first block of each level; ``large``: (level, [(block, its first row)]) for the
    levels holding large cyclic blocks.
    """

    def __init__(self, S, M, large, backend):
        K = _ops.kernels(backend)
        indptr, indices, data = M
        idx = S.order.dtype
        n, nb, nnz = len(indptr) - 1, S.n_blocks, int(indptr[-1])
        by_level = np.empty(nb, dtype=idx)
        level_ptr = np.empty(nb + 1, dtype=idx)
        self.n_levels = int(K.block_levels(indptr, indices, S.order, S.block_ptr, by_level,
                                           level_ptr))
        self.level_ptr = level_ptr[:self.n_levels + 1].copy()
        sizes = S.block_sizes[by_level]
        block_ptr = np.zeros(nb + 1, dtype=idx)
        np.cumsum(sizes, out=block_ptr[1:])
        # row a of the copy is row S.order[source[a]]: block by block in level order
        source = np.repeat(S.block_ptr[by_level].astype(np.int64) - block_ptr[:-1], sizes)
        source += np.arange(n)
        self.order = S.order[source]
        self.position = np.empty(n, dtype=idx)
        self.position[self.order] = np.arange(n, dtype=idx)
        self.indptr = np.empty(n + 1, dtype=indptr.dtype)
        self.M = (self.indptr, np.empty(nnz, dtype=indices.dtype), np.empty(nnz, data.dtype))
        K.permute_csr(indptr, indices, data, self.order, self.position, *self.M)
        ident = np.arange(n, dtype=idx)
        self.structure = _structure.BlockStructure(ident, ident, block_ptr, 0.0)
        self.source_indptr = indptr
        # the right-hand side of the last solve in this order, and its rows of R
        self.rhs_key, self.rhs = None, None
        # the large blocks: their first row here and their level
        at = {}
        for blk in large:
            first_row = int(self.position[blk.members[0]])
            k = int(np.searchsorted(block_ptr, first_row, side="right")) - 1
            level = int(np.searchsorted(self.level_ptr, k, side="right")) - 1
            at.setdefault(level, []).append((blk, first_row))
        self.large = sorted(at.items())

    def probe_end(self, first: int, last: int) -> int:
        """The level after the first levels of [first, last) that hold an eighth of its
        entries (at least one level; ``last`` where there is one)."""
        rows = self.structure.block_ptr[self.level_ptr[first:last + 1]]
        entries = self.indptr[rows]
        goal = entries[0] + (entries[-1] - entries[0]) / 8
        return first + max(1, int(np.searchsorted(entries, goal, side="left")))

    def change(self, entries, rows, values) -> None:
        """The entries ``entries`` of Aᵀ (in rows ``rows``) take ``values``."""
        at = (self.indptr[self.position[rows]].astype(np.int64)
              + (entries - self.source_indptr[rows].astype(np.int64)))
        self.M[2][at] = values

    def change_rows(self, rows, lengths, values) -> None:
        """Whole rows ``rows`` of Aᵀ (``lengths`` entries each) take ``values``
        (concatenated in storage order, which the copy keeps)."""
        starts = self.indptr[self.position[rows]].astype(np.int64)
        offsets = np.cumsum(lengths) - lengths
        self.M[2][np.repeat(starts - offsets, lengths) + np.arange(values.size)] = values


def _large_blocks(S, M, backend) -> list:
    """The cyclic blocks larger than DENSE_BLOCK, with their own matrices (built once)."""
    K = _ops.kernels(backend)
    return [_large_block(K, M, S, int(S.block_ptr[k]), int(S.block_ptr[k + 1]))
            for k in np.flatnonzero(S.block_sizes > DENSE_BLOCK)]


def _large_block(K, M, S, s, e) -> _LargeBlock:
    indptr, indices, data = M
    members = S.order[s:e]
    room = int(np.sum(indptr[members + 1] - indptr[members], dtype=np.int64))
    sub = (np.empty(e - s + 1, dtype=indptr.dtype), np.empty(room, dtype=indices.dtype),
           np.empty(room, dtype=data.dtype))
    entry = np.empty(room, dtype=indptr.dtype)  # entry numbers fit indptr's type
    kept = int(K.block_matrix(indptr, indices, data, S.order, S.position, s, e, *sub, entry))
    if kept < room:  # inputs from outside the block were left out: release their room
        sub = (sub[0], sub[1][:kept].copy(), sub[2][:kept].copy())
        entry = entry[:kept].copy()
    return _LargeBlock(s, e, members, sub, entry, closed=kept == room)


class _Run:
    """State of one solve: the vector, the counters and the history."""

    def __init__(self, solver: ValueSolver, b, v0, maxiter, callback, residual0=None,
                 v0_max=None, rhs_key=None):
        self.solver = solver
        self.K = _ops.kernels(solver.backend)
        self.M = solver._M
        self.b = b
        self.v = v0
        # (max|b + Aᵀv0 − v0|, max|v0|) when known (a warm start after update)
        self.residual0 = residual0
        self.v0_max = v0_max  # max|v0| where known (a warm start after update)
        self.vmax = None  # max|v| per column at the last check (:meth:`_judge`)
        self.rhs_key = rhs_key  # b's rows of R and R's generation, or None
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
        self.nonnegative = False  # every value proven ≥ 0 (by the productivity proof)
        self.multi = b.ndim == 2
        self._checked = None  # (iterate, its true residual and Aᵀv)
        nnz = max(int(self.M[0][-1]) if len(self.M[0]) else 0, 1)
        self.nnz = nnz
        self.governor = _ops.ThreadGovernor(solver.backend, solver.options.n_threads,
                                            work=nnz * (b.shape[1] if self.multi else 1))
        self.substitution = None  # the governor of the block passes (built when needed)

    def threads_used(self) -> int:
        return int(self.governor.used)

    def record(self, relative: float):
        self.iterations += 1
        self.history.append(relative)
        if self.callback is not None:
            self.callback(self.iterations, relative)

    def initial_residual(self) -> float:
        """The relative residual of the start, from the residual left by an update if
        known (no pass over A), else from the true residual."""
        if self.residual0 is not None and not self.multi:
            return float(_krylov.relative_norms(*self.residual0))
        return self.true_residual()[0]

    def true_residual(self) -> tuple[float, _Check]:
        """max over right-hand sides of ‖b + Aᵀv − v‖∞ / ‖v‖∞ from the original A, and
        Aᵀv with v (:class:`_Check`).

        Computed once per iterate: asking again for the same ``self.v`` object reuses
        it, so a method that changes ``self.v`` in place after a check must reset
        ``self._checked``. NaN when v or the residual is not finite.
        """
        if self._checked is not None and self._checked[0] is self.v:
            return self._checked[1]
        Atv = np.empty_like(self.v)
        if self.v.shape[0] == 0:
            self.vmax = np.zeros(1)
            return 0.0, _Check(Atv, self.v, None)
        tiles = self.solver._tiles
        if self.multi:
            self.K.csr_matmat(*self.M, self.v, Atv)
        elif tiles is not None:
            self.K.tiled_matvec_dots(*tiles[0].arrays, self.v, self.v, Atv, False)
        else:
            self.K.csr_matvec(*self.M, self.v, Atv)
        self.matvecs += 1
        return self._judge(Atv)

    def _judge(self, Atv, b=None, v=None, where=None) -> tuple[float, _Check]:
        """:meth:`true_residual` of ``self.v`` from its product Aᵀv (computed with the
        original coefficients, by a product or by the substitution pass itself); b, v
        and Aᵀv may be given in another numbering (``where``, see :class:`_Check`)."""
        b = self.b if b is None else b
        v = self.v if v is None else v.reshape(self.v.shape)
        Atv = Atv.reshape(self.v.shape)
        extremes = None
        if v.ndim == 1 or v.shape[1] == 1:  # with the productivity proof's quotients
            out = np.empty(5)
            self.K.residual_quotients(*(np.ascontiguousarray(a).reshape(-1)
                                        for a in (b, Atv, v)), out)
            res, self.vmax = out[:1], out[1:2]
            extremes = (out[2], out[3], out[4], out[1])
        else:
            res, self.vmax = _krylov.residual_norms(self.K, b, Atv, v)
        rel = _krylov.relative_norms(res, self.vmax)
        worst = float(np.nan if np.isnan(rel).any() else np.max(rel))
        self._checked = (self.v, (worst, _Check(Atv, v, where, extremes)))
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
            with self.governor.step():
                if self.multi:
                    K.jacobi_step_multi(*M, b, v, new, res, vmax)
                else:
                    res, vmax = K.jacobi_step(*M, b, v, new)
            relative = float(np.max(_krylov.relative_norms(res, v_norm)))
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
            # Exact (sequential) Gauss-Seidel: one chunk. Chunks per thread would make
            # the iteration, and so the answer's last bits, depend on the thread count.
            if self.multi:
                K.gauss_seidel_multi(*M, b, v, 0, n, 1, change, vmax)
            else:
                change, vmax = K.gauss_seidel(*M, b, v, 0, n, 1)
            relative = float(np.max(_krylov.relative_norms(change, vmax)))
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
        solver = self.solver
        for attempt in range(3):
            # The recursively updated residual can drift from the true one: when the
            # final check disagrees, restart from the true residual with a tighter goal.
            tol = self.rtol * 0.1**attempt
            left = self.maxiter - self.iterations
            if self.multi:
                out = _krylov.bicgstab_columns(self.K, self.M, self.b, x, tol=tol,
                                               maxiter=left, governor=self.governor,
                                               on_iteration=self.record)
            else:
                M, M32 = solver._krylov_matrices()
                if M32 is not None:
                    out = _krylov.refine(self.K, M, M32, self.b, x, tol=tol, maxiter=left,
                                         governor=self.governor, on_iteration=self.record)
                else:
                    out = _krylov.bicgstab(self.K, M, self.b, x, tol=tol, maxiter=left,
                                           governor=self.governor, on_iteration=self.record)
            self.matvecs += out.passes + _FLOAT32_PASS * out.passes32
            self.v = x
            if out.failure is not None or self.true_residual()[0] <= self.rtol:
                break
            x = x.copy()  # a new iterate: the residual check must not reuse the old one
        self._krylov_outcome(out)

    def _krylov_outcome(self, out, what: str = ""):
        if out.failure is None:
            return
        # An overflow inside the recurrence is a breakdown; NOT_FINITE is kept for
        # answers that are not finite (decided by the final check).
        overflow = out.failure == "NOT_FINITE"
        self.failure = Status.BREAKDOWN if overflow else Status[out.failure]
        self.suspect = out.failure in ("BREAKDOWN", "NOT_FINITE")
        note = "the recurrence overflowed" if overflow else out.failure
        self.note = f"{what}: {note}" if what else (note if overflow else self.note)

    def solve_blocks(self):
        m = self.b.shape[0]
        b = self.b.reshape(m, -1)
        # One substitution pass from b: every block but the large ones is solved exactly,
        # so a start (warm after update()) only serves the large blocks' Krylov solves.
        start = None if self.v is None else self.v.reshape(b.shape)
        if start is None:
            atol = None
        else:
            start_max = self.v0_max if self.v0_max is not None else \
                float(np.max(np.abs(start), initial=0.0))
            atol = WARM_SHARE * self.rtol * start_max
        v = np.zeros(b.shape)  # zero pages from the system, not a fill
        if not self.solver._deferred:
            check = self._block_pass(self.solver.structure, b, v, None, atol=atol,
                                     start=start, rhs_key=self.rhs_key)
        else:
            Atv = np.empty_like(b)
            if not self._followed_pass(b, v, Atv, atol, start):
                return getattr(self, "solve_" + self.solver.method)()  # a giant block
            check = (b, Atv, v, None)
        S = self.solver.structure
        self.v = v.reshape(self.b.shape)
        if not self.suspect:  # the pass wrote Aᵀv as it went: the check needs no pass
            rhs_c, Atv_c, v_c, where = check
            self._judge(Atv_c, rhs_c, v_c, where)
        for _ in range(3):
            relative = self.true_residual()[0]
            self.record(relative)
            if relative <= self.rtol or self.suspect or not math.isfinite(relative):
                return
            # Iterative refinement: solve for the correction of the true residual.
            self._correct(S, v, self._residual(b, v))
            self.v = v.reshape(self.b.shape)
        relative = self.true_residual()[0]
        self.record(relative)
        if relative > self.rtol:
            self.note = "block solves did not reach the tolerance after 3 refinements"
            if 0 < float(np.max(np.abs(v))) < np.finfo(float).tiny:
                self.note += ("; the values are subnormal (below 2.2e-308), with too few "
                              "significant bits for rtol: scale the right-hand side up")

    # -- helpers -----------------------------------------------------------------

    def _stalled(self, watch):
        self.failure, self.note, self.suspect = Status.STAGNATED, watch.note, True

    def _residual(self, b, v):
        out = np.empty_like(v)
        self.K.csr_matmat(*self.M, v, out)
        self.matvecs += 1
        out += b
        out -= v
        return out

    def _correct(self, S, v, residual):
        """v += the block solve of (I − M) d = residual (in place)."""
        scale = float(np.max(np.abs(v), initial=0.0))
        correction = np.zeros_like(v)
        # The correction need only be as accurate as the rule asks of v itself.
        self._block_pass(S, residual, correction, None, atol=0.1 * self.rtol * scale)
        v += correction

    def _followed_pass(self, rhs, x, Mx, atol, start) -> bool:
        """The first solve of a solver whose structure is not yet analysed: the component
        search runs on a thread of its own (its kernel releases the GIL and publishes
        each completed component) while this thread substitutes the components as they
        come, in the same order and by the same arithmetic as :meth:`_block_pass`, and
        solves each large cyclic block as the search completes it. The two are each
        bound by memory latency, so on two cores they overlap (10⁶ generated products:
        search and substitution 0.35 s one after the other, 0.23 s together).

        Returns False if ``auto`` found a block too large for substitution to pay
        (:data:`GIANT_SHARE`): the solver then solves by Krylov, and this pass's work is
        dropped."""
        solver = self.solver
        K = self.K
        At = solver._economy.A  # CSR of Aᵀ, the arrays components() would be given
        search = _structure.FollowedSearch(At.indptr, At.indices, K, At.indices.dtype)
        order, block_ptr, partial = search.order, search.block_ptr, search.partial
        # the search holds one core: the large blocks meanwhile are solved on one thread
        alone = _ops.ThreadGovernor(solver.backend, 1, work=self.nnz)
        large, k, why, giant = [], 0, -1, False
        try:
            # While the search finds its first components (the 500,000-product core of
            # 10⁷ generated products takes it 0.57 s), this thread would only wait: it
            # touches the pages of x and Mx now, which a virtual machine charges about
            # 8 µs each on first touch (0.36 s for both at 10⁷), instead of later.
            x.fill(0.0)
            Mx.fill(0.0)
            while True:
                k, why = K.block_solve_follow(*self.M, rhs, x, Mx, order, search.position,
                                              block_ptr, search.progress, k, DENSE_BLOCK)
                if why != 1:
                    break
                s, e = int(block_ptr[k]), int(block_ptr[k + 1])
                members = order[s:e]
                if solver.options.method == "auto" and solver._giant(
                        int(np.sum(At.indptr[members + 1] - At.indptr[members],
                                   dtype=np.int64))):
                    giant = True  # as _blocks_or_krylov decides from the whole analysis
                    break
                blk = _large_block(K, self.M, partial, s, e)
                if solver.options.precision == "float32":
                    blk.copy_float32()
                large.append(blk)
                searching = search.searching
                with _ops.thread_limit(1 if searching else None, solver.backend):
                    self._solve_large(blk, s, partial, self.M, rhs, x, Mx, atol, start,
                                      governor=alone if searching else None)
                k += 1
        finally:
            search.join()
        S = search.result()
        solver._economy._cache["blocks"] = S
        solver._settle(S, None if giant else large)
        if giant:
            return False
        if why == 2:
            self._breakdown()
        self.matvecs += 1
        return True

    def _block_pass(self, S, rhs, x, Mx, *, atol, start=None, rhs_key=None):
        """Solve every component in dependency order into ``x`` and compute M x as it goes
        (rhs, x, Mx and the optional Krylov start of the large blocks: (m, r), products'
        numbering; x is zero on entry). ``rhs_key`` names a right-hand side made of rows
        of R, whose level-ordered copy the next solve of the same rows reuses.

        Returns (rhs, M x, x, where) in the numbering the pass ran in (see
        :class:`_Check`), for the check; M x is also written to ``Mx`` unless it is None.

        The first solve reads the rows in block order through ``S.order`` (the kernel
        prefetches them ahead) and makes no reordered copy of A, which saves a pass and a
        copy of A. From the second solve on, the pass runs on a copy of Aᵀ in level order
        (:class:`_Ordered`), which streams, the blocks of a level split between threads
        where that measurably runs faster (:class:`lab._ops.ThreadGovernor`; the same
        arithmetic, the same answer to the bit)."""
        ordered = self.solver._ordered_copy()
        if ordered is None:
            Mx = np.empty_like(x) if Mx is None else Mx
            self._serial_pass(S, self.M, rhs, x, Mx, atol, start)
            return rhs, Mx, x, None
        if rhs_key is not None and ordered.rhs_key == rhs_key:
            rhs_o = ordered.rhs  # a gather of 10⁶ rows saved (4 ms)
        else:
            rhs_o = self._rows(rhs, ordered.order)
            if rhs_key is not None:
                ordered.rhs_key, ordered.rhs = rhs_key, rhs_o
        x_o, Mx_o = np.zeros_like(rhs_o), np.empty_like(rhs_o)
        self._level_pass(ordered, rhs_o, x_o, Mx_o, atol, start)
        # back to the products' numbering: row i of x is row position[i] of x_o
        self._rows(x_o, ordered.position, x)
        if Mx is not None:
            self._rows(Mx_o, ordered.position, Mx)
        return rhs_o, Mx_o, x_o, ordered.position

    def _rows(self, src, index, out=None):
        """src[index] (rows), into ``out`` (C-contiguous) if given, by the kernels' gather
        (NumPy's take converts int32 indices first and checks each: 5.5 against 2.2 ms
        for 10⁶ rows)."""
        src = np.ascontiguousarray(src)
        if out is None:
            out = np.empty((index.shape[0], src.shape[1]))
        if self.K.gather_rows(src, index, out) != -1:
            raise RuntimeError("the block order holds a position outside the vector")
        return out

    def _breakdown(self):
        # A pivot ≤ 0 in I − M_bb: the block consumes at least what it makes.
        self.suspect, self.failure = True, Status.BREAKDOWN
        self.note = "a component could not be solved (non-positive pivot)"

    def _serial_pass(self, S, M, rhs, x, Mx, atol, start):
        """:meth:`_block_pass` block after block on A's own rows (one thread; large blocks
        by Krylov)."""
        K = self.K
        first = 0
        block_ptr = S.block_ptr
        large = {blk.s: blk for blk in self.solver._large}
        starts = block_ptr[:-1]
        for k in [*np.flatnonzero(S.block_sizes > DENSE_BLOCK), len(starts)]:
            if k > first:
                if K.block_solve(*M, rhs, x, Mx, S.order, S.position, block_ptr, first, k,
                                 DENSE_BLOCK) >= 0:
                    self._breakdown()
                    return
            if k == len(starts):
                break
            blk = large[int(starts[k])]
            self._solve_large(blk, blk.s, S, M, rhs, x, Mx, atol, start)
            first = k + 1
        self.matvecs += 1

    def _level_pass(self, ordered, rhs, x, Mx, atol, start):
        """:meth:`_block_pass` on the level-ordered copy (``rhs``, ``x`` and ``Mx`` in its
        numbering): the levels in order, each level's blocks on the threads the governor
        chooses, the large blocks after their level."""
        if self.substitution is None:
            self.substitution = _ops.ThreadGovernor(
                self.solver.backend, self.solver.options.n_threads, work=self.nnz,
                kind="substitution")
        S, M = ordered.structure, ordered.M
        done = 0  # levels solved
        for level, blocks in [*ordered.large, (ordered.n_levels, [])]:
            stop = min(level + 1, ordered.n_levels)
            while stop > done:
                # A probe (the other thread count) costs its step's time over again
                # where that count is the slower one (a whole pass on one thread: 32
                # against 17 ms at 10⁶ generated products), so it takes only the first
                # levels holding an eighth of the range's entries.
                end = stop
                if self.substitution.probes_next():
                    end = ordered.probe_end(done, stop)
                first, last = S.block_ptr[ordered.level_ptr[[done, end]]]
                with self.substitution.step(work=int(M[0][last] - M[0][first]) + 1):
                    bad = self.K.block_solve_levels(*M, rhs, x, Mx, S.order, S.position,
                                                    S.block_ptr, ordered.level_ptr, done,
                                                    end, DENSE_BLOCK)
                if bad >= 0:
                    self._breakdown()
                    return
                done = end
            for blk, first_row in blocks:
                self._solve_large(blk, first_row, S, M, rhs, x, Mx, atol, start,
                                  in_order=True)
        self.matvecs += 1

    def _solve_large(self, blk, s, S, M, rhs, x, Mx, atol, start, governor=None, *,
                     in_order=False):
        """Solve the cyclic component ``blk`` at positions [s, s + its size) of ``S`` by
        BiCGSTAB (inputs from earlier blocks final; S, M, rhs, x and Mx in the products'
        numbering or all in the level order's, ``in_order``, where the block's rows are
        the slice [s, e) and are read as views; ``start``, the Krylov start, or None for
        zero, in the products' numbering) and write its rows of M x to ``Mx``."""
        e = s + (blk.e - blk.s)
        members = slice(s, e) if in_order else S.order[s:e]
        # Inputs from earlier components are final: move them to the right-hand side
        # (a block without outside inputs has none; its rows need not be read).
        if blk.closed:
            external = None
            block_rhs = rhs[members]
        else:
            external = np.zeros((e - s, x.shape[1]))
            x[members] = 0.0
            self.K.csr_matvec_rows(*M, S.order[s:e], x, external)
            block_rhs = rhs[members] + external
        y = np.zeros(block_rhs.shape) if start is None else start[blk.members]
        what = "BiCGSTAB"
        share = len(blk.sub[1]) / self.nnz
        if x.shape[1] == 1:
            target, guess = np.ascontiguousarray(block_rhs[:, 0]), y[:, 0]
            sub, sub32 = blk.matrices(self.K)
            governor = governor or self._block_governor(blk, 1)
            if sub32 is not None:
                out = _krylov.refine(self.K, sub, sub32, target, guess, tol=0.1 * self.rtol,
                                     maxiter=self.maxiter, governor=governor)
            elif start is not None and blk.perron is not False:  # False: it was slow here
                out = self._warm_krylov(blk, sub, target, guess, atol, governor)
                what = "Gauss–Seidel sweeps (BiCGSTAB where slow)"
            else:
                out = _krylov.bicgstab(self.K, sub, target, guess, tol=0.1 * self.rtol,
                                       atol=atol or 0.0, maxiter=self.maxiter,
                                       governor=governor)
        else:
            out = _krylov.bicgstab_columns(self.K, blk.sub, block_rhs, y,
                                           tol=0.1 * self.rtol, maxiter=self.maxiter,
                                           governor=governor or self._block_governor(blk, 1))
        x[members] = y
        # M x of the block's rows: the outside part (external) plus the block's own
        # product, on its compact copy (streamed) instead of the rows of A (gathered),
        # unless the solve's last pass made it
        inside = np.empty_like(y)
        if out.product is not None:
            inside[:, 0] = out.product
        else:
            self.K.csr_matmat(*blk.sub, y, inside)
        blk.last = (y[:, 0].copy(), inside[:, 0].copy()) if y.shape[1] == 1 else None
        if external is not None:
            inside += external
        Mx[members] = inside
        # its rows: read from A for the outside inputs unless closed, once in the block
        self.matvecs += share * ((out.product is None) + (not blk.closed) + out.passes
                                 + _FLOAT32_PASS * out.passes32)
        self._krylov_outcome(out, f"inner {what} on a cyclic block of {e - s} products")

    def _block_governor(self, blk, columns: int) -> _ops.ThreadGovernor:
        """The thread governor of a large block's solve, its work the block's: with A's
        (the run's governor), the 10⁶ generated core's steps were compared per unit of
        A's work with whole passes over A of other solves in the process, and its sweeps
        stayed on one thread (8 sweeps 11.6 against 5.6 ms on two; after `lab bench`'s
        Jacobi and Krylov solves, every real-time re-solve)."""
        return _ops.ThreadGovernor(self.solver.backend, self.solver.options.n_threads,
                                   work=max(int(blk.sub[0][-1]), 1) * columns)

    def _warm_krylov(self, blk, sub, target, guess, atol, governor):
        """A warm start's solve of a large block: Gauss–Seidel sweeps in colour order
        with the block's Perron direction deflated
        (:func:`~lab.values._krylov.deflated_gauss_seidel`: 19–21 passes against 29–32
        for deflated Richardson and 37–39 for BiCGSTAB, re-solves of the 10⁶ generated
        core after 10³ changes; Richardson where the block is stored in tiles), BiCGSTAB
        going on from its answer where it is slow. The Perron vector and the coloured
        copy (:mod:`._colors`) are made at the first warm solve that iterates (11 passes
        and about 35 ms at 50,000 products) and kept through later updates of the
        coefficients: the deflation needs its direction only roughly, and z = (I − M)u
        follows the coefficients (``_update._follow``), as M y of the last answer y does,
        which gives the start's residual where the start is y. Where the sweeps are
        slow (another eigenvalue near ρ) they are not tried again on this block."""
        tol, n = 0.1 * self.rtol, blk.e - blk.s
        out = _krylov.Outcome()

        def perron():
            if blk.perron is None:
                blk.perron = _krylov.perron_vector(self.K, sub, n, governor=governor)
                out.passes += _krylov.PERRON_STEPS + 1
            elif blk.perron[1] is None:
                u = blk.perron[0]
                z = np.empty(n)
                self.K.identity_minus_matvec(*blk.sub, u, z)
                blk.perron = (u, z)
                out.passes += 1
            return blk.perron

        def colored():
            if blk.colored is None:
                blk.colored = _colors.build(self.K, blk.sub)
            return blk.colored

        last = blk.last
        known = last[1] if last is not None and np.array_equal(last[0], guess) else None
        options = dict(perron=perron, tol=tol, atol=atol or 0.0, Mx=known,
                       maxiter=self.maxiter, governor=governor)
        if isinstance(sub, _tiles.Tiles):  # no locality: the tiles' product pays more
            first = _krylov.deflated_richardson(self.K, sub, target, guess, **options)
        else:
            first = _krylov.deflated_gauss_seidel(self.K, sub, target, guess,
                                                  colored=colored, **options)
        out.passes += first.passes
        out.iterations, out.failure = first.iterations, first.failure
        out.product = first.product
        if first.failure == "SLOW":
            out.product = None
            blk.perron = False
            rest = _krylov.bicgstab(self.K, sub, target, guess, tol=tol, atol=atol or 0.0,
                                    maxiter=max(self.maxiter - first.iterations, 1),
                                    governor=governor)
            out.passes += rest.passes
            out.iterations += rest.iterations
            out.failure = rest.failure
        return out


class _Check(NamedTuple):
    """Aᵀv of a checked iterate, with v, in the numbering ``where`` maps the products
    into (row where[j] is product j's; None: the products' own). The substitution pass
    checks its answer in its own level order, where it computed Aᵀv: the same maxima,
    and no gather of Aᵀv back to the products (2 ms at 10⁶ products)."""

    Av: np.ndarray
    v: np.ndarray
    where: np.ndarray | None
    #: (max, min of (Aᵀv)_j / v_j, min v, max |v|) of a one-column check, else None
    extremes: tuple | None = None


def _narrow(M):
    """CSR arrays with int32 indices where they fit (an int64 economy stays as given).

    Every matrix pass then reads 12 bytes per non-zero instead of 16; the copy costs
    about one pass and a third of the int64 index array's memory, and pays from the
    second pass on."""
    indptr, indices, data = M
    if indices.dtype == np.int32 or int(indptr[-1]) >= np.iinfo(np.int32).max \
            or len(indptr) - 1 >= np.iinfo(np.int32).max:
        return M
    return indptr.astype(np.int32), indices.astype(np.int32), data


#: A float32 matrix pass, in units of float64 passes (8 against 12 bytes per non-zero).
_FLOAT32_PASS = 2.0 / 3.0


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


def _norms(v):
    return _krylov.column_max_abs(v) if v.ndim == 2 else np.array([np.abs(v).max(initial=0.0)])


def _rate_note(history, rtol) -> str:
    if len(history) < 10 or not history[-1] > 0:
        return ""
    rate = (history[-1] / history[-10]) ** (1 / 9)
    if not 0 < rate < 1:
        return f"the residual is not shrinking (ratio per sweep ≈ {rate:.4f})"
    more = math.log(rtol / history[-1]) / math.log(rate)
    return (f"residual shrinks by ≈ {rate:.4f} per sweep: about {math.ceil(more)} more sweeps "
            "would be needed; use method='krylov' or 'blocks', or raise maxiter")
