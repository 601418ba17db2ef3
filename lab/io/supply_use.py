"""Supply-use tables: from rectangular supply and use tables to a square :class:`Economy`.

Statistical offices publish a **supply** table (which industry makes how much of
which product) and a **use** table (which industry uses how much of which product)
for n industries and m products, in money. lab's square model (``docs/MATH.md``
§1–2) needs one technique per product, so the rectangular tables are converted
under one of the standard technology assumptions (Eurostat, *Manual of Supply,
Use and Input-Output Tables*, 2008, ch. 11, models A–D; Miller & Blair,
*Input-Output Analysis*, 2nd ed. 2009, ch. 5).

Orientation (one convention for every argument)
-----------------------------------------------
Both tables are **products × industries**, as in the Eurostat manual and the SNA:

* ``supply`` S, shape (m, n): ``S[i, k]`` = output of product i by industry k;
* ``use`` U, shape (m, n): ``U[i, k]`` = product i used up by industry k as an
  intermediate input (domestic use, or total use: the caller decides);
* ``resource_totals`` T, shape (n,) or (r, n): ``T[q, k]`` = resource q used by
  industry k (row 0 is labour: hours, employment or compensation).

A **make** table in the US (BEA) layout is industries × products: pass ``make.T``.
Both dense array_likes (NumPy, pandas: a DataFrame's index and columns become the
product and industry codes unless ``codes``/``industry_codes`` are given) and
``scipy.sparse`` matrices are accepted. Entries must be finite and ≥ 0; a negative
entry (e.g. Statistics Sweden's −229 supply cell, or BEA's negative government
purchases) is an error naming the cell: set it to 0 or net it out first.

Derived vectors: q = S·1 (product output, length m), g = Sᵀ·1 (industry output,
length n). With them:

* ``B_ind = U·diag(1/g)`` (m × n): product i used per unit of industry k's output;
* ``D = Sᵀ·diag(1/q)`` (n × m): market shares, ``D[k, j]`` = share of product j's
  output made by industry k (columns sum to 1);
* ``C = S·diag(1/g)`` (m × n): product mix, ``C[i, k]`` = share of industry k's
  output that is product i (columns sum to 1).

The assumptions (``assumption=``)
---------------------------------
All results follow :class:`lab.Economy`'s orientation: ``A[i, j]`` units of input
i per unit of output j, ``R[q, j]`` resource q per unit of output j.

``"industry-technology"`` (Eurostat model B, product × product, m × m)
    Every product made by an industry is made with that industry's average input
    structure. ``A = U·diag(1/g)·Sᵀ·diag(1/q) = B_ind·D``; flows
    ``Z = U·diag(1/g)·Sᵀ`` (``Z[i, j] = Σ_k U[i, k]·S[j, k]/g[k]``), total output q.
    Resources are shared out over an industry's products by its product mix:
    ``R = T·diag(1/g)·Sᵀ·diag(1/q)``, i.e. resource totals per product
    ``T·diag(1/g)·Sᵀ``, which keeps every resource's national total. Row sums of Z
    equal those of U (intermediate use of each product is kept). Always ≥ 0.
    This is how ``shared/data/io/sweden-2016`` and ``usa-2017-bea-detail`` were built.

``"fixed-product-sales"`` (Eurostat model D, industry × industry, n × n)
    Every product has its own sales structure, whichever industry makes it.
    ``A = Sᵀ·diag(1/q)·U·diag(1/g) = D·B_ind``; flows ``Z = Sᵀ·diag(1/q)·U``
    (``Z[k, l] = Σ_i S[i, k]/q[i]·U[i, l]``), total output g, ``R = T·diag(1/g)``
    (resources stay with their industry; totals unchanged). Column sums of Z equal
    those of U. Always ≥ 0. The economy's "products" are the n industries and its
    codes are ``industry_codes``.

``"product-technology"`` (Eurostat model A, product × product, m × m)
    Every product has one input structure, whichever industry makes it, so industry
    k's inputs are ``U[:, k] = Σ_j A[:, j]·S[j, k]``, i.e. ``U = A·S`` and
    ``A = U·S⁻¹``; likewise ``R = T·S⁻¹``. It needs a square (m = n), invertible S
    and forms a dense m × m result (fine for published tables of up to a few
    thousand products). Flows ``Z = A·diag(q)``, total output q, ``Z·1 = U·1`` and
    ``R·q = T·1`` (resource totals kept). It is the economically preferred
    assumption, but where an industry's secondary products are made with a
    different input mix than their principal producer it creates **negative
    coefficients**. They are reported in
    :attr:`SupplyUseResult.negative_coefficients` (count, sum, the most negative,
    and every (input, output) pair), and ``negative=`` decides what happens:
    ``"error"`` (default) raises :class:`NegativeCoefficientsError` (an
    :class:`~lab.exceptions.InvalidEconomyError` carrying the report);
    ``"clip"`` sets them to 0 with a :class:`NegativeCoefficientsWarning` and the
    result says so (``result.negative == "clip"``, ``report.action == "clip"``).
    Clipping breaks ``U = A·S`` and the resource totals by the clipped amounts.
    Values in ``[-1e-12·max|A|, 0)`` are rounding noise of the inversion and are set
    to 0 silently (counted in ``notes``).

(Model C, industry × industry under fixed *industry* sales structure, has no
row of lab's model and is not provided.)

Zero output
-----------
* An industry with zero output (g_k = 0) but some use or resources is an error
  naming it (inputs with nothing made). An industry with nothing at all is ignored
  (models A/B) or dropped from the economy (model D).
* A product with zero output (q_j = 0) that is not used is dropped (models A/B; in
  model A it makes S singular and is an error). One that *is* used (imports only,
  second-hand goods) raises, unless ``zero_output="drop_use"``: then its use is
  dropped too, i.e. treated as a non-produced input (as done for BEA's S00402),
  and the amount is listed in ``notes``. ``zero_output="error"`` raises on any
  zero-output product or industry. Dropped codes are in
  :attr:`Economy.dropped` / :attr:`Economy.dropped_reasons`.

The rectangular form, for the planner (techniques ≠ products)
-------------------------------------------------------------
No assumption is needed at all if industries are kept as **techniques**
(``docs/MATH.md`` §1, k = n): :func:`rectangular` returns ``A = U·diag(1/g)``
(m × k use per unit of industry activity), ``B = S·diag(1/g)`` (m × k make per
unit of activity: joint production where an industry makes several products) and
``R = T·diag(1/g)``, with intensity x = g reproducing the published tables
(``B·g = q``, ``A·g = U·1``, ``R·g = T·1``). This is the input intended for the
planning issue's ``Economy(A, R, B=...)``.

Examples
--------
>>> import numpy as np
>>> from lab.io.supply_use import from_supply_use
>>> S = np.array([[90.0, 10.0], [10.0, 90.0]])   # products x industries
>>> U = np.array([[20.0, 30.0], [10.0, 40.0]])
>>> res = from_supply_use(S, U, resource_totals=[10.0, 20.0], codes=["a", "b"])
>>> res.economy.A.toarray().round(2)
array([[0.21, 0.29],
       [0.13, 0.37]])
>>> res.economy.labour.round(2)
array([0.11, 0.19])
>>> res.assumption
'industry-technology'
"""

