"""Tests for the rule-based estimate behind ``profile(budget="estimate")``.

Real estimators, real ``inspect_layers`` and real ``ConfigSpace.auto()``
resolution; nothing is fitted or timed.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LassoCV, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold, LeaveOneOut, RandomizedSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from sktune._estimate import Estimate, estimate, work_facts
from sktune._introspect import inspect_layers
from sktune.space import Config, ConfigSpace
from sktune.workload import data_signature


class Opaque(BaseEstimator):
    """A class sktune's tables do not know, with an n_jobs parameter."""

    def __init__(self, n_jobs=None):
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        return self


def _data(n_samples, n_features, seed=0):
    # Only the shape matters: rules never look at the values.
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, n_features))
    return X, (X[:, 0] > 0).astype(int)


def _run(estimator, n_samples=20000, n_features=20, usable=2, X=None, gil_enabled=True):
    """Resolve the auto space as profile() does, then estimate.

    The GIL's state is given, so that the tests pass on a free-threaded build
    too; tests/test_free_threading.py checks that it is read when not given.
    """
    if X is None:
        X, y = _data(n_samples, n_features)
    else:
        y = np.arange(X.shape[0]) % 2
    layers = inspect_layers(estimator, X, y, "fit")
    # The as-written thread counts profile() passes (sktune._candidates._default_threads),
    # fixed here so that the candidates do not depend on the test machine.
    defaults = {"blas_threads": usable, "openmp_threads": usable}
    candidates = ConfigSpace.auto().resolve(
        layers, usable_cores=usable, physical_cores=usable, defaults=defaults).candidates
    signature = {**data_signature(X, y), "task": "fit"}
    result = estimate(candidates, layers, signature=signature, usable_cores=usable,
                      physical_cores=usable, work=work_facts(estimator),
                      gil_enabled=gil_enabled)
    assert isinstance(result, Estimate)
    assert 0 <= result.index < len(candidates)
    assert result.confidence in ("low", "medium")
    assert any("not a measurement" in r and "budget='quick'" in r for r in result.reasons)
    return candidates[result.index], result


def test_estimate_forest_on_large_data_uses_all_cores():
    # Check that a forest on 20000x20 gets n_jobs=2 (PITFALLS.md 8.4: 2x faster).
    config, result = _run(RandomForestClassifier(n_estimators=100))
    assert config.n_jobs == 2
    assert config.backend in ("threading", "loky")
    assert result.confidence == "medium"
    assert any("joblib threads" in r for r in result.reasons)


def test_estimate_forest_on_small_data_keeps_as_written():
    # Check that a 20-tree forest on 300x10 stays as written (2x slower on 2 threads).
    config, result = _run(RandomForestClassifier(n_estimators=20), 300, 10)
    assert config.is_as_written
    assert any("small data" in r and "costs more" in r for r in result.reasons)


def test_estimate_forest_scales_to_sixteen_cores():
    # Check that a 100-tree forest on big data gets n_jobs=16 on 16 cores.
    config, _ = _run(RandomForestClassifier(n_estimators=100), usable=16)
    assert config.n_jobs == 16
    assert config.backend in ("threading", "loky")


def test_estimate_few_units_limit_the_workers():
    # Check that 10 trees on 16 cores get at most 10 // 2 = 5 workers (here 4).
    config, _ = _run(RandomForestClassifier(n_estimators=10), usable=16)
    assert config.n_jobs == 4


@pytest.mark.parametrize("estimator", [
    HistGradientBoostingClassifier(),
    make_pipeline(StandardScaler(), PCA(n_components=5), Ridge()),
], ids=["hgb", "blas"])
def test_estimate_native_layers_keep_as_written(estimator):
    # Check that OpenMP/BLAS-only workloads stay as written (README benchmark).
    config, result = _run(estimator)
    assert config.is_as_written
    assert any("native threads only" in r for r in result.reasons)


def test_estimate_grid_search_uses_processes():
    # Check that 4 values x cv=5 on 4000x20 (21 fits) get n_jobs=2 on loky.
    grid = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression()),
                        {"logisticregression__C": [0.01, 0.1, 1, 10]}, cv=5)
    config, result = _run(grid, 4000, 20)
    assert config.n_jobs == 2
    assert config.backend == "loky"
    assert "21 fits" in result.reasons[0]


@pytest.mark.parametrize("usable, n_jobs", [(2, 2), (16, 8)])
def test_estimate_grid_search_without_gil_uses_threads(usable, n_jobs):
    # Check that with the GIL off (free-threaded build) the 21 fits run in
    # threads, each with one BLAS thread (PITFALLS.md section 6), as a low-confidence guess.
    grid = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression()),
                        {"logisticregression__C": [0.01, 0.1, 1, 10]}, cv=5)
    config, result = _run(grid, 4000, 20, usable=usable, gil_enabled=False)
    assert (config.n_jobs, config.backend, config.blas_threads) == (n_jobs, "threading", 1)
    assert result.confidence == "low"
    assert any("GIL is off" in r for r in result.reasons)


def test_estimate_forest_is_unchanged_without_gil():
    # Check that a threads site (a forest) gets the same answer with the GIL off.
    assert _run(RandomForestClassifier(n_estimators=100), gil_enabled=False)[0] \
        == _run(RandomForestClassifier(n_estimators=100))[0]


def test_estimate_grid_search_caps_inner_threads_on_many_cores():
    # Check that on 16 cores 21 fits get 8 loky workers, one BLAS thread each.
    grid = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression()),
                        {"logisticregression__C": [0.01, 0.1, 1, 10]}, cv=5)
    config, result = _run(grid, 4000, 20, usable=16)
    assert (config.n_jobs, config.backend, config.inner_max_num_threads) == (8, "loky", 1)
    assert any("oversubscription" in r for r in result.reasons)


