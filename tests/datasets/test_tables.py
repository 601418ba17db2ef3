"""Plan inputs from the shipped tables (issue 15, item 4): ``load_table`` gives the final
demand and resource totals, read here independently with pandas from the package's
CSV files; the resource name ``labour`` stands for row 0; unknown names list the
valid ones."""

from __future__ import annotations

import shutil
import warnings
from importlib import resources

import numpy as np
import pandas as pd
import pytest

import lab
import lab.datasets
from lab.exceptions import DataFormatError, InvalidOptionError, InvalidProblemError


def _csv(name, file):
    path = resources.files("lab.datasets") / name / file
    return pd.read_csv(path, dtype={"code": str}, keep_default_na=False)


def _load_table(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # usa-2017-bea-detail's clipped flows
        return lab.datasets.load_table(name, labour="none" if name == "world-2011-wiod"
                                       else None)


@pytest.mark.parametrize("name", lab.datasets.available())
def test_final_demand_and_resource_totals_are_the_tables_own(name):
    table = _load_table(name)
    codes = [str(c) for c in table.economy.codes]
    expected = _csv(name, "final_demand.csv").set_index("code")["value"].loc[codes]
    assert table.final_demand.index.tolist() == codes
    np.testing.assert_array_equal(table.final_demand.to_numpy(), expected.to_numpy(float))
    products = _csv(name, "products.csv")
    assert table.resource_totals.index.tolist() == list(table.economy.resource_names)
    for resource, total in table.resource_totals.items():
        want = products[resource].sum() if resource in products else 0.0
        assert total == pytest.approx(want, rel=1e-12)
    assert repr(table).startswith(f"Table({name!r}")


def test_targets_are_the_positive_final_demand_scaled():
    table = _load_table("uk-2010")
    fd = table.final_demand
    targets = table.targets(scale=1.1)
    assert targets.index.tolist() == fd.index[fd > 0].tolist()
    assert (fd <= 0).sum() == 5  # 2 negative, 3 zero: no target for them
    np.testing.assert_allclose(targets.to_numpy(), 1.1 * fd[fd > 0].to_numpy(), rtol=1e-15)
    for bad in (0, -1.0, float("inf"), float("nan"), "2"):
        with pytest.raises(InvalidOptionError, match="scale"):
            table.targets(scale=bad)


@pytest.mark.parametrize("name", ["uk-2010", "germany-1995", "usa-2014-wiod", "sweden-2016"])
def test_a_plan_from_the_table_alone_meets_every_target_in_proportion(name):
    """Targets 1.1 × final demand, resources at today's totals: value weights give every
    target the plan ray's fulfilment φ; where every final demand is > 0 and the
    totals are today's use, φ = 1/1.1 (x = (I − A)⁻¹·y uses exactly the totals)."""
    table = _load_table(name)
    problem = lab.PlanningProblem(table.economy, table.targets(scale=1.1),
                                  available=table.resource_totals)
    best = lab.plan(problem)
    ray = lab.plan(problem, method="plan-ray")
    assert best.converged and ray.converged
    assert abs(best.min_fulfilment - ray.objective) <= 1e-6 * ray.objective
    if (table.final_demand > 0).all():
        assert ray.objective == pytest.approx(1 / 1.1, rel=1e-6)


def test_a_folder_in_the_same_layout_is_a_table(tmp_path):
    source = resources.files("lab.datasets") / "germany-1995"
    for file in ("products.csv", "flows.csv", "final_demand.csv"):
        shutil.copy(source / file, tmp_path / file)
    shipped = lab.datasets.load_table("germany-1995")
    table = lab.datasets.load_table(tmp_path)
    assert table.info is None and table.name == str(tmp_path)
    pd.testing.assert_series_equal(table.final_demand, shipped.final_demand)
    pd.testing.assert_series_equal(table.resource_totals, shipped.resource_totals)
    # a product without final demand, then no final_demand.csv at all
    lines = (tmp_path / "final_demand.csv").read_text().splitlines(keepends=True)
    (tmp_path / "final_demand.csv").write_text("".join(lines[:-1]))
    missing = lines[-1].split(",")[0]
    with pytest.raises(DataFormatError, match=f"no final demand for 1 product.*'{missing}'"):
        lab.datasets.load_table(tmp_path)
    (tmp_path / "final_demand.csv").unlink()
    with pytest.raises(DataFormatError, match="no final_demand.csv"):
        lab.datasets.load_table(tmp_path)
    with pytest.raises(InvalidOptionError, match="unknown dataset 'nowhere'"):
        lab.datasets.load_table("nowhere")


def test_labour_names_the_labour_row_and_unknown_names_list_the_valid_ones():
    table = _load_table("uk-2010")
    economy, targets = table.economy, table.targets()
    total = float(table.resource_totals["compensation"])
    alias = lab.PlanningProblem(economy, targets, available={"labour": total})
    named = lab.PlanningProblem(economy, targets, available={"compensation": total})
    np.testing.assert_array_equal(alias.available, named.available)
    assert lab.plan(alias).objective == pytest.approx(lab.plan(named).objective, rel=1e-12)
    with pytest.raises(InvalidProblemError, match="unknown resources: 'hours'; the resources "
                                                  "are 'compensation'"):
        lab.PlanningProblem(economy, targets, available={"hours": total})
    with pytest.raises(InvalidProblemError, match="both 'labour' and 'compensation'"):
        lab.PlanningProblem(economy, targets, available={"labour": 1.0, "compensation": 2.0})
    # a table with several labour rows: 'labour' is row 0, the others keep their names
    germany = lab.datasets.load("germany-1995", labour="compensation")
    problem = lab.PlanningProblem(germany, {"CPA_A": 1.0}, available={"labour": 5.0,
                                                                      "employment": 7.0})
    assert germany.resource_names[0] == "compensation"
    np.testing.assert_array_equal(problem.available, [5.0, 7.0])
