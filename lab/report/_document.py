"""The content of a report, before it becomes HTML: one JSON-ready dict and the table.

:func:`plan_document`, :func:`values_document` and :func:`multiyear_document` decide
*what* a reader sees (the renderer decides only how): the headline, the table of
targets or products, the charts (Vega-Lite specifications of data aggregated here, so
that a chart of 10⁶ products carries 40 bars, not 10⁶ points), what limits the plan in
words, the supply chains of chosen products (:func:`lab.explain`), and the evidence
with the steps to re-check it.

Shadow prices are read as marginal values: λ_q is by how much the objective (harmony,
or φ for the plan ray) rises per unit more of resource q, to first order. A price
whose whole effect, λ_q·ρ_q, is below a millionth of the objective's scale is below
what the certificate resolves and is reported as 0 (not binding).
"""

from __future__ import annotations

import math
import time

import numpy as np

from lab._version import __version__
from lab.report._evidence import number
from lab.report._sources import PlanParts, Provenance, ValuesParts, YearsParts

__all__ = ["Column", "plan_document", "values_document", "multiyear_document",
           "load_economy"]

#: Share of the objective's scale below which a shadow price's effect counts as 0.
RESOLVED = 1e-6
#: How many paths of each supply-chain explanation are kept.
PATHS = 8
#: Values closer than this (relative) are drawn as one: they differ by rounding only.
SAME = 1e-6
#: The worst-fulfilled targets named in the headline.
WORST = 5
#: Rows of the "what limits the plan" lists.
LIMIT_ROWS = 20
#: The Vega-Lite major version of the bundle vl-convert 1.x inlines (a name, never fetched).
VL_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"


class Column:
    """One column of the report's table: text (codes, names) or numbers."""

    def __init__(self, key: str, label: str, data, *, kind: str = "num", fmt: str = "g",
                 note: str = ""):
        self.key, self.label, self.kind, self.fmt, self.note = key, label, kind, fmt, note
        self.data = data

    def spec(self) -> dict:
        return {"key": self.key, "label": self.label, "kind": self.kind, "fmt": self.fmt,
                "note": self.note}


# --------------------------------------------------------------------------- helpers


def _fmt(x, digits: int = 4) -> str:
    x = number(x)
    if math.isnan(x):
        return "—"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x != 0 and (abs(x) >= 1e6 or abs(x) < 1e-3):
        return f"{x:.{digits - 1}e}"
    return f"{x:,.{digits}g}" if abs(x) < 1e4 else f"{x:,.0f}"


