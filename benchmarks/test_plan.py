"""Plans: lab against HiGHS on the plan-ray LP, harmony at scale, Cockshott against harmony.

Run (not collected by the default test run)::

    python -m pytest benchmarks/test_plan.py --benchmark-columns=median,rounds
    LAB_BENCH_PLAN_SIZES=10000,100000 python -m pytest benchmarks/test_plan.py
    python -m pytest benchmarks/test_plan.py -m large        # harmony at 10^6

Every lab result is checked before it is timed (certified gap, feasibility) and
its figures go into ``extra_info`` (objective, relative gap, iterations, solver,
peak RSS of the process). HiGHS runs once per size with a time limit
(``LAB_BENCH_HIGHS_LIMIT`` seconds, default 900; lab's primal-dual runs stop
at ``LAB_BENCH_PLAN_LIMIT``, default 300); its time, status and
objective are recorded the same way, so the report shows the ratio.

Problems (lab.generate.generate_planning_problem, seed 1): ``square`` has one
technique per product, labour limited to 80 % of what the targets need and no
capacities, so ``auto`` solves it exactly through labour values; ``capacities``
adds capacities to 20 % of the techniques, which ``auto`` also solves exactly (the
plan ray in closed form, harmony with the capacities it would exceed priced like
resources, up to lab.planning._exact.MAX_PRICED_CAPACITIES of them; beyond, HiGHS or
the primal-dual method). HiGHS gets the capacities problem at the smallest size only.
"""

from __future__ import annotations

import os
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import lab
from lab.generate import generate_planning_problem

sys.path.insert(0, str(Path(__file__).parent.parent / "tests" / "planning"))

from _plan_reference import plan_ray_highs  # noqa: E402

pytest.importorskip("highspy")

SIZES = [int(float(s)) for s in os.environ.get("LAB_BENCH_PLAN_SIZES", "10000,100000").split(",")]
HIGHS_LIMIT = float(os.environ.get("LAB_BENCH_HIGHS_LIMIT", "900"))
LAB_LIMIT = float(os.environ.get("LAB_BENCH_PLAN_LIMIT", "300"))
KINDS = {"square": {}, "capacities": {"capacities": 0.2}}
_cache: dict = {}


def _problem(n: int, kind: str):
    key = (n, kind)
    if key not in _cache:
        _cache[key] = generate_planning_problem(n, seed=1, **KINDS[kind])
    return _cache[key]


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _record(benchmark, result, **more):
    benchmark.extra_info.update(
        objective=result.objective, relative_gap=result.relative_gap,
        status=result.status.name, iterations=result.iterations, solver=result.solver,
        infeasibility=result.infeasibility, peak_rss_gb=_peak_gb(), **more)


def _sized(sizes):
    return [pytest.param(n, id=f"n={n:.0e}".replace("+0", ""),
                         marks=[pytest.mark.large] if n >= 10**6 else []) for n in sizes]


def _cases(sizes):
    """square at every size; capacities (the primal-dual method) at the smallest."""
    return [pytest.param(n, kind, id=f"n={n:.0e}-{kind}".replace("+0", ""))
            for n in sizes for kind in KINDS if kind == "square" or n == min(sizes)]


@pytest.mark.parametrize("n, kind", [
    pytest.param(n, kind, id=f"n={n:.0e}-{kind}".replace("+0", "")) for n in SIZES
    for kind in KINDS])
def test_plan_ray_lab(benchmark, n, kind):
    problem = _problem(n, kind)
    options = dict(method="plan-ray", maxiter=400_000, time_limit=LAB_LIMIT)
    with warnings.catch_warnings():  # untimed warm-up: compiles and caches the kernels
        warnings.simplefilter("ignore")
        lab.plan(problem, method="plan-ray", maxiter=64)
    result = benchmark.pedantic(lab.plan, args=(problem,), kwargs=options,
                                rounds=3, iterations=1)
    _record(benchmark, result, route=result.method_reason)


@pytest.mark.parametrize("n", _sized(SIZES))
def test_plan_ray_pdhg_square(benchmark, n):
    """The primal-dual method on the square problem that ``auto`` solves exactly."""
    problem = _problem(n, "square")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lab.plan(problem, method="plan-ray", solver="pdhg", maxiter=64)
    result = benchmark.pedantic(lab.plan, args=(problem,),
                                kwargs=dict(method="plan-ray", solver="pdhg",
                                            maxiter=400_000, time_limit=LAB_LIMIT),
                                rounds=1, iterations=1)
    _record(benchmark, result)


@pytest.mark.parametrize("solver", ["ipm", "simplex"])
@pytest.mark.parametrize("n, kind", _cases(SIZES))
def test_plan_ray_highs(benchmark, n, kind, solver):
    """The same LP in HiGHS (one timed run; it is the slow side of the ratio)."""
    import highspy

    problem = _problem(n, kind)
    started = time.perf_counter()

    def run():
        return plan_ray_highs(problem, solver, time_limit=HIGHS_LIMIT)

    objective, _, status = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(objective=objective, status=status,
                                seconds=time.perf_counter() - started,
                                highs=highspy.Highs().version(), peak_rss_gb=_peak_gb())


@pytest.mark.parametrize("n", _sized([*SIZES, 10**6]))
def test_harmony(benchmark, n):
    problem = _problem(n, "square")
    result = lab.plan(problem)
    assert result.converged, result.message
    result = benchmark.pedantic(lab.plan, args=(problem,), rounds=3, iterations=1)
    _record(benchmark, result, harmony=result.harmony, min_fulfilment=result.min_fulfilment)


