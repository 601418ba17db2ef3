# cython: language_level=3
"""Cython (OpenMP) kernels of lab on raw CSR arrays.

Compiled by ``setup.py`` into ``lab._kernels._cy``; ``lab._kernels.numba_kernels``
exposes the same functions with the same signatures and semantics.

Conventions (see ``docs/STYLE.md``)
-----------------------------------
* A sparse matrix ``M`` (n_rows x n_cols) is passed as CSR arrays ``indptr``
  (n_rows + 1), ``indices`` and ``data``. ``indptr`` and ``indices`` share one
  integer dtype, int32 or int64; ``data`` is float64 or float32 (accumulation is
  always in float64). Permutations and labels may use either integer dtype.
* Vectors are float64 and C-contiguous; multi right-hand-side blocks are float64
  C-contiguous arrays of shape (n, r).
* Kernels write into preallocated outputs (which must not alias inputs) and return
  only scalars. Shapes are checked in O(1); index *values* are not checked (the
  backend layer ``lab._ops`` validates them).
* Maxima propagate NaN: a NaN anywhere makes the returned norm NaN, so a stopping
  test ``norm <= tol`` fails instead of passing silently.

Bounds checking is switched off by the build (``LAB_BOUNDSCHECK=1`` turns it on).
"""

cimport cython
from cython.parallel cimport parallel, prange, threadid
from libc.stdint cimport int32_t, int64_t, uint16_t, uint64_t
from libc.stdlib cimport calloc, free, malloc
from libc.math cimport fabs, INFINITY, isfinite, log, log1p, NAN, sqrt

import numpy as np

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define LAB_HAVE_OPENMP 1
    #else
    #define LAB_HAVE_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    static int omp_get_thread_num(void) { return 0; }
    static int omp_get_num_threads(void) { return 1; }
    static void omp_set_num_threads(int n) { (void)n; }
    #endif
    #define lab_prefetch(p) __builtin_prefetch(p)
    #include <time.h>
    /* publishing progress between two threads (component search and substitution) */
    static inline void lab_store_release(int64_t *p, int64_t v) {
        __atomic_store_n(p, v, __ATOMIC_RELEASE);
    }
    static inline int64_t lab_load_acquire(const int64_t *p) {
        return __atomic_load_n(p, __ATOMIC_ACQUIRE);
    }
    static inline int lab_popcount(unsigned long long x) {
        return __builtin_popcountll(x);
    }
    static inline void lab_pause(void) {
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    /* A barrier for the threads of one parallel region that spins briefly, then
       sleeps: libgomp's own barriers sleep at once under OMP_WAIT_POLICY=PASSIVE
       (lab's setting), which costs a wake-up per barrier (~70 us here); spinning
       without bound burns a core another process needs. */
    #if defined(__x86_64__) || defined(__i386__)
    #define lab_cpu_relax() __builtin_ia32_pause()
    #else
    #define lab_cpu_relax() __asm__ __volatile__("" ::: "memory")
    #endif
    #ifdef __linux__
    #include <linux/futex.h>
    #include <sys/syscall.h>
    #include <unistd.h>
    #endif
    /* The spin budget (in pauses, ~25 ns each here) adapts per thread: halved after a
       wait that had to sleep (the other thread was descheduled: another process holds
       its core, and spinning may take the core it needs), doubled after one that did
       not, between LAB_SPIN_MIN and LAB_SPIN_MAX. */
    #define LAB_SPIN_MIN 16
    #define LAB_SPIN_MAX 2048
    typedef struct { int count; int sense; int sleeping; } lab_barrier_t;
    static void lab_barrier_wait(lab_barrier_t *b, int n_threads, int *local_sense,
                                 int *spin) {
        int s = 1 - *local_sense;
        long i;
        *local_sense = s;
        if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == n_threads) {
            __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
            /* sequentially consistent, as the sleeper's two steps: else both could
               read the other's old value (the store waits in a store buffer) */
            __atomic_store_n(&b->sense, s, __ATOMIC_SEQ_CST);
    #ifdef __linux__
            if (__atomic_load_n(&b->sleeping, __ATOMIC_SEQ_CST) > 0)
                syscall(SYS_futex, &b->sense, FUTEX_WAKE_PRIVATE, n_threads, NULL, NULL, 0);
    #endif
            return;
        }
        for (i = 0; i < *spin; i++) {
            if (__atomic_load_n(&b->sense, __ATOMIC_ACQUIRE) == s) {
                if (*spin < LAB_SPIN_MAX)
                    *spin *= 2;
                return;
            }
            lab_cpu_relax();
        }
        if (*spin > LAB_SPIN_MIN)
            *spin /= 2;
    #ifdef __linux__
        __atomic_add_fetch(&b->sleeping, 1, __ATOMIC_SEQ_CST);
        /* the futex returns at once if sense has already changed: no lost wake-up */
        while (__atomic_load_n(&b->sense, __ATOMIC_SEQ_CST) != s)
            syscall(SYS_futex, &b->sense, FUTEX_WAIT_PRIVATE, 1 - s, NULL, NULL, 0);
        __atomic_sub_fetch(&b->sleeping, 1, __ATOMIC_ACQ_REL);
    #else
        while (__atomic_load_n(&b->sense, __ATOMIC_ACQUIRE) != s)
            lab_pause();
    #endif
    }
    static inline int64_t lab_fetch_add(int64_t *p, int64_t v) {
        return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
    }
    static inline void lab_store_min(int64_t *p, int64_t v) {  /* p holds -1 or >= 0 */
        int64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
        while ((cur < 0 || v < cur)
               && !__atomic_compare_exchange_n(p, &cur, v, 1, __ATOMIC_RELAXED,
                                               __ATOMIC_RELAXED)) {}
    }
    """
    ctypedef struct lab_barrier_t:
        int count
        int sense
        int sleeping
    void lab_barrier_wait(lab_barrier_t *b, int n_threads, int *local_sense,
                          int *spin) noexcept nogil
    int64_t lab_fetch_add(int64_t *p, int64_t v) noexcept nogil
    void lab_store_min(int64_t *p, int64_t v) noexcept nogil
    void lab_prefetch(const void *p) noexcept nogil
    void lab_store_release(int64_t *p, int64_t v) noexcept nogil
    int64_t lab_load_acquire(const int64_t *p) noexcept nogil
    void lab_pause() noexcept nogil
    int lab_popcount(unsigned long long x) noexcept nogil
    int omp_get_max_threads() noexcept nogil
    int omp_get_thread_num() noexcept nogil
    int omp_get_num_threads() noexcept nogil
    void omp_set_num_threads(int n) noexcept nogil
    int LAB_HAVE_OPENMP

ctypedef fused idx_t:
    int32_t
    int64_t

ctypedef fused idx2_t:
    int32_t
    int64_t

ctypedef fused real_t:
    float
    double

# BiCGSTAB's search directions (the vectors its products gather): float32 halves the
# bytes each random gather pulls into the cache (see lab.values._krylov)
ctypedef fused vec_t:
    float
    double

#: True when the extension was compiled with OpenMP.
HAVE_OPENMP = bool(LAB_HAVE_OPENMP)

__all__ = [
    "HAVE_OPENMP",
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

def set_num_threads(int n):
    """Set the number of OpenMP threads used by later kernel calls (n >= 1)."""
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    omp_set_num_threads(n)


def get_num_threads():
    """Number of OpenMP threads kernel calls use (1 without OpenMP)."""
    return omp_get_max_threads()


# --------------------------------------------------------------------------- helpers

cdef inline double _nanmax(double m, double d) noexcept nogil:
    """max(m, d) that keeps a NaN once seen (m is NaN or d is NaN -> NaN)."""
    if d > m or d != d:
        if m == m:
            return d
    return m


cdef inline Py_ssize_t _row_at_nnz(const idx_t[::1] indptr, Py_ssize_t lo, Py_ssize_t hi,
                                   Py_ssize_t target) noexcept nogil:
    """Smallest row r in [lo, hi] with indptr[r] >= target (indptr is non-decreasing)."""
    cdef Py_ssize_t mid
    while lo < hi:
        mid = lo + (hi - lo) // 2
        if indptr[mid] < target:
            lo = mid + 1
        else:
            hi = mid
    return lo


#: Below this many multiply-adds a kernel call runs on one thread: a parallel region
#: costs microseconds on an idle machine, and milliseconds when another process holds
#: a core (every barrier waits for a descheduled thread), against tens of microseconds
#: of work. The result does not depend on it (row chunks sum independently).
cdef enum:
    _SERIAL_WORK = 1 << 16
    _CHUNK_WORK = 1 << 15
    _MAX_CHUNKS = 1024
    _TEAM_MIN_CHUNKS = 8

SERIAL_WORK = _SERIAL_WORK

#: Work (2¹⁸: _TEAM_MIN_CHUNKS chunks of CHUNK_WORK) below which a call stays on one
#: thread, and a thread governor's step too: lab's threads sleep between calls
#: (OMP_WAIT_POLICY=PASSIVE), and the wake-up costs more than half of a smaller call. ``csr_matvec`` with 12 random inputs a row,
#: Python work between calls, two threads against one (alternated, 15 rounds of 20): 72k
#: entries 0.72×, 144k 0.75×, 300k 0.86× and 1.30×, 360k 1.20×, 480k 1.64×, 600k 1.46×
#: and 1.62×, 1.2M 1.61× (``python /tmp/s43/mv.py``). The chunks themselves, and so the
#: sums, do not depend on it.
TEAM_MIN_WORK = _TEAM_MIN_CHUNKS * _CHUNK_WORK


cdef Py_ssize_t _n_work_chunks(Py_ssize_t n_rows, Py_ssize_t work):
    """Number of chunks (and threads) of a kernel call: the thread count, at most n_rows,
    and 1 for calls of less than TEAM_MIN_WORK multiply-adds (see _TEAM_MIN_CHUNKS)."""
    cdef Py_ssize_t nt = omp_get_max_threads()
    if work < _TEAM_MIN_CHUNKS * _CHUNK_WORK:
        return 1
    if nt > n_rows:
        nt = n_rows
    if nt < 1:
        nt = 1
    return nt


#: Work (multiply-adds or vector entries) per chunk of a row-parallel kernel call. Chunks
#: are handed out dynamically, so a thread that the operating system deschedules (another
#: process on the core) holds up at most one chunk while the others take the rest.
CHUNK_WORK = _CHUNK_WORK
MAX_CHUNKS = _MAX_CHUNKS


cdef Py_ssize_t _n_chunks(Py_ssize_t n_rows, Py_ssize_t work) noexcept nogil:
    """Chunks of a row-parallel call: about CHUNK_WORK of work each, 1 below SERIAL_WORK,
    at most n_rows and MAX_CHUNKS. The count depends on the sizes only, never on the
    thread count, so reductions summed chunk by chunk give the same bits on any number
    of threads."""
    cdef Py_ssize_t c
    if work < _SERIAL_WORK or n_rows <= 1:
        return 1
    c = work // _CHUNK_WORK
    if c > _MAX_CHUNKS:
        c = _MAX_CHUNKS
    if c > n_rows:
        c = n_rows
    return c if c > 1 else 1


cdef inline int _team(Py_ssize_t n_chunks) noexcept nogil:
    """Threads for a call of n_chunks chunks of about CHUNK_WORK each: the current OpenMP
    setting, at most n_chunks, and 1 below _TEAM_MIN_CHUNKS."""
    if n_chunks < _TEAM_MIN_CHUNKS:
        return 1
    return _team_of(n_chunks)


cdef inline int _team_of(Py_ssize_t n_parts) noexcept nogil:
    """Threads for n_parts parts of work that are not CHUNK_WORK-sized: the current OpenMP
    setting, at most n_parts."""
    cdef int nt = omp_get_max_threads()
    if n_parts < nt:
        return <int> n_parts
    return nt if nt > 1 else 1


cdef inline void _nnz_bounds(const idx_t[::1] indptr, Py_ssize_t n_rows, Py_ssize_t n_chunks,
                             Py_ssize_t[::1] bounds) noexcept nogil:
    """Split rows 0..n_rows-1 into n_chunks contiguous ranges with about equal nnz."""
    cdef Py_ssize_t t, nnz = indptr[n_rows]
    bounds[0] = 0
    for t in range(1, n_chunks):
        bounds[t] = _row_at_nnz(indptr, bounds[t - 1], n_rows, (nnz * t) // n_chunks)
    bounds[n_chunks] = n_rows



#: Entries ahead whose x the row products prefetch: the gather x[indices[k]] is the
#: latency-bound part of a product on an economy without locality; with 64 entries in
#: flight a 10⁶-product unstructured product took 32 % less time (one thread, loaded
#: machine).
cdef enum:
    _PREFETCH = 64


cdef inline double _row_dot(const idx_t[::1] indptr, const idx_t[::1] indices,
                            const real_t[::1] data, const vec_t[::1] x, Py_ssize_t i,
                            Py_ssize_t nnz) noexcept nogil:
    """Σ_k data[k] x[indices[k]] over row i, prefetching x for the entries ahead."""
    cdef Py_ssize_t k, kp
    cdef double s = 0.0
    for k in range(indptr[i], indptr[i + 1]):
        kp = k + _PREFETCH
        if kp < nnz:
            lab_prefetch(&x[indices[kp]])
        s = s + data[k] * <double> x[indices[k]]  # float32 × float32 in double
    return s


cdef int _check_csr(const idx_t[::1] indptr, Py_ssize_t nnz_data, Py_ssize_t nnz_idx) except -1:
    if indptr.shape[0] < 1:
        raise ValueError("indptr must have length n_rows + 1 >= 1")
    cdef Py_ssize_t nnz = indptr[indptr.shape[0] - 1]
    if indptr[0] != 0 or nnz < 0 or nnz > nnz_data or nnz > nnz_idx:
        raise ValueError(
            f"inconsistent CSR arrays: indptr[0]={indptr[0]}, indptr[-1]={nnz}, "
            f"len(indices)={nnz_idx}, len(data)={nnz_data}"
        )
    return 0


cdef int _check_len(str name, Py_ssize_t got, Py_ssize_t want) except -1:
    if got != want:
        raise ValueError(f"{name} has length {got} but {want} is required")
    return 0


cdef int _check_shape(str name, Py_ssize_t got0, Py_ssize_t got1,
                      Py_ssize_t want0, Py_ssize_t want1) except -1:
    if got0 != want0 or got1 != want1:
        raise ValueError(f"{name} has shape ({got0}, {got1}) but ({want0}, {want1}) is required")
    return 0


# --------------------------------------------------------------------------- products

@cython.boundscheck(False)
@cython.wraparound(False)
def csr_matvec(const idx_t[::1] indptr, const idx_t[::1] indices, const real_t[::1] data,
               const double[::1] x, double[::1] out):
    """out = M @ x; len(out) = n_rows, len(x) = n_cols.

    Parallel over contiguous, nnz-balanced row chunks handed out dynamically (the
    result does not depend on the thread count).
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, i, k, t, nchunks
    cdef double s
    cdef Py_ssize_t[::1] bounds
    _check_csr(indptr, data.shape[0], indices.shape[0])
    cdef Py_ssize_t nnz = indptr[n]
    _check_len("out", out.shape[0], n)
    nchunks = _n_chunks(n, indptr[n])
    bounds = np.empty(nchunks + 1, dtype=np.intp)
    with nogil:
        _nnz_bounds(indptr, n, nchunks, bounds)
        for t in prange(nchunks, schedule="dynamic", chunksize=1, num_threads=_team(nchunks)):
            for i in range(bounds[t], bounds[t + 1]):
                out[i] = _row_dot(indptr, indices, data, x, i, nnz)
    return None


def identity_minus_matvec(const idx_t[::1] indptr, const idx_t[::1] indices,
                          const real_t[::1] data, const double[::1] x, double[::1] out):
    """out = x - M @ x for square M (the Krylov operator I - M). out must not alias x."""
    cdef Py_ssize_t n = indptr.shape[0] - 1, i, k, t, nchunks
    cdef double s
    cdef Py_ssize_t[::1] bounds
    _check_csr(indptr, data.shape[0], indices.shape[0])
    cdef Py_ssize_t nnz = indptr[n]
    _check_len("x", x.shape[0], n)
    _check_len("out", out.shape[0], n)
    nchunks = _n_chunks(n, indptr[n])
    bounds = np.empty(nchunks + 1, dtype=np.intp)
    with nogil:
        _nnz_bounds(indptr, n, nchunks, bounds)
        for t in prange(nchunks, schedule="dynamic", chunksize=1, num_threads=_team(nchunks)):
            for i in range(bounds[t], bounds[t + 1]):
                out[i] = x[i] - _row_dot(indptr, indices, data, x, i, nnz)
    return None


def csr_rmatvec(const idx_t[::1] indptr, const idx_t[::1] indices, const real_t[::1] data,
                const double[::1] x, double[::1] out):
    """out = M.T @ x; len(x) = n_rows, len(out) = n_cols. The kernel zeroes out.

    Parallel over nnz-balanced row chunks, one chunk per thread, each scattering into
    its own buffer (chunk 0 into ``out``); buffers are then summed in chunk order, so
    the result is deterministic for a given thread count (it may differ in the last
    bits between thread counts).
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, m = out.shape[0], i, k, t, j, lo, hi
    cdef Py_ssize_t nchunks
    cdef double s
    cdef double[:, ::1] buf
    cdef Py_ssize_t[::1] bounds
    _check_csr(indptr, data.shape[0], indices.shape[0])
    _check_len("x", x.shape[0], n)
    nchunks = _n_work_chunks(n, indptr[n])
    if nchunks <= 1:
        with nogil:
            for j in range(m):
                out[j] = 0.0
            for i in range(n):
                s = x[i]
                for k in range(indptr[i], indptr[i + 1]):
                    out[indices[k]] += data[k] * s
        return None
    buf = np.empty((nchunks - 1, m), dtype=np.float64)
    bounds = np.empty(nchunks + 1, dtype=np.intp)
    with nogil:
        _nnz_bounds(indptr, n, nchunks, bounds)
        for t in prange(nchunks, schedule="static", chunksize=1, num_threads=nchunks):
            lo = bounds[t]
            hi = bounds[t + 1]
            if t == 0:
                for j in range(m):
                    out[j] = 0.0
                for i in range(lo, hi):
                    s = x[i]
                    for k in range(indptr[i], indptr[i + 1]):
                        out[indices[k]] += data[k] * s
            else:
                for j in range(m):
                    buf[t - 1, j] = 0.0
                for i in range(lo, hi):
                    s = x[i]
                    for k in range(indptr[i], indptr[i + 1]):
                        buf[t - 1, indices[k]] += data[k] * s
        for j in prange(m, schedule="static"):
            s = out[j]
            for t in range(nchunks - 1):
                s = s + buf[t, j]
            out[j] = s
    return None


def csr_matmat(const idx_t[::1] indptr, const idx_t[::1] indices, const real_t[::1] data,
               const double[:, ::1] X, double[:, ::1] out):
    """out = M @ X; X has shape (n_cols, r), out (n_rows, r), both C-contiguous."""
    cdef Py_ssize_t n = indptr.shape[0] - 1, r = X.shape[1], i, k, q, c, t, nchunks
    cdef double a
    cdef Py_ssize_t[::1] bounds
    _check_csr(indptr, data.shape[0], indices.shape[0])
    _check_shape("out", out.shape[0], out.shape[1], n, r)
    if r == 1:
        # one column: csr_matvec's sums in a register, the same terms in the same order
        # (the loop below adds into out[i, 0] in memory: 1.19 against 0.41 ms for the
        # 50,000 × 50,000 core of the 10⁶ generated products on two threads)
        csr_matvec(indptr, indices, data, np.asarray(X).reshape(-1),
                   np.asarray(out).reshape(-1))
        return None
    nchunks = _n_chunks(n, indptr[n] * r)
    bounds = np.empty(nchunks + 1, dtype=np.intp)
    with nogil:
        _nnz_bounds(indptr, n, nchunks, bounds)
        for t in prange(nchunks, schedule="dynamic", chunksize=1, num_threads=_team(nchunks)):
            for i in range(bounds[t], bounds[t + 1]):
                for q in range(r):
                    out[i, q] = 0.0
                for k in range(indptr[i], indptr[i + 1]):
                    a = data[k]
                    c = indices[k]
                    for q in range(r):
                        out[i, q] += a * X[c, q]
    return None


def csr_matvec_rows(const idx_t[::1] indptr, const idx_t[::1] indices, const real_t[::1] data,
                    const idx2_t[::1] rows, const double[:, ::1] X, double[:, ::1] out):
    """out[t] = (M @ X)[rows[t]] for the listed rows only; X (n_cols, r), out (len(rows), r).

    The rows of one block of an economy in its own numbering (the block solver's external
    inputs), without a reordered copy of M. Parallel over chunks of the listed rows.
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, nr = rows.shape[0], r = X.shape[1]
    cdef Py_ssize_t t, i, k, q, c, ch, nchunks, lo, hi
    cdef double a
    _check_csr(indptr, data.shape[0], indices.shape[0])
    _check_shape("out", out.shape[0], out.shape[1], nr, r)
    nchunks = _n_chunks(nr, 12 * nr * r)
    with nogil:
        for ch in prange(nchunks, schedule="dynamic", chunksize=1, num_threads=_team(nchunks)):
            lo = (nr * ch) // nchunks
            hi = (nr * (ch + 1)) // nchunks
            for t in range(lo, hi):
                i = rows[t]
                for q in range(r):
                    out[t, q] = 0.0
                for k in range(indptr[i], indptr[i + 1]):
                    a = data[k]
                    c = indices[k]
                    for q in range(r):
                        out[t, q] += a * X[c, q]
    return None


