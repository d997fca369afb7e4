"""Which step of a pipeline is slow, and how much memory does it take?

The user story: sktune said the pipeline is as fast as it gets on this
machine; the next question is which step to work on. The default profilers
time every step (``result.steps``) and measure the memory of the process
tree; two costly ones, cProfile ("hotspots") and per-step Python allocation
peaks ("tracemalloc"), run once each, untimed, on the configuration as
written and on the recommended one.

Here one step is a ``FunctionTransformer`` whose function loops in Python:
sktune names it as the slowest step and suggests compiling it with Numba.

Run: ``python examples/where_time_goes.py`` (about 15 s on 2 cores;
``SKTUNE_EXAMPLES_SMALL=1`` shrinks the data to a smoke test of a few
seconds).
"""

import math

import numpy as np
from _small import scaled
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

import sktune


def squash(X):
    """A feature transform written as a Python loop, one element at a time."""
    out = np.empty_like(X)
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            out[i, j] = math.tanh(X[i, j])
    return out


rng = np.random.default_rng(0)
X = rng.normal(size=(scaled(100_000, 5000), 5))
X[:, 4] = rng.integers(0, 4, size=len(X))  # a categorical column
y = (X[:, 0] + X[:, 1] > 0).astype(int)

pipeline = make_pipeline(
    ColumnTransformer([("num", StandardScaler(), [0, 1, 2, 3]),
                       ("cat", OneHotEncoder(), [4])]),
    PCA(n_components=3),
    FunctionTransformer(squash),
    LogisticRegression(),
)

result = sktune.profile(
    pipeline, X, y, budget="quick",
    profilers=["wall", "cpu", "memory", "steps", "threads", "hotspots", "tracemalloc"])
print(result)

# The tidy tables behind the text, for a notebook or a report.
steps = result.steps
print(steps[steps["config"] == "as written"]
      [["step", "method", "calls", "self_seconds", "share", "alloc_peak_bytes"]]
      .sort_values("self_seconds", ascending=False).head(6).to_string(index=False))
print(result.hotspot_libraries.to_string(index=False))
