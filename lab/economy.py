"""The :class:`Economy`: products, their use matrix and their resource coefficients.

The model (see ``docs/MATH.md`` §1)
-----------------------------------
An economy has m **products** and r **resources** that are not produced.

* ``A`` (m × m, sparse, ≥ 0) is the **use matrix**: ``A[i, j]`` units of product i
  are used up to make one unit of product j.
* ``R`` (r × m, dense, ≥ 0) holds the **resource coefficients**: ``R[q, j]`` units of
  resource q per unit of product j. Row 0 is labour (hours by convention), so the
  direct labour vector is ``l = R[0]`` (:attr:`Economy.labour`).

Labour values solve ``v = l + Aᵀ v``; the value kernels gather over the columns of
A (``v[j] = l[j] + Σ_i A[i, j] v[i]``), i.e. over the *rows of Aᵀ*.

Storage
-------
``A`` is stored as a canonical :class:`scipy.sparse.csc_array`: float64 data, sorted
row indices, duplicates summed. CSC is deliberate: the CSC arrays
``(indptr, indices, data)`` of A *are* the CSR arrays of Aᵀ, so the kernels of
``lab`` read them directly with no transpose and no second copy (at 10⁷ products,
about 10⁸ non-zeros, one copy is 1.2–1.6 GB). Indices are int32 when they fit and
the input was not int64, int64 otherwise (and always when nnz ≥ 2³¹). A canonical
float64 CSC input is **not copied**. Every other input (CSR, COO, float32, dense
for m > 2000, unsorted indices) is converted with an
:class:`~lab.exceptions.EfficiencyWarning` saying what the conversion costs.

``R`` is stored as a dense, C-contiguous float64 array of shape (r, m).

Immutability and caching
------------------------
An :class:`Economy` is immutable: attributes are read-only properties and the
stored arrays are read-only (``flags.writeable`` is cleared on lab's own copies or
views; the caller's arrays and their flags are never touched — so a caller who
keeps writing into an array they passed in without a copy is on their own).
Solvers may therefore cache derived structure (strongly connected components,
orderings, preconditioners, ...) in the private dict ``economy._cache``; an entry
stays valid for the Economy's lifetime.

Codes
-----
Each product has a unique string code. When ``codes=None`` the default codes are
``"P0", "P1", ..., "P{m-1}"`` (no zero padding). They are *not* materialised for a
generated economy of 10⁷ products unless :attr:`Economy.codes` is read;
:meth:`Economy.codes_at` and :meth:`Economy.index_of` work without materialising them.

Labels
------
pandas arguments are matched by label, never by position. A labelled DataFrame ``A``
(or ``Z``) gives the codes; R's index (or a named Series' name) gives the resource
names. When the product labels are a :class:`pandas.MultiIndex` (pymrio's
``(region, sector)``) or not strings, the economy keeps them: :attr:`Economy.index`
returns them, the codes are their string form (levels joined with ``"."``), and
results (``ValuesResult.series``/``frame``, footprints, plan frames) are indexed by
them, so they join back to the caller's tables.

Planning (MATH.md §3): techniques ≠ products
--------------------------------------------
An Economy is the square case: one technique per product, make matrix B = I
(:attr:`B` is ``None``, :attr:`n_techniques` is m). Everything that describes a
*planning problem* lives in :class:`lab.planning.PlanningProblem`: targets and
weights, resource availabilities, capacities and initial stocks for an Economy,
or, through ``PlanningProblem.from_techniques(use, make, resources, ...)``, a
general technology of k techniques with technique choice and joint production.
One economy is shared by many problems, and its ``_cache`` (the structure
analysis, V = R(I − A)⁻¹ of the decoupled plan) is reused across them.
Multi-period plans (§4) would build a larger technology (products indexed by
year) with the same classes.

Examples
--------
>>> import numpy as np
>>> from lab.economy import Economy
>>> e = Economy(np.array([[0.1, 0.2], [0.3, 0.0]]), [1.0, 2.0], codes=["corn", "iron"])
>>> e
Economy(2 products, 1 resource, 3 non-zeros)
>>> e.index_of(["iron"])
array([1])
>>> e.labour
array([1., 2.])
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping

import numpy as np
import scipy.sparse as sp

from lab._validation import (
    align_products,
    check_choice,
    check_labels,
    check_resource_matrix,
    check_resource_names,
    check_sparse_matrix,
    check_vector,
    frame_resource_names,
    is_pandas,
    is_positional,
    match_labels,
    readonly,
    shape_2d,
    square_frame_labels,
)
from lab.exceptions import InvalidEconomyError

__all__ = ["Economy", "product_index"]

class UnknownCodeError(InvalidEconomyError, KeyError):
    """A product code that the economy does not have (both ValueError and KeyError)."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


