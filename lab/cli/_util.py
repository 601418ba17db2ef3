"""Helpers shared by the ``lab`` command modules: progress lines and error handling.

Progress is :class:`lab._progress.Progress` (drawn by rich on a terminal, plain
lines on stderr otherwise), the same as the Python API shows with ``progress=True``.

User mistakes end with one line on stderr and exit status 2 (bad usage or
input) or 1 (the computation failed); never a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from lab._progress import Progress

__all__ = ["Progress", "fail", "not_finite", "refuse_overwriting", "run_guarded"]


def fail(message: str, code: int = 2):
    click.echo(f"lab: error: {message}", err=True)
    sys.exit(code)


def run_guarded(fn):
    """Turn lab's own errors into one line and a non-zero exit."""
    from lab.exceptions import LabError, NotConvergedError

    try:
        return fn()
    except NotConvergedError as exc:
        fail(str(exc), 1)
    except (LabError, ValueError, TypeError, OSError) as exc:
        fail(str(exc), 2)
    except MemoryError:
        fail("out of memory: try a smaller economy", 1)


def not_finite(*arrays) -> str:
    """'' if every number of ``arrays`` is finite, else what is not (for a message): the
    CLI checks a result's numbers before it prints or writes them."""
    from lab._validation import describe_nonfinite

    return describe_nonfinite(*arrays)


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)  # links and hard links too
    except OSError:
        pass
    return a.resolve() == b.resolve()


def refuse_overwriting(outputs, *, economy=None, dataset=None, files=()) -> None:
    """Raise ValueError, naming both paths, if an output would replace an input.

    Inputs: the files :func:`lab.read_economy` reads for ``economy`` (a folder's tables
    and manifest, a Matrix Market file's sidecar), a shipped ``dataset``'s files, and
    ``files``. Checked before any work is done.
    """
    from lab.exceptions import InvalidOptionError
    from lab.io._formats import input_files

    inputs = [Path(f) for f in files if f is not None]
    if economy is not None:
        inputs += input_files(economy)
    if dataset is not None:
        from lab.datasets import dataset_files

        inputs += dataset_files(dataset)
    for out in outputs:
        for inp in inputs:
            if _same_file(Path(out), inp):
                raise InvalidOptionError(f"the output {out} is the input {inp}: writing it would "
                                         "destroy the input; choose another output file")
