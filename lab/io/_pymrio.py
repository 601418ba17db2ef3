"""pymrio interop: an :class:`~lab.economy.Economy` from a pymrio ``IOSystem``.

pymrio (https://github.com/IndEcol/pymrio) holds multi-regional input-output
systems (EXIOBASE, WIOD, OECD ICIO, Eora, ...) as pandas DataFrames indexed by
``(region, sector)``. :func:`from_pymrio` turns one into an Economy whose products
are the region × sector pairs and whose resource rows are the rows of the
system's satellite accounts (its *extensions*: factor inputs, employment,
emissions, ...). lab's vertically integrated coefficients of those rows,
``labour_values(economy, resources="all").values``, are then pymrio's
multipliers ``M = S·L`` of the same rows.

pymrio is an optional dependency: it is imported only when :func:`from_pymrio`
is called (``pip install pymrio``, or lab's ``test`` extra).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from lab._validation import check_choice
from lab.economy import Economy
from lab.exceptions import InvalidEconomyError, InvalidTypeError

__all__ = ["from_pymrio"]

#: Separator between region and sector in product codes.
CODE_SEP = "."
#: Separator between extension and row in resource names.
RESOURCE_SEP = ":"
#: Separator between the levels of a multi-level extension row label.
LEVEL_SEP = "/"


def from_pymrio(io_system, *, extensions=None, rows=None, labour=None,
                negative="error", zero_output="drop") -> Economy:
    """Build an Economy from a pymrio ``IOSystem``; its satellite rows become resources.

    The products are the system's ``(region, sector)`` pairs in the order of
    pymrio's index (``io_system.get_index()``); the use matrix is
    ``A = Z·diag(1/x)`` and the resource coefficients are ``R = F·diag(1/x)``,
    one resource row per selected row of each selected extension's ``F``.

    Parameters
    ----------
    io_system : pymrio.IOSystem
        Never modified. Flows ``Z`` with output ``x`` are used when present (``x``
        is computed as ``Z`` + ``Y`` row sums by :func:`pymrio.calc_x` when only
        ``Z`` and ``Y`` are); a system that holds only coefficients ``A`` (and
        extension coefficients ``S``) is used as it is, and only if something is
        missing is ``calc_system()``/``calc_extensions()`` run, on a copy.
    extensions : str or sequence of str, optional
        Names of the extensions whose rows become resources, in this order.
        Default: all of them, in the order of ``io_system.get_extensions()``.
    rows : mapping or sequence, optional
        Which rows of the selected extensions to take. A mapping
        ``{extension: row or [rows]}`` (extensions not in it contribute all
        their rows), or a sequence of ``(extension, row)`` pairs or
        ``"extension:row"`` strings (then only those rows, in that order).
        Default: every row of every selected extension. A row of a multi-level
        index (e.g. pymrio's ``(stressor, compartment)``) may be given as the
        tuple or as its levels joined with ``"/"``.
    labour : (extension, row) or "extension:row", optional
        The row to put first, which lab treats as labour (``Economy.labour``,
        ``labour_values(economy)``). It is included even if ``extensions``/
        ``rows`` did not select it. Default: the first selected row. For
        pymrio's test system, ``("factor_inputs", "Value Added")``.
    negative : {"error", "split"}, default "error"
        Satellite rows with negative entries (emissions accounts may record
        removals or negative emissions). lab's resources are non-negative, so
        ``"error"`` raises :class:`~lab.exceptions.InvalidEconomyError` naming
        the rows. ``"split"`` replaces each such row by two non-negative rows
        ``"extension:row (+)"`` (its positive part) and ``"extension:row (-)"``
        (minus its negative part): the multipliers are linear in the row, so the
        net multiplier is the first minus the second. A split labour row raises
        regardless.
    zero_output : {"drop", "error"}, default "drop"
        Products with zero total output, as in :meth:`Economy.from_flows`: with
        ``"drop"`` a product with no flows and no satellite entries is left out
        (listed in :attr:`Economy.dropped`); one with flows raises. Applies to
        the flows route only; a coefficients-only system is taken as it is.

    Returns
    -------
    Economy
        * ``codes``: ``"REGION.SECTOR"`` (e.g. ``"reg1.food"``), in pymrio's order;
          an index with one level uses its labels as they are.
        * ``names``: ``"SECTOR (REGION)"``.
        * ``index``: pymrio's ``(region, sector)`` :class:`pandas.MultiIndex`, level
          names kept; every result (``ValuesResult.series``/``frame``,
          :func:`lab.footprint`, plan frames) is indexed by it, so it joins to
          pymrio's frames without splitting the codes.
        * ``resource_names``: ``"extension:row"`` (e.g.
          ``"factor_inputs:Value Added"``, ``"emissions:emission_type1/air"``),
          the labour row first, then the selected rows in order.

        Final-demand satellite accounts (``F_Y``) are not part of the Economy:
        they are emitted by final demand, not by production.

    Raises
    ------
    ImportError
        pymrio is not installed.
    InvalidEconomyError
        Unknown extension or row names (the message lists the valid ones), a
        system with neither ``Z`` nor ``A``, extension columns that do not match
        the products, negative satellite entries with ``negative="error"``, and
        everything :class:`Economy` rejects (negative flows, zero-output
        products with flows, ...).

    Examples
    --------
    >>> import pymrio, lab
    >>> from lab.io._pymrio import from_pymrio
    >>> io = pymrio.load_test()
    >>> economy = from_pymrio(io, labour=("factor_inputs", "Value Added"))
    >>> economy
    Economy(48 products, 3 resources, 2304 non-zeros)
    >>> economy.codes[:2].tolist(), economy.resource_names[1]
    (['reg1.food', 'reg1.mining'], 'emissions:emission_type1/air')
    >>> lab.labour_values(economy, resources="all").values.shape
    (3, 48)
    """
    try:
        import pymrio
    except ImportError as exc:
        raise ImportError(
            "lab.from_pymrio needs pymrio, which is not installed: "
            "pip install pymrio (or lab's 'test' extra)"
        ) from exc
    import pandas as pd

    check_choice("negative", negative, ("error", "split"))
    check_choice("zero_output", zero_output, ("drop", "error"))
    if not isinstance(io_system, pymrio.IOSystem):
        raise InvalidTypeError(
            f"io_system must be a pymrio.IOSystem, got {type(io_system).__name__}"
        )

    io = io_system
    available = [str(e) for e in io.get_extensions()]
    selected = _select_extensions(extensions, available)
    # extension name -> its row labels (as in F, or S for coefficients-only systems)
    ext_rows = {name: _row_index(getattr(io, name)) for name in available}
    picks = _select_rows(rows, selected, ext_rows)
    if labour is not None:
        lab_pick = _parse_pair("labour", labour, available, ext_rows)
        picks = [lab_pick] + [p for p in picks if p != lab_pick]
    if not picks:
        raise InvalidEconomyError(
            "no satellite rows selected: the selected extensions "
            f"{selected!r} have no rows"
        )

    Z, A = io.Z, io.A
    if Z is None and A is None:
        raise InvalidEconomyError(
            "io_system has neither flows Z nor coefficients A; load or compute one first"
        )
    index = (Z if Z is not None else A).index
    _unique("the system's index (Z.index)" if Z is not None else "A.index", index)
    flows = Z is not None
    x = None
    if flows:
        x = io.x
        if x is None:
            if io.Y is None:
                raise InvalidEconomyError(
                    "io_system has flows Z but neither total output x nor final demand Y "
                    "to compute it from"
                )
            x = pymrio.calc_x(Z, io.Y)  # pure function: io_system is not touched
        x = _as_output_vector(x, index)
        Z = _aligned(Z, index, "Z")
        satellite = np.vstack([
            _aligned(_satellite(io, ext), index, f"{ext}.F").loc[[row]].to_numpy()
            for ext, row in picks
        ])
    else:
        A = _aligned(A, index, "A")
        needs_calc = any(getattr(io, ext).S is None and
                         (getattr(io, ext).F is None or io.x is None) for ext, _ in picks)
        source = io
        if needs_calc:
            source = io.copy()
            source.calc_system()
            source.calc_extensions()
        blocks = []
        for ext, row in picks:
            acc = getattr(source, ext)
            if acc.S is not None:
                S = _aligned(acc.S, index, f"{ext}.S")
            else:
                S = _aligned(pd.DataFrame(
                    pymrio.calc_S(acc.F, source.x), index=acc.F.index, columns=acc.F.columns),
                    index, f"{ext}.S")
            blocks.append(S.loc[[row]].to_numpy())
        satellite = np.vstack(blocks)

    satellite = np.asarray(satellite, dtype=np.float64)
    names_out = [_resource_name(ext, row) for ext, row in picks]
    satellite, names_out = _handle_negative(satellite, names_out, negative)

    codes = [_code(label) for label in index]
    names = [_name(label) for label in index]
    if flows:
        economy = Economy.from_flows(
            Z.to_numpy(dtype=np.float64), x, satellite, codes=codes, names=names,
            resource_names=names_out, zero_output=zero_output,
        )
    else:
        economy = Economy(A.to_numpy(dtype=np.float64), satellite, codes=codes, names=names,
                          resource_names=names_out)
    if index.nlevels > 1:  # results come back indexed by (region, sector)
        economy._with_index(index, codes)
    return economy


# ---------------------------------------------------------------------- helpers


def _label_str(label) -> str:
    if isinstance(label, tuple):
        return LEVEL_SEP.join(str(p) for p in label)
    return str(label)


def _code(label) -> str:
    if isinstance(label, tuple):
        return CODE_SEP.join(str(p) for p in label)
    return str(label)


def _name(label) -> str:
    if isinstance(label, tuple) and len(label) == 2:
        return f"{label[1]} ({label[0]})"
    return _code(label)


def _resource_name(ext: str, row) -> str:
    return f"{ext}{RESOURCE_SEP}{_label_str(row)}"


def _row_index(acc):
    frame = acc.F if acc.F is not None else acc.S
    return [] if frame is None else list(frame.index)


def _shown(items) -> str:
    items = [repr(_label_str(i)) for i in items]
    return ", ".join(items) if items else "(none)"


def _select_extensions(extensions, available):
    if extensions is None:
        return list(available)
    if isinstance(extensions, str):
        extensions = [extensions]
    chosen = []
    for name in extensions:
        if name not in available:
            raise InvalidEconomyError(
                f"unknown extension {name!r}; the IOSystem has: {_shown(available)}"
            )
        if name not in chosen:
            chosen.append(name)
    return chosen


def _find_row(ext, row, ext_rows):
    """The label in ``ext``'s index that ``row`` names (label itself or levels joined)."""
    labels = ext_rows[ext]
    if row in labels:
        return row
    if isinstance(row, str):
        for label in labels:
            if _label_str(label) == row:
                return label
    raise InvalidEconomyError(
        f"unknown row {row!r} of extension {ext!r}; its rows are: {_shown(labels)}"
    )


def _parse_pair(what, item, available, ext_rows):
    if isinstance(item, str):
        ext, sep, row = item.partition(RESOURCE_SEP)
        if not sep:
            raise InvalidEconomyError(
                f"{what} {item!r} must name an extension and a row as 'extension:row' "
                "or (extension, row)"
            )
    elif isinstance(item, tuple) and len(item) == 2:
        ext, row = item
    else:
        raise InvalidEconomyError(
            f"{what} must be (extension, row) or 'extension:row', got {item!r}"
        )
    if ext not in available:
        raise InvalidEconomyError(
            f"unknown extension {ext!r} in {what}; the IOSystem has: {_shown(available)}"
        )
    return ext, _find_row(ext, row, ext_rows)


def _select_rows(rows, selected, ext_rows):
    if rows is None:
        return [(ext, r) for ext in selected for r in ext_rows[ext]]
    if isinstance(rows, Mapping):
        for ext in rows:
            if ext not in selected:
                raise InvalidEconomyError(
                    f"rows names extension {ext!r}, which is not among the selected "
                    f"extensions: {_shown(selected)}"
                )
        picks = []
        for ext in selected:
            if ext in rows:
                wanted = rows[ext]
                if isinstance(wanted, (str, tuple)):
                    wanted = [wanted]
                for r in wanted:
                    pair = (ext, _find_row(ext, r, ext_rows))
                    if pair not in picks:
                        picks.append(pair)
            else:
                picks.extend((ext, r) for r in ext_rows[ext])
        return picks
    if isinstance(rows, str):
        rows = [rows]
    picks = []
    for item in rows:
        pair = _parse_pair("rows entry", item, selected, ext_rows)
        if pair not in picks:
            picks.append(pair)
    return picks


def _unique(what, index):
    """Refuse duplicated labels (pandas would pick or repeat rows silently, or fail)."""
    if index.has_duplicates:
        dup = list(dict.fromkeys(index[index.duplicated()]))
        shown = ", ".join(repr(_label_str(v)) for v in dup[:5])
        raise InvalidEconomyError(f"{what} has duplicated labels: {shown}"
                                  + (f", ... ({len(dup)} in all)" if len(dup) > 5 else "")
                                  + "; each (region, sector) and row label must appear once")


def _as_output_vector(x, index):
    import pandas as pd

    if isinstance(x, pd.DataFrame):
        if x.shape[1] != 1:
            raise InvalidEconomyError(f"x must have one column, got shape {x.shape}")
        x = x.iloc[:, 0]
    if isinstance(x, pd.Series):
        _unique("x.index", x.index)
        if not x.index.equals(index):
            if set(x.index) != set(index):
                raise InvalidEconomyError("x is not indexed by the same products as Z")
            x = x.reindex(index)
        return x.to_numpy(dtype=np.float64)
    return np.asarray(x, dtype=np.float64).reshape(-1)


def _aligned(frame, index, what):
    """``frame`` with its columns in the order of ``index`` (rows too when square)."""
    _unique(f"{what}.columns", frame.columns)
    _unique(f"{what}.index", frame.index)
    cols = frame.columns
    if not cols.equals(index):
        if len(cols) != len(index) or set(cols) != set(index):
            raise InvalidEconomyError(
                f"{what} has {len(cols)} columns that do not match the {len(index)} "
                "(region, sector) products of the system"
            )
        frame = frame.reindex(columns=index)
    if what in ("Z", "A") and not frame.index.equals(index):
        frame = frame.reindex(index=index)
    return frame


def _satellite(io, ext):
    acc = getattr(io, ext)
    if acc.F is None:
        raise InvalidEconomyError(
            f"extension {ext!r} has no satellite flows F to go with the flows Z"
        )
    return acc.F


def _handle_negative(satellite, names, negative):
    neg = (satellite < 0).any(axis=1)
    if not neg.any():
        return satellite, names
    bad = [names[q] for q in np.flatnonzero(neg)]
    if negative == "error" or neg[0]:
        why = (
            "lab's resource coefficients must be non-negative; pass negative='split' "
            "to integrate their positive and negative parts as separate rows"
            if not neg[0] or negative == "error" else
            "the labour row cannot be split; choose another labour row"
        )
        counts = ", ".join(
            f"{names[q]!r} ({int((satellite[q] < 0).sum())} negative)"
            for q in np.flatnonzero(neg)
        )
        raise InvalidEconomyError(
            f"{len(bad)} satellite row(s) have negative entries: {counts}; {why}"
        )
    out_rows, out_names = [], []
    for q, name in enumerate(names):
        if neg[q]:
            out_rows += [np.maximum(satellite[q], 0.0), np.maximum(-satellite[q], 0.0)]
            out_names += [f"{name} (+)", f"{name} (-)"]
        else:
            out_rows.append(satellite[q])
            out_names.append(name)
    return np.vstack(out_rows), out_names
