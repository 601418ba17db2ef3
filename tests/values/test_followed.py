"""The first solve of a ``blocks`` solver with the structure analysis running alongside
(``_Run._followed_pass``): the same analysis, the same values to the bit, the same
decisions and errors as analysing first and solving after."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import assert_values_close, reference_values

import lab
from lab import _ops
from lab.exceptions import NotProductiveError
from lab.values import _solver

pytestmark = pytest.mark.skipif("cython" not in _ops.available_backends(),
                                reason="the followed pass needs the Cython kernels")


@pytest.fixture(autouse=True)
def follow_small_economies(monkeypatch):
    monkeypatch.setattr(_solver, "FOLLOW_MIN_PRODUCTS", 0)


def _pair(economy, **options):
    """A solver that follows the analysis (2 threads) and one that analyses first (1
    thread: the analysis cannot overlap), on separate copies of the economy (the
    analysis is cached on it)."""
    copy = lab.Economy(economy.A.copy(), economy.R.copy(), codes=economy.codes)
    followed = lab.ValueSolver(economy, backend="cython", n_threads=2, **options)
    plain = lab.ValueSolver(copy, backend="cython", n_threads=1, **options)
    return followed, plain


ECONOMIES = {
    # closed core first in the order, small cycles
    "core": dict(n=4000, seed=3, core_share=0.05, cyclic_share=0.1, group_size=8),
    # cyclic groups of up to 300 products: large blocks with outside inputs, anywhere
    "large groups": dict(n=6000, seed=4, core_share=0.02, cyclic_share=0.5, group_size=300),
    "no cycles": dict(n=3000, seed=5, core_share=0.0005, cyclic_share=0.0, group_size=1),
    # int64 indices: the search's outputs int64, the solver's narrowed copy of A int32
    "int64": dict(n=3000, seed=6, core_share=0.05, cyclic_share=0.1, group_size=8,
                  index_dtype=np.int64),
}


def _generated(n, seed, **kwargs):
    return lab.generate_economy(n, seed=seed, spectral_radius=0.9, **kwargs)


@pytest.mark.parametrize("method", ["auto", "blocks"])
@pytest.mark.parametrize("name", list(ECONOMIES))
def test_followed_first_solve_equals_analyse_then_solve(name, method):
    economy = _generated(**ECONOMIES[name])
    followed, plain = _pair(economy, method=method, rtol=1e-11)
    assert followed._deferred and not plain._deferred
    got, want = followed.solve(), plain.solve()
    assert not followed._deferred
    assert got.converged and want.converged
    assert np.array_equal(got.values, want.values)
    assert got.iterations == want.iterations and got.method == want.method == "blocks"
    assert got.method_reason == want.method_reason
    S, T = followed.structure, plain.structure
    for a, b in [(S.order, T.order), (S.position, T.position), (S.block_ptr, T.block_ptr)]:
        assert np.array_equal(a, b)
    assert [(b.s, b.e, b.closed) for b in followed._large] == \
        [(b.s, b.e, b.closed) for b in plain._large]
    assert_values_close(got.values, reference_values(economy.A, economy.labour), 1e-9,
                        name)
    # later solves run on the structure found, as the other solver's do
    assert np.array_equal(followed.solve().values, plain.solve().values)


def test_large_blocks_are_met_and_solved_in_order():
    economy = _generated(**ECONOMIES["large groups"])
    followed, plain = _pair(economy, method="blocks")
    followed.solve()
    sizes = followed.structure.block_sizes
    assert np.count_nonzero(sizes > _solver.DENSE_BLOCK) >= 3
    assert not all(blk.closed for blk in followed._large)


def test_several_right_hand_sides_and_float32():
    economy = _generated(**ECONOMIES["large groups"])
    followed, plain = _pair(economy, method="blocks")
    assert np.array_equal(followed.solve(resources="all").values,
                          plain.solve(resources="all").values)
    followed, plain = _pair(economy, method="blocks", precision="float32")
    got, want = followed.solve(), plain.solve()
    assert got.converged and np.array_equal(got.values, want.values)


def test_auto_switches_to_krylov_on_a_giant_block():
    """One strongly connected block with most of the non-zeros, and enough chain ends
    for the analysis to run: auto solves by Krylov either way."""
    rng = np.random.default_rng(8)
    n, core = 3000, 2500
    A = sp.random(core, core, density=12 / core, random_state=rng, format="csc")
    A = sp.block_diag([A, sp.csc_array((n - core, n - core))], format="lil")
    A[rng.integers(0, core, n - core), np.arange(core, n)] = 0.1  # chain ends using it
    A = sp.csc_array(A)
    A = A * (0.9 / max(float(A.sum(axis=0).max()), 1e-300))
    economy = lab.Economy(A, rng.uniform(0.5, 1.5, n))
    followed, plain = _pair(economy, rtol=1e-10)
    assert followed._deferred
    got, want = followed.solve(), plain.solve()
    assert got.method == want.method == "krylov"
    assert got.method_reason == want.method_reason
    assert got.converged and want.converged
    np.testing.assert_allclose(got.values, want.values, rtol=1e-9)
    assert_values_close(got.values, reference_values(economy.A, economy.labour), 1e-9,
                        "giant")


def test_not_productive_is_reported_the_same():
    economy = lab.generate_economy(3000, seed=9, spectral_radius=1.05,
                                   allow_nonproductive=True, core_share=0.05)
    followed, plain = _pair(economy)
    with pytest.raises(NotProductiveError) as got:
        followed.solve()
    with pytest.raises(NotProductiveError) as want:
        plain.solve()
    assert str(got.value) == str(want.value)


def test_structure_or_update_before_the_first_solve():
    economy = _generated(**ECONOMIES["core"])
    followed, plain = _pair(economy)
    assert followed.structure.n_blocks == plain.structure.n_blocks  # analysed at once
    assert not followed._deferred
    assert np.array_equal(followed.solve().values, plain.solve().values)

    followed, plain = _pair(economy)
    A = sp.coo_array(economy.A)
    codes = economy.codes
    changes = {(codes[i], codes[j]): 0.9 * x
               for i, j, x in zip(A.row[::40], A.col[::40], A.data[::40], strict=True)}
    for solver in (followed, plain):
        solver.update(changes)
    assert np.array_equal(followed.solve().values, plain.solve().values)


def test_an_error_in_the_search_thread_reaches_the_caller(monkeypatch):
    real = _ops.kernels("cython")

    class Failing:
        def __getattr__(self, name):
            return getattr(real, name)

        @staticmethod
        def strongly_connected_components(*args):
            raise MemoryError("no room for the search")

    economy = _generated(**ECONOMIES["core"])
    solver = lab.ValueSolver(economy, backend="cython", n_threads=2)
    assert solver._deferred
    monkeypatch.setattr(_solver._ops, "kernels", lambda backend: Failing())
    with pytest.raises(MemoryError, match="no room"):
        solver.solve()


def test_bulk_row_changes_before_the_first_solve():
    """Policy iteration's bulk update on a solver that has not solved yet analyses first:
    the same values as a solver that analysed at once."""
    from lab.values import _update

    economy = _generated(**ECONOMIES["core"])
    followed, plain = _pair(economy)
    assert followed._deferred
    products = np.arange(0, economy.n_products, 97)
    A = economy.A
    lengths = np.diff(A.indptr)[products]
    values = np.concatenate([0.5 * A.data[A.indptr[j]:A.indptr[j + 1]] for j in products])
    for solver in (followed, plain):
        _update.replace_rows(solver, products, lengths, values, np.full(products.size, 2.0))
    assert not followed._deferred
    assert np.array_equal(followed.solve().values, plain.solve().values)
