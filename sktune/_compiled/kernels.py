"""Numerical kernels of sktune and the one place that picks their engine.

Every kernel has a NumPy reference (``kernels_numpy.<name>``) with the same
signature; the Cython extension ``sktune._cy._kernels`` is only an
optimisation. The extension is imported once, here, at import time; setting
``SKTUNE_NO_EXTENSIONS=1`` before the import makes sktune behave as if it had
not been built. Nothing is ever compiled at import or call time (PITFALLS.md
checklist 32): a missing extension means the NumPy engine.

Both engines have the same functions with the same signatures
(``kernels_numpy`` is the reference); the functions here validate the
input, lay it out (F-ordered data reaches a kernel as its C-contiguous
transpose, never as a copy), allocate the outputs, call the engine and merge
per-thread partial results, once for both engines. The OpenMP thread count
is resolved at call time like
scikit-learn's ``_openmp_effective_n_threads``, so
``threadpool_limits(n, user_api="openmp")`` is honoured (checklist 31).
"""

import os
import warnings
from numbers import Integral

import numpy as np

from .._validation import invalid_choice
from ..exceptions import EngineNotAvailableError, InvalidParameterError, SktuneWarning
from . import kernels_numpy

__all__ = [
    "ENGINES",
    "engine_info",
    "column_affine",
    "column_moments",
    "column_min_max",
    "normalize_rows",
    "polynomial_2",
]

ENGINES = ("auto", "numpy", "cython")

_NO_EXTENSIONS_ENV = "SKTUNE_NO_EXTENSIONS"


def _env_flag(name):
    return os.environ.get(name, "").strip() not in ("", "0")


_NO_EXTENSIONS = _env_flag(_NO_EXTENSIONS_ENV)

# The single engine switch: the compiled module, or None when it is unusable.
if _NO_EXTENSIONS:
    _cy = None
    _CY_IMPORT_ERROR = f"{_NO_EXTENSIONS_ENV} is set"
else:
    try:
        from .._cy import _kernels as _cy
    except ImportError as exc:  # not built: sdist without a compiler, or --inplace not run
        _cy = None
        _CY_IMPORT_ERROR = f"{type(exc).__name__}: {exc}"
    else:
        _CY_IMPORT_ERROR = None

_FALLBACK_WARNED = False


def engine_info() -> dict:
    """Describe which compiled engines this process can use.

    Returns
    -------
    info : dict
        ``{"cython": bool, "cython_openmp": bool or None,
        "no_extensions": bool, "omp_max_threads": int or None}``.
        ``cython`` is True when the extension is usable, ``cython_openmp``
        tells whether it was compiled with OpenMP (None without the
        extension), ``no_extensions`` whether ``SKTUNE_NO_EXTENSIONS`` is set,
        and ``omp_max_threads`` is the calling thread's OpenMP limit now.
    """
    return {
        "cython": _cy is not None,
        "cython_openmp": None if _cy is None else bool(_cy.openmp_enabled()),
        "no_extensions": _NO_EXTENSIONS,
        "omp_max_threads": None if _cy is None else int(_cy.omp_max_threads()),
    }


def _effective_n_threads(n_threads=None, caller="the kernel"):
    """Resolve ``n_threads`` like scikit-learn's ``_openmp_effective_n_threads``.

    None means the calling thread's OpenMP limit now (``omp_get_max_threads``,
    which ``threadpool_limits(n, user_api="openmp")`` changes), capped at
    ``os.cpu_count()``; a negative value counts down from that limit (-1 is
    all of it). Without the extension the limit is 1.
    """
    if (
        n_threads is not None
        and (not isinstance(n_threads, Integral) or isinstance(n_threads, bool)
             or n_threads == 0)
    ):
        raise InvalidParameterError(
            f"The 'n_threads' parameter of {caller} must be an int in the "
            "range [1, inf), an int in the range (-inf, -1] or None. "
            f"Got {n_threads!r} instead."
        )
    if n_threads is not None and n_threads > 0:
        return int(n_threads)
    if _cy is None:
        max_n_threads = 1
    else:
        max_n_threads = max(1, min(int(_cy.omp_max_threads()), os.cpu_count() or 1))
    if n_threads is None:
        return max_n_threads
    return max(1, max_n_threads + int(n_threads) + 1)


