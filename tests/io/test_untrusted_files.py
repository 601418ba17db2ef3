"""Files that are not what they claim (issue 11, items 8, 9, 10).

* Truncation (item 8): every truncation of every file lab writes, at every byte, is an
  error (the folders carry a manifest of sizes and sha256, dense-csv ends with ``#end``,
  Matrix Market counts its entries); third-party text files cut in a line are refused
  because their last line has no line end.
* Declared sizes (item 9): a size line or an array header that asks for more memory
  than the file could hold is refused, naming the file, before anything is allocated.
* Not regular files (item 10): FIFOs, ``/dev/zero`` and links to them are refused at
  once by every reader; those checks run in a child process with a timeout, so a hang
  fails the test instead of stopping the test run.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import run_python

import lab
from lab.exceptions import DataFormatError
from lab.io import read_economy, write_economy
from lab.io._files import MANIFEST

SMALL = lab.generate_economy(5, seed=4)
FILE_OF = {"csv": "e", "parquet": "e", "mtx": "e.mtx", "npz": "e.npz", "dense-csv": "e.csv"}


def written(tmp_path, fmt):
    return written_economy(tmp_path, SMALL, fmt)


def written_economy(tmp_path, economy, fmt):
    path = tmp_path / FILE_OF[fmt]
    write_economy(economy, path, format=fmt)
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    if fmt == "mtx":
        files.append(tmp_path / "e.resources.csv")
    return path, [f for f in files if f.name != MANIFEST]


# --------------------------------------------------------------------------- item 8


@pytest.mark.parametrize("fmt", list(FILE_OF))
def test_every_truncation_of_every_file_lab_writes_is_an_error(tmp_path, fmt):
    path, files = written(tmp_path, fmt)
    for target in files:
        whole = target.read_bytes()
        for cut in range(len(whole)):
            target.write_bytes(whole[:cut])
            with pytest.raises(DataFormatError):
                read_economy(path, format=fmt)
        target.write_bytes(whole)
    assert (read_economy(path, format=fmt).A != SMALL.A).nnz == 0


def test_a_dropped_line_of_a_lab_folder_is_an_error_naming_the_file(tmp_path):
    write_economy(SMALL, tmp_path / "e", format="csv")
    flows = tmp_path / "e" / "flows.csv"
    lines = flows.read_text().splitlines(keepends=True)
    flows.write_text("".join(lines[:3] + lines[4:]))
    rows = len(lines) - 1
    with pytest.raises(DataFormatError, match=rf"flows\.csv: has \d+ bytes and {rows - 1} data "
                                              rf"rows but lab wrote \d+ bytes and {rows} rows "
                                              r"\(truncated"):
        read_economy(tmp_path / "e")
    k = lines[3].rindex(",") + 3  # one digit of a value: same size, other content
    digit = "7" if lines[3][k] != "7" else "8"
    flows.write_text("".join(lines[:3] + [lines[3][:k] + digit + lines[3][k + 1:]] + lines[4:]))
    with pytest.raises(DataFormatError, match="sha256 differs"):
        read_economy(tmp_path / "e")
    (tmp_path / "e" / MANIFEST).unlink()  # a hand-edited folder: read it without the check
    assert read_economy(tmp_path / "e").n_products == SMALL.n_products


def test_issue_repro_flows_truncated_to_3_of_13_flows(tmp_path):
    economy = lab.generate_economy(4, seed=2)
    write_economy(economy, tmp_path / "e", format="csv")
    flows = tmp_path / "e" / "flows.csv"
    lines = flows.read_text().splitlines(keepends=True)
    assert len(lines) > 4
    flows.write_text("".join(lines[:4]))  # the header and 3 flows, cut at a line end
    with pytest.raises(DataFormatError, match="truncated"):
        read_economy(tmp_path / "e")


def test_dense_csv_that_lost_its_energy_row(tmp_path):
    path = tmp_path / "e.csv"
    write_economy(SMALL, path)
    text = path.read_text()
    assert text.splitlines()[-2].startswith("co2,") and text.endswith("#end\n")
    for lost in ("co2", "energy"):
        cut = text[:text.index(f"\n{lost},") + 1]
        path.write_text(cut)
        with pytest.raises(DataFormatError, match="truncated"):
            read_economy(path)


def test_third_party_text_cut_inside_a_line_is_refused(tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "products.csv").write_text("code,name,total_output,labour\na,,10,1\nb,,10,2\n")
    (folder / "flows.csv").write_text("input_code,output_code,value\na,b,1.25\nb,a,0.5")
    with pytest.raises(DataFormatError, match=r"flows\.csv, line 3: the last line has no "
                                              "line end"):
        read_economy(folder)
    mtx = tmp_path / "m.mtx"
    mtx.write_text("%%MatrixMarket matrix coordinate real general\n2 2 1\n1 2 0.12")
    with pytest.raises(DataFormatError, match="no line end"):
        read_economy(mtx)


def test_mtx_lines_end_at_newline_only(tmp_path):
    """Found by the long fuzz run: str.splitlines() also breaks at \\x1c, \\x85 and
    \\u2028, so the body was split where the header (read by line) was not. A line
    break inside an entry line is now no line break: the entry has too many fields."""
    mtx = tmp_path / "m.mtx"
    mtx.write_bytes(b"%%MatrixMarket matrix coordinate real general\n% a\x1cb\n"
                    b"2 2 1\n1 2 0.25\n")
    np.testing.assert_array_equal(read_economy(mtx).A.toarray(), [[0.0, 0.25], [0.0, 0.0]])
    mtx.write_bytes(b"%%MatrixMarket matrix coordinate real general\n2 2 2\n"
                    b"1 2 0.25\xe2\x80\xa82 1 0.5\n")
    with pytest.raises(DataFormatError):
        read_economy(mtx)


# --------------------------------------------------------------------------- item 9


def test_mtx_size_line_of_2e9_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.mtx"
    path.write_text("%%MatrixMarket matrix coordinate real general\n"
                    "2000000000 2000000000 1\n1 1 0.5\n")
    with pytest.raises(DataFormatError, match=r"huge\.mtx: the size line declares a "
                                              r"2000000000 × 2000000000 matrix"):
        read_economy(path)
    path.write_text("%%MatrixMarket matrix coordinate real general\n3 3 1000000\n1 1 0.5\n")
    with pytest.raises(DataFormatError, match="1000000 entries, more than a 3 × 3 matrix"):
        read_economy(path)
    path.write_text("%%MatrixMarket matrix coordinate real general\n9000 9000 1000000\n"
                    "1 1 0.5\n")
    with pytest.raises(DataFormatError, match="1000000 entries, which needs at least"):
        read_economy(path)
    path.write_text("%%MatrixMarket matrix array real general\n100000 100000\n0.5\n")
    with pytest.raises(DataFormatError, match="declares a 100000 × 100000 matrix"):
        read_economy(path)


def _npz_with_header(path, key, shape, valid):
    """A lab .npz whose member ``key`` declares ``shape`` but holds the original data."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, arr in valid.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, arr)
            raw = member.getvalue()
            if name == key:
                header = {"descr": "<f8", "fortran_order": False, "shape": shape}
                text = repr(header).encode().ljust(118) + b"\n"
                raw = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + \
                    raw[len(raw) - arr.nbytes:]
            zf.writestr(f"{name}.npy", raw)
    path.write_bytes(buf.getvalue())


