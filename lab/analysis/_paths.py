"""Structural path analysis: which supply chains a product's value comes from.

The value of product j unrolls along its supply chains (MATH.md §2):

    v_j = r_j + Σ_i A[i, j] v_i = Σ over paths j ← i1 ← … ← ik of A[i1, j]·A[i2, i1]·…·r_ik,

where r is the resource row (direct labour by default). A path's *contribution* is
its weight w (the product of the coefficients along it) times the direct use r_ik of
its last product. The paths form a tree rooted at j (cycles of the economy make it
infinite; paths may revisit products), and the paths that extend a path p
contribute exactly w(p)·v_ik in total: the vertically integrated value already
computed bounds, exactly, everything below a node of the tree.

The search
----------
Best-first, in rounds, vectorised over whole levels of the tree. A round picks a
threshold τ (half the largest open bound, never below the k-th best contribution
found so far), expands every open node whose bound w·v is at least τ, level by
level, and parks the others. The search stops when the k-th best contribution is
at least the largest open bound: no path not yet seen can then beat the k paths
listed, and the top k are exact (``certified``). Every node costs 32 bytes; when
open and expanded nodes together would exceed ``max_nodes``, the open nodes of
smallest bound are dropped, and their bounds kept: the total of every path not
visited (``unexplored``) and the largest contribution any of them can have
(``bound_pruned``) stay exact, and the result says whether the top k are still
certified. The identity value = Σ contributions of visited paths + unexplored
holds to the precision of the computed values (their residual).
"""

from __future__ import annotations

import numbers
import time

import numpy as np

from lab.analysis._common import check_economy, resource_rows
from lab.exceptions import InvalidEconomyError
from lab.values import ValuesResult, labour_values

__all__ = ["explain"]

#: Each round expands the open nodes whose bound is at least this share of the largest.
ROUND_SHARE = 0.5
#: Nodes expanded at once: bounds the temporary arrays of their children.
SLICE = 1 << 16
#: Given values must meet ‖r + Aᵀv − v‖∞ ≤ VALUES_RTOL·‖v‖∞ for this economy.
VALUES_RTOL = 1e-8


