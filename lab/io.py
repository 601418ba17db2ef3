"""Reading and writing economies and results.

:func:`read_economy` and :func:`write_economy` dispatch on ``format``; when it is
omitted the format is detected from the name, then from the content (magic bytes).

Formats
-------
``"csv"``
    A folder with ``products.csv`` and ``flows.csv`` (the layout of the real tables
    shipped with lab; see :mod:`lab._io_csv`). ``products.csv`` has
    ``code,name,total_output`` and then one column per resource row, in order
    (row 0 is labour), named after the resource; ``flows.csv`` has
    ``input_code,output_code,value`` (money flows). ``A = flows·diag(1/total_output)``,
    ``R = resources·diag(1/total_output)``. An :class:`~lab.Economy` holds no money
    data, so the writer writes ``total_output = 1`` for every product: the flows
    *are* the coefficients of A and the resource columns *are* the rows of R, and a
    round trip gives the same A and R bit for bit (values are written with 17
    significant digits). Optional ``unit`` column in both files: see *Units*.
``"parquet"``
    The same layout as ``"csv"`` with ``products.parquet`` and ``flows.parquet``
    (see :mod:`lab._io_parquet`): the code columns are written dictionary-encoded
    in product order and read in record batches into preallocated arrays, one
    dictionary lookup per distinct code and row group rather than per flow.
``"mtx"``
    Matrix Market: ``NAME.mtx`` holds A, and the sidecar ``NAME.resources.csv``
    holds ``code`` plus one column per resource row (see :mod:`lab._io_mtx`).
``"npz"``
    One NumPy ``.npz`` file holding the CSC arrays of A, the resource rows and
    the codes. Loaded with ``allow_pickle=False``: reading never runs code.
``"dense-csv"``
    A small dense CSV matrix with a header row and a header column of product codes,
    resource rows after a ``#resources`` line (see :mod:`lab._io_dense`).

Detection: a folder holding ``products.parquet`` is ``"parquet"``, one holding
``products.csv`` is ``"csv"``; a file named ``*.npz``, ``*.mtx``, ``*.csv`` is
``"npz"``, ``"mtx"``, ``"dense-csv"``; otherwise the first bytes decide
(``PK\\x03\\x04`` npz, ``%%MatrixMarket`` mtx, ``PAR1`` is refused as a lone
Parquet file, text starting with a ``code`` cell dense-csv).

Resource columns (csv, parquet)
    Every column of the products file after ``code``, ``name``, ``total_output``
    other than ``unit`` is a resource row, in header order: for the shipped tables
    this is the same choice as :meth:`lab.Economy.from_csv` (their labour columns are
    in its order of preference). ``labour=NAME`` moves that column to row 0;
    ``labour="none"`` ignores all of them (R = one zero row named ``"none"``);
    a table with no resource column needs ``labour="none"``.

Units (csv, parquet)
    If the products file has a ``unit`` column, it is the money unit of
    ``total_output``; if the flows file has one, the unit of ``value``. Each must
    hold one unit throughout its file, and where both files have one they must
    agree; otherwise :class:`~lab.exceptions.DataFormatError` names both files and
    units. Units are compared as exact strings after stripping blanks.

Bad data
    Every problem raises :class:`~lab.exceptions.DataFormatError` naming the file and
    the line (1-based file line for text files, header = line 1; 1-based row for
    Parquet, row 1 = first data row) or product code, and what is wrong: truncated
    or corrupt files, unknown product codes in flows, duplicated codes, negative
    (``negative="clip"`` sets them to 0 with a warning), NaN/inf or non-numeric
    values, a product with inputs but zero output, mismatched units.

Results are written as CSV or Parquet (by file suffix), atomically. Every writer is
atomic (:func:`lab._atomic.atomic_path`); folder formats write each file atomically.
"""

from __future__ import annotations

import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lab._atomic import atomic_path
from lab._validation import check_choice, check_finite_nonnegative, check_labels
from lab.exceptions import DataFormatError, InvalidEconomyError

