"""HistGradientBoosting and its OpenMP threads: is "all cores" the right count?

The user story: a ``HistGradientBoostingClassifier`` trains in a nightly job.
It has no ``n_jobs``: its histograms are built in OpenMP threads, one per
core by default, so ``n_jobs`` and joblib backends cannot change anything and
sktune does not try them. What can change is the OpenMP thread count. On
small data, or where another job shares the machine, fewer threads can be as
fast or faster; on large data, every core usually pays off. sktune measures
the OpenMP thread counts that can matter on this machine (none above the
physical cores, where scikit-learn ignores the limit) interleaved with the
model as written, and says which one wins, or that the default already does.

What the user does next: when a thread count wins, set it for the fit
(``with result.best.apply():`` below, or ``threadpoolctl.threadpool_limits(
limits=..., user_api="openmp")`` in their code); otherwise leave the model as
written and free cores for something else only if the result says that costs
nothing.

Run: ``python examples/hist_gradient_boosting_threads.py`` (about 10 s on 2
cores; ``SKTUNE_EXAMPLES_SMALL=1`` shrinks the data and the model to a smoke
test of a few seconds).
"""

from _small import BUDGET, scaled
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier

import sktune

X, y = make_classification(n_samples=scaled(20_000, 2000), n_features=20,
                           n_informative=10, random_state=0)
model = HistGradientBoostingClassifier(max_iter=scaled(100, 20), random_state=0)

result = sktune.profile(model, X, y, budget=BUDGET)
print(result)

rec = result.recommendation
print(f"\nOpenMP threads tried: "
      f"{[c.openmp_threads or 'as written' for c in result.candidates]}; "
      f"verdict: {rec.verdict}.")
with result.best.apply():
    fitted = result.best.configure(model).fit(X, y)
print(f"Fitted under {result.best.describe()}: {fitted.n_iter_} iterations, "
      f"speedup over the model as written: {result.speedup}")
