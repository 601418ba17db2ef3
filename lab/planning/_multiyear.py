"""Multi-year plans: investment, capital stocks and depreciation (MATH.md §4).

A :class:`MultiYearProblem` is T years of one economy (or one economy per year),
capital coefficients C (C[s, p] units of good s in industry p's stock per unit of
p's yearly output), depreciation δ, the stocks K₁ at the start, optional terminal
stocks, yearly targets and yearly resources. :func:`lab.plan` solves it and returns a
:class:`MultiYearResult` (yearly outputs, consumption, investment, stocks, prices)
with the same proof as every plan: a feasible plan and a certified bound.

How it is solved
----------------
The plan is written with year-indexed products, the single plan of MATH.md §3 that
§4 describes: goods (i, y) and stocks (s, p, y) for y = 1 … T + 1; techniques
make (p, y), hold (s, p, y) and invest (s, p, y):

* make (p, y) makes one unit of good (p, y) from A_y[:, p] of the year's goods and
  R_y[:, p] of the year's resources; it ties up C[s, p] of each stock (s, p, y) and
  returns it, depreciated, as (1 − δ[s, p])·C[s, p] of stock (s, p, y + 1);
* hold (s, p, y) carries an idle unit of stock (s, p, y) into (1 − δ) units of
  (s, p, y + 1);
* invest (s, p, y) turns a unit of good (s, y) into a unit of stock (s, p, y + 1).

The stock balance of (s, p, y) is then exactly C[s, p]·x_y[p] ≤ K_y[s, p] with
K_{y+1} = (1 − δ)K_y + I_y (capital left idle or unaccounted is disposed of, which
never helps), the goods balance is x_y − A_y x_y − Σ_p I_y[·, p] − c_y ≥ 0 with
consumption c_y the net output of the goods, and K₁ enters as the initial stock of
(s, p, 1). The matrix is block lower-triangular in time, and the stocks are the
only link between years. The general route (balanced units, restarted Halpern
PDHG on fused kernels, certificates) solves it; the propagated intensity bounds of
:mod:`lab.planning._certificate` keep the dual bound finite although holding and
investing use no resource and have no capacity.

A plan ray (one rate φ) is first tried the way a planning office would draw it up:
consume φ·t_y, invest just in time, and take the largest φ the first year's stocks and
the resources allow; the prices at which that plan's techniques break even bound it
(:mod:`lab.planning._just_in_time`). Where that proves it, no iteration is needed (the
generated 5-year plans of 10³–10⁵ products); where investing earlier would pay, both
plan and bound go into the primal-dual solve as its first certificate.

Terminal stocks (K_{T+1} ≥ K_term) mean x = 0 is no longer a plan. The forward
repair invests what they need in the last year, so iterates near the optimum reach
them. Where no iterate does, a plan ray maximises θ with K_{T+1} ≥ θ·K_term: a
certified θ < 1 proves that no plan reaches them (status ``INFEASIBLE``); a plan
with θ > 1 is kept as an anchor, the solve starts again from it, and every
certificate blends its repaired plan with the anchor just enough to reach them.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import scipy.sparse as sp

from lab import _ops
from lab.economy import Economy
from lab.exceptions import InvalidEconomyError, InvalidProblemError, InvalidTypeError
from lab.planning import _certificate
from lab.planning import _just_in_time as just_in_time
from lab.planning._certificate import Objective
from lab.planning._polish import Polisher
from lab.planning._problem import WEIGHTINGS, PlanningProblem, _entries
from lab.planning._weights import value_weights

__all__ = ["MultiYearProblem", "MultiYearResult", "solve_multiyear"]


def _is_series(value) -> bool:
    return hasattr(value, "index") and hasattr(value, "to_numpy") and not isinstance(
        value, np.ndarray)


def _count(name, value, low=1) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)) \
            or value < low:
        raise InvalidProblemError(f"{name} must be an integer ≥ {low}, got {value!r}")
    return int(value)


def _square_like(name, value, m, codes, *, allow_scalar=False, low=0.0, high=np.inf
                 ) -> sp.csc_array | float:
    """An m × m matrix ≥ 0 (dense or sparse) as canonical CSC; or a scalar if allowed."""
    if allow_scalar and isinstance(value, numbers.Real) and not isinstance(value, bool):
        v = float(value)
        if not low <= v <= high:
            raise InvalidProblemError(f"{name} must be in [{low}, {high}], got {v!r}")
        return v
    from lab._validation import check_sparse_matrix

    try:
        M = check_sparse_matrix(name, value, (m, m), label=lambda i: str(codes[i]),
                                col_label=lambda j: str(codes[j]))
    except InvalidProblemError:
        raise
    except InvalidEconomyError as exc:
        raise InvalidProblemError(str(exc)) from None
    if M.nnz and float(M.data.max()) > high:
        k = int(np.argmax(M.data))
        col = int(np.searchsorted(M.indptr, k, side="right") - 1)
        raise InvalidProblemError(
            f"{name} must be in [{low}, {high}]; {name}[{str(codes[M.indices[k]])!r}, "
            f"{str(codes[col])!r}] = {float(M.data[k])!r}")
    return M


def _at_pattern(M: sp.csc_array, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The entries of ``M`` at (rows, cols) (0 where M stores nothing)."""
    if not rows.size:
        return np.zeros(0)
    return np.asarray(sp.csr_array(M)[rows, cols]).ravel()


