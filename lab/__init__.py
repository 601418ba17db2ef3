"""lab: labour values and harmony-balanced plans for economies of millions of products."""

from lab import batch, datasets, supply_use
from lab._pymrio import from_pymrio
from lab.batch import BatchSpec, BatchSummary, JobFileError, JobSpec, read_batch, run_batch
from lab.economy import Economy
from lab.exceptions import (
    BackendWarning,
    ConvergenceWarning,
    DataFormatError,
    EfficiencyWarning,
    InvalidEconomyError,
    InvalidProblemError,
    LabError,
    NotConvergedError,
    NotProductiveError,
)
from lab.generate import generate_economy
from lab.io import read_economy, write_economy, write_values
from lab.planner import CockshottOptions, PlanOptions, PlanResult, PlanStatus, plan
from lab.planning import PlanningProblem
from lab.supply_use import SupplyUseResult, from_supply_use
from lab.values import Status, ValueSolver, ValuesOptions, ValuesResult, labour_values

__version__ = "0.1.0"

__all__ = [
    "BatchSpec",
    "BatchSummary",
    "BackendWarning",
    "ConvergenceWarning",
    "DataFormatError",
    "Economy",
    "EfficiencyWarning",
    "CockshottOptions",
    "InvalidEconomyError",
    "InvalidProblemError",
    "JobFileError",
    "JobSpec",
    "LabError",
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
