"""Search strategies: which candidates run in the next round, and when to stop.

A strategy sees only timings, failures and the time spent; it never times
anything itself and does no I/O. A round runs each chosen candidate once,
in an order shuffled by the caller, so every candidate is interleaved with
the baseline (DESIGN.md). Strategies are plug-ins: :class:`RacingSearch`
(the default of the "quick" and "measure" budgets) starts every candidate
with a few repeats, drops those confidently slower than the current best,
re-times the survivors and stops once the winner is separated; it also
gives the runner a time limit beyond which a trial is cut off as far
slower than the best. :class:`ExhaustiveSearch` times every candidate the
same number of times, the reference the benchmarks compare against.
"""

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from numbers import Real

import numpy as np

from ._stats import MIN_SAMPLES, ratio_interval
from ._validation import invalid_choice
from .exceptions import InvalidParameterError, SearchStateError

#: Rounds every search runs before it drops or stops anything: the fewest
#: timed repeats any statistic is computed on (``sktune._stats.MIN_SAMPLES``).
MIN_REPEATS = MIN_SAMPLES

#: Named budgets, in the spirit of FFTW's planner levels. ``seconds`` is a
#: soft limit checked between rounds, where MIN_REPEATS rounds always run;
#: a big workload timed on proxies makes it hard (sktune._measure: no
#: trial starts once it is spent).
#: "exhaustive" is the reference: every candidate, 25 repeats, no early stop.
#: "measure" stops at 7 repeats, so even a search that never settles costs
#: about 7/25 of it plus the fixed cost of starting the worker and warming
#: every candidate up once (benchmarks/bench_recommend.py, target <= 1/3; at
#: 8 repeats a grid search whose ranking never settled cost 0.36).
#: "estimate" times nothing: it answers from wisdom or from rules.
BUDGETS = {
    "estimate": {"min_repeats": 0, "max_repeats": 0, "seconds": 0.0,
                 "strategy": None, "rank": 0},
    "quick": {"min_repeats": 3, "max_repeats": 5, "seconds": 20.0,
              "strategy": "racing", "rank": 1},
    "measure": {"min_repeats": 5, "max_repeats": 7, "seconds": 90.0,
                "strategy": "racing", "rank": 2},
    "exhaustive": {"min_repeats": 25, "max_repeats": 25, "seconds": math.inf,
                   "strategy": "exhaustive", "rank": 3},
}


#: How thoroughly a result was measured: wisdom answers a request only with
#: an entry of at least its rank ("estimate" 0 ... "exhaustive" 3).
BUDGET_RANKS = {name: settings["rank"] for name, settings in BUDGETS.items()}


def budget_rank(budget) -> int:
    """Rank of a ``profile`` budget (:data:`BUDGET_RANKS`); seconds rank as "measure"."""
    return BUDGET_RANKS.get(budget, BUDGET_RANKS["measure"]) if isinstance(budget, str) \
        else BUDGET_RANKS["measure"]


def resolve_budget(budget):
    """Turn ``budget`` (a name or seconds) into strategy settings.

    A number of seconds is a "measure" search with that time limit; it
    ranks with "measure" when deciding whether wisdom may answer.
    """
    if isinstance(budget, str):
        if budget not in BUDGETS:
            raise InvalidParameterError(invalid_choice("budget", budget, BUDGETS))
        return {"name": budget, **BUDGETS[budget]}
    if isinstance(budget, bool) or not isinstance(budget, Real) or not budget > 0:
        raise InvalidParameterError(
            "The 'budget' parameter of profile must be a str among "
            f"{sorted(BUDGETS)} or a float in the range (0, inf). Got {budget!r} instead.")
    return {"name": f"{float(budget):g} s", **BUDGETS["measure"], "seconds": float(budget)}