def histogram(x, *, bins: int = 40, log: bool = False) -> tuple[list, str]:
    """Bars (lo, hi, count) of the finite values of ``x`` and a note on what is left out.

    Linear bins up to the 99th percentile, everything above in the last bar (so one
    far outlier does not squash the rest); ``log``: bins of log10 x, zeros counted
    apart."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    note = []
    if log:
        zero = int(np.count_nonzero(x <= 0))
        if zero:
            note.append(f"{zero:,} products with value ≤ 0 are not drawn")
        x = np.log10(x[x > 0])
    if x.size == 0:
        return [], "; ".join(note)
    lo, hi = float(x.min()), float(x.max())
    if not log and x.size > 100:
        q = float(np.quantile(x, 0.99))
        if hi > lo and hi - lo > 2 * (q - lo) and q > lo:
            note.append(f"the last bar holds every value above {_fmt(q)} (up to {_fmt(hi)})")
            hi = q
    if hi - lo <= SAME * max(1.0, abs(hi)):  # one value, up to rounding: one bar
        width = max(abs(hi) * 0.01, 1e-3)
        note.append(f"all {x.size:,} equal to {_fmt(hi, 6)} (to within {SAME:.0e})")
        return [{"lo": lo - width, "hi": hi + width, "count": int(x.size)}], "; ".join(note)
    counts, edges = np.histogram(np.minimum(x, hi), bins=bins, range=(lo, hi))
    bars = [{"lo": float(edges[i]), "hi": float(edges[i + 1]), "count": int(counts[i])}
            for i in range(len(counts))]
    return bars, "; ".join(note)


def histogram_spec(bars, *, x_title: str, log: bool = False, rule=None) -> dict:
    x_axis = {"title": x_title}
    unit = " (log10)" if log else ""
    if log:
        x_axis["labelExpr"] = "'1e' + format(datum.value, 'd')"
        x_axis["tickMinStep"] = 1
    layers = [{"mark": {"type": "bar", "color": "#4c78a8"},
               "encoding": {"x": {"field": "lo", "type": "quantitative", "axis": x_axis,
                                  "scale": {"zero": False}},
                            "x2": {"field": "hi"},
                            "y": {"field": "count", "type": "quantitative",
                                  "title": "count"},
                            "y2": {"datum": 0},
                            "tooltip": [{"field": "lo", "title": "from" + unit,
                                         "format": ".4~g"},
                                        {"field": "hi", "title": "to" + unit,
                                         "format": ".4~g"},
                                        {"field": "count", "format": ","}]}}]
    if rule is not None:
        layers.append({"mark": {"type": "rule", "color": "#e45756", "strokeDash": [4, 3]},
                       "encoding": {"x": {"datum": rule}}})
    return {"$schema": VL_SCHEMA, "width": "container", "height": 220,
            "data": {"values": bars}, "layer": layers}


def _names_of(codes, names) -> dict:
    if names is None:
        return {}
    return {str(c): str(n) for c, n in zip(codes, names, strict=True)}


def _resource_unit(name: str) -> str:
    low = name.lower()
    if low in ("labour", "labor", "hours", "hours_worked"):
        return "hour of labour" if low != "hours_worked" else "hour worked"
    return f"unit of {name}"


def objective_words(method: str) -> str:
    if method in ("plan-ray", "plan-ray-sum"):
        return "φ (the share of every target that is met)"
    return "harmony"


def _significant(price, amount, scale) -> bool:
    return (math.isfinite(price) and math.isfinite(amount) and price > 0
            and price * amount > RESOLVED * scale)


# --------------------------------------------------------------------------- economy


def load_economy(parts, *, economy=None, source=None):
    """The economy a file-based report uses for labour values and supply chains, with
    the checks that it is the one the result was made from; (economy or None, notes).

    ``economy`` (an Economy) or ``source`` (EconomySource fields) override the source
    the evidence or batch manifest recorded."""
    prov: Provenance = parts.provenance
    notes = []
    if economy is None:
        source = source or prov.economy_source
        if not source:
            return None, ["no economy is recorded with this result and none was given "
                          "(--economy or --dataset): labour values and supply chains are "
                          "not shown."]
        from lab.batch import EconomySource

        try:
            economy = EconomySource(**source).load()
        except (OSError, ValueError, TypeError) as exc:
            return None, [f"the economy {source} could not be loaded ({exc}): labour values "
                          "and supply chains are not shown."]
    recorded = (prov.economy or {}).get("sha256")
    if recorded:
        from lab.batch import economy_digest

        if economy_digest(economy) != recorded:
            return None, ["the economy found is not the one the result was made from (its "
                          "digest differs from the recorded one): labour values and supply "
                          "chains are not shown."]
    codes = [str(c) for c in parts.codes]
    if isinstance(parts, (ValuesParts, YearsParts)) or parts.square:
        if len(codes) != economy.n_products or list(map(str, economy.codes)) != codes:
            return None, ["the economy's products are not those of the result: labour "
                          "values and supply chains are not shown."]
    return economy, notes


def _values_match(economy, parts, notes):
    """Labour values of ``economy`` (resource row 0), checked against the result where
    the result pins the economy down (a batch job may have changed it)."""
    from lab.values import labour_values

    values = labour_values(economy)
    prov = parts.provenance
    if prov.origin != "batch":
        return values
    if isinstance(parts, ValuesParts):
        v, w = values.values, parts.values[0]
        if v.shape == w.shape and np.allclose(v, w, rtol=1e-6, atol=1e-12 * max(
                1.0, float(np.abs(w).max(initial=0)))):
            return values
        notes.append("this job changed the economy (its values are not those of the batch's "
                     "economy): supply chains are not shown.")
        return None
    tech = parts.techniques
    if tech is not None and parts.square:
        x = tech["intensity"]
        n = x - economy.A @ x
        if np.abs(n - parts.net_output).max(initial=0) <= 1e-9 * max(
                1.0, float(np.abs(x).max(initial=0))):
            return values
    notes.append("this job changed the economy (the plan's net outputs are not (I − A)x for "
                 "the batch's economy): labour values and supply chains are not shown.")
    return None


def supply_chains(economy, values, codes) -> dict:
    """``lab.explain`` of each code (top PATHS paths), as plain data for the page."""
    from lab.analysis import explain

    out = {}
    for code in codes:
        paths = explain(economy, code, top=PATHS, values=values)
        a = paths.attrs
        out[str(code)] = {
            "value": float(a["value"]), "remainder": float(a["remainder"]),
            "certified": bool(a["certified"]), "bound_pruned": float(a["bound_pruned"]),
            "paths": [[str(c) for c in p] for p in paths["path"]],
            "contribution": [float(c) for c in paths["contribution"]],
            "share": [float(s) for s in paths["share"]]}
    return out


def chain_count(chains: int | None, n_products: int) -> int:
    """How many products get their supply chains: ``chains``, or by default 200 up to
    10⁵ products and 20 above (each explanation checks the values with one pass over A:
    73 ms at 10⁶ products)."""
    if chains is not None:
        return chains
    return 200 if n_products <= 100_000 else 20


def _chosen(order_lists, limit: int, universe: int) -> list[int]:
    """Up to ``limit`` distinct indices: the first list's, then the next list's, ..."""
    if universe <= limit:
        return list(range(universe))
    seen, out = set(), []
    for order in order_lists:
        for i in order:
            if len(out) >= limit:
                return out
            if int(i) not in seen:
                seen.add(int(i))
                out.append(int(i))
    return out


# --------------------------------------------------------------------------- evidence


def evidence_section(prov: Provenance, certificate: dict, *, kind: str, rows: list) -> dict:
    """The evidence: numbers with what they mean, files and hashes, and how to re-check."""
    steps = []
    files = []
    if prov.result_file:
        files.append({"role": "result", "path": prov.result_file,
                      "sha256": prov.result_sha256 or prov.result_sha256_now or "",
                      "status": ("same" if prov.result_sha256 == prov.result_sha256_now
                                 else "changed") if prov.result_sha256 else "not recorded"})
    for e in prov.inputs:
        files.append({"role": e.get("role", ""),
                      "path": e.get("path") or f"{e.get('dataset')}: {e.get('file')}",
                      "sha256": e.get("sha256", ""), "status": e.get("status", "")})
    if files:
        steps.append("Check that you hold the same files: `sha256sum` of each file listed above "
                     "must print the sha256 shown (status: what this report found when it was "
                     "made).")
    if prov.command:
        steps.append(f"Reproduce the result (lab {prov.lab_version or '?'}, in the folder where "
                     f"it was made): `{prov.command}`; then `lab report` of its output.")
    elif prov.origin == "python":
        steps.append("Made in Python: re-run the script that made it with lab "
                     f"{prov.lab_version or __version__}; the economy digest above "
                     "identifies the economy (lab.batch.economy_digest).")
    elif prov.origin == "batch":
        steps.append("Re-run the batch (`lab batch JOBFILE --out OUT`) and compare the job's "
                     "record.json; `lab batch --resume` checks these hashes itself.")
    if kind in ("plan", "multiyear"):
        steps.append("What the certificate proves: the shadow prices give, by weak duality, an "
                     "upper bound on the objective of every feasible plan (the 'bound'); the "
                     "plan's objective is within the relative gap of it, so no plan can be "
                     "better by more than that. The plan itself is checked against every "
                     "limit: its largest relative violation is the 'infeasibility'.")
    if kind == "plan":
        steps.append("Check it without lab's solver: with A the use matrix and x the "
                     "intensities of the plan file, the net outputs are n = x − A x (plus any "
                     "initial stocks); every target's fulfilment is n / target, and R x must "
                     "not exceed what is available.")
    elif kind == "multiyear":
        steps.append("Check it without lab's solver: every year, consumption = output − A·output "
                     "− investment (the plan file's columns) and fulfilment = consumption / "
                     "target; in the capital file, each stock is the last year's stock less "
                     "depreciation plus the investment, and C[s, p]·output[p] never exceeds "
                     "the stock of s held by p; R·output must not exceed what is available.")
    else:
        steps.append("Check it without lab's solver: with A the use matrix and l the direct "
                     "labour of the economy, the residual ‖l + Aᵀv − v‖∞ / ‖v‖∞ of the values "
                     "v in the file must be at most the stated rtol; the productivity line "
                     "states how ρ(A) < 1 was proven.")
    econ = prov.economy or {}
    facts = [["lab version", prov.lab_version or __version__],
             ["made", prov.created or "—"]]
    if econ.get("sha256"):
        facts.append(["economy digest (sha256)", econ["sha256"]])
    for key in ("products", "nnz"):
        if econ.get(key) is not None:
            facts.append([f"economy {key}", f"{econ[key]:,}"])
    for k, v in prov.extra.items():
        facts.append([k, str(v)])
    return {"rows": rows, "files": files, "command": prov.command, "steps": steps,
            "facts": facts}


def _certificate_rows(certificate: dict, kind: str) -> list:
    c = certificate
    rows = []

    def add(key, label, meaning, fmt=None):
        if key in c and c[key] is not None:
            value = c[key]
            shown = fmt(value) if fmt else (value if isinstance(value, str) else _fmt(value, 6))
            rows.append([label, str(shown), meaning])

    if kind == "plan":
        add("status", "status", "OPTIMAL is the only certified outcome")
        add("method", "method", "the objective maximised")
        add("method_reason", "route", "how lab solved it")
        add("objective", "objective", "harmony Σ w·H(s), or φ for the plan ray, of this plan")
        add("bound", "proven bound", "no feasible plan has a higher objective (weak duality)")
        add("relative_gap", "relative gap", "(bound − objective) / scale: proven, not estimated",
            lambda v: f"{number(v):.2e}")
        add("harmony", "harmony", "Σ w·H(fulfilment − 1) of this plan")
        add("min_fulfilment", "smallest fulfilment", "the worst-served target")
        add("infeasibility", "infeasibility", "largest relative violation of any limit",
            lambda v: f"{number(v):.1e}")
        add("iterations", "iterations", "primal-dual iterations (0: the exact route)")
        add("message", "message", "")
    else:
        add("status", "status", "converged or not")
        add("method", "method", "")
        add("method_reason", "route", "why this method")
        add("residual", "residual", "‖l + Aᵀv − v‖∞ / ‖v‖∞, recomputed from A after the solve",
            lambda v: f"{number(v):.2e}")
        add("rtol", "tolerance", "the residual must be at most this",
            lambda v: f"{number(v):.1e}")
        add("iterations", "iterations", "")
        add("productivity", "productivity", "the proof that the economy can reproduce itself")
        add("message", "message", "")
    timings = c.get("timings")
    if isinstance(timings, dict) and "total" in timings:
        rows.append(["time", f"{number(timings['total']):.3g} s", "solve, certificate included"])
    return rows


# --------------------------------------------------------------------------- plans


def _limits(parts: PlanParts, scale: float, method: str) -> dict:
    """Binding resources, capacities and the scarcest products, in words."""
    what = objective_words(method)
    resources = []
    for r in parts.resources or []:
        price, use, avail = number(r["price"]), number(r["use"]), number(r["available"])
        binding = _significant(price, avail, scale)
        row = {"resource": r["resource"], "use": use, "available": avail,
               "price": price if binding else 0.0, "binding": binding}
        unit = _resource_unit(r["resource"])
        if not math.isfinite(avail):
            row["words"] = f"{r['resource']} is not limited."
        elif math.isnan(price):
            row["words"] = f"This method computes no shadow price for {r['resource']}."
        elif binding:
            row["words"] = (f"One more {unit} would raise {what} by about {_fmt(price)}; "
                            f"1 % more {r['resource']} ({_fmt(0.01 * avail)}) by about "
                            f"{_fmt(0.01 * avail * price)}.")
        else:
            row["words"] = (f"{r['resource']} does not limit the plan: more of it would not "
                            f"raise {what} (uses {_fmt(use)} of {_fmt(avail)}).")
        resources.append(row)
    capacities, n_binding = [], 0
    t = parts.techniques
    if t is not None:
        cap, price = np.asarray(t["capacity"], float), np.asarray(t["capacity_price"], float)
        with np.errstate(invalid="ignore"):
            sig = np.isfinite(cap) & np.isfinite(price) & (price > 0) & (
                price * np.where(np.isfinite(cap), cap, 0) > RESOLVED * scale)
        n_binding = int(np.count_nonzero(sig))
        order = np.flatnonzero(sig)[np.argsort(-price[sig], kind="stable")][:LIMIT_ROWS]
        for k in order:
            capacities.append({"code": str(t["codes"][k]), "capacity": float(cap[k]),
                               "use": float(t["capacity_use"][k]), "price": float(price[k]),
                               "words": f"One more unit of capacity of {t['codes'][k]} would "
                                        f"raise {what} by about {_fmt(price[k])}."})
    products = []
    p = np.asarray(parts.price, float)
    if p.size and np.isfinite(p).any():
        order = np.argsort(-np.where(np.isfinite(p), p, -np.inf), kind="stable")[:10]
        for i in order:
            if not (np.isfinite(p[i]) and p[i] > 0):
                break
            products.append({"code": str(parts.codes[i]), "price": float(p[i]),
                             "words": f"One more unit of {parts.codes[i]} (from stocks or "
                                      f"imports) would raise {what} by about {_fmt(p[i])}."})
    return {"resources": resources, "capacities": capacities, "capacities_binding": n_binding,
            "products": products, "objective": what}


def _headline_plan(c: dict, fulfil, codes, names_map, n_targets) -> dict:
    status = str(c.get("status", "unknown"))
    converged = bool(c.get("converged"))
    gap = number(c.get("relative_gap"))
    if converged:
        verdict = (f"No feasible plan does better than this one by more than a relative "
                   f"{gap:.1e} (the proven gap).")
    elif status == "HEURISTIC":
        verdict = ("Cockshott's heuristic makes no optimality claim and proves no bound.")
    elif c:
        verdict = (f"Status {status}: the best plan found may be up to a relative "
                   f"{_fmt(gap)} below the best possible.")
    else:
        verdict = "No certificate was recorded with this plan."
    f = np.asarray(fulfil, float)
    order = np.argsort(np.where(np.isfinite(f), f, np.inf), kind="stable")[:WORST]
    worst = [{"code": str(codes[i]), "name": names_map.get(str(codes[i]), ""),
              "fulfilment": float(f[i])} for i in order]
    nothing = int(np.count_nonzero(f < 1e-9))
    below = int(np.count_nonzero(f < 1 - 1e-9))
    cards = [
        {"label": "status", "value": status, "note": "certified" if converged else
         "not certified"},
        {"label": "harmony", "value": _fmt(c.get("harmony"), 8), "note": "Σ w·H(s)"},
        {"label": "proven gap", "value": f"{gap:.1e}" if math.isfinite(gap) else "none",
         "note": "relative, to the dual bound"},
        {"label": "smallest fulfilment", "value": _fmt(c.get("min_fulfilment",
                                                                np.nanmin(f) if f.size
                                                                else math.nan), 6),
         "note": "net output ÷ target"},
        {"label": "targets", "value": f"{n_targets:,}",
         "note": f"{below:,} below target, {nothing:,} get nothing"},
    ]
    return {"certified": converged, "status": status, "verdict": verdict, "cards": cards,
            "worst": worst, "nothing": nothing, "worst_title": "worst-fulfilled targets"}


def plan_document(parts: PlanParts, economy=None, *, chains: int | None = None, title=None,
                  notes=()) -> tuple[dict, list]:
    """The content of a plan's report (see the module docstring)."""
    notices = list(parts.provenance.notices) + list(notes)
    chains = chain_count(chains, len(parts.codes))
    c = parts.certificate
    names_map = _names_of(parts.codes, parts.names)
    if economy is not None and not names_map and economy.names is not None:
        names_map = _names_of(economy.codes, economy.names)
    values = _values_match(economy, parts, notices) if economy is not None else None
    tidx = np.flatnonzero(np.isfinite(parts.target) & (parts.target > 0))
    codes = parts.codes[tidx]
    fulfil = parts.fulfilment[tidx]
    method = str(c.get("method", "harmony"))
    scale = max(1.0, abs(number(c.get("objective", c.get("harmony", 1.0)))))
    if not math.isfinite(scale):
        scale = 1.0
    columns = [Column("code", "code", codes, kind="text")]
    if names_map:
        columns.append(Column("name", "name", np.asarray([names_map.get(str(x), "")
                                                          for x in codes], dtype=object),
                              kind="text"))
    columns += [Column("target", "target", parts.target[tidx]),
                Column("net_output", "net output", parts.net_output[tidx]),
                Column("fulfilment", "fulfilment", fulfil,
                       note="net output ÷ target; 1 = met exactly"),
                Column("price", "shadow price", parts.price[tidx],
                       note=f"{objective_words(method)} per unit more of the product")]
    v = None
    if values is not None:
        v = values.values if values.values.ndim == 1 else values.values[0]
        columns.append(Column("value", "labour value", v[tidx],
                              note=f"{values.resource_names[0]} per unit, direct and indirect"))
    bars, hist_note = histogram(fulfil)
    charts = [{"id": "fulfilment", "title": "Fulfilment of the targets",
               "note": hist_note or "", "spec": histogram_spec(
                   bars, x_title="fulfilment (net output ÷ target)", rule=1.0)}]
    chain_data, chain_note = {}, ""
    if values is not None and chains > 0 and len(tidx):
        fin = np.where(np.isfinite(fulfil), fulfil, np.inf)
        claim = v[tidx] * parts.target[tidx]
        pick = _chosen([np.argsort(fin, kind="stable")[:10],
                        np.argsort(-claim, kind="stable")], chains, len(tidx))
        chain_data = supply_chains(economy, values, [codes[i] for i in pick])
        chain_note = ("supply chains of every target" if len(pick) == len(tidx) else
                      f"supply chains of {len(pick):,} of {len(tidx):,} targets (the 10 worst "
                      f"fulfilled, then those that claim the most labour); for any other "
                      f"product: lab explain ECONOMY CODE")
    elif economy is None:
        chain_note = "no economy: supply chains are not shown"
    sub = (f"{len(parts.codes):,} products, {len(tidx):,} targets" +
           (f", {len(parts.techniques['codes']):,} techniques" if parts.techniques is not None
            and not parts.square else ""))
    doc = {
        "kind": "plan", "title": title or "Plan report", "subtitle": sub,
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "lab_version": __version__, "notices": notices,
        "headline": _headline_plan(c, fulfil, codes, names_map, len(tidx)),
        "limits": _limits(parts, scale, method),
        "table": {"title": "Every target", "rows": int(len(tidx)), "sort": "fulfilment",
                  "columns": [col.spec() for col in columns],
                  "note": "click a row for the product's labour value and supply chains"},
        "charts": charts, "chains": chain_data, "chains_note": chain_note,
        "names": {k: names_map.get(k, "") for k in _chain_codes(chain_data)},
        "evidence": evidence_section(parts.provenance, c, kind="plan",
                                     rows=_certificate_rows(c, "plan")),
    }
    return doc, columns


