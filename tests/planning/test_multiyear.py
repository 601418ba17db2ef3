"""Multi-year plans (MATH.md §4, issue 12): a hand-solved economy, HiGHS and Clarabel on
generated problems, the same plan written by hand with from_techniques, units, inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from _plan_reference import multiyear_harmony_cvxpy, multiyear_ray_highs

import lab
from lab.exceptions import ConvergenceWarning, InvalidProblemError
from lab.generate import generate_multiyear_problem
from lab.planning._certificate import FEASIBILITY_TOL

pytest.importorskip("highspy")

METHODS = ["plan-ray", "plan-ray-sum", "harmony"]


def _quiet(problem, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return lab.plan(problem, **kwargs)


# ------------------------------------------------------------ the hand-solved economy


def _tractors(**kwargs):
    """Grain (the consumption good: 1 h and 2 tractors of capital per unit a year) and
    tractors (3 h each, no capital); half the tractors wear out in a year; 20 tractors
    at the start; 10 grain wanted each year."""
    economy = lab.Economy(np.zeros((2, 2)), [1.0, 3.0], codes=["grain", "tractor"])
    args = dict(years=2, targets=[[10.0, 0.0], [10.0, 0.0]], available=[[30.0], [30.0]],
                capital=[[0.0, 0.0], [2.0, 0.0]], depreciation=0.5,
                initial_stocks=[[0.0, 0.0], [20.0, 0.0]], weights="uniform")
    args.update(kwargs)
    return lab.MultiYearProblem(economy, **args)


def test_hand_solved_plan_ray():
    """One rate φ for both years. Year 1: grain g₁ ≤ 20/2 = 10 (capital), g₁ + 3·I ≤ 30;
    year 2: g₂ ≤ (10 + I)/2 (half of 20 left, plus the new tractors). With g₁ = g₂ = 10φ
    and I = (30 − 10φ)/3: 10φ ≤ (10 + 10 − 10φ/3)/2, so φ = 6/7; I = 50/7, K₂ = 120/7."""
    result = lab.plan(_tractors(), method="plan-ray")
    assert result.converged
    assert abs(result.objective - 6 / 7) <= 1e-6
    np.testing.assert_allclose(result.phi, [6 / 7, 6 / 7], rtol=1e-6)
    np.testing.assert_allclose(result.output[:, 0], [60 / 7, 60 / 7], rtol=1e-6)
    assert abs(result.investment[0][1, 0] - 50 / 7) <= 1e-5
    assert result.investment[1].sum() == pytest.approx(0.0, abs=1e-6)  # nothing after
    assert result.stocks[0][1, 0] == pytest.approx(20.0)
    assert result.stocks[1][1, 0] == pytest.approx(120 / 7, rel=1e-6)
    assert result.infeasibility <= FEASIBILITY_TOL


def test_hand_solved_sum_of_rates_and_harmony():
    """Σφ_y: φ₂ = 1 − φ₁/6 when year 2's capital binds, so Σ = 1 + 5φ₁/6 is largest at
    the capital limit φ₁ = 1: φ = (1, 5/6), Σ = 11/6. Harmony with unit weights: the
    same plan (H′ > 1/6·H′ everywhere below the targets), H(0) + H(−1/6) = −13/72."""
    ray_sum = lab.plan(_tractors(), method="plan-ray-sum")
    assert ray_sum.converged
    assert abs(ray_sum.objective - 11 / 6) <= 1e-6
    np.testing.assert_allclose(ray_sum.phi, [1.0, 5 / 6], rtol=1e-6)
    best = lab.plan(_tractors())
    assert best.converged and best.method == "harmony"
    assert abs(best.objective - (-13 / 72)) <= 1e-6
    np.testing.assert_allclose(best.consumption[:, 0], [10.0, 25 / 3], rtol=1e-6)
    assert abs(best.harmony - best.objective) <= 1e-12


def test_hand_solved_terminal_stocks():
    """With 20 h in year 2 and K₃ ≥ 0.75·K₁ = 15: year 2 must build 10 − I/2 tractors,
    so g₂ ≤ 20 − 3(10 − I/2) = 1.5·I − 10 and, with I = 10 − 10φ/3, φ = 1/3."""
    result = lab.plan(_tractors(available=[[30.0], [20.0]], terminal_stocks=0.75),
                      method="plan-ray")
    assert result.converged
    assert abs(result.objective - 1 / 3) <= 1e-6
    assert result.stocks[2][1, 0] >= 15.0 * (1 - 1e-9)
    np.testing.assert_allclose(result.output[1], [10 / 3, 50 / 9], rtol=1e-5)


def test_terminal_stocks_out_of_reach_are_proven_infeasible():
    # at most 10 tractors can be built in year 2, plus half of at most 20: K₃ ≤ 20 < 40
    with pytest.warns(ConvergenceWarning, match="no plan leaves the terminal stocks"):
        result = lab.plan(_tractors(terminal_stocks=2.0), method="plan-ray")
    assert result.status == lab.PlanStatus.INFEASIBLE and not result.converged
    assert "at most 0.5 of them" in result.message


# ------------------------------------------------------------ references


CASES = [dict(terminal_stocks=None), dict(terminal_stocks=0.8)]
SEEDS = range(3)


def _small(seed, **kwargs):
    return generate_multiyear_problem(30, years=3, seed=seed, mean_inputs=4,
                                      capital_goods=0.2, **kwargs)


def _reference(problem, method):
    if method == "harmony":
        ref = multiyear_harmony_cvxpy(problem)
        return ref, 1e-6 * max(1.0, abs(ref))
    ref, status = multiyear_ray_highs(problem, method)
    assert status == "Optimal"
    return ref, 1e-6 * ref


_certified: dict = {}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_generated_plans_match_highs_and_clarabel(case, method, seed):
    """Every answer brackets the reference optimum (objective ≤ optimum ≤ bound), and a
    certified answer equals it. The primal-dual method does not certify every such
    problem within the iteration limit (terminal stocks with harmony are the hardest
    case); the share that it does is checked below."""
    problem = _small(seed, **CASES[case])
    result = _quiet(problem, method=method, maxiter=150_000)
    ref, tol = _reference(problem, method)
    assert result.infeasibility <= FEASIBILITY_TOL
    assert result.objective <= ref + tol
    assert result.bound >= ref - tol
    if result.converged:
        assert abs(result.objective - ref) <= 2 * tol
    _certified[(case, method, seed)] = result.converged


def test_most_generated_plans_are_certified():
    if len(_certified) < len(CASES) * len(METHODS) * len(SEEDS):
        pytest.skip("needs the whole matrix of test_generated_plans_match_highs_and_clarabel")
    without = [v for (case, _, _), v in _certified.items() if case == 0]
    assert sum(without) >= 0.7 * len(without)          # measured: 7 of 9
    assert sum(_certified.values()) >= 0.5 * len(_certified)   # measured: 11 of 18


def test_every_plan_is_feasible_for_the_model_of_math_4():
    """Recompute every constraint of §4 from the result's own fields."""
    problem = _small(1, terminal_stocks=0.8)
    result = _quiet(problem, maxiter=60_000)
    T = problem.years
    C = problem.capital.toarray()
    delta = problem.depreciation.toarray()
    K = [k.toarray() for k in result.stocks]
    tol = 1e-8
    for y in range(T):
        e = problem.economies[y]
        x = result.output[y]
        invest = result.investment[y].toarray()
        net = x - e.A @ x - invest.sum(axis=1)
        np.testing.assert_allclose(net, result.consumption[y], atol=1e-9 * x.max())
        assert np.all(result.consumption[y] >= -tol * x.max())
        assert np.all(C * x[None, :] <= K[y] + tol * max(K[y].max(), 1.0))
        assert np.all(K[y + 1] <= (1 - delta) * K[y] + invest + tol * max(K[y].max(), 1.0))
        lim = np.isfinite(problem.available[y])
        assert np.all(e.R[lim] @ x <= problem.available[y][lim] * (1 + 1e-9))
    assert np.all(K[T] >= problem.terminal_stocks.toarray() * (1 - 1e-9))
    np.testing.assert_allclose(K[0], problem.initial_stocks.toarray())


