"""Tests for sktune._compiled.jit: user functions compiled by numba, as transformers."""

import json
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from joblib import Parallel, delayed
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import sktune
from sktune._compiled.jit import JitFunction, try_compile
from sktune._compiled.jit_transformer import JitTransformer, jit_transformer
from sktune.exceptions import InvalidParameterError, SktuneWarning

numba = pytest.importorskip("numba")

REPO = Path(__file__).resolve().parents[1]


# Module-level functions: importable, so they take the disk-cached path.
def _affine(x):
    return 2.0 * x - 1.0


def _row_summary(row):
    return np.array([row.sum(), row.max(), np.sqrt(np.abs(row)).mean()])


def _row_norm(row):
    return np.sqrt((row * row).sum())


def _scaled(X, factor=2.0):
    return np.tanh(X) * factor


def _sorted_names(x):
    # numba types a list of str but not list.sort(key=...).
    names = [str(x), "a"]
    names.sort(key=len)
    return float(len(names[0]))


def _overflow(x):
    # Python ints are unbounded; numba's int64 wraps around.
    return float((int(x) + 2**62) * 4)


def _threads_used(row):
    return float(numba.get_num_threads())


def _cold(x):
    return x * 3.0 + 0.5


@jit_transformer(kind="elementwise")
def _decorated_square(x):
    return x * x


FUNCS = {"elementwise": _affine, "rowwise": _row_summary, "array": _scaled}


def _expected(kind, X):
    """What each kind computes, written without sktune."""
    if kind == "elementwise":
        return np.vectorize(_affine, otypes=[X.dtype])(X)
    if kind == "rowwise":
        return np.stack([_row_summary(row) for row in X]).astype(X.dtype)
    return _scaled(X)


def _rtol(dtype):
    return 1e-5 if dtype == np.float32 else 1e-12


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: d.__name__)
@pytest.mark.parametrize("kind", list(FUNCS))
def test_jit_transformer_parity(kind, dtype, order, global_random_seed):
    # Check that each kind gives the Python function's output, in X's dtype,
    # for C and Fortran input, from compiled code.
    rng = np.random.default_rng(global_random_seed)
    X = np.asarray(rng.standard_normal((40, 5)), dtype=dtype, order=order)
    transformer = JitTransformer(FUNCS[kind], kind=kind).fit(X)
    out = transformer.transform(X)
    assert transformer.engine_ == "numba"
    assert out.dtype == dtype
    assert transformer.n_features_out_ == out.shape[1]
    assert_allclose(out, _expected(kind, X), rtol=_rtol(dtype), atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 5), (6, 1)], ids=["1-row", "1-column"])
@pytest.mark.parametrize("kind", list(FUNCS))
def test_jit_transformer_one_row_or_column(kind, shape, global_random_seed):
    # Check that a single row or a single column is enough to fit and transform.
    X = np.random.default_rng(global_random_seed).standard_normal(shape)
    out = JitTransformer(FUNCS[kind], kind=kind).fit_transform(X)
    assert_allclose(out, _expected(kind, X), rtol=1e-12)


def test_jit_transformer_scalar_rows_and_wide_float32(global_random_seed):
    # Check that a scalar per row gives one column, and that float32 row sums
    # over 1000 columns are not mistaken for a mismatch.
    rng = np.random.default_rng(global_random_seed)
    X = rng.standard_normal((8, 1000)).astype(np.float32)
    norms = JitTransformer(_row_norm).fit(X)
    assert norms.n_features_out_ == 1
    assert_allclose(norms.transform(X)[:, 0], np.linalg.norm(X, axis=1), rtol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SktuneWarning)
        assert JitTransformer(_row_summary).fit(X).engine_ == "numba"


def test_jit_transformer_nan_passes_through_elementwise():
    # Check that NaN and inf are accepted and go through an elementwise function.
    X = np.array([[np.nan, 1.0], [np.inf, -2.0]])
    out = JitTransformer(_affine, kind="elementwise").fit_transform(X)
    assert_array_equal(out, [[np.nan, 1.0], [np.inf, -5.0]])


def test_jit_transformer_input_errors_are_sklearns():
    # Check that empty, 1-D, sparse and wrongly sized input get scikit-learn's errors.
    transformer = JitTransformer(_affine, kind="elementwise")
    with pytest.raises(ValueError, match=r"Found array with 0 sample\(s\)"):
        transformer.fit(np.empty((0, 3)))
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        transformer.fit(np.ones(3))
    with pytest.raises(TypeError, match="Sparse data was passed"):
        transformer.fit(sp.csr_matrix(np.ones((2, 2))))
    transformer.fit(np.ones((3, 5)))
    with pytest.raises(ValueError, match="X has 3 features, but JitTransformer is "
                                         "expecting 5 features as input"):
        transformer.transform(np.ones((2, 3)))