def test_estimate_threads_with_blas_caps_blas():
    # Check that a threads site that also uses BLAS gets one BLAS thread per worker.
    config, _ = _run(LassoCV(), 20000, 20)
    assert (config.n_jobs, config.backend, config.blas_threads) == (2, "threading", 1)


def test_estimate_nested_search_parallelises_the_outer_level():
    # Check that GridSearchCV over a forest (7 fits) gets n_jobs=2 (README benchmark).
    search = GridSearchCV(RandomForestClassifier(n_estimators=30), {"max_depth": [4, 8]},
                          cv=3)
    config, _ = _run(search, 2000, 20)
    assert config.n_jobs == 2
    assert config.backend == "loky"


def test_estimate_decision_tree_keeps_as_written():
    # Check that a plain tree (nothing parallel) gives index 0.
    config, result = _run(DecisionTreeClassifier())
    assert config.is_as_written
    assert result.index == 0


@pytest.mark.parametrize("estimator", [
    RandomForestClassifier(), HistGradientBoostingClassifier(), Opaque(n_jobs=1),
], ids=["forest", "hgb", "unknown"])
def test_estimate_one_core_keeps_as_written(estimator):
    # Check that with one usable core the answer is always as written.
    config, result = _run(estimator, usable=1)
    assert config.is_as_written
    assert result.index == 0


def test_estimate_unknown_class_keeps_as_written_with_low_confidence():
    # Check that a class sktune does not know is left as written, confidence low.
    config, result = _run(Opaque(n_jobs=1))
    assert config.is_as_written
    assert result.confidence == "low"
    assert any("Opaque" in r and "knows nothing" in r for r in result.reasons)


def test_estimate_sparse_data_counts_nonzeros():
    # Check that a big but nearly empty sparse matrix counts as small data.
    X = sp.random(20000, 1000, density=0.0001, format="csr", random_state=0)
    config, result = _run(RandomForestClassifier(n_estimators=20), X=X)
    assert config.is_as_written
    assert any("small data" in r for r in result.reasons)


@pytest.mark.parametrize("usable", [1, 2, 16])
@pytest.mark.parametrize("estimator", [
    RandomForestClassifier(n_estimators=3), LassoCV(), Opaque(n_jobs=2),
    make_pipeline(StandardScaler(), RandomForestClassifier()),
], ids=["tiny-forest", "lassocv", "unknown", "pipeline"])
def test_estimate_index_is_always_a_candidate(estimator, usable):
    # Check that the answer is one of the candidates whatever the input, and
    # never uses more workers than there are cores.
    config, result = _run(estimator, 5000, 20, usable=usable)
    assert 0 <= result.index and (config.n_jobs or 1) <= usable
    assert result.confidence in ("low", "medium")


def test_estimate_unknown_size_skips_small_data_rule():
    # Check that a signature without sizes does not count as small data.
    layers = inspect_layers(RandomForestClassifier(), *_data(20000, 20))
    candidates = ConfigSpace.auto().resolve(layers, usable_cores=2).candidates
    result = estimate(candidates, layers, signature={}, usable_cores=2, physical_cores=2,
                      work={"n_units": 100, "unit": "trees", "path": ""})
    assert candidates[result.index].n_jobs == 2


def test_estimate_without_parallel_candidate_falls_back():
    # Check that a space without n_jobs candidates still answers as written.
    layers = inspect_layers(RandomForestClassifier(), *_data(20000, 20))
    result = estimate([Config(), Config(n_jobs=2, backend="multiprocessing")], layers,
                      signature={"n_samples": 20000, "n_features": 20}, usable_cores=2,
                      physical_cores=2, work={"n_units": 100, "unit": "trees", "path": ""})
    assert result.index == 0
    assert result.confidence == "low"


def test_work_facts_counts_grid_of_two_dicts_with_kfold():
    # Check that two grids (3 + 2 points) x KFold(3) + refit give 16 fits.
    grid = GridSearchCV(LogisticRegression(),
                        [{"C": [0.1, 1, 10]}, {"C": [1], "fit_intercept": [True, False]}],
                        cv=KFold(3))
    assert work_facts(grid) == {"n_units": 16, "unit": "fits", "path": ""}


@pytest.mark.parametrize("estimator, expected", [
    (GridSearchCV(LogisticRegression(), {"C": [1, 2]}, cv=None, refit=False), 10),
    (RandomizedSearchCV(LogisticRegression(), {"C": [1, 2, 3, 4, 5]}, n_iter=3, cv=4), 13),
    (make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=7)), 7),
    (GridSearchCV(RandomForestClassifier(n_estimators=30), {"max_depth": [4, 8]}, cv=3), 7),
], ids=["default-cv", "randomized", "pipeline-forest", "nested"])
def test_work_facts_counts_units(estimator, expected):
    # Check the unit count of the outermost joblib site.
    assert work_facts(estimator)["n_units"] == expected


@pytest.mark.parametrize("estimator", [
    DecisionTreeClassifier(), GradientBoostingClassifier(), HistGradientBoostingClassifier(),
    GridSearchCV(LogisticRegression(), {"C": [1, 2]}, cv=LeaveOneOut()),
], ids=["tree", "gradient-boosting", "hgb", "leave-one-out"])
def test_work_facts_none_when_work_is_not_countable(estimator):
    # Check that no joblib site, or splits that need X, give no work count.
    assert work_facts(estimator) is None
