"""Does a claimed speedup survive a re-run? Measure it on built-in workloads.

:func:`calibrate` profiles each built-in workload in a fresh Python process
(the way a user's script runs it: ``sktune.profile`` with its defaults,
wisdom off), then re-measures the recommendation ``reruns`` times, each in
another fresh process, as a user would run it afterwards::

    with best.apply():
        best.configure(estimator).fit(X, y)

interleaved with the pipeline as written (a warm-up of each, then shuffled
rounds). It reports the fraction of re-runs that land inside the claimed
interval, how much the claims exceed what the re-runs measured, and the
machine's between-run noise: the standard deviation of the log of the
re-measured ratio across independent re-runs of one workload, pooled over
the workloads. :func:`sktune._run_noise.save_run_noise` keeps that figure in the cache
folder, where :func:`sktune.profile` reads it for its intervals
(:func:`sktune._stats.speedup_interval`); nothing is written elsewhere.

This is pyperf's and FFTW's attitude (the machine's noise is something to
measure, not to assume) applied to the claim a user acts on. The workload
processes use only the public API, so the same module measures an older
sktune for a before-and-after comparison (``benchmarks/bench_calibration.py``).
"""

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

from ._run_noise import save_run_noise
from ._validation import (
    NON_NEGATIVE_INT,
    POSITIVE_INT,
    POSITIVE_SECONDS,
    names_among,
    validated,
)

__all__ = ["RERUNS", "RERUN_REPEATS", "WORKLOADS", "Calibration", "calibrate",
           "save_run_noise", "summarise"]

#: Independent re-runs of each recommendation.
RERUNS = 3
#: Timed rounds of one re-run (after one warm-up of each configuration): as
#: many as a user would time by hand, and as the issue's re-runs used.
RERUN_REPEATS = 5


def _python_loop(X):
    """A row-wise Python loop: nothing here runs in parallel or in BLAS."""
    out = np.empty_like(X)
    for i in range(X.shape[0]):
        row = X[i]
        out[i] = [math.tanh(v) for v in row]
    return out


def _classification(n_samples, n_features, seed=0):
    from sklearn.datasets import make_classification

    return make_classification(n_samples=n_samples, n_features=n_features,
                               n_informative=min(10, n_features), random_state=seed)


def _forest(scale):
    from sklearn.ensemble import RandomForestClassifier

    return (RandomForestClassifier(n_estimators=100, random_state=0),
            *_classification(int(3000 * scale), 20))


def _hgb(scale):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return (HistGradientBoostingClassifier(max_iter=60, early_stopping=False,
                                           random_state=0),
            *_classification(int(20000 * scale), 20))


def _logreg(scale):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=300), *_classification(int(20000 * scale), 120)


def _logreg_grid(scale):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    return (GridSearchCV(LogisticRegression(max_iter=300),
                         {"C": [0.01, 0.1, 1.0, 10.0]}, cv=3),
            *_classification(int(6000 * scale), 100))


def _kmeans(scale):
    from sklearn.cluster import KMeans

    X, _ = _classification(int(40000 * scale), 20)
    return KMeans(n_clusters=8, n_init=3, random_state=0), X, None


def _pca_ridge(scale):
    from sklearn.datasets import make_regression
    from sklearn.decomposition import PCA
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = make_regression(n_samples=int(40000 * scale), n_features=400, random_state=0)
    return make_pipeline(StandardScaler(), PCA(n_components=50, random_state=0),
                         Ridge()), X, y


def _python_pipeline(scale):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    return (make_pipeline(FunctionTransformer(_python_loop), LogisticRegression()),
            *_classification(int(40000 * scale), 20))


def _hgb_grid(scale):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import GridSearchCV

    return (GridSearchCV(HistGradientBoostingClassifier(max_iter=30, early_stopping=False,
                                                        random_state=0),
                         {"learning_rate": [0.05, 0.1]}, cv=3),
            *_classification(int(4000 * scale), 20))


