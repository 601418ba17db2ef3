"""Fuzzing the ``lab`` command line: commands with options drawn from valid and invalid
values, files that are corrupt, FIFOs, inputs named as outputs. Through click's
CliRunner in the sandbox (``_cases.cli``: exit 0 with outputs that pass an independent
check, else lab's one error line), and a few through a real ``python -m lab``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from _fuzz import TALLY, check, fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]

ECONOMIES = ["npz", "folder", "parquet", "mtx", "dense", "nonproductive", "overflow", "huge",
             "fifo", "missing"]
VALUES_OPTIONS = {
    "--method": ["auto", "jacobi", "gauss-seidel", "krylov", "blocks", "bogus"],
    "--rtol": ["1e-10", "1e-6", "0", "-1", "nan", "abc", "1e-300", "inf"],
    "--maxiter": ["1", "5", "100000", "0", "-3", "x"],
    "--resources": ["all", "labour", "energy", "co2", "water"],
    "-o": [">v.csv", ">v.parquet", ">v.txt", ">sub/dir/v.csv", "@npz", "@dense",
           "@targets", "@fifo"],
    "--labour": ["compensation", "none", "hours_worked"],
    "--negative": ["clip", "error", "x"],
    "--backend": ["auto", "numba", "cython", "gpu"],
    "--threads": ["1", "2", "0"],
    "--dataset": ["germany-1995", "uk-2010", "atlantis"],
}
GENERATE_OPTIONS = {
    "--seed": ["0", "1", "-1", "x"],
    "--spectral-radius": ["0.5", "0.9", "0", "1", "1.5", "nan"],
    "--mean-inputs": ["1", "3", "12", "0.5", "inf", "nan", "1e9"],
}
PLAN_OPTIONS = {
    "--resources": ["@resources", "@fifo", "@missing", "@bad-targets"],
    "--capacities": ["@caps", "@targets"],
    "--method": ["auto", "harmony", "plan-ray", "cockshott", "x"],
    "--gap": ["1e-6", "0", "-1", "1e-3", "nan"],
    "--maxiter": ["1", "100", "0"],
    "--time-limit": ["10", "0", "-1"],
    "-o": [">p.csv", ">p.parquet", ">p.txt", "@targets", "@resources", "@npz"],
}
FLAGS = ["--json", "--quiet"]


@st.composite
def command_lines(draw):
    cmd = draw(st.sampled_from(["values", "values", "values", "generate", "plan", "plan",
                                "datasets", "junk"]))
    payload = {"economy": None}
    if cmd == "junk":
        argv = draw(st.lists(st.sampled_from(["--bogus", "values", "-o", "@npz", "--help",
                                              "--version", "batch", "--print-example", ""]),
                             max_size=4))
        return {"argv": argv, "economy": None}
    argv = [cmd]
    if cmd == "values":
        if draw(st.integers(0, 9)):
            payload["economy"] = draw(st.sampled_from(ECONOMIES))
            argv.append(f"@{payload['economy']}")
        options = VALUES_OPTIONS
    elif cmd == "generate":
        argv.append(draw(st.sampled_from(["1", "2", "10", "50", "0", "-1", "abc"])))
        argv += ["-o", draw(st.sampled_from([">g.npz", ">g.mtx", ">g.csv", ">g", ">g.txt",
                                              ">g.parquet", "@npz"]))]
        options = GENERATE_OPTIONS
    elif cmd == "plan":
        argv.append(draw(st.sampled_from(["@npz", "@npz", "@dense", "@fifo", "@missing"])))
        argv += ["--targets", draw(st.sampled_from(["@targets", "@targets", "@bad-targets",
                                                    "@unknown-targets", "@fifo",
                                                    "@missing"]))]
        options = PLAN_OPTIONS
    else:
        options = {}
    names = draw(st.lists(st.sampled_from(sorted(options)), max_size=4, unique=True)) \
        if options else []
    for name in names:
        argv += [name, draw(st.sampled_from(options[name]))]
    argv += draw(st.lists(st.sampled_from(FLAGS), max_size=2, unique=True))
    payload["argv"] = argv
    return payload


@fuzz_settings(weight=0.12, small=150)
@given(payload=command_lines())
def test_fuzz_cli_runner(payload):
    check("CLI (CliRunner)", "cli", payload)


@fuzz_settings(weight=0.002, small=4)
@given(payload=command_lines())
def test_fuzz_cli_subprocess(tmp_path_factory, payload):
    """A real process: the exit status is 0, 1 or 2 (never a signal), no traceback, and a
    failure ends in one ``lab: error:`` line (or click's usage message)."""
    from _cases import linked_workspace, workspace

    out = tmp_path_factory.mktemp("cli")
    links = linked_workspace(workspace(), out)
    argv = [str(links[a[1:]]) if a.startswith("@") else
            str(out / a[1:]) if a.startswith(">") else a for a in payload["argv"]]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        proc = subprocess.run([sys.executable, "-m", "lab", *argv], capture_output=True,
                              text=True, timeout=300, env=env, cwd=out)
    except subprocess.TimeoutExpired:
        TALLY["CLI (subprocess)"]["hang"] += 1
        raise AssertionError(f"hang: lab {argv}") from None
    kind = "crash" if proc.returncode < 0 else "wrong" if (
        proc.returncode not in (0, 1, 2) or "Traceback" in proc.stderr) else \
        "ok" if proc.returncode == 0 else "lab"
    TALLY["CLI (subprocess)"][kind] += 1
    assert kind in ("ok", "lab"), (kind, argv, proc.returncode, proc.stderr[-2000:])
    if proc.returncode == 2:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
        assert last.startswith("lab: error: ") or "Usage:" in proc.stderr or \
            proc.stderr.startswith("Error: "), proc.stderr
