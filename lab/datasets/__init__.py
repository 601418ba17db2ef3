"""Real input-output tables shipped with lab, and their loader.

Six published national and world tables, converted to lab's ``products.csv`` +
``flows.csv`` layout (see :func:`lab.read_economy`). Sources, units,
transformations and terms are in ``lab/datasets/README.md`` and ``LICENSE-DATA``,
and per table in :func:`info`. The data belong to the statistical offices that
published them, not to lab.

=======================  ========  ========  ================================  ==========
name                     products  non-zero  labour columns (row 0 first)      money unit
=======================  ========  ========  ================================  ==========
``uk-2010``                   127     9,782  compensation                      GBP million
``germany-1995``                6        36  employment, compensation          EUR million
``usa-2014-wiod``              55     3,025  hours_worked, employment, comp.   USD million
``sweden-2016``                59     3,201  hours_worked, employment, comp.   SEK million
``usa-2017-bea-detail``       400    86,175  compensation                      USD million
``world-2011-wiod``         1,413   413,525  none                              USD million
=======================  ========  ========  ================================  ==========

Defaults for the two tables that need an option:

* ``usa-2017-bea-detail`` has 30 negative flows (total −278; they come from negative
  entries in BEA's Use table). They are set to 0 by default (``negative="clip"``), with
  a :class:`UserWarning` giving their count and total; ``negative="error"`` raises
  instead. After clipping, A ≥ 0 as lab requires.
* ``world-2011-wiod`` has no labour column. ``load("world-2011-wiod")`` raises a
  :class:`ValueError` saying so; ``labour="none"`` loads it with one resource row of
  zeros named ``"none"`` (labour values are then 0; the use matrix is usable, e.g.
  with :meth:`lab.ValueSolver.solve` and a right-hand side of your own).

The files are package data read through :mod:`importlib.resources`, so loading works
from an installed wheel. The two large ``flows.csv`` are stored gzip-compressed.

What a plan needs from a table: :func:`load_table` gives the economy with the
table's final demand (a Series by product code) and its resource totals (what each
labour column sums to, by resource name), so targets and availabilities need no
files: ``PlanningProblem(t.economy, t.targets(scale=1.1), available=t.resource_totals)``,
or ``lab plan --dataset uk-2010 --targets final-demand --scale 1.1 --available current``.

Examples
--------
>>> import lab.datasets
>>> lab.datasets.available()[:2]
('uk-2010', 'germany-1995')
>>> economy = lab.datasets.load("germany-1995", labour="employment")
>>> economy
Economy(6 products, 2 resources, 36 non-zeros)
>>> economy.resource_names
('employment', 'compensation')
>>> lab.datasets.info("germany-1995").labour["employment"]
'thousand persons'
>>> table = lab.datasets.load_table("germany-1995")
>>> table.resource_totals.index.tolist()
['employment', 'compensation']
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
import types
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from lab.economy import Economy
from lab.exceptions import DataFormatError, InvalidOptionError
from lab.io import read_economy

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DatasetInfo", "Table", "available", "info", "load", "load_table"]

_FILES = ("products.csv", "flows.csv")
_TIMMER = ("Timmer, M. P., Dietzenbacher, E., Los, B., Stehrer, R. and de Vries, G. J. "
           "(2015), 'An Illustrated User Guide to the World Input-Output Database: the Case "
           "of Global Automotive Production', Review of International Economics 23: 575-605.")


@dataclass(frozen=True)
class DatasetInfo:
    """What is known about one shipped table (see ``lab/datasets/README.md``).

    Attributes
    ----------
    name : str
        The name given to :func:`load`.
    title : str
    source : str
        Publisher and publication the values come from.
    year : int
    products : int
        Number of products (rows of ``products.csv``).
    nonzeros : int
        Number of non-zero flows (non-zeros of A before any clipping).
    money_unit : str
        Unit of ``total_output``, flows and compensation.
    labour : Mapping[str, str]
        Labour columns present, in the order they become resource rows by default
        (row 0 first), mapped to their units. Empty when the table has none.
    terms : str
        Terms of reuse of the data.
    citation : str
        How to cite the source.
    negative : str
        The default of ``load(..., negative=)`` for this table.
    note : str
        Defaults and caveats of the loader for this table ('' if none).
    """

    name: str
    title: str
    source: str
    year: int
    products: int
    nonzeros: int
    money_unit: str
    labour: Mapping[str, str]
    terms: str
    citation: str
    negative: str = "error"
    note: str = ""
    _compressed: tuple[str, ...] = field(default=(), repr=False)


def _table(**kw) -> DatasetInfo:
    kw["labour"] = types.MappingProxyType(dict(kw["labour"]))
    return DatasetInfo(**kw)


_DATASETS: dict[str, DatasetInfo] = {d.name: d for d in (
    _table(
        name="uk-2010",
        title="United Kingdom, 2010, 127 x 127 products (domestic use, basic prices)",
        source="Office for National Statistics (ONS), United Kingdom Input-Output "
               "Analytical Tables, 2010 (via rOpenGov/iotables)",
        year=2010, products=127, nonzeros=9782, money_unit="GBP million",
        labour={"compensation": "GBP million"},
        terms="ONS public data, Crown copyright, reusable under the Open Government "
              "Licence v3.0.",
        citation="Office for National Statistics, United Kingdom Input-Output Analytical "
                 "Tables, 2010. Contains public sector information licensed under the Open "
                 "Government Licence v3.0.",
        note="compensation is 0 for 68-2IMP (owner-occupiers' housing).",
    ),
    _table(
        name="germany-1995",
        title="Germany, 1995, 6 x 6 product groups (domestic output, basic prices)",
        source="Eurostat Manual of Supply, Use and Input-Output Tables (Beutel 2008), "
               "Table 15.4; German Federal Statistical Office via Eurostat (via "
               "rOpenGov/iotables)",
        year=1995, products=6, nonzeros=36, money_unit="EUR million",
        labour={"employment": "thousand persons", "compensation": "EUR million"},
        terms="Eurostat data and publications may be reused with acknowledgement of the "
              "source (Eurostat copyright and reuse policy).",
        citation="Eurostat (2008), Eurostat Manual of Supply, Use and Input-Output Tables, "
                 "Luxembourg: Office for Official Publications of the European Communities "
                 "(J. Beutel), Table 15.4.",
    ),
    _table(
        name="usa-2014-wiod",
        title="United States, 2014, 55 industries (WIOD national IOT, domestic use)",
        source="World Input-Output Database (WIOD), 2016 release: US national input-output "
               "table and Socio-Economic Accounts, DataverseNL doi:10.34894/PJ2M1C (via "
               "dbasu-umass/clptheory)",
        year=2014, products=55, nonzeros=3025, money_unit="USD million",
        labour={"hours_worked": "million hours (employees)",
                "employment": "thousand persons engaged",
                "compensation": "USD million"},
        terms="WIOD data, CC BY 4.0.",
        citation=_TIMMER,
        note="industry U (extraterritorial organisations) is entirely zero in 2014 and "
             "left out.",
    ),
    _table(
        name="sweden-2016",
        title="Sweden, 2016, 59 x 59 products (industry-technology assumption)",
        source="Statistics Sweden (SCB), national accounts supply and use tables, "
               "nrio_sut_181108.xlsx, sheet 2016 (via pablovegan/Economic-Planning)",
        year=2016, products=59, nonzeros=3201, money_unit="SEK million",
        labour={"hours_worked": "hours", "employment": "persons",
                "compensation": "SEK million"},
        terms="Statistics Sweden open data, free to reuse with Statistics Sweden cited as "
              "the source.",
        citation="Source: Statistics Sweden (SCB), national accounts supply and use tables "
                 "2016.",
        note="L68A (imputed rents) was rebuilt from the sheet's own totals and has no "
             "labour; see README.md.",
    ),
    _table(
        name="usa-2017-bea-detail",
        title="United States, 2017, 400 x 400 commodities (industry-technology "
              "assumption, producer prices, imports included)",
        source="US Bureau of Economic Analysis (BEA), detail Make and Use tables, 2017, "
               "before redefinitions (via USEPA/useeior)",
        year=2017, products=400, nonzeros=86175, money_unit="USD million",
        labour={"compensation": "USD million"},
        terms="US federal government data, public domain.",
        citation="U.S. Bureau of Economic Analysis, Input-Output Accounts, detail Make and "
                 "Use tables, 2017.",
        negative="clip",
        note="30 negative flows (total -278, from negative entries of BEA's Use table) are "
             "set to 0 by default (negative='clip', with a UserWarning); "
             "negative='error' raises instead. Flows include imported inputs.",
        _compressed=("flows.csv",),
    ),
    _table(
        name="world-2011-wiod",
        title="World, 2011, 41 regions x 35 sectors (1,413 country-sectors)",
        source="World Input-Output Database (WIOD), 2013 release, world input-output table "
               "2011 (via bquast/wiod)",
        year=2011, products=1413, nonzeros=413525, money_unit="USD million",
        labour={},
        terms="WIOD data, CC BY 4.0.",
        citation=_TIMMER,
        note="no labour column: load with labour='none' (one zero resource row named "
             "'none'). Values are integers, rounded in the R package.",
        _compressed=("flows.csv",),
    ),
)}


def available() -> tuple[str, ...]:
    """Names of the shipped tables, in the order of ``lab/datasets/README.md``.

    Examples
    --------
    >>> import lab.datasets
    >>> len(lab.datasets.available())
    6
    """
    return tuple(_DATASETS)


def info(name: str) -> DatasetInfo:
    """Source, year, units, labour columns, terms and citation of one table.

    Raises
    ------
    ValueError
        ``name`` is not a shipped table (the message lists those that are).

    Examples
    --------
    >>> import lab.datasets
    >>> lab.datasets.info("uk-2010").money_unit
    'GBP million'
    """
    if not isinstance(name, str) or name not in _DATASETS:
        raise InvalidOptionError(f"unknown dataset {name!r}; available: {', '.join(_DATASETS)}")
    return _DATASETS[name]


def _folder(name: str):
    return resources.files(__name__).joinpath(name)


def dataset_files(name: str) -> list[Path]:
    """The files of a shipped table on the file system (none from a zip import); for
    the check that an output never replaces an input."""
    folder = _folder(info(name).name)
    if not isinstance(folder, Path):
        return []
    return [folder / f for f in _FILES] + [folder / (f + ".gz") for f in _FILES]


def _load_from(directory, name, labour, negative):
    """The csv reader on ``directory``, warnings reworded to name the dataset."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        economy = read_economy(directory, format="csv", labour=labour, negative=negative)
    prefix = f"{Path(directory) / 'flows.csv'}: "
    for w in caught:
        message = str(w.message)
        if message.startswith(prefix):
            message = f"{name}: {message[len(prefix):]} (lab.datasets.info({name!r}).note)"
        warnings.warn(message, w.category, stacklevel=3)
    return economy


