"""Tests of lab.economy.Economy and lab._validation."""

from __future__ import annotations

import pickle
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from lab._validation import (
    check_choice,
    check_positive_float,
    check_positive_int_or_none,
    check_resource_matrix,
    check_sparse_matrix,
)
from lab.economy import Economy
from lab.exceptions import EfficiencyWarning, InvalidEconomyError

INDEX_DTYPES = [np.int32, np.int64]


def small_dense():
    return np.array(
        [
            [0.1, 0.0, 0.2, 0.0],
            [0.0, 0.3, 0.0, 0.1],
            [0.2, 0.0, 0.0, 0.0],
            [0.0, 0.4, 0.1, 0.2],
        ]
    )


def csc_with(dtype, dense=None):
    A = sp.csc_array(small_dense() if dense is None else dense)
    return sp.csc_array(
        (A.data.copy(), A.indices.astype(dtype), A.indptr.astype(dtype)), shape=A.shape
    )


L = np.array([1.0, 2.0, 0.5, 1.5])


def snapshot(M):
    """Copies and flags of every array of M, to check it was not mutated."""
    if sp.issparse(M):
        arrs = (
            [M.data, M.indices, M.indptr]
            if M.format in ("csc", "csr")
            else [M.data, *M.coords]
        )
    else:
        arrs = [M]
    return [(a, a.copy(), a.flags.writeable, a.dtype) for a in arrs]


def assert_unchanged(snap):
    for a, copy, writeable, dtype in snap:
        assert a.dtype == dtype
        assert a.flags.writeable == writeable
        np.testing.assert_array_equal(a, copy)


# ----------------------------------------------------------------------- construction


@pytest.mark.parametrize("idx", INDEX_DTYPES)
@pytest.mark.parametrize("fmt", ["csc", "csr", "coo", "dense", "csc_matrix", "csr_matrix"])
def test_construction_formats(fmt, idx):
    base = csc_with(idx)
    A = {
        "csc": base,
        "csr": base.tocsr(),
        "coo": base.tocoo(),
        "dense": small_dense(),
        "csc_matrix": sp.csc_matrix(base),
        "csr_matrix": sp.csr_matrix(base),
    }[fmt]
    if fmt in ("csr", "coo", "csr_matrix"):  # keep the index dtype we asked for
        if fmt == "coo":
            A = sp.coo_array((A.data, (A.coords[0].astype(idx), A.coords[1].astype(idx))), A.shape)
        else:
            A.indices, A.indptr = A.indices.astype(idx), A.indptr.astype(idx)
    snap = snapshot(A)
    costly = fmt in ("csr", "coo", "csr_matrix")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        e = Economy(A, L)
    eff = [x for x in w if issubclass(x.category, EfficiencyWarning)]
    assert bool(eff) == costly, [str(x.message) for x in w]
    assert isinstance(e.A, sp.csc_array)
    assert e.A.dtype == np.float64
    assert e.A.has_canonical_format
    np.testing.assert_array_equal(e.A.toarray(), small_dense())
    if fmt != "dense":
        assert e.A.indices.dtype == np.dtype(idx)
        assert e.A.indptr.dtype == np.dtype(idx)
    else:
        assert e.A.indices.dtype == np.int32
    for a in (e.A.data, e.A.indices, e.A.indptr, e.R):
        assert not a.flags.writeable
    assert_unchanged(snap)
    assert e.n_products == e.n_techniques == 4
    assert e.n_resources == 1 and e.nnz == 8
    assert e.B is None
    np.testing.assert_array_equal(e.labour, L)
    assert e.R.shape == (1, 4) and e.R.flags.c_contiguous


@pytest.mark.parametrize("idx", INDEX_DTYPES)
def test_canonical_csc_not_copied(idx):
    A = csc_with(idx)
    R = np.vstack([L, 2 * L])
    snap = snapshot(A) + snapshot(R)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = Economy(A, R)
    assert np.shares_memory(e.A.data, A.data)
    assert np.shares_memory(e.A.indices, A.indices)
    assert np.shares_memory(e.A.indptr, A.indptr)
    assert np.shares_memory(e.R, R)
    assert A.data.flags.writeable and R.flags.writeable  # caller's flags untouched
    assert not e.A.data.flags.writeable and not e.R.flags.writeable
    with pytest.raises(ValueError):
        e.A.data[0] = 5.0
    assert_unchanged(snap)


