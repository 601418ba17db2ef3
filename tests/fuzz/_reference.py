"""Slow, obviously-correct references the fuzz cases check lab against.

Each one reads the raw input with plain Python loops, the csv module and ``float()``
(never with lab, and never with the library routine lab uses for the same job) and
either returns what lab must return or raises :class:`Rejected`: then lab must raise
one of its own errors. A reference may be *more* permissive than lab only where lab
documents a stricter rule; the cases say so where it matters.
"""

from __future__ import annotations

import csv
import io
import math
import numbers
from fractions import Fraction

import numpy as np
import scipy.sparse as sp


class Rejected(Exception):
    """The input is not valid: lab must refuse it with its own error."""


# --------------------------------------------------------------------------- numbers


def num(s: str) -> float:
    """A CSV cell as a finite number ≥ 0."""
    try:
        v = float(s)
    except ValueError:
        raise Rejected(f"not a number: {s!r}") from None
    if not math.isfinite(v) or v < 0:
        raise Rejected(f"not finite or negative: {s!r}")
    return v


def residual(A: np.ndarray, b: np.ndarray, v: np.ndarray) -> float:
    """lab's stopping rule ‖b + Aᵀv − v‖∞ / ‖v‖∞, computed with NumPy (0 when v = b = 0)."""
    r = b + A.T @ v - v
    num_, den = float(np.max(np.abs(r), initial=0.0)), float(np.max(np.abs(v), initial=0.0))
    if den == 0.0:
        return 0.0 if num_ == 0.0 else math.inf
    return num_ / den


def spectral_radius(A: np.ndarray) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(A)), initial=0.0)) if A.size else 0.0


def productive_exactly(A: np.ndarray) -> bool:
    """ρ(A) < 1 for A ≥ 0, decided in exact rational arithmetic: I − A is then a
    nonsingular M-matrix, that is, all its leading principal minors are positive.

    LAPACK's eigenvalues are no reference for coefficients spanning hundreds of orders
    of magnitude (it gave ρ = 0.5 for [[0.1, 1e308], [2.8e-280, 0.5]], whose radius is
    1.7e14); every float is a rational, so this test is exact. Gaussian elimination on
    fractions: the k-th leading minor is the product of the first k pivots.
    """
    m = A.shape[0]
    M = [[Fraction(int(i == j)) - Fraction(float(A[i, j])) for j in range(m)]
         for i in range(m)]
    for k in range(m):
        if M[k][k] <= 0:
            return False
        for i in range(k + 1, m):
            f = M[i][k] / M[k][k]
            if f:
                for j in range(k, m):
                    M[i][j] -= f * M[k][j]
    return True


# --------------------------------------------------------------------------- sparse


def _array(x, kinds: str, ndim: int = 1) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.ndim != ndim or x.dtype.kind not in kinds:
        raise Rejected("not an array of the right kind")
    return x


def _index(x, bound: int) -> int:
    v = int(x)
    if not 0 <= v < bound:
        raise Rejected(f"index {v} out of range {bound}")
    return v


def _shape(M, allow_1d: bool):
    try:
        shape = tuple(M.shape)
    except Exception:
        raise Rejected("no shape") from None
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 0
               for s in shape):
        raise Rejected("bad shape")
    if len(shape) == 1 and allow_1d:
        return (1, int(shape[0])), True
    if len(shape) != 2:
        raise Rejected("not 2-D")
    return (int(shape[0]), int(shape[1])), False


def dense_of(M, *, allow_1d: bool = False, nonnegative: bool = True) -> np.ndarray:
    """The dense float64 matrix that lab must make of ``M`` (sparse of any format with
    its raw arrays as they are, or dense), entry by entry; Rejected if lab must refuse."""
    if sp.issparse(M):
        shape, one_d = _shape(M, allow_1d)
        entries = list(_entries(M, shape, one_d))
        D = np.zeros(shape)
        for i, j, v in entries:
            if not math.isfinite(v):
                raise Rejected("NaN or inf stored")
            D[i, j] += v
    else:
        try:
            D = np.asarray(M)
        except Exception:
            raise Rejected("not an array") from None
        if D.dtype.kind not in "biuf":
            raise Rejected("not real")
        if D.ndim == 1 and allow_1d:
            D = D.reshape(1, -1)
        if D.ndim != 2:
            raise Rejected("not 2-D")
        D = D.astype(np.float64)
    if not np.isfinite(D).all():
        raise Rejected("not finite")
    if nonnegative and (D < 0).any():
        raise Rejected("negative")
    return D


