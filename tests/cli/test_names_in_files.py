"""``lab values -o`` and ``lab plan -o`` write the product names beside the codes, and
``lab report`` still reads the files (issue 15, item 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from click.testing import CliRunner

import lab
from lab.cli import cli


def run_cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)


def test_values_and_plan_files_carry_names_and_still_make_reports(tmp_path):
    economy = lab.datasets.load("germany-1995")
    values = tmp_path / "values.csv"
    result = run_cli("values", "--dataset", "germany-1995", "-o", values, "--quiet")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(values, dtype={"code": str}, keep_default_na=False)
    assert frame.columns.tolist() == ["code", "name", "value"]
    assert frame["name"].tolist() == economy.names.tolist()
    np.testing.assert_allclose(frame["value"], lab.labour_values(economy).values, rtol=1e-12)
    plan = tmp_path / "plan.csv"
    result = run_cli("plan", "--dataset", "germany-1995", "--targets", "final-demand",
                     "--available", "current", "-o", plan, "--quiet")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(plan, dtype={"code": str}, keep_default_na=False)
    assert frame.columns[:2].tolist() == ["code", "name"]
    assert frame["name"].tolist() == economy.names.tolist()
    report = run_cli("report", values, "-o", tmp_path / "values.html")
    assert report.exit_code == 0, report.output
    assert "Products of agriculture" in (tmp_path / "values.html").read_text(encoding="utf-8")
    report = run_cli("report", plan, "-o", tmp_path / "plan.html")  # names, True/False flags
    assert report.exit_code == 0, report.output
