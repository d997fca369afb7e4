"""Tests for sktune.space: Config values, validation and ConfigSpace resolution."""

import dataclasses
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktune import Config, ConfigSpace
from sktune._introspect import Layers, inspect_layers
from sktune.exceptions import InvalidConfigError, InvalidParameterError, SktuneError

REPO_ROOT = str(Path(__file__).resolve().parents[1])
CORES = [2, 16]


class NJobsEstimator(ClassifierMixin, BaseEstimator):
    """An estimator outside sktune's tables, with an ``n_jobs`` parameter."""

    def __init__(self, n_jobs=None):
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        return self


def _hgb_pipeline():
    return make_pipeline(StandardScaler(), HistGradientBoostingClassifier())


def _grid_search_hgb():
    return GridSearchCV(HistGradientBoostingClassifier(max_iter=5), {"max_depth": [2, 3]})


def _grid_search_logistic():
    return GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression()),
                        {"logisticregression__C": [0.1, 1.0]}, cv=2)


# Layers built by hand, and layers inspected from real estimators.
LAYERS = {
    "no-layers": Layers(),
    "openmp-only": Layers(openmp=True),
    "blas-only": Layers(blas=True),
    "threads": Layers(n_jobs_params=("n_jobs",), joblib_hints=frozenset({"threads"})),
    "processes+openmp": Layers(n_jobs_params=("n_jobs",),
                               joblib_hints=frozenset({"processes"}), openmp=True),
    "mixed-hints+blas": Layers(n_jobs_params=("a__n_jobs", "b__n_jobs"),
                               joblib_hints=frozenset({"threads", "processes"}), blas=True),
    "unknown": None,
    "hgb-pipeline": inspect_layers(_hgb_pipeline()),
    "random-forest": inspect_layers(RandomForestClassifier()),
    "grid-search-hgb": inspect_layers(_grid_search_hgb()),
    "grid-search-logistic": inspect_layers(_grid_search_logistic()),
    "custom-estimator": inspect_layers(NJobsEstimator()),
}


@pytest.fixture
def Xy(global_random_seed):
    rng = np.random.RandomState(global_random_seed)
    X = rng.normal(size=(200, 5))
    return X, (X[:, 0] > 0).astype(int)


# -- Config as a value ------------------------------------------------------

def test_config_frozen_hashable_equal_by_value():
    # Check that Config is an immutable value: equal and same hash by value.
    a = Config(n_jobs=2, backend="loky")
    b = Config(n_jobs=2, backend="loky")
    assert a == b and a is not b
    assert hash(a) == hash(b)
    assert len({a, b, Config()}) == 2
    assert a != Config(n_jobs=2, backend="threading")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.n_jobs = 4


@pytest.mark.parametrize(
    "config",
    [Config(), Config(n_jobs=2), Config(openmp_threads=1, blas_threads=2),
     Config(n_jobs=2, backend="loky", inner_max_num_threads=1),
     Config(n_jobs=4, backend="threading", blas_threads=1, openmp_threads=1),
     Config(n_jobs=2, backend="loky", compiled_steps=("scale", "pre__fn")),
     Config(backend="dask", cluster=(2, 1)), Config(intelex_steps=("clf",))],
    ids=repr)
def test_config_dict_round_trip(config):
    # Check that to_dict/from_dict round-trips, also through JSON text (tuples
    # come back from JSON as lists).
    data = config.to_dict()
    assert set(data) == {"n_jobs", "backend", "blas_threads", "openmp_threads",
                         "inner_max_num_threads", "compiled_steps", "cluster",
                         "intelex_steps"}
    assert Config.from_dict(data) == config
    assert Config.from_dict(json.loads(json.dumps(data))) == config


def test_config_from_dict_unknown_key():
    # Check that from_dict refuses unknown keys and names them.
    with pytest.raises(InvalidParameterError, match="Invalid Config field: 'n_job'"):
        Config.from_dict({"n_job": 2})