def _chain_codes(chain_data) -> set:
    return {c for d in chain_data.values() for p in d["paths"] for c in p}


# --------------------------------------------------------------------------- values


def values_document(parts: ValuesParts, economy=None, *, chains: int | None = None,
                    title=None,
                    notes=()) -> tuple[dict, list]:
    """The content of a values report: distribution, highest values, supply chains."""
    notices = list(parts.provenance.notices) + list(notes)
    c = parts.certificate
    names_map = _names_of(parts.codes, parts.names)
    if economy is not None and not names_map and economy.names is not None:
        names_map = _names_of(economy.codes, economy.names)
    v = parts.values[0]
    chains = chain_count(chains, len(v))
    first = parts.resource_names[0] if parts.resource_names else "value"
    columns = [Column("code", "code", parts.codes, kind="text")]
    if names_map:
        columns.append(Column("name", "name", np.asarray([names_map.get(str(x), "")
                                                          for x in parts.codes], dtype=object),
                              kind="text"))
    for q, name in enumerate(parts.resource_names):
        columns.append(Column(f"v{q}", f"{name} value" if len(parts.resource_names) > 1
                              else "value", parts.values[q],
                              note=f"{name} per unit, direct and indirect"))
    bars, hist_note = histogram(v, log=True)
    finite = np.where(np.isfinite(v), v, -np.inf)
    ranked = np.argsort(-finite, kind="stable")
    top = ranked[:20]
    top_rows = [{"code": str(parts.codes[i]), "name": names_map.get(str(parts.codes[i]), ""),
                 "value": float(v[i])} for i in top if np.isfinite(v[i])]
    charts = [
        {"id": "values", "title": f"Distribution of the {first} values", "note": hist_note,
         "spec": histogram_spec(bars, x_title=f"{first} per unit (log scale)",
                                log=True)},
        {"id": "top", "title": "The products with the highest values", "note": "",
         "spec": {"$schema": VL_SCHEMA,
                  "width": "container", "height": max(120, 18 * len(top_rows)),
                  "data": {"values": top_rows}, "mark": {"type": "bar", "color": "#4c78a8"},
                  "encoding": {"y": {"field": "code", "type": "nominal", "sort": "-x",
                                     "title": None},
                               "x": {"field": "value", "type": "quantitative",
                                     "title": f"{first} per unit"},
                               "tooltip": [{"field": "code"}, {"field": "name"},
                                           {"field": "value", "format": ".6~g"}]}}},
    ]
    values = None
    chain_data, chain_note = {}, ""
    if economy is not None:
        values = _values_match(economy, parts, notices)
    if values is not None and chains > 0:
        pick = [int(i) for i in ranked[:chains] if np.isfinite(v[i])]
        if len(v) <= chains:
            pick = list(range(len(v)))
        chain_data = supply_chains(economy, values, [parts.codes[i] for i in pick])
        chain_note = ("supply chains of every product" if len(pick) == len(v) else
                      f"supply chains of the {len(pick):,} products with the highest values; "
                      "for any other product: lab explain ECONOMY CODE")
    elif economy is None:
        chain_note = "no economy: supply chains are not shown"
    status = str(c.get("status", "unknown"))
    converged = bool(c.get("converged"))
    residual = number(c.get("residual"))
    verdict = (f"The residual ‖l + Aᵀv − v‖∞/‖v‖∞ = {residual:.1e}, recomputed from "
               f"A, is within the tolerance {_fmt(c.get('rtol'))}." if converged else
               "These values do not meet the tolerance." if c else
               "No certificate was recorded with these values.")
    fin = v[np.isfinite(v)]
    cards = [{"label": "status", "value": status, "note": "converged" if converged else
              "not converged"},
             {"label": "residual", "value": f"{residual:.1e}" if math.isfinite(residual)
              else "—", "note": "relative, recomputed from A"},
             {"label": "products", "value": f"{len(v):,}", "note": ""},
             {"label": f"median {first} value", "value": _fmt(np.median(fin)) if fin.size
              else "—", "note": "per unit"},
             {"label": f"highest {first} value", "value": _fmt(fin.max()) if fin.size else "—",
              "note": top_rows[0]["code"] if top_rows else ""}]
    headline = {"certified": converged, "status": status, "verdict": verdict, "cards": cards,
                "worst": [{"code": r["code"], "name": r["name"], "fulfilment": r["value"]}
                          for r in top_rows[:WORST]],
                "worst_title": "highest values", "nothing": 0}
    doc = {
        "kind": "values", "title": title or "Labour values report",
        "subtitle": f"{len(v):,} products, resource rows: {', '.join(parts.resource_names)}",
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "lab_version": __version__, "notices": notices, "headline": headline, "limits": None,
        "table": {"title": "Every product", "rows": int(len(v)), "sort": "-v0",
                  "columns": [col.spec() for col in columns],
                  "note": "click a row for the product's supply chains"},
        "charts": charts, "chains": chain_data, "chains_note": chain_note,
        "names": {k: names_map.get(k, "") for k in _chain_codes(chain_data)},
        "evidence": evidence_section(parts.provenance, c, kind="values",
                                     rows=_certificate_rows(c, "values")),
    }
    return doc, columns


