"""Snapshot and restore the process state a profiling run could disturb.

sktune enters every setting with ``with`` (see ``apply.py``); this module is
the safety net around a whole :func:`sktune.profile` call. It records the
environment variables, scikit-learn's configuration, joblib's active
configuration, the thread limits of every native library and Numba's
thread count, and puts back whatever differs on exit, on every exit path.
"""

import contextlib
import os
import sys

from .._compat import joblib_context, set_joblib_context


def _threadpool_limits():
    from threadpoolctl import ThreadpoolController

    # A controller built now, so libraries loaded during the run are seen.
    return {info["filepath"]: info["num_threads"]
            for info in ThreadpoolController().info()}


def snapshot():
    """Return the current process state as a dict of comparable values."""
    import sklearn

    numba = sys.modules.get("numba")
    return {
        "environ": dict(os.environ),
        "sklearn": sklearn.get_config(),
        "joblib": joblib_context(),
        "threadpools": _threadpool_limits(),
        "numba_threads": numba.get_num_threads() if numba is not None and hasattr(
            numba, "get_num_threads") else None,
    }


def restore(saved):
    """Put back what differs from ``saved``; return the names restored."""
    import sklearn

    now = snapshot()
    changed = [key for key in saved if saved[key] != now[key]]
    if "environ" in changed:
        for key in set(os.environ) - set(saved["environ"]):
            del os.environ[key]
        os.environ.update(saved["environ"])
    if "sklearn" in changed:
        sklearn.set_config(**saved["sklearn"])
    if "joblib" in changed:
        set_joblib_context(saved["joblib"])
    if "threadpools" in changed:
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController()
        for lib in controller.lib_controllers:
            wanted = saved["threadpools"].get(lib.filepath)
            if wanted is not None and lib.num_threads != wanted:
                lib.set_num_threads(wanted)
    if "numba_threads" in changed and saved["numba_threads"] is not None:
        sys.modules["numba"].set_num_threads(saved["numba_threads"])
    return changed


@contextlib.contextmanager
def preserved_state():
    """Restore the process state on exit, exceptions and Ctrl-C included."""
    saved = snapshot()
    try:
        yield saved
    finally:
        restore(saved)
