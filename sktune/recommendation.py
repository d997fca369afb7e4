"""Turn measurements into a recommendation that explains itself.

Pure functions: :func:`candidate_stats` summarises the trial records of a
result per candidate and :func:`choose` picks the recommendation from those
summaries. The rules (DESIGN.md): the fastest candidate wins only if it
beats the as-written baseline beyond noise; among candidates as fast as the
fastest, the one using fewer cores wins, then the simpler one; a candidate
that failed or changed the output is never recommended.

"Beyond noise" is asv's rule (:func:`sktune._stats.significance`) and a
gain of at least ``min_effect``; the speedup quoted is a prediction
interval for a re-run (:func:`sktune._stats.speedup_interval`), widened by
the machine's between-run noise. Measurements that cannot be fully
trusted (pyperf's checks) become caveats: an unsteady baseline or pick,
calls too short to time, busy or throttled CPUs, restarted pools.
"""

from dataclasses import dataclass, field, replace

import numpy as np

from ._stats import (
    MIN_SAMPLES,
    RUN_NOISE,
    RatioInterval,
    ratio_interval,
    same_speed_interval,
    significance,
    speedup_interval,
    spread,
)

#: Relative difference below which sktune calls two timings equal. Identical
#: configurations were seen to differ by up to ~9% between separate runs on
#: the 2-core CI machine and by a few percent within one interleaved run;
#: benchmarks/bench_recommend.py checks picks against an exhaustive re-run.
MIN_EFFECT = 0.05
#: Below this baseline time, start-up overhead dominates (PITFALLS.md 8.4).
SMALL_WORKLOAD_S = 0.1
#: A first call this many times slower than the warm median is worth a
#: caveat: a cold loky pool cost 2.6 s against 0.1 s warm (PITFALLS.md 2.4).
COLD_FACTOR = 2.0
#: pyperf warns when the standard deviation of a benchmark exceeds 10% of its
#: mean; sktune's robust counterpart is the interquartile range over the median.
UNSTEADY_SPREAD = 0.10
#: pyperf warns below 1 ms: the timer, the call and the garbage collector
#: weigh on so short a call more than the configuration does.
SHORT_CALL_S = 1e-3


@dataclass(frozen=True)
class CandidateStats:
    """Summary of one candidate's timed repeats.

    Attributes
    ----------
    index : int
        Position in the result's candidates (0 is the baseline).
    config : Config
    wall : tuple of float
        Timed repeats, seconds.
    cpu : tuple of float or None
        CPU seconds of the same repeats, in the same order; None where the
        "cpu" profiler did not measure one.
    status : {"ok", "failed", "differs", "cut off", "too few repeats"}
        "failed" covers a raise, a crash of the worker process and a
        timeout; "cut off" a timed repeat stopped for being far slower than
        the best (the isolated runner only). Only "ok" is ever recommended.
    detail : str
        The error, how the output differs, or when the run was cut off.
    rounds : tuple of int
        The round of each timed repeat, in the same order as ``wall``: rounds
        pair a candidate's repeats with the baseline's (a paired interval).
    cold_s : float or None
        Wall time of the first (warm-up) run: the cost of a single cold call.
    busy_threads : float or None
        Median number of OS threads kept busy (the "threads" profiler).
    peak_bytes : float or None
        Median peak memory of the process tree (the "memory" profiler).
    extra_bytes : float or None
        Median of the peak minus the tree's memory just before the call:
        what the call itself, its workers included, added.
    """

    index: int
    config: object
    wall: tuple
    cpu: tuple = ()
    rounds: tuple = ()
    status: str = "ok"
    detail: str = ""
    cold_s: float = None
    busy_threads: float = None
    peak_bytes: float = None
    extra_bytes: float = None

    @property
    def median(self):
        return float(np.median(self.wall)) if self.wall else float("nan")

    @property
    def busy_cores(self):
        """Median CPU time over wall time: cores kept busy on average."""
        ratios = [c / w for c, w in zip(self.cpu, self.wall) if c is not None and w > 0]
        return float(np.median(ratios)) if ratios else None


