"""The cost model of proxies: a fixed cost plus a cost per unit, fitted and extrapolated.

A candidate timed on proxies of ``u1 < u2 (< u3)`` units (:mod:`sktune._proxies`)
takes ``t(u) = fixed + per_unit * u`` to a good approximation when every
proxy keeps several units per worker: start-up, imports, the refit of a
search and the data's first pass are fixed, each tree or candidate adds
its share. Each round of the search times every candidate on every size,
interleaved; the line through one round's times predicts that round's
full-size time, so a candidate gets one *predicted* sample per round, and
everything that works on samples (racing, intervals, the recommendation)
works on these, labelled as predicted. The spread of those samples
carries the extrapolation's noise into every interval. Pure functions:
no timing, no I/O.
"""

from dataclasses import dataclass

import numpy as np

#: A fit whose sizes' medians stray from its line by more than this share
#: of the time is poor (with three sizes; two are always on their line).
POOR_FIT = 0.10
#: A fixed cost below minus this share of the smallest proxy's time means
#: the cost grows faster than linearly between the sizes: a poor fit too.
NEGATIVE_FIXED = 0.25


def fit_line(units, seconds):
    """Least-squares ``(fixed, per_unit)`` of ``seconds = fixed + per_unit * units``.

    Parameters
    ----------
    units, seconds : sequence of float
        At least two distinct sizes.
    """
    u = np.asarray(units, dtype=float)
    t = np.asarray(seconds, dtype=float)
    if u.size < 2 or np.ptp(u) == 0:
        raise ValueError("fit_line needs at least two distinct sizes.")
    per_unit, fixed = np.polyfit(u, t, 1)
    return float(fixed), float(per_unit)


def predict(units, seconds, full):
    """The time at ``full`` units of the line through ``(units, seconds)``."""
    fixed, per_unit = fit_line(units, seconds)
    return fixed + per_unit * full


def round_samples(records, index, full, n_sizes=2):
    """Predicted full-size seconds of candidate ``index``, one per complete round.

    Parameters
    ----------
    records : sequence of dict
        Trial records; the timed ones of a proxy carry ``units``.
    index : int
    full : int
        Units as written.
    n_sizes : int, default=2
        Proxy sizes of a round: a round timed at fewer (the budget ran out
        inside it) predicts nothing.

    Returns
    -------
    samples : list of (round, predicted seconds, {units: record})
        Rounds in which the candidate was timed at every size.
    """
    by_round = {}
    for r in records:
        if (r["config"] == index and r["phase"] == "timed" and not r.get("error")
                and r.get("units") is not None and r.get("wall_s") is not None):
            by_round.setdefault(r["round"], {})[r["units"]] = r
    samples = []
    for round_, times in sorted(by_round.items(), key=lambda item: item[0]):
        if len(times) >= max(2, n_sizes):
            seconds = [r["wall_s"] for r in times.values()]
            samples.append((round_, predict(list(times), seconds, full), times))
    return samples


@dataclass(frozen=True)
class Model:
    """One candidate's fitted cost: what the report shows.

    Attributes
    ----------
    fixed_s, per_unit_s : float
        The line through the medians of each size.
    medians : dict of int to float
        Median seconds per proxy size.
    residual : float
        Largest distance of a median from the line, as a share of that
        median (0 with two sizes).
    poor : bool
        A residual above :data:`POOR_FIT`, or a fixed cost well below zero
        (the cost grows faster than linearly between the sizes).
    """

    fixed_s: float
    per_unit_s: float
    medians: dict
    residual: float
    poor: bool

    def predict(self, units):
        return self.fixed_s + self.per_unit_s * units

    def to_dict(self):
        return {"fixed_s": self.fixed_s, "per_unit_s": self.per_unit_s,
                "medians": {str(k): v for k, v in self.medians.items()},
                "residual": self.residual, "poor": self.poor}


