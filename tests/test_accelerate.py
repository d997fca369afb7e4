"""Tests of profile(accelerate=True): compiled substitutes as candidates, applied by configure."""

import json

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler

import sktune
from sktune import Config, ConfigSpace, transformers
from sktune._compiled.jit import JitFunction
from sktune.exceptions import InvalidConfigError, InvalidParameterError

pytest.importorskip("numba")


def clip_loop(X):
    """A Python loop Numba compiles."""
    out = np.empty_like(X)
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            value = X[i, j]
            out[i, j] = value if abs(value) < 2.0 else 2.0 * np.sign(value)
    return out


def describe_types(X):
    """Numba cannot compile this: a list of Python strings."""
    return np.array([[len(str(type(value)))] for value in X[:, 0]], dtype=float)


def overflowing(X):
    """Numba compiles this, but int64 wraps where Python's int does not."""
    out = np.empty_like(X)
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            out[i, j] = float((int(X[i, j]) + 2**62) * 4) / 2.0**64
    return out


@pytest.fixture
def data(global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    X = rng.normal(size=(300, 4))
    return X, X @ np.arange(1.0, 5.0) + rng.normal(size=300)


def _profile(estimator, X, y, **kwargs):
    # Only the as-written dimensions: the compiled twins are what is tested.
    return sktune.profile(estimator, X, y, space=ConfigSpace(), budget="quick",
                          accelerate=True, **kwargs, isolation="none")


def test_accelerate_measures_compiled_twins_and_configure_applies_them(data):
    # Check that scaler and FunctionTransformer get compiled twins that run and match.
    X, y = data
    pipe = make_pipeline(StandardScaler(), FunctionTransformer(clip_loop), Ridge())
    result = _profile(pipe, X, y)
    compiled = {c.compiled_steps for c in result.candidates} - {None}
    assert compiled == {("standardscaler", "functiontransformer"),
                        ("standardscaler",), ("functiontransformer",)}
    summary = result.summary()
    assert (summary["status"] == "ok").all(), summary
    assert any("Numba compiled clip_loop" in note for note in result.notes)
    configured = Config(compiled_steps=("standardscaler", "functiontransformer")).configure(
        pipe)
    assert type(configured.named_steps["standardscaler"]) is transformers.StandardScaler
    assert isinstance(configured.named_steps["functiontransformer"].func, JitFunction)
    assert type(pipe.named_steps["standardscaler"]) is StandardScaler  # untouched
    assert pipe.named_steps["functiontransformer"].func is clip_loop
    np.testing.assert_allclose(configured.fit(X, y).predict(X), pipe.fit(X, y).predict(X),
                               rtol=1e-10)
    best = result.best.configure(pipe)  # whatever won, it configures
    assert best.fit(X, y).predict(X).shape == (X.shape[0],)


@pytest.mark.parametrize("func, reason", [(describe_types, "Numba does not compile"),
                                          (overflowing, "Numba does not compile")],
                         ids=["untypable", "different-output"])
def test_accelerate_refuses_functions_numba_cannot_match(data, func, reason):
    # Check that a function Numba cannot compile, or compiles differently, is not offered.
    X, y = data
    pipe = make_pipeline(FunctionTransformer(func), Ridge())
    result = _profile(pipe, X, y)  # the reason is in the result, not a warning
    assert all(c.compiled_steps is None for c in result.candidates)
    assert [c.compiled_steps for c, _ in result.excluded] == [("functiontransformer",)]
    assert reason in result.excluded[0][1]
    assert result.best == Config()


def test_accelerate_excludes_multiprocessing(data):
    # Check that no multiprocessing trial forks after the substitutes' OpenMP threads.
    from sklearn.ensemble import RandomForestRegressor

    X, y = data
    pipe = make_pipeline(StandardScaler(), RandomForestRegressor(n_estimators=4))
    result = sktune.profile(pipe, X, y, budget="quick", accelerate=True, isolation="none",
                            space=ConfigSpace(n_jobs=[2], backend=["loky",
                                                                   "multiprocessing"]))
    assert all(c.backend != "multiprocessing" for c in result.candidates)
    reasons = [reason for c, reason in result.excluded if c.backend == "multiprocessing"]
    assert reasons and "fork after" in reasons[0]
    assert Config(n_jobs=2, backend="loky", compiled_steps=("standardscaler",)) in \
        result.candidates


def test_accelerate_false_compiles_nothing(data, monkeypatch):
    # Check that without accelerate nothing is probed or compiled (checklist 32).
    import sktune._substitutes as substitutes

    def _forbidden(*args, **kwargs):
        raise AssertionError("compiled substitutes probed without accelerate=True")

    monkeypatch.setattr(substitutes, "find_substitutions", _forbidden)
    X, y = data
    pipe = make_pipeline(StandardScaler(), FunctionTransformer(clip_loop), Ridge())
    result = sktune.profile(pipe, X, y, space=ConfigSpace(), budget="quick", isolation="none")
    assert [c.compiled_steps for c in result.candidates] == [None]


def test_accelerate_without_substitutes_says_so(data):
    # Check the note when no step has a compiled equivalent.
    X, y = data
    result = _profile(Ridge(), X, y)
    assert len(result.candidates) == 1
    assert any("no step has a compiled equivalent" in note for note in result.notes)


def test_accelerate_rejects_non_boolean(data):
    # Check the argument error, before any timing.
    X, y = data
    with pytest.raises(InvalidParameterError, match="The 'accelerate' parameter of profile"):
        sktune.profile(Ridge(), X, y, accelerate="yes")


def test_config_compiled_steps_nested_paths_and_errors(data):
    # Check nested paths, the estimator itself (""), JSON round trip and a bad path.
    X, _ = data
    ct = ColumnTransformer([("scale", MinMaxScaler(), [0, 1]),
                            ("rest", StandardScaler(), [2, 3])])
    config = Config(compiled_steps=("scale", "rest"))
    configured = config.configure(ct)
    fitted = configured.fit(X)
    assert type(fitted.named_transformers_["scale"]) is transformers.MinMaxScaler
    assert type(fitted.named_transformers_["rest"]) is transformers.StandardScaler
    np.testing.assert_allclose(fitted.transform(X), ct.fit_transform(X), rtol=1e-12)
    itself = Config(compiled_steps=("",)).configure(StandardScaler(with_mean=False))
    assert type(itself) is transformers.StandardScaler and itself.with_mean is False
    assert Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(InvalidConfigError, match="'nope', which is not a step"):
        Config(compiled_steps=("nope",)).configure(ct)
    with pytest.raises(InvalidConfigError, match="no compiled equivalent of Ridge"):
        Config(compiled_steps=("",)).configure(Ridge())
    with pytest.raises(InvalidParameterError, match="'compiled_steps' parameter of Config"):
        Config(compiled_steps="scale")


@pytest.mark.slow
def test_accelerate_compiled_function_runs_in_loky_workers(data, tmp_path):
    # Check a compiled FunctionTransformer inside a search on two loky workers.
    X, y = data
    search = GridSearchCV(make_pipeline(FunctionTransformer(clip_loop), Ridge()),
                          {"ridge__alpha": [0.1, 1.0]}, cv=2, n_jobs=2)
    result = sktune.profile(search, X, y, space=ConfigSpace(n_jobs=[2], backend=["loky"]),
                            budget="quick", accelerate=True, isolation="none")
    twins = [c for c in result.candidates if c.compiled_steps]
    assert twins and all(c.compiled_steps == ("estimator__functiontransformer",)
                         for c in twins)
    summary = result.summary()
    assert (summary["status"] == "ok").all(), summary
    path = tmp_path / "result.json"
    result.save(path)
    assert sktune.load(path).candidates == result.candidates
