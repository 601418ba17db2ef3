"""Batch throughput: 200 scenario jobs on one economy (default 10⁵ products).

Workloads, each writing every job's values as CSV (the batch default):

* ``batch-1``: :func:`lab.run_batch` with ``workers=1`` (in this process);
* ``batch-2``: :func:`lab.run_batch` with ``workers=2`` (a process pool);
* ``naive``: one job at a time, the way the public API is used without the batch:
  build the scenario economy, a fresh ``lab.labour_values`` call (structure
  analysis included), ``lab.write_values``;
* ``naive-arrow``: the same, written by the batch's Arrow writer: the difference
  to ``batch-1`` is then the reuse alone.

The 200 scenarios (seeded): 120 labour-productivity changes (labour of 1,000
random products scaled), 40 replacements of the energy row for 100 products
(energy intensities), 40 technology changes (every input of one product scaled,
the sparsity pattern kept). Every timed round writes into a fresh folder; an
untimed warm-up run comes first. Every job's residual is checked after the round.

Run::

    python benchmarks/test_batch.py                      # the figures as a table
    LAB_BATCH_PRODUCTS=100000 python -m pytest benchmarks/test_batch.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import lab  # noqa: E402
from lab.batch import (  # noqa: E402
    BatchSpec,
    ChangeCoefficients,
    JobSpec,
    ScaleResource,
    SetResource,
    run_batch,
)
from lab.bench import _workloads as W  # noqa: E402

N_JOBS = 200


def n_products() -> int:
    return int(float(os.environ.get("LAB_BATCH_PRODUCTS", "100000")))


def scenarios(economy, n_jobs: int = N_JOBS, seed: int = 7) -> list[JobSpec]:
    rng = np.random.default_rng(seed)
    m = economy.n_products
    jobs = []
    for k in range(n_jobs):
        kind = k % 5
        if kind in (0, 1, 2):      # 3/5: labour productivity in 1,000 products
            products = [f"P{i}" for i in rng.choice(m, 1000, replace=False)]
            change = ScaleResource("labour", float(rng.uniform(0.7, 1.0)), products)
            jobs.append(JobSpec(f"labour-{k}", "e", changes=[change]))
        elif kind == 3:            # 1/5: new energy intensities of 100 products
            values = {f"P{i}": float(rng.uniform(0, 2)) for i in
                      rng.choice(m, 100, replace=False)}
            jobs.append(JobSpec(f"energy-{k}", "e", resources="energy",
                                changes=[SetResource("energy", values)]))
        else:                      # 1/5: a technology change of one product
            product = f"P{int(rng.integers(m))}"
            jobs.append(JobSpec(f"tech-{k}", "e", changes=[
                ChangeCoefficients(product, factor=float(rng.uniform(0.5, 0.95)))]))
    return jobs


def naive(economy, jobs, out: Path, writer: str = "write_values") -> None:
    """One job at a time: a scenario economy, a fresh solve, ``lab.write_values``.

    ``writer="arrow"`` writes with the batch's own writer instead, so that the
    difference to the batch is the reuse alone.
    """
    from lab.batch._worker import _Writer, scenario  # the same edits as the batch applies

    fresh = lab.Economy(economy.A, economy.R, resource_names=economy.resource_names)
    for job in jobs:
        scen, _ = scenario(fresh, job.changes)
        if scen is fresh:
            scen = lab.Economy(fresh.A, fresh.R, resource_names=fresh.resource_names)
        result = lab.labour_values(scen, resources=job.resources, rtol=W.RTOL)
        assert result.converged
        (out / job.name).mkdir(parents=True)
        if writer == "arrow":
            _Writer(scen).write(result, out / job.name / "values.csv", "csv")
        else:
            lab.write_values(result, out / job.name / "values.csv")


def check(out: Path, jobs, economy) -> float:
    """Largest residual of the written results, recomputed with scipy from the scenario."""
    import pandas as pd
    import scipy.sparse as sp

    from lab.batch._worker import scenario

    worst = 0.0
    for job in jobs[::9]:
        scen, _ = scenario(economy, job.changes)
        row = scen.resource_names.index(job.resources or "labour")
        v = pd.read_csv(out / "jobs" / job.name / "values.csv")["value"].to_numpy() \
            if (out / "jobs").is_dir() else \
            pd.read_csv(out / job.name / "values.csv")["value"].to_numpy()
        AT = sp.csr_array((scen.A.data, scen.A.indices, scen.A.indptr), shape=scen.A.shape)
        r = np.abs(scen.R[row] + AT @ v - v).max() / np.abs(v).max()
        worst = max(worst, float(r))
    return worst


def workload(name: str, economy, jobs):
    spec = BatchSpec({"e": economy}, jobs)

    def run(out: Path):
        if name.startswith("naive"):
            naive(economy, jobs, out, "arrow" if name == "naive-arrow" else "write_values")
        else:
            summary = run_batch(spec, out=out, workers=1 if name == "batch-1" else 2)
            assert summary.ok, summary.table()

    return run


@pytest.fixture(scope="module")
def setup():
    economy = W.make_economy(n_products())
    return economy, scenarios(economy)


@pytest.mark.parametrize("name", ["batch-1", "batch-2", "naive", "naive-arrow"])
def test_batch_throughput(benchmark, setup, name, tmp_path):
    economy, jobs = setup
    run = workload(name, economy, jobs)
    run(tmp_path / "warm-up")  # untimed: imports, JIT, caches
    rounds = iter(range(1000))

    def fresh_folder():
        return (tmp_path / f"round-{next(rounds)}",), {}

    benchmark.group = f"batch of {len(jobs)} jobs, n={economy.n_products}"
    benchmark.pedantic(run, setup=fresh_folder, rounds=W_rounds(), iterations=1)
    last = max(tmp_path.glob("round-*"), key=lambda p: int(p.name.split("-")[1]))
    residual = check(last, jobs, economy)
    benchmark.extra_info.update(n_products=economy.n_products, jobs=len(jobs),
                                residual=residual)
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["jobs_per_second"] = len(jobs) / benchmark.stats["median"]
    assert residual <= W.RTOL * 1.0001


def W_rounds() -> int:
    return max(1, int(os.environ.get("LAB_BENCH_ROUNDS", "3")))


def main():
    economy = W.make_economy(n_products())
    jobs = scenarios(economy)
    print(f"{len(jobs)} jobs on {economy.n_products} products ({economy.nnz} non-zeros), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = {}
    for name in ("batch-1", "batch-2", "naive", "naive-arrow"):
        run = workload(name, economy, jobs)
        with tempfile.TemporaryDirectory() as tmp:
            run(Path(tmp) / "warm-up")
            times = []
            for r in range(W_rounds()):
                t0 = time.perf_counter()
                run(Path(tmp) / f"round-{r}")
                times.append(time.perf_counter() - t0)
            residual = check(Path(tmp) / f"round-{W_rounds() - 1}", jobs, economy)
        rows[name] = float(np.median(times))
        print(f"{name:<8} median {rows[name]:7.2f} s of {times}  {len(jobs) / rows[name]:6.2f} "
              f"jobs/s  residual ≤ {residual:.1e}", flush=True)
    print(f"throughput ratios: 2 workers / 1 worker {rows['batch-1'] / rows['batch-2']:.2f}x; "
          f"batch-1 / naive {rows['naive'] / rows['batch-1']:.2f}x; "
          f"batch-2 / naive {rows['naive'] / rows['batch-2']:.2f}x; "
          f"batch-1 / naive-arrow (reuse alone) {rows['naive-arrow'] / rows['batch-1']:.2f}x")


if __name__ == "__main__":
    main()