def test_jit_transformer_decorator_forms():
    # Check the call form and both decorator forms, and that they return
    # unfitted transformers with the given parameters.
    def double(x):
        return 2.0 * x

    bare = jit_transformer(double)
    with_args = jit_transformer(kind="elementwise", parallel=False)(double)
    assert isinstance(bare, JitTransformer) and isinstance(_decorated_square, JitTransformer)
    assert bare.get_params() == {"func": double, "kind": "rowwise", "parallel": True}
    assert with_args.get_params() == {"func": double, "kind": "elementwise",
                                      "parallel": False}
    assert not hasattr(_decorated_square, "engine_")
    X = np.arange(6.0).reshape(3, 2)
    assert_array_equal(clone(_decorated_square).fit_transform(X), X * X)
    assert_array_equal(with_args.fit_transform(X), 2.0 * X)


@pytest.mark.parametrize("kwargs, match", [
    ({"func": np.sqrt}, "The 'func' parameter of jit_transformer must be an instance "
                        "of 'function' or None. Got <ufunc 'sqrt'> instead."),
    ({"func": _affine, "kind": "rows"}, "The 'kind' parameter of jit_transformer must "
                                        "be a str among .*. Got 'rows' instead."),
    ({"func": _affine, "parallel": 1}, "The 'parallel' parameter of jit_transformer "
                                       "must be an instance of 'bool'"),
])
def test_jit_transformer_invalid_arguments(kwargs, match):
    # Check that bad arguments are rejected with scikit-learn's wording, first
    # by jit_transformer and then by JitTransformer.fit.
    func = kwargs.pop("func")
    with pytest.raises(InvalidParameterError, match=match):
        jit_transformer(func, **kwargs)
    estimator_match = match.replace("jit_transformer", "JitTransformer").replace(
        " or None", "")
    with pytest.raises(ValueError, match=estimator_match):  # sklearn's own class
        JitTransformer(func, **kwargs).fit(np.ones((2, 2)))


def test_jit_function_invalid_arguments():
    # Check that JitFunction and try_compile validate like the other public names.
    with pytest.raises(InvalidParameterError, match="The 'kind' parameter of JitFunction"):
        JitFunction(_scaled, kind="matrix")
    with pytest.raises(InvalidParameterError, match="The 'kw_args' parameter of try_compile"):
        try_compile(_scaled, np.ones((2, 2)), kw_args=[1])


def test_jit_transformer_falls_back_when_numba_cannot_compile():
    # Check that a function numba cannot type gives one warning naming it,
    # runs in Python, and that the warning points at the caller.
    X = np.array([[1.5, 22.25], [-3.0, 0.0]])
    transformer = JitTransformer(_sorted_names, kind="elementwise")
    with pytest.warns(SktuneWarning) as record:
        transformer.fit(X)
    assert len(record) == 1
    message = str(record[0].message)
    assert "_sorted_names" in message and "numba cannot compile it" in message
    assert "at: names.sort(key=len)" in message  # the line numba points at
    assert record[0].filename == __file__
    assert transformer.engine_ == "python"
    expected = np.vectorize(_sorted_names)(X)
    assert_array_equal(transformer.transform(X), expected)


def test_jit_transformer_falls_back_on_mismatch():
    # Check that compiled code that gives another answer than Python (int64
    # overflow) is caught on the sample: one warning, Python's output.
    X = np.arange(6.0).reshape(3, 2)
    transformer = JitTransformer(_overflow, kind="elementwise")
    with pytest.warns(SktuneWarning, match=r"_overflow .*max \|difference\|") as record:
        transformer.fit(X)
    assert len(record) == 1
    assert transformer.engine_ == "python"
    assert_array_equal(transformer.transform(X), np.vectorize(_overflow)(X))


def test_jit_transformer_without_numba(monkeypatch):
    # Check that without numba the transformer warns once with the install
    # command and still gives the Python function's output.
    monkeypatch.setitem(sys.modules, "numba", None)
    X = np.arange(4.0).reshape(2, 2)
    with pytest.warns(SktuneWarning, match="pip install numba") as record:
        transformer = JitTransformer(_affine, kind="elementwise").fit(X)
    assert len(record) == 1 and transformer.engine_ == "python"
    assert_array_equal(transformer.transform(X), 2.0 * X - 1.0)


