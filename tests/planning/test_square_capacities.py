"""Square problems with capacities by the exact route (lab.planning._exact).

References: HiGHS (plan-ray LP) and Clarabel (harmony) on the whole problem, and a
hand-solved two-product economy.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import lab
from lab.exceptions import ConvergenceWarning
from lab.generate import generate_planning_problem
from lab.planning import _exact

sys.path.insert(0, str(Path(__file__).parent))
from _plan_reference import harmony_cvxpy, plan_ray_highs  # noqa: E402

pytest.importorskip("highspy")

BACKENDS = [b for b in ("cython", "numba") if b in lab._ops.available_backends()]
SQUARE = "decoupled through labour values"


def _two_products(capacity_1=np.inf, available=10.0):
    """Steel (1 h and 0.5 coal per unit) and coal (2 h per unit); target 1 steel, 1 coal.

    x_steel = φ, x_coal = φ + 0.5φ = 1.5φ: labour 1·φ + 2·1.5φ = 4φ ≤ 10 gives φ = 2.5;
    a coal capacity c gives φ ≤ c / 1.5."""
    economy = lab.Economy([[0.0, 0.0], [0.5, 0.0]], [[1.0, 2.0]], codes=["steel", "coal"])
    return lab.PlanningProblem(economy, {"steel": 1.0, "coal": 1.0},
                               available={"labour": available},
                               capacities={"coal": capacity_1})


@pytest.mark.parametrize("backend", BACKENDS)
def test_hand_solved_plan_ray(backend):
    free = lab.plan(_two_products(), method="plan-ray", backend=backend)
    assert free.objective == pytest.approx(2.5, rel=1e-12)
    capped = lab.plan(_two_products(3.0), method="plan-ray", backend=backend)
    assert capped.solver == "decoupled" and SQUARE in capped.method_reason
    assert capped.status == lab.PlanStatus.OPTIMAL
    assert capped.objective == pytest.approx(2.0, rel=1e-12)
    np.testing.assert_allclose(capped.x, [2.0, 3.0], rtol=1e-12)
    # the coal capacity binds, labour does not: the rent makes the bound, 3 / 1.5
    assert capped.bound == pytest.approx(2.0, rel=1e-12)
    np.testing.assert_allclose(capped.resource_prices, [0.0], atol=1e-15)
    assert capped.capacity_prices[1] == pytest.approx(1 / 1.5, rel=1e-9)
    # a capacity that does not bind changes nothing
    loose = lab.plan(_two_products(100.0), method="plan-ray", backend=backend)
    assert loose.objective == pytest.approx(2.5, rel=1e-12)


def test_capacities_alone_bound_the_plan_ray():
    """No limited resource: the capacity is the only limit, and the closed form finds it."""
    result = lab.plan(_two_products(3.0, available=np.inf), method="plan-ray")
    assert result.solver == "decoupled" and result.objective == pytest.approx(2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        unbounded = lab.plan(_two_products(available=np.inf), method="plan-ray")
    assert unbounded.status == lab.PlanStatus.UNBOUNDED


@pytest.mark.parametrize("resources", [1, 3])
@pytest.mark.parametrize("seed", range(4))
def test_plan_ray_against_highs(seed, resources):
    problem = generate_planning_problem(300, seed=seed, capacities=0.3,
                                        limit_resources=resources)
    result = lab.plan(problem, method="plan-ray")
    assert result.solver == "decoupled" and SQUARE in result.method_reason
    assert result.status == lab.PlanStatus.OPTIMAL and result.relative_gap <= 1e-9
    phi, _, status = plan_ray_highs(problem, "simplex")
    assert status == "Optimal"
    assert result.objective == pytest.approx(phi, rel=1e-9)
    assert result.bound >= phi * (1 - 1e-9)
    assert np.all(result.x <= problem.capacities * (1 + 1e-12))


# Clarabel may call its answer inaccurate at 1e-11; it is compared at 1e-7 all the same
@pytest.mark.filterwarnings("ignore:Solution may be inaccurate")
@pytest.mark.parametrize("resources", [1, 3])
@pytest.mark.parametrize("seed", range(3))
def test_harmony_against_clarabel(seed, resources):
    problem = generate_planning_problem(120, seed=seed, capacities=0.3,
                                        limit_resources=resources)
    result = lab.plan(problem, method="harmony")
    assert result.solver == "decoupled" and SQUARE in result.method_reason
    assert result.status == lab.PlanStatus.OPTIMAL and result.relative_gap <= 1e-6
    reference, _ = harmony_cvxpy(problem)
    assert result.objective == pytest.approx(reference, rel=1e-7, abs=1e-7)
    assert result.bound >= reference - 1e-7 * max(1.0, abs(reference))
    # capacities bind here (the test would not test the pricing otherwise)
    assert np.any(result.capacity_prices > 0)


def test_too_many_binding_capacities_go_to_highs_from_the_scaled_plan(monkeypatch):
    """Past the route's limit the plan without capacities, scaled into them, is where
    HiGHS's answer is compared from; the reason names the count."""
    monkeypatch.setattr(_exact, "MAX_PRICED_CAPACITIES", 1)
    problem = generate_planning_problem(120, seed=0, capacities=0.3)
    result = lab.plan(problem, method="harmony")
    assert result.solver == "highs" and "more than the 1 the exact route" in \
        result.method_reason
    assert result.converged
    reference, _ = harmony_cvxpy(problem)
    assert result.objective == pytest.approx(reference, rel=1e-6, abs=1e-6)