def test_npz_header_declaring_2_to_the_40_floats_is_refused(tmp_path):
    good = tmp_path / "good.npz"
    write_economy(SMALL, good)
    with np.load(good) as f:
        valid = {k: f[k] for k in f.files}
    bad = tmp_path / "bad.npz"
    _npz_with_header(bad, "data", (2**40,), valid)
    with pytest.raises(DataFormatError, match=r"bad\.npz: array 'data' declares shape "
                                              r"\(1099511627776,\)"):
        read_economy(bad)


def test_cli_says_the_file_is_corrupt_not_out_of_memory(tmp_path):
    from click.testing import CliRunner

    from lab.cli import cli

    path = tmp_path / "huge.mtx"
    path.write_text("%%MatrixMarket matrix coordinate real general\n"
                    "2000000000 2000000000 1\n1 1 0.5\n")
    result = CliRunner().invoke(cli, ["values", str(path)])
    assert result.exit_code == 2
    assert "huge.mtx: the size line declares" in result.stderr
    assert "out of memory" not in result.stderr


@pytest.mark.parametrize("npz_member", ["resource_names", "codes", "names"])
def test_npz_with_0d_string_arrays_is_a_data_format_error(tmp_path, npz_member):
    good = tmp_path / "good.npz"
    write_economy(lab.Economy(SMALL.A, SMALL.R, codes=list("abcde"), names=list("ABCDE"),
                              resource_names=SMALL.resource_names), good)
    with np.load(good) as f:
        arrays = {k: f[k] for k in f.files}
    arrays[npz_member] = np.array("labour")  # issue 11, item 14: 0-d gave a TypeError
    with zipfile.ZipFile(tmp_path / "bad.npz", "w") as zf:
        for k, a in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, a)
            zf.writestr(f"{k}.npy", member.getvalue())
    with pytest.raises(DataFormatError, match=f"{npz_member} must be a 1-D array"):
        read_economy(tmp_path / "bad.npz")


