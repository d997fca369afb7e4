"""Should this random forest run with ``n_jobs``, and on which backend?

The user story: a 100-tree ``RandomForestClassifier`` is written without
``n_jobs``, so it fits its trees one after another on one core. Forests
parallelise over trees with joblib threads (the trees release the GIL), so
``n_jobs=2`` should help on 2 cores, but by how much, and is loky or
multiprocessing better than threads here? sktune measures each candidate
interleaved with the forest as written and answers with a speedup and its
95% interval (1.7x for ``sktune demo``, the same forest, in the README). When
the interval includes 1 (small data, or a machine busy with other work), it
keeps the forest as written and says why.

What the user does next: fit under the recommended configuration, as below,
or copy its ``n_jobs`` into their code. ``result.best.configure`` returns an
unfitted clone with ``n_jobs`` set; the forest the user wrote is untouched.

Run: ``python examples/random_forest_n_jobs.py`` (about 40 s on 2 cores;
``SKTUNE_EXAMPLES_SMALL=1`` shrinks the data and the forest to a smoke test of
a few seconds).
"""

from _small import BUDGET, scaled
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

import sktune

X, y = make_classification(n_samples=scaled(4000, 1500), n_features=20, random_state=0)
forest = RandomForestClassifier(n_estimators=scaled(100, 40), random_state=0)

result = sktune.profile(forest, X, y, budget=BUDGET)
print(result)

# Fit the recommended way; the speedup comes with its interval.
with result.best.apply():
    fitted = result.best.configure(forest).fit(X, y)
print(f"\nFitted under {result.best.describe()} (n_jobs={fitted.n_jobs}); "
      f"speedup over the forest as written: {result.speedup}")
