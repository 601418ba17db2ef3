"""Harmony weights that balance the plan (MATH.md §4, "Weights that balance").

With unit weights the harmony optimum shuts down the targets whose labour cost
v_i·t_i is large: where labour alone binds, stationarity gives H′(s_i) = λ·v_i·t_i/w_i.
Weights proportional to the labour cost of each target, w_i ∝ v_i·t_i, give
H′(s_i) = λ for every target, so every target is met in the same proportion, the
plan ray's φ; capacities and further resources then move the plan away from equal
fulfilment only where a constraint makes it worth it.

:func:`value_weights` computes them with the labour values v of the economy: the
exact values of a square economy (one value solve, cached on the economy and shared
with the exact plan route), or, with technique choice, the values of the cheapest
technique of each product (value iteration from below, MATH.md §2). The weights
are normalised to mean 1 over the targets, so that they do not depend on the units
of products, labour or money.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["value_weights", "cheapest_values", "main_products"]

#: Sweeps of the value iteration for technique choice (each O(nnz)).
MAX_SWEEPS = 20_000


def value_weights(t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """w_i = v_i·t_i / mean over targets of v·t (0 where t_i = 0).

    Targets whose labour cost is 0 or not finite (a product made without labour,
    one no technique can make) get the smallest positive weight of the others: the
    weight cannot change how much of them is made (free, or impossible), only how
    their harmony counts. When no target has a positive finite cost, every target
    gets weight 1.
    """
    idx = np.flatnonzero(t > 0)
    w = np.zeros(t.shape[0])
    with np.errstate(over="ignore", invalid="ignore"):
        cost = v[idx] * t[idx]
    good = np.isfinite(cost) & (cost > 0)
    if not good.any():
        w[idx] = 1.0
        return w
    top = float(cost[good].max())
    rel = np.where(good, cost / top, 0.0)  # in (0, 1]: no overflow in the mean
    rel[~good] = float(rel[good].min())
    w[idx] = rel / float(np.mean(rel))
    return w


def main_products(B: sp.csc_array) -> tuple[np.ndarray, np.ndarray]:
    """For each technique (column of B), the product it makes most of and that amount."""
    counts = np.diff(B.indptr)
    k = B.shape[1]
    cols = np.repeat(np.arange(k), counts)
    order = np.lexsort((B.data, cols))  # within each column, ascending amount
    last = np.cumsum(counts)[counts > 0] - 1
    picked = order[last]
    main = np.zeros(k, dtype=np.intp)
    amount = np.zeros(k)
    main[cols[picked]] = B.indices[picked]
    amount[cols[picked]] = B.data[picked]
    return main, amount


def cheapest_values(A: sp.csc_array, B: sp.csc_array, labour: np.ndarray, *,
                    rtol: float = 1e-13) -> np.ndarray:
    """Labour values with technique choice: v_p = min over techniques j whose main
    product is p of (l_j + Σ_i A_ij v_i) / B_pj.

    Joint production is not covered by the theory of MATH.md §2; here a technique's
    whole cost goes to its main product, so a product made only as a co-product has
    value 0, and a product no technique can make (from products that can be made) has
    value ``inf``. Value iteration from v = 0, which rises monotonically to the least
    fixed point; it stops when no value moves by more than ``rtol`` relative, or after
    :data:`MAX_SWEEPS` sweeps (values are then lower bounds; they are only used as
    weights).
    """
    m, k = A.shape
    main, amount = main_products(B)
    usable = _usable_techniques(A, B, m, k)
    by_main = np.zeros(m, dtype=bool)
    by_main[main[usable]] = True
    made = _made(B, usable, m)
    v = np.zeros(m)
    AT = sp.csr_array(A.T)
    for _ in range(MAX_SWEEPS):
        unit = (labour + AT @ v) / np.where(amount > 0, amount, 1.0)
        new = np.full(m, np.inf)
        np.minimum.at(new, main[usable], unit[usable])
        new[~by_main] = 0.0
        change = np.abs(new - v)
        v = new
        if not (change > rtol * np.maximum(np.abs(v), 1e-300)).any():
            break
    v = v.copy()
    v[~made] = np.inf
    return v


def _made(B: sp.csc_array, usable: np.ndarray, m: int) -> np.ndarray:
    """Products that some usable technique makes (as main product or co-product)."""
    made = np.zeros(m, dtype=bool)
    cols = np.repeat(np.arange(B.shape[1]), np.diff(B.indptr))
    made[B.indices[(B.data > 0) & usable[cols]]] = True
    return made


def _usable_techniques(A: sp.csc_array, B: sp.csc_array, m: int, k: int) -> np.ndarray:
    """Techniques whose inputs are all made by usable techniques (the greatest such set:
    start from every technique and drop those that use a product nobody usable makes)."""
    usable = np.ones(k, dtype=bool)
    cols = np.repeat(np.arange(k), np.diff(A.indptr))
    rows = A.indices[A.data > 0]
    cols = cols[A.data > 0]
    for _ in range(m + 1):
        made = _made(B, usable, m)
        new = usable.copy()
        new[cols[~made[rows]]] = False
        if (new == usable).all():
            break
        usable = new
    return usable
