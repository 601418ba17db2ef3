"""Numba kernels of lab's readers: product codes to indices, flow triplets to CSC.

Strings are Arrow string arrays given as their raw buffers: ``offsets`` (int32 or
int64, length n + 1) and ``data`` (uint8): string ``t`` is the bytes
``data[offsets[t]:offsets[t + 1]]``. Two strings are equal when their bytes are
equal (UTF-8), which is ``str`` equality.

The code table is open addressing with linear probing in an int64 array of
``1 << bits`` slots (-1 empty; else ``fingerprint << 32 | index``). A slot's home is
the top ``bits`` bits of the 64-bit hash of the code, so the table is laid out in
hash order: :func:`build_code_table` and :func:`lookup_codes` first sort their keys
by the top bits of the hash (a counting sort) and then visit the table in one
sweep, touching memory in order instead of once at random per key (at 10⁷ codes
the table is ~256 MB, and a random probe costs one DRAM miss).

Flows written by lab name their codes through per-row-group dictionaries in
product order; :func:`map_ordered_dictionary` resolves such a dictionary by merging
it with the product codes (sequential string comparisons, no hashing) and stops
at the first entry where the order breaks, so the caller can hand the rest to
:func:`lookup_codes`.

All kernels are serial, ``@njit(cache=True)``, pure functions on arrays that
write into preallocated outputs and return scalars (or small arrays).
"""

import numpy as np
from numba import njit

__all__ = [
    "build_code_table",
    "same_strings",
    "check_values",
    "coo_to_csc",
    "flows_are_csc",
    "gather_codes",
    "indptr_from_sorted",
    "lookup_codes",
    "map_ordered_dictionary",
    "scale_columns",
    "table_bits",
]

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xD6E8FEB86659FD93)
_EMPTY = np.int64(-1)
_LOW32 = np.int64(0xFFFFFFFF)


def table_bits(n):
    """Number of bits of a code table for ``n`` codes (load factor at most 1/2)."""
    bits = 4
    while (1 << bits) < 2 * max(int(n), 1):
        bits += 1
    return bits


@njit(cache=True, inline="always")
def _hash(data, a, b):
    """64-bit hash of ``data[a:b]`` (8 bytes a step, then a final mix)."""
    h = np.uint64(b - a) * _M1
    w = np.uint64(0)
    s = np.uint64(0)
    for p in range(a, b):
        w |= np.uint64(data[p]) << s
        s += np.uint64(8)
        if s == np.uint64(64):
            h = (h ^ w) * _M1
            h ^= h >> np.uint64(29)
            w = np.uint64(0)
            s = np.uint64(0)
    h = (h ^ w) * _M1
    h ^= h >> np.uint64(32)
    h *= _M2
    h ^= h >> np.uint64(29)
    return h


@njit(cache=True, inline="always")
def _equal(d1, a1, b1, d2, a2, b2):
    if b1 - a1 != b2 - a2:
        return False
    for q in range(b1 - a1):
        if d1[a1 + q] != d2[a2 + q]:
            return False
    return True


@njit(cache=True, nogil=True)
def _hash_order(offsets, data, bits, lo, hi, hashes):
    """Hashes of strings lo..hi-1 into ``hashes`` (n - lo), and the same sorted by
    their top bits: (positions - lo, sorted hashes)."""
    n = hi - lo
    pbits = min(bits, 12)
    shift = np.uint64(64 - pbits)
    count = np.zeros((1 << pbits) + 1, dtype=np.int64)
    for t in range(n):
        h = _hash(data, offsets[lo + t], offsets[lo + t + 1])
        hashes[t] = h
        count[np.int64(h >> shift) + 1] += 1
    for p in range(1 << pbits):
        count[p + 1] += count[p]
    order = np.empty(n, dtype=np.int64)
    ordered = np.empty(n, dtype=np.uint64)
    for t in range(n):
        h = hashes[t]
        p = np.int64(h >> shift)
        order[count[p]] = t
        ordered[count[p]] = h
        count[p] += 1
    return order, ordered


