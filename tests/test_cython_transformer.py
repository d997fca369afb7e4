"""Tests of sktune._compiled.cython_build and cython_transformer: user Cython
kernels compiled at run time.

Every compile is real (Cython and the C compiler, several seconds each), so
the sources are module constants and each is built once per session: the
session's private SKTUNE_CACHE_DIR (conftest.py) and the in-process module
table share the build between tests.
"""

import importlib.util
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from sktune._compiled import cython_build as _cython_runtime
from sktune._compiled import cython_transformer as cython_transformer_module
from sktune._compiled.cython_transformer import CythonTransformer, cython_transformer
from sktune.exceptions import CompileError, InvalidParameterError, SktuneError

needs_compiler = pytest.mark.skipif(
    shutil.which(_cython_runtime._compiler_command()[0]) is None,
    reason="no C compiler to build Cython kernels",
)

# The kernel of the brief, with prange so that -fopenmp is exercised.
CLIP_SQUARE = """\
import numpy as np
from cython cimport floating
from cython.parallel cimport prange

def clip_square(const floating[:, ::1] X):
    out = np.empty((X.shape[0], X.shape[1]), dtype=np.asarray(X).dtype)
    cdef floating[:, ::1] o = out
    cdef Py_ssize_t i, j
    for i in prange(X.shape[0], nogil=True):
        for j in range(X.shape[1]):
            o[i, j] = min(X[i, j] * X[i, j], 1.0)
    return out
"""

# Untyped functions compile fast; several public ones need func_name.
SEVERAL = """\
import numpy as np

def double_it(X):
    return 2 * np.asarray(X)

cpdef triple_it(X):
    return 3 * np.asarray(X)

def flatten(X):
    return np.asarray(X).ravel()

def explode(X):
    raise ArithmeticError("explode was called")

def _helper():
    pass
"""

# The header directive must win over sktune's boundscheck=False.
BOUNDSCHECKED = """\
# cython: boundscheck=True
def past_the_end(const double[:, ::1] X):
    cdef Py_ssize_t j = X.shape[1]
    return [[X[0, j]]]
"""

CYTHON_ERROR = """\
def broken(const double[:, ::1] X):
    cdef int n = "not an int"
    return X
"""

C_ERROR = """\
cdef extern from "sktune_no_such_header.h":
    pass

def uses_header(const double[:, ::1] X):
    return X
"""


def _clip_square_reference(X):
    return np.minimum(np.asarray(X) ** 2, 1.0)


def _data(seed, dtype=np.float64, order="C", shape=(40, 5)):
    X = np.random.default_rng(seed).uniform(-2.0, 2.0, size=shape)
    return np.asarray(X, dtype=dtype, order=order)


def _forbidden(*args, **kwargs):
    raise AssertionError("this call must not compile anything")


@needs_compiler
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_cython_transformer_matches_numpy(global_random_seed, dtype, order):
    # Check that the fused kernel matches NumPy in both dtypes and keeps the dtype.
    X = _data(global_random_seed, dtype, order)
    est = cython_transformer(CLIP_SQUARE).fit(X)
    out = est.transform(X)
    assert out.dtype == dtype
    assert_allclose(out, _clip_square_reference(X), rtol=1e-6)
    assert est.n_features_out_ == X.shape[1]
    assert est.compile_info_["openmp"] in (True, False)


