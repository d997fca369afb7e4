"""Summary statistics of timings: medians, spread and ratio intervals.

Pure functions over sequences of seconds. Parallel code has scheduling
noise that belongs to its cost, so sktune summarises with medians and
bootstrap intervals of ratios of medians over interleaved repeats, not
minima (PITFALLS.md section 7). The bootstrap is seeded: the same timings
always give the same interval.

Two questions get two tools. *Is this candidate faster than that one, in
this run?* is :func:`significance` (asv's rule). *Where will the next run
of this comparison land?* is :func:`speedup_interval`, a prediction
interval for an independent re-run: the run's own uncertainty (a paired
bootstrap over interleaved rounds) widened by the machine's between-run
noise, which no amount of repeats within one run can show.
"""

import math
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
#: Between-run noise of this kind of machine when it has not been calibrated
#: (``sktune.calibration``): the standard deviation of the log of a speedup
#: re-measured by independent runs (fresh processes, 5 interleaved repeats).
#: benchmarks/bench_calibration.py measured 0.082 and 0.091 in two runs on
#: the 2-core CI VM (AMD EPYC), pooled over 8 workloads; single workloads
#: ranged from 0.01 (a forest) to 0.17 (HistGradientBoosting, one re-run of
#: five rounds 20% off). A quiet machine measures less: ``sktune calibrate``.
RUN_NOISE = 0.08
#: asv's significance threshold for the Mann-Whitney U test
#: (``asv.statistics.is_different``).
P_THRESHOLD = 0.002


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