@njit(cache=True, nogil=True)
def build_code_table(offsets, data, bits, table, code_hashes):
    """Insert the n codes into ``table`` (int64, ``1 << bits`` slots, all -1) and
    their hashes into ``code_hashes`` (uint64, n).

    Returns -1, or the index of a code equal to another one (codes must be unique).
    """
    n = offsets.shape[0] - 1
    order, hashes = _hash_order(offsets, data, bits, 0, n, code_hashes)
    mask = (np.int64(1) << bits) - 1
    shift = np.uint64(64 - bits)
    for r in range(n):
        t = order[r]
        h = hashes[r]
        s = np.int64(h >> shift)
        fp = np.int64(h & np.uint64(0x7FFFFFFF))
        while True:
            e = table[s]
            if e == _EMPTY:
                table[s] = (fp << 32) | t
                break
            if (e >> 32) == fp:
                k = e & _LOW32
                if _equal(data, offsets[k], offsets[k + 1], data, offsets[t], offsets[t + 1]):
                    return t
            s = (s + 1) & mask
    return -1


@njit(cache=True, inline="always")
def _probe(table, mask, shift, h, coff, cdata, data, a, b):
    s = np.int64(h >> shift)
    fp = np.int64(h & np.uint64(0x7FFFFFFF))
    while True:
        e = table[s]
        if e == _EMPTY:
            return -1
        if (e >> 32) == fp:
            k = e & _LOW32
            if _equal(cdata, coff[k], coff[k + 1], data, a, b):
                return k
        s = (s + 1) & mask


@njit(cache=True, nogil=True)
def lookup_codes(table, bits, coff, cdata, offsets, data, lo, out):
    """``out[t - lo]`` = index of string t (lo <= t < n) among the codes, or -1.

    Three passes, each touching memory in order or independently per key: hash the
    keys and sort them by hash (counting sort on the top bits); probe the table in
    that order, taking the first slot whose 31-bit fingerprint matches; compare the
    strings in key order, and probe again, comparing strings, only where that
    candidate was wrong. Returns the number of strings that are not codes.
    """
    n = offsets.shape[0] - 1
    if n <= lo:
        return 0
    order, hashes = _hash_order(offsets, data, bits, lo, n,
                                np.empty(n - lo, dtype=np.uint64))
    mask = (np.int64(1) << bits) - 1
    shift = np.uint64(64 - bits)
    for r in range(n - lo):
        h = hashes[r]
        s = np.int64(h >> shift)
        fp = np.int64(h & np.uint64(0x7FFFFFFF))
        k = -1
        while True:
            e = table[s]
            if e == _EMPTY:
                break
            if (e >> 32) == fp:
                k = e & _LOW32
                break
            s = (s + 1) & mask
        out[order[r]] = k
    missing = 0
    for t in range(n - lo):
        k = out[t]
        a = offsets[lo + t]
        b = offsets[lo + t + 1]
        if k >= 0 and _equal(cdata, coff[k], coff[k + 1], data, a, b):
            continue
        if k >= 0:  # a fingerprint collision: search again comparing strings
            k = _probe(table, mask, shift, _hash(data, a, b), coff, cdata, data, a, b)
            out[t] = k
        if k < 0:
            missing += 1
    return missing


@njit(cache=True, nogil=True)
def map_ordered_dictionary(table, bits, coff, cdata, code_hashes, offsets, data, out, window):
    """Resolve a dictionary whose entries are codes in increasing product order.

    Entry t is compared with the code after the previous match, then searched for
    among the next ``window`` codes, comparing hashes (``code_hashes`` from
    :func:`build_code_table`: one sequential 8-byte read per code) and then the
    strings; past that window, in the table. Returns the number of entries
    resolved, ``n`` unless an entry is not a code or lies before the previous match
    (the order breaks): the caller resolves the rest with :func:`lookup_codes`.
    """
    n = offsets.shape[0] - 1
    m = coff.shape[0] - 1
    mask = (np.int64(1) << bits) - 1
    shift = np.uint64(64 - bits)
    k = 0
    for t in range(n):
        a = offsets[t]
        b = offsets[t + 1]
        if k < m and _equal(cdata, coff[k], coff[k + 1], data, a, b):  # the next code
            out[t] = k
            k += 1
            continue
        h = _hash(data, a, b)
        end = min(m, k + window)
        found = -1
        s = k
        while s < end:
            if code_hashes[s] == h and _equal(cdata, coff[s], coff[s + 1], data, a, b):
                found = s
                break
            s += 1
        if found < 0:
            found = _probe(table, mask, shift, h, coff, cdata, data, a, b)
            if found < k:  # unknown, or out of order
                return t
        out[t] = found
        k = found + 1
    return n


