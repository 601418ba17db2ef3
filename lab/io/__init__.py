"""Files and foreign formats in, economies and results out.

:func:`read_economy` detects the format of a file or folder and hands it to one
module per format (``_csv``, ``_parquet``, ``_mtx``, ``_npz``, ``_dense``); the
csv and parquet readers share the step from money flows to coefficients
(``_flows``). :func:`write_economy` and :func:`write_values` write atomically.
Converters build economies from other representations: :mod:`lab.io.supply_use`
(supply and use tables) and :func:`from_pymrio` (a pymrio ``IOSystem``).
``_plan_tables`` reads the small CSV inputs of a plan and writes plans.

Every problem with a file raises :class:`~lab.exceptions.DataFormatError` naming
the file and the line or product code.
"""

from lab.io import supply_use
from lab.io._formats import FORMATS, detect_format, read_economy, write_economy, write_values
from lab.io._pymrio import from_pymrio
from lab.io.supply_use import SupplyUseResult, from_supply_use

__all__ = ["FORMATS", "SupplyUseResult", "detect_format", "from_pymrio", "from_supply_use",
           "read_economy", "supply_use", "write_economy", "write_values"]