def _entries(M, shape, one_d):
    """(row, column, value) of every stored entry, by the format's own definition."""
    m, n = shape
    fmt = M.format
    if fmt in ("csr", "csc", "bsr"):
        data = _array(M.data, "biuf", 3 if fmt == "bsr" else 1)
        if fmt == "bsr":
            R, C = data.shape[1:]
            if R < 1 or C < 1 or m % R or n % C:
                raise Rejected("blocks do not tile")
            major, minor = m // R, n // C
        else:
            R = C = 1
            major, minor = (n, m) if fmt == "csc" else (m, n)
        indptr = [int(v) for v in _array(M.indptr, "iu")]
        indices = _array(M.indices, "iu")
        if len(indptr) != major + 1 or indptr[0] != 0 or len(indices) != data.shape[0]:
            raise Rejected("bad indptr or lengths")
        if any(b < a for a, b in zip(indptr, indptr[1:], strict=False)):
            raise Rejected("indptr decreases")
        if indptr[-1] > len(indices):
            raise Rejected("indptr beyond indices")
        for a in range(major):
            for k in range(indptr[a], indptr[a + 1]):
                b = _index(indices[k], minor)
                if fmt == "bsr":
                    for r in range(R):
                        for c in range(C):
                            yield a * R + r, b * C + c, float(data[k, r, c])
                elif fmt == "csc":
                    yield b, a, float(data[k])
                else:
                    yield a, b, float(data[k])
    elif fmt == "coo":
        data = _array(M.data, "biuf")
        coords = M.coords
        if not isinstance(coords, tuple) or len(coords) != (1 if one_d else 2):
            raise Rejected("coords")
        coords = [_array(c, "iu") for c in coords]
        if any(len(c) != len(data) for c in coords):
            raise Rejected("lengths")
        for k in range(len(data)):
            i = 0 if one_d else _index(coords[0][k], m)
            j = _index(coords[-1][k], n)
            yield i, j, float(data[k])
    elif fmt == "dia":
        data = _array(M.data, "biuf", 2)
        offsets = [int(v) for v in _array(M.offsets, "iu")]
        if len(offsets) != data.shape[0] or len(set(offsets)) != len(offsets):
            raise Rejected("offsets")
        for d, o in enumerate(offsets):
            for j in range(min(data.shape[1], n)):
                if 0 <= j - o < m and data[d, j] != 0:
                    yield j - o, j, float(data[d, j])
    elif fmt == "lil":
        rows, vals = M.rows, M.data
        for a in (rows, vals):
            if not isinstance(a, np.ndarray) or a.shape != (m,):
                raise Rejected("lil arrays")
        for i in range(m):
            r, v = rows[i], vals[i]
            if not isinstance(r, list) or not isinstance(v, list) or len(r) != len(v):
                raise Rejected("lil row")
            for c, x in zip(r, v, strict=True):
                if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, np.integer)):
                    raise Rejected("lil column")
                if isinstance(x, (bool, np.bool_)):
                    x = float(x)
                if not isinstance(x, (int, float, np.integer, np.floating)):
                    raise Rejected("lil value")
                yield i, _index(c, n), float(x)
    elif fmt == "dok":
        for key, x in M._dict.items():
            if one_d:
                key = (0, key)
            if not isinstance(key, tuple) or len(key) != 2 or not all(
                    isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_))
                    for c in key):
                raise Rejected("dok key")
            if isinstance(x, (bool, np.bool_)):
                x = float(x)
            if not isinstance(x, (int, float, np.integer, np.floating)):
                raise Rejected("dok value")
            yield _index(key[0], m), _index(key[1], n), float(x)
    else:
        raise Rejected(f"format {fmt}")


# --------------------------------------------------------------------------- text tables


