"""scikit-learn-intelex candidates: finding, substituting, twinning, profiling.

Runs the real scikit-learn-intelex on small data; skipped where it is not
installed.
"""

import sys

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

pytest.importorskip("sklearnex")

import sktune  # noqa: E402
from sktune import Config, ConfigSpace  # noqa: E402
from sktune._engines import IntelexEngine  # noqa: E402
from sktune._introspect import inspect_layers  # noqa: E402
from sktune.exceptions import EngineNotAvailableError, InvalidConfigError  # noqa: E402

find_intelex_steps = IntelexEngine.find_steps
why_unavailable = IntelexEngine.why_unavailable


def intelex_candidates(estimator, candidates, usable_cores):
    """The candidates with the engine's twins added, its exclusions and notes."""
    added, excluded, notes = IntelexEngine.candidates(
        estimator, tuple(candidates), inspect_layers(estimator), usable_cores,
        isolation="process")
    return tuple(candidates) + tuple(added), excluded, notes

FOREST = "randomforestclassifier"


class MyForest(RandomForestClassifier):
    """A user's subclass: it may override what oneDAL would replace."""


def _pipe(forest=RandomForestClassifier):
    return make_pipeline(StandardScaler(), forest(n_estimators=5, max_depth=3,
                                                  random_state=0))


def _data(n=200):
    rng = np.random.RandomState(0)
    X = rng.rand(n, 5)
    return X, (X[:, 0] + 0.3 * rng.rand(n) > 0.6).astype(int)


def _candidates(estimator, usable_cores=2):
    space = ConfigSpace.auto()
    return space.resolve(inspect_layers(estimator), usable_cores=usable_cores).candidates


def test_find_intelex_steps_exact_types_only():
    # Check the forest is found, and a user's subclass of it is not.
    assert why_unavailable() is None
    assert find_intelex_steps(_pipe()) == [FOREST]
    assert find_intelex_steps(_pipe(MyForest)) == []
    assert find_intelex_steps(KMeans(3)) == [""]


def test_configure_swaps_in_sklearnex_with_equal_params():
    pipe = _pipe()
    stock = pipe[-1]
    configured = Config(n_jobs=2, intelex_steps=(FOREST,)).configure(pipe)
    step = configured.named_steps[FOREST]
    assert type(step).__module__.startswith("sklearnex.")
    assert isinstance(step, RandomForestClassifier)
    expected = dict(stock.get_params(), n_jobs=2)
    assert {k: v for k, v in step.get_params().items() if k in expected} == expected
    assert not hasattr(step, "estimators_")  # unfitted
    # The user's pipeline is unchanged.
    assert pipe[-1] is stock and type(stock) is RandomForestClassifier
    assert stock.n_jobs is None


@pytest.mark.parametrize("paths, match", [
    (("nope",), r"intelex_steps names 'nope', which is not a step of Pipeline"),
    (("standardscaler",), r"intelex_steps names 'standardscaler'.*no equivalent "
                          r"of StandardScaler"),
    (("",), r"intelex_steps names ''.*no equivalent of Pipeline"),
])
def test_bad_intelex_steps_raise(paths, match):
    with pytest.raises(InvalidConfigError, match=match) as excinfo:
        Config(intelex_steps=paths).configure(_pipe())
    assert isinstance(excinfo.value, ValueError)


def test_subclass_is_refused_by_configure():
    with pytest.raises(InvalidConfigError, match="no equivalent of MyForest"):
        Config(intelex_steps=("myforest",)).configure(_pipe(MyForest))