# --------------------------------------------------------------------------- item 10

_NOT_REGULAR = r'''
import json, os, sys, warnings
from pathlib import Path
import lab
from lab.io._plan_tables import read_table
from lab.batch import read_batch
warnings.simplefilter("ignore")
tmp = Path(sys.argv[1])
fifo = tmp / "fifo"
os.mkfifo(fifo)
zero = Path("/dev/zero")
links = {}
for name, target in (("zero.csv", zero), ("fifo.csv", fifo), ("zero.npz", zero),
                     ("zero.mtx", zero), ("fifo.npz", fifo), ("noext", fifo)):
    links[name] = tmp / name
    links[name].symlink_to(target)

def folder(fmt, bad, target):
    d = tmp / f"{fmt}-{bad}-{target.name}"
    lab.write_economy(lab.generate_economy(5, seed=1), d, format=fmt)
    (d / bad).unlink()
    (d / bad).symlink_to(target)
    if fmt == "csv" and bad != "lab-manifest.json":
        (d / "lab-manifest.json").unlink()  # the reader itself meets the FIFO
    return d

mtx = tmp / "m.mtx"
lab.write_economy(lab.generate_economy(5, seed=1), mtx)
(tmp / "m.resources.csv").unlink()
(tmp / "m.resources.csv").symlink_to(fifo)

CASES = {
    "read_economy(FIFO)": lambda: lab.read_economy(fifo),
    "read_economy(FIFO, format=npz)": lambda: lab.read_economy(fifo, format="npz"),
    "read_economy(/dev/zero, dense-csv)": lambda: lab.read_economy(zero, format="dense-csv"),
    "read_economy(/dev/zero, mtx)": lambda: lab.read_economy(zero, format="mtx"),
    "read_economy(/dev/zero, npz)": lambda: lab.read_economy(zero, format="npz"),
    "read_economy(/dev/zero)": lambda: lab.read_economy(zero),
    **{f"read_economy(link {n})": (lambda p=p: lab.read_economy(p)) for n, p in links.items()},
    "csv folder, flows.csv -> /dev/zero": lambda: lab.read_economy(
        folder("csv", "flows.csv", zero)),
    "csv folder, products.csv -> FIFO": lambda: lab.read_economy(
        folder("csv", "products.csv", fifo)),
    "csv folder, manifest -> FIFO": lambda: lab.read_economy(
        folder("csv", "lab-manifest.json", fifo)),
    "parquet folder, flows -> FIFO": lambda: lab.read_economy(
        folder("parquet", "flows.parquet", fifo)),
    "parquet folder, products -> /dev/zero": lambda: lab.read_economy(
        folder("parquet", "products.parquet", zero)),
    "mtx sidecar -> FIFO": lambda: lab.read_economy(mtx),
    "plan targets FIFO": lambda: read_table(fifo, "code", ("target",)),
    "plan targets /dev/zero": lambda: read_table(zero, "code", ("target",)),
    "job file FIFO": lambda: read_batch(fifo),
    "job file /dev/zero": lambda: read_batch(links["zero.csv"]),
}
for name, case in CASES.items():
    try:
        case()
        out = {"case": name, "outcome": "accepted"}
    except ValueError as exc:
        out = {"case": name, "outcome": type(exc).__name__, "message": str(exc)}
    print(json.dumps(out), flush=True)
'''