@njit(cache=True, nogil=True)
def same_strings(off1, data1, off2, data2):
    """Whether two string arrays (offsets, data) hold the same strings."""
    n = off1.shape[0]
    if off2.shape[0] != n:
        return False
    if n == 0:
        return True
    b1 = off1[0]
    b2 = off2[0]
    for t in range(n):
        if off1[t] - b1 != off2[t] - b2:
            return False
    for p in range(off1[n - 1] - b1):
        if data1[b1 + p] != data2[b2 + p]:
            return False
    return True


@njit(cache=True, nogil=True)
def gather_codes(mapping, base, dict_indices, out):
    """``out[t] = mapping[dict_indices[t]]`` (-1 for an index outside ``mapping``);
    returns the number of negative results.

    ``base >= 0`` says that ``mapping`` is ``base, base + 1, ...``: then
    ``out[t] = base + dict_indices[t]``, with no gather.
    """
    bad = 0
    d = mapping.shape[0]
    if base >= 0:
        for t in range(dict_indices.shape[0]):
            q = dict_indices[t]
            if q < 0 or q >= d:
                out[t] = -1
                bad += 1
            else:
                out[t] = base + q
        return bad
    for t in range(dict_indices.shape[0]):
        q = dict_indices[t]
        v = mapping[q] if 0 <= q < d else -1
        out[t] = v
        if v < 0:
            bad += 1
    return bad


@njit(cache=True, nogil=True)
def check_values(values, out):
    """Copy ``values`` into ``out``; return (first non-finite index or -1, negatives)."""
    first_bad = -1
    neg = 0
    for t in range(values.shape[0]):
        v = values[t]
        out[t] = v
        if not np.isfinite(v):
            if first_bad < 0:
                first_bad = t
        elif v < 0:
            neg += 1
    return first_bad, neg


# --------------------------------------------------------------------------- CSC


@njit(cache=True)
def flows_are_csc(rows, cols, values):
    """(whether the triplets are in canonical CSC order, number of zero values).

    Canonical: columns non-decreasing and rows strictly increasing within a column.
    """
    ordered = True
    zeros = 0
    n = rows.shape[0]
    for t in range(n):
        if values[t] == 0:
            zeros += 1
        if ordered and t > 0:
            c0 = cols[t - 1]
            c1 = cols[t]
            if c1 < c0 or (c1 == c0 and rows[t] <= rows[t - 1]):
                ordered = False
    return ordered, zeros


@njit(cache=True)
def indptr_from_sorted(cols, n_cols, indptr):
    """CSC ``indptr`` (length n_cols + 1) of column indices sorted non-decreasing."""
    indptr[0] = 0
    t = 0
    n = cols.shape[0]
    for j in range(n_cols):
        while t < n and cols[t] == j:
            t += 1
        indptr[j + 1] = t


@njit(cache=True)
def coo_to_csc(rows, cols, values, n_cols, indptr, indices, data):
    """Triplets in any order to canonical CSC; returns nnz.

    A stable counting sort by column, then each column is sorted by row (stable);
    duplicates are summed in file order and zero sums dropped. ``indptr`` has length
    n_cols + 1; ``indices``, ``data`` the length of ``rows``.
    """
    n = rows.shape[0]
    for j in range(n_cols + 1):
        indptr[j] = 0
    for t in range(n):
        indptr[cols[t] + 1] += 1
    for j in range(n_cols):
        indptr[j + 1] += indptr[j]
    nxt = indptr[:n_cols].copy()
    for t in range(n):
        j = cols[t]
        p = nxt[j]
        indices[p] = rows[t]
        data[p] = values[t]
        nxt[j] = p + 1
    out = 0
    start = 0
    for j in range(n_cols):
        a = start
        b = indptr[j + 1]
        start = b
        if b - a > 1:
            seg = indices[a:b]
            order = np.argsort(seg, kind="mergesort")
            si = seg[order]
            sd = data[a:b][order]
            indices[a:b] = si
            data[a:b] = sd
        col_start = out
        p = a
        while p < b:
            r = indices[p]
            v = data[p]
            p += 1
            while p < b and indices[p] == r:
                v += data[p]
                p += 1
            if v != 0:
                indices[out] = r
                data[out] = v
                out += 1
        indptr[j] = col_start
    indptr[n_cols] = out
    return out


@njit(cache=True)
def scale_columns(indptr, data, x):
    """``data[k] /= x[j]`` for the entries k of column j; returns the non-finite count."""
    bad = 0
    for j in range(indptr.shape[0] - 1):
        xj = x[j]
        for k in range(indptr[j], indptr[j + 1]):
            v = data[k] / xj
            data[k] = v
            if not np.isfinite(v):
                bad += 1
    return bad
