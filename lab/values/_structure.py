"""Block structure of an economy, and the proof that it is productive.

The graph "product i is an input of product j" splits into strongly connected
components. Ordered with every component after the components it draws inputs
from, the system v = l + Aᵀv is block lower triangular: a component of one
product is solved exactly by substitution, a cyclic component by a small solve
of its own (MATH.md §2, "Structure").

Productivity (ρ(A) < 1) is established by the cheapest argument that works:

1. **Column sums.** ρ(A) ≤ max_j Σ_i A[i, j]; money-valued tables pass at once.
2. **The solution itself.** For w > 0, ρ(A) = ρ(Aᵀ) ≤ max_j (Aᵀw)_j / w_j
   (Collatz–Wielandt). With w the computed values, (Aᵀw)_j = w_j − b_j + r_j, so
   a converged, positive solution with b_j > r_j proves ρ(A) < 1 for free.
3. **Block by block**, only when neither decides (zero-labour products, a
   diverging iteration, negative values): ρ(A) is the largest spectral radius
   of the diagonal blocks, each proven below 1 by a norm, by a positive solution
   of (I − M)w = 1, or by a Collatz–Wielandt bracket, and proven at least 1 by the
   bracket's lower bound. The smallest non-productive block is named in
   :class:`~lab.exceptions.NotProductiveError`.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass

import numpy as np

from lab import _ops
from lab.exceptions import NotProductiveError

__all__ = [
    "BlockStructure",
    "ProductivityReport",
    "analyse",
    "certify",
    "components",
    "diagnose",
    "found",
    "FollowedSearch",
    "scan",
]

#: Iterations of the Collatz–Wielandt bracket before giving up on a decision.
BRACKET_MAXITER = 5000
#: Unit roundoff of float64.
_U = np.finfo(float).eps / 2
#: Entries per slice of the passes over whole vectors here (buffers of 512 KB).
_SLICE = 1 << 16


@dataclass(frozen=True)
class BlockStructure:
    """Strongly connected components of the input graph, dependencies first.

    ``order[k]`` is the product at position k; ``position`` is its inverse.
    Component b holds positions ``block_ptr[b]:block_ptr[b + 1]``, and every
    component comes after the components it draws inputs from.
    """

    order: np.ndarray
    position: np.ndarray
    block_ptr: np.ndarray
    seconds: float

    @property
    def n_blocks(self) -> int:
        return len(self.block_ptr) - 1

    @property
    def block_sizes(self) -> np.ndarray:
        return np.diff(self.block_ptr)

    @functools.cached_property
    def _largest(self) -> tuple[int, int]:
        """(number, size) of the first largest block, found slice by slice: ``np.diff``
        of the whole block_ptr is a fresh 40 MB array at 10⁷ products (75 ms)."""
        best, size = 0, 0
        for lo in range(0, self.n_blocks, _SLICE):
            sizes = np.diff(self.block_ptr[lo:lo + _SLICE + 1])
            k = int(np.argmax(sizes))
            if sizes[k] > size:
                best, size = lo + k, int(sizes[k])
        return best, size

    @property
    def largest_block(self) -> int:
        return self._largest[1]

    @property
    def n_cyclic_blocks(self) -> int:
        return int(np.count_nonzero(self.block_sizes > 1))

    def largest_block_nnz(self, indptr) -> int:
        """Non-zeros in the rows of the largest block (``indptr`` of Aᵀ as CSR)."""
        if self.n_blocks == 0:
            return 0
        k = self._largest[0]
        rows = self.order[self.block_ptr[k]:self.block_ptr[k + 1]]
        return int(np.sum(indptr[rows + 1] - indptr[rows]))


@dataclass(frozen=True)
class ProductivityReport:
    """A proven upper bound on ρ(A) below 1, and the argument that gave it."""

    bound: float
    how: str

    def __str__(self) -> str:
        # enough digits to show a bound below 1 as such (0.999999999999 is not "1")
        digits = 6 if self.bound < 0.9999 else 15
        return f"ρ(A) ≤ {self.bound:.{digits}g} ({self.how})"


def analyse(economy, backend: str) -> BlockStructure:
    """Strongly connected components, cached on the (immutable) economy."""
    cached = economy._cache.get("blocks")
    if cached is None:
        At = economy.A  # CSC of A = CSR of Aᵀ: row j lists the inputs of product j
        cached = economy._cache["blocks"] = components(At.indptr, At.indices, backend)
    return cached


def components(indptr, indices, backend: str) -> BlockStructure:
    """Strongly connected components of the graph whose row j (CSR arrays) lists the
    inputs of product j."""
    t0 = time.perf_counter()
    n = len(indptr) - 1
    idx = indices.dtype
    order, position = np.empty(n, dtype=idx), np.empty(n, dtype=idx)
    block_ptr = np.empty(n + 1, dtype=idx)
    n_blocks = int(_ops.kernels(backend).strongly_connected_components(
        indptr, indices, order, position, block_ptr))
    return found(order, position, block_ptr, n_blocks, time.perf_counter() - t0)


def found(order, position, block_ptr, n_blocks: int, seconds: float) -> BlockStructure:
    """The structure from the component search's outputs (``block_ptr`` of length n + 1,
    its first ``n_blocks + 1`` entries written)."""
    # a supply chain has nearly as many blocks as products: keep the array (a copy at
    # 10⁷ products was 40 MB of fresh pages, 77 ms); copy only what a few blocks use
    block_ptr = block_ptr[:n_blocks + 1]
    if 2 * n_blocks < len(order):
        block_ptr = block_ptr.copy()
    return BlockStructure(order, position, block_ptr, seconds)


class FollowedSearch:
    """The component search on a thread of its own, for a pass that follows it.

    The Cython kernel releases the GIL and publishes each completed component in
    ``progress`` (see its ``strongly_connected_components``), so a pass in this thread
    can work on the components as they come (``partial``: the outputs being written).
    Both are bound by memory latency, so on two cores they overlap. Call :meth:`join`
    (also when the pass fails), then :meth:`result`.
    """

    def __init__(self, indptr, indices, K, dtype):
        n = len(indptr) - 1
        self.order, self.position = np.empty(n, dtype=dtype), np.empty(n, dtype=dtype)
        self.block_ptr = np.empty(n + 1, dtype=dtype)
        self.progress = np.zeros(2, dtype=np.int64)
        self.partial = BlockStructure(self.order, self.position, self.block_ptr, 0.0)
        self._found, self._failed = [], []

        def search():
            t0 = time.perf_counter()
            try:
                self._found.append(K.strongly_connected_components(
                    indptr, indices, self.order, self.position, self.block_ptr,
                    self.progress))
            except BaseException as exc:  # re-raised by result()
                self._failed.append(exc)
                self.progress[1] = 2  # the pass following it stops
            self._found.append(time.perf_counter() - t0)

        self._thread = threading.Thread(target=search, name="lab-components", daemon=True)
        self._thread.start()

    @property
    def searching(self) -> bool:
        """Whether the search is still running."""
        return self.progress[1] == 0

    def join(self) -> None:
        self._thread.join()

    def result(self) -> BlockStructure:
        """The finished structure (after :meth:`join`); the search's error, if any."""
        if self._failed:
            raise self._failed[0]
        return found(self.order, self.position, self.block_ptr, *self._found)


