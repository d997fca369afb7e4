"""Search strategies: racing drops losers and settles, exhaustive never stops early.

Pure logic over given timings: no estimator runs and no clock is read.
"""

import math

import numpy as np
import pytest

from sktune.exceptions import InvalidParameterError, SearchStateError
from sktune.search import (
    CUTOFF_MIN_S,
    ExhaustiveSearch,
    RacingSearch,
    SearchState,
    SearchStrategy,
    make_strategy,
    resolve_budget,
)


def _noisy(median, n=9, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(median * (1 + noise * rng.standard_normal(n)))


def _state(timings, rounds, elapsed=0.0, failed=(), cut_off=()):
    return SearchState(n_candidates=len(timings), timings=timings, failed=set(failed),
                       cut_off=set(cut_off), elapsed=elapsed, rounds=rounds)


def test_racing_search_runs_min_repeats_then_settles():
    # Check that the strategy asks for every candidate until min_repeats, then
    # stops once the ranking is clear.
    strategy = RacingSearch(min_repeats=3, max_repeats=10)
    timings = {0: [], 1: [], 2: []}
    assert strategy.next_round(_state(timings, 0)) == [0, 1, 2]
    clear = {0: list(_noisy(1.0, 3)), 1: list(_noisy(0.5, 3, seed=1)),
             2: list(_noisy(2.0, 3, seed=2))}
    state = _state(clear, 3)
    assert strategy.next_round(state) is None
    assert state.stop_reason == "the ranking is settled"
    assert 2 in state.dropped


def test_racing_search_continues_while_uncertain():
    # Check that overlapping noisy candidates get more rounds, never past the cap.
    strategy = RacingSearch(min_repeats=3, max_repeats=6)
    noisy = {0: list(_noisy(1.0, 3, noise=0.3)), 1: list(_noisy(0.9, 3, 0.3, seed=1))}
    assert strategy.next_round(_state(noisy, 3)) == [0, 1]
    state = _state(noisy, 6)
    assert strategy.next_round(state) is None
    assert "6 repeats" in state.stop_reason


def test_racing_search_respects_budget_and_failures():
    # Check that a spent budget stops the search after the minimum rounds and
    # that failed candidates are not asked for again.
    strategy = RacingSearch(min_repeats=5, max_repeats=10, seconds=10.0)
    timings = {0: [1.0] * 3, 1: [1.0] * 3, 2: []}
    assert strategy.next_round(_state(timings, 2, elapsed=50.0, failed={2})) == [0, 1]
    state = _state(timings, 3, elapsed=50.0)
    assert strategy.next_round(state) is None
    assert state.stop_reason == "time budget of 10 s spent"


def test_exhaustive_budget_never_stops_early():
    # Check that the exhaustive budget runs every candidate max_repeats times.
    settings = resolve_budget("exhaustive")
    strategy = make_strategy("auto", settings)
    assert isinstance(strategy, ExhaustiveSearch)
    clear = {0: [1.0] * 5, 1: [0.5] * 5}
    assert strategy.next_round(_state(clear, 5)) == [0, 1]
    assert strategy.next_round(_state(clear, settings["max_repeats"])) is None


@pytest.mark.parametrize("budget", ["fast", 0, -1.0, True, None])
def test_resolve_budget_rejects_bad_values(budget):
    # Check that a bad budget is refused with the accepted values named.
    with pytest.raises(InvalidParameterError, match="budget"):
        resolve_budget(budget)


def test_resolve_budget_seconds():
    # Check that a number of seconds becomes the time budget.
    assert resolve_budget(12)["seconds"] == 12.0
    assert math.isinf(resolve_budget("exhaustive")["seconds"])


def test_racing_search_skips_candidates_without_timings():
    # Check that a candidate whose every repeat restarted the pool (no timings)
    # neither crashes the search nor counts as settled.
    strategy = RacingSearch(min_repeats=3, max_repeats=10)
    timings = {0: [1.0] * 3, 1: [0.5] * 3, 2: []}
    assert strategy.next_round(_state(timings, 3)) == [0, 1, 2]


def test_resolve_budget_accepts_numpy_numbers():
    # Check that a numpy number of seconds is a valid budget.
    assert resolve_budget(np.int64(30))["seconds"] == 30.0



def test_racing_drops_a_clear_loser_after_three_rounds():
    # Check that racing stops re-timing a confidently slower candidate as soon
    # as every candidate has 3 repeats, before min_repeats is reached.
    strategy = RacingSearch(min_repeats=5, max_repeats=8)
    timings = {0: list(_noisy(1.0, 3)), 1: list(_noisy(0.5, 3, seed=1)),
               2: list(_noisy(3.0, 3, seed=2))}
    state = _state(timings, 3)
    assert strategy.next_round(state) == [0, 1]
    assert state.dropped == {2}


def test_racing_never_drops_the_baseline():
    # Check that a baseline confidently slower than the best is timed again
    # in every round (every speedup is quoted against it), while a rival
    # equally slow is dropped.
    strategy = RacingSearch(min_repeats=5, max_repeats=8)
    timings = {0: list(_noisy(3.0, 3)), 1: list(_noisy(0.5, 3, seed=1)),
               2: list(_noisy(3.0, 3, seed=2))}
    state = _state(timings, 3)
    order = strategy.next_round(state)
    assert state.dropped == {2}
    assert order == [0, 1]


def test_one_racing_strategy_serves_two_searches():
    # Check the latent bug of a strategy instance keeping run state: the
    # candidates it dropped in a first search are not dropped in the second,
    # where the same indices are other candidates.
    strategy = RacingSearch(min_repeats=5, max_repeats=8)
    first = _state({0: list(_noisy(1.0, 3)), 1: list(_noisy(0.5, 3, seed=1)),
                    2: list(_noisy(3.0, 3, seed=2))}, 3)
    strategy.next_round(first)
    assert first.dropped == {2}
    second = _state({0: list(_noisy(1.0, 3)), 1: list(_noisy(3.0, 3, seed=1)),
                     2: list(_noisy(0.5, 3, seed=2))}, 3)
    assert strategy.next_round(second) == [0, 2]
    assert second.dropped == {1} and first.dropped == {2}


def test_exhaustive_runs_every_candidate_every_round():
    # Check that exhaustive ignores clear losers and stops only at its repeats,
    # or once the budget is spent after 3 rounds.
    strategy = ExhaustiveSearch(repeats=4, seconds=100.0)
    timings = {0: [1.0] * 3, 1: [5.0] * 3}
    assert strategy.next_round(_state(timings, 3, elapsed=10.0)) == [0, 1]
    assert strategy.next_round(_state(timings, 4)) is None
    assert strategy.next_round(_state(timings, 3, elapsed=90.0)) is None
    assert strategy.time_limit(_state(timings, 3), 1) is None


def test_cut_off_and_failed_candidates_are_not_run_again():
    timings = {0: [1.0] * 3, 1: [1.0] * 3, 2: [], 3: []}
    for strategy in (RacingSearch(3, 8), ExhaustiveSearch(8)):
        order = strategy.next_round(_state(timings, 1, failed={2}, cut_off={3}))
        assert order == [0, 1]


def test_time_limit_is_far_above_the_best_and_never_for_the_baseline():
    # Check the cut-off: none before any timing and never for the baseline;
    # then cutoff_factor x the best median, at least cutoff_min_s above it.
    strategy = RacingSearch(3, 8, cutoff_factor=4.0)
    assert strategy.time_limit(_state({0: [], 1: []}, 0), 1) is None
    timings = {0: [2.0], 1: [], 2: [1.0, 1.2, 0.8]}
    assert strategy.time_limit(_state(timings, 1), 0) is None
    assert strategy.time_limit(_state(timings, 1), 1) == pytest.approx(1.0 + CUTOFF_MIN_S)
    slow = {0: [10.0], 1: []}
    assert strategy.time_limit(_state(slow, 1), 1) == pytest.approx(40.0)
    assert RacingSearch(3, 8, cutoff_factor=math.inf).time_limit(_state(slow, 1), 1) is None


def test_make_strategy_follows_the_budget_and_takes_plug_ins():
    assert isinstance(make_strategy("auto", resolve_budget("quick")), RacingSearch)
    assert isinstance(make_strategy("auto", resolve_budget("exhaustive")), ExhaustiveSearch)
    assert isinstance(make_strategy("exhaustive", resolve_budget("quick")), ExhaustiveSearch)
    racing = make_strategy("racing", resolve_budget("measure"), min_effect=0.1, seed=3)
    assert (racing.min_repeats, racing.max_repeats, racing.seconds) == (5, 7, 90.0)
    assert racing.min_effect == 0.1 and racing.seed == 3

    class EveryOther(SearchStrategy):
        def next_round(self, state):
            return None if state.rounds >= 3 else list(range(state.n_candidates))[::2]

    plug_in = EveryOther()
    assert make_strategy(plug_in, resolve_budget("quick")) is plug_in
    for bad in ("greedy", None, 3):
        with pytest.raises(InvalidParameterError, match="'strategy' parameter"):
            make_strategy(bad, resolve_budget("quick"))


def test_estimate_budget_has_the_lowest_rank():
    ranks = {name: resolve_budget(name)["rank"] for name in
             ("estimate", "quick", "measure", "exhaustive")}
    assert list(ranks.values()) == sorted(ranks.values()) == [0, 1, 2, 3]
    assert resolve_budget(30)["rank"] == ranks["measure"]


def test_time_limit_on_a_failed_run_given_as_timing_names_the_state():
    # Check the regression of issue 20: a failed run (None) among the timings
    # raises an error naming the impossible state, not NumPy's TypeError.
    state = SearchState(3, timings={0: [0.1, 0.1], 1: [0.2, None], 2: [0.1]})
    with pytest.raises(SearchStateError, match=r"timings\[1\]\[1\] is None"):
        RacingSearch(3, 5).time_limit(state, 2)
    for strategy in (RacingSearch(3, 5), ExhaustiveSearch(5)):
        with pytest.raises(SearchStateError, match="successful timed repeats"):
            strategy.next_round(_state({0: [0.1], 1: [float("nan")]}, 1))


def test_time_limit_and_fastest_ignore_a_failed_candidates_timings():
    # Check that a candidate that failed after fast repeats counts for neither
    # the cut-off nor the best: its timings are out as soon as it failed.
    strategy = RacingSearch(3, 8, cutoff_factor=4.0, cutoff_min_s=0.0)
    timings = {0: [2.0, 2.1, 1.9], 1: [0.1, 0.1], 2: [1.0, 1.0, 1.0]}
    assert strategy.time_limit(_state(timings, 2), 2) == pytest.approx(0.4)
    assert strategy.time_limit(_state(timings, 2, failed={1}), 2) == pytest.approx(4.0)
    assert strategy.time_limit(_state(timings, 2, cut_off={1}), 2) == pytest.approx(4.0)
    assert strategy._fastest(_state(timings, 3, failed={1}), [0, 2]) == 2