def _check_float_array(name, array, ndim, dtype=None):
    """Return ``array`` as an ndarray of ``ndim`` dims, C- or F-contiguous.

    Contiguous input (F order, read-only memmaps included) is returned
    without a copy; only strided views are copied (to C order).
    """
    array = np.asarray(array)  # a view for np.memmap, never a copy
    if dtype is None:
        if array.dtype not in (np.float32, np.float64):
            raise InvalidParameterError(
                f"{name} must be float32 or float64, got {array.dtype}. "
                f"Convert it first, e.g. {name}.astype(np.float64)."
            )
    elif array.dtype.kind not in "biuf":
        raise InvalidParameterError(
            f"{name} must be a real numeric array, got {array.dtype}."
        )
    if array.ndim != ndim:
        raise InvalidParameterError(
            f"{name} must be a {ndim}-D array, got {array.ndim}-D with shape "
            f"{array.shape}."
        )
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    if not (array.flags.c_contiguous or array.flags.f_contiguous):
        array = np.ascontiguousarray(array)
    return array


def _check_vector(name, vector, X, length):
    vector = np.ascontiguousarray(_check_float_array(name, vector, 1, dtype=X.dtype))
    if vector.shape[0] != length:
        raise InvalidParameterError(
            f"{name} must have length n_features={length} (X.shape[1]), "
            f"got {vector.shape[0]}."
        )
    return vector


def _check_out(out, X, shape=None):
    """A new array laid out as X, or ``out`` (X itself for in-place) checked."""
    shape = X.shape if shape is None else shape
    if out is None:
        return np.empty_like(X) if shape == X.shape else np.empty(shape, X.dtype)
    if (not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != X.dtype
            or not out.flags.writeable
            or not (out.flags.c_contiguous if X.flags.c_contiguous
                    else out.flags.f_contiguous)):
        raise InvalidParameterError(
            f"out must be a writeable {X.dtype} array of shape {shape} in the "
            f"memory order of X, got {type(out).__name__} "
            f"{getattr(out, 'dtype', '')} {getattr(out, 'shape', '')}.")
    return out


def _rows_view(X):
    """``(A, by_row)``: A is X, or X.T when X is F-ordered; both C-contiguous.

    The column kernels then reduce or scale the columns of A, or with
    ``by_row`` its rows, which are X's columns.
    """
    if X.flags.c_contiguous:
        return X, False
    return X.T, True


def _select_engine(engine):
    """Map the user's ``engine`` to ``"numpy"`` or ``"cython"``."""
    global _FALLBACK_WARNED
    if engine not in ENGINES:
        raise InvalidParameterError(invalid_choice("engine", engine, ENGINES))
    if engine == "numpy":
        return "numpy"
    if _cy is not None:
        return "cython"
    if engine == "cython":
        raise EngineNotAvailableError(
            f"The 'cython' engine is not available ({_CY_IMPORT_ERROR}). "
            "Unset SKTUNE_NO_EXTENSIONS, or reinstall sktune with a C compiler: "
            "pip install --force-reinstall --no-binary sktune sktune "
            "(from a checkout: pip install -e .). "
            "Or pass engine='numpy'."
        )
    if not _NO_EXTENSIONS and not _FALLBACK_WARNED:
        _FALLBACK_WARNED = True
        warnings.warn(
            f"sktune's Cython kernels are not available ({_CY_IMPORT_ERROR}); "
            "using the NumPy engine.",
            SktuneWarning,
            stacklevel=3,
        )
    return "numpy"


def _engine(engine, n_threads, caller):
    """The kernel module for ``engine`` and the resolved thread count."""
    name = _select_engine(engine)
    n_threads = _effective_n_threads(n_threads, caller)
    return (_cy if name == "cython" else kernels_numpy), n_threads


# Tile of column_moments: rows of this many bytes are read once from memory
# and twice from cache. Set by ``benchmarks/bench_kernels.py --tuning`` on
# the 2-core Xeon VM (fit of 1,000,000 x 32 float64, 2 threads): 16 KiB
# 47 ms, 64 KiB 37 ms, 256 KiB 36 ms, 1 MiB 46 ms. 256 KiB is also within
# every L2 cache of the last decade.
_TILE_BYTES = 256 * 1024


