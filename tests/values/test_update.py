"""Real-time updates: ``ValueSolver.update`` then ``solve`` equals a cold solve of the
changed economy (independent reference: a direct sparse LU solve with scipy).

Cases: coefficients changed inside a cyclic block, between blocks, a link that creates a
new cycle (blocks merge), links removed, labour changed, several updates in a row.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import BACKENDS, METHODS, assert_values_close, reference_values
from numpy.testing import assert_allclose, assert_array_equal

import lab
from lab import _ops
from lab.exceptions import InvalidEconomyError, InvalidTypeError

RTOL = 1e-12


def _economy(n=3000, seed=7, **kwargs):
    kwargs.setdefault("core_share", 0.2)
    kwargs.setdefault("cyclic_share", 0.1)
    kwargs.setdefault("group_size", 8)
    return lab.generate_economy(n, seed=seed, spectral_radius=0.9, **kwargs)


def _changed(economy, changes, labour=None):
    """A and l of the changed economy, built independently with scipy."""
    A = sp.lil_array(economy.A)
    idx = {c: i for i, c in enumerate(economy.codes)}
    for (i, j), value in changes.items():
        A[idx[i], idx[j]] = value
    l = economy.labour.copy()
    if isinstance(labour, dict):
        for code, value in labour.items():
            l[idx[code]] = value
    elif labour is not None:
        l = np.asarray(labour, dtype=float)
    return sp.csc_array(A), l


def _blocks(economy):
    from scipy.sparse.csgraph import connected_components

    _, labels = connected_components(sp.csr_array(economy.A), directed=True,
                                     connection="strong")
    return labels


def _cyclic_pairs(economy, rng, count, *, same_block):
    """Existing links (input, product) inside one cyclic block, or between blocks."""
    labels = _blocks(economy)
    A = economy.A.tocoo()
    inside = labels[A.row] == labels[A.col]
    pick = np.flatnonzero(inside if same_block else ~inside)
    chosen = rng.choice(pick, size=count, replace=False)
    codes = economy.codes
    return {(codes[A.row[k]], codes[A.col[k]]): float(A.data[k] * rng.uniform(0.5, 1.5))
            for k in chosen}


def _check(solver, economy, changes, labour=None):
    A, l = _changed(economy, changes, labour)
    solver.update(changes, labour=labour)
    result = solver.solve()
    assert result.converged, result.message
    assert result.residual <= RTOL
    assert_values_close(result.values, reference_values(A, l), 1e-9, "update")
    # the solver's economy is the changed one
    assert abs(solver.economy.A - A).max() == 0
    assert np.array_equal(solver.economy.labour, l)
    return result, A, l


def _cases():
    for method in METHODS:
        for backend in BACKENDS:
            yield pytest.param(method, backend, id=f"{method}-{backend}")


@pytest.mark.parametrize("method, backend", list(_cases()))
def test_change_inside_a_cyclic_block(method, backend):
    economy = _economy()
    rng = np.random.default_rng(1)
    solver = lab.ValueSolver(economy, method=method, backend=backend, rtol=RTOL)
    cold = solver.solve()
    changes = _cyclic_pairs(economy, rng, 20, same_block=True)
    result, _, _ = _check(solver, economy, changes)
    if method == "krylov":
        # warm from the last values: fewer iterations than the cold solve
        assert result.matvecs < cold.matvecs
    elif method == "blocks":
        # one substitution pass, as cold (the start serves the large blocks' Krylov only)
        assert result.iterations == 1 and result.matvecs <= cold.matvecs


@pytest.mark.parametrize("method, backend", list(_cases()))
def test_change_between_blocks_and_labour(method, backend):
    economy = _economy()
    rng = np.random.default_rng(2)
    solver = lab.ValueSolver(economy, method=method, backend=backend, rtol=RTOL)
    solver.solve()
    changes = _cyclic_pairs(economy, rng, 30, same_block=False)
    codes = economy.codes
    labour = {codes[k]: float(rng.uniform(0.1, 2.0)) for k in rng.choice(3000, 25)}
    _check(solver, economy, changes, labour)


def test_new_link_consistent_with_order_keeps_blocks():
    """product j starts using an input i that comes earlier in the dependency order."""
    economy = _economy()
    solver = lab.ValueSolver(economy, method="blocks", rtol=RTOL)
    solver.solve()
    S = solver.structure
    i, j = int(S.order[10]), int(S.order[-10])  # i early, j late: j may use i
    assert economy.A[i, j] == 0
    codes = economy.codes
    n_blocks = S.n_blocks
    _check(solver, economy, {(codes[i], codes[j]): 0.05})
    assert solver.structure.n_blocks == n_blocks


@pytest.mark.parametrize("backend", BACKENDS)
def test_new_link_creates_a_cycle(backend):
    """An early product starts using a late one (the late one depends on it): the
    components between them merge, and the answer equals a cold solve."""
    economy = _economy(core_share=0.05, cyclic_share=0.02)
    solver = lab.ValueSolver(economy, method="blocks", backend=backend, rtol=RTOL)
    solver.solve()
    S = solver.structure
    labels = _blocks(economy)
    # j late in the order with an input path back to an early product i
    j = int(S.order[-1])
    A = economy.A
    i = int(A.indices[A.indptr[j]])  # a direct input of j: j uses i, so i comes first
    assert labels[i] != labels[j]
    codes = economy.codes
    changes = {(codes[j], codes[i]): 0.02}  # now i uses j too: a new cycle i -> j -> i
    n_blocks = S.n_blocks
    _check(solver, economy, changes)
    A_new, _ = _changed(economy, changes)
    from scipy.sparse.csgraph import connected_components

    expected = connected_components(sp.csr_array(A_new), directed=True,
                                    connection="strong")[0]
    assert solver.structure.n_blocks == expected < n_blocks
    order, ptr = solver.structure.order, solver.structure.block_ptr
    # the block order is still dependencies-first for the new pattern
    position = solver.structure.position
    block_of = np.searchsorted(ptr, position, side="right") - 1
    C = sp.coo_array(A_new)
    assert np.all(block_of[C.row] <= block_of[C.col])
    assert sorted(order.tolist()) == list(range(economy.n_products))


@pytest.mark.parametrize("method", METHODS)
def test_removed_links_and_repeated_updates(method):
    economy = _economy(n=1500)
    rng = np.random.default_rng(3)
    solver = lab.ValueSolver(economy, method=method, rtol=RTOL)
    solver.solve()
    total = {}
    for round_ in range(3):
        changes = _cyclic_pairs(economy, rng, 10, same_block=bool(round_ % 2))
        for key in list(changes)[:3]:
            changes[key] = 0.0  # removed
        total.update(changes)
        A, l = _changed(economy, total)
        solver.update(changes)
        result = solver.solve()
        assert result.converged
        assert_values_close(result.values, reference_values(A, l), 1e-9)


def test_labour_as_array_and_other_rows_unchanged():
    economy = _economy(n=800)
    solver = lab.ValueSolver(economy, rtol=RTOL)
    new_l = economy.labour * 2.0
    solver.update(labour=new_l)
    assert_values_close(solver.solve().values, reference_values(economy.A, new_l), 1e-9)
    energy = solver.solve(resources="energy")
    assert_values_close(energy.values, reference_values(economy.A, economy.R[1]), 1e-9)


def test_labour_changed_after_solves_on_the_level_ordered_copy():
    # from the second solve a blocks solver keeps the right-hand side in level order
    # beside its copy of Aᵀ: a change of labour, in place, must not reuse it
    economy = _economy(n=2000)
    solver = lab.ValueSolver(economy, method="blocks", rtol=RTOL)
    for _ in range(3):
        solver.solve()
    energy = solver.solve(resources="energy")  # other rows in between
    assert_values_close(energy.values, reference_values(economy.A, economy.R[1]), 1e-9)
    rng = np.random.default_rng(5)
    for _ in range(2):
        picked = rng.choice(economy.n_products, 50, replace=False)
        new_l = solver.economy.labour.copy()
        new_l[picked] *= rng.uniform(0.5, 2.0, picked.size)
        solver.update(labour={f"P{i}": float(new_l[i]) for i in picked})
        result = solver.solve()
        # one pass: a stale right-hand side would be caught by the check, at the cost
        # of a refinement
        assert result.iterations == 1
        assert_values_close(result.values, reference_values(economy.A, new_l), 1e-9)
    new_l = new_l * 1.5
    solver.update(labour=new_l)
    result = solver.solve()
    assert result.iterations == 1
    assert_values_close(result.values, reference_values(economy.A, new_l), 1e-9)


def test_float32_storage_with_updates():
    economy = _economy(core_share=0.6)
    rng = np.random.default_rng(4)
    solver = lab.ValueSolver(economy, precision="float32", rtol=1e-11)
    first = solver.solve()
    assert first.converged and first.precision == "float32"
    changes = _cyclic_pairs(economy, rng, 15, same_block=True)
    A, l = _changed(economy, changes)
    solver.update(changes)
    result = solver.solve()
    assert result.converged and result.residual <= 1e-11
    assert_values_close(result.values, reference_values(A, l), 1e-8)


def test_update_that_breaks_productivity():
    A = np.array([[0.0, 0.5], [0.5, 0.0]])
    solver = lab.ValueSolver(lab.Economy(A, [1.0, 1.0], codes=["a", "b"]))
    assert solver.solve().converged
    solver.update({("a", "b"): 3.0})
    with pytest.raises(lab.NotProductiveError):
        solver.solve()


def test_economy_is_not_mutated():
    economy = _economy(n=600)
    A_before = economy.A.copy()
    l_before = economy.labour.copy()
    solver = lab.ValueSolver(economy)
    solver.update({(economy.codes[1], economy.codes[2]): 0.3}, labour={economy.codes[5]: 9.0})
    solver.solve()
    assert abs(economy.A - A_before).max() == 0
    assert np.array_equal(economy.labour, l_before)
    assert solver.economy is not economy


@pytest.mark.parametrize("changes, labour, error, text", [
    ({("P1", "nope"): 0.1}, None, InvalidEconomyError, "nope"),
    ({("P1", "P2"): -0.1}, None, InvalidEconomyError, "≥ 0"),
    ({("P1", "P2"): float("nan")}, None, InvalidEconomyError, "finite"),
    ({"P1": 0.1}, None, InvalidEconomyError, "pair"),
    ({("P1", "P2"): "0.1"}, None, InvalidEconomyError, "real number"),
    ([("P1", "P2", 0.1)], None, InvalidTypeError, "mapping"),
    (None, np.ones(5), InvalidEconomyError, "length"),
    (None, {"P1": -1.0}, InvalidEconomyError, "≥ 0"),
    ({("P1", "P2"): 0.2, ("P2", "P3"): float("inf")}, None, InvalidEconomyError,
     r"\('P2', 'P3'\).*finite"),
    ({("P1", "P2"): True}, None, InvalidEconomyError, "real number"),
], ids=["unknown-code", "negative", "nan", "not-a-pair", "string", "list", "labour-length",
        "labour-negative", "inf-among-floats", "bool"])
def test_bad_updates(changes, labour, error, text):
    solver = lab.ValueSolver(_economy(n=200))
    with pytest.raises(error, match=text):
        solver.update(changes, labour=labour)


@pytest.mark.parametrize("backend", BACKENDS)
def test_updates_reach_the_block_ordered_copy(backend):
    """From the second solve on the substitution runs on a copy of Aᵀ in block order:
    the same answer to the bit as the first solve; coefficient changes reach the copy,
    and a new cycle replaces it; every answer equals a direct solve."""
    economy = _economy(core_share=0.05, cyclic_share=0.02)
    solver = lab.ValueSolver(economy, method="blocks", backend=backend, rtol=RTOL)
    first = solver.solve().values.copy()
    again = solver.solve()
    assert solver._ordered is not None  # the path under test ran
    assert np.array_equal(again.values, first)
    rng = np.random.default_rng(5)
    changes = {**_cyclic_pairs(economy, rng, 15, same_block=True),
               **_cyclic_pairs(economy, rng, 15, same_block=False)}
    _, A, l = _check(solver, economy, changes)
    assert solver._ordered is not None
    cold = lab.ValueSolver(lab.Economy(A, l), method="blocks", backend=backend, rtol=RTOL)
    assert np.array_equal(solver.solve().values, cold.solve().values)  # warm-free solve
    # a link from a late product into an early one closes a cycle: the order changes
    S = solver.structure
    i, j = int(S.order[-5]), int(S.order[5])
    codes = economy.codes
    changed = dict(changes)
    changed[(codes[i], codes[j])] = 0.01
    A2, l2 = _changed(economy, changed)
    solver.update({(codes[i], codes[j]): 0.01})
    result = solver.solve()
    assert result.converged and result.residual <= RTOL
    assert_values_close(result.values, reference_values(A2, l2), 1e-9, "new cycle")


@pytest.mark.parametrize("backend", BACKENDS)
def test_level_pass_on_the_level_ordered_copy(backend):
    """From the second solve on, the substitution runs on the copy of Aᵀ in level order,
    each level's blocks split between threads: on 1 and 2 threads, before and after an
    update, the first solve's answer to the bit."""
    economy = _economy(core_share=0.05, cyclic_share=0.02)
    serial = lab.ValueSolver(economy, method="blocks", backend=backend, rtol=RTOL,
                             n_threads=1)
    parallel = lab.ValueSolver(economy, method="blocks", backend=backend, rtol=RTOL,
                               n_threads=2)
    expected = serial.solve().values  # the first solve: A's own rows, in block order
    for _ in range(3):
        assert np.array_equal(serial.solve().values, expected)
        assert np.array_equal(parallel.solve().values, expected)
    ordered = parallel._ordered
    assert ordered is not None and ordered.n_levels > 2
    # the copy's rows really are in a dependency order with contiguous levels
    assert np.array_equal(np.sort(ordered.order), np.arange(economy.n_products))
    codes = economy.codes
    A = sp.coo_array(economy.A)
    changes = {(codes[i], codes[j]): 0.5 * x
               for i, j, x in zip(A.row[::50], A.col[::50], A.data[::50], strict=True)}
    for solver in (serial, parallel):
        solver.update(changes)
    changed = parallel.solve()
    assert changed.converged and not np.array_equal(changed.values, expected)
    assert np.array_equal(changed.values, serial.solve().values)


