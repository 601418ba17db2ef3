"""Plans: validation, hand-solved examples, HiGHS and Clarabel references, certificates."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from _plan_reference import harmony_cvxpy, plan_ray_highs

import lab
from lab.exceptions import ConvergenceWarning, InvalidProblemError, NotConvergedError
from lab.generate import generate_planning_problem
from lab.planning import _harmony
from lab.planning._certificate import FEASIBILITY_TOL

pytest.importorskip("highspy")

BACKENDS = [b for b in ("cython", "numba") if b in lab._ops.available_backends()]


def _feasible(result, tol=FEASIBILITY_TOL):
    p = result.problem
    x, n = result.x, result.net_output
    gross = p.initial_stocks + (x if p.B is None else p.B @ x) + p.A @ x
    assert np.all(x >= 0)
    assert np.all(x <= p.capacities * (1 + tol))
    # a shortage is measured against the product's gross flow, but at least a
    # millionth of the plan's largest flow (lab's documented feasibility rule)
    assert np.all(n >= -tol * np.maximum(gross, 1e-6 * gross.max()))
    lim = np.isfinite(p.available)
    assert np.all(p.R[lim] @ x <= p.available[lim] * (1 + tol))
    np.testing.assert_allclose(n, p.initial_stocks + p.net_matrix() @ x, rtol=1e-12,
                               atol=1e-12 * max(1.0, float(np.abs(n).max())))


def _complementary_slackness(result):
    """Each complementary-slackness product is non-negative and bounded by the gap.

    For prices (p, λ, μ) and a feasible plan, the duality gap is the sum of
    λ_q·(ρ_q − R_q x), μ_j·(c_j − x_j), p_i·n_i (products without a target), the
    reduced losses of running techniques and the conjugate terms of the
    targets: every one of them is ≥ 0, so each is at most the gap.
    """
    p = result.problem
    # a shortage within the feasibility tolerance (1e-9 of a product's gross flow)
    # shows up as p_i·n_i slightly below 0
    gross = p.initial_stocks + (result.x if p.B is None else p.B @ result.x) + p.A @ result.x
    allowance = FEASIBILITY_TOL * float(np.max(result.prices * gross, initial=0.0))
    slack = max(result.gap, 0.0) * 1.01 + 1e-9 * max(1.0, abs(result.objective)) + allowance
    lim = np.isfinite(p.available)
    terms = [result.resource_prices[lim] * (p.available[lim] - result.resource_use[lim])]
    capped = np.isfinite(p.capacities)
    terms.append(result.capacity_prices[capped] * (p.capacities[capped] - result.x[capped]))
    no_target = p.targets == 0
    terms.append(result.prices[no_target] * result.net_output[no_target])
    for term in terms:
        assert np.all(term >= -slack)
        assert np.all(term <= slack)
    assert np.all(result.resource_prices >= 0) and np.all(result.prices >= 0)
    assert np.all(result.capacity_prices >= 0)


# ---------------------------------------------------------------- validation


def _square():
    A = np.array([[0.0, 0.2], [0.5, 0.0]])
    return lab.Economy(A, [1.0, 2.0], codes=["corn", "iron"])


@pytest.mark.parametrize("kwargs, match", [
    (dict(targets={"steel": 1.0}), "unknown products: 'steel'"),
    (dict(targets={"corn": 0.0}), "targets must be > 0"),
    (dict(targets={"corn": -1.0}), "targets must be"),
    (dict(targets={"corn": float("nan")}), "targets must be"),
    (dict(targets={}), "at least one product"),
    (dict(targets=[1.0, 2.0, 3.0]), "one entry per product"),
    (dict(targets={"corn": 1.0}, capacities={"corn": -1.0}), "capacities must be ≥ 0"),
    (dict(targets={"corn": 1.0}, capacities={"plough": 1.0}), "unknown techniques: 'plough'"),
    (dict(targets={"corn": 1.0}, available={"land": 1.0}), "unknown resources: 'land'"),
    (dict(targets={"corn": 1.0}, available=[1.0, 2.0]), "one entry per resource"),
    (dict(targets={"corn": 1.0}, initial_stocks={"iron": np.inf}), "initial_stocks must be"),
    (dict(targets={"corn": 1.0}, weights={"iron": 2.0}), "'iron', which has no target"),
    (dict(targets={"corn": "ten"}), "must be a number"),
])
def test_problem_errors_name_the_argument(kwargs, match):
    targets = kwargs.pop("targets")
    with pytest.raises(InvalidProblemError, match=match):
        lab.PlanningProblem(_square(), targets, **kwargs)


def test_problem_from_techniques_errors():
    ok = dict(use=np.zeros((2, 2)), make=np.eye(2), resources=[[1.0, 1.0]],
              targets={"P0": 1.0})
    lab.PlanningProblem.from_techniques(**ok)
    with pytest.raises(InvalidProblemError, match="make nothing.*'T1'"):
        lab.PlanningProblem.from_techniques(**{**ok, "make": [[1.0, 0.0], [0.0, 0.0]]})
    with pytest.raises(InvalidProblemError, match="one column per technique"):
        lab.PlanningProblem.from_techniques(**{**ok, "resources": [[1.0, 1.0, 1.0]]})
    with pytest.raises(InvalidProblemError, match="use"):
        lab.PlanningProblem.from_techniques(**{**ok, "use": -np.ones((2, 2))})
    with pytest.raises(InvalidProblemError, match="use"):
        lab.PlanningProblem.from_techniques(**{**ok, "use": np.zeros((3, 2))})
    with pytest.raises(InvalidProblemError, match="resources must be finite"):
        lab.PlanningProblem.from_techniques(**{**ok, "resources": [[1.0, np.nan]]})
    with pytest.raises(InvalidProblemError, match="technique_codes"):
        lab.PlanningProblem.from_techniques(**ok, technique_codes=["a", "a"])
    with pytest.raises(TypeError, match="lab.Economy"):
        lab.PlanningProblem(np.eye(2), {"P0": 1.0})


def test_problem_is_immutable_and_inputs_untouched():
    targets = np.array([1.0, 0.0])
    caps = np.array([np.inf, 5.0])
    problem = lab.PlanningProblem(_square(), targets, capacities=caps, available=[3.0])
    targets[0] = 7.0
    assert problem.targets[0] == 1.0
    with pytest.raises(AttributeError):
        problem.targets = targets
    with pytest.raises(ValueError):
        problem.targets[0] = 2.0
    lab.plan(problem)
    assert caps[1] == 5.0


def test_options_errors():
    problem = lab.PlanningProblem(_square(), {"corn": 1.0}, available=[3.0])
    with pytest.raises(ValueError, match="method"):
        lab.plan(problem, method="simplex")
    with pytest.raises(ValueError, match="gap"):
        lab.plan(problem, gap=0)
    with pytest.raises(ValueError, match="maxiter"):
        lab.plan(problem, maxiter=0)
    with pytest.raises(ValueError, match="decoupled"):
        lab.plan(lab.PlanningProblem(_square(), {"corn": 1.0}, available=[3.0],
                                     initial_stocks=[1.0, 0.0]), solver="decoupled")
    with pytest.raises(TypeError, match="PlanningProblem"):
        lab.plan(_square())
    with pytest.raises(ValueError, match="cockshott option temperature"):
        lab.CockshottOptions(temperature=-1.0)


# ---------------------------------------------------------------- the harmony function


def test_harmony_function_published_properties():
    assert _harmony.harmony(np.array([0.0]))[0] == 0.0
    assert _harmony.harmony(np.array([-1.0]))[0] == -1.5
    eps = 1e-6
    d = (_harmony.harmony(np.array([eps])) - _harmony.harmony(np.array([-eps]))) / (2 * eps)
    assert abs(d[0] - 1.0) < 1e-9
    np.testing.assert_allclose(_harmony.harmony(np.array([1.0, -0.5])), [np.log(2), -0.625])


def test_harmony_prox_and_conjugate_against_scalar_minimisation():
    from scipy.optimize import minimize_scalar

    rng = np.random.default_rng(0)
    for _ in range(200):
        t, w, sigma = rng.lognormal(size=3)
        b = rng.normal(scale=3 * t)

        def f(n, t=t, w=w, sigma=sigma, b=b):
            return -w * _harmony.harmony(np.array([(n - t) / t]))[0] + 0.5 * sigma * (n - b) ** 2

        got = _harmony.prox(np.array([b]), np.array([t]), np.array([w]), sigma)[0]
        ref = minimize_scalar(f, bounds=(0, 10 * (abs(b) + t + w / sigma)), method="bounded",
                              options={"xatol": 1e-12})
        assert f(got) <= ref.fun + 1e-9
        price = rng.lognormal()
        conj = _harmony.conjugate(np.array([price]), np.array([t]), np.array([w]))[0]
        g = minimize_scalar(lambda n, t=t, w=w, price=price: -(w * _harmony.harmony(
            np.array([(n - t) / t]))[0] - price * n), bounds=(0, 10 * (t + w / price)),
            method="bounded", options={"xatol": 1e-12})
        assert abs(conj - (-g.fun)) <= 1e-8 * max(1, abs(conj))


# ---------------------------------------------------------------- hand-solved examples


def _corn_straw(capacity=np.inf):
    """Corn by hand (1 h → 1 corn) or by tractor (3 h → 2 corn + 1 straw); 6 h; target 4 corn."""
    return lab.PlanningProblem.from_techniques(
        use=np.zeros((2, 2)), make=[[1.0, 2.0], [0.0, 1.0]], resources=[[1.0, 3.0]],
        targets={"corn": 4.0}, product_codes=["corn", "straw"],
        technique_codes=["hand", "tractor"], available={"labour": 6.0},
        capacities={"hand": capacity})


@pytest.mark.parametrize("backend", BACKENDS)
def test_technique_choice_by_hand(backend):
    # Without a capacity the hand technique wins (1 corn per hour against 2/3):
    # x = (6, 0), φ = 6/4, corn price 1/4 = labour price.
    ray = lab.plan(_corn_straw(), method="plan-ray", backend=backend)
    assert ray.status == lab.PlanStatus.OPTIMAL
    np.testing.assert_allclose(ray.x, [6.0, 0.0], atol=6e-6)  # certified to gap 1e-6
    assert abs(ray.objective - 1.5) < 1e-6
    np.testing.assert_allclose(ray.resource_prices, [0.25], rtol=1e-4)
    # With the hand technique capped at 3: 3 h by hand, 3 h → 1 tractor: corn 5, φ = 5/4;
    # the tractor is at the margin: 2·p_corn = 3·λ with p_corn = 1/4, so λ = 1/6 and
    # the capacity earns p_corn − λ = 1/12 per unit.
    capped = lab.plan(_corn_straw(3.0), method="plan-ray", backend=backend)
    np.testing.assert_allclose(capped.x, [3.0, 1.0], rtol=1e-6)
    assert abs(capped.objective - 1.25) < 1e-6
    np.testing.assert_allclose(capped.resource_prices, [1 / 6], rtol=1e-4)
    np.testing.assert_allclose(capped.capacity_prices, [1 / 12, 0.0], atol=1e-5)
    np.testing.assert_allclose(capped.prices[0], 0.25, rtol=1e-4)
    # harmony with one target maximises corn: the same plans, H = ln(n/4)
    for cap, corn in ((np.inf, 6.0), (3.0, 5.0)):
        h = lab.plan(_corn_straw(cap), backend=backend)
        assert h.converged
        assert abs(h.net_output[0] - corn) < 1e-5 * corn
        assert abs(h.harmony - np.log(corn / 4.0)) < 1e-6


def test_plan_ray_closed_form_from_lab_labour_values():
    economy = lab.generate_economy(300, seed=5, spectral_radius=0.8)
    rng = np.random.default_rng(1)
    t = np.where(rng.random(300) < 0.3, rng.lognormal(size=300), 0.0)
    L = 1234.5
    problem = lab.PlanningProblem(economy, t, available={"labour": L})
    v = lab.labour_values(economy).values
    phi = L / float(v @ t)
    dense = np.linalg.solve(np.eye(300) - economy.A.toarray(), phi * t)
    for solver in ("decoupled", "pdhg"):
        result = lab.plan(problem, method="plan-ray", solver=solver, maxiter=50_000)
        assert result.converged, result.message
        assert abs(result.objective - phi) <= 1e-6 * phi
        np.testing.assert_allclose(result.x, dense, rtol=1e-4, atol=1e-6 * dense.max())
        # the labour price prices every product the plan makes at its labour value
        # (a product the plan does not need may have any price up to that)
        made = dense > 1e-4 * dense.max()  # a price matters in proportion to the quantity
        ratio = result.prices / result.resource_prices[0]
        np.testing.assert_allclose(ratio[made], v[made], rtol=1e-3)
        assert np.all(ratio <= v * (1 + 1e-3))


def test_decoupled_harmony_satisfies_its_optimality_condition():
    problem = generate_planning_problem(400, seed=2, limit_resources=2)
    result = lab.plan(problem)
    assert result.solver == "decoupled" and result.converged
    idx = problem.target_index
    n, t = result.net_output[idx], problem.targets[idx]
    # stationarity: dH/dn = price where the target product is made, ≤ price where not
    made = n > 1e-9 * t
    assert made.sum() > idx.size // 2
    w = problem.weights[idx]
    np.testing.assert_allclose((w * _harmony.marginal(n, t))[made], result.prices[idx][made],
                               rtol=1e-6)
    assert np.all((w * _harmony.marginal(n, t))[~made] <= result.prices[idx][~made] * (1 + 1e-9))
    _feasible(result)


# ---------------------------------------------------------------- references

CASES = [dict(capacities=0.3), dict(alternatives=0.4, capacities=0.2),
         dict(alternatives=0.4, joint=0.5, capacities=0.2), dict()]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("case", range(len(CASES)))
def test_plan_ray_matches_highs(case, seed):
    problem = generate_planning_problem(30, seed=seed, mean_inputs=4, **CASES[case])
    ref, _, status = plan_ray_highs(problem)
    assert status == "Optimal"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = lab.plan(problem, method="plan-ray", solver="pdhg", maxiter=40_000)
    _feasible(result)
    # the certificate brackets the optimum whether or not it reached the tolerance
    assert result.objective <= ref * (1 + 1e-9) + 1e-12
    assert result.bound >= ref * (1 - 1e-9) - 1e-12
    assert result.converged, result.message
    assert abs(result.objective - ref) <= 1e-6 * ref
    _complementary_slackness(result)


@pytest.mark.parametrize("solver", ["simplex", "ipm"])
def test_plan_ray_medium_matches_highs(solver):
    problem = generate_planning_problem(1500, seed=11, capacities=0.2)
    ref, _, status = plan_ray_highs(problem, solver)
    assert status == "Optimal"
    result = lab.plan(problem, method="plan-ray", solver="pdhg", maxiter=100_000)
    assert result.converged, result.message
    assert abs(result.objective - ref) <= 1e-6 * ref
    _feasible(result)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("case", range(len(CASES)))
def test_plan_ray_by_highs_is_certified_by_lab(case, seed):
    """Binding capacities with technique choice, joint production: auto asks HiGHS
    (lab.planning._lp) and lab's own certificate proves its plan; square problems with
    capacities and without take the closed form (lab.planning._exact). The optimum agrees
    with HiGHS's interior point method on the reference model and with lab's
    primal-dual route."""
    problem = generate_planning_problem(60, seed=seed, mean_inputs=4, **CASES[case])
    ref, _, status = plan_ray_highs(problem, "ipm")
    assert status == "Optimal"
    result = lab.plan(problem, method="plan-ray")
    expected = "decoupled" if case in (0, len(CASES) - 1) else "highs"
    assert result.solver == expected, result.method_reason
    assert result.converged and result.relative_gap <= 1e-6, result.message
    assert abs(result.objective - ref) <= 1e-6 * ref
    _feasible(result)
    _complementary_slackness(result)
    forced = lab.plan(problem, method="plan-ray", solver="highs")
    assert forced.solver == "highs" and forced.objective == pytest.approx(result.objective,
                                                                           rel=1e-6)
    # a starting plan is certified beside HiGHS's: the better one comes back
    again = lab.plan(problem, method="plan-ray", x0=result.x)
    assert again.solver == expected and again.objective >= result.objective
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pdhg = lab.plan(problem, method="plan-ray", solver="pdhg", maxiter=40_000)
    assert abs(pdhg.objective - result.objective) <= 2e-6 * ref


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("case", range(len(CASES) - 1))
def test_harmony_by_highs_tangents_matches_clarabel(case, seed):
    """Binding capacities with technique choice, joint production: auto solves harmony by
    LPs of tangents (HiGHS), certified by lab; square problems with capacities price the
    capacities the plan would exceed like resources (lab.planning._exact). Both agree
    with Clarabel; lab's primal-dual route's certificate brackets the same optimum."""
    pytest.importorskip("cvxpy")
    pytest.importorskip("highspy")
    problem = generate_planning_problem(60, seed=seed, mean_inputs=4, **CASES[case])
    ref, _ = harmony_cvxpy(problem)
    result = lab.plan(problem, method="harmony")
    assert result.solver == ("decoupled" if case == 0 else "highs"), result.method_reason
    assert result.converged and result.relative_gap <= 1e-6, result.message
    assert result.objective == pytest.approx(ref, rel=1e-6, abs=1e-6)
    _feasible(result)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pdhg = lab.plan(problem, method="harmony", solver="pdhg", maxiter=20_000)
    # the two routes' certificates bracket one optimum (PDHG may stop short of 1e-6; its
    # plans meet the constraints to the certificate's tolerance, 1e-9 of the gross flows,
    # so they may exceed an exact optimum by that order: 6e-9 on case 0, seed 0)
    tol = 1e-8 * max(1.0, abs(ref))
    assert pdhg.objective <= result.bound + tol and result.objective <= pdhg.bound + tol


def test_auto_keeps_pdhg_above_the_size_for_highs(monkeypatch):
    from lab.planning import _lp

    problem = generate_planning_problem(30, seed=0, mean_inputs=4, **CASES[2])
    monkeypatch.setattr(_lp, "AUTO_MAX_TECHNIQUES", 10)
    monkeypatch.setattr(_lp, "AUTO_MAX_HARMONY", 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert lab.plan(problem, method="harmony", maxiter=100).solver == "pdhg"
        assert lab.plan(problem, method="plan-ray", maxiter=100).solver == "pdhg"


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("case", range(len(CASES)))
def test_harmony_matches_clarabel(case, seed):
    pytest.importorskip("cvxpy")
    problem = generate_planning_problem(30, seed=seed, mean_inputs=4, **CASES[case])
    ref, _ = harmony_cvxpy(problem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = lab.plan(problem, method="harmony", maxiter=30_000)
    _feasible(result)
    tol = 1e-6 * max(1.0, abs(ref))
    assert result.objective <= ref + tol
    assert result.bound >= ref - tol
    if result.converged:
        assert abs(result.objective - ref) <= 2e-6 * max(1.0, abs(ref))
        _complementary_slackness(result)


def test_most_small_harmony_problems_are_certified():
    certified = 0
    for seed in range(6):
        problem = generate_planning_problem(30, seed=seed, mean_inputs=4, capacities=0.3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            certified += lab.plan(problem, maxiter=60_000).converged
    assert certified >= 5


@pytest.mark.parametrize("backend", BACKENDS)
def test_backends_agree(backend):
    problem = generate_planning_problem(40, seed=3, mean_inputs=4, alternatives=0.3,
                                        capacities=0.2)
    ref, _, _ = plan_ray_highs(problem)
    result = lab.plan(problem, method="plan-ray", backend=backend, maxiter=40_000)
    assert result.backend == backend
    assert abs(result.objective - ref) <= 1e-6 * ref


# ---------------------------------------------------------------- statuses


def test_unbounded_problem_has_a_status_not_an_exception():
    problem = lab.PlanningProblem(_square(), {"corn": 1.0})  # nothing is limited
    for method in ("harmony", "plan-ray"):
        for solver in ("auto", "pdhg"):
            with pytest.warns(ConvergenceWarning, match="unbounded"):
                result = lab.plan(problem, method=method, solver=solver)
            assert result.status == lab.PlanStatus.UNBOUNDED
            assert not result.converged
            assert np.all(np.isfinite(result.x))


def test_target_nobody_can_make_is_degenerate_not_an_error():
    problem = lab.PlanningProblem.from_techniques(
        use=np.zeros((2, 1)), make=[[1.0], [0.0]], resources=[[1.0]],
        targets={"P0": 1.0, "P1": 1.0}, available={"labour": 2.0})
    ray = lab.plan(problem, method="plan-ray")
    assert ray.converged and ray.objective == 0.0 and ray.min_fulfilment == 0.0
    best = lab.plan(problem)
    assert best.converged
    np.testing.assert_allclose(best.net_output, [2.0, 0.0], rtol=1e-6)


def test_initial_stocks_count():
    problem = lab.PlanningProblem(_square(), {"corn": 10.0}, available=[0.0],
                                  initial_stocks={"corn": 5.0})
    result = lab.plan(problem, method="plan-ray")
    assert result.converged
    assert abs(result.objective - 0.5) < 1e-6


def test_maxiter_warns_and_raise_on_failure():
    problem = generate_planning_problem(40, seed=1, mean_inputs=4, capacities=0.3)
    with pytest.warns(ConvergenceWarning, match="not certified"):
        result = lab.plan(problem, maxiter=3, check_every=1, solver="pdhg")
    assert result.status == lab.PlanStatus.MAXITER and not result.converged
    _feasible(result)
    with pytest.raises(NotConvergedError) as info:
        lab.plan(problem, maxiter=3, raise_on_failure=True, solver="pdhg")
    assert info.value.result.status == lab.PlanStatus.MAXITER


def test_callback_can_stop_and_warm_start_is_accepted():
    problem = generate_planning_problem(40, seed=1, mean_inputs=4, capacities=0.3)
    seen = []
    with pytest.warns(ConvergenceWarning):
        stopped = lab.plan(problem, callback=lambda k, r: seen.append(k) or False,
                           solver="pdhg")
    assert stopped.status == lab.PlanStatus.INTERRUPTED and seen
    full = lab.plan(problem, maxiter=60_000, solver="pdhg")
    again = lab.plan(problem, maxiter=60_000, solver="pdhg", x0=full.x)
    assert again.converged
    assert abs(again.objective - full.objective) <= 2e-6 * max(1, abs(full.objective))
    with pytest.raises(ValueError, match="x0 must have one entry per technique"):
        lab.plan(problem, solver="pdhg", x0=np.ones(3))


def test_frames_are_keyed_by_codes():
    result = lab.plan(_corn_straw(3.0), method="plan-ray")
    assert list(result.products_frame().index) == ["corn", "straw"]
    assert result.techniques_frame().loc["hand", "capacity_use"] == pytest.approx(1.0)
    assert result.resources_frame().loc["labour", "use"] == pytest.approx(6.0)


# ---------------------------------------------------------------- Cockshott


def test_cockshott_stops_short_where_harmony_does_not():
    # Technique choice with joint production: Cockshott's heuristic balances by
    # multiplicative nudges and ends below the certified optimum.
    problem = _corn_straw()
    cock = lab.plan(problem, method="cockshott")
    best = lab.plan(problem)
    assert cock.status == lab.PlanStatus.HEURISTIC and not cock.converged
    assert np.isinf(cock.relative_gap)
    _feasible(cock)
    assert best.converged
    assert cock.harmony < best.harmony - 1e-3
    assert cock.min_fulfilment < best.min_fulfilment


def test_cockshott_on_generated_economy_is_feasible_and_below_the_optimum():
    problem = generate_planning_problem(200, seed=4)
    cock = lab.plan(problem, method="cockshott")
    best = lab.plan(problem)
    _feasible(cock)
    assert cock.iterations == 100
    assert cock.harmony <= best.bound + 1e-9
    assert cock.harmony < best.harmony


def test_cockshott_rescaling_aims_at_the_capacity_target():
    problem = generate_planning_problem(100, seed=4)
    opts = lab.CockshottOptions(rounds=0)
    result = lab.plan(problem, method="cockshott", cockshott=opts)
    lim = np.isfinite(problem.available)
    # 0 rounds: all intensities equal, scaled to 98 % of the scarcest resource
    # (then shrunk where a product ran short)
    use = result.resource_use[lim] / problem.available[lim]
    assert use.max() <= 0.98 + 1e-12
    assert use.max() > 0.5
    assert result.history.shape == (0, 2)


def test_cockshott_constants_are_options():
    problem = generate_planning_problem(100, seed=4)
    a = lab.plan(problem, method="cockshott", cockshott=lab.CockshottOptions(rounds=5))
    b = lab.plan(problem, method="cockshott",
                 cockshott=lab.CockshottOptions(rounds=5, temperature=0.1))
    assert a.iterations == 5 and not np.allclose(a.x, b.x)


def test_sparse_and_dense_techniques_agree():
    use = sp.random(20, 30, density=0.1, random_state=1, format="csc") * 0.1
    make = sp.hstack([sp.identity(20), sp.identity(20, format="csc")[:, :10]], format="csc")
    problem_s = lab.PlanningProblem.from_techniques(use, make, np.ones(30), {"P0": 1.0},
                                                    available=[10.0])
    problem_d = lab.PlanningProblem.from_techniques(use.toarray(), make.toarray(),
                                                    np.ones(30), {"P0": 1.0}, available=[10.0])
    a = lab.plan(problem_s, method="plan-ray")
    b = lab.plan(problem_d, method="plan-ray")
    assert a.converged and b.converged
    assert abs(a.objective - b.objective) <= 1e-6 * a.objective


# ---------------------------------------------------------------- real tables


@pytest.mark.parametrize("name", ["uk-2010", "usa-2014-wiod", "sweden-2016", "germany-1995"])
def test_real_tables_exact_and_primal_dual_agree(name):
    economy = lab.datasets.load(name)
    v = lab.labour_values(economy).values
    t = np.random.default_rng(0).uniform(0.5, 1.5, economy.n_products)
    problem = lab.PlanningProblem(economy, t,
                                  available={economy.resource_names[0]: 0.8 * float(v @ t)})
    ref, _, _ = plan_ray_highs(problem)
    for method in ("plan-ray", "harmony"):
        exact = lab.plan(problem, method=method)
        general = lab.plan(problem, method=method, solver="pdhg", maxiter=50_000)
        assert exact.solver == "decoupled" and exact.converged and general.converged
        assert abs(exact.objective - general.objective) <= 2e-6 * max(1, abs(exact.objective))
        _feasible(exact)
        _feasible(general)
        if method == "plan-ray":  # labour at 80 % of the need: φ = 0.8 exactly
            assert abs(exact.objective - 0.8) < 1e-9 and abs(ref - 0.8) < 1e-7
    cock = lab.plan(problem, method="cockshott")
    _feasible(cock)
    assert cock.harmony < lab.plan(problem).harmony


def test_zero_weights_and_int64_indices_and_nonproductive():
    economy = lab.generate_economy(200, seed=1, index_dtype=np.int64)
    t = np.where(np.arange(200) % 3 == 0, 1.0, 0.0)
    problem = lab.PlanningProblem(economy, t, weights=np.zeros(200), available={"labour": 50})
    for solver in ("auto", "pdhg"):
        result = lab.plan(problem, solver=solver)
        assert result.converged and result.objective == 0.0
    weighted = lab.PlanningProblem(economy, t, available={"labour": 50})
    exact, general = lab.plan(weighted), lab.plan(weighted, solver="pdhg", maxiter=100_000)
    assert abs(exact.objective - general.objective) <= 2e-6 * abs(exact.objective)
    # a non-productive economy: the exact route says so, naming the products
    bad = lab.Economy(np.array([[0.5, 0.6], [0.6, 0.5]]), [1.0, 1.0])
    with pytest.raises(lab.NotProductiveError):
        lab.plan(lab.PlanningProblem(bad, {"P0": 1.0}, available=[10.0]))
