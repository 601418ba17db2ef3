"""Compare lab's labour-value solvers with scipy peers in one process, without pytest.

Usage::

    python benchmarks/compare.py --sizes 10000,100000,1000000 [--repeat 5] [--huge]

For every size: one seeded economy (12 mean inputs, ρ(A) = 0.9), lab rtol 1e-10. Each
workload gets one untimed warm-up call (JIT, caches; its answer is the one whose residual
is reported), then ``--repeat`` timed calls; the table shows medians. Residuals are
lab's rule ‖l + Aᵀv − v‖∞ / ‖v‖∞ recomputed here with scipy for every answer. scipy's
solvers stop on a 2-norm relative to ‖b‖₂, so their rtol is chosen per economy, untimed,
as the loosest of a ladder (1e-8 … 1e-14) whose answer meets lab's rule; the chosen
value is in the "peer rtol" column. Peers get I − Aᵀ prebuilt as CSR outside the timing.

``--huge`` adds a 10^7-product economy solved by lab ``auto`` only (a fresh
``labour_values`` call per repeat), with wall time and peak resident memory.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shlex
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _workloads as W  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402

import lab  # noqa: E402
from lab import _ops  # noqa: E402

HUGE_SIZE = 10_000_000


def _peak_rss_bytes() -> int:
    """Peak resident set size of this process (ru_maxrss is KiB on Linux, B on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _rss_bytes() -> int | None:
    try:
        import psutil
    except ImportError:
        return None
    return psutil.Process().memory_info().rss


def _gib(b) -> str:
    return "n/a" if b is None else f"{b / 2**30:.2f} GiB"


def machine_info() -> list[str]:
    lines = [f"command  : {shlex.join([sys.executable, *sys.argv])}",
             f"python   : {platform.python_version()} ({platform.python_implementation()})",
             f"platform : {platform.platform()}",
             f"cpu      : {platform.processor() or platform.machine()}"]
    cores = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
        mem = _gib(psutil.virtual_memory().total)
    except ImportError:
        physical, mem = "?", "?"
    lines.append(f"cores    : {cores} logical, {physical} physical, {usable} usable; "
                 f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    lines.append(f"memory   : {mem}")
    try:
        import numba

        numba_v = f"{numba.__version__} (NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS})"
    except ImportError:
        numba_v = "not installed"
    lines.append(f"versions : numpy {np.__version__}, scipy {scipy.__version__}, "
                 f"numba {numba_v}, lab {getattr(lab, '__version__', '?')}")
    backend = _ops.resolve_backend("auto")
    K = _ops.kernels(backend)
    omp = getattr(K, "HAVE_OPENMP", None)
    lines.append(f"lab      : backend auto -> {backend} (available {_ops.available_backends()}, "
                 f"threads {K.get_num_threads()}" + ("" if omp is None else f", OpenMP {omp}")
                 + f"); env OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')} "
                 f"LAB_BACKEND={os.environ.get('LAB_BACKEND', '-')}")
    return lines


def measure(problem, fn, repeat):
    """Warm-up (untimed, its answer gives the residual), then ``repeat`` timed calls."""
    try:
        v = fn()
        residual = problem.residual(v)
        times = W.time_calls(fn, repeat)
    except Exception as exc:  # report and go on: one broken workload must not hide the rest
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"median": statistics.median(times), "min": min(times), "residual": residual}


def run_size(n, repeat, log, n_threads=None):
    t0 = time.perf_counter()
    problem = W.make_problem(W.make_economy(n))
    log(f"n={n}: economy generated in {time.perf_counter() - t0:.2f} s, nnz={problem.nnz}")
    results = {}
    for name, fn in W.lab_workloads(problem, n_threads).items():
        results[name] = measure(problem, fn, repeat)
        log(f"  lab  {name:<16} {_fmt_result(results[name])}")
    for peer in W.PEERS:
        if not W.peer_applies(problem, peer):
            continue
        t0 = time.perf_counter()
        try:
            fn = W.peer_workload(problem, peer)
            info = W.calibrate_peer(problem, peer)
        except Exception as exc:
            results[peer] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        results[peer] = {**measure(problem, fn, repeat), **info}
        log(f"  peer {peer:<16} {_fmt_result(results[peer])} "
            f"(rtol calibration {time.perf_counter() - t0:.2f} s)")
    return problem, results


def _fmt_result(r):
    if "error" in r:
        return "ERROR " + r["error"]
    return f"median {r['median'] * 1e3:.3f} ms, residual {r['residual']:.2e}"


def _ms(r):
    return "error" if "error" in r else f"{r['median'] * 1e3:.3f}"


def _res(r):
    return "-" if "error" in r else f"{r['residual']:.2e}"


def table_rows(n, problem, results):
    rows = []
    for lab_name, peer in W.PAIRS:
        if peer not in results:
            continue
        a, b = results[lab_name], results[peer]
        ratio = ("-" if "error" in a or "error" in b
                 else f"{b['median'] / a['median']:.2f}")
        if "error" in b:
            prtol = "-"
        elif peer == "scipy-spsolve":
            prtol = "direct"
        elif peer == "numpy-jacobi":
            prtol = "lab rule"
        else:
            prtol = f"{b['peer_rtol']:g}" + ("" if b["rule_met"] else " (rule NOT met)")
        rows.append([f"{n}", f"{problem.nnz}", f"{lab_name} vs {peer}", _ms(a), _ms(b), ratio,
                     _res(a), _res(b), prtol])
    return rows


def print_table(header, rows):
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    left = {2}
    line = "  ".join(h.ljust(w) if i in left else h.rjust(w)
                     for i, (h, w) in enumerate(zip(header, widths, strict=True)))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(c.ljust(w) if i in left else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths, strict=True))))


