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


#: Fits per (token, backend name) in this process, for MisbehavingEstimator(after=).
_FITS = {}


class MisbehavingEstimator(ClassifierMixin, BaseEstimator):
    """Misbehaves under chosen joblib backends, for the isolated runner's tests.

    ``behaviour`` maps a backend name ("threading", "loky"..., the active
    backend during fit, or "sequential" when the effective n_jobs is 1) to
    "hang" (sleeps for an hour), "segfault" (SIGSEGV to itself), "exit"
    (``os._exit(3)``), "raise" (a RuntimeError) or a number of seconds to
    sleep; otherwise fit sleeps ``seconds``. With ``after=k`` it behaves
    well for the first ``k`` fits under that backend in this process (the
    count is kept per ``token``, so tests do not share it).
    """

    def __init__(self, n_jobs=None, behaviour=None, seconds=0.01, after=0, token=None):
        self.n_jobs = n_jobs
        self.behaviour = behaviour
        self.seconds = seconds
        self.after = after
        self.token = token

    def fit(self, X, y=None):
        import os
        import signal
        import time

        backend, _ = joblib.parallel.get_active_backend()
        with joblib.parallel_config():
            parallel = joblib.effective_n_jobs(self.n_jobs) > 1
        from joblib import _parallel_backends as backends

        kinds = {"threading": backends.ThreadingBackend, "loky": backends.LokyBackend,
                 "multiprocessing": backends.MultiprocessingBackend}
        name = next((k for k, cls in kinds.items() if isinstance(backend, cls)),
                    "other") if parallel else "sequential"
        action = (self.behaviour or {}).get(name, self.seconds)
        key = (self.token, name)
        _FITS[key] = _FITS.get(key, 0) + 1
        if _FITS[key] <= self.after:
            action = self.seconds
        if action == "raise":
            raise RuntimeError(f"misbehaving under {name}")
        if action == "hang":
            time.sleep(3600)
        elif action == "segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif action == "exit":
            os._exit(3)
        else:
            time.sleep(action)
        self.classes_ = np.unique(y) if y is not None else np.array([0])
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


class ContextProbe(ClassifierMixin, BaseEstimator):
    """Its fit raises, saying what it saw: for checking what reaches a worker."""

    def fit(self, X, y=None):
        import sklearn

        backend, n_jobs = joblib.parallel.get_active_backend()
        raise ValueError(f"seen: assume_finite={sklearn.get_config()['assume_finite']}, "
                         f"backend={type(backend).__name__}, n_jobs={n_jobs}, "
                         f"X={type(X).__name__}")


def fake_machine(usable_cores=2):
    """A :class:`sktune.machine.Machine` with plain, fixed facts (no detection)."""
    from sktune.machine import Machine

    return Machine(
        cpu_model="Fake CPU @ 2.0GHz", logical_cores=usable_cores,
        physical_cores=usable_cores, usable_cores=usable_cores, affinity_cores=None,
        cgroup_quota=None, caches={"L2": 1024**2}, threadpools=(
            {"user_api": "blas", "internal_api": "openblas", "version": "0.3",
             "num_threads": usable_cores, "filepath": "/lib/libopenblas.so"},),
        versions={"python": "3.11", "scikit-learn": "1.6"}, platform="Linux",
        python_implementation="CPython", gil_enabled=True, start_method="fork",
        numba_threading_layer=None, compiled={}, omp_env={})


