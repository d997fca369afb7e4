"""Answer fast, survive a crash, and never measure the same thing twice.

A nightly job retrains the same GridSearchCV on the same data shape every
night. This script shows what sktune does for it:

1. ``sktune.recommend`` answers without timing anything (rules about the
   estimator and the machine, flagged as an estimate);
2. ``profile(budget="quick")`` measures, racing the candidates, each trial in
   a worker process; one candidate here crashes its process (a step that
   segfaults under the threading backend, standing in for a buggy native
   extension), and is recorded as failed with its cause while profiling goes on;
3. the same profile again is answered from wisdom, in milliseconds.

The wisdom cache lives in a folder of its own here (``examples_output/``),
so running the script does not touch your ``~/.cache/sktune``.
"""

import os
import signal
import threading
import time
from pathlib import Path

from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

OUTPUT = Path("examples_output").resolve()
os.environ["SKTUNE_CACHE_DIR"] = str(OUTPUT / "cache")  # before profiling

from _small import BUDGET, scaled  # noqa: E402

import sktune  # noqa: E402


def fragile(X):
    """Identity, except that it crashes its process when called off the main thread.

    Under joblib's threading backend the grid search fits in worker threads;
    under loky, in the main thread of worker processes.
    """
    if threading.current_thread() is not threading.main_thread():
        os.kill(os.getpid(), signal.SIGSEGV)
    return X


X, y = make_classification(n_samples=scaled(4000, 600), n_features=20, random_state=0)
search = GridSearchCV(
    make_pipeline(FunctionTransformer(fragile), StandardScaler(),
                  LogisticRegression(max_iter=500)),
    {"logisticregression__C": [0.01, 0.1, 1.0, 10.0]}, cv=scaled(5, 3))
space = sktune.ConfigSpace(n_jobs=[2], backend=["loky", "threading"])

# 1. No timing at all.
estimate = sktune.recommend(search, X, y, space=space)
print(f"Estimate: {estimate.best.describe()} ({estimate.recommendation.verdict})")
print(f"  {estimate.recommendation.explanation}\n")

# 2. Measured, racing; the threading candidate kills its worker process.
start = time.perf_counter()
result = sktune.profile(search, X, y, space=space, budget=BUDGET)
print(result)
crashed = result.summary().set_index("config").loc["n_jobs=2, backend=threading"]
print(f"\nThe threading candidate: {crashed['status']}: {crashed['detail'][:90]}...")
print(f"Measured in {time.perf_counter() - start:.1f} s; the worker was replaced "
      f"{result.search['worker_restarts']} time(s).")

# 3. The same workload again: from wisdom.
start = time.perf_counter()
again = sktune.profile(search, X, y, space=space, budget=BUDGET)
print(f"Again: answered from {again.origin['source']} in "
      f"{(time.perf_counter() - start) * 1000:.0f} ms: {again.best.describe()}.")
