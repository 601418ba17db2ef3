"""Batch solve jobs: scenario sweeps that survive crashes, on a process pool or Dask.

A batch is a set of named economies and a list of jobs on them (a
:class:`BatchSpec`, usually read from a TOML job file by :func:`read_batch`;
the format is described in :mod:`lab.batch._spec`). :func:`run_batch` runs it:

* **Results that survive.** Each job writes its values (CSV or Parquet) and a
  JSON record (status, residual, iterations, time, peak memory, the hashes of
  its economy and scenario, the lab version) into ``OUT/jobs/NAME/``, both
  atomically, the record last. The records are the truth and
  ``OUT/manifest.json`` summarises them; with ``resume=True`` a job whose
  record says *done* for the same economy and scenario and whose result file
  still has the recorded sha256 is skipped, and every other job is run again.
  A job that fails (unknown code, non-productive scenario, no convergence, time
  limit) gets a *failed* record with its error; the others go on.
* **Set up once, solve many.** Each worker receives every economy once (pool
  initializer, or one Dask scatter), keeps one :class:`~lab.ValueSolver` per
  economy and options, stacks consecutive resource-row scenarios into one
  multi-right-hand-side solve, shares the components of A with scenarios that
  keep its sparsity pattern, and warm-starts iterative methods from the
  previous scenario (see :mod:`lab.batch._worker`).
* **Executors.** ``workers=1``: in this process. Otherwise a local process pool
  (``spawn``), or Dask: ``scheduler="tcp://host:8786"``, ``dask_local=True``
  for a :class:`distributed.LocalCluster`, or ``client=`` an existing client.
  All of them run :func:`lab.batch._worker.run_chunk` on chunks of jobs.

Plan jobs (``kind = "plan"``) take their targets and resource limits from
``targets`` and ``availability`` changes, their options from
:class:`lab.PlanOptions`, and write the plan with the planner's own writer
(``plan.csv``); records, resume and executors are shared with value jobs.
Multi-year plan jobs (``kind = "multiyear"``) take the options of ``lab plan
--years`` under the same names (``years``, ``capital``, ``depreciation``,
``initial_stocks``, ``terminal_stocks``, ``year_weights``) and write ``plan.csv``
with ``plan.capital.csv`` beside it. A plan's record holds its certificate:
``plan_status`` (``"OPTIMAL"``, as ``lab plan --json`` says it), ``converged``,
``objective``, ``bound``, ``gap``, ``iterations`` and, for several years, ``phi``.

Process pools start workers with ``spawn``: a script that calls
:func:`run_batch` with several workers needs the usual
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import numbers
import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lab._version import __version__
from lab.batch._spec import (
    BatchSpec,
    JobFileError,
    _sha256_of,
    read_batch,
)
from lab.batch._store import MANIFEST, RECORD, WORK, OutputFolder
from lab.batch._worker import STACK, clear_state, init_pool_worker, run_chunk
from lab.exceptions import InvalidTypeError

__all__ = ["BatchInterrupted", "BatchProgress", "BatchSummary", "JobOutcome", "economy_digest",
           "run_batch"]


@dataclass(frozen=True)
class JobOutcome:
    """What happened to one job in a :func:`run_batch` call.

    ``status`` is ``"done"``, ``"failed"``, ``"skipped"`` (finished by an earlier
    run, ``resume=True``) or ``"not run"`` (the batch was interrupted first).
    ``seconds`` is the job's share of the worker's time; the full record is in
    ``OUT/jobs/NAME/record.json``.
    """

    name: str
    status: str
    seconds: float | None = None
    residual: float | None = None
    iterations: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class BatchProgress:
    """Passed to the ``progress`` callback of :func:`run_batch` after every chunk."""

    total: int
    done: int
    failed: int
    skipped: int
    elapsed: float
    eta: float | None

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.skipped


@dataclass(frozen=True)
class BatchSummary:
    """The outcome of :func:`run_batch`.

    Attributes
    ----------
    out : Path
        The output folder.
    jobs : tuple of JobOutcome
        In the order of the spec.
    executor : str
        ``"inline"``, ``"process pool"`` or ``"dask"``.
    workers : int
    seconds : float
        Wall time of the call.
    interrupted : bool
    """

    out: Path
    jobs: tuple
    executor: str
    workers: int
    seconds: float
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for j in self.jobs if j.status == status)

    @property
    def n_done(self) -> int:
        return self.count("done")

    @property
    def n_failed(self) -> int:
        return self.count("failed")

    @property
    def n_skipped(self) -> int:
        return self.count("skipped")

    @property
    def ok(self) -> bool:
        """Every job is done (now or by an earlier run)."""
        return all(j.status in ("done", "skipped") for j in self.jobs)

    @property
    def jobs_per_second(self) -> float:
        """Jobs run (done or failed) by this call per second of wall time."""
        ran = self.n_done + self.n_failed
        return ran / self.seconds if self.seconds > 0 else math.inf

    def __getitem__(self, name: str) -> JobOutcome:
        for job in self.jobs:
            if job.name == name:
                return job
        raise KeyError(name)

    def to_frame(self):
        """One row per job, in the order of the spec, indexed by job name: ``status``,
        ``seconds``, ``residual``, ``iterations``, ``error`` (a pandas DataFrame; the
        full records are in ``OUT/jobs/NAME/record.json``).

        Examples
        --------
        >>> import lab, tempfile
        >>> spec = lab.BatchSpec({"e": lab.generate_economy(50, seed=1)},
        ...                      [lab.JobSpec("base", "e")])
        >>> with tempfile.TemporaryDirectory() as out:
        ...     frame = lab.run_batch(spec, out=out, workers=1).to_frame()
        >>> frame.loc["base", "status"]
        'done'
        """
        import pandas as pd

        columns = [f.name for f in dataclasses.fields(JobOutcome)]
        frame = pd.DataFrame([dataclasses.astuple(j) for j in self.jobs], columns=columns)
        for name in ("seconds", "residual"):
            frame[name] = frame[name].astype(float)
        frame["iterations"] = frame["iterations"].astype("Int64")
        return frame.set_index("name")

    def table(self, limit: int = 40) -> str:
        """A plain-text summary table (at most ``limit`` job rows; failures first)."""
        rows = sorted(self.jobs, key=lambda j: j.status != "failed")
        width = max([4, *(len(j.name) for j in rows[:limit])])
        lines = [f"{'job':<{width}}  {'status':<8}{'residual':>10}{'iter':>6}{'seconds':>9}"
                 "  error"]
        for j in rows[:limit]:
            res = f"{j.residual:.1e}" if j.residual is not None else "-"
            it = str(j.iterations) if j.iterations is not None else "-"
            sec = f"{j.seconds:.3f}" if j.seconds is not None else "-"
            err = (j.error or "")[:100]
            lines.append(f"{j.name:<{width}}  {j.status:<8}{res:>10}{it:>6}{sec:>9}  {err}"
                         .rstrip())
        if len(rows) > limit:
            lines.append(f"... {len(rows) - limit} more jobs: see {self.out / MANIFEST}")
        lines.append(f"{self.n_done} done, {self.n_failed} failed, {self.n_skipped} skipped "
                     f"(finished earlier), {self.count('not run')} not run; "
                     f"{self.seconds:.1f} s on {self.executor} with {self.workers} "
                     f"worker(s), {self.jobs_per_second:.2f} jobs/s")
        return "\n".join(lines)


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped :func:`run_batch`; :attr:`summary` says what was finished."""

    def __init__(self, summary: BatchSummary):
        super().__init__("batch interrupted")
        self.summary = summary