from __future__ import annotations

import types
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from lab._validation import (
    DENSE_SILENT_MAX,
    align_products,
    check_choice,
    check_labels,
    check_resource_names,
    check_sparse_matrix,
    dense_from_sparse,
    frame_resource_names,
    is_pandas,
    is_positional,
    match_labels,
    pandas_labels,
    readonly,
    shape_2d,
)
from lab.economy import Economy
from lab.exceptions import EfficiencyWarning, InvalidEconomyError

__all__ = [
    "ASSUMPTIONS",
    "NegativeCoefficient",
    "NegativeCoefficients",
    "NegativeCoefficientsError",
    "NegativeCoefficientsWarning",
    "RectangularTables",
    "SupplyUseResult",
    "from_supply_use",
    "rectangular",
]

#: The accepted values of ``assumption``.
ASSUMPTIONS = ("industry-technology", "fixed-product-sales", "product-technology")

_ROUNDING = 1e-12


# ---------------------------------------------------------------------- results


class NegativeCoefficient(NamedTuple):
    """One negative coefficient: ``matrix[row, col] = value`` (matrix "A" or "R")."""

    matrix: str
    row: str
    col: str
    value: float


@dataclass(frozen=True)
class NegativeCoefficients:
    """Report of the negative coefficients an assumption created (possibly empty).

    Attributes
    ----------
    entries : tuple of NegativeCoefficient
        Every negative entry, most negative first. For ``matrix == "A"``, ``row`` is
        the input product and ``col`` the output product (``A[row, col] < 0``); for
        ``"R"``, ``row`` is the resource name.
    action : {"none", "error", "clip"}
        "none" when there were none; otherwise the ``negative=`` policy applied.
    """

    entries: tuple[NegativeCoefficient, ...] = ()
    action: str = "none"

    @property
    def count(self) -> int:
        """Number of negative entries (A and R together)."""
        return len(self.entries)

    @property
    def total(self) -> float:
        """Sum of the negative entries (≤ 0)."""
        return float(sum(e.value for e in self.entries))

    @property
    def smallest(self) -> NegativeCoefficient | None:
        """The most negative entry, or None."""
        return self.entries[0] if self.entries else None

    def __bool__(self) -> bool:
        return bool(self.entries)

    def summary(self, limit: int = 5) -> str:
        """One line: count, sum, and the ``limit`` most negative entries."""
        if not self.entries:
            return "no negative coefficients"
        shown = ", ".join(
            f"{e.matrix}[{e.row!r}, {e.col!r}] = {e.value:.6g}" for e in self.entries[:limit]
        )
        more = f", ... ({self.count} in all)" if self.count > limit else ""
        return f"{self.count} negative coefficient(s), sum {self.total:.6g}: {shown}{more}"


