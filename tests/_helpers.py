"""Test helpers: a fake clock and estimators whose cost depends on the config."""

import joblib
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class FakeClock:
    """A clock that only moves when told to (pyinstrument's ``fake_time``)."""

    def __init__(self, start=1000.0):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds

    def __deepcopy__(self, memo):
        # sklearn's clone() deep-copies parameters; the clock must stay shared.
        return self


class CallCounter(dict):
    """Raises ``exc`` on the ``at``-th call; shared through clone()."""

    def __deepcopy__(self, memo):
        return self


class CostlyEstimator(ClassifierMixin, BaseEstimator):
    """Its fit 'takes' ``cost[n_jobs]`` seconds of a fake clock.

    ``n_jobs`` is resolved as joblib would resolve it in the active context,
    so the estimator reacts to both its parameter and ``Config.apply``.
    ``fail_with`` makes fit raise under that effective n_jobs.
    """

    def __init__(self, clock=None, cost=None, n_jobs=None, random_state=None,
                 fail_with=None, raise_on_call=None):
        self.clock = clock
        self.cost = cost
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.fail_with = fail_with
        self.raise_on_call = raise_on_call

    def _effective_n_jobs(self):
        with joblib.parallel_config():
            return joblib.effective_n_jobs(self.n_jobs)

    def fit(self, X, y=None):
        n_jobs = self._effective_n_jobs()
        if self.raise_on_call is not None:
            counter = self.raise_on_call
            counter["calls"] = counter.get("calls", 0) + 1
            if counter["calls"] == counter["at"]:
                raise counter["exc"]
        if self.fail_with is not None and n_jobs == self.fail_with:
            raise RuntimeError(f"boom at n_jobs={n_jobs}")
        if self.clock is not None:
            self.clock.advance(self.cost.get(n_jobs, 1.0))
        self.classes_ = np.unique(y) if y is not None else np.array([0])
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])
