"""Matrix Market reader and writer: ``NAME.mtx`` (A) + sidecar ``NAME.resources.csv``.

``NAME.mtx`` is a Matrix Market file (``coordinate`` or ``array``, ``real`` or
``integer``, any symmetry) holding the m × m use matrix A. The sidecar
``NAME.resources.csv`` (same folder, ``.mtx`` replaced by ``.resources.csv``) has a
header ``code,<resource 0>,<resource 1>,...`` and one line per product, in the
order of A's rows: the product codes and the resource rows of R (row 0 labour).
Without a sidecar the codes are the defaults ``P0 ...`` and R is one zero row
named ``"none"``. Entries of A must be finite and ≥ 0; errors name the file and
the entry (by product codes) or the sidecar line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse as sp

from lab._atomic import atomic_path
from lab.exceptions import DataFormatError, InvalidEconomyError

__all__ = ["read_mtx", "sidecar_path", "write_mtx"]


def sidecar_path(path) -> Path:
    """``NAME.mtx`` -> ``NAME.resources.csv``."""
    path = Path(path)
    stem = path.name[:-4] if path.name.lower().endswith(".mtx") else path.name
    return path.with_name(stem + ".resources.csv")


_NUMBER = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf|nan)"


def _read_coordinate(path: Path, info):
    """Strict parser of a general coordinate body: every entry line must be exactly
    ``i j value`` with 1-based integer indices in range and a real value."""
    import pandas as pd

    nrows, ncols, nnz = info[0], info[1], info[2]
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    k = 0
    while k < len(lines) and (lines[k].startswith("%") or not lines[k].strip()):
        k += 1
    body = [ln for ln in lines[k + 1:] if ln.strip() and not ln.startswith("%")]
    if len(body) != nnz:
        raise DataFormatError(f"the size line declares {nnz} entries but {len(body)} follow"
                              + (" (truncated?)" if len(body) < nnz else ""), path=path)
    df = pd.Series(body, dtype=object).str.split(expand=True) if body else \
        pd.DataFrame(np.zeros((0, 3), dtype=object))
    if df.shape[1] != 3 or df.isna().any().any():
        bad = int(np.argmax(df.isna().any(axis=1).to_numpy())) if df.shape[1] >= 3 else 0
        raise DataFormatError(f"entry {bad + 1} must be 'row column value': "
                              f"{body[bad]!r}", path=path)
    idx = [pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
           for c in (0, 1, 2)]
    for c, lim in ((0, nrows), (1, ncols)):
        v = idx[c]
        ok = np.isfinite(v) & (v == np.round(v)) & (v >= 1) & (v <= lim) \
            & df[c].str.fullmatch(r"[0-9]+").to_numpy(dtype=bool)
        if not ok.all():
            bad = int(np.argmax(~ok))
            raise DataFormatError(f"entry {bad + 1}: bad index {df[c].iloc[bad]!r}", path=path)
    bad_v = np.isnan(idx[2]) | ~df[2].str.fullmatch(_NUMBER).to_numpy(dtype=bool)
    if bad_v.any():
        bad = int(np.argmax(bad_v))
        raise DataFormatError(f"entry {bad + 1}: not a number {df[2].iloc[bad]!r}", path=path)
    return sp.coo_array((idx[2], (idx[0].astype(np.int64) - 1, idx[1].astype(np.int64) - 1)),
                        shape=(nrows, ncols))


def read_mtx(path):
    """Read ``path`` (and its sidecar if present) into an :class:`~lab.Economy`."""
    from lab.economy import Economy
    from lab.io._csv import _numeric, _read

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(14)
        if not head.startswith(b"%%MatrixMarket"):
            raise DataFormatError("not a Matrix Market file (no %%MatrixMarket banner)",
                                  path=path, line=1)
        info = scipy.io.mminfo(str(path))
        if info[4] in ("complex", "pattern"):
            raise DataFormatError(f"field {info[4]!r} is not supported: A needs real values",
                                  path=path, line=1)
        if info[3] == "coordinate" and info[5] == "general":
            M = _read_coordinate(path, info)
        else:
            M = scipy.io.mmread(str(path))
    except DataFormatError:
        raise
    except Exception as exc:  # scipy's parser raises many types on corrupt input
        raise DataFormatError(f"corrupt or truncated Matrix Market file ({type(exc).__name__}:"
                              f" {exc})", path=path) from None
    A = sp.coo_array(M) if not sp.issparse(M) else sp.coo_array(M)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise DataFormatError(f"A must be square, got shape {A.shape}", path=path)
    m = A.shape[0]
    A = A.astype(np.float64)
    side = sidecar_path(path)
    codes, T, rn = None, np.zeros((1, m)), ("none",)
    if side.exists():
        df = _read(side, ("code",), ("code",))
        if len(df) != m:
            raise DataFormatError(f"{len(df)} products but A in {path.name} is {m} × {m}",
                                  path=side)
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

    def label(k):
        return str(codes[k]) if codes is not None else f"P{int(k)}"

    bad = ~np.isfinite(A.data)
    if bad.any() or (A.data < 0).any():
        k = int(np.argmax(bad)) if bad.any() else int(np.argmax(A.data < 0))
        what = "not finite" if bad.any() else "negative"
        raise DataFormatError(
            f"entry A[{label(A.row[k])!r}, {label(A.col[k])!r}] (row {int(A.row[k]) + 1}, "
            f"column {int(A.col[k]) + 1}) is {what}: {float(A.data[k])!r}", path=path)
    try:
        return Economy(A.tocsc(), T, codes=codes, resource_names=rn)
    except InvalidEconomyError as exc:
        raise DataFormatError(str(exc), path=path) from exc


def write_mtx(economy, path):
    """Write A to ``path`` (Matrix Market coordinate, 17 significant digits) and the
    codes and resource rows to the sidecar ``NAME.resources.csv``; each atomically."""
    import pandas as pd

    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        scipy.io.mmwrite(fh, sp.coo_array(economy.A), precision=17)
    df = pd.DataFrame({"code": np.asarray(economy.codes, dtype=object)})
    for q, name in enumerate(economy.resource_names):
        if name == "code":
            raise ValueError("a resource named 'code' clashes with the sidecar's code column")
        df[name] = economy.R[q]
    with atomic_path(sidecar_path(path)) as tmp:
        df.to_csv(tmp, index=False, float_format="%.17g")
    return path
