"""scikit-learn transformers computed by sktune's compiled kernels.

Each class here subclasses its scikit-learn namesake and drops in by
import: same parameters (plus ``engine``), same fitted attributes, same
``set_output``, ``get_feature_names_out``, pickling and errors, and output
equal to scikit-learn's within floating-point rounding. Only the arithmetic
on dense float32/float64 NumPy input runs in sktune's kernels (one pass over
memory, OpenMP threads as ``threadpool_limits(user_api="openmp")`` allows);
everything else (sparse input, ``sample_weight``, float16, array API
dispatch, parameters the kernels do not cover) is passed to scikit-learn's
own implementation unchanged, so nothing a user relies on is lost.

>>> import numpy as np
>>> from sktune.transformers import StandardScaler
>>> X = np.array([[0.0, 1.0], [2.0, 3.0]])
>>> StandardScaler().fit_transform(X)
array([[-1., -1.],
       [ 1.,  1.]])
"""

from numbers import Integral

import numpy as np
from scipy import sparse
from sklearn import get_config, preprocessing
from sklearn.utils.validation import FLOAT_DTYPES, check_array, check_is_fitted, validate_data

from ._compat import StrOptions, fit_context, handle_zeros_in_scale, is_constant_feature
from ._compiled import kernels

__all__ = ["StandardScaler", "MinMaxScaler", "Normalizer", "PolynomialFeatures"]

_ENGINE_DOC = """engine : {"auto", "numpy", "cython"}, default="auto"
        Which implementation of sktune's kernels computes dense input:
        "cython" (compiled, multi-threaded), "numpy" (the reference), or
        "auto" (Cython when built, else NumPy with a warning)."""


class _KernelMixin:
    """What the four transformers share: the ``engine`` parameter, when the
    kernels apply, and where a transform writes."""

    @staticmethod
    def _kernels_apply(X, sample_weight=None):
        """True for dense NumPy-convertible input the kernels compute.

        float16 stays float16 in scikit-learn's validation (FLOAT_DTYPES), and
        the kernels have no float16 variant: such input, also as a DataFrame
        column, is scikit-learn's.
        """
        dtypes = getattr(X, "dtypes", None)  # pandas
        dtypes = [getattr(X, "dtype", None)] if dtypes is None else list(dtypes)
        return (not sparse.issparse(X) and sample_weight is None
                and not get_config().get("array_api_dispatch", False)
                and not any(dtype == np.float16 for dtype in dtypes))

    @staticmethod
    def _output(X, original, copy):
        """Where to write: X itself when allowed, else a new array laid out as X.

        ``X`` is the validated array. When validation already converted the
        user's input (another dtype, a DataFrame, a list), X is sktune's own
        and is written in place even when ``copy=True``.
        """
        if not copy or isinstance(original, (list, tuple)):  # lists are always converted
            return X
        try:  # a view for ndarrays and single-dtype DataFrames
            user = original if isinstance(original, np.ndarray) else np.asarray(original)
        except Exception:
            return np.empty_like(X)
        return np.empty_like(X) if np.may_share_memory(X, user) else X

    def _fit_checked(self, X, reset, reduce, suspicious):
        """Validate X for fit and ``reduce`` it; return ``(X, statistics)``.

        An infinite value makes a column's statistics non-finite (its sum,
        minimum or maximum), so scikit-learn's separate pass looking for one
        is skipped; its validation runs again, only to raise its own error,
        when ``suspicious(statistics)`` says a column came out non-finite.
        """
        fused = not get_config()["assume_finite"]

        def validate(finite):
            return validate_data(self, X, dtype=FLOAT_DTYPES, ensure_all_finite=finite,
                                 reset=reset)

        Xv = validate(False if fused else "allow-nan")
        statistics = reduce(Xv)
        if fused and suspicious(statistics):
            validate("allow-nan")  # raises scikit-learn's error for an infinite value
        return Xv, statistics

    def _validator(self, inverse=False):
        """scikit-learn's validation for transform (the feature count is
        checked) or inverse_transform (it is not), without the copy: the
        kernels write a new array or X itself."""
        if inverse:
            return lambda X, **kw: check_array(X, dtype=FLOAT_DTYPES, copy=False,
                                               force_writeable=True, **kw)
        return lambda X, **kw: validate_data(self, X, reset=False, dtype=FLOAT_DTYPES,
                                             copy=False, force_writeable=True, **kw)

    def _transform_checked(self, X, copy, validate, kernel, allow_nan=True):
        """Validate X, run ``kernel(Xv, out, check_finite)``, return the output.

        Into a new array (``copy``), the finiteness check of scikit-learn's
        validation, a whole pass over X, is fused into the kernel's pass
        instead; if the kernel saw a value scikit-learn refuses, its
        validation runs again, only to raise its own error. In place, X is
        validated first, as it must not be half-written when that fails.
        """
        finite = "allow-nan" if allow_nan else True
        fused = copy and not get_config()["assume_finite"]
        Xv = validate(X, ensure_all_finite=False if fused else finite)
        out = self._output(Xv, X, copy)
        if not fused:
            return kernel(Xv, out, False)
        out, has_inf, has_nan = kernel(Xv, out, True)
        if has_inf or (has_nan and not allow_nan):
            validate(X, ensure_all_finite=finite)  # raises scikit-learn's own error
        return out


