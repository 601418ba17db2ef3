"""Backend layer: the one place that chooses between the Cython and Numba kernels.

Public modules call :func:`resolve_backend` once per call (``backend="auto"`` by
default), fetch the kernel module with :func:`kernels` and run under
:func:`thread_limit`::

    name = resolve_backend(backend)
    k = kernels(name)
    with thread_limit(n_threads, name):
        res, vmax = k.jacobi_step(A.indptr, A.indices, A.data, l, v, v_new)

Both kernel modules expose the same functions (see ``lab._kernels._cy``). Importing
this module is cheap: Numba is imported only when the Numba backend is first used.

Threads
-------
Both backends run on one threading runtime: the Cython kernels on OpenMP (libgomp), and
the Numba kernels on Numba's ``omp`` threading layer, which loads the same libgomp (it
is preferred here over TBB and the workqueue; ``NUMBA_THREADING_LAYER`` overrides). So a
solver that alternates kernels of both backends never has two thread pools fighting.

NumPy's BLAS (OpenBLAS, or MKL) is a third pool: after a threaded call its threads spin
for a while, and lab's solvers make small BLAS calls between kernels (a dot product, the
resource prices times R). Spinning on the core an OpenMP thread needs, they took the
2-thread BiCGSTAB at 10⁵ products back to the 1-thread time (its products 1.6 ms instead
of 0.95 ms; 0.95 ms with ``OPENBLAS_NUM_THREADS=1``). So :func:`thread_limit`, which
every solve runs under, also holds BLAS at one thread (threadpoolctl) for its body.

OpenMP threads that spin while they wait (libgomp's default) take the core from the
thread they wait for whenever another process is busy on the machine: a barrier then
lasts a scheduler time slice instead of microseconds (measured: 2 threads 3.7× slower
than 1 beside two busy processes). This module therefore sets ``OMP_WAIT_POLICY=PASSIVE``
before libgomp is loaded, unless the environment already sets ``OMP_WAIT_POLICY`` or
``GOMP_SPINCOUNT`` (the setting applies to every OpenMP library of the process). The
kernels hand out small chunks of work dynamically, so a descheduled thread holds up at
most one chunk, and :class:`ThreadGovernor` lets an iterative solver drop to one thread
when that measurably runs faster.

Beside other busy processes a second thread seldom pays: its barriers wait for a thread
the scheduler has parked, and timing each count (the governor's probes) is at the
mercy of the same scheduler, so the governor sometimes chose the slower count (a warm
10⁶ ``blocks`` solve 0.83–0.87× as fast on 2 threads as on 1 beside a busy process,
plans at 10⁵ 0.91–0.98×). Where lab chooses the count (``n_threads=None``) it therefore
also measures how many cores other processes keep busy (:func:`cores_taken`, from the
CPU time of the machine and of this process over the last tenth of a second) and uses
no more threads than cores are left: the count a machine's load allows, as GNU OpenMP's
``OMP_DYNAMIC`` does from the load average, but measured over a fraction of a second
instead of a minute. ``n_threads=k`` still forces k.

Environment
-----------
LAB_BACKEND : optional, ``"cython"`` or ``"numba"``; the backend ``"auto"`` resolves to.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import numbers
import os
import sys
import time
import warnings

import numpy as np

from lab.exceptions import BackendWarning

__all__ = [
    "BACKENDS",
    "ThreadGovernor",
    "available_backends",
    "cores_taken",
    "csr_arrays",
    "kernels",
    "resolve_backend",
    "thread_limit",
    "threads_free",
]

BACKENDS = ("cython", "numba")

_MODULES = {"cython": "lab._kernels._cy", "numba": "lab._kernels.numba_kernels"}

if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    # Read by libgomp once, when it is loaded: see "Threads" above.
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
_cython_state: dict[str, object] = {}  # "module" or "error", filled on first probe
_warned = False


def _cython_module():
    """The compiled extension, or None if it does not import (result is cached)."""
    if "module" not in _cython_state and "error" not in _cython_state:
        try:
            _cython_state["module"] = importlib.import_module(_MODULES["cython"])
        except ImportError as exc:
            _cython_state["error"] = exc
    return _cython_state.get("module")


def _numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None


def available_backends() -> tuple[str, ...]:
    """Backends usable in this installation, in order of preference."""
    found = []
    if _cython_module() is not None:
        found.append("cython")
    if _numba_installed():
        found.append("numba")
    return tuple(found)


def _fallback_to_numba(reason: str) -> str:
    global _warned
    if not _numba_installed():
        raise ImportError(
            f"lab has no usable kernel backend: {reason}, and Numba is not installed. "
            "Install numba or reinstall lab with a C compiler available."
        )
    if not _warned:
        _warned = True
        warnings.warn(
            f"lab's compiled (Cython) kernels are missing ({reason}); the Numba kernels "
            "are used instead, which compile on first use. Reinstall lab with a C "
            "compiler (and OpenMP) available to get the compiled kernels.",
            BackendWarning,
            stacklevel=3,
        )
    return "numba"


def resolve_backend(backend: str = "auto") -> str:
    """Resolve a backend name to ``"cython"`` or ``"numba"``.

    Parameters
    ----------
    backend : {"auto", "cython", "numba"}
        ``"auto"`` gives the ``LAB_BACKEND`` environment variable if set, else
        ``"cython"`` if the compiled extension imports, else ``"numba"`` with one
        :class:`~lab.exceptions.BackendWarning` per process.

    Raises
    ------
    ValueError
        ``backend`` is not a known name, or is ``"cython"`` and the extension is
        missing, or ``LAB_BACKEND`` holds an unknown name.
    """
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string, got {type(backend).__name__}")
    name = backend.strip().lower()
    valid = ("auto", *BACKENDS)
    if name not in valid:
        raise ValueError(f"backend must be one of {valid}, got {backend!r}")
    if name == "auto":
        env = os.environ.get("LAB_BACKEND", "").strip().lower()
        if env and env != "auto":
            if env not in BACKENDS:
                raise ValueError(
                    f"environment variable LAB_BACKEND must be one of {valid}, got {env!r}"
                )
            name = env
            if name == "cython" and _cython_module() is None:
                return _fallback_to_numba(f"LAB_BACKEND=cython but {_cython_state['error']}")
            if name == "numba" and not _numba_installed():
                raise ValueError("LAB_BACKEND=numba but Numba is not installed")
            return name
        if _cython_module() is not None:
            return "cython"
        return _fallback_to_numba(str(_cython_state.get("error")))
    if name == "cython" and _cython_module() is None:
        raise ValueError(
            "backend='cython' was requested but the compiled kernels are not available "
            f"({_cython_state.get('error')}); reinstall lab with a C compiler, or use "
            "backend='auto' or backend='numba'"
        )
    if name == "numba" and not _numba_installed():
        raise ValueError("backend='numba' was requested but Numba is not installed")
    return name


def kernels(backend: str):
    """The kernel module of a resolved backend name (``"cython"`` or ``"numba"``)."""
    if backend == "cython":
        module = _cython_module()
        if module is None:
            raise ValueError(
                f"backend='cython' is not available ({_cython_state.get('error')}); "
                "call resolve_backend first"
            )
        return module
    if backend == "numba":
        _prefer_omp_layer()
        return importlib.import_module(_MODULES["numba"])
    raise ValueError(f"backend must be one of {BACKENDS} (resolved), got {backend!r}")


def _prefer_omp_layer() -> None:
    """Numba's threads on the OpenMP runtime the Cython kernels use (before Numba starts
    its threads; an explicit ``NUMBA_THREADING_LAYER`` is kept)."""
    if "NUMBA_THREADING_LAYER" in os.environ:
        return
    import numba

    layers = list(getattr(numba.config, "THREADING_LAYER_PRIORITY", ()))
    if "omp" in layers and layers[0] != "omp":
        numba.config.THREADING_LAYER_PRIORITY = ["omp"] + [x for x in layers if x != "omp"]


def _check_n_threads(n_threads) -> int:
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(
            f"n_threads must be a positive integer or None, got {type(n_threads).__name__}"
        )
    n = int(n_threads)
    if n < 1:
        raise ValueError(f"n_threads must be a positive integer or None, got {n}")
    return n


_BLAS = None  # threadpoolctl's controller of the process's BLAS libraries (first use)


def _blas():
    global _BLAS
    if _BLAS is None:
        import scipy.linalg  # noqa: F401  (loads SciPy's own BLAS, so it is seen too)
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController().select(user_api="blas")
    return _BLAS


# --------------------------------------------------------------------------- load

#: Seconds between two measurements of the machine's load (each reads /proc/stat and
#: this process's CPU time, about 30 µs); in between the last answer stands.
LOAD_SAMPLE_S = 0.1
#: A measurement over a longer time than this says little about now; the tasks running
#: at this instant (/proc/loadavg) stand in for it.
LOAD_STALE_S = 2.0


def _busy_ticks(stat: bytes, names) -> int:
    """Clock ticks the CPUs ``names`` (b"cpu0", …) of a /proc/stat text have been busy:
    user, nice, system, irq, softirq and steal (time a hypervisor gave to others)."""
    ticks = 0
    for line in stat.split(b"\n"):
        fields = line.split()
        if fields and fields[0] in names:
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
            ticks += user + nice + system + irq + softirq + steal
    return ticks


class _Load:
    """How many cores other processes keep busy: the CPU time of the cores this process
    may run on, less this process's own, per second of wall time between two readings."""

    def __init__(self):
        try:
            cpus = sorted(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cpus = list(range(os.cpu_count() or 1))
        self.cores = len(cpus)
        self._names = {b"cpu%d" % c for c in cpus}
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last = None  # (monotonic s, busy CPU s of our cores, this process's CPU s)
        self.taken = 0.0

    def _busy_seconds(self) -> float | None:
        """CPU seconds our cores have run anything since boot, or None without /proc."""
        try:
            with open("/proc/stat", "rb") as f:
                return _busy_ticks(f.read(), self._names) / self._tick
        except (OSError, ValueError):
            return None

    @staticmethod
    def _running_now() -> float:
        """Other tasks running at this instant (/proc/loadavg counts this thread too)."""
        try:
            with open("/proc/loadavg", "rb") as f:
                running = int(f.read().split()[3].split(b"/")[0])
        except (OSError, ValueError, IndexError):
            return 0.0
        return float(max(running - 1, 0))

    def cores_taken(self) -> float:
        now = time.monotonic()
        last = self._last
        if last is not None and now - last[0] < LOAD_SAMPLE_S:
            return self.taken
        busy = self._busy_seconds()
        if busy is None:
            return 0.0  # not measurable here: assume the machine is ours
        own = time.process_time()
        if last is not None and now - last[0] <= LOAD_STALE_S:
            others = (busy - last[1]) - (own - last[2])
            self.taken = max(others / (now - last[0]), 0.0)
        else:
            self.taken = self._running_now()
        self._last = (now, busy, own)
        return self.taken


_LOAD = _Load() if sys.platform.startswith("linux") else None


def cores_taken() -> float:
    """Cores that other processes kept busy over about the last tenth of a second (0 where
    the operating system does not tell: only Linux's /proc is read)."""
    return 0.0 if _LOAD is None else _LOAD.cores_taken()


def threads_free(top: int) -> int:
    """The thread count, at most ``top`` and at least 1, that the cores left by other
    processes allow (a core counts as taken from half its time busy)."""
    if _LOAD is None or top <= 1:
        return max(top, 1)
    return max(1, min(top, _LOAD.cores - int(_LOAD.cores_taken() + 0.5)))


@contextlib.contextmanager
def thread_limit(n_threads: int | None, backend: str, *, yield_to_load: bool = False):
    """Run the body with ``n_threads`` kernel threads for ``backend``, and BLAS on one
    thread (see "Threads" above); restore both afterwards.

    ``n_threads=None`` leaves the kernels' thread count as it is, or with
    ``yield_to_load`` lowers it to what the cores other processes leave free allow
    (:func:`threads_free`, measured once on entry: for solvers without a
    :class:`ThreadGovernor`). For Numba the count is capped at
    ``numba.config.NUMBA_NUM_THREADS`` (Numba cannot start more threads than that). The
    previous counts are restored in ``finally``, also when the body raises.
    """
    with _blas().limit(limits=1):
        with _kernel_threads(n_threads, backend, yield_to_load):
            yield


@contextlib.contextmanager
def _kernel_threads(n_threads, backend, yield_to_load=False):
    if n_threads is None and not yield_to_load:
        yield
        return
    resolved = resolve_backend(backend)
    module = kernels(resolved)
    if n_threads is None:
        n = threads_free(int(module.get_num_threads()))
    else:
        n = _check_n_threads(n_threads)
    if resolved == "numba":
        import numba

        n = min(n, numba.config.NUMBA_NUM_THREADS)
    previous = module.get_num_threads()
    module.set_num_threads(n)
    try:
        yield
    finally:
        module.set_num_threads(previous)


def csr_arrays(matrix, *, index_dtype=None):
    """Raw ``(indptr, indices, data)`` of a scipy CSR matrix, ready for the kernels.

    ``indptr`` and ``indices`` get one common dtype (int32 if both fit and
    ``index_dtype`` is None, else int64, or ``index_dtype``); ``data`` stays float32
    or becomes float64. Arrays are C-contiguous; copies are made only if needed.
    """
    indptr = np.asarray(matrix.indptr)
    indices = np.asarray(matrix.indices)
    data = np.asarray(matrix.data)
    if index_dtype is None:
        index_dtype = np.result_type(indptr.dtype, indices.dtype)
        if index_dtype not in (np.dtype(np.int32), np.dtype(np.int64)):
            index_dtype = np.int64
    index_dtype = np.dtype(index_dtype)
    if index_dtype not in (np.dtype(np.int32), np.dtype(np.int64)):
        raise ValueError(f"index_dtype must be int32 or int64, got {index_dtype}")
    if index_dtype == np.int32 and indptr.size and indptr[-1] > np.iinfo(np.int32).max:
        raise ValueError("the matrix has too many non-zeros for int32 indices")
    if data.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        data = data.astype(np.float64)
    return (
        np.ascontiguousarray(indptr, dtype=index_dtype),
        np.ascontiguousarray(indices, dtype=index_dtype),
        np.ascontiguousarray(data),
    )


class ThreadGovernor:
    """The thread count of each step of an iterative solver, from measured step times.

    With ``n_threads`` given, every step runs on exactly that many threads. Otherwise a
    step runs on the backend's current count T, and now and then one step runs on a
    single thread instead (a probe); the count whose recent steps were faster is used
    until the next probe. Probes become rarer while the count in use keeps winning (8,
    16, ... up to 256 steps apart for T, 32 for one thread: beside a busy process a
    two-thread step of the 10⁶ generated core's BiCGSTAB took 2.3× a one-thread step,
    and a probe of T every 8 steps cost 16 %), and frequent again when one thread wins a
    probe or T's steps get slower than their running average and than one thread's
    (another process started; a slower step that one thread would not beat is the host's
    noise). Records are kept per kind of step, backend and step size for the life of the
    process, so one solve learns from the last. Steps of unequal size (the substitution
    pass's ranges of levels) give their ``work``, and are compared per unit of it:
    compared as whole steps, a probe that happened to fall on a small step won for its
    count. A step of less than ``MIN_STEP_S`` is too short to time and teaches nothing;
    a probe that falls on one moves to the next step (in a pass of a tiny and a large
    step, probes 8, 16, … steps apart had all fallen on the tiny one, so one thread was
    never timed on the large one). The first step timed on each count is a warm-up (for
    Numba's parallel kernels in a new process it includes compiling them: seconds): the
    second replaces it instead of being averaged with it, and a probe that wins against
    a warm-up time is answered by timing the other count again at once. Averaged in, a
    5-s compile had kept the 10⁶ unstructured solve on one thread for about 50 steps, at
    50 ms a step against 15 ms on two.

    Steps of less ``work`` than the kernels' ``TEAM_MIN_WORK`` run on one thread and are
    not probed: the kernels would run them on one thread anyway.

    Where other processes keep cores busy, a step runs on no more threads than
    :func:`threads_free` allows, and such steps teach nothing (the times of a count the
    load imposes are not those the record compares): beside a busy process the probes'
    times followed the scheduler more than the thread count.

    Examples
    --------
    >>> gov = ThreadGovernor("numba", None, work=10**6)
    >>> for _ in range(3):
    ...     with gov.step():
    ...         pass   # the kernels of one iteration
    >>> gov.used >= 1
    True
    """

    MIN_STEP_S = 2e-4
    FIRST_PROBE = 8
    MAX_PROBE = 256
    #: While one thread wins, probes stay closer together: the load that made it win
    #: may end, and its steps getting faster gives no sign of that.
    MAX_PROBE_ONE = 32
    _records: dict = {}

    def __init__(self, backend: str, n_threads: int | None, *, work: float,
                 kind: str = "iteration"):
        self.module = kernels(backend)
        self.forced = None if n_threads is None else _check_n_threads(n_threads)
        top = self.forced or int(self.module.get_num_threads())
        if backend == "numba":
            import numba

            top = min(top, numba.config.NUMBA_NUM_THREADS)
        if self.forced is None and work < self.module.TEAM_MIN_WORK:
            top = 1  # the kernels run steps this small on one thread: nothing to probe
        self.top = top
        self.work = work
        self.used = top  # the thread count of the last step
        self._made = None  # the work a step reported doing (made)
        key = (kind, backend, top, int(math.log2(max(work, 1.0))))
        self.record = self._records.setdefault(
            key, {"rate": {}, "timed": {}, "interval": self.FIRST_PROBE, "countdown": 2})

    @contextlib.contextmanager
    def step(self, work: float | None = None):
        """Run one step (a group of kernel calls) on the chosen thread count, timed;
        ``work`` (in the units of the constructor's) where steps differ in size (a step
        that stops early tells what it did by :meth:`made`)."""
        self._made = None
        free = self._free()
        n = self._choose() if free >= self.top else free
        previous = self.module.get_num_threads()
        if n != previous:
            self.module.set_num_threads(n)
        t0 = time.perf_counter()
        try:
            yield n
        finally:
            elapsed = time.perf_counter() - t0
            if n != previous:
                self.module.set_num_threads(previous)
            self.used = n
            if self.forced is None and self.top > 1 and free >= self.top:
                work = work if self._made is None else self._made
                if elapsed >= self.MIN_STEP_S:
                    self._learn(n, elapsed if not work else elapsed * (self.work / work))
                elif self.record["countdown"] <= 0:
                    self.record["countdown"] = 1  # a probe too short to time: probe the next

    def made(self, work: float) -> None:
        """Within a :meth:`step`: the work it did, where that is less than it was given."""
        self._made = work

    def probes_next(self) -> bool:
        """Whether the next :meth:`step` is a probe (it times the other thread count):
        a caller that can make its steps longer keeps that one short."""
        return (self.forced is None and self.top > 1 and self.record["countdown"] <= 1
                and self._free() >= self.top)

    def _free(self) -> int:
        """The threads other processes leave this step (``top`` where the count is
        forced)."""
        return self.top if self.forced is not None else threads_free(self.top)

    def _choose(self) -> int:
        if self.forced is not None or self.top == 1:
            return self.top
        rec = self.record
        rate = rec["rate"]
        best = self.top if rate.get(self.top, 0.0) <= rate.get(1, math.inf) else 1
        rec["countdown"] -= 1
        if rec["countdown"] <= 0:
            return 1 if best == self.top else self.top  # probe the other count
        return best

    def _learn(self, n: int, seconds: float) -> None:
        rec = self.record
        rate, timed = rec["rate"], rec["timed"]
        old = rate.get(n)
        timed[n] = timed.get(n, 0) + 1
        # the first two times are taken as they are: the first may be a warm-up
        rate[n] = seconds if timed[n] <= 2 else 0.5 * (old + seconds)
        if rec["countdown"] <= 0:  # this step was a probe: schedule the next one
            top, one = rate.get(self.top, math.inf), rate.get(1, math.inf)
            winner = self.top if top < one else 1
            if winner == self.top:
                rec["interval"] = min(2 * rec["interval"], self.MAX_PROBE)
            elif n == self.top:  # one thread held against a probe: probe more rarely
                rec["interval"] = min(2 * rec["interval"], self.MAX_PROBE_ONE)
            else:
                rec["interval"] = self.FIRST_PROBE
            rec["countdown"] = rec["interval"]
            beaten = 1 if winner == self.top else self.top
            if beaten != n and timed.get(beaten, 0) == 1:
                rec["countdown"] = 1  # it lost with a warm-up time: time it again now
        elif n == self.top and old is not None and seconds > max(1.5 * old, rate.get(1, 0.0)):
            # slower than usual, and than one thread was: probe soon (a spike that one
            # thread would not beat is the host's noise, not another process)
            rec["countdown"] = min(rec["countdown"], 1)
