"""Reports and comparisons: did a change make training faster, beyond noise?

The user story: a teammate's change trains each tree of a random forest on
half the rows (``max_samples=0.5``). Is it faster, for which configurations,
and does sktune's recommendation still hold? The user profiles the forest
before and after the change, saves both results as JSON (to keep with the
change, or to compare with another machine later), writes reports to share
(one self-contained HTML page with plots, and Markdown for a pull request),
and compares the two runs configuration by configuration: each ratio of
medians comes with a 95% interval, and a change is called "faster" or
"slower" only beyond noise.

What the user does next: read the comparison's verdict per configuration and
whether the recommendation changed; open the HTML report; attach the
Markdown to the pull request. The same comparison from a shell:
``sktune compare examples_output/before.json examples_output/after.json``.

Everything is written to ``examples_output/`` in the current directory.

Run: ``python examples/reports.py`` (about 30 s on 2 cores;
``SKTUNE_EXAMPLES_SMALL=1`` shrinks the data, the forest and the budget to a
smoke test of several seconds).
"""

from pathlib import Path

from _small import BUDGET, scaled
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

import sktune

OUTPUT = Path("examples_output")
OUTPUT.mkdir(exist_ok=True)

X, y = make_classification(n_samples=scaled(4000, 1500), n_features=20, random_state=0)
forest = RandomForestClassifier(n_estimators=scaled(100, 30), random_state=0)

# Before and after the change, each saved next to the other.
changed = clone(forest).set_params(max_samples=0.5)
paths = {}
for label, estimator in [("before", forest), ("after", changed)]:
    result = sktune.profile(estimator, X, y, budget=BUDGET)
    paths[label] = result.save(OUTPUT / f"{label}.json")
print(result)

# Reports of the new run: the format follows the extension.
html = result.report(OUTPUT / "after.html")
markdown = result.report(OUTPUT / "after.md")
print(f"\nReports written: {html} (open in a browser), {markdown} (for the pull request)")

# Compare the saved runs, B (after) against A (before).
comparison = sktune.compare(sktune.load(paths["before"]), sktune.load(paths["after"]),
                     labels=(str(paths["before"]), str(paths["after"])))
print(f"\n{comparison}")
print(f"\nFaster after the change: {comparison.faster or 'none'}; "
      f"slower: {comparison.slower or 'none'}; recommendation "
      f"{'changed' if comparison.recommendation_changed else 'unchanged'}.")
