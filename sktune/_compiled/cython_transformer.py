"""A user's Cython kernel as a scikit-learn transformer: :func:`cython_transformer`.

:func:`cython_transformer` compiles the source right away (through
:mod:`sktune._compiled.cython_build`, which caches the extension) and
returns a :class:`CythonTransformer` that applies the kernel to X. Like its
Numba sibling (:mod:`sktune._compiled.jit_transformer`), it clones and
pickles by its source: a loky worker loads the cached extension instead of
compiling again.
"""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import validate_params, validated
from ..exceptions import InvalidParameterError
from .cython_build import get_function, load_module, resolve_func_name

__all__ = ["CythonTransformer", "cython_transformer"]


class CythonTransformer(TransformerMixin, BaseEstimator):
    """Apply a compiled Cython function to X.

    Build one with :func:`cython_transformer`, which compiles the source
    right away; constructing the class directly compiles at ``fit`` when the
    source is not in the cache yet.

    Parameters
    ----------
    source : str, default=None
        Cython source defining a def or cpdef function that takes a 2-D
        C-contiguous memoryview of X (e.g. ``const floating[:, ::1] X`` with
        ``from cython cimport floating``) and returns an array-like of shape
        (n_samples, n_features_out). Required; None is rejected at ``fit``.
    func_name : str, default=None
        The function to call; None means the single public (not underscore)
        def or cpdef function of the source.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during :term:`fit`.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`, when X has string column
        names.
    n_features_out_ : int
        Number of columns the function returns, learnt on the first row.
    func_name_ : str
        The function called, resolved from ``func_name``.
    compile_info_ : dict
        ``{"seconds": float, "cached": bool, "module_path": str,
        "openmp": bool}``: seconds spent compiling during this fit (0.0 when
        the extension came from the cache), where the extension lives, and
        whether it was built with ``-fopenmp``.

    Raises
    ------
    CompileError
        At ``fit``, when Cython or the C compiler fails or no C compiler is
        found.
    InvalidParameterError
        At ``fit`` and ``transform``, when ``source`` or ``func_name`` is
        invalid or the function does not return one row per sample.

    Notes
    -----
    X is validated as a dense float64 or float32 array in C order and passed
    in its own dtype: declare the argument with the fused type ``floating``
    to accept both, and with ``const`` to accept read-only memmaps (loky).

    :func:`cython_transformer` describes the directives, flags and cache.
    Pickling keeps the parameters and fitted attributes, not the loaded
    module, which an unpickled copy (e.g. in a joblib worker) loads from the
    cache lazily, compiling only if this machine has no cached build.
    """

    _parameter_constraints = {"source": [str], "func_name": [str, None]}

    def __init__(self, source=None, func_name=None):
        self.source = source
        self.func_name = func_name

    def fit(self, X, y=None):
        """Load (compiling if needed) the function and learn the output width.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Dense input data.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        validate_params(self._parameter_constraints, self.get_params(deep=False),
                        type(self).__name__)
        X = validate_data(self, X, dtype=[np.float64, np.float32], order="C")
        self._module, self.compile_info_ = load_module(self.source)
        self.func_name_ = resolve_func_name(self.source, self.func_name)
        self.n_features_out_ = self._call(X[:1]).shape[1]
        return self

    def transform(self, X):
        """Call the compiled function on X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Dense input data, with the features seen in fit.

        Returns
        -------
        X_out : ndarray of shape (n_samples, n_features_out_)
            What the function returned.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], order="C",
                          reset=False)
        out = self._call(X)
        if out.shape[1] != self.n_features_out_:
            raise InvalidParameterError(
                f"The function {self.func_name_!r} returned {out.shape[1]} columns "
                f"for X, but {self.n_features_out_} for the first row in fit.")
        return out

    def _call(self, X):
        if getattr(self, "_module", None) is None:  # unpickled: load lazily
            self._module = load_module(self.source)[0]
        name, func = get_function(self._module, self.source, self.func_name)
        out = np.asarray(func(np.ascontiguousarray(X)))
        if out.ndim != 2 or out.shape[0] != X.shape[0]:
            raise InvalidParameterError(
                f"The function {name!r} must return a 2-D array with one row per "
                f"sample; it returned shape {out.shape} for X of shape {X.shape}.")
        return out

    def get_feature_names_out(self, input_features=None):
        """Output feature names: ``func_name_`` followed by 0, 1, ...

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against the features seen in fit.

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``[f"{func_name_}0", f"{func_name_}1", ...]``.
        """
        check_is_fitted(self)
        if input_features is not None:
            input_features = np.asarray(input_features, dtype=object)
            names_in = getattr(self, "feature_names_in_", None)
            if names_in is not None and not np.array_equal(names_in, input_features):
                raise ValueError("input_features is not equal to feature_names_in_")
            if len(input_features) != self.n_features_in_:
                raise ValueError(
                    "input_features should have length equal to number of "
                    f"features ({self.n_features_in_}), got {len(input_features)}")
        names = [f"{self.func_name_}{i}" for i in range(self.n_features_out_)]
        return np.asarray(names, dtype=object)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_module", None)  # an extension module does not pickle
        return state


