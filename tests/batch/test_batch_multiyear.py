"""Multi-year plan jobs in ``lab batch`` (issue 12): the options of ``lab plan --years``
under the same names, the certificate in the record, resume, and status names (issue 15).

References: a hand-solved two-year economy (one consumption good, one capital good:
MultiYearProblem's docstring, φ = 6/7), and :func:`lab.plan` called directly on the
same :class:`lab.MultiYearProblem` built from arrays rather than from the job's files.
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import lab
from lab.batch import (
    BatchSpec,
    JobFileError,
    JobSpec,
    SetAvailability,
    SetTargets,
    read_batch,
    run_batch,
)
from lab.batch._spec import MULTIYEAR_KEYS
from lab.cli import cli
from lab.generate import generate_multiyear_problem


def record(out, name) -> dict:
    return json.loads((out / "jobs" / name / "record.json").read_text())


def _grain_tractor(tmp_path):
    """Grain needs 2 tractors of stock per unit a year; tractors wear out at 50 % a year;
    20 tractors at the start; 30 hours a year at 1 and 3 hours per unit."""
    economy = lab.Economy(np.zeros((2, 2)), [1.0, 3.0], codes=["grain", "tractor"])
    lab.write_economy(economy, tmp_path / "e.npz")
    (tmp_path / "capital.csv").write_text("good,industry,coefficient\ntractor,grain,2\n")
    (tmp_path / "stocks.csv").write_text("good,industry,stock\ntractor,grain,20\n")
    return economy


JOBS = """\
    [economies.e]
    path = "e.npz"
    [defaults]
    kind = "multiyear"
    years = 2
    capital = "capital.csv"
    depreciation = 0.5
    initial_stocks = "stocks.csv"
    changes = [{ type = "targets", values = { grain = 10.0 } },
               { type = "availability", values = { labour = 30.0 } }]
    [[jobs]]
    name = "ray"
    options = { method = "plan-ray" }
    [[jobs]]
    name = "harmony"
    """
#: A values job next to them: the defaults' multi-year keys do not reach it, its own do.
VALUES_JOB = """    [[jobs]]
    name = "values"
    kind = "values"
    changes = []
    """


def test_job_keys_are_the_options_of_lab_plan_years():
    flags = {o for p in cli.commands["plan"].params for o in p.opts}
    for key in MULTIYEAR_KEYS:
        assert f"--{key.replace('_', '-')}" in flags, key


def test_hand_solved_two_year_plan_runs_records_its_certificate_and_resumes(tmp_path):
    _grain_tractor(tmp_path)
    path = tmp_path / "jobs.toml"
    path.write_text(textwrap.dedent(JOBS))
    spec = read_batch(path)
    job = spec.jobs[0]
    assert (job.kind, job.years, job.depreciation) == ("multiyear", 2, 0.5)
    assert job.capital == str(tmp_path / "capital.csv")  # relative to the job file
    out = tmp_path / "out"
    summary = run_batch(spec, out=out, workers=1)
    assert summary.ok, summary.table()
    ray = record(out, "ray")
    assert ray["plan_status"] == "OPTIMAL" and ray["converged"] and ray["gap"] <= 1e-6
    assert ray["objective"] == pytest.approx(6 / 7, rel=1e-6)
    assert ray["bound"] >= ray["objective"] and len(ray["phi"]) == 2
    assert ray["years"] == 2 and ray["capital_result"] == "plan.capital.csv"
    # the plan file: one row per (year, product); grain fulfilled at φ in the worst year
    plan = pd.read_csv(out / "jobs" / "ray" / "plan.csv", dtype={"code": str})
    assert len(plan) == 4 and set(plan["year"]) == {1, 2}
    grain = plan[plan.code == "grain"]["fulfilment"]
    assert grain.min() == pytest.approx(6 / 7, rel=1e-6)
    capital = pd.read_csv(out / "jobs" / "ray" / "plan.capital.csv", dtype={"good": str})
    assert set(capital["year"]) == {1, 2, 3} and capital.loc[0, "stock"] == pytest.approx(20)
    harmony = record(out, "harmony")
    assert harmony["plan_status"] == "OPTIMAL" and harmony["converged"]
    # resume: nothing to do; a changed input file re-runs exactly the jobs that read it
    again = run_batch(spec, out=out, workers=1, resume=True)
    assert [j.status for j in again.jobs] == ["skipped", "skipped"]
    (tmp_path / "stocks.csv").write_text("good,industry,stock\ntractor,grain,10\n")
    third = run_batch(read_batch(path), out=out, workers=1, resume=True)
    assert [j.status for j in third.jobs] == ["done", "done"]
    assert record(out, "ray")["objective"] < 6 / 7


def test_multiyear_job_matches_lab_plan_on_a_generated_problem(tmp_path):
    """Targets per year, limits per year, capital and depreciation files, terminal stocks,
    year weights: the job's plan is the one lab.plan gives on the same problem."""
    problem = generate_multiyear_problem(40, years=3, seed=5)
    economy = problem.economies[0]
    codes = [str(c) for c in economy.codes]
    C = problem.capital.tocoo()
    K1 = problem.initial_stocks.tocoo()
    pd.DataFrame({"good": [codes[i] for i in C.row], "industry": [codes[j] for j in C.col],
                  "coefficient": C.data}).to_csv(tmp_path / "capital.csv", index=False)
    pd.DataFrame({"good": [codes[i] for i in K1.row], "industry": [codes[j] for j in K1.col],
                  "stock": K1.data}).to_csv(tmp_path / "stocks.csv", index=False)
    goods = sorted({codes[i] for i in C.row})
    rates = {g: 0.05 + 0.1 * k / len(goods) for k, g in enumerate(goods)}
    pd.DataFrame({"good": list(rates), "depreciation": list(rates.values())}).to_csv(
        tmp_path / "depreciation.csv", index=False)
    t = problem.targets
    rho = problem.available
    changes = []
    for y in range(3):
        changes.append(SetTargets({codes[i]: float(t[y, i])
                                             for i in np.flatnonzero(t[y] > 0)}, year=y + 1))
        changes.append(SetAvailability(
            {economy.resource_names[q]: float(rho[y, q])
             for q in np.flatnonzero(np.isfinite(rho[y]))}, year=y + 1))
    job = JobSpec("five", "e", kind="multiyear", years=3, changes=changes,
                  capital=tmp_path / "capital.csv", initial_stocks=tmp_path / "stocks.csv",
                  depreciation=tmp_path / "depreciation.csv", terminal_stocks=0.5,
                  year_weights=[1.0, 0.9, 0.8], options={"method": "harmony", "gap": 1e-7})
    summary = run_batch(BatchSpec({"e": economy}, [job]), out=tmp_path / "out", workers=1)
    assert summary.ok, summary.table()
    rec = record(tmp_path / "out", "five")
    depreciation = np.zeros(len(codes))
    for g, r in rates.items():
        depreciation[codes.index(g)] = r
    direct = lab.plan(lab.MultiYearProblem(
        economy, years=3, targets=t, available=rho, capital=problem.capital,
        depreciation=depreciation, initial_stocks=problem.initial_stocks,
        terminal_stocks=0.5, year_weights=[1.0, 0.9, 0.8]), method="harmony", gap=1e-7)
    assert direct.converged and rec["plan_status"] == "OPTIMAL"
    assert rec["objective"] == pytest.approx(direct.objective, rel=1e-6, abs=1e-6)
    assert rec["phi"] == pytest.approx(list(direct.phi), rel=1e-4, abs=1e-6)


