# cython: freethreading_compatible = True
"""Cython kernels of sktune, each with a NumPy twin in ``sktune._kernels``.

Callers validate and convert the input first (dtype, layout, shapes),
allocate the outputs and pass an explicit ``n_threads``; nothing here reads
a thread count on its own or allocates. Every kernel takes the 2-D data as
a C-contiguous ``const`` memoryview, so read-only memmaps from loky work.
F-ordered data reaches the column kernels as its transpose, ``X.T``, which
is C-contiguous: ``by_row=True`` then means "one statistic per row of A".

The module compiles with or without OpenMP: every OpenMP call goes through
the C shims below, which fall back to one thread when ``_OPENMP`` is
undefined. Small inputs run on the calling thread (``use_threads_if``): an
OpenMP team costs more than it saves there.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport fabs, sqrt

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

# Below this many elements a kernel runs on the calling thread: an OpenMP
# team's start and join cost microseconds, a pass over 512 KiB about 20 us.
# ``benchmarks/bench_kernels.py --tuning`` on the 2-core Xeon VM: at 65,536
# elements two threads are already 1.5x as fast as one; smaller sizes
# were not tried with threads.
cdef Py_ssize_t MIN_PARALLEL_SIZE = 65536


def openmp_enabled():
    """True when this module was compiled with OpenMP support."""
    return bool(SKTUNE_OPENMP_ENABLED)


def omp_max_threads():
    """``omp_get_max_threads()`` of the calling thread now (1 without OpenMP).

    Read at call time, so it honours ``threadpool_limits(n, user_api="openmp")``.
    """
    return sktune_omp_max_threads()


# -- elementwise: x -> (x - offset) / scale, or x * scale + offset --------

def column_affine(
    const floating[:, ::1] A,
    const floating[::1] offset,
    const floating[::1] scale,
    floating[:, ::1] out,
    bint by_row,
    bint mul_add,
    bint clip,
    double low,
    double high,
    bint check_finite,
    int n_threads,
):
    """Write ``(A - offset) / scale`` (or ``A * scale + offset``) into ``out``.

    The parameters index columns of A, or rows when ``by_row``. ``out`` may
    be A itself (in place). The two operations are rounded separately, as
    NumPy's ``X -= offset; X /= scale`` are (setup.py builds with
    ``-ffp-contract=off`` so no fused multiply-add changes the last bit).
    With ``clip``, results are clipped to ``[low, high]``; NaN stays NaN.

    Returns flags of what A holds, checked while each row is in cache when
    ``check_finite`` (else 0): 1 an infinite value, 2 a NaN. Input
    validation fused into the one pass over memory.
    """
    cdef Py_ssize_t n_rows = A.shape[0]
    cdef Py_ssize_t n_cols = A.shape[1]
    cdef Py_ssize_t i, j
    cdef floating a, b, v
    cdef floating lo = <floating>low
    cdef floating hi = <floating>high
    cdef int flags = 0
    for i in prange(n_rows, nogil=True, schedule="static", num_threads=n_threads,
                    use_threads_if=n_rows * n_cols >= MIN_PARALLEL_SIZE):
        if check_finite and n_cols > 0:  # before out (maybe A itself) is written
            flags |= _nonfinite_flags(&A[i, 0], n_cols)  # a reduction over rows
        if by_row:
            a = offset[i]
            b = scale[i]
            if mul_add:
                for j in range(n_cols):
                    out[i, j] = A[i, j] * b + a
            else:
                for j in range(n_cols):
                    out[i, j] = (A[i, j] - a) / b
        elif mul_add:
            for j in range(n_cols):
                out[i, j] = A[i, j] * scale[j] + offset[j]
        else:
            for j in range(n_cols):
                out[i, j] = (A[i, j] - offset[j]) / scale[j]
        if clip:
            for j in range(n_cols):
                v = out[i, j]
                if v < lo:
                    out[i, j] = lo
                elif v > hi:
                    out[i, j] = hi
    return flags


cdef inline int _nonfinite_flags(const floating *row, Py_ssize_t n) noexcept nogil:
    """1 if the row holds an infinite value, | 2 if it holds a NaN.

    ``x * 0`` is NaN exactly for NaN and infinite x, so a sum of them tells
    whether the row is finite: four independent sums vectorise and cost no
    more than reading the row, which is in cache (compare-and-OR loops do
    not vectorise with GCC and cost as much as the kernel itself, measured
    by benchmarks/bench_kernels.py). Only a row that is not finite is looked
    at element by element.
    """
    cdef Py_ssize_t j = 0
    cdef floating zero = 0  # typed: a literal 0.0 would promote float32 to double
    cdef floating a0 = 0, a1 = 0, a2 = 0, a3 = 0
    cdef int flags = 0
    while j + 4 <= n:
        a0 += row[j] * zero
        a1 += row[j + 1] * zero
        a2 += row[j + 2] * zero
        a3 += row[j + 3] * zero
        j += 4
    while j < n:
        a0 += row[j] * zero
        j += 1
    a0 = (a0 + a1) + (a2 + a3)
    if a0 == a0:
        return 0
    for j in range(n):
        if row[j] != row[j]:
            flags |= 2
        elif row[j] - row[j] != 0:
            flags |= 1
    return flags


# -- column statistics: count, mean and sum of squared deviations ----------

cdef inline void _merge(double *n_a, double *mean_a, double *m2_a,
                        double n_b, double mean_b, double m2_b) noexcept nogil:
    """Chan et al.'s pairwise update: fold a block's moments into a total."""
    cdef double n, delta
    if n_b == 0:
        return
    n = n_a[0] + n_b
    delta = mean_b - mean_a[0]
    mean_a[0] += delta * (n_b / n)
    m2_a[0] += m2_b + delta * delta * (n_a[0] * n_b / n)
    n_a[0] = n


def column_moments(
    const floating[:, ::1] A,
    bint by_row,
    const double[::1] shift,
    Py_ssize_t block,
    double[:, ::1] count,
    double[:, ::1] mean,
    double[:, ::1] m2,
    double[:, ::1] scratch,
    int n_threads,
):
    """Per-column (or per-row) count, mean and M2 of ``A - shift``, NaN ignored.

    ``shift`` (one value per column, or per row) is any value near the data,
    such as its first row: the means are taken of the shifted values, which
    keeps their sums small and the result exact even for data far from 0.
    One pass over memory with the accuracy of two: the data is read in
    tiles of ``block`` rows (or row elements) small enough to stay in
    cache, each tile's mean is taken first and its squared deviations
    second, and tiles are merged with Chan's update in double precision.

    Columns of a C-ordered A: thread ``t`` of ``n_threads`` takes a slice
    of rows and writes its partial moments to row ``t`` of ``count``,
    ``mean`` and ``m2`` (shape ``(n_threads, n_cols)``), to be merged by the
    caller; ``scratch`` has shape ``(n_threads, 3 * n_cols)``. Rows
    (``by_row``, the transpose of F-ordered data): row ``r`` of A is
    reduced by one thread into ``[0, r]`` of the outputs.
    """
    cdef Py_ssize_t n_rows = A.shape[0]
    cdef Py_ssize_t n_cols = A.shape[1]
    cdef Py_ssize_t t, r, start, stop, i, j, lo, hi
    cdef double x, k, n_b, s_b, mean_b, m2_b
    cdef double *b_n
    cdef double *b_sum
    cdef double *b_m2
    if by_row:
        for r in prange(n_rows, nogil=True, schedule="dynamic", num_threads=n_threads,
                        use_threads_if=n_rows * n_cols >= MIN_PARALLEL_SIZE):
            lo = 0
            k = shift[r]
            while lo < n_cols:
                hi = min(lo + block, n_cols)
                n_b = 0
                s_b = 0
                for j in range(lo, hi):
                    x = A[r, j] - k
                    if x == x:
                        n_b = n_b + 1
                        s_b = s_b + x
                if n_b > 0:
                    mean_b = s_b / n_b
                    m2_b = 0
                    for j in range(lo, hi):
                        x = A[r, j] - k
                        if x == x:
                            m2_b = m2_b + (x - mean_b) * (x - mean_b)
                    _merge(&count[0, r], &mean[0, r], &m2[0, r], n_b, mean_b, m2_b)
                lo = hi
        return
    for t in prange(n_threads, nogil=True, schedule="static", chunksize=1,
                    num_threads=n_threads,
                    use_threads_if=n_rows * n_cols >= MIN_PARALLEL_SIZE):
        start = t * n_rows // n_threads
        stop = (t + 1) * n_rows // n_threads
        b_n = &scratch[t, 0]
        b_sum = &scratch[t, n_cols]
        b_m2 = &scratch[t, 2 * n_cols]
        lo = start
        while lo < stop:
            hi = min(lo + block, stop)
            for j in range(n_cols):
                b_n[j] = 0
                b_sum[j] = 0
                b_m2[j] = 0
            for i in range(lo, hi):
                for j in range(n_cols):
                    x = A[i, j] - shift[j]
                    if x == x:
                        b_n[j] += 1
                        b_sum[j] += x
            for j in range(n_cols):
                if b_n[j] > 0:
                    b_sum[j] = b_sum[j] / b_n[j]  # now the tile's mean
            for i in range(lo, hi):
                for j in range(n_cols):
                    x = A[i, j] - shift[j]
                    if x == x:
                        b_m2[j] += (x - b_sum[j]) * (x - b_sum[j])
            for j in range(n_cols):
                _merge(&count[t, j], &mean[t, j], &m2[t, j], b_n[j], b_sum[j], b_m2[j])
            lo = hi


# -- column minimum and maximum, NaN ignored -------------------------------

def column_min_max(
    const floating[:, ::1] A,
    bint by_row,
    floating[:, ::1] low,
    floating[:, ::1] high,
    int n_threads,
):
    """Per-column (or per-row) minimum and maximum of A, NaN ignored.

    ``low`` and ``high`` come filled with +inf and -inf; the layout of the
    outputs is that of :func:`column_moments`. A column of NaN only keeps
    +inf / -inf, which the caller turns into NaN.
    """
    cdef Py_ssize_t n_rows = A.shape[0]
    cdef Py_ssize_t n_cols = A.shape[1]
    cdef Py_ssize_t t, r, start, stop, i, j
    cdef floating x, mn, mx
    if by_row:
        for r in prange(n_rows, nogil=True, schedule="dynamic", num_threads=n_threads,
                        use_threads_if=n_rows * n_cols >= MIN_PARALLEL_SIZE):
            mn = low[0, r]
            mx = high[0, r]
            for j in range(n_cols):
                x = A[r, j]
                if x < mn:  # False for NaN
                    mn = x
                if x > mx:
                    mx = x
            low[0, r] = mn
            high[0, r] = mx
        return
    for t in prange(n_threads, nogil=True, schedule="static", chunksize=1,
                    num_threads=n_threads,
                    use_threads_if=n_rows * n_cols >= MIN_PARALLEL_SIZE):
        start = t * n_rows // n_threads
        stop = (t + 1) * n_rows // n_threads
        for i in range(start, stop):
            for j in range(n_cols):
                x = A[i, j]
                if x < low[t, j]:
                    low[t, j] = x
                if x > high[t, j]:
                    high[t, j] = x


# -- row normalisation -----------------------------------------------------

def normalize_rows(
    const floating[:, ::1] A,
    floating[:, ::1] out,
    int norm,
    double tiny,
    bint check_finite,
    int n_threads,
):
    """Divide each row of A by its l1 (norm=1), l2 (2) or max (0) norm.

    Norms are accumulated in double; a norm below ``tiny`` (scikit-learn's
    ``10 * eps`` of the dtype) counts as 1, so zero rows stay zero. One
    pass over memory: a row is reduced and divided while it is in cache.
    ``out`` may be A itself. Returns the flags of :func:`column_affine`.
    """
    cdef Py_ssize_t n_rows = A.shape[0]
    cdef Py_ssize_t n_cols = A.shape[1]
    cdef Py_ssize_t i, j
    cdef double s, x
    cdef floating d
    cdef int flags = 0
    for i in prange(n_rows, nogil=True, schedule="static", num_threads=n_threads,
                    use_threads_if=n_rows * n_cols >= MIN_PARALLEL_SIZE):
        if check_finite and n_cols > 0:
            flags |= _nonfinite_flags(&A[i, 0], n_cols)
        s = 0
        if norm == 2:
            for j in range(n_cols):
                x = A[i, j]
                s = s + x * x
            s = sqrt(s)
        elif norm == 1:
            for j in range(n_cols):
                s = s + fabs(A[i, j])
        else:
            for j in range(n_cols):
                x = fabs(A[i, j])
                if x > s:
                    s = x
        d = <floating>s
        if d < tiny:
            d = 1
        for j in range(n_cols):
            out[i, j] = A[i, j] / d
    return flags


# -- degree-2 polynomial and interaction features ---------------------------

def polynomial_2(
    const floating[:, :] X,
    floating[:, ::1] out,
    bint include_bias,
    bint interaction_only,
    int n_threads,
):
    """Write ``[1,] x_1..x_m, x_a * x_b`` for ``a <= b`` (``a < b`` when
    ``interaction_only``) into the rows of ``out``, in scikit-learn's order.

    X may have any strides (C or F order): the output, many times larger,
    is what costs, and it is written row by row.
    """
    cdef Py_ssize_t n_rows = X.shape[0]
    cdef Py_ssize_t n_cols = X.shape[1]
    cdef Py_ssize_t i, a, b, k, first
    cdef floating xa
    first = 1 if interaction_only else 0
    for i in prange(n_rows, nogil=True, schedule="static", num_threads=n_threads,
                    use_threads_if=n_rows * out.shape[1] >= MIN_PARALLEL_SIZE):
        k = 0
        if include_bias:
            out[i, 0] = 1
            k = 1
        for a in range(n_cols):
            out[i, k + a] = X[i, a]
        k = k + n_cols
        for a in range(n_cols):
            xa = X[i, a]
            for b in range(a + first, n_cols):
                out[i, k] = xa * X[i, b]
                k = k + 1


# -- helpers for tests and benchmarks ------------------------------------------

def stream_copy(const double[::1] src, double[::1] dst, int n_threads):
    """``dst[:] = src`` split over threads: the copy-bandwidth yardstick."""
    cdef Py_ssize_t i
    for i in prange(src.shape[0], nogil=True, schedule="static",
                    num_threads=n_threads):
        dst[i] = src[i]


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