def test_within_capacities_scales_one_factor():
    x = np.array([1.0, 4.0, 2.0])
    c = np.array([np.inf, 2.0, 4.0])
    np.testing.assert_allclose(_exact.within_capacities(x, c), [0.5, 2.0, 1.0])
    assert _exact.within_capacities(x, np.full(3, np.inf)) is x


def _capped_like(problem, capacities):
    return lab.PlanningProblem(problem.economy, problem.targets,
                               available=problem.available, capacities=capacities)


@pytest.mark.filterwarnings("ignore:Solution may be inaccurate")
def test_harmony_with_hard_capacities():
    """A capacity of 0 on the busiest product, and every product capped at half its
    plan-ray use (more capacities priced than targets make something: the Newton system
    is singular and is damped): certified by the exact route, equal to Clarabel."""
    base = generate_planning_problem(80, seed=3, capacities=0.3)
    x = lab.plan(base, method="plan-ray").x
    zero = np.where(np.arange(80) == int(np.argmax(x)), 0.0, base.capacities)
    for caps in (zero, 0.5 * x + 1e-12):
        problem = _capped_like(base, caps)
        result = lab.plan(problem, method="harmony")
        assert result.solver == "decoupled" and result.relative_gap <= 1e-6, \
            result.method_reason
        reference, _ = harmony_cvxpy(problem)
        assert result.objective == pytest.approx(reference, rel=1e-7, abs=1e-7)


def test_tiny_capacities_are_units_not_a_problem():
    """Targets, limits and capacities a million times smaller give the same objective
    and the plan scaled by 10⁻⁶, both certified. (HiGHS and Clarabel work to absolute
    tolerances: with only the capacities made 10⁻⁶ times smaller, HiGHS's plan ray
    exceeded one by 7 % and Clarabel's harmony plan one by a factor of 112, so lab is
    its own reference here.)"""
    base = generate_planning_problem(80, seed=3, capacities=0.3)
    small = lab.PlanningProblem(base.economy, base.targets * 1e-6,
                                available=base.available * 1e-6,
                                capacities=base.capacities * 1e-6)
    for method in ("plan-ray", "harmony"):
        a = lab.plan(base, method=method)
        b = lab.plan(small, method=method)
        assert a.solver == b.solver == "decoupled"
        assert a.converged and b.converged
        assert b.objective == pytest.approx(a.objective, rel=1e-9)
        np.testing.assert_allclose(b.x, 1e-6 * a.x, rtol=1e-7, atol=1e-12 * a.x.max())
