"""Gross output and resource footprints of final demand: x = (I − A)⁻¹y, V = R(I − A)⁻¹.

Both are solves of lab's value equation. The multipliers V (pymrio's ``M``) are the
vertically integrated coefficients of the resource rows, v = r + Aᵀv, one right-hand
side per resource. Gross output solves (I − A)x = y, which is the value equation of
the *transposed* use matrix: x = y + Ax. A :class:`FootprintSolver` therefore holds
two :class:`~lab.values.ValueSolver`: one on the economy, one on an economy whose use
matrix is Aᵀ (one CSC copy of A, made once), and solves every demand scenario of a
call as one multi-right-hand-side solve with the structure analysis of both reused.

Footprints follow: the footprint of scenario s is ``V @ y_s`` (resources × scenarios;
pymrio's ``D_cba_reg`` without ``F_Y`` when the scenarios are regions), and what the final demand of
product j embodies is ``V[:, j] * y_s[j]`` (pymrio's ``D_cba`` before it groups
products by sector). ``R @ x_s`` is the same total counted where it is produced; the
result states how far the two agree, a check of both solves at once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import scipy.sparse as sp

from lab._validation import check_finite_nonnegative, dense_from_sparse, readonly
from lab.analysis._common import check_economy, resource_rows
from lab.economy import Economy
from lab.exceptions import InvalidEconomyError
from lab.values import Status, ValueSolver, ValuesOptions, ValuesResult

__all__ = ["FootprintResult", "FootprintSolver", "footprint"]


@dataclass(frozen=True, repr=False)
class FootprintResult:
    """Gross output and resource footprints of one or more final-demand scenarios.

    Attributes
    ----------
    gross_output : pandas.DataFrame
        x = (I − A)⁻¹y: products × scenarios, indexed by product code.
    totals : pandas.DataFrame
        The footprint of each scenario, V·y: resources × scenarios.
    embodied : Mapping
        Scenario label → resources × products DataFrame V·diag(y): what the final
        demand of each product embodies (its columns sum to ``totals``). Computed on
        access, so many scenarios of a large economy cost no memory until read.
    multipliers : pandas.DataFrame
        V = R(I − A)⁻¹: resources × products, the resources used directly and
        indirectly per unit of final demand of each product (pymrio's ``M``).
    final_demand : pandas.DataFrame
        The demand as solved, products × scenarios (unlisted products are 0).
    converged : bool
        Both solves met their tolerance.
    status : Status
        ``CONVERGED``, or the status of the solve that did not converge.
    message : str
    residual : float
        The larger of the two relative residuals, each recomputed from A:
        ‖y + Ax − x‖∞/‖x‖∞ (the gross output) and ‖r + Aᵀv − v‖∞/‖v‖∞ (the multipliers).
    consistency : float
        max abs(R·x − V·y) / max abs(V·y) over resources and scenarios: the footprint
        counted where it is produced against where it is consumed. Both solves
        are independent, so a small value confirms both.
    output_solve, multiplier_solve : ValuesResult
        The two solves with all their evidence (method, iterations, residual
        history, productivity bound, timings).
    timings : mapping
        Seconds: ``setup`` (Aᵀ and the structure analyses; counted by the first solve
        of a :class:`FootprintSolver` only), ``multipliers`` (0 once they are kept),
        ``gross_output``, ``total``.
    """

    gross_output: object
    totals: object
    embodied: Mapping
    multipliers: object
    final_demand: object
    converged: bool
    status: Status
    message: str
    residual: float
    consistency: float
    output_solve: ValuesResult
    multiplier_solve: ValuesResult
    timings: MappingProxyType

    def __repr__(self) -> str:
        m, s = self.gross_output.shape
        r = self.totals.shape[0]
        state = "converged" if self.converged else f"NOT converged ({self.status.name})"
        return (f"FootprintResult({m} products × {s} scenario{'s' if s != 1 else ''}, "
                f"{r} resource{'s' if r != 1 else ''}; {state}, residual {self.residual:.1e}, "
                f"consistency {self.consistency:.1e}, {self.timings['total']:.3g} s)")


class _Embodied(Mapping):
    """Scenario label → V·diag(y_s) as a resources × products DataFrame, built on access."""

    def __init__(self, V, Y, scenarios, resources, codes):
        self._V, self._Y = V, Y
        self._scenarios, self._resources, self._codes = scenarios, resources, codes

    def __getitem__(self, scenario):
        import pandas as pd

        try:
            j = self._scenarios.get_loc(scenario)
        except (KeyError, TypeError):
            raise KeyError(f"no scenario {scenario!r}; the scenarios are "
                           f"{list(self._scenarios[:10])}"
                           f"{' ...' if len(self._scenarios) > 10 else ''}") from None
        return pd.DataFrame(self._V * self._Y[:, j], index=self._resources, columns=self._codes)

    def __iter__(self):
        return iter(self._scenarios)

    def __len__(self) -> int:
        return len(self._scenarios)

    def __repr__(self) -> str:
        return (f"<embodied: {len(self)} scenario(s), each {len(self._resources)} resources × "
                f"{len(self._codes)} products, computed on access>")


class FootprintSolver:
    """Set up once, solve many final-demand scenarios: gross output and footprints.

    Holds the structure analysis of A (for the multipliers) and of Aᵀ (for gross
    output), and the multipliers of every resource selection solved so far.

    Parameters
    ----------
    economy : Economy
    options : ValuesOptions, optional
        Method, tolerance, backend and threads of both solves (see
        :func:`lab.labour_values`); ``rtol`` applies to each.
    **kwargs
        Fields of :class:`ValuesOptions`, when ``options`` is not given.

    Notes
    -----
    Memory: one CSC copy of A (Aᵀ) beside the economy, and what the two value
    solvers keep (with ``method="blocks"``, a reordered copy of each matrix).

    Examples
    --------
    >>> import lab
    >>> economy = lab.generate_economy(1000, seed=1)
    >>> solver = lab.FootprintSolver(economy)
    >>> a = solver.solve({"P3": 1.0})
    >>> b = solver.solve(economy.labour)      # reuses the set-up and the multipliers
    >>> a.converged and b.converged
    True
    """

    def __init__(self, economy, options: ValuesOptions | None = None, **kwargs):
        if options is None:
            options = ValuesOptions(**kwargs)
        elif kwargs:
            raise TypeError("pass either options or keyword options, not both")
        t0 = time.perf_counter()
        self.economy = check_economy(economy)
        self.options = options
        self._values = ValueSolver(economy, options)
        # (I − A)x = y is v = b + Aᵀv for the economy whose use matrix is Aᵀ.
        self._transposed = Economy(sp.csc_array(economy.A.T), economy.R[:1])
        self._leontief = ValueSolver(self._transposed, options)
        self._multipliers: dict[tuple, ValuesResult] = {}
        self._codes = None
        self._setup_seconds = time.perf_counter() - t0

    @property
    def codes(self):
        """The products as a :class:`pandas.Index`: ``economy.index`` (built once)."""
        if self._codes is None:
            self._codes = self.economy.index
        return self._codes

    def multipliers(self, resources="all") -> ValuesResult:
        """V = R(I − A)⁻¹ for the chosen resource rows (solved once, then kept)."""
        rows = tuple(resource_rows(self.economy, resources))
        if rows not in self._multipliers:
            self._multipliers[rows] = self._values.solve(resources=list(rows))
        return self._multipliers[rows]

    def solve(self, demand, *, resources="all") -> FootprintResult:
        """Gross output and footprints of ``demand``; see :func:`footprint`."""
        import pandas as pd

        t0 = time.perf_counter()
        economy = self.economy
        m = economy.n_products
        Y, scenarios = _demand_matrix(economy, demand, self)
        rows = resource_rows(economy, resources)
        names = pd.Index([economy.resource_names[q] for q in rows], name="resource")
        t1 = time.perf_counter()
        mult = self.multipliers(rows)
        t2 = time.perf_counter()
        out = self._leontief.solve(rhs=Y[:, 0] if Y.shape[1] == 1 else Y.T)
        t3 = time.perf_counter()

        # The frames share these arrays (no copy): read-only, so that a result cannot
        # change under its lazily computed `embodied`. Y is lab's own copy of the demand.
        V = readonly(mult.values.reshape(len(rows), m))
        X = readonly(out.values.reshape(Y.shape[1], m).T)  # products × scenarios
        # einsum, not BLAS: with r ≈ 3 rows the product is memory-bound anyway, and
        # threaded BLAS stalled for 0.2 s at 10⁴ products on a loaded 2-core machine.
        totals = np.einsum("qm,ms->qs", V, Y)
        produced = np.einsum("qm,ms->qs", economy.R[rows], X)
        scale = float(np.max(np.abs(totals), initial=0.0))
        gap = float(np.max(np.abs(produced - totals), initial=0.0))
        consistency = gap / scale if scale > 0 else (0.0 if gap == 0 else np.inf)

        converged = out.converged and mult.converged
        status = (Status.CONVERGED if converged
                  else out.status if not out.converged else mult.status)
        message = f"gross output: {out.message}; multipliers: {mult.message}"
        codes = self.codes
        t_end = time.perf_counter()
        setup, self._setup_seconds = self._setup_seconds, 0.0  # paid by the first solve
        return FootprintResult(
            gross_output=pd.DataFrame(X, index=codes, columns=scenarios, copy=False),
            totals=pd.DataFrame(totals, index=names, columns=scenarios),
            embodied=_Embodied(V, Y, scenarios, names, codes),
            multipliers=pd.DataFrame(V, index=names, columns=codes, copy=False),
            final_demand=pd.DataFrame(Y, index=codes, columns=scenarios, copy=False),
            converged=converged, status=status, message=message,
            residual=max(out.residual, mult.residual), consistency=consistency,
            output_solve=out, multiplier_solve=mult,
            timings=MappingProxyType({
                "setup": setup, "multipliers": t2 - t1, "gross_output": t3 - t2,
                "total": setup + (t_end - t0)}))


def footprint(economy, demand, *, resources="all", method: str = "auto", rtol: float = 1e-10,
              maxiter: int | None = None, backend: str = "auto", n_threads: int | None = None,
              raise_on_failure: bool = False) -> FootprintResult:
    """Gross output x = (I − A)⁻¹y and the resource footprints of final demand y.

    All scenarios are solved as one multi-right-hand-side solve, and the
    multipliers V = R(I − A)⁻¹ as another; for many calls on one economy, keep a
    :class:`FootprintSolver`, which also keeps the set-up and the multipliers.

    Parameters
    ----------
    economy : Economy
    demand : array_like, pandas.Series, pandas.DataFrame or mapping
        Final demand, in units of each product (the unit of the economy's flows for
        a money-valued table):

        * a 1-D array of m entries (one scenario) or a 2-D array, products ×
          scenarios, in the economy's product order;
        * a Series (one scenario, named by the Series' name) or a DataFrame (one
          column per scenario) indexed by product code, or a mapping
          ``{code: amount}``. Products not listed have zero final demand.

        Negative entries are allowed: in input-output tables final demand includes
        changes in inventories and net exports, which may be negative. Gross output
        is then whatever (I − A)⁻¹y is, negative entries included.
    resources : "all", str, int or sequence of those, default "all"
        The resource rows whose footprints are computed. ``"labour"`` names the row
        called so, or else row 0.
    method, rtol, maxiter, backend, n_threads, raise_on_failure
        Options of both solves, as for :func:`lab.labour_values`. Each stops when
        its relative residual is at most ``rtol``.

    Returns
    -------
    FootprintResult
        ``gross_output`` (products × scenarios), ``totals`` (resources ×
        scenarios), ``embodied`` (scenario → resources × products),
        ``multipliers`` (resources × products), both residuals and the status.

    Raises
    ------
    InvalidEconomyError
        ``demand`` of the wrong length or shape, with unknown or duplicated product
        codes, NaN or infinite entries, or entries that are not real numbers
        (complex, boolean, strings); an unknown resource.
    NotProductiveError
        ρ(A) ≥ 1: the economy cannot meet a final demand.

    Notes
    -----
    Correspondence with pymrio for a multi-regional system converted by
    :func:`lab.from_pymrio`, with ``Y`` summed over final-demand categories into one
    column per region and passed as ``demand``: ``gross_output`` summed over the
    scenarios is pymrio's ``x``; ``multipliers`` is ``M`` (rows: the extension
    rows); ``totals`` is ``D_cba_reg`` less the direct emissions of final demand
    ``F_Y``, which are not production and not in the Economy; and pymrio's ``D_cba`` column
    ``(region, sector)`` is ``embodied[region]`` summed over the products of that
    sector (pymrio groups the demanded products by sector, whatever their region).

    Examples
    --------
    >>> import numpy as np, lab
    >>> A = np.array([[0.1, 0.2], [0.3, 0.0]])
    >>> economy = lab.Economy(A, [1.0, 2.0], codes=["corn", "iron"])
    >>> result = lab.footprint(economy, {"corn": 10.0})
    >>> np.round(result.gross_output[0].to_numpy(), 6)
    array([11.904762,  3.571429])
    >>> round(float(result.totals.loc["labour", 0]), 6)      # = 1·x_corn + 2·x_iron
    19.047619
    >>> result.embodied[0]
    code           corn  iron
    resource
    labour    19.047619   0.0
    """
    options = ValuesOptions(method=method, rtol=rtol, maxiter=maxiter, backend=backend,
                            n_threads=n_threads, raise_on_failure=raise_on_failure)
    return FootprintSolver(economy, options).solve(demand, resources=resources)


# ---------------------------------------------------------------------- demand


def _demand_matrix(economy, demand, solver):
    """``demand`` as a C-contiguous float64 array, products × scenarios, and the labels."""
    import pandas as pd

    m = economy.n_products
    if isinstance(demand, Mapping) and not isinstance(demand, pd.Series):
        demand = pd.Series(dict(demand), dtype=None if demand else float)
    if isinstance(demand, pd.Series):
        demand = demand.to_frame(name=0 if demand.name is None else demand.name)
    if isinstance(demand, pd.DataFrame):
        return _labelled(economy, demand, solver)

    if sp.issparse(demand):
        demand = dense_from_sparse("demand", demand)
    arr = np.asarray(demand)
    if arr.dtype.kind not in "iuf":
        raise InvalidEconomyError(
            f"demand must hold real numbers, got dtype {arr.dtype}"
            + (" (complex final demand has no meaning)" if arr.dtype.kind == "c" else ""))
    if arr.ndim not in (1, 2):
        raise InvalidEconomyError(
            f"demand must be 1-D (one scenario) or 2-D (products × scenarios), "
            f"got shape {arr.shape}")
    if arr.shape[0] != m:
        hint = (" (it looks like scenarios × products: pass its transpose)"
                if arr.ndim == 2 and arr.shape[1] == m else "")
        raise InvalidEconomyError(
            f"demand has shape {arr.shape} but the economy has {m} products; demand "
            f"must be products × scenarios{hint}")
    Y = np.array(arr[:, None] if arr.ndim == 1 else arr, dtype=np.float64,
                 order="C")  # lab's own copy: see solve
    if Y.shape[1] == 0:
        raise InvalidEconomyError(f"demand has no scenarios (shape {arr.shape})")
    scenarios = pd.RangeIndex(Y.shape[1], name="scenario")
    _check_finite(Y, lambda i: economy.codes_at(i)[0], scenarios)
    return readonly(Y), scenarios


def _labelled(economy, frame, solver):
    import pandas as pd
    from pandas.api import types

    m = economy.n_products
    if frame.shape[1] == 0:
        raise InvalidEconomyError("demand has no scenarios (a DataFrame without columns)")
    if frame.columns.has_duplicates:
        dup = frame.columns[frame.columns.duplicated()].unique().tolist()
        raise InvalidEconomyError(f"demand has duplicated scenario labels: {dup[:5]}")
    for label, dtype in frame.dtypes.items():
        if (not types.is_numeric_dtype(dtype) or types.is_bool_dtype(dtype)
                or types.is_complex_dtype(dtype)):
            raise InvalidEconomyError(
                f"demand column {label!r} must hold real numbers, got dtype {dtype}")
    # lab's own C-ordered copy (a frame's values may be a view of its column-major blocks)
    values = np.array(frame.to_numpy(dtype=np.float64, na_value=np.nan), order="C")
    labels = frame.index
    scenarios = frame.columns
    if not labels.equals(solver.codes):
        if labels.has_duplicates:
            dup = labels[labels.duplicated()].unique().tolist()
            raise InvalidEconomyError(f"demand lists product codes more than once: {dup[:5]}")
        if economy._index is not None and labels.isin(solver.codes).all():
            labels = pd.Index(economy.codes[solver.codes.get_indexer(labels)])
        if len(labels) and not all(isinstance(c, str) for c in labels):
            bad = next(c for c in labels if not isinstance(c, str))
            raise InvalidEconomyError(
                f"demand is indexed by {bad!r} ({type(bad).__name__}), but product codes are "
                "strings (a code like '01' read from a file needs dtype={'code': str})")
        try:
            positions = economy.index_of(list(labels))
        except KeyError as exc:  # UnknownCodeError
            raise InvalidEconomyError(f"demand: {exc}") from None
        Y = np.zeros((m, values.shape[1]))
        Y[positions] = values
        values, labels = Y, solver.codes
    _check_finite(values, lambda i: labels[i], scenarios)
    return readonly(values), pd.Index(scenarios)


def _check_finite(Y, code_of, scenarios):
    def locate(k: int) -> str:
        i, s = divmod(k, Y.shape[1])
        label = scenarios[s]
        label = label.item() if isinstance(label, np.generic) else label
        return f"[{code_of(i)!r}, {label!r}]"

    check_finite_nonnegative("demand", Y, locate, nonnegative=False)

