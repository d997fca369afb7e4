"""Search strategies: which candidates run in the next round, and when to stop.

A strategy sees only timings, failures and the time spent; it never times
anything itself and does no I/O. A round runs each chosen candidate once,
in an order shuffled by the caller, so every candidate is interleaved with
the baseline (DESIGN.md). The default :class:`AdaptiveSearch` repeats until
the ranking is settled, the repeat cap is reached or the budget is spent,
and stops re-measuring candidates that are already confidently slower.
"""

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from numbers import Real

import numpy as np

from ._stats import ratio_interval
from ._validation import invalid_choice
from .exceptions import InvalidParameterError

#: No statistic is computed on fewer timed repeats than this.
MIN_REPEATS = 3

#: Named budgets, in the spirit of FFTW's planner levels. ``seconds`` is a
#: soft limit checked between rounds; MIN_REPEATS rounds always run.
#: "exhaustive" is the reference: every candidate, 25 repeats, no early stop.
#: "measure" stops at 8 repeats, so even a search that never settles costs
#: at most 8/25 of it (benchmarks/bench_recommend.py, target <= 1/3).
BUDGETS = {
    "quick": {"min_repeats": 3, "max_repeats": 5, "seconds": 20.0, "adaptive": True},
    "measure": {"min_repeats": 5, "max_repeats": 8, "seconds": 90.0, "adaptive": True},
    "exhaustive": {"min_repeats": 25, "max_repeats": 25, "seconds": math.inf,
                   "adaptive": False},
}


def resolve_budget(budget):
    """Turn ``budget`` (a name or seconds) into strategy settings."""
    if isinstance(budget, str):
        if budget not in BUDGETS:
            raise InvalidParameterError(invalid_choice("budget", budget, BUDGETS))
        return {"name": budget, **BUDGETS[budget]}
    if isinstance(budget, bool) or not isinstance(budget, Real) or not budget > 0:
        raise InvalidParameterError(
            "The 'budget' parameter of profile must be a str among "
            f"{sorted(BUDGETS)} or a float in the range (0, inf). Got {budget!r} instead.")
    return {"name": f"{float(budget):g} s", **BUDGETS["measure"], "seconds": float(budget)}


@dataclass
class SearchState:
    """What a strategy may look at.

    Attributes
    ----------
    n_candidates : int
        Candidate 0 is the as-written baseline.
    timings : dict of int to list of float
        Timed wall-clock seconds per candidate.
    failed : set of int
        Candidates that raised; never run again.
    elapsed : float
        Seconds spent so far, warm-ups included.
    rounds : int
        Rounds completed.
    """

    n_candidates: int
    timings: dict = field(default_factory=dict)
    failed: set = field(default_factory=set)
    elapsed: float = 0.0
    rounds: int = 0


class SearchStrategy(ABC):
    """Decides the candidates of the next round, or that the search is over."""

    #: Why the last search stopped, for the result.
    stop_reason = None

    @abstractmethod
    def next_round(self, state):
        """Return the candidate indices to run next (any order), or None to stop."""


class AdaptiveSearch(SearchStrategy):
    """Repeat until settled, capped, or out of budget; drop clear losers.

    Parameters
    ----------
    min_repeats, max_repeats : int
        Bounds on timed repeats per candidate.
    seconds : float
        Time budget; no new round starts if it would likely overrun.
    min_effect : float, default=0.05
        Relative difference below which two candidates count as equally fast.
    adaptive : bool, default=True
        False runs every candidate ``max_repeats`` times (exhaustive).
    seed : int, default=0
        Seed of the bootstrap intervals.
    """

    def __init__(self, min_repeats=5, max_repeats=15, seconds=math.inf, *,
                 min_effect=0.05, adaptive=True, seed=0):
        self.min_repeats = max(MIN_REPEATS, min_repeats)
        self.max_repeats = max(self.min_repeats, max_repeats)
        self.seconds = seconds
        self.min_effect = min_effect
        self.adaptive = adaptive
        self.seed = seed
        self.dropped = set()

    def _active(self, state):
        return [i for i in range(state.n_candidates)
                if i not in state.failed and i not in self.dropped]

    def _fastest(self, state, active):
        return min((i for i in active if state.timings[i]),
                   key=lambda i: np.median(state.timings[i]))

    def _slower(self, state, i, best):
        """Interval of candidate i's time over the best's (above 1 is slower)."""
        return ratio_interval(state.timings[i], state.timings[best], seed=self.seed)

    def next_round(self, state):
        active = self._active(state)
        if state.rounds >= self.max_repeats:
            self.stop_reason = f"reached {self.max_repeats} repeats"
            return None
        if state.rounds < self.min_repeats or not self.adaptive:
            if state.rounds >= MIN_REPEATS and self._over_budget(state):
                return None
            return active
        if self._over_budget(state):
            return None
        if len(active) == 1:
            self.stop_reason = "there is nothing to compare with the baseline"
            return None
        if not state.timings[0]:
            return active  # the baseline has no timed repeat yet
        best = self._fastest(state, active)
        settled = True
        for i in active:
            if i == best:
                continue
            if not state.timings[i]:  # every repeat so far restarted the pool
                settled = False
                continue
            ratio = self._slower(state, i, best)
            if i != 0 and ratio.low > 1 + self.min_effect:
                self.dropped.add(i)  # confidently slower: stop re-timing it
            elif not (ratio.low > 1 or ratio.high < 1 + self.min_effect):
                settled = False
        if settled:
            self.stop_reason = "the ranking is settled"
            return None
        return self._active(state)

    def _over_budget(self, state):
        per_round = state.elapsed / max(state.rounds, 1)
        if state.elapsed + per_round > self.seconds:
            self.stop_reason = f"time budget of {self.seconds:g} s spent"
            return True
        return False
