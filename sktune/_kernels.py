"""Numerical kernels of sktune and the one place that picks their engine.

Every kernel has a NumPy reference (``_<name>_numpy``) with the same
signature; the Cython extension ``sktune._cy._kernels`` is only an
optimisation. The extension is imported once, here, at import time; setting
``SKTUNE_NO_EXTENSIONS=1`` before the import makes sktune behave as if it had
not been built. Nothing is ever compiled at import or call time (PITFALLS.md
checklist 32): a missing extension means the NumPy engine.

Input is validated and converted in Python before a kernel runs (dtype, C
order, shapes), and the OpenMP thread count is resolved at call time like
scikit-learn's ``_openmp_effective_n_threads``, so
``threadpool_limits(n, user_api="openmp")`` is honoured (checklist 31).
"""

import os
import warnings
from numbers import Integral

import numpy as np

from ._validation import invalid_choice
from .exceptions import EngineNotAvailableError, InvalidParameterError, SktuneWarning

__all__ = ["ENGINES", "engine_info", "standard_scale"]

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
        from ._cy import _kernels as _cy
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


def _effective_n_threads(n_threads=None):
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
            "The 'n_threads' parameter of standard_scale must be an int in the "
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
    # ascontiguousarray copies only when needed (F order, strided views).
    return np.ascontiguousarray(array, dtype=dtype)


def _check_standard_scale_input(X, mean, scale):
    """Return C-contiguous ``X, mean, scale`` of X's float dtype, or raise.

    X is not copied when it is already a C-contiguous float array (read-only
    ones included, such as the memmaps loky hands to its workers).
    """
    X = _check_float_array("X", X, 2)
    n_features = X.shape[1]
    mean = _check_float_array("mean", mean, 1, dtype=X.dtype)
    scale = _check_float_array("scale", scale, 1, dtype=X.dtype)
    for name, vector in (("mean", mean), ("scale", scale)):
        if vector.shape[0] != n_features:
            raise InvalidParameterError(
                f"{name} must have length n_features={n_features} (X.shape[1]), "
                f"got {vector.shape[0]}."
            )
    return X, mean, scale


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
            "(from a checkout: python setup.py build_ext --inplace). "
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


def _standard_scale_numpy(X, mean, scale, n_threads=None):
    """NumPy reference of :func:`standard_scale`; ``n_threads`` is ignored.

    Expects the validated, C-contiguous arrays of
    :func:`_check_standard_scale_input`.
    """
    out = np.subtract(X, mean)
    np.divide(out, scale, out=out)
    return out


def _standard_scale_cython(X, mean, scale, n_threads=None):
    """Cython twin of :func:`_standard_scale_numpy` (rows split over threads)."""
    out = np.empty(X.shape, dtype=X.dtype)
    _cy.standard_scale(X, mean, scale, out, _effective_n_threads(n_threads))
    return out


_IMPLEMENTATIONS = {
    "numpy": _standard_scale_numpy,
    "cython": _standard_scale_cython,
}


def standard_scale(X, mean, scale, *, n_threads=None, engine="auto") -> np.ndarray:
    """Compute ``(X - mean) / scale`` column-wise.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        float32 or float64. F-ordered or strided input is made C-contiguous;
        C-contiguous input, read-only or memory-mapped, is used as is.
    mean : array-like of shape (n_features,)
        Cast to X's dtype.
    scale : array-like of shape (n_features,)
        Cast to X's dtype; its entries must be non-zero.
    n_threads : int, default=None
        OpenMP threads of the Cython engine. None uses the calling thread's
        OpenMP limit now (so ``threadpool_limits(n, user_api="openmp")``
        applies), capped at ``os.cpu_count()``; -1 is the same, -2 one less.
    engine : {"auto", "numpy", "cython"}, default="auto"
        "auto" uses Cython when the extension is available, else NumPy.

    Returns
    -------
    out : ndarray of shape (n_samples, n_features)
        Same dtype as X, C-contiguous.

    Raises
    ------
    InvalidParameterError
        X is not a 2-D float32/float64 array (also a TypeError), or mean or
        scale has the wrong shape.
    EngineNotAvailableError
        ``engine="cython"`` but the extension is not usable (also an
        ImportError).
    """
    name = _select_engine(engine)
    X, mean, scale = _check_standard_scale_input(X, mean, scale)
    n_threads = _effective_n_threads(n_threads)
    return _IMPLEMENTATIONS[name](X, mean, scale, n_threads=n_threads)
