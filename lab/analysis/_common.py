"""Argument checks shared by footprints and path analysis: the economy and resource rows."""

from __future__ import annotations

import numbers

from lab.economy import Economy
from lab.exceptions import InvalidEconomyError

__all__ = ["check_economy", "resource_rows"]


def check_economy(economy) -> Economy:
    if not isinstance(economy, Economy):
        raise InvalidEconomyError(
            f"economy must be a lab.Economy, got {type(economy).__name__}")
    return economy


def resource_rows(economy: Economy, resources) -> list[int]:
    """Rows of R named by ``resources``: "all", a name, a row number or a sequence of those.

    ``"labour"`` names the row called so or, when there is none, row 0 (the
    economy's labour row by convention, :attr:`Economy.labour`).
    """
    names = economy.resource_names
    r = economy.n_resources
    if isinstance(resources, str) and resources == "all":
        return list(range(r))
    single = isinstance(resources, (str, numbers.Integral))
    items = [resources] if single else resources
    try:
        items = list(items)
    except TypeError:
        raise InvalidEconomyError(
            f"resources must be 'all', a resource name, a row number or a sequence of "
            f"those, got {resources!r}") from None
    if not items:
        raise InvalidEconomyError("resources is empty; the economy has "
                                  f"{list(names)}")
    rows = []
    for item in items:
        if isinstance(item, str):
            if item in names:
                rows.append(names.index(item))
            elif item == "labour":
                rows.append(0)
            else:
                raise InvalidEconomyError(
                    f"resources: unknown resource {item!r}; the economy has {list(names)}")
        elif isinstance(item, numbers.Integral) and not isinstance(item, bool):
            if not -r <= item < r:
                raise InvalidEconomyError(
                    f"resources: row {item} is out of range for {r} resource row(s) "
                    f"{list(names)}")
            rows.append(int(item) % r)
        else:
            raise InvalidEconomyError(
                f"resources: expected a resource name or a row number, got {item!r}")
    if len(set(rows)) != len(rows):
        raise InvalidEconomyError(f"resources names a row twice: {resources!r}")
    return rows
