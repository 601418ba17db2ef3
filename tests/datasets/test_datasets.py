"""The real tables shipped with lab (:mod:`lab.datasets`): they load, are productive, and solve.

References are independent of lab's solvers: a dense ``numpy.linalg.solve`` of
(I − Aᵀ)v = l, golden values under ``tests/datasets/golden/`` (computed once from the
CSV files with pandas and a dense solve, without lab: see :func:`golden_reference`),
Ochoa's published 3-sector example and published figures of the Eurostat Manual.

Regenerate the golden files (only if a table changes on purpose) with
``python tests/datasets/test_datasets.py --regenerate``.
"""

from __future__ import annotations

import gzip
import json
import sys
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import lab
import lab.datasets
from lab.cli import cli

try:  # run as a script for --regenerate: conftest is not importable then
    from conftest import SHARED_IO
except ImportError:  # pragma: no cover
    SHARED_IO = Path("/work/shared/data/io")

NAMES = ("uk-2010", "germany-1995", "usa-2014-wiod", "sweden-2016", "usa-2017-bea-detail",
         "world-2011-wiod")
GOLDEN = Path(__file__).resolve().parent / "golden"
STR = {"code": str, "input_code": str, "output_code": str}


def load(name: str) -> lab.Economy:
    """The table with the loader's defaults (labour='none' where there is no labour)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # BEA's clipped negative flows
        if name == "world-2011-wiod":
            return lab.datasets.load(name, labour="none")
        return lab.datasets.load(name)


_ECONOMIES: dict[str, lab.Economy] = {}


@pytest.fixture(params=NAMES)
def economy(request):
    name = request.param
    if name not in _ECONOMIES:
        _ECONOMIES[name] = load(name)
    return name, _ECONOMIES[name]


def read_package_csv(name: str, file: str) -> pd.DataFrame:
    """A table's CSV straight from the package data (gunzipped where stored as .gz)."""
    folder = resources.files("lab.datasets").joinpath(name)
    plain, packed = folder.joinpath(file), folder.joinpath(file + ".gz")
    source = plain if plain.is_file() else packed
    with source.open("rb") as raw:
        stream = gzip.open(raw) if source.name.endswith(".gz") else raw
        return pd.read_csv(stream, dtype=STR, keep_default_na=False)


def rhs_of(name: str, economy: lab.Economy) -> np.ndarray:
    """Right-hand side of the golden solve: labour row 0, or ones for world-2011-wiod."""
    return np.ones(economy.n_products) if name == "world-2011-wiod" else np.asarray(
        economy.labour)


def dense_values(A, rhs) -> np.ndarray:
    """v with (I − Aᵀ) v = rhs by a dense LU solve (NumPy)."""
    A = A.toarray() if hasattr(A, "toarray") else np.asarray(A)
    return np.linalg.solve(np.eye(A.shape[0]) - A.T, rhs)


def assert_rel_close(got, expected, rel, what=""):
    """max|got − expected| ≤ rel · max|expected|."""
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    err, scale = np.max(np.abs(got - expected)), np.max(np.abs(expected))
    assert err <= rel * scale, f"{what}: max abs error {err:.3e} > {rel:.0e} × {scale:.3e}"


# --------------------------------------------------------------------------- golden files


def golden_reference(name: str) -> pd.Series:
    """Reference values computed without lab: the README recipe and a dense NumPy solve.

    A[i, j] = flow(i → j) / total_output[j] from the package's CSV files (negative
    flows of usa-2017-bea-detail set to 0, as the loader's default does), l = the
    first labour column present / total_output, v = solve(I − Aᵀ, l). For
    world-2011-wiod (no labour) the right-hand side is a vector of ones, so v is the
    column sums of the Leontief inverse (output multipliers).
    """
    p, f = read_package_csv(name, "products.csv"), read_package_csv(name, "flows.csv")
    ix, x = pd.Index(p["code"]), p["total_output"].to_numpy(float)
    i, j = ix.get_indexer(f["input_code"]), ix.get_indexer(f["output_code"])
    value = np.clip(f["value"].to_numpy(float), 0.0, None)
    A = np.zeros((len(p), len(p)))
    np.add.at(A, (i, j), value / x[j])
    column = next((c for c in ("hours_worked", "employment", "compensation") if c in p), None)
    rhs = np.ones(len(p)) if column is None else p[column].to_numpy(float) / x
    return pd.Series(dense_values(A, rhs), index=ix, name="value")


