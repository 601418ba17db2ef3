"""Productivity (ρ(A) < 1, MATH.md §2): non-productive economies raise and name the culprit.

The culprit is checked against independently known groups: products built into the
matrix by hand, and the core of a generated economy (from the generator's own layout).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import BACKENDS, METHODS, assert_values_close, reference_values

import lab
from lab.generate import _generate


def _productive_base(n, seed):
    """A productive n-product economy (dense array) with column sums ≤ 0.5 and codes."""
    rng = np.random.default_rng(seed)
    A = rng.uniform(0, 1, (n, n)) * (rng.uniform(0, 1, (n, n)) < 0.3)
    A *= 0.5 / max(A.sum(axis=0).max(), 1e-300)
    return A, rng.uniform(0.5, 2.0, n)


def _embed(n, groups, seed=0):
    """A productive economy of n products with non-productive groups planted in it.

    ``groups`` maps a tuple of positions to the cycle weight: positions p0 → p1 → ... → p0
    (p_{k+1} uses w units of p_k), a cycle whose block has ρ = w. The planted products
    take inputs from the productive products but supply none of them, so each group is a
    strongly connected component of its own.
    """
    A, l = _productive_base(n, seed)
    planted = sorted(p for g in groups for p in g)
    A[planted, :] = 0.0  # nobody uses a planted product ...
    for group, weight in groups.items():
        k = len(group)
        for a in range(k):
            A[group[a], group[(a + 1) % k]] = weight  # ... except the next in its cycle
            A[group[a], group[a]] = 0.0
    codes = [f"c{j:03d}" for j in range(n)]
    return lab.Economy(A, l, codes=codes), codes


def _expect_not_productive(economy, method, backend, codes):
    with pytest.raises(lab.NotProductiveError) as info:
        lab.labour_values(economy, method=method, backend=backend, maxiter=100_000)
    assert sorted(info.value.codes) == sorted(codes), info.value
    assert sorted(np.asarray(info.value.indices).tolist()) == sorted(
        economy.index_of(codes).tolist())
    assert any(repr(str(c)) in str(info.value) for c in codes), str(info.value)
    return info.value


@pytest.mark.parametrize("diagonal", [1.0, 1.5], ids=["a_jj=1", "a_jj=1.5"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", METHODS)
def test_single_self_reproducing_product(method, backend, diagonal):
    A, l = _productive_base(6, seed=1)
    A[4, :] = 0.0
    A[4, 4] = diagonal  # product 4 uses at least one unit of itself per unit made
    codes = ["corn", "iron", "coal", "milk", "salt", "wood"]
    error = _expect_not_productive(lab.Economy(A, l, codes=codes), method, backend, ["salt"])
    assert error.spectral_radius >= 1.0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", METHODS)
def test_three_cycle_in_productive_economy(method, backend):
    group = (17, 3, 41)
    economy, codes = _embed(60, {group: 1.2})
    error = _expect_not_productive(economy, method, backend, [codes[p] for p in group])
    assert error.spectral_radius == pytest.approx(1.2, rel=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", METHODS)
def test_smaller_of_two_groups_is_named(method, backend):
    small, large = (7, 30), (2, 11, 25, 40)
    economy, codes = _embed(50, {large: 1.3, small: 1.1})
    error = _expect_not_productive(economy, method, backend, [codes[p] for p in small])
    assert "1 other" in str(error)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", METHODS)
def test_generated_nonproductive_names_core(method, backend):
    kwargs = dict(spectral_radius=1.05, allow_nonproductive=True, cyclic_share=0.0,
                  core_share=0.1, seed=11)
    economy = lab.generate_economy(600, **kwargs)
    # The generator's own layout: positions [0, n_core) are the core, perm maps them to
    # product indices. With cyclic_share=0 the core is the only cyclic block.
    gen = _generate(600, mean_inputs=12.0, max_inputs=None, depth=10, core_share=0.1,
                    cyclic_share=0.0, group_size=64, spectral_radius=1.05,
                    allow_nonproductive=True, n_resources=3, supplier_concentration=2.0,
                    seed=11, index_dtype=None)
    core = gen.perm[:gen.n_core]
    assert gen.n_core == 60
    error = _expect_not_productive(economy, method, backend, economy.codes_at(core))
    assert error.spectral_radius == pytest.approx(1.05, rel=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_large_nonproductive_core_bracket(method):
    """A core above the dense-eigensolve size, just above ρ = 1 (Collatz–Wielandt path)."""
    economy = lab.generate_economy(1500, spectral_radius=1.001, allow_nonproductive=True,
                                   core_share=0.5, cyclic_share=0.0, seed=5)
    with pytest.raises(lab.NotProductiveError) as info:
        lab.labour_values(economy, method=method)
    assert len(info.value.codes) == 750


def _just_productive_cases():
    for method in METHODS:
        # Jacobi needs ~25 000 sweeps at ρ = 0.999 (over a minute): left out.
        if method != "jacobi":
            yield pytest.param(method, 300, 0.3, id=f"dense-eig-core-{method}")
            yield pytest.param(method, 1500, 0.5, id=f"bracket-core-{method}")


@pytest.mark.parametrize("method, n, core_share", list(_just_productive_cases()))
def test_just_productive_accepted(method, n, core_share, request):
    economy = lab.generate_economy(n, spectral_radius=0.999, core_share=core_share,
                                   cyclic_share=0.0, seed=5)
    result = lab.labour_values(economy, method=method, rtol=1e-12, raise_on_failure=True)
    assert_values_close(result.values, reference_values(economy.A, economy.labour), 1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", METHODS)
def test_column_sums_above_one_but_productive(method, backend):
    # Physical units: A₀ has column sums 0.6 in money; measuring product 0 in grams
    # (1 unit = 1000 g) rescales A = D⁻¹ A₀ D, same spectrum, column sums far above 1.
    A0 = np.array([[0.2, 0.3, 0.1], [0.3, 0.1, 0.2], [0.1, 0.2, 0.3]])
    d = np.array([1e-3, 1.0, 50.0])
    A = A0 / d[:, None] * d[None, :]
    assert A.sum(axis=0).max() > 1 and A.sum(axis=1).max() > 1
    l0 = np.array([1.0, 2.0, 3.0])
    l = l0 * d  # labour per physical unit
    result = lab.labour_values(lab.Economy(A, l), method=method, backend=backend, rtol=1e-12,
                               raise_on_failure=True)
    v0 = np.linalg.solve(np.eye(3) - A0.T, l0)
    np.testing.assert_allclose(result.values, v0 * d, rtol=1e-9)


def test_value_solver_raises_on_solve():
    economy, codes = _embed(20, {(1, 2, 3): 1.2})
    solver = lab.ValueSolver(economy)  # productivity is proven (or refuted) by the solve
    with pytest.raises(lab.NotProductiveError) as info:
        solver.solve()
    assert sorted(info.value.codes) == sorted(codes[i] for i in (1, 2, 3))


def test_sparse_input_and_sparse_error_indices():
    economy, codes = _embed(40, {(5, 6, 7): 1.2})
    sparse = lab.Economy(sp.csr_array(economy.A), economy.R, codes=codes)
    with pytest.raises(lab.NotProductiveError) as info:
        lab.labour_values(sparse, method="blocks")
    assert sorted(info.value.codes) == ["c005", "c006", "c007"]


def test_a_proof_serves_later_solves_until_an_update(monkeypatch):
    """A right-hand side with zeros proves nothing (its products' values equal their
    inputs' worth, a Collatz–Wielandt ratio of 1); the proof of an earlier solve serves
    until ``update`` changes the coefficients, after which the next solve proves again."""
    from lab.values import _structure

    A, _ = _productive_base(60, seed=4)
    d = np.geomspace(1.0, 1e3, 60)
    A = A * d[None, :] / d[:, None]  # the same spectrum, column sums far above 1
    codes = [f"c{i}" for i in range(60)]
    solver = lab.ValueSolver(lab.Economy(A, np.ones(60), codes=codes), method="blocks")
    assert solver.column_bound >= 1.0
    first = solver.solve(rhs=np.ones(60))
    assert "Collatz–Wielandt" in first.productivity

    def forbidden(*args, **kwargs):
        raise AssertionError("productivity was proved again")

    monkeypatch.setattr(_structure, "diagnose", forbidden)
    monkeypatch.setattr(_structure, "certify", forbidden)
    rhs = np.zeros(60)
    rhs[0] = 1.0
    again = solver.solve(rhs=rhs)
    assert again.converged and again.productivity == first.productivity
    np.testing.assert_allclose(again.values, np.linalg.solve(np.eye(60) - A.T, rhs),
                               rtol=1e-9, atol=1e-12)
    nonzero = np.flatnonzero(A)
    i, j = np.unravel_index(nonzero[0], A.shape)
    solver.update({(codes[i], codes[j]): 0.5 * A[i, j]})
    with pytest.raises(AssertionError, match="proved again"):
        solver.solve(rhs=np.ones(60))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", METHODS)
def test_values_with_zeros_proven_by_a_solve_with_positive_rhs(monkeypatch, backend,
                                                               method):
    """Values with zeros prove nothing (a product with neither inputs nor labour is
    worth 0); one more solve, with right-hand side 1, proves ρ(A) < 1 instead of the
    block-wise diagnosis (which fails the test here). The bound is at least ρ(A) from
    dense eigenvalues and below 1; the economy keeps the proof for the next solver; an
    economy that is not productive still gets the diagnosis and its named culprit."""
    from lab.values import _structure

    A, labour = _productive_base(60, seed=5)
    d = np.geomspace(1.0, 1e3, 60)
    A = A * d[None, :] / d[:, None]  # the same spectrum, column sums far above 1
    A[:, 7] = 0.0  # product 7 uses no inputs ...
    labour[7] = 0.0  # ... and no labour: worth 0
    economy = lab.Economy(A, labour, codes=[f"c{i}" for i in range(60)])

    def forbidden(*args, **kwargs):
        raise AssertionError("the block-wise diagnosis ran")

    monkeypatch.setattr(_structure, "diagnose", forbidden)
    result = lab.labour_values(economy, method=method, backend=backend, rtol=1e-12)
    assert result.converged and result.values[7] == 0.0, result.message
    assert "right-hand side 1" in result.productivity, result.productivity
    bound = float(result.productivity.split("≤ ")[1].split(" ")[0])
    rho = max(abs(np.linalg.eigvals(A)))
    assert rho <= bound < 1.0
    np.testing.assert_allclose(result.values, np.linalg.solve(np.eye(60) - A.T, labour),
                               rtol=1e-9, atol=1e-12)

    def no_second_solve(*args, **kwargs):
        raise AssertionError("proved again")

    monkeypatch.setattr(lab.ValueSolver, "_positive_proof", no_second_solve)
    again = lab.labour_values(economy, method=method, backend=backend, rtol=1e-12)
    assert again.productivity == result.productivity
    monkeypatch.undo()

    B = A.copy()
    B[[20, 21], :] = 0.0
    B[20, 21] = B[21, 20] = 1.1  # a planted cycle with ρ = 1.1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lab.ConvergenceWarning)
        with pytest.raises(lab.NotProductiveError) as info:
            lab.labour_values(lab.Economy(B, labour, codes=[f"c{i}" for i in range(60)]),
                              method=method, backend=backend)
    assert sorted(info.value.codes) == ["c20", "c21"]


def test_certify_bound_and_its_refusals(monkeypatch):
    """The Collatz–Wielandt bound from a solution: above the largest computed ratio by
    the rounding margin of the longest row (larger where that is unknown), and no bound
    where a value is not positive or anything is not finite, in any slice of the pass;
    the same from the extremes every backend's residual_quotients reads in the check."""
    from lab import _ops
    from lab.values import _structure

    certify = _structure.certify

    def both_ways(b, v, Atv, longest=None):
        plain = certify(b, v, Atv, longest)
        for backend in _ops.available_backends():
            out = np.empty(5)
            _ops.kernels(backend).residual_quotients(b, Atv, v, out)
            assert out[1] == np.abs(v).max() or np.isnan(out[1])
            fused = certify(b, v, Atv, longest, extremes=(out[2], out[3], out[4], out[1]))
            assert fused == plain, backend
        return plain

    monkeypatch.setattr(_structure, "certify", both_ways)
    n = 3 * _structure._SLICE + 17  # slices, the last one short
    rng = np.random.default_rng(7)
    v = rng.uniform(0.5, 2.0, n)
    Atv = v * rng.uniform(0.0, 0.9, n)
    longest = 12
    bound = _structure.certify(np.ones(n), v, Atv, longest)
    ratio = np.max(Atv / v)
    k = longest + 1
    assert bound == pytest.approx(ratio * (1 + 2 * k * 2.0**-53), rel=1e-15)
    assert ratio < bound < 1.0
    assert bound < _structure.certify(np.ones(n), v, Atv) < 1.0
    for at in (0, _structure._SLICE + 5, n - 1):
        for bad in (0.0, -1e-3, np.nan, np.inf):
            w = v.copy()
            w[at] = bad
            assert _structure.certify(np.ones(n), w, Atv, longest) is None
        for bad in (np.nan, np.inf, -np.inf):
            w = Atv.copy()
            w[at] = bad
            assert _structure.certify(np.ones(n), v, w, longest) is None
    Atv[5] = 0.95 * v[5]  # the largest ratio decides, wherever it is
    assert _structure.certify(np.ones(n), v, Atv, longest) == pytest.approx(0.95, rel=1e-14)
    assert _structure.longest_row(np.array([0, 3, 3, 10, 11])) == 7
