"""lab.explain against brute-force enumeration of every supply-chain path.

The reference enumerates the path tree of a product depth-first from the dense use
matrix, with values from a dense NumPy solve (nothing of lab's search or solvers),
down to a depth beyond which no path can enter the top list: the test asserts that
this depth is deep enough, so the reference is exact for the ranks it checks.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import lab
from lab.exceptions import InvalidEconomyError


def _random_economy(m, inputs, seed, *, acyclic, column_sum=0.6, zero_share=0.2):
    """A small economy with ``inputs`` inputs per product, dense A and resources."""
    rng = np.random.default_rng(seed)
    A = np.zeros((m, m))
    for j in range(m):
        pool = np.arange(j) if acyclic else np.arange(m)
        if len(pool) == 0:
            continue
        chosen = rng.choice(pool, size=min(inputs, len(pool)), replace=False)
        weights = rng.random(len(chosen))
        A[chosen, j] = column_sum * weights / weights.sum() * rng.uniform(0.5, 1.0)
    R = rng.random((2, m))
    R[0, rng.random(m) < zero_share] = 0.0  # products without direct labour
    codes = [f"p{j}" for j in range(m)]
    return lab.Economy(A, R, codes=codes, resource_names=["labour", "energy"]), A, R


def _brute_force(A, r, root, depth):
    """{path: contribution} for every path of at most ``depth`` steps, exact v, and the
    largest total of a subtree cut off below ``depth`` (bounds every longer path)."""
    m = A.shape[0]
    v = np.linalg.solve(np.eye(m) - A.T, r)
    paths, cut_max, cut_total = {}, 0.0, 0.0
    stack = [((root,), 1.0)]
    while stack:
        path, w = stack.pop()
        last = path[-1]
        paths[path] = w * r[last]
        below = w * (v[last] - r[last])  # everything that extends this path
        if len(path) - 1 == depth:
            cut_max, cut_total = max(cut_max, below), cut_total + below
            continue
        for i in np.flatnonzero(A[:, last]):
            stack.append((path + (int(i),), w * A[i, last]))
    return paths, v, cut_max, cut_total


def _contribution(A, r, path):
    """A[i1, j]·A[i2, i1]·…·r[ik], straight from the matrix."""
    w = 1.0
    for a, b in zip(path[:-1], path[1:], strict=True):
        w *= A[b, a]
    return w * r[path[-1]]


def _check_against_brute_force(economy, A, r, code, top, depth, resource="labour",
                               **kwargs):
    root = int(economy.index_of([code])[0])
    paths, v, cut_max, cut_total = _brute_force(A, r, root, depth)
    got = lab.explain(economy, code, resource=resource, top=top, **kwargs)
    a = got.attrs
    ranked = sorted((c for c in paths.values() if c > 0), reverse=True)

    # The value, and contributions plus remainder equal to it.
    # lab's values meet ‖r + Aᵀv − v‖∞ ≤ 1e-10·‖v‖∞.
    assert a["value"] == pytest.approx(v[root], rel=1e-8)
    assert got["contribution"].sum() + a["remainder"] == pytest.approx(a["value"], rel=1e-12)
    assert a["explained"] == pytest.approx(got["contribution"].sum(), rel=1e-12)
    assert a["unlisted"] + a["unexplored"] == pytest.approx(a["remainder"], rel=1e-8,
                                                            abs=1e-9 * a["value"])
    # Every listed path: a real path, its contribution recomputed from A.
    assert list(got.index) == list(range(1, len(got) + 1))
    assert (np.diff(got["contribution"].to_numpy()) <= 0).all()
    for row in got.itertuples():
        idx = [int(economy.index_of([c])[0]) for c in row.path]
        assert idx[0] == root and row.depth == len(idx) - 1
        assert row.contribution == pytest.approx(_contribution(A, r, idx), rel=1e-12)
        assert row.share == pytest.approx(row.contribution / a["value"], rel=1e-12)
    # No path left out can beat the bound, and none can beat the listed ones if certified.
    listed = {tuple(int(economy.index_of([c])[0]) for c in p) for p in got["path"]}
    left_out = max((c for p, c in paths.items() if p not in listed), default=0.0)
    assert left_out <= a["bound_pruned"] * (1 + 1e-9) + 1e-15
    if a["certified"]:
        k = len(got)
        # The reference is exact down to ranks above everything it cut off.
        exact = [c for c in ranked[:k] if c > cut_max]
        assert len(exact) >= min(k, 3), "enumerate deeper: the reference decides too little"
        np.testing.assert_allclose(got["contribution"].to_numpy()[:len(exact)], exact,
                                   rtol=1e-10)
        if k < top:  # fewer positive paths than asked: all of them are listed
            assert k == len(ranked) and cut_max == 0.0
    return got, paths, cut_total


@pytest.mark.parametrize("seed", range(6))
def test_acyclic_economies_every_path(seed):
    economy, A, R = _random_economy(9, 3, seed, acyclic=True)
    code = "p8"
    got, paths, _ = _check_against_brute_force(economy, A, R[0], code, top=15, depth=9)
    assert got.attrs["certified"]
    # The tree is finite: asked for more paths than there are, every positive one is listed
    # and nothing remains.
    everything = lab.explain(economy, code, top=10_000)
    positive = sorted((c for c in paths.values() if c > 0), reverse=True)
    assert len(everything) == len(positive)
    np.testing.assert_allclose(everything["contribution"], positive, rtol=1e-12)
    assert abs(everything.attrs["remainder"]) <= 1e-12 * everything.attrs["value"]
    assert everything.attrs["unexplored"] == 0.0 and everything.attrs["certified"]


@pytest.mark.parametrize("seed", range(6))
def test_cyclic_economies_terminate_and_match(seed):
    economy, A, R = _random_economy(6, 2, 100 + seed, acyclic=False, column_sum=0.5)
    got, _, _ = _check_against_brute_force(economy, A, R[0], "p0", top=10, depth=16)
    assert got.attrs["certified"]
    # Paths may revisit products.
    deep = lab.explain(economy, "p0", top=200)
    assert any(len(set(p)) < len(p) for p in deep["path"])


@pytest.mark.parametrize("max_nodes", [1, 2, 5, 20, 60])
def test_memory_cap_keeps_the_bound(max_nodes):
    economy, A, R = _random_economy(6, 3, 7, acyclic=False, column_sum=0.7, zero_share=0.0)
    got, _, _ = _check_against_brute_force(economy, A, R[0], "p2", top=10, depth=10,
                                           max_nodes=max_nodes)
    a = got.attrs
    assert a["nodes"] + a["open"] <= max_nodes
    if a["dropped"] > 0:
        assert a["dropped"] <= a["unexplored"] * (1 + 1e-12)
    full = lab.explain(economy, "p2", top=10)
    assert full.attrs["certified"]
    if not a["certified"]:
        smallest = np.min(got["contribution"].to_numpy(), initial=0.0)
        assert a["bound_pruned"] > smallest or len(got) < 10


def test_cut_search_says_it_is_not_certified():
    # Cut at 3 paths in memory, the search lists a wrong third path: it must say so, and
    # its bound must cover the path it missed.
    economy, A, R = _random_economy(6, 3, 7, acyclic=False, column_sum=0.7, zero_share=0.0)
    paths, _, _, _ = _brute_force(A, R[0], 2, 10)
    ranked = sorted(paths.values(), reverse=True)
    cut = lab.explain(economy, "p2", top=3, max_nodes=3)
    assert len(cut) == 3
    assert not np.allclose(cut["contribution"], ranked[:3])  # the case is a real miss
    assert not cut.attrs["certified"]
    assert cut.attrs["bound_pruned"] >= ranked[1]
    assert lab.explain(economy, "p2", top=3).attrs["certified"]


def test_energy_row_and_values_reuse():
    economy, A, R = _random_economy(8, 2, 3, acyclic=False, column_sum=0.5)
    _check_against_brute_force(economy, A, R[1], "p5", top=8, depth=15, resource="energy")
    by_row = lab.explain(economy, "p5", resource=1, top=8)
    values = lab.labour_values(economy, resources="energy")
    reused = lab.explain(economy, "p5", resource="energy", top=8, values=values)
    pd.testing.assert_frame_equal(by_row, reused)


def test_hand_solved_self_use():
    # One product using half of itself, 1 hour direct: v = 2 = 1 + 0.5 + 0.25 + ...
    economy = lab.Economy(np.array([[0.5]]), [1.0], codes=["x"])
    got = lab.explain(economy, "x", top=3)
    assert got["path"].tolist() == [("x",), ("x", "x"), ("x", "x", "x")]
    np.testing.assert_allclose(got["contribution"], [1.0, 0.5, 0.25], rtol=1e-14)
    a = got.attrs
    assert a["value"] == pytest.approx(2.0) and a["remainder"] == pytest.approx(0.25)
    # Found in rounds: x ← x ← x ← x (0.125) was visited, the subtree below it is open.
    assert a["unlisted"] == pytest.approx(0.125) and a["unexplored"] == pytest.approx(0.125)
    assert a["bound_pruned"] == pytest.approx(0.125) and a["certified"]


def test_two_cycle_hand_solved():
    # corn uses 0.5 iron and iron 0.5 corn, 1 hour each: v = (2, 2); paths alternate.
    economy = lab.Economy(np.array([[0.0, 0.5], [0.5, 0.0]]), [1.0, 1.0],
                          codes=["corn", "iron"])
    got = lab.explain(economy, "corn", top=4)
    assert got["path"].tolist() == [("corn",), ("corn", "iron"), ("corn", "iron", "corn"),
                                    ("corn", "iron", "corn", "iron")]
    np.testing.assert_allclose(got["contribution"], [1.0, 0.5, 0.25, 0.125])


def test_zero_value_and_labour_alias():
    # p1 has no labour and no inputs: nothing to explain.
    economy = lab.Economy(np.array([[0.0, 0.0], [0.5, 0.0]]), [[1.0, 0.0], [1.0, 1.0]],
                          codes=["a", "b"], resource_names=["hours", "land"])
    got = lab.explain(economy, "b")  # "labour" is row 0 ("hours") when no row is named so
    assert got.attrs["resource"] == "hours"
    assert len(got) == 0 and got.attrs["value"] == 0.0 and got.attrs["remainder"] == 0.0
    assert got.attrs["certified"]
    assert lab.explain(economy, "a", resource="land").attrs["value"] == pytest.approx(1.5)


def test_generated_economy_identity_and_certificate():
    economy = lab.generate_economy(3000, seed=4, index_dtype=np.int64)
    values = lab.labour_values(economy)
    A = economy.A.tocsc()
    for code in ["P0", "P1500", "P2999"]:
        got = lab.explain(economy, code, values=values)
        a = got.attrs
        assert a["certified"] and len(got) == 20
        assert a["bound_pruned"] <= got["contribution"].iloc[-1]
        assert a["unlisted"] + a["unexplored"] == pytest.approx(a["remainder"], rel=1e-8)
        for row in got.itertuples():  # contributions from the matrix itself
            idx = economy.index_of(list(row.path))
            w = np.prod([A[b, a_] for a_, b in zip(idx[:-1], idx[1:], strict=True)])
            assert row.contribution == pytest.approx(w * economy.labour[idx[-1]], rel=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(code="nope"), "unknown product code.*'nope'"),
    (dict(code=3), "code must be a product code"),
    (dict(resource="water"), "unknown resource 'water'"),
    (dict(resource="all"), "one resource row"),
    (dict(resource=["labour", "energy"]), "must name one resource row"),
    (dict(top=0), "top must be a positive integer"),
    (dict(top=True), "top must be a positive integer"),
    (dict(max_nodes=-5), "max_nodes must be a positive integer"),
    (dict(values=np.ones(6)), "values must be a ValuesResult"),
])
def test_bad_arguments(kwargs, match):
    economy, _, _ = _random_economy(6, 2, 1, acyclic=False)
    kwargs = {"code": "p1", **kwargs}
    with pytest.raises(InvalidEconomyError, match=match):
        lab.explain(economy, kwargs.pop("code"), **kwargs)


def test_values_of_another_resource_are_refused():
    economy, _, _ = _random_economy(6, 2, 1, acyclic=False)
    energy = lab.labour_values(economy, resources="energy")
    with pytest.raises(InvalidEconomyError, match="explaining 'labour' needs"):
        lab.explain(economy, "p1", values=energy)
    other, _, _ = _random_economy(6, 2, 2, acyclic=False)  # same size, other economy
    with pytest.raises(InvalidEconomyError, match="do not solve v = r"):
        lab.explain(economy, "p1", values=lab.labour_values(other))


# --------------------------------------------------------------------------- command line


def test_cli_explain(tmp_path):
    from lab.cli import cli

    economy, _, _ = _random_economy(6, 2, 1, acyclic=False)
    path = tmp_path / "economy.npz"
    lab.write_economy(economy, path)
    runner = CliRunner()
    out = runner.invoke(cli, ["explain", str(path), "p3", "--top", "4", "--json"])
    assert out.exit_code == 0, out.output
    info = json.loads(out.output)
    expected = lab.explain(economy, "p3", top=4)
    assert [tuple(p["path"]) for p in info["paths"]] == expected["path"].tolist()
    assert info["value"] == pytest.approx(expected.attrs["value"])
    assert info["certified"] is True
    text = runner.invoke(cli, ["explain", str(path), "p3", "--resource", "energy"])
    assert text.exit_code == 0 and "energy value" in text.output and "p3 ← " in text.output
    shipped = runner.invoke(cli, ["explain", "--dataset", "uk-2010", "01", "--top", "3"])
    assert shipped.exit_code == 0 and "compensation value" in shipped.output
    bad = runner.invoke(cli, ["explain", str(path), "nope"])
    assert bad.exit_code == 2 and "unknown product code" in bad.output
    missing = runner.invoke(cli, ["explain", str(path)])
    assert missing.exit_code == 2 and "give ECONOMY and CODE" in missing.output