class Economy:
    """An economy of m products, its use matrix A and resource coefficients R.

    Parameters
    ----------
    A : scipy.sparse array or matrix (any format), or dense array_like, shape (m, m)
        Use matrix, ``A[i, j]`` ≥ 0 units of product i per unit of product j.
        Stored as a canonical read-only ``csc_array`` (see module docstring); a
        canonical float64 CSC input is not copied.
    R : array_like or sparse, shape (m,) or (r, m)
        Resource coefficients, ≥ 0; row 0 is labour. 1-D means labour only.
    codes : sequence of str, optional
        m unique product codes. Default: lazy ``"P0" ... "P{m-1}"``.
    names : sequence of str, optional
        m product names (need not be unique). Default: None.
    resource_names : sequence of str, optional
        r unique resource names. Default: ``("labour", "R1", "R2", ...)``.

    Raises
    ------
    InvalidEconomyError
        A not square, R with the wrong number of columns or no rows, NaN or
        infinite values, negative coefficients (count and first offending
        (row code, column code)), indices out of range, duplicate codes or
        resource names, names/codes/resource_names of the wrong length.

    Warns
    -----
    EfficiencyWarning
        When A has to be converted or copied (see module docstring).
    """

    __slots__ = (
        "_A",
        "_R",
        "_m",
        "_codes",
        "_names",
        "_resource_names",
        "_dropped",
        "_code_index",
        "_index",
        "_cache",
        "__weakref__",
    )

    def __init__(self, A, R, *, codes=None, names=None, resource_names=None):
        A, R, codes, names, resource_names, index = _match_pandas_labels(
            "A", A, "R", R, codes, names, resource_names)
        m = _square_size(A)
        codes_arr = None if codes is None else check_labels("codes", codes, m)
        object.__setattr__(self, "_m", m)
        object.__setattr__(self, "_codes", codes_arr)
        label = self._label
        A = check_sparse_matrix("A", A, "square", label=label)
        self._set_fields(A, R, resource_names, names)
        object.__setattr__(self, "_index", index)

    def _set_fields(self, A, R, resource_names, names, names_checked=False):
        """Check R, resource_names and names against the canonical A; store everything."""
        m = self._m
        R = check_resource_matrix("R", R, m, col_label=self._label,
                                  row_label=lambda q: f"row {q}")
        rn = check_resource_names(resource_names, R.shape[0], other="R", shape=R.shape)
        if names is not None:
            names_arr = names if isinstance(names, np.ndarray) else np.asarray(names, dtype=object)
            if names_arr.ndim != 1 or names_arr.shape[0] != m:
                raise InvalidEconomyError(
                    f"names has length {names_arr.shape[0] if names_arr.ndim else 0} "
                    f"but A has shape {A.shape}"
                )
            if names_checked:
                names = names_arr.view()
                names.flags.writeable = False
            else:
                names = check_labels("names", names_arr, m, unique=False)
        object.__setattr__(self, "_A", A)
        object.__setattr__(self, "_R", R)
        object.__setattr__(self, "_names", names)
        object.__setattr__(self, "_resource_names", rn)
        object.__setattr__(self, "_dropped", types.MappingProxyType({}))
        object.__setattr__(self, "_code_index", None)
        object.__setattr__(self, "_index", None)
        object.__setattr__(self, "_cache", {})

    def __setattr__(self, name, value):
        raise AttributeError(f"Economy is immutable; cannot set {name!r}")

    def __delattr__(self, name):
        raise AttributeError(f"Economy is immutable; cannot delete {name!r}")

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_flows(
        cls,
        Z,
        total_output,
        resource_totals=None,
        *,
        codes=None,
        names=None,
        resource_names=None,
        zero_output="drop",
    ) -> Economy:
        """Build an economy from money flows: ``A = Z·diag(1/x)``, ``R = totals·diag(1/x)``.

        Parameters
        ----------
        Z : sparse or dense, shape (m, m)
            ``Z[i, j]`` ≥ 0: money value of product i used to make product j.
        total_output : array_like, shape (m,)
            Total output x ≥ 0 of each product, in the same money unit.
        resource_totals : array_like, shape (m,) or (r, m), optional
            Resource totals per product (hours worked, employment, compensation...);
            row 0 is labour. If None, R is one row of zeros named ``"none"`` (no
            labour data: labour values are then zero).
        codes, names, resource_names
            As for :class:`Economy`; given for the m products *before* dropping.
        zero_output : {"drop", "error"}
            Products with x = 0. ``"drop"``: a product with no flows in or out and no
            resources is left out (its code is listed in :attr:`dropped`, the reason
            in :attr:`dropped_reasons`); one that has inputs, is used as an input or
            uses resources raises. ``"error"``: any zero-output product raises.

        Raises
        ------
        InvalidEconomyError
            Shapes, NaN/inf, negative flows/outputs/resources, or zero-output
            products as described above (the message names their codes).
        """
        check_choice("zero_output", zero_output, ("drop", "error"))
        Z, resource_totals, codes, names, resource_names, index = _match_pandas_labels(
            "Z", Z, "resource_totals", resource_totals, codes, names, resource_names)
        m = _square_size(Z, "Z")
        total_output = align_products("total_output", _joined(total_output), codes, m)
        codes_arr = None if codes is None else check_labels("codes", codes, m)

        def label(i: int) -> str:
            return str(codes_arr[i]) if codes_arr is not None else f"P{int(i)}"

        Z = check_sparse_matrix("Z", Z, "square", label=label)
        x = check_vector("total_output", total_output, m, nonnegative=True, label=label)
        if resource_totals is None:
            T = np.zeros((1, m))
            if resource_names is None:
                resource_names = ("none",)
        else:
            T = check_resource_matrix(
                "resource_totals", resource_totals, m, other="Z", col_label=label
            )

        return cls._from_valid_flows(Z, x, T, codes=codes_arr, names=names,
                                     resource_names=resource_names, zero_output=zero_output,
                                     label=label, index=index)

    @classmethod
    def _from_valid_flows(cls, Z, x, T, *, codes, names, resource_names, zero_output="drop",
                          label=None, inplace=False, names_checked=False,
                          index=None) -> Economy:
        """The part of :meth:`from_flows` after its arguments are checked.

        ``Z`` canonical float64 ``csc_array`` with finite values >= 0, ``x`` (m,) and
        ``T`` (r, m) finite >= 0, ``codes`` None or an object array of m unique str
        (not checked again). lab's readers call this directly with arrays they own:
        ``inplace=True`` divides ``Z.data`` by x in place (no second copy of the
        values), ``names_checked=True`` skips the check of ``names`` (str already).
        ``index``: the pandas labels to keep (see :attr:`Economy.index`), or None.
        """
        m = Z.shape[0]
        if label is None:
            def label(i: int) -> str:
                return str(codes[i]) if codes is not None else f"P{int(i)}"
        codes_arr = codes
        zero = x == 0
        dropped: dict[str, str] = {}
        if zero.any():
            zidx = np.flatnonzero(zero)
            if zero_output == "error":
                raise InvalidEconomyError(
                    f"{zidx.size} product(s) have zero total output: {_list_codes(zidx, label)}"
                )
            has_in, used, has_res = _zero_output_links(Z, T, zero)
            for what, mask in (
                ("has inputs", has_in),
                ("is used as an input", used),
                ("uses resources", has_res),
            ):
                if mask.any():
                    bad = np.flatnonzero(mask)
                    first = label(int(bad[0]))
                    more = ""
                    if bad.size > 1:
                        more = f" ({bad.size} such products: {_list_codes(bad, label)})"
                    raise InvalidEconomyError(
                        f"product {first!r} {what} but zero total output{more}"
                    )
            for i in zidx:
                dropped[label(int(i))] = "zero total output and no flows or resources"
            keep = np.flatnonzero(~zero)
            Z = _drop_empty(Z, keep)
            inplace = False  # _drop_empty returned read-only arrays
            x = x[keep]
            T = T[:, keep]
            if index is not None:
                index = index[keep]
            if codes_arr is not None:
                codes_arr = codes_arr[keep]
            elif m:
                # keep the original default codes of the remaining products
                codes_arr = np.array([f"P{i}" for i in keep], dtype=object)
            if names is not None:
                names = np.asarray(names, dtype=object)
                if names.shape[0] != m:
                    raise InvalidEconomyError(
                        f"names has length {names.shape[0]} but Z has shape ({m}, {m})"
                    )
                names = names[keep]

        # A = Z diag(1/x): scale each column's data; the index arrays are shared.
        if inplace and Z.data.flags.writeable:
            from lab._kernels.io_kernels import scale_columns

            data = Z.data
            scale_columns(Z.indptr, data, np.ascontiguousarray(x, dtype=np.float64))
        else:
            counts = np.diff(Z.indptr)
            data = Z.data / np.repeat(x, counts)
        A = sp.csc_array(Z.shape, dtype=np.float64)
        A.data, A.indices, A.indptr = data, Z.indices, Z.indptr
        A.has_canonical_format = True
        R = np.ascontiguousarray(T / x) if x.size else np.zeros_like(T)
        econ = cls._from_valid(A, R, codes=codes_arr, names=names,
                               resource_names=resource_names, names_checked=names_checked,
                               index=index)
        object.__setattr__(econ, "_dropped", types.MappingProxyType(dropped))
        return econ

    @classmethod
    def _from_valid(cls, A, R, *, codes, names, resource_names, names_checked=False,
                    index=None) -> Economy:
        """:class:`Economy` from a canonical float64 CSC ``A`` with values >= 0 and unique
        ``codes`` (object array of str, or None), checking only what can still be wrong:
        non-finite values of A (a quotient that overflowed), R, resource_names, names.
        Same checks, order and messages as ``__init__`` otherwise.
        """
        from lab._validation import check_finite_nonnegative

        m = A.shape[0]
        econ = cls.__new__(cls)
        if codes is not None and codes.flags.writeable:
            codes = codes.view()
            codes.flags.writeable = False
        object.__setattr__(econ, "_m", m)
        object.__setattr__(econ, "_codes", codes)
        label = econ._label
        indptr, indices = A.indptr, A.indices

        def locate(k: int) -> str:
            j = int(np.searchsorted(indptr, k, side="right") - 1)
            return f"[{label(int(indices[k]))!r}, {label(j)!r}]"

        check_finite_nonnegative("A", A.data, locate)
        A = _canonical_readonly(A)
        econ._set_fields(A, R, resource_names, names, names_checked)
        object.__setattr__(econ, "_index", index)
        return econ

    # ------------------------------------------------------------------ properties

    @property
    def A(self) -> sp.csc_array:
        """Use matrix, canonical read-only ``csc_array`` (m × m)."""
        return self._A

    @property
    def B(self):
        """Make matrix; ``None`` in the square case (B = I)."""
        return None

    @property
    def R(self) -> np.ndarray:
        """Resource coefficients, read-only float64 (r, m); row 0 is labour."""
        return self._R

    @property
    def labour(self) -> np.ndarray:
        """Direct labour per unit of each product, ``R[0]`` (read-only view)."""
        return self._R[0]

    @property
    def n_products(self) -> int:
        """m, the number of products."""
        return self._m

    @property
    def n_techniques(self) -> int:
        """k, the number of techniques (= m in the square case)."""
        return self._m

    @property
    def n_resources(self) -> int:
        """r, the number of resources (rows of R)."""
        return self._R.shape[0]

    @property
    def nnz(self) -> int:
        """Number of stored entries of A."""
        return int(self._A.nnz)

    @property
    def codes(self) -> np.ndarray:
        """Product codes as a read-only object ndarray of str (materialised on access)."""
        if self._codes is None:
            arr = np.array([f"P{i}" for i in range(self._m)], dtype=object)
            arr.flags.writeable = False
            object.__setattr__(self, "_codes", arr)
        return self._codes

    @property
    def names(self) -> np.ndarray | None:
        """Product names (read-only object ndarray of str), or None if not given."""
        return self._names

    @property
    def index(self):
        """The products as a :class:`pandas.Index`, in order; results are indexed by it.

        The labels the economy was built with when they were a
        :class:`pandas.MultiIndex` (pymrio's ``(region, sector)``, level names kept)
        or not strings; otherwise the codes, as an Index named ``"code"``.
        """
        if self._index is not None:
            return self._index
        import pandas as pd

        return pd.Index(self.codes, name="code")

    @property
    def resource_names(self) -> tuple[str, ...]:
        """Names of the r resources; ``resource_names[0]`` is labour."""
        return self._resource_names

    @property
    def dropped(self) -> tuple[str, ...]:
        """Codes of products the constructor left out (see :meth:`from_flows`)."""
        return tuple(self._dropped)

    @property
    def dropped_reasons(self) -> Mapping[str, str]:
        """Read-only mapping code → why that product was dropped."""
        return self._dropped

    # ------------------------------------------------------------------ codes

    def _label(self, i: int) -> str:
        if self._codes is not None:
            return str(self._codes[i])
        return f"P{int(i)}"

    def codes_at(self, indices) -> list[str]:
        """Codes of the products at ``indices`` (int or array_like of int)."""
        idx = np.asarray(indices)
        if idx.dtype.kind not in "iu":
            if idx.size == 0:
                idx = idx.astype(np.intp)
            else:
                raise InvalidEconomyError(f"indices must be integers, got dtype {idx.dtype}")
        flat = idx.reshape(-1)
        if flat.size and (flat.min() < -self._m or flat.max() >= self._m):
            bad = flat[(flat < -self._m) | (flat >= self._m)][0]
            raise InvalidEconomyError(
                f"index {int(bad)} is out of range for {self._m} products"
            )
        flat = np.where(flat < 0, flat + self._m, flat)
        if self._codes is not None:
            return self._codes[flat].tolist()
        return [f"P{int(i)}" for i in flat]

    def index_of(self, codes) -> np.ndarray:
        """Positions of ``codes`` (a str or iterable of str) as an int ndarray.

        Raises
        ------
        UnknownCodeError (an InvalidEconomyError and a KeyError)
            naming the first unknown code(s).
        """
        if isinstance(codes, str):
            codes = [codes]
        codes = list(codes) if not isinstance(codes, np.ndarray) else codes.tolist()
        if self._codes is None:
            out = _default_positions(codes)
            unknown = [codes[t] for t in np.flatnonzero((out < 0) | (out >= self._m))]
        else:
            if self._code_index is None:
                import pandas as pd

                object.__setattr__(self, "_code_index", pd.Index(self._codes))
            out = self._code_index.get_indexer(codes)
            unknown = [codes[t] for t in np.flatnonzero(out < 0)]
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
            raise UnknownCodeError(f"unknown product code(s): {shown}")
        return np.asarray(out, dtype=np.intp)

    def _with_index(self, index, codes) -> Economy:
        """Keep the pandas ``index`` as :attr:`index`, for readers that build the economy
        from arrays: ``index`` and ``codes`` label the products before any was dropped."""
        if self._dropped:
            index = index[~np.isin(np.asarray(codes, dtype=object), list(self._dropped))]
        if len(index) != self._m:
            raise InvalidEconomyError(f"index has {len(index)} labels for {self._m} products")
        object.__setattr__(self, "_index", index)
        return self

    def _as_codes(self, x):
        """``x`` (a Series or mapping by product) with labels of a kept :attr:`index`
        (pymrio's ``(region, sector)`` tuples, non-string labels) replaced by their codes,
        so ``1.1 * io.Y.sum(axis=1)`` can be a plan's targets; anything else unchanged
        (unknown labels are left for the caller's check to name)."""
        if self._index is None:
            return x
        if is_pandas(x) and getattr(x, "ndim", 0) == 1:
            pos = self._index.get_indexer(x.index)
            return x if (pos < 0).any() else x.set_axis(self.codes[pos].tolist())
        if isinstance(x, Mapping):
            pos = self._index.get_indexer(list(x))
            codes = self.codes
            return {codes[p] if p >= 0 else k: v for k, p, v in zip(x, pos, x.values(),
                                                                     strict=True)}
        return x

    # ------------------------------------------------------------------ misc

    def __repr__(self) -> str:
        r = self.n_resources
        return (
            f"Economy({self._m} product{'s' if self._m != 1 else ''}, "
            f"{r} resource{'s' if r != 1 else ''}, {self.nnz} non-zeros)"
        )

    def __reduce__(self):
        return (
            _rebuild,
            (self._A, self._R, self._codes, self._names, self._resource_names, dict(self._dropped),
             self._index),
        )


