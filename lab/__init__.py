"""lab: labour values and harmony-balanced plans for economies of millions of products."""

# lab.report registers the HTML report writers that result.to_html calls (lab._html)
from lab import batch, datasets, report
from lab._version import __version__
from lab.analysis import FootprintResult, FootprintSolver, explain, footprint
from lab.batch import BatchSpec, BatchSummary, JobFileError, JobSpec, read_batch, run_batch
from lab.economy import Economy
from lab.exceptions import (
    BackendWarning,
    ConvergenceWarning,
    DataFormatError,
    EfficiencyWarning,
    InvalidEconomyError,
    InvalidOptionError,
    InvalidProblemError,
    InvalidTypeError,
    LabError,
    NotConvergedError,
    NotProductiveError,
)
from lab.generate import generate_economy
from lab.io import (
    SupplyUseResult,
    from_pymrio,
    from_supply_use,
    read_economy,
    supply_use,
    write_economy,
    write_values,
)
from lab.planning import (
    CockshottOptions,
    MultiYearProblem,
    MultiYearResult,
    PlanningProblem,
    PlanOptions,
    PlanResult,
    PlanStatus,
    plan,
)
from lab.values import Status, ValueSolver, ValuesOptions, ValuesResult, labour_values

__all__ = [
    "BatchSpec",
    "BatchSummary",
    "BackendWarning",
    "ConvergenceWarning",
    "DataFormatError",
    "Economy",
    "EfficiencyWarning",
    "FootprintResult",
    "FootprintSolver",
    "CockshottOptions",
    "InvalidEconomyError",
    "InvalidOptionError",
    "InvalidProblemError",
    "InvalidTypeError",
    "JobFileError",
    "JobSpec",
    "LabError",
    "MultiYearProblem",
    "MultiYearResult",
    "NotConvergedError",
    "NotProductiveError",
    "PlanOptions",
    "PlanResult",
    "PlanStatus",
    "PlanningProblem",
    "Status",
    "SupplyUseResult",
    "ValueSolver",
    "ValuesOptions",
    "ValuesResult",
    "__version__",
    "batch",
    "datasets",
    "report",
    "explain",
    "footprint",
    "from_pymrio",
    "from_supply_use",
    "generate_economy",
    "labour_values",
    "plan",
    "read_batch",
    "read_economy",
    "run_batch",
    "supply_use",
    "write_economy",
    "write_values",
]
