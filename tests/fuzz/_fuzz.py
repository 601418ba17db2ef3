"""Budget and tally of the fuzz suite (see ``conftest.py`` and ``tests/README.md``)."""

from __future__ import annotations

import collections
import os

from _sandbox import FAILURES
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


def check(sandbox, test: str, case: str, payload, timeout: float | None = None):
    """Run one example in the sandbox, count it, and fail on a failure class."""
    outcome = sandbox.run(case, payload, timeout)
    TALLY[test][outcome.kind] += 1
    if KEEP_GOING and outcome.kind in FAILURES:
        FAILED.append((test, outcome.kind, outcome.detail.splitlines()[0][:300], payload))
        return outcome
    assert outcome.kind not in FAILURES, f"{outcome.kind}: {outcome.detail}"
    return outcome