def test_fifos_devices_and_links_to_them_are_refused_by_every_reader(tmp_path):
    proc = run_python(_NOT_REGULAR, timeout=120, argv=[tmp_path])
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == 22
    for r in results:
        assert r["outcome"] in ("DataFormatError", "JobFileError"), r
        assert "not a regular file" in r["message"], r


def test_cli_refuses_fifos_for_values_plan_and_batch(tmp_path):
    """``lab values FIFO``, ``lab plan --targets FIFO``, ``lab batch FIFO`` and a job whose
    economy is a FIFO: one error line each, at once (a hang fails by the timeout)."""
    import subprocess
    import sys

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    economy = tmp_path / "e.npz"
    write_economy(SMALL, economy)
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(f'[economies.e]\npath = "{fifo.name}"\n[[jobs]]\nname = "a"\n')
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    runs = {
        "values": (["values", str(fifo)], 2),
        "plan": (["plan", str(economy), "--targets", str(fifo)], 2),
        "batch": (["batch", str(fifo)], 2),
        "batch job on a FIFO economy": (["batch", str(jobs), "--out", str(tmp_path / "o"),
                                         "--workers", "1"], 1),
    }
    for what, (args, code) in runs.items():
        proc = subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True,
                              text=True, timeout=120, env=env, cwd=tmp_path)
        assert proc.returncode == code, (what, proc.stderr)
        assert "Traceback" not in proc.stderr, (what, proc.stderr)
        if what.startswith("batch job"):
            record = json.loads((tmp_path / "o" / "jobs" / "a" / "record.json").read_text())
            assert "not a regular file" in record["error"]["message"]
        else:
            assert proc.stderr.strip().splitlines()[-1].startswith("lab: error: "), what
            assert "not a regular file" in proc.stderr, (what, proc.stderr)


@pytest.mark.parametrize("fmt", ["parquet", "npz"])
def test_every_byte_of_checksummed_formats_changed_is_an_error_or_the_original(tmp_path, fmt):
    """A byte flipped anywhere (data, dictionary, footer, zip directory) of a file lab
    wrote: lab's error, or exactly the original (a byte nobody reads). A flip in the
    Parquet footer once declared a negative row count (a raw ValueError from NumPy)."""
    economy = lab.Economy(np.zeros((2, 2)), [1.0, 2.0], codes=["only", "two"])
    path, files = written_economy(tmp_path, economy, fmt)
    for target in files:
        whole = target.read_bytes()
        for k in range(len(whole)):
            for value in (whole[k] ^ 0x01, 0xFF):
                target.write_bytes(whole[:k] + bytes([value]) + whole[k + 1:])
                try:
                    back = read_economy(path, format=fmt)
                except DataFormatError:
                    continue
                assert list(back.codes) == ["only", "two"] and back.nnz == 0, (target, k)
                np.testing.assert_array_equal(back.R, economy.R)
        target.write_bytes(whole)
