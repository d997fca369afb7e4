"""The measuring part of :func:`sktune.profile`: probe, plan, race, pack.

Given a validated, seeded workload and its candidates, this module starts a
runner (a worker process by default, or this process), runs the as-written
configuration once as a probe (which also sets the time limit of every
later run), lets the search strategy schedule shuffled, interleaved rounds,
and returns the fields of a :class:`~sktune.ProfileResult`. A Ctrl-C ends
the search early: what was measured is kept and returned, marked as
interrupted, and the worker and everything it started are stopped.

A workload with units of work (:mod:`sktune._proxies`) is probed on its
smallest proxy first. When timing every candidate at full size would not
fit the budget, each round times every candidate on two or three proxy
sizes instead, and the line through one round's times
(:mod:`sktune._costmodel`) gives that round's predicted full-size time:
the strategy, the statistics and the reports see those predictions as
they see timings, and the result says they were extrapolated. The budget
in seconds is then hard: no trial starts once it is spent.
"""

import contextlib
import logging
import math
import time
import warnings

import numpy as np

from . import _costmodel
from ._engines import backend_engine, engines_of
from ._trials import close_all
from ._units import seconds as format_seconds
from .exceptions import InvalidParameterError, ProfilerError, SktuneWarning, WorkloadError
from .machine import Machine
from .recommendation import candidate_stats
from .results import ProfileResult
from .search import BUDGETS, MIN_REPEATS, SearchState
from .workload import compare_outputs

logger = logging.getLogger("sktune")

#: The clock of the time budget; tests replace it with a fake one.
_now = time.perf_counter

#: timeout="auto": every run after the probe may take this many times the
#: probe (the first, cold, as-written run), and never less than
#: TIMEOUT_MIN_S, which covers a cold loky pool importing scikit-learn in
#: its workers (2.6 s on the 2-core CI machine, PITFALLS.md 2.4) many times.
TIMEOUT_FACTOR = 10.0
TIMEOUT_MIN_S = 30.0

#: Other processes using more than this share of the CPUs make timings noisy.
BUSY_SHARE = 0.25
#: pyperf warns when the CPU frequency changed during a run; sktune when the
#: reported current frequency moved by more than this share.
FREQUENCY_CHANGE = 0.10
#: The hypervisor's steal time above this share of the run's CPU time
#: (elapsed seconds times the usable cores) makes timings noisy.
STEAL_SHARE = 0.05

#: A named budget profiling on proxies spends at most this many times the
#: estimated as-written time (what the benchmarks hold it to: a profile
#: costs at most 3 fits of a big workload), and never more than its seconds.
PROXY_BUDGET_FITS = 2.8
#: Of a budget timing proxies, this many estimated as-written runs are kept
#: for confirm="auto" (one full-size run of the baseline and one of a pick
#: at least 1.67x faster), where the proxies still fit in the rest.
CONFIRM_RESERVE_FITS = 1.6
#: A workload estimated to take longer than this (seconds) as written is
#: timed on proxies under a named budget even where full size would fit:
#: its profile is then bounded in as-written runs, not only in seconds.
BIG_WORKLOAD_S = 10.0


def auto_timeout(probe_s):
    """The time limit of each run after a probe that took ``probe_s`` seconds."""
    return max(TIMEOUT_MIN_S, TIMEOUT_FACTOR * probe_s)


def environment_notes(before, after, usable, search=None):
    """The facts of the machine, before and after profiling, that make its
    timings less trustworthy (pyperf's checks): other processes busy, a
    cgroup quota throttling, the CPU frequency changing, the hypervisor
    stealing CPU time, the worker process restarted during the search."""
    notes = []
    search = search or {}
    busy = before.get("busy_share") or 0.0
    if busy > BUSY_SHARE:
        notes.append(f"Other processes kept {busy:.0%} of the CPUs busy when profiling "
                     f"started (load average {(before.get('load_avg') or [0])[0]:.1f} on "
                     f"{usable} cores): timings may be noisy.")
    t0, t1 = before.get("throttle"), after.get("throttle")
    if t0 and t1 and t1["nr_throttled"] > t0["nr_throttled"]:
        notes.append(f"The cgroup CPU quota throttled this process "
                     f"{t1['nr_throttled'] - t0['nr_throttled']} times during profiling: "
                     "timings are noisy.")
    f0, f1 = before.get("cpu_freq_mhz"), after.get("cpu_freq_mhz")
    if f0 and f1 and abs(f1 - f0) > FREQUENCY_CHANGE * f0:
        notes.append(f"The CPU frequency changed during profiling ({f0:.0f} MHz before, "
                     f"{f1:.0f} MHz after): timings taken at different speeds are noisy.")
    s0, s1, elapsed = before.get("cpu_steal_s"), after.get("cpu_steal_s"), \
        search.get("elapsed_s")
    if s0 is not None and s1 is not None and elapsed and \
            s1 - s0 > STEAL_SHARE * elapsed * usable:
        notes.append(f"The hypervisor took {s1 - s0:.1f} s of CPU time from this virtual "
                     f"machine during profiling (steal time, "
                     f"{(s1 - s0) / (elapsed * usable):.0%} of it): timings are noisy.")
    if search.get("worker_restarts"):
        n = search["worker_restarts"]
        notes.append(f"The worker process was restarted {n} time{'s' if n > 1 else ''} "
                     "during profiling (a crash, a time limit or a cut-off): the runs "
                     "after a restart started in a fresh process, with imports, pools "
                     "and caches to warm again.")
    return notes