@dataclass(frozen=True)
class Recommendation:
    """The answer of a profiling run.

    Attributes
    ----------
    best : Config
        What to run under; the as-written config when nothing helps.
    speedup : RatioInterval
        Baseline time over ``best``'s time, with its confidence interval.
    verdict : {"faster", "no gain", "nothing to vary", "estimated"}
        "estimated": chosen without timing (``budget="estimate"``); the
        speedup is unknown (NaN).
    explanation : str
        One paragraph a person understands.
    alternatives : tuple of Config
        Candidates as fast as ``best`` within noise.
    caveats : tuple of str
    """

    best: object
    speedup: RatioInterval
    verdict: str
    explanation: str
    alternatives: tuple = ()
    caveats: tuple = field(default=())


def candidate_stats(candidates, records, equivalence, extrapolation=None):
    """Summarise trial records per candidate.

    Parameters
    ----------
    candidates : sequence of Config
    records : sequence of dict
        Trial records with ``config``, ``phase``, ``wall_s``, ``cpu_s``, ``error``.
    equivalence : dict of int to (bool, str)
        Output comparison with the baseline, per candidate.
    extrapolation : dict, default=None
        A result's ``extrapolation`` (timed on proxies): each candidate's
        "repeats" are then its predicted full-size times, one per round
        (:func:`sktune._costmodel.round_samples`), and its CPU time the
        prediction times the busy cores of that round's largest proxy.

    Returns
    -------
    stats : list of CandidateStats
    """
    stats = []
    if extrapolation is not None:
        from ._costmodel import round_samples

        full = extrapolation["site"]["full"]
        n_sizes = len(extrapolation["sizes"])
    for index, config in enumerate(candidates):
        # Extra runs (costly profilers) never count: they are not timings.
        mine = [r for r in records if r["config"] == index and r["phase"] != "extra"]
        timed = [r for r in mine if r["phase"] == "timed" and not r.get("error")]
        errors = [r["error"] + (f" (in step {r['failed_step']})" if r.get("failed_step")
                                else "")
                  for r in mine if r.get("error")]
        warmups = [r for r in mine if r["phase"] == "warmup" and not r.get("error")]
        cut = [r for r in mine if r["phase"] == "cutoff"]
        equivalent, how = equivalence.get(index, (True, ""))
        status = None
        if errors:
            status, detail = "failed", errors[0]
            if timed:
                detail += (f" (after {len(timed)} successful timed repeat"
                           f"{'s' if len(timed) > 1 else ''}, not used)")
            # A candidate that failed counts for nothing: its earlier timings
            # enter no interval, median or comparison.
            timed = []
        elif cut:
            status = "cut off"
            detail = (f"stopped after {cut[0]['wall_s']:.2f} s, far slower than the "
                      "fastest candidate")
        elif not equivalent:
            status, detail = "differs", how
        if extrapolation is not None:
            # One predicted full-size "repeat" per complete round; the
            # profilers' medians are the largest proxy's.
            rounds = round_samples(timed, index, full, n_sizes)
            timed = [{**_largest(times), "wall_s": seconds, "round": round_,
                      "cpu_s": _scaled_cpu(_largest(times), seconds)}
                     for round_, seconds, times in rounds]
        if status is None:
            status, detail = (("too few repeats", f"{len(timed)} timed repeats")
                              if len(timed) < MIN_SAMPLES else ("ok", how))
        stats.append(CandidateStats(
            index=index, config=config,
            wall=tuple(r["wall_s"] for r in timed),
            cpu=tuple(r.get("cpu_s") for r in timed),
            rounds=tuple(r.get("round") for r in timed)
            if all(r.get("round") is not None for r in timed) else (),
            status=status, detail=detail,
            # A warm-up of a proxy says nothing of a cold full-size call.
            cold_s=warmups[0]["wall_s"] if warmups and extrapolation is None else None,
            busy_threads=_median_of(timed, "busy_threads"),
            peak_bytes=_median_of(timed, "mem_peak_bytes"),
            extra_bytes=_median_of(timed, "mem_extra_bytes")))
    return stats


def _largest(times):
    return times[max(times)]


def _scaled_cpu(record, seconds):
    cpu, wall = record.get("cpu_s"), record.get("wall_s")
    return None if cpu is None or not wall else cpu / wall * seconds


