"""From money flows to an Economy: the steps the csv and parquet readers share.

A products table (codes, names, total output, resource columns) and flow
triplets (input, output, value) become A = Z·diag(1/x) and R = T·diag(1/x):
resource columns are picked (:func:`resource_columns`), units and negative
flows checked (:func:`check_units`, :func:`clip_negative`), the triplets turned
into canonical CSC without a copy when they are in CSC order already
(:func:`flows_to_csc`), and the Economy built once (:func:`economy_from_flows`).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from lab._validation import check_finite_nonnegative, check_labels
from lab.economy import Economy
from lab.exceptions import DataFormatError, InvalidEconomyError


def resource_columns(columns, labour, path) -> list[str]:
    """The resource columns of a products table (see the module docstring)."""
    cols = [c for c in columns if c not in ("code", "name", "total_output", "unit")]
    if labour == "none":
        return []
    if labour is not None:
        if labour not in cols:
            raise DataFormatError(f"labour={labour!r} but the file has no such column; its "
                                  f"resource columns are {', '.join(cols) or 'none'}",
                                  path=path, line=1)
        return [labour] + [c for c in cols if c != labour]
    if not cols:
        raise DataFormatError("the table has no labour column (no resource column after code, "
                              "name, total_output); pass labour='none' to read it without "
                              "labour data", path=path, line=1)
    return cols


def check_units(punits, ppath, funits, fpath) -> None:
    """``punits``/``funits``: the distinct units found in each file (None: no column)."""
    for units, path in ((punits, ppath), (funits, fpath)):
        if units is not None and len(units) > 1:
            raise DataFormatError(f"the 'unit' column mixes units {sorted(units)[:5]}; one "
                                  "money unit per file is required", path=path)
    if punits and funits and set(punits) != set(funits):
        raise DataFormatError(f"unit {next(iter(funits))!r} of the flows disagrees with unit "
                              f"{next(iter(punits))!r} of {ppath}", path=fpath)


def clip_negative(value, i, j, codes, fpath, negative, line_of):
    """Raise on (or clip, with a warning) negative flows; return the kept mask or None."""
    neg = value < 0
    if not neg.any():
        return None
    cnt, total = int(neg.sum()), float(value[neg].sum())
    k = int(np.argmax(neg))
    if negative == "error":
        raise DataFormatError(
            f"negative flow {float(value[k])!r} from {codes[i[k]]!r} to {codes[j[k]]!r} "
            f"({cnt} negative flows in all, total {total:.6g}); pass negative='clip' "
            "to set them to 0", path=fpath, line=line_of(k))
    warnings.warn(f"{fpath}: {cnt} negative flows (total {total:.6g}, first on line "
                  f"{line_of(k)}) set to 0", UserWarning, stacklevel=4)
    return ~neg


def economy_from_flows(codes, names, x, T, resource_names, i, j, value, *, ppath, fpath,
                       flow_line=None, checked=False):
    """Build an Economy from checked product data and flow triplets (value ≥ 0, finite).

    ``codes`` object array of str (unique), ``x`` ≥ 0 finite, ``T`` (r, m) ≥ 0 finite,
    ``i``/``j`` valid indices. A product with inputs, used as an input, or using
    resources but with zero output raises DataFormatError naming it.

    The triplets become CSC with :func:`flows_to_csc` (no copy when they are in CSC
    order already, as lab writes them; ``i`` and ``value`` may then become the arrays
    of A and are divided in place: the caller must not use them afterwards).
    ``checked=True``: the codes are known to be unique strings and the names strings
    (the Parquet reader checked them with Arrow), so they are not checked again.
    """
    m = len(codes)
    zero = x == 0
    if zero.any():
        for what, idx in (("has inputs", j), ("is used as an input", i)):
            hit = np.zeros(m, dtype=bool)
            hit[idx[value != 0]] = True
            bad = zero & hit
            if bad.any():
                p = int(np.argmax(bad))
                where = ""
                if flow_line is not None:
                    k = int(np.argmax((idx == p) & (value != 0)))
                    where = f" ({fpath.name} line {flow_line(k)})"
                raise DataFormatError(f"product {codes[p]!r} {what} but zero total output"
                                      + where, path=ppath, line=p + 2 if ppath.suffix ==
                                      ".csv" else p + 1)
        bad = zero & (T != 0).any(axis=0)
        if bad.any():
            p = int(np.argmax(bad))
            raise DataFormatError(f"product {codes[p]!r} uses resources but has zero total "
                                  "output", path=ppath,
                                  line=p + 2 if ppath.suffix == ".csv" else p + 1)
    Z, summed = _flows_to_csc(i, j, value, m)
    del i, j, value
    try:
        if not checked:
            codes = check_labels("codes", codes, m)
        if summed:  # a sum of duplicated flows can overflow
            indptr, indices = Z.indptr, Z.indices

            def locate(k):
                c = int(np.searchsorted(indptr, k, side="right") - 1)
                return f"[{codes[int(indices[k])]!r}, {codes[c]!r}]"

            check_finite_nonnegative("Z", Z.data, locate)
        return Economy._from_valid_flows(
            Z, np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(T, dtype=np.float64),
            codes=codes, names=names, resource_names=tuple(resource_names), zero_output="drop",
            inplace=True, names_checked=checked)
    except DataFormatError:
        raise
    except InvalidEconomyError as exc:
        raise DataFormatError(str(exc), path=ppath.parent) from exc


def flows_to_csc(i, j, value, m) -> sp.csc_array:
    """Canonical CSC (m × m) of triplets (i, j, value): duplicates summed, zeros dropped.

    Triplets already in CSC order (columns non-decreasing, rows increasing within a
    column: the order lab writes) are used as they are, without a copy, after
    dropping zero values; others are sorted with a counting sort by column, O(nnz + m).
    Indices are int32 when m and nnz fit, else int64; data float64. The result may
    share memory with ``i`` and ``value``.
    """
    return _flows_to_csc(i, j, value, m)[0]


def _flows_to_csc(i, j, value, m):
    """(:func:`flows_to_csc`, whether the triplets had to be sorted and summed)."""
    from lab._kernels.io_kernels import (
        coo_to_csc,
        flows_are_csc,
        indptr_from_sorted,
    )

    n = value.size
    idx_dtype = np.int32 if max(m, n) < np.iinfo(np.int32).max else np.int64
    i = np.ascontiguousarray(i, dtype=idx_dtype)
    j = np.ascontiguousarray(j, dtype=idx_dtype)
    value = np.ascontiguousarray(value, dtype=np.float64)
    indptr = np.empty(m + 1, dtype=idx_dtype)
    ordered, zeros = flows_are_csc(i, j, value)
    if ordered:
        if zeros:
            keep = value != 0
            i, j, value = i[keep], j[keep], value[keep]
        indptr_from_sorted(j, m, indptr)
        indices, data = i, value
    else:
        indices = np.empty(n, dtype=idx_dtype)
        data = np.empty(n, dtype=np.float64)
        nnz = coo_to_csc(i, j, value, m, indptr, indices, data)
        if nnz < n:
            indices, data = indices[:nnz].copy(), data[:nnz].copy()
    Z = sp.csc_array((m, m), dtype=np.float64)
    Z.data, Z.indices, Z.indptr = data, indices, indptr
    Z.has_canonical_format = True
    return Z, not ordered


def check_writable_labels(codes, resource_names) -> None:
    """Refuse, before writing, labels that a file could not give back unchanged.

    An empty code or resource name is written as an empty cell, which every reader
    of lab takes for a missing (truncated) one. Everything else (commas, quotes,
    line breaks, leading or trailing blanks, any Unicode) is quoted as needed and
    reads back the same.
    """
    for what, labels in (("product code", codes), ("resource name", resource_names)):
        arr = np.asarray(labels, dtype=object)
        empty = np.flatnonzero(arr == "") if arr.size else []
        if len(empty):
            where = f" (product {int(empty[0])})" if what == "product code" else ""
            raise InvalidEconomyError(f"an empty {what}{where} cannot be written: a reader "
                                      "would take the empty cell for a missing one; give it a "
                                      "name")


def line_end(*labels) -> str:
    """The line end for a CSV file holding ``labels``: ``"\\n"``, or ``"\\r\\n"`` when
    one of them has a carriage return (Python's csv writer, which pandas uses, quotes
    a field only for the characters of its line end: a lone ``\\r`` would otherwise be
    written bare and read back as the end of a line)."""
    import pandas as pd

    for group in labels:
        if group is not None and len(group) and pd.Series(
                np.asarray(group, dtype=object)).str.contains("\r", regex=False).any():
            return "\r\n"
    return "\n"


def economy_columns(economy):
    """(codes as str array, resource names) for the writers; names clashing are refused."""
    check_writable_labels(economy.codes, economy.resource_names)
    rn = list(economy.resource_names)
    bad = [n for n in rn if n in ("code", "name", "total_output", "unit", "input_code",
                                  "output_code", "value")]
    if bad:
        raise InvalidEconomyError(f"resource names {bad} clash with the columns of the layout")
    return np.asarray(economy.codes, dtype=object), rn


def default_codes(codes) -> bool:
    """Whether ``codes`` are ``"P0", "P1", ...`` (materialised by reading ``Economy.codes``)."""
    return all(c == f"P{i}" for i, c in enumerate(codes))
