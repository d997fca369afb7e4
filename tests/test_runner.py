import os
import time

import joblib
import pytest
from sklearn.datasets import make_classification

from sktune import Config
from sktune._trials import local as runner_mod
from sktune._trials.local import Runner
from sktune.profilers import CPUTimeProfiler, WallClockProfiler
from sktune.workload import Workload

from _helpers import CostlyEstimator, FakeClock


@pytest.fixture
def workload():
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    clock = FakeClock()
    est = CostlyEstimator(clock=clock, cost={1: 1.0, 2: 0.5}, random_state=0)
    return clock, Workload(est, X, y)


def test_runner_warms_up_before_first_timed_repeat(workload):
    # Check that each configuration's first run is an untimed warm-up and
    # later visits are timed directly (checklist 14).
    clock, wl = workload
    runner = Runner(wl, [Config(), Config(n_jobs=2, backend="threading")],
                    [WallClockProfiler(clock=clock)])
    for round_ in range(2):
        for index in (0, 1):
            runner.visit(index, round_)
    phases = [(r["config"], r["phase"]) for r in runner.records]
    assert phases == [(0, "warmup"), (0, "timed"), (1, "warmup"), (1, "timed"),
                      (0, "timed"), (1, "timed")]
    assert [r["wall_s"] for r in runner.records if r["config"] == 1] == [0.5, 0.5, 0.5]


def test_runner_discards_repeat_that_restarted_the_pool(workload, monkeypatch):
    # Check, with an injected executor state, that a timed repeat during which
    # the worker pool was (re)created is relabelled a warm-up and repeated, and
    # that a pool changed by another config forces a new warm-up (checklist 16).
    clock, wl = workload
    current = {"state": ("pool", 1), "restarts": 1}
    monkeypatch.setattr(runner_mod, "loky_executor_state", lambda: current["state"])
    runner = Runner(wl, [Config(), Config(n_jobs=2, backend="loky")],
                    [WallClockProfiler(clock=clock)])
    runner.visit(1, 0)  # warm-up + timed, pool stable
    original = type(wl).call

    def call_and_restart(self, prepared):
        if current["restarts"]:  # the first call restarts the pool, later ones not
            current["restarts"] -= 1
            current["state"] = ("pool", 2)
        return original(self, prepared)

    monkeypatch.setattr(type(wl), "call", call_and_restart)
    record = runner.visit(1, 1)
    assert record["phase"] == "timed"
    phases = [r["phase"] for r in runner.records if r["config"] == 1]
    assert phases == ["warmup", "timed", "warmup", "timed"]
    assert runner.records[-2]["cold"] and not runner.records[-1]["cold"]
    # Another configuration changed the pool since: a warm-up comes first.
    current["state"] = ("pool", 99)
    assert runner.needs_warmup(1)
    runner.visit(1, 2)
    assert runner.records[-2]["phase"] == "warmup" and runner.records[-1]["phase"] == "timed"


def test_runner_records_errors_and_stops_running_failed(workload):
    # Check that a raising candidate is recorded with its error once and not re-run.
    clock, wl = workload
    est = CostlyEstimator(clock=clock, cost={1: 1.0}, fail_with=2)
    wl = Workload(est, wl.X, wl.y)
    runner = Runner(wl, [Config(), Config(n_jobs=2, backend="threading")],
                    [WallClockProfiler(clock=clock)])
    assert runner.visit(1, 0) is None and runner.visit(1, 1) is None
    assert len([r for r in runner.records if r["config"] == 1]) == 1
    assert "boom at n_jobs=2" in runner.failed[1]
    assert isinstance(runner.exceptions[1], RuntimeError)


def _spin(seconds):
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1
    return os.getpid()


@pytest.mark.slow
@pytest.mark.skipif(joblib.cpu_count() < 2, reason="needs 2 cores")
def test_cpu_profiler_counts_loky_workers():
    # Check that CPU time includes live loky workers: it exceeds the parent's
    # own process_time, which misses them (checklist 17).
    profiler = CPUTimeProfiler()
    with joblib.parallel_config(backend="loky", n_jobs=2):
        joblib.Parallel()(joblib.delayed(_spin)(0.01) for _ in range(2))  # warm pool
        own = time.process_time()
        profiler.start()
        pids = joblib.Parallel()(joblib.delayed(_spin)(0.4) for _ in range(2))
        cpu = profiler.stop()["cpu_s"]
        own = time.process_time() - own
    assert os.getpid() not in pids
    assert cpu > own + 0.4


def test_wall_profiler_uses_injected_clock():
    # Check that the wall profiler measures only between start and stop.
    clock = FakeClock()
    profiler = WallClockProfiler(clock=clock)
    profiler.start()
    clock.advance(1.25)
    assert profiler.stop() == {"wall_s": 1.25}


def test_timed_record_is_the_one_rule_for_what_visit_returns():
    # Check that only a successful timed repeat with a finite wall time is a
    # timing: a lost, failed, cut-off or re-labelled run is not.
    from sktune._trials import timed_record

    good = {"config": 1, "phase": "timed", "wall_s": 0.5, "error": None}
    assert timed_record(good) is good
    for bad in ({**good, "wall_s": None, "error": "WorkerCrashed: the worker died"},
                {**good, "error": "RuntimeError: boom"}, {**good, "phase": "cutoff"},
                {**good, "phase": "warmup"}, {**good, "wall_s": float("nan")},
                {**good, "wall_s": None}, None):
        assert timed_record(bad) is None
