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
    assert "most binding resources" in result.stdout and "labour" in result.stdout
    assert "highest shadow prices" in result.stdout


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