def economy_digest(economy) -> str:
    """sha256 of an economy's A, R, codes and resource names (recorded by every job).

    Examples
    --------
    >>> import lab
    >>> economy_digest(lab.generate_economy(50, seed=1)) == economy_digest(
    ...     lab.generate_economy(50, seed=1))
    True
    """
    h = hashlib.sha256()
    A = economy.A
    for a in (A.indptr, A.indices, A.data, economy.R):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    if getattr(economy, "_codes", None) is None:
        h.update(f"default codes of {economy.n_products}".encode())
    else:
        h.update("\x00".join(economy.codes).encode())
    h.update("\x00".join(economy.resource_names).encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- executors


class _Inline:
    name = "inline"

    def __init__(self, economies):
        self.economies = economies

    def results(self, chunks, out, fmt):
        for chunk in chunks:
            yield chunk, run_chunk(chunk, self.economies, out, fmt, True)

    def close(self, cancel: bool):
        clear_state()


@contextlib.contextmanager
def _sigint_blocked():
    """Hold SIGINT back meanwhile, then raise the KeyboardInterrupt it meant.

    It is blocked in this thread, and the processes and threads started meanwhile
    inherit the block (the pool workers ignore SIGINT in their initializer, then
    unblock it); a SIGINT that another thread receives is only recorded by the handler
    installed here, so no KeyboardInterrupt can cut a worker's start in half (its
    preparation data half sent). Either way it is raised as soon as the block ends:
    never lost. Main thread, POSIX only; elsewhere a plain context.
    """
    if not (hasattr(signal, "pthread_sigmask") and
            threading.current_thread() is threading.main_thread()):
        yield
        return
    caught = []
    handler = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a pending SIGINT arrives now
        signal.signal(signal.SIGINT, handler)
        if caught:
            raise KeyboardInterrupt


class _ProcessPool:
    name = "process pool"

    def __init__(self, economies, workers: int, threads: int | None, folder: Path):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from lab.io import write_economy

        # Each worker reads every economy once, from lab's own .npz (no pickle), so
        # that starting a worker sends only a few bytes down its pipe.
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        paths = {name: str(write_economy(e, folder / f"{name}.npz", format="npz"))
                 for name, e in economies.items()}
        self.pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=init_pool_worker, initargs=(paths, threads))

    def results(self, chunks, out, fmt):
        from concurrent.futures import as_completed

        # Workers start (spawn) at the first submissions. SIGINT is *blocked* meanwhile,
        # not ignored: the workers inherit the blocked mask, so one still starting
        # never prints a KeyboardInterrupt traceback (its initializer ignores SIGINT,
        # then unblocks it), and a Ctrl-C that comes now stays pending in this process
        # and is raised as soon as the submissions are done: it is never lost.
        with _sigint_blocked():
            futures = {self.pool.submit(run_chunk, chunk, None, out, fmt, True): chunk
                       for chunk in chunks}
        for future in as_completed(futures):
            try:
                yield futures[future], future.result()
            except Exception as exc:  # a worker died (killed, out of memory)
                yield futures[future], exc

    def close(self, cancel: bool):
        if not cancel:
            self.pool.shutdown(wait=True)
        else:
            # Workers ignore SIGINT: stop them now, not after their chunk, and before the
            # pool closes their queues (one still starting would report the closed pipe).
            processes = list((getattr(self.pool, "_processes", None) or {}).values())
            for p in processes:
                p.terminate()
            for p in processes:
                p.join(5)
            self.pool.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self.folder, ignore_errors=True)


