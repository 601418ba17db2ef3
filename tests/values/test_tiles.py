"""Krylov solves on Aᵀ cut into cache-sized tiles (``lab.values._tiles``), for economies
whose inputs lie far from their products: the same values as scipy's references, on
both backends, in float64 and float32 storage, and after updates."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import BACKENDS, assert_values_close, relative_residual
from scipy.sparse.linalg import bicgstab

import lab
from lab import _memory
from lab.bench._workloads import unstructured_economy
from lab.values import _tiles


@pytest.fixture
def small_tiles(monkeypatch):
    """Tiles worth cutting from 0 products on, small enough for many bands and tiles."""
    monkeypatch.setattr(_tiles, "MIN_PRODUCTS", 0)
    monkeypatch.setattr(_tiles, "FAR", 64)
    monkeypatch.setattr(_tiles, "TILE_ROWS", 512)
    monkeypatch.setattr(_tiles, "TILE_COLS", 256)
    monkeypatch.setattr(_memory, "last_level_cache_bytes", lambda: None)


def _scipy_values(economy):
    """scipy's BiCGSTAB to 1e-14 (a direct LU of a random matrix fills in), checked."""
    m = economy.n_products
    M = sp.identity(m, format="csr") - sp.csr_array(economy.A.T)
    v, info = bicgstab(M, economy.labour, rtol=1e-14, atol=0.0, maxiter=1000)
    assert info == 0 and relative_residual(economy.A, economy.labour, v) < 1e-13
    return v


