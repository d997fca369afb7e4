"""The one place where sktune touches private helpers of its dependencies.

scikit-learn's parameter validation and loky's executor internals are not
public API; keeping every such import here means an upstream change breaks
one file, and each helper degrades gracefully when the private name is gone.
"""

from sklearn.base import _fit_context  # noqa: F401  (re-exported)
from sklearn.preprocessing._data import (  # noqa: F401  (re-exported)
    _handle_zeros_in_scale,
    _is_constant_feature,
)
from sklearn.utils._param_validation import (  # noqa: F401  (re-exported)
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils._param_validation import (
    InvalidParameterError as _SklearnInvalidParameterError,
)


def loky_executor_state():
    """Identify the live loky reusable executor and its workers.

    Returns
    -------
    state : tuple or None
        ``(id(executor), frozenset(worker pids))``, or None when no executor
        is alive. A change between two calls means the pool was (re)started
        or resized in between, so a timing that spans it is a cold start
        (PITFALLS.md section 2.4, checklist item 16).
    """
    try:
        from joblib.externals.loky import reusable_executor
    except ImportError:  # pragma: no cover - joblib always vendors loky today
        return None
    executor = getattr(reusable_executor, "_executor", None)
    if executor is None:
        return None
    processes = getattr(executor, "_processes", None) or {}
    try:
        pids = frozenset(processes)
    except RuntimeError:  # dict changed size while a worker was spawning
        pids = frozenset()
    return id(executor), pids


def openmp_effective_n_threads():
    """Threads scikit-learn's OpenMP code would use now (None if unknown)."""
    try:
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
    except ImportError:  # pragma: no cover
        return None
    return _openmp_effective_n_threads()


def pdr_usable(X, metric="euclidean"):
    """Whether scikit-learn's OpenMP PairwiseDistancesReductions accept X.

    KNN ``kneighbors``/``predict`` then ignore ``n_jobs`` and use OpenMP
    (PITFALLS.md section 1.3). Returns False when X is not an array-like
    scikit-learn would keep as is, or the private API moved.
    """
    if X is None:
        return False
    try:
        from sklearn.metrics._pairwise_distances_reduction import ArgKmin
        from sklearn.utils.validation import check_array

        # The estimators validate X to C order first ([exp] in PITFALLS 1.3).
        Xc = check_array(X, accept_sparse="csr", dtype=["float64", "float32"],
                         order="C", ensure_all_finite=False)
        return bool(ArgKmin.is_usable_for(Xc, Xc, metric))
    except Exception:  # any failure means "not known to be usable"
        return False


def num_samples(X):
    """Number of samples of an array-like, sparse matrix or DataFrame."""
    from sklearn.utils.validation import _num_samples

    return _num_samples(X)