def load(name: str, *, labour: str | None = None, negative: str | None = None):
    """Load a shipped table as an :class:`~lab.Economy` with codes, names and labour rows.

    Parameters
    ----------
    name : str
        One of :func:`available`.
    labour : str, optional
        The labour column that becomes resource row 0 (``"hours_worked"``,
        ``"employment"`` or ``"compensation"``); the table's other labour columns
        follow. Default: the first present of those three (see :func:`info`).
        ``"none"`` loads a table without labour data (one zero row named
        ``"none"``); it is required for ``world-2011-wiod``.
    negative : {"error", "clip"}, optional
        Negative flows raise or are set to 0 with a ``UserWarning``. Default: the
        table's ``info(name).negative``: ``"clip"`` for ``usa-2017-bea-detail``
        (30 negative flows), ``"error"`` for the others (which have none).

    Returns
    -------
    Economy
        Equal to :func:`lab.read_economy` on the table's folder with the same options.

    Raises
    ------
    ValueError
        Unknown ``name`` (the message lists the available ones); ``labour=None`` for
        a table without labour data; a ``labour`` column the table lacks.

    Examples
    --------
    >>> import lab, lab.datasets
    >>> uk = lab.datasets.load("uk-2010")
    >>> uk.n_products, uk.resource_names, uk.codes[0], uk.names[0]
    (127, ('compensation',), '01', 'Products of agriculture, hunting and related services')
    >>> lab.labour_values(uk).converged
    True
    """
    meta = info(name)
    if labour is None and not meta.labour:
        raise InvalidOptionError(
            f"dataset {name!r} has no labour column; pass labour='none' to load its use "
            "matrix with one zero resource row named 'none'")
    if labour is not None and labour != "none" and labour not in meta.labour:
        raise InvalidOptionError(
            f"dataset {name!r} has no labour column {labour!r}; its labour columns are: "
            f"{', '.join(meta.labour) or 'none'} (or labour='none')")
    if negative is None:
        negative = meta.negative
    folder = _folder(name)
    if not meta._compressed and isinstance(folder, Path):
        return _load_from(folder, name, labour, negative)
    # Compressed files, or a package not on the file system (zip import): write plain
    # copies of the two files the reader needs into a temporary folder.
    with tempfile.TemporaryDirectory(prefix=f"lab-{name}-") as tmp:
        for file in _FILES:
            target = Path(tmp) / file
            if file in meta._compressed:
                with folder.joinpath(file + ".gz").open("rb") as raw, \
                        gzip.open(raw) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            else:
                with folder.joinpath(file).open("rb") as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        return _load_from(tmp, name, labour, negative)