@contextlib.contextmanager
def closing_profilers(profilers):
    """Close every profiler at the end, whatever happened."""
    try:
        yield
    except BaseException:
        # What is propagating (a Ctrl-C, a profiler's own error) matters
        # more than a failure to close.
        with contextlib.suppress(ProfilerError):
            close_all(profilers)
        raise
    close_all(profilers)


def engine_notes(records, candidates, extrapolation=None):
    """What each distributed engine cost: starting it (from the records of the
    trials that started it, outside every timing), and its median time per
    call next to the fastest loky candidate's: the engine's overhead."""
    notes = [f"{what} took {format_seconds(seconds)}, before the first trial that needed it, "
             "outside every timing." for record in records
             for what, seconds in record.get("engine_start") or ()]
    medians = {s.index: s.median for s in candidate_stats(candidates, records, {},
                                                                extrapolation)
               if s.wall}
    loky = [i for i in medians if candidates[i].backend == "loky"
            and not engines_of(candidates[i]) and candidates[i].compiled_steps is None]
    if not loky:
        return notes
    reference = min(loky, key=medians.get)
    for index in sorted(medians):
        config = candidates[index]
        if backend_engine(config.backend) is not None:
            extra = medians[index] - medians[reference]
            notes.append(
                f"Engine overhead: {config.describe()} took {format_seconds(medians[index])} per "
                f"call, {format_seconds(abs(extra))} {'more' if extra >= 0 else 'less'} than "
                f"{candidates[reference].describe()} ({format_seconds(medians[reference])}).")
    return notes


def _refresh(state, runner):
    # A failure or a cut-off is known to the strategy at once, not one
    # round later: the next time limit of this round must not use the
    # earlier timings of a candidate that just failed.
    state.failed = set(runner.failed)
    state.cut_off = set(runner.cut_off)


def _race(runner, strategy, candidates, state, bar, rng, started, name, *,
          sizes=None, full=None, hard_s=None, kept_for_confirm=False):
    """Rounds until the strategy stops or ``hard_s`` seconds are spent.

    ``sizes`` (proxy units) times every candidate of a round at each size,
    the (candidate, size) pairs shuffled together, and gives the strategy
    one predicted full-size time per candidate and round. The as-written
    run failing ends the search.
    """
    while True:
        state.elapsed = _now() - started
        _refresh(state, runner)
        order = strategy.next_round(state)
        if order is None:
            return
        visits = [(index, units) for index in order for units in (sizes or (None,))]
        rng.shuffle(visits)
        times = {}
        for index, units in visits:
            if hard_s is not None and _now() - started >= hard_s:
                state.stop_reason = (
                    f"time budget of {hard_s:g} s spent" if not kept_for_confirm else
                    f"the proxies' {hard_s:.1f} s were spent, the rest kept for the "
                    "check at full size")
                return
            bar.update(str(candidates[index]) + (f" ({units} units)" if units else ""),
                       state.rounds, _now() - started)
            record = runner.visit(
                index, state.rounds, units=units,
                # Proxies are not cut off: a limit set on full-size times
                # would stop them wrongly; the runner's timeout still holds.
                limit=None if units else strategy.time_limit(state, index),
                # Outputs are compared at one size: the smallest.
                keep_output=units is None or units == sizes[0])
            _refresh(state, runner)
            if record is None:  # runners return successful timed repeats only
                continue
            if units is None:
                state.timings[index].append(record["wall_s"])
            else:
                times.setdefault(index, {})[units] = record["wall_s"]
        for index, by_size in times.items():
            if len(by_size) == len(sizes) and index not in runner.failed:
                state.timings[index].append(
                    _costmodel.predict(list(by_size), list(by_size.values()), full))
        if 0 in runner.failed:
            raise WorkloadError(
                f"{name} as written failed during profiling: "
                f"{runner.failed[0]}") from runner.exceptions.get(0)
        state.rounds += 1
        logger.info("round %d done, %.1f s spent", state.rounds, _now() - started)


