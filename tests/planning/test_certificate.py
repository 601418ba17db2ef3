"""Tests of the repair that turns a near-feasible plan into a feasible one."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import lab
from lab.economy import Economy
from lab.generate import generate_planning_problem
from lab.planning import PlanningProblem, _certificate, _lp
from lab.planning._certificate import Objective


def _cycle_economy():
    """Products 0 → 1 → 2 → 0 each using 0.99 of the next (spectral radius 0.99) and
    product 3, the only target, using product 0."""
    A = np.zeros((4, 4))
    A[1, 0] = A[2, 1] = A[0, 2] = 0.99
    A[0, 3] = 1.0
    return A, np.array([0.0, 0.0, 0.0, 1.0])


def _exact_plan(A, t):
    return np.linalg.solve(np.eye(A.shape[0]) - A, t)


def _tight_cycle_plan():
    # every intermediate product balanced exactly; the target's technique runs 1e-7
    # more, so product 0 is short, and making it makes 1 short, then 2, then 0 again
    A, t = _cycle_economy()
    problem = PlanningProblem(Economy(A, np.ones((1, 4))), t)
    x = _exact_plan(A, t)
    x[3] *= 1 + 1e-7
    return problem, x


def test_a_shortage_around_a_tight_cycle_is_made_at_once():
    problem, x = _tight_cycle_plan()
    repaired, rounds = _certificate.repair(problem, x)
    assert rounds <= _certificate.SOLVE_AFTER + 2
    assert np.all(problem.net_output(repaired) >= 0)
    np.testing.assert_allclose(repaired, x, rtol=1e-6)


def test_without_the_solve_the_tight_cycle_takes_hundreds_of_rounds(monkeypatch):
    # what the solve after SOLVE_AFTER rounds saves (so the test above can fail): the
    # shortage shrinks by 1 % a round
    monkeypatch.setattr(_certificate, "SOLVE_AFTER", 10**9)
    problem, x = _tight_cycle_plan()
    _, rounds = _certificate.repair(problem, x, max_rounds=1000)
    assert rounds > 100


def test_a_shortage_is_made_by_the_technique_below_its_capacity():
    # product 0's main technique is at its capacity and an alternative (using 0.98 of
    # product 1) makes the rest, a little short: the alternative makes up the shortage
    # instead of the target's technique being scaled down
    A, t = _cycle_economy()
    alternative = np.array([[0.0], [0.98], [0.0], [0.0]])
    use = sp.csc_array(np.hstack([A, alternative]))
    make = sp.csc_array(np.hstack([np.eye(4), np.eye(4)[:, :1]]))
    exact = _exact_plan(A, t)
    caps = np.full(5, np.inf)
    caps[0] = 0.6 * exact[0]
    problem = PlanningProblem.from_techniques(use, make, np.ones((1, 5)), t,
                                              capacities=caps)
    x = np.append(exact, 0.0)
    x[0] = caps[0]
    x[4] = (exact[0] - caps[0]) * (1 - 1e-7)
    x[1] -= 0.01 * x[4]  # product 1 made for the alternative's lower use of it
    repaired, _ = _certificate.repair(problem, x)
    assert repaired[0] == caps[0]
    assert repaired[3] == x[3]  # the target's technique kept
    assert np.all(problem.net_output(repaired) >= 0)


def test_the_solve_keeps_to_capacities_and_leaves_a_joint_maker_to_the_rounds():
    A, t = _cycle_economy()
    exact = _exact_plan(A, t)
    caps = np.array([np.inf, 0.5 * exact[1], np.inf, np.inf])
    problem = PlanningProblem(Economy(A, np.ones((1, 4))), t, capacities=caps)
    x = np.minimum(exact * (1 + 1e-7), caps)  # product 1 cannot be made enough
    repaired, _ = _certificate.repair(problem, x)
    assert np.all(repaired <= caps)
    assert np.all(problem.net_output(repaired) >= 0)
    # product 1's maker also makes some of product 2: no solve, the rounds still end
    make = sp.csc_array(np.eye(4) + np.eye(4, k=-1) * np.array([0, 1, 0, 0]) * 0.5)
    joint = PlanningProblem.from_techniques(sp.csc_array(A), make, np.ones((1, 4)), t)
    x = exact.copy()
    x[3] *= 1 + 1e-7
    maker, coef = _certificate._makers(joint, x)
    assert _certificate._produce(joint, x, maker, coef, -joint.net_output(x)) is None
    repaired, _ = _certificate.repair(joint, x)
    assert np.all(joint.net_output(repaired) >= 0)


def test_tangent_rounds_keep_to_their_time_limit():
    highspy = pytest.importorskip("highspy")

    problem = generate_planning_problem(60, seed=2, capacities=0.3, limit_resources=2)
    calls = []

    def certify(x, p, lam):
        calls.append(1)
        return 1.0  # never certified: only the limits stop the rounds

    # a limit already spent when the first round would start: no round, no plan
    assert _lp.solve_harmony(problem, Objective("harmony"), gap=1e-6, certify=certify,
                             time_limit=1e-12) is None
    assert not calls
    # a limit far away: the rounds run to MAX_ROUNDS, and the shared HiGHS object is
    # left without a time limit
    out = _lp.solve_harmony(problem, Objective("harmony"), gap=1e-6, certify=certify,
                            time_limit=1e6)
    assert out[3] == len(calls) == _lp.MAX_ROUNDS
    with _lp.HIGHS_LOCK:
        h = _lp.quiet_highs(highspy)
        assert h.getOptionValue("time_limit")[1] == highspy.kHighsInf


def test_a_route_handed_on_keeps_the_bound_and_plan_it_had(monkeypatch):
    # tangent rounds stopped after one round leave HiGHS's plan uncertified; the
    # primal-dual route that goes on from it (here for only 64 iterations) must not
    # return a weaker bound or plan than the one it was handed
    pytest.importorskip("highspy")

    problem = generate_planning_problem(300, seed=3, alternatives=1.0, capacities=0.3,
                                        limit_resources=3)
    monkeypatch.setattr(_lp, "MAX_ROUNDS", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        highs = lab.plan(problem, method="harmony", solver="highs")
        after = lab.plan(problem, method="harmony", maxiter=64, check_every=64)
    assert highs.relative_gap > 1e-6 and "PDHG went on" in after.method_reason
    assert after.bound <= highs.bound * (1 + 1e-12)
    assert after.objective >= highs.objective - 1e-12 * abs(highs.objective)


def test_a_maker_at_its_capacity_is_scaled_into_it_not_cut_back_round_the_cycle():
    # product 1's only technique runs exactly at its capacity and the target's technique
    # 1e-7 above the balance: making the shortage at once needs product 1 a little above
    # its capacity, so the grown plan is scaled by s ≈ 1 − 1e-7 into it (cutting users
    # back instead lost the plan round the 0.99 cycle)
    A, t = _cycle_economy()
    exact = _exact_plan(A, t)
    caps = np.array([np.inf, exact[1], np.inf, np.inf])
    problem = PlanningProblem(Economy(A, np.ones((1, 4))), t, capacities=caps)
    x = exact.copy()
    x[3] *= 1 + 1e-7
    repaired, rounds = _certificate.repair(problem, x)
    assert rounds <= _certificate.SOLVE_AFTER + 2
    assert np.all(repaired <= caps)
    n = problem.net_output(repaired)
    assert _certificate.feasibility(problem, repaired, n) <= _certificate.FEASIBILITY_TOL
    assert n[3] >= 1.0 - 1e-9  # the target met (all but the scaling)
    assert repaired[3] >= (1 - 1e-5) * exact[3]


def test_the_maker_is_the_technique_with_most_room():
    # product 0: its own technique makes it all, a hair below its capacity; an uncapped
    # alternative makes none of it yet; product 1's two capped techniques: more room wins
    use = sp.csc_array(np.zeros((2, 4)))
    make = sp.csc_array(np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]))
    caps = np.array([1.0, np.inf, 2.0, 5.0])
    problem = PlanningProblem.from_techniques(use, make, np.ones((1, 4)), np.ones(2),
                                              capacities=caps)
    maker, coef = _certificate._makers(problem, np.array([1.0 - 1e-12, 0.0, 1.5, 1.0]))
    assert maker.tolist() == [1, 3]
    assert coef.tolist() == [1.0, 1.0]


def test_repairing_an_early_iterate_keeps_the_targets():
    # 2,000 iterations on a plan ray with technique choice and binding capacities: the
    # iterate overuses some products; cutting their users back in the first rounds
    # cascaded down the supply chains to the targets, and making shortages only up to
    # 0 left targets at n = 0 (φ = 0 against a bound of 1.29; now 1.07)
    problem = generate_planning_problem(1000, seed=1, alternatives=1.0, limit_resources=3,
                                        capacities=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = lab.plan(problem, method="plan-ray", solver="pdhg", maxiter=2_000)
    assert result.infeasibility <= _certificate.FEASIBILITY_TOL
    assert result.objective >= 1.0
    assert result.relative_gap <= 0.2


@pytest.mark.parametrize("alternatives", [0.0, 1.0])
def test_net_matrix_and_its_transpose_are_b_minus_a(alternatives):
    # the transpose is the CSC arrays of B − A read as CSR: the same matrix, no copy
    problem = generate_planning_problem(300, seed=3, alternatives=alternatives)
    B = np.eye(problem.n_products) if problem.B is None else problem.B.toarray()
    dense = B - problem.A.toarray()
    net, net_T = problem.net_matrix(), problem._net_matrix_T()
    np.testing.assert_array_equal(net.toarray(), dense)
    np.testing.assert_array_equal(net_T.toarray(), dense.T)
    assert net.has_canonical_format and net_T.has_canonical_format
    assert problem._net_matrix_T() is net_T  # cached
