"""Tests of lab.generate: structure, exact spectral radius, determinism, validation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import eigs

from lab.economy import Economy
from lab.generate import _generate, generate_economy


def _same(a: sp.csc_array, b: sp.csc_array) -> bool:
    return (
        a.shape == b.shape
        and np.array_equal(a.indptr, b.indptr)
        and np.array_equal(a.indices, b.indices)
        and np.array_equal(a.data, b.data)
    )


@pytest.fixture(scope="module")
def medium():
    return _generate(20_000, seed=7)


def test_returns_economy_canonical_csc():
    eco = generate_economy(3000, seed=1)
    assert isinstance(eco, Economy)
    A = eco.A
    assert isinstance(A, sp.csc_array)
    assert A.shape == (3000, 3000)
    assert A.dtype == np.float64
    assert A.indices.dtype == np.int32 and A.indptr.dtype == np.int32
    assert eco.R.shape == (3, 3000) and eco.R.dtype == np.float64
    assert list(eco.resource_names) == ["labour", "energy", "co2"]
    # Canonical: sorted indices, no duplicates, within range.
    for j in range(A.shape[1]):
        col = A.indices[A.indptr[j]:A.indptr[j + 1]]
        assert np.all(np.diff(col) > 0)
    assert A.indices.min() >= 0 and A.indices.max() < 3000


def test_economy_takes_generated_arrays_without_copy(medium):
    eco = Economy(medium.A, medium.R, resource_names=medium.resource_names)
    assert np.shares_memory(eco.A.data, medium.A.data)
    assert np.shares_memory(eco.A.indices, medium.A.indices)


def test_deterministic_by_seed():
    a = generate_economy(5000, seed=123)
    b = generate_economy(5000, seed=123)
    c = generate_economy(5000, seed=124)
    assert _same(a.A, b.A)
    assert np.array_equal(a.R, b.R)
    assert not _same(a.A, c.A)
    # A Generator seed works and is deterministic too.
    d = generate_economy(5000, seed=np.random.default_rng(5))
    e = generate_economy(5000, seed=np.random.default_rng(5))
    assert _same(d.A, e.A)


def test_deterministic_across_chunks():
    # More than one chunk of products: still reproducible.
    a = _generate(140_000, mean_inputs=3.0, seed=3)
    b = _generate(140_000, mean_inputs=3.0, seed=3)
    assert _same(a.A, b.A)


def test_nnz_close_to_mean_inputs(medium):
    n = medium.A.shape[0]
    assert 0.93 * 12 * n <= medium.A.nnz <= 1.02 * 12 * n


def test_nonnegative_finite(medium):
    A, R = medium.A, medium.R
    assert np.all(np.isfinite(A.data)) and np.all(A.data > 0)
    assert np.all(np.isfinite(R)) and np.all(R >= 0)
    assert np.all(R[0] > 0)  # labour for every product
    assert np.any(R[1] == 0) and np.any(R[2] == 0)  # some zeros in other resources


def test_column_property_exact(medium):
    # p^T A = rho p^T to rounding, for every column.
    p = medium.prices
    lhs = p @ medium.A
    np.testing.assert_allclose(lhs, 0.9 * p, rtol=1e-12)


@pytest.mark.parametrize("rho", [0.5, 0.9, 0.99])
def test_spectral_radius_dense(rho):
    eco = generate_economy(600, spectral_radius=rho, seed=11)
    ev = np.linalg.eigvals(eco.A.toarray())
    assert abs(np.abs(ev).max() - rho) < 1e-10


@pytest.mark.parametrize("rho", [0.5, 0.9, 0.99])
def test_spectral_radius_eigs(rho):
    eco = generate_economy(2000, spectral_radius=rho, seed=2)
    val = eigs(eco.A, k=1, which="LM", return_eigenvectors=False, tol=1e-12)
    assert abs(abs(val[0]) - rho) < 1e-8


def test_spectral_radius_power_iteration():
    # Collatz-Wielandt bounds from a power iteration bracket rho(A).
    eco = generate_economy(2000, spectral_radius=0.7, seed=4)
    At = eco.A.T.tocsr()
    x = np.ones(2000)
    for _ in range(400):
        y = At @ x
        x = y / y.max()
    y = At @ x
    ratio = y[x > 1e-8] / x[x > 1e-8]
    assert ratio.max() >= 0.7 - 1e-8
    assert abs(np.median(ratio[ratio > 0.69]) - 0.7) < 1e-6


def test_chain_blocks_strictly_below_core():
    gen = _generate(600, spectral_radius=0.9, seed=8, cyclic_share=0.3, group_size=8)
    A = gen.A.toarray()
    core = gen.perm[: gen.n_core]
    chain = gen.perm[gen.n_core:]
    rho_core = np.abs(np.linalg.eigvals(A[np.ix_(core, core)])).max()
    rho_chain = np.abs(np.linalg.eigvals(A[np.ix_(chain, chain)])).max()
    assert abs(rho_core - 0.9) < 1e-10
    assert rho_chain < 0.9 - 1e-6


def test_scc_structure(medium):
    gen = medium
    ncomp, labels = connected_components(gen.A, directed=True, connection="strong")
    sizes = np.bincount(labels)
    core_labels = labels[gen.perm[: gen.n_core]]
    assert np.all(core_labels == core_labels[0])
    assert sizes[core_labels[0]] == gen.n_core == 1000
    others = np.delete(sizes, core_labels[0])
    assert others.max() <= 64
    assert np.count_nonzero(others > 1) > 10  # there are local cycles


def test_scc_bounded_by_group_size():
    gen = _generate(4000, cyclic_share=0.5, group_size=5, seed=9)
    _, labels = connected_components(gen.A, directed=True, connection="strong")
    sizes = np.bincount(labels)
    core_label = labels[gen.perm[0]]
    assert sizes[core_label] == gen.n_core
    assert np.delete(sizes, core_label).max() <= 5


def test_core_uses_only_core(medium):
    gen = medium
    is_core = np.zeros(gen.A.shape[0], dtype=bool)
    is_core[gen.perm[: gen.n_core]] = True
    A = gen.A
    core_cols = np.flatnonzero(is_core)
    sub = A[:, core_cols]
    assert np.all(is_core[sub.indices])


def test_heavy_tails(medium):
    A = medium.A
    n_inputs = np.diff(A.indptr)
    n_users = np.bincount(A.indices, minlength=A.shape[0])
    assert n_inputs.min() >= 1
    assert n_inputs.max() > 10 * n_inputs.mean()
    assert n_users.max() > 50 * n_users.mean()


def test_permutation_hides_layout(medium):
    # The core is scattered over the product order, not a leading block.
    core = np.sort(medium.perm[: medium.n_core])
    assert core[-1] - core[0] > 0.9 * medium.A.shape[0]


def test_int64_indices():
    eco = generate_economy(3000, seed=1, index_dtype=np.int64)
    assert eco.A.indices.dtype == np.int64 and eco.A.indptr.dtype == np.int64
    ref = generate_economy(3000, seed=1)
    assert np.array_equal(eco.A.indices, ref.A.indices)
    assert np.array_equal(eco.A.data, ref.A.data)


def test_small_and_edge_sizes():
    one = generate_economy(1, seed=0, spectral_radius=0.5)
    assert one.A.toarray().tolist() == [[0.5]]
    for n in (2, 3, 10, 65):
        eco = generate_economy(n, seed=n)
        assert eco.A.shape == (n, n)
        assert abs(np.abs(np.linalg.eigvals(eco.A.toarray())).max() - 0.9) < 1e-10
    all_core = _generate(300, core_share=1.0, seed=1)
    assert connected_components(all_core.A, connection="strong")[0] == 1


def test_resources_more_rows():
    eco = generate_economy(500, n_resources=6, seed=1)
    assert list(eco.resource_names) == [
        "labour", "energy", "co2", "land", "resource_4", "resource_5"]
    assert np.all(eco.R[0] > 0)
    labour_only = generate_economy(500, n_resources=1, seed=1)
    assert labour_only.R.shape == (1, 500)


def test_nonproductive_on_request():
    eco = generate_economy(500, spectral_radius=1.2, allow_nonproductive=True, seed=1)
    assert abs(np.abs(np.linalg.eigvals(eco.A.toarray())).max() - 1.2) < 1e-10
    assert np.all(eco.R[0] > 0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_products": 0}, "n_products"),
        ({"n_products": 2.5}, "n_products"),
        ({"spectral_radius": 0.0}, "spectral_radius"),
        ({"spectral_radius": -0.5}, "spectral_radius"),
        ({"spectral_radius": 1.0}, "spectral_radius"),
        ({"spectral_radius": float("nan")}, "spectral_radius"),
        ({"mean_inputs": 0.5}, "mean_inputs"),
        ({"depth": 0}, "depth"),
        ({"core_share": 0.0}, "core_share"),
        ({"core_share": 1.5}, "core_share"),
        ({"cyclic_share": 1.0}, "cyclic_share"),
        ({"cyclic_share": -0.1}, "cyclic_share"),
        ({"group_size": 0}, "group_size"),
        ({"n_resources": 0}, "n_resources"),
        ({"index_dtype": np.float64}, "index_dtype"),
        ({"max_inputs": 0}, "max_inputs"),
        ({"supplier_concentration": 0.5}, "supplier_concentration"),
    ],
)
def test_bad_parameters(kwargs, name):
    args = {"n_products": 100, **kwargs}
    n = args.pop("n_products")
    with pytest.raises(ValueError, match=name):
        generate_economy(n, **args)


@pytest.mark.parametrize("alternatives", [0.0, 1.0])
def test_capacities_follow_the_exact_need(alternatives):
    """Every capacity is 0.5–1.5 times what meeting the targets with the original
    techniques needs, by a dense solve; the half of that plan fits every capacity and
    resource, so the plan ray reaches at least 0.5."""
    from lab.generate import generate_planning_problem

    problem = generate_planning_problem(2000, seed=0, alternatives=alternatives,
                                        limit_resources=3, capacities=0.3)
    m = problem.n_products
    economy = generate_economy(m, seed=np.random.default_rng(0).integers(2**31))
    need = np.linalg.solve(np.eye(m) - economy.A.toarray(), problem.targets)
    made = np.arange(m) if problem.B is None else \
        sp.csc_array(problem.B).toarray().argmax(axis=0)  # the product of each technique
    base = need[made]
    capped = np.isfinite(problem.capacities)
    assert capped.mean() > 0.2
    ratio = problem.capacities[capped] / base[capped]
    assert np.all((ratio >= 0.5 - 1e-6) & (ratio <= 1.5 + 1e-6))
    half = np.zeros(problem.n_techniques)
    half[:m] = 0.5 * np.maximum(need, 0.0)
    assert np.all(half <= problem.capacities * (1 + 1e-9))
    limited = np.isfinite(problem.available)
    assert np.all(problem.R[limited] @ half <= problem.available[limited])
