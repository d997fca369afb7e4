"""Compile a user's Python function with numba, check it, and use it in a pipeline.

One mechanism serves three entry points: :class:`JitFunction` (a picklable
callable that compiles lazily, one variant per dtype), :func:`try_compile`
(compile on a sample and compare with the Python function, for the advisor)
and, in :mod:`sktune._compiled.jit_transformer`, ``JitTransformer`` /
``jit_transformer`` (a scikit-learn transformer over it). Compiled code is
an optimisation, never the only implementation: when numba is missing,
cannot compile the function or gives a different answer than Python on the
sample, one :class:`SktuneWarning` says why and the Python function runs
instead. Numba is imported lazily.

Compiled code lives in numba's disk cache next to a generated module per
function (:mod:`sktune._compiled.jit_source`), so a loky worker loads it instead of
compiling; only the parameters (func, kind, parallel) are pickled. Parallel
drivers run on numba's thread-local ``get_num_threads()``, as
:meth:`sktune.Config.apply` set it, and fall back to a serial driver where the
``workqueue`` layer would abort (PITFALLS.md checklist item 9).
"""

import contextlib
import importlib
import os
import re
import sys
import threading
import time
import types
import warnings
from typing import Callable

import numpy as np

from .._compat import StrOptions
from .._validation import validate_params
from ..exceptions import CompileError, SktuneWarning
from . import jit_source

__all__ = ["JitFunction", "try_compile"]

KINDS = ("elementwise", "rowwise", "array")

CONSTRAINTS = {
    "func": [types.FunctionType],
    "kind": [StrOptions(set(KINDS))],
    "parallel": ["boolean"],
}
DTYPES = [np.float64, np.float32]

# Rows compared with Python at fit, spread over X; 16 rows of Python calls
# cost well under a millisecond for the functions in tests/test_jit.py.
_N_CHECK_ROWS = 16
# Parity tolerances (float64: rtol 1e-7, atol 1e-12 times the largest
# |value|). Lower precisions get 1000 ulps: numba keeps float32 arithmetic in
# float32 where Python computes in float64 and rounds once, and the sum of
# 1000 float32 terms stays within it (test_jit_transformer_parity).
_RTOL, _ATOL, _ULPS = 1e-7, 1e-12, 1000

_LOCK = threading.Lock()         # a JitFunction's dict of built namespaces
_LAUNCH_LOCK = threading.Lock()  # the first parallel run, which picks the layer


class _NotCompiled(CompileError):
    """Internal: the compiled variant cannot run; the Python function will."""

    def __init__(self, variant, reason, seconds=0.0):
        super().__init__(reason)
        self.variant, self.reason, self.seconds = variant, reason, seconds


def function_name(func):
    return f"{func.__module__}.{func.__qualname__}"


def warn_fallback(message):
    """Warn with SktuneWarning at the first frame outside sktune/sklearn/joblib."""
    import joblib
    import sklearn

    internal = tuple(os.path.dirname(m.__file__) + os.sep
                     for m in (sys.modules[__package__.partition(".")[0]], sklearn, joblib))
    level, frame = 1, sys._getframe(0)
    while frame is not None and frame.f_code.co_filename.startswith(internal):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, SktuneWarning, stacklevel=level if frame is not None else 2)


def fallback_message(func, reason):
    return (f"{function_name(func)} runs as plain Python: {reason}. The results are "
            "the Python function's; only the speed-up is lost.")


# Lines of numba's typing errors that say where it looked, not what failed.
_NOISE = ("Failed in nopython mode pipeline", "- Resolution failure", "During:",
          "There are", "- Of which", "Overload in function", "With argument(s)",
          "Rejected as", "raised from", "File ", "<source", ">>>", "^")


