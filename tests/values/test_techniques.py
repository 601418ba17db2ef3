"""Labour values with technique choice (MATH.md §2), against independent references.

References: brute force over every choice of techniques on small economies (each choice a
dense NumPy solve; the values of the cheapest techniques are the componentwise minimum
over the productive choices), and HiGHS on the minimum-labour LP on larger ones (its
optimum for targets t is v·t and its prices are v). The non-substitution property is
tested where it holds (one product per technique, labour the only cost): the cheapest
plan for any targets uses the chosen techniques only.
"""

from __future__ import annotations

import itertools
import types

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import BACKENDS
from scipy.optimize import linprog

import lab
from lab.generate import generate_planning_problem


def _brute_force(A, B, l):
    """Componentwise minimum of the values over all productive technique choices."""
    m, k = A.shape
    makes = B.argmax(axis=0)
    options = [np.flatnonzero(makes == p) for p in range(m)]
    best = None
    for choice in itertools.product(*options):
        choice = np.array(choice)
        beta = B[makes[choice], choice]
        Ah = A[:, choice] / beta
        if np.max(np.abs(np.linalg.eigvals(Ah))) >= 1.0:
            continue
        v = np.linalg.solve(np.eye(m) - Ah.T, l[choice] / beta)
        best = v if best is None else np.minimum(best, v)
    return best, makes


def _small_problem(seed, m=6, alternatives=0.7):
    return generate_planning_problem(m, seed=seed, alternatives=alternatives,
                                     mean_inputs=3.0, spectral_radius=0.8)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", range(8))
def test_brute_force_small(seed, backend):
    problem = _small_problem(seed)
    A, B, l = problem.A.toarray(), problem.B.toarray(), problem.R[0]
    expected, makes = _brute_force(A, B, l)
    result = lab.labour_values(problem, backend=backend, rtol=1e-13)
    assert result.converged, result.message
    np.testing.assert_allclose(result.values, expected, rtol=1e-10)
    # the chosen techniques make their products and attain the values
    t = result.techniques
    assert t.shape == (problem.n_products,) and t.dtype.kind == "i"
    assert np.array_equal(makes[t], np.arange(problem.n_products))
    assert list(result.technique_codes) == [problem.technique_codes[j] for j in t]
    beta = B[makes[t], t]
    chosen = np.linalg.solve(np.eye(len(t)) - (A[:, t] / beta).T, l[t] / beta)
    np.testing.assert_allclose(chosen, expected, rtol=1e-10)
    assert result.residual <= 1e-13