def _probe(runner, units, estimator_name):
    """The as-written configuration's first run (``units``: its smallest proxy)."""
    record = runner.warm_up(0, units=units)
    if record["error"]:
        raise WorkloadError(
            f"{estimator_name} failed on the data as written, before any "
            f"timing: {record['error']}") from runner.exceptions.get(0)
    return record


def _extrapolation(site, sizes, probe, seconds, race_s, **extra):
    """The ``extrapolation`` of a result timed on ``sizes`` (see ProfileResult)."""
    return {"site": site.to_dict(), "sizes": list(sizes), "probe": probe,
            "budget_s": seconds, "race_s": race_s, "confirm": None, **extra}


def _plan(runner, site, n_candidates, budget, started, estimator_name, confirm="auto"):
    """Probe on the two smallest proxies and decide: full size, or which proxies.

    Returns ``(sizes or None, extrapolation dict or None, seconds of the
    hard budget of the race or None)``. The race on proxies ends
    :data:`CONFIRM_RESERVE_FITS` estimated as-written runs before the
    budget where the proxies fit in the rest (unless ``confirm`` is
    False), so that the check at full size fits too. A budget in seconds
    too small for the smallest proxies raises, before any candidate is
    timed; a named budget is then raised to the least that times them,
    where that is cheaper than full size, else times at full size, as a
    workload without units is.
    """
    small = site.minimum
    cold = _probe(runner, small, estimator_name)["wall_s"]  # starts the worker
    warm_started = _now()
    warm = _probe(runner, small, estimator_name)["wall_s"]
    double = _probe(runner, 2 * small, estimator_name)["wall_s"]
    # What a trial costs beyond its timed call (the worker's messages, the
    # profilers, gc): part of every planned trial's cost, not of the model.
    overhead = max(0.0, (_now() - warm_started - warm - double) / 2)
    fixed, per_unit = _costmodel.fit_line([small, 2 * small], [warm, double])
    if per_unit <= 0:  # noise on tiny proxies: the proportional upper bound
        fixed, per_unit = 0.0, double / (2 * small)
    estimated_full = max(fixed, 0.0) + per_unit * site.full
    probe = {"units": small, "cold_s": cold, "warm_s": warm, "double_s": double,
             "overhead_s": overhead, "estimated_full_s": estimated_full}
    trial_fixed = max(fixed, 0.0) + overhead

    def plan(seconds_left):
        return _costmodel.proxy_sizes(
            probe_units=small, fixed_s=trial_fixed, per_unit_s=per_unit, full=site.full,
            n_candidates=n_candidates, seconds_left=seconds_left, rounds=MIN_REPEATS)

    spent = _now() - started
    named = budget["name"] in BUDGETS
    # "exhaustive" (no time limit) is the full-size reference: never proxies.
    big = named and math.isfinite(budget["seconds"]) and estimated_full > BIG_WORKLOAD_S
    if not big and spent + n_candidates * (1 + MIN_REPEATS) * estimated_full \
            <= budget["seconds"]:
        logger.info("full size fits the budget (%.1f s estimated per run)", estimated_full)
        return None, None, None
    # A named budget spends at most PROXY_BUDGET_FITS as-written runs, else
    # all its seconds; a budget in seconds is what it says.
    tries = ([min(budget["seconds"], spent + PROXY_BUDGET_FITS * estimated_full)]
             if named else []) + [budget["seconds"]]
    reserve = 0.0 if confirm is False else CONFIRM_RESERVE_FITS * estimated_full
    for seconds in tries:
        for race in dict.fromkeys([seconds - reserve, seconds]):
            sizes, needed = plan(race - spent)
            if sizes is not None:
                logger.info("profiling on proxies of %s units for %.1f s (%.1f s "
                            "estimated at full size)", sizes, race, estimated_full)
                return sizes, _extrapolation(site, sizes, probe, seconds, race), race
    enough = math.ceil(spent + needed)
    if named:
        # A named budget is a level of effort, not a contract: where the
        # smallest proxies cost less than full size would, they are timed
        # in the least time that can work, and the result says so.
        if enough < spent + n_candidates * (1 + MIN_REPEATS) * estimated_full:
            sizes, _ = plan(enough - spent)
        if sizes is None:
            return None, None, None
        return sizes, _extrapolation(site, sizes, probe, float(enough), float(enough),
                                     budget_raised=[budget["seconds"], float(enough)]), \
            float(enough)
    raise InvalidParameterError(
        f"The 'budget' parameter of profile is too small for this workload: "
        f"{site.describe(small)} took {format_seconds(warm)}, so timing "
        f"{n_candidates} candidates on the smallest proxies needs about "
        f"{enough} s; got {budget['name']}. Pass budget={enough} "
        "or more, or a smaller space.")


