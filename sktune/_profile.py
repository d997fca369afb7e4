"""``sktune.profile`` and ``sktune.recommend``: the answer, measured or known.

This module only orchestrates: validate everything before any timing, look
the workload up in the wisdom cache, resolve the space for this estimator
and machine, then either estimate (rules, or another machine's wisdom, no
timing) or measure (:mod:`sktune._measure`: a probe, then a race of
shuffled, interleaved rounds in a worker process), pack the result, and
store it as wisdom. The whole measurement runs inside a state guard that
restores environment variables, thread limits, joblib and scikit-learn
settings on every exit path.
"""

import contextlib
import logging
import time
from numbers import Integral, Real


from . import _measure
from ._breakdown import describe_steps
from ._candidates import plan as make_plan
from ._compat import Interval
from ._engines import DaskEngine, check_engines
from ._progress import progress_bar
from ._trials import make_runner
from ._trials.state import preserved_state
from ._validation import invalid_choice, validate_params
from .exceptions import InvalidParameterError
from ._system import busy_elsewhere
from .machine import Machine, environment_snapshot
from .profilers import resolve_profilers
from .recommendation import MIN_EFFECT
from .results import ProfileResult
from .search import make_strategy, resolve_budget
from .space import ConfigSpace
from .workload import Workload

logger = logging.getLogger("sktune")

#: Where trials run (``profile(isolation=...)``).
ISOLATION = ("process", "none")


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


def _validate(estimator, X, y, task, space, params):
    """Every check that must fail before any timing; returns the Workload."""
    workload = Workload(estimator, X, y, task)
    if space is not None and not isinstance(space, ConfigSpace):
        raise InvalidParameterError(
            "The 'space' parameter of profile must be an instance of ConfigSpace or "
            f"None. Got {space!r} instead.")
    validate_params(
        {"min_effect": [Interval(Real, 0, 1, closed="left")],
         "random_state": [Interval(Integral, 0, None, closed="left")],
         "verbose": [Interval(Integral, 0, None, closed="left")],
         "accelerate": ["boolean"], "wisdom": ["boolean"], "refresh": ["boolean"]},
        {k: params[k] for k in ("min_effect", "random_state", "verbose", "accelerate",
                                "wisdom", "refresh")},
        "profile")
    if params["isolation"] not in ISOLATION:
        raise InvalidParameterError(invalid_choice("isolation", params["isolation"],
                                                   ISOLATION))
    engines = check_engines(params["engines"])
    client_address = None
    if params["client"] is not None:
        client_address = DaskEngine.check_client(params["client"],
                                                 isolation=params["isolation"])
        engines = tuple(dict.fromkeys((DaskEngine.name, *engines)))
    timeout = params["timeout"]
    if not (timeout is None or (isinstance(timeout, str) and timeout == "auto") or (
            isinstance(timeout, Real) and not isinstance(timeout, bool) and timeout > 0)):
        raise InvalidParameterError(
            "The 'timeout' parameter of profile must be 'auto', a float in the range "
            f"(0, inf) or None. Got {timeout!r} instead.")
    return workload, engines, client_address


def _wisdom_lookup(estimator, X, y, task, settings, budget_settings, refresh):
    """``(store, key, description, here, entry or None)`` for this workload here.

    ``here`` is this machine's :attr:`~sktune.Machine.stable_fingerprint`,
    detected once: the stored result is recorded under the same one.
    """
    from .wisdom import WisdomStore, workload_key

    key, description = workload_key(estimator, X, y, task, settings=settings)
    store = WisdomStore()
    here = Machine.detect(refresh_threadpools=False).stable_fingerprint
    entry = None if refresh else store.lookup(here, key, min_rank=budget_settings["rank"])
    return store, key, description, here, entry


def profile(estimator, X, y=None, *, task="fit", space=None, budget="measure",
            strategy="auto", isolation="process", timeout="auto", engines=None,
            client=None, wisdom=True, refresh=False, profilers=None, accelerate=False,
            min_effect=MIN_EFFECT, random_state=0, verbose=0):
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
    budget : {"estimate", "quick", "measure", "exhaustive"} or float, \
