"""Labour values v = l + Aᵀv (MATH.md §2) against independent references.

References: hand-solved economies, published values (Ochoa), and a direct sparse
LU solve (scipy ``spsolve``) of (I − Aᵀ)v = l. Every method and every backend
is held to the same contract.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import (
    BACKENDS,
    GENERATED,
    JACOBI_TOO_SLOW,
    METHODS,
    assert_values_close,
    generated,
    generated_reference,
    hand_economies,
    reference_values,
    relative_residual,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.sparse.linalg import bicgstab

import lab
from lab import _ops
from lab.exceptions import EfficiencyWarning

# rtol for the comparisons with spsolve: the error is at most cond · residual, so the
# residual is driven well below the 1e-9 demanded of the values.
RTOL = 1e-12


def solve(economy, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", lab.ConvergenceWarning)
        return lab.labour_values(economy, **kwargs)


# --------------------------------------------------------------------------- hand-solved


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name, A, l, expected", hand_economies(),
                         ids=[h[0] for h in hand_economies()])
def test_hand_solved(name, A, l, expected, method, backend):
    result = solve(lab.Economy(A, l), method=method, backend=backend)
    assert result.converged and result.status == lab.Status.CONVERGED
    if name == "ochoa":  # published to 7 significant digits
        assert_allclose(result.values, expected, rtol=0, atol=1e-6)
    else:
        assert_allclose(result.values, expected, rtol=1e-9)


# --------------------------------------------------------------------------- against spsolve


def _cases():
    for name in GENERATED:
        for method in METHODS:
            if method == "jacobi" and name in JACOBI_TOO_SLOW:
                continue
            for backend in BACKENDS:
                yield pytest.param(name, method, backend, id=f"{name}-{method}-{backend}")


@pytest.mark.parametrize("name, method, backend", list(_cases()))
def test_agrees_with_spsolve(name, method, backend, request):
    economy = generated(name)
    result = solve(economy, method=method, backend=backend, rtol=RTOL)
    assert result.converged, result.message
    assert result.values.shape == (economy.n_products,)
    assert result.values.dtype == np.float64
    assert_values_close(result.values, generated_reference(name), 1e-9, name)
    assert result.residual <= RTOL
    # the residual reported is the answer's own (the blocks method writes Aᵀv during its
    # substitution pass): scipy computes it independently
    v = result.values
    independent = np.max(np.abs(economy.labour + economy.A.T @ v - v)) / np.max(np.abs(v))
    assert result.residual == pytest.approx(independent, rel=1e-2, abs=1e-15)
    if result.method == "blocks":  # one pass, judged by the Aᵀv it wrote: no refinement
        assert result.iterations == 1
    assert result.backend == backend
    if method != "auto":
        assert result.method == method and result.method_reason == "requested"
    else:
        assert result.method in METHODS[1:] and result.method_reason


def test_index_dtype_int64_kept():
    for name in ("n500-int64", "n3000-int64-group8"):
        assert generated(name).A.indices.dtype == np.int64


@pytest.mark.parametrize("name", ["n3000-rho0.9", "n3000-giant-core"])
@pytest.mark.parametrize("n_threads", [1, 2], ids=["threads1", "threads2"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", METHODS)
def test_threads(method, backend, n_threads, name, request):
    result = solve(generated(name), method=method, backend=backend, n_threads=n_threads,
                   rtol=RTOL)
    assert result.n_threads == n_threads
    assert_values_close(result.values, generated_reference(name), 1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gauss_seidel_is_the_same_sweep_on_any_thread_count(backend):
    """Its sweeps are exact sequential Gauss–Seidel, so 1 and 2 threads make the same
    iterations to the bit (what ``lab bench`` says of its thread rows); 20,000 products
    put the residual checks above the size where they run in parallel chunks."""
    economy = lab.generate_economy(20_000, seed=4)
    one, two = (solve(economy, method="gauss-seidel", backend=backend, n_threads=t,
                      rtol=RTOL) for t in (1, 2))
    assert one.converged and one.iterations == two.iterations
    assert_array_equal(one.values, two.values)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", METHODS)
def test_all_resources(method, backend):
    name = "n3000-rho0.9"
    economy = generated(name)
    result = solve(economy, method=method, backend=backend, resources="all", rtol=RTOL)
    r = economy.n_resources
    assert r >= 3
    assert result.values.shape == (r, economy.n_products)
    assert result.resource_names == economy.resource_names
    assert_values_close(result.values, generated_reference(name, tuple(range(r))), 1e-9)
    frame = result.frame
    assert list(frame.columns) == list(economy.resource_names)
    assert list(frame.index) == list(economy.codes)
    assert_array_equal(frame.to_numpy(), result.values.T)
    with pytest.raises(ValueError):
        result.series  # noqa: B018


@pytest.mark.parametrize("resources, row", [("energy", 1), (2, 2), (-1, 2), (["co2", 0], None)],
                         ids=["name-energy", "int-2", "int-minus-1", "list"])
@pytest.mark.parametrize("method", METHODS)
def test_selected_resources(method, resources, row):
    name = "n500-rho0.9"
    economy = generated(name)
    result = solve(economy, method=method, resources=resources, rtol=RTOL)
    if row is None:
        assert result.resource_names == ("co2", "labour")
        assert_values_close(result.values, generated_reference(name, (2, 0)), 1e-9)
    else:
        assert result.resource_names == (economy.resource_names[row],)
        assert_values_close(result.values, generated_reference(name, (row,))[0], 1e-9)


@functools.lru_cache(maxsize=1)
def _medium():
    """~20 000 products. spsolve's LU fill-in takes > 30 s here, so the reference is
    scipy's own BiCGSTAB driven to a residual of 1e-14 (checked), independent of lab."""
    economy = lab.generate_economy(20_000, seed=2024, spectral_radius=0.9)
    M = sp.identity(20_000, format="csr") - sp.csr_array(economy.A.T)
    v, info = bicgstab(M, economy.labour, rtol=1e-15, atol=0.0, maxiter=5000)
    assert info == 0
    assert relative_residual(economy.A, economy.labour, v) < 1e-14
    return economy, v