def test_jit_transformer_compile_info():
    # Check compile_info_ on a cold compile, and the reason a closure is not
    # cached on disk while still being compiled.
    X = np.ones((4, 3))
    cold = JitTransformer(_cold, kind="elementwise").fit(X)
    info = cold.compile_info_
    assert set(info) == {"seconds", "cached", "cache_reason", "threading_layer"}
    assert info["seconds"] > 0 and info["cached"] is False
    assert info["cache_reason"] is None
    assert info["threading_layer"] in ("tbb", "omp", "workqueue")

    factor = 4.0

    def closure(row):
        return row * factor

    transformer = JitTransformer(closure, parallel=False).fit(X)
    assert transformer.engine_ == "numba"
    assert "closure over factor" in transformer.compile_info_["cache_reason"]
    assert transformer.compile_info_["threading_layer"] is None
    assert_array_equal(transformer.transform(X), 4.0 * X)


def _run_python(code, **env):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **env}, timeout=120)


def test_jit_transformer_disk_cache_across_processes(tmp_path):
    # Check that a second process loads the compiled code from numba's disk
    # cache instead of compiling it (the dispatcher's cache hits, not timing).
    (tmp_path / "userfuncs.py").write_text(textwrap.dedent("""
        import numpy as np
        SCALE = 3.0

        def root(row):
            return np.sqrt(np.abs(row)) * SCALE
    """))
    code = f"""
        import json, sys
        import numpy as np
        sys.path.insert(0, {str(tmp_path)!r})
        from userfuncs import root
        from sktune._compiled.jit_transformer import JitTransformer
        t = JitTransformer(root).fit(np.random.default_rng(0).random((30, 4)))
        print(json.dumps(dict(t.compile_info_, engine=t.engine_)))
    """
    env = {"SKTUNE_CACHE_DIR": str(tmp_path / "cache")}
    runs = [_run_python(code, **env) for _ in range(2)]
    assert [run.returncode for run in runs] == [0, 0], runs[-1].stderr
    first, second = (json.loads(run.stdout.splitlines()[-1]) for run in runs)
    assert first["engine"] == second["engine"] == "numba"
    assert first["cache_reason"] is None
    assert (first["cached"], second["cached"]) == (False, True)
    assert len(list((tmp_path / "cache" / "jit").glob("sktune_jit_*.py"))) == 1


def test_jit_transformer_pickle_round_trip(global_random_seed):
    # Check that stdlib pickle keeps the parameters and the fitted state but
    # no compiled code, also for a function whose name a decorator took.
    X = np.random.default_rng(global_random_seed).standard_normal((10, 3))
    for transformer in (JitTransformer(_row_summary), _decorated_square):
        fitted = clone(transformer).fit(X)
        data = pickle.dumps(fitted)
        assert b"numba.core" not in data
        restored = pickle.loads(data)
        assert restored.func is transformer.func and restored.engine_ == "numba"
        assert_allclose(restored.transform(X), fitted.transform(X), rtol=1e-12)
    assert pickle.loads(pickle.dumps(_decorated_square)).func is _decorated_square.func


def test_jit_transformer_in_loky_workers(global_random_seed):
    # Check that fitted pipelines give the same output in loky workers as in
    # process, for a module-level function (pickled by reference) and a local
    # one (cloudpickle, by value).
    def local_norm(row):
        return np.sqrt((row * row).sum())

    X = np.random.default_rng(global_random_seed).standard_normal((50, 4))
    pipes = [make_pipeline(JitTransformer(func), StandardScaler()).fit(X)
             for func in (_row_summary, local_norm)]
    results = Parallel(n_jobs=2, backend="loky")(delayed(pipe.transform)(X)
                                                 for pipe in pipes)
    for pipe, result in zip(pipes, results):
        assert_allclose(result, pipe.transform(X), rtol=1e-12)


def test_jit_function_behaves_like_func(global_random_seed):
    # Check that JitFunction(f)(X, **kw) == f(X, **kw), that it pickles, and
    # records one compile per dtype.
    X = np.random.default_rng(global_random_seed).standard_normal((12, 3))
    jit = JitFunction(_scaled)
    assert_allclose(jit(X, factor=3.0), _scaled(X, factor=3.0), rtol=1e-12)
    assert_allclose(jit(X.astype(np.float32)), _scaled(X.astype(np.float32)), rtol=1e-5)
    assert set(jit.compile_info_) == {"float64", "float32"}
    restored = pickle.loads(pickle.dumps(jit))
    assert restored.compile_info_ == {} and restored.func is _scaled
    assert_allclose(restored(X), _scaled(X), rtol=1e-12)


