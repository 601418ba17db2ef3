"""``lab plan --targets final-demand --scale F --available current`` (issue 15, item 4):
the same plan as the hand-made files give, and one-line errors where the table is
missing."""

from __future__ import annotations

import json
import shutil
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import lab
from lab.cli import cli


def run_cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)


def one_error(result, needle):
    assert result.exit_code == 2, result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("lab: error: ")]
    assert len(errors) == 1 and needle in errors[0], result.stderr


def _hand_made_files(tmp_path, name="uk-2010", scale=1.1):
    """The targets and resources files a user had to write before (with pandas)."""
    folder = resources.files("lab.datasets") / name
    fd = pd.read_csv(folder / "final_demand.csv", dtype={"code": str}, keep_default_na=False)
    fd = fd[fd["value"] > 0]
    pd.DataFrame({"code": fd["code"], "target": scale * fd["value"]}).to_csv(
        tmp_path / "t.csv", index=False, float_format="%.17g")
    products = pd.read_csv(folder / "products.csv", dtype={"code": str},
                           keep_default_na=False)
    labour = [c for c in products.columns if c not in ("code", "name", "total_output")]
    pd.DataFrame({"resource": labour, "available": [products[c].sum() for c in labour]}).to_csv(
        tmp_path / "r.csv", index=False, float_format="%.17g")
    return tmp_path / "t.csv", tmp_path / "r.csv"


def test_final_demand_and_current_give_the_plan_of_the_hand_made_files(tmp_path):
    targets, limits = _hand_made_files(tmp_path)
    by_hand = run_cli("plan", "--dataset", "uk-2010", "--targets", targets, "--resources",
                      limits, "--json", "-o", tmp_path / "a.csv")
    assert by_hand.exit_code == 0, by_hand.output
    table = run_cli("plan", "--dataset", "uk-2010", "--targets", "final-demand", "--scale",
                    "1.1", "--available", "current", "--json", "-o", tmp_path / "b.csv")
    assert table.exit_code == 0, table.output
    a, b = json.loads(by_hand.stdout), json.loads(table.stdout)
    assert b["status"] == "OPTIMAL" and b["n_targets"] == 122
    assert b["harmony"] == pytest.approx(a["harmony"], rel=1e-12)
    assert b["min_fulfilment"] == pytest.approx(a["min_fulfilment"], rel=1e-12)
    plan_a = pd.read_csv(tmp_path / "a.csv", dtype={"code": str}, keep_default_na=False)
    plan_b = pd.read_csv(tmp_path / "b.csv", dtype={"code": str}, keep_default_na=False)
    np.testing.assert_allclose(plan_b["intensity"], plan_a["intensity"], rtol=1e-9)
    assert plan_b["name"].tolist() == lab.datasets.load("uk-2010").names.tolist()
    # the Python API on the same table
    t = lab.datasets.load_table("uk-2010")
    direct = lab.plan(lab.PlanningProblem(t.economy, t.targets(scale=1.1),
                                          available=t.resource_totals))
    assert direct.harmony == pytest.approx(b["harmony"], rel=1e-12)


def test_scale_multiplies_a_targets_file_and_available_takes_a_file(tmp_path):
    targets, limits = _hand_made_files(tmp_path, name="germany-1995", scale=1.0)
    base = run_cli("plan", "--dataset", "germany-1995", "--targets", targets, "--scale",
                   "1.1", "--available", limits, "--json")
    table = run_cli("plan", "--dataset", "germany-1995", "--targets", "final-demand",
                    "--scale", "1.1", "--available", "current", "--json")
    assert base.exit_code == 0 and table.exit_code == 0, base.output + table.output
    a, b = json.loads(base.stdout), json.loads(table.stdout)
    assert a["min_fulfilment"] == pytest.approx(b["min_fulfilment"], rel=1e-12)
    assert b["min_fulfilment"] == pytest.approx(1 / 1.1, rel=1e-6)


def test_a_table_folder_with_final_demand_works_like_a_dataset(tmp_path):
    source = resources.files("lab.datasets") / "germany-1995"
    folder = tmp_path / "table"
    folder.mkdir()
    for file in ("products.csv", "flows.csv", "final_demand.csv"):
        shutil.copy(source / file, folder / file)
    result = run_cli("plan", folder, "--targets", "final-demand", "--available", "current",
                     "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["min_fulfilment"] == pytest.approx(1.0, rel=1e-6)
    (folder / "final_demand.csv").unlink()
    one_error(run_cli("plan", folder, "--targets", "final-demand"),
              "not a folder holding final_demand.csv")


def test_plan_input_options_refuse_what_they_cannot_do(tmp_path):
    economy = lab.write_economy(lab.generate_economy(50, seed=1), tmp_path / "e.npz")
    one_error(run_cli("plan", economy, "--targets", "final-demand"), "use --dataset NAME")
    one_error(run_cli("plan", "--dataset", "uk-2010", "--targets", "final-demand",
                      "--available", "current", "--resources", tmp_path / "r.csv"),
              "either --resources FILE or --available")
    for bad in ("0", "-2", "inf"):
        one_error(run_cli("plan", "--dataset", "uk-2010", "--targets", "final-demand",
                          "--scale", bad), "--scale must be a finite number > 0")
    one_error(run_cli("plan", "--dataset", "uk-2010", "--targets", "final-demand",
                      "--years", "2"), "plan one year")
    (tmp_path / "r.csv").write_text("resource,available\nhours,10\n")
    one_error(run_cli("plan", "--dataset", "uk-2010", "--targets", "final-demand",
                      "--resources", tmp_path / "r.csv"), "the resources are 'compensation'")