def write_golden(name: str) -> Path:  # pragma: no cover - run by hand with --regenerate
    v = golden_reference(name)
    what = ("v = 1 + A^T v (no labour column: column sums of the Leontief inverse)"
            if name == "world-2011-wiod" else
            f"labour values v = l + A^T v, l = {next(iter(lab.datasets.info(name).labour))} / "
            "total_output")
    GOLDEN.mkdir(parents=True, exist_ok=True)
    path = GOLDEN / f"{name}.csv"
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(f"# Golden reference values for lab.datasets.load({name!r}): {what}.\n"
                 "# Produced once by tests/datasets/test_datasets.py --regenerate "
                 "(golden_reference):\n"
                 "# A[i,j] = flow(i->j)/total_output[j] built with pandas from the package's\n"
                 "# CSV files (negative flows set to 0), then numpy.linalg.solve(I - A^T, rhs)\n"
                 f"# in float64, NumPy {np.__version__}. lab's solvers are not used. Values\n"
                 "# are written with 17 significant digits (repr). Compared to 1e-10 relative.\n")
        fh.write("code,value\n")
        for code, value in v.items():
            fh.write(f"{code},{float(value)!r}\n")
    return path


def read_golden(name: str) -> pd.Series:
    g = pd.read_csv(GOLDEN / f"{name}.csv", comment="#", dtype={"code": str},
                    keep_default_na=False)
    return pd.Series(g["value"].to_numpy(float), index=pd.Index(g["code"]))


# --------------------------------------------------------------------------- API


def test_available_and_info():
    assert lab.datasets.available() == NAMES
    for name in NAMES:
        meta = lab.datasets.info(name)
        assert meta.name == name
        assert meta.source and meta.terms and meta.citation and meta.money_unit
        assert 1990 < meta.year < 2020
        assert set(meta.labour) <= {"hours_worked", "employment", "compensation"}
        assert meta.negative in ("error", "clip")
        with pytest.raises(TypeError):
            meta.labour["x"] = "y"  # read-only mapping
    assert lab.datasets.info("world-2011-wiod").labour == {}
    assert lab.datasets.info("usa-2017-bea-detail").negative == "clip"


@pytest.mark.parametrize("bad", ["uk", "UK-2010", "", None, 3])
def test_unknown_name_lists_the_available_ones(bad):
    with pytest.raises(ValueError, match="unknown dataset") as err:
        lab.datasets.load(bad)
    for name in NAMES:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="available: uk-2010"):
        lab.datasets.info(bad)


def test_world_needs_labour_none():
    with pytest.raises(ValueError, match="no labour column; pass labour='none'"):
        lab.datasets.load("world-2011-wiod")
    with pytest.raises(ValueError, match="no labour column 'compensation'"):
        lab.datasets.load("world-2011-wiod", labour="compensation")


def test_missing_labour_column_and_bad_negative():
    with pytest.raises(ValueError, match="its labour columns are: compensation"):
        lab.datasets.load("uk-2010", labour="hours_worked")
    with pytest.raises(ValueError, match="negative"):
        lab.datasets.load("uk-2010", negative="drop")


def test_bea_negative_flows_clipped_with_warning_or_error():
    with pytest.warns(UserWarning, match=r"usa-2017-bea-detail: 30 negative flows \(total "
                                         r"-278\.1"):
        e = lab.datasets.load("usa-2017-bea-detail")
    assert e.nnz == 86175 - 30
    with pytest.raises(lab.DataFormatError, match="30 negative flows in all"):
        lab.datasets.load("usa-2017-bea-detail", negative="error")


