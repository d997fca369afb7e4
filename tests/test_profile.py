import os
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sktune
from sktune import Config, ConfigSpace, InvalidParameterError, WorkloadError, _measure
from sktune import _profile as profile_module
from sktune._trials import state as _state
from sktune.profilers import CPUTimeProfiler, WallClockProfiler

from _helpers import CallCounter, CostlyEstimator, FakeClock, noiseless_interval

SPACE = ConfigSpace(n_jobs=[1, 2], backend=["loky", "threading"])


@pytest.fixture
def data():
    return make_classification(n_samples=200, n_features=5, random_state=0)


@pytest.fixture
def fake_clock(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(_measure, "_now", clock)
    return clock


def _fake_profilers(clock):
    return [CPUTimeProfiler(cpu_clock=clock), WallClockProfiler(clock=clock)]


def test_profile_fake_clock_recommends_two_jobs(data, fake_clock):
    # Check, with an injected clock, that a config twice as fast is found,
    # with an exact speedup of 2 and warm-ups excluded from the statistics.
    X, y = data
    est = CostlyEstimator(clock=fake_clock, cost={1: 1.0, 2: 0.5})
    result = sktune.profile(est, X, y, space=SPACE, isolation="none",
                            profilers=_fake_profilers(fake_clock))
    assert result.best.n_jobs == 2
    assert result.speedup.value == 2.0
    assert (result.speedup.low, result.speedup.high) == pytest.approx(noiseless_interval(2.0))
    trials = result.trials
    first = trials.groupby("config_index").head(1)
    assert (first["phase"] == "warmup").all()  # checklist 14: first run is a warm-up
    assert result.search["stop_reason"] == "the ranking is settled"


def test_profile_fake_clock_nothing_helps(data, fake_clock):
    # Check that a 1% gain is reported as no gain and the as-written config kept.
    X, y = data
    est = CostlyEstimator(clock=fake_clock, cost={1: 1.0, 2: 0.99})
    result = sktune.profile(est, X, y, space=SPACE, isolation="none",
                            profilers=_fake_profilers(fake_clock))
    assert result.best == Config()
    assert result.recommendation.verdict == "no gain"
    assert "keep it as written" in str(result)


def test_profile_failing_candidate_is_recorded_not_recommended(data, fake_clock):
    # Check that candidates that raise are recorded with their error, never
    # recommended, and that profiling continues with the others.
    X, y = data
    est = CostlyEstimator(clock=fake_clock, cost={1: 1.0, 2: 0.5}, fail_with=2)
    result = sktune.profile(est, X, y, space=SPACE, isolation="none",
                            profilers=_fake_profilers(fake_clock))
    summary = result.summary()
    failed = summary[summary.status == "failed"]
    assert len(failed) == 2 and failed.detail.str.contains("boom at n_jobs=2").all()
    assert result.best == Config()
    assert "failed" in str(result)


def test_profile_does_not_touch_the_estimator(data, fake_clock):
    # Check that the user's estimator keeps its parameters (random_state=None
    # is seeded on sktune's copy only; checklist 20).
    X, y = data
    est = CostlyEstimator(clock=fake_clock, cost={1: 1.0, 2: 0.5})
    before = est.get_params()
    result = sktune.profile(est, X, y, space=SPACE, isolation="none",
                            profilers=_fake_profilers(fake_clock))
    assert est.get_params() == before and est.random_state is None
    assert not hasattr(est, "classes_")
    assert any("random_state=None" in note for note in result.notes)


@pytest.mark.parametrize("exc", [ValueError("late failure"), KeyboardInterrupt()],
                         ids=["raise", "ctrl-c"])
def test_profile_restores_state_on_every_exit(data, fake_clock, exc):
    # Check that thread limits, joblib and sklearn config and the environment
    # are identical after a run interrupted inside a trial under BLAS/OpenMP
    # limits (checklist 4).
    X, y = data
    counter = CallCounter(at=6, exc=exc)
    est = CostlyEstimator(clock=fake_clock, cost={1: 1.0}, raise_on_call=counter)
    space = ConfigSpace(n_jobs=[2], backend=["threading"], blas_threads=[1],
                        openmp_threads=[1])
    before = _state.snapshot()
    params = est.get_params()
    if isinstance(exc, KeyboardInterrupt):
        # Ctrl-C returns what was measured, marked, with a warning.
        with pytest.warns(sktune.SktuneWarning, match="interrupted"):
            result = sktune.profile(est, X, y, space=space, isolation="none",
                                    profilers=_fake_profilers(fake_clock))
        assert result.search["interrupted"]
        assert result.search["stop_reason"] == "it was interrupted (Ctrl-C)"
        assert any(r["phase"] == "timed" for r in result.records)
    else:  # a candidate that raises is recorded and profiling goes on
        result = sktune.profile(est, X, y, space=space,
                                isolation="none",
                            profilers=_fake_profilers(fake_clock))
        assert "late failure" in " ".join(result.summary().detail.dropna())
    assert _state.snapshot() == before
    assert est.get_params() == params


def test_profile_restores_state_real_run(data):
    # Check the same on a real run of a real forest with real backends.
    X, y = data
    before = _state.snapshot()
    os_env = dict(os.environ)
    sktune.profile(RandomForestClassifier(n_estimators=5, random_state=0), X, y,
                   space=ConfigSpace(n_jobs=[2], backend=["loky", "threading"],
                                     blas_threads=[1]), budget="quick")
    assert _state.snapshot() == before
    assert dict(os.environ) == os_env


class _NoRunner:
    def __init__(self, *args, **kwargs):
        raise AssertionError("a trial ran before validation finished")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"estimator": "abc"}, "'estimator' parameter of profile"),
        ({"estimator": RandomForestClassifier}, "'estimator' parameter of profile"),
        ({"y": np.zeros(10)}, "'y' parameter of profile must have the same number"),
        ({"X": np.empty((0, 5)), "y": np.empty(0)}, "'X' parameter of profile must be a non"),
        ({"X": None}, "'X' parameter of profile"),
        ({"task": "explode"}, "'task' parameter of profile"),
        ({"estimator": PCA(), "task": "predict"}, "PCA has no method 'predict'"),
        ({"space": {"n_jobs": [2]}}, "'space' parameter of profile"),
        ({"budget": "forever"}, "The 'budget' parameter of profile must be a str among "
                                r"\['estimate', 'exhaustive', 'measure', 'quick'\] or a "
                                r"float in the range \(0, inf\). Got 'forever' instead."),
        ({"budget": -3}, "'budget' parameter of profile"),
        ({"profilers": ["wal"]}, "The 'profilers' parameter of profile must be a list of "
                                 "Profiler instances or of str among"),
        ({"profilers": ["cpu"]}, "must include the 'wall' profiler"),
        ({"min_effect": 2.0}, "'min_effect' parameter of profile"),
    ],
    ids=lambda v: str(v)[:40] if isinstance(v, str) else None,
)
def test_profile_bad_input_fails_before_timing(data, monkeypatch, kwargs, match):
    # Check that bad input is refused, naming the argument, before any trial.
    monkeypatch.setattr(profile_module, "make_runner", _NoRunner)
    X, y = data
    args = {"estimator": LogisticRegression(), "X": X, "y": y, **kwargs}
    with pytest.raises(InvalidParameterError, match=match) as info:
        sktune.profile(args.pop("estimator"), args.pop("X"), args.pop("y"), **args)
    assert isinstance(info.value, ValueError) and isinstance(info.value, sktune.SktuneError)


