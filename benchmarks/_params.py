"""What the pytest benchmark suites take from the environment: sizes, rounds, threads.

The workloads themselves (economies, lab's solvers, the scipy peers, residuals and
calibrated peer tolerances) are those of ``lab bench``: :mod:`lab.bench._workloads`.
"""

from __future__ import annotations

import os
import types

import pytest

from lab.bench import _workloads as W

#: Products per economy unless ``LAB_BENCH_SIZES`` says otherwise.
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
#: Sizes at or above this are marked ``large``.
LARGE_SIZE = 1_000_000


def parse_sizes(text: str | None) -> tuple[int, ...]:
    """``"10000,1e5"`` -> ``(10000, 100000)``."""
    if not text:
        return DEFAULT_SIZES
    sizes = tuple(int(float(s)) for s in text.replace(" ", "").split(",") if s)
    if not sizes or min(sizes) < 1:
        raise ValueError(f"sizes must be positive integers, got {text!r}")
    return sizes


def env_sizes() -> tuple[int, ...]:
    return parse_sizes(os.environ.get("LAB_BENCH_SIZES"))


def env_threads() -> int | None:
    """``LAB_BENCH_THREADS``: kernel threads for lab's solvers (default: lab's default)."""
    text = os.environ.get("LAB_BENCH_THREADS", "").strip()
    return int(text) if text else None


def config() -> types.SimpleNamespace:
    """The options the workloads read (the fields of :class:`lab.bench.BenchConfig` they use).

    ``LAB_BENCH_SPSOLVE_MAX`` (default 10⁴) caps ``spsolve``, whose LU fill grows fast.
    """
    return types.SimpleNamespace(
        rtol=W.RTOL, seed=W.SEED, n_threads=env_threads(), peer_max=None,
        spsolve_max=int(float(os.environ.get("LAB_BENCH_SPSOLVE_MAX", "10000"))))


def size_id(n: int) -> str:
    """10000 -> "1e4", 250000 -> "2.5e5", 1234 -> "1234"."""
    mant, exp = f"{n:e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{int(exp)}" if len(mant) <= 3 and int(exp) >= 3 else str(n)


def size_params(sizes=None):
    """pytest params for the sizes, with readable ids and the `large` mark."""
    sizes = env_sizes() if sizes is None else sizes
    return [pytest.param(n, id=f"n={size_id(n)}",
                         marks=[pytest.mark.large] if n >= LARGE_SIZE else [])
            for n in sizes]


def kernel_size() -> int:
    if os.environ.get("LAB_BENCH_KERNEL_SIZE"):
        return int(float(os.environ["LAB_BENCH_KERNEL_SIZE"]))
    if os.environ.get("LAB_BENCH_SIZES"):
        return max(env_sizes())
    return LARGE_SIZE


def rounds() -> int:
    return max(1, int(os.environ.get("LAB_BENCH_ROUNDS", "5")))
