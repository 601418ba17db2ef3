"""Without the compiled (Cython) kernels lab falls back to Numba, warns once, and agrees."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import lab
from lab import _ops
from lab.exceptions import BackendWarning

METHODS = ("auto", "jacobi", "gauss-seidel", "krylov", "blocks")
HAVE_CYTHON = "cython" in _ops.available_backends()


@pytest.fixture
def no_cython(monkeypatch):
    """Make the extension look missing: the cached probe of lab._ops says it failed to import."""
    monkeypatch.delenv("LAB_BACKEND", raising=False)
    monkeypatch.setattr(_ops, "_cython_state",
                        {"error": ImportError("No module named 'lab._kernels._cy' (simulated)")})
    monkeypatch.setattr(_ops, "_warned", False)
    assert _ops.available_backends() == ("numba",)


@pytest.fixture(scope="module")
def economy():
    return lab.generate_economy(3000, seed=7)


@pytest.fixture(scope="module")
def cython_values(economy):
    if not HAVE_CYTHON:
        return None
    return {m: lab.labour_values(economy, method=m, backend="cython").values for m in METHODS}


def test_auto_falls_back_to_numba_with_one_warning(no_cython):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _ops.resolve_backend("auto") == "numba"
        assert _ops.resolve_backend("auto") == "numba"
        assert _ops.resolve_backend() == "numba"
    backend_warnings = [w for w in caught if issubclass(w.category, BackendWarning)]
    assert len(backend_warnings) == 1, [str(w.message) for w in caught]
    assert len(caught) == 1
    message = str(backend_warnings[0].message)
    assert "Numba" in message and "Cython" in message


def test_explicit_cython_raises_naming_the_backend(no_cython):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="cython"):
            _ops.resolve_backend("cython")
        assert _ops.resolve_backend("numba") == "numba"


def test_lab_backend_env_cython_falls_back(no_cython, monkeypatch):
    monkeypatch.setenv("LAB_BACKEND", "cython")
    with pytest.warns(BackendWarning):
        assert _ops.resolve_backend("auto") == "numba"


def test_labour_values_cython_request_fails_cleanly(no_cython, economy):
    with pytest.raises(ValueError, match="cython"):
        lab.labour_values(economy, backend="cython")


@pytest.mark.parametrize("method", METHODS)
def test_fallback_values_match_cython(no_cython, economy, cython_values, method):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = lab.labour_values(economy, method=method)
    assert result.backend == "numba"
    assert result.converged, result.message
    assert sum(issubclass(w.category, BackendWarning) for w in caught) == 1
    if cython_values is not None:  # compare with Cython where it is built
        expected = cython_values[method]
        scale = np.abs(expected).max()
        np.testing.assert_allclose(result.values, expected, rtol=0, atol=1e-12 * scale)


def test_lab_backend_env_numba_subprocess():
    env = dict(os.environ, LAB_BACKEND="numba")
    code = ("import lab; "
            "print(lab.labour_values(lab.generate_economy(500, seed=1)).backend)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "numba"
    assert "Traceback" not in proc.stderr
    assert "BackendWarning" not in proc.stderr
