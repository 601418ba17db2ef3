"""Workloads shared by the pytest-benchmark suites and ``compare.py``.

Everything here is untimed set-up or measurement bookkeeping; the callables that
``make_*`` functions return are the timed bodies.

Fairness rules (see ``benchmarks/README.md``):

* every solution, lab's or a peer's, is judged by lab's own rule
  ``‖l + Aᵀv − v‖∞ ≤ rtol · ‖v‖∞`` recomputed here with scipy;
* scipy's iterative solvers stop on ``‖b − Mx‖₂ ≤ rtol · ‖b‖₂``, a different
  norm, so for each economy the loosest scipy ``rtol`` of :data:`SCIPY_RTOL_LADDER`
  whose solution meets lab's rule is chosen once, untimed (:func:`calibrate_peer`);
* matrices for the peers are prebuilt as CSR outside the timing.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import lab
from lab import _ops

#: Products per economy unless ``LAB_BENCH_SIZES`` says otherwise.
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
#: Sizes at or above this are marked ``large`` in the pytest suites.
LARGE_SIZE = 1_000_000
#: The economies of the benchmarks: mean direct inputs per product and ρ(A).
MEAN_INPUTS = 12.0
SPECTRAL_RADIUS = 0.9
RTOL = 1e-10
SEED = 20240601
#: scipy rtol values tried, loosest first.
SCIPY_RTOL_LADDER = (1e-8, 3e-9, 1e-9, 3e-10, 1e-10, 3e-11, 1e-11, 3e-12, 1e-12,
                     3e-13, 1e-13, 3e-14, 1e-14)
GMRES_RESTART = 30
LAB_METHODS = ("jacobi", "gauss-seidel", "krylov", "blocks")


def parse_sizes(text: str | None) -> tuple[int, ...]:
    """``"10000,1e5"`` -> ``(10000, 100000)``."""
    if not text:
        return DEFAULT_SIZES
    sizes = tuple(int(float(s)) for s in text.replace(" ", "").split(",") if s)
    if not sizes or min(sizes) < 1:
        raise ValueError(f"sizes must be positive integers, got {text!r}")
    return sizes


def env_sizes() -> tuple[int, ...]:
    return parse_sizes(os.environ.get("LAB_BENCH_SIZES"))


def make_economy(n: int, *, seed: int = SEED, index_dtype=None):
    """The benchmark economy of ``n`` products (seeded, so identical on every run)."""
    return lab.generate_economy(n, seed=seed, mean_inputs=MEAN_INPUTS,
                                spectral_radius=SPECTRAL_RADIUS, index_dtype=index_dtype)


# --------------------------------------------------------------------------- problem

@dataclass
class Problem:
    """One economy with the scipy matrices the peers need, built once."""

    economy: object
    AT: sp.csr_array = field(repr=False)   # Aᵀ as CSR (the arrays of economy.A, no copy)
    M: sp.csr_array = field(repr=False)    # I − Aᵀ as CSR
    l: np.ndarray = field(repr=False)
    calibration: dict = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return self.economy.n_products

    @property
    def nnz(self) -> int:
        return self.economy.nnz

    def residual(self, v) -> float:
        """lab's relative residual ‖l + Aᵀv − v‖∞ / ‖v‖∞, recomputed independently."""
        v = np.asarray(v, dtype=np.float64).ravel()
        vmax = float(np.max(np.abs(v))) if v.size else 0.0
        r = float(np.max(np.abs(self.l + self.AT @ v - v))) if v.size else 0.0
        if not np.isfinite(r) or not np.isfinite(vmax):
            return float("inf")
        return r / vmax if vmax > 0 else (0.0 if r == 0 else float("inf"))


def make_problem(economy) -> Problem:
    A = economy.A  # CSC: its indptr/indices/data are the CSR arrays of Aᵀ
    n = economy.n_products
    AT = sp.csr_array((A.data, A.indices, A.indptr), shape=(n, n))
    M = (sp.eye_array(n, format="csr") - AT).tocsr()
    M.sort_indices()
    l = np.ascontiguousarray(economy.labour, dtype=np.float64)
    return Problem(economy, AT, M, l)


# --------------------------------------------------------------------------- lab

def env_threads() -> int | None:
    """``LAB_BENCH_THREADS``: kernel threads for lab's solvers (default: lab's default)."""
    text = os.environ.get("LAB_BENCH_THREADS", "").strip()
    return int(text) if text else None