@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_tiled_krylov_matches_scipy(small_tiles, backend, precision):
    economy = unstructured_economy(20_000, seed=3)
    solver = lab.ValueSolver(economy, rtol=1e-12, backend=backend, precision=precision)
    result = solver.solve()
    assert result.converged and result.residual <= 1e-12
    assert result.method == "krylov" and "tiles" in result.method_reason
    assert solver._tiles is not None and solver._tiles[0].arrays[0].size == 40 * 79 + 1
    assert (solver._tiles[1] is not None) == (precision == "float32")
    assert relative_residual(economy.A, economy.labour, result.values) <= 1e-12
    assert_values_close(result.values, _scipy_values(economy), 1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_updates_cut_the_tiles_again(small_tiles, backend):
    """A change of existing coefficients, then a new link: each re-solve equals a direct
    solve of the changed economy (dense NumPy), so the tiles were not left stale."""
    economy = unstructured_economy(1_500, seed=5)
    solver = lab.ValueSolver(economy, rtol=1e-12, backend=backend)
    solver.solve()
    A = economy.A.toarray()
    codes = list(economy.codes)
    coo = economy.A.tocoo()
    picked = np.random.default_rng(0).choice(coo.nnz, size=50, replace=False)
    existing = {(int(coo.row[k]), int(coo.col[k])): float(coo.data[k] * 0.5) for k in picked}
    j = int(np.flatnonzero(A[0] == 0)[1])
    for change in (existing, {(0, j): 0.01}):
        before = solver._tiles
        for (i, k), value in change.items():
            A[i, k] = value
        solver.update({(codes[i], codes[k]): value for (i, k), value in change.items()})
        result = solver.solve()
        assert result.converged and solver._tiles is not before
        expected = np.linalg.solve(np.eye(1_500) - A.T, economy.labour)
        assert_values_close(result.values, expected, 1e-9)


def test_worth_tiling(monkeypatch):
    """Inputs far from their products: tiles; inputs next to them, a small economy, or
    too little free memory for the copy: none."""
    monkeypatch.setattr(_tiles, "MIN_PRODUCTS", 1000)
    monkeypatch.setattr(_memory, "last_level_cache_bytes", lambda: None)
    rng = np.random.default_rng(1)
    n = 5000
    rows = np.repeat(np.arange(n), 4)
    for cols, expected in ((np.clip(rows + rng.integers(-3, 4, rows.size), 0, n - 1), False),
                           (rng.integers(0, n, rows.size), True)):
        M = sp.csr_array((np.full(rows.size, 0.1), (rows, cols)), shape=(n, n))
        monkeypatch.setattr(_tiles, "FAR", 100)
        assert _tiles.worth_tiling((M.indptr, M.indices, M.data)) is expected
    far = (M.indptr, M.indices, M.data)
    monkeypatch.setattr(_memory, "available_bytes", lambda: 2 * 12 * M.nnz - 1)
    assert not _tiles.worth_tiling(far)  # no room for a second copy
    monkeypatch.setattr(_memory, "available_bytes", lambda: None)
    assert _tiles.worth_tiling(far)
    monkeypatch.setattr(_tiles, "MIN_PRODUCTS", n + 1)
    assert not _tiles.worth_tiling(far)
    empty = sp.csr_array((n + 1, n + 1))
    assert not _tiles.worth_tiling((empty.indptr, empty.indices, empty.data))


def test_unstructured_economy_is_tiled_at_full_size(monkeypatch):
    """With the shipped thresholds, the benchmark's economy without supply chains is
    tiled from MIN_PRODUCTS products on where x does not fit the last-level cache, and
    not where it does (pattern check only: no solve)."""
    economy = unstructured_economy(_tiles.MIN_PRODUCTS, seed=1, inputs=2)
    A = economy.A
    M = (A.indptr, A.indices, A.data)
    x_bytes = 8 * _tiles.MIN_PRODUCTS
    for cache, expected in ((None, True), (x_bytes - 1, True), (x_bytes, False)):
        monkeypatch.setattr(_memory, "last_level_cache_bytes", lambda c=cache: c)
        assert _tiles.worth_tiling(M) is expected


def test_last_level_cache_is_read(monkeypatch, tmp_path):
    """The highest level's size from sysfs (K, M suffixes); None where none is readable."""
    for index, (level, size) in enumerate([(1, "32K"), (3, "32768K"), (2, "1M")]):
        folder = tmp_path / f"index{index}"
        folder.mkdir()
        (folder / "level").write_text(f"{level}\n")
        (folder / "size").write_text(f"{size}\n")
    monkeypatch.setattr(_memory, "_CACHES", str(tmp_path))
    _memory.last_level_cache_bytes.cache_clear()
    try:
        assert _memory.last_level_cache_bytes() == 32768 * 1024
        (tmp_path / "index1" / "size").write_text("big\n")  # unreadable: the next level
        _memory.last_level_cache_bytes.cache_clear()
        assert _memory.last_level_cache_bytes() == 1 << 20
        monkeypatch.setattr(_memory, "_CACHES", str(tmp_path / "none"))
        _memory.last_level_cache_bytes.cache_clear()
        assert _memory.last_level_cache_bytes() is None
    finally:
        _memory.last_level_cache_bytes.cache_clear()


@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_large_cyclic_block_on_tiles(small_tiles, backend, precision):
    """method="blocks": the large cyclic block's BiCGSTAB runs on tiles; the values equal
    a direct solve, before and after an update of coefficients inside that block."""
    economy = lab.generate_economy(2_500, seed=4, core_share=0.4)
    solver = lab.ValueSolver(economy, rtol=1e-12, backend=backend, precision=precision)
    result = solver.solve()
    assert result.method == "blocks" and result.converged
    tiled = [blk for blk in solver._large if blk.tiles is not None]
    assert tiled and (tiled[0].tiles[1] is not None) == (precision == "float32")
    A = economy.A.toarray()
    assert_values_close(result.values, np.linalg.solve(np.eye(2_500) - A.T, economy.labour),
                        1e-9)

    core = tiled[0].members
    codes = list(economy.codes)
    coo = economy.A.tocoo()
    inside = np.flatnonzero(np.isin(coo.row, core) & np.isin(coo.col, core))[:40]
    changes = {}
    for k in inside:
        A[coo.row[k], coo.col[k]] = coo.data[k] * 0.5
        changes[codes[coo.row[k]], codes[coo.col[k]]] = float(coo.data[k] * 0.5)
    before = tiled[0].tiles
    solver.update(changes)
    result = solver.solve()
    assert result.converged and tiled[0].tiles is not before
    assert_values_close(result.values, np.linalg.solve(np.eye(2_500) - A.T, economy.labour),
                        1e-9)


def test_available_memory_is_read(monkeypatch, tmp_path):
    """MemAvailable in bytes where /proc/meminfo has it; None where it cannot be read."""
    got = _memory.available_bytes()
    assert got is None or got > 0
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  100 kB\nMemAvailable:  42 kB\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(
        meminfo if path == "/proc/meminfo" else path, *a, **k))
    assert _memory.available_bytes() == 42 * 1024
    meminfo.write_text("MemTotal:  100 kB\n")
    assert _memory.available_bytes() is None
