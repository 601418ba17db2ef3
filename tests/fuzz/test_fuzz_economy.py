"""Fuzzing Economy construction (every sparse format, corrupted arrays), from_flows,
labelled (pandas) arguments and labour_values; each example runs in the sandbox."""

from __future__ import annotations

import numpy as np
import pandas as pd
from _fuzz import check, fuzz_settings
from _strategies import FORMATS, corrupted, dense, economy_near_the_edge, value_options
from hypothesis import given
from hypothesis import strategies as st


@fuzz_settings(weight=0.25, small=300)
@given(data=st.data(), fmt=st.sampled_from(FORMATS), role=st.sampled_from(["A", "R"]))
def test_fuzz_economy_any_format_corrupted(data, fmt, role):
    m = data.draw(st.integers(0, 6))
    A = data.draw(dense(m=m))
    R = data.draw(dense(m=data.draw(st.integers(0, 3)), n=m))
    if data.draw(st.booleans()) and R.shape[0] == 1:
        R = R[0]
    if role == "A":
        A = data.draw(corrupted(A, fmt)).value
    elif R.ndim == 2:
        R = data.draw(corrupted(R, fmt)).value
    check("economy: any format, corrupted", "economy", {"A": A, "R": R})


@fuzz_settings(weight=0.06, small=80)
@given(data=st.data(), fmt=st.sampled_from(FORMATS))
def test_fuzz_from_flows(data, fmt):
    m = data.draw(st.integers(0, 5))
    Z = data.draw(corrupted(data.draw(dense(m=m)), fmt)).value
    x = [data.draw(st.sampled_from([0.0, 1.0, 10.0, 1e-300, 5e-324, 1e300, -1.0,
                                    float("nan")])) for _ in range(m)]
    if data.draw(st.integers(0, 9)) == 0:
        x = x[:-1]
    T = data.draw(dense(m=data.draw(st.integers(1, 2)), n=m))
    check("from_flows", "from_flows", {"Z": Z, "x": np.array(x), "T": T})


@fuzz_settings(weight=0.06, small=80)
@given(data=st.data())
def test_fuzz_labelled_arguments(data):
    m = data.draw(st.integers(1, 5))
    codes = [f"c{k}" for k in range(m)]

    def labels():
        out = list(data.draw(st.permutations(codes)))
        kind = data.draw(st.integers(0, 9))
        if kind == 0:
            out[data.draw(st.integers(0, m - 1))] = out[0]           # a duplicate
        elif kind == 1:
            out[data.draw(st.integers(0, m - 1))] = "unknown"         # not a code
        return out

    payload = {"A": data.draw(dense(m=m, bad=0)), "R": np.arange(1.0, m + 1),
               "rows": labels(), "cols": labels(), "rlabels": labels(),
               "codes": data.draw(st.one_of(st.none(), st.just(None), st.builds(labels)))}
    check("economy: pandas labels", "labels", payload)
    assert isinstance(pd.Index(payload["rows"]), pd.Index)


@fuzz_settings(weight=0.20, small=200)
@given(case=economy_near_the_edge(), options=value_options())
def test_fuzz_labour_values(case, options):
    A, l = case
    check("labour_values", "values", {"A": A, "l": l, "options": options})
