"""Shared, seeded, session-scoped economies for the benchmarks.

Run (not collected by the default test run, whose ``testpaths`` is ``tests``)::

    python -m pytest benchmarks                      # 10^4 and 10^5 (10^6 is `large`)
    python -m pytest benchmarks -m large             # 10^6 only
    LAB_BENCH_SIZES=10000,100000,1000000 python -m pytest benchmarks   # all listed
    LAB_BENCH_SIZES=2000 python -m pytest benchmarks -q --benchmark-disable  # smoke

Environment
-----------
LAB_BENCH_SIZES        products per economy, comma-separated (default 10^4,10^5,10^6).
                       When set explicitly, every listed size runs (no `large` skip).
LAB_BENCH_KERNEL_SIZE  products of the kernel benchmarks (default: the largest of
                       LAB_BENCH_SIZES when that is set, else 10^6).
LAB_BENCH_ROUNDS       timed rounds per benchmark (default 5; kernels at least 10).
LAB_BENCH_THREADS      n_threads passed to lab in test_values (default: lab's default).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _params import config, kernel_size  # noqa: E402

from lab.bench import _workloads as W  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "large: 10^6-product workloads (skipped unless -m large or LAB_BENCH_SIZES)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("-m") or os.environ.get("LAB_BENCH_SIZES"):
        return
    skip = pytest.mark.skip(reason="large: run with -m large or set LAB_BENCH_SIZES")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def value_cases():
    """(n, suite) -> (case, workload options), built on first use and kept for the
    session; suites "values" (lab's generator), "values-unstructured", "techniques"."""
    cache: dict[tuple, tuple] = {}

    def get(n: int, suite: str = "values"):
        if (n, suite) not in cache:
            options = config()
            cache[n, suite] = (W.make_case(suite, n, options), options)
        return cache[n, suite]

    return get


@pytest.fixture(scope="session")
def stream():
    """threads -> streaming read GB/s of this machine, measured once per session."""
    from lab.bench._measure import stream_bandwidth

    return {t: stream_bandwidth(t)["best_GBps"] for t in (1, 2)}


@pytest.fixture(scope="session")
def kernel_economy():
    return W.make_economy(kernel_size())


@pytest.fixture(scope="session")
def kernel_cases(kernel_economy):
    cache: dict[str, W.KernelCase] = {}

    def get(index_dtype: str) -> W.KernelCase:
        if index_dtype not in cache:
            cache[index_dtype] = W.kernel_case(kernel_economy, index_dtype)
        return cache[index_dtype]

    return get
