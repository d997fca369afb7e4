"""Tests of sktune.transformers: drop-in parity with scikit-learn, errors included."""

import contextlib
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn import preprocessing
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from sktune import transformers
from sktune._compiled import kernels as _kernels

with_cython = pytest.mark.skipif(_kernels._cy is None,
                                 reason="sktune's Cython extension is not built")
ENGINES = [pytest.param("numpy", id="numpy"),
           pytest.param("cython", id="cython", marks=with_cython)]

# (sktune class, scikit-learn class, parameter sets, NaN allowed)
CASES = [
    (transformers.StandardScaler, preprocessing.StandardScaler,
     [{}, {"with_mean": False}, {"with_std": False},
      {"with_mean": False, "with_std": False}], True),
    (transformers.MinMaxScaler, preprocessing.MinMaxScaler,
     [{}, {"feature_range": (-2, 3)}, {"clip": True}], True),
    (transformers.Normalizer, preprocessing.Normalizer,
     [{"norm": "l2"}, {"norm": "l1"}, {"norm": "max"}], False),
    (transformers.PolynomialFeatures, preprocessing.PolynomialFeatures,
     [{}, {"interaction_only": True}, {"include_bias": False}], False),
]
CASE_IDS = [ours.__name__ for ours, *_ in CASES]
FITTED = ("mean_", "var_", "scale_", "n_samples_seen_", "data_min_", "data_max_",
          "data_range_", "min_", "n_features_in_", "n_output_features_", "powers_")


def _tolerance(dtype):
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-10,
                                                                      "atol": 1e-12}


@contextlib.contextmanager
def _ignore_warnings():
    # scikit-learn warns on columns of NaN only (0/0); the comparison is the point.
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _make_X(seed, n_samples, n_features, dtype, order, nan, constant):
    rng = np.random.default_rng(seed)
    X = rng.normal(loc=rng.uniform(-50, 50), scale=rng.uniform(0.1, 10),
                   size=(n_samples, n_features))
    if constant and n_features:
        X[:, 0] = 3.25  # a constant column: scale 1, as scikit-learn sets it
    if nan and X.size:
        X[rng.random(X.shape) < 0.2] = np.nan
        if n_features > 1:
            X[:, -1] = np.nan  # a column of NaN only
    return np.asarray(X, dtype=dtype, order=order)


def _assert_same_fit(ours, theirs, dtype):
    for name in FITTED:
        if not hasattr(theirs, name):
            continue
        expected, got = getattr(theirs, name), getattr(ours, name)
        if expected is None:
            assert got is None, name
            continue
        assert type(got) is type(expected), (name, type(got), type(expected))
        assert np.asarray(got).dtype == np.asarray(expected).dtype, name
        assert_allclose(got, expected, equal_nan=True, err_msg=name, **_tolerance(dtype))


def _assert_same_output(got, expected, dtype):
    assert type(got) is type(expected)
    assert got.dtype == expected.dtype
    assert got.shape == expected.shape
    assert_allclose(got, expected, equal_nan=True, **_tolerance(dtype))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("ours, theirs, param_sets, allow_nan", CASES, ids=CASE_IDS)
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**16), n_samples=st.sampled_from([1, 2, 7, 300]),
       n_features=st.sampled_from([1, 2, 5]), dtype=st.sampled_from([np.float32, np.float64]),
       order=st.sampled_from("CF"), nan=st.booleans(), constant=st.booleans(),
       params=st.integers(0, 3))
