"""Parsing and writing of the ``products.csv`` + ``flows.csv`` directory layout.

Layout (see ``shared/data/io/README.md``)::

    products.csv  code,name,total_output[,resource columns ...]
    flows.csv     input_code,output_code,value

One row of ``products.csv`` per product, in the table's order; ``flows.csv`` lists
the non-zero money flows ``Z[input, output]``. Codes are read as strings (leading
zeros kept, ``NA`` is a code, not a missing value). A pair (input_code,
output_code) listed twice is summed, as in COO format. How the columns become A
and R is decided in one place, :func:`lab.io.read_economy` (format ``"csv"``),
which :func:`read_csv_folder` implements.

Every problem raises :class:`~lab.exceptions.DataFormatError` naming the file and the
1-based line of the file (the header is line 1) or the product code. Line numbers
count CSV records, so they are file lines unless a quoted field spans lines.
Everything is vectorised: pandas' C parser with explicit dtypes, no Python loop
over rows.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from lab._atomic import atomic_path
from lab.exceptions import DataFormatError
from lab.io._files import (
    check_text_end,
    open_regular,
    remove_manifest,
    verify_manifest,
    write_manifest,
)
from lab.io._flows import (
    check_units,
    clip_negative,
    economy_columns,
    economy_from_flows,
    line_end,
    resource_columns,
)

__all__ = ["read_csv_folder", "read_flows", "read_products", "write_csv_folder"]

_PRODUCT_COLUMNS = ("code", "name", "total_output")
_FLOW_COLUMNS = ("input_code", "output_code", "value")


def _header(fh, path: Path) -> list[str]:
    """The header row, read with Python's csv module (pandas renames empty and
    duplicated names, e.g. to ``Unnamed: 3`` and ``code.1``, which would then be read
    as a resource named so)."""
    text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
    try:
        header = next(csv.reader(text), None)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise DataFormatError(f"unreadable header ({exc})", path=path, line=1) from None
    finally:
        text.detach()
        fh.seek(0)
    if header is None:
        raise DataFormatError("file is empty (no header)", path=path)
    empty = [k + 1 for k, h in enumerate(header) if h == ""]
    if empty:
        raise DataFormatError(f"empty column name in the header (column {empty[0]})",
                              path=path, line=1)
    seen: set[str] = set()
    dup = [h for h in header if h in seen or seen.add(h)]
    if dup:
        raise DataFormatError(f"duplicated column name {dup[0]!r} in the header", path=path,
                              line=1)
    return header


def _read(path: Path, required: tuple[str, ...], str_columns: tuple[str, ...]) -> pd.DataFrame:
    """Read a CSV with every column as str; header/line errors as DataFormatError.

    Only a regular file is read (a FIFO or a device is refused; see
    :mod:`lab.io._files`), and only one whose last line is complete.
    """
    with open_regular(path) as fh:
        header = _header(fh, path)
        try:
            with warnings.catch_warnings():
                # Rows with more fields than the header: pandas would take the first
                # column as an index (shifting every value) or, with index_col=False,
                # drop the extra fields with this warning. Either way: an error.
                warnings.simplefilter("error", pd.errors.ParserWarning)
                df = pd.read_csv(
                    fh,
                    dtype=str,
                    keep_default_na=False,
                    na_filter=False,
                    skip_blank_lines=False,
                    engine="c",
                    encoding="utf-8",
                    index_col=False,
                )
        except pd.errors.ParserWarning:
            raise DataFormatError(f"lines with more fields than the {len(header)} of the "
                                  "header", path=path) from None
        except pd.errors.EmptyDataError:
            raise DataFormatError("file is empty (no header)", path=path) from None
        except pd.errors.ParserError as exc:
            msg = str(exc)
            line = None
            mt = re.search(r"in line (\d+)", msg)
            if mt:
                line = int(mt.group(1))
            else:
                mt = re.search(r"row (\d+)", msg)
                if mt:
                    line = int(mt.group(1)) + 1
            raise DataFormatError(f"corrupt CSV: {msg}", path=path, line=line) from None
        except UnicodeDecodeError as exc:
            raise DataFormatError(f"not UTF-8 text: {exc}", path=path) from None
        check_text_end(fh, path, line=len(df) + 1)
    if list(df.columns) != header:
        raise DataFormatError(f"the header {header!r} could not be read as column names",
                              path=path, line=1)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataFormatError(
            f"missing column(s) {', '.join(map(repr, missing))}; the header has "
            f"{', '.join(map(repr, df.columns))}",
            path=path,
            line=1,
        )
    # trailing blank lines are harmless; blank lines inside the file are not
    n = len(df)
    if n:
        blank = (df == "").all(axis=1).to_numpy()
        if blank[-1]:
            last = n - int(np.argmin(blank[::-1])) if not blank.all() else 0
            df = df.iloc[:last]
            blank = blank[:last]
        if blank.any():
            raise DataFormatError("blank line", path=path, line=int(np.argmax(blank)) + 2)
    for c in str_columns:
        empty = (df[c] == "").to_numpy()
        if empty.any():
            raise DataFormatError(
                f"empty {c!r} (truncated or incomplete line?)",
                path=path,
                line=int(np.argmax(empty)) + 2,
            )
    return df


def _numeric(df: pd.DataFrame, column: str, path: Path, *, nonnegative: bool) -> np.ndarray:
    """Column as float64; non-numeric, empty, NaN/inf (and negative) values raise."""
    s = df[column]
    values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        k = int(np.argmax(bad))
        raw = s.iloc[k]
        what = "empty" if raw == "" else f"not a finite number: {raw!r}"
        raise DataFormatError(
            f"{column!r} is {what}" + (" (truncated line?)" if raw == "" else "")
            + (f"; {int(bad.sum())} such values in all" if bad.sum() > 1 else ""),
            path=path,
            line=k + 2,
        )
    if nonnegative:
        neg = values < 0
        if neg.any():
            k = int(np.argmax(neg))
            raise DataFormatError(
                f"{column!r} is negative: {float(values[k])!r}", path=path, line=k + 2
            )
    return values


def read_products(directory) -> tuple[pd.DataFrame, Path]:
    """Read and check ``products.csv``: codes unique and non-empty, outputs ≥ 0."""
    path = Path(directory) / "products.csv"
    df = _read(path, _PRODUCT_COLUMNS, ("code",))
    dup = df["code"].duplicated(keep=False).to_numpy()
    if dup.any():
        lines = np.flatnonzero(dup)
        code = df["code"].iloc[lines[0]]
        same = lines[(df["code"].to_numpy()[lines] == code)] + 2
        raise DataFormatError(
            f"duplicated product code {code!r} (lines {', '.join(map(str, same[:5]))})",
            path=path,
            line=int(same[1]),
        )
    return df, path


def read_flows(directory, codes: pd.Index):
    """Read ``flows.csv``; return (input index, output index, value, path, units)."""
    path = Path(directory) / "flows.csv"
    df = _read(path, _FLOW_COLUMNS, ("input_code", "output_code"))
    value = _numeric(df, "value", path, nonnegative=False)
    i = codes.get_indexer(df["input_code"])
    j = codes.get_indexer(df["output_code"])
    for col, idx in (("input_code", i), ("output_code", j)):
        bad = idx < 0
        if bad.any():
            k = int(np.argmax(bad))
            raise DataFormatError(
                f"{col} {df[col].iloc[k]!r} is not a product code of products.csv"
                + (f" ({int(bad.sum())} unknown codes in this column)" if bad.sum() > 1 else ""),
                path=path,
                line=k + 2,
            )
    return i, j, value, path, _units(df)


def write_csv_folder(economy, directory):
    """Write ``economy`` as ``products.csv`` + ``flows.csv`` in ``directory`` (atomically).

    ``products.csv`` has ``code,name,total_output`` and one column per resource row,
    named after it; ``flows.csv`` has ``input_code,output_code,value``, one line per
    stored entry of A in column order. An Economy holds no money data, so
    ``total_output`` is 1 for every product: the flows are the coefficients of A and
    the resource columns the rows of R, and reading the folder back with
    :func:`lab.read_economy` gives the same A and R (17 significant digits).
    Each file is written atomically; the folder is created if needed. The manifest
    ``lab-manifest.json`` (sizes, row counts, sha256) is written last; the reader
    checks the files against it.
    """

    directory = Path(directory)
    codes, rn = economy_columns(economy)
    directory.mkdir(parents=True, exist_ok=True)
    remove_manifest(directory)
    names = economy.names if economy.names is not None else np.full(len(codes), "", object)
    products = pd.DataFrame({"code": codes, "name": names,
                             "total_output": np.ones(len(codes))})
    for q, name in enumerate(rn):
        products[name] = economy.R[q]
    A = economy.A
    cols = np.repeat(np.arange(A.shape[1]), np.diff(A.indptr))
    cats = pd.Index(codes)
    flows = pd.DataFrame({
        "input_code": pd.Categorical.from_codes(A.indices, categories=cats),
        "output_code": pd.Categorical.from_codes(cols, categories=cats),
        "value": A.data,
    })
    end = line_end(codes, economy.names, rn)
    for name, df in (("products.csv", products), ("flows.csv", flows)):
        with atomic_path(directory / name) as tmp:
            df.to_csv(tmp, index=False, float_format="%.17g", lineterminator=end)
    write_manifest(directory, {"products.csv": len(products), "flows.csv": len(flows)})
    return directory


def _units(df: pd.DataFrame):
    """The distinct (stripped) values of the ``unit`` column, or None without one."""
    if "unit" not in df.columns:
        return None
    return set(df["unit"].str.strip().unique().tolist())


def read_csv_folder(directory: Path, *, labour=None, negative="error"):
    if not directory.is_dir():
        raise DataFormatError("not a directory", path=directory)
    verify_manifest(directory, ("products.csv", "flows.csv"))
    products, ppath = read_products(directory)
    codes = pd.Index(products["code"])
    x = _numeric(products, "total_output", ppath, nonnegative=True)
    cols = resource_columns(list(products.columns), labour, ppath)
    if cols:
        T = np.vstack([_numeric(products, c, ppath, nonnegative=True) for c in cols])
    else:
        T, cols = np.zeros((1, len(codes))), ["none"]
    i, j, value, fpath, funits = read_flows(directory, codes)
    check_units(_units(products), ppath, funits, fpath)
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
