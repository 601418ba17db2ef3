"""CSR kernels on Aᵀ of a ``LAB_BENCH_KERNEL_SIZE``-product economy (default 10^6).

Each backend × index width (int32, int64) × 1 or 2 threads, against scipy ``M @ x``.
``test_unstructured_product`` times BiCGSTAB's product y = x − Aᵀx on the economy without
supply chains of the same size, on CSR and on cache-sized tiles (``lab.values._tiles``).
``extra_info["GBps"]`` is the achieved bandwidth from an upper-bound byte count:
per non-zero 8 B data + 4/8 B index + 8 B gather of x; plus indptr, and per row the
vectors the kernel streams (out; b, v, v_new; b, v read and written).
"""

from __future__ import annotations

import pytest
from _params import rounds

from lab import _ops
from lab.bench import _workloads as W
from lab.bench import kernel_bytes

BACKENDS = _ops.available_backends()
WIDTHS = ("int32", "int64")
THREADS = (1, 2)


def _run(benchmark, case, fn, kernel, extra, stream=None):
    fn()  # untimed warm-up (Numba JIT for this signature)
    benchmark.group = "kernels csr_matvec" if kernel == "scipy" else f"kernels {kernel}"
    compulsory = (kernel_bytes(case.indptr, case.indices, case.data, case.n, kernel)
                  if kernel in ("csr_matvec", "jacobi_step", "scipy") else None)
    benchmark.extra_info.update(n_products=case.n, nnz=case.nnz, bytes=case.bytes_moved(
        "scipy" if kernel == "scipy" else kernel), bytes_compulsory=compulsory, **extra)
    benchmark.pedantic(fn, rounds=max(rounds(), 10), iterations=1, warmup_rounds=0)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None under --benchmark-disable
        median = stats.stats.median
        benchmark.extra_info["GBps"] = benchmark.extra_info["bytes"] / median / 1e9
        if compulsory is not None:
            gbps = compulsory / median / 1e9
            benchmark.extra_info["GBps_compulsory"] = gbps
            bw = (stream or {}).get(extra.get("threads"))
            if bw:
                benchmark.extra_info["stream_GBps"] = bw
                benchmark.extra_info["fraction_of_stream"] = gbps / bw


@pytest.mark.parametrize("threads", THREADS, ids=lambda t: f"threads={t}")
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel", W.KERNELS)
def test_kernel(benchmark, kernel_cases, stream, kernel, backend, width, threads):
    case = kernel_cases(width)
    fn = W.kernel_call(case, backend, kernel, threads)
    _run(benchmark, case, fn, kernel,
         {"kernel": kernel, "backend": backend, "index": width, "threads": threads}, stream)


@pytest.mark.parametrize("threads", THREADS, ids=lambda t: f"threads={t}")
@pytest.mark.parametrize("backend", BACKENDS)
def test_matvec_float32_data(benchmark, kernel_cases, stream, backend, threads):
    """csr_matvec with float32 coefficients (float64 accumulation): 8 B per non-zero."""
    import dataclasses

    import numpy as np

    case = kernel_cases("int32")
    case32 = dataclasses.replace(case, data=case.data.astype(np.float32))
    fn = W.kernel_call(case32, backend, "csr_matvec", threads)
    _run(benchmark, case32, fn, "csr_matvec",
         {"kernel": "csr_matvec", "backend": backend, "index": "int32", "data": "float32",
          "threads": threads}, stream)


@pytest.fixture(scope="module")
def unstructured_csr():
    import numpy as np
    from _params import kernel_size

    from lab.values._solver import _narrow

    A = W.unstructured_economy(kernel_size()).A
    return _narrow((A.indptr, A.indices, A.data)), np.random.default_rng(0).random(A.shape[0])