def explain(economy, code, *, resource="labour", top: int = 20, max_nodes: int = 5_000_000,
            values: ValuesResult | None = None):
    """The supply-chain paths that contribute most to the value of one product.

    Structural path analysis of v = r + Aᵀv, with a best-first search pruned by the
    vertically integrated values (see :mod:`lab.analysis._paths`).

    Parameters
    ----------
    economy : Economy
    code : str
        The product whose value is explained.
    resource : str or int, default "labour"
        The resource row: a name or a row number. ``"labour"`` names the row called
        so or, when there is none, row 0 (the economy's labour row).
    top : int, default 20
        How many paths to list.
    max_nodes : int, default 5,000,000
        Most paths held in memory at once (32 bytes each). Beyond it the open paths
        of smallest bound are dropped, and their total and largest bound are kept.
    values : ValuesResult, optional
        ``labour_values(economy, resources=resource)``, to reuse one solve for many
        products (checked with one sparse product: its relative residual must be at
        most 1e-8); default: solved here.

    Returns
    -------
    pandas.DataFrame
        One row per path, largest contribution first, indexed by rank (from 1):
        ``path`` (tuple of product codes from ``code`` back to the input whose direct
        resource use is counted), ``depth`` (number of steps), ``contribution`` and
        ``share`` (contribution / value). ``.attrs`` holds:

        * ``product``, ``resource``;
        * ``value``: v of the product, so that ``contribution.sum() + remainder``
          equals it;
        * ``explained``: the sum of the listed contributions; ``remainder``:
          ``value − explained``, the paths not listed;
        * ``unlisted``: the part of the remainder on paths visited but not listed;
          ``unexplored``: the part on paths never visited (exact to the precision of
          the values: the sum of the bounds of the open and dropped subtrees);
        * ``bound_pruned``: the largest contribution any path not listed can have;
        * ``certified``: ``bound_pruned`` ≤ the smallest listed contribution, so the
          list is the exact top ``top`` (always, unless ``max_nodes`` cut the search);
        * ``nodes`` (paths expanded), ``open`` (left open), ``dropped`` (open paths
          dropped for memory), ``value_residual``, ``seconds``.

    Raises
    ------
    InvalidEconomyError
        Unknown product code or resource, ``top`` or ``max_nodes`` not a positive
        integer, ``values`` that do not solve this economy's equation for the resource.

    Examples
    --------
    >>> import numpy as np, lab
    >>> A = np.array([[0.0, 0.5], [0.0, 0.0]])        # bread uses 0.5 flour
    >>> economy = lab.Economy(A, [2.0, 1.0], codes=["flour", "bread"])
    >>> paths = lab.explain(economy, "bread")
    >>> paths[["path", "contribution", "share"]]
                    path  contribution  share
    rank
    1           (bread,)           1.0    0.5
    2     (bread, flour)           1.0    0.5
    >>> paths.attrs["value"], paths.attrs["remainder"], paths.attrs["certified"]
    (2.0, 0.0, True)
    """
    import pandas as pd

    t0 = time.perf_counter()
    economy = check_economy(economy)
    if not isinstance(code, str):
        raise InvalidEconomyError(f"code must be a product code (str), got {code!r}")
    try:
        root = int(economy.index_of([code])[0])
    except KeyError as exc:  # UnknownCodeError
        raise InvalidEconomyError(f"code: {exc}") from None
    if (isinstance(resource, str) and resource == "all") or not isinstance(
            resource, (str, numbers.Integral)):
        raise InvalidEconomyError(
            f"resource must name one resource row (a name or a row number), got {resource!r}")
    (row,) = resource_rows(economy, resource)
    name = economy.resource_names[row]
    top = _positive_int("top", top)
    max_nodes = _positive_int("max_nodes", max_nodes)
    v = _values(economy, row, name, values)

    A = economy.A
    search = _Search(A.indptr, A.indices, A.data, economy.R[row], v.values, top, max_nodes)
    search.run(root)
    found = search.summary()
    contributions = found["contributions"]
    paths = np.empty(len(found["picked"]), dtype=object)  # a column of tuples
    paths[:] = [tuple(economy.codes_at(search.path(node))) for node in found["picked"]]
    value = float(v.values[root])
    explained = float(contributions.sum())
    frame = pd.DataFrame(
        {"path": paths,
         "depth": np.array([len(p) - 1 for p in paths], dtype=np.int64),
         "contribution": contributions,
         "share": contributions / value if value > 0 else np.zeros_like(contributions)},
        index=pd.RangeIndex(1, len(paths) + 1, name="rank"))
    frame.attrs.update(
        product=code, resource=name, value=value, explained=explained,
        remainder=value - explained, unlisted=found["visited"] - explained,
        unexplored=found["unexplored"], bound_pruned=found["bound_pruned"],
        certified=found["certified"], nodes=search.n_expanded,
        open=search.n_open(), dropped=search.dropped_total,
        value_residual=float(v.residual), seconds=time.perf_counter() - t0)
    return frame


