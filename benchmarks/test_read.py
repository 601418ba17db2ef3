"""Reading a Parquet triplet folder (products.parquet + flows.parquet) with lab,
against the I/O floor: ``pyarrow.parquet.read_table`` of the same two files.

Size: ``LAB_BENCH_READ_SIZE`` products (default 10⁶; the claim checked by hand is
10⁷, ≈1.2·10⁸ flows). The folder is generated once (seeded) and written with
:func:`lab.io.write_economy` (lab's layout and row group size) into a temporary
folder, or taken from ``LAB_BENCH_READ_DIR`` if that names an existing folder
(written there otherwise). The floor reads the same files, as plain strings.
Peak RSS of the process (``ru_maxrss``) and the CPU seconds of the timed rounds
(user + system: steadier than wall time on a shared machine) are in
``extra_info``; run each benchmark in its own process (``-k``) for a clean
per-reader peak.

    LAB_BENCH_READ_SIZE=10000000 LAB_BENCH_READ_DIR=/tmp/econ7 \\
        python -m pytest benchmarks/test_read.py -k lab --benchmark-min-rounds=1
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import lab
from lab.io import read_economy, write_economy

SIZE = int(float(os.environ.get("LAB_BENCH_READ_SIZE", "1e6")))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    given = os.environ.get("LAB_BENCH_READ_DIR")
    path = Path(given) if given else tmp_path_factory.mktemp("read") / f"econ-{SIZE}"
    if not (path / "flows.parquet").exists():
        e = lab.generate_economy(SIZE, seed=1)
        write_economy(e, path, format="parquet")
        del e
    return path


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _info(benchmark, folder, nnz, cpu_s):
    benchmark.extra_info.update({
        "n_products": SIZE, "n_flows": nnz, "peak_rss_mib": round(_peak_rss_mib(), 1),
        "cpu_s_per_round": round(cpu_s, 2),
        "bytes_on_disk": sum(p.stat().st_size for p in folder.iterdir()),
    })


@pytest.mark.parametrize("reader", ["lab", "io_floor"], ids=lambda r: f"{r}-{SIZE:.0e}")
def test_read_parquet(benchmark, folder, reader):
    if reader == "lab":
        def run():
            return read_economy(folder, format="parquet").nnz
    else:
        def run():
            pq.read_table(folder / "products.parquet")
            return pq.read_table(folder / "flows.parquet").num_rows
    run()  # warm-up: page cache, imports and JIT compilation, not timed
    rounds = int(os.environ.get("LAB_BENCH_ROUNDS", "3"))
    cpu0 = _cpu_s()
    nnz = benchmark.pedantic(run, rounds=rounds, iterations=1)
    _info(benchmark, folder, nnz, (_cpu_s() - cpu0) / rounds)
