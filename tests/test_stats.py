import numpy as np
import pytest

from sktune._stats import RatioInterval, ratio_interval, spread


def test_ratio_interval_contains_true_ratio(global_random_seed):
    # Check that the bootstrap interval covers the true ratio of medians of
    # synthetic lognormal timings in most repetitions (asv test_compute_stats).
    rng = np.random.default_rng(global_random_seed)
    true_ratio, covered, n_experiments = 2.0, 0, 200
    for i in range(n_experiments):
        base = 1.0 * rng.lognormal(0, 0.05, size=9)
        cand = 0.5 * rng.lognormal(0, 0.05, size=9)
        ci = ratio_interval(base, cand, seed=i)
        covered += true_ratio in ci
    assert covered / n_experiments > 0.85


def test_ratio_interval_deterministic_and_ordered():
    # Check that the same timings give the same interval and low <= value <= high.
    a, b = [1.0, 1.1, 0.9, 1.05], [0.5, 0.52, 0.49, 0.55]
    first, second = ratio_interval(a, b, seed=3), ratio_interval(a, b, seed=3)
    assert first == second
    assert first.low <= first.value <= first.high
    assert first.value == pytest.approx(np.median(a) / np.median(b))


def test_ratio_interval_identical_samples_is_a_point():
    # Check that noise-free timings give a zero-width interval at the exact ratio.
    ci = ratio_interval([2.0] * 5, [1.0] * 5)
    assert (ci.value, ci.low, ci.high) == (2.0, 2.0, 2.0)


def test_ratio_interval_empty_raises():
    # Check that an empty sample is refused with a clear message.
    with pytest.raises(ValueError, match="at least one sample"):
        ratio_interval([], [1.0])


def test_spread_is_relative_iqr():
    # Check that spread is IQR / median and 0 for a single value.
    assert spread([1.0]) == 0.0
    assert spread([1.0, 1.0, 1.0]) == 0.0
    assert spread([0.9, 1.0, 1.1]) == pytest.approx(0.1)


def test_interval_str_and_dict():
    # Check the printed form and the JSON form of an interval.
    ci = RatioInterval(1.934, 1.851, 2.012)
    assert str(ci) == "1.93x [1.85, 2.01]"
    assert ci.to_dict() == {"value": 1.934, "low": 1.851, "high": 2.012, "confidence": 0.95}
