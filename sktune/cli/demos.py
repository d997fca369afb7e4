"""The built-in workloads of ``sktune demo``: real estimators on synthetic data."""

from .._validation import invalid_choice
from ..exceptions import InvalidParameterError

#: Built-in workloads for ``sktune demo``.
EXAMPLES = ("random-forest", "grid-search", "hist-gradient-boosting", "no-parallelism")


def example_workload(name, n_samples=None):
    """Return ``(estimator, X, y)`` of a built-in example workload.

    Parameters
    ----------
    name : {"random-forest", "grid-search", "hist-gradient-boosting", "no-parallelism"}
    n_samples : int, default=None
        Rows of synthetic data; each example has a default sized so that one
        fit takes roughly 0.2 to 1 s on a 2-core machine.
    """
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    defaults = {"random-forest": 4000, "grid-search": 3000,
                "hist-gradient-boosting": 20000, "no-parallelism": 5000}
    if name not in defaults:
        raise InvalidParameterError(invalid_choice("example", name, EXAMPLES))
    X, y = make_classification(n_samples=n_samples or defaults[name], n_features=20,
                               n_informative=10, random_state=0)
    if name == "random-forest":
        estimator = RandomForestClassifier(n_estimators=100, random_state=0)
    elif name == "grid-search":
        estimator = GridSearchCV(
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
            {"logisticregression__C": [0.01, 0.1, 1.0, 10.0]}, cv=5)
    elif name == "hist-gradient-boosting":
        estimator = HistGradientBoostingClassifier(max_iter=100, random_state=0)
    else:
        estimator = make_pipeline(StandardScaler(), DecisionTreeClassifier(random_state=0))
    return estimator, X, y


#: Where ``sktune demo`` writes its report unless told otherwise.
DEMO_REPORT = "sktune-report.html"