def scan(economy, backend: str) -> tuple[float, int]:
    """``(column-sum bound, chain ends)`` of the economy, one pass over A (cached).

    The bound is max_j Σ_i A[i, j] ≥ ρ(A). The chain ends are the products used by no
    other product plus those using no other: the cheap test that decides whether the
    structure analysis can pay (an economy with final and primary products has chains).
    """
    cached = economy._cache.get("scan")
    if cached is None:
        A = economy.A
        bound, ends = _ops.kernels(backend).scan_rows(A.indptr, A.indices, A.data)
        cached = economy._cache["scan"] = (float(bound), int(ends))
    return cached


def longest_row(indptr) -> int:
    """The most entries of a CSR row (it bounds the rounding of every row's sum)."""
    n = len(indptr) - 1
    k = 0
    for s in range(0, n, _SLICE):  # small slices: no temporary of the whole length
        e = min(s + _SLICE, n)
        k = max(k, int(np.subtract(indptr[s + 1:e + 1], indptr[s:e]).max()))
    return k


def certify(b: np.ndarray, v: np.ndarray, Atv: np.ndarray,
            longest: int | None = None, *,
            extremes: tuple[float, float, float, float] | None = None) -> float | None:
    """Collatz–Wielandt bound max_j (Aᵀv)_j / v_j from a computed solution, or None.

    ``Atv`` is Aᵀv as computed in floating point for the check; ``longest`` the most
    entries of a row of the Aᵀ it was computed from (:func:`longest_row`; None: unknown,
    taken as m). The bound is rigorous: each computed (Aᵀv)_j, a sum of at most k
    non-negative terms (k the longest row, plus one for margin), is at most
    γ_k = k·u/(1 − k·u) below the exact sum (u = 2⁻⁵³), and the bound is inflated by that
    and by the rounding of the division,
    so no fixed margin is needed (an economy with ρ(A) = 1 − 10⁻¹² is proven productive
    when its values are). Several right-hand sides (columns) are summed first: the sum
    is a solution for the summed right-hand side. Returns ``None`` unless every
    v_j > 0 (and every entry ≥ 0) and the bound is below 1. ``extremes``: (max, min of
    the quotients, min v, max |v|) of a one-column v where the solve's check has read
    them (the kernel ``residual_quotients``), which saves the pass here.
    """
    rows = 1
    if v.ndim == 2:
        if v.size and v.min() < 0:
            return None
        rows = v.shape[1]
        v, Atv = v.sum(axis=1), Atv.sum(axis=1)
    if v.size == 0:
        return 0.0
    n = v.size
    k = (n if longest is None else int(longest)) + 1
    if extremes is not None and rows == 1:
        return _bound(np.array([extremes]), k, rows)
    # One pass, slice by slice: each slice of v and Aᵀv is read from memory once and
    # stays in cache for the quotients and the extremes (NumPy's vector loops), where
    # whole-vector tests were four passes over memory (1.5 ms at 10⁶ products) and a
    # whole-vector temporary 80 MB of fresh pages at 10⁷. Each slice's extremes: the
    # quotients' largest and smallest (a non-finite Aᵀv makes one of them non-finite),
    # v's smallest and largest; NumPy's extremes propagate NaN.
    starts = range(0, n, _SLICE)
    extremes = np.empty((len(starts), 4))
    buf = np.empty(min(n, _SLICE))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for t, s in enumerate(starts):
            e = min(s + _SLICE, n)
            piece, q = v[s:e], np.divide(Atv[s:e], v[s:e], out=buf[:e - s])
            extremes[t] = q.max(), q.min(), piece.min(), piece.max()
    return _bound(extremes, k, rows)