class NegativeCoefficientsError(InvalidEconomyError):
    """The product-technology assumption created negative coefficients.

    ``report`` holds the :class:`NegativeCoefficients`; pass ``negative="clip"``
    to set them to zero instead.
    """

    def __init__(self, message: str, report: NegativeCoefficients):
        super().__init__(message)
        self.report = report


class NegativeCoefficientsWarning(UserWarning):
    """Negative coefficients were set to zero (``negative="clip"``)."""


@dataclass(frozen=True)
class SupplyUseResult:
    """A square economy converted from supply and use tables.

    Attributes
    ----------
    economy : Economy
        Product × product (models A, B) or industry × industry (model D).
    assumption : str
        The assumption the user chose (one of :data:`ASSUMPTIONS`).
    negative : str
        The ``negative=`` policy in force ("error" or "clip").
    negative_coefficients : NegativeCoefficients
        Negative coefficients created (product technology only; empty otherwise).
    total_output : numpy.ndarray
        Gross output of each row/column of the economy (q or g, after dropping):
        final demand is ``total_output - economy.A @ total_output``.
    notes : tuple of str
        What was done: formula, dropped products/industries, clipping.
    """

    economy: Economy
    assumption: str
    negative: str
    negative_coefficients: NegativeCoefficients
    total_output: np.ndarray = field(repr=False)
    notes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        """The assumption, the size and the negative coefficients in a line or two."""
        return (f"SupplyUseResult({self.assumption}: {self.economy!r}, "
                f"negative={self.negative!r}, {self.negative_coefficients.summary(3)}, "
                f"{len(self.notes)} note{'s' if len(self.notes) != 1 else ''})")


class RectangularTables(NamedTuple):
    """Supply and use per unit of industry activity (techniques = industries).

    Unpacks as ``A, B, R, ...``. ``A`` and ``B`` are m × k ``csc_array`` (products ×
    techniques), ``R`` is a dense (r, k) array, ``activity`` = g (industry output,
    the intensities that reproduce the tables). Industries with no output and no
    use were dropped (``technique_codes`` lists those kept).
    """

    A: sp.csc_array
    B: sp.csc_array
    R: np.ndarray
    activity: np.ndarray
    product_codes: tuple[str, ...]
    technique_codes: tuple[str, ...]
    resource_names: tuple[str, ...]


# ---------------------------------------------------------------------- public