class MultiYearProblem:
    """A plan over several years with investment, capital stocks and depreciation.

    Parameters
    ----------
    economy : Economy or sequence of Economy
        The technology (A, R), the same every year, or one economy per year (the same
        products and resources in the same order).
    years : int
        T ≥ 1.
    targets : array (years, m), or mapping {year: {product code: amount}}
        Final consumption wanted in each year (years numbered 1 … T in a mapping);
        0 or missing = no target. At least one target > 0.
    available : array (years, r), mapping {resource: amount or [amount per year]}, optional
        Resources available each year; ``inf`` or missing = not limited.
    capital : m × m, dense or sparse, optional
        C[s, p] ≥ 0 units of good s that must be in industry p's stock per unit of p's
        yearly output; a zero column: p needs no capital. None: no capital at all.
    depreciation : float, array (m,) or m × m
        δ ∈ [0, 1]: one rate, one per capital good s, or per (s, p) like ``capital``.
    initial_stocks : m × m, optional
        K₁[s, p] ≥ 0, the stock of good s held by industry p at the start (only where
        C[s, p] > 0). Default none.
    terminal_stocks : None, float or m × m
        A lower bound on the stocks left after the last year, K_{T+1} ≥ K_term: a
        matrix like ``capital``, or a fraction f of K₁ (K_term = f·K₁). Without one
        the last years invest nothing, since nothing after the horizon rewards it.
    weights : {"value", "uniform"}, mapping or array (m,)
        Harmony weights per product, as for :class:`PlanningProblem`. ``"value"`` (the
        default): w_{y,i} ∝ v_i·t_{y,i} with the labour values of the year's economy,
        mean 1 over all targets of all years, so every target of a year is met in the
        same proportion where labour alone binds.
    year_weights : array (years,) or mapping {year: β}, optional
        β_y ≥ 0 multiplying the harmony of year y (default 1).

    Raises
    ------
    InvalidProblemError
        Shapes, signs, unknown codes or years, depreciation outside [0, 1], stocks
        where C is 0, no target at all.

    Examples
    --------
    One consumption good (grain) and one capital good (tractors, 2 per unit of grain
    a year, half of them wear out each year), 30 hours a year:

    >>> import numpy as np, lab
    >>> economy = lab.Economy(np.zeros((2, 2)), [1.0, 3.0], codes=["grain", "tractor"])
    >>> problem = lab.MultiYearProblem(
    ...     economy, years=2, targets=[[10.0, 0.0], [10.0, 0.0]], available=[[30.0], [30.0]],
    ...     capital=[[0.0, 0.0], [2.0, 0.0]], depreciation=0.5,
    ...     initial_stocks=[[0.0, 0.0], [20.0, 0.0]])
    >>> ray = lab.plan(problem, method="plan-ray")
    >>> bool(abs(ray.objective - 6 / 7) < 1e-6), ray.converged
    (True, True)
    """

    def __init__(self, economy, *, years, targets, available=None, capital=None,
                 depreciation=0.0, initial_stocks=None, terminal_stocks=None,
                 weights="value", year_weights=None):
        T = _count("years", years)
        economies = self._economies(economy, T)
        first = economies[0]
        m = first.n_products
        codes = first.codes
        self._economies_ = tuple(economies)
        self._T = T
        self._codes = codes
        self._resource_names = first.resource_names
        self._t = self._yearly("targets", targets, T, codes, "products", allow_inf=False,
                               default=0.0)
        if not (self._t > 0).any():
            raise InvalidProblemError("targets must give at least one product a target > 0")
        self._rho = self._available(available, T, self._resource_names)
        if capital is None:
            C = sp.csc_array((m, m))
        else:
            C = _square_like("capital", capital, m, codes)
        self._C = C
        C = C.tocoo()
        order = np.lexsort((C.row, C.col))  # by industry p, then good s
        self._s = C.row[order].astype(np.intp)
        self._p = C.col[order].astype(np.intp)
        self._c = C.data[order].astype(np.float64)
        keep = self._c > 0
        self._s, self._p, self._c = self._s[keep], self._p[keep], self._c[keep]
        self._delta = self._depreciation(depreciation, m, codes)
        self._K1 = self._stocks("initial_stocks", initial_stocks, m, codes)
        if terminal_stocks is None:
            self._Kterm = None
        elif isinstance(terminal_stocks, numbers.Real) and not isinstance(terminal_stocks,
                                                                          bool):
            f = float(terminal_stocks)
            if not (np.isfinite(f) and f >= 0):
                raise InvalidProblemError(f"terminal_stocks as a fraction of initial_stocks "
                                          f"must be finite and ≥ 0, got {f!r}")
            self._Kterm = f * self._K1
        else:
            self._Kterm = self._stocks("terminal_stocks", terminal_stocks, m, codes)
        if self._Kterm is not None and not self._Kterm.any():
            self._Kterm = None
        self._beta = self._year_weights(year_weights, T)
        self._weighting, self._w = self._weights(weights, codes)
        self._cache = {}

    # ------------------------------------------------------------ validation

    @staticmethod
    def _economies(economy, T) -> list[Economy]:
        if isinstance(economy, Economy):
            return [economy] * T
        if isinstance(economy, Sequence) and not isinstance(economy, (str, bytes)):
            items = list(economy)
            if len(items) != T or not all(isinstance(e, Economy) for e in items):
                raise InvalidProblemError(
                    f"economy must be a lab.Economy or a list of {T} (one per year), got "
                    f"{len(items)} item(s)")
            first = items[0]
            for y, e in enumerate(items[1:], start=2):
                if e.n_products != first.n_products or list(e.codes) != list(first.codes):
                    raise InvalidProblemError(
                        f"the economy of year {y} has other products than year 1's")
                if e.resource_names != first.resource_names:
                    raise InvalidProblemError(
                        f"the economy of year {y} has resources {e.resource_names}, year 1 "
                        f"{first.resource_names}")
            return items
        raise InvalidTypeError(f"economy must be a lab.Economy or a list of them, got "
                               f"{type(economy).__name__}")

    @staticmethod
    def _yearly(name, value, T, labels, what, *, allow_inf, default) -> np.ndarray:
        n = labels.shape[0]
        if isinstance(value, Mapping):
            out = np.full((T, n), default)
            for year, entry in value.items():
                y = MultiYearProblem._year(name, year, T)
                if isinstance(entry, Mapping) or _is_series(entry):
                    if name == "targets":
                        for key, v in (entry.items() if isinstance(entry, Mapping) else []):
                            if isinstance(v, numbers.Real) and not isinstance(
                                    v, (bool, np.bool_)) and not v > 0:
                                raise InvalidProblemError(
                                    f"targets must be > 0; targets[{year!r}][{key!r}] = "
                                    f"{float(v)!r} (leave a product out to give it no "
                                    "target)")
                    out[y] = _entries(f"{name}[{year!r}]", entry, labels, what,
                                      allow_inf=allow_inf, default=default)
                else:
                    raise InvalidProblemError(
                        f"{name}[{year!r}] must be a mapping {{code: amount}}, got "
                        f"{type(entry).__name__}")
            return out
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidProblemError(f"{name} must be numeric: {exc}") from None
        if arr.shape != (T, n):
            raise InvalidProblemError(f"{name} must have shape (years, {what}) = {(T, n)}, "
                                      f"got {arr.shape}")
        bad = np.isnan(arr) | (arr < 0) | (~np.isfinite(arr) if not allow_inf else False)
        if bad.any():
            y, i = np.argwhere(bad)[0]
            rule = "≥ 0" + ("" if allow_inf else " and finite")
            raise InvalidProblemError(f"{name} must be {rule}; {name}[year {y + 1}, "
                                      f"{str(labels[i])!r}] = {float(arr[y, i])!r}")
        return arr.copy()

    @staticmethod
    def _year(name, year, T) -> int:
        if not isinstance(year, numbers.Integral) or isinstance(year, (bool, np.bool_)) \
                or not 1 <= year <= T:
            raise InvalidProblemError(f"{name} names year {year!r}; years are 1 … {T}")
        return int(year) - 1

    @staticmethod
    def _available(available, T, names) -> np.ndarray:
        r = len(names)
        if available is None:
            return np.full((T, r), np.inf)
        if isinstance(available, Mapping) or _is_series(available):
            items = available.items() if isinstance(available, Mapping) else \
                zip(available.index.tolist(), available.to_numpy().tolist(), strict=True)
            out = np.full((T, r), np.inf)
            position = {n: q for q, n in enumerate(names)}
            for key, amount in items:
                if key not in position:
                    raise InvalidProblemError(
                        f"available names the unknown resource {key!r}; resources are "
                        f"{', '.join(names)}")
                arr = np.asarray(amount, dtype=np.float64) if not isinstance(
                    amount, (str, bytes)) else np.array(np.nan)
                if arr.ndim == 0:
                    arr = np.full(T, float(arr))
                if arr.shape != (T,) or np.isnan(arr).any() or (arr < 0).any():
                    raise InvalidProblemError(
                        f"available[{key!r}] must be one amount ≥ 0 or {T} of them, got "
                        f"{amount!r}")
                out[:, position[key]] = arr
            return out
        return MultiYearProblem._yearly("available", available, T,
                                        np.asarray(names, dtype=object), "resources",
                                        allow_inf=True, default=np.inf)

    def _depreciation(self, value, m, codes) -> np.ndarray:
        """δ at each capital entry (s, p)."""
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            d = float(value)
            if not 0 <= d <= 1:
                raise InvalidProblemError(f"depreciation must be in [0, 1], got {d!r}")
            return np.full(self._s.size, d)
        if sp.issparse(value) or np.ndim(value) == 2:
            M = _square_like("depreciation", value, m, codes, high=1.0)
            return _at_pattern(M, self._s, self._p)
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidProblemError(f"depreciation must be numeric: {exc}") from None
        if arr.shape != (m,):
            raise InvalidProblemError(f"depreciation must be a number, one per capital good "
                                      f"({m},) or an m × m matrix, got shape {arr.shape}")
        if np.isnan(arr).any() or (arr < 0).any() or (arr > 1).any():
            i = int(np.flatnonzero(np.isnan(arr) | (arr < 0) | (arr > 1))[0])
            raise InvalidProblemError(f"depreciation must be in [0, 1]; depreciation"
                                      f"[{str(codes[i])!r}] = {float(arr[i])!r}")
        return arr[self._s]

    def _stocks(self, name, value, m, codes) -> np.ndarray:
        """A stock matrix like C, as values at C's entries (an error outside them)."""
        if value is None:
            return np.zeros(self._s.size)
        M = _certificate.without_zeros(sp.csc_array(_square_like(name, value, m, codes)))
        Mc = M.tocoo()
        inside = np.zeros(Mc.nnz, dtype=bool)
        if self._s.size and Mc.nnz:
            key = self._s.astype(np.int64) * m + self._p
            k = Mc.row.astype(np.int64) * m + Mc.col
            inside = np.isin(k, key)
        if not inside.all():
            j = int(np.flatnonzero(~inside)[0])
            raise InvalidProblemError(
                f"{name} holds {float(Mc.data[j])!r} of {str(codes[Mc.row[j]])!r} in industry "
                f"{str(codes[Mc.col[j]])!r}, which needs none of it (capital is 0 there)")
        return _at_pattern(M, self._s, self._p)

    @staticmethod
    def _year_weights(value, T) -> np.ndarray:
        if value is None:
            return np.ones(T)
        if isinstance(value, Mapping):
            out = np.ones(T)
            for year, b in value.items():
                out[MultiYearProblem._year("year_weights", year, T)] = b
            value = out
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidProblemError(f"year_weights must be numeric: {exc}") from None
        if arr.shape != (T,) or not np.all(np.isfinite(arr)) or (arr < 0).any():
            raise InvalidProblemError(f"year_weights must be {T} finite numbers ≥ 0, got "
                                      f"{value!r}")
        return arr

    def _weights(self, weights, codes) -> tuple[str, np.ndarray]:
        t = self._t
        if weights is None:
            weights = "uniform"
        if isinstance(weights, str):
            if weights not in WEIGHTINGS:
                raise InvalidProblemError(f"weights must be one of {WEIGHTINGS}, a mapping, "
                                          f"a Series or an array, got {weights!r}")
            if weights == "uniform":
                w = np.where(t > 0, 1.0, 0.0)
            else:
                from lab.planning._exact import integrated

                v = np.stack([integrated(e, np.array([0]), "auto", None)[0]
                              for e in self._economies_])
                w = value_weights(t.ravel(), v.ravel()).reshape(t.shape)
            return weights, w * self._beta[:, None]
        w = _entries("weights", weights, codes, "products", allow_inf=False, default=1.0)
        return "given", np.where(t > 0, w[None, :], 0.0) * self._beta[:, None]

    # ------------------------------------------------------------ attributes

    @property
    def years(self) -> int:
        return self._T

    @property
    def economies(self) -> tuple[Economy, ...]:
        """The economy of each year."""
        return self._economies_

    @property
    def n_products(self) -> int:
        return self._codes.shape[0]

    @property
    def n_resources(self) -> int:
        return len(self._resource_names)

    @property
    def product_codes(self) -> np.ndarray:
        return self._codes

    @property
    def resource_names(self) -> tuple[str, ...]:
        return self._resource_names

    @property
    def targets(self) -> np.ndarray:
        """t (years, m), 0 where there is no target."""
        return self._t

    @property
    def weights(self) -> np.ndarray:
        """The harmony weight of each target, β_y·w_{y,i} (years, m)."""
        return self._w

    @property
    def weighting(self) -> str:
        return self._weighting

    @property
    def year_weights(self) -> np.ndarray:
        return self._beta

    @property
    def available(self) -> np.ndarray:
        """ρ (years, r), ``inf`` where not limited."""
        return self._rho

    @property
    def capital(self) -> sp.csc_array:
        """C (m × m)."""
        return self._C

    def _like_capital(self, values) -> sp.csc_array:
        m = self.n_products
        return sp.csc_array((values, (self._s, self._p)), shape=(m, m))

    @property
    def depreciation(self) -> sp.csc_array:
        """δ at every entry of C (m × m, the pattern of C)."""
        return self._like_capital(self._delta)

    @property
    def initial_stocks(self) -> sp.csc_array:
        """K₁ (m × m)."""
        return self._like_capital(self._K1)

    @property
    def terminal_stocks(self) -> sp.csc_array | None:
        """K_term (m × m) or None."""
        return None if self._Kterm is None else self._like_capital(self._Kterm)

    @property
    def capital_entries(self) -> tuple[np.ndarray, np.ndarray]:
        """(s, p) of every entry of C, in the order of the stock products."""
        return self._s, self._p

    def __repr__(self) -> str:
        nt = int((self._t > 0).sum())
        return (f"MultiYearProblem({self._T} years, {self.n_products} products, "
                f"{self._s.size} capital entries, {self.n_resources} resource"
                f"{'s' if self.n_resources != 1 else ''}, {nt} targets"
                f"{', terminal stocks' if self._Kterm is not None else ''})")

    # ------------------------------------------------------------ the year-indexed plan

    def _layout(self):
        m, T, E = self.n_products, self._T, self._s.size
        return m, T, E, m * T, E * (T + 1)

    def as_planning_problem(self, *, terminal: str = "required") -> PlanningProblem:
        """The year-indexed single plan of MATH.md §4 (see the module docstring).

        Products: goods ``code@y`` then stocks ``s>p@y`` (y = 1 … T + 1); techniques
        ``make:code@y``, ``hold:s>p@y``, ``invest:s>p@y``; resources ``name@y``.
        ``terminal``: ``"required"`` (K_{T+1} ≥ K_term as required net outputs) or
        ``"targets"`` (K_term as the only targets: the first plan ray).
        """
        key = ("planning", terminal)
        if key in self._cache:
            return self._cache[key]
        m, T, E, n_goods, n_stocks = self._layout()
        r = self.n_resources
        s, p, c, d = self._s, self._p, self._c, self._delta
        use_r, use_c, use_v = [], [], []
        make_r, make_c, make_v = [], [], []
        for y, e in enumerate(self._economies_):
            A = e.A.tocoo()
            use_r.append(y * m + A.row)
            use_c.append(y * m + A.col)
            use_v.append(A.data)
            make_r.append(y * m + np.arange(m))
            make_c.append(y * m + np.arange(m))
            make_v.append(np.ones(m))
            # make (p, y) ties up C[s, p] of stock (s, p, y), returns (1 − δ)C at y + 1
            use_r.append(n_goods + y * E + np.arange(E))
            use_c.append(y * m + p)
            use_v.append(c)
            make_r.append(n_goods + (y + 1) * E + np.arange(E))
            make_c.append(y * m + p)
            make_v.append((1.0 - d) * c)
            hold = n_goods + y * E + np.arange(E)
            invest = n_goods + T * E + y * E + np.arange(E)
            use_r.append(n_goods + y * E + np.arange(E))
            use_c.append(hold)
            use_v.append(np.ones(E))
            make_r.append(n_goods + (y + 1) * E + np.arange(E))
            make_c.append(hold)
            make_v.append(1.0 - d)
            use_r.append(y * m + s)
            use_c.append(invest)
            use_v.append(np.ones(E))
            make_r.append(n_goods + (y + 1) * E + np.arange(E))
            make_c.append(invest)
            make_v.append(np.ones(E))
        n_rows = n_goods + n_stocks
        k = n_goods + 2 * T * E

        def build(rows, cols, vals):
            M = sp.csc_array((np.concatenate(vals), (np.concatenate(rows),
                                                     np.concatenate(cols))), shape=(n_rows, k))
            M.sum_duplicates()
            M.eliminate_zeros()
            return M

        A = build(use_r, use_c, use_v)
        B = build(make_r, make_c, make_v)
        R = np.zeros((r * T, k))
        for y, e in enumerate(self._economies_):
            R[y * r:(y + 1) * r, y * m:(y + 1) * m] = e.R
        rho = self._rho.ravel()
        s0 = np.zeros(n_rows)
        s0[n_goods:n_goods + E] = self._K1
        t = np.zeros(n_rows)
        w = np.zeros(n_rows)
        required = None
        if terminal == "targets":
            t[n_goods + T * E:] = self._Kterm
            w[n_goods + T * E:] = np.where(self._Kterm > 0, 1.0, 0.0)
        else:
            t[:n_goods] = self._t.ravel()
            w[:n_goods] = self._w.ravel()
            if self._Kterm is not None:
                required = np.zeros(n_rows)
                required[n_goods + T * E:] = self._Kterm
        codes, tcodes, rnames = self._labels()
        problem = PlanningProblem._from_arrays(
            A, B, R, t, w, rho, np.full(k, np.inf), s0, codes=codes, technique_codes=tcodes,
            resource_names=rnames, required=required, weighting=self._weighting)
        self._cache[key] = problem
        return problem

    def _labels(self):
        if "labels" not in self._cache:
            T = self._T
            codes = [str(c) for c in self._codes]
            pairs = [f"{codes[a]}>{codes[b]}" for a, b in zip(self._s, self._p, strict=True)]
            goods = [f"{c}@{y + 1}" for y in range(T) for c in codes]
            stocks = [f"{q}@{y + 1}" for y in range(T + 1) for q in pairs]
            make = [f"make:{c}@{y + 1}" for y in range(T) for c in codes]
            hold = [f"hold:{q}@{y + 1}" for y in range(T) for q in pairs]
            invest = [f"invest:{q}@{y + 1}" for y in range(T) for q in pairs]
            rnames = [f"{n}@{y + 1}" for y in range(T) for n in self._resource_names]
            self._cache["labels"] = (np.array(goods + stocks, dtype=object),
                                     np.array(make + hold + invest, dtype=object), rnames)
        return self._cache["labels"]

    def repair_for(self, internal) -> ForwardRepair:
        """The forward repair of the year-indexed plan ``internal`` (any units)."""
        return ForwardRepair(internal, self._layout(), self._s, self._p)

    def ray_groups(self) -> np.ndarray:
        """For each target of the year-indexed plan, the number of its year among the
        years that have targets (the groups of ``plan-ray-sum``)."""
        idx = np.flatnonzero(self._t.ravel() > 0)
        year = idx // self.n_products
        _, groups = np.unique(year, return_inverse=True)
        return groups.astype(np.intp)


