"""Input validation shared by :class:`lab.Economy` and the solvers.

This is the one module that checks and normalises arguments. Every helper

* raises :class:`lab.exceptions.InvalidEconomyError` (a ``ValueError``) with a
  message that names the argument and, where shapes are involved, the shapes;
* is vectorised and costs O(size of the input) (O(nnz) for sparse matrices, with
  no temporary larger than one boolean per stored entry, and none on the fast path);
* never mutates the caller's arrays, including their ``flags``: read-only results
  are *views* (or private copies) whose own ``writeable`` flag is cleared;
* emits :class:`lab.exceptions.EfficiencyWarning` when it has to make a costly
  conversion or copy (COO/CSR -> CSC, float32 -> float64, summing duplicates,
  dense -> sparse for large matrices), saying which conversion costs what.

Helpers
-------
check_sparse_matrix(name, M, shape=None, *, nonnegative=True, label=None)
    -> canonical ``scipy.sparse.csc_array`` (float64, sorted, no duplicates, read-only)
check_resource_matrix(name, R, n, *, nonnegative=True, row_label=None, col_label=None)
    -> read-only C-contiguous float64 ndarray of shape (r, n), r >= 1
check_vector(name, x, n, *, nonnegative=False, label=None) -> read-only float64 (n,)
check_finite_nonnegative(name, data, locate, *, nonnegative=True)
check_labels(name, labels, n, *, unique=True) -> object ndarray of str
check_positive_float(name, x), check_nonnegative_float(name, x)
check_positive_int_or_none(name, x), check_choice(name, value, choices)
readonly(a) -> read-only view of ``a``
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Iterable

import numpy as np
import scipy.sparse as sp

from lab.exceptions import EfficiencyWarning, InvalidEconomyError

__all__ = [
    "DENSE_SILENT_MAX",
    "check_choice",
    "check_finite_nonnegative",
    "check_labels",
    "check_nonnegative_float",
    "check_positive_float",
    "check_positive_int_or_none",
    "check_resource_matrix",
    "check_sparse_matrix",
    "check_vector",
    "readonly",
]

#: Dense matrices with at most this many rows and columns convert to sparse silently.
DENSE_SILENT_MAX = 2000

_INT32_MAX = np.iinfo(np.int32).max


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def _warn(message: str) -> None:
    warnings.warn(message, EfficiencyWarning, stacklevel=4)


def readonly(a: np.ndarray) -> np.ndarray:
    """Return a read-only view of ``a`` without touching ``a``'s own flags."""
    v = a.view()
    v.flags.writeable = False
    return v


def _default_label(i: int) -> str:
    return str(int(i))


# --------------------------------------------------------------------------- scalars


def check_positive_float(name: str, x) -> float:
    """Return ``float(x)``; raise unless ``x`` is a finite real number > 0."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise InvalidEconomyError(f"{name} must be a positive number, got {x!r}")
    xf = float(x)
    if not (np.isfinite(xf) and xf > 0):
        raise InvalidEconomyError(f"{name} must be a positive finite number, got {x!r}")
    return xf


def check_nonnegative_float(name: str, x) -> float:
    """Return ``float(x)``; raise unless ``x`` is a finite real number >= 0."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise InvalidEconomyError(f"{name} must be a non-negative number, got {x!r}")
    xf = float(x)
    if not (np.isfinite(xf) and xf >= 0):
        raise InvalidEconomyError(f"{name} must be a non-negative finite number, got {x!r}")
    return xf


def check_positive_int_or_none(name: str, x) -> int | None:
    """Return ``None`` or ``int(x)``; raise unless ``x`` is None or an integer >= 1."""
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise InvalidEconomyError(f"{name} must be a positive integer or None, got {x!r}")
    if x < 1:
        raise InvalidEconomyError(f"{name} must be a positive integer or None, got {x!r}")
    return int(x)


def check_choice(name: str, value, choices: Iterable):
    """Return ``value`` if it is one of ``choices``; else raise listing them."""
    choices = tuple(choices)
    try:
        ok = value in choices
    except TypeError:
        ok = False
    if not ok:
        listed = ", ".join(repr(c) for c in choices)
        raise InvalidEconomyError(f"{name} must be one of {listed}; got {value!r}")
    return value


