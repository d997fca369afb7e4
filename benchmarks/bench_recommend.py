"""Is sktune's recommendation as fast as the best configuration, for less effort?

For each public workload (synthetic data from scikit-learn's generators, one
per kind of parallelism: joblib threads, OpenMP, BLAS, nested joblib, none,
and a joblib-process grid search), in one process run, this script

1. profiles the whole configuration space with ``budget="exhaustive"``
   (every candidate, 25 interleaved repeats) and takes the candidate with the
   lowest median among those with status "ok": the *exhaustive best*;
2. profiles with ``budget="quick"`` and sktune's default ``budget="measure"``
   (racing search): their *picks*;
3. re-times the as-written configuration, both picks and the exhaustive
   best side by side: shuffled, interleaved rounds, one untimed warm-up
   call of a configuration just before each timed call of it, and
   ``gc.collect()`` before each timed call.

Every profile runs with ``wisdom=False`` and the default isolated worker.
It prints one row per workload with the side-by-side medians, the ratio
pick / exhaustive best (target for "measure" <= 1.05) and the profiling
time of each budget against ``"exhaustive"`` (target for "measure" <= 1/3).
A full run takes roughly 15 minutes on 2 cores; run it on a quiet machine::

    python benchmarks/bench_recommend.py                   # everything
    python benchmarks/bench_recommend.py --only forest,hgb --json out.json
    python benchmarks/bench_recommend.py --scale 0.05 --repeats 3   # smoke run
"""

import argparse
import gc
import json
import os
import random
import sys
import time
import traceback

import numpy as np
from sklearn.datasets import make_classification, make_regression
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

try:
    import sktune
except ImportError:  # a source checkout, not installed: use the tree's copy
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import sktune

#: Side-by-side rounds: with 9 the median ignores up to 4 disturbed runs.
DEFAULT_REPEATS = 9
#: Targets of the issue: recommended within 5% of the exhaustive best ...
TARGET_RATIO = 1.05
#: ... for at most a third of the exhaustive search's profiling time.
TARGET_COST = 1 / 3
#: Fewest rows a scaled-down workload gets, so that cv=5 still has both classes.
MIN_SAMPLES = 100


def _n(n_samples, scale):
    return max(MIN_SAMPLES, int(round(n_samples * scale)))


def _classification(n_samples, scale):
    return make_classification(n_samples=_n(n_samples, scale), n_features=20,
                               n_informative=10, random_state=0)


# Row counts: one as-written fit should take 0.2-1.0 s on 2 cores. Set from
# single fits on a 2-core AMD EPYC VM (scikit-learn 1.9.1, OpenBLAS 0.3.31),
# fewer rows than the sktune demo's where those took over 1 s there.
# That VM was shared: check them on the quiet machine (or use --scale).
def forest(scale):
    X, y = _classification(2500, scale)  # ~1.0 s sequential
    return RandomForestClassifier(n_estimators=100, random_state=0), X, y


def hgb(scale):
    X, y = _classification(20000, scale)  # ~0.75 s with 2 OpenMP threads
    return HistGradientBoostingClassifier(max_iter=100, random_state=0), X, y


def blas(scale):
    # 500 features rather than 300: there the fit went 0.58 s -> 0.39 s
    # from 1 to 2 BLAS threads, at 300 the gain was within noise.
    X, y = make_regression(n_samples=_n(20000, scale), n_features=500, noise=1.0,
                           random_state=0)
    pipe = make_pipeline(StandardScaler(), PCA(n_components=50, random_state=0), Ridge())
    return pipe, X, y


def nested(scale):
    X, y = _classification(2000, scale)  # ~1.0 s (1.25 s at 2500): 6 forests + refit
    search = GridSearchCV(RandomForestClassifier(n_estimators=30, random_state=0),
                          {"max_depth": [4, 8]}, cv=3)
    return search, X, y


def none(scale):
    X, y = _classification(10000, scale)  # ~0.3 s
    return make_pipeline(StandardScaler(), DecisionTreeClassifier(random_state=0)), X, y


def search(scale):
    X, y = _classification(4000, scale)  # ~0.35 s (0.27 s at 3000): 20 fits + refit
    grid = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
                        {"logisticregression__C": [0.01, 0.1, 1, 10]}, cv=5)
    return grid, X, y


