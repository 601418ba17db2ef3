"""The ``lab`` command line: generate economies, compute labour values, run the demo.

User mistakes end with one line on stderr and exit status 2 (bad usage or
input) or 1 (the computation failed); never a traceback.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import click

from lab.cli._util import Progress as _Progress
from lab.cli._util import fail as _fail
from lab.cli._util import not_finite, refuse_overwriting
from lab.cli._util import run_guarded as _run_guarded

__all__ = ["main"]

_METHODS = ("auto", "jacobi", "gauss-seidel", "krylov", "blocks")


def _summary(result, seconds: float) -> dict:
    return {
        "method": result.method, "method_reason": result.method_reason,
        "backend": result.backend, "n_threads": result.n_threads,
        "converged": result.converged, "status": result.status.name,
        "iterations": result.iterations, "residual": result.residual, "rtol": result.rtol,
        "matvecs": result.matvecs, "seconds": seconds,
        "timings": dict(result.timings), "resources": list(result.resource_names),
        "productivity": result.productivity, "message": result.message,
    }


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lab")
def cli():
    """lab: labour values and harmony-balanced plans for large economies."""


@cli.command()
@click.argument("n_products", type=click.IntRange(min=1))
@click.option("-o", "--out", "out", type=click.Path(path_type=Path), required=True,
              help="Output: .npz, .mtx, .csv (dense matrix, small economies) or a folder "
                   "(products.csv + flows.csv; .parquet for Parquet). Written atomically.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--spectral-radius", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.9, show_default=True)
@click.option("--mean-inputs", type=click.FloatRange(1), default=12.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
def generate(n_products, out, seed, spectral_radius, mean_inputs, as_json):
    """Generate a synthetic economy of N_PRODUCTS products."""
    from lab.generate import generate_economy
    from lab.io import write_economy

    def run():
        if not as_json:
            click.echo(f"generating {n_products} products (seed {seed}) ...", err=True)
        t0 = time.perf_counter()
        economy = generate_economy(n_products, seed=seed, spectral_radius=spectral_radius,
                                   mean_inputs=mean_inputs)
        t1 = time.perf_counter()
        write_economy(economy, out)
        info = {"products": economy.n_products, "nnz": economy.nnz,
                "resources": list(economy.resource_names), "out": str(out),
                "generate_seconds": t1 - t0, "write_seconds": time.perf_counter() - t1}
        if as_json:
            click.echo(json.dumps(info))
        else:
            click.echo(f"{economy.n_products} products, {economy.nnz} non-zeros, "
                       f"generated in {t1 - t0:.2f} s, written to {out}")

    _run_guarded(run)


@cli.command()
@click.argument("economy", type=click.Path(path_type=Path), required=False)
@click.option("--method", type=click.Choice(_METHODS), default="auto", show_default=True)
@click.option("--rtol", type=float, default=1e-10, show_default=True)
@click.option("--maxiter", type=click.IntRange(min=1), default=None)
@click.option("--backend", type=click.Choice(("auto", "cython", "numba")), default="auto",
              show_default=True)
@click.option("--threads", "n_threads", type=click.IntRange(min=1), default=None)
@click.option("--resources", default=None,
              help="'all' for every resource row, or a resource name; default labour.")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path,
                                                   allow_dash=True),
              default=None, help="Write code[,name],value to this .csv or .parquet file; "
                                 "'-' writes the CSV to stdout (messages go to stderr).")
@click.option("--top", type=click.IntRange(min=0), default=10, show_default=True,
              help="List the products with the highest values (0: none).")
@click.option("--labour", default=None,
              help="CSV folders: the labour column used as resource row 0 "
                   "(hours_worked, employment, compensation).")
@click.option("--negative", type=click.Choice(("error", "clip")), default=None,
              help="CSV folders and datasets: negative flows are an error or set to 0 "
                   "[default: error; for --dataset, the table's default]")
@click.option("--dataset", default=None, metavar="NAME",
              help="Solve a table shipped with lab instead of ECONOMY (see `lab datasets`).")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@click.option("--quiet", is_flag=True, help="No progress output.")
def values(economy, method, rtol, maxiter, backend, n_threads, resources, out, top, labour,
           negative, dataset, as_json, quiet):
    """Compute labour values of ECONOMY (a CSV folder or an .npz file) or of --dataset NAME."""
    to_stdout = out is not None and str(out) == "-"
    if to_stdout and as_json:
        _fail("-o - and --json both write to stdout: give one of them")
    echo = (lambda text: click.echo(text, err=True)) if to_stdout else click.echo
    if economy is not None and dataset is not None:
        _fail(f"give either ECONOMY or --dataset, not both (got {str(economy)!r} and "
              f"--dataset {dataset!r})")
    if economy is None and dataset is None:
        _fail("missing ECONOMY: give a folder with products.csv and flows.csv, or an .npz file")
    from lab.io import read_economy, write_values
    from lab.io._formats import check_values_path
    from lab.values import labour_values

    def read():
        if dataset is not None:
            from lab.datasets import load

            return load(dataset, labour=labour, negative=negative)
        return read_economy(economy, labour=labour, negative=negative or "error")

    def run():
        if out is not None and not to_stdout:
            check_values_path(out)
            refuse_overwriting([out], economy=economy, dataset=dataset)
        t0 = time.perf_counter()
        if not quiet and not as_json:
            click.echo(f"reading {economy if dataset is None else 'dataset ' + dataset} ...",
                       err=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            econ = read()
            t_read = time.perf_counter() - t0
            progress = _Progress("values", enabled=not quiet and not as_json)
            if not quiet and not as_json:
                click.echo(f"solving {econ.n_products} products ({econ.nnz} non-zeros) with "
                           f"method {method} ...", err=True)
            t1 = time.perf_counter()
            result = labour_values(econ, method=method, rtol=rtol, maxiter=maxiter,
                                   backend=backend, n_threads=n_threads, resources=resources,
                                   callback=progress)
            seconds = time.perf_counter() - t1
        progress.close()
        for w in caught:
            click.echo(f"lab: warning: {w.message}", err=True)
        bad = not_finite(result.values, result.residual)
        if bad:  # checked here, whatever the solver's status says
            _fail(f"the labour values are not a result: {bad} (overflow?)"
                  + (f"; nothing written to {out}" if out is not None else ""), 1)
        if to_stdout and result.converged:
            _values_to_stdout(result, econ.names)
        elif out is not None and result.converged:
            write_values(result, out, names=econ.names)
            from lab.cli._report import write_evidence_for  # beside it: lab report reads it

            write_evidence_for(out, result, economy=economy, dataset=dataset, labour=labour,
                               negative=negative, loaded=econ)
        info = _summary(result, seconds)
        info.update(products=econ.n_products, nnz=econ.nnz, read_seconds=t_read,
                    out=str(out) if out else None)
        if dataset is not None:
            info["dataset"] = dataset
        if as_json:
            click.echo(json.dumps(info))
        else:
            echo(f"{econ.n_products} products, {econ.nnz} non-zeros (read in "
                 f"{t_read:.2f} s)")
            echo(f"method {result.method} ({result.method_reason})")
            echo(f"{result.message}; {seconds:.3f} s on {result.backend} with "
                 f"{result.n_threads} thread(s)")
            if top and result.converged:
                echo(_top_values(result, econ.names, top))
            if out is not None and result.converged and not to_stdout:
                echo(f"values written to {out}")
        if not result.converged:
            if out is not None:
                _fail(f"the values did not converge; nothing written to {out}", 1)
            sys.exit(1)

    _run_guarded(run)


def _top_values(result, names, top: int) -> str:
    """The ``top`` products with the highest values (of the first resource row): code,
    name (when the economy has names) and every resource row's value, aligned."""
    import numpy as np

    V = result.values if result.values.ndim == 2 else result.values[None, :]
    order = np.argsort(-V[0], kind="stable")[:top]
    codes = [str(result.frame.index[i]) for i in order]
    rows = [[c] for c in codes]
    header = ["code"]
    if names is not None:
        header.append("name")
        for row, i in zip(rows, order, strict=True):
            name = str(names[i])
            row.append(name if len(name) <= 40 else name[:39] + "…")
    widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(header)]
    columns = list(result.resource_names)

    def line(cells, numbers):
        return "  " + "  ".join(f"{c:<{w}}" for c, w in zip(cells, widths, strict=True)) + \
            "".join(f"  {n:>14}" for n in numbers)

    lines = [f"highest {columns[0]} values per unit (top {len(order)} of {V.shape[1]} "
             "products):", line(header, columns)]
    lines += [line(row, [f"{V[q, i]:.6g}" for q in range(V.shape[0])])
              for row, i in zip(rows, order, strict=True)]
    return "\n".join(lines)


