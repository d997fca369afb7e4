"""The steps profiler: per-step times in this process and in joblib workers."""

import os
import pickle

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.datasets import make_classification
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from sktune import Config
from sktune._estimators import iter_estimators
from sktune._trials.local import Runner
from sktune.profilers import TracemallocProfiler, get_profiler
from sktune.profilers import steps as steps_module
from sktune.profilers.steps import StepsProfiler
from sktune.workload import Workload

from _helpers import FakeClock


def _python_loop(X):
    out = np.empty_like(X)
    for i in range(X.shape[0]):
        out[i] = np.tanh(X[i])
    return out


def _issue_pipeline():
    numeric = make_pipeline(StandardScaler())
    ct = ColumnTransformer([("num", numeric, [0, 1, 2, 3]),
                            ("cat", OneHotEncoder(handle_unknown="ignore"), [4])])
    return make_pipeline(ct, PCA(n_components=3, random_state=0),
                         FunctionTransformer(_python_loop),
                         LogisticRegression(max_iter=200))


def _issue_data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[:, 4] = rng.integers(0, 4, size=n)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


def _run(profiler, estimator, call):
    """Instrument a clone, run ``call(clone)`` between start and stop."""
    est = profiler.instrument(clone(estimator))
    profiler.start()
    try:
        call(est)
    finally:
        record = profiler.stop()
    return est, record


def _rows(record):
    return {(r["step"], r["method"]): r for r in record["steps"]}


def test_iter_estimators_names_every_step_of_compositions():
    paths = [p for p, _ in iter_estimators(_issue_pipeline())]
    assert paths == ["", "columntransformer", "columntransformer__num",
                     "columntransformer__num__standardscaler", "columntransformer__cat",
                     "pca", "functiontransformer", "logisticregression"]
    union = FeatureUnion([("a", StandardScaler()), ("b", "drop")])
    assert [p for p, _ in iter_estimators(union)] == ["", "a"]
    ttr = TransformedTargetRegressor(regressor=LinearRegression(),
                                     transformer=StandardScaler())
    assert [p for p, _ in iter_estimators(ttr)] == ["", "regressor", "transformer"]
    search = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression()), {})
    assert [p for p, _ in iter_estimators(search)] == [
        "", "estimator", "estimator__standardscaler", "estimator__logisticregression"]


def test_instrumented_clone_behaves_like_the_original():
    pipe = _issue_pipeline()
    profiler = StepsProfiler()
    try:
        est = profiler.instrument(clone(pipe))
        assert isinstance(est, type(pipe)) and type(est) is not type(pipe)
        assert repr(est) == repr(pipe)
        # available_if keeps hiding what the last step lacks.
        assert hasattr(est, "transform") == hasattr(pipe, "transform")
        assert hasattr(est, "predict_proba")
        # clone() and pickle keep the timed class; the user's objects never change.
        assert type(clone(est)) is type(est)
        again = pickle.loads(pickle.dumps(est))
        assert type(again) is type(est)
        assert type(again.steps[2][1]) is type(est.steps[2][1])
        assert type(pipe) is type(_issue_pipeline())
        assert all(type(s) is type(o) for (_, s), (_, o)
                   in zip(iter_estimators(pipe), iter_estimators(_issue_pipeline())))
        X, y = _issue_data()
        np.testing.assert_allclose(est.fit(X, y).predict_proba(X),
                                   clone(pipe).fit(X, y).predict_proba(X))
    finally:
        profiler.close()


def test_self_times_add_up_with_a_fake_clock(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(steps_module, "_clock", clock)

    class Costly(TransformerMixin, BaseEstimator):
        def __init__(self, cost=1.0):
            self.cost = cost

        def fit(self, X, y=None):
            clock.advance(self.cost)
            return self

        def transform(self, X):
            clock.advance(self.cost / 10)
            return X

    pipe = make_pipeline(Costly(1.0), Costly(2.0), LinearRegression())
    profiler = StepsProfiler()
    try:
        X, y = np.ones((20, 2)), np.arange(20.0)
        _, record = _run(profiler, pipe, lambda est: est.fit(X, y))
    finally:
        profiler.close()
    rows = _rows(record)
    # TransformerMixin.fit_transform calls the timed fit and transform inside.
    assert rows[("costly-1", "fit_transform")]["seconds"] == pytest.approx(1.1)
    assert rows[("costly-1", "fit_transform")]["self_seconds"] == pytest.approx(0.0)
    assert rows[("costly-1", "fit")]["self_seconds"] == pytest.approx(1.0)
    assert rows[("costly-2", "transform")]["self_seconds"] == pytest.approx(0.2)
    root = rows[("", "fit")]
    assert root["seconds"] == pytest.approx(3.3)
    assert root["self_seconds"] == pytest.approx(0.0)
    total_self = sum(r["self_seconds"] for r in record["steps"])
    assert total_self == pytest.approx(root["seconds"])
    assert record["failed_step"] is None


# multiprocessing forks its pool inside GridSearchCV.fit: the children
# inherit a stack of timed frames that must not make their calls "inner".
# (Nothing here runs OpenMP in the children, so the fork is safe.)
@pytest.mark.parametrize("backend", ["loky", "multiprocessing"])
def test_grid_search_inner_fits_come_back_from_workers(backend):
    X, y = make_classification(n_samples=300, n_features=8, random_state=0)
    search = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression()),
                          {"logisticregression__C": [0.1, 1.0, 10.0]}, cv=4, n_jobs=2)
    profiler = StepsProfiler()
    try:
        with parallel_config(backend=backend):
            _, record = _run(profiler, search, lambda est: est.fit(X, y))
            # A second trial reads only its own events from the workers' files.
            _, again = _run(profiler, search, lambda est: est.fit(X, y))
        directory = profiler._spec[0]
        assert any(name.endswith(".events") for name in os.listdir(directory))
    finally:
        profiler.close()
    assert not os.path.exists(directory)  # removed at close
    calls = {key: row["calls"] for key, row in _rows(record).items()}
    assert {key: row["calls"] for key, row in _rows(again).items()} == calls
    rows = _rows(record)
    assert rows[("estimator", "fit")]["calls"] == 3 * 4 + 1  # + the refit
    assert rows[("estimator__logisticregression", "fit")]["calls"] == 3 * 4 + 1
    # Scoring calls come back too (predict/score of the inner pipeline).
    assert any(step == "estimator" and method != "fit" for step, method in rows)


