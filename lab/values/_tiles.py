"""Aᵀ stored in cache-sized tiles, for the products of BiCGSTAB on economies without
locality.

A CSR product gathers x[j] for every stored entry. When the inputs of a product lie
anywhere among 10⁶ products, nearly every gather misses the core's cache (x is 8 MB, a
core's L2 2 MB here). Cut into tiles of 65,536 rows × 16,384 columns (the kernels
``tile_csr`` and ``tiled_matvec_dots``), a product sweeps one band of rows at a time:
its sums (512 KB) and the slice of x of the tile at hand (128 KB) stay in the cache.
BiCGSTAB's product on the 10⁶-product economy without supply chains took 11.3 ms on
tiles against 28.5 ms on CSR on two threads, 22.0 against 58.4 ms on one (Cython;
``LAB_BENCH_KERNEL_SIZE=1000000 python -m pytest benchmarks/test_kernels.py -k
unstructured``). Entries are stored as uint16 coordinates within their tile and the
coefficient, so the tiles take the 12 bytes per non-zero of int32 CSR; cutting them
costs about three passes (65 ms at 10⁶ on two threads).

Where inputs lie near their product the CSR product is as fast or faster: on matrices
of 10⁶ rows with 12 entries each, each within 100 places of its row or, with some
probability, anywhere, CSR took 8.6 ms and tiles 9.7 ms with none anywhere, equal with
10 % anywhere, 15.4 against 11.6 ms with 40 %. Below 2¹⁸ products x fits the cache:
with every input anywhere, tiles lost at 2¹⁷ products (0.97 against 0.85 ms), gained
1.25× at 2¹⁸ (1.95 against 2.44 ms) and 2.3× at 2¹⁹ (5.3 against 12.1 ms), all on two
threads. :func:`worth_tiling` therefore asks for at least :data:`MIN_PRODUCTS`
products, :data:`FAR_SHARE` of the entries of sampled rows far from their row, and
twice the tiles' bytes free in the machine's memory (they are a second copy of the
matrix).

Those gains were measured on a host whose last-level cache did not hold x. On a later
host whose 32 MB L3 holds x, CSR won at every size tried: BiCGSTAB without locality
(``method="krylov"``, rtol 1e-10, 23 passes) at 10⁶ products took 361 ms on CSR
against 416 ms on tiles on 2 threads (701 against 1,152 ms on 1), at 2·10⁶ 950 against
1,366 ms, at 4·10⁶ (x 32 MB) 4.45 against 5.24 s (``python /tmp/s32/ab_tiles.py N``,
one process, the same answers). So :func:`worth_tiling` also asks that x (8 bytes a
product) be larger than the last-level cache, where the machine says how large it is.
"""

from __future__ import annotations

import numpy as np

from lab import _memory

__all__ = ["FAR_SHARE", "MIN_PRODUCTS", "Tiles", "cut", "worth_tiling"]

#: Rows and columns of a tile: the band's sums (512 KB) and the tile's slice of x
#: (128 KB) fit a core's 2 MB L2 cache; both are powers of two (the kernels shift).
TILE_ROWS = 1 << 16
TILE_COLS = 1 << 14
#: Below this many products x (2 MB) fits the cache (module docstring).
MIN_PRODUCTS = 1 << 18
#: Share of sampled entries at least FAR from their row above which tiles pay (module
#: docstring: equal at 10 %, 1.3× faster at 40 %).
FAR_SHARE = 0.5
FAR = 1 << 15
#: Rows sampled (evenly spaced) to estimate the far share.
SAMPLE_ROWS = 4096


class Tiles:
    """A square CSR matrix (indptr, indices, data) cut into tiles by ``K.tile_csr``.

    ``arrays`` are the first six arguments of ``K.tiled_matvec_dots``: tile pointers,
    local rows, local columns, coefficients (the dtype of ``data``), tile rows and
    columns.
    """

    __slots__ = ("arrays",)

    def __init__(self, K, M):
        indptr, indices, data = M
        n = indptr.shape[0] - 1
        nnz = int(indptr[-1])
        n_tiles = (-(-n // TILE_ROWS)) * (-(-n // TILE_COLS))
        tile_ptr = np.empty(n_tiles + 1, dtype=np.int64)
        rows = np.empty(nnz, dtype=np.uint16)
        cols = np.empty(nnz, dtype=np.uint16)
        tile_data = np.empty(nnz, dtype=data.dtype)
        K.tile_csr(indptr, indices, data, TILE_ROWS, TILE_COLS, tile_ptr, rows, cols,
                   tile_data)
        self.arrays = (tile_ptr, rows, cols, tile_data, TILE_ROWS, TILE_COLS)


def cut(K, M, M32) -> tuple:
    """(Tiles of M, Tiles of the float32 M32 or None): what BiCGSTAB's refinement or
    plain solve takes in place of (M, M32)."""
    return Tiles(K, M), None if M32 is None else Tiles(K, M32)


def worth_tiling(M) -> bool:
    """Whether products with the square CSR matrix ``M`` are faster tiled (module
    docstring): at least MIN_PRODUCTS rows, x larger than the last-level cache, FAR_SHARE
    of the entries of SAMPLE_ROWS evenly spaced rows at least FAR columns away from their
    row, and memory for them."""
    indptr, indices, data = M
    n = indptr.shape[0] - 1
    if n < MIN_PRODUCTS:
        return False
    cache = _memory.last_level_cache_bytes()
    if cache is not None and 8 * n <= cache:
        return False  # x stays in the cache (module docstring)
    available = _memory.available_bytes()
    if available is not None and available < 2 * int(indptr[-1]) * (4 + data.itemsize):
        return False
    rows = np.linspace(0, n - 1, SAMPLE_ROWS).astype(np.int64)
    starts = indptr[rows].astype(np.int64)
    lengths = indptr[rows + 1].astype(np.int64) - starts
    total = int(lengths.sum())
    if total == 0:
        return False
    entries = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
    far = np.abs(indices[entries].astype(np.int64) - np.repeat(rows, lengths)) >= FAR
    return bool(far.mean() >= FAR_SHARE)
