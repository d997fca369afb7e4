"""Configurations and the space of candidate configurations.

A :class:`Config` is a value: which ``n_jobs``, joblib backend and native
thread counts to run under, each ``None`` for "leave as written". A
:class:`ConfigSpace` describes which values to try; resolved against an
estimator's parallel layers and this machine's cores it yields the
candidates, without duplicates that are known to behave identically
(checklist item 22; the rules are in :mod:`sktune._pruning`), and with the
candidates it refuses to run and why. What an optional engine means for a
configuration (dask's cluster, scikit-learn-intelex's steps) is asked of
the engine (:mod:`sktune._engines`).
"""

import itertools
from dataclasses import asdict, dataclass, fields
from numbers import Integral

from sklearn.base import clone

from . import _pruning
from ._engines import ENGINE_BACKENDS, engines_of
from ._introspect import inspect_layers
from ._validation import invalid_choice
from .exceptions import InvalidConfigError, InvalidParameterError

#: The joblib backends sktune knows how to apply: joblib's local ones and
#: the engines'; any name registered with joblib is accepted too.
KNOWN_BACKENDS = ("loky", "threading", "multiprocessing", "sequential", *ENGINE_BACKENDS)

#: Config fields holding tuples (lists in JSON).
_TUPLE_FIELDS = ("compiled_steps", "cluster", "intelex_steps")


def _available_backends():
    from joblib.parallel import BACKENDS

    return set(KNOWN_BACKENDS) | set(BACKENDS)


def _positive_int(value):
    return isinstance(value, Integral) and not isinstance(value, bool) and value >= 1


def _step_paths(value):
    return isinstance(value, tuple) and bool(value) and all(isinstance(p, str) for p in value)


def _is_cluster_shape(value):
    """Two ints in [1, inf) (bools refused): ``(n_workers, threads_per_worker)``."""
    return len(value) == 2 and all(_positive_int(n) for n in value)


_STEPS = ("a non-empty tuple of parameter paths (str, '' for the estimator itself) "
          "or None")
#: Config field -> (test of a value that is not None, what is expected): the
#: one table of Config's single-field checks, in scikit-learn's wording.
_FIELD_RULES = {
    "n_jobs": (_positive_int, "an int in the range [1, inf) or None"),
    "backend": (lambda v: isinstance(v, str), "a str or None"),
    "blas_threads": (_positive_int, "an int in the range [1, inf) or None"),
    "openmp_threads": (_positive_int, "an int in the range [1, inf) or None"),
    "inner_max_num_threads": (_positive_int, "an int in the range [1, inf) or None"),
    "compiled_steps": (_step_paths, _STEPS),
    "cluster": (lambda v: isinstance(v, tuple) and _is_cluster_shape(v),
                "a tuple (n_workers, threads_per_worker) of ints in the range [1, inf) "
                "or None"),
    "intelex_steps": (_step_paths, _STEPS),
}


