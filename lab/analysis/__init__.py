"""Input-output analysis on an economy: footprints of final demand and supply-chain paths.

:func:`footprint` (or :class:`FootprintSolver`, set up once for many calls) turns
final-demand scenarios into gross output x = (I − A)⁻¹y, the multipliers
V = R(I − A)⁻¹ and each scenario's resource footprint, as one multi-right-hand-side
solve on lab's value solvers (``_footprint``). :func:`explain` breaks the value of
one product into the supply-chain paths it comes from (structural path analysis),
by a best-first search bounded by the product's vertically integrated values
(``_paths``). Data flow: an :class:`~lab.Economy` in, :mod:`lab.values` solves,
labelled pandas results out.
"""

from lab.analysis._footprint import FootprintResult, FootprintSolver, footprint
from lab.analysis._paths import explain

__all__ = ["FootprintResult", "FootprintSolver", "explain", "footprint"]
