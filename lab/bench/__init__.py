"""The benchmark suite: lab against the peers a user would otherwise pick, in one process.

``_workloads`` is the one registry of what is measured (lab's solvers, scipy,
pymrio, HiGHS, on seeded economies); both ``lab bench`` and the pytest-benchmark
suites in ``benchmarks/`` take their workloads from it. ``_measure`` times calls
and measures the machine (streaming bandwidth, load, memory); ``_suite`` runs a
:class:`BenchConfig` into a report; ``_report`` writes it (JSON, Markdown,
plots); ``_child`` measures peak memory in a fresh process.
"""

from lab.bench._suite import (
    PROFILES,
    BenchConfig,
    format_table,
    kernel_bytes,
    run_bench,
    write_report,
)

__all__ = ["BenchConfig", "PROFILES", "format_table", "kernel_bytes", "run_bench",
           "write_report"]