def from_supply_use(
    supply,
    use,
    *,
    resource_totals=None,
    assumption: str = "industry-technology",
    negative: str = "error",
    zero_output: str = "drop",
    codes=None,
    industry_codes=None,
    names=None,
    industry_names=None,
    resource_names=None,
) -> SupplyUseResult:
    """Convert supply and use tables (products × industries) to a square Economy.

    Parameters
    ----------
    supply : array_like or scipy.sparse, shape (m, n)
        ``supply[i, k]`` ≥ 0: output of product i by industry k (products ×
        industries; for a BEA-style make table, pass its transpose).
    use : array_like or scipy.sparse, shape (m, n)
        ``use[i, k]`` ≥ 0: intermediate use of product i by industry k.
    resource_totals : array_like or sparse, shape (n,) or (r, n), optional
        Resources used by each industry (row 0 labour). None: one row of zeros
        named ``"none"``.
    assumption : {"industry-technology", "fixed-product-sales", "product-technology"}
        See the module docstring for the formulas. Default "industry-technology".
    negative : {"error", "clip"}
        What to do with negative coefficients (product technology only).
    zero_output : {"drop", "drop_use", "error"}
        Zero-output products/industries: see the module docstring.
    codes, names : sequence of str, length m, optional
        Product codes (default ``"P0", ...``, or a DataFrame ``supply``'s index) and names.
    industry_codes, industry_names : sequence of str, length n, optional
        Industry codes (default ``"I0", ...``, or ``supply``'s columns) and names.
        Used as the economy's codes/names under "fixed-product-sales".
    resource_names : sequence of str, length r, optional

    Returns
    -------
    SupplyUseResult

    Raises
    ------
    InvalidEconomyError
        Wrong shapes (message names the argument and both shapes), NaN/inf or
        negative entries (naming the cell), bad codes, an industry with inputs but
        no output, a used product with no output (unless ``zero_output="drop_use"``),
        non-square or singular supply for product technology.
    NegativeCoefficientsError
        Product technology created negative coefficients and ``negative="error"``.

    Warns
    -----
    NegativeCoefficientsWarning
        With ``negative="clip"`` when coefficients were set to zero.
    """
    assumption = check_choice("assumption", assumption, ASSUMPTIONS)
    negative = check_choice("negative", negative, ("error", "clip"))
    zero_output = check_choice("zero_output", zero_output, ("drop", "drop_use", "error"))
    t = _tables(supply, use, resource_totals, codes, industry_codes, names, industry_names,
                resource_names)
    if assumption == "industry-technology":
        return _industry_technology(t, zero_output, negative)
    if assumption == "fixed-product-sales":
        return _fixed_product_sales(t, zero_output, negative)
    return _product_technology(t, zero_output, negative)


def rectangular(
    supply,
    use,
    *,
    resource_totals=None,
    codes=None,
    industry_codes=None,
    resource_names=None,
) -> RectangularTables:
    """Keep industries as techniques: ``A = U·diag(1/g)``, ``B = S·diag(1/g)``, ``R = T·diag(1/g)``.

    The input intended for the planner with techniques ≠ products (``docs/MATH.md``
    §1 and §3, issue "planning"): m products, k = n techniques. Arguments as for
    :func:`from_supply_use`. Industries with zero output and no use or resources
    are dropped; one with use or resources but no output is an error. Products
    nobody makes stay as rows of zeros in B (non-produced inputs).

    Returns
    -------
    RectangularTables
        ``(A, B, R, activity, product_codes, technique_codes, resource_names)``.

    Examples
    --------
    >>> import numpy as np
    >>> from lab.io.supply_use import rectangular
    >>> A, B, R, g, *_ = rectangular([[90.0, 10.0], [10.0, 90.0]],
    ...                              [[20.0, 30.0], [10.0, 40.0]], resource_totals=[10.0, 20.0])
    >>> B.toarray()
    array([[0.9, 0.1],
           [0.1, 0.9]])
    >>> R
    array([[0.1, 0.2]])
    """
    t = _tables(supply, use, resource_totals, codes, industry_codes, None, None, resource_names)
    keep_ind, _ = _check_industries(t, "drop")
    S, U, T, g = t.S, t.U, t.T, t.g
    if keep_ind is not None:
        S, U, T, g = S[:, keep_ind], U[:, keep_ind], T[:, keep_ind], g[keep_ind]
    inv_g = 1.0 / g
    A = _canon(U @ sp.diags_array(inv_g))
    B = _canon(S @ sp.diags_array(inv_g))
    R = readonly(np.ascontiguousarray(T * inv_g))
    icodes = t.icodes if keep_ind is None else t.icodes[keep_ind]
    return RectangularTables(
        A, B, R, readonly(np.array(g)), tuple(t.codes.tolist()), tuple(icodes.tolist()),
        t.rnames,
    )


# ---------------------------------------------------------------------- validation


class _Tables(NamedTuple):
    S: sp.csc_array
    U: sp.csc_array
    T: np.ndarray
    q: np.ndarray
    g: np.ndarray
    codes: np.ndarray
    icodes: np.ndarray
    names: np.ndarray | None
    inames: np.ndarray | None
    rnames: tuple[str, ...]


def _frame_axes(name, M):
    """The row and column labels of a pandas DataFrame (None for a default range
    index, or for anything else), duplicates refused."""
    if not is_pandas(M) or getattr(M, "ndim", 0) != 2:
        return None, None
    return tuple(None if is_positional(axis, len(axis)) else
                 pandas_labels(f"{name}.{what}", axis)
                 for what, axis in (("index", M.index), ("columns", M.columns)))


