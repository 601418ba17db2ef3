"""The ``"npz"`` format: one NumPy ``.npz`` file with the CSC arrays of A, R and the codes.

Read with ``allow_pickle=False``, so loading never runs code; every array is checked
(shape, dtypes, CSC structure) before scipy sees it.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lab._atomic import atomic_path
from lab.economy import Economy
from lab.exceptions import DataFormatError
from lab.io._flows import default_codes

NPZ_VERSION = 1
_NPZ_KEYS = ("version", "shape", "indptr", "indices", "data", "R", "resource_names")


def write_npz(economy, path: Path) -> Path:
    A = economy.A
    arrays = {
        "version": np.array(NPZ_VERSION),
        "shape": np.array(A.shape, dtype=np.int64),
        "indptr": A.indptr, "indices": A.indices, "data": A.data,
        "R": economy.R,
        "resource_names": np.array(economy.resource_names, dtype=str),
    }
    codes = economy._codes
    if codes is not None and not default_codes(codes):  # default codes are implied
        arrays["codes"] = np.asarray(codes, dtype=str)
    if economy.names is not None:
        arrays["names"] = np.asarray(economy.names, dtype=str)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def read_npz(path: Path):
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in _NPZ_KEYS if k not in npz.files]
            if missing:
                raise DataFormatError(f"not a lab economy file: missing arrays {missing}",
                                      path=path)
            arrays = {k: npz[k] for k in npz.files}
    except DataFormatError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError,
            NotImplementedError, zlib.error) as exc:
        raise DataFormatError(f"corrupt or truncated .npz file ({exc})", path=path) from exc
    version, shape = arrays["version"], arrays["shape"]
    if version.shape != () or version.dtype.kind not in "iu":
        raise DataFormatError(f"version must be an integer scalar, got {version!r}", path=path)
    if int(version) != NPZ_VERSION:
        raise DataFormatError(f"unsupported lab economy file version {int(version)}", path=path)
    if shape.shape != (2,) or shape.dtype.kind not in "iu" or np.any(shape < 0):
        raise DataFormatError(f"shape must hold 2 non-negative integers, got {shape!r}",
                              path=path)
    shape = tuple(int(s) for s in shape)
    indptr, indices = arrays["indptr"], arrays["indices"]
    for name, arr in (("indptr", indptr), ("indices", indices)):
        if arr.dtype not in (np.int32, np.int64) or arr.ndim != 1:
            raise DataFormatError(f"{name} must be a 1-D int32 or int64 array", path=path)
    if indptr.shape != (shape[1] + 1,) or indptr[0] != 0 or indptr[-1] != len(indices) \
            or np.any(np.diff(indptr) < 0):
        raise DataFormatError("indptr is inconsistent with the shape and the indices",
                              path=path)
    if arrays["data"].shape != indices.shape:
        raise DataFormatError("data and indices have different lengths", path=path)
    try:
        A = sp.csc_array((arrays["data"], indices, indptr), shape=shape)
    except ValueError as exc:
        raise DataFormatError(f"invalid matrix ({exc})", path=path) from exc
    try:
        return Economy(A, arrays["R"], codes=arrays.get("codes"), names=arrays.get("names"),
                       resource_names=[str(s) for s in arrays["resource_names"]])
    except ValueError as exc:
        raise DataFormatError(str(exc), path=path) from exc