@needs_compiler
def test_cython_transformer_second_call_loads_cache(global_random_seed, monkeypatch,
                                                    tmp_path):
    # Check that the first fit builds, and that a later call, with a cold process
    # table, loads the cached extension without Cython or the compiler.
    monkeypatch.setenv("SKTUNE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_cython_runtime, "_LOADED", {})
    X = _data(global_random_seed)

    est = CythonTransformer(source=SEVERAL, func_name="double_it").fit(X)
    info = est.compile_info_
    assert info["cached"] is False and info["seconds"] > 0
    module_path = Path(info["module_path"])
    assert tmp_path / "cython" in module_path.parents
    assert_allclose(est.transform(X), 2 * X)

    monkeypatch.setattr(_cython_runtime, "_build", _forbidden)
    monkeypatch.setattr(_cython_runtime, "_openmp_supported", _forbidden)
    monkeypatch.setattr(_cython_runtime, "_LOADED", {})
    module_name = module_path.name.split(".")[0]
    monkeypatch.delitem(sys.modules, module_name)
    # Another function of the same source: the key ignores func_name.
    est = cython_transformer(SEVERAL, func_name="triple_it").fit(X)
    assert est.compile_info_ == {**info, "seconds": 0.0, "cached": True}
    assert_allclose(est.transform(X), 3 * X)
    assert list(est.get_feature_names_out()) == [f"triple_it{i}" for i in range(5)]


@needs_compiler
def test_cython_transformer_cython_error_shows_source_line():
    # Check that a Cython error reads like Cython's report, without a traceback
    # or temporary paths.
    with pytest.raises(CompileError) as excinfo:
        cython_transformer(CYTHON_ERROR)
    message = str(excinfo.value)
    assert isinstance(excinfo.value, (SktuneError, RuntimeError))
    assert "Error compiling Cython file" in message
    assert 'cdef int n = "not an int"' in message
    assert "<source>:2:" in message
    assert "Traceback" not in message
    assert str(_cython_runtime.cache_dir("cython")) not in message


@needs_compiler
def test_cython_transformer_c_error_shows_compiler_message():
    # Check that a C compiler error shows gcc's own diagnostics, without a traceback.
    with pytest.raises(CompileError) as excinfo:
        cython_transformer(C_ERROR)
    message = str(excinfo.value)
    assert "sktune_no_such_header.h" in message
    assert "error:" in message
    assert "<source>.c" in message
    assert "Traceback" not in message
    assert str(_cython_runtime.cache_dir("cython")) not in message


def test_cython_transformer_without_compiler_says_how_to_install(monkeypatch):
    # Check that a missing C compiler gives the fix instead of a build failure.
    monkeypatch.setenv("CC", "sktune-no-such-cc")
    with pytest.raises(CompileError, match="No C compiler found.*build-essential"):
        cython_transformer(SEVERAL, func_name="double_it")


def test_cython_transformer_import_and_construction_compile_nothing(monkeypatch):
    # Check that importing the module and building, cloning or pickling an
    # unfitted transformer runs no compiler (PITFALLS checklist 32).
    monkeypatch.setattr(subprocess, "run", _forbidden)
    monkeypatch.setattr(subprocess, "Popen", _forbidden)
    spec = importlib.util.spec_from_file_location(
        "sktune._compiled.cython_build_copy", _cython_runtime.__file__)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))

    monkeypatch.setattr(cython_transformer_module, "load_module", _forbidden)
    est = CythonTransformer(source=CLIP_SQUARE)
    assert clone(est).get_params() == {"source": CLIP_SQUARE, "func_name": None}
    assert pickle.loads(pickle.dumps(est)).get_params() == est.get_params()
    assert "clip_square" in repr(est)


@needs_compiler
def test_cython_transformer_func_name_and_output_contract(global_random_seed):
    # Check that func_name picks the function, an unknown name is refused, a
    # function that raises propagates, and a 1-D result is refused.
    X = _data(global_random_seed)
    assert_allclose(cython_transformer(SEVERAL, func_name="double_it")
                    .fit_transform(X), 2 * X)
    with pytest.raises(InvalidParameterError, match="no def or cpdef function 'nope'"):
        cython_transformer(SEVERAL, func_name="nope")
    with pytest.raises(ArithmeticError, match="explode was called"):
        CythonTransformer(source=SEVERAL, func_name="explode").fit(X)
    with pytest.raises(InvalidParameterError, match=r"2-D array .* shape \(5,\)"):
        CythonTransformer(source=SEVERAL, func_name="flatten").fit(X)


@needs_compiler
def test_cython_transformer_source_directives_override_defaults(global_random_seed):
    # Check that a "# cython:" header line in the source beats sktune's directives.
    with pytest.raises(IndexError, match="Out of bounds on buffer access"):
        cython_transformer(BOUNDSCHECKED).fit(_data(global_random_seed))