# --------------------------------------------------------------------------- labels


def check_labels(name: str, labels, n: int, *, unique: bool = True) -> np.ndarray:
    """Check a sequence of ``n`` strings; return a read-only object ndarray.

    Duplicates (when ``unique``) are reported by value.
    """
    if isinstance(labels, (str, bytes)):
        raise InvalidEconomyError(f"{name} must be a sequence of strings, not a single string")
    arr = np.asarray(labels, dtype=object) if not isinstance(labels, np.ndarray) else labels
    if arr.ndim != 1:
        raise InvalidEconomyError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise InvalidEconomyError(f"{name} has length {arr.shape[0]} but there are {n} products")
    small = n <= 10_000  # plain Python; importing pandas would cost more than the check
    if not small:
        import pandas as pd
    if arr.dtype.kind != "U":
        ok = all(isinstance(c, str) for c in arr) if small else \
            pd.api.types.infer_dtype(arr, skipna=False) == "string"
        if n and not ok:
            bad = next(i for i, c in enumerate(arr) if not isinstance(c, str))
            raise InvalidEconomyError(
                f"{name} must contain only strings; {name}[{bad}] is {arr[bad]!r} "
                f"({type(arr[bad]).__name__})"
            )
    out = np.array(arr, dtype=object)  # private copy: strings are shared, not copied
    if unique and n:
        if small:
            seen: set = set()
            dup = np.array([c in seen or seen.add(c) for c in out.tolist()], dtype=bool)
        else:
            dup = pd.Index(out).duplicated(keep="first")
        if dup.any():
            vals = list(dict.fromkeys(out[dup].tolist()))
            shown = ", ".join(repr(v) for v in vals[:5]) + (", ..." if len(vals) > 5 else "")
            raise InvalidEconomyError(
                f"{name} must be unique; {len(vals)} duplicated value(s): {shown}"
            )
    out.flags.writeable = False
    return out


def check_resource_names(resource_names, r: int, *, other: str = "R",
                         shape=None) -> tuple[str, ...]:
    """Names of ``r`` resource rows: checked, or the defaults ``labour, R1, R2, ...``.

    ``other`` and ``shape`` name the array whose rows they label, for the message.
    """
    if resource_names is None:
        return ("labour",) + tuple(f"R{q}" for q in range(1, r))
    if isinstance(resource_names, str):
        resource_names = (resource_names,)
    names = np.asarray(list(resource_names), dtype=object)
    if names.shape[0] != r:
        raise InvalidEconomyError(
            f"resource_names has length {names.shape[0]} but {other} has {r} row(s)"
            + (f" ({other} has shape {shape})" if shape is not None else "")
        )
    return tuple(check_labels("resource_names", names, r).tolist())


# --------------------------------------------------------------------------- values


def check_finite_nonnegative(
    name: str,
    data: np.ndarray,
    locate: Callable[[int], str],
    *,
    nonnegative: bool = True,
) -> None:
    """Raise if ``data`` holds NaN/inf (or, if ``nonnegative``, negative) values.

    ``locate(k)`` describes the position of flat entry ``k`` (e.g. ``"['P1', 'P0']"``);
    it is only called for the first offending entry. The fast path (all values
    fine) uses one sum and one min over ``data`` and allocates nothing.
    """
    if data.size == 0:
        return
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(data, axis=None)
    if not np.isfinite(total):
        nan = np.isnan(data)
        inf = np.isinf(data)
        n_nan, n_inf = int(nan.sum()), int(inf.sum())
        if n_nan or n_inf:
            k = int(np.flatnonzero(nan | inf)[0])
            raise InvalidEconomyError(
                f"{name} has {n_nan} NaN and {n_inf} infinite (inf) entries; "
                f"the first is {name}{locate(k)} = {float(data.flat[k])!r}"
            )
    if nonnegative and np.min(data) < 0:
        neg = data < 0
        cnt = int(neg.sum())
        k = int(np.flatnonzero(neg)[0])
        raise InvalidEconomyError(
            f"{name} has {cnt} negative entries (smallest {float(np.min(data))!r}); "
            f"the first is {name}{locate(k)} = {float(data.flat[k])!r}"
        )