def lab_cold(problem: Problem, method: str = "auto", n_threads: int | None = None):
    """A fresh ``labour_values`` call: productivity check, analysis and solve.

    The economy caches its structure analysis (strongly connected components);
    the cache is emptied before every call so that each one pays the analysis.
    """
    economy = problem.economy

    def run():
        economy._cache.clear()
        return lab.labour_values(economy, method=method, rtol=RTOL, n_threads=n_threads).values

    return run


def lab_warm(problem: Problem, method: str = "auto", n_threads: int | None = None):
    """``ValueSolver`` set up once (untimed); only ``.solve()`` is timed."""
    solver = lab.ValueSolver(problem.economy, method=method, rtol=RTOL, n_threads=n_threads)

    def run():
        return solver.solve().values

    return run


def lab_workloads(problem: Problem, n_threads: int | None = None) -> dict:
    """name -> zero-argument callable returning v (set-up is done here, untimed)."""
    work = {"auto-cold": lab_cold(problem, "auto", n_threads),
            "auto-warm": lab_warm(problem, "auto", n_threads)}
    for method in LAB_METHODS:
        work[method] = lab_warm(problem, method, n_threads)
    return work


# --------------------------------------------------------------------------- peers

def _scipy_call(solver, problem: Problem, rtol: float):
    n = problem.n
    if solver == "bicgstab":
        return lambda: spla.bicgstab(problem.M, problem.l, rtol=rtol, atol=0.0,
                                     maxiter=max(1000, n))[0]
    if solver == "gmres":
        # maxiter counts restart cycles in scipy's gmres
        return lambda: spla.gmres(problem.M, problem.l, rtol=rtol, atol=0.0,
                                  restart=GMRES_RESTART, maxiter=max(1000, n))[0]
    raise ValueError(solver)


def numpy_jacobi(problem: Problem, rtol: float = RTOL, maxiter: int = 100_000):
    """The textbook Cockshott–Cottrell loop vᵗ⁺¹ = l + Aᵀvᵗ with scipy's matvec.

    Stops when ‖vᵗ⁺¹ − vᵗ‖∞ ≤ rtol·‖vᵗ⁺¹‖∞; since vᵗ⁺¹ − vᵗ is the residual of vᵗ,
    this is lab's rule (one matvec per sweep) and vᵗ⁺¹ is returned.
    """
    AT, l = problem.AT, problem.l

    def run():
        v = l.copy()
        for _ in range(maxiter):
            v_new = AT @ v
            v_new += l
            diff = np.max(np.abs(v_new - v))
            v = v_new
            if diff <= rtol * np.max(np.abs(v)):
                break
        return v

    return run


PEERS = ("scipy-spsolve", "scipy-bicgstab", f"scipy-gmres({GMRES_RESTART})", "numpy-jacobi")
#: Largest economy given to ``spsolve`` (SuperLU's fill-in on the cyclic core grows
#: fast: about 8 s at 10^4 products on the standard machine); ``LAB_BENCH_SPSOLVE_MAX``.
SPSOLVE_MAX = int(float(os.environ.get("LAB_BENCH_SPSOLVE_MAX", "10000")))


def peer_applies(problem: Problem, peer: str) -> bool:
    """Whether the peer runs at this size (spsolve only where it still fits)."""
    return peer != "scipy-spsolve" or problem.n <= SPSOLVE_MAX


def scipy_spsolve(problem: Problem):
    """``scipy.sparse.linalg.spsolve`` (SuperLU) on I − Aᵀ, converted to CSC untimed."""
    Mc = problem.M.tocsc()
    l = problem.l
    return lambda: spla.spsolve(Mc, l)


def calibrate_peer(problem: Problem, peer: str) -> dict:
    """Loosest scipy rtol whose answer meets lab's rule (cached on the problem, untimed)."""
    if peer in problem.calibration:
        return problem.calibration[peer]
    if peer == "numpy-jacobi":
        info = {"peer_rtol": RTOL, "rule_met": None, "peer_norm": "inf (lab's rule)"}
    elif peer == "scipy-spsolve":
        info = {"peer_rtol": None, "rule_met": None, "peer_norm": "direct solve"}
    else:
        solver = "bicgstab" if peer.startswith("scipy-bicgstab") else "gmres"
        info = None
        for rtol in SCIPY_RTOL_LADDER:
            res = problem.residual(_scipy_call(solver, problem, rtol)())
            if res <= RTOL:
                info = {"peer_rtol": rtol, "rule_met": True}
                break
        if info is None:
            info = {"peer_rtol": SCIPY_RTOL_LADDER[-1], "rule_met": False}
        info["peer_norm"] = "2-norm relative to ||b||_2"
    problem.calibration[peer] = info
    return info


