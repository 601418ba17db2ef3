"""The thread governor's choices from step times (synthetic times: no timing here)."""

import itertools

import pytest

from lab._ops import ThreadGovernor, available_backends

_kinds = itertools.count()


@pytest.fixture
def governor(quiet_load):
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


# -- the machine's load (synthetic readings: no timing here)

_STAT = b"""cpu  900 10 300 5000 20 5 5 30 0 0
cpu0 400 5 100 2500 10 2 3 10 0 0
cpu1 500 5 200 2500 10 3 2 20 0 0
intr 12345
"""


def test_busy_ticks_count_every_busy_field_of_the_cores_asked():
    from lab._ops import _busy_ticks

    # user + nice + system + irq + softirq + steal; idle and iowait are not busy
    assert _busy_ticks(_STAT, {b"cpu0"}) == 400 + 5 + 100 + 2 + 3 + 10
    assert _busy_ticks(_STAT, {b"cpu0", b"cpu1"}) == 520 + 500 + 5 + 200 + 3 + 2 + 20
    assert _busy_ticks(_STAT, {b"cpu7"}) == 0  # not this machine's: nothing counted


@pytest.fixture
def load(monkeypatch):
    """A _Load of two cores whose readings the test sets: ``state`` holds the monotonic
    time, the cores' busy CPU seconds, this process's CPU seconds and the tasks running
    now (as /proc/loadavg counts them, this thread included)."""
    import lab._ops as ops

    state = {"now": 100.0, "busy": 50.0, "own": 10.0, "running": 1}
    monkeypatch.setattr(ops.time, "monotonic", lambda: state["now"])
    monkeypatch.setattr(ops.time, "process_time", lambda: state["own"])
    lo = ops._Load()
    lo.cores = 2
    monkeypatch.setattr(lo, "_busy_seconds", lambda: state["busy"])
    monkeypatch.setattr(lo, "_running_now", lambda: float(state["running"] - 1))
    monkeypatch.setattr(ops, "_LOAD", lo)
    return state


def test_cores_taken_are_the_cores_busy_time_less_this_process_s(load):
    from lab._ops import cores_taken, threads_free

    load["running"] = 2  # first reading: the tasks running now stand in
    assert cores_taken() == 1.0
    assert threads_free(2) == 1
    # 0.2 s later: the cores ran 0.4 CPU s, this process 0.2 of them: one core taken
    load.update(now=100.2, busy=50.4, own=10.2)
    assert cores_taken() == pytest.approx(1.0)
    assert threads_free(2) == 1
    assert threads_free(1) == 1
    # this process alone busy on both cores: nothing taken, both threads free
    load.update(now=100.4, busy=50.8, own=10.6)
    assert cores_taken() == pytest.approx(0.0)
    assert threads_free(2) == 2
    assert threads_free(8) == 2  # never more threads than cores
    # a core less than half busy with others counts as free
    load.update(now=100.6, busy=51.1, own=10.8)  # others 0.1 s in 0.2 s
    assert cores_taken() == pytest.approx(0.5)
    load.update(now=100.8, busy=51.38, own=11.0)  # others 0.08 s in 0.2 s
    assert threads_free(2) == 2


def test_the_load_is_read_at_most_every_sample_interval(load):
    from lab._ops import LOAD_SAMPLE_S, cores_taken

    cores_taken()
    load.update(now=100.0 + LOAD_SAMPLE_S / 2, busy=60.0)  # would be 20 cores taken
    assert cores_taken() == 0.0  # the last answer stands
    load.update(now=100.0 + LOAD_SAMPLE_S * 2, busy=50.0 + LOAD_SAMPLE_S * 2)
    assert cores_taken() == pytest.approx(1.0)


def test_a_stale_reading_gives_way_to_the_tasks_running_now(load):
    from lab._ops import LOAD_STALE_S, cores_taken

    cores_taken()
    # a long quiet spell, then another process starts: the average over the whole
    # spell would hide it
    load.update(now=100.0 + 2 * LOAD_STALE_S, busy=50.5, running=2)
    assert cores_taken() == 1.0


def test_a_governed_step_beside_busy_processes_runs_on_the_free_threads(monkeypatch):
    import lab._ops as ops

    gov = ThreadGovernor(available_backends()[0], None, work=1e6, kind=f"test-{next(_kinds)}")
    gov.top = 2
    counts = []
    monkeypatch.setattr(gov.module, "set_num_threads", counts.append)
    monkeypatch.setattr(gov.module, "get_num_threads", lambda: 2)
    monkeypatch.setattr(ops, "threads_free", lambda top: 1)
    before = {k: dict(v) if isinstance(v, dict) else v for k, v in gov.record.items()}
    for _ in range(20):
        assert not gov.probes_next()  # no probes while the load sets the count
        with gov.step() as n:
            assert n == 1
    assert gov.used == 1
    assert counts == [1, 2] * 20  # one thread in each step, the count restored after
    assert gov.record == before  # steps the load imposed teach nothing
    monkeypatch.setattr(ops, "threads_free", lambda top: top)
    with gov.step() as n:
        assert n == 2  # the load gone, the record chooses again


def test_thread_limit_yields_to_the_load_only_where_lab_chooses(monkeypatch):
    import lab._ops as ops

    backend = available_backends()[0]
    module = ops.kernels(backend)
    before = module.get_num_threads()
    with ops.thread_limit(2, backend):
        if module.get_num_threads() < 2:
            pytest.skip("Numba started fewer than 2 threads on this machine")
        monkeypatch.setattr(ops, "threads_free", lambda top: 1)
        with ops.thread_limit(None, backend, yield_to_load=True):
            assert module.get_num_threads() == 1
        assert module.get_num_threads() == 2
        with ops.thread_limit(None, backend):  # the caller's governor decides instead
            assert module.get_num_threads() == 2
        with ops.thread_limit(2, backend, yield_to_load=True):  # forced: as asked
            assert module.get_num_threads() == 2
    assert module.get_num_threads() == before


@pytest.mark.parametrize("backend", available_backends())
def test_steps_below_the_team_minimum_stay_on_one_thread(backend, quiet_load):
    """Steps of less work than the kernels' TEAM_MIN_WORK run on one thread and are
    never probed on more (the kernels would not use them); a forced count is kept, and
    a step of that much work is governed as before."""
    from lab._ops import kernels

    K = kernels(backend)
    before = K.get_num_threads()
    small = ThreadGovernor(backend, None, work=K.TEAM_MIN_WORK - 1,
                           kind=f"test-{next(_kinds)}")
    assert small.top == 1
    for _ in range(40):
        assert not small.probes_next()
        with small.step() as n:
            assert n == 1 and K.get_num_threads() == 1
    assert K.get_num_threads() == before
    forced = ThreadGovernor(backend, 2, work=K.TEAM_MIN_WORK - 1, kind=f"test-{next(_kinds)}")
    assert forced.top == 2
    large = ThreadGovernor(backend, None, work=K.TEAM_MIN_WORK, kind=f"test-{next(_kinds)}")
    if backend == "numba":
        import numba

        before = min(before, numba.config.NUMBA_NUM_THREADS)
    assert large.top == before
