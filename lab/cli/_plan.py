"""``lab plan``: a harmony-balanced plan (or the plan ray) of an economy from the command line."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import click
import numpy as np

from lab.cli._util import Progress, fail, refuse_overwriting, run_guarded

__all__ = ["plan"]


def _summary(result, top: int) -> dict:
    problem = result.problem
    order = [int(i) for i in result.prices.argsort()[::-1][:top]] if result.prices.size else []
    from lab.planning._solve import binding, negligible

    lim = [q for q in range(problem.n_resources) if problem.available[q] < float("inf")]
    by_use = sorted(lim, key=lambda q: -result.resource_use[q] / max(problem.available[q],
                                                                      1e-300))
    # prices below what the certificate resolves are 0, as in the frames and the report
    prices = np.where(negligible(result.resource_prices, problem.available, result.objective),
                      0.0, result.resource_prices)
    binds = binding(result.resource_prices, problem.available, result.objective)
    return {
        "method": result.method, "method_reason": result.method_reason,
        "solver": result.solver, "status": result.status.name, "converged": result.converged,
        "message": result.message, "harmony": result.harmony,
        "min_fulfilment": result.min_fulfilment, "objective": result.objective,
        "bound": result.bound, "relative_gap": result.relative_gap,
        "infeasibility": result.infeasibility, "iterations": result.iterations,
        "timings": dict(result.timings), "backend": result.backend,
        "n_threads": result.n_threads,
        "resources": [{"resource": problem.resource_names[q],
                       "use": float(result.resource_use[q]),
                       "available": float(problem.available[q]),
                       "price": float(prices[q]), "binding": bool(binds[q])}
                      for q in by_use],
        "highest_prices": [{"product": str(problem.product_codes[i]),
                            "price": float(result.prices[i])} for i in order],
    }


def _echo_resources(resources: list[dict], top: int) -> None:
    """The binding resources with their shadow prices; without prices (cockshott), the
    resources by share used."""
    def line(r):
        price = "n/a" if r["price"] != r["price"] else f"{r['price']:.6g}"
        click.echo(f"  {r['resource']:<20} use {r['use']:.6g} of {r['available']:.6g}, "
                   f"shadow price {price}")

    if not resources:
        return
    if all(r["price"] != r["price"] for r in resources):  # NaN: no prices computed
        click.echo("resources by share used (this method computes no shadow prices):")
        for r in resources[:top or None]:
            line(r)
        return
    bound = [r for r in resources if r["binding"]]
    if not bound:
        click.echo("binding resources: none (every resource price is 0 within the "
                   "certificate)")
    else:
        click.echo("binding resources:")
        for r in sorted(bound, key=lambda r: -r["price"])[:top or None]:
            line(r)


def _targets_summary(codes, fulfilment, top: int) -> dict:
    """The worst-fulfilled targets, and those that get nothing, said plainly."""
    from lab.planning._solve import NOTHING, worst_fulfilled

    fulfilment = np.asarray(fulfilment, dtype=np.float64)
    nothing = [str(codes[i]) for i in np.flatnonzero(fulfilment < NOTHING)]
    return {"worst_targets": [{"target": c, "fulfilment": f}
                              for c, f in worst_fulfilled(codes, fulfilment, top)],
            "targets_with_nothing": nothing, "n_targets": len(codes)}


def _echo_targets(info: dict) -> None:
    nothing = info["targets_with_nothing"]
    if nothing:
        shown = ", ".join(nothing[:10]) + (", ..." if len(nothing) > 10 else "")
        click.echo(f"{len(nothing)} of {info['n_targets']} targets get nothing: {shown}")
    if info["worst_targets"]:
        click.echo("worst-fulfilled targets:")
        for w in info["worst_targets"]:
            click.echo(f"  {w['target']:<20} {w['fulfilment']:.6g}")


_FINAL_DEMAND = "final-demand"
_CURRENT = "current"


def _table(economy, dataset):
    """The table behind --targets final-demand / --available current: a shipped dataset,
    or a folder in the csv layout with final_demand.csv."""
    from lab.datasets import load_table
    from lab.exceptions import InvalidOptionError

    if dataset is not None:
        return load_table(dataset)
    folder = Path(economy)
    if not (folder / "final_demand.csv").is_file():
        raise InvalidOptionError(
            f"--targets final-demand and --available current read the table's "
            f"final_demand.csv and products.csv, but {str(economy)!r} is not a folder "
            "holding final_demand.csv; use --dataset NAME or give the targets "
            "(--targets FILE) and resources (--resources FILE) as files")
    return load_table(folder)


def _files(*values) -> list:
    """The options that may be a number or a file: those that name an existing file."""
    return [Path(v) for v in values if v is not None and not _number(v) and Path(v).exists()]


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _yearly(path, key: str, value: str, years: int):
    """A CSV [year,]key,value as {year: {key: value}} (the same every year without a year
    column)."""
    from lab.exceptions import InvalidProblemError
    from lab.io._plan_tables import read_keyed_table

    present, table = read_keyed_table(path, (key,), (value,), optional_keys=("year",))
    out: dict[int, dict[str, float]] = {y: {} for y in range(1, years + 1)}
    for k, v in table[value].items():
        if present[0] == "year":
            year = _number(k[0])
            if year is None or year != int(year) or not 1 <= year <= years:
                raise InvalidProblemError(f"{path}: year {k[0]!r} is not one of 1 … {years}")
            out[int(year)][k[1]] = v
        else:
            for y in out:
                out[y][k[0]] = v
    return out


def _run_multiyear(econ, years, targets_file, resources_file, capital_file, depreciation,
                   initial_file, terminal, year_weights, weighting, method, say, t0, options,
                   out, top, as_json, quiet):

    from lab.exceptions import InvalidProblemError
    from lab.io._plan_tables import (
        read_code_matrix,
        read_depreciation,
        read_keyed_table,
        write_multiyear_plan,
    )
    from lab.planning import MultiYearProblem
    from lab.planning import plan as solve

    codes = [str(c) for c in econ.codes]
    targets = {y: v for y, v in _yearly(targets_file, "code", "target", years).items() if v}
    present, table = read_keyed_table(targets_file, ("code",), (), ("weight",),
                                      optional_keys=("year",))
    weights = weighting
    if table["weight"]:
        weights = {}
        for k, w in table["weight"].items():
            code = k[-1]
            if weights.setdefault(code, w) != w:
                raise InvalidProblemError(f"{targets_file}: {code!r} has different weights in "
                                          "different years (weights are per product; use "
                                          "--year-weights for the years)")
    available = None
    if resources_file:
        per_year = _yearly(resources_file, "resource", "available", years)
        names = {n for v in per_year.values() for n in v}
        available = {n: [per_year[y].get(n, float("inf")) for y in range(1, years + 1)]
                     for n in names}
    capital = read_code_matrix(capital_file, "coefficient", codes) if capital_file else None
    rate = _number(depreciation)
    if rate is None:
        rate = read_depreciation(depreciation, codes)
    initial = read_code_matrix(initial_file, "stock", codes) if initial_file else None
    term = None
    if terminal is not None:
        term = _number(terminal)
        if term is None:
            term = read_code_matrix(terminal, "stock", codes)
    betas = None
    if year_weights is not None:
        betas = [_number(b) for b in year_weights.split(",")]
        if any(b is None for b in betas):
            raise InvalidProblemError(f"--year-weights must be numbers separated by commas, "
                                      f"got {year_weights!r}")
    problem = MultiYearProblem(econ, years=years, targets=targets, available=available,
                               capital=capital, depreciation=rate, initial_stocks=initial,
                               terminal_stocks=term, weights=weights, year_weights=betas)
    t_read = time.perf_counter() - t0
    say(f"planning {years} years of {problem.n_products} products, "
        f"{int((problem.targets > 0).sum())} targets, {problem.capital.nnz} capital entries, "
        f"method {method} ...")
    progress = Progress("plan", enabled=not (quiet or as_json))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = solve(problem, method=method, callback=progress.chain(None), **options)
    progress.close()
    for w in caught:
        click.echo(f"lab: warning: {w.message}", err=True)
    if out is not None and result.status.name not in ("INFEASIBLE", "UNBOUNDED"):
        write_multiyear_plan(result, out)
        from lab.cli._report import write_evidence_for  # beside it: lab report reads it

        write_evidence_for(out, result, loaded=econ, files={
            "targets": targets_file, "resources": resources_file, "capital": capital_file,
            "initial stocks": initial_file, "depreciation": depreciation,
            "terminal stocks": terminal})
    has = problem.targets > 0
    labels = [f"{codes[i]}@{y + 1}" for y, i in np.argwhere(has)]
    info = {"method": result.method, "method_reason": result.method_reason,
            "status": result.status.name, "converged": result.converged,
            "message": result.message, "objective": result.objective,
            "bound": result.bound, "relative_gap": result.relative_gap,
            "harmony": result.harmony, "phi": [float(f) for f in result.phi],
            "infeasibility": result.infeasibility, "iterations": result.iterations,
            "timings": dict(result.timings), "years": years,
            "products": problem.n_products, "read_seconds": t_read,
            "out": str(out) if out else None,
            **_targets_summary(labels, result.fulfilment[has], top)}
    if as_json:
        click.echo(json.dumps(info))
    else:
        click.echo(result.message)
        click.echo(f"method {result.method} ({result.method_reason})")
        click.echo(f"harmony {result.harmony:.10g}, smallest fulfilment by year "
                   f"{', '.join(f'{f:.6g}' for f in result.phi)}, relative gap "
                   f"{result.relative_gap:.2e}, {result.timings['total']:.3f} s")
        _echo_targets(info)
        if out is not None and result.status.name not in ("INFEASIBLE", "UNBOUNDED"):
            click.echo(f"plan written to {out} (investment and stocks: "
                       f"{out.with_name(out.stem + '.capital' + out.suffix)})")
    if not result.converged:
        raise SystemExit(1)


@click.command()
@click.argument("economy", type=click.Path(path_type=Path), required=False)
@click.option("--dataset", default=None, metavar="NAME",
              help="Plan for a table shipped with lab instead of ECONOMY (see `lab datasets`).")
@click.option("--targets", "targets_file", required=True, metavar="FILE|final-demand",
              help="CSV with columns code,target[,weight]; or 'final-demand': the table's "
                   "final demand (products with final demand > 0; with --dataset, or a "
                   "folder holding final_demand.csv).")
@click.option("--scale", type=float, default=None, metavar="FACTOR",
              help="Multiply every target by FACTOR > 0 (e.g. 1.1 for 10% more).")
@click.option("--resources", "resources_file", type=click.Path(path_type=Path), default=None,
              help="CSV with columns resource,available (unlisted resources are not limited).")
@click.option("--available", default=None, metavar="current|FILE",
              help="'current': every resource limited to the table's total (what its column "
                   "of products.csv sums to); or a CSV like --resources.")
@click.option("--capacities", "capacities_file", type=click.Path(path_type=Path),
              default=None, help="CSV with columns code,capacity.")
@click.option("--stocks", "stocks_file", type=click.Path(path_type=Path), default=None,
              help="CSV with columns code,stock (initial stocks).")
@click.option("--method", type=click.Choice(("auto", "harmony", "plan-ray", "plan-ray-sum",
                                            "cockshott")),
              default="auto", show_default=True,
              help="plan-ray-sum (Σ of yearly rates) is for multi-year plans (--years).")
@click.option("--weights", "weighting", type=click.Choice(("value", "uniform")),
              default="value", show_default=True,
              help="Harmony weights when the targets file has no weight column: 'value' "
                   "(w ∝ labour cost of the target: balanced) or 'uniform' (Σ H(s)).")
@click.option("--years", type=click.IntRange(min=1), default=None,
              help="Plan this many years with investment and capital stocks; --targets may "
                   "then have a year column (year,code,target; else the same every year), "
                   "--resources too (year,resource,available).")
@click.option("--capital", "capital_file", type=click.Path(path_type=Path), default=None,
              help="With --years: CSV good,industry,coefficient (units of good in the "
                   "industry's stock per unit of its yearly output).")
@click.option("--depreciation", default="0", show_default=True, metavar="RATE|FILE",
              help="With --years: one yearly rate, or CSV good,depreciation (per capital "
                   "good) or good,industry,depreciation.")
@click.option("--initial-stocks", "initial_file", type=click.Path(path_type=Path),
              default=None, help="With --years: CSV good,industry,stock (capital at the start).")
@click.option("--terminal-stocks", "terminal", default=None, metavar="FRACTION|FILE",
              help="With --years: stocks to leave after the last year, as a fraction of the "
                   "initial stocks or CSV good,industry,stock.")
@click.option("--year-weights", default=None, metavar="B1,B2,...",
              help="With --years: weight of each year's harmony (default 1 each).")
@click.option("--gap", type=float, default=1e-6, show_default=True,
              help="Relative duality gap that certifies a plan.")
@click.option("--maxiter", type=click.IntRange(min=1), default=None)
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds; the best certified plan so far is returned.")
@click.option("--backend", type=click.Choice(("auto", "cython", "numba")), default="auto",
              show_default=True)
@click.option("--threads", "n_threads", type=click.IntRange(min=1), default=None)
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the plan to this .csv or .parquet file (atomically).")
@click.option("--top", type=click.IntRange(min=0), default=5, show_default=True,
              help="How many of the highest shadow prices to print.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@click.option("--quiet", is_flag=True, help="No progress output.")
def plan(economy, dataset, targets_file, scale, resources_file, available, capacities_file,
         stocks_file, method, weighting, years, capital_file, depreciation, initial_file,
         terminal, year_weights, gap, maxiter, time_limit, backend, n_threads, out, top,
         as_json, quiet):
    """Compute a harmony-balanced plan for ECONOMY (any format `lab values` reads).

    Without input files: `lab plan --dataset uk-2010 --targets final-demand --scale 1.1
    --available current` plans 10% more of every product's final demand with today's
    resources.

    With --years N, a plan over N years in which investment builds the capital
    stocks of later years (MATH.md §4): --capital, --depreciation, --initial-stocks,
    --terminal-stocks describe the stocks.
    """
    if (economy is None) == (dataset is None):
        fail("give exactly one of ECONOMY or --dataset NAME")
    if out is not None and out.suffix.lower() not in (".csv", ".parquet"):
        fail(f"--out must end in .csv or .parquet, got {str(out)!r}")
    multi = dict(capital=capital_file, initial_stocks=initial_file, terminal_stocks=terminal,
                 year_weights=year_weights)
    if years is None:
        given = [f"--{k.replace('_', '-')}" for k, v in multi.items() if v is not None]
        if depreciation != "0":
            given.append("--depreciation")
        if given or method == "plan-ray-sum":
            fail(f"{', '.join(given) or '--method plan-ray-sum'} needs --years")
    elif capacities_file is not None or stocks_file is not None or method == "cockshott":
        fail("--capacities, --stocks and --method cockshott plan one year; with --years use "
             "--capital and --initial-stocks")
    from_table = targets_file == _FINAL_DEMAND
    if available is not None:
        if resources_file is not None:
            fail("give either --resources FILE or --available, not both")
        if available != _CURRENT:
            resources_file, available = Path(available), None
    if scale is not None and not (0 < scale < float("inf")):
        fail(f"--scale must be a finite number > 0, got {scale!r}")
    if years is not None and (from_table or available is not None or scale is not None):
        fail("--targets final-demand, --available current and --scale plan one year; with "
             "--years give the yearly targets and resources as files")
    if not from_table:
        targets_file = Path(targets_file)

    def run():
        from lab.io import read_economy
        from lab.io._plan_tables import products_path, read_table, write_plan
        from lab.planning import PlanningProblem
        from lab.planning import plan as solve

        table_files = []
        if (from_table or available is not None) and dataset is None:
            table_files = [Path(economy) / "final_demand.csv"]
        if out is not None:  # outputs never replace inputs (issue 11)
            from lab.io._plan_tables import capital_path

            refuse_overwriting([out, products_path(out), capital_path(out)], economy=economy,
                               dataset=dataset,
                               files=[None if from_table else targets_file, resources_file,
                                      capacities_file, stocks_file, capital_file,
                                      initial_file, *table_files,
                                      *_files(depreciation, terminal)])

        say = (lambda text: None) if (quiet or as_json) else (lambda t: click.echo(t, err=True))
        t0 = time.perf_counter()
        table = None
        if from_table or available is not None:
            table = _table(economy, dataset)
            econ = table.economy
        elif dataset is not None:
            from lab.datasets import load

            econ = load(dataset)
        else:
            econ = read_economy(economy)
        if years is not None:
            return _run_multiyear(econ, years, targets_file, resources_file, capital_file,
                                  depreciation, initial_file, terminal, year_weights,
                                  weighting, method, say, t0,
                                  dict(gap=gap, maxiter=maxiter, backend=backend,
                                       n_threads=n_threads, time_limit=time_limit),
                                  out, top, as_json, quiet)
        if from_table:
            targets, weights = table.targets(scale=scale or 1.0), weighting
        else:
            given = read_table(targets_file, "code", ("target",), ("weight",))
            targets = {c: (scale or 1.0) * t for c, t in given["target"].items()}
            weights = given["weight"] or weighting
        if available is not None:
            limits = table.resource_totals
        else:
            limits = (read_table(resources_file, "resource", ("available",))["available"]
                      if resources_file else None)
        capacities = (read_table(capacities_file, "code", ("capacity",))["capacity"]
                      if capacities_file else None)
        stocks = read_table(stocks_file, "code", ("stock",))["stock"] if stocks_file else None
        problem = PlanningProblem(econ, targets, weights=weights, available=limits,
                                  capacities=capacities, initial_stocks=stocks)
        t_read = time.perf_counter() - t0
        say(f"planning {problem.n_products} products, {len(problem.target_codes)} targets, "
            f"method {method} ...")
        progress = Progress("plan", enabled=not (quiet or as_json))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = solve(problem, method=method, gap=gap, maxiter=maxiter,
                           backend=backend, n_threads=n_threads, time_limit=time_limit,
                           callback=progress.chain(None))
        progress.close()
        for w in caught:
            click.echo(f"lab: warning: {w.message}", err=True)
        if out is not None:
            write_plan(result, out)
            from lab.cli._report import write_evidence_for  # beside it: lab report reads it

            write_evidence_for(out, result, economy=economy, dataset=dataset,
                               files={"targets": None if from_table else targets_file,
                                      "resources": resources_file,
                                      "capacities": capacities_file, "stocks": stocks_file,
                                      "final demand": table_files[0] if table_files else None})
        info = _summary(result, top)
        info.update(products=problem.n_products, techniques=problem.n_techniques,
                    read_seconds=t_read, out=str(out) if out else None,
                    **_targets_summary(result.target_codes, result.fulfilment, top))
        if as_json:
            click.echo(json.dumps(info))
        else:
            click.echo(f"{result.message}")
            click.echo(f"method {result.method} ({result.method_reason})")
            click.echo(f"harmony {result.harmony:.10g}, minimum fulfilment "
                       f"{result.min_fulfilment:.6g}, relative gap {result.relative_gap:.2e}, "
                       f"infeasibility {result.infeasibility:.1e}, "
                       f"{result.timings['total']:.3f} s")
            _echo_targets(info)
            _echo_resources(info["resources"], top)
            if info["highest_prices"]:
                click.echo("highest shadow prices:")
                for p in info["highest_prices"]:
                    click.echo(f"  {p['product']:<20} {p['price']:.6g}")
            if out is not None:
                click.echo(f"plan written to {out}")
        if not (result.converged or result.status.name == "HEURISTIC"):
            raise SystemExit(1)

    run_guarded(run)