# ---------------------------------------------------------------------- tables for plans


@dataclass(frozen=True, repr=False)
class Table:
    """A table in lab's csv layout with what a plan needs from it (see :func:`load_table`).

    Attributes
    ----------
    name : str
        The dataset's name, or the folder it was read from.
    economy : Economy
        As :func:`load` (or :func:`lab.read_economy`) gives it.
    final_demand : pandas.Series
        Final demand of each product of ``economy`` (consumption, investment,
        inventories, exports, as ``final_demand.csv`` has it), indexed by product
        code in the economy's order, in the table's money unit. Entries may be 0 or
        negative (net exports, inventory drawdowns).
    resource_totals : pandas.Series
        What each resource column of ``products.csv`` sums to over the products,
        indexed by resource name in the economy's order (labour row first): today's
        use of each resource, ``R @ x``. Usable as ``available=`` of a plan.
    info : DatasetInfo or None
        Source, units and terms of a shipped table; None for a folder.
    """

    name: str
    economy: Economy
    final_demand: pd.Series
    resource_totals: pd.Series
    info: DatasetInfo | None = None

    def targets(self, scale: float = 1.0) -> pd.Series:
        """Plan targets from the final demand: ``scale`` × final demand of the products
        whose final demand is > 0 (the others get no target), as a Series by code.

        A target product that uses no limited resource, directly or through its inputs,
        makes the plan unbounded (``usa-2017-bea-detail``'s customs duties ``4200ID``
        use no compensation): the plan says which.

        Raises
        ------
        InvalidOptionError
            ``scale`` not a finite number > 0.
        """
        from lab._validation import check_positive_float
        from lab.exceptions import InvalidEconomyError

        try:
            scale = check_positive_float("scale", scale)
        except InvalidEconomyError as exc:
            raise InvalidOptionError(str(exc)) from None
        if not scale < float("inf"):
            raise InvalidOptionError(f"scale must be finite, got {scale!r}")
        positive = self.final_demand[self.final_demand > 0]
        return (scale * positive).rename("target")

    def __repr__(self) -> str:
        fd = self.final_demand
        return (f"Table({self.name!r}: {self.economy!r}; final demand of {int((fd > 0).sum())} "
                f"of {fd.size} products > 0; resource totals "
                + ", ".join(f"{k} {v:.6g}" for k, v in self.resource_totals.items()) + ")")