def _rebuild(A, R, codes, names, resource_names, dropped, index=None):
    e = Economy(A, R, codes=codes, names=names, resource_names=resource_names)
    object.__setattr__(e, "_dropped", types.MappingProxyType(dropped))
    object.__setattr__(e, "_index", index)
    return e


def product_index(products):
    """The products of ``products`` as a :class:`pandas.Index`: an Economy's
    :attr:`~Economy.index`, a pandas Index as it is, or an Index of codes named
    ``"code"``. Results build their row labels with it."""
    import pandas as pd

    if isinstance(products, Economy):
        return products.index
    if isinstance(products, pd.Index):
        return products
    return pd.Index(products, name="code")


# ---------------------------------------------------------------------- helpers


def _match_pandas_labels(a_name, A, r_name, R, codes, names, resource_names):
    """pandas arguments matched by label: a DataFrame A (or Z) gives the codes (or is
    put in the order of ``codes``), a DataFrame R gives the resource names (or is put in
    their order), a named Series R its one resource name, and every product axis of R
    and names is put in the order of the codes. Plain arrays and sparse matrices pass
    through unchanged. Also returns the index to keep (see :attr:`Economy.index`)."""
    if not any(map(is_pandas, (A, R, names))):
        return A, R, codes, names, resource_names, None
    index = _kept_index(A)
    A, labels = square_frame_labels(a_name, _joined(A, both=True))
    if labels is not None:
        if codes is None:
            codes = labels
        else:
            order = match_labels(f"{a_name}.index", labels, [str(c) for c in codes],
                                 "codes")
            A = A[np.ix_(order, order)]
            if index is not None:
                index = index[order]
    m = shape_2d(a_name, A)[0]
    R, resource_names = frame_resource_names(r_name, R, resource_names)
    R = align_products(r_name, _joined(R), codes, m)
    names = align_products("names", _joined(names), codes, m)
    return A, R, codes, names, resource_names, index


