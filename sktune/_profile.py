"""``sktune.profile``: measure the candidates of a workload and recommend one.

This module only orchestrates: validate everything, resolve the space for
this estimator and machine, run the baseline once as a probe, then let the
search strategy schedule shuffled, interleaved rounds on the runner, and
pack what was measured into a :class:`~sktune.ProfileResult`. The whole call
runs inside a state guard that restores environment variables, thread
limits, joblib and scikit-learn settings on every exit path.
"""

import contextlib
import dataclasses
import logging
import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone

from ._breakdown import describe_steps
from ._compat import Interval, openmp_effective_n_threads
from ._introspect import inspect_layers, unseeded_params
from ._progress import progress_bar
from ._state import preserved_state
from ._validation import validate_params
from .exceptions import InvalidParameterError, ProfilerError, WorkloadError
from .machine import Machine, environment_snapshot, physical_cores, usable_cores
from .profilers import DEFAULT_PROFILERS, Profiler, get_profiler, start_order
from .recommend import MIN_EFFECT
from .results import ProfileResult
from .runner import Runner, close_all
from .search import AdaptiveSearch, SearchState, resolve_budget
from .space import Config, ConfigSpace
from .workload import Workload, compare_outputs

logger = logging.getLogger("sktune")

#: The clock of the time budget; tests replace it with a fake one.
_now = time.perf_counter


def _resolve_profilers(profilers):
    """Profiler instances for timed runs, and those for extra runs only."""
    items = DEFAULT_PROFILERS if profilers is None else profilers
    if isinstance(items, (str, Profiler)):
        items = [items]
    resolved = []
    for item in items:
        if isinstance(item, Profiler):
            resolved.append(item)
        elif isinstance(item, str):
            resolved.append(get_profiler(item))
        else:
            raise InvalidParameterError(
                "The 'profilers' parameter of profile must be a list of profiler names "
                f"or Profiler instances. Got {item!r} in it.")
    if not any(p.name == "wall" for p in resolved):
        raise InvalidParameterError(
            "The 'profilers' parameter of profile must include the 'wall' profiler: "
            "recommendations are made on wall-clock time.")
    resolved = start_order(resolved)
    timed = [p for p in resolved if not p.extra_run]
    extra = [p for p in resolved if p.extra_run]
    return timed, extra


def _default_threads():
    """Thread counts that apply when nothing is set (the as-written ones)."""
    from threadpoolctl import threadpool_info

    blas = {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}
    return {"blas_threads": blas.pop() if len(blas) == 1 else None,
            "openmp_threads": openmp_effective_n_threads()}


def _busy_elsewhere(interval=0.1):
    """Share of all CPUs busy right now, while sktune itself is idle.

    The load average would also count sktune's own previous run (its 1-minute
    average decays slowly), flagging back-to-back profiles as noisy.
    """
    import psutil

    return psutil.cpu_percent(interval=interval) / 100


#: Other processes using more than this share of the CPUs make timings noisy.
BUSY_SHARE = 0.25


def _environment_notes(before, after, usable):
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


def _why_alone(layers, resolved):
    """A note on why the as-written configuration is the only candidate."""
    if resolved.excluded:
        return "Every other candidate was left out; see 'Not run'."
    if not (layers.joblib or layers.openmp or layers.blas):
        return ("Nothing in this workload uses joblib, OpenMP or BLAS: there is no "
                "setting for sktune to tune.")
    return "The space held no candidate other than the as-written configuration."


def _accelerated(estimator, X, candidates):
    """Add compiled variants of the candidates (``accelerate=True``).

    Every candidate gets a twin with all substitutable steps compiled; with
    several such steps, each one alone is also tried on the as-written
    configuration, so that one slower substitute cannot hide behind a faster
    one. Returns the candidates, the refused substitutions and notes.
    """
    from ._substitutes import find_substitutions

    paths, refused, notes = find_substitutions(estimator, X)
    excluded = [(Config(compiled_steps=(path,)), reason) for path, reason in refused]
    if not paths:
        if not refused:
            notes.append("accelerate=True: no step has a compiled equivalent in sktune "
                         "(scikit-learn's StandardScaler, MinMaxScaler, Normalizer, "
                         "PolynomialFeatures, or a FunctionTransformer of a Python "
                         "function).")
        return tuple(candidates), excluded, notes
    # sktune's kernels and Numba start OpenMP threads in this process; a
    # multiprocessing trial after them forks after OpenMP (checklist 10).
    forking = [c for c in candidates if c.backend == "multiprocessing"]
    candidates = [c for c in candidates if c.backend != "multiprocessing"]
    excluded += [(c, "the compiled substitutes of accelerate=True run OpenMP threads in "
                     "this process, and the multiprocessing backend would fork after "
                     "them (the GNU OpenMP runtime can deadlock the child)")
                 for c in forking]
    steps = tuple(paths)
    extra = [dataclasses.replace(c, compiled_steps=steps) for c in candidates]
    if len(steps) > 1:
        extra += [Config(compiled_steps=(path,)) for path in steps]
    return tuple(candidates) + tuple(extra), excluded, notes


