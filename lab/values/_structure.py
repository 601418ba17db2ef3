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
   of the diagonal blocks, bounded cheaply by norms and, where that does not
   decide, by a dense eigensolve or a Collatz–Wielandt bracket. The smallest
   non-productive block is named in :class:`~lab.exceptions.NotProductiveError`.
"""

from __future__ import annotations

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
    "column_sum_bound",
    "diagnose",
    "permuted",
]

#: Blocks up to this size get their spectral radius from a dense eigensolve.
DENSE_EIG_MAX = 400
#: Iterations of the Collatz–Wielandt bracket before giving up on a decision.
BRACKET_MAXITER = 5000
#: Safety margin of the a-posteriori certificate against rounding in Aᵀw.
CERTIFICATE_MARGIN = 1e-12


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

    @property
    def largest_block(self) -> int:
        return int(self.block_sizes.max(initial=0))

    @property
    def n_cyclic_blocks(self) -> int:
        return int(np.count_nonzero(self.block_sizes > 1))


@dataclass(frozen=True)
class ProductivityReport:
    """A proven upper bound on ρ(A) below 1, and the argument that gave it."""

    bound: float
    how: str

    def __str__(self) -> str:
        return f"ρ(A) ≤ {self.bound:.6g} ({self.how})"


def analyse(economy, backend: str) -> BlockStructure:
    """Strongly connected components, cached on the (immutable) economy."""
    cached = economy._cache.get("blocks")
    if cached is not None:
        return cached
    t0 = time.perf_counter()
    At = economy.A  # CSC of A = CSR of Aᵀ: row j lists the inputs of product j
    n = economy.n_products
    idx = At.indices.dtype
    order = np.empty(n, dtype=idx)
    block_ptr = np.empty(n + 1, dtype=idx)
    n_blocks = int(_ops.kernels(backend).strongly_connected_components(
        At.indptr, At.indices, order, block_ptr))
    position = np.empty_like(order)
    position[order] = np.arange(n, dtype=idx)
    structure = BlockStructure(order, position, block_ptr[:n_blocks + 1].copy(),
                               time.perf_counter() - t0)
    economy._cache["blocks"] = structure
    return structure


def permuted(economy, structure: BlockStructure, backend: str):
    """CSR arrays of P Aᵀ Pᵀ: products in component order, so block sweeps read rows in sequence."""
    At = economy.A
    indptr = np.empty_like(At.indptr)
    indices = np.empty_like(At.indices)
    data = np.empty_like(At.data)
    _ops.kernels(backend).permute_csr(At.indptr, At.indices, At.data, structure.order,
                                      structure.position, indptr, indices, data)
    return indptr, indices, data


def column_sum_bound(economy) -> float:
    """max_j Σ_i A[i, j], an upper bound on ρ(A); cached on the economy."""
    cached = economy._cache.get("column_sum_bound")
    if cached is None:
        A = economy.A
        nonempty = np.flatnonzero(np.diff(A.indptr))
        if len(nonempty) == 0:
            cached = 0.0
        else:
            sums = np.add.reduceat(A.data, A.indptr[nonempty])
            cached = float(sums.max())
        economy._cache["column_sum_bound"] = cached
    return cached


def certify(b: np.ndarray, v: np.ndarray, Atv: np.ndarray) -> float | None:
    """Collatz–Wielandt bound max_j (Aᵀv)_j / v_j from a computed solution, or None.

    ``Atv`` is Aᵀv computed for the check. Several right-hand sides (columns)
    are summed first: the sum is a solution for the summed right-hand side.
    Returns ``None`` unless every v_j > 0 and the bound is below 1 with margin.
    """
    if v.ndim == 2:
        v, Atv = v.sum(axis=1), Atv.sum(axis=1)
    if v.size == 0:
        return 0.0
    if not (np.all(np.isfinite(v)) and v.min() > 0):
        return None
    bound = float(np.max(Atv / v))
    return bound if bound < 1.0 - CERTIFICATE_MARGIN else None


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

    for b in np.flatnonzero(sizes > 1):
        s, e = int(structure.block_ptr[b]), int(structure.block_ptr[b + 1])
        lo, hi = _block_radius(At, structure, s, e)
        if lo >= 1.0:
            failing.append((e - s, int(b), lo))
        elif hi >= 1.0:
            # Not decidable to working precision: too close to 1 to solve reliably.
            failing.append((e - s, int(b), 0.5 * (lo + hi)))
        else:
            worst = max(worst, hi)
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


def _block_radius(At, structure: BlockStructure, s: int, e: int) -> tuple[float, float]:
    """Lower and upper bound on the spectral radius of the diagonal block [s, e)."""
    import scipy.sparse as sp

    rows = structure.order[s:e]
    starts, stops = At.indptr[rows], At.indptr[rows + 1]
    lengths = stops - starts
    entry = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
    local_col = structure.position[At.indices[entry]].astype(np.int64) - s
    local_row = np.repeat(np.arange(e - s), lengths)
    inside = (local_col >= 0) & (local_col < e - s)
    size = e - s
    M = sp.csr_array((At.data[entry][inside], (local_row[inside], local_col[inside])),
                     shape=(size, size))
    norm = min(float(M.sum(axis=0).max()), float(M.sum(axis=1).max()))
    if norm < 1.0:
        return 0.0, norm
    if size <= DENSE_EIG_MAX:
        rho = float(np.max(np.abs(np.linalg.eigvals(M.toarray()))))
        slack = 1e-12 * max(1.0, rho) * size
        return rho - slack, rho + slack
    # Collatz–Wielandt: for w > 0, min(Mw/w) ≤ ρ(M) ≤ max(Mw/w). Iterating with
    # M + I converges for periodic irreducible blocks too.
    w = np.ones(size)
    lo, hi = 0.0, norm
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
