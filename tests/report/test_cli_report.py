"""`lab plan` and `lab values` write the evidence; `lab report` reads results, evidence and
batch job folders and says when something does not check out."""

from __future__ import annotations

import json
import shlex
import shutil

import numpy as np
import pandas as pd
import pytest
from _fixtures import write_inputs
from _page import columns, document
from click.testing import CliRunner

import lab
from lab.cli._main import cli
from lab.exceptions import DataFormatError
from lab.report import evidence_path, read_evidence
from lab.report._evidence import SCHEMA, file_sha256


def _run(args, ok=True):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """`lab plan` of uk-2010 in a fresh folder: (folder, plan.csv)."""
    folder = tmp_path_factory.mktemp("plan")
    targets, resources = write_inputs(folder)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        _run(["plan", "--dataset", "uk-2010", "--targets", "targets.csv", "--resources",
              "resources.csv", "-o", "plan.csv", "--quiet"])
    return folder, folder / "plan.csv"


def test_lab_plan_writes_the_evidence(planned):
    folder, plan = planned
    ev = read_evidence(evidence_path(plan))
    assert ev["schema"] == SCHEMA and ev["kind"] == "plan"
    assert ev["result"] == {"file": "plan.csv", "sha256": file_sha256(plan)}
    assert ev["lab_version"] == lab.__version__
    assert ev["certificate"]["status"] == "OPTIMAL"
    assert float(ev["certificate"]["relative_gap"]) <= 1e-6
    roles = {e["role"]: e for e in ev["inputs"]}
    assert roles["targets"]["path"] == "targets.csv"
    assert roles["targets"]["sha256"] == file_sha256(folder / "targets.csv")
    shipped = {e["file"] for e in ev["inputs"] if e.get("dataset") == "uk-2010"}
    assert {"products.csv", "flows.csv"} <= shipped
    assert ev["economy_source"] == {"dataset": "uk-2010"}
    assert ev["economy"]["sha256"] == lab.batch.economy_digest(lab.datasets.load("uk-2010"))
    (res,) = ev["resources"]
    assert res["resource"] == "compensation" and res["price"] > 0
    assert ev["command"]["line"] == ("lab plan --dataset uk-2010 --targets targets.csv "
                                     "--resources resources.csv --out plan.csv")


def test_the_recorded_command_reproduces_the_plan(planned, tmp_path, monkeypatch):
    folder, plan = planned
    for name in ("targets.csv", "resources.csv"):
        shutil.copy(folder / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    argv = shlex.split(read_evidence(evidence_path(plan))["command"]["line"])
    assert argv[:2] == ["lab", "plan"]
    _run(argv[1:] + ["--quiet"])
    assert (tmp_path / "plan.csv").read_bytes() == plan.read_bytes()


def test_lab_report_of_a_plan_file(planned, tmp_path):
    folder, plan = planned
    out = tmp_path / "report.html"
    result = _run(["report", plan, "-o", out])
    assert "report written to" in result.output
    doc, cols = document(out), columns(out)
    assert doc["notices"] == []
    assert {f["status"] for f in doc["evidence"]["files"]} == {"same"}
    assert doc["evidence"]["command"].startswith("lab plan --dataset uk-2010")
    table = pd.read_csv(plan, dtype={"code": str}).set_index("code")
    has = table["target"].notna()
    assert cols["code"] == list(table.index[has])
    np.testing.assert_allclose(cols["fulfilment"], table["fulfilment"][has], rtol=1e-6)
    assert len(doc["chains"]) == int(has.sum())        # the economy came from the evidence
    assert doc["limits"]["resources"][0]["binding"]


def test_lab_report_notices_changed_inputs_and_results(planned, tmp_path):
    folder, plan = planned
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / "targets.csv").write_text((copy / "targets.csv").read_text() + "01,1.0\n")
    out = tmp_path / "r.html"
    _run(["report", copy / "plan.csv", "-o", out])
    doc = document(out)
    assert any("input targets.csv has changed" in n for n in doc["notices"])
    status = {f["path"]: f["status"] for f in doc["evidence"]["files"]}
    assert status["targets.csv"] == "changed" and status["plan.csv"] == "same"
    (copy / "plan.csv").write_text((copy / "plan.csv").read_text() + "\n")
    _run(["report", copy / "plan.csv", "-o", out])
    assert any("plan.csv has changed since lab wrote it" in n for n in document(out)["notices"])