# ------------------------------------------------------------ written by hand


def _by_hand(problem):
    """The plan of MATH.md §4 written out with from_techniques, with the service of a
    stock as a product of its own (lab's planner folds it into the make technique):

    products: good (i, y); stock (s, p, y) for y = 1 … T + 1; service (s, p, y)
    techniques: make (p, y) uses A_y[:, p] of the goods and C[s, p] of each service;
                hold (s, p, y) turns a stock into its service and (1 − δ) of the stock
                next year; invest (s, p, y) turns a good s into a stock next year.
    """
    T, m = problem.years, problem.n_products
    s, p = problem.capital_entries
    E = s.size
    C = np.asarray(sp.csr_array(problem.capital)[s, p]).ravel()
    d = np.asarray(sp.csr_array(problem.depreciation)[s, p]).ravel()
    K1 = np.asarray(sp.csr_array(problem.initial_stocks)[s, p]).ravel()
    good = lambda i, y: y * m + i                            # noqa: E731
    stock = lambda e, y: T * m + y * E + e                   # noqa: E731
    service = lambda e, y: T * m + (T + 1) * E + y * E + e   # noqa: E731
    n_products = T * m + (T + 1) * E + T * E
    use, make = [], []                                       # (row, col, value)
    R = np.zeros((problem.n_resources * T, T * m + 2 * T * E))
    j = 0
    for y in range(T):
        A = problem.economies[y].A.toarray()
        for q in range(m):
            make.append((good(q, y), j, 1.0))
            for i in np.flatnonzero(A[:, q]):
                use.append((good(i, y), j, A[i, q]))
            for e in np.flatnonzero(p == q):
                use.append((service(e, y), j, C[e]))
            R[y * problem.n_resources:(y + 1) * problem.n_resources, j] = \
                problem.economies[y].R[:, q]
            j += 1
    for y in range(T):
        for e in range(E):
            use.append((stock(e, y), j, 1.0))
            make.append((service(e, y), j, 1.0))
            if d[e] < 1:
                make.append((stock(e, y + 1), j, 1.0 - d[e]))
            j += 1
    for y in range(T):
        for e in range(E):
            use.append((good(s[e], y), j, 1.0))
            make.append((stock(e, y + 1), j, 1.0))
            j += 1

    def matrix(entries):
        r, c, v = zip(*entries, strict=True)
        return sp.csc_array((v, (r, c)), shape=(n_products, j))

    targets = np.zeros(n_products)
    targets[:T * m] = problem.targets.ravel()
    weights = np.zeros(n_products)
    weights[:T * m] = problem.weights.ravel()
    stocks = np.zeros(n_products)
    stocks[[stock(e, 0) for e in range(E)]] = K1
    return lab.PlanningProblem.from_techniques(
        matrix(use), matrix(make), R, targets, weights=np.where(targets > 0, weights, 0.0),
        available=problem.available.ravel(), initial_stocks=stocks)


