"""Reading and writing economies and results.

Formats
-------
``"csv"``
    A folder with ``products.csv`` and ``flows.csv`` (the layout of the real
    tables shipped with lab; see :meth:`lab.Economy.from_csv`).
``"npz"``
    One NumPy ``.npz`` file holding the CSC arrays of A, the resource rows and
    the codes. Loaded with ``allow_pickle=False``: reading never runs code.

Results are written as CSV or Parquet (by file suffix), atomically.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lab._atomic import atomic_path
from lab.exceptions import DataFormatError

__all__ = ["read_economy", "write_economy", "write_values"]

NPZ_VERSION = 1
_NPZ_KEYS = ("version", "shape", "indptr", "indices", "data", "R", "resource_names")


def _detect(path: Path, format: str | None) -> str:
    if format is not None:
        if format not in ("csv", "npz"):
            raise ValueError(f"format must be 'csv' or 'npz', got {format!r}")
        return format
    if path.is_dir():
        return "csv"
    if path.suffix.lower() == ".npz":
        return "npz"
    raise DataFormatError("cannot tell the format: expected a folder with products.csv and "
                          "flows.csv, or a .npz file", path=path)


def read_economy(path, format: str | None = None, *, labour: str | None = None,
                 negative: str = "error"):
    """Read an economy from a CSV folder or an ``.npz`` file.

    Parameters
    ----------
    path : str or Path
    format : {"csv", "npz"}, optional
        Detected from the path when omitted.
    labour, negative : optional
        Passed to :meth:`lab.Economy.from_csv` for a CSV folder: which labour
        column is resource row 0, and whether negative flows are an error or
        set to 0 (``"clip"``).
    """
    from lab.economy import Economy

    path = Path(path)
    if not path.exists():
        raise DataFormatError("no such file or folder", path=path)
    fmt = _detect(path, format)
    if fmt == "csv":
        return Economy.from_csv(path, labour=labour, negative=negative)
    return _read_npz(path)


def write_economy(economy, path, format: str | None = None) -> Path:
    """Write an economy (atomically). Only ``"npz"`` is written for now."""
    path = Path(path)
    fmt = format or ("npz" if path.suffix.lower() == ".npz" else None)
    if fmt != "npz":
        raise ValueError(f"write_economy writes .npz files; got {str(path)!r}")
    A = economy.A
    arrays = {
        "version": np.array(NPZ_VERSION),
        "shape": np.array(A.shape, dtype=np.int64),
        "indptr": A.indptr, "indices": A.indices, "data": A.data,
        "R": economy.R,
        "resource_names": np.array(economy.resource_names, dtype=str),
    }
    codes = economy._codes
    if codes is not None and not _default_codes(codes):  # default codes are implied
        arrays["codes"] = np.asarray(codes, dtype=str)
    if economy.names is not None:
        arrays["names"] = np.asarray(economy.names, dtype=str)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def _default_codes(codes) -> bool:
    """Whether ``codes`` are ``"P0", "P1", ...`` (materialised by reading ``Economy.codes``)."""
    return all(c == f"P{i}" for i, c in enumerate(codes))


def _read_npz(path: Path):
    from lab.economy import Economy

    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in _NPZ_KEYS if k not in npz.files]
            if missing:
                raise DataFormatError(f"not a lab economy file: missing arrays {missing}",
                                      path=path)
            arrays = {k: npz[k] for k in npz.files}
    except DataFormatError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
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


def check_values_path(path) -> Path:
    """The output path of :func:`write_values`, checked before any work is done."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise ValueError(f"output must end in .csv or .parquet, got {str(path)!r}")
    return path


def write_values(result, path) -> Path:
    """Write a :class:`~lab.values.ValuesResult` as ``code,value`` CSV or Parquet (by suffix).

    With several resource rows the columns are named after the resources.
    """
    path = check_values_path(path)
    suffix = path.suffix.lower()
    frame = result.frame
    if result.values.ndim == 1:
        frame.columns = ["value"]
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, float_format="%.17g")
        else:
            frame.to_parquet(tmp, engine="pyarrow")
    return path
