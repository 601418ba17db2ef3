"""lab.footprint against dense NumPy, pymrio's own calculation and a shipped table.

References: x = np.linalg.solve(I − A, Y), V = R·inv(I − A) with dense NumPy on small
generated economies; pymrio's ``calc_all`` (x, M, D_cba, D_cba_reg) on pymrio's test
system and on the UK 2010 table rebuilt as a pymrio IOSystem from the shipped CSV files.
"""

from __future__ import annotations

import warnings
from importlib import resources

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import lab
from lab import _ops
from lab.exceptions import ConvergenceWarning, InvalidEconomyError, NotProductiveError

BACKENDS = _ops.available_backends()

#: Small generated economies, acyclic to one giant cyclic block, int32 and int64.
CASES = {
    "n1": dict(n_products=1),
    "n50-rho0.3": dict(n_products=50, spectral_radius=0.3),
    "n300-rho0.99": dict(n_products=300, spectral_radius=0.99),
    "n300-acyclic": dict(n_products=300, cyclic_share=0.0, core_share=0.01),
    "n400-cyclic-groups": dict(n_products=400, cyclic_share=0.3, group_size=4),
    "n500-int64": dict(n_products=500, index_dtype=np.int64),
    "n600-giant-core": dict(n_products=600, core_share=0.8),
}


def _economy(name):
    return lab.generate_economy(seed=sum(map(ord, name)), **CASES[name])


def _dense(economy):
    """Leontief inverse L = (I − A)⁻¹ and V = R·L by dense NumPy."""
    A = economy.A.toarray()
    L = np.linalg.inv(np.eye(A.shape[0]) - A)
    return L, economy.R @ L


def _close(got, expected, rel=1e-9, what=""):
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-300)
    err = float(np.max(np.abs(got - expected), initial=0.0))
    assert err <= rel * scale, f"{what}: max error {err:.3e} > {rel:.0e} × {scale:.3e}"


# --------------------------------------------------------------------------- dense NumPy


@pytest.mark.parametrize("name", list(CASES))
def test_against_dense_numpy(name):
    economy = _economy(name)
    m = economy.n_products
    rng = np.random.default_rng(7)
    Y = rng.random((m, 5))
    Y[:, 1] -= 0.3  # negative final demand (inventories, net exports) is allowed
    Y[:, 2] = 0.0   # a zero scenario has the exact answer 0
    result = lab.footprint(economy, Y)
    L, V = _dense(economy)
    assert result.converged and result.status == lab.Status.CONVERGED
    assert result.residual <= 1e-10 and result.consistency <= 1e-9
    _close(result.gross_output.to_numpy(), L @ Y, what="gross output")
    assert np.all(result.gross_output[2] == 0.0)
    _close(result.multipliers.to_numpy(), V, what="multipliers")
    _close(result.totals.to_numpy(), V @ Y, what="totals")
    for s in range(Y.shape[1]):
        _close(result.embodied[s].to_numpy(), V * Y[:, s], what=f"embodied[{s}]")
        _close(result.embodied[s].sum(axis=1), result.totals[s], what="embodied sums")
    # Labels: product codes, resource names, scenario numbers.
    assert list(result.gross_output.index) == list(economy.codes)
    assert list(result.totals.index) == list(economy.resource_names)
    assert list(result.totals.columns) == list(range(5))
    assert list(result.multipliers.columns) == list(economy.codes)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["auto", "jacobi", "gauss-seidel", "krylov", "blocks"])
def test_every_method_and_backend(method, backend):
    economy = _economy("n400-cyclic-groups")
    Y = np.random.default_rng(3).random((economy.n_products, 3))
    result = lab.footprint(economy, Y, method=method, backend=backend)
    L, V = _dense(economy)
    assert result.converged
    assert result.output_solve.method == result.multiplier_solve.method
    assert result.output_solve.backend == backend
    _close(result.gross_output.to_numpy(), L @ Y, rel=1e-8, what=f"{method}/{backend}")
    _close(result.multipliers.to_numpy(), V, rel=1e-8, what=f"{method}/{backend}")


def test_hand_solved():
    # corn = 0.1 corn + 0.3 iron inputs... (I − A)x = (10, 0): x = (11.904762, 3.571429)
    economy = lab.Economy(np.array([[0.1, 0.2], [0.3, 0.0]]), [[1.0, 2.0], [0.5, 0.0]],
                          codes=["corn", "iron"], resource_names=["hours", "land"])
    result = lab.footprint(economy, {"corn": 10.0}, resources="land")
    x = np.array([250 / 21, 75 / 21])
    _close(result.gross_output[0], x, rel=1e-14)
    assert list(result.totals.index) == ["land"]
    assert result.totals.loc["land", 0] == pytest.approx(0.5 * x[0], rel=1e-14)
    assert result.multipliers.shape == (1, 2)