# --------------------------------------------------------------------------- sparse


def _is_float64(a: np.ndarray) -> bool:
    return a.dtype == np.float64


def _check_real_dtype(name: str, dtype: np.dtype) -> None:
    if dtype.kind not in "biuf":
        raise InvalidEconomyError(f"{name} must have a real numeric dtype, got {dtype}")


def _check_csc_structure(name: str, shape: tuple[int, int], indptr, indices) -> int:
    """Check CSC index arrays; return nnz. O(nnz), vectorised."""
    m, n = shape
    if indptr.ndim != 1 or indptr.shape[0] != n + 1:
        raise InvalidEconomyError(
            f"{name} has {n} columns but its indptr has length {indptr.shape[0]} (need {n + 1})"
        )
    if indptr[0] != 0:
        raise InvalidEconomyError(f"{name}.indptr[0] is {indptr[0]}, must be 0")
    nnz = int(indptr[-1])
    if nnz > indices.shape[0]:
        raise InvalidEconomyError(
            f"{name}.indptr[-1] = {nnz} exceeds the length of {name}.indices ({indices.shape[0]})"
        )
    if n and not bool(np.all(indptr[1:] >= indptr[:-1])):
        j = int(np.flatnonzero(indptr[1:] < indptr[:-1])[0])
        raise InvalidEconomyError(f"{name}.indptr decreases at column {j}")
    if nnz:
        idx = indices[:nnz]
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= m:
            k = int(np.flatnonzero((idx < 0) | (idx >= m))[0])
            j = int(np.searchsorted(indptr, k, side="right") - 1)
            raise InvalidEconomyError(
                f"{name} has a row index out of range: {name}.indices[{k}] = {int(idx[k])} "
                f"(column {j}) but {name} has shape {shape}"
            )
    return nnz


def _csc_from_arrays(data, indices, indptr, shape) -> sp.csc_array:
    """Wrap arrays in a csc_array without copying them."""
    out = sp.csc_array(shape, dtype=np.float64)
    out.data, out.indices, out.indptr = data, indices, indptr
    for flag in ("_has_canonical_format", "_has_sorted_indices"):
        out.__dict__.pop(flag, None)  # recomputed lazily from the new arrays
    return out


