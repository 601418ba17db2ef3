"""Measurement helpers of ``lab bench``: timing, peak memory, bandwidth, machine, start-up.

Everything here measures; nothing here knows about workloads (see
:mod:`lab.bench._workloads`) or reports (see :mod:`lab.bench._report`).

Peak memory is measured two ways, and the report says which:

* ``tracemalloc``: the peak of NumPy/Python allocations during one extra, untimed
  call, above what was allocated before it. NumPy reports its data buffers to
  tracemalloc, so this counts every array a solver creates; memory that C
  libraries allocate on their own (SuperLU inside ``spsolve``, LAPACK work
  space) is not seen.
* ``rss`` (child processes, Linux): the resident-set high-water mark ``VmHWM``
  of a fresh process, reset with ``/proc/self/clear_refs`` after set-up, so it
  counts everything the process touched during the solve, A included.
"""

from __future__ import annotations

import contextlib
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = [
    "Timing",
    "busy_process",
    "cold_start",
    "fit_slope",
    "import_time",
    "interleaved",
    "machine_info",
    "measure",
    "peak_rss_child",
    "stream_bandwidth",
    "usable_cores",
    "versions",
]


class Timing(dict):
    """Result of :func:`measure`: a plain dict (JSON-ready) with a few keys.

    Keys: ``times_s`` (every timed call), ``median_s``, ``min_s``, ``peak_bytes``
    (tracemalloc peak above the start, or None), ``answer`` (the warm-up call's
    return value; removed before the report is written), ``error`` (only when a
    call raised).
    """


def measure(fn, repeat: int, *, memory: bool = True, budget_s: float | None = None) -> Timing:
    """One untimed warm-up call, ``repeat`` timed calls, one call under tracemalloc.

    Parameters
    ----------
    fn : callable
        Zero-argument callable; its return value (of the warm-up call) is kept
        under ``"answer"`` so the caller can check it.
    repeat : int
        Timed calls (at least one).
    memory : bool, default True
        Run one more call under :mod:`tracemalloc` for the peak allocation.
    budget_s : float, optional
        Stop repeating once the timed calls have taken this long (at least one
        timed call is always made), so slow peers do not dominate a run.

    Returns
    -------
    Timing
    """
    out = Timing()
    try:
        out["answer"] = fn()
        times = []
        spent = 0.0
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
            spent += times[-1]
            if budget_s is not None and spent >= budget_s:
                break
        out["times_s"] = times
        out["median_s"] = statistics.median(times)
        out["min_s"] = min(times)
        out["peak_bytes"] = _traced_peak(fn) if memory else None
    except MemoryError:
        out["error"] = "MemoryError"
    except Exception as exc:  # one broken workload must not hide the others
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


#: Most rounds :func:`interleaved` runs to fill its ``min_seconds``.
MAX_ROUNDS = 200


def interleaved(fns: dict, repeat: int, *, min_seconds: float = 0.0) -> dict:
    """:func:`measure` (without memory) for several callables at once, their timed calls
    interleaved, the order reversed every other round, so that a load drifting during
    the measurement weighs on all of them alike (a thread-count comparison measured one
    setting after the other read a drift as a thread effect). At least ``repeat``
    rounds, and more (up to MAX_ROUNDS) until every callable has been timed for
    ``min_seconds``: beside a busy process, five calls each of a 10-ms solve at 1 and 2
    threads read a 0.66× "speed-up" that 31 calls each put at 0.99×. Returns a Timing
    per key; a callable that raises gets its ``error`` and is not timed further."""
    out = {key: Timing() for key in fns}
    times: dict = {}
    for key, fn in fns.items():
        if _call(out[key], fn, warm_up=True):
            times[key] = []
    keys = list(times)

    def more(r):
        if r < max(1, repeat):
            return True
        return r < MAX_ROUNDS and any(sum(ts) < min_seconds for ts in times.values())

    r = 0
    while times and more(r):
        r += 1
        for key in keys if r % 2 == 1 else keys[::-1]:
            if key in times:
                t0 = time.perf_counter()
                if _call(out[key], fns[key]):
                    times[key].append(time.perf_counter() - t0)
                else:
                    del times[key]
    for key, ts in times.items():
        out[key].update(times_s=ts, median_s=statistics.median(ts), min_s=min(ts),
                        peak_bytes=None)
    return out


def _call(timing, fn, *, warm_up=False) -> bool:
    """Call fn; record its answer (warm-up) or its error in ``timing``; False on error."""
    try:
        answer = fn()
    except MemoryError:
        timing["error"] = "MemoryError"
        return False
    except Exception as exc:  # one broken workload must not hide the others
        timing["error"] = f"{type(exc).__name__}: {exc}"
        return False
    if warm_up:
        timing["answer"] = answer
    return True