def test_one_scenario_shapes_and_scenario_labels():
    economy = _economy("n50-rho0.3")
    y = np.linspace(0, 1, economy.n_products)
    one = lab.footprint(economy, y)
    assert one.gross_output.shape == (economy.n_products, 1)
    assert list(one.gross_output.columns) == [0]
    codes = list(economy.codes)
    frame = pd.DataFrame({"households": y, "exports": 2 * y}, index=codes)
    many = lab.footprint(economy, frame)
    assert list(many.gross_output.columns) == ["households", "exports"]
    assert list(many.embodied) == ["households", "exports"]
    _close(many.gross_output["exports"], 2 * one.gross_output[0], rel=1e-12)
    named = lab.footprint(economy, pd.Series(y, index=codes, name="households"))
    assert list(named.totals.columns) == ["households"]
    with pytest.raises(KeyError, match="no scenario 'nope'"):
        many.embodied["nope"]


def test_labelled_demand_in_any_order_and_subsets():
    economy = _economy("n50-rho0.3")
    m = economy.n_products
    y = np.random.default_rng(1).random(m)
    codes = list(economy.codes)
    reference = lab.footprint(economy, y)
    shuffled = pd.Series(y, index=codes).sample(frac=1.0, random_state=2)
    _close(lab.footprint(economy, shuffled).gross_output[0], reference.gross_output[0],
           rel=1e-14, what="shuffled Series")
    subset = {"P3": 1.0, "P7": 2.0}
    dense = np.zeros(m)
    dense[3], dense[7] = 1.0, 2.0
    _close(lab.footprint(economy, subset).gross_output[0],
           lab.footprint(economy, dense).gross_output[0], rel=1e-14, what="mapping")
    empty = lab.footprint(economy, {})
    assert np.all(empty.gross_output.to_numpy() == 0.0)
    sparse = lab.footprint(economy, sp.csr_array(dense.reshape(-1, 1)))
    _close(sparse.gross_output[0], lab.footprint(economy, dense).gross_output[0], rel=1e-14)


def test_inputs_are_not_mutated():
    economy = _economy("n50-rho0.3")
    Y = np.random.default_rng(1).random((economy.n_products, 3))
    frame = pd.DataFrame(Y.copy(), index=list(economy.codes))
    before, frame_before = Y.copy(), frame.copy()
    lab.footprint(economy, Y)
    lab.footprint(economy, frame)
    assert np.array_equal(Y, before)
    pd.testing.assert_frame_equal(frame, frame_before)


def test_results_do_not_share_memory_with_the_input():
    economy = _economy("n50-rho0.3")
    Y = np.random.default_rng(1).random((economy.n_products, 2))
    result = lab.footprint(economy, Y)
    embodied = result.embodied[1].to_numpy().copy()
    Y[:] = 7.0  # the caller reuses the array: the result must not change
    np.testing.assert_array_equal(result.embodied[1].to_numpy(), embodied)
    assert not np.shares_memory(result.final_demand.to_numpy(), Y)
    with pytest.raises(ValueError, match="read-only"):
        result.gross_output.iloc[0, 0] = 1.0  # results are immutable, like the Economy


def test_solver_reuses_its_setup_and_multipliers():
    economy = _economy("n400-cyclic-groups")
    solver = lab.FootprintSolver(economy)
    rng = np.random.default_rng(5)
    first = solver.solve(rng.random(economy.n_products))
    second = solver.solve(rng.random((economy.n_products, 4)))
    assert second.multiplier_solve is first.multiplier_solve  # solved once, then kept
    assert second.timings["multipliers"] < 0.01
    fresh = lab.footprint(economy, second.final_demand)
    _close(second.gross_output, fresh.gross_output, rel=1e-12)
    labour = solver.solve(second.final_demand, resources="labour")
    assert list(labour.totals.index) == ["labour"]


def test_repr_is_a_summary():
    economy = lab.generate_economy(3000, seed=1)
    result = lab.footprint(economy, np.ones((3000, 4)))
    text = repr(result)
    assert len(text) < 200 and "3000 products × 4 scenarios" in text and "converged" in text
    assert len(repr(result.embodied)) < 200