def rows_of(text: str) -> list[list[str]]:
    """CSV records as pandas' C parser pads them: short rows padded, long ones refused,
    trailing blank lines dropped, a blank line inside refused; the last line must end
    with a line end (lab refuses a cut-off last line)."""
    if text and not text.endswith(("\n", "\r")):
        raise Rejected("no line end at the end")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    while rows and all(c == "" for c in rows[-1]):
        rows.pop()
    if not rows:
        raise Rejected("empty")
    width = len(rows[0])
    for r in rows:
        if len(r) > width or all(c == "" for c in r):
            raise Rejected("long or blank line")
        r.extend([""] * (width - len(r)))
    return rows


def folder(products: str, flows: str):
    """(codes, A, R, resource names) of a products.csv/flows.csv pair, or Rejected."""
    head, *prows = rows_of(products.lstrip("\ufeff"))
    if "" in head or len(set(head)) != len(head) or \
            not {"code", "name", "total_output"} <= set(head):
        raise Rejected("header")
    res = [c for c in head if c not in ("code", "name", "total_output", "unit")]
    if not res:
        raise Rejected("no resources")
    col = {c: k for k, c in enumerate(head)}
    codes = [r[col["code"]] for r in prows]
    if "" in codes or len(set(codes)) != len(codes):
        raise Rejected("codes")
    x = [num(r[col["total_output"]]) for r in prows]
    T = [[num(r[col[c]]) for r in prows] for c in res]
    fhead, *frows = rows_of(flows.lstrip("\ufeff"))
    if "" in fhead or len(set(fhead)) != len(fhead) or \
            not {"input_code", "output_code", "value"} <= set(fhead):
        raise Rejected("flows header")
    fc = {c: k for k, c in enumerate(fhead)}
    pos = {c: k for k, c in enumerate(codes)}
    m = len(codes)
    Z = np.zeros((m, m))
    for r in frows:
        a, b = r[fc["input_code"]], r[fc["output_code"]]
        if a == "" or b == "" or a not in pos or b not in pos:
            raise Rejected("unknown code")
        Z[pos[a], pos[b]] += num(r[fc["value"]])
    punits = {r[col["unit"]].strip() for r in prows} if "unit" in col else None
    funits = {r[fc["unit"]].strip() for r in frows} if "unit" in fc else None
    for units in (punits, funits):
        if units is not None and len(units) > 1:
            raise Rejected("units")
    if punits and funits and punits != funits:
        raise Rejected("units disagree")
    if not np.isfinite(Z).all():
        raise Rejected("flows overflow")
    keep = []
    for k in range(m):
        if x[k] == 0:
            if Z[:, k].any() or Z[k, :].any() or any(t[k] for t in T):
                raise Rejected("zero output")
        else:
            keep.append(k)
    A = np.array([[Z[i, j] / x[j] for j in keep] for i in keep]).reshape(len(keep), len(keep))
    R = np.array([[t[j] / x[j] for j in keep] for t in T]).reshape(len(T), len(keep))
    if not (np.isfinite(A).all() and np.isfinite(R).all()):
        raise Rejected("coefficients overflow")
    return [codes[k] for k in keep], A, R, tuple(res)


def dense_csv(text: str):
    """(codes, A, R, resource names) of a dense-csv file, or Rejected."""
    rows = rows_of(text)
    if rows[-1][0] != "#end" or any(rows[-1][1:]):
        raise Rejected("no #end")
    rows = rows[:-1]
    if not rows:
        raise Rejected("no header")
    head = rows[0]
    if head[0].lstrip("\ufeff") != "code":
        raise Rejected("header")
    codes = head[1:]
    m = len(codes)
    if "" in codes or len(set(codes)) != m or len(rows) < m + 1:
        raise Rejected("codes")
    if [r[0] for r in rows[1:m + 1]] != codes:
        raise Rejected("row codes")
    A = np.array([[num(c) for c in r[1:]] for r in rows[1:m + 1]]).reshape(m, m)
    rest = rows[m + 1:]
    if not rest:
        return codes, A, np.zeros((1, m)), ("none",)
    if rest[0][0] != "#resources" or len(rest) < 2:
        raise Rejected("resources")
    names = [r[0] for r in rest[1:]]
    if "" in names or "#resources" in names or len(set(names)) != len(names):
        raise Rejected("names")
    return codes, A, np.array([[num(c) for c in r[1:]] for r in rest[1:]]), tuple(names)