class _Dask:
    name = "dask"

    def __init__(self, economies, workers, scheduler, dask_local, client):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise JobFileError("Dask is not installed: pip install 'lab[dask]' "
                               "(dask[distributed])") from None
        self.own_client = client is None
        self.cluster = None
        if client is not None:
            self.client = client
        elif scheduler is not None:
            try:
                self.client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise OSError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        else:
            self.cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1,
                                        threads_per_worker=1, processes=True,
                                        dashboard_address=None)
            self.client = Client(self.cluster)
        self.workers = len(self.client.scheduler_info().get("workers", {})) or 1
        # Every economy goes to every worker once; tasks refer to it by its future.
        self.scattered = {name: self.client.scatter(e, broadcast=True, hash=False)
                          for name, e in economies.items()}
        self.futures = []

    def results(self, chunks, out, fmt):
        from distributed import as_completed

        chunk_of = {}
        for chunk in chunks:
            f = self.client.submit(run_chunk, chunk, self.scattered, out, fmt, False, pure=False)
            chunk_of[f.key] = chunk
            self.futures.append(f)
        for future in as_completed(self.futures):
            try:
                yield chunk_of[future.key], future.result()
            except Exception as exc:  # KilledWorker, a lost connection
                yield chunk_of[future.key], exc

    def close(self, cancel: bool):
        if cancel and self.futures:
            self.client.cancel(self.futures)
        self.client.cancel(list(self.scattered.values()))
        if self.own_client:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()