def _values_to_stdout(result, names) -> None:
    """The values as ``lab values -o x.csv`` writes them, on stdout (the same writer, so
    the same columns, quoting and number format)."""
    import shutil
    import tempfile

    from lab.io import write_values

    with tempfile.TemporaryDirectory(prefix="lab-values-") as folder:
        path = write_values(result, Path(folder) / "values.csv", names=names)
        stdout = click.get_binary_stream("stdout")
        with open(path, "rb") as fh:
            shutil.copyfileobj(fh, stdout)
        stdout.flush()


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable list.")
def datasets(as_json):
    """List the real input-output tables shipped with lab (`lab values --dataset NAME`)."""
    from lab import datasets as ds

    rows = [ds.info(name) for name in ds.available()]
    if as_json:
        click.echo(json.dumps([
            {"name": d.name, "products": d.products, "nnz": d.nonzeros,
             "labour": list(d.labour), "money_unit": d.money_unit, "year": d.year,
             "source": d.source, "terms": d.terms, "note": d.note} for d in rows]))
        return
    click.echo(f"{'name':<21}{'products':>9}{'non-zeros':>11}  {'labour columns':<40}source")
    for d in rows:
        labour = ", ".join(d.labour) or "none (use --labour none)"
        click.echo(f"{d.name:<21}{d.products:>9}{d.nonzeros:>11}  {labour:<40}{d.source}")


