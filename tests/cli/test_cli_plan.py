"""``lab plan``: the plan file, the summary, and one-line errors for bad input files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import lab
from lab.cli import cli


def run_cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)


@pytest.fixture()
def files(tmp_path):
    economy = lab.generate_economy(300, seed=2)
    path = lab.write_economy(economy, tmp_path / "e.npz")
    (tmp_path / "targets.csv").write_text("code,target,weight\nP3,1.5,1\nP10,2.0,2\nP77,0.5,1\n")
    (tmp_path / "resources.csv").write_text("resource,available\nlabour,40\n")
    (tmp_path / "caps.csv").write_text("code,capacity\nP3,0.2\nP5,inf\n")
    return economy, path, tmp_path


def test_plan_writes_a_checkable_plan(files):
    economy, path, tmp = files
    out = tmp / "plan.csv"
    result = run_cli("plan", path, "--targets", tmp / "targets.csv", "--resources",
                     tmp / "resources.csv", "--capacities", tmp / "caps.csv", "-o", out,
                     "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["status"] == "OPTIMAL" and info["relative_gap"] <= 1e-6
    frame = pd.read_csv(out, index_col="code")
    assert list(frame.index[:3]) == ["P0", "P1", "P2"]
    # the file is the plan: recompute its net output and its use of labour
    x = frame["intensity"].to_numpy()
    n = x - economy.A @ x
    np.testing.assert_allclose(frame["net_output"], n, rtol=1e-9, atol=1e-12)
    assert economy.labour @ x <= 40 * (1 + 1e-9)
    assert x[3] <= 0.2 * (1 + 1e-12)
    # the same problem through the Python API gives the same harmony
    problem = lab.PlanningProblem(economy, {"P3": 1.5, "P10": 2.0, "P77": 0.5},
                                  weights={"P3": 1, "P10": 2, "P77": 1},
                                  available={"labour": 40}, capacities={"P3": 0.2})
    direct = lab.plan(problem)
    assert abs(direct.harmony - info["harmony"]) <= 1e-6 * max(1, abs(direct.harmony))


def test_plan_summary_names_binding_resources_and_prices(files):
    _, path, tmp = files
    result = run_cli("plan", path, "--targets", tmp / "targets.csv", "--resources",
                     tmp / "resources.csv", "--method", "plan-ray")
    assert result.exit_code == 0, result.output
    assert "binding resources:\n  labour" in result.stdout
    assert "highest shadow prices" in result.stdout
    info = json.loads(run_cli("plan", path, "--targets", tmp / "targets.csv", "--resources",
                              tmp / "resources.csv", "--method", "plan-ray", "--json").stdout)
    (labour,) = info["resources"]
    assert labour["binding"] and labour["price"] > 0


def test_plan_summary_lists_no_resource_whose_price_is_zero(files):
    """Issue 15: "most binding resources" listed a resource whose price was 0. Here
    labour is plentiful (10^6 hours), so the capacity limits the plan, not labour."""
    _, path, tmp = files
    plenty = tmp / "plenty.csv"
    plenty.write_text("resource,available\nlabour,1000000\n")
    caps = tmp / "every-target.csv"
    caps.write_text("code,capacity\nP3,0.2\nP10,0.2\nP77,0.2\n")
    options = ("--targets", tmp / "targets.csv", "--resources", plenty, "--capacities", caps,
               "--method", "plan-ray")
    result = run_cli("plan", path, *options, "--json")
    assert result.exit_code == 0, result.output
    (labour,) = json.loads(result.stdout)["resources"]
    assert labour["price"] == 0 and not labour["binding"]
    text = run_cli("plan", path, *options).stdout
    assert "binding resources: none" in text


def test_plan_parquet_and_cockshott(files):
    pytest.importorskip("pyarrow")
    _, path, tmp = files
    out = tmp / "plan.parquet"
    result = run_cli("plan", path, "--targets", tmp / "targets.csv", "--resources",
                     tmp / "resources.csv", "--method", "cockshott", "-o", out)
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(out)) == 300


@pytest.mark.parametrize("content, needle", [
    ("code,target\nP3,abc\n", "line 2: target 'abc' of 'P3' is not a number"),
    ("code,target\nP3,1\nP3,2\n", "line 3: code 'P3' appears twice"),
    ("code,tgt\nP3,1\n", "missing column(s) target"),
    ("code,target\n", "no rows"),
    ("code,target\nNOPE,1\n", "unknown products: 'NOPE'"),
    ("code,target\nP3,-1\n", "targets must be > 0"),
])
def test_plan_bad_targets_file_is_one_line(files, content, needle):
    _, path, tmp = files
    bad = tmp / "bad.csv"
    bad.write_text(content)
    result = run_cli("plan", path, "--targets", bad, "--resources", tmp / "resources.csv")
    assert result.exit_code == 2, result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("lab: error: ")]
    assert len(errors) == 1 and needle in errors[0], result.stderr
    assert "Traceback" not in result.output


def test_plan_unbounded_exits_1(files):
    _, path, tmp = files
    result = run_cli("plan", path, "--targets", tmp / "targets.csv")
    assert result.exit_code == 1
    assert "unbounded" in result.stderr


def test_plan_needs_an_economy(files):
    _, _, tmp = files
    result = run_cli("plan", "--targets", tmp / "targets.csv")
    assert result.exit_code == 2 and "ECONOMY" in result.stderr


# ------------------------------------------------------------ multi-year plans (issue 12)


@pytest.fixture()
def tractors(tmp_path):
    """The hand-solved two-year economy of tests/planning/test_multiyear.py as files."""
    economy = lab.Economy(np.zeros((2, 2)), [1.0, 3.0], codes=["grain", "tractor"])
    path = lab.write_economy(economy, tmp_path / "e.npz")
    (tmp_path / "targets.csv").write_text("year,code,target\n1,grain,10\n2,grain,10\n")
    (tmp_path / "resources.csv").write_text("resource,available\nlabour,30\n")
    (tmp_path / "capital.csv").write_text("good,industry,coefficient\ntractor,grain,2\n")
    (tmp_path / "initial.csv").write_text("good,industry,stock\ntractor,grain,20\n")
    return path, tmp_path


def _multiyear_args(path, tmp, *more):
    return ("plan", path, "--years", 2, "--targets", tmp / "targets.csv", "--resources",
            tmp / "resources.csv", "--capital", tmp / "capital.csv", "--depreciation", 0.5,
            "--initial-stocks", tmp / "initial.csv", "--weights", "uniform", *more)


def test_multiyear_plan_from_files(tractors):
    path, tmp = tractors
    out = tmp / "plan.csv"
    result = run_cli(*_multiyear_args(path, tmp, "--method", "plan-ray", "-o", out, "--json"))
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["status"] == "OPTIMAL" and abs(info["objective"] - 6 / 7) <= 1e-6
    frame = pd.read_csv(out, index_col=["year", "code"])
    assert frame.loc[(2, "grain"), "fulfilment"] == pytest.approx(6 / 7, rel=1e-6)
    capital = pd.read_csv(tmp / "plan.capital.csv", index_col=["year", "good", "industry"])
    assert capital.loc[(1, "tractor", "grain"), "investment"] == pytest.approx(50 / 7, rel=1e-5)
    assert capital.loc[(2, "tractor", "grain"), "stock"] == pytest.approx(120 / 7, rel=1e-6)
    assert capital.loc[(3, "tractor", "grain"), "investment"] == 0.0


def test_multiyear_sum_of_rates_and_terminal_stocks(tractors):
    path, tmp = tractors
    result = run_cli(*_multiyear_args(path, tmp, "--method", "plan-ray-sum", "--json"))
    assert result.exit_code == 0, result.output
    assert abs(json.loads(result.stdout)["objective"] - 11 / 6) <= 1e-6
    (tmp / "r2.csv").write_text("year,resource,available\n1,labour,30\n2,labour,20\n")
    result = run_cli("plan", path, "--years", 2, "--targets", tmp / "targets.csv",
                     "--resources", tmp / "r2.csv", "--capital", tmp / "capital.csv",
                     "--depreciation", 0.5, "--initial-stocks", tmp / "initial.csv",
                     "--terminal-stocks", 0.75, "--method", "plan-ray", "--json")
    assert result.exit_code == 0, result.output
    assert abs(json.loads(result.stdout)["objective"] - 1 / 3) <= 1e-6
    result = run_cli(*_multiyear_args(path, tmp, "--terminal-stocks", 2, "--method",
                                      "plan-ray"))
    assert result.exit_code == 1 and "no plan leaves the terminal stocks" in result.output


def test_multiyear_summary_names_the_worst_targets(tractors):
    path, tmp = tractors
    result = run_cli(*_multiyear_args(path, tmp))
    assert result.exit_code == 0, result.output
    assert "worst-fulfilled targets:" in result.stdout and "grain@2" in result.stdout
    assert "smallest fulfilment by year 1, 0.833333" in result.stdout


@pytest.mark.parametrize("args, needle", [
    (("--method", "plan-ray-sum"), "--method plan-ray-sum needs --years"),
    (("--capital", "c.csv"), "--capital needs --years"),
    (("--depreciation", "0.1"), "--depreciation needs --years"),
])
def test_multiyear_options_need_years(files, args, needle):
    _, path, tmp = files
    result = run_cli("plan", path, "--targets", tmp / "targets.csv", *args)
    assert result.exit_code == 2 and needle in result.stderr


@pytest.mark.parametrize("name, content, needle", [
    ("capital.csv", "good,industry,coefficient\nsteel,grain,2\n", "unknown product code"),
    ("capital.csv", "good,industry,coefficient\ntractor,grain,2\ntractor,grain,3\n",
     "appears twice"),
    ("targets.csv", "year,code,target\n3,grain,10\n", "year '3' is not one of 1 … 2"),
    ("initial.csv", "good,industry,stock\ngrain,grain,5\n", "needs none of it"),
])
def test_multiyear_bad_files_are_one_line(tractors, name, content, needle):
    path, tmp = tractors
    (tmp / name).write_text(content)
    result = run_cli(*_multiyear_args(path, tmp))
    assert result.exit_code == 2, result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("lab: error: ")]
    assert len(errors) == 1 and needle in errors[0], result.stderr


def test_single_year_summary_says_when_targets_get_nothing(tmp_path):
    """uk-2010 with unit weights starves its largest sectors (issue 12): the summary
    says so; the default (value) weights meet every target."""
    from importlib import resources as res

    fd = pd.read_csv(res.files("lab.datasets") / "uk-2010" / "final_demand.csv",
                     dtype={"code": str})
    fd = fd[fd["value"] > 0]
    (tmp_path / "t.csv").write_text("code,target\n" + "".join(
        f"{c},{1.1 * v}\n" for c, v in zip(fd["code"], fd["value"], strict=True)))
    products = pd.read_csv(res.files("lab.datasets") / "uk-2010" / "products.csv")
    (tmp_path / "r.csv").write_text(f"resource,available\ncompensation,"
                                    f"{products['compensation'].sum()}\n")
    plain = run_cli("plan", "--dataset", "uk-2010", "--targets", tmp_path / "t.csv",
                    "--resources", tmp_path / "r.csv", "--weights", "uniform")
    assert plain.exit_code == 0, plain.output
    assert "targets get nothing" in plain.stdout and "worst-fulfilled targets" in plain.stdout
    balanced = run_cli("plan", "--dataset", "uk-2010", "--targets", tmp_path / "t.csv",
                       "--resources", tmp_path / "r.csv", "--json")
    info = json.loads(balanced.stdout)
    assert info["targets_with_nothing"] == [] and info["min_fulfilment"] > 0.5