def column_affine(X, offset, scale, *, mul_add=False, clip=None, out=None,
                  check_finite=False, n_threads=None, engine="auto"):
    """Compute ``(X - offset) / scale``, or ``X * scale + offset``, per column.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        float32 or float64, C- or F-ordered (read-only and memory-mapped
        arrays are read in place); strided views are copied first.
    offset, scale : array-like of shape (n_features,)
        Cast to X's dtype.
    mul_add : bool, default=False
        False: ``(X - offset) / scale``; True: ``X * scale + offset``. Each
        operation is rounded on its own, as NumPy's in-place pair is.
    clip : (float, float), default=None
        Clip the result to this range (NaN stays NaN).
    out : ndarray, default=None
        Where to write, laid out as X; X itself works (in place). None
        allocates an array laid out as X.
    check_finite : bool, default=False
        Also report whether X holds infinite values or NaN, found in the
        same pass (input validation fused into the kernel).
    n_threads : int, default=None
        OpenMP threads of the Cython engine. None uses the calling thread's
        OpenMP limit now (so ``threadpool_limits(n, user_api="openmp")``
        applies), capped at ``os.cpu_count()``; -1 is the same, -2 one less.
    engine : {"auto", "numpy", "cython"}, default="auto"
        "auto" uses Cython when the extension is available, else NumPy.

    Returns
    -------
    out : ndarray of shape (n_samples, n_features)
        Same dtype and memory order as X.
    has_inf, has_nan : bool
        Only with ``check_finite``: whether X holds infinite values, NaN.

    Raises
    ------
    InvalidParameterError
        X is not a 2-D float32/float64 array (also a TypeError), or offset,
        scale or out has the wrong shape.
    EngineNotAvailableError
        ``engine="cython"`` but the extension is not usable (also an
        ImportError).
    """
    module, n_threads = _engine(engine, n_threads, "column_affine")
    X = _check_float_array("X", X, 2)
    offset = _check_vector("offset", offset, X, X.shape[1])
    scale = _check_vector("scale", scale, X, X.shape[1])
    out = _check_out(out, X)
    low, high = (0.0, 0.0) if clip is None else (float(clip[0]), float(clip[1]))
    A, by_row = _rows_view(X)
    flags = 0
    if X.size:
        flags = module.column_affine(A, offset, scale, out.T if by_row else out, by_row,
                                     bool(mul_add), clip is not None, low, high,
                                     bool(check_finite), n_threads)
    return (out, bool(flags & 1), bool(flags & 2)) if check_finite else out


def _fold_moments(count, mean, m2):
    """Merge per-thread rows of moments with Chan's update (vectorised)."""
    n, mu, total = count[0].copy(), mean[0].copy(), m2[0].copy()
    for n_b, mu_b, m2_b in zip(count[1:], mean[1:], m2[1:]):
        new = n + n_b
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = mu_b - mu
            mu = np.where(n_b > 0, mu + delta * (n_b / new), mu)
            total = np.where(n_b > 0, total + m2_b + delta * delta * (n * n_b / new), total)
        n = new
    return n, mu, total


def _column_reduction(X, n_threads, engine, caller):
    """What a per-column reduction needs: the engine, X checked, its row view
    and how many per-thread partial results the kernel writes (one row of
    partials per thread for C order; one thread per column for F order)."""
    module, n_threads = _engine(engine, n_threads, caller)
    X = _check_float_array("X", X, 2)
    A, by_row = _rows_view(X)
    return module, n_threads, X, A, by_row, (1 if by_row else n_threads)