@pytest.mark.parametrize("backend", BACKENDS)
def test_level_pass_split_for_probes(backend, monkeypatch):
    """A probe of the thread count takes only the first levels holding an eighth of the
    range's entries, the rest follows as another step: the same answer to the bit."""
    economy = _economy(core_share=0.05, cyclic_share=0.02)
    plain = lab.ValueSolver(economy, method="blocks", backend=backend, rtol=RTOL,
                            n_threads=1)
    expected = [plain.solve().values for _ in range(2)][1]
    ordered = plain._ordered
    assert ordered is not None and ordered.n_levels > 3
    entries = ordered.indptr[ordered.structure.block_ptr[ordered.level_ptr]]
    steps = []
    for first in range(ordered.n_levels):
        for last in range(first + 1, ordered.n_levels + 1):
            end = ordered.probe_end(first, last)
            assert first < end <= last
            eighth = (entries[last] - entries[first]) / 8
            assert end == first + 1 or entries[end - 1] - entries[first] < eighth
            assert end == last or entries[end] - entries[first] >= eighth
    monkeypatch.setattr(_ops.ThreadGovernor, "probes_next", lambda self: True)
    original = _ops.ThreadGovernor.step

    def step(self, work=None):
        kind = next(k for k, v in self._records.items() if v is self.record)[0]
        steps.append(kind)
        return original(self, work)

    monkeypatch.setattr(_ops.ThreadGovernor, "step", step)
    probed = lab.ValueSolver(economy, method="blocks", backend=backend, rtol=RTOL)
    for _ in range(2):
        result = probed.solve()
    assert np.array_equal(result.values, expected)
    # the level-ordered pass (the second solve's) went in short steps
    assert steps.count("substitution") >= 4


