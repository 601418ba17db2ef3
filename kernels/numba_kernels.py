"""Numba kernels of lab on raw CSR arrays.

Same functions, signatures and semantics as the Cython module ``lab._kernels._cy``
(see its docstring for the conventions). Signatures are lazy, so int32 and int64
index arrays (and float32 or float64 data) each get their own compiled version.

Serial kernels use ``@njit(cache=True)``; parallel kernels use ``@njit(parallel=True)``
without ``cache`` (cached parallel functions crash when the thread count changes). All
use ``error_model="numpy"``: a division by zero gives inf or NaN, as in C, which the
callers test for, instead of raising inside a kernel.
``prange`` loops write only to disjoint slices or to per-chunk buffers that are merged
afterwards; there is no ``fastmath`` anywhere (the norms feed stopping tests).

Shape checks are O(1) and raise ``ValueError``; index values are not checked here.
"""

import math

import numba
import numpy as np
from numba import njit, prange

from ._intrinsics import prefetch as _prefetch

__all__ = [
    "bicgstab_matvec_dot",
    "bicgstab_matvec_dot2",
    "bicgstab_update_p",
    "bicgstab_update_s",
    "bicgstab_update_xr",
    "block_levels",
    "block_matrix",
    "block_solve",
    "block_solve_follow",
    "block_solve_levels",
    "cheapest_sweep",
    "cheapest_sweep_follow",
    "cheapest_techniques",
    "component_techniques",
    "csr_matmat",
    "csr_matvec",
    "csr_matvec_rows",
    "csr_rmatmat",
    "csr_rmatvec",
    "gauss_seidel",
    "gauss_seidel_multi",
    "get_num_threads",
    "harmony_dual",
    "identity_minus_matvec",
    "jacobi_step",
    "jacobi_step_multi",
    "permute_csr",
    "policy_coefficients",
    "residual_norms",
    "scan_rows",
    "set_num_threads",
    "strongly_connected_components",
    "technique_slots",
    "technique_union",
    "tile_csr",
    "tiled_matvec_dots",
]


# --------------------------------------------------------------------------- threads


def set_num_threads(n):
    """Set the number of Numba threads used by later kernel calls (1 <= n <= NUMBA_NUM_THREADS)."""
    numba.set_num_threads(int(n))


def get_num_threads():
    """Number of threads Numba's parallel kernels use."""
    return numba.get_num_threads()


# --------------------------------------------------------------------------- helpers


#: Entries ahead whose x the row products prefetch (``_cy._PREFETCH``): the gather
#: x[indices[k]] is the latency-bound part of a product on an economy without locality.
_PREFETCH = np.uintp(64)
_ONE = np.uintp(1)

# Hot loops index with unsigned integers (np.uintp, and only unsigned arithmetic on
# them: uint64 mixed with int64 becomes float64 in Numba). A signed index makes Numba
# add a negative-index fix-up to every access, where the Cython kernels are compiled
# with wraparound off: on the 50,000-product block of the generated 10⁶ economy one
# product y = x − M x took 1.20 ms signed against 0.79 ms unsigned and 0.70 ms in
# Cython (one thread). Indices are validated before any kernel runs.


@njit(cache=True, inline="always", error_model="numpy")
def _row_dot(indptr, indices, data, x, i, nnz):
    """Σ_k data[k] x[indices[k]] over row i, prefetching x for the entries ahead (the
    same order of summation as ``_cy._row_dot``)."""
    s = 0.0
    end = np.uintp(nnz)
    row = np.uintp(i)
    for k in range(np.uintp(indptr[row]), np.uintp(indptr[row + _ONE])):
        kp = k + _PREFETCH
        if kp < end:
            _prefetch(x, indices[kp], 0)
        s += data[k] * np.float64(x[np.uintp(indices[k])])  # float32 × float32 in double
    return s


@njit(cache=True, inline="always", error_model="numpy")
def _nanmax(m, d):
    """max(m, d) that keeps a NaN once seen."""
    if d > m or d != d:
        if m == m:
            return d
    return m


@njit(cache=True, error_model="numpy")
def _check_csr(indptr, n_idx, n_data):
    if indptr.shape[0] < 1:
        raise ValueError("indptr must have length n_rows + 1 >= 1")
    nnz = indptr[indptr.shape[0] - 1]
    if indptr[0] != 0 or nnz < 0 or nnz > n_idx or nnz > n_data:
        raise ValueError("inconsistent CSR arrays (indptr[0] != 0 or indptr[-1] > len(indices))")


@njit(cache=True, error_model="numpy")
def _check_len(got, want):
    if got != want:
        raise ValueError("array has the wrong length")


@njit(cache=True, error_model="numpy")
def _check_shape(got, want0, want1):
    if got.shape[0] != want0 or got.shape[1] != want1:
        raise ValueError("array has the wrong shape")


#: Below this many multiply-adds a kernel call runs serially, without starting the
#: thread pool (see the Cython backend's SERIAL_WORK; same value, same results).
SERIAL_WORK = 1 << 16


#: Work per chunk of a row-parallel call and the most chunks (see the Cython backend's
#: CHUNK_WORK: same values, so both backends sum reductions over the same chunks).
CHUNK_WORK = 1 << 15
#: Work below which a thread governor's step stays on one thread (the Cython backend's
#: TEAM_MIN_WORK, where each call also applies it: a sleeping thread's wake-up costs
#: more than half of a smaller call).
TEAM_MIN_WORK = 1 << 18
MAX_CHUNKS = 1024


@njit(cache=True)
def _n_chunks(n_rows, work):
    """Chunks of a row-parallel call: about CHUNK_WORK each, 1 below SERIAL_WORK, at most
    n_rows and MAX_CHUNKS; independent of the thread count (deterministic reductions).
    The chunks are handed to threads dynamically (parallel chunk size 1)."""
    if work < SERIAL_WORK or n_rows <= 1:
        return 1
    c = work // CHUNK_WORK
    if c > MAX_CHUNKS:
        c = MAX_CHUNKS
    if c > n_rows:
        c = n_rows
    return max(c, 1)


@njit  # no cache: numba.get_num_threads() is a dynamic global
def _n_work_chunks(n_rows, work):
    if work < SERIAL_WORK:
        return 1
    nt = numba.get_num_threads()
    if nt > n_rows:
        nt = n_rows
    if nt < 1:
        nt = 1
    return nt


@njit(cache=True, error_model="numpy")
def _nnz_bounds(indptr, n_rows, n_chunks):
    """Rows split into n_chunks contiguous ranges of about equal nnz."""
    bounds = np.empty(n_chunks + 1, dtype=np.intp)
    nnz = np.intp(indptr[n_rows])
    bounds[0] = 0
    for t in range(1, n_chunks):
        target = (nnz * t) // n_chunks
        lo = bounds[t - 1]
        hi = n_rows
        while lo < hi:
            mid = lo + (hi - lo) // 2
            if indptr[mid] < target:
                lo = mid + 1
            else:
                hi = mid
        bounds[t] = lo
    bounds[n_chunks] = n_rows
    return bounds


# --------------------------------------------------------------------------- products


@njit(cache=True, error_model="numpy")
def _matvec_rows(indptr, indices, data, x, out, lo, hi, identity_minus):
    nnz = indptr[indptr.shape[0] - 1]
    for i in range(np.uintp(lo), np.uintp(hi)):
        s = _row_dot(indptr, indices, data, x, i, nnz)
        out[i] = x[i] - s if identity_minus else s


@njit(cache=True, error_model="numpy")
def _matmat_rows(indptr, indices, data, X, out, lo, hi):
    r = X.shape[1]
    if r == 1:  # the sum in a register (as the Cython kernel): the same bits, faster
        for i in range(lo, hi):
            s = 0.0
            for k in range(indptr[i], indptr[i + 1]):
                s += data[k] * X[indices[k], 0]
            out[i, 0] = s
        return
    for i in range(lo, hi):
        for q in range(r):
            out[i, q] = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            a = data[k]
            c = indices[k]
            for q in range(r):
                out[i, q] += a * X[c, q]


@njit(parallel=True, error_model="numpy")
def csr_matvec(indptr, indices, data, x, out):
    """out = M @ x; parallel over nnz-balanced row chunks. len(out) = n_rows."""
    n = indptr.shape[0] - 1
    _check_csr(indptr, indices.shape[0], data.shape[0])
    _check_len(out.shape[0], n)
    nchunks = _n_chunks(n, indptr[n])
    if nchunks == 1:  # small call: no thread pool
        _matvec_rows(indptr, indices, data, x, out, 0, n, False)
        return
    bounds = _nnz_bounds(indptr, n, nchunks)
    old = numba.set_parallel_chunksize(1)  # chunks handed out dynamically
    for t in prange(nchunks):
        _matvec_rows(indptr, indices, data, x, out, bounds[t], bounds[t + 1], False)
    numba.set_parallel_chunksize(old)


@njit(parallel=True, error_model="numpy")
def identity_minus_matvec(indptr, indices, data, x, out):
    """out = x - M @ x for square M (the Krylov operator I - M). out must not alias x."""
    n = indptr.shape[0] - 1
    _check_csr(indptr, indices.shape[0], data.shape[0])
    _check_len(x.shape[0], n)
    _check_len(out.shape[0], n)
    nchunks = _n_chunks(n, indptr[n])
    if nchunks == 1:
        _matvec_rows(indptr, indices, data, x, out, 0, n, True)
        return
    bounds = _nnz_bounds(indptr, n, nchunks)
    old = numba.set_parallel_chunksize(1)  # chunks handed out dynamically
    for t in prange(nchunks):
        _matvec_rows(indptr, indices, data, x, out, bounds[t], bounds[t + 1], True)
    numba.set_parallel_chunksize(old)


@njit(cache=True, error_model="numpy")
def _matvec_rows_listed(indptr, indices, data, rows, X, out, lo, hi):
    r = X.shape[1]
    for t in range(lo, hi):
        i = rows[t]
        for q in range(r):
            out[t, q] = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            a = data[k]
            c = indices[k]
            for q in range(r):
                out[t, q] += a * X[c, q]