#: Separator between the levels of a MultiIndex in product codes (pymrio: "reg1.food").
CODE_SEP = "."


def index_codes(index) -> list[str]:
    """The product codes of a pandas index: a MultiIndex's levels joined with ``"."``
    (``("reg1", "food")`` → ``"reg1.food"``), other labels as strings."""
    if index.nlevels > 1:
        return [CODE_SEP.join(str(v) for v in label) for label in index]
    return [v if isinstance(v, str) else str(v) for v in index]


def _kept_index(A):
    """The index of a labelled DataFrame ``A`` that the economy keeps: a MultiIndex or
    labels that are not all strings (their codes are only their string form)."""
    if not is_pandas(A) or getattr(A, "ndim", 0) != 2:
        return None
    index = A.index
    if index.nlevels == 1 and (is_positional(index, A.shape[0])
                               or all(isinstance(v, str) for v in index)):
        return None
    return index


def _joined(x, both=False):
    """``x`` with a MultiIndex product axis (a Series' index, a DataFrame's columns, and
    its index too when ``both``) replaced by the codes, levels joined with ``"."``. The
    values are not copied (a shallow copy gets the new labels)."""
    if not is_pandas(x):
        return x
    axes = ("index",) if x.ndim == 1 else ("columns", "index") if both else ("columns",)
    multi = [a for a in axes if getattr(x, a).nlevels > 1]
    if not multi:
        return x
    x = x.copy(deep=False)
    for a in multi:
        setattr(x, a, index_codes(getattr(x, a)))
    return x


