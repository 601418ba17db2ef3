"""Kernels of both backends against scipy.sparse / dense NumPy references."""

from __future__ import annotations

import os
import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import spsolve, spsolve_triangular

from lab import _ops
from lab.exceptions import BackendWarning

BACKENDS = _ops.available_backends()
IDX = [np.int32, np.int64]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def kern(backend):
    return _ops.kernels(backend)


@pytest.fixture(params=IDX, ids=["int32", "int64"])
def idx(request):
    return request.param


# --------------------------------------------------------------------------- problems


def random_csr(n_rows, n_cols, density, seed, *, diag=False, scale=None, empty_rows=True):
    """Random CSR matrix with unsorted indices, some empty rows, optional diagonal.

    ``scale`` rescales rows so that every absolute row sum is at most ``scale``
    (so the spectral radius is below ``scale`` for square matrices).
    """
    rng = np.random.default_rng(seed)
    density = min(density, 1.0)
    M = sp.random(n_rows, n_cols, density=density, format="lil", random_state=rng)
    if empty_rows and n_rows > 3:
        for i in rng.choice(n_rows, size=max(1, n_rows // 10), replace=False):
            M.rows[i] = []
            M.data[i] = []
    M = M.tocsr()
    if diag:
        n = min(n_rows, n_cols)
        D = sp.diags(rng.uniform(0.05, 0.5, size=n), shape=(n_rows, n_cols))
        M = (M + D).tocsr()
    if scale is not None and M.nnz:
        rows = np.asarray(abs(M).sum(axis=1)).ravel()
        rows[rows == 0] = 1.0
        M = sp.diags(scale / np.maximum(rows, scale)) @ M
        M = M.tocsr()
    M.sum_duplicates()
    # shuffle the entries inside each row: the kernels must not assume sorted indices
    for i in range(M.shape[0]):
        lo, hi = M.indptr[i], M.indptr[i + 1]
        p = lo + rng.permutation(hi - lo)
        M.indices[lo:hi] = M.indices[p]
        M.data[lo:hi] = M.data[p]
    M.has_sorted_indices = False
    return M


def arrays(M, idx, dtype=np.float64):
    return (
        np.ascontiguousarray(M.indptr, dtype=idx),
        np.ascontiguousarray(M.indices, dtype=idx),
        np.ascontiguousarray(M.data, dtype=dtype),
    )


RECT = [(0, 0), (1, 1), (1, 5), (5, 1), (37, 23), (400, 300)]
SQUARE = [0, 1, 2, 7, 60, 500]


def square_problem(n, seed=0, density=0.05):
    return random_csr(n, n, density if n > 1 else 1.0, seed, diag=True, scale=0.9)


# --------------------------------------------------------------------------- products


@pytest.mark.parametrize("shape", RECT, ids=str)
def test_matvec_rmatvec(kern, idx, shape):
    M = random_csr(*shape, 0.1 if shape[0] > 1 else 1.0, seed=1)
    ip, ix, d = arrays(M, idx)
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape[1])
    y = rng.standard_normal(shape[0])
    x0, y0, d0 = x.copy(), y.copy(), d.copy()
    out = np.full(shape[0], np.nan)
    assert kern.csr_matvec(ip, ix, d, x, out) is None
    assert_allclose(out, M @ x, rtol=1e-13, atol=1e-13)
    out_t = np.full(shape[1], np.nan)  # the kernel zeroes out itself
    kern.csr_rmatvec(ip, ix, d, y, out_t)
    assert_allclose(out_t, M.T @ y, rtol=1e-12, atol=1e-12)
    assert_array_equal(x, x0)
    assert_array_equal(y, y0)
    assert_array_equal(d, d0)


def test_rmatvec_parallel_chunks(kern, backend, idx):
    """Large enough (nnz >= 4096) to take the per-thread buffer path."""
    M = random_csr(3000, 2000, 0.004, seed=3)
    ip, ix, d = arrays(M, idx)
    y = np.random.default_rng(4).standard_normal(3000)
    with _ops.thread_limit(2, backend):
        out = np.full(2000, np.nan)
        kern.csr_rmatvec(ip, ix, d, y, out)
    assert_allclose(out, M.T @ y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", SQUARE)
def test_identity_minus_matvec(kern, idx, n):
    M = square_problem(n)
    ip, ix, d = arrays(M, idx)
    x = np.random.default_rng(5).standard_normal(n)
    out = np.empty(n)
    kern.identity_minus_matvec(ip, ix, d, x, out)
    assert_allclose(out, x - M @ x, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("nrhs", [1, 3])
@pytest.mark.parametrize("shape", [(0, 0), (1, 4), (37, 23), (1200, 900)], ids=str)
def test_matmat_rmatmat(kern, idx, nrhs, shape):
    M = random_csr(*shape, 0.1 if shape[0] > 1 else 1.0, seed=6)
    ip, ix, d = arrays(M, idx)
    rng = np.random.default_rng(7)
    X = rng.standard_normal((shape[1], nrhs))
    Y = rng.standard_normal((shape[0], nrhs))
    out = np.full((shape[0], nrhs), np.nan)
    kern.csr_matmat(ip, ix, d, X, out)
    assert_allclose(out, M @ X, rtol=1e-12, atol=1e-12)
    out_t = np.full((shape[1], nrhs), np.nan)
    kern.csr_rmatmat(ip, ix, d, Y, out_t)
    assert_allclose(out_t, M.T @ Y, rtol=1e-12, atol=1e-12)


def test_matmat_of_one_column_is_matvec_to_the_bit(kern, idx):
    # one column takes the matrix-vector kernel: the same terms summed in the same order
    M = random_csr(3000, 2500, 0.01, seed=8)
    ip, ix, d = arrays(M, idx)
    x = np.random.default_rng(9).standard_normal(2500)
    out, ref = np.full((3000, 1), np.nan), np.empty(3000)
    kern.csr_matmat(ip, ix, d, x.reshape(-1, 1), out)
    kern.csr_matvec(ip, ix, d, x, ref)
    assert np.array_equal(out[:, 0], ref)
    assert_allclose(ref, M @ x, rtol=1e-12, atol=1e-12)


def test_float32_data(kern, idx):
    M = square_problem(60)
    ip, ix, d = arrays(M, idx, np.float32)
    M32 = sp.csr_matrix((d.astype(np.float64), M.indices, M.indptr), shape=M.shape)
    x = np.random.default_rng(8).standard_normal(60)
    out = np.empty(60)
    kern.csr_matvec(ip, ix, d, x, out)
    assert_allclose(out, M32 @ x, rtol=1e-12, atol=1e-12)


def test_shape_errors(kern):
    M = square_problem(10)
    ip, ix, d = arrays(M, np.int64)
    with pytest.raises(ValueError):
        kern.csr_matvec(ip, ix, d, np.zeros(10), np.zeros(9))
    with pytest.raises(ValueError):
        kern.jacobi_step(ip, ix, d, np.zeros(10), np.zeros(9), np.zeros(10))
    with pytest.raises(ValueError):
        kern.gauss_seidel(ip, ix, d, np.zeros(10), np.zeros(10), 0, 11, 1)
    with pytest.raises(ValueError):
        kern.gauss_seidel(ip, ix, d, np.zeros(10), np.zeros(10), 0, 10, 0)


# --------------------------------------------------------------------------- Jacobi


@pytest.mark.parametrize("n", SQUARE)
def test_jacobi_step(kern, idx, n):
    M = square_problem(n)
    ip, ix, d = arrays(M, idx)
    rng = np.random.default_rng(9)
    b = rng.uniform(size=n)
    v = rng.uniform(size=n)
    v_new = np.empty(n)
    res, vmax = kern.jacobi_step(ip, ix, d, b, v, v_new)
    ref = b + M @ v
    assert_allclose(v_new, ref, rtol=1e-13, atol=1e-13)
    assert res == pytest.approx(np.abs(ref - v).max(initial=0.0), rel=1e-12, abs=1e-14)
    assert vmax == pytest.approx(np.abs(ref).max(initial=0.0), rel=1e-12, abs=1e-14)


def test_jacobi_step_nan_propagates(kern):
    M = square_problem(50)
    ip, ix, d = arrays(M, np.int32)
    b = np.ones(50)
    b[17] = np.nan
    res, vmax = kern.jacobi_step(ip, ix, d, b, np.zeros(50), np.empty(50))
    assert np.isnan(res) and np.isnan(vmax)


@pytest.mark.parametrize("nrhs", [1, 3])
@pytest.mark.parametrize("n", [0, 1, 70_001])
def test_residual_norms(kern, n, nrhs):
    rng = np.random.default_rng(n + nrhs)
    B, AV, V = (rng.normal(size=(n, nrhs)) for _ in range(3))
    res, vmax = np.empty(nrhs), np.empty(nrhs)
    kern.residual_norms(B, AV, V, res, vmax)
    assert_array_equal(res, np.abs(B + AV - V).max(axis=0, initial=0.0))
    assert_array_equal(vmax, np.abs(V).max(axis=0, initial=0.0))


def test_residual_norms_nan_and_shapes(kern):
    B, AV, V = np.ones((70_001, 2)), np.ones((70_001, 2)), np.ones((70_001, 2))
    AV[123, 1] = np.inf
    V[123, 1] = np.inf  # inf − inf: NaN, never a small residual
    V[9, 0] = np.nan
    res, vmax = np.empty(2), np.empty(2)
    kern.residual_norms(B, AV, V, res, vmax)
    assert np.isnan(res).all() and np.isnan(vmax[0]) and vmax[1] == np.inf
    with pytest.raises(ValueError):
        kern.residual_norms(B[:5], AV, V, res, vmax)
    with pytest.raises(ValueError):
        kern.residual_norms(B, AV, V, np.empty(3), vmax)


@pytest.mark.parametrize("n", [0, 1, 500, 70_001])
def test_residual_quotients(kern, n):
    """The check's norms and the Collatz–Wielandt quotients in one pass: NumPy's values;
    NaN where an entry read is NaN, and a zero value gives a quotient that is not
    finite."""
    rng = np.random.default_rng(n)
    b, av, v = rng.uniform(size=n), rng.uniform(size=n), rng.uniform(0.5, 1.0, n)
    out = np.empty(5)
    kern.residual_quotients(b, av, v, out)
    if n == 0:
        assert_array_equal(out, [0.0, 0.0, 0.0, 0.0, 0.0])
        return
    q = av / v
    assert_array_equal(out, [np.abs(b + av - v).max(), np.abs(v).max(), q.max(), q.min(),
                             v.min()])
    v[n // 2] = 0.0
    kern.residual_quotients(b, av, v, out)
    assert not np.isfinite(out[2]) and out[4] == 0.0
    v[n // 2] = np.nan
    kern.residual_quotients(b, av, v, out)
    assert np.isnan(out).all()
    with pytest.raises(ValueError):
        kern.residual_quotients(b[:-1], av, v, out)


@pytest.mark.parametrize("nrhs", [1, 4])
@pytest.mark.parametrize("n", [0, 1, 60, 500])
def test_jacobi_step_multi(kern, idx, n, nrhs):
    M = square_problem(n)
    ip, ix, d = arrays(M, idx)
    rng = np.random.default_rng(10)
    B = rng.uniform(size=(n, nrhs))
    V = rng.uniform(size=(n, nrhs))
    V_new = np.empty((n, nrhs))
    res = np.full(nrhs, np.nan)
    vmx = np.full(nrhs, np.nan)
    kern.jacobi_step_multi(ip, ix, d, B, V, V_new, res, vmx)
    ref = B + M @ V
    assert_allclose(V_new, ref, rtol=1e-13, atol=1e-13)
    assert_allclose(res, np.abs(ref - V).max(axis=0, initial=0.0), rtol=1e-12, atol=1e-14)
    assert_allclose(vmx, np.abs(ref).max(axis=0, initial=0.0), rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- Gauss-Seidel


def ref_gauss_seidel(M, b, v, row_start, row_stop, n_chunks):
    """Plain Python sweep with the documented chunk split and snapshot semantics."""
    v = v.copy()
    snap = v.copy()
    L = row_stop - row_start
    n_chunks = max(1, min(n_chunks, L))
    change = vmax = 0.0
    for t in range(n_chunks):
        lo = row_start + t * L // n_chunks
        hi = row_start + (t + 1) * L // n_chunks
        for j in range(lo, hi):
            s, diag = b[j], 0.0
            for k in range(M.indptr[j], M.indptr[j + 1]):
                c, a = M.indices[k], M.data[k]
                if c == j:
                    diag += a
                elif lo <= c < hi or not (row_start <= c < row_stop):
                    s += a * v[c]
                else:
                    s += a * snap[c]
            new = s / (1.0 - diag)
            change = max(change, abs(new - v[j]))
            vmax = max(vmax, abs(new))
            v[j] = new
    return v, change, vmax


@pytest.mark.parametrize("n_chunks", [1, 2, 5])
@pytest.mark.parametrize("n,row_range", [(0, (0, 0)), (1, (0, 1)), (7, (0, 7)), (60, (0, 60)),
                                         (60, (13, 41))], ids=str)
def test_gauss_seidel(kern, idx, n, row_range, n_chunks):
    M = square_problem(n, seed=11)
    ip, ix, d = arrays(M, idx)
    rng = np.random.default_rng(12)
    b = rng.uniform(size=n)
    v = rng.uniform(size=n)
    ref, ch_ref, vm_ref = ref_gauss_seidel(M, b, v, *row_range, n_chunks)
    got = v.copy()
    ch, vm = kern.gauss_seidel(ip, ix, d, b, got, *row_range, n_chunks)
    assert_allclose(got, ref, rtol=1e-13, atol=1e-15)
    assert ch == pytest.approx(ch_ref, rel=1e-12, abs=1e-15)
    assert vm == pytest.approx(vm_ref, rel=1e-12, abs=1e-15)


def test_gauss_seidel_converges_and_is_thread_independent(kern, backend, idx):
    n = 500
    M = square_problem(n, seed=13)
    ip, ix, d = arrays(M, idx)
    b = np.random.default_rng(14).uniform(size=n)
    exact = spsolve((sp.identity(n) - M).tocsc(), b)
    results = []
    for threads in (1, 2):
        v = np.zeros(n)
        with _ops.thread_limit(threads, backend):
            for _ in range(200):
                ch, vm = kern.gauss_seidel(ip, ix, d, b, v, 0, n, 4)
                if ch <= 1e-14 * vm:
                    break
        results.append(v)
    assert_allclose(results[0], exact, rtol=1e-11)
    assert_array_equal(results[0], results[1])


@pytest.mark.parametrize("n_chunks", [1, 3])
@pytest.mark.parametrize("nrhs", [1, 3])
def test_gauss_seidel_multi(kern, idx, nrhs, n_chunks):
    n = 60
    M = square_problem(n, seed=15)
    ip, ix, d = arrays(M, idx)
    rng = np.random.default_rng(16)
    B = rng.uniform(size=(n, nrhs))
    V = rng.uniform(size=(n, nrhs))
    ch = np.full(nrhs, np.nan)
    vm = np.full(nrhs, np.nan)
    got = V.copy()
    kern.gauss_seidel_multi(ip, ix, d, B, got, 5, 50, n_chunks, ch, vm)
    for q in range(nrhs):
        ref, c_ref, v_ref = ref_gauss_seidel(M, B[:, q], V[:, q], 5, 50, n_chunks)
        assert_allclose(got[:, q], ref, rtol=1e-13, atol=1e-15)
        assert ch[q] == pytest.approx(c_ref, rel=1e-12)
        assert vm[q] == pytest.approx(v_ref, rel=1e-12)


# --------------------------------------------------------------------------- SCC, permute, block GS


def scc(kern, ip, ix):
    """Run the SCC kernel; return (order, block_ptr trimmed to the component count)."""
    n = len(ip) - 1
    order = np.full(n, -7, dtype=ix.dtype)
    position = np.full(n, -7, dtype=ix.dtype)
    block_ptr = np.full(n + 1, -7, dtype=ix.dtype)
    ncomp = kern.strongly_connected_components(ip, ix, order, position, block_ptr)
    assert_array_equal(position[order], np.arange(n))  # the inverse, written alongside
    return order, block_ptr[:ncomp + 1]


def check_scc(M, order, block_ptr):
    """Same partition as scipy, and every component after the components it references."""
    n = M.shape[0]
    ncomp = len(block_ptr) - 1
    n_ref, ref = connected_components(M, directed=True, connection="strong")
    assert ncomp == n_ref
    assert block_ptr[0] == 0 and block_ptr[-1] == n and np.all(np.diff(block_ptr) >= 1)
    assert_array_equal(np.sort(order), np.arange(n))
    labels = np.empty(n, dtype=np.int64)
    labels[order] = np.repeat(np.arange(ncomp), np.diff(block_ptr))
    pairs = set(zip(labels.tolist(), ref.tolist(), strict=True))
    assert len(pairs) == ncomp == len({p[0] for p in pairs}) == len({p[1] for p in pairs})
    rows = np.repeat(np.arange(n), np.diff(M.indptr))
    assert np.all(labels[M.indices] <= labels[rows])


@pytest.mark.parametrize("n", [0, 1, 2, 30, 400])
def test_scc_random(kern, idx, n):
    M = random_csr(n, n, 1.5 / max(n, 1), seed=17, diag=n % 2 == 0)
    ip, ix, _ = arrays(M, idx)
    check_scc(M, *scc(kern, ip, ix))


def test_scc_nested_cycles(kern, idx):
    """Cycles inside chains inside a large cycle, n not a multiple of four (the search
    packs four node states to a byte)."""
    n = 4_999
    rng = np.random.default_rng(29)
    rows = rng.integers(0, n, size=3 * n)
    cols = np.where(rng.uniform(size=3 * n) < 0.9, rows - rng.integers(1, 50, size=3 * n),
                    rows + rng.integers(1, 5, size=3 * n)) % n
    M = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    M.sum_duplicates()
    ip, ix, _ = arrays(M, idx)
    check_scc(M, *scc(kern, ip, ix))


def test_scc_long_chain_no_recursion(kern, idx):
    """A 2e5-long path plus a cycle closing part of it: deep DFS must not recurse."""
    n = 200_000
    rows = np.arange(1, n)
    cols = np.arange(0, n - 1)  # row i depends on i - 1
    rows = np.append(rows, 1000)
    cols = np.append(cols, 5000)  # closes a cycle 1000..5000
    M = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    ip, ix, _ = arrays(M, idx)
    order, block_ptr = scc(kern, ip, ix)
    assert len(block_ptr) - 1 == n - 4000
    check_scc(M, order, block_ptr)


def test_scc_duplicate_entries(kern, idx):
    """Duplicate (unsummed) entries are just parallel edges."""
    n, k = 2000, 6
    rng = np.random.default_rng(28)
    ip = np.arange(0, n * k + 1, k).astype(idx)
    ix = (np.arange(n).repeat(k) * rng.uniform(size=n * k)).astype(idx)
    back = rng.choice(n * k, size=40, replace=False)
    ix[back] = rng.integers(0, n, size=back.size)
    order, block_ptr = scc(kern, ip, ix)
    M = sp.csr_matrix((np.ones(n * k), ix, ip), shape=(n, n))
    M.sum_duplicates()  # scipy's strong connected_components hangs on duplicates
    check_scc(M, order, block_ptr)


@pytest.mark.parametrize("n", [0, 1, 50])
def test_permute_csr(kern, idx, n):
    M = random_csr(n, n, 0.1 if n > 1 else 1.0, seed=18, diag=True)
    ip, ix, d = arrays(M, idx)
    perm = np.random.default_rng(19).permutation(n).astype(idx)
    inv = np.empty_like(perm)
    inv[perm] = np.arange(n, dtype=idx)
    o_ip = np.full(n + 1, -7, dtype=idx)
    o_ix = np.empty(M.nnz, dtype=idx)
    o_d = np.empty(M.nnz)
    kern.permute_csr(ip, ix, d, perm, inv, o_ip, o_ix, o_d)
    P = sp.csr_matrix((o_d, o_ix, o_ip), shape=(n, n))
    ref = M[perm][:, perm]
    assert_allclose(P.toarray(), ref.toarray())
    assert o_ip.dtype == o_ix.dtype == idx


@pytest.mark.parametrize("n, r", [(0, 1), (1, 1), (50_000, 1), (3_000, 3)])
def test_gather_rows(kern, idx, n, r):
    """Rows in any order (a permutation, repeats) against NumPy's fancy indexing; an index
    outside the source is reported by its position, a wrong output shape raises."""
    rng = np.random.default_rng(30)
    src = rng.uniform(size=(n, r))
    for index in (rng.permutation(n), rng.integers(0, max(n, 1), size=n) if n else
                  np.zeros(0, dtype=int)):
        index = index.astype(idx)
        out = np.full((n, r), np.nan)
        assert kern.gather_rows(src, index, out) == -1
        assert np.array_equal(out, src[index])
    if n:
        bad = np.arange(n, dtype=idx)
        bad[n // 2] = n
        assert kern.gather_rows(src, bad, np.empty((n, r))) == n // 2
        bad[n // 2] = -1
        assert kern.gather_rows(src, bad, np.empty((n, r))) == n // 2
    with pytest.raises(ValueError):
        kern.gather_rows(src, np.zeros(n + 1, dtype=idx), np.empty((n, r)))


def components(n, seed, kern, idx, density=1.2):
    """A productive random matrix with its components (cyclic and single) from the kernel."""
    M = random_csr(n, n, density / n, seed=seed, diag=True, scale=0.9)
    ip, ix, d = arrays(M, idx)
    order, block_ptr = scc(kern, ip, ix)
    position = np.empty_like(order)
    position[order] = np.arange(n, dtype=idx)
    return M, (ip, ix, d), order, position, block_ptr


@pytest.mark.parametrize("nrhs", [1, 3])
def test_block_solve(kern, idx, nrhs):
    n = 300
    M, arrs, order, position, block_ptr = components(n, 20, kern, idx)
    sizes = np.diff(block_ptr)
    assert sizes.max() > 1 and (sizes == 1).sum() > 1  # both kinds of components occur
    B = np.random.default_rng(21).uniform(size=(n, nrhs))
    B[:, -1] = 0.0 if nrhs > 1 else B[:, -1]
    exact = spsolve((sp.identity(n) - M).tocsc(), B).reshape(n, nrhs)
    V, MV = np.full((n, nrhs), np.nan), np.full((n, nrhs), np.nan)
    bad = kern.block_solve(*arrs, B, V, MV, order, position, block_ptr, 0, len(sizes),
                           int(sizes.max()))
    assert bad == -1
    assert_allclose(V, exact, rtol=1e-12, atol=1e-300)
    # the pass's M V is the product with the V it returns (single and cyclic rows alike)
    assert_allclose(MV, M @ V, rtol=1e-13, atol=1e-300)


def test_block_solve_range_and_permuted_matrix(kern, idx):
    """Solving components in two calls on the permuted matrix (identity order) is the same."""
    n = 200
    M, arrs, order, position, block_ptr = components(n, 24, kern, idx, density=2.0)
    P = (np.empty(n + 1, idx), np.empty(M.nnz, idx), np.empty(M.nnz))
    kern.permute_csr(*arrs, order, position, *P)
    ident = np.arange(n, dtype=idx)
    b = np.random.default_rng(25).uniform(size=(n, 1))
    bp = b[order].copy()
    v, mv = np.zeros((n, 1)), np.full((n, 1), np.nan)
    nb = len(block_ptr) - 1
    dense_max = int(np.diff(block_ptr).max())
    for first, last in [(0, nb // 2), (nb // 2, nb)]:  # the streamed (block order) pass
        assert kern.block_solve(*P, bp, v, mv, ident, ident, block_ptr, first, last,
                                dense_max) == -1
    exact = spsolve((sp.identity(n) - M).tocsc(), b[:, 0])
    assert_allclose(v[position, 0], exact, rtol=1e-12)
    assert_allclose(mv[position, 0], M @ exact, rtol=1e-12)


def test_block_matrix(kern, idx):
    """Each cyclic component as a matrix of its own: the dense block of M among its
    members (in block order), every entry traced to the entry of M it came from."""
    n = 300
    M, arrs, order, position, block_ptr = components(n, 20, kern, idx)
    ip, ix, d = arrs
    dense = M.toarray()
    for k in np.flatnonzero(np.diff(block_ptr) > 1):
        s, e = int(block_ptr[k]), int(block_ptr[k + 1])
        members = order[s:e]
        room = int(np.sum(ip[members + 1] - ip[members]))
        sub = (np.empty(e - s + 1, idx), np.empty(room, idx), np.empty(room))
        entry = np.empty(room, idx)
        kept = kern.block_matrix(ip, ix, d, order, position, s, e, *sub, entry)
        got = sp.csr_array((sub[2][:kept], sub[1][:kept], sub[0]), shape=(e - s, e - s))
        assert_array_equal(got.toarray(), dense[np.ix_(members, members)])
        assert_array_equal(d[entry[:kept]], sub[2][:kept])
        assert_array_equal(position[ix[entry[:kept]]] - s, sub[1][:kept])
    with pytest.raises(ValueError, match="room"):
        kern.block_matrix(ip, ix, d, order, position, 0, n, np.empty(n + 1, idx),
                          np.empty(1, idx), np.empty(1), np.empty(1, idx))


def test_block_solve_acyclic_and_empty(kern, idx):
    """Lower triangular with diagonal: every component is one product, solved exactly."""
    n = 40
    M = sp.tril(random_csr(n, n, 0.2, seed=22, diag=True, scale=0.9)).tocsr()
    ip, ix, d = arrays(M, idx)
    order, block_ptr = scc(kern, ip, ix)
    assert len(block_ptr) == n + 1
    position = np.empty_like(order)
    position[order] = np.arange(n, dtype=idx)
    b = np.random.default_rng(23).uniform(size=(n, 1))
    v, mv = np.zeros((n, 1)), np.zeros((n, 1))
    assert kern.block_solve(ip, ix, d, b, v, mv, order, position, block_ptr, 0, n, 1) == -1
    assert_allclose(v[:, 0], spsolve((sp.identity(n) - M).tocsc(), b[:, 0]), rtol=1e-13)
    assert_allclose(mv, M @ v, rtol=1e-13)
    e = np.zeros(1, dtype=idx)
    assert kern.block_solve(e, e[:0], np.zeros(0), np.zeros((0, 1)), np.zeros((0, 1)),
                            np.zeros((0, 1)), e[:0], e[:0], e, 0, 0, 1) == -1


@pytest.mark.parametrize("weight", [1.0, 1.2])
def test_block_solve_reports_non_productive_component(kern, idx, weight):
    """A 3-cycle with ρ ≥ 1 after a productive product: its component is reported."""
    A = np.zeros((4, 4))
    A[1, 2] = A[2, 3] = A[3, 1] = weight  # the cycle 1 → 2 → 3 → 1 (ρ = weight)
    A[1, 0] = 0.5  # product 1 also draws on product 0
    M = sp.csr_matrix(A)
    ip, ix, d = arrays(M, idx)
    order, block_ptr = scc(kern, ip, ix)
    position = np.empty_like(order)
    position[order] = np.arange(4, dtype=idx)
    v = np.zeros((4, 1))
    bad = kern.block_solve(ip, ix, d, np.ones((4, 1)), v, np.zeros((4, 1)), order, position,
                           block_ptr, 0, len(block_ptr) - 1, 4)
    assert bad >= 0
    assert sorted(order[block_ptr[bad]:block_ptr[bad + 1]].tolist()) == [1, 2, 3]
    # the same on a copy in block order (the streamed pass, one right-hand side)
    copy = (np.empty(5, idx), np.empty(M.nnz, idx), np.empty(M.nnz))
    kern.permute_csr(ip, ix, d, order, position, *copy)
    ident = np.arange(4, dtype=idx)
    assert kern.block_solve(*copy, np.ones((4, 1)), np.zeros((4, 1)), np.zeros((4, 1)),
                            ident, ident, block_ptr, 0, len(block_ptr) - 1, 4) == bad


def test_block_solve_rejects_oversized_component(kern, idx):
    n = 300
    M, arrs, order, position, block_ptr = components(n, 20, kern, idx)
    largest = int(np.diff(block_ptr).max())
    with pytest.raises(ValueError, match="dense_max"):
        kern.block_solve(*arrs, np.ones((n, 1)), np.zeros((n, 1)), np.zeros((n, 1)), order,
                         position, block_ptr, 0, len(block_ptr) - 1, largest - 1)


# --------------------------------------------------------------------------- threads and backends


def test_thread_limit_restores(backend, kern):
    before = kern.get_num_threads()
    with _ops.thread_limit(1, backend):
        assert kern.get_num_threads() == 1
    assert kern.get_num_threads() == before
    with pytest.raises(RuntimeError), _ops.thread_limit(1, backend):
        raise RuntimeError("body fails")
    assert kern.get_num_threads() == before
    with _ops.thread_limit(None, backend):
        assert kern.get_num_threads() == before


@pytest.mark.parametrize("n_threads", [None, 2])
def test_thread_limit_holds_blas_at_one_thread(backend, n_threads):
    """NumPy's BLAS threads spin after a call and take the cores lab's kernels need: a
    solve holds them at one thread, and gives the user's setting back afterwards."""
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    with threadpool_limits(limits=2, user_api="blas"):  # as on a machine with 2+ cores
        before = blas_threads()
        with _ops.thread_limit(n_threads, backend):
            assert blas_threads() == [1] * len(before)
        assert blas_threads() == before


@pytest.mark.parametrize("bad,exc", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                     (True, TypeError), ("2", TypeError)])
def test_thread_limit_validates(bad, exc):
    with pytest.raises(exc, match="n_threads"), _ops.thread_limit(bad, BACKENDS[-1]):
        pass


@pytest.mark.skipif("cython" not in BACKENDS, reason="compiled kernels not built")
@pytest.mark.skipif(bool(os.environ.get("LAB_NO_OPENMP")), reason="built with LAB_NO_OPENMP")
def test_cython_uses_openmp():
    cy = _ops.kernels("cython")
    assert cy.HAVE_OPENMP
    M = random_csr(20_000, 20_000, 0.0005, seed=24, diag=True, scale=0.9)
    ip, ix, d = arrays(M, np.int32)
    x = np.random.default_rng(25).uniform(size=20_000)
    outs = []
    for threads in (1, 2):
        with _ops.thread_limit(threads, "cython"):
            assert cy.get_num_threads() == threads
            out = np.empty(20_000)
            cy.csr_matvec(ip, ix, d, x, out)
            v_new = np.empty(20_000)
            norms = cy.jacobi_step(ip, ix, d, x, x, v_new)
            outs.append((out, v_new, norms))
    assert_array_equal(outs[0][0], outs[1][0])
    assert_array_equal(outs[0][1], outs[1][1])
    assert outs[0][2] == outs[1][2]


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs both backends")
def test_backends_agree():
    M = square_problem(500, seed=26)
    out = {}
    for name in BACKENDS:
        k = _ops.kernels(name)
        ip, ix, d = arrays(M, np.int64)
        b = np.random.default_rng(27).uniform(size=500)
        v = np.zeros(500)
        norms = k.gauss_seidel(ip, ix, d, b, v, 0, 500, 3)
        out[name] = (v, norms)
    assert_array_equal(out["cython"][0], out["numba"][0])
    assert out["cython"][1] == out["numba"][1]


def test_same_function_names():
    import lab._kernels.numba_kernels as nk

    names = set(nk.__all__)
    assert {"csr_matvec", "gauss_seidel", "strongly_connected_components",
            "set_num_threads", "get_num_threads"} <= names
    if "cython" in BACKENDS:
        cy = _ops.kernels("cython")
        assert names <= set(dir(cy))


def test_resolve_backend_names(monkeypatch):
    monkeypatch.delenv("LAB_BACKEND", raising=False)
    assert _ops.resolve_backend("numba") == "numba"
    assert _ops.resolve_backend("auto") in BACKENDS
    with pytest.raises(ValueError, match="'cython', 'numba'"):
        _ops.resolve_backend("fortran")
    with pytest.raises(ValueError):
        _ops.kernels("auto")
    monkeypatch.setenv("LAB_BACKEND", "numba")
    assert _ops.resolve_backend() == "numba"
    monkeypatch.setenv("LAB_BACKEND", "julia")
    with pytest.raises(ValueError, match="LAB_BACKEND"):
        _ops.resolve_backend()


def test_missing_cython_warns_once(monkeypatch):
    monkeypatch.delenv("LAB_BACKEND", raising=False)
    monkeypatch.setattr(_ops, "_cython_state", {"error": ImportError("no module _cy")})
    monkeypatch.setattr(_ops, "_warned", False)
    assert _ops.available_backends() == ("numba",)
    with pytest.warns(BackendWarning, match="Numba") as record:
        assert _ops.resolve_backend("auto") == "numba"
    assert len(record) == 1 and "C compiler" in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _ops.resolve_backend() == "numba"  # only one warning per process
    with pytest.raises(ValueError, match="backend='cython'"):
        _ops.resolve_backend("cython")


def test_csr_arrays():
    M = square_problem(20)
    M.indptr = M.indptr.astype(np.int64)
    ip, ix, d = _ops.csr_arrays(M)
    assert ip.dtype == ix.dtype == np.int64 and d.dtype == np.float64
    ip, ix, d = _ops.csr_arrays(M, index_dtype=np.int32)
    assert ip.dtype == ix.dtype == np.int32


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs both backends")
def test_hybrid_gauss_seidel_norms_have_no_race():
    """Chunked sweeps on tiny matrices, many times: both backends agree bit for bit.

    Regression: the Cython kernel once shared its per-chunk norms between threads
    (about 1 wrong result in 1000 calls).
    """
    rng = np.random.default_rng(31)
    cy, nb = _ops.kernels("cython"), _ops.kernels("numba")
    with _ops.thread_limit(2, "cython"), _ops.thread_limit(2, "numba"):
        for _ in range(3000):
            M = sp.random(7, 7, density=0.5, random_state=rng, format="csr") * 0.1
            b, v = rng.uniform(size=7), rng.uniform(size=7)
            v1, v2 = v.copy(), v.copy()
            norms1 = cy.gauss_seidel(M.indptr, M.indices, M.data, b, v1, 0, 7, 5)
            norms2 = nb.gauss_seidel(M.indptr, M.indices, M.data, b, v2, 0, 7, 5)
            assert norms1 == norms2
            assert_array_equal(v1, v2)


# --------------------------------------------------------------------------- Krylov (fused)

# Large enough (nnz ≥ SERIAL_WORK) for several dynamically scheduled chunks.
KRYLOV_SIZES = [0, 1, 7, 500, 30_000]


def _krylov_case(n, idx, dtype=np.float64, seed=11):
    M = square_problem(n, seed=seed, density=min(1.0, 12 / max(n, 1)))
    ip, ix, d = arrays(M, idx, dtype)
    M_ref = sp.csr_matrix((d.astype(np.float64), M.indices, M.indptr), shape=M.shape)
    rng = np.random.default_rng(seed)
    return ip, ix, d, M_ref, rng


DIRECTIONS = pytest.mark.parametrize("directions", [np.float64, np.float32],
                                     ids=["dir64", "dir32"])


@DIRECTIONS
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("n", KRYLOV_SIZES)
def test_bicgstab_matvec_dots(kern, idx, n, dtype, directions):
    """The products against scipy's, the gathered vector float64 or float32 (the
    reference product is of its float32 values exactly, in float64)."""
    ip, ix, d, M, rng = _krylov_case(n, idx, dtype)
    gathered, w = rng.standard_normal(n).astype(directions), rng.standard_normal(n)
    x = gathered.astype(np.float64)
    y = np.full(n, np.nan)
    dot = kern.bicgstab_matvec_dot(ip, ix, d, gathered, w, y)
    ref = x - M @ x
    assert_allclose(y, ref, rtol=1e-13, atol=1e-13)
    assert dot == pytest.approx(float(w @ ref), rel=1e-11, abs=1e-11)
    y2 = np.full(n, np.nan)
    yx, yy = kern.bicgstab_matvec_dot2(ip, ix, d, gathered, y2)
    assert_allclose(y2, ref, rtol=1e-13, atol=1e-13)
    assert yx == pytest.approx(float(ref @ x), rel=1e-11, abs=1e-11)
    assert yy == pytest.approx(float(ref @ ref), rel=1e-11, abs=1e-11)


@DIRECTIONS
@pytest.mark.parametrize("n", KRYLOV_SIZES)
def test_bicgstab_vector_updates(kern, n, directions):
    """Each update against NumPy, with float64 directions (s the residual itself, as
    _krylov passes it) and float32 ones (s a rounded copy of the residual)."""
    rng = np.random.default_rng(12)
    x, r, t, w, v = (rng.standard_normal(n) for _ in range(5))
    p = rng.standard_normal(n).astype(directions)
    p64 = p.astype(np.float64)
    alpha, omega, beta = 0.37, -1.2, 0.8
    r1 = r.copy()
    s = r1 if directions is np.float64 else np.full(n, np.nan, dtype=directions)
    smax = kern.bicgstab_update_s(r1, v, alpha, s)
    assert_allclose(r1, r - alpha * v, rtol=1e-15, atol=1e-15)
    assert_array_equal(s, (r - alpha * v).astype(directions))
    assert smax == pytest.approx(np.abs(r - alpha * v).max(initial=0.0), rel=1e-15)
    x1, r2 = x.copy(), r.copy()
    s = r2 if directions is np.float64 else r.astype(directions)
    x_ref = x + alpha * p64 + omega * s.astype(np.float64)  # before r2 (maybe s) changes
    dot, rmax, xmax = kern.bicgstab_update_xr(x1, p, r2, s, t, w, alpha, omega)
    r_ref = r - omega * t
    assert_allclose(x1, x_ref, rtol=1e-14, atol=1e-14)
    assert_allclose(r2, r_ref, rtol=1e-14, atol=1e-14)
    assert dot == pytest.approx(float(w @ r_ref), rel=1e-11, abs=1e-11)
    assert rmax == pytest.approx(np.abs(r_ref).max(initial=0.0), rel=1e-15)
    assert xmax == pytest.approx(np.abs(x_ref).max(initial=0.0), rel=1e-15)
    p1 = p.copy()
    kern.bicgstab_update_p(p1, r, v, beta, omega)
    p_ref = r + beta * (p64 - omega * v)
    if directions is np.float32:  # rounded once, from the float64 value
        assert_array_equal(p1, p_ref.astype(np.float32))
    else:
        assert_allclose(p1, p_ref, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("n", [30_000, 200_000])  # one chunk, several
def test_bicgstab_kernels_nan_propagates(kern, n):
    r, v = np.ones(n), np.ones(n)
    r[n // 3] = np.nan
    assert np.isnan(kern.bicgstab_update_s(r, v, 0.5, r))
    x, p, t, w = np.zeros(n), np.ones(n), np.ones(n), np.ones(n)
    _, rmax, xmax = kern.bicgstab_update_xr(x, p, r, r, t, w, 1.0, 1.0)
    assert np.isnan(rmax) and np.isnan(xmax)
    # NaN in x alone; an infinite entry is a maximum, not NaN
    x, r = np.zeros(n), np.ones(n)
    p[n - 2] = np.nan
    _, rmax, xmax = kern.bicgstab_update_xr(x, p, r, r, t, w, 1.0, 1.0)
    assert rmax == 0.0 and np.isnan(xmax)
    r, v = np.ones(n), np.ones(n)
    v[7] = -np.inf
    assert kern.bicgstab_update_s(r, v, 1.0, np.empty(n, np.float32)) == np.inf


def test_bicgstab_kernels_same_bits_on_any_thread_count(kern, backend, idx):
    """Reductions are summed chunk by chunk in a fixed order: 1 and 2 threads agree to
    the last bit, and so do the two backends (checked in test_backends_agree_krylov)."""
    ip, ix, d, _, rng = _krylov_case(40_000, idx)
    x, w = rng.standard_normal(40_000), rng.standard_normal(40_000)
    out = {}
    for threads in (1, 2):
        with _ops.thread_limit(threads, backend):
            y = np.empty(40_000)
            out[threads] = (kern.bicgstab_matvec_dot(ip, ix, d, x, w, y),
                            kern.bicgstab_matvec_dot2(ip, ix, d, x, y), y)
    assert out[1][0] == out[2][0] and out[1][1] == out[2][1]
    assert_array_equal(out[1][2], out[2][2])


def test_backends_agree_krylov():
    if len(BACKENDS) < 2:
        pytest.skip("one backend only")
    ip, ix, d, _, rng = _krylov_case(40_000, np.int32)
    x, w = rng.standard_normal(40_000), rng.standard_normal(40_000)
    got = []
    for name in BACKENDS:
        y = np.empty(40_000)
        got.append(_ops.kernels(name).bicgstab_matvec_dot(ip, ix, d, x, w, y))
    assert got[0] == got[1]


# --------------------------------------------------------------------------- techniques


def _techniques_of(m, k, rng, idx):
    """Techniques 0..m-1 make products 0..m-1, the rest a random one: (makes, by_product,
    ptr), product p's techniques being by_product[ptr[p]:ptr[p + 1]]."""
    makes = np.concatenate([np.arange(m), rng.integers(0, m, k - m)])
    by_product = np.argsort(makes, kind="stable").astype(idx)
    ptr = np.zeros(m + 1, dtype=idx)
    np.cumsum(np.bincount(makes, minlength=m), out=ptr[1:])
    return makes, by_product, ptr


def _union(kern, idx, rng, m=40, k=90):
    """A random technology (:func:`_techniques_of`) and the kernel's union pattern:
    (makes, A, (ip, ix), (u_ip, u_ix), nnz)."""
    makes, by_product, ptr = _techniques_of(m, k, rng, idx)
    A = sp.random(m, k, density=0.15, format="csc", random_state=rng)
    A.sort_indices()
    ip, ix = A.indptr.astype(idx), A.indices.astype(idx)
    u_ip, u_ix = np.empty(m + 1, idx), np.empty(A.nnz, idx)
    nnz = kern.technique_union(ip, ix, by_product, ptr, u_ip, u_ix, np.empty(m, idx))
    return makes, A, (ip, ix), (u_ip, u_ix), nnz


def _assert_slots(kern, idx, A, makes, u_ip, u_ix):
    """technique_slots of every technique: each entry points at its own row in its
    product's union column; a technique asked for in a column without its rows raises."""
    k = A.shape[1]
    ip, ix = A.indptr.astype(idx), A.indices.astype(idx)
    slots = np.empty(A.nnz, idx)
    n = kern.technique_slots(ip, ix, u_ip, u_ix, makes.astype(idx), np.arange(k, dtype=idx),
                             slots)
    assert n == A.nnz
    tech = np.repeat(np.arange(k), np.diff(A.indptr))
    assert_array_equal(u_ix[slots], A.indices)
    assert np.all((slots >= u_ip[makes[tech]]) & (slots < u_ip[makes[tech] + 1]))
    # a subset, in another order, concatenated
    some = np.array([k - 1, 0, k // 2], dtype=idx)
    part = np.empty(A.nnz, idx)
    n = kern.technique_slots(ip, ix, u_ip, u_ix, makes[some].astype(idx), some, part)
    expected = np.concatenate([slots[A.indptr[t]:A.indptr[t + 1]] for t in some])
    assert n == expected.size
    assert_array_equal(part[:n], expected)
    # a technique asked for in a column that lacks some of its rows
    rows_of = [set(A.indices[A.indptr[t]:A.indptr[t + 1]]) for t in range(k)]
    t, q = next((t, q) for t in range(k) for q in range(len(u_ip) - 1)
                if not rows_of[t] <= set(u_ix[u_ip[q]:u_ip[q + 1]]))
    with pytest.raises(ValueError, match="union column"):
        kern.technique_slots(ip, ix, u_ip, u_ix, np.array([q], dtype=idx),
                             np.array([t], dtype=idx), part)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_technique_union(kern, idx, seed):
    """Union of each product's technique columns, against a set-based reference, and
    the union position of every technique entry."""
    m = 40
    makes, A, _, (u_ip, u_ix), nnz = _union(kern, idx, np.random.default_rng(seed))
    for p in range(m):
        expected = sorted({int(i) for j in np.flatnonzero(makes == p)
                           for i in A.indices[A.indptr[j]:A.indptr[j + 1]]})
        assert u_ix[u_ip[p]:u_ip[p + 1]].tolist() == expected
    assert nnz == u_ip[-1]
    _assert_slots(kern, idx, A, makes, u_ip, u_ix)


@pytest.mark.parametrize("threads", [1, 2])
def test_technique_union_large(kern, idx, threads):
    """Large enough for the parallel path (ranges of products written apart, then moved
    together): the same union as scipy's product with the 'makes' indicator, on 1 and 2
    threads."""
    rng = np.random.default_rng(4)
    m, k = 3000, 7000
    makes, by_product, ptr = _techniques_of(m, k, rng, idx)
    A = sp.random(m, k, density=0.004, format="csc", random_state=rng)
    A.sort_indices()
    u_ip, u_ix = np.empty(m + 1, idx), np.empty(A.nnz, idx)
    before = kern.get_num_threads()
    kern.set_num_threads(threads)
    try:
        nnz = kern.technique_union(A.indptr.astype(idx), A.indices.astype(idx), by_product,
                                   ptr, u_ip, u_ix, np.empty(m, idx))
    finally:
        kern.set_num_threads(before)
    makes_matrix = sp.csc_array((np.ones(k), (np.arange(k), makes)), shape=(k, m))
    U = sp.csc_array(abs(A) @ makes_matrix)
    U.sort_indices()
    assert nnz == U.nnz == u_ip[-1]
    assert_array_equal(u_ip, U.indptr)
    assert_array_equal(u_ix[:nnz], U.indices)
    _assert_slots(kern, idx, A, makes, u_ip, u_ix)


@pytest.mark.parametrize("seed", [0, 1])
def test_policy_coefficients(kern, idx, seed):
    """The union column of each product holds its chosen technique's coefficients (and
    zeros in the other techniques' rows), as the dense matrix of that choice says."""
    rng = np.random.default_rng(seed)
    m, k = 40, 90
    makes, A, (ip, ix), (u_ip, u_ix), nnz = _union(kern, idx, rng)
    policy = np.array([rng.choice(np.flatnonzero(makes == p)) for p in range(m)], dtype=idx)
    out = np.full(nnz, np.nan)  # every entry is written: zero where the choice has none
    kern.policy_coefficients(ip, ix, A.data, u_ip, u_ix, policy, out)
    chosen = sp.csc_array((out, u_ix[:nnz], u_ip), shape=(m, m)).toarray()
    assert_array_equal(chosen, A.toarray()[:, policy])
    with pytest.raises(ValueError, match="policy"):
        kern.policy_coefficients(ip, ix, A.data, u_ip, u_ix, np.full(m, k, dtype=idx), out)
    # a product given a technique whose rows its union column lacks
    q, t = next((q, t) for q in range(m) for t in range(k)
                if not set(A.indices[A.indptr[t]:A.indptr[t + 1]])
                <= set(u_ix[u_ip[q]:u_ip[q + 1]]))
    wrong = policy.copy()
    wrong[q] = t
    with pytest.raises(ValueError, match="union column"):
        kern.policy_coefficients(ip, ix, A.data, u_ip, u_ix, wrong, out)


@pytest.mark.parametrize("threads", [1, 2])
def test_policy_coefficients_large(kern, backend, idx, threads):
    """Large enough for parallel chunks of products: every union entry written (the
    chosen technique's coefficients, zeros elsewhere), as scipy's product of A with the
    choice's indicator says, on 1 and 2 threads."""
    rng = np.random.default_rng(6)
    m, k = 30_000, 70_000
    makes, by_product, ptr = _techniques_of(m, k, rng, idx)
    A = sp.random(m, k, density=12 / m, format="csc", random_state=rng)
    A.sort_indices()
    ip, ix = A.indptr.astype(idx), A.indices.astype(idx)
    u_ip, u_ix = np.empty(m + 1, idx), np.empty(A.nnz, idx)
    nnz = kern.technique_union(ip, ix, by_product, ptr, u_ip, u_ix, np.empty(m, idx))
    first = ptr[:-1]  # the first technique of each product, then some others
    policy = by_product[first + (rng.random(m) < 0.5) * (np.diff(ptr) - 1)]
    out = np.full(nnz, np.nan)
    with _ops.thread_limit(threads, backend):
        kern.policy_coefficients(ip, ix, A.data, u_ip, u_ix, policy, out)
    got = sp.csc_array((out, u_ix[:nnz], u_ip), shape=(m, m))
    expected = sp.csc_array(A[:, policy.astype(np.int64)])
    assert not np.isnan(out).any()
    assert abs(got - expected).max() == 0.0
    assert np.count_nonzero(out) == expected.nnz


@pytest.mark.parametrize("n", [300, 200_000, 200_001])
def test_scan_rows(kern, backend, idx, n):
    """Largest row sum; products used by no other product plus those using no other; on
    1 and 2 threads (the large case runs in parallel chunks), NaN kept."""
    M = random_csr(n, n, 3.0 / n, seed=13, diag=True)  # some rows empty, every diagonal set
    ip, ix, d = arrays(M, idx)
    C = sp.coo_array(M)
    off = C.row != C.col
    used = np.zeros(n, bool)
    used[C.col[off]] = True
    uses = np.zeros(n, bool)
    uses[C.row[off]] = True
    expected = int((~used).sum() + (~uses).sum())
    for threads in (1, 2):
        with _ops.thread_limit(threads, backend):
            top, ends = kern.scan_rows(ip, ix, d)
        assert ends == expected
        assert top == pytest.approx(float(np.asarray(M.sum(axis=1)).max()), rel=1e-14)
    d[len(d) // 2] = np.nan
    assert np.isnan(kern.scan_rows(ip, ix, d)[0])


@pytest.mark.parametrize("nrhs", [1, 3])
def test_csr_matvec_rows(kern, idx, nrhs):
    M = random_csr(3000, 2000, 0.01, seed=14)
    ip, ix, d = arrays(M, idx)
    rows = np.random.default_rng(15).permutation(3000)[:1700].astype(idx)
    X = np.random.default_rng(16).standard_normal((2000, nrhs))
    out = np.full((1700, nrhs), np.nan)
    kern.csr_matvec_rows(ip, ix, d, rows, X, out)
    assert_allclose(out, (M @ X)[rows], rtol=1e-13, atol=1e-13)


def test_scc_progress(kern, idx):
    """The search publishes its component count and, at the end, that it finished."""
    M = random_csr(5000, 5000, 1.2 / 5000, seed=23)
    ip, ix, _ = arrays(M, idx)
    order, ptr = scc(kern, ip, ix)
    progress = np.zeros(2, np.int64)
    got = [np.empty(5000, idx), np.empty(5000, idx), np.empty(5001, idx)]
    n_blocks = kern.strongly_connected_components(ip, ix, *got, progress)
    assert n_blocks == len(ptr) - 1 and progress.tolist() == [n_blocks, 1]
    assert_array_equal(got[0], order)
    with pytest.raises(ValueError):
        kern.strongly_connected_components(ip, ix, *got, np.zeros(3, np.int64))


def _follow_all(kern, ip, ix, d, B, order, position, ptr, progress, dense_max):
    """block_solve_follow to the end, each large component set to its row of B; returns
    the large components met and the last (k, why)."""
    V, MV = np.zeros_like(B), np.zeros_like(B)
    k, met = 0, []
    while True:
        k, why = kern.block_solve_follow(ip, ix, d, B, V, MV, order, position, ptr, progress,
                                         k, dense_max)
        if why != 1:
            return V, MV, met, (k, why)
        met.append(k)
        rows = order[ptr[k]:ptr[k + 1]]
        V[rows] = B[rows]
        MV[rows] = 0.0
        k += 1


@pytest.mark.parametrize("nrhs", [1, 2])
def test_block_solve_follow_equals_block_solve(kern, backend, idx, nrhs):
    """Following the search (from another thread with Cython, after it with Numba) solves
    every component as block_solve does, stopping at those above dense_max."""
    n = 20000
    M, ip, ix, d, order, position, ptr = _blocked_problem(idx, n=n, seed=24, inputs=1.3)
    sizes = np.diff(ptr)
    dense_max = 3  # three components above it, one of 1,301 products
    big = np.flatnonzero(sizes > dense_max)
    assert big.size >= 2
    B = np.random.default_rng(25).uniform(size=(n, nrhs))
    want, want_mv = np.zeros((n, nrhs)), np.zeros((n, nrhs))
    first = 0
    for k in [*big, len(sizes)]:
        assert kern.block_solve(ip, ix, d, B, want, want_mv, order, position, ptr, first, k,
                                dense_max) == -1
        if k < len(sizes):
            rows = order[ptr[k]:ptr[k + 1]]
            want[rows], want_mv[rows] = B[rows], 0.0
        first = k + 1
    got = [np.empty(n, idx), np.empty(n, idx), np.empty(n + 1, idx)]
    progress = np.zeros(2, np.int64)
    if backend == "cython":
        search = threading.Thread(target=kern.strongly_connected_components,
                                  args=(ip, ix, *got, progress))
        search.start()
        V, MV, met, last = _follow_all(kern, ip, ix, d, B, *got, progress, dense_max)
        search.join()
    else:
        with pytest.raises(ValueError, match="finished"):
            kern.block_solve_follow(ip, ix, d, B, np.zeros_like(B), np.zeros_like(B), *got,
                                    progress, 0, dense_max)
        kern.strongly_connected_components(ip, ix, *got, progress)
        V, MV, met, last = _follow_all(kern, ip, ix, d, B, *got, progress, dense_max)
    assert last == (len(sizes), 0) and met == big.tolist()
    assert_array_equal(V, want)
    assert_array_equal(MV, want_mv)


def test_block_solve_follow_stops(kern, idx):
    """A non-positive pivot (why 2) and a search that failed (why 3) end the pass."""
    M, ip, ix, d, order, position, ptr = _blocked_problem(idx, n=500, seed=20)
    progress = np.array([len(ptr) - 1, 1], np.int64)
    ptr = np.concatenate([ptr, np.zeros(501 - len(ptr), idx)])  # as the search leaves it
    B = np.ones((500, 1))
    sizes = np.diff(ptr[:progress[0] + 1])
    own = [k for k in np.flatnonzero(sizes == 1)[::-1]
           if int(order[ptr[k]]) in ix[ip[order[ptr[k]]]:ip[order[ptr[k]] + 1]]]
    assert own  # a single product that uses itself: make it use 1.5 units of itself
    j = int(order[ptr[own[0]]])
    d2 = d.copy()
    d2[ip[j] + np.flatnonzero(ix[ip[j]:ip[j + 1]] == j)] = 1.5
    k, why = kern.block_solve_follow(ip, ix, d2, B, np.zeros_like(B), np.zeros_like(B),
                                     order, position, ptr, progress, 0, 400)
    assert (k, why) == (own[0], 2)
    failed = np.array([3, 2], np.int64)
    k, why = kern.block_solve_follow(ip, ix, d, B, np.zeros_like(B), np.zeros_like(B),
                                     order, position, ptr, failed, 3, 400)
    assert (k, why) == (3, 3)
    with pytest.raises(ValueError):
        kern.block_solve_follow(ip, ix, d, B, np.zeros_like(B), np.zeros_like(B), order,
                                position, ptr, progress, 501, 400)


# --------------------------------------------------------------------------- levels


def _blocked_problem(idx, n=400, seed=17, inputs=0.9):
    """A square matrix with small cycles and chains (below 1 input a row; above, a large
    cycle too), its components in dependency order from lab's SCC kernel."""
    M = square_problem(n, seed=seed, density=inputs / n)
    ip, ix, d = arrays(M, idx)
    order, position, ptr = np.empty(n, idx), np.empty(n, idx), np.empty(n + 1, idx)
    nb = _ops.kernels("numba").strongly_connected_components(ip, ix, order, position, ptr)
    return M, ip, ix, d, order, position, ptr[:nb + 1]


def test_block_levels(kern, idx):
    M, ip, ix, d, order, position, ptr = _blocked_problem(idx)
    nb = len(ptr) - 1
    by_level, level_ptr = np.empty(nb, idx), np.empty(nb + 1, idx)
    n_levels = kern.block_levels(ip, ix, order, ptr, by_level, level_ptr)
    assert sorted(by_level.tolist()) == list(range(nb))
    level = np.empty(nb, dtype=np.int64)
    for L in range(n_levels):
        block_ids = by_level[level_ptr[L]:level_ptr[L + 1]]
        assert np.all(np.diff(block_ids) > 0)  # block order within a level
        level[block_ids] = L
    block_of = np.searchsorted(ptr, position, side="right") - 1
    C = sp.coo_array(M)  # row j uses column i
    other = block_of[C.row] != block_of[C.col]
    # every block is one level above the highest block it uses (0 if none)
    expected = np.zeros(nb, dtype=np.int64)
    for b in range(nb):  # dependency order: used blocks come first
        used = block_of[C.col[other & (block_of[C.row] == b)]]
        expected[b] = 1 + level[used].max() if used.size else 0
    assert_array_equal(level, expected)


def _level_sorted(kern, idx, ip, ix, order, ptr):
    """The components sorted by level (block order within a level): the product order,
    its inverse, the component and level pointers, the number of levels."""
    nb = len(ptr) - 1
    by_level, level_ptr = np.empty(nb, idx), np.empty(nb + 1, idx)
    n_levels = kern.block_levels(ip, ix, order, ptr, by_level, level_ptr)
    pieces = [order[ptr[k]:ptr[k + 1]] for k in by_level]
    order_l = np.concatenate(pieces + [np.zeros(0, idx)]).astype(idx)
    position_l = np.empty_like(order_l)
    position_l[order_l] = np.arange(len(order_l), dtype=idx)
    ptr_l = np.concatenate([[0], np.cumsum([len(p) for p in pieces])]).astype(idx)
    return order_l, position_l, ptr_l, level_ptr[:n_levels + 1].copy(), n_levels


@pytest.mark.parametrize("nrhs", [1, 3])
def test_block_solve_levels_equals_block_solve(kern, backend, idx, nrhs):
    """In level order, on A's rows and on a copy permuted to that order (streamed), on 1
    and 2 threads: block_solve's answer in dependency order, bit for bit."""
    n = 3000
    M, ip, ix, d, order, position, ptr = _blocked_problem(idx, n=n, seed=18)
    nb = len(ptr) - 1
    order_l, position_l, ptr_l, level_ptr, n_levels = _level_sorted(kern, idx, ip, ix,
                                                                     order, ptr)
    B = np.random.default_rng(19).uniform(size=(n, nrhs))
    serial, serial_mv = np.zeros((n, nrhs)), np.zeros((n, nrhs))
    assert kern.block_solve(ip, ix, d, B, serial, serial_mv, order, position, ptr, 0, nb,
                            400) == -1
    copy = (np.empty(n + 1, idx), np.empty(len(ix), idx), np.empty(len(d)))
    kern.permute_csr(ip, ix, d, order_l, position_l, *copy)
    ident = np.arange(n, dtype=idx)
    for threads in (1, 2):
        with _ops.thread_limit(threads, backend):
            V, MV = np.zeros((n, nrhs)), np.zeros((n, nrhs))
            assert kern.block_solve_levels(ip, ix, d, B, V, MV, order_l, position_l, ptr_l,
                                           level_ptr, 0, n_levels, 400) == -1
            Vc, MVc = np.zeros((n, nrhs)), np.zeros((n, nrhs))
            assert kern.block_solve_levels(*copy, B[order_l], Vc, MVc, ident, ident, ptr_l,
                                           level_ptr, 0, n_levels, 400) == -1
        assert_array_equal(V, serial)  # the same arithmetic, bit for bit
        assert_array_equal(MV, serial_mv)
        assert_array_equal(Vc[position_l], serial)
        assert_array_equal(MVc[position_l], serial_mv)
    assert_allclose(serial_mv, M @ serial, rtol=1e-12)
    dense = np.linalg.solve(np.eye(n) - M.toarray(), B)
    assert_allclose(serial, dense, rtol=1e-10, atol=1e-12)


def test_block_solve_levels_mixes_shared_levels_and_runs_of_small_ones(kern, backend, idx):
    """Levels large enough to be shared between threads, then runs of levels of one chunk
    each (one thread solves a run, with one barrier after it): block_solve's answer bit
    for bit on 1 and 2 threads, and a bad pivot inside a run is reported."""
    n = 40_000
    M, ip, ix, d, order, position, ptr = _blocked_problem(idx, n=n, seed=21, inputs=0.95)
    order_l, position_l, ptr_l, level_ptr, n_levels = _level_sorted(kern, idx, ip, ix,
                                                                     order, ptr)
    widths = np.diff(level_ptr)
    assert widths.max() >= 8192 and np.sum(widths < 1024) >= 3  # both kinds of level
    nb = len(ptr) - 1
    B = np.random.default_rng(22).uniform(size=(n, 1))
    serial, serial_mv = np.zeros((n, 1)), np.zeros((n, 1))
    assert kern.block_solve(ip, ix, d, B, serial, serial_mv, order, position, ptr, 0, nb,
                            400) == -1
    for threads in (1, 2):
        with _ops.thread_limit(threads, backend):
            V, MV = np.zeros((n, 1)), np.zeros((n, 1))
            assert kern.block_solve_levels(ip, ix, d, B, V, MV, order_l, position_l, ptr_l,
                                           level_ptr, 0, n_levels, 400) == -1
        assert_array_equal(V, serial)
        assert_array_equal(MV, serial_mv)
    # a single product of the last level uses 1.5 units of itself
    last = np.arange(ptr_l[level_ptr[n_levels - 1]], ptr_l[level_ptr[n_levels]])
    d2 = d.copy()
    j = int(order_l[last[0]])
    d2[ip[j]:ip[j + 1]] = 0.0
    ix2 = ix.copy()
    ix2[ip[j]:ip[j + 1]] = j  # every entry of its row on itself: a pivot of 1 − 0 ... = 1
    d2[ip[j]] = 1.5
    with _ops.thread_limit(2, backend):
        bad = kern.block_solve_levels(ip, ix2, d2, B, np.zeros((n, 1)), np.zeros((n, 1)),
                                      order_l, position_l, ptr_l, level_ptr, 0, n_levels,
                                      400)
    assert bad >= 0 and order_l[ptr_l[bad]] == j


def test_block_solve_levels_skips_large_and_reports_bad_pivot(kern, idx):
    M, ip, ix, d, order, position, ptr = _blocked_problem(idx, n=500, seed=20)
    order, position, ptr, level_ptr, n_levels = _level_sorted(kern, idx, ip, ix, order, ptr)
    sizes = np.diff(ptr)
    B = np.ones((500, 1))
    V = np.full((500, 1), -7.0)
    kern.block_solve_levels(ip, ix, d, B, V, np.zeros_like(V), order, position, ptr,
                            level_ptr, 0, n_levels, 1)  # dense_max 1: cyclic blocks skipped
    cyclic = np.concatenate([order[ptr[k]:ptr[k + 1]] for k in np.flatnonzero(sizes > 1)]
                            + [np.zeros(0, idx)])
    assert cyclic.size and np.all(V[cyclic] == -7.0)
    assert np.all(V[np.setdiff1d(np.arange(500), cyclic)] != -7.0)
    # a product using 1.5 units of itself has no positive pivot
    d2 = d.copy()
    j = int(order[ptr[np.flatnonzero(sizes == 1)[0]]])
    own = np.flatnonzero(ix[ip[j]:ip[j + 1]] == j)
    if own.size:
        d2[ip[j] + own[0]] = 1.5
        V = np.zeros((500, 1))
        bad = kern.block_solve_levels(ip, ix, d2, B, V, np.zeros_like(V), order, position,
                                      ptr, level_ptr, 0, n_levels, 400)
        assert bad >= 0 and sizes[bad] == 1
    # level pointers that are not component boundaries in order are refused
    wrong = level_ptr.copy()
    wrong[-1] = len(ptr)  # one past the last component
    with pytest.raises(ValueError, match="level_ptr"):
        kern.block_solve_levels(ip, ix, d, B, V, np.zeros_like(V), order, position, ptr,
                                wrong, 0, n_levels, 400)


def _layered_problem(idx, layers=4, width=20_000, inputs=6, seed=23):
    """A supply chain of ``layers`` layers of ``width`` products, each using ``inputs``
    products of the layer before and a little of itself: levels wide enough to be cut
    into many chunks (one component per product, in dependency order)."""
    rng = np.random.default_rng(seed)
    n = layers * width
    rows = np.repeat(np.arange(width, n), inputs)
    cols = (rows // width - 1) * width + rng.integers(0, width, rows.size)
    rows = np.concatenate([rows, np.arange(n)])
    cols = np.concatenate([cols, np.arange(n)])
    vals = np.concatenate([rng.uniform(0.0, 0.9 / inputs, rows.size - n),
                           np.full(n, 0.05)])
    M = sp.csr_array((vals, (rows, cols)), shape=(n, n))
    M.sum_duplicates()
    ip, ix, d = arrays(M, idx)
    order = np.arange(n, dtype=idx)
    return M, ip, ix, d, order, order.copy(), np.arange(n + 1, dtype=idx)


def test_block_solve_levels_wide_levels_on_two_threads(kern, backend, idx):
    """Levels of 20,000 products, cut into chunks that two threads share (one parallel
    region, a barrier between levels): block_solve's answer bit for bit, and a
    non-positive pivot found in a wide level is reported as the first such component
    of that level, the later levels left unsolved."""
    M, ip, ix, d, order, position, ptr = _layered_problem(idx)
    n = M.shape[0]
    order_l, position_l, ptr_l, level_ptr, n_levels = _level_sorted(kern, idx, ip, ix,
                                                                     order, ptr)
    assert n_levels == 4
    B = np.random.default_rng(24).uniform(size=(n, 1))
    serial, serial_mv = np.zeros((n, 1)), np.zeros((n, 1))
    assert kern.block_solve(ip, ix, d, B, serial, serial_mv, order, position, ptr, 0, n,
                            8) == -1
    for threads in (1, 2):
        with _ops.thread_limit(threads, backend):
            for _ in range(3):
                V, MV = np.zeros((n, 1)), np.zeros((n, 1))
                assert kern.block_solve_levels(ip, ix, d, B, V, MV, order_l, position_l,
                                               ptr_l, level_ptr, 0, n_levels, 8) == -1
                assert_array_equal(V, serial)
                assert_array_equal(MV, serial_mv)
    assert_allclose(serial_mv, M @ serial, rtol=1e-12)
    assert_allclose(serial[:, 0], spsolve_triangular(
        (sp.identity(n) - M).tocsr(), B[:, 0], lower=True), rtol=1e-12)
    # two products of the third layer use 1.5 units of themselves
    d2 = d.copy()
    for j in (2 * 20_000 + 17_000, 2 * 20_000 + 3_000):
        d2[ip[j] + np.flatnonzero(ix[ip[j]:ip[j + 1]] == j)[0]] = 1.5
    first_bad = int(position_l[2 * 20_000 + 3_000])  # the component in level order
    for threads in (1, 2):
        with _ops.thread_limit(threads, backend):
            V = np.full((n, 1), -7.0)
            bad = kern.block_solve_levels(ip, ix, d2, B, V, np.zeros_like(V), order_l,
                                          position_l, ptr_l, level_ptr, 0, n_levels, 8)
        assert bad == first_bad
        assert np.all(V[3 * 20_000:] == -7.0)  # the fourth layer was not solved


def test_cheapest_techniques(kern, idx):
    rng = np.random.default_rng(21)
    m, k = 50, 140
    makes, by_product, ptr = _techniques_of(m, k, rng, idx)
    costs = rng.uniform(1.0, 2.0, k)
    costs[m + 3] = costs[makes[m + 3]]  # an exact tie with the product's first technique
    best, low, tied = np.empty(m, idx), np.empty(m), np.empty(m, np.uint8)
    n_tied = kern.cheapest_techniques(costs, by_product, ptr, np.zeros(0, idx), 1e-12, best,
                                      low, tied)
    for p in range(m):
        mine = np.flatnonzero(makes == p)
        assert low[p] == costs[mine].min()
        assert best[p] == mine[np.argmin(costs[mine])]  # the first at the minimum
        assert tied[p] == (np.sum(costs[mine] <= low[p] * (1 + 1e-12)) > 1)
    assert n_tied == tied.sum() >= (1 if costs[m + 3] == low[makes[m + 3]] else 0)
    # the technique in use is kept when it is cheapest to within the tolerance
    current = np.array([np.flatnonzero(makes == p)[-1] for p in range(m)], dtype=idx)
    kern.cheapest_techniques(costs, by_product, ptr, current, 1.0, best, low, tied)
    assert_array_equal(best, current)  # tolerance 100 %: nothing is cheaper beyond it


def _sweep_reference(At, labour, beta, by_product, ptr, order, block_ptr, first, last,
                     max_sweeps, tol, V, best):
    """cheapest_sweep as its docstring states it, in plain Python on dense columns."""
    unpriced = 0
    for b in range(first, last):
        s, e = block_ptr[b], block_ptr[b + 1]
        sweeps = 1 if e - s == 1 else max(max_sweeps, 1)
        for sweep in range(sweeps):
            change = top = 0.0
            for p in order[s:e]:
                costs = {}
                for t in by_product[ptr[p]:ptr[p + 1]]:
                    net = beta[t] - At[t, p]
                    if net > 0:
                        others = At[t].copy()
                        others[p] = 0.0
                        costs[t] = (labour[t] + others @ V) / net
                if not costs:
                    unpriced += sweep == sweeps - 1
                    continue
                t = min(costs, key=lambda j: (costs[j], j))
                change, top = max(change, abs(costs[t] - V[p])), max(top, abs(costs[t]))
                V[p], best[p] = costs[t], t
            if change <= tol * top:
                break
    return unpriced


def test_cheapest_sweep(kern, idx):
    rng = np.random.default_rng(8)
    m, k = 30, 70
    makes, by_product, ptr = _techniques_of(m, k, rng, idx)
    A = sp.random(m, k, density=0.12, random_state=rng, format="lil")
    for t in rng.choice(k, 10, replace=False):
        A[makes[t], t] = rng.uniform(0.05, 0.3)  # techniques using their own product
    # every technique of product 0 uses more of it than it makes: no price
    for t in np.flatnonzero(makes == 0):
        A[0, t] = 1.5
    A = sp.csc_array(A)
    A.sort_indices()
    At = A.toarray().T
    labour, beta = rng.uniform(0.5, 2.0, k), rng.uniform(0.8, 1.2, k)
    order = rng.permutation(m).astype(idx)
    block_ptr = np.array([0, 1, 2, 3, 10, 11, 20, 21, 22, m], dtype=idx)
    args = (A.indptr.astype(idx), A.indices.astype(idx), A.data, labour, beta, by_product,
            ptr, order, block_ptr)
    for first, last, sweeps, tol in [(0, 9, 40, 1e-12), (0, 9, 1, 0.0), (3, 7, 3, 0.0)]:
        V0 = rng.uniform(0.0, 1.0, m)
        best0 = rng.integers(0, k, m).astype(idx)
        V, best = V0.copy(), best0.copy()
        unpriced = kern.cheapest_sweep(*args, first, last, sweeps, tol, V, best)
        Vr, bestr = V0.copy(), best0.copy()
        expected = _sweep_reference(At, labour, beta, by_product, ptr, order, block_ptr,
                                    first, last, sweeps, tol, Vr, bestr)
        assert unpriced == expected
        assert_allclose(V, Vr, rtol=1e-13)
        assert_array_equal(best, bestr)
        untouched = np.setdiff1d(np.arange(m), order[block_ptr[first]:block_ptr[last]])
        assert_array_equal(V[untouched], V0[untouched])
    assert expected == (1 if 0 in order[block_ptr[3]:block_ptr[7]] else 0)
    with pytest.raises(ValueError, match="block"):
        kern.cheapest_sweep(*args, 0, len(block_ptr), 1, 0.0, V, best)


def test_cheapest_sweep_is_exact_without_cycles(kern, idx):
    """On an acyclic technology in dependency order, one sweep solves the Bellman
    equation v_p = min_t c_t(v) (the cheapest techniques' values) to rounding."""
    rng = np.random.default_rng(9)
    m, k = 60, 150
    makes, by_product, ptr = _techniques_of(m, k, rng, idx)
    A = sp.random(m, k, density=0.1, random_state=rng).toarray()
    A[np.arange(m)[:, None] >= makes[None, :]] = 0.0  # inputs only from lower numbers
    A[makes, np.arange(k)] = rng.uniform(0.0, 0.2, k)  # and some of their own product
    A = sp.csc_array(A)
    labour, beta = rng.uniform(0.5, 2.0, k), np.ones(k)
    order = np.arange(m, dtype=idx)  # dependencies first
    V, best = np.zeros(m), np.zeros(m, dtype=idx)
    assert kern.cheapest_sweep(A.indptr.astype(idx), A.indices.astype(idx), A.data, labour,
                               beta, by_product, ptr, order, np.arange(m + 1, dtype=idx),
                               0, m, 1, 0.0, V, best) == 0
    costs = (labour + A.T @ V) / beta
    low = np.array([costs[makes == p].min() for p in range(m)])
    assert_allclose(V, low, rtol=1e-14)
    assert_array_equal(makes[best], np.arange(m))
    assert_allclose(costs[best], V, rtol=1e-14)


def test_component_techniques(kern, idx):
    """A component's techniques split into inputs inside (local positions, A / β) and a
    fixed part (direct cost and the inputs outside at their values), against NumPy."""
    rng = np.random.default_rng(27)
    m, k = 300, 700
    A = sp.random(m, k, density=0.05, format="csc", random_state=rng)
    A.sort_indices()
    labour, beta = rng.uniform(0.5, 2.0, k), rng.uniform(0.8, 1.2, k)
    position = rng.permutation(m).astype(idx)
    start, n = 100, 60  # the component: positions 100..159
    techniques = rng.choice(k, 90, replace=False).astype(np.int64)
    values = rng.uniform(0.0, 3.0, m)
    room = int(np.diff(A.indptr)[techniques].sum())
    in_ptr, fixed = np.empty(91, np.int64), np.empty(90)
    local_in, coef_in = np.full(room, -1, np.int64), np.full(room, np.nan)
    inside = kern.component_techniques(A.indptr.astype(idx), A.indices.astype(idx), A.data,
                                       labour, beta, techniques, position, start, n, values,
                                       in_ptr, local_in, coef_in, fixed)
    assert in_ptr[0] == 0 and in_ptr[-1] == inside and 0 < inside < room
    for j, t in enumerate(techniques):
        col = slice(A.indptr[t], A.indptr[t + 1])
        rows, coef = A.indices[col], A.data[col] / beta[t]
        local = position[rows].astype(np.int64) - start
        mine = (local >= 0) & (local < n)
        assert_array_equal(local_in[in_ptr[j]:in_ptr[j + 1]], local[mine])
        assert_allclose(coef_in[in_ptr[j]:in_ptr[j + 1]], coef[mine], rtol=1e-15)
        assert_allclose(fixed[j], labour[t] / beta[t] + coef[~mine] @ values[rows[~mine]],
                        rtol=1e-14)
    with pytest.raises(ValueError, match="room"):
        kern.component_techniques(A.indptr.astype(idx), A.indices.astype(idx), A.data,
                                  labour, beta, techniques, position, start, n, values,
                                  in_ptr, local_in[:room - 1], coef_in, fixed)
    with pytest.raises(ValueError, match="technique"):
        kern.component_techniques(A.indptr.astype(idx), A.indices.astype(idx), A.data,
                                  labour, beta, np.array([k], np.int64), position, start, n,
                                  values, in_ptr[:2], local_in, coef_in, fixed[:1])


def test_cheapest_sweep_follow_equals_cheapest_sweep(kern, backend, idx):
    """Following the search of the union graph (from another thread with Cython, after
    it with Numba) sweeps every component as cheapest_sweep does, stopping at each
    component above dense_max; a search that failed (why 3) ends the pass."""
    rng = np.random.default_rng(26)
    m, k = 6000, 13000
    _, by_product, ptr = _techniques_of(m, k, rng, idx)
    makes = np.repeat(np.arange(m), np.diff(ptr))[np.argsort(by_product)]
    A = sp.random(m, k, density=2.0 / m, format="lil", random_state=rng).toarray()
    A[np.arange(m)[:, None] >= makes[None, :]] = 0.0  # inputs from lower numbers only
    for lo, hi in [(100, 110), (2000, 2050), (4000, 4003), (5000, 5002)]:
        ring = np.arange(lo, hi)  # but for rings: p's first technique uses p + 1
        A[np.roll(ring, -1), ring] = rng.uniform(0.1, 0.4, ring.size)
    A = sp.csc_array(A)
    ip, ix = A.indptr.astype(idx), A.indices.astype(idx)
    u_ip, u_ix = np.empty(m + 1, idx), np.empty(A.nnz, idx)
    nnz = kern.technique_union(ip, ix, by_product, ptr, u_ip, u_ix, np.empty(m, idx))
    labour, beta = rng.uniform(0.5, 2.0, k), rng.uniform(0.9, 1.1, k)
    args = (ip, ix, A.data, labour, beta, by_product, ptr)
    order, position, block_ptr = np.empty(m, idx), np.empty(m, idx), np.empty(m + 1, idx)
    n_blocks = kern.strongly_connected_components(u_ip, u_ix[:nnz], order, position,
                                                  block_ptr)
    sizes = np.diff(block_ptr[:n_blocks + 1])
    dense_max = 2
    big = np.flatnonzero(sizes > dense_max)
    assert big.size >= 2
    want, want_best = np.zeros(m), np.zeros(m, idx)
    first = 0
    for b in [*big, n_blocks]:
        kern.cheapest_sweep(*args, order, block_ptr, first, b, 30, 1e-12, want, want_best)
        if b < n_blocks:
            kern.cheapest_sweep(*args, order, block_ptr, b, b + 1, 2, 0.0, want, want_best)
        first = b + 1

    got = [np.empty(m, idx), np.empty(m, idx), np.empty(m + 1, idx)]
    progress = np.zeros(2, np.int64)
    V, best = np.zeros(m), np.zeros(m, idx)

    def follow():
        b, met = 0, []
        while True:
            b, why = kern.cheapest_sweep_follow(*args, got[0], got[2], progress, b, dense_max,
                                                30, 1e-12, V, best)
            if why != 1:
                return met, (b, why)
            met.append(b)
            kern.cheapest_sweep(*args, got[0], got[2], b, b + 1, 2, 0.0, V, best)
            b += 1

    if backend == "cython":
        search = threading.Thread(target=kern.strongly_connected_components,
                                  args=(u_ip, u_ix[:nnz], *got, progress))
        search.start()
        met, last = follow()
        search.join()
    else:
        with pytest.raises(ValueError, match="finished"):
            kern.cheapest_sweep_follow(*args, *got[::2], progress, 0, dense_max, 30, 1e-12,
                                       V, best)
        kern.strongly_connected_components(u_ip, u_ix[:nnz], *got, progress)
        met, last = follow()
    assert last == (n_blocks, 0) and met == big.tolist()
    assert_array_equal(V, want)
    assert_array_equal(best, want_best)
    failed = np.array([3, 2], np.int64)
    assert kern.cheapest_sweep_follow(*args, *got[::2], failed, 3, dense_max, 30, 1e-12,
                                      V, best) == (3, 3)


# --------------------------------------------------------------------------- tiles

def _tiled(kern, ip, ix, d, tile_rows, tile_cols):
    n = ip.shape[0] - 1
    n_tiles = (-(-n // tile_rows)) * (-(-n // tile_cols))
    nnz = int(ip[-1])
    out = (np.empty(n_tiles + 1, dtype=np.int64), np.empty(nnz, dtype=np.uint16),
           np.empty(nnz, dtype=np.uint16), np.empty(nnz, dtype=d.dtype))
    kern.tile_csr(ip, ix, d, tile_rows, tile_cols, *out)
    return (*out, tile_rows, tile_cols)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("n,tile_rows,tile_cols", [(0, 4, 4), (1, 1, 1), (7, 2, 4),
                                                   (500, 64, 16), (30_000, 4096, 1024),
                                                   (30_000, 65536, 65536)], ids=str)
def test_tiled_matvec_dots(kern, idx, n, tile_rows, tile_cols, dtype):
    """Tiles hold every entry once, in its tile, at its place; the tiled products (y = Mx
    and y = x − Mx with their three inner products) equal scipy's, partial last bands
    and tiles included."""
    ip, ix, d, M, rng = _krylov_case(n, idx, dtype)
    T = _tiled(kern, ip, ix, d, tile_rows, tile_cols)
    tile_ptr, rows, cols, data = T[:4]
    n_col = -(-n // tile_cols)
    tile_of = np.repeat(np.arange(tile_ptr.size - 1), np.diff(tile_ptr))
    global_rows = (tile_of // max(n_col, 1)) * tile_rows + rows
    global_cols = (tile_of % max(n_col, 1)) * tile_cols + cols
    rebuilt = sp.csr_matrix((data.astype(np.float64), (global_rows, global_cols)),
                            shape=(n, n))
    assert (rebuilt != M).nnz == 0 and tile_ptr[-1] == M.nnz
    x, w = rng.standard_normal(n), rng.standard_normal(n)
    for identity_minus, ref in ((False, M @ x), (True, x - M @ x)):
        y = np.full(n, np.nan)
        dots = kern.tiled_matvec_dots(*T, x, w, y, identity_minus)
        assert_allclose(y, ref, rtol=1e-13, atol=1e-13)
        assert_allclose(dots, [w @ ref, x @ ref, ref @ ref], rtol=1e-11, atol=1e-11)


def test_tiles_same_bits_on_any_thread_count_and_backend(backend, idx):
    """Bands are the chunks of a tiled product: 1 and 2 threads, and both backends,
    give the same bits."""
    ip, ix, d, _, rng = _krylov_case(40_000, idx)
    x, w = rng.standard_normal(40_000), rng.standard_normal(40_000)
    out = {}
    for name in BACKENDS:
        kern = _ops.kernels(name)
        for threads in (1, 2):
            with _ops.thread_limit(threads, name):
                T = _tiled(kern, ip, ix, d, 1024, 4096)
                y = np.empty(40_000)
                out[name, threads] = (T, kern.tiled_matvec_dots(*T, x, w, y, True), y)
    first = out[backend, 1]
    for other in out.values():
        assert all(np.array_equal(a, b) for a, b in zip(first[0][:4], other[0][:4],
                                                         strict=True))
        assert first[1] == other[1]
        assert_array_equal(first[2], other[2])


def test_tiles_nan_propagates_and_bad_shapes_raise(kern):
    ip, ix, d, _, _ = _krylov_case(500, np.int32)
    T = _tiled(kern, ip, ix, d, 64, 64)
    x = np.ones(500)
    x[123] = np.nan
    y = np.empty(500)
    assert np.isnan(kern.tiled_matvec_dots(*T, x, x, y, True)[2])
    with pytest.raises(ValueError, match="powers of two"):
        _tiled(kern, ip, ix, d, 100, 64)
    with pytest.raises(ValueError, match="powers of two"):
        _tiled(kern, ip, ix, d, 1 << 17, 64)
    with pytest.raises(ValueError):
        kern.tiled_matvec_dots(*T[:4], 64, 32, x, x, y, True)  # tile_ptr of other tiles
    with pytest.raises(ValueError):
        kern.tiled_matvec_dots(*T, x, x, np.empty(499), True)


class _KernelByKernel:
    """The Cython backend without one of its fused kernels (BiCGSTAB's by default):
    ``_krylov`` then runs that loop kernel by kernel."""

    def __init__(self, module, hidden="bicgstab_iterations"):
        self._module = module
        self._hidden = hidden

    def __getattr__(self, name):
        if name == self._hidden:
            raise AttributeError(name)
        return getattr(self._module, name)


def _bicgstab_runs(kernels, M, b, x0, threads, **kwargs):
    from lab.values import _krylov

    out = {}
    for name, K in kernels.items():
        for t in threads:
            with _ops.thread_limit(t, "cython" if name != "numba" else "numba"):
                x, history = x0.copy(), []
                res = _krylov.bicgstab(K, M, b, x, on_iteration=history.append, **kwargs)
            out[name, t] = (x, history, res.iterations, res.passes, res.failure)
    return out


@pytest.mark.skipif("cython" not in BACKENDS, reason="the fused kernel is Cython's")
@DIRECTIONS
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("n", [7, 500, 30_000, 200_000])  # one chunk to many
def test_fused_bicgstab_is_the_kernel_by_kernel_loop_to_the_bit(monkeypatch, idx, n, dtype,
                                                                directions):
    """bicgstab_iterations (one parallel region, barriers between the steps) makes the
    iterations the loop of five kernels makes: the same answer, residual history,
    iterations and passes to the bit, on 1 and 2 threads, from zero and from a start,
    and the same as the Numba backend's loop."""
    cy = _ops.kernels("cython")
    assert hasattr(cy, "bicgstab_iterations")
    kernels = {"fused": cy, "loop": _KernelByKernel(cy)}
    if "numba" in BACKENDS:
        kernels["numba"] = _ops.kernels("numba")
    ip, ix, d, _, rng = _krylov_case(n, idx, dtype)
    b = rng.random(n)
    from lab.values import _krylov

    monkeypatch.setattr(_krylov, "FUSED_STEPS", 3)  # several iterations a call
    for x0 in (np.zeros(n), rng.random(n)):
        runs = _bicgstab_runs(kernels, (ip, ix, d), b, x0, (1, 2), tol=1e-12, maxiter=500,
                              directions=directions)
        first = runs["loop", 1]
        assert first[4] is None and first[2] > 0 or n <= 7
        for key, other in runs.items():
            assert_array_equal(other[0], first[0], err_msg=str(key))
            assert other[1:] == first[1:], key


@pytest.mark.skipif("cython" not in BACKENDS, reason="the fused kernel is Cython's")
@pytest.mark.parametrize("per_call", [1, 8])
def test_fused_bicgstab_stops_as_the_loop_does(monkeypatch, per_call):
    """Not finite, out of iterations (calls of FUSED_STEPS and a partial one), and a
    breakdown restarted until MAX_RESTARTS: the same outcome as the loop's."""
    from lab.values import _krylov

    monkeypatch.setattr(_krylov, "FUSED_STEPS", per_call)
    cy = _ops.kernels("cython")
    kernels = {"fused": cy, "loop": _KernelByKernel(cy)}
    ip, ix, d, _, rng = _krylov_case(30_000, np.int32)
    M = (ip, ix, d)
    b = rng.random(30_000)
    runs = _bicgstab_runs(kernels, M, b, np.zeros(30_000), (2,), tol=1e-15,
                          maxiter=_krylov.FUSED_STEPS + 3)
    assert runs["fused", 2][4] == "MAXITER" and runs["fused", 2][2] == _krylov.FUSED_STEPS + 3
    assert runs["fused", 2][1:] == runs["loop", 2][1:]
    bad = b.copy()
    bad[123] = np.nan
    x0 = rng.random(30_000)
    x0[5] = np.inf  # the residual of the start is not finite
    for rhs, start in ((bad, np.zeros(30_000)), (b, x0)):
        runs = _bicgstab_runs(kernels, M, rhs, start, (1,), tol=1e-12, maxiter=50)
        assert runs["fused", 1][4] == runs["loop", 1][4] == "NOT_FINITE"
    # I − M skew-symmetric (a rotation): r·(I − M)r = 0, so every step breaks down
    rot = sp.csr_matrix(np.array([[1.0, 1.0], [-1.0, 1.0]]))
    rot_arrays = (rot.indptr.astype(np.int32), rot.indices.astype(np.int32), rot.data)
    runs = _bicgstab_runs(kernels, rot_arrays, np.array([1.0, 0.5]), np.zeros(2), (1,),
                          tol=1e-12, maxiter=100)
    assert runs["fused", 1][4] == runs["loop", 1][4] == "BREAKDOWN"
    assert runs["fused", 1][1:] == runs["loop", 1][1:]


@pytest.mark.skipif("cython" not in BACKENDS, reason="the fused kernel is Cython's")
def test_fused_bicgstab_under_a_governor_probes_one_iteration_a_call(monkeypatch,
                                                                     quiet_load):
    """Governed, the fused BiCGSTAB makes FUSED_STEPS iterations a call but a single one
    where the governor probes the other thread count (a probe stays short), and the
    answer is the ungoverned one to the bit."""
    from lab.values import _krylov

    monkeypatch.setattr(_krylov, "FUSED_STEPS", 4)
    cy = _ops.kernels("cython")
    n = 30_000
    ip, ix, d, _, rng = _krylov_case(n, np.int32)
    b = rng.random(n)
    governor = _ops.ThreadGovernor("cython", None, work=float(ip[-1]),
                                   kind="test-fused-probes")
    governor.top = max(governor.top, 2)  # probes whatever the machine's cores
    calls = []

    class Recording:
        def __getattr__(self, name):
            return getattr(cy, name)

        def bicgstab_iterations(self, *args):
            calls.append((args[-1], governor.record["countdown"] <= 0))  # (steps, probe)
            return cy.bicgstab_iterations(*args)

    with _ops.thread_limit(2, "cython"):
        x, history = np.zeros(n), []
        out = _krylov.bicgstab(Recording(), (ip, ix, d), b, x, tol=1e-14, maxiter=500,
                               governor=governor, on_iteration=history.append)
    runs = _bicgstab_runs({"fused": cy}, (ip, ix, d), b, np.zeros(n), (2,), tol=1e-14,
                          maxiter=500)
    assert out.failure is None
    assert_array_equal(x, runs["fused", 2][0])
    assert (history, out.iterations, out.passes) == tuple(runs["fused", 2][1:4])
    assert {steps for steps, probe in calls if probe} == {1}
    assert 4 in {steps for steps, probe in calls if not probe}
    assert sum(steps for steps, _ in calls) >= out.iterations


@pytest.mark.skipif("cython" not in BACKENDS, reason="the fused kernel is Cython's")
def test_fused_bicgstab_checks_its_arguments():
    cy = _ops.kernels("cython")
    ip, ix, d, _, _ = _krylov_case(50, np.int32)
    vecs = [np.zeros(50) for _ in range(7)]
    with pytest.raises(ValueError, match="has length"):
        cy.bicgstab_iterations(ip, ix, d, *vecs[:6], np.zeros(49), np.zeros(5),
                               np.zeros(8), 8)
    with pytest.raises(ValueError, match="state"):
        cy.bicgstab_iterations(ip, ix, d, *vecs, np.zeros(4), np.zeros(8), 8)
    with pytest.raises(ValueError, match="history"):
        cy.bicgstab_iterations(ip, ix, d, *vecs, np.zeros(5), np.zeros(3), 8)


# --------------------------------------------------------------------------- Richardson

def _perron_case(n, seed=5, inputs=12):
    """M = Aᵀ for A ≥ 0 with ``inputs`` random inputs a product and column sums in
    [0.7, 0.9]: ρ(M) ≈ 0.8, an outlier; the other eigenvalues within about 0.3 of 0."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n, n * inputs)
    A = sp.csc_array((rng.random(n * inputs), (rows, np.repeat(np.arange(n), inputs))),
                     shape=(n, n))
    A.sum_duplicates()
    A = sp.csc_array(A @ sp.diags_array(rng.uniform(0.7, 0.9, n) / A.sum(axis=0)))
    M = sp.csr_array(A.T)
    M.sort_indices()
    return (M.indptr.astype(np.int32), M.indices.astype(np.int32), M.data), M, rng


def _reference_solve(M, b):
    """(I − M)x = b by scipy's BiCGSTAB to 1e-15 (a random sparse matrix's LU fills in)."""
    from scipy.sparse.linalg import bicgstab

    n = M.shape[0]
    x, info = bicgstab(sp.csr_array(sp.identity(n) - M), b, rtol=1e-15, atol=0.0,
                       maxiter=10_000)
    assert info == 0
    return x


def _richardson_kernels():
    out = {}
    for backend in BACKENDS:
        K = _ops.kernels(backend)
        out[backend] = K
        if hasattr(K, "richardson_iterations"):
            out[backend + "-loop"] = _KernelByKernel(K, "richardson_iterations")
    return out


@pytest.mark.parametrize("n", [3, 2_000, 60_000])
def test_deflated_richardson_against_a_direct_solve(n):
    """Every backend, fused or pass by pass, from zero and from a start: the direct
    answer, the rule met by the true residual, and far fewer passes than Richardson
    without the deflation (ρ ≈ 0.8: about 110 passes for 1e-11)."""
    from lab.values import _krylov

    M_arrays, M, rng = _perron_case(n)
    b = rng.random(n)
    exact = _reference_solve(M, b)
    answers = []
    for name, K in _richardson_kernels().items():
        pair = _krylov.perron_vector(K, M_arrays, n)
        for x0 in (np.zeros(n), exact * rng.uniform(0.99, 1.01, n)):
            x, history = x0.copy(), []
            out = _krylov.deflated_richardson(K, M_arrays, b, x, perron=lambda p=pair: p,
                                              tol=1e-12, maxiter=500,
                                              on_iteration=history.append)
            assert out.failure is None, name
            assert out.passes <= 40 and len(history) == out.iterations
            # the start's M x handed in: the same answer, one pass less
            x2 = x0.copy()
            out2 = _krylov.deflated_richardson(K, M_arrays, b, x2, perron=lambda p=pair: p,
                                               tol=1e-12, maxiter=500, Mx=M @ x0)
            assert out2.passes == out.passes - 1 and out2.failure is None
            assert_allclose(x2, x, rtol=1e-12, atol=0)
            assert np.max(np.abs(b - (x - M @ x))) <= 2e-12 * np.max(np.abs(x)), name
            assert_allclose(x, exact, rtol=1e-10, atol=0)
            answers.append(x)
    for x in answers[2::2]:  # from zero, every backend and the loop agree to rounding
        assert_allclose(x, answers[0], rtol=1e-13, atol=0)


@pytest.mark.skipif("cython" not in BACKENDS, reason="the fused kernel is Cython's")
def test_fused_richardson_does_not_depend_on_the_thread_count(monkeypatch):
    """The fused passes sum their chunks in chunk order: 1 and 2 threads, one pass a
    call or eight, governed or not, give the same bits."""
    from lab.values import _krylov

    cy = _ops.kernels("cython")
    n = 60_000
    M_arrays, _, rng = _perron_case(n)
    b = rng.random(n)
    pair = _krylov.perron_vector(cy, M_arrays, n)
    runs = []
    for threads, per_call, governed in ((1, 8, False), (2, 8, False), (2, 1, False),
                                        (2, 8, True)):
        monkeypatch.setattr(_krylov, "FUSED_PASSES", per_call)
        governor = _ops.ThreadGovernor("cython", None, work=float(M_arrays[0][-1]),
                                       kind="test-richardson") if governed else None
        with _ops.thread_limit(threads, "cython"):
            x, history = np.zeros(n), []
            out = _krylov.deflated_richardson(cy, M_arrays, b, x, perron=lambda: pair,
                                              tol=1e-13, maxiter=500, governor=governor,
                                              on_iteration=history.append)
        runs.append((x, history, out.passes, out.failure))
    for x, history, passes, failure in runs:
        assert failure is None
        assert_array_equal(x, runs[0][0])
        assert (history, passes) == (runs[0][1], runs[0][2])


def test_deflated_richardson_stops_as_documented():
    """Slow where another eigenvalue is near ρ (a ring: every eigenvalue of modulus 0.9),
    not finite, out of passes, and a start that already meets the rule: one pass, and
    the Perron vector is not asked for."""
    from lab.values import _krylov

    n = 300
    ring = sp.csr_array((np.full(n, 0.9), (np.arange(n), (np.arange(n) + 1) % n)),
                        shape=(n, n))
    ring_arrays = (ring.indptr.astype(np.int32), ring.indices.astype(np.int32), ring.data)
    M_arrays, M, rng = _perron_case(2_000)
    b = rng.random(2_000)
    for K in _richardson_kernels().values():
        pair = _krylov.perron_vector(K, ring_arrays, n)
        x = np.zeros(n)
        out = _krylov.deflated_richardson(K, ring_arrays, np.arange(n, dtype=float), x,
                                          perron=lambda p=pair: p, tol=1e-12, maxiter=1000)
        assert out.failure == "SLOW" and out.passes <= 2 + 2 * _krylov.FUSED_PASSES + 8
        assert np.all(np.isfinite(x))
        pair = _krylov.perron_vector(K, M_arrays, 2_000)
        bad = b.copy()
        bad[77] = np.nan
        out = _krylov.deflated_richardson(K, M_arrays, bad, np.zeros(2_000),
                                          perron=lambda p=pair: p, tol=1e-12, maxiter=100)
        assert out.failure == "NOT_FINITE"
        out = _krylov.deflated_richardson(K, M_arrays, b, np.zeros(2_000),
                                          perron=lambda p=pair: p, tol=1e-15, maxiter=3)
        assert out.failure == "MAXITER" and out.iterations == 3
        x = _reference_solve(M, b)

        def no_perron():
            raise AssertionError("the start meets the rule: no Perron vector needed")

        out = _krylov.deflated_richardson(K, M_arrays, b, x, perron=no_perron, tol=1e-10,
                                          maxiter=100)
        assert out.failure is None and out.passes == 1 and out.iterations == 0


def _greedy_reference(M):
    """Greedy colours in row order over the links of M + Mᵀ (self-links ignored)."""
    G = sp.csr_array(M + M.T)
    colors = np.full(M.shape[0], -1)
    for i in range(M.shape[0]):
        taken = set(colors[G.indices[G.indptr[i]:G.indptr[i + 1]]].tolist())
        c = 0
        while c in taken:
            c += 1
        colors[i] = c
    return colors


def test_greedy_colors(kern, idx):
    """No two linked rows share a colour; each row has the smallest colour its earlier
    linked rows leave (the NumPy reference); indices outside the matrix are refused."""
    Ma, M, _ = _perron_case(3_000)
    M = M.copy()
    M.setdiag(0.5)  # self-links do not count
    ip, ix = M.indptr.astype(idx), M.indices.astype(idx)
    T = sp.csr_array(M.T)
    t_ip, t_ix = T.indptr.astype(idx), T.indices.astype(idx)
    colors = np.empty(3_000, dtype=idx)
    n_colors = kern.greedy_colors(ip, ix, t_ip, t_ix, colors)
    assert_array_equal(colors, _greedy_reference(M))
    assert n_colors == colors.max() + 1
    C = sp.coo_array(M)
    linked = C.row != C.col
    assert not np.any(colors[C.row[linked]] == colors[C.col[linked]])
    bad = ix.copy()
    bad[7] = 3_000
    with pytest.raises(ValueError):
        kern.greedy_colors(ip, bad, t_ip, t_ix, colors)
    with pytest.raises(ValueError):
        kern.greedy_colors(ip, ix, t_ip, t_ix, colors[:-1])


def _colored_case(n, seed=5):
    """A _perron_case matrix in colour order (lab.values._colors), b, a Perron pair."""
    from lab.values import _colors, _krylov

    Ma, M, rng = _perron_case(n, seed)
    K = _ops.kernels(BACKENDS[0])
    C = _colors.build(K, Ma)
    Mc = sp.csr_array((C.M[2], C.M[1], C.M[0]), shape=(n, n))
    u, z = _krylov.perron_vector(K, C.M, n)
    return C, Mc, rng.random(n), u, z


def test_gauss_seidel_sweeps_against_numpy(kern):
    """Sweeps in row order (the colours make them parallel) and the deflation after
    each, as a NumPy loop computes them; the change of each sweep in ``history``."""
    n = 5_000
    C, Mc, b, u, z = _colored_case(n)
    d = Mc.diagonal()
    off = sp.csr_array(Mc - sp.diags_array(d))
    x = np.zeros(n)
    state = np.array([b.sum(), z.sum(), 0.0, 0.0])
    history = np.empty(3)
    status, done = kern.gauss_seidel_sweeps(*C.M, b, x, C.color_ptr, u, C.complement, state,
                                            history, 3)
    assert (status, done) == (0, 3)
    ref = np.zeros(n)
    for sweep in range(3):
        before = ref.copy()
        for i in range(n):
            row = slice(off.indptr[i], off.indptr[i + 1])
            ref[i] = (b[i] + off.data[row] @ ref[off.indices[row]]) / (1 - d[i])
        assert history[sweep] == pytest.approx(np.max(np.abs(ref - before)), rel=1e-12)
        ref += (b.sum() - (1 - Mc.sum(axis=0)) @ ref) / z.sum() * u
    assert_allclose(x, ref, rtol=1e-13, atol=0)
    # a sweep whose change meets the rule stops the call
    state[2] = 1.0
    status, done = kern.gauss_seidel_sweeps(*C.M, b, x, C.color_ptr, u, C.complement, state,
                                            history, 3)
    assert (status, done) == (1, 1)
    nan_b = b.copy()
    nan_b[17] = np.nan
    status, done = kern.gauss_seidel_sweeps(*C.M, nan_b, np.zeros(n), C.color_ptr, u,
                                            C.complement, state, history, 3)
    assert (status, done) == (2, 1)
    with pytest.raises(ValueError):
        kern.gauss_seidel_sweeps(*C.M, b, x, C.color_ptr[:-1], u, C.complement, state,
                                 history, 3)


@pytest.mark.skipif("cython" not in BACKENDS, reason="thread counts are the Cython pool's")
def test_gauss_seidel_sweeps_do_not_depend_on_the_thread_count():
    cy = _ops.kernels("cython")
    n = 60_000
    C, _, b, u, z = _colored_case(n)
    runs = []
    for threads in (1, 2):
        with _ops.thread_limit(threads, "cython"):
            x, history = np.zeros(n), np.empty(8)
            state = np.array([b.sum(), z.sum(), 0.0, 0.0])
            cy.gauss_seidel_sweeps(*C.M, b, x, C.color_ptr, u, C.complement, state, history,
                                   8)
        runs.append((x, history))
    assert_array_equal(runs[0][0], runs[1][0])
    assert_array_equal(runs[0][1], runs[1][1])


@pytest.mark.parametrize("n", [3, 2_000, 60_000])
def test_deflated_gauss_seidel_against_a_direct_solve(n):
    """Every backend, from zero and from a start: the direct answer, the rule met by the
    true residual, in fewer sweeps than deflated Richardson needs passes; the start's
    M x handed in saves its pass."""
    from lab.values import _colors, _krylov

    M_arrays, M, rng = _perron_case(n)
    b = rng.random(n)
    exact = _reference_solve(M, b)
    answers = []
    for backend in BACKENDS:
        K = _ops.kernels(backend)
        pair = _krylov.perron_vector(K, M_arrays, n)
        colored = _colors.build(K, M_arrays)
        for x0 in (np.zeros(n), exact * rng.uniform(0.99, 1.01, n)):
            x = x0.copy()
            out = _krylov.deflated_gauss_seidel(K, M_arrays, b, x, colored=lambda c=colored: c,
                                                perron=lambda p=pair: p, tol=1e-12,
                                                maxiter=500)
            assert out.failure is None, backend
            assert np.max(np.abs(b - (x - M @ x))) <= 1e-12 * np.max(np.abs(x)), backend
            assert_allclose(x, exact, rtol=1e-10, atol=0)
            x_r = x0.copy()
            richardson = _krylov.deflated_richardson(K, M_arrays, b, x_r,
                                                     perron=lambda p=pair: p, tol=1e-12,
                                                     maxiter=500)
            if n > 3:
                assert out.passes < richardson.passes, (out.passes, richardson.passes)
            x2 = x0.copy()
            out2 = _krylov.deflated_gauss_seidel(K, M_arrays, b, x2, colored=lambda c=colored: c,
                                                 perron=lambda p=pair: p, tol=1e-12,
                                                 maxiter=500, Mx=M @ x0)
            assert out2.passes == out.passes - 1 and out2.failure is None
            assert_allclose(x2, x, rtol=1e-14, atol=0)
            answers.append(x)
    for x in answers[2::2]:  # from zero, both backends agree to rounding
        assert_allclose(x, answers[0], rtol=1e-13, atol=0)


def test_deflated_gauss_seidel_stops_as_documented():
    """Slow where every eigenvalue has modulus near ρ (a ring of 0.99 a unit), not
    finite, out of sweeps, and a start that already meets the rule: one pass, and
    neither the Perron vector nor the coloured copy is asked for."""
    from lab.values import _colors, _krylov

    n = 301
    ring = sp.csr_array((np.full(n, 0.99), (np.arange(n), (np.arange(n) + 1) % n)),
                        shape=(n, n))
    ring_arrays = (ring.indptr.astype(np.int32), ring.indices.astype(np.int32), ring.data)
    M_arrays, M, rng = _perron_case(2_000)
    b = rng.random(2_000)

    def never():
        raise AssertionError("the start meets the rule: nothing more is needed")

    for backend in BACKENDS:
        K = _ops.kernels(backend)
        pair = _krylov.perron_vector(K, ring_arrays, n)
        colored = _colors.build(K, ring_arrays)
        x = np.zeros(n)
        out = _krylov.deflated_gauss_seidel(K, ring_arrays, np.arange(n, dtype=float), x,
                                            colored=lambda c=colored: c,
                                            perron=lambda p=pair: p, tol=1e-12,
                                            maxiter=1000)
        assert out.failure == "SLOW" and out.passes <= 1 + 2 * _krylov.FUSED_PASSES + 8
        assert np.all(np.isfinite(x))
        pair = _krylov.perron_vector(K, M_arrays, 2_000)
        colored = _colors.build(K, M_arrays)
        bad = b.copy()
        bad[77] = np.nan
        out = _krylov.deflated_gauss_seidel(K, M_arrays, bad, np.zeros(2_000),
                                            colored=lambda c=colored: c,
                                            perron=lambda p=pair: p, tol=1e-12, maxiter=100)
        assert out.failure == "NOT_FINITE"
        out = _krylov.deflated_gauss_seidel(K, M_arrays, b, np.zeros(2_000),
                                            colored=lambda c=colored: c,
                                            perron=lambda p=pair: p, tol=1e-15, maxiter=3)
        assert out.failure == "MAXITER" and out.iterations == 3
        out = _krylov.deflated_gauss_seidel(K, M_arrays, b, _reference_solve(M, b),
                                            colored=never, perron=never, tol=1e-10,
                                            maxiter=100)
        assert out.failure is None and out.passes == 1 and out.iterations == 0


def test_perron_vector_of_a_nonnegative_matrix():
    from lab.values import _krylov

    M_arrays, M, _ = _perron_case(2_000)
    vals, vecs = np.linalg.eig(M.toarray())
    k = int(np.argmax(vals.real))
    exact = np.abs(vecs[:, k].real)
    exact /= exact.max()
    for K in _richardson_kernels().values():
        u, z = _krylov.perron_vector(K, M_arrays, 2_000, steps=40)
        assert_allclose(u, exact, rtol=1e-8, atol=1e-10)
        assert u.max() == 1.0
        assert_allclose(z, u - M @ u, rtol=1e-13, atol=1e-15)


@pytest.mark.skipif("cython" not in BACKENDS, reason="the fused kernel is Cython's")
def test_fused_richardson_checks_its_arguments():
    cy = _ops.kernels("cython")
    (ip, ix, d), _, _ = _perron_case(50)
    vecs = [np.zeros(50) for _ in range(5)]
    with pytest.raises(ValueError, match="has length"):
        cy.richardson_iterations(ip, ix, d, *vecs[:4], np.zeros(49), np.zeros(3),
                                 np.zeros((2, 8)), 8)
    with pytest.raises(ValueError, match="state"):
        cy.richardson_iterations(ip, ix, d, *vecs, np.zeros(4), np.zeros((2, 8)), 8)
    with pytest.raises(ValueError, match="history"):
        cy.richardson_iterations(ip, ix, d, *vecs, np.zeros(3), np.zeros((2, 3)), 8)
    with pytest.raises(ValueError, match="history"):
        cy.richardson_iterations(ip, ix, d, *vecs, np.zeros(3), np.zeros((1, 8)), 8)
