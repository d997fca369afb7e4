"""How do the distributed engines compare with joblib's local backends?

For a few public workloads (synthetic data from scikit-learn's generators:
joblib threads, a grid search of many small tasks, one of few long tasks,
and one of tiny tasks), in one process run, this script runs one exhaustive
``sktune.profile`` per workload over

* the as-written configuration,
* joblib's loky and threading backends at ``n_jobs`` = the usable cores,
* ``engines=["dask", "ray", "intelex"]`` (those installed): local dask
  clusters on loopback that sktune starts (one per shape, workers x threads),
  ray's joblib backend in sktune's worker process, and scikit-learn-intelex
  twins of the steps it supports.

sktune interleaves the candidates in shuffled rounds, with warm-ups outside
the timings; ``ExhaustiveSearch`` times every candidate ``--repeats`` times
and cuts nothing off (a row whose status is not "ok" says so). It prints, per
workload, each configuration's median wall time, its spread (IQR/median), the
speedup over the as-written configuration with its 95% bootstrap interval,
and the extra time per joblib task against loky; then what starting each
engine cost (once per session, outside every timing), the engines that were
not run and why, and a summary line per workload naming the fastest of
loky / threading / dask / ray / intelex. Rows whose output differs from the
as-written output (intelex) are marked "DIFFERS", with how much. A full
run takes about 7-8 minutes on 2 cores (the smoke run below about 1 minute)::

    python benchmarks/bench_engines.py
    python benchmarks/bench_engines.py --only forest,rf_grid --repeats 9
    python benchmarks/bench_engines.py --only tiny --repeats 3      # smoke run
"""

import argparse
import os
import sys
import time
import traceback
from importlib import metadata

import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

try:
    import sktune
except ImportError:  # a source checkout, not installed: use the tree's copy
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import sktune
from sktune._stats import ratio_interval, spread
from sktune.search import ExhaustiveSearch

#: Timed repeats per configuration: with 7 the median ignores up to 3 disturbed runs.
DEFAULT_REPEATS = 7
#: Engines asked for; those not installed end up in ``result.excluded``/notes.
ENGINES = ["dask", "ray", "intelex"]
#: The search's budget (seconds): far above a full run, so nothing stops early.
BUDGET_S = 3600.0


def _classification(n):
    return make_classification(n_samples=n, n_features=20, n_informative=10,
                               random_state=0)


# Sizes: one as-written fit takes roughly 0.3-3 s on 2 cores (a shared 2-core
# Intel Xeon VM, scikit-learn 1.9.1); "tiny" is well below on purpose.
def forest():
    X, y = _classification(1500)  # 200 trees: 200 joblib tasks, prefers threads
    return RandomForestClassifier(n_estimators=200, random_state=0), X, y


def svc_grid():
    X, y = _classification(1200)  # 8 x 5 = 40 small tasks (+ refit), prefers processes
    grid = GridSearchCV(make_pipeline(StandardScaler(), SVC()),
                        {"svc__C": [0.1, 1, 10, 100], "svc__gamma": ["scale", 0.01]}, cv=5)
    return grid, X, y


def rf_grid():
    # 4 x 3 = 12 long tasks (+ refit) of sequential forests. Not HistGradientBoosting:
    # its OpenMP threads spin against the other load of a shared 2-core machine
    # (one fit: 0.4 s on 1 thread, 4 s on 2 there), which swamped everything else.
    X, y = _classification(2000)
    grid = GridSearchCV(RandomForestClassifier(n_estimators=40, random_state=0),
                        {"max_depth": [8, None], "max_features": ["sqrt", 0.5]}, cv=3)
    return grid, X, y


def tiny():
    X, y = _classification(200)  # 8 x 5 = 40 tasks of a few ms: overhead dominates
    grid = GridSearchCV(LogisticRegression(max_iter=100),
                        {"C": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3]}, cv=5)
    return grid, X, y


#: name -> (kind, joblib tasks per fit, builder() -> (estimator, X, y))
WORKLOADS = {
    "forest": ("threads-preferring, RandomForest (intelex)", 200, forest),
    "svc_grid": ("many small tasks, grid of SVC (intelex)", 40, svc_grid),
    "rf_grid": ("few long tasks, grid of RandomForest (intelex)", 12, rf_grid),
    "tiny": ("tiny tasks, grid of LogisticRegression", 40, tiny),
}


def _short(config):
    """A compact label: ``jobs=2/loky``, ``dask 2x1``, ``intelex/omp=1``, ``as written``."""
    names = {"n_jobs": "jobs", "blas_threads": "blas", "openmp_threads": "omp",
             "inner_max_num_threads": "inner"}
    parts = []
    for key, value in config.to_dict().items():
        if value is None or value == () or value == []:
            continue
        if key == "backend":
            parts.append(str(value))
        elif key == "cluster":
            parts.append("x".join(str(v) for v in value))
        elif key == "intelex_steps":
            parts.insert(0, "intelex")
        elif key in names:
            parts.append(f"{names[key]}={value}")
        else:
            parts.append(f"{key}={value}")
    return "/".join(parts) or "as written"


def _engine(config):
    """Which family a configuration belongs to, for the summary line."""
    if getattr(config, "intelex_steps", None):
        return "intelex"
    if config.backend in ("dask", "ray"):
        return config.backend
    if config.backend in ("loky", "threading"):
        return config.backend
    return "as written" if config == sktune.Config() else "other"


def _table(headers, rows):
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = [headers, ["-" * w for w in widths], *rows]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip()
                     for line in lines)


