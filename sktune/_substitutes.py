"""Which steps of a pipeline have compiled equivalents, and swapping them in.

``profile(..., accelerate=True)`` measures these substitutions as extra
candidates (``Config.compiled_steps``); :meth:`sktune.Config.configure`
applies them to a clone. Two kinds are known:

* a scikit-learn scaler of exactly one of the types in :data:`SUBSTITUTES`
  becomes its :mod:`sktune.transformers` namesake with the same parameters
  (a user's subclass is left alone: it may override what the kernels do);
* a ``FunctionTransformer`` whose ``func`` is a plain Python function keeps
  every parameter but runs ``func`` compiled by Numba (a picklable
  :class:`~sktune._compiled.jit.JitFunction`), offered only when Numba compiles it and
  its output matches the Python function's on a sample of the data.

Nothing here compiles C code (PITFALLS.md checklist 32); Numba compiles only
when ``accelerate=True`` asks for it.
"""

import inspect

import numpy as np
from sklearn import preprocessing
from sklearn.base import BaseEstimator, clone

from . import transformers
from ._estimators import iter_estimators
from .exceptions import InvalidConfigError

#: scikit-learn transformer type -> sktune's compiled namesake.
SUBSTITUTES = {
    preprocessing.StandardScaler: transformers.StandardScaler,
    preprocessing.MinMaxScaler: transformers.MinMaxScaler,
    preprocessing.Normalizer: transformers.Normalizer,
    preprocessing.PolynomialFeatures: transformers.PolynomialFeatures,
}

#: Rows of X the Numba probe compiles for and compares outputs on.
_PROBE_ROWS = 16


def _python_function(func):
    """True for a function Numba may compile: Python code, not a ufunc or builtin."""
    from ._compiled.jit import JitFunction

    return inspect.isfunction(func) and not isinstance(func, JitFunction)


def _probe_sample(X):
    """A small float sample of X for the Numba probe, or None if X is not numeric."""
    try:
        rows = (X.iloc[:_PROBE_ROWS] if hasattr(X, "iloc")  # a DataFrame: by position
                else X[:_PROBE_ROWS] if hasattr(X, "__getitem__") else X)
        sample = np.asarray(rows)
        if sample.ndim != 2 or sample.dtype.kind not in "biuf":
            return None
        return np.ascontiguousarray(
            sample, dtype=sample.dtype if sample.dtype.kind == "f" else np.float64)
    except Exception:
        return None


def find_substitutions(estimator, X):
    """Steps of ``estimator`` with a compiled equivalent worth measuring.

    Parameters
    ----------
    estimator : estimator instance
    X : array-like
        The data as given to :func:`sktune.profile`; a sample of it is what
        a ``FunctionTransformer``'s function is compiled for and checked on.

    Returns
    -------
    paths : list of str
        Parameter paths to put in ``Config.compiled_steps`` (``""`` is the
        estimator itself).
    refused : list of (str, str)
        ``(path, reason)`` for FunctionTransformers that are not offered.
    notes : list of str
        What compiling cost, for the result's notes.
    """
    from ._compiled.jit import try_compile

    paths, refused, notes = [], [], []
    for path, step in iter_estimators(estimator):
        if type(step) in SUBSTITUTES:
            paths.append(path)
        elif isinstance(step, preprocessing.FunctionTransformer) and _python_function(
                step.func):
            name = path or type(step).__name__
            sample = _probe_sample(X)
            if sample is None:
                refused.append((path, "no numeric 2-D sample of X to compile "
                                      f"{step.func.__name__} for"))
                continue
            jit, reason, seconds = try_compile(step.func, sample, kind="array",
                                               kw_args=step.kw_args)
            if jit is None:
                refused.append((path, f"Numba does not compile {step.func.__name__} "
                                      f"equivalently: {reason}"))
                continue
            paths.append(path)
            notes.append(f"Numba compiled {step.func.__name__} of step {name!r} in "
                         f"{seconds:.2f} s; each worker process compiles it again or "
                         "loads it from the disk cache.")
    return paths, refused, notes


def substitute(step):
    """The compiled equivalent of one step: a new, unfitted estimator."""
    if type(step) in SUBSTITUTES:
        return SUBSTITUTES[type(step)](**step.get_params(deep=False))
    if isinstance(step, preprocessing.FunctionTransformer) and _python_function(step.func):
        from ._compiled.jit import JitFunction

        return clone(step).set_params(func=JitFunction(step.func, kind="array"))
    raise InvalidConfigError(
        f"sktune has no compiled equivalent of {type(step).__name__}; known: "
        f"{sorted(cls.__name__ for cls in SUBSTITUTES)} and FunctionTransformer "
        "with a Python function.")


def substitute_steps(estimator, paths, substitute=substitute, field="compiled_steps"):
    """Return ``estimator`` (a clone) with the steps at ``paths`` substituted.

    The estimator itself is path ``""``; other paths are ``get_params`` keys.

    Parameters
    ----------
    estimator : estimator instance
        A clone, modified in place where a nested step is replaced.
    paths : tuple of str
    substitute : callable, default=substitute
        Maps one step to its replacement, raising ``InvalidConfigError``
        when it has none (:func:`substitute` for compiled steps,
        :func:`sktune._engines.intelex.substitute_one` for scikit-learn-intelex).
    field : str, default="compiled_steps"
        The :class:`~sktune.Config` field the paths come from, for errors.

    Returns
    -------
    estimator : estimator instance
    """
    for path in paths:
        if path == "":
            step = estimator
        else:
            params = estimator.get_params(deep=True)
            if path not in params or not isinstance(params[path], BaseEstimator):
                raise InvalidConfigError(
                    f"Config.{field} names {path!r}, which is not a step of "
                    f"{type(estimator).__name__}.")
            step = params[path]
        try:
            replacement = substitute(step)
        except InvalidConfigError as exc:
            where = repr(path) if path else "'' (the estimator itself)"
            raise InvalidConfigError(f"Config.{field} names {where}: {exc}") from None
        if path == "":
            estimator = replacement
        else:
            estimator.set_params(**{path: replacement})
    return estimator
