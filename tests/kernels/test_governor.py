"""The thread governor's choices from step times (synthetic times: no timing here)."""

import itertools

import pytest

from lab._ops import ThreadGovernor, available_backends

_kinds = itertools.count()


@pytest.fixture
def governor():
    backend = available_backends()[0]
    gov = ThreadGovernor(backend, None, work=1e6, kind=f"test-{next(_kinds)}")
    if gov.top < 2:
        gov.top = 2  # the choice logic does not depend on the machine's cores
    return gov


def _run(gov, seconds_of, steps):
    """Steps chosen by the governor, each taking seconds_of(count); the counts used."""
    used = []
    for _ in range(steps):
        n = gov._choose()
        used.append(n)
        gov._learn(n, seconds_of(n))
    return used


def test_a_slow_first_step_does_not_keep_the_solver_on_one_thread(governor):
    top = governor.top
    times = iter([5.0])  # the first step on all threads compiles the kernels
    used = _run(governor, lambda n: next(times, 0.015) if n == top else 0.050, 30)
    # first step all threads (warm-up), a probe on one, at once all threads again
    assert used[:3] == [top, 1, top]
    assert used[3:].count(1) <= 1
    assert governor.record["rate"][top] == pytest.approx(0.015)


def test_one_thread_keeps_winning_when_it_is_faster(governor):
    top = governor.top
    used = _run(governor, lambda n: 0.010 if n == 1 else 0.030, 40)
    assert used[:3] == [top, 1, top]  # the all-threads time is re-taken once
    assert used[3:].count(1) >= 30


def test_steady_times_are_averaged_after_the_first_two(governor):
    top = governor.top
    for seconds in (1.0, 0.02, 0.04):
        governor._learn(top, seconds)
    assert governor.record["rate"][top] == pytest.approx(0.03)
