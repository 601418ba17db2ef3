"""Progress of long computations on stderr: one implementation, drawn by rich.

:class:`Progress` is what the Python API (``lab.plan(..., progress=True)``,
``lab.labour_values(..., progress=True)``), ``lab values``, ``lab plan`` and ``lab
batch`` show while they work. The same facts are shown everywhere:

* on a terminal, one line redrawn in place by :mod:`rich` (a spinner, or a bar when
  the total is known, the facts, the elapsed time and for bars the time left), which
  is removed when the computation ends (the result is printed instead);
* anywhere else (a log file, a pipe, a notebook without a terminal, the test suite),
  plain lines ``label: facts`` on stderr, at most one every ``interval`` seconds and
  the last state at the end, so that logs stay short and parseable.

Computations that end within ``delay`` seconds show nothing. ``--json`` outputs
never include progress: it goes to stderr, and the CLI turns it off with ``--json``.
"""

from __future__ import annotations

import math
import sys
import time

__all__ = ["Progress"]


class Progress:
    """A progress line for one computation, usable as a solver callback.

    Parameters
    ----------
    label : str
        What is computed (``"plan"``, ``"values"``, ``"batch"``).
    total : int, optional
        Steps to do (a bar with the time left); None: an open-ended iteration count.
    enabled : bool
        False shows nothing (the object still accepts every call).
    delay : float, optional
        Seconds before anything is shown (default :attr:`DELAY`).
    interval : float, optional
        Seconds between plain lines (default :attr:`INTERVAL`, and 5 for bars); a
        terminal redraws a few times a second.
    what : str
        The name of the number passed to :meth:`__call__` (``"residual"``).
    tty : bool, optional
        Override the terminal detection (tests).

    Examples
    --------
    >>> import io, contextlib
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     with Progress("values", delay=0, tty=False) as progress:
    ...         progress(10, 1e-3)
    >>> err.getvalue()
    'values: iteration 10, residual 1.00e-03, 0 s\\n'
    """

    #: Seconds before a computation shows progress: short ones show none.
    DELAY = 1.0
    #: Seconds between plain lines of an open-ended computation (bars: 5).
    INTERVAL = 2.0

    def __init__(self, label: str, *, total: int | None = None, enabled: bool = True,
                 delay: float | None = None, interval: float | None = None,
                 what: str = "residual", tty: bool | None = None):
        self.label = label
        self.total = total
        self.enabled = bool(enabled)
        self.delay = self.DELAY if delay is None else delay
        self.what = what
        self.interval = interval if interval is not None else (
            self.INTERVAL if total is None else 5.0)
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.start = time.perf_counter()
        self.last = -float("inf")
        self.text = ""
        self.completed = 0
        self.pending = False  # a state not printed yet (plain lines)
        self.gap = None       # the latest certified gap a planner reported
        self._live = None     # the rich progress display, once shown on a terminal
        self._task = None

    # -- solver callbacks and updates ----------------------------------------------

    def __call__(self, iteration: int, value: float):
        """A solver callback: ``iteration`` and the solver's number (never stops it)."""
        gap = "" if self.gap is None else f", certified gap {self.gap:.2e}"
        self.update(f"iteration {iteration}, {self.what} {value:.2e}{gap}")

    def certified(self, gap: float):
        """The planner's latest proven relative gap, shown from the next update on
        (infinite gaps, before any bound is proven, are not shown)."""
        if math.isfinite(gap):
            self.gap = float(gap)

    def chain(self, callback):
        """A solver callback that shows progress, then calls ``callback`` (if any) and
        returns what it returns (``False`` stops a solver)."""
        if not self.enabled:
            return callback

        def both(iteration, value):
            self(iteration, value)
            return None if callback is None else callback(iteration, value)

        both.certified = self.certified  # the planner reports its certificates here
        return both

    def update(self, text: str, *, completed: int | None = None, force: bool = False):
        """Show ``text`` (and, with a total, ``completed`` steps of it)."""
        if not self.enabled:
            return
        self.text = text
        if completed is not None:
            self.completed = completed
        now = time.perf_counter()
        if not force and now - self.start < self.delay:
            self.pending = True
            return
        if self.tty:
            self._draw()
        elif force or now - self.last >= self.interval:
            self._line()
            self.last = now
        else:
            self.pending = True

    def close(self):
        """End the display: a terminal's line is removed; a log gets the last state
        if it was shown at all and changed since."""
        if self._live is not None:
            self._live.stop()
            self._live = None
        elif self.pending and self.last > -float("inf"):
            self._line()
        self.pending = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- drawing -------------------------------------------------------------------

    def _line(self):
        elapsed = "" if self.total is not None else \
            f", {time.perf_counter() - self.start:.0f} s"  # a terminal has a clock column
        sys.stderr.write(f"{self.label}: {self._facts()}{elapsed}\n")
        sys.stderr.flush()
        self.pending = False

    def _facts(self) -> str:
        if self.total is None:
            return self.text
        return f"{self.completed}/{self.total} {self.text}".rstrip()

    def _draw(self):
        if self._live is None:
            from rich.console import Console
            from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            # the same facts as the plain lines, with a spinner and clock or a bar
            text = TextColumn("{task.fields[text]}", markup=False)
            if self.total is None:
                columns = [SpinnerColumn(), TextColumn("{task.description}"), text,
                           TimeElapsedColumn()]
            else:
                columns = [TextColumn("{task.description}"), BarColumn(), text]
            console = Console(stderr=True, force_terminal=True)  # self.tty decided it
            self._live = RichProgress(*columns, console=console, transient=True)
            self._task = self._live.add_task(f"{self.label}:", total=self.total, text="")
            self._live.start()
        self._live.update(self._task, completed=self.completed, text=self._facts())