def test_large_block_steps_are_governed_per_unit_of_the_block_s_work(monkeypatch):
    """A large block's solve steps (cold BiCGSTAB, warm sweeps) are timed against the
    block's own work, never A's: a record per unit of A's work is shared with whole
    passes over A of other solves, and had kept the sweeps on one thread."""
    economy = _economy(core_share=0.3, cyclic_share=0.02)
    solver = lab.ValueSolver(economy, method="blocks", rtol=RTOL)
    works = []
    original = _ops.ThreadGovernor.step

    def step(self, work=None):
        kind = next(k for k, v in self._records.items() if v is self.record)[0]
        if kind == "iteration":
            works.append(self.work)
        return original(self, work)

    monkeypatch.setattr(_ops.ThreadGovernor, "step", step)
    solver.solve()
    codes = economy.codes
    A = sp.coo_array(economy.A)
    solver.update({(codes[i], codes[j]): 0.9 * x
                   for i, j, x in zip(A.row[::40], A.col[::40], A.data[::40], strict=True)})
    warm = len(works)
    assert solver.solve().converged
    assert solver._large and warm > 0 and len(works) > warm  # cold and warm steps ran
    blocks = {int(blk.sub[0][-1]) for blk in solver._large}
    assert set(works) <= blocks and economy.nnz not in blocks


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("second_solve", [False, True])
def test_replace_rows_in_bulk(backend, second_solve):
    """Policy iteration's bulk update (``_update.replace_rows``): whole columns of A take
    new coefficients in their pattern (zeros included) and new labour; the next solve
    equals a direct solve of the changed economy, in the large cyclic blocks and on the
    block-ordered copy too, and a generic update after it still starts right."""
    from lab.values import _update

    economy = _economy()
    solver = lab.ValueSolver(economy, method="blocks", backend=backend, rtol=RTOL)
    solver.solve()
    if second_solve:
        solver.solve()
        assert solver._ordered is not None
    assert solver._large  # a cyclic block large enough for BiCGSTAB
    rng = np.random.default_rng(8)
    A = sp.csc_array(economy.A, copy=True)
    products = np.sort(rng.choice(3000, size=900, replace=False))
    lengths = np.diff(A.indptr)[products]
    starts = A.indptr[products]
    offsets = np.cumsum(lengths) - lengths
    entries = np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))
    # at most the old coefficients (so still productive), a fifth of them zero (stored)
    values = A.data[entries] * rng.uniform(0.5, 1.0, size=entries.size)
    values[rng.random(values.size) < 0.2] = 0.0
    A.data[entries] = values
    labour = economy.labour.copy()
    labour[products] = rng.uniform(0.1, 2.0, size=products.size)
    _update.replace_rows(solver, products, lengths, values, labour[products])
    assert solver.column_bound == pytest.approx(float(A.sum(axis=0).max()), rel=1e-12)
    result = solver.solve()
    assert result.converged and result.residual <= RTOL
    assert_values_close(result.values, reference_values(A, labour), 1e-9, "replaced")
    assert abs(solver.economy.A - A).max() == 0
    # then bulk changes and at once an ordinary update, whose warm start must not use
    # the Aᵀv remembered before the bulk changes
    labour[products[:10]] *= 2.0
    _update.replace_rows(solver, products[:10], lengths[:10], values[:lengths[:10].sum()],
                         labour[products[:10]])
    codes = economy.codes
    k = int(np.flatnonzero(A.data > 0)[0])
    i, j = int(A.indices[k]), int(np.searchsorted(A.indptr, k, side="right") - 1)
    A2 = sp.lil_array(A)
    A2[i, j] = A.data[k] * 0.5
    solver.update({(codes[i], codes[j]): float(A.data[k] * 0.5)})
    result = solver.solve()
    assert result.converged and result.residual <= RTOL
    assert_values_close(result.values, reference_values(sp.csc_array(A2), labour), 1e-9,
                        "after replace_rows")


