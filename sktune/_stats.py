"""Summary statistics of timings: medians, spread and ratio intervals.

Pure functions over sequences of seconds. Parallel code has scheduling
noise that belongs to its cost, so sktune summarises with medians and
bootstrap intervals of ratios of medians over interleaved repeats, not
minima (PITFALLS.md section 7). The bootstrap is seeded: the same timings
always give the same interval.
"""

from dataclasses import dataclass

import numpy as np

#: No statistic is computed on fewer timed repeats than this: the search
#: always runs this many rounds, and a candidate with fewer is "too few
#: repeats" in the result.
MIN_SAMPLES = 3
#: Resamples of the bootstrap; 2000 keeps the 2.5% and 97.5% quantiles
#: stable to about 1% of the interval width for n >= 5 (tests/test_stats.py).
N_BOOTSTRAP = 2000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class RatioInterval:
    """A point estimate with a confidence interval.

    Attributes
    ----------
    value : float
    low, high : float
        Bounds of the ``confidence`` interval.
    confidence : float
    """

    value: float
    low: float
    high: float
    confidence: float = CONFIDENCE

    def __str__(self):
        return f"{self.value:.2f}x [{self.low:.2f}, {self.high:.2f}]"

    def __contains__(self, x):
        return self.low <= x <= self.high

    def to_dict(self):
        return {"value": self.value, "low": self.low, "high": self.high,
                "confidence": self.confidence}


def spread(samples):
    """Interquartile range divided by the median (a relative spread)."""
    samples = np.asarray(samples, dtype=float)
    median = np.median(samples)
    if samples.size < 2 or median <= 0:
        return 0.0
    q1, q3 = np.percentile(samples, [25, 75])
    return float((q3 - q1) / median)


def ratio_interval(numerator, denominator, *, confidence=CONFIDENCE,
                   n_bootstrap=N_BOOTSTRAP, seed=0):
    """Bootstrap interval of ``median(numerator) / median(denominator)``.

    With baseline times as ``numerator`` and candidate times as
    ``denominator`` this is the candidate's speedup (above 1 is faster).
    Both samples are resampled independently.

    Parameters
    ----------
    numerator, denominator : sequence of float
        Positive timings, at least one each.
    confidence : float, default=0.95
    n_bootstrap : int, default=2000
    seed : int, default=0

    Returns
    -------
    interval : RatioInterval
    """
    a = np.asarray(numerator, dtype=float)
    b = np.asarray(denominator, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ValueError("ratio_interval needs at least one sample on each side.")
    value = float(np.median(a) / np.median(b))
    rng = np.random.default_rng(seed)
    med_a = np.median(a[rng.integers(0, a.size, (n_bootstrap, a.size))], axis=1)
    med_b = np.median(b[rng.integers(0, b.size, (n_bootstrap, b.size))], axis=1)
    ratios = med_a / med_b
    alpha = (1 - confidence) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return RatioInterval(value, float(min(low, value)), float(max(high, value)), confidence)