def test_plan_status_is_the_name_and_old_records_with_0_still_resume(tmp_path):
    economy = _grain_tractor(tmp_path)
    job = JobSpec("one", "e", kind="plan", changes=[
        SetTargets({"grain": 1.0}), SetAvailability({"labour": 30.0})])
    spec = BatchSpec({"e": economy}, [job])
    out = tmp_path / "out"
    assert run_batch(spec, out=out, workers=1).ok
    rec = record(out, "one")
    assert rec["plan_status"] == "OPTIMAL"  # as `lab plan --json` says it, not "0"
    rec["plan_status"] = "0"  # what records written before issue 15 say
    (out / "jobs" / "one" / "record.json").write_text(json.dumps(rec))
    again = run_batch(spec, out=out, workers=1, resume=True)
    assert again["one"].status == "skipped"


def test_digests_of_single_year_jobs_do_not_change():
    """Resume keeps working for batches written before the multi-year keys: the
    description of other jobs has no new keys."""
    job = JobSpec("p", "e", kind="plan", changes=[SetTargets({"P1": 1.0})])
    assert set(job.to_dict()) == {"name", "economy", "kind", "options", "changes",
                                  "resources", "time_limit"}
    assert job.to_dict()["changes"] == [{"type": "targets", "values": {"P1": 1.0}}]


@pytest.mark.parametrize("kwargs, fragment", [
    ({"kind": "multiyear"}, "needs years"),
    ({"kind": "multiyear", "years": 0}, "positive integer"),
    ({"kind": "plan", "years": 2}, "years apply to multi-year jobs"),
    ({"kind": "plan", "capital": "c.csv"}, "capital apply to multi-year jobs"),
    ({"kind": "values", "weights": "uniform"}, "weights apply to plan jobs"),
    ({"kind": "plan", "weights": "balanced"}, "weights must be"),
    ({"kind": "multiyear", "years": 2, "depreciation": 1.5}, "depreciation must be in"),
    ({"kind": "multiyear", "years": 2, "year_weights": [1.0]}, "year_weights must be"),
    ({"kind": "multiyear", "years": 2, "changes": [SetTargets({"a": 1.0}, year=3)]},
     "after the last year"),
    ({"kind": "plan", "changes": [SetTargets({"a": 1.0}, year=1)]},
     "year applies to multi-year jobs"),
])
def test_bad_multiyear_jobs_are_clear_errors(kwargs, fragment):
    with pytest.raises((JobFileError, TypeError)) as info:
        JobSpec("j", "e", **kwargs)
    assert fragment in str(info.value)


