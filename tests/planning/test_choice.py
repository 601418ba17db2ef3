"""The exact route for technique choice without capacities (lab.planning._choice).

References: HiGHS (plan-ray LP) and Clarabel (harmony) on the whole problem; brute force
over every choice of techniques on tiny economies (dense inverses, and for several
resources the LP over the policies' resource vectors, by scipy); hand-solved mixes.
"""

from __future__ import annotations

import itertools
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize as so

import lab
from lab.exceptions import ConvergenceWarning, InvalidOptionError
from lab.generate import generate_planning_problem

sys.path.insert(0, str(Path(__file__).parent))
from _plan_reference import harmony_cvxpy, plan_ray_highs, with_bottlenecks  # noqa: E402

pytest.importorskip("highspy")

EXACT = "exact through the cheapest techniques"


def _choice_problem(n, seed, resources, **kw):
    return generate_planning_problem(n, seed=seed, alternatives=1.0,
                                     limit_resources=resources, **kw)


@pytest.mark.parametrize("resources", [1, 3])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_plan_ray_against_highs(seed, resources):
    problem = _choice_problem(150, seed, resources)
    result = lab.plan(problem, method="plan-ray")
    assert result.solver == "decoupled" and EXACT in result.method_reason
    assert result.status == lab.PlanStatus.OPTIMAL
    assert result.relative_gap <= 1e-6 and result.infeasibility <= 1e-9
    phi, _, status = plan_ray_highs(problem, "simplex")
    assert status == "Optimal"
    assert result.objective == pytest.approx(phi, rel=1e-7)
    assert result.bound >= phi * (1 - 1e-7)  # HiGHS meets its constraints to 1e-7


@pytest.mark.parametrize("resources", [1, 3])
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("stabilised", [False, True], ids=["kelley", "stabilised"])
def test_harmony_against_clarabel(seed, resources, stabilised, monkeypatch):
    # the cutting planes are stabilised from SMOOTH_FROM products on; here at any size
    if stabilised:
        monkeypatch.setattr("lab.planning._choice.SMOOTH_FROM", 0)
    problem = _choice_problem(80, seed, resources)
    result = lab.plan(problem, method="harmony")
    assert result.solver == "decoupled" and EXACT in result.method_reason
    assert result.status == lab.PlanStatus.OPTIMAL and result.relative_gap <= 1e-6
    reference, _ = harmony_cvxpy(problem)
    assert result.objective == pytest.approx(reference, rel=1e-6, abs=1e-6)
    # the certificate's bound is a bound on the reference too
    assert result.bound >= reference - 1e-6 * max(1.0, abs(reference))


def _tiny(seed, m=3, per=2, resources=1):
    """m products, ``per`` techniques each, dense random use and resource coefficients."""
    rng = np.random.default_rng(seed)
    k = m * per
    A = rng.uniform(0.0, 0.25, (m, k)) * (rng.random((m, k)) < 0.7)
    B = np.zeros((m, k))
    B[np.repeat(np.arange(m), per), np.arange(k)] = rng.uniform(0.8, 1.2, k)
    R = rng.uniform(0.2, 2.0, (resources, k))
    t = rng.uniform(0.5, 2.0, m)
    avail = dict(zip(["labour", "R1", "R2"][:resources], rng.uniform(5.0, 10.0, resources),
                     strict=True))
    problem = lab.PlanningProblem.from_techniques(
        A, B, R, t, resource_names=["labour", "R1", "R2"][:resources], available=avail)
    return problem, A, B, R, t, np.array(list(avail.values())), per


def _policies(m, per):
    return [np.array([p * per + c for p, c in enumerate(choice)])
            for choice in itertools.product(range(per), repeat=m)]


def _usage(A, B, R, t, policy):
    """Resource use of making net output t with one technique per product (dense)."""
    m = t.size
    beta = B[np.arange(m), policy]
    A_pi = A[:, policy] / beta
    x = np.linalg.solve(np.eye(m) - A_pi, t)
    assert np.all(x >= 0)
    return R[:, policy] / beta @ x, x / beta


