"""Tests of sktune._compiled.kernels: engine parity, thread limits, input checks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from threadpoolctl import threadpool_limits

from sktune._compiled import kernels as _kernels
from sktune._compiled.kernels import (
    _effective_n_threads,
    column_affine,
    engine_info,
)
from sktune.exceptions import (
    EngineNotAvailableError,
    InvalidParameterError,
    SktuneWarning,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED = 0

with_cython = pytest.mark.skipif(
    _kernels._cy is None, reason="sktune's Cython extension is not built"
)
with_openmp = pytest.mark.skipif(
    _kernels._cy is None or not _kernels._cy.openmp_enabled(),
    reason="sktune's Cython extension is not built with OpenMP",
)

# Every engine, the compiled ones skipped when not built.
ENGINES = [
    pytest.param("numpy", id="numpy"),
    pytest.param("cython", id="cython", marks=with_cython),
]


def _make_data(dtype, order="C", n_samples=257, n_features=13):
    rng = np.random.default_rng(SEED)
    X = rng.normal(loc=3.0, scale=2.0, size=(n_samples, n_features))
    X = np.asarray(X, dtype=dtype, order=order)
    mean = X.mean(axis=0)
    scale = X.std(axis=0) + np.asarray(0.5, dtype=dtype)
    return X, mean, scale


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_column_affine_matches_numpy_reference(engine, dtype, order):
    # Check that every engine matches the NumPy reference and keeps X's dtype.
    X, mean, scale = _make_data(dtype, order)
    expected = (X - mean) / scale

    out = column_affine(X, mean, scale, engine=engine)

    assert out.dtype == dtype
    assert out.shape == X.shape
    # The output keeps X's memory order, as scikit-learn's copies do.
    assert out.flags.c_contiguous if order == "C" else out.flags.f_contiguous
    # Subtraction and division are correctly rounded: the same bits as NumPy.
    assert_allclose(out, expected, rtol=0, atol=0)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("n_threads", [1, 2, -1, None])
def test_column_affine_n_threads_does_not_change_result(engine, n_threads):
    # Check that the result does not depend on the number of threads.
    X, mean, scale = _make_data(np.float64)
    out = column_affine(X, mean, scale, n_threads=n_threads, engine=engine)
    assert_array_equal(out, (X - mean) / scale)


@pytest.mark.parametrize("engine", ENGINES)
def test_column_affine_casts_mean_and_scale_to_X_dtype(engine):
    # Check that float64 mean/scale do not up-cast a float32 X.
    X, mean, scale = _make_data(np.float32)
    out = column_affine(
        X, mean.astype(np.float64), list(scale.astype(np.float64)), engine=engine
    )
    assert out.dtype == np.float32
    assert_allclose(out, (X - mean) / scale, rtol=0, atol=0)


@with_openmp
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs at least 2 CPUs")
@pytest.mark.parametrize("limit", [1, 2])
def test_team_size_follows_openmp_limit(limit):
    # Check that the kernel's prange team honours threadpool_limits(n, "openmp").
    with threadpool_limits(limit, user_api="openmp"):
        n_threads = _effective_n_threads()
        assert n_threads == limit
        assert engine_info()["omp_max_threads"] == limit
        assert _kernels._cy._team_size(n_threads) == limit


@with_cython
def test_team_size_is_one_without_openmp():
    # Check that a build without OpenMP reports and runs a 1-thread team.
    if _kernels._cy.openmp_enabled():
        pytest.skip("the extension is built with OpenMP")
    assert _kernels._cy.omp_max_threads() == 1
    assert _kernels._cy._team_size(4) == 1
    assert _effective_n_threads() == 1


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_column_affine_accepts_readonly_memmap(engine, dtype, tmp_path):
    # Check that a read-only memmap (as loky passes) is used without copy or change.
    X, mean, scale = _make_data(dtype)
    path = tmp_path / "X.dat"
    writable = np.memmap(path, dtype=dtype, mode="w+", shape=X.shape)
    writable[:] = X
    writable.flush()
    del writable
    X_mm = np.memmap(path, dtype=dtype, mode="r", shape=X.shape)
    assert not X_mm.flags.writeable

    X_checked = _kernels._check_float_array("X", X_mm, 2)
    assert np.shares_memory(X_checked, X_mm)

    out = column_affine(X_mm, mean, scale, engine=engine)

    assert type(out) is np.ndarray
    assert_allclose(out, (X - mean) / scale, rtol=0, atol=0)
    assert_array_equal(X_mm, X)
    del X_mm, X_checked


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dtype", [np.float16, np.int64, np.int32], ids=str)
def test_column_affine_rejects_non_float_dtype(engine, dtype):
    # Check that float16 and int X give a clear InvalidParameterError/TypeError.
    X = np.ones((4, 3), dtype=dtype)
    with pytest.raises(InvalidParameterError) as excinfo:
        column_affine(X, np.zeros(3), np.ones(3), engine=engine)
    assert isinstance(excinfo.value, TypeError)
    assert str(excinfo.value).startswith(
        f"X must be float32 or float64, got {np.dtype(dtype).name}."
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"X": np.ones(3)}, "X must be a 2-D array, got 1-D"),
        ({"offset": np.zeros(2)}, r"offset must have length n_features=3 \(X.shape\[1\]\), got 2"),
        ({"scale": np.ones((3, 1))}, "scale must be a 1-D array, got 2-D"),
        ({"offset": np.array(["a", "b", "c"])}, "offset must be a real numeric array"),
        ({"n_threads": 0}, "The 'n_threads' parameter of column_affine must be"),
        ({"n_threads": 1.5}, "The 'n_threads' parameter of column_affine must be"),
        (
            {"engine": "cythn"},
            r"Invalid engine: 'cythn', expected one of \['auto', 'cython', 'numpy'\]",
        ),
    ],
    ids=["X-1d", "offset-length", "scale-2d", "offset-str", "n_threads-0",
         "n_threads-float", "engine-typo"],
)
def test_column_affine_invalid_arguments(kwargs, match):
    # Check that bad arguments raise InvalidParameterError with a clear message.
    params = {"X": np.ones((4, 3)), "offset": np.zeros(3), "scale": np.ones(3)}
    params.update(kwargs)
    with pytest.raises(InvalidParameterError, match=match):
        column_affine(**params)


def test_column_affine_cython_engine_unavailable_raises(monkeypatch):
    # Check that asking for Cython when it is missing raises with the fix.
    monkeypatch.setattr(_kernels, "_cy", None)
    X, mean, scale = _make_data(np.float64)
    with pytest.raises(EngineNotAvailableError) as excinfo:
        column_affine(X, mean, scale, engine="cython")
    assert isinstance(excinfo.value, ImportError)
    message = str(excinfo.value)
    assert "pip install --force-reinstall --no-binary sktune sktune" in message
    assert "SKTUNE_NO_EXTENSIONS" in message
    assert engine_info()["cython"] is False


def test_column_affine_auto_falls_back_to_numpy_with_warning(monkeypatch):
    # Check that engine="auto" degrades to NumPy with one SktuneWarning.
    monkeypatch.setattr(_kernels, "_cy", None)
    monkeypatch.setattr(_kernels, "_NO_EXTENSIONS", False)
    monkeypatch.setattr(_kernels, "_FALLBACK_WARNED", False)
    X, mean, scale = _make_data(np.float32)
    with pytest.warns(SktuneWarning, match="using the NumPy engine"):
        out = column_affine(X, mean, scale)
    assert_allclose(out, (X - mean) / scale, rtol=0, atol=0)
    assert _effective_n_threads() == 1


def test_engine_info_reports_extension():
    # Check that engine_info has the documented keys and matches the module state.
    info = engine_info()
    assert set(info) == {"cython", "cython_openmp", "no_extensions", "omp_max_threads"}
    assert info["cython"] is (_kernels._cy is not None)
    if info["cython"]:
        assert isinstance(info["cython_openmp"], bool)
        assert isinstance(info["omp_max_threads"], int)
        assert info["omp_max_threads"] >= 1
    else:
        assert info["cython_openmp"] is None
        assert info["omp_max_threads"] is None


@pytest.mark.slow
def test_engine_info_no_extensions_env_in_subprocess():
    # Check that SKTUNE_NO_EXTENSIONS=1 hides the extension and NumPy still works.
    code = (
        "import json, warnings\n"
        "import numpy as np\n"
        "warnings.simplefilter('error')\n"
        "from sktune._compiled.kernels import column_affine, engine_info\n"
        "X = np.arange(6, dtype=np.float32).reshape(3, 2)\n"
        "out = column_affine(X, X.mean(0), X.std(0))\n"
        "ok = bool(np.array_equal(out, (X - X.mean(0)) / X.std(0)))\n"
        "print(json.dumps({'info': engine_info(), 'ok': ok, 'dtype': str(out.dtype)}))\n"
    )
    env = dict(os.environ, SKTUNE_NO_EXTENSIONS="1")
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["info"] == {
        "cython": False,
        "cython_openmp": None,
        "no_extensions": True,
        "omp_max_threads": None,
    }
    assert result["ok"] is True
    assert result["dtype"] == "float32"


@pytest.mark.parametrize("engine", ["auto", *ENGINES])
def test_column_affine_never_compiles(engine, monkeypatch):
    # Check that calling a kernel invokes no compiler (no cython.inline, pyximport).
    Inline = pytest.importorskip("Cython.Build.Inline")
    pyximport = pytest.importorskip("pyximport")
    CCompiler = pytest.importorskip("setuptools._distutils.ccompiler").CCompiler

    def _forbidden(*args, **kwargs):
        raise AssertionError("sktune invoked a compiler at call time")

    monkeypatch.setattr(Inline, "cython_inline", _forbidden)
    monkeypatch.setattr(pyximport, "install", _forbidden)
    monkeypatch.setattr(CCompiler, "compile", _forbidden)
    X, mean, scale = _make_data(np.float64)
    out = column_affine(X, mean, scale, engine=engine)
    assert_allclose(out, (X - mean) / scale, rtol=0, atol=0)