def run_workload(name, repeats):
    kind, n_tasks, build = WORKLOADS[name]
    estimator, X, y = build()
    cores = sktune.Machine.detect().usable_cores
    space = sktune.ConfigSpace(n_jobs=[cores], backend=["loky", "threading"])
    print(f"[{name}] {X.shape[0]}x{X.shape[1]}: profiling ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    result = sktune.profile(estimator, X, y, space=space, engines=ENGINES,
                            strategy=ExhaustiveSearch(repeats=repeats), budget=BUDGET_S,
                            wisdom=False)
    elapsed = time.perf_counter() - started
    stats = result.stats
    base = next(s for s in stats if s.index == 0)
    loky = next((s for s in stats if s.config.backend == "loky" and s.wall
                 and not getattr(s.config, "intelex_steps", None)), None)
    rows, timed = [], {}
    for s in stats:
        wall = list(s.wall)
        same, how = result.equivalence.get(s.index, (True, ""))
        detail = how if not same else (getattr(s, "detail", "") or how)
        notes = ["DIFFERS" if not same else s.status]
        if (getattr(s.config, "intelex_steps", None) or not same or s.status != "ok") \
                and detail:
            notes.append(detail)
        if not wall:
            rows.append([_short(s.config), "-", "-", "-", "-", "; ".join(notes)])
            continue
        timed[s.index] = wall
        median = float(np.median(wall))
        speedup = "1 (baseline)" if s.index == 0 else str(ratio_interval(base.wall, wall))
        per_task = "-"
        if loky is not None and s.index != loky.index:
            per_task = f"{1000 * (median - np.median(loky.wall)) / n_tasks:+.1f}"
        rows.append([_short(s.config), f"{median:.3f}", f"{100 * spread(wall):.0f}%",
                     speedup, per_task, "; ".join(notes)])
    for config, reason in result.excluded:
        rows.append([_short(config), "-", "-", "-", "-", f"excluded: {reason}"])

    print(f"## {name}: {kind}; {X.shape[0]}x{X.shape[1]}, {n_tasks} joblib tasks per fit; "
          f"{len(timed)} configurations timed x {repeats}, profile took {elapsed:.0f} s")
    print(_table(["configuration", "median s", "spread", "speedup [95% CI]",
                  "vs loky ms/task", "status / notes"], rows))
    startup = [n for n in result.notes if " took " in n and "outside every timing" in n]
    other = [n for n in result.notes if n not in startup]
    for note in startup:
        print(f"  start-up: {note}")
    for note in other:
        print(f"  note: {note}")
    search = result.search
    print(f"  search: {search.get('stop_reason', '')} (budget {search.get('budget')}, "
          f"{search.get('elapsed_s', 0):.0f} s)")
    print(flush=True)

    # The fastest per engine family, among those timed to the end ("differs"
    # included: intelex's output may differ slightly; the summary says so).
    best = {}
    for s in stats:
        if s.status not in ("ok", "differs") or not s.wall or s.index == 0:
            continue
        fam = _engine(s.config)
        median = float(np.median(s.wall))
        if fam not in best or median < best[fam][1]:
            best[fam] = (s, median)
    return {"name": name, "base": float(np.median(base.wall)), "best": best,
            "stats": stats, "base_wall": base.wall, "startup": startup,
            "elapsed": elapsed}


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help=f"comma-separated subset of {','.join(WORKLOADS)}")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS,
                        help=f"timed repeats per configuration (default {DEFAULT_REPEATS})")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(WORKLOADS))
    if unknown or args.repeats < 3:
        parser.error(f"--only expects names among {sorted(WORKLOADS)} (got {unknown}); "
                     "--repeats >= 3")

    machine = sktune.Machine.detect()
    print(f"$ python {' '.join(sys.argv)}")
    print(f"machine: {machine.cpu_model}, {machine.usable_cores} usable cores "
          f"({machine.physical_cores} physical); load average {os.getloadavg()[0]:.2f}")
    print("versions: " + ", ".join(
        f"{k} {machine.versions.get(k)}" for k in ("sktune", "scikit-learn", "numpy",
                                                   "joblib"))
          + ", " + ", ".join(f"{d} {_version(d)}" for d in
                             ("dask", "distributed", "ray", "scikit-learn-intelex")))
    print(flush=True)

    started = time.perf_counter()
    results, failed = [], []
    for name in names:
        try:
            results.append(run_workload(name, args.repeats))
        except Exception as exc:  # report the others; the traceback goes to stderr
            traceback.print_exc()
            failed.append(f"{name}: ERROR {type(exc).__name__}: {exc}")
            print(f"## {name}: ERROR {type(exc).__name__}: {exc}\n", flush=True)

    print("Times: median seconds of the timed repeats (spread: IQR/median). speedup: "
          "as-written median / this median, 95% bootstrap interval (above 1 is faster).\n"
          "vs loky ms/task: (this median - loky's) / joblib tasks per fit, the engine's "
          "extra cost per task (negative: faster). Start-up costs are outside every "
          "timing.\n")
    print("Fastest per workload (timed to the end; the best of each family, "
          "fastest first):")
    for r in results:
        best = r["best"]
        if not best:
            print(f"  {r['name']}: nothing ran to the end")
            continue
        ranked = sorted(best.items(), key=lambda kv: kv[1][1])
        parts = [f"{fam} {_short(s.config)} {m:.3f} s ({r['base'] / m:.2f}x"
                 + (", output differs)" if s.status == "differs" else ")")
                 for fam, (s, m) in ranked]
        print(f"  {r['name']}: fastest {ranked[0][0]} ({_short(ranked[0][1][0].config)}); "
              f"as written {r['base']:.3f} s; " + " < ".join(parts))
    for line in failed:
        print(f"  {line}")
    print(f"\nTotal {time.perf_counter() - started:.0f} s; load average at the end "
          f"{os.getloadavg()[0]:.2f}.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
