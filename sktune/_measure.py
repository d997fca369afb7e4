"""The measuring part of :func:`sktune.profile`: probe, race, pack.

Given a validated, seeded workload and its candidates, this module starts a
runner (a worker process by default, or this process), runs the as-written
configuration once as a probe (which also sets the time limit of every
later run), lets the search strategy schedule shuffled, interleaved rounds,
and returns the fields of a :class:`~sktune.ProfileResult`. A Ctrl-C ends
the search early: what was measured is kept and returned, marked as
interrupted, and the worker and everything it started are stopped.
"""

import contextlib
import logging
import time
import warnings

import numpy as np

from ._engines import backend_engine, engines_of
from ._trials import close_all
from ._units import seconds as format_seconds
from .exceptions import ProfilerError, SktuneWarning, WorkloadError
from .machine import Machine
from .recommendation import candidate_stats
from .results import ProfileResult
from .search import SearchState
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


def auto_timeout(probe_s):
    """The time limit of each run after a probe that took ``probe_s`` seconds."""
    return max(TIMEOUT_MIN_S, TIMEOUT_FACTOR * probe_s)


def environment_notes(before, after, usable):
    notes = []
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


def engine_notes(records, candidates):
    """What each distributed engine cost: starting it (from the records of the
    trials that started it, outside every timing), and its median time per
    call next to the fastest loky candidate's: the engine's overhead."""
    notes = [f"{what} took {format_seconds(seconds)}, before the first trial that needed it, "
             "outside every timing." for record in records
             for what, seconds in record.get("engine_start") or ()]
    medians = {s.index: s.median for s in candidate_stats(candidates, records, {})
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


def _race(runner, strategy, candidates, state, bar, rng, started, name):
    """Rounds until the strategy stops; the as-written run failing ends it."""
    while True:
        state.elapsed = _now() - started
        state.failed = set(runner.failed)
        state.cut_off = set(runner.cut_off)
        order = strategy.next_round(state)
        if order is None:
            return
        order = list(order)
        rng.shuffle(order)
        for index in order:
            bar.update(str(candidates[index]), state.rounds, _now() - started)
            record = runner.visit(index, state.rounds,
                                  limit=strategy.time_limit(state, index))
            # A failure or a cut-off is known to the strategy at once, not
            # one round later: the next time limit of this round must not
            # use the earlier timings of a candidate that just failed.
            state.failed = set(runner.failed)
            state.cut_off = set(runner.cut_off)
            if record is not None:  # runners return successful timed repeats only
                state.timings[index].append(record["wall_s"])
        if 0 in runner.failed:
            raise WorkloadError(
                f"{name} as written failed during profiling: "
                f"{runner.failed[0]}") from runner.exceptions.get(0)
        state.rounds += 1
        logger.info("round %d done, %.1f s spent", state.rounds, _now() - started)


def measure(workload, candidates, runner, strategy, *, bar, budget, timeout,
            random_state, estimator_name):
    """Probe, race and compare outputs; return what a result is built from.

    Returns
    -------
    measured : dict
        ``records``, ``equivalence``, ``machine``, ``search`` (budget,
        time spent, rounds, why it stopped, whether it was interrupted,
        restarts of the worker process).
    """
    started = _now()
    state = SearchState(n_candidates=len(candidates),
                        timings={i: [] for i in range(len(candidates))})
    machine, interrupted = None, False
    try:
        probe = runner.warm_up(0)
        if probe["error"]:
            raise WorkloadError(
                f"{estimator_name} failed on the data as written, before any "
                f"timing: {probe['error']}") from runner.exceptions.get(0)
        if timeout == "auto" and runner.supports_time_limit:
            runner.timeout = auto_timeout(probe["wall_s"])
        # Detected after the probe, so thread pools loaded lazily are listed.
        machine = runner.machine()
        logger.info("profiling %d candidates", len(candidates))
        bar.start(len(candidates), budget["seconds"], max_rounds=budget["max_repeats"])
        _race(runner, strategy, candidates, state, bar,
              np.random.default_rng(random_state), started, estimator_name)
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
        "records": runner.records, "machine": machine,
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

