"""BatchSummary.to_frame (issue 15): one row per job, in the order of the spec, with the
fields of the job outcomes and of the plain-text table."""

from __future__ import annotations

import pandas as pd

import lab
from lab.batch import BatchSpec, JobSpec, ScaleResource, run_batch


def test_to_frame_has_one_row_per_job_in_spec_order(tmp_path):
    economy = lab.generate_economy(200, seed=1)
    jobs = [JobSpec("b-base", "e"), JobSpec("a-bad", "e", resources="nope"),
            JobSpec("c-jacobi", "e", options={"method": "jacobi"},
                    changes=[ScaleResource("labour", 2.0)])]
    summary = run_batch(BatchSpec({"e": economy}, jobs), out=tmp_path / "out", workers=1)
    frame = summary.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == ["b-base", "a-bad", "c-jacobi"] and frame.index.name == "name"
    assert list(frame.columns) == ["status", "seconds", "residual", "iterations", "error"]
    assert list(frame["status"]) == ["done", "failed", "done"]
    assert "unknown resource 'nope'" in frame.loc["a-bad", "error"]
    for job in summary.jobs:
        row = frame.loc[job.name]
        if job.residual is not None:
            assert row["residual"] == job.residual and row["iterations"] == job.iterations
    assert frame.loc["c-jacobi", "iterations"] > 1
    assert frame["seconds"].dtype == float and str(frame["iterations"].dtype) == "Int64"
    assert "a-bad" in summary.table()  # the text table stays
