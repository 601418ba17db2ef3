"""Plan inputs and outputs as files: targets, availabilities, capacities, the plan itself.

Inputs are small CSV tables with a header (extra columns are ignored):

* targets:       ``code,target[,weight]``
* resources:     ``resource,available``
* capacities:    ``code,capacity``  (technique codes; ``inf`` allowed)
* stocks:        ``code,stock``

Every malformed line raises :class:`~lab.exceptions.DataFormatError` naming
the file and line; unknown codes are reported by the problem's validation. Only
regular files are read, and only whole ones (the last line must end with a newline).
The plan is written atomically as CSV or Parquet (by suffix), one row per
technique: code, intensity, capacity use, capacity price, and, in the square
case where techniques are products, the product's name (where the economy has
names), net output, target, fulfilment and shadow price.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from lab._atomic import atomic_path
from lab.exceptions import DataFormatError, InvalidOptionError
from lab.io._files import check_text_end, open_regular

__all__ = ["PLAN_SUFFIXES", "capital_path", "products_path", "read_code_matrix",
           "read_depreciation", "read_keyed_table", "read_table", "write_multiyear_plan",
           "write_plan"]

PLAN_SUFFIXES = (".csv", ".parquet")


def read_table(path, key: str, columns: tuple[str, ...], optional: tuple[str, ...] = ()
               ) -> dict[str, dict[str, float]]:
    """``{column: {key value: number}}`` from a CSV file with a header row (the checks
    of :func:`read_keyed_table`, with one key column)."""
    _, table = read_keyed_table(path, (key,), columns, optional)
    return {c: {k: v for (k,), v in values.items()} for c, values in table.items()}


def _write_frame(frame, path: Path) -> None:
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".csv":
            from lab.io._flows import line_end

            frame.to_csv(tmp, float_format="%.17g", lineterminator=line_end(frame.index))
        else:
            frame.to_parquet(tmp, engine="pyarrow")


def products_path(path) -> Path:
    """Where :func:`write_plan` puts the product balances of a plan with techniques ≠
    products: ``<name>.products<suffix>`` beside ``path``."""
    path = Path(path)
    return path.with_name(path.stem + ".products" + path.suffix)


def write_plan(result, path) -> Path:
    """Write a :class:`~lab.planning.PlanResult` to ``.csv`` or ``.parquet``, atomically.

    With techniques ≠ products, the product balances (net output, target,
    fulfilment, price) go to a second file ``<name>.products<suffix>`` beside it. A
    plan of an economy with product names has a ``name`` column after the code.
    """
    import numpy as np
    import pandas as pd

    path = Path(path)
    if path.suffix.lower() not in PLAN_SUFFIXES:
        raise InvalidOptionError(f"the plan file must end in .csv or .parquet, got {str(path)!r}")
    from lab.economy import index_codes

    techniques = result.techniques_frame()
    products = result.products_frame()
    for frame in (techniques, products):  # codes, also for a (region, sector) MultiIndex
        frame.index = pd.Index(index_codes(frame.index), name="code")
    if result.problem.is_square:
        square = techniques.join(products)
        economy = result.problem.economy
        if economy is not None and economy.names is not None:
            square.insert(0, "name", np.asarray(economy.names, dtype=object))
        _write_frame(square, path)
    else:
        _write_frame(techniques, path)
        _write_frame(products, products_path(path))
    return path


def read_keyed_table(path, keys: tuple[str, ...], columns: tuple[str, ...],
                     optional: tuple[str, ...] = (), *, optional_keys: tuple[str, ...] = ()
                     ) -> tuple[tuple[str, ...], dict[str, dict[tuple[str, ...], float]]]:
    """Rows keyed by several columns (``year,code``, ``good,industry``) from a CSV file.

    Returns the key columns present (``keys`` plus those of ``optional_keys`` in the
    header) and ``{column: {key tuple: number}}``. Only regular, whole files (a FIFO or
    a device is refused, not waited on); every value a number, no key twice, at least
    one row.
    """
    path = Path(path)
    raw = open_regular(path)
    try:
        check_text_end(raw, path)
    except BaseException:
        raw.close()
        raise
    fh = io.TextIOWrapper(raw, encoding="utf-8", newline="")
    out: dict[str, dict[tuple[str, ...], float]] = {c: {} for c in columns + optional}
    with fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise DataFormatError("the file is empty (expected a header row)", path=path) from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataFormatError(f"not a CSV file ({exc})", path=path, line=1) from None
        present = tuple(k for k in optional_keys if k in header) + keys
        missing = [c for c in present + columns if c not in header]
        if missing:
            raise DataFormatError(f"missing column(s) {', '.join(missing)}; the header is "
                                  f"{','.join(header)}", path=path, line=1)
        where = {c: header.index(c) for c in present + columns + optional if c in header}
        seen: set[tuple[str, ...]] = set()
        try:
            for line, row in enumerate(reader, start=2):
                if not row or all(not cell.strip() for cell in row):
                    continue
                if len(row) < len(header):
                    raise DataFormatError(f"{len(row)} fields, the header has {len(header)} "
                                          "(truncated line?)", path=path, line=line)
                key = tuple(row[where[k]].strip() for k in present)
                for k, v in zip(present, key, strict=True):
                    if not v:
                        raise DataFormatError(f"empty {k}", path=path, line=line)
                if key in seen:
                    raise DataFormatError(f"{','.join(present)} {','.join(key)!r} appears twice",
                                          path=path, line=line)
                seen.add(key)
                for c in columns + optional:
                    if c not in where:
                        continue
                    text = row[where[c]].strip()
                    try:
                        value = float(text)
                    except ValueError:
                        raise DataFormatError(f"{c} {text!r} of {','.join(key)!r} is not a "
                                              "number", path=path, line=line) from None
                    if math.isnan(value):
                        raise DataFormatError(f"{c} of {','.join(key)!r} is NaN", path=path,
                                              line=line)
                    out[c][key] = value
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataFormatError(f"unreadable CSV ({exc})", path=path,
                                  line=reader.line_num) from None
    if not seen:
        raise DataFormatError("no rows after the header", path=path)
    return present, out


def _positions(codes, wanted, path) -> dict:
    """{code: position} of the economy's codes, or an error naming unknown ones."""
    from lab.exceptions import InvalidProblemError

    position = {str(c): i for i, c in enumerate(codes)}
    unknown = sorted({k for k in wanted if k not in position})
    if unknown:
        raise InvalidProblemError(f"{path}: unknown product code(s) "
                                  f"{', '.join(repr(u) for u in unknown[:5])}")
    return position