def test_transformer_matches_scikit_learn(ours, theirs, param_sets, allow_nan, engine,
                                          seed, n_samples, n_features, dtype, order, nan,
                                          constant, params):
    # Check fitted attributes, transform and inverse_transform against scikit-learn.
    params = param_sets[params % len(param_sets)]
    X = _make_X(seed, n_samples, n_features, dtype, order, nan and allow_nan, constant)
    X_before = X.copy()
    with _ignore_warnings():
        expected_model = theirs(**params).fit(X)
        expected = expected_model.transform(X)
        model = ours(**params, engine=engine).fit(X)
        got = model.transform(X)
    _assert_same_fit(model, expected_model, dtype)
    _assert_same_output(got, expected, dtype)
    assert_array_equal(X, X_before)  # copy=True left the input alone
    if hasattr(expected_model, "inverse_transform") and ours is not transformers.Normalizer:
        with _ignore_warnings():
            _assert_same_output(model.inverse_transform(got),
                                expected_model.inverse_transform(expected), dtype)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_standard_scaler_partial_fit_matches_scikit_learn(engine, dtype):
    # Check that batches with NaN merge to scikit-learn's running moments.
    X = _make_X(1, 600, 4, dtype, "C", nan=True, constant=True)
    ours, theirs = transformers.StandardScaler(engine=engine), preprocessing.StandardScaler()
    with _ignore_warnings():
        for batch in np.array_split(X, 3):
            ours.partial_fit(batch)
            theirs.partial_fit(batch)
    _assert_same_fit(ours, theirs, dtype)


@pytest.mark.parametrize("engine", ENGINES)
def test_min_max_scaler_partial_fit_matches_scikit_learn(engine):
    # Check that batches fold minima and maxima as scikit-learn does.
    X = _make_X(2, 500, 3, np.float64, "F", nan=True, constant=False)
    ours, theirs = transformers.MinMaxScaler(engine=engine), preprocessing.MinMaxScaler()
    with _ignore_warnings():
        for batch in np.array_split(X, 4):
            ours.partial_fit(batch)
            theirs.partial_fit(batch)
    _assert_same_fit(ours, theirs, np.float64)


@pytest.mark.parametrize("ours, theirs, param_sets, allow_nan", CASES, ids=CASE_IDS)
def test_transformer_keeps_memory_order_and_copies(ours, theirs, param_sets, allow_nan):
    # Check copy semantics: copy=True keeps X (F order kept), copy=False is in place.
    X = np.asfortranarray(_make_X(3, 50, 3, np.float64, "C", nan=False, constant=False))
    before = X.copy()
    model = ours().fit(X)
    out = model.transform(X)
    assert_array_equal(X, before)
    expected = theirs().fit(X).transform(X)
    assert out.flags.f_contiguous == expected.flags.f_contiguous
    if "copy" in model.get_params():
        in_place = ours(copy=False).fit(X)
        result = in_place.transform(X)
        assert np.shares_memory(result, X)
        assert_allclose(result, expected, rtol=1e-12)


@pytest.mark.parametrize("ours, theirs, param_sets, allow_nan", CASES, ids=CASE_IDS)
def test_transformer_reads_readonly_memmap_without_writing(ours, theirs, param_sets,
                                                          allow_nan, tmp_path):
    # Check that a read-only memmap (as loky passes) is read, never written.
    X = _make_X(4, 40, 3, np.float32, "C", nan=False, constant=False)
    np.save(tmp_path / "X.npy", X)
    X_mm = np.load(tmp_path / "X.npy", mmap_mode="r")
    for copy in ([True, False] if "copy" in ours().get_params() else [None]):
        kwargs = {} if copy is None else {"copy": copy}
        out = ours(**kwargs).fit(X_mm).transform(X_mm)
        assert_allclose(out, theirs().fit(X).transform(X), rtol=1e-5)
    assert_array_equal(X_mm, X)


def test_transformer_set_output_pandas_and_feature_names():
    # Check set_output and get_feature_names_out, and that a DataFrame is not modified.
    X = _make_X(5, 30, 3, np.float64, "C", nan=False, constant=False)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    for ours, theirs, *_ in CASES:
        got = ours().set_output(transform="pandas").fit_transform(df)
        expected = theirs().set_output(transform="pandas").fit_transform(df)
        assert isinstance(got, pd.DataFrame)
        assert list(got.columns) == list(expected.columns)
        assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12)
        assert_array_equal(ours().fit(df).get_feature_names_out(),
                           theirs().fit(df).get_feature_names_out())
    assert_array_equal(df.to_numpy(), X)


