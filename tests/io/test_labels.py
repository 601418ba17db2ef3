"""Labels in, labels out (issue 15, item 3): pandas labels become codes and resource
names, pymrio's (region, sector) MultiIndex survives in every result, and written
files carry product names.

References are independent of lab's label handling: dense NumPy solves on the same
numbers put in order by hand, pymrio's own calculation, and pandas reading the
written files back.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import lab
from lab.economy import index_codes, product_index
from lab.exceptions import InvalidEconomyError

CODES = ["corn", "iron", "coal"]
A_DENSE = np.array([[0.1, 0.2, 0.0], [0.3, 0.0, 0.1], [0.05, 0.4, 0.1]])
L_DENSE = np.array([1.0, 2.0, 0.5])


def _dense_values(A, l):
    return np.linalg.solve(np.eye(len(l)) - A.T, l)


def _shuffled_frame(codes=CODES):
    """A as a DataFrame whose columns are in another order than its rows."""
    frame = pd.DataFrame(A_DENSE, index=codes, columns=codes)
    return frame[list(reversed(codes))]


def test_labelled_frames_give_codes_and_resource_names_matched_by_label():
    labour = pd.Series(L_DENSE, index=CODES, name="hours").iloc[[2, 0, 1]]
    economy = lab.Economy(_shuffled_frame(), labour)
    assert economy.codes.tolist() == CODES
    assert economy.resource_names == ("hours",)  # the Series' name
    np.testing.assert_array_equal(economy.A.toarray(), A_DENSE)
    np.testing.assert_array_equal(economy.labour, L_DENSE)
    R = pd.DataFrame([L_DENSE, 2 * L_DENSE], index=["hours", "co2"], columns=CODES)
    economy = lab.Economy(_shuffled_frame(), R[["iron", "coal", "corn"]])
    assert economy.resource_names == ("hours", "co2")
    np.testing.assert_array_equal(economy.R, [L_DENSE, 2 * L_DENSE])
    # a plain string index needs no kept index: the codes are the labels
    assert economy._index is None
    assert economy.index.equals(pd.Index(CODES, name="code"))


def test_from_flows_matches_output_and_resources_by_label():
    Z = pd.DataFrame(A_DENSE * 100, index=CODES, columns=CODES)
    x = pd.Series(100.0, index=CODES[::-1])
    hours = pd.Series(L_DENSE * 100, index=CODES, name="hours").iloc[::-1]
    economy = lab.Economy.from_flows(Z, x, hours)
    assert economy.resource_names == ("hours",)
    np.testing.assert_allclose(economy.A.toarray(), A_DENSE, rtol=1e-15)
    np.testing.assert_allclose(economy.labour, L_DENSE, rtol=1e-15)


@pytest.mark.parametrize("argument, bad", [
    ("R", pd.Series(L_DENSE, index=["corn", "iron", "steel"])),
    ("R", pd.DataFrame([L_DENSE], columns=["corn", "iron", "gold"])),
    ("names", pd.Series(["a", "b", "c"], index=["corn", "iron", "wool"])),
])
def test_labels_that_do_not_match_are_an_error_naming_the_argument(argument, bad):
    kwargs = {"names": bad} if argument == "names" else {}
    R = L_DENSE if argument == "names" else bad
    with pytest.raises(InvalidEconomyError, match=rf"^{argument}\b.*labels do not match"):
        lab.Economy(_shuffled_frame(), R, **kwargs)


def test_from_flows_names_the_mismatched_argument():
    Z = pd.DataFrame(A_DENSE, index=CODES, columns=CODES)
    with pytest.raises(InvalidEconomyError, match="^total_output.*missing: 'coal'"):
        lab.Economy.from_flows(Z, pd.Series(1.0, index=["corn", "iron", "tin"]))
    with pytest.raises(InvalidEconomyError, match="^resource_totals"):
        lab.Economy.from_flows(Z, np.ones(3), pd.Series(1.0, index=["corn", "iron", "tin"]))


# ------------------------------------------------------------------ a MultiIndex


def _regional():
    index = pd.MultiIndex.from_product([["north", "south"], ["corn", "iron"]],
                                       names=["region", "sector"])
    rng = np.random.default_rng(3)
    A = rng.random((4, 4)) * 0.2
    l = rng.random(4) + 0.5
    return index, A, l


def test_a_multiindex_survives_in_values_footprints_and_plans():
    index, A, l = _regional()
    order = [3, 1, 0, 2]  # resources given in another order, matched by label
    R = pd.DataFrame([l, 2 * l], index=["hours", "co2"], columns=index)
    economy = lab.Economy(pd.DataFrame(A, index=index, columns=index), R.iloc[:, order])
    assert economy.index.equals(index) and economy.index.names == ["region", "sector"]
    assert economy.codes.tolist() == ["north.corn", "north.iron", "south.corn", "south.iron"]
    np.testing.assert_array_equal(economy.R, [l, 2 * l])

    values = lab.labour_values(economy, resources="all")
    assert values.frame.index.equals(index)
    np.testing.assert_allclose(values.frame["hours"].to_numpy(), _dense_values(A, l),
                               rtol=1e-9)
    series = lab.labour_values(economy).series
    assert series.index.equals(index)
    # joins to the caller's (region, sector) frames without splitting strings
    mine = pd.Series(1.0, index=index[::-1])
    assert (series * mine).index.equals(index)

    y = pd.DataFrame({"base": [1.0, 2.0, 0.5, 1.5]}, index=index).iloc[order]
    result = lab.footprint(economy, y)
    assert result.gross_output.index.equals(index)
    np.testing.assert_allclose(result.gross_output["base"].to_numpy(),
                               np.linalg.solve(np.eye(4) - A, [1.0, 2.0, 0.5, 1.5]), rtol=1e-9)

    plan = lab.plan(lab.PlanningProblem(economy, {"north.corn": 1.0, "south.iron": 2.0},
                                        available={"hours": 10.0}))
    assert plan.products_frame().index.equals(index)
    assert plan.techniques_frame().index.equals(index)


def test_the_multiindex_follows_dropped_products_pickle_and_updates():
    index = pd.MultiIndex.from_tuples([("a", "x"), ("a", "y"), ("b", "x")],
                                      names=["region", "sector"])
    Z = pd.DataFrame([[1.0, 0, 2], [0, 0, 0], [3, 0, 1]], index=index, columns=index)
    x = pd.Series([10.0, 0.0, 20.0], index=index)
    economy = lab.Economy.from_flows(Z, x, pd.Series([1.0, 0, 2], index=index, name="h"))
    assert economy.dropped == ("a.y",)
    assert economy.index.equals(index[[0, 2]])
    again = pickle.loads(pickle.dumps(economy))
    assert again.index.equals(economy.index)
    solver = lab.ValueSolver(economy)
    solver.update({("a.x", "b.x"): 0.2})
    assert solver.solve().series.index.equals(economy.index)


def test_product_index_and_index_codes():
    index, A, l = _regional()
    economy = lab.Economy(pd.DataFrame(A, index=index, columns=index), l)
    assert product_index(economy) is economy.index
    assert product_index(index) is index
    assert product_index(["a", "b"]).equals(pd.Index(["a", "b"], name="code"))
    assert index_codes(index) == economy.codes.tolist()
    assert index_codes(pd.Index([7, 8])) == ["7", "8"]


def test_non_string_labels_are_kept_beside_their_codes():
    frame = pd.DataFrame(A_DENSE, index=[101, 102, 103], columns=[101, 102, 103])
    economy = lab.Economy(frame, pd.Series(L_DENSE, index=[103, 101, 102]).loc[[101, 102, 103]])
    assert economy.codes.tolist() == ["101", "102", "103"]
    assert economy.index.tolist() == [101, 102, 103]
    assert lab.labour_values(economy).series.index.tolist() == [101, 102, 103]


# ------------------------------------------------------------------ pymrio


@pytest.fixture(scope="module")
def mrio():
    pymrio = pytest.importorskip("pymrio")
    io = pymrio.load_test()
    reference = io.copy()
    reference.calc_all()
    return io, reference


def test_from_pymrio_results_join_pymrio_frames_by_region_and_sector(mrio):
    io, reference = mrio
    economy = lab.from_pymrio(io, labour=("factor_inputs", "Value Added"))
    assert economy.index.equals(io.Z.index)
    assert list(economy.index.names) == ["region", "sector"]
    values = lab.labour_values(economy, resources="all").frame
    assert values.index.equals(reference.factor_inputs.M.columns)
    # pymrio's multipliers, joined on (region, sector): no string splitting
    theirs = reference.factor_inputs.M.loc["Value Added"]
    np.testing.assert_allclose(values["factor_inputs:Value Added"], theirs.loc[values.index],
                               rtol=1e-9)
    Y = io.Y.T.groupby(level="region").sum().T  # one scenario per region
    result = lab.footprint(economy, Y.iloc[::-1])  # rows in another order: matched by label
    np.testing.assert_allclose(result.gross_output.sum(axis=1).loc[reference.x.index],
                               reference.x.iloc[:, 0], rtol=1e-8)


def test_from_pymrio_plan_frames_and_written_files(mrio, tmp_path):
    io, _ = mrio
    economy = lab.from_pymrio(io, labour=("factor_inputs", "Value Added"))
    values = lab.labour_values(economy)
    path = lab.write_values(values, tmp_path / "v.csv", names=economy.names)
    back = pd.read_csv(path, dtype={"code": str}, keep_default_na=False)
    assert back.columns.tolist() == ["code", "name", "value"]
    assert back["code"].tolist() == economy.codes.tolist()
    assert back["name"].tolist() == economy.names.tolist()
    np.testing.assert_array_equal(back["value"].to_numpy(), values.values)


# ------------------------------------------------------------------ files


def test_written_values_and_plans_carry_names(tmp_path):
    from lab.io._plan_tables import write_plan

    economy = lab.datasets.load("uk-2010")
    values = lab.labour_values(economy)
    lab.write_values(values, tmp_path / "v.parquet", names=economy.names)
    back = pd.read_parquet(tmp_path / "v.parquet")
    assert back.index.tolist() == economy.codes.tolist()
    assert back["name"].tolist() == economy.names.tolist()
    with pytest.raises(InvalidEconomyError, match="names has length 2"):
        lab.write_values(values, tmp_path / "w.csv", names=["a", "b"])
    problem = lab.PlanningProblem(economy, {"01": 10.0, "45": 5.0},
                                  available={"compensation": 1e4})
    write_plan(lab.plan(problem), tmp_path / "plan.csv")
    plan = pd.read_csv(tmp_path / "plan.csv", dtype={"code": str}, keep_default_na=False)
    assert plan.columns[:2].tolist() == ["code", "name"]
    assert plan["name"].tolist() == economy.names.tolist()


def test_pymrio_final_demand_is_a_plans_targets_by_region_and_sector(mrio):
    """Targets 1.1 × pymrio's final demand with today's value added: every target is met
    at 1/1.1 (x = L·y uses exactly today's value added), and the frames come back by
    (region, sector)."""
    io, _ = mrio
    economy = lab.from_pymrio(io, labour=("factor_inputs", "Value Added"))
    targets = 1.1 * io.Y.sum(axis=1)
    value_added = float(io.factor_inputs.F.loc["Value Added"].sum())
    problem = lab.PlanningProblem(economy, targets.iloc[::-1], available={"labour": value_added})
    np.testing.assert_array_equal(problem.targets, targets.to_numpy())
    plan = lab.plan(problem)
    assert plan.converged
    assert plan.min_fulfilment == pytest.approx(1 / 1.1, rel=1e-9)
    frame = plan.products_frame()
    assert frame.index.equals(io.Z.index)
    np.testing.assert_allclose(frame["target"], targets.loc[frame.index], rtol=1e-15)
    mixed = lab.PlanningProblem(economy, {("reg1", "food"): 1.0, "reg2.food": 2.0})
    assert mixed.target_codes == ["reg1.food", "reg2.food"]
    with pytest.raises(lab.InvalidProblemError, match="unknown products: .*'nowhere'"):
        lab.PlanningProblem(economy, {("nowhere", "food"): 1.0})


def test_supply_use_takes_the_resource_name_of_a_named_series_matched_by_industry():
    supply = pd.DataFrame([[10.0, 0.0], [0.0, 20.0]], index=["corn", "iron"],
                          columns=["farm", "mill"])
    use = pd.DataFrame([[1.0, 2.0], [3.0, 4.0]], index=["corn", "iron"],
                       columns=["farm", "mill"])
    hours = pd.Series([5.0, 6.0], index=["mill", "farm"], name="hours")
    table = lab.from_supply_use(supply, use, resource_totals=hours,
                                assumption="industry-technology")
    assert table.economy.resource_names == ("hours",)
    # one product per industry: hours per unit are the industry's hours over its output
    np.testing.assert_allclose(table.economy.labour, [6.0 / 10.0, 5.0 / 20.0], rtol=1e-15)
    with pytest.raises(InvalidEconomyError, match="^resource_totals.*'mine'"):
        lab.from_supply_use(supply, use, resource_totals=hours.rename({"mill": "mine"}),
                            assumption="industry-technology")


def test_multiyear_plan_files_carry_names(tmp_path):
    from lab.io._plan_tables import write_multiyear_plan

    table = lab.datasets.load_table("germany-1995")
    economy = table.economy
    problem = lab.MultiYearProblem(
        economy, years=2, targets={1: table.targets().to_dict(),
                                   2: table.targets(scale=1.05).to_dict()},
        available={"employment": 1.1 * float(table.resource_totals["employment"])})
    write_multiyear_plan(lab.plan(problem), tmp_path / "plan.csv")
    back = pd.read_csv(tmp_path / "plan.csv", dtype={"code": str}, keep_default_na=False)
    assert back.columns[:3].tolist() == ["year", "code", "name"]
    assert back["code"].tolist() == 2 * economy.codes.tolist()
    assert back["name"].tolist() == 2 * economy.names.tolist()


def test_reports_show_the_codes_of_a_multiindex(mrio):
    from lab.report._sources import values_parts

    io, _ = mrio
    economy = lab.from_pymrio(io, labour=("factor_inputs", "Value Added"))
    parts = values_parts(lab.labour_values(economy), economy=economy)
    assert parts.codes.tolist() == economy.codes.tolist()  # "reg1.food", not a tuple
