"""Tests of the cProfile hotspots profiler, its library grouping and its tables."""

import cProfile
import json
import os
import sys
import sysconfig
import time

import joblib
import numpy as np
import psutil
import pytest
import sklearn.base
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktune.profilers.base import Profiler
from sktune.profilers.hotspots import (
    WAITING,
    HotspotsProfiler,
    hotspots_frame,
    library_frame,
    library_of,
)
from sktune.space import Config

HOTSPOT_COLUMNS = ["config", "function", "file", "line", "library", "calls", "own_s",
                   "cum_s", "own_share"]
LIBRARY_COLUMNS = ["config", "library", "own_s", "share"]
STDLIB = sysconfig.get_paths()["stdlib"]
SITE = sysconfig.get_paths()["purelib"]


def _profiled(func, *args, top=20):
    """Run ``func(*args)`` under a HotspotsProfiler; return (record, wall seconds)."""
    profiler = HotspotsProfiler(top=top)
    profiler.start()
    try:
        start = time.perf_counter()
        func(*args)
        wall = time.perf_counter() - start
    finally:
        record = profiler.stop()
    return record, wall


def _hot_loop(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def test_hotspots_profiler_interface():
    # Check that the profiler is an extra-run plug-in registered as "hotspots".
    assert issubclass(HotspotsProfiler, Profiler)
    assert HotspotsProfiler.name == "hotspots"
    assert HotspotsProfiler.extra_run is True
    assert HotspotsProfiler().top == 20


def test_hotspots_sklearn_fit_grouped_by_library(global_random_seed):
    # Check that a real fit shows scikit-learn and numpy functions, and that
    # the libraries' own times add up to about the profiled wall time.
    rng = np.random.RandomState(global_random_seed)
    X = rng.randn(3000, 20)
    y = (X[:, 0] + 0.5 * rng.randn(3000) > 0).astype(int)
    pipe = make_pipeline(StandardScaler(), LogisticRegression())
    pipe.fit(X, y)  # warm up lazy imports
    record, wall = _profiled(pipe.fit, X, y)

    json.dumps(record)  # record fields must be JSON-serialisable
    assert set(record) == {"hotspots", "hotspot_libraries"}
    hotspots = record["hotspots"]
    assert 0 < len(hotspots) <= 40
    assert len({(h["file"], h["line"], h["function"]) for h in hotspots}) == len(hotspots)
    for h in hotspots:
        assert set(h) == {"function", "file", "line", "library", "calls", "own_s", "cum_s"}
        assert isinstance(h["line"], int) and h["calls"] >= 1
        assert 0 <= h["own_s"] <= h["cum_s"] + 1e-9
    assert [h["own_s"] for h in hotspots] == sorted((h["own_s"] for h in hotspots),
                                                    reverse=True)
    libraries = {h["library"] for h in hotspots}
    assert {"scikit-learn", "numpy"} <= libraries
    sk = [h for h in hotspots if h["library"] == "scikit-learn"]
    assert any(h["file"].startswith("sklearn/") for h in sk)
    assert {"scikit-learn", "numpy"} <= set(record["hotspot_libraries"])
    total = sum(record["hotspot_libraries"].values())
    assert 0.5 * wall <= total <= 1.5 * wall


def test_hotspots_top_limits_each_criterion():
    # Check that at most `top` functions come from each of the two rankings.
    def many_functions():
        for _ in range(5):
            _hot_loop(100)
        sorted(range(100))
        json.dumps({"a": 1})

    record, _ = _profiled(many_functions, top=2)
    assert 2 <= len(record["hotspots"]) <= 4
    assert len(record["hotspot_libraries"]) >= 2  # still over every function


def test_hotspots_user_code_dominates():
    # Check that a hot Python loop of the caller is the top function, as "user code".
    record, _ = _profiled(_hot_loop, 300_000)
    top = record["hotspots"][0]
    assert top["function"] == "_hot_loop"
    assert top["library"] == "user code"
    assert top["file"].endswith("test_profiler_hotspots.py")
    assert top["calls"] == 1
    libraries = record["hotspot_libraries"]
    assert max(libraries, key=libraries.get) == "user code"


def test_hotspots_threading_backend_shows_waiting():
    # Check that the calling thread's time under a threading backend is
    # mostly waiting for the workers (which cProfile does not see).
    def run():
        joblib.Parallel(n_jobs=2, backend="threading")(
            joblib.delayed(time.sleep)(0.1) for _ in range(4))

    record, wall = _profiled(run)
    libraries = record["hotspot_libraries"]
    assert max(libraries, key=libraries.get) == WAITING
    assert libraries[WAITING] >= 0.5 * wall


@pytest.mark.parametrize("filename, funcname, expected", [
    (os.path.join(STDLIB, "json", "decoder.py"), "decode", "python"),
    (os.path.join(STDLIB, "threading.py"), "wait", WAITING),
    (os.path.join(SITE, "sklearn", "linear_model", "_logistic.py"), "fit", "scikit-learn"),
    (sklearn.base.__file__, "clone", "scikit-learn"),
    (np.__file__, "<module>", "numpy"),
    (joblib.parallel.__file__, "__call__", "joblib"),
    (psutil.__file__, "cpu_times", "psutil"),
    (sys.modules["sktune"].__file__, "profile", "sktune"),
    ("<frozen importlib._bootstrap>", "_find_and_load", "python"),
    ("/somewhere/else/my_script.py", "main", "user code"),
    ("~", "<built-in method numpy.core._multiarray_umath.implement_array_function>", "numpy"),
    ("~", "<method 'reduce' of 'numpy.ufunc' objects>", "numpy"),
    ("~", "<built-in method scipy.optimize._lbfgsb.setulb>", "scipy"),
    ("~", "<built-in method builtins.exec>", "python"),
    ("~", "<method 'append' of 'list' objects>", "python"),
    ("~", "<built-in method __new__ of type object at 0x7f0fe9e5ea00>", "python"),
    ("~", "<method 'acquire' of '_thread.lock' objects>", WAITING),
    ("~", "<method 'get' of '_queue.SimpleQueue' objects>", WAITING),
    ("~", "<method 'poll' of 'select.poll' objects>", WAITING),
    ("~", "<built-in method time.sleep>", WAITING),
    ("~", "<built-in method some_unknown_ext.compute>", "user code"),
])
def test_library_of(filename, funcname, expected):
    # Check that files and cProfile's builtin entries map to their library.
    assert library_of(filename, funcname) == expected


def test_hotspots_another_profiler_active():
    # Check that an already active cProfile makes stop() report an error
    # instead of crashing, and is left working.
    outer = cProfile.Profile()
    profiler = HotspotsProfiler()
    outer.enable()
    try:
        profiler.start()
        _hot_loop(1000)
        record = profiler.stop()
    finally:
        outer.disable()
    assert record["hotspots"] == [] and record["hotspot_libraries"] == {}
    assert "already active" in record["hotspots_error"]
    outer.create_stats()
    assert any(func == "_hot_loop" for _, _, func in outer.stats)
    # The profiler is reusable once the other tool is gone.
    record, _ = _profiled(_hot_loop, 1000)
    assert "hotspots_error" not in record and record["hotspots"]


def test_hotspots_stop_without_start():
    # Check that stop() without a successful start() returns empty fields.
    record = HotspotsProfiler().stop()
    assert record["hotspots"] == [] and record["hotspot_libraries"] == {}
    assert record["hotspots_error"]


def _hotspot(function, library, own_s, cum_s=None):
    return {"function": function, "file": "x.py", "line": 1, "library": library,
            "calls": 1, "own_s": own_s, "cum_s": own_s if cum_s is None else cum_s}


def test_hotspots_frames():
    # Check the tables built from extra records: rows, order, shares.
    candidates = [Config(), Config(n_jobs=2, backend="threading")]
    records = [
        {"config": 0, "phase": "timed", "wall_s": 1.0},
        {"config": 1, "phase": "extra", "hotspots": [_hotspot("wait", WAITING, 0.6),
                                                     _hotspot("fit", "scikit-learn", 0.1, 0.9)],
         "hotspot_libraries": {WAITING: 0.6, "scikit-learn": 0.3, "numpy": 0.1}},
        {"config": 0, "phase": "extra", "hotspots": [_hotspot("dot", "numpy", 0.2),
                                                     _hotspot("loop", "user code", 0.5)],
         "hotspot_libraries": {"numpy": 0.3, "user code": 0.7}},
        {"config": 1, "phase": "extra", "hotspots": [], "hotspot_libraries": {},
         "hotspots_error": "Another profiling tool is already active"},
        {"config": 0, "phase": "warmup"},
    ]
    frame = hotspots_frame(records, candidates)
    assert list(frame.columns) == HOTSPOT_COLUMNS
    assert list(frame["function"]) == ["loop", "dot", "wait", "fit"]
    assert list(frame["config"]) == [str(candidates[0])] * 2 + [str(candidates[1])] * 2
    np.testing.assert_allclose(frame["own_share"], [0.5, 0.2, 0.6, 0.1])

    libs = library_frame(records, candidates)
    assert list(libs.columns) == LIBRARY_COLUMNS
    assert list(libs["library"]) == ["user code", "numpy", WAITING, "scikit-learn", "numpy"]
    np.testing.assert_allclose(libs["share"], [0.7, 0.3, 0.6, 0.3, 0.1])
    for _, group in libs.groupby("config"):
        assert group["share"].sum() == pytest.approx(1.0)


def test_hotspots_frames_empty():
    # Check that no extra record gives empty frames with the same columns.
    records = [{"config": 0, "phase": "timed", "wall_s": 1.0}]
    for records_ in (records, []):
        frame = hotspots_frame(records_, [Config()])
        assert frame.empty and list(frame.columns) == HOTSPOT_COLUMNS
        libs = library_frame(records_, [Config()])
        assert libs.empty and list(libs.columns) == LIBRARY_COLUMNS


def test_hotspots_frames_from_real_record():
    # Check that a real record goes through both tables.
    record, _ = _profiled(_hot_loop, 50_000)
    records = [{"config": 0, "phase": "extra", **record}]
    frame = hotspots_frame(records, [Config()])
    assert frame.loc[0, "function"] == "_hot_loop"
    assert 0 < frame.loc[0, "own_share"] <= 1
    libs = library_frame(records, [Config()])
    assert libs["share"].sum() == pytest.approx(1.0)