def _docstring(parent, notes):
    """The parent's docstring up to its Attributes, with ``engine`` and sktune's notes."""
    head = parent.__doc__.split("    Attributes")[0]
    head = head.replace("    Parameters\n    ----------\n",
                        "    Parameters\n    ----------\n    " + _ENGINE_DOC + "\n\n", 1)
    return head + "    Notes\n    -----\n" + notes + "    "


def _constraints(parent):
    return {**parent._parameter_constraints,
            "engine": [StrOptions(set(kernels.ENGINES))]}


class StandardScaler(_KernelMixin, preprocessing.StandardScaler):
    __doc__ = _docstring(preprocessing.StandardScaler, """\
    sktune: fit computes mean and variance in one pass over memory (tiles
    reduced twice in cache, merged with Chan's update, in float64);
    ``transform`` and ``inverse_transform`` are fused into one pass. See
    :class:`sklearn.preprocessing.StandardScaler` for the attributes.
""")

    _parameter_constraints = _constraints(preprocessing.StandardScaler)

    def __init__(self, *, copy=True, with_mean=True, with_std=True, engine="auto"):
        super().__init__(copy=copy, with_mean=with_mean, with_std=with_std)
        self.engine = engine

    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Online computation of mean and std on X for later scaling.

        See :meth:`sklearn.preprocessing.StandardScaler.partial_fit`.
        """
        if not self._kernels_apply(X, sample_weight):
            return super().partial_fit(X, y, sample_weight)
        first_call = not hasattr(self, "n_samples_seen_")

        def non_finite(moments):
            count, mean, var = moments
            seen = count > 0
            return not (np.isfinite(mean[seen]).all() and np.isfinite(var[seen]).all())

        X, (count, mean, var) = self._fit_checked(
            X, first_call, lambda X: kernels.column_moments(X, engine=self.engine),
            non_finite)
        last_n = (np.zeros(X.shape[1]) if first_call
                  else np.broadcast_to(self.n_samples_seen_, (X.shape[1],)))
        if not self.with_mean and not self.with_std:
            self.mean_ = self.var_ = None
            self.n_samples_seen_ = last_n.astype(np.int64) + count.astype(np.int64)
        else:
            self.mean_, self.var_, self.n_samples_seen_ = _merge_moments(
                last_n, getattr(self, "mean_", None), getattr(self, "var_", None),
                count, mean, var, with_var=self.with_std)
        if np.ptp(self.n_samples_seen_) == 0:  # scikit-learn's integer form
            self.n_samples_seen_ = self.n_samples_seen_[0]
        if self.with_std:
            constant_mask = is_constant_feature(self.var_, self.mean_,
                                                 self.n_samples_seen_)
            self.scale_ = handle_zeros_in_scale(np.sqrt(self.var_), copy=False,
                                                 constant_mask=constant_mask)
        else:
            self.scale_ = None
        return self

    def transform(self, X, copy=None):
        """Perform standardization by centering and scaling.

        See :meth:`sklearn.preprocessing.StandardScaler.transform`.
        """
        if not self._kernels_apply(X):
            return super().transform(X, copy=copy)
        return self._scale(X, self.copy if copy is None else copy, inverse=False)

    def inverse_transform(self, X, copy=None):
        """Scale back the data to the original representation.

        See :meth:`sklearn.preprocessing.StandardScaler.inverse_transform`.
        """
        if not self._kernels_apply(X):
            return super().inverse_transform(X, copy=copy)
        return self._scale(X, self.copy if copy is None else copy, inverse=True)

    def _scale(self, X, copy, inverse):
        """``(X - mean_) / scale_``, or ``X * scale_ + mean_`` when ``inverse``."""
        check_is_fitted(self)

        def kernel(X, out, check_finite):
            n_features = X.shape[1]
            mean = self.mean_ if self.with_mean else np.zeros(n_features)
            scale = self.scale_ if self.with_std else np.ones(n_features)
            return kernels.column_affine(X, mean, scale, mul_add=inverse, out=out,
                                          check_finite=check_finite, engine=self.engine)

        return self._transform_checked(X, copy, self._validator(inverse), kernel)


def _merge_moments(last_n, last_mean, last_var, count, mean, var, with_var):
    """Fold a batch's moments into the running ones (Chan's update).

    The same arithmetic as scikit-learn's ``_incremental_mean_and_var``, on
    moments instead of data: a feature seen nowhere yet has NaN mean and
    variance, as there.
    """
    last_mean = 0.0 if last_mean is None else last_mean
    last_var = 0.0 if last_var is None else last_var
    n = last_n + count
    with np.errstate(invalid="ignore", divide="ignore"):
        seen = count > 0
        delta = np.where(seen, mean - last_mean, 0.0)
        new_mean = last_mean + np.where(seen, delta * count / n, 0.0)
        m2 = last_var * last_n + np.where(
            seen, var * count + delta * delta * last_n * count / n, 0.0)
        new_var = m2 / n
    new_mean = np.where(n > 0, new_mean, np.nan)
    return new_mean, (new_var if with_var else None), n


class MinMaxScaler(_KernelMixin, preprocessing.MinMaxScaler):
    __doc__ = _docstring(preprocessing.MinMaxScaler, """\
    sktune: fit finds each column's minimum and maximum in one pass over
    memory; ``transform`` (clip included) and ``inverse_transform`` are one
    fused pass. See :class:`sklearn.preprocessing.MinMaxScaler` for the
    attributes.