def _bound(extremes: np.ndarray, k: int, rows: int) -> float | None:
    """:func:`certify`'s bound from the extremes (max, min of the quotients, min v, max v
    or max |v|) of slices of v: None unless every v_j > 0, all finite, and below 1."""
    ratio, low = float(extremes[:, 0].max()), float(extremes[:, 2].min())
    if not (low > 0 and np.isfinite(extremes).all()):  # NaN fails too
        return None
    gamma = k * _U / max(1.0 - k * _U, 0.5)
    # summing r columns: each sum is within γ_r of exact, in both v and Aᵀv
    g_r = (rows - 1) * _U / (1.0 - rows * _U)
    bound = ratio * (1.0 + 2.0 * gamma) * (1.0 + 4.0 * _U) * (1.0 + g_r) / (1.0 - g_r)
    return bound if bound < 1.0 else None


def diagnose(economy, backend: str) -> ProductivityReport:
    """Prove ρ(A) < 1 block by block, or raise NotProductiveError naming the culprit."""
    cached = economy._cache.get("productive")
    if cached is not None:
        return cached
    structure = analyse(economy, backend)
    At = economy.A
    sizes = structure.block_sizes
    starts = structure.block_ptr[:-1]
    failing = []  # (size, block, estimate of rho)
    worst = 0.0

    # One-product blocks: ρ is the own-use coefficient A[j, j].
    diag = economy.A.diagonal()
    single = sizes == 1
    single_products = structure.order[starts[single]]
    own = diag[single_products]
    for k in np.flatnonzero(own >= 1.0):
        failing.append((1, int(np.flatnonzero(single)[k]), float(own[k])))
    worst = max(worst, float(own[own < 1.0].max(initial=0.0)))

    undecided = []  # blocks whose radius is within rounding of 1
    for b in np.flatnonzero(sizes > 1):
        s, e = int(structure.block_ptr[b]), int(structure.block_ptr[b + 1])
        verdict, rho = _block_verdict(_block_matrix(At, structure, s, e))
        if verdict == "productive":
            worst = max(worst, rho)
        elif verdict == "not productive":
            failing.append((e - s, int(b), rho))
        else:
            undecided.append((e - s, int(b), rho))
    if undecided and not failing:
        size, b, rho = min(undecided)
        s, e = int(structure.block_ptr[b]), int(structure.block_ptr[b + 1])
        members = np.sort(structure.order[s:e])
        codes = economy.codes_at(members)
        shown = ", ".join(repr(c) for c in codes[:10])
        raise NotProductiveError(
            f"economy cannot be proven productive: the spectral radius of the strongly "
            f"connected group of {size} products {shown}"
            f"{' and more' if len(codes) > 10 else ''} can be shown neither below 1 nor at "
            f"least 1 in float64 (rough estimate {rho:.3g}; coefficients spanning hundreds "
            "of orders of magnitude cause this: rescale the units of the products)",
            codes=codes, indices=members, spectral_radius=rho)
    if failing:
        failing.sort()
        size, b, rho = failing[0]
        s, e = int(structure.block_ptr[b]), int(structure.block_ptr[b + 1])
        members = np.sort(structure.order[s:e])
        codes = economy.codes_at(members)
        shown = ", ".join(repr(c) for c in codes[:10])
        more = f" and {len(codes) - 10} more" if len(codes) > 10 else ""
        others = (f"; {len(failing) - 1} other non-productive group(s) found"
                  if len(failing) > 1 else "")
        what = "product" if size == 1 else f"strongly connected group of {size} products"
        raise NotProductiveError(
            f"economy is not productive: the {what} {shown}{more} uses at least as much "
            f"of itself as it makes (spectral radius of its block ≈ {rho:.6g} ≥ 1){others}",
            codes=codes, indices=members, spectral_radius=rho)
    report = ProductivityReport(worst, "block-wise bound on the strongly connected components")
    economy._cache["productive"] = report
    return report


