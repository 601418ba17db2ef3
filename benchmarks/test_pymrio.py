"""Every resource row at once, V = R (I − A)⁻¹: lab against pymrio's own Leontief calculation.

pymrio computes multipliers as ``calc_M(S, calc_L(A))`` with a dense inverse of
I − A, so it runs only where an m × m dense matrix fits: ``LAB_BENCH_PYMRIO_SIZES``
(default 1000, 2000, 5000). lab: a fresh ``labour_values(economy, resources="all")``
call (structure analysis included). Both answers are checked under lab's rule
‖r + Aᵀv − v‖∞ ≤ 1e-10·‖v‖∞ for every resource row; the largest is in
``extra_info["residual"]``. The workloads are those of ``lab bench``
(:mod:`lab.bench._workloads`), so the two always measure the same thing.
"""

from __future__ import annotations

import os

import pytest
from _params import rounds, size_id

from lab.bench import _workloads as BW

pytest.importorskip("pymrio")

SIZES = [int(float(s)) for s in
         os.environ.get("LAB_BENCH_PYMRIO_SIZES", "1000,2000,5000").split(",") if s]


@pytest.fixture(scope="module")
def cases():
    cache = {}

    def get(n):
        if n not in cache:
            cache[n] = BW.make_case("pymrio", n)
        return cache[n]

    return get


@pytest.mark.parametrize("n", SIZES, ids=lambda n: f"n={size_id(n)}")
@pytest.mark.parametrize("name", [w.name for w in BW.workloads("pymrio")])
def test_all_resources(benchmark, cases, name, n):
    case = cases(n)
    (w,) = [w for w in BW.workloads("pymrio") if w.name == name]
    if not w.applies(case, None):
        pytest.skip(f"a dense {n} x {n} inverse does not fit in the free memory")
    fn = w.build(case, None)
    info = w.check(case, fn())  # untimed warm-up; its answer is checked
    benchmark.group = f"all resources n={n}"
    benchmark.extra_info.update(n_products=n, nnz=case.nnz, side=w.side, **info)
    benchmark.pedantic(fn, rounds=rounds(), iterations=1, warmup_rounds=0)
    assert info["residual"] <= BW.RTOL * 1.0001, f"{name}: residual {info['residual']:.3g}"
