"""Profile a grid search over a scaler + logistic regression pipeline.

The user story: a nightly job retrains this search; should it run with
``n_jobs=2``, and on which joblib backend? sktune measures the candidates
against the search as written and answers with an interval. Note that it
sets ``n_jobs`` on the search only: ``LogisticRegression(n_jobs=...)`` has no
effect since scikit-learn 1.8 and is left alone.

For a grid search over a BLAS-heavy model, where ``n_jobs`` and BLAS threads
multiply, see ``grid_search_blas.py``.

Run: ``python examples/profile_grid_search.py`` (about 10 s on 2 cores;
``SKTUNE_EXAMPLES_SMALL=1`` shrinks the data to a smoke test of a few
seconds).
"""

from _small import scaled
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sktune

X, y = make_classification(n_samples=scaled(3000, 600), n_features=20, random_state=0)
search = GridSearchCV(
    make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
    {"logisticregression__C": [0.01, 0.1, 1.0, 10.0]},
    cv=5,
)

result = sktune.profile(search, X, y, budget="quick")
print(result)

# Run the search the recommended way; the original object is untouched.
with result.apply(X):
    fitted = result.best.configure(search).fit(X, y)
print(f"\nbest C: {fitted.best_params_['logisticregression__C']}")
