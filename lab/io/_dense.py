"""Dense CSV matrix reader and writer (small tables).

Layout (UTF-8, comma-separated, RFC 4180 quoting)::

    code,P1,P2,P3          <- line 1: the cell "code", then the m product codes
    P1,0,0.5,0             <- lines 2..m+1: a product code (the same codes in the
    P2,0.1,0,0.2              same order as the header) and row i of A: A[i, j]
    P3,0,0.3,0                is the cell of row i, column j
    #resources             <- optional: a line whose first cell is "#resources"
    labour,1,2,0.5         <- one line per resource row: its name, then m values
    energy,0,0,1
    #end                   <- the last line: the file is complete

Every cell of A and R must be a finite number ≥ 0 (empty cells are errors). Without
a ``#resources`` line R is one zero row named ``"none"``. Blank lines at the end are
ignored; elsewhere they are errors. Product names are not stored.

The ``#end`` line is required: a file cut at a line boundary (say, after the
matrix, losing the resource rows) would otherwise read as a smaller, valid table.
Only a regular file is read (see :mod:`lab.io._files`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from lab._atomic import atomic_path
from lab.exceptions import DataFormatError, InvalidEconomyError
from lab.io._files import check_text_end, open_regular
from lab.io._flows import check_writable_labels, line_end

__all__ = ["DENSE_MAX", "END_MARKER", "RESOURCES_MARKER", "read_dense_csv", "write_dense_csv"]

#: Largest economy the dense-csv writer accepts (the file has m² cells).
DENSE_MAX = 5000

#: First cell of the line that starts the resource rows.
RESOURCES_MARKER = "#resources"
#: The last line of a complete file.
END_MARKER = "#end"


def _cells(block: pd.DataFrame, path, first_line: int, what: str) -> np.ndarray:
    values = pd.to_numeric(pd.Series(block.to_numpy().ravel()), errors="coerce")
    v = values.to_numpy(dtype=np.float64, na_value=np.nan).reshape(block.shape)
    bad = ~np.isfinite(v) | (v < 0)
    if bad.any():
        r, c = np.unravel_index(int(np.argmax(bad)), v.shape)
        raw = block.iat[r, c]
        why = "empty" if raw == "" else ("negative" if v[r, c] < 0 else "not a finite number")
        raise DataFormatError(f"{what} cell in column {c + 2} is {why}: {raw!r}", path=path,
                              line=first_line + int(r))
    return v


def read_dense_csv(path):
    """Read a dense CSV matrix (see the module docstring) into an :class:`~lab.Economy`."""
    from lab.economy import Economy

    path = Path(path)
    with open_regular(path) as fh:
        try:
            df = pd.read_csv(fh, header=None, dtype=str, keep_default_na=False,
                             na_filter=False, skip_blank_lines=False, engine="c",
                             encoding="utf-8")
        except pd.errors.EmptyDataError:
            raise DataFormatError("file is empty", path=path) from None
        except pd.errors.ParserError as exc:
            mt = re.search(r"line (\d+)", str(exc))
            raise DataFormatError(f"corrupt CSV: {exc}", path=path,
                                  line=int(mt.group(1)) if mt else None) from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise DataFormatError(f"not UTF-8 text or corrupt ({exc})", path=path) from None
        check_text_end(fh, path, line=len(df))
    blank = (df == "").all(axis=1).to_numpy()
    last = len(df)
    while last and blank[last - 1]:
        last -= 1
    if last == 0:
        raise DataFormatError("file is empty", path=path)
    end = df.iloc[last - 1]
    if end.iloc[0] != END_MARKER or (end.iloc[1:] != "").any():
        raise DataFormatError(f"the last line is not {END_MARKER!r}: the file is truncated "
                              f"(a complete dense-csv file ends with a line {END_MARKER})",
                              path=path, line=last)
    last -= 1
    df = df.iloc[:last]
    if last == 0:
        raise DataFormatError("no header before #end", path=path, line=1)
    if blank[:last].any():
        raise DataFormatError("blank line", path=path, line=int(np.argmax(blank[:last])) + 1)
    header = df.iloc[0].tolist()
    if header[0].lstrip("\ufeff") != "code":
        raise DataFormatError(f"the first cell must be 'code', got {header[0]!r}", path=path,
                              line=1)
    codes = header[1:]
    m = len(codes)
    for k, c in enumerate(codes):
        if c == "":
            raise DataFormatError(f"empty product code in header column {k + 2}", path=path,
                                  line=1)
    seen = pd.Index(codes)
    if seen.has_duplicates:
        dup = seen[seen.duplicated()][0]
        raise DataFormatError(f"duplicated product code {dup!r} in the header", path=path,
                              line=1)
    first = df.iloc[:, 0].to_numpy(dtype=object)
    marker = np.flatnonzero(first == RESOURCES_MARKER)
    end = int(marker[0]) if marker.size else last
    if end - 1 != m:
        raise DataFormatError(f"the header names {m} products but {end - 1} matrix lines "
                              "follow" + (" (truncated?)" if end - 1 < m else ""), path=path,
                              line=min(end, m + 1) + (1 if end - 1 > m else 0))
    row_codes = first[1:end]
    wrong = row_codes != np.asarray(codes, dtype=object)
    if wrong.any():
        k = int(np.argmax(wrong))
        raise DataFormatError(f"row code {row_codes[k]!r} but the header's column {k + 2} is "
                              f"{codes[k]!r}; rows must list the products in header order",
                              path=path, line=k + 2)
    A = _cells(df.iloc[1:end, 1:], path, 2, "A") if m else np.zeros((0, 0))
    if marker.size:
        res = df.iloc[end + 1:]
        if len(res) == 0:
            raise DataFormatError(f"no resource rows after {RESOURCES_MARKER!r}", path=path,
                                  line=end + 1)
        names = res.iloc[:, 0].tolist()
        for k, n in enumerate(names):
            if n == "" or n == RESOURCES_MARKER:
                raise DataFormatError(f"bad resource name {n!r}", path=path, line=end + 2 + k)
        if len(set(names)) != len(names):
            raise DataFormatError(f"duplicated resource name in {names}", path=path,
                                  line=end + 2)
        T = _cells(res.iloc[:, 1:], path, end + 2, "resource")
    else:
        names, T = ["none"], np.zeros((1, m))
    try:
        return Economy(A, T, codes=codes, resource_names=names)
    except InvalidEconomyError as exc:
        raise DataFormatError(str(exc), path=path) from exc


def write_dense_csv(economy, path):
    """Write ``economy`` as a dense CSV matrix (atomically); for small tables."""
    path = Path(path)
    if economy.n_products > DENSE_MAX:
        raise InvalidEconomyError(f"dense-csv is for small tables (at most {DENSE_MAX} "
                                  f"products); this economy has {economy.n_products}: write "
                                  ".npz, .mtx or a csv/parquet folder")
    codes = np.asarray(economy.codes, dtype=object)
    check_writable_labels(codes, economy.resource_names)
    for what, labels in (("product code", codes.tolist()),
                         ("resource name", list(economy.resource_names))):
        clash = {RESOURCES_MARKER, END_MARKER} & set(labels)
        if clash:
            raise InvalidEconomyError(f"a {what} {sorted(clash)[0]!r} cannot be written in "
                                      "dense-csv (it marks a section of the file); write .npz, "
                                      ".mtx or a folder")
    body = pd.DataFrame(economy.A.toarray(), index=pd.Index(codes, name="code"),
                        columns=codes)
    res = pd.DataFrame(economy.R, index=list(economy.resource_names), columns=codes)
    end = line_end(codes, economy.resource_names)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            body.to_csv(fh, float_format="%.17g", lineterminator=end)
            fh.write(RESOURCES_MARKER + end)
            res.to_csv(fh, header=False, float_format="%.17g", lineterminator=end)
            fh.write(END_MARKER + end)
    return path
