"""Reading and writing economies (.npz), values (CSV/Parquet) and atomic output."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import lab
from lab._atomic import atomic_path
from lab.exceptions import DataFormatError


def small_economy(**kwargs):
    A = sp.csc_array(np.array([[0.1, 0.2, 0.0], [0.3, 0.0, 0.1], [0.0, 0.4, 0.2]]))
    R = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, 0.25]])
    return lab.Economy(A, R, **kwargs)


def npz_arrays(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def save_npz(path, arrays, allow_pickle=False):
    """Write arrays as an .npz; ``allow_pickle=True`` lets object arrays be pickled in."""
    with zipfile.ZipFile(path, "w") as zf:
        for key, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(arr), allow_pickle=allow_pickle)
            zf.writestr(f"{key}.npy", buf.getvalue())


def assert_economies_equal(a, b):
    assert a.A.shape == b.A.shape
    assert (a.A != b.A).nnz == 0
    np.testing.assert_array_equal(a.R, b.R)
    np.testing.assert_array_equal(a.codes, b.codes)
    assert a.resource_names == b.resource_names
    if a.names is None:
        assert b.names is None
    else:
        np.testing.assert_array_equal(a.names, b.names)


# --------------------------------------------------------------------------- npz round trip


def test_npz_round_trip_with_codes_and_names(tmp_path):
    e = small_economy(codes=["corn", "iron", "coal"], names=["Corn", "Iron ore", "Coal"],
                      resource_names=["labour", "co2"])
    path = lab.write_economy(e, tmp_path / "e.npz")
    back = lab.read_economy(path)
    assert_economies_equal(e, back)
    assert back.codes.tolist() == ["corn", "iron", "coal"]
    assert back.names.tolist() == ["Corn", "Iron ore", "Coal"]
    assert back.resource_names == ("labour", "co2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.npz"]


def test_npz_round_trip_generated(tmp_path):
    e = lab.generate_economy(700, seed=11)
    back = lab.read_economy(lab.write_economy(e, tmp_path / "g.npz"))
    assert_economies_equal(e, back)
    np.testing.assert_array_equal(lab.labour_values(back).values, lab.labour_values(e).values)


def test_npz_round_trip_int64_indices(tmp_path):
    e = lab.generate_economy(200, seed=2, index_dtype=np.int64)
    back = lab.read_economy(lab.write_economy(e, tmp_path / "g.npz"))
    assert_economies_equal(e, back)


def test_default_codes_are_not_stored(tmp_path):
    e = lab.generate_economy(50, seed=1)
    path = lab.write_economy(e, tmp_path / "d.npz")
    assert "codes" not in npz_arrays(path)
    back = lab.read_economy(path)
    assert back._codes is None, "default codes were materialised on reading"
    assert back.codes.tolist() == [f"P{i}" for i in range(50)]


def test_default_codes_not_stored_after_reading_them(tmp_path):
    """Reading ``economy.codes`` materialises the defaults; writing must still not store them."""
    e = lab.generate_economy(50, seed=1)
    assert e.codes[0] == "P0"
    path = lab.write_economy(e, tmp_path / "d.npz")
    assert "codes" not in npz_arrays(path)
    assert lab.read_economy(path)._codes is None


def test_write_economy_rejects_other_suffix(tmp_path):
    with pytest.raises(ValueError, match="format"):
        lab.write_economy(small_economy(), tmp_path / "e.txt")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- inconsistent files


@pytest.fixture
def valid_arrays(tmp_path):
    path = lab.write_economy(small_economy(codes=["a", "b", "c"]), tmp_path / "ok.npz")
    return npz_arrays(path)


def _bad(arrays, **changes):
    out = dict(arrays)
    for key, value in changes.items():
        if value is None:
            out.pop(key)
        else:
            out[key] = value
    return out


BAD_FILES = {
    "indptr-too-short": lambda a: _bad(a, indptr=a["indptr"][:-1]),
    "indptr-last-wrong": lambda a: _bad(a, indptr=np.r_[a["indptr"][:-1], a["indptr"][-1] + 1]),
    "indptr-first-nonzero": lambda a: _bad(a, indptr=a["indptr"] + 1),
    "indptr-decreasing": lambda a: _bad(a, indptr=np.r_[0, 3, 1, a["indptr"][-1]]
                                        .astype(a["indptr"].dtype)),
    "indices-out-of-range": lambda a: _bad(a, indices=a["indices"] + 5),
    "indices-negative": lambda a: _bad(a, indices=a["indices"] - 5),
    "indices-float": lambda a: _bad(a, indices=a["indices"].astype(np.float64)),
    "indptr-float": lambda a: _bad(a, indptr=a["indptr"].astype(np.float64)),
    "data-negative": lambda a: _bad(a, data=-a["data"]),
    "data-nan": lambda a: _bad(a, data=np.r_[np.nan, a["data"][1:]]),
    "data-inf": lambda a: _bad(a, data=np.r_[np.inf, a["data"][1:]]),
    "data-string": lambda a: _bad(a, data=a["data"].astype(str)),
    "data-wrong-length": lambda a: _bad(a, data=a["data"][:-1]),
    "R-nan": lambda a: _bad(a, R=np.where(a["R"] > 0.9, np.nan, a["R"])),
    "R-negative": lambda a: _bad(a, R=-a["R"]),
    "R-wrong-width": lambda a: _bad(a, R=a["R"][:, :2]),
    "shape-not-square": lambda a: _bad(a, shape=np.array([4, 3])),
    "shape-three-entries": lambda a: _bad(a, shape=np.array([3, 3, 3])),
    "shape-scalar": lambda a: _bad(a, shape=np.array(3)),
    "shape-negative": lambda a: _bad(a, shape=np.array([-1, -1]),
                                     indptr=np.array([], dtype=a["indptr"].dtype)),
    "version-2": lambda a: _bad(a, version=np.array(2)),
    "version-string": lambda a: _bad(a, version=np.array("one")),
    "version-vector": lambda a: _bad(a, version=np.array([1, 1])),
    "codes-duplicate": lambda a: _bad(a, codes=np.array(["a", "a", "c"])),
    "codes-wrong-length": lambda a: _bad(a, codes=np.array(["a", "b"])),
    "resource-names-wrong-length": lambda a: _bad(a, resource_names=np.array(["x", "y", "z"])),
    "missing-data": lambda a: _bad(a, data=None),
    "missing-R": lambda a: _bad(a, R=None),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_inconsistent_npz_raises_data_format_error(valid_arrays, tmp_path, case):
    path = tmp_path / f"bad-{case}.npz"
    save_npz(path, BAD_FILES[case](valid_arrays))
    with pytest.raises(DataFormatError) as info:
        lab.read_economy(path)
    assert str(path) in str(info.value), str(info.value)
    assert info.value.path is not None


def test_valid_arrays_written_by_hand_read_back(valid_arrays, tmp_path):
    """The test writer itself produces readable files (so the failures above are real)."""
    path = tmp_path / "same.npz"
    save_npz(path, valid_arrays)
    assert lab.read_economy(path).codes.tolist() == ["a", "b", "c"]


@pytest.mark.parametrize("what", ["random-bytes", "truncated", "empty", "zip-without-arrays"])
def test_corrupt_npz(tmp_path, what):
    path = tmp_path / f"{what}.npz"
    if what == "random-bytes":
        path.write_bytes(np.random.default_rng(1).bytes(5000))
    elif what == "truncated":
        full = lab.write_economy(lab.generate_economy(300, seed=4), tmp_path / "full.npz")
        data = full.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif what == "empty":
        path.write_bytes(b"")
    else:
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("readme.txt", "hello")
    with pytest.raises(DataFormatError, match=str(path).replace(".", r"\.")):
        lab.read_economy(path)


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(DataFormatError, match="nosuch"):
        lab.read_economy(tmp_path / "nosuch.npz")
    other = tmp_path / "economy.txt"
    other.write_text("x")
    with pytest.raises(DataFormatError, match="economy.txt"):
        lab.read_economy(other)


class _Payload:
    """Unpickling this runs ``os.mkdir(marker)``: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("key", ["data", "codes", "names", "extra"])