def test_duplicates_summed():
    rows = np.array([0, 0, 1, 1, 1])
    cols = np.array([0, 0, 1, 0, 0])
    vals = np.array([0.1, 0.2, 0.3, 0.05, 0.05])
    coo = sp.coo_array((vals, (rows, cols)), shape=(2, 2))
    with pytest.warns(EfficiencyWarning, match="COO"):
        e = Economy(coo, [1.0, 1.0])
    np.testing.assert_allclose(e.A.toarray(), [[0.3, 0.0], [0.1, 0.3]])
    assert e.nnz == 3
    # a hand-built csc with duplicates and unsorted indices
    csc = sp.csc_array(
        (np.array([0.2, 0.1, 0.1]), np.array([1, 0, 1]), np.array([0, 3, 3])), shape=(2, 2)
    )
    snap = snapshot(csc)
    with pytest.warns(EfficiencyWarning, match="duplicate"):
        e = Economy(csc, [1.0, 1.0])
    np.testing.assert_allclose(e.A.toarray(), [[0.1, 0.0], [0.3, 0.0]])
    assert e.A.has_canonical_format
    assert_unchanged(snap)


def test_float32_warns_and_converts():
    A = csc_with(np.int32)
    A32 = sp.csc_array((A.data.astype(np.float32), A.indices, A.indptr), shape=A.shape)
    with pytest.warns(EfficiencyWarning, match="float32"):
        e = Economy(A32, L)
    assert e.A.dtype == np.float64
    np.testing.assert_allclose(e.A.toarray(), small_dense(), rtol=1e-6)


def test_large_dense_warns():
    m = 2001
    with pytest.warns(EfficiencyWarning, match="dense"):
        e = Economy(np.zeros((m, m)), np.ones(m))
    assert e.nnz == 0


def test_float32_dense_small_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = Economy(small_dense().astype(np.float32), L.astype(np.float32))
    assert e.R.dtype == np.float64


def test_resources_2d_sparse_and_names():
    R = sp.csr_array(np.vstack([L, np.zeros(4), L]))
    e = Economy(small_dense(), R, resource_names=["hours", "land", "co2"], names=list("abcd"))
    assert e.resource_names == ("hours", "land", "co2")
    assert e.R.shape == (3, 4)
    assert list(e.names) == list("abcd")
    e2 = Economy(small_dense(), np.vstack([L, L]))
    assert e2.resource_names == ("labour", "R1")


def test_immutable_and_cache():
    e = Economy(small_dense(), L)
    with pytest.raises(AttributeError):
        e.A = None
    with pytest.raises(AttributeError):
        e.foo = 1
    assert e._cache == {}
    e._cache["x"] = 1
    assert repr(e) == "Economy(4 products, 1 resource, 8 non-zeros)"
    e2 = pickle.loads(pickle.dumps(e))
    np.testing.assert_array_equal(e2.A.toarray(), e.A.toarray())


# ----------------------------------------------------------------------- codes


def test_default_codes_lazy():
    m = 100_000
    A = sp.csc_array((m, m))
    e = Economy(A, np.ones(m))
    assert e._codes is None
    assert e.codes_at([0, 5, m - 1]) == ["P0", "P5", f"P{m - 1}"]
    np.testing.assert_array_equal(e.index_of(["P7", "P0", f"P{m - 1}"]), [7, 0, m - 1])
    assert e._codes is None  # still not materialised
    for bad in ("P100000", "P-1", "P01", "Q1", "p3", "P", "P²", "P1 ", 7, "P+7", "P 7",
                "P1_0", "P٧", None, ("P1",)):
        with pytest.raises(InvalidEconomyError, match="unknown product code") as ei:
            e.index_of([bad])
        assert isinstance(ei.value, KeyError)
        with pytest.raises(InvalidEconomyError, match=re.escape(repr(bad))):
            e.index_of(["P1", bad, "P2"])  # found among good ones, named
    assert e.codes[3] == "P3" and len(e.codes) == m
    assert not e.codes.flags.writeable


def test_explicit_codes():
    e = Economy(small_dense(), L, codes=["a", "b", "c", "d"])
    np.testing.assert_array_equal(e.index_of(["d", "a"]), [3, 0])
    assert e.index_of("c").tolist() == [2]
    assert e.codes_at([1, -1]) == ["b", "d"]
    with pytest.raises(KeyError, match="'zz'"):
        e.index_of(["a", "zz"])
    with pytest.raises(InvalidEconomyError, match="out of range"):
        e.codes_at([4])