def load_table(name, *, labour: str | None = None, negative: str | None = None) -> Table:
    """A shipped table (or a folder in the same csv layout) with its final demand and
    resource totals, for plans without hand-made input files.

    Parameters
    ----------
    name : str or path-like
        One of :func:`available`; or a folder (a :class:`pathlib.Path`) holding
        ``products.csv``, ``flows.csv`` and ``final_demand.csv`` (``code,value``).
    labour, negative
        As for :func:`load` (for a folder, as for :func:`lab.read_economy`).

    Returns
    -------
    Table
        ``economy``, ``final_demand`` (Series by code), ``resource_totals`` (Series by
        resource name) and ``info``.

    Raises
    ------
    InvalidOptionError
        As :func:`load`.
    DataFormatError
        A malformed ``final_demand.csv`` or ``products.csv`` (naming file and line), a
        product of the economy missing from ``final_demand.csv``, or a folder without it.

    Examples
    --------
    >>> import lab, lab.datasets
    >>> uk = lab.datasets.load_table("uk-2010")
    >>> uk.resource_totals.round(0).to_dict()
    {'compensation': 801796.0}
    >>> problem = lab.PlanningProblem(uk.economy, uk.targets(scale=1.1),
    ...                               available=uk.resource_totals)
    >>> round(lab.plan(problem).min_fulfilment, 3)
    0.909
    """
    import os

    if isinstance(name, os.PathLike):
        folder = Path(name)
        economy = read_economy(folder, format="csv", labour=labour,
                               negative=negative or "error")
        return _table(str(folder), economy, folder, None)
    meta = info(name)
    economy = load(name, labour=labour, negative=negative)
    with resources.as_file(_folder(meta.name)) as folder:
        return _table(name, economy, folder, meta)


def _table(name, economy, folder: Path, meta) -> Table:
    import numpy as np
    import pandas as pd

    from lab.io._plan_tables import read_table

    path = folder / "final_demand.csv"
    if not path.is_file():
        raise DataFormatError("the table has no final_demand.csv (columns code,value)",
                              path=folder)
    demand = read_table(path, "code", ("value",))["value"]
    codes = [str(c) for c in economy.codes]
    missing = [c for c in codes if c not in demand]
    if missing:
        raise DataFormatError(f"no final demand for {len(missing)} product(s) of the economy: "
                              + ", ".join(repr(c) for c in missing[:5]), path=path)
    names = [n for n in economy.resource_names if n != "none"]
    columns = read_table(folder / "products.csv", "code", ("total_output",), tuple(names))
    totals = [sum(columns[n].values()) if n in columns else 0.0
              for n in economy.resource_names]
    return Table(
        name=name, economy=economy,
        final_demand=pd.Series([demand[c] for c in codes], index=pd.Index(codes, name="code"),
                               name="final_demand", dtype=np.float64),
        resource_totals=pd.Series(totals, index=pd.Index(economy.resource_names,
                                                         name="resource"),
                                  name="total", dtype=np.float64),
        info=meta)
