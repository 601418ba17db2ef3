"""The plan ray rebalanced on its makers (lab.planning._certificate.rebalance): every
product's net output exactly φ·t, φ as large as capacities and resources allow."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import lab
from lab.generate import generate_planning_problem
from lab.planning import PlanningProblem, _certificate
from lab.planning._certificate import Objective

sys.path.insert(0, str(Path(__file__).parent))
from _plan_reference import plan_ray_highs  # noqa: E402


def _capacity_problem(n=300, seed=1):
    return generate_planning_problem(n, seed=seed, alternatives=1.0, limit_resources=3,
                                     capacities=0.3)


def _min_ratio(problem, x):
    t = problem.targets
    n = problem.net_output(x)
    return float(np.min(n[t > 0] / t[t > 0]))


@pytest.fixture(scope="module")
def optimum():
    pytest.importorskip("highspy")
    problem = _capacity_problem()
    phi, x, status = plan_ray_highs(problem)
    assert status == "Optimal"
    return problem, phi, x


def test_the_optimal_plan_rebalanced_keeps_its_ratio(optimum):
    # HiGHS's vertex: its makers' intensities solved anew give every product exactly
    # φ*·t, and φ* itself is reached (the capacities and resources allow no more)
    problem, phi, x = optimum
    plan, passes = _certificate.rebalance(problem, x, phi * (1 + 1e-3))
    assert plan is not None and passes > 0
    n = problem.net_output(plan)
    assert _certificate.feasibility(problem, plan, n) <= _certificate.FEASIBILITY_TOL
    assert _min_ratio(problem, plan) >= phi * (1 - 1e-7)
    assert _min_ratio(problem, plan) <= phi * (1 + 1e-9)  # never above the LP optimum
    np.testing.assert_allclose(n, _min_ratio(problem, plan) * problem.targets,
                               atol=1e-9 * float(np.max(np.abs(n))))


def test_an_uneven_plan_is_evened_above_its_repair(optimum):
    # the targets met unevenly (each target's technique run 0–3 % off, as a primal-dual
    # iterate does): repaired, the plan ray is its worst target's ratio; rebalanced, every
    # target gets the same one, well above
    problem, phi, x = optimum
    rng = np.random.default_rng(0)
    uneven = np.minimum(x * (1 + 0.03 * rng.random(x.size) - 0.015), problem.capacities)
    repaired, _ = _certificate.repair(problem, uneven)
    plan, _ = _certificate.rebalance(problem, uneven, phi)
    assert plan is not None
    n = problem.net_output(plan)
    assert _certificate.feasibility(problem, plan, n) <= _certificate.FEASIBILITY_TOL
    assert phi * (1 + 1e-9) >= _min_ratio(problem, plan) > _min_ratio(problem, repaired)
    assert _min_ratio(problem, plan) >= 0.97 * phi


def test_evidence_keeps_the_better_of_the_two_plans(optimum, monkeypatch):
    problem, phi, x = optimum
    rng = np.random.default_rng(1)
    uneven = np.minimum(x * (1 + 0.03 * rng.random(x.size) - 0.015), problem.capacities)
    limited = np.isfinite(problem.available)
    ub = _certificate.implied_bounds(problem, limited)
    exact = lab.plan(problem, method="plan-ray", solver="highs")  # prices for the bound
    p = exact.prices
    lam = exact.resource_prices[limited]

    def evidence():
        return _certificate.evidence(problem, Objective("plan-ray"), uneven, p, lam,
                                     limited, ub, rebalanced=True)

    with_it = evidence()
    monkeypatch.setattr(_certificate, "REBALANCE_FROM", np.inf)  # repair alone
    without = evidence()
    assert without.rebalance_passes == 0 < with_it.rebalance_passes
    assert with_it.objective > without.objective
    assert with_it.bound == without.bound
    assert with_it.infeasibility <= _certificate.FEASIBILITY_TOL
    assert with_it.work > without.work
    # harmony keeps the repaired plan alone
    monkeypatch.undo()
    harmony = _certificate.evidence(problem, Objective("harmony"), uneven, p, lam, limited,
                                    ub, rebalanced=True)
    assert harmony.rebalance_passes == 0
    # unless asked (the primal-dual route asks for its iterates), no rebalancing
    unasked = _certificate.evidence(problem, Objective("plan-ray"), uneven, p, lam, limited,
                                    ub)
    assert unasked.rebalance_passes == 0


def _two_sources():
    """Product 0 by technique 0 (capacity 10) or technique 1 (uncapped); technique 2
    makes the target, product 1, from 0.5 of product 0; labour 1 per unit of every
    technique, 3 available."""
    use = sp.csc_array(np.array([[0.0, 0.0, 0.5], [0.0, 0.0, 0.0]]))
    make = sp.csc_array(np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    return PlanningProblem.from_techniques(use, make, np.ones((1, 3)), np.array([0.0, 1.0]),
                                           capacities=np.array([10.0, np.inf, np.inf]),
                                           available=np.array([3.0]))


def test_supply_beyond_the_need_is_scaled_down():
    # technique 0 at its capacity makes 10 of product 0 where the plan needs 1: the maker
    # (technique 1) would run at −9, so technique 0 is scaled down by the surplus and the
    # solve repeated; labour (3) then allows φ = 2: 1 + 2 for techniques 0 and 2
    problem = _two_sources()
    plan, _ = _certificate.rebalance(problem, np.array([10.0, 1.0, 1.0]), 5.0)
    np.testing.assert_allclose(plan, [1.0, 0.0, 2.0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(problem.net_output(plan), [0.0, 2.0], atol=1e-12)


def test_phi_max_and_capacities_bound_the_ratio():
    problem = _two_sources()
    plan, _ = _certificate.rebalance(problem, np.array([0.5, 0.0, 1.0]), 1.5)
    assert _min_ratio(problem, plan) == pytest.approx(1.5, rel=1e-12)  # phi_max
    capped = PlanningProblem.from_techniques(
        sp.csc_array(problem.A), sp.csc_array(problem.B), np.ones((1, 3)),
        problem.targets, capacities=np.array([10.0, np.inf, 1.2]),
        available=np.array([3.0]))
    plan, _ = _certificate.rebalance(capped, np.array([0.5, 0.0, 1.0]), 5.0)
    assert _min_ratio(capped, plan) == pytest.approx(1.2, rel=1e-12)  # the target's cap


def test_where_it_does_not_apply_it_gives_no_plan():
    problem = _two_sources()
    x = np.array([0.5, 0.0, 1.0])
    assert _certificate.rebalance(problem, x, np.inf) == (None, 0)
    assert _certificate.rebalance(problem, x, 0.0) == (None, 0)
    # joint production: technique 2 also makes some of product 0
    joint = PlanningProblem.from_techniques(
        sp.csc_array(problem.A), sp.csc_array(np.array([[1.0, 1.0, 0.1], [0.0, 0.0, 1.0]])),
        np.ones((1, 3)), problem.targets, available=np.array([3.0]))
    assert _certificate.rebalance(joint, x, 2.0) == (None, 0)


def test_a_primal_dual_plan_ray_is_certified_sooner(monkeypatch):
    # 500 products with technique choice and binding capacities: within 3,000 iterations
    # the bound is proven to 1e-6 but no repaired iterate comes near it (gap 7.5e-4);
    # a rebalanced one does
    problem = generate_planning_problem(500, seed=1, alternatives=1.0, limit_resources=3,
                                        capacities=0.3)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return lab.plan(problem, method="plan-ray", solver="pdhg", maxiter=3_000)

    with_it = run()
    monkeypatch.setattr(_certificate, "REBALANCE_FROM", np.inf)
    without = run()
    assert with_it.relative_gap <= 1e-6 < 1e-4 < without.relative_gap
    assert with_it.status == lab.PlanStatus.OPTIMAL
    assert with_it.infeasibility <= _certificate.FEASIBILITY_TOL
    assert with_it.objective > without.objective
