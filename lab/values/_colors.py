"""A large cyclic block's matrix in colour order, for Gauss–Seidel sweeps on every core.

Warm re-solves (after ``ValueSolver.update``) of a large cyclic block start near the
answer and need the residual cut by about 10⁻⁸. Deflated Richardson
(:func:`lab.values._krylov.deflated_richardson`) does that at the rate of the block's
spectrum without its Perron root, 0.53–0.59 a pass on the 10⁶ generated economy's
50,000-product core: 29–32 passes for a re-solve after 10³ changed coefficients.
Gauss–Seidel (each product's value recomputed from the newest values of its inputs),
with the same deflation after each sweep, needed 17–18 sweeps for the same re-solves
(``python /tmp/s38/gsproto.py``, three captured re-solves). A sweep is one pass over the
block's matrix, as a Richardson pass is, but its rows depend on each other: here the
rows are coloured (:func:`~lab._kernels._cy.greedy_colors`, 16 colours on that core) so
that no two rows of a colour are linked, and stored colour by colour, so each colour's
rows are updated in parallel with a barrier between colours
(``block_solve_levels`` with the colours as levels and every row a block of its own).
The result is the sequential sweep in colour order, on any number of threads.

The copy is built at the first warm solve that iterates (about 20 ms at 50,000
products and 600,000 non-zeros) and kept through coefficient changes
(:meth:`Colored.change`, :meth:`Colored.refresh`); a change of pattern builds the blocks
and so this again.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["Colored", "build"]


class Colored:
    """The block's matrix M (``sub``) with rows and columns in colour order.

    ``order``: the block row at each colour-ordered row; ``position``: its inverse;
    ``M``: (indptr, indices, data) of P M Pᵀ; ``entry``: the ``sub`` entry each entry
    was copied from, ``at``: its inverse; ``color_ptr``: the first row of each colour;
    ``complement``: 1 − the column sums of M (colour order), so that the sum of the
    residual b − (I − M)x is Σb − complement·x without a pass.
    """

    __slots__ = ("order", "position", "M", "entry", "at", "color_ptr", "complement",
                 "ident", "ptr")

    def __init__(self, order, position, M, entry, color_ptr):
        self.order, self.position, self.M = order, position, M
        self.entry = entry
        self.at = np.empty_like(entry)
        self.at[entry] = np.arange(entry.size, dtype=entry.dtype)
        self.color_ptr = color_ptr
        n = len(order)
        # every row a block of its own, in place: block_solve_levels' arguments
        self.ident = np.arange(n, dtype=order.dtype)
        self.ptr = np.arange(n + 1, dtype=order.dtype)
        self.complement = None
        self._sum_columns()

    @property
    def n_colors(self) -> int:
        return len(self.color_ptr) - 1

    def _sum_columns(self) -> None:
        indptr, indices, data = self.M
        nnz = int(indptr[-1])
        sums = np.bincount(indices[:nnz], weights=data[:nnz], minlength=len(self.order))
        self.complement = 1.0 - sums

    def change(self, at, values, delta) -> None:
        """Entries ``at`` of ``sub`` took ``values`` (they changed by ``delta``)."""
        where = self.at[at]
        self.M[2][where] = values
        np.subtract.at(self.complement, self.M[1][where], delta)

    def refresh(self, sub) -> None:
        """Every coefficient again from ``sub`` (after many changes)."""
        self.M[2][:] = sub[2][self.entry]
        self._sum_columns()


def build(K, sub) -> Colored:
    """The colour-ordered copy of the block matrix ``sub`` (CSR arrays)."""
    indptr, indices, data = sub
    n = len(indptr) - 1
    nnz = int(indptr[-1])
    pattern = sp.csr_array((np.ones(nnz), indices[:nnz], indptr), shape=(n, n)).tocsc()
    t_indptr = pattern.indptr.astype(indptr.dtype, copy=False)
    t_indices = pattern.indices.astype(indices.dtype, copy=False)
    colors = np.empty(n, dtype=indptr.dtype)
    n_colors = int(K.greedy_colors(indptr, indices, t_indptr, t_indices, colors))
    order = np.argsort(colors, kind="stable").astype(indptr.dtype)
    position = np.empty_like(order)
    position[order] = np.arange(n, dtype=order.dtype)
    color_ptr = np.zeros(n_colors + 1, dtype=indptr.dtype)
    np.cumsum(np.bincount(colors, minlength=n_colors), out=color_ptr[1:])
    M = (np.empty(n + 1, dtype=indptr.dtype), np.empty(nnz, dtype=indices.dtype),
         np.empty(nnz, dtype=data.dtype))
    K.permute_csr(indptr, indices[:nnz], data[:nnz], order, position, *M)
    # the same permutation of the entry numbers: where each copied entry came from
    numbered = (np.empty(n + 1, dtype=indptr.dtype), np.empty(nnz, dtype=indices.dtype),
                np.empty(nnz))
    K.permute_csr(indptr, indices[:nnz], np.arange(nnz, dtype=np.float64), order, position,
                  *numbered)
    # entry numbers fit the index type of indptr, which holds them
    return Colored(order, position, M, numbered[2].astype(indptr.dtype), color_ptr)
