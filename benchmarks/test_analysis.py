"""Footprints of many demand scenarios and structural path analysis (lab.analysis).

Economies: ``lab.bench``'s benchmark economy (``LAB_BENCH_SIZES`` products, default 10^4,
10^5; 10^6 under ``-m large``; 12 mean inputs, ρ(A) = 0.9), rtol 1e-10.

Footprints (group ``footprint n=…``): ``LAB_BENCH_SCENARIOS`` final-demand scenarios
(default 100, seeded uniform [0, 1)), products × scenarios:

* ``lab, one call``: ``FootprintSolver.solve(Y)``, every scenario in one multi-right-hand-
  side solve (the solver's set-up and the multipliers paid before timing);
* ``lab, one by one``: the same solver, one ``solve`` call per scenario;
* ``lab, cold``: ``lab.footprint(economy, Y)`` on a fresh solver (Aᵀ, both structure
  analyses, the multipliers and the solve);
* ``scipy splu``: SuperLU of I − A (factorisation timed: it is the peer's set-up), then
  ``lu.solve(Y)`` and ``lu.solve(Rᵀ, trans="T")`` for the multipliers, up to
  ``LAB_BENCH_SPSOLVE_MAX`` products (default 10^4: its fill grows fast; 28 million
  non-zeros in L and U at 10^4).

``LAB_BENCH_THREADS`` sets lab's kernel threads. Every answer's gross output is checked,
untimed, with scipy: max over scenarios of ‖y + Ax − x‖∞ / ‖x‖∞, in
``extra_info["residual"]``.

Paths (group ``explain n=…``): ``lab.explain(economy, code)`` of the top 20 paths for
three products (first, middle, last), with the labour values given (``search``) and
solved in the call (``with values``); ``extra_info`` has the share of the value the 20
paths explain, the paths expanded and whether the top 20 are certified.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.sparse as sp
from _params import env_threads, rounds, size_params

import lab
from lab.bench import _workloads as W

SIZES = size_params()
SCENARIOS = int(os.environ.get("LAB_BENCH_SCENARIOS", "100"))
SPLU_MAX = int(float(os.environ.get("LAB_BENCH_SPSOLVE_MAX", "10000")))


@pytest.fixture(scope="module")
def cases():
    """n -> (economy, Y, FootprintSolver set up with its multipliers), built once."""
    cache: dict[int, tuple] = {}

    def get(n):
        if n not in cache:
            cache.clear()  # one size at a time: Y alone is 0.8 GB at 10^6 × 100
            economy = W.make_economy(n)
            Y = np.random.default_rng(W.SEED).random((n, SCENARIOS))
            solver = lab.FootprintSolver(economy, rtol=W.RTOL, n_threads=env_threads())
            solver.multipliers("all")
            cache[n] = (economy, Y, solver)
        return cache[n]

    return get


def _residual(economy, Y, X) -> float:
    """max over scenarios of ‖y + Ax − x‖∞ / ‖x‖∞, with scipy."""
    R = np.abs(Y + economy.A @ X - X).max(axis=0)
    return float(np.max(R / np.maximum(np.abs(X).max(axis=0), 1e-300)))


def _lab_one_call(economy, Y, solver):
    return lambda: solver.solve(Y).gross_output.to_numpy()


def _lab_one_by_one(economy, Y, solver):
    def run():
        return np.column_stack([solver.solve(Y[:, j]).gross_output.to_numpy()[:, 0]
                                for j in range(Y.shape[1])])
    return run


def _lab_cold(economy, Y, solver):
    fresh = lab.Economy(economy.A, economy.R)  # nothing cached on it
    return lambda: lab.footprint(fresh, Y, rtol=W.RTOL,
                                 n_threads=env_threads()).gross_output.to_numpy()


def _scipy_splu(economy, Y, solver):
    from scipy.sparse.linalg import splu

    def run():
        lu = splu(sp.csc_array(sp.identity(economy.n_products, format="csc") - economy.A))
        X = lu.solve(Y)
        V = lu.solve(np.ascontiguousarray(economy.R.T), trans="T").T  # R (I − A)⁻¹
        V @ Y  # the footprints, as lab computes them
        return X
    return run


WORKLOADS = {"lab, one call": _lab_one_call, "lab, one by one": _lab_one_by_one,
             "lab, cold": _lab_cold, "scipy splu": _scipy_splu}


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", list(WORKLOADS))
def test_footprint(benchmark, cases, n, name):
    if name == "scipy splu" and n > SPLU_MAX:
        pytest.skip(f"splu of I − A does not fit at {n} products (LAB_BENCH_SPSOLVE_MAX)")
    economy, Y, solver = cases(n)
    fn = WORKLOADS[name](economy, Y, solver)
    residual = _residual(economy, Y, fn())  # untimed warm-up, checked
    benchmark.group = f"footprint n={n}"
    benchmark.extra_info.update(n_products=n, nnz=economy.nnz, scenarios=Y.shape[1],
                                residual=residual, workload=name,
                                load_average=os.getloadavg()[0])
    benchmark.pedantic(fn, rounds=rounds(), iterations=1, warmup_rounds=0)
    assert residual <= 1e-9, f"{name}: residual {residual:.3g}"


@pytest.fixture(scope="module")
def path_cases():
    cache: dict[int, tuple] = {}

    def get(n):
        if n not in cache:
            cache.clear()
            economy = W.make_economy(n)
            cache[n] = (economy, lab.labour_values(economy, rtol=W.RTOL))
        return cache[n]

    return get


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("values_given", [True, False], ids=["search", "with values"])
def test_explain(benchmark, path_cases, n, where, values_given):
    economy, values = path_cases(n)
    code = f"P{ {'first': 0, 'middle': n // 2, 'last': n - 1}[where] }"
    kwargs = {"values": values} if values_given else {}
    paths = lab.explain(economy, code, top=20, **kwargs)  # untimed warm-up, checked
    a = paths.attrs
    benchmark.group = f"explain n={n}"
    benchmark.extra_info.update(
        n_products=n, nnz=economy.nnz, product=code, share=a["explained"] / a["value"],
        nodes=a["nodes"], open=a["open"], certified=a["certified"],
        bound_pruned=a["bound_pruned"], load_average=os.getloadavg()[0])
    benchmark.pedantic(lambda: lab.explain(economy, code, top=20, **kwargs),
                       rounds=rounds(), iterations=1, warmup_rounds=0)
    assert a["certified"] and len(paths) == 20
