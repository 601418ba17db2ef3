"""Just-in-time plan rays of multi-year plans (lab.planning._just_in_time): the schedule
and its prices against hand-solved economies and HiGHS on generated problems, with and
without terminal stocks, including one where investing earlier than needed pays."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _plan_reference import multiyear_ray_highs

import lab
from lab.exceptions import ConvergenceWarning
from lab.generate import generate_multiyear_problem
from lab.planning import _certificate
from lab.planning._certificate import FEASIBILITY_TOL, Objective
from lab.planning._just_in_time import JustInTime, presolve
from lab.planning._scale import balanced_units, scaled_problem

pytest.importorskip("highspy")


def _tractors(years=2, available=((30.0,), (30.0,)), **kwargs):
    """Grain (1 h and 2 tractors of capital per unit a year) and tractors (3 h each);
    half the tractors wear out in a year; 20 at the start; 10 grain wanted a year."""
    economy = lab.Economy(np.zeros((2, 2)), [1.0, 3.0], codes=["grain", "tractor"])
    return lab.MultiYearProblem(
        economy, years=years, targets=[[10.0, 0.0]] * years, available=[list(a) for a in
                                                                        available],
        capital=[[0.0, 0.0], [2.0, 0.0]], depreciation=0.5,
        initial_stocks=[[0.0, 0.0], [20.0, 0.0]], weights="uniform", **kwargs)


def _structured(problem):
    """The just-in-time evidence of ``problem``'s plan ray (the solver's units)."""
    inner = problem.as_planning_problem()
    limited = np.isfinite(inner.available)
    scaled = scaled_problem(inner, balanced_units(inner, limited))
    ub = _certificate.implied_bounds(scaled, limited)
    return presolve(scaled, Objective("plan-ray"), limited, ub, problem.repair_for(scaled))


def _jit(problem):
    """JustInTime on the year-indexed plan in the user's units."""
    return JustInTime(problem.repair_for(problem.as_planning_problem()))


