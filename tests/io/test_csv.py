"""The csv folder reader (products.csv + flows.csv) against pandas and hand-made tables."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import SHARED_IO

import lab
from lab.exceptions import DataFormatError, EfficiencyWarning, InvalidEconomyError

DATA = SHARED_IO
TABLES = sorted(p.name for p in DATA.iterdir() if p.is_dir()) if DATA.is_dir() else []


def readme_A(d: Path, clip: bool = False):
    """The README's pandas snippet."""
    S = {"code": str, "input_code": str, "output_code": str}
    p, f = (
        pd.read_csv(d / n, dtype=S, keep_default_na=False) for n in ("products.csv", "flows.csv")
    )
    ix, x = pd.Index(p.code), p.total_output.to_numpy(float)
    i, j = ix.get_indexer(f.input_code), ix.get_indexer(f.output_code)
    v = f.value.to_numpy(float)
    if clip:
        v = np.maximum(v, 0)
    A = sp.csc_matrix((v / x[j], (i, j)), shape=(len(p), len(p)))
    return A, p


@pytest.mark.skipif(not TABLES, reason="shared data not available")
@pytest.mark.parametrize("table", TABLES)
def test_from_csv_real_tables(table):
    d = DATA / table
    kw = {}
    if table == "usa-2017-bea-detail":
        match = r"flows\.csv, line \d+: negative flow.*30 negative"
        with pytest.raises(DataFormatError, match=match):
            lab.read_economy(d, format="csv")
        kw["negative"] = "clip"
    if table == "world-2011-wiod":
        with pytest.raises(DataFormatError, match="no labour column.*code, name, total_output"):
            lab.read_economy(d, format="csv")
        kw["labour"] = "none"
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        e = lab.read_economy(d, format="csv", **kw)
    assert not [x for x in w if issubclass(x.category, EfficiencyWarning)]
    if kw.get("negative") == "clip":
        assert any("30 negative flows" in str(x.message) for x in w)
    A, p = readme_A(d, clip=bool(kw))
    assert e.n_products == len(p)
    assert list(e.codes) == list(p.code)
    assert list(e.names) == list(p.name)
    np.testing.assert_allclose(e.A.toarray(), A.toarray(), rtol=1e-14, atol=0)
    x = p.total_output.to_numpy(float)
    cols = [c for c in ("hours_worked", "employment", "compensation") if c in p.columns]
    if cols:
        assert e.resource_names == tuple(cols)
        np.testing.assert_allclose(e.labour, p[cols[0]].to_numpy(float) / x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            e2 = lab.read_economy(d, format="csv", labour=cols[-1], **kw)
        assert e2.resource_names[0] == cols[-1]
        np.testing.assert_allclose(e2.labour, p[cols[-1]].to_numpy(float) / x)
    else:
        assert e.resource_names == ("none",)


PRODUCTS = "code,name,total_output,hours_worked\n01,first,100,10\n02,second,50,5\nNA,third,20,2\n"
FLOWS = "input_code,output_code,value\n01,01,10\n01,02,5\n02,01,20\nNA,02,4\n"


def write(tmp_path, products=PRODUCTS, flows=FLOWS):
    (tmp_path / "products.csv").write_text(products)
    if flows is not None:
        (tmp_path / "flows.csv").write_text(flows)
    return tmp_path


def test_from_csv_small(tmp_path):
    e = lab.read_economy(write(tmp_path), format="csv")
    assert list(e.codes) == ["01", "02", "NA"]  # strings, leading zeros, NA not missing
    Z = np.array([[10, 5, 0], [20, 0, 0], [0, 4, 0]], dtype=float)
    np.testing.assert_allclose(e.A.toarray(), Z / np.array([100, 50, 20.0]))
    np.testing.assert_allclose(e.labour, [0.1, 0.1, 0.1])
    assert e.resource_names == ("hours_worked",)


def test_from_csv_zero_output_dropped(tmp_path):
    e = lab.read_economy(write(tmp_path, PRODUCTS + "04,idle,0,0\n"), format="csv")
    assert e.dropped == ("04",) and e.n_products == 3


def test_from_csv_clip(tmp_path):
    d = write(tmp_path, flows=FLOWS + "02,02,-3\n02,NA,-1\n")
    with pytest.warns(UserWarning, match="2 negative flows \\(total -4"):
        e = lab.read_economy(d, format="csv", negative="clip")
    assert e.A.toarray()[1, 1] == 0 and e.A.toarray()[1, 2] == 0


BAD_CSV = [
    # (products, flows, file, match)
    (PRODUCTS, "input_code,output_code,value\n01,01,10\n01,02,5\n02,01", "flows.csv", "line 4"),
    (PRODUCTS, "input_code,output_code,value\n01,01,10\n01,02,", "flows.csv",
     "line 3.*no line end.*truncated"),
    (PRODUCTS, "input_code,output_code,value\n01,01,10\n01,02,5\n02,01,2", "flows.csv",
     "line 4.*no line end.*truncated"),
    (PRODUCTS, FLOWS + "01,02,", "flows.csv", "line 6.*no line end"),
    (PRODUCTS, 'input_code,output_code,value\n01,01,10\n"01,02,5\n', "flows.csv", "line 3"),
    (PRODUCTS, FLOWS + "01,02,3,7\n", "flows.csv", "line 6"),
    (PRODUCTS, FLOWS + "01,99,3\n", "flows.csv", "line 6.*'99'"),
    (PRODUCTS, FLOWS + "77,01,3\n", "flows.csv", "line 6.*input_code '77'"),
    (PRODUCTS + "02,again,5,1\n", FLOWS, "products.csv", "line 5.*duplicated.*'02'"),
    (PRODUCTS, FLOWS.replace("20", "2o"), "flows.csv", "line 4.*'2o'"),
    (PRODUCTS.replace("50,5", "50,five"), FLOWS, "products.csv", "line 3.*hours_worked"),
    (PRODUCTS.replace("50,5", "nan,5"), FLOWS, "products.csv", "line 3.*total_output"),
    (PRODUCTS, FLOWS + "02,02,-3\n", "flows.csv", "line 6.*negative flow -3.0 from '02' to '02'"),
    (PRODUCTS.replace(",total_output", ",output"), FLOWS, "products.csv", "line 1.*'total_output'"),
    (PRODUCTS, FLOWS.replace("value", "amount"), "flows.csv", "line 1.*missing.*'value'"),
    (PRODUCTS.replace("NA,third,20,2", "NA,third,0,0"), FLOWS, "products.csv",
     "line 4.*'NA'.*is used as an input but zero total output"),
    (PRODUCTS.replace("02,second,50,5", "02,second,0,0"), FLOWS.replace("02,01,20\n", ""),
     "products.csv", "line 3.*'02'.*has inputs but zero total output"),
    (PRODUCTS + "05,idle,0,0\n", FLOWS + "05,01,1\n", "products.csv",
     "line 5.*'05'.*used as an input"),
    (PRODUCTS.replace("50,5", "-50,5"), FLOWS, "products.csv", "line 3.*negative"),
    (PRODUCTS, FLOWS.replace("01,02,5\n", "01,02,5\n\n"), "flows.csv", "line 4.*blank"),
    ("", FLOWS, "products.csv", "empty"),
    (PRODUCTS, None, "flows.csv", "not found"),
    (PRODUCTS.replace("\n02,", "\n,"), FLOWS, "products.csv", "line 3.*empty 'code'"),
    # a header that lost a column name: pandas took the codes as an index and shifted
    # every value one column (found by the fuzz suite)
    (PRODUCTS.replace("code,name,", "code,"), FLOWS, "products.csv",
     "more fields than the 3 of the header"),
    (PRODUCTS.replace("total_output,", "total_output,,"), FLOWS, "products.csv",
     "line 1.*empty column name"),
    (PRODUCTS.replace(",hours_worked", ",code"), FLOWS, "products.csv",
     "line 1.*duplicated column name 'code'"),
]


@pytest.mark.parametrize("products, flows, file, match", BAD_CSV, ids=[b[3][:40] for b in BAD_CSV])
def test_from_csv_bad(tmp_path, products, flows, file, match):
    d = write(tmp_path, products, flows)
    with pytest.raises(DataFormatError, match=match) as ei:
        lab.read_economy(d, format="csv")
    assert file in str(ei.value)
    assert ei.value.path is not None and Path(ei.value.path).name == file


def test_from_csv_options(tmp_path):
    d = write(tmp_path)
    with pytest.raises(DataFormatError, match="labour='compensation'.*hours_worked"):
        lab.read_economy(d, format="csv", labour="compensation")
    with pytest.raises(InvalidEconomyError, match="negative must be one of"):
        lab.read_economy(d, format="csv", negative="ignore")
    with pytest.raises(DataFormatError, match="no such file or folder"):
        lab.read_economy(tmp_path / "nope", format="csv")
    e = lab.read_economy(d, format="csv", labour="none")
    assert e.resource_names == ("none",)


def test_trailing_blank_lines_ok(tmp_path):
    e = lab.read_economy(write(tmp_path, PRODUCTS + "\n\n", FLOWS + "\n"), format="csv")
    assert e.n_products == 3