def _in_order(name, M, rows, cols, codes, icodes):
    """A labelled DataFrame's values with rows in the order of ``codes`` and columns in
    the order of ``icodes`` (matched by label); anything else unchanged."""
    if rows is None and cols is None:
        return M.to_numpy() if is_pandas(M) else M
    values = M.to_numpy()
    if rows is not None:
        values = values[match_labels(f"{name}.index", rows, list(codes), "product codes")]
    if cols is not None:
        values = values[:, match_labels(f"{name}.columns", cols, list(icodes),
                                        "industry codes")]
    return values


def _labels(name, labels, n, what, unique=True):
    if labels is None:
        return None
    if isinstance(labels, (str, bytes)):
        raise InvalidEconomyError(f"{name} must be a sequence of strings, not a single string")
    arr = labels if isinstance(labels, np.ndarray) else np.asarray(list(labels), dtype=object)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise InvalidEconomyError(
            f"{name} has length {arr.shape[0] if arr.ndim else 0} but there are {n} {what} "
            f"(supply has {n} {'rows' if what == 'products' else 'columns'})"
        )
    return check_labels(name, arr, n, unique=unique)


def _tables(supply, use, resource_totals, codes, industry_codes, names, industry_names,
            resource_names) -> _Tables:
    m, n = shape_2d("supply", supply)
    mu, nu = shape_2d("use", use)
    if (mu, nu) != (m, n):
        hint = ""
        if (mu, nu) == (n, m) and m != n:
            hint = (" (one of them looks transposed; both must be products × industries: "
                    "pass a make table, industries × products, as make.T)")
        raise InvalidEconomyError(
            f"use has shape {(mu, nu)} but supply has shape {(m, n)}; both must be "
            f"products × industries{hint}"
        )
    # Labelled tables (pandas) are matched by label, never by position: the first
    # labelled axis gives the codes unless they are passed, the others follow them.
    (s_rows, s_cols), (u_rows, u_cols) = _frame_axes("supply", supply), _frame_axes("use", use)
    if codes is None:
        codes = s_rows if s_rows is not None else u_rows
    if industry_codes is None:
        industry_codes = s_cols if s_cols is not None else u_cols
    codes_arr = _labels("codes", codes, m, "products")
    icodes_arr = _labels("industry_codes", industry_codes, n, "industries")
    if codes_arr is None:
        codes_arr = readonly(np.array([f"P{i}" for i in range(m)], dtype=object))
    if icodes_arr is None:
        icodes_arr = readonly(np.array([f"I{k}" for k in range(n)], dtype=object))
    supply = _in_order("supply", supply, s_rows, s_cols, codes_arr, icodes_arr)
    use = _in_order("use", use, u_rows, u_cols, codes_arr, icodes_arr)
    names = align_products("names", names, codes_arr, m)
    industry_names = align_products("industry_names", industry_names, icodes_arr, n,
                                    axis_what="industry codes")
    names_arr = _labels("names", names, m, "products", unique=False)
    inames_arr = _labels("industry_names", industry_names, n, "industries", unique=False)
    if resource_totals is not None and is_pandas(resource_totals):
        resource_totals, resource_names = frame_resource_names(
            "resource_totals", resource_totals, resource_names)
        resource_totals = align_products("resource_totals", resource_totals, icodes_arr, n,
                                         axis_what="industry codes")

    def plabel(i):
        return str(codes_arr[i])

    def ilabel(k):
        return str(icodes_arr[k])

    with warnings.catch_warnings():
        # converting a published (dense) table is the point of this module
        warnings.simplefilter("ignore", EfficiencyWarning)
        S = check_sparse_matrix("supply", supply, (m, n), label=plabel, col_label=ilabel)
        U = check_sparse_matrix("use", use, (m, n), label=plabel, col_label=ilabel)

    if resource_totals is None:
        T = np.zeros((1, n))
        rnames = ("none",) if resource_names is None else None
    else:
        if sp.issparse(resource_totals):
            resource_totals = dense_from_sparse("resource_totals", resource_totals)
        T = np.asarray(resource_totals)
        if T.dtype.kind not in "biuf":
            raise InvalidEconomyError(
                f"resource_totals must be real numbers, got dtype {T.dtype}"
            )
        if T.ndim == 1:
            T = T.reshape(1, -1)
        if T.ndim != 2 or T.shape[1] != n or T.shape[0] < 1:
            raise InvalidEconomyError(
                f"resource_totals has shape {np.shape(resource_totals)} but supply has shape "
                f"{(m, n)}: it needs one column per industry, shape ({n},) or (r, {n})"
            )
        T = np.array(T, dtype=np.float64)
        bad = ~np.isfinite(T)
        if bad.any():
            q, k = np.argwhere(bad)[0]
            raise InvalidEconomyError(
                f"resource_totals has {int(bad.sum())} NaN or infinite entries; the first is "
                f"resource_totals[{int(q)}, {ilabel(int(k))!r}] = {T[q, k]!r}"
            )
        if (T < 0).any():
            q, k = np.argwhere(T < 0)[0]
            raise InvalidEconomyError(
                f"resource_totals has {int((T < 0).sum())} negative entries; the first is "
                f"resource_totals[{int(q)}, {ilabel(int(k))!r}] = {T[q, k]!r}"
            )
        rnames = None
    r = T.shape[0]
    if rnames is None:
        rnames = check_resource_names(resource_names, r, other="resource_totals",
                                      shape=T.shape)
    q = np.asarray(S.sum(axis=1)).ravel()
    g = np.asarray(S.sum(axis=0)).ravel()
    return _Tables(S, U, T, q, g, codes_arr, icodes_arr, names_arr, inames_arr, rnames)