def test_schedule_invests_what_next_year_ties_up():
    """At φ = 0.6: grain 6 a year needs 12 tractors; year 1 inherits 10 of the 20
    (half wear out), so it builds 2; year 2 inherits 6 and builds 6 for year 3. Labour:
    6 + 3·2 = 12 h in year 1, 6 + 3·6 = 24 h in year 2 (of 30, 20, 30)."""
    jit = _jit(_tractors(years=3, available=((30.0,), (20.0,), (30.0,))))
    plan = jit.schedule(0.6)
    assert plan.converged
    np.testing.assert_allclose(plan.make[:, 0], [6.0, 6.0, 6.0], rtol=1e-12)
    np.testing.assert_allclose(plan.make[:, 1], [2.0, 6.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(plan.invest.ravel(), [2.0, 6.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(plan.stocks.ravel(), [20.0, 12.0, 12.0, 6.0], rtol=1e-12)
    np.testing.assert_allclose(plan.hold.ravel(), [8.0, 0.0, 0.0], atol=1e-12)
    assert plan.load == pytest.approx(24.0 / 20.0, rel=1e-12)
    assert plan.binding == ("resource", 1, 0)


def test_hand_solved_plan_ray_is_just_in_time_and_its_prices_prove_it():
    """The two-year economy of test_multiyear (φ = 6/7, year 1's labour binds): the
    just-in-time plan is the optimum, and its prices prove it before any iteration."""
    problem = _tractors()
    jit = _jit(problem)
    plan = jit.best()
    assert plan.phi == pytest.approx(6 / 7, rel=1e-12)
    assert plan.binding == ("resource", 0, 0)
    ev = _structured(problem)
    assert ev.infeasibility <= FEASIBILITY_TOL
    assert ev.objective == pytest.approx(6 / 7, rel=1e-8)  # the repair's margin
    assert ev.bound == pytest.approx(6 / 7, rel=1e-9)
    result = lab.plan(problem, method="plan-ray")
    assert result.converged and result.iterations == 0
    assert result.solver == "just-in-time" and "just-in-time" in result.summary()
    assert result.objective == pytest.approx(6 / 7, rel=1e-8)
    np.testing.assert_allclose(result.investment[0].toarray()[1, 0], 50 / 7, rtol=1e-9)


def test_investing_early_pays_where_a_later_year_is_short_of_labour():
    """Three years, 30, 20, 30 h. Just in time, year 2 builds year 3's tractors:
    10φ + 3·10φ ≤ 20 gives φ = 1/2. Building them in year 1 (half survive a year) is
    better: with year 1's labour spent, I₁ = 10 − 10φ/3 and year 2 builds
    20φ − (10 + I₁)/2, so 10φ + 3(20φ − 10 + 5φ/3) ≤ 20: φ = 2/3. The just-in-time
    evidence brackets the optimum without proving it; the primal-dual method does."""
    problem = _tractors(years=3, available=((30.0,), (20.0,), (30.0,)))
    ev = _structured(problem)
    assert ev.infeasibility <= FEASIBILITY_TOL
    assert ev.objective == pytest.approx(0.5, rel=1e-8)
    assert ev.bound >= 2 / 3 * (1 - 1e-9)
    assert ev.relative_gap > 1e-3
    ref, status = multiyear_ray_highs(problem)
    assert status == "Optimal" and ref == pytest.approx(2 / 3, rel=1e-9)
    result = lab.plan(problem, method="plan-ray")
    assert result.converged and result.iterations > 0 and result.solver == "pdhg"
    assert result.objective == pytest.approx(2 / 3, rel=1e-6)


def test_terminal_stocks_out_of_its_reach_leave_it_to_the_general_route():
    """With 20 h in year 2 and K₃ ≥ 15 (test_multiyear's hand-solved case, φ = 1/3),
    investing just in time cannot leave the stocks even at φ = 0 (year 2 would build
    10 tractors, 30 h): no just-in-time plan, and the general route still certifies."""
    problem = _tractors(available=((30.0,), (20.0,)), terminal_stocks=0.75)
    assert _jit(problem).best() is None
    assert _structured(problem) is None
    result = lab.plan(problem, method="plan-ray")
    assert result.converged
    assert result.objective == pytest.approx(1 / 3, rel=1e-6)


@pytest.mark.parametrize("labour_share", [0.8, 0.3])
@pytest.mark.parametrize("terminal", [None, 0.8])
@pytest.mark.parametrize("seed", range(3))
def test_generated_plans_are_bracketed_and_certified_ones_match_highs(seed, terminal,
                                                                      labour_share):
    """Weak duality, checked against HiGHS: the just-in-time plan is feasible and no
    better than the optimum, its prices bound it from above; where they certify, the
    plan is the optimum."""
    problem = generate_multiyear_problem(40, years=4, seed=seed, mean_inputs=4,
                                         capital_goods=0.2, terminal_stocks=terminal,
                                         labour_share=labour_share)
    ref, status = multiyear_ray_highs(problem)
    ev = _structured(problem)
    if status == "Infeasible":  # labour too short to leave the terminal stocks
        assert terminal is not None
        assert ev is None or ev.infeasibility > FEASIBILITY_TOL
        return
    assert status == "Optimal"
    if ev is None:  # the terminal stocks out of the just-in-time plan's reach
        assert terminal is not None
        return
    assert ev.infeasibility <= FEASIBILITY_TOL
    assert ev.objective <= ref * (1 + 1e-9)
    assert ev.bound >= ref * (1 - 1e-9)
    if ev.relative_gap <= 1e-6:
        assert ev.objective == pytest.approx(ref, rel=2e-6)


@pytest.mark.parametrize(("seed", "terminal"),
                         [(0, None), (1, None), (2, None), (1, 0.5), (2, 0.5)])
def test_default_generated_plans_certify_without_iterations(seed, terminal):
    """On the generator's defaults (capital binds in the first year, labour has room)
    the just-in-time plan is the optimum: lab certifies it at once and HiGHS agrees.
    (With terminal stocks 0.5·K₁ and seed 0, building them in the last year alone is
    out of reach: the general route certifies that one, see test_multiyear.)"""
    problem = generate_multiyear_problem(200, years=5, seed=seed, terminal_stocks=terminal)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = lab.plan(problem, method="plan-ray")
    assert result.converged and result.iterations == 0
    assert result.infeasibility <= FEASIBILITY_TOL
    ref, status = multiyear_ray_highs(problem)
    assert status == "Optimal"
    assert result.objective == pytest.approx(ref, rel=2e-6)
    assert result.bound >= ref * (1 - 1e-9)


def test_other_objectives_are_left_to_the_general_route():
    problem = _tractors()
    inner = problem.as_planning_problem()
    limited = np.isfinite(inner.available)
    ub = _certificate.implied_bounds(inner, limited)
    repair = problem.repair_for(inner)
    assert presolve(inner, Objective("harmony"), limited, ub, repair) is None
    groups = Objective("plan-ray", problem.ray_groups())
    assert presolve(inner, groups, limited, ub, repair) is None


@pytest.mark.parametrize("transpose", [False, True])
def test_yearly_solves_match_dense_numpy(transpose):
    """ForwardRepair.solve, the Leontief solves both passes use, against NumPy on the
    year's (B − A) in the solver's units, with a right-hand side of both signs."""
    problem = generate_multiyear_problem(40, years=3, seed=4, mean_inputs=4)
    inner = problem.as_planning_problem()
    limited = np.isfinite(inner.available)
    scaled = scaled_problem(inner, balanced_units(inner, limited))
    repair = problem.repair_for(scaled)
    rhs = np.random.default_rng(0).normal(size=repair.m)
    for y in range(problem.years):
        year, b = repair.years[y][0], repair.years[y][1]
        M = np.diag(b) - year.A.toarray()
        expected = np.linalg.solve(M.T if transpose else M, rhs)
        got = repair.solve(y, rhs, transpose=transpose)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())
