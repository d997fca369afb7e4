"""Big workloads: probed on a proxy, timed on proxies, predicted, confirmed, in bounded time.

The logic is checked on an injected clock (the estimator's fit advances it
by a fixed cost plus a cost per unit), so every prediction is exact and the
budget can be checked to the second; one real forest checks that the same
path runs in the worker process with real estimators.
"""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

import sktune
from sktune import ConfigSpace, InvalidParameterError, SktuneWarning, _measure
from sktune._proxies import UNIT_KINDS, UnitKind, UnitSite
from sktune.profilers import CPUTimeProfiler, WallClockProfiler
from sktune.results import ProfileResult

from _helpers import CostlyEstimator, FakeClock, noiseless_interval

SPACE = ConfigSpace(n_jobs=[2], backend=["threading"])


class UnitsEstimator(ClassifierMixin, BaseEstimator):
    """Its fit 'takes' ``fixed[n] + per_unit[n] * n_units`` seconds of a fake clock."""

    def __init__(self, clock=None, n_units=1000, fixed=None, per_unit=None, n_jobs=None,
                 random_state=None):
        self.clock = clock
        self.n_units = n_units
        self.fixed = fixed
        self.per_unit = per_unit
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, y=None):
        import joblib

        with joblib.parallel_config():
            n = joblib.effective_n_jobs(self.n_jobs)
        self.clock.advance(self.fixed[n] + self.per_unit[n] * self.n_units)
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


class FakeUnits(UnitKind):
    """The units of :class:`UnitsEstimator`: one new kind is one class in the table."""

    name, what = "fake_units", "units"

    @classmethod
    def find(cls, path, step, workload, workers):
        if isinstance(step, UnitsEstimator):
            return UnitSite(cls.name, path, "n_units", step.n_units, 8, cls.what)
        return None


@pytest.fixture
def clock(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(_measure, "_now", clock)
    monkeypatch.setitem(UNIT_KINDS, FakeUnits.name, FakeUnits)
    return clock


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=200, n_features=5, random_state=0)


def _estimator(clock, **kwargs):
    # As written (n_jobs=None, one worker): 1 + 0.1 * 1000 = 101 s.
    # Two workers: 3 + 0.05 * 1000 = 53 s, a speedup of 101 / 53.
    return UnitsEstimator(clock=clock, fixed={1: 1.0, 2: 3.0},
                          per_unit={1: 0.1, 2: 0.05}, **kwargs)


def _profile(estimator, X, y, clock, **kwargs):
    return sktune.profile(estimator, X, y, space=SPACE, isolation="none", wisdom=False,
                          profilers=[CPUTimeProfiler(cpu_clock=clock),
                                     WallClockProfiler(clock=clock)], **kwargs)


def test_a_big_workload_is_timed_on_proxies_and_its_speedup_predicted_exactly(clock, data):
    X, y = data
    estimator = _estimator(clock)
    started = clock()
    result = _profile(estimator, X, y, clock, budget=60.0, confirm=False)
    spent = clock() - started
    extrapolation = result.extrapolation
    assert extrapolation["site"]["full"] == 1000 and extrapolation["sizes"][0] == 8
    assert extrapolation["probe"]["warm_s"] == pytest.approx(1.8)
    sizes = extrapolation["sizes"]
    assert len(sizes) >= 2 and max(sizes) <= 500
    # Only proxies ran (the probes' 8 and 16, then the sizes): no full fit (101 s).
    assert {r["units"] for r in result.records} <= {8, 16, *sizes}
    assert extrapolation["probe"]["estimated_full_s"] == pytest.approx(101.0)
    assert result.stats[0].median == pytest.approx(101.0)
    assert result.best.n_jobs == 2
    assert result.speedup.value == pytest.approx(101 / 53)
    # Exact predictions: the interval is the between-run noise alone.
    assert (result.speedup.low, result.speedup.high) == pytest.approx(
        noiseless_interval(101 / 53))
    assert result.models[0].fixed_s == pytest.approx(1.0)
    assert result.models[1].per_unit_s == pytest.approx(0.05)
    # The hard budget: no trial starts once it is spent, so the search ends
    # within the budget plus one run of the largest proxy.
    largest = max(1.0 + 0.1 * sizes[-1], 3.0 + 0.05 * sizes[-1])
    assert spent <= 60.0 + largest
    assert estimator.get_params()["n_units"] == 1000  # nothing of the user's changed
    text = str(result)
    assert "Extrapolated" in text and "predicted" in text and "proxies of" in text
    assert "100.0 ms per unit, 101.00 s at 1000" in text
    again = ProfileResult.from_dict(result.to_dict())
    assert again == result and again.speedup.value == pytest.approx(result.speedup.value)


