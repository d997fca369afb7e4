"""``sktune.profile`` and ``sktune.estimate``: the answer, measured or known.

This module only orchestrates: validate every argument before any timing
(one constraints table per function, :mod:`sktune._validation`), look the
workload up in the wisdom cache, plan the candidates
(:mod:`sktune._candidates`), then either estimate (rules, or another
machine's wisdom, no timing) or measure (:mod:`sktune._measure`: a probe,
then a race of shuffled, interleaved rounds in a worker process), pack the
result, and store it as wisdom. The whole measurement runs inside a state
guard that restores environment variables, thread limits, joblib and
scikit-learn settings on every exit path.
"""

import contextlib
import logging
import time
import warnings
from numbers import Real

from . import _measure
from ._breakdown import describe_steps
from ._candidates import plan as make_plan
from ._engines import ENGINES, DaskEngine, check_engines
from ._progress import progress_bar
from ._proxies import find_units
from ._run_noise import measured_run_noise
from ._stats import RUN_NOISE
from ._system import busy_elsewhere, usable_cores
from ._trials import make_runner
from ._trials.state import preserved_state
from ._validation import (
    NON_NEGATIVE_INT,
    POSITIVE_SECONDS,
    Rule,
    format_docstring,
    names_among,
    number,
    one_of,
    validated,
)
from ._wisdom_key import structure_key
from .machine import Machine, environment_snapshot
from .profilers import DEFAULT_PROFILERS, PROFILERS, Profiler, resolve_profilers
from .recommendation import MIN_EFFECT
from .results import ProfileResult
from .search import BUDGETS, STRATEGIES, SearchStrategy, make_strategy, resolve_budget
from .space import ConfigSpace
from .wisdom import NoWisdom, WisdomStore, workload_key
from .workload import TASKS, Workload

logger = logging.getLogger("sktune")

#: Where trials run (``profile(isolation=...)``).
ISOLATION = ("process", "none")


def _profiler_items(value):
    items = [value] if isinstance(value, (str, Profiler)) else value
    return isinstance(items, (list, tuple)) and all(
        isinstance(p, Profiler) or (isinstance(p, str) and p in PROFILERS) for p in items)


class _Profilers(Rule):
    """Profiler names of the registry (read when checked: plug-ins register later)."""

    def __init__(self):
        super().__init__(_profiler_items, None, invalid=["?"])

    def __str__(self):
        return f"a list of Profiler instances or of str among {sorted(PROFILERS)}"


#: The constraints of :func:`profile`'s arguments, checked before anything
#: runs. estimator, X and y are checked together by :class:`Workload` (the
#: task must be a method of the estimator, y as long as X); ``client`` by
#: :meth:`DaskEngine.check_client`, which needs dask.
PROFILE_CONSTRAINTS = {
    "task": [one_of(TASKS)],
    "space": [ConfigSpace, None],
    "budget": [one_of(BUDGETS), POSITIVE_SECONDS],
    "strategy": [one_of(["auto", *STRATEGIES]), SearchStrategy],
    "isolation": [one_of(ISOLATION)],
    "timeout": [one_of(["auto"]), POSITIVE_SECONDS, None],
    "confirm": [one_of(["auto"]), "boolean"],
    "engines": [one_of(["all", *ENGINES]), names_among(ENGINES), None],
    "wisdom": ["boolean"],
    "refresh": ["boolean"],
    "profilers": [_Profilers(), None],
    "accelerate": ["boolean"],
    "min_effect": [number(Real, 0, 1, "left")],
    "random_state": [NON_NEGATIVE_INT],
    "verbose": [NON_NEGATIVE_INT],
}


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


def _workload_fields(estimator, workload, plan):
    layers = plan.layers
    return {"estimator": type(estimator).__name__, "repr": repr(estimator),
            "data": workload.signature,
            "layers": {"n_jobs_params": list(layers.n_jobs_params),
                       "joblib_hints": sorted(layers.joblib_hints),
                       "openmp": layers.openmp, "blas": layers.blas,
                       "unknown": list(layers.unknown)},
            "steps": describe_steps(plan.seeded)}


@format_docstring(tasks=", ".join(f'"{t}"' for t in TASKS),
                  budgets=", ".join(f'"{b}"' for b in BUDGETS),
                  strategies=", ".join(f'"{s}"' for s in ("auto", *STRATEGIES)),
                  engines=", ".join(f'"{e}"' for e in ENGINES),
                  profilers=list(DEFAULT_PROFILERS))