def _square_size(A, name: str = "A") -> int:
    m, n = shape_2d(name, A)
    if m != n:
        raise InvalidEconomyError(f"{name} must be square, got shape {(m, n)}")
    return m


def _list_codes(idx: Iterable[int], label, limit: int = 5) -> str:
    idx = list(idx)
    shown = ", ".join(repr(label(int(i))) for i in idx[:limit])
    return shown + (f", ... ({len(idx)} in all)" if len(idx) > limit else "")


def _zero_output_links(Z: sp.csc_array, T: np.ndarray, zero: np.ndarray):
    """For zero-output products: masks (has inputs, used as input, uses resources).

    Only non-zero stored values count as flows. O(nnz).
    """
    m = zero.shape[0]
    nz = Z.data != 0
    cum = np.zeros(nz.size + 1, dtype=np.int64)
    np.cumsum(nz, out=cum[1:])
    col_nnz = cum[Z.indptr[1:]] - cum[Z.indptr[:-1]]
    row_nnz = np.bincount(Z.indices[nz], minlength=m)
    has_in = zero & (col_nnz > 0)
    used = zero & (row_nnz > 0)
    has_res = zero & (T != 0).any(axis=0)
    return has_in, used, has_res


def _canonical_readonly(A: sp.csc_array) -> sp.csc_array:
    """A canonical CSC array with read-only views of ``A``'s arrays (no copy)."""
    out = sp.csc_array(A.shape, dtype=np.float64)
    out.data, out.indices, out.indptr = readonly(A.data), readonly(A.indices), readonly(A.indptr)
    out.has_canonical_format = True
    return out