""")

    _parameter_constraints = _constraints(preprocessing.MinMaxScaler)

    def __init__(self, feature_range=(0, 1), *, copy=True, clip=False, engine="auto"):
        super().__init__(feature_range=feature_range, copy=copy, clip=clip)
        self.engine = engine

    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Online computation of min and max on X for later scaling.

        See :meth:`sklearn.preprocessing.MinMaxScaler.partial_fit`.
        """
        low, high = self.feature_range
        if not self._kernels_apply(X) or low >= high:
            return super().partial_fit(X, y)  # scikit-learn's own errors
        first_pass = not hasattr(self, "n_samples_seen_")
        X, (data_min, data_max) = self._fit_checked(
            X, first_pass, lambda X: kernels.column_min_max(X, engine=self.engine),
            lambda extremes: any(np.isinf(v).any() for v in extremes))
        low, high = (np.asarray(v, dtype=X.dtype) for v in self.feature_range)
        if first_pass:
            self.n_samples_seen_ = X.shape[0]
        else:
            data_min = np.minimum(self.data_min_, data_min)
            data_max = np.maximum(self.data_max_, data_max)
            self.n_samples_seen_ += X.shape[0]
        data_range = data_max - data_min
        self.scale_ = (high - low) / handle_zeros_in_scale(data_range, copy=True)
        self.min_ = low - data_min * self.scale_
        self.data_min_, self.data_max_, self.data_range_ = data_min, data_max, data_range
        return self

    def transform(self, X):
        """Scale features of X according to feature_range.

        See :meth:`sklearn.preprocessing.MinMaxScaler.transform`.
        """
        if not self._kernels_apply(X):
            return super().transform(X)
        return self._scale(X, inverse=False)

    def inverse_transform(self, X):
        """Undo the scaling of X according to feature_range.

        See :meth:`sklearn.preprocessing.MinMaxScaler.inverse_transform`.
        """
        if not self._kernels_apply(X):
            return super().inverse_transform(X)
        return self._scale(X, inverse=True)

    def _scale(self, X, inverse):
        """``X * scale_ + min_`` (clipped with ``clip``), or its inverse."""
        check_is_fitted(self)
        clip = self.feature_range if self.clip and not inverse else None
        return self._transform_checked(
            X, self.copy, self._validator(inverse),
            lambda X, out, check: kernels.column_affine(
                X, self.min_, self.scale_, mul_add=not inverse, clip=clip, out=out,
                check_finite=check, engine=self.engine))