@njit(parallel=True, error_model="numpy")
def csr_matvec_rows(indptr, indices, data, rows, X, out):
    """out[t] = (M @ X)[rows[t]] for the listed rows only; see ``_cy.csr_matvec_rows``."""
    nr = rows.shape[0]
    r = X.shape[1]
    _check_csr(indptr, indices.shape[0], data.shape[0])
    _check_shape(out, nr, r)
    nchunks = _n_chunks(nr, 12 * nr * r)
    if nchunks == 1:
        _matvec_rows_listed(indptr, indices, data, rows, X, out, 0, nr)
        return
    old = numba.set_parallel_chunksize(1)
    for ch in prange(nchunks):
        _matvec_rows_listed(indptr, indices, data, rows, X, out, (nr * ch) // nchunks,
                            (nr * (ch + 1)) // nchunks)
    numba.set_parallel_chunksize(old)


@njit(cache=True, error_model="numpy")
def _rmatvec_rows(indptr, indices, data, x, out, lo, hi):
    for j in range(out.shape[0]):
        out[j] = 0.0
    for i in range(lo, hi):
        s = x[i]
        for k in range(indptr[i], indptr[i + 1]):
            out[indices[k]] += data[k] * s


@njit(parallel=True, error_model="numpy")
def csr_rmatvec(indptr, indices, data, x, out):
    """out = M.T @ x; len(x) = n_rows, len(out) = n_cols. The kernel zeroes out.

    One nnz-balanced row chunk per thread scatters into its own buffer; buffers are
    summed in chunk order (deterministic for a given thread count).
    """
    n = indptr.shape[0] - 1
    m = out.shape[0]
    _check_csr(indptr, indices.shape[0], data.shape[0])
    _check_len(x.shape[0], n)
    nchunks = _n_work_chunks(n, indptr[n])
    if nchunks <= 1:
        _rmatvec_rows(indptr, indices, data, x, out, 0, n)
        return
    bounds = _nnz_bounds(indptr, n, nchunks)
    buf = np.empty((nchunks, m), dtype=np.float64)
    for t in prange(nchunks):
        _rmatvec_rows(indptr, indices, data, x, buf[t], bounds[t], bounds[t + 1])
    for j in prange(m):
        s = buf[0, j]
        for t in range(1, nchunks):
            s += buf[t, j]
        out[j] = s


@njit(parallel=True, error_model="numpy")
def csr_matmat(indptr, indices, data, X, out):
    """out = M @ X; X has shape (n_cols, r), out (n_rows, r), both C-contiguous."""
    n = indptr.shape[0] - 1
    r = X.shape[1]
    _check_csr(indptr, indices.shape[0], data.shape[0])
    _check_shape(out, n, r)
    nchunks = _n_chunks(n, indptr[n] * r)
    if nchunks == 1:
        _matmat_rows(indptr, indices, data, X, out, 0, n)
        return
    bounds = _nnz_bounds(indptr, n, nchunks)
    old = numba.set_parallel_chunksize(1)  # chunks handed out dynamically
    for t in prange(nchunks):
        _matmat_rows(indptr, indices, data, X, out, bounds[t], bounds[t + 1])
    numba.set_parallel_chunksize(old)


@njit(cache=True, error_model="numpy")
def _rmatmat_rows(indptr, indices, data, X, out, lo, hi):
    r = X.shape[1]
    for j in range(out.shape[0]):
        for q in range(r):
            out[j, q] = 0.0
    for i in range(lo, hi):
        for k in range(indptr[i], indptr[i + 1]):
            a = data[k]
            c = indices[k]
            for q in range(r):
                out[c, q] += a * X[i, q]


@njit(parallel=True, error_model="numpy")
def csr_rmatmat(indptr, indices, data, X, out):
    """out = M.T @ X; X has shape (n_rows, r), out (n_cols, r). The kernel zeroes out."""
    n = indptr.shape[0] - 1
    m = out.shape[0]
    r = X.shape[1]
    _check_csr(indptr, indices.shape[0], data.shape[0])
    _check_shape(X, n, r)
    _check_shape(out, m, r)
    nchunks = _n_work_chunks(n, indptr[n] * r)
    if nchunks <= 1:
        _rmatmat_rows(indptr, indices, data, X, out, 0, n)
        return
    bounds = _nnz_bounds(indptr, n, nchunks)
    buf = np.empty((nchunks, m, r), dtype=np.float64)
    for t in prange(nchunks):
        _rmatmat_rows(indptr, indices, data, X, buf[t], bounds[t], bounds[t + 1])
    for j in prange(m):
        for q in range(r):
            s = buf[0, j, q]
            for t in range(1, nchunks):
                s += buf[t, j, q]
            out[j, q] = s


# --------------------------------------------------------------------------- Jacobi


@njit(cache=True, error_model="numpy")
def _jacobi_rows(indptr, indices, data, b, v, v_new, lo, hi):
    res = 0.0
    vmax = 0.0
    nnz = indptr[indptr.shape[0] - 1]
    for i in range(np.uintp(lo), np.uintp(hi)):
        s = b[i] + _row_dot(indptr, indices, data, v, i, nnz)
        v_new[i] = s
        res = _nanmax(res, abs(s - v[i]))
        vmax = _nanmax(vmax, abs(s))
    return res, vmax


@njit(parallel=True, error_model="numpy")
def jacobi_step(indptr, indices, data, b, v, v_new):
    """Fused Jacobi step v_new = b + M @ v; returns (max|v_new - v|, max|v_new|)."""
    n = indptr.shape[0] - 1
    _check_csr(indptr, indices.shape[0], data.shape[0])
    _check_len(b.shape[0], n)
    _check_len(v.shape[0], n)
    _check_len(v_new.shape[0], n)
    nchunks = _n_chunks(n, indptr[n])
    if nchunks == 1:  # small call: no thread pool
        return _jacobi_rows(indptr, indices, data, b, v, v_new, 0, n)
    bounds = _nnz_bounds(indptr, n, nchunks)
    cres = np.zeros(nchunks, dtype=np.float64)
    cmax = np.zeros(nchunks, dtype=np.float64)
    old = numba.set_parallel_chunksize(1)  # chunks handed out dynamically
    for t in prange(nchunks):
        a, c = _jacobi_rows(indptr, indices, data, b, v, v_new, bounds[t], bounds[t + 1])
        cres[t] = a
        cmax[t] = c
    numba.set_parallel_chunksize(old)
    res = 0.0
    vmax = 0.0
    for t in range(nchunks):
        res = _nanmax(res, cres[t])
        vmax = _nanmax(vmax, cmax[t])
    return res, vmax


@njit(cache=True, error_model="numpy")
def _jacobi_rows_multi(indptr, indices, data, B, V, V_new, lo, hi, cres, cmax):
    r = B.shape[1]
    for i in range(lo, hi):
        for q in range(r):
            V_new[i, q] = B[i, q]
        for k in range(indptr[i], indptr[i + 1]):
            a = data[k]
            c = indices[k]
            for q in range(r):
                V_new[i, q] += a * V[c, q]
        for q in range(r):
            s = V_new[i, q]
            cres[q] = _nanmax(cres[q], abs(s - V[i, q]))
            cmax[q] = _nanmax(cmax[q], abs(s))


@njit(cache=True, error_model="numpy")
def _chunk_maxima(a, b, a_out, b_out):
    """Per column, the maxima (NaN kept) over the chunks' rows of a and of b."""
    for q in range(a.shape[1]):
        x = 0.0
        y = 0.0
        for t in range(a.shape[0]):
            x = _nanmax(x, a[t, q])
            y = _nanmax(y, b[t, q])
        a_out[q] = x
        b_out[q] = y


@njit(parallel=True, error_model="numpy")
def jacobi_step_multi(indptr, indices, data, B, V, V_new, res_inf, vnew_inf):
    """Jacobi step for r right-hand sides; per-column norms into res_inf, vnew_inf."""
    n = indptr.shape[0] - 1
    r = B.shape[1]
    _check_csr(indptr, indices.shape[0], data.shape[0])
    _check_shape(B, n, r)
    _check_shape(V, n, r)
    _check_shape(V_new, n, r)
    _check_len(res_inf.shape[0], r)
    _check_len(vnew_inf.shape[0], r)
    nchunks = _n_chunks(n, indptr[n] * r)
    bounds = _nnz_bounds(indptr, n, nchunks)
    cres = np.zeros((nchunks, r), dtype=np.float64)
    cmax = np.zeros((nchunks, r), dtype=np.float64)
    if nchunks == 1:  # small call: no thread pool
        _jacobi_rows_multi(indptr, indices, data, B, V, V_new, 0, n, cres[0], cmax[0])
    else:
        old = numba.set_parallel_chunksize(1)  # chunks handed out dynamically
        for t in prange(nchunks):
            _jacobi_rows_multi(
                indptr, indices, data, B, V, V_new, bounds[t], bounds[t + 1], cres[t], cmax[t]
            )
        numba.set_parallel_chunksize(old)
    _chunk_maxima(cres, cmax, res_inf, vnew_inf)


@njit(cache=True, error_model="numpy")
def _residual_rows(B, AV, V, lo, hi, res, vmax):
    for q in range(V.shape[1]):
        a = 0.0
        c = 0.0
        bad = False
        vbad = False
        for i in range(np.uintp(lo), np.uintp(hi)):
            d = abs((B[i, q] + AV[i, q]) - V[i, q])
            e = abs(V[i, q])
            a = d if d > a else a  # plain comparisons, NaN by flags (as the Cython kernel)
            c = e if e > c else c
            bad |= d != d
            vbad |= e != e
        res[q] = np.nan if bad else a
        vmax[q] = np.nan if vbad else c


@njit(cache=True, error_model="numpy")
def _quotient_rows(b, av, v, lo, hi, out):
    res = 0.0
    vabs = 0.0
    qmax = -np.inf
    qmin = np.inf
    vmin = np.inf
    bad = False
    vbad = False
    qbad = False
    for i in range(lo, hi):
        d = abs((b[i] + av[i]) - v[i])
        e = v[i]
        q = av[i] / e
        res = d if d > res else res
        vabs = abs(e) if abs(e) > vabs else vabs
        qmax = q if q > qmax else qmax
        qmin = q if q < qmin else qmin
        vmin = e if e < vmin else vmin
        bad |= d != d
        vbad |= e != e
        qbad |= q != q
    out[0] = np.nan if bad else res
    out[1] = np.nan if vbad else vabs
    out[2] = np.nan if qbad else qmax
    out[3] = np.nan if qbad else qmin
    out[4] = np.nan if vbad else vmin


@njit(parallel=True, error_model="numpy")
def residual_quotients(b, av, v, out):
    """[max|b + av − v|, max|v|, max av/v, min av/v, min v] in one pass (NaN kept); see
    ``_cy.residual_quotients``."""
    n = v.shape[0]
    _check_len(b.shape[0], n)
    _check_len(av.shape[0], n)
    _check_len(out.shape[0], 5)
    nchunks = _n_chunks(n, 3 * n)
    part = np.empty((nchunks, 5))
    if nchunks == 1:
        _quotient_rows(b, av, v, 0, n, part[0])
    else:
        old = numba.set_parallel_chunksize(1)
        for t in prange(nchunks):
            _quotient_rows(b, av, v, (n * t) // nchunks, (n * (t + 1)) // nchunks, part[t])
        numba.set_parallel_chunksize(old)
    out[0] = 0.0
    out[1] = 0.0
    out[2] = -np.inf if n > 0 else 0.0
    out[3] = np.inf if n > 0 else 0.0
    out[4] = np.inf if n > 0 else 0.0
    for t in range(nchunks):
        out[0] = _nanmax(out[0], part[t, 0])
        out[1] = _nanmax(out[1], part[t, 1])
        out[2] = _nanmax(out[2], part[t, 2])
        out[3] = -_nanmax(-out[3], -part[t, 3])
        out[4] = -_nanmax(-out[4], -part[t, 4])


@njit(parallel=True, error_model="numpy")
def residual_norms(B, AV, V, res_inf, v_inf):
    """Per column: max|B + AV − V| into res_inf, max|V| into v_inf, one pass; see
    ``_cy.residual_norms``."""
    n = V.shape[0]
    r = V.shape[1]
    _check_shape(B, n, r)
    _check_shape(AV, n, r)
    _check_len(res_inf.shape[0], r)
    _check_len(v_inf.shape[0], r)
    nchunks = _n_chunks(n, n * r)
    cres = np.zeros((nchunks, r), dtype=np.float64)
    cmax = np.zeros((nchunks, r), dtype=np.float64)
    if nchunks == 1:
        _residual_rows(B, AV, V, 0, n, cres[0], cmax[0])
    else:
        old = numba.set_parallel_chunksize(1)
        for t in prange(nchunks):
            _residual_rows(B, AV, V, (n * t) // nchunks, (n * (t + 1)) // nchunks, cres[t],
                           cmax[t])
        numba.set_parallel_chunksize(old)
    _chunk_maxima(cres, cmax, res_inf, v_inf)


# --------------------------------------------------------------------------- Krylov

# Fused steps of BiCGSTAB on (I - M) x = b (see lab.values._krylov); the same chunks
# and the same order of summation as the Cython backend.


@njit(cache=True, error_model="numpy")
def _matvec_dot_rows(indptr, indices, data, x, w, y, lo, hi):
    acc = 0.0
    nnz = indptr[indptr.shape[0] - 1]
    for i in range(np.uintp(lo), np.uintp(hi)):
        s = x[i] - _row_dot(indptr, indices, data, x, i, nnz)
        y[i] = s
        acc += w[i] * s
    return acc


@njit(parallel=True, error_model="numpy")
def bicgstab_matvec_dot(indptr, indices, data, x, w, y):
    """y = x - M @ x for square M; returns w . y."""
    n = indptr.shape[0] - 1
    _check_csr(indptr, indices.shape[0], data.shape[0])
    _check_len(x.shape[0], n)
    _check_len(w.shape[0], n)
    _check_len(y.shape[0], n)
    nchunks = _n_chunks(n, indptr[n])
    if nchunks == 1:
        return _matvec_dot_rows(indptr, indices, data, x, w, y, 0, n)
    bounds = _nnz_bounds(indptr, n, nchunks)
    part = np.empty(nchunks)
    old = numba.set_parallel_chunksize(1)  # chunks handed out dynamically
    for t in prange(nchunks):
        part[t] = _matvec_dot_rows(indptr, indices, data, x, w, y, bounds[t], bounds[t + 1])
    numba.set_parallel_chunksize(old)
    acc = 0.0
    for t in range(nchunks):
        acc += part[t]
    return acc


@njit(cache=True, error_model="numpy")
def _matvec_dot2_rows(indptr, indices, data, x, y, lo, hi):
    a = 0.0
    b = 0.0
    nnz = indptr[indptr.shape[0] - 1]
    for i in range(np.uintp(lo), np.uintp(hi)):
        s = x[i] - _row_dot(indptr, indices, data, x, i, nnz)
        y[i] = s
        a += s * x[i]
        b += s * s
    return a, b


@njit(parallel=True, error_model="numpy")
def bicgstab_matvec_dot2(indptr, indices, data, x, y):
    """y = x - M @ x for square M; returns (y . x, y . y)."""
    n = indptr.shape[0] - 1
    _check_csr(indptr, indices.shape[0], data.shape[0])
    _check_len(x.shape[0], n)
    _check_len(y.shape[0], n)
    nchunks = _n_chunks(n, indptr[n])
    if nchunks == 1:
        return _matvec_dot2_rows(indptr, indices, data, x, y, 0, n)
    bounds = _nnz_bounds(indptr, n, nchunks)
    part = np.empty((nchunks, 2))
    old = numba.set_parallel_chunksize(1)
    for t in prange(nchunks):
        a, b = _matvec_dot2_rows(indptr, indices, data, x, y, bounds[t], bounds[t + 1])
        part[t, 0] = a
        part[t, 1] = b
    numba.set_parallel_chunksize(old)
    yx = 0.0
    yy = 0.0
    for t in range(nchunks):
        yx += part[t, 0]
        yy += part[t, 1]
    return yx, yy


@njit(cache=True, error_model="numpy")
def _update_s_rows(r, v, alpha, s, lo, hi):
    m = 0.0
    bad = False
    for i in range(np.uintp(lo), np.uintp(hi)):
        d = r[i] - alpha * v[i]
        r[i] = d
        s[i] = d
        a = abs(d)
        m = a if a > m else m  # a plain comparison, NaN by a flag (as the Cython kernel)
        bad |= d != d
    return np.nan if bad else m


@njit(parallel=True, error_model="numpy")
def bicgstab_update_s(r, v, alpha, s):
    """r -= alpha * v in place, copied to s (r itself, or a float32 vector); returns
    max |r| (NaN if any entry is NaN)."""
    n = r.shape[0]
    _check_len(v.shape[0], n)
    _check_len(s.shape[0], n)
    nchunks = _n_chunks(n, n)
    if nchunks == 1:
        return _update_s_rows(r, v, alpha, s, 0, n)
    part = np.empty(nchunks)
    old = numba.set_parallel_chunksize(1)
    for t in prange(nchunks):
        part[t] = _update_s_rows(r, v, alpha, s, (n * t) // nchunks,
                                 (n * (t + 1)) // nchunks)
    numba.set_parallel_chunksize(old)
    m = 0.0
    for t in range(nchunks):
        m = _nanmax(m, part[t])
    return m


@njit(cache=True, error_model="numpy")
def _update_xr_rows(x, p, r, s, t_vec, w, alpha, omega, lo, hi):
    dot = 0.0
    rm = 0.0
    xm = 0.0
    rbad = False
    xbad = False
    for i in range(np.uintp(lo), np.uintp(hi)):
        xi = x[i] + alpha * np.float64(p[i]) + omega * np.float64(s[i])
        x[i] = xi
        ri = r[i] - omega * t_vec[i]
        r[i] = ri
        dot += w[i] * ri
        # maxima by plain comparisons, NaN by flags (as the Cython kernel)
        a = abs(ri)
        rm = a if a > rm else rm
        rbad |= ri != ri
        a = abs(xi)
        xm = a if a > xm else xm
        xbad |= xi != xi
    return dot, np.nan if rbad else rm, np.nan if xbad else xm


@njit(parallel=True, error_model="numpy")
def bicgstab_update_xr(x, p, r, s, t_vec, w, alpha, omega):
    """x += alpha * p + omega * s; then r -= omega * t_vec, in place (s: the direction
    the last product gathered, r itself or its float32 copy).

    Returns (w . r, max |r|, max |x|) of the updated vectors (maxima propagate NaN).
    """
    n = x.shape[0]
    _check_len(p.shape[0], n)
    _check_len(r.shape[0], n)
    _check_len(s.shape[0], n)
    _check_len(t_vec.shape[0], n)
    _check_len(w.shape[0], n)
    nchunks = _n_chunks(n, 2 * n)
    if nchunks == 1:
        return _update_xr_rows(x, p, r, s, t_vec, w, alpha, omega, 0, n)
    part = np.empty((nchunks, 3))
    old = numba.set_parallel_chunksize(1)
    for t in prange(nchunks):
        a, b, c = _update_xr_rows(x, p, r, s, t_vec, w, alpha, omega, (n * t) // nchunks,
                                  (n * (t + 1)) // nchunks)
        part[t, 0] = a
        part[t, 1] = b
        part[t, 2] = c
    numba.set_parallel_chunksize(old)
    dot = 0.0
    rm = 0.0
    xm = 0.0
    for t in range(nchunks):
        dot += part[t, 0]
        rm = _nanmax(rm, part[t, 1])
        xm = _nanmax(xm, part[t, 2])
    return dot, rm, xm


@njit(cache=True, error_model="numpy")
def _update_p_rows(p, r, v, beta, omega, lo, hi):
    for i in range(np.uintp(lo), np.uintp(hi)):
        p[i] = r[i] + beta * (p[i] - omega * v[i])


@njit(parallel=True, error_model="numpy")
def bicgstab_update_p(p, r, v, beta, omega):
    """p = r + beta * (p - omega * v), in place."""
    n = p.shape[0]
    _check_len(r.shape[0], n)
    _check_len(v.shape[0], n)
    nchunks = _n_chunks(n, n)
    if nchunks == 1:
        _update_p_rows(p, r, v, beta, omega, 0, n)
        return
    old = numba.set_parallel_chunksize(1)
    for t in prange(nchunks):
        _update_p_rows(p, r, v, beta, omega, (n * t) // nchunks, (n * (t + 1)) // nchunks)
    numba.set_parallel_chunksize(old)


# --------------------------------------------------------------------------- tiles
# The tiled storage of a square matrix (see the Cython backend's section comment).


@njit(cache=True, error_model="numpy")
def _check_tiles(n, tile_rows, tile_cols, n_ptr):
    if not (1 <= tile_rows <= 65536 and 1 <= tile_cols <= 65536
            and tile_rows & (tile_rows - 1) == 0 and tile_cols & (tile_cols - 1) == 0):
        raise ValueError("tile sides must be powers of two in [1, 65536]")
    if n_ptr != ((n + tile_rows - 1) // tile_rows) * ((n + tile_cols - 1) // tile_cols) + 1:
        raise ValueError("tile_ptr has the wrong length")


@njit(cache=True, error_model="numpy")
def _tile_count_band(indptr, indices, lo, hi, first, shift, tile_ptr):
    for i in range(lo, hi):
        for k in range(indptr[i], indptr[i + 1]):
            tile_ptr[first + (indices[k] >> shift) + 1] += 1


@njit(cache=True, error_model="numpy")
def _tile_fill_band(indptr, indices, data, lo, hi, first, n_col, shift, tile_cols, tile_ptr,
                    rows, cols, tile_data):
    next_at = tile_ptr[first:first + n_col].copy()
    for i in range(lo, hi):
        for k in range(indptr[i], indptr[i + 1]):
            s = indices[k] >> shift
            p = next_at[s]
            next_at[s] = p + 1
            rows[p] = i - lo
            cols[p] = indices[k] & (tile_cols - 1)
            tile_data[p] = data[k]


@njit(parallel=True, error_model="numpy")
def tile_csr(indptr, indices, data, tile_rows, tile_cols, tile_ptr, rows, cols, tile_data):
    """Cut the square CSR matrix M into tiles (see the Cython backend)."""
    n = indptr.shape[0] - 1
    _check_csr(indptr, indices.shape[0], data.shape[0])
    nnz = indptr[n]
    _check_tiles(n, tile_rows, tile_cols, tile_ptr.shape[0])
    _check_len(rows.shape[0], nnz)
    _check_len(cols.shape[0], nnz)
    _check_len(tile_data.shape[0], nnz)
    shift = 0
    while (1 << shift) < tile_cols:
        shift += 1
    n_bands = (n + tile_rows - 1) // tile_rows
    n_col = (n + tile_cols - 1) // tile_cols
    tile_ptr[:] = 0
    old = numba.set_parallel_chunksize(1)
    for b in prange(n_bands):
        lo = b * tile_rows
        _tile_count_band(indptr, indices, lo, min(lo + tile_rows, n), b * n_col, shift,
                         tile_ptr)
    for t in range(n_bands * n_col):
        tile_ptr[t + 1] += tile_ptr[t]
    for b in prange(n_bands):
        lo = b * tile_rows
        _tile_fill_band(indptr, indices, data, lo, min(lo + tile_rows, n), b * n_col, n_col,
                        shift, tile_cols, tile_ptr, rows, cols, tile_data)
    numba.set_parallel_chunksize(old)


@njit(cache=True, error_model="numpy")
def _tiled_band(tile_ptr, rows, cols, data, tile_cols, n_col, b, lo, m, x, w, y,
                identity_minus):
    acc = y[lo:lo + m]  # the band's sums, in cache until the band is done
    acc[:] = 0.0
    for s in range(n_col):
        t = b * n_col + s
        xs = x[s * tile_cols:]
        for k in range(np.uintp(tile_ptr[t]), np.uintp(tile_ptr[t + 1])):
            acc[rows[k]] += data[k] * xs[cols[k]]
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    for r in range(m):
        v = x[lo + r] - acc[r] if identity_minus else acc[r]
        acc[r] = v
        a0 += w[lo + r] * v
        a1 += x[lo + r] * v
        a2 += v * v
    return a0, a1, a2


@njit(parallel=True, error_model="numpy")
def tiled_matvec_dots(tile_ptr, rows, cols, data, tile_rows, tile_cols, x, w, y,
                      identity_minus):
    """y = M @ x, or y = x - M @ x when identity_minus, for M stored by :func:`tile_csr`;
    returns (w . y, x . y, y . y). y must not alias x or w."""
    n = x.shape[0]
    _check_tiles(n, tile_rows, tile_cols, tile_ptr.shape[0])
    _check_len(w.shape[0], n)
    _check_len(y.shape[0], n)
    nnz = tile_ptr[tile_ptr.shape[0] - 1]
    if tile_ptr[0] != 0 or nnz > rows.shape[0] or nnz > cols.shape[0] or nnz > data.shape[0]:
        raise ValueError("inconsistent tile arrays")
    n_bands = (n + tile_rows - 1) // tile_rows
    n_col = (n + tile_cols - 1) // tile_cols
    part = np.zeros((max(n_bands, 1), 3))
    if nnz < SERIAL_WORK:
        for b in range(n_bands):
            lo = b * tile_rows
            part[b, 0], part[b, 1], part[b, 2] = _tiled_band(
                tile_ptr, rows, cols, data, tile_cols, n_col, b, lo, min(tile_rows, n - lo),
                x, w, y, identity_minus)
    else:
        old = numba.set_parallel_chunksize(1)
        for b in prange(n_bands):
            lo = b * tile_rows
            part[b, 0], part[b, 1], part[b, 2] = _tiled_band(
                tile_ptr, rows, cols, data, tile_cols, n_col, b, lo, min(tile_rows, n - lo),
                x, w, y, identity_minus)
        numba.set_parallel_chunksize(old)
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    for b in range(n_bands):
        a0 += part[b, 0]
        a1 += part[b, 1]
        a2 += part[b, 2]
    return a0, a1, a2


# --------------------------------------------------------------------------- Gauss-Seidel


@njit(cache=True, error_model="numpy")
def _gs_rows(indptr, indices, data, b, v, snap, row_start, row_stop, lo, hi, use_snap):
    """GS over rows lo..hi-1. With use_snap, columns in [row_start, row_stop) outside
    [lo, hi) are read from snap (indexed from row_start)."""
    ch = 0.0
    vm = 0.0
    for j in range(lo, hi):
        s = b[j]
        d = 0.0
        for k in range(indptr[j], indptr[j + 1]):
            c = indices[k]
            if c == j:
                d += data[k]
            elif (not use_snap) or (c >= lo and c < hi) or c < row_start or c >= row_stop:
                s += data[k] * v[c]
            else:
                s += data[k] * snap[c - row_start]
        new = s / (1.0 - d)
        ch = _nanmax(ch, abs(new - v[j]))
        vm = _nanmax(vm, abs(new))
        v[j] = new
    return ch, vm


@njit(cache=True, error_model="numpy")
def _check_range(n, row_start, row_stop, n_chunks):
    if row_start < 0 or row_stop > n or row_start > row_stop:
        raise ValueError("row range [row_start, row_stop) is not inside [0, n)")
    if n_chunks < 1:
        raise ValueError("n_chunks must be a positive integer")


@njit(parallel=True, error_model="numpy")
def _gs_chunks(indptr, indices, data, b, v, row_start, row_stop, n_chunks):
    L = row_stop - row_start
    snap = v[row_start:row_stop].copy()
    cch = np.zeros(n_chunks, dtype=np.float64)
    cvm = np.zeros(n_chunks, dtype=np.float64)
    for t in prange(n_chunks):
        lo = row_start + (t * L) // n_chunks
        hi = row_start + ((t + 1) * L) // n_chunks
        a, c = _gs_rows(indptr, indices, data, b, v, snap, row_start, row_stop, lo, hi, True)
        cch[t] = a
        cvm[t] = c
    ch = 0.0
    vm = 0.0
    for t in range(n_chunks):
        ch = _nanmax(ch, cch[t])
        vm = _nanmax(vm, cvm[t])
    return ch, vm


def gauss_seidel(indptr, indices, data, b, v, row_start, row_stop, n_chunks):
    """In-place forward Gauss-Seidel sweep for v = b + M v over rows row_start..row_stop-1.

    Same semantics as ``_cy.gauss_seidel``: diagonal moved to the left side; the range
    is split into ``n_chunks`` equal-row chunks processed in parallel, reading other
    chunks' values from a snapshot taken at the start of the sweep; ``n_chunks=1`` is
    exact sequential GS. Returns (max |change|, max |v|) over the range.
    """
    n = indptr.shape[0] - 1
    _check_csr(indptr, indices.shape[0], data.shape[0])
    _check_len(b.shape[0], n)
    _check_len(v.shape[0], n)
    row_start = int(row_start)
    row_stop = int(row_stop)
    n_chunks = int(n_chunks)
    _check_range(n, row_start, row_stop, n_chunks)
    L = row_stop - row_start
    if n_chunks > L:
        n_chunks = max(L, 1)
    if n_chunks == 1:
        return _gs_serial(indptr, indices, data, b, v, row_start, row_stop)
    return _gs_chunks(indptr, indices, data, b, v, row_start, row_stop, n_chunks)


@njit(cache=True, error_model="numpy")
def _gs_serial(indptr, indices, data, b, v, row_start, row_stop):
    return _gs_rows(indptr, indices, data, b, v, v, row_start, row_stop, row_start, row_stop,
                    False)


@njit(cache=True, error_model="numpy")
def _gs_rows_multi(indptr, indices, data, B, V, snap, row_start, row_stop, lo, hi, use_snap,
                   acc, change, vmax):
    r = B.shape[1]
    for q in range(r):
        change[q] = 0.0
        vmax[q] = 0.0
    for j in range(lo, hi):
        for q in range(r):
            acc[q] = B[j, q]
        d = 0.0
        for k in range(indptr[j], indptr[j + 1]):
            c = indices[k]
            a = data[k]
            if c == j:
                d += a
            elif (not use_snap) or (c >= lo and c < hi) or c < row_start or c >= row_stop:
                for q in range(r):
                    acc[q] += a * V[c, q]
            else:
                for q in range(r):
                    acc[q] += a * snap[c - row_start, q]
        d = 1.0 - d
        for q in range(r):
            new = acc[q] / d
            change[q] = _nanmax(change[q], abs(new - V[j, q]))
            vmax[q] = _nanmax(vmax[q], abs(new))
            V[j, q] = new


@njit(parallel=True, error_model="numpy")
def _gs_chunks_multi(indptr, indices, data, B, V, row_start, row_stop, n_chunks,
                     change_out, vmax_out):
    L = row_stop - row_start
    r = B.shape[1]
    snap = V[row_start:row_stop].copy()
    acc = np.empty((n_chunks, r), dtype=np.float64)
    cch = np.zeros((n_chunks, r), dtype=np.float64)
    cvm = np.zeros((n_chunks, r), dtype=np.float64)
    for t in prange(n_chunks):
        lo = row_start + (t * L) // n_chunks
        hi = row_start + ((t + 1) * L) // n_chunks
        _gs_rows_multi(indptr, indices, data, B, V, snap, row_start, row_stop, lo, hi, True,
                       acc[t], cch[t], cvm[t])
    for q in range(r):
        a = 0.0
        c = 0.0
        for t in range(n_chunks):
            a = _nanmax(a, cch[t, q])
            c = _nanmax(c, cvm[t, q])
        change_out[q] = a
        vmax_out[q] = c


@njit(cache=True, error_model="numpy")
def _gs_serial_multi(indptr, indices, data, B, V, row_start, row_stop, change_out, vmax_out):
    acc = np.empty(B.shape[1], dtype=np.float64)
    _gs_rows_multi(indptr, indices, data, B, V, V, row_start, row_stop, row_start, row_stop,
                   False, acc, change_out, vmax_out)


def gauss_seidel_multi(indptr, indices, data, B, V, row_start, row_stop, n_chunks,
                       change_out, vmax_out):
    """:func:`gauss_seidel` for r right-hand sides (B, V of shape (n, r)); per-column
    max |change| and max |V| over the range go to change_out and vmax_out."""
    n = indptr.shape[0] - 1
    r = B.shape[1]
    _check_csr(indptr, indices.shape[0], data.shape[0])
    _check_shape(B, n, r)
    _check_shape(V, n, r)
    _check_len(change_out.shape[0], r)
    _check_len(vmax_out.shape[0], r)
    row_start = int(row_start)
    row_stop = int(row_stop)
    n_chunks = int(n_chunks)
    _check_range(n, row_start, row_stop, n_chunks)
    L = row_stop - row_start
    if n_chunks > L:
        n_chunks = max(L, 1)
    if r == 0:
        return
    if n_chunks == 1:
        _gs_serial_multi(indptr, indices, data, B, V, row_start, row_stop, change_out, vmax_out)
    else:
        _gs_chunks_multi(indptr, indices, data, B, V, row_start, row_stop, n_chunks,
                         change_out, vmax_out)


#: Rows per chunk of a colour in gauss_seidel_sweeps (as the Cython backend's), and the
#: fewest chunks for which a colour is shared between threads: each parallel loop of
#: Numba starts its threads anew (the 10⁶ generated core's 16 colours: 3.4 ms a sweep
#: with every colour in parallel, 2.1 ms with 64, 2.3 ms all serial; re-solves after 10³
#: changes with the sweeps 106.4 ms against 103.8 with deflated Richardson,
#: ``python /tmp/s38/sweep_nb.py``, ``/tmp/s38/ab_numba.py``).
GS_CHUNK_ROWS = 64
GS_PARALLEL_CHUNKS = 64


@njit(cache=True, error_model="numpy")
def _gs_color_rows(indptr, indices, data, b, x, complement, lo, hi, out):
    """Gauss–Seidel updates of rows [lo, hi) in order; out = (largest change,
    Σ complement_i x_i of the new values); see ``_cy._gs_color_rows``."""
    change = 0.0
    dot = 0.0
    bad = False
    for i in range(lo, hi):
        d = 0.0
        acc = b[i]
        for p in range(indptr[i], indptr[i + 1]):
            col = indices[p]
            if col == i:
                d += data[p]
            else:
                acc += data[p] * x[col]
        new = acc / (1.0 - d)
        a = abs(new - x[i])
        if a > change:
            change = a
        if a != a or not 1.0 - d > 0.0:
            bad = True
        x[i] = new
        dot += complement[i] * new
    out[0] = np.nan if bad else change
    out[1] = dot


@njit(cache=True, error_model="numpy")
def _gs_color_chunk(indptr, indices, data, b, x, complement, lo, rows, chunks, ch, out):
    """Chunk ``ch`` of ``chunks`` of the colour of ``rows`` rows from ``lo``."""
    _gs_color_rows(indptr, indices, data, b, x, complement, lo + (rows * ch) // chunks,
                   lo + (rows * (ch + 1)) // chunks, out)


@njit(parallel=True, error_model="numpy")
def gauss_seidel_sweeps(indptr, indices, data, b, x, color_ptr, u, complement, state,
                        history, steps):
    """Up to ``steps`` Gauss–Seidel sweeps colour by colour, each followed by the
    deflation of u; returns (status, sweeps). See ``_cy.gauss_seidel_sweeps``: the same
    chunks, the same sums in the same order."""
    n = indptr.shape[0] - 1
    n_colors = color_ptr.shape[0] - 1
    _check_csr(indptr, indices.shape[0], data.shape[0])
    _check_len(b.shape[0], n)
    _check_len(x.shape[0], n)
    _check_len(u.shape[0], n)
    _check_len(complement.shape[0], n)
    _check_len(state.shape[0], 4)
    if history.shape[0] < steps:
        raise ValueError("history is shorter than steps")
    if n_colors < 0 or color_ptr[0] != 0 or color_ptr[n_colors] != n:
        raise ValueError("color_ptr must run from 0 to the number of rows")
    first_chunk = np.zeros(n_colors + 1, dtype=np.int64)
    for c in range(n_colors):
        if color_ptr[c + 1] < color_ptr[c]:
            raise ValueError("color_ptr decreases")
        first_chunk[c + 1] = first_chunk[c] + max(
            1, (color_ptr[c + 1] - color_ptr[c]) // GS_CHUNK_ROWS)
    total = first_chunk[n_colors]
    ch_v = _n_chunks(n, 2 * n)
    part = np.empty((total, 2))
    vmax = np.empty(ch_v)
    bsum, zsum, tol, atol = state[0], state[1], state[2], state[3]
    old = numba.set_parallel_chunksize(1)
    status = 0
    k = 0
    while k < steps:
        for c in range(n_colors):
            lo = color_ptr[c]
            rows = color_ptr[c + 1] - lo
            chunks = first_chunk[c + 1] - first_chunk[c]
            out = part[first_chunk[c]:first_chunk[c + 1]]
            if chunks >= GS_PARALLEL_CHUNKS:
                for ch in prange(chunks):
                    _gs_color_chunk(indptr, indices, data, b, x, complement, lo, rows,
                                    chunks, ch, out[ch])
            else:  # a parallel loop's start costs more than a small colour's rows
                for ch in range(chunks):
                    _gs_color_chunk(indptr, indices, data, b, x, complement, lo, rows,
                                    chunks, ch, out[ch])
        change = 0.0
        dot = 0.0
        for ch in range(total):
            change = _nanmax(change, part[ch, 0])
            dot += part[ch, 1]
        coef = (bsum - dot) / zsum
        for ch in prange(ch_v):
            m = 0.0
            bad = False
            for i in range((n * ch) // ch_v, (n * (ch + 1)) // ch_v):
                xi = x[i] + coef * u[i]
                x[i] = xi
                if abs(xi) > m:
                    m = abs(xi)
                if xi != xi:
                    bad = True
            vmax[ch] = np.nan if bad else m
        xmax = 0.0
        for ch in range(ch_v):
            xmax = _nanmax(xmax, vmax[ch])
        history[k] = change
        k += 1
        if not (math.isfinite(change) and math.isfinite(xmax) and math.isfinite(coef)):
            status = 2
            break
        if change <= max(tol * xmax, atol):
            status = 1
            break
    numba.set_parallel_chunksize(old)
    return status, k


# --------------------------------------------------------------------------- blocks


# Two-bit states of the component search (see ``_cy.strongly_connected_components``).
_UNVISITED, _LIVE, _DONE, _LIVE_ROOT = 0, 1, 2, 3


@njit(inline="always")
def _state(st, v):
    return (st[v >> 2] >> ((v & 3) * 2)) & 3


@njit(inline="always")
def _set_state(st, v, s):
    shift = (v & 3) * 2
    st[v >> 2] = (st[v >> 2] & ~np.uint8(3 << shift)) | np.uint8(s << shift)


def strongly_connected_components(indptr, indices, order, position, block_ptr,
                                  progress=None):
    """Strongly connected components in "dependencies first" order (Pearce's Tarjan,
    each node's state in two bits so that it stays in the cache).

    Writes the members of component k to ``order[block_ptr[k]:block_ptr[k + 1]]`` and
    the inverse of ``order`` to ``position``; every component comes after the components
    it references. Returns the number of components. ``progress`` (two int64), when
    given, receives the number of components and 1 (finished) at the end: this backend
    publishes nothing while it searches, so a substitution pass follows it only once it
    has finished; see ``_cy.strongly_connected_components``.
    """
    if progress is not None and progress.shape[0] != 2:
        raise ValueError("progress has the wrong length (2 expected)")
    nb = _components(indptr, indices, order, position, block_ptr)
    if progress is not None:
        progress[0] = nb
        progress[1] = 1
    return nb


@njit(cache=True, error_model="numpy")
def _components(indptr, indices, order, position, block_ptr):
    """The search of ``strongly_connected_components``, compiled."""
    n = indptr.shape[0] - 1
    if indptr.shape[0] < 1:
        raise ValueError("indptr must have length n + 1 >= 1")
    if indptr[n] > indices.shape[0]:
        raise ValueError("inconsistent CSR arrays: indptr[-1] > len(indices)")
    _check_len(order.shape[0], n)
    _check_len(position.shape[0], n)
    _check_len(block_ptr.shape[0], n + 1)
    block_ptr[0] = 0
    if n == 0:
        return 0
    nnz = indptr[n]
    # rindex: the rank of a live node (ranks are reused once a component completes).
    rindex = np.empty(n, dtype=indices.dtype)
    stack = np.empty(n, dtype=indices.dtype)
    cs_node = np.empty(n, dtype=indices.dtype)
    cs_edge = np.empty(n, dtype=indptr.dtype)
    st = np.zeros((n + 3) // 4, dtype=np.uint8)
    rank = 1
    sp = 0
    pos = 0
    nb = 0
    for root in range(n):
        if _state(st, root) != _UNVISITED:
            continue
        rindex[root] = rank
        rank += 1
        _set_state(st, root, _LIVE_ROOT)
        cs_node[0] = root
        cs_edge[0] = indptr[root]
        csp = 1
        while csp > 0:
            top = np.uintp(csp - 1)
            v = np.uintp(cs_node[top])
            e = np.uintp(cs_edge[top])
            # v's edges up to its next unvisited input, in registers (as _cy does)
            end = np.uintp(indptr[v + _ONE])
            low = rindex[v]
            lowered = False
            found = False
            w = v
            while e < end:
                x = np.uintp(indices[e])
                s = _state(st, x)
                if s == _UNVISITED:
                    w = x
                    found = True
                    break
                if s != _DONE and rindex[x] < low:
                    low = rindex[x]
                    lowered = True
                e += _ONE
            if lowered:
                rindex[v] = low
                _set_state(st, v, _LIVE)
            if found:
                cs_edge[top] = e  # revisit this edge on return
                rindex[w] = rank
                rank += 1
                _set_state(st, w, _LIVE_ROOT)
                cs_node[csp] = w
                cs_edge[csp] = indptr[w]
                csp += 1
                # The search stalls on each new row: start fetching the rows of w's
                # unvisited inputs now, all at once, before descending (as _cy does).
                for p in range(np.uintp(indptr[w]), np.uintp(indptr[w + _ONE])):
                    x = np.uintp(indices[p])
                    if _state(st, x) == _UNVISITED and indptr[x] < nnz:
                        _prefetch(indices, indptr[x], 0)
                continue
            csp -= 1
            if _state(st, v) == _LIVE_ROOT:
                rank -= 1
                order[pos] = v
                position[v] = pos
                pos += 1
                while sp > 0 and rindex[v] <= rindex[np.uintp(stack[sp - 1])]:
                    sp -= 1
                    w = np.uintp(stack[sp])
                    _set_state(st, w, _DONE)
                    order[pos] = w
                    position[w] = pos
                    pos += 1
                    rank -= 1
                _set_state(st, v, _DONE)
                nb += 1
                block_ptr[nb] = pos
            else:
                stack[sp] = v
                sp += 1
    return nb


@njit(cache=True, error_model="numpy")
def scan_rows(indptr, indices, data):
    """``(largest row sum, chain ends)`` in one pass over the rows of Aᵀ; see
    ``_cy.scan_rows``. The products used are marked in a bit set (n/8 bytes)."""
    n = indptr.shape[0] - 1
    _check_csr(indptr, indices.shape[0], data.shape[0])
    used = np.zeros((n + 7) // 8, dtype=np.uint8)
    ends = 0
    top = 0.0
    for j in range(n):
        other = False
        s = 0.0
        for k in range(indptr[j], indptr[j + 1]):
            i = indices[k]
            s += data[k]
            if i != j:
                used[i >> 3] |= np.uint8(1 << (i & 7))
                other = True
        if not other:
            ends += 1
        top = _nanmax(top, s)
    for j in range(n):
        if not (used[j >> 3] >> (j & 7)) & 1:
            ends += 1
    return top, ends


@njit(cache=True, error_model="numpy", inline="always")
def _lu_solve(T, rhs, size, r):
    """Solve T[:size, :size] X = rhs[:size, :r] in place by LU without pivoting; 0, or
    1 + the first pivot that is not positive (see ``_solve_dense_block``)."""
    for c in range(size):
        piv = T[c, c]
        if not piv > 0.0:
            return 1 + c
        for a in range(c + 1, size):
            f = T[a, c] / piv
            if f != 0.0:
                for col in range(c + 1, size):
                    T[a, col] -= f * T[c, col]
                for q in range(r):
                    rhs[a, q] -= f * rhs[c, q]
    for c in range(size - 1, -1, -1):
        for q in range(r):
            f = rhs[c, q]
            for col in range(c + 1, size):
                f -= T[c, col] * rhs[col, q]
            rhs[c, q] = f / T[c, c]
    return 0


@njit(cache=True, error_model="numpy")
def _solve_dense_block(indptr, indices, data, B, V, AV, order, position, s, e, T, rhs):
    """Exact solve of the cyclic component [s, e) by LU without pivoting, and its rows of
    M V in AV; 0 or 1 + bad pivot."""
    size = e - s
    r = B.shape[1]
    for a in range(size):
        for c in range(size):
            T[a, c] = 0.0
        T[a, a] = 1.0
        j = order[s + a]
        for q in range(r):
            rhs[a, q] = B[j, q]
        for p in range(indptr[j], indptr[j + 1]):
            col = indices[p]
            loc = np.intp(position[col]) - s
            if 0 <= loc < size:
                T[a, loc] -= data[p]
            else:
                for q in range(r):
                    rhs[a, q] += data[p] * V[col, q]
    bad = _lu_solve(T, rhs, size, r)
    if bad:
        return bad
    for a in range(size):
        j = order[s + a]
        for q in range(r):
            V[j, q] = rhs[a, q]
    for a in range(size):  # M V of the block's rows, now that V is final there
        j = order[s + a]
        for q in range(r):
            f = 0.0
            for p in range(indptr[j], indptr[j + 1]):
                f += data[p] * V[indices[p], q]
            AV[j, q] = f
    return 0


@njit(cache=True, error_model="numpy", inline="always")
def _solve_single(indptr, indices, data, B, V, AV, j, acc):
    """V[j] = (B[j] + Σ_{i≠j} M_ji V[i]) / (1 − M_jj) and AV[j] = (M V)[j]; False when
    1 − M_jj ≤ 0 (the product consumes at least what it makes)."""
    r = B.shape[1]
    d = 0.0
    for q in range(r):
        acc[q] = 0.0
    for p in range(indptr[j], indptr[j + 1]):
        col = indices[p]
        if col == j:
            d += data[p]
        else:
            for q in range(r):
                acc[q] += data[p] * V[col, q]
    if not 1.0 - d > 0.0:
        return False
    for q in range(r):
        x = (B[j, q] + acc[q]) / (1.0 - d)
        V[j, q] = x
        AV[j, q] = acc[q] + d * x
    return True


@njit(cache=True, error_model="numpy", inline="always")
def _solve_single1(indptr, indices, data, B, V, AV, j):
    """:func:`_solve_single` for one right-hand side (most solves; streamed rows take
    ``_solve_streamed``), the same arithmetic as ``_cy.block_solve``."""
    d = 0.0
    acc = 0.0
    row = np.uintp(j)
    for p in range(np.uintp(indptr[row]), np.uintp(indptr[row + _ONE])):
        col = indices[p]
        if col == j:
            d += data[p]
        else:
            acc += data[p] * V[np.uintp(col), 0]
    if not 1.0 - d > 0.0:
        return False
    x = (B[row, 0] + acc) / (1.0 - d)
    V[row, 0] = x
    AV[row, 0] = acc + d * x
    return True


@njit(cache=True, error_model="numpy")
def block_solve(indptr, indices, data, B, V, AV, order, position, block_ptr, first, last,
                dense_max):
    """Block substitution for V = B + M V over components first..last-1, with the solved
    rows of M V written to AV.

    Single products by division by 1 − M_jj, cyclic components of at most dense_max
    products by dense LU without pivoting. Returns −1, or the first component with a
    non-positive pivot (not productive); see ``_cy.block_solve``.
    """
    n = indptr.shape[0] - 1
    r = B.shape[1]
    _check_csr(indptr, indices.shape[0], data.shape[0])
    _check_shape(B, n, r)
    _check_shape(V, n, r)
    _check_shape(AV, n, r)
    _check_len(order.shape[0], n)
    _check_len(position.shape[0], n)
    if first < 0 or last < first or last >= block_ptr.shape[0]:
        raise ValueError("blocks [first, last) are not inside block_ptr")
    if dense_max < 1:
        raise ValueError("dense_max must be at least 1")
    for k in range(first, last):
        if block_ptr[k + 1] - block_ptr[k] > dense_max:
            raise ValueError("a component is larger than dense_max: solve it separately")
    T = np.empty((dense_max, dense_max))
    rhs = np.empty((dense_max, max(r, 1)))
    acc = np.empty(max(r, 1))
    streamed = first == last or _is_identity(order, block_ptr[first], block_ptr[last])
    return _solve_range(indptr, indices, data, B, V, AV, order, position, block_ptr, first,
                        last, dense_max, streamed, T, rhs, acc)


@njit(cache=True, error_model="numpy")
def _is_identity(order, s, e):
    """Whether order[a] == a on [s, e): rows stored in block order (a permute_csr copy),
    so a pass streams them, as _cy does."""
    for a in range(s, e):
        if order[a] != a:
            return False
    return True


@njit(cache=True, error_model="numpy")
def _solve_streamed(indptr, indices, data, B, V, AV, order, position, block_ptr, first,
                    last, dense_max, T, rhs):
    """``_solve_range`` for one right-hand side on rows stored in block order (row and
    product j are position j), on flat views: see ``_cy._solve_streamed``."""
    n = V.shape[0]
    b, v, av = B.reshape(n), V.reshape(n), AV.reshape(n)
    end = np.uintp(indptr[indptr.shape[0] - 1])
    for k in range(first, last):
        at = np.uintp(k)
        s = np.uintp(block_ptr[at])
        e = np.uintp(block_ptr[at + _ONE])
        if e - s == _ONE:
            d = 0.0
            acc = 0.0
            for p in range(np.uintp(indptr[s]), np.uintp(indptr[s + _ONE])):
                kp = p + _PREFETCH
                if kp < end:
                    _prefetch(v, indices[kp], 0)
                col = np.uintp(indices[p])
                if col == s:
                    d += data[p]
                else:
                    acc += data[p] * v[col]
            if not 1.0 - d > 0.0:
                return k
            x = (b[s] + acc) / (1.0 - d)
            v[s] = x
            av[s] = acc + d * x
        elif np.intp(e - s) <= dense_max:
            if _solve_dense_block_streamed(indptr, indices, data, b, v, av, np.intp(s),
                                           np.intp(e), T, rhs):
                return k
    return -1


@njit(cache=True, error_model="numpy")
def _solve_dense_block_streamed(indptr, indices, data, b, v, av, s, e, T, rhs):
    """``_solve_dense_block`` for one right-hand side on rows stored in block order
    (product j is row and position j; b, v, av flat), with the same arithmetic: the
    members are the columns in [s, e), read without looking up ``position``, and the
    inputs' values are prefetched (see ``_cy._solve_block_streamed``)."""
    size = e - s
    end = np.uintp(indptr[indptr.shape[0] - 1])
    for a in range(size):
        for c in range(size):
            T[a, c] = 0.0
        T[a, a] = 1.0
        f = b[s + a]
        for p in range(np.uintp(indptr[s + a]), np.uintp(indptr[s + a + 1])):
            kp = p + _PREFETCH
            if kp < end:
                _prefetch(v, indices[kp], 0)
            col = np.intp(indices[p])
            loc = col - s
            if 0 <= loc < size:
                T[a, loc] -= data[p]
            else:
                f += data[p] * v[col]
        rhs[a, 0] = f
    bad = _lu_solve(T, rhs, size, 1)
    if bad:
        return bad
    for a in range(size):
        v[s + a] = rhs[a, 0]
    for a in range(size):  # M v of the block's rows (read just now: in the cache)
        f = 0.0
        for p in range(np.intp(indptr[s + a]), np.intp(indptr[s + a + 1])):
            f += data[p] * v[indices[p]]
        av[s + a] = f
    return 0


@njit(cache=True, error_model="numpy")
def _solve_range(indptr, indices, data, B, V, AV, order, position, block_ptr, first, last,
                 dense_max, streamed, T, rhs, acc):
    """The loop of ``block_solve`` over components first..last-1 (those of more than
    dense_max products skipped); −1 or the first component with a non-positive pivot."""
    r = B.shape[1]
    nnz = indptr[indptr.shape[0] - 1]
    if streamed and r == 1 and first < last:
        return _solve_streamed(indptr, indices, data, B, V, AV, order, position, block_ptr,
                               first, last, dense_max, T, rhs)
    for k in range(first, last):
        at = np.uintp(k)
        s = np.intp(block_ptr[at])
        e = np.intp(block_ptr[at + _ONE])
        if not streamed:
            # Rows in block order are random in this numbering: fetch the row pointers
            # sixteen blocks ahead, the rows eight ahead, the inputs' values four ahead.
            if k + 16 < last:
                _prefetch(indptr, order[block_ptr[k + 16]], 0)
            if k + 8 < last:
                j = np.intp(order[block_ptr[k + 8]])
                p = indptr[j]
                if p < nnz:
                    _prefetch(indices, p, 0)
                    _prefetch(data, p, 0)
                _prefetch(B, j, 0)
            if k + 4 < last:
                j = np.intp(order[block_ptr[k + 4]])
                for p in range(indptr[j], indptr[j + 1]):
                    _prefetch(V, indices[p], 0)
        if e - s == 1:
            j = np.intp(order[np.uintp(s)])
            if r == 1:
                if not _solve_single1(indptr, indices, data, B, V, AV, j):
                    return k
            elif not _solve_single(indptr, indices, data, B, V, AV, j, acc):
                return k
        elif e - s <= dense_max:
            if _solve_dense_block(indptr, indices, data, B, V, AV, order, position, s, e, T,
                                  rhs):
                return k
    return -1


def block_solve_follow(indptr, indices, data, B, V, AV, order, position, block_ptr,
                       progress, first, dense_max):
    """``block_solve`` from component ``first`` on, over the components of a finished
    search (``progress`` as written by ``strongly_connected_components``): returns
    ``(k, why)`` as ``_cy.block_solve_follow`` does (why 0: all solved, k their number;
    1: component k exceeds dense_max, unsolved; 2: component k has a non-positive pivot;
    3: the search did not finish). This backend does not wait for a running search."""
    n = indptr.shape[0] - 1
    if progress.shape[0] != 2:
        raise ValueError("progress has the wrong length (2 expected)")
    if B.shape[0] != n or V.shape != B.shape or AV.shape != B.shape:
        raise ValueError("B, V and AV must have shape (n, r)")
    if order.shape[0] != n or position.shape[0] != n or block_ptr.shape[0] != n + 1:
        raise ValueError("order, position and block_ptr must have lengths n, n and n + 1")
    if not 0 <= first <= n:
        raise ValueError("first is not a component number")
    if dense_max < 1:
        raise ValueError("dense_max must be at least 1")
    if progress[1] == 0:
        raise ValueError("the Numba backend follows only a finished component search")
    if progress[1] != 1 or not 0 <= progress[0] <= n:
        return first, 3
    return _follow(indptr, indices, data, B, V, AV, order, position, block_ptr,
                   np.intp(progress[0]), np.intp(first), np.intp(dense_max))


@njit(cache=True, error_model="numpy")
def _follow(indptr, indices, data, B, V, AV, order, position, block_ptr, nb, first,
            dense_max):
    if first >= nb:
        return first, 0
    stop = first
    while stop < nb and block_ptr[stop + 1] - block_ptr[stop] <= dense_max:
        stop += 1
    r = B.shape[1]
    T = np.empty((dense_max, dense_max))
    rhs = np.empty((dense_max, max(r, 1)))
    acc = np.empty(max(r, 1))
    bad = _solve_range(indptr, indices, data, B, V, AV, order, position, block_ptr, first,
                       stop, dense_max, False, T, rhs, acc)
    if bad >= 0:
        return bad, 2
    return stop, 1 if stop < nb else 0


# --------------------------------------------------------------------------- levels


@njit(cache=True, error_model="numpy")
def greedy_colors(indptr, indices, t_indptr, t_indices, colors):
    """Colours of the rows such that no two rows of one colour are linked (by an entry of
    M or Mᵀ), greedy in row order; returns the number of colours. See
    ``_cy.greedy_colors``."""
    n = indptr.shape[0] - 1
    if indptr.shape[0] < 1 or indptr[n] > indices.shape[0]:
        raise ValueError("inconsistent CSR arrays")
    _check_len(t_indptr.shape[0], n + 1)
    if t_indptr[n] > t_indices.shape[0]:
        raise ValueError("inconsistent CSR arrays of the transpose")
    _check_len(colors.shape[0], n)
    for p in range(indptr[n]):
        if not 0 <= indices[p] < n:
            raise ValueError("indices holds an entry that is not a row of the matrix")
    for p in range(t_indptr[n]):
        if not 0 <= t_indices[p] < n:
            raise ValueError("t_indices holds an entry that is not a row of the matrix")
    mark = np.full(n + 1, -1, dtype=np.int64)
    colors[:] = -1
    n_colors = 0
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            c = colors[indices[p]]
            if c >= 0:
                mark[c] = i
        for p in range(t_indptr[i], t_indptr[i + 1]):
            c = colors[t_indices[p]]
            if c >= 0:
                mark[c] = i
        c = 0
        while mark[c] == i:
            c += 1
        colors[i] = c
        if c + 1 > n_colors:
            n_colors = c + 1
    return n_colors


@njit(cache=True, error_model="numpy")
def block_levels(indptr, indices, order, block_ptr, by_level, level_ptr):
    """Levels of the blocks for a parallel substitution pass; see ``_cy.block_levels``.
    Returns the number of levels."""
    n = indptr.shape[0] - 1
    nb = block_ptr.shape[0] - 1
    if indptr.shape[0] < 1 or indptr[n] > indices.shape[0]:
        raise ValueError("inconsistent CSR arrays")
    _check_len(order.shape[0], n)
    _check_len(by_level.shape[0], nb)
    if level_ptr.shape[0] < nb + 1:
        raise ValueError("level_ptr needs the number of blocks + 1 entries")
    plev = np.full(n, -1, dtype=np.int64)
    blev = np.empty(nb, dtype=np.int64)
    n_levels = 0
    for b in range(nb):
        lev = 0
        for a in range(block_ptr[b], block_ptr[b + 1]):
            # rows ahead, as _cy.block_levels: pointers 16, rows 8, inputs' levels 4
            if a + 16 < n:
                _prefetch(indptr, order[a + 16], 0)
            if a + 8 < n:
                _prefetch(indices, indptr[order[a + 8]], 0)
            if a + 4 < n:
                j = order[a + 4]
                for p in range(indptr[j], indptr[j + 1]):
                    _prefetch(plev, indices[p], 0)
            j = order[a]
            for p in range(indptr[j], indptr[j + 1]):
                c = plev[indices[p]] + 1
                if c > lev:
                    lev = c
        blev[b] = lev
        for a in range(block_ptr[b], block_ptr[b + 1]):
            plev[order[a]] = lev
        if lev + 1 > n_levels:
            n_levels = lev + 1
    count = np.zeros(n_levels + 1, dtype=np.int64)
    for b in range(nb):
        count[blev[b] + 1] += 1
    for c in range(n_levels):
        count[c + 1] += count[c]
    for c in range(n_levels + 1):
        level_ptr[c] = count[c]
    for b in range(nb):
        by_level[count[blev[b]]] = b
        count[blev[b]] += 1
    return n_levels


@njit(cache=True, error_model="numpy")
def _solve_level_chunk(indptr, indices, data, B, V, AV, order, position, block_ptr, c0, c1,
                       dense_max, streamed):
    r = B.shape[1]
    T = np.empty((dense_max, dense_max))
    rhs = np.empty((dense_max, max(r, 1)))
    acc = np.empty(max(r, 1))
    return _solve_range(indptr, indices, data, B, V, AV, order, position, block_ptr, c0, c1,
                        dense_max, streamed, T, rhs, acc)


@njit(parallel=True, error_model="numpy")
def block_solve_levels(indptr, indices, data, B, V, AV, order, position, block_ptr,
                       level_ptr, first, last, dense_max):
    """``block_solve`` over levels first..last-1, the components sorted by level (level L
    holds components level_ptr[L]:level_ptr[L + 1]) and those of one level solved in
    parallel chunks; components larger than dense_max are skipped. See
    ``_cy.block_solve_levels``."""
    n = indptr.shape[0] - 1
    r = B.shape[1]
    nb = block_ptr.shape[0] - 1
    _check_csr(indptr, indices.shape[0], data.shape[0])
    _check_shape(B, n, r)
    _check_shape(V, n, r)
    _check_shape(AV, n, r)
    _check_len(order.shape[0], n)
    _check_len(position.shape[0], n)
    if first < 0 or last < first or last >= level_ptr.shape[0]:
        raise ValueError("levels [first, last) are not inside level_ptr")
    if dense_max < 1:
        raise ValueError("dense_max must be at least 1")
    for L in range(first, last + 1):
        if not 0 <= level_ptr[L] <= nb or (L > first and level_ptr[L] < level_ptr[L - 1]):
            raise ValueError("level_ptr holds a value that is not a component boundary")
    streamed = first == last or _is_identity(order, block_ptr[level_ptr[first]],
                                             block_ptr[level_ptr[last]])
    bad = -1
    for L in range(first, last):
        lo = level_ptr[L]
        cnt = level_ptr[L + 1] - lo
        nchunks = _n_chunks(cnt, 16 * cnt * max(r, 1))
        badc = np.full(nchunks, -1, dtype=np.int64)
        if nchunks == 1:
            badc[0] = _solve_level_chunk(indptr, indices, data, B, V, AV, order, position,
                                         block_ptr, lo, lo + cnt, dense_max, streamed)
        else:
            old = numba.set_parallel_chunksize(1)
            for ch in prange(nchunks):
                badc[ch] = _solve_level_chunk(
                    indptr, indices, data, B, V, AV, order, position, block_ptr,
                    lo + (cnt * ch) // nchunks, lo + (cnt * (ch + 1)) // nchunks, dense_max,
                    streamed)
            numba.set_parallel_chunksize(old)
        for ch in range(nchunks):
            if badc[ch] >= 0 and (bad < 0 or badc[ch] < bad):
                bad = badc[ch]
        if bad >= 0:
            break
    return bad


@njit(cache=True, error_model="numpy")
def block_matrix(indptr, indices, data, order, position, s, e, sub_indptr, sub_indices,
                 sub_data, sub_entry):
    """The diagonal block [s, e) of the block order as a CSR matrix of its own (entries in
    the block, renumbered from 0, with the input entry each came from); returns the
    number of entries kept. See ``_cy.block_matrix``."""
    n = indptr.shape[0] - 1
    size = e - s
    _check_csr(indptr, indices.shape[0], data.shape[0])
    _check_len(order.shape[0], n)
    _check_len(position.shape[0], n)
    if s < 0 or e < s or e > n:
        raise ValueError("the block is not inside the products")
    _check_len(sub_indptr.shape[0], size + 1)
    room = min(sub_indices.shape[0], sub_data.shape[0], sub_entry.shape[0])
    total = 0
    for a in range(size):
        j = order[s + a]
        if not (0 <= j < n):
            raise ValueError("order holds a product out of range")
        total += indptr[j + 1] - indptr[j]
    if total > room:
        raise ValueError("the outputs have no room for the block's entries")
    kept = 0
    nnz = indptr[n]
    sub_indptr[0] = 0
    for a in range(size):
        # rows ahead, as _cy.block_matrix: pointers 16, rows 8, inputs' positions 4
        if a + 16 < size:
            _prefetch(indptr, order[s + a + 16], 0)
        if a + 8 < size:
            p = indptr[order[s + a + 8]]
            if p < nnz:
                _prefetch(indices, p, 0)
                _prefetch(data, p, 0)
        if a + 4 < size:
            j = order[s + a + 4]
            for p in range(indptr[j], indptr[j + 1]):
                _prefetch(position, indices[p], 0)
        j = order[s + a]
        for p in range(indptr[j], indptr[j + 1]):
            c = position[indices[p]] - s
            if 0 <= c < size:
                sub_indices[kept] = c
                sub_data[kept] = data[p]
                sub_entry[kept] = p
                kept += 1
        sub_indptr[a + 1] = kept
    return kept


@njit(cache=True, error_model="numpy")
def _permuted_indptr(indptr, perm, out_indptr):
    out_indptr[0] = 0
    n = perm.shape[0]
    for k in range(n):
        if k + 16 < n:
            _prefetch(indptr, perm[k + 16], 0)
        p = perm[k]
        out_indptr[k + 1] = out_indptr[k] + (indptr[p + 1] - indptr[p])


@njit(cache=True, error_model="numpy")
def _permute_rows(indptr, indices, data, perm, inv_perm, out_indptr, out_indices, out_data):
    for k in range(indptr.shape[0] - 1):
        p = perm[k]
        src = indptr[p]
        dst = out_indptr[k]
        for t in range(indptr[p + 1] - src):
            out_indices[dst + t] = inv_perm[indices[src + t]]
            out_data[dst + t] = data[src + t]


@njit(parallel=True, error_model="numpy")
def permute_csr(indptr, indices, data, perm, inv_perm, out_indptr, out_indices, out_data):
    """Symmetric permutation P M P^T: new row k is old row perm[k], column c becomes
    inv_perm[c]. Fills out_indptr (serial prefix sum), then copies rows in parallel."""
    n = indptr.shape[0] - 1
    _check_csr(indptr, indices.shape[0], data.shape[0])
    _check_len(perm.shape[0], n)
    _check_len(inv_perm.shape[0], n)
    _check_len(out_indptr.shape[0], n + 1)
    nnz = indptr[n]
    if out_indices.shape[0] < nnz or out_data.shape[0] < nnz:
        raise ValueError("out_indices and out_data need length >= nnz")
    _permuted_indptr(indptr, perm, out_indptr)
    if nnz < SERIAL_WORK:  # small call: no thread pool
        _permute_rows(indptr, indices, data, perm, inv_perm, out_indptr, out_indices,
                      out_data)
        return
    for k in prange(n):
        # rows ahead, as _cy.permute_csr: rows 8, their columns' new numbers 4
        if k + 8 < n:
            q = indptr[perm[k + 8]]
            _prefetch(indices, q, 0)
            _prefetch(data, q, 0)
        if k + 4 < n:
            p4 = perm[k + 4]
            for q4 in range(indptr[p4], indptr[p4 + 1]):
                _prefetch(inv_perm, indices[q4], 0)
        p = perm[k]
        src = indptr[p]
        dst = out_indptr[k]
        length = indptr[p + 1] - src
        for t in range(length):
            out_indices[dst + t] = inv_perm[indices[src + t]]
            out_data[dst + t] = data[src + t]


@njit(cache=True, error_model="numpy")
def _gather_range(src, index, out, lo, hi):
    m = src.shape[0]
    for i in range(lo, hi):
        k = index[i]
        if k < 0 or k >= m:
            return i
        row, at = np.uintp(k), np.uintp(i)
        for j in range(np.uintp(src.shape[1])):
            out[at, j] = src[row, j]
    return -1


@njit(parallel=True, error_model="numpy")
def gather_rows(src, index, out):
    """out[i] = src[index[i]] for every row i (see ``_cy.gather_rows``); returns −1, or a
    position i whose index[i] is not a row of src."""
    n = index.shape[0]
    _check_shape(out, n, src.shape[1])
    nchunks = _n_chunks(n, n * max(src.shape[1], 1))
    if nchunks == 1:
        return _gather_range(src, index, out, 0, n)
    first = np.full(nchunks, -1, dtype=np.int64)
    old = numba.set_parallel_chunksize(1)
    for t in prange(nchunks):
        first[t] = _gather_range(src, index, out, (n * t) // nchunks, (n * (t + 1)) // nchunks)
    numba.set_parallel_chunksize(old)
    for t in range(nchunks):
        if first[t] >= 0:
            return first[t]
    return -1


# --------------------------------------------------------------------------- techniques


@njit(cache=True, error_model="numpy")
def technique_union(indptr, indices, by_product, product_ptr, u_indptr, u_indices, mark):
    """Union of the input patterns of each product's techniques (technique choice).

    Writes the union as CSC (one column per product, sorted rows); see
    ``_cy.technique_union``. Returns nnz.
    """
    m = product_ptr.shape[0] - 1
    _check_len(u_indptr.shape[0], m + 1)
    if u_indices.shape[0] < indptr[indptr.shape[0] - 1]:
        raise ValueError("u_indices is shorter than the technique entries")
    for i in range(mark.shape[0]):
        mark[i] = -1
    c = 0
    u_indptr[0] = 0
    for p in range(m):
        start = c
        for q in range(product_ptr[p], product_ptr[p + 1]):
            j = by_product[q]
            for e in range(indptr[j], indptr[j + 1]):
                i = indices[e]
                if mark[i] != p:
                    mark[i] = p
                    b = c
                    while b > start and u_indices[b - 1] > i:
                        u_indices[b] = u_indices[b - 1]
                        b -= 1
                    u_indices[b] = i
                    c += 1
        u_indptr[p + 1] = c
    return c


@njit(cache=True, inline="always", error_model="numpy")
def _union_position(u_indices, u, end, row):
    """The position of ``row`` in the sorted union column [u, end), searching from u;
    -1 if it is not there (see ``_cy._union_position``)."""
    while u < end and u_indices[u] < row:
        u += 1
    if u == end or u_indices[u] != row:
        return -1
    return u


def component_techniques(indptr, indices, data, labour, beta, techniques, position, start,
                         n, values, in_ptr, local_in, coef_in, fixed):
    """A cyclic component's techniques split for solves on the component alone; see
    ``_cy.component_techniques``. Returns the entries inside."""
    k = indptr.shape[0] - 1
    n_tech = techniques.shape[0]
    if indptr.shape[0] < 1 or indptr[k] > min(indices.shape[0], data.shape[0]):
        raise ValueError("inconsistent CSR arrays")
    if labour.shape[0] != k or beta.shape[0] != k or values.shape[0] != position.shape[0]:
        raise ValueError("labour, beta or values has the wrong length")
    if in_ptr.shape[0] != n_tech + 1 or fixed.shape[0] != n_tech:
        raise ValueError("in_ptr or fixed has the wrong length")
    if start < 0 or n < 0 or start + n > position.shape[0]:
        raise ValueError("the component's positions are outside position's range")
    if n_tech and (techniques.min() < 0 or techniques.max() >= k):
        raise ValueError("a technique is not a column of the matrix")
    room = int(np.sum(indptr[techniques + 1] - indptr[techniques]))
    if local_in.shape[0] < room or coef_in.shape[0] < room:
        raise ValueError("local_in and coef_in need room for every entry of the techniques")
    return _component_techniques(indptr, indices, data, labour, beta, techniques, position,
                                 start, n, values, in_ptr, local_in, coef_in, fixed)


@njit(cache=True, error_model="numpy")
def _component_techniques(indptr, indices, data, labour, beta, techniques, position, start,
                          n, values, in_ptr, local_in, coef_in, fixed):
    at = 0
    in_ptr[0] = 0
    for j in range(techniques.shape[0]):
        t = techniques[j]
        f = labour[t] / beta[t]
        for x in range(indptr[t], indptr[t + 1]):
            q = indices[x]
            c = data[x] / beta[t]
            local = position[q] - start
            if 0 <= local < n:
                local_in[at] = local
                coef_in[at] = c
                at += 1
            else:
                f += c * values[q]
        fixed[j] = f
        in_ptr[j + 1] = at
    return at


@njit(cache=True, error_model="numpy")
def technique_slots(indptr, indices, u_indptr, u_indices, products, techniques, out):
    """Union positions of the entries of techniques[k] in product products[k]'s column,
    concatenated over k; see ``_cy.technique_slots``. Returns the number written."""
    k = indptr.shape[0] - 1
    _check_len(techniques.shape[0], products.shape[0])
    n = 0
    for a in range(techniques.shape[0]):
        t = techniques[a]
        if not (0 <= t < k):
            raise ValueError("a technique is out of range")
        n += indptr[t + 1] - indptr[t]
    if out.shape[0] < n:
        raise ValueError("out is shorter than the techniques' entries")
    n = 0
    for a in range(techniques.shape[0]):
        t = techniques[a]
        u = u_indptr[products[a]]
        end = u_indptr[products[a] + 1]
        for e in range(indptr[t], indptr[t + 1]):
            u = _union_position(u_indices, u, end, indices[e])
            if u < 0:
                raise ValueError("a technique's input is not in its product's union column")
            out[n] = u
            n += 1
    return n


@njit(parallel=True, error_model="numpy")
def policy_coefficients(indptr, indices, values, u_indptr, u_indices, policy, out):
    """Every entry of every product p's union column: technique policy[p]'s coefficient
    in its rows, zero in the others, products in parallel; see
    ``_cy.policy_coefficients``."""
    k = indptr.shape[0] - 1
    m = policy.shape[0]
    _check_len(values.shape[0], indptr[k])
    _check_len(u_indptr.shape[0], m + 1)
    _check_len(out.shape[0], u_indptr[m])
    for p in range(m):
        if not (0 <= policy[p] < k):
            raise ValueError("policy holds a technique out of range")
    missing = 0
    for p in prange(m):
        t = policy[p]
        u = u_indptr[p]
        end = u_indptr[p + 1]
        for e in range(indptr[t], indptr[t + 1]):
            row = indices[e]
            while u < end and u_indices[u] < row:
                out[u] = 0.0
                u += 1
            if u == end or u_indices[u] != row:
                missing += 1
                break
            out[u] = values[e]
            u += 1
        while u < end:
            out[u] = 0.0
            u += 1
    if missing:
        raise ValueError("a technique's input is not in its product's union column")


@njit(parallel=True, error_model="numpy")
def cheapest_techniques(costs, by_product, product_ptr, current, tol_rel, best, low, tied):
    """The cheapest technique of every product; see ``_cy.cheapest_techniques``. Returns
    the number of tied products."""
    m = product_ptr.shape[0] - 1
    keep = current.shape[0] > 0
    _check_len(best.shape[0], m)
    _check_len(low.shape[0], m)
    _check_len(tied.shape[0], m)
    if keep:
        _check_len(current.shape[0], m)
    for p in prange(m):
        lo = np.inf
        first = -1
        for q in range(product_ptr[p], product_ptr[p + 1]):
            j = by_product[q]
            c = costs[j]
            if c < lo or first < 0:
                lo = c
                first = j
        cut = lo + tol_rel * abs(lo)
        count = 0
        for q in range(product_ptr[p], product_ptr[p + 1]):
            if costs[by_product[q]] <= cut:
                count += 1
        tied[p] = 1 if count > 1 else 0
        if keep and costs[current[p]] <= cut:
            first = current[p]
        best[p] = first
        low[p] = lo
    n_tied = 0
    for p in range(m):
        n_tied += tied[p]
    return n_tied


@njit(cache=True, error_model="numpy")
def cheapest_sweep(indptr, indices, data, labour, beta, by_product, product_ptr, order,
                   block_ptr, first, last, max_sweeps, tol, V, best):
    """Gauss–Seidel sweeps of v_p = min_j c_j(v) over components first..last-1 in order;
    see ``_cy.cheapest_sweep``. Returns the number of products left without a price."""
    k = indptr.shape[0] - 1
    m = product_ptr.shape[0] - 1
    _check_csr(indptr, indices.shape[0], data.shape[0])
    _check_len(labour.shape[0], k)
    _check_len(beta.shape[0], k)
    _check_len(order.shape[0], m)
    _check_len(V.shape[0], m)
    _check_len(best.shape[0], m)
    if first < 0 or last < first or last >= block_ptr.shape[0]:
        raise ValueError("blocks [first, last) are not inside block_ptr")
    unpriced = 0
    for b in range(first, last):
        s = block_ptr[b]
        e = block_ptr[b + 1]
        sweeps = 1 if e - s == 1 else max(max_sweeps, 1)
        for sweep in range(sweeps):
            change = 0.0
            top = 0.0
            for a in range(s, e):
                # The walk jumps to each product's techniques and their inputs: start the
                # chain of loads for the products ahead in stages, each stage one load
                # deeper (as _cy.cheapest_sweep does).
                ahead = a + 16
                if ahead < m:
                    _prefetch(product_ptr, order[ahead], 0)
                ahead = a + 8
                if ahead < m:
                    _prefetch(by_product, product_ptr[order[ahead]], 0)
                ahead = a + 4
                if ahead < m:
                    pa = order[ahead]
                    q = product_ptr[pa]
                    if q < product_ptr[pa + 1]:
                        _prefetch(indptr, by_product[q], 0)
                        if q + 1 < product_ptr[pa + 1]:
                            _prefetch(indptr, by_product[q + 1], 0)
                ahead = a + 2
                if ahead < m:
                    pa = order[ahead]
                    for q in range(product_ptr[pa], product_ptr[pa + 1]):
                        t = by_product[q]
                        _prefetch(indices, indptr[t], 0)
                        _prefetch(data, indptr[t], 0)
                p = order[a]
                lo = np.inf
                arg = -1
                for q in range(product_ptr[p], product_ptr[p + 1]):
                    t = by_product[q]
                    num = labour[t]
                    own = 0.0
                    for x in range(np.uintp(indptr[t]), np.uintp(indptr[t + 1])):
                        i = indices[x]
                        if i == p:
                            own += data[x]
                        else:
                            num += data[x] * V[np.uintp(i)]
                    net = beta[t] - own
                    if net > 0.0:
                        c = num / net
                        if c < lo:
                            lo = c
                            arg = t
                if arg < 0:
                    if sweep == sweeps - 1:
                        unpriced += 1
                    continue
                if abs(lo - V[p]) > change:
                    change = abs(lo - V[p])
                if abs(lo) > top:
                    top = abs(lo)
                V[p] = lo
                best[p] = arg
            if change <= tol * top:
                break
    return unpriced


def cheapest_sweep_follow(indptr, indices, data, labour, beta, by_product, product_ptr,
                          order, block_ptr, progress, first, dense_max, max_sweeps, tol, V,
                          best):
    """``cheapest_sweep`` from component ``first`` on, over the components of a
    finished search (``progress`` as ``strongly_connected_components`` writes it):
    returns ``(k, why)`` as ``_cy.cheapest_sweep_follow`` does (why 0: all swept, k
    their number; 1: component k exceeds dense_max, not swept; 3: the search did not
    finish). This backend does not wait for a running search."""
    m = product_ptr.shape[0] - 1
    if progress.shape[0] != 2:
        raise ValueError("progress has the wrong length (2 expected)")
    if block_ptr.shape[0] != m + 1:
        raise ValueError("block_ptr must have length m + 1")
    if not 0 <= first <= m:
        raise ValueError("first is not a component number")
    if progress[1] == 0:
        raise ValueError("the Numba backend follows only a finished component search")
    n_blocks = int(progress[0])
    if progress[1] != 1 or not 0 <= n_blocks <= m:
        return first, 3
    if first >= n_blocks:
        return first, 0
    sizes = np.diff(block_ptr[first:n_blocks + 1])
    large = np.flatnonzero(sizes > dense_max)
    stop = first + int(large[0]) if large.size else n_blocks
    cheapest_sweep(indptr, indices, data, labour, beta, by_product, product_ptr, order,
                   block_ptr, first, stop, max_sweeps, tol, V, best)
    return stop, 1 if stop < n_blocks else 0


# --------------------------------------------------------------------------- harmony

#: Multiply-adds a target of the harmony dual counts as, for the chunk count (as Cython).
HARMONY_WORK = 16


@njit(cache=True, inline="always", error_model="numpy")
def _neumaier(total, carry, term):
    """One step of Neumaier's compensated sum: (new total, new carry)."""
    new = total + term
    if abs(total) >= abs(term):
        carry += (total - new) + term
    else:
        carry += (term - new) + total
    return new, carry


@njit(cache=True, error_model="numpy")
def _harmony_rows(V, lam, t, w, lo, hi, part):
    """Targets lo..hi-1 of :func:`harmony_dual` into ``part``; see ``_cy._harmony_rows``."""
    r = V.shape[0]
    for i in range(lo, hi):
        p = 0.0
        for q in range(r):
            p += lam[q] * V[q, i]
        wi = w[i]
        if wi <= 0.0:
            continue  # no harmony at stake: n* = 0, nothing to add
        if p <= 0.0:  # n* = ∞: the dual is infinite, falling without end along V
            return i
        ti = t[i]
        qt = p / wi * ti
        if qt >= 2.0:
            y = 0.0
            conj = -1.5 * wi  # H(−1) = −1 − 1/2
        elif qt <= 1.0:
            y = wi / p  # H'(s) = 1/(1 + s): log branch, n* = w/p
            s = (y - ti) / ti
            if math.isfinite(s):
                conj = wi * math.log1p(s) - wi
            else:
                conj = wi * (math.log(y) - math.log(ti)) - wi
        else:
            y = ti * (2.0 - qt)  # quadratic branch
            s = (y - ti) / ti
            conj = wi * (s - 0.5 * s * s) - p * y
        part[0], part[1] = _neumaier(part[0], part[1], conj)
        if y != 0.0:
            for q in range(r):
                part[2 + q], part[2 + r + q] = _neumaier(part[2 + q], part[2 + r + q],
                                                         -V[q, i] * y)
    return -1


@njit(parallel=True, error_model="numpy")
def harmony_dual(V, lam, t, w, rho, grad):
    """The dual of harmony and its gradient; see ``_cy.harmony_dual`` (the same chunks,
    the same order of summation, the same bits)."""
    r = V.shape[0]
    T = V.shape[1]
    _check_len(lam.shape[0], r)
    _check_len(rho.shape[0], r)
    _check_len(grad.shape[0], r)
    _check_len(t.shape[0], T)
    _check_len(w.shape[0], T)
    nchunks = _n_chunks(T, T * HARMONY_WORK)
    part = np.zeros((nchunks, 2 + 2 * r))
    bad = np.empty(nchunks, dtype=np.int64)
    if nchunks == 1:
        bad[0] = _harmony_rows(V, lam, t, w, 0, T, part[0])
    else:
        old = numba.set_parallel_chunksize(1)
        for c in prange(nchunks):
            bad[c] = _harmony_rows(V, lam, t, w, (T * c) // nchunks, (T * (c + 1)) // nchunks,
                                   part[c])
        numba.set_parallel_chunksize(old)
    total = 0.0
    carry = 0.0
    comp = np.zeros(r)
    for q in range(r):
        grad[q] = rho[q]
        total, carry = _neumaier(total, carry, lam[q] * rho[q])
    first = -1
    for c in range(nchunks):
        if bad[c] >= 0:
            first = bad[c]
            break
        for k in range(2):
            total, carry = _neumaier(total, carry, part[c, k])
        for q in range(r):
            for k in range(2):
                grad[q], comp[q] = _neumaier(grad[q], comp[q], part[c, 2 + k * r + q])
    for q in range(r):
        grad[q] += comp[q]
        if first >= 0 and V[q, first] > 0.0:
            grad[q] = -math.inf
    return math.inf if first >= 0 else total + carry
