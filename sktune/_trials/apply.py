"""Apply one configuration to the calling thread, and undo it on exit.

It changes joblib's thread-local ``parallel_config``, threadpoolctl limits
(OpenMP limits are per calling thread, OpenBLAS-pthreads limits
process-wide; PITFALLS.md section 3.2) and Numba's thread-local thread
count, and starts the engine a configuration runs on. Everything is entered
on one ``ExitStack`` so that it is undone in reverse order on every exit
path, exceptions and ``KeyboardInterrupt`` included (checklist item 4). Like
everything that changes the process's state, it lives in ``sktune._trials``.
"""

import contextlib
import sys
from multiprocessing.pool import ThreadPool

from joblib import cpu_count, parallel_config

from .._compat import ThreadingBackend
from .._engines import EngineSession, backend_engine


def _limit_worker_thread(n_threads):
    """ThreadPool initializer: cap OpenMP (and Numba) in this worker thread.

    OpenMP limits are per thread, so a limit set in the caller never reaches
    threading-backend workers (checklist item 7). The limit is left in place
    on purpose: it dies with the worker thread. BLAS is not touched here:
    OpenBLAS-pthreads has one process-wide pool, limited by the caller, and
    a worker thread that took the limit would never give it back.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n_threads, user_api="openmp")
    _set_numba_threads(n_threads)


def _set_numba_threads(n_threads):
    """Cap Numba's thread-local count if Numba is in use; return the old one.

    Never asks for more than ``NUMBA_NUM_THREADS``, which raises in loky
    workers (checklist item 8). Numba is never imported here.
    """
    numba = sys.modules.get("numba")
    if numba is None or not hasattr(numba, "set_num_threads"):
        return None
    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n_threads, numba.config.NUMBA_NUM_THREADS)))
    return old


class CappedThreadingBackend(ThreadingBackend):
    """joblib's threading backend with OpenMP capped inside each worker thread.

    Parameters
    ----------
    openmp_threads : int, default=None
        OpenMP threads per worker thread. None gives each worker its share
        of the usable cores, ``cpu_count() // n_jobs``, as loky does for its
        worker processes.
    """

    def __init__(self, *args, openmp_threads=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.openmp_threads = openmp_threads

    def _get_pool(self):
        if self._pool is None:
            cap = self.openmp_threads or max(1, cpu_count() // self._n_jobs)
            self._pool = ThreadPool(
                self._n_jobs, initializer=_limit_worker_thread, initargs=(cap,)
            )
        return self._pool


def _joblib_backend(config, engines):
    """The ``backend`` argument for ``parallel_config``, or None."""
    if config.backend == "threading":
        return CappedThreadingBackend(openmp_threads=config.openmp_threads)
    if backend_engine(config.backend) is not None:
        return engines.backend(config)
    return config.backend


class apply_config(contextlib.ContextDecorator):
    """Context manager and decorator that runs code under ``config``.

    Use :meth:`sktune.Config.apply`, which returns one of these.

    Parameters
    ----------
    config : Config
    engines : EngineSession, default=None
        Where dask and ray configurations find their running engine. None
        starts what the configuration needs on entry and closes it on exit
        (a dask configuration without ``cluster`` uses the default Client).
    """

    def __init__(self, config, engines=None):
        self.config = config
        self.engines = engines
        self._stacks = []  # one per active ``with``: the same object may nest

    def _recreate_cm(self):
        # A fresh object per decorated call, so the decorator is re-entrant.
        return type(self)(self.config, self.engines)

    def __enter__(self):
        from threadpoolctl import threadpool_limits

        config = self.config
        stack = contextlib.ExitStack()
        try:
            engines = self.engines
            if engines is None and backend_engine(config.backend) is not None:
                engines = stack.enter_context(EngineSession())
            backend = _joblib_backend(config, engines)
            if backend is not None:
                kwargs = {"backend": backend}
                # n_jobs only travels with an explicit backend: without one,
                # joblib forces prefer="threads" sites to n_jobs=1
                # (PITFALLS.md section 1.5); configure() sets the parameters.
                if config.n_jobs is not None:
                    kwargs["n_jobs"] = config.n_jobs
                if config.inner_max_num_threads is not None:
                    kwargs["inner_max_num_threads"] = config.inner_max_num_threads
                stack.enter_context(parallel_config(**kwargs))
            if config.blas_threads is not None:
                stack.enter_context(
                    threadpool_limits(limits=config.blas_threads, user_api="blas"))
            if config.openmp_threads is not None:
                stack.enter_context(
                    threadpool_limits(limits=config.openmp_threads, user_api="openmp"))
                old = _set_numba_threads(config.openmp_threads)
                if old is not None:
                    stack.callback(_set_numba_threads, old)
        except BaseException:
            stack.close()
            raise
        self._stacks.append(stack)
        return self.config

    def __exit__(self, *exc_info):
        self._stacks.pop().close()
        return False