@pytest.mark.parametrize("method", ["plan-ray", "harmony"])
def test_the_same_plan_written_by_hand_certifies_and_agrees(method):
    for problem in (_tractors(), _small(1)):
        by_hand = _by_hand(problem)
        written = lab.plan(by_hand, method=method, maxiter=100_000)
        multi = lab.plan(problem, method=method, maxiter=100_000)
        assert written.converged, written.message
        assert multi.converged, multi.message
        scale = max(1.0, abs(multi.objective))
        assert abs(written.objective - multi.objective) <= 2e-6 * scale


# ------------------------------------------------------------ units, determinism


def _rescaled(problem, products=1.0, hours=1.0):
    """The same plan with every product's unit ``1/products`` of before (money) and every
    resource's ``1/hours``: A is unchanged, capital C too (units of s per unit of p),
    labour per unit of output × hours / products."""
    economies = [lab.Economy(e.A, e.R * hours / products, codes=e.codes,
                             resource_names=e.resource_names) for e in problem.economies]
    term = problem.terminal_stocks
    return lab.MultiYearProblem(
        economies, years=problem.years, targets=problem.targets * products,
        available=problem.available * hours, capital=problem.capital,
        depreciation=problem.depreciation, initial_stocks=problem.initial_stocks * products,
        terminal_stocks=None if term is None else term * products,
        weights=problem.weighting)


@pytest.mark.parametrize("method", ["plan-ray", "harmony"])
def test_multiyear_plans_do_not_depend_on_units(method):
    problem = _small(1)  # one that both methods certify
    base = lab.plan(problem, method=method, maxiter=100_000)
    assert base.converged
    for products, hours in ((1e-6, 1.0), (1e6, 1.0), (1.0, 1e-6), (1.0, 1e6)):
        other = lab.plan(_rescaled(problem, products, hours), method=method, maxiter=100_000)
        assert other.converged
        np.testing.assert_allclose(other.output, base.output * products, rtol=1e-9,
                                   atol=1e-9 * base.output.max() * products)
        assert abs(other.objective - base.objective) <= 1e-9 * max(1.0, abs(base.objective))
        assert abs(other.iterations - base.iterations) <= 0.05 * base.iterations


def test_identical_calls_give_identical_plans():
    problem = _small(0)
    a = _quiet(problem, method="plan-ray-sum", maxiter=5_000)
    b = _quiet(problem, method="plan-ray-sum", maxiter=5_000)
    assert a.iterations == b.iterations
    assert np.array_equal(a.output, b.output) and np.array_equal(a.prices, b.prices)