# ----------------------------------------------------------------------- bad input


def _nan_at(value):
    D = small_dense()
    D[2, 1] = value
    return D


BAD = [
    (lambda: Economy(np.zeros((3, 4)), np.ones(3)), "square.*\\(3, 4\\)"),
    (lambda: Economy(np.zeros(3), np.ones(3)), "2-D"),
    (lambda: Economy(small_dense(), np.ones(3)), "A has shape \\(4, 4\\) but R has 3 columns"),
    (lambda: Economy(small_dense(), np.ones((2, 5))), "R has 5 columns"),
    (lambda: Economy(small_dense(), np.ones((0, 4))), "at least one row"),
    (lambda: Economy(_nan_at(np.nan), L, codes=list("abcd")), "1 NaN.*\\['c', 'b'\\]"),
    (lambda: Economy(_nan_at(np.inf), L), "infinite.*\\['P2', 'P1'\\]"),
    (lambda: Economy(_nan_at(-0.5), L), "1 negative entries.*\\['P2', 'P1'\\] = -0.5"),
    (lambda: Economy(small_dense(), [1, np.nan, 1, 1]), "R has 1 NaN"),
    (lambda: Economy(small_dense(), [1, -1.0, 1, 1]), "R has 1 negative.*'P1'"),
    (
        lambda: Economy(
            sp.csc_array((np.ones(2), np.array([0, 9]), np.array([0, 1, 2])), shape=(2, 2)),
            [1, 1],
        ),
        "out of range.*9",
    ),
    (
        lambda: Economy(
            sp.csc_array(
                (np.ones(2), np.array([0, -1], dtype=np.int64), np.array([0, 1, 2])),
                shape=(2, 2),
            ),
            [1, 1],
        ),
        "out of range",
    ),
    (lambda: Economy(small_dense(), L, codes=["a", "b", "a", "c"]), "duplicated.*'a'"),
    (lambda: Economy(small_dense(), L, codes=["a", "b", "c"]), "codes has length 3"),
    (lambda: Economy(small_dense(), L, codes=["a", "b", "c", 4]), "only strings"),
    (lambda: Economy(small_dense(), L, names=["a", "b"]), "names has length 2"),
    (lambda: Economy(small_dense(), L, resource_names=["x", "y"]), "resource_names has length 2"),
    (
        lambda: Economy(small_dense(), np.vstack([L, L]), resource_names=["x", "x"]),
        "resource_names must be unique",
    ),
    (lambda: Economy(small_dense().astype(complex), L), "real numeric dtype"),
]


@pytest.mark.parametrize("make, match", BAD, ids=[b[1][:30] for b in BAD])
def test_bad_input(make, match):
    with pytest.raises(InvalidEconomyError, match=match):
        make()


def test_bad_coo_index():
    coo = sp.coo_array((np.ones(1), (np.array([0]), np.array([1]))), shape=(2, 2))
    coo.coords = (np.array([0]), np.array([5]))
    with pytest.raises(InvalidEconomyError, match="out of range"):
        Economy(coo, [1, 1])


def test_validation_scalars():
    assert check_positive_float("rtol", 1e-3) == 1e-3
    with pytest.raises(InvalidEconomyError, match="rtol"):
        check_positive_float("rtol", 0)
    assert check_positive_int_or_none("maxiter", None) is None
    with pytest.raises(InvalidEconomyError, match="maxiter"):
        check_positive_int_or_none("maxiter", 0)
    with pytest.raises(InvalidEconomyError, match="'a', 'b'"):
        check_choice("method", "c", ("a", "b"))
    with pytest.raises(InvalidEconomyError, match="shape \\(3, 3\\) but shape \\(2, any\\)"):
        check_sparse_matrix("B", np.eye(3), shape=(2, None))
    with pytest.raises(InvalidEconomyError, match="B has shape \\(3, 3\\) but l has 2 columns"):
        check_resource_matrix("l", np.ones(2), 3, other="B")


# ----------------------------------------------------------------------- from_flows


