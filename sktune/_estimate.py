"""``budget="estimate"``: an answer without timing, from a hint or from rules.

When this machine has no wisdom for the workload (that case never gets
here), the answer is, in order: the recommendation measured for the same
workload on another machine (an imported wisdom entry), if it is one of
this machine's candidates; else the rules below, which choose among the
candidates sktune would measure the one expected to be fastest, from the
parallel layers of the estimator (:mod:`sktune._introspect`), the size of
the data and cheap counts of the parallel work (fits of a search, trees of
a forest). Each rule cites the measurement or fact behind it (PITFALLS.md,
README.md's ``benchmarks/bench_recommend.py`` table). The answer is always
one of the candidates, flagged as an estimate, with reasons; confidence is
never "high", since nothing was measured.
"""

from dataclasses import dataclass
from numbers import Integral

from ._estimators import iter_estimators
from ._system import gil_enabled as _gil_now
from .machine import Machine
from .results import ProfileResult

#: Below this many data cells (nnz when sparse), start-up of workers
#: dominates: RandomForest (20 trees) on 300x10 (3,000 cells) was ~2x slower
#: with 2 threads, on 20000x20 ~2x faster (PITFALLS.md 8.4); the nested
#: search on 2000x20 (40,000 cells) gained 1.7x from n_jobs=2 (README,
#: bench_recommend). 10,000 sits between the two, near their geometric mean.
SMALL_CELLS = 10_000
#: ...unless cells x parallel units exceed this: about 0.4 s of sequential
#: work (100 trees on 2500x20, 5M, took 1.0 s; 21 LogisticRegression fits on
#: 4000x20, 1.7M, took 0.31 s: README, bench_recommend), far above a warm
#: 2-worker start-up of 0.02-0.1 s (PITFALLS.md 2.4, 8.4).
LARGE_CELL_UNITS = 2_000_000
#: Fewest units (fits, trees) per worker for parallelism to pay: the brief's
#: "2 fits per core"; the 7-fit nested search and 21-fit grid search gained
#: from 2 workers (README, bench_recommend).
MIN_UNITS_PER_WORKER = 2
#: Backends in order of preference per joblib hint. Forests release the GIL,
#: threads were a little faster than loky on 20000x20 and skip the 0.5-2.6 s
#: cold pool start (PITFALLS.md 2.4, 8.4). Process sites (searches) hold the
#: GIL in Python code, so loky, whose workers cap BLAS/OpenMP threads
#: (PITFALLS.md 2.3). "multiprocessing" is never picked: it may deadlock
#: after OpenMP (checklist item 10).
_BACKENDS = {"threads": ("threading", "loky", None), "processes": ("loky", None),
             "mixed": (None, "loky")}
#: The same with the GIL off (a free-threaded build): the reason for processes
#: is gone, and threads skip worker start-up and pickling of the data, so
#: threading comes first everywhere (PITFALLS.md section 6). Not measured yet:
#: this CI has no 3.13t/3.14t interpreter.
_BACKENDS_NO_GIL = {"threads": ("threading", "loky", None),
                    "processes": ("threading", "loky", None),
                    "mixed": ("threading", None, "loky")}
_NOTE = ("This is an estimate from rules, not a measurement: nothing was timed. "
         "budget='quick' would time {what} on this data and keep a change only if "
         "it is faster than the as-written baseline beyond noise.")


@dataclass(frozen=True)
class Estimate:
    """The configuration rules expect to be fastest.

    Attributes
    ----------
    index : int
        Position in the candidates (0 is the as-written baseline).
    reasons : tuple of str
        Sentences naming the rule that fired and what it rests on.
    confidence : {"low", "medium"}
        Rules are never "high": only a measurement is.
    """

    index: int
    reasons: tuple
    confidence: str