def make_strategy(strategy, budget_settings, *, min_effect=0.05, seed=0):
    """The strategy instance of a profiling run.

    Parameters
    ----------
    strategy : {"auto", "racing", "exhaustive"} or SearchStrategy
        "auto" takes the budget's own (racing for "quick" and "measure").
        An instance is used as given: its own settings win.
    budget_settings : dict
        From :func:`resolve_budget`.
    """
    if isinstance(strategy, SearchStrategy):
        return strategy
    if not isinstance(strategy, str) or strategy not in ("auto", *STRATEGIES):
        raise InvalidParameterError(
            "The 'strategy' parameter of profile must be a str among "
            f"{sorted(['auto', *STRATEGIES])} or a SearchStrategy instance. "
            f"Got {strategy!r} instead.")
    name = budget_settings["strategy"] if strategy == "auto" else strategy
    repeats = budget_settings["min_repeats"], budget_settings["max_repeats"]
    if name == "exhaustive":
        return ExhaustiveSearch(repeats[1], budget_settings["seconds"])
    return RacingSearch(*repeats, budget_settings["seconds"], min_effect=min_effect,
                        seed=seed)


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
        Candidates that raised, crashed or hung; never run again.
    cut_off : set of int
        Candidates whose trial ran past :meth:`SearchStrategy.time_limit`
        and was stopped; never run again.
    elapsed : float
        Seconds spent so far, warm-ups included.
    rounds : int
        Rounds completed.
    dropped : set of int
        Candidates the strategy stopped re-timing (clear losers); the
        strategy's own bookkeeping of this search.
    stop_reason : str or None
        Why the search stopped, set by the strategy when it returns None.

    Notes
    -----
    Everything that belongs to one search lives here, never on the
    strategy: a strategy is a pure policy, so one instance can serve two
    ``profile`` calls without the second seeing the first's dropped
    candidates (indices that now point at other candidates).
    """

    n_candidates: int
    timings: dict = field(default_factory=dict)
    failed: set = field(default_factory=set)
    cut_off: set = field(default_factory=set)
    elapsed: float = 0.0
    rounds: int = 0
    dropped: set = field(default_factory=set)
    stop_reason: str = None

    def check(self):
        """Raise :class:`~sktune.exceptions.SearchStateError` unless every
        timing is a finite, non-negative number of seconds.

        A runner hands the search only successful timed repeats (see
        :func:`sktune._trials.timed_record`); anything else reaching here is
        a bug, named as one before any statistic is computed on it.
        """
        for index, times in self.timings.items():
            for repeat, seconds in enumerate(times):
                if (isinstance(seconds, bool) or not isinstance(seconds, Real)
                        or not math.isfinite(seconds) or seconds < 0):
                    raise SearchStateError(
                        f"SearchState.timings[{index}][{repeat}] is {seconds!r}: a "
                        "search strategy sees only the wall times (finite seconds) of "
                        "successful timed repeats. A failed run was passed on as a "
                        "timing; this is a bug in sktune or in a runner plug-in.")

    def timed(self, exclude=()):
        """``{index: timings}`` of every candidate with timings that has not
        failed or been cut off, nor is in ``exclude``: the only timings any
        statistic of a strategy may use. A candidate that failed after some
        successful repeats is out at once: its earlier timings count for
        no interval and no cut-off."""
        self.check()
        return {i: times for i, times in self.timings.items()
                if times and i not in self.failed and i not in self.cut_off
                and i not in exclude}


class SearchStrategy(ABC):
    """Decides the candidates of the next round, or that the search is over.

    A strategy is a policy: it reads a :class:`SearchState` and keeps
    nothing of one search on itself (what it drops and why it stops go in
    the state), so one instance may serve any number of searches.

    Attributes
    ----------
    name : str
        How results and reports call it (``"racing"``).
    seconds : float
        Its time budget; ``math.inf`` for none.
    """

    name = None
    seconds = math.inf

    @abstractmethod
    def next_round(self, state):
        """Return the candidate indices to run next (any order), or None to stop.

        Before returning None, set ``state.stop_reason`` to say why.
        """

    def time_limit(self, state, index):
        """Seconds after which a timed repeat of ``index`` is cut off, or None.

        Only an isolated runner can stop a trial; in process the limit is
        ignored. The default never cuts a trial off.
        """
        return None

    def _active(self, state):
        return [i for i in range(state.n_candidates) if i not in state.failed
                and i not in state.cut_off and i not in state.dropped]

    def _over_budget(self, state):
        per_round = state.elapsed / max(state.rounds, 1)
        if state.elapsed + per_round > self.seconds:
            state.stop_reason = f"time budget of {self.seconds:g} s spent"
            return True
        return False


class ExhaustiveSearch(SearchStrategy):
    """Every candidate, the same number of repeats, nothing dropped or cut off.

    The reference the racing search is benchmarked against
    (``benchmarks/bench_recommend.py``).

    Parameters
    ----------
    repeats : int, default=25
        Timed repeats per candidate (at least 3).
    seconds : float, default=inf
        Time budget; after 3 rounds, no new round starts if it would overrun.
    """

    name = "exhaustive"

    def __init__(self, repeats=25, seconds=math.inf):
        self.repeats = max(MIN_REPEATS, repeats)
        self.seconds = seconds

    def next_round(self, state):
        state.check()
        if state.rounds >= self.repeats:
            state.stop_reason = f"reached {self.repeats} repeats"
            return None
        if state.rounds >= MIN_REPEATS and self._over_budget(state):
            return None
        return self._active(state)


#: A timed repeat taking CUTOFF_FACTOR times the best median so far is "far
#: slower" and cut off: nothing it could do later would make it the
#: recommendation. The factor is far above the run-to-run noise of one
#: repeat (up to ~30% on a busy 2-core machine). CUTOFF_MIN_S keeps the
#: cut-off above the cost of replacing the killed worker (a fresh
#: interpreter importing scikit-learn took about 2 s on the CI machine).
CUTOFF_FACTOR = 4.0
CUTOFF_MIN_S = 3.0


class RacingSearch(SearchStrategy):
    """Race the candidates: drop clear losers early, re-time the survivors.

    Every candidate gets ``MIN_REPEATS`` interleaved repeats. From then on,
    after each round, a candidate is dropped when it cannot become the
    recommendation: its time is confidently above the current best's by
    more than ``min_effect`` (the lower bound of the ratio's confidence
    interval), or it confidently cannot beat the pipeline as written by
    ``min_effect`` (the upper bound of its speedup is below ``1 +
    min_effect``; the recommendation needs that gain). Once every rival of
    the baseline is dropped the search stops: "nothing helps" costs
    ``MIN_REPEATS`` rounds. The survivors are timed again until the
    ranking is settled (the best separated from each rival, or within
    noise of it), ``max_repeats`` is reached or the budget is spent, but
    never before ``min_repeats``. A timed repeat running past
    :meth:`time_limit` is cut off by an isolated runner.

    Parameters
    ----------
    min_repeats, max_repeats : int
        Bounds on timed repeats per candidate.
    seconds : float
        Time budget; no new round starts if it would likely overrun.
    min_effect : float, default=0.05
        Relative difference below which two candidates count as equally fast.
    seed : int, default=0
        Seed of the bootstrap intervals.
    cutoff_factor : float, default=CUTOFF_FACTOR
        A trial slower than this multiple of the best's median is cut off;
        ``math.inf`` never cuts.
    cutoff_min_s : float, default=CUTOFF_MIN_S
        ... but only once it is this many seconds slower than the best.
    """

    name = "racing"

    def __init__(self, min_repeats=5, max_repeats=15, seconds=math.inf, *,
                 min_effect=0.05, seed=0, cutoff_factor=CUTOFF_FACTOR,
                 cutoff_min_s=CUTOFF_MIN_S):
        self.min_repeats = max(MIN_REPEATS, min_repeats)
        self.max_repeats = max(self.min_repeats, max_repeats)
        self.seconds = seconds
        self.min_effect = min_effect
        self.seed = seed
        self.cutoff_factor = cutoff_factor
        self.cutoff_min_s = cutoff_min_s

    def _fastest(self, state, active):
        timed = state.timed()
        return min((i for i in active if i in timed), key=lambda i: np.median(timed[i]))

    def _slower(self, state, i, best):
        """Interval of candidate i's time over the best's (above 1 is slower)."""
        return ratio_interval(state.timings[i], state.timings[best], seed=self.seed)

    def _cannot_win(self, state, i):
        """Whether candidate i is confidently less than ``min_effect`` faster
        than the baseline: it can never be recommended.

        Paired by round where both were timed in every round so far (each
        round appends one timing per candidate): a drift common to a round
        cancels, so a candidate running exactly as the baseline is ruled
        out sooner.
        """
        base, times = state.timings[0], state.timings[i]
        rounds = range(len(base)) if len(base) == len(times) == state.rounds else ()
        speedup = ratio_interval(base, times, rounds_numerator=rounds,
                                 rounds_denominator=rounds, seed=self.seed)
        return speedup.high < 1 + self.min_effect

    def _told_apart(self, ratio):
        """Whether a rival is known to be slower than the best, or known to be
        within ``min_effect`` of it: either way, more repeats would not change
        the ranking."""
        return ratio.low > 1 or ratio.high < 1 + self.min_effect

    def next_round(self, state):
        state.check()
        active = self._active(state)
        if state.rounds >= self.max_repeats:
            state.stop_reason = f"reached {self.max_repeats} repeats"
            return None
        if state.rounds < MIN_REPEATS:
            return active
        if self._over_budget(state):
            return None
        if not state.timings[0]:
            return active  # the baseline has no timed repeat yet
        for i in active:
            if i != 0 and state.timings[i] and self._cannot_win(state, i):
                state.dropped.add(i)
        active = self._active(state)
        if len(active) == 1:
            state.stop_reason = (
                f"no candidate left can beat the pipeline as written by "
                f"{self.min_effect:.0%}" if state.dropped else
                "no candidate other than the pipeline as written could be timed")
            return None
        best = self._fastest(state, active)
        settled = state.rounds >= self.min_repeats
        for i in active:
            if i == best:
                continue
            if not state.timings[i]:  # every repeat so far restarted the pool
                settled = False
                continue
            ratio = self._slower(state, i, best)
            if i != 0 and ratio.low > 1 + self.min_effect:
                state.dropped.add(i)  # confidently slower: stop re-timing it
            elif not self._told_apart(ratio):
                settled = False
        if settled:
            state.stop_reason = "the ranking is settled"
            return None
        return self._active(state)

    def time_limit(self, state, index):
        """``cutoff_factor`` times the best median so far, from the first repeat.

        Racing drops a clear loser only after 3 rounds; the cut-off saves
        the time of those rounds when one of them would take far longer.
        The baseline is never cut off: every speedup is quoted against it.
        """
        if index == 0 or not math.isfinite(self.cutoff_factor):
            return None
        medians = [float(np.median(t)) for t in state.timed().values()]
        if not medians:
            return None
        best = min(medians)
        return max(self.cutoff_factor * best, best + self.cutoff_min_s)


#: Strategies by name, for ``profile(strategy=...)``.
STRATEGIES = {cls.name: cls for cls in (RacingSearch, ExhaustiveSearch)}