def _list(labels, idx, limit=5):
    idx = list(idx)
    shown = ", ".join(repr(str(labels[i])) for i in idx[:limit])
    return shown + (f", ... ({len(idx)} in all)" if len(idx) > limit else "")


def _check_industries(t: _Tables, zero_output):
    """Industries with g = 0: error if they use anything; else indices to keep (or None)."""
    zero = t.g == 0
    if not zero.any():
        return None, []
    has_use = zero & _col_nonzero(t.U)
    has_res = zero & (t.T != 0).any(axis=0)
    for what, mask in (("uses products", has_use), ("uses resources", has_res)):
        if mask.any():
            bad = np.flatnonzero(mask)
            raise InvalidEconomyError(
                f"industry {str(t.icodes[bad[0]])!r} {what} but has zero output "
                f"(supply column sums to 0); {bad.size} such industr"
                f"{'y' if bad.size == 1 else 'ies'}: {_list(t.icodes, bad)}"
            )
    zidx = np.flatnonzero(zero)
    if zero_output == "error":
        raise InvalidEconomyError(
            f"{zidx.size} industr{'y has' if zidx.size == 1 else 'ies have'} zero output: "
            f"{_list(t.icodes, zidx)} (zero_output='error')"
        )
    return np.flatnonzero(~zero), zidx.tolist()


def _col_nonzero(M: sp.csc_array) -> np.ndarray:
    nz = (M.data != 0).astype(np.int64)
    cum = np.concatenate(([0], np.cumsum(nz)))
    return (cum[M.indptr[1:]] - cum[M.indptr[:-1]]) > 0


def _row_nonzero(M: sp.csc_array) -> np.ndarray:
    return np.bincount(M.indices[M.data != 0], minlength=M.shape[0]) > 0


def _canon(M) -> sp.csc_array:
    C = sp.csc_array(M, dtype=np.float64)
    C.eliminate_zeros()
    C.sum_duplicates()
    C.sort_indices()
    return C


def _zero_products(t: _Tables, zero_output):
    """Products with q = 0: (keep indices or None, dropped dict, notes)."""
    zero = t.q == 0
    if not zero.any():
        return None, {}, []
    used = zero & _row_nonzero(t.U)
    zidx = np.flatnonzero(zero)
    if zero_output == "error":
        raise InvalidEconomyError(
            f"{zidx.size} product(s) have zero output (supply row sums to 0): "
            f"{_list(t.codes, zidx)} (zero_output='error')"
        )
    notes = []
    if used.any():
        bad = np.flatnonzero(used)
        if zero_output != "drop_use":
            raise InvalidEconomyError(
                f"product {str(t.codes[bad[0]])!r} is used as an input but no industry "
                f"supplies it (zero output); {bad.size} such product(s): "
                f"{_list(t.codes, bad)}. Pass zero_output='drop_use' to treat their use as "
                f"non-produced inputs"
            )
        amount = float(np.asarray(t.U[bad, :].sum()))
        notes.append(
            f"dropped the use of {bad.size} product(s) with zero output "
            f"({_list(t.codes, bad)}), total {amount:.6g}: treated as non-produced inputs"
        )
    dropped = {
        str(t.codes[i]): (
            "zero output; its use was dropped as a non-produced input"
            if used[i]
            else "zero output and no use"
        )
        for i in zidx
    }
    return np.flatnonzero(~zero), dropped, notes


