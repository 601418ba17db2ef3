"""Reports anyone can inspect: one self-contained HTML file per plan or set of values.

A result (a :class:`~lab.PlanResult`, :class:`~lab.ValuesResult` or
:class:`~lab.MultiYearResult` in Python; a ``lab plan``/``lab values`` output file with
its evidence sidecar, or a batch job folder, on disk) is read into plain pieces
(``_sources``), turned into the content a reader needs (``_document``: the headline,
every target's fulfilment, what limits the plan in words, labour values and supply
chains from :func:`lab.explain`, trajectories by year, the evidence and how to re-check
it) and written as one HTML file with every script, style and datum inlined
(``_render``). ``_evidence`` defines the sidecar that ``lab plan`` and ``lab values``
write beside their results.

Libraries, and why: **Jinja2** for the page (autoescaping, the standard template engine
of the Python world); **Vega-Lite** for the charts, drawn as SVG in the page by
Vega-Embed and Vega, inlined from the ``vl-convert-python`` package (kept by the Vega
project, the one Altair uses for inline HTML), so lab vendors no JavaScript. Measured
in headless Chromium on one 40-bar histogram (load average 4): the Vega bundle is
0.90 MB inlined and drew in 0.21–0.33 s; Plotly's (``plotly.min.js`` from the plotly
package) is 4.8 MB and drew in 1.6–2.3 s. The table, its search, sorting and
pages are lab's own short script: at 10⁶ rows only a page is in the DOM.

Importing this folder registers its writers with :mod:`lab._html`, so that a result's
``to_html(path)`` (which calls :func:`lab._html.render`) works without the result's
layer importing this one. Jinja2 and vl-convert are imported only when a report is
written.
"""

from __future__ import annotations

from pathlib import Path

from lab import _html
from lab.report._evidence import evidence_path, read_evidence, write_evidence

__all__ = ["evidence_path", "read_evidence", "report_file", "to_html", "write_evidence"]


def _economy_provenance(prov, economy) -> None:
    if economy is not None:
        from lab.report._evidence import economy_summary

        prov.economy = economy_summary(economy)


def to_html(result, path, *, economy=None, problem=None, chains: int | None = None,
            title=None):
    """Write the HTML report of a plan, a multi-year plan or labour values.

    Parameters
    ----------
    result : PlanResult, MultiYearResult or ValuesResult
    path : path
        The ``.html`` file to write (atomically).
    economy : Economy, optional
        For values: the economy they were solved for, needed for the supply chains
        (and product names). For plans: default the problem's economy.
    problem : PlanningProblem, optional
        For values solved on a planning problem (technique choice): its economy's names.
    chains : int, optional
        Supply chains (:func:`lab.explain`, top 8 paths) of at most this many
        products: every target (or product) when there are no more, else the worst
        fulfilled and those claiming the most labour (or the highest values). 0: none.
        Default 200, or 20 above 10⁵ products (each costs a pass over A).
    title : str, optional

    Returns
    -------
    Path

    Raises
    ------
    InvalidTypeError
        ``result`` is none of these; ``economy`` is not an Economy.
    InvalidOptionError
        ``path`` does not end in ``.html``; ``chains`` is not an integer ≥ 0; ``economy``
        has another number of products than the values.
    """
    from lab.economy import Economy
    from lab.exceptions import InvalidOptionError, InvalidTypeError
    from lab.report import _document
    from lab.report._render import check_html_path, render_html
    from lab.report._sources import plan_parts, values_parts, years_parts

    check_html_path(path)
    if chains is not None and (isinstance(chains, bool) or not isinstance(chains, int)
                               or chains < 0):
        raise InvalidOptionError(f"chains must be an integer ≥ 0, got {chains!r}")
    if economy is not None and not isinstance(economy, Economy):
        raise InvalidTypeError(f"economy must be a lab.Economy, got {type(economy).__name__}")
    name = type(result).__name__
    if name == "MultiYearResult":
        parts = years_parts(result)
        economy = economy if economy is not None else result.problem.economies[0]
        _economy_provenance(parts.provenance, economy)
        return _years_html(parts, economy, path, chains=chains, title=title)
    if name == "PlanResult":
        parts = plan_parts(result, economy)
        economy = economy if economy is not None else result.problem.economy
        _economy_provenance(parts.provenance, economy)
        doc, columns = _document.plan_document(parts, economy, chains=chains, title=title)
    elif name == "ValuesResult":
        m = result.values.shape[-1]
        if economy is not None and economy.n_products != m:
            raise InvalidOptionError(f"economy has {economy.n_products} products but the "
                                     f"values {m}")
        parts = values_parts(result, economy, problem)
        _economy_provenance(parts.provenance, economy)
        doc, columns = _document.values_document(parts, economy, chains=chains, title=title)
    else:
        raise InvalidTypeError(f"result must be a PlanResult, MultiYearResult or ValuesResult, "
                               f"got {name}")
    return render_html(doc, columns, path)


def _years_html(parts, economy, path, *, chains, title, notes=()):
    from lab.report import _document
    from lab.report._render import render_html

    doc, columns, traj = _document.multiyear_document(parts, economy, chains=chains,
                                                      title=title, notes=notes)
    extra = {f"traj:{k}": traj[k] for k in ("codes", "output", "consumption", "investment",
                                           "stocks")}
    return render_html(doc, columns, path, extra=extra)


def report_file(source, path, *, economy=None, economy_source=None, chains: int | None = None,
                title=None) -> Path:
    """Write the HTML report of a result on disk: a ``lab plan`` or ``lab values`` output
    file (with its ``.evidence.json`` sidecar) or a batch job folder (``OUT/jobs/NAME``).

    The economy for labour values and supply chains is ``economy`` (an Economy),
    ``economy_source`` (fields of :class:`lab.batch.EconomySource`), or the one the
    evidence or the batch manifest names; it is used only if it is the economy the
    result was made from (its digest, and for batch jobs the result itself, tell).
    """
    from lab.report import _document
    from lab.report._render import check_html_path, render_html
    from lab.report._sources import PlanParts, YearsParts, read_source

    check_html_path(path)
    parts = read_source(source)
    econ, notes = _document.load_economy(parts, economy=economy, source=economy_source)
    if econ is not None and parts.names is None and econ.names is not None:
        parts.names = econ.names if len(econ.names) == len(parts.codes) else None
    if isinstance(parts, YearsParts):
        return _years_html(parts, econ, path, chains=chains, title=title, notes=notes)
    if isinstance(parts, PlanParts):
        doc, columns = _document.plan_document(parts, econ, chains=chains, title=title,
                                               notes=notes)
    else:
        doc, columns = _document.values_document(parts, econ, chains=chains, title=title,
                                                 notes=notes)
    return render_html(doc, columns, path)


for _name in ("PlanResult", "ValuesResult", "MultiYearResult"):
    _html.register(_name, to_html)
del _name