@pytest.mark.parametrize("method", METHODS)
def test_medium_economy(method):
    economy, reference = _medium()
    result = solve(economy, method=method, rtol=1e-11)
    assert result.converged
    assert_values_close(result.values, reference, 1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_start_from_zero(method, request):
    A = np.array([[0.1, 0.2], [0.3, 0.0]])
    result = lab.ValueSolver(lab.Economy(A, [1.0, 2.0]), method=method).solve(x0=np.zeros(2))
    assert result.converged, result.message
    assert_allclose(result.values, [40 / 21, 50 / 21], rtol=1e-9)


def test_value_solver_setup_once_solve_many():
    economy = generated("n500-rho0.9")
    solver = lab.ValueSolver(economy, method="blocks", rtol=RTOL)
    first = solver.solve()
    again = solver.solve(rhs=2.0 * economy.labour)
    assert_values_close(first.values, generated_reference("n500-rho0.9"), 1e-9)
    assert_values_close(again.values, 2.0 * first.values, 1e-9)
    assert again.resource_names == ("rhs",)
    two = solver.solve(rhs=np.vstack([economy.labour, economy.R[1]]))
    assert two.values.shape == (2, economy.n_products)
    assert_values_close(two.values, generated_reference("n500-rho0.9", (0, 1)), 1e-9)
    with pytest.raises(TypeError):
        lab.ValueSolver(economy, lab.ValuesOptions(), method="jacobi")


# --------------------------------------------------------------------------- the result


@pytest.mark.parametrize("method", METHODS)
def test_result_fields(method):
    economy = generated("n500-rho0.9")
    seen = []
    result = solve(economy, method=method, callback=lambda k, res: seen.append((k, res)))
    assert isinstance(result, lab.ValuesResult)
    assert result.converged is True
    assert result.status is lab.Status.CONVERGED
    assert "converged" in result.message
    assert isinstance(result.iterations, int) and result.iterations >= 1
    assert result.rtol == 1e-10
    # The reported residual is the true one, recomputed independently.
    expected = relative_residual(economy.A, economy.labour, result.values)
    assert result.residual <= result.rtol
    assert math.isclose(result.residual, expected, rel_tol=1e-3, abs_tol=1e-15)
    assert isinstance(result.residual_history, np.ndarray)
    assert len(result.residual_history) == result.iterations
    assert [k for k, _ in seen] == list(range(1, result.iterations + 1))
    assert_allclose([res for _, res in seen], result.residual_history)
    assert set(result.timings) >= {"setup", "solve", "check", "total"}
    assert all(t >= 0 for t in result.timings.values())
    assert result.timings["total"] >= result.timings["solve"]
    assert result.backend in BACKENDS
    assert result.method_reason
    assert result.n_threads >= 1
    assert result.matvecs > 0
    assert result.resource_names == ("labour",)
    assert "ρ(A)" in result.productivity
    series = result.series
    assert list(series.index) == list(economy.codes)
    assert_array_equal(series.to_numpy(), result.values)
    assert series.name == "labour"


def test_result_is_frozen():
    result = solve(generated("n50-rho0.3"))
    for name in ("values", "converged", "status", "residual", "iterations", "method"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(result, name, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        lab.ValuesOptions().rtol = 0.5


def test_series_uses_product_codes():
    A = np.array([[0.1, 0.2], [0.3, 0.0]])
    result = solve(lab.Economy(A, [1.0, 2.0], codes=["corn", "iron"]))
    assert_allclose(result.series.loc[["corn", "iron"]].to_numpy(), [40 / 21, 50 / 21])


def test_auto_reason_for_easy_and_hard():
    # Column sums ≤ 0.1 prove Jacobi needs ≤ log(1e-10)/log(0.1) = 10 sweeps.
    A, _ = np.random.default_rng(3).uniform(0, 1, (2, 30, 30))
    A *= 0.1 / A.sum(axis=0).max()
    easy = solve(lab.Economy(A, np.ones(30)))
    assert easy.method == "jacobi" and "sweeps" in easy.method_reason
    hard = solve(generated("n3000-rho0.99-core0.3"))
    assert hard.method == "blocks" and "block" in hard.method_reason


# --------------------------------------------------------------------------- corner cases


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_rhs(method, backend):
    economy = lab.Economy(generated("n500-rho0.9").A, np.zeros(500))
    result = solve(economy, method=method, backend=backend)
    assert result.converged and result.status == lab.Status.CONVERGED
    assert_array_equal(result.values, 0.0)
    assert result.residual == 0.0
    # and as an explicit rhs to a solver of an economy with labour
    result = lab.ValueSolver(generated("n500-rho0.9"), method=method,
                             backend=backend).solve(rhs=np.zeros(500))
    assert result.converged
    assert_array_equal(result.values, 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_maxiter_one_warns(method, backend):
    # "blocks" solves components of up to DENSE_BLOCK products exactly, so maxiter only
    # binds on an economy with a larger cyclic component.
    economy = generated("n3000-giant-core" if method in ("auto", "blocks") else "n500-rho0.9")
    with pytest.warns(lab.ConvergenceWarning) as record:
        result = lab.labour_values(economy, method=method, backend=backend, maxiter=1)
    assert result.converged is False
    assert result.status == lab.Status.MAXITER
    assert result.residual > result.rtol
    assert math.isclose(result.residual,
                        relative_residual(economy.A, economy.labour, result.values),
                        rel_tol=1e-6)
    text = str(record[0].message)
    assert f"{result.residual:.3e}" in text, text
    assert f"{result.rtol:.3e}" in text, text
    assert text == result.message


@pytest.mark.parametrize("backend", BACKENDS)
def test_raise_on_failure(method, backend):
    # "blocks" solves components of up to DENSE_BLOCK products exactly, so maxiter only
    # binds on an economy with a larger cyclic component.
    economy = generated("n3000-giant-core" if method in ("auto", "blocks") else "n500-rho0.9")
    with warnings.catch_warnings():
        warnings.simplefilter("error", lab.ConvergenceWarning)
        with pytest.raises(lab.NotConvergedError) as info:
            lab.labour_values(economy, method=method, backend=backend, maxiter=1,
                              raise_on_failure=True)
    result = info.value.result
    assert isinstance(result, lab.ValuesResult)
    assert result.converged is False and result.status == lab.Status.MAXITER
    assert str(info.value) == result.message


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_matrix_gives_direct_labour(method, backend):
    l = np.array([0.5, 1.0, 2.0, 0.0])
    for A in (np.zeros((4, 4)), sp.csc_array((4, 4))):
        result = solve(lab.Economy(A, l), method=method, backend=backend)
        assert result.converged
        assert_array_equal(result.values, l)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_rows_and_columns(method, backend):
    # Product 0 uses nothing (empty column); product 3 is used by nobody (empty row);
    # product 4 neither uses nor is used.
    A = np.zeros((5, 5))
    A[0, 1] = 0.5   # product 1 uses 0.5 of product 0
    A[1, 2] = 0.4
    A[2, 1] = 0.3   # 1 <-> 2 cycle
    A[2, 3] = 0.9
    l = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    # v0 = 1; v1 = 2 + 0.5 v0 + 0.3 v2; v2 = 3 + 0.4 v1
    #   => v1 = 2.5 + 0.9 + 0.12 v1 => v1 = 3.4/0.88; v2 = 3 + 0.4 v1; v3 = 4 + 0.9 v2; v4 = 5
    v1 = 3.4 / 0.88
    v2 = 3 + 0.4 * v1
    expected = np.array([1.0, v1, v2, 4 + 0.9 * v2, 5.0])
    result = solve(lab.Economy(A, l), method=method, backend=backend)
    assert_allclose(result.values, expected, rtol=1e-9)


def test_float32_input_is_converted(method):
    name = "n500-rho0.9"
    A32 = sp.csc_array(generated(name).A, dtype=np.float32)
    l32 = generated(name).labour.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EfficiencyWarning)
        economy = lab.Economy(A32, l32)
    assert economy.A.dtype == np.float64 and economy.R.dtype == np.float64
    result = solve(economy, method=method, rtol=RTOL)
    assert result.values.dtype == np.float64
    assert_values_close(result.values,
                        reference_values(A32.astype(np.float64), l32.astype(np.float64)), 1e-9)


def test_float32_rhs_and_x0(method, request):
    economy = generated("n500-rho0.9")
    solver = lab.ValueSolver(economy, method=method, rtol=RTOL)
    l32 = economy.labour.astype(np.float32)
    result = solver.solve(rhs=l32, x0=np.zeros(500, dtype=np.float32))
    assert_values_close(result.values, reference_values(economy.A, l32.astype(np.float64)), 1e-9)


@pytest.mark.parametrize("name", ["n500-rho0.9", "n3000-giant-core"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_warm_start_at_answer(method, backend, name, request):
    economy = generated(name)
    exact = generated_reference(name)
    result = lab.ValueSolver(economy, method=method, backend=backend).solve(x0=exact)
    assert result.converged
    assert result.iterations <= 1, f"{result.iterations} iterations from the exact answer"
    assert_values_close(result.values, exact, 1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_int64_indices_input(method, backend):
    A = sp.csc_array(np.array([[0.1, 0.2, 0.0], [0.3, 0.0, 0.6], [0.0, 0.1, 0.2]]))
    A.indices = A.indices.astype(np.int64)
    A.indptr = A.indptr.astype(np.int64)
    l = np.array([1.0, 2.0, 3.0])
    economy = lab.Economy(A, l)
    assert economy.A.indices.dtype == np.int64
    result = solve(economy, method=method, backend=backend, rtol=RTOL)
    assert_allclose(result.values, np.linalg.solve(np.eye(3) - A.toarray().T, l), rtol=1e-10)


# --------------------------------------------------------------------------- inputs unchanged


@pytest.mark.parametrize("name", ["n500-rho0.9", "n3000-giant-core"])
def test_inputs_not_mutated(method, name, request):
    source = generated(name)
    A = sp.csc_array((source.A.data.copy(), source.A.indices.copy(), source.A.indptr.copy()),
                     shape=source.A.shape)
    R = source.R.copy()
    saved = [x.copy() for x in (A.data, A.indices, A.indptr, R)]
    economy = lab.Economy(A, R)
    own = [x.copy() for x in (economy.A.data, economy.A.indices, economy.A.indptr, economy.R)]
    rhs = R[1].copy()
    x0 = np.full(A.shape[0], 0.5)
    rhs_saved, x0_saved = rhs.copy(), x0.copy()
    solver = lab.ValueSolver(economy, method=method)
    solver.solve(rhs=rhs, x0=x0)
    solver.solve(resources="all")
    lab.labour_values(economy, method=method)
    for before, after in zip(saved, (A.data, A.indices, A.indptr, R), strict=True):
        assert_array_equal(before, after)
    for before, after in zip(own, (economy.A.data, economy.A.indices, economy.A.indptr,
                                   economy.R), strict=True):
        assert_array_equal(before, after)
    assert_array_equal(rhs, rhs_saved)
    assert_array_equal(x0, x0_saved)


# --------------------------------------------------------------------------- bad options


BAD_OPTIONS = [
    (dict(method="newton"), ValueError, "method"),
    (dict(rtol=0.0), ValueError, "rtol"),
    (dict(rtol=-1e-8), ValueError, "rtol"),
    (dict(rtol=float("nan")), ValueError, "rtol"),
    (dict(rtol=1.0), ValueError, "rtol"),
    (dict(rtol=2.0), ValueError, "rtol"),
    (dict(maxiter=0), ValueError, "maxiter"),
    (dict(maxiter=10.0), TypeError, "maxiter"),
    (dict(n_threads=0), ValueError, "n_threads"),
    (dict(backend="fortran"), ValueError, "backend"),
    (dict(resources="water"), ValueError, "resources"),
    (dict(resources=3), ValueError, "resources"),
    (dict(resources=-4), ValueError, "resources"),
]


@pytest.mark.parametrize("kwargs, error, name", BAD_OPTIONS,
                         ids=[f"{next(iter(k))}={next(iter(k.values()))!r}"
                              for k, _, _ in BAD_OPTIONS])
def test_bad_options_raise(kwargs, error, name):
    economy = generated("n50-rho0.3")
    assert economy.n_resources == 3
    with pytest.raises(error, match=name):
        lab.labour_values(economy, **kwargs)


BAD_SOLVE = [
    (dict(rhs=np.ones(49)), "rhs"),
    (dict(rhs=np.ones((2, 51))), "rhs"),
    (dict(rhs=np.r_[np.nan, np.ones(49)]), "rhs"),
    (dict(rhs=np.r_[np.inf, np.ones(49)]), "rhs"),
    (dict(x0=np.ones(49)), "x0"),
    (dict(x0=np.ones((2, 50))), "x0"),
    (dict(x0=np.r_[np.nan, np.ones(49)]), "x0"),
]


@pytest.mark.parametrize("kwargs, name", BAD_SOLVE,
                         ids=["rhs-short", "rhs-2d-wrong", "rhs-nan", "rhs-inf", "x0-short",
                              "x0-2d", "x0-nan"])
def test_bad_solve_arguments_raise(kwargs, name):
    solver = lab.ValueSolver(generated("n50-rho0.3"))
    with pytest.raises(ValueError, match=name):
        solver.solve(**kwargs)


def test_rhs_and_resources_together_raise():
    solver = lab.ValueSolver(generated("n50-rho0.3"))
    with pytest.raises(ValueError, match="rhs"):
        solver.solve(rhs=np.ones(50), resources="all")


# --------------------------------------------------------------------------- properties


@st.composite
def small_economies(draw, max_sum=0.9):
    """(A, l): a random sparse m × m use matrix with every column sum ≤ max_sum."""
    m = draw(st.integers(1, 7))
    coef = st.floats(0.0, 1.0, allow_nan=False, allow_subnormal=False)
    dense = np.array(draw(st.lists(coef, min_size=m * m, max_size=m * m))).reshape(m, m)
    mask = np.array(draw(st.lists(st.booleans(), min_size=m * m, max_size=m * m))).reshape(m, m)
    dense = np.where(mask, dense, 0.0)
    # Rescale products by random positive "prices" so column sums may exceed 1 while ρ < 1.
    col = dense.sum(axis=0).max()
    if col > 0:
        dense *= max_sum / col
    prices = np.exp(np.array(draw(st.lists(st.floats(-2, 2), min_size=m, max_size=m))))
    dense = dense * prices[:, None] / prices[None, :]  # D⁻¹ A D: same spectrum
    l = np.array(draw(st.lists(st.floats(0.0, 10.0, allow_subnormal=False),
                               min_size=m, max_size=m)))
    return dense, l, prices


#: Derandomised: CI runs the same examples every time (a new random draw found a
#: subnormal right-hand side once, see test_property_linear_in_labour); the randomised
#: exploration of bad and extreme input is the fuzz suite's (tests/fuzz).
PROPERTY_SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                             suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(case=small_economies(), method=st.sampled_from(METHODS))
def test_property_values_at_least_labour(case, method):
    A, l, _ = case
    result = solve(lab.Economy(A, l), method=method, rtol=1e-12)
    v = result.values
    scale = max(float(np.max(v, initial=0.0)), 1e-300)
    assert np.all(v >= l - 1e-9 * scale)
    exact = np.linalg.solve(np.eye(len(l)) - A.T, l)
    assert_values_close(v, exact, 1e-8)


@PROPERTY_SETTINGS
@given(case=small_economies(), method=st.sampled_from(METHODS),
       a=st.floats(0.0, 5.0, allow_subnormal=False),
       b=st.floats(0.0, 5.0, allow_subnormal=False), seed=st.integers(0, 2**32 - 1))
def test_property_linear_in_labour(case, method, a, b, seed):
    """v(a·l₁ + b·l₂) = a·v(l₁) + b·v(l₂). Not for subnormal a or b: values of about
    1e-323 carry a few bits, so no solver can meet rtol 1e-12 on them, and lab says so
    (not converged, with a warning) rather than claiming it."""
    A, l1, _ = case
    l2 = np.random.default_rng(seed).uniform(0, 3, size=len(l1))
    solver = lab.ValueSolver(lab.Economy(A, l1), method=method, rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error", lab.ConvergenceWarning)
        v1 = solver.solve(rhs=l1).values
        v2 = solver.solve(rhs=l2).values
        v12 = solver.solve(rhs=a * l1 + b * l2).values
    combo = a * v1 + b * v2
    scale = max(float(np.max(np.abs(combo), initial=0.0)), 1e-300)
    assert np.max(np.abs(v12 - combo), initial=0.0) <= 1e-8 * scale


@PROPERTY_SETTINGS
@given(case=small_economies(max_sum=0.8), method=st.sampled_from(METHODS),
       where=st.tuples(st.integers(0, 6), st.integers(0, 6)), delta=st.floats(1e-6, 0.1))
def test_property_monotone_in_A(case, method, where, delta):
    A, l, prices = case
    m = len(l)
    i, j = where[0] % m, where[1] % m
    # A = D A₀ D⁻¹ with D = diag(prices) and A₀'s column sums ≤ 0.8, so with weights
    # w = 1/prices, Σᵢ wᵢ A[i, j] ≤ 0.8 wⱼ. Adding delta·wⱼ/wᵢ = delta·pᵢ/pⱼ at (i, j) keeps
    # that ≤ 0.9 wⱼ, so the bigger economy is productive too (ρ ≤ 0.9).
    bigger = A.copy()
    bigger[i, j] += delta * prices[i] / prices[j]
    v = solve(lab.Economy(A, l), method=method, rtol=1e-13).values
    w = solve(lab.Economy(bigger, l), method=method, rtol=1e-13).values
    scale = max(float(np.max(w, initial=0.0)), 1e-300)
    assert np.all(w >= v - 1e-10 * scale), (v, w)


def test_auto_skips_the_analysis_without_chain_ends():
    """An economy without supply chains (12 random inputs per product, column sums 0.9,
    built with scipy): auto goes straight to Krylov and says why; a generated economy
    (final and primary products) is analysed."""
    from lab.bench._workloads import unstructured_economy

    economy = unstructured_economy(30_000, seed=1)
    result = solve(economy, rtol=1e-12)
    assert result.method == "krylov" and "supply chain" in result.method_reason
    assert "blocks" not in economy._cache  # no structure analysis was paid for
    # reference: scipy's BiCGSTAB (a direct LU of a random matrix fills in), checked
    M = sp.identity(30_000, format="csr") - sp.csr_array(economy.A.T)
    v, info = bicgstab(M, economy.labour, rtol=1e-14, atol=0.0, maxiter=1000)
    assert info == 0 and relative_residual(economy.A, economy.labour, v) < 1e-13
    assert_values_close(result.values, v, 1e-10)
    generated_ = lab.generate_economy(30_000, seed=1)
    assert solve(generated_).method == "blocks"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["krylov", "blocks", "auto"])
@pytest.mark.parametrize("name", ["n3000-giant-core", "n500-int64", "n3000-int64-group8"])
def test_float32_storage_same_rule(name, method, backend):
    """precision='float32': coefficients stored in float32, refined against float64 to the
    same rule, the same answer as the direct solve (int32 and int64 indices)."""
    economy = generated(name)
    result = solve(economy, method=method, backend=backend, precision="float32", rtol=RTOL)
    assert result.converged and result.precision == "float32"
    assert result.residual <= RTOL
    assert relative_residual(economy.A, economy.labour, result.values) <= RTOL * 1.01
    assert_values_close(result.values, generated_reference(name), 1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["krylov", "blocks", "auto"])
@pytest.mark.parametrize("name", ["n3000-giant-core", "n500-int64", "n3000-int64-group8"])
def test_float32_directions_same_rule(name, method, backend, monkeypatch):
    """BiCGSTAB with its search directions stored in float32 (forced here at every size)
    meets the same rule, judged by scipy's residual, and gives the direct solve's answer;
    the answer's bits differ from the float64 directions' (the float32 path ran)."""
    from lab.values import _krylov

    economy = generated(name)
    monkeypatch.setattr(_krylov, "FLOAT32_DIRECTIONS_FROM", 1 << 62)
    wide = solve(economy, method=method, backend=backend, rtol=RTOL)
    monkeypatch.setattr(_krylov, "FLOAT32_DIRECTIONS_FROM", 0)
    result = solve(economy, method=method, backend=backend, rtol=RTOL)
    assert result.converged and result.residual <= RTOL
    assert relative_residual(economy.A, economy.labour, result.values) <= RTOL * 1.01
    assert_values_close(result.values, generated_reference(name), 1e-9)
    if result.method != "blocks" or name == "n3000-giant-core":  # a Krylov solve ran
        assert not np.array_equal(result.values, wide.values)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_directions_by_default_on_large_economies(backend):
    """Above FLOAT32_DIRECTIONS_FROM products an economy without structure is solved with
    float32 directions by default: the rule met by scipy's residual, the answer that of
    float64 directions to 1e-9."""
    from lab.bench._workloads import unstructured_economy
    from lab.values import _krylov

    economy = unstructured_economy(_krylov.FLOAT32_DIRECTIONS_FROM)
    result = solve(economy, method="krylov", backend=backend, rtol=RTOL)
    assert result.converged
    assert relative_residual(economy.A, economy.labour, result.values) <= RTOL * 1.01
    x = np.zeros(economy.n_products)
    M = sp.csr_array(economy.A.T)
    AT = (M.indptr.astype(np.int32), M.indices.astype(np.int32), M.data)
    out = _krylov.bicgstab(_ops.kernels(backend), AT, np.asarray(economy.labour, float), x,
                           tol=RTOL / 4, maxiter=200, directions=np.float64)
    assert out.failure is None
    assert_values_close(result.values, x, 1e-9)
    assert not np.array_equal(result.values, x)


def test_subnormal_right_hand_side_is_not_claimed_converged():
    """Values of about 1e-323 carry a few bits: lab reports that it could not meet the
    tolerance (the falsifying example a random property test once drew)."""
    A = np.array([[0.0, 0.3310915], [1.43346893, 0.0]])
    solver = lab.ValueSolver(lab.Economy(A, [0.0, 0.0]), method="auto", rtol=1e-12)
    with pytest.warns(lab.ConvergenceWarning, match="not converged.*subnormal"):
        result = solver.solve(rhs=[5e-324 * 1.5354, 5e-324 * 2.8514])
    assert not result.converged and np.all(np.isfinite(result.values))


def test_column_max_abs_matches_numpy():
    """The column-by-column maximum used for every residual and norm of several
    right-hand sides equals NumPy's reduction, NaN and empty columns included."""
    from lab.values._krylov import column_max_abs

    rng = np.random.default_rng(3)
    a = rng.standard_normal((1000, 3))
    np.testing.assert_array_equal(column_max_abs(a), np.abs(a).max(axis=0))
    a[17, 1] = np.nan
    got = column_max_abs(a)
    assert np.isnan(got[1]) and got[0] == np.abs(a[:, 0]).max()
    np.testing.assert_array_equal(column_max_abs(np.zeros((0, 2))), [0.0, 0.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_bicgstab_columns_against_a_direct_solve(backend):
    """Several right-hand sides solved one after the other by the compiled BiCGSTAB:
    each column the direct answer (a zero column exactly 0), the iterations the most
    any column needed, and the history each iteration's largest relative residual."""
    from scipy.sparse.linalg import spsolve

    from lab import _ops
    from lab.values import _krylov

    rng = np.random.default_rng(11)
    n = 400
    M = sp.random_array((n, n), density=0.03, rng=rng, format="csr")
    M = sp.csr_array(M * (0.9 / M.sum(axis=0).max()))
    M.sort_indices()
    arrays = (M.indptr.astype(np.int32), M.indices.astype(np.int32), M.data)
    b = rng.random((n, 3))
    b[:, 1] = 0.0
    x = np.zeros((n, 3))
    seen = []
    out = _krylov.bicgstab_columns(_ops.kernels(backend), arrays, b, x, tol=1e-12,
                                   maxiter=500, on_iteration=seen.append)
    assert out.failure is None and out.product is None
    I_M = sp.csc_array(sp.eye_array(n) - M)
    for q in (0, 2):
        np.testing.assert_allclose(x[:, q], spsolve(I_M, b[:, q]), rtol=1e-10)
    assert not x[:, 1].any()
    singles = []
    for q in (0, 2):
        history = []
        one = _krylov.bicgstab(_ops.kernels(backend), arrays, b[:, q].copy(), np.zeros(n),
                               tol=1e-12, maxiter=500, on_iteration=history.append)
        singles.append(history)
        assert one.iterations <= out.iterations
    assert out.iterations == max(len(h) for h in singles) == len(seen)
    assert seen == [max(h[i] for h in singles if len(h) > i) for i in range(len(seen))]
