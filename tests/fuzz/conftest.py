"""The fuzz suite's sandbox fixture and the tally of outcomes printed at the end.

``LAB_FUZZ_EXAMPLES`` sets the total number of generated inputs, shared out over the
tests by the weights they declare (``_fuzz.fuzz_settings``; see ``tests/README.md``);
without it every test runs its small default (the whole folder in well under a
minute), derandomized, so that CI sees the same inputs every time.
``LAB_FUZZ_REPORT=path.json`` writes the tally (tests × outcome classes) as JSON;
``LAB_FUZZ_TIMEOUT`` (seconds, default 120) is the time one example may take before
it counts as a hang. ``LAB_FUZZ_KEEP_GOING=1`` (triage only) counts failures and goes
on instead of stopping at the first one, and lists them at the end.
"""

from __future__ import annotations

import collections
import json
import os

import pytest
from _fuzz import FAILED, TALLY, TOTAL
from _sandbox import FAILURES, Sandbox


@pytest.fixture(scope="session")
def sandbox():
    box = Sandbox(timeout=float(os.environ.get("LAB_FUZZ_TIMEOUT", "120")))
    yield box
    box.close()


def pytest_terminal_summary(terminalreporter):
    if not TALLY:
        return
    kinds = ["lab", "ok", "honest", *FAILURES]
    tr = terminalreporter
    tr.write_sep("=", "lab fuzz outcomes (lab: lab's error; ok/honest: checked result; "
                      "wrong/crash/hang: failures)")
    tr.write_line(f"{'test':<34}" + "".join(f"{k:>9}" for k in kinds) + f"{'total':>9}")
    totals = collections.Counter()
    for test, counts in sorted(TALLY.items()):
        totals.update(counts)
        tr.write_line(f"{test:<34}" + "".join(f"{counts[k]:>9}" for k in kinds)
                      + f"{sum(counts.values()):>9}")
    tr.write_line(f"{'all':<34}" + "".join(f"{totals[k]:>9}" for k in kinds)
                  + f"{sum(totals.values()):>9}")
    if FAILED:
        tr.write_sep("-", f"{len(FAILED)} failures (LAB_FUZZ_KEEP_GOING)")
        for test, kind, detail, _ in FAILED[:50]:
            tr.write_line(f"{test}: {kind}: {detail}")
    report = os.environ.get("LAB_FUZZ_REPORT")
    if report:
        with open(report, "w") as fh:
            json.dump({"examples_setting": TOTAL or None,
                       "tests": {t: dict(c) for t, c in TALLY.items()},
                       "total": dict(totals),
                       "failures": [{"test": t, "kind": k, "detail": d, "input": repr(p)}
                                    for t, k, d, p in FAILED]}, fh, indent=1)
