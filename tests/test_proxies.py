"""The proxy builders: each kind of unit found where it is, scaled, nothing else changed."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktune._proxies import UNIT_KINDS, UNITS_PER_WORKER, UnitSite, find_units
from sktune.workload import Workload


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=300, n_features=6, random_state=0)


def _params(estimator):
    return {k: repr(v) for k, v in estimator.get_params(deep=True).items()}


def test_a_grid_of_40_becomes_a_grid_of_k_on_the_same_folds(data):
    # Check that a grid search's proxy searches evenly spaced candidates of
    # the grid, each on the same folds, and that the user's search is untouched.
    X, y = data
    folds = KFold(3)
    search = GridSearchCV(LogisticRegression(max_iter=50),
                          {"C": list(np.logspace(-3, 3, 20)), "fit_intercept": [True, False]},
                          cv=folds, n_jobs=2)
    before = _params(search)
    workload = Workload(search, X, y)
    site = find_units(workload, workers=2)
    assert (site.kind, site.path, site.full) == ("candidates", "", 40)
    # Several tasks (candidate x fold) per worker at the most workers tried.
    assert site.minimum * 3 >= UNITS_PER_WORKER * 2
    proxy = site.scale(workload, 8).estimator
    grid = proxy.param_grid
    assert len(grid) == 8 and all(len(v) == 1 for point in grid for v in point.values())
    chosen = [point["C"][0] for point in grid]
    assert min(chosen) == search.param_grid["C"][0]  # the cheapest and the dearest
    assert proxy.cv is not folds and repr(proxy.cv) == repr(folds)
    assert proxy.n_jobs == 2 and proxy.estimator.max_iter == 50
    assert _params(search) == before and workload.estimator is search
    proxy.fit(X, y)
    assert len(proxy.cv_results_["params"]) == 8


def test_a_randomized_search_keeps_its_distributions_and_takes_fewer_draws(data):
    X, y = data
    search = RandomizedSearchCV(LogisticRegression(), {"C": np.logspace(-3, 3, 50)},
                                n_iter=30, cv=3, random_state=0)
    site = find_units(Workload(search, X, y), workers=2)
    assert (site.kind, site.full) == ("candidates", 30)
    proxy = site.scale(Workload(search, X, y), 9).estimator
    assert proxy.n_iter == 9 and proxy.param_distributions is not None
    assert search.n_iter == 30


def test_a_forest_of_500_trees_becomes_one_of_m_trees_with_the_other_parameters(data):
    X, y = data
    forest = RandomForestClassifier(n_estimators=500, max_depth=7, min_samples_leaf=3,
                                    n_jobs=2, random_state=4)
    before = _params(forest)
    workload = Workload(forest, X, y)
    site = find_units(workload, workers=2)
    assert (site.kind, site.path, site.param, site.full) == ("trees", "", "n_estimators", 500)
    assert site.minimum >= UNITS_PER_WORKER * 2
    proxy = site.scale(workload, 40).estimator
    assert proxy is not forest and proxy.n_estimators == 40
    assert {k: v for k, v in _params(proxy).items() if k != "n_estimators"} == \
        {k: v for k, v in before.items() if k != "n_estimators"}
    assert _params(forest) == before


def test_the_units_of_a_pipeline_are_its_parallel_step_and_its_other_steps_stay(data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=200))
    workload = Workload(pipe, X, y)
    site = find_units(workload, workers=2)
    assert site.path == "randomforestclassifier" and site.full == 200
    proxy = site.scale(workload, 16).estimator
    assert [type(s).__name__ for _, s in proxy.steps] == ["StandardScaler",
                                                         "RandomForestClassifier"]
    assert proxy.named_steps["randomforestclassifier"].n_estimators == 16
    assert pipe.named_steps["randomforestclassifier"].n_estimators == 200
    assert "200 search" not in site.describe(16) and site.describe(16) == \
        "16 of 200 trees of randomforestclassifier"


def test_a_search_over_forests_scales_the_search_not_the_forests(data):
    # Check that the outermost parallel layer is the one scaled.
    X, y = data
    search = GridSearchCV(RandomForestClassifier(n_estimators=300),
                          {"max_depth": list(range(2, 32))}, cv=2)
    site = find_units(Workload(search, X, y), workers=2)
    assert site.kind == "candidates" and site.full == 30


def test_boosting_iterations_only_without_early_stopping(data):
    X, y = data
    assert find_units(Workload(GradientBoostingClassifier(n_estimators=300), X, y),
                      2).kind == "iterations"
    assert find_units(Workload(GradientBoostingClassifier(n_estimators=300,
                                                          n_iter_no_change=5), X, y),
                      2) is None
    hgb = HistGradientBoostingClassifier(max_iter=200, early_stopping=False)
    site = find_units(Workload(hgb, X, y), 2)
    assert (site.param, site.full) == ("max_iter", 200)
    assert site.scale(Workload(hgb, X, y), 20).estimator.early_stopping is False
    assert find_units(Workload(HistGradientBoostingClassifier(early_stopping=True), X, y),
                      2) is None


def test_kmeans_initialisations(data):
    X, _ = data
    site = find_units(Workload(KMeans(n_clusters=3, n_init=20), X), 2)
    assert (site.kind, site.param, site.full) == ("inits", "n_init", 20)
    assert site.scale(Workload(KMeans(n_clusters=3, n_init=20), X), 4).estimator.n_init == 4
    assert find_units(Workload(KMeans(n_clusters=3, n_init=1), X), 2) is None


def test_query_rows_of_a_prediction_fit_on_every_row():
    X, y = make_classification(n_samples=10_000, n_features=5, random_state=0)
    workload = Workload(KNeighborsClassifier(), X, y, task="predict")
    site = find_units(workload, 2)
    assert (site.kind, site.full) == ("query_rows", 10_000)
    proxy = site.scale(workload, 2500)
    fitted, out = proxy.call(proxy.prepare(clone(workload.estimator)))
    assert len(out) == 2500 and fitted.n_samples_fit_ == 10_000


def test_rows_only_where_no_unit_structure_exists_and_the_data_is_big():
    X, y = make_regression(n_samples=25_000, n_features=4, random_state=0)
    site = find_units(Workload(Ridge(), X, y), 2)
    assert site.kind == "rows" and site.full == 25_000
    proxy = site.scale(Workload(Ridge(), X, y), 5000)
    assert proxy.X.shape == (5000, 4) and len(proxy.y) == 5000
    # Too little data to subsample: timed at full size.
    assert find_units(Workload(Ridge(), X[:5000], y[:5000]), 2) is None
    # A grid too small to keep several tasks per worker has no usable units.
    small = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0, 10.0]}, cv=3)
    assert find_units(Workload(small, X[:5000], y[:5000]), 2) is None


def test_site_round_trips_and_every_kind_is_in_the_table():
    site = UnitSite("trees", "rf", "n_estimators", 500, 8, "trees")
    assert UnitSite.from_dict(site.to_dict()) == site
    assert set(UNIT_KINDS) == {"candidates", "trees", "iterations", "inits",
                               "query_rows", "rows"}


def test_a_layer_with_too_few_units_gives_way_to_the_one_inside_it(data):
    # 6 candidates on 3 folds leave no room for two proxy sizes at 2 workers:
    # the boosting iterations of each candidate are scaled instead.
    X, y = data
    search = GridSearchCV(GradientBoostingClassifier(n_estimators=100),
                          {"max_depth": [2, 3, 4], "learning_rate": [0.1, 0.3]}, cv=3)
    site = find_units(Workload(search, X, y), workers=2)
    assert (site.kind, site.path, site.full) == ("iterations", "estimator", 100)
    proxy = site.scale(Workload(search, X, y), 20).estimator
    assert proxy.estimator.n_estimators == 20 and proxy.param_grid == search.param_grid
    # Few k-means initialisations: nothing to scale.
    assert find_units(Workload(KMeans(n_clusters=3, n_init=3), X), 2) is None
