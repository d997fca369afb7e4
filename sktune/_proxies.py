"""Proxy workloads: the same parallel work in fewer units, to time big workloads fast.

FFTW's planner never plans on the user's whole transform: it measures small
pieces and composes. Most parallel scikit-learn workloads are made of many
similar units of work, and the time of a run is close to a fixed cost plus
a cost per unit (:mod:`sktune._costmodel`): the candidates of a search
(each fitted on every fold), the trees of a forest, the iterations of
gradient boosting, the initialisations of k-means, the rows a prediction
is asked for. A proxy is the same workload with fewer units and everything
else as written: the same data, folds, hyper-parameters and pipeline
steps; only the parallel layer's count changes. Where no unit structure
exists (one Ridge or PCA on a big X), a proxy fits on fewer rows, which
changes the cost per unit and BLAS's efficiency, and the result says so.

Each kind of unit is one class of :data:`UNIT_KINDS` (one table): it knows
where to find its units in an estimator and how to scale them.
:func:`find_units` returns the :class:`UnitSite` of a workload, the
outermost one (a search's candidates, not the trees of the forests it
fits), or None.
"""

import math
from dataclasses import dataclass, replace

import numpy as np

from ._estimators import iter_estimators, join

#: A proxy keeps at least this many units per worker at the largest n_jobs
#: tried, so that load balance and worker start-up show as they do at full
#: size (PITFALLS.md 2.4, 8.4: a proxy that is too small measures start-up).
#: For a search a unit is a fit (candidate x fold). 3, not more: a grid of
#: 40 logistic regressions on 3 folds then has proxies of 2 and 4
#: candidates, which five candidates x three rounds can afford in 2.5
#: as-written runs; with 4 per worker the smallest plan cost 3.75.
UNITS_PER_WORKER = 3
#: Rows a row-subsampled proxy keeps at least, and the fewest rows X must
#: have for rows to be a unit at all (smaller data is timed at full size).
MIN_ROWS = 2_000
MIN_ROWS_TO_SUBSAMPLE = 20_000
#: A site needs this many times its smallest proxy's units: room for a
#: second proxy twice the first, at most half of the workload as written.
MIN_RANGE = 4
#: Tasks whose timed call fits: their units are the fit's.
FIT_TASKS = ("fit", "fit_predict", "fit_transform")


@dataclass(frozen=True)
class UnitSite:
    """Where a workload's units are, and how many it has as written.

    Attributes
    ----------
    kind : str
        A key of :data:`UNIT_KINDS` ("candidates", "trees", ...).
    path : str
        The step that holds them (``set_params`` path, ``""`` the root).
    param : str or None
        Its parameter that counts them (``n_estimators``), None for rows.
    full : int
        Units as written.
    minimum : int
        Fewest units a proxy may have.
    what : str
        What a unit is, for people ("trees", "grid candidates").
    """

    kind: str
    path: str
    param: object
    full: int
    minimum: int
    what: str

    def describe(self, units=None):
        """``"40 of 500 trees of randomforestclassifier"``, or the full count."""
        where = f" of {self.path}" if self.path else ""
        count = f"{units} of {self.full}" if units is not None else f"{self.full}"
        return f"{count} {self.what}{where}"

    def to_dict(self):
        return {"kind": self.kind, "path": self.path, "param": self.param,
                "full": self.full, "minimum": self.minimum, "what": self.what}

    @classmethod
    def from_dict(cls, data):
        return cls(**data)

    def scale(self, workload, units):
        """``workload`` with ``units`` units instead of :attr:`full` (a new Workload)."""
        return UNIT_KINDS[self.kind].scale(self, workload, int(units))


def _minimum(workers, per_task=1, floor=2):
    """Fewest units giving UNITS_PER_WORKER tasks per worker."""
    return max(floor, math.ceil(UNITS_PER_WORKER * workers / per_task))


def _n_splits(search):
    from sklearn.model_selection import check_cv

    try:
        return check_cv(search.cv).get_n_splits()
    except Exception:  # a splitter that needs the data: count it as 5
        return 5


def _with_step(estimator, path, replacement):
    """A clone of ``estimator`` whose step at ``path`` is ``replacement``."""
    from sklearn.base import clone

    copy = clone(estimator)
    return replacement if path == "" else copy.set_params(**{path: replacement})