# ---------------------------------------------------------------------- models


def _economy(A, R, codes, names, rnames, dropped):
    econ = Economy(A, R, codes=codes, names=names, resource_names=rnames)
    object.__setattr__(econ, "_dropped", types.MappingProxyType(dict(dropped)))
    return econ


def _industry_technology(t: _Tables, zero_output, negative) -> SupplyUseResult:
    keep_ind, zero_ind = _check_industries(t, zero_output)
    keep, dropped, notes = _zero_products(t, zero_output)
    inv_g = np.divide(1.0, t.g, out=np.zeros_like(t.g), where=t.g != 0)
    W = sp.diags_array(inv_g) @ t.S.T  # n × m: diag(1/g)·Sᵀ (product mix, transposed)
    Z = _canon(t.U @ W)  # m × m flows
    Tp = np.asarray(W.T @ t.T.T).T  # r × m resource totals per product
    x, codes, names = t.q, t.codes, t.names
    if keep is not None:
        Z = _canon(Z[keep][:, keep])
        Tp, x, codes = Tp[:, keep], x[keep], codes[keep]
        names = None if names is None else names[keep]
    A, R = _per_unit(Z, Tp, x)
    notes = [
        "industry-technology assumption (Eurostat model B), product × product: "
        "A = U·diag(1/g)·Sᵀ·diag(1/q); resources per product T·diag(1/g)·Sᵀ "
        "(shared by each industry's product mix; totals kept)",
        *notes,
    ]
    if zero_ind:
        notes.append(f"ignored {len(zero_ind)} industr(y/ies) with no output and no use: "
                     f"{_list(t.icodes, zero_ind)}")
    if dropped:
        notes.append(f"dropped {len(dropped)} product(s) with zero output: "
                     f"{_list(list(dropped), range(len(dropped)))}")
    econ = _economy(A, R, codes, names, t.rnames, dropped)
    return SupplyUseResult(econ, "industry-technology", negative, NegativeCoefficients(),
                           readonly(np.array(x)), tuple(notes))


def _per_unit(Z, T, x):
    """Flows and resource totals per unit of output: A = Z·diag(1/x), R = T·diag(1/x)."""
    if not x.size:
        return Z, np.zeros_like(T)
    return _canon(Z @ sp.diags_array(1.0 / x)), np.ascontiguousarray(T / x)


def _fixed_product_sales(t: _Tables, zero_output, negative) -> SupplyUseResult:
    keep_ind, zero_ind = _check_industries(t, zero_output)
    keep_p, dropped_p, notes = _zero_products(t, zero_output)
    inv_q = np.divide(1.0, t.q, out=np.zeros_like(t.q), where=t.q != 0)
    U = t.U
    if keep_p is not None:  # drop the use of products nobody makes (drop_use)
        mask = np.zeros(t.q.shape[0])
        mask[keep_p] = 1.0
        U = _canon(sp.diags_array(mask) @ U)
    Z = _canon(t.S.T @ sp.diags_array(inv_q) @ U)  # n × n: Sᵀ·diag(1/q)·U
    x, T, codes, names = t.g, t.T, t.icodes, t.inames
    dropped = {}
    if keep_ind is not None:
        Z = _canon(Z[keep_ind][:, keep_ind])
        x, T, codes = x[keep_ind], T[:, keep_ind], codes[keep_ind]
        names = None if names is None else names[keep_ind]
        dropped = {str(t.icodes[k]): "industry with zero output and no use" for k in zero_ind}
    A, R = _per_unit(Z, T, x)
    notes = [
        "fixed product sales structure (Eurostat model D), industry × industry: "
        "A = Sᵀ·diag(1/q)·U·diag(1/g); R = T·diag(1/g) (resources stay with their industry)",
        *notes,
    ]
    if dropped:
        notes.append(f"dropped {len(dropped)} industr(y/ies) with zero output: "
                     f"{_list(list(dropped), range(len(dropped)))}")
    if dropped_p:
        notes.append(f"{len(dropped_p)} product(s) with zero output have no row in an "
                     f"industry × industry table: {_list(list(dropped_p), range(len(dropped_p)))}")
    econ = _economy(A, R, codes, names, t.rnames, dropped)
    return SupplyUseResult(econ, "fixed-product-sales", negative, NegativeCoefficients(),
                           readonly(np.array(x)), tuple(notes))


