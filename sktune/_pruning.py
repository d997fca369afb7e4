"""The rules that drop or merge configurations known to behave identically.

A space's raw combinations (every value of every dimension) hold many that
run exactly as another one, or as the pipeline as written: a backend with
one worker, thread limits a process backend never passes on, a thread count
equal to the one already in force (checklist item 22). Each rule below is
one named function over a dict of :class:`~sktune.Config` fields, citing
the fact it rests on; :func:`normalise` applies them in order and returns
the canonical fields, or None to drop the combination. Nothing here builds
a ``Config``: :class:`~sktune.ConfigSpace` does, from what survives.
"""

from ._engines import ENGINES, backend_engine

#: What a dimension given as "auto" means in ``ConfigSpace``.
AUTO = "auto"

#: Backends whose workers are other processes: limits set in the calling
#: process do not reach them (PITFALLS.md section 3.4).
PROCESS_BACKENDS = ("loky", "multiprocessing") + tuple(
    cls.backend for cls in ENGINES.values() if cls.backend and cls.process_workers)


def grid(n):
    """1, 2, 4, ... up to n, and n itself."""
    values = {n}
    value = 1
    while value < n:
        values.add(value)
        value *= 2
    return sorted(values)


def auto_values(name, layers, usable, physical):
    """The values an "auto" dimension takes for a workload with these ``layers``."""
    if name == "n_jobs":
        return grid(usable) if layers.joblib else [None]
    if name == "backend":
        return [None, "loky", "threading", "multiprocessing"] if layers.joblib else [None]
    if name == "blas_threads":
        return grid(usable) if layers.blas else [None]
    if name == "openmp_threads":
        # Above the physical core count scikit-learn's OpenMP ignores the
        # limit (PITFALLS.md section 1.3), unless the code is unknown.
        return grid(usable if layers.unknown else physical) if layers.openmp else [None]
    if name == "inner_max_num_threads":
        return [None, *grid(usable)] if (layers.blas or layers.openmp) else [None]
    # An engine's own field ("cluster"): its values come with its backend.
    return [None]


def engine_values(values, dimensions, usable):
    """``values`` with each engine field given as "auto" filled in, where its
    backend is among the backends tried (e.g. dask's cluster shapes)."""
    for cls in ENGINES.values():
        if (cls.field in dimensions and dimensions[cls.field] == AUTO
                and cls.backend in values["backend"]):
            values[cls.field] = cls.auto_values(usable)
    return values


class _Context:
    """What the rules may look at besides the fields themselves."""

    def __init__(self, layers, usable, defaults, written_sequential, auto):
        self.layers, self.usable, self.defaults = layers, usable, defaults
        self.written_sequential = written_sequential
        self.auto = auto

    def is_auto(self, name):
        return isinstance(self.auto.get(name), str) and self.auto[name] == AUTO


# -- the rules, in the order they apply ---------------------------------------------
def _engine_fields_need_their_backend(f, ctx):
    # A field only one engine uses (dask's cluster) means nothing elsewhere.
    for cls in ENGINES.values():
        if cls.backend and cls.field and f["backend"] != cls.backend:
            f[cls.field] = None
    return f


def _one_worker_is_sequential(f, ctx):
    # One worker: every backend falls back to sequential, and
    # inner_max_num_threads is ignored (PITFALLS.md 8.5). n_jobs=None keeps
    # its backend when the estimator as written has n_jobs > 1: the forced
    # backend then changes how it runs.
    n = f["n_jobs"]
    if n == 1 or (n is None and ctx.written_sequential):
        f["backend"] = None
        f["inner_max_num_threads"] = None
        if n == 1 and ctx.written_sequential:
            f["n_jobs"] = None
    return f


def _inner_threads_only_under_loky(f, ctx):
    # Only loky caps the threads inside its workers (PITFALLS.md 2.3).
    if f["backend"] != "loky":
        f["inner_max_num_threads"] = None
    return f


