"""Worker side of a batch: apply a job's scenario, solve with reuse, write result and record.

:func:`run_chunk` is the one function every executor runs (inline, the local
process pool, Dask workers). It gets a chunk of jobs on the same economy and the
economy itself (installed once per pool worker by :func:`init_pool_worker`, or
scattered once to every Dask worker), and keeps per-worker state between chunks:

* one :class:`~lab.values.ValueSolver` per (economy, options): the structure
  analysis, ordering and permuted matrix are built once and reused by every job
  whose scenario leaves A unchanged (resource-row changes);
* such jobs, when consecutive, are **stacked** into one multi-right-hand-side
  solve (up to :data:`STACK` columns), which reads A once for all of them;
* a job that changes coefficients gets a new economy, sharing A's index arrays
  and its strongly connected components when the sparsity pattern is unchanged;
* iterative methods (Jacobi, Gauss–Seidel, Krylov) start from the values of the
  previous scenario of the same shape (a warm start); the block method gains
  nothing from a start, so it gets none.

Every job's residual is recomputed from its own scenario's A and right-hand side.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
import traceback
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lab import _ops
from lab._atomic import atomic_path
from lab._memory import peak_rss_bytes, reset_peak_rss
from lab._validation import describe_nonfinite
from lab._version import __version__
from lab.batch._spec import (
    ChangeCoefficients,
    JobFileError,
    JobSpec,
    ScaleResource,
    SetResource,
)
from lab.batch._store import OutputFolder, file_sha256, worker_id
from lab.exceptions import InvalidEconomyError

__all__ = ["STACK", "init_pool_worker", "run_chunk", "scenario"]

#: Most scenarios solved together as one multi-right-hand-side solve.
STACK = 16
#: Methods for which a start vector saves iterations.
ITERATIVE = ("jacobi", "gauss-seidel", "krylov")
#: Economies whose solvers a worker keeps.
KEEP_ECONOMIES = 2

_POOL: dict = {}          # set in each process-pool worker by init_pool_worker
_LOCAL = threading.local()  # per-thread solver caches (Dask may run threads)


class TimeLimitExceeded(Exception):
    """A job ran past its ``time_limit``."""


def init_pool_worker(paths: dict, n_threads: int | None) -> None:
    """Process-pool initializer: read every economy once; leave Ctrl-C to the parent.

    The worker starts with SIGINT blocked (the parent blocks it while it starts
    workers): it is ignored here first, then unblocked, so a Ctrl-C pending since the
    start is dropped instead of ending the worker with a traceback.
    """
    from lab.io import read_economy

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _POOL.clear()
    for name, path in paths.items():
        _POOL[name] = read_economy(path, "npz")
    if n_threads is not None:
        _ops.kernels(_ops.resolve_backend("auto")).set_num_threads(n_threads)


def clear_state() -> None:
    """Drop the solver caches of this thread (the inline executor calls it at the end)."""
    _LOCAL.__dict__.clear()




# --------------------------------------------------------------------------- scenarios


def _resource_row(economy, name: str) -> int:
    if name not in economy.resource_names:
        raise InvalidEconomyError(f"unknown resource {name!r}; the economy has "
                                  f"{list(economy.resource_names)}")
    return economy.resource_names.index(name)


def selected_rows(economy, resources) -> list[int]:
    if resources is None:
        return [0]
    if resources == "all":
        return list(range(economy.n_resources))
    names = [resources] if isinstance(resources, str) else list(resources)
    return [_resource_row(economy, n) for n in names]


def _changed_R(economy, changes) -> np.ndarray | None:
    """R after the resource changes, or None if there are none."""
    R = None
    for c in changes:
        if not isinstance(c, (ScaleResource, SetResource)):
            continue
        if R is None:
            R = np.array(economy.R, dtype=np.float64)
        q = _resource_row(economy, c.resource)
        if isinstance(c, ScaleResource):
            if c.products is None:
                R[q] *= c.factor
            else:
                R[q, economy.index_of(c.products)] *= c.factor
        else:
            if c.fill is not None:
                R[q] = c.fill
            if c.values:
                codes, values = zip(*c.values, strict=True)
                R[q, economy.index_of(list(codes))] = values
    return R


def _changed_A(economy, changes):
    """(A after the coefficient changes or None, whether the sparsity pattern is unchanged)."""
    A = economy.A
    columns: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for c in changes:
        if not isinstance(c, ChangeCoefficients):
            continue
        j = int(economy.index_of(c.product)[0])
        if j in columns:
            rows, vals = columns[j]
        else:
            s, e = A.indptr[j], A.indptr[j + 1]
            rows, vals = A.indices[s:e].astype(np.int64), A.data[s:e].copy()
        for code, factor in c.factors:
            i = int(economy.index_of(code)[0])
            pos = np.searchsorted(rows, i)
            if pos == len(rows) or rows[pos] != i:
                raise InvalidEconomyError(f"coefficients: product {c.product!r} has no input "
                                          f"{code!r} to scale (set it with values)")
            vals[pos] *= factor
        if c.factor is not None:
            vals = vals * c.factor
        for code, value in c.values:
            i = int(economy.index_of(code)[0])
            pos = np.searchsorted(rows, i)
            if pos < len(rows) and rows[pos] == i:
                vals[pos] = value
            else:
                rows, vals = np.insert(rows, pos, i), np.insert(vals, pos, value)
        columns[j] = (rows, vals)
    if not columns:
        return None, True
    counts = np.diff(A.indptr).astype(np.int64)
    same = True
    for j, (rows, _) in columns.items():
        s, e = A.indptr[j], A.indptr[j + 1]
        same &= len(rows) == e - s and bool(np.array_equal(rows, A.indices[s:e]))
        counts[j] = len(rows)
    if same:
        data = A.data.copy()
        for j, (_, vals) in columns.items():
            data[A.indptr[j]:A.indptr[j + 1]] = vals
        indices, indptr = A.indices, A.indptr
    else:
        nnz = int(counts.sum())
        idx = A.indices.dtype if nnz < 2**31 - 1 else np.int64
        indptr = np.zeros(len(counts) + 1, dtype=np.int64 if idx == np.int64 else
                          A.indptr.dtype)
        np.cumsum(counts, out=indptr[1:])
        indices = np.empty(nnz, dtype=idx)
        data = np.empty(nnz)
        prev = 0  # copy the unchanged columns between changed ones in one slice each
        for j in sorted(columns):
            src, dst = A.indptr[prev], indptr[prev]
            n = A.indptr[j] - src
            indices[dst:dst + n] = A.indices[src:src + n]
            data[dst:dst + n] = A.data[src:src + n]
            rows, vals = columns[j]
            indices[indptr[j]:indptr[j + 1]] = rows
            data[indptr[j]:indptr[j + 1]] = vals
            prev = j + 1
        src, dst = A.indptr[prev], indptr[prev]
        indices[dst:] = A.indices[src:]
        data[dst:] = A.data[src:]
    out = sp.csc_array(A.shape, dtype=np.float64)
    out.data, out.indices, out.indptr = data, indices, indptr
    out.has_canonical_format = True
    return out, same


def scenario(economy, changes):
    """The economy with the job's changes applied (a new :class:`~lab.Economy`).

    Returns ``(economy, same_pattern)``; the original economy itself when
    nothing changes. Codes, product and resource names are validated here: an
    unknown one raises :class:`~lab.exceptions.InvalidEconomyError`.
    """
    from lab.economy import Economy

    R = _changed_R(economy, changes)
    A, same = _changed_A(economy, changes)
    if A is None and R is None:
        return economy, True
    codes = None if getattr(economy, "_codes", None) is None else economy.codes
    new = Economy(economy.A if A is None else A, economy.R if R is None else R, codes=codes,
                  names=economy.names, resource_names=economy.resource_names)
    if same and "blocks" in economy._cache:
        # The components depend on the pattern of A only.
        new._cache["blocks"] = economy._cache["blocks"]
    return new, same


# --------------------------------------------------------------------------- state


class _EconomyState:
    def __init__(self, economy):
        self.economy = economy
        self.solvers: dict = {}
        self.last: dict = {}   # warm starts: key -> values of the previous scenario
        self.writer = _Writer(economy)

    def solver(self, options):
        from lab.values import ValueSolver

        if options not in self.solvers:
            self.solvers[options] = ValueSolver(self.economy, options)
            return self.solvers[options], "new"
        return self.solvers[options], "cached"


def _economy_state(economy, key: str) -> _EconomyState:
    cache = getattr(_LOCAL, "economies", None)
    if cache is None:
        cache = _LOCAL.economies = OrderedDict()
    state = cache.get(key)
    if state is None or state.economy is not economy:
        state = cache[key] = _EconomyState(economy)
        while len(cache) > KEEP_ECONOMIES:
            cache.popitem(last=False)
    cache.move_to_end(key)
    return state


# --------------------------------------------------------------------------- running


#: Testing only: the path of a file listing job names, one per line. When set, a
#: worker waits before each job until the file lists it (``*`` lists all), so that
#: interruption tests know exactly which jobs have finished when they strike. The
#: wait is bounded (an hour), after which the job runs.
TEST_GATE = "LAB_BATCH_TEST_GATE"


def _wait_for_gate(names) -> None:
    gate = os.environ.get(TEST_GATE)
    names = set(names)
    deadline = time.monotonic() + 3600
    while gate and time.monotonic() < deadline:
        try:
            allowed = set(Path(gate).read_text().split())
        except OSError:
            allowed = set()
        if "*" in allowed or names <= allowed:
            return
        time.sleep(0.01)


def run_chunk(tasks, economies, out: str, fmt: str, exclusive: bool = True) -> list[dict]:
    """Run ``tasks`` (``(JobSpec, economy_hash, scenario_hash, run_id)``) on one economy.

    ``economies`` maps names to economies (``None`` in a process-pool worker: the
    economies installed by :func:`init_pool_worker`). ``exclusive``: this process
    runs one job at a time, so peak memory can be measured per job. Returns one
    short summary per job; the full record is in the job's folder.
    """
    economies = _POOL if economies is None else economies
    store = OutputFolder(out)
    summaries = []
    pending = list(tasks)
    while pending:
        group = _stackable_prefix(pending)
        pending = pending[len(group):]
        _wait_for_gate(task[0].name for task in group)
        economy = economies[group[0][0].economy]
        state = _economy_state(economy, group[0][1])
        if len(group) > 1:
            summaries.extend(_run_stacked(state, group, store, fmt, exclusive))
        else:
            summaries.append(_run_one(state, group[0], store, fmt, exclusive))
    return summaries


def _stackable(job: JobSpec) -> bool:
    return (job.kind == "values" and job.time_limit is None
            and not any(isinstance(c, ChangeCoefficients) for c in job.changes)
            and (job.resources is None or isinstance(job.resources, str)
                 and job.resources != "all"))


def _stackable_prefix(tasks) -> list:
    first = tasks[0][0]
    if not _stackable(first):
        return tasks[:1]
    group = [tasks[0]]
    for task in tasks[1:STACK]:
        job = task[0]
        if not (_stackable(job) and job.economy == first.economy
                and job.options == first.options):
            break
        group.append(task)
    return group


def _record(job, econ_hash, scen_hash, run_id, **fields) -> dict:
    return {"job": job.name, "kind": job.kind, "economy": job.economy,
            "inputs": {"economy": econ_hash, "scenario": scen_hash},
            "lab_version": __version__, "worker": worker_id(), "run": run_id,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **fields}


def _failure(task, exc, seconds, store, extra=None) -> dict:
    job, econ_hash, scen_hash, run_id = task
    error = {"type": type(exc).__name__, "message": str(exc)}
    if exc.__traceback__ is not None and not isinstance(
            exc, (ValueError, TypeError, TimeLimitExceeded, ArithmeticError)):
        error["traceback"] = "".join(traceback.format_exception(exc, limit=8))
    record = _record(job, econ_hash, scen_hash, run_id, status="failed", error=error,
                     result=None, seconds=seconds, **(extra or {}))
    try:
        store.remove_stale(job.name)
        store.write_record(job.name, record)
    except (OSError, ValueError) as exc:  # e.g. the job folder leads outside OUT
        error["message"] += f" (no record written: {exc})"
    return {"name": job.name, "status": "failed", "seconds": seconds,
            "error": f"{error['type']}: {error['message']}"}


class _Writer:
    """Writes values files like :func:`lab.write_values` with the economy's names
    (``code``, ``name`` where the economy has product names, one column per row).

    With pyarrow, the codes are converted to Arrow once per economy and the file is
    written by Arrow's CSV or Parquet writer (about ten times faster than pandas
    at 10⁵ products; floats in the shortest text that reads back to the same
    double). Without pyarrow, or for codes that need CSV quoting, it falls back to
    :func:`lab.write_values`.
    """

    def __init__(self, economy):
        self.economy = economy
        self.codes = None
        self.names = None  # product names as Arrow strings, where the economy has them
        self.parquet_meta: dict = {}

    def write(self, result, path: Path, fmt: str) -> None:
        try:
            import pyarrow as pa
        except ImportError:
            self._fallback(result, path)
            return
        if self.codes is None:
            e = self.economy
            # Default codes are generated here rather than materialised on the economy,
            # so that scenario economies built from it keep cheap lazy codes.
            codes = (e.codes.tolist() if getattr(e, "_codes", None) is not None
                     else [f"P{i}" for i in range(e.n_products)])
            self.codes = pa.array(codes, type=pa.string())
            if e.names is not None:
                self.names = pa.array([str(n) for n in e.names], type=pa.string())
        values = result.values if result.values.ndim == 2 else result.values[None, :]
        columns = ["value"] if result.values.ndim == 1 else list(result.resource_names)
        if self.names is not None and "name" in columns:
            self._fallback(result, path)  # write_values refuses the clash with its message
            return
        if fmt == "csv":
            self._csv(pa, values, columns, path, result)
        else:
            self._parquet(pa, values, columns, path)

    def _fallback(self, result, path):
        from lab.io import write_values

        write_values(result, path, names=self.economy.names)

    def _csv(self, pa, values, columns, path, result):
        import csv
        import io

        import pyarrow.csv as pacsv

        header = io.StringIO()
        named = self.names is not None
        csv.writer(header, lineterminator="\n").writerow(
            ["code", *(["name"] if named else []), *columns])
        table = pa.table({"code": self.codes, **({"name": self.names} if named else {}),
                          **{f"c{q}": values[q] for q in range(len(columns))}})
        try:
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                fh.write(header.getvalue().encode())
                pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False,
                                                              quoting_style="none"))
        except pa.ArrowInvalid:  # a code with a comma, quote or newline: pandas quotes it
            self._fallback(result, path)

    def _parquet(self, pa, values, columns, path):
        import pyarrow.parquet as pq

        key = tuple(columns)
        if key not in self.parquet_meta:
            import pandas as pd

            # The pandas metadata of write_values' files, so read_parquet gives the index.
            named = {"name": ["n"]} if self.names is not None else {}
            sample = pd.DataFrame({**named, **{c: [0.0] for c in columns}},
                                  index=pd.Index([self.economy.codes_at(0)[0]], name="code"))
            self.parquet_meta[key] = pa.Table.from_pandas(sample).schema.metadata
        named = {"name": self.names} if self.names is not None else {}
        table = pa.table({**named, **{c: values[q] for q, c in enumerate(columns)},
                          "code": self.codes}).replace_schema_metadata(self.parquet_meta[key])
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)


def _write(state, store, job, result, fmt) -> tuple[str, str, float]:
    t0 = time.perf_counter()
    folder = store.job_dir(job.name)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"values.{fmt}"
    state.writer.write(result, folder / name, fmt)
    return name, file_sha256(folder / name), time.perf_counter() - t0


def _done(state, task, result, store, fmt, *, seconds, solve_seconds, setup_seconds, peak, scope,
          reuse, caught) -> dict:
    job, econ_hash, scen_hash, run_id = task
    name, digest, write_seconds = _write(state, store, job, result, fmt)
    record = _record(
        job, econ_hash, scen_hash, run_id, status="done", error=None, result=name,
        result_sha256=digest, converged=bool(result.converged), residual=result.residual,
        rtol=result.rtol, iterations=result.iterations, method=result.method,
        method_reason=result.method_reason, backend=result.backend,
        n_threads=result.n_threads, productivity=result.productivity,
        resources=list(result.resource_names), seconds=seconds + write_seconds,
        solve_seconds=solve_seconds, setup_seconds=setup_seconds,
        write_seconds=write_seconds, peak_rss_bytes=peak, peak_rss_scope=scope,
        reuse=reuse, warnings=caught)
    store.write_record(job.name, record)
    return {"name": job.name, "status": "done", "seconds": record["seconds"],
            "residual": result.residual, "iterations": result.iterations}


def _not_converged(result) -> Exception | None:
    from lab.exceptions import NotConvergedError

    bad = describe_nonfinite(result.values, result.residual)
    if bad:
        return NotConvergedError(f"the values are not a result: {bad} (overflow?); "
                                 f"the solver said: {result.message}")
    if result.converged:
        return None
    return NotConvergedError(result.message)


def _warm_start(state, solver, key, shape):
    if solver.method not in ITERATIVE:
        return None
    x0 = state.last.get(key)
    return x0 if x0 is not None and x0.shape == shape else None


def _run_one(state, task, store, fmt, exclusive) -> dict:
    job, econ_hash, *_ = task
    if job.kind in ("plan", "multiyear"):
        return _run_plan(state, task, store, fmt, exclusive)
    t0 = time.perf_counter()
    scope = "job" if exclusive and reset_peak_rss() else "process"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            base = state.economy
            rows = selected_rows(base, job.resources)
            econ, same = scenario(base, job.changes)
            reuse = {"stacked": 1}
            if econ.A is base.A:
                solver, how = state.solver(job.options)
                reuse["solver"] = how
            else:
                from lab.values import ValueSolver

                had_blocks = "blocks" in econ._cache
                solver = ValueSolver(econ, job.options)
                reuse["solver"] = "new (coefficients changed)"
                reuse["structure"] = ("reused (same sparsity pattern)" if had_blocks else
                                      "analysed" if "blocks" in econ._cache else "not needed")
            rhs = econ.R[rows]
            if job.resources is None or (isinstance(job.resources, str)
                                         and job.resources != "all"):
                rhs = rhs[0]
            key = ("values", job.options, rhs.shape)
            x0 = _warm_start(state, solver, key, rhs.shape)
            reuse["warm_start"] = x0 is not None
            callback = None
            if job.time_limit is not None:
                limit = job.time_limit

                def callback(iteration, residual):
                    if time.perf_counter() - t0 > limit:
                        raise TimeLimitExceeded(f"time limit of {limit:g} s reached at "
                                                f"iteration {iteration} (residual "
                                                f"{residual:.3e})")

            setup = time.perf_counter() - t0
            t1 = time.perf_counter()
            result = solver.solve(rhs=rhs, x0=x0, callback=callback)
            solve_seconds = time.perf_counter() - t1
            names = tuple(econ.resource_names[q] for q in rows)
            result = dataclasses.replace(result, resource_names=names)
            elapsed = time.perf_counter() - t0
            if job.time_limit is not None and elapsed > job.time_limit:
                raise TimeLimitExceeded(f"time limit of {job.time_limit:g} s exceeded: the "
                                        f"job took {elapsed:.3g} s")
            failure = _not_converged(result)
            if failure is not None:
                return _failure(task, failure, elapsed, store, {
                    "residual": result.residual, "iterations": result.iterations,
                    "method": result.method})
            state.last[key] = result.values
        return _done(state, task, result, store, fmt, seconds=time.perf_counter() - t0,
                     solve_seconds=solve_seconds, setup_seconds=setup,
                     peak=peak_rss_bytes(), scope=scope, reuse=reuse,
                     caught=[str(w.message) for w in caught])
    except Exception as exc:  # a failed job is recorded and does not stop the others
        return _failure(task, exc, time.perf_counter() - t0, store)


def _column_residuals(economy, backend, n_threads, B, V) -> np.ndarray:
    """‖b + Aᵀv − v‖∞ / ‖v‖∞ of every row pair (b, v) of B, V (shape (k, m))."""
    X = np.ascontiguousarray(V.T)
    out = np.empty_like(X)
    At = economy.A
    with _ops.thread_limit(n_threads, backend):
        _ops.kernels(backend).csr_matmat(At.indptr, At.indices, At.data, X, out)
    out += B.T
    out -= X
    res = np.abs(out).max(axis=0, initial=0.0)
    norm = np.abs(X).max(axis=0, initial=0.0)
    safe = np.where(norm > 0, norm, 1.0)
    with np.errstate(invalid="ignore"):
        ratio = np.where(norm > 0, res / safe, np.where(res > 0, np.inf, 0.0))
    # NaN compares false: without this a NaN residual would come out as 0
    ratio[~(np.isfinite(res) & np.isfinite(norm))] = np.nan
    return ratio


def _run_stacked(state, group, store, fmt, exclusive) -> list[dict]:
    """Resource-row scenarios on an unchanged A: one multi-right-hand-side solve."""
    t0 = time.perf_counter()
    scope = "stacked solve" if exclusive and reset_peak_rss() else "process"
    base = state.economy
    rows, ok = [], []
    summaries = []
    for task in group:
        job = task[0]
        try:
            q = selected_rows(base, job.resources)[0]
            R = _changed_R(base, job.changes)
            rows.append((base.R if R is None else R)[q])
            ok.append(task)
        except Exception as exc:
            summaries.append(_failure(task, exc, time.perf_counter() - t0, store))
    if not ok:
        return summaries
    k = len(ok)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            options = ok[0][0].options
            solver, how = state.solver(options)
            B = np.vstack(rows)
            key = ("stacked", options, B.shape)
            x0 = _warm_start(state, solver, key, B.shape)
            setup = time.perf_counter() - t0
            t1 = time.perf_counter()
            result = solver.solve(rhs=B, x0=x0 if x0 is None or k > 1 else x0[0])
            solve_seconds = time.perf_counter() - t1
            V = result.values.reshape(B.shape)  # one row when a single job is left
            residuals = _column_residuals(base, solver.backend, options.n_threads, B, V)
            state.last[key] = V
    except Exception as exc:
        share = (time.perf_counter() - t0) / k
        return summaries + [_failure(task, exc, share, store) for task in ok]
    share = (time.perf_counter() - t0) / k
    peak = peak_rss_bytes()
    messages = [str(w.message) for w in caught]
    for i, task in enumerate(ok):
        job = task[0]
        name = base.resource_names[selected_rows(base, job.resources)[0]]
        residual = float(residuals[i])
        converged = residual <= options.rtol
        one = dataclasses.replace(
            result, values=V[i], residual=residual, converged=converged,
            resource_names=(name,))
        failure = _not_converged(one)  # its numbers are checked too, not only its residual
        if failure is not None:
            summaries.append(_failure(task, failure, share, store, {
                "residual": residual, "iterations": result.iterations}))
            continue
        try:
            summaries.append(_done(
                state, task, one, store, fmt, seconds=share, solve_seconds=solve_seconds / k,
                setup_seconds=setup / k, peak=peak, scope=scope,
                reuse={"solver": how, "stacked": k, "warm_start": x0 is not None},
                caught=messages))
        except Exception as exc:
            summaries.append(_failure(task, exc, share, store))
    return summaries


def _plan_problem(job, econ):
    """The :class:`~lab.PlanningProblem` of a plan job: targets and limits from its changes."""
    from lab.batch._spec import SetAvailability, SetTargets
    from lab.planning import PlanningProblem

    targets, available = {}, {}
    for c in job.changes:
        if isinstance(c, SetTargets):
            targets.update(c.values)
        elif isinstance(c, SetAvailability):
            available.update(c.values)
    if not targets:
        raise JobFileError("a plan job needs targets: add a change of type 'targets'")
    weights = dict(job.weights) if isinstance(job.weights, tuple) else job.weights
    return PlanningProblem(econ, targets, available=available or None,
                           **({} if weights is None else {"weights": weights}))


def _multiyear_problem(job, econ):
    """The :class:`~lab.MultiYearProblem` of a multi-year job, read as ``lab plan --years``
    reads its options: targets and limits from the changes (every year, or the change's
    ``year``), capital, depreciation and stocks from numbers or CSV files."""
    from lab.batch._spec import SetAvailability, SetTargets
    from lab.io._plan_tables import read_code_matrix
    from lab.planning import MultiYearProblem

    T = job.years
    years = range(1, T + 1)
    targets: dict[int, dict] = {y: {} for y in years}
    available: dict[str, list] = {}
    for c in job.changes:
        chosen = years if c.year is None else (c.year,)
        if isinstance(c, SetTargets):
            for y in chosen:
                targets[y].update(c.values)
        elif isinstance(c, SetAvailability):
            for name, amount in c.values:
                row = available.setdefault(name, [np.inf] * T)
                for y in chosen:
                    row[y - 1] = amount
    if not any(targets.values()):
        raise JobFileError("a multi-year job needs targets: add a change of type 'targets'")
    codes = [str(c) for c in econ.codes]
    weights = dict(job.weights) if isinstance(job.weights, tuple) else job.weights
    terminal = job.terminal_stocks
    return MultiYearProblem(
        econ, years=T, targets={y: v for y, v in targets.items() if v},
        available=available or None,
        capital=None if job.capital is None else read_code_matrix(job.capital, "coefficient",
                                                                   codes),
        depreciation=_depreciation(job.depreciation, codes),
        initial_stocks=(None if job.initial_stocks is None
                        else read_code_matrix(job.initial_stocks, "stock", codes)),
        terminal_stocks=read_code_matrix(terminal, "stock", codes) if isinstance(terminal, str)
        else terminal,
        year_weights=None if job.year_weights is None else list(job.year_weights),
        **({} if weights is None else {"weights": weights}))


def _depreciation(value, codes):
    """A rate, or a CSV read as ``lab plan --depreciation`` reads it."""
    from lab.io._plan_tables import read_depreciation

    return value if not isinstance(value, str) else read_depreciation(value, codes)


def _certificate_fields(result) -> dict:
    """What a plan's record says about its proof (the same names as ``lab plan --json``)."""
    fields = {"plan_status": result.status.name, "converged": bool(result.converged),
              "objective": result.objective, "bound": result.bound, "gap": result.relative_gap,
              "harmony": result.harmony, "min_fulfilment": result.min_fulfilment,
              "infeasibility": result.infeasibility, "iterations": result.iterations,
              "message": result.message}
    phi = getattr(result, "phi", None)
    if phi is not None:
        fields["phi"] = [float(f) for f in phi]
    return fields