@pytest.mark.parametrize("space_kwargs", [{"n_jobs": [0]}, {"n_jobs": [-2]},
                                          {"backend": ["lokyy"]}])
def test_custom_space_bad_values(space_kwargs):
    # Check that a custom space with a non-positive n_jobs or an unknown backend
    # is refused when it is built, with the parameter named.
    with pytest.raises(ValueError, match="n_jobs|backend"):
        ConfigSpace(**space_kwargs)


def test_profile_estimator_failing_on_data_chains_error():
    # Check that an estimator that cannot fit the data raises WorkloadError
    # with the estimator's own exception chained, before any timing.
    X, y = make_classification(n_samples=50, random_state=0)
    with pytest.raises(WorkloadError, match="failed on the data as written") as info:
        sktune.profile(HistGradientBoostingClassifier(), sp.csr_matrix(X), y)
    assert isinstance(info.value.__cause__, TypeError)


# -- real estimators (issue 2, "what it must show") --------------------------

def _no_future_warnings(result):
    return all("FutureWarning" not in w for w in result.trials["warnings"])


@pytest.mark.slow
def test_profile_random_forest(data):
    # Check a real forest: joblib dimensions measured, no failures, and a
    # result that round-trips through JSON.
    X, y = data
    result = sktune.profile(RandomForestClassifier(n_estimators=10, random_state=0),
                            X, y, budget="quick", isolation="none")
    backends = {c.backend for c in result.candidates}
    assert {"loky", "threading"} <= backends
    assert (result.summary().status != "failed").all()
    # The pick is the rule's: a faster candidate beyond noise, or as written.
    stats = {s.config: s for s in result.stats}
    if result.recommendation.verdict == "faster":
        assert result.speedup.low > 1 and stats[result.best].status == "ok"
    else:
        assert result.best == Config()