def _n_splits(cv):
    """Number of cross-validation splits, or None when it needs the data."""
    if cv is None:
        return 5
    if isinstance(cv, Integral):
        return int(cv)
    if hasattr(cv, "get_n_splits"):
        try:
            return int(cv.get_n_splits())
        except (TypeError, ValueError):  # LeaveOneOut and co. need X
            return None
    try:
        return len(cv)  # an iterable of (train, test) pairs
    except TypeError:
        return None


def _units(est):
    """``(n_units, unit)`` of parallel work at one estimator's joblib site."""
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    params, cls = est.get_params(deep=False), type(est).__name__
    if cls in ("GridSearchCV", "RandomizedSearchCV"):
        try:
            n = (len(ParameterGrid(params["param_grid"])) if cls == "GridSearchCV"
                 else len(ParameterSampler(params["param_distributions"],
                                           params["n_iter"])))
        except (TypeError, ValueError):
            return None
        splits = _n_splits(params.get("cv"))
        return None if splits is None else (n * splits + bool(params.get("refit")), "fits")
    if isinstance(params.get("n_estimators"), Integral):
        unit = "trees" if "Forest" in cls or "Trees" in cls else "estimators"
        return int(params["n_estimators"]), unit
    for key, unit in (("transformers", "transformers"), ("transformer_list", "transformers"),
                      ("estimators", "estimators")):
        if isinstance(params.get(key), (list, tuple)):
            return len(params[key]), unit
    return None


def work_facts(estimator):
    """Count the parallel work of the outermost joblib site, without fitting.

    Parameters
    ----------
    estimator : estimator instance
        Possibly nested (a Pipeline, a GridSearchCV over a forest...).

    Returns
    -------
    work : dict or None
        ``{"n_units": int, "unit": str, "path": str}``: fits of a
        GridSearchCV (grid size x cv splits, +1 for the refit) or
        RandomizedSearchCV (``n_iter`` x splits), ``n_estimators`` of a
        forest or bagging, the transformers of a ColumnTransformer or
        FeatureUnion. None when no site's work can be counted.
    """
    sites, counted = [], []
    for path, est in iter_estimators(estimator):
        if not hasattr(est, "get_params") or any(
                p == "" or path.startswith(p + "__") for p in sites):
            continue  # nested inside a site: its n_jobs is left as written
        if "n_jobs" in est.get_params(deep=False):  # a joblib site (not GradientBoosting)
            sites.append(path)
            units = _units(est)
            if units is not None:
                counted.append((path, units))
    if not counted:
        return None
    # Of sibling sites (a ColumnTransformer and a forest in one Pipeline) the
    # one with the most units is likely where the time goes.
    path, (n_units, unit) = max(counted, key=lambda item: item[1][0])
    return {"n_units": int(n_units), "unit": unit, "path": path}


def _cells(signature):
    """Data cells (nnz when sparse), or None when the size is unknown."""
    if signature.get("nnz") is not None or signature.get("n_samples") is None:
        return signature.get("nnz")
    return signature["n_samples"] * (signature.get("n_features") or 1)


