"""Compiled transformers: when no thread setting helps, compile the slow step.

The user story: a regression pipeline scales its features, clips them with a
function written as a Python loop, and fits a Ridge. Threads cannot help the
loop (it holds the GIL). ``profile(..., accelerate=True)`` also measures the
pipeline with compiled substitutes: scikit-learn's StandardScaler replaced by
``sktune.transformers.StandardScaler`` (one fused pass over memory), and the
FunctionTransformer's loop compiled by Numba after checking on a sample of X
that it computes the same thing. It recommends a substitute only when the
output matches and it is faster beyond noise; ``configure`` applies it.

The same compilers are there to use directly: ``sktune.transformers`` drops
in by import, and ``sktune.jit_transformer`` turns a row function into a
transformer.

Run: ``python examples/compiled_transformers.py`` (about 30 s on 2 cores;
``SKTUNE_EXAMPLES_SMALL=1`` shrinks the data to a smoke test of a few
seconds).
"""

import numpy as np
from _small import scaled
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import sktune


def clip_outliers(X):
    """Clip each value to 3 standard units, one element at a time."""
    out = np.empty_like(X)
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            value = X[i, j]
            out[i, j] = min(max(value, -3.0), 3.0)
    return out


def row_summary(row):
    """Per-row features: largest absolute value and the number of sign changes."""
    out = np.empty(2)
    largest, changes = 0.0, 0
    for j in range(row.shape[0]):
        largest = max(largest, abs(row[j]))
        if j > 0 and (row[j - 1] < 0) != (row[j] < 0):
            changes += 1
    out[0], out[1] = largest, changes
    return out


n_rows = scaled(200_000, 2000)
rng = np.random.default_rng(0)
X = rng.standard_t(df=3, size=(n_rows, 16))
y = X @ rng.normal(size=16) + rng.normal(size=n_rows)

pipeline = make_pipeline(StandardScaler(), FunctionTransformer(clip_outliers), Ridge())
result = sktune.profile(pipeline, X, y, budget="quick", accelerate=True)
print(result)
fast = result.best.configure(pipeline)   # an unfitted clone, substitutes applied
print("Configured:", fast)

# Directly: a drop-in scaler, and a row function compiled into a transformer.
scaler = sktune.transformers.StandardScaler().fit(X)
summary = sktune.jit_transformer(row_summary, kind="rowwise").fit(X)
print(summary.transform(X[:3]))
print(f"row_summary compiled by {summary.engine_} in "
      f"{summary.compile_info_['seconds']:.2f} s "
      f"({'loaded from' if summary.compile_info_['cached'] else 'written to'} the disk cache)")