def _product_technology(t: _Tables, zero_output, negative) -> SupplyUseResult:
    m, n = t.S.shape
    if m != n:
        raise InvalidEconomyError(
            f"the product-technology assumption needs a square supply table (as many "
            f"products as industries), but supply has shape {(m, n)}; aggregate products or "
            f"industries, or use assumption='industry-technology'"
        )
    zq, zg = np.flatnonzero(t.q == 0), np.flatnonzero(t.g == 0)
    if zq.size or zg.size:
        parts = []
        if zq.size:
            parts.append(f"product(s) made by no industry: {_list(t.codes, zq)}")
        if zg.size:
            parts.append(f"industr(y/ies) with no output: {_list(t.icodes, zg)}")
        raise InvalidEconomyError(
            "supply is singular, so the product-technology assumption is undefined: "
            + "; ".join(parts)
        )
    if m > DENSE_SILENT_MAX:
        warnings.warn(
            f"the product-technology assumption forms dense {m}x{m} matrices "
            f"(S⁻¹ is generally dense): {8 * m * m / 2**20:.0f} MiB each",
            EfficiencyWarning,
            stacklevel=3,
        )
    if m == 0:
        A = np.zeros((0, 0))
        R = np.zeros((t.T.shape[0], 0))
    else:
        try:
            import scipy.sparse.linalg as spla

            lu = spla.splu(sp.csc_array(t.S.T), permc_spec="COLAMD")
            # U = A·S  ⇔  Sᵀ·Aᵀ = Uᵀ;  T = R·S  ⇔  Sᵀ·Rᵀ = Tᵀ
            At = lu.solve(t.U.T.toarray())
            Rt = lu.solve(np.ascontiguousarray(t.T.T))
        except RuntimeError as exc:
            raise InvalidEconomyError(
                f"supply is singular, so the product-technology assumption is undefined "
                f"({exc}); use assumption='industry-technology'"
            ) from exc
        A, R = np.ascontiguousarray(At.T), np.ascontiguousarray(Rt.T)
        Sd = t.S.toarray()
        scale = max(float(np.abs(t.U.data).max(initial=0.0)), 1e-300)
        err = float(np.abs(A @ Sd - t.U.toarray()).max(initial=0.0)) / scale
        if not (np.isfinite(A).all() and np.isfinite(R).all()) or err > 1e-8:
            raise InvalidEconomyError(
                f"supply is numerically singular (relative residual of U = A·S is {err:.3g}), "
                f"so the product-technology assumption is undefined; use "
                f"assumption='industry-technology'"
            )
    notes = [
        "product-technology assumption (Eurostat model A), product × product: "
        "A = U·S⁻¹, R = T·S⁻¹ (resource totals kept: R·q = T·1)"
    ]
    n_round = 0
    entries = []
    for mat, M, rlab in (("A", A, t.codes), ("R", R, t.rnames)):
        tol = _ROUNDING * max(float(np.abs(M).max(initial=0.0)), 0.0)
        noise = (M < 0) & (M >= -tol)
        n_round += int(noise.sum())
        M[noise] = 0.0
        for i, j in np.argwhere(M < 0):
            entries.append(NegativeCoefficient(mat, str(rlab[i]), str(t.codes[j]), float(M[i, j])))
    if n_round:
        notes.append(f"set {n_round} negative rounding residue(s) of the inversion "
                     f"(≥ -{_ROUNDING:g}·max|coefficient|) to 0")
    entries.sort(key=lambda e: e.value)
    if entries:
        report = NegativeCoefficients(tuple(entries), negative)
        msg = (f"the product-technology assumption created {report.summary()}; pass "
               f"negative='clip' to set them to 0, or use assumption='industry-technology'")
        if negative == "error":
            raise NegativeCoefficientsError(msg, report)
        warnings.warn(
            f"the product-technology assumption created {report.summary()}; "
            f"set to 0 (negative='clip')",
            NegativeCoefficientsWarning,
            stacklevel=3,
        )
        A[A < 0] = 0.0
        R[R < 0] = 0.0
        notes.append(f"clipped {report.summary()} to 0: U = A·S and resource totals no "
                     f"longer hold exactly")
    else:
        report = NegativeCoefficients()
    econ = _economy(_canon(A), R, t.codes, t.names, t.rnames, {})
    return SupplyUseResult(econ, "product-technology", negative, report,
                           readonly(np.array(t.q)), tuple(notes))