def column_moments(X, *, n_threads=None, engine="auto"):
    """Count, mean and variance of each column of X, NaN ignored.

    One pass over memory, accumulated in float64 whatever X's dtype; the
    variance is the population variance (``ddof=0``), as scikit-learn's.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        float32 or float64, C- or F-ordered.
    n_threads, engine
        As in :func:`column_affine`.

    Returns
    -------
    count : ndarray of shape (n_features,), float64
        Non-NaN values per column.
    mean, var : ndarray of shape (n_features,), float64
        NaN for a column without values.
    """
    module, n_threads, X, A, by_row, n_parts = _column_reduction(
        X, n_threads, engine, "column_moments")
    n_stats = X.shape[1]
    count, mean, m2 = (np.zeros((n_parts, n_stats)) for _ in range(3))
    row_bytes = A.itemsize * (1 if by_row else max(1, A.shape[1]))
    block = max(1, _TILE_BYTES // row_bytes)
    shift = np.zeros(n_stats)
    if X.size:
        # Moments of X - X[0]: sums stay small, so a mean of 1e9 loses nothing.
        shift = np.nan_to_num(X[0].astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        scratch = np.empty((n_parts, 3 * n_stats))
        module.column_moments(A, by_row, shift, block, count, mean, m2, scratch,
                              n_threads)
    n, mu, total = _fold_moments(count, mean, m2)
    mu += shift
    with np.errstate(invalid="ignore", divide="ignore"):
        var = total / n
    mu[n == 0] = np.nan
    return n, mu, var


def column_min_max(X, *, n_threads=None, engine="auto"):
    """Minimum and maximum of each column of X, NaN ignored.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        float32 or float64, C- or F-ordered.
    n_threads, engine
        As in :func:`column_affine`.

    Returns
    -------
    low, high : ndarray of shape (n_features,)
        X's dtype; NaN for a column without values (as ``np.nanmin``).
    """
    module, n_threads, X, A, by_row, n_parts = _column_reduction(
        X, n_threads, engine, "column_min_max")
    low = np.full((n_parts, X.shape[1]), np.inf, dtype=X.dtype)
    high = np.full((n_parts, X.shape[1]), -np.inf, dtype=X.dtype)
    if X.size:
        module.column_min_max(A, by_row, low, high, n_threads)
    low, high = low.min(axis=0), high.max(axis=0)
    empty = low > high  # never lowered nor raised: no value in the column
    low[empty] = high[empty] = np.nan
    return low, high


_NORMS = {"max": 0, "l1": 1, "l2": 2}


def normalize_rows(X, norm="l2", *, out=None, check_finite=False, n_threads=None,
                   engine="auto"):
    """Divide each row of X by its norm, as ``sklearn.preprocessing.normalize``.

    Rows whose norm is below ``10 * eps`` of the dtype are left as they are
    (divided by 1), as scikit-learn does.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        float32 or float64, C- or F-ordered.
    norm : {"l1", "l2", "max"}, default="l2"
    out : ndarray, default=None
        As in :func:`column_affine` (X itself works).
    check_finite, n_threads, engine
        As in :func:`column_affine`.

    Returns
    -------
    out : ndarray of shape (n_samples, n_features)
        Same dtype and memory order as X.
    has_inf, has_nan : bool
        Only with ``check_finite``, as in :func:`column_affine`.
    """
    module, n_threads = _engine(engine, n_threads, "normalize_rows")
    if norm not in _NORMS:
        raise InvalidParameterError(invalid_choice("norm", norm, _NORMS))
    X = _check_float_array("X", X, 2)
    out = _check_out(out, X)
    tiny = 10 * np.finfo(X.dtype).eps
    check, flags = bool(check_finite), 0
    if not X.size:
        pass
    elif X.flags.c_contiguous:
        flags = module.normalize_rows(X, out, _NORMS[norm], tiny, check, n_threads)
    else:
        # A row of an F-ordered X is strided: take the norms with NumPy's
        # column-wise reductions, then scale the columns of X.T in one pass.
        norms = kernels_numpy.row_norms(X, _NORMS[norm], tiny)
        flags = module.column_affine(X.T, np.zeros_like(norms), norms, out.T, False,
                                     False, False, 0.0, 0.0, check, n_threads)
    return (out, bool(flags & 1), bool(flags & 2)) if check_finite else out


def n_polynomial_2_features(n_features, include_bias=True, interaction_only=False):
    """Output width of :func:`polynomial_2`."""
    pairs = n_features * (n_features - 1) // 2 + (0 if interaction_only else n_features)
    return int(include_bias) + n_features + pairs


def polynomial_2(X, *, include_bias=True, interaction_only=False, n_threads=None,
                 engine="auto"):
    """Degree-2 polynomial (or interaction) features of X.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        float32 or float64, any memory order.
    include_bias : bool, default=True
        Start with a column of ones.
    interaction_only : bool, default=False
        Products of distinct features only (no squares).
    n_threads, engine
        As in :func:`column_affine`.

    Returns
    -------
    out : ndarray of shape (n_samples, n_output_features), C-ordered
        Columns in scikit-learn's ``PolynomialFeatures(degree=2)`` order:
        ``[1,] x_1..x_m`` then ``x_a * x_b`` for ``a <= b`` (``a < b``).
    """
    module, n_threads = _engine(engine, n_threads, "polynomial_2")
    X = _check_float_array("X", X, 2)
    n_out = n_polynomial_2_features(X.shape[1], include_bias, interaction_only)
    out = np.empty((X.shape[0], n_out), dtype=X.dtype)
    if out.size:
        module.polynomial_2(X, out, bool(include_bias), bool(interaction_only), n_threads)
    return out