@pytest.mark.parametrize("threads", THREADS, ids=lambda t: f"threads={t}")
@pytest.mark.parametrize("layout", ("csr", "tiles"))
@pytest.mark.parametrize("backend", BACKENDS)
def test_unstructured_product(benchmark, unstructured_csr, backend, layout, threads):
    """y = x − Aᵀx (with its inner product) where inputs lie anywhere: CSR gathers of x miss
    the cache, tiles keep a slice of x and the band's sums in it."""
    import numpy as np

    from lab.values._tiles import Tiles

    M, x = unstructured_csr
    K = _ops.kernels(backend)
    y = np.empty_like(x)
    if layout == "tiles":
        tiles = Tiles(K, M).arrays

        def product():
            K.tiled_matvec_dots(*tiles, x, x, y, True)
    else:
        def product():
            K.bicgstab_matvec_dot(*M, x, x, y)

    with _ops.thread_limit(threads, backend):
        product()  # untimed warm-up (Numba JIT for this signature)
        benchmark.group = "kernels unstructured x - A^T x"
        benchmark.extra_info.update(n_products=x.size, nnz=int(M[0][-1]), backend=backend,
                                    layout=layout, threads=threads)
        benchmark.pedantic(product, rounds=max(rounds(), 10), iterations=1, warmup_rounds=0)


@pytest.mark.parametrize("threads", THREADS, ids=lambda t: f"threads={t}")
def test_stream_read(benchmark, threads):
    """The machine's streaming read bandwidth (NumPy sums of a 512 MiB array in ``threads``
    parts at once): the ceiling the kernels' GB/s are compared with."""
    from lab.bench._measure import stream_bandwidth

    result = benchmark.pedantic(stream_bandwidth, args=(threads,), kwargs={"repeat": 3},
                                rounds=3, iterations=1, warmup_rounds=0)
    benchmark.group = "stream read"
    benchmark.extra_info.update(result)


@pytest.mark.parametrize("width", WIDTHS)
def test_scipy_matvec(benchmark, kernel_cases, stream, width):
    case = kernel_cases(width)
    _run(benchmark, case, W.scipy_matvec_call(case), "scipy",
         {"kernel": "scipy M @ x", "backend": "scipy", "index": width, "threads": 1}, stream)


# --------------------------------------------------------------------------- structure


def _components(K, case):
    """The strongly connected components of the case's Aᵀ by K: order, position,
    component pointers and their number."""
    import numpy as np

    n, idx = case.n, case.indices.dtype
    order, position, block_ptr = np.empty(n, idx), np.empty(n, idx), np.empty(n + 1, idx)
    nb = K.strongly_connected_components(case.indptr, case.indices, order, position,
                                         block_ptr)
    return order, position, block_ptr[:nb + 1], nb


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("step", ["scc", "permute", "block_solve"])
def test_structure_kernel(benchmark, kernel_cases, step, backend, width):
    """The three steps of the block method (serial SCC, reordering, substitution pass).

    ``block_solve`` runs on the reordered matrix over every component that the
    dense path handles (the large cyclic core is solved separately by BiCGSTAB).
    """
    import numpy as np

    case = kernel_cases(width)
    K = _ops.kernels(backend)
    n, idx = case.n, case.indices.dtype
    order, position, block_ptr, nb = _components(K, case)
    P = (np.empty_like(case.indptr), np.empty_like(case.indices), np.empty_like(case.data))
    K.permute_csr(case.indptr, case.indices, case.data, order, position, *P)
    identity = np.arange(n, dtype=idx)
    dense = np.flatnonzero(np.diff(block_ptr) <= 96)
    first = int(np.flatnonzero(np.diff(block_ptr) > 96).max(initial=-1)) + 1
    B = case.b[order].reshape(n, 1)
    V = np.zeros((n, 1))
    calls = {
        "scc": lambda: K.strongly_connected_components(case.indptr, case.indices, order,
                                                       np.empty(n, idx), np.empty(n + 1, idx)),
        "permute": lambda: K.permute_csr(case.indptr, case.indices, case.data, order,
                                         position, *P),
        "block_solve": lambda: K.block_solve(*P, B, V, np.empty_like(V), identity, identity,
                                             block_ptr, first, nb, 96),
    }
    calls[step]()  # warm-up
    benchmark.group = f"structure {step}"
    benchmark.extra_info.update(n_products=n, nnz=case.nnz, backend=backend, index=width,
                                components=nb, dense_components=len(dense))
    benchmark.pedantic(calls[step], rounds=max(rounds(), 5), iterations=1, warmup_rounds=0)