def test_a_failing_step_is_named_and_the_run_goes_on():
    def boom(X):
        raise ValueError("bad column")

    pipe = make_pipeline(StandardScaler(), FunctionTransformer(boom), LinearRegression())
    profiler = StepsProfiler()
    try:
        X, y = np.ones((10, 2)), np.arange(10.0)
        est = profiler.instrument(clone(pipe))
        profiler.start()
        with pytest.raises(ValueError, match="bad column"):
            est.fit(X, y)
        record = profiler.stop()
        # The innermost step that raised, not the pipeline around it.
        assert record["failed_step"] == "functiontransformer.transform"
        rows = _rows(record)
        assert "bad column" in rows[("functiontransformer", "fit_transform")]["error"]
        assert "error" in rows[("", "fit")]
        assert "error" not in rows[("standardscaler", "fit_transform")]
        # The profiler is usable for the next trial.
        _, record = _run(profiler, pipe[:1], lambda est: est.fit(X, y))
        assert record["failed_step"] is None
    finally:
        profiler.close()


class _FailsUnderThreading(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        from joblib.parallel import get_active_backend

        if type(get_active_backend()[0]).__name__.startswith(("Threading", "Capped")):
            raise RuntimeError("not thread-safe")
        return self

    def transform(self, X):
        return X


def test_runner_records_the_step_that_raised():
    X, y = np.ones((20, 2)), np.arange(20.0)
    pipe = make_pipeline(_FailsUnderThreading(), LinearRegression())
    candidates = [Config(), Config(n_jobs=2, backend="threading")]
    profilers = [StepsProfiler(), get_profiler("wall")]
    runner = Runner(Workload(pipe, X, y, "fit"), candidates, profilers)
    try:
        assert runner.visit(0, 0)["failed_step"] is None
        assert runner.visit(1, 0) is None
    finally:
        for p in profilers:
            p.close()
    failed = [r for r in runner.records if r["error"]]
    assert failed and failed[0]["failed_step"] == "_failsunderthreading.fit"
    assert "not thread-safe" in failed[0]["error"]


def test_tracemalloc_peaks_per_step_and_overall():
    import tracemalloc

    size = 8 * 1024 * 1024

    def allocate(X):
        block = np.ones(size // 8)  # 8 MiB, freed on return
        return X + block[:1]

    pipe = make_pipeline(StandardScaler(), FunctionTransformer(allocate))
    steps, pyalloc = StepsProfiler(), TracemallocProfiler()
    X = np.ones((100, 3))
    was_tracing = tracemalloc.is_tracing()
    try:
        est = steps.instrument(clone(pipe))
        pyalloc.start()
        steps.start()
        est.fit_transform(X)
        record = {**steps.stop(), **pyalloc.stop()}
    finally:
        steps.close()
        pyalloc.close()
    assert tracemalloc.is_tracing() == was_tracing
    rows = _rows(record)
    ft = rows[("functiontransformer", "fit_transform")]["alloc_peak_bytes"]
    scaler = rows[("standardscaler", "fit_transform")]["alloc_peak_bytes"]
    assert ft >= size and scaler < size / 4
    # The whole call's peak includes its children's, despite their resets.
    assert rows[("", "fit_transform")]["alloc_peak_bytes"] >= size
    assert record["py_alloc_peak_bytes"] >= size


def test_randomized_search_feature_union_and_target_regressor_are_timed():
    # Every composition the issue names, timed (not only named): the inner
    # fits of a RandomizedSearchCV, a FeatureUnion's parts (its own n_jobs=2,
    # nested inside the loky workers) and a TransformedTargetRegressor's regressor
    # and transformer, which it clones before fitting.
    from scipy.stats import loguniform
    from sklearn.model_selection import RandomizedSearchCV

    X, y = make_classification(n_samples=300, n_features=8, random_state=0)
    union = FeatureUnion([("scale", StandardScaler()), ("pca", PCA(n_components=2))],
                         n_jobs=2)
    search = RandomizedSearchCV(make_pipeline(union, LogisticRegression()),
                                {"logisticregression__C": loguniform(1e-2, 1e2)},
                                n_iter=4, cv=3, n_jobs=2, random_state=0)
    ttr = TransformedTargetRegressor(regressor=LinearRegression(),
                                     transformer=StandardScaler())
    profiler = StepsProfiler()
    try:
        with parallel_config(backend="loky"):
            _, record = _run(profiler, search, lambda est: est.fit(X, y))
        _, ttr_record = _run(profiler, ttr, lambda est: est.fit(X, y.astype(float)))
    finally:
        profiler.close()
    rows = _rows(record)
    assert rows[("estimator", "fit")]["calls"] == 4 * 3 + 1
    for part in ("scale", "pca"):
        assert rows[(f"estimator__featureunion__{part}", "fit_transform")]["calls"] == 4 * 3 + 1
    rows = _rows(ttr_record)
    assert rows[("regressor", "fit")]["calls"] == 1
    assert any(step == "transformer" for step, _ in rows)
    assert rows[("", "fit")]["seconds"] >= rows[("regressor", "fit")]["seconds"]
