"""Ask an estimator which parallel layers it really uses (checklist item 23).

scikit-learn has three independent layers of parallelism: joblib (``n_jobs``,
processes or threads), OpenMP in its Cython code, and BLAS under NumPy/SciPy
(PITFALLS.md section 1). Which of them an estimator touches, and whether its
``n_jobs`` parameter does anything, decides which configuration dimensions
are worth measuring. This module walks a (possibly nested) estimator and
returns a :class:`Layers` value; it never fits or mutates anything.

The tables below describe scikit-learn 1.9; each entry names its source in
PITFALLS.md. A class that is not in any table is *unknown*: sktune then
assumes every layer may matter and measures rather than guesses.
"""

from dataclasses import dataclass, field

import numpy as np

from ._estimators import iter_estimators, join

# joblib call sites and the hint they pass (PITFALLS.md section 1.2).
_JOBLIB_THREADS = {
    "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier",
    "ExtraTreesRegressor", "RandomTreesEmbedding", "IsolationForest",
    "LassoCV", "ElasticNetCV", "MultiTaskLassoCV", "MultiTaskElasticNetCV",
    "SGDClassifier", "Perceptron", "PassiveAggressiveClassifier",
}
_JOBLIB_PROCESSES = {
    "GridSearchCV", "RandomizedSearchCV", "HalvingGridSearchCV",
    "HalvingRandomSearchCV", "ColumnTransformer", "FeatureUnion",
    "VotingClassifier", "VotingRegressor", "StackingClassifier",
    "StackingRegressor", "OneVsRestClassifier", "OneVsOneClassifier",
    "OutputCodeClassifier", "MultiOutputClassifier", "MultiOutputRegressor",
    "LinearRegression",
    "RFECV", "SequentialFeatureSelector", "BaggingClassifier",
    "BaggingRegressor", "CalibratedClassifierCV", "LatentDirichletAllocation",
    "MDS", "TheilSenRegressor", "LarsCV", "LassoLarsCV", "MeanShift",
    "LogisticRegressionCV", "OrthogonalMatchingPursuitCV", "GraphicalLassoCV",
    "SpectralClustering", "DBSCAN", "OPTICS", "Isomap", "TSNE",
    "SpectralEmbedding", "LocallyLinearEmbedding",
}
# Neighbour searches: OpenMP through PairwiseDistancesReductions when usable,
# joblib threads otherwise (PITFALLS.md section 1.3).
_NEIGHBORS = {
    "KNeighborsClassifier", "KNeighborsRegressor", "RadiusNeighborsClassifier",
    "RadiusNeighborsRegressor", "NearestNeighbors", "LocalOutlierFactor",
    "KNeighborsTransformer", "RadiusNeighborsTransformer",
}
# OpenMP prange users (PITFALLS.md section 1.3).
_OPENMP = {
    "HistGradientBoostingClassifier", "HistGradientBoostingRegressor",
    "KMeans", "MiniBatchKMeans", "BisectingKMeans", "TSNE",
    "PoissonRegressor", "GammaRegressor", "TweedieRegressor",
}
# BLAS users (PITFALLS.md section 1.4). KMeans is absent on purpose: it caps
# BLAS at one thread itself (cluster/_kmeans.py L629, L828).
_BLAS = {
    "Ridge", "RidgeCV", "RidgeClassifier", "RidgeClassifierCV", "LinearRegression",
    "LogisticRegression", "LogisticRegressionCV", "PCA", "TruncatedSVD",
    "IncrementalPCA", "KernelPCA", "SparsePCA", "MiniBatchSparsePCA", "FastICA",
    "NMF", "MiniBatchNMF", "FactorAnalysis", "DictionaryLearning",
    "LinearDiscriminantAnalysis", "QuadraticDiscriminantAnalysis",
    "GaussianProcessClassifier", "GaussianProcessRegressor", "MLPClassifier",
    "MLPRegressor", "BernoulliRBM", "ElasticNet", "Lasso", "MultiTaskLasso",
    "MultiTaskElasticNet", "LassoCV", "ElasticNetCV", "Lars", "LassoLars",
    "LarsCV", "LassoLarsCV", "OrthogonalMatchingPursuit", "BayesianRidge",
    "ARDRegression", "HuberRegressor", "QuantileRegressor", "PLSRegression",
    "PLSCanonical", "PLSSVD", "CCA", "GaussianMixture",
    "BayesianGaussianMixture", "KernelRidge", "Nystroem", "RBFSampler",
    "SpectralEmbedding", "Isomap", "LocallyLinearEmbedding", "MDS",
    "SpectralClustering", "TheilSenRegressor", "PoissonRegressor",
    "GammaRegressor", "TweedieRegressor", "GaussianRandomProjection",
    "SparseRandomProjection", "EmpiricalCovariance", "MinCovDet",
    "EllipticEnvelope", "GraphicalLasso", "GraphicalLassoCV",
    "LatentDirichletAllocation", "KNeighborsClassifier", "KNeighborsRegressor",
    "NearestNeighbors", "RadiusNeighborsClassifier", "RadiusNeighborsRegressor",
    "LocalOutlierFactor", "NeighborhoodComponentsAnalysis", "TSNE",
}
# Known to use none of the three layers themselves; meta-estimators here
# delegate to the estimators they hold, which are walked separately.
_SERIAL = {
    "Pipeline", "TransformedTargetRegressor", "StandardScaler", "MinMaxScaler",
    "MaxAbsScaler", "RobustScaler", "Normalizer", "Binarizer", "OneHotEncoder",
    "OrdinalEncoder", "TargetEncoder", "LabelEncoder", "LabelBinarizer",
    "SimpleImputer", "MissingIndicator", "PolynomialFeatures", "SplineTransformer",
    "KBinsDiscretizer", "QuantileTransformer", "PowerTransformer",
    "VarianceThreshold", "SelectKBest", "SelectPercentile", "SelectFromModel",
    "DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier",
    "ExtraTreeRegressor", "GradientBoostingClassifier",
    "GradientBoostingRegressor", "AdaBoostClassifier", "AdaBoostRegressor",
    "GaussianNB", "MultinomialNB", "BernoulliNB", "ComplementNB",
    "CategoricalNB", "SVC", "SVR", "NuSVC", "NuSVR", "LinearSVC", "LinearSVR",
    "OneClassSVM", "DummyClassifier", "DummyRegressor", "CountVectorizer",
    "TfidfVectorizer", "TfidfTransformer", "HashingVectorizer",
    "DictVectorizer", "FeatureHasher", "SGDRegressor", "PassiveAggressiveRegressor",
    "FrozenEstimator", "NearestCentroid",
}
# n_jobs parameters that exist but do nothing (PITFALLS.md section 1.7).
_NJOBS_NOOP = {
    "LogisticRegression": "deprecated in scikit-learn 1.8 and has no effect",
}