@dataclass(frozen=True)
class MultiYearResult:
    """A multi-year plan and its evidence (see :class:`lab.PlanResult` for the shared
    fields: objective, bound, gap, relative_gap, converged, status, message, ...).

    Attributes
    ----------
    output : ndarray (years, m)
        Gross output x_y of every product.
    consumption : ndarray (years, m)
        c_y, what is left of each year's output after inputs and investment.
    fulfilment : ndarray (years, m)
        c_y / t_y (NaN where there is no target).
    investment : list of scipy.sparse.csr_array (m × m), one per year
        I_y[s, p]: units of good s made in year y and added to industry p's stock.
    stocks : list of scipy.sparse.csr_array (m × m), years + 1 of them
        K_y[s, p], the stock at the start of year y (K₁ given; the last one is what the
        plan leaves after the horizon).
    phi : ndarray (years,)
        The smallest fulfilment of each year (NaN for a year without targets): the
        rates of the plan rays.
    prices : ndarray (years, m)
        Shadow prices of the goods, year by year (harmony or φ per unit).
    resource_prices, resource_use : ndarray (years, r)
    available : ndarray (years, r)
    x : ndarray
        Intensities of the year-indexed techniques (make, hold, invest; see
        :meth:`MultiYearProblem.as_planning_problem`), the start ``x0`` of another solve.
    """

    objective: float
    bound: float
    gap: float
    relative_gap: float
    converged: bool
    status: object
    message: str
    output: np.ndarray
    consumption: np.ndarray
    fulfilment: np.ndarray
    investment: list
    stocks: list
    phi: np.ndarray
    prices: np.ndarray
    resource_prices: np.ndarray
    resource_use: np.ndarray
    available: np.ndarray
    infeasibility: float
    iterations: int
    history: np.ndarray
    method: str
    method_reason: str
    solver: str
    n_threads: int
    timings: MappingProxyType
    x: np.ndarray = field(repr=False)
    problem: MultiYearProblem = field(repr=False, compare=False)

    @property
    def harmony(self) -> float:
        from lab.planning._harmony import harmony_of

        t = self.problem.targets
        has = t > 0
        return float(np.dot(self.problem.weights[has], harmony_of(self.consumption[has],
                                                                   t[has])))

    @property
    def min_fulfilment(self) -> float:
        f = self.fulfilment[np.isfinite(self.fulfilment)]
        return float(f.min()) if f.size else np.nan

    def frame(self):
        """A tidy table indexed by (year, code): output, consumption, target,
        fulfilment, investment made of the product, price (0 where its effect, price ×
        the product's amount that year, is below what the certificate resolves, as in
        :meth:`PlanResult.products_frame`; ``prices`` keeps the certificate's numbers)."""
        import pandas as pd

        from lab.planning._solve import shown_prices

        T, m = self.output.shape
        codes = [str(c) for c in self.problem.product_codes]
        index = pd.MultiIndex.from_product([range(1, T + 1), codes], names=["year", "code"])
        invested = np.stack([np.asarray(I.sum(axis=1)).ravel() for I in self.investment])
        target = np.where(self.problem.targets > 0, self.problem.targets, np.nan)
        amount = np.maximum.reduce([self.output, self.consumption, self.problem.targets])
        price = np.where(amount > 0, shown_prices(self.prices, amount, self.objective),
                         self.prices)
        return pd.DataFrame({"output": self.output.ravel(),
                             "consumption": self.consumption.ravel(),
                             "target": target.ravel(), "fulfilment": self.fulfilment.ravel(),
                             "investment": invested.ravel(), "price": price.ravel()},
                            index=index)

    def to_html(self, path, **options):
        """Write this result's self-contained HTML report (see :func:`lab.report.to_html`)."""
        from lab import _html

        return _html.render(self, path, **options)

    def summary(self, top: int = 5) -> str:
        from lab.planning._solve import summary_lines

        t = self.problem.targets
        where = np.argwhere(t > 0)
        codes = [f"{str(self.problem.product_codes[i])}@{y + 1}" for y, i in where]
        fulfil = self.fulfilment[t > 0]
        years, m = self.output.shape
        return summary_lines(self.status, self.method, self.objective, self.relative_gap,
                             self.min_fulfilment, codes, fulfil, self.message, top,
                             route=self.solver, shape=f"{years} years × {m} products",
                             iterations=self.iterations, seconds=self.timings.get("total"))

    def __repr__(self) -> str:
        return f"MultiYearResult({self.summary()})"