def test_job_file_errors_name_the_line(tmp_path):
    _grain_tractor(tmp_path)
    path = tmp_path / "jobs.toml"
    path.write_text(textwrap.dedent(JOBS + VALUES_JOB))
    assert [j.kind for j in read_batch(path).jobs] == ["multiyear", "multiyear", "values"]
    path.write_text(textwrap.dedent(JOBS + VALUES_JOB + "    years = 1\n"))
    with pytest.raises(JobFileError) as info:
        read_batch(path)
    message = str(info.value)
    assert "jobs[2]" in message and "multi-year" in message and "line 20" in message


def test_missing_input_file_fails_the_job_only(tmp_path):
    economy = _grain_tractor(tmp_path)
    jobs = [JobSpec("bad", "e", kind="multiyear", years=2, capital=tmp_path / "nope.csv",
                    changes=[SetTargets({"grain": 1.0})]),
            JobSpec("good", "e", kind="multiyear", years=2,
                    changes=[SetTargets({"grain": 1.0}),
                             SetAvailability({"labour": 30.0})])]
    summary = run_batch(BatchSpec({"e": economy}, jobs), out=tmp_path / "out", workers=1)
    assert summary["bad"].status == "failed" and "nope.csv" in summary["bad"].error
    assert summary["good"].status == "done"


def test_cli_runs_a_multiyear_job_file(tmp_path):
    _grain_tractor(tmp_path)
    path = tmp_path / "jobs.toml"
    path.write_text(textwrap.dedent(JOBS))
    result = CliRunner().invoke(cli, ["batch", str(path), "--out", str(tmp_path / "o"),
                                      "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["done"] == 2 and record(tmp_path / "o", "ray")["plan_status"] == "OPTIMAL"


def test_the_same_options_give_the_same_plan_as_lab_plan_years(tmp_path):
    """`lab plan --years 2 --capital F --depreciation F --initial-stocks F
    --terminal-stocks 0.5 --year-weights 1,0.5` and the job with the same keys write
    the same plan files."""
    _grain_tractor(tmp_path)
    (tmp_path / "depreciation.csv").write_text("good,depreciation\ntractor,0.25\n")
    (tmp_path / "targets.csv").write_text("year,code,target\n1,grain,10\n2,grain,12\n")
    (tmp_path / "resources.csv").write_text("resource,available\nlabour,30\n")
    cli_run = CliRunner().invoke(cli, [
        "plan", str(tmp_path / "e.npz"), "--years", "2", "--targets",
        str(tmp_path / "targets.csv"), "--resources", str(tmp_path / "resources.csv"),
        "--capital", str(tmp_path / "capital.csv"), "--depreciation",
        str(tmp_path / "depreciation.csv"), "--initial-stocks", str(tmp_path / "stocks.csv"),
        "--terminal-stocks", "0.5", "--year-weights", "1,0.5", "--method", "harmony",
        "-o", str(tmp_path / "cli.csv"), "--json"])
    assert cli_run.exit_code == 0, cli_run.output
    path = tmp_path / "jobs.toml"
    path.write_text(textwrap.dedent("""\
        [economies.e]
        path = "e.npz"
        [[jobs]]
        name = "same"
        kind = "multiyear"
        years = 2
        capital = "capital.csv"
        depreciation = "depreciation.csv"
        initial_stocks = "stocks.csv"
        terminal_stocks = 0.5
        year_weights = [1, 0.5]
        options = { method = "harmony" }
        changes = [{ type = "targets", year = 1, values = { grain = 10 } },
                   { type = "targets", year = 2, values = { grain = 12 } },
                   { type = "availability", values = { labour = 30 } }]
        """))
    assert run_batch(read_batch(path), out=tmp_path / "out", workers=1).ok
    info = json.loads(cli_run.stdout)
    rec = record(tmp_path / "out", "same")
    assert rec["plan_status"] == info["status"] == "OPTIMAL"
    assert rec["objective"] == info["objective"] and rec["phi"] == info["phi"]
    job = tmp_path / "out" / "jobs" / "same"
    assert (job / "plan.csv").read_bytes() == (tmp_path / "cli.csv").read_bytes()
    assert (job / "plan.capital.csv").read_bytes() == \
        (tmp_path / "cli.capital.csv").read_bytes()
