"""Hypothesis strategies of the fuzz suite: matrices of every sparse format with their
arrays corrupted, economies near the edge of productivity, edited files, command lines
and job files. Everything here runs in the test process and only *builds* inputs; lab
sees them in the sandbox."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import strategies as st

#: Values a matrix entry or vector element may take (NaN, inf, negative: invalid).
GOOD = [0.0, 0.0, 0.1, 0.25, 0.5, 1.0, 2.5, 1e-300, 5e-324, 1e300]
BAD = [float("nan"), float("inf"), -float("inf"), -1.0, -0.0, 1e308]
#: Integers an index array may be given.
INDEX_POOL = [-1, 0, 1, 2, 3, 7, 10**7, 2**31 - 1, 2**31, 2**63 - 1, -(2**63)]
FORMATS = ("csc", "csr", "coo", "bsr", "dia", "lil", "dok", "dense", "csr_matrix",
           "coo_matrix", "list")


def values(bad: float = 0.05):
    """An entry: mostly valid, with probability ``bad`` NaN, inf, negative or 1e308."""
    good = st.one_of(st.sampled_from(GOOD), st.floats(0, 10))
    if bad == 0:
        return good
    return st.integers(0, 999).flatmap(
        lambda k: st.sampled_from(BAD) if k < bad * 1000 else good)


@st.composite
def dense(draw, m=None, n=None, bad=0.05, density=None):
    m = draw(st.integers(0, 6)) if m is None else m
    n = m if n is None else n
    density = draw(st.sampled_from([0.0, 0.2, 0.5, 1.0])) if density is None else density
    D = np.zeros((m, n))
    for i in range(m):
        for j in range(n):
            if draw(st.floats(0, 1)) < density:
                D[i, j] = draw(values(bad))
    return D


def as_format(D: np.ndarray, fmt: str):
    if fmt == "dense":
        return D
    if fmt == "list":
        return D.tolist()
    if fmt == "csr_matrix":
        return sp.csr_matrix(D)
    if fmt == "coo_matrix":
        return sp.coo_matrix(D)
    if fmt == "bsr" and D.shape[0] % 2 == 0 and D.shape[1] % 2 == 0 and D.size:
        return sp.bsr_array(D, blocksize=(2, 2))
    return getattr(sp, f"{fmt}_array")(D)


def _corrupt_array(draw, a):
    op = draw(st.sampled_from(["set", "drop", "append", "astype", "2d", "list", "none",
                               "scalar", "empty", "reverse"]))
    if not isinstance(a, np.ndarray):
        return a
    if a.ndim == 0:  # left 0-d by an earlier corruption
        return draw(st.sampled_from([None, a.reshape(1), [0, 1]]))
    if op == "set" and a.size:
        b = a.astype(object).copy() if a.dtype.kind not in "iuf" else a.copy()
        k = draw(st.integers(0, a.size - 1))
        pool = INDEX_POOL if a.dtype.kind in "iu" else GOOD + BAD
        v = draw(st.sampled_from(pool))
        try:
            b.flat[k] = v
        except (OverflowError, ValueError):
            b = b.astype(object)
            b.flat[k] = v
        return b
    if op == "drop":
        return a[:-1] if a.ndim else a
    if op == "append" and a.ndim:
        return np.concatenate([a, a[:1] if len(a) else np.zeros((1, *a.shape[1:]), a.dtype)])
    if op == "astype":
        dtype = draw(st.sampled_from([np.float64, np.int8, np.uint64, np.int64, np.int32,
                                      np.complex128, object, bool, np.float32, np.uint8]))
        try:
            return a.astype(dtype)
        except (ValueError, TypeError, OverflowError):
            return a
    if op == "2d":
        return a.reshape(-1, 1)
    if op == "list":
        return a.tolist()
    if op == "none":
        return None
    if op == "scalar":
        return np.array(3)
    if op == "empty":
        return a[:0]
    if op == "reverse":
        return a[::-1]
    return a


class Raw:
    """A corrupted matrix, shown safely (scipy's own repr can fail on one)."""

    def __init__(self, value, what: str):
        self.value, self.what = value, what

    def __repr__(self) -> str:
        return f"<{self.what}>"


@st.composite
def corrupted(draw, D, fmt):
    """``D`` in format ``fmt``, with up to three of its arrays (or its shape) corrupted."""
    M = as_format(D, fmt)
    if not sp.issparse(M) or not draw(st.booleans()):
        return Raw(M, f"{fmt} {np.shape(D)}")
    M = M.copy()
    done = []
    for _ in range(draw(st.integers(1, 3))):
        f = M.format
        if f == "dok":
            key = draw(st.sampled_from([(0, 10**7), (-1, 0), (0,), "ab", (0, 0), (1, 1),
                                        (2**63 - 1, 0), (0.5, 1)]))
            M._dict[key] = draw(st.sampled_from(GOOD + BAD + [1j, "x", None]))
            done.append(f"key {key!r}")
            continue
        if f == "lil":
            if M.shape[0] == 0:
                continue
            i = draw(st.integers(0, M.shape[0] - 1))
            M.rows[i] = draw(st.sampled_from([[10**7], [-1], [0, 1], ["a"], [0.5], [0, 0]]))
            M.data[i] = draw(st.sampled_from([[1.0], [], [1.0, 2.0], [float("nan")], [1j]]))
            done.append(f"row {i}: {M.rows[i]!r} {M.data[i]!r}")
            continue
        names = {"csr": ["data", "indices", "indptr", "_shape"],
                 "csc": ["data", "indices", "indptr", "_shape"],
                 "bsr": ["data", "indices", "indptr", "_shape"],
                 "coo": ["data", "coords", "_shape"],
                 "dia": ["data", "offsets", "_shape"]}[f]
        attr = draw(st.sampled_from(names))
        if attr == "_shape":
            m, n = (tuple(M._shape) + (1, 1))[:2]  # an earlier corruption may have left one
            M._shape = draw(st.sampled_from([(m, n + 1), (m + 1, n), (m, -1), (m,), (3, 3),
                                             (2**40, 2**40), (m, n)]))
        elif attr == "coords":
            coords = list(M.coords)
            k = draw(st.integers(0, len(coords) - 1))
            coords[k] = _corrupt_array(draw, coords[k])
            M.coords = tuple(coords) if draw(st.booleans()) else tuple(coords) + (coords[0],)
        else:
            setattr(M, attr, _corrupt_array(draw, getattr(M, attr)))
        value = getattr(M, attr)
        done.append(f"{attr} = {value!r}"[:200])
    return Raw(M, f"{fmt} {np.shape(D)} with " + "; ".join(done))


# --------------------------------------------------------------------------- economies


@st.composite
def economy_near_the_edge(draw):
    """(A, l): a non-negative A scaled to a spectral radius near 1 (or beyond), l ≥ 0;
    sometimes an extreme or invalid entry."""
    m = draw(st.integers(1, 9))
    B = draw(dense(m=m, bad=0.0, density=draw(st.sampled_from([0.2, 0.4, 1.0]))))
    if draw(st.booleans()):  # a cycle through every product: irreducible
        perm = np.roll(np.arange(m), 1)
        B[np.arange(m), perm] += draw(st.sampled_from([0.1, 1.0, 1e-6]))
    rho = float(np.max(np.abs(np.linalg.eigvals(B)), initial=0.0))
    target = draw(st.sampled_from([0.0, 0.5, 0.9, 0.99, 0.999999, 1 - 1e-9, 1 - 1e-12, 1.0,
                                   1 + 1e-12, 1.5, None]))
    A = B * (target / rho) if target is not None and rho > 0 and np.isfinite(rho) else B
    if draw(st.integers(0, 9)) == 0:  # an extreme entry
        i, j = draw(st.integers(0, m - 1)), draw(st.integers(0, m - 1))
        A[i, j] = draw(st.sampled_from([1e308, 1e200, 5e-324, float("nan"), -1.0, 1e-320]))
    l = np.array([draw(st.sampled_from([0.0, 1.0, 0.5, 3.0, 1e-300, 1e300, 1e10]))
                  for _ in range(m)])
    if draw(st.integers(0, 19)) == 0:
        l[draw(st.integers(0, m - 1))] = draw(st.sampled_from(BAD))
    return A, l


def value_options():
    return st.fixed_dictionaries({}, optional={
        "method": st.sampled_from(["auto", "jacobi", "gauss-seidel", "krylov", "blocks",
                                   "auto", "bogus"]),
        "rtol": st.sampled_from([1e-10, 1e-6, 1e-13, np.float32(1e-6), 0.0, -1.0, 2.0,
                                 float("nan"), "x"]),
        "maxiter": st.sampled_from([None, 1, 3, 1000, np.int64(200), 0, -5, 2.5]),
    })


# --------------------------------------------------------------------------- text edits

TOKENS = ["", "nan", "inf", "-inf", "-1", "-0", "abc", "1e308", "1e400", "Z", "P0", "P1",
          "0", "2.5", " 3", "NA", '"', "1,2", "\n", "\r", "#end", "#resources", "%", "1 2",
          "\ufeff", "code", "é"]


def mutate_text(draw, text: str) -> str:
    kind = draw(st.sampled_from(["bytes", "truncate", "cell", "swap", "line", "dropline",
                                 "crlf"]))
    if kind == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    if kind == "bytes":
        k = draw(st.integers(0, len(text)))
        return text[:k] + draw(st.text(max_size=4)) + text[k + draw(st.integers(0, 3)):]
    if kind == "crlf":
        return text.replace("\n", "\r\n")
    lines = text.split("\n")
    li = draw(st.integers(0, max(len(lines) - 1, 0)))
    if kind == "dropline":
        return "\n".join(lines[:li] + lines[li + 1:])
    cells = lines[li].split(",")
    if kind == "cell":
        cells[draw(st.integers(0, len(cells) - 1))] = draw(st.sampled_from(TOKENS))
    elif kind == "swap" and len(cells) > 1:
        a, b = draw(st.integers(0, len(cells) - 1)), draw(st.integers(0, len(cells) - 1))
        cells[a], cells[b] = cells[b], cells[a]
    elif kind == "line":
        lines.insert(li, lines[draw(st.integers(0, len(lines) - 1))])
        return "\n".join(lines)
    lines[li] = ",".join(cells)
    return "\n".join(lines)


def mutate_bytes(draw, raw: bytes) -> bytes:
    raw = bytearray(raw)
    kind = draw(st.sampled_from(["truncate", "flip", "flip", "insert", "delete"]))
    if kind == "truncate" or not raw:
        return bytes(raw[: draw(st.integers(0, len(raw)))])
    if kind == "flip":
        for _ in range(draw(st.integers(1, 4))):
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        return bytes(raw)
    k = draw(st.integers(0, len(raw)))
    if kind == "insert":
        return bytes(raw[:k]) + draw(st.binary(min_size=1, max_size=8)) + bytes(raw[k:])
    return bytes(raw[:k]) + bytes(raw[k + draw(st.integers(1, 16)):])