def _numba_reason(exc):
    """One line from a numba error: the innermost error and the line it points at."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines()]
    lines = [line for line in lines if line and line != "None"]
    specific = [line for line in lines if re.match(r"\w+Error: ", line)]
    plain = [line for line in lines if not line.startswith(_NOISE)]
    what = specific[0] if specific else f"{type(exc).__name__}: {(plain or [''])[0]}"
    caret = lines.index("^") if "^" in lines else 0
    where = f"; at: {lines[caret - 1]}" if caret > 0 else ""
    return f"numba cannot compile it ({what[:300]}{where})"


def _parallel_mode(numba, parallel):
    """``(run_parallel, lock)`` for a call from this thread now.

    The workqueue layer aborts the process when two threads run parallel
    regions at once (PITFALLS.md section 4.2), so only the main thread runs
    parallel drivers under it. Before the first parallel run the layer is
    not chosen yet: that run holds a lock, and the next ones see the layer.
    """
    if not parallel:
        return False, contextlib.nullcontext()
    main = threading.current_thread() is threading.main_thread()
    if str(numba.config.THREADING_LAYER) == "workqueue":
        return main, contextlib.nullcontext()
    try:
        layer = numba.threading_layer()
    except ValueError:  # "Threading layer is not initialized."
        return True, _LAUNCH_LOCK
    return main or layer != "workqueue", contextlib.nullcontext()


def _difference(expected, got):
    """None when ``got`` equals ``expected`` within tolerance, else why not."""
    expected, got = np.asarray(expected), np.asarray(got)
    if expected.shape != got.shape:
        return (f"its numba-compiled output has shape {got.shape} where "
                f"Python's has {expected.shape}")
    if expected.size == 0:
        return None
    if not all(a.dtype.kind in "iufc" for a in (expected, got)):
        same = np.array_equal(expected, got)
        return None if same else "its numba-compiled output differs from Python's"
    # The least precise of the two sets the tolerance.
    eps = max([np.finfo(a.dtype).eps for a in (expected, got) if a.dtype.kind in "fc"]
              or [np.finfo(np.float64).eps])
    finite = np.abs(expected[np.isfinite(expected)])
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    rtol, atol = max(_RTOL, _ULPS * eps), max(_ATOL, _ULPS * eps) * scale
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
        if close.all():
            return None
        diff = np.abs(expected.astype(np.complex128) - got)[~close]
    largest = np.nanmax(diff) if not np.isnan(diff).all() else np.nan
    where = np.unravel_index(np.argmin(close), close.shape)
    at = ", ".join(f"{axis} {i}" for axis, i in zip(("sample row", "column"), where))
    return (f"its numba-compiled output differs from Python's at {np.sum(~close)} "
            f"of {close.size} sample values (max |difference| {largest:.3g}; at {at}: "
            f"Python {expected[where].item()!r}, numba {got[where].item()!r})")


def sample_rows(n_samples):
    """Up to ``_N_CHECK_ROWS`` row indices spread over ``n_samples`` rows."""
    n = min(_N_CHECK_ROWS, n_samples)
    return np.unique(np.linspace(0, n_samples - 1, num=n).round().astype(np.intp))


class _ByName:
    """Pickles a decorated function by name: its module-level name is the wrapper."""

    def __init__(self, module, qualname):
        self.module, self.qualname = module, qualname

    def __reduce__(self):
        return _decorated_func, (self.module, self.qualname)


def _decorated_func(module, qualname):
    owner = importlib.import_module(module)
    for part in qualname.split("."):
        owner = getattr(owner, part)
    return owner.func


def picklable(func):
    """``func``, or a by-name stand-in when ``@jit_transformer`` took its name.

    Stdlib pickle stores functions by name and refuses one whose name now
    holds something else. ``__main__`` is left to cloudpickle (by value).
    """
    if not isinstance(func, types.FunctionType) or func.__module__ == "__main__":
        return func
    owner = sys.modules.get(func.__module__)
    for part in func.__qualname__.split("."):
        owner = getattr(owner, part, None)
    # A JitFunction or a JitTransformer (sktune._jit_transformer) took its name.
    if not isinstance(owner, types.FunctionType) and getattr(owner, "func", None) is func:
        return _ByName(func.__module__, func.__qualname__)
    return func


class JitFunction:
    """A picklable callable that runs ``func`` compiled by numba.

    ``JitFunction(f)(X, **kw)`` returns what ``f(X, **kw)`` returns, from code
    numba compiles lazily on the first call per dtype (and per read-only or
    serial variant) and keeps in its disk cache. When a variant cannot be
    compiled, one :class:`~sktune.SktuneWarning` says why and ``func`` runs in
    Python. Pickling keeps ``func``, ``kind`` and ``parallel`` (and the output
    dtypes :func:`try_compile` learned), never compiled code.

    Parameters
    ----------
    func : function
        A Python function (not a builtin, ufunc or numba dispatcher).
    kind : {"elementwise", "rowwise", "array"}, default="array"
        What ``func`` takes: one float, one row (1-D array), or the whole
        2-D array with keyword arguments, like FunctionTransformer's ``func``.
    parallel : bool, default=True
        Run the rows in parallel (``numba.prange``) on numba's thread-local
        ``get_num_threads()``; for ``"array"``, compile ``func`` with
        ``parallel=True``.

    Attributes
    ----------
    compile_info_ : dict
        One entry per compiled variant, keyed like ``"float64"`` or
        ``"float32 read-only serial"``: ``{"seconds": float, "cached": bool,
        "cache_reason": str or None, "threading_layer": str or None}``, as in
        :class:`JitTransformer`. Input is converted with ``np.ascontiguousarray``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktune._compiled.jit import JitFunction
    >>> def scale(X, factor=2.0):
    ...     return X * factor
    >>> JitFunction(scale)(np.ones((2, 2)), factor=3.0)
    array([[3., 3.],
           [3., 3.]])
    """

    def __init__(self, func: Callable, kind: str = "array", parallel: bool = True):
        validate_params(CONSTRAINTS, {"func": func, "kind": kind, "parallel": parallel},
                        "JitFunction")
        self.func, self.kind, self.parallel = func, kind, parallel
        self.__name__, self.__qualname__ = func.__name__, func.__qualname__
        self.__doc__, self.__wrapped__ = func.__doc__, func
        self.compile_info_ = {}
        self._namespaces = {}  # parallel flag -> (namespace, cache_reason)
        self._python = {}      # variant -> why it runs in Python
        self._dtypes = {}      # variant -> output dtype Python gave on the check

    def __reduce__(self):
        # Parameters, plus the output dtypes learned by a check: plain data.
        # Compiled code is never pickled; it is rebuilt, or loaded from disk.
        state = {"_dtypes": self._dtypes} if self._dtypes else None
        return type(self), (picklable(self.func), self.kind, self.parallel), state

    def __deepcopy__(self, memo):
        # clone() deep-copies parameters, and a deep copy keeps the same
        # function: share its dispatchers rather than compile again.
        new = type(self)(self.func, self.kind, self.parallel)
        new._namespaces, new._dtypes = self._namespaces, dict(self._dtypes)
        return new

    def __repr__(self):
        return (f"JitFunction({function_name(self.func)}, kind={self.kind!r}, "
                f"parallel={self.parallel})")

    def __call__(self, X, **kw):
        X = np.ascontiguousarray(X)
        try:
            return self._run(X, kw)[0]
        except _NotCompiled as exc:
            # Errors raised here are the user's function's own.
            out = jit_source.run_python(self.func, self.kind, X, kw)
            if exc.variant not in self._python:
                self._python[exc.variant] = exc.reason
                warn_fallback(fallback_message(self.func, exc.reason))
            return out

    def _run(self, X, kw):
        """``(output, variant)`` from the compiled variant for ``X``.

        Raises _NotCompiled when numba is missing, or when the first call of
        the variant (any error) or a later compilation (numba's errors) fails.
        """
        variant = X.dtype.name + ("" if X.flags.writeable else " read-only")
        try:
            import numba
        except ImportError as exc:
            raise _NotCompiled(variant, f"numba cannot be imported ({exc}); install "
                                        "it with: pip install numba") from exc
        parallel, lock = _parallel_mode(numba, self.parallel)
        variant += " serial" if self.parallel and not parallel else ""
        if variant in self._python:
            raise _NotCompiled(variant, self._python[variant])
        first = variant not in self.compile_info_
        start = time.perf_counter()
        with lock:
            try:
                with _LOCK:
                    if parallel not in self._namespaces:
                        self._namespaces[parallel] = jit_source.build(
                            self.func, self.kind, parallel)
                namespace, cache_reason = self._namespaces[parallel]
                hits = jit_source.cache_hits(namespace)
                with _quiet_first_compile(first):
                    out = jit_source.run_compiled(namespace, self.kind, X, kw)
            except Exception as exc:
                if first or type(exc).__module__.startswith("numba"):
                    raise _NotCompiled(variant, _numba_reason(exc),
                                       time.perf_counter() - start) from exc
                raise
        if variant in self._dtypes and isinstance(out, np.ndarray):
            out = out.astype(self._dtypes[variant], copy=False)
        if first:
            self.compile_info_[variant] = {
                "seconds": time.perf_counter() - start,
                "cached": jit_source.cache_hits(namespace) > hits,
                "cache_reason": cache_reason,
                "threading_layer": _layer(numba) if parallel else None,
            }
        return out, variant


@contextlib.contextmanager
def _quiet_first_compile(first):
    """Silence numba's note that ``parallel=True`` found nothing to parallelise.

    sktune asks for ``parallel=True`` on every ``"array"`` function it
    compiles (array expressions may parallelise); a plain loop cannot, which
    is not the user's concern. Only the first, compiling call is wrapped.
    """
    if not first:
        yield
        return
    from numba.core.errors import NumbaPerformanceWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=NumbaPerformanceWarning,
                                message="(?s).*'parallel=True' was specified")
        yield


def _layer(numba):
    try:
        return str(numba.threading_layer())
    except ValueError:  # no parallel region ran (a driver with no rows)
        return None


def checked(jit, X, kw):
    """Run ``jit`` and its Python function on ``X``: ``(expected, reason, info)``.

    ``reason`` is None when the compiled output matches; otherwise it says why
    not and that variant of ``jit`` runs in Python from now on.
    """
    expected = jit_source.run_python(jit.func, jit.kind, X, kw)
    try:
        got, variant = jit._run(X, kw)
    except _NotCompiled as exc:
        jit._python[exc.variant] = exc.reason
        return expected, exc.reason, {"seconds": exc.seconds, "cached": False,
                                      "cache_reason": "not compiled",
                                      "threading_layer": None}
    reason = _difference(expected, got)
    if reason is not None:
        jit._python[variant] = reason
    elif isinstance(got, np.ndarray) and got.dtype != np.asarray(expected).dtype:
        # numba promotes float32 * float64 scalar to float64 where NumPy 2
        # keeps float32: keep the dtype Python gives (later calls too).
        jit._dtypes[variant] = np.asarray(expected).dtype
    return expected, reason, dict(jit.compile_info_[variant])


def try_compile(func: Callable, X_sample, *, kind: str = "array", kw_args=None,
                parallel: bool = True):
    """Compile ``func`` with numba on a sample and check it against Python.

    Parameters
    ----------
    func : function
        The Python function, as :class:`JitFunction` takes it.
    X_sample : array-like of shape (n_samples, n_features)
        Data to compile for (its dtype) and to compare outputs on.
    kind : {"elementwise", "rowwise", "array"}, default="array"
        See :class:`JitFunction`.
    kw_args : dict, default=None
        Keyword arguments for ``func`` (``kind="array"``).
    parallel : bool, default=True
        See :class:`JitFunction`.

    Returns
    -------
    jit : JitFunction or None
        Compiled for ``X_sample``'s dtype; None when numba cannot compile
        ``func`` or its output differs from Python's on the sample
        (``np.allclose``, rtol 1e-7, atol 1e-12 times the largest value for
        float64, 1000 ulps for float32, NaN equal to NaN).
    reason : str or None
        Why ``jit`` is None, in one line.
    compile_seconds : float
        Time of the first compiled call (compilation or cache load).

    Examples
    --------
    >>> import numpy as np
    >>> from sktune._compiled.jit import try_compile
    >>> def log1p_abs(X):
    ...     return np.log1p(np.abs(X))
    >>> jit, reason, seconds = try_compile(log1p_abs, np.ones((4, 2)))
    >>> jit is not None, reason
    (True, None)
    """
    validate_params({**CONSTRAINTS, "X_sample": ["array-like"], "kw_args": [dict, None]},
                    {"func": func, "X_sample": X_sample, "kind": kind,
                     "kw_args": kw_args, "parallel": parallel}, "try_compile")
    jit = JitFunction(func, kind, parallel)
    _, reason, info = checked(jit, np.ascontiguousarray(X_sample), kw_args or {})
    return (jit if reason is None else None), reason, info["seconds"]
