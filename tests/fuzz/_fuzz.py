"""Budget, sandbox and tally of the fuzz suite (see ``tests/README.md``).

``LAB_FUZZ_EXAMPLES`` sets the total number of generated inputs, shared out over the
tests by the weights they declare (:func:`fuzz_settings`); without it every test runs
its small default, derandomized, so that CI sees the same inputs every time.
``LAB_FUZZ_REPORT=path.json`` writes the tally (tests × outcome classes) as JSON;
``LAB_FUZZ_TIMEOUT`` (seconds, default 120) is the time one example may take before
it counts as a hang; ``LAB_FUZZ_KEEP_GOING=1`` (triage only) counts failures and goes
on instead of stopping at the first one, and lists them at the end.

(There is no conftest.py in this folder: tests elsewhere import ``conftest`` by name,
which a second conftest module on the path would shadow.)
"""

from __future__ import annotations

import atexit
import collections
import json
import os

from _sandbox import FAILURES, Sandbox
from hypothesis import HealthCheck, settings

TOTAL = int(os.environ.get("LAB_FUZZ_EXAMPLES", "0") or 0)
#: Triage only: count failures and go on instead of stopping at the first one.
KEEP_GOING = os.environ.get("LAB_FUZZ_KEEP_GOING", "") not in ("", "0")
#: (test, kind, detail) of the failures seen with KEEP_GOING
FAILED: list = []
#: test -> Counter of outcome kinds, for the summary
TALLY: dict = collections.defaultdict(collections.Counter)


def fuzz_settings(weight: float, small: int):
    """Hypothesis settings: ``weight`` × LAB_FUZZ_EXAMPLES examples, else ``small``."""
    n = max(1, round(TOTAL * weight)) if TOTAL else small
    return settings(max_examples=n, deadline=None, database=None, derandomize=not TOTAL,
                    suppress_health_check=list(HealthCheck), print_blob=True)


_SANDBOX: list = []


def sandbox() -> Sandbox:
    """The one sandbox child of this test process (restarted after a crash or hang)."""
    if not _SANDBOX:
        _SANDBOX.append(Sandbox(timeout=float(os.environ.get("LAB_FUZZ_TIMEOUT", "120"))))
        atexit.register(_SANDBOX[0].close)
    return _SANDBOX[0]


def check(test: str, case: str, payload, timeout: float | None = None):
    """Run one example in the sandbox, count it, and fail on a failure class."""
    outcome = sandbox().run(case, payload, timeout)
    TALLY[test][outcome.kind] += 1
    if KEEP_GOING and outcome.kind in FAILURES:
        FAILED.append((test, outcome.kind, outcome.detail.splitlines()[0][:300], payload))
        return outcome
    assert outcome.kind not in FAILURES, f"{outcome.kind}: {outcome.detail}"
    return outcome


def summary(tr) -> None:
    """The tally at the end of the run (called by tests/conftest.py)."""
    if not TALLY:
        return
    kinds = ["lab", "ok", "honest", *FAILURES]
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