# --------------------------------------------------------------------------- multi-year


def multiyear_document(parts: YearsParts, economy=None, *, chains: int | None = None,
                       title=None, notes=()) -> tuple[dict, list, dict]:
    """The content of a multi-year plan's report: the plan's pages plus the trajectories of
    output, consumption, investment and stocks by year (totals valued at the labour values
    of ``economy``, year 1's; without one, only each product's own trajectory)."""
    notices = list(parts.provenance.notices) + list(notes)
    T, m = parts.output.shape
    chains = chain_count(chains, m)
    codes = np.asarray([str(c) for c in parts.codes], dtype=object)
    names_map = _names_of(codes, parts.names)
    if economy is not None and not names_map and economy.names is not None:
        names_map = _names_of(economy.codes, economy.names)
    values = v = None
    if economy is not None:
        from lab.values import labour_values

        values = labour_values(economy)
        v = values.values if values.values.ndim == 1 else values.values[0]
    t = parts.target
    where = np.argwhere(t > 0)
    ys, ps = where[:, 0], where[:, 1]
    fulfil = parts.fulfilment[ys, ps]
    row_codes = codes[ps]
    columns = [Column("year", "year", (ys + 1).astype(float), fmt="d"),
               Column("code", "code", row_codes, kind="text")]
    if names_map:
        columns.append(Column("name", "name", np.asarray([names_map.get(c, "")
                                                          for c in row_codes], dtype=object),
                              kind="text"))
    columns += [Column("target", "target", t[ys, ps]),
                Column("consumption", "consumption", parts.consumption[ys, ps]),
                Column("fulfilment", "fulfilment", fulfil,
                       note="consumption ÷ target; 1 = met exactly"),
                Column("price", "shadow price", parts.price[ys, ps])]
    if v is not None:
        columns.append(Column("value", "labour value", v[ps]))
    phi = parts.phi
    bars, hist_note = histogram(fulfil)
    charts = []
    if v is not None:
        hours = {"output": parts.output @ v, "consumption": parts.consumption @ v,
                 "investment": parts.investment @ v}
        series = [{"year": y + 1, "series": k, "hours": float(h[y])}
                  for k, h in hours.items() for y in range(T)]
        series += [{"year": y + 1, "series": "stocks (start of year)",
                    "hours": float(parts.stocks[y] @ v)} for y in range(T + 1)]
        charts.append({
            "id": "trajectories", "title": "Output, consumption, investment and stocks by year",
            "note": "totals over all products, each valued at its labour value (year 1's "
                    "economy); the last stock point is what the plan leaves after the horizon",
            "spec": {"$schema": VL_SCHEMA, "width": "container", "height": 240,
                     "data": {"values": series}, "mark": {"type": "line", "point": True},
                     "encoding": {
                         "x": {"field": "year", "type": "ordinal", "title": "year"},
                         "y": {"field": "hours", "type": "quantitative",
                               "title": f"{values.resource_names[0]} at labour values"},
                         "color": {"field": "series", "type": "nominal", "title": None},
                         "tooltip": [{"field": "year"}, {"field": "series"},
                                     {"field": "hours", "format": ",.6~g"}]}}})
    else:
        notices.append("without the economy the totals by year cannot be valued: each "
                       "product's own trajectory is shown when its row is clicked.")
    charts += [
        {"id": "phi", "title": "Smallest fulfilment of each year", "note": "",
         "spec": {"$schema": VL_SCHEMA, "width": "container", "height": 160,
                  "data": {"values": [{"year": y + 1, "phi": float(phi[y])} for y in range(T)
                                      if np.isfinite(phi[y])]},
                  "mark": {"type": "bar", "color": "#4c78a8"},
                  "encoding": {"x": {"field": "year", "type": "ordinal"},
                               "y": {"field": "phi", "type": "quantitative",
                                     "title": "smallest fulfilment"},
                               "tooltip": [{"field": "year"},
                                           {"field": "phi", "format": ".6~g"}]}}},
        {"id": "fulfilment", "title": "Fulfilment of the targets (all years)",
         "note": hist_note, "spec": histogram_spec(bars, x_title="fulfilment",
                                                   rule=1.0)},
    ]
    c = dict(parts.certificate)
    objective = number(c.get("objective"))
    scale = max(1.0, abs(objective)) if math.isfinite(objective) else 1.0
    what = objective_words(str(c.get("method", "harmony")))
    resources = []
    for r in parts.resources or []:
        name, y = r["resource"], r.get("year")
        avail, price, use = number(r["available"]), number(r["price"]), number(r["use"])
        binding = _significant(price, avail, scale)
        words = (f"Year {y}: one more {_resource_unit(name)} would raise {what} by about "
                 f"{_fmt(price)}." if binding else
                 f"Year {y}: {name} does not limit the plan." if math.isfinite(avail)
                 else f"Year {y}: {name} is not limited.")
        resources.append({"resource": f"{name}, year {y}", "use": use, "available": avail,
                          "price": price if binding else 0.0, "binding": binding,
                          "words": words})
    limits = {"resources": resources, "capacities": [], "capacities_binding": 0,
              "products": [], "objective": what}
    chain_data, chain_note = {}, ""
    targeted = np.unique(ps)
    if values is not None and chains > 0 and targeted.size:
        claim = v[targeted] * t[:, targeted].sum(axis=0)
        pick = targeted[np.argsort(-claim, kind="stable")[:chains]]
        chain_data = supply_chains(economy, values, [codes[i] for i in pick])
        chain_note = ("supply chains (year 1's economy) of "
                      + ("every targeted product" if len(pick) == targeted.size else
                         f"the {len(pick):,} targeted products that claim the most labour"))
    elif economy is None:
        chain_note = "no economy: supply chains are not shown"
    labels = [f"{row_codes[i]} (year {ys[i] + 1})" for i in range(len(ys))]
    headline = _headline_plan(c, fulfil, labels, {}, len(ys))
    for w in headline["worst"]:
        w["name"] = names_map.get(w["code"].split(" (year ")[0], "")
    doc = {
        "kind": "multiyear", "title": title or f"{T}-year plan report",
        "subtitle": f"{T} years, {m:,} products, {len(ys):,} targets",
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "lab_version": __version__, "notices": notices, "headline": headline,
        "limits": limits,
        "table": {"title": "Every target of every year", "rows": int(len(ys)),
                  "sort": "fulfilment", "columns": [col.spec() for col in columns],
                  "note": "click a row for the product's trajectory and supply chains"},
        "charts": charts, "chains": chain_data, "chains_note": chain_note,
        "names": {k: names_map.get(k, "") for k in _chain_codes(chain_data)},
        "evidence": evidence_section(parts.provenance, c, kind="multiyear",
                                     rows=_certificate_rows(c, "plan")),
        "years": {"T": int(T)},
        "product_chart": {
            "$schema": VL_SCHEMA, "width": 400, "height": 180, "data": {"values": []},
            "mark": {"type": "line", "point": True},
            "encoding": {"x": {"field": "year", "type": "ordinal"},
                         "y": {"field": "amount", "type": "quantitative",
                               "title": "units of the product"},
                         "color": {"field": "series", "type": "nominal", "title": None},
                         "tooltip": [{"field": "year"}, {"field": "series"},
                                     {"field": "amount", "format": ",.6~g"}]}},
    }
    trajectories = {"codes": codes, "output": parts.output, "consumption": parts.consumption,
                    "investment": parts.investment, "stocks": parts.stocks[:T]}
    return doc, columns, trajectories
