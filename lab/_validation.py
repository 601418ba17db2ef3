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

Every scipy.sparse argument, whatever its format (CSC, CSR, COO, BSR, DIA, LIL,
DOK), goes through :func:`sparse_parts` first, which checks its raw arrays
(structure, lengths, index dtypes and ranges, data dtype, shape) with NumPy alone:
no scipy routine and no compiled kernel ever reads a matrix that could make it
read out of bounds (an unchecked CSR ``data`` shorter than its ``indices`` gave
uninitialised memory, a BSR block index of 10⁸ a segmentation fault).

Helpers
-------
sparse_parts(name, M, *, allow_1d=False) -> SparseParts (checked arrays, any format)
check_sparse_matrix(name, M, shape=None, *, nonnegative=True, label=None)
    -> canonical ``scipy.sparse.csc_array`` (float64, sorted, no duplicates, read-only)
check_resource_matrix(name, R, n, *, nonnegative=True, row_label=None, col_label=None)
    -> read-only C-contiguous float64 ndarray of shape (r, n), r >= 1
check_vector(name, x, n, *, nonnegative=False, label=None) -> read-only float64 (n,)
check_finite_nonnegative(name, data, locate, *, nonnegative=True)
check_labels(name, labels, n, *, unique=True) -> object ndarray of str
check_positive_float(name, x), check_nonnegative_float(name, x)
check_positive_int_or_none(name, x), check_choice(name, value, choices)
dense_from_sparse(name, M) -> ndarray (any sparse format, checked first)
readonly(a) -> read-only view of ``a``; shape_2d(name, M) -> (m, n), checked
square_frame_labels, align_products, frame_resource_names, pandas_labels
    pandas arguments matched by label (never by position); duplicated labels raise
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from lab.exceptions import EfficiencyWarning, InvalidEconomyError

__all__ = [
    "DENSE_SILENT_MAX",
    "SPARSE_FORMATS",
    "SparseParts",
    "align_products",
    "check_choice",
    "check_finite_nonnegative",
    "check_labels",
    "check_nonnegative_float",
    "check_positive_float",
    "check_positive_int_or_none",
    "check_resource_matrix",
    "check_sparse_matrix",
    "check_vector",
    "dense_from_sparse",
    "describe_nonfinite",
    "frame_resource_names",
    "is_pandas",
    "is_positional",
    "match_labels",
    "pandas_labels",
    "physical_memory",
    "readonly",
    "shape_2d",
    "sparse_parts",
    "square_frame_labels",
]

#: Dense matrices with at most this many rows and columns convert to sparse silently.
DENSE_SILENT_MAX = 2000

_INT32_MAX = np.iinfo(np.int32).max


def fmt_bytes(n: float) -> str:
    """A byte count for messages: ``"1.5 GiB"``."""
    return _fmt_bytes(n)


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


#: The scipy.sparse formats whose arrays :func:`sparse_parts` knows how to check.
SPARSE_FORMATS = ("csc", "csr", "coo", "bsr", "dia", "lil", "dok")


class SparseParts(NamedTuple):
    """The checked arrays of a sparse matrix, in a form scipy can take safely.

    ``kind`` is ``"csc"`` or ``"csr"`` (``index`` = indices, ``pointer`` = indptr,
    both trimmed to the ``nnz`` stored entries) or ``"coo"`` (``index`` = rows,
    ``pointer`` = columns, int64). Every index is in range, ``data`` is a 1-D real
    array of the same length; values are not checked for finiteness here.
    """

    kind: str
    shape: tuple[int, int]
    data: np.ndarray
    index: np.ndarray
    pointer: np.ndarray
    int64: bool

    def locate(self, k: int, label, col_label) -> str:
        """``"['row', 'column']"`` of stored entry ``k``, for messages."""
        if self.kind == "coo":
            i, j = int(self.index[k]), int(self.pointer[k])
        else:
            major = int(np.searchsorted(self.pointer, k, side="right") - 1)
            i, j = (int(self.index[k]), major) if self.kind == "csc" else \
                (major, int(self.index[k]))
        return f"[{label(i)!r}, {col_label(j)!r}]"


