"""lab: labour values and harmony-balanced plans for economies of millions of products."""

from lab.exceptions import (
    BackendWarning,
    ConvergenceWarning,
    DataFormatError,
    EfficiencyWarning,
    InvalidEconomyError,
    LabError,
    NotConvergedError,
    NotProductiveError,
)

__version__ = "0.1.0"

__all__ = [
    "BackendWarning",
    "ConvergenceWarning",
    "DataFormatError",
    "EfficiencyWarning",
    "InvalidEconomyError",
    "LabError",
    "NotConvergedError",
    "NotProductiveError",
    "__version__",
]