@pytest.mark.parametrize(
    "source, found",
    [
        ("def _private(X):\n    return X\ncdef int helper():\n    return 0\n", []),
        (SEVERAL, ["double_it", "triple_it", "flatten", "explode"]),
        ("cpdef double[:, ::1] first(double[:, ::1] X):\n    return X\n"
         "@cython.boundscheck(True)\ndef second (X):\n    return X\n"
         "cdef class K:\n    def method(self, X):\n        return X\n",
         ["first", "second"]),
    ],
    ids=["zero", "four", "cpdef-and-decorated"],
)
def test_cython_transformer_needs_one_public_function(monkeypatch, source, found):
    # Check that func_name=None needs exactly one public def/cpdef function and
    # the error names those found, before any compiling.
    monkeypatch.setattr(_cython_runtime, "_build", _forbidden)
    with pytest.raises(InvalidParameterError, match="exactly one public") as excinfo:
        cython_transformer(source)
    assert str(found) in str(excinfo.value)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: cython_transformer(123),
         "The 'source' parameter of cython_transformer must be an instance of "
         "'str'. Got 123 instead."),
        (lambda: cython_transformer(CLIP_SQUARE, func_name=1),
         "The 'func_name' parameter of cython_transformer must be an instance of "
         "'str' or None. Got 1 instead."),
        (lambda: CythonTransformer().fit([[1.0]]),
         "The 'source' parameter of CythonTransformer must be an instance of "
         "'str'. Got None instead."),
    ],
    ids=["source-int", "func-name-int", "estimator-source-none"],
)
def test_cython_transformer_invalid_parameters(monkeypatch, call, message):
    # Check that bad arguments raise InvalidParameterError in sklearn's wording.
    monkeypatch.setattr(cython_transformer_module, "load_module", _forbidden)
    with pytest.raises(InvalidParameterError) as excinfo:
        call()
    assert str(excinfo.value) == message
    assert isinstance(excinfo.value, (ValueError, TypeError))


@needs_compiler
def test_cython_transformer_rejects_bad_input_like_sklearn(global_random_seed):
    # Check that sparse, 1-D and wrongly shaped input get sklearn's errors.
    X = _data(global_random_seed, shape=(10, 3))
    est = cython_transformer(CLIP_SQUARE)
    with pytest.raises(TypeError, match="Sparse data was passed for X, but dense"):
        est.fit(sp.csr_matrix(X))
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array instead"):
        est.fit(X[:, 0])
    est.fit(X)
    with pytest.raises(TypeError, match="Sparse data was passed for X, but dense"):
        est.transform(sp.csr_matrix(X))
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array instead"):
        est.transform(X[:, 0])
    with pytest.raises(ValueError, match="X has 2 features, but CythonTransformer "
                                         "is expecting 3 features as input"):
        est.transform(X[:, :2])


@needs_compiler
def test_cython_transformer_pandas_output(global_random_seed):
    # Check that set_output(transform="pandas") names columns after the function.
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(_data(global_random_seed, shape=(8, 3)), columns=["a", "b", "c"])
    est = cython_transformer(CLIP_SQUARE).set_output(transform="pandas")
    out = est.fit_transform(X)
    assert list(out.columns) == ["clip_square0", "clip_square1", "clip_square2"]
    assert_allclose(out.to_numpy(), _clip_square_reference(X))


@needs_compiler
def test_cython_transformer_pickle_round_trip(global_random_seed, monkeypatch):
    # Check that pickling drops the loaded module and the copy reloads it lazily
    # from the cache.
    X = _data(global_random_seed)
    est = cython_transformer(CLIP_SQUARE).fit(X)
    state = est.__getstate__()
    assert "_module" not in state and state["source"] == CLIP_SQUARE
    copy = pickle.loads(pickle.dumps(est))
    monkeypatch.setattr(_cython_runtime, "_build", _forbidden)
    assert_array_equal(copy.transform(X), est.transform(X))
    assert copy.compile_info_ == est.compile_info_


@needs_compiler
def test_cython_transformer_in_loky_workers(global_random_seed):
    # Check that loky workers, which unpickle the transformer and load the
    # extension from the cache, give the in-process output.
    X = _data(global_random_seed, shape=(60, 4))
    est = cython_transformer(CLIP_SQUARE).fit(X)
    chunks = np.array_split(X, 4)
    parallel = joblib.Parallel(n_jobs=2, backend="loky")
    parts = parallel(joblib.delayed(est.transform)(chunk) for chunk in chunks)
    assert_array_equal(np.vstack(parts), est.transform(X))
    # The workers look up the entry this process built, so they compiled nothing.
    keys = parallel(joblib.delayed(_cython_runtime._cache_key)(CLIP_SQUARE)
                    for _ in range(2))
    assert keys == [_cython_runtime._cache_key(CLIP_SQUARE)] * 2


@needs_compiler
@parametrize_with_checks([CythonTransformer(source=CLIP_SQUARE)])
def test_cython_transformer_estimator_checks(estimator, check):
    # Check that CythonTransformer passes scikit-learn's estimator checks.
    check(estimator)