@pytest.mark.parametrize("solves", [1, 2])
def test_an_update_that_changes_nothing_returns_the_start_without_solving(solves):
    # the update's residual (its norms, computed in one pass) shows the start meets the
    # rule: the next solve only checks it. From the second solve on the pass checks its
    # answer in its level order and the update reads Aᵀv there (solves=2).
    economy = lab.generate_economy(3000, seed=3)
    solver = lab.ValueSolver(economy, rtol=1e-10)
    for _ in range(solves):
        first = solver.solve()
    assert (solver._previous[(0,)][2] is None) == (solves == 1)
    A = economy.A.tocoo()
    solver.update({(f"P{i}", f"P{j}"): float(x)
                   for i, j, x in zip(A.row[:50], A.col[:50], A.data[:50], strict=True)})
    again = solver.solve()
    assert again.converged and again.iterations == 0 and again.matvecs == 1  # the check
    np.testing.assert_array_equal(again.values, first.values)
    solver.update({(f"P{A.row[0]}", f"P{A.col[0]}"): 1.05 * float(A.data[0])})
    assert solver._warm[(0,)][2] is None  # the changed row breaks the rule: no full pass
    # the start's max|v| comes with it (the large blocks' tolerance; no pass to find it)
    assert solver._warm[(0,)][1] == np.abs(again.values).max()
    changed = solver.solve()
    # one substitution pass, which checks itself; the large blocks kept their start
    assert changed.iterations == 1 and changed.matvecs == 1 and changed.converged
    assert not np.array_equal(changed.values, first.values)
    A2, l2 = _changed(economy, {(f"P{A.row[0]}", f"P{A.col[0]}"): 1.05 * float(A.data[0])})
    assert_values_close(changed.values, reference_values(A2, l2), 1e-8, "changed")
    # two updates before a solve: the remembered Aᵀv takes both (in its numbering)
    solver.update({(f"P{A.row[1]}", f"P{A.col[1]}"): 0.5 * float(A.data[1])})
    solver.update({(f"P{A.row[1]}", f"P{A.col[1]}"): float(A.data[1])}, labour={"P7": 2.0})
    both = solver.solve()
    A3, l3 = _changed(economy, {(f"P{A.row[0]}", f"P{A.col[0]}"): 1.05 * float(A.data[0])},
                      {"P7": 2.0})
    assert both.converged and both.residual <= 1e-10
    assert_values_close(both.values, reference_values(A3, l3), 1e-8, "two updates")


