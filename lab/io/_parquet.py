"""Reader and writer for the Parquet folder layout: ``products.parquet`` + ``flows.parquet``.

The columns are those of the CSV layout (see :mod:`lab.io`): ``products.parquet``
has ``code`` (string), ``name`` (string), ``total_output`` (number), then one
numeric column per resource row (and an optional ``unit``); ``flows.parquet`` has
``input_code``, ``output_code`` (strings) and ``value`` (number), and optionally
``unit``. Integer code columns are read as their decimal strings.

Layout of the files lab writes: the code columns are dictionary-encoded, one
dictionary per row group holding codes in product order (output codes: the
contiguous range of products the row group covers; input codes: all the codes
when the row group has at least m rows, else those it uses), in row groups of up
to 2**27 flows; the file schema says plain strings, so any Parquet reader sees
``input_code``/``output_code`` as strings.

Reading is streamed and vectorised: the flows are read in record batches
(:meth:`pyarrow.parquet.ParquetFile.iter_batches`, code columns as dictionaries,
pages streamed a few MiB at a time) in a background thread while the Numba
kernels of :mod:`lab._kernels.io_kernels` map the previous batch. Each distinct
dictionary is mapped to product indices once: by a merge with the product codes
when its codes come in product order (lab's files: an identity or an offset, so
a flow costs an integer addition), else by the hash table of the product codes,
probed in hash order. Files not written by lab (plain string columns, any order,
duplicated flows) are read the same way, with the dictionaries Arrow builds. The
indices fill arrays preallocated from the file's row count, which become the CSC
arrays of A without a copy when the flows are in CSC order (see
:func:`lab.io.flows_to_csc`). No Python object is made per flow. Any problem in a
batch sends it to the plain checks, which name the first bad row. The writer
stores page checksums (CRC32) and the reader verifies them, so a corrupted data
page is an error, not a wrong value. Row numbers in errors are 1-based data rows.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lab._atomic import atomic_path
from lab.exceptions import DataFormatError
from lab.io._files import check_allocation, check_regular

__all__ = ["read_parquet_folder", "write_parquet_folder"]

_ARROW_ERRORS = (pa.ArrowException, OSError, ValueError, TypeError, IndexError,
                 EOFError, KeyError)


def _codes_column(col, name, path, offset=0):
    """A code column as ``pa.string()``; nulls and empty codes raise."""
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if pa.types.is_integer(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        col = col.cast(pa.string())
    elif not pa.types.is_string(t):
        raise DataFormatError(f"column {name!r} must hold strings, not {t}", path=path)
    if col.null_count:
        k = _first(col.is_null())
        raise DataFormatError(f"{name!r} is missing (null)", path=path, line=offset + k + 1)
    empty = pc.equal(pc.utf8_length(col), 0)
    if pc.any(empty).as_py():
        raise DataFormatError(f"empty {name!r}", path=path, line=offset + _first(empty) + 1)
    return col


def _first(mask) -> int:
    return int(np.argmax(np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)))


def _numeric_column(col, name, path, *, nonnegative, offset=0):
    """A numeric column as float64 ndarray; non-numeric types, nulls, NaN/inf raise."""
    t = col.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)):
        raise DataFormatError(f"column {name!r} must be numeric, not {t}", path=path)
    if col.null_count:
        raise DataFormatError(f"{name!r} is missing (null)", path=path,
                              line=offset + _first(col.is_null()) + 1)
    v = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
    bad = ~np.isfinite(v)
    if bad.any():
        k = int(np.argmax(bad))
        raise DataFormatError(f"{name!r} is not a finite number: {v[k]!r}", path=path,
                              line=offset + k + 1)
    if nonnegative and (v < 0).any():
        k = int(np.argmax(v < 0))
        raise DataFormatError(f"{name!r} is negative: {v[k]!r}", path=path,
                              line=offset + k + 1)
    return v


def _units(table_or_col, path):
    if isinstance(table_or_col, pa.DictionaryArray):  # the distinct values are at hand
        units = _units(table_or_col.dictionary, path)
        return units | {None} if table_or_col.null_count else units
    uniq = pc.unique(pc.utf8_trim_whitespace(table_or_col.cast(pa.string())))
    return set(uniq.to_pylist())


def _open(path: Path, read_dictionary=None, stream=False):
    """``stream=True``: read the pages a few MiB at a time, not whole column chunks
    (a row group of lab's layout holds up to 2**27 flows)."""
    check_regular(path)  # a FIFO, a device or a folder is refused, not opened
    try:
        return pq.ParquetFile(path, page_checksum_verification=True,
                              read_dictionary=read_dictionary, pre_buffer=not stream,
                              buffer_size=(1 << 22) if stream else 0)
    except _ARROW_ERRORS as exc:
        raise DataFormatError(f"not a Parquet file, or corrupt or truncated ({exc})",
                              path=path) from None


def _read_products(ppath: Path, labour):
    from lab.io._flows import resource_columns

    try:
        table = _open(ppath).read()  # page checksums verified
    except DataFormatError:
        raise
    except _ARROW_ERRORS as exc:
        raise DataFormatError(f"corrupt or truncated Parquet file ({exc})", path=ppath) from None
    names = table.column_names
    if len(set(names)) != len(names):
        raise DataFormatError(f"duplicated column names in {names}", path=ppath)
    missing = [c for c in ("code", "name", "total_output") if c not in names]
    if missing:
        raise DataFormatError(f"missing column(s) {', '.join(map(repr, missing))}; the file "
                              f"has {', '.join(map(repr, names))}", path=ppath)
    code = _codes_column(table.column("code").combine_chunks(), "code", ppath)
    m = len(code)
    index = _CodeIndex(code)
    if index.duplicate >= 0:
        import pandas as pd

        s = pd.Series(code.to_numpy(zero_copy_only=False))
        dup = np.flatnonzero(s.duplicated(keep=False).to_numpy())
        first = s.iloc[dup[0]]
        rows = dup[s.to_numpy()[dup] == first] + 1
        raise DataFormatError(f"duplicated product code {first!r} (rows "
                              f"{', '.join(map(str, rows[:5]))})", path=ppath,
                              line=int(rows[1]))
    x = _numeric_column(table.column("total_output").combine_chunks(), "total_output", ppath,
                        nonnegative=True)
    cols = resource_columns(names, labour, ppath)
    if cols:
        T = np.vstack([_numeric_column(table.column(c).combine_chunks(), c, ppath,
                                       nonnegative=True) for c in cols])
    else:
        T, cols = np.zeros((1, m)), ["none"]
    name = table.column("name").combine_chunks()
    if not (pa.types.is_string(name.type) or pa.types.is_large_string(name.type)
            or pa.types.is_null(name.type) or pa.types.is_dictionary(name.type)):
        raise DataFormatError(f"column 'name' must hold strings, not {name.type}", path=ppath)
    name = pc.fill_null(name.cast(pa.string()), "")
    names_arr = name.to_numpy(zero_copy_only=False).astype(object)
    if m == 0 or not pc.any(pc.greater(pc.utf8_length(name), 0)).as_py():
        names_arr = None
    units = _units(table.column("unit"), ppath) if "unit" in names else None
    return index, names_arr, x, T, cols, units


class _CodeIndex:
    """Product codes → indices: a hash table of the codes (also the duplicate check),
    and the mapping of the flows' per-row-group dictionaries to product indices."""

    def __init__(self, code):
        from lab._kernels.io_kernels import build_code_table, table_bits

        self.code = code
        self.m = len(code)
        self.idx_dtype = np.int32 if self.m < np.iinfo(np.int32).max else np.int64
        self.coff, self.cdata = _string_buffers(code)
        self.bits = table_bits(self.m)
        self.table = np.full(1 << self.bits, -1, dtype=np.int64)
        self.hashes = np.empty(self.m, dtype=np.uint64)
        self.duplicate = build_code_table(self.coff, self.cdata, self.bits, self.table,
                                          self.hashes)
        self.ordered = {}  # column name -> whether its dictionaries came in product order
        self.last = {}  # column name -> (key of the last dictionary, its mapping)

    def mapping(self, name, dictionary):
        """(product index of each entry of ``dictionary`` (pa.string()), -1 if unknown;
        the first index when they are consecutive, else -1)."""
        from lab._kernels.io_kernels import lookup_codes, map_ordered_dictionary, same_strings

        off, data = _string_buffers(dictionary)
        last = self.last.get(name)
        if last is not None and same_strings(*last[0], off, data):
            return last[1]  # the batches of a row group repeat its dictionary
        d = len(dictionary)
        out = np.empty(d, dtype=np.int64)
        done = 0
        if self.ordered.get(name, True):
            window = 32 + 8 * (self.m // max(d, 1))
            done = map_ordered_dictionary(self.table, self.bits, self.coff, self.cdata,
                                          self.hashes, off, data, out, window)
            if done < d and done < 0.99 * d:
                self.ordered[name] = False  # not lab's order: hash lookups from now on
        if done < d:
            lookup_codes(self.table, self.bits, self.coff, self.cdata, off, data, done,
                         out[done:])
        mapping = out.astype(self.idx_dtype)
        base = -1  # a contiguous range of products (lab's dictionaries): base + index
        if d and mapping[0] >= 0 and int(mapping[-1]) - int(mapping[0]) == d - 1 and (
                d == 1 or bool((np.diff(mapping) == 1).all())):
            base = int(mapping[0])
        self.last[name] = ((off, data), (mapping, base))
        return mapping, base


def _string_buffers(arr):
    """(offsets, data) ndarrays of a pa.string() or pa.large_string() array."""
    bufs = arr.buffers()
    otype = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    n = len(arr)
    offsets = np.frombuffer(bufs[1], dtype=otype)[arr.offset:arr.offset + n + 1] \
        if bufs[1] is not None else np.zeros(n + 1, dtype=otype)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None and bufs[2].size \
        else np.zeros(1, dtype=np.uint8)
    return offsets, data


def _dictionary_codes(col):
    """A code column as a DictionaryArray with pa.string() values, or None if it holds
    nulls or a type that is not a code (the caller then reports the exact error)."""
    t = col.type
    if pa.types.is_dictionary(t):
        if col.null_count or col.dictionary.null_count:
            return None
        vt = t.value_type
        if pa.types.is_string(vt):
            return col
        if pa.types.is_integer(vt) or pa.types.is_large_string(vt) or \
                pa.types.is_string_view(vt):
            return pa.DictionaryArray.from_arrays(col.indices, col.dictionary.cast(pa.string()))
        return None
    if col.null_count:
        return None
    if pa.types.is_integer(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        col = col.cast(pa.string())
    elif not pa.types.is_string(t):
        return None
    return pc.dictionary_encode(col)


def _prefetched(iterable, depth=1):
    """Iterate ``iterable`` in a background thread, ``depth`` items ahead.

    Arrow decodes the next record batches (releasing the GIL) while the caller's
    kernels (Numba, ``nogil``) map the current one: the two cores work at once. An
    exception of the iterator is raised here, at the item where it happened; if
    the caller stops early the thread is stopped and joined.
    """
    import queue
    import threading

    q = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce():
        try:
            for item in iterable:
                while not stop.is_set():
                    try:
                        q.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((done, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put((done, exc))

    thread = threading.Thread(target=produce, name="lab-parquet-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = q.get()
            if exc is not None:
                raise exc
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get(timeout=0.1)
            except queue.Empty:
                pass
        thread.join()


def _batch_error(batch, offset, code, fpath, negative):
    """Raise the first error of a record batch, in the order and words of the checks."""
    a = _codes_column(batch.column("input_code"), "input_code", fpath, offset)
    b = _codes_column(batch.column("output_code"), "output_code", fpath, offset)
    v = _numeric_column(batch.column("value"), "value", fpath, nonnegative=False,
                        offset=offset)
    neg = v < 0
    if negative == "error" and neg.any():
        k = int(np.argmax(neg))
        raise DataFormatError(
            f"negative flow {float(v[k])!r} from {a[k].as_py()!r} to "
            f"{b[k].as_py()!r}; pass negative='clip' to set them to 0",
            path=fpath, line=offset + k + 1)
    for name, col in (("input_code", a), ("output_code", b)):
        hit = pc.is_null(pc.index_in(col, value_set=code))
        if pc.any(hit).as_py():
            k = _first(hit)
            raise DataFormatError(f"{name} {col[k].as_py()!r} is not a product code of "
                                  "products.parquet", path=fpath, line=offset + k + 1)
    raise DataFormatError("flows name unknown product codes", path=fpath)  # pragma: no cover


def read_parquet_folder(directory, *, labour=None, negative="error", batch_size=1 << 23):
    """Read a Parquet folder (see the module docstring) into an :class:`~lab.Economy`."""
    from lab._kernels.io_kernels import check_values, gather_codes
    from lab.io._flows import check_units, economy_from_flows

    directory = Path(directory)
    if not directory.is_dir():
        raise DataFormatError("not a directory", path=directory)
    ppath, fpath = directory / "products.parquet", directory / "flows.parquet"
    index, names, x, T, cols, punits = _read_products(ppath, labour)
    code = index.code
    m = len(code)

    pf = _open(fpath)
    schema = pf.schema_arrow
    missing = [c for c in ("input_code", "output_code", "value") if c not in schema.names]
    if missing:
        raise DataFormatError(f"missing column(s) {', '.join(map(repr, missing))}; the file "
                              f"has {', '.join(map(repr, schema.names))}", path=fpath)
    has_unit = "unit" in schema.names
    read_cols = ["input_code", "output_code", "value"] + (["unit"] if has_unit else [])
    as_dict = [c for c in read_cols if c != "value" and (
        pa.types.is_string(schema.field(c).type) or pa.types.is_large_string(
            schema.field(c).type) or pa.types.is_binary(schema.field(c).type))]
    pf = _open(fpath, read_dictionary=as_dict or None, stream=True)
    n = pf.metadata.num_rows
    if n < 0:
        raise DataFormatError(f"the metadata declares {n} rows: corrupt", path=fpath)
    check_allocation(fpath, f"the metadata declares {n} flow rows", 16.0 * n,
                     file_bytes=fpath.stat().st_size)
    idx_dtype = np.int32 if max(m, n) < np.iinfo(np.int32).max else np.int64
    rows = np.empty(n, dtype=idx_dtype)
    colsj = np.empty(n, dtype=idx_dtype)
    value = np.empty(n, dtype=np.float64)

    n_neg, neg_total, neg_line = 0, 0.0, None
    funits = set()
    pos = 0
    try:
        for batch in _prefetched(pf.iter_batches(batch_size=batch_size, columns=read_cols,
                                                 use_threads=True)):
            k = batch.num_rows
            if pos + k > n:
                raise DataFormatError(f"more rows than the {n} the metadata declares",
                                      path=fpath)
            ok = True
            for name, out in (("input_code", rows), ("output_code", colsj)):
                d = _dictionary_codes(batch.column(name))
                if d is None or gather_codes(*index.mapping(name, d.dictionary),
                                             d.indices.to_numpy(), out[pos:pos + k]):
                    ok = False
                    break
            vcol = batch.column("value")
            vt = vcol.type
            if ok and not vcol.null_count and (pa.types.is_integer(vt) or
                                               pa.types.is_floating(vt) or
                                               pa.types.is_decimal(vt)):
                v = vcol.to_numpy(zero_copy_only=False)
                if v.dtype != np.float64:
                    v = v.astype(np.float64)
                bad, neg = check_values(v, value[pos:pos + k])
                ok = bad < 0 and not (neg and negative == "error")
            else:
                ok = False
            if not ok:
                _batch_error(batch, pos, code, fpath, negative)
            if neg:
                vs = value[pos:pos + k]
                mask = vs < 0
                if neg_line is None:
                    neg_line = pos + int(np.argmax(mask)) + 1
                n_neg += int(neg)
                neg_total += float(vs[mask].sum())
                vs[mask] = 0.0
            if has_unit:
                funits |= _units(batch.column("unit"), fpath)
            pos += k
            del batch, d, vcol, v  # each batch holds a copy of the row group's dictionaries
    except DataFormatError:
        raise
    except _ARROW_ERRORS as exc:
        raise DataFormatError(f"corrupt or truncated Parquet file near row {pos + 1} ({exc})",
                              path=fpath) from None
    if pos != n:
        raise DataFormatError(f"read {pos} flow rows but the metadata declares {n}", path=fpath)
    if n_neg:
        warnings.warn(f"{fpath}: {n_neg} negative flows (total "
                      f"{neg_total:.6g}, first on row {neg_line}) set to 0",
                      UserWarning, stacklevel=3)
    check_units(punits, ppath, funits if has_unit else None, fpath)
    del index, pf
    # the codes as Python str only now, once Arrow's batches are gone: a lower peak
    codes = code.to_numpy(zero_copy_only=False)
    del code
    return economy_from_flows(codes, names, x, T, cols, rows, colsj, value, ppath=ppath,
                              fpath=fpath, checked=True)


def write_parquet_folder(economy, directory, *, row_group_size: int = 1 << 27):
    """Write ``economy`` as ``products.parquet`` + ``flows.parquet`` (each atomically).

    Same columns as the csv folder (``total_output = 1``, so flows are the
    coefficients of A). The flows are written ``row_group_size`` rows at a time, in
    column order of A, without making a Python object per flow.
    """
    from lab.io._flows import economy_columns

    directory = Path(directory)
    codes, rn = economy_columns(economy)
    directory.mkdir(parents=True, exist_ok=True)
    code = pa.array(codes, type=pa.string())
    m = len(code)
    names = economy.names
    cols = {"code": code,
            "name": pa.array(names if names is not None else [""] * m, type=pa.string()),
            "total_output": pa.array(np.ones(m))}
    for q, name in enumerate(rn):
        cols[name] = pa.array(np.asarray(economy.R[q], dtype=np.float64))
    with atomic_path(directory / "products.parquet") as tmp:
        pq.write_table(pa.table(cols), tmp, row_group_size=row_group_size,
                       write_page_checksum=True)

    A = economy.A
    indptr, indices, data = A.indptr, A.indices, A.data
    # The code columns are written dictionary-encoded, one dictionary per row group,
    # with the codes in product order (the file schema stays plain strings): the
    # output codes of a row group are a contiguous range of products, so their
    # dictionary is that range of codes; the input codes are random, so their
    # dictionary is all the codes when the row group has at least m rows (the
    # default size makes one row group up to 2**27 flows), else the codes it uses.
    # A reader maps each dictionary to product indices once, by a merge with the
    # product codes (an identity or an offset for these dictionaries), and each
    # flow by integer arithmetic instead of a string lookup.
    dict_type = pa.dictionary(pa.int32(), pa.string())
    schema = pa.schema([("input_code", dict_type), ("output_code", dict_type),
                        ("value", pa.float64())])
    nnz = int(indptr[-1])
    seen = position = None
    with atomic_path(directory / "flows.parquet") as tmp:
        with pq.ParquetWriter(tmp, schema, write_page_checksum=True, store_schema=False,
                              use_dictionary=["input_code", "output_code"],
                              dictionary_pagesize_limit=1 << 30) as writer:
            for a in range(0, max(nnz, 1), row_group_size):
                b = min(a + row_group_size, nnz)
                if b <= a:
                    break
                c0 = int(np.searchsorted(indptr, a, side="right")) - 1
                c1 = int(np.searchsorted(indptr, b, side="left"))
                counts = np.diff(np.clip(indptr[c0:c1 + 1], a, b))
                rows = indices[a:b]
                if b - a >= m:
                    inputs = pa.DictionaryArray.from_arrays(
                        pa.array(rows.astype(np.int32, copy=False)), code)
                else:
                    if seen is None:
                        seen = np.zeros(m, dtype=bool)
                        position = np.empty(m, dtype=np.int32)
                    seen[rows] = True
                    used = np.flatnonzero(seen)
                    seen[used] = False
                    position[used] = np.arange(used.size, dtype=np.int32)
                    inputs = pa.DictionaryArray.from_arrays(pa.array(position[rows]),
                                                            pc.take(code, pa.array(used)))
                outputs = pa.DictionaryArray.from_arrays(
                    pa.array(np.repeat(np.arange(counts.size, dtype=np.int32), counts)),
                    code.slice(c0, counts.size))
                batch = pa.record_batch([inputs, outputs, pa.array(data[a:b])], schema=schema)
                writer.write_batch(batch, row_group_size=row_group_size)
    return directory