def _array(name: str, what: str, a, *, ndim: int = 1, kinds: str = "iu") -> np.ndarray:
    """``a`` itself if it is an ndarray of ``ndim`` dimensions and a dtype of ``kinds``."""
    if not isinstance(a, np.ndarray):
        raise InvalidEconomyError(
            f"{name}.{what} must be a NumPy array, got {type(a).__name__}"
        )
    if a.ndim != ndim:
        raise InvalidEconomyError(f"{name}.{what} must be {ndim}-D, got shape {a.shape}")
    if a.dtype.kind not in kinds:
        want = "an integer" if kinds == "iu" else "a real numeric"
        raise InvalidEconomyError(f"{name}.{what} must have {want} dtype, got {a.dtype}")
    return a


def _sparse_shape(name: str, M, allow_1d: bool) -> tuple[tuple[int, int], bool]:
    """``(shape as 2-D, whether M is 1-D)``; a 1-D shape ``(n,)`` counts as ``(1, n)``."""
    try:
        shape = tuple(M.shape)
    except Exception as exc:
        raise InvalidEconomyError(f"{name} has no valid shape ({exc})") from None
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 0
               for s in shape):
        raise InvalidEconomyError(f"{name} has an invalid shape {shape!r}")
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1 and allow_1d:
        return (1, shape[0]), True
    if len(shape) != 2:
        raise InvalidEconomyError(f"{name} must be 2-D, got shape {shape}")
    return shape, False


def shape_2d(name: str, M) -> tuple[int, int]:
    """The shape of a 2-D matrix ``M`` (sparse, ndarray or nested sequence), checked,
    without converting it: two integers ≥ 0, else an error naming ``name``."""
    shape = getattr(M, "shape", None)
    if shape is None:
        try:
            shape = np.shape(M)
        except Exception as exc:  # ragged nesting
            raise InvalidEconomyError(f"{name} could not be read as an array: {exc}") from None
    try:
        shape = tuple(shape)
    except TypeError:
        raise InvalidEconomyError(f"{name} has an invalid shape {shape!r}") from None
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 0
               for s in shape):
        raise InvalidEconomyError(f"{name} has an invalid shape {shape!r}")
    if len(shape) != 2:
        raise InvalidEconomyError(f"{name} must be 2-D, got shape {shape}")
    return int(shape[0]), int(shape[1])


def _check_index_range(name: str, what: str, idx: np.ndarray, bound: int, shape) -> None:
    if idx.size and (idx.min() < 0 or idx.max() >= bound):
        k = int(np.flatnonzero((idx < 0) | (idx >= bound))[0])
        raise InvalidEconomyError(
            f"{name} has an index out of range: {name}.{what}[{k}] = {int(idx[k])} but "
            f"{name} has shape {shape}"
        )


def _compressed(name: str, shape, n_major: int, n_minor: int, indptr, indices,
                data_len: int, data_shape, major_word: str) -> int:
    """Check the index arrays of a CSR/CSC/BSR matrix; return its number of stored entries."""
    indptr = _array(name, "indptr", indptr)
    indices = _array(name, "indices", indices)
    if indptr.shape[0] != n_major + 1:
        raise InvalidEconomyError(
            f"{name} has {n_major} {major_word if n_major != 1 else major_word[:-1]} but its "
            f"indptr has length {indptr.shape[0]} (need {n_major + 1})"
        )
    if indptr[0] != 0:
        raise InvalidEconomyError(f"{name}.indptr[0] is {indptr[0]}, must be 0")
    if n_major and bool(np.any(indptr[1:] < indptr[:-1])):
        j = int(np.flatnonzero(indptr[1:] < indptr[:-1])[0])
        raise InvalidEconomyError(f"{name}.indptr decreases at {major_word[:-1]} {j}")
    if indices.shape[0] != data_len:
        raise InvalidEconomyError(
            f"{name}.data has shape {data_shape} but {name}.indices has shape "
            f"{indices.shape}: they must have the same length"
        )
    nnz = int(indptr[-1])
    if nnz > indices.shape[0]:
        raise InvalidEconomyError(
            f"{name}.indptr[-1] = {nnz} exceeds the length of {name}.indices ({indices.shape[0]})"
        )
    _check_index_range(name, "indices", indices[:nnz], n_minor, shape)
    return nnz


def _int64(a: np.ndarray) -> np.ndarray:
    return a if a.dtype == np.int64 else a.astype(np.int64)


def _from_python(name: str, what: str, items: list, kinds: str, ndim: int = 1) -> np.ndarray:
    """An ndarray from Python lists of numbers (LIL rows, DOK keys), checked."""
    try:
        a = np.array(items) if items else np.zeros((0,) * ndim if ndim == 1 else (0, 2),
                                                   dtype=np.int64)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidEconomyError(f"{name} has malformed {what}: {exc}") from None
    return _array(name, what, a, ndim=ndim, kinds=kinds)


