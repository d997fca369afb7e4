"""``sktune.jit_transformer``: a user's Python function as a scikit-learn transformer.

The estimator over :class:`sktune._compiled.jit.JitFunction`: fit compiles ``func``
for X's dtype and checks it against the Python function on a sample of rows
(:func:`sktune._compiled.jit.checked`); transform runs the compiled variant, or the
Python function when numba could not match it.
"""

import types
from typing import Callable

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._compat import fit_context
from .._validation import validated
from . import jit_source
from .jit import (
    CONSTRAINTS,
    DTYPES,
    JitFunction,
    checked,
    fallback_message,
    function_name,
    picklable,
    sample_rows,
    warn_fallback,
)

__all__ = ["JitTransformer", "jit_transformer"]


class JitTransformer(TransformerMixin, BaseEstimator):
    """Transformer running a Python function compiled by numba.

    ``fit`` compiles ``func`` for X's dtype, compares the compiled output with
    the Python function's on up to 16 rows spread over X, and keeps the
    compiled code only when they agree. Otherwise, or without numba, one
    :class:`~sktune.SktuneWarning` says why and ``transform`` runs ``func`` in
    Python (``engine_ == "python"``): slower, never different.

    Parameters
    ----------
    func : function, default=None
        A Python function. ``kind`` says what it takes.
    kind : {"elementwise", "rowwise", "array"}, default="rowwise"
        ``"elementwise"``: ``func(x: float) -> float`` on every element; the
        output has X's shape and dtype. ``"rowwise"``: ``func(row) -> 1-D
        array or scalar`` on every row; the output has as many columns as
        ``func`` returns for the first row (a scalar gives one). ``"array"``:
        ``func(X) -> 2-D array`` on the whole array.
    parallel : bool, default=True
        Run the rows in parallel (``numba.prange``) on numba's thread-local
        ``numba.get_num_threads()``, which :meth:`sktune.Config.apply` sets;
        for ``"array"``, compile ``func`` with ``parallel=True``. Threads
        other than the main one run a serial driver under numba's
        ``workqueue`` layer, which is not thread-safe.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.
    n_features_out_ : int
        Number of output columns.
    engine_ : {"numba", "python"}
        What ``transform`` runs.
    compile_info_ : dict
        ``{"seconds": float, "cached": bool, "cache_reason": str or None,
        "threading_layer": str or None}``: time of the first compiled call
        (compilation, or loading from numba's disk cache), whether it was
        loaded from that cache, why ``func`` cannot be cached on disk (None
        when it can: a closure, a lambda or a global other than a module or
        a number prevents it) and numba's threading layer when parallel.

    See Also
    --------
    jit_transformer : The same, as a decorator.

    Examples
    --------
    >>> import numpy as np
    >>> from sktune import JitTransformer
    >>> def norms(row):
    ...     return np.array([np.abs(row).sum(), np.sqrt((row * row).sum())])
    >>> X = np.array([[3.0, -4.0], [1.0, 0.0]])
    >>> JitTransformer(norms).fit_transform(X)
    array([[7., 5.],
           [1., 1.]])
    """

    _parameter_constraints = CONSTRAINTS

    def __init__(self, func: Callable = None, kind: str = "rowwise", parallel: bool = True):
        self.func = func
        self.kind = kind
        self.parallel = parallel

    def __getstate__(self):
        state = dict(super().__getstate__())
        state["func"] = picklable(state.get("func"))
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        if self.kind in ("elementwise", "rowwise"):
            tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Compile ``func`` for X's dtype and check it against Python.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, float64 or float32 (other dtypes become float64).
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted transformer.
        """
        X = validate_data(self, X, dtype=DTYPES, ensure_all_finite=False)
        jit = JitFunction(self.func, self.kind, self.parallel)
        sample = np.ascontiguousarray(X[sample_rows(X.shape[0])])
        expected, reason, info = checked(jit, sample, {})
        shape = np.shape(expected)
        if len(shape) != 2 or shape[0] != sample.shape[0]:
            raise ValueError(
                f"{function_name(self.func)} with kind={self.kind!r} must give 2-D output "
                f"with one row per sample; it gave shape {shape} for "
                f"{sample.shape[0]} rows.")
        if reason is not None:
            warn_fallback(fallback_message(self.func, reason))
        self.n_features_out_ = shape[1]
        self.engine_ = "numba" if reason is None else "python"
        self.compile_info_ = info
        self._jit_function = jit if reason is None else None
        return self

    def transform(self, X):
        """Apply ``func`` to X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data, float64 or float32.

        Returns
        -------
        X_out : ndarray of shape (n_samples, n_features_out_)
            ``func``'s output, of X's dtype for ``"elementwise"`` and
            ``"rowwise"``.
        """
        check_is_fitted(self)
        X = np.ascontiguousarray(
            validate_data(self, X, reset=False, dtype=DTYPES, ensure_all_finite=False))
        if self._jit_function is None:
            out = jit_source.run_python(self.func, self.kind, X, {})
        else:
            out = self._jit_function(X)
        if np.ndim(out) != 2 or np.shape(out)[1] != self.n_features_out_:
            raise ValueError(
                f"{function_name(self.func)} gave output of shape {np.shape(out)} in transform; "
                f"fit found {self.n_features_out_} columns.")
        return out

    def get_feature_names_out(self, input_features=None):
        """Output feature names.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input names, checked against ``feature_names_in_`` like
            scikit-learn's one-to-one transformers do.

        Returns
        -------
        feature_names_out : ndarray of str objects
            The input names for ``"elementwise"``; ``f"{func.__name__}{i}"``
            for the other kinds.
        """
        names = OneToOneFeatureMixin.get_feature_names_out(self, input_features)
        if self.kind == "elementwise":
            return names
        check_is_fitted(self, "n_features_out_")
        prefix = self.func.__name__
        return np.asarray([f"{prefix}{i}" for i in range(self.n_features_out_)],
                          dtype=object)


@validated({**CONSTRAINTS, "func": [types.FunctionType, None]})
def jit_transformer(func: Callable = None, *, kind: str = "rowwise",
                    parallel: bool = True):
    """Make a :class:`JitTransformer` from a Python function; also a decorator.

    Usable as ``jit_transformer(f, kind="elementwise")``, as ``@jit_transformer``
    and as ``@jit_transformer(kind="elementwise")``. The decorated name then
    holds the (unfitted) transformer; it still pickles by name.

    Parameters
    ----------
    func : function, default=None
        The Python function; None returns a decorator.
    kind : {"elementwise", "rowwise", "array"}, default="rowwise"
        See :class:`JitTransformer`.
    parallel : bool, default=True
        See :class:`JitTransformer`.

    Returns
    -------
    transformer : JitTransformer or callable
        An unfitted transformer, or a decorator making one.

    Examples
    --------
    >>> import numpy as np
    >>> from sktune import jit_transformer
    >>> @jit_transformer(kind="elementwise")
    ... def clip01(x):
    ...     return min(max(x, 0.0), 1.0)
    >>> clip01.fit_transform(np.array([[-1.0, 0.5], [2.0, 0.25]]))
    array([[0.  , 0.5 ],
           [1.  , 0.25]])
    >>> clip01.engine_
    'numba'
    """
    if func is None:
        return lambda f: jit_transformer(f, kind=kind, parallel=parallel)
    return JitTransformer(func=func, kind=kind, parallel=parallel)
