"""Fuzzing read_economy on files lab wrote, then truncated, byte-edited or cell-edited,
in every format (and FIFOs in their place); each read runs in the sandbox.

What lab must do with an edited file: refuse it with its own error, or read exactly
what an independent reference reads (``_cases.read``): the original economy for the
checksummed formats (npz, Parquet, and csv folders under their manifest), the result
of a plain-Python parser for the text formats.
"""

from __future__ import annotations

import csv
import io
import math
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _fuzz import check, fuzz_settings
from _strategies import mutate_bytes, mutate_text
from hypothesis import given
from hypothesis import strategies as st

import lab

TARGET = {"csv": "e", "parquet": "e", "mtx": "e.mtx", "npz": "e.npz", "dense-csv": "e.csv"}
ODD = ["a,b", 'q"uote', " lead", "trail ", "ünï", "line\nbreak", "cr\rhere", "NA", "0007"]


def _economies():
    plain = lab.generate_economy(6, seed=3)
    odd = lab.Economy(plain.A, plain.R, codes=ODD[:6], resource_names=["labour", "é n", "x,y"])
    empty = lab.Economy(np.zeros((2, 2)), [1.0, 2.0], codes=["only", "two"])
    return {"plain": plain, "odd codes": odd, "no flows": empty}


def _written():
    """(format, economy) -> (files relpath -> bytes, data files, original)."""
    out = {}
    for name, economy in _economies().items():
        for fmt, target in TARGET.items():
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                lab.write_economy(economy, tmp / target, format=fmt)
                files = {str(p.relative_to(tmp)): p.read_bytes() for p in tmp.rglob("*")
                         if p.is_file()}
            data = sorted(k for k in files if not k.endswith("lab-manifest.json"))
            original = (list(economy.codes), economy.A.toarray(), np.array(economy.R),
                        tuple(economy.resource_names))
            out[fmt, name] = (files, data, original)
    return out


WRITTEN = _written()


def _payload(fmt, files, data, original, edited, **extra):
    unchanged = [k for k in files if k in edited and edited[k] == files[k]]
    return {"fmt": fmt, "files": edited, "data_files": data, "original": original,
            "unchanged": unchanged, "target": TARGET[fmt], **extra}


@fuzz_settings(weight=0.20, small=300)
@given(data=st.data(), fmt=st.sampled_from(list(TARGET)),
       which=st.sampled_from(list(_economies())))
def test_fuzz_edited_files(data, fmt, which):
    files, names, original = WRITTEN[fmt, which]
    edited = dict(files)
    for _ in range(data.draw(st.integers(1, 2))):
        key = data.draw(st.sampled_from(sorted(edited)))
        raw = edited[key]
        text_file = key.endswith((".csv", ".mtx"))
        if text_file and data.draw(st.booleans()):
            try:
                edited[key] = mutate_text(data.draw, raw.decode("utf-8")).encode("utf-8")
            except UnicodeDecodeError:
                edited[key] = mutate_bytes(data.draw, raw)
        else:
            edited[key] = mutate_bytes(data.draw, raw)
    if data.draw(st.integers(0, 4)) == 0:  # a folder edited by hand: no manifest
        edited.pop("e/lab-manifest.json", None)
    fifos = []
    if data.draw(st.integers(0, 19)) == 0:  # a FIFO where a file should be
        fifos = [data.draw(st.sampled_from(sorted(edited)))]
        edited.pop(fifos[0])
    payload = _payload(fmt, files, names, original, edited, fifos=fifos,
                       explicit=data.draw(st.booleans()))
    check("read_economy: edited files", "read", payload, timeout=60)


def _table_text(table) -> str:
    """A Parquet table as the CSV text the reference folder parser reads."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(table.column_names)
    for row in zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True):
        w.writerow(["\x00null" if v is None else (repr(v) if isinstance(v, float) else v)
                    for v in row])
    return out.getvalue()


@fuzz_settings(weight=0.06, small=80)
@given(data=st.data(), which=st.sampled_from(["products", "flows"]))
def test_fuzz_parquet_cells(data, which):
    """Cell edits of Parquet tables (NaN, inf, negative, unknown codes, nulls, swapped
    columns): an error, or what the reference reads from the same cells."""
    files, names, original = WRITTEN["parquet", "plain"]
    tables = {k: pq.read_table(io.BytesIO(files[f"e/{k}.parquet"]))
              for k in ("products", "flows")}
    cols = {n: tables[which].column(n).to_pylist() for n in tables[which].column_names}
    name = data.draw(st.sampled_from(list(cols)))
    k = data.draw(st.integers(0, len(cols[name]) - 1))
    numeric = name not in ("code", "name", "input_code", "output_code")
    pool = [math.nan, math.inf, -1.0, 0.0, 2.5, None, 1e308] if numeric else \
        ["", "Z", "P1", None, "P0"]
    cols[name][k] = data.draw(st.sampled_from(pool))
    if data.draw(st.booleans()) and len(cols) > 1:
        a, b = data.draw(st.permutations(list(cols)))[:2]
        cols[a], cols[b] = cols[b], cols[a]
    try:
        table = pa.table(cols)
    except (pa.ArrowException, TypeError, ValueError):
        return
    tables[which] = table
    edited = {}
    for key, t in tables.items():
        buf = io.BytesIO()
        pq.write_table(t, buf)
        edited[f"e/{key}.parquet"] = buf.getvalue()
    payload = _payload("parquet", files, names, original, edited,
                       reference_text={k: _table_text(t) for k, t in tables.items()})
    check("read_economy: parquet cells", "read", payload, timeout=60)