def test_empty_and_input_free_economies():
    empty = lab.Economy(np.zeros((0, 0)), np.zeros((1, 0)))
    result = lab.footprint(empty, np.zeros((0, 2)))
    assert result.converged and result.gross_output.shape == (0, 2)
    assert np.all(result.totals.to_numpy() == 0.0)
    # No inputs at all: x = y exactly, footprints R·y.
    flat = lab.Economy(np.zeros((3, 3)), [1.0, 2.0, 3.0])
    result = lab.footprint(flat, [1.0, 2.0, -3.0])
    assert result.gross_output[0].tolist() == [1.0, 2.0, -3.0]
    assert result.totals.loc["labour", 0] == -4.0


def test_not_productive_raises():
    economy = lab.Economy(np.array([[0.5, 0.6], [0.6, 0.5]]), [1.0, 1.0])
    with pytest.raises(NotProductiveError):
        lab.footprint(economy, [1.0, 1.0])


def test_not_converged_is_a_status_and_a_warning():
    economy = _economy("n300-rho0.99")
    with pytest.warns(ConvergenceWarning):
        result = lab.footprint(economy, np.ones(economy.n_products), method="jacobi", maxiter=2)
    assert not result.converged and result.status == lab.Status.MAXITER
    assert result.residual > 1e-10 and "NOT converged" in repr(result)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(lab.NotConvergedError):
            lab.footprint(economy, np.ones(economy.n_products), method="jacobi", maxiter=2,
                          raise_on_failure=True)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("demand, match", [
    (np.ones(49), r"demand has shape \(49,\) but the economy has 50 products"),
    (np.ones((3, 50)), "pass its transpose"),
    (np.ones((50, 0)), "no scenarios"),
    (np.ones((50, 2, 2)), "1-D .* or 2-D"),
    (np.full(50, np.nan), r"NaN .*the first is demand\['P0', 0\]"),
    (np.r_[np.ones(49), np.inf], r"infinite .*demand\['P49', 0\]"),
    (np.ones(50, dtype=complex), "real numbers, got dtype complex128"),
    (np.ones(50, dtype=bool), "real numbers, got dtype bool"),
    (np.array(["1"] * 50), "real numbers"),
    ("abc", "real numbers"),
    ({"P0": 1.0, "bread": 2.0}, "unknown product code.*'bread'"),
    ({"P0": "lots"}, "column 0 must hold real numbers, got dtype"),
    (pd.Series([1.0, 2.0], index=["P1", "P1"]), "more than once: \\['P1'\\]"),
    (pd.Series([1.0], index=[1]), "indexed by 1 \\(int\\).*dtype=\\{'code': str\\}"),
    (pd.DataFrame([[1.0, 2.0]], index=["P1"], columns=["a", "a"]), "duplicated scenario"),
    (pd.DataFrame(index=["P1"]), "no scenarios"),
    (pd.Series([np.nan], index=["P4"]), r"the first is demand\['P4', 0\]"),
    (pd.Series([1.0, None], index=["P1", "P2"], dtype="Float64"), "NaN"),
])
def test_bad_demand_names_the_argument(demand, match):
    economy = _economy("n50-rho0.3")
    with pytest.raises(InvalidEconomyError, match=match):
        lab.footprint(economy, demand)


def test_bad_resources_and_economy():
    economy = _economy("n50-rho0.3")
    y = np.ones(50)
    with pytest.raises(InvalidEconomyError, match="unknown resource 'water'.*'labour'"):
        lab.footprint(economy, y, resources="water")
    with pytest.raises(InvalidEconomyError, match="row 9 is out of range"):
        lab.footprint(economy, y, resources=9)
    with pytest.raises(InvalidEconomyError, match="resources is empty"):
        lab.footprint(economy, y, resources=[])
    with pytest.raises(InvalidEconomyError, match="names a row twice"):
        lab.footprint(economy, y, resources=["labour", 0])
    with pytest.raises(InvalidEconomyError, match="economy must be a lab.Economy"):
        lab.footprint(np.eye(2), [1.0, 1.0])
    with pytest.raises(ValueError, match="rtol"):
        lab.footprint(economy, y, rtol=2.0)


# --------------------------------------------------------------------------- pymrio


@pytest.fixture(scope="module")
def pymrio_test_system():
    pymrio = pytest.importorskip("pymrio")
    io = pymrio.load_test()
    calculated = io.copy()
    calculated.calc_all()
    return io, calculated