#: The built-in workloads: name -> (what runs in parallel, builder(scale)).
#: Each fit takes about 0.1-0.6 s on a 2-core machine at scale 1.
WORKLOADS = {
    "forest": ("joblib threads", _forest),
    "hgb": ("OpenMP", _hgb),
    "logreg": ("BLAS", _logreg),
    "logreg_grid": ("joblib processes + BLAS", _logreg_grid),
    "kmeans": ("OpenMP + BLAS", _kmeans),
    "pca_ridge": ("two BLAS libraries", _pca_ridge),
    "python_loop": ("nothing parallel", _python_pipeline),
    "hgb_grid": ("joblib processes + OpenMP", _hgb_grid),
}


# -- the child processes ----------------------------------------------------

def _profile_child(name, scale, budget):
    from ._profile import profile

    estimator, X, y = WORKLOADS[name][1](scale)
    started = time.perf_counter()
    result = profile(estimator, X, y, budget=budget, wisdom=False)
    elapsed = time.perf_counter() - started
    base = result.stats[0]
    return {"best": result.best.to_dict(), "best_text": result.best.describe(),
            "speedup": result.speedup.to_dict(), "verdict": result.recommendation.verdict,
            "profile_s": elapsed, "baseline_s": base.median,
            "n_candidates": len(result.candidates),
            "calls": elapsed / base.median if base.wall else None,
            "stop_reason": result.search.get("stop_reason"),
            "caveats": list(result.recommendation.caveats)}


def _rerun_child(name, scale, config, repeats, seed):
    import gc

    from .space import Config

    estimator, X, y = WORKLOADS[name][1](scale)
    arms = {"as_written": Config(), "best": Config.from_dict(config)}

    def fit(arm):
        with arms[arm].apply():
            arms[arm].configure(estimator).fit(X, y)

    times = {arm: [] for arm in arms}
    for arm in arms:
        fit(arm)  # warm-up: pools, caches, imports
    rng = np.random.default_rng(seed)
    for _ in range(repeats):
        for arm in rng.permutation(list(arms)):
            gc.collect()
            start = time.perf_counter()
            fit(arm)
            times[arm].append(time.perf_counter() - start)
    return {"times": times,
            "ratio": float(np.median(times["as_written"]) / np.median(times["best"]))}


def _child_main():
    """Entry point of a child process: a JSON request on stdin, JSON on stdout."""
    request = json.loads(sys.stdin.read())
    mode = request.pop("mode")
    answer = (_profile_child if mode == "profile" else _rerun_child)(**request)
    sys.stdout.write("\n" + json.dumps(answer) + "\n")


