"""Reader and writer for the Parquet folder layout: ``products.parquet`` + ``flows.parquet``.

The columns are those of the CSV layout (see :mod:`lab.io`): ``products.parquet``
has ``code`` (string), ``name`` (string), ``total_output`` (number), then one
numeric column per resource row (and an optional ``unit``); ``flows.parquet`` has
``input_code``, ``output_code`` (strings) and ``value`` (number), and optionally
``unit``. Integer code columns are read as their decimal strings.

Reading is memory-bounded and vectorised: the flows are streamed in record batches
(:meth:`pyarrow.parquet.ParquetFile.iter_batches`) through an Acero hash join whose
build side, the product codes, is hashed once; its output (two int indices and the
value per flow) fills COO arrays preallocated from the file's row count. No Python
object is made per flow. Working memory beyond the result is one batch plus the two
hash tables of the codes. The writer stores page checksums (CRC32) and the reader
verifies them, so a corrupted data page is an error, not a wrong value. Row
numbers in errors are 1-based data rows.
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
    uniq = pc.unique(pc.utf8_trim_whitespace(table_or_col.cast(pa.string())))
    return set(uniq.to_pylist())


def _open(path: Path):
    if not path.is_file():
        raise DataFormatError("file not found", path=path)
    try:
        return pq.ParquetFile(path, page_checksum_verification=True)
    except _ARROW_ERRORS as exc:
        raise DataFormatError(f"not a Parquet file, or corrupt or truncated ({exc})",
                              path=path) from None


def _read_products(ppath: Path, labour):
    from lab.io import resource_columns

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
    if m and len(pc.unique(code)) != m:
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
    return code, code.to_numpy(zero_copy_only=False).astype(object), names_arr, x, T, cols, units


def _locate_unknown(fpath: Path, code, batch_size):
    """Error path: the first flow row naming an unknown code, scanning in file order."""
    pf = pq.ParquetFile(fpath, page_checksum_verification=True)
    offset = 0
    for batch in pf.iter_batches(batch_size=batch_size, columns=["input_code", "output_code"]):
        for name in ("input_code", "output_code"):
            col = _codes_column(batch.column(name), name, fpath, offset)
            hit = pc.is_null(pc.index_in(col, value_set=code))
            if pc.any(hit).as_py():
                k = _first(hit)
                raise DataFormatError(f"{name} {col[k].as_py()!r} is not a product code of "
                                      "products.parquet", path=fpath, line=offset + k + 1)
        offset += batch.num_rows
    raise DataFormatError("flows name unknown product codes", path=fpath)  # pragma: no cover


def read_parquet_folder(directory, *, labour=None, negative="error", batch_size=1 << 20):
    """Read a Parquet folder (see the module docstring) into an :class:`~lab.Economy`."""
    import pyarrow.acero as ac

    from lab.io import check_units, economy_from_flows

    directory = Path(directory)
    if not directory.is_dir():
        raise DataFormatError("not a directory", path=directory)
    ppath, fpath = directory / "products.parquet", directory / "flows.parquet"
    code, codes, names, x, T, cols, punits = _read_products(ppath, labour)
    m = len(codes)

    pf = _open(fpath)
    schema = pf.schema_arrow
    missing = [c for c in ("input_code", "output_code", "value") if c not in schema.names]
    if missing:
        raise DataFormatError(f"missing column(s) {', '.join(map(repr, missing))}; the file "
                              f"has {', '.join(map(repr, schema.names))}", path=fpath)
    has_unit = "unit" in schema.names
    n = pf.metadata.num_rows
    idx_dtype = np.int32 if max(m, n) < np.iinfo(np.int32).max else np.int64
    rows = np.empty(n, dtype=idx_dtype)
    colsj = np.empty(n, dtype=idx_dtype)
    value = np.empty(n, dtype=np.float64)

    state = {"error": None, "neg": 0, "neg_total": 0.0, "neg_line": None, "funits": set()}
    out_schema = pa.schema([("input_code", pa.string()), ("output_code", pa.string()),
                            ("value", pa.float64())])
    read_cols = ["input_code", "output_code", "value"] + (["unit"] if has_unit else [])

    def batches():
        offset = 0
        try:
            for batch in pf.iter_batches(batch_size=batch_size, columns=read_cols):
                a = _codes_column(batch.column("input_code"), "input_code", fpath, offset)
                b = _codes_column(batch.column("output_code"), "output_code", fpath, offset)
                v = _numeric_column(batch.column("value"), "value", fpath, nonnegative=False,
                                    offset=offset)
                neg = v < 0
                if neg.any():
                    if negative == "error":
                        k = int(np.argmax(neg))
                        raise DataFormatError(
                            f"negative flow {float(v[k])!r} from {a[k].as_py()!r} to "
                            f"{b[k].as_py()!r}; pass negative='clip' to set them to 0",
                            path=fpath, line=offset + k + 1)
                    if state["neg_line"] is None:
                        state["neg_line"] = offset + int(np.argmax(neg)) + 1
                    state["neg"] += int(neg.sum())
                    state["neg_total"] += float(v[neg].sum())
                    v = np.where(neg, 0.0, v)
                if has_unit:
                    state["funits"] |= _units(batch.column("unit"), fpath)
                offset += batch.num_rows
                yield pa.record_batch([a, b, pa.array(v)], schema=out_schema)
        except DataFormatError as exc:
            state["error"] = exc
        except _ARROW_ERRORS as exc:
            state["error"] = DataFormatError(
                f"corrupt or truncated Parquet file near row {offset + 1} ({exc})", path=fpath)
        state["rows"] = offset

    key = pa.table({"code": code, "i": pa.array(np.arange(m, dtype=idx_dtype))})
    src = ac.Declaration("record_batch_reader_source", ac.RecordBatchReaderSourceNodeOptions(
        pa.RecordBatchReader.from_batches(out_schema, batches())))
    left_i = ac.Declaration("table_source", ac.TableSourceNodeOptions(
        key.rename_columns(["input_code", "i"])))
    left_j = ac.Declaration("table_source", ac.TableSourceNodeOptions(
        key.rename_columns(["output_code", "j"])))
    j1 = ac.Declaration("hashjoin", ac.HashJoinNodeOptions(
        "left outer", left_keys=["input_code"], right_keys=["input_code"],
        left_output=["output_code", "value"], right_output=["i"]), inputs=[src, left_i])
    j2 = ac.Declaration("hashjoin", ac.HashJoinNodeOptions(
        "left outer", left_keys=["output_code"], right_keys=["output_code"],
        left_output=["i", "value"], right_output=["j"]), inputs=[j1, left_j])
    pos = 0
    unknown = False
    try:
        for out in j2.to_reader(use_threads=True):
            k = out.num_rows
            if state["error"] is not None:
                break
            if pos + k > n:
                raise DataFormatError(f"more rows than the {n} the metadata declares",
                                      path=fpath)
            ci, cj = out.column("i"), out.column("j")
            if ci.null_count or cj.null_count:
                unknown = True
                break
            rows[pos:pos + k] = ci.to_numpy()
            colsj[pos:pos + k] = cj.to_numpy()
            value[pos:pos + k] = out.column("value").to_numpy()
            pos += k
    except DataFormatError:
        raise
    except _ARROW_ERRORS as exc:
        if state["error"] is None:
            raise DataFormatError(f"corrupt or truncated Parquet file ({exc})",
                                  path=fpath) from None
    if state["error"] is not None:
        raise state["error"]
    if unknown:
        _locate_unknown(fpath, code, batch_size)
    if pos != n:
        raise DataFormatError(f"read {pos} flow rows but the metadata declares {n}", path=fpath)
    if state["neg"]:
        warnings.warn(f"{fpath}: {state['neg']} negative flows (total "
                      f"{state['neg_total']:.6g}, first on row {state['neg_line']}) set to 0",
                      UserWarning, stacklevel=3)
    check_units(punits, ppath, state["funits"] if has_unit else None, fpath)
    return economy_from_flows(codes, names, x, T, cols, rows, colsj, value, ppath=ppath,
                              fpath=fpath)


def write_parquet_folder(economy, directory, *, row_group_size: int = 1 << 20):
    """Write ``economy`` as ``products.parquet`` + ``flows.parquet`` (each atomically).

    Same columns as the csv folder (``total_output = 1``, so flows are the
    coefficients of A). The flows are written ``row_group_size`` rows at a time, in
    column order of A, without making a Python object per flow.
    """
    from lab.io import economy_columns

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
    schema = pa.schema([("input_code", pa.string()), ("output_code", pa.string()),
                        ("value", pa.float64())])
    nnz = int(indptr[-1])
    with atomic_path(directory / "flows.parquet") as tmp:
        with pq.ParquetWriter(tmp, schema, write_page_checksum=True) as writer:
            for a in range(0, max(nnz, 1), row_group_size):
                b = min(a + row_group_size, nnz)
                if b <= a:
                    break
                c0 = int(np.searchsorted(indptr, a, side="right")) - 1
                c1 = int(np.searchsorted(indptr, b, side="left"))
                counts = np.diff(np.clip(indptr[c0:c1 + 1], a, b))
                jcol = np.repeat(np.arange(c0, c0 + counts.size), counts)
                batch = pa.record_batch([pc.take(code, pa.array(indices[a:b])),
                                         pc.take(code, pa.array(jcol)),
                                         pa.array(data[a:b])], schema=schema)
                writer.write_batch(batch, row_group_size=row_group_size)
    return directory
