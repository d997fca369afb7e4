"""Answers without timing: wisdom on a repeated profile, recommend(), budget="estimate".

Real profiles of small workloads, a real wisdom folder per test (the root
conftest gives each test its own ``SKTUNE_CACHE_DIR``); "nothing was timed"
is checked by making the runner impossible to build.
"""

import math

import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

import sktune
from sktune import Config, ConfigSpace, _measure
from sktune import _profile as profile_module
from sktune.profilers import CPUTimeProfiler, WallClockProfiler
from sktune.wisdom import WisdomStore, workload_key

from _helpers import CostlyEstimator, FakeClock

SPACE = ConfigSpace(blas_threads=[1])


@pytest.fixture
def data():
    return make_classification(n_samples=150, n_features=5, random_state=0)


@pytest.fixture
def no_timing(monkeypatch):
    """Fail the test if anything tries to time a configuration."""
    def refuse(*args, **kwargs):
        raise AssertionError("a runner was started: something was timed")

    monkeypatch.setattr(profile_module, "make_runner", refuse)


def _profile(est, X, y, **kwargs):
    return sktune.profile(est, X, y, space=SPACE, budget="quick", isolation="none",
                          **kwargs)


def test_second_profile_answers_from_wisdom(data, monkeypatch):
    # Check that a repeated profile of the same workload on this machine
    # returns the stored result without timing, and refresh=True re-measures.
    X, y = data
    est = DecisionTreeClassifier(random_state=0)
    first = _profile(est, X, y)
    assert first.origin == {"source": "measured"}
    with monkeypatch.context() as m:
        m.setattr(profile_module, "make_runner", lambda *a, **k: pytest.fail("timed again"))
        again = _profile(est, X, y)
    assert again.origin["source"] == "wisdom" and again.origin["budget"] == "quick"
    assert again.records == first.records and again.best == first.best
    assert "From wisdom" in str(again)
    refreshed = _profile(est, X, y, refresh=True)
    assert refreshed.origin == {"source": "measured"}
    assert refreshed.records != first.records


def test_wisdom_answers_lower_budgets_only_for_the_same_workload(data, monkeypatch):
    # Check that a "measure" entry answers "quick", but not "exhaustive",
    # another parameter, or wisdom=False.
    X, y = data
    est = DecisionTreeClassifier(random_state=0)
    sktune.profile(est, X, y, space=SPACE, budget="measure", isolation="none")
    monkeypatch.setattr(profile_module, "make_runner", lambda *a, **k: pytest.fail("timed"))
    assert _profile(est, X, y).origin["budget"] == "measure"  # quick <= measure
    for other in (dict(est=DecisionTreeClassifier(random_state=0, max_depth=3)),
                  dict(budget="exhaustive"), dict(wisdom=False)):
        with pytest.raises(pytest.fail.Exception, match="timed"):
            sktune.profile(other.pop("est", est), X, y, space=SPACE, isolation="none",
                           **{"budget": "quick", **other})


def test_recommend_estimates_without_timing(no_timing, tmp_path):
    # Check that recommend() picks from the rules, says it is an estimate,
    # and that the estimated result prints and round-trips through JSON.
    X, y = make_classification(n_samples=20000, n_features=20, random_state=0)
    est = RandomForestClassifier(n_estimators=100, random_state=0)
    result = sktune.recommend(est, X, y)
    rec = result.recommendation
    assert result.origin == {"source": "estimate", "from": "rules"}
    assert rec.verdict == "estimated" and math.isnan(result.speedup.value)
    # 100 trees on 20000x20 are worth every core; on one core there is no
    # worker to add and the answer is as written.
    usable = result.machine.usable_cores
    assert result.best.n_jobs == (usable if usable > 1 else None)
    assert result.records == [] and "nothing was timed" in rec.explanation
    text = str(result)
    assert "Estimated from rules" in text
    assert sktune.load(result.save(tmp_path / "r.json")) == result


@pytest.mark.parametrize("ext", [".html", ".md", ".json"])
def test_estimated_result_reports(ext, tmp_path, no_timing):
    X, y = make_classification(n_samples=300, random_state=0)
    result = sktune.recommend(DecisionTreeClassifier(), X, y)
    text = result.report(tmp_path / f"r{ext}").read_text()
    assert "estimate" in text.lower()


def test_estimate_uses_another_machines_wisdom_as_a_hint(data, monkeypatch):
    # Check that an imported entry of another machine answers budget="estimate"
    # as a hint (when its answer is one of this machine's candidates), and
    # that a measuring profile never takes it as this machine's answer.
    X, y = data
    clock = FakeClock()
    monkeypatch.setattr(_measure, "_now", clock)
    est = CostlyEstimator(clock=clock, cost={1: 1.0, 2: 0.5})
    space = ConfigSpace(n_jobs=[1, 2], backend=["threading"])
    profilers = [CPUTimeProfiler(cpu_clock=clock), WallClockProfiler(clock=clock)]
    elsewhere = sktune.profile(est, X, y, space=space, profilers=profilers,
                               isolation="none", wisdom=False)
    assert elsewhere.best == Config(n_jobs=2, backend="threading")
    settings = {"space": repr(space), "accelerate": False, "min_effect": 0.05,
                "profilers": ["cpu", "wall"]}
    key, description = workload_key(est, X, y, "fit", settings=settings)
    WisdomStore().record(elsewhere, key, description, budget="measure", budget_rank=2,
                         fingerprint="0123456789abcdef")
    kwargs = dict(space=space, profilers=profilers, isolation="none")
    hinted = sktune.profile(est, X, y, budget="estimate", **kwargs)
    assert hinted.origin == {"source": "estimate", "from": "hint"}
    assert hinted.best == Config(n_jobs=2, backend="threading")
    assert "another machine" in hinted.recommendation.explanation
    measured = sktune.profile(est, X, y, budget="quick", **kwargs)
    assert measured.origin == {"source": "measured"}


def test_estimate_with_wisdom_here_returns_the_measurement(data, monkeypatch):
    X, y = data
    est = DecisionTreeClassifier(random_state=0)
    first = _profile(est, X, y)
    monkeypatch.setattr(profile_module, "make_runner", lambda *a, **k: pytest.fail("timed"))
    again = sktune.recommend(est, X, y, space=SPACE)
    assert again.origin["source"] == "wisdom" and again.best == first.best