def _in_child(request, timeout):
    """Run one request in a fresh interpreter; its last stdout line is the answer."""
    code = "from sktune.calibration import _child_main; _child_main()"
    done = subprocess.run([sys.executable, "-c", code], input=json.dumps(request),
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if done.returncode != 0:
        raise RuntimeError(f"the {request['mode']} process of {request['name']!r} failed "
                           f"(exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the parent -------------------------------------------------------------

@dataclass(frozen=True)
class Calibration:
    """What :func:`calibrate` measured.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per re-run: ``workload``, ``kind``, ``best`` (the pick, in
        words), ``claimed``, ``low``, ``high`` (the claimed speedup and its
        interval), ``measured`` (the re-run's ratio of medians, as written
        over the pick), ``inside``, ``over_claim`` (claimed over measured,
        minus 1), ``profile_s`` and ``calls`` (the profile's time, in
        seconds and in as-written fits).
    coverage : float
        Fraction of re-runs inside the claimed interval.
    median_over_claim : float
        Median of ``over_claim`` over the workloads (of each workload's
        median re-run).
    run_noise : float
        Between-run noise: pooled standard deviation of the log of the
        re-measured ratio across the re-runs of each workload.
    narrowest : float
        The narrowest claimed interval's half-width on a log scale
        (``log(high / low) / 2``), to set against ``run_noise``.
    """

    table: object
    coverage: float
    median_over_claim: float
    run_noise: float
    narrowest: float

    def __str__(self):
        lines = [f"{'workload':<12} {'kind':<26} {'pick':<34} {'claimed [95%]':>22} "
                 f"{'re-runs':>18} {'in':>4} {'calls':>6}"]
        for name, rows in self.table.groupby("workload", sort=False):
            first = rows.iloc[0]
            claim = f"{first.claimed:.2f}x [{first.low:.2f}, {first.high:.2f}]"
            reruns = ", ".join(f"{m:.2f}" for m in rows.measured)
            calls = "-" if first.calls is None or first.calls != first.calls \
                else f"{first.calls:.0f}"
            lines.append(f"{name:<12} {first.kind:<26} {first.best[:34]:<34} {claim:>22} "
                         f"{reruns:>18} {int(rows.inside.sum())}/{len(rows)} {calls:>6}")
        lines.append(f"Re-runs inside the claimed interval: {self.coverage:.0%} of "
                     f"{len(self.table)}; median over-claim {self.median_over_claim:+.1%}; "
                     f"between-run noise {self.run_noise:.1%} (log sd); narrowest "
                     f"interval +-{self.narrowest:.1%}.")
        return "\n".join(lines)


@validated({"workloads": [None, names_among(WORKLOADS)], "reruns": [POSITIVE_INT],
            "repeats": [POSITIVE_INT], "budget": [str, POSITIVE_SECONDS],
            "scale": [POSITIVE_SECONDS], "seed": [NON_NEGATIVE_INT],
            "timeout": [POSITIVE_SECONDS], "progress": [None, callable]})
def calibrate(workloads=None, *, reruns=RERUNS, repeats=RERUN_REPEATS, budget="measure",
              scale=1.0, seed=0, timeout=900, progress=None):
    """Profile built-in workloads and re-measure each recommendation independently.

    Parameters
    ----------
    workloads : list of str, default=None
        Names from :data:`WORKLOADS`; None runs them all.
    reruns : int, default=3
        Independent re-runs of each recommendation, each in a fresh process.
    repeats : int, default=5
        Interleaved timed rounds of each re-run.
    budget : str or float, default="measure"
        The ``budget`` of each profile.
    scale : float, default=1.0
        Multiplies the rows of every workload (``0.1`` for a smoke run).
    seed : int, default=0
    timeout : float, default=900
        Seconds after which one child process is stopped.
    progress : callable, default=None
        Called with one line of text before each step.

    Returns
    -------
    calibration : Calibration
    """
    import pandas as pd

    names = list(WORKLOADS) if workloads is None else list(workloads)
    say = progress or (lambda line: None)
    rows = []
    for name in names:
        say(f"[{name}] profiling ...")
        claim = _in_child({"mode": "profile", "name": name, "scale": scale,
                           "budget": budget}, timeout)
        for k in range(reruns):
            say(f"[{name}] re-run {k + 1}/{reruns} of {claim['best_text']} ...")
            rerun = _in_child({"mode": "rerun", "name": name, "scale": scale,
                               "config": claim["best"], "repeats": repeats,
                               "seed": seed + k}, timeout)
            speedup = claim["speedup"]
            rows.append({
                "workload": name, "kind": WORKLOADS[name][0], "best": claim["best_text"],
                "claimed": speedup["value"], "low": speedup["low"],
                "high": speedup["high"], "measured": rerun["ratio"],
                "inside": speedup["low"] <= rerun["ratio"] <= speedup["high"],
                "over_claim": speedup["value"] / rerun["ratio"] - 1,
                "profile_s": claim["profile_s"], "calls": claim["calls"],
                "verdict": claim["verdict"], "stop_reason": claim["stop_reason"],
                "n_candidates": claim["n_candidates"], "times": rerun["times"]})
    table = pd.DataFrame(rows)
    return Calibration(table=table, **summarise(table))


def summarise(table):
    """Coverage, median over-claim, between-run noise and narrowest interval of
    a :class:`Calibration` table (a pure function, tested on fixed tables)."""
    logs = table.assign(log_measured=np.log(table.measured))
    variances = logs.groupby("workload").log_measured.var(ddof=1).dropna()
    per_workload = logs.groupby("workload").agg(claimed=("claimed", "first"),
                                                measured=("measured", "median"))
    half = np.log(table.high / table.low) / 2
    return {"coverage": float(table.inside.mean()),
            "median_over_claim": float(np.median(per_workload.claimed
                                                 / per_workload.measured - 1)),
            "run_noise": float(np.sqrt(variances.mean())) if len(variances) else math.nan,
            "narrowest": float(half.min())}
