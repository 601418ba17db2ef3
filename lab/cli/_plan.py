"""``lab plan``: a harmony-balanced plan (or the plan ray) of an economy from the command line."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import click

from lab.cli._util import Progress, fail, refuse_overwriting, run_guarded

__all__ = ["plan"]


def _summary(result, top: int) -> dict:
    problem = result.problem
    order = [int(i) for i in result.prices.argsort()[::-1][:top]] if result.prices.size else []
    lim = [q for q in range(problem.n_resources) if problem.available[q] < float("inf")]
    binding = sorted(lim, key=lambda q: -result.resource_use[q] / max(problem.available[q],
                                                                       1e-300))
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
                       "price": float(result.resource_prices[q])} for q in binding],
        "highest_prices": [{"product": str(problem.product_codes[i]),
                            "price": float(result.prices[i])} for i in order],
    }


@click.command()
@click.argument("economy", type=click.Path(path_type=Path), required=False)
@click.option("--dataset", default=None, metavar="NAME",
              help="Plan for a table shipped with lab instead of ECONOMY (see `lab datasets`).")
@click.option("--targets", "targets_file", type=click.Path(path_type=Path), required=True,
              help="CSV with columns code,target[,weight].")
@click.option("--resources", "resources_file", type=click.Path(path_type=Path), default=None,
              help="CSV with columns resource,available (unlisted resources are not limited).")
@click.option("--capacities", "capacities_file", type=click.Path(path_type=Path),
              default=None, help="CSV with columns code,capacity.")
@click.option("--stocks", "stocks_file", type=click.Path(path_type=Path), default=None,
              help="CSV with columns code,stock (initial stocks).")
@click.option("--method", type=click.Choice(("auto", "harmony", "plan-ray", "cockshott")),
              default="auto", show_default=True)
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
def plan(economy, dataset, targets_file, resources_file, capacities_file, stocks_file, method,
         gap, maxiter, time_limit, backend, n_threads, out, top, as_json, quiet):
    """Compute a harmony-balanced plan for ECONOMY (any format `lab values` reads)."""
    if (economy is None) == (dataset is None):
        fail("give exactly one of ECONOMY or --dataset NAME")
    if out is not None and out.suffix.lower() not in (".csv", ".parquet"):
        fail(f"--out must end in .csv or .parquet, got {str(out)!r}")

    def run():
        from lab.io import read_economy
        from lab.io._plan_tables import products_path, read_table, write_plan
        from lab.planning import PlanningProblem
        from lab.planning import plan as solve

        if out is not None:  # outputs never replace inputs (issue 11)
            refuse_overwriting([out, products_path(out)], economy=economy, dataset=dataset,
                               files=[targets_file, resources_file, capacities_file,
                                      stocks_file])

        say = (lambda text: None) if (quiet or as_json) else (lambda t: click.echo(t, err=True))
        t0 = time.perf_counter()
        if dataset is not None:
            from lab.datasets import load

            econ = load(dataset)
        else:
            econ = read_economy(economy)
        table = read_table(targets_file, "code", ("target",), ("weight",))
        weights = table["weight"] or None
        available = (read_table(resources_file, "resource", ("available",))["available"]
                     if resources_file else None)
        capacities = (read_table(capacities_file, "code", ("capacity",))["capacity"]
                      if capacities_file else None)
        stocks = read_table(stocks_file, "code", ("stock",))["stock"] if stocks_file else None
        problem = PlanningProblem(econ, table["target"], weights=weights, available=available,
                                  capacities=capacities, initial_stocks=stocks)
        t_read = time.perf_counter() - t0
        say(f"planning {problem.n_products} products, {len(problem.target_codes)} targets, "
            f"method {method} ...")
        progress = Progress("plan", enabled=not (quiet or as_json))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = solve(problem, method=method, gap=gap, maxiter=maxiter,
                           backend=backend, n_threads=n_threads, time_limit=time_limit,
                           callback=lambda k, r: progress(k, r))
        progress.close()
        for w in caught:
            click.echo(f"lab: warning: {w.message}", err=True)
        if out is not None:
            write_plan(result, out)
            from lab.cli._report import write_evidence_for  # beside it: lab report reads it

            write_evidence_for(out, result, economy=economy, dataset=dataset,
                               files={"targets": targets_file, "resources": resources_file,
                                      "capacities": capacities_file, "stocks": stocks_file})
        info = _summary(result, top)
        info.update(products=problem.n_products, techniques=problem.n_techniques,
                    read_seconds=t_read, out=str(out) if out else None)
        if as_json:
            click.echo(json.dumps(info))
        else:
            click.echo(f"{result.message}")
            click.echo(f"method {result.method} ({result.method_reason})")
            click.echo(f"harmony {result.harmony:.10g}, minimum fulfilment "
                       f"{result.min_fulfilment:.6g}, relative gap {result.relative_gap:.2e}, "
                       f"infeasibility {result.infeasibility:.1e}, "
                       f"{result.timings['total']:.3f} s")
            if info["resources"]:
                click.echo("most binding resources:")
                for r in info["resources"][:top or None]:
                    click.echo(f"  {r['resource']:<20} use {r['use']:.6g} of "
                               f"{r['available']:.6g}, shadow price {r['price']:.6g}")
            if info["highest_prices"]:
                click.echo("highest shadow prices:")
                for p in info["highest_prices"]:
                    click.echo(f"  {p['product']:<20} {p['price']:.6g}")
            if out is not None:
                click.echo(f"plan written to {out}")
        if not (result.converged or result.status.name == "HEURISTIC"):
            raise SystemExit(1)

    run_guarded(run)
