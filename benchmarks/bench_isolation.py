"""Do trials timed in the isolated worker agree with trials timed in process?

``profile(isolation="process")`` (the default) times each trial inside a
worker process that holds the data memory-mapped; ``isolation="none"``
times it in the calling process. For a few public workloads (synthetic
data from scikit-learn's generators) and a fixed set of configurations,
this script runs both modes alternately (none, process, none, process ...,
``--pairs`` times), each an exhaustive search of the same repeats, pools
the timed repeats of each configuration per mode, and prints the ratio of
medians isolated / in process with its 95% bootstrap interval. Agreement
means the interval contains 1 or the ratio is within 5% (sktune's
``min_effect``, the size of the noise between separate runs)::

    python benchmarks/bench_isolation.py
    python benchmarks/bench_isolation.py --only forest --pairs 1 --repeats 5   # smoke run
"""

import argparse
import os
import sys

import numpy as np
from sklearn.datasets import make_classification, make_regression
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

try:
    import sktune
except ImportError:  # a source checkout, not installed: use the tree's copy
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import sktune
from sktune._stats import ratio_interval, spread
from sktune.search import ExhaustiveSearch

#: Within this relative difference the two modes agree (sktune's min_effect).
TOLERANCE = 0.05
C = sktune.Config


def _classification(n):
    return make_classification(n_samples=n, n_features=20, n_informative=10,
                               random_state=0)


#: name -> (builder, space): each space holds 2-4 configurations, so that
#: joblib threads, loky processes, OpenMP and BLAS are all covered.
WORKLOADS = {
    "forest": (lambda: (RandomForestClassifier(n_estimators=100, random_state=0),
                        *_classification(2500)),
               sktune.ConfigSpace(n_jobs=[2], backend=["threading", "loky"])),
    "hgb": (lambda: (HistGradientBoostingClassifier(max_iter=100, random_state=0),
                     *_classification(20000)),
            sktune.ConfigSpace(openmp_threads=[1])),
    "blas": (lambda: (make_pipeline(StandardScaler(), PCA(n_components=50, random_state=0),
                                    Ridge()),
                      *make_regression(n_samples=20000, n_features=500, random_state=0)),
             sktune.ConfigSpace(blas_threads=[1])),
    "search": (lambda: (GridSearchCV(make_pipeline(StandardScaler(),
                                                   LogisticRegression(max_iter=500)),
                                     {"logisticregression__C": [0.01, 0.1, 1, 10]}, cv=5),
                        *_classification(4000)),
               sktune.ConfigSpace(n_jobs=[2], backend=["loky"])),
}


def _timings(result):
    """Timed repeats per configuration label."""
    out = {}
    for s in result.stats:
        if s.status == "ok":
            out.setdefault(str(s.config), []).extend(s.wall)
    return out


def run(name, pairs, repeats):
    build, space = WORKLOADS[name]
    estimator, X, y = build()
    pooled = {"none": {}, "process": {}}
    for i in range(pairs):
        for mode in ("none", "process"):
            print(f"[{name}] pair {i + 1}/{pairs}, isolation={mode!r} ...",
                  file=sys.stderr, flush=True)
            result = sktune.profile(estimator, X, y, space=space, wisdom=False,
                                    isolation=mode, strategy=ExhaustiveSearch(repeats))
            for label, times in _timings(result).items():
                pooled[mode].setdefault(label, []).extend(times)
    rows = []
    for label in pooled["none"]:
        a, b = pooled["process"].get(label), pooled["none"][label]
        if not a:
            continue
        ci = ratio_interval(a, b)
        agree = ci.low <= 1 <= ci.high or abs(ci.value - 1) <= TOLERANCE
        rows.append([name, label, f"{np.median(b):.3f} ({100 * spread(b):.0f}%)",
                     f"{np.median(a):.3f} ({100 * spread(a):.0f}%)", str(ci),
                     "yes" if agree else "NO"])
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--pairs", type=int, default=2,
                        help="alternations of in-process and isolated runs (default 2)")
    parser.add_argument("--repeats", type=int, default=9,
                        help="timed repeats per configuration and run (default 9)")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    if set(names) - set(WORKLOADS) or args.pairs < 1 or args.repeats < 3:
        parser.error(f"--only among {sorted(WORKLOADS)}; --pairs >= 1; --repeats >= 3")
    machine = sktune.Machine.detect()
    print(f"$ python {' '.join(sys.argv)}")
    print(f"machine: {machine.cpu_model}, {machine.usable_cores} usable cores; "
          f"load average {os.getloadavg()[0]:.2f}\n", flush=True)
    rows = [row for name in names for row in run(name, args.pairs, args.repeats)]
    headers = ["workload", "configuration", "in process s", "isolated s",
               "isolated / in process [95% CI]", "agree"]
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    for line in [headers, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip())
    n_agree = sum(r[-1] == "yes" for r in rows)
    print(f"\nTimes: median seconds over {args.pairs} x {args.repeats} timed repeats per "
          "mode (IQR/median). Agree: the interval contains 1, or the ratio is within "
          f"{TOLERANCE:.0%}.\n{n_agree}/{len(rows)} configurations agree; load average "
          f"at the end {os.getloadavg()[0]:.2f}.")
    return 0 if n_agree == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