@pytest.mark.parametrize("seed", range(6))
def test_plan_ray_brute_force_one_resource(seed):
    problem, A, B, R, t, rho, per = _tiny(seed)
    phis = []
    for policy in _policies(t.size, per):
        use, _ = _usage(A, B, R, t, policy)
        phis.append(rho[0] / use[0])
    result = lab.plan(problem, method="plan-ray")
    assert result.solver == "decoupled" and result.converged
    assert result.objective == pytest.approx(max(phis), rel=1e-10)
    # the plan runs the techniques of the best policy only
    best = _policies(t.size, per)[int(np.argmax(phis))]
    assert set(np.flatnonzero(result.x > 0)) <= set(best.tolist())


@pytest.mark.parametrize("seed", range(6))
def test_plan_ray_brute_force_several_resources(seed):
    """With r binding resources the optimum mixes policies: max Σμ s.t. Σ μ_π u_π ≤ ρ
    over every policy π (scipy's LP on the enumerated usage vectors)."""
    problem, A, B, R, t, rho, per = _tiny(seed, m=3, per=2, resources=3)
    U = np.array([_usage(A, B, R, t, pol)[0] for pol in _policies(t.size, per)])
    lp = so.linprog(-np.ones(len(U)), A_ub=U.T, b_ub=rho, bounds=(0, None), method="highs")
    result = lab.plan(problem, method="plan-ray")
    assert result.solver == "decoupled" and result.converged
    assert result.objective == pytest.approx(-lp.fun, rel=1e-9)


