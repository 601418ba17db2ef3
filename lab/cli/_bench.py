"""``lab bench``: lab against scipy, pymrio and HiGHS in one command, with a report."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lab.cli._util import fail, run_guarded

__all__ = ["bench"]


def _sizes(text: str | None, what: str):
    """``"1e4,100000"`` -> (10000, 100000); "" or "none" -> () (the suite is skipped)."""
    if text is None:
        return None
    text = text.strip().lower()
    if text in ("", "none", "0"):
        return ()
    try:
        sizes = tuple(int(float(s)) for s in text.replace(" ", "").split(",") if s)
    except ValueError:
        fail(f"{what}: expected comma-separated numbers of products, got {text!r}")
    if any(s < 2 for s in sizes):
        fail(f"{what}: every size must be at least 2, got {text!r}")
    return sizes


@click.command()
@click.option("--quick", "profile", flag_value="quick", default=True,
              help="About a minute: 2·10³ … 10⁶ products, peers up to 10⁵ (default).")
@click.option("--full", "profile", flag_value="full",
              help="About 10–15 minutes: up to 10⁷ products, peers up to 10⁶, every backend, "
                   "peak memory at 10⁷ in a child process.")
@click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("lab-bench"), show_default=True,
              help="Folder for bench.json, bench.md and the PNG plots (written atomically).")
@click.option("--sizes", default=None, metavar="N,N,...",
              help="Products of the labour-value economies (replaces the profile's).")
@click.option("--peer-max", type=click.IntRange(min=2), default=None,
              help="Largest economy for the iterative peers and lab's non-auto methods.")
@click.option("--pymrio-sizes", default=None, metavar="N,...",
              help="Products of the comparison with pymrio ('none' skips it).")
@click.option("--unstructured-sizes", default=None, metavar="N,...",
              help="Products of the economies without structure (12 random inputs per "
                   "product, column sums 0.9; 'none' skips them).")
@click.option("--technique-sizes", default=None, metavar="N,...",
              help="Products of the technique-choice economies ('none' skips them).")
@click.option("--plan-sizes", default=None, metavar="N,...",
              help="Products of the planning problems ('none' skips them).")
@click.option("--kernel-size", type=click.IntRange(min=2), default=None,
              help="Products of the economy the SpMV kernels run on.")
@click.option("--huge-size", default=None, metavar="N",
              help="Peak memory of one solve at N products in a child process ('none' skips).")
@click.option("--repeat", type=click.IntRange(min=1), default=None,
              help="Timed calls per workload (medians are reported).")
@click.option("--threads", default=None, metavar="T,T,...",
              help="Thread counts measured (default: 1 and the usable cores).")
@click.option("--no-busy", is_flag=True,
              help="Skip the thread measurements beside a busy process.")
@click.option("--cold-start-runs", type=click.IntRange(min=0), default=None,
              help="Fresh `lab values` processes for the cold-start time (0 skips; else >= 2).")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the summary as JSON instead of the table.")
@click.option("--quiet", is_flag=True, help="No progress lines.")
def bench(profile, out, sizes, peer_max, pymrio_sizes, unstructured_sizes, technique_sizes,
          plan_sizes, kernel_size, huge_size, repeat, threads, no_busy, cold_start_runs,
          no_plots, as_json, quiet):
    """Benchmark lab against scipy, pymrio and HiGHS; write JSON, Markdown and PNG files.

    Prints, for each workload, lab's median, the peer's median and their ratio,
    with residuals and peak memory; then the SpMV throughput beside the
    streaming bandwidth measured in the same run, lab's solves against the
    bandwidth floor (matrix passes × bytes per pass ÷ that bandwidth), every
    method at 1 and 2 threads quiet and beside a busy process, the real-time
    update, the scaling exponent, the cold-start time and (--full) the cold
    solve and peak memory at 10⁷ products.
    """
    from lab.bench._suite import BenchConfig, format_table, run_bench, write_report

    overrides = {}
    for key, value, what in (("values_sizes", sizes, "--sizes"),
                             ("pymrio_sizes", pymrio_sizes, "--pymrio-sizes"),
                             ("unstructured_sizes", unstructured_sizes,
                              "--unstructured-sizes"),
                             ("technique_sizes", technique_sizes, "--technique-sizes"),
                             ("plan_sizes", plan_sizes, "--plan-sizes")):
        parsed = _sizes(value, what)
        if parsed is not None:
            overrides[key] = parsed
    if "values_sizes" in overrides and not overrides["values_sizes"]:
        fail("--sizes: at least one size is needed")
    if huge_size is not None:
        parsed = _sizes(huge_size, "--huge-size")
        if parsed is not None and len(parsed) > 1:
            fail(f"--huge-size: expected one number of products, got {huge_size!r}")
        overrides["huge_size"] = parsed[0] if parsed else None
    if threads is not None:
        try:
            counts = tuple(int(t) for t in threads.split(",") if t.strip())
        except ValueError:
            fail(f"--threads: expected comma-separated positive integers, got {threads!r}")
        if not counts or min(counts) < 1:
            fail(f"--threads: expected comma-separated positive integers, got {threads!r}")
        overrides["threads"] = counts
    for key, value in (("peer_max", peer_max), ("kernel_size", kernel_size),
                       ("repeat", repeat), ("cold_start_runs", cold_start_runs)):
        if value is not None:
            overrides[key] = value
    if no_plots:
        overrides["plots"] = False
    if no_busy:
        overrides["threads_busy"] = False
    if overrides.get("cold_start_runs") == 1:
        fail("--cold-start-runs: 0 skips the measurement; otherwise at least 2 runs are "
             "needed (the first one fills the caches)")

    def log(msg):
        if not quiet:
            click.echo(msg, err=True)

    def run():
        config = BenchConfig.profile(profile, **overrides)
        if config.plots:
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                fail("the plots need matplotlib: pip install 'lab[bench]', or pass --no-plots")
        report = run_bench(config, log=log)
        paths = write_report(report, out, plots=config.plots)
        if as_json:
            click.echo(json.dumps({"summary": report["summary"],
                                   "files": {k: [str(p) for p in v] if isinstance(v, list)
                                             else str(v) for k, v in paths.items()}},
                                  default=str))
            return
        click.echo(format_table(report))
        click.echo("")
        click.echo(f"report: {paths['markdown']}  raw numbers: {paths['json']}"
                   + (f"  plots: {', '.join(p.name for p in paths['plots'])}"
                      if paths["plots"] else ""))

    run_guarded(run)