__all__ = ["FORMATS", "detect_format", "read_economy", "write_economy", "write_values"]

NPZ_VERSION = 1
_NPZ_KEYS = ("version", "shape", "indptr", "indices", "data", "R", "resource_names")

#: The formats :func:`read_economy` and :func:`write_economy` know.
FORMATS = ("csv", "parquet", "mtx", "npz", "dense-csv")
_SUFFIX = {".npz": "npz", ".mtx": "mtx", ".csv": "dense-csv", ".parquet": "parquet"}


def detect_format(path, format: str | None = None, *, for_writing: bool = False) -> str:
    """The format of ``path``: ``format`` if given, else from its name, then its content."""
    path = Path(path)
    if format is not None:
        check_choice("format", format, FORMATS)
        return format
    if path.is_dir():
        if (path / "products.parquet").exists():
            return "parquet"
        if (path / "products.csv").exists():
            return "csv"
        if for_writing:
            return "csv"
        raise DataFormatError("cannot tell the format: the folder has neither products.csv "
                              "nor products.parquet", path=path)
    fmt = _SUFFIX.get(path.suffix.lower())
    if fmt == "parquet" and not for_writing:
        raise DataFormatError("a Parquet economy is a folder with products.parquet and "
                              "flows.parquet; pass the folder", path=path)
    if fmt is not None:
        return fmt
    if for_writing:
        if path.suffix == "":
            return "csv"
        raise ValueError(f"cannot tell the format from the name {str(path)!r}; pass format= "
                         f"(one of {', '.join(FORMATS)})")
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise DataFormatError(f"cannot read ({exc})", path=path) from exc
    if head.startswith(b"PK\x03\x04"):
        return "npz"
    if head.lstrip().startswith(b"%%MatrixMarket"):
        return "mtx"
    if head.startswith(b"PAR1"):
        raise DataFormatError("a Parquet economy is a folder with products.parquet and "
                              "flows.parquet; pass the folder", path=path)
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].split(b",", 1)[0].strip(b'"\r ')
    if first == b"code":
        return "dense-csv"
    raise DataFormatError("cannot tell the format from the name or the content; pass "
                          f"format= (one of {', '.join(FORMATS)})", path=path)


def read_economy(path, format: str | None = None, *, labour: str | None = None,
                 negative: str = "error", batch_size: int = 1 << 23):
    """Read an economy from a file or folder in one of :data:`FORMATS`.

    Parameters
    ----------
    path : str or Path
        A folder (``"csv"``, ``"parquet"``) or a file (``"mtx"``, ``"npz"``,
        ``"dense-csv"``).
    format : {"csv", "parquet", "mtx", "npz", "dense-csv"}, optional
        Detected from the name, then the content, when omitted.
    labour : str, optional
        ``"csv"``/``"parquet"``: the resource column that becomes row 0 of R, or
        ``"none"`` to read no resource columns (R = one zero row ``"none"``).
    negative : {"error", "clip"}
        ``"csv"``/``"parquet"``: negative flows raise, or are set to 0 with a
        ``UserWarning`` reporting their count and total.
    batch_size : int
        ``"parquet"``: rows per record batch; bounds the reader's working memory
        (about 16 bytes a row, twice, plus the dictionaries of a row group).

    Returns
    -------
    Economy

    Raises
    ------
    DataFormatError
        The file is missing, truncated, corrupt or inconsistent; the message names
        the file and the line or product code.

    Examples
    --------
    >>> import tempfile, pathlib, lab
    >>> e = lab.generate_economy(50, seed=1)
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "econ"
    >>> _ = write_economy(e, folder, format="parquet")
    >>> e2 = read_economy(folder)
    >>> (e2.A != e.A).nnz, bool((e2.R == e.R).all())
    (0, True)
    """
    path = Path(path)
    check_choice("negative", negative, ("error", "clip"))
    if not path.exists():
        raise DataFormatError("no such file or folder", path=path)
    fmt = detect_format(path, format)
    if fmt == "csv":
        return _read_csv_folder(path, labour=labour, negative=negative)
    if fmt == "parquet":
        from lab._io_parquet import read_parquet_folder
        return read_parquet_folder(path, labour=labour, negative=negative,
                                   batch_size=batch_size)
    if fmt == "mtx":
        from lab._io_mtx import read_mtx
        return read_mtx(path)
    if fmt == "dense-csv":
        from lab._io_dense import read_dense_csv
        return read_dense_csv(path)
    return _read_npz(path)