def run_huge(n, repeat, log, n_threads=None):
    rss0 = _rss_bytes()
    t0 = time.perf_counter()
    economy = W.make_economy(n)
    t_gen = time.perf_counter() - t0
    rss_gen, peak_gen = _rss_bytes(), _peak_rss_bytes()
    log(f"n={n}: economy generated in {t_gen:.1f} s, nnz={economy.nnz}, "
        f"RSS {_gib(rss_gen)}, peak {_gib(peak_gen)}")
    times, result = [], None
    try:
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            economy._cache.clear()  # every repeat pays the structure analysis
            result = lab.labour_values(economy, method="auto", rtol=W.RTOL, n_threads=n_threads)
            times.append(time.perf_counter() - t0)
            log(f"  auto-cold: {times[-1]:.2f} s ({result.method}, {result.iterations} it)")
    except Exception as exc:
        return {"n": n, "nnz": economy.nnz, "generate_s": t_gen,
                "error": f"{type(exc).__name__}: {exc}", "rss_before": rss0,
                "rss_after_generate": rss_gen, "peak_after_generate": peak_gen,
                "peak_after_solve": _peak_rss_bytes()}
    return {
        "n": n, "nnz": economy.nnz, "generate_s": t_gen, "median_s": statistics.median(times),
        "min_s": min(times), "method": result.method, "reason": result.method_reason,
        "lab_residual": result.residual, "timings": dict(result.timings),
        "rss_before": rss0, "rss_after_generate": rss_gen, "peak_after_generate": peak_gen,
        "peak_after_solve": _peak_rss_bytes(), "rss_after_solve": _rss_bytes(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in W.DEFAULT_SIZES),
                        help="products per economy, comma-separated (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed runs per workload; medians are shown (default 5)")
    parser.add_argument("--huge", action="store_true",
                        help=f"also solve a {HUGE_SIZE:.0e}-product economy with lab auto "
                             "(time and peak RSS)")
    parser.add_argument("--huge-size", type=float, default=HUGE_SIZE,
                        help="products of the --huge economy (default %(default).0e)")
    parser.add_argument("--threads", type=int, default=None,
                        help="n_threads for lab's solvers (default: lab's default)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    sizes = W.parse_sizes(args.sizes)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")

    def log(msg):
        if not args.quiet:
            print(msg, flush=True)

    for line in machine_info():
        print(line)
    print(f"workload : {W.MEAN_INPUTS:g} mean inputs, rho(A) = {W.SPECTRAL_RADIUS}, "
          f"lab rtol = {W.RTOL:g}, lab n_threads = {args.threads or 'default'}, seed {W.SEED},\n"
          f"           median of {args.repeat} run(s) after one untimed warm-up; "
          "residual = ||l + A^T v - v||_inf / ||v||_inf")
    print()

    rows = []
    for n in sizes:
        problem, results = run_size(n, args.repeat, log, args.threads)
        rows += table_rows(n, problem, results)
        errors = {k: r["error"] for k, r in results.items() if "error" in r}
        for k, e in errors.items():
            print(f"  ERROR in {k} at n={n}: {e}")
        del problem, results

    huge = run_huge(int(args.huge_size), args.repeat, log, args.threads) if args.huge else None

    print()
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          "(other processes on the cores make timings noisy)")
    print("times in ms; ratio = peer median / lab median (> 1: lab faster)")
    print_table(["size", "nnz", "workload (lab vs peer)", "lab median", "peer median",
                 "ratio", "lab residual", "peer residual", "peer rtol"], rows)

    if huge is not None and "error" in huge:
        print()
        print(f"huge: n={huge['n']}, nnz={huge['nnz']}, lab auto ERROR {huge['error']}; "
              f"generation {huge['generate_s']:.1f} s, peak RSS after generation "
              f"{_gib(huge['peak_after_generate'])}, peak {_gib(huge['peak_after_solve'])}")
    elif huge is not None:
        print()
        print(f"huge: n={huge['n']}, nnz={huge['nnz']}, lab auto (fresh labour_values call) "
              f"median {huge['median_s']:.2f} s (min {huge['min_s']:.2f} s) over "
              f"{args.repeat} run(s); method {huge['method']}: {huge['reason']}")
        print(f"      lab residual {huge['lab_residual']:.2e}; lab timings "
              + ", ".join(f"{k} {v:.2f} s" for k, v in huge["timings"].items()))
        print(f"      generation {huge['generate_s']:.1f} s; RSS before {_gib(huge['rss_before'])}"
              f", after generation {_gib(huge['rss_after_generate'])}, peak after generation "
              f"{_gib(huge['peak_after_generate'])}, peak after solve "
              f"{_gib(huge['peak_after_solve'])} (peak includes the smaller sizes run before)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