def check_sparse_matrix(
    name: str,
    M,
    shape: tuple[int, int] | None = None,
    *,
    nonnegative: bool = True,
    label: Callable[[int], str] | None = None,
    col_label: Callable[[int], str] | None = None,
) -> sp.csc_array:
    """Validate ``M`` and return it as a canonical, read-only ``csc_array``.

    Parameters
    ----------
    name : str
        Argument name used in messages (``"A"``).
    M : scipy.sparse array or matrix (any format), or dense 2-D array_like
    shape : tuple, optional
        Required shape; ``(m, None)`` or ``(None, n)`` fix one dimension. A square
        matrix is requested with ``shape="square"``.
    nonnegative : bool
        Reject negative entries.
    label, col_label : callable, optional
        ``label(i)`` names row ``i`` (and column ``i`` unless ``col_label`` is given)
        in messages, e.g. a product code. Default: the index.

    Returns
    -------
    scipy.sparse.csc_array
        float64 data, sorted row indices, duplicates summed, int32 indices when
        they fit and the input was not int64, else int64. Its ``data``,
        ``indices`` and ``indptr`` are read-only. A ``csc`` input that is already
        canonical float64 is **not copied**: the result holds read-only views of
        its arrays (the caller's arrays and their flags are untouched).

    Warns
    -----
    EfficiencyWarning
        On any copy: format conversion (COO/CSR/... -> CSC), dtype conversion
        (e.g. float32 -> float64), sorting indices/summing duplicates, or
        dense -> sparse for matrices larger than ``DENSE_SILENT_MAX``.
    """
    label = label or _default_label
    col_label = col_label or label
    keep_int64 = False

    if sp.issparse(M):
        if M.ndim != 2:
            raise InvalidEconomyError(f"{name} must be 2-D, got shape {M.shape}")
        _check_real_dtype(name, M.dtype)
        fmt = M.format
        if fmt == "csc":
            idx_dtypes = {M.indices.dtype, M.indptr.dtype}
            keep_int64 = np.dtype(np.int64) in idx_dtypes
            nnz = _check_csc_structure(name, M.shape, M.indptr, M.indices)
            if M.data.ndim != 1 or M.data.shape[0] < nnz:
                raise InvalidEconomyError(
                    f"{name}.data has shape {M.data.shape} but {name}.indptr[-1] = {nnz}"
                )
            data, indices, indptr = M.data[:nnz], M.indices[:nnz], M.indptr
            if not all(d in (np.dtype(np.int32), np.dtype(np.int64)) for d in idx_dtypes) or (
                len(idx_dtypes) > 1
            ):
                it = np.int64 if keep_int64 or nnz > _INT32_MAX else np.int32
                cost = _fmt_bytes(nnz * np.dtype(it).itemsize)
                _warn(
                    f"{name} has index dtypes {sorted(map(str, idx_dtypes))}; converting them "
                    f"to {np.dtype(it)} copies its indices ({cost})"
                )
                indices, indptr = indices.astype(it), indptr.astype(it)
            if not (data.flags.c_contiguous and indices.flags.c_contiguous):
                _warn(
                    f"{name}.data or {name}.indices is not contiguous; copying "
                    f"{_fmt_bytes(nnz * (8 + indices.itemsize))}"
                )
                data, indices = np.ascontiguousarray(data), np.ascontiguousarray(indices)
            indptr = np.ascontiguousarray(indptr)
            if not _is_float64(data):
                _warn(
                    f"{name} has dtype {data.dtype}; converting to float64 copies its "
                    f"{nnz} values ({_fmt_bytes(8 * nnz)})"
                )
                data = data.astype(np.float64)
            C = _csc_from_arrays(data, indices, indptr, M.shape)
            if not C.has_canonical_format:
                _warn(
                    f"{name} has unsorted row indices or duplicate entries; sorting and "
                    f"summing them copies {name} ({_fmt_bytes(C.nnz * (8 + indices.itemsize))})"
                )
                C = sp.csc_array(
                    (np.array(C.data), np.array(C.indices), np.array(C.indptr)), shape=C.shape
                )
                C.sum_duplicates()
        else:
            if fmt == "coo":
                coords = getattr(M, "coords", None) or (M.row, M.col)
                keep_int64 = any(c.dtype == np.int64 for c in coords)
                for c, dim in zip(coords, M.shape, strict=True):
                    if c.size and (int(c.min()) < 0 or int(c.max()) >= dim):
                        bad = int(np.flatnonzero((c < 0) | (c >= dim))[0])
                        raise InvalidEconomyError(
                            f"{name} has an index out of range at entry {bad}: "
                            f"{int(c[bad])} but {name} has shape {M.shape}"
                        )
            elif hasattr(M, "indices") and hasattr(M, "indptr"):
                keep_int64 = M.indices.dtype == np.int64 or M.indptr.dtype == np.int64
                if fmt == "csr":
                    _check_csc_structure(name, M.shape[::-1], M.indptr, M.indices)
            nnz = M.nnz
            _warn(
                f"{name} is in {fmt.upper()} format; converting it to CSC copies "
                f"{nnz} entries ({_fmt_bytes(nnz * (8 + 4 + 8))} temporarily)"
                + ("" if M.dtype == np.float64 else f" and converts {M.dtype} to float64")
            )
            C = sp.csc_array(M.tocsc(), dtype=np.float64)
            C.sum_duplicates()
    else:
        try:
            D = np.asarray(M)
        except Exception as exc:  # pragma: no cover - exotic inputs
            raise InvalidEconomyError(f"{name} could not be read as an array: {exc}") from exc
        if D.ndim != 2:
            raise InvalidEconomyError(f"{name} must be 2-D, got shape {D.shape}")
        _check_real_dtype(name, D.dtype)
        if max(D.shape) > DENSE_SILENT_MAX:
            _warn(
                f"{name} is a dense {D.shape[0]}x{D.shape[1]} array; converting it to sparse "
                f"scans all {D.size} entries ({_fmt_bytes(D.size * D.itemsize)}); pass a "
                f"scipy.sparse csc_array instead"
            )
        D = np.asarray(D, dtype=np.float64)
        C = sp.csc_array(D)
        C.sum_duplicates()

    # index dtype: keep int64 if given int64; int32 otherwise when it fits
    it = np.int64 if keep_int64 or C.nnz > _INT32_MAX or max(C.shape) > _INT32_MAX else None
    if it is not None and C.indices.dtype != np.int64:
        C = _csc_from_arrays(C.data, C.indices.astype(np.int64), C.indptr.astype(np.int64), C.shape)

    m, n = C.shape
    if shape is not None:
        if shape == "square":
            if m != n:
                raise InvalidEconomyError(f"{name} must be square, got shape {C.shape}")
        else:
            want_m, want_n = shape
            if (want_m is not None and want_m != m) or (want_n is not None and want_n != n):
                want = tuple("any" if s is None else s for s in shape)
                raise InvalidEconomyError(
                    f"{name} has shape {C.shape} but shape {want} is required".replace("'", "")
                )

    indptr, indices = C.indptr, C.indices

    def locate(k: int) -> str:
        j = int(np.searchsorted(indptr, k, side="right") - 1)
        return f"[{label(int(indices[k]))!r}, {col_label(j)!r}]"

    check_finite_nonnegative(name, C.data, locate, nonnegative=nonnegative)

    out = _csc_from_arrays(readonly(C.data), readonly(C.indices), readonly(C.indptr), C.shape)
    out.has_canonical_format = True
    return out


