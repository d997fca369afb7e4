"""A grid search over a BLAS-heavy model: workers times BLAS threads.

The user story: a ``GridSearchCV`` tunes ``Ridge`` on wide data. Each fit is
mostly one BLAS call (``X.T @ X`` and a Cholesky solve) that OpenBLAS or MKL
spreads over every core; ``n_jobs=2`` runs two fits at once. Together that
is 2 workers x 2 BLAS threads = 4 busy threads on 2 cores: oversubscription,
where threads evict each other's caches and wait on each other. Nothing warns
about it; the search is just slower than it should be.

sktune measures the combinations side by side. The space below spells out
the oversubscribed one on purpose (sktune's automatic space never proposes
it): two worker threads (``backend="threading"``) with BLAS left at every
core. Next to it are the ones that avoid it: one fit at a time on all cores
or on one, two worker threads with one BLAS thread each, and two loky worker
processes, which joblib caps at one BLAS thread each by itself (the final
refit on all the data runs in the main process, under its BLAS setting, which
is why ``blas_threads`` still matters there). The 'busy' column of the table shows the cores
each one kept busy, and the script
prints how the oversubscribed combination fared.

What the user does next: run the search under the recommended configuration
(below), or keep it as written when sktune says nothing is faster beyond noise.

Run: ``python examples/grid_search_blas.py`` (about a minute on 2 cores;
``SKTUNE_EXAMPLES_SMALL=1`` shrinks the data and the budget to a smoke test of
a few seconds).
"""

from _small import BUDGET, scaled
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV

import sktune

X, y = make_regression(n_samples=scaled(3000, 600), n_features=scaled(600, 150),
                       noise=1.0, random_state=0)
alphas = [0.1, 1.0, 10.0, 100.0][:scaled(4, 2)]
search = GridSearchCV(Ridge(solver="cholesky"), {"alpha": alphas}, cv=scaled(5, 3))

space = sktune.ConfigSpace(n_jobs=[None, 2], backend=["loky", "threading"],
                           blas_threads=[None, 1])
result = sktune.profile(search, X, y, space=space, budget=BUDGET)
print(result)


def busy_threads(config, cores):
    """Threads a configuration asks for: workers x BLAS threads per worker."""
    workers = config.n_jobs or 1
    if config.backend == "loky" and workers > 1:  # joblib caps each worker process
        per_worker = config.inner_max_num_threads or max(1, cores // workers)
    else:
        per_worker = config.blas_threads or cores
    return workers * per_worker


cores = result.machine.usable_cores
print(f"\nOversubscribed on {cores} cores (workers x BLAS threads > cores):")
configs = {str(c): c for c in result.candidates}
for row in result.summary().itertuples():
    config = configs.get(row.config)
    if config is not None and row.status == "ok" and busy_threads(config, cores) > cores:
        print(f"  {row.config}: {busy_threads(config, cores)} threads, "
              f"{row.speedup:.2f}x [{row.speedup_low:.2f}, {row.speedup_high:.2f}] "
              f"vs as written")
print(f"Run the search under: {result.best.describe()} ({result.speedup})")
with result.best.apply():
    fitted = result.best.configure(search).fit(X, y)
print(f"best alpha: {fitted.best_params_['alpha']}")