@pytest.mark.parametrize("n", _sized(SIZES))
def test_harmony_with_capacities(benchmark, n):
    """``auto`` on the capacities problem: exact while few capacities bind, else the
    general routes, which may end uncertified (recorded)."""
    problem = _problem(n, "capacities")
    result = benchmark.pedantic(lab.plan, args=(problem,),
                                kwargs=dict(maxiter=400_000, time_limit=LAB_LIMIT),
                                rounds=1, iterations=1)
    _record(benchmark, result, harmony=result.harmony, route=result.method_reason)


@pytest.mark.parametrize("n", _sized(SIZES[:1]))
def test_cockshott_against_harmony_at_equal_time(benchmark, n):
    """Cockshott gets as many rounds as fit in the time of the certified harmony plan."""
    problem = _problem(n, "square")
    best = lab.plan(problem)
    started = time.perf_counter()
    probe = lab.plan(problem, method="cockshott", cockshott=lab.CockshottOptions(rounds=10))
    per_round = (time.perf_counter() - started) / 10
    rounds = max(1, int(best.timings["total"] / per_round))
    opts = lab.CockshottOptions(rounds=rounds)
    cock = benchmark.pedantic(lab.plan, args=(problem,),
                              kwargs=dict(method="cockshott", cockshott=opts),
                              rounds=1, iterations=1)
    del probe
    benchmark.extra_info.update(
        rounds=rounds, cockshott_harmony=cock.harmony,
        cockshott_min_fulfilment=cock.min_fulfilment, harmony=best.harmony,
        harmony_min_fulfilment=best.min_fulfilment, harmony_seconds=best.timings["total"],
        harmony_gap=best.relative_gap)
    assert np.isfinite(cock.harmony)


# --------------------------------------------------------------------------- multi-year
#
# Five-year plans (issue 12): lab.generate.generate_multiyear_problem(n, years=5,
# seed=1): 5 % of products are capital goods, 3 per industry on average, depreciation
# 10 % on average, targets growing 3 % a year, labour at 80 % of the yearly needs.
# HiGHS solves the same linear programme lab certifies, the year-indexed plan-ray LP
# (MultiYearProblem.as_planning_problem), with each of its solvers and a time limit.
#
#     LAB_BENCH_MULTIYEAR_SIZES=1000,10000 python -m pytest benchmarks/test_plan.py -k multiyear
#     python -m pytest benchmarks/test_plan.py -m large -k multiyear      # 10^5 products, lab

MULTIYEAR_SIZES = [int(float(s)) for s in
                   os.environ.get("LAB_BENCH_MULTIYEAR_SIZES", "1000,10000").split(",")]
MULTIYEAR_LARGE = 100_000
_multiyear: dict = {}


def _multiyear_problem(n: int):
    if n not in _multiyear:
        from lab.generate import generate_multiyear_problem

        _multiyear[n] = generate_multiyear_problem(n, years=5, seed=1)
    return _multiyear[n]


def _multiyear_sizes():
    return [pytest.param(n, id=f"n={n:.0e}".replace("+0", ""))
            for n in MULTIYEAR_SIZES] + [
        pytest.param(MULTIYEAR_LARGE, id="n=1e5", marks=[pytest.mark.large])]


@pytest.mark.parametrize("method", ["plan-ray", "harmony"])
@pytest.mark.parametrize("n", _multiyear_sizes())
def test_multiyear_lab(benchmark, n, method):
    """lab on the five-year plan; the plan ray is the LP HiGHS solves below."""
    problem = _multiyear_problem(n)
    with warnings.catch_warnings():  # untimed warm-up: compiles the kernels
        warnings.simplefilter("ignore")
        lab.plan(problem, method=method, maxiter=64)
    options = dict(method=method, maxiter=400_000, time_limit=LAB_LIMIT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the status is recorded
        result = benchmark.pedantic(lab.plan, args=(problem,), kwargs=options, rounds=1,
                                    iterations=1)
    inner = problem.as_planning_problem()
    benchmark.extra_info.update(
        objective=result.objective, bound=result.bound, relative_gap=result.relative_gap,
        status=result.status.name, iterations=result.iterations,
        infeasibility=result.infeasibility, products=inner.n_products,
        techniques=inner.n_techniques, nonzeros=int(inner.A.nnz + inner.B.nnz),
        timings=dict(result.timings), peak_rss_gb=_peak_gb())


@pytest.mark.parametrize("solver", ["simplex", "ipm", "pdlp"])
@pytest.mark.parametrize("n", [pytest.param(n, id=f"n={n:.0e}".replace("+0", ""))
                               for n in MULTIYEAR_SIZES])
def test_multiyear_highs(benchmark, n, solver):
    """HiGHS on the same plan-ray LP (one timed run, limited by LAB_BENCH_HIGHS_LIMIT)."""
    import highspy

    inner = _multiyear_problem(n).as_planning_problem()
    started = time.perf_counter()

    def run():
        return plan_ray_highs(inner, solver, time_limit=HIGHS_LIMIT)

    objective, _, status = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(objective=objective, status=status,
                                seconds=time.perf_counter() - started,
                                highs=highspy.Highs().version(), peak_rss_gb=_peak_gb())