def sparse_parts(name: str, M, *, allow_1d: bool = False) -> SparseParts:
    """Check every array of a scipy.sparse matrix ``M`` without calling scipy on them.

    Structure (lengths of indptr, indices and data; indptr starts at 0 and never
    decreases), index dtypes (integers) and ranges, the data dtype (real) and the
    shape are checked for every format in :data:`SPARSE_FORMATS`, so that no
    conversion or compiled routine ever reads out of bounds. BSR, DIA, LIL and DOK
    are turned into triplets here with NumPy. ``allow_1d``: a 1-D sparse array of
    length n counts as one row, shape ``(1, n)``. O(nnz).

    Raises
    ------
    InvalidEconomyError
        Naming ``name``, the array (``A.indices``, ``A.indptr``, ...) and what is wrong.
    """
    fmt = getattr(M, "format", None)
    if fmt not in SPARSE_FORMATS:
        raise InvalidEconomyError(f"{name} has the unsupported sparse format {fmt!r}; "
                                  f"use one of {', '.join(SPARSE_FORMATS)}")
    shape, one_d = _sparse_shape(name, M, allow_1d)
    m, n = shape
    if fmt in ("csr", "csc"):
        data = _array(name, "data", M.data, kinds="biuf")
        if fmt == "csc" and one_d:  # pragma: no cover - scipy has no 1-D CSC
            raise InvalidEconomyError(f"{name} must be 2-D, got shape {M.shape}")
        major, minor = (n, m) if fmt == "csc" else (m, n)
        word = "columns" if fmt == "csc" else "rows"
        nnz = _compressed(name, shape, major, minor, M.indptr, M.indices, data.shape[0],
                          data.shape, word)
        int64 = np.dtype(np.int64) in (M.indices.dtype, M.indptr.dtype)
        return SparseParts(fmt, shape, data[:nnz], M.indices[:nnz], M.indptr, int64)
    if fmt == "coo":
        data = _array(name, "data", M.data, kinds="biuf")
        coords = getattr(M, "coords", None)
        if coords is None:  # pragma: no cover - scipy < 1.13
            coords = (M.row, M.col)
        if not isinstance(coords, tuple) or len(coords) != (1 if one_d else 2):
            raise InvalidEconomyError(f"{name}.coords must hold one index array per "
                                      f"dimension of shape {M.shape}")
        names = ("coords[0]",) if one_d else ("row", "col")
        coords = [_array(name, w, c) for w, c in zip(names, coords, strict=True)]
        for w, c in zip(names, coords, strict=True):
            if c.shape[0] != data.shape[0]:
                raise InvalidEconomyError(
                    f"{name}.{w} has length {c.shape[0]} but {name}.data has length "
                    f"{data.shape[0]}: a COO matrix needs one row, column and value per entry"
                )
        if one_d:
            coords = [np.zeros(data.shape[0], dtype=np.int64), coords[0]]
            names = ("row", "coords[0]")
        for w, c, bound in zip(names, coords, shape, strict=True):
            _check_index_range(name, w, c, bound, M.shape)
        int64 = any(c.dtype == np.int64 for c in coords)
        return SparseParts("coo", shape, data, _int64(coords[0]), _int64(coords[1]), int64)
    if fmt == "bsr":
        data = _array(name, "data", M.data, ndim=3, kinds="biuf")
        R, C = data.shape[1:]
        if R < 1 or C < 1 or m % R or n % C:
            raise InvalidEconomyError(f"{name} has blocks of shape {(R, C)} that do not tile "
                                      f"its shape {shape}")
        nb = _compressed(name, shape, m // R, n // C, M.indptr, M.indices, data.shape[0],
                         data.shape, "block rows")
        indptr, bcol = _int64(M.indptr), _int64(M.indices[:nb])
        brow = np.repeat(np.arange(m // R, dtype=np.int64), np.diff(indptr))
        rows = brow[:, None, None] * R + np.arange(R)[None, :, None] + np.zeros(C, np.int64)
        cols = bcol[:, None, None] * C + np.arange(C)[None, None, :] + np.zeros((R, 1),
                                                                                 np.int64)
        int64 = np.dtype(np.int64) in (M.indices.dtype, M.indptr.dtype)
        return SparseParts("coo", shape, data[:nb].reshape(-1), rows.reshape(-1),
                           cols.reshape(-1), int64)
    if fmt == "dia":
        data = _array(name, "data", M.data, ndim=2, kinds="biuf")
        offsets = _array(name, "offsets", M.offsets)
        if offsets.shape[0] != data.shape[0]:
            raise InvalidEconomyError(f"{name}.offsets has length {offsets.shape[0]} but "
                                      f"{name}.data has {data.shape[0]} diagonals")
        if np.unique(offsets).shape[0] != offsets.shape[0]:
            raise InvalidEconomyError(f"{name}.offsets has duplicate values")
        # A[j - o, j] = data[d, j] for the diagonal d of offset o; entries outside A
        # (the padding of short diagonals) are not part of the matrix, as in scipy.
        inside = (offsets > -max(m, 1)) & (offsets < max(n, 1))
        offsets = offsets[inside].astype(np.int64)
        vals = data[inside][:, :n]
        cols = np.broadcast_to(np.arange(vals.shape[1], dtype=np.int64), vals.shape)
        rows = cols - offsets[:, None]
        keep = (rows >= 0) & (rows < m) & (vals != 0)
        return SparseParts("coo", shape, vals[keep], rows[keep], cols[keep], False)
    if fmt == "lil":
        rows, vals = M.rows, M.data
        for what, a in (("rows", rows), ("data", vals)):
            if not isinstance(a, np.ndarray) or a.shape != (m,):
                raise InvalidEconomyError(f"{name}.{what} must be an array of {m} lists, got "
                                          f"{getattr(a, 'shape', type(a).__name__)}")
        try:
            lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=m)
            vlengths = np.fromiter((len(v) for v in vals), dtype=np.int64, count=m)
        except TypeError as exc:
            raise InvalidEconomyError(f"{name} has a malformed row ({exc})") from None
        if not np.array_equal(lengths, vlengths):
            i = int(np.flatnonzero(lengths != vlengths)[0])
            raise InvalidEconomyError(f"{name}.rows[{i}] has {lengths[i]} columns but "
                                      f"{name}.data[{i}] has {vlengths[i]} values")
        cols = _from_python(name, "rows", [c for r in rows for c in r], "iu")
        data = _from_python(name, "data", [v for r in vals for v in r], "biuf")
        _check_index_range(name, "rows", cols, n, shape)
        rows_ = np.repeat(np.arange(m, dtype=np.int64), lengths)
        return SparseParts("coo", shape, data, rows_, _int64(cols), False)
    # dok: a dict of (i, j) -> value (i -> value in 1-D), read without scipy's methods
    d = getattr(M, "_dict", None)
    if not isinstance(d, dict):
        d = dict(dict.items(M)) if isinstance(M, dict) else {}
    keys = _from_python(name, "keys", list(d.keys()), "iu", ndim=1 if one_d else 2)
    data = _from_python(name, "values", list(d.values()), "biuf")
    if one_d:
        keys = np.stack([np.zeros(keys.shape[0], dtype=np.int64), _int64(keys)], axis=1)
    if keys.shape[1] != 2:
        raise InvalidEconomyError(f"{name} has keys that are not (row, column) pairs")
    for w, c, bound in (("keys[:, 0]", keys[:, 0], m), ("keys[:, 1]", keys[:, 1], n)):
        _check_index_range(name, w, c, bound, shape)
    return SparseParts("coo", shape, data, _int64(keys[:, 0]), _int64(keys[:, 1]), False)


def describe_nonfinite(*arrays) -> str:
    """'' if every number of ``arrays`` is finite, else how many are NaN and infinite.

    For the places that check a result by its numbers, whatever its status says (the
    CLI before it writes values, batch jobs before they are recorded done).
    """
    for a in arrays:
        a = np.asarray(a, dtype=np.float64)
        if not np.isfinite(a).all():
            return f"{int(np.isnan(a).sum())} NaN and {int(np.isinf(a).sum())} infinite numbers"
    return ""


def physical_memory() -> int | None:
    """Bytes of physical memory, or None where the platform does not say."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return None


def _parts_to_csc(parts: SparseParts, index_dtype) -> sp.csc_array:
    """A csc_array (duplicates summed, sorted) from checked parts; scipy is safe on them.

    The conversion allocates column pointers for every column: a shape whose pointers
    alone exceed the machine's memory is refused here, not left to a MemoryError.
    """
    need = 8.0 * (parts.shape[1] + 1)
    memory = physical_memory()
    if memory is not None and need > memory:
        raise InvalidEconomyError(
            f"a sparse matrix of shape {parts.shape} needs {_fmt_bytes(need)} for its "
            f"column pointers alone, more than this machine has; is its shape corrupt?")
    data = parts.data if parts.data.dtype == np.float64 else parts.data.astype(np.float64)
    if parts.kind == "coo":
        coords = (parts.index.astype(index_dtype), parts.pointer.astype(index_dtype))
        C = sp.coo_array((data, coords), shape=parts.shape).tocsc()
    else:
        arrays = (data, parts.index.astype(index_dtype), parts.pointer.astype(index_dtype))
        maker = sp.csc_array if parts.kind == "csc" else sp.csr_array
        C = sp.csc_array(maker(arrays, shape=parts.shape))
    C.sum_duplicates()
    return C


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
        parts = sparse_parts(name, M)
        keep_int64 = parts.int64
        if parts.kind == "csc":
            data, indices, indptr = parts.data, parts.index, parts.pointer
            nnz = data.shape[0]
            idx_dtypes = {indices.dtype, indptr.dtype}
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
            C = _csc_from_arrays(data, indices, indptr, parts.shape)
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
            nnz = parts.data.shape[0]
            _warn(
                f"{name} is in {M.format.upper()} format; converting it to CSC copies "
                f"{nnz} entries ({_fmt_bytes(nnz * (8 + 4 + 8))} temporarily)"
                + ("" if parts.data.dtype == np.float64
                   else f" and converts {parts.data.dtype} to float64")
            )
            # NaN/inf before scipy adds them up; the signs are checked after duplicates
            # are summed (as scipy defines a matrix with duplicate entries).
            check_finite_nonnegative(name, parts.data,
                                     lambda k: parts.locate(k, label, col_label),
                                     nonnegative=False)
            big = keep_int64 or nnz > _INT32_MAX or max(parts.shape) > _INT32_MAX
            C = _parts_to_csc(parts, np.int64 if big else np.int32)
    else:
        D = _asarray(name, M)
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


def _asarray(name: str, x) -> np.ndarray:
    """``np.asarray(x)``; what NumPy cannot read (ragged lists, ...) is lab's error."""
    try:
        return np.asarray(x)
    except Exception as exc:  # ragged nesting, objects whose __array__ fails, ...
        raise InvalidEconomyError(f"{name} could not be read as an array: {exc}") from None


def dense_from_sparse(name: str, M) -> np.ndarray:
    """A scipy.sparse matrix of any format (1-D counts as one row) as a dense ndarray,
    its arrays checked by :func:`sparse_parts` before scipy converts it."""
    return _dense(name, _parts_to_csc(sparse_parts(name, M, allow_1d=True), np.int64))


def _dense(name: str, C: sp.csc_array) -> np.ndarray:
    """``C.toarray()``, with a size that does not fit in memory as lab's error."""
    try:
        return C.toarray()
    except MemoryError:
        size = _fmt_bytes(8.0 * C.shape[0] * C.shape[1])
        raise InvalidEconomyError(f"{name} has shape {C.shape}: as a dense array it needs "
                                  f"{size}, more than this machine has") from None


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
        parts = sparse_parts(name, R, allow_1d=True)
        if parts.shape[1] != n:
            raise InvalidEconomyError(
                f"{other} has shape ({n}, {n}) but {name} has {parts.shape[1]} columns "
                f"({name} has shape {R.shape})"
            )
        check_finite_nonnegative(name, parts.data,
                                 lambda k: parts.locate(k, row_label, col_label),
                                 nonnegative=False)
        R = _dense(name, _parts_to_csc(parts, np.int64))
    else:
        R = _asarray(name, R)
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
    if sp.issparse(x):
        raise InvalidEconomyError(f"{name} must be a dense 1-D array, got a sparse "
                                  f"{x.format.upper()} matrix of shape {x.shape}")
    x = _asarray(name, x)
    _check_real_dtype(name, x.dtype)
    if x.ndim != 1:
        raise InvalidEconomyError(f"{name} must be 1-D, got shape {x.shape}")
    if x.shape[0] != n:
        raise InvalidEconomyError(f"{name} has length {x.shape[0]} but there are {n} products")
    x = np.ascontiguousarray(x, dtype=np.float64)
    check_finite_nonnegative(name, x, lambda k: f"[{label(k)!r}]", nonnegative=nonnegative)
    return readonly(x)


# --------------------------------------------------------------------------- pandas labels
# A pandas Series or DataFrame carries labels; lab matches them by label, never by
# position, and duplicated labels are an error naming them (a Series with a label
# twice would otherwise give the last value, or the first, silently).


def is_pandas(x) -> bool:
    """Whether ``x`` is a pandas object (checked without importing pandas)."""
    return type(x).__module__.split(".")[0] == "pandas"


def _shown(values, limit: int = 5) -> str:
    values = list(values)
    return ", ".join(repr(v) for v in values[:limit]) + (
        f", ... ({len(values)} in all)" if len(values) > limit else "")


def is_positional(index, n: int) -> bool:
    """A default RangeIndex 0..n-1 carries no labels: the values are in order."""
    return type(index).__name__ == "RangeIndex" and index.start == 0 and index.step == 1 \
        and len(index) == n


def pandas_labels(name: str, index) -> list[str]:
    """The labels of a pandas index as strings; duplicates are an error naming them."""
    labels = [v if isinstance(v, str) else str(v) for v in index]
    if len(set(labels)) != len(labels):
        seen: set = set()
        dup = list(dict.fromkeys(v for v in labels if v in seen or seen.add(v)))
        raise InvalidEconomyError(f"{name} has duplicated labels: {_shown(dup)}; each label "
                                  "must appear once (lab matches values by label)")
    return labels


def match_labels(name: str, got: list[str], want: list[str], what: str) -> np.ndarray:
    """Positions in ``got`` of each label of ``want``; different label sets are an error."""
    pos = {v: k for k, v in enumerate(got)}
    missing = [v for v in want if v not in pos]
    extra = [v for v in got if v not in set(want)]
    if missing or extra:
        parts = []
        if extra:
            parts.append(f"not {what}: {_shown(extra)}")
        if missing:
            parts.append(f"missing: {_shown(missing)}")
        raise InvalidEconomyError(f"{name} is labelled, and its labels do not match the "
                                  f"{what} ({'; '.join(parts)})")
    return np.array([pos[v] for v in want], dtype=np.intp)


def square_frame_labels(name: str, M):
    """``(M, codes)`` for a square pandas DataFrame ``M``: its values with the columns
    put in the order of the index (matched by label), and the index as codes. Other
    inputs are returned unchanged with codes None."""
    if not is_pandas(M) or getattr(M, "ndim", 0) != 2:
        return M, None
    rows = pandas_labels(f"{name}.index", M.index)
    cols = pandas_labels(f"{name}.columns", M.columns)
    if is_positional(M.index, M.shape[0]) and is_positional(M.columns, M.shape[1]):
        return M.to_numpy(), None
    if cols != rows:
        M = M.iloc[:, match_labels(f"{name}.columns", cols, rows, f"products of {name}.index")]
    return M.to_numpy(), rows


def align_products(name: str, x, codes, m: int, *, axis_what: str = "product codes"):
    """``x`` with its product axis in the order of ``codes`` when it is a pandas object.

    A Series is matched on its index, a DataFrame on its columns (product axis last,
    as for R). ``codes`` None means the default codes ``P0 ... P{m-1}``. A default
    RangeIndex 0..m-1 is taken in order. Other inputs are returned unchanged.
    """
    if not is_pandas(x):
        return x
    axis = x.index if getattr(x, "ndim", 1) == 1 else x.columns
    if is_positional(axis, m):
        return x.to_numpy()
    got = pandas_labels(f"{name}.{'index' if x.ndim == 1 else 'columns'}", axis)
    want = [f"P{i}" for i in range(m)] if codes is None else [str(c) for c in codes]
    order = match_labels(name, got, want, axis_what)
    values = x.to_numpy()
    return values[order] if x.ndim == 1 else values[:, order]


def frame_resource_names(name: str, R, resource_names):
    """``(R, resource_names)`` for a pandas DataFrame ``R`` whose index names resources:
    the index gives the names when none are passed, or is matched to them by label. A
    Series with a (string) name is one resource row of that name when none is passed."""
    if (resource_names is None and is_pandas(R) and getattr(R, "ndim", 2) == 1
            and isinstance(R.name, str) and R.name):
        return R, (R.name,)
    if not is_pandas(R) or getattr(R, "ndim", 1) != 2 or is_positional(R.index, R.shape[0]):
        return R, resource_names
    got = pandas_labels(f"{name}.index", R.index)
    if resource_names is None:
        return R, got
    want = [resource_names] if isinstance(resource_names, str) else list(resource_names)
    want = [v if isinstance(v, str) else str(v) for v in want]
    return R.iloc[match_labels(f"{name}.index", got, want, "resource_names"), :], resource_names