class ForwardRepair:
    """A feasible plan near an iterate, year after year (the repair of multi-year plans).

    The generic repair grows the makers of a short product; for a stock that means
    more investment or production in earlier years, which needs more capital still,
    and shortages travel back and forth through the years; and it shrinks every user
    of a short product in proportion, so a tiny shortfall of a tiny input cuts whole
    industries. The years are instead taken in order, as a planning office would, and
    each year's production is made consistent through the year's Leontief inverse:

    1. with the stocks K_y the repaired earlier years leave, the capacity of p is
       min_s K_y[s, p] / C[s, p];
    2. investment is what the iterate invests, at least what next year's iterate ties
       up or holds (so that a shortfall of a tiny stock does not cut an industry next
       year) or, in the last year, the terminal stocks;
    3. the iterate's consumption plus that investment is made exactly:
       x = (B − A)⁻¹ n (a value solve on the year's economy, analysis cached); where x
       exceeds a capacity by the factor 1/f_p, every net output that needs p, directly
       or indirectly, is cut by the smallest such f, and x solved again (so a product
       without capacity stops exactly what depends on it, nothing else); finally one
       factor ≤ 1 meets the year's resources;
    4. idle capital is held, investment is cut to what the year makes of each good,
       and K_{y+1} follows.

    O(nnz) plus one value solve per year. ``problem`` is the year-indexed plan in the
    solver's units.
    """

    def __init__(self, problem, layout: tuple, s: np.ndarray, p: np.ndarray):
        m, T, E, n_goods, _ = layout
        self.problem, self.m, self.T, self.E, self.n_goods = problem, m, T, E, n_goods
        self.s, self.p = s, p
        A = sp.csr_array(problem.A)
        B = sp.csr_array(problem.B)
        r = problem.n_resources // T
        e = np.arange(E)
        self.years = []
        for y in range(T):
            goods = np.arange(y * m, (y + 1) * m)
            stock = n_goods + y * E + e
            later = n_goods + (y + 1) * E + e
            hold = n_goods + y * E + e
            invest = n_goods + T * E + y * E + e
            Ay = sp.csc_array(A[goods][:, goods])
            b = np.asarray(B[goods, goods]).ravel()
            year = PlanningProblem._from_arrays(
                Ay, sp.csc_array(sp.diags_array(b)), problem.R[y * r:(y + 1) * r][:, goods],
                problem.targets[goods], problem.weights[goods],
                problem.available[y * r:(y + 1) * r], np.full(m, np.inf), np.zeros(m),
                codes=problem.product_codes[goods], technique_codes=problem.technique_codes[goods],
                resource_names=problem.resource_names[y * r:(y + 1) * r])
            if E:
                parts = (np.asarray(A[stock, goods[p]]).ravel(),     # tied up by make
                         np.asarray(B[later, goods[p]]).ravel(),     # returned by make
                         np.asarray(A[stock, hold]).ravel(),         # held
                         np.asarray(B[later, hold]).ravel(),         # held, next year
                         np.asarray(A[y * m + s, invest]).ravel(),   # good spent to invest
                         np.asarray(B[later, invest]).ravel())       # stock built
            else:
                parts = (np.zeros(0),) * 6
            self.years.append((year, b, *parts))
        self.K1 = problem.initial_stocks[n_goods:n_goods + E].copy()
        required = problem._required
        self.terminal = np.zeros(E) if required is None else required[n_goods + T * E:]
        self._solvers = {}
        self._first = {}

    def _leontief(self, y: int, n: np.ndarray) -> np.ndarray:
        """x with (B − A)x = n for year y (B diagonal)."""
        return np.maximum(self.solve(y, n), 0.0)

    def _same_as(self, y: int) -> int:
        """The first year with the same technology as year y (its solvers serve both)."""
        if y not in self._first:
            A, b = self.years[y][0].A, self.years[y][1]
            self._first[y] = next(
                z for z in range(y + 1)
                if np.array_equal(self.years[z][1], b) and self.years[z][0].A.nnz == A.nnz
                and all(np.array_equal(getattr(self.years[z][0].A, name), getattr(A, name))
                        for name in ("indptr", "indices", "data")))
        return self._first[y]

    def solve(self, y: int, rhs: np.ndarray, *, transpose: bool = False) -> np.ndarray:
        """(B_y − A_y)⁻¹ rhs, or (B_y − A_y)⁻ᵀ rhs with ``transpose`` (B diagonal).

        Value solves on A·diag(1/b), analysis cached per year. The right-hand side goes
        in as its positive and negative parts beside a column of ones, so that every
        solve proves the economy productive from its own values (a solve without that
        proof runs the block-wise one once per economy: 8 s at 10⁵ products).
        """
        import warnings

        from lab.exceptions import EfficiencyWarning
        from lab.values._solver import ValueSolver

        b = self.years[y][1]
        key = (self._same_as(y), transpose)
        if key not in self._solvers:
            A = self.years[y][0].A
            cols = np.repeat(np.arange(A.shape[1]), np.diff(A.indptr))
            scaled = sp.csc_array((A.data / b[cols], A.indices, A.indptr), shape=A.shape)
            # values v = c + Mᵀv: M = A·diag(1/b) gives the prices, Mᵀ the quantities
            M = scaled if transpose else sp.csc_array(scaled.T)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", EfficiencyWarning)
                self._solvers[key] = ValueSolver(Economy(M, np.ones((1, self.m))),
                                                 rtol=1e-13)
        rhs = rhs / b if transpose else rhs
        negative = bool((rhs < 0).any())
        parts = [np.maximum(rhs, 0.0)] + ([np.maximum(-rhs, 0.0)] if negative else []) \
            + [np.ones(self.m)]
        v = self._solvers[key].solve(rhs=np.vstack(parts)).values
        out = v[0] - v[1] if negative else v[0]
        return out if transpose else out / b

    @staticmethod
    def _bottlenecks(A: sp.csc_array, f: np.ndarray) -> np.ndarray:
        """g_j = the smallest f_p over p = j and every product j needs, directly or
        indirectly (min-propagation along the inputs; at most m sweeps, usually the
        depth of the supply chains)."""
        g = f.copy()
        if not (g < 1.0).any():
            return g
        counts = np.diff(A.indptr)
        nonempty = counts > 0
        starts = A.indptr[:-1][nonempty]
        for _ in range(A.shape[0]):
            through = np.ones_like(g)
            through[nonempty] = np.minimum.reduceat(np.where(A.data > 0, g[A.indices], 1.0),
                                                    starts)
            new = np.minimum(g, through)
            if (new == g).all():
                break
            g = new
        return g

    def _year(self, y: int, n: np.ndarray, cap: np.ndarray) -> tuple[np.ndarray, int]:
        """Production of year y that makes the net outputs n ≥ 0 as far as the
        capacities and resources allow (see the class docstring)."""
        year = self.years[y][0]
        x = self._leontief(y, n)
        # each net output is cut by the tightest capacity among the products it needs,
        # so x = (B − A)⁻¹ n stays within every capacity
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(x > cap, np.where(x > 0, cap / x, 1.0), 1.0)
        g = self._bottlenecks(year.A, np.clip(f, 0.0, 1.0))
        if (g < 1.0).any():
            n = n * g
            x = np.where(g > 0, self._leontief(y, n), 0.0)
        alpha = 1.0
        over = x > cap
        if over.any():  # the rounding of the solve
            alpha = float(np.min(cap[over] / x[over]))
        limited = np.isfinite(year.available)
        if limited.any():
            used = _certificate.limited_rows(year, limited) @ x
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(used > year.available[limited],
                                 year.available[limited] / used, 1.0)
            alpha = min(alpha, float(ratio.min()))
        x = x * max(alpha, 0.0)
        capped = PlanningProblem._from_arrays(
            year.A, year.B, year.R, year.targets, year.weights, year.available, cap,
            year.initial_stocks, codes=year.product_codes,
            technique_codes=year.technique_codes, resource_names=year.resource_names)
        capped._cache.update(year._cache)
        x, rounds = _certificate.repair(capped, x)  # rounding only, usually 0 rounds
        year._cache.update({k: v for k, v in capped._cache.items()
                            if k in ("net", "make_csr", "target_index")})
        return x, rounds

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        m, T, E, n_goods = self.m, self.T, self.E, self.n_goods
        s, p = self.s, self.p
        raw = np.where(np.isfinite(x), np.maximum(x, 0.0), 0.0)
        x = raw.copy()
        K = self.K1
        rounds = 0
        for y, (year, b, tied, back, held_use, held_back, spent, built) in enumerate(self.years):
            make = slice(y * m, (y + 1) * m)
            hold = slice(n_goods + y * E, n_goods + (y + 1) * E)
            invest = slice(n_goods + T * E + y * E, n_goods + T * E + (y + 1) * E)
            cap = np.full(m, np.inf)
            if E:
                with np.errstate(divide="ignore", invalid="ignore"):
                    np.minimum.at(cap, p, np.where(tied > 0, K / tied, np.inf))
            net = np.maximum(b * raw[make] - year.A @ raw[make], 0.0)
            if not E:
                out, done = self._year(y, net, cap)
                x[make] = out
                rounds += done
                continue
            # what the iterate consumes, and what must be invested: at least what next
            # year's iterate ties up or holds (a shortfall of a tiny stock would cut an
            # industry's whole output next year), in the last year the terminal stocks
            consumed = np.maximum(net - np.bincount(s, weights=spent * raw[invest],
                                                    minlength=m), 0.0)
            carried_raw = back * raw[make][p] + held_back * raw[hold]
            if y + 1 < T:
                after = self.years[y + 1]
                nxt = slice((y + 1) * m, (y + 2) * m)
                later_hold = slice(n_goods + (y + 1) * E, n_goods + (y + 2) * E)
                need = (after[2] * raw[nxt][p] + after[4] * raw[later_hold]) * (1.0 + 1e-9)
            else:
                need = self.terminal * (1.0 + 1e-9)
            with np.errstate(divide="ignore", invalid="ignore"):
                more = np.where(built > 0, np.maximum(need - carried_raw, 0.0) / built, 0.0)
            wish = np.maximum(raw[invest], more)
            demand = consumed + np.bincount(s, weights=spent * wish, minlength=m)
            out, done = self._year(y, demand, cap)
            rounds += done
            x[make] = out
            with np.errstate(divide="ignore", invalid="ignore"):
                idle = np.where(held_use > 0, np.maximum(K - tied * out[p], 0.0) / held_use, 0.0)
            x[hold] = idle
            carried = back * out[p] + held_back * idle
            # top up to what next year needs where capital came out short; what the year
            # makes of each good goes first to the iterate's consumption and investment
            # (in proportion where it falls short), and only its surplus to the top-ups:
            # a top-up that took the consumption of a capital good would zero a target
            # (next year's repair cuts the capacity the top-up would have kept instead,
            # by a factor near 1)
            with np.errstate(divide="ignore", invalid="ignore"):
                more = np.where(built > 0, np.maximum(need - carried, 0.0) / built, 0.0)
            wish = np.maximum(wish, more)
            made = np.maximum(year.net_output(out), 0.0)
            base = np.minimum(raw[invest], wish)
            own = np.bincount(s, weights=spent * base, minlength=m)
            extra = np.bincount(s, weights=spent * (wish - base), minlength=m)
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(consumed + own > 0, made / (consumed + own), 1.0)
                share = np.minimum(share, 1.0) * (1.0 - 1e-12)
                surplus = np.maximum(made - share * (consumed + own), 0.0)
                top = np.where(extra > 0, np.minimum(surplus / extra, 1.0), 1.0)
            x[invest] = base * share[s] + (wish - base) * top[s] * (1.0 - 1e-12)
            K = carried + built * x[invest]
        return x, rounds