# --------------------------------------------------------------------------- run_batch


def _chunks(tasks, workers: int, chunk_size: int | None) -> list[list]:
    """Chunks of jobs on one economy; resource-row scenarios first, so they stack."""
    from lab.batch._worker import _stackable

    by_economy: dict[str, list] = {}
    for task in tasks:
        by_economy.setdefault(task[0].economy, []).append(task)
    chunks = []
    for group in by_economy.values():
        group.sort(key=lambda t: not _stackable(t[0]))
        # Small enough to balance the workers and show progress, large enough to stack.
        floor = min(STACK, math.ceil(len(group) / workers))
        size = chunk_size or max(floor, min(2 * STACK, math.ceil(len(group) / (4 * workers))))
        chunks.extend(group[i:i + size] for i in range(0, len(group), size))
    return chunks


def run_batch(spec, *, out=None, workers: int | None = None, resume: bool = False,
              scheduler: str | None = None, dask_local: bool = False, client=None,
              progress: Callable[[BatchProgress], None] | None = None,
              chunk_size: int | None = None) -> BatchSummary:
    """Run every job of a batch; return a :class:`BatchSummary`.

    Parameters
    ----------
    spec : BatchSpec, or str or Path of a TOML job file
    out : str or Path, optional
        Output folder; default the job file's ``[batch] out``. A folder holding an
        earlier batch is refused unless ``resume`` is true.
    workers : int, optional
        ``1`` runs in this process; more use a process pool (or that many
        ``LocalCluster`` workers with ``dask_local``). Default: the number of CPUs.
    resume : bool, default False
        Skip the jobs an earlier run finished for the same economy and scenario;
        run the unfinished and failed ones.
    scheduler : str, optional
        Address of a Dask scheduler (``"tcp://host:8786"``). The output folder
        must be reachable from every worker under the same path.
    dask_local : bool, default False
        Start a :class:`distributed.LocalCluster` of ``workers`` processes.
    client : distributed.Client, optional
        Use this Dask client (it is not closed).
    progress : callable, optional
        Called with a :class:`BatchProgress` after every finished chunk of jobs.
    chunk_size : int, optional
        Jobs per task sent to a worker (default: about a quarter of each
        worker's share, at most 32).

    Returns
    -------
    BatchSummary

    Raises
    ------
    JobFileError
        A malformed job file, or an output folder of an earlier batch without ``resume``.
    BatchInterrupted
        On Ctrl-C, after stopping the workers and writing the manifest; finished
        jobs stay finished, and ``resume=True`` continues the batch.

    Examples
    --------
    >>> import tempfile, lab
    >>> from lab.batch import BatchSpec, JobSpec, ScaleResource, run_batch
    >>> spec = BatchSpec({"e": lab.generate_economy(200, seed=1)},
    ...                  [JobSpec("base", "e"),
    ...                   JobSpec("less-labour", "e", changes=[ScaleResource("labour", 0.5)]),
    ...                   JobSpec("bad", "e", changes=[ScaleResource("labour", 2, ["nope"])])])
    >>> summary = run_batch(spec, out=tempfile.mkdtemp(), workers=1)
    >>> [(j.name, j.status) for j in summary.jobs]
    [('base', 'done'), ('less-labour', 'done'), ('bad', 'failed')]
    >>> summary["bad"].error
    "UnknownCodeError: unknown product code(s): 'nope'"
    """
    t_start = time.perf_counter()
    if not isinstance(spec, BatchSpec):
        spec = read_batch(spec)
    if out is None:
        if spec.out is None:
            raise JobFileError(spec.out_refused or
                               "no output folder: pass out= (--out) or set [batch] out")
        out = spec.out
    _refuse_inputs_in_output(spec, Path(out))
    if (scheduler is not None or client is not None) and dask_local:
        raise JobFileError("give either scheduler/client or dask_local, not both")
    for name, value in (("workers", workers), ("chunk_size", chunk_size)):
        if value is not None and (isinstance(value, bool) or
                                  not isinstance(value, numbers.Integral)):
            raise InvalidTypeError(f"{name} must be a positive int or None, got {value!r}")
        if value is not None and value < 1:
            raise JobFileError(f"{name} must be a positive int or None, got {value!r}")
    workers = None if workers is None else int(workers)
    chunk_size = None if chunk_size is None else int(chunk_size)
    use_dask = scheduler is not None or client is not None or dask_local
    n_workers = workers or os.cpu_count() or 1
    store = OutputFolder(out)
    store.prepare(resume=resume)
    run_id = uuid.uuid4().hex

    # Economies: loaded once here, then sent once to every worker.
    needed = {job.economy for job in spec.jobs}
    economies, digests, load_errors, described = {}, {}, {}, {}
    for name, source in spec.economies.items():
        if name not in needed:
            continue
        described[name] = source.describe()
        try:
            economies[name] = source.load()
            digests[name] = economy_digest(economies[name])
            described[name].update(products=economies[name].n_products,
                                   nnz=economies[name].nnz, sha256=digests[name])
        except Exception as exc:  # recorded as the failure of every job on it
            load_errors[name] = exc
            digests[name] = "not loaded"

    outcomes: dict[str, JobOutcome] = {}
    states: dict[str, dict] = {}
    tasks = []
    _sha256_of.cache_clear()  # input files are hashed afresh by every run
    for job in spec.jobs:
        scen = job.digest()
        states[job.name] = {"status": "pending", "economy": job.economy, "scenario": scen,
                            "record": f"jobs/{job.name}/{RECORD}"}
        task = (job, digests[job.economy], scen, run_id)
        try:
            store.job_dir(job.name)
        except ValueError as exc:  # its folder would lead outside OUT: nothing is written
            outcomes[job.name] = JobOutcome(job.name, "failed", 0.0, error=str(exc))
            states[job.name]["status"] = "failed"
            continue
        if resume and job.economy not in load_errors:
            record = store.finished(job.name, digests[job.economy], scen)
            if record is not None:
                outcomes[job.name] = JobOutcome(job.name, "skipped", record.get("seconds"),
                                                record.get("residual"),
                                                record.get("iterations"))
                states[job.name]["status"] = "done"
                continue
        if job.economy in load_errors:
            from lab.batch._worker import _failure

            exc = load_errors[job.economy]
            s = _failure(task, exc, 0.0, store)
            outcomes[job.name] = JobOutcome(job.name, "failed", 0.0, error=s["error"])
            states[job.name]["status"] = "failed"
            continue
        store.remove_stale(job.name)
        tasks.append(task)

    info = {"lab_version": __version__, "job_file": spec.source, "run": run_id,
            "format": spec.format, "economies": described}
    total = len(spec.jobs)
    skipped = sum(1 for o in outcomes.values() if o.status == "skipped")

    def report(force=False):
        nonlocal last_manifest
        now = time.perf_counter()
        if force or now - last_manifest > 1.0:
            store.write_manifest(info, states)
            last_manifest = now
        if progress is not None:
            done = sum(1 for o in outcomes.values() if o.status == "done")
            failed = sum(1 for o in outcomes.values() if o.status == "failed")
            ran = done + failed - failed_before
            elapsed = now - t_start
            left = total - len(outcomes)
            eta = elapsed / ran * left if ran else None
            progress(BatchProgress(total, done, failed, skipped, elapsed, eta))

    last_manifest = time.perf_counter()
    failed_before = sum(1 for o in outcomes.values() if o.status == "failed")
    executor = None
    interrupted = False
    try:
        # inside the try: a Ctrl-C right after the first manifest is an interruption
        # like any other (before, one landing between the two escaped as a bare
        # KeyboardInterrupt)
        store.write_manifest(info, states)
        if tasks:
            if use_dask:
                executor = _Dask(economies, workers, scheduler, dask_local, client)
                n_workers = executor.workers
            elif n_workers == 1 or len(tasks) == 1:
                n_workers = 1
                executor = _Inline(economies)
            else:
                threads = max(1, (os.cpu_count() or 1) // n_workers)
                executor = _ProcessPool(economies, n_workers, threads, store.root / WORK)
            report()
            for chunk, result in executor.results(_chunks(tasks, n_workers, chunk_size),
                                                  str(out), spec.format):
                if isinstance(result, BaseException):
                    result = _lost(chunk, result, store)
                for s in result:
                    outcomes[s["name"]] = JobOutcome(
                        s["name"], s["status"], s.get("seconds"), s.get("residual"),
                        s.get("iterations"), s.get("error"))
                    states[s["name"]]["status"] = s["status"]
                report()
            executor.close(cancel=False)
    except KeyboardInterrupt:
        interrupted = True
        if executor is not None:
            executor.close(cancel=True)
        shutil.rmtree(store.root / WORK, ignore_errors=True)  # interrupted while written
        store.remove_temporary()
    finally:
        # Jobs of chunks that had not come back: their records (the truth) decide.
        for job in spec.jobs:
            if job.name in outcomes:
                continue
            state = states[job.name]
            rec = store.read_record(job.name)
            if rec is not None and rec.get("run") == run_id and rec.get("status") == "failed":
                outcomes[job.name] = JobOutcome(job.name, "failed", rec.get("seconds"),
                                                error=str(rec.get("error")))
            elif (rec is not None and rec.get("run") == run_id and store.finished(
                    job.name, digests[job.economy], state["scenario"]) is not None):
                outcomes[job.name] = JobOutcome(job.name, "done", rec.get("seconds"),
                                                rec.get("residual"), rec.get("iterations"))
            else:
                outcomes[job.name] = JobOutcome(job.name, "not run")
                continue
            state["status"] = outcomes[job.name].status
        store.write_manifest(info, states)
    summary = BatchSummary(
        out=Path(out), jobs=tuple(outcomes[j.name] for j in spec.jobs),
        executor=executor.name if executor is not None else "none", workers=n_workers,
        seconds=time.perf_counter() - t_start, interrupted=interrupted)
    if interrupted:
        raise BatchInterrupted(summary)
    return summary


def _refuse_inputs_in_output(spec, out: Path) -> None:
    """Outputs never replace inputs: the job file and the economies' files must not be
    where the batch writes (``OUT/manifest.json``, ``OUT/jobs``, ``OUT/.work``)."""
    from lab.io._formats import input_files

    inputs = [] if spec.source is None or spec.source.startswith("<") else \
        [Path(spec.source)]
    for source in spec.economies.values():
        if source.path is not None:
            inputs += input_files(source.path)
    inputs += [Path(f) for job in spec.jobs for f in job.files().values()]
    written = [out / MANIFEST, out / "jobs", out / WORK]
    for inp in inputs:
        real = inp.resolve()
        for place in written:
            target = place.resolve()
            if real == target or target in real.parents:
                raise JobFileError(f"the output folder {out} would overwrite the input {inp} "
                                   f"(the batch writes {place}); choose another output folder")


def _lost(chunk, exc, store) -> list[dict]:
    """A chunk whose worker died: jobs with a finished record count, the others fail."""
    from lab.batch._worker import _failure

    out = []
    for task in chunk:
        job, econ_hash, scen_hash, _ = task
        record = store.finished(job.name, econ_hash, scen_hash)
        if record is not None and record.get("run") == task[3]:
            out.append({"name": job.name, "status": "done", "seconds": record.get("seconds"),
                        "residual": record.get("residual"),
                        "iterations": record.get("iterations")})
        else:
            out.append(_failure(task, RuntimeError(f"the worker running this job was lost: "
                                                   f"{type(exc).__name__}: {exc}"), None, store))
    return out


