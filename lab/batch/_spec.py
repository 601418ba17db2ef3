"""Batch job specifications: economies, scenario changes, jobs, and the TOML job file.

The dataclasses here are the one validation path of batch jobs: the Python API
builds them directly, and :func:`read_batch` only checks the keys of the TOML
file against their fields, builds them, and attaches the file and line to any
error they raise. Option tables are the solvers' own option dataclasses
(:class:`lab.ValuesOptions` for labour values).

Job file (TOML)
---------------
::

    [batch]                      # optional: format = "csv" | "parquet", out = "DIR"
    format = "csv"

    [economies.uk]               # one of: dataset, path, generate
    dataset = "uk-2010"
    [economies.synthetic]
    generate = { n_products = 20000, seed = 1 }

    [defaults]                   # job keys applied to every job and grid
    economy = "synthetic"
    options = { method = "auto", rtol = 1e-10 }

    [[jobs]]
    name = "base"

    [[jobs]]
    name = "cheaper-energy"
    [[jobs.changes]]
    type = "scale_resource"      # scale_resource, set_resource, coefficients,
    resource = "energy"          # targets, availability
    factor = 0.8

    [[grids]]                    # one job per combination of the parameters
    name = "labour-{factor}"
    parameters = { factor = [0.9, 1.1] }
    changes = [{ type = "scale_resource", resource = "labour", factor = "{factor}" }]

``[defaults]`` keys apply to every job; its ``options`` only to jobs of the
default's kind (``kind`` in ``[defaults]``, else ``"values"``), since each kind
has its own options dataclass. In a grid, a string that is exactly ``"{p}"``
becomes the value of parameter ``p`` (keeping its type); other strings have
``{p}`` replaced by its text.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import itertools
import json
import math
import numbers
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lab.exceptions import InvalidTypeError, LabError
from lab.values import ValuesOptions

__all__ = [
    "KINDS",
    "BatchSpec",
    "ChangeCoefficients",
    "EconomySource",
    "JobFileError",
    "JobSpec",
    "ScaleResource",
    "SetAvailability",
    "SetResource",
    "SetTargets",
    "read_batch",
]

#: Job kinds: labour values, harmony-balanced plans, and plans over several years.
KINDS = ("values", "plan", "multiyear")
#: Job keys of multi-year plans: the options of ``lab plan --years`` (the CLI's
#: ``--initial-stocks`` is ``initial_stocks`` here), the same names as
#: :class:`lab.MultiYearProblem`'s arguments.
MULTIYEAR_KEYS = ("years", "capital", "depreciation", "initial_stocks", "terminal_stocks",
                  "year_weights")
#: Those of them that may name a CSV file (a string; numbers are rates or fractions).
FILE_KEYS = ("capital", "depreciation", "initial_stocks", "terminal_stocks")
#: Output formats of the per-job results.
FORMATS = ("csv", "parquet")
#: Most jobs a job file may describe, and its largest size: bounds on what parsing it
#: can cost (a grid of three parameters of 1,000 values each would be 10⁹ jobs).
MAX_JOBS = 100_000
MAX_JOB_FILE_BYTES = 16 << 20
#: Job and economy names: they become folder names inside the output folder.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]{0,127}\Z")


class JobFileError(LabError, ValueError):
    """A batch job file (or a job specification) is malformed.

    The message names the file, the line and the key, e.g.
    ``jobs.toml, line 12: jobs[3].changes[0]: unknown key 'factr'; allowed: ...``.
    """

    def __init__(self, message: str, *, path=None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}" + (f", line {line}" if line is not None else "") + ": "
        super().__init__(where + message)
        self.path = path
        self.line = line


# --------------------------------------------------------------------------- checks


def _check_name(what: str, name) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        raise JobFileError(
            f"{what} must be 1-128 characters of letters, digits and . _ = + -, starting "
            f"with a letter or digit and without '..' (it names a folder), got {name!r}")
    return name


def _check_number(what: str, x, *, positive: bool = False) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise InvalidTypeError(f"{what} must be a number, got {x!r}")
    x = float(x)
    if not math.isfinite(x) or x < 0 or (positive and x == 0):
        raise JobFileError(f"{what} must be a finite number {'>' if positive else '≥'} 0, "
                           f"got {x!r}")
    return x


def _check_codes(what: str, codes) -> tuple[str, ...]:
    if isinstance(codes, str) or not isinstance(codes, Sequence) or len(codes) == 0:
        raise InvalidTypeError(f"{what} must be a non-empty list of product codes, got {codes!r}")
    for c in codes:
        if not isinstance(c, str):
            raise InvalidTypeError(f"{what} must hold product codes (strings), got {c!r}")
    return tuple(codes)


def _check_table(what: str, values, *, allow_empty: bool = False) -> tuple:
    """A code (or name) -> number table, kept as a tuple of pairs (picklable, immutable)."""
    if isinstance(values, Mapping):
        items = list(values.items())
    elif isinstance(values, Sequence) and not isinstance(values, str):
        items = [tuple(p) if isinstance(p, (tuple, list)) else (p,) for p in values]
    else:
        raise InvalidTypeError(f"{what} must be a table of code = number, got {values!r}")
    if not items and not allow_empty:
        raise JobFileError(f"{what} must not be empty")
    seen = set()
    out = []
    for item in items:
        if len(item) != 2 or not isinstance(item[0], str):
            raise InvalidTypeError(f"{what} must map codes (strings) to numbers, got {item!r}")
        if item[0] in seen:
            raise JobFileError(f"{what} names {item[0]!r} twice")
        seen.add(item[0])
        out.append((item[0], _check_number(f"{what}[{item[0]!r}]", item[1])))
    return tuple(out)


# --------------------------------------------------------------------------- economies


@dataclass(frozen=True)
class EconomySource:
    """Where a batch gets one economy from: exactly one of the first four fields.

    Parameters
    ----------
    path : str or Path, optional
        A file or folder read by :func:`lab.read_economy` (relative paths in a
        job file are relative to the job file's folder).
    dataset : str, optional
        A table shipped with lab (:func:`lab.datasets.load`).
    generate : mapping, optional
        Keyword arguments of :func:`lab.generate_economy` (``n_products`` required).
    economy : Economy, optional
        An economy already in memory (Python API only).
    labour, negative : str, optional
        Passed to the reader (``path`` folders and ``dataset``).
    format : str, optional
        ``format`` of :func:`lab.read_economy` (``path`` only).

    Examples
    --------
    >>> EconomySource(generate={"n_products": 100, "seed": 1}).load()
    Economy(100 products, 3 resources, ... non-zeros)
    """

    path: str | None = None
    dataset: str | None = None
    generate: Mapping | None = None
    economy: object = field(default=None, repr=False, compare=False)
    labour: str | None = None
    negative: str | None = None
    format: str | None = None

    def __post_init__(self):
        given = [k for k in ("path", "dataset", "generate", "economy")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise JobFileError("an economy needs exactly one of path, dataset, generate"
                               + (f"; got {', '.join(given)}" if given else ""))
        if self.path is not None:
            if not isinstance(self.path, (str, Path)):
                raise InvalidTypeError(f"path must be a string, got {self.path!r}")
            object.__setattr__(self, "path", str(self.path))
        if self.dataset is not None:
            from lab import datasets

            datasets.info(self.dataset)  # ValueError listing the shipped tables
        if self.generate is not None:
            if not isinstance(self.generate, Mapping):
                raise InvalidTypeError(f"generate must be a table of generate_economy arguments, "
                                       f"got {self.generate!r}")
            from lab.generate import generate_economy

            allowed = set(inspect.signature(generate_economy).parameters) - {"index_dtype"}
            unknown = sorted(set(self.generate) - allowed)
            if unknown:
                raise JobFileError(f"generate: unknown key(s) {', '.join(map(repr, unknown))}; "
                                   f"allowed: {', '.join(sorted(allowed))}")
            if "n_products" not in self.generate:
                raise JobFileError("generate: n_products is required")
            object.__setattr__(self, "generate", dict(self.generate))
        if self.economy is not None:
            from lab.economy import Economy

            if not isinstance(self.economy, Economy):
                raise InvalidTypeError(f"economy must be a lab.Economy, got {type(self.economy)}")
        for key in ("labour", "negative", "format"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                raise InvalidTypeError(f"{key} must be a string, got {value!r}")
        if self.format is not None and self.path is None:
            raise JobFileError("format applies to path economies only")
        if (self.labour is not None or self.negative is not None) and (
                self.generate is not None or self.economy is not None):
            raise JobFileError("labour and negative apply to path and dataset economies only")

    def load(self):
        """Read, load or generate the economy (errors are lab's reader errors)."""
        if self.economy is not None:
            return self.economy
        if self.dataset is not None:
            from lab.datasets import load

            return load(self.dataset, labour=self.labour, negative=self.negative)
        if self.generate is not None:
            from lab.generate import generate_economy

            return generate_economy(**self.generate)
        from lab.io import read_economy

        return read_economy(self.path, self.format, labour=self.labour,
                            negative=self.negative or "error")

    def describe(self) -> dict:
        """A JSON-ready description (for records and the manifest)."""
        if self.economy is not None:
            return {"economy": repr(self.economy)}
        out = {k: getattr(self, k) for k in ("path", "dataset", "generate", "labour",
                                              "negative", "format")}
        return {k: v for k, v in out.items() if v is not None}


# --------------------------------------------------------------------------- changes


@dataclass(frozen=True)
class ScaleResource:
    """Multiply resource row ``resource`` by ``factor`` (for ``products`` only, if given).

    Examples
    --------
    >>> ScaleResource("labour", 0.9, products=["P1"]).products
    ('P1',)
    """

    resource: str
    factor: float
    products: tuple[str, ...] | None = None
    TYPE = "scale_resource"

    def __post_init__(self):
        if not isinstance(self.resource, str):
            raise InvalidTypeError(f"resource must be a resource name, got {self.resource!r}")
        object.__setattr__(self, "factor", _check_number("factor", self.factor))
        if self.products is not None:
            object.__setattr__(self, "products", _check_codes("products", self.products))


@dataclass(frozen=True)
class SetResource:
    """Replace entries of resource row ``resource``: ``values`` maps product code → coefficient.

    Products not listed keep their coefficient, or all get ``fill`` when it is given
    (``fill = 0`` with ``values`` replaces the whole row).

    Examples
    --------
    >>> SetResource("energy", {"P0": 0.5}, fill=0.0).values
    (('P0', 0.5),)
    """

    resource: str
    values: tuple = ()
    fill: float | None = None
    TYPE = "set_resource"

    def __post_init__(self):
        if not isinstance(self.resource, str):
            raise InvalidTypeError(f"resource must be a resource name, got {self.resource!r}")
        object.__setattr__(self, "values", _check_table(
            "values", self.values, allow_empty=self.fill is not None))
        if self.fill is not None:
            object.__setattr__(self, "fill", _check_number("fill", self.fill))


@dataclass(frozen=True)
class ChangeCoefficients:
    """Change the inputs of product ``product`` (column ``product`` of the use matrix A).

    ``values`` sets ``A[input, product]`` for the listed input codes (new entries
    change the sparsity pattern), ``factors`` multiplies the listed existing
    inputs, and ``factor`` multiplies every input of the product. Productivity of
    the changed economy is proven (or refuted) by the solver as always.

    Examples
    --------
    >>> ChangeCoefficients("P3", values={"P1": 0.05}, factor=0.9).factor
    0.9
    """

    product: str
    values: tuple = ()
    factors: tuple = ()
    factor: float | None = None
    TYPE = "coefficients"

    def __post_init__(self):
        if not isinstance(self.product, str):
            raise InvalidTypeError(f"product must be a product code, got {self.product!r}")
        object.__setattr__(self, "values", _check_table("values", self.values,
                                                        allow_empty=True))
        object.__setattr__(self, "factors", _check_table("factors", self.factors,
                                                         allow_empty=True))
        if self.factor is not None:
            object.__setattr__(self, "factor", _check_number("factor", self.factor))
        if not self.values and not self.factors and self.factor is None:
            raise JobFileError("coefficients: give values, factors or factor")
        both = {c for c, _ in self.values} & {c for c, _ in self.factors}
        if both:
            raise JobFileError(f"coefficients: input(s) {sorted(both)} are both set and scaled")


def _check_year(year) -> int | None:
    if year is None:
        return None
    if isinstance(year, bool) or not isinstance(year, numbers.Integral) or year < 1:
        raise JobFileError(f"year must be a year of the plan (1, 2, ...), got {year!r}")
    return int(year)


@dataclass(frozen=True)
class SetTargets:
    """Plan targets: product code → target net output (plan jobs only).

    In a multi-year job (``kind = "multiyear"``) the targets hold every year, or only
    ``year`` (1 … years) when it is given; later changes override earlier ones.
    """

    values: tuple = ()
    year: int | None = None
    TYPE = "targets"

    def __post_init__(self):
        object.__setattr__(self, "values", _check_table("values", self.values))
        object.__setattr__(self, "year", _check_year(self.year))


@dataclass(frozen=True)
class SetAvailability:
    """Resource availability: resource name → amount available (plan jobs only); in a
    multi-year job every year, or only ``year`` when it is given."""

    values: tuple = ()
    year: int | None = None
    TYPE = "availability"

    def __post_init__(self):
        object.__setattr__(self, "values", _check_table("values", self.values))
        object.__setattr__(self, "year", _check_year(self.year))


CHANGES = {c.TYPE: c for c in (ScaleResource, SetResource, ChangeCoefficients, SetTargets,
                               SetAvailability)}
PLAN_ONLY = (SetTargets, SetAvailability)


def _change_dict(change) -> dict:
    out = {"type": change.TYPE}
    for f in dataclasses.fields(change):
        value = getattr(change, f.name)
        if f.name == "year" and value is None:
            continue  # absent, so that the digests of jobs written before it stay the same
        if isinstance(value, tuple) and value and isinstance(value[0], tuple):
            value = dict(value)
        elif isinstance(value, tuple):
            value = list(value) if f.name == "products" else dict(value)
        out[f.name] = value
    return out


# --------------------------------------------------------------------------- jobs


def options_class(kind: str):
    """The options dataclass of a job kind: :class:`lab.ValuesOptions` for ``"values"``.

    ``"plan"`` jobs plug in here (``lab.plan``'s options class) once the planner exists.
    """
    if kind == "values":
        return ValuesOptions
    if kind in ("plan", "multiyear"):
        try:
            from lab.planning import PlanOptions
        except ImportError:
            raise JobFileError("kind 'plan' needs lab.plan, which this version of lab does "
                               "not have; use kind = 'values'") from None
        return PlanOptions
    raise JobFileError(f"kind must be one of {KINDS}, got {kind!r}")


def make_options(kind: str, options):
    """An options dataclass from a mapping of its fields, unknown keys listed."""
    cls = options_class(kind)
    if isinstance(options, cls):
        return options
    if options is None:
        return cls()
    if not isinstance(options, Mapping):
        raise InvalidTypeError(f"options must be a {cls.__name__} or a table of its fields, "
                               f"got {options!r}")
    allowed = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise JobFileError(f"options: unknown key(s) {', '.join(map(repr, unknown))}; "
                           f"{cls.__name__} has {', '.join(allowed)}")
    options = dict(options)
    for f in dataclasses.fields(cls):  # nested option tables (PlanOptions.cockshott)
        value = options.get(f.name)
        if isinstance(value, Mapping):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING \
                else f.default
            if dataclasses.is_dataclass(default):
                options[f.name] = make_nested(f.name, type(default), value)
    return cls(**options)


def make_nested(name: str, cls, table):
    allowed = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in table if k not in allowed]
    if unknown:
        raise JobFileError(f"options: {name}: unknown key(s) {', '.join(map(repr, unknown))}; "
                           f"{cls.__name__} has {', '.join(allowed)}")
    return cls(**table)


@dataclass(frozen=True)
class JobSpec:
    """One batch job: a kind of solve on a named economy with scenario changes.

    Parameters
    ----------
    name : str
        Unique within the batch; names the job's folder ``OUT/jobs/NAME``.
    economy : str
        Name of an economy of the :class:`BatchSpec`.
    kind : {"values", "plan", "multiyear"}
        ``"values"``: :func:`lab.labour_values`; ``"plan"``: :func:`lab.plan` on a
        :class:`lab.PlanningProblem` (targets from :class:`SetTargets`, resource
        limits from :class:`SetAvailability`); ``"multiyear"``: :func:`lab.plan` on a
        :class:`lab.MultiYearProblem` of ``years`` years (as ``lab plan --years``).
    options : ValuesOptions, PlanOptions or mapping
        The solver options (the same dataclass as the Python API; PlanOptions for
        both plan kinds).
    changes : sequence
        :class:`ScaleResource`, :class:`SetResource`, :class:`ChangeCoefficients`,
        and for plans :class:`SetTargets`, :class:`SetAvailability`; applied in order.
    resources : None, "all", str or sequence of str
        Resource rows to integrate (as for :func:`lab.labour_values`).
    time_limit : float, optional
        Seconds. Checked at every iteration of the solver; a job over the limit
        fails with a time-limit error (one uninterruptible block pass may overrun it).
    weights : {"value", "uniform"} or mapping, optional
        Harmony weights of plan jobs (default ``"value"``), as ``lab plan --weights``;
        a mapping gives product code → weight.
    years : int
        Multi-year jobs: the number of years (required), as ``lab plan --years``.
    capital : str, optional
        Multi-year jobs: CSV ``good,industry,coefficient`` (``--capital``).
    depreciation : float or str
        Multi-year jobs: one yearly rate, or CSV ``good,depreciation`` or
        ``good,industry,depreciation`` (``--depreciation``; default 0).
    initial_stocks : str, optional
        Multi-year jobs: CSV ``good,industry,stock`` (``--initial-stocks``).
    terminal_stocks : float or str, optional
        Multi-year jobs: a fraction of the initial stocks or CSV ``good,industry,stock``
        (``--terminal-stocks``).
    year_weights : sequence of float, optional
        Multi-year jobs: the weight of each year's harmony (``--year-weights``).

    File paths in a job file are relative to its folder; a job's digest includes the
    files' sha256, so a changed file re-runs the job on ``resume``.

    Examples
    --------
    >>> job = JobSpec("cheap-energy", "uk", changes=[ScaleResource("energy", 0.8)],
    ...               options={"method": "krylov"})
    >>> job.options.method
    'krylov'
    """

    name: str
    economy: str
    kind: str = "values"
    options: object = None
    changes: tuple = ()
    resources: object = None
    time_limit: float | None = None
    weights: object = None
    years: int | None = None
    capital: str | None = None
    depreciation: object = 0.0
    initial_stocks: str | None = None
    terminal_stocks: object = None
    year_weights: tuple | None = None

    def __post_init__(self):
        _check_name("job name", self.name)
        if not isinstance(self.economy, str):
            raise InvalidTypeError(f"economy must be the name of an economy, got {self.economy!r}")
        if self.kind not in KINDS:
            raise JobFileError(f"kind must be one of {KINDS}, got {self.kind!r}")
        object.__setattr__(self, "options", make_options(self.kind, self.options))
        changes = tuple(self.changes)
        for c in changes:
            if not isinstance(c, tuple(CHANGES.values())):
                raise InvalidTypeError(f"changes: expected a change object, got {c!r}")
            if self.kind == "values" and isinstance(c, PLAN_ONLY):
                raise JobFileError(f"changes: {c.TYPE} apply to plan jobs (kind = 'plan') only")
            if self.kind != "multiyear" and isinstance(c, PLAN_ONLY) and c.year is not None:
                raise JobFileError(f"changes: {c.TYPE}: year applies to multi-year jobs "
                                   "(kind = 'multiyear') only")
        object.__setattr__(self, "changes", changes)
        self._check_plan_keys()
        if self.kind != "values" and self.resources is not None:
            raise JobFileError("resources apply to values jobs only (plans use every resource)")
        r = self.resources
        if r is not None and not isinstance(r, str):
            if not isinstance(r, Sequence) or len(r) == 0 or not all(
                    isinstance(x, str) for x in r):
                raise InvalidTypeError("resources must be 'all', a resource name or a non-empty "
                                       f"list of names, got {r!r}")
            object.__setattr__(self, "resources", tuple(r))
        if self.time_limit is not None:
            object.__setattr__(self, "time_limit",
                               _check_number("time_limit", self.time_limit, positive=True))

    def _check_plan_keys(self) -> None:
        set_ = object.__setattr__
        given = [k for k in MULTIYEAR_KEYS
                 if getattr(self, k) != (0.0 if k == "depreciation" else None)]
        if self.kind != "multiyear" and given:
            raise JobFileError(f"{', '.join(given)} apply to multi-year jobs "
                               "(kind = 'multiyear') only")
        if self.weights is not None:
            if self.kind == "values":
                raise JobFileError("weights apply to plan jobs only")
            if isinstance(self.weights, str):
                if self.weights not in ("value", "uniform"):
                    raise JobFileError(f"weights must be 'value', 'uniform' or a table of "
                                       f"product code to weight, got {self.weights!r}")
            else:
                set_(self, "weights", _check_table("weights", self.weights))
        if self.kind != "multiyear":
            return
        if self.years is None:
            raise JobFileError("a multi-year job needs years (the number of years)")
        if isinstance(self.years, bool) or not isinstance(self.years, numbers.Integral) \
                or self.years < 1:
            raise JobFileError(f"years must be a positive integer, got {self.years!r}")
        set_(self, "years", int(self.years))
        for key in ("capital", "initial_stocks"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, (str, Path)):
                raise InvalidTypeError(f"{key} must be the path of a CSV file, got {value!r}")
            if value is not None:
                set_(self, key, str(value))
        for key, high in (("depreciation", 1.0), ("terminal_stocks", math.inf)):
            value = getattr(self, key)
            if isinstance(value, Path):
                set_(self, key, str(value))
            elif value is not None and not isinstance(value, str):
                x = _check_number(key, value)
                if x > high:
                    raise JobFileError(f"{key} must be in [0, {high:g}], got {x!r}")
                set_(self, key, x)
        w = self.year_weights
        if w is not None:
            if isinstance(w, str) or not isinstance(w, Sequence) or len(w) != self.years:
                raise JobFileError(f"year_weights must be a list of {self.years} numbers (one "
                                   f"per year), got {w!r}")
            set_(self, "year_weights", tuple(_check_number("year_weights", x) for x in w))
        for c in self.changes:
            if isinstance(c, PLAN_ONLY) and c.year is not None and c.year > self.years:
                raise JobFileError(f"changes: {c.TYPE}: year {c.year} is after the last year "
                                   f"({self.years})")

    def files(self) -> dict[str, str]:
        """The input files of a multi-year job, by key (paths as given)."""
        return {k: getattr(self, k) for k in FILE_KEYS if isinstance(getattr(self, k), str)}

    def to_dict(self) -> dict:
        """A JSON-ready description: the scenario, hashed into the job's records.

        Multi-year jobs add their keys, each file as its path and sha256 (so a changed
        file changes the digest); other jobs' descriptions are as before them."""
        opts = dataclasses.asdict(self.options)
        out = {"name": self.name, "economy": self.economy, "kind": self.kind,
               "options": opts, "changes": [_change_dict(c) for c in self.changes],
               "resources": list(self.resources) if isinstance(self.resources, tuple)
               else self.resources, "time_limit": self.time_limit}
        if self.weights is not None:
            out["weights"] = (self.weights if isinstance(self.weights, str)
                              else dict(self.weights))
        if self.kind == "multiyear":
            files = self.files()
            for key in MULTIYEAR_KEYS:
                value = getattr(self, key)
                if key in files:
                    value = {"path": value, "sha256": _file_digest(value)}
                elif isinstance(value, tuple):
                    value = list(value)
                out[key] = value
        return out

    def digest(self) -> str:
        """sha256 of :meth:`to_dict` (canonical JSON)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class BatchSpec:
    """A batch: named economies and the jobs on them.

    Parameters
    ----------
    economies : mapping of str to EconomySource (or Economy)
    jobs : sequence of JobSpec
    format : {"csv", "parquet"}
        Format of each job's result file.
    out : str, optional
        Default output folder (the ``[batch] out`` key of a job file), always inside
        the job file's folder.
    source : str, optional
        The job file this spec was read from.
    out_refused : str, optional
        Why the job file's ``[batch] out`` was not taken (it leads outside the job
        file's folder); the error of a batch run without an explicit output folder.

    Examples
    --------
    >>> import lab
    >>> spec = BatchSpec({"e": lab.generate_economy(50, seed=1)},
    ...                  [JobSpec("base", "e"), JobSpec("all", "e", resources="all")])
    >>> [job.name for job in spec.jobs]
    ['base', 'all']
    """

    economies: Mapping
    jobs: tuple
    format: str = "csv"
    out: str | None = None
    source: str | None = None
    out_refused: str | None = None

    def __post_init__(self):
        from lab.economy import Economy

        if not isinstance(self.economies, Mapping) or not self.economies:
            raise JobFileError("economies must be a non-empty mapping of name to economy")
        econs = {}
        for name, src in self.economies.items():
            _check_name("economy name", name)
            if isinstance(src, Economy):
                src = EconomySource(economy=src)
            elif not isinstance(src, EconomySource):
                raise InvalidTypeError(f"economies[{name!r}] must be an EconomySource or an "
                                       "Economy")
            econs[name] = src
        object.__setattr__(self, "economies", econs)
        jobs = tuple(self.jobs)
        if not jobs:
            raise JobFileError("a batch needs at least one job")
        seen = set()
        for job in jobs:
            if not isinstance(job, JobSpec):
                raise InvalidTypeError(f"jobs must be JobSpec objects, got {job!r}")
            if job.name in seen:
                raise JobFileError(f"job name {job.name!r} is used twice")
            seen.add(job.name)
            if job.economy not in econs:
                raise JobFileError(f"job {job.name!r}: unknown economy {job.economy!r}; "
                                   f"the batch has {', '.join(econs)}")
        object.__setattr__(self, "jobs", jobs)
        if self.format not in FORMATS:
            raise JobFileError(f"format must be one of {FORMATS}, got {self.format!r}")


# --------------------------------------------------------------------------- TOML


class _LineIndex:
    """Line of every table header and key of a TOML text, by key path.

    Paths use ints for elements of arrays of tables (``("jobs", 2, "changes", 0)``).
    Keys inside inline tables and multi-line arrays get the line of the key that
    opens them. The text has already been parsed by :mod:`tomllib`, so it is valid.
    """

    _BARE = re.compile(r"[A-Za-z0-9_-]+")

    def __init__(self, text: str):
        self.lines: dict[tuple, int] = {}
        aot: dict[tuple, int] = {}
        table: tuple = ()
        depth = 0  # open brackets / braces of a multi-line value
        ml = None  # open multi-line string delimiter
        for lineno, line in enumerate(text.splitlines(), 1):
            if ml is not None or depth > 0:
                ml, depth = self._scan(line, 0, ml, depth)
                continue
            s = line.lstrip()
            if not s or s.startswith("#"):
                continue
            if s.startswith("["):
                array = s.startswith("[[")
                keys, _ = self._keys(s, 2 if array else 1)
                path = ()
                for i, k in enumerate(keys):
                    path += (k,)
                    if array and i == len(keys) - 1:
                        aot[path] = aot.get(path, 0) + 1
                        self.lines.setdefault(path, lineno)
                        path += (aot[path] - 1,)
                    elif path in aot:
                        path += (aot[path] - 1,)
                table = path
                self.lines.setdefault(table, lineno)
                continue
            keys, pos = self._keys(s, 0)
            if not keys:
                continue
            for i in range(1, len(keys) + 1):
                self.lines.setdefault(table + tuple(keys[:i]), lineno)
            eq = s.index("=", pos)
            ml, depth = self._scan(s, eq + 1, None, 0)

    def _keys(self, s: str, pos: int):
        keys = []
        while pos < len(s):
            while pos < len(s) and s[pos] in " \t":
                pos += 1
            if pos >= len(s):
                break
            ch = s[pos]
            if ch in "\"'":
                end = pos + 1
                while end < len(s) and s[end] != ch:
                    end += 2 if (ch == '"' and s[end] == "\\") else 1
                raw = s[pos:end + 1]
                keys.append(json.loads(raw) if ch == '"' else raw[1:-1])
                pos = end + 1
            else:
                m = self._BARE.match(s, pos)
                if not m:
                    break
                keys.append(m.group())
                pos = m.end()
            while pos < len(s) and s[pos] in " \t":
                pos += 1
            if pos < len(s) and s[pos] == ".":
                pos += 1
                continue
            break
        return keys, pos

    @staticmethod
    def _scan(s: str, pos: int, ml, depth):
        """Track multi-line strings and brackets from ``pos``; return the open state."""
        i = pos
        while i < len(s):
            if ml is not None:
                j = s.find(ml, i)
                if j < 0:
                    return ml, depth
                i = j + 3
                ml = None
                continue
            ch = s[i]
            if ch == "#":
                break
            if s.startswith('"""', i) or s.startswith("'''", i):
                ml = s[i:i + 3]
                i += 3
                continue
            if ch in "\"'":
                j = i + 1
                while j < len(s) and s[j] != ch:
                    j += 2 if (ch == '"' and s[j] == "\\") else 1
                i = j + 1
                continue
            if ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
            i += 1
        return ml, depth

    def line(self, path) -> int | None:
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def _key_in(message: str, keys):
    """The key an error message is about: the one it names first ('k' or the word k)."""
    best, where = None, len(message)
    for k in keys:
        for pattern in (rf"'{re.escape(k)}'", rf"\b{re.escape(k)}\b"):
            m = re.search(pattern, message)
            if m and m.start() < where:
                best, where = k, m.start()
    return best


def _fmt_path(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


class _Reader:
    """Turns the parsed TOML into dataclasses, naming file, line and key on errors."""

    JOB_KEYS = ("name", "economy", "kind", "options", "changes", "resources", "time_limit",
                "weights", *MULTIYEAR_KEYS)

    def __init__(self, text: str, path, base: Path):
        self.path = path
        self.base = base
        self.index = _LineIndex(text)

    def error(self, where, message, line_path=None) -> JobFileError:
        line = self.index.line(line_path if line_path is not None else where)
        prefix = f"{_fmt_path(where)}: " if where else ""
        return JobFileError(prefix + message, path=self.path, line=line)

    def table(self, value, where) -> dict:
        if not isinstance(value, dict):
            raise self.error(where, f"expected a table, got {value!r}")
        return value

    def keys(self, table: dict, allowed, where, required=()):
        unknown = [k for k in table if k not in allowed]
        if unknown:
            raise self.error(where, f"unknown key(s) {', '.join(map(repr, unknown))}; "
                                    f"allowed: {', '.join(allowed)}",
                             line_path=(*where, unknown[0]))
        for k in required:
            if k not in table:
                raise self.error(where, f"missing key {k!r}")

    def build(self, where, fn, *args, **kwargs):
        """Call a dataclass constructor; its ValueError/TypeError gets the file and line."""
        try:
            return fn(*args, **kwargs)
        except JobFileError as exc:
            if exc.path is not None:  # located already
                raise
            key = _key_in(str(exc), kwargs)
            raise self.error(where, str(exc),
                             line_path=(*where, key) if key else None) from None
        except (ValueError, TypeError) as exc:
            key = _key_in(str(exc), kwargs)
            raise self.error(where, str(exc),
                             line_path=(*where, key) if key else None) from None

    # -- sections -------------------------------------------------------------------

    def read(self, data: dict) -> BatchSpec:
        self.keys(data, ("batch", "economies", "defaults", "jobs", "grids"), ())
        batch = self.table(data.get("batch", {}), ("batch",))
        self.keys(batch, ("format", "out"), ("batch",))
        out, refused = batch.get("out"), None
        if out is not None:
            if not isinstance(out, str) or not out.strip():
                raise self.error(("batch", "out"), f"expected a folder name, got {out!r}")
            # A job file writes inside its own folder: no '..' out of it, no absolute
            # path or symbolic link elsewhere (unless the caller names the folder).
            base = self.base.resolve()
            target = (self.base / out).resolve()
            if target != base and base not in target.parents:
                refused = str(self.error(("batch", "out"), (
                    f"out = {out!r} leads outside the job file's folder {base}; a job file "
                    "writes only inside its own folder: give the output folder with --out "
                    "(out=) instead")))
                out = None
            else:
                out = str(self.base / out)
        economies = self.economies(data)
        defaults = self.table(data.get("defaults", {}), ("defaults",))
        self.keys(defaults, tuple(k for k in self.JOB_KEYS if k != "name"), ("defaults",))
        jobs = []
        for kind in ("jobs", "grids"):
            items = data.get(kind, [])
            if not isinstance(items, list):
                raise self.error((kind,), f"expected [[{kind}]] tables, got {items!r}")
            for i, item in enumerate(items):
                where = (kind, i)
                item = self.table(item, where)
                if kind == "jobs":
                    jobs.append(self.job(item, defaults, economies, where))
                else:
                    jobs.extend(self.grid(item, defaults, economies, where))
                if len(jobs) > MAX_JOBS:
                    raise self.error(where, f"the job file makes more than {MAX_JOBS} jobs")
        if not jobs:
            raise self.error((), "no jobs: add [[jobs]] or [[grids]] tables")
        seen: dict[str, tuple] = {}
        for job, where in jobs:
            if job.name in seen:
                raise self.error(where, f"job name {job.name!r} is used twice (first at "
                                        f"{_fmt_path(seen[job.name])})", (*where, "name"))
            seen[job.name] = where
        return self.build(("batch",), BatchSpec, economies=economies,
                          jobs=[j for j, _ in jobs], format=batch.get("format", "csv"),
                          out=out, source=str(self.path), out_refused=refused)

    def economies(self, data) -> dict:
        table = self.table(data.get("economies"), ("economies",)) if "economies" in data \
            else None
        if not table:
            raise self.error((), "no economies: add an [economies.NAME] table")
        out = {}
        for name, value in table.items():
            where = ("economies", name)
            if not NAME_RE.match(name) or ".." in name:
                raise self.error(where, f"economy name {name!r}: use letters, digits and . _ = + -")
            value = self.table(value, where)
            fields = ("path", "dataset", "generate", "labour", "negative", "format")
            self.keys(value, fields, where)
            kwargs = dict(value)
            if isinstance(kwargs.get("path"), str):
                kwargs["path"] = str(self.base / kwargs["path"])
            out[name] = self.build(where, EconomySource, **kwargs)
        return out

    def merged(self, item: dict, defaults: dict) -> dict:
        job = {**defaults, **item}
        if job.get("kind", "values") != defaults.get("kind", "values"):
            # Default options are for the default kind (ValuesOptions ≠ PlanOptions),
            # and so are its multi-year keys and weights.
            for key in ("options", "weights", *MULTIYEAR_KEYS):
                job.pop(key, None)
                if key in item:
                    job[key] = item[key]
        elif isinstance(defaults.get("options"), dict) and isinstance(item.get("options"),
                                                                      dict):
            job["options"] = {**defaults["options"], **item["options"]}
        return job

    def job(self, item, defaults, economies, where, values=None):
        self.keys(item, self.JOB_KEYS, where, required=("name",))
        job = self.merged(item, defaults)
        if values is not None:
            job = _substitute(job, values, lambda m: self.error(where, m))
        if "economy" not in job:
            if len(economies) != 1:
                raise self.error(where, "missing key 'economy' (the job file has "
                                        f"{len(economies)} economies)")
            job["economy"] = next(iter(economies))
        if job["economy"] not in economies:
            raise self.error(where, f"unknown economy {job['economy']!r}; the job file has "
                                    f"{', '.join(economies)}", (*where, "economy"))
        kind = job.get("kind", "values")
        if "options" in job:
            self.table(job["options"], (*where, "options"))
            try:
                options = make_options(kind, job["options"])
            except (ValueError, TypeError) as exc:
                bad = _key_in(str(exc), job["options"])
                raise self.error(where, str(exc), (*where, "options", bad) if bad
                                 else (*where, "options")) from None
            job["options"] = options
        for key in FILE_KEYS:
            if isinstance(job.get(key), str):  # a file, relative to the job file's folder
                job[key] = str(self.base / job[key])
        changes = job.get("changes", [])
        if not isinstance(changes, list):
            raise self.error((*where, "changes"), "expected [[changes]] tables")
        job["changes"] = [self.change(c, (*where, "changes", k)) for k, c in enumerate(changes)]
        return self.build(where, JobSpec, **job), where

    def change(self, item, where):
        item = self.table(item, where)
        if "type" not in item:
            raise self.error(where, f"missing key 'type' (one of {', '.join(CHANGES)})")
        cls = CHANGES.get(item["type"])
        if cls is None:
            raise self.error(where, f"unknown change type {item['type']!r}; one of "
                                    f"{', '.join(CHANGES)}", (*where, "type"))
        fields = ["type", *(f.name for f in dataclasses.fields(cls))]
        self.keys(item, fields, where)
        kwargs = {k: v for k, v in item.items() if k != "type"}
        return self.build(where, cls, **kwargs)

    def grid(self, item, defaults, economies, where):
        self.keys(item, (*self.JOB_KEYS, "parameters"), where, required=("name", "parameters"))
        params = self.table(item["parameters"], (*where, "parameters"))
        if not params:
            raise self.error((*where, "parameters"), "needs at least one parameter")
        for key, values in params.items():
            if not isinstance(values, list) or not values:
                raise self.error((*where, "parameters", key),
                                 f"parameter {key!r} must be a non-empty array of values")
            for v in values:
                if isinstance(v, (dict, list)):
                    raise self.error((*where, "parameters", key),
                                     f"parameter {key!r}: values must be numbers or strings")
        template = {k: v for k, v in item.items() if k != "parameters"}
        names = list(params)
        count = math.prod(len(params[k]) for k in names)
        if count > MAX_JOBS:
            raise self.error((*where, "parameters"), f"the grid makes {count} jobs; a job "
                                                     f"file may have at most {MAX_JOBS}")
        for combo in itertools.product(*(params[k] for k in names)):
            values = dict(zip(names, combo, strict=True))
            yield self.job(template, defaults, economies, where, values)


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _file_digest(path) -> str:
    """sha256 of a job's input file, or why there is none (the job fails when it runs).
    Read once per version of the file, however many jobs of a grid share it (run_batch
    clears the cache first, so a file rewritten within a clock tick is read again)."""
    from lab.exceptions import DataFormatError

    try:
        st = os.stat(path)
        return _sha256_of(str(path), st.st_mtime_ns, st.st_size)
    except (OSError, DataFormatError) as exc:
        return f"unreadable: {getattr(exc, 'strerror', None) or exc}"


@functools.lru_cache(maxsize=64)
def _sha256_of(path: str, mtime_ns: int, size: int) -> str:
    from lab.batch._store import file_sha256

    return file_sha256(path)


def _fmt_value(v) -> str:
    return repr(v) if isinstance(v, float) else str(v)


def _substitute(value, params, error):
    """Replace ``{p}`` placeholders of grid parameters in every string of ``value``."""
    if isinstance(value, dict):
        return {k: _substitute(v, params, error) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, params, error) for v in value]
    if isinstance(value, str):
        m = _PLACEHOLDER.fullmatch(value)
        if m and m.group(1) in params:
            return params[m.group(1)]

        def repl(m):
            if m.group(1) not in params:
                raise error(f"placeholder {m.group()} names no parameter; parameters: "
                            f"{', '.join(params)}")
            return _fmt_value(params[m.group(1)])

        return _PLACEHOLDER.sub(repl, value)
    return value


def _tomllib():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib


def parse_batch(text: str, *, path="<job file>", base=None) -> BatchSpec:
    """Parse the text of a job file (see the module docstring).

    Examples
    --------
    >>> spec = parse_batch('''
    ... [economies.e]
    ... generate = { n_products = 100, seed = 1 }
    ... [[grids]]
    ... name = "labour-{f}"
    ... parameters = { f = [0.5, 2.0] }
    ... changes = [{ type = "scale_resource", resource = "labour", factor = "{f}" }]
    ... ''')
    >>> [(j.name, j.changes[0].factor) for j in spec.jobs]
    [('labour-0.5', 0.5), ('labour-2.0', 2.0)]
    """
    tomllib = _tomllib()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        raise JobFileError(f"not valid TOML: {exc}", path=path,
                           line=int(m.group(1)) if m else None) from None
    base = Path(base) if base is not None else Path.cwd()
    return _Reader(text, path, base).read(data)


def read_batch(path) -> BatchSpec:
    """Read a TOML job file into a :class:`BatchSpec`.

    Relative economy paths and ``[batch] out`` are relative to the file's folder.

    Raises
    ------
    JobFileError
        The file is missing, not TOML, or has unknown keys or bad values; the
        message names the file, the line and the key.
    """
    from lab.exceptions import DataFormatError
    from lab.io._files import open_regular

    path = Path(path)
    try:
        with open_regular(path) as fh:  # a FIFO or a device is refused, not waited on
            raw = fh.read(MAX_JOB_FILE_BYTES + 1)
    except DataFormatError as exc:
        raise JobFileError(f"cannot read the job file: {str(exc).removeprefix(f'{path}: ')}",
                           path=path) from None
    except OSError as exc:
        raise JobFileError(f"cannot read the job file: {exc.strerror or exc}",
                           path=path) from None
    if len(raw) > MAX_JOB_FILE_BYTES:
        raise JobFileError(f"the job file is larger than {MAX_JOB_FILE_BYTES >> 20} MiB; "
                           "describe large sweeps with [[grids]]", path=path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JobFileError(f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                           path=path) from None
    return parse_batch(text, path=path, base=path.resolve().parent)