def test_confirm_times_both_at_full_size_and_reports_the_measured_speedup(clock, data):
    X, y = data
    result = _profile(_estimator(clock), X, y, clock, budget=60.0, confirm=True)
    confirm = result.extrapolation["confirm"]
    assert confirm["runs"] == {"0": [101.0, 101.0], "1": [53.0, 53.0]}
    assert confirm["measured_speedup"] == pytest.approx(101 / 53)
    assert "Confirmed at full size: 1.91x measured against 1.91x predicted." in \
        result.recommendation.explanation
    confirms = [r for r in result.records if r["phase"] == "confirm"]
    assert [r["config"] for r in confirms] == [0, 1, 1, 0]  # interleaved, ABBA
    # Confirmation runs are no statistic of the search.
    assert len(result.stats[0].wall) == result.search["rounds"]


def test_auto_confirm_is_skipped_with_its_cost_when_the_budget_is_spent(clock, data):
    X, y = data
    result = _profile(_estimator(clock), X, y, clock, budget=60.0)
    confirm = result.extrapolation["confirm"]
    assert "skipped" in confirm and confirm["cost_s"] == pytest.approx(154.0)
    assert not [r for r in result.records if r["phase"] == "confirm"]
    assert any("Not confirmed at full size" in c for c in result.recommendation.caveats)


def test_auto_confirm_has_time_kept_for_it_where_the_proxies_fit_in_the_rest(clock, data):
    # 250 s: the race on proxies ends CONFIRM_RESERVE_FITS estimated
    # as-written runs (1.6 x 101 s) early, and one full-size pair follows.
    X, y = data
    started = clock()
    result = _profile(_estimator(clock), X, y, clock, budget=250.0)
    spent = clock() - started
    extrapolation = result.extrapolation
    reserve = _measure.CONFIRM_RESERVE_FITS * 101.0
    assert extrapolation["budget_s"] == 250.0
    assert extrapolation["race_s"] == pytest.approx(250.0 - reserve)
    largest = 1.0 + 0.1 * extrapolation["sizes"][-1]
    assert result.search["elapsed_s"] <= 250.0 - reserve + largest
    assert extrapolation["confirm"]["runs"] == {"0": [101.0], "1": [53.0]}
    assert spent <= 250.0 + largest
    # confirm=False keeps no time back: the race has the whole budget.
    alone = _profile(_estimator(clock), X, y, clock, budget=250.0, confirm=False)
    assert alone.extrapolation["race_s"] == 250.0
    assert alone.search["rounds"] > result.search["rounds"]


def test_a_pick_slower_at_full_size_than_predicted_is_not_recommended(clock, data):
    # Two workers predicted faster, but at full size (1000 units) they meet a
    # cost no proxy showed: the confirmation catches it.
    X, y = data

    class Surprise(UnitsEstimator):
        def fit(self, X, y=None):
            super().fit(X, y)
            if self.n_units == 1000 and self.per_unit is not None:
                import joblib

                with joblib.parallel_config():
                    if joblib.effective_n_jobs(self.n_jobs) == 2:
                        self.clock.advance(100.0)
            return self

    monkey = Surprise(clock=clock, fixed={1: 1.0, 2: 3.0}, per_unit={1: 0.1, 2: 0.05})
    result = _profile(monkey, X, y, clock, budget=60.0, confirm=True)
    assert result.extrapolation["confirm"]["measured_speedup"] < 1
    assert result.best == sktune.Config() and result.recommendation.verdict == "no gain"
    assert "at full size it measured" in result.recommendation.explanation


def test_the_hard_budget_holds_under_racing_that_never_settles(clock, data):
    # Equal candidates never settle: only the budget stops the search.
    X, y = data
    estimator = UnitsEstimator(clock=clock, fixed={1: 1.0, 2: 1.0},
                               per_unit={1: 0.1, 2: 0.1})
    for budget in (60.0, 100.0, 200.0):
        started = clock()
        result = _profile(estimator, X, y, clock, budget=budget, confirm=False)
        sizes = result.extrapolation["sizes"]
        assert clock() - started <= budget + 1.0 + 0.1 * sizes[-1]
        assert result.search["stop_reason"] in (f"time budget of {budget:g} s spent",
                                                "the ranking is settled",
                                                "reached 7 repeats",
                                                "no candidate left can beat the "
                                                "pipeline as written by 5%")


def test_a_budget_too_small_for_the_smallest_proxies_says_which_budget_works(clock, data):
    X, y = data
    started = clock()
    with pytest.raises(InvalidParameterError, match=r"budget=\d+ or more") as info:
        _profile(_estimator(clock), X, y, clock, budget=5.0)
    assert "8 of 1000 units" in str(info.value) and "got 5 s" in str(info.value)
    # Only the probes ran (8 units twice, 16 once): no candidate was timed.
    assert clock() - started == pytest.approx(2 * 1.8 + 2.6)
    needed = float(str(info.value).split("budget=")[1].split()[0])
    result = _profile(_estimator(clock), X, y, clock, budget=needed, confirm=False)
    assert result.extrapolation is not None


