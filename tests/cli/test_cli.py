"""The ``lab`` command line: outputs are right, and user mistakes end in one line, not a traceback.

Most tests drive :data:`lab.cli.cli` in-process with :class:`click.testing.CliRunner`
(stdout and stderr kept apart); one test runs ``python -m lab`` in a subprocess to check
real exit codes and stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import SHARED_IO

import lab
from lab.cli import cli

UK_2010 = SHARED_IO / "uk-2010"


def run_cli(*args):
    """Invoke the CLI in-process; exceptions are caught so a traceback shows up as a failure."""
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)


def assert_user_error(result, *needles, code=2):
    """Non-zero exit, exactly one stderr line ``lab: error: ...`` mentioning every needle."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {type(result.exception).__name__}: {result.exception}")
    assert result.exit_code == code, (result.exit_code, result.stderr)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    errors = [ln for ln in lines if ln.startswith("lab: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], f"expected one error line: {lines!r}"
    # Besides the error, only status lines ("reading PATH ...", "solving ...",
    # "generating ...") may appear: no progress, no warnings, no traceback fragments.
    status = ("reading ", "solving ", "generating ")
    others = [ln for ln in lines[:-1] if not (ln.startswith(status) and ln.endswith(" ..."))]
    assert others == [], f"unexpected stderr lines before the error: {others!r}"
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])


def leftover_temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp")
                  or (p.name.startswith(".") and p.is_file()))


@pytest.fixture(scope="module")
def economy_file(tmp_path_factory):
    """``lab generate 2000 -o X.npz --seed 3`` in its own folder."""
    folder = tmp_path_factory.mktemp("generated")
    path = folder / "X.npz"
    result = run_cli("generate", 2000, "-o", path, "--seed", 3)
    assert result.exit_code == 0, result.output
    assert path.is_file()
    assert leftover_temp_files(folder) == []
    return path


@pytest.fixture(scope="module")
def expected(economy_file):
    econ = lab.read_economy(economy_file)
    return econ, lab.labour_values(econ)


@pytest.fixture(scope="module")
def non_productive_file(tmp_path_factory):
    """3 products in a cycle of weight 1.2 (corn → iron → coal → corn)."""
    A = np.zeros((3, 3))
    A[0, 1], A[1, 2], A[2, 0] = 1.2, 1.0, 1.0
    econ = lab.Economy(A, [1.0, 1.0, 1.0], codes=["corn", "iron", "coal"])
    path = tmp_path_factory.mktemp("np") / "np.npz"
    lab.write_economy(econ, path)
    return path


# --------------------------------------------------------------------------- outputs