def measure(workload, candidates, runner, strategy, *, bar, budget, timeout,
            random_state, estimator_name, site=None, confirm="auto"):
    """Probe, race and compare outputs; return what a result is built from.

    ``site`` (a :class:`~sktune._proxies.UnitSite`) lets a big workload be
    timed on proxies (the module's docstring); ``confirm`` (profile's) says
    whether time is kept for the check at full size.

    Returns
    -------
    measured : dict
        ``records``, ``equivalence``, ``machine``, ``search`` (budget,
        time spent, rounds, why it stopped, whether it was interrupted,
        restarts of the worker process), ``extrapolation`` (None when
        every timing was at full size).
    """
    started = _now()
    state = SearchState(n_candidates=len(candidates),
                        timings={i: [] for i in range(len(candidates))})
    machine, interrupted, extrapolation, sizes, hard_s = None, False, None, None, None
    try:
        if site is not None:
            sizes, extrapolation, hard_s = _plan(runner, site, len(candidates), budget,
                                                 started, estimator_name, confirm)
        if sizes is None:
            probe_s = _probe(runner, None, estimator_name)["wall_s"]
            if (n_full := len(candidates) * (1 + MIN_REPEATS) * probe_s) > budget["seconds"]:
                why = ("has no units of work to scale down (search candidates, trees, "
                       "iterations, rows)" if site is None else
                       f"has too few {site.what} for proxies that fit the budget")
                message = (f"{estimator_name} {why} and took "
                           f"{format_seconds(probe_s)}: timing {len(candidates)} "
                           f"candidates {MIN_REPEATS} times each at full size will take "
                           f"about {n_full:.0f} s, beyond the budget of "
                           f"{budget['name']}.")
                warnings.warn(message, SktuneWarning, stacklevel=3)
                logger.info(message)
        else:
            # The largest proxy's time, as the probe would be.
            probe_s = extrapolation["probe"]["double_s"] * sizes[-1] / (2 * sizes[0])
            for index in range(1, len(candidates)):
                runner.warm_up(index, units=sizes[0])
        if timeout == "auto" and runner.supports_time_limit:
            runner.timeout = auto_timeout(probe_s)
        # Detected after the probe, so thread pools loaded lazily are listed.
        machine = runner.machine()
        logger.info("profiling %d candidates", len(candidates))
        bar.start(len(candidates), budget["seconds"] if hard_s is None else hard_s,
                  max_rounds=budget["max_repeats"])
        _race(runner, strategy, candidates, state, bar,
              np.random.default_rng(random_state), started, estimator_name,
              sizes=sizes, full=site.full if site else None, hard_s=hard_s,
              kept_for_confirm=bool(extrapolation)
              and extrapolation["race_s"] < extrapolation["budget_s"])
    except KeyboardInterrupt:
        interrupted = True
        state.stop_reason = "it was interrupted (Ctrl-C)"
        warnings.warn("Profiling was interrupted: the result holds what was measured "
                      "until then, and is not saved as wisdom.", SktuneWarning,
                      stacklevel=3)
    if machine is None:
        machine = Machine.detect()
    reference = runner.outputs.get(0)
    return {
        "records": runner.records, "machine": machine, "extrapolation": extrapolation,
        "equivalence": {i: compare_outputs(reference, out, clusters=workload.clusters)
                        for i, out in runner.outputs.items()},
        "search": {"budget": budget["name"], "elapsed_s": _now() - started,
                   "rounds": state.rounds, "n_runs": len(runner.records),
                   # A plug-in written before stop_reason moved to the state
                   # may still set it on itself.
                   "stop_reason": state.stop_reason or getattr(strategy, "stop_reason", None),
                   "strategy": strategy.name or type(strategy).__name__,
                   "interrupted": interrupted,
                   "isolation": runner.isolation, "worker_restarts": runner.restarts,
                   "timeout_s": runner.timeout},
    }


