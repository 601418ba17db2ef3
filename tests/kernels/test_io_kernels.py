"""The reader kernels (lab._kernels.io_kernels) against obvious references (dicts,
scipy.sparse), and the Parquet reader on files lab did not write."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
from lab._kernels import io_kernels as K

import lab
from lab.exceptions import DataFormatError
from lab.io import read_economy, write_economy
from lab.io._flows import flows_to_csc
from lab.io._parquet import _string_buffers

IDX = [np.int32, np.int64]


def codes_array(n, seed=0):
    rng = np.random.default_rng(seed)
    words = ["P", "Ä", "x" * 9, "code-", "ζ", "0"]
    out = {f"{rng.choice(words)}{rng.integers(0, 10 * n)}" for _ in range(3 * n)}
    return pa.array(sorted(out)[:n], type=pa.string())


def table_of(code):
    off, data = _string_buffers(code)
    bits = K.table_bits(len(code))
    table = np.full(1 << bits, -1, dtype=np.int64)
    hashes = np.empty(len(code), dtype=np.uint64)
    dup = K.build_code_table(off, data, bits, table, hashes)
    return off, data, bits, table, hashes, dup


@pytest.mark.parametrize("large", [False, True], ids=["string", "large_string"])
@pytest.mark.parametrize("n", [0, 1, 7, 3000])
def test_lookup_codes(n, large):
    code = codes_array(n)
    off, data, bits, table, _, dup = table_of(code)
    assert dup == -1
    pos = {c: k for k, c in enumerate(code.to_pylist())}
    rng = np.random.default_rng(1)
    keys = [code[int(k)].as_py() for k in rng.integers(0, max(n, 1), 50)] if n else []
    keys += ["", "nope", "P", "Ä1"]
    arr = pa.array(keys, type=pa.large_string() if large else pa.string())
    doff, ddata = _string_buffers(arr)
    for lo in (0, 3):
        out = np.empty(len(keys) - lo, dtype=np.int64)
        missing = K.lookup_codes(table, bits, off, data, doff, ddata, lo, out)
        want = [pos.get(c, -1) for c in keys[lo:]]
        assert out.tolist() == want
        assert missing == sum(w < 0 for w in want)


def test_duplicate_codes():
    code = pa.array(["a", "b", "c", "b"])
    assert table_of(code)[-1] in (1, 3)
    code = pa.array([f"P{i}" for i in range(5000)] + ["P77"])
    assert table_of(code)[-1] in (77, 5000)


def test_map_ordered_dictionary():
    code = codes_array(2000, seed=3)
    off, data, bits, table, hashes, _ = table_of(code)
    rng = np.random.default_rng(2)
    used = np.flatnonzero(rng.random(2000) < 0.1)
    used = np.concatenate([used, [1999]]) if used[-1] != 1999 else used
    d = code.take(pa.array(used))
    doff, ddata = _string_buffers(d)
    out = np.empty(len(d), dtype=np.int64)
    for window in (1, 4, 10_000):  # small windows fall back to the table, in order
        assert K.map_ordered_dictionary(table, bits, off, data, hashes, doff, ddata, out,
                                        window) == len(d)
        np.testing.assert_array_equal(out, used)
    # the order breaks at entry 3 (an earlier code), or at an unknown code
    for bad in (code[int(used[0])].as_py(), "not a code"):
        keys = d.to_pylist()[:3] + [bad] + d.to_pylist()[3:]
        doff, ddata = _string_buffers(pa.array(keys))
        out = np.empty(len(keys), dtype=np.int64)
        assert K.map_ordered_dictionary(table, bits, off, data, hashes, doff, ddata, out,
                                        8) == 3


def reference_csc(i, j, v, m):
    Z = sp.coo_array((v, (i, j)), shape=(m, m)).tocsc()
    Z.sum_duplicates()
    Z.eliminate_zeros()
    return Z


@pytest.mark.parametrize("dtype", IDX, ids=["int32", "int64"])
@pytest.mark.parametrize("order", ["csc", "random"])
def test_flows_to_csc(dtype, order):
    rng = np.random.default_rng(5)
    m, n = 300, 4000
    i = rng.integers(0, m, n).astype(dtype)
    j = rng.integers(0, m, n).astype(dtype)
    v = rng.random(n)
    v[rng.random(n) < 0.05] = 0.0
    if order == "csc":  # lab's order: by column, rows increasing, no duplicates
        ref = reference_csc(i, j, v, m)
        j = np.repeat(np.arange(m), np.diff(ref.indptr)).astype(dtype)
        i, v = ref.indices.astype(dtype), ref.data.copy()
        v[::7] = 0.0
    ref = reference_csc(i, j, v, m)
    Z = flows_to_csc(i.copy(), j.copy(), v.copy(), m)
    assert Z.has_canonical_format
    assert Z.indices.dtype == np.int32 and Z.indptr.dtype == np.int32
    np.testing.assert_array_equal(Z.indptr, ref.indptr)
    np.testing.assert_array_equal(Z.indices, ref.indices)
    np.testing.assert_allclose(Z.data, ref.data, rtol=1e-15)
    assert (Z.data != 0).all()


def test_flows_to_csc_empty():
    z = np.zeros(0, dtype=np.int32)
    Z = flows_to_csc(z, z, np.zeros(0), 4)
    assert Z.shape == (4, 4) and Z.nnz == 0 and Z.indptr.tolist() == [0] * 5


def test_scale_columns_and_values():
    rng = np.random.default_rng(0)
    A = sp.random_array((50, 50), density=0.2, format="csc", random_state=rng)
    x = rng.random(50) + 0.1
    data = A.data.copy()
    assert K.scale_columns(A.indptr, data, x) == 0
    np.testing.assert_array_equal(data, A.data / np.repeat(x, np.diff(A.indptr)))
    out = np.empty(5)
    assert K.check_values(np.array([1.0, -2.0, 3.0, -0.5, 0.0]), out) == (-1, 2)
    assert K.check_values(np.array([1.0, np.inf, np.nan]), out[:3])[0] == 1


# --------------------------------------------------------------------------- Parquet


def foreign_folder(tmp_path, e, *, shuffle, kind="string", row_group_size=None, dup=False):
    """A Parquet folder as another program would write it: plain columns, any order."""
    d = tmp_path / f"foreign-{kind}-{shuffle}"
    d.mkdir()
    codes = np.asarray(e.codes, dtype=object)
    cols = {"code": pa.array(codes), "name": pa.array([""] * len(codes)),
            "total_output": pa.array(np.ones(len(codes)))}
    for q, name in enumerate(e.resource_names):
        cols[name] = pa.array(e.R[q])
    pq.write_table(pa.table(cols), d / "products.parquet")
    A = e.A.tocoo()
    i, j, v = A.row, A.col, A.data
    if dup:  # split every flow in two halves: duplicates to sum
        i, j, v = np.concatenate([i, i]), np.concatenate([j, j]), np.concatenate([v, v]) / 2
    if shuffle:
        p = np.random.default_rng(0).permutation(i.size)
        i, j, v = i[p], j[p], v[p]
    typ = {"string": pa.string(), "large": pa.large_string()}[kind]
    t = pa.table({"input_code": pa.array(codes[i], type=typ),
                  "output_code": pa.array(codes[j], type=typ), "value": pa.array(v)})
    pq.write_table(t, d / "flows.parquet", use_dictionary=False,
                   row_group_size=row_group_size)
    return d


@pytest.mark.parametrize("kind", ["string", "large"])
@pytest.mark.parametrize("shuffle", [False, True], ids=["sorted", "shuffled"])
def test_foreign_parquet(tmp_path, kind, shuffle):
    e = lab.generate_economy(800, seed=2)
    d = foreign_folder(tmp_path, e, shuffle=shuffle, kind=kind, row_group_size=1000)
    e2 = read_economy(d, batch_size=700)
    assert (e2.A != e.A).nnz == 0
    np.testing.assert_array_equal(e2.R, e.R)
    assert list(e2.codes) == list(e.codes)


def test_foreign_parquet_duplicates(tmp_path):
    e = lab.generate_economy(300, seed=4)
    d = foreign_folder(tmp_path, e, shuffle=True, dup=True)
    e2 = read_economy(d)
    np.testing.assert_allclose(e2.A.toarray(), e.A.toarray(), rtol=1e-15)


def test_lab_parquet_layout(tmp_path):
    """lab writes one dictionary per row group, codes in product order, plain schema."""
    e = lab.generate_economy(500, seed=1)
    write_economy(e, tmp_path / "p", format="parquet", row_group_size=1000)
    pf = pq.ParquetFile(tmp_path / "p" / "flows.parquet", read_dictionary=["input_code"])
    assert pq.read_schema(tmp_path / "p" / "flows.parquet").field("input_code").type \
        == pa.string()
    index = {c: k for k, c in enumerate(e.codes)}
    for k in range(pf.metadata.num_row_groups):
        dictionary = pf.read_row_group(k, columns=["input_code"]).column(0).chunk(0).dictionary
        pos = [index[c] for c in dictionary.to_pylist()]
        assert pos == sorted(pos)


def test_unknown_code_in_a_later_row_group(tmp_path):
    e = lab.generate_economy(300, seed=1)
    d = foreign_folder(tmp_path, e, shuffle=False, row_group_size=500)
    t = pq.read_table(d / "flows.parquet")
    col = t.column("input_code").to_pylist()
    col[1234] = "nowhere"
    t = t.set_column(0, "input_code", pa.array(col))
    pq.write_table(t, d / "flows.parquet", row_group_size=500)
    with pytest.raises(DataFormatError, match="'nowhere' is not a product code") as info:
        read_economy(d, batch_size=300)
    assert info.value.line == 1235


def test_null_code_in_dictionary_column(tmp_path):
    e = lab.generate_economy(50, seed=1)
    write_economy(e, tmp_path / "p", format="parquet")
    t = pq.read_table(tmp_path / "p" / "flows.parquet", read_dictionary=["output_code"])
    col = t.column("output_code").combine_chunks()
    mask = np.zeros(len(col), dtype=bool)
    mask[7] = True
    col = pa.DictionaryArray.from_arrays(pa.array(col.indices.to_numpy(), mask=mask),
                                         col.dictionary)
    pq.write_table(t.set_column(1, "output_code", col), tmp_path / "p" / "flows.parquet")
    with pytest.raises(DataFormatError, match="'output_code' is missing") as info:
        read_economy(tmp_path / "p")
    assert info.value.line == 8


def test_codes_checked_once(tmp_path, monkeypatch):
    """The Parquet reader checks the codes with Arrow and nothing checks them again."""
    import lab._validation as v
    from lab import economy as economy_module
    from lab.io import _flows as io_module

    e = lab.generate_economy(100, seed=1)
    write_economy(e, tmp_path / "p", format="parquet")
    calls = []
    orig = v.check_labels
    monkeypatch.setattr(v, "check_labels", lambda *a, **k: calls.append(a[0]) or orig(*a, **k))
    monkeypatch.setattr(economy_module, "check_labels", v.check_labels)
    monkeypatch.setattr(io_module, "check_labels", v.check_labels)
    read_economy(tmp_path / "p")
    assert "codes" not in calls
    calls.clear()
    lab.Economy.from_flows(e.A, np.ones(100), e.R, codes=list(e.codes))
    assert calls.count("codes") == 1
