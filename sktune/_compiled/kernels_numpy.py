"""NumPy reference twins of the Cython kernels in ``sktune/_cy/_kernels.pyx``.

Same names, same signatures, same contract: the caller validates, lays the
data out and allocates every output; these write into them. They are the
definition of what a kernel computes (tests compare the Cython engine to
them) and the engine that runs when the extension is not built or
``SKTUNE_NO_EXTENSIONS=1``. ``n_threads`` is accepted and ignored; the
tiling ``block`` of :func:`column_moments` too (NumPy takes two passes).
"""

import numpy as np


def _nonfinite_flags(A, check_finite):
    """1 if A holds an infinite value, | 2 if a NaN; 0 unchecked."""
    if not check_finite:
        return 0
    return int(np.isinf(A).any()) | (int(np.isnan(A).any()) << 1)


def column_affine(A, offset, scale, out, by_row, mul_add, clip, low, high, check_finite,
                  n_threads):
    """``out = (A - offset) / scale``, or ``A * scale + offset``; then clip.

    Returns what A holds when ``check_finite``: 1 infinite values, | 2 NaN.
    """
    flags = _nonfinite_flags(A, check_finite)  # before A may be overwritten
    if by_row:
        offset, scale = offset[:, None], scale[:, None]
    if mul_add:
        np.multiply(A, scale, out=out)
        np.add(out, offset, out=out)
    else:
        np.subtract(A, offset, out=out)
        np.divide(out, scale, out=out)
    if clip:
        np.clip(out, out.dtype.type(low), out.dtype.type(high), out=out)
    return flags


def column_moments(A, by_row, shift, block, count, mean, m2, scratch, n_threads):
    """Count, mean and M2 of ``A - shift`` per column (per row when ``by_row``).

    NaN ignored. Two passes in double precision, written to row 0 of the
    outputs; the other rows stay zero, which the caller's merge treats as
    empty.
    """
    axis = 1 if by_row else 0
    valid = ~np.isnan(A)
    n = valid.sum(axis=axis, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.nansum(A, axis=axis, dtype=np.float64) / n
    mu_b = mu[:, None] if by_row else mu
    deviations = np.where(valid, A - mu_b, 0.0).astype(np.float64, copy=False)
    count[0] = n
    mean[0] = np.where(n > 0, mu - shift, 0.0)
    m2[0] = np.einsum("ij,ij->i" if by_row else "ij,ij->j", deviations, deviations,
                      dtype=np.float64)


def column_min_max(A, by_row, low, high, n_threads):
    """Minimum and maximum per column (row), NaN ignored, into row 0.

    A column of NaN only gives NaN here; the caller folds it with the
    +inf / -inf the outputs start with, as for the Cython kernel.
    """
    axis = 1 if by_row else 0
    np.fmin(low[0], np.fmin.reduce(A, axis=axis), out=low[0])
    np.fmax(high[0], np.fmax.reduce(A, axis=axis), out=high[0])


def row_norms(A, norm, tiny):
    """l1 (norm=1), l2 (2) or max (0) norm of each row, in A's dtype.

    Accumulated in float64; a norm below ``tiny`` is 1. Any memory order.
    """
    if norm == 2:
        norms = np.sqrt(np.einsum("ij,ij->i", A, A, dtype=np.float64))
    elif norm == 1:
        norms = np.abs(A).sum(axis=1, dtype=np.float64)
    else:
        norms = np.abs(A).max(axis=1)
    norms = norms.astype(A.dtype)
    norms[norms < tiny] = 1
    return norms


def normalize_rows(A, out, norm, tiny, check_finite, n_threads):
    """Divide each row by its l1 (norm=1), l2 (2) or max (0) norm.

    Returns what A holds when ``check_finite``: 1 infinite values, | 2 NaN.
    """
    flags = _nonfinite_flags(A, check_finite)
    with np.errstate(invalid="ignore"):  # NaN rows: refused by the caller when checked
        np.divide(A, row_norms(A, norm, tiny)[:, None], out=out)
    return flags


def polynomial_2(X, out, include_bias, interaction_only, n_threads):
    """``[1,] x_1..x_m, x_a * x_b`` in scikit-learn's column order."""
    n_features = X.shape[1]
    first = 1 if interaction_only else 0
    k = 0
    if include_bias:
        out[:, 0] = 1
        k = 1
    out[:, k:k + n_features] = X
    k += n_features
    for a in range(n_features):
        width = n_features - a - first
        np.multiply(X[:, a:a + 1], X[:, a + first:], out=out[:, k:k + width])
        k += width


def stream_copy(src, dst, n_threads):
    """``dst[:] = src``: the copy-bandwidth yardstick."""
    np.copyto(dst, src)