@contextlib.contextmanager
def _closing(profilers):
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


@contextlib.contextmanager
def _progress_log(verbose, stream=None):
    """Log progress to ``stream`` (None: stderr) while profiling; restore logging after."""
    if not verbose:
        yield
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("sktune: %(message)s"))
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def profile(estimator, X, y=None, *, task="fit", space=None, budget="measure",
            profilers=None, accelerate=False, min_effect=MIN_EFFECT, random_state=0,
            verbose=0):
    """Measure how to run ``task`` on ``estimator`` fastest on this machine.

    Every candidate configuration (``n_jobs``, joblib backend, BLAS and
    OpenMP threads) that can matter for this estimator is warmed up, then
    timed in shuffled rounds interleaved with the as-written baseline. The
    recommendation is the fastest candidate only if it beats the baseline
    beyond noise and gives the same output; among equally fast candidates
    the one using fewer cores wins.

    Parameters
    ----------
    estimator : estimator instance
        Any scikit-learn compatible estimator or pipeline. Never modified.
    X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
        Used exactly as given: type, dtype and memory order decide code paths.
    y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
    task : {"fit", "predict", "predict_proba", "transform", "score", \
"fit_predict", "fit_transform"}, default="fit"
        The method to time. ``predict``, ``predict_proba``, ``transform`` and
        ``score`` are timed on an estimator fitted once per configuration.
    space : ConfigSpace, default=None
        Candidates to try; None derives them from the estimator and machine.
    budget : {"quick", "measure", "exhaustive"} or float, default="measure"
        Effort: a named level or a number of seconds (a soft limit; at least
        3 repeats always run).
    profilers : list of str or Profiler, default=None
        Measurements per run, by registry name (see
        ``sktune.profilers.PROFILERS``) or as instances. None is the default
        set ``["cpu", "memory", "steps", "threads", "wall"]``, cheap enough to
        wrap every timed run; "hotspots" and "tracemalloc" are costly and run
        only once each, untimed, on the as-written and the recommended
        configuration. Must include "wall".
    accelerate : bool, default=False
        Also measure compiled substitutes of steps (``Config.compiled_steps``):
        scikit-learn's StandardScaler, MinMaxScaler, Normalizer and
        PolynomialFeatures replaced by :mod:`sktune.transformers`, and a
        ``FunctionTransformer`` whose Python function Numba compiles (checked
        against the Python function on a sample of X first; the compile time
        is in the result's notes). Each candidate gets a compiled twin, so
        this doubles the work. A substitute is recommended only when its
        output matches and it is faster beyond noise;
        ``result.best.configure(estimator)`` applies it.
    min_effect : float, default=0.05
        Smallest relative gain worth recommending a change for.
    random_state : int, default=0
        Seeds the shuffling, the bootstrap, and every ``random_state=None``
        inside sktune's copy of the estimator (so outputs are comparable).
    verbose : int, default=0
        Log progress at INFO level (1) or DEBUG level (2) to stderr, with a
        progress bar (what is being timed, the budget left) when stderr is a
        terminal or in a notebook.

    Returns
    -------
    result : ProfileResult

    Raises
    ------
    InvalidParameterError
        For bad arguments, before any timing.
    WorkloadError
        If the estimator fails on the data as written (its error is chained).

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> import sktune
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> result = sktune.profile(DecisionTreeClassifier(), X, y, budget="quick")
    >>> result.best
    Config()
    """
    workload = Workload(estimator, X, y, task)  # validates before any timing
    if space is None:
        space = ConfigSpace.auto()
    elif not isinstance(space, ConfigSpace):
        raise InvalidParameterError(
            "The 'space' parameter of profile must be an instance of ConfigSpace or "
            f"None. Got {space!r} instead.")
    validate_params(
        {"min_effect": [Interval(Real, 0, 1, closed="left")],
         "random_state": [Interval(Integral, 0, None, closed="left")],
         "verbose": [Interval(Integral, 0, None, closed="left")],
         "accelerate": ["boolean"]},
        {"min_effect": min_effect, "random_state": random_state, "verbose": verbose,
         "accelerate": accelerate},
        "profile")
    budget_settings = resolve_budget(budget)
    profilers, extra_profilers = _resolve_profilers(profilers)

    bar = progress_bar(verbose, clock=_now)
    with preserved_state(), bar, _progress_log(verbose, bar.log_stream), \
            _closing(profilers + extra_profilers):
        env_before = {**environment_snapshot(), "busy_share": _busy_elsewhere()}
        notes = []
        seeded = clone(estimator)
        unseeded = unseeded_params(seeded)
        if unseeded:
            seeded.set_params(**dict.fromkeys(unseeded, random_state))
            notes.append(f"random_state=None ({', '.join(unseeded)}) was set to "
                         f"{random_state} on sktune's copy so that outputs can be "
                         "compared; your estimator is unchanged.")
        workload = Workload(seeded, X, y, task)
        layers = inspect_layers(seeded, X, y, task)
        notes += layers.notes
        usable, physical = usable_cores(), physical_cores()
        params = seeded.get_params(deep=True)
        resolved = space.resolve(
            layers, usable_cores=usable, physical_cores=physical,
            defaults=_default_threads(),
            as_written_n_jobs=[params[k] for k in layers.n_jobs_params])
        candidates, excluded = resolved.candidates, list(resolved.excluded)
        if accelerate:
            candidates, refused, compile_notes = _accelerated(seeded, X, candidates)
            excluded += refused
            notes += compile_notes
        may_use_loky = "processes" in layers.joblib_hints or bool(layers.unknown)
        runner = Runner(
            workload, candidates, profilers,
            uses_pool=lambda c: c.backend == "loky" or (c.backend is None and may_use_loky))

        started = _now()
        probe = runner.warm_up(0)
        if probe["error"]:
            raise WorkloadError(
                f"{type(estimator).__name__} failed on the data as written, before any "
                f"timing: {probe['error']}") from runner.exceptions.get(0)
        # Detected after the probe, so thread pools loaded lazily are listed.
        machine = Machine.detect()
        logger.info("profiling %d candidates (%d not run)", len(candidates),
                    len(excluded))
        bar.start(len(candidates), budget_settings["seconds"],
                  max_rounds=budget_settings["max_repeats"])

        strategy = AdaptiveSearch(
            budget_settings["min_repeats"], budget_settings["max_repeats"],
            budget_settings["seconds"], min_effect=min_effect,
            adaptive=budget_settings["adaptive"], seed=random_state)
        state = SearchState(n_candidates=len(candidates),
                            timings={i: [] for i in range(len(candidates))})
        rng = np.random.default_rng(random_state)
        if len(candidates) == 1:
            notes.append(_why_alone(layers, resolved))
        while True:
            state.elapsed = _now() - started
            state.failed = set(runner.failed)
            order = strategy.next_round(state)
            if order is None:
                break
            order = list(order)
            rng.shuffle(order)
            for index in order:
                bar.update(str(candidates[index]), state.rounds, _now() - started)
                record = runner.visit(index, state.rounds)
                if record is not None:
                    state.timings[index].append(record["wall_s"])
            if 0 in runner.failed:
                raise WorkloadError(
                    f"{type(estimator).__name__} as written failed during profiling: "
                    f"{runner.failed[0]}") from runner.exceptions.get(0)
            state.rounds += 1
            logger.info("round %d done, %.1f s spent", state.rounds, _now() - started)
        elapsed = _now() - started

        reference = runner.outputs.get(0)
        equivalence = {i: compare_outputs(reference, out)
                       for i, out in runner.outputs.items()}
        env_after = environment_snapshot()
        notes += _environment_notes(env_before, env_after, usable)
        fields = dict(
            candidates=list(candidates), records=runner.records, equivalence=equivalence,
            machine=machine,
            workload={"estimator": type(estimator).__name__, "repr": repr(estimator),
                      "data": workload.signature,
                      "layers": {"n_jobs_params": list(layers.n_jobs_params),
                                 "joblib_hints": sorted(layers.joblib_hints),
                                 "openmp": layers.openmp, "blas": layers.blas,
                                 "unknown": list(layers.unknown)},
                      "steps": describe_steps(seeded)},
            excluded=excluded, notes=notes,
            search={"budget": budget_settings["name"], "elapsed_s": elapsed,
                    "rounds": state.rounds, "n_runs": len(runner.records),
                    "stop_reason": strategy.stop_reason},
            environment={"before": env_before, "after": env_after},
            settings={"min_effect": min_effect, "seed": random_state})
        if extra_profilers:
            # Costly profilers see the baseline and the recommendation once
            # each, after every timing that decided the recommendation.
            best = ProfileResult(**fields).best
            extra_started = _now()
            # One run per costly profiler, so that they do not distort each
            # other; the steps profiler rides along (tracemalloc peaks are per step).
            companions = [p for p in profilers if p.name in ("steps", "wall")]
            for index in sorted({0, candidates.index(best)}):
                for costly in extra_profilers:
                    logger.info("extra run of %s under %s", candidates[index], costly.name)
                    bar.update(f"{costly.name}, {candidates[index]}", state.rounds,
                               _now() - started)
                    runner.extra(index, [costly, *companions])
            fields["search"]["extra_s"] = _now() - extra_started
    return ProfileResult(**fields)
