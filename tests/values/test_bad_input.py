"""Bad and extreme input to the value solvers: lab's errors, honest statuses (issue 11).

Each test starts from the repro as it was reported.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import BACKENDS, METHODS

import lab
from lab.exceptions import InvalidEconomyError, InvalidOptionError, InvalidTypeError, LabError

# --------------------------------------------------------------------------- overflow


def test_overflow_is_not_converged():
    """Issue 11, item 2: values [1e10, nan] were reported CONVERGED with residual 0.0."""
    economy = lab.Economy(np.array([[0, 1e308], [0, 0.]]), [1e10, 1.])
    with pytest.warns(lab.ConvergenceWarning, match="not finite"):
        result = lab.labour_values(economy)
    assert not result.converged
    assert result.status == lab.Status.NOT_FINITE
    assert not math.isfinite(result.residual)  # never a small number
    assert not np.all(np.isfinite(result.values))
    with pytest.raises(lab.NotConvergedError) as info:
        lab.labour_values(economy, raise_on_failure=True)
    assert info.value.result.status == lab.Status.NOT_FINITE


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", METHODS)
def test_overflow_never_converged_any_method(method, backend):
    economy = lab.Economy(np.array([[0, 1e308], [0, 0.]]), [1e10, 1.])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lab.ConvergenceWarning)
        result = lab.labour_values(economy, method=method, backend=backend, maxiter=50)
    assert not result.converged
    assert result.status != lab.Status.CONVERGED


@pytest.mark.parametrize("labour", [[1.0, 1.0], [1e10, 1.0], [1.0, 1e10], [1.0, 0.0]])
@pytest.mark.parametrize("backend", BACKENDS)
def test_krylov_badly_scaled_is_honest(labour, backend):
    """Issue 11, item 2: krylov on [[.5, 1e200], [0, .5]] returned [nan, nan] CONVERGED.

    The exact answer is finite (v = [2 l₀, 2 l₁ + 4e200 l₀]); whatever BiCGSTAB makes of
    the scaling, a converged answer must be finite and right, anything else must say so.
    """
    A = np.array([[.5, 1e200], [0, .5]])
    exact = np.array([2 * labour[0], 2 * labour[1] + 4e200 * labour[0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lab.ConvergenceWarning)
        result = lab.labour_values(lab.Economy(A, labour), method="krylov", backend=backend)
    if result.converged:
        assert np.all(np.isfinite(result.values))
        np.testing.assert_allclose(result.values, exact, rtol=1e-9)
    else:
        assert result.status != lab.Status.CONVERGED
        assert result.message.startswith("not converged")
    # "auto" picks a method that solves it exactly
    auto = lab.labour_values(lab.Economy(A, labour))
    assert auto.converged
    np.testing.assert_allclose(auto.values, exact, rtol=1e-12)


# --------------------------------------------------------------------------- wrong types


def test_labour_values_of_an_array():
    """Issue 11, item 14: labour_values(ndarray) raised AttributeError."""
    with pytest.raises(InvalidTypeError, match="economy") as info:
        lab.labour_values(np.eye(3) * 0.1)
    assert isinstance(info.value, TypeError) and isinstance(info.value, LabError)


def test_value_solver_of_a_string():
    """Issue 11, item 14: ValueSolver("x") raised AttributeError."""
    with pytest.raises(InvalidTypeError, match="economy"):
        lab.ValueSolver("x")


def test_value_solver_bad_options_object():
    economy = lab.Economy(np.array([[0.1]]), [1.0])
    with pytest.raises(InvalidTypeError, match="options"):
        lab.ValueSolver(economy, "fast")


@pytest.mark.parametrize("rhs, error", [
    ("abc", InvalidTypeError),
    (np.array([1 + 1j, 2.0]), InvalidTypeError),
    (np.zeros((0, 2)), InvalidEconomyError),
    ([[1.0, 2.0], [3.0]], InvalidEconomyError),
    (np.array([True, False]), InvalidTypeError),
    (None, None),  # None means "the resource rows": allowed
], ids=["string", "complex", "shape-0-m", "ragged", "bool", "none"])
def test_rhs_of_wrong_kind(rhs, error):
    """Issue 11, item 14: rhs as a string, complex or of shape (0, m) gave raw errors."""
    solver = lab.ValueSolver(lab.Economy(np.array([[0.1, 0.2], [0.3, 0.0]]), [1.0, 2.0]))
    if error is None:
        assert solver.solve(rhs=rhs).converged
        return
    with pytest.raises(error, match="rhs"):
        solver.solve(rhs=rhs)
    assert issubclass(error, LabError)


# --------------------------------------------------------------------------- numpy scalars


def test_numpy_scalars_in_options():
    """Issue 11, item 14: rtol=np.float32(1e-6) was rejected as if out of range."""
    economy = lab.Economy(np.array([[0.1, 0.2], [0.3, 0.0]]), [1.0, 2.0])
    result = lab.labour_values(economy, rtol=np.float32(1e-6), maxiter=np.int64(100),
                               n_threads=np.int32(1))
    assert result.converged
    options = lab.ValuesOptions(rtol=np.float64(1e-8), maxiter=np.uint16(7))
    assert type(options.rtol) is float and options.rtol == 1e-8
    assert type(options.maxiter) is int and options.maxiter == 7


@pytest.mark.parametrize("kwargs, error, text", [
    (dict(rtol="1e-6"), InvalidTypeError, "rtol must be a real number"),
    (dict(rtol=np.float32(2.0)), InvalidOptionError, r"rtol must be a finite number in \(0"),
    (dict(maxiter=np.float64(10.0)), InvalidTypeError, "maxiter must be a positive int"),
    (dict(maxiter=np.int64(0)), InvalidOptionError, "maxiter must be at least 1"),
    (dict(method=3), InvalidTypeError, "method must be a string"),
    (dict(precision="float16"), InvalidOptionError, "precision"),
    (dict(method="jacobi", precision="float32"), InvalidOptionError, "float32"),
], ids=["rtol-str", "rtol-np-2", "maxiter-np-float", "maxiter-np-0", "method-int",
        "precision", "jacobi-float32"])
def test_option_messages_name_the_problem(kwargs, error, text):
    with pytest.raises(error, match=text):
        lab.ValuesOptions(**kwargs)


# --------------------------------------------------------------------------- productivity


def test_productive_within_1e12_of_one():
    """Issue 11, item 14: ρ = 1 − 1e-12 was reported "not productive … ≥ 1".

    A two-product cycle with ρ(A) = a = 1 − 1e-12 whose column sums exceed 1 (so the
    cheap column-sum proof does not apply); the exact values are v = (I − Aᵀ)⁻¹ l.
    """
    a = 1 - 1e-12
    A = np.array([[0, 2 * a], [a / 2, 0]])
    l = np.array([1.0, 1.0])
    result = lab.labour_values(lab.Economy(A, l))
    assert result.converged
    # exact: v0 = (l0 + a/2·l1)/(1 − a²), v1 = (l1 + 2a·l0)/(1 − a²)
    exact = np.array([l[0] + a / 2 * l[1], l[1] + 2 * a * l[0]]) / (1 - a * a)
    np.testing.assert_allclose(result.values, exact, rtol=1e-3)  # cond ≈ 1e12
    bound = float(result.productivity.split("≤ ")[1].split(" ")[0])
    assert bound < 1.0, result.productivity


def test_productive_within_1e12_block_diagnosis():
    """The same near-1 block found by the block-wise diagnosis (the solve itself fails to
    certify here: zero labour on one product), proven productive by a positive solution."""
    a = 1 - 1e-12
    A = np.zeros((4, 4))
    A[0, 1], A[1, 0] = 2 * a, a / 2
    A[2, 3] = 0.5
    economy = lab.Economy(A, [0.0, 0.0, 1.0, 1.0])
    result = lab.labour_values(economy, method="blocks")
    assert result.converged
    assert "≤ 0.999999999999" in result.productivity or "≤ 0.5" in result.productivity


def test_undecidable_radius_is_not_called_non_productive():
    """ρ within 1e-17 of 1 cannot be decided in float64: the error says so instead of
    claiming ρ ≥ 1."""
    a = 1 - 1e-17  # rounds to 1.0: the block is exactly singular in float64
    A = np.array([[0, 2 * a], [a / 2, 0]])
    with pytest.raises(lab.NotProductiveError) as info:
        lab.labour_values(lab.Economy(A, [1.0, 1.0]))
    text = str(info.value)
    assert "≥ 1" in text or "cannot be proven" in text


# --------------------------------------------------------------------------- fuzz finds


def test_eigensolver_is_not_trusted_for_productivity():
    """Found by the fuzz suite: LAPACK gives eigenvalues (0, 0.25) for this block, whose
    spectral radius is 1.13 (λ² − 0.25λ − 1 = 0); lab answered with negative values,
    CONVERGED. Productivity now needs a proof, and ρ ≥ 1 is shown by Collatz–Wielandt."""
    A = np.array([[0.0, 1e+300], [1e-300, 0.25]])
    for method in METHODS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lab.ConvergenceWarning)
            with pytest.raises(lab.NotProductiveError) as info:
                lab.labour_values(lab.Economy(A, [1e-300, 0.1]), method=method)
        # a proven lower bound (the true radius is 1.13; the bracket may not close on a
        # block whose Perron vector spans 300 orders of magnitude)
        assert 1.0 <= info.value.spectral_radius <= (0.25 + np.sqrt(4.0625)) / 2 + 1e-9


@pytest.mark.parametrize("A, l", [
    ([[0, 0, 0], [0, 0, 0], [1e300, 0, 0]], [1e300, 0.5, 2.5]),
    ([[0.0, 0.0, 0.0], [0.0, 0.0, 1e+300], [0.0, 0.0, 0.0]], [0.0, 1e-300, 0.1]),
], ids=["1e300-column", "1e300-row"])
def test_wrong_sign_is_never_converged(A, l):
    """Found by a random search like the fuzz suite's: Krylov returned all-negative values
    whose normwise residual met the rule (values span 300 orders of magnitude); A ≥ 0 and
    l ≥ 0 give v ≥ 0, so such an answer is reported as not converged."""
    A = np.array(A, dtype=float)
    exact = np.linalg.solve(np.eye(3) - A.T, l)  # small and triangular: exact enough
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lab.ConvergenceWarning)
        krylov = lab.labour_values(lab.Economy(A, l), method="krylov")
    if krylov.converged:
        assert np.all(krylov.values >= -1e-10 * np.abs(krylov.values).max())
    else:
        assert krylov.status == lab.Status.BREAKDOWN and "consistency" in krylov.message
    auto = lab.labour_values(lab.Economy(A, l))
    assert auto.converged and auto.method == "blocks"
    np.testing.assert_allclose(auto.values, exact, rtol=1e-12)


def test_empty_economy_every_resource():
    economy = lab.Economy(np.zeros((0, 0)), np.zeros((2, 0)))
    result = lab.labour_values(economy, resources="all")
    assert result.converged and result.values.shape == (2, 0)
