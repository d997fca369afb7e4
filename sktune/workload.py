"""What is being timed: an estimator, its data and the task.

A :class:`Workload` validates everything before any timing (checklist
"fail fast"), describes the data it was given (type, shape, dtype, layout,
sparsity; checklist item 28) without converting it, runs the task on a
fresh clone, and compares outputs between configurations with tolerances
for floating-point reduction order (checklist item 19).
"""

import warnings
from dataclasses import dataclass

import numpy as np

from ._compat import num_samples
from .exceptions import InvalidParameterError

#: Tasks sktune can time. predict/transform/score/predict_proba are timed on
#: an estimator fitted once, untimed, under the same configuration.
TASKS = ("fit", "predict", "predict_proba", "transform", "score", "fit_predict",
         "fit_transform")
_NEEDS_FITTED = ("predict", "predict_proba", "transform", "score")

#: Output tolerances. PITFALLS.md section 8.1 measured differences of at most
#: 5.3e-15 (KMeans), 3.4e-13 (Ridge) and 4.4e-16 (lbfgs) between thread
#: counts, and 0.28 for a float32 model: rtol=1e-6 sits far from both.
FLOAT_RTOL = 1e-6
FLOAT_ATOL = 1e-9
#: Labels may flip where a 1e-15 change moves an argmin; 1% of samples may.
LABEL_AGREEMENT = 0.99
#: Rows used to compare outputs of fitted estimators (bounded cost).
_MAX_OUTPUT_ROWS = 2000


def data_signature(X, y=None):
    """Describe the data without converting it.

    Returns
    -------
    signature : dict
        ``type``, ``n_samples``, ``n_features``, ``dtype``, ``order``
        (``"C"``, ``"F"`` or None), ``nnz`` (sparse only), ``nbytes`` and
        ``y_shape``: JSON-serialisable.
    """
    import scipy.sparse as sp

    shape = getattr(X, "shape", None)
    sig = {
        "type": f"{type(X).__module__.split('.')[0]}.{type(X).__name__}",
        "n_samples": num_samples(X),
        "n_features": int(shape[1]) if shape is not None and len(shape) > 1 else None,
        "dtype": None, "order": None, "nnz": None, "nbytes": None,
        "y_shape": list(np.shape(y)) if y is not None else None,
    }
    if sp.issparse(X):
        sig.update(dtype=str(X.dtype), nnz=int(X.nnz),
                   nbytes=int(X.data.nbytes + getattr(X, "indices", X.data).nbytes))
    elif hasattr(X, "dtypes") and hasattr(X, "columns"):  # a DataFrame
        dtypes = sorted({str(d) for d in X.dtypes})
        sig.update(dtype=",".join(dtypes), nbytes=int(X.memory_usage(deep=False).sum()))
    elif isinstance(X, np.ndarray):
        order = "C" if X.flags.c_contiguous else "F" if X.flags.f_contiguous else None
        sig.update(dtype=str(X.dtype), order=order, nbytes=int(X.nbytes))
    return sig


