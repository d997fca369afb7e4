"""The cost model: a fixed cost plus a cost per unit, recovered, checked and planned."""

import pytest

from sktune._costmodel import (
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
    # 8 units took 0.4 s (0.05 s a unit), 4 candidates, 3 rounds, 90 s left.
    sizes, needed = proxy_sizes(probe_units=8, probe_s=0.4, full=400, n_candidates=4,
                                seconds_left=90.0, rounds=3)
    assert len(sizes) == 3 and sizes[0] == 8 and sizes[0] < sizes[1] < sizes[2] <= 200
    per_unit = 0.05
    planned = 4 * (per_unit * sizes[0] + 3 * per_unit * sum(sizes))
    assert planned <= PLAN_SHARE * 90.0
    # Less room: two sizes.
    sizes, _ = proxy_sizes(probe_units=8, probe_s=0.4, full=400, n_candidates=4,
                           seconds_left=25.0, rounds=3)
    assert len(sizes) == 2 and sizes[1] >= 16
    # No room: None, and the budget that would do.
    sizes, needed = proxy_sizes(probe_units=8, probe_s=0.4, full=400, n_candidates=4,
                                seconds_left=5.0, rounds=3)
    assert sizes is None and needed > 5.0
    again, _ = proxy_sizes(probe_units=8, probe_s=0.4, full=400, n_candidates=4,
                           seconds_left=needed, rounds=3)
    assert again is not None
    # Never more than half the units as written.
    sizes, _ = proxy_sizes(probe_units=8, probe_s=0.004, full=100, n_candidates=2,
                           seconds_left=1000.0, rounds=3)
    assert sizes[-1] == 50