# ------------------------------------------------------------ results and inputs


def test_frame_summary_and_shapes():
    problem = _tractors()
    result = lab.plan(problem, method="plan-ray")
    frame = result.frame()
    assert list(frame.index.names) == ["year", "code"]
    assert frame.loc[(2, "grain"), "fulfilment"] == pytest.approx(6 / 7, rel=1e-6)
    assert np.isnan(frame.loc[(1, "tractor"), "target"])
    assert frame.loc[(1, "tractor"), "investment"] == pytest.approx(50 / 7, rel=1e-5)
    assert result.output.shape == result.consumption.shape == result.prices.shape == (2, 2)
    assert len(result.investment) == 2 and len(result.stocks) == 3
    assert result.investment[0].shape == (2, 2)
    text = repr(result)
    assert "worst-fulfilled targets" in text and "grain@1" in text
    assert "MultiYearProblem(2 years, 2 products, 1 capital entries" in repr(problem)


def test_mapping_inputs_and_per_year_economies():
    economy = lab.Economy(np.zeros((2, 2)), [1.0, 3.0], codes=["grain", "tractor"])
    a = _tractors()
    b = lab.MultiYearProblem(
        [economy, economy], years=2, targets={1: {"grain": 10.0}, 2: {"grain": 10.0}},
        available={"labour": 30.0}, capital=sp.csc_array([[0.0, 0.0], [2.0, 0.0]]),
        depreciation=np.array([0.0, 0.5]), initial_stocks=[[0.0, 0.0], [20.0, 0.0]],
        weights="uniform", year_weights={1: 1.0})
    np.testing.assert_array_equal(a.targets, b.targets)
    np.testing.assert_array_equal(a.available, b.available)
    assert lab.plan(b, method="plan-ray").objective == pytest.approx(6 / 7, rel=1e-6)


def test_value_weights_balance_each_year():
    problem = _tractors(weights="value", targets=[[10.0, 0.0], [20.0, 0.0]])
    w = problem.weights[problem.targets > 0]
    assert abs(w.mean() - 1.0) < 1e-12
    np.testing.assert_allclose(w, [2 / 3, 4 / 3])  # v_grain·t: 10 and 20 hours


@pytest.mark.parametrize("kwargs, match", [
    (dict(years=0), "years must be an integer ≥ 1"),
    (dict(targets=[[10.0, 0.0]]), "targets must have shape"),
    (dict(targets={3: {"grain": 1.0}}), "names year 3; years are 1 … 2"),
    (dict(targets={1: {"bread": 1.0}}), "unknown products: 'bread'"),
    (dict(targets={1: {"grain": np.int64(0)}}), "targets must be > 0"),
    (dict(targets=np.zeros((2, 2))), "at least one product"),
    (dict(available={"land": 3.0}), "unknown resource 'land'"),
    (dict(available={"labour": [1.0, 2.0, 3.0]}), "one amount ≥ 0 or 2 of them"),
    (dict(depreciation=1.5), "depreciation must be in \\[0, 1\\]"),
    (dict(depreciation=[0.1, -0.1]), "depreciation must be in \\[0, 1\\]"),
    (dict(capital=[[0.0, 0.0], [-2.0, 0.0]]), "capital"),
    (dict(initial_stocks=[[5.0, 0.0], [20.0, 0.0]]), "needs none of it"),
    (dict(terminal_stocks=-1.0), "terminal_stocks"),
    (dict(year_weights=[1.0]), "year_weights must be 2"),
    (dict(weights="equal"), "weights must be one of"),
])
def test_bad_inputs_name_the_argument(kwargs, match):
    with pytest.raises(InvalidProblemError, match=match):
        _tractors(**kwargs)


def test_wrong_types_and_economies():
    with pytest.raises(lab.InvalidTypeError, match="economy must be a lab.Economy"):
        lab.MultiYearProblem(np.eye(2), years=1, targets=[[1.0, 0.0]])
    other = lab.Economy(np.zeros((2, 2)), [1.0, 3.0], codes=["grain", "steel"])
    economy = lab.Economy(np.zeros((2, 2)), [1.0, 3.0], codes=["grain", "tractor"])
    with pytest.raises(InvalidProblemError, match="year 2 has other products"):
        lab.MultiYearProblem([economy, other], years=2, targets=np.ones((2, 2)))
    with pytest.raises(InvalidProblemError, match="cockshott"):
        lab.plan(_tractors(), method="cockshott")
    series = pd.Series([10.0, 10.0], index=["grain", "grain"])
    with pytest.raises(InvalidProblemError, match="more than once"):
        _tractors(targets={1: series})