def _per_worker(config, layers, usable):
    """Native threads each worker may run, for the layers the workload uses."""
    if config.backend == "loky":
        return config.inner_max_num_threads or max(1, usable // (config.n_jobs or 1))
    return max((config.blas_threads or usable) if layers.blas else 1,
               (config.openmp_threads or usable) if layers.openmp else 1)


def _pick_parallel(candidates, layers, usable, target, gil_enabled=True):
    """Index of the best n_jobs candidate up to ``target`` workers, or None."""
    hints = layers.joblib_hints
    table = _BACKENDS if gil_enabled else _BACKENDS_NO_GIL
    order = table["mixed" if len(hints) > 1 else next(iter(hints), "processes")]
    native = layers.blas or layers.openmp
    eligible = [(i, c) for i, c in enumerate(candidates)
                if c.n_jobs is not None and 1 < c.n_jobs <= target
                and c.backend in order and c.compiled_steps is None]
    if not eligible:
        return None
    most = max(c.n_jobs for _, c in eligible)

    def key(item):
        _, c = item
        capped = native and _per_worker(c, layers, usable) == 1  # PITFALLS.md 2.3, 2.7
        return (order.index(c.backend), not capped,
                c.cores(usable, blas=layers.blas, openmp=layers.openmp), c.n_set)

    return min((item for item in eligible if item[1].n_jobs == most), key=key)[0]


def estimate(candidates, layers, *, signature, usable_cores, physical_cores, work=None,
             gil_enabled=None):
    """Choose the candidate rules expect to be fastest, timing nothing.

    Parameters
    ----------
    candidates : sequence of Config
        The resolved candidates, the as-written baseline first.
    layers : Layers
        From :func:`sktune._introspect.inspect_layers`.
    signature : dict
        :func:`sktune.workload.data_signature` output (``n_samples``,
        ``n_features``, ``nnz``...), optionally with ``"task"``.
    usable_cores, physical_cores : int
        Cores this process can use, and physical cores.
    work : dict, default=None
        :func:`work_facts` output; None when the work cannot be counted.
    gil_enabled : bool, default=None
        Whether the GIL is on; None reads it now (``sys._is_gil_enabled()``),
        since an extension imported since start-up may have turned it back on.
        With the GIL off, threading is preferred also at process sites.

    Returns
    -------
    estimate : Estimate
        ``index`` is always a valid position in ``candidates``.
    """
    note = _NOTE.format(what=f"the {len(candidates)} candidates" if len(candidates) > 1
                        else "the as-written configuration, the only candidate,")

    def answer(index, confidence, *reasons):
        return Estimate(index, (*reasons, note), confidence)

    if len(candidates) <= 1 or usable_cores <= 1:
        return answer(0, "medium", "Rule 'one choice': " + (
            "only one core is usable, so nothing can run in parallel."
            if usable_cores <= 1 else "the as-written configuration is the only candidate."))
    if layers.unknown:
        return answer(0, "low", "Rule 'unknown code': sktune knows nothing about "
                      f"{', '.join(layers.unknown)}, so it keeps the pipeline as written; "
                      "only a measurement can tell whether a change helps.")
    cells = _cells(signature)
    units = work["n_units"] if work else None
    if cells is not None and cells < SMALL_CELLS and (
            units is None or cells * units < LARGE_CELL_UNITS):
        return answer(0, "medium", f"Rule 'small data': {cells:,} data cells are few "
                      "enough that starting workers and threads costs more than it saves "
                      "(a 20-tree forest on 300x10 was 2x slower on 2 threads than on "
                      "one).")  # PITFALLS.md 8.4
    if layers.n_jobs_params:
        if units is not None and units < MIN_UNITS_PER_WORKER * 2:
            return answer(0, "medium", f"Rule 'little parallel work': {units} {work['unit']} "
                          f"cannot keep two workers busy with {MIN_UNITS_PER_WORKER} each.")
        target = usable_cores if units is None else min(
            usable_cores, units // MIN_UNITS_PER_WORKER)
        if gil_enabled is None:
            gil_enabled = _gil_now()
        index = _pick_parallel(candidates, layers, usable_cores, target, gil_enabled)
        if index is None:
            return answer(0, "low", "Rule 'joblib': no candidate sets n_jobs on a suitable "
                          "backend, so the pipeline is kept as written.")
        chosen = candidates[index]
        processes = "processes" in layers.joblib_hints
        why = ("its joblib call sites run in processes (searches, cross-validation)"
               if processes else "its joblib call sites run in threads (forests and co.)")
        count = (f"{units} {work['unit']} give each of {chosen.n_jobs} workers "
                 f"{units // chosen.n_jobs} or more" if units is not None
                 else "the amount of parallel work is unknown")
        # Threads at a process site only with the GIL off: no benchmark yet.
        free = not gil_enabled and chosen.backend == "threading" and processes
        return answer(
            index, "medium" if units is not None and not free else "low",
            f"Rule 'joblib {'processes' if processes else 'threads'}': {why}, and "
            f"{count}; {chosen.describe()} is expected to be fastest (the README "
            "benchmark measured n_jobs=2 best for a forest and for grid searches on "
            "2 cores).",
            *([f"The GIL is off (free-threaded Python), so threads run Python code in "
               f"parallel and {chosen.describe()} avoids starting worker processes "
               "(PITFALLS.md section 6); no benchmark has measured this yet."]
              if free else []),
            # PITFALLS.md 2.3, 2.7: nested native threads oversubscribe.
            *(["Native threads are capped per worker to avoid oversubscription."]
              if (layers.blas or layers.openmp)
              and _per_worker(chosen, layers, usable_cores) == 1 else []))
    if layers.openmp or layers.blas:
        which = {(True, False): "OpenMP uses", (False, True): "BLAS uses",
                 (True, True): "OpenMP and BLAS use"}[layers.openmp, layers.blas]
        # PITFALLS.md 1.3: scikit-learn's OpenMP uses the physical cores.
        return answer(0, "medium", f"Rule 'native threads only': {which} all cores by "
                      "default (scikit-learn's OpenMP the "
                      f"{physical_cores or usable_cores} physical ones), so the pipeline "
                      "is best as written (README benchmark: HistGradientBoosting and a "
                      "BLAS pipeline were fastest as written).")
    return answer(0, "medium", "Rule 'nothing parallel': no step uses joblib, OpenMP "
                  "or BLAS, so no setting can make it faster.")


# -- the answer: a hint from another machine, else the rules ----------------------

def _hint(store, key, candidates, fingerprint):
    """An estimate from another machine's wisdom, or None."""
    for entry in store.hints(key, exclude_fingerprint=fingerprint):
        try:
            other = entry.result()
        except Exception:  # noqa: BLE001 - a hint is optional, never fatal
            continue
        best = other.best
        if best not in candidates or other.recommendation.verdict == "estimated":
            continue
        summary = entry.data.get("machine_summary") or {}
        where = (f"{summary.get('cpu_model', 'another machine')}, "
                 f"{summary.get('usable_cores', '?')} usable cores")
        speed = ("" if other.recommendation.verdict != "faster"
                 else f" at {other.speedup} the as-written speed")
        return {"index": candidates.index(best), "confidence": "medium",
                "source": "hint",
                "reasons": (f"Estimated from wisdom imported from another machine "
                            f"({where}; {entry.data.get('created', '?')}), where "
                            f"{best.describe()} was measured as the best{speed}.",
                            "This machine may differ: profile with budget='quick' or "
                            "more to measure it here.")}
    return None


def estimated_result(estimator, workload, plan, store, key, workload_fields, settings):
    """A :class:`~sktune.ProfileResult` chosen without timing anything."""
    machine = Machine.detect(refresh_threadpools=False)
    candidates = list(plan.candidates)
    chosen = _hint(store, key, candidates, machine.stable_fingerprint)
    if chosen is None:
        rules = estimate(candidates, plan.layers, signature=workload.signature,
                         usable_cores=machine.usable_cores,
                         physical_cores=machine.physical_cores,
                         work=work_facts(plan.seeded))
        chosen = {"index": rules.index, "reasons": list(rules.reasons),
                  "confidence": rules.confidence, "source": "rules"}
    chosen["reasons"] = list(chosen["reasons"])
    return ProfileResult(
        candidates=candidates, records=[], equivalence={}, machine=machine,
        workload=workload_fields, excluded=plan.excluded, notes=plan.notes,
        search={"budget": "estimate", "elapsed_s": 0.0, "rounds": 0, "n_runs": 0,
                "stop_reason": "budget='estimate' times nothing",
                "interrupted": False},
        settings=settings, origin={"source": "estimate", "from": chosen["source"]},
        estimate=chosen)