def test_config_repr_and_str():
    # Check that repr shows only the fields that are set and str(Config()) is "as written".
    assert repr(Config()) == "Config()"
    assert repr(Config(n_jobs=2, backend="loky")) == "Config(n_jobs=2, backend='loky')"
    assert repr(Config(openmp_threads=1)) == "Config(openmp_threads=1)"
    assert str(Config()) == "as written"
    assert str(Config(n_jobs=2, backend="loky")) == "n_jobs=2, backend=loky"


def test_config_is_as_written_and_n_set():
    # Check that is_as_written is true only for the all-None config and n_set counts fields.
    assert Config().is_as_written
    assert Config().n_set == 0
    assert not Config(blas_threads=1).is_as_written
    assert Config(blas_threads=1).n_set == 1
    assert Config(n_jobs=2, backend="loky", inner_max_num_threads=1).n_set == 3


@pytest.mark.parametrize(
    "config, cores, threads",
    [(Config(), 2, 1),
     (Config(blas_threads=1, openmp_threads=1), 1, 1),
     (Config(n_jobs=2, backend="loky"), 2, 2),
     (Config(n_jobs=2, backend="threading", blas_threads=1, openmp_threads=1), 2, 2),
     (Config(n_jobs=2, backend="threading", blas_threads=2), 2, 4),
     (Config(n_jobs=2, backend="loky", inner_max_num_threads=2), 2, 4)],
    ids=str)
def test_config_cores_and_threads(config, cores, threads):
    # Check the busy-core estimate (capped at usable cores) and the thread count asked for.
    assert config.cores(2) == cores
    assert config.threads(2) == threads


@pytest.mark.parametrize(
    "config, expected",
    [(Config(), "the pipeline as written"),
     (Config(n_jobs=2, backend="loky", blas_threads=1), "n_jobs=2 on loky, 1 BLAS thread"),
     (Config(n_jobs=2), "n_jobs=2"),
     (Config(openmp_threads=2), "2 OpenMP threads"),
     (Config(n_jobs=2, backend="loky", inner_max_num_threads=1),
      "n_jobs=2 on loky, 1 thread(s) per worker process")],
    ids=str)
def test_config_describe(config, expected):
    # Check that describe() gives the human phrase.
    assert config.describe() == expected


# -- Config validation ------------------------------------------------------

@pytest.mark.parametrize(
    "kwargs, name, got",
    [({"n_jobs": 0}, "n_jobs", "0"), ({"n_jobs": -1}, "n_jobs", "-1"),
     ({"n_jobs": 1.5}, "n_jobs", "1.5"), ({"blas_threads": 0}, "blas_threads", "0"),
     ({"openmp_threads": -2}, "openmp_threads", "-2")],
    ids=lambda v: str(v) if not isinstance(v, dict) else ",".join(f"{k}={v}" for k, v in v.items()))
def test_config_invalid_parameter_message(kwargs, name, got):
    # Check that bad values are rejected at construction with scikit-learn's wording.
    expected = (f"The '{name}' parameter of Config must be an int in the range "
                f"[1, inf) or None. Got {got} instead.")
    with pytest.raises(InvalidParameterError) as excinfo:
        Config(**kwargs)
    assert str(excinfo.value) == expected
    assert isinstance(excinfo.value, ValueError)
    assert isinstance(excinfo.value, SktuneError)


def test_config_rejects_bool_like_config_space():
    # Check that Config rejects a bool thread count, as ConfigSpace does.
    with pytest.raises(InvalidParameterError):
        ConfigSpace(n_jobs=[True])
    with pytest.raises(InvalidParameterError):
        Config(n_jobs=True)