def test_lab_report_without_evidence_still_reports_and_says_so(planned, tmp_path):
    folder, plan = planned
    shutil.copy(plan, tmp_path / "plan.csv")
    out = tmp_path / "r.html"
    _run(["report", tmp_path / "plan.csv", "-o", out])
    doc = document(out)
    assert any("no evidence file" in n for n in doc["notices"])
    assert doc["chains"] == {}                        # no economy known
    _run(["report", tmp_path / "plan.csv", "-o", out, "--dataset", "uk-2010"])
    assert len(document(out)["chains"]) == 122       # the economy given, codes matching


def test_lab_values_writes_evidence_and_lab_report_reads_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _run(["values", "--dataset", "uk-2010", "-o", "values.csv", "--quiet"])
    ev = read_evidence(evidence_path(tmp_path / "values.csv"))
    assert ev["kind"] == "values" and ev["certificate"]["converged"] is True
    assert float(ev["certificate"]["residual"]) <= 1e-10
    _run(["report", "values.csv", "-o", "values.html"])
    doc, cols = document(tmp_path / "values.html"), columns(tmp_path / "values.html")
    v = lab.labour_values(lab.datasets.load("uk-2010")).values
    np.testing.assert_allclose(cols["v0"], v, rtol=1e-6)
    assert doc["kind"] == "values" and len(doc["chains"]) == 127


BATCH = """
[economies.uk]
dataset = "uk-2010"

[[jobs]]
name = "base"
economy = "uk"

[[jobs]]
name = "less-labour"
economy = "uk"
[[jobs.changes]]
type = "scale_resource"
resource = "compensation"
factor = 0.5

[[jobs]]
name = "plan"
economy = "uk"
kind = "plan"
[[jobs.changes]]
type = "targets"
values = { "01" = 100.0, "47" = 50.0 }
[[jobs.changes]]
type = "availability"
values = { compensation = 1000.0 }
"""


def test_lab_report_of_batch_jobs(tmp_path):
    (tmp_path / "jobs.toml").write_text(BATCH)
    lab.run_batch(tmp_path / "jobs.toml", out=tmp_path / "out")
    jobs = tmp_path / "out" / "jobs"
    base = _run(["report", jobs / "base", "-o", tmp_path / "base.html"])
    assert base.exit_code == 0
    doc = document(tmp_path / "base.html")
    assert doc["kind"] == "values" and len(doc["chains"]) == 127
    assert doc["evidence"]["files"][0]["status"] == "same"
    # the scenario halved labour: the batch's economy no longer gives these values
    _run(["report", jobs / "less-labour", "-o", tmp_path / "less.html"])
    less = document(tmp_path / "less.html")
    assert less["chains"] == {} and any("changed the economy" in n for n in less["notices"])
    _run(["report", jobs / "plan", "-o", tmp_path / "plan.html"])
    plan = document(tmp_path / "plan.html")
    assert plan["kind"] == "plan" and plan["table"]["rows"] == 2
    assert set(plan["chains"]) == {"01", "47"}
    assert plan["headline"]["certified"]


def test_lab_report_refuses_bad_input(tmp_path, planned):
    r = _run(["report", tmp_path / "missing.csv", "-o", tmp_path / "r.html"], ok=False)
    assert r.exit_code == 2 and "does not exist" in r.output
    r = _run(["report", planned[1], "-o", tmp_path / "r.txt"], ok=False)
    assert r.exit_code == 2 and "must end in .html" in r.output
    r = _run(["report", planned[1], "-o", planned[1]], ok=False)
    assert r.exit_code == 2
    bad = tmp_path / "plan.csv"
    shutil.copy(planned[1], bad)
    evidence_path(bad).write_text(json.dumps({"schema": "something else"}))
    r = _run(["report", bad, "-o", tmp_path / "r.html"], ok=False)
    assert r.exit_code == 2 and "plan.csv.evidence.json" in r.output
    with pytest.raises(DataFormatError, match="not JSON"):
        evidence_path(bad).write_text("{")
        read_evidence(evidence_path(bad))
    assert not (tmp_path / "r.html").exists()


