"""The one place where sktune touches private names of its dependencies.

scikit-learn's parameter validation, joblib's thread-local configuration
and its dask backend, loky's executor, multiprocessing's resource tracker
and a dask Client's scheduler query are not public API; keeping every such
use here means an upstream change breaks one file, and each helper degrades
gracefully when the private name is gone. ``tests/test_layering.py`` fails
on a private name of a dependency imported anywhere else.
"""

import contextlib
import os
import time

from joblib._parallel_backends import ThreadingBackend  # noqa: F401  (re-exported)
from sklearn.base import _fit_context as fit_context  # noqa: F401  (re-exported)
from sklearn.preprocessing._data import (  # noqa: F401  (re-exported)
    _handle_zeros_in_scale as handle_zeros_in_scale,
)
from sklearn.preprocessing._data import (  # noqa: F401  (re-exported)
    _is_constant_feature as is_constant_feature,
)
from sklearn.utils._param_validation import (  # noqa: F401  (re-exported)
    HasMethods,
    Interval,
    StrOptions,
    make_constraint,
)
from sklearn.utils._param_validation import (  # noqa: F401  (re-exported)
    _Constraint as ConstraintBase,
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


# -- joblib -----------------------------------------------------------------------
def dask_backend_class():
    """joblib's ``DaskDistributedBackend`` (needs dask.distributed)."""
    from joblib._dask import DaskDistributedBackend

    return DaskDistributedBackend


def release_scattered(backend):
    """Release what a ``DaskDistributedBackend`` scattered, and forget it."""
    for future in getattr(backend, "data_futures", {}).values():
        with contextlib.suppress(Exception):
            future.release()
    with contextlib.suppress(AttributeError):
        backend.data_futures, backend._scatter = {}, []


def joblib_context():
    """This thread's ``parallel_config`` settings (a dict), or None when none is active."""
    from joblib.parallel import _backend

    return getattr(_backend, "config", None)


def set_joblib_context(config):
    """Make ``config`` (from :func:`joblib_context`) this thread's settings again."""
    from joblib.parallel import _backend

    if config is None:
        with contextlib.suppress(AttributeError):
            del _backend.config
    else:
        _backend.config = config


def explicit_joblib_settings():
    """The settings of this thread's ``parallel_config`` that were given explicitly.

    joblib recognises "not set" by the identity of its own sentinels, which
    pickling would break: only what was set travels to another process.
    """
    from joblib.parallel import default_parallel_config

    config = joblib_context() or {}
    return {key: value for key, value in config.items()
            if value is not default_parallel_config.get(key)}


def enter_joblib_settings(settings):
    """Run this thread under ``settings`` (from :func:`explicit_joblib_settings`);
    unset keys get this process's own "not set" sentinels."""
    from joblib.parallel import default_parallel_config

    set_joblib_context({**default_parallel_config, **settings})


# -- multiprocessing ------------------------------------------------------------------
def resource_tracker_running():
    """Whether this process's multiprocessing resource tracker is running."""
    from multiprocessing import resource_tracker

    return getattr(resource_tracker._resource_tracker, "_fd", None) is not None


def stop_resource_tracker(wait_s=2.0):
    """Stop this process's multiprocessing resource tracker, waiting at most ``wait_s``.

    The tracker ends when every holder of its pipe has closed it; CPython's
    own ``_stop`` waits for that without a limit, so this closes our end
    and waits a bounded time.
    """
    from multiprocessing import resource_tracker

    tracker = resource_tracker._resource_tracker
    with contextlib.suppress(Exception), tracker._lock:
        fd, pid = tracker._fd, tracker._pid
        if fd is None:
            return
        os.close(fd)
        tracker._fd = tracker._pid = None
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and os.waitpid(pid, os.WNOHANG) == (0, 0):
            time.sleep(0.02)


# -- dask.distributed -------------------------------------------------------------------
def refresh_scheduler_info(client, timeout):
    """Ask a dask ``Client``'s scheduler for fresh worker information, within ``timeout``."""
    client.sync(client._update_scheduler_info, callback_timeout=timeout)