def _code_matrix(entries: dict, codes, path):
    """{(good, industry): number} as an m × m CSC matrix."""
    import scipy.sparse as sp

    position = _positions(codes, {k for pair in entries for k in pair}, path)
    rows = [position[g] for g, _ in entries]
    cols = [position[i] for _, i in entries]
    m = len(codes)
    return sp.csc_array((list(entries.values()), (rows, cols)), shape=(m, m))


def read_code_matrix(path, column: str, codes):
    """A CSV ``good,industry,<column>`` (capital coefficients, stocks) as an m × m sparse
    matrix over ``codes``, matched by label; unknown codes are an error naming them."""
    _, table = read_keyed_table(path, ("good", "industry"), (column,))
    return _code_matrix(table[column], codes, path)


def read_depreciation(path, codes):
    """Depreciation from a CSV: ``good,depreciation`` (one rate per capital good, an
    array over ``codes``) or ``good,industry,depreciation`` (per capital entry, an m × m
    sparse matrix), as ``lab plan --depreciation`` and batch jobs read it."""
    import numpy as np

    present, table = read_keyed_table(path, ("good",), ("depreciation",),
                                      optional_keys=("industry",))
    entries = table["depreciation"]
    if present != ("good",):  # industry,good: the optional key comes first
        return _code_matrix({(g, i): v for (i, g), v in entries.items()}, codes, path)
    position = _positions(codes, {k[0] for k in entries}, path)
    rate = np.zeros(len(codes))
    for (good,), v in entries.items():
        rate[position[good]] = v
    return rate


def capital_path(path) -> Path:
    """Where :func:`write_multiyear_plan` puts investment and stocks: ``<name>.capital<suffix>``."""
    path = Path(path)
    return path.with_name(path.stem + ".capital" + path.suffix)


def write_multiyear_plan(result, path) -> Path:
    """Write a :class:`~lab.planning.MultiYearResult` to ``.csv`` or ``.parquet``, atomically:
    one row per (year, code) (the product's name where the economies have the same
    names, output, consumption, target, fulfilment, investment, price),
    and beside it ``<name>.capital<suffix>``: one row per (year, good, industry) with the
    investment of the year and the stock at its start (year T + 1: what the plan leaves).
    """
    import numpy as np
    import pandas as pd

    path = Path(path)
    if path.suffix.lower() not in PLAN_SUFFIXES:
        raise InvalidOptionError(f"the plan file must end in .csv or .parquet, got {str(path)!r}")
    problem = result.problem
    frame = result.frame()  # rows (year, code), the codes in order within each year
    names = problem.economies[0].names
    if names is not None and all(e.names is not None and list(e.names) == list(names)
                                 for e in problem.economies):
        frame.insert(0, "name", np.tile(np.asarray(names, dtype=object), problem.years))
    _write_frame(frame, path)
    codes = np.asarray([str(c) for c in problem.product_codes], dtype=object)
    s, p = problem.capital_entries
    T = problem.years
    years, invest, stock = [], [], []
    for y in range(T + 1):
        K = result.stocks[y].tocsr()
        stock.append(np.asarray(K[s, p]).ravel() if s.size else np.zeros(0))
        I = result.investment[y].tocsr() if y < T else None  # noqa: E741
        invest.append(np.asarray(I[s, p]).ravel() if (I is not None and s.size)
                      else np.zeros(s.size))
        years.append(np.full(s.size, y + 1))
    index = pd.MultiIndex.from_arrays([np.concatenate(years), np.tile(codes[s], T + 1),
                                       np.tile(codes[p], T + 1)],
                                      names=["year", "good", "industry"])
    _write_frame(pd.DataFrame({"investment": np.concatenate(invest),
                               "stock": np.concatenate(stock)}, index=index),
                 capital_path(path))
    return path