def test_lab_report_of_a_multiyear_plan_file(tmp_path, monkeypatch):
    """`lab plan --years` writes its evidence; `lab report` shows the trajectories the
    Python result has (MultiYearProblem's docstring economy: grain, tractors)."""
    monkeypatch.chdir(tmp_path)
    economy = lab.Economy(np.zeros((2, 2)), [1.0, 3.0], codes=["grain", "tractor"])
    lab.write_economy(economy, "e.npz")
    files = {"targets.csv": "code,target\ngrain,10\n",
             "resources.csv": "resource,available\nlabour,30\n",
             "capital.csv": "good,industry,coefficient\ntractor,grain,2\n",
             "initial.csv": "good,industry,stock\ntractor,grain,20\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    _run(["plan", "e.npz", "--years", "2", "--targets", "targets.csv", "--resources",
          "resources.csv", "--capital", "capital.csv", "--depreciation", "0.5",
          "--initial-stocks", "initial.csv", "--method", "plan-ray", "-o", "plan.csv",
          "--quiet"])
    ev = read_evidence(evidence_path(tmp_path / "plan.csv"))
    assert ev["kind"] == "multiyear" and ev["economy_source"] == {"path": "e.npz"}
    assert {e["role"]: e["path"] for e in ev["inputs"]}["capital"] == "capital.csv"
    assert [r["year"] for r in ev["resources"]] == [1, 2]
    _run(["report", "plan.csv", "-o", "r.html"])
    doc, cols = document(tmp_path / "r.html"), columns(tmp_path / "r.html")
    result = lab.plan(lab.MultiYearProblem(
        economy, years=2, targets=[[10.0, 0.0], [10.0, 0.0]], available=[[30.0], [30.0]],
        capital=[[0.0, 0.0], [2.0, 0.0]], depreciation=0.5,
        initial_stocks=[[0.0, 0.0], [20.0, 0.0]]), method="plan-ray")
    assert doc["kind"] == "multiyear" and doc["notices"] == []
    np.testing.assert_allclose(cols["traj:output"].reshape(2, 2), result.output, rtol=1e-6)
    series = {(r["series"], r["year"]): r["hours"]
              for r in doc["charts"][0]["spec"]["data"]["values"]}
    v = np.array([1.0, 3.0])
    for y in range(3):
        held = np.asarray(result.stocks[y].sum(axis=1)).ravel() @ v
        assert series[("stocks (start of year)", y + 1)] == pytest.approx(held, abs=1e-7)
    assert doc["limits"]["resources"][0]["binding"]            # year 1's labour


def test_lab_report_of_a_multiyear_batch_job(tmp_path):
    """A multi-year job's folder is reported as a multi-year plan (trajectories and
    stocks from plan.capital.csv), with the certificate of its record."""
    economy = lab.Economy(np.zeros((2, 2)), [1.0, 3.0], codes=["grain", "tractor"])
    lab.write_economy(economy, tmp_path / "e.npz")
    (tmp_path / "capital.csv").write_text("good,industry,coefficient\ntractor,grain,2\n")
    (tmp_path / "stocks.csv").write_text("good,industry,stock\ntractor,grain,20\n")
    (tmp_path / "jobs.toml").write_text(
        '[economies.e]\npath = "e.npz"\n[[jobs]]\nname = "years"\nkind = "multiyear"\n'
        'years = 2\ncapital = "capital.csv"\ndepreciation = 0.5\n'
        'initial_stocks = "stocks.csv"\noptions = { method = "plan-ray" }\n'
        'changes = [{ type = "targets", values = { grain = 10.0 } },\n'
        '           { type = "availability", values = { labour = 30.0 } }]\n')
    assert lab.run_batch(tmp_path / "jobs.toml", out=tmp_path / "out").ok
    job = tmp_path / "out" / "jobs" / "years"
    _run(["report", job, "-o", tmp_path / "r.html"])
    doc, cols = document(tmp_path / "r.html"), columns(tmp_path / "r.html")
    result = lab.plan(lab.MultiYearProblem(
        economy, years=2, targets=[[10.0, 0.0], [10.0, 0.0]], available=[[30.0], [30.0]],
        capital=[[0.0, 0.0], [2.0, 0.0]], depreciation=0.5,
        initial_stocks=[[0.0, 0.0], [20.0, 0.0]]), method="plan-ray")
    assert doc["kind"] == "multiyear" and doc["headline"]["certified"]
    np.testing.assert_allclose(cols["traj:output"].reshape(2, 2), result.output, rtol=1e-6)
    series = {(r["series"], r["year"]): r["hours"]
              for r in doc["charts"][0]["spec"]["data"]["values"]}
    held = np.asarray(result.stocks[1].sum(axis=1)).ravel() @ np.array([1.0, 3.0])
    assert series[("stocks (start of year)", 2)] == pytest.approx(held, abs=1e-7)
    (job / "plan.capital.csv").write_text((job / "plan.capital.csv").read_text() + "\n")
    _run(["report", job, "-o", tmp_path / "r2.html"])
    assert any("plan.capital.csv has changed" in n for n in document(tmp_path / "r2.html")
               ["notices"])


def test_lab_report_refuses_another_economy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _run(["values", "--dataset", "uk-2010", "-o", "values.csv", "--quiet"])
    lab.write_economy(lab.generate_economy(127, seed=1), "other.npz")
    _run(["report", "values.csv", "-o", "r.html", "--economy", "other.npz"])
    doc = document(tmp_path / "r.html")
    assert doc["chains"] == {} and any("not the one the result was made from" in n
                                       for n in doc["notices"])