def test_pymrio_test_system(pymrio_test_system):
    """Multi-regional: one scenario per region (Y summed over its final-demand categories)."""
    io, ref = pymrio_test_system
    economy = lab.from_pymrio(io, labour=("factor_inputs", "Value Added"))
    # Y is (region, sector) × (region, category): sum the categories of each region.
    Y_reg = ref.Y.T.groupby(level="region", sort=False).sum().T
    regions = list(Y_reg.columns)
    demand = pd.DataFrame(Y_reg.to_numpy(), index=list(economy.codes), columns=regions)
    result = lab.footprint(economy, demand)
    assert result.converged and result.residual <= 1e-10

    # x: pymrio's total output is the gross output of all final demand together.
    _close(result.gross_output.sum(axis=1), ref.x.iloc[:, 0], rel=1e-10, what="x")
    _close(lab.footprint(economy, ref.Y.sum(axis=1).to_numpy()).gross_output[0],
           ref.x.iloc[:, 0], rel=1e-10, what="x, one scenario")
    # M: the multipliers of every extension row (from_pymrio's resource order).
    M_ref = np.vstack([ref.factor_inputs.M.to_numpy(), ref.emissions.M.to_numpy()])
    _close(result.multipliers.to_numpy(), M_ref, rel=1e-10, what="M")
    # D_cba_reg: footprints per region = totals, plus the emissions of final demand
    # itself (F_Y, households' own emissions), which from_pymrio leaves out.
    F_Y = ref.emissions.F_Y.T.groupby(level="region", sort=False).sum().T[regions]
    D_reg = np.vstack([ref.factor_inputs.D_cba_reg[regions].to_numpy(),
                       (ref.emissions.D_cba_reg[regions] - F_Y).to_numpy()])
    _close(result.totals[regions].to_numpy(), D_reg, rel=1e-10, what="D_cba_reg")
    # D_cba column (region r, sector s): embodied[r] summed over products of sector s.
    sectors = ref.x.index.get_level_values("sector")
    D_cba = np.vstack([ref.factor_inputs.D_cba.to_numpy(), ref.emissions.D_cba.to_numpy()])
    columns = list(ref.emissions.D_cba.columns)
    for r in regions:
        by_sector = result.embodied[r].T.groupby(np.asarray(sectors), sort=False).sum().T
        for s in by_sector.columns:
            _close(by_sector[s], D_cba[:, columns.index((r, s))], rel=1e-9,
                   what=f"D_cba[{r}, {s}]")


def _read_shipped(table: str, name: str) -> pd.DataFrame:
    with resources.as_file(resources.files("lab.datasets") / table / name) as path:
        return pd.read_csv(path, dtype={"code": str, "input_code": str, "output_code": str})


def test_uk_2010_against_pymrio():
    """The shipped UK table, with its final demand, against pymrio built from the same CSVs."""
    pymrio = pytest.importorskip("pymrio")
    products = _read_shipped("uk-2010", "products.csv").set_index("code")
    flows = _read_shipped("uk-2010", "flows.csv")
    demand = _read_shipped("uk-2010", "final_demand.csv").set_index("code")["value"]
    assert (demand < 0).any()  # inventories: negative final demand is part of real tables
    codes = list(products.index)
    index = pd.MultiIndex.from_product([["UK"], codes], names=["region", "sector"])
    Z = flows.pivot_table(index="input_code", columns="output_code", values="value",
                          aggfunc="sum").reindex(index=codes, columns=codes).fillna(0.0)
    Z.index, Z.columns = index, index
    Y = pd.DataFrame({("UK", "final demand"): demand.reindex(codes).to_numpy()}, index=index)
    Y.columns = pd.MultiIndex.from_tuples(Y.columns, names=["region", "category"])
    F = pd.DataFrame([products["compensation"].to_numpy()], index=["compensation"],
                     columns=index)
    io = pymrio.IOSystem(Z=Z, Y=Y, factor_inputs={"name": "factor_inputs", "F": F})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        io.calc_all()

    economy = lab.datasets.load("uk-2010")
    result = lab.footprint(economy, demand.rename("UK"))
    assert result.converged
    # lab's A divides by the published total output, pymrio's by Z·1 + y: they agree
    # to the closure of the table (1e-9).
    _close(result.gross_output["UK"], io.x.iloc[:, 0], rel=1e-8, what="x")
    _close(result.multipliers.loc["compensation"], io.factor_inputs.M.iloc[0], rel=1e-8,
           what="M")
    _close(result.embodied["UK"].loc["compensation"], io.factor_inputs.D_cba.iloc[0],
           rel=1e-8, what="D_cba")
    assert result.totals.loc["compensation", "UK"] == pytest.approx(
        float(io.factor_inputs.D_cba_reg.iloc[0, 0]), rel=1e-8)
    # The footprint of all final demand is all compensation paid in the table.
    assert result.totals.loc["compensation", "UK"] == pytest.approx(
        products["compensation"].sum(), rel=1e-8)
