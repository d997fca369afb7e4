"""Tests for sktune._introspect: which parallel layers an estimator uses."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.feature_selection import SelectFromModel
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier, KNeighborsTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktune._estimators import iter_estimators
from sktune._introspect import Layers, inspect_layers, unseeded_params


class NJobsEstimator(ClassifierMixin, BaseEstimator):
    """An estimator sktune has never heard of, with an ``n_jobs`` parameter."""

    def __init__(self, n_jobs=None):
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        return self


@pytest.fixture
def X(global_random_seed):
    rng = np.random.RandomState(global_random_seed)
    return np.ascontiguousarray(rng.normal(size=(200, 5)))


def test_inspect_layers_knn_brute_uses_openmp_not_n_jobs(X):
    # Check that brute-force KNN predict on C-contiguous float64 X runs in OpenMP
    # (PairwiseDistancesReductions) and exposes no n_jobs parameter (checklist 23).
    assert X.flags.c_contiguous and X.dtype == np.float64
    layers = inspect_layers(KNeighborsClassifier(algorithm="brute"), X, task="predict")
    assert layers.openmp
    assert layers.n_jobs_params == ()
    assert not layers.joblib
    assert any("OpenMP" in note for note in layers.notes)


def test_inspect_layers_knn_kd_tree_uses_joblib_threads(X):
    # Check that kd_tree KNN predict lists its n_jobs with the "threads" hint.
    layers = inspect_layers(KNeighborsClassifier(algorithm="kd_tree"), X, task="predict")
    assert layers.n_jobs_params == ("n_jobs",)
    assert layers.joblib_hints == {"threads"}


@pytest.mark.parametrize("algorithm", ["brute", "kd_tree", "auto"])
def test_inspect_layers_knn_fit_ignores_n_jobs(X, algorithm):
    # Check that n_jobs is not listed when KNeighborsClassifier.fit is timed.
    layers = inspect_layers(KNeighborsClassifier(algorithm=algorithm), X, task="fit")
    assert layers.n_jobs_params == ()
    assert any("does not affect fit" in note for note in layers.notes)


def test_inspect_layers_neighbors_transformer_fit_lists_n_jobs(X):
    # Check that a KNeighborsTransformer inside a pipeline keeps its n_jobs for task="fit".
    pipe = make_pipeline(KNeighborsTransformer(algorithm="kd_tree"), Ridge())
    layers = inspect_layers(pipe, X, task="fit")
    assert "kneighborstransformer__n_jobs" in layers.n_jobs_params


def test_inspect_layers_random_forest_threads_hint():
    # Check that a forest lists its n_jobs with the "threads" hint and no native layer.
    layers = inspect_layers(RandomForestClassifier())
    assert layers == Layers(n_jobs_params=("n_jobs",), joblib_hints=frozenset({"threads"}))


def test_inspect_layers_grid_search_skips_deprecated_logistic_n_jobs():
    # Check that GridSearchCV gives the "processes" hint and the nested
    # LogisticRegression n_jobs (deprecated, inert) is not listed, with a note.
    gs = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression()),
                      {"logisticregression__C": [0.1, 1.0]})
    layers = inspect_layers(gs)
    assert layers.n_jobs_params == ("n_jobs",)
    assert layers.joblib_hints == {"processes"}
    assert "estimator__logisticregression__n_jobs" not in layers.n_jobs_params
    assert any("deprecated" in note and "LogisticRegression" in note
               for note in layers.notes)


def test_inspect_layers_hist_gradient_boosting_openmp_only():
    # Check that HistGradientBoosting uses OpenMP and has no n_jobs to set.
    layers = inspect_layers(HistGradientBoostingClassifier())
    assert layers.openmp
    assert not layers.blas
    assert layers.n_jobs_params == ()
    assert not layers.joblib


def test_inspect_layers_ridge_blas_only():
    # Check that Ridge uses BLAS only.
    layers = inspect_layers(Ridge())
    assert layers == Layers(blas=True)


@pytest.mark.parametrize(
    "estimator, key",
    [(NJobsEstimator(), "n_jobs"),
     (make_pipeline(StandardScaler(), NJobsEstimator()), "njobsestimator__n_jobs")],
    ids=["bare", "in-pipeline"])
def test_inspect_layers_unknown_estimator_assumes_every_layer(estimator, key):
    # Check that a class outside sktune's tables is listed as unknown and every layer counts.
    layers = inspect_layers(estimator)
    assert layers.unknown == ("NJobsEstimator",)
    assert layers.openmp and layers.blas and layers.joblib
    assert layers.n_jobs_params == (key,)


def test_inspect_layers_linear_regression_default_n_jobs_not_listed(X):
    # Check that LinearRegression's n_jobs is left alone for dense X and one
    # target, and set when the data is unknown (Config.configure).
    layers = inspect_layers(LinearRegression(), X, X[:, 0])
    assert layers.n_jobs_params == ()
    assert layers.blas
    assert any("positive=True" in note for note in layers.notes)
    assert inspect_layers(LinearRegression()).n_jobs_params == ("n_jobs",)


def test_inspect_layers_linear_regression_positive_lists_n_jobs():
    # Check that LinearRegression(positive=True) lists n_jobs (a joblib/loky call site).
    layers = inspect_layers(LinearRegression(positive=True))
    assert layers.n_jobs_params == ("n_jobs",)
    assert layers.joblib_hints == {"processes"}


def test_inspect_layers_column_transformer_nested_keys_are_settable():
    # Check that n_jobs keys inside a ColumnTransformer's named transformer are
    # valid set_params keys that reach the right parameter.
    ct = ColumnTransformer(
        [("num", make_pipeline(StandardScaler(),
                               SelectFromModel(RandomForestClassifier(n_estimators=5))),
          [0, 1, 2]),
         ("rest", "passthrough", [3, 4])])
    est = make_pipeline(ct, RandomForestClassifier(n_estimators=5))
    layers = inspect_layers(est)
    assert set(layers.n_jobs_params) == {
        "columntransformer__n_jobs",
        "randomforestclassifier__n_jobs",
    }
    nested = "columntransformer__num__selectfrommodel__estimator__n_jobs"
    assert any(nested in note and "left as written" in note for note in layers.notes)
    for key in layers.n_jobs_params:
        est.set_params(**{key: 2})
        assert est.get_params()[key] == 2


def test_inspect_layers_does_not_modify_estimator(X):
    # Check that inspecting never changes the estimator's parameters.
    est = GridSearchCV(make_pipeline(StandardScaler(), RandomForestClassifier()),
                       {"randomforestclassifier__max_depth": [2, 3]})
    before = est.get_params()
    inspect_layers(est, X, task="fit")
    assert est.get_params() == before


def test_iter_estimators_skips_strings_and_grids():
    # Check that iter_estimators yields nested estimators with set_params paths only.
    ct = ColumnTransformer([("num", StandardScaler(), [0]), ("rest", "drop", [1])])
    gs = GridSearchCV(make_pipeline(ct, Ridge()), {"ridge__alpha": [Ridge(), 1.0]})
    paths = [path for path, _ in iter_estimators(gs)]
    assert paths[0] == ""
    assert sorted(paths[1:]) == ["estimator", "estimator__columntransformer",
                                 "estimator__columntransformer__num", "estimator__ridge"]


@pytest.mark.parametrize(
    "estimator, expected",
    [(make_pipeline(StandardScaler(), RandomForestClassifier()),
      ["randomforestclassifier__random_state"]),
     (GridSearchCV(make_pipeline(PCA(random_state=0), RandomForestClassifier()),
                   {"randomforestclassifier__max_depth": [2]}),
      ["estimator__randomforestclassifier__random_state"]),
     (make_pipeline(PCA(), RandomForestClassifier(random_state=0)),
      ["pca__random_state"]),
     (make_pipeline(StandardScaler(), RandomForestClassifier(random_state=0)), [])],
    ids=["pipeline", "grid-search", "seeded-final-step", "all-seeded"])
def test_unseeded_params_finds_nested_random_state_none(estimator, expected):
    # Check that every random_state left at None is reported by its set_params key.
    assert unseeded_params(estimator) == expected
    estimator.set_params(**dict.fromkeys(expected, 0))
    assert unseeded_params(estimator) == []


def test_inspect_layers_nested_parallelism_sets_outer_level_only():
    # Check that for a forest inside a grid search only the search's n_jobs is
    # set, so 2 workers do not each start 2 threads on 2 cores.
    from sklearn.model_selection import GridSearchCV

    gs = GridSearchCV(RandomForestClassifier(n_estimators=5), {"max_depth": [2, 3]})
    layers = inspect_layers(gs)
    assert layers.n_jobs_params == ("n_jobs",)
    assert layers.joblib_hints == frozenset({"processes"})
    assert any("'estimator__n_jobs' is nested" in note for note in layers.notes)
    from sktune import Config

    configured = Config(n_jobs=2, backend="loky").configure(gs)
    assert configured.n_jobs == 2 and configured.estimator.n_jobs is None