def _hint_is_the_forced_backend(f, ctx):
    # Without a forced backend each site follows its hint; when all hints
    # agree, that is the same as forcing it: keep the explicit twin only.
    n, hints = f["n_jobs"], ctx.layers.joblib_hints
    if (n is not None and n > 1 and f["backend"] is None and ctx.is_auto("backend")
            and (hints == {"processes"} or (hints == {"threads"} and not ctx.layers.openmp))):
        return None
    return f


def _process_workers_ignore_parent_limits(f, ctx):
    # Parent-side limits do not reach worker processes (PITFALLS.md 3.4);
    # loky's workers are governed by inner_max_num_threads instead, whose
    # default is the worker's share of the cores.
    n = f["n_jobs"]
    if n is None or n <= 1 or f["backend"] not in PROCESS_BACKENDS:
        return f
    for name in ("blas_threads", "openmp_threads"):
        if ctx.is_auto(name):
            f[name] = None
    inner = f["inner_max_num_threads"]
    if inner is not None and inner == max(1, ctx.usable // n):
        f["inner_max_num_threads"] = None  # joblib's own default
    elif inner is not None and ctx.is_auto("inner_max_num_threads") and n * inner > ctx.usable:
        return None
    return f


def _auto_never_oversubscribes(f, ctx):
    # Threads of several workers times their own threads beyond the cores:
    # "auto" never proposes that; a space given explicitly may.
    n = f["n_jobs"]
    if n is None or n <= 1 or f["backend"] in PROCESS_BACKENDS:
        return f
    f["inner_max_num_threads"] = None
    for name in ("blas_threads", "openmp_threads"):
        value = f[name]
        if value is not None and ctx.is_auto(name) and n * value > ctx.usable:
            return None
    return f


def _thread_counts_in_force_are_as_written(f, ctx):
    # A thread count equal to the one already in force is the baseline again;
    # under the threading backend an unset OpenMP count means a per-worker
    # share, not the default, so it stays.
    n = f["n_jobs"]
    for name in ("blas_threads", "openmp_threads"):
        if name == "openmp_threads" and f["backend"] == "threading" and n is not None and n > 1:
            continue
        if f[name] is not None and f[name] == ctx.defaults.get(name):
            f[name] = None
    return f


RULES = (_engine_fields_need_their_backend, _one_worker_is_sequential,
         _inner_threads_only_under_loky, _hint_is_the_forced_backend,
         _process_workers_ignore_parent_limits, _auto_never_oversubscribes,
         _thread_counts_in_force_are_as_written)


def normalise(fields, layers, usable, defaults, written_sequential, auto):
    """The canonical fields of a raw combination, or None to drop it.

    Parameters
    ----------
    fields : dict
        One value per dimension (a copy is changed, not ``fields``).
    layers : Layers
    usable : int
        Usable cores.
    defaults : dict
        Thread counts in force when nothing is set (``blas_threads``,
        ``openmp_threads``).
    written_sequential : bool
        Whether every ``n_jobs`` of the estimator as written is None or 1.
    auto : dict
        The space's dimensions as given ("auto" or a list).
    """
    f = dict(fields)
    ctx = _Context(layers, usable, defaults, written_sequential, auto)
    engine = backend_engine(f["backend"])
    if engine is not None and engine.sizes_itself:
        # The engine's cluster decides the parallelism: one candidate per
        # cluster, whatever n_jobs or the thread counts of this process say
        # (PITFALLS.md 2.1).
        f.update(n_jobs=None, inner_max_num_threads=None)
        for name in ("blas_threads", "openmp_threads"):
            if ctx.is_auto(name):
                f[name] = None
        return f
    for rule in RULES:
        f = rule(f, ctx)
        if f is None:
            return None
    return f


def exclusion_reason(fields, layers):
    """Why a candidate must not run at all, or None."""
    if fields.get("backend") == "multiprocessing" and (layers.openmp or layers.unknown):
        # Isolation does not help: the worker itself runs OpenMP (the
        # as-written probe, a refit) before the next trial forks.
        return ("the multiprocessing backend forks after OpenMP threads exist in "
                "the process running the trials, and the GNU OpenMP runtime can "
                "deadlock the child")
    # dask and ray depend on where trials run and on the engines installed:
    # their Engine.why_not, applied by sktune._candidates.
    return None