def _lp_min_labour(problem, targets):
    """HiGHS on min l·x s.t. (B − A)x ≥ t, x ≥ 0: (objective, x, prices)."""
    N = sp.csr_array(problem.B - problem.A)
    # HiGHS's default feasibility tolerances (1e-7) leave prices off by 2e-7 at 3,000
    # products: the reference is asked for the precision it is compared at
    res = linprog(problem.R[0], A_ub=-N, b_ub=-targets, bounds=(0, None), method="highs",
                  options={"primal_feasibility_tolerance": 1e-10,
                           "dual_feasibility_tolerance": 1e-10})
    assert res.status == 0, res.message
    return res.fun, res.x, -res.ineqlin.marginals


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("m, seed, alternatives", [(400, 3, 0.8), (3000, 1, 1.0)])
def test_against_highs_and_non_substitution(m, seed, alternatives, backend):
    """400 products: no cyclic component larger than the dense limit; 3,000: one of 150
    products, which the first pass solves by its own policy iteration."""
    problem = generate_planning_problem(m, seed=seed, alternatives=alternatives)
    result = lab.labour_values(problem, backend=backend, rtol=1e-12)
    assert result.converged, result.message
    v = result.values
    chosen = np.zeros(problem.n_techniques, dtype=bool)
    chosen[result.techniques] = True
    rng = np.random.default_rng(0)
    for _ in range(4):  # the same techniques are optimal for every target vector
        targets = rng.lognormal(0.0, 1.0, problem.n_products) * (rng.random(m) < 0.5)
        targets[rng.integers(m)] += 1.0
        objective, x, prices = _lp_min_labour(problem, targets)
        assert objective == pytest.approx(float(v @ targets), rel=1e-8)
        assert np.max(x[~chosen], initial=0.0) <= 1e-8 * max(1.0, x.max())
        used = targets > 0
        np.testing.assert_allclose(prices[used], v[used], rtol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_first_pass_finds_the_cheapest_choice(backend, monkeypatch):
    """The pass over the union's components in dependency order (exact outside cycles,
    Gauss–Seidel on small cyclic components, policy iteration on the large one) already
    chooses the cheapest techniques on a generated economy: policy iteration proves it
    in one round, and agrees with policy iteration from the cheapest techniques by direct
    cost (the pass replaced by one that learns nothing and whose values are not finite,
    so they are not used as a start)."""
    from lab.values import _techniques

    problem = generate_planning_problem(3000, seed=1, alternatives=1.0)
    swept = lab.labour_values(problem, backend=backend, rtol=1e-12)
    assert swept.converged and swept.iterations == 1, swept.message
    monkeypatch.setattr(_techniques, "_swept_policy",
                        lambda tech, K, union, policy, options, tol_rel:
                        (union.structure(), policy, np.full(policy.size, np.nan)))
    plain = lab.labour_values(problem, backend=backend, rtol=1e-12)
    assert plain.converged and plain.iterations > 1
    assert np.array_equal(swept.techniques, plain.techniques)
    np.testing.assert_allclose(swept.values, plain.values, rtol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_first_pass_proves_itself_without_a_value_solver(backend, monkeypatch):
    """Where the pass's values meet the Bellman rule, its policy is the cheapest at them
    and they prove the policy's economy productive, that is the answer: no value solver
    is built (one that is fails the test), and the values equal scipy's direct solve of
    the chosen techniques' economy. A product without direct labour has Collatz–Wielandt
    quotient (Mv)_p / v_p = 1, which proves nothing: the value solver then takes over."""
    from scipy.sparse.linalg import spsolve

    from lab.values import _techniques

    problem = generate_planning_problem(3000, seed=2, alternatives=1.0)

    def refuse(*args, **kwargs):
        raise AssertionError("a value solver was built")

    with monkeypatch.context() as patch:
        patch.setattr(_techniques._UnionEconomy, "solver", refuse)
        result = lab.labour_values(problem, backend=backend, rtol=1e-12)
    assert result.converged and result.iterations == 1, result.message
    assert result.method == "blocks" and "one pass" in result.method_reason
    assert "Collatz" in result.productivity
    t = result.techniques
    beta = problem.B[:, t].sum(axis=0)
    Ah = sp.csc_array(problem.A[:, t] / beta)
    expected = spsolve(sp.eye(problem.n_products, format="csc") - Ah.T, problem.R[0][t] / beta)
    np.testing.assert_allclose(result.values, expected, rtol=1e-10)

    free = problem.R[0].copy()
    free[problem.B.tocsr()[[0], :].indices] = 0.0  # product 0's techniques use no labour
    view = types.SimpleNamespace(A=problem.A, B=problem.B, R=free[None, :],
                                 product_codes=problem.product_codes,
                                 technique_codes=problem.technique_codes)
    upstream = lab.labour_values(view, backend=backend, rtol=1e-12)
    assert upstream.converged, upstream.message
    assert "one pass" not in upstream.method_reason


def test_unsorted_technique_columns():
    """A technology whose columns list their inputs out of order (a duck-typed problem:
    lab's own problems are canonical) gives the same values and choice."""
    problem = generate_planning_problem(300, seed=2, alternatives=1.0)
    A = sp.csc_array(problem.A, copy=True)
    rng = np.random.default_rng(0)
    for j in range(A.shape[1]):  # reverse or shuffle each column's entries
        lo, hi = A.indptr[j], A.indptr[j + 1]
        order = rng.permutation(hi - lo) + lo
        A.indices[lo:hi], A.data[lo:hi] = A.indices[order], A.data[order]
    A.has_sorted_indices = False
    assert not A.has_sorted_indices
    view = types.SimpleNamespace(A=A, B=problem.B, R=problem.R,
                                 product_codes=problem.product_codes,
                                 technique_codes=problem.technique_codes)
    shuffled = lab.labour_values(view, rtol=1e-12)
    plain = lab.labour_values(problem, rtol=1e-12)
    assert shuffled.converged and plain.converged
    assert np.array_equal(shuffled.techniques, plain.techniques)
    np.testing.assert_allclose(shuffled.values, plain.values, rtol=1e-12)


def test_square_problem_equals_labour_values():
    economy = lab.generate_economy(500, seed=4)
    problem = lab.PlanningProblem(economy, {economy.codes[0]: 1.0})
    result = lab.labour_values(problem, rtol=1e-12)
    np.testing.assert_allclose(result.values, lab.labour_values(economy, rtol=1e-12).values,
                               rtol=1e-10)
    assert np.array_equal(result.techniques, np.arange(500))


def _tech(A, B, R, products=None, techniques=None):
    """A duck-typed technology (no PlanningProblem needed)."""
    m, k = np.shape(B)
    return types.SimpleNamespace(
        A=sp.csc_array(np.asarray(A, float)), B=sp.csc_array(np.asarray(B, float)),
        R=np.atleast_2d(np.asarray(R, float)),
        product_codes=products or [f"p{i}" for i in range(m)],
        technique_codes=techniques or [f"t{j}" for j in range(k)])


def test_hand_solved_choice_and_make_coefficients():
    # corn by hand (2 h) or by tractor (0.5 h + 0.25 iron, makes 2 corn per unit);
    # iron by one technique: 1 h + 0.1 corn.  Tractor corn: (0.5 + 0.25 v_iron) / 2.
    A = [[0.0, 0.0, 0.1], [0.0, 0.25, 0.0]]
    B = [[1.0, 2.0, 0.0], [0.0, 0.0, 1.0]]
    R = [2.0, 0.5, 1.0]
    result = lab.labour_values(_tech(A, B, R, ["corn", "iron"], ["hand", "tractor", "mine"]),
                               rtol=1e-14)
    # tractor: v_c = (0.5 + 0.25 v_i)/2, v_i = 1 + 0.1 v_c → v_c = 0.375/(1 − 0.0125)
    v_c = 0.375 / (1 - 0.0125)
    np.testing.assert_allclose(result.values, [v_c, 1 + 0.1 * v_c], rtol=1e-13)
    assert list(result.technique_codes) == ["tractor", "mine"]


def test_joint_production_raises():
    A = [[0.0, 0.1], [0.1, 0.0]]
    B = [[1.0, 1.0], [0.5, 1.0]]  # technique t0 makes both products
    with pytest.raises(lab.InvalidProblemError, match="joint production"):
        lab.labour_values(_tech(A, B, [1.0, 1.0]))


def test_product_made_by_nothing_raises():
    A = [[0.0, 0.1], [0.0, 0.0]]
    B = [[1.0, 1.0], [0.0, 0.0]]  # nothing makes p1
    with pytest.raises(lab.InvalidProblemError, match="made by no technique.*'p1'"):
        lab.labour_values(_tech(A, B, [1.0, 2.0]))


def test_ties_first_or_error():
    A = np.zeros((2, 3))
    A[1, 0] = A[1, 1] = 0.2
    B = [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]  # t0 and t1 identical: a tie
    tech = _tech(A, B, [1.0, 1.0, 1.0])
    result = lab.labour_values(tech)
    assert result.converged and list(result.techniques) == [0, 2]
    with pytest.raises(lab.InvalidProblemError, match="equally cheap.*'p0'"):
        lab.labour_values(tech, ties="error")
    with pytest.raises(lab.InvalidOptionError, match="ties"):
        lab.labour_values(tech, ties="random")


def test_first_choice_not_productive():
    """The cheapest by direct labour (t0: 0.1 h but 1.5 units of itself) is not
    productive. The pass over the components skips a technique that uses more of its
    product than it makes; without that pass (a method that needs no structure
    analysis), value iteration finds the productive choice t1."""
    A = [[1.5, 0.2]]
    B = [[1.0, 1.0]]
    for method, fallback in (("auto", False), ("blocks", False), ("jacobi", True)):
        result = lab.labour_values(_tech(A, B, [0.1, 1.0]), method=method)
        assert result.converged
        assert list(result.techniques) == [1]
        np.testing.assert_allclose(result.values, [1.0 / 0.8], rtol=1e-9)
        assert ("value-iteration" in result.message) == fallback


def test_no_productive_choice_raises():
    A = [[1.5, 1.2]]
    B = [[1.0, 1.0]]
    with pytest.raises(lab.NotProductiveError):
        lab.labour_values(_tech(A, B, [0.1, 1.0]))


def test_resources_argument_rejected():
    with pytest.raises(lab.InvalidEconomyError, match="resources"):
        lab.labour_values(_small_problem(0), resources="all")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", range(4))
def test_policy_iteration_warm_across_costs(seed, backend):
    """PolicyIteration.solve at a sequence of costs (each call starts from the last
    policy, warm) gives what brute force gives at each cost from scratch."""
    from lab.values._solver import ValuesOptions
    from lab.values._techniques import PolicyIteration

    problem = _small_problem(seed)
    A, B = problem.A.toarray(), problem.B.toarray()
    rng = np.random.default_rng(seed)
    solver = PolicyIteration(problem, ValuesOptions(rtol=1e-13, backend=backend))
    for _ in range(5):
        costs = problem.R[0] * rng.uniform(0.2, 5.0, problem.n_techniques)
        expected, makes = _brute_force(A, B, costs)
        result = solver.solve(costs)
        assert result.converged, result.message
        np.testing.assert_allclose(result.values, expected, rtol=1e-10)
        t = result.techniques
        beta = B[makes[t], t]
        chosen = np.linalg.solve(np.eye(len(t)) - (A[:, t] / beta).T, costs[t] / beta)
        np.testing.assert_allclose(chosen, expected, rtol=1e-10)


def test_policy_iteration_warm_matches_cold_on_a_larger_economy():
    """Warm calls agree with cold labour_values on the same costs (2,000 products)."""
    from lab.values._solver import ValuesOptions
    from lab.values._techniques import PolicyIteration

    problem = generate_planning_problem(2000, seed=5, alternatives=1.0, limit_resources=3)
    R = problem.R
    solver = PolicyIteration(problem, ValuesOptions(rtol=1e-12))
    for lam in ([1.0, 0.0, 0.0], [1.0, 0.5, 0.2], [0.1, 2.0, 0.3], [1.0, 0.5, 0.21]):
        costs = np.asarray(lam) @ R[:3]
        warm = solver.solve(costs)
        view = types.SimpleNamespace(A=problem.A, B=problem.B, R=costs[None, :],
                                     product_codes=problem.product_codes,
                                     technique_codes=problem.technique_codes)
        cold = lab.labour_values(view, rtol=1e-12)
        assert warm.converged and cold.converged
        np.testing.assert_allclose(warm.values, cold.values, rtol=1e-10)
        assert np.array_equal(warm.techniques, cold.techniques)