def ratio_interval(numerator, denominator, *, rounds_numerator=(), rounds_denominator=(),
                   confidence=CONFIDENCE, n_bootstrap=N_BOOTSTRAP, seed=0):
    """Bootstrap interval of ``median(numerator) / median(denominator)``.

    With baseline times as ``numerator`` and candidate times as
    ``denominator`` this is the candidate's speedup (above 1 is faster).
    Both samples are resampled independently, or by rounds, together, when
    the rounds of the timings are given and at least :data:`MIN_SAMPLES`
    are shared (:func:`paired_rounds`). This is one run's uncertainty only;
    :func:`speedup_interval` is where a re-run lands.

    Parameters
    ----------
    numerator, denominator : sequence of float
        Positive timings, at least one each.
    rounds_numerator, rounds_denominator : sequence of int, default=()
        The round of each timing, for the paired bootstrap.
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
    pairs = paired_rounds(a, b, rounds_numerator, rounds_denominator)
    ratios = (_bootstrap_ratio(a, b, False, n_bootstrap, seed) if pairs is None
              else _bootstrap_ratio(*pairs, True, n_bootstrap, seed))
    alpha = (1 - confidence) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return RatioInterval(value, float(min(low, value)), float(max(high, value)), confidence)


def paired_rounds(a, b, rounds_a=(), rounds_b=()):
    """The timings of ``a`` and ``b`` from the rounds both were timed in.

    ``rounds_a`` and ``rounds_b`` name the round of each timing; without
    them (or when fewer than :data:`MIN_SAMPLES` rounds are shared) there
    is no pairing and None is returned.
    """
    if len(rounds_a) != len(a) or len(rounds_b) != len(b):
        return None
    by_round = dict(zip(rounds_b, b))
    shared = [(x, by_round[r]) for r, x in zip(rounds_a, a) if r in by_round]
    if len(shared) < MIN_SAMPLES:
        return None
    pa, pb = (np.array(side, dtype=float) for side in zip(*shared))
    return pa, pb


def _bootstrap_ratio(a, b, paired, n_bootstrap, seed):
    """Bootstrap replicates of ``median(a) / median(b)``: rounds resampled
    together when ``paired`` (drift common to a round cancels), else each
    side on its own."""
    rng = np.random.default_rng(seed)
    idx_a = rng.integers(0, a.size, (n_bootstrap, a.size))
    idx_b = idx_a if paired else rng.integers(0, b.size, (n_bootstrap, b.size))
    return np.median(a[idx_a], axis=1) / np.median(b[idx_b], axis=1)


def _z(confidence):
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


def speedup_interval(baseline, candidate, *, rounds_baseline=(), rounds_candidate=(),
                     run_noise=RUN_NOISE, confidence=CONFIDENCE,
                     n_bootstrap=N_BOOTSTRAP, seed=0):
    """Where an independent re-run of this comparison will land.

    The point is ``median(baseline) / median(candidate)`` (above 1 is
    faster). The interval is a prediction interval for the same ratio
    measured again, later, in another process: ``confidence`` of re-runs on
    this machine land in it. Its half-width, on a log scale and on each
    side, is ``sqrt(2) * max(d, z * run_noise)``, where

    - ``d`` is this run's own uncertainty: a percentile bootstrap of the
      ratio of medians over *rounds*, baseline and candidate resampled
      together (rounds are blocks: a slowdown that hits both in one round
      cancels, and real round-to-round variation shows), or independently
      where the rounds are not known;
    - ``run_noise`` is the machine's between-run noise: the standard
      deviation of the log of one comparison re-measured by independent
      runs (memory layout, frequency, other processes and the pools' state
      change between runs, not within one, so no bootstrap of one run sees
      it), measured by :func:`sktune.calibration.calibrate`;
    - ``sqrt(2)``: the claim and the re-run are two such runs, each off by
      that much (the larger of the two terms) on its own.

    A confidence interval of one run covers the *next* run's estimate far
    less often than its level says (a 95% interval about 83% of the time
    for two equal runs); the replication interval is ``sqrt(2)`` times as
    wide (Cumming & Maillardet, "Confidence intervals and replication:
    where will the next mean fall?", Psychological Methods 11(3), 2006).

    Parameters
    ----------
    baseline, candidate : sequence of float
        Positive timings, at least one each.
    rounds_baseline, rounds_candidate : sequence of int, default=()
        The round of each timing, for the paired bootstrap.
    run_noise : float, default=RUN_NOISE
    confidence : float, default=0.95
    n_bootstrap : int, default=2000
    seed : int, default=0

    Returns
    -------
    interval : RatioInterval
    """
    own = ratio_interval(baseline, candidate, rounds_numerator=rounds_baseline,
                         rounds_denominator=rounds_candidate, confidence=confidence,
                         n_bootstrap=n_bootstrap, seed=seed)
    value, floor = own.value, _z(confidence) * run_noise
    sides = [math.sqrt(2) * max(floor, d) for d in
             (math.log(value / own.low), math.log(own.high / value))]
    return RatioInterval(value, value * math.exp(-sides[0]), value * math.exp(sides[1]),
                         confidence)


def same_speed_interval(baseline, *, run_noise=RUN_NOISE, confidence=CONFIDENCE,
                        n_bootstrap=N_BOOTSTRAP, seed=0):
    """The interval of "as written against as written": 1.0 and where a re-run
    comparing the pipeline with itself lands (:func:`speedup_interval` of
    the baseline's timings against themselves split in halves)."""
    a = np.asarray(baseline, dtype=float)
    if a.size < 2:
        half = math.exp(math.sqrt(2) * _z(confidence) * run_noise)
        return RatioInterval(1.0, 1 / half, half, confidence)
    # Two halves of the same configuration's repeats: their ratio's spread
    # is what a comparison of the pipeline with itself shows in one run.
    interval = speedup_interval(a[::2], a[1::2], run_noise=run_noise,
                                confidence=confidence, n_bootstrap=n_bootstrap, seed=seed)
    half = max(math.log(interval.high / interval.value),
               math.log(interval.value / interval.low))
    return RatioInterval(1.0, math.exp(-half), math.exp(half), confidence)


@dataclass(frozen=True)
class Significance:
    """The verdict of :func:`significance`.

    Attributes
    ----------
    significant : bool
    test : str
        Which test decided, in words.
    p_value : float
    """

    significant: bool
    test: str
    p_value: float

    def __str__(self):
        return f"{self.test}, p = {self.p_value:.2g}"


def significance(a, b, *, p_threshold=P_THRESHOLD):
    """Whether the timings ``a`` and ``b`` differ beyond noise (asv's rule).

    asv (``asv.statistics.is_different``) calls two benchmarks different
    when a two-sided Mann-Whitney U test gives p < 0.002, provided the
    samples are large enough for that p to be reachable, and otherwise
    only when their 99% intervals do not overlap. With the 3 to 7 repeats
    of a profile a distribution-free 99% interval of a median does not
    exist (asv makes it infinite, so nothing would ever differ); sktune's
    fallback is the strongest evidence such samples can give: every timing
    of one below every timing of the other, whose exact two-sided p-value
    is ``2 / C(n + m, n)`` (0.008 for 5 against 5, 0.1 for 3 against 3).

    Parameters
    ----------
    a, b : sequence of float
    p_threshold : float, default=0.002

    Returns
    -------
    significance : Significance
    """
    from scipy.stats import mannwhitneyu

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.size == 0 or b.size == 0:
        return Significance(False, "no timings", 1.0)
    p = float(mannwhitneyu(a, b, alternative="two-sided",
                           method="exact" if max(a.size, b.size) <= 20 else "asymptotic"
                           ).pvalue)
    p_min = 2 / math.comb(a.size + b.size, a.size)
    if p_min < p_threshold:
        return Significance(p < p_threshold, f"Mann-Whitney U at p < {p_threshold:g}", p)
    separated = a.max() < b.min() or b.max() < a.min()
    return Significance(bool(separated), "every run of one faster than every run of "
                        "the other", p)