def _drop_empty(Z: sp.csc_array, keep: np.ndarray) -> sp.csc_array:
    """Remove rows/columns not in ``keep``, which hold no non-zero values."""
    m = Z.shape[0]
    # drop explicit zeros that may sit in removed rows/columns, then renumber
    mask = np.ones(Z.nnz, dtype=bool)
    if Z.nnz:
        kept_row = np.zeros(m, dtype=bool)
        kept_row[keep] = True
        mask = kept_row[Z.indices]
    col_of = np.repeat(np.arange(m), np.diff(Z.indptr))
    kept_col = np.zeros(m, dtype=bool)
    kept_col[keep] = True
    mask &= kept_col[col_of]
    new = np.full(m, -1, dtype=Z.indices.dtype)
    new[keep] = np.arange(keep.size, dtype=Z.indices.dtype)
    indices = new[Z.indices[mask]]
    data = Z.data[mask]
    counts = np.bincount(new[col_of[mask]], minlength=keep.size) if mask.any() else np.zeros(
        keep.size, dtype=np.int64
    )
    indptr = np.zeros(keep.size + 1, dtype=Z.indptr.dtype)
    np.cumsum(counts, out=indptr[1:])
    out = sp.csc_array((keep.size, keep.size), dtype=np.float64)
    out.data, out.indices, out.indptr = readonly(data), readonly(indices), readonly(indptr)
    out.has_canonical_format = True
    return out


def _default_positions(codes: list) -> np.ndarray:
    """Positions of default codes "P<position>" (no sign, no leading zeros), −1 where a
    code is not one.

    Read at once by ``int`` and confirmed by writing each position back ("P+7", "P07",
    "P 7" or "P٧" do not come back the same): 0.46 ms for the 2,000 codes of 10³
    real-time changes, against 0.84 ms testing each string first; only a list with a
    code that is not one pays the test per code.
    """
    try:
        out = [int(c[1:]) for c in codes]
        if [f"P{k}" for k in out] == codes:
            return np.array(out, dtype=np.intp)
    except (TypeError, ValueError):
        pass
    return np.array([int(c[1:]) if type(c) is str and c[:1] == "P" and c.isascii()
                     and c[1:].isdigit() and (c[1] != "0" or len(c) == 2) else -1
                     for c in codes], dtype=np.intp)