@dataclass(frozen=True)
class Config:
    """One way to run a workload: joblib and native thread settings.

    Every field defaults to None, meaning "leave as written"; the all-None
    config is the *as-written* baseline.

    Parameters
    ----------
    n_jobs : int, default=None
        Workers for joblib-parallel estimators. Set on every ``n_jobs``
        parameter that has an effect (see :meth:`configure`) and, when
        ``backend`` is given, on joblib's ``parallel_config``.
    backend : {"loky", "threading", "multiprocessing", "sequential", "dask", \
"ray"} or str, default=None
        joblib backend forced through ``parallel_config``. None keeps each
        call site's own hint (threads for forests, processes for searches).
    blas_threads : int, default=None
        Threads of every BLAS library (``threadpool_limits(user_api="blas")``).
    openmp_threads : int, default=None
        Threads of OpenMP runtimes in the calling thread, and inside each
        worker thread of the threading backend.
    inner_max_num_threads : int, default=None
        Thread cap inside loky worker processes. Only valid with
        ``backend="loky"``.
    compiled_steps : tuple of str, default=None
        Parameter paths (as in ``get_params(deep=True)``, e.g. ``"scaler"``
        or ``"preprocess__num__scale"``) of steps replaced by compiled
        equivalents: scikit-learn scalers by :mod:`sktune.transformers`, a
        ``FunctionTransformer``'s Python function by its Numba-compiled
        version. Acts through :meth:`configure` only.

    Examples
    --------
    >>> from sktune import Config
    >>> cfg = Config(n_jobs=2, backend="loky", inner_max_num_threads=1)
    >>> cfg
    Config(n_jobs=2, backend='loky', inner_max_num_threads=1)
    >>> Config.from_dict(cfg.to_dict()) == cfg
    True
    """

    n_jobs: int = None
    backend: str = None
    blas_threads: int = None
    openmp_threads: int = None
    inner_max_num_threads: int = None
    compiled_steps: tuple = None
    cluster: tuple = None
    intelex_steps: tuple = None

    def __post_init__(self):
        for name in _TUPLE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, list):  # as read back from JSON
                object.__setattr__(self, name, tuple(value))
        for name, (valid, expected) in _FIELD_RULES.items():
            value = getattr(self, name)
            if value is not None and not valid(value):
                raise InvalidParameterError(
                    f"The {name!r} parameter of Config must be {expected}. "
                    f"Got {value!r} instead.")
        if self.backend is not None and self.backend not in _available_backends():
            raise InvalidParameterError(
                invalid_choice("backend", self.backend, _available_backends()))
        # Cross-field rules. Checked here, not by joblib's assert, which
        # vanishes under ``python -O`` (checklist item 5).
        if self.inner_max_num_threads is not None and self.backend != "loky":
            raise InvalidConfigError(
                "The 'inner_max_num_threads' parameter of Config must be None unless "
                "backend='loky', the only backend that limits threads in its workers. "
                f"Got {self.inner_max_num_threads!r} with backend={self.backend!r} "
                "instead.")
        for engine in engines_of(self):
            engine.check(self)

    # -- value behaviour -------------------------------------------------
    def to_dict(self):
        """Return the fields as a JSON-serialisable dict."""
        data = asdict(self)
        for name in _TUPLE_FIELDS:
            if data[name] is not None:
                data[name] = list(data[name])
        return data

    @classmethod
    def from_dict(cls, data):
        """Build a Config from :meth:`to_dict` output (unknown keys are errors)."""
        names = {f.name for f in fields(cls)}
        for key in data:
            if key not in names:
                raise InvalidParameterError(invalid_choice("Config field", key, names))
        return cls(**data)

    def __repr__(self):
        set_fields = ", ".join(f"{k}={v!r}" for k, v in asdict(self).items()
                               if v is not None)
        return f"Config({set_fields})"

    def __str__(self):
        if self.is_as_written:
            return "as written"
        return ", ".join(f"{k}={_joined(k, v) if isinstance(v, tuple) else v}"
                         for k, v in asdict(self).items() if v is not None)

    @property
    def is_as_written(self):
        """True for the all-None configuration (the baseline)."""
        return all(v is None for v in self.to_dict().values())

    @property
    def n_set(self):
        """How many fields are set: fewer is simpler."""
        return sum(v is not None for v in self.to_dict().values())

    def cores(self, usable_cores, *, blas=True, openmp=True):
        """Estimate how many cores this configuration keeps busy.

        Used to prefer the leaner of two configurations that are equally
        fast. An unset thread count counts as what the runtime would use (all
        usable cores; a worker's share in loky processes and, for OpenMP, in
        threading-backend workers), and as one thread for a layer the
        workload does not use.

        Parameters
        ----------
        usable_cores : int
        blas, openmp : bool, default=True
            Whether the workload uses BLAS / OpenMP at all.
        """
        for engine in engines_of(self):
            cores = engine.cores(self, usable_cores)
            if cores is not None:
                return cores
        workers = self.n_jobs or 1
        share = max(1, usable_cores // workers)
        if self.backend in _pruning.PROCESS_BACKENDS and workers > 1:
            per_worker = (self.inner_max_num_threads or share) if (blas or openmp) else 1
        else:
            per_worker = max(
                (self.blas_threads or usable_cores) if blas else 1,
                (self.openmp_threads or share) if openmp else 1)
        return min(usable_cores, workers * per_worker)

    def threads(self, usable_cores):
        """Threads explicitly asked for: workers times the per-worker thread cap.

        Above ``usable_cores`` the configuration oversubscribes the machine.
        Unset thread counts count as one thread per worker.
        """
        for engine in engines_of(self):
            threads = engine.threads(self)
            if threads is not None:
                return threads
        workers = self.n_jobs or 1
        per_worker = max(self.blas_threads or 1, self.openmp_threads or 1,
                         self.inner_max_num_threads or 1)
        return workers * per_worker

    def describe(self):
        """One phrase a person understands, e.g. ``n_jobs=2 on loky, 1 BLAS thread``."""
        if self.is_as_written:
            return "the pipeline as written"
        parts = []
        if self.n_jobs is not None:
            where = f" on {self.backend}" if self.backend else ""
            parts.append(f"n_jobs={self.n_jobs}{where}")
        elif self.backend is not None:
            parts.append(f"the {self.backend} backend")
        for value, what in ((self.blas_threads, "BLAS"), (self.openmp_threads, "OpenMP")):
            if value is not None:
                parts.append(f"{value} {what} thread{'s' if value > 1 else ''}")
        if self.inner_max_num_threads is not None:
            parts.append(f"{self.inner_max_num_threads} thread(s) per worker process")
        if self.compiled_steps is not None:
            parts.append(f"compiled {', '.join(self.compiled_steps)}")
        for engine in engines_of(self):
            parts += engine.describe(self)
        return ", ".join(parts)

    # -- using it -----------------------------------------------------------
    def apply(self):
        """Run code under this configuration; restore everything on exit.

        Returns a context manager that is also a decorator. It sets joblib's
        ``parallel_config`` (backend, n_jobs and ``inner_max_num_threads``,
        only when ``backend`` is set), threadpoolctl limits for BLAS and
        OpenMP in the calling thread, OpenMP caps inside threading-backend
        workers, and Numba's thread count when Numba is in use.

        ``n_jobs`` without ``backend`` is applied only through estimator
        parameters (:meth:`configure`): joblib would otherwise silently run
        ``prefer="threads"`` sites, such as forests, on one worker.

        ``backend="dask"`` with a ``cluster`` shape starts a local dask
        cluster of that shape on entry and closes it on exit (about 1-2 s);
        without one it uses the default dask Client. To reuse one cluster
        for many fits, create ``Client(LocalCluster(n_workers=...,
        threads_per_worker=...))`` yourself and run under
        ``Config(backend="dask").apply()``. ``backend="ray"`` starts a local
        ray unless one is running, and stops only what it started.

        Examples
        --------
        >>> import joblib
        >>> from sktune import Config
        >>> with Config(n_jobs=2, backend="threading").apply():
        ...     joblib.Parallel()(joblib.delayed(abs)(i) for i in (-1, -2))
        [1, 2]
        """
        from ._trials.apply import apply_config  # the machinery, at run time only

        return apply_config(self)

    def configure(self, estimator):
        """Return an unfitted clone of ``estimator`` with ``n_jobs`` set and
        the ``compiled_steps`` replaced by their compiled equivalents.

        Only parameters where ``n_jobs`` can have an effect are set (never
        ``LogisticRegression.n_jobs``, deprecated and inert since
        scikit-learn 1.8), and only on the outermost parallel level: a forest
        inside a grid search keeps its own ``n_jobs`` as written, so that
        workers do not start workers of their own. ``estimator`` itself is
        not modified.

        Parameters
        ----------
        estimator : estimator instance
            Any scikit-learn compatible estimator, possibly nested.

        Returns
        -------
        estimator : estimator instance
            A new, unfitted estimator.
        """
        configured = clone(estimator)
        if self.compiled_steps is not None:
            from ._substitutes import substitute_steps

            configured = substitute_steps(configured, self.compiled_steps)
        for engine in engines_of(self):
            configured = engine.configure(configured, self)
        if self.n_jobs is not None:
            keys = inspect_layers(configured, task=None).n_jobs_params
            if keys:
                configured.set_params(**dict.fromkeys(keys, self.n_jobs))
        return configured


def _joined(name, value):
    """A tuple field in ``str(config)``: ``2x1`` for a cluster, else comma-separated."""
    if name == "cluster":
        return "x".join(map(str, value))
    return ",".join(path or "(estimator)" for path in value)


@dataclass(frozen=True)
class ResolvedSpace:
    """The candidates of a space for one workload on one machine.

    Attributes
    ----------
    candidates : tuple of Config
        Distinct candidates, the as-written baseline first.
    excluded : tuple of (Config, str)
        Candidates that will not run, each with the reason.
    """

    candidates: tuple
    excluded: tuple = ()


_AUTO = _pruning.AUTO
_DIMENSIONS = ("n_jobs", "backend", "blas_threads", "openmp_threads",
               "inner_max_num_threads", "cluster")
#: What ``ConfigSpace.auto()`` sets to "auto". Not ``cluster``: the auto
#: backends never include dask, and leaving it out keeps ``repr`` (part of
#: the wisdom key) as it was before the dimension existed.
_AUTO_DIMENSIONS = _DIMENSIONS[:-1]


class ConfigSpace:
    """The values of each configuration dimension to try.

    Each argument is ``"auto"`` (sktune picks the values that can matter
    for this estimator on this machine) or a list of values (``None`` in
    the list means "leave as written"). Arguments not given are not varied.
    ``ConfigSpace.auto()`` is the space :func:`sktune.profile` uses by
    default. The as-written configuration is always a candidate.

    Parameters
    ----------
    n_jobs : "auto" or list of int or None, default=None
    backend : "auto" or list of str or None, default=None
    blas_threads : "auto" or list of int or None, default=None
    openmp_threads : "auto" or list of int or None, default=None
    inner_max_num_threads : "auto" or list of int or None, default=None
    cluster : "auto" or list of (int, int) or None, default=None
        Shapes ``(n_workers, threads_per_worker)`` of the local dask
        clusters that ``backend="dask"`` candidates run on; "auto" tries all
        processes, dask's default and all threads. Only used with "dask"
        among the backends (``profile(engines=["dask"])`` adds the "auto"
        shapes by itself).

    Examples
    --------
    >>> from sktune import ConfigSpace
    >>> space = ConfigSpace(n_jobs=[1, 2], backend=["loky"])
    >>> [str(c) for c in space.resolve(usable_cores=2).candidates]
    ['as written', 'n_jobs=2, backend=loky']

    ``n_jobs=1`` is dropped: without layers or an as-written ``n_jobs`` it
    behaves exactly as the as-written baseline.
    """

    def __init__(self, n_jobs=None, backend=None, blas_threads=None,
                 openmp_threads=None, inner_max_num_threads=None, cluster=None):
        values = dict(n_jobs=n_jobs, backend=backend, blas_threads=blas_threads,
                      openmp_threads=openmp_threads,
                      inner_max_num_threads=inner_max_num_threads, cluster=cluster)
        self.dimensions = {name: self._check(name, value) for name, value in values.items()}

    @classmethod
    def auto(cls):
        """A space where every dimension is ``"auto"``."""
        return cls(**dict.fromkeys(_AUTO_DIMENSIONS, _AUTO))

    @staticmethod
    def _check(name, value):
        if value is None:
            return [None]
        if isinstance(value, str) and value == _AUTO:
            return _AUTO
        expected = {"backend": "a str among the joblib backends",
                    "cluster": "a tuple (n_workers, threads_per_worker) of ints in the "
                               "range [1, inf)"}.get(name, "an int in the range [1, inf)")
        message = (f"The {name!r} parameter of ConfigSpace must be 'auto' or a "
                   f"non-empty list whose items are {expected} or None. "
                   f"Got {value!r} instead.")
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise InvalidParameterError(message)
        items = list(value)
        if not items:
            raise InvalidParameterError(message)
        for item in items:
            if name == "cluster":
                if item is not None and not (isinstance(item, (tuple, list))
                                             and _is_cluster_shape(item)):
                    raise InvalidParameterError(message)
            elif name == "backend":
                if item is not None and not isinstance(item, str):
                    raise InvalidParameterError(message)
                if item is not None and item not in _available_backends():
                    raise InvalidParameterError(
                        invalid_choice("backend", item, _available_backends()))
            elif item is not None and (isinstance(item, bool)
                                       or not isinstance(item, Integral) or item < 1):
                raise InvalidParameterError(message)
        if name == "cluster":
            items = [None if item is None else tuple(item) for item in items]
        return list(dict.fromkeys(items))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.dimensions.items() if v != [None])
        return f"ConfigSpace({args})"

    # -- resolution -------------------------------------------------------
    def resolve(self, layers=None, *, usable_cores, physical_cores=None,
                defaults=None, as_written_n_jobs=()):
        """Enumerate distinct candidates for one workload on one machine.

        Parameters
        ----------
        layers : Layers, default=None
            From :func:`sktune._introspect.inspect_layers`; None means an
            estimator that uses every layer.
        usable_cores : int
            Cores this process can use (affinity and cgroup quota).
        physical_cores : int, default=None
            Physical cores; defaults to ``usable_cores``.
        defaults : dict, default=None
            Thread counts that apply when nothing is set, keys
            ``"blas_threads"`` and ``"openmp_threads"``: a candidate equal to
            them is the as-written baseline again and is dropped.
        as_written_n_jobs : iterable of int or None
            The ``n_jobs`` values the estimator has as written.

        Returns
        -------
        resolved : ResolvedSpace
        """
        from ._introspect import Layers

        if layers is None:
            layers = Layers(n_jobs_params=("n_jobs",), joblib_hints=frozenset({"processes"}),
                            openmp=True, blas=True, unknown=("?",))
        physical = physical_cores or usable_cores
        defaults = defaults or {}
        values = {}
        for name, given in self.dimensions.items():
            auto = isinstance(given, str) and given == _AUTO
            values[name] = (_pruning.auto_values(name, layers, usable_cores, physical)
                            if auto else given)
        values = _pruning.engine_values(values, self.dimensions, usable_cores)
        written_sequential = all(v in (None, 1) for v in as_written_n_jobs)
        seen, candidates, excluded = set(), [Config()], []
        seen.add(Config())
        for combo in itertools.product(*(values[d] for d in _DIMENSIONS)):
            fields_ = dict(zip(_DIMENSIONS, combo))
            fields_ = _pruning.normalise(fields_, layers, usable_cores, defaults,
                                         written_sequential, auto=self.dimensions)
            if fields_ is None:
                continue
            config = Config(**fields_)
            if config in seen:
                continue
            seen.add(config)
            reason = _pruning.exclusion_reason(fields_, layers)
            if reason:
                excluded.append((config, reason))
            else:
                candidates.append(config)
        return ResolvedSpace(tuple(candidates), tuple(excluded))
