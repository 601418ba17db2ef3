"""Batch solve jobs: scenario sweeps that survive crashes, on a process pool or Dask.

A TOML job file is parsed into a :class:`BatchSpec` (``_spec``: economies, jobs,
parameter grids, scenario changes); :func:`run_batch` (``_driver``) chunks the jobs
and runs them inline, on a process pool or on Dask, where ``_worker`` applies each
scenario and solves it, reusing one solver per economy; ``_store`` owns the output
folder (atomic records, the manifest, resume checks). ``_example`` is the job file
of ``lab batch --example``.
"""

from lab.batch._driver import (
    BatchInterrupted,
    BatchProgress,
    BatchSummary,
    JobOutcome,
    economy_digest,
    run_batch,
)
from lab.batch._spec import (
    BatchSpec,
    ChangeCoefficients,
    EconomySource,
    JobFileError,
    JobSpec,
    ScaleResource,
    SetAvailability,
    SetResource,
    SetTargets,
    parse_batch,
    read_batch,
)

__all__ = [
    "BatchInterrupted",
    "BatchProgress",
    "BatchSpec",
    "BatchSummary",
    "ChangeCoefficients",
    "EconomySource",
    "JobFileError",
    "JobOutcome",
    "JobSpec",
    "ScaleResource",
    "SetAvailability",
    "SetResource",
    "SetTargets",
    "economy_digest",
    "parse_batch",
    "read_batch",
    "run_batch",
]