class Normalizer(_KernelMixin, preprocessing.Normalizer):
    __doc__ = _docstring(preprocessing.Normalizer, """\
    sktune: each row is reduced and divided while it is in cache, one pass
    over memory (norms accumulated in float64). See
    :class:`sklearn.preprocessing.Normalizer` for the attributes.
""")

    _parameter_constraints = _constraints(preprocessing.Normalizer)

    def __init__(self, norm="l2", *, copy=True, engine="auto"):
        super().__init__(norm=norm, copy=copy)
        self.engine = engine

    def transform(self, X, copy=None):
        """Scale each non zero row of X to unit norm.

        See :meth:`sklearn.preprocessing.Normalizer.transform`.
        """
        if not self._kernels_apply(X):
            return super().transform(X, copy=copy)
        return self._transform_checked(
            X, self.copy if copy is None else copy, self._validator(),
            lambda X, out, check: kernels.normalize_rows(
                X, self.norm, out=out, check_finite=check, engine=self.engine),
            allow_nan=False)


class PolynomialFeatures(_KernelMixin, preprocessing.PolynomialFeatures):
    __doc__ = _docstring(preprocessing.PolynomialFeatures, """\
    sktune: ``degree=2`` with ``order="C"`` on dense input is computed row
    by row in one kernel; other degrees and orders are scikit-learn's. See
    :class:`sklearn.preprocessing.PolynomialFeatures` for the attributes.
""")

    _parameter_constraints = _constraints(preprocessing.PolynomialFeatures)

    def __init__(self, degree=2, *, interaction_only=False, include_bias=True,
                 order="C", engine="auto"):
        super().__init__(degree=degree, interaction_only=interaction_only,
                         include_bias=include_bias, order=order)
        self.engine = engine

    def transform(self, X):
        """Transform data to polynomial features.

        See :meth:`sklearn.preprocessing.PolynomialFeatures.transform`.
        """
        degree_2 = (isinstance(self.degree, Integral) and not isinstance(self.degree, bool)
                    and self.degree == 2)
        if not (self._kernels_apply(X) and degree_2 and self.order == "C"):
            return super().transform(X)
        check_is_fitted(self)
        Xv = validate_data(self, X, dtype=FLOAT_DTYPES, reset=False)
        return kernels.polynomial_2(Xv, include_bias=self.include_bias,
                                     interaction_only=self.interaction_only,
                                     engine=self.engine)
