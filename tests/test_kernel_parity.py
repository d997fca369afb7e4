"""Tests that every kernel's Cython engine matches its NumPy twin, at any thread count."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from sktune._compiled import kernels as _kernels

pytestmark = pytest.mark.skipif(_kernels._cy is None,
                                reason="sktune's Cython extension is not built")


def _data(seed, n_samples, n_features, dtype, order, nan):
    rng = np.random.default_rng(seed)
    X = rng.normal(loc=rng.uniform(-1e3, 1e3), scale=rng.uniform(1e-3, 10),
                   size=(n_samples, n_features))
    if nan and X.size:
        X[rng.random(X.shape) < 0.1] = np.nan
    return np.asarray(X, dtype=dtype, order=order)


# Shapes on both sides of the kernels' threshold for using threads (64k
# elements), and more threads than rows.
shapes = st.sampled_from([(0, 3), (1, 1), (3, 5), (7, 1), (1, 9), (5000, 17), (70000, 1)])
dtypes = st.sampled_from([np.float32, np.float64])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000), shape=shapes, dtype=dtypes, order=st.sampled_from("CF"),
       nan=st.booleans(), n_threads=st.sampled_from([1, 2, 3]))
def test_column_statistics_cython_matches_numpy(seed, shape, dtype, order, nan, n_threads):
    # Check moments and min/max against the NumPy twin, NaN ignored.
    X = _data(seed, *shape, dtype, order, nan)
    count, mean, var = _kernels.column_moments(X, n_threads=n_threads, engine="cython")
    count_r, mean_r, var_r = _kernels.column_moments(X, engine="numpy")
    assert_array_equal(count, count_r)
    assert mean.dtype == var.dtype == np.float64
    # Tiles merged with Chan's update agree with two exact passes to ~1e-12.
    assert_allclose(mean, mean_r, rtol=1e-12, atol=1e-9, equal_nan=True)
    assert_allclose(var, var_r, rtol=1e-9, atol=1e-12, equal_nan=True)
    low, high = _kernels.column_min_max(X, n_threads=n_threads, engine="cython")
    low_r, high_r = _kernels.column_min_max(X, engine="numpy")
    assert low.dtype == high.dtype == X.dtype
    assert_array_equal(low, low_r)
    assert_array_equal(high, high_r)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000), shape=shapes, dtype=dtypes, order=st.sampled_from("CF"),
       mul_add=st.booleans(), clip=st.booleans(), in_place=st.booleans(),
       n_threads=st.sampled_from([1, 2, 3]))
def test_column_affine_cython_matches_numpy_bit_for_bit(seed, shape, dtype, order, mul_add,
                                                        clip, in_place, n_threads):
    # Check both operations, clipping and in-place output give NumPy's exact bits.
    X = _data(seed, *shape, dtype, order, nan=True)
    rng = np.random.default_rng(seed)
    offset, scale = rng.normal(size=shape[1]), rng.uniform(0.5, 2, size=shape[1])
    bounds = (-1.0, 1.5) if clip else None
    expected = _kernels.column_affine(X, offset, scale, mul_add=mul_add, clip=bounds,
                                      engine="numpy")
    out = X.copy(order="K") if in_place else None
    source = out if in_place else X
    got = _kernels.column_affine(source, offset, scale, mul_add=mul_add, clip=bounds,
                                 out=out, n_threads=n_threads, engine="cython")
    assert got.flags.f_contiguous == expected.flags.f_contiguous
    assert_array_equal(got, expected)
    if in_place:
        assert got is out


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000), shape=shapes, dtype=dtypes, order=st.sampled_from("CF"),
       norm=st.sampled_from(["l1", "l2", "max"]), zero_row=st.booleans(),
       n_threads=st.sampled_from([1, 2, 3]))
def test_normalize_rows_cython_matches_numpy(seed, shape, dtype, order, norm, zero_row,
                                             n_threads):
    # Check each norm, zero rows left as they are, in both memory orders.
    X = _data(seed, *shape, dtype, order, nan=False)
    if zero_row and X.shape[0]:
        X[0] = 0
    got = _kernels.normalize_rows(X, norm, n_threads=n_threads, engine="cython")
    expected = _kernels.normalize_rows(X, norm, engine="numpy")
    assert got.dtype == X.dtype
    assert got.flags.f_contiguous == X.flags.f_contiguous
    assert_allclose(got, expected, rtol=1e-6 if dtype == np.float32 else 1e-14)
    if zero_row and X.shape[0]:
        assert_array_equal(got[0], 0)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000), shape=shapes, dtype=dtypes, order=st.sampled_from("CF"),
       include_bias=st.booleans(), interaction_only=st.booleans(),
       n_threads=st.sampled_from([1, 2, 3]))
def test_polynomial_2_cython_matches_numpy(seed, shape, dtype, order, include_bias,
                                           interaction_only, n_threads):
    # Check the output width, column order and products against the NumPy twin.
    X = _data(seed, shape[0] // 10, shape[1], dtype, order, nan=True)
    got = _kernels.polynomial_2(X, include_bias=include_bias,
                                interaction_only=interaction_only,
                                n_threads=n_threads, engine="cython")
    expected = _kernels.polynomial_2(X, include_bias=include_bias,
                                     interaction_only=interaction_only, engine="numpy")
    assert got.shape == (X.shape[0], _kernels.n_polynomial_2_features(
        X.shape[1], include_bias, interaction_only))
    assert got.flags.c_contiguous and got.dtype == X.dtype
    assert_array_equal(got, expected)


def test_column_moments_are_accurate_far_from_zero():
    # Check the one-pass moments keep the accuracy of two passes for a large mean.
    rng = np.random.default_rng(0)
    X = 1e9 + rng.normal(size=(200_000, 2))
    _, mean, var = _kernels.column_moments(X, n_threads=2, engine="cython")
    exact_mean = np.array([math.fsum(column) / len(column) for column in X.T])
    deviations = X - exact_mean
    assert_allclose(mean, exact_mean, rtol=1e-15)
    # scikit-learn's own error on this data is 4e-10.
    assert_allclose(var, (deviations * deviations).mean(axis=0), rtol=1e-9)


def test_kernels_reject_bad_arguments():
    # Check that the new kernels name the bad argument.
    X = np.ones((3, 2))
    with pytest.raises(_kernels.InvalidParameterError, match="Invalid norm: 'l3'"):
        _kernels.normalize_rows(X, "l3")
    with pytest.raises(_kernels.InvalidParameterError, match="out must be a writeable"):
        _kernels.column_affine(X, np.zeros(2), np.ones(2), out=np.empty((2, 3)))
    with pytest.raises(_kernels.InvalidParameterError, match="X must be float32 or float64"):
        _kernels.column_moments(X.astype(np.float16))
    with pytest.raises(_kernels.InvalidParameterError, match="'n_threads' parameter of "
                                                             "polynomial_2"):
        _kernels.polynomial_2(X, n_threads=0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 1000), shape=shapes, dtype=dtypes, order=st.sampled_from("CF"),
       n_inf=st.integers(0, 2), n_nan=st.integers(0, 2), in_place=st.booleans(),
       n_threads=st.sampled_from([1, 2, 3]))
def test_fused_finite_check_reports_what_X_holds(seed, shape, dtype, order, n_inf, n_nan,
                                                 in_place, n_threads):
    # Check the finiteness flags of the fused kernels, also when writing in place.
    X = _data(seed, *shape, dtype, order, nan=False)
    rng = np.random.default_rng(seed)
    for value, count in ((np.inf, n_inf), (np.nan, n_nan)):
        for _ in range(count if X.size else 0):
            X[rng.integers(0, X.shape[0]), rng.integers(0, X.shape[1])] = value
    expected = (bool(np.isinf(X).any()), bool(np.isnan(X).any()))
    ones, zeros = np.ones(X.shape[1]), np.zeros(X.shape[1])
    for engine in ("numpy", "cython"):
        source = X.copy(order="K")
        out = source if in_place else None
        _, *flags = _kernels.column_affine(source, zeros, ones, mul_add=True,
                                           clip=(-0.5, 0.5), out=out, check_finite=True,
                                           n_threads=n_threads, engine=engine)
        assert tuple(flags) == expected, engine
        source = X.copy(order="K")
        _, *flags = _kernels.normalize_rows(source, "l1", out=source if in_place else None,
                                            check_finite=True, n_threads=n_threads,
                                            engine=engine)
        assert tuple(flags) == expected, engine
