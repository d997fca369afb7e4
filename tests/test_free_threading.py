"""Free-threaded CPython (3.13t, 3.14t): what sktune records, shows and proposes.

The real check needs a free-threaded build with the GIL really off, which this
CI does not have (it runs a GIL build). These tests fake one instead:
``sysconfig.get_config_var("Py_GIL_DISABLED")`` for the build, and
``sys._is_gil_enabled`` (absent before 3.13) for the GIL's state now, which
an extension not marked compatible can turn back on (CPython gh-116322,
PITFALLS.md section 6).
"""

import dataclasses
import sys
import sysconfig

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sktune
from sktune._estimate import estimate, work_facts
from sktune._introspect import inspect_layers
from sktune.machine import Machine
from sktune.reporters import HTMLReporter, MarkdownReporter
from sktune.space import ConfigSpace
from sktune.workload import data_signature

from _helpers import synthetic_result


def _fake_build(monkeypatch, *, free_threaded, gil_enabled):
    """Make this interpreter look like a (free-threaded) build with the GIL on or off."""
    real = sysconfig.get_config_var

    def get_config_var(name):
        return int(free_threaded) if name == "Py_GIL_DISABLED" else real(name)

    monkeypatch.setattr(sysconfig, "get_config_var", get_config_var)
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: gil_enabled, raising=False)


def _grid_search():
    # 4 values x cv=5 + refit = 21 fits; GridSearchCV's joblib site prefers processes.
    return GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression()),
                        {"logisticregression__C": [0.01, 0.1, 1, 10]}, cv=5)


def _grid_search_candidates():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((4000, 20))
    y = (X[:, 0] > 0).astype(int)
    search = _grid_search()
    layers = inspect_layers(search, X, y, "fit")
    candidates = ConfigSpace.auto().resolve(
        layers, usable_cores=2, physical_cores=2,
        defaults={"blas_threads": 2, "openmp_threads": 2}).candidates
    return search, X, y, layers, candidates


@pytest.mark.parametrize("gil_enabled", [False, True], ids=["gil-off", "gil-on"])
def test_machine_detect_records_free_threaded_build_and_gil(monkeypatch, gil_enabled):
    # Check that detect() reads the build and the GIL's state when it runs.
    _fake_build(monkeypatch, free_threaded=True, gil_enabled=gil_enabled)
    machine = Machine.detect(refresh_threadpools=False)
    assert machine.free_threaded is True
    assert machine.gil_enabled is gil_enabled
    assert Machine.from_dict(machine.to_dict()) == machine


def test_machine_detect_on_a_gil_build(monkeypatch):
    # Check that a GIL build without sys._is_gil_enabled (3.12 and older) counts as GIL on.
    _fake_build(monkeypatch, free_threaded=False, gil_enabled=True)
    monkeypatch.delattr(sys, "_is_gil_enabled")
    machine = Machine.detect(refresh_threadpools=False)
    assert (machine.free_threaded, machine.gil_enabled) == (False, True)


def test_gil_state_survives_save_and_load(tmp_path):
    # Check that a result measured with the GIL off loads with both fields intact.
    result = synthetic_result(steps=False)
    result.machine = dataclasses.replace(result.machine, free_threaded=True,
                                         gil_enabled=False)
    path = tmp_path / "result.json"
    result.save(path)
    again = sktune.load(path)
    assert (again.machine.free_threaded, again.machine.gil_enabled) == (True, False)
    assert again.machine == result.machine
    assert again.machine.stable_fingerprint == result.machine.stable_fingerprint


@pytest.mark.parametrize("render", [str, lambda r: MarkdownReporter().render(r),
                                    lambda r: HTMLReporter().render(r)],
                         ids=["print", "markdown", "html"])
def test_reports_say_free_threaded_only_where_relevant(render):
    # Check that every report names a free-threaded build and the GIL's state,
    # and that a GIL build's report does not mention free threading.
    result = synthetic_result(steps=False)
    assert "free-threaded" not in render(result)
    result.machine = dataclasses.replace(result.machine, free_threaded=True,
                                         gil_enabled=False)
    assert "free-threaded build, GIL off" in render(result)
    result.machine = dataclasses.replace(result.machine, gil_enabled=True)
    text = render(result)
    assert "free-threaded build, but the GIL was on" in text
    assert "GIL off" not in text


@pytest.mark.parametrize("gil_enabled", [False, True], ids=["gil-off", "gil-on"])
def test_threading_is_a_candidate_for_process_sites(monkeypatch, gil_enabled):
    # Check that GridSearchCV, whose joblib site prefers processes, gets a
    # threading candidate with n_jobs=2 on 2 cores whatever the GIL's state:
    # the space does not depend on it, only the rules' choice among it does.
    _fake_build(monkeypatch, free_threaded=True, gil_enabled=gil_enabled)
    _, _, _, layers, candidates = _grid_search_candidates()
    assert layers.joblib_hints == {"processes"}
    assert any(c.backend == "threading" and c.n_jobs == 2 for c in candidates)
    assert any(c.backend == "loky" and c.n_jobs == 2 for c in candidates)


@pytest.mark.parametrize("gil_enabled, backend", [(False, "threading"), (True, "loky")],
                         ids=["gil-off", "gil-on"])
def test_estimate_reads_the_gil_when_it_runs(monkeypatch, gil_enabled, backend):
    # Check that budget="estimate" rules, not told the GIL's state, read it
    # at estimate time: threads for a grid search when it is off, else loky.
    _fake_build(monkeypatch, free_threaded=True, gil_enabled=gil_enabled)
    search, X, y, layers, candidates = _grid_search_candidates()
    rules = estimate(candidates, layers, signature={**data_signature(X, y), "task": "fit"},
                     usable_cores=2, physical_cores=2, work=work_facts(search))
    chosen = candidates[rules.index]
    assert (chosen.n_jobs, chosen.backend) == (2, backend)
    assert any("GIL is off" in r for r in rules.reasons) is (not gil_enabled)