@pytest.mark.parametrize("threads", THREADS, ids=lambda t: f"threads={t}")
@pytest.mark.parametrize("backend", BACKENDS)
def test_level_pass(benchmark, kernel_cases, backend, threads):
    """The later solves' substitution pass: ``block_solve_levels`` on Aᵀ copied in level
    order (as :class:`lab.values._solver._Ordered` stores it), every level after the
    first, on 1 and 2 threads (one parallel region, a barrier between levels)."""
    import numpy as np

    case = kernel_cases("int32")
    K = _ops.kernels(backend)
    n, idx = case.n, case.indices.dtype
    order, position, block_ptr, nb = _components(K, case)
    by_level, level_ptr = np.empty(nb, idx), np.empty(nb + 1, idx)
    n_levels = K.block_levels(case.indptr, case.indices, order, block_ptr, by_level,
                              level_ptr)
    pieces = [order[block_ptr[k]:block_ptr[k + 1]] for k in by_level]
    order_l = np.concatenate(pieces).astype(idx)
    position_l = np.empty_like(order_l)
    position_l[order_l] = np.arange(n, dtype=idx)
    ptr_l = np.concatenate([[0], np.cumsum([len(p) for p in pieces])]).astype(idx)
    P = (np.empty_like(case.indptr), np.empty_like(case.indices), np.empty_like(case.data))
    K.permute_csr(case.indptr, case.indices, case.data, order_l, position_l, *P)
    identity = np.arange(n, dtype=idx)
    B = case.b[order_l].reshape(n, 1)
    V, MV = np.zeros((n, 1)), np.empty((n, 1))

    def call():
        with _ops.thread_limit(threads, backend):
            K.block_solve_levels(*P, B, V, MV, identity, identity, ptr_l, level_ptr, 1,
                                 n_levels, 96)

    call()  # warm-up
    benchmark.group = "structure level pass"
    benchmark.extra_info.update(n_products=n, nnz=case.nnz, backend=backend,
                                threads=threads, levels=int(n_levels))
    benchmark.pedantic(call, rounds=max(rounds(), 10), iterations=1, warmup_rounds=0)


@pytest.mark.parametrize("backend, threads",
                         [(b, t) for b in BACKENDS for t in THREADS] + [("numpy", 1)],
                         ids=lambda v: f"threads={v}" if isinstance(v, int) else v)
def test_harmony_dual(benchmark, backend, threads):
    """The dual of harmony and its gradient (the exact harmony route's min-max evaluates
    it ~1,000 times a plan) for 300,000 targets and 3 resources, the targets of 10⁶
    generated products: the kernel on 1 and 2 threads against NumPy's closed forms
    (``lab.planning._harmony``, one thread)."""
    import numpy as np

    from lab.planning import _harmony

    rng = np.random.default_rng(0)
    r, T = 3, 300_000
    V = rng.uniform(0.0, 1.0, (r, T))
    t, w = rng.lognormal(0.0, 2.0, T), rng.uniform(0.0, 2.0, T)
    rho, lam = rng.uniform(1.0, 5.0, r), rng.uniform(0.1, 1.0, r)
    grad = np.empty(r)

    if backend == "numpy":
        def call():
            p = lam @ V
            y = _harmony.best_response(p, t, w)
            return float(np.sum(_harmony.conjugate(p, t, w)) + lam @ rho), rho - V @ y
    else:
        K = _ops.kernels(backend)

        def call():
            with _ops.thread_limit(threads, backend):
                return K.harmony_dual(V, lam, t, w, rho, grad)

    call()  # warm-up (Numba compiles)
    benchmark.group = "harmony dual"
    benchmark.extra_info.update(targets=T, resources=r, backend=backend, threads=threads)
    benchmark.pedantic(call, rounds=max(rounds(), 20), iterations=1, warmup_rounds=0)