def test_one_solver_shared_between_threads(monkeypatch):
    # an update from a second thread waits for a solve in progress on the first (they
    # share the warm starts and the level-ordered copy), then both answers are right
    import threading

    from lab.values import _solver

    economy = _economy(n=3000)
    solver = lab.ValueSolver(economy, method="blocks", rtol=RTOL)
    solver.solve()
    inside, release = threading.Event(), threading.Event()
    original = _solver._Run.solve_blocks

    def held(run):
        inside.set()
        release.wait(timeout=30)
        return original(run)

    monkeypatch.setattr(_solver._Run, "solve_blocks", held)
    new_l = economy.labour * 1.5
    results = {}
    updated = threading.Event()
    solving = threading.Thread(target=lambda: results.update(first=solver.solve()))
    updating = threading.Thread(target=lambda: (solver.update(labour=new_l), updated.set()))
    solving.start()
    assert inside.wait(timeout=30)
    updating.start()
    assert not updated.wait(timeout=0.5)  # the update waits while the solve is in progress
    release.set()
    solving.join()
    updating.join()
    assert updated.is_set()
    assert_values_close(results["first"].values, reference_values(economy.A, economy.labour),
                        1e-9)
    assert_values_close(solver.solve().values, reference_values(economy.A, new_l), 1e-9)