@dataclass(frozen=True)
class Workload:
    """An estimator, its data and the method to time.

    Parameters
    ----------
    estimator : estimator instance
        Never modified: every run works on a clone.
    X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
        Kept exactly as given (type, dtype and memory order decide code paths).
    y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
    task : {"fit", "predict", "predict_proba", "transform", "score", \
"fit_predict", "fit_transform"}, default="fit"
    query_rows : int, default=None
        For a task on a fitted estimator: ask about the first ``query_rows``
        rows only (fitted on all of X). A proxy workload's
        (:mod:`sktune._proxies`); None asks about every row.
    """

    estimator: object
    X: object
    y: object = None
    task: str = "fit"
    query_rows: int = None

    def __post_init__(self):
        self.validate()

    def validate(self):
        """Raise InvalidParameterError for anything that would fail later."""
        est = self.estimator
        if isinstance(est, type) or not (hasattr(est, "fit") and hasattr(est, "get_params")):
            raise InvalidParameterError(
                "The 'estimator' parameter of profile must be an estimator instance "
                "implementing 'fit' and 'get_params'. Got "
                f"{est!r} instead.")
        if self.task not in TASKS:
            raise InvalidParameterError(
                f"The 'task' parameter of profile must be a str among "
                f"{sorted(TASKS)}. Got {self.task!r} instead.")
        if not hasattr(est, self.task):
            available = sorted(t for t in TASKS if hasattr(est, t))
            raise InvalidParameterError(
                f"The 'task' parameter of profile must be a method of the estimator "
                f"among {available}. Got {self.task!r} instead: "
                f"{type(est).__name__} has no method {self.task!r}.")
        if self.X is None or isinstance(self.X, (str, bytes)):
            raise InvalidParameterError(
                "The 'X' parameter of profile must be an array-like or sparse matrix. "
                f"Got {self.X!r} instead.")
        try:
            n = num_samples(self.X)
        except TypeError as exc:
            raise InvalidParameterError(
                "The 'X' parameter of profile must be an array-like or sparse matrix "
                f"with a number of samples. Got {type(self.X).__name__}: {exc}") from None
        if n == 0:
            raise InvalidParameterError(
                "The 'X' parameter of profile must be a non-empty array-like or sparse "
                f"matrix. Got one with 0 samples (shape {getattr(self.X, 'shape', None)}) "
                "instead.")
        if self.y is not None:
            n_y = num_samples(self.y)
            if n_y != n:
                raise InvalidParameterError(
                    "The 'y' parameter of profile must have the same number of samples "
                    f"as X ({n}). Got {n_y} instead.")

    @property
    def clusters(self):
        """Whether outputs are cluster labels (a clusterer's predict or fit_predict)."""
        from sklearn.base import is_clusterer

        return bool(is_clusterer(self.estimator)) and self.task in ("fit", "predict",
                                                                      "fit_predict")

    @property
    def signature(self):
        """:func:`data_signature` of X and y, plus the task."""
        return {"task": self.task, **data_signature(self.X, self.y)}

    def prepare(self, estimator):
        """Return what the timed call runs on; fits first when the task needs it.

        ``estimator`` must be a fresh clone (``Config.configure`` returns one).
        Runs under the configuration being measured, outside the timing.
        """
        if self.task in _NEEDS_FITTED:
            estimator.fit(self.X, self.y)
        return estimator

    def call(self, prepared):
        """The timed call. Returns ``(fitted_estimator, output_or_None)``."""
        X, y, task = self.X, self.y, self.task
        if self.query_rows is not None:
            X = X.iloc[:self.query_rows] if hasattr(X, "iloc") else X[:self.query_rows]
            y = None if y is None else (y.iloc[:self.query_rows] if hasattr(y, "iloc")
                                        else y[:self.query_rows])
        if task == "fit":
            return prepared.fit(X, y), None
        if task == "score":
            return prepared, (prepared.score(X, y) if y is not None else prepared.score(X))
        if task in ("fit_predict", "fit_transform"):
            return prepared, getattr(prepared, task)(X, y)
        return prepared, getattr(prepared, task)(X)

    def output(self, fitted, result):
        """The output compared between configurations.

        The task's own result where it has one; after ``fit``, the richest
        prediction of the fitted estimator on the first rows of X.
        """
        if result is not None:
            return _to_array(result)
        X = self.X
        if num_samples(X) > _MAX_OUTPUT_ROWS:
            import scipy.sparse as sp

            X = (X.tocsr() if sp.issparse(X) else X)[:_MAX_OUTPUT_ROWS]  # COO has no [:]
        for method in ("predict_proba", "decision_function", "predict", "transform"):
            if hasattr(fitted, method):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        return _to_array(getattr(fitted, method)(X))
                    except (AttributeError, NotImplementedError):
                        continue
        return None


def _to_array(value):
    import scipy.sparse as sp

    if isinstance(value, (list, tuple)) and value and hasattr(value[0], "shape"):
        # e.g. multi-output predict_proba: one array per output, ragged.
        return np.concatenate([np.ravel(_to_array(v)) for v in value])
    if sp.issparse(value):
        value = value.toarray()
    if hasattr(value, "to_numpy"):
        value = value.to_numpy()
    return np.asarray(value)


def compare_outputs(reference, candidate, *, clusters=False):
    """Whether a candidate's output equals the baseline's within tolerance.

    Parameters
    ----------
    reference, candidate : ndarray or None
    clusters : bool, default=False
        The outputs are cluster labels, whose numbering is arbitrary: they
        agree as far as one numbering maps onto the other (two runs of
        k-means, or scikit-learn-intelex's, can find the same clusters in
        another order).

    Returns
    -------
    equivalent : bool
    detail : str
        What was compared and how far apart, for the report.
    """
    if reference is None or candidate is None:
        return True, "no output to compare"
    if reference.shape != candidate.shape:
        return False, f"output shape {candidate.shape} differs from {reference.shape}"
    if reference.dtype.kind in "fc" and candidate.dtype.kind in "fc":
        scale = max(1.0, float(np.nanmax(np.abs(reference)))) if reference.size else 1.0
        diff = np.abs(reference - candidate)
        max_diff = float(np.nanmax(diff)) if diff.size else 0.0
        ok = bool(np.allclose(candidate, reference, rtol=FLOAT_RTOL,
                              atol=FLOAT_ATOL * scale, equal_nan=True))
        return ok, f"max abs difference {max_diff:.3g}"
    agreement = float(np.mean(reference == candidate)) if reference.size else 1.0
    if clusters and agreement < LABEL_AGREEMENT and reference.ndim == 1:
        agreement = _matched_agreement(reference, candidate)
        return (agreement >= LABEL_AGREEMENT,
                f"{agreement:.2%} of samples in the same clusters (labels renumbered)")
    return agreement >= LABEL_AGREEMENT, f"{agreement:.2%} of labels agree"


def _matched_agreement(reference, candidate):
    """Share of samples that agree under the best one-to-one renumbering of clusters."""
    from scipy.optimize import linear_sum_assignment

    ref_labels, ref = np.unique(reference, return_inverse=True)
    cand_labels, cand = np.unique(candidate, return_inverse=True)
    counts = np.zeros((len(ref_labels), len(cand_labels)), dtype=np.int64)
    np.add.at(counts, (ref, cand), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / reference.size)
