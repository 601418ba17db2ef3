"""The ``"npz"`` format: one NumPy ``.npz`` file with the CSC arrays of A, R and the codes.

Read without ``np.load``: lab opens the archive itself (a regular file only), reads
each member's ``.npy`` header, and checks the dtype (no objects: reading never runs
code) and the declared shape against the member's size and the file's size before
it allocates anything, so a header declaring 2⁴⁰ floats is an error naming the
file, not an 8 TiB allocation. Every array is then checked (shape, dtypes, CSC
structure) before scipy sees it.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lab._atomic import atomic_path
from lab.economy import Economy
from lab.exceptions import DataFormatError, InvalidEconomyError
from lab.io._files import check_allocation, open_regular
from lab.io._flows import check_writable_labels, default_codes

NPZ_VERSION = 1
_NPZ_KEYS = ("version", "shape", "indptr", "indices", "data", "R", "resource_names")
_OPTIONAL = ("codes", "names")
#: dtype kinds each member may have. ``members`` (written first) lists every member:
#: a damaged zip directory can list fewer members without any error from zipfile,
#: and a missing optional member (the codes) would otherwise go unnoticed.
_KINDS = {"members": "U", "version": "iu", "shape": "iu", "indptr": "iu", "indices": "iu",
          "data": "biuf", "R": "biuf", "resource_names": "U", "codes": "U", "names": "U"}
#: Largest ratio of a member's size to its compressed size (deflate stays below 1032).
_MAX_COMPRESSION = 1100


def write_npz(economy, path: Path) -> Path:
    codes = economy.codes if economy._codes is not None else ()
    check_writable_labels(codes, economy.resource_names)
    for what, labels in (("product code", codes), ("resource name", economy.resource_names),
                         ("product name", economy.names if economy.names is not None else ())):
        bad = next((s for s in labels if s.endswith("\x00")), None)
        if bad is not None:  # NumPy's fixed-width strings drop trailing NULs
            raise InvalidEconomyError(f"a {what} ending in a NUL character ({bad!r}) cannot be "
                                      "written to .npz; write a csv or parquet folder")
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
    arrays = {"members": np.array(["members", *arrays], dtype=str), **arrays}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def _member(zf, info, key, path, file_bytes):
    """One ``.npy`` member, its header checked against its size before reading it."""
    if info.file_size > _MAX_COMPRESSION * info.compress_size + 4096 or \
            info.compress_size > file_bytes:
        raise DataFormatError(f"array {key!r}: the archive declares {info.file_size} bytes "
                              f"compressed into {info.compress_size}: corrupt", path=path)
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise DataFormatError(f"array {key!r}: .npy format version {version} is not "
                                  "supported", path=path)
        if dtype.hasobject or dtype.kind not in _KINDS[key]:
            raise DataFormatError(f"array {key!r} has dtype {dtype}; lab's economy files hold "
                                  f"{'strings' if _KINDS[key] == 'U' else 'numbers'} there",
                                  path=path)
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        held = info.file_size - fh.tell()
        if nbytes != held:
            raise DataFormatError(f"array {key!r} declares shape {shape} ({nbytes} bytes) but "
                                  f"its member holds {held} bytes: corrupt or truncated",
                                  path=path)
        check_allocation(path, f"array {key!r} declares shape {shape}", nbytes,
                         file_bytes=file_bytes)
        raw = fh.read(nbytes)
    if len(raw) != nbytes:
        raise DataFormatError(f"array {key!r} is truncated", path=path)
    arr = np.frombuffer(raw, dtype=dtype, count=count)
    return arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)


def _read_arrays(path: Path) -> dict:
    with open_regular(path) as fh:
        file_bytes = os.fstat(fh.fileno()).st_size
        try:
            with zipfile.ZipFile(fh) as zf:
                infos = {i.filename[:-4]: i for i in zf.infolist()
                         if i.filename.endswith(".npy")}
                missing = [k for k in _NPZ_KEYS if k not in infos]
                if missing:
                    raise DataFormatError(f"not a lab economy file: missing arrays {missing}",
                                          path=path)
                unknown = sorted(i.filename for i in zf.infolist()
                                 if i.filename[:-4] not in _KINDS or
                                 not i.filename.endswith(".npy"))
                if unknown:
                    raise DataFormatError(f"not a lab economy file: unknown members {unknown} "
                                          f"(it holds {', '.join(_KINDS)})", path=path)
                arrays = {k: _member(zf, infos[k], k, path, file_bytes)
                          for k in ("members", *_NPZ_KEYS, *_OPTIONAL) if k in infos}
        except DataFormatError:
            raise
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError,
                NotImplementedError, zlib.error, RuntimeError) as exc:
            raise DataFormatError(f"corrupt or truncated .npz file ({exc})", path=path) \
                from None
    listed = arrays.pop("members", None)  # files written before it have none
    if listed is not None and (listed.ndim != 1 or set(listed.tolist()) != set(infos)):
        raise DataFormatError(f"the archive holds the members {sorted(infos)} but lists "
                              f"{sorted(listed.tolist()) if listed.ndim == 1 else listed}: "
                              "its directory is damaged", path=path)
    return arrays


def _strings(arrays, key, path, length=None):
    arr = arrays.get(key)
    if arr is None:
        return None
    if arr.ndim != 1 or (length is not None and arr.shape[0] != length):
        want = f"length {length}" if length is not None else "1-D"
        raise DataFormatError(f"{key} must be a 1-D array of strings of {want}, got shape "
                              f"{arr.shape}", path=path)
    return [str(s) for s in arr]


def read_npz(path: Path):
    arrays = _read_arrays(path)
    version, shape = arrays["version"], arrays["shape"]
    if version.shape != ():
        raise DataFormatError(f"version must be an integer scalar, got {version!r}", path=path)
    if int(version) != NPZ_VERSION:
        raise DataFormatError(f"unsupported lab economy file version {int(version)}", path=path)
    if shape.shape != (2,) or np.any(shape < 0):
        raise DataFormatError(f"shape must hold 2 non-negative integers, got {shape!r}",
                              path=path)
    m, n = (int(s) for s in shape)
    indptr, indices, data = arrays["indptr"], arrays["indices"], arrays["data"]
    for name, arr in (("indptr", indptr), ("indices", indices), ("data", data)):
        if arr.ndim != 1:
            raise DataFormatError(f"{name} must be 1-D, got shape {arr.shape}", path=path)
    if indptr.shape[0] != n + 1:
        raise DataFormatError(f"indptr has length {indptr.shape[0]} but the shape {(m, n)} "
                              f"needs {n + 1}", path=path)
    R = arrays["R"]
    rn = _strings(arrays, "resource_names", path, R.shape[0] if R.ndim == 2 else 1)
    codes = _strings(arrays, "codes", path, m)
    names = _strings(arrays, "names", path, m)
    # the arrays go to Economy unconverted: its checks come before any scipy routine
    A = sp.csc_array((0, 0), dtype=np.float64)
    A.data, A.indices, A.indptr, A._shape = data, indices, indptr, (m, n)
    try:
        return Economy(A, R, codes=codes, names=names, resource_names=rn)
    except ValueError as exc:
        raise DataFormatError(str(exc), path=path) from exc