def _run_plan(state, task, store, fmt, exclusive) -> dict:
    """A plan job: the scenario economy, its targets and limits, :func:`lab.plan`.

    Jobs that leave A and R alone share the worker's economy object, so the
    planner's caches on it (e.g. V = R(I − A)⁻¹) are computed once per worker.
    Multi-year jobs write the plan (one row per year and product) and, beside it,
    ``plan.capital.<fmt>`` (investment and stocks), as ``lab plan --years -o``.
    """
    from lab.planning import plan

    job = task[0]
    multiyear = job.kind == "multiyear"
    t0 = time.perf_counter()
    scope = "job" if exclusive and reset_peak_rss() else "process"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            econ, _ = scenario(state.economy, job.changes)
            problem = (_multiyear_problem if multiyear else _plan_problem)(job, econ)
            setup = time.perf_counter() - t0
            t1 = time.perf_counter()
            result = plan(problem, options=job.options)
            solve_seconds = time.perf_counter() - t1
            elapsed = time.perf_counter() - t0
            if job.time_limit is not None and elapsed > job.time_limit:
                raise TimeLimitExceeded(f"time limit of {job.time_limit:g} s exceeded: the "
                                        f"job took {elapsed:.3g} s")
            from lab.exceptions import NotConvergedError

            numbers = (result.output, result.consumption) if multiyear else \
                (result.x, result.net_output)
            bad = describe_nonfinite(*numbers, result.prices, result.harmony)
            if bad:
                return _failure(task, NotConvergedError(
                    f"the plan is not a result: {bad} (overflow?); the planner said: "
                    f"{result.message}"), elapsed, store, {"iterations": result.iterations})
            if not result.converged and job.options.method != "cockshott":
                return _failure(task, NotConvergedError(result.message), elapsed, store, {
                    "plan_status": result.status.name, "gap": result.relative_gap,
                    "iterations": result.iterations})
        t2 = time.perf_counter()
        folder = store.job_dir(job.name)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"plan.{fmt}"
        from lab.io._plan_tables import capital_path, write_multiyear_plan, write_plan

        (write_multiyear_plan if multiyear else write_plan)(result, folder / name)
        extra = {}
        if multiyear:
            capital = capital_path(folder / name)
            extra = {"years": job.years, "capital_result": capital.name,
                     "capital_result_sha256": file_sha256(capital)}
        write_seconds = time.perf_counter() - t2
        record = _record(
            job, task[1], task[2], task[3], status="done", error=None, result=name,
            result_sha256=file_sha256(folder / name), **_certificate_fields(result),
            **extra, method=result.method, method_reason=result.method_reason,
            seconds=time.perf_counter() - t0,
            solve_seconds=solve_seconds, setup_seconds=setup, write_seconds=write_seconds,
            peak_rss_bytes=peak_rss_bytes(), peak_rss_scope=scope,
            reuse={"economy": "shared" if econ is state.economy else "scenario copy"},
            warnings=[str(w.message) for w in caught])
        store.write_record(job.name, record)
        return {"name": job.name, "status": "done", "seconds": record["seconds"],
                "residual": None, "iterations": result.iterations}
    except Exception as exc:  # a failed job is recorded and does not stop the others
        return _failure(task, exc, time.perf_counter() - t0, store)
