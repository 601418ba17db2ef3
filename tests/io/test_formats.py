"""Every economy format round-trips, is detected by name and content, and bad data
raises DataFormatError naming the file."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SHARED_IO

import lab
from lab.exceptions import DataFormatError
from lab.io import FORMATS, detect_format, read_economy, write_economy
from lab.io._mtx import sidecar_path

NAMES = {"csv": "econ", "parquet": "econ", "mtx": "econ.mtx", "npz": "econ.npz",
         "dense-csv": "econ.csv"}


@pytest.fixture(scope="module")
def generated():
    return lab.generate_economy(2000, seed=1)


@pytest.fixture(scope="module")
def uk():
    return lab.read_economy(SHARED_IO / "uk-2010", format="csv")


def assert_same(e1, e2):
    assert e1.A.shape == e2.A.shape
    assert (e1.A != e2.A).nnz == 0
    np.testing.assert_array_equal(e1.R, e2.R)
    assert list(e1.codes) == list(e2.codes)
    assert e1.resource_names == e2.resource_names


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("which", ["generated", "uk"])
def test_round_trip(fmt, which, request, tmp_path):
    e = request.getfixturevalue(which)
    path = tmp_path / NAMES[fmt]
    write_economy(e, path, format=fmt)
    assert_same(read_economy(path, format=fmt), e)
    assert_same(read_economy(path), e)  # detected by name
    assert not list(tmp_path.rglob(".*.tmp"))  # atomic writers leave no temporaries


@pytest.mark.parametrize("fmt", FORMATS)
def test_detect_by_name(fmt, tmp_path, uk):
    path = tmp_path / NAMES[fmt]
    assert detect_format(path, for_writing=True) == fmt if fmt != "parquet" else True
    write_economy(uk, path, format=fmt)
    assert detect_format(path) == fmt


@pytest.mark.parametrize("fmt", ["mtx", "npz", "dense-csv"])
def test_detect_by_content(fmt, tmp_path, uk):
    path = tmp_path / NAMES[fmt]
    write_economy(uk, path, format=fmt)
    renamed = tmp_path / "economy.data"
    shutil.move(path, renamed)
    assert detect_format(renamed) == fmt
    if fmt == "mtx":  # the sidecar goes with it; without it the codes would be lost
        with pytest.raises(DataFormatError, match="economy.data.resources.csv is missing.*"
                                                  "econ.resources.csv"):
            read_economy(renamed)
        shutil.move(sidecar_path(path), sidecar_path(renamed))
    e = read_economy(renamed)
    assert list(e.codes) == list(uk.codes)
    assert (e.A != uk.A).nnz == 0


def test_parquet_folder_small_batches(tmp_path, generated):
    write_economy(generated, tmp_path / "p", format="parquet", row_group_size=1000)
    assert pq.ParquetFile(tmp_path / "p" / "flows.parquet").metadata.num_row_groups > 10
    assert_same(read_economy(tmp_path / "p", batch_size=777), generated)


def test_detected_csv_matches_explicit_format():
    for table in ("uk-2010", "germany-1995"):
        assert_same(read_economy(SHARED_IO / table), read_economy(SHARED_IO / table, format="csv"))


def test_unknown_format(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(b"\x00\x01garbage")
    with pytest.raises(DataFormatError, match="x.bin"):
        read_economy(p)
    with pytest.raises(ValueError):
        read_economy(p, format="xlsx")


# --------------------------------------------------------------------------- bad data

PRODUCTS = "code,name,total_output,hours_worked\nA,a,10,1\nB,b,20,2\nC,c,5,1\n"
FLOWS = "input_code,output_code,value\nA,B,1\nB,C,2\nC,A,0.5\n"


def make_folder(tmp_path, fmt, products=PRODUCTS, flows=FLOWS):
    """A csv or parquet folder from CSV text (parquet: the same table, values numeric
    where they parse, else strings)."""
    d = tmp_path / fmt
    d.mkdir()
    if fmt == "csv":
        (d / "products.csv").write_text(products)
        (d / "flows.csv").write_text(flows)
        return d
    import io as _io
    for name, text in (("products", products), ("flows", flows)):
        df = pd.read_csv(_io.StringIO(text), dtype=str, keep_default_na=False)
        for c in df.columns:
            if c in ("total_output", "hours_worked", "value"):
                try:
                    df[c] = df[c].astype(float)
                except ValueError:
                    pass
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), d / f"{name}.parquet")
    return d


BAD = {
    "unknown code": (PRODUCTS, FLOWS + "A,Z,1\n", "flows", "'Z'"),
    "duplicated code": (PRODUCTS + "B,b2,3,1\n", FLOWS, "products", "'B'"),
    "negative flow": (PRODUCTS, FLOWS + "A,C,-1\n", "flows", "negative"),
    "non-numeric flow": (PRODUCTS, FLOWS + "A,C,abc\n", "flows", "value"),
    "nan flow": (PRODUCTS, FLOWS + "A,C,nan\n", "flows", "finite|null"),
    "zero output with inputs": (PRODUCTS + "D,d,0,0\n", FLOWS + "A,D,1\n", "products",
                                "'D'.*zero"),
    "mismatched units": (PRODUCTS.replace("hours_worked\n", "hours_worked,unit\n")
                         .replace(",1\n", ",1,EUR\n").replace(",2\n", ",2,EUR\n"),
                         FLOWS.replace("value\n", "value,unit\n").replace("1\n", "1,USD\n")
                         .replace("2\n", "2,USD\n").replace("0.5\n", "0.5,USD\n"),
                         "flows", "unit"),
    "truncated line": (PRODUCTS, FLOWS + "A,", "flows", "empty|truncated"),
}


# A truncated line only exists in text; truncated Parquet files are in test_truncated_files.
BAD_CASES = [(fmt, case) for fmt in ("csv", "parquet") for case in BAD
             if not (fmt == "parquet" and case == "truncated line")]


@pytest.mark.parametrize("fmt, case", BAD_CASES)
def test_bad_data(fmt, case, tmp_path):
    products, flows, where, match = BAD[case]
    d = make_folder(tmp_path, fmt, products, flows)
    with pytest.raises(DataFormatError, match=match) as info:
        read_economy(d)
    assert f"{where}.{fmt}" in str(info.value)


def test_bad_data_lines(tmp_path):
    d = make_folder(tmp_path, "csv", flows=FLOWS + "A,Z,1\n")
    with pytest.raises(DataFormatError) as info:
        read_economy(d)
    assert info.value.line == 5


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_files(fmt, tmp_path, uk):
    path = tmp_path / NAMES[fmt]
    write_economy(uk, path, format=fmt)
    files = sorted(p for p in ([path] if path.is_file() else path.iterdir()) if p.is_file())
    big = max(files, key=lambda p: p.stat().st_size)
    data = big.read_bytes()
    big.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError) as info:
        read_economy(path, format=fmt)
    assert big.name in str(info.value) or str(path) in str(info.value)


def test_mtx_bad_entries(tmp_path):
    p = tmp_path / "a.mtx"
    p.write_text("%%MatrixMarket matrix coordinate real general\n2 2 2\n1 2 0.5\n2 1 -1\n")
    with pytest.raises(DataFormatError, match=r"a\.mtx.*negative"):
        read_economy(p)
    p.write_text("%%MatrixMarket matrix coordinate real general\n2 3 1\n1 2 0.5\n")
    with pytest.raises(DataFormatError, match="square"):
        read_economy(p)
    p.write_text("%%MatrixMarket matrix coordinate real general\n2 2 1\n1 2 0.5\n")
    (tmp_path / "a.resources.csv").write_text("code,labour\nX,1\nX,2\n")
    with pytest.raises(DataFormatError, match=r"a\.resources\.csv.*'X'"):
        read_economy(p)


@pytest.mark.parametrize("text,match", [
    ("code,A,B\nA,0,1\nB,0.5,-1\n#end\n", "negative"),
    ("code,A,B\nA,0,1\nB,0.5,x\n#end\n", "finite"),
    ("code,A,A\nA,0,1\nA,0.5,0\n#end\n", "duplicated"),
    ("code,A,B\nA,0,1\nC,0.5,0\n#end\n", "row code 'C'"),
    ("code,A,B\nA,0,1\n#end\n", "truncated"),
    ("code,A,B\nA,0,1\nB,0.5,0\n#resources\n#end\n", "no resource rows"),
    # issue 11, item 8: cut at a line boundary, losing the energy row and #end
    ("code,A,B\nA,0,1\nB,0.5,0\n#resources\nlabour,1,2\n", "line 5.*not '#end'.*truncated"),
    ("code,A,B\nA,0,1\nB,0.5,0\n", "line 3.*truncated"),
])
def test_dense_bad(text, match, tmp_path):
    p = tmp_path / "d.csv"
    p.write_text(text)
    with pytest.raises(DataFormatError, match=match) as info:
        read_economy(p)
    assert "d.csv" in str(info.value)


def test_dense_layout(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("code,A,B\nA,0,1\nB,0.5,0\n#resources\nlabour,1,2\nland,0,3\n#end\n\n")
    e = read_economy(p)
    np.testing.assert_array_equal(e.A.toarray(), [[0, 1], [0.5, 0]])
    np.testing.assert_array_equal(e.R, [[1, 2], [0, 3]])
    assert e.resource_names == ("labour", "land")


def test_negative_clip(tmp_path):
    for fmt in ("csv", "parquet"):
        d = make_folder(tmp_path, fmt, flows=FLOWS + "A,C,-1\n")
        with pytest.warns(UserWarning, match="negative"):
            e = read_economy(d, negative="clip")
        assert e.A[0, 2] == 0


def test_units_agree(tmp_path):
    products = PRODUCTS.replace("hours_worked\n", "hours_worked,unit\n").replace(
        ",1\n", ",1,EUR\n").replace(",2\n", ",2,EUR\n")
    for fmt in ("csv", "parquet"):
        d = make_folder(tmp_path, fmt, products=products)
        assert read_economy(d).resource_names == ("hours_worked",)


# --------------------------------------------------------------------------- odd labels
# Issue 11, item 11: what lab writes it can read. Codes and resource names with blanks,
# line breaks, quotes, commas, Unicode... either read back exactly, or the writer refuses
# them with a clear ValueError before anything is written.

ODD_LABELS = ["", "a\rb", "a\nb", "a\r\nb", "\r", "\n", "a,b", 'a"b', "'", " lead",
              "trail ", " ", "\t", "ünï", "日本", "NA", "nan", "null", "1e5", "code", "#end",
              "#resources", "\ufeffbom", "x\x1fy", "\u2028", "\x85", "a\x00b", "\x00"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("where", ["code", "resource", "name"])
def test_odd_labels_round_trip_or_are_refused_at_write_time(tmp_path, fmt, where):
    base = lab.generate_economy(3, seed=1)
    refused = {}
    for k, odd in enumerate(ODD_LABELS):
        codes, names, rn = ["b0", "c0", "d0"], ["x", "y", "z"], ["labour", "r1", "r2"]
        {"code": codes, "resource": rn, "name": names}[where][1] = odd
        economy = lab.Economy(base.A, base.R, codes=codes, names=names, resource_names=rn)
        path = tmp_path / f"{k}" / NAMES[fmt]
        try:
            write_economy(economy, path, format=fmt)
        except ValueError as exc:
            refused[odd] = str(exc)
            assert not path.exists()
            continue
        back = read_economy(path, format=fmt)
        assert list(back.codes) == codes, (odd, list(back.codes))
        assert back.resource_names == tuple(rn), (odd, back.resource_names)
        if fmt not in ("mtx", "dense-csv"):  # formats that store names
            assert list(back.names) == names, (odd, list(back.names))
        assert (back.A != economy.A).nnz == 0 and np.array_equal(back.R, economy.R)
    # only what a format cannot hold is refused, and the message says what
    allowed = {"": "empty"}
    if fmt == "dense-csv":
        allowed.update({"#end": "marks a section", "#resources": "marks a section"})
    if fmt in ("csv", "parquet", "mtx") and where == "resource":
        allowed["code"] = "clash"
    if fmt == "npz":
        allowed["\x00"] = "NUL"
    if where == "name":
        allowed.pop("", None)  # an empty name is no name, and a name need not be unique
        allowed.pop("#end", None)
        allowed.pop("#resources", None)
    assert set(refused) == set(allowed), refused
    for odd, needle in allowed.items():
        assert needle in refused[odd]
