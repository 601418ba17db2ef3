"""Hypothesis fuzzing of the economy readers with malformed files.

Each reader must either raise DataFormatError/InvalidEconomyError or return exactly
the economy a slow, obviously-correct reference parser (Python's csv module, float(),
dicts) gives for the same file. Any other exception, or a different economy, fails.
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lab
from lab.exceptions import InvalidEconomyError
from lab.io import read_economy, write_economy

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
TOKENS = ["", "nan", "inf", "-inf", "-1", "-0", "abc", "1e308", "1e400", "Z", "P0", "P1",
          "0", "2.5", " 3", "NA", '"', "1,2", "\n"]


class Rejected(Exception):
    """The reference parser refuses the file."""


def _num(s):
    try:
        v = float(s)
    except ValueError:
        raise Rejected(s) from None
    if not math.isfinite(v) or v < 0:
        raise Rejected(s)
    return v


def _rows(text):
    rows = list(csv.reader(io.StringIO(text, newline="")))
    while rows and all(c == "" for c in rows[-1]):
        rows.pop()
    if not rows:
        raise Rejected("empty")
    width = len(rows[0])
    for r in rows:  # like pandas' C parser: short lines are padded, long ones refused
        if len(r) > width or all(c == "" for c in r):
            raise Rejected("long or blank line")
        r.extend([""] * (width - len(r)))
    return rows


def reference_folder(products, flows):
    """(codes, A dense, R, resource names) of a products/flows pair, or Rejected."""
    head, *prows = _rows(products)
    if len(set(head)) != len(head) or not {"code", "name", "total_output"} <= set(head):
        raise Rejected("header")
    res = [c for c in head if c not in ("code", "name", "total_output", "unit")]
    if not res:
        raise Rejected("no resources")
    col = {c: k for k, c in enumerate(head)}
    codes = [r[col["code"]] for r in prows]
    if "" in codes or len(set(codes)) != len(codes):
        raise Rejected("codes")
    x = [_num(r[col["total_output"]]) for r in prows]
    T = [[_num(r[col[c]]) for r in prows] for c in res]
    fhead, *frows = _rows(flows)
    if not {"input_code", "output_code", "value"} <= set(fhead) or \
            len(set(fhead)) != len(fhead):
        raise Rejected("flows header")
    fc = {c: k for k, c in enumerate(fhead)}
    pos = {c: k for k, c in enumerate(codes)}
    m = len(codes)
    Z = np.zeros((m, m))
    for r in frows:
        a, b = r[fc["input_code"]], r[fc["output_code"]]
        if a not in pos or b not in pos:
            raise Rejected("unknown")
        Z[pos[a], pos[b]] += _num(r[fc["value"]])
    for units in ([r[col["unit"]].strip() for r in prows] if "unit" in col else None,
                  [r[fc["unit"]].strip() for r in frows] if "unit" in fc else None):
        if units is not None and len(set(units)) > 1:
            raise Rejected("units")
    keep = []
    for k in range(m):
        if x[k] == 0:
            if Z[:, k].any() or Z[k, :].any() or any(t[k] for t in T):
                raise Rejected("zero output")
        else:
            keep.append(k)
    A = np.array([[Z[i, j] / x[j] for j in keep] for i in keep]).reshape(len(keep), len(keep))
    R = np.array([[t[j] / x[j] for j in keep] for t in T])
    return [codes[k] for k in keep], A, R, tuple(res)


def reference_dense(text):
    rows = _rows(text)
    if rows[-1][0] != "#end" or any(rows[-1][1:]):
        raise Rejected("no #end line")
    rows = rows[:-1]
    if not rows:
        raise Rejected("empty")
    head = rows[0]
    if head[0].lstrip("\ufeff") != "code":
        raise Rejected("header")
    codes = head[1:]
    m = len(codes)
    if "" in codes or len(set(codes)) != m or len(rows) < m + 1:
        raise Rejected("codes")
    if [r[0] for r in rows[1:m + 1]] != codes:
        raise Rejected("row codes")
    A = np.array([[_num(c) for c in r[1:]] for r in rows[1:m + 1]]).reshape(m, m)
    rest = rows[m + 1:]
    if not rest:
        return codes, A, np.zeros((1, m)), ("none",)
    if rest[0][0] != "#resources" or len(rest) < 2:
        raise Rejected("resources")
    names = [r[0] for r in rest[1:]]
    if "" in names or "#resources" in names or len(set(names)) != len(names):
        raise Rejected("names")
    return codes, A, np.array([[_num(c) for c in r[1:]] for r in rest[1:]]), tuple(names)


def check(read, reference):
    """The reader's economy equals the reference's, or the reader raised our errors."""
    try:
        e = read()
    except InvalidEconomyError:
        return
    try:
        codes, A, R, names = reference()
    except Rejected as why:
        pytest.fail(f"reader accepted a file the reference rejects ({why})")
    assert list(e.codes) == list(codes)
    np.testing.assert_allclose(e.A.toarray(), A, rtol=1e-12, atol=0)
    np.testing.assert_allclose(e.R, R, rtol=1e-12, atol=0)
    assert e.resource_names == names


SMALL = lab.generate_economy(6, seed=3)


def _folder_text(tmp_path):
    d = tmp_path / "valid"
    if not d.exists():
        write_economy(SMALL, d, format="csv")
    return (d / "products.csv").read_text(), (d / "flows.csv").read_text()


def mutate(draw, text):
    kind = draw(st.sampled_from(["bytes", "truncate", "cell", "swap", "line"]))
    if kind == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    if kind == "bytes":
        k = draw(st.integers(0, len(text)))
        return text[:k] + draw(st.text(max_size=5)) + text[k + draw(st.integers(0, 3)):]
    lines = text.split("\n")
    li = draw(st.integers(0, max(len(lines) - 1, 0)))
    cells = lines[li].split(",")
    if kind == "cell":
        cells[draw(st.integers(0, len(cells) - 1))] = draw(st.sampled_from(TOKENS))
    elif kind == "swap" and len(cells) > 1:
        a, b = draw(st.integers(0, len(cells) - 1)), draw(st.integers(0, len(cells) - 1))
        if li == 0:  # swap two columns everywhere
            for k, line in enumerate(lines):
                cs = line.split(",")
                if max(a, b) < len(cs):
                    cs[a], cs[b] = cs[b], cs[a]
                lines[k] = ",".join(cs)
            return "\n".join(lines)
        cells[a], cells[b] = cells[b], cells[a]
    elif kind == "line":
        lines.insert(li, lines[draw(st.integers(0, len(lines) - 1))])
        return "\n".join(lines)
    lines[li] = ",".join(cells)
    return "\n".join(lines)


@SETTINGS
@given(data=st.data(), which=st.sampled_from(["products", "flows"]))
def test_fuzz_csv_folder(tmp_path_factory, data, which):
    tmp = tmp_path_factory.mktemp("csv")
    products, flows = _folder_text(tmp)
    if which == "products":
        products = mutate(data.draw, products)
    else:
        flows = mutate(data.draw, flows)
    d = tmp / "bad"
    d.mkdir()
    (d / "products.csv").write_text(products, newline="")
    (d / "flows.csv").write_text(flows, newline="")
    check(lambda: read_economy(d, format="csv"), lambda: reference_folder(products, flows))


@SETTINGS
@given(data=st.data())
def test_fuzz_dense_csv(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("dense")
    p = tmp / "e.csv"
    write_economy(SMALL, p)
    text = mutate(data.draw, p.read_text())
    p.write_text(text, newline="")
    check(lambda: read_economy(p, format="dense-csv"), lambda: reference_dense(text))


@SETTINGS
@given(data=st.data())
def test_fuzz_mtx(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("mtx")
    p = tmp / "e.mtx"
    write_economy(SMALL, p)
    target = data.draw(st.sampled_from([p, tmp / "e.resources.csv"]))
    target.write_text(mutate(data.draw, target.read_text()), newline="")
    try:
        e = read_economy(p, format="mtx")
    except InvalidEconomyError:
        return
    # accepted: the result must be a valid economy equal to a dense reading of the text
    M = np.zeros(e.A.shape)
    lines = [ln for ln in p.read_text().splitlines() if not ln.startswith("%") and ln.strip()]
    for ln in lines[1:]:
        i, j, v = ln.split()
        M[int(i) - 1, int(j) - 1] += float(v)
    np.testing.assert_allclose(e.A.toarray(), M, rtol=1e-12)
    assert np.isfinite(e.R).all() and (e.R >= 0).all()


@SETTINGS
@given(data=st.data(), which=st.sampled_from(["products", "flows"]))
def test_fuzz_parquet_cells(tmp_path_factory, data, which):
    """Cell edits (NaN/inf/negative/unknown codes/nulls/types) in Parquet tables."""
    tmp = tmp_path_factory.mktemp("pq")
    write_economy(SMALL, tmp / "e", format="parquet")
    t = pq.read_table(tmp / "e" / f"{which}.parquet")
    cols = {n: t.column(n).to_pylist() for n in t.column_names}
    name = data.draw(st.sampled_from(list(cols)))
    k = data.draw(st.integers(0, len(cols[name]) - 1))
    numeric = name not in ("code", "name", "input_code", "output_code")
    pool = [math.nan, math.inf, -1.0, 0.0, 2.5, None] if numeric else ["", "Z", "P1", None]
    cols[name][k] = data.draw(st.sampled_from(pool))
    if data.draw(st.booleans()) and len(cols) > 1:  # swap two columns' names
        a, b = data.draw(st.permutations(list(cols)))[:2]
        cols[a], cols[b] = cols[b], cols[a]
    try:
        table = pa.table(cols)
    except (pa.ArrowException, TypeError, ValueError):
        return
    pq.write_table(table, tmp / "e" / f"{which}.parquet")
    p, f = (pq.read_table(tmp / "e" / f"{n}.parquet") for n in ("products", "flows"))

    def to_csv(tab):
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(tab.column_names)
        for row in zip(*(tab.column(c).to_pylist() for c in tab.column_names), strict=True):
            w.writerow(["\x00null" if v is None else (repr(v) if isinstance(v, float) else v)
                        for v in row])
        return out.getvalue()

    check(lambda: read_economy(tmp / "e", format="parquet"),
          lambda: reference_folder(to_csv(p), to_csv(f)))


@SETTINGS
@given(data=st.data(), fmt=st.sampled_from(["parquet", "npz", "mtx", "csv", "dense-csv"]))
def test_fuzz_random_bytes(tmp_path_factory, data, fmt):
    """Byte flips and truncations of valid files: an error or the original economy."""
    tmp = tmp_path_factory.mktemp("bytes")
    path = tmp / {"csv": "e", "parquet": "e", "mtx": "e.mtx", "npz": "e.npz",
                  "dense-csv": "e.csv"}[fmt]
    write_economy(SMALL, path, format=fmt)
    files = sorted(p for p in ([path] if path.is_file() else path.iterdir()))
    target = data.draw(st.sampled_from(files))
    raw = bytearray(target.read_bytes())
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    else:
        for _ in range(data.draw(st.integers(1, 4))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    target.write_bytes(bytes(raw))
    try:
        e = read_economy(path, format=fmt)
    except InvalidEconomyError:
        return
    if fmt in ("csv", "dense-csv", "mtx"):
        return  # text formats: a byte edit can make another valid file (fuzzed above)
    assert (e.A != SMALL.A).nnz == 0
    np.testing.assert_array_equal(e.R, SMALL.R)
    assert list(e.codes) == list(SMALL.codes)
