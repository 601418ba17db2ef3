"""CSR kernels on Aᵀ of a ``LAB_BENCH_KERNEL_SIZE``-product economy (default 10^6).

Each backend × index width (int32, int64) × 1 or 2 threads, against scipy ``M @ x``.
``extra_info["GBps"]`` is the achieved bandwidth from an upper-bound byte count:
per non-zero 8 B data + 4/8 B index + 8 B gather of x; plus indptr, and per row the
vectors the kernel streams (out; b, v, v_new; b, v read and written).
"""

from __future__ import annotations

import _workloads as W
import pytest
from _params import rounds

from lab import _ops

BACKENDS = _ops.available_backends()
WIDTHS = ("int32", "int64")
THREADS = (1, 2)


def _run(benchmark, case, fn, kernel, extra):
    fn()  # untimed warm-up (Numba JIT for this signature)
    benchmark.group = "kernels csr_matvec" if kernel == "scipy" else f"kernels {kernel}"
    benchmark.extra_info.update(n_products=case.n, nnz=case.nnz, bytes=case.bytes_moved(
        "scipy" if kernel == "scipy" else kernel), **extra)
    benchmark.pedantic(fn, rounds=max(rounds(), 10), iterations=1, warmup_rounds=0)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None under --benchmark-disable
        median = stats.stats.median
        benchmark.extra_info["GBps"] = benchmark.extra_info["bytes"] / median / 1e9


@pytest.mark.parametrize("threads", THREADS, ids=lambda t: f"threads={t}")
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel", W.KERNELS)
def test_kernel(benchmark, kernel_cases, kernel, backend, width, threads):
    case = kernel_cases(width)
    fn = W.kernel_call(case, backend, kernel, threads)
    _run(benchmark, case, fn, kernel,
         {"kernel": kernel, "backend": backend, "index": width, "threads": threads})


@pytest.mark.parametrize("width", WIDTHS)
def test_scipy_matvec(benchmark, kernel_cases, width):
    case = kernel_cases(width)
    _run(benchmark, case, W.scipy_matvec_call(case), "scipy",
         {"kernel": "scipy M @ x", "backend": "scipy", "index": width, "threads": 1})