def write_economy(economy, path, format: str | None = None, **options) -> Path:
    """Write an economy atomically in one of :data:`FORMATS`; return the path.

    ``format`` is detected from the name when omitted: ``*.npz``, ``*.mtx``,
    ``*.csv`` (dense-csv), ``*.parquet`` (a Parquet folder), and a name without a
    suffix is a ``"csv"`` folder. Options: ``row_group_size`` for ``"parquet"``.
    The csv and parquet folders get ``total_output = 1`` (see the module docstring).

    Examples
    --------
    >>> import tempfile, pathlib, lab
    >>> e = lab.generate_economy(20, seed=1)
    >>> f = write_economy(e, pathlib.Path(tempfile.mkdtemp()) / "e.mtx")
    >>> sorted(p.name for p in f.parent.iterdir())
    ['e.mtx', 'e.resources.csv']
    """
    path = Path(path)
    fmt = detect_format(path, format, for_writing=True)
    if fmt == "csv":
        from lab._io_csv import write_csv_folder
        return write_csv_folder(economy, path)
    if fmt == "parquet":
        from lab._io_parquet import write_parquet_folder
        return write_parquet_folder(economy, path, **options)
    if fmt == "mtx":
        from lab._io_mtx import write_mtx
        return write_mtx(economy, path)
    if fmt == "dense-csv":
        from lab._io_dense import write_dense_csv
        return write_dense_csv(economy, path)
    return _write_npz(economy, path)


def _write_npz(economy, path: Path) -> Path:
    A = economy.A
    arrays = {
        "version": np.array(NPZ_VERSION),
        "shape": np.array(A.shape, dtype=np.int64),
        "indptr": A.indptr, "indices": A.indices, "data": A.data,
        "R": economy.R,
        "resource_names": np.array(economy.resource_names, dtype=str),
    }
    codes = economy._codes
    if codes is not None and not _default_codes(codes):  # default codes are implied
        arrays["codes"] = np.asarray(codes, dtype=str)
    if economy.names is not None:
        arrays["names"] = np.asarray(economy.names, dtype=str)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return path


# --------------------------------------------------------------------------- shared helpers


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
    from lab.economy import Economy

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


def economy_columns(economy):
    """(codes as str array, resource names) for the writers; names clashing are refused."""
    rn = list(economy.resource_names)
    bad = [n for n in rn if n in ("code", "name", "total_output", "unit", "input_code",
                                  "output_code", "value")]
    if bad:
        raise ValueError(f"resource names {bad} clash with the columns of the layout")
    return np.asarray(economy.codes, dtype=object), rn


def _default_codes(codes) -> bool:
    """Whether ``codes`` are ``"P0", "P1", ...`` (materialised by reading ``Economy.codes``)."""
    return all(c == f"P{i}" for i, c in enumerate(codes))