default="measure"
        Effort, in the spirit of FFTW's planner levels. "estimate" times
        nothing: it answers from wisdom (this machine's, else another
        machine's as a hint) or from rules that know the estimator and the
        machine, and says so. "quick" and "measure" race the candidates
        with increasing repeats and time limits (20 s and 90 s, soft);
        "exhaustive" times every candidate 25 times. A number is a "measure"
        search with that many seconds. ``result.search`` says what was spent.
    strategy : {"auto", "racing", "exhaustive"} or SearchStrategy, default="auto"
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
    engines : list of {"dask", "ray", "intelex"} or "all", default=None
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
    params = dict(locals())
    # before any timing
    workload, engines, client_address = _validate(estimator, X, y, task, space, params)
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
    store = key = description = here = None
    if wisdom:
        store, key, description, here, entry = _wisdom_lookup(
            estimator, X, y, task, settings, budget_settings, refresh)
        if entry is not None:
            result = entry.result()
            result.origin = {"source": "wisdom", "created": entry.created,
                             "budget": entry.budget, "path": str(entry.path),
                             "lookup_s": time.perf_counter() - found_at}
            logger.info("answered from wisdom (%s)", entry.path)
            return result
    if budget_settings["name"] == "estimate":
        from ._estimate import estimated_result

        plan = make_plan(estimator, X, y, task, space, random_state=random_state)
        return estimated_result(estimator, workload, plan, store, key,
                                _workload_fields(estimator, workload, plan),
                                {"min_effect": min_effect, "seed": random_state})

    bar = progress_bar(verbose, clock=_measure._now)
    with preserved_state(), bar, _progress_log(verbose, bar.log_stream), \
            _measure.closing_profilers(profilers + extra_profilers):
        env_before = {**environment_snapshot(), "busy_share": busy_elsewhere()}
        plan = make_plan(estimator, X, y, task, space, random_state=random_state,
                         accelerate=accelerate, engines=engines, isolation=isolation,
                         client_address=client_address)
        candidates = plan.candidates
        workload = Workload(plan.seeded, X, y, task)
        runner = make_runner(workload, candidates, profilers, isolation=isolation,
                             may_use_loky=plan.may_use_loky, timeout=timeout,
                             client=client, client_address=client_address)
        try:
            measured = _measure.measure(
                workload, candidates, runner, search, bar=bar,
                budget=budget_settings, timeout=timeout, random_state=random_state,
                estimator_name=type(estimator).__name__)
            env_after = environment_snapshot()
            fields = dict(
                candidates=list(candidates), records=measured["records"],
                equivalence=measured["equivalence"], machine=measured["machine"],
                workload=_workload_fields(estimator, workload, plan),
                excluded=plan.excluded,
                notes=plan.notes + _measure.engine_notes(measured["records"], candidates)
                + _measure.environment_notes(
                    env_before, env_after, measured["machine"].usable_cores),
                search=measured["search"],
                environment={"before": env_before, "after": env_after},
                settings={"min_effect": min_effect, "seed": random_state},
                origin={"source": "measured"})
            if extra_profilers and not fields["search"]["interrupted"]:
                _measure.extra_runs(runner, fields, candidates, profilers,
                                    extra_profilers, bar)
        finally:
            runner.close()
    result = ProfileResult(**fields)
    if store is not None and not result.search["interrupted"]:
        store.record(result, key, description, budget=budget_settings["name"],
                     budget_rank=budget_settings["rank"], fingerprint=here)
    return result


def recommend(estimator, X, y=None, *, task="fit", space=None, min_effect=MIN_EFFECT,
              random_state=0):
    """Answer without timing: from wisdom, or from rules, flagged as estimated.

    The same as ``profile(..., budget="estimate")``: the stored result of an
    earlier :func:`profile` of this workload on this machine when there is
    one, else a recommendation from another machine's wisdom (a hint, used
    only when it is one of this machine's candidates) or from rules that
    know the estimator and the machine. Nothing is run.

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
    >>> sktune.recommend(HistGradientBoostingClassifier(), X, y).best
    Config()
    """
    return profile(estimator, X, y, task=task, space=space, budget="estimate",
                   min_effect=min_effect, random_state=random_state)