def peer_workload(problem: Problem, peer: str):
    info = calibrate_peer(problem, peer)
    if peer == "numpy-jacobi":
        return numpy_jacobi(problem)
    if peer == "scipy-spsolve":
        return scipy_spsolve(problem)
    solver = "bicgstab" if peer.startswith("scipy-bicgstab") else "gmres"
    return _scipy_call(solver, problem, info["peer_rtol"])


def peer_workloads(problem: Problem) -> dict:
    return {peer: peer_workload(problem, peer) for peer in PEERS if peer_applies(problem, peer)}


#: (lab workload, peer) rows of the comparison table.
PAIRS = (
    ("auto-cold", "scipy-bicgstab"),
    ("auto-cold", "scipy-spsolve"),
    ("auto-warm", "scipy-bicgstab"),
    ("auto-warm", f"scipy-gmres({GMRES_RESTART})"),
    ("auto-warm", "numpy-jacobi"),
    ("krylov", "scipy-bicgstab"),
    ("blocks", "scipy-bicgstab"),
    ("gauss-seidel", "numpy-jacobi"),
    ("jacobi", "numpy-jacobi"),
)


# --------------------------------------------------------------------------- kernels

KERNELS = ("csr_matvec", "jacobi_step", "gauss_seidel")


@dataclass
class KernelCase:
    """Raw CSR arrays of Aᵀ at one index width, with vectors for the kernels."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    b: np.ndarray
    x: np.ndarray
    out: np.ndarray

    @property
    def n(self) -> int:
        return self.indptr.shape[0] - 1

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def bytes_moved(self, kernel: str) -> int:
        """Upper-bound bytes of one call (see README): data, indices, indptr,
        x gathered once per non-zero, plus the per-row streams of the kernel."""
        n, nnz = self.n, self.nnz
        ib = self.indices.itemsize
        base = nnz * (self.data.itemsize + ib + 8) + (n + 1) * self.indptr.itemsize
        if kernel == "csr_matvec":          # write out
            return base + 8 * n
        if kernel == "jacobi_step":         # read b, read v[i], write v_new
            return base + 3 * 8 * n
        if kernel == "gauss_seidel":        # read b, read + write v
            return base + 3 * 8 * n
        if kernel == "scipy":               # y = M @ x allocates and writes y
            return base + 8 * n
        raise ValueError(kernel)


def kernel_case(economy, index_dtype) -> KernelCase:
    indptr, indices, data = _ops.csr_arrays(economy.A, index_dtype=index_dtype)
    n = economy.n_products
    rng = np.random.default_rng(SEED)
    return KernelCase(indptr, indices, np.ascontiguousarray(data, dtype=np.float64),
                      np.ascontiguousarray(economy.labour, dtype=np.float64),
                      rng.random(n), np.empty(n))


def kernel_call(case: KernelCase, backend: str, kernel: str, n_threads: int):
    """Zero-argument callable running one kernel call under ``n_threads`` threads."""
    K = _ops.kernels(backend)
    ip, ix, d, b, x, out = case.indptr, case.indices, case.data, case.b, case.x, case.out
    if kernel == "csr_matvec":
        def body():
            K.csr_matvec(ip, ix, d, x, out)
    elif kernel == "jacobi_step":
        def body():
            K.jacobi_step(ip, ix, d, b, x, out)
    elif kernel == "gauss_seidel":
        v = case.x.copy()
        # one chunk per thread: exact GS inside a chunk, as many chunks as threads
        def body():
            K.gauss_seidel(ip, ix, d, b, v, 0, case.n, n_threads)
    else:
        raise ValueError(kernel)

    def run():
        with _ops.thread_limit(n_threads, backend):
            body()

    return run


def scipy_matvec_call(case: KernelCase):
    M = sp.csr_array((case.data, case.indices, case.indptr), shape=(case.n, case.n))
    x = case.x
    return lambda: M @ x


# --------------------------------------------------------------------------- timing

def time_calls(fn, repeat: int) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls (the caller does the warm-up)."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out
