"""``lab report``: one self-contained HTML page of a plan, a set of values or a batch job;
and the evidence sidecar that ``lab plan`` and ``lab values`` write beside their results."""

from __future__ import annotations

import os
from pathlib import Path

import click

from lab.cli._util import fail, refuse_overwriting, run_guarded

__all__ = ["report", "write_evidence_for"]

#: Options that change only what is printed, not the result: left out of the command.
_OUTPUT_ONLY = ("as_json", "quiet", "top")


def command_argv(ctx: click.Context) -> list[str]:
    """The command line that reproduces this invocation: ``lab``, the command, its
    arguments, then every option whose value differs from its default."""
    argv = ["lab", ctx.info_name or ""]
    params = ctx.command.params
    for param in params:
        value = ctx.params.get(param.name)
        if isinstance(param, click.Argument) and value is not None:
            argv += [str(v) for v in value] if isinstance(value, tuple) else [str(value)]
    for param in params:
        if not isinstance(param, click.Option) or param.name in _OUTPUT_ONLY:
            continue
        value = ctx.params.get(param.name)
        if value is None or value == param.default or value is False:
            continue
        opt = max(param.opts, key=len)
        argv += [opt] if param.is_flag else [opt, str(value)]
    return argv


def _number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def write_evidence_for(out, result, *, economy=None, dataset=None, labour=None, negative=None,
                       files=None, loaded=None) -> Path:
    """Write ``<out>.evidence.json`` for a result ``lab plan`` or ``lab values`` has just
    written to ``out``: the command, the inputs' sha256 and how to load the economy
    (``economy`` the path given, ``loaded`` the Economy read, whose digest is recorded)."""
    from lab.report import write_evidence
    from lab.report._evidence import input_files

    out = Path(out)
    base = out.parent
    ctx = click.get_current_context(silent=True)
    if economy is None and dataset is None and ctx is not None:  # the command's own
        economy, dataset = ctx.params.get("economy"), ctx.params.get("dataset")
    inputs = []
    source = {}
    if dataset is not None:
        from lab.datasets import dataset_files

        inputs += input_files("economy", dataset_files(dataset), dataset=dataset)
        source["dataset"] = dataset
    elif economy is not None:
        from lab.io._formats import input_files as economy_files

        listed = economy_files(economy)
        listed += [p.with_name(p.name + ".gz") for p in listed]
        inputs += input_files("economy", listed, base=base)
        source["path"] = os.path.relpath(Path(economy).resolve(), base.resolve())
    if labour is not None:
        source["labour"] = labour
    if negative is not None:
        source["negative"] = negative
    for role, path in (files or {}).items():
        if path is not None and not _number(path):  # --depreciation 0.1 is no file
            inputs += input_files(role, [path], base=base)
    argv = command_argv(ctx) if ctx is not None else None
    return write_evidence(out, result, inputs=inputs, argv=argv, economy=loaded,
                          economy_source=source or None)


@click.command()
@click.argument("result", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="The .html file to write (atomically).")
@click.option("--economy", "economy", type=click.Path(path_type=Path), default=None,
              help="The economy of the result, for labour values and supply chains "
                   "(default: the one its evidence or batch manifest names).")
@click.option("--dataset", default=None, metavar="NAME",
              help="The economy is a table shipped with lab (see `lab datasets`).")
@click.option("--labour", default=None, help="With --economy or --dataset: the labour column.")
@click.option("--chains", type=click.IntRange(min=0), default=None,
              help="Supply chains of at most this many products (0: none) "
                   "[default: 200; 20 above 10^5 products].")
@click.option("--title", default=None, help="The report's title.")
def report(result, out, economy, dataset, labour, chains, title):
    """Write a self-contained HTML report of RESULT.

    RESULT is the output of `lab plan` (with --years too) or `lab values` (a .csv or
    .parquet file, with the .evidence.json file they write beside it) or a batch job
    folder (OUT/jobs/NAME). The page opens offline in any browser.
    """
    if economy is not None and dataset is not None:
        fail("give at most one of --economy and --dataset")
    if out.suffix.lower() not in (".html", ".htm"):
        fail(f"--out must end in .html, got {str(out)!r}")

    def run():
        from lab.report import evidence_path, report_file

        inputs = [result, evidence_path(result)] if result.is_file() else [
            result / "record.json"]
        refuse_overwriting([out], economy=economy, dataset=dataset, files=inputs)
        source = None
        if dataset is not None:
            source = {"dataset": dataset, **({"labour": labour} if labour else {})}
        elif economy is not None:
            source = {"path": str(economy), **({"labour": labour} if labour else {})}
        path = report_file(result, out, economy_source=source, chains=chains, title=title)
        click.echo(f"report written to {path} ({path.stat().st_size:,} bytes)")

    run_guarded(run)