@validated(PROFILE_CONSTRAINTS)
def profile(estimator, X, y=None, *, task: str = "fit", space: "ConfigSpace | None" = None,
            budget: "str | float" = "measure", strategy: "str | SearchStrategy" = "auto",
            isolation: str = "process", timeout: "str | float | None" = "auto",
            confirm: "str | bool" = "auto", engines: "str | list[str] | None" = None,
            client=None, wisdom: bool = True,
            refresh: bool = False, profilers: "list[str | Profiler] | None" = None,
            accelerate: bool = False, min_effect: float = MIN_EFFECT,
            random_state: int = 0, verbose: int = 0) -> ProfileResult:
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
    task : {{tasks}}, default="fit"
        The method to time. ``predict``, ``predict_proba``, ``transform`` and
        ``score`` are timed on an estimator fitted once per configuration.
    space : ConfigSpace, default=None
        Candidates to try; None derives them from the estimator and machine.
    budget : {{budgets}} or float, default="measure"
        Effort, in the spirit of FFTW's planner levels. "estimate" times
        nothing: it answers from wisdom (this machine's, else another
        machine's as a hint) or from rules that know the estimator and the
        machine, and says so. "quick" and "measure" race the candidates
        with increasing repeats and time limits (20 s and 90 s);
        "exhaustive" times every candidate 25 times at full size. A number
        is a "measure" search with that many seconds. ``result.search``
        says what was spent.

        A big workload is probed on a small proxy first (fewer search
        candidates on the same folds, trees, boosting iterations, k-means
        initialisations, query rows; rows of X where it has no such
        units). When timing every candidate at full size would not fit
        the budget, the candidates are timed on two or three proxy sizes
        and their full-size times predicted (``result.extrapolation``,
        ``result.models``); the budget is then hard (no trial starts once
        it is spent; a named budget also spends at most 2.5 times the
        estimated as-written time). A budget too small for the smallest
        proxies raises before any candidate is timed, naming one that works.
    strategy : {{strategies}} or SearchStrategy, default="auto"
        Which candidates run next and when to stop; "auto" takes the
        budget's (racing, or exhaustive for ``budget="exhaustive"``). Any
        :class:`~sktune.search.SearchStrategy` instance can be plugged in.
    isolation : {"process", "none"}, default="process"
        "process" runs every trial in a worker process that holds the data
        once (memory-mapped) and is replaced when a configuration crashes
        it or hangs: such a configuration is recorded as failed, with its
        cause, and profiling goes on. "none" runs trials in this process
        (no time limits; a crash or a hang takes this process with it).
    timeout : "auto", float or None, default="auto"
        Wall-clock limit of each run with ``isolation="process"``. "auto"
        allows 10 times the first as-written run, and at least 30 s; None
        waits forever.
    confirm : "auto" or bool, default="auto"
        For a result extrapolated from proxies: time the as-written and the
        recommended configuration at full size, interleaved, and report
        the measured speedup beside the predicted one
        (``result.extrapolation["confirm"]``). "auto" confirms once when it
        fits in the budget left; True confirms twice whatever it costs;
        False never. A pick that proves slower than as written at full size
        is not recommended.
    engines : list of {{engines}}, one of them, or "all", default=None
        Also measure these engines against the local backends, as candidates
        like any other: "dask" runs the joblib work on local dask clusters
        on loopback that sktune starts and closes (several shapes: workers
        x threads per worker), or on ``client``; "ray" on a local ray
        started in sktune's worker process (only with
        ``isolation="process"``: ray patches joblib for a whole process);
        "intelex" replaces the steps scikit-learn-intelex supports by its
        versions, recommended only when their output matches. An engine
        that is not installed is listed under "Not run" with the reason.
        None measures joblib's local backends only: on one machine a
        distributed engine rarely beats loky, and starting it costs seconds
        (README, "Distributed engines").
    client : distributed.Client, default=None
        A dask Client whose cluster to profile (implies "dask" in
        ``engines``): one candidate runs on it instead of local clusters.
        Checked before any timing; a closed or unreachable client raises
        ``EngineError``. The client, its cluster and the default client are
        left as they were.
    wisdom : bool, default=True
        Answer from the wisdom cache (``$SKTUNE_CACHE_DIR/wisdom``, see
        :mod:`sktune.wisdom`) when this workload was profiled on this
        machine with at least this budget, and store the result there after
        measuring. The cache is keyed by the machine and by the workload's
        signature: estimator structure and parameters, data type, shape
        class, dtype, layout and sparsity, the task and these settings.
    refresh : bool, default=False
        Measure again even when wisdom has an answer (and replace it).
    profilers : list of str or Profiler, default=None
        Measurements per run, by registry name (see
        ``sktune.profilers.PROFILERS``) or as instances. None is the default
        set ``{profilers}``, cheap enough to
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
        ``result.origin["source"]`` says where the answer comes from:
        "measured", "wisdom" or "estimate". After a Ctrl-C it holds what was
        measured until then (``result.search["interrupted"]``), with a
        warning, and is not stored as wisdom.

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
    # Before any timing: the table above was checked on entry.
    workload = Workload(estimator, X, y, task)
    engines = check_engines(engines)
    client_address = None
    if client is not None:
        client_address = DaskEngine.check_client(client, isolation=isolation)
        engines = tuple(dict.fromkeys((DaskEngine.name, *engines)))
    space = ConfigSpace.auto() if space is None else space
    budget_settings = resolve_budget(budget)
    search = make_strategy(strategy, budget_settings, min_effect=min_effect,
                           seed=random_state)
    profilers, extra_profilers = resolve_profilers(profilers)
    settings = {"space": repr(space), "accelerate": accelerate, "min_effect": min_effect,
                "profilers": sorted(p.name for p in profilers + extra_profilers)}
    if engines:  # only then: the keys of wisdom stored without engines stay valid
        settings.update(engines=sorted(engines), client=client_address)

    found_at = time.perf_counter()
    store = WisdomStore() if wisdom else NoWisdom()
    key, description = workload_key(estimator, X, y, task, settings=settings)
    # Detected once: the stored result is recorded under the same fingerprint.
    here = Machine.detect(refresh_threadpools=False).stable_fingerprint
    entry = None if refresh else store.lookup(here, key, min_rank=budget_settings["rank"])
    # The units of work a proxy scales down (several per worker), and the
    # key of this workload at any size: an extrapolated result of another
    # size of it answers by prediction.
    site = find_units(workload, usable_cores())
    structure = structure_key(estimator, X, y, task, settings, site)
    if entry is None and structure is not None and not refresh:
        shaped = store.lookup(here, structure[0], min_rank=budget_settings["rank"])
        entry = shaped if shaped is not None and _predicts(shaped, site) else None
    if entry is not None:
        result = entry.result()
        result.origin = {"source": "wisdom", "created": entry.created,
                         "budget": entry.budget, "path": str(entry.path),
                         "lookup_s": time.perf_counter() - found_at}
        if result.extrapolation is not None and \
                result.extrapolation["site"]["full"] != site.full:
            _predict_at(result, site, estimator, workload)
        logger.info("answered from wisdom (%s)", entry.path)
        return result
    if budget_settings["name"] == "estimate":
        from ._estimate import estimated_result

        plan = make_plan(estimator, X, y, task, space, random_state=random_state)
        return estimated_result(estimator, workload, plan, store, key,
                                _workload_fields(estimator, workload, plan),
                                {"min_effect": min_effect, "seed": random_state})

    bar = progress_bar(verbose, clock=_measure._now)
    with contextlib.ExitStack() as guards:
        # Undone in reverse order on every exit path: the profilers close,
        # logging and the progress bar stop, then the process state is restored.
        for guard in (preserved_state(), bar, _progress_log(verbose, bar.log_stream),
                      _measure.closing_profilers(profilers + extra_profilers)):
            guards.enter_context(guard)
        env_before = {**environment_snapshot(), "busy_share": busy_elsewhere()}
        plan = make_plan(estimator, X, y, task, space, random_state=random_state,
                         accelerate=accelerate, engines=engines, isolation=isolation,
                         client_address=client_address)
        candidates = plan.candidates
        workload = Workload(plan.seeded, X, y, task)
        runner = make_runner(workload, candidates, profilers, isolation=isolation,
                             may_use_loky=plan.may_use_loky, timeout=timeout,
                             client=client, client_address=client_address, units=site)
        with runner:
            measured = _measure.measure(
                workload, candidates, runner, search, bar=bar,
                budget=budget_settings, timeout=timeout, random_state=random_state,
                estimator_name=type(estimator).__name__, site=site, confirm=confirm)
            env_after = environment_snapshot()
            fields = dict(
                candidates=list(candidates), records=measured["records"],
                equivalence=measured["equivalence"], machine=measured["machine"],
                workload=_workload_fields(estimator, workload, plan),
                excluded=plan.excluded,
                notes=plan.notes + _measure.engine_notes(
                    measured["records"], candidates, measured["extrapolation"])
                + _measure.environment_notes(
                    env_before, env_after, measured["machine"].usable_cores,
                    measured["search"]),
                search=measured["search"],
                environment={"before": env_before, "after": env_after},
                settings={"min_effect": min_effect, "seed": random_state,
                          "run_noise": measured_run_noise(here) or RUN_NOISE},
                origin={"source": "measured"}, extrapolation=measured["extrapolation"])
            if not fields["search"]["interrupted"]:
                _measure.confirm_runs(runner, fields, candidates, confirm, bar)
            if extra_profilers and not fields["search"]["interrupted"]:
                _measure.extra_runs(runner, fields, candidates, profilers,
                                    extra_profilers, bar)
    result = ProfileResult(**fields)
    if not result.search["interrupted"]:
        store.record(result, key, description, budget=budget_settings["name"],
                     budget_rank=budget_settings["rank"], fingerprint=here)
        if result.extrapolation is not None and structure is not None:
            store.record(result, *structure, budget=budget_settings["name"],
                         budget_rank=budget_settings["rank"], fingerprint=here)
    return result