#: name -> (kind, builder(scale) -> (estimator, X, y))
WORKLOADS = {
    "forest": ("joblib threads", forest),
    "hgb": ("OpenMP", hgb),
    "blas": ("BLAS-heavy", blas),
    "nested": ("nested joblib", nested),
    "none": ("nothing parallel", none),
    "search": ("joblib processes", search),
}


def _short(config):
    """A compact label: ``jobs=2/loky/inner=1``, ``blas=1``, ``as written``."""
    names = {"n_jobs": "jobs", "blas_threads": "blas", "openmp_threads": "omp",
             "inner_max_num_threads": "inner"}
    parts = [value if key == "backend" else f"{names[key]}={value}"
             for key, value in config.to_dict().items() if value is not None]
    return "/".join(parts) or "as written"


def _spread(times):
    q1, median, q3 = np.percentile(times, [25, 50, 75])
    return float((q3 - q1) / median) if median > 0 else 0.0


def exhaustive_best(result):
    """The 'ok' candidate with the lowest median (no noise rule, unlike .best)."""
    frame = result.summary()
    ok = frame[frame["status"] == "ok"]
    row = ok.loc[ok["median_s"].idxmin()]
    by_label = {str(c): c for c in result.candidates}
    return by_label[row["config"]], float(row["median_s"])


def _candidates(result):
    """Each candidate's status and profiled median, for the JSON dump."""
    frame = result.summary()
    return [{"config": r["config"], "status": r["status"], "n_repeats": int(r["n_repeats"]),
             "median_s": None if r["median_s"] != r["median_s"] else r["median_s"]}
            for r in frame.to_dict("records")]


def _fit(config, estimator, X, y):
    with config.apply():
        config.configure(estimator).fit(X, y)


def side_by_side(estimator, X, y, configs, n_repeats, rng):
    """Wall times of each distinct config, in shuffled interleaved rounds."""
    times = {config: [] for config in configs}
    for _ in range(n_repeats):
        order = list(times)
        rng.shuffle(order)
        for config in order:
            _fit(config, estimator, X, y)  # warm-up: this config's pool and caches
            gc.collect()
            start = time.perf_counter()
            _fit(config, estimator, X, y)
            times[config].append(time.perf_counter() - start)
    return times


#: The budgets whose picks are checked against the exhaustive best.
CHECKED = ("quick", "measure")


def run_workload(name, scale, n_repeats, rng):
    kind, build = WORKLOADS[name]
    estimator, X, y = build(scale)
    runs = {}
    for budget in ("exhaustive", *CHECKED):
        print(f"[{name}] {X.shape[0]}x{X.shape[1]}: budget={budget!r} ...",
              file=sys.stderr, flush=True)
        # wisdom=False: each budget measures; none answers from another's result.
        runs[budget] = sktune.profile(estimator, X, y, budget=budget, wisdom=False)
    full = runs["exhaustive"]
    best_config, _ = exhaustive_best(full)
    configs = {"as_written": sktune.Config(),
               **{budget: runs[budget].best for budget in CHECKED},
               "exhaustive_best": best_config}
    print(f"[{name}] side by side: {', '.join(_short(c) for c in configs.values())} "
          "...", file=sys.stderr, flush=True)
    distinct = list(dict.fromkeys(configs.values()))  # ordered, unlike a set
    times = side_by_side(estimator, X, y, distinct, n_repeats, rng)
    median = {k: float(np.median(times[c])) for k, c in configs.items()}
    row = {
        "workload": name, "kind": kind, "shape": list(X.shape),
        "configs": {k: c.to_dict() for k, c in configs.items()},
        "median_s": median,
        "spread": {k: _spread(times[c]) for k, c in configs.items()},
        "times_s": {k: times[c] for k, c in configs.items()},
        "exhaustive_s": full.search["elapsed_s"], "n_candidates": len(full.candidates),
        "exhaustive_search": full.search, "exhaustive_candidates": _candidates(full),
    }
    for budget in CHECKED:
        run = runs[budget]
        ratio = median[budget] / median["exhaustive_best"]
        cost = run.search["elapsed_s"] / full.search["elapsed_s"]
        row[budget] = {"ratio": ratio, "ratio_pass": ratio <= TARGET_RATIO,
                       "seconds": run.search["elapsed_s"], "cost": cost,
                       "cost_pass": cost <= TARGET_COST, "search": run.search,
                       "candidates": _candidates(run), "notes": run.notes,
                       "speedup": str(run.speedup)}
    return row


