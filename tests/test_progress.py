"""Progress for long solves (issue 15): ``lab.plan(..., progress=True)`` and
``lab.labour_values(..., progress=True)`` show the iterations on stderr, change nothing
in the result, keep the user's callback working; one implementation (lab._progress, on
rich) draws a terminal line or writes plain lines to a log.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest

import lab
from lab._progress import Progress
from lab.exceptions import InvalidTypeError
from lab.generate import generate_planning_problem


@pytest.fixture
def immediate(monkeypatch):
    """Show progress from the first call, a line each time (tests are short)."""
    monkeypatch.setattr(Progress, "DELAY", 0.0)
    monkeypatch.setattr(Progress, "INTERVAL", 0.0)


@pytest.fixture(scope="module")
def problem():
    return generate_planning_problem(300, seed=2, capacities=0.3, limit_resources=3)


def _plan(problem, **kwargs):
    """The primal-dual route, whose iterations the display shows (auto would hand this
    problem with capacities to HiGHS, lab.planning._lp)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lab.plan(problem, maxiter=2000, check_every=64, solver="pdhg", **kwargs)


def test_plan_progress_shows_iterations_and_changes_nothing(problem, immediate, capsys):
    plain = _plan(problem)
    assert capsys.readouterr().err == ""
    shown = _plan(problem, progress=True)
    err = capsys.readouterr().err.splitlines()
    assert err and all(line.startswith("plan: iteration ") for line in err), err
    assert f"plan: iteration {shown.iterations // 64 * 64}," in err[-1]
    np.testing.assert_array_equal(shown.x, plain.x)
    assert (shown.objective, shown.iterations) == (plain.objective, plain.iterations)


def test_plan_progress_shows_the_certified_gap(problem, immediate, capsys):
    """Issue 15: progress in the CLI and in Python with the certified gap. Once a
    certificate has proven a finite gap, the lines carry the latest one; the last line
    shows a gap no smaller than the result's (a later certificate may tighten it)."""
    result = _plan(problem, progress=True)
    err = capsys.readouterr().err.splitlines()
    with_gap = [line for line in err if ", certified gap " in line]
    assert with_gap, err
    last = float(with_gap[-1].rsplit("certified gap ", 1)[1].split(",")[0])
    assert np.isfinite(last) and last >= result.relative_gap * (1 - 1e-2)


def test_plan_progress_keeps_the_users_callback(problem, immediate, capsys):
    seen = []

    def stop_at_128(iteration, value):
        seen.append(iteration)
        return iteration < 128

    result = _plan(problem, progress=True, callback=stop_at_128)
    assert seen == [64, 128] and result.status == lab.PlanStatus.INTERRUPTED
    assert len(capsys.readouterr().err.splitlines()) == 2


def test_solves_shorter_than_the_delay_show_nothing(monkeypatch, capsys):
    monkeypatch.setattr(Progress, "DELAY", 3600.0)  # every solve here is shorter
    economy = lab.generate_economy(200, seed=1)
    lab.labour_values(economy, method="jacobi", progress=True)
    assert capsys.readouterr().err == ""


def test_labour_values_progress(immediate, capsys):
    economy = lab.generate_economy(500, seed=1)
    plain = lab.labour_values(economy, method="jacobi")
    shown = lab.labour_values(economy, method="jacobi", progress=True)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == shown.iterations
    assert err[0].startswith("values: iteration 1, residual ")
    np.testing.assert_array_equal(shown.values, plain.values)


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_progress_must_be_a_bool(problem, bad):
    with pytest.raises(InvalidTypeError, match="progress must be True or False"):
        lab.plan(problem, progress=bad)
    with pytest.raises(InvalidTypeError, match="progress must be True or False"):
        lab.labour_values(lab.generate_economy(20, seed=1), progress=bad)


def test_plain_lines_are_throttled_and_the_last_state_is_written():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        with Progress("plan", delay=0.0, interval=3600.0, tty=False) as progress:
            for k in range(1, 6):
                progress(k, 10.0 ** -k)
    lines = err.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["plan: iteration 1", "plan: iteration 5"]


def test_disabled_progress_writes_nothing_and_chains_nothing():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        progress = Progress("plan", enabled=False, delay=0.0, tty=False)
        progress(1, 1.0)
        progress.update("x", force=True)
        progress.close()
    assert err.getvalue() == ""
    assert progress.chain(None) is None


def test_bar_lines_count_jobs():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        with Progress("batch", total=3, delay=0.0, interval=0.0, tty=False) as bar:
            for k in range(1, 4):
                bar.update(f"jobs: {k} done", completed=k)
    assert err.getvalue().splitlines() == ["batch: 1/3 jobs: 1 done", "batch: 2/3 jobs: 2 done",
                                          "batch: 3/3 jobs: 3 done"]


def test_terminal_line_is_drawn_by_rich_and_removed_at_the_end():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        with Progress("plan", delay=0.0, tty=True) as progress:
            progress(64, 1.5e-3)
            assert progress._live is not None  # rich's live display
    text = err.getvalue()
    assert "plan:" in text and "iteration 64, residual 1.50e-03" in text
    assert "\x1b[" in text  # drawn in place with terminal controls, then cleared
    assert progress._live is None


def test_multiyear_plan_progress(immediate, capsys):
    from lab.generate import generate_multiyear_problem

    problem = generate_multiyear_problem(100, years=3, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = lab.plan(problem, maxiter=640, check_every=64)
        shown = lab.plan(problem, maxiter=640, check_every=64, progress=True)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == shown.iterations // 64 and err[0].startswith("plan: iteration 64, ")
    np.testing.assert_array_equal(shown.output, plain.output)
