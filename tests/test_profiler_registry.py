"""The profiler registry and plug-in contract, with a real third-party profiler."""

import resource
import threading

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from threadpoolctl import threadpool_info

import sktune
from sktune.exceptions import InvalidParameterError, ProfilerError, SktuneError
from sktune.profilers import PROFILERS, Profiler, get_profiler, register_profiler


class MinorFaults(Profiler):
    """Minor page faults of this process during the call: a real, cheap measure."""

    name = "minor_faults"

    def start(self):
        self._before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    def stop(self):
        return {"minor_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                - self._before}


class Spy(Profiler):
    """Counts its hooks, so a test can see what the runner called."""

    name = "spy"

    def __init__(self):
        self.calls = {"instrument": 0, "start": 0, "stop": 0, "close": 0}

    def instrument(self, estimator):
        self.calls["instrument"] += 1
        return estimator

    def start(self):
        self.calls["start"] += 1

    def stop(self):
        self.calls["stop"] += 1
        return {}

    def close(self):
        self.calls["close"] += 1


class BrokenStop(Profiler):
    name = "broken"

    def stop(self):
        raise OSError("no such counter")


@pytest.fixture
def registry():
    """Restore the registry after a test that registers a profiler."""
    before = dict(PROFILERS)
    yield PROFILERS
    PROFILERS.clear()
    PROFILERS.update(before)


def _data(n=400):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 8))
    return X, X @ rng.normal(size=8)


def test_a_registered_profiler_is_used_by_name(registry):
    register_profiler("minor_faults", MinorFaults)
    X, y = _data()
    result = sktune.profile(Ridge(), X, y, budget="quick", isolation="none",
                            profilers=["wall", "cpu", "minor_faults"])
    timed = result.trials[result.trials["phase"] == "timed"]
    assert len(timed) > 0
    assert (timed["minor_faults"] >= 0).all()
    assert timed["minor_faults"].dtype.kind == "i"


def test_an_instance_can_be_passed_and_every_hook_is_called():
    spy = Spy()
    X, y = _data()
    result = sktune.profile(Ridge(), X, y, budget="quick", isolation="none",
                            profilers=["wall", spy])
    n_runs = len(result.records) + 1  # + the probe run before the search
    assert spy.calls["start"] == spy.calls["stop"] == spy.calls["instrument"]
    assert spy.calls["start"] >= len(result.records)
    assert spy.calls["start"] <= n_runs
    assert spy.calls["close"] == 1


def test_register_replaces_and_a_nameless_class_takes_its_key(registry):
    class Nameless(MinorFaults):
        name = None

    register_profiler("faults", Nameless)
    assert get_profiler("faults").name == "faults"
    register_profiler("faults", MinorFaults)
    assert isinstance(get_profiler("faults"), MinorFaults)


@pytest.mark.parametrize("name, cls, match", [
    ("", MinorFaults, "'name' parameter of register_profiler must be a non-empty lowercase str"),
    (3, MinorFaults, "'name' parameter of register_profiler must be a non-empty lowercase str"),
    ("x", object, "'profiler_cls' parameter of register_profiler must be a subclass"),
    ("x", MinorFaults(), "'profiler_cls' parameter of register_profiler must be a subclass"),
])
def test_register_rejects_bad_arguments(registry, name, cls, match):
    with pytest.raises(InvalidParameterError, match=match):
        register_profiler(name, cls)
    assert "x" not in PROFILERS


def test_unknown_and_missing_profilers_fail_before_any_timing():
    # Check that an unknown name, a class instead of an instance and a list
    # without "wall" are refused before anything runs, naming what is valid.
    X, y = _data()
    for bad in (["wall", "nope"], ["wall", MinorFaults]):
        with pytest.raises(InvalidParameterError,
                           match=r"The 'profilers' parameter of profile must be a list of "
                                 r"Profiler instances or of str among \[.*'wall'\]"):
            sktune.profile(Ridge(), X, y, profilers=bad)
    with pytest.raises(InvalidParameterError, match="must include the 'wall' profiler"):
        sktune.profile(Ridge(), X, y, profilers=["cpu"])


def _state():
    return threadpool_info(), threading.active_count()


@pytest.mark.parametrize("bad, message", [
    (BrokenStop(), r"'broken' profiler \(BrokenStop\) raised in stop\(\): OSError"),
    (type("ListStop", (Profiler,), {"name": "liststop", "stop": lambda self: [1]})(),
     r"must return a dict of its own fields from stop\(\). Got list"),
    (type("Clash", (Profiler,), {"name": "clash", "stop": lambda self: {"error": 1}})(),
     r"Got the runner's own fields \['error'\]"),
])
def test_a_broken_profiler_stops_the_run_and_the_others_are_stopped(bad, message):
    # Started before the broken one, so stopped after it: it must still be
    # stopped, and so must the memory sampler thread.
    spy = Spy()
    X, y = _data()
    before = _state()
    with pytest.raises(ProfilerError, match=message) as info:
        sktune.profile(Ridge(), X, y, budget="quick", isolation="none",
                       profilers=[spy, "memory", bad, "wall"])
    assert isinstance(info.value, SktuneError) and isinstance(info.value, RuntimeError)
    if isinstance(bad, BrokenStop):
        assert isinstance(info.value.__cause__, OSError)
    assert spy.calls["start"] == spy.calls["stop"] == 1
    assert spy.calls["close"] == 1
    assert _state() == before


def test_a_profiler_failing_to_start_stops_those_already_started():
    class BrokenStart(Spy):
        name = "broken_start"

        def start(self):
            raise RuntimeError("cannot start")

    spy, broken = Spy(), BrokenStart()
    X, y = _data()
    with pytest.raises(ProfilerError, match="'broken_start'.*raised in start"):
        sktune.profile(Ridge(), X, y, budget="quick", isolation="none",
                       profilers=[spy, broken, "wall"])
    assert spy.calls["start"] == spy.calls["stop"] == 1
    assert broken.calls["stop"] == 0  # never started, never stopped


def test_an_extra_run_profiler_never_wraps_a_timed_run(registry):
    class CostlyFaults(MinorFaults):
        name = "costly_faults"
        extra_run = True

    register_profiler("costly_faults", CostlyFaults)
    X, y = _data()
    result = sktune.profile(Ridge(), X, y, budget="quick", isolation="none",
                            profilers=["wall", "costly_faults"])
    with_field = [r for r in result.records if "minor_faults" in r]
    assert with_field and all(r["phase"] == "extra" for r in with_field)


def test_a_profiler_failing_to_close_does_not_leave_others_open():
    class BrokenClose(Spy):
        name = "broken_close"

        def close(self):
            super().close()
            raise ValueError("close failed")

    broken, spy = BrokenClose(), Spy()
    X, y = _data()
    before = _state()
    with pytest.raises(ProfilerError, match="'broken_close'.*raised in close"):
        sktune.profile(Ridge(), X, y, budget="quick", isolation="none",
                       profilers=[broken, "memory", spy, "wall"])
    assert broken.calls["close"] == spy.calls["close"] == 1
    assert _state() == before


def test_a_close_failure_does_not_hide_the_error_that_stopped_the_run():
    class BrokenBoth(BrokenStop):
        name = "broken_both"

        def close(self):
            raise ValueError("close failed too")

    X, y = _data()
    with pytest.raises(ProfilerError, match="raised in stop"):
        sktune.profile(Ridge(), X, y, budget="quick", isolation="none",
                       profilers=[BrokenBoth(), "wall"])