def _step(estimator, path):
    return estimator if path == "" else estimator.get_params(deep=True)[path]


class UnitKind:
    """One kind of unit of work: how to find it and how to scale it.

    Attributes
    ----------
    name, what : str
        Its key in :data:`UNIT_KINDS`; what one unit is, for people.
    scope : {"step", "root"}
        "step": looked for at every step of a fit, outermost first; "root":
        the whole workload's (rows), looked for when no step has units.
    """

    name = None
    what = None
    scope = "step"

    @classmethod
    def find(cls, path, step, workload, workers):
        """The :class:`UnitSite` of ``step`` (at ``path``), or None."""
        return None

    @classmethod
    def scale(cls, site, workload, units):
        """``workload`` with the step's count set to ``units``."""
        step = _step(workload.estimator, site.path)
        scaled = type(step)(**{**step.get_params(deep=False), site.param: units})
        return replace(workload, estimator=_with_step(workload.estimator, site.path, scaled))


class SearchCandidates(UnitKind):
    """The parameter candidates of a grid or randomized search, on the same folds.

    A proxy searches evenly spaced candidates of the grid (a cheap C and a
    costly one alike), each on every fold; the refit of the best one is
    a fixed cost.
    """

    name, what = "candidates", "search candidates"

    @classmethod
    def find(cls, path, step, workload, workers):
        from sklearn.model_selection import GridSearchCV, ParameterGrid, RandomizedSearchCV

        if type(step) is GridSearchCV:
            full = len(ParameterGrid(step.param_grid))
        elif type(step) is RandomizedSearchCV:
            full = int(step.n_iter)
        else:
            return None
        minimum = _minimum(workers, per_task=_n_splits(step))
        return UnitSite(cls.name, path, None, full, minimum, cls.what)

    @classmethod
    def scale(cls, site, workload, units):
        from sklearn.base import clone
        from sklearn.model_selection import GridSearchCV, ParameterGrid

        step = clone(_step(workload.estimator, site.path))
        if isinstance(step, GridSearchCV):
            grid = list(ParameterGrid(step.param_grid))
            picked = np.unique(np.round(np.linspace(0, len(grid) - 1, units)).astype(int))
            step.set_params(param_grid=[{k: [v] for k, v in grid[i].items()} for i in picked])
        else:
            step.set_params(n_iter=units)
        return replace(workload, estimator=_with_step(workload.estimator, site.path, step))


class Trees(UnitKind):
    """The trees of a forest or the estimators of a bagging ensemble."""

    name, what = "trees", "trees"
    _CLASSES = {"RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier",
                "ExtraTreesRegressor", "RandomTreesEmbedding", "IsolationForest",
                "BaggingClassifier", "BaggingRegressor"}

    @classmethod
    def find(cls, path, step, workload, workers):
        if type(step).__name__ not in cls._CLASSES or step.get_params().get("warm_start"):
            return None
        full, minimum = int(step.n_estimators), _minimum(workers, floor=8)
        return UnitSite(cls.name, path, "n_estimators", full, minimum, cls.what)


class BoostingIterations(UnitKind):
    """The iterations of gradient boosting, when early stopping is off.

    With early stopping on, the number of iterations at full size is not
    known before fitting: such a model has no unit structure.
    """

    name, what = "iterations", "boosting iterations"

    @classmethod
    def find(cls, path, step, workload, workers):
        name = type(step).__name__
        if name.startswith("HistGradientBoosting"):
            stopping = step.early_stopping
            n_samples = workload.signature.get("n_samples") or 0
            if stopping is True or (stopping == "auto" and n_samples > 10_000):
                return None
            param = "max_iter"
        elif name.startswith("GradientBoosting"):
            if step.n_iter_no_change is not None:
                return None
            param = "n_estimators"
        else:
            return None
        full = int(getattr(step, param))
        # 5 iterations: boosting runs them one after another, each a tree per
        # class at the same cost, so the smallest proxy needs no more to show
        # that cost; the parallel layer (a search's fits, the threads of a
        # histogram) is kept whole. 10 made a search of 6 boosted models x
        # 3 folds cost 4.9 as-written fits to profile on 2 cores.
        return UnitSite(cls.name, path, param, full, 5, cls.what)


