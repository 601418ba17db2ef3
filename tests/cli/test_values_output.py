"""``lab values`` shows values (``--top N``) and writes CSV to stdout (``-o -``); progress
is plain lines on stderr when not on a terminal, and never mixes into stdout or ``--json``
(issue 15). Values are checked against a direct sparse solve (conftest.reference_values).
"""

from __future__ import annotations

import io
import json
import textwrap

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import reference_values

import lab
from lab._progress import Progress
from lab.cli import cli


def run_cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    """A small economy with names, one containing a comma (CSV quoting), as an .npz."""
    folder = tmp_path_factory.mktemp("named")
    rng = np.random.default_rng(4)
    m = 30
    A = rng.uniform(0, 0.05, (m, m)) * (rng.random((m, m)) < 0.3)
    names = [f"product {i}" for i in range(m)]
    names[3] = "grain, milled"
    economy = lab.Economy(A, rng.uniform(0.5, 2.0, m), codes=[f"c{i:02d}" for i in range(m)],
                          names=names)
    lab.write_economy(economy, folder / "e.npz")
    return folder / "e.npz", economy


def test_dash_writes_the_csv_to_stdout_and_messages_to_stderr(named, tmp_path):
    path, economy = named
    piped = run_cli("values", path, "-o", "-")
    assert piped.exit_code == 0, piped.output
    filed = run_cli("values", path, "-o", tmp_path / "v.csv")
    assert filed.exit_code == 0, filed.output
    # byte for byte what -o FILE writes (same writer, same quoting and number format)
    assert piped.stdout_bytes == (tmp_path / "v.csv").read_bytes()
    frame = pd.read_csv(io.StringIO(piped.stdout), dtype={"code": str}).set_index("code")
    assert list(frame.columns) == ["name", "value"]
    assert frame.loc["c03", "name"] == "grain, milled"
    np.testing.assert_allclose(frame["value"].to_numpy(),
                               reference_values(economy.A, economy.R[0]), rtol=1e-9)
    # the summary and the top listing went to stderr
    assert "highest labour values per unit" in piped.stderr
    assert "converged" in piped.stderr
    assert not (tmp_path / "-").exists()


def test_top_lists_the_highest_values_in_order(named):
    path, economy = named
    result = run_cli("values", path, "--top", "4", "--quiet")
    assert result.exit_code == 0, result.output
    v = reference_values(economy.A, economy.R[0])
    expected = np.argsort(-v, kind="stable")[:4]
    lines = result.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("highest labour values"))
    assert "top 4 of 30 products" in lines[at]
    assert lines[at + 1].split() == ["code", "name", "labour"]
    rows = lines[at + 2:at + 6]
    assert [r.split()[0] for r in rows] == [f"c{i:02d}" for i in expected]
    shown = [float(r.split()[-1]) for r in rows]
    np.testing.assert_allclose(shown, v[expected], rtol=1e-5)
    assert len(lines) == at + 6


def test_top_default_and_zero(named):
    path, _ = named
    default = run_cli("values", path, "--quiet")
    assert "top 10 of 30 products" in default.stdout
    none = run_cli("values", path, "--quiet", "--top", "0")
    assert none.exit_code == 0 and "highest" not in none.output


def test_json_is_unchanged_and_refuses_dash(named):
    path, _ = named
    result = run_cli("values", path, "--json")
    assert result.exit_code == 0
    info = json.loads(result.stdout)  # one JSON document, nothing else on stdout
    assert "top" not in info and info["converged"] is True
    assert result.stderr == ""  # no progress, no listing
    both = run_cli("values", path, "--json", "-o", "-")
    assert both.exit_code == 2 and "both write to stdout" in both.stderr


def test_progress_is_plain_lines_on_stderr_off_a_terminal(named, monkeypatch):
    path, _ = named
    monkeypatch.setattr(Progress, "DELAY", 0.0)
    monkeypatch.setattr(Progress, "INTERVAL", 0.0)
    result = run_cli("values", path, "--method", "jacobi", "--rtol", "1e-14", "-o", "-")
    assert result.exit_code == 0, result.output
    progress = [ln for ln in result.stderr.splitlines() if ln.startswith("values: iteration")]
    assert progress, result.stderr
    assert all("\r" not in ln and "\x1b" not in ln for ln in progress)  # no redrawing
    assert "iteration" not in result.stdout  # stdout holds the CSV only
    quiet = run_cli("values", path, "--method", "jacobi", "--rtol", "1e-14", "--json")
    assert "iteration" not in quiet.stderr


def test_batch_progress_is_plain_lines_and_json_unchanged(tmp_path, monkeypatch):
    monkeypatch.setattr(Progress, "DELAY", 0.0)
    path = tmp_path / "jobs.toml"
    path.write_text(textwrap.dedent("""\
        [economies.e]
        generate = { n_products = 100, seed = 1 }
        [[jobs]]
        name = "a"
        [[jobs]]
        name = "b"
        changes = [{ type = "scale_resource", resource = "labour", factor = 2.0 }]
        """))
    result = run_cli("batch", path, "--out", tmp_path / "o", "--workers", "1")
    assert result.exit_code == 0, result.output
    bars = [ln for ln in result.stderr.splitlines() if ln.startswith("batch: ")]
    assert bars and bars[-1].startswith("batch: 2/2 jobs: 2 done, 0 failed")
    assert all("\r" not in ln and "\x1b" not in ln for ln in bars)
    assert "2 done, 0 failed" in result.stdout  # the summary table
    as_json = run_cli("batch", path, "--out", tmp_path / "j", "--workers", "1", "--json")
    assert as_json.exit_code == 0 and as_json.stderr == ""
    assert json.loads(as_json.stdout)["done"] == 2