def test_labour_choice_orders_resource_rows():
    e = lab.datasets.load("usa-2014-wiod", labour="compensation")
    assert e.resource_names == ("compensation", "hours_worked", "employment")
    e = lab.datasets.load("germany-1995", labour="none")
    assert e.resource_names == ("none",) and not e.labour.any()


# --------------------------------------------------------------------------- every table


def test_loads_with_codes_names_and_labour(economy):
    name, e = economy
    meta = lab.datasets.info(name)
    assert isinstance(e, lab.Economy)
    assert e.n_products == meta.products
    assert e.nnz == meta.nonzeros - (30 if name == "usa-2017-bea-detail" else 0)
    assert e.dropped == ()
    codes, names = list(e.codes), list(e.names)
    assert len(set(codes)) == len(codes) == meta.products
    assert all(isinstance(c, str) and c for c in codes)
    assert all(isinstance(n, str) and n for n in names)
    products = read_package_csv(name, "products.csv")
    assert codes == list(products["code"]) and names == list(products["name"])
    if meta.labour:
        assert e.resource_names == tuple(meta.labour)
        assert (e.R >= 0).all() and (e.R.sum(axis=1) > 0).all()
    else:
        assert e.resource_names == ("none",)
    assert (e.A.data > 0).all()


def test_productive(economy):
    name, e = economy
    rho = float(np.max(np.abs(np.linalg.eigvals(e.A.toarray()))))
    assert rho < 1, f"{name}: spectral radius {rho}"
    result = lab.labour_values(e)
    assert result.converged and result.status == lab.Status.CONVERGED
    assert "ρ(A)" in result.productivity or result.productivity


def test_values_agree_with_dense_solve(economy):
    name, e = economy
    dense = e.A.toarray()
    rows = list(range(e.n_resources)) if name != "world-2011-wiod" else [0]
    result = lab.labour_values(e, resources="all")
    got = np.atleast_2d(result.values)
    for q in rows:
        assert_rel_close(got[q], dense_values(dense, e.R[q]), 1e-10,
                         f"{name} {e.resource_names[q]}")
    if name == "world-2011-wiod":
        assert not got.any()
    # any right-hand side: the one of the golden file
    v = lab.ValueSolver(e).solve(rhs_of(name, e)).values
    assert_rel_close(v, dense_values(dense, rhs_of(name, e)), 1e-10, name)


def test_golden_values(economy):
    name, e = economy
    golden = read_golden(name)
    assert list(golden.index) == list(e.codes)
    v = lab.ValueSolver(e).solve(rhs_of(name, e)).values
    assert_rel_close(v, golden.to_numpy(), 1e-10, name)
    header = (GOLDEN / f"{name}.csv").read_text().splitlines()[0]
    assert header.startswith("# Golden reference values")


def test_golden_files_reproduce(economy):
    """The recipe of the golden files still gives them (catches a changed table)."""
    name, _ = economy
    assert_rel_close(golden_reference(name).to_numpy(), read_golden(name).to_numpy(), 1e-12,
                     name)


@pytest.mark.skipif(not SHARED_IO.is_dir(), reason="shared/data/io not present")
def test_equals_from_csv_on_shared_folder(economy):
    name, e = economy
    options = {"labour": "none"} if name == "world-2011-wiod" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = lab.read_economy(SHARED_IO / name, format="csv",
                               negative=lab.datasets.info(name).negative, **options)
    assert e.A.shape == ref.A.shape
    for attr in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(e.A, attr), getattr(ref.A, attr))
    np.testing.assert_array_equal(e.R, ref.R)
    assert list(e.codes) == list(ref.codes) and list(e.names) == list(ref.names)
    assert e.resource_names == ref.resource_names and e.dropped == ref.dropped