class KMeansInits(UnitKind):
    """The initialisations of k-means (``n_init``), each run to convergence."""

    name, what = "inits", "k-means initialisations"

    @classmethod
    def find(cls, path, step, workload, workers):
        if type(step).__name__ not in ("KMeans", "BisectingKMeans"):
            return None
        n_init = step.n_init
        if not isinstance(n_init, int):  # "auto": 1 or 10 by the init, decided in fit
            return None
        # One initialisation is a whole unit (seeding, then Lloyd to
        # convergence, OpenMP threads inside): the smallest proxy; with 2,
        # n_init=16 left proxies of 1/8 and 1/4 of the fit and a profile of
        # 3.4 as-written fits.
        return UnitSite(cls.name, path, "n_init", n_init, 1, cls.what)


class QueryRows(UnitKind):
    """The rows a fitted estimator is asked about (predict, transform, score).

    The fit is on all of X, as written (and untimed); the timed call gets
    the first rows only. Neighbour searches split their queries into
    chunks, forests their trees: either way the cost follows the rows.
    """

    name, what, scope = "query_rows", "query rows", "root"

    @classmethod
    def find(cls, path, step, workload, workers):
        n_samples = workload.signature.get("n_samples") or 0
        if path != "" or workload.task not in ("predict", "predict_proba", "transform",
                                               "score"):
            return None
        return UnitSite(cls.name, "", None, n_samples, MIN_ROWS, cls.what)

    @classmethod
    def scale(cls, site, workload, units):
        return replace(workload, query_rows=units)


class Rows(UnitKind):
    """Rows of X and y, where nothing else scales: a proxy fits on fewer rows.

    The cost per row is not the same at every size (BLAS efficiency, caches),
    so this is the last resort, and the result says it was used.
    """

    name, what, scope = "rows", "rows", "root"

    @classmethod
    def find(cls, path, step, workload, workers):
        n_samples = workload.signature.get("n_samples") or 0
        if path != "" or workload.task not in FIT_TASKS or n_samples < MIN_ROWS_TO_SUBSAMPLE:
            return None
        return UnitSite(cls.name, "", None, n_samples, MIN_ROWS, cls.what)

    @classmethod
    def scale(cls, site, workload, units):
        X, y = workload.X, workload.y
        rows = X.iloc[:units] if hasattr(X, "iloc") else X[:units]
        target = None if y is None else (y.iloc[:units] if hasattr(y, "iloc") else y[:units])
        return replace(workload, X=rows, y=target)


#: The kinds of units, most telling first: a search's candidates come before
#: the trees of the forests it fits; rows are the last resort.
UNIT_KINDS = {cls.name: cls for cls in (SearchCandidates, Trees, BoostingIterations,
                                        KMeansInits, QueryRows, Rows)}


def find_units(workload, workers):
    """The :class:`UnitSite` of ``workload``, the outermost one, or None.

    Parameters
    ----------
    workload : Workload
    workers : int
        The most workers a candidate uses (the usable cores): a proxy keeps
        several units per worker.
    """
    # Outermost first (iter_estimators yields a step before its children),
    # and at one step the kinds in table order. Units of a fit only for a
    # task that fits: a prediction's cost follows its rows. A layer with too
    # few units for two proxies of different sizes, the larger at most half
    # of the whole (a grid of 6 candidates on 3 folds), gives way to the one
    # inside it (the boosting iterations of each candidate).
    kinds = list(UNIT_KINDS.values())
    if workload.task in FIT_TASKS:
        for path, step in iter_estimators(workload.estimator):
            for cls in kinds:
                site = cls.scope == "step" and cls.find(path, step, workload, workers)
                if site and site.full >= MIN_RANGE * site.minimum:
                    return site
    for cls in kinds:
        site = cls.scope == "root" and cls.find("", workload.estimator, workload, workers)
        if site and site.full >= MIN_RANGE * site.minimum:
            return site
    return None


def units_param_path(site):
    """The ``set_params`` key of the site's count (for wisdom), or None."""
    return None if site is None or site.param is None else join(site.path, site.param)