@cli.command()
@click.option("--size", "n_products", type=click.IntRange(min=10), default=1_000_000,
              show_default=True, help="Number of products.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", "n_threads", type=click.IntRange(min=1), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
def demo(n_products, seed, n_threads, as_json):
    """Generate an economy and compare `auto` with the Jacobi baseline."""
    from lab.generate import generate_economy
    from lab.values import ValueSolver, labour_values

    def run():
        say = (lambda *a: None) if as_json else (lambda text: click.echo(text, err=True))
        say(f"generating an economy of {n_products} products (seed {seed}) ...")
        t0 = time.perf_counter()
        economy = generate_economy(n_products, seed=seed)
        t_gen = time.perf_counter() - t0
        say(f"  {economy.nnz} non-zeros in {t_gen:.2f} s")
        rows = {}
        for method in ("auto", "jacobi"):
            say(f"solving with {method} ...")
            progress = _Progress(method, enabled=not as_json)
            t1 = time.perf_counter()
            result = labour_values(economy, method=method, n_threads=n_threads,
                                   callback=progress)
            rows[method] = (result, time.perf_counter() - t1)
            progress.close()
        say("solving again with the structure analysis kept (ValueSolver) ...")
        solver = ValueSolver(economy, n_threads=n_threads)
        solver.solve()  # pays the set-up
        solver.solve()  # and the copy of A in block order that later solves stream
        t1 = time.perf_counter()
        rows["auto, repeated"] = (solver.solve(), time.perf_counter() - t1)
        (auto, t_auto), (jac, t_jac) = rows["auto"], rows["jacobi"]
        warm, t_warm = rows["auto, repeated"]
        diff = float(abs(auto.values - jac.values).max() / abs(jac.values).max())
        if as_json:
            click.echo(json.dumps({
                "products": economy.n_products, "nnz": economy.nnz, "generate_seconds": t_gen,
                "auto": _summary(auto, t_auto), "jacobi": _summary(jac, t_jac),
                "auto_repeated": _summary(warm, t_warm),
                "speedup": t_jac / t_auto, "speedup_repeated": t_jac / t_warm,
                "max_relative_difference": diff}))
            return
        click.echo(f"{economy.n_products} products, {economy.nnz} non-zeros, "
                   f"{economy.n_resources} resources")
        click.echo(f"{'method':<26}{'seconds':>10}{'iterations':>12}{'residual':>12}"
                   f"{'passes':>9}")
        for name, (res, sec) in rows.items():
            label = f"{name} ({res.method})" if name.startswith("auto") else name
            click.echo(f"{label:<26}{sec:>10.3f}{res.iterations:>12}{res.residual:>12.2e}"
                       f"{res.matvecs:>9.1f}")
        click.echo(f"speed-up over the Jacobi baseline: {t_jac / t_auto:.1f}x for a first solve "
                   f"(structure analysis included), {t_jac / t_warm:.1f}x for a repeated solve; "
                   f"largest relative difference of the values: {diff:.1e}")
        click.echo(f"auto chose {auto.method}: {auto.method_reason}")

    _run_guarded(run)


# Commands with modules of their own (each keeps its heavy imports inside the command).
from lab.cli._batch import batch  # noqa: E402

cli.add_command(batch)

from lab.cli._bench import bench  # noqa: E402

cli.add_command(bench)

from lab.cli._plan import plan  # noqa: E402

cli.add_command(plan)

from lab.cli._explain import explain  # noqa: E402

cli.add_command(explain)

from lab.cli._report import report  # noqa: E402

cli.add_command(report)


def main(argv=None):
    """Entry point of the ``lab`` command."""
    try:
        cli.main(args=argv, prog_name="lab", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("lab: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