def _read_npz(path: Path):
    from lab.economy import Economy

    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in _NPZ_KEYS if k not in npz.files]
            if missing:
                raise DataFormatError(f"not a lab economy file: missing arrays {missing}",
                                      path=path)
            arrays = {k: npz[k] for k in npz.files}
    except DataFormatError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError,
            NotImplementedError, zlib.error) as exc:
        raise DataFormatError(f"corrupt or truncated .npz file ({exc})", path=path) from exc
    version, shape = arrays["version"], arrays["shape"]
    if version.shape != () or version.dtype.kind not in "iu":
        raise DataFormatError(f"version must be an integer scalar, got {version!r}", path=path)
    if int(version) != NPZ_VERSION:
        raise DataFormatError(f"unsupported lab economy file version {int(version)}", path=path)
    if shape.shape != (2,) or shape.dtype.kind not in "iu" or np.any(shape < 0):
        raise DataFormatError(f"shape must hold 2 non-negative integers, got {shape!r}",
                              path=path)
    shape = tuple(int(s) for s in shape)
    indptr, indices = arrays["indptr"], arrays["indices"]
    for name, arr in (("indptr", indptr), ("indices", indices)):
        if arr.dtype not in (np.int32, np.int64) or arr.ndim != 1:
            raise DataFormatError(f"{name} must be a 1-D int32 or int64 array", path=path)
    if indptr.shape != (shape[1] + 1,) or indptr[0] != 0 or indptr[-1] != len(indices) \
            or np.any(np.diff(indptr) < 0):
        raise DataFormatError("indptr is inconsistent with the shape and the indices",
                              path=path)
    if arrays["data"].shape != indices.shape:
        raise DataFormatError("data and indices have different lengths", path=path)
    try:
        A = sp.csc_array((arrays["data"], indices, indptr), shape=shape)
    except ValueError as exc:
        raise DataFormatError(f"invalid matrix ({exc})", path=path) from exc
    try:
        return Economy(A, arrays["R"], codes=arrays.get("codes"), names=arrays.get("names"),
                       resource_names=[str(s) for s in arrays["resource_names"]])
    except ValueError as exc:
        raise DataFormatError(str(exc), path=path) from exc


def check_values_path(path) -> Path:
    """The output path of :func:`write_values`, checked before any work is done."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise ValueError(f"output must end in .csv or .parquet, got {str(path)!r}")
    return path


def write_values(result, path) -> Path:
    """Write a :class:`~lab.values.ValuesResult` as ``code,value`` CSV or Parquet (by suffix).

    With several resource rows the columns are named after the resources.
    """
    path = check_values_path(path)
    suffix = path.suffix.lower()
    frame = result.frame
    if result.values.ndim == 1:
        frame.columns = ["value"]
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, float_format="%.17g")
        else:
            frame.to_parquet(tmp, engine="pyarrow")
    return path


# --------------------------------------------------------------------------- csv folder


def _csv_units(path: Path):
    """The distinct (stripped) values of the ``unit`` column of a CSV, or None."""
    import csv

    import pandas as pd

    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        header = next(csv.reader(fh), [])
    if "unit" not in header:
        return None
    col = pd.read_csv(path, usecols=["unit"], dtype=str, keep_default_na=False,
                      na_filter=False)["unit"].str.strip()
    return set(col.unique().tolist())


def _read_csv_folder(directory: Path, *, labour=None, negative="error"):
    import pandas as pd

    from lab._io_csv import _numeric, read_flows, read_products

    if not directory.is_dir():
        raise DataFormatError("not a directory", path=directory)
    products, ppath = read_products(directory)
    codes = pd.Index(products["code"])
    x = _numeric(products, "total_output", ppath, nonnegative=True)
    cols = resource_columns(list(products.columns), labour, ppath)
    if cols:
        T = np.vstack([_numeric(products, c, ppath, nonnegative=True) for c in cols])
    else:
        T, cols = np.zeros((1, len(codes))), ["none"]
    i, j, value, fpath = read_flows(directory, codes)
    check_units(_csv_units(ppath), ppath, _csv_units(fpath), fpath)
    codes_arr = codes.to_numpy(dtype=object)
    keep = clip_negative(value, i, j, codes_arr, fpath, negative, lambda k: k + 2)
    line_of = lambda k: k + 2  # noqa: E731
    if keep is not None:
        pos = np.flatnonzero(keep)
        i, j, value = i[keep], j[keep], value[keep]
        line_of = lambda k: int(pos[k]) + 2  # noqa: E731
    names = products["name"].to_numpy(dtype=object)
    if not any(names):
        names = None
    return economy_from_flows(codes_arr, names, x, T, cols, i, j, value, ppath=ppath,
                              fpath=fpath, flow_line=line_of)
