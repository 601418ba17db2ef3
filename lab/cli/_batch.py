"""``lab batch``: run a TOML job file of scenario solves (see :mod:`lab.batch`).

Exit status 0 when every job is done, 1 when some failed (each failure is in
its record), 2 for a malformed job file or bad usage, 130 after Ctrl-C.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import click

from lab.cli._util import Progress, fail, run_guarded

__all__ = ["batch"]


class _Jobs:
    """:func:`lab.run_batch`'s progress callback as a bar of jobs (lab's Progress)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def __call__(self, p):
        if self.bar is None:
            self.bar = Progress("batch", total=p.total, enabled=self.enabled, delay=0.0)
        eta = "--:--:--" if p.eta is None else time.strftime("%H:%M:%S", time.gmtime(p.eta))
        text = (f"jobs: {p.done} done, {p.failed} failed"
                + (f", {p.skipped} finished earlier" if p.skipped else "")
                + f"; {p.elapsed:.0f} s, about {eta} left")
        self.bar.update(text, completed=p.finished, force=p.finished == p.total)

    def close(self):
        if self.bar is not None:
            self.bar.close()


@click.command()
@click.argument("jobs", type=click.Path(path_type=Path), required=False)
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Parallel workers: 1 runs in this process, more a local process pool "
                   "(or LocalCluster workers with --dask-local)  [default: CPUs]")
@click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Output folder [default: the job file's [batch] out, else "
                                 "JOBS without .toml plus -results]")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted batch: skip finished jobs, re-run the others.")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Run on a Dask cluster (tcp://host:8786); OUT must be shared with it.")
@click.option("--dask-local", is_flag=True, help="Run on a Dask LocalCluster.")
@click.option("--example", is_flag=True, help="Run the example job file shipped with lab.")
@click.option("--print-example", is_flag=True, help="Print the example job file and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def batch(jobs, workers, out, resume, scheduler, dask_local, example, print_example, as_json,
          quiet):
    """Run the solve jobs of a TOML job file JOBS (`lab batch --print-example` shows one)."""
    from lab.batch._example import EXAMPLE

    if print_example:
        click.echo(EXAMPLE, nl=False)
        return
    if example and jobs is not None:
        fail(f"give either JOBS or --example, not both (got {str(jobs)!r})")
    if not example and jobs is None:
        fail("missing JOBS: a TOML job file (`lab batch --print-example` prints one), "
             "or --example")
    if scheduler is not None and dask_local:
        fail("give either --scheduler or --dask-local, not both")

    def run():
        from lab.batch import BatchInterrupted, parse_batch, read_batch, run_batch

        if example:
            spec = parse_batch(EXAMPLE, path="<lab batch --example>")
            default_out = Path("lab-batch-example")
        else:
            spec = read_batch(jobs)
            if out is None and spec.out_refused:
                fail(spec.out_refused)
            default_out = Path(spec.out) if spec.out else Path(f"{jobs.stem}-results")
        target = out or default_out
        bar = _Jobs(enabled=not quiet and not as_json)
        if not as_json:
            click.echo(f"{len(spec.jobs)} jobs on {len(spec.economies)} economies, results "
                       f"in {target}", err=True)
        try:
            summary = run_batch(spec, out=target, workers=workers, resume=resume,
                                scheduler=scheduler, dask_local=dask_local, progress=bar)
        except BatchInterrupted as exc:
            bar.close()
            s = exc.summary
            click.echo(f"\nlab: interrupted: {s.n_done + s.n_skipped} of {len(s.jobs)} jobs "
                       f"finished and kept; continue with --resume", err=True)
            sys.exit(130)
        except KeyboardInterrupt:  # before the batch started: nothing ran, nothing is lost
            bar.close()
            click.echo("\nlab: interrupted before any job ran; run the same command again "
                       "(with --resume if the results folder was made)", err=True)
            sys.exit(130)
        bar.close()
        if as_json:
            click.echo(json.dumps({
                "out": str(summary.out), "executor": summary.executor,
                "workers": summary.workers, "seconds": summary.seconds,
                "jobs_per_second": summary.jobs_per_second, "done": summary.n_done,
                "failed": summary.n_failed, "skipped": summary.n_skipped,
                "jobs": [dataclasses.asdict(j) for j in summary.jobs]}))
        else:
            click.echo(summary.table())
        if not summary.ok:
            sys.exit(1)

    run_guarded(run)
