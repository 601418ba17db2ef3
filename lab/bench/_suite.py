"""The benchmark suite as a product feature: lab against its peers, in one process.

:func:`run_bench` runs the comparison that ``lab bench`` prints and writes
(see :mod:`lab.cli._bench`): labour values against ``scipy.sparse.linalg``
(``spsolve``, ``bicgstab``, ``gmres``, a plain Jacobi loop), every resource row
against pymrio's Leontief calculation, plans against HiGHS, the SpMV kernels
against the streaming read bandwidth of the machine measured in the same run,
scaling with the number of non-zeros, 1 → n thread scaling, cold start of the
command line and peak memory.

Every timed workload gets one untimed warm-up call (Numba compilation, caches;
its answer is the one checked), then ``repeat`` timed calls (medians reported),
then one call under :mod:`tracemalloc` for its peak allocation. The workloads
are the entries of :data:`lab.bench._workloads.WORKLOADS`; adding one there adds
it to the report.

Examples
--------
>>> from lab.bench import BenchConfig, PROFILES
>>> PROFILES["quick"].repeat >= 1 and "full" in PROFILES
True
>>> tiny = BenchConfig.profile("quick", values_sizes=(300,), kernel_size=2000)
>>> tiny.values_sizes, tiny.kernel_size
((300,), 2000)
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lab.bench import _measure as _m
from lab.bench import _workloads as _w
from lab.values import ValueSolver, labour_values

__all__ = ["BenchConfig", "PROFILES", "format_table", "run_bench", "write_report"]

SCHEMA = "lab-bench/1"


@dataclass(frozen=True)
class BenchConfig:
    """Sizes and limits of one benchmark run.

    Parameters
    ----------
    name : str
        Profile name stated in the report (``"quick"``, ``"full"``, ``"custom"``).
    values_sizes : tuple of int
        Products of the labour-value economies; lab's ``auto`` runs at all of them
        (the scaling fit), its other methods and the iterative peers up to
        ``peer_max``.
    peer_max : int or None
        Largest economy for lab's non-``auto`` methods and the iterative peers.
    spsolve_max : int or None
        Largest economy for ``scipy.sparse.linalg.spsolve`` (its LU fill grows fast).
    pymrio_sizes : tuple of int
        Products of the all-resources comparison with pymrio (dense inverse).
    pymrio_max : int or None
        Largest economy pymrio may run on (also limited by free memory).
    unstructured_sizes : tuple of int
        Products of the economies without supply-chain structure (suite
        ``values-unstructured``: 12 random inputs per product, column sums 0.9); lab's
        answers there are also compared with the bandwidth floor.
    technique_sizes : tuple of int
        Products of the technique-choice economies (suite ``techniques``: two techniques
        per product, against one square solve).
    plan_sizes : tuple of int
        Products of the planning problems, with technique choice and capacities
        (suite ``plans``) and square (``plans-square``); empty: no plan suites.
    highs_max : int or None
        Largest planning problem given to HiGHS.
    plan_time_limit : float or None
        Seconds each plan solve (lab's and HiGHS's) may take; a plan not certified
        by then is reported with its status and gap.
    kernel_size : int
        Products of the economy whose Aᵀ the SpMV kernels run on.
    kernel_backends : {"default", "all"}
        Only the backend ``"auto"`` resolves to, or every available one.
    threads : tuple of int or None
        Thread counts of the kernel and multicore measurements (None: 1 and the
        usable cores).
    threads_busy : bool
        Also measure every method at each thread count beside one busy process (a
        spinning ``python`` child started by the benchmark).
    scaling_min : int
        The fitted scaling exponent uses the economies of at least this many products.
    convergence_size : int or None
        Economy of the residual-against-iteration plot (None: the largest of
        ``values_sizes`` up to ``peer_max``).
    huge_size : int or None
        Peak memory of one fresh ``labour_values`` call at this size, in a child
        process (None: skipped).
    cold_start_runs : int
        Fresh ``lab values`` processes on a 10³-product economy (0: skipped).
    repeat : int
        Timed calls per workload (medians reported).
    peer_budget_s : float
        A workload stops repeating once its timed calls have taken this long.
    bandwidth_bytes : int
        Size of the array of the streaming-bandwidth measurement.
    rtol : float
        lab's tolerance, and the rule every answer is checked against.
    seed : int
    plots : bool
        Write PNG plots (needs matplotlib).
    """

    name: str = "quick"
    values_sizes: tuple = (2_000, 10_000, 100_000, 1_000_000)
    peer_max: int | None = 100_000
    spsolve_max: int | None = 2_000
    pymrio_sizes: tuple = (1_000, 2_000)
    pymrio_max: int | None = 5_000
    unstructured_sizes: tuple = (100_000,)
    technique_sizes: tuple = (10_000,)
    plan_sizes: tuple = (1_000,)
    highs_max: int | None = 10_000
    plan_time_limit: float | None = 5.0
    kernel_size: int = 1_000_000
    kernel_backends: str = "default"
    threads: tuple | None = None
    threads_busy: bool = True
    scaling_min: int = 10_000
    convergence_size: int | None = None
    huge_size: int | None = None
    cold_start_runs: int = 3
    repeat: int = 3
    peer_budget_s: float = 3.0
    bandwidth_bytes: int = 1 << 28
    rtol: float = 1e-10
    seed: int = _w.SEED
    plots: bool = True

    def __post_init__(self):
        for name in ("values_sizes", "pymrio_sizes", "unstructured_sizes", "technique_sizes",
                     "plan_sizes"):
            sizes = tuple(int(s) for s in getattr(self, name))
            if any(s < 2 for s in sizes):
                raise ValueError(f"{name} must be integers >= 2, got {sizes}")
            object.__setattr__(self, name, tuple(sorted(set(sizes))))
        if not self.values_sizes:
            raise ValueError("values_sizes must name at least one size")
        if self.kernel_size < 2:
            raise ValueError(f"kernel_size must be at least 2, got {self.kernel_size}")
        if self.repeat < 1:
            raise ValueError(f"repeat must be at least 1, got {self.repeat}")
        if self.cold_start_runs < 0 or self.cold_start_runs == 1:
            raise ValueError("cold_start_runs must be 0 (skip) or at least 2, "
                             f"got {self.cold_start_runs}")
        if self.kernel_backends not in ("default", "all"):
            raise ValueError("kernel_backends must be 'default' or 'all', "
                             f"got {self.kernel_backends!r}")
        if self.threads is not None:
            threads = tuple(sorted({int(t) for t in self.threads}))
            if not threads or threads[0] < 1:
                raise ValueError(f"threads must be positive integers, got {self.threads}")
            object.__setattr__(self, "threads", threads)
        if self.huge_size is not None and self.huge_size < 2:
            raise ValueError(f"huge_size must be at least 2, got {self.huge_size}")
        if not 0 < self.rtol < 1:
            raise ValueError(f"rtol must be in (0, 1), got {self.rtol}")

    @classmethod
    def profile(cls, name: str, **overrides) -> BenchConfig:
        """A named profile (``"quick"`` or ``"full"``) with some fields replaced."""
        if name not in PROFILES:
            raise ValueError(f"profile must be one of {tuple(PROFILES)}, got {name!r}")
        base = PROFILES[name]
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise TypeError(f"unknown BenchConfig fields: {unknown}")
        changed = any(getattr(base, k) != v for k, v in overrides.items())
        if changed and "name" not in overrides:
            overrides["name"] = f"{name} (custom)"
        return dataclasses.replace(base, **overrides)

    def thread_counts(self) -> tuple:
        return self.threads or tuple(sorted({1, _m.usable_cores()}))


#: ``quick`` (about a minute on a 2-core machine) and ``full`` (about 10–15 minutes,
#: 10⁷ products included).
PROFILES = {
    "quick": BenchConfig(convergence_size=10_000, plan_time_limit=2.0),
    "full": BenchConfig(
        name="full", values_sizes=(2_000, 10_000, 100_000, 1_000_000, 10_000_000),
        peer_max=1_000_000, spsolve_max=10_000, pymrio_sizes=(1_000, 2_000, 5_000),
        pymrio_max=5_000, unstructured_sizes=(1_000_000,), technique_sizes=(1_000_000,),
        plan_sizes=(1_000, 10_000), kernel_size=1_000_000,
        kernel_backends="all", plan_time_limit=20.0, convergence_size=100_000,
        huge_size=10_000_000,
        cold_start_runs=5, repeat=5, peer_budget_s=10.0, bandwidth_bytes=1 << 30),
}


# --------------------------------------------------------------------------- run

def run_bench(config: BenchConfig | None = None, *,
              log: Callable[[str], None] | None = None) -> dict:
    """Run the benchmark described by ``config`` and return the report (a JSON-ready dict).

    Parameters
    ----------
    config : BenchConfig, optional
        Default: the ``quick`` profile.
    log : callable, optional
        Called with one progress line at a time.

    Returns
    -------
    dict
        Schema ``"lab-bench/1"``: ``machine``, ``versions``, ``config``,
        ``bandwidth`` (streaming read GB/s per thread count), ``records`` (one per
        workload and size: times, median, residual, peak memory), ``comparisons``
        (lab against peer, with the ratio peer median / lab median),
        ``kernels`` (SpMV and fused updates: GB/s and share of the bandwidth),
        ``scaling`` (fitted exponent of time against nnz per workload),
        ``threads`` (1 → n), ``convergence`` (residual against matrix passes),
        ``cold_start``, ``import``, ``huge`` and ``summary``. See
        :func:`write_report` for the files.
    """
    config = config or PROFILES["quick"]
    log = log or (lambda msg: None)
    started = time.perf_counter()
    report = {
        "schema": SCHEMA, "profile": config.name,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "config": dataclasses.asdict(config), "machine": _m.machine_info(),
        "versions": _m.versions(), "lab_backend": _backend_info(),
        "peak_memory_method": ("tracemalloc: peak of NumPy/Python allocations during one extra "
                               "untimed call, above the level at its start (memory that "
                               "SuperLU or LAPACK allocate themselves is not counted)"),
        "records": [], "errors": [],
    }
    threads = config.thread_counts()
    log(f"machine: {report['machine']['cores_usable']} usable cores, backend "
        f"{report['lab_backend']['backend']}; threads measured {threads}")

    report["bandwidth"] = []
    for t in threads:
        bw = _m.stream_bandwidth(t, nbytes=config.bandwidth_bytes)
        report["bandwidth"].append(bw)
        log(f"streaming read bandwidth, {t} thread(s): {bw['best_GBps']:.1f} GB/s")

    report["kernels"] = _run_kernels(config, threads, report, log)
    for suite, sizes in (("values", config.values_sizes), ("pymrio", config.pymrio_sizes),
                         ("values-unstructured", config.unstructured_sizes),
                         ("techniques", config.technique_sizes),
                         ("plans", config.plan_sizes), ("plans-square", config.plan_sizes)):
        for n in sizes:
            _run_suite_size(suite, n, config, report, log)
    _bandwidth_floor(report)
    report["comparisons"] = _comparisons(report["records"])
    report["scaling"] = _scaling(report["records"], config)
    report["threads"] = _run_threads(config, threads, log)
    report["convergence"] = _run_convergence(config, log)
    report["cold_start"], report["import"] = _run_cold_start(config, log)
    report["huge"] = _run_huge(config, log)
    report["seconds"] = time.perf_counter() - started
    report["machine"]["load_average_end"] = _m.machine_info()["load_average"]
    report["summary"] = _summary(report)
    return report


def _backend_info() -> dict:
    from lab import _ops

    name = _ops.resolve_backend("auto")
    K = _ops.kernels(name)
    return {"backend": name, "available": list(_ops.available_backends()),
            "threads": int(K.get_num_threads()),
            "openmp": bool(getattr(K, "HAVE_OPENMP", False)) if name == "cython" else None}


def _clean(timing: dict) -> dict:
    return {k: v for k, v in timing.items() if k != "answer"}


def _run_suite_size(suite, n, config, report, log):
    entries = _w.workloads(suite)
    if not entries:
        return
    t0 = time.perf_counter()
    try:
        case = _w.make_case(suite, n, config)
    except Exception as exc:  # e.g. the planner is missing: report and go on
        report["errors"].append({"suite": suite, "n_products": n,
                                 "error": f"{type(exc).__name__}: {exc}"})
        log(f"{suite} n={n}: could not build the case: {type(exc).__name__}: {exc}")
        return
    log(f"{suite} n={n}: case built in {time.perf_counter() - t0:.1f} s, nnz={case.nnz}")
    for w in entries:
        if not w.applies(case, config):
            continue
        record = {"suite": suite, "workload": w.name, "side": w.side, "n_products": case.n,
                  "nnz": case.nnz, "description": w.description}
        try:
            fn = w.build(case, config)
        except Exception as exc:
            record["error"] = f"set-up failed: {type(exc).__name__}: {exc}"
        else:
            slow = w.side == "peer" or suite == "plans"
            budget = config.peer_budget_s if slow else None
            timing = _m.measure(fn, config.repeat, budget_s=budget)
            record.update(_clean(timing))
            if "error" not in timing:
                try:
                    record.update(w.check(case, timing["answer"]))
                except Exception as exc:
                    record["error"] = f"check failed: {type(exc).__name__}: {exc}"
        report["records"].append(record)
        if "error" in record:
            log(f"  {w.side:<4} {w.name:<24} ERROR {record['error']}")
        else:
            log(f"  {w.side:<4} {w.name:<24} median {record['median_s'] * 1e3:10.2f} ms, "
                f"residual {record['residual']:.2e}, peak {_mib(record['peak_bytes'])}")
    if suite == "values-unstructured":
        try:
            report.setdefault("gather_floor", []).append(
                gather_floor(case, config.thread_counts(), max(config.repeat, 5)))
        except Exception as exc:  # a measurement that fails must not hide the others
            report["errors"].append({"suite": suite, "n_products": n, "error":
                                     f"gather floor: {type(exc).__name__}: {exc}"})
    del case


#: Full GMRES (one cycle of this many passes) counts the fewest passes a Krylov method
#: needs; above this many products its basis (8 bytes × products a pass) is not stored.
GMRES_FLOOR_PASSES = 60
GMRES_FLOOR_MAX_PRODUCTS = 2_000_000


#: The inputs one pass of :func:`gather_pass` reads: the economy's own, or row i's k-th
#: input replaced by x[(i + k) mod n] (the same bytes, read in order).
GATHER_ORDERS = ("random_inputs", "inputs_in_order")


def gather_pass(case, order: str, backend: str):
    """A call making one pass of BiCGSTAB's product y = x − Aᵀx with w·y (lab's int32
    CSR) over ``case``'s economy, reading x at its inputs as ``order``
    (:data:`GATHER_ORDERS`) says, x stored as lab's BiCGSTAB stores its directions at
    this size (:func:`gathered_dtype`); the arrays are built before it is returned."""
    from lab import _ops

    AT = case.AT
    indptr = AT.indptr.astype(np.int32)
    if order == "random_inputs":
        indices = AT.indices.astype(np.int32)
    else:
        rows = np.repeat(np.arange(case.n, dtype=np.int64), np.diff(indptr))
        indices = ((rows + np.arange(rows.size) - indptr[rows]) % case.n).astype(np.int32)
    kernels = _ops.kernels(backend)
    rng = np.random.default_rng(_w.SEED)
    x = rng.random(case.n).astype(gathered_dtype(case))
    w, out = rng.random(case.n), np.empty(case.n)
    return functools.partial(kernels.bicgstab_matvec_dot, indptr, indices, AT.data, x, w, out)


def gathered_dtype(case) -> type:
    """The dtype of the vectors lab's BiCGSTAB gathers on ``case``'s economy."""
    from lab.values import _krylov

    return _krylov.csr_directions(case.n)


def gather_pass_bytes(case) -> int:
    """Bytes one :func:`gather_pass` moves at least: int32 indptr and indices, float64
    coefficients, x and w read and the result written once."""
    x_bytes = np.dtype(gathered_dtype(case)).itemsize
    return case.nnz * 12 + case.n * (x_bytes + 16) + (case.n + 1) * 4


def gather_floor(case, threads, repeat: int) -> dict:
    """What bounds a Krylov solve of an economy without structure, measured on it.

    * One pass of the Krylov kernel with the economy's own inputs, and with the same
      arrays except that row i reads x at i, i + 1, … (:func:`gather_pass`): the
      difference is the cost of gathering x at random, which no ordering removes from
      a random graph.
    * The passes full GMRES needs for lab's rule (:func:`gmres_passes`): GMRES
      minimises the residual over the Krylov space of each pass count, so no Krylov
      method (lab's BiCGSTAB included) reaches that residual in fewer passes.
    """
    from lab import _ops

    backend = _ops.resolve_backend("auto")
    calls = {key: gather_pass(case, key, backend) for key in GATHER_ORDERS}
    passes = []
    for t in threads:
        times: dict = {key: [] for key in calls}
        with _ops.thread_limit(t, backend):
            for r in range(repeat + 1):  # the first round warms up, untimed
                for key in list(calls) if r % 2 else list(calls)[::-1]:
                    t0 = time.perf_counter()
                    calls[key]()
                    if r:
                        times[key].append(time.perf_counter() - t0)
        passes.append({"threads": t, **{f"{k}_s": statistics.median(v)
                                         for k, v in times.items()}})
    return {"n_products": case.n, "nnz": case.nnz, "bytes_per_pass": gather_pass_bytes(case),
            "gathered": np.dtype(gathered_dtype(case)).name,
            "pass_s": passes, **gmres_passes(case)}


def gmres_passes(case) -> dict:
    """The passes full GMRES needs for lab's rule on ``case`` (the loosest scipy rtol
    from BiCGSTAB's on whose answer meets it): ``gmres_passes``, ``gmres_rule_met``,
    ``gmres_rtol``; None for all three above :data:`GMRES_FLOOR_MAX_PRODUCTS`."""
    import scipy.sparse.linalg as spla

    found = {"gmres_passes": None, "gmres_rule_met": None, "gmres_rtol": None}
    if case.n > GMRES_FLOOR_MAX_PRODUCTS:
        return found
    ladder = _w.SCIPY_RTOL_LADDER
    start = ladder.index(_w.calibrate(case, "bicgstab")["peer_rtol"])
    for rtol in ladder[start:]:
        count = [0]
        v, _ = spla.gmres(case.M, case.l, rtol=rtol, atol=0.0, restart=GMRES_FLOOR_PASSES,
                          maxiter=1, callback=lambda _, c=count: c.__setitem__(0, c[0] + 1),
                          callback_type="pr_norm")
        met = bool(case.residual(v) <= _w._rtol_of(case))
        found.update(gmres_passes=count[0], gmres_rule_met=met, gmres_rtol=rtol)
        if met or count[0] >= GMRES_FLOOR_PASSES:
            break
    return found


def _bandwidth_floor(report) -> None:
    """For lab's value records: the bandwidth floor, their matrix passes × bytes per pass
    ÷ the streaming read bandwidth measured in this run at the thread count the answer
    used; ``over_floor`` is the median time over it."""
    stream = {b["threads"]: b["best_GBps"] for b in report.get("bandwidth", [])}
    for r in report["records"]:
        if "matvecs" not in r or "bytes_per_pass" not in r or "median_s" not in r:
            continue
        bw = stream.get(r.get("threads_used")) or max(stream.values(), default=None)
        if not bw:
            continue
        r["floor_s"] = r["matvecs"] * r["bytes_per_pass"] / (bw * 1e9)
        r["over_floor"] = r["median_s"] / r["floor_s"] if r["floor_s"] > 0 else None


def _mib(b) -> str:
    return "n/a" if b is None else f"{b / 2**20:.1f} MiB"


def _comparisons(records) -> list:
    index = {(r["suite"], r["workload"], r["n_products"]): r for r in records}
    rows = []
    for suite, lab_name, peer_name in _w.COMPARISONS:
        sizes = sorted({r["n_products"] for r in records if r["suite"] == suite})
        for n in sizes:
            a, b = index.get((suite, lab_name, n)), index.get((suite, peer_name, n))
            if a is None or b is None:
                continue
            ok = "error" not in a and "error" not in b
            row = {"suite": suite, "lab": lab_name, "peer": peer_name, "n_products": n,
                   "nnz": a["nnz"],
                   "lab_median_s": a.get("median_s"), "peer_median_s": b.get("median_s"),
                   "ratio": (b["median_s"] / a["median_s"]) if ok and a["median_s"] > 0
                   else None,
                   "lab_residual": a.get("residual"), "peer_residual": b.get("residual"),
                   "lab_peak_bytes": a.get("peak_bytes"), "peer_peak_bytes": b.get("peak_bytes"),
                   "error": a.get("error") or b.get("error")}
            for key in ("phi", "harmony", "status", "relative_gap", "peer_rtol", "rule_met",
                        "matvecs", "floor_s", "over_floor", "method"):
                if key in a:
                    row[f"lab_{key}"] = a[key]
                if key in b:
                    row[f"peer_{key}"] = b[key]
            rows.append(row)
    return rows


def _scaling(records, config) -> dict:
    """Fitted exponent of median time against nnz, per workload (sizes ≥ scaling_min)."""
    out = {}
    groups = {}
    for r in records:
        if r["suite"] != "values" or "error" in r:
            continue
        groups.setdefault(r["workload"], []).append(r)
    for name, rs in groups.items():
        rs.sort(key=lambda r: r["nnz"])
        fit = [r for r in rs if r["n_products"] >= config.scaling_min]
        out[name] = {"side": rs[0]["side"], "n_products": [r["n_products"] for r in rs],
                     "nnz": [r["nnz"] for r in rs], "median_s": [r["median_s"] for r in rs],
                     "fit_from_products": config.scaling_min,
                     "exponent": _m.fit_slope([r["nnz"] for r in fit],
                                              [r["median_s"] for r in fit])}
    return out


# --------------------------------------------------------------------------- kernels

def kernel_bytes(indptr, indices, data, n_rows: int, kernel: str) -> int:
    """Bytes a kernel call must move at least (each array read or written once).

    CSR arrays (indptr + indices + data) once, x once (the gather may read parts
    of it more than once: this count is the compulsory traffic), y written once;
    the fused Jacobi step also reads b and writes v_new. Achieved GB/s is this
    count divided by the time.
    """
    base = indptr.nbytes + indices.nbytes + data.nbytes + 8 * n_rows
    if kernel in ("csr_matvec", "scipy"):
        return base + 8 * n_rows
    if kernel == "jacobi_step":
        return base + 2 * 8 * n_rows
    if kernel == "identity_minus_matvec":
        return base + 8 * n_rows
    raise ValueError(kernel)


def _run_kernels(config, threads, report, log) -> list:
    from lab import _ops

    economy = _w.make_economy(config.kernel_size, seed=config.seed)
    backends = ([_ops.resolve_backend("auto")] if config.kernel_backends == "default"
                else list(_ops.available_backends()))
    stream = {b["threads"]: b["best_GBps"] for b in report["bandwidth"]}
    n, nnz = economy.n_products, int(economy.nnz)
    rows = []

    def add(entry, fn, nbytes):
        timing = _m.measure(fn, max(config.repeat, 10), memory=False)
        entry.update(n_products=n, nnz=nnz, bytes=int(nbytes),
                     bytes_per_nnz=nbytes / max(1, nnz))
        if "error" in timing:
            entry["error"] = timing["error"]
        else:
            entry.update(median_s=timing["median_s"], min_s=timing["min_s"],
                         GBps=nbytes / timing["median_s"] / 1e9)
            bw = stream.get(entry["threads"])
            entry["stream_GBps"] = bw
            entry["fraction_of_stream"] = entry["GBps"] / bw if bw else None
        rows.append(entry)
        if "error" in entry:
            log(f"  kernel {entry['kernel']} {entry['backend']} ERROR {entry['error']}")
        else:
            log(f"  kernel {entry['kernel']:<12} {entry['backend']:<6} {entry['index']} "
                f"{entry['data']} threads={entry['threads']}: {entry['median_s'] * 1e3:.2f} ms, "
                f"{entry['GBps']:.1f} GB/s ({100 * (entry['fraction_of_stream'] or 0):.0f} % "
                "of stream)")

    log(f"kernels on Aᵀ of {n} products, nnz={nnz}")
    for width in ("int32", "int64"):
        cases = {"float64": _w.kernel_case(economy, width, seed=config.seed)}
        if width == "int32":
            cases["float32"] = _w.kernel_case(economy, width, data_dtype=np.float32,
                                              seed=config.seed)
        for backend in backends:
            for t in threads:
                common = {"backend": backend, "index": width, "threads": t}
                for data, case in cases.items():
                    add({"kernel": "csr_matvec", "data": data, **common},
                        _w.kernel_call(case, backend, "csr_matvec", t),
                        kernel_bytes(case.indptr, case.indices, case.data, n, "csr_matvec"))
                case = cases["float64"]
                add({"kernel": "jacobi_step", "data": "float64", **common},
                    _w.kernel_call(case, backend, "jacobi_step", t),
                    kernel_bytes(case.indptr, case.indices, case.data, n, "jacobi_step"))
        case = cases["float64"]
        add({"kernel": "csr_matvec", "backend": "scipy", "index": width, "threads": 1,
             "data": "float64", "peer": "scipy A @ x"},
            _w.scipy_matvec_call(case),
            kernel_bytes(case.indptr, case.indices, case.data, n, "scipy"))
    del economy
    return rows


# --------------------------------------------------------------------------- threads

#: Seconds each thread setting of a method is timed for at least, per ``repeat`` asked
#: (more calls of short solves: a median of five 10-ms solves beside a busy process is
#: mostly noise, and five 100-ms calls of the governed 10⁶ warm solve beside a busy
#: process read 0.73× one thread's, where the same comparison alone read 0.98–1.01×).
THREAD_SECONDS = 0.4
#: Methods of the thread measurement ("auto-cold" pays the structure analysis).
THREAD_WORKLOADS = ("auto-cold", "auto-warm", "jacobi", "gauss-seidel", "krylov", "blocks")
#: Methods whose iterations run on one thread at any count: ``gauss-seidel`` sweeps are
#: exact sequential Gauss–Seidel (one chunk: ``_Run.solve_gauss_seidel``), so their
#: thread rows measure the host, not a thread effect (the report says so).
SEQUENTIAL_WORKLOADS = frozenset({"gauss-seidel"})


def _run_threads(config, threads, log) -> list:
    """Every method at each thread count on the largest peer-sized economy, quiet and
    (``threads_busy``) beside one busy process started here; the thread settings of a
    method are timed in turn (:func:`lab.bench._measure.interleaved`), and each row's
    ``speedup`` over the fewest threads is paired by round (:func:`_paired_speedup`)."""
    sizes = [s for s in config.values_sizes if config.peer_max is None or s <= config.peer_max]
    n = max(sizes) if sizes else min(config.values_sizes)
    economy = _w.make_economy(n, seed=config.seed)
    rows = []
    # Each forced count, then (with several) lab's default: up to the most threads, the
    # thread governor choosing each step's count from measured times (n_threads=None).
    most = max(threads)
    counts = [*threads, None] if len(threads) > 1 else list(threads)
    for load in ("quiet", "busy") if config.threads_busy else ("quiet",):
        with _m.busy_process(load == "busy"):
            for name in THREAD_WORKLOADS:
                calls = {t: _thread_call(economy, name, config.rtol, t) for t in counts}
                if None in calls:
                    calls[None] = functools.partial(_with_threads, most, calls[None])
                timings = _m.interleaved(calls, config.repeat,
                                          min_seconds=THREAD_SECONDS * config.repeat)
                base = timings[threads[0]].get("times_s")
                for t in counts:
                    row = {"workload": name, "threads": t or most, "governed": t is None,
                           "sequential": name in SEQUENTIAL_WORKLOADS,
                           "load": load, "n_products": n, "nnz": int(economy.nnz),
                           "speedup": _paired_speedup(base, timings[t].get("times_s")),
                           **{k: v for k, v in _clean(timings[t]).items()
                              if k != "peak_bytes"}}
                    rows.append(row)
                    if "error" not in row:
                        label = f"≤{most} (governor)" if t is None else str(t)
                        log(f"threads={label} {load:<5} {name}: "
                            f"{row['median_s'] * 1e3:.1f} ms (n={n})")
    return rows


def _paired_speedup(base, times) -> float | None:
    """The median over rounds of base / times, the two calls of a round timed next to each
    other: a drift of the host's speed over the measurement (±20 % within minutes here)
    cancels in each ratio, where a ratio of the two medians keeps what it does to each."""
    if not base or not times or len(base) != len(times):
        return None
    return statistics.median(b / t for b, t in zip(base, times, strict=True) if t > 0)


def _with_threads(n, fn):
    """fn() with the kernels' thread count set to n (lab's default then uses up to n)."""
    from lab import _ops

    with _ops.thread_limit(n, "auto"):
        return fn()


def _thread_call(economy, name, rtol, t):
    if name == "auto-cold":
        def cold():
            economy._cache.clear()
            return labour_values(economy, rtol=rtol, n_threads=t).values
        return cold
    method = "auto" if name == "auto-warm" else name
    solver = ValueSolver(economy, method=method, rtol=rtol, n_threads=t)
    return lambda: solver.solve().values


# --------------------------------------------------------------------------- convergence

def _run_convergence(config, log) -> dict:
    sizes = [s for s in config.values_sizes if config.peer_max is None or s <= config.peer_max]
    n = config.convergence_size or (max(sizes) if sizes else min(config.values_sizes))
    t0 = time.perf_counter()
    case = _w.make_case("values", n, config)
    try:
        curves = _w.convergence_histories(case, config)
    except Exception as exc:
        return {"n_products": n, "error": f"{type(exc).__name__}: {exc}", "curves": {}}
    log(f"convergence histories at n={n}: {time.perf_counter() - t0:.1f} s")
    return {"n_products": n, "nnz": case.nnz, "rtol": config.rtol, "curves": curves}


# --------------------------------------------------------------------------- start-up, memory

COLD_START_SIZE = 1_000


def _run_cold_start(config, log):
    if config.cold_start_runs == 0:
        return None, None
    from lab.io import write_economy

    try:
        with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
            path = Path(tmp) / "economy.npz"
            write_economy(_w.make_economy(COLD_START_SIZE, seed=config.seed), path)
            cold = _m.cold_start(path, Path(tmp) / "values.csv", config.cold_start_runs)
        cold["n_products"] = COLD_START_SIZE
        imp = _m.import_time(max(2, config.cold_start_runs))
    except Exception as exc:
        log(f"cold start: ERROR {type(exc).__name__}: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"}, None
    log(f"cold start (lab values, {COLD_START_SIZE} products): first {cold['first_s']:.2f} s, "
        f"then {cold['median_after_first_s']:.2f} s; import lab {imp['import_only_s']:.2f} s")
    return cold, imp


#: Cold solves of the largest economy in its child process (the first one's peak memory
#: is measured; the row reports it and the median of all).
HUGE_COLD_SOLVES = 3


def _run_huge(config, log):
    if config.huge_size is None:
        return None
    log(f"peak memory at n={config.huge_size} in a child process ...")
    out = _m.peak_rss_child(config.huge_size, seed=config.seed, solves=HUGE_COLD_SOLVES)
    if "error" not in out:
        log(f"  peak RSS {out['peak_rss_solve'] / 2**30:.2f} GiB = {out['peak_over_csr']:.2f}× "
            f"one CSR copy of A ({out['csr_bytes'] / 2**30:.2f} GiB); cold solves "
            + ", ".join(f"{t:.2f}" for t in out["solve_times_s"]) + " s")
    else:
        log(f"  ERROR {out['error']}")
    return out


# --------------------------------------------------------------------------- summary

def _summary(report) -> dict:
    """The headline figures: ratios, bandwidth share, scaling, memory, cold start."""
    s = {}
    best = {}
    for row in report["comparisons"]:
        if row["ratio"] is None:
            continue
        key = f"{row['lab']} vs {row['peer']}"
        if key not in best or row["n_products"] > best[key]["n_products"]:
            best[key] = {"n_products": row["n_products"], "ratio": row["ratio"]}
    s["ratios_at_largest_size"] = best
    kern = [k for k in report["kernels"] if k["kernel"] == "csr_matvec"
            and k["backend"] == report["lab_backend"]["backend"] and "GBps" in k]
    keys = ("backend", "index", "data", "threads", "GBps", "stream_GBps",
            "fraction_of_stream", "bytes_per_nnz")
    if kern:
        top = max(kern, key=lambda k: k["fraction_of_stream"] or 0)
        s["spmv"] = {k: top.get(k) for k in keys}
        most = max(k["threads"] for k in kern)
        default = [k for k in kern if k["index"] == "int32" and k["data"] == "float64"
                   and k["threads"] == most]
        if default:
            s["spmv_default"] = {k: default[0].get(k) for k in keys}
    s["scaling_exponent"] = {k: v["exponent"] for k, v in report["scaling"].items()
                             if v["side"] == "lab" and v["exponent"] is not None}
    huge = report.get("huge")
    if huge and "error" not in huge:
        s["peak_memory_huge"] = {k: huge[k] for k in ("n_products", "peak_rss_solve",
                                                     "csr_bytes", "peak_over_csr",
                                                     "peak_method")}
    floors = [r for r in report["records"] if r.get("over_floor")]
    if floors:
        s["bandwidth_floor"] = [{k: r.get(k) for k in (
            "suite", "workload", "n_products", "method", "matvecs", "bytes_per_pass",
            "threads_used", "median_s", "floor_s", "over_floor")} for r in floors]
    gathers = [_gather_summary(g, report) for g in report.get("gather_floor", [])]
    if gathers:
        s["gather_floor"] = gathers
    slow = [r for r in report.get("threads", []) if r.get("speedup") is not None
            and r["threads"] > min(x["threads"] for x in report["threads"])]
    if slow:
        s["threads_worst_speedup"] = min(r["speedup"] for r in slow)
    for r in report["records"]:
        if r["workload"] == "update-1000" and "median_s" in r:
            s["update"] = {k: r.get(k) for k in ("n_products", "median_s", "changes",
                                                 "difference_from_cold", "residual")}
    cold = report.get("cold_start")
    if cold and "error" not in cold:
        s["cold_start_s"] = cold["median_after_first_s"]
    if report.get("import"):
        s["import_s"] = report["import"]["import_only_s"]
    return s


def _gather_summary(g: dict, report) -> dict:
    """:func:`gather_floor`'s figures at the most threads measured, beside the stream rate
    of this run and lab's ``auto-warm`` solve of the same economy: ``gather_floor_s`` is
    GMRES's passes at the measured random-gather pass time, the least a Krylov solve
    could take."""
    most = max(g["pass_s"], key=lambda p: p["threads"])
    t = most["threads"]
    bw = {b["threads"]: b["best_GBps"] for b in report.get("bandwidth", [])}.get(t)
    out = {"n_products": g["n_products"], "threads": t, "gathered": g["gathered"],
           "random_pass_s": most["random_inputs_s"],
           "in_order_pass_s": most["inputs_in_order_s"],
           "stream_pass_s": g["bytes_per_pass"] / (bw * 1e9) if bw else None,
           "gmres_passes": g["gmres_passes"], "gmres_rule_met": g["gmres_rule_met"]}
    lab = next((r for r in report["records"] if r["suite"] == "values-unstructured"
                and r["workload"] == "auto-warm" and r["n_products"] == g["n_products"]
                and "median_s" in r), None)
    if lab is not None:
        out.update(lab_matvecs=lab.get("matvecs"), lab_median_s=lab["median_s"])
        if g["gmres_passes"] and g["gmres_rule_met"]:
            out["gather_floor_s"] = g["gmres_passes"] * out["random_pass_s"]
            out["over_gather_floor"] = lab["median_s"] / out["gather_floor_s"]
    return out


def write_report(report: dict, out_dir, *, plots: bool = True) -> dict:
    """Write ``bench.json``, ``bench.md`` and the PNG plots into ``out_dir`` (atomically).

    Returns
    -------
    dict
        ``{"json": path, "markdown": path, "plots": [paths]}``.
    """
    from lab.bench import _report

    return _report.write_all(report, Path(out_dir), plots=plots)


def format_table(report: dict) -> str:
    """The comparison table printed by ``lab bench`` (plain text)."""
    from lab.bench import _report

    return _report.text_table(report)

