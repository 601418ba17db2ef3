"""Matrix Market reader and writer: ``NAME.mtx`` (A) + sidecar ``NAME.resources.csv``.

``NAME.mtx`` is a Matrix Market file (``coordinate`` or ``array``, ``real`` or
``integer``, ``general``, ``symmetric`` or ``skew-symmetric``) holding the m × m use
matrix A. The sidecar ``NAME.resources.csv`` (same folder, ``.mtx`` replaced by
``.resources.csv``) has a header ``code,<resource 0>,<resource 1>,...`` and one line
per product, in the order of A's rows: the product codes and the resource rows of R
(row 0 labour). Without a sidecar the codes are the defaults ``P0 ...`` and R is one
zero row named ``"none"``; a file lab wrote says in a comment that it has one, and
then the sidecar must be there. Entries of A must be finite and ≥ 0; errors name
the file and the entry (by product codes) or the line.

The reader is lab's own, strict parser (scipy's reader allocates what the size line
declares before reading a single entry): the size line is checked against the
file's size and the machine's memory before anything is allocated
(:func:`lab.io._files.check_allocation`), every entry line must be exactly ``i j
value`` with 1-based indices in range, the number of entries must be the declared
one, and the last line must be complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse as sp

from lab._atomic import atomic_path
from lab.exceptions import DataFormatError, InvalidEconomyError
from lab.io._files import check_allocation, check_text_end, open_regular

__all__ = ["read_mtx", "sidecar_path", "write_mtx"]

#: The comment a file lab writes carries: it has a sidecar.
SIDECAR_COMMENT = "lab: codes and resources in the sidecar "
_LINE_MAX = 1 << 16
_NUMBER = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf|nan)"
#: Least bytes of an entry line ("1 1 1\n") and of an array value ("1\n").
_ENTRY_BYTES, _VALUE_BYTES = 6, 2


def sidecar_path(path) -> Path:
    """``NAME.mtx`` -> ``NAME.resources.csv``."""
    path = Path(path)
    stem = path.name[:-4] if path.name.lower().endswith(".mtx") else path.name
    return path.with_name(stem + ".resources.csv")


def _text(raw: bytes, path, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=path,
                              line=line) from None


def _header(fh, path):
    """(format, field, symmetry, size line ints, comments, line number of the body)."""
    banner = _text(fh.readline(_LINE_MAX), path, 1).split()
    if len(banner) != 5 or banner[0] != "%%MatrixMarket" or banner[1].lower() != "matrix":
        raise DataFormatError("not a Matrix Market file (the first line must be "
                              "'%%MatrixMarket matrix FORMAT FIELD SYMMETRY')", path=path, line=1)
    fmt, field, symmetry = (b.lower() for b in banner[2:])
    if fmt not in ("coordinate", "array"):
        raise DataFormatError(f"unknown format {fmt!r} (coordinate or array)", path=path, line=1)
    if field not in ("real", "integer", "double"):
        what = "is not supported: A needs real values" if field in ("complex", "pattern") \
            else "is unknown"
        raise DataFormatError(f"field {field!r} {what}", path=path, line=1)
    if symmetry not in ("general", "symmetric", "skew-symmetric"):
        raise DataFormatError(f"symmetry {symmetry!r} is not supported (general, symmetric, "
                              "skew-symmetric)", path=path, line=1)
    comments, line = [], 1
    while True:
        raw = fh.readline(_LINE_MAX)
        line += 1
        if not raw:
            raise DataFormatError("no size line", path=path, line=line)
        if len(raw) == _LINE_MAX and not raw.endswith(b"\n"):
            raise DataFormatError("line too long", path=path, line=line)
        text = _text(raw, path, line).strip()
        if text.startswith("%"):
            comments.append(text.lstrip("%").strip())
        elif text:
            break
    want = 3 if fmt == "coordinate" else 2
    parts = text.split()
    if len(parts) != want or not all(p.isascii() and p.isdigit() and len(p) <= 18
                                     for p in parts):
        raise DataFormatError(f"the size line must hold {want} non-negative integers "
                              f"({'rows columns entries' if want == 3 else 'rows columns'}), "
                              f"got {text[:80]!r}", path=path, line=line)
    return fmt, field, symmetry, [int(p) for p in parts], comments, line


def _entries(lines, count, path, first_line):
    """The non-comment, non-blank lines of the body: exactly ``count`` of them."""
    body = [(k, ln) for k, ln in enumerate(lines, start=first_line)
            if ln.strip() and not ln.lstrip().startswith("%")]
    if len(body) != count:
        raise DataFormatError(f"the size line declares {count} entries but {len(body)} follow"
                              + (" (truncated?)" if len(body) < count else ""), path=path)
    return body


def _coordinate(lines, m, n, nnz, path, first_line):
    import pandas as pd

    body = _entries(lines, nnz, path, first_line)
    if not body:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    df = pd.Series([ln for _, ln in body], dtype=object).str.split(expand=True)
    if df.shape[1] != 3 or df.isna().any().any():
        bad = int(np.argmax(df.isna().any(axis=1).to_numpy())) if df.shape[1] >= 3 else \
            next((k for k, (_, ln) in enumerate(body) if len(ln.split()) != 3), 0)
        raise DataFormatError(f"entry {bad + 1} must be 'row column value': "
                              f"{body[bad][1][:80]!r}", path=path, line=body[bad][0])
    idx = []
    for c, lim in ((0, m), (1, n)):
        digits = df[c].str.fullmatch(r"[0-9]{1,18}").to_numpy(dtype=bool)
        v = pd.to_numeric(df[c].where(digits, "0")).to_numpy(dtype=np.int64)
        ok = digits & (v >= 1) & (v <= lim)
        if not ok.all():
            bad = int(np.argmax(~ok))
            raise DataFormatError(f"entry {bad + 1}: bad index {df[c].iloc[bad][:40]!r} (the "
                                  f"matrix is {m} × {n}, indices from 1)", path=path,
                                  line=body[bad][0])
        idx.append(v - 1)
    ok = df[2].str.fullmatch(_NUMBER, case=False).to_numpy(dtype=bool)
    values = pd.to_numeric(df[2].where(ok, "nan"), errors="coerce").to_numpy(dtype=np.float64)
    if not ok.all():
        bad = int(np.argmax(~ok))
        raise DataFormatError(f"entry {bad + 1}: not a number {df[2].iloc[bad][:40]!r}",
                              path=path, line=body[bad][0])
    return idx[0], idx[1], values


def _array(lines, m, n, symmetry, path, first_line):
    """Column-major values (the lower triangle for symmetric, below it for skew)."""
    tokens = " ".join(ln for ln in lines if not ln.lstrip().startswith("%")).split()
    if symmetry == "general":
        cols = np.repeat(np.arange(n), m)
        rows = np.tile(np.arange(m), n)
    else:
        rows, cols = np.tril_indices(m, 0 if symmetry == "symmetric" else -1)
        order = np.lexsort((rows, cols))  # column-major
        rows, cols = rows[order], cols[order]
    if len(tokens) != rows.size:
        raise DataFormatError(f"a {symmetry} {m} × {n} array needs {rows.size} values but "
                              f"{len(tokens)} follow"
                              + (" (truncated?)" if len(tokens) < rows.size else ""), path=path)
    import re

    number = re.compile(_NUMBER, re.IGNORECASE)
    for k, t in enumerate(tokens):
        if not number.fullmatch(t):
            raise DataFormatError(f"value {k + 1} is not a number: {t[:40]!r}", path=path)
    values = np.array(tokens, dtype=np.float64) if tokens else np.zeros(0)
    return rows.astype(np.int64), cols.astype(np.int64), values


def _read_matrix(path: Path):
    """(rows, cols, values, m, the sidecar the file says it was written with, or None)."""
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        check_text_end(fh, path)
        fmt, _, symmetry, dims, comments, line = _header(fh, path)
        m, n = dims[0], dims[1]
        if m != n:
            raise DataFormatError(f"A must be square, got shape ({m}, {n})", path=path,
                                  line=line)
        if fmt == "coordinate":
            count = dims[2]
            if count > m * n:
                raise DataFormatError(f"the size line declares {count} entries, more than a "
                                      f"{m} × {n} matrix has", path=path, line=line)
            least = count * _ENTRY_BYTES
        else:
            count = m * n if symmetry == "general" else (
                m * (m + 1) // 2 if symmetry == "symmetric" else m * (m - 1) // 2)
            least = count * _VALUE_BYTES
        stored = count * (2 if symmetry != "general" else 1)
        # indptr, the labour row and codes per product; COO and CSC copies per entry
        need = 24.0 * (m + 1) + 48.0 * stored + (8.0 * count if fmt == "array" else 0)
        check_allocation(path, f"the size line declares a {m} × {n} matrix with {count} "
                               "entries", need, file_bytes=size,
                         min_file_bytes=fh.tell() + least)
        try:
            text = fh.read().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataFormatError(f"not UTF-8 text ({exc})", path=path) from None
    # lines end at \n (\r\n too: the fields are stripped), as in the header; not at the
    # other characters str.splitlines() breaks on (\x1c, \x85, \u2028, ...)
    lines = text.split("\n")
    if fmt == "coordinate":
        rows, cols, values = _coordinate(lines, m, n, count, path, line + 1)
    else:
        rows, cols, values = _array(lines, m, n, symmetry, path, line + 1)
    if symmetry != "general":
        off = rows != cols
        if symmetry == "skew-symmetric" and not off.all():
            raise DataFormatError("a skew-symmetric matrix stores no diagonal entries",
                                  path=path)
        sign = 1.0 if symmetry == "symmetric" else -1.0
        rows, cols, values = (np.concatenate([rows, cols[off]]),
                              np.concatenate([cols, rows[off]]),
                              np.concatenate([values, sign * values[off]]))
    sidecar = next((c[len(SIDECAR_COMMENT):] for c in comments
                    if c.startswith(SIDECAR_COMMENT)), None)
    return rows, cols, values, m, sidecar


def read_mtx(path):
    """Read ``path`` (and its sidecar if present) into an :class:`~lab.Economy`."""
    from lab.economy import Economy
    from lab.io._csv import _numeric, _read

    path = Path(path)
    rows, cols, values, m, written_with = _read_matrix(path)
    side = sidecar_path(path)
    codes, T, rn = None, np.zeros((1, m)), ("none",)
    if os.path.lexists(side):
        df = _read(side, ("code",), ("code",))
        if len(df) != m:
            raise DataFormatError(f"{len(df)} products but A in {path.name} is {m} × {m}"
                                  + (" (truncated?)" if len(df) < m else ""), path=side)
        dup = df["code"].duplicated().to_numpy()
        if dup.any():
            k = int(np.argmax(dup))
            raise DataFormatError(f"duplicated product code {df['code'].iloc[k]!r}",
                                  path=side, line=k + 2)
        codes = df["code"].to_numpy(dtype=object)
        rn = [c for c in df.columns if c != "code"]
        if rn:
            T = np.vstack([_numeric(df, c, side, nonnegative=True) for c in rn])
        else:
            rn = ["none"]
    elif written_with is not None:
        raise DataFormatError(f"{side.name} is missing: lab wrote this file with its codes "
                              f"and resources in the sidecar {written_with} (move or rename "
                              "the two files together)", path=path)

    def label(k):
        return str(codes[k]) if codes is not None else f"P{int(k)}"

    bad = ~np.isfinite(values)
    if bad.any() or (values < 0).any():
        k = int(np.argmax(bad)) if bad.any() else int(np.argmax(values < 0))
        what = "not finite" if bad.any() else "negative"
        raise DataFormatError(
            f"entry A[{label(rows[k])!r}, {label(cols[k])!r}] (row {int(rows[k]) + 1}, "
            f"column {int(cols[k]) + 1}) is {what}: {float(values[k])!r}", path=path)
    A = sp.coo_array((values, (rows, cols)), shape=(m, m)).tocsc()  # indices checked above
    try:
        return Economy(A, T, codes=codes, resource_names=rn)
    except InvalidEconomyError as exc:
        raise DataFormatError(str(exc), path=path) from exc


def write_mtx(economy, path):
    """Write A to ``path`` (Matrix Market coordinate, 17 significant digits) and the
    codes and resource rows to the sidecar ``NAME.resources.csv``; each atomically."""
    import pandas as pd

    from lab.io._flows import check_writable_labels, line_end

    path = Path(path)
    codes = np.asarray(economy.codes, dtype=object)
    check_writable_labels(codes, economy.resource_names)
    for name in economy.resource_names:
        if name == "code":
            raise InvalidEconomyError("a resource named 'code' clashes with the sidecar's code "
                                      "column")
    side = sidecar_path(path)
    df = pd.DataFrame({"code": codes})
    for q, name in enumerate(economy.resource_names):
        df[name] = economy.R[q]
    with atomic_path(side) as tmp:
        df.to_csv(tmp, index=False, float_format="%.17g",
                  lineterminator=line_end(codes, economy.resource_names))
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        scipy.io.mmwrite(fh, sp.coo_array(economy.A), precision=17,
                         comment=SIDECAR_COMMENT + side.name)
    return path