def test_config_unknown_backend_message():
    # Check that an unknown backend is rejected with joblib's lookup wording,
    # as a bad value of one parameter (InvalidConfigError is for fields that
    # contradict each other).
    with pytest.raises(InvalidParameterError) as excinfo:
        Config(n_jobs=2, backend="lokyy")
    message = str(excinfo.value)
    assert message.startswith("Invalid backend: 'lokyy', expected one of [")
    for name in ("'loky'", "'threading'", "'multiprocessing'"):
        assert name in message
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize(
    "kwargs",
    [{"backend": "threading", "inner_max_num_threads": 2},
     {"inner_max_num_threads": 2},
     {"n_jobs": 2, "backend": "multiprocessing", "inner_max_num_threads": 1}],
    ids=["threading", "no-backend", "multiprocessing"])
def test_config_inner_max_num_threads_needs_loky(kwargs):
    # Check that inner_max_num_threads is rejected without backend="loky" (checklist 5).
    with pytest.raises(InvalidConfigError, match="loky"):
        Config(**kwargs)


def test_config_inner_max_num_threads_checked_under_python_O(request, tmp_path):
    # Check that the inner_max_num_threads check survives `python -O` (no assert).
    code = (
        "import sys\n"
        "from sktune import Config, InvalidConfigError\n"
        "assert False, 'asserts are on'\n"
        "for kw in ({'backend': 'threading', 'inner_max_num_threads': 2},\n"
        "           {'inner_max_num_threads': 2}):\n"
        "    try:\n"
        "        Config(**kw)\n"
        "    except InvalidConfigError:\n"
        "        print('rejected')\n"
        "    else:\n"
        "        print('accepted')\n"
        "print(sys.flags.optimize)\n"
    )
    # -O needs its own .opt-1.pyc files: keep them in pytest's cache so only
    # the first run pays for compiling scikit-learn again.
    cache = getattr(request.config, "cache", None)  # None with -p no:cacheprovider
    prefix = cache.mkdir("pycache-python-O") if cache is not None else tmp_path
    env = {**os.environ, "PYTHONPATH": REPO_ROOT, "PYTHONPYCACHEPREFIX": str(prefix)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = subprocess.run([sys.executable, "-O", "-c", code], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["rejected", "rejected", "1"]


# -- ConfigSpace: user spaces -----------------------------------------------

def test_config_space_valid_user_space():
    # Check that a valid explicit space is accepted, kept in order without repeats, and repr'd.
    space = ConfigSpace(n_jobs=[1, 2, 2], backend=["loky"])
    assert space.dimensions["n_jobs"] == [1, 2]
    assert space.dimensions["backend"] == ["loky"]
    assert space.dimensions["blas_threads"] == [None]
    assert repr(space) == "ConfigSpace(n_jobs=[1, 2], backend=['loky'])"
    assert repr(ConfigSpace()) == "ConfigSpace()"
    assert "openmp_threads='auto'" in repr(ConfigSpace.auto())


@pytest.mark.parametrize(
    "kwargs, name",
    [({"n_jobs": [0, 2]}, "n_jobs"), ({"n_jobs": 2}, "n_jobs"), ({"n_jobs": []}, "n_jobs"),
     ({"n_jobs": "two"}, "n_jobs"), ({"blas_threads": [1.5]}, "blas_threads"),
     ({"openmp_threads": [True]}, "openmp_threads"), ({"backend": "loky"}, "backend"),
     ({"backend": ["nope"]}, "backend")],
    ids=["zero", "not-a-list", "empty", "str", "float", "bool", "backend-str",
         "backend-unknown"])
def test_config_space_invalid_user_space(kwargs, name):
    # Check that a bad dimension raises an sktune ValueError naming the parameter.
    with pytest.raises((InvalidParameterError, InvalidConfigError)) as excinfo:
        ConfigSpace(**kwargs)
    assert isinstance(excinfo.value, ValueError)
    assert isinstance(excinfo.value, SktuneError)
    assert name in str(excinfo.value)


def test_config_space_unknown_backend_is_a_parameter_error():
    # Check that an unknown backend in a space gets joblib's lookup wording.
    with pytest.raises(InvalidParameterError, match=r"Invalid backend: 'nope', expected one of"):
        ConfigSpace(backend=["nope"])


def test_config_space_resolve_docstring_example():
    # Check that n_jobs=1 collapses into the baseline for a space with no layers given.
    resolved = ConfigSpace(n_jobs=[1, 2], backend=["loky"]).resolve(usable_cores=2)
    assert resolved.candidates == (Config(), Config(n_jobs=2, backend="loky"))


# -- ConfigSpace: resolution invariants --------------------------------------

def _check_invariants(resolved, written=()):
    candidates = resolved.candidates
    excluded = [config for config, _ in resolved.excluded]
    assert candidates[0] == Config()
    assert Config() not in candidates[1:]
    assert Config() not in excluded
    assert len(set(candidates)) == len(candidates)
    assert len(set(excluded)) == len(excluded)
    assert not set(candidates) & set(excluded)
    for config in [*candidates, *excluded]:
        assert isinstance(config, Config)
        assert Config(**config.to_dict()) == config  # passes validation
        written_sequential = all(v in (None, 1) for v in written)
        if config.n_jobs == 1 or (config.n_jobs is None and written_sequential):
            assert config.backend is None
        if config.backend != "loky":
            assert config.inner_max_num_threads is None
    for _, reason in resolved.excluded:
        assert isinstance(reason, str) and reason


@pytest.mark.parametrize("cores", CORES, ids=lambda c: f"{c}cores")
@pytest.mark.parametrize("layers", LAYERS.values(), ids=LAYERS.keys())
def test_config_space_auto_invariants(layers, cores):
    # Check the auto space: baseline first and once, no duplicates, backend only
    # with n_jobs > 1, inner_max_num_threads only with loky (checklist 22).
    _check_invariants(ConfigSpace.auto().resolve(layers, usable_cores=cores))


@pytest.mark.parametrize("cores", CORES, ids=lambda c: f"{c}cores")
def test_config_space_hgb_pipeline_varies_openmp_only(cores):
    # Check that StandardScaler + HGBT gets no n_jobs or backend dimension;
    # only openmp_threads varies (checklist 22).
    resolved = ConfigSpace.auto().resolve(inspect_layers(_hgb_pipeline()), usable_cores=cores)
    _check_invariants(resolved)
    assert resolved.excluded == ()
    for config in resolved.candidates:
        assert config.n_jobs is None and config.backend is None
        assert config.blas_threads is None and config.inner_max_num_threads is None
    openmp = [c.openmp_threads for c in resolved.candidates]
    assert openmp == [None, *[n for n in (1, 2, 4, 8, 16) if n <= cores]]


def test_config_space_default_thread_count_is_baseline():
    # Check that openmp_threads equal to the runtime default is dropped as the baseline again.
    layers = inspect_layers(_hgb_pipeline())
    resolved = ConfigSpace.auto().resolve(layers, usable_cores=2,
                                          defaults={"openmp_threads": 2})
    assert resolved.candidates == (Config(), Config(openmp_threads=1))


def test_config_space_random_forest_two_cores():
    # Check that a forest on 2 cores tries n_jobs=2 on loky, threading and
    # multiprocessing (forests use no OpenMP, so fork is allowed).
    resolved = ConfigSpace.auto().resolve(inspect_layers(RandomForestClassifier()),
                                          usable_cores=2)
    _check_invariants(resolved)
    assert set(resolved.candidates) == {
        Config(),
        Config(n_jobs=2, backend="loky"),
        Config(n_jobs=2, backend="threading"),
        Config(n_jobs=2, backend="multiprocessing"),
    }
    assert resolved.excluded == ()


@pytest.mark.parametrize("cores", CORES, ids=lambda c: f"{c}cores")
def test_config_space_multiprocessing_excluded_after_openmp(cores):
    # Check that HGBT in a GridSearchCV never runs a multiprocessing (fork)
    # candidate: it is excluded with a reason (checklist 10).
    resolved = ConfigSpace.auto().resolve(inspect_layers(_grid_search_hgb()),
                                          usable_cores=cores)
    _check_invariants(resolved)
    assert all(c.backend != "multiprocessing" for c in resolved.candidates)
    excluded = dict(resolved.excluded)
    assert Config(n_jobs=2, backend="multiprocessing") in excluded
    for config, reason in excluded.items():
        assert config.backend == "multiprocessing"
        assert "fork" in reason and "OpenMP" in reason


def test_config_space_grid_search_logistic_sets_only_search_n_jobs(Xy):
    # Check that GridSearchCV(LogisticRegression) gets n_jobs only on the search,
    # never on the deprecated LogisticRegression.n_jobs, with no FutureWarning (checklist 3).
    X, y = Xy
    gs = _grid_search_logistic()
    layers = inspect_layers(gs)
    assert layers.n_jobs_params == ("n_jobs",)
    resolved = ConfigSpace.auto().resolve(layers, usable_cores=2)
    assert Config(n_jobs=2, backend="loky") in resolved.candidates
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        configured = Config(n_jobs=2, backend="loky").configure(gs)
        assert configured.n_jobs == 2
        assert configured.get_params()["estimator__logisticregression__n_jobs"] is None
        # Fit on threads so a FutureWarning from a fit stays in this process.
        configured.set_params(error_score="raise")
        with Config(n_jobs=2, backend="threading").apply():
            configured.fit(X, y)


def test_config_space_n_jobs_grid_sixteen_cores():
    # Check that 16 cores give the n_jobs grid 1, 2, 4, 8, 16, with 1 folded
    # into the baseline unless the estimator has a different n_jobs written.
    layers = inspect_layers(RandomForestClassifier())
    resolved = ConfigSpace.auto().resolve(layers, usable_cores=16)
    assert {c.n_jobs for c in resolved.candidates} == {None, 2, 4, 8, 16}
    resolved = ConfigSpace.auto().resolve(layers, usable_cores=16, as_written_n_jobs=(4,))
    assert {c.n_jobs for c in resolved.candidates} == {None, 1, 2, 4, 8, 16}
    _check_invariants(resolved)


@pytest.mark.parametrize(
    "name", ["grid-search-hgb", "grid-search-logistic", "unknown", "mixed-hints+blas"])
def test_config_space_auto_never_oversubscribes_threads(name):
    # Check that auto never proposes n_jobs * (BLAS or OpenMP threads) above the cores
    # for threading candidates, and n_jobs * inner_max_num_threads for loky.
    resolved = ConfigSpace.auto().resolve(LAYERS[name], usable_cores=16)
    threading = [c for c in resolved.candidates if c.backend == "threading"]
    assert threading
    for config in resolved.candidates:
        assert config.threads(16) <= 16, config


_DIM = {
    "n_jobs": st.integers(1, 8),
    "backend": st.sampled_from(["loky", "threading", "multiprocessing", "sequential"]),
    "blas_threads": st.integers(1, 8),
    "openmp_threads": st.integers(1, 8),
    "inner_max_num_threads": st.integers(1, 8),
}
_LAYERS = st.builds(
    Layers,
    n_jobs_params=st.sampled_from([(), ("n_jobs",), ("a__n_jobs", "b__n_jobs")]),
    joblib_hints=st.sampled_from([frozenset(), frozenset({"threads"}),
                                  frozenset({"processes"}),
                                  frozenset({"threads", "processes"})]),
    openmp=st.booleans(), blas=st.booleans(),
    unknown=st.sampled_from([(), ("Custom",)]))


@settings(max_examples=100, deadline=None)
@given(
    dims=st.fixed_dictionaries({
        name: st.one_of(st.none(), st.just("auto"),
                        st.lists(st.one_of(st.none(), values), min_size=1, max_size=4))
        for name, values in _DIM.items()}),
    layers=st.one_of(st.none(), _LAYERS),
    cores=st.integers(1, 16),
    defaults=st.sampled_from([None, {"openmp_threads": 2}, {"blas_threads": 1}]),
    written=st.sampled_from([(), (None,), (1,), (4,)]),
)
def test_config_space_resolve_properties(dims, layers, cores, defaults, written):
    # Check on random spaces that resolved candidates are valid, unique Configs
    # with the baseline first.
    resolved = ConfigSpace(**dims).resolve(layers, usable_cores=cores, defaults=defaults,
                                           as_written_n_jobs=written)
    _check_invariants(resolved, written)


# -- Config.configure ----------------------------------------------------------

@pytest.mark.parametrize(
    "make_estimator, key",
    [(RandomForestClassifier, "n_jobs"),
     (lambda: make_pipeline(StandardScaler(), RandomForestClassifier()),
      "randomforestclassifier__n_jobs"),
     (lambda: GridSearchCV(make_pipeline(StandardScaler(), RandomForestClassifier()),
                           {"randomforestclassifier__max_depth": [2]}),
      "n_jobs")],
    ids=["forest", "pipeline", "grid-search"])
def test_config_configure_returns_new_clone(make_estimator, key, Xy):
    # Check that configure returns a new unfitted clone with n_jobs set where it
    # matters, and never modifies the estimator it was given.
    X, y = Xy
    est = make_estimator()
    before = est.get_params()
    configured = Config(n_jobs=2, backend="loky").configure(est)
    assert configured is not est
    assert est.get_params() == before
    assert configured.get_params()[key] == 2
    if isinstance(est, GridSearchCV):  # the nested forest is left as written
        assert configured.get_params()["estimator__randomforestclassifier__n_jobs"] is None
    assert not hasattr(configured, "classes_")
    assert not hasattr(configured, "best_estimator_")


def test_config_configure_does_not_touch_fitted_estimator(Xy):
    # Check that a fitted estimator stays as it was and the clone is unfitted.
    X, y = Xy
    rf = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    configured = Config(n_jobs=2).configure(rf)
    assert rf.n_jobs is None and hasattr(rf, "estimators_")
    assert configured.n_jobs == 2 and not hasattr(configured, "estimators_")


def test_config_configure_without_n_jobs_is_plain_clone():
    # Check that a config without n_jobs leaves every parameter as written.
    est = make_pipeline(StandardScaler(), RandomForestClassifier(n_jobs=3))
    configured = Config(openmp_threads=1).configure(est)
    assert configured is not est
    assert configured.get_params()["randomforestclassifier__n_jobs"] == 3


def test_space_cluster_dimension():
    # Check that dask candidates take their cluster shapes from the space,
    # that other backends never get one, and the validation of shapes.
    space = ConfigSpace(n_jobs=[2], backend=["dask", "loky"], cluster=[(2, 1), [1, 2]])
    assert [str(c) for c in space.resolve(usable_cores=2).candidates] == [
        "as written", "backend=dask, cluster=2x1", "backend=dask, cluster=1x2",
        "n_jobs=2, backend=loky"]
    auto = ConfigSpace(backend=["dask"], cluster="auto").resolve(usable_cores=16)
    assert [c.cluster for c in auto.candidates[1:]] == [(16, 1), (4, 4), (1, 16)]
    # Without dask among the backends, "auto" shapes mean nothing (and
    # ConfigSpace.auto() leaves the dimension out of its repr).
    assert "cluster" not in repr(ConfigSpace.auto())
    assert all(c.cluster is None for c in ConfigSpace(
        backend=["loky"], n_jobs=[2], cluster="auto").resolve(usable_cores=2).candidates)
    with pytest.raises(InvalidParameterError, match="'cluster' parameter of ConfigSpace"):
        ConfigSpace(cluster=[(2, 0)])
    with pytest.raises(InvalidParameterError, match="'cluster' parameter of ConfigSpace"):
        ConfigSpace(cluster=["2x1"])