def extra_runs(runner, fields, candidates, profilers, extra_profilers, bar):
    """Costly profilers see the baseline and the recommendation once each.

    Run after every timing that decided the recommendation; one run per
    costly profiler, so that they do not distort each other; the steps
    profiler rides along (tracemalloc peaks are per step). A Ctrl-C here
    keeps the timings and marks the result as interrupted.
    """
    best = ProfileResult(**fields).best
    search = fields["search"]
    extra_started = _now()
    companions = [p for p in profilers if p.name in ("steps", "wall")]
    try:
        for index in sorted({0, candidates.index(best)}):
            for costly in extra_profilers:
                logger.info("extra run of %s under %s", candidates[index], costly.name)
                bar.update(f"{costly.name}, {candidates[index]}", search["rounds"],
                           search["elapsed_s"] + _now() - extra_started)
                runner.extra(index, [costly, *companions])
    except KeyboardInterrupt:
        search["interrupted"] = True
        warnings.warn("The extra runs of the costly profilers were interrupted: the "
                      "timings are complete, the result is not saved as wisdom.",
                      SktuneWarning, stacklevel=3)
    search["extra_s"] = _now() - extra_started



#: confirm="auto" confirms when one full-size run of the baseline and of the
#: pick fits in what the budget has left; confirm=True runs this many pairs.
CONFIRM_PAIRS = 2


def confirm_runs(runner, fields, candidates, confirm, bar):
    """Time the baseline and the pick at full size, interleaved: the check of a prediction.

    Only for a result extrapolated from proxies. ``confirm`` is True
    (:data:`CONFIRM_PAIRS` pairs, whatever they cost), "auto" (one pair if it
    fits in the budget's remaining seconds) or False. The runs are recorded
    with phase "confirm", which no statistic of the search uses; the
    result's ``extrapolation["confirm"]`` holds their times and the
    measured speedup beside the predicted one.
    """
    extrapolation = fields.get("extrapolation")
    if extrapolation is None or confirm is False:
        return
    result = ProfileResult(**fields)
    best = candidates.index(result.best)
    stats = result.stats
    predicted = {i: stats[i].median for i in {0, best}}
    spent = fields["search"]["elapsed_s"]
    cost = sum(predicted.values())
    pairs = CONFIRM_PAIRS if confirm is True else 1
    planned = {"index": best, "predicted_s": {str(i): t for i, t in predicted.items()},
               "predicted_speedup": result.speedup.value, "cost_s": cost, "runs": {}}
    extrapolation["confirm"] = planned
    beyond = None
    if confirm == "auto" and extrapolation.get("budget_raised"):
        # The budget was raised to the least the proxies need: no more.
        beyond = " beyond a budget already raised for the proxies"
    # The race ends with the first trial past its time (race_s), so a check
    # that fits the time kept for it runs: the profile then ends within the
    # budget plus one trial of the largest proxy.
    elif confirm == "auto" and min(spent, extrapolation.get("race_s", spent)) + cost \
            > extrapolation["budget_s"]:
        beyond = ", beyond the budget left"
    if beyond is not None:
        planned["skipped"] = (f"it would cost about {format_seconds(cost)}{beyond}; "
                              "profile(..., confirm=True) runs it")
        return
    if runner.supports_time_limit and runner.timeout is not None:
        runner.timeout = auto_timeout(max(predicted.values()))
    started = _now()
    # ABBA: neither candidate always runs first.
    order = [0] * pairs if best == 0 else [
        i for p in range(pairs) for i in ((0, best) if p % 2 == 0 else (best, 0))]
    try:
        for n, index in enumerate(order):
            bar.update(f"confirming {candidates[index]} at full size", n, spent)
            record = runner.confirm(index, n)
            if record is not None and not record.get("error"):
                planned["runs"].setdefault(str(index), []).append(record["wall_s"])
    except KeyboardInterrupt:
        fields["search"]["interrupted"] = True
        warnings.warn("Confirming at full size was interrupted: the result holds the "
                      "predictions, and is not saved as wisdom.", SktuneWarning,
                      stacklevel=3)
    runs = planned["runs"]
    if runs.get("0") and runs.get(str(best)):
        planned["measured_speedup"] = float(np.median(runs["0"]) / np.median(runs[str(best)]))
    fields["search"]["confirm_s"] = _now() - started