@pytest.mark.skipif(not SHARED_IO.is_dir(), reason="shared/data/io not present")
@pytest.mark.parametrize("name", NAMES)
def test_package_files_are_the_shared_files(name):
    folder = resources.files("lab.datasets").joinpath(name)
    for file in ("products.csv", "flows.csv", "final_demand.csv"):
        shipped = folder.joinpath(file)
        data = (shipped.read_bytes() if shipped.is_file()
                else gzip.decompress(folder.joinpath(file + ".gz").read_bytes()))
        assert data == (SHARED_IO / name / file).read_bytes(), f"{name}/{file}"


def test_attribution_shipped():
    root = resources.files("lab.datasets")
    readme = root.joinpath("README.md").read_text(encoding="utf-8")
    terms = root.joinpath("LICENSE-DATA").read_text(encoding="utf-8")
    for needle in ("Open Government Licence v3.0", "Eurostat copyright and reuse policy",
                   "CC BY 4.0", "Timmer et al. (2015)", "public domain",
                   "Statistics Sweden cited as the source"):
        assert needle in readme and needle in terms, needle


# --------------------------------------------------------------------------- published figures


def test_ochoa_three_sector_example():
    """Ochoa's 3-sector example and its published labour values (to 1e-6)."""
    A = np.array([[0.265, 0.968, 0.00681], [0.0121, 0.391, 0.0169], [0.0408, 0.808, 0.165]])
    l = np.array([0.193, 3.562, 0.616])
    published = np.array([0.4398417, 7.739431, 0.8979541])
    v = lab.labour_values(lab.Economy(A, l)).values
    np.testing.assert_allclose(v, published, rtol=1e-6)
    np.testing.assert_allclose(dense_values(A, l), published, rtol=1e-6)


def test_eurostat_manual_employment_multipliers_germany_1995():
    """Eurostat Manual of Supply, Use and Input-Output Tables (Beutel 2008), worked example.

    Its employment multipliers (thousand persons per EUR million of final use, total
    employment, domestic concept) are the labour values with ``labour="employment"``.
    Published to 4 decimals: 0.0326, 0.0162, 0.0207, 0.0237, 0.0112, 0.0242 (as
    checked in rOpenGov/iotables tests/testthat/test-multiplier_create.R).
    """
    e = lab.datasets.load("germany-1995", labour="employment")
    v = lab.labour_values(e).values
    published = [0.0326, 0.0162, 0.0207, 0.0237, 0.0112, 0.0242]
    np.testing.assert_allclose(v, published, rtol=0, atol=0.5e-4)


@pytest.mark.parametrize(("name", "tolerance"), [
    ("uk-2010", 1e-6), ("germany-1995", 0.0), ("usa-2014-wiod", 1e-6), ("sweden-2016", 1e-6),
    ("usa-2017-bea-detail", 26.0), ("world-2011-wiod", 108.0)])
def test_output_balance(name, tolerance):
    """Row balance of the source tables: flows row sum + final demand = total output.

    Tolerances as documented in the README: exact for Germany (Eurostat P1); float
    summation only for the UK, WIOD-2016 and Sweden (the README: "closes within 1e-9",
    "holds exactly"); BEA rounding at most 26; WIOD-2013 integer rounding at most 108.
    """
    p = read_package_csv(name, "products.csv").set_index("code")
    f = read_package_csv(name, "flows.csv")
    fd = read_package_csv(name, "final_demand.csv").set_index("code")["value"]
    rows = f.groupby("input_code")["value"].sum().reindex(p.index, fill_value=0.0)
    gap = (rows + fd.reindex(p.index) - p["total_output"]).abs()
    assert float(gap.max()) <= tolerance, (name, gap.idxmax(), float(gap.max()))


