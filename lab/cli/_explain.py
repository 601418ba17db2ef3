"""``lab explain``: the supply chains a product's value comes from (structural path analysis)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import click

from lab.cli._util import fail, run_guarded

__all__ = ["explain"]


@click.command()
@click.argument("items", nargs=-1, metavar="[ECONOMY] CODE")
@click.option("--dataset", default=None, metavar="NAME",
              help="Explain a product of a table shipped with lab instead of ECONOMY "
                   "(see `lab datasets`).")
@click.option("--resource", default="labour", show_default=True,
              help="Resource name or row number; 'labour' is row 0 unless a row is named so.")
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many paths to list.")
@click.option("--max-nodes", type=click.IntRange(min=1), default=5_000_000, show_default=True,
              help="Most paths held in memory (32 bytes each).")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable result.")
def explain(items, dataset, resource, top, max_nodes, as_json):
    """List the supply chains that contribute most to the value of product CODE.

    ECONOMY is any file or folder `lab values` reads; with --dataset NAME give CODE only.
    """
    if dataset is None and len(items) != 2:
        fail("give ECONOMY and CODE (or --dataset NAME and CODE)")
    if dataset is not None and len(items) != 1:
        fail("with --dataset NAME give only CODE")
    code = items[-1]
    resource = int(resource) if resource.lstrip("-").isdigit() else resource

    def run():
        from lab.analysis import explain as explain_paths

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if dataset is not None:
                from lab.datasets import load

                economy = load(dataset)
            else:
                from lab.io import read_economy

                economy = read_economy(Path(items[0]))
            paths = explain_paths(economy, code, resource=resource, top=top,
                                  max_nodes=max_nodes)
        for w in caught:
            click.echo(f"lab: warning: {w.message}", err=True)
        info = {key: (value.item() if hasattr(value, "item") else value)
                for key, value in paths.attrs.items()}
        info["paths"] = [{"path": list(row.path), "contribution": float(row.contribution),
                          "share": float(row.share)} for row in paths.itertuples()]
        if as_json:
            click.echo(json.dumps(info))
            return
        a = paths.attrs
        click.echo(f"{a['product']}: {a['resource']} value {a['value']:.6g}; the top "
                   f"{len(paths)} paths explain {_percent(a['explained'], a['value'])}")
        if len(paths):
            click.echo(f"{'rank':>4}  {'contribution':>12}  {'share':>7}  path "
                       "(product ← its input ← ...)")
            for rank, row in zip(paths.index, paths.itertuples(), strict=True):
                click.echo(f"{rank:>4}  {row.contribution:>12.6g}  "
                           f"{_percent(row.contribution, a['value']):>7}  "
                           + " ← ".join(row.path))
        click.echo(f"remainder {a['remainder']:.6g} ({_percent(a['remainder'], a['value'])}): "
                   f"{a['unlisted']:.3g} on paths found but not listed, {a['unexplored']:.3g} "
                   f"on paths not visited")
        verdict = ("these are the exact top paths" if a["certified"] else
                   "NOT certified: the search was cut by --max-nodes")
        click.echo(f"no path not listed contributes more than {a['bound_pruned']:.3g}: "
                   f"{verdict} ({a['nodes']} paths expanded, {a['seconds']:.3f} s)")

    run_guarded(run)


def _percent(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f} %" if whole > 0 else "-"
