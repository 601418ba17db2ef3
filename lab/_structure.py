"""Block structure of an economy and the productivity check.

The graph "product i is an input of product j" splits into strongly connected
components. Ordered with every component after the components it draws inputs
from, the system v = l + Aᵀv is block lower triangular: a component of one
product is solved exactly by substitution, a cyclic component needs a small
solve of its own (MATH.md §2, "Structure").

The same decomposition answers whether the economy is productive: ρ(A) is the
largest spectral radius of its diagonal blocks, so each block is checked on its
own, cheap norm bounds first and a Collatz–Wielandt bracket of ρ only where the
norms do not decide. A non-productive economy is reported with the smallest
non-productive block, which is a strongly connected group of products that
consumes more than it makes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from lab import _ops
from lab.exceptions import NotProductiveError

__all__ = ["BlockStructure", "analyse", "check_productive", "norm_bound"]

#: Blocks up to this size get their spectral radius from a dense eigensolve.
DENSE_EIG_MAX = 400
#: Iterations of the Collatz–Wielandt bracket before giving up on a decision.
BRACKET_MAXITER = 2000


@dataclass
class BlockStructure:
    """Strongly connected components of Aᵀ in a "dependencies first" order.

    ``order[k]`` is the product placed at position k; ``inverse`` undoes it.
    Block b holds positions ``block_ptr[b]:block_ptr[b + 1]``. The permuted
    CSR arrays of Aᵀ (``indptr, indices, data``) are built on demand by
    :meth:`permuted`, since only the block solver needs them.
    """

    order: np.ndarray
    inverse: np.ndarray
    block_ptr: np.ndarray
    labels: np.ndarray
    seconds: float
    _permuted: tuple | None = field(default=None, repr=False)

    @property
    def n_blocks(self) -> int:
        return len(self.block_ptr) - 1

    @property
    def block_sizes(self) -> np.ndarray:
        return np.diff(self.block_ptr)

    @property
    def largest_block(self) -> int:
        return int(self.block_sizes.max(initial=0))

    @property
    def n_cyclic_blocks(self) -> int:
        return int(np.count_nonzero(self.block_sizes > 1))

    def permuted(self, economy, backend: str):
        """CSR arrays of P Aᵀ Pᵀ in block order (built once, then kept)."""
        if self._permuted is None:
            K = _ops.kernels(backend)
            At = economy.A  # CSC of A = CSR of Aᵀ
            indptr = np.empty_like(At.indptr)
            indices = np.empty_like(At.indices)
            data = np.empty_like(At.data)
            K.permute_csr(At.indptr, At.indices, At.data, self.order, self.inverse,
                          indptr, indices, data)
            self._permuted = (indptr, indices, data)
        return self._permuted


def norm_bound(economy) -> float:
    """Cheap upper bound on ρ(A): the smaller of its largest column and row sum."""
    A = economy.A
    if A.nnz == 0:
        return 0.0
    col = float(np.max(A.sum(axis=0)))
    row = float(np.max(A.sum(axis=1)))
    return min(col, row)


def analyse(economy, backend: str) -> BlockStructure:
    """Strongly connected components of the input graph, cached on the economy.

    The labels only depend on the sparsity pattern, so they are kept in the
    economy's private cache (the economy is immutable).
    """
    cached = economy._cache.get("blocks")
    if cached is not None:
        return cached
    t0 = time.perf_counter()
    At = economy.A
    n = economy.n_products
    labels = np.empty(n, dtype=At.indices.dtype)
    K = _ops.kernels(backend)
    n_blocks = int(K.strongly_connected_components(At.indptr, At.indices, labels))
    counts = np.bincount(labels, minlength=n_blocks)
    block_ptr = np.zeros(n_blocks + 1, dtype=At.indptr.dtype)
    np.cumsum(counts, out=block_ptr[1:])
    order = np.argsort(labels, kind="stable").astype(At.indices.dtype, copy=False)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(n, dtype=order.dtype)
    structure = BlockStructure(order, inverse, block_ptr, labels, time.perf_counter() - t0)
    economy._cache["blocks"] = structure
    return structure


@dataclass(frozen=True)
class ProductivityReport:
    """How productivity was established.

    ``bound`` is a proven upper bound on ρ(A); ``how`` says which test gave it.
    """

    bound: float
    how: str
    seconds: float


def check_productive(economy, backend: str) -> ProductivityReport:
    """Prove ρ(A) < 1 or raise :class:`~lab.exceptions.NotProductiveError`.

    Cheap sufficient test first (largest column or row sum of A below 1), then
    block by block: the diagonal entry of a one-product block, the norm bounds
    of a cyclic block, and a dense eigensolve or Collatz–Wielandt bracket for
    the blocks whose norms do not decide.
    """
    cached = economy._cache.get("productive")
    if cached is not None:
        return cached
    t0 = time.perf_counter()
    bound = norm_bound(economy)
    if bound < 1.0:
        report = ProductivityReport(bound, "largest column/row sum of A", time.perf_counter() - t0)
        economy._cache["productive"] = report
        return report

    structure = analyse(economy, backend)
    indptr, indices, data = structure.permuted(economy, backend)
    sizes = structure.block_sizes
    starts = structure.block_ptr[:-1]
    n = economy.n_products
    block_of_row = np.repeat(np.arange(structure.n_blocks), sizes)
    row_of_entry = np.repeat(np.arange(n), np.diff(indptr))
    inside = indices >= starts[block_of_row[row_of_entry]]
    # Within-block row sums of Aᵀ are within-block column sums of A, and vice versa.
    row_sum = np.bincount(row_of_entry[inside], weights=data[inside], minlength=n)
    col_sum = np.bincount(indices[inside], weights=data[inside], minlength=n)
    block_row = np.maximum.reduceat(row_sum, starts) if n else row_sum
    block_col = np.maximum.reduceat(col_sum, starts) if n else col_sum
    block_bound = np.minimum(block_row, block_col)

    failing = []  # (size, block, rho_estimate)
    worst = 0.0
    for b in np.flatnonzero(block_bound >= 1.0):
        s, e = int(structure.block_ptr[b]), int(structure.block_ptr[b + 1])
        if e - s == 1:
            failing.append((1, b, float(block_bound[b])))
            continue
        lo, hi = _block_radius(indptr, indices, data, s, e)
        if lo >= 1.0:
            failing.append((e - s, b, lo))
        elif hi >= 1.0:
            # Undecidable to working precision: treat as not productive, honestly.
            failing.append((e - s, b, 0.5 * (lo + hi)))
        else:
            worst = max(worst, hi)
    del row_of_entry, inside
    if failing:
        failing.sort()
        size, b, rho = failing[0]
        s, e = int(structure.block_ptr[b]), int(structure.block_ptr[b + 1])
        members = structure.order[s:e]
        codes = economy.codes_at(members)
        shown = ", ".join(repr(c) for c in codes[:10])
        more = f" and {len(codes) - 10} more" if len(codes) > 10 else ""
        others = (f"; {len(failing) - 1} other non-productive group(s) found"
                  if len(failing) > 1 else "")
        what = ("product" if size == 1 else f"strongly connected group of {size} products")
        raise NotProductiveError(
            f"economy is not productive: the {what} {shown}{more} uses at least as much "
            f"of itself as it makes (spectral radius of its block ≈ {rho:.6g} ≥ 1){others}",
            codes=codes, indices=np.asarray(members), spectral_radius=rho)
    bound_all = max(worst, float(np.max(block_bound[block_bound < 1.0], initial=0.0)))
    report = ProductivityReport(bound_all, "block-wise bounds on the strongly connected components",
                                time.perf_counter() - t0)
    economy._cache["productive"] = report
    return report


def _block_radius(indptr, indices, data, s: int, e: int) -> tuple[float, float]:
    """Lower and upper bound on the spectral radius of the diagonal block [s, e)."""
    lo_ptr, hi_ptr = int(indptr[s]), int(indptr[e])
    rows = np.repeat(np.arange(e - s), np.diff(indptr[s:e + 1]))
    cols = indices[lo_ptr:hi_ptr].astype(np.int64) - s
    vals = data[lo_ptr:hi_ptr]
    keep = cols >= 0
    rows, cols, vals = rows[keep], cols[keep], vals[keep]
    size = e - s
    if size <= DENSE_EIG_MAX:
        dense = np.zeros((size, size))
        np.add.at(dense, (rows, cols), vals)
        rho = float(np.max(np.abs(np.linalg.eigvals(dense))))
        slack = 1e-12 * max(1.0, rho) * size
        return rho - slack, rho + slack
    import scipy.sparse as sp

    M = sp.csr_array((vals, (rows, cols)), shape=(size, size))
    # Collatz–Wielandt: for w > 0, min(Mw/w) ≤ ρ(M) ≤ max(Mw/w). The shift by I
    # makes the iteration converge for periodic irreducible blocks too.
    w = np.ones(size)
    lo, hi = 0.0, np.inf
    for _ in range(BRACKET_MAXITER):
        Mw = M @ w
        ratio = Mw / w
        lo, hi = max(lo, float(ratio.min())), min(hi, float(ratio.max()))
        if hi < 1.0 or lo >= 1.0 or hi - lo <= 1e-12 * hi:
            break
        w = Mw + w
        w /= w.max()
        np.maximum(w, 1e-300, out=w)
    return lo, hi