def _median_of(records, key):
    """Median of ``key`` over the records that have it; None if most say None (unknown)."""
    measured = [r[key] for r in records if key in r]
    values = [v for v in measured if v is not None]
    if not values or 2 * len(values) < len(measured):
        return None
    return float(np.median(values))


def faster_beyond_noise(baseline, candidate, speedup, min_effect):
    """Whether ``candidate`` beats ``baseline`` (timings) beyond noise.

    Significant by :func:`sktune._stats.significance` (asv's rule) and a
    ``speedup`` (baseline over candidate) of at least ``1 + min_effect``.

    Returns
    -------
    faster : bool
    significance : Significance
    """
    verdict = significance(baseline, candidate)
    return verdict.significant and speedup.value >= 1 + min_effect, verdict


def speedup_of(base, s, *, run_noise=RUN_NOISE, seed=0):
    """The prediction interval of ``s``'s speedup over ``base`` (both CandidateStats)."""
    return speedup_interval(base.wall, s.wall, rounds_baseline=base.rounds,
                            rounds_candidate=s.rounds, run_noise=run_noise, seed=seed)


def _interval_words(interval):
    return f"{interval.confidence:.0%} of re-runs on this machine land in this interval"


def choose(stats, *, usable_cores, min_effect=MIN_EFFECT, blas=True, openmp=True,
           seed=0, run_noise=RUN_NOISE):
    """Pick the recommendation from candidate summaries.

    Parameters
    ----------
    stats : list of CandidateStats
        ``stats[0]`` is the as-written baseline.
    usable_cores : int
    min_effect : float, default=0.05
        Smallest relative gain worth recommending a change for.
    blas, openmp : bool, default=True
        Whether the workload uses BLAS / OpenMP, for counting cores.
    seed : int, default=0
    run_noise : float, default=RUN_NOISE
        The machine's between-run noise, for the speedup's interval.

    Returns
    -------
    recommendation : Recommendation
    """
    base = stats[0]
    caveats = _caveats(stats, base)
    keep = {"best": base.config,
            "speedup": same_speed_interval(base.wall, run_noise=run_noise, seed=seed)}
    if base.status != "ok":
        return Recommendation(
            **keep, verdict="no gain", caveats=caveats,
            explanation=(f"The pipeline as written could not be measured reliably "
                         f"({base.status}: {base.detail}), so nothing can be shown "
                         "to be faster: keep it as written."))
    if len(stats) == 1:
        return Recommendation(
            **keep, verdict="nothing to vary", caveats=caveats,
            explanation=("No configuration other than the as-written one was "
                         "measured (see the notes for why): keep it as written."))
    n_rep = len(base.wall)
    eligible = [s for s in stats if s.status == "ok" and s is not base]
    speedups = {s.index: speedup_of(base, s, run_noise=run_noise, seed=seed)
                for s in eligible}
    tests = {s.index: faster_beyond_noise(base.wall, s.wall, speedups[s.index], min_effect)
             for s in eligible}
    winners = [s for s in eligible if tests[s.index][0]]
    if not winners:
        rival = min(eligible, key=lambda s: s.median, default=None)
        explanation = ("Nothing measured was faster than the pipeline as written beyond "
                       "noise: keep it as written.")
        if rival is not None:
            explanation = _no_gain_words(rival, speedups[rival.index],
                                         tests[rival.index][1], min_effect, n_rep)
        return Recommendation(**keep, verdict="no gain", explanation=explanation,
                              caveats=caveats + _unsteady(base))
    fastest = min(winners, key=lambda s: s.median)
    pool = []
    for s in winners:
        versus = ratio_interval(s.wall, fastest.wall, seed=seed)
        # As fast as the fastest: not told apart by the measurements, or
        # confidently slower but by less than half the smallest gain worth
        # having (a 1% loss for half the cores is a good trade).
        if versus.value <= 1 + min_effect and (
                versus.low <= 1 or versus.value <= 1 + min_effect / 2):
            pool.append(s)
    best = min(pool, key=lambda s: (s.config.cores(usable_cores, blas=blas, openmp=openmp),
                                    s.config.n_set, s.median))
    speedup = speedups[best.index]
    caveats += _unsteady(base) + _unsteady(best)
    if best.cold_s is not None and best.cold_s > COLD_FACTOR * best.median:
        caveats += (f"Times are steady-state, for repeated fits: the first call under "
                    f"{best.config.describe()} took {best.cold_s:.2f} s (worker start-up, "
                    f"imports) against {best.median:.2f} s once warm.",)
    explanation = (f"{best.config.describe()}: {speedup.value:.2f}x faster than as written "
                   f"[{speedup.low:.2f}, {speedup.high:.2f}] ({_interval_words(speedup)}; "
                   f"faster beyond noise by {tests[best.index][1]}, over "
                   f"{len(best.wall)} interleaved repeats).")
    if speedup.low <= 1:
        explanation += (" Faster in this run, but a re-run on this machine may show no "
                        "gain: the interval reaches below 1.")
    if best is not fastest:
        explanation += (f" {fastest.config.describe()} was as fast within noise but "
                        "uses more cores.")
    explanation += _why_not_others(stats, best, usable_cores, min_effect)
    return Recommendation(
        best=best.config, speedup=speedup, verdict="faster", explanation=explanation,
        alternatives=tuple(s.config for s in pool if s is not best), caveats=caveats)


