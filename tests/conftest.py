"""Shared fixtures for the labour-value tests: a registry of economies and independent references.

Every reference here is computed without lab's solvers: a direct sparse LU solve
of (I − Aᵀ)v = b by :func:`scipy.sparse.linalg.spsolve`, and residuals with
scipy.sparse matrix products.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

import lab
from lab import _ops

BACKENDS = _ops.available_backends()
METHODS = ("auto", "jacobi", "gauss-seidel", "krylov", "blocks")


def _shared_io():
    """The real tables: ``shared/data/io`` beside the repository (CI), or /work/shared."""
    beside = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "io").resolve()
    return beside if beside.is_dir() else Path("/work/shared/data/io")


#: Folder of the real input-output tables (products.csv + flows.csv per table).
SHARED_IO = _shared_io()


@pytest.fixture
def quiet_load(monkeypatch):
    """The machine's load kept out of a test: every core counts as free
    (:func:`lab._ops.threads_free`), as it does on a quiet machine; with other processes
    busy (the host's steal time counts) governed steps would run capped, not probing."""
    monkeypatch.setattr(_ops, "threads_free", lambda top: max(top, 1))


# --------------------------------------------------------------------------- references


def reference_values(A, rhs):
    """v with (I − Aᵀ) v = rhs by a direct sparse solve; rhs of shape (m,) or (k, m)."""
    A = sp.csc_array(A, dtype=np.float64)
    m = A.shape[0]
    M = (sp.identity(m, format="csc") - sp.csc_array(A.T)).tocsc()
    rhs = np.asarray(rhs, dtype=np.float64)
    if rhs.ndim == 1:
        return np.atleast_1d(spsolve(M, rhs))
    return np.vstack([np.atleast_1d(spsolve(M, row)) for row in rhs])


def relative_residual(A, rhs, v):
    """‖rhs + Aᵀv − v‖∞ / ‖v‖∞ computed with scipy.sparse (0 when v = rhs = 0)."""
    A = sp.csc_array(A, dtype=np.float64)
    r = np.asarray(rhs, dtype=np.float64) + A.T @ np.asarray(v) - np.asarray(v)
    num, den = float(np.max(np.abs(r), initial=0.0)), float(np.max(np.abs(v), initial=0.0))
    if den == 0.0:
        return 0.0 if num == 0.0 else np.inf
    return num / den


def assert_values_close(got, expected, rel=1e-9, what=""):
    """max|got − expected| ≤ rel · max|expected| (per row for 2-D arrays)."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    got2, exp2 = np.atleast_2d(got), np.atleast_2d(expected)
    for k, (g, e) in enumerate(zip(got2, exp2, strict=True)):
        scale = float(np.max(np.abs(e), initial=0.0))
        err = float(np.max(np.abs(g - e), initial=0.0))
        assert err <= rel * max(scale, 1e-300), (
            f"{what} row {k}: max abs error {err:.3e} > {rel:.1e} × max|v| = {rel * scale:.3e}")


# --------------------------------------------------------------------------- economy registry

#: name -> (n_products, generate_economy keyword arguments). Seeds are fixed by name.
GENERATED = {
    "n1": (1, dict(spectral_radius=0.9)),
    "n2": (2, dict(spectral_radius=0.9)),
    "n50-rho0.3": (50, dict(spectral_radius=0.3)),
    "n50-rho0.99": (50, dict(spectral_radius=0.99)),
    "n500-rho0.9": (500, dict(spectral_radius=0.9)),
    "n500-rho0.99-acyclic-chains": (500, dict(spectral_radius=0.99, cyclic_share=0.0)),
    "n500-group2": (500, dict(spectral_radius=0.9, cyclic_share=0.3, group_size=2)),
    "n500-int64": (500, dict(spectral_radius=0.9, index_dtype=np.int64)),
    "n3000-rho0.9": (3000, dict(spectral_radius=0.9)),
    "n3000-rho0.99-core0.3": (3000, dict(spectral_radius=0.99, core_share=0.3)),
    # One giant cyclic block (≥ 2048 products): the block solver's BiCGSTAB path.
    "n3000-giant-core": (3000, dict(spectral_radius=0.9, core_share=0.8)),
    "n3000-giant-lateral": (3000, dict(spectral_radius=0.9, core_share=0.01, depth=1,
                                       cyclic_share=0.9, group_size=3000)),
    "n3000-int64-group8": (3000, dict(spectral_radius=0.9, cyclic_share=0.2, group_size=8,
                                      index_dtype=np.int64)),
}

#: Cases on which the Jacobi baseline needs thousands of costly sweeps: skipped for Jacobi
#: only (Jacobi is still compared at ρ = 0.99 on the small cases).
JACOBI_TOO_SLOW = {"n3000-rho0.99-core0.3", "n500-rho0.99-acyclic-chains"}


@functools.cache
def generated(name: str) -> lab.Economy:
    n, kwargs = GENERATED[name]
    seed = sum(map(ord, name))
    return lab.generate_economy(n, seed=seed, **kwargs)


@functools.cache
def generated_reference(name: str, rows: tuple | None = None) -> np.ndarray:
    e = generated(name)
    rhs = e.R[0] if rows is None else e.R[list(rows)]
    return reference_values(e.A, rhs)


def hand_economies():
    """(name, A, l, exact v) for small economies solved by hand."""
    # 2 products. v0 = 1 + 0.1 v0 + 0.3 v1, v1 = 2 + 0.2 v0
    #   => v0 = 1 + 0.1 v0 + 0.6 + 0.06 v0 => 0.84 v0 = 1.6 => v0 = 40/21, v1 = 2 + 8/21 = 50/21.
    two = (np.array([[0.1, 0.2], [0.3, 0.0]]), np.array([1.0, 2.0]),
           np.array([40 / 21, 50 / 21]))
    # 3-product chain (no cycle): iron uses nothing, steel uses 2 iron, car uses 0.5 steel.
    # v_iron = 1, v_steel = 3 + 2·1 = 5, v_car = 10 + 0.5·5 = 12.5 (column sums exceed 1).
    chain = (np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.5], [0.0, 0.0, 0.0]]),
             np.array([1.0, 3.0, 10.0]), np.array([1.0, 5.0, 12.5]))
    # Self-using product: v = 1 + 0.5 v => v = 2.
    single = (np.array([[0.5]]), np.array([1.0]), np.array([2.0]))
    # Ochoa (1984) 3-sector example, published labour values.
    ochoa = (np.array([[0.265, 0.968, 0.00681], [0.0121, 0.391, 0.0169],
                       [0.0408, 0.808, 0.165]]), np.array([0.193, 3.562, 0.616]),
             np.array([0.4398417, 7.739431, 0.8979541]))
    # 2-cycle: corn uses 0.5 iron, iron uses 0.5 corn, l = (1, 1):
    # v = 1 + 0.5 v => v = (2, 2).
    cycle = (np.array([[0.0, 0.5], [0.5, 0.0]]), np.array([1.0, 1.0]), np.array([2.0, 2.0]))
    return [("two-products", *two), ("chain", *chain), ("single", *single),
            ("ochoa", *ochoa), ("two-cycle", *cycle)]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(params=METHODS)
def method(request):
    return request.param


@pytest.fixture
def no_warnings():
    """Turn every warning into an error inside the test body."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --------------------------------------------------------------------------- known lab bugs

#: Cyclic blocks at least this large go to the block solver's BiCGSTAB path (lab.values).
LARGE_BLOCK = 2048


def largest_cyclic_block(A) -> int:
    """Size of the largest strongly connected component of the input graph (scipy)."""
    from scipy.sparse.csgraph import connected_components

    _, labels = connected_components(sp.csr_array(A), directed=True, connection="strong")
    return int(np.bincount(labels).max(initial=0))


# --------------------------------------------------------------------------- isolation

#: The repository root, put on the path of child interpreters.
ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, *, timeout: float = 120, cwd=None, env=None, argv=()):
    """Run ``code`` in a fresh interpreter; return the CompletedProcess (text output).

    For inputs that once crashed the process (a segmentation fault kills only the
    child, whose negative return code then fails the test) or hung it (the timeout
    raises). faulthandler prints the Python stack of a crash to stderr.
    """
    import os
    import subprocess
    import sys

    full_env = {**os.environ, **(env or {}),
                "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                "PYTHONFAULTHANDLER": "1"}
    return subprocess.run([sys.executable, "-c", code, *map(str, argv)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env=full_env)


def pytest_terminal_summary(terminalreporter):
    """The fuzz suite's tally of outcomes (tests/fuzz/_fuzz.py), when it ran."""
    import sys

    fuzz = sys.modules.get("_fuzz")
    if fuzz is not None:
        fuzz.summary(terminalreporter)