@validated({"source": [str], "func_name": [str, None]})
def cython_transformer(source: str, *,
                       func_name: str | None = None) -> CythonTransformer:
    """Compile a Cython kernel now and return an unfitted transformer for it.

    Parameters
    ----------
    source : str
        Cython source of a module defining a def or cpdef function that takes
        a 2-D C-contiguous memoryview X (``const double[:, ::1] X``, or
        ``const floating[:, ::1] X`` after ``from cython cimport floating``)
        and returns anything ``np.asarray`` turns into a 2-D array with one
        row per sample.
    func_name : str, default=None
        The function to call; None means the single public (not underscore)
        def or cpdef function of the source.

    Returns
    -------
    transformer : CythonTransformer
        Unfitted; its ``fit`` loads the extension from the cache.

    Raises
    ------
    InvalidParameterError
        When ``source`` is not a str, when ``func_name=None`` and the source
        has zero or several public functions, or when the function named is
        not a def or cpdef function of the module.
    CompileError
        When Cython or the C compiler fails (the message holds their
        diagnostics, with the temporary source path shown as ``<source>``),
        or when no C compiler is found.
    EngineNotAvailableError
        When Cython or setuptools, needed to build, is not installed.

    Notes
    -----
    The source is compiled with the directives ``language_level=3``,
    ``boundscheck=False``, ``wraparound=False`` and ``cdivision=True``
    (``# cython:`` header lines in the source override them), with NumPy's
    headers, ``-O3`` and, when the compiler supports it, ``-fopenmp`` so that
    ``prange`` runs in parallel (``SKTUNE_DISABLE_OPENMP=1`` turns it off).
    The build runs in a subprocess and its result is cached in
    ``$SKTUNE_CACHE_DIR/cython/<sha256>/`` (``~/.cache/sktune/cython`` by
    default), keyed by the source, the Cython and NumPy versions, the Python
    ABI, the compiler and the flags; calling again with the same source, in
    this process or another, loads it without running Cython or the
    compiler. A lock file keeps concurrent builds of the same source apart.

    Examples
    --------
    >>> from sktune import cython_transformer
    >>> source = '''
    ... from cython cimport floating
    ... import numpy as np
    ... def double_it(const floating[:, ::1] X):
    ...     return 2 * np.asarray(X)
    ... '''
    >>> cython_transformer(source).fit_transform([[1.0, 2.0]])  # doctest: +SKIP
    array([[2., 4.]])
    """
    resolve_func_name(source, func_name)  # fail fast, before compiling
    module, _ = load_module(source)
    get_function(module, source, func_name)
    return CythonTransformer(source=source, func_name=func_name)
