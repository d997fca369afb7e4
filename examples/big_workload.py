"""Advice for a minute-long fit in a fraction of a minute: proxies, a cost model, a check.

The user story: an 800-tree ``RandomForestClassifier`` on 20,000 x 40 takes
about a minute to fit on 2 cores as written. Timing four configurations a
few times each at full size would take a quarter of an hour, so sktune
probes a proxy first (the same forest with 8 trees), then times every
candidate on forests of two or three sizes, fits a fixed cost plus a cost
per tree to each candidate and predicts its full-size time, with an
interval. The budget is hard: no trial starts once it is spent. The report
says the times are predicted, from which proxies, how well each line fits,
and whether a full-size check (``confirm=``) was made.

What the user does next: fit under the recommendation. Where the ranking
flipped between proxy sizes or a line fits poorly, the caveats say so;
``sktune.profile(..., confirm=True)`` then times the as-written forest and
the pick once each at full size, interleaved, and reports the measured
speedup beside the predicted one.

Run: ``python examples/big_workload.py`` (about 2 minutes on 2 cores:
the profile, then one fit under the recommendation;
``SKTUNE_EXAMPLES_SMALL=1`` shrinks the forest and the budget to a smoke
test of about 20 seconds).
"""

import time

from _small import SMALL, scaled
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

import sktune

X, y = make_classification(n_samples=scaled(20_000, 3000), n_features=40,
                           n_informative=20, random_state=0)
forest = RandomForestClassifier(n_estimators=scaled(800, 200), random_state=0)

started = time.perf_counter()
# The default budget ("measure"); small mode gives 15 s, which the full-size
# forest of small mode (about 2 s a fit on 2 cores, 4 candidates timed 4
# times each) would not fit in either, and which leaves room for a machine
# twice as slow (the smallest proxies need about 7 s here).
result = sktune.profile(forest, X, y, **({"budget": 15.0} if SMALL else {}))
spent = time.perf_counter() - started
print(result)

baseline = result.stats[0].median
if result.extrapolation is not None:
    print(f"\nProfiled in {spent:.0f} s on proxies of {result.extrapolation['sizes']} trees; "
          f"the forest as written is predicted to take {baseline:.1f} s per fit.")
else:
    print(f"\nProfiled in {spent:.0f} s at full size ({baseline:.1f} s per fit).")
with result.best.apply():
    started = time.perf_counter()
    result.best.configure(forest).fit(X, y)
print(f"Fitted under {result.best.describe()} in {time.perf_counter() - started:.1f} s "
      f"(predicted {result.stats[result.candidates.index(result.best)].median:.1f} s).")
