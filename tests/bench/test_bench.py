"""``lab bench`` end to end on tiny sizes: valid JSON, Markdown with the table, PNG files.

Correctness tests of the tool, not timed assertions: every size is tiny, peers
run once, the cold-start and child-process measurements are exercised once.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from lab.bench import PROFILES, BenchConfig, format_table, run_bench, write_report
from lab.bench import _measure as _bench_measure
from lab.bench import _workloads as _bench_workloads
from lab.cli import cli

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

TINY = ["--sizes", "200,400", "--peer-max", "400", "--pymrio-sizes", "150",
        "--unstructured-sizes", "300", "--technique-sizes", "200",
        "--plan-sizes", "none", "--kernel-size", "2000", "--repeat", "1",
        "--threads", "1,2", "--no-busy", "--cold-start-runs", "0"]


@pytest.fixture(scope="module")
def tiny_report():
    config = BenchConfig.profile("quick", values_sizes=(200, 400, 12_000), peer_max=400,
                                 spsolve_max=400, pymrio_sizes=(150,),
                                 unstructured_sizes=(3000,), technique_sizes=(300,),
                                 plan_sizes=(),
                                 kernel_size=2000, repeat=1, threads=(1, 2),
                                 cold_start_runs=0, bandwidth_bytes=1 << 22)
    return run_bench(config)


def test_cli_writes_json_markdown_png(tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["bench", "--quick", *TINY, "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "ratio" in result.output and "scipy-bicgstab" in result.output
    data = json.loads((out / "bench.json").read_text())
    assert data["schema"] == "lab-bench/1"
    md = (out / "bench.md").read_text()
    assert "| suite | products |" in md and "auto-warm" in md
    for name in ("scaling.png", "convergence.png", "bandwidth.png"):
        blob = (out / name).read_bytes()
        assert blob.startswith(PNG_MAGIC) and len(blob) > 1000
        assert f"]({name})" in md
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_report_schema(tiny_report, tmp_path):
    r = tiny_report
    for key in ("machine", "versions", "config", "bandwidth", "records", "comparisons",
                "kernels", "scaling", "threads", "convergence", "summary"):
        assert key in r, key
    assert r["machine"]["cores_usable"] >= 1
    assert r["versions"]["numpy"] == np.__version__
    assert [b["threads"] for b in r["bandwidth"]] == [1, 2]
    assert all(b["best_GBps"] > 0 for b in r["bandwidth"])
    names = {(x["suite"], x["workload"]) for x in r["records"]}
    for name in ("auto-cold", "auto-warm", "jacobi", "gauss-seidel", "krylov", "blocks",
                 "scipy-spsolve", "scipy-bicgstab", "scipy-gmres(30)", "scipy-jacobi"):
        assert ("values", name) in names, name
    assert ("pymrio", "pymrio-calc_M(calc_L)") in names
    for rec in r["records"]:
        assert "error" not in rec, rec
        assert rec["median_s"] > 0 and len(rec["times_s"]) >= 1
        assert rec["residual"] <= 1e-10 * 1.0001, rec   # every answer meets lab's rule
        assert rec["peak_bytes"] is not None and rec["peak_bytes"] >= 0
    for c in r["comparisons"]:
        assert c["ratio"] == pytest.approx(c["peer_median_s"] / c["lab_median_s"])
    kernels = {(k["kernel"], k["index"], k["data"], k["threads"]) for k in r["kernels"]}
    assert ("csr_matvec", "int32", "float64", 2) in kernels
    assert ("csr_matvec", "int64", "float64", 1) in kernels
    assert ("jacobi_step", "int32", "float64", 1) in kernels
    assert any(k["backend"] == "scipy" for k in r["kernels"])
    for k in r["kernels"]:
        assert k["GBps"] > 0 and k["fraction_of_stream"] > 0
    assert r["scaling"]["auto-cold"]["n_products"] == [200, 400, 12_000]
    curves = r["convergence"]["curves"]
    assert {"lab jacobi", "lab krylov", "scipy bicgstab", "scipy jacobi"} <= set(curves)
    assert all(len(c["passes"]) == len(c["residual"]) for c in curves.values())
    assert r["cold_start"] is None and r["huge"] is None
    # issue 14: unstructured economy against scipy and the bandwidth floor
    assert ("values-unstructured", "auto-cold") in names
    floors = r["summary"]["bandwidth_floor"]
    assert {(f["suite"], f["workload"]) for f in floors} >= {
        ("values-unstructured", "auto-cold"), ("values-unstructured", "krylov-float32")}
    for f in floors:
        assert f["floor_s"] == pytest.approx(
            f["matvecs"] * f["bytes_per_pass"]
            / (next(b["best_GBps"] for b in r["bandwidth"]
                    if b["threads"] == f["threads_used"]) * 1e9))
    unstructured = [x for x in r["records"] if x["suite"] == "values-unstructured"
                    and x["side"] == "lab"]
    assert unstructured and all(x["method"] == "krylov" for x in unstructured)
    # real-time update: equal to a cold solve of the changed economy
    update = next(x for x in r["records"] if x["workload"] == "update-1000")
    assert update["n_products"] == 12_000 and update["difference_from_cold"] < 1e-8
    assert r["summary"]["update"]["changes"] == 1000
    # technique choice against one square solve of the same economy
    tc = next(x for x in r["records"] if x["workload"] == "technique-choice")
    assert tc["rounds"] >= 1 and tc["techniques"] == 600
    assert any(c["suite"] == "techniques" for c in r["comparisons"])
    # every method at 1 and 2 threads, quiet and beside a busy process
    loads = {(t["workload"], t["threads"], t["load"], t["governed"]) for t in r["threads"]}
    for name in ("auto-cold", "auto-warm", "jacobi", "gauss-seidel", "krylov", "blocks"):
        # 1 and 2 forced, and lab's default (up to 2, the governor choosing)
        for threads, governed in ((1, False), (2, False), (2, True)):
            assert {(name, threads, "quiet", governed),
                    (name, threads, "busy", governed)} <= loads
    assert "≤ 2 (governor)" in format_table(r)
    # only gauss-seidel's rows are marked sequential, and the report says what that means
    assert {t["workload"] for t in r["threads"] if t["sequential"]} == {"gauss-seidel"}
    assert "gauss-seidel at" in format_table(r) and "one thread at any count" in format_table(r)
    # the JSON is strict (no NaN/Infinity) and round-trips
    paths = write_report(r, tmp_path, plots=False)
    assert paths["plots"] == []
    assert json.loads(paths["json"].read_text(), parse_constant=_no_constants)["profile"]
    text = format_table(r)
    assert "lab median" in text and "streaming read bandwidth" in text


def _no_constants(name):
    raise AssertionError(f"non-standard JSON constant {name}")


def test_gather_floor_bounds_every_krylov_method(tiny_report, tmp_path):
    """The unstructured economy's gather floor: pass times with the economy's own inputs
    and with the same bytes read in order at every thread count, and GMRES's passes,
    which no Krylov method beats: BiCGSTAB (scipy's, at GMRES's rtol) needs at least as
    many."""
    import scipy.sparse.linalg as spla

    [g] = tiny_report["gather_floor"]
    assert g["n_products"] == 3000 and [p["threads"] for p in g["pass_s"]] == [1, 2]
    assert all(p["random_inputs_s"] > 0 and p["inputs_in_order_s"] > 0 for p in g["pass_s"])
    assert g["gmres_rule_met"] and 1 <= g["gmres_passes"] < 60
    assert g["gathered"] == "float64"  # below FLOAT32_DIRECTIONS_FROM, as lab's BiCGSTAB
    case = _bench_workloads.ValuesCase(_bench_workloads.unstructured_economy(3000))
    iterations = [0]
    spla.bicgstab(case.M, case.l, atol=0.0, maxiter=1000,
                  rtol=g["gmres_rtol"],
                  callback=lambda _: iterations.__setitem__(0, iterations[0] + 1))
    assert g["gmres_passes"] <= 2 * iterations[0]
    [s] = tiny_report["summary"]["gather_floor"]
    assert s["threads"] == 2 and s["random_pass_s"] == g["pass_s"][1]["random_inputs_s"]
    assert s["gather_floor_s"] == pytest.approx(g["gmres_passes"] * s["random_pass_s"])
    assert s["over_gather_floor"] == pytest.approx(s["lab_median_s"] / s["gather_floor_s"])
    assert "full GMRES needs" in format_table(tiny_report)
    assert "(float64 x)" in format_table(tiny_report)
    paths = write_report(tiny_report, tmp_path, plots=False)
    assert "## Gather floor" in paths["markdown"].read_text()


def test_bytes_per_pass_counts_the_indices_lab_reads():
    """The economy without structure comes with int64 indices, which the solver narrows
    to int32: its floor counts 12 bytes a non-zero, as for an int32 economy."""
    case = _bench_workloads.ValuesCase(_bench_workloads.unstructured_economy(3000))
    A = case.economy.A
    assert A.indices.dtype == np.int64
    assert case.bytes_per_pass() == (3000 + 1) * 4 + A.nnz * 12 + 16 * 3000


def test_gather_pass_reads_x_as_lab_bicgstab_stores_its_directions(monkeypatch):
    """At and above FLOAT32_DIRECTIONS_FROM products the gather floor's pass gathers a
    float32 x, as lab's BiCGSTAB does, and counts its 4 bytes a product; its product is
    x − Aᵀx of those float32 values (scipy)."""
    from lab import _ops
    from lab.bench._suite import gather_pass, gather_pass_bytes
    from lab.values import _krylov

    case = _bench_workloads.ValuesCase(_bench_workloads.unstructured_economy(3000))
    wide = gather_pass_bytes(case)
    monkeypatch.setattr(_krylov, "FLOAT32_DIRECTIONS_FROM", 3000)
    call = gather_pass(case, "random_inputs", _ops.resolve_backend("auto"))
    x, y = call.args[3], call.args[5]
    assert x.dtype == np.float32 and gather_pass_bytes(case) == wide - 4 * 3000
    call()
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(y, x64 - case.AT @ x64, rtol=1e-13, atol=1e-13)


def test_kernel_bytes_count():
    ip = np.zeros(11, np.int32)
    ix = np.zeros(30, np.int32)
    d = np.zeros(30)
    from lab.bench import kernel_bytes

    # 44 (indptr) + 120 (indices) + 240 (data) + 80 (x) + 80 (y)
    assert kernel_bytes(ip, ix, d, 10, "csr_matvec") == 44 + 120 + 240 + 80 + 80
    assert kernel_bytes(ip, ix, d, 10, "jacobi_step") == 44 + 120 + 240 + 80 + 160
    with pytest.raises(ValueError):
        kernel_bytes(ip, ix, d, 10, "nope")


def test_cold_start_and_child_memory(tmp_path):
    from lab.io import write_economy

    path = tmp_path / "e.npz"
    write_economy(_bench_workloads.make_economy(300), path)
    cold = _bench_measure.cold_start(path, tmp_path / "v.csv", runs=2)
    assert len(cold["times_s"]) == 2 and cold["median_after_first_s"] > 0
    assert (tmp_path / "v.csv").exists()
    huge = _bench_measure.peak_rss_child(2000, seed=1, solves=3)
    assert "error" not in huge, huge
    assert huge["peak_rss_solve"] > 0 and huge["csr_bytes"] > 0 and huge["converged"]
    times = huge["solve_times_s"]
    assert len(times) == 3 and times[0] == huge["solve_s"] and min(times) > 0
    assert huge["solve_median_s"] == sorted(times)[1]
    assert huge["peak_over_csr"] == pytest.approx(huge["peak_rss_solve"] / huge["csr_bytes"])


def test_registry_is_consistent():
    names = {(w.suite, w.name) for w in _bench_workloads.WORKLOADS}
    assert len(names) == len(_bench_workloads.WORKLOADS)  # unique ids
    for suite, lab_name, peer_name in _bench_workloads.COMPARISONS:
        assert (suite, lab_name) in names and (suite, peer_name) in names
    for w in _bench_workloads.WORKLOADS:
        assert w.side in ("lab", "peer")


def test_fit_slope():
    x = np.array([1e4, 1e5, 1e6])
    assert _bench_measure.fit_slope(x, 3e-9 * x**1.1) == pytest.approx(1.1)
    assert _bench_measure.fit_slope([1e4], [1.0]) is None


def test_interleaved_timing():
    """Every callable is timed once per round, in alternating order; one that raises
    gets its error and the others still get their timings."""
    calls = []

    def make(key):
        def fn():
            calls.append(key)
            return key
        return fn

    def broken():
        raise ValueError("no answer")

    out = _bench_measure.interleaved({"a": make("a"), "b": make("b"), "x": broken}, 3)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-ups, then rounds
    assert out["a"]["answer"] == "a" and len(out["a"]["times_s"]) == 3
    assert out["b"]["median_s"] >= 0 and out["b"]["peak_bytes"] is None
    assert out["x"]["error"] == "ValueError: no answer" and "times_s" not in out["x"]


def test_interleaved_timing_fills_min_seconds():
    """Short calls get more rounds, until each callable has been timed for min_seconds
    (each call here takes at least 10 ms, so ten rounds always suffice for 0.1 s)."""
    import time

    def slow():
        time.sleep(0.01)

    out = _bench_measure.interleaved({"a": slow, "b": slow}, 2, min_seconds=0.1)
    assert all(2 <= len(out[k]["times_s"]) <= 10 for k in "ab")
    assert sum(out["a"]["times_s"]) >= 0.1 or len(out["a"]["times_s"]) == 10
    assert len(_bench_measure.interleaved({"a": slow}, 2)["a"]["times_s"]) == 2


def test_profiles_and_config_errors():
    assert PROFILES["full"].huge_size == 10_000_000
    assert max(PROFILES["full"].values_sizes) == 10_000_000
    assert BenchConfig.profile("quick").name == "quick"
    assert BenchConfig.profile("quick", repeat=7).name == "quick (custom)"
    with pytest.raises(ValueError, match="profile"):
        BenchConfig.profile("medium")
    with pytest.raises(TypeError, match="unknown"):
        BenchConfig.profile("quick", sizes=(1,))
    with pytest.raises(ValueError, match="repeat"):
        BenchConfig(repeat=0)
    with pytest.raises(ValueError, match="values_sizes"):
        BenchConfig(values_sizes=(1,))


@pytest.mark.parametrize("args, message", [
    (["--sizes", "abc"], "--sizes"),
    (["--sizes", "1"], "--sizes"),
    (["--sizes", "none"], "--sizes"),
    (["--threads", "0"], "--threads"),
    (["--threads", "x"], "--threads"),
    (["--huge-size", "10,20"], "--huge-size"),
    (["--cold-start-runs", "1"], "--cold-start-runs"),
])
def test_cli_bad_arguments_one_line(args, message, tmp_path):
    result = CliRunner().invoke(cli, ["bench", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("lab: error:") and message in lines[0]
    assert "Traceback" not in result.output


def test_cli_rejects_both_profiles_as_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["bench", "--repeat", "0", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_thread_speedups_are_paired_by_round():
    from lab.bench._suite import _paired_speedup

    # the host slowed down for the third round only: each round's pair still says 2×
    assert _paired_speedup([1.0, 1.0, 10.0], [0.5, 0.5, 5.0]) == 2.0
    # the host slow for the last two rounds and one call hit by a spike: the ratio of
    # the medians (1 / 2) would read half the speed
    assert _paired_speedup([1.0, 1.0, 1.0, 4.0, 4.0], [0.5, 0.5, 3.0, 2.0, 2.0]) == 2.0
    assert _paired_speedup([1.0, 2.0], [1.0]) is None  # a setting that failed mid-way
    assert _paired_speedup(None, [1.0]) is None