def test_generate_writes_the_requested_economy(economy_file):
    econ = lab.read_economy(economy_file)
    again = lab.generate_economy(2000, seed=3)
    assert econ.n_products == 2000
    assert (econ.A != again.A).nnz == 0
    np.testing.assert_array_equal(econ.R, again.R)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_values_output_file(economy_file, expected, tmp_path, suffix):
    econ, ref = expected
    out = tmp_path / f"out{suffix}"
    result = run_cli("values", economy_file, "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert out.is_file()
    frame = pd.read_csv(out, dtype={"code": str}) if suffix == ".csv" else pd.read_parquet(out)
    frame = frame.reset_index() if "code" not in frame.columns else frame
    assert list(frame.columns) == ["code", "value"]
    assert frame["code"].astype(str).tolist() == [str(c) for c in econ.codes]
    np.testing.assert_allclose(frame["value"].to_numpy(), ref.values, rtol=1e-12, atol=0)
    assert leftover_temp_files(tmp_path) == [], "atomic write left a temporary file"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name,
                                                                 out.name + ".evidence.json"])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_values_all_resources(economy_file, tmp_path, suffix):
    econ = lab.read_economy(economy_file)
    ref = lab.labour_values(econ, resources="all")
    out = tmp_path / f"all{suffix}"
    result = run_cli("values", economy_file, "--resources", "all", "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, dtype={"code": str}) if suffix == ".csv" else pd.read_parquet(out)
    frame = frame.reset_index() if "code" not in frame.columns else frame
    assert list(frame.columns) == ["code", *econ.resource_names]
    assert econ.n_resources > 1
    assert frame["code"].astype(str).tolist() == [str(c) for c in econ.codes]
    np.testing.assert_allclose(frame[list(econ.resource_names)].to_numpy().T, ref.values,
                               rtol=1e-12, atol=0)
    assert leftover_temp_files(tmp_path) == []


def test_values_overwrites_existing_output(economy_file, expected, tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("stale\n")
    assert run_cli("values", economy_file, "-o", out, "--quiet").exit_code == 0
    frame = pd.read_csv(out)
    np.testing.assert_allclose(frame["value"].to_numpy(), expected[1].values, rtol=1e-12)
    assert leftover_temp_files(tmp_path) == []


def test_values_on_real_csv_folder():
    result = run_cli("values", UK_2010)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "converged" in text and "not converged" not in text
    method = lab.labour_values(lab.read_economy(UK_2010)).method
    assert f"method {method}" in text
    assert "residual" in text
    assert "Traceback" not in result.output


def test_values_json(economy_file, expected):
    result = run_cli("values", economy_file, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    for key in ("method", "converged", "iterations", "residual", "seconds", "timings"):
        assert key in info, key
    assert info["converged"] is True
    assert info["method"] == expected[1].method
    assert isinstance(info["iterations"], int) and info["iterations"] >= 1
    assert 0 <= info["residual"] <= 1e-10
    assert info["seconds"] >= 0
    assert isinstance(info["timings"], dict) and "total" in info["timings"]
    assert info["products"] == 2000


def test_demo_json():
    result = run_cli("demo", "--size", 20000, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["auto"]["converged"] is True
    assert info["jacobi"]["converged"] is True
    assert info["jacobi"]["method"] == "jacobi"
    assert "speedup" in info and info["speedup"] > 0
    assert 0 <= info["max_relative_difference"] <= 1e-8
    assert info["products"] == 20000


# --------------------------------------------------------------------------- user mistakes


def test_missing_file(tmp_path):
    assert_user_error(run_cli("values", tmp_path / "nosuch.npz"), "nosuch.npz")


def test_missing_argument():
    assert_user_error(run_cli("values"), "ECONOMY")


def test_folder_without_products_csv(tmp_path):
    assert_user_error(run_cli("values", tmp_path), "products.csv")


def test_corrupt_npz(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    assert_user_error(run_cli("values", bad), "bad.npz")


def test_truncated_npz(economy_file, tmp_path):
    data = economy_file.read_bytes()
    bad = tmp_path / "half.npz"
    bad.write_bytes(data[: len(data) // 2])
    assert_user_error(run_cli("values", bad), "half.npz")


def test_negative_rtol(economy_file):
    assert_user_error(run_cli("values", economy_file, "--rtol", -1), "rtol")


def test_unknown_method_is_a_usage_error(economy_file):
    result = run_cli("values", economy_file, "--method", "nope")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "nope" in result.stderr and "--method" in result.stderr


def test_bad_output_suffix(economy_file, tmp_path):
    out = tmp_path / "out.txt"
    assert_user_error(run_cli("values", economy_file, "-o", out), "out.txt")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_unknown_resource(economy_file):
    assert_user_error(run_cli("values", economy_file, "--resources", "nosuch"), "nosuch")


def test_non_productive_economy_names_the_products(non_productive_file):
    assert_user_error(run_cli("values", non_productive_file), "corn", "iron", "coal")


def test_generate_bad_output_suffix(tmp_path):
    assert_user_error(run_cli("generate", 10, "-o", tmp_path / "x.txt"), "x.txt")
    assert list(tmp_path.iterdir()) == []


def test_non_convergence_exits_1_with_warning(economy_file):
    result = run_cli("values", economy_file, "--maxiter", 1, "--method", "jacobi")
    assert isinstance(result.exception, SystemExit) or result.exception is None
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    warning = [ln for ln in result.stderr.splitlines() if ln.startswith("lab: warning:")]
    assert len(warning) == 1 and "not converged" in warning[0], result.stderr
    assert "not converged" in result.stdout


# --------------------------------------------------------------------------- real process


def test_python_m_lab_subprocess(non_productive_file):
    """A real ``python -m lab`` process: exit status 2 and one stderr line, no traceback."""
    env = {k: v for k, v in os.environ.items() if k != "LAB_BACKEND"}
    cmd = [sys.executable, "-m", "lab", "values", "--quiet", str(non_productive_file)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lab: error: "), lines
    assert "corn" in lines[0] and "not productive" in lines[0]
    assert proc.stdout == ""


# --------------------------------------------------------------------------- issue 11


@pytest.mark.parametrize("value, needle", [("1e9", "mean_inputs=1000000000.0 is too large"),
                                           ("inf", "mean_inputs must be finite"),
                                           ("nan", "mean_inputs must be finite")])
def test_generate_mean_inputs_out_of_reach_is_one_error_line(tmp_path, value, needle):
    """Issue 11, item 9: ``--mean-inputs 1e9`` ran out of memory, ``inf`` printed a traceback."""
    result = run_cli("generate", 10, "--mean-inputs", value, "-o", tmp_path / "x.npz")
    assert_user_error(result, needle)
    assert not (tmp_path / "x.npz").exists()


def _digest(paths):
    import hashlib

    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_values_output_over_its_input_is_refused_naming_both(tmp_path):
    """Item 6: ``lab values folder -o folder/products.csv`` overwrote the economy's own file."""
    folder = tmp_path / "econ"
    lab.write_economy(lab.generate_economy(30, seed=1), folder, format="csv")
    dense = lab.write_economy(lab.generate_economy(5, seed=1), tmp_path / "small.csv")
    link = tmp_path / "link.csv"
    link.symlink_to(folder / "flows.csv")
    before = _digest([*folder.iterdir(), dense])
    for economy, out in ((folder, folder / "products.csv"), (folder, folder / "flows.csv"),
                         (folder, link), (dense, dense)):
        result = run_cli("values", economy, "-o", out, "--quiet")
        assert_user_error(result, str(out), "is the input", "choose another output")
    assert _digest([*folder.iterdir(), dense]) == before
    # beside the input is fine
    assert run_cli("values", folder, "-o", folder / "values.csv", "--quiet").exit_code == 0


def test_plan_output_over_an_input_is_refused_naming_both(tmp_path):
    """Item 6: ``lab plan ... -o targets.csv`` overwrote the targets with the plan."""
    economy = lab.write_economy(lab.generate_economy(30, seed=2), tmp_path / "e.npz")
    targets = tmp_path / "targets.csv"
    targets.write_text("code,target\nP3,1.5\n")
    resources = tmp_path / "resources.csv"
    resources.write_text("resource,available\nlabour,40\n")
    before = _digest([economy, targets, resources])
    for out in (targets, resources):
        result = run_cli("plan", economy, "--targets", targets, "--resources", resources,
                         "-o", out, "--quiet")
        assert_user_error(result, str(out), str(targets if out == targets else resources))
    # the products file a plan with techniques ≠ products writes beside -o counts too
    sneaky = tmp_path / "p.products.csv"
    sneaky.write_text("code,target\nP3,1.5\n")
    result = run_cli("plan", economy, "--targets", sneaky, "-o", tmp_path / "p.csv",
                     "--quiet")
    assert_user_error(result, "p.products.csv", "is the input")
    assert _digest([economy, targets, resources]) == before


def _overflowing_economy(path):
    """Issue 11, item 2: values [1e10, nan] came back "converged" with residual 0."""
    return lab.write_economy(lab.Economy(np.array([[0, 1e308], [0, 0.0]]), [1e10, 1.0]), path)


@pytest.mark.parametrize("as_json", [False, True])
def test_values_that_overflow_are_an_error_and_nothing_is_written(tmp_path, as_json):
    economy = _overflowing_economy(tmp_path / "big.npz")
    out = tmp_path / "values.csv"
    result = run_cli("values", economy, "-o", out, "--quiet", *(["--json"] if as_json else []))
    assert result.exit_code in (1, 2), result.output
    assert "Traceback" not in result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("lab: error: ")]
    assert len(errors) == 1, result.stderr
    assert not out.exists()


def test_values_not_converged_writes_nothing(economy_file, tmp_path):
    out = tmp_path / "v.csv"
    result = run_cli("values", economy_file, "--maxiter", 1, "--method", "jacobi", "-o", out)
    assert result.exit_code == 1
    assert "nothing written" in result.stderr.splitlines()[-1]
    assert not out.exists()