def test_a_workload_that_fits_the_budget_is_timed_at_full_size(clock, data):
    X, y = data
    small = UnitsEstimator(clock=clock, n_units=20, fixed={1: 0.1, 2: 0.1},
                           per_unit={1: 0.01, 2: 0.005})
    result = _profile(small, X, y, clock, budget=60.0)
    assert result.extrapolation is None
    assert {r["units"] for r in result.records if r["phase"] == "timed"} == {None}
    assert "Extrapolated" not in str(result)


def test_a_big_workload_without_units_warns_of_its_cost_up_front(clock, data):
    X, y = data
    big = CostlyEstimator(clock=clock, cost={1: 50.0, 2: 30.0})
    with pytest.warns(SktuneWarning, match=r"no units of work to scale down.*about 400 s"):
        result = _profile(big, X, y, clock, budget=60.0)
    assert result.extrapolation is None


def test_a_real_forest_is_extrapolated_in_the_worker_process(private_tmpdir):
    # The same path with real estimators, the isolated runner and the
    # reports; timing figures are the benchmark's (benchmarks/bench_big.py).
    X, y = make_classification(n_samples=2000, n_features=20, random_state=0)
    forest = RandomForestClassifier(n_estimators=300, random_state=0)
    result = sktune.profile(forest, X, y, budget=6.0, wisdom=False,
                            space=ConfigSpace(n_jobs=[1, 2]), confirm=False)
    extrapolation = result.extrapolation
    assert extrapolation is not None, result.search
    assert extrapolation["site"]["kind"] == "trees"
    timed = [r for r in result.records if r["phase"] == "timed"]
    assert {r["units"] for r in timed} <= set(extrapolation["sizes"])
    assert all(result.equivalence[i][0] for i in result.equivalence)
    assert set(result.models) >= {0}
    html = private_tmpdir / "big.html"
    result.report(str(html))
    assert "Extrapolation" in html.read_text()
    assert "Extrapolation" in result.report(str(private_tmpdir / "big.md")).read_text() \
        if hasattr(result.report(str(private_tmpdir / "big.md")), "read_text") \
        else (private_tmpdir / "big.md").read_text()
    assert forest.n_estimators == 300


def test_wisdom_of_one_size_predicts_another_without_timing(clock, data):
    # Check that the cost models stored as wisdom answer the same workload at
    # another size by prediction: nothing timed, the times those of the lines.
    X, y = data
    measured = sktune.profile(_estimator(clock), X, y, space=SPACE, isolation="none",
                              budget=60.0, confirm=False,
                              profilers=[CPUTimeProfiler(cpu_clock=clock),
                                         WallClockProfiler(clock=clock)])
    assert measured.origin["source"] == "measured"
    before = clock()
    bigger = _estimator(clock, n_units=4000)
    predicted = sktune.profile(bigger, X, y, space=SPACE, isolation="none", budget=60.0,
                               confirm=False,
                               profilers=[CPUTimeProfiler(cpu_clock=clock),
                                          WallClockProfiler(clock=clock)])
    assert clock() == before  # nothing ran
    assert predicted.origin["source"] == "wisdom"
    assert (predicted.origin["predicted_for"], predicted.origin["measured_full"]) == (4000, 1000)
    assert predicted.stats[0].median == pytest.approx(1.0 + 0.1 * 4000)
    assert predicted.speedup.value == pytest.approx(401 / 203)
    assert "From wisdom, predicted" in str(predicted) and "4000" in str(predicted)
    # Another structure (other fixed costs are parameters too) is not predicted.
    other = UnitsEstimator(clock=clock, n_units=4000, fixed={1: 2.0, 2: 3.0},
                           per_unit={1: 0.1, 2: 0.05})
    again = sktune.profile(other, X, y, space=SPACE, isolation="none", budget=200.0,
                           confirm=False, profilers=[CPUTimeProfiler(cpu_clock=clock),
                                                     WallClockProfiler(clock=clock)])
    assert again.origin["source"] == "measured"


def test_a_named_budget_too_small_for_proxies_is_raised_to_the_least_that_works(clock, data):
    # "quick" (20 s) cannot time two candidates on the smallest proxies of
    # this workload; full size would cost 8 runs of 101 s. The proxies are
    # timed in the least time that works, and the report says so.
    X, y = data
    started = clock()
    result = _profile(_estimator(clock), X, y, clock, budget="quick", confirm=False)
    spent = clock() - started
    named, raised = result.extrapolation["budget_raised"]
    assert named == 20.0 and 20.0 < raised < 8 * 101
    assert spent <= raised + 1.0 + 0.1 * max(result.extrapolation["sizes"])
    assert "more than the budget's 20 s" in str(result)
    # confirm="auto" adds nothing to a budget already raised.
    auto = _profile(_estimator(clock), X, y, clock, budget="quick")
    assert "raised" in auto.extrapolation["confirm"]["skipped"]
    assert not [r for r in auto.records if r["phase"] == "confirm"]