def test_documented_source_figures():
    """Single figures the README quotes from the statistical offices' tables."""
    prod = {n: read_package_csv(n, "products.csv").set_index("code") for n in NAMES}
    # Eurostat Manual Table 15.4: output (P1) of CPA_B-E is 1,079,446 (not TFU 1,079,400).
    assert prod["germany-1995"].loc["CPA_B-E", "total_output"] == 1_079_446
    assert list(prod["germany-1995"]["total_output"][:3]) == [43910, 1079446, 245606]
    # WIOD: A01 gross output 435,775 equals the SEA's GO exactly.
    assert prod["usa-2014-wiod"].loc["A01", "total_output"] == 435_775
    # SCB: L68A output ("Produktionsvärde") 229,551, all of it final demand; no labour.
    se = prod["sweden-2016"].loc["L68A"]
    assert se["total_output"] == 229_551
    assert (se[["hours_worked", "employment", "compensation"]] == 0).all()
    fd = read_package_csv("sweden-2016", "final_demand.csv").set_index("code")["value"]
    assert fd["L68A"] == 229_551
    # ONS: compensation of owner-occupiers' housing is 0.
    assert prod["uk-2010"].loc["68-2IMP", "compensation"] == 0
    # BEA: 30 negative flows, total -278, smallest coefficient A = -6.2e-4.
    p, f = prod["usa-2017-bea-detail"], read_package_csv("usa-2017-bea-detail", "flows.csv")
    neg = f[f["value"] < 0]
    assert len(neg) == 30 and round(float(neg["value"].sum())) == -278
    coeff = neg["value"].to_numpy() / p.loc[neg["output_code"], "total_output"].to_numpy()
    assert round(float(coeff.min()), 5) == -0.00062
    # BEA: private households (814000) have compensation equal to output.
    assert p.loc["814000", "compensation"] == pytest.approx(p.loc["814000", "total_output"])


# --------------------------------------------------------------------------- CLI


def run_cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)


def test_cli_datasets():
    result = run_cli("datasets")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["name", "products", "non-zeros"]
    for name, line in zip(NAMES, lines[1:], strict=True):
        meta = lab.datasets.info(name)
        assert line.split()[:3] == [name, str(meta.products), str(meta.nonzeros)]
    result = run_cli("datasets", "--json")
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == list(NAMES)
    assert rows[0]["labour"] == ["compensation"] and rows[-1]["labour"] == []


def test_cli_values_dataset_json(tmp_path):
    out = tmp_path / "uk.csv"
    result = run_cli("values", "--dataset", "uk-2010", "--json", "-o", out)
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["dataset"] == "uk-2010" and info["products"] == 127 and info["converged"]
    assert info["nnz"] == 9782 and info["resources"] == ["compensation"]
    written = pd.read_csv(out, dtype={"code": str}, keep_default_na=False)
    golden = read_golden("uk-2010")
    assert list(written["code"]) == list(golden.index)
    assert_rel_close(written["value"].to_numpy(), golden.to_numpy(), 1e-10, "uk-2010 CLI")


def test_cli_values_dataset_options():
    result = run_cli("values", "--dataset", "world-2011-wiod", "--labour", "none", "--quiet")
    assert result.exit_code == 0, result.output
    result = run_cli("values", "--dataset", "usa-2017-bea-detail", "--quiet")
    assert result.exit_code == 0, result.output
    assert "lab: warning: usa-2017-bea-detail: 30 negative flows" in result.stderr
    result = run_cli("values", "--dataset", "usa-2017-bea-detail", "--negative", "error",
                     "--quiet")
    assert result.exit_code == 2 and "negative flow" in result.stderr


@pytest.mark.parametrize(("args", "needle"), [
    (("values", "--dataset", "nope"), "unknown dataset 'nope'; available: uk-2010"),
    (("values", "some-folder", "--dataset", "uk-2010"), "either ECONOMY or --dataset"),
    (("values", "--dataset", "world-2011-wiod"), "no labour column"),
])
def test_cli_values_dataset_errors_are_one_line(args, needle):
    result = run_cli(*args, "--quiet")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("lab: error: ")]
    assert len(lines) == 1 and needle in lines[0], result.stderr


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit("usage: python tests/datasets/test_datasets.py --regenerate")
    for n in NAMES:
        print(write_golden(n))