# --------------------------------------------------------------------------- dense


def check_resource_matrix(
    name: str,
    R,
    n: int,
    *,
    nonnegative: bool = True,
    row_label: Callable[[int], str] | None = None,
    col_label: Callable[[int], str] | None = None,
    other: str = "A",
) -> np.ndarray:
    """Validate ``R`` (1-D of length ``n`` or 2-D ``(r, n)``, dense or sparse).

    Returns a read-only C-contiguous float64 ndarray of shape ``(r, n)``, ``r >= 1``.
    A C-contiguous float64 input is not copied (a read-only view is returned).
    ``other`` names the matrix that fixes ``n`` in messages
    ("A has shape (5, 5) but R has 3 columns").
    """
    row_label = row_label or _default_label
    col_label = col_label or _default_label
    if sp.issparse(R):
        _check_real_dtype(name, R.dtype)
        R = R.toarray()
    else:
        R = np.asarray(R)
        _check_real_dtype(name, R.dtype)
    if R.ndim == 1:
        R = R.reshape(1, -1)
    if R.ndim != 2:
        raise InvalidEconomyError(f"{name} must be 1-D or 2-D, got shape {R.shape}")
    if R.shape[1] != n:
        raise InvalidEconomyError(
            f"{other} has shape ({n}, {n}) but {name} has {R.shape[1]} columns "
            f"({name} has shape {R.shape})"
        )
    if R.shape[0] < 1:
        raise InvalidEconomyError(
            f"{name} must have at least one row (labour), got shape {R.shape}"
        )
    R = np.ascontiguousarray(R, dtype=np.float64)

    def locate(k: int) -> str:
        q, j = divmod(k, n)
        return f"[{row_label(q)!r}, {col_label(j)!r}]"

    check_finite_nonnegative(name, R, locate, nonnegative=nonnegative)
    return readonly(R)


def check_vector(
    name: str,
    x,
    n: int,
    *,
    nonnegative: bool = False,
    label: Callable[[int], str] | None = None,
) -> np.ndarray:
    """Validate a finite 1-D vector of length ``n``; return it read-only float64."""
    label = label or _default_label
    x = np.asarray(x)
    _check_real_dtype(name, x.dtype)
    if x.ndim != 1:
        raise InvalidEconomyError(f"{name} must be 1-D, got shape {x.shape}")
    if x.shape[0] != n:
        raise InvalidEconomyError(f"{name} has length {x.shape[0]} but there are {n} products")
    x = np.ascontiguousarray(x, dtype=np.float64)
    check_finite_nonnegative(name, x, lambda k: f"[{label(k)!r}]", nonnegative=nonnegative)
    return readonly(x)