def _why_not_others(stats, best, usable_cores, min_effect):
    """A sentence on the most instructive losers: oversubscribed or slower by
    more than ``min_effect`` (a smaller loss is no loss at that threshold)."""
    notes = []
    for s in sorted((s for s in stats if s.status == "ok" and s is not best),
                    key=lambda s: s.median)[-2:]:
        ratio = s.median / best.median
        if ratio < 1 + min_effect:
            continue
        threads = s.config.threads(usable_cores)
        what = f"{s.config.describe()} was {ratio:.1f}x slower"
        if s.busy_threads is not None and round(s.busy_threads) > usable_cores:
            # Measured, not predicted: spinning BLAS/OpenMP threads count too.
            what += (f": {round(s.busy_threads)} busy threads on {usable_cores} cores "
                     "oversubscribe the machine")
        elif threads > usable_cores:
            what += (f": {threads} threads on {usable_cores} cores oversubscribe "
                     "the machine")
        elif s.busy_cores is not None:
            what += f", keeping {s.busy_cores:.1f} cores busy"
        notes.append(what)
    return (" " + "; ".join(notes) + ".") if notes else ""


def _no_gain_words(rival, speedup, verdict, min_effect, n_rep):
    """Why the fastest alternative is not recommended, in one paragraph."""
    what = f"{rival.config.describe()} ran at {speedup} the baseline's speed"
    if speedup.value < 1:
        first = ("Every alternative was slower than the pipeline as written: keep it "
                 f"as written. The fastest, {what}")
    elif speedup.value < 1 + min_effect:
        first = ("Nothing measured was faster than the pipeline as written by "
                 f"{min_effect:.0%} or more: keep it as written. The fastest alternative, "
                 f"{what}")
    else:
        first = ("Nothing measured was faster than the pipeline as written beyond noise: "
                 f"keep it as written. The fastest alternative, {what}, not told apart "
                 f"from it ({verdict})")
    return f"{first} ({n_rep} interleaved repeats each)."


def _unsteady(s):
    """pyperf's warnings on one candidate's repeats, as caveats."""
    caveats = ()
    if len(s.wall) >= MIN_SAMPLES and spread(s.wall) > UNSTEADY_SPREAD:
        caveats += (f"The repeats of {s.config.describe()} vary by {spread(s.wall):.0%} of "
                    f"their median (interquartile range; above {UNSTEADY_SPREAD:.0%}): "
                    "identical runs disagree, so its figures are uncertain.",)
    if s.wall and s.median < SHORT_CALL_S:
        caveats += (f"A call of {s.config.describe()} takes {s.median * 1e6:.0f} us, under "
                    f"{SHORT_CALL_S * 1000:g} ms: the timer and the call's own overhead "
                    "weigh as much as the configuration.",)
    return caveats