@pytest.mark.slow
def test_profile_grid_search_logistic_regression(data):
    # Check a GridSearchCV over scaler + LogisticRegression: n_jobs only on the
    # search, never on LogisticRegression, and no FutureWarning (checklist 3).
    X, y = data
    gs = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression()),
                      {"logisticregression__C": [0.1, 1.0]}, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        result = sktune.profile(gs, X, y, budget="quick", isolation="none")
    assert _no_future_warnings(result)
    assert result.workload["layers"]["n_jobs_params"] == ["n_jobs"]
    assert any("deprecated" in n for n in result.notes)


@pytest.mark.slow
def test_profile_hist_gradient_boosting_multiprocessing_excluded(data):
    # Check that HGBT varies OpenMP threads only, and that a requested
    # multiprocessing candidate is left out with its reason, never run (item 10).
    X, y = data
    est = HistGradientBoostingClassifier(max_iter=10)
    result = sktune.profile(est, X, y, budget="quick", isolation="none")
    assert all(c.n_jobs is None and c.backend is None for c in result.candidates)
    space = ConfigSpace(n_jobs=[2], backend=["multiprocessing"], openmp_threads=[1])
    result = sktune.profile(clone(est), X, y, space=space, budget="quick", isolation="none")
    assert [c.backend for c, _ in result.excluded] == ["multiprocessing"]
    assert "OpenMP" in result.excluded[0][1]
    assert "Not run" in str(result)


@pytest.mark.slow
def test_profile_no_parallelism_says_nothing_helps(data):
    # Check that a pipeline with nothing to tune recommends the as-written config.
    from sklearn.tree import DecisionTreeClassifier

    X, y = data
    result = sktune.profile(make_pipeline(StandardScaler(), DecisionTreeClassifier()),
                            X, y, budget="quick", isolation="none")
    assert result.best == Config()
    assert result.recommendation.verdict in ("nothing to vary", "no gain")
    assert "as written" in str(result)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["predict", "score", "transform"])
def test_profile_other_tasks(data, task):
    # Check that predict/score/transform are timed on an estimator fitted once
    # per configuration.
    X, y = data
    est = (make_pipeline(StandardScaler(), PCA(n_components=3)) if task == "transform"
           else RandomForestClassifier(n_estimators=5, random_state=0))
    result = sktune.profile(est, X, y, task=task, budget="quick",
                            space=ConfigSpace(n_jobs=[2], backend=["threading"]), isolation="none")
    assert result.workload["data"]["task"] == task
    assert (result.summary().status == "ok").all()


@pytest.mark.slow
def test_profile_output_difference_excludes_candidate(data, monkeypatch):
    # Check that a candidate whose output differs from the baseline's is
    # reported and excluded (checklist 19), with a fake config-dependent output.
    from sktune import workload as workload_mod

    X, y = data
    calls = {"n": 0}
    original = workload_mod.Workload.output

    def shifted(self, fitted, result):
        out = original(self, fitted, result)
        calls["n"] += 1
        return out if calls["n"] == 1 else out + 0.3

    monkeypatch.setattr(workload_mod.Workload, "output", shifted)
    # In process: the patched method does not reach a worker process.
    result = sktune.profile(RandomForestClassifier(n_estimators=5, random_state=0),
                            X, y, budget="quick", isolation="none",
                            space=ConfigSpace(n_jobs=[2], backend=["threading"]))
    assert result.summary().set_index("config").loc[
        "n_jobs=2, backend=threading", "status"] == "differs"
    assert result.best == Config()


def test_profile_small_workload_prefers_one_core(monkeypatch):
    # Check, on an injected clock, that where two workers are within noise of
    # one (start-up eats the gain on small data), the one-core configuration
    # is recommended and the size is flagged (checklist item 29). Real
    # timings of small forests are shown by benchmarks/bench_recommend.py,
    # not asserted here.
    clock = FakeClock()
    monkeypatch.setattr(_measure, "_now", clock)
    est = CostlyEstimator(clock=clock, cost={1: 0.050, 2: 0.049})
    X, y = make_classification(n_samples=300, n_features=10, random_state=0)
    result = sktune.profile(est, X, y, budget="quick", isolation="none", wisdom=False,
                            space=ConfigSpace(n_jobs=[1, 2], backend=["threading"]),
                            profilers=[WallClockProfiler(clock=clock)])
    assert result.best.n_jobs in (None, 1)
    assert any("overhead dominates" in c for c in result.recommendation.caveats)


