# cython: freethreading_compatible = True
"""Cython kernels of sktune, each with a NumPy twin in ``sktune._kernels``.

Callers validate and convert the input first (dtype, C order, shapes) and pass
an explicit ``n_threads``; nothing here reads a thread count on its own. The
module compiles with or without OpenMP: every OpenMP call goes through the C
shims below, which fall back to one thread when ``_OPENMP`` is undefined.
"""

from cython cimport floating
from cython.parallel cimport prange

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define SKTUNE_OPENMP_ENABLED 1
    static int sktune_omp_max_threads(void) { return omp_get_max_threads(); }
    static int sktune_omp_num_threads(void) { return omp_get_num_threads(); }
    #else
    #define SKTUNE_OPENMP_ENABLED 0
    static int sktune_omp_max_threads(void) { return 1; }
    static int sktune_omp_num_threads(void) { return 1; }
    #endif
    """
    const bint SKTUNE_OPENMP_ENABLED
    int sktune_omp_max_threads() noexcept nogil
    int sktune_omp_num_threads() noexcept nogil


def openmp_enabled():
    """True when this module was compiled with OpenMP support."""
    return bool(SKTUNE_OPENMP_ENABLED)


def omp_max_threads():
    """``omp_get_max_threads()`` of the calling thread now (1 without OpenMP).

    Read at call time, so it honours ``threadpool_limits(n, user_api="openmp")``.
    """
    return sktune_omp_max_threads()


def standard_scale(
    const floating[:, ::1] X,
    const floating[::1] mean,
    const floating[::1] scale,
    floating[:, ::1] out,
    int n_threads,
):
    """Write ``(X - mean) / scale`` into ``out``, rows split over ``n_threads``."""
    cdef Py_ssize_t n_samples = X.shape[0]
    cdef Py_ssize_t n_features = X.shape[1]
    cdef Py_ssize_t i, j
    for i in prange(n_samples, nogil=True, schedule="static",
                    num_threads=n_threads):
        for j in range(n_features):
            out[i, j] = (X[i, j] - mean[j]) / scale[j]


def _team_size(int n_threads):
    """Threads in a ``prange`` team started with ``num_threads=n_threads`` (tests)."""
    cdef int i
    cdef int size = 1
    if n_threads < 1:
        n_threads = 1
    for i in prange(n_threads, nogil=True, schedule="static",
                    num_threads=n_threads):
        size = sktune_omp_num_threads()  # lastprivate: the team's size
    return size
