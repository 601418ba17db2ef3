"""Reader for the ``products.csv`` + ``flows.csv`` directory layout.

Layout (see ``shared/data/io/README.md``)::

    products.csv  code,name,total_output[,hours_worked][,employment][,compensation]
    flows.csv     input_code,output_code,value

One row of ``products.csv`` per product, in the table's order; ``flows.csv`` lists
the non-zero money flows ``Z[input, output]``. Codes are read as strings (leading
zeros kept, ``NA`` is a code, not a missing value). Extra columns are ignored.
A pair (input_code, output_code) listed twice is summed, as in COO format.

The economy is built by :meth:`lab.Economy.from_flows`: ``A = Z·diag(1/x)`` and
``R = L·diag(1/x)``, where the rows of L are the labour columns present. Row 0 is
chosen by ``labour``: by default the first present of ``hours_worked``,
``employment``, ``compensation``; the other labour columns follow in that order,
and ``resource_names`` are the column names. A table without any labour column
(world-2011-wiod) raises unless ``labour="none"``, which gives R one row of zeros
named ``"none"`` (labour values are then zero; the use matrix is still usable).

Every problem raises :class:`~lab.exceptions.DataFormatError` naming the file and the
1-based line of the file (the header is line 1) or the product code. Line numbers
count CSV records, so they are file lines unless a quoted field spans lines.
Everything is vectorised: pandas' C parser with explicit dtypes, no Python loop
over rows.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lab._validation import check_choice
from lab.exceptions import DataFormatError, InvalidEconomyError

__all__ = ["LABOUR_COLUMNS", "read_csv_economy", "read_products", "read_flows"]

#: Labour columns of products.csv, in order of preference for row 0 of R.
LABOUR_COLUMNS = ("hours_worked", "employment", "compensation")

_PRODUCT_COLUMNS = ("code", "name", "total_output")
_FLOW_COLUMNS = ("input_code", "output_code", "value")


def _read(path: Path, required: tuple[str, ...], str_columns: tuple[str, ...]) -> pd.DataFrame:
    """Read a CSV with every column as str; header/line errors as DataFormatError."""
    if not path.is_file():
        raise DataFormatError("file not found", path=path)
    try:
        df = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
        )
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


def read_flows(directory, codes: pd.Index) -> tuple[np.ndarray, np.ndarray, np.ndarray, Path]:
    """Read ``flows.csv``; return (input index, output index, value, path)."""
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
    return i, j, value, path


def read_csv_economy(cls, directory, *, labour=None, negative="error"):
    """Build ``cls`` (an :class:`~lab.Economy`) from a products/flows directory.

    Parameters
    ----------
    directory : str or Path
    labour : str or None
        ``None``: first present of ``LABOUR_COLUMNS``; a column name present in
        products.csv; or ``"none"``: no labour data (R = one zero row ``"none"``).
    negative : {"error", "clip"}
        Negative flows raise (``"error"``) or are set to 0 with a ``UserWarning``
        reporting their count and total (``"clip"``).
    """
    check_choice("negative", negative, ("error", "clip"))
    if labour is not None:
        check_choice("labour", labour, LABOUR_COLUMNS + ("none",))
    directory = Path(directory)
    if not directory.is_dir():
        raise DataFormatError("not a directory", path=directory)

    products, ppath = read_products(directory)
    codes = pd.Index(products["code"])
    m = len(codes)
    x = _numeric(products, "total_output", ppath, nonnegative=True)

    present = [c for c in LABOUR_COLUMNS if c in products.columns]
    if labour == "none":
        columns: list[str] = []
    elif labour is None:
        if not present:
            raise DataFormatError(
                "the table has no labour column (any of "
                f"{', '.join(LABOUR_COLUMNS)}); its columns are "
                f"{', '.join(products.columns)}. Pass labour='none' to read it without "
                "labour data",
                path=ppath,
                line=1,
            )
        columns = present
    else:
        if labour not in present:
            raise DataFormatError(
                f"labour={labour!r} but products.csv has no such column; labour columns "
                f"present: {', '.join(present) or 'none'}",
                path=ppath,
                line=1,
            )
        columns = [labour] + [c for c in present if c != labour]
    if columns:
        T = np.vstack([_numeric(products, c, ppath, nonnegative=True) for c in columns])
        resource_names = tuple(columns)
    else:
        T = np.zeros((1, m))
        resource_names = ("none",)

    i, j, value, fpath = read_flows(directory, codes)
    neg = value < 0
    if neg.any():
        cnt, total = int(neg.sum()), float(value[neg].sum())
        k = int(np.argmax(neg))
        if negative == "error":
            raise DataFormatError(
                f"negative flow {float(value[k])!r} from {codes[i[k]]!r} to {codes[j[k]]!r} "
                f"({cnt} negative flows in all, total {total:.6g}); pass negative='clip' "
                "to set them to 0",
                path=fpath,
                line=k + 2,
            )
        warnings.warn(
            f"{fpath}: {cnt} negative flows (total {total:.6g}, first on line {k + 2}) "
            "set to 0",
            UserWarning,
            stacklevel=3,
        )
        keep = ~neg
        i, j, value = i[keep], j[keep], value[keep]
    nz = value != 0
    i, j, value = i[nz], j[nz], value[nz]

    # zero-output products that take part in flows or use labour: errors with lines
    zero = x == 0
    if zero.any():
        for what, idx in (("has inputs", j), ("is used as an input", i)):
            hit = np.zeros(m, dtype=bool)
            hit[idx] = True
            bad = zero & hit
            if bad.any():
                p = int(np.argmax(bad))
                k = int(np.argmax(idx == p))
                raise DataFormatError(
                    f"product {codes[p]!r} (products.csv line {p + 2}) {what} but zero "
                    f"total output (flows.csv line {k + 2})",
                    path=ppath,
                    line=p + 2,
                )
        bad = zero & (T != 0).any(axis=0)
        if bad.any():
            p = int(np.argmax(bad))
            raise DataFormatError(
                f"product {codes[p]!r} uses labour but has zero total output",
                path=ppath,
                line=p + 2,
            )

    idx_dtype = np.int32 if max(m, value.size) < np.iinfo(np.int32).max else np.int64
    Z = sp.coo_array(
        (value, (i.astype(idx_dtype), j.astype(idx_dtype))), shape=(m, m)
    ).tocsc()
    Z.sum_duplicates()
    try:
        return cls.from_flows(
            Z,
            x,
            T,
            codes=codes.to_numpy(dtype=object),
            names=products["name"].to_numpy(dtype=object),
            resource_names=resource_names,
            zero_output="drop",
        )
    except DataFormatError:
        raise
    except InvalidEconomyError as exc:  # pragma: no cover - pre-checked above
        raise DataFormatError(str(exc), path=directory) from exc


# --------------------------------------------------------------------------- writer


def write_csv_folder(economy, directory):
    """Write ``economy`` as ``products.csv`` + ``flows.csv`` in ``directory`` (atomically).

    ``products.csv`` has ``code,name,total_output`` and one column per resource row,
    named after it; ``flows.csv`` has ``input_code,output_code,value``, one line per
    stored entry of A in column order. An Economy holds no money data, so
    ``total_output`` is 1 for every product: the flows are the coefficients of A and
    the resource columns the rows of R, and reading the folder back with
    :func:`lab.read_economy` gives the same A and R (17 significant digits).
    Each file is written atomically; the folder is created if needed.
    """
    from lab._atomic import atomic_path
    from lab.io import economy_columns

    directory = Path(directory)
    codes, rn = economy_columns(economy)
    directory.mkdir(parents=True, exist_ok=True)
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
    for name, df in (("products.csv", products), ("flows.csv", flows)):
        with atomic_path(directory / name) as tmp:
            df.to_csv(tmp, index=False, float_format="%.17g")
    return directory