def _table(headers, rows):
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = [headers, ["-" * w for w in widths], *rows]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip()
                     for line in lines)


def report(rows):
    def timed(row, key):
        return f"{row['median_s'][key]:.3f} ({100 * row['spread'][key]:.0f}%)"

    headers = ["workload", "kind", "cands", "as written", "exhaustive best", "exh. s"]
    for budget in CHECKED:
        headers += [f"{budget} pick", "pick s", "pick/exh", f"{budget} s", "cost"]
    headers += ["measure: within 5%", "<= 1/3 time"]
    table = []
    for row in rows:
        if "error" in row:  # the message is printed below the table
            table.append([row["workload"], row["kind"], "ERROR"]
                         + [""] * (len(headers) - 3))
            continue
        line = [row["workload"], row["kind"], row["n_candidates"],
                timed(row, "as_written"),
                _short(sktune.Config(**row["configs"]["exhaustive_best"])),
                timed(row, "exhaustive_best")]
        for budget in CHECKED:
            run = row[budget]
            line += [_short(sktune.Config(**row["configs"][budget])), timed(row, budget),
                     f"{run['ratio']:.3f}", f"{run['seconds']:.1f}", f"{run['cost']:.2f}"]
        line += ["PASS" if row["measure"]["ratio_pass"] else "FAIL",
                 "PASS" if row["measure"]["cost_pass"] else "FAIL"]
        table.append(line)
    print(_table(headers, table))
    for row in rows:
        if "error" in row:
            print(f"{row['workload']}: {row['error']}")
    ok = [r for r in rows if "error" not in r]
    n_pass = sum(r["measure"]["ratio_pass"] and r["measure"]["cost_pass"] for r in ok)
    quick_within = sum(r["quick"]["ratio_pass"] for r in ok)
    print("\ncands: candidates in the space. Times: median seconds of the side-by-side "
          "runs (IQR/median).\npick/exh: the pick's side-by-side median over the "
          "exhaustive best's; cost: the profiling time of that budget over "
          "budget='exhaustive' (exh. s).")
    print(f"measure: {n_pass}/{len(rows)} workloads meet both targets (pick <= "
          f"{TARGET_RATIO:g} x exhaustive best, cost <= {TARGET_COST:.2f}); quick: "
          f"{quick_within}/{len(rows)} picks within {TARGET_RATIO:g}, cost "
          f"{_cost_range(ok, 'quick')}; load average at the end "
          f"{os.getloadavg()[0]:.2f}.")


def _cost_range(rows, budget):
    costs = [r[budget]["cost"] for r in rows]
    return f"{min(costs):.2f}-{max(costs):.2f}" if costs else "-"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS,
                        help=f"side-by-side repeats (default {DEFAULT_REPEATS})")
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help=f"comma-separated subset of {','.join(WORKLOADS)}")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every workload's n_samples (default 1.0)")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(WORKLOADS))
    if unknown or args.repeats < 1 or args.scale <= 0:
        parser.error(f"--only expects names among {sorted(WORKLOADS)} (got {unknown}); "
                     "--repeats and --scale must be positive")

    machine = sktune.Machine.detect()
    print(f"$ python {' '.join(sys.argv)}")
    print(f"machine: {machine.cpu_model}, {machine.usable_cores} usable cores "
          f"({machine.physical_cores} physical); load average {os.getloadavg()[0]:.2f}")
    print("versions: " + ", ".join(f"{k} {machine.versions.get(k)}" for k in
                                   ("sktune", "scikit-learn", "numpy", "joblib")))
    print(flush=True)

    rng = random.Random(0)  # the side-by-side order is reproducible
    rows = []
    for name in names:
        try:
            rows.append(run_workload(name, args.scale, args.repeats, rng))
        except Exception as exc:  # report the others; the traceback goes to stderr
            traceback.print_exc()
            rows.append({"workload": name, "kind": WORKLOADS[name][0],
                         "error": f"{type(exc).__name__}: {exc}"})
    report(rows)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"argv": sys.argv, "machine": machine.to_dict(), "rows": rows},
                      f, indent=1, default=str)
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