@pytest.mark.parametrize("ours, theirs, param_sets, allow_nan", CASES, ids=CASE_IDS)
def test_transformer_pickles_and_clones(ours, theirs, param_sets, allow_nan):
    # Check that a fitted transformer survives pickle and clone keeps the engine.
    X = _make_X(6, 30, 3, np.float64, "C", nan=False, constant=False)
    model = ours(engine="numpy").fit(X)
    restored = pickle.loads(pickle.dumps(model))
    assert_array_equal(restored.transform(X), model.transform(X))
    assert clone(model).get_params() == model.get_params()
    assert clone(model).engine == "numpy"


def _error_of(call):
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the exception itself is compared
        return type(exc), str(exc)
    return None


BAD_INPUTS = {
    "sparse": sparse.random(10, 3, density=0.5, format="csr", random_state=0),
    "1-D": np.arange(5.0),
    "strings": np.array([["a", "b"], ["c", "d"]]),
    "complex": np.ones((3, 2), dtype=complex),
    "inf": np.array([[1.0, np.inf], [2.0, 3.0]]),
    "0 rows": np.empty((0, 3)),
    "0 features": np.empty((3, 0)),
    "3-D": np.ones((2, 2, 2)),
}


@pytest.mark.parametrize("bad", list(BAD_INPUTS))
@pytest.mark.parametrize("ours, theirs, param_sets, allow_nan", CASES, ids=CASE_IDS)
def test_transformer_bad_input_raises_scikit_learn_error(ours, theirs, param_sets,
                                                         allow_nan, bad):
    # Check that bad input gives scikit-learn's exception type and message.
    X = BAD_INPUTS[bad]
    expected = _error_of(lambda: theirs().fit_transform(X))
    got = _error_of(lambda: ours().fit_transform(X))
    assert got == expected


@pytest.mark.parametrize("ours, theirs, param_sets, allow_nan", CASES, ids=CASE_IDS)
def test_transformer_feature_count_mismatch_raises_scikit_learn_error(ours, theirs,
                                                                      param_sets, allow_nan):
    # Check the error for a transform with a different number of features.
    X = _make_X(7, 20, 3, np.float64, "C", nan=False, constant=False)
    expected = _error_of(lambda: theirs().fit(X).transform(X[:, :2]))
    got = _error_of(lambda: ours().fit(X).transform(X[:, :2]))
    assert expected is not None and got == expected


def test_transformer_invalid_engine_raises_parameter_error():
    # Check that a wrong engine is rejected at fit with scikit-learn's wording.
    X = np.ones((3, 2))
    for ours, *_ in CASES:
        with pytest.raises(ValueError, match="The 'engine' parameter of .* must be a str "
                                             "among"):
            ours(engine="gpu").fit(X)


@pytest.mark.parametrize("ours, theirs, param_sets, allow_nan", CASES, ids=CASE_IDS)
def test_transformer_sparse_and_float16_are_scikit_learns(ours, theirs, param_sets,
                                                          allow_nan):
    # Check that input the kernels do not cover gives scikit-learn's exact result.
    X16 = _make_X(8, 20, 3, np.float16, "C", nan=False, constant=False)
    for data in (X16, pd.DataFrame(X16)):
        expected = theirs().fit(data).transform(data)
        got = ours().fit(data).transform(data)
        assert got.dtype == expected.dtype
        assert_array_equal(got, expected)
    Xs = sparse.random(20, 4, density=0.5, format="csr", random_state=0)
    params = {"with_mean": False} if ours is transformers.StandardScaler else {}
    expected = _error_of(lambda: theirs(**params).fit_transform(Xs))
    if expected is None:
        got = ours(**params).fit_transform(Xs)
        assert sparse.issparse(got)
        assert_allclose(got.toarray(), theirs(**params).fit_transform(Xs).toarray())
    else:
        assert _error_of(lambda: ours(**params).fit_transform(Xs)) == expected


def test_standard_scaler_sample_weight_is_scikit_learns():
    # Check that sample_weight (not in the kernels) gives scikit-learn's result.
    X = _make_X(9, 40, 3, np.float64, "C", nan=False, constant=False)
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=40)
    ours = transformers.StandardScaler().fit(X, sample_weight=w)
    theirs = preprocessing.StandardScaler().fit(X, sample_weight=w)
    _assert_same_fit(ours, theirs, np.float64)