def test_jit_function_clone_shares_compiled_code(global_random_seed, monkeypatch):
    # Check that cloning a FunctionTransformer holding a JitFunction of a
    # closure (compiled in memory, not on disk) does not build it again.
    from sklearn.preprocessing import FunctionTransformer

    from sktune._compiled import jit_source as _jit_source

    builds = []
    build = _jit_source.build
    monkeypatch.setattr(_jit_source, "build", lambda *a: builds.append(a) or build(*a))
    shift = 1.5

    def shifted(X):
        return X + shift

    X = np.random.default_rng(global_random_seed).standard_normal((6, 2))
    step = FunctionTransformer(JitFunction(shifted))
    assert_allclose(step.fit_transform(X), X + shift)
    copy = clone(step).fit(X)
    assert_allclose(copy.transform(X), X + shift)
    assert "closure" in step.func.compile_info_["float64"]["cache_reason"]
    assert len(builds) == 1


def test_try_compile_returns_reason():
    # Check try_compile's three outcomes: compiled, cannot compile, differs.
    X = np.arange(8.0).reshape(4, 2)
    jit, reason, seconds = try_compile(_scaled, X, kw_args={"factor": 0.5})
    assert isinstance(jit, JitFunction) and reason is None and seconds > 0
    assert_allclose(jit(X, factor=0.5), _scaled(X, factor=0.5), rtol=1e-12)
    jit, reason, _ = try_compile(_sorted_names, X, kind="elementwise")
    assert jit is None and reason.startswith("numba cannot compile it")
    assert "\n" not in reason
    jit, reason, _ = try_compile(_overflow, X, kind="elementwise")
    assert jit is None and "differs from Python's" in reason


def test_jit_transformer_feature_names_and_pandas_output():
    # Check feature names (one to one for elementwise, func name + index
    # otherwise) and set_output(transform="pandas").
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, -4.0]})
    elementwise = JitTransformer(_affine, kind="elementwise").set_output(transform="pandas")
    out = elementwise.fit_transform(X)
    assert list(out.columns) == ["a", "b"]
    rowwise = JitTransformer(_row_summary).set_output(transform="pandas").fit(X)
    assert list(rowwise.transform(X).columns) == [
        "_row_summary0", "_row_summary1", "_row_summary2"]
    with pytest.raises(ValueError, match="input_features is not equal to"):
        rowwise.get_feature_names_out(["x", "y"])


# get_num_threads() in compiled code reads a ctypes pointer, which numba
# cannot cache on disk; it says so with its own warning.
@pytest.mark.filterwarnings("ignore:.*Cannot cache compiled function")
def test_jit_transformer_respects_numba_thread_count():
    # Check that the compiled driver runs on the thread count Config.apply
    # sets for numba in the calling thread, and that it is restored after.
    X = np.ones((64, 2))
    transformer = JitTransformer(_threads_used).fit(X)
    before = numba.get_num_threads()
    assert_array_equal(transformer.transform(X), before)
    with sktune.Config(openmp_threads=1).apply():
        assert_array_equal(transformer.transform(X), 1.0)
    assert numba.get_num_threads() == before


@pytest.mark.parametrize("env", [
    {"NUMBA_THREADING_LAYER": "workqueue"},
    {"NUMBA_THREADING_LAYER_PRIORITY": "workqueue omp tbb"},
], ids=["layer", "priority"])
def test_jit_transformer_workqueue_threads_do_not_abort(env):
    # Check that parallel drivers called from several Python threads at once
    # under the workqueue layer (which aborts on concurrent use) finish, and
    # agree with the main thread; first fits run in threads, before the
    # layer is chosen.
    code = """
        from concurrent.futures import ThreadPoolExecutor
        import numba
        import numpy as np
        from sktune._compiled.jit_transformer import JitTransformer

        def root_sum(row):
            return np.sqrt(np.abs(row)).sum()

        X = np.random.default_rng(0).random((20000, 20))
        with ThreadPoolExecutor(2) as pool:
            fitted = list(pool.map(lambda _: JitTransformer(root_sum).fit(X), range(2)))
            futures = [pool.submit(fitted[i % 2].transform, X) for i in range(8)]
            main = fitted[0].transform(X)
            outs = [future.result() for future in futures]
        assert all(np.allclose(out, main) for out in outs)
        print(numba.threading_layer())
    """
    run = _run_python(code, **env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["workqueue"]


@parametrize_with_checks(
    [JitTransformer(_affine, kind="elementwise"), JitTransformer(_row_summary)])
def test_jit_transformer_sklearn_compatible(estimator, check):
    # Check the scikit-learn estimator API.
    check(estimator)