_WORDS = ("real", "integer", "double")


def mtx(text: str, sidecar: str | None):
    """(codes or None, A, R, resource names) of a Matrix Market file and its sidecar."""
    if not text.endswith(("\n", "\r")):
        raise Rejected("no line end")
    lines = text.split("\n")  # Matrix Market lines end at \n, not at \x1c or \u2028
    banner = lines[0].split() if lines else []
    if len(banner) != 5 or banner[0] != "%%MatrixMarket" or banner[1].lower() != "matrix":
        raise Rejected("banner")
    fmt, field, sym = (w.lower() for w in banner[2:])
    if fmt not in ("coordinate", "array") or field not in _WORDS or \
            sym not in ("general", "symmetric", "skew-symmetric"):
        raise Rejected("banner words")
    k = 1
    comments = []
    while k < len(lines) and (lines[k].strip().startswith("%") or not lines[k].strip()):
        if lines[k].strip().startswith("%"):
            comments.append(lines[k].strip().lstrip("%").strip())
        k += 1
    if k == len(lines):
        raise Rejected("no size line")
    size = lines[k].split()
    if len(size) != (3 if fmt == "coordinate" else 2) or not all(
            s.isascii() and s.isdigit() and len(s) <= 18 for s in size):
        raise Rejected("size line")
    m, n = int(size[0]), int(size[1])
    if m != n or m > 10**6:
        raise Rejected("not square (or too large for a fuzz case)")
    body = [ln for ln in lines[k + 1:] if ln.strip() and not ln.lstrip().startswith("%")]
    D = np.zeros((m, m))
    triplets = []
    if fmt == "coordinate":
        if len(body) != int(size[2]):
            raise Rejected("count")
        for ln in body:
            parts = ln.split()
            if len(parts) != 3 or not all(p.isascii() and p.isdigit() and len(p) <= 18
                                          for p in parts[:2]):
                raise Rejected("entry")
            i, j = int(parts[0]) - 1, int(parts[1]) - 1
            if not (0 <= i < m and 0 <= j < m):
                raise Rejected("index")
            triplets.append((i, j, _mtx_number(parts[2])))
    else:
        values = " ".join(body).split()
        cells = [(i, j) for j in range(m) for i in range(m)
                 if sym == "general" or i > j or (i == j and sym == "symmetric")]
        if len(values) != len(cells):
            raise Rejected("count")
        triplets = [(i, j, _mtx_number(v)) for (i, j), v in zip(cells, values, strict=True)]
    for i, j, v in triplets:
        if sym != "general" and i != j:
            triplets_v = -v if sym == "skew-symmetric" else v
            if not math.isfinite(triplets_v) or triplets_v < 0:
                raise Rejected("mirror entry")
            D[j, i] += triplets_v
        if sym == "skew-symmetric" and i == j:
            raise Rejected("skew diagonal")
        if not math.isfinite(v) or v < 0:
            raise Rejected("entry value")
        D[i, j] += v
    if not np.isfinite(D).all():
        raise Rejected("overflow")
    if sidecar is None:
        if any(c.startswith("lab: codes and resources in the sidecar ") for c in comments):
            raise Rejected("sidecar missing")
        return None, D, np.zeros((1, m)), ("none",)
    head, *rows = rows_of(sidecar.lstrip("\ufeff"))
    if "" in head or len(set(head)) != len(head) or "code" not in head:
        raise Rejected("sidecar header")
    c = head.index("code")
    codes = [r[c] for r in rows]
    if len(codes) != m or "" in codes or len(set(codes)) != m:
        raise Rejected("sidecar codes")
    names = [h for h in head if h != "code"]
    if not names:
        return codes, D, np.zeros((1, m)), ("none",)
    R = np.array([[num(r[head.index(h)]) for r in rows] for h in names]).reshape(len(names), m)
    return codes, D, R, tuple(names)


def _mtx_number(s: str) -> float:
    import re

    if not re.fullmatch(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|"
                        r"[+-]?(?:inf|nan)", s, re.IGNORECASE):
        raise Rejected("value")
    return float(s)