@parametrize_with_checks(
    [cls(engine=engine) for cls, *_ in CASES for engine in ("auto", "numpy")]
)
def test_transformer_passes_scikit_learn_estimator_checks(estimator, check):
    # Check the scikit-learn estimator API contract.
    check(estimator)


@pytest.mark.parametrize("copy", [True, False])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan], ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize("ours, theirs, param_sets, allow_nan", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("method", ["transform", "inverse_transform"])
def test_transform_time_nonfinite_gives_scikit_learn_error(ours, theirs, param_sets,
                                                           allow_nan, method, bad, copy):
    # Check the finiteness check fused into the kernels: same error (or none) as
    # scikit-learn, and X untouched when it fails, in place or not.
    X = _make_X(10, 50, 3, np.float64, "C", nan=False, constant=False)
    if not hasattr(theirs, method) or (method == "inverse_transform"
                                       and ours is transformers.Normalizer):
        pytest.skip(f"{theirs.__name__} has no {method}")
    kwargs = {"copy": copy} if "copy" in theirs().get_params() else {}
    X_bad = X.copy()
    X_bad[7, 1] = bad
    for cls_params in ({"clip": True},) if ours is transformers.MinMaxScaler else ({},):
        expected_model = theirs(**kwargs, **cls_params).fit(X)
        model = ours(**kwargs, **cls_params).fit(X)
        mine = X_bad.copy()
        with _ignore_warnings():
            expected = _error_of(lambda: getattr(expected_model, method)(X_bad.copy()))
            got = _error_of(lambda: getattr(model, method)(mine))
        assert got == expected
        if expected is not None:
            assert_array_equal(mine, X_bad)  # nothing half-written


@pytest.mark.slow
def test_transformers_use_numpy_twins_under_no_extensions(tmp_path):
    # Check that SKTUNE_NO_EXTENSIONS=1 runs every transformer on the NumPy twins,
    # silently, with scikit-learn's output.
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, warnings\n"
        "import numpy as np\n"
        "warnings.simplefilter('error')\n"
        "from sklearn import preprocessing as P\n"
        "from sktune import transformers as T\nfrom sktune._compiled import kernels as _kernels\n"
        "X = np.random.default_rng(0).normal(size=(200, 4))\n"
        "ok = all(np.allclose(getattr(T, n)().fit_transform(X), "
        "getattr(P, n)().fit_transform(X)) for n in T.__all__)\n"
        "print(json.dumps({'cython': _kernels._cy is not None, 'ok': bool(ok)}))\n")
    env = dict(os.environ, SKTUNE_NO_EXTENSIONS="1")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"cython": False, "ok": True}


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("where", ["first-row", "middle", "both-signs", "with-nan"])
@pytest.mark.parametrize("cls", [transformers.StandardScaler, transformers.MinMaxScaler],
                         ids=lambda c: c.__name__)
def test_fit_time_infinity_gives_scikit_learn_error(cls, where, order):
    # Check the finiteness check folded into fit's reductions: an infinite value
    # anywhere (also in the row the moments are shifted by) is refused as by
    # scikit-learn, and NaN alone is not.
    X = _make_X(11, 300, 3, np.float64, order, nan=False, constant=False)
    if where == "first-row":
        X[0, 1] = np.inf
    elif where == "middle":
        X[150, 2] = -np.inf
    elif where == "both-signs":
        X[10, 0], X[20, 0] = np.inf, -np.inf
    else:
        X[:, 1] = np.nan
        X[5, 2] = np.inf
    theirs = getattr(preprocessing, cls.__name__)
    expected = _error_of(lambda: theirs().fit(X))
    assert expected is not None
    assert _error_of(lambda: cls().fit(X)) == expected
    X_nan = np.where(np.isinf(X), np.nan, X)
    assert _error_of(lambda: cls().fit(X_nan)) is None