def test_intelex_candidates_twins():
    pipe = _pipe()
    candidates = _candidates(pipe)
    assert any(c.backend == "multiprocessing" for c in candidates)
    out, excluded, notes = intelex_candidates(pipe, candidates, usable_cores=2)
    assert out[:len(candidates)] == candidates and excluded == []
    twins = out[len(candidates):]
    assert twins == (Config(intelex_steps=(FOREST,)),
                     Config(openmp_threads=1, intelex_steps=(FOREST,)))
    assert any("scikit-learn-intelex" in note for note in notes)

    # On one core the one-thread twin is the as-written one.
    out, _, _ = intelex_candidates(pipe, candidates, usable_cores=1)
    assert out[len(candidates):] == (Config(intelex_steps=(FOREST,)),)

    # A search around the forest parallelises outside oneDAL: a loky twin,
    # and still never a multiprocessing (nor threading) one.
    search = GridSearchCV(RandomForestClassifier(n_estimators=5), {"max_depth": [2, 3]})
    candidates = _candidates(search)
    out, _, _ = intelex_candidates(search, candidates, usable_cores=2)
    twins = out[len(candidates):]
    assert Config(n_jobs=2, backend="loky", intelex_steps=("estimator",)) in twins
    assert all(t.intelex_steps == ("estimator",) for t in twins)
    assert all(t.backend not in ("multiprocessing", "threading") for t in twins)


def test_intelex_candidates_without_a_supported_step():
    pipe = _pipe(MyForest)
    candidates = _candidates(pipe)
    out, excluded, notes = intelex_candidates(pipe, candidates, usable_cores=2)
    assert out == candidates and excluded == []
    assert len(notes) == 1 and "no step has an equivalent" in notes[0]


def test_not_installed(monkeypatch):
    # Check what a session without scikit-learn-intelex gets.
    monkeypatch.setitem(sys.modules, "sklearnex", None)
    reason = why_unavailable()
    assert reason.startswith("scikit-learn-intelex is not installed (pip install")
    pipe = _pipe()
    candidates = _candidates(pipe)
    out, excluded, notes = intelex_candidates(pipe, candidates, usable_cores=2)
    assert out == candidates and excluded == []
    assert notes == [f"scikit-learn-intelex: {reason}."]
    with pytest.raises(EngineNotAvailableError, match="intelex_steps"):
        Config(intelex_steps=(FOREST,)).configure(pipe)


def _profile(estimator, X, y):
    return sktune.profile(estimator, X, y, engines=["intelex"], isolation="none",
                          budget="quick", wisdom=False)


def _intelex_indices(result):
    return [i for i, c in enumerate(result.candidates) if c.intelex_steps]


@pytest.mark.slow
def test_profile_never_recommends_a_forest_that_changes_the_answer():
    # oneDAL's forest draws its own random numbers: other trees, other
    # probabilities, so the twins are measured but never recommended.
    X, y = _data()
    result = _profile(_pipe(), X, y)
    indices = _intelex_indices(result)
    assert indices
    assert not any(result.candidates[i].backend == "multiprocessing" for i in indices)
    for i in indices:
        equivalent, detail = result.equivalence[i]
        assert equivalent is False and "difference" in detail
    assert result.best.intelex_steps is None
    assert "changes the output" in str(result)


@pytest.mark.slow
def test_profile_linear_regression_twin_is_equivalent():
    X, _ = _data()
    y = X @ np.arange(1.0, 6.0) + 0.01 * np.random.RandomState(1).rand(len(X))
    result = _profile(LinearRegression(), X, y)
    indices = _intelex_indices(result)
    assert indices
    for i in indices:
        assert result.equivalence[i][0] is True


@pytest.mark.slow
def test_profile_kmeans_twin_same_clusters_other_numbering():
    # oneDAL's k-means finds the same clusters on well-separated blobs but
    # may number them differently: compared up to renumbering, not label by
    # label, so the twin is not wrongly listed as changing the answer.
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n_samples=600, centers=3, n_features=5, random_state=0)
    result = _profile(KMeans(n_clusters=3, n_init=3, random_state=0), X, None)
    indices = _intelex_indices(result)
    assert indices
    for i in indices:
        assert result.equivalence[i][0] is True, result.equivalence[i]
