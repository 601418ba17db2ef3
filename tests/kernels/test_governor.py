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


@pytest.fixture
def clock(governor, monkeypatch):
    """A clock the test advances by hand (``clock[0] += seconds`` inside a step), and
    thread-count changes that change nothing: steps timed without timing anything."""
    import lab._ops as ops

    now = [0.0]
    monkeypatch.setattr(ops.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(governor.module, "set_num_threads", lambda n: None)
    monkeypatch.setattr(governor.module, "get_num_threads", lambda: governor.top)
    return now


def test_steps_of_unequal_work_are_compared_per_unit_of_work(governor, clock):
    # two threads take half the time per unit of work; the steps alternate between a
    # small and a large one, so a probe on one thread falls on a small step half the
    # time, and compared as whole steps it would win
    used = []
    for k in range(64):
        work = 1e5 if k % 2 else 9e5
        with governor.step(work=work) as n:
            clock[0] += (work / 1e6) * (0.010 if n == governor.top else 0.020)
        used.append(n)
    assert used[3:].count(1) <= 4, used


def test_a_step_too_short_to_time_teaches_nothing(governor):
    with governor.step():
        pass
    assert governor.record["rate"] == {}


def test_a_probe_on_a_step_too_short_to_time_moves_to_the_next(governor, clock):
    # a pass of a tiny step and a large one, two threads slower on the large one (a busy
    # machine): the probes must reach the large step, and one thread must win there
    large = []
    for k in range(80):
        with governor.step() as n:
            if k % 2:
                clock[0] += 0.010 if n == 1 else 0.013
                large.append(n)
            else:
                clock[0] += 1e-5
    assert large[-20:].count(1) >= 14, str(large)  # one probe of two threads per 8 steps


def test_a_spike_that_one_thread_would_not_beat_is_not_probed(governor):
    # all threads take 10 ms a step with a 16-ms spike every fourth, one thread 30 ms:
    # the spikes are noise, not a reason to probe one thread again and again
    top = governor.top
    steps = iter(range(10**6))
    used = _run(governor, lambda n: (0.016 if next(steps) % 4 == 3 else 0.010)
                if n == top else 0.030, 120)
    assert used[3:].count(1) <= 4, used  # the scheduled probes only (8, 16, 32, 64 apart)


def test_a_step_that_stops_early_is_timed_by_the_work_it_made(governor, clock):
    # steps given four units that made one: compared per unit made, two threads win
    for _ in range(12):
        with governor.step(work=4e6) as n:
            clock[0] += 0.010 if n == governor.top else 0.015
            governor.made(1e6)
    assert governor.record["rate"][governor.top] == pytest.approx(0.010)
    assert governor.record["rate"][1] == pytest.approx(0.015)


def test_probes_next_tells_the_probes_in_advance(governor):
    top = governor.top
    for k in range(200):
        told = governor.probes_next()
        rate = governor.record["rate"]
        best = top if rate.get(top, 0.0) <= rate.get(1, float("inf")) else 1
        n = governor._choose()
        assert told == (n != best), k
        governor._learn(n, 0.010 if n == top else 0.030)