def test_environment_notes_flag_throttling_and_load():
    # Check that cgroup throttling during the run and a busy machine before it
    # are reported as noise (checklist 30).
    before = {"load_avg": [3.0, 1.0, 1.0], "busy_share": 0.6,
              "throttle": {"nr_throttled": 5}}
    after = {"load_avg": [3.0, 1.0, 1.0], "throttle": {"nr_throttled": 9}}
    notes = _measure.environment_notes(before, after, usable=2)
    assert any("throttled this process 4 times" in n for n in notes)
    assert any("60% of the CPUs busy" in n and "load average 3.0" in n for n in notes)
    # A high load average left by sktune's own previous run is not noise.
    quiet = {"load_avg": [1.9, 1.0, 1.0], "busy_share": 0.02,
             "throttle": {"nr_throttled": 5}}
    assert _measure.environment_notes(quiet, quiet, usable=2) == []


@pytest.mark.slow
def test_profile_fit_predict_and_dataframe_input(data):
    # Check fit_predict on a clusterer, and that a DataFrame is profiled as a
    # DataFrame (checklist 28).
    import pandas as pd
    from sklearn.cluster import KMeans

    X, _ = data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    result = sktune.profile(KMeans(n_clusters=3, n_init=1), frame, task="fit_predict",
                            budget="quick", isolation="none")
    assert result.workload["data"]["type"] == "pandas.DataFrame"
    assert all(c.n_jobs is None for c in result.candidates)  # KMeans: OpenMP only
    assert (result.summary().status == "ok").all()


def test_profile_baseline_failing_late_raises(data, fake_clock):
    # Check that a baseline-only run whose later repeat raises is an error,
    # not a result with a failed baseline.
    X, y = data
    est = CostlyEstimator(clock=fake_clock, cost={1: 1.0},
                          raise_on_call=CallCounter(at=3, exc=RuntimeError("late")))
    with pytest.raises(WorkloadError, match="failed during profiling") as info:
        sktune.profile(est, X, y, space=ConfigSpace(),
                       isolation="none",
                            profilers=_fake_profilers(fake_clock))
    assert isinstance(info.value.__cause__, RuntimeError)


def test_profile_candidate_whose_apply_fails_is_recorded(data, fake_clock):
    # Check that a configuration joblib refuses when it is applied fails that
    # candidate only.
    from joblib.parallel import BACKENDS, register_parallel_backend

    def broken_backend(**kwargs):
        raise RuntimeError("this backend cannot start")

    register_parallel_backend("broken", broken_backend)
    try:
        X, y = data
        est = CostlyEstimator(clock=fake_clock, cost={1: 1.0, 2: 0.5})
        result = sktune.profile(est, X, y, profilers=_fake_profilers(fake_clock), isolation="none",
                                space=ConfigSpace(n_jobs=[2], backend=["broken", "threading"]))
    finally:
        BACKENDS.pop("broken")
    summary = result.summary().set_index("config")
    assert summary.loc["n_jobs=2, backend=broken", "status"] == "failed"
    assert result.best == Config(n_jobs=2, backend="threading")


def test_profile_verbose_leaves_logging_as_it_was(data, fake_clock, capsys):
    # Check that verbose=1 logs progress to stderr and restores the loggers.
    import logging

    root_handlers = list(logging.getLogger().handlers)
    logger = logging.getLogger("sktune")
    level, handlers = logger.level, list(logger.handlers)
    X, y = data
    est = CostlyEstimator(clock=fake_clock, cost={1: 1.0, 2: 0.5})
    sktune.profile(est, X, y, space=SPACE, profilers=_fake_profilers(fake_clock), isolation="none",
                   verbose=1)
    assert "sktune: round 1 done" in capsys.readouterr().err
    assert logging.getLogger().handlers == root_handlers
    assert (logger.level, logger.handlers) == (level, handlers)


def test_space_keeps_backend_for_written_parallel_estimator():
    # Check that forcing a backend on an estimator written with n_jobs=-1 is a
    # real candidate, not collapsed into the baseline.
    from sktune._introspect import inspect_layers

    rf = RandomForestClassifier(n_jobs=-1)
    space = ConfigSpace(backend=["loky", "threading"])
    resolved = space.resolve(inspect_layers(rf), usable_cores=2, as_written_n_jobs=[-1])
    assert [c.backend for c in resolved.candidates] == [None, "loky", "threading"]
    assert ConfigSpace(n_jobs=np.array([1, 2])).dimensions["n_jobs"] == [1, 2]