def _assert_block_follows(large):
    """What a large block keeps follows its changed coefficients: z = (I − M)u, M y of
    its last answer, and its colour-ordered copy with the copy's column sums."""
    k = large.e - large.s
    sub = sp.csr_array((large.sub[2], large.sub[1], large.sub[0]), shape=(k, k))
    u, z = large.perron
    assert np.max(np.abs(z - (u - sub @ u))) <= 1e-14
    y, sub_y = large.last
    assert np.max(np.abs(sub_y - sub @ y)) <= 1e-14 * np.max(np.abs(sub_y))
    C = large.colored
    assert_array_equal(C.M[2], large.sub[2][C.entry])
    in_order = sp.csr_array((C.M[2], C.M[1], C.M[0]), shape=(k, k))
    assert_allclose(C.complement, 1.0 - in_order.sum(axis=0), rtol=0, atol=1e-14)
    assert_allclose((in_order @ y[C.order]), sub_y[C.order], rtol=1e-13, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_warm_large_blocks_by_deflated_gauss_seidel(backend, monkeypatch):
    """After an update the large cyclic block is re-solved by Gauss–Seidel in colour
    order with its Perron direction deflated (converging, no fallback); its Perron
    vector and coloured copy are made once and kept through later updates; each answer
    equals a direct solve."""
    from lab.values import _colors, _krylov

    outcomes, perrons, builds = [], [], []
    sweeps, perron, build = (_krylov.deflated_gauss_seidel, _krylov.perron_vector,
                             _colors.build)

    def spy_sweeps(*args, **kwargs):
        out = sweeps(*args, **kwargs)
        outcomes.append((out.failure, kwargs["Mx"] is not None))
        return out

    def spy_perron(*args, **kwargs):
        perrons.append(args[2])
        return perron(*args, **kwargs)

    def spy_build(*args, **kwargs):
        builds.append(len(args[1][0]) - 1)
        return build(*args, **kwargs)

    monkeypatch.setattr(_krylov, "deflated_gauss_seidel", spy_sweeps)
    monkeypatch.setattr(_krylov, "perron_vector", spy_perron)
    monkeypatch.setattr(_colors, "build", spy_build)
    economy = _economy()
    solver = lab.ValueSolver(economy, method="blocks", backend=backend, rtol=RTOL)
    solver.solve()
    assert not outcomes  # a cold solve: BiCGSTAB from zero
    rng = np.random.default_rng(5)
    changes = {}
    for _ in range(3):
        new = _cyclic_pairs(economy, rng, 10, same_block=True)
        changes.update(new)
        solver.update(new)
        result = solver.solve()
        assert result.converged and result.residual <= RTOL
        A, l = _changed(economy, changes)
        assert_values_close(result.values, reference_values(A, l), 1e-9, "update")
    large = max(solver._large, key=lambda blk: blk.e - blk.s)
    # converged each time; from the second solve on, the start's M x came from the last
    # solve's, corrected for the changes (no pass)
    assert [failure for failure, _ in outcomes] == [None] * len(outcomes)
    assert outcomes[-1][1]
    assert perrons == [large.e - large.s] and builds == [large.e - large.s]
    _assert_block_follows(large)


@pytest.mark.parametrize("backend", BACKENDS)
def test_slow_sweeps_fall_back_to_bicgstab(backend, monkeypatch):
    """A ring of 300 products (each uses the next, 0.9 a unit): every eigenvalue of the
    block has modulus 0.9, and sweeps in two colours gain 0.81 each; asked for more
    (RICHARDSON_SLOW 0.01 in 8 sweeps), the warm re-solve gives up on them, BiCGSTAB
    goes on from their answer, and the block is not offered to them again."""
    from lab.values import _krylov

    monkeypatch.setattr(_krylov, "RICHARDSON_SLOW", 0.01)
    n = 300
    A = sp.csc_array((np.full(n, 0.9), ((np.arange(n) + 1) % n, np.arange(n))),
                     shape=(n, n))
    economy = lab.Economy(A, np.linspace(0.5, 1.5, n))
    calls = []
    sweeps = _krylov.deflated_gauss_seidel

    def spy(*args, **kwargs):
        out = sweeps(*args, **kwargs)
        calls.append(out.failure)
        return out

    monkeypatch.setattr(_krylov, "deflated_gauss_seidel", spy)
    solver = lab.ValueSolver(economy, method="blocks", backend=backend, rtol=RTOL)
    solver.solve()
    codes = economy.codes
    changes = {}
    for k, value in ((7, 0.85), (100, 0.8)):
        changes[(codes[(k + 1) % n], codes[k])] = value
        solver.update({(codes[(k + 1) % n], codes[k]): value})
        result = solver.solve()
        assert result.converged and result.residual <= RTOL, result.message
        A_new, l = _changed(economy, changes)
        assert_values_close(result.values, reference_values(A_new, l), 1e-9, "ring")
    assert calls == ["SLOW"]
    assert solver._large[0].perron is False


def test_many_changes_in_a_large_block_recompute_what_it_keeps():
    """More than a quarter of a large block's coefficients changed: its matrix is copied
    again, its last answer's product forgotten and z = (I − M)u computed again at the
    next warm solve (u kept); the answers still equal direct solves."""
    economy = _economy()
    solver = lab.ValueSolver(economy, method="blocks", rtol=RTOL)
    solver.solve()
    rng = np.random.default_rng(11)
    small = _cyclic_pairs(economy, rng, 10, same_block=True)
    _check(solver, economy, small)  # the Perron pair is computed here
    large = max(solver._large, key=lambda blk: blk.e - blk.s)
    u_before = large.perron[0]
    A = economy.A.tocoo()
    labels = _blocks(economy)
    inside = np.flatnonzero(labels[A.row] == labels[A.col])
    codes = economy.codes
    many = dict(small)
    many.update({(codes[A.row[k]], codes[A.col[k]]): float(A.data[k] * rng.uniform(0.8, 1.2))
                 for k in inside})
    assert len(many) > large.sub_entry.size // 4
    solver.update(many)
    assert large.last is None and large.perron[1] is None
    result = solver.solve()
    assert result.converged and result.residual <= RTOL
    A_new, l = _changed(economy, many)
    assert_values_close(result.values, reference_values(A_new, l), 1e-9, "many")
    assert large.perron[0] is u_before
    _assert_block_follows(large)