def _objective(problem: MultiYearProblem, method: str) -> Objective:
    if method == "plan-ray":
        return Objective("plan-ray")
    if method == "plan-ray-sum":
        return Objective("plan-ray", problem.ray_groups())
    return Objective("harmony")


def _anchor(problem: MultiYearProblem, options, n_threads):
    """A plan that leaves the terminal stocks with room to spare, or a proof that none
    does: the plan ray θ·K_term (returns (x or None, θ, proven bound))."""
    from lab.planning._solve import solve_general

    first = problem.as_planning_problem(terminal="targets")
    enough = 1.0 + 1e-6
    out = solve_general(first, Objective("plan-ray"), gap=options.gap,
                        maxiter=options.maxiter or 200_000, n_threads=n_threads,
                        check_every=options.check_every, time_limit=options.time_limit,
                        enough=enough, repair_factory=problem.repair_for)
    if out.evidence is None:
        return None, np.inf, np.inf, out
    ev = out.evidence
    return (ev.x if ev.objective >= 1.0 else None), ev.objective, ev.bound, out


def solve_multiyear(problem: MultiYearProblem, options, *, callback=None, x0=None):
    """:func:`lab.plan` for a :class:`MultiYearProblem` (see the module docstring)."""
    from lab.planning._solve import PlanStatus, solve_general, status_of

    t0 = time.perf_counter()
    method = "harmony" if options.method == "auto" else options.method
    if method == "cockshott":
        raise InvalidProblemError("method 'cockshott' plans one year; for a multi-year plan "
                                  "use 'harmony', 'plan-ray' or 'plan-ray-sum'")
    inner = problem.as_planning_problem()
    if x0 is not None:
        from lab.planning._solve import check_x0

        x0 = check_x0(inner, x0)
    objective = _objective(problem, method)
    resolved = _ops.resolve_backend(options.backend)
    why = (f"{method}: year-indexed plan of {inner.n_products} products and "
           f"{inner.n_techniques} techniques by primal-dual (PDHG); the stocks link the years")
    with _ops.thread_limit(options.n_threads, resolved, yield_to_load=True), \
            _ops.thread_limit(options.n_threads, "numba", yield_to_load=True):
        from lab.planning._solve import numba_threads

        n_threads = numba_threads()

        def solve(anchor, start):
            # the plan settles long before the method's prices prove it: polishing the
            # prices on the plan's active set (lab.planning._polish) proves it sooner;
            # a plan ray starts from the just-in-time plan and its prices, which often
            # prove it without a single iteration (lab.planning._just_in_time)
            return solve_general(inner, objective, gap=options.gap,
                                 maxiter=options.maxiter or 200_000, n_threads=n_threads,
                                 check_every=options.check_every, callback=callback,
                                 time_limit=options.time_limit, x0=start, anchor=anchor,
                                 repair_factory=problem.repair_for, polish=Polisher(),
                                 presolve=just_in_time.presolve)

        general = solve(None, x0)
        if general.unbounded is None and general.evidence is None:
            # no iterate reached the terminal stocks: a plan ray towards them decides
            # whether any plan does, and gives one to blend with
            anchor, theta, bound, first = _anchor(problem, options, n_threads)
            if anchor is None:
                proven = bound < 1.0 and first.evidence is not None
                text = (f"no plan leaves the terminal stocks: at most {bound:.6g} of them "
                        "(proven by the dual bound)" if proven else
                        f"no plan found that leaves the terminal stocks (best {theta:.6g} of "
                        f"them, bound {bound:.6g})")
                return _empty(problem, inner, options, method, why, text, n_threads, t0,
                              PlanStatus.INFEASIBLE if proven else PlanStatus.MAXITER)
            why += "; terminal stocks through a first plan ray that leaves them"
            general = solve(anchor, anchor)
    if general.unbounded is not None:
        return _empty(problem, inner, options, method, why, f"unbounded: {general.unbounded}",
                      n_threads, t0, PlanStatus.UNBOUNDED)
    ev = general.evidence
    status, text = status_of(ev.relative_gap, options.gap, general.stopped)
    message = (f"{text}: relative gap {ev.relative_gap:.2e} (tolerance {options.gap:.1e}), "
               f"objective {ev.objective:.10g}, bound {ev.bound:.10g}")
    timings = dict(general.timings)
    timings["total"] = time.perf_counter() - t0
    solver = "pdhg"
    if general.stopped == "certified" and general.iterations == 0:
        solver = "just-in-time"
        why = why.replace("by primal-dual (PDHG)", "certified by the just-in-time plan and "
                          "its prices before any primal-dual (PDHG) iteration")
    return _assemble(problem, inner, ev, status, message, general.iterations, general.history,
                     method, why, n_threads, timings, solver=solver)