def csr_rmatmat(const idx_t[::1] indptr, const idx_t[::1] indices, const real_t[::1] data,
                const double[:, ::1] X, double[:, ::1] out):
    """out = M.T @ X; X has shape (n_rows, r), out (n_cols, r). The kernel zeroes out.

    Parallel like :func:`csr_rmatvec` (per-chunk buffers summed in chunk order).
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, m = out.shape[0], r = X.shape[1]
    cdef Py_ssize_t i, k, q, c, t, j, lo, hi, nchunks
    cdef double a, s
    cdef double[:, :, ::1] buf
    cdef Py_ssize_t[::1] bounds
    _check_csr(indptr, data.shape[0], indices.shape[0])
    _check_shape("X", X.shape[0], X.shape[1], n, r)
    _check_shape("out", out.shape[0], out.shape[1], m, r)
    nchunks = _n_work_chunks(n, indptr[n] * r)
    if nchunks <= 1:
        with nogil:
            for j in range(m):
                for q in range(r):
                    out[j, q] = 0.0
            for i in range(n):
                for k in range(indptr[i], indptr[i + 1]):
                    a = data[k]
                    c = indices[k]
                    for q in range(r):
                        out[c, q] += a * X[i, q]
        return None
    buf = np.empty((nchunks - 1, m, r), dtype=np.float64)
    bounds = np.empty(nchunks + 1, dtype=np.intp)
    with nogil:
        _nnz_bounds(indptr, n, nchunks, bounds)
        for t in prange(nchunks, schedule="static", chunksize=1, num_threads=nchunks):
            lo = bounds[t]
            hi = bounds[t + 1]
            if t == 0:
                for j in range(m):
                    for q in range(r):
                        out[j, q] = 0.0
                for i in range(lo, hi):
                    for k in range(indptr[i], indptr[i + 1]):
                        a = data[k]
                        c = indices[k]
                        for q in range(r):
                            out[c, q] += a * X[i, q]
            else:
                for j in range(m):
                    for q in range(r):
                        buf[t - 1, j, q] = 0.0
                for i in range(lo, hi):
                    for k in range(indptr[i], indptr[i + 1]):
                        a = data[k]
                        c = indices[k]
                        for q in range(r):
                            buf[t - 1, c, q] += a * X[i, q]
        for j in prange(m, schedule="static"):
            for q in range(r):
                s = out[j, q]
                for t in range(nchunks - 1):
                    s = s + buf[t, j, q]
                out[j, q] = s
    return None


# --------------------------------------------------------------------------- Jacobi

def jacobi_step(const idx_t[::1] indptr, const idx_t[::1] indices, const real_t[::1] data,
                const double[::1] b, const double[::1] v, double[::1] v_new):
    """Fused Jacobi step v_new = b + M @ v for square M.

    Returns
    -------
    (res_inf, vnew_inf) : max|v_new - v| and max|v_new| (NaN if any entry is NaN).
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, i, k, t, nchunks
    cdef double s, res, vmax
    cdef double[::1] cres, cmax
    cdef Py_ssize_t[::1] bounds
    _check_csr(indptr, data.shape[0], indices.shape[0])
    cdef Py_ssize_t nnz = indptr[n]
    _check_len("b", b.shape[0], n)
    _check_len("v", v.shape[0], n)
    _check_len("v_new", v_new.shape[0], n)
    nchunks = _n_chunks(n, indptr[n])
    cres = np.zeros(nchunks, dtype=np.float64)
    cmax = np.zeros(nchunks, dtype=np.float64)
    bounds = np.empty(nchunks + 1, dtype=np.intp)
    with nogil:
        _nnz_bounds(indptr, n, nchunks, bounds)
        for t in prange(nchunks, schedule="dynamic", chunksize=1, num_threads=_team(nchunks)):
            res = 0.0
            vmax = 0.0
            for i in range(bounds[t], bounds[t + 1]):
                s = b[i] + _row_dot(indptr, indices, data, v, i, nnz)
                v_new[i] = s
                res = _nanmax(res, fabs(s - v[i]))
                vmax = _nanmax(vmax, fabs(s))
            cres[t] = res
            cmax[t] = vmax
        res = 0.0
        vmax = 0.0
        for t in range(nchunks):
            res = _nanmax(res, cres[t])
            vmax = _nanmax(vmax, cmax[t])
    return res, vmax


cdef void _chunk_maxima(const double[:, ::1] a, const double[:, ::1] b, double[::1] a_out,
                        double[::1] b_out) noexcept nogil:
    """Per column, the maxima (NaN kept) over the chunks' rows of a and of b."""
    cdef Py_ssize_t q, t
    for q in range(a.shape[1]):
        a_out[q] = 0.0
        b_out[q] = 0.0
        for t in range(a.shape[0]):
            a_out[q] = _nanmax(a_out[q], a[t, q])
            b_out[q] = _nanmax(b_out[q], b[t, q])


