"""Real-time updates of a :class:`~lab.values.ValueSolver` (``ValueSolver.update``).

Planning data change all the time: a few coefficients, some direct labour. An update
changes the solver's own copy of the coefficients and labour, keeps as much of the set-up
as the change allows, and leaves the next solve a warm start whose residual is already
known:

* **Changed coefficients of existing links** (the usual case): the coefficients are
  changed in place, in Aᵀ, in its copy in block order, in the large cyclic blocks' own
  matrices and in their float32 copies. The structure analysis stays valid:
  it depends on the pattern only. A coefficient set to 0 stays in the pattern as a
  stored zero, so the block order stays valid too.
* **New links** change the pattern: Aᵀ is rebuilt with them. A new link "product j uses
  product i" with i's block before j's in the dependency order keeps the order valid. With
  i's block after j's, the link may close cycles: every such cycle runs through blocks
  between the two in the order (an edge never points forward), so the strongly connected
  components are recomputed on that range of the order only, and spliced back. The
  matrices of the large cyclic blocks are then rebuilt.
* **Labour**: the resource rows are copied once, then changed in place.

For the warm start, the solver remembers each solved vector v with Aᵀv. After the
update, Aᵀv changes only in the rows of the changed coefficients, so the new residual
b + Aᵀv − v costs O(changes + m) instead of a pass over A: a start that still meets the
rule is returned without a pass, any other starts the next solve (see
``_Run.solve_blocks``).

:func:`replace_rows` is the bulk form for policy iteration (``lab.values._techniques``):
whole rows of Aᵀ take new coefficients in their stored pattern, a large share of the
economy at once, and the next solve is known to be needed, so neither the old
coefficients nor the start's residual are computed.

The first update of a solver copies A's coefficients once (the economy is immutable and
shares them); later updates change that copy.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np

from lab import _ops
from lab.exceptions import InvalidEconomyError
from lab.values import _krylov, _structure

__all__ = ["apply", "economy_of", "replace_rows"]


def _analysed(solver) -> None:
    """Make the structure analysis that a first solve would have made alongside its
    substitution, before the coefficients it is made from change."""
    if solver._deferred:
        solver.structure  # noqa: B018 (the property analyses)


def apply(solver, changes, labour) -> None:
    """Apply coefficient and labour changes to ``solver`` (see the module docstring)."""
    meta = solver._economy_meta
    m = solver._R.shape[1]
    inputs, products, values = _parse_changes(meta, changes)
    labour_idx, labour_val = _parse_labour(meta, labour, m)
    apply_indices(solver, inputs, products, values, labour_idx, labour_val)


def apply_indices(solver, inputs, products, values, labour_idx, labour_val) -> None:
    """:func:`apply` on positions: A[inputs[t], products[t]] = values[t] (pairs unique),
    labour[labour_idx] = labour_val, all checked by the caller."""
    if inputs.size == 0 and labour_idx.size == 0:
        return
    _analysed(solver)
    solver._tiles = None  # cut again from the changed coefficients by the next solve
    solver._proof = None  # proved again by the next solve
    indptr, indices, data = solver._M
    if not data.flags.writeable:
        data = data.copy()  # the economy's coefficients are shared and read-only
        solver._M = (indptr, indices, data)
    if getattr(solver, "_colsums", None) is None:
        solver._colsums = _row_sums(indptr, data)

    # Existing links: change in place. New links: collect.
    where = _locate(indptr, indices, inputs, products)
    known = where >= 0
    old = np.zeros(values.shape)
    old[known] = data[where[known]]
    delta = values - old
    data[where[known]] = values[known]
    new_links = ~known & (values != 0)
    np.add.at(solver._colsums, products, delta)
    solver.column_bound = float(solver._colsums.max(initial=0.0))

    if solver.method == "blocks" and known.any():
        _change_blocks(solver, where[known], values[known], products[known])
        if solver._ordered is not None:
            solver._ordered.change(where[known], products[known], values[known])
    if solver._M32 is not None and known.any():
        solver._M32[2][where[known]] = values[known]
    if new_links.any():
        _add_links(solver, inputs[new_links], products[new_links], values[new_links])

    if labour_idx.size:
        if not solver._R.flags.writeable:
            solver._R = solver._R.copy()
        solver._R[0, labour_idx] = labour_val
        solver._rhs_generation += 1

    # Warm starts: the residual of every remembered vector under the new coefficients,
    # as the rule reads it (max|b + Aᵀv − v| and max|v|). Only the changed rows move; if
    # one of them already breaks the rule, the next solve needs its pass whatever the
    # others hold, and the pass over all rows (1 ms at 10⁶ products) is not made.
    K = _ops.kernels(solver.backend)
    moved = np.concatenate([products, labour_idx])
    rtol = solver.options.rtol
    for key, (v, Atv, where, vmax) in solver._previous.items():
        # Aᵀv is kept in the numbering of the solve's check: row where[j] is product j's
        rows_c, moved_c = (products, moved) if where is None else (where[products],
                                                                   where[moved])
        np.add.at(Atv, rows_c, delta * v[inputs])
        b = solver._R[key[0]]
        worst = float(np.max(np.abs(b[moved] + Atv[moved_c] - v[moved]), initial=0.0))
        if not worst <= rtol * vmax:  # NaN too
            solver._warm[key] = (v, vmax, None)
            continue
        res, _ = _krylov.residual_norms(K, b, Atv if where is None else Atv[where], v)
        solver._warm[key] = (v, vmax, float(res[0]))
    solver._economy = None  # rebuilt from the arrays when asked for


def replace_rows(solver, products, lengths, values, labour) -> None:
    """Rows ``products`` of Aᵀ (the columns of A of those products, unique, with
    ``lengths`` stored entries each) take the coefficients ``values`` (concatenated in the
    rows' storage order), and labour[products] = ``labour``; all checked by the caller.
    The pattern is unchanged, so the structure analysis stays valid."""
    _analysed(solver)
    solver._tiles = None
    solver._proof = None
    indptr, indices, data = solver._M
    if not data.flags.writeable:
        data = data.copy()
        solver._M = (indptr, indices, data)
    starts = indptr[products].astype(np.int64)
    offsets = np.cumsum(lengths) - lengths  # where each row starts in ``values``
    entries = np.repeat(starts - offsets, lengths) + np.arange(values.size)
    data[entries] = values
    if getattr(solver, "_colsums", None) is None:
        solver._colsums = _row_sums(indptr, data)
    else:
        sums = np.zeros(len(products))
        filled = lengths > 0
        if filled.any():
            sums[filled] = np.add.reduceat(values, offsets[filled])
        solver._colsums[products] = sums
    solver.column_bound = float(solver._colsums.max(initial=0.0))
    if solver.method == "blocks":
        _change_blocks(solver, entries, values, np.repeat(products, lengths))
        if solver._ordered is not None:
            solver._ordered.change_rows(products, lengths, values)
    if solver._M32 is not None:
        solver._M32[2][entries] = values
    if not solver._R.flags.writeable:
        solver._R = solver._R.copy()
    solver._R[0, products] = labour
    solver._rhs_generation += 1
    # The last values stay the start; their residual is not worth a pass (the next solve
    # makes one), and their remembered Aᵀv no longer holds.
    for key in list(solver._previous):
        v, _, _, vmax = solver._previous.pop(key)
        solver._warm[key] = (v, vmax, None)
    solver._economy = None


def _parse_changes(meta, changes):
    if changes is None:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, np.zeros(0)
    if not isinstance(changes, Mapping):
        from lab.exceptions import InvalidTypeError

        raise InvalidTypeError(
            "changes must be a mapping {(input code, product code): coefficient}, got "
            f"{type(changes).__name__}")
    keys = list(changes.keys())
    for key in keys:
        if not (isinstance(key, tuple) and len(key) == 2):
            raise InvalidEconomyError(
                f"changes: every key must be a pair (input code, product code), got {key!r}")
    # one lookup for both ends of every pair (each lookup has a fixed cost of its own)
    both = meta.index_of([k[0] for k in keys] + [k[1] for k in keys]) if keys \
        else np.zeros(0, dtype=np.intp)
    inputs, products = both[:len(keys)], both[len(keys):]
    raw = list(changes.values())
    values = None
    if all(type(x) is float for x in raw):  # the usual case, checked at once
        values = np.array(raw, dtype=float)
        if not (np.isfinite(values).all() and (values >= 0).all()):
            values = None  # the loop below names the first bad one
    if values is None:
        values = np.empty(len(keys))
        for t, (key, value) in enumerate(changes.items()):
            values[t] = _coefficient(f"changes[{key!r}]", value)
    return inputs.astype(np.intp), products.astype(np.intp), values


def _coefficient(name, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InvalidEconomyError(f"{name} must be a real number ≥ 0, got {value!r}")
    x = float(value)
    if not (math.isfinite(x) and x >= 0):
        raise InvalidEconomyError(f"{name} must be finite and ≥ 0, got {value!r}")
    return x


def _parse_labour(meta, labour, m):
    if labour is None:
        return np.zeros(0, dtype=np.intp), np.zeros(0)
    if isinstance(labour, Mapping):
        idx = meta.index_of(list(labour.keys())) if labour else np.zeros(0, dtype=np.intp)
        val = np.array([_coefficient(f"labour[{k!r}]", x) for k, x in labour.items()])
        return idx.astype(np.intp), val
    arr = np.asarray(labour)
    if arr.dtype.kind not in "iuf" or arr.shape != (m,):
        raise InvalidEconomyError(
            f"labour must be a mapping {{code: hours}} or a real array of length {m}, got "
            f"shape {arr.shape} and dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not (np.all(np.isfinite(arr)) and np.all(arr >= 0)):
        raise InvalidEconomyError("labour must be finite and ≥ 0")
    return np.arange(m, dtype=np.intp), arr


def _row_sums(indptr, data) -> np.ndarray:
    """Σ of each CSR row of Aᵀ (the column sums of A), float64: one reduceat over the
    rows that have entries (0.10 s at 1.6·10⁷ entries, where a bincount over repeated
    row numbers took 0.45 s)."""
    m = len(indptr) - 1
    out = np.zeros(m)
    filled = np.flatnonzero(np.diff(indptr) > 0)
    if filled.size:
        out[filled] = np.add.reduceat(np.asarray(data[:indptr[-1]], dtype=np.float64),
                                      indptr[filled])
    return out


def _locate(indptr, indices, inputs, products) -> np.ndarray:
    """Entry of Aᵀ (row = product, column = input) of each pair, or −1 if not stored.

    Rows are sorted (canonical CSC of A; kept sorted by :func:`_add_links`). Only the
    rows of the pairs are read: their entries get keys row·m + column, searched at once.
    """
    m = len(indptr) - 1
    rows = np.unique(products)
    starts, stops = indptr[rows].astype(np.int64), indptr[rows + 1].astype(np.int64)
    lengths = stops - starts
    entry = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(
        int(lengths.sum()))
    keys = np.repeat(rows.astype(np.int64), lengths) * m + indices[entry]
    want = products.astype(np.int64) * m + inputs
    at = np.searchsorted(keys, want)  # keys ascend: rows ascend, columns sorted in a row
    found = at < keys.size
    found[found] = keys[at[found]] == want[found]
    return np.where(found, entry[np.minimum(at, max(keys.size - 1, 0))], -1)


def _change_blocks(solver, entries, values, rows):
    """The same coefficients in the large cyclic blocks' own matrices (``entries`` of
    Aᵀ, in its ``rows``)."""
    data = solver._M[2]
    # Only the entries in a block's rows are looked up in its matrix (10³ random changes
    # at 10⁶ products: about 50 in the core's rows; all 10³ searched took 0.5 ms).
    position = solver.structure.position[rows] if solver._large else None
    for blk in solver._large:
        blk.tiles = None  # cut again by the next solve
        if entries.size > blk.sub_entry.size // 4:  # many changes: copy the block again
            blk.sub[2][:] = data[blk.sub_entry]
            if blk.sub32 is not None:
                blk.sub32[2][:] = blk.sub[2]
            blk.last = None
            if blk.perron:
                blk.perron = (blk.perron[0], None)  # z again at the next warm solve
            if blk.colored is not None:
                blk.colored.refresh(blk.sub)
            continue
        inside = (position >= blk.s) & (position < blk.e)
        hit, at = blk.locate(entries[inside])
        if at.size:
            changed = values[inside][hit]
            delta = changed - blk.sub[2][at]
            _follow(blk, at, delta)
            blk.sub[2][at] = changed
            if blk.colored is not None:
                blk.colored.change(at, changed, delta)
            if blk.sub32 is not None:
                blk.sub32[2][at] = changed


def _follow(blk, at, delta):
    """Correct what a large block keeps of products with its matrix for the entries
    ``at`` of ``blk.sub`` changing by ``delta``: z = (I − sub)u of its Perron pair and
    sub y of its last solve (a few rows each; a pass each at the next solve otherwise)."""
    rows = np.searchsorted(blk.sub[0], at, side="right") - 1
    cols = blk.sub[1][at]
    if blk.perron and blk.perron[1] is not None:
        np.subtract.at(blk.perron[1], rows, delta * blk.perron[0][cols])
    if blk.last is not None:
        np.add.at(blk.last[1], rows, delta * blk.last[0][cols])


def _add_links(solver, inputs, products, values):
    """Insert new links into Aᵀ; re-analyse the block order where a cycle may close."""
    import scipy.sparse as sp

    indptr, indices, data = solver._M
    m = len(indptr) - 1
    At = sp.csr_array((data, indices, indptr), shape=(m, m))
    extra = sp.csr_array((values, (products, inputs)), shape=(m, m))
    new = (At + extra).tocsr()  # keeps stored zeros of At: the pattern only grows
    new.sort_indices()
    idx = indices.dtype if new.nnz <= np.iinfo(indices.dtype).max else np.int64
    solver._M = (new.indptr.astype(idx, copy=False), new.indices.astype(idx, copy=False),
                 new.data)
    if solver._M32 is not None:
        solver._M32 = (*solver._M[:2], new.data.astype(np.float32))
    if solver.method == "blocks":
        from lab.values._solver import _large_blocks

        solver.structure = _reanalyse(solver, inputs, products)
        solver._large = _large_blocks(solver.structure, solver._M, solver.backend)
        solver._ordered = None  # rebuilt in the new order by the next solve
        if solver.options.precision == "float32":
            solver._refresh_float32()


def _reanalyse(solver, inputs, products) -> _structure.BlockStructure:
    """The block order after new links "product j uses input i" (module docstring)."""
    S = solver.structure
    block_of = np.searchsorted(S.block_ptr, S.position, side="right") - 1
    bi, bj = block_of[inputs], block_of[products]
    backward = bi > bj  # i after j in the order: the link may close a cycle
    if not backward.any():
        return S
    ranges = sorted(zip(bj[backward].tolist(), bi[backward].tolist(), strict=True))
    merged = []
    for lo, hi in ranges:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    order = S.order.copy()
    pieces_ptr = []  # (first block, last block, new block sizes)
    K = _ops.kernels(solver.backend)
    indptr, indices, _ = solver._M
    for lo_block, hi_block in merged:
        s, e = int(S.block_ptr[lo_block]), int(S.block_ptr[hi_block + 1])
        members = S.order[s:e]
        local = np.full(len(S.order), -1, dtype=np.int64)
        local[members] = np.arange(e - s)
        starts, stops = indptr[members], indptr[members + 1]
        lengths = stops - starts
        entry = (np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
                 + np.arange(int(lengths.sum())))
        cols = local[indices[entry]]
        rows = np.repeat(np.arange(e - s), lengths)
        keep = cols >= 0
        sub_indptr = np.zeros(e - s + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows[keep], minlength=e - s), out=sub_indptr[1:])
        sub_order, sub_position = np.empty(e - s, dtype=np.int64), np.empty(e - s, np.int64)
        sub_ptr = np.empty(e - s + 1, dtype=np.int64)
        nb = int(K.strongly_connected_components(sub_indptr, cols[keep].astype(np.int64),
                                                 sub_order, sub_position, sub_ptr))
        order[s:e] = members[sub_order]
        pieces_ptr.append((lo_block, hi_block, np.diff(sub_ptr[:nb + 1])))
    sizes = []
    prev = 0
    old_sizes = S.block_sizes
    for lo_block, hi_block, new_sizes in pieces_ptr:
        sizes.append(old_sizes[prev:lo_block])
        sizes.append(new_sizes)
        prev = hi_block + 1
    sizes.append(old_sizes[prev:])
    block_ptr = np.zeros(sum(len(x) for x in sizes) + 1, dtype=S.block_ptr.dtype)
    np.cumsum(np.concatenate(sizes), out=block_ptr[1:])
    position = np.empty_like(order)
    position[order] = np.arange(len(order), dtype=order.dtype)
    return _structure.BlockStructure(order, position, block_ptr, 0.0)


def economy_of(solver):
    """A new (immutable) Economy holding the solver's current coefficients and labour."""
    import scipy.sparse as sp

    from lab.economy import Economy

    original = solver._original
    indptr, indices, data = solver._M
    m = len(indptr) - 1
    A = sp.csc_array((data.copy(), indices.copy(), indptr.copy()), shape=(m, m))
    A.has_canonical_format = True
    return Economy._from_valid(A, np.array(solver._R), codes=original._codes,
                               names=original._names,
                               resource_names=original.resource_names, names_checked=True,
                               index=original._index)