def _assemble(problem, inner, ev, status, message, iterations, history, method, why,
              n_threads, timings, solver="pdhg") -> MultiYearResult:
    from lab.planning._solve import PlanStatus

    m, T, E, n_goods, _ = problem._layout()
    r = problem.n_resources
    x = ev.x
    output = x[:n_goods].reshape(T, m)
    consumption = ev.n[:n_goods].reshape(T, m)
    t = problem.targets
    with np.errstate(divide="ignore", invalid="ignore"):
        fulfilment = np.where(t > 0, consumption / np.where(t > 0, t, 1.0), np.nan)
    invest = x[n_goods + T * E:].reshape(T, E)
    s, p = problem._s, problem._p
    investment = [sp.csr_array((invest[y], (s, p)), shape=(m, m)) for y in range(T)]
    supply = _certificate._make(inner) @ x + inner.initial_stocks
    stocks = [sp.csr_array((supply[n_goods + y * E:n_goods + (y + 1) * E], (s, p)),
                           shape=(m, m)) for y in range(T + 1)]
    with np.errstate(invalid="ignore"):
        phi = np.array([np.nanmin(fulfilment[y]) if (t[y] > 0).any() else np.nan
                        for y in range(T)])
    prices = ev.prices[:n_goods].reshape(T, m)
    lam = ev.resource_prices.reshape(T, r)
    use = (inner.R @ x).reshape(T, r)
    return MultiYearResult(
        objective=ev.objective, bound=ev.bound, gap=ev.gap, relative_gap=ev.relative_gap,
        converged=status == PlanStatus.OPTIMAL, status=status, message=message, output=output,
        consumption=consumption, fulfilment=fulfilment, investment=investment, stocks=stocks,
        phi=phi, prices=prices, resource_prices=lam, resource_use=use,
        available=problem.available.copy(), infeasibility=ev.infeasibility,
        iterations=iterations, history=history, method=method, method_reason=why,
        solver=solver, n_threads=n_threads, timings=MappingProxyType(timings), x=x,
        problem=problem)


def _empty(problem, inner, options, method, why, text, n_threads, t0, status):
    """A result without a plan (unbounded, or no plan reaches the terminal stocks)."""
    k = inner.n_techniques
    ev = _certificate.Evidence(
        x=np.zeros(k), n=inner.initial_stocks.copy(),
        objective=np.inf if status.name == "UNBOUNDED" else -np.inf, bound=np.inf, gap=np.inf,
        relative_gap=np.inf,
        prices=np.zeros(inner.n_products), resource_prices=np.zeros(inner.n_resources),
        profit=np.zeros(k), infeasibility=0.0 if status.name == "UNBOUNDED" else np.inf,
        repair_rounds=0)
    timings = {"setup": 0.0, "solve": 0.0, "certify": 0.0,
               "total": time.perf_counter() - t0}
    return _assemble(problem, inner, ev, status, text, 0, np.zeros((0, 2)), method, why,
                     n_threads, timings)