def _traced_peak(fn) -> int:
    """Peak bytes allocated (tracemalloc) during one call, above the level at its start."""
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return max(0, peak - start)


# --------------------------------------------------------------------------- machine

def usable_cores() -> int:
    """Cores this process may run on (affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def stream_bandwidth(threads: int, *, nbytes: int = 1 << 29, repeat: int = 5) -> dict:
    """Streaming read bandwidth: best of ``repeat`` sums of a ``nbytes`` float64 array.

    The array (default 512 MiB, far beyond any cache) is split into ``threads``
    contiguous parts summed concurrently by NumPy (which releases the GIL), so
    the figure is what ``threads`` cores can read from memory together.

    Returns
    -------
    dict
        ``threads``, ``bytes``, ``best_GBps`` (bytes / fastest time) and ``median_GBps``.
    """
    n = max(1 << 16, nbytes // 8)
    a = np.ones(n)
    parts = np.array_split(a, threads)
    times = []
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(np.sum, parts))  # warm-up: pages touched, threads started
        for _ in range(repeat):
            t0 = time.perf_counter()
            list(pool.map(np.sum, parts))
            times.append(time.perf_counter() - t0)
    del a, parts
    return {"threads": threads, "bytes": 8 * n, "best_GBps": 8 * n / min(times) / 1e9,
            "median_GBps": 8 * n / statistics.median(times) / 1e9}


def versions() -> dict:
    """Versions of Python and of the libraries in the comparison (None if missing)."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("lab", "numpy", "scipy", "numba", "Cython", "pymrio", "highspy", "pandas",
                 "matplotlib", "psutil"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def machine_info() -> dict:
    """The machine as the report states it (bandwidth is measured separately)."""
    info = {
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_usable": usable_cores(),
        "cores_physical": None,
        "memory_bytes": None,
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg")
        else None,
    }
    try:
        import psutil

        info["cores_physical"] = psutil.cpu_count(logical=False)
        info["memory_bytes"] = int(psutil.virtual_memory().total)
    except ImportError:  # pragma: no cover - psutil is in the bench extra
        pass
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fit_slope(x, y) -> float | None:
    """Least-squares slope of log(y) against log(x) (None with fewer than two points)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    if np.count_nonzero(keep) < 2 or np.unique(x[keep]).size < 2:
        return None
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])


# --------------------------------------------------------------------------- processes

@contextlib.contextmanager
def busy_process(start: bool = True):
    """Run the body beside one busy process: a Python child spinning on one core (the
    "another program is running" case of the thread measurements). It is stopped (by
    its own process id) when the body ends."""
    if not start:
        yield None
        return
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)  # let it reach the scheduler
        yield child
    finally:
        child.kill()
        child.wait()


def _child_env() -> dict:
    env = dict(os.environ)
    # the child must import the same lab as this process: the folder above lab/
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _run_timed(args, *, timeout: float = 600.0) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(args, env=_child_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        raise RuntimeError(f"{' '.join(map(str, args[:4]))} ... failed: {tail[0]}")
    return seconds


def import_time(runs: int = 3) -> dict:
    """Seconds of ``python -c "import lab"`` minus those of ``python -c pass`` (medians)."""
    bare = [_run_timed([sys.executable, "-c", "pass"]) for _ in range(runs)]
    with_lab = [_run_timed([sys.executable, "-c", "import lab"]) for _ in range(runs)]
    return {"python_s": statistics.median(bare), "import_lab_s": statistics.median(with_lab),
            "import_only_s": max(0.0, statistics.median(with_lab) - statistics.median(bare)),
            "runs": runs}


def cold_start(economy_path, out_path, runs: int = 3) -> dict:
    """End-to-end ``lab values ECONOMY -o OUT`` in fresh processes.

    The first run may compile or fill caches (Numba); the figure that matters is
    the median of the later runs (``median_after_first_s``).
    """
    args = [sys.executable, "-m", "lab", "values", str(economy_path), "-o", str(out_path),
            "--quiet"]
    times = [_run_timed(args) for _ in range(max(2, runs))]
    return {"command": "lab values ECONOMY -o OUT --quiet", "times_s": times,
            "first_s": times[0], "median_after_first_s": statistics.median(times[1:])}


def peak_rss_child(n_products: int, *, seed: int, solves: int = 1,
                   timeout: float = 1800.0) -> dict:
    """Peak memory of a fresh ``labour_values`` call at ``n_products``, in a child process,
    and the times of ``solves`` cold solves there.

    Runs :mod:`lab.bench._child`, which generates the economy, resets the
    resident-set high-water mark and solves; see its docstring for the fields.
    """
    import json

    args = [sys.executable, "-m", "lab.bench._child", str(n_products), str(seed),
            str(solves)]
    proc = subprocess.run(args, env=_child_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        return {"n_products": n_products, "error": f"child failed: {tail[0]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])