def test_pickled_object_array_is_refused_and_never_unpickled(valid_arrays, tmp_path, key):
    marker = tmp_path / "code-ran"
    evil = np.empty(3, dtype=object)
    evil[:] = [_Payload(marker), _Payload(marker), _Payload(marker)]
    path = tmp_path / "evil.npz"
    save_npz(path, _bad(valid_arrays, **{key: evil}), allow_pickle=True)
    with pytest.raises(DataFormatError, match="evil"):
        lab.read_economy(path)
    assert not marker.exists(), "reading the file unpickled an object and ran code"


def test_npz_is_read_without_np_load_or_pickle(valid_arrays, tmp_path, monkeypatch):
    import pickle

    calls = []

    def spy(name):
        def call(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} was called")
        return call

    for module, name in ((np, "load"), (pickle, "load"), (pickle, "loads"),
                         (np.lib.format, "read_array")):
        monkeypatch.setattr(module, name, spy(f"{module.__name__}.{name}"))
    path = tmp_path / "ok.npz"
    save_npz(path, valid_arrays)
    e = lab.read_economy(path)
    assert calls == [] and e.n_products == valid_arrays["shape"][0]


# --------------------------------------------------------------------------- write_values


@pytest.fixture(scope="module")
def results():
    e = small_economy(codes=["corn", "iron", "coal"], resource_names=["labour", "co2"])
    return e, lab.labour_values(e), lab.labour_values(e, resources="all")