def jacobi_step_multi(const idx_t[::1] indptr, const idx_t[::1] indices,
                      const real_t[::1] data, const double[:, ::1] B, const double[:, ::1] V,
                      double[:, ::1] V_new, double[::1] res_inf, double[::1] vnew_inf):
    """Jacobi step for r right-hand sides: V_new = B + M @ V, arrays of shape (n, r).

    Writes per-column max|V_new - V| into res_inf (r,) and max|V_new| into vnew_inf (r,).
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, r = B.shape[1], i, k, t, q, c, nchunks
    cdef double a, s
    cdef double[:, ::1] cres, cmax
    cdef Py_ssize_t[::1] bounds
    _check_csr(indptr, data.shape[0], indices.shape[0])
    _check_shape("B", B.shape[0], B.shape[1], n, r)
    _check_shape("V", V.shape[0], V.shape[1], n, r)
    _check_shape("V_new", V_new.shape[0], V_new.shape[1], n, r)
    _check_len("res_inf", res_inf.shape[0], r)
    _check_len("vnew_inf", vnew_inf.shape[0], r)
    nchunks = _n_chunks(n, indptr[n] * r)
    cres = np.zeros((nchunks, r), dtype=np.float64)
    cmax = np.zeros((nchunks, r), dtype=np.float64)
    bounds = np.empty(nchunks + 1, dtype=np.intp)
    with nogil:
        _nnz_bounds(indptr, n, nchunks, bounds)
        for t in prange(nchunks, schedule="dynamic", chunksize=1, num_threads=_team(nchunks)):
            for i in range(bounds[t], bounds[t + 1]):
                for q in range(r):
                    V_new[i, q] = B[i, q]
                for k in range(indptr[i], indptr[i + 1]):
                    a = data[k]
                    c = indices[k]
                    for q in range(r):
                        V_new[i, q] += a * V[c, q]
                for q in range(r):
                    s = V_new[i, q]
                    cres[t, q] = _nanmax(cres[t, q], fabs(s - V[i, q]))
                    cmax[t, q] = _nanmax(cmax[t, q], fabs(s))
        _chunk_maxima(cres, cmax, res_inf, vnew_inf)
    return None


# --------------------------------------------------------------------------- Krylov

# Fused steps of BiCGSTAB on (I - M) x = b, one pass over memory each (see
# lab.values._krylov). Reductions are summed chunk by chunk in chunk order: the same
# bits on any number of threads.
#
# A chunk's bounds lo, hi are assigned in the prange body, which makes them private to
# each thread; set through pointers by a helper they stayed shared between the threads
# (Cython privatises only what the body assigns).

def residual_norms(const double[:, ::1] B, const double[:, ::1] AV, const double[:, ::1] V,
                   double[::1] res_inf, double[::1] v_inf):
    """Per column q: res_inf[q] = max_i |B[i, q] + AV[i, q] − V[i, q]| and v_inf[q] =
    max_i |V[i, q]|, in one pass without temporaries (maxima propagate NaN).

    The check of a solve v = b + M v from M v as the solve left it: at 10⁷ products the
    NumPy expression allocated and filled two 80 MB temporaries (0.35 s).
    """
    cdef Py_ssize_t n = V.shape[0], r = V.shape[1], i, q, t, lo, hi, nchunks
    cdef double a, c, d, e
    cdef int bad, vbad
    cdef double[:, ::1] cres, cmax
    _check_shape("B", B.shape[0], B.shape[1], n, r)
    _check_shape("AV", AV.shape[0], AV.shape[1], n, r)
    _check_len("res_inf", res_inf.shape[0], r)
    _check_len("v_inf", v_inf.shape[0], r)
    nchunks = _n_chunks(n, n * r)
    cres = np.zeros((nchunks, r), dtype=np.float64)
    cmax = np.zeros((nchunks, r), dtype=np.float64)
    with nogil:
        for t in prange(nchunks, schedule="dynamic", chunksize=1, num_threads=_team(nchunks)):
            lo = (n * t) // nchunks
            hi = (n * (t + 1)) // nchunks
            for q in range(r):
                # maxima by plain comparisons, NaN by flags (see bicgstab_update_xr)
                a = 0.0
                c = 0.0
                bad = 0
                vbad = 0
                for i in range(lo, hi):
                    d = fabs((B[i, q] + AV[i, q]) - V[i, q])
                    e = fabs(V[i, q])
                    a = d if d > a else a
                    c = e if e > c else c
                    bad = bad | (d != d)
                    vbad = vbad | (e != e)
                cres[t, q] = NAN if bad else a
                cmax[t, q] = NAN if vbad else c
        _chunk_maxima(cres, cmax, res_inf, v_inf)
    return None


def residual_quotients(const double[::1] b, const double[::1] av, const double[::1] v,
                       double[::1] out):
    """The check of one solve v = b + M v and the Collatz–Wielandt quotients of its
    values, in one pass: ``out`` = [max|b + av − v|, max|v|, max av/v, min av/v, min v]
    (av = M v as the solve computed it). Each is NaN where an entry it reads is (a
    quotient is NaN or ±inf where v is 0 or not finite: the caller proves nothing from
    it). :func:`residual_norms` and ``lab.values._structure.certify`` took a pass each
    over v and M v (10⁶ products: 1.1 and 1.2 ms).
    """
    cdef Py_ssize_t n = v.shape[0], i, t, lo, hi, nchunks
    cdef double d, e, q, res, vabs, qmax, qmin, vmin
    cdef int bad, vbad, qbad
    cdef double[:, ::1] part
    _check_len("b", b.shape[0], n)
    _check_len("av", av.shape[0], n)
    _check_len("out", out.shape[0], 5)
    nchunks = _n_chunks(n, 3 * n)
    part = np.empty((nchunks, 5), dtype=np.float64)
    with nogil:
        for t in prange(nchunks, schedule="dynamic", chunksize=1, num_threads=_team(nchunks)):
            lo = (n * t) // nchunks
            hi = (n * (t + 1)) // nchunks
            res = 0.0
            vabs = 0.0
            qmax = -INFINITY
            qmin = INFINITY
            vmin = INFINITY
            bad = 0
            vbad = 0
            qbad = 0
            for i in range(lo, hi):
                d = fabs((b[i] + av[i]) - v[i])
                e = v[i]
                q = av[i] / e
                res = d if d > res else res
                vabs = fabs(e) if fabs(e) > vabs else vabs
                qmax = q if q > qmax else qmax
                qmin = q if q < qmin else qmin
                vmin = e if e < vmin else vmin
                bad = bad | (d != d)
                vbad = vbad | (e != e)
                qbad = qbad | (q != q)
            part[t, 0] = NAN if bad else res
            part[t, 1] = NAN if vbad else vabs
            part[t, 2] = NAN if qbad else qmax
            part[t, 3] = NAN if qbad else qmin
            part[t, 4] = NAN if vbad else vmin
        out[0] = 0.0
        out[1] = 0.0
        out[2] = -INFINITY if n > 0 else 0.0
        out[3] = INFINITY if n > 0 else 0.0
        out[4] = INFINITY if n > 0 else 0.0
        for t in range(nchunks):
            out[0] = _nanmax(out[0], part[t, 0])
            out[1] = _nanmax(out[1], part[t, 1])
            out[2] = _nanmax(out[2], part[t, 2])
            out[3] = -_nanmax(-out[3], -part[t, 3])
            out[4] = -_nanmax(-out[4], -part[t, 4])
    return None


# One chunk of each BiCGSTAB step, shared by the step kernels below and by
# bicgstab_iterations, which makes the same steps in one parallel region: the same
# arithmetic by construction.

cdef inline double _minus_dot_rows(const idx_t[::1] indptr, const idx_t[::1] indices,
                                   const real_t[::1] data, const vec_t[::1] x,
                                   const double[::1] w, double[::1] y, Py_ssize_t lo,
                                   Py_ssize_t hi, Py_ssize_t nnz) noexcept nogil:
    """y = x − M x on rows [lo, hi); returns Σ w·y over them."""
    cdef Py_ssize_t i
    cdef double s, acc = 0.0
    for i in range(lo, hi):
        s = x[i] - _row_dot(indptr, indices, data, x, i, nnz)
        y[i] = s
        acc = acc + w[i] * s
    return acc


cdef inline void _minus_dot2_rows(const idx_t[::1] indptr, const idx_t[::1] indices,
                                  const real_t[::1] data, const vec_t[::1] x,
                                  double[::1] y, Py_ssize_t lo, Py_ssize_t hi,
                                  Py_ssize_t nnz, double *out) noexcept nogil:
    """y = x − M x on rows [lo, hi); out = (Σ y·x, Σ y·y) over them."""
    cdef Py_ssize_t i
    cdef double s, a = 0.0, b = 0.0
    for i in range(lo, hi):
        s = x[i] - _row_dot(indptr, indices, data, x, i, nnz)
        y[i] = s
        a = a + s * x[i]
        b = b + s * s
    out[0] = a
    out[1] = b


cdef inline double _update_s_rows(double[::1] r, const double[::1] v, double alpha,
                                  vec_t[::1] s, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """r −= alpha v on [lo, hi), copied to the direction s (r itself, or its float32
    copy); returns max |r| there, NaN if any entry is NaN. The
    maximum by a plain comparison and NaN by a flag: _nanmax's branches on every entry
    had made these sweeps compute-bound (58 → 40 µs for 50,000 entries in a C test)."""
    cdef Py_ssize_t i
    cdef double d, a, m = 0.0
    cdef int bad = 0
    for i in range(lo, hi):
        d = r[i] - alpha * v[i]
        r[i] = d
        s[i] = <vec_t> d
        a = fabs(d)
        m = a if a > m else m
        bad = bad | (d != d)
    return NAN if bad else m


cdef inline double _axpy_max_rows(double[::1] x, const vec_t[::1] p, double alpha,
                                  Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """x += alpha p on [lo, hi) (NumPy's x += alpha * p); returns max |x| there (NaN
    kept)."""
    cdef Py_ssize_t i
    cdef double xi, a, m = 0.0
    cdef int bad = 0
    for i in range(lo, hi):
        xi = x[i] + alpha * p[i]
        x[i] = xi
        a = fabs(xi)
        m = a if a > m else m
        bad = bad | (xi != xi)
    return NAN if bad else m


cdef inline void _update_xr_rows(double[::1] x, const vec_t[::1] p, double[::1] r,
                                 const vec_t[::1] s, const double[::1] t_vec,
                                 const double[::1] w, double alpha, double omega,
                                 Py_ssize_t lo, Py_ssize_t hi, double *out) noexcept nogil:
    """x += alpha p + omega s, then r −= omega t_vec, on [lo, hi); out = (Σ w·r,
    max |r|, max |x|) there (maxima as in _update_s_rows)."""
    cdef Py_ssize_t i
    cdef double ri, xi, a, dot = 0.0, rm = 0.0, xm = 0.0
    cdef int rbad = 0, xbad = 0
    for i in range(lo, hi):
        xi = x[i] + alpha * p[i] + omega * s[i]
        x[i] = xi
        ri = r[i] - omega * t_vec[i]
        r[i] = ri
        dot = dot + w[i] * ri
        a = fabs(ri)
        rm = a if a > rm else rm
        rbad = rbad | (ri != ri)
        a = fabs(xi)
        xm = a if a > xm else xm
        xbad = xbad | (xi != xi)
    out[0] = dot
    out[1] = NAN if rbad else rm
    out[2] = NAN if xbad else xm


cdef inline void _update_p_rows(vec_t[::1] p, const double[::1] r, const double[::1] v,
                                double beta, double omega, Py_ssize_t lo,
                                Py_ssize_t hi) noexcept nogil:
    """p = r + beta (p − omega v) on [lo, hi)."""
    cdef Py_ssize_t i
    for i in range(lo, hi):
        p[i] = <vec_t> (r[i] + beta * (p[i] - omega * v[i]))


def bicgstab_matvec_dot(const idx_t[::1] indptr, const idx_t[::1] indices,
                        const real_t[::1] data, const vec_t[::1] x, const double[::1] w,
                        double[::1] y):
    """y = x - M @ x for square M; returns w . y."""
    cdef Py_ssize_t n = indptr.shape[0] - 1, t, nchunks
    cdef double acc
    cdef Py_ssize_t[::1] bounds
    cdef double[::1] part
    _check_csr(indptr, data.shape[0], indices.shape[0])
    cdef Py_ssize_t nnz = indptr[n]
    _check_len("x", x.shape[0], n)
    _check_len("w", w.shape[0], n)
    _check_len("y", y.shape[0], n)
    nchunks = _n_chunks(n, indptr[n])
    bounds = np.empty(nchunks + 1, dtype=np.intp)
    part = np.empty(nchunks, dtype=np.float64)
    with nogil:
        _nnz_bounds(indptr, n, nchunks, bounds)
        for t in prange(nchunks, schedule="dynamic", chunksize=1, num_threads=_team(nchunks)):
            part[t] = _minus_dot_rows(indptr, indices, data, x, w, y, bounds[t],
                                      bounds[t + 1], nnz)
        acc = 0.0
        for t in range(nchunks):
            acc = acc + part[t]
    return acc


def bicgstab_matvec_dot2(const idx_t[::1] indptr, const idx_t[::1] indices,
                         const real_t[::1] data, const vec_t[::1] x, double[::1] y):
    """y = x - M @ x for square M; returns (y . x, y . y)."""
    cdef Py_ssize_t n = indptr.shape[0] - 1, t, nchunks
    cdef double yx, yy
    cdef Py_ssize_t[::1] bounds
    cdef double[:, ::1] part
    _check_csr(indptr, data.shape[0], indices.shape[0])
    cdef Py_ssize_t nnz = indptr[n]
    _check_len("x", x.shape[0], n)
    _check_len("y", y.shape[0], n)
    nchunks = _n_chunks(n, indptr[n])
    bounds = np.empty(nchunks + 1, dtype=np.intp)
    part = np.empty((nchunks, 2), dtype=np.float64)
    with nogil:
        _nnz_bounds(indptr, n, nchunks, bounds)
        for t in prange(nchunks, schedule="dynamic", chunksize=1, num_threads=_team(nchunks)):
            _minus_dot2_rows(indptr, indices, data, x, y, bounds[t], bounds[t + 1], nnz,
                             &part[t, 0])
        yx = 0.0
        yy = 0.0
        for t in range(nchunks):
            yx = yx + part[t, 0]
            yy = yy + part[t, 1]
    return yx, yy


def bicgstab_update_s(double[::1] r, const double[::1] v, double alpha, vec_t[::1] s):
    """r -= alpha * v in place, copied to s (r itself, or a float32 vector); returns
    max |r| (NaN if any entry is NaN)."""
    cdef Py_ssize_t n = r.shape[0], t, nchunks
    cdef double m
    cdef double[::1] part
    _check_len("v", v.shape[0], n)
    _check_len("s", s.shape[0], n)
    nchunks = _n_chunks(n, n)
    part = np.empty(nchunks, dtype=np.float64)
    with nogil:
        for t in prange(nchunks, schedule="dynamic", chunksize=1, num_threads=_team(nchunks)):
            part[t] = _update_s_rows(r, v, alpha, s, (n * t) // nchunks,
                                     (n * (t + 1)) // nchunks)
        m = 0.0
        for t in range(nchunks):
            m = _nanmax(m, part[t])
    return m


def bicgstab_update_xr(double[::1] x, const vec_t[::1] p, double[::1] r, const vec_t[::1] s,
                       const double[::1] t_vec, const double[::1] w, double alpha,
                       double omega):
    """x += alpha * p + omega * s; then r -= omega * t_vec, in place (s: the direction
    the last product gathered, r itself or its float32 copy).

    Returns (w . r, max |r|, max |x|) of the updated vectors (maxima propagate NaN).
    """
    cdef Py_ssize_t n = x.shape[0], t, nchunks
    cdef double dot, rm, xm
    cdef double[:, ::1] part
    _check_len("p", p.shape[0], n)
    _check_len("r", r.shape[0], n)
    _check_len("s", s.shape[0], n)
    _check_len("t_vec", t_vec.shape[0], n)
    _check_len("w", w.shape[0], n)
    nchunks = _n_chunks(n, 2 * n)
    part = np.empty((nchunks, 3), dtype=np.float64)
    with nogil:
        for t in prange(nchunks, schedule="dynamic", chunksize=1, num_threads=_team(nchunks)):
            _update_xr_rows(x, p, r, s, t_vec, w, alpha, omega, (n * t) // nchunks,
                            (n * (t + 1)) // nchunks, &part[t, 0])
        dot = 0.0
        rm = 0.0
        xm = 0.0
        for t in range(nchunks):
            dot = dot + part[t, 0]
            rm = _nanmax(rm, part[t, 1])
            xm = _nanmax(xm, part[t, 2])
    return dot, rm, xm


def bicgstab_update_p(vec_t[::1] p, const double[::1] r, const double[::1] v, double beta,
                      double omega):
    """p = r + beta * (p - omega * v), in place."""
    cdef Py_ssize_t n = p.shape[0], t, nchunks
    _check_len("r", r.shape[0], n)
    _check_len("v", v.shape[0], n)
    nchunks = _n_chunks(n, n)
    with nogil:
        for t in prange(nchunks, schedule="dynamic", chunksize=1, num_threads=_team(nchunks)):
            _update_p_rows(p, r, v, beta, omega, (n * t) // nchunks,
                           (n * (t + 1)) // nchunks)
    return None


cdef inline Py_ssize_t _claim(int64_t *claimed, int64_t base) noexcept nogil:
    """The next chunk of the current phase of a region (see bicgstab_iterations)."""
    return <Py_ssize_t> (lab_fetch_add(claimed, 1) - base)


def bicgstab_iterations(const idx_t[::1] indptr, const idx_t[::1] indices,
                        const real_t[::1] data, double[::1] x, double[::1] r,
                        const double[::1] rhat, vec_t[::1] p, vec_t[::1] s, double[::1] v,
                        double[::1] t, double[::1] state, double[::1] history,
                        Py_ssize_t steps):
    """Up to ``steps`` iterations of BiCGSTAB for (I − M)x = b in one parallel region.

    ``p`` and ``s`` are the search directions the products gather: float64, with ``s``
    the same array as ``r``, or float32 copies (see ``lab.values._krylov.bicgstab``).

    The same iterations as ``lab.values._krylov.bicgstab`` makes with the five kernels
    ``bicgstab_matvec_dot``, ``bicgstab_update_s``, ``bicgstab_matvec_dot2``,
    ``bicgstab_update_xr`` and ``bicgstab_update_p`` (the same chunks, the same sums in
    the same order: the same bits), with a barrier between the steps instead of a
    parallel region each: under OMP_WAIT_POLICY=PASSIVE every region wakes the sleeping
    thread, about 50–75 µs here, three times an iteration (see ``lab_barrier_wait``).
    Every thread sums the chunks' partial results itself, in chunk order, so all of
    them take the same decisions without another barrier.

    ``state`` holds [rho, xmax, tol, atol, rhat_norm] on entry (r̂·r, max|x|, the rule
    ‖r‖∞ ≤ max(tol·max|x|, atol), and ‖r̂‖₂) and rho, xmax on return. ``history[k]``
    receives ‖r‖∞ / ‖x‖∞ after iteration k (length ≥ steps).

    Returns
    -------
    (status, iterations, passes)
        status 0: ``steps`` iterations made; 1: the rule is met; 2: a value is not
        finite; 3: a breakdown (ρ or ω vanishing, a non-finite step): restart.
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, nnz, ch_mv, ch_v1, ch_v2, c, k
    cdef Py_ssize_t[::1] bounds
    cdef double[::1] pd, pt2, ps, pxr, px
    cdef double rho, xmax, tol, atol, rhat_norm, d, alpha, omega, beta, rho_new
    cdef double smax, rmax, ts, tt, size, eps2
    cdef int tid, team, sense, spin, status, nt
    cdef int64_t base
    cdef int64_t *shared
    cdef lab_barrier_t barrier
    _check_csr(indptr, data.shape[0], indices.shape[0])
    nnz = indptr[n]
    for name, length in (("x", x.shape[0]), ("r", r.shape[0]), ("rhat", rhat.shape[0]),
                         ("p", p.shape[0]), ("s", s.shape[0]), ("v", v.shape[0]),
                         ("t", t.shape[0])):
        _check_len(name, length, n)
    _check_len("state", state.shape[0], 5)
    if history.shape[0] < steps:
        raise ValueError(f"history has length {history.shape[0]} but {steps} is required")
    # the chunks of bicgstab_matvec_dot(2), bicgstab_update_s / _p and bicgstab_update_xr
    ch_mv = _n_chunks(n, nnz)
    ch_v1 = _n_chunks(n, n)
    ch_v2 = _n_chunks(n, 2 * n)
    bounds = np.empty(ch_mv + 1, dtype=np.intp)
    pd, pt2 = np.empty(ch_mv, dtype=np.float64), np.empty(2 * ch_mv, dtype=np.float64)
    ps, px = np.empty(ch_v1, dtype=np.float64), np.empty(ch_v1, dtype=np.float64)
    pxr = np.empty(3 * ch_v2, dtype=np.float64)
    nt = _team(max(ch_mv, ch_v2))
    # [the chunk counter, status, iterations, passes] shared by the team
    shared = <int64_t *> calloc(4, sizeof(int64_t))
    if shared == NULL:
        raise MemoryError("bicgstab_iterations: cannot allocate")
    barrier.count = 0
    barrier.sense = 0
    barrier.sleeping = 0
    eps2 = 2.220446049250313e-16 * 2.220446049250313e-16
    try:
        with nogil:
            _nnz_bounds(indptr, n, ch_mv, bounds)
            with parallel(num_threads=nt):
                tid = threadid()
                team = omp_get_num_threads()
                sense = 0
                spin = 256
                base = 0
                rho = state[0]
                xmax = state[1]
                tol = state[2]
                atol = state[3]
                rhat_norm = state[4]
                status = 0
                k = 0
                while k < steps:
                    # v = p − M p, and r̂·v
                    while True:
                        c = _claim(shared, base)
                        if c >= ch_mv:
                            break
                        pd[c] = _minus_dot_rows(indptr, indices, data, p, rhat, v,
                                                bounds[c], bounds[c + 1], nnz)
                    base = base + ch_mv + team  # each thread's last claim overshoots once
                    lab_barrier_wait(&barrier, team, &sense, &spin)
                    d = 0.0
                    for c in range(ch_mv):
                        d = d + pd[c]
                    if tid == 0:
                        shared[3] += 1
                    if not (isfinite(d) and d != 0.0):
                        status = 3
                        break
                    alpha = rho / d
                    # s = r − alpha v (in r), max|s|
                    while True:
                        c = _claim(shared, base)
                        if c >= ch_v1:
                            break
                        ps[c] = _update_s_rows(r, v, alpha, s, (n * c) // ch_v1,
                                               (n * (c + 1)) // ch_v1)
                    base = base + ch_v1 + team
                    lab_barrier_wait(&barrier, team, &sense, &spin)
                    smax = 0.0
                    for c in range(ch_v1):
                        smax = _nanmax(smax, ps[c])
                    if smax <= max(tol * xmax, atol):  # the half step is good enough
                        while True:
                            c = _claim(shared, base)
                            if c >= ch_v1:
                                break
                            px[c] = _axpy_max_rows(x, p, alpha, (n * c) // ch_v1,
                                                   (n * (c + 1)) // ch_v1)
                        base = base + ch_v1 + team
                        lab_barrier_wait(&barrier, team, &sense, &spin)
                        xmax = 0.0
                        for c in range(ch_v1):
                            xmax = _nanmax(xmax, px[c])
                        if tid == 0:
                            history[k] = smax / xmax if xmax > 0 else INFINITY
                        k = k + 1
                        status = 1 if isfinite(xmax) else 2
                        break
                    # t = s − M s, t·s and t·t
                    while True:
                        c = _claim(shared, base)
                        if c >= ch_mv:
                            break
                        _minus_dot2_rows(indptr, indices, data, s, t, bounds[c],
                                         bounds[c + 1], nnz, &pt2[2 * c])
                    base = base + ch_mv + team
                    lab_barrier_wait(&barrier, team, &sense, &spin)
                    ts = 0.0
                    tt = 0.0
                    for c in range(ch_mv):
                        ts = ts + pt2[2 * c]
                        tt = tt + pt2[2 * c + 1]
                    if tid == 0:
                        shared[3] += 1
                    omega = ts / tt if tt > 0 and isfinite(ts / tt) else 0.0
                    # x += alpha p + omega s; r = s − omega t; r̂·r, max|r|, max|x|
                    while True:
                        c = _claim(shared, base)
                        if c >= ch_v2:
                            break
                        _update_xr_rows(x, p, r, s, t, rhat, alpha, omega,
                                        (n * c) // ch_v2, (n * (c + 1)) // ch_v2,
                                        &pxr[3 * c])
                    base = base + ch_v2 + team
                    lab_barrier_wait(&barrier, team, &sense, &spin)
                    rho_new = 0.0
                    rmax = 0.0
                    xmax = 0.0
                    for c in range(ch_v2):
                        rho_new = rho_new + pxr[3 * c]
                        rmax = _nanmax(rmax, pxr[3 * c + 1])
                        xmax = _nanmax(xmax, pxr[3 * c + 2])
                    if tid == 0:
                        history[k] = rmax / xmax if xmax > 0 else INFINITY
                    k = k + 1
                    if not (isfinite(rmax) and isfinite(xmax)):
                        status = 2
                        break
                    if rmax <= max(tol * xmax, atol):
                        status = 1
                        break
                    size = rhat_norm * rmax * sqrt(<double> n)  # ≥ ‖r̂‖₂‖r‖₂
                    if not (omega != 0.0 and fabs(rho_new) > eps2 * size):
                        status = 3
                        break
                    beta = (rho_new / rho) * (alpha / omega)
                    # p = r + beta (p − omega v)
                    while True:
                        c = _claim(shared, base)
                        if c >= ch_v1:
                            break
                        _update_p_rows(p, r, v, beta, omega, (n * c) // ch_v1,
                                       (n * (c + 1)) // ch_v1)
                    base = base + ch_v1 + team
                    lab_barrier_wait(&barrier, team, &sense, &spin)
                    rho = rho_new
                if tid == 0:
                    state[0] = rho
                    state[1] = xmax
                    shared[1] = status
                    shared[2] = k
        return int(shared[1]), int(shared[2]), int(shared[3])
    finally:
        free(shared)


cdef inline double _matvec_sum_rows(const idx_t[::1] indptr, const idx_t[::1] indices,
                                    const real_t[::1] data, const double[::1] r,
                                    double[::1] t, Py_ssize_t lo, Py_ssize_t hi,
                                    Py_ssize_t nnz) noexcept nogil:
    """t = M r on rows [lo, hi); returns Σ t over them."""
    cdef Py_ssize_t i
    cdef double s, acc = 0.0
    for i in range(lo, hi):
        s = _row_dot(indptr, indices, data, r, i, nnz)
        t[i] = s
        acc = acc + s
    return acc


cdef inline void _richardson_update_rows(double[::1] x, double[::1] r, const double[::1] t,
                                         const double[::1] u, const double[::1] z,
                                         double c, Py_ssize_t lo, Py_ssize_t hi,
                                         double *out) noexcept nogil:
    """x += r + c u, r = t − c z on [lo, hi); out = (max |r|, max |x|, Σ r²) there
    (maxima as in _update_s_rows, NaN kept)."""
    cdef Py_ssize_t i
    cdef double ri, xi, a, rr = 0.0, rm = 0.0, xm = 0.0
    cdef int rbad = 0, xbad = 0
    for i in range(lo, hi):
        xi = x[i] + r[i] + c * u[i]
        ri = t[i] - c * z[i]
        x[i] = xi
        r[i] = ri
        rr = rr + ri * ri
        a = fabs(ri)
        rm = a if a > rm else rm
        rbad = rbad | (ri != ri)
        a = fabs(xi)
        xm = a if a > xm else xm
        xbad = xbad | (xi != xi)
    out[0] = NAN if rbad else rm
    out[1] = NAN if xbad else xm
    out[2] = rr


def richardson_iterations(const idx_t[::1] indptr, const idx_t[::1] indices,
                          const real_t[::1] data, double[::1] x, double[::1] r,
                          double[::1] t, const double[::1] u, const double[::1] z,
                          double[::1] state, double[:, ::1] history, Py_ssize_t steps):
    """Up to ``steps`` passes of Richardson's iteration for (I − M)x = b with the
    direction u deflated, in one parallel region (``lab.values._krylov.
    deflated_richardson``): t = M r; c = Σt / Σz; x += r + c u; r = t − c z. Two
    barriers a pass; every thread sums the chunks' partial results in chunk order, so
    the answer does not depend on the thread count.

    ``state`` holds [Σz, tol, atol] (the rule ‖r‖∞ ≤ max(tol·max|x|, atol)).
    ``history[0, k]`` receives ‖r‖∞ / ‖x‖∞ after pass k and ``history[1, k]`` Σ r².

    Returns
    -------
    (status, passes)
        status 0: ``steps`` passes made; 1: the rule is met; 2: a value is not finite.
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, nnz, ch_mv, ch_v, c, k
    cdef Py_ssize_t[::1] bounds
    cdef double[::1] pt, pu
    cdef double zsum, tol, atol, tsum, coef, rmax, xmax, rr
    cdef int tid, team, sense, spin, status, nt
    cdef int64_t base
    cdef int64_t *shared
    cdef lab_barrier_t barrier
    _check_csr(indptr, data.shape[0], indices.shape[0])
    nnz = indptr[n]
    for name, vec in (("x", x), ("r", r), ("t", t), ("u", u), ("z", z)):
        _check_len(name, vec.shape[0], n)
    _check_len("state", state.shape[0], 3)
    if history.shape[0] != 2 or history.shape[1] < steps:
        raise ValueError(f"history has shape ({history.shape[0]}, {history.shape[1]}) but "
                         f"(2, ≥ {steps}) is required")
    ch_mv = _n_chunks(n, nnz)
    ch_v = _n_chunks(n, 3 * n)
    bounds = np.empty(ch_mv + 1, dtype=np.intp)
    pt = np.empty(ch_mv, dtype=np.float64)
    pu = np.empty(3 * ch_v, dtype=np.float64)
    nt = _team(max(ch_mv, ch_v))
    # [the chunk counter, status, passes] shared by the team
    shared = <int64_t *> calloc(3, sizeof(int64_t))
    if shared == NULL:
        raise MemoryError("richardson_iterations: cannot allocate")
    barrier.count = 0
    barrier.sense = 0
    barrier.sleeping = 0
    try:
        with nogil:
            _nnz_bounds(indptr, n, ch_mv, bounds)
            with parallel(num_threads=nt):
                tid = threadid()
                team = omp_get_num_threads()
                sense = 0
                spin = 256
                base = 0
                zsum = state[0]
                tol = state[1]
                atol = state[2]
                status = 0
                k = 0
                while k < steps:
                    # t = M r, Σt
                    while True:
                        c = _claim(shared, base)
                        if c >= ch_mv:
                            break
                        pt[c] = _matvec_sum_rows(indptr, indices, data, r, t, bounds[c],
                                                 bounds[c + 1], nnz)
                    base = base + ch_mv + team
                    lab_barrier_wait(&barrier, team, &sense, &spin)
                    tsum = 0.0
                    for c in range(ch_mv):
                        tsum = tsum + pt[c]
                    coef = tsum / zsum
                    # x += r + coef u; r = t − coef z; max|r|, max|x|, Σr²
                    while True:
                        c = _claim(shared, base)
                        if c >= ch_v:
                            break
                        _richardson_update_rows(x, r, t, u, z, coef, (n * c) // ch_v,
                                                (n * (c + 1)) // ch_v, &pu[3 * c])
                    base = base + ch_v + team
                    lab_barrier_wait(&barrier, team, &sense, &spin)
                    rmax = 0.0
                    xmax = 0.0
                    rr = 0.0
                    for c in range(ch_v):
                        rmax = _nanmax(rmax, pu[3 * c])
                        xmax = _nanmax(xmax, pu[3 * c + 1])
                        rr = rr + pu[3 * c + 2]
                    if tid == 0:
                        history[0, k] = rmax / xmax if xmax > 0 else INFINITY
                        history[1, k] = rr
                    k = k + 1
                    if not (isfinite(rmax) and isfinite(xmax) and isfinite(coef)):
                        status = 2
                        break
                    if rmax <= max(tol * xmax, atol):
                        status = 1
                        break
                if tid == 0:
                    shared[1] = status
                    shared[2] = k
        return int(shared[1]), int(shared[2])
    finally:
        free(shared)


#: Rows per chunk of a colour in gauss_seidel_sweeps: small chunks keep the threads'
#: shares of a colour even, so that neither sleeps at the barrier after it (the 10⁶
#: generated core's 16 colours, two threads: 0.59–0.60 ms a sweep with 64 rows, 0.57–0.68
#: with 256, 0.62–0.72 with 32; one thread 0.97–1.09; ``python /tmp/s38/sweep3.py``).
GS_CHUNK_ROWS = 64
#: Fewest entries (plus rows) per colour, on average, for which gauss_seidel_sweeps runs
#: on more than one thread: a barrier between colours costs more than a small colour's
#: rows (random cores with 12 inputs a row and 12–14 colours, two threads against one,
#: alternated: 500 rows 0.03×, 2,000 0.10×, 10⁴ 0.99×, 2·10⁴ 1.16×, 5·10⁴ 1.67×;
#: with this rule 500 and 2,000 rows 1.0×, 2·10⁴ 1.12×, 3·10⁴ 1.18–1.22×;
#: ``python /tmp/s43/gsk.py 21 …``). The chunks do not depend on the team, so neither do
#: the sums.
GS_SERIAL_WORK = 1 << 14


cdef inline void _gs_color_rows(const idx_t[::1] indptr, const idx_t[::1] indices,
                                const real_t[::1] data, const double[::1] b, double[::1] x,
                                const double[::1] complement, Py_ssize_t lo, Py_ssize_t hi,
                                double *out) noexcept nogil:
    """x_i = (b_i + Σ_{j≠i} m_ij x_j) / (1 − m_ii) for rows [lo, hi) in order; out =
    (the largest change, Σ complement_i x_i of the new values) there (NaN kept)."""
    cdef Py_ssize_t i, p, col
    cdef double d, acc, new, a, change = 0.0, dot = 0.0
    cdef int bad = 0
    for i in range(lo, hi):
        d = 0.0
        acc = b[i]
        for p in range(indptr[i], indptr[i + 1]):
            col = indices[p]
            if col == i:
                d = d + data[p]
            else:
                acc = acc + data[p] * x[col]
        new = acc / (1.0 - d)
        a = fabs(new - x[i])
        change = a if a > change else change
        bad = bad | (a != a) | (not (1.0 - d > 0.0))
        x[i] = new
        dot = dot + complement[i] * new
    out[0] = NAN if bad else change
    out[1] = dot


def gauss_seidel_sweeps(const idx_t[::1] indptr, const idx_t[::1] indices,
                        const real_t[::1] data, const double[::1] b, double[::1] x,
                        const idx2_t[::1] color_ptr, const double[::1] u,
                        const double[::1] complement, double[::1] state,
                        double[::1] history, Py_ssize_t steps):
    """Up to ``steps`` Gauss–Seidel sweeps for (I − M)x = b on rows stored colour by
    colour, each followed by the deflation of u, in one parallel region
    (``lab.values._krylov.deflated_gauss_seidel``).

    Colour c holds rows ``color_ptr[c]:color_ptr[c + 1]``, none of which uses another
    (``greedy_colors``): its rows are cut into chunks of :data:`GS_CHUNK_ROWS` handed out
    dynamically, with a barrier between colours, which gives the sequential sweep in
    row order on any number of threads. After a sweep, x += c u with c = (Σb − Σ_i
    complement_i x_i) / Σz (``complement`` = 1 − the column sums of M: the sum of the
    residual without a pass). Partial results are summed in chunk order by every
    thread, so the answer does not depend on the thread count.

    ``state`` holds [Σb, Σz, tol, atol]; ``history[k]`` receives the largest change of
    sweep k. The rule: the change ≤ max(tol·max|x|, atol), after which the caller checks
    the true residual.

    Returns
    -------
    (status, sweeps)
        status 0: ``steps`` sweeps made; 1: a sweep's change met the rule; 2: a value is
        not finite or a pivot 1 − m_ii is not positive.
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, n_colors = color_ptr.shape[0] - 1
    cdef Py_ssize_t c, k, ch, total, ch_v, lo, hi
    cdef Py_ssize_t *first_chunk
    cdef double *part
    cdef double bsum, zsum, tol, atol, coef, change, dot, xmax, a, xi
    cdef int tid, team, sense, spin, status, nt, xbad
    cdef int64_t base
    cdef int64_t *shared
    cdef lab_barrier_t barrier
    _check_csr(indptr, data.shape[0], indices.shape[0])
    for name, vec in (("b", b), ("x", x), ("u", u), ("complement", complement)):
        _check_len(name, vec.shape[0], n)
    _check_len("state", state.shape[0], 4)
    if history.shape[0] < steps:
        raise ValueError(f"history has length {history.shape[0]} but ≥ {steps} is required")
    if n_colors < 0 or color_ptr[0] != 0 or color_ptr[n_colors] != n:
        raise ValueError("color_ptr must run from 0 to the number of rows")
    for c in range(n_colors):
        if color_ptr[c + 1] < color_ptr[c]:
            raise ValueError(f"color_ptr decreases at {c}")
    first_chunk = <Py_ssize_t *> malloc((n_colors + 1) * sizeof(Py_ssize_t))
    if first_chunk == NULL:
        raise MemoryError("gauss_seidel_sweeps: cannot allocate")
    first_chunk[0] = 0
    for c in range(n_colors):
        first_chunk[c + 1] = first_chunk[c] + max(
            1, (color_ptr[c + 1] - color_ptr[c]) // GS_CHUNK_ROWS)
    total = first_chunk[n_colors]
    ch_v = _n_chunks(n, 2 * n)
    part = <double *> malloc((2 * total + ch_v + 1) * sizeof(double))
    # [the chunk counter, status, sweeps] shared by the team
    shared = <int64_t *> calloc(3, sizeof(int64_t))
    if part == NULL or shared == NULL:
        free(first_chunk)
        free(part)
        free(shared)
        raise MemoryError("gauss_seidel_sweeps: cannot allocate")
    nt = _team_of(total if total > ch_v else ch_v)
    if indptr[n] + n < GS_SERIAL_WORK * n_colors:
        nt = 1
    barrier.count = 0
    barrier.sense = 0
    barrier.sleeping = 0
    try:
        with nogil:
            with parallel(num_threads=nt):
                tid = threadid()
                team = omp_get_num_threads()
                sense = 0
                spin = 256
                base = 0
                bsum = state[0]
                zsum = state[1]
                tol = state[2]
                atol = state[3]
                status = 0
                k = 0
                while k < steps:
                    for c in range(n_colors):
                        lo = color_ptr[c]
                        hi = first_chunk[c + 1] - first_chunk[c]  # the colour's chunks
                        while True:
                            ch = _claim(shared, base)
                            if ch >= hi:
                                break
                            _gs_color_rows(indptr, indices, data, b, x, complement,
                                           lo + ((color_ptr[c + 1] - lo) * ch) // hi,
                                           lo + ((color_ptr[c + 1] - lo) * (ch + 1)) // hi,
                                           &part[2 * (first_chunk[c] + ch)])
                        base = base + hi + team
                        lab_barrier_wait(&barrier, team, &sense, &spin)
                    change = 0.0
                    dot = 0.0
                    for ch in range(total):
                        change = _nanmax(change, part[2 * ch])
                        dot = dot + part[2 * ch + 1]
                    coef = (bsum - dot) / zsum
                    # x += coef u, max|x|
                    while True:
                        ch = _claim(shared, base)
                        if ch >= ch_v:
                            break
                        xmax = 0.0
                        xbad = 0
                        for lo in range((n * ch) // ch_v, (n * (ch + 1)) // ch_v):
                            xi = x[lo] + coef * u[lo]
                            x[lo] = xi
                            a = fabs(xi)
                            xmax = a if a > xmax else xmax
                            xbad = xbad | (xi != xi)
                        part[2 * total + ch] = NAN if xbad else xmax
                    base = base + ch_v + team
                    lab_barrier_wait(&barrier, team, &sense, &spin)
                    xmax = 0.0
                    for ch in range(ch_v):
                        xmax = _nanmax(xmax, part[2 * total + ch])
                    if tid == 0:
                        history[k] = change
                    k = k + 1
                    if not (isfinite(change) and isfinite(xmax) and isfinite(coef)):
                        status = 2
                        break
                    if change <= max(tol * xmax, atol):
                        status = 1
                        break
                if tid == 0:
                    shared[1] = status
                    shared[2] = k
        return int(shared[1]), int(shared[2])
    finally:
        free(first_chunk)
        free(part)
        free(shared)


# --------------------------------------------------------------------------- tiles
# A square matrix cut into tiles of tile_rows x tile_cols, stored tile after tile
# (row band by row band, column tiles in order within a band) as coordinates local to
# the tile: uint16 rows and columns, so 12 bytes per non-zero as int32 CSR. A product
# sweeps one band at a time: its sums stay in a buffer of tile_rows doubles and each
# tile gathers from a slice of tile_cols entries of x, both held in the core's cache,
# where a CSR row gathers from anywhere in x (a cache-line miss per non-zero on a matrix
# without locality). Bands are the chunks of a product, so its reductions, summed band
# by band, give the same bits on any number of threads.

cdef int _check_tiles(Py_ssize_t n, Py_ssize_t tile_rows, Py_ssize_t tile_cols,
                      Py_ssize_t n_ptr) except -1:
    if not (1 <= tile_rows <= 65536 and 1 <= tile_cols <= 65536
            and tile_rows & (tile_rows - 1) == 0 and tile_cols & (tile_cols - 1) == 0):
        raise ValueError("tile sides must be powers of two in [1, 65536], "
                         f"got {tile_rows} x {tile_cols}")
    cdef Py_ssize_t want = ((n + tile_rows - 1) // tile_rows) * ((n + tile_cols - 1) // tile_cols) + 1
    if n_ptr != want:
        raise ValueError(f"tile_ptr has length {n_ptr} but {want} is required")
    return 0


@cython.boundscheck(False)
@cython.wraparound(False)
def tile_csr(const idx_t[::1] indptr, const idx_t[::1] indices, const real_t[::1] data,
             Py_ssize_t tile_rows, Py_ssize_t tile_cols, int64_t[::1] tile_ptr,
             uint16_t[::1] rows, uint16_t[::1] cols, real_t[::1] tile_data):
    """Cut the square CSR matrix M into tiles (see the section comment).

    Writes tile_ptr (entries of tile t at tile_ptr[t]:tile_ptr[t + 1], tiles numbered
    band * n_column_tiles + column tile) and, per entry, its row and column within the
    tile and its coefficient; entries keep their CSR order within a tile. rows, cols and
    tile_data have length nnz; column indices must lie in [0, n).
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, b, i, k, s, p, lo, hi, t
    cdef int64_t* next_at_band
    _check_csr(indptr, data.shape[0], indices.shape[0])
    cdef Py_ssize_t nnz = indptr[n]
    _check_tiles(n, tile_rows, tile_cols, tile_ptr.shape[0])
    cdef int shift = 0  # tile_cols is 2**shift: no integer division per entry
    while (1 << shift) < tile_cols:
        shift += 1
    _check_len("rows", rows.shape[0], nnz)
    _check_len("cols", cols.shape[0], nnz)
    _check_len("tile_data", tile_data.shape[0], nnz)
    cdef Py_ssize_t n_bands = (n + tile_rows - 1) // tile_rows
    cdef Py_ssize_t n_col = (n + tile_cols - 1) // tile_cols
    cdef int team = 1 if nnz < _SERIAL_WORK else _team_of(n_bands)
    cdef int64_t[:, ::1] next_at = np.empty((team, max(n_col, 1)), dtype=np.int64)
    tile_ptr[:] = 0
    with nogil:
        for b in prange(n_bands, schedule="dynamic", chunksize=1, num_threads=team):
            lo = b * tile_rows
            hi = min(lo + tile_rows, n)
            for i in range(lo, hi):
                for k in range(indptr[i], indptr[i + 1]):
                    tile_ptr[b * n_col + (indices[k] >> shift) + 1] += 1
        for t in range(n_bands * n_col):
            tile_ptr[t + 1] += tile_ptr[t]
        for b in prange(n_bands, schedule="dynamic", chunksize=1, num_threads=team):
            lo = b * tile_rows
            hi = min(lo + tile_rows, n)
            next_at_band = &next_at[threadid(), 0]
            for s in range(n_col):
                next_at_band[s] = tile_ptr[b * n_col + s]
            for i in range(lo, hi):
                for k in range(indptr[i], indptr[i + 1]):
                    s = indices[k] >> shift
                    p = next_at_band[s]
                    next_at_band[s] = p + 1
                    rows[p] = <uint16_t> (i - lo)
                    cols[p] = <uint16_t> (indices[k] & (tile_cols - 1))
                    tile_data[p] = data[k]
    return None


@cython.boundscheck(False)
@cython.wraparound(False)
def tiled_matvec_dots(const int64_t[::1] tile_ptr, const uint16_t[::1] rows,
                      const uint16_t[::1] cols, const real_t[::1] data,
                      Py_ssize_t tile_rows, Py_ssize_t tile_cols, const double[::1] x,
                      const double[::1] w, double[::1] y, bint identity_minus):
    """y = M @ x, or y = x - M @ x when identity_minus, for M stored by :func:`tile_csr`;
    returns (w . y, x . y, y . y). y must not alias x or w."""
    cdef Py_ssize_t n = x.shape[0], b, r, k, s, t, lo, m
    cdef double v, a0, a1, a2
    cdef const double* xs
    cdef double* acc
    _check_tiles(n, tile_rows, tile_cols, tile_ptr.shape[0])
    _check_len("w", w.shape[0], n)
    _check_len("y", y.shape[0], n)
    cdef Py_ssize_t nnz = tile_ptr[tile_ptr.shape[0] - 1]
    if tile_ptr[0] != 0 or nnz > rows.shape[0] or nnz > cols.shape[0] or nnz > data.shape[0]:
        raise ValueError("inconsistent tile arrays")
    cdef Py_ssize_t n_bands = (n + tile_rows - 1) // tile_rows
    cdef Py_ssize_t n_col = (n + tile_cols - 1) // tile_cols
    cdef int team = 1 if nnz < _SERIAL_WORK else _team_of(n_bands)
    cdef double[:, ::1] part = np.zeros((max(n_bands, 1), 3), dtype=np.float64)
    with nogil:
        for b in prange(n_bands, schedule="dynamic", chunksize=1, num_threads=team):
            lo = b * tile_rows
            m = min(tile_rows, n - lo)
            acc = &y[lo]  # the band's sums, in cache until the band is done
            for r in range(m):
                acc[r] = 0.0
            for s in range(n_col):
                t = b * n_col + s
                xs = &x[s * tile_cols]
                for k in range(tile_ptr[t], tile_ptr[t + 1]):
                    acc[rows[k]] += data[k] * xs[cols[k]]
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            for r in range(m):
                v = x[lo + r] - acc[r] if identity_minus else acc[r]
                y[lo + r] = v
                a0 = a0 + w[lo + r] * v
                a1 = a1 + x[lo + r] * v
                a2 = a2 + v * v
            part[b, 0] = a0
            part[b, 1] = a1
            part[b, 2] = a2
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        for b in range(n_bands):
            a0 = a0 + part[b, 0]
            a1 = a1 + part[b, 1]
            a2 = a2 + part[b, 2]
    return a0, a1, a2


# --------------------------------------------------------------------------- Gauss-Seidel

cdef inline void _gs_rows(const idx_t[::1] indptr, const idx_t[::1] indices,
                          const real_t[::1] data, const double[::1] b, double[::1] v,
                          Py_ssize_t lo, Py_ssize_t hi, double* change, double* vmax) noexcept nogil:
    """Exact sequential GS over rows lo..hi-1, reading current values of v everywhere."""
    cdef Py_ssize_t j, k, c
    cdef double s, d, new, ch = 0.0, vm = 0.0
    for j in range(lo, hi):
        s = b[j]
        d = 0.0
        for k in range(indptr[j], indptr[j + 1]):
            c = indices[k]
            if c == j:
                d = d + data[k]
            else:
                s = s + data[k] * v[c]
        new = s / (1.0 - d)
        ch = _nanmax(ch, fabs(new - v[j]))
        vm = _nanmax(vm, fabs(new))
        v[j] = new
    change[0] = ch
    vmax[0] = vm


cdef inline void _gs_rows_snap(const idx_t[::1] indptr, const idx_t[::1] indices,
                               const real_t[::1] data, const double[::1] b, double[::1] v,
                               const double[::1] snap, Py_ssize_t row_start, Py_ssize_t row_stop,
                               Py_ssize_t lo, Py_ssize_t hi,
                               double* change, double* vmax) noexcept nogil:
    """GS over rows lo..hi-1 of a chunk; columns of other chunks in the swept range
    [row_start, row_stop) are read from the snapshot taken before the sweep."""
    cdef Py_ssize_t j, k, c
    cdef double s, d, new, x, ch = 0.0, vm = 0.0
    for j in range(lo, hi):
        s = b[j]
        d = 0.0
        for k in range(indptr[j], indptr[j + 1]):
            c = indices[k]
            if c == j:
                d = d + data[k]
            else:
                if (c >= lo and c < hi) or c < row_start or c >= row_stop:
                    x = v[c]
                else:
                    x = snap[c - row_start]
                s = s + data[k] * x
        new = s / (1.0 - d)
        ch = _nanmax(ch, fabs(new - v[j]))
        vm = _nanmax(vm, fabs(new))
        v[j] = new
    change[0] = ch
    vmax[0] = vm


cdef int _check_range(Py_ssize_t n, Py_ssize_t row_start, Py_ssize_t row_stop,
                      Py_ssize_t n_chunks) except -1:
    if row_start < 0 or row_stop > n or row_start > row_stop:
        raise ValueError(f"row range [{row_start}, {row_stop}) is not inside [0, {n})")
    if n_chunks < 1:
        raise ValueError(f"n_chunks must be a positive integer, got {n_chunks}")
    return 0


def gauss_seidel(const idx_t[::1] indptr, const idx_t[::1] indices, const real_t[::1] data,
                 const double[::1] b, double[::1] v, Py_ssize_t row_start, Py_ssize_t row_stop,
                 Py_ssize_t n_chunks):
    """In-place forward Gauss-Seidel sweep for v = b + M v over rows row_start..row_stop-1.

    Row j is solved for v_j with the diagonal entry moved to the left:
    ``v_j <- (b_j + sum_{k != j} M_jk v_k) / (1 - M_jj)`` (duplicate diagonal entries are
    summed; indices need not be sorted). The row range is split into ``n_chunks``
    contiguous chunks of equal row count (chunk t = rows
    ``row_start + t*L//n_chunks`` to ``row_start + (t+1)*L//n_chunks``, L = row_stop -
    row_start) processed in parallel: inside a chunk exact sequential GS; columns that
    belong to other chunks are read from a snapshot of v taken at the start of the sweep
    (hybrid Jacobi/Gauss-Seidel as in hypre). This makes the result deterministic and
    independent of the thread count. ``n_chunks=1`` is exact sequential GS.

    Returns
    -------
    (max_change, max_abs_v) : max |v_new - v_old| and max |v_new| over the range.
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, L, t, lo, hi
    cdef double ch = 0.0, vm = 0.0
    cdef double[::1] snap, cch, cvm
    _check_csr(indptr, data.shape[0], indices.shape[0])
    _check_len("b", b.shape[0], n)
    _check_len("v", v.shape[0], n)
    _check_range(n, row_start, row_stop, n_chunks)
    L = row_stop - row_start
    if n_chunks > L:
        n_chunks = L if L > 0 else 1
    if n_chunks == 1:
        with nogil:
            _gs_rows(indptr, indices, data, b, v, row_start, row_stop, &ch, &vm)
        return ch, vm
    snap = np.array(v[row_start:row_stop], dtype=np.float64)
    cch = np.zeros(n_chunks, dtype=np.float64)
    cvm = np.zeros(n_chunks, dtype=np.float64)
    with nogil:
        for t in prange(n_chunks, schedule="dynamic", chunksize=1):
            lo = row_start + (t * L) // n_chunks
            hi = row_start + ((t + 1) * L) // n_chunks
            # Each chunk writes its norms to its own slot (variables only written
            # through a pointer would be shared between the threads).
            _gs_rows_snap(indptr, indices, data, b, v, snap, row_start, row_stop, lo, hi,
                          &cch[t], &cvm[t])
        for t in range(n_chunks):
            ch = _nanmax(ch, cch[t])
            vm = _nanmax(vm, cvm[t])
    return ch, vm


cdef void _gs_rows_multi(const idx_t[::1] indptr, const idx_t[::1] indices,
                         const real_t[::1] data, const double[:, ::1] B, double[:, ::1] V,
                         const double[:, ::1] snap, Py_ssize_t row_start, Py_ssize_t row_stop,
                         Py_ssize_t lo, Py_ssize_t hi, bint use_snap,
                         double* acc, double* change, double* vmax) noexcept nogil:
    """Multi-RHS GS over rows lo..hi-1; acc, change, vmax have length r (change and vmax
    are overwritten)."""
    cdef Py_ssize_t r = B.shape[1], j, k, c, q
    cdef double d, a, new
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
                d = d + a
            elif (not use_snap) or (c >= lo and c < hi) or c < row_start or c >= row_stop:
                for q in range(r):
                    acc[q] += a * V[c, q]
            else:
                for q in range(r):
                    acc[q] += a * snap[c - row_start, q]
        d = 1.0 - d
        for q in range(r):
            new = acc[q] / d
            change[q] = _nanmax(change[q], fabs(new - V[j, q]))
            vmax[q] = _nanmax(vmax[q], fabs(new))
            V[j, q] = new


def gauss_seidel_multi(const idx_t[::1] indptr, const idx_t[::1] indices,
                       const real_t[::1] data, const double[:, ::1] B, double[:, ::1] V,
                       Py_ssize_t row_start, Py_ssize_t row_stop, Py_ssize_t n_chunks,
                       double[::1] change_out, double[::1] vmax_out):
    """:func:`gauss_seidel` for r right-hand sides (B, V of shape (n, r)); per-column
    max |change| and max |V| over the range are written to change_out and vmax_out."""
    cdef Py_ssize_t n = indptr.shape[0] - 1, r = B.shape[1], L, t, q, lo, hi
    cdef double[:, ::1] snap, cch, cvm, acc
    _check_csr(indptr, data.shape[0], indices.shape[0])
    _check_shape("B", B.shape[0], B.shape[1], n, r)
    _check_shape("V", V.shape[0], V.shape[1], n, r)
    _check_len("change_out", change_out.shape[0], r)
    _check_len("vmax_out", vmax_out.shape[0], r)
    _check_range(n, row_start, row_stop, n_chunks)
    L = row_stop - row_start
    if n_chunks > L:
        n_chunks = L if L > 0 else 1
    if r == 0:
        return None
    acc = np.empty((n_chunks, r), dtype=np.float64)
    cch = np.zeros((n_chunks, r), dtype=np.float64)
    cvm = np.zeros((n_chunks, r), dtype=np.float64)
    if n_chunks == 1:
        with nogil:
            _gs_rows_multi(indptr, indices, data, B, V, V, row_start, row_stop,
                           row_start, row_stop, False, &acc[0, 0], &change_out[0],
                           &vmax_out[0])
        return None
    snap = np.array(V[row_start:row_stop], dtype=np.float64)
    with nogil:
        for t in prange(n_chunks, schedule="dynamic", chunksize=1):
            lo = row_start + (t * L) // n_chunks
            hi = row_start + ((t + 1) * L) // n_chunks
            _gs_rows_multi(indptr, indices, data, B, V, snap, row_start, row_stop, lo, hi,
                           True, &acc[t, 0], &cch[t, 0], &cvm[t, 0])
        for q in range(r):
            change_out[q] = 0.0
            vmax_out[q] = 0.0
            for t in range(n_chunks):
                change_out[q] = _nanmax(change_out[q], cch[t, q])
                vmax_out[q] = _nanmax(vmax_out[q], cvm[t, q])
    return None


# --------------------------------------------------------------------------- blocks

cdef enum:
    # State of a node in the component search, two bits each, four nodes to a byte.
    _UNVISITED = 0
    _LIVE = 1        # visited, its component not yet complete, not a root
    _DONE = 2        # its component is complete
    _LIVE_ROOT = 3   # visited, no edge yet to a node ranked before it


cdef inline unsigned int _state(const unsigned char *st, Py_ssize_t v) noexcept nogil:
    return (st[v >> 2] >> ((v & 3) * 2)) & 3


cdef inline void _set_state(unsigned char *st, Py_ssize_t v, unsigned int s) noexcept nogil:
    cdef unsigned int shift = (v & 3) * 2
    st[v >> 2] = <unsigned char> ((st[v >> 2] & ~(3u << shift)) | (s << shift))


def strongly_connected_components(const idx_t[::1] indptr, const idx_t[::1] indices,
                                  idx2_t[::1] order, idx2_t[::1] position,
                                  idx2_t[::1] block_ptr, int64_t[::1] progress=None):
    """Strongly connected components in "dependencies first" order.

    Graph: an edge row -> col for each stored entry (row j of Aᵀ lists the inputs of
    product j). Pearce's space-efficient variant of Tarjan's algorithm, iterative and
    O(n + nnz). Each node's state (unvisited, live, live root, done) is kept in two bits,
    so the state of 10⁷ nodes (2.5 MB) stays in the cache; the rank of a node is read
    only when the edge leads to a live one. In a supply chain nearly every edge leads to
    a finished component, and that test was a cache miss per edge with the rank alone
    (10⁷ generated products: 2.5–2.7 s against 4.0 s).

    Components are written in the order they complete, which for this edge direction
    puts every component after all components it references: ``order[block_ptr[k]:
    block_ptr[k + 1]]`` are the members of component k, and solving the components in
    increasing k solves v = b + M v by block substitution.

    Parameters
    ----------
    order : (n,) output
    position : (n,) output, the inverse of ``order`` (written as each node is placed,
        while its line is in the cache: NumPy's scatter afterwards took 0.25 s at 10⁷)
    block_ptr : (n + 1,) output; entries past the returned count are left untouched.
    progress : (2,) int64, optional
        For a substitution pass that follows the search from another thread
        (:func:`block_solve_follow`): ``progress[0]`` is the number of components
        complete (their members, positions and ``block_ptr`` written), published every
        256 components with release semantics; ``progress[1]`` becomes 1 when the
        search has finished. Zero both before the call.

    Returns
    -------
    int
        The number of components.
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1
    cdef Py_ssize_t root, v, w, e, end, low, rank, csp, sp, pos, nb, p, x
    cdef unsigned int s
    cdef bint lowered
    cdef idx_t *rindex
    cdef idx_t *stack
    cdef idx_t *cs_node
    cdef idx_t *cs_edge
    cdef unsigned char *st
    if indptr.shape[0] < 1:
        raise ValueError("indptr must have length n + 1 >= 1")
    if indptr[n] > indices.shape[0]:
        raise ValueError("inconsistent CSR arrays: indptr[-1] > len(indices)")
    _check_len("order", order.shape[0], n)
    _check_len("position", position.shape[0], n)
    _check_len("block_ptr", block_ptr.shape[0], n + 1)
    cdef int64_t *published = NULL
    if progress is not None:
        _check_len("progress", progress.shape[0], 2)
        published = &progress[0]
    block_ptr[0] = 0
    if n == 0:
        if published != NULL:
            lab_store_release(published + 1, 1)
        return 0
    rindex = <idx_t *> malloc(4 * n * sizeof(idx_t))
    st = <unsigned char *> calloc((n + 3) // 4, 1)
    if rindex == NULL or st == NULL:
        free(rindex)
        free(st)
        raise MemoryError("strongly_connected_components: cannot allocate work arrays")
    stack = rindex + n
    cs_node = rindex + 2 * n
    cs_edge = rindex + 3 * n
    try:
        with nogil:
            # rindex[v]: the rank of a live node (ranks are reused once a component
            # completes); stale for done nodes, which the state tells apart.
            rank = 1
            sp = 0
            pos = 0
            nb = 0
            for root in range(n):
                if _state(st, root) != _UNVISITED:
                    continue
                rindex[root] = <idx_t> rank
                rank += 1
                _set_state(st, root, _LIVE_ROOT)
                cs_node[0] = <idx_t> root
                cs_edge[0] = indptr[root]
                csp = 1
                while csp > 0:
                    v = cs_node[csp - 1]
                    e = cs_edge[csp - 1]
                    # v's edges up to its next unvisited input, in registers: written
                    # back edge by edge through the stack, they cost 7–8 % of the search
                    end = indptr[v + 1]
                    low = rindex[v]
                    lowered = False
                    w = -1
                    while e < end:
                        x = indices[e]
                        s = _state(st, x)
                        if s == _UNVISITED:
                            w = x
                            break
                        if s != _DONE and rindex[x] < low:
                            low = rindex[x]
                            lowered = True
                        e += 1
                    if lowered:
                        rindex[v] = <idx_t> low
                        _set_state(st, v, _LIVE)
                    if w >= 0:
                        cs_edge[csp - 1] = <idx_t> e  # revisit this edge on return
                        rindex[w] = <idx_t> rank
                        rank += 1
                        _set_state(st, w, _LIVE_ROOT)
                        cs_node[csp] = <idx_t> w
                        cs_edge[csp] = indptr[w]
                        csp += 1
                        # The search stalls on each new row: start fetching the rows of
                        # w's unvisited inputs now, all at once, before descending.
                        for p in range(indptr[w], indptr[w + 1]):
                            x = indices[p]
                            if _state(st, x) == _UNVISITED:
                                lab_prefetch(&indices[indptr[x]])
                        continue
                    csp -= 1
                    if _state(st, v) == _LIVE_ROOT:
                        # v closes a component: v and the stacked nodes ranked after it.
                        rank -= 1
                        order[pos] = <idx2_t> v
                        position[v] = <idx2_t> pos
                        pos += 1
                        while sp > 0 and rindex[v] <= rindex[stack[sp - 1]]:
                            sp -= 1
                            w = stack[sp]
                            _set_state(st, w, _DONE)
                            order[pos] = <idx2_t> w
                            position[w] = <idx2_t> pos
                            pos += 1
                            rank -= 1
                        _set_state(st, v, _DONE)
                        nb += 1
                        block_ptr[nb] = <idx2_t> pos
                        if published != NULL and (nb & 255) == 0:
                            lab_store_release(published, nb)
                    else:
                        stack[sp] = <idx_t> v
                        sp += 1
            if published != NULL:
                lab_store_release(published, nb)
                lab_store_release(published + 1, 1)
    finally:
        free(rindex)
        free(st)
    return nb


def scan_rows(const idx_t[::1] indptr, const idx_t[::1] indices, const real_t[::1] data):
    """One pass over the rows of Aᵀ (row j: the inputs of product j) for the solver's set-up.

    Returns ``(largest row sum, chain ends)``: the largest Σ_k data[k] over a row (the
    largest column sum of A, a bound on ρ(A)), and the number of products at the ends of
    supply chains (used by no other product, or using none; own use does not count).
    Rows are scanned in parallel chunks; each thread marks the products it sees used in
    a bit set of its own (n/8 bytes, mostly in its L2: one shared byte per product was
    10 MB of random stores at 10⁷ products, 0.35 s against 0.17 s), and the sets are
    merged at the end. The chunks depend on the sizes only, so the answer is the same
    on any number of threads.
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, j, k, i, ends = 0, ch, nchunks, w
    cdef Py_ssize_t n_words = (n + 63) // 64, t
    cdef bint other
    cdef double s, top = 0.0
    cdef double[::1] tops
    cdef Py_ssize_t[::1] counts
    cdef uint64_t *bits
    cdef uint64_t *mine
    cdef uint64_t word
    cdef int nt
    _check_csr(indptr, data.shape[0], indices.shape[0])
    nchunks = _n_chunks(n, indptr[n] + n)
    nt = _team(nchunks)
    tops = np.zeros(nchunks)
    counts = np.zeros(nchunks, dtype=np.intp)
    bits = <uint64_t *> calloc(nt * n_words + 1, sizeof(uint64_t))
    if bits == NULL:
        raise MemoryError("scan_rows: cannot allocate its bit sets")
    with nogil:
        for ch in prange(nchunks, schedule="dynamic", chunksize=1, num_threads=nt):
            mine = bits + n_words * omp_get_thread_num()
            for j in range((n * ch) // nchunks, (n * (ch + 1)) // nchunks):
                other = False
                s = 0.0
                for k in range(indptr[j], indptr[j + 1]):
                    i = indices[k]
                    s = s + data[k]
                    if i != j:
                        mine[i >> 6] |= (<uint64_t> 1) << (i & 63)
                        other = True
                if not other:
                    counts[ch] += 1
                tops[ch] = _nanmax(tops[ch], s)
        if n % 64:  # the last word's bits past n count as used
            bits[n_words - 1] |= ~(((<uint64_t> 1) << (n % 64)) - 1)
        for w in prange(n_words, schedule="static", num_threads=nt):
            word = bits[w]
            for t in range(1, nt):
                word = word | bits[t * n_words + w]
            ends += 64 - lab_popcount(word)
        for ch in range(nchunks):
            top = _nanmax(top, tops[ch])
            ends += counts[ch]
    free(bits)
    return top, ends


cdef int _check_block_range(const idx2_t[::1] block_ptr, Py_ssize_t first,
                            Py_ssize_t last) except -1:
    if first < 0 or last < first or last >= block_ptr.shape[0]:
        raise ValueError(f"blocks [{first}, {last}) are not inside block_ptr "
                         f"(length {block_ptr.shape[0]})")
    return 0


cdef Py_ssize_t _lu_solve(double *T, double *rhs, Py_ssize_t size,
                          Py_ssize_t r) noexcept nogil:
    """Solve T X = rhs in place (T: size × size, row-major; rhs: size × r) by LU without
    pivoting; 0, or 1 + the first pivot that is not positive (see :func:`_solve_block`)."""
    cdef Py_ssize_t a, c, q, col
    cdef double piv, f
    for c in range(size):
        piv = T[c * size + c]
        if not (piv > 0.0):
            return 1 + c
        for a in range(c + 1, size):
            f = T[a * size + c] / piv
            if f != 0.0:
                for col in range(c + 1, size):
                    T[a * size + col] -= f * T[c * size + col]
                for q in range(r):
                    rhs[a * r + q] -= f * rhs[c * r + q]
    for c in range(size - 1, -1, -1):
        for q in range(r):
            f = rhs[c * r + q]
            for col in range(c + 1, size):
                f -= T[c * size + col] * rhs[col * r + q]
            rhs[c * r + q] = f / T[c * size + c]
    return 0


cdef Py_ssize_t _solve_block(const idx_t[::1] indptr, const idx_t[::1] indices,
                             const real_t[::1] data, const double[:, ::1] B, double[:, ::1] V,
                             double[:, ::1] AV, const idx2_t[::1] order,
                             const idx2_t[::1] position, Py_ssize_t s, Py_ssize_t e, double *T,
                             double *rhs) noexcept nogil:
    """Solve the diagonal block [s, e) of v = b + M v exactly and write its rows of M v
    to AV; return 0 or 1 + bad pivot.

    The block matrix I − M_bb is a Z-matrix; LU without pivoting has positive pivots
    exactly when it is a nonsingular M-matrix, i.e. when ρ(M_bb) < 1. A pivot ≤ 0 is
    therefore evidence that the block is not productive; the solve stops there.
    """
    cdef Py_ssize_t size = e - s, r = B.shape[1], a, c, p, q, col, loc, j
    cdef double f
    for a in range(size * size):
        T[a] = 0.0
    for a in range(size):
        T[a * size + a] = 1.0
        j = order[s + a]
        for q in range(r):
            rhs[a * r + q] = B[j, q]
        for p in range(indptr[j], indptr[j + 1]):
            col = indices[p]
            loc = position[col] - s
            if 0 <= loc < size:
                T[a * size + loc] -= data[p]
            else:
                for q in range(r):
                    rhs[a * r + q] += data[p] * V[col, q]
    c = _lu_solve(T, rhs, size, r)
    if c:
        return c
    for a in range(size):
        j = order[s + a]
        for q in range(r):
            V[j, q] = rhs[a * r + q]
    for a in range(size):  # M V of the block's rows, now that V is final there
        j = order[s + a]
        for q in range(r):
            f = 0.0
            for p in range(indptr[j], indptr[j + 1]):
                f = f + data[p] * V[indices[p], q]
            AV[j, q] = f
    return 0


cdef int _check_block_args(const idx_t[::1] indptr, const idx_t[::1] indices,
                           const real_t[::1] data, const double[:, ::1] B,
                           const double[:, ::1] V, const double[:, ::1] AV,
                           const idx2_t[::1] order, const idx2_t[::1] position,
                           Py_ssize_t dense_max) except -1:
    """The checks shared by the substitution kernels."""
    cdef Py_ssize_t n = indptr.shape[0] - 1, r = B.shape[1]
    _check_csr(indptr, data.shape[0], indices.shape[0])
    _check_shape("B", B.shape[0], B.shape[1], n, r)
    _check_shape("V", V.shape[0], V.shape[1], n, r)
    _check_shape("AV", AV.shape[0], AV.shape[1], n, r)
    _check_len("order", order.shape[0], n)
    _check_len("position", position.shape[0], n)
    if dense_max < 1:
        raise ValueError(f"dense_max must be at least 1, got {dense_max}")
    return 0


cdef int _work_arrays(Py_ssize_t dense_max, Py_ssize_t r, double **T,
                      double **rhs) except -1:
    """The dense block's matrix and right-hand sides of one substitution pass."""
    T[0] = <double *> malloc((dense_max * dense_max + 1) * sizeof(double))
    rhs[0] = <double *> malloc((dense_max * r + r + 1) * sizeof(double))
    if T[0] == NULL or rhs[0] == NULL:
        free(T[0])
        free(rhs[0])
        raise MemoryError("substitution: cannot allocate work arrays")
    return 0


cdef Py_ssize_t _solve_streamed(const idx_t[::1] indptr, const idx_t[::1] indices,
                                const real_t[::1] data, const double[:, ::1] B,
                                double[:, ::1] V, double[:, ::1] AV,
                                const idx2_t[::1] order, const idx2_t[::1] position,
                                const idx2_t[::1] block_ptr, Py_ssize_t first,
                                Py_ssize_t last, Py_ssize_t dense_max, double *T,
                                double *rhs) noexcept nogil:
    """:func:`_solve_range` for one right-hand side on rows stored in block order (row
    and product j are position j): the common case of every solve after the first, on
    raw pointers (31 → 24 ms for the 10⁶ generated products' pass on one thread)."""
    cdef Py_ssize_t nnz = indptr[indptr.shape[0] - 1], k, s, p, col, kp
    cdef const double *b = &B[0, 0]
    cdef double *v = &V[0, 0]
    cdef double *av = &AV[0, 0]
    cdef double d, acc, x
    for k in range(first, last):
        s = block_ptr[k]
        if block_ptr[k + 1] - s == 1:
            d = 0.0
            acc = 0.0
            for p in range(indptr[s], indptr[s + 1]):
                kp = p + _PREFETCH
                if kp < nnz:
                    lab_prefetch(&v[indices[kp]])
                col = indices[p]
                if col == s:
                    d = d + data[p]
                else:
                    acc = acc + data[p] * v[col]
            if not (1.0 - d > 0.0):
                return k
            x = (b[s] + acc) / (1.0 - d)
            v[s] = x
            av[s] = acc + d * x
        elif block_ptr[k + 1] - s <= dense_max:
            if _solve_block_streamed(indptr, indices, data, b, v, av, s, block_ptr[k + 1],
                                     T, rhs):
                return k
    return -1


cdef Py_ssize_t _solve_block_streamed(const idx_t[::1] indptr, const idx_t[::1] indices,
                                      const real_t[::1] data, const double *b, double *v,
                                      double *av, Py_ssize_t s, Py_ssize_t e, double *T,
                                      double *rhs) noexcept nogil:
    """:func:`_solve_block` for one right-hand side on rows stored in block order
    (product j is row and position j), with the same arithmetic: the block's members
    are the columns in [s, e), read without looking up ``position`` (a random read per
    entry), and the inputs' values are prefetched as in :func:`_solve_streamed`. The
    3,276 small cycles of the 10⁶ generated products (8,662 products) took a fifth of
    the substitution pass through :func:`_solve_block`."""
    cdef Py_ssize_t size = e - s, nnz = indptr[indptr.shape[0] - 1], a, c, p, kp, col, loc
    cdef double f
    for a in range(size * size):
        T[a] = 0.0
    for a in range(size):
        T[a * size + a] = 1.0
        f = b[s + a]
        for p in range(indptr[s + a], indptr[s + a + 1]):
            kp = p + _PREFETCH
            if kp < nnz:
                lab_prefetch(&v[indices[kp]])
            col = indices[p]
            loc = col - s
            if 0 <= loc < size:
                T[a * size + loc] -= data[p]
            else:
                f = f + data[p] * v[col]
        rhs[a] = f
    c = _lu_solve(T, rhs, size, 1)
    if c:
        return c
    for a in range(size):
        v[s + a] = rhs[a]
    for a in range(size):  # M v of the block's rows (read just now: in the cache)
        f = 0.0
        for p in range(indptr[s + a], indptr[s + a + 1]):
            f = f + data[p] * v[indices[p]]
        av[s + a] = f
    return 0


cdef Py_ssize_t _solve_range(const idx_t[::1] indptr, const idx_t[::1] indices,
                             const real_t[::1] data, const double[:, ::1] B, double[:, ::1] V,
                             double[:, ::1] AV, const idx2_t[::1] order,
                             const idx2_t[::1] position, const idx2_t[::1] block_ptr,
                             Py_ssize_t first, Py_ssize_t last, Py_ssize_t dense_max,
                             bint streamed, double *T, double *rhs) noexcept nogil:
    """The loop of :func:`block_solve` over components first..last-1 (components of more
    than ``dense_max`` products are skipped); returns −1 or the first component whose
    pivot was not positive."""
    cdef Py_ssize_t r = B.shape[1], k, s, e, p, q, j, col
    cdef double d, acc, x
    if streamed and r == 1 and first < last:
        return _solve_streamed(indptr, indices, data, B, V, AV, order, position, block_ptr,
                               first, last, dense_max, T, rhs)
    for k in range(first, last):
        s = block_ptr[k]
        e = block_ptr[k + 1]
        if not streamed:
            # Rows in block order are random in this numbering: fetch the row pointers
            # sixteen blocks ahead, the rows eight ahead, the inputs' values four ahead.
            if k + 16 < last:
                lab_prefetch(&indptr[order[block_ptr[k + 16]]])
            if k + 8 < last:
                p = indptr[order[block_ptr[k + 8]]]
                lab_prefetch(&indices[p])
                lab_prefetch(&data[p])
                lab_prefetch(&B[order[block_ptr[k + 8]], 0])
            if k + 4 < last:
                j = order[block_ptr[k + 4]]
                for p in range(indptr[j], indptr[j + 1]):
                    lab_prefetch(&V[indices[p], 0])
        if e - s == 1 and r == 1:
            # Inlined: most components are single products, most solves one right-hand
            # side (streamed rows took _solve_streamed above).
            j = order[s]
            d = 0.0
            acc = 0.0
            for p in range(indptr[j], indptr[j + 1]):
                col = indices[p]
                if col == j:
                    d = d + data[p]
                else:
                    acc = acc + data[p] * V[col, 0]
            if not (1.0 - d > 0.0):
                return k
            x = (B[j, 0] + acc) / (1.0 - d)
            V[j, 0] = x
            AV[j, 0] = acc + d * x
        elif e - s == 1:
            j = order[s]
            d = 0.0
            for q in range(r):
                rhs[q] = 0.0
            for p in range(indptr[j], indptr[j + 1]):
                col = indices[p]
                if col == j:
                    d = d + data[p]
                else:
                    for q in range(r):
                        rhs[q] = rhs[q] + data[p] * V[col, q]
            if not (1.0 - d > 0.0):
                return k
            for q in range(r):
                x = (B[j, q] + rhs[q]) / (1.0 - d)
                V[j, q] = x
                AV[j, q] = rhs[q] + d * x
        elif e - s <= dense_max:
            if _solve_block(indptr, indices, data, B, V, AV, order, position, s, e, T, rhs):
                return k
    return -1


cdef bint _is_identity(const idx2_t[::1] order, Py_ssize_t s, Py_ssize_t e) noexcept nogil:
    """Whether order[a] == a for a in [s, e): the rows are stored in block order (a
    :func:`permute_csr` copy), so a pass streams them."""
    cdef Py_ssize_t a
    for a in range(s, e):
        if order[a] != a:
            return False
    return True


def block_solve(const idx_t[::1] indptr, const idx_t[::1] indices, const real_t[::1] data,
                const double[:, ::1] B, double[:, ::1] V, double[:, ::1] AV,
                const idx2_t[::1] order, const idx2_t[::1] position,
                const idx2_t[::1] block_ptr, Py_ssize_t first, Py_ssize_t last,
                Py_ssize_t dense_max):
    """Block substitution for V = B + M V over the components first..last-1, and M V.

    Components come from :func:`strongly_connected_components` (``order``,
    ``block_ptr``; ``position`` is the inverse of ``order``). Each component is solved
    exactly, in order: a single product by division by 1 − M_jj, a cyclic component of
    at most ``dense_max`` products by dense LU without pivoting (I − M_bb is an
    M-matrix when productive). Inputs from earlier components must already be final in
    V; rows outside the range are not written. Each solved row of M V, with V final, is
    written to AV in the same pass (the residual B + M V − V then costs no second pass
    over M). B, V and AV have shape (n, r), C-contiguous; pass ``x[:, None]`` views for
    one right-hand side. When the range's rows are stored in block order (``order`` the
    identity there, as for a matrix permuted by :func:`permute_csr`), the pass streams
    the matrix and prefetches V for the entries ahead, as :func:`csr_matvec` does.

    Returns
    -------
    int
        −1 if every component was solved, else the first component whose pivot was not
        positive (it is not productive, or too close to it to solve); components after
        it are left unsolved.
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, r = B.shape[1], k, size
    cdef Py_ssize_t bad = -1
    cdef double *T
    cdef double *rhs
    _check_block_args(indptr, indices, data, B, V, AV, order, position, dense_max)
    _check_block_range(block_ptr, first, last)
    for k in range(first, last):
        size = block_ptr[k + 1] - block_ptr[k]
        if size > dense_max:
            raise ValueError(f"component {k} has {size} products, more than "
                             f"dense_max={dense_max}: solve it separately")
    _work_arrays(dense_max, r, &T, &rhs)
    try:
        with nogil:
            bad = _solve_range(indptr, indices, data, B, V, AV, order, position, block_ptr,
                               first, last, dense_max,
                               first == last or _is_identity(order, block_ptr[first],
                                                             block_ptr[last]), T, rhs)
    finally:
        free(T)
        free(rhs)
    return bad


cdef Py_ssize_t _published(const int64_t[::1] progress, const idx2_t[::1] block_ptr,
                           Py_ssize_t k, Py_ssize_t n, Py_ssize_t dense_max,
                           Py_ssize_t *stop, Py_ssize_t *avail) noexcept nogil:
    """Wait (spinning politely) until a search publishing in ``progress`` has completed
    component k, or has ended. Returns -1 with ``stop`` the end of the run of components
    from k of at most ``dense_max`` products that are complete, and ``avail`` the number
    complete; else 0 (the search finished, every component before k done) or 3 (it
    stopped without finishing, or published more than n components)."""
    cdef int64_t state
    cdef Py_ssize_t s
    while True:
        state = lab_load_acquire(&progress[1])
        avail[0] = lab_load_acquire(&progress[0])  # after the state: final if 1
        if avail[0] > n:
            return 3
        if k < avail[0]:
            s = k
            while s < avail[0] and block_ptr[s + 1] - block_ptr[s] <= dense_max:
                s += 1
            stop[0] = s
            return -1
        if state == 1:
            return 0
        if state != 0:
            return 3
        lab_pause()


def block_solve_follow(const idx_t[::1] indptr, const idx_t[::1] indices,
                       const real_t[::1] data, const double[:, ::1] B, double[:, ::1] V,
                       double[:, ::1] AV, const idx2_t[::1] order,
                       const idx2_t[::1] position, const idx2_t[::1] block_ptr,
                       const int64_t[::1] progress, Py_ssize_t first, Py_ssize_t dense_max):
    """:func:`block_solve` from component ``first`` on, following a component search
    that runs in another thread and publishes its progress in ``progress`` (see
    :func:`strongly_connected_components`): components are solved as they complete, and
    the call waits (sleeping 20 µs at a time) while it has caught up. ``order``,
    ``position`` and ``block_ptr`` are the search's outputs, being written.

    Returns
    -------
    (k, why) : tuple of int
        why 0: the search finished and every component before k (the number of
        components) is solved; 1: component k has more than ``dense_max`` products and is
        not solved (the caller solves it and calls again from k + 1); 2: component k
        has a non-positive pivot (not productive); 3: the search stopped without
        finishing (``progress[1]`` set to a value other than 0 and 1 by the caller).
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, r = B.shape[1], k = first, avail, stop
    cdef Py_ssize_t bad = -1, why = -1
    cdef double *T
    cdef double *rhs
    _check_block_args(indptr, indices, data, B, V, AV, order, position, dense_max)
    _check_len("block_ptr", block_ptr.shape[0], n + 1)
    _check_len("progress", progress.shape[0], 2)
    if first < 0 or first > n:
        raise ValueError(f"first = {first} is not a component number")
    _work_arrays(dense_max, r, &T, &rhs)
    try:
        with nogil:
            while why < 0:
                why = _published(progress, block_ptr, k, n, dense_max, &stop, &avail)
                if why < 0:
                    bad = _solve_range(indptr, indices, data, B, V, AV, order, position,
                                       block_ptr, k, stop, dense_max, False, T, rhs)
                    if bad >= 0:
                        k = bad
                        why = 2
                    else:
                        k = stop
                        if stop < avail:
                            why = 1
    finally:
        free(T)
        free(rhs)
    return k, why


# --------------------------------------------------------------------------- levels

def greedy_colors(const idx_t[::1] indptr, const idx_t[::1] indices,
                  const idx_t[::1] t_indptr, const idx_t[::1] t_indices,
                  idx2_t[::1] colors):
    """Colours of a square matrix's rows such that no two rows of one colour are linked.

    Rows i and j are linked when either stores an entry in the other's column (the
    pattern of M + Mᵀ; ``t_indptr``/``t_indices`` are the pattern of Mᵀ in CSR). Greedy
    in row order: each row takes the smallest colour none of its linked earlier rows
    has. The rows of one colour then never read each other, so a Gauss–Seidel sweep
    colour by colour updates each colour's rows in parallel and gives the answer of the
    sequential sweep in that order. Writes ``colors`` (length n); returns the number of
    colours (at most the most links of a row + 1).
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, i, j, p, c, n_colors = 0
    cdef Py_ssize_t *mark
    if indptr.shape[0] < 1 or indptr[n] > indices.shape[0]:
        raise ValueError("inconsistent CSR arrays")
    _check_len("t_indptr", t_indptr.shape[0], n + 1)
    if t_indptr[n] > t_indices.shape[0]:
        raise ValueError("inconsistent CSR arrays of the transpose")
    _check_len("colors", colors.shape[0], n)
    cdef Py_ssize_t bad = -1, t_bad = -1
    with nogil:
        for p in range(indptr[n]):
            if not (0 <= indices[p] < n):
                bad = p
                break
        for p in range(t_indptr[n]):
            if not (0 <= t_indices[p] < n):
                t_bad = p
                break
    if bad >= 0:
        raise ValueError(f"indices[{bad}] = {indices[bad]} is not a row of the matrix")
    if t_bad >= 0:
        raise ValueError(f"t_indices[{t_bad}] = {t_indices[t_bad]} is not a row of the matrix")
    mark = <Py_ssize_t *> malloc((n + 1) * sizeof(Py_ssize_t))
    if mark == NULL:
        raise MemoryError("greedy_colors: cannot allocate work arrays")
    try:
        with nogil:
            for i in range(n + 1):
                mark[i] = -1
            for i in range(n):
                colors[i] = -1
            for i in range(n):
                for p in range(indptr[i], indptr[i + 1]):
                    j = indices[p]
                    if colors[j] >= 0:
                        mark[colors[j]] = i
                for p in range(t_indptr[i], t_indptr[i + 1]):
                    j = t_indices[p]
                    if colors[j] >= 0:
                        mark[colors[j]] = i
                c = 0
                while mark[c] == i:
                    c += 1
                colors[i] = <idx2_t> c
                if c + 1 > n_colors:
                    n_colors = c + 1
    finally:
        free(mark)
    return n_colors


def block_levels(const idx_t[::1] indptr, const idx_t[::1] indices, const idx2_t[::1] order,
                 const idx2_t[::1] block_ptr, idx2_t[::1] by_level, idx2_t[::1] level_ptr):
    """Levels of the blocks, for a substitution pass in parallel.

    A block's level is 0 if it uses no product of another block, else 1 + the largest
    level of the blocks it uses, so the blocks of one level never use each other. The
    blocks must be in dependency order (``strongly_connected_components``). Writes the
    blocks sorted by level (in block order within a level) to ``by_level`` (length the
    number of blocks) and the start of each level to ``level_ptr`` (length ≥ levels + 1;
    pass the number of blocks + 1). One pass over the rows in block order: a random read
    per non-zero. Returns the number of levels.
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, nb = block_ptr.shape[0] - 1, b, s, e, a, j, p
    cdef Py_ssize_t lev, c, n_levels = 0
    cdef Py_ssize_t *plev
    cdef Py_ssize_t *blev
    cdef Py_ssize_t *count
    if indptr.shape[0] < 1 or indptr[n] > indices.shape[0]:
        raise ValueError("inconsistent CSR arrays")
    _check_len("order", order.shape[0], n)
    _check_len("by_level", by_level.shape[0], nb)
    if level_ptr.shape[0] < nb + 1:
        raise ValueError("level_ptr needs the number of blocks + 1 entries")
    plev = <Py_ssize_t *> malloc((n + 1) * sizeof(Py_ssize_t))
    blev = <Py_ssize_t *> malloc((nb + 1) * sizeof(Py_ssize_t))
    count = <Py_ssize_t *> malloc((nb + 2) * sizeof(Py_ssize_t))
    if plev == NULL or blev == NULL or count == NULL:
        free(plev)
        free(blev)
        free(count)
        raise MemoryError("block_levels: cannot allocate work arrays")
    try:
        with nogil:
            for j in range(n):
                plev[j] = -1  # not yet solved: later blocks, or this block itself
            for b in range(nb):
                s = block_ptr[b]
                e = block_ptr[b + 1]
                lev = 0
                for a in range(s, e):
                    # Rows in block order are random: fetch the row pointers 16 products
                    # ahead, the rows 8 ahead and their inputs' levels 4 ahead (as
                    # block_solve does: 180 → 74 ms at 10⁶ generated products)
                    if a + 16 < n:
                        lab_prefetch(&indptr[order[a + 16]])
                    if a + 8 < n:
                        lab_prefetch(&indices[indptr[order[a + 8]]])
                    if a + 4 < n:
                        j = order[a + 4]
                        for p in range(indptr[j], indptr[j + 1]):
                            lab_prefetch(&plev[indices[p]])
                    j = order[a]
                    for p in range(indptr[j], indptr[j + 1]):
                        c = plev[indices[p]] + 1
                        if c > lev:
                            lev = c
                blev[b] = lev
                for a in range(s, e):
                    plev[order[a]] = lev
                if lev + 1 > n_levels:
                    n_levels = lev + 1
            for c in range(n_levels + 1):
                count[c] = 0
            for b in range(nb):
                count[blev[b] + 1] += 1
            for c in range(n_levels):
                count[c + 1] += count[c]
            for c in range(n_levels + 1):
                level_ptr[c] = <idx2_t> count[c]
            for b in range(nb):
                by_level[count[blev[b]]] = <idx2_t> b
                count[blev[b]] += 1
    finally:
        free(plev)
        free(blev)
        free(count)
    return n_levels


cdef inline Py_ssize_t _level_chunks(const idx2_t[::1] level_ptr, Py_ssize_t L,
                                     Py_ssize_t r) noexcept nogil:
    """Chunks of level L of a substitution pass (its components, about 16 multiply-adds
    each per right-hand side)."""
    cdef Py_ssize_t cnt = level_ptr[L + 1] - level_ptr[L]
    return _n_chunks(cnt, 16 * cnt * (r if r > 0 else 1))


def block_solve_levels(const idx_t[::1] indptr, const idx_t[::1] indices,
                       const real_t[::1] data, const double[:, ::1] B, double[:, ::1] V,
                       double[:, ::1] AV, const idx2_t[::1] order, const idx2_t[::1] position,
                       const idx2_t[::1] block_ptr, const idx2_t[::1] level_ptr,
                       Py_ssize_t first, Py_ssize_t last, Py_ssize_t dense_max):
    """:func:`block_solve` over the levels first..last-1, the blocks of a level in parallel.

    The components must be sorted by level (see :func:`block_levels`): level L holds
    components ``level_ptr[L]:level_ptr[L + 1]``, which never use each other. Each level
    is cut into contiguous chunks handed out dynamically; the levels run in order, in one
    parallel region with a barrier between levels (one region per level woke the
    sleeping thread each time: 18.3 against 16.0 ms for the later solves' pass at 10⁶
    products on 2 threads; see ``lab_barrier_wait``). With
    the rows stored in this order (``order`` the identity, a :func:`permute_csr` copy)
    every chunk streams its rows, as :func:`block_solve` does. Components of more than
    ``dense_max`` products are skipped: the caller solves them after their level. The
    answer (V and the rows of M V in AV) is :func:`block_solve`'s, bit for bit (each
    component is solved by the same arithmetic).

    Returns
    -------
    int
        −1 if every component was solved, else a component whose pivot was not positive
        (the levels after its own are left unsolved).
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, r = B.shape[1], L, lo, cnt, nchunks, ch, run
    cdef Py_ssize_t nb = block_ptr.shape[0] - 1, widest = 1
    cdef int tid, nt, team, sense, spin
    cdef bint streamed
    cdef double[:, ::1] T, rh
    cdef int64_t bad = -1
    cdef int64_t *claimed
    cdef int64_t *level_bad
    cdef lab_barrier_t barrier
    _check_block_args(indptr, indices, data, B, V, AV, order, position, dense_max)
    if first < 0 or last < first or last >= level_ptr.shape[0]:
        raise ValueError(f"levels [{first}, {last}) are not inside level_ptr")
    for L in range(first, last + 1):
        if not (0 <= level_ptr[L] <= nb) or (L > first and level_ptr[L] < level_ptr[L - 1]):
            raise ValueError(f"level_ptr[{L}] = {level_ptr[L]} is not a component boundary "
                             f"in order")
    # no more threads than the widest level has chunks: where every level is one chunk
    # (small economies), a second thread would only wait at the barriers
    for L in range(first, last):
        widest = max(widest, _level_chunks(level_ptr, L, r))
    nt = <int> min(<Py_ssize_t> omp_get_max_threads(), widest)
    T = np.empty((nt, dense_max * dense_max + 1), dtype=np.float64)
    rh = np.empty((nt, dense_max * r + r + 1), dtype=np.float64)
    # per level: the next unclaimed chunk, and the first component found not solvable
    # (per level, so that a thread reading it after a barrier sees only that level's)
    claimed = <int64_t *> calloc(2 * (last - first + 1), sizeof(int64_t))
    if claimed == NULL:
        raise MemoryError("block_solve_levels: cannot allocate work arrays")
    level_bad = claimed + (last - first + 1)
    for L in range(last - first + 1):
        level_bad[L] = -1
    barrier.count = 0
    barrier.sense = 0
    barrier.sleeping = 0
    try:
        with nogil:
            streamed = first == last or _is_identity(order, block_ptr[level_ptr[first]],
                                                     block_ptr[level_ptr[last]])
            # one region for all the levels (see the docstring), a barrier between them
            with parallel(num_threads=nt):
                tid = threadid()
                team = omp_get_num_threads()  # the barrier waits for this many
                sense = 0
                spin = 256
                L = first
                while L < last:
                    lo = level_ptr[L]
                    cnt = level_ptr[L + 1] - lo
                    nchunks = _level_chunks(level_ptr, L, r)
                    # A run of levels of one chunk each is solved by one thread in
                    # order, with one barrier after it instead of one a level: the
                    # others would sleep at each barrier and need waking (about 70 µs;
                    # the colours of a Gauss–Seidel sweep, lab.values._colors, end in
                    # ten small ones).
                    run = L + 1
                    if nchunks == 1:
                        while run < last and _level_chunks(level_ptr, run, r) == 1:
                            run = run + 1
                    if nchunks == 1 and run > L + 1:
                        if tid == 0:
                            for ch in range(L, run):
                                lo = _solve_range(indptr, indices, data, B, V, AV, order,
                                                  position, block_ptr, level_ptr[ch],
                                                  level_ptr[ch + 1], dense_max, streamed,
                                                  &T[tid, 0], &rh[tid, 0])
                                if lo >= 0:
                                    lab_store_min(&level_bad[ch - first], lo)
                                    break
                        lab_barrier_wait(&barrier, team, &sense, &spin)
                        lo = -1
                        for ch in range(L, run):
                            if lab_load_acquire(&level_bad[ch - first]) >= 0:
                                lo = ch
                        if lo >= 0:
                            break
                        L = run
                        continue
                    while True:
                        ch = lab_fetch_add(&claimed[L - first], 1)
                        if ch >= nchunks:
                            break
                        ch = _solve_range(indptr, indices, data, B, V, AV, order,
                                          position, block_ptr,
                                          lo + (cnt * ch) // nchunks,
                                          lo + (cnt * (ch + 1)) // nchunks, dense_max,
                                          streamed, &T[tid, 0], &rh[tid, 0])
                        if ch >= 0:
                            lab_store_min(&level_bad[L - first], ch)
                    lab_barrier_wait(&barrier, team, &sense, &spin)
                    if lab_load_acquire(&level_bad[L - first]) >= 0:
                        break  # every thread reads the same value after the barrier
                    L = L + 1
        for L in range(last - first):
            if level_bad[L] >= 0:
                bad = level_bad[L]
                break
    finally:
        free(claimed)
    return bad


def block_matrix(const idx_t[::1] indptr, const idx_t[::1] indices, const real_t[::1] data,
                 const idx2_t[::1] order, const idx2_t[::1] position, Py_ssize_t s,
                 Py_ssize_t e, idx_t[::1] sub_indptr, idx_t[::1] sub_indices,
                 real_t[::1] sub_data, idx_t[::1] sub_entry):
    """The diagonal block [s, e) of the block order as a CSR matrix of its own.

    Row a is the row of product ``order[s + a]``, keeping only the entries whose column
    lies in the block, renumbered to ``position[column] − s``, in their stored order.
    Writes ``sub_indptr`` (length e − s + 1), ``sub_indices``, ``sub_data`` and
    ``sub_entry`` (the entry of the input each one was copied from, in the index type:
    ``indptr`` holds entry numbers, so they fit); those three need room for every entry
    of the block's rows. Returns the number of entries kept.
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, size = e - s, a, j, p, c, kept = 0, room
    _check_csr(indptr, data.shape[0], indices.shape[0])
    _check_len("order", order.shape[0], n)
    _check_len("position", position.shape[0], n)
    if s < 0 or e < s or e > n:
        raise ValueError(f"block [{s}, {e}) is not inside 0..{n}")
    _check_len("sub_indptr", sub_indptr.shape[0], size + 1)
    room = min(sub_indices.shape[0], sub_data.shape[0], sub_entry.shape[0])
    for a in range(size):
        j = order[s + a]
        if not (0 <= j < n):
            raise ValueError(f"order[{s + a}] = {j} is not a product")
        kept += indptr[j + 1] - indptr[j]
    if kept > room:
        raise ValueError(f"the block's rows hold {kept} entries, the outputs have room "
                         f"for {room}")
    kept = 0
    with nogil:
        sub_indptr[0] = 0
        for a in range(size):
            # The rows are random in this numbering: fetch row pointers 16 rows ahead,
            # the rows 8 ahead and their inputs' positions 4 ahead (as block_solve does).
            if a + 16 < size:
                lab_prefetch(&indptr[order[s + a + 16]])
            if a + 8 < size:
                p = indptr[order[s + a + 8]]
                lab_prefetch(&indices[p])
                lab_prefetch(&data[p])
            if a + 4 < size:
                j = order[s + a + 4]
                for p in range(indptr[j], indptr[j + 1]):
                    lab_prefetch(&position[indices[p]])
            j = order[s + a]
            for p in range(indptr[j], indptr[j + 1]):
                c = position[indices[p]] - s
                if 0 <= c < size:
                    sub_indices[kept] = <idx_t> c
                    sub_data[kept] = data[p]
                    sub_entry[kept] = <idx_t> p
                    kept += 1
            sub_indptr[a + 1] = <idx_t> kept
    return kept


def permute_csr(const idx_t[::1] indptr, const idx_t[::1] indices, const real_t[::1] data,
                const idx2_t[::1] perm, const idx2_t[::1] inv_perm, idx_t[::1] out_indptr,
                idx_t[::1] out_indices, real_t[::1] out_data):
    """Symmetric permutation P M P^T of a square CSR matrix.

    New row k is old row ``perm[k]``; column c becomes ``inv_perm[c]``. The kernel fills
    ``out_indptr`` (serial prefix sum) and copies rows in parallel; entries keep their
    order within a row. Output arrays have the input's index and data dtypes.
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1, k, p, t, src, dst, length, nnz, q
    _check_csr(indptr, data.shape[0], indices.shape[0])
    _check_len("perm", perm.shape[0], n)
    _check_len("inv_perm", inv_perm.shape[0], n)
    _check_len("out_indptr", out_indptr.shape[0], n + 1)
    nnz = indptr[n]
    if out_indices.shape[0] < nnz or out_data.shape[0] < nnz:
        raise ValueError(f"out_indices and out_data need length >= nnz = {nnz}")
    cdef int nt = _team(_n_chunks(n, nnz))
    with nogil:
        out_indptr[0] = 0
        for k in range(n):
            if k + 16 < n:
                lab_prefetch(&indptr[perm[k + 16]])
            p = perm[k]
            out_indptr[k + 1] = out_indptr[k] + (indptr[p + 1] - indptr[p])
        for k in prange(n, schedule="dynamic", chunksize=4096, num_threads=nt):
            # the old rows are random: fetch them 8 rows ahead, and the new numbers of
            # their columns 4 ahead (Aᵀ at 10⁶ generated products: 205 → 121 ms on one
            # thread, 108 → 69 ms on two)
            if k + 8 < n:
                q = indptr[perm[k + 8]]
                lab_prefetch(&indices[q])
                lab_prefetch(&data[q])
            if k + 4 < n:
                p = perm[k + 4]
                for q in range(indptr[p], indptr[p + 1]):
                    lab_prefetch(&inv_perm[indices[q]])
            p = perm[k]
            src = indptr[p]
            dst = out_indptr[k]
            length = indptr[p + 1] - src
            for t in range(length):
                out_indices[dst + t] = <idx_t> inv_perm[indices[src + t]]
                out_data[dst + t] = data[src + t]
    return None


def gather_rows(const double[:, ::1] src, const idx2_t[::1] index, double[:, ::1] out):
    """out[i] = src[index[i]] for every row i (a permutation or selection of rows), in
    parallel chunks; index must hold row numbers of src.

    NumPy's take converts int32 indices to intp first and checks each one: 5.5 ms for
    10⁶ rows of one column against 1.7 ms here on one thread and 0.8 ms on two.

    Returns
    -------
    int
        −1, or the first position i whose index[i] is not a row of src (out is then
        partly written).
    """
    cdef Py_ssize_t n = index.shape[0], r = src.shape[1], m = src.shape[0]
    cdef Py_ssize_t i, j, k, t, lo, hi, nchunks, kp, bad = -1
    cdef Py_ssize_t[::1] first
    cdef const double *s1 = NULL
    cdef double *o1 = NULL
    _check_shape("out", out.shape[0], out.shape[1], n, r)
    nchunks = _n_chunks(n, n * (r if r > 0 else 1))
    first = np.full(nchunks, -1, dtype=np.intp)
    if r == 1 and n > 0 and m > 0:
        s1 = &src[0, 0]
        o1 = &out[0, 0]
    with nogil:
        for t in prange(nchunks, schedule="dynamic", chunksize=1, num_threads=_team(nchunks)):
            lo = (n * t) // nchunks
            hi = (n * (t + 1)) // nchunks
            if s1 != NULL:
                # one column, the usual case: raw pointers, the rows fetched 32 ahead
                # (a random permutation of 10⁶ rows: 5.3 → 1.7 ms on one thread)
                for i in range(lo, hi):
                    if i + 32 < hi:
                        kp = index[i + 32]
                        if 0 <= kp < m:
                            lab_prefetch(s1 + kp)
                    k = index[i]
                    if k < 0 or k >= m:
                        if first[t] < 0:
                            first[t] = i
                        continue
                    o1[i] = s1[k]
                continue
            for i in range(lo, hi):
                k = index[i]
                if k < 0 or k >= m:
                    if first[t] < 0:
                        first[t] = i
                    continue
                for j in range(r):
                    out[i, j] = src[k, j]
        for t in range(nchunks):
            if first[t] >= 0:
                bad = first[t]
                break
    return bad


# --------------------------------------------------------------------------- techniques

cdef Py_ssize_t _union_range(const idx_t[::1] indptr, const idx_t[::1] indices,
                             const idx2_t[::1] by_product, const idx2_t[::1] product_ptr,
                             idx2_t[::1] u_indptr, idx2_t[::1] u_indices, idx2_t *mark,
                             Py_ssize_t p0, Py_ssize_t p1, Py_ssize_t c) noexcept nogil:
    """:func:`technique_union` for products p0..p1-1, their union written from position c
    on (``mark``: m_rows entries, none equal to a product of the range on entry).
    Returns the position after the last entry written."""
    cdef Py_ssize_t p, q, j, e, i, start, b
    for p in range(p0, p1):
        start = c
        for q in range(product_ptr[p], product_ptr[p + 1]):
            j = by_product[q]
            for e in range(indptr[j], indptr[j + 1]):
                i = indices[e]
                if mark[i] != p:
                    mark[i] = <idx2_t> p
                    # insertion into the sorted column
                    b = c
                    while b > start and u_indices[b - 1] > i:
                        u_indices[b] = u_indices[b - 1]
                        b -= 1
                    u_indices[b] = <idx2_t> i
                    c += 1
        u_indptr[p + 1] = <idx2_t> c
    return c


def technique_union(const idx_t[::1] indptr, const idx_t[::1] indices,
                    const idx2_t[::1] by_product, const idx2_t[::1] product_ptr,
                    idx2_t[::1] u_indptr, idx2_t[::1] u_indices, idx2_t[::1] mark):
    """Union of the input patterns of each product's techniques (technique choice).

    The techniques are the columns of a CSC matrix (``indptr``, ``indices``); product p
    has techniques ``by_product[product_ptr[p]:product_ptr[p + 1]]``. Writes the union as
    a CSC matrix with one column per product (``u_indptr``, length m + 1; ``u_indices``,
    sorted within a column). ``mark`` (length m_rows) is work space; pass ``u_indices``
    of length >= the number of technique entries. Returns the union's nnz.

    Parallel over ranges of products, one per thread: each range writes its union at
    the place its technique entries would take (an upper bound), then the ranges are
    moved together, so the result is the same on any number of threads.
    """
    cdef Py_ssize_t m = product_ptr.shape[0] - 1, n_rows = mark.shape[0], total, p, q, i
    cdef Py_ssize_t parts, part, shift, e, j
    cdef idx2_t *marks
    cdef Py_ssize_t *bounds
    cdef Py_ssize_t *room
    cdef Py_ssize_t *ends
    total = indptr[indptr.shape[0] - 1]
    _check_len("u_indptr", u_indptr.shape[0], m + 1)
    if u_indices.shape[0] < total:
        raise ValueError("u_indices is shorter than the technique entries")
    if m == 0:
        u_indptr[0] = 0
        return 0
    if n_rows == 0:
        raise ValueError("mark needs one entry per row of the techniques' matrix")
    parts = _team(_n_chunks(m, total))
    # range 0 marks in ``mark``, the others in their own work space
    marks = <idx2_t *> malloc(max((parts - 1) * n_rows, 1) * sizeof(idx2_t))
    bounds = <Py_ssize_t *> malloc((parts + 1) * 3 * sizeof(Py_ssize_t))
    if marks == NULL or bounds == NULL:
        free(marks)
        free(bounds)
        raise MemoryError()
    room = bounds + parts + 1
    ends = room + parts + 1
    with nogil:
        # ranges of about equal technique entries; room[k] is, while counting, the entries
        # up to the end of range k
        room[0] = 0
        part = 1
        bounds[0] = 0
        for p in range(m):
            for q in range(product_ptr[p], product_ptr[p + 1]):
                j = by_product[q]
                room[part - 1] += indptr[j + 1] - indptr[j]
            if part < parts and room[part - 1] * parts >= total * part:
                bounds[part] = p + 1
                room[part] = room[part - 1]
                part += 1
        while part < parts:
            bounds[part] = m
            room[part] = room[part - 1]
            part += 1
        bounds[parts] = m
        # from here room[k] is where range k starts writing: where its entries would
        # start if no two techniques of a product shared an input
        for part in range(parts - 1, 0, -1):
            room[part] = room[part - 1]
        room[0] = 0
        for i in range(n_rows):
            mark[i] = -1
        for i in range((parts - 1) * n_rows):
            marks[i] = -1
        u_indptr[0] = 0
        for part in prange(parts, schedule="static", chunksize=1, num_threads=parts):
            ends[part] = _union_range(indptr, indices, by_product, product_ptr, u_indptr,
                                      u_indices,
                                      &mark[0] if part == 0 else marks + (part - 1) * n_rows,
                                      bounds[part], bounds[part + 1], room[part])
        # move the ranges together (in order, each to the left of where it was written)
        i = ends[0]  # the end of the part moved together so far
        for part in range(1, parts):
            shift = room[part] - i
            for e in range(room[part], ends[part]):
                u_indices[e - shift] = u_indices[e]
            i = ends[part] - shift
            room[part] = shift  # from here: how far range part moved
        for part in prange(1, parts, schedule="static", chunksize=1, num_threads=parts):
            shift = room[part]
            if shift > 0:
                for p in range(bounds[part], bounds[part + 1]):
                    u_indptr[p + 1] = <idx2_t> (u_indptr[p + 1] - shift)
    free(marks)
    free(bounds)
    return i


cdef inline Py_ssize_t _union_position(const idx2_t[::1] u_indices, Py_ssize_t u,
                                       Py_ssize_t end, Py_ssize_t row) noexcept nogil:
    """The position of ``row`` in the sorted union column [u, end), searching from u
    (the position of the technique's previous row); -1 if it is not there."""
    while u < end and u_indices[u] < row:
        u += 1
    if u == end or u_indices[u] != row:
        return -1
    return u


def component_techniques(const idx_t[::1] indptr, const idx_t[::1] indices,
                         const double[::1] data, const double[::1] labour,
                         const double[::1] beta, const int64_t[::1] techniques,
                         const idx2_t[::1] position, Py_ssize_t start, Py_ssize_t n,
                         const double[::1] values, int64_t[::1] in_ptr,
                         int64_t[::1] local_in, double[::1] coef_in, double[::1] fixed):
    """The techniques of a cyclic component's members, split for solves on the
    component alone.

    Techniques are the columns of a CSC matrix A (``indptr``, ``indices``, ``data``) with
    direct cost ``labour[t]`` and output ``beta[t]``; the component holds the products at
    positions start..start + n − 1 of a dependency order (``position`` maps a product to
    its position). For the j-th technique t of ``techniques``, writes its inputs inside
    the component as local positions ``local_in[in_ptr[j]:in_ptr[j + 1]]`` with
    coefficients ``coef_in`` = A[i, t] / beta[t], in its column's order, and
    ``fixed[j]`` = labour[t] / beta[t] + Σ A[i, t] / beta[t] · values[i] over its inputs
    outside (earlier components, final in ``values``). ``local_in`` and ``coef_in`` need
    room for every entry of the techniques. Returns the entries inside.
    """
    cdef Py_ssize_t k = indptr.shape[0] - 1, n_tech = techniques.shape[0], j, t, x, q
    cdef Py_ssize_t at = 0, local, room = 0
    cdef double c, f
    _check_csr(indptr, data.shape[0], indices.shape[0])
    _check_len("labour", labour.shape[0], k)
    _check_len("beta", beta.shape[0], k)
    _check_len("values", values.shape[0], position.shape[0])
    _check_len("in_ptr", in_ptr.shape[0], n_tech + 1)
    _check_len("fixed", fixed.shape[0], n_tech)
    if start < 0 or n < 0 or start + n > position.shape[0]:
        raise ValueError("the component's positions are outside position's range")
    for j in range(n_tech):
        t = techniques[j]
        if t < 0 or t >= k:
            raise ValueError(f"technique {t} is not a column of the matrix")
        room += indptr[t + 1] - indptr[t]
    if local_in.shape[0] < room or coef_in.shape[0] < room:
        raise ValueError("local_in and coef_in need room for every entry of the techniques")
    with nogil:
        in_ptr[0] = 0
        for j in range(n_tech):
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
                    f = f + c * values[q]
            fixed[j] = f
            in_ptr[j + 1] = at
    return at


def technique_slots(const idx_t[::1] indptr, const idx_t[::1] indices,
                    const idx2_t[::1] u_indptr, const idx2_t[::1] u_indices,
                    const idx2_t[::1] products, const idx2_t[::1] techniques,
                    idx2_t[::1] out):
    """Where the entries of techniques[a] sit in the union column of products[a]
    (technique choice; the union from :func:`technique_union`, the techniques' rows
    sorted), concatenated over a into ``out``. Returns the number of positions written.
    """
    cdef Py_ssize_t k = indptr.shape[0] - 1, a, t, e, u, end, n = 0
    cdef bint missing = False
    _check_len("techniques", techniques.shape[0], products.shape[0])
    for a in range(techniques.shape[0]):
        t = techniques[a]
        if not (0 <= t < k):
            raise ValueError(f"techniques[{a}] = {t} is not a technique (0..{k - 1})")
        n += indptr[t + 1] - indptr[t]
    if out.shape[0] < n:
        raise ValueError("out is shorter than the techniques' entries")
    n = 0
    with nogil:
        for a in range(techniques.shape[0]):
            t = techniques[a]
            u = u_indptr[products[a]]
            end = u_indptr[products[a] + 1]
            for e in range(indptr[t], indptr[t + 1]):
                u = _union_position(u_indices, u, end, indices[e])
                if u < 0:
                    missing = True
                    break
                out[n] = <idx2_t> u
                n += 1
            if missing:
                break
    if missing:
        raise ValueError("a technique's input is not in its product's union column")
    return n


def policy_coefficients(const idx_t[::1] indptr, const idx_t[::1] indices,
                        const double[::1] values, const idx2_t[::1] u_indptr,
                        const idx2_t[::1] u_indices, const idx2_t[::1] policy,
                        double[::1] out):
    """Coefficients of a choice of techniques in the union pattern (technique choice).

    The techniques are the columns of a canonical CSC matrix (``indptr``, ``indices``:
    sorted rows) with coefficients ``values``; the union is from :func:`technique_union`.
    Every entry of every product p's union column is written: technique ``policy[p]``'s
    coefficient in its rows, zero in the others (``out`` need not be zeroed first, and
    its pages are first touched here, by several threads). Products run in parallel,
    each writing its own column.
    """
    cdef Py_ssize_t m = policy.shape[0], k = indptr.shape[0] - 1, p, t, e, u, end, row
    cdef Py_ssize_t missing = 0
    _check_len("values", values.shape[0], indptr[k])
    _check_len("u_indptr", u_indptr.shape[0], m + 1)
    _check_len("out", out.shape[0], u_indptr[m])
    for p in range(m):
        if not (0 <= policy[p] < k):
            raise ValueError(f"policy[{p}] = {policy[p]} is not a technique (0..{k - 1})")
    with nogil:
        for p in prange(m, schedule="static", num_threads=_team(_n_chunks(m, u_indptr[m]))):
            t = policy[p]
            u = u_indptr[p]
            end = u_indptr[p + 1]
            for e in range(indptr[t], indptr[t + 1]):
                row = indices[e]
                while u < end and u_indices[u] < row:
                    out[u] = 0.0
                    u = u + 1
                if u == end or u_indices[u] != row:
                    missing += 1
                    break
                out[u] = values[e]
                u = u + 1
            while u < end:
                out[u] = 0.0
                u = u + 1
    if missing:
        raise ValueError("a technique's input is not in its product's union column")
    return None


def cheapest_techniques(const double[::1] costs, const idx2_t[::1] by_product,
                        const idx2_t[::1] product_ptr, const idx2_t[::1] current,
                        double tol_rel, idx2_t[::1] best, double[::1] low,
                        unsigned char[::1] tied):
    """The cheapest technique of every product (technique choice, one pass).

    Product p's techniques are ``by_product[product_ptr[p]:product_ptr[p + 1]]`` in
    ascending order. ``low[p]`` is the least of their ``costs``; ``best[p]`` the first
    technique attaining it, or ``current[p]`` (when ``current`` is not empty) if that costs
    at most ``low[p] + tol_rel·|low[p]|`` (keep the technique in use unless another is
    cheaper beyond rounding). ``tied[p]`` is 1 where several techniques cost at most that.
    Returns the number of tied products.
    """
    cdef Py_ssize_t m = product_ptr.shape[0] - 1, p, q, j, first, n_tied = 0
    cdef double c, lo, cut
    cdef bint keep = current.shape[0] > 0
    _check_len("best", best.shape[0], m)
    _check_len("low", low.shape[0], m)
    _check_len("tied", tied.shape[0], m)
    if keep:
        _check_len("current", current.shape[0], m)
    with nogil:
        for p in prange(m, schedule="static", num_threads=_team(_n_chunks(m, 4 * m))):
            lo = INFINITY
            first = -1
            for q in range(product_ptr[p], product_ptr[p + 1]):
                j = by_product[q]
                c = costs[j]
                if c < lo or first < 0:
                    lo = c
                    first = j
            cut = lo + tol_rel * fabs(lo)
            tied[p] = 0
            c = 0
            for q in range(product_ptr[p], product_ptr[p + 1]):
                if costs[by_product[q]] <= cut:
                    c = c + 1
            if c > 1:
                tied[p] = 1
            if keep and costs[current[p]] <= cut:
                first = current[p]
            best[p] = <idx2_t> first
            low[p] = lo
        for p in range(m):
            n_tied += tied[p]
    return n_tied


def cheapest_sweep(const idx_t[::1] indptr, const idx_t[::1] indices,
                   const double[::1] data, const double[::1] labour, const double[::1] beta,
                   const idx_t[::1] by_product, const idx_t[::1] product_ptr,
                   const idx2_t[::1] order, const idx2_t[::1] block_ptr, Py_ssize_t first,
                   Py_ssize_t last, Py_ssize_t max_sweeps, double tol, double[::1] V,
                   idx_t[::1] best):
    """Gauss–Seidel sweeps of the technique-choice values over components in order.

    Techniques are the columns of a CSC matrix A (``indptr``, ``indices``, ``data``: their
    inputs), with direct cost ``labour[t]`` and output ``beta[t]`` of their product;
    product p's techniques are ``by_product[product_ptr[p]:product_ptr[p + 1]]``. For the
    components first..last-1 of ``order``/``block_ptr`` (dependencies first), every
    product p in order takes

        V[p] = min_t (labour[t] + Σ_{i ≠ p} A[i, t] V[i]) / (beta[t] − A[p, t])

    over its techniques with beta[t] > A[p, t], and ``best[p]`` the first technique
    attaining it. A single product is exact once its inputs are; a cyclic component is
    swept until no value moves by more than ``tol`` times its largest value, at most
    ``max_sweeps`` times. A product none of whose techniques makes more than it uses
    keeps its V and best. Returns the number of such products (in the last sweep).
    """
    cdef Py_ssize_t unpriced
    _check_sweep_args(indptr, data, indices, labour, beta, product_ptr, order, V, best)
    if first < 0 or last < first or last > block_ptr.shape[0] - 1:
        raise ValueError("blocks [first, last) are not inside block_ptr")
    with nogil:
        unpriced = _cheapest_range(indptr, indices, data, labour, beta, by_product,
                                   product_ptr, order, block_ptr, first, last, max_sweeps,
                                   tol, V, best)
    return unpriced


def cheapest_sweep_follow(const idx_t[::1] indptr, const idx_t[::1] indices,
                          const double[::1] data, const double[::1] labour,
                          const double[::1] beta, const idx_t[::1] by_product,
                          const idx_t[::1] product_ptr, const idx2_t[::1] order,
                          const idx2_t[::1] block_ptr, const int64_t[::1] progress,
                          Py_ssize_t first, Py_ssize_t dense_max, Py_ssize_t max_sweeps,
                          double tol, double[::1] V, idx_t[::1] best):
    """:func:`cheapest_sweep` from component ``first`` on, following a component search
    of the products' union graph that runs in another thread and publishes its progress
    in ``progress`` (see :func:`strongly_connected_components`): components are swept as
    they complete, and the call waits while it has caught up, as
    :func:`block_solve_follow` does.

    Returns
    -------
    (k, why) : tuple of int
        why 0: the search finished and every component before k (the number of
        components) is swept; 1: component k has more than ``dense_max`` products and is
        not swept (the caller chooses its techniques and calls again from k + 1); 3: the
        search stopped without finishing (``progress[1]`` set to a value other than 0
        and 1 by the caller).
    """
    cdef Py_ssize_t m = product_ptr.shape[0] - 1, k = first, avail, stop, why = -1
    _check_sweep_args(indptr, data, indices, labour, beta, product_ptr, order, V, best)
    _check_len("block_ptr", block_ptr.shape[0], m + 1)
    _check_len("progress", progress.shape[0], 2)
    if first < 0 or first > m:
        raise ValueError(f"first = {first} is not a component number")
    with nogil:
        while why < 0:
            why = _published(progress, block_ptr, k, m, dense_max, &stop, &avail)
            if why < 0:
                _cheapest_range(indptr, indices, data, labour, beta, by_product,
                                product_ptr, order, block_ptr, k, stop, max_sweeps, tol, V,
                                best)
                k = stop
                if stop < avail:
                    why = 1
    return k, why


cdef int _check_sweep_args(const idx_t[::1] indptr, const double[::1] data,
                           const idx_t[::1] indices, const double[::1] labour,
                           const double[::1] beta, const idx_t[::1] product_ptr,
                           const idx2_t[::1] order, double[::1] V,
                           idx_t[::1] best) except -1:
    cdef Py_ssize_t k = indptr.shape[0] - 1, m = product_ptr.shape[0] - 1
    _check_csr(indptr, data.shape[0], indices.shape[0])
    _check_len("labour", labour.shape[0], k)
    _check_len("beta", beta.shape[0], k)
    _check_len("order", order.shape[0], m)
    _check_len("V", V.shape[0], m)
    _check_len("best", best.shape[0], m)
    return 0


cdef Py_ssize_t _cheapest_range(const idx_t[::1] indptr, const idx_t[::1] indices,
                                const double[::1] data, const double[::1] labour,
                                const double[::1] beta, const idx_t[::1] by_product,
                                const idx_t[::1] product_ptr, const idx2_t[::1] order,
                                const idx2_t[::1] block_ptr, Py_ssize_t first,
                                Py_ssize_t last, Py_ssize_t max_sweeps, double tol,
                                double[::1] V, idx_t[::1] best) noexcept nogil:
    """The sweeps of :func:`cheapest_sweep` over components first..last-1; it loads
    ahead only inside them (a search being followed has written ``order`` no further)."""
    cdef Py_ssize_t b, s, e, a, p, q, t, x, i, sweep, sweeps, arg, ahead, unpriced = 0
    cdef Py_ssize_t limit = block_ptr[last]
    cdef double lo, num, own, net, c, change, top
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
                # deeper (a pass without it waits on every one of them).
                ahead = a + 16
                if ahead < limit:
                    lab_prefetch(&product_ptr[order[ahead]])
                ahead = a + 8
                if ahead < limit:
                    lab_prefetch(&by_product[product_ptr[order[ahead]]])
                ahead = a + 4
                if ahead < limit:
                    q = product_ptr[order[ahead]]
                    lab_prefetch(&indptr[by_product[q]])
                    if q + 1 < product_ptr[order[ahead] + 1]:
                        lab_prefetch(&indptr[by_product[q + 1]])
                ahead = a + 2
                if ahead < limit:
                    p = order[ahead]
                    for q in range(product_ptr[p], product_ptr[p + 1]):
                        t = by_product[q]
                        lab_prefetch(&indices[indptr[t]])
                        lab_prefetch(&data[indptr[t]])
                p = order[a]
                lo = INFINITY
                arg = -1
                for q in range(product_ptr[p], product_ptr[p + 1]):
                    t = by_product[q]
                    num = labour[t]
                    own = 0.0
                    for x in range(indptr[t], indptr[t + 1]):
                        i = indices[x]
                        if i == p:
                            own = own + data[x]
                        else:
                            num = num + data[x] * V[i]
                    net = beta[t] - own
                    if net > 0.0:
                        c = num / net
                        if c < lo:
                            lo = c
                            arg = t
                if arg < 0:
                    if sweep == sweeps - 1:
                        unpriced = unpriced + 1
                    continue
                if fabs(lo - V[p]) > change:
                    change = fabs(lo - V[p])
                if fabs(lo) > top:
                    top = fabs(lo)
                V[p] = lo
                best[p] = <idx_t> arg
            if change <= tol * top:
                break
    return unpriced


# --------------------------------------------------------------------------- harmony

#: Multiply-adds a target of the harmony dual counts as (its logarithm and compensated
#: sums), for the chunk count: 0.8 ms for 30,000 targets against ~1 ns a multiply-add.
cdef enum:
    _HARMONY_WORK = 16

HARMONY_WORK = _HARMONY_WORK


cdef inline void _neumaier(double *total, double *carry, double term) noexcept nogil:
    """total += term with Neumaier's compensation kept in carry."""
    cdef double new = total[0] + term
    if fabs(total[0]) >= fabs(term):
        carry[0] += (total[0] - new) + term
    else:
        carry[0] += (term - new) + total[0]
    total[0] = new


cdef Py_ssize_t _harmony_rows(const double[:, ::1] V, const double[::1] lam,
                              const double[::1] t, const double[::1] w, Py_ssize_t lo,
                              Py_ssize_t hi, double[:, ::1] part, Py_ssize_t c) noexcept nogil:
    """The targets lo..hi-1 of :func:`harmony_dual`: row c of part = (Σ conjugates, its
    carry, −Σ V[q, i] y*_i for each q, their carries); returns the first target whose
    price is not positive while its weight is, or -1."""
    cdef Py_ssize_t r = V.shape[0], i, q
    cdef double p, wi, ti, qt, y, s, conj
    for i in range(lo, hi):
        p = 0.0
        for q in range(r):
            p = p + lam[q] * V[q, i]
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
            if isfinite(s):
                conj = wi * log1p(s) - wi
            else:
                conj = wi * (log(y) - log(ti)) - wi
        else:
            y = ti * (2.0 - qt)  # quadratic branch
            s = (y - ti) / ti
            conj = wi * (s - 0.5 * s * s) - p * y
        _neumaier(&part[c, 0], &part[c, 1], conj)
        if y != 0.0:
            for q in range(r):
                _neumaier(&part[c, 2 + q], &part[c, 2 + r + q], -V[q, i] * y)
    return -1


def harmony_dual(const double[:, ::1] V, const double[::1] lam, const double[::1] t,
                 const double[::1] w, const double[::1] rho, double[::1] grad):
    """g(λ) = λᵀρ + Σᵢ max_{n ≥ 0} [wᵢ H((n − tᵢ)/tᵢ) − pᵢ n] with p = λᵀV, and its
    gradient ρ − V y* (y* the maximisers) into ``grad``; returns g, or inf when some
    pᵢ ≤ 0 < wᵢ (``grad`` then −inf along the resources the first such target uses).

    V (r, T): the integrated resource coefficients of a policy on the T targets
    (lab.planning._harmony.conjugate and best_response fused, one pass over V). Sums are
    compensated (Neumaier), chunk by chunk and then over the chunks in order: the same
    bits on any number of threads (the min-max calling this stops at a relative change
    of 1e-12, which a plain running sum over 10⁵ terms would blur).
    """
    cdef Py_ssize_t r = V.shape[0], T = V.shape[1], c, q, nchunks, lo, hi, first = -1
    cdef double total = 0.0, carry = 0.0
    cdef double[:, ::1] part
    cdef Py_ssize_t[::1] bad
    cdef double[::1] comp
    _check_len("lam", lam.shape[0], r)
    _check_len("rho", rho.shape[0], r)
    _check_len("grad", grad.shape[0], r)
    _check_len("t", t.shape[0], T)
    _check_len("w", w.shape[0], T)
    nchunks = _n_chunks(T, T * _HARMONY_WORK)
    # the chunks' sums are updated through pointers at every target, so they live in
    # memory: rows padded by a cache line keep two threads' chunks off each other's
    # lines (unpadded, 2 threads took 8.2 ms against 8.6 on 1 for 300,000 targets)
    part = np.zeros((nchunks, (2 + 2 * r + 7) // 8 * 8 + 8), dtype=np.float64)
    bad = np.empty(nchunks, dtype=np.intp)
    comp = np.zeros(r, dtype=np.float64)
    with nogil:
        for c in prange(nchunks, schedule="dynamic", chunksize=1, num_threads=_team(nchunks)):
            lo = (T * c) // nchunks
            hi = (T * (c + 1)) // nchunks
            bad[c] = _harmony_rows(V, lam, t, w, lo, hi, part, c)
        for q in range(r):
            grad[q] = rho[q]
            _neumaier(&total, &carry, lam[q] * rho[q])
        for c in range(nchunks):
            if bad[c] >= 0:
                first = bad[c]
                break
            _neumaier(&total, &carry, part[c, 0])
            _neumaier(&total, &carry, part[c, 1])
            for q in range(r):
                _neumaier(&grad[q], &comp[q], part[c, 2 + q])
                _neumaier(&grad[q], &comp[q], part[c, 2 + r + q])
        for q in range(r):
            grad[q] = grad[q] + comp[q]
            if first >= 0 and V[q, first] > 0.0:
                grad[q] = -INFINITY
    return INFINITY if first >= 0 else total + carry