def test_mix_of_two_techniques_hand_solved():
    """One product, two techniques: (2 h, 1 kWh) and (1 h, 2 kWh), 3 h and 3 kWh.
    Either alone makes 1.5; half of each makes 2, the optimum, which no single
    technique choice gives (the non-substitution theorem needs one resource)."""
    problem = lab.PlanningProblem.from_techniques(
        np.zeros((1, 2)), [[1.0, 1.0]], [[2.0, 1.0], [1.0, 2.0]], [1.0],
        resource_names=["labour", "energy"], available={"labour": 3.0, "energy": 3.0})
    result = lab.plan(problem, method="plan-ray")
    assert result.solver == "decoupled" and result.converged
    assert result.objective == pytest.approx(2.0, rel=1e-12)
    np.testing.assert_allclose(result.x, [1.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(result.resource_prices, [1 / 3, 1 / 3], rtol=1e-9)
    harmony = lab.plan(problem, method="harmony")
    assert harmony.converged and harmony.solver == "decoupled"
    np.testing.assert_allclose(harmony.net_output, [2.0], rtol=1e-9)  # ln(1 + s): all of it


@pytest.mark.parametrize("seed", [1, 2])
def test_non_substitution_one_resource(seed):
    """With labour alone the cheapest techniques (lab.labour_values) make every target
    vector: the techniques in use do not change with the targets."""
    problem = _choice_problem(200, seed, 1)
    values = lab.labour_values(problem)
    chosen = set(values.techniques.tolist())
    rng = np.random.default_rng(seed)
    for _ in range(3):
        t = np.where(rng.random(problem.n_products) < 0.3,
                     rng.lognormal(0.0, 1.0, problem.n_products), 0.0)
        t[0] = 1.0
        other = lab.PlanningProblem.from_techniques(
            problem.A, problem.B, problem.R, t, product_codes=problem.product_codes,
            technique_codes=problem.technique_codes, resource_names=problem.resource_names,
            available=dict(zip(problem.resource_names, problem.available, strict=True)))
        for method in ("plan-ray", "harmony"):
            result = lab.plan(other, method=method)
            assert result.converged and result.solver == "decoupled"
            assert set(np.flatnonzero(result.x > 0).tolist()) <= chosen
            phi, _, _ = plan_ray_highs(other, "simplex") if method == "plan-ray" \
                else (None, None, None)
            if phi is not None:
                assert result.objective == pytest.approx(phi, rel=1e-7)


def test_ties_are_certified():
    """Two identical techniques for every product: either is optimal."""
    problem = _choice_problem(60, 4, 1)
    A, B, R = problem.A, problem.B, problem.R
    import scipy.sparse as sp

    twin = lab.PlanningProblem.from_techniques(
        sp.hstack([A, A]), sp.hstack([B, B]), np.hstack([R, R]), problem.targets,
        available=dict(zip(problem.resource_names, problem.available, strict=True)),
        resource_names=problem.resource_names)
    for method in ("plan-ray", "harmony"):
        ours = lab.plan(problem, method=method)
        both = lab.plan(twin, method=method)
        assert both.solver == "decoupled" and both.converged
        assert both.objective == pytest.approx(ours.objective, rel=1e-9)


def test_joint_production_falls_back_and_says_why():
    problem = generate_planning_problem(100, seed=2, alternatives=1.0, joint=0.5)
    phi, _, _ = plan_ray_highs(problem, "simplex")
    for solver in ("auto", "pdhg"):  # auto: HiGHS at this size (lab.planning._lp)
        result = lab.plan(problem, method="plan-ray", solver=solver)
        assert result.solver == ("highs" if solver == "auto" else "pdhg")
        assert "joint production" in result.method_reason
        assert result.converged
        assert result.objective == pytest.approx(phi, rel=1e-5)
    with pytest.raises(InvalidOptionError, match="joint production"):
        lab.plan(problem, method="plan-ray", solver="decoupled")


def test_binding_capacities_route_and_reason(monkeypatch):
    """Below CAPACITIES_EXACT_FROM techniques auto asks HiGHS first; from there on the
    plan ray prices the 7 capacities its plan exceeds and stays exact; PDHG, when asked,
    says so."""
    from lab.planning import _solve

    problem = _choice_problem(100, 3, 1, capacities=0.2)
    phi, _, _ = plan_ray_highs(problem, "simplex")
    result = lab.plan(problem, method="plan-ray")
    assert result.solver == "highs" and "HiGHS is asked first" in result.method_reason
    assert result.converged and result.objective == pytest.approx(phi, rel=1e-7)
    monkeypatch.setattr(_solve, "CAPACITIES_EXACT_FROM", 100)
    result = lab.plan(problem, method="plan-ray")
    assert result.solver == "decoupled" and EXACT in result.method_reason
    assert result.converged and result.objective == pytest.approx(phi, rel=1e-7)
    assert np.count_nonzero(result.capacity_prices > 0) >= 1
    with pytest.warns(ConvergenceWarning, match="not certified"):
        result = lab.plan(problem, method="plan-ray", solver="pdhg", maxiter=10)
    assert result.solver == "pdhg" and "requested" in result.method_reason


@pytest.mark.parametrize("method", ["plan-ray", "harmony"])
@pytest.mark.parametrize("resources", [1, 3])
def test_capacities_that_do_not_bind_keep_the_exact_route(method, resources, monkeypatch):
    """The plan without the capacities meets them: it is the optimum with them too,
    and the certificate proves it on the problem with its capacities. ``auto`` tries
    this from CAPACITIES_EXACT_FROM techniques on (below, HiGHS first)."""
    from lab.planning import _solve

    free = _choice_problem(120, 4, resources)
    x = lab.plan(free, method=method).x
    problem = lab.PlanningProblem.from_techniques(
        use=free.A, make=free.B, resources=free.R, targets=free.targets,
        available=free.available, capacities=np.where(np.arange(x.size) % 3 == 0,
                                                      1.5 * x + 1e-3, np.inf),
        product_codes=free.product_codes, technique_codes=free.technique_codes)
    small = lab.plan(problem, method=method)
    assert small.solver == "highs" and "HiGHS is asked first" in small.method_reason
    monkeypatch.setattr(_solve, "CAPACITIES_EXACT_FROM", 100)
    result = lab.plan(problem, method=method)
    assert result.solver == "decoupled" and EXACT in result.method_reason
    assert result.status == lab.PlanStatus.OPTIMAL and result.relative_gap <= 1e-6
    assert result.objective == pytest.approx(small.objective, rel=1e-6)
    if method == "plan-ray":
        phi, _, status = plan_ray_highs(problem, "simplex")
        assert status == "Optimal" and result.objective == pytest.approx(phi, rel=1e-7)
    else:
        reference, _ = harmony_cvxpy(problem)
        assert result.objective == pytest.approx(reference, rel=1e-6, abs=1e-6)


def test_product_no_technique_makes():
    """A product without a technique (not a target, used by nobody): the exact route does
    not apply and says so; HiGHS (auto at this size) and the primal-dual route solve it."""
    problem = lab.PlanningProblem.from_techniques(
        [[0.0, 0.1, 0.0], [0.2, 0.0, 0.0], [0.0, 0.0, 0.0]],
        [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]],
        [[1.0, 1.0, 2.0]], {"P0": 1.0}, available={"labour": 5.0})
    for solver, route in (("auto", "highs"), ("pdhg", "pdhg")):
        result = lab.plan(problem, method="plan-ray", solver=solver)
        assert result.solver == route and "made by no technique" in result.method_reason
        assert result.converged


def test_unbounded_target_without_limited_resource():
    """Energy is the only limited resource and one technique makes product 0 without it:
    its harmony grows without limit, while the plan ray is held at φ = 2 by product 1's
    energy (hand-solved: x₂ ≥ φ and x₂ ≤ 2)."""
    problem = lab.PlanningProblem.from_techniques(
        np.zeros((2, 3)), [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        [[1.0, 1.0, 1.0], [1.0, 0.0, 1.0]], [1.0, 1.0],
        resource_names=["labour", "energy"], available={"energy": 2.0})
    with pytest.warns(ConvergenceWarning, match="unbounded"):
        result = lab.plan(problem, method="harmony")
    assert result.status == lab.PlanStatus.UNBOUNDED
    result = lab.plan(problem, method="plan-ray")
    assert result.status == lab.PlanStatus.OPTIMAL and result.solver == "decoupled"
    assert result.objective == pytest.approx(2.0, rel=1e-12)
    assert result.bound == pytest.approx(2.0, rel=1e-9)


def test_policy_values_are_the_prices():
    """With one limited resource the product prices are λ times the cheapest values."""
    problem = _choice_problem(200, 5, 1)
    result = lab.plan(problem, method="plan-ray")
    values = lab.labour_values(types.SimpleNamespace(
        A=problem.A, B=problem.B, R=problem.R[:1], product_codes=problem.product_codes,
        technique_codes=problem.technique_codes), rtol=1e-12).values
    lam = result.resource_prices[0]
    np.testing.assert_allclose(result.prices, lam * values, rtol=1e-8)


@pytest.mark.parametrize("seed", range(3))
def test_one_limited_resource_other_than_labour(seed):
    """Only the second resource is limited: the cheapest techniques in it decide."""
    _, A, B, R, t, rho, per = _tiny(seed, m=4, per=3, resources=2)
    problem = lab.PlanningProblem.from_techniques(A, B, R, t, resource_names=["labour", "R1"],
                                                  available={"R1": float(rho[1])})
    phis = [rho[1] / _usage(A, B, R, t, pol)[0][1] for pol in _policies(t.size, per)]
    for method in ("plan-ray", "harmony"):
        result = lab.plan(problem, method=method)
        assert result.solver == "decoupled" and result.converged
        assert result.resource_prices[0] == 0.0 and result.resource_prices[1] > 0
    ray = lab.plan(problem, method="plan-ray")
    assert ray.objective == pytest.approx(max(phis), rel=1e-10)
    assert ray.objective == pytest.approx(plan_ray_highs(problem, "simplex")[0], rel=1e-7)
    harmony = lab.plan(problem, method="harmony")
    assert harmony.objective == pytest.approx(harmony_cvxpy(problem)[0], rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_cut_lp_highspy_and_scipy_agree(seed):
    """The cut LP min λᵀρ s.t. Uλ ≥ 1 and its duals (the mix), by highspy and by scipy."""
    from lab.planning._choice import _cut_lp, _cut_lp_scipy

    rng = np.random.default_rng(seed)
    U = rng.uniform(0.1, 2.0, (6, 3))
    rho = rng.uniform(1.0, 3.0, 3)
    lam, mu, value = _cut_lp(U, rho)
    lam2, mu2, value2 = _cut_lp_scipy(U, rho)
    assert value == pytest.approx(value2, rel=1e-9)
    # strong duality: the mix μ (Σμ = value, Σ μ_s u_s ≤ ρ) is the master's primal
    for m in (mu, mu2):
        assert m.sum() == pytest.approx(value, rel=1e-9)
        assert np.all(U.T @ m <= rho * (1 + 1e-9))
    assert _cut_lp(np.zeros((2, 3)), rho) is None and _cut_lp_scipy(np.zeros((2, 3)), rho) is None


def test_the_cut_lp_prints_nothing_on_standard_output():
    """highspy.Highs() prints a banner when it is built (HiGHS 1.16), before any option can
    silence it; the route builds it with standard output pointed away, so that
    ``lab plan --json`` stays JSON. Checked in a child process (the object is built once
    per process)."""
    pytest.importorskip("highspy")
    from conftest import run_python

    proc = run_python("""
import lab
from lab.generate import generate_planning_problem
p = generate_planning_problem(300, seed=1, alternatives=1.0, limit_resources=3)
r = lab.plan(p, method="plan-ray")
print("RESULT", r.status.name, r.solver)
""")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "RESULT OPTIMAL decoupled", proc.stdout


def _bottlenecks(n, seed, resources, count):
    """A choice problem whose ``count`` of the 40 busiest techniques of the plan without
    capacities get a capacity of 0.7 of their use there."""
    return with_bottlenecks(_choice_problem(n, seed, resources), count, among=40, seed=seed)


@pytest.mark.parametrize("resources", [1, 3])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_few_binding_capacities_are_priced_like_resources(seed, resources, monkeypatch):
    """A handful of binding capacities: the plan ray prices them like resources in its
    cutting planes and stays exact (HiGHS on the whole LP as the reference)."""
    from lab.planning import _solve

    monkeypatch.setattr(_solve, "CAPACITIES_EXACT_FROM", 0)
    problem = _bottlenecks(200, seed, resources, count=4)
    result = lab.plan(problem, method="plan-ray")
    assert result.solver == "decoupled" and EXACT in result.method_reason
    assert result.status == lab.PlanStatus.OPTIMAL and result.relative_gap <= 1e-6
    phi, _, status = plan_ray_highs(problem, "simplex")
    assert status == "Optimal"
    assert result.objective == pytest.approx(phi, rel=1e-7)
    assert result.bound >= phi * (1 - 1e-7)
    capped = np.isfinite(problem.capacities)
    assert np.all(result.x[capped] <= problem.capacities[capped] * (1 + 1e-9))
    assert np.any(result.capacity_prices[capped] > 0)  # some capacity binds and earns


def test_more_binding_capacities_than_priced_go_to_highs(monkeypatch):
    from lab.planning import _choice, _solve

    monkeypatch.setattr(_solve, "CAPACITIES_EXACT_FROM", 0)
    monkeypatch.setattr(_choice, "MAX_PRICED_CAPACITIES", 2)
    problem = _bottlenecks(200, 1, 3, count=4)
    result = lab.plan(problem, method="plan-ray")
    assert result.solver == "highs" and "more than the 2 the plan ray prices" in \
        result.method_reason
    phi, _, _ = plan_ray_highs(problem, "simplex")
    assert result.converged and result.objective == pytest.approx(phi, rel=1e-7)


def _quadratic_pieces(seed, n_pieces, r):
    """Convex quadratic pieces g(λ) = ½λᵀQλ + qᵀλ + c with their gradients."""
    rng = np.random.default_rng(seed)
    pieces = []
    for _ in range(n_pieces):
        L = rng.normal(size=(r, r))
        Q, q, c = L @ L.T + 0.1 * np.eye(r), rng.normal(size=r) * 3.0, rng.normal() * 2.0
        pieces.append(lambda lam, Q=Q, q=q, c=c: (float(0.5 * lam @ Q @ lam + q @ lam + c),
                                                  Q @ lam + q))
    return pieces


@pytest.mark.parametrize("seed", range(8))
def test_min_max_working_set_gives_the_min_max_of_all_pieces(seed):
    from lab.planning import _choice

    r, rho = 3, np.ones(3)
    pieces = _quadratic_pieces(seed, 12, r)
    lam0 = np.full(r, 0.5)
    lam, value = _choice._min_max(pieces, lam0, rho)
    assert value == pytest.approx(max(g(lam)[0] for g in pieces), rel=1e-15)
    # reference: the epigraph over every piece at once, by SLSQP from several starts
    best = math.inf
    for start in (lam0, np.zeros(r), np.full(r, 3.0)):
        res = so.minimize(lambda z: (z[-1], np.eye(r + 1)[-1]), np.append(start, 50.0),
                          jac=True, method="SLSQP", bounds=[(0, None)] * r + [(None, None)],
                          constraints=[{"type": "ineq",
                                        "fun": lambda z: np.array([z[-1] - g(z[:-1])[0]
                                                                   for g in pieces])}],
                          options={"ftol": 1e-14, "maxiter": 1000})
        best = min(best, max(g(np.maximum(res.x[:-1], 0))[0] for g in pieces))
    assert value == pytest.approx(best, rel=1e-8, abs=1e-8)
    assert np.all(lam >= 0)


def test_min_max_working_set_grows_where_a_left_out_piece_rises(monkeypatch):
    # at λ0 = (2, 2) the old pieces are 0 and −6, so the working set holds the first and
    # the new one; their min-max is at λ = (7/8, 7/8), where the left-out 10 − 4Σλ = 3
    # rises above their 2.53: it joins. By hand (the pieces are symmetric, so λ = (a, a)):
    # 10 − 8a and 2a² + 1 meet at a = (√136 − 8)/4, where 2(a − 2)² lies below them
    from lab.planning import _choice

    pieces = [lambda lam: (float(np.sum((lam - 2.0) ** 2)), 2.0 * (lam - 2.0)),
              lambda lam: (float(10.0 - 4.0 * lam.sum()), np.full(2, -4.0)),
              lambda lam: (float(np.sum(lam ** 2) + 1.0), 2.0 * lam)]
    solves = []
    inner = _choice._min_max_of
    monkeypatch.setattr(_choice, "_min_max_of",
                        lambda held, *a: solves.append(len(held)) or inner(held, *a))
    lam, value = _choice._min_max(pieces, np.full(2, 2.0), np.ones(2))
    assert solves == [2, 3]
    a = (math.sqrt(136.0) - 8.0) / 4.0
    assert value == pytest.approx(2.0 * a * a + 1.0, rel=1e-9)
    np.testing.assert_allclose(lam, [a, a], rtol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_harmony_prices_meet_the_optimality_conditions(seed):
    """The resource prices of the harmony dual g(λ) = Σ conj(λᵀV) + λᵀρ (projected
    Newton steps): the KKT conditions of min g over λ ≥ 0, the gradient ρ − V n(λ) zero
    where a price is positive and ≥ 0 where it is 0, and g no larger than at points
    nearby or at scipy's bounded L-BFGS-B minimum."""
    from lab.planning import _harmony
    from lab.planning._exact import _harmony_prices

    rng = np.random.default_rng(seed)
    r, T = 3, 200
    V = rng.uniform(0.1, 1.0, (r, T)) * (rng.random((r, T)) < 0.7)
    V[0] += 0.05  # every target uses resource 0
    t = rng.lognormal(0.0, 1.0, T)
    w = np.ones(T)
    rho = (V @ t) * np.array([0.8, 0.6, 3.0])  # the third does not bind
    lam = _harmony_prices(V, t, w, rho)

    def g(x):
        x = np.maximum(x, 0.0)
        return float(np.sum(_harmony.conjugate(x @ V, t, w)) + x @ rho)

    grad = rho - V @ _harmony.best_response(lam @ V, t, w)
    scale = np.abs(rho).max()
    assert np.all(lam >= 0) and lam[2] == 0.0
    assert np.all(np.abs(grad[lam > 0]) <= 1e-8 * scale)
    assert np.all(grad[lam == 0] >= -1e-8 * scale)
    reference = so.minimize(g, np.full(r, 0.5), method="L-BFGS-B", bounds=[(0, None)] * r)
    assert g(lam) <= reference.fun + 1e-9 * abs(reference.fun)
    for step in (1e-3, -1e-3):
        for q in range(r):
            nearby = lam.copy()
            nearby[q] += step
            assert g(lam) <= g(nearby) + 1e-12 * abs(g(lam))