def test_from_flows_hand_computation():
    Z = np.array([[10.0, 0.0, 5.0], [20.0, 4.0, 0.0], [0.0, 8.0, 0.0]])
    x = np.array([100.0, 40.0, 50.0])
    hours = np.array([30.0, 8.0, 25.0])
    e = Economy.from_flows(Z, x, hours, codes=["a", "b", "c"])
    np.testing.assert_allclose(e.A.toarray(), Z / x[None, :])
    np.testing.assert_allclose(e.labour, hours / x)
    assert e.dropped == ()
    # 2-D totals, sparse Z in CSC
    T = np.vstack([hours, 2 * hours])
    e2 = Economy.from_flows(sp.csc_array(Z), x, T, resource_names=["h", "comp"])
    np.testing.assert_allclose(e2.R, T / x)
    assert e2.resource_names == ("h", "comp")
    e3 = Economy.from_flows(Z, x)
    assert e3.resource_names == ("none",) and not e3.labour.any()


def test_from_flows_zero_output():
    Z = np.array([[10.0, 0.0, 5.0], [0.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    x = np.array([100.0, 0.0, 50.0])
    hours = np.array([30.0, 0.0, 25.0])
    e = Economy.from_flows(Z, x, hours, codes=["a", "b", "c"], names=["A", "B", "C"])
    assert e.dropped == ("b",)
    assert "zero total output" in e.dropped_reasons["b"]
    assert list(e.codes) == ["a", "c"] and list(e.names) == ["A", "C"]
    keep = [0, 2]
    np.testing.assert_allclose(e.A.toarray(), Z[np.ix_(keep, keep)] / x[keep])
    np.testing.assert_allclose(e.labour, hours[keep] / x[keep])
    # default codes keep their original numbers
    assert list(Economy.from_flows(Z, x, hours).codes) == ["P0", "P2"]
    with pytest.raises(InvalidEconomyError, match="zero total output: 'b'"):
        Economy.from_flows(Z, x, hours, codes=["a", "b", "c"], zero_output="error")
    Zi = Z.copy()
    Zi[0, 1] = 3.0
    with pytest.raises(InvalidEconomyError, match="product 'b' has inputs but zero total output"):
        Economy.from_flows(Zi, x, hours, codes=["a", "b", "c"])
    Zu = Z.copy()
    Zu[1, 2] = 3.0
    with pytest.raises(InvalidEconomyError, match="'b' is used as an input"):
        Economy.from_flows(Zu, x, hours, codes=["a", "b", "c"])
    with pytest.raises(InvalidEconomyError, match="'P1' uses resources"):
        Economy.from_flows(Z, x, [30.0, 1.0, 25.0])
    with pytest.raises(InvalidEconomyError, match="total_output has 1 negative"):
        Economy.from_flows(Z, [100.0, -1.0, 50.0], hours)
    with pytest.raises(InvalidEconomyError, match="zero_output must be one of"):
        Economy.from_flows(Z, x, hours, zero_output="keep")


def test_mixed_index_dtypes_and_short_data():
    A = csc_with(np.int32)
    mixed = sp.csc_array((A.data, A.indices.astype(np.int64), A.indptr), shape=A.shape)
    mixed.indptr = A.indptr  # scipy would unify them; force a mix
    with pytest.warns(EfficiencyWarning, match="index dtypes"):
        e = Economy(mixed, L)
    assert e.A.indices.dtype == e.A.indptr.dtype == np.int64
    short = sp.csc_array(A.shape)
    short.data, short.indices, short.indptr = A.data[:3], A.indices, A.indptr
    with pytest.raises(InvalidEconomyError, match="data has shape"):
        Economy(short, L)


def test_noncontiguous_data_copied_with_warning():
    A = csc_with(np.int32)
    big = np.zeros(2 * A.nnz)
    big[::2] = A.data
    strided = sp.csc_array(A.shape)
    strided.data, strided.indices, strided.indptr = big[::2], A.indices, A.indptr
    with pytest.warns(EfficiencyWarning, match="not contiguous"):
        e = Economy(strided, L)
    assert e.A.data.flags.c_contiguous
    np.testing.assert_array_equal(e.A.toarray(), small_dense())


# ----------------------------------------------------------------------- corrupted sparse input
# Issue 11, item 1: corrupted sparse arrays once killed the process (uninitialised memory,
# SIGSEGV in scipy). They run in a child interpreter, so a crash fails the test instead
# of ending pytest.

ISSUE_REPROS = {
    "csr-data-shorter-than-indices": (
        "M = sp.csr_matrix((3, 3)); M.data = np.array([.1]); M.indices = np.array([0, 1]); "
        "M.indptr = np.array([0, 1, 2, 2])\nlab.Economy(M, [1., 2., 3.]).A.data",
        "A.data has shape (1,) but A.indices has shape (2,)"),
    "csr-index-1e7": (
        "M = sp.csr_matrix((3, 3)); M.data = np.array([.1]); M.indices = np.array([0, 10**7]); "
        "M.indptr = np.array([0, 1, 2, 2])\nlab.Economy(M, [1., 2., 3.]).A.data",
        "A.data has shape (1,) but A.indices has shape (2,)"),
    "bsr-index-1e8": (
        "B = sp.bsr_matrix(np.eye(3) * .1); B.indices = np.array([0, 10**8, 2]); "
        "lab.Economy(B, [1., 2., 3.])",
        "A has an index out of range: A.indices[1] = 100000000"),
    "sparse-R-short-indptr": (
        "R = sp.csr_matrix((1, 4)); R.indptr = np.array([0]); R.indices = np.array([0, 1, 2]); "
        "R.data = np.ones(3)\nlab.Economy(np.zeros((4, 4)), R)",
        "R has 1 row but its indptr has length 1 (need 2)"),
}

_PRELUDE = """
import json, sys, warnings
import numpy as np, scipy.sparse as sp
import lab
warnings.simplefilter("ignore")
"""


@pytest.mark.parametrize("name", ISSUE_REPROS)
def test_issue_repros_of_corrupted_sparse_input_are_errors_not_crashes(name):
    from conftest import run_python

    code, message = ISSUE_REPROS[name]
    body = "\n".join("    " + line for line in code.splitlines())
    proc = run_python(_PRELUDE + f"try:\n{body}\nexcept lab.InvalidEconomyError as exc:\n"
                      "    print('LAB-ERROR', exc)\nelse:\n    print('NO-ERROR')\n")
    assert proc.returncode == 0, f"the child died ({proc.returncode}): {proc.stderr[-2000:]}"
    assert proc.stdout.startswith("LAB-ERROR"), proc.stdout + proc.stderr
    assert message in proc.stdout, proc.stdout


# Every format, every array: structure, lengths, index dtype and range, data dtype, shape,
# finiteness. Each corruption is tried in every role a sparse matrix can have.
_CATALOG = _PRELUDE + r'''
D = np.array([[0., .1, 0.], [.2, 0., .1], [0., .3, .1]])

def make(fmt):
    return {"csr": sp.csr_array, "csc": sp.csc_array, "coo": sp.coo_array,
            "bsr": sp.bsr_array, "dia": sp.dia_array, "lil": sp.lil_array,
            "dok": sp.dok_array, "csr_matrix": sp.csr_matrix}[fmt](D)

def with_(fmt, **changes):
    def build():
        M = make(fmt)
        for k, v in changes.items():
            setattr(M, k, v(M) if callable(v) else v)
        return M
    return build

def lil_row(rows, data):
    def build():
        M = make("lil")
        M.rows[0], M.data[0] = rows, data
        return M
    return build

def dok_key(key, value=1.0):
    def build():
        M = make("dok")
        M._dict[key] = value
        return M
    return build

CASES = {}
for f in ("csr", "csc", "bsr", "csr_matrix"):
    CASES.update({
        f"{f} data shorter": with_(f, data=lambda M: M.data[:1]),
        f"{f} data longer": with_(f, data=lambda M: np.concatenate([M.data, M.data[:1]])),
        f"{f} index 1e7": with_(f, indices=lambda M: np.r_[M.indices[:-1], 10**7]),
        f"{f} index -1": with_(f, indices=lambda M: np.r_[M.indices[:-1], -1]),
        f"{f} uint64 index 2**63": with_(f, indices=lambda M: np.r_[
            M.indices[:-1].astype(np.uint64), np.uint64(2**63 + 5)]),
        f"{f} indptr short": with_(f, indptr=lambda M: M.indptr[:-1]),
        f"{f} indptr decreasing": with_(f, indptr=lambda M: np.r_[0, M.indptr[2], M.indptr[1],
                                                                  M.indptr[3:]]),
        f"{f} indptr[0] != 0": with_(f, indptr=lambda M: np.r_[1, M.indptr[1:]]),
        f"{f} indptr[-1] too large": with_(f, indptr=lambda M: np.r_[M.indptr[:-1],
                                                                     M.indptr[-1] + 5]),
        f"{f} float indices": with_(f, indices=lambda M: M.indices.astype(float)),
        f"{f} list indices": with_(f, indices=lambda M: M.indices.tolist()),
        f"{f} complex data": with_(f, data=lambda M: M.data.astype(complex)),
        f"{f} object data": with_(f, data=lambda M: M.data.astype(object)),
        f"{f} 2-D indptr": with_(f, indptr=lambda M: M.indptr[:, None]),
        f"{f} nan": with_(f, data=lambda M: np.r_[np.nan, M.data.ravel()[1:]].reshape(
            M.data.shape)),
        f"{f} inf": with_(f, data=lambda M: np.r_[np.inf, M.data.ravel()[1:]].reshape(
            M.data.shape)),
        f"{f} negative shape": with_(f, _shape=(3, -1)),
    })
CASES.update({
    "coo row longer than data": with_("coo", coords=lambda M: (np.r_[M.coords[0], 0],
                                                                np.r_[M.coords[1], 0])),
    "coo data longer": with_("coo", data=lambda M: np.r_[M.data, 1.0]),
    "coo col 1e8": with_("coo", coords=lambda M: (M.coords[0], np.r_[M.coords[1][:-1], 10**8])),
    "coo row -1": with_("coo", coords=lambda M: (np.r_[-1, M.coords[0][1:]], M.coords[1])),
    "coo float coords": with_("coo", coords=lambda M: (M.coords[0] * 1.0, M.coords[1])),
    "coo three coords": with_("coo", coords=lambda M: (*M.coords, M.coords[0])),
    "coo 2-D data": with_("coo", data=lambda M: M.data[:, None]),
    "coo nan": with_("coo", data=lambda M: np.r_[np.nan, M.data[1:]]),
    "bsr blocks do not tile": with_("bsr", data=lambda M: np.ones((M.data.shape[0], 2, 2))),
    "bsr 1-D data": with_("bsr", data=lambda M: M.data.ravel()),
    "dia offsets longer": with_("dia", offsets=lambda M: np.r_[M.offsets, 7]),
    "dia duplicate offsets": with_("dia", offsets=lambda M: np.full_like(M.offsets, 0)),
    "dia float offsets": with_("dia", offsets=lambda M: M.offsets * 1.0),
    "dia 1-D data": with_("dia", data=lambda M: M.data.ravel()),
    "dia nan on a diagonal": with_("dia", data=lambda M: np.where(M.data != 0, np.nan, 0)),
    "lil column 1e7": lil_row([10**7], [1.0]),
    "lil column -1": lil_row([-1], [1.0]),
    "lil rows and data differ": lil_row([0, 1], [1.0]),
    "lil string column": lil_row(["a"], [1.0]),
    "lil complex value": lil_row([0], [1j]),
    "lil too few rows": with_("lil", rows=lambda M: M.rows[:2]),
    "lil nan": lil_row([0], [float("nan")]),
    "dok key 1e7": dok_key((0, 10**7)),
    "dok key -1": dok_key((-1, 0)),
    "dok key not a pair": dok_key((0,)),
    "dok string key": dok_key("ab"),
    "dok complex value": dok_key((0, 0), 1j),
    "dok nan": dok_key((0, 0), float("nan")),
})

ROLES = {
    "A": lambda M: lab.Economy(M, [1.0, 2.0, 3.0]),
    "R": lambda M: lab.Economy(D, M),
    "Z": lambda M: lab.Economy.from_flows(M, [1.0, 1.0, 1.0], [1.0, 2.0, 3.0]),
    "resource_totals": lambda M: lab.Economy.from_flows(D, [1.0, 1.0, 1.0], M),
    "supply": lambda M: lab.io.from_supply_use(M, D),
    "use": lambda M: lab.io.from_supply_use(D + np.eye(3), M),
    "resource_totals ": lambda M: lab.io.from_supply_use(D + np.eye(3), D,
                                                         resource_totals=M),
}

for case, build in CASES.items():
    for role, use in ROLES.items():
        print(json.dumps({"start": [case, role]}), flush=True)
        try:
            use(build())
            out = {"outcome": "accepted"}
        except lab.InvalidEconomyError as exc:
            out = {"outcome": "lab", "message": str(exc)}
        except Exception as exc:
            out = {"outcome": "other", "message": f"{type(exc).__name__}: {exc}"}
        print(json.dumps({"case": case, "role": role.strip(), **out}), flush=True)
'''


def test_every_sparse_format_is_checked_before_scipy_sees_it():
    import json

    from conftest import run_python

    proc = run_python(_CATALOG, timeout=300)
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0, (f"the child died ({proc.returncode}) in "
                                  f"{lines[-1] if lines else None}: {proc.stderr[-3000:]}")
    results = [r for r in lines if "case" in r]
    assert len(results) > 400
    wrong = [r for r in results if r["outcome"] != "lab"
             or not r["message"].startswith(r["role"])]
    assert wrong == [], wrong[:10]


# ----------------------------------------------------------------------- pandas labels
# Issue 11, item 7 (outside planning): a pandas Series or DataFrame is matched by label,
# never by position, and a label given twice is an error naming it.


def test_dataframes_and_series_are_matched_by_label():
    import pandas as pd

    D = small_dense()
    codes = ["a", "b", "c", "d"]
    shuffled = ["c", "a", "d", "b"]
    A = pd.DataFrame(D, index=codes, columns=codes).loc[shuffled, ["d", "b", "a", "c"]]
    R = pd.DataFrame(np.vstack([L, 2 * L]), index=["labour", "co2"],
                     columns=codes).loc[["co2", "labour"], ["b", "d", "c", "a"]]
    e = Economy(A, R)
    assert list(e.codes) == shuffled and e.resource_names == ("co2", "labour")
    order = [codes.index(c) for c in shuffled]
    np.testing.assert_array_equal(e.A.toarray(), D[np.ix_(order, order)])
    np.testing.assert_array_equal(e.R, np.vstack([2 * L, L])[:, order])
    # given codes and resource names put labelled arguments in their order
    e2 = Economy(A, R, codes=codes, resource_names=["labour", "co2"],
                 names=pd.Series({"d": "D", "a": "A", "c": "C", "b": "B"}))
    np.testing.assert_array_equal(e2.A.toarray(), D)
    np.testing.assert_array_equal(e2.R, np.vstack([L, 2 * L]))
    assert list(e2.names) == ["A", "B", "C", "D"]
    # a Series of labour per product, in another order than the codes
    e3 = Economy(D, pd.Series(dict(zip(shuffled, L[order], strict=True))), codes=codes)
    np.testing.assert_array_equal(e3.labour, L)
    # a default RangeIndex is taken in order; other labels are matched to P0, P1, ...
    np.testing.assert_array_equal(Economy(D, pd.Series(L)).labour, L)
    np.testing.assert_array_equal(
        Economy(D, pd.Series(L[::-1], index=["P3", "P2", "P1", "P0"])).labour, L)


def test_from_flows_matches_total_output_and_resource_totals_by_label():
    import pandas as pd

    Z = np.array([[10.0, 0.0, 5.0], [20.0, 4.0, 0.0], [0.0, 8.0, 0.0]])
    x = np.array([100.0, 40.0, 50.0])
    hours = np.array([30.0, 8.0, 25.0])
    codes = ["a", "b", "c"]
    e = Economy.from_flows(pd.DataFrame(Z, index=codes, columns=codes).loc[:, ["c", "a", "b"]],
                           pd.Series({"c": 50.0, "b": 40.0, "a": 100.0}),
                           pd.Series({"b": 8.0, "c": 25.0, "a": 30.0}))
    assert list(e.codes) == codes
    np.testing.assert_allclose(e.A.toarray(), Z / x[None, :])
    np.testing.assert_allclose(e.labour, hours / x)


@pytest.mark.parametrize("case, match", [
    ("R series duplicated", r"R\.index has duplicated labels: 'a'"),
    ("R series unknown", r"R is labelled.*not product codes: 'zz'; missing: 'd'"),
    ("A index duplicated", r"A\.index has duplicated labels: 'b'"),
    ("A columns differ", r"A\.columns is labelled.*not products of A\.index: 'e'"),
    ("R frame resources duplicated", r"R\.index has duplicated labels: 'labour'"),
    ("R frame resources differ", r"R\.index is labelled.*not resource_names: 'co2'"),
    ("total_output duplicated", r"total_output\.index has duplicated labels: 'c'"),
    ("codes disagree with A", r"A\.index is labelled.*not codes: 'a'"),
])
def test_duplicated_or_unknown_labels_are_errors_naming_them(case, match):
    import pandas as pd

    D, codes = small_dense(), ["a", "b", "c", "d"]
    A = pd.DataFrame(D, index=codes, columns=codes)
    R = pd.Series(L, index=codes)
    with pytest.raises(InvalidEconomyError, match=match):
        if case == "R series duplicated":
            Economy(A, pd.Series(L, index=["a", "a", "c", "d"]))
        elif case == "R series unknown":
            Economy(A, pd.Series(L, index=["a", "b", "c", "zz"]))
        elif case == "A index duplicated":
            Economy(pd.DataFrame(D, index=["a", "b", "b", "d"], columns=codes), R)
        elif case == "A columns differ":
            Economy(pd.DataFrame(D, index=codes, columns=["a", "b", "c", "e"]), R)
        elif case == "R frame resources duplicated":
            Economy(A, pd.DataFrame([L, L], index=["labour", "labour"], columns=codes))
        elif case == "R frame resources differ":
            Economy(A, pd.DataFrame([L, L], index=["labour", "co2"], columns=codes),
                    resource_names=["labour", "energy"])
        elif case == "total_output duplicated":
            Economy.from_flows(A, pd.Series([1.0, 2, 3, 4], index=["a", "b", "c", "c"]))
        else:
            Economy(A, R, codes=["x", "b", "c", "d"])


# ----------------------------------------------------------------------- issue 11, item 14


def test_coo_with_mismatched_lengths_is_lab_error():
    coo = sp.coo_array(small_dense())
    coo.data = coo.data[:-1]
    with pytest.raises(InvalidEconomyError, match=r"A\.row has length 8 but A\.data has "
                                                  r"length 7"):
        Economy(coo, L)


def test_numpy_scalars_are_accepted_where_python_numbers_are():
    import pandas as pd

    e = Economy(small_dense().astype(np.float32), np.float32(1.5) * L.astype(np.float32),
                codes=np.array(["a", "b", "c", "d"]))
    assert e.codes_at(np.int64(2)) == ["c"] and e.index_of(np.str_("d")).tolist() == [3]
    assert e.codes_at(np.array([np.int32(1)])) == ["b"]
    flows = Economy.from_flows(small_dense(), [np.float32(2.0)] * 4, pd.Series(L))
    np.testing.assert_allclose(flows.labour, L / 2)


def test_planning_sparse_resources_go_through_the_same_validation_path():
    """Issue 11, item 1 ("sparse resources"): a corrupted sparse ``resources`` of
    PlanningProblem.from_techniques crashed the process (SIGSEGV)."""
    from conftest import run_python

    proc = run_python(_PRELUDE + """
R = sp.csr_matrix((1, 3)); R.indptr = np.array([0, 2]); R.indices = np.array([0, 10**8])
R.data = np.ones(2)
try:
    lab.PlanningProblem.from_techniques(use=np.eye(3) * 0.1, make=np.eye(3), resources=R,
                                        targets=[1.0, 1.0, 1.0])
except lab.InvalidEconomyError as exc:
    print("LAB-ERROR", exc)
""")
    assert proc.returncode == 0, f"the child died ({proc.returncode})"
    assert proc.stdout.startswith("LAB-ERROR") and "resources" in proc.stdout


@pytest.mark.parametrize("call", [
    "lab.footprint(lab.Economy(np.eye(3) * 0.1, [1.0, 2.0, 3.0]), R.T)",
    "lab.MultiYearProblem(lab.Economy(np.eye(3) * 0.1, [1.0, 2.0, 3.0]), years=2, "
    "targets=np.ones((2, 3)), available=[[9.0], [9.0]], capital=np.eye(3) * 0.1, "
    "depreciation=0.1, initial_stocks=sp.vstack([R, R, R]).tocsr())",
])
def test_other_sparse_arguments_go_through_the_same_validation_path(call):
    """Issue 11, item 1, for the arguments added since: footprint's demand and a
    multi-year plan's stocks, corrupted, give lab's error (the child survives)."""
    from conftest import run_python

    proc = run_python(_PRELUDE + f"""
R = sp.csr_matrix((1, 3)); R.indptr = np.array([0, 2]); R.indices = np.array([0, 10**8])
R.data = np.ones(2)
try:
    {call}
except lab.InvalidEconomyError as exc:
    print("LAB-ERROR", exc)
""")
    assert proc.returncode == 0, f"the child died ({proc.returncode})"
    assert proc.stdout.startswith("LAB-ERROR") and "out of range" in proc.stdout, proc.stdout