@dataclass(frozen=True)
class Layers:
    """Which parallel layers a workload uses, and where ``n_jobs`` acts.

    Attributes
    ----------
    n_jobs_params : tuple of str
        ``set_params`` keys (``"n_jobs"``, ``"clf__n_jobs"``...) whose value
        changes how the task runs, on the outermost parallel level only: a
        site nested inside another (a forest inside a grid search) is left
        as written and named in ``notes``.
    joblib_hints : frozenset of str
        The backend each outermost joblib call site asks for: ``"threads"`` or
        ``"processes"`` (joblib's default, loky).
    openmp, blas : bool
        Whether OpenMP (scikit-learn's Cython ``prange``) or BLAS may run.
    unknown : tuple of str
        Classes sktune knows nothing about; every layer is assumed to matter.
    notes : tuple of str
        Sentences explaining the decisions, shown in the result.
    """

    n_jobs_params: tuple = ()
    joblib_hints: frozenset = frozenset()
    openmp: bool = False
    blas: bool = False
    unknown: tuple = ()
    notes: tuple = field(default=(), compare=False)

    @property
    def joblib(self):
        """Whether any joblib call site is reachable through ``n_jobs``."""
        return bool(self.n_jobs_params)


def _pdr_usable(X):
    """Whether scikit-learn's OpenMP neighbour search accepts this X."""
    from ._compat import pdr_usable

    return pdr_usable(X)


def _add_site(layers, key, hint):
    layers["n_jobs"].append(key)
    layers["hints"].append(hint)


def _outermost(keys):
    """The n_jobs keys not nested inside the estimator of another key."""
    owners = {key: key.rsplit("__", 1)[0] if "__" in key else "" for key in keys}

    def nested(inner, outer):
        return inner != outer and (outer == "" or inner.startswith(outer + "__"))

    return [k for k in keys if not any(nested(owners[k], owners[o]) for o in keys)]


