"""Parametrisation helpers of the pytest benchmark suites (sizes, rounds)."""

from __future__ import annotations

import os

import _workloads as W
import pytest


def size_id(n: int) -> str:
    """10000 -> "1e4", 250000 -> "2.5e5", 1234 -> "1234"."""
    mant, exp = f"{n:e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{int(exp)}" if len(mant) <= 3 and int(exp) >= 3 else str(n)


def size_params(sizes=None):
    """pytest params for the sizes, with readable ids and the `large` mark."""
    sizes = W.env_sizes() if sizes is None else sizes
    return [pytest.param(n, id=f"n={size_id(n)}",
                         marks=[pytest.mark.large] if n >= W.LARGE_SIZE else [])
            for n in sizes]


def kernel_size() -> int:
    if os.environ.get("LAB_BENCH_KERNEL_SIZE"):
        return int(float(os.environ["LAB_BENCH_KERNEL_SIZE"]))
    if os.environ.get("LAB_BENCH_SIZES"):
        return max(W.env_sizes())
    return W.LARGE_SIZE


def rounds() -> int:
    return max(1, int(os.environ.get("LAB_BENCH_ROUNDS", "5")))