def _block_matrix(At, structure: BlockStructure, s: int, e: int):
    """The diagonal block [s, e) of Aᵀ (component order) as a scipy CSR array."""
    import scipy.sparse as sp

    rows = structure.order[s:e]
    starts, stops = At.indptr[rows], At.indptr[rows + 1]
    lengths = stops - starts
    entry = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
    local_col = structure.position[At.indices[entry]].astype(np.int64) - s
    local_row = np.repeat(np.arange(e - s), lengths)
    inside = (local_col >= 0) & (local_col < e - s)
    size = e - s
    return sp.csr_array((At.data[entry][inside], (local_row[inside], local_col[inside])),
                        shape=(size, size))


def _block_verdict(M) -> tuple[str, float]:
    """("productive", proven bound), ("not productive", ρ estimate) or ("undecided", ρ).

    Only proofs count for "productive": a norm below 1, a positive solution of
    (I − M)w = 1 (:func:`_solution_bound`), or the upper Collatz–Wielandt bound of the
    bracket below 1. An eigenvalue solver is not trusted for that: on a block with
    coefficients 1e300 and 1e-300 LAPACK returned 0.25 for a radius of 1.13.
    "not productive" needs the lower Collatz–Wielandt bound at 1 or above.
    """
    norm = min(float(M.sum(axis=0).max()), float(M.sum(axis=1).max()))
    if norm < 1.0:
        return "productive", norm
    proven = _solution_bound(M)
    if proven is not None:
        return "productive", proven
    lo, hi = _bracket(M, norm)
    if hi < 1.0:
        return "productive", hi
    if lo >= 1.0:
        return "not productive", 0.5 * (lo + hi) if hi - lo <= 1e-9 * hi else lo
    return "undecided", 0.5 * (lo + hi)


def _bracket(M, norm) -> tuple[float, float]:
    """Collatz–Wielandt bracket: for w > 0, min(Mw/w) ≤ ρ(M) ≤ max(Mw/w), iterated (with
    M + I, so that periodic irreducible blocks converge too) until the bracket is
    narrow or decides the side of 1 it is on."""
    size = M.shape[0]
    w = np.ones(size)
    lo, hi = 0.0, norm
    for _ in range(BRACKET_MAXITER):
        Mw = M @ w
        with np.errstate(over="ignore", invalid="ignore"):
            ratio = Mw / w
        lo, hi = max(lo, float(ratio.min())), min(hi, float(ratio.max()))
        if hi < 1.0 or hi - lo <= 1e-12 * hi:
            break
        w = Mw + w
        w /= w.max()
        np.maximum(w, 1e-300, out=w)
    return lo, hi


#: Blocks up to this size get the solution-based proof when their radius is within
#: rounding of 1 (a sparse LU of the block).
SOLUTION_PROOF_MAX = 20_000


def _solution_bound(M) -> float | None:
    """A proven bound ρ(M) < 1 from w > 0 solving (I − M)w = 1, or None.

    The solve is refined until its residual is far below 1, then
    :func:`certify` bounds max_j (Mw)_j / w_j with the rounding of Mw accounted for.
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    size = M.shape[0]
    if size > SOLUTION_PROOF_MAX:
        return None
    ones = np.ones(size)
    try:
        lu = splu(sp.csc_array(sp.eye_array(size) - M))
    except RuntimeError:  # exactly singular
        return None
    w = lu.solve(ones)
    for _ in range(3):
        w += lu.solve(ones - (w - M @ w))
    if not (np.all(np.isfinite(w)) and w.min() > 0):
        return None
    M = sp.csr_array(M)
    return certify(ones, w, M @ w, longest_row(M.indptr))