def _caveats(stats, base):
    caveats = []
    if base.median < SMALL_WORKLOAD_S:
        caveats.append(
            f"The workload takes {base.median * 1000:.0f} ms: at this size start-up "
            "overhead dominates and the answer may not hold for larger data.")
    for s in stats:
        if s.status == "failed":
            caveats.append(f"{s.config.describe()} failed: {s.detail}")
        elif s.status == "differs":
            caveats.append(f"{s.config.describe()} changes the output ({s.detail}); "
                           "excluded.")
    return tuple(caveats)


def extrapolated_recommendation(rec, stats, models, extrapolation, min_effect=MIN_EFFECT,
                                run_noise=RUN_NOISE):
    """``rec`` (chosen on predicted full-size times) with what extrapolating implies.

    The explanation says the times are predicted and from which proxies;
    caveats name every model fitted poorly, a ranking that flips between
    the proxy sizes, and a confirmation run that disagrees with the
    prediction. A pick that the full-size confirmation found slower than
    the baseline is not recommended: the answer falls back to as written.
    """
    from ._costmodel import ranking_flips

    site, sizes = extrapolation["site"], extrapolation["sizes"]
    what = f"{site['what']} of {site['path']}" if site.get("path") else site["what"]
    explanation = (f"{rec.explanation.replace(' interleaved repeats', ' interleaved rounds')}"
                   f" Times are predicted for {site['full']} {what} from "
                   f"proxies of {', '.join(map(str, sizes))} (a fixed cost plus a cost per "
                   "unit, fitted per candidate and round).")
    caveats = list(rec.caveats)
    for s in stats:
        model = models.get(s.index)
        if model is not None and model.poor and s.status == "ok":
            caveats.append(f"The cost model of {s.config.describe()} fits poorly (its "
                           f"medians stray {model.residual:.0%} from the line, fixed cost "
                           f"{model.fixed_s:.2f} s): its prediction is uncertain.")
    eligible = {s.index for s in stats if s.status == "ok"}
    for units, fastest, predicted in ranking_flips(models, eligible, site["full"],
                                                   noise=min_effect):
        caveats.append(f"At {units} {site['what']}, {stats[fastest].config.describe()} was "
                       f"faster than {stats[predicted].config.describe()}, the predicted "
                       "fastest at full size: the ranking flips with size, the answer is "
                       "uncertain; confirm=True times both at full size.")
    confirm = extrapolation.get("confirm") or {}
    measured = confirm.get("measured_speedup")
    best_index = next(s.index for s in stats if s.config == rec.best)
    if confirm.get("skipped"):
        caveats.append(f"Not confirmed at full size: {confirm['skipped']}.")
    elif measured is not None and confirm.get("index") == best_index:
        # With a tolerance for rounding: an exact prediction is inside.
        inside = rec.speedup.low * (1 - 1e-9) <= measured <= rec.speedup.high * (1 + 1e-9)
        explanation += (f" Confirmed at full size: {measured:.2f}x measured against "
                        f"{rec.speedup.value:.2f}x predicted"
                        + ("." if inside else ", outside the predicted interval."))
        if not inside:
            caveats.append(f"The full-size confirmation measured {measured:.2f}x, outside the "
                           f"predicted [{rec.speedup.low:.2f}, {rec.speedup.high:.2f}].")
        if best_index != 0 and measured < 1:
            return replace(
                rec, best=stats[0].config,
                speedup=same_speed_interval(stats[0].wall, run_noise=run_noise),
                verdict="no gain", alternatives=(), caveats=tuple(caveats),
                explanation=(f"{rec.best.describe()} was predicted {rec.speedup.value:.2f}x "
                             f"faster, but at full size it measured {measured:.2f}x the "
                             "baseline's speed: keep it as written."))
    return replace(rec, explanation=explanation, caveats=tuple(caveats))


def estimated_recommendation(candidates, estimate):
    """The :class:`Recommendation` of a result estimated without timing.

    Parameters
    ----------
    candidates : sequence of Config
    estimate : dict
        ``index`` of the chosen candidate, ``reasons`` and ``confidence``.
    """
    nan = float("nan")
    best = candidates[estimate["index"]]
    caveats = ("Estimated, not measured: nothing was timed. Profile with "
               "budget='quick' or more to measure it on this machine.",)
    return Recommendation(
        best=best, speedup=RatioInterval(nan, nan, nan), verdict="estimated",
        explanation=" ".join(estimate["reasons"]), caveats=caveats)