def synthetic_result(medians=None, estimator_repr="Pipeline(...)", steps=True,
                     notes=("a note",), n_repeats=5, seed=0):
    """A :class:`sktune.ProfileResult` built from synthetic records, no timing.

    ``medians`` maps each :class:`sktune.Config` to its median wall time
    (the first key is the baseline). With ``steps``, every timed record
    carries a two-step breakdown as the "steps" profiler leaves it.
    """
    from sktune import Config, ProfileResult

    if medians is None:
        medians = {Config(): 1.0, Config(n_jobs=2, backend="loky"): 0.6,
                   Config(n_jobs=2, backend="threading"): 0.52,
                   Config(n_jobs=1, backend="threading"): 1.0,
                   Config(blas_threads=1, openmp_threads=1): 0.9,
                   Config(blas_threads=1, openmp_threads=2): 0.8,
                   Config(blas_threads=2, openmp_threads=1): 0.95}
    rng = np.random.default_rng(seed)
    records = []
    for index, median in enumerate(medians.values()):
        records.append({"config": index, "phase": "warmup", "round": 0,
                        "wall_s": median * 1.5, "cpu_s": median, "error": None,
                        "cold": True, "warnings": []})
        for repeat in range(n_repeats):
            wall = float(median * (1 + 0.01 * rng.standard_normal()))
            record = {"config": index, "phase": "timed", "round": repeat + 1,
                      "wall_s": wall, "cpu_s": wall * 1.5, "error": None, "cold": False,
                      "warnings": []}
            if steps:
                record["steps"] = [
                    {"step": "", "method": "fit", "calls": 1, "seconds": wall,
                     "self_seconds": 0.1 * wall},
                    {"step": "scale", "method": "fit_transform", "calls": 1,
                     "seconds": 0.3 * wall, "self_seconds": 0.3 * wall},
                    {"step": "model", "method": "fit", "calls": 1,
                     "seconds": 0.6 * wall, "self_seconds": 0.6 * wall}]
            records.append(record)
    return ProfileResult(
        candidates=list(medians), records=records,
        equivalence={i: (True, "") for i in range(len(medians))},
        machine=fake_machine(),
        workload={"estimator": "Pipeline", "repr": estimator_repr,
                  "data": {"task": "fit", "n_samples": 100, "n_features": 4,
                           "dtype": "float64", "type": "ndarray", "order": "C"},
                  "layers": {"blas": True, "openmp": True},
                  "steps": {"": {"class": "Pipeline", "advice": None},
                            "scale": {"class": "StandardScaler", "advice": None},
                            "model": {"class": "LogisticRegression",
                                      "advice": "try <b>this</b>"}}},
        notes=list(notes), search={"budget": "quick", "elapsed_s": 3.2, "rounds": 5,
                                   "n_runs": 40, "stop_reason": "the budget ran out"},
        settings={"min_effect": 0.05, "seed": 0})


class OnDaskWorker(ClassifierMixin, BaseEstimator):
    """A decision tree that raises, or hangs, when fitted on a dask worker.

    ``behaviour`` is "ok", "raise" or "hang"; or "interrupt": a Ctrl-C
    (``KeyboardInterrupt``) in the calling process when it is fitted under
    joblib's dask backend. Anywhere else it is a plain decision tree.
    """

    def __init__(self, behaviour="ok", max_depth=None):
        self.behaviour = behaviour
        self.max_depth = max_depth

    def fit(self, X, y):
        import time

        from sklearn.tree import DecisionTreeClassifier

        try:
            from distributed import get_worker

            get_worker()
            on_worker = True
        except (ImportError, ValueError):
            on_worker = False
        if on_worker and self.behaviour == "raise":
            raise RuntimeError("this estimator refuses to run on a dask worker")
        if on_worker and self.behaviour == "hang":
            time.sleep(600)
        backend, _ = joblib.parallel.get_active_backend()
        if self.behaviour == "interrupt" and "Dask" in type(backend).__name__:
            raise KeyboardInterrupt
        self.tree_ = DecisionTreeClassifier(max_depth=self.max_depth,
                                            random_state=0).fit(X, y)
        self.classes_ = self.tree_.classes_
        return self

    def predict(self, X):
        return self.tree_.predict(X)


def noiseless_interval(value, run_noise=None):
    """(low, high) of a speedup ``value`` measured on noiseless fake timings:
    the machine's between-run noise alone (``sktune._stats.speedup_interval``)."""
    import math

    from sktune._stats import RUN_NOISE, _z

    half = math.sqrt(2) * _z(0.95) * (RUN_NOISE if run_noise is None else run_noise)
    return value * math.exp(-half), value * math.exp(half)