def _read_back(path):
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path, dtype={"code": str}).set_index("code")
    frame = pd.read_parquet(path)
    return frame.set_index("code") if "code" in frame.columns else frame


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".CSV"])
def test_write_values_one_row(results, tmp_path, suffix):
    e, one, _ = results
    path = lab.write_values(one, tmp_path / f"v{suffix}")
    frame = _read_back(path)
    assert frame.index.name == "code"
    assert frame.index.tolist() == ["corn", "iron", "coal"]
    assert list(frame.columns) == ["value"]
    np.testing.assert_allclose(frame["value"].to_numpy(), one.values, rtol=1e-15, atol=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_values_all_resources(results, tmp_path, suffix):
    e, _, every = results
    path = lab.write_values(every, tmp_path / f"v{suffix}")
    frame = _read_back(path)
    assert list(frame.columns) == ["labour", "co2"]
    np.testing.assert_allclose(frame.to_numpy().T, every.values, rtol=1e-15, atol=0)


def test_write_values_csv_is_exact(tmp_path):
    """%.17g round-trips float64 exactly."""
    e = lab.generate_economy(300, seed=8)
    res = lab.labour_values(e)
    frame = _read_back(lab.write_values(res, tmp_path / "v.csv"))
    np.testing.assert_array_equal(frame["value"].to_numpy(), res.values)
    assert frame.index.tolist() == e.codes.tolist()


def test_write_values_bad_suffix(results, tmp_path):
    with pytest.raises(ValueError, match="csv or .parquet"):
        lab.write_values(results[1], tmp_path / "v.txt")
    assert list(tmp_path.iterdir()) == []


def test_write_values_does_not_change_the_result(results, tmp_path):
    _, one, _ = results
    lab.write_values(one, tmp_path / "v.csv")
    assert list(one.frame.columns) == ["labour"]


# --------------------------------------------------------------------------- atomic_path


def test_atomic_path_keeps_old_file_when_body_raises(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old contents\n")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp != target
            tmp.write_text("half-writ")
            raise RuntimeError("boom")
    assert target.read_text() == "old contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_atomic_path_no_file_when_body_raises_and_no_old_file(tmp_path):
    target = tmp_path / "new.npz"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_on_success(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as tmp:
        assert not target.exists()
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_write_values_failure_keeps_old_file(results, tmp_path, monkeypatch):
    target = tmp_path / "v.csv"
    target.write_text("old\n")

    def broken(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        lab.write_values(results[1], target)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.csv"]