def _predicts(entry, site):
    """Whether a wisdom entry of this workload at another size can predict this one:
    an extrapolated result, of the same kind of units."""
    extrapolation = entry.result().extrapolation
    return extrapolation is not None and extrapolation["site"]["kind"] == site.kind


def _predict_at(result, site, estimator, workload):
    """``result`` (from wisdom, another size) predicting ``site.full`` units instead.

    The records stay as measured; the full size of the extrapolation
    changes, so every median and speedup is the cost models' prediction at
    this size. Nothing is timed; the confirmation of the other size is
    dropped, and ``origin`` says which size was measured.
    """
    old = result.extrapolation
    result.extrapolation = {**old, "site": {**old["site"], "full": site.full},
                            "confirm": None, "measured_full": old["site"]["full"]}
    result.workload = {**result.workload, "repr": repr(estimator),
                       "data": workload.signature}
    result.origin["predicted_for"] = site.full
    result.origin["measured_full"] = old["site"]["full"]


@validated({name: PROFILE_CONSTRAINTS[name]
            for name in ("task", "space", "min_effect", "random_state")})
def estimate(estimator, X, y=None, *, task: str = "fit", space: "ConfigSpace | None" = None,
             min_effect: float = MIN_EFFECT, random_state: int = 0) -> ProfileResult:
    """Answer without timing: from wisdom, or from rules, flagged as estimated.

    The same as ``profile(..., budget="estimate")``, in the spirit of
    FFTW's ``FFTW_ESTIMATE`` planner: the stored result of an earlier
    :func:`profile` of this workload on this machine when there is one,
    else a recommendation from another machine's wisdom (a hint, used only
    when it is one of this machine's candidates) or from rules that know
    the estimator and the machine. Nothing is run.

    Parameters
    ----------
    estimator, X, y, task, space, min_effect, random_state
        As in :func:`profile`.

    Returns
    -------
    result : ProfileResult
        ``result.origin["source"]`` is "wisdom" or "estimate";
        ``result.recommendation.verdict`` is "estimated" for the latter.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> import sktune
    >>> X, y = make_classification(n_samples=300, random_state=0)
    >>> sktune.estimate(HistGradientBoostingClassifier(), X, y).best
    Config()

    .. versionadded:: 0.1
        Replaces ``sktune.recommend``.
    """
    return profile(estimator, X, y, task=task, space=space, budget="estimate",
                   min_effect=min_effect, random_state=random_state)


def recommend(estimator, X, y=None, **kwargs):
    """Deprecated alias of :func:`estimate`.

    .. deprecated:: 0.1
        ``sktune.recommend`` was renamed :func:`sktune.estimate` (it answers
        without timing, as ``budget="estimate"`` does); it will be removed
        in 0.2.
    """
    warnings.warn("sktune.recommend is deprecated and will be removed in sktune 0.2: "
                  "use sktune.estimate, which it was renamed to.", FutureWarning,
                  stacklevel=2)
    return estimate(estimator, X, y, **kwargs)