def _positive_int(name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InvalidEconomyError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _values(economy, row, name, values) -> ValuesResult:
    if values is None:
        return labour_values(economy, resources=[row])
    if not isinstance(values, ValuesResult):
        raise InvalidEconomyError(
            f"values must be a ValuesResult of labour_values, got {type(values).__name__}")
    if values.values.shape != (economy.n_products,) or values.resource_names != (name,):
        raise InvalidEconomyError(
            f"values hold {values.resource_names} of shape {values.values.shape}, but "
            f"explaining {name!r} needs labour_values(economy, resources={name!r}) "
            f"of shape ({economy.n_products},)")
    # The bounds of the search are only as good as the values: check they solve this
    # economy's equation (one sparse product), whatever economy they came from.
    v = values.values
    scale = float(np.max(np.abs(v), initial=0.0))
    residual = float(np.max(np.abs(economy.R[row] + economy.A.T @ v - v), initial=0.0))
    if residual > VALUES_RTOL * max(scale, 1e-300):
        raise InvalidEconomyError(
            f"values do not solve v = r + Aᵀv for this economy and {name!r}: relative "
            f"residual {residual / max(scale, 1e-300):.3e} > {VALUES_RTOL:.0e}")
    return values


class _Search:
    """The best-first search over the path tree of one product (see the module docstring).

    Expanded nodes are kept (product, parent, contribution) to rebuild paths; open
    nodes as (product, parent, weight, bound) arrays in chunks, merged once per round.
    """

    def __init__(self, indptr, indices, data, r, v, top, max_nodes):
        self.indptr, self.indices, self.data = indptr, indices, data
        self.r, self.v = r, v
        self.top, self.max_nodes = top, max_nodes
        self.products: list[np.ndarray] = []
        self.parents: list[np.ndarray] = []
        self.contributions: list[np.ndarray] = []
        self.n_expanded = 0
        self.best_values = np.empty(0)  # the `top` largest contributions so far
        self.open_chunks: list[tuple] = []
        self.dropped_total = 0.0
        self.dropped_max = 0.0

    def kth(self) -> float:
        return float(self.best_values[-1]) if len(self.best_values) >= self.top else 0.0

    def run(self, root: int):
        bound = float(self.v[root])
        if not bound > 0:  # a value of 0 has no paths to explain
            return
        self.open_chunks = [(np.array([root], dtype=np.int64), np.array([-1], dtype=np.int64),
                             np.array([1.0]), np.array([bound]))]
        while True:
            products, parents, weights, bounds = self._merge_open()
            if len(bounds) == 0:
                return
            largest = float(bounds.max())
            if self.kth() >= largest:
                return
            tau = max(self.kth(), ROUND_SHARE * largest)
            go = bounds >= tau
            rest = ~go
            self.open_chunks = [(products[rest], parents[rest], weights[rest], bounds[rest])]
            level = (products[go], parents[go], weights[go], bounds[go])
            while len(level[0]):
                level = self._expand(level, tau)
                if level is None:  # out of room: the search ends uncertified
                    return

    def _merge_open(self):
        chunks = self.open_chunks
        if len(chunks) == 1:
            return chunks[0]
        return tuple(np.concatenate([c[k] for c in chunks]) for k in range(4))

    def _expand(self, level, tau):
        """Expand one level of nodes with bound ≥ τ; return the next such level (or None
        when there is no room left to expand any of it)."""
        products, parents, weights, bounds = level
        room = self.max_nodes - self.n_expanded
        if len(products) > room:
            # Keep the largest that fit; the others are dropped with their bounds.
            order = np.argsort(bounds)[::-1]
            self._drop(bounds[order[room:]])
            keep = order[:room]
            products, parents, weights = products[keep], parents[keep], weights[keep]
            if room == 0:
                return None
        pieces = [self._expand_slice(products[s:s + SLICE], parents[s:s + SLICE],
                                     weights[s:s + SLICE], tau)
                  for s in range(0, len(products), SLICE)]
        return tuple(np.concatenate([p[k] for p in pieces]) for k in range(4))

    def _expand_slice(self, products, parents, weights, tau):
        ids = np.arange(self.n_expanded, self.n_expanded + len(products), dtype=np.int64)
        self.n_expanded += len(products)
        contributions = weights * self.r[products]
        self.products.append(products)
        self.parents.append(parents)
        self.contributions.append(contributions)
        merged = np.concatenate([self.best_values, contributions])
        if len(merged) > self.top:
            merged = np.partition(merged, len(merged) - self.top)[-self.top:]
        self.best_values = np.sort(merged)[::-1]

        # Children: the inputs i of each product p (column p of A), weight w·A[i, p].
        starts = self.indptr[products].astype(np.int64)
        counts = self.indptr[products + 1].astype(np.int64) - starts
        total = int(counts.sum())
        offsets = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(total)
        child = self.indices[offsets].astype(np.int64)
        child_weight = np.repeat(weights, counts) * self.data[offsets]
        child_parent = np.repeat(ids, counts)
        child_bound = child_weight * self.v[child]
        alive = child_bound > 0  # a subtree of value 0 holds no contribution
        go = alive & (child_bound >= tau)
        park = alive & ~go
        if park.any():
            self.open_chunks.append((child[park], child_parent[park], child_weight[park],
                                     child_bound[park]))
        n_next = int(np.count_nonzero(go))
        if self.n_expanded + self.n_open() + n_next > self.max_nodes:
            self._shrink_open(self.max_nodes - self.n_expanded - n_next)
        return child[go], child_parent[go], child_weight[go], child_bound[go]

    def _shrink_open(self, capacity: int):
        """Drop open nodes of smallest bound (all below τ, so below every node still to
        expand) down to half of ``capacity``, leaving room for the next levels."""
        products, parents, weights, bounds = self._merge_open()
        keep = max(capacity, 0) // 2
        if len(bounds) <= keep:
            self.open_chunks = [(products, parents, weights, bounds)]
            return
        order = (np.argpartition(bounds, len(bounds) - keep) if keep
                 else np.arange(len(bounds)))
        lost, kept = order[:len(bounds) - keep], order[len(bounds) - keep:]
        self._drop(bounds[lost])
        self.open_chunks = [(products[kept], parents[kept], weights[kept], bounds[kept])]

    def _drop(self, bounds):
        if len(bounds):
            self.dropped_total += float(bounds.sum())
            self.dropped_max = max(self.dropped_max, float(bounds.max()))

    def n_open(self) -> int:
        return sum(len(c[0]) for c in self.open_chunks)

    # -- results -------------------------------------------------------------

    def summary(self) -> dict:
        """The listed nodes (largest contribution first), their contributions and the bounds.

        Only paths of positive contribution are listed. The top list is certified when
        no path not listed can contribute more than the smallest listed one, or, with
        fewer than ``top`` listed, when no path with a positive contribution is left.
        """
        contributions = (np.concatenate(self.contributions) if self.contributions
                         else np.empty(0))
        k = min(self.top, int(np.count_nonzero(contributions > 0)))
        n = len(contributions)
        picked = np.argpartition(contributions, n - k)[n - k:] if k else np.empty(0, np.int64)
        # Largest first; equal contributions in the order they were found.
        picked = picked[np.lexsort((picked, -contributions[picked]))]
        unlisted_max = float(np.partition(contributions, n - k - 1)[n - k - 1]) if n > k else 0.0
        open_max = max((float(c[3].max()) for c in self.open_chunks if len(c[3])), default=0.0)
        unseen_max = max(open_max, self.dropped_max)
        if k == self.top:
            certified = unseen_max <= float(contributions[picked[-1]])
        else:
            certified = unseen_max == 0.0
        self._parent = np.concatenate(self.parents) if self.parents else np.empty(0, np.int64)
        self._product = np.concatenate(self.products) if self.products else np.empty(0, np.int64)
        return {"picked": picked, "contributions": contributions[picked],
                "visited": float(contributions.sum()),
                "unexplored": sum(float(c[3].sum()) for c in self.open_chunks)
                + self.dropped_total,
                "bound_pruned": max(unseen_max, unlisted_max), "certified": certified}

    def path(self, node: int) -> list[int]:
        """Products along the path of an expanded node, from the root down (after summary)."""
        out = []
        while node >= 0:
            out.append(int(self._product[node]))
            node = int(self._parent[node])
        return out[::-1]
