"""The cost model: a fixed cost plus a cost per unit, recovered, checked and planned."""

import pytest

from sktune._costmodel import (
    MIN_PLAN_SHARE,
    PLAN_SHARE,
    fit_line,
    fit_model,
    predict,
    proxy_sizes,
    ranking_flips,
    round_samples,
)


def _records(index, times, rounds=1):
    """Timed proxy records of ``index``: ``times`` maps units to seconds."""
    return [{"config": index, "phase": "timed", "round": r, "units": u, "wall_s": t,
             "error": None} for r in range(rounds) for u, t in times.items()]


def test_a_known_fixed_cost_and_cost_per_unit_are_recovered_and_extrapolated():
    units = [8, 29, 51]
    fixed, per_unit = fit_line(units, [2.0 + 0.05 * u for u in units])
    assert fixed == pytest.approx(2.0) and per_unit == pytest.approx(0.05)
    assert predict(units, [2.0 + 0.05 * u for u in units], 400) == pytest.approx(22.0)
    with pytest.raises(ValueError, match="two distinct sizes"):
        fit_line([8, 8], [1.0, 1.1])


def test_one_predicted_sample_per_complete_round():
    records = _records(0, {8: 1.4, 16: 1.8}, rounds=3)
    # Round 3 ran out of budget after one size: it predicts nothing.
    records += [{"config": 0, "phase": "timed", "round": 3, "units": 8, "wall_s": 1.4,
                 "error": None}]
    samples = round_samples(records, 0, full=400)
    assert [round_ for round_, _, _ in samples] == [0, 1, 2]
    assert all(seconds == pytest.approx(1.0 + 0.05 * 400) for _, seconds, _ in samples)
    assert round_samples(records, 0, 400, n_sizes=3) == []


def test_the_fit_is_poor_where_the_cost_is_not_linear_in_the_units():
    linear = fit_model(_records(0, {8: 1.4, 30: 2.5, 52: 3.6}), 0)
    assert linear.residual == pytest.approx(0, abs=1e-9) and not linear.poor
    assert linear.predict(400) == pytest.approx(1.0 + 0.05 * 400)
    # Quadratic growth: the middle median is far below the line.
    curved = fit_model(_records(1, {8: 0.064, 30: 0.9, 52: 2.7}), 1)
    assert curved.poor and curved.residual > 0.10
    assert fit_model(_records(2, {8: 1.0}), 2) is None  # one size: no line


def test_a_ranking_that_flips_between_the_proxy_sizes_is_detected():
    # Candidate 1 has a big fixed cost (a pool to start) and a small cost per
    # unit: slower at the small proxy, predicted fastest at full size.
    models = {0: fit_model(_records(0, {8: 0.8, 40: 4.0}), 0),
              1: fit_model(_records(1, {8: 3.2, 40: 3.9}), 1)}
    flips = ranking_flips(models, eligible={0, 1}, full=400)
    assert flips == [(8, 0, 1)]
    # Both sizes agree with the full-size ranking: no flip.
    models[1] = fit_model(_records(1, {8: 0.5, 40: 2.1}), 1)
    assert ranking_flips(models, eligible={0, 1}, full=400) == []
    # A candidate that may not be recommended does not count.
    assert ranking_flips(models, eligible={0}, full=400) == []


def test_proxy_sizes_fit_the_budget_and_say_what_would_be_enough():
    # The probes' line: 0.5 s fixed, 0.05 s a unit; 4 candidates, 3 rounds.
    line = {"probe_units": 8, "fixed_s": 0.5, "per_unit_s": 0.05, "full": 400,
            "n_candidates": 4, "rounds": 3}

    def planned(sizes):
        cost = [0.5 + 0.05 * u for u in sizes]
        return 4 * (cost[0] + 3 * sum(cost))

    sizes, needed = proxy_sizes(seconds_left=90.0, **line)
    assert len(sizes) == 3 and sizes[0] == 8 and sizes[0] < sizes[1] < sizes[2] <= 200
    assert planned(sizes) <= PLAN_SHARE * 90.0 < planned((8, sizes[1] + 2, sizes[2] + 4))
    # Less room: two sizes.
    sizes, _ = proxy_sizes(seconds_left=50.0, **line)
    assert len(sizes) == 2 and sizes[1] >= 16 and planned(sizes) <= PLAN_SHARE * 50.0
    # No room: None, and the budget that would do, which gives the smallest plan.
    sizes, needed = proxy_sizes(seconds_left=5.0, **line)
    assert sizes is None and needed > 5.0
    assert needed == pytest.approx(planned((8, 16)) / MIN_PLAN_SHARE)
    assert proxy_sizes(seconds_left=needed, **line)[0] == (8, 16)
    # Never more than half the units as written.
    sizes, _ = proxy_sizes(seconds_left=10_000.0, **{**line, "full": 100})
    assert sizes[-1] == 50