def _classify(path, est, X, y, task, layers):
    """Fill ``layers`` (a dict of sets and lists) for one estimator."""
    cls = type(est).__name__
    params = est.get_params(deep=False) if hasattr(est, "get_params") else {}
    has_n_jobs = "n_jobs" in params
    key = join(path, "n_jobs")
    where = f"{cls} at '{path}'" if path else cls
    known = cls in (_JOBLIB_THREADS | _JOBLIB_PROCESSES | _NEIGHBORS | _OPENMP
                    | _BLAS | _SERIAL | set(_NJOBS_NOOP))

    if cls in _OPENMP:
        layers["openmp"] = True
    if cls in _BLAS:
        layers["blas"] = True

    if cls in _NJOBS_NOOP:
        layers["notes"].append(f"{where}: n_jobs is {_NJOBS_NOOP[cls]}; left untouched.")
        return
    if cls == "LinearRegression" and has_n_jobs and X is not None:
        # Without the data (Config.configure) it may matter, so it is set.
        import scipy.sparse as sp

        multi_target = y is not None and np.ndim(y) > 1
        if not (params.get("positive") or (sp.issparse(X) and multi_target)):
            layers["notes"].append(
                f"{where}: n_jobs only helps with positive=True or sparse X and "
                "several targets; left untouched.")
            return
    if cls in _NEIGHBORS:
        # These compute neighbours during fit (fit_transform / fit_predict).
        if task == "fit" and cls not in ("LocalOutlierFactor", "KNeighborsTransformer",
                                         "RadiusNeighborsTransformer"):
            layers["notes"].append(f"{where}: n_jobs does not affect fit.")
            return
        algorithm = params.get("algorithm", "auto")
        if algorithm in ("brute", "auto") and _pdr_usable(X):
            layers["openmp"] = True
            if algorithm == "brute":
                layers["notes"].append(
                    f"{where}: brute-force search runs in OpenMP on this X; "
                    "n_jobs is ignored.")
                return
        if has_n_jobs:
            _add_site(layers, key, "threads")
        return
    if cls == "DBSCAN" and params.get("metric") == "precomputed":
        layers["notes"].append(f"{where}: n_jobs has no effect on precomputed distances.")
        return
    if cls in _JOBLIB_THREADS and has_n_jobs:
        _add_site(layers, key, "threads")
        return
    if cls in _JOBLIB_PROCESSES and has_n_jobs:
        _add_site(layers, key, "processes")
        return
    if not known:
        layers["unknown"].append(cls)
        layers["openmp"] = layers["blas"] = True
        if has_n_jobs:
            _add_site(layers, key, "processes")
        layers["notes"].append(
            f"{where}: not in sktune's tables; every layer is measured.")


def inspect_layers(estimator, X=None, y=None, task="fit"):
    """Describe the parallel layers that ``task`` on ``estimator`` can use.

    Parameters
    ----------
    estimator : estimator instance
        Any scikit-learn compatible estimator, possibly nested.
    X : array-like or sparse matrix, default=None
        The data, used where the code path depends on it (the OpenMP
        neighbour search needs C-contiguous float32/float64 or CSR input).
    y : array-like, default=None
        The target.
    task : str, default="fit"
        The method that will be timed.

    Returns
    -------
    layers : Layers
    """
    acc = {"n_jobs": [], "hints": [], "openmp": False, "blas": False,
           "unknown": [], "notes": []}
    for path, est in iter_estimators(estimator):
        _classify(path, est, X, y, task, acc)
    outer = _outermost(acc["n_jobs"])
    for key in acc["n_jobs"]:
        if key not in outer:
            acc["notes"].append(
                f"'{key}' is nested inside a parallel level; it is left as written "
                "(sktune sets n_jobs on the outermost level, so that workers do not "
                "start workers of their own).")
    return Layers(
        n_jobs_params=tuple(outer),
        joblib_hints=frozenset(h for k, h in zip(acc["n_jobs"], acc["hints"])
                               if k in outer),
        openmp=acc["openmp"],
        blas=acc["blas"],
        unknown=tuple(dict.fromkeys(acc["unknown"])),
        notes=tuple(acc["notes"]),
    )


def unseeded_params(estimator):
    """``set_params`` keys of every ``random_state`` left at None."""
    keys = []
    for path, est in iter_estimators(estimator):
        params = est.get_params(deep=False)
        if "random_state" in params and params["random_state"] is None:
            keys.append(join(path, "random_state"))
    return keys