def fit_model(records, index):
    """The :class:`Model` of candidate ``index`` from its proxy timings, or None."""
    by_size = {}
    for r in records:
        if (r["config"] == index and r["phase"] == "timed" and not r.get("error")
                and r.get("units") is not None and r.get("wall_s") is not None):
            by_size.setdefault(r["units"], []).append(r["wall_s"])
    if len(by_size) < 2:
        return None
    medians = {u: float(np.median(t)) for u, t in sorted(by_size.items())}
    fixed, per_unit = fit_line(list(medians), list(medians.values()))
    residual = max(abs(fixed + per_unit * u - m) / m for u, m in medians.items() if m > 0)
    smallest = medians[min(medians)]
    poor = residual > POOR_FIT or fixed < -NEGATIVE_FIXED * smallest
    return Model(fixed, per_unit, medians, float(residual), bool(poor))


def ranking_flips(models, eligible, full, noise=0.05):
    """Sizes at which the fastest candidate is another one than predicted.

    Parameters
    ----------
    models : dict of int to Model
    eligible : collection of int
        Candidates that may be recommended.
    full : int
        Units as written: where "predicted" is.
    noise : float, default=0.05
        Two candidates within this share of each other are tied.

    Returns
    -------
    flips : list of (units, fastest at that size, predicted fastest)
        Only where the predicted fastest is slower at that size beyond noise.
    """
    models = {i: m for i, m in models.items() if i in eligible and m is not None}
    if len(models) < 2:
        return []
    sizes = sorted(set.intersection(*(set(m.medians) for m in models.values())))
    full_best = min(models, key=lambda i: models[i].predict(full))
    flips = []
    for units in sizes:
        fastest = min(models, key=lambda i: models[i].medians[units])
        if models[full_best].medians[units] > (1 + noise) * models[fastest].medians[units]:
            flips.append((units, fastest, full_best))
    return flips


def proxy_sizes(*, probe_units, fixed_s, per_unit_s, full, n_candidates, seconds_left,
                rounds):
    """The proxy sizes that let ``rounds`` rounds of every candidate fit in a budget.

    Each candidate is warmed up once at the smallest size, then each round
    times it at every size. Three sizes where they fit (a line through
    three has residuals that say whether it fits), else two. A size of
    ``u`` units is taken to cost ``fixed_s + per_unit_s * u`` (the probes'
    line, the as-written configuration's: the candidates are there to be
    faster).

    Parameters
    ----------
    probe_units : int
        The smallest proxy, already timed.
    fixed_s, per_unit_s : float
        The probes' line; ``fixed_s`` at least 0, ``per_unit_s`` above 0.
    full : int
        Units as written; no proxy has more than half of them.
    n_candidates, rounds : int
    seconds_left : float
        What the budget has left; the plan uses :data:`PLAN_SHARE` of it.

    Returns
    -------
    sizes : tuple of int or None
        Increasing sizes, the first ``probe_units``; None when even the
        smallest plan does not fit.
    needed_s : float
        What the smallest plan (two sizes, the larger twice the smaller)
        would cost, over :data:`MIN_PLAN_SHARE`: the budget that is enough.
    """
    small, fixed, per_unit = probe_units, max(fixed_s, 0.0), per_unit_s

    def cost(*sizes):
        return sum(fixed + per_unit * u for u in sizes)

    needed = n_candidates * (cost(small) + rounds * cost(small, 2 * small)) / MIN_PLAN_SHARE
    if per_unit <= 0:
        return (small, max(2 * small, full // 2)), needed
    per_round = (PLAN_SHARE * seconds_left / max(n_candidates, 1) - cost(small)) / rounds
    # small + middle + large, the middle halfway: 3 fixed + 1.5 (small + large) units
    three = min(int((per_round - 3 * fixed) / (1.5 * per_unit) - small), full // 2)
    if three >= 3 * small:
        return (small, (small + three) // 2, three), needed
    two = min(int((per_round - 2 * fixed) / per_unit - small), full // 2)
    if two >= 2 * small:
        return (small, two), needed
    if seconds_left >= needed:  # the smallest plan, in a budget sized for it
        return (small, 2 * small), needed
    return None, needed


#: Share of the budget left after the probe that the proxy rounds are
#: planned to use: the rest absorbs the noise of the cost estimate, warm-ups
#: that restart a pool, and a round that runs to its end past the budget.
PLAN_SHARE = 0.7
#: The smallest plan's share of the budget that :func:`proxy_sizes` says is
#: enough: less slack than PLAN_SHARE, since it is the least that can work.
MIN_PLAN_SHARE = 0.85
